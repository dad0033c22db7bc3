//! The physical staged write: each partition of the input is written by its own task, into
//! files only that task names, and reported as one row per file.

use crate::{StagedTarget, open_root, path_under, written_files_schema};
use datafusion::arrow::array::{
    Array, AsArray, Int64Array, Int64Builder, MapBuilder, RecordBatch, StringArray, StringBuilder,
    UInt32Array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{Date32Type, Schema, SchemaRef};
use datafusion::arrow::temporal_conversions::date32_to_datetime;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{
    Boundedness, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, Encoding, Type as PhysicalType, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Encoded bytes a file's open row group may reach before it is written out. Readers split a
/// scan into partitions by byte ranges, whole row groups each: at 64 MiB a day of silver at
/// 10,000 devices had two row groups per file (221,000 and 114,000 windows), and predict's two
/// tasks got 556,000 and 114,000 windows. At 16 MiB the split is even to within about 50,000.
const ROW_GROUP_BYTES: usize = 16 * 1024 * 1024;

/// Writes each input partition to Parquet files under the run's staging prefix, one file per
/// value of the partition column, and outputs one row per file ([`written_files_schema`]).
#[derive(Debug)]
pub struct StagedParquetWriteExec {
    input: Arc<dyn ExecutionPlan>,
    target: StagedTarget,
    /// The input's schema without the partition column: what the files hold.
    file_schema: SchemaRef,
    partition_index: usize,
    properties: Arc<PlanProperties>,
}

impl StagedParquetWriteExec {
    pub fn try_new(input: Arc<dyn ExecutionPlan>, target: StagedTarget) -> Result<Self> {
        let schema = input.schema();
        let Ok(partition_index) = schema.index_of(&target.partition_column) else {
            return plan_err!(
                "the output has no partition column {} (columns: {})",
                target.partition_column,
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        let partition_type = schema.field(partition_index).data_type();
        if partition_type != &datafusion::arrow::datatypes::DataType::Date32 {
            return plan_err!(
                "partition column {} must be a DATE, got {partition_type}",
                target.partition_column
            );
        }
        let keep: Vec<usize> = (0..schema.fields().len())
            .filter(|&i| i != partition_index)
            .collect();
        let file_schema = Arc::new(schema.project(&keep)?);
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(written_files_schema()),
            Partitioning::UnknownPartitioning(
                input.properties().output_partitioning().partition_count(),
            ),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Ok(StagedParquetWriteExec {
            input,
            target,
            file_schema,
            partition_index,
            properties,
        })
    }

    pub fn target(&self) -> &StagedTarget {
        &self.target
    }
}

impl DisplayAs for StagedParquetWriteExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "StagedParquetWriteExec: root={}, run={}, partition_by={}",
            self.target.root, self.target.run_id, self.target.partition_column
        )
    }
}

impl ExecutionPlan for StagedParquetWriteExec {
    fn name(&self) -> &str {
        "StagedParquetWriteExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = <[_; 1]>::try_from(children).map_err(|c| {
            DataFusionError::Internal(format!(
                "StagedParquetWriteExec has one input, got {}",
                c.len()
            ))
        })?;
        Ok(Arc::new(Self::try_new(input, self.target.clone())?))
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
        let (store, root) = open_root(&context.runtime_env(), &self.target.root)?;
        let input = self.input.execute(partition, context)?;
        let writer = PartitionWriter {
            store,
            root,
            target: self.target.clone(),
            file_schema: Arc::clone(&self.file_schema),
            partition_index: self.partition_index,
            props: writer_properties(&self.file_schema)?,
            files: BTreeMap::new(),
        };
        let written = futures::stream::once(writer.write(input));
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            written_files_schema(),
            written,
        )))
    }
}

/// zstd throughout. Floats inside lists (silver's series, probability vectors) are written with
/// `BYTE_STREAM_SPLIT` and neither a dictionary nor min/max statistics: their values rarely
/// repeat and nobody prunes on them (for silver's former 64 KiB images the dictionary attempt
/// and the statistics cost more than the compression; docs/benchmarks.md).
fn writer_properties(schema: &Schema) -> Result<WriterProperties> {
    let parquet_schema = ArrowSchemaConverter::new()
        .convert(schema)
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let mut props =
        WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default()));
    for leaf in parquet_schema.columns() {
        let float = matches!(
            leaf.physical_type(),
            PhysicalType::FLOAT | PhysicalType::DOUBLE
        );
        if float && leaf.max_rep_level() > 0 {
            let path = leaf.path().clone();
            props = props
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_statistics_enabled(path.clone(), EnabledStatistics::None)
                .set_column_encoding(path, Encoding::BYTE_STREAM_SPLIT);
        }
    }
    Ok(props.build())
}

struct OpenFile {
    writer: AsyncArrowWriter<BufWriter>,
    /// Relative to the dataset root.
    path: String,
    rows: i64,
    /// NULLs so far in each column of the file schema.
    nulls: Vec<i64>,
}

/// One task's files: one per partition value it sees.
struct PartitionWriter {
    store: Arc<dyn ObjectStore>,
    root: Path,
    target: StagedTarget,
    file_schema: SchemaRef,
    partition_index: usize,
    props: WriterProperties,
    files: BTreeMap<i32, OpenFile>,
}

