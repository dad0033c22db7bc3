//! Episode events published to a Kafka topic, keyed by device ID, as JSON
//! ([`pvflow_episodes::EventRecord`]).
//!
//! At least once: the stream publishes a commit's events, and waits for the broker to take
//! them, before the live commit that includes their windows. A crash in between makes the next
//! owner of the partition diagnose those windows again and publish the same events with the same
//! IDs; a consumer drops repeats by `event_id`.

use datafusion::common::{DataFusionError, Result};
use pvflow_episodes::EpisodeEvent;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a publish may wait for the broker before the stream fails (and restarts).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct EventPublisher {
    producer: FutureProducer,
    topic: String,
}

/// Partitions of an events topic the stream creates: few events, in one order for every device.
/// An operator wanting more creates the topic first.
const EVENT_PARTITIONS: i32 = 1;

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
        let producer = config.create().map_err(|e| {
            DataFusionError::External(format!("cannot create the events producer: {e}").into())
        })?;
        Ok(EventPublisher {
            producer,
            topic: topic.to_string(),
        })
    }

    /// Publishes `events` in order and waits until the broker has every one.
    pub async fn publish(&self, events: &[EpisodeEvent]) -> Result<()> {
        let window_ms = pvflow_udfs::WINDOW_SECONDS * 1000;
        let mut deliveries = Vec::with_capacity(events.len());
        for event in events {
            let payload = serde_json::to_vec(&event.record(window_ms))
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let record = FutureRecord::to(&self.topic)
                .key(event.device_id.as_bytes())
                .payload(&payload);
            // Queued at once (a commit's events are few); the futures own nothing borrowed.
            let delivery = self
                .producer
                .send_result(record)
                .map_err(|(e, _)| self.failed(&e))?;
            deliveries.push(delivery);
        }
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(self.failed(&e)),
                Err(_canceled) => {
                    return Err(self.failed(&"the producer was dropped"));
                }
            }
        }
        Ok(())
    }

    fn failed(&self, e: &dyn std::fmt::Display) -> DataFusionError {
        DataFusionError::External(
            format!("cannot publish an episode event to {}: {e}", self.topic).into(),
        )
    }
}
