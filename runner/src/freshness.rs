//! Whether a day's silver has every reading of the day that Kafka holds now: what
//! `pvflow run ingest --if-late` asks before running, so a scheduled re-run of recent days
//! costs a look at the topic unless readings arrived since.

use crate::ingest::{count_readings_in, past_ends, plan_slices};
use crate::params::{Readings, RunParams};
use crate::run::{InFlight, RunError};
use crate::staged::register_parquet_files;
use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::DataFusionError;
use datafusion::prelude::SessionContext;
use pvflow_dataset::{DeltaLog, open_root};
use std::collections::BTreeMap;

/// What the topic holds for a day, against its last ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayFreshness {
    /// No ingest of the day from Kafka is committed: it has never been read.
    NotIngested,
    /// The topic holds `readings` of the day past the offsets the last run, `run_id`, read.
    Unread { run_id: String, readings: i64 },
    /// The last run, `run_id`, read every reading of the day the topic holds.
    UpToDate { run_id: String },
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct FreshnessError(#[from] RunError);

/// Compares the offsets the day's committed ingest read (its manifest) with those the day
/// would read now, and counts the day's readings in between (reading only those offsets).
pub async fn day_freshness(
    ctx: &SessionContext,
    params: &RunParams,
) -> Result<DayFreshness, FreshnessError> {
    Ok(freshness(ctx, params).await?)
}

async fn freshness(ctx: &SessionContext, params: &RunParams) -> Result<DayFreshness, RunError> {
    let Readings::Kafka(kafka) = &params.readings else {
        return Err(RunError::Location(crate::ParamError {
            name: "readings_parquet",
            why: "whether readings arrived late is known of Kafka readings only".into(),
        }));
    };
    let Some(run_id) = committed_run(ctx, params).await? else {
        return Ok(DayFreshness::NotIngested);
    };
    let runtime = ctx.runtime_env();
    let read = crate::read_manifest(&runtime, &params.silver, &run_id)
        .await?
        .and_then(|manifest| manifest.kafka);
    let Some(read) = read else {
        // Ingested from Parquet, or its manifest is gone: nothing says what it read.
        return Ok(DayFreshness::NotIngested);
    };
    let ends: BTreeMap<i32, i64> = read
        .partitions
        .iter()
        .map(|p| (p.partition, p.end_offset))
        .collect();
    let unread = past_ends(&plan_slices(kafka, params.range()).await?, &ends);
    if unread.is_empty() {
        return Ok(DayFreshness::UpToDate { run_id });
    }
    let unread = count_readings_in(ctx, "unread_readings", kafka, unread, params, "freshness");
    let readings = InFlight::default().single_count(unread.await?).await?;
    Ok(if readings > 0 {
        DayFreshness::Unread { run_id, readings }
    } else {
        DayFreshness::UpToDate { run_id }
    })
}

/// The run whose silver is committed for the day, if any (silver's `run_id` column).
async fn committed_run(
    ctx: &SessionContext,
    params: &RunParams,
) -> Result<Option<String>, RunError> {
    let date = params.date.to_string();
    let (store, root) = open_root(&ctx.runtime_env(), params.silver.url())?;
    let snapshot = DeltaLog::new(store, root).snapshot().await?;
    let urls: Vec<String> = snapshot
        .files_in(&date)
        .map(|f| params.silver.join(&f.path))
        .collect();
    if urls.is_empty() {
        return Ok(None);
    }
    register_parquet_files(ctx, "committed_silver", urls).await?;
    let batches = ctx
        .sql("SELECT DISTINCT run_id FROM committed_silver")
        .await?
        .collect()
        .await?;
    let mut ids = Vec::new();
    for batch in &batches {
        // Parquet strings may come as views: one type to read them as.
        let column = cast(batch.column(0), &DataType::Utf8)
            .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))?;
        ids.extend(
            column
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::to_string),
        );
    }
    Ok(ids.into_iter().max())
}
