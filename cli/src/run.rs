//! `pvflow run`: one plan for one day, in-process or on a cluster, with its manifest.

use crate::{Failure, remote};
use anyhow::anyhow;
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use pvflow_api::{RunRequest, UpToDate};
use pvflow_runner::{DayFreshness, Plan, Progress, RunManifest, RunParams, RunState};
use pvflow_session::PvflowConfig;
use pvflow_session::signals;
use std::sync::OnceLock;
use std::time::Duration;

pub const AFTER_HELP: &str = "\
ingest reads the day's readings from Kafka (by their timestamps, through offsets-for-times),
cuts each device's readings into 64-reading windows on a fixed grid, computes each window's
scalogram and writes silver, partitioned by date=YYYY-MM-DD; malformed messages go to
silver/_quarantine/. predict classifies that day's silver windows with the model and writes
gold. Both write in parallel to a staging directory and, when complete, replace the day in one
entry of the dataset's Delta log (_delta_log/), on a local directory or on S3: re-running a day
replaces it, a failed run leaves the previous output as it was.
Each run writes a manifest, _runs/<run id>.json, under the dataset it wrote (and prints it
with --json): parameters, state, timings, Kafka offsets, rows in and out, files, and on a
cluster the Ballista job of each query.

SIGTERM or SIGINT stops a run cleanly: its cluster jobs are cancelled, its staging removed, the
previous output left as it was, the manifest written with state cancelled; the exit code is
143 (SIGTERM) or 130 (SIGINT).

Readings delivered late (stored behind newer ones, up to [kafka] lateness_ms) are read with
their day. Those that arrive after the day's run are picked up by running it again; with
--if-late, ingest runs only if the topic now holds readings of the day its last run did not
read (a scheduler can run it for recent days every hour at little cost).

Examples:
  pvflow run ingest --date 2026-06-01 --brokers 127.0.0.1:9092
  pvflow run ingest --date 2026-06-01 --if-late
  pvflow run predict --date 2026-06-01
  pvflow run ingest --date 2026-06-01 --scheduler df://scheduler:50050 --json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanArg {
    /// Kafka readings -> windows -> scalograms -> silver (plans/ingest.sql)
    Ingest,
    /// silver -> fault classification -> gold (plans/predict.sql)
    Predict,
}

impl From<PlanArg> for Plan {
    fn from(p: PlanArg) -> Plan {
        match p {
            PlanArg::Ingest => Plan::Ingest,
            PlanArg::Predict => Plan::Predict,
        }
    }
}

/// Where a run reads and writes; unset values come from the configuration.
#[derive(Debug, Clone, Default, Args)]
pub struct Locations {
    /// Kafka bootstrap servers, host:port[,host:port] (default: [kafka] brokers)
    #[arg(long, value_name = "HOSTS")]
    pub brokers: Option<String>,
    /// Readings topic (default: [kafka] topic)
    #[arg(long)]
    pub topic: Option<String>,
    /// Silver location: a directory or file:// URL (default: [storage] silver)
    #[arg(long, value_name = "DIR")]
    pub silver: Option<String>,
    /// Gold location: a directory or file:// URL (default: [storage] gold)
    #[arg(long, value_name = "DIR")]
    pub gold: Option<String>,
    /// ingest: read the readings from this Parquet file or directory (the Kafka table's reading
    /// columns, as `pvflow simulate --output-parquet` writes) instead of Kafka; for
    /// comparisons with systems that cannot read Kafka
    #[arg(long, value_name = "PATH", conflicts_with_all = ["brokers", "topic"])]
    pub readings_parquet: Option<String>,
}

/// Which plan, for which day, reading and writing where: what `pvflow run` runs and
/// `pvflow runs submit` asks the API to run.
#[derive(Debug, Args)]
pub struct PlanDay {
    /// The plan to run
    #[arg(value_enum)]
    pub plan: PlanArg,
    /// The day to process (UTC), YYYY-MM-DD
    #[arg(long, value_name = "DATE", value_parser = pvflow_runner::parse_date)]
    pub date: NaiveDate,
    #[command(flatten)]
    pub locations: Locations,
    /// ingest: run only if the topic holds readings of the day that the day's last ingest did
    /// not read (late arrivals), or the day was never ingested; otherwise say so and exit 0
    #[arg(long)]
    pub if_late: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub run: PlanDay,
    /// Run on a pvflow cluster (df://HOST:PORT of a pvflow-scheduler) instead of in this process
    #[arg(long, value_name = "URL")]
    pub scheduler: Option<String>,
    /// Print the run manifest as JSON on standard output instead of a summary
    #[arg(long)]
    pub json: bool,
}

