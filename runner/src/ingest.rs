//! Ingest: a day of readings -> silver's windows and scalograms (`plans/ingest.sql`), and the
//! day's malformed messages -> silver's quarantine (`plans/quarantine.sql`), published together.

use crate::Plan;
use crate::manifest::{KafkaConsumed, PartitionOffsets};
use crate::params::{DatasetRoot, Readings, RunParams};
use crate::run::{Result, Stages, timestamp};
use crate::staged::{Staged, publish, replace_table, write_staged};
use datafusion::common::{DataFusionError, ParamValues};
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::prelude::{ParquetReadOptions, SessionContext, col};
use pvflow_dataset::layout;
use pvflow_kafka::{KafkaSlice, KafkaTable, KafkaTableConfig, TimeRange};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Ingest's second query: the quarantine of malformed messages.
const QUARANTINE_SQL: &str = include_str!("../../plans/quarantine.sql");

pub(crate) async fn ingest(
    ctx: &SessionContext,
    params: &RunParams,
    stages: &mut Stages<'_>,
) -> Result<()> {
    let bound = params.bind(stages.run_id());
    match &params.readings {
        Readings::Kafka(kafka) => pin_kafka_offsets(ctx, kafka, params.range(), stages).await?,
        Readings::Parquet(location) => {
            count_parquet_readings(ctx, location, &bound, stages).await?;
        }
    }
    let silver = write_silver(ctx, params, &bound, stages).await?;
    let quarantine = match params.readings {
        Readings::Kafka(_) => Some(write_quarantine(ctx, params, &bound, stages).await?),
        Readings::Parquet(_) => None,
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

/// Finds the day's offsets once and registers `readings` and `readings_quarantine` as exactly
/// those: every message read is then a windowed reading or quarantined, whatever the brokers
/// answer later, and the manifest records what was read.
async fn pin_kafka_offsets(
    ctx: &SessionContext,
    kafka: &KafkaTableConfig,
    range: TimeRange,
    stages: &mut Stages<'_>,
) -> Result<()> {
    let stage = stages.start("plan Kafka offsets");
    let slices = KafkaTable::new(kafka.clone())
        .plan(range, None)
        .await?
        .planned_slices()
        .ok_or_else(|| {
            DataFusionError::Internal("a new Kafka scan has no planned slices".into())
        })?;
    let consumed = kafka_consumed(kafka, range, &slices);
    stages.counts().messages_read = Some(consumed.messages);
    stages.manifest.kafka = Some(consumed);
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
    Ok(())
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

/// Windows the day's readings into silver's staging and counts its windows and images from the
/// tasks' file reports (reading the images back to count them would cost as much as writing
/// them).
async fn write_silver(
    ctx: &SessionContext,
    params: &RunParams,
    bound: &ParamValues,
    stages: &mut Stages<'_>,
) -> Result<Staged> {
    let stage = stages.start("silver: windows and scalograms");
    let silver = ctx
        .sql(Plan::Ingest.sql())
        .await?
        .with_param_values(bound.clone())?;
    let date = params.date.to_string();
    let silver = write_staged(ctx, stages, silver, &params.silver, "silver", &date).await?;
    let windows = silver.rows();
    let counts = stages.counts();
    counts.windows = Some(windows);
    counts.windows_imaged = Some(windows - silver.nulls("scalogram"));
    stages.done(stage);
    Ok(silver)
}

/// Writes the day's malformed messages into the quarantine's staging.
async fn write_quarantine(
    ctx: &SessionContext,
    params: &RunParams,
    bound: &ParamValues,
    stages: &mut Stages<'_>,
) -> Result<Staged> {
    let stage = stages.start("quarantine: malformed messages");
    let quarantined = ctx
        .sql(QUARANTINE_SQL)
        .await?
        .with_param_values(bound.clone())?;
    let root = DatasetRoot::parse("silver", &layout::quarantine_root(params.silver.url()))?;
    let date = params.date.to_string();
    let quarantine = write_staged(ctx, stages, quarantined, &root, "quarantine", &date).await?;
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
        let total = ctx
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
