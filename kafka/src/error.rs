//! Errors of Kafka access, each naming the brokers, topic, partition or offset involved.

use rdkafka::error::KafkaError as RdKafkaError;

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("cannot create a Kafka client for {brokers}: {source}")]
    Client {
        brokers: String,
        source: Box<RdKafkaError>,
    },
    #[error(
        "Kafka brokers {brokers} did not answer for topic '{topic}' within {timeout_ms} ms: {source}"
    )]
    Unreachable {
        brokers: String,
        topic: String,
        timeout_ms: u64,
        source: Box<RdKafkaError>,
    },
    #[error("topic '{topic}' does not exist on {brokers}")]
    NoSuchTopic { brokers: String, topic: String },
    #[error("producing to '{topic}': {why}")]
    Produce { topic: String, why: String },
    #[error("reading partition {partition} of '{topic}' at offset {offset}: {why}")]
    Read {
        topic: String,
        partition: i32,
        offset: i64,
        why: String,
    },
}
