//! `pvflow demo`: the whole pipeline in one process on a simulated plant.

use crate::run::{Locations, PlanArg, PlanDay, StageSpinner};
use crate::simulate::{PlantArgs, SensorPreset};
use crate::{Failure, simulate};
use anyhow::{Context, anyhow};
use ballista::extension::SessionContextExt;
use chrono::NaiveDate;
use clap::Args;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use pvflow_runner::{Plan, RunManifest};
use pvflow_session::DistributedParts;
use pvflow_session::PvflowConfig;
use rdkafka::mocking::MockCluster;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub const AFTER_HELP: &str = "\
The demo starts, inside this process, a Kafka broker (librdkafka's mock cluster) and a Ballista
scheduler with one executor (pvflow's functions, Kafka tables and codecs built in), simulates a
plant's day into Kafka (all six fault classes, realistic sensors), runs the ingest and predict
plans on that scheduler (or, with --in-process, on DataFusion alone; with --scheduler, on a
pvflow cluster), and compares gold with the simulator's ground truth. The model is
[model] path, else models/pv_fault_lean.onnx with models/normalization.json (run from the
repository). The output stays for `pvflow sql`, read through the datasets' logs:

  PVFLOW_STORAGE_SILVER=target/demo/silver PVFLOW_STORAGE_GOLD=target/demo/gold \\
    pvflow sql \"SELECT fault_label, count(*) FROM gold GROUP BY 1\"";

const TOPIC: &str = "pv.readings";
/// Readings per day of one device at 20 s.
const READINGS_PER_DEVICE: usize = 86_400 / 20;
/// librdkafka's mock broker keeps about 5 MB per partition and drops older messages beyond that
/// (rdkafka_mock.c): the demo spreads a day over enough partitions to keep all of it, with room
/// for devices hashing unevenly (at 200,000 a 10,000-device day lost 1.6 % of its readings).
const READINGS_PER_PARTITION: usize = 100_000;

fn partitions(devices: usize) -> i32 {
    (devices * READINGS_PER_DEVICE)
        .div_ceil(READINGS_PER_PARTITION)
        .max(4) as i32
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Devices (PV arrays) in the simulated plant
    #[arg(long, default_value_t = 200)]
    pub devices: usize,
    /// Simulate the plant this description (plant.toml) describes instead, which is also the
    /// sessions' `devices` table ([plant] description)
    #[arg(long, value_name = "PLANT_TOML", conflicts_with = "devices")]
    pub plant: Option<PathBuf>,
    /// The simulated day (UTC), YYYY-MM-DD
    #[arg(long, value_name = "DATE", default_value = "2026-06-01", value_parser = pvflow_runner::parse_date)]
    pub date: NaiveDate,
    /// Random seed of the plant
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Share of device-days with a failing sensor while the array is fine (frozen or dropped
    /// channels, temperature offset or drift, soiled or shaded irradiance sensor, clock jump)
    #[arg(long, value_name = "FRACTION")]
    pub sensor_failures: Option<f64>,
    /// Directory for silver, gold and the ground truth
    #[arg(long, value_name = "DIR", default_value = "target/demo")]
    pub output: PathBuf,
    /// Run the plans on a pvflow cluster instead (df://HOST:PORT of a pvflow-scheduler); its
    /// executors must reach this process' broker on 127.0.0.1 and the output directory
    #[arg(long, value_name = "URL")]
    pub scheduler: Option<String>,
    /// Run the plans on DataFusion in this process, without Ballista (as `pvflow run` does)
    #[arg(long, conflicts_with = "scheduler")]
    pub in_process: bool,
    /// After the summary, keep serving the web dashboard and the API on the demo's output at
    /// ADDR (default 127.0.0.1:8080; port 0: any free port) until Ctrl-C
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8080")]
    pub serve: Option<std::net::SocketAddr>,
}

pub async fn run(config: &PvflowConfig, args: DemoArgs) -> Result<(), Failure> {
    let date = args.date;
    let mut config = with_shipped_model(config.clone())?;
    let devices = match &args.plant {
        Some(path) => {
            let description = pvflow_plant::Plant::load(path)
                .with_context(|| format!("--plant {}", path.display()))
                .map_err(Failure::usage)?;
            config.plant.description = Some(path.clone());
            description.devices().count()
        }
        None => args.devices,
    };
    // The output directory holds the demo's datasets and its ground truth: all its sessions
    // reach, as a cluster's are confined to its storage.
    config.storage.silver = dir_string(&args.output.join("silver"))?;
    config.storage.gold = dir_string(&args.output.join("gold"))?;
    config.storage.roots = vec![dir_string(&args.output)?];
    // The model and ONNX Runtime load here: a missing one fails before any work.
    let (ctx, engine) = match (&args.scheduler, args.in_process) {
        (Some(url), _) => (
            crate::remote::connect(&config, url).await?,
            format!("the pvflow cluster at {url}"),
        ),
        (None, true) => (
            pvflow_session::session_context(&config).map_err(Failure::usage)?,
            "DataFusion in this process".to_string(),
        ),
        (None, false) => (
            standalone_cluster(&config).await?,
            "an in-process Ballista scheduler + executor".to_string(),
        ),
    };
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))
        .map_err(Failure::io)?;
    let truth = args.output.join("truth.parquet");

    let broker = MockCluster::new(1)
        .context("cannot start the in-process Kafka broker")
        .map_err(Failure::io)?;
    broker
        .create_topic(TOPIC, partitions(devices), 1)
        .context("cannot create the demo topic")
        .map_err(Failure::io)?;
    let brokers = broker.bootstrap_servers();

    println!(
        "pvflow demo: {devices} devices x 1 day ({date}), in-process Kafka broker at {brokers}, plans on {engine}\n",
    );
    let started = Instant::now();
    let plant = PlantArgs {
        brokers: Some(brokers.clone()),
        topic: Some(TOPIC.into()),
        partitions: partitions(devices),
        output_parquet: None,
        sensors: SensorPreset::Realistic,
        noise: None,
        missing_rate: None,
        duplicate_rate: None,
        sensor_failures: args.sensor_failures,
        clear_day_probability: None,
        clouds_per_hour: None,
        devices,
        plant: args.plant.clone(),
        start: date,
        days: 1,
        live_minutes: None,
        interval: 20,
        seed: args.seed,
        class_mix: None,
        truth: Some(truth.clone()),
    };
    let simulated = tokio::task::spawn_blocking({
        let config = config.clone();
        move || simulate::simulate(&config, plant)
    })
    .await
    .map_err(|e| Failure::io(anyhow!("simulation thread failed: {e}")))?;
    simulated?;
    let simulate_seconds = started.elapsed().as_secs_f64();

    let ingest = PlanDay {
        plan: PlanArg::Ingest,
        date,
        locations: Locations {
            brokers: Some(brokers),
            topic: Some(TOPIC.into()),
            silver: Some(config.storage.silver.clone()),
            gold: Some(config.storage.gold.clone()),
            readings_parquet: None,
        },
        if_late: false,
    };
    let params = ingest.params(&config)?;
    let mut manifests = Vec::new();
    for plan in [Plan::Ingest, Plan::Predict] {
        let spinner = StageSpinner::new();
        // The demo's Ctrl-C keeps its default: the process and its embedded services go at once.
        let run_id = pvflow_runner::new_run_id(plan, date);
        let manifest = pvflow_runner::run(
            &ctx,
            run_id,
            plan,
            &params,
            &spinner,
            std::future::pending(),
        )
        .await;
        spinner.finish();
        if let Some(e) = &manifest.error {
            return Err(Failure::query(anyhow!("{plan} failed: {e}")));
        }
        manifests.push(manifest);
    }
    let [ingest, predict] = manifests.as_slice() else {
        return Err(Failure::query(anyhow!(
            "the demo ran {} plans, not two",
            manifests.len()
        )));
    };

    // Gold as predict committed it: its manifest lists the files.
    // Silver and gold as the runs committed them: their manifests list the files.
    let files = |manifest: &RunManifest, dataset: &str, root: &pvflow_runner::DatasetRoot| {
        manifest
            .outputs
            .iter()
            .filter(|o| o.dataset == dataset)
            .flat_map(|o| o.files.iter().map(|f| root.join(&f.path)))
            .collect::<Vec<String>>()
    };
    let gold_files = files(predict, "gold", &params.gold);
    let silver_files = files(ingest, "silver", &params.silver);
    let comparison = compare_with_truth(&ctx, silver_files, gold_files, &truth)
        .await
        .map_err(Failure::query)?;
    print_summary(simulate_seconds, ingest, predict, &comparison, &args.output);
    if args.serve.is_none() {
        println!("  dashboard: pvflow demo --serve (or pvflow serve with the storage above)");
    }
    // The broker lives until here: the runs read from it.
    drop(broker);
    match args.serve {
        Some(bind) => {
            println!("\nServing the dashboard and the API on the demo's output; Ctrl-C stops.");
            crate::serve::run(
                &config,
                crate::serve::ServeArgs {
                    bind,
                    scheduler: None,
                },
            )
            .await
        }
        None => Ok(()),
    }
}

