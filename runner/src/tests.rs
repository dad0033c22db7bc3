//! Runs in this process, on a pvflow session, over a small day of readings in Parquet: what each
//! plan counts, commits and leaves behind.

use crate::{NoProgress, Plan, Readings, RunManifest, RunParams, RunState, new_run_id, run};
use chrono::NaiveDate;
use datafusion::arrow::array::{Float32Array, RecordBatch, StringArray, TimestampMillisecondArray};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{DataFrame, SessionContext};
use pvflow_dataset::{DeltaLog, layout, open_root};
use pvflow_session::PvflowConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const DAY: &str = "2026-06-01";
/// Windows that start on the day, per device: the range is 67 windows of 1280 s.
const WINDOWS_PER_DEVICE: i64 = 67;

fn day() -> NaiveDate {
    layout::parse_date(DAY).expect("date")
}

/// A plant of three devices: `pv-000` and `pv-001` report every 20 s from an hour before the
/// day's range to its end; `pv-002` misses every other reading, so none of its windows has the
/// 48 valid readings an image needs. Returns the readings inside the day's range, by device.
fn write_readings(path: &Path) -> [i64; 3] {
    let in_range = write_readings_of(path, &[(0, 1), (1, 1), (2, 2)]);
    [in_range[0], in_range[1], in_range[2]]
}

/// Readings of `devices`, each `(number, every)` reporting every `every`th reading; returns
/// their readings inside the day's range.
fn write_readings_of(path: &Path, devices: &[(usize, usize)]) -> Vec<i64> {
    let range = crate::day_range(day());
    let (start, end) = (range.start.expect("start"), range.end.expect("end"));
    let (mut ids, mut ts, mut values) = (Vec::new(), Vec::new(), Vec::new());
    let mut in_range = vec![0; devices.len()];
    for (i_device, &(device, every)) in devices.iter().enumerate() {
        let mut t = start - 3_600_000;
        let mut i = 0;
        while t < end {
            if i % every == 0 {
                ids.push(format!("pv-{device:03}"));
                ts.push(t);
                let sun = ((t - start) as f32 / 86_400_000.0 * std::f32::consts::PI).sin();
                values.push(sun.max(0.0));
                if t >= start {
                    in_range[i_device] += 1;
                }
            }
            t += 20_000;
            i += 1;
        }
    }
    let scaled = |k: f32, offset: f32| -> Arc<Float32Array> {
        Arc::new(values.iter().map(|v| offset + k * v).collect())
    };
    let batch = RecordBatch::try_new(
        pvflow_kafka::reading_schema(),
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(TimestampMillisecondArray::from(ts).with_timezone("UTC")),
            scaled(120.0, 480.0),
            scaled(8.0, 0.1),
            scaled(30.0, 15.0),
            scaled(900.0, 5.0),
        ],
    )
    .expect("batch");
    write_parquet(path, &batch);
    in_range
}

/// `batch` as the Parquet file `path`, its directory made if need be.
fn write_parquet(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("directory");
    let file = std::fs::File::create(path).expect("file");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    writer.write(batch).expect("write");
    writer.close().expect("close");
}

/// A session as `pvflow run` makes one, with the shipped model and its normalisation.
fn session() -> SessionContext {
    pvflow_session::session_context(&config()).expect("session")
}

fn config() -> PvflowConfig {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut config = PvflowConfig::default();
    config.model.path = Some(repo.join("models/pv_fault_lean.onnx"));
    config.model.normalization = Some(repo.join("models/normalization.json"));
    config
}

/// `plan` run to its end in a session of this process, never stopped.
async fn run_in_process(plan: Plan, params: &RunParams) -> RunManifest {
    let run_id = new_run_id(plan, params.date);
    run(
        &session(),
        run_id,
        plan,
        params,
        &NoProgress,
        std::future::pending(),
    )
    .await
}

/// `sql` (a plan's, or an EXPLAIN of one) planned in `ctx` with `plan`'s parameters for the day
/// bound.
async fn bound(ctx: &SessionContext, sql: &str, params: &RunParams) -> DataFrame {
    ctx.sql(sql)
        .await
        .expect("plans")
        .with_param_values(params.bind("test"))
        .expect("binds")
}

struct Plant {
    dir: tempfile::TempDir,
    readings: PathBuf,
    in_range: [i64; 3],
}

