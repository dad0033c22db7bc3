//! Round trips through real Kafka-protocol brokers on 127.0.0.1 (librdkafka's mock cluster,
//! reached over TCP, and a tansu broker process): produce a day of readings plus malformed
//! messages, read them back with SQL.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Int32Type, Int64Type};
use datafusion::common::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use pvflow_kafka::{
    AvroFraming, KAFKA_FORMAT, KafkaTable, KafkaTableConfig, KafkaTableFactory, PvReading,
    ReadingProducer, TimeRange, create_topic, encode,
};
use pvflow_testkit::TansuBroker;
use rdkafka::mocking::MockCluster;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DAY_START_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const INTERVAL_MS: i64 = 20_000;
const DEVICES: usize = 12;
const READINGS_PER_DEVICE: i64 = 4320;

fn context() -> SessionContext {
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_table_factory(KAFKA_FORMAT.into(), Arc::new(KafkaTableFactory))
        .build();
    SessionContext::new_with_state(state)
}

async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    ctx.sql(sql).await?.collect().await
}

async fn count(ctx: &SessionContext, sql: &str) -> i64 {
    let batches = collect(ctx, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

fn reading(device: usize, i: i64) -> PvReading {
    PvReading {
        device_id: format!("pv-{device:03}"),
        ts: DAY_START_MS + i * INTERVAL_MS,
        voltage: 400.0 + (i % 50) as f32,
        current: 8.0,
        temperature: 30.0,
        irradiance: 700.0,
    }
}

/// The malformed messages produced on purpose, by raw bytes rather than through the encoder.
fn malformed() -> Vec<(Vec<u8>, i64)> {
    let mut truncated = encode(&reading(0, 10), AvroFraming::SingleObject);
    truncated.truncate(truncated.len() - 5);
    let mut nan = reading(1, 20);
    nan.voltage = f32::NAN;
    vec![
        (
            b"not avro at all".to_vec(),
            DAY_START_MS + 100 * INTERVAL_MS,
        ),
        (truncated, DAY_START_MS + 2000 * INTERVAL_MS),
        (
            encode(&nan, AvroFraming::SingleObject),
            DAY_START_MS + 3000 * INTERVAL_MS,
        ),
    ]
}

/// Produces every device's day in time order (as a plant does), with the malformed messages
/// mixed in at their timestamps.
fn produce_day(brokers: &str, topic: &str) {
    let mut producer =
        ReadingProducer::new(brokers, topic, AvroFraming::SingleObject, &BTreeMap::new())
            .expect("producer");
    let bad = malformed();
    for i in 0..READINGS_PER_DEVICE {
        for d in 0..DEVICES {
            producer.send(&reading(d, i)).expect("queued");
        }
        for (payload, ts) in &bad {
            if *ts == DAY_START_MS + i * INTERVAL_MS {
                producer.send_raw(b"pv-bad", payload, *ts).expect("queued");
            }
        }
    }
    let report = producer.finish(Duration::from_secs(30)).expect("flushed");
    assert_eq!(report.failed, 0, "{:?}", report.first_error);
    assert_eq!(
        report.delivered,
        DEVICES as u64 * READINGS_PER_DEVICE as u64 + bad.len() as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_round_trips_through_the_mock_cluster() {
    let cluster = MockCluster::new(3).expect("mock cluster");
    // The mock cluster cannot create topics over the admin API.
    cluster.create_topic("pv.readings", 4, 1).expect("topic");
    day_round_trip(cluster.bootstrap_servers()).await;
    drop(cluster);
}

/// The same day through a separate broker process, whose offsets-for-times answers are real
/// (the mock cluster answers "end" for every timestamp, so there only the fallback runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_round_trips_through_a_tansu_broker_process() {
    let broker = TansuBroker::start().expect("tansu broker");
    let brokers = broker.bootstrap_servers();
    create_topic(
        &brokers,
        "pv.readings",
        4,
        &BTreeMap::new(),
        Duration::from_secs(10),
    )
    .await
    .unwrap_or_else(|e| panic!("create topic: {e}\n{}", broker.log()));
    day_round_trip(brokers).await;
}

/// Produces a day of readings plus malformed messages into `pv.readings` (4 partitions), then
/// runs every named case of what SQL reads back. Producing the day once per broker is what
/// costs, so the cases share it; each runs as its own task and a failing one is reported by name
/// after all have run, so the first failure does not hide the rest.
async fn day_round_trip(brokers: String) {
    let b = brokers.clone();
    tokio::task::spawn_blocking(move || produce_day(&b, "pv.readings"))
        .await
        .expect("produced");
    let day = Arc::new(Day::new(brokers).await);

    type Case = fn(Arc<Day>) -> futures::future::BoxFuture<'static, ()>;
    let cases: [(&str, Case); 9] = [
        ("every_reading_is_read_once", |d| {
            Box::pin(every_reading_is_read_once(d))
        }),
        (
            "malformed_messages_are_quarantined_with_their_reason",
            |d| Box::pin(malformed_messages_are_quarantined_with_their_reason(d)),
        ),
        (
            "a_time_range_reads_its_readings_per_device_and_partition",
            |d| Box::pin(a_time_range_reads_its_readings_per_device_and_partition(d)),
        ),
        ("a_plan_reads_only_the_offsets_of_its_range", |d| {
            Box::pin(a_plan_reads_only_the_offsets_of_its_range(d))
        }),
        (
            "a_pinned_table_reads_its_slices_whatever_the_query_range",
            |d| Box::pin(a_pinned_table_reads_its_slices_whatever_the_query_range(d)),
        ),
        (
            "dates_between_and_ranges_past_the_end_are_understood",
            |d| Box::pin(dates_between_and_ranges_past_the_end_are_understood(d)),
        ),
        ("slices_cut_a_partition_into_many_with_the_same_rows", |d| {
            Box::pin(slices_cut_a_partition_into_many_with_the_same_rows(d))
        }),
        ("a_missing_topic_is_named", |d| {
            Box::pin(a_missing_topic_is_named(d))
        }),
        (
            "a_readings_scan_keeps_the_quarantine_as_a_side_output",
            |d| Box::pin(a_readings_scan_keeps_the_quarantine_as_a_side_output(d)),
        ),
    ];
    let mut failed = Vec::new();
    for (name, case) in cases {
        if let Err(e) = tokio::spawn(case(Arc::clone(&day))).await {
            let why = e
                .try_into_panic()
                .ok()
                .and_then(|p| {
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                })
                .unwrap_or_default();
            failed.push(format!("{name}: {why}"));
        }
    }
    assert!(failed.is_empty(), "failed cases:\n{}", failed.join("\n"));
}

/// The produced day as SQL sees it: `readings` and its `quarantine`, plus the topic as a table.
struct Day {
    brokers: String,
    ctx: SessionContext,
    table: KafkaTable,
}

impl Day {
    async fn new(brokers: String) -> Day {
        let ctx = context();
        // A generous bound: tansu's SQLite storage answers slowly when the machine is busy
        // (other tests start brokers and clusters at the same time); a healthy read never waits
        // for it.
        collect(
            &ctx,
            &format!("CREATE EXTERNAL TABLE readings STORED AS KAFKA LOCATION 'kafka://{brokers}/pv.readings' OPTIONS ('format' 'avro', 'timeout.ms' '30000')"),
        )
        .await
        .expect("table");
        collect(
            &ctx,
            &format!("CREATE EXTERNAL TABLE quarantine STORED AS KAFKA LOCATION 'kafka://{brokers}/pv.readings' OPTIONS ('quarantine' 'true')"),
        )
        .await
        .expect("quarantine table");
        // Planned without a lateness allowance: the day is in time order, so a range's slices
        // are exactly its messages.
        let exact = HashMap::from([("lateness.ms".to_string(), "0".to_string())]);
        let table = KafkaTable::new(
            KafkaTableConfig::from_ddl(&format!("kafka://{brokers}/pv.readings"), &exact)
                .expect("config"),
        );
        Day {
            brokers,
            ctx,
            table,
        }
    }
}

const TOTAL: i64 = DEVICES as i64 * READINGS_PER_DEVICE;
/// 06:00 to 18:00 (exclusive): 12 hours at 20 s = 2160 readings per device.
const MORNING_TO_EVENING: &str =
    "ts >= TIMESTAMP '2026-01-01T06:00:00Z' AND ts < TIMESTAMP '2026-01-01T18:00:00Z'";
const READINGS_IN_RANGE: i64 = 2160;

async fn every_reading_is_read_once(day: Arc<Day>) {
    let ctx = &day.ctx;
    assert_eq!(count(ctx, "SELECT count(*) FROM readings").await, TOTAL);
    assert_eq!(
        count(
            ctx,
            "SELECT count(*) FROM (SELECT DISTINCT device_id, ts FROM readings)"
        )
        .await,
        TOTAL
    );
}

async fn malformed_messages_are_quarantined_with_their_reason(day: Arc<Day>) {
    let q = collect(
        &day.ctx,
        "SELECT payload, reason, _partition, _offset FROM quarantine ORDER BY _kafka_timestamp",
    )
    .await
    .expect("quarantine");
    let q = datafusion::arrow::compute::concat_batches(&q[0].schema(), &q).expect("concat");
    assert_eq!(q.num_rows(), 3);
    for (i, (payload, _)) in malformed().iter().enumerate() {
        assert_eq!(q.column(0).as_binary::<i32>().value(i), payload.as_slice());
        assert!(!q.column(2).is_null(i) && !q.column(3).is_null(i));
    }
    assert!(
        q.column(1)
            .as_string::<i32>()
            .value(2)
            .contains("voltage is NaN")
    );
}

/// A range cutting through the day, counted per device and per partition against what was
/// produced; the quarantine filters by Kafka timestamp.
async fn a_time_range_reads_its_readings_per_device_and_partition(day: Arc<Day>) {
    let ctx = &day.ctx;
    let range = MORNING_TO_EVENING;
    let per_device = collect(
        ctx,
        &format!("SELECT device_id, count(*) FROM readings WHERE {range} GROUP BY device_id ORDER BY device_id"),
    )
    .await
    .expect("per device");
    let per_device =
        datafusion::arrow::compute::concat_batches(&per_device[0].schema(), &per_device)
            .expect("concat");
    assert_eq!(per_device.num_rows(), DEVICES);
    assert!(
        per_device
            .column(1)
            .as_primitive::<Int64Type>()
            .values()
            .iter()
            .all(|n| *n == READINGS_IN_RANGE)
    );
    let by_partition = collect(
        ctx,
        &format!(
            "SELECT a._partition, a.n, b.n FROM
               (SELECT _partition, count(*) AS n FROM readings WHERE {range} GROUP BY _partition) a
               JOIN (SELECT _partition, count(DISTINCT device_id) * {READINGS_IN_RANGE} AS n FROM readings GROUP BY _partition) b
               ON a._partition = b._partition"
        ),
    )
    .await
    .expect("per partition");
    let mut partitions_seen = 0;
    for batch in &by_partition {
        for i in 0..batch.num_rows() {
            assert_eq!(
                batch.column(1).as_primitive::<Int64Type>().value(i),
                batch.column(2).as_primitive::<Int64Type>().value(i)
            );
            partitions_seen += 1;
        }
    }
    assert!(
        partitions_seen >= 2,
        "readings should spread over partitions"
    );
    assert_eq!(count(ctx, "SELECT count(*) FROM quarantine WHERE _kafka_timestamp >= TIMESTAMP '2026-01-01T06:00:00Z' AND _kafka_timestamp < TIMESTAMP '2026-01-01T18:00:00Z'").await, 2);
}

fn morning_to_evening_ms() -> TimeRange {
    TimeRange {
        start: Some(DAY_START_MS + 6 * 3_600_000),
        end: Some(DAY_START_MS + 18 * 3_600_000),
    }
}

/// The plan reads only the range's offsets, whether the broker looks them up by time (tansu) or
/// the fallback finds them from message timestamps (the mock cluster).
async fn a_plan_reads_only_the_offsets_of_its_range(day: Arc<Day>) {
    let scan = day
        .table
        .plan(morning_to_evening_ms(), None)
        .await
        .expect("plan");
    let planned: i64 = scan
        .planned_slices()
        .expect("slices")
        .iter()
        .map(|s| s.end - s.start)
        .sum();
    assert_eq!(
        planned,
        DEVICES as i64 * READINGS_IN_RANGE + 2,
        "exactly the range's messages (2 malformed inside it)"
    );
}

/// Pinned to a range's slices, a table reads their messages whatever its queries' range: a
/// whole-day query sees only the slices' readings, and their quarantine only theirs.
async fn a_pinned_table_reads_its_slices_whatever_the_query_range(day: Arc<Day>) {
    let ctx = &day.ctx;
    let scan = day
        .table
        .plan(morning_to_evening_ms(), None)
        .await
        .expect("plan");
    let slices = scan.planned_slices().expect("slices");
    let pinned = KafkaTable::pinned(day.table.config().clone(), slices.clone());
    ctx.register_table("pinned", Arc::new(pinned))
        .expect("register");
    let in_range = DEVICES as i64 * READINGS_IN_RANGE;
    assert_eq!(count(ctx, "SELECT count(*) FROM pinned").await, in_range);
    assert_eq!(
        count(
            ctx,
            "SELECT count(*) FROM pinned WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z'"
        )
        .await,
        in_range
    );
    // A narrower range still filters.
    assert_eq!(
        count(
            ctx,
            "SELECT count(*) FROM pinned WHERE ts < TIMESTAMP '2026-01-01T06:01:00Z'"
        )
        .await,
        DEVICES as i64 * 3
    );
    let mut quarantine = day.table.config().clone();
    quarantine.quarantine = true;
    ctx.register_table(
        "pinned_quarantine",
        Arc::new(KafkaTable::pinned(quarantine, slices)),
    )
    .expect("register");
    assert_eq!(
        count(ctx, "SELECT count(*) FROM pinned_quarantine").await,
        2
    );
}

/// With `quarantine_output`, one pass over a range yields its readings and writes its malformed
/// messages (those a quarantine table of the same slices shows) as Parquet files; a second
/// pass, as a retried task makes, rewrites the same files instead of adding copies.
async fn a_readings_scan_keeps_the_quarantine_as_a_side_output(day: Arc<Day>) {
    let ctx = &day.ctx;
    let dir = tempfile::tempdir().expect("temp dir");
    let slices = day
        .table
        .plan(morning_to_evening_ms(), None)
        .await
        .expect("plan")
        .planned_slices()
        .expect("slices");
    let mut config = day.table.config().clone();
    config.quarantine_output = Some(dir.path().to_str().expect("utf-8").into());
    ctx.register_table("side_output", Arc::new(KafkaTable::pinned(config, slices)))
        .expect("register");
    let in_range = DEVICES as i64 * READINGS_IN_RANGE;
    for _ in 0..2 {
        assert_eq!(
            count(ctx, "SELECT count(*) FROM side_output").await,
            in_range
        );
        let kept = ctx
            .read_parquet(
                dir.path().to_str().expect("utf-8"),
                datafusion::prelude::ParquetReadOptions::default(),
            )
            .await
            .expect("side output files")
            .collect()
            .await
            .expect("read");
        let rows: usize = kept.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 2, "the two malformed messages of the range, once");
        assert_eq!(
            kept[0].schema().fields().len(),
            pvflow_kafka::quarantine_schema().fields().len()
        );
    }
}

async fn dates_between_and_ranges_past_the_end_are_understood(day: Arc<Day>) {
    let ctx = &day.ctx;
    assert_eq!(
        count(
            ctx,
            "SELECT count(*) FROM readings WHERE CAST(ts AS DATE) = DATE '2026-01-01'"
        )
        .await,
        TOTAL
    );
    assert_eq!(
        count(ctx, "SELECT count(*) FROM readings WHERE ts BETWEEN TIMESTAMP '2026-01-01T00:00:00Z' AND TIMESTAMP '2026-01-01T00:01:00Z'").await,
        DEVICES as i64 * 4
    );
    assert_eq!(
        count(
            ctx,
            "SELECT count(*) FROM readings WHERE ts >= TIMESTAMP '2026-01-02T00:00:00Z'"
        )
        .await,
        0
    );
    let past = day
        .table
        .plan(
            TimeRange {
                start: Some(DAY_START_MS + 2 * 86_400_000),
                end: None,
            },
            None,
        )
        .await
        .expect("plan past the end");
    assert_eq!(past.planned_slices(), Some(vec![]));
}

async fn slices_cut_a_partition_into_many_with_the_same_rows(day: Arc<Day>) {
    let ctx = &day.ctx;
    let mut config = day.table.config().clone();
    config.max_slice_messages = 1000;
    // Fifty-odd slices are read at once, each by its own consumer; tansu's SQLite storage
    // serves them one fetch at a time.
    config.timeout_ms = 60_000;
    let sliced = KafkaTable::new(config)
        .plan(TimeRange::default(), None)
        .await
        .expect("plan");
    assert!(sliced.planned_slices().expect("slices").len() > 4 * 10);
    ctx.register_table("sliced", Arc::new(KafkaTable::new(sliced.config().clone())))
        .expect("register");
    assert_eq!(count(ctx, "SELECT count(*) FROM sliced").await, TOTAL);
    assert_eq!(
        count(
            ctx,
            "SELECT count(DISTINCT _offset * 10 + _partition) FROM sliced"
        )
        .await,
        TOTAL
    );
}

async fn a_missing_topic_is_named(day: Arc<Day>) {
    let missing = KafkaTable::new(KafkaTableConfig::new(day.brokers.clone(), "no.such.topic"));
    let err = missing
        .plan(TimeRange::default(), None)
        .await
        .expect_err("missing topic")
        .to_string();
    assert!(err.contains("no.such.topic"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_topics_decode_and_quarantine() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("pv.json", 2, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    let b = brokers.clone();
    tokio::task::spawn_blocking(move || {
        let producer = ReadingProducer::new(&b, "pv.json", AvroFraming::SingleObject, &BTreeMap::new()).expect("producer");
        for i in 0..100i64 {
            let ts = DAY_START_MS + i * INTERVAL_MS;
            let value = if i == 50 {
                r#"{"device_id":"pv-1","ts":"noon","voltage":1,"current":2,"temperature":3,"irradiance":4}"#.to_string()
            } else {
                format!(r#"{{"device_id":"pv-1","ts":{ts},"voltage":1,"current":2,"temperature":3,"irradiance":4}}"#)
            };
            producer.send_raw(b"pv-1", value.as_bytes(), ts).expect("queued");
        }
        assert_eq!(producer.finish(Duration::from_secs(10)).expect("flush").delivered, 100);
    })
    .await
    .expect("produced");
    let ctx = context();
    for (name, quarantine) in [("r", "false"), ("q", "true")] {
        collect(
            &ctx,
            &format!("CREATE EXTERNAL TABLE {name} STORED AS KAFKA LOCATION 'kafka://{brokers}/pv.json' OPTIONS ('format' 'json', 'quarantine' '{quarantine}')"),
        )
        .await
        .expect("table");
    }
    assert_eq!(count(&ctx, "SELECT count(*) FROM r").await, 99);
    let q = collect(&ctx, "SELECT _partition, reason FROM q")
        .await
        .expect("quarantine");
    assert_eq!(q.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    let q = q.iter().find(|b| b.num_rows() == 1).expect("one row");
    assert!(q.column(0).as_primitive::<Int32Type>().value(0) >= 0);
    assert!(
        q.column(1)
            .as_string::<i32>()
            .value(0)
            .contains("invalid type")
    );
    drop(cluster);
}

/// Readings stored behind newer ones are still read with their day, as long as they are no more
/// than the table's `lateness.ms` behind: a plant whose gateway delivers 2 % of its readings
/// one to three hours late, and a historian exporting each device's three days one device
/// after another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_and_reordered_readings_are_read_with_their_day() {
    const DEVICES: usize = 4;
    let cluster = MockCluster::new(1).expect("mock cluster");
    for topic in ["pv.late", "pv.backlog"] {
        cluster.create_topic(topic, 2, 1).expect("topic");
    }
    let brokers = cluster.bootstrap_servers();
    // The day before, the day, and the day after.
    let days = -READINGS_PER_DEVICE..2 * READINGS_PER_DEVICE;
    let b = brokers.clone();
    tokio::task::spawn_blocking(move || {
        let producer = |topic| {
            ReadingProducer::new(&b, topic, AvroFraming::SingleObject, &BTreeMap::new())
                .expect("producer")
        };
        // In time order, but every 50th reading held back for 180 to 539 readings (1 to 3 h).
        let mut late = producer("pv.late");
        let mut held: Vec<(i64, PvReading)> = Vec::new();
        for i in days.clone() {
            held.retain(|(release, r)| {
                let due = *release <= i;
                if due {
                    late.send(r).expect("queued");
                }
                !due
            });
            for d in 0..DEVICES {
                if (i + d as i64).rem_euclid(50) == 0 {
                    held.push((i + 180 + i.rem_euclid(360), reading(d, i)));
                } else {
                    late.send(&reading(d, i)).expect("queued");
                }
            }
        }
        for (_, r) in held {
            late.send(&r).expect("queued");
        }
        // A historian's export: one device's three days after another's.
        let mut backlog = producer("pv.backlog");
        for d in 0..DEVICES {
            for i in days.clone() {
                backlog.send(&reading(d, i)).expect("queued");
            }
        }
        for producer in [late, backlog] {
            let report = producer.finish(Duration::from_secs(30)).expect("flushed");
            assert_eq!(report.failed, 0, "{:?}", report.first_error);
        }
    })
    .await
    .expect("produced");

    let ctx = context();
    let day_of = async |topic: &str, lateness: &str| {
        let name = format!("{}_{lateness}", topic.replace('.', "_"));
        collect(
            &ctx,
            &format!("CREATE EXTERNAL TABLE {name} STORED AS KAFKA LOCATION 'kafka://{brokers}/{topic}' OPTIONS ('lateness.ms' '{lateness}')"),
        )
        .await
        .expect("table");
        count(
            &ctx,
            &format!("SELECT count(*) FROM {name} WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-02T00:00:00Z'"),
        )
        .await
    };
    let day = DEVICES as i64 * READINGS_PER_DEVICE;
    let three_hours = pvflow_kafka::DEFAULT_LATENESS_MS.to_string();
    assert_eq!(day_of("pv.late", &three_hours).await, day);
    // Without the allowance, the readings of the day's last hours delivered after midnight are
    // past the offset where the day ends by time, and are lost.
    assert!(day_of("pv.late", "0").await < day);
    let three_days = (3 * 86_400_000).to_string();
    assert_eq!(day_of("pv.backlog", &three_days).await, day);
    drop(cluster);
}

#[tokio::test]
async fn unreachable_brokers_fail_clearly_and_in_bounded_time() {
    let ctx = context();
    collect(
        &ctx,
        "CREATE EXTERNAL TABLE down STORED AS KAFKA LOCATION 'kafka://127.0.0.1:1/pv.readings' OPTIONS ('timeout.ms' '1500', 'kafka.sasl.password' 'hunter2')",
    )
    .await
    .expect("table definition needs no broker");
    let started = Instant::now();
    let err = collect(&ctx, "SELECT count(*) FROM down")
        .await
        .expect_err("no broker")
        .to_string();
    assert!(
        err.contains("127.0.0.1:1") && err.contains("1500 ms"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    // The bound is the configured timeout plus client start-up, not minutes of retries.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn bad_table_options_are_refused_with_the_option_named() {
    let ctx = context();
    let err = collect(&ctx, "CREATE EXTERNAL TABLE t STORED AS KAFKA LOCATION 'kafka://127.0.0.1:9092/t' OPTIONS ('format' 'xml')")
        .await
        .expect_err("bad format")
        .to_string();
    assert!(err.contains("'format'") && err.contains("xml"), "{err}");
    let err = collect(
        &ctx,
        "CREATE EXTERNAL TABLE t STORED AS KAFKA LOCATION '127.0.0.1:9092/t'",
    )
    .await
    .expect_err("bad location")
    .to_string();
    assert!(err.contains("kafka://host:port"), "{err}");
}
