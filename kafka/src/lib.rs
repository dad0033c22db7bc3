//! Kafka topics as DataFusion tables.
//!
//! A scan is planned once ([`offsets`]): a time range from the query's filters
//! ([`time_range`]) becomes offset bounds per partition through offsets-for-times (checked, with
//! a fallback for brokers that answer it wrongly), cut into slices that are each a DataFusion
//! partition. Each slice is read and decoded independently ([`exec`], [`decode`]): Avro through
//! `arrow-avro` or JSON, with every message that is not a valid reading kept aside in a
//! quarantine instead of dropped; scans count what they read in the process' Prometheus
//! registry. [`produce`] writes readings in the same format.

pub mod avro;
pub mod decode;
pub mod error;
pub mod exec;
mod metrics;
pub mod offsets;
pub mod options;
pub mod produce;
pub mod provider;
pub mod schema;
pub mod time_range;

pub use error::KafkaError;
pub use offsets::{KafkaSlice, TimeRange};
pub use options::KafkaTableConfig;
pub use provider::{KAFKA_FORMAT, KafkaTable, KafkaTableFactory};