impl Plant {
    fn new() -> Plant {
        let dir = tempfile::tempdir().expect("temp dir");
        let readings = dir.path().join("readings.parquet");
        let in_range = write_readings(&readings);
        Plant {
            dir,
            readings,
            in_range,
        }
    }

    fn root(&self, dataset: &str) -> PathBuf {
        self.dir.path().join(dataset)
    }

    fn params(&self, plan: Plan, date: NaiveDate) -> RunParams {
        let readings = Readings::Parquet(self.readings.to_str().expect("utf-8").into());
        let root = |d| self.root(d).to_str().expect("utf-8").to_string();
        RunParams::new(plan, date, readings, &root("silver"), &root("gold")).expect("params")
    }

    async fn run(&self, plan: Plan, date: NaiveDate) -> RunManifest {
        run_in_process(plan, &self.params(plan, date)).await
    }

    fn dataset_root(&self, dataset: &str) -> crate::DatasetRoot {
        crate::DatasetRoot::parse("dataset", self.root(dataset).to_str().expect("utf-8"))
            .expect("root")
    }

    /// The day's files as the dataset's log lists them.
    async fn logged_files(&self, dataset: &str) -> Vec<String> {
        let runtime = SessionContext::new().runtime_env();
        let (store, root) = open_root(&runtime, self.dataset_root(dataset).url()).expect("store");
        let snapshot = DeltaLog::new(store, root).snapshot().await.expect("log");
        snapshot.files_in(DAY).map(|f| f.path.clone()).collect()
    }

