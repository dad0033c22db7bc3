//! One plan run, start to manifest: the stages of [`crate::ingest`] or [`crate::predict`], what
//! a stopped run cleans up, and the manifest it leaves.

use crate::cluster::{self, ClusterScheduler};
use crate::manifest::{ClusterJob, RunCounts, RunManifest, RunState, StageTiming, write_manifest};
use crate::params::{ParamError, RunParams};
use crate::{Plan, Progress};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::common::DataFusionError;
use datafusion::dataframe::DataFrame;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use pvflow_dataset::{CommitError, LogError, StagedTarget, abort, open_root};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Why a run failed; the manifest's `error` is its text.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    #[error(transparent)]
    Query(#[from] DataFusionError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error(transparent)]
    Location(#[from] ParamError),
    #[error("cannot read the silver log: {0}")]
    SilverLog(#[from] LogError),
    #[error("no silver for {date} under {root}: run ingest for that date first")]
    NoSilver { date: String, root: String },
    #[error(
        "silver for {date} under {root} has no windows (the day had no readings): nothing to classify"
    )]
    EmptySilver { date: String, root: String },
    #[error(
        "silver for {date} under {root} holds {found}, not the windows' series this pvflow \
         classifies: re-run ingest for {date} (`pvflow run ingest --date {date}`), then predict"
    )]
    OldSilver {
        date: String,
        root: String,
        found: String,
    },
    #[error(
        "the scheduler no longer knows cluster job {job_id} (it restarted, or lost its state): \
         run the day again"
    )]
    LostJob { job_id: String },
    #[error("{dataset} rows of {found} in a run for {date}")]
    StrayPartition {
        dataset: &'static str,
        found: String,
        date: String,
    },
}

pub(crate) type Result<T> = std::result::Result<T, RunError>;

