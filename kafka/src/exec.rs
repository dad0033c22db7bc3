//! Run time: each DataFusion partition reads one offset slice of one Kafka partition, decodes it
//! in chunks and keeps exactly the rows in the scan's time range.

use crate::decode::{CHUNK_MESSAGES, ChunkDecoder, MessageChunk};
use crate::error::KafkaError;
use crate::metrics::ScanCounters;
use crate::offsets::KafkaSlice;
use crate::options::{KafkaTableConfig, redacted};
use crate::quarantine_output::QuarantineWriter;
use crate::schema::{KAFKA_TIMESTAMP, TS, quarantine_schema, readings_schema};
use crate::time_range::TimeRange;
use datafusion::arrow::array::{AsArray, BooleanArray, Int32Array, Int64Array, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{
    DataType, Field, Int32Type, Int64Type, Schema, SchemaRef, TimestampMillisecondType,
};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, exec_err};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{
    Boundedness, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::StreamExt;
use rdkafka::Offset;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::TopicPartitionList;
use std::any::Any;
use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

/// A planned Kafka scan. Its input is the plan's offset slices as data, one DataFusion partition
/// per slice (`slices_input`); it turns each slice into readings. Everything else in it is plain
/// data (configuration, range, projection), so it can be serialised to executors.
///
/// The slices are an input rather than a field because Ballista's scheduler hands each task a
/// subset of a stage's partitions by rewriting the leaves it knows (file groups, in-memory
/// partitions) and runs every partition of what remains: a leaf with its own slice list would be
/// read whole by every task. An in-memory input is restricted like any other, so each task reads
/// exactly its slices.
#[derive(Debug)]
pub struct KafkaScanExec {
    config: KafkaTableConfig,
    slices: Arc<dyn ExecutionPlan>,
    range: TimeRange,
    projection: Option<Vec<usize>>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl KafkaScanExec {
    /// A scan reading `slices`, one DataFusion partition each.
    pub fn new(
        config: KafkaTableConfig,
        slices: &[KafkaSlice],
        range: TimeRange,
        projection: Option<Vec<usize>>,
    ) -> Result<Self> {
        Self::with_slices_input(config, slices_input(slices)?, range, projection)
    }

    /// A scan reading the slices `slices` produces (rows of `slices_schema`), one output
    /// partition per input partition.
    pub fn with_slices_input(
        config: KafkaTableConfig,
        slices: Arc<dyn ExecutionPlan>,
        range: TimeRange,
        projection: Option<Vec<usize>>,
    ) -> Result<Self> {
        if slices.schema() != slices_schema() {
            return exec_err!(
                "KafkaScanExec needs an input of slices {}, got {}",
                slices_schema(),
                slices.schema()
            );
        }
        let full = if config.quarantine {
            quarantine_schema()
        } else {
            readings_schema()
        };
        let schema = match &projection {
            Some(p) => Arc::new(full.project(p)?),
            None => full,
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(
                slices.properties().output_partitioning().partition_count(),
            ),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(KafkaScanExec {
            config,
            slices,
            range,
            projection,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    pub fn config(&self) -> &KafkaTableConfig {
        &self.config
    }

    /// The slices this scan reads, when its input is the in-memory list `slices_input` makes
    /// (always, unless an optimiser has put something in between).
    pub fn planned_slices(&self) -> Option<Vec<KafkaSlice>> {
        let source: &dyn Any = self
            .slices
            .downcast_ref::<DataSourceExec>()?
            .data_source()
            .as_ref();
        let memory = source.downcast_ref::<MemorySourceConfig>()?;
        let mut slices = Vec::new();
        for batch in memory.partitions().iter().flatten() {
            slices.extend(slices_of(batch).ok()?);
        }
        Some(slices)
    }

    pub fn range(&self) -> TimeRange {
        self.range
    }

    pub fn projection(&self) -> Option<&Vec<usize>> {
        self.projection.as_ref()
    }
}

/// The schema of a scan's input: one row per slice.
pub fn slices_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("partition", DataType::Int32, false),
            Field::new("start_offset", DataType::Int64, false),
            Field::new("end_offset", DataType::Int64, false),
        ]))
    });
    Arc::clone(&SCHEMA)
}