/// A Ballista scheduler and executor inside this process, with pvflow's codecs, functions,
/// Kafka tables and staged writes: the plans take the same path as on a cluster.
async fn standalone_cluster(config: &PvflowConfig) -> Result<SessionContext, Failure> {
    let parts = DistributedParts::new(config).map_err(Failure::usage)?;
    // As many partitions as the embedded executor has task slots (one per core): Ballista's
    // default of 16 made four times as many tasks as slots, each paying the scheduling cost.
    let slots = std::thread::available_parallelism().map_or(2, |n| n.get());
    let state = parts
        .session_state(parts.session_config().with_target_partitions(slots))
        .map_err(Failure::query)?;
    let ctx = SessionContext::standalone_with_state(state)
        .await
        .context("cannot start the in-process Ballista scheduler and executor")
        .map_err(Failure::io)?;
    parts.client_context(ctx).map_err(Failure::query)
}

/// The configured model, else the one shipped in models/ (when run from the repository).
fn with_shipped_model(mut config: PvflowConfig) -> Result<PvflowConfig, Failure> {
    if config.model.path.is_none() {
        let shipped = Path::new("models/pv_fault_lean.onnx");
        if !shipped.is_file() {
            return Err(Failure::usage(anyhow!(
                "no model: set [model] path (PVFLOW_MODEL_PATH), or run the demo from the repository, where models/pv_fault_lean.onnx is"
            )));
        }
        config.model.path = Some(shipped.into());
        if config.model.normalization.is_none() {
            config.model.normalization = Some("models/normalization.json".into());
        }
    }
    Ok(config)
}

