//! Kafka topics as DataFusion tables.
//!
//! A scan is planned once: the time range of the query's filters ([`TimeRange`]) becomes
//! offset bounds per partition through offsets-for-times (checked, with a fallback for brokers
//! that answer it wrongly), cut into [`KafkaSlice`]s that are each a DataFusion partition. Each
//! slice is read and decoded independently ([`KafkaScanExec`], [`ChunkDecoder`]): Avro through
//! `arrow-avro` or JSON, with every message that is not a valid reading kept aside in a
//! quarantine instead of dropped. Scans count what they read in the process' Prometheus
//! registry. [`ReadingProducer`] writes readings in the same format.
//!
//! # Example: a topic as a table
//!
//! Register [`KafkaTableFactory`] under [`KAFKA_FORMAT`], and SQL can create Kafka tables. A
//! time filter on `ts` bounds the offsets each partition is read at.
//!
//! ```no_run
//! use datafusion::execution::SessionStateBuilder;
//! use datafusion::prelude::SessionContext;
//! use pvflow_kafka::{KAFKA_FORMAT, KafkaTableFactory};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> datafusion::common::Result<()> {
//! let state = SessionStateBuilder::new()
//!     .with_default_features()
//!     .with_table_factory(KAFKA_FORMAT.into(), Arc::new(KafkaTableFactory))
//!     .build();
//! let ctx = SessionContext::new_with_state(state);
//! ctx.sql("CREATE EXTERNAL TABLE readings STORED AS KAFKA
//!          LOCATION 'kafka://127.0.0.1:9092/pv.readings' OPTIONS ('format' 'avro')")
//!     .await?;
//! ctx.sql("SELECT device_id, count(*) FROM readings
//!          WHERE ts >= TIMESTAMP '2026-06-01T00:00:00Z' AND ts < TIMESTAMP '2026-06-02T00:00:00Z'
//!          GROUP BY device_id")
//!     .await?
//!     .show()
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Example: a table's options, checked before anything connects
//!
//! ```
//! use pvflow_kafka::KafkaTableConfig;
//! use std::collections::HashMap;
//!
//! let options = HashMap::from([("format".to_string(), "json".to_string())]);
//! let config = KafkaTableConfig::from_ddl("kafka://127.0.0.1:9092/pv.readings", &options)?;
//! assert_eq!(config.topic, "pv.readings");
//!
//! // Unknown options are refused by name.
//! let typo = HashMap::from([("formt".to_string(), "json".to_string())]);
//! let refused = KafkaTableConfig::from_ddl("kafka://127.0.0.1:9092/pv.readings", &typo);
//! assert!(refused.unwrap_err().to_string().contains("'formt'"));
//! # Ok::<(), pvflow_kafka::OptionsError>(())
//! ```
//!
//! # Example: time ranges
//!
//! ```
//! use pvflow_kafka::TimeRange;
//!
//! let day = TimeRange { start: Some(0), end: Some(86_400_000) };
//! let morning = TimeRange { start: None, end: Some(43_200_000) };
//! assert_eq!(day.and(morning), TimeRange { start: Some(0), end: Some(43_200_000) });
//! assert!(day.contains(0) && !day.contains(86_400_000));
//! ```

mod avro;
mod decode;
mod error;
mod exec;
mod metrics;
mod offsets;
mod options;
mod produce;
mod provider;
mod quarantine_output;
mod schema;
mod time_range;

pub use avro::{AvroFraming, PvReading, encode, encode_into};
pub use decode::{CHUNK_MESSAGES, ChunkDecoder, MAX_MESSAGE_BYTES, MessageChunk, ValueFormat};
pub use error::KafkaError;
pub use exec::KafkaScanExec;
pub use offsets::KafkaSlice;
pub use options::{DEFAULT_LATENESS_MS, KafkaTableConfig, OptionsError, is_secret};
pub use produce::{DeliveryReport, ReadingProducer, create_topic};
pub use provider::{KAFKA_FORMAT, KafkaTable, KafkaTableFactory};
pub use schema::{
    KAFKA_TIMESTAMP, OFFSET, PV_READING_AVSC, quarantine_schema, reading_schema, readings_schema,
};
pub use time_range::TimeRange;