impl PartitionWriter {
    async fn write(mut self, mut input: SendableRecordBatchStream) -> Result<RecordBatch> {
        while let Some(batch) = input.try_next().await? {
            self.write_batch(&batch).await?;
        }
        let mut partitions = Vec::with_capacity(self.files.len());
        let mut paths = Vec::with_capacity(self.files.len());
        let mut rows = Vec::with_capacity(self.files.len());
        let mut null_counts = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
        for (day, file) in std::mem::take(&mut self.files) {
            file.writer
                .close()
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            partitions.push(date_string(day)?);
            paths.push(file.path);
            rows.push(file.rows);
            for (field, nulls) in self.file_schema.fields().iter().zip(&file.nulls) {
                if field.is_nullable() {
                    null_counts.keys().append_value(field.name());
                    null_counts.values().append_value(*nulls);
                }
            }
            null_counts.append(true)?;
        }
        Ok(RecordBatch::try_new(
            written_files_schema(),
            vec![
                Arc::new(StringArray::from(partitions)),
                Arc::new(StringArray::from(paths)),
                Arc::new(Int64Array::from(rows)),
                Arc::new(null_counts.finish()),
            ],
        )?)
    }

    async fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let days = batch
            .column(self.partition_index)
            .as_primitive::<Date32Type>();
        if days.null_count() > 0 {
            return exec_err!(
                "partition column {} is NULL in {} row(s): such rows have no directory",
                self.target.partition_column,
                days.null_count()
            );
        }
        let mut rows_by_day: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
        for (row, day) in days.values().iter().enumerate() {
            rows_by_day.entry(*day).or_default().push(row as u32);
        }
        let single = rows_by_day.len() == 1;
        for (day, rows) in rows_by_day {
            let columns: Vec<_> = (0..batch.num_columns())
                .filter(|&i| i != self.partition_index)
                .map(|i| batch.column(i))
                .collect();
            let part = if single {
                RecordBatch::try_new(
                    Arc::clone(&self.file_schema),
                    columns.into_iter().cloned().collect(),
                )?
            } else {
                let indices = UInt32Array::from(rows);
                let taken = columns
                    .into_iter()
                    .map(|c| take(c.as_ref(), &indices, None))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                RecordBatch::try_new(Arc::clone(&self.file_schema), taken)?
            };
            let file = self.file(day)?;
            file.rows += part.num_rows() as i64;
            for (nulls, column) in file.nulls.iter_mut().zip(part.columns()) {
                *nulls += column.null_count() as i64;
            }
            let failed = |e| DataFusionError::External(Box::new(e));
            file.writer.write(&part).await.map_err(failed)?;
            // End row groups by size, not by row count, so a task holds at most this much
            // encoded data however wide its rows.
            if file.writer.in_progress_size() > ROW_GROUP_BYTES {
                file.writer.flush().await.map_err(failed)?;
            }
        }
        Ok(())
    }

    fn file(&mut self, day: i32) -> Result<&mut OpenFile> {
        if !self.files.contains_key(&day) {
            // Task-chosen unique names: Ballista numbers partitions per task, so two tasks (or
            // two attempts of one) must never pick the same name.
            let path = format!(
                "{}/part-{}.parquet",
                self.target.staging_partition_dir(&date_string(day)?),
                uuid::Uuid::new_v4()
            );
            let location = path_under(&self.root, &path);
            let writer = AsyncArrowWriter::try_new(
                BufWriter::new(Arc::clone(&self.store), location),
                Arc::clone(&self.file_schema),
                Some(self.props.clone()),
            )
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
            self.files.insert(
                day,
                OpenFile {
                    writer,
                    path,
                    rows: 0,
                    nulls: vec![0; self.file_schema.fields().len()],
                },
            );
        }
        self.files
            .get_mut(&day)
            .ok_or_else(|| DataFusionError::Internal("file just opened is missing".into()))
    }
}

/// `YYYY-MM-DD` of days since 1970-01-01.
pub(crate) fn date_string(day: i32) -> Result<String> {
    date32_to_datetime(day)
        .map(|d| d.format(crate::layout::DATE_FORMAT).to_string())
        .ok_or_else(|| DataFusionError::Execution(format!("date out of range: day {day}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field};
    use parquet::schema::types::ColumnPath;

    #[test]
    fn floats_in_lists_skip_dictionary_and_statistics() {
        let item = Arc::new(Field::new_list_field(DataType::Float32, true));
        let schema = Schema::new(vec![
            Field::new("device_id", DataType::Utf8, false),
            Field::new("voltage_mean", DataType::Float64, true),
            Field::new("scalogram", DataType::FixedSizeList(item, 16384), true),
        ]);
        let props = writer_properties(&schema).expect("properties");
        let image = ColumnPath::from(vec!["scalogram".into(), "list".into(), "item".into()]);
        assert!(!props.dictionary_enabled(&image));
        assert_eq!(props.statistics_enabled(&image), EnabledStatistics::None);
        assert_eq!(props.encoding(&image), Some(Encoding::BYTE_STREAM_SPLIT));
        for plain in ["device_id", "voltage_mean"] {
            let path = ColumnPath::from(plain);
            assert!(props.dictionary_enabled(&path), "{plain}");
            assert_ne!(props.statistics_enabled(&path), EnabledStatistics::None);
        }
    }
}
