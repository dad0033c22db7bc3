//! Kafka throughput, three figures (docs/benchmarks.md; `make bench-kafka`):
//!
//! 1. decode only: Avro messages already in memory -> Arrow readings, one thread;
//! 2. produce: readings published by `ReadingProducer` to a local broker;
//! 3. SQL scan: `SELECT sum(voltage) FROM readings` over a one-partition topic, so one scan
//!    thread does the reading and decoding; readings per second of wall time and per second of
//!    this process's CPU time (librdkafka's threads included).
//!
//! The broker is a tansu process when one is installed (scripts/tansu.sh), otherwise
//! librdkafka's mock cluster, which runs inside this process and so counts in its CPU time.
//! `PVFLOW_BENCH_READINGS` sets the number of readings (default 2,000,000).

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Float64Type;
use datafusion::prelude::SessionContext;
use pvflow_kafka::avro::{AvroFraming, PvReading, encode_into};
use pvflow_kafka::decode::{CHUNK_MESSAGES, ChunkDecoder, MessageChunk, ValueFormat};
use pvflow_kafka::produce::{ReadingProducer, create_topic};
use pvflow_kafka::{KafkaTable, KafkaTableConfig};
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
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
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
    let table = KafkaTable::new(KafkaTableConfig::new(brokers.to_string(), topic));
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

    let tansu = TansuBroker::start();
    let mock;
    let (broker, brokers) = match &tansu {
        Ok(b) => (
            "tansu 0.6.0 (sqlite), separate process",
            b.bootstrap_servers(),
        ),
        Err(e) => {
            eprintln!("no tansu broker ({e}); using the mock cluster");
            mock = MockCluster::new(1).expect("mock cluster");
            mock.create_topic("bench", 1, 1).expect("topic");
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
            1,
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
        "SQL scan, 1 partition: {:.2} M readings/s wall, {:.2} M readings per CPU-second",
        wall / 1e6,
        per_cpu / 1e6
    );
}
