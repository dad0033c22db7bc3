//! A dataset read through its Delta log: exactly the files of the log's latest version, never
//! a file a commit is moving in or out, with the `date` partition as a `Date32` column. This is
//! how `silver`, `gold` and `quarantine` appear in pvflow's SQL sessions.

use crate::delta_log::{DeltaLog, LogFile};
use crate::layout::{self, DATE_COLUMN};
use crate::{open_root, path_under};
use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Date32Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingTableUrl, PartitionedFile};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::utils::expr_to_columns;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use object_store::ObjectMeta;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// A dataset under `root` as its Delta log lists it (see the module docs).
#[derive(Debug, Clone)]
pub struct LogTable {
    root: String,
    /// The files' columns, then `date`.
    schema: SchemaRef,
}

impl LogTable {
    /// The dataset at `root` (object stores from `runtime`) with its schema read from one of
    /// its files' footers; `None` while its log lists no file.
    pub async fn open(runtime: &Arc<RuntimeEnv>, root: &str) -> Result<Option<LogTable>> {
        let (store, path) = open_root(runtime, root)?;
        let snapshot = DeltaLog::new(Arc::clone(&store), path.clone())
            .snapshot()
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let Some(file) = snapshot.files().next() else {
            return Ok(None);
        };
        // Only the object stores matter to reading a footer.
        let state = SessionStateBuilder::new()
            .with_runtime_env(Arc::clone(runtime))
            .build();
        let file_schema = ParquetFormat::default()
            .infer_schema(&state, &store, &[object_meta(&path, file)])
            .await?;
        let mut fields: Vec<Field> = file_schema
            .fields()
            .iter()
            .filter(|f| f.name() != DATE_COLUMN)
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(DATE_COLUMN, DataType::Date32, false));
        Ok(Some(LogTable::new(root, Arc::new(Schema::new(fields)))))
    }

    /// The dataset at `root` with a schema known already (a plan that carries it).
    pub fn new(root: &str, schema: SchemaRef) -> LogTable {
        LogTable {
            root: root.to_string(),
            schema,
        }
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    fn file_schema(&self) -> SchemaRef {
        let fields: Vec<_> = self
            .schema
            .fields()
            .iter()
            .filter(|f| f.name() != DATE_COLUMN)
            .cloned()
            .collect();
        Arc::new(Schema::new(fields))
    }
}