fn dir_string(path: &Path) -> Result<String, Failure> {
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| Failure::usage(anyhow!("{} is not a UTF-8 path", path.display())))
}

/// Gold against the simulator's labels: (true label, predicted label, windows).
/// What the summary calls the windows gold gives no diagnosis for their data's trouble.
const UNTRUSTED: &str = "untrusted data";

struct Comparison {
    /// (true class, predicted class or [`UNTRUSTED`], windows) of windows whose sensors work.
    rows: Vec<(String, String, i64)>,
    /// Windows of a failing sensor on a healthy array: all, flagged or quarantined, called a
    /// PV fault.
    failure_windows: [i64; 3],
}

impl Comparison {
    fn total(&self) -> i64 {
        self.rows.iter().map(|r| r.2).sum()
    }

    fn correct(&self) -> i64 {
        self.rows.iter().filter(|r| r.0 == r.1).map(|r| r.2).sum()
    }

    /// Windows of class `label` predicted as it.
    fn hits(&self, label: &str) -> i64 {
        self.rows
            .iter()
            .filter(|r| r.0 == label && r.1 == label)
            .map(|r| r.2)
            .sum()
    }

    fn by<'a>(
        &'a self,
        pick: impl Fn(&'a (String, String, i64)) -> &'a str,
    ) -> Vec<(&'a str, i64)> {
        let mut counts: std::collections::BTreeMap<&str, i64> = Default::default();
        for row in &self.rows {
            *counts.entry(pick(row)).or_default() += row.2;
        }
        counts.into_iter().collect()
    }
}