    /// What the dataset's staging holds: nothing once a run has ended.
    fn staged(&self, dataset: &str) -> Vec<String> {
        match std::fs::read_dir(self.root(dataset).join(layout::STAGING_DIR)) {
            Ok(entries) => entries
                .map(|e| e.expect("entry").file_name().to_string_lossy().into())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The manifest the run left under `dataset`.
    async fn manifest(&self, dataset: &str, run_id: &str) -> Option<RunManifest> {
        let root = self.dataset_root(dataset);
        crate::read_manifest(&SessionContext::new().runtime_env(), &root, run_id)
            .await
            .expect("readable")
    }
}

fn committed_paths(manifest: &RunManifest) -> Vec<String> {
    let mut paths: Vec<String> = manifest.outputs[0]
        .files
        .iter()
        .map(|f| f.path.clone())
        .collect();
    paths.sort();
    paths
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_counts_every_reading_of_its_day_and_commits_silver() {
    let plant = Plant::new();
    let ingest = plant.run(Plan::Ingest, day()).await;
    assert_eq!(ingest.state, RunState::Succeeded, "{}", ingest.to_json());

    let counts = &ingest.counts;
    let readings: i64 = plant.in_range.iter().sum();
    // The hour before the range is not the day's; every reading of the range is windowed.
    assert_eq!(counts.readings_read, Some(readings));
    assert_eq!(counts.readings_windowed, Some(readings));
    assert_eq!(counts.windows, Some(3 * WINDOWS_PER_DEVICE));
    // Parquet readings have no Kafka messages, and ingest scores nothing.
    assert_eq!(counts.messages_read, None);
    assert_eq!(counts.messages_quarantined, None);
    assert_eq!(counts.windows_scored, None);
    let stages: Vec<_> = ingest.stages.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(
        stages,
        [
            "count Parquet readings",
            "silver: windows",
            "count silver readings",
            "commit"
        ]
    );

    // What the manifest says it committed is what silver's log lists, and nothing is staged.
    assert_eq!(ingest.outputs.len(), 1);
    assert_eq!(ingest.outputs[0].dataset, "silver");
    let mut logged = plant.logged_files("silver").await;
    logged.sort();
    assert_eq!(logged, committed_paths(&ingest));
    assert!(plant.staged("silver").is_empty());
    let written = plant
        .manifest("silver", &ingest.run_id)
        .await
        .expect("manifest written");
    assert_eq!(written.counts, ingest.counts);
}

/// Ingest's windows under a memory pool smaller than their state (40 devices' 2,680 windows of
/// about 3 KiB): the window aggregate spills them to disk and merges them back, and silver's
/// rows are the same as without a pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_spills_windows_that_do_not_fit_its_memory_pool() {
    use datafusion::physical_plan::{ExecutionPlan, collect};

    fn aggregate_spills(plan: &Arc<dyn ExecutionPlan>) -> usize {
        let own = match plan.name() {
            "AggregateExec" => plan.metrics().and_then(|m| m.spill_count()),
            _ => None,
        };
        own.unwrap_or_default()
            + plan
                .children()
                .into_iter()
                .map(aggregate_spills)
                .sum::<usize>()
    }

    let plant = Plant::new();
    let fleet: Vec<_> = (0..40).map(|d| (d, 1)).collect();
    write_readings_of(&plant.readings, &fleet);
    let windows = async |pool: &str| {
        let mut config = config();
        config.memory.pool = pool.parse().expect("pool size");
        let ctx = pvflow_session::session_context(&config).expect("session");
        // Batches of a few windows, so that a spill file's batch is small beside the pool: the
        // merge of spill files holds two batches per file (at DataFusion's 8,192 rows, 25 MB
        // each, which a pool of gigabytes affords).
        ctx.sql("SET datafusion.execution.batch_size = 16")
            .await
            .expect("set");
        ctx.register_parquet(
            "readings",
            plant.readings.to_str().expect("utf-8"),
            Default::default(),
        )
        .await
        .expect("readings");
        let plan = bound(&ctx, Plan::Ingest.sql(), &plant.params(Plan::Ingest, day()))
            .await
            .create_physical_plan()
            .await
            .expect("physical plan");
        let rows = collect(Arc::clone(&plan), ctx.task_ctx())
            .await
            .expect("runs");
        let printed = datafusion::arrow::util::pretty::pretty_format_batches(&rows)
            .expect("prints")
            .to_string();
        let mut rows: Vec<String> = printed.lines().map(str::to_string).collect();
        rows.sort();
        (rows, aggregate_spills(&plan))
    };
    let (unbounded, no_spills) = windows("0").await;
    assert_eq!(no_spills, 0);
    let (pooled, spilled) = windows("2MiB").await;
    assert!(spilled > 0, "the aggregate held every window in 2 MiB");
    assert_eq!(pooled, unbounded);
    // Three border lines and the header around the windows.
    assert_eq!(unbounded.len(), 40 * WINDOWS_PER_DEVICE as usize + 4);
}

/// From Kafka, a day's readings delivered up to three hours late (2 % of them, behind newer
/// readings of the same partition) are all windowed with their day, and the manifest counts
/// those stored past the offset where the day ends by time. Readings of the day that arrive
/// after its run make it stale (what `--if-late` asks), and running it again windows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_from_kafka_windows_late_readings_and_counts_them() {
    use pvflow_kafka::{AvroFraming, KafkaTableConfig, PvReading, ReadingProducer};
    use std::collections::BTreeMap;

    fn reading(device: usize, ts: i64) -> PvReading {
        PvReading {
            device_id: format!("pv-{device:03}"),
            ts,
            voltage: 500.0,
            current: 8.0,
            temperature: 30.0,
            irradiance: 800.0,
        }
    }
    let cluster = rdkafka::mocking::MockCluster::new(1).expect("mock broker");
    cluster.create_topic("pv.readings", 2, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    let range = crate::day_range(day());
    let (start, end) = (range.start.expect("start"), range.end.expect("end"));
    let b = brokers.clone();
    // Three devices from the day before to two hours into the next (the run is that soon after
    // midnight), in time order but for every 50th reading, held back for one to three hours. Returns the day's readings, and those of them
    // delivered after a reading of the next day.
    let (of_the_day, after_midnight) = tokio::task::spawn_blocking(move || {
        let mut producer = ReadingProducer::new(
            &b,
            "pv.readings",
            AvroFraming::SingleObject,
            &BTreeMap::new(),
        )
        .expect("producer");
        let (mut of_the_day, mut after_midnight) = (0, 0);
        let mut held: Vec<(i64, PvReading)> = Vec::new();
        let mut t = start - 86_400_000;
        while t < end + 2 * 3_600_000 {
            held.retain(|(release, r)| {
                let due = *release <= t;
                if due {
                    if (start..end).contains(&r.ts) && t >= end {
                        after_midnight += 1;
                    }
                    producer.send(r).expect("queued");
                }
                !due
            });
            for device in 0..3 {
                of_the_day += i64::from((start..end).contains(&t));
                let i = t / 20_000 + device as i64;
                if i % 50 == 0 {
                    held.push((t + 3_600_000 + i % 360 * 20_000, reading(device, t)));
                } else {
                    producer.send(&reading(device, t)).expect("queued");
                }
            }
            t += 20_000;
        }
        for (_, r) in held {
            after_midnight += i64::from((start..end).contains(&r.ts));
            producer.send(&r).expect("queued");
        }
        let report = producer
            .finish(std::time::Duration::from_secs(30))
            .expect("flushed");
        assert_eq!(report.failed, 0, "{:?}", report.first_error);
        (of_the_day, after_midnight)
    })
    .await
    .expect("produced");
    assert!(after_midnight > 0);

    let plant = Plant::new();
    let root = |d| plant.root(d).to_str().expect("utf-8").to_string();
    let kafka = KafkaTableConfig::new(brokers, "pv.readings");
    let params = RunParams::new(
        Plan::Ingest,
        day(),
        Readings::Kafka(kafka),
        &root("silver"),
        &root("gold"),
    )
    .expect("params");
    let ingest = run_in_process(Plan::Ingest, &params).await;
    assert_eq!(ingest.state, RunState::Succeeded, "{}", ingest.to_json());
    let counts = &ingest.counts;
    assert_eq!(
        counts.readings_windowed,
        Some(of_the_day),
        "{}",
        ingest.to_json()
    );
    // The offset where the day ends by time comes after a reading of the next day, so what is
    // stored past it was delivered after midnight; the mock broker does not answer offsets for
    // times, and the search through message timestamps that replaces it may end the day after
    // some of those, never before.
    let late = counts.readings_late.expect("late readings counted");
    assert!(late > 0 && late <= after_midnight, "{}", ingest.to_json());
    assert_eq!(
        counts.messages_read,
        counts
            .readings_windowed
            .zip(counts.messages_out_of_range)
            .map(|(w, o)| w + o + counts.messages_quarantined.unwrap_or(0)),
    );

    // The day is up to date until readings of it arrive; then running it again windows them.
    let ctx = session();
    let first_run = ingest.run_id.clone();
    assert_eq!(
        crate::day_freshness(&ctx, &params).await.expect("fresh"),
        crate::DayFreshness::UpToDate {
            run_id: first_run.clone()
        }
    );
    let b = brokers_of(&params);
    tokio::task::spawn_blocking(move || {
        let mut producer = ReadingProducer::new(
            &b,
            "pv.readings",
            AvroFraming::SingleObject,
            &BTreeMap::new(),
        )
        .expect("producer");
        for i in 0..5 {
            let mut r = reading(9, start + 3_600_000 + i * 20_000);
            r.device_id = "pv-late".into();
            producer.send(&r).expect("queued");
        }
        producer
            .finish(std::time::Duration::from_secs(30))
            .expect("flushed");
    })
    .await
    .expect("produced");
    assert_eq!(
        crate::day_freshness(&ctx, &params).await.expect("fresh"),
        crate::DayFreshness::Unread {
            run_id: first_run,
            readings: 5
        }
    );
    let again = run_in_process(Plan::Ingest, &params).await;
    assert_eq!(again.counts.readings_windowed, Some(of_the_day + 5));
    assert_eq!(
        crate::day_freshness(&ctx, &params).await.expect("fresh"),
        crate::DayFreshness::UpToDate {
            run_id: again.run_id.clone()
        }
    );
    drop(cluster);
}

fn brokers_of(params: &RunParams) -> String {
    match &params.readings {
        Readings::Kafka(kafka) => kafka.brokers.clone(),
        Readings::Parquet(_) => unreachable!("a Kafka run"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_scores_every_imaged_window_and_a_day_without_silver_leaves_gold() {
    let plant = Plant::new();
    let ingest = plant.run(Plan::Ingest, day()).await;
    assert_eq!(ingest.state, RunState::Succeeded, "{}", ingest.to_json());

    let predict = plant.run(Plan::Predict, day()).await;
    assert_eq!(predict.state, RunState::Succeeded, "{}", predict.to_json());
    assert_eq!(predict.counts.windows, ingest.counts.windows);
    // pv-002's windows hold 32 readings each: too few for an image, so for a diagnosis.
    assert_eq!(predict.counts.windows_scored, Some(2 * WINDOWS_PER_DEVICE));
    assert_eq!(predict.counts.windows_unscored, Some(WINDOWS_PER_DEVICE));
    let mut gold = plant.logged_files("gold").await;
    gold.sort();
    assert_eq!(gold, committed_paths(&predict));
    // Its fault episodes and the devices' state at the day's end are committed with it, each
    // as the manifest counts them (whatever the model makes of these made-up readings).
    let datasets: Vec<&str> = predict.outputs.iter().map(|o| o.dataset.as_str()).collect();
    assert_eq!(datasets, ["gold", "fault_events", "episode_state"]);
    let episodes = predict.counts.episodes_open.expect("open")
        + predict.counts.episodes_closed.expect("closed");
    let rows = |dataset: &str| -> i64 {
        let output = predict
            .outputs
            .iter()
            .find(|o| o.dataset == dataset)
            .expect("output");
        output.files.iter().map(|f| f.rows).sum()
    };
    assert_eq!(rows("fault_events"), episodes);
    for dataset in ["_fault_events", "_episode_state"] {
        let root = plant.root("gold").join(dataset);
        let (store, root) = open_root(
            &SessionContext::new().runtime_env(),
            &format!("{}/", root.to_str().expect("utf-8")),
        )
        .expect("store");
        let snapshot = DeltaLog::new(store, root).snapshot().await.expect("log");
        assert!(snapshot.has_partition(DAY), "{dataset} has no {DAY}");
    }

    // The next day has no silver: the run fails saying so, and gold's log is as it was.
    let next = day().succ_opt().expect("next day");
    let missing = plant.run(Plan::Predict, next).await;
    assert_eq!(missing.state, RunState::Failed);
    let error = missing.error.as_deref().unwrap_or_default();
    assert!(error.contains("no silver for 2026-06-02"), "{error}");
    let mut after = plant.logged_files("gold").await;
    after.sort();
    assert_eq!(after, gold);
    assert!(plant.staged("gold").is_empty());
    assert!(plant.manifest("gold", &missing.run_id).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_run_is_cancelled_and_leaves_nothing_staged_or_committed() {
    let plant = Plant::new();
    let run_id = new_run_id(Plan::Ingest, day());
    let stopped = run(
        &session(),
        run_id.clone(),
        Plan::Ingest,
        &plant.params(Plan::Ingest, day()),
        &NoProgress,
        std::future::ready(()),
    )
    .await;
    assert_eq!(stopped.state, RunState::Cancelled);
    assert!(stopped.outputs.is_empty());
    assert!(plant.logged_files("silver").await.is_empty());
    assert!(plant.staged("silver").is_empty());
    let written = plant.manifest("silver", &run_id).await.expect("manifest");
    assert_eq!(written.state, RunState::Cancelled);
}

/// The sum of a counter family of the process' Prometheus registry, over its labels.
fn counter_total(name: &str) -> f64 {
    prometheus::gather()
        .iter()
        .filter(|family| family.name() == name)
        .flat_map(|family| family.get_metric())
        .map(|m| m.get_counter().value())
        .sum()
}

// The metrics are the process' own: nextest runs each test in a process of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_images_and_classifies_each_window_once() {
    let plant = Plant::new();
    let ingest = plant.run(Plan::Ingest, day()).await;
    assert_eq!(ingest.state, RunState::Succeeded, "{}", ingest.to_json());
    let windows = ingest.counts.windows.expect("windows") as f64;

    let (imaged, classified) = (
        counter_total("pvflow_scalograms_total"),
        counter_total("pvflow_windows_classified_total"),
    );
    let predict = plant.run(Plan::Predict, day()).await;
    assert_eq!(predict.state, RunState::Succeeded, "{}", predict.to_json());
    assert_eq!(counter_total("pvflow_scalograms_total") - imaged, windows);
    assert_eq!(
        counter_total("pvflow_windows_classified_total") - classified,
        windows
    );

    // The plan says the same: one classifier call, which makes the images itself.
    let ctx = session();
    let silver = plant.dataset_root("silver");
    crate::predict::register_day_of_silver(&ctx, &Default::default(), &silver, DAY)
        .await
        .expect("silver");
    let explain = format!("EXPLAIN {}", crate::Plan::Predict.sql());
    let plan = bound(&ctx, &explain, &plant.params(Plan::Predict, day()))
        .await
        .to_string()
        .await
        .expect("explains");
    let physical = plan.split("physical_plan").nth(1).expect("a physical plan");
    assert_eq!(physical.matches("pv_fault_classify(").count(), 1, "{plan}");
    assert_eq!(physical.matches("pv_scalogram(").count(), 0, "{plan}");

    // No join builds a hash table of silver's rows: a hash join holds its build side whole
    // and cannot spill, so a fleet's day of series (6.7 GB at 100,000 devices) would exhaust
    // the memory pool. Silver streams through as the probe side.
    let plan = bound(
        &ctx,
        crate::Plan::Predict.sql(),
        &plant.params(Plan::Predict, day()),
    )
    .await
    .create_physical_plan()
    .await
    .expect("a physical plan");
    let mut builds = Vec::new();
    hash_join_build_sides(&plan, &mut builds);
    assert!(!builds.is_empty(), "predict joins silver with devices");
    for columns in builds {
        // Silver's rows, whole or projected, carry their key: a device and a window.
        let has = |name: &str| columns.iter().any(|c| c == name);
        assert!(
            !(has("device_id") && has("window_start")),
            "a hash join builds on silver: {columns:?}"
        );
    }
}

/// The columns of every hash join's build side in `plan`.
fn hash_join_build_sides(
    plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    builds: &mut Vec<Vec<String>>,
) {
    use datafusion::physical_plan::joins::HashJoinExec;
    if let Some(join) = plan.downcast_ref::<HashJoinExec>() {
        let schema = join.left().schema();
        builds.push(schema.fields().iter().map(|f| f.name().clone()).collect());
    }
    for child in plan.children() {
        hash_join_build_sides(child, builds);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_refuses_silver_that_holds_images_and_says_to_reingest() {
    use datafusion::arrow::array::{FixedSizeListArray, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use pvflow_dataset::{StagedTarget, WrittenFile, commit};

    // A day of silver as pvflow wrote it before silver kept series: a `scalogram` column.
    let plant = Plant::new();
    let item = Arc::new(Field::new_list_field(DataType::Float32, true));
    let file_schema = Arc::new(Schema::new(vec![
        Field::new("device_id", DataType::Utf8, false),
        Field::new(
            "window_start",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("readings", DataType::Int64, false),
        Field::new("scalogram", DataType::FixedSizeList(item.clone(), 4), true),
        Field::new("run_id", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        file_schema,
        vec![
            Arc::new(StringArray::from(vec!["pv-000"])),
            Arc::new(TimestampMillisecondArray::from(vec![1_780_272_000_000]).with_timezone("UTC")),
            Arc::new(Int64Array::from(vec![64])),
            Arc::new(
                FixedSizeListArray::try_new(
                    item,
                    4,
                    Arc::new(Float32Array::from(vec![0.0; 4])),
                    None,
                )
                .expect("image"),
            ),
            Arc::new(StringArray::from(vec!["ingest-old"])),
        ],
    )
    .expect("batch");
    let root = plant.root("silver").to_str().expect("utf-8").to_string();
    let target = StagedTarget {
        root: root.clone(),
        run_id: "ingest-old".into(),
        partition_column: "date".into(),
    };
    let path = format!("{}/part-0.parquet", target.staging_partition_dir(DAY));
    write_parquet(&plant.root("silver").join(&path), &batch);
    let mut fields = batch.schema().fields().to_vec();
    fields.push(Arc::new(Field::new("date", DataType::Date32, false)));
    let (store, _) = open_root(&SessionContext::new().runtime_env(), &root).expect("store");
    let file = WrittenFile {
        partition: DAY.into(),
        path,
        rows: 1,
        null_counts: Default::default(),
    };
    commit(
        &store,
        &target,
        &Schema::new(fields),
        &[file],
        &[DAY.into()],
    )
    .await
    .expect("old silver committed");

    let predict = plant.run(Plan::Predict, day()).await;
    assert_eq!(predict.state, RunState::Failed);
    let error = predict.error.as_deref().unwrap_or_default();
    assert!(error.contains("scalogram images"), "{error}");
    assert!(
        error.contains("re-run ingest for 2026-06-01 (`pvflow run ingest --date 2026-06-01`)"),
        "{error}"
    );
    assert!(plant.logged_files("gold").await.is_empty());
    assert!(plant.staged("gold").is_empty());
}