fn object_meta(root: &object_store::path::Path, file: &LogFile) -> ObjectMeta {
    ObjectMeta {
        location: path_under(root, &file.path),
        last_modified: chrono::DateTime::default(),
        size: file.size,
        e_tag: None,
        version: None,
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` partition value.
fn partition_day(partition: &str) -> Result<i32> {
    let date = layout::parse_date(partition).map_err(|e| {
        DataFusionError::Execution(format!("partition {DATE_COLUMN}={partition}: {e}"))
    })?;
    Ok((date - chrono::NaiveDate::default()).num_days() as i32)
}

/// Whether `filter` reads the `date` column only (and so can choose files by their partition).
fn on_date_only(filter: &Expr) -> bool {
    let mut columns = HashSet::new();
    expr_to_columns(filter, &mut columns).is_ok()
        && !columns.is_empty()
        && columns.iter().all(|c| c.name == DATE_COLUMN)
}

/// The days of `days` that every filter on `date` keeps.
fn kept_days(state: &dyn Session, filters: &[Expr], days: Vec<i32>) -> Result<HashSet<i32>> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        DATE_COLUMN,
        DataType::Date32,
        false,
    )]));
    let values: ArrayRef = Arc::new(Date32Array::from(days.clone()));
    let batch = RecordBatch::try_new(Arc::clone(&schema), vec![values])?;
    let df_schema = DFSchema::try_from(schema)?;
    let mut keep = vec![true; days.len()];
    for filter in filters.iter().filter(|f| on_date_only(f)) {
        let predicate = state.create_physical_expr(filter.clone(), &df_schema)?;
        let result = predicate.evaluate(&batch)?.into_array(batch.num_rows())?;
        let result = result.as_boolean_opt().ok_or_else(|| {
            DataFusionError::Internal(format!("filter {filter} is not a predicate"))
        })?;
        for (i, kept) in keep.iter_mut().enumerate() {
            *kept &= result.is_valid(i) && result.value(i);
        }
    }
    Ok(days
        .into_iter()
        .zip(keep)
        .filter_map(|(day, kept)| kept.then_some(day))
        .collect())
}

#[async_trait]
impl TableProvider for LogTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Filters on `date` choose the files exactly; DataFusion applies every filter anyway.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if on_date_only(f) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Each scan reads the log afresh: a query sees the latest committed version.
        let (store, root) = open_root(state.runtime_env(), &self.root)?;
        let snapshot = DeltaLog::new(store, root.clone())
            .snapshot()
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let mut by_day: BTreeMap<i32, Vec<&LogFile>> = BTreeMap::new();
        for file in snapshot.files() {
            by_day
                .entry(partition_day(&file.partition)?)
                .or_default()
                .push(file);
        }
        let kept = kept_days(state, filters, by_day.keys().copied().collect())?;
        let root = &root;
        let files: Vec<PartitionedFile> = by_day
            .iter()
            .filter(|(day, _)| kept.contains(day))
            .flat_map(|(day, files)| {
                files.iter().map(move |file| {
                    PartitionedFile::new_from_meta(object_meta(root, file))
                        .with_partition_values(vec![ScalarValue::Date32(Some(*day))])
                })
            })
            .collect();
        let groups = state.config().target_partitions().max(1);
        let mut file_groups: Vec<Vec<PartitionedFile>> =
            vec![Vec::new(); groups.min(files.len().max(1))];
        let slots = file_groups.len();
        for (i, file) in files.into_iter().enumerate() {
            file_groups[i % slots].push(file);
        }
        let url = ListingTableUrl::parse(&self.root)?;
        let table_schema = TableSchema::builder(self.file_schema())
            .with_table_partition_cols(vec![Arc::new(Field::new(
                DATE_COLUMN,
                DataType::Date32,
                false,
            ))])
            .build();
        let source = ParquetSource::new(table_schema)
            .with_table_parquet_options(state.table_options().parquet.clone());
        let config = FileScanConfigBuilder::new(url.object_store(), Arc::new(source))
            .with_file_groups(file_groups.into_iter().map(FileGroup::new).collect())
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta_log::{NewFile, PartitionReplacement};
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::prelude::SessionContext;
    use std::collections::BTreeSet;

    /// Writes `rows` rows of (device_id, windows) as a Parquet file at `path`; its size.
    fn write_file(path: &std::path::Path, rows: usize) -> u64 {
        std::fs::create_dir_all(path.parent().expect("a directory")).expect("mkdir");
        let schema = Arc::new(Schema::new(vec![
            Field::new("device_id", DataType::Utf8, false),
            Field::new("windows", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec!["pv-1"; rows])),
                Arc::new(Int64Array::from(vec![1; rows])),
            ],
        )
        .expect("batch");
        let file = std::fs::File::create(path).expect("create");
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        std::fs::metadata(path).expect("written").len()
    }

    async fn count(ctx: &SessionContext, sql: &str) -> i64 {
        let batches = ctx.sql(sql).await.expect(sql).collect().await.expect(sql);
        batches[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .value(0)
    }

    #[tokio::test]
    async fn reads_what_the_log_lists_and_prunes_days() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("gold");
        let ctx = SessionContext::new();
        let runtime = ctx.runtime_env();
        let root_url = format!("{}/", root.display());
        assert!(
            LogTable::open(&runtime, &root_url)
                .await
                .expect("no log")
                .is_none()
        );

        let mut adds = Vec::new();
        for (day, rows) in [("2026-06-01", 3), ("2026-06-02", 5)] {
            let relative = format!("date={day}/part-0.parquet");
            let size = write_file(&root.join(&relative), rows);
            adds.push(NewFile {
                path: relative,
                partition: day.into(),
                size,
                rows: rows as i64,
                null_counts: Default::default(),
            });
        }
        // A file a commit is moving in: in the day's directory, not yet in the log.
        write_file(&root.join("date=2026-06-01/part-moving.parquet"), 100);
        let (store, path) = open_root(&runtime, &root_url).expect("store");
        let days: BTreeSet<String> = ["2026-06-01", "2026-06-02"].map(String::from).into();
        let schema = Schema::new(vec![
            Field::new("device_id", DataType::Utf8, false),
            Field::new("windows", DataType::Int64, false),
            Field::new(DATE_COLUMN, DataType::Date32, false),
        ]);
        DeltaLog::new(store, path)
            .replace_partitions(&PartitionReplacement {
                schema: &schema,
                partition_column: DATE_COLUMN,
                partitions: &days,
                adds: &adds,
                run_id: "r",
            })
            .await
            .expect("committed");

        let table = LogTable::open(&runtime, &root_url)
            .await
            .expect("opened")
            .expect("files");
        assert_eq!(table.schema().field(2).data_type(), &DataType::Date32);
        ctx.register_table("gold", Arc::new(table))
            .expect("register");
        assert_eq!(count(&ctx, "SELECT count(*) FROM gold").await, 8);
        assert_eq!(
            count(
                &ctx,
                "SELECT count(*) FROM gold WHERE date = DATE '2026-06-02'"
            )
            .await,
            5
        );
        assert_eq!(
            count(
                &ctx,
                "SELECT count(*) FROM gold WHERE date > DATE '2026-06-02'"
            )
            .await,
            0
        );
        // Days are chosen by the filter before any file is opened.
        let plan = ctx
            .sql("EXPLAIN SELECT * FROM gold WHERE date = DATE '2026-06-01'")
            .await
            .expect("explain")
            .collect()
            .await
            .expect("plan");
        let shown = format!("{plan:?}");
        assert!(shown.contains("date=2026-06-01/part-0.parquet"), "{shown}");
        assert!(!shown.contains("date=2026-06-02"), "{shown}");
        assert!(!shown.contains("part-moving"), "{shown}");
    }
}
