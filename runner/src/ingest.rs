//! Ingest: a day of readings -> silver's windows (`plans/ingest.sql`), and the day's malformed
//! messages -> silver's quarantine, kept by the same Kafka scan as it reads the readings; both
//! are published together.

use crate::Plan;
use crate::manifest::{KafkaConsumed, PartitionOffsets};
use crate::params::{DatasetRoot, Readings, RunParams};
use crate::run::{Result, Stages, timestamp};
use crate::staged::{Staged, publish, replace_table, side_output, staging_target, write_staged};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DataFusionError, ParamValues};
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionConfig, SessionContext, col};
use pvflow_dataset::StagedTarget;
use pvflow_dataset::layout::{self, DATE_COLUMN};
use pvflow_kafka::{KafkaSlice, KafkaTable, KafkaTableConfig, TimeRange, quarantine_schema};
use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) async fn ingest(
    ctx: &SessionContext,
    params: &RunParams,
    stages: &mut Stages<'_>,
) -> Result<()> {
    let bound = params.bind(stages.run_id());
    let quarantine = match &params.readings {
        Readings::Kafka(kafka) => Some(pin_kafka_offsets(ctx, kafka, params, stages).await?),
        Readings::Parquet(location) => {
            count_parquet_readings(ctx, location, &bound, stages).await?;
            None
        }
    };
    let silver = write_silver(ctx, params, &bound, stages).await?;
    let quarantine = match quarantine {
        Some(target) => Some(staged_quarantine(ctx, params, target, stages).await?),
        None => None,
    };
    count_windowed_readings(ctx, &params.silver, &silver, stages).await?;

    // Silver and its quarantine are published together, once both are complete.
    let stage = stages.start("commit");
    stages.manifest.outputs = publish(
        ctx,
        [Some(silver), quarantine].into_iter().flatten().collect(),
    )
    .await?;
    stages.done(stage);
    Ok(())
}

/// Finds the day's offsets once and registers `readings` as exactly those, with the scan's
/// malformed messages going to the quarantine's staging: every message read is then a windowed
/// reading or quarantined, whatever the brokers answer later, and the manifest records what was
/// read. Returns where the quarantine is staged.
async fn pin_kafka_offsets(
    ctx: &SessionContext,
    kafka: &KafkaTableConfig,
    params: &RunParams,
    stages: &mut Stages<'_>,
) -> Result<StagedTarget> {
    let stage = stages.start("plan Kafka offsets");
    let range = params.range();
    let slices = plan_slices(kafka, range).await?;
    // Where the day ends by offsets, were every reading stored in time order (the slices up to
    // the range's end): what the scan reads past it is there for late readings.
    let before_end = TimeRange {
        start: None,
        end: range.end,
    };
    let on_time = plan_slices(
        &KafkaTableConfig {
            lateness_ms: 0,
            ..kafka.clone()
        },
        before_end,
    )
    .await?;
    let consumed = kafka_consumed(kafka, range, &slices);
    stages.counts().messages_read = Some(consumed.messages);
    stages.manifest.kafka = Some(consumed);
    stages.done(stage);

    let stage = stages.start("count late readings");
    let late = past_ends(&slices, &ends_of(&on_time));
    stages.counts().readings_late = Some(if late.is_empty() {
        0
    } else {
        let late = count_readings_in(ctx, "late_readings", kafka, late, params, stages.run_id());
        stages.in_flight.single_count(late.await?).await?
    });
    stages.done(stage);

    let root = DatasetRoot::parse("silver", &layout::quarantine_root(params.silver.url()))?;
    let target = staging_target(stages, &root);
    let mut readings = kafka.clone();
    readings.quarantine_output =
        Some(root.join(&target.staging_partition_dir(&params.date.to_string())));
    replace_table(
        ctx,
        "readings",
        Arc::new(KafkaTable::pinned(readings, slices)),
    )?;
    Ok(target)
}

pub(crate) async fn plan_slices(
    kafka: &KafkaTableConfig,
    range: TimeRange,
) -> Result<Vec<KafkaSlice>> {
    let scan = KafkaTable::new(kafka.clone()).plan(range, None).await?;
    Ok(scan.planned_slices().ok_or_else(|| {
        DataFusionError::Internal("a new Kafka scan has no planned slices".into())
    })?)
}

/// A count of the range's readings in `slices` alone: a scan pinned to just those offsets,
/// registered as `table`.
pub(crate) async fn count_readings_in(
    ctx: &SessionContext,
    table: &str,
    kafka: &KafkaTableConfig,
    slices: Vec<KafkaSlice>,
    params: &RunParams,
    run_id: &str,
) -> Result<DataFrame> {
    replace_table(
        ctx,
        table,
        Arc::new(KafkaTable::pinned(kafka.clone(), slices)),
    )?;
    let count = format!("SELECT count(*) FROM {table} WHERE ts >= $start AND ts < $end");
    Ok(ctx
        .sql(&count)
        .await?
        .with_param_values(params.bind(run_id))?)
}

