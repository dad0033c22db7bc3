//! Episode events published to a Kafka topic, keyed by device ID, as JSON
//! ([`pvflow_episodes::EventRecord`]).
//!
//! At least once: the stream publishes a commit's events, and waits for the broker to take
//! them, before the live commit that includes their windows. A crash in between makes the next
//! owner of the partition diagnose those windows again and publish the same events with the same
//! IDs; a consumer drops repeats by `event_id`.

use datafusion::common::{DataFusionError, Result};
use pvflow_episodes::EpisodeEvent;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How long a publish may wait for the broker before the stream fails (and restarts).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Partitions of an events topic the stream creates: few events, in one order for every device.
/// An operator wanting more creates the topic first.
const EVENT_PARTITIONS: i32 = 1;

/// A producer polled only while it publishes: rdkafka's threaded producers poll in a thread of
/// their own that spins for its last millisecond of every 100 ms, about 1 % of a core.
pub struct EventPublisher {
    producer: Arc<BaseProducer<Deliveries>>,
    topic: String,
}

/// The first delivery failure since the last publish.
#[derive(Default)]
struct Deliveries {
    failed: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert_with(|| e.to_string());
        }
    }
}

impl EventPublisher {
    /// A producer to `topic`, which is created if it does not exist.
    pub async fn connect(
        brokers: &str,
        client: &BTreeMap<String, String>,
        topic: &str,
    ) -> Result<EventPublisher> {
        pvflow_kafka::create_topic(
            brokers,
            topic,
            EVENT_PARTITIONS,
            client,
            Duration::from_secs(30),
        )
        .await
        .map_err(|e| {
            DataFusionError::External(
                format!("cannot find or create the events topic {topic}: {e}").into(),
            )
        })?;
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("acks", "all")
            .set(
                "message.timeout.ms",
                DELIVERY_TIMEOUT.as_millis().to_string(),
            );
        for (key, value) in client {
            config.set(key, value);
        }
        let producer = config
            .create_with_context(Deliveries::default())
            .map_err(|e| {
                DataFusionError::External(format!("cannot create the events producer: {e}").into())
            })?;
        Ok(EventPublisher {
            producer: Arc::new(producer),
            topic: topic.to_string(),
        })
    }

    /// Publishes `events` in order and waits until the broker has every one.
    pub async fn publish(&self, events: &[EpisodeEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let window_ms = pvflow_udfs::WINDOW_SECONDS * 1000;
        let messages = events
            .iter()
            .map(|event| {
                let payload = serde_json::to_vec(&event.record(window_ms))
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                Ok((event.device_id.clone(), payload))
            })
            .collect::<Result<Vec<_>>>()?;
        let producer = Arc::clone(&self.producer);
        let topic = self.topic.clone();
        // Queueing and flushing poll the producer, which blocks: off the async threads.
        let published = tokio::task::spawn_blocking(move || {
            for (key, payload) in &messages {
                let mut record = BaseRecord::to(&topic).key(key).payload(payload);
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                            record = r;
                            producer.poll(Duration::from_millis(10));
                        }
                        Err((e, _)) => return Err(e.to_string()),
                    }
                }
            }
            producer
                .flush(DELIVERY_TIMEOUT)
                .map_err(|e| e.to_string())?;
            let failed = producer
                .context()
                .failed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            failed.map_or(Ok(()), Err)
        })
        .await
        .map_err(|e| self.failed(&e))?;
        published.map_err(|e| self.failed(&e))
    }

    fn failed(&self, e: &dyn std::fmt::Display) -> DataFusionError {
        DataFusionError::External(
            format!("cannot publish an episode event to {}: {e}", self.topic).into(),
        )
    }
}
