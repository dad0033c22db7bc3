//! One plan run, start to commit.

use crate::cluster::{self, ClusterScheduler};
use crate::manifest::{
    ClusterJob, KafkaConsumed, Output, PartitionOffsets, RunManifest, RunState, StageTiming,
};
use crate::params::{DatasetRoot, Readings, RunParams};
use crate::{Plan, Progress};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{DataFusionError, ParamValues, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::file_format::options::ReadOptions;
use datafusion::datasource::listing::{ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{ParquetReadOptions, SessionContext, col};
use object_store::ObjectStoreExt;
use pvflow_kafka::{KafkaSlice, KafkaTable, KafkaTableConfig, TimeRange};
use pvflow_dataset::{
    CommitError, DeltaLog, LogError, StagedTarget, StagedWrite, WrittenFile, abort, commit,
    open_root, path_under, written_files,
};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Rows per batch in plan runs: a batch of scalograms is 16 MiB, under glibc's largest mmap
/// threshold (32 MiB), so freed batches are reused from the heap rather than mapped, faulted in
/// and zeroed anew each time (at 512 rows predict took 15 % longer, mostly in the kernel).
const WINDOW_BATCH_ROWS: &str = "256";

/// The column both plans partition their output by.
const PARTITION_COLUMN: &str = "date";

#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(transparent)]
    Query(#[from] DataFusionError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("cannot read the silver log: {0}")]
    SilverLog(#[from] LogError),
    #[error("no silver for {date} under {root}: run ingest for that date first")]
    NoSilver { date: String, root: String },
    #[error(
        "silver for {date} under {root} has no windows (the day had no readings): nothing to classify"
    )]
    EmptySilver { date: String, root: String },
}

type Result<T> = std::result::Result<T, RunError>;

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
pub async fn run(
    ctx: &SessionContext,
    run_id: String,
    plan: Plan,
    params: &RunParams,
    progress: &dyn Progress,
    shutdown: impl Future<Output = ()>,
) -> RunManifest {
    let started = Instant::now();
    let range = params.range();
    let mut manifest = RunManifest {
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
        counts: BTreeMap::new(),
        outputs: Vec::new(),
        cluster_jobs: Vec::new(),
        error: None,
    };
    // A window row is wide (a 4x64x64 scalogram is 64 KiB): DataFusion's default 8192-row
    // batches would be half a gigabyte each.
    if let Err(e) = ctx
        .state_ref()
        .write()
        .config_mut()
        .options_mut()
        .set("datafusion.execution.batch_size", WINDOW_BATCH_ROWS)
    {
        tracing::warn!(error = %e, "could not set the batch size for wide rows");
    }
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
                Plan::Ingest => ingest(ctx, params, &mut stages).await,
                Plan::Predict => predict(ctx, params, &mut stages).await,
            }
        };
        tokio::select! {
            outcome = work => Some(outcome),
            () = shutdown => None,
        }
    };
    // The plan's future is dropped by now: in-process tasks stop with it, cluster jobs are
    // cancelled before the staging goes, so that their tasks stop writing into it.
    manifest.cluster_jobs = in_flight.cluster_jobs();
    let unfinished: Vec<&str> = manifest
        .cluster_jobs
        .iter()
        .filter(|j| !j.finished)
        .map(|j| j.job_id.as_str())
        .collect();
    if !unfinished.is_empty() {
        match ctx.state().config().get_extension::<ClusterScheduler>() {
            Some(scheduler) => cluster::cancel(&scheduler, &unfinished).await,
            None => tracing::warn!(jobs = ?unfinished, "no scheduler known to cancel the jobs"),
        }
    }
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
    write_manifest(ctx, home, &manifest).await;
    tracing::info!(run = %manifest.run_id, state = ?manifest.state, seconds = manifest.seconds, "run finished");
    manifest
}

/// Times stages and reports them as they start.
struct Stages<'a> {
    plan: Plan,
    progress: &'a dyn Progress,
    manifest: &'a mut RunManifest,
    in_flight: &'a InFlight,
}

/// What a run has under way, kept outside the plan's future so that a stopped run can still
/// cancel its cluster jobs and remove its staging once that future is dropped.
#[derive(Default)]
struct InFlight {
    /// Every query executed, and whether it ended.
    queries: Mutex<Vec<(Arc<dyn ExecutionPlan>, bool)>>,
    /// Every staged write begun; its staging directory goes when the run ends, whatever the
    /// outcome (a commit has already emptied it).
    targets: Mutex<Vec<StagedTarget>>,
}