async fn compare_with_truth(
    ctx: &SessionContext,
    silver_files: Vec<String>,
    gold_files: Vec<String>,
    truth: &Path,
) -> anyhow::Result<Comparison> {
    ctx.deregister_table("demo_silver")?;
    ctx.deregister_table("demo_gold")?;
    ctx.deregister_table("demo_truth")?;
    pvflow_runner::register_parquet_files(ctx, "demo_silver", silver_files).await?;
    pvflow_runner::register_parquet_files(ctx, "demo_gold", gold_files).await?;
    ctx.register_parquet(
        "demo_truth",
        dir_string(truth).map_err(|f| f.error)?,
        ParquetReadOptions::default(),
    )
    .await?;
    let batches = ctx
        .sql(&format!(
            "SELECT t.fault_label, COALESCE(g.fault_label, '{UNTRUSTED}'), count(*) \
                 FROM demo_gold g JOIN demo_truth t \
                 ON g.device_id = t.device_id AND g.window_start = t.window_start \
                 WHERE t.sensor_failure IS NULL \
                 GROUP BY 1, 2"
        ))
        .await?
        .collect()
        .await?;
    let mut rows = Vec::new();
    for batch in &batches {
        rows.extend(label_pairs(batch)?);
    }
    // Windows of a failing sensor on a healthy array: kept out of silver (a dropped channel's
    // NaN readings go to quarantine) or flagged in silver or gold, or called a PV fault.
    let failures = ctx
        .sql(
            "SELECT count(*), \
                    sum(CASE WHEN s.device_id IS NULL OR cardinality(s.quality_flags) > 0 \
                              OR cardinality(g.quality_flags) > 0 THEN 1 ELSE 0 END), \
                    sum(CASE WHEN g.fault_code <> 0 THEN 1 ELSE 0 END) \
             FROM demo_truth t \
             LEFT JOIN demo_silver s \
               ON s.device_id = t.device_id AND s.window_start = t.window_start \
             LEFT JOIN demo_gold g \
               ON t.device_id = g.device_id AND t.window_start = g.window_start \
             WHERE t.sensor_failure IS NOT NULL AND t.fault_code = 0",
        )
        .await?
        .collect()
        .await?;
    let failure_windows = failures
        .first()
        .filter(|b| b.num_rows() == 1)
        .map(|b| {
            let value = |k: usize| {
                cast(b.column(k), &DataType::Int64)
                    .ok()
                    .and_then(|c| c.as_primitive_opt::<Int64Type>().map(|c| c.value(0)))
                    .unwrap_or(0)
            };
            [value(0), value(1), value(2)]
        })
        .unwrap_or_default();
    Ok(Comparison {
        rows,
        failure_windows,
    })
}

fn label_pairs(batch: &RecordBatch) -> anyhow::Result<Vec<(String, String, i64)>> {
    // Labels come as whichever string type the files and DataFusion chose.
    let (truth, predicted) = (
        cast(batch.column(0), &DataType::Utf8)?,
        cast(batch.column(1), &DataType::Utf8)?,
    );
    let (Some(truth), Some(predicted), Some(count)) = (
        truth.as_string_opt::<i32>(),
        predicted.as_string_opt::<i32>(),
        batch.column(2).as_primitive_opt::<Int64Type>(),
    ) else {
        return Err(anyhow!("unexpected comparison columns: {}", batch.schema()));
    };
    Ok((0..batch.num_rows())
        .filter(|&i| !truth.is_null(i) && !predicted.is_null(i))
        .map(|i| {
            (
                truth.value(i).to_string(),
                predicted.value(i).to_string(),
                count.value(i),
            )
        })
        .collect())
}