/// Where each partition's `slices` end.
fn ends_of(slices: &[KafkaSlice]) -> BTreeMap<i32, i64> {
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    for s in slices {
        let end = ends.entry(s.partition).or_insert(s.end);
        *end = (*end).max(s.end);
    }
    ends
}

/// The parts of `slices` at or past each partition's offset in `ends` (all of a partition
/// without one).
pub(crate) fn past_ends(slices: &[KafkaSlice], ends: &BTreeMap<i32, i64>) -> Vec<KafkaSlice> {
    slices
        .iter()
        .filter_map(|s| {
            let start = s
                .start
                .max(ends.get(&s.partition).copied().unwrap_or(s.start));
            (start < s.end).then_some(KafkaSlice { start, ..*s })
        })
        .collect()
}

/// Registers the Parquet readings at `location` as `readings` and counts those in the range.
async fn count_parquet_readings(
    ctx: &SessionContext,
    location: &str,
    bound: &ParamValues,
    stages: &mut Stages<'_>,
) -> Result<()> {
    let stage = stages.start("count Parquet readings");
    ctx.deregister_table("readings")?;
    ctx.register_parquet("readings", location, ParquetReadOptions::default())
        .await?;
    let read = ctx
        .sql("SELECT count(*) FROM readings WHERE ts >= $start AND ts < $end")
        .await?
        .with_param_values(bound.clone())?;
    stages.counts().readings_read = Some(stages.in_flight.single_count(read).await?);
    stages.done(stage);
    Ok(())
}

/// Windows the day's readings into silver's staging and counts its windows from the tasks' file
/// reports.
async fn write_silver(
    ctx: &SessionContext,
    params: &RunParams,
    bound: &ParamValues,
    stages: &mut Stages<'_>,
) -> Result<Staged> {
    let stage = stages.start("silver: windows");
    let silver = ctx
        .sql(Plan::Ingest.sql())
        .await?
        .with_param_values(bound.clone())?;
    let date = params.date.to_string();
    let silver = write_staged(ctx, stages, silver, &params.silver, "silver", &date).await?;
    stages.counts().windows = Some(silver.rows());
    stages.done(stage);
    Ok(silver)
}

/// The quarantine the readings scan staged as it read: its files, rows and NULLs from their
/// footers.
async fn staged_quarantine(
    ctx: &SessionContext,
    params: &RunParams,
    target: StagedTarget,
    stages: &mut Stages<'_>,
) -> Result<Staged> {
    let stage = stages.start("quarantine: malformed messages");
    let mut fields = quarantine_schema().fields().to_vec();
    fields.push(Arc::new(Field::new(DATE_COLUMN, DataType::Date32, true)));
    let schema = Arc::new(Schema::new(fields));
    let date = params.date.to_string();
    let quarantine = side_output(ctx, target, "quarantine", schema, &date).await?;
    stages.counts().messages_quarantined = Some(quarantine.rows());
    stages.done(stage);
    Ok(quarantine)
}

/// Counts the readings staged silver holds (its small `readings` column only) and, for a Kafka
/// ingest, the messages that were neither windowed nor quarantined.
async fn count_windowed_readings(
    ctx: &SessionContext,
    silver_root: &DatasetRoot,
    silver: &Staged,
    stages: &mut Stages<'_>,
) -> Result<()> {
    let stage = stages.start("count silver readings");
    let files: Vec<String> = silver
        .output
        .files
        .iter()
        .map(|f| silver_root.join(&f.path))
        .collect();
    let windowed = if files.is_empty() {
        0
    } else {
        // One small column, read here: as a cluster job its scheduling cost more than the read.
        let local = SessionContext::new_with_config_rt(SessionConfig::new(), ctx.runtime_env());
        let total = local
            .read_parquet(files, ParquetReadOptions::default())
            .await?
            .aggregate(vec![], vec![sum(col("readings"))])?;
        stages.in_flight.single_count(total).await?
    };
    let counts = stages.counts();
    counts.readings_windowed = Some(windowed);
    if let (Some(read), Some(quarantined)) = (counts.messages_read, counts.messages_quarantined) {
        // Messages in the range by their Kafka timestamp whose reading time is outside it.
        counts.messages_out_of_range = Some(read - windowed - quarantined);
    }
    stages.done(stage);
    Ok(())
}

/// What a Kafka ingest reads, per partition, for the manifest.
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
