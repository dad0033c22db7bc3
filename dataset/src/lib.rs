//! pvflow's datasets (silver, gold, the quarantine): parallel, atomic Parquet writes through a
//! Delta Lake log, and a reader that sees only what the log committed.
//!
//! A [`StagedWrite`] node on top of a query makes every task write its own rows as Parquet files
//! into the run's staging directory (`<root>/_staging/<run_id>/`, which readers ignore) and report
//! the files it wrote. The run then [`commit`]s only the reported files: one entry in the
//! dataset's [`DeltaLog`] replaces each `date=D` partition whole, so readers see a date's old
//! output or its new output, never a mix, and a failed run (or a failed task attempt) leaves
//! nothing a reader would pick up. The same protocol runs on local directories and on S3.
//! [`LogTable`] reads a dataset as its log lists it; [`layout`] says where everything is.
//!
//! # Example: a day replaced in one log entry
//!
//! ```
//! use datafusion::arrow::datatypes::{DataType, Field, Schema};
//! use object_store::memory::InMemory;
//! use object_store::path::Path;
//! use pvflow_dataset::{DeltaLog, NewFile, PartitionReplacement};
//! use std::collections::{BTreeMap, BTreeSet};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), pvflow_dataset::LogError> {
//! let log = DeltaLog::new(Arc::new(InMemory::new()), Path::from("gold"));
//! let schema = Schema::new(vec![
//!     Field::new("device_id", DataType::Utf8, false),
//!     Field::new("date", DataType::Date32, false),
//! ]);
//! let day = BTreeSet::from(["2026-06-01".to_string()]);
//! let file = NewFile {
//!     path: "date=2026-06-01/part-1.parquet".into(),
//!     partition: "2026-06-01".into(),
//!     size: 1024,
//!     rows: 10,
//!     null_counts: BTreeMap::new(),
//! };
//! let (version, removed) = log
//!     .replace_partitions(&PartitionReplacement {
//!         schema: &schema,
//!         partition_column: "date",
//!         partitions: &day,
//!         adds: &[file],
//!         run_id: "predict-2026-06-01-0a1b2c3d",
//!     })
//!     .await?;
//! assert_eq!((version, removed.len()), (0, 0));
//!
//! let snapshot = log.snapshot().await?;
//! let files: Vec<_> = snapshot.files_in("2026-06-01").map(|f| f.path.as_str()).collect();
//! assert_eq!(files, ["date=2026-06-01/part-1.parquet"]);
//! # Ok(())
//! # }
//! ```

mod commit;
mod delta_log;
mod exec;
pub mod layout;
mod log_table;
mod logical;
mod planner;

pub use commit::{CommitError, WrittenFile, abort, commit, staged_parquet_files, written_files};
pub use delta_log::{
    AppTransaction, Append, CHECKPOINT_INTERVAL, DeltaLog, LogError, LogFile, NewFile,
    PartitionReplacement, Snapshot,
};
pub use exec::StagedParquetWriteExec;
pub use log_table::LogTable;
pub use logical::StagedWrite;
pub use planner::StagedWriteQueryPlanner;

use datafusion::arrow::array::{Array, Int64Builder, MapBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::ObjectStore;
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, LazyLock};

/// The object store holding the dataset root `root` (a URL), from `runtime`'s registry, and the
/// root's path in that store.
pub fn open_root(
    runtime: &RuntimeEnv,
    root: &str,
) -> datafusion::common::Result<(Arc<dyn ObjectStore>, Path)> {
    let url = ListingTableUrl::parse(root)?;
    Ok((
        runtime.object_store(url.object_store())?,
        url.prefix().clone(),
    ))
}

/// `relative` (`/`-separated) under `root`.
pub fn path_under(root: &Path, relative: &str) -> Path {
    Path::from_iter(root.parts().chain(Path::from(relative).parts()))
}

/// Where a run writes: a dataset root, the run, and the column that names each file's directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Serialize, Deserialize)]
pub struct StagedTarget {
    /// The dataset's root URL with a trailing `/`: `file:///data/silver/`, `s3://bucket/silver/`.
    pub root: String,
    /// Names the staging directory; unique per run.
    pub run_id: String,
    /// A Date32 column: its value names each file's `<column>=YYYY-MM-DD/` directory (Hive
    /// style) and, like Spark, it is not stored inside the files.
    pub partition_column: String,
}

impl StagedTarget {
    /// The run's staging prefix, relative to the root.
    pub fn staging_prefix(&self) -> String {
        layout::staging_dir(&self.run_id)
    }

    /// Where the run stages the files of partition value `partition` (`YYYY-MM-DD`), relative
    /// to the root: `_staging/<run id>/<column>=<partition>`.
    pub fn staging_partition_dir(&self, partition: &str) -> String {
        format!(
            "{}/{}={partition}",
            self.staging_prefix(),
            self.partition_column
        )
    }
}

/// What a staged write returns: one row per file written, with its row count and the NULLs in
/// each nullable column (`null_counts`, column name to count), as table formats keep per-file
/// statistics: a run counts what it wrote without reading it back.
pub fn written_files_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("partition", DataType::Utf8, false),
            Field::new("path", DataType::Utf8, false),
            Field::new("rows", DataType::Int64, false),
            Field::new("null_counts", null_counts_type(), false),
        ]))
    });
    Arc::clone(&SCHEMA)
}

/// `Map<Utf8, Int64>`, as Arrow's `MapBuilder` makes it.
fn null_counts_type() -> DataType {
    MapBuilder::new(None, StringBuilder::new(), Int64Builder::new())
        .finish()
        .data_type()
        .clone()
}