/// A new run's ID, `<plan>-<date>-<8 hex digits>`: unique, and readable in listings.
pub fn new_run_id(plan: Plan, date: NaiveDate) -> String {
    format!(
        "{plan}-{date}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Runs `plan` with `params` on `ctx` (embedded, or a Ballista cluster's client) as run `run_id`
/// (see [`new_run_id`]) and returns its manifest, whatever the outcome: `state` says whether it
/// succeeded and `error` why not. A run that fails, or is stopped by `shutdown` resolving first
/// (a signal, an API cancel), leaves the previous output as it was: its staging is removed and,
/// on a cluster whose session carries a [`ClusterScheduler`], its unfinished jobs are cancelled.
///
/// The run registers the tables its plans read in `ctx` (`readings`, `silver`), replacing any
/// of those names. Give each run a session of its own, or expect that.
pub async fn run(
    ctx: &SessionContext,
    run_id: String,
    plan: Plan,
    params: &RunParams,
    progress: &dyn Progress,
    shutdown: impl Future<Output = ()>,
) -> RunManifest {
    let started = Instant::now();
    let mut manifest = new_manifest(run_id, plan, params);
    tracing::info!(run = %manifest.run_id, plan = %plan, date = %params.date, "run started");
    let in_flight = InFlight::default();
    let outcome = {
        let mut stages = Stages {
            plan,
            progress,
            manifest: &mut manifest,
            in_flight: &in_flight,
        };
        let work = async {
            match plan {
                Plan::Ingest => crate::ingest::ingest(ctx, params, &mut stages).await,
                Plan::Predict => crate::predict::predict(ctx, params, &mut stages).await,
            }
        };
        let lost = async {
            match ctx.state().config().get_extension::<ClusterScheduler>() {
                Some(scheduler) => {
                    cluster::lost_job(&scheduler, || in_flight.unfinished_jobs()).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            outcome = work => Some(outcome),
            job_id = lost => Some(Err(RunError::LostJob { job_id })),
            () = shutdown => None,
        }
    };
    // The plan's future is dropped by now: in-process tasks stop with it, cluster jobs are
    // cancelled before the staging goes, so that their tasks stop writing into it.
    manifest.cluster_jobs = in_flight.cluster_jobs();
    cancel_unfinished_jobs(ctx, &manifest.cluster_jobs).await;
    in_flight.abort_staging(ctx).await;
    manifest.seconds = started.elapsed().as_secs_f64();
    manifest.finished_at = Some(Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true));
    match outcome {
        Some(Ok(())) => manifest.state = RunState::Succeeded,
        Some(Err(e)) => {
            tracing::error!(run = %manifest.run_id, error = %e, "run failed");
            manifest.state = RunState::Failed;
            manifest.error = Some(e.to_string());
        }
        None => {
            tracing::warn!(run = %manifest.run_id, "run stopped");
            manifest.state = RunState::Cancelled;
            manifest.error = Some("stopped before it finished".into());
        }
    }
    let home = match plan {
        Plan::Ingest => &params.silver,
        Plan::Predict => &params.gold,
    };
    write_manifest(&ctx.runtime_env(), home, &manifest).await;
    tracing::info!(run = %manifest.run_id, state = ?manifest.state, seconds = manifest.seconds, "run finished");
    manifest
}

/// The manifest of a run that has just started.
fn new_manifest(run_id: String, plan: Plan, params: &RunParams) -> RunManifest {
    let range = params.range();
    RunManifest {
        run_id,
        plan: plan.name().into(),
        parameters: BTreeMap::from([
            ("date".into(), params.date.to_string()),
            ("range_start".into(), timestamp(range.start)),
            ("range_end".into(), timestamp(range.end)),
            ("readings".into(), params.readings.to_string()),
            ("silver".into(), params.silver.url().into()),
            ("gold".into(), params.gold.url().into()),
        ]),
        state: RunState::Running,
        started_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        finished_at: None,
        seconds: 0.0,
        stages: Vec::new(),
        kafka: None,
        counts: RunCounts::default(),
        outputs: Vec::new(),
        cluster_jobs: Vec::new(),
        error: None,
    }
}

async fn cancel_unfinished_jobs(ctx: &SessionContext, jobs: &[ClusterJob]) {
    let unfinished: Vec<&str> = jobs
        .iter()
        .filter(|j| !j.finished)
        .map(|j| j.job_id.as_str())
        .collect();
    if unfinished.is_empty() {
        return;
    }
    match ctx.state().config().get_extension::<ClusterScheduler>() {
        Some(scheduler) => cluster::cancel(&scheduler, &unfinished).await,
        None => tracing::warn!(jobs = ?unfinished, "no scheduler known to cancel the jobs"),
    }
}

/// A run's stages as they go: each is reported to the run's progress as it starts and timed
/// into the manifest when it is done. The stages fill in the manifest's counts and outputs.
pub(crate) struct Stages<'a> {
    plan: Plan,
    progress: &'a dyn Progress,
    pub(crate) manifest: &'a mut RunManifest,
    pub(crate) in_flight: &'a InFlight,
}

impl Stages<'_> {
    pub(crate) fn start(&mut self, stage: &str) -> (String, Instant) {
        self.progress.stage(self.plan, stage);
        (stage.to_string(), Instant::now())
    }

    pub(crate) fn done(&mut self, (stage, started): (String, Instant)) {
        self.manifest.stages.push(StageTiming {
            stage,
            seconds: started.elapsed().as_secs_f64(),
        });
    }

    pub(crate) fn run_id(&self) -> &str {
        &self.manifest.run_id
    }

    pub(crate) fn counts(&mut self) -> &mut RunCounts {
        &mut self.manifest.counts
    }
}

/// What a run has under way, kept outside the plan's future so that a stopped run can still
/// cancel its cluster jobs and remove its staging once that future is dropped.
#[derive(Default)]
pub(crate) struct InFlight {
    /// Every query executed, and whether it ended.
    queries: Mutex<Vec<(Arc<dyn ExecutionPlan>, bool)>>,
    /// Every staged write begun; its staging directory goes when the run ends, whatever the
    /// outcome (a commit has already emptied it).
    targets: Mutex<Vec<StagedTarget>>,
}

impl InFlight {
    /// Executes `df` as `DataFrame::collect` does, keeping its physical plan: a cluster query's
    /// plan holds its job ID.
    pub(crate) async fn collect(&self, df: DataFrame) -> Result<Vec<RecordBatch>> {
        let task_ctx = Arc::new(df.task_ctx());
        let physical = df.create_physical_plan().await?;
        let index = {
            let mut queries = self.queries.lock().unwrap_or_else(PoisonError::into_inner);
            queries.push((Arc::clone(&physical), false));
            queries.len() - 1
        };
        tracing::debug!(plan = physical.name(), "executing");
        let batches = datafusion::physical_plan::collect(Arc::clone(&physical), task_ctx).await;
        tracing::debug!(plan = physical.name(), job = ?cluster::job_id(&physical), "executed");
        self.queries.lock().unwrap_or_else(PoisonError::into_inner)[index].1 = true;
        Ok(batches?)
    }

    /// The one value of a `SELECT count(*)` or `sum(...)` over `df` (0 for no rows).
    pub(crate) async fn single_count(&self, df: DataFrame) -> Result<i64> {
        Ok(single_count(&self.collect(df).await?))
    }

    pub(crate) fn stage(&self, target: &StagedTarget) {
        self.targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(target.clone());
    }

    /// The IDs of the cluster jobs still running for the run.
    fn unfinished_jobs(&self) -> Vec<String> {
        self.cluster_jobs()
            .into_iter()
            .filter(|job| !job.finished)
            .map(|job| job.job_id)
            .collect()
    }

    fn cluster_jobs(&self) -> Vec<ClusterJob> {
        let queries = self.queries.lock().unwrap_or_else(PoisonError::into_inner);
        queries
            .iter()
            .filter_map(|(plan, finished)| {
                cluster::job_id(plan).map(|job_id| ClusterJob {
                    job_id,
                    finished: *finished,
                })
            })
            .collect()
    }

    async fn abort_staging(&self, ctx: &SessionContext) {
        let targets = self
            .targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for target in targets {
            let aborted = match open_root(&ctx.runtime_env(), &target.root) {
                Ok((store, _)) => abort(&store, &target).await.map_err(RunError::from),
                Err(e) => Err(e.into()),
            };
            if let Err(e) = aborted {
                tracing::warn!(root = %target.root, error = %e, "could not remove the run's staging files");
            }
        }
    }
}

/// The one value of a `SELECT count(*)` (0 for no rows or a NULL).
fn single_count(batches: &[RecordBatch]) -> i64 {
    batches
        .first()
        .filter(|b| b.num_rows() == 1)
        .and_then(|b| {
            b.column(0)
                .as_primitive_opt::<Int64Type>()
                .map(|a| a.value(0))
        })
        .unwrap_or(0)
}

/// RFC 3339 of epoch milliseconds, empty for an open bound.
pub(crate) fn timestamp(ms: Option<i64>) -> String {
    ms.and_then(DateTime::<Utc>::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}