impl InFlight {
    /// Executes `df` as `DataFrame::collect` does, keeping its physical plan: a cluster query's
    /// plan holds its job ID.
    async fn collect(&self, df: DataFrame) -> Result<Vec<RecordBatch>> {
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

    fn stage(&self, target: &StagedTarget) {
        self.targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(target.clone());
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

impl Stages<'_> {
    fn start(&mut self, stage: &str) -> (String, Instant) {
        self.progress.stage(self.plan, stage);
        (stage.to_string(), Instant::now())
    }

    fn done(&mut self, (stage, started): (String, Instant)) {
        self.manifest.stages.push(StageTiming {
            stage,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
}

async fn ingest(ctx: &SessionContext, params: &RunParams, stages: &mut Stages<'_>) -> Result<()> {
    let range = params.range();
    let date = params.date.to_string();
    let bound = bind(params, &stages.manifest.run_id, range);

    match &params.readings {
        Readings::Kafka(kafka) => {
            let stage = stages.start("plan Kafka offsets");
            let slices = KafkaTable::new(kafka.clone())
                .plan(range, None)
                .await?
                .planned_slices()
                .ok_or_else(|| {
                    DataFusionError::Internal("a new Kafka scan has no planned slices".into())
                })?;
            let consumed = kafka_consumed(kafka, range, &slices);
            stages
                .manifest
                .counts
                .insert("messages_read".into(), consumed.messages);
            stages.manifest.kafka = Some(consumed);
            // Both scans read exactly the offsets the manifest records: every message read is
            // then a windowed reading or quarantined, whatever the brokers answer later.
            let readings = KafkaTable::pinned(kafka.clone(), slices.clone());
            replace_table(ctx, "readings", Arc::new(readings))?;
            let mut quarantine = kafka.clone();
            quarantine.quarantine = true;
            replace_table(
                ctx,
                "readings_quarantine",
                Arc::new(KafkaTable::pinned(quarantine, slices)),
            )?;
            stages.done(stage);
        }
        Readings::Parquet(location) => {
            let stage = stages.start("count Parquet readings");
            ctx.deregister_table("readings")?;
            ctx.register_parquet("readings", location, ParquetReadOptions::default())
                .await?;
            let read = ctx
                .sql("SELECT count(*) FROM readings WHERE ts >= $start AND ts < $end")
                .await?
                .with_param_values(bound.clone())?;
            let read = stages.in_flight.collect(read).await?;
            stages
                .manifest
                .counts
                .insert("readings_read".into(), single_count(&read));
            stages.done(stage);
        }
    }

    let stage = stages.start("silver: windows and scalograms");
    let silver = ctx
        .sql(Plan::Ingest.sql())
        .await?
        .with_param_values(bound.clone())?;
    let silver = write_staged(ctx, stages, silver, &params.silver, "silver", &date).await?;
    // From the tasks' file reports: reading the images back to count them costs as much as
    // writing them.
    let windows: i64 = silver.output.files.iter().map(|f| f.rows).sum();
    let without_image: i64 = silver
        .output
        .files
        .iter()
        .filter_map(|f| f.null_counts.get("scalogram"))
        .sum();
    let counted = &mut stages.manifest.counts;
    counted.insert("windows".into(), windows);
    counted.insert("windows_imaged".into(), windows - without_image);
    stages.done(stage);
    let mut staged = vec![silver];

    if matches!(params.readings, Readings::Kafka(_)) {
        let stage = stages.start("quarantine: malformed messages");
        let quarantined = ctx
            .sql(
                "SELECT *, CAST($date AS DATE) AS date FROM readings_quarantine \
                 WHERE _kafka_timestamp >= $start AND _kafka_timestamp < $end",
            )
            .await?
            .with_param_values(bound)?;
        let quarantine_root = DatasetRoot::parse("silver", &params.silver.join("_quarantine/"))
            .map_err(|e| DataFusionError::Plan(e.to_string()))?;
        let quarantine = write_staged(
            ctx,
            stages,
            quarantined,
            &quarantine_root,
            "quarantine",
            &date,
        )
        .await?;
        let messages_quarantined = quarantine.output.files.iter().map(|f| f.rows).sum();
        stages
            .manifest
            .counts
            .insert("messages_quarantined".into(), messages_quarantined);
        staged.push(quarantine);
        stages.done(stage);
    }

    let stage = stages.start("count silver readings");
    let windowed = staged_readings(
        ctx,
        stages.in_flight,
        &params.silver,
        &staged[0].output.files,
    )
    .await?;
    let counted = &mut stages.manifest.counts;
    counted.insert("readings_windowed".into(), windowed);
    if let (Some(read), Some(quarantined)) = (
        counted.get("messages_read"),
        counted.get("messages_quarantined"),
    ) {
        // Messages in the range by their Kafka timestamp whose reading time is outside it.
        let out_of_range = read - windowed - quarantined;
        counted.insert("messages_out_of_range".into(), out_of_range);
    }
    stages.done(stage);

    // Silver and its quarantine are published together, once both are complete.
    let stage = stages.start("commit");
    stages.manifest.outputs = publish(ctx, staged).await?;
    stages.done(stage);
    Ok(())
}

/// The one value of a `SELECT count(*)`.
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

async fn predict(ctx: &SessionContext, params: &RunParams, stages: &mut Stages<'_>) -> Result<()> {
    let date = params.date.to_string();
    let stage = stages.start("read silver");
    let windows = day_windows(ctx, stages.in_flight, &params.silver, &date).await?;
    stages.manifest.counts.insert("windows".into(), windows);
    stages.done(stage);

    let stage = stages.start("gold: fault classification");
    let bound = bind(params, &stages.manifest.run_id, params.range());
    let gold = ctx
        .sql(Plan::Predict.sql())
        .await?
        .with_param_values(bound)?;
    let gold = write_staged(ctx, stages, gold, &params.gold, "gold", &date).await?;
    let scored = gold.output.files.iter().map(|f| f.rows).sum();
    stages
        .manifest
        .counts
        .insert("windows_scored".into(), scored);
    stages.done(stage);

    let stage = stages.start("commit");
    stages.manifest.outputs = publish(ctx, vec![gold]).await?;
    stages.done(stage);
    Ok(())
}

/// Registers the day's silver files, as silver's log lists them, as `silver` and counts their
/// windows (from the log's file statistics: the images are not read).
async fn day_windows(
    ctx: &SessionContext,
    in_flight: &InFlight,
    silver: &DatasetRoot,
    date: &str,
) -> Result<i64> {
    let (store, root) = open_root(&ctx.runtime_env(), silver.url())?;
    let log = DeltaLog::new(store, root);
    let snapshot = log.snapshot().await?;
    if !snapshot.has_partition(date) {
        return Err(RunError::NoSilver {
            date: date.into(),
            root: silver.url().into(),
        });
    }
    let files: Vec<_> = snapshot.files_in(date).collect();
    if files.is_empty() {
        return Err(RunError::EmptySilver {
            date: date.into(),
            root: silver.url().into(),
        });
    }
    let urls = files.iter().map(|f| silver.join(&f.path)).collect();
    register_parquet_files(ctx, "silver", urls).await?;
    match files.iter().map(|f| f.rows).sum::<Option<i64>>() {
        Some(windows) => Ok(windows),
        // Another writer's files may come without statistics.
        None => {
            let counted = in_flight
                .collect(ctx.sql("SELECT count(*) FROM silver").await?)
                .await?;
            Ok(single_count(&counted))
        }
    }
}

/// Registers (or replaces) table `name` as exactly the Parquet files `urls`, as a log lists a
/// dataset's files: unlike a directory, no file beside them is read.
pub async fn register_parquet_files(
    ctx: &SessionContext,
    name: &str,
    urls: Vec<String>,
) -> std::result::Result<(), DataFusionError> {
    let urls = urls
        .iter()
        .map(ListingTableUrl::parse)
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let options = ParquetReadOptions::default()
        .to_listing_options(&ctx.copied_config(), ctx.copied_table_options());
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .infer_schema(&ctx.state())
        .await?;
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// The readings that staged silver `files` hold (their small `readings` column only).
async fn staged_readings(
    ctx: &SessionContext,
    in_flight: &InFlight,
    silver: &DatasetRoot,
    files: &[WrittenFile],
) -> Result<i64> {
    let files: Vec<String> = files.iter().map(|f| silver.join(&f.path)).collect();
    if files.is_empty() {
        return Ok(0);
    }
    let total = ctx
        .read_parquet(files, ParquetReadOptions::default())
        .await?
        .aggregate(vec![], vec![sum(col("readings"))])?;
    Ok(single_count(&in_flight.collect(total).await?))
}

/// The plans' parameters, typed: `$start`/`$end` timestamps (UTC, ms), `$date`, `$run_id`.
fn bind(params: &RunParams, run_id: &str, range: TimeRange) -> ParamValues {
    let utc = Some(Arc::from("UTC"));
    let days = (params.date - chrono::NaiveDate::default()).num_days() as i32;
    ParamValues::from(HashMap::from([
        (
            "start".to_string(),
            ScalarValue::TimestampMillisecond(range.start, utc.clone()),
        ),
        (
            "end".to_string(),
            ScalarValue::TimestampMillisecond(range.end, utc),
        ),
        ("date".to_string(), ScalarValue::Date32(Some(days))),
        (
            "run_id".to_string(),
            ScalarValue::Utf8(Some(run_id.to_string())),
        ),
    ]))
}

fn replace_table(
    ctx: &SessionContext,
    name: &str,
    table: Arc<dyn datafusion::catalog::TableProvider>,
) -> Result<()> {
    ctx.deregister_table(name)?;
    ctx.register_table(name, table)?;
    Ok(())
}

/// A dataset's output, written to staging and not yet visible.
struct Staged {
    target: StagedTarget,
    /// The output's columns, partition column included: what the dataset's log records.
    schema: SchemaRef,
    /// The files at their staging paths.
    output: Output,
}

/// Writes `df` to staging under `root` in parallel. The staging directory goes when the run
/// ends ([`InFlight::abort_staging`]); [`publish`] makes the files visible before that.
async fn write_staged(
    ctx: &SessionContext,
    stages: &Stages<'_>,
    df: DataFrame,
    root: &DatasetRoot,
    dataset: &str,
    date: &str,
) -> Result<Staged> {
    let target = StagedTarget {
        root: root.url().into(),
        run_id: stages.manifest.run_id.clone(),
        partition_column: PARTITION_COLUMN.into(),
    };
    stages.in_flight.stage(&target);
    let schema = Arc::clone(df.schema().inner());
    let plan = StagedWrite::plan(df.into_unoptimized_plan(), target.clone())?;
    let batches = stages
        .in_flight
        .collect(ctx.execute_logical_plan(plan).await?)
        .await?;
    let files = written_files(&batches)?;
    if let Some(stray) = files.iter().find(|f| f.partition != date) {
        return Err(RunError::Query(DataFusionError::Execution(format!(
            "{dataset} rows of {} in a run for {date}",
            stray.partition
        ))));
    }
    Ok(Staged {
        target,
        schema,
        output: Output {
            dataset: dataset.into(),
            root: root.url().into(),
            partitions: vec![date.to_string()],
            files,
        },
    })
}

/// Commits each staged dataset's day, in order, and returns the outputs at their final paths.
/// Each dataset's commit is one log entry; between two datasets' entries lie only their moves.
async fn publish(ctx: &SessionContext, staged: Vec<Staged>) -> Result<Vec<Output>> {
    let mut outputs = Vec::with_capacity(staged.len());
    for s in staged {
        let (store, _) = open_root(&ctx.runtime_env(), &s.target.root)?;
        let files = commit(
            &store,
            &s.target,
            &s.schema,
            &s.output.files,
            &s.output.partitions,
        )
        .await?;
        outputs.push(Output { files, ..s.output });
    }
    Ok(outputs)
}

fn kafka_consumed(
    kafka: &KafkaTableConfig,
    range: TimeRange,
    slices: &[KafkaSlice],
) -> KafkaConsumed {
    let mut partitions: BTreeMap<i32, PartitionOffsets> = BTreeMap::new();
    for slice in slices {
        let p = partitions
            .entry(slice.partition)
            .or_insert(PartitionOffsets {
                partition: slice.partition,
                start_offset: slice.start,
                end_offset: slice.end,
                messages: 0,
            });
        p.start_offset = p.start_offset.min(slice.start);
        p.end_offset = p.end_offset.max(slice.end);
        p.messages += slice.end - slice.start;
    }
    let partitions: Vec<_> = partitions.into_values().collect();
    KafkaConsumed {
        brokers: kafka.brokers.clone(),
        topic: kafka.topic.clone(),
        range_start: timestamp(range.start),
        range_end: timestamp(range.end),
        messages: partitions.iter().map(|p| p.messages).sum(),
        partitions,
    }
}

fn timestamp(ms: Option<i64>) -> String {
    ms.and_then(DateTime::<Utc>::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Where run `run_id`'s manifest is, relative to the dataset root it wrote.
fn manifest_location(run_id: &str) -> String {
    format!("_runs/{run_id}.json")
}

/// The manifest run `run_id` wrote under `root` when it ended, if there is one.
pub async fn read_manifest(
    ctx: &SessionContext,
    root: &DatasetRoot,
    run_id: &str,
) -> std::result::Result<Option<RunManifest>, DataFusionError> {
    let (store, dataset) = open_root(&ctx.runtime_env(), root.url())?;
    let location = path_under(&dataset, &manifest_location(run_id));
    let bytes = match store.get(&location).await {
        Ok(found) => found.bytes().await,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => Err(e),
    }
    .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        DataFusionError::Execution(format!("run manifest {location} is not readable: {e}"))
    })
}

/// Writes `_runs/<run_id>.json` under the dataset root; on failure the manifest is only logged.
async fn write_manifest(ctx: &SessionContext, root: &DatasetRoot, manifest: &RunManifest) {
    let location = manifest_location(&manifest.run_id);
    let written = async {
        let (store, dataset) = open_root(&ctx.runtime_env(), root.url())?;
        store
            .put(&path_under(&dataset, &location), manifest.to_json().into())
            .await
            .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
        Ok::<_, DataFusionError>(())
    };
    if let Err(e) = written.await {
        tracing::warn!(root = %root.url(), manifest = %location, error = %e, "could not write the run manifest");
    }
}