/// `slices` as an in-memory plan, one partition (of one row) per slice; at least one partition,
/// so an empty range still yields an (empty) stream.
pub fn slices_input(slices: &[KafkaSlice]) -> Result<Arc<dyn ExecutionPlan>> {
    let schema = slices_schema();
    let mut partitions = Vec::with_capacity(slices.len().max(1));
    for slice in slices {
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int32Array::from(vec![slice.partition])),
                Arc::new(Int64Array::from(vec![slice.start])),
                Arc::new(Int64Array::from(vec![slice.end])),
            ],
        )?;
        partitions.push(vec![batch]);
    }
    if partitions.is_empty() {
        partitions.push(vec![]);
    }
    Ok(MemorySourceConfig::try_new_exec(&partitions, schema, None)?)
}

fn slices_of(batch: &RecordBatch) -> Result<Vec<KafkaSlice>> {
    let column = |i: usize| batch.column(i);
    let (Some(partition), Some(start), Some(end)) = (
        column(0).as_primitive_opt::<Int32Type>(),
        column(1).as_primitive_opt::<Int64Type>(),
        column(2).as_primitive_opt::<Int64Type>(),
    ) else {
        return exec_err!(
            "KafkaScanExec input is not a list of slices: {}",
            batch.schema()
        );
    };
    Ok((0..batch.num_rows())
        .map(|row| KafkaSlice {
            partition: partition.value(row),
            start: start.value(row),
            end: end.value(row),
        })
        .collect())
}

impl DisplayAs for KafkaScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "KafkaScanExec: topic={}, brokers={}, format={:?}, quarantine={}, range={:?}",
            self.config.topic,
            self.config.brokers,
            self.config.format,
            self.config.quarantine,
            self.range,
        )?;
        if let Some(dir) = &self.config.quarantine_output {
            write!(f, ", quarantine_output={dir}")?;
        }
        if let Some(slices) = self.planned_slices() {
            let messages: i64 = slices.iter().map(|s| s.end - s.start).sum();
            write!(f, ", slices={}, messages={messages}", slices.len())?;
        }
        if !self.config.client.is_empty() {
            write!(f, ", client=[{}]", redacted(&self.config.client))?;
        }
        Ok(())
    }
}

/// Per-partition counters; over a whole scan, `messages = rows + quarantined + out_of_range`.
struct ScanMetrics {
    messages: Count,
    rows: Count,
    quarantined: Count,
    out_of_range: Count,
    /// The process' Prometheus counters, beside the query's own metrics.
    node: ScanCounters,
}

impl ExecutionPlan for KafkaScanExec {
    fn name(&self) -> &str {
        "KafkaScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.slices]
    }

