//! What SQL sees of a readings topic, and the Avro schema producers write it with.

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::sync::{Arc, LazyLock};

/// The Avro schema of a reading: the one source of truth for producer and consumer.
pub const PV_READING_AVSC: &str = include_str!("../schemas/pv_reading.avsc");

pub const TS: &str = "ts";
pub const PARTITION: &str = "_partition";
pub const OFFSET: &str = "_offset";
pub const KAFKA_TIMESTAMP: &str = "_kafka_timestamp";

fn timestamp_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// A reading itself, in the Avro record's order: what producers write, and what a Parquet file
/// of readings holds (`pvflow simulate --output-parquet`, ingest's `Readings::Parquet`).
pub fn reading_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("device_id", DataType::Utf8, false),
            Field::new(TS, timestamp_ms(), false),
            Field::new("voltage", DataType::Float32, false),
            Field::new("current", DataType::Float32, false),
            Field::new("temperature", DataType::Float32, false),
            Field::new("irradiance", DataType::Float32, false),
        ]))
    });
    Arc::clone(&SCHEMA)
}

/// A Kafka table's rows: decoded readings ([`reading_schema`]) plus where each came from.
pub fn readings_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let source = [
            Field::new(PARTITION, DataType::Int32, false),
            Field::new(OFFSET, DataType::Int64, false),
            Field::new(KAFKA_TIMESTAMP, timestamp_ms(), true),
        ];
        let reading = reading_schema();
        let fields = reading.fields().iter().cloned();
        Arc::new(Schema::new(
            fields
                .chain(source.into_iter().map(Arc::new))
                .collect::<Vec<_>>(),
        ))
    });
    Arc::clone(&SCHEMA)
}

/// The decoded columns alone, in the Avro record's order.
pub(crate) const DATA_COLUMNS: usize = 6;

/// Messages that could not be decoded into a reading, kept with everything needed to replay
/// or inspect them.
pub fn quarantine_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new(PARTITION, DataType::Int32, false),
            Field::new(OFFSET, DataType::Int64, false),
            Field::new(KAFKA_TIMESTAMP, timestamp_ms(), true),
            Field::new("key", DataType::Binary, true),
            Field::new("payload", DataType::Binary, true),
            Field::new("reason", DataType::Utf8, false),
        ]))
    });
    Arc::clone(&SCHEMA)
}