fn print_summary(
    simulate_seconds: f64,
    ingest: &RunManifest,
    predict: &RunManifest,
    comparison: &Comparison,
    output: &Path,
) {
    let stage =
        |name: &str, seconds: f64, what: String| println!("  {name:<9} {seconds:>6.1} s  {what}");
    println!();
    stage(
        "simulate",
        simulate_seconds,
        "plant physics -> Avro readings -> Kafka".into(),
    );
    let (read, scored) = (&ingest.counts, &predict.counts);
    let n = |count: Option<i64>| count.unwrap_or(0);
    stage(
        "ingest",
        ingest.seconds,
        format!(
            "{} messages read: {} readings in {} windows, {} quarantined, {} outside the day's range",
            n(read.messages_read),
            n(read.readings_windowed),
            n(read.windows),
            n(read.messages_quarantined),
            n(read.messages_out_of_range),
        ),
    );
    stage(
        "predict",
        predict.seconds,
        format!(
            "{} windows classified, {} with too few readings; fault episodes: {} closed, {} open at the day's end",
            n(scored.windows_scored),
            n(scored.windows_unscored),
            n(scored.episodes_closed),
            n(scored.episodes_open)
        ),
    );
    println!("\n  windows by class     true  predicted  precision  recall     F1");
    let truth = comparison.by(|r| &r.0);
    let predicted = comparison.by(|r| &r.1);
    let count = |counts: &[(&str, i64)], label: &str| {
        counts
            .iter()
            .find(|(l, _)| *l == label)
            .map_or(0, |(_, n)| *n)
    };
    let percent = |part: i64, whole: i64| {
        if whole == 0 {
            "-".to_string()
        } else {
            format!("{:.1} %", 100.0 * part as f64 / whole as f64)
        }
    };
    let mut f1s = Vec::new();
    for (label, n) in &truth {
        let p = count(&predicted, label);
        let hits = comparison.hits(label);
        let f1 = if n + p > 0 {
            2.0 * hits as f64 / (n + p) as f64
        } else {
            0.0
        };
        f1s.push(f1);
        println!(
            "  {label:<18} {n:>6} {p:>10} {:>10} {:>7} {f1:>6.3}",
            percent(hits, p),
            percent(hits, *n)
        );
    }
    let untrusted = count(&predicted, UNTRUSTED);
    if untrusted > 0 {
        println!("  {UNTRUSTED:<18} {:>6} {untrusted:>10}", "-");
    }
    let [failing, flagged, called_faults] = comparison.failure_windows;
    if failing > 0 {
        println!(
            "\n  failing sensors     {failing} windows: {} flagged as untrusted data or quarantined, {} called a PV fault",
            percent(flagged, failing),
            percent(called_faults, failing)
        );
    }
    let total = comparison.total();
    println!(
        "\n  against the simulator's ground truth: macro-F1 {:.3} over {} classes, accuracy {:.1} % ({} of {total} windows)",
        f1s.iter().sum::<f64>() / f1s.len().max(1) as f64,
        f1s.len(),
        100.0 * comparison.correct() as f64 / total.max(1) as f64,
        comparison.correct()
    );
    let out = output.display();
    println!("\n  silver: {out}/silver/   gold: {out}/gold/   ground truth: {out}/truth.parquet");
    println!("  run manifests: {out}/silver/_runs/, {out}/gold/_runs/");
    println!(
        "  query: PVFLOW_STORAGE_SILVER={out}/silver PVFLOW_STORAGE_GOLD={out}/gold \\\n         \
         pvflow sql \"SELECT fault_label, count(*) FROM gold GROUP BY 1\""
    );
}