    /// One slice per partition is the plan: spreading slices over more partitions gains nothing.
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    /// Always rebuilt: the properties follow the input's partition count, which is cheap to read.
    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [slices] = <[_; 1]>::try_from(children).map_err(|c| {
            DataFusionError::Internal(format!("KafkaScanExec has one input, got {}", c.len()))
        })?;
        Ok(Arc::new(Self::with_slices_input(
            self.config.clone(),
            slices,
            self.range,
            self.projection.clone(),
        )?))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let metrics = ScanMetrics {
            messages: MetricBuilder::new(&self.metrics).counter("messages_read", partition),
            rows: MetricBuilder::new(&self.metrics).counter("rows_decoded", partition),
            quarantined: MetricBuilder::new(&self.metrics)
                .counter("messages_quarantined", partition),
            out_of_range: MetricBuilder::new(&self.metrics)
                .counter("messages_out_of_range", partition),
            node: ScanCounters::new(&self.config.topic, self.config.quarantine),
        };
        let runtime = context.runtime_env();
        let mut slices = self.slices.execute(partition, context)?;
        let mut builder = RecordBatchReceiverStreamBuilder::new(self.schema(), 2);
        let tx = builder.tx();
        let config = self.config.clone();
        let range = self.range;
        let projection = self.projection.clone();
        builder.spawn(async move {
            let mut planned = Vec::new();
            while let Some(batch) = slices.next().await {
                planned.extend(slices_of(&batch?)?);
            }
            let read = tokio::task::spawn_blocking(move || {
                for slice in planned {
                    let side_output = match &config.quarantine_output {
                        Some(dir) if !config.quarantine => {
                            Some(QuarantineWriter::open(dir, slice, &runtime)?)
                        }
                        _ => None,
                    };
                    let open = read_slice(&config, slice, range, &metrics, side_output, |batch| {
                        let batch = match &projection {
                            Some(p) => batch.project(p)?,
                            None => batch,
                        };
                        // A closed receiver means the query no longer wants rows: stop reading.
                        Ok(tx.blocking_send(Ok(batch)).is_ok())
                    })?;
                    if !open {
                        break;
                    }
                }
                Ok(())
            });
            read.await
                .map_err(|e| DataFusionError::External(Box::new(e)))?
        });
        Ok(builder.build())
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// Reads `slice`, handing each decoded, range-filtered batch to `emit` until it returns false,
/// and the slice's malformed messages to `side_output` if there is one; returns whether `emit`
/// still wants rows.
fn read_slice(
    config: &KafkaTableConfig,
    slice: KafkaSlice,
    range: TimeRange,
    metrics: &ScanMetrics,
    mut side_output: Option<QuarantineWriter>,
    mut emit: impl FnMut(RecordBatch) -> Result<bool>,
) -> Result<bool> {
    let started = Instant::now();
    let read_error = |offset: i64, why: String| {
        DataFusionError::External(Box::new(KafkaError::Read {
            topic: config.topic.clone(),
            partition: slice.partition,
            offset,
            why,
        }))
    };
    let consumer: BaseConsumer = config.consumer_config().create().map_err(|source| {
        DataFusionError::External(Box::new(KafkaError::Client {
            brokers: config.brokers.clone(),
            source: Box::new(source),
        }))
    })?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&config.topic, slice.partition, Offset::Offset(slice.start))
        .and_then(|()| consumer.assign(&tpl))
        .map_err(|e| read_error(slice.start, e.to_string()))?;
    let decoder = ChunkDecoder::new(config.format)
        .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))?;

    let mut flush_chunk = |chunk: &mut MessageChunk| {
        flush(
            &decoder,
            chunk,
            config.quarantine,
            range,
            metrics,
            side_output.as_mut(),
            &mut emit,
        )
    };
    let mut chunk = MessageChunk::new(slice.partition);
    let mut next = slice.start;
    while next < slice.end {
        match consumer.poll(config.timeout()) {
            Some(Ok(m)) => {
                if m.offset() >= slice.end {
                    break;
                }
                chunk.push(m.offset(), m.timestamp().to_millis(), m.key(), m.payload());
                next = m.offset() + 1;
                if chunk.len() >= CHUNK_MESSAGES && !flush_chunk(&mut chunk)? {
                    return Ok(false);
                }
            }
            // The high watermark: offsets up to the slice's end may be transaction markers or
            // compacted away, so the partition can end before the slice does.
            Some(Err(RdKafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => return Err(read_error(next, e.to_string())),
            None => {
                return Err(read_error(
                    next,
                    format!("no message within {} ms", config.timeout_ms),
                ));
            }
        }
    }
    let open = flush_chunk(&mut chunk)?;
    if open && let Some(side_output) = side_output {
        side_output.finish()?;
    }
    metrics.node.seconds.inc_by(started.elapsed().as_secs_f64());
    tracing::debug!(
        topic = %config.topic,
        partition = slice.partition,
        start = slice.start,
        end = slice.end,
        rows = metrics.rows.value(),
        quarantined = metrics.quarantined.value(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "Kafka slice read"
    );
    Ok(open)
}

/// Decodes the chunk and emits the side the table shows, keeping rows in `range`: readings by
/// their `ts`, quarantined messages by their Kafka timestamp. A readings scan with a side
/// output hands it the quarantined messages.
fn flush(
    decoder: &ChunkDecoder,
    chunk: &mut MessageChunk,
    quarantine: bool,
    range: TimeRange,
    metrics: &ScanMetrics,
    side_output: Option<&mut QuarantineWriter>,
    emit: &mut impl FnMut(RecordBatch) -> Result<bool>,
) -> Result<bool> {
    if chunk.is_empty() {
        return Ok(true);
    }
    metrics.messages.add(chunk.len());
    metrics.node.messages.inc_by(chunk.len() as u64);
    let decoded = decoder
        .decode(chunk)
        .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))?;
    chunk.clear();
    let decoded_total = decoded.readings.num_rows() + decoded.quarantined.num_rows();
    let readings = in_range(decoded.readings, TS, range)?;
    let quarantined = in_range(decoded.quarantined, KAFKA_TIMESTAMP, range)?;
    metrics.rows.add(readings.num_rows());
    metrics.quarantined.add(quarantined.num_rows());
    metrics
        .out_of_range
        .add(decoded_total - readings.num_rows() - quarantined.num_rows());
    let batch = if quarantine {
        quarantined
    } else {
        if let Some(side_output) = side_output {
            side_output.push(quarantined)?;
        }
        readings
    };
    metrics.node.rows.inc_by(batch.num_rows() as u64);
    if batch.num_rows() == 0 {
        return Ok(true);
    }
    emit(batch)
}

