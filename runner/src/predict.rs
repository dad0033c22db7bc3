//! Predict: a day of silver, as its log lists it -> `pv_fault_classify` -> gold
//! (`plans/predict.sql`) -> the day's fault episodes ([`crate::fault_events`]), committed with
//! gold.

use crate::Plan;
use crate::params::{DatasetRoot, RunParams};
use crate::run::{InFlight, Result, RunError, Stages};
use crate::staged::{publish, register_parquet_files, write_staged};
use datafusion::prelude::SessionContext;
use pvflow_dataset::{DeltaLog, open_root};

/// The silver columns predict classifies: each window's four 64-slot series.
/// What predict reads of each silver window besides its keys.
const SILVER_COLUMNS: [&str; 5] = [
    "voltage_series",
    "current_series",
    "temperature_series",
    "irradiance_series",
    "quality_flags",
];

pub(crate) async fn predict(
    ctx: &SessionContext,
    params: &RunParams,
    stages: &mut Stages<'_>,
) -> Result<()> {
    let date = params.date.to_string();
    let stage = stages.start("read silver");
    let windows = register_day_of_silver(ctx, stages.in_flight, &params.silver, &date).await?;
    stages.counts().windows = Some(windows);
    stages.done(stage);

    let stage = stages.start("gold: fault classification");
    let gold = ctx
        .sql(Plan::Predict.sql())
        .await?
        .with_param_values(params.bind(stages.run_id()))?;
    let gold = write_staged(ctx, stages, gold, &params.gold, "gold", &date).await?;
    let counts = stages.counts();
    counts.windows_scored = Some(gold.rows());
    counts.windows_unscored = Some(windows - gold.rows());
    stages.done(stage);

    let stage = stages.start("fault episodes");
    let episodes = crate::fault_events::stage_episodes(ctx, params, stages, &gold).await?;
    stages.done(stage);

    let stage = stages.start("commit");
    let mut outputs = vec![gold];
    outputs.extend(episodes);
    stages.manifest.outputs = publish(ctx, outputs).await?;
    stages.done(stage);
    Ok(())
}

/// Registers the day's silver files, as silver's log lists them now, as `silver` (so the run
/// reads that version whatever is committed meanwhile) and counts their windows from the log's
/// file statistics. Silver written before it kept series (with a `scalogram` column instead) or
/// data-quality flags is refused: predict cannot classify it.
pub(crate) async fn register_day_of_silver(
    ctx: &SessionContext,
    in_flight: &InFlight,
    silver: &DatasetRoot,
    date: &str,
) -> Result<i64> {
    let (store, root) = open_root(&ctx.runtime_env(), silver.url())?;
    let snapshot = DeltaLog::new(store, root).snapshot().await?;
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
    let schema = ctx.table_provider("silver").await?.schema();
    let missing: Vec<&str> = SILVER_COLUMNS
        .into_iter()
        .filter(|c| schema.column_with_name(c).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(RunError::OldSilver {
            date: date.into(),
            root: silver.url().into(),
            found: if schema.column_with_name("scalogram").is_some() {
                "scalogram images (silver from pvflow before 2026-12)".into()
            } else if missing == ["quality_flags"] {
                "windows without data-quality flags (silver from pvflow before 2026-12-04)".into()
            } else {
                format!("no {}", missing.join(", "))
            },
        });
    }
    match files.iter().map(|f| f.rows).sum::<Option<i64>>() {
        Some(windows) => Ok(windows),
        // Another writer's files may come without statistics.
        None => {
            in_flight
                .single_count(ctx.sql("SELECT count(*) FROM silver").await?)
                .await
        }
    }
}