impl PlanDay {
    /// The request for this run (unset locations come from the configuration of whoever
    /// validates it).
    pub fn request(&self) -> RunRequest {
        let locations = &self.locations;
        RunRequest {
            plan: Plan::from(self.plan).name().into(),
            date: self.date.to_string(),
            brokers: locations.brokers.clone(),
            topic: locations.topic.clone(),
            silver: locations.silver.clone(),
            gold: locations.gold.clone(),
            readings_parquet: locations.readings_parquet.clone(),
            if_late: self.if_late,
            notify_url: None,
        }
    }

    /// The run's parameters from flags over `config`; an invalid one is a usage error.
    pub fn params(&self, config: &PvflowConfig) -> Result<RunParams, Failure> {
        self.request()
            .validate(config)
            .map(|valid| valid.params)
            .map_err(Failure::usage)
    }
}

/// A spinner naming the running stage.
pub struct StageSpinner(ProgressBar);

impl StageSpinner {
    pub fn new() -> Self {
        let bar = ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        StageSpinner(bar)
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for StageSpinner {
    fn stage(&self, plan: Plan, stage: &str) {
        self.0.set_message(format!("{plan}: {stage}"));
    }
}

pub async fn run(config: &PvflowConfig, args: RunArgs) -> Result<(), Failure> {
    let params = args.run.params(config)?;
    let plan = args.run.plan.into();
    let ctx = match &args.scheduler {
        Some(url) => remote::connect(config, url).await?,
        None => pvflow_session::session_context(config).map_err(Failure::usage)?,
    };
    if args.run.if_late {
        let freshness = pvflow_runner::day_freshness(&ctx, &params)
            .await
            .map_err(Failure::query)?;
        match &freshness {
            DayFreshness::UpToDate { run_id } => {
                let day = UpToDate::new(Plan::Ingest, args.run.date.to_string(), run_id.clone());
                if args.json {
                    // Compact, as the catch-up CronJob greps it (k8s/base/catch-up.yaml).
                    let json = serde_json::to_string(&day).map_err(Failure::io)?;
                    println!("{json}");
                } else {
                    println!("{day}");
                }
                return Ok(());
            }
            DayFreshness::Unread { run_id, readings } => {
                tracing::info!(last_run_id = %run_id, readings, "readings of the day arrived since its last ingest; running it again");
            }
            DayFreshness::NotIngested => {
                tracing::info!("the day has no ingest from Kafka yet; running it");
            }
        }
    }
    let spinner = StageSpinner::new();
    let stopped_by = OnceLock::new();
    let shutdown = async {
        let signal = signals::stop().await;
        tracing::warn!(signal = signal.name(), "stopping the run");
        let _ = stopped_by.set(signal);
    };
    let run_id = pvflow_runner::new_run_id(plan, args.run.date);
    let manifest = pvflow_runner::run(&ctx, run_id, plan, &params, &spinner, shutdown).await;
    spinner.finish();
    if args.json {
        println!("{}", manifest.to_json());
    } else {
        print_summary(&manifest);
    }
    match (manifest.state, stopped_by.get()) {
        (RunState::Succeeded, _) => Ok(()),
        (RunState::Cancelled, Some(signal)) => Err(Failure {
            code: signal.exit_code(),
            error: anyhow!(
                "{} run {} stopped by {}: the previous output is unchanged",
                manifest.plan,
                manifest.run_id,
                signal.name()
            ),
        }),
        _ => Err(Failure::query(anyhow!(
            "{} run {} failed: {}",
            manifest.plan,
            manifest.run_id,
            manifest.error.as_deref().unwrap_or("no error recorded")
        ))),
    }
}

pub fn print_summary(m: &RunManifest) {
    println!(
        "{} {} {:?} in {:.1} s",
        m.plan, m.run_id, m.state, m.seconds
    );
    for stage in &m.stages {
        println!("  {:<36} {:>7.1} s", stage.stage, stage.seconds);
    }
    for (name, value) in m.counts.iter() {
        println!("  {name:<36} {value:>9}");
    }
    for output in &m.outputs {
        println!(
            "  {} -> {} ({} files, {} rows)",
            output.dataset,
            output
                .partitions
                .iter()
                .map(|p| format!("{}{}={p}", output.root, pvflow_runner::DATE_COLUMN))
                .collect::<Vec<_>>()
                .join(", "),
            output.files.len(),
            output.files.iter().map(|f| f.rows).sum::<i64>()
        );
    }
}