/// Rows of `batch` whose timestamp column is in `range` (rows without a timestamp stay).
fn in_range(batch: RecordBatch, column: &str, range: TimeRange) -> Result<RecordBatch> {
    if range == TimeRange::default() || batch.num_rows() == 0 {
        return Ok(batch);
    }
    let times = batch
        .column_by_name(column)
        .map(|c| c.as_primitive::<TimestampMillisecondType>().clone());
    let Some(times) = times else {
        return Ok(batch);
    };
    let keep: BooleanArray = times
        .iter()
        .map(|t| Some(t.is_none_or(|t| range.contains(t))))
        .collect();
    if keep.true_count() == batch.num_rows() {
        return Ok(batch);
    }
    Ok(filter_record_batch(&batch, &keep)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::KafkaTableConfig;
    use std::collections::HashMap;

    fn scan(slices: &[KafkaSlice]) -> KafkaScanExec {
        let config =
            KafkaTableConfig::from_ddl("kafka://127.0.0.1:9/t", &HashMap::new()).expect("config");
        KafkaScanExec::new(config, slices, TimeRange::default(), None).expect("scan")
    }

    const RECOMPUTE: ReplaceChildrenOptions =
        ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);

    const SLICES: [KafkaSlice; 3] = [
        KafkaSlice {
            partition: 0,
            start: 0,
            end: 10,
        },
        KafkaSlice {
            partition: 1,
            start: 5,
            end: 7,
        },
        KafkaSlice {
            partition: 1,
            start: 7,
            end: 9,
        },
    ];

    #[test]
    fn one_partition_per_slice_and_at_least_one() {
        let planned = scan(&SLICES);
        assert_eq!(
            planned.properties().output_partitioning().partition_count(),
            3
        );
        assert_eq!(planned.planned_slices(), Some(SLICES.to_vec()));
        let empty = scan(&[]);
        assert_eq!(
            empty.properties().output_partitioning().partition_count(),
            1
        );
        assert_eq!(empty.planned_slices(), Some(vec![]));
    }

    /// What Ballista's task builder does to a task's plan: its in-memory leaf keeps only the
    /// task's partitions, and the scan then reads exactly those slices.
    #[test]
    fn a_restricted_input_restricts_the_scan() {
        let planned = Arc::new(scan(&SLICES));
        let task = slices_input(&SLICES[1..]).expect("restricted input");
        let restricted = planned
            .replace_children(vec![task], RECOMPUTE)
            .expect("rebuilt");
        assert_eq!(
            restricted
                .properties()
                .output_partitioning()
                .partition_count(),
            2
        );
        let restricted = restricted
            .downcast_ref::<KafkaScanExec>()
            .expect("still a Kafka scan");
        assert_eq!(restricted.planned_slices(), Some(SLICES[1..].to_vec()));
    }

    #[test]
    fn an_input_that_is_not_slices_is_refused() {
        let wrong = MemorySourceConfig::try_new_exec(&[vec![]], readings_schema(), None)
            .expect("memory plan");
        let e = Arc::new(scan(&SLICES))
            .replace_children(vec![wrong], RECOMPUTE)
            .expect_err("not slices");
        assert!(e.to_string().contains("needs an input of slices"), "{e}");
    }
}
