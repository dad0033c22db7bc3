//! Writing readings to a topic the way pvflow's table reads them: key = device id, message
//! timestamp = reading time, value = framed Avro `PvReading`.

use crate::avro::{AvroFraming, PvReading, encode_into};
use crate::error::KafkaError;
use crate::options::redacted;
use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Creates `topic` with `partitions` partitions; an existing topic is left as it is (and not
/// asked for: some brokers, such as librdkafka's mock cluster, do not implement topic creation).
pub async fn create_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    client: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<(), KafkaError> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    for (k, v) in client {
        config.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> =
        config.create().map_err(|source| KafkaError::Client {
            brokers: brokers.into(),
            source: Box::new(source),
        })?;
    let unreachable = |source| KafkaError::Unreachable {
        brokers: brokers.into(),
        topic: topic.into(),
        timeout_ms: timeout.as_millis() as u64,
        source: Box::new(source),
    };
    let metadata = admin
        .inner()
        .fetch_metadata(Some(topic), timeout)
        .map_err(unreachable)?;
    if metadata
        .topics()
        .iter()
        .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
    {
        return Ok(());
    }
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new()
        .operation_timeout(Some(timeout))
        .request_timeout(Some(timeout));
    for result in admin
        .create_topics([&new], &options)
        .await
        .map_err(unreachable)?
    {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(unreachable(RdKafkaError::AdminOp(code))),
        }
    }
    Ok(())
}

/// Counts deliveries as the broker acknowledges them.
#[derive(Default)]
pub struct DeliveryCounter {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// What the broker acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    pub delivered: u64,
    pub failed: u64,
    pub first_error: Option<String>,
}

/// A high-throughput producer of readings (batched, compressed, background delivery).
pub struct ReadingProducer {
    producer: ThreadedProducer<DeliveryCounter>,
    topic: String,
    framing: AvroFraming,
    value: Vec<u8>,
}

impl ReadingProducer {
    pub fn new(
        brokers: &str,
        topic: &str,
        framing: AvroFraming,
        client: &BTreeMap<String, String>,
    ) -> Result<Self, KafkaError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("linger.ms", "20")
            .set("batch.num.messages", "100000")
            .set("batch.size", "4000000")
            .set("queue.buffering.max.messages", "1000000")
            .set("compression.type", "lz4")
            .set("enable.idempotence", "false")
            .set("acks", "all");
        for (k, v) in client {
            config.set(k, v);
        }
        tracing::debug!(brokers, topic, client = %redacted(client), "creating Kafka producer");
        let producer = config
            .create_with_context(DeliveryCounter::default())
            .map_err(|source| KafkaError::Client {
                brokers: brokers.into(),
                source: Box::new(source),
            })?;
        Ok(ReadingProducer {
            producer,
            topic: topic.into(),
            framing,
            value: Vec::with_capacity(64),
        })
    }

    /// Queues one reading; waits for room when the local queue is full.
    pub fn send(&mut self, reading: &PvReading) -> Result<(), KafkaError> {
        self.value.clear();
        encode_into(reading, self.framing, &mut self.value);
        self.send_raw(reading.device_id.as_bytes(), &self.value, reading.ts)
    }

    /// Queues an arbitrary message (tests use it to produce malformed values).
    pub fn send_raw(&self, key: &[u8], value: &[u8], timestamp_ms: i64) -> Result<(), KafkaError> {
        let mut record = BaseRecord::to(&self.topic)
            .key(key)
            .payload(value)
            .timestamp(timestamp_ms);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((RdKafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    self.producer.poll(Duration::from_millis(5));
                }
                Err((e, _)) => {
                    return Err(KafkaError::Produce {
                        topic: self.topic.clone(),
                        why: format!("cannot queue a message: {e}"),
                    });
                }
            }
        }
    }

    /// Waits until every queued message is acknowledged (or `timeout` passes).
    pub fn finish(self, timeout: Duration) -> Result<DeliveryReport, KafkaError> {
        self.producer
            .flush(timeout)
            .map_err(|e| KafkaError::Produce {
                topic: self.topic.clone(),
                why: format!(
                    "messages not acknowledged within {} ms: {e}",
                    timeout.as_millis()
                ),
            })?;
        let ctx = self.producer.context();
        let first_error = ctx
            .first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Ok(DeliveryReport {
            delivered: ctx.delivered.load(Ordering::Relaxed),
            failed: ctx.failed.load(Ordering::Relaxed),
            first_error,
        })
    }
}
