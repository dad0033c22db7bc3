//! Kafka throughput, three figures (docs/benchmarks.md; `make bench-kafka`):
//!
//! 1. decode only: Avro messages already in memory -> Arrow readings, one thread;
//! 2. produce: readings published by `ReadingProducer` to a local broker;
//! 3. SQL scan: `SELECT count(*), sum(voltage) FROM readings`, partitions read in parallel;
//!    readings per second of wall time and per second of this process's CPU time (librdkafka's
//!    threads included): the per-core figure.
//!
//! The broker is librdkafka's mock cluster (a Kafka-protocol broker over TCP, inside this
//! process, so its work counts in the CPU time: the per-CPU-second figure is pessimistic). With
//! `PVFLOW_BENCH_BROKER=tansu` it is a tansu process (scripts/tansu.sh) instead, whose SQLite
//! storage, not pvflow, then bounds both figures. `PVFLOW_BENCH_READINGS` sets the number of
//! readings (default 2,000,000).

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Float64Type;
use datafusion::prelude::SessionContext;
use pvflow_kafka::{
    AvroFraming, CHUNK_MESSAGES, ChunkDecoder, KafkaTable, KafkaTableConfig, MessageChunk,
    PvReading, ReadingProducer, ValueFormat, create_topic, encode_into,
};
use pvflow_testkit::TansuBroker;
use rdkafka::mocking::MockCluster;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEVICES: usize = 1000;
const START_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn reading(i: usize) -> PvReading {
    let device = i % DEVICES;
    PvReading {
        device_id: format!("pv-{device:05}"),
        ts: START_MS + (i / DEVICES) as i64 * 20_000,
        voltage: 380.0 + (i % 97) as f32 * 0.25,
        current: 7.5 + (i % 13) as f32 * 0.01,
        temperature: 31.5,
        irradiance: 812.0,
    }
}

/// Seconds of CPU this process has used, all threads.
fn cpu_seconds() -> f64 {
    // SAFETY: rusage is plain integers, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn decode_only(readings: usize) -> f64 {
    let mut chunks = Vec::new();
    let mut chunk = MessageChunk::new(0);
    let mut value = Vec::new();
    for i in 0..readings {
        let r = reading(i);
        value.clear();
        encode_into(&r, AvroFraming::SingleObject, &mut value);
        chunk.push(
            i as i64,
            Some(r.ts),
            Some(r.device_id.as_bytes()),
            Some(&value),
        );
        if chunk.len() == CHUNK_MESSAGES {
            chunks.push(std::mem::replace(&mut chunk, MessageChunk::new(0)));
        }
    }
    chunks.push(chunk);
    let decoder = ChunkDecoder::new(ValueFormat::Avro(AvroFraming::SingleObject)).expect("decoder");
    // Best of three: the figure is the decoder's, not the machine's noise.
    (0..3)
        .map(|_| {
            let started = Instant::now();
            let mut rows = 0;
            for chunk in &chunks {
                rows += black_box(decoder.decode(chunk).expect("decoded"))
                    .readings
                    .num_rows();
            }
            assert_eq!(rows, readings);
            readings as f64 / started.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

fn produce(brokers: &str, topic: &str, readings: usize) -> f64 {
    let mut producer =
        ReadingProducer::new(brokers, topic, AvroFraming::SingleObject, &BTreeMap::new())
            .expect("producer");
    let started = Instant::now();
    for i in 0..readings {
        producer.send(&reading(i)).expect("queued");
    }
    let report = producer.finish(Duration::from_secs(300)).expect("flushed");
    assert_eq!(
        report.delivered as usize, readings,
        "{:?}",
        report.first_error
    );
    readings as f64 / started.elapsed().as_secs_f64()
}

async fn sql_scan(brokers: &str, topic: &str, readings: usize) -> (f64, f64) {
    let ctx = SessionContext::new();
    let mut config = KafkaTableConfig::new(brokers.to_string(), topic);
    // A slow broker (tansu) may take long to serve a large partition's first fetch.
    config.timeout_ms = 120_000;
    let table = KafkaTable::new(config);
    ctx.register_table("readings", Arc::new(table))
        .expect("table");
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    let batches = ctx
        .sql("SELECT count(*), sum(voltage) FROM readings")
        .await
        .expect("plan")
        .collect()
        .await
        .expect("scan");
    let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let rows = batches[0]
        .column(0)
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
        .value(0);
    assert_eq!(rows as usize, readings);
    black_box(batches[0].column(1).as_primitive::<Float64Type>().value(0));
    (readings as f64 / wall, readings as f64 / cpu)
}

fn main() {
    // `cargo bench` passes `--bench`; this binary takes no other arguments.
    let readings: usize = std::env::var("PVFLOW_BENCH_READINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    println!("readings: {readings}");
    println!(
        "decode only (1 thread): {:.2} M readings/s",
        decode_only(readings) / 1e6
    );

    // The mock broker keeps about 5 MB per partition (librdkafka's rdkafka_mock.c) and drops
    // older messages beyond that: 200k readings per partition stay well inside it.
    let partitions = readings.div_ceil(200_000).max(1) as i32;
    println!("partitions: {partitions}");
    let tansu = match std::env::var("PVFLOW_BENCH_BROKER").as_deref() {
        Ok("tansu") => Some(TansuBroker::start().expect("tansu broker (scripts/tansu.sh)")),
        _ => None,
    };
    let mock;
    let (broker, brokers) = match &tansu {
        Some(b) => (
            "tansu 0.6.0 (sqlite), separate process",
            b.bootstrap_servers(),
        ),
        None => {
            mock = MockCluster::new(1).expect("mock cluster");
            mock.create_topic("bench", partitions, 1).expect("topic");
            (
                "librdkafka mock cluster, in this process",
                mock.bootstrap_servers(),
            )
        }
    };
    runtime
        .block_on(create_topic(
            &brokers,
            "bench",
            partitions,
            &BTreeMap::new(),
            Duration::from_secs(10),
        ))
        .expect("topic");
    println!("broker: {broker}");
    println!(
        "produce: {:.2} M readings/s",
        produce(&brokers, "bench", readings) / 1e6
    );
    let (wall, per_cpu) = runtime.block_on(sql_scan(&brokers, "bench", readings));
    println!(
        "SQL scan: {:.2} M readings/s wall, {:.2} M readings per CPU-second",
        wall / 1e6,
        per_cpu / 1e6
    );
}
