//! Run time: each DataFusion partition reads one offset slice of one Kafka partition, decodes it
//! in chunks and keeps exactly the rows in the scan's time range.

use crate::decode::{CHUNK_MESSAGES, ChunkDecoder, MessageChunk};
use crate::error::KafkaError;
use crate::offsets::{KafkaSlice, TimeRange};
use crate::options::{KafkaTableConfig, redacted};
use crate::schema::{KAFKA_TIMESTAMP, TS, quarantine_schema, readings_schema};
use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{SchemaRef, TimestampMillisecondType};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, exec_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use rdkafka::Offset;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::TopicPartitionList;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

/// A planned Kafka scan. Everything in it is plain data (configuration, slices, range,
/// projection), so it can be serialised to executors.
#[derive(Debug)]
pub struct KafkaScanExec {
    config: KafkaTableConfig,
    slices: Vec<KafkaSlice>,
    range: TimeRange,
    projection: Option<Vec<usize>>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl KafkaScanExec {
    pub fn new(
        config: KafkaTableConfig,
        slices: Vec<KafkaSlice>,
        range: TimeRange,
        projection: Option<Vec<usize>>,
    ) -> Result<Self> {
        let full = if config.quarantine {
            quarantine_schema()
        } else {
            readings_schema()
        };
        let schema = match &projection {
            Some(p) => Arc::new(full.project(p)?),
            None => full,
        };
        // At least one partition: an empty range still yields a (empty) stream.
        let partitions = slices.len().max(1);
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(partitions),
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

    pub fn slices(&self) -> &[KafkaSlice] {
        &self.slices
    }

    pub fn range(&self) -> TimeRange {
        self.range
    }

    pub fn projection(&self) -> Option<&Vec<usize>> {
        self.projection.as_ref()
    }
}

impl DisplayAs for KafkaScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let messages: i64 = self.slices.iter().map(|s| s.end - s.start).sum();
        write!(
            f,
            "KafkaScanExec: topic={}, brokers={}, format={:?}, quarantine={}, range={:?}, slices={}, messages={}",
            self.config.topic,
            self.config.brokers,
            self.config.format,
            self.config.quarantine,
            self.range,
            self.slices.len(),
            messages
        )?;
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
}

impl ExecutionPlan for KafkaScanExec {
    fn name(&self) -> &str {
        "KafkaScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            exec_err!("KafkaScanExec has no children")
        }
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let metrics = ScanMetrics {
            messages: MetricBuilder::new(&self.metrics).counter("messages_read", partition),
            rows: MetricBuilder::new(&self.metrics).counter("rows_decoded", partition),
            quarantined: MetricBuilder::new(&self.metrics)
                .counter("messages_quarantined", partition),
            out_of_range: MetricBuilder::new(&self.metrics)
                .counter("messages_out_of_range", partition),
        };
        let schema: SchemaRef = self.schema();
        let mut builder = RecordBatchReceiverStreamBuilder::new(Arc::clone(&schema), 2);
        let Some(slice) = self.slices.get(partition).copied() else {
            if partition == 0 {
                return Ok(builder.build());
            }
            return exec_err!("KafkaScanExec has no partition {partition}");
        };
        let tx = builder.tx();
        let config = self.config.clone();
        let range = self.range;
        let projection = self.projection.clone();
        builder.spawn_blocking(move || {
            read_slice(&config, slice, range, &metrics, |batch| {
                let batch = match &projection {
                    Some(p) => batch.project(p)?,
                    None => batch,
                };
                // A closed receiver means the query no longer wants rows: stop reading.
                Ok(tx.blocking_send(Ok(batch)).is_ok())
            })
        });
        Ok(builder.build())
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// Reads `slice`, handing each decoded, range-filtered batch to `emit` until it returns false.
fn read_slice(
    config: &KafkaTableConfig,
    slice: KafkaSlice,
    range: TimeRange,
    metrics: &ScanMetrics,
    mut emit: impl FnMut(RecordBatch) -> Result<bool>,
) -> Result<()> {
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
                    return Ok(());
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
    flush_chunk(&mut chunk)?;
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
    Ok(())
}

/// Decodes the chunk and emits the side the table shows, keeping rows in `range`: readings by
/// their `ts`, quarantined messages by their Kafka timestamp.
fn flush(
    decoder: &ChunkDecoder,
    chunk: &mut MessageChunk,
    quarantine: bool,
    range: TimeRange,
    metrics: &ScanMetrics,
    emit: &mut impl FnMut(RecordBatch) -> Result<bool>,
) -> Result<bool> {
    if chunk.is_empty() {
        return Ok(true);
    }
    metrics.messages.add(chunk.len());
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
    let batch = if quarantine { quarantined } else { readings };
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
