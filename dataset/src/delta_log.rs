//! A dataset's transaction log: the point where a run's output becomes visible, on every store.
//!
//! Object stores cannot swap a directory, and listing one shows whatever happens to be there.
//! So a dataset root holds a [Delta Lake] log, `_delta_log/<version>.json`, and its content is
//! what the log says: one new entry, written with put-if-absent, removes a day's previous files
//! and adds a run's, all at once. Two runs that commit together cannot both take a version; the
//! loser reads the log again and retries. Readers take their files from the log, never from a
//! listing.
//!
//! The log follows Delta's protocol at reader version 1 and writer version 2, without
//! checkpoints, so silver and gold are Delta tables to Spark, Trino, DuckDB and delta-rs too.
//!
//! [Delta Lake]: https://github.com/delta-io/delta/blob/master/PROTOCOL.md

use crate::layout::LOG_DIR;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Concurrent commits to one dataset are rare (two runs of the same plan); this many in a row
/// means something keeps writing the log.
const COMMIT_ATTEMPTS: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot {action} the log at {location}: {source}")]
    Store {
        action: &'static str,
        location: String,
        source: object_store::Error,
    },
    #[error("log entry {location} is not valid JSON: {source}")]
    Json {
        location: String,
        source: serde_json::Error,
    },
    #[error("the log at {root} is unsupported: {reason}")]
    Unsupported { root: String, reason: String },
    #[error("column {column} has type {data_type}, which a Delta table cannot hold")]
    ColumnType { column: String, data_type: DataType },
    #[error(
        "the log at {root} kept changing: {COMMIT_ATTEMPTS} commit attempts lost to other writers"
    )]
    Contended { root: String },
}

/// A data file in the log, with its path relative to the dataset root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub path: String,
    /// The file's partition value (`YYYY-MM-DD`).
    pub partition: String,
    pub size: u64,
    /// From the file's statistics, when its writer recorded them.
    pub rows: Option<i64>,
}

/// The dataset as of one log version.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// `None` when the dataset has no log yet.
    pub version: Option<u64>,
    files: BTreeMap<String, LogFile>,
    /// Partitions some commit replaced, including those it left empty (a day without data).
    written: BTreeSet<String>,
    metadata: Option<Metadata>,
}

impl Snapshot {
    /// The files of one partition, by path.
    pub fn files_in<'a>(&'a self, partition: &'a str) -> impl Iterator<Item = &'a LogFile> {
        self.files
            .values()
            .filter(move |f| f.partition == partition)
    }

    /// Every file of the dataset, by path.
    pub fn files(&self) -> impl Iterator<Item = &LogFile> {
        self.files.values()
    }

    /// Whether a commit has written `partition`, even if it left it empty.
    pub fn has_partition(&self, partition: &str) -> bool {
        self.written.contains(partition) || self.files_in(partition).next().is_some()
    }
}

/// A file a run adds.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub path: String,
    pub partition: String,
    pub size: u64,
    pub rows: i64,
    pub null_counts: BTreeMap<String, i64>,
}

/// One run's commit: `adds` become the whole content of `partitions`.
#[derive(Debug)]
pub struct PartitionReplacement<'a> {
    /// The dataset's schema, partition column included.
    pub schema: &'a Schema,
    pub partition_column: &'a str,
    /// Every partition the run covers, with or without files.
    pub partitions: &'a BTreeSet<String>,
    pub adds: &'a [NewFile],
    pub run_id: &'a str,
}

/// The log of the dataset under `root` in `store`.
#[derive(Debug, Clone)]
pub struct DeltaLog {
    store: Arc<dyn ObjectStore>,
    root: Path,
}

impl DeltaLog {
    pub fn new(store: Arc<dyn ObjectStore>, root: Path) -> Self {
        DeltaLog { store, root }
    }

    fn entry(&self, version: u64) -> Path {
        self.root
            .clone()
            .join(LOG_DIR)
            .join(format!("{version:020}.json"))
    }

    fn unsupported(&self, reason: impl Into<String>) -> LogError {
        LogError::Unsupported {
            root: self.root.to_string(),
            reason: reason.into(),
        }
    }

    /// Replays the log from its first entry.
    pub async fn snapshot(&self) -> Result<Snapshot, LogError> {
        let dir = self.root.clone().join(LOG_DIR);
        let listed: Vec<_> = self
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(store_error("list", &dir))?;
        let mut versions: Vec<u64> = listed
            .iter()
            .filter_map(|meta| meta.location.filename())
            .filter_map(|name| name.strip_suffix(".json"))
            .filter(|stem| stem.len() == 20)
            .filter_map(|stem| stem.parse().ok())
            .collect();
        versions.sort_unstable();
        let mut snapshot = Snapshot::default();
        for (expected, version) in versions.into_iter().enumerate() {
            if version != expected as u64 {
                return Err(self.unsupported(format!(
                    "entry {expected} is missing (a checkpointed or cleaned-up log; pvflow \
                     replays the log from version 0)"
                )));
            }
            self.apply(version, &mut snapshot).await?;
        }
        Ok(snapshot)
    }

    async fn apply(&self, version: u64, snapshot: &mut Snapshot) -> Result<(), LogError> {
        let location = self.entry(version);
        let bytes = self
            .store
            .get(&location)
            .await
            .map_err(store_error("read", &location))?
            .bytes()
            .await
            .map_err(store_error("read", &location))?;
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let action: Action = serde_json::from_slice(line).map_err(|source| LogError::Json {
                location: location.to_string(),
                source,
            })?;
            if let Some(protocol) = action.protocol {
                // Reader version 2+ means column mapping or deletion vectors: files alone
                // would not give the table's rows.
                if protocol.min_reader_version > 1 {
                    return Err(self.unsupported(format!(
                        "it needs a Delta reader of version {}; pvflow reads version 1",
                        protocol.min_reader_version
                    )));
                }
                if protocol.min_writer_version > 2 {
                    return Err(self.unsupported(format!(
                        "it needs a Delta writer of version {}; pvflow writes version 2",
                        protocol.min_writer_version
                    )));
                }
            }
            if let Some(metadata) = action.meta_data {
                snapshot.metadata = Some(metadata);
            }
            if let Some(add) = action.add {
                let partition = self.partition_of(snapshot, &add.partition_values)?;
                let file = LogFile {
                    path: add.path.clone(),
                    partition,
                    size: add.size,
                    rows: add
                        .stats
                        .as_deref()
                        .and_then(|s| serde_json::from_str::<Stats>(s).ok())
                        .map(|s| s.num_records),
                };
                snapshot.files.insert(add.path, file);
            }
            if let Some(remove) = action.remove {
                snapshot.files.remove(&remove.path);
            }
            if let Some(info) = action.commit_info
                && let Some(partitions) = info.get(REPLACED_PARTITIONS).and_then(Value::as_array)
            {
                snapshot.written.extend(
                    partitions
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string),
                );
            }
        }
        snapshot.version = Some(version);
        Ok(())
    }

    /// pvflow's datasets have one partition column; its value names a file's partition.
    fn partition_of(
        &self,
        snapshot: &Snapshot,
        values: &BTreeMap<String, Option<String>>,
    ) -> Result<String, LogError> {
        let columns = snapshot
            .metadata
            .as_ref()
            .map(|m| m.partition_columns.as_slice())
            .unwrap_or_default();
        let [column] = columns else {
            return Err(self.unsupported(format!(
                "pvflow needs exactly one partition column, the log has {columns:?}"
            )));
        };
        match values.get(column) {
            Some(Some(value)) => Ok(value.clone()),
            _ => Err(self.unsupported(format!("a file has no value for {column}"))),
        }
    }

    /// Commits `replacement` as the next version and returns the files it removed. Retries
    /// against the new log when another writer took the version first.
    pub async fn replace_partitions(
        &self,
        replacement: &PartitionReplacement<'_>,
    ) -> Result<(u64, Vec<LogFile>), LogError> {
        let schema_string = delta_schema(replacement.schema)?.to_string();
        for _ in 0..COMMIT_ATTEMPTS {
            let snapshot = self.snapshot().await?;
            let version = snapshot.version.map_or(0, |v| v + 1);
            let mut actions = vec![commit_info(replacement)];
            match &snapshot.metadata {
                None => {
                    actions.push(json!({"protocol": Protocol {
                        min_reader_version: 1,
                        min_writer_version: 2,
                    }}));
                    actions.push(json!({"metaData": Metadata::new(
                        uuid::Uuid::new_v4().to_string(),
                        schema_string.clone(),
                        replacement.partition_column,
                    )}));
                }
                Some(current) => {
                    if current.partition_columns != [replacement.partition_column] {
                        return Err(self.unsupported(format!(
                            "it is partitioned by {:?}, the run by {}",
                            current.partition_columns, replacement.partition_column
                        )));
                    }
                    // The output's schema changed (a new model's outputs, say): the log
                    // records the new one, as Delta's schema overwrite does.
                    if current.schema_string != schema_string {
                        let mut changed = current.clone();
                        changed.schema_string = schema_string.clone();
                        actions.push(json!({ "metaData": changed }));
                    }
                }
            }
            let now = now_ms();
            let removed: Vec<LogFile> = snapshot
                .files
                .values()
                .filter(|f| replacement.partitions.contains(&f.partition))
                .cloned()
                .collect();
            for file in &removed {
                actions.push(json!({"remove": {
                    "path": file.path,
                    "deletionTimestamp": now,
                    "dataChange": true,
                    "extendedFileMetadata": true,
                    "partitionValues": {replacement.partition_column: file.partition},
                    "size": file.size,
                }}));
            }
            for file in replacement.adds {
                let stats = json!({"numRecords": file.rows, "nullCount": file.null_counts});
                actions.push(json!({"add": Add {
                    path: file.path.clone(),
                    partition_values: BTreeMap::from([(
                        replacement.partition_column.to_string(),
                        Some(file.partition.clone()),
                    )]),
                    size: file.size,
                    modification_time: now,
                    data_change: true,
                    stats: Some(stats.to_string()),
                }}));
            }
            let body: String = actions.iter().map(|a| format!("{a}\n")).collect();
            let location = self.entry(version);
            let put = self
                .store
                .put_opts(
                    &location,
                    body.into(),
                    PutOptions {
                        mode: PutMode::Create,
                        ..PutOptions::default()
                    },
                )
                .await;
            match put {
                Ok(_) => return Ok((version, removed)),
                Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => {
                    tracing::info!(root = %self.root, version, "another writer committed first; retrying");
                }
                Err(e) => return Err(store_error("write", &location)(e)),
            }
        }
        Err(LogError::Contended {
            root: self.root.to_string(),
        })
    }
}

fn store_error(
    action: &'static str,
    location: &Path,
) -> impl FnOnce(object_store::Error) -> LogError {
    let location = location.to_string();
    move |source| LogError::Store {
        action,
        location,
        source,
    }
}

/// commitInfo's field listing every partition a commit replaced, files or not: Delta has no
/// notion of an empty partition, and "ingested, nothing that day" differs from "never ingested".
const REPLACED_PARTITIONS: &str = "pvflowReplacedPartitions";

fn commit_info(replacement: &PartitionReplacement<'_>) -> Value {
    let days: Vec<&String> = replacement.partitions.iter().collect();
    let predicate = days
        .iter()
        .map(|d| format!("'{d}'"))
        .collect::<Vec<_>>()
        .join(", ");
    json!({"commitInfo": {
        "timestamp": now_ms(),
        "operation": "WRITE",
        "operationParameters": {
            "mode": "Overwrite",
            "partitionBy": json!([replacement.partition_column]).to_string(),
            "predicate": format!("{} IN ({predicate})", replacement.partition_column),
        },
        "engineInfo": concat!("pvflow/", env!("CARGO_PKG_VERSION")),
        "pvflowRunId": replacement.run_id,
        REPLACED_PARTITIONS: days,
    }})
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A log line: one action, under its name. Actions pvflow does not use (txn, cdc, ...) are
/// skipped.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Action {
    protocol: Option<Protocol>,
    meta_data: Option<Metadata>,
    add: Option<Add>,
    remove: Option<Remove>,
    commit_info: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Protocol {
    min_reader_version: i32,
    min_writer_version: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    id: String,
    format: Format,
    schema_string: String,
    partition_columns: Vec<String>,
    #[serde(default)]
    configuration: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_time: Option<i64>,
}

impl Metadata {
    fn new(id: String, schema_string: String, partition_column: &str) -> Self {
        Metadata {
            id,
            format: Format {
                provider: "parquet".into(),
                options: BTreeMap::new(),
            },
            schema_string,
            partition_columns: vec![partition_column.into()],
            configuration: BTreeMap::new(),
            created_time: Some(now_ms()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Format {
    provider: String,
    #[serde(default)]
    options: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Add {
    path: String,
    partition_values: BTreeMap<String, Option<String>>,
    size: u64,
    modification_time: i64,
    data_change: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stats: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Remove {
    path: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stats {
    num_records: i64,
}

/// The Delta schema (`schemaString`) of an Arrow schema.
pub(crate) fn delta_schema(schema: &Schema) -> Result<Value, LogError> {
    Ok(json!({
        "type": "struct",
        "fields": schema.fields().iter().map(|f| delta_field(f)).collect::<Result<Vec<_>, _>>()?,
    }))
}

fn delta_field(field: &Field) -> Result<Value, LogError> {
    Ok(json!({
        "name": field.name(),
        "type": delta_type(field.name(), field.data_type())?,
        "nullable": field.is_nullable(),
        "metadata": {},
    }))
}

fn delta_type(column: &str, data_type: &DataType) -> Result<Value, LogError> {
    Ok(match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => json!("string"),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => json!("binary"),
        DataType::Boolean => json!("boolean"),
        DataType::Int8 => json!("byte"),
        DataType::Int16 => json!("short"),
        DataType::Int32 => json!("integer"),
        DataType::Int64 => json!("long"),
        DataType::Float32 => json!("float"),
        DataType::Float64 => json!("double"),
        DataType::Date32 => json!("date"),
        // Delta's timestamp is an instant; readers take Parquet's milliseconds as well.
        DataType::Timestamp(_, Some(_)) => json!("timestamp"),
        DataType::Decimal128(precision, scale) => json!(format!("decimal({precision},{scale})")),
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            json!({
                "type": "array",
                "elementType": delta_type(column, item.data_type())?,
                "containsNull": item.is_nullable(),
            })
        }
        DataType::Struct(fields) => json!({
            "type": "struct",
            "fields": fields.iter().map(|f| delta_field(f)).collect::<Result<Vec<_>, _>>()?,
        }),
        other => {
            return Err(LogError::ColumnType {
                column: column.into(),
                data_type: other.clone(),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::TimeUnit;
    use object_store::memory::InMemory;

    fn schema() -> Schema {
        let item = Arc::new(Field::new_list_field(DataType::Float32, true));
        Schema::new(vec![
            Field::new("device_id", DataType::Utf8, false),
            Field::new(
                "window_start",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            Field::new("scalogram", DataType::FixedSizeList(item, 4), true),
            Field::new("date", DataType::Date32, false),
        ])
    }

    fn file(path: &str, day: &str) -> NewFile {
        NewFile {
            path: path.into(),
            partition: day.into(),
            size: 10,
            rows: 3,
            null_counts: BTreeMap::from([("scalogram".into(), 1)]),
        }
    }

    async fn replace(log: &DeltaLog, days: &[&str], adds: &[NewFile]) -> (u64, Vec<LogFile>) {
        let partitions = days.iter().map(|d| d.to_string()).collect();
        log.replace_partitions(&PartitionReplacement {
            schema: &schema(),
            partition_column: "date",
            partitions: &partitions,
            adds,
            run_id: "r",
        })
        .await
        .expect("commit")
    }

    fn paths<'a>(snapshot: &'a Snapshot, day: &'a str) -> Vec<&'a str> {
        snapshot.files_in(day).map(|f| f.path.as_str()).collect()
    }

    #[tokio::test]
    async fn a_commit_replaces_only_its_partitions() {
        let log = DeltaLog::new(Arc::new(InMemory::new()), Path::from("gold"));
        assert_eq!(log.snapshot().await.expect("empty").version, None);
        let (v0, removed) = replace(
            &log,
            &["2026-06-01", "2026-06-02"],
            &[file("date=2026-06-01/a.parquet", "2026-06-01")],
        )
        .await;
        assert_eq!((v0, removed.len()), (0, 0));
        let (v1, removed) = replace(
            &log,
            &["2026-06-01"],
            &[file("date=2026-06-01/b.parquet", "2026-06-01")],
        )
        .await;
        assert_eq!(v1, 1);
        assert_eq!(removed[0].path, "date=2026-06-01/a.parquet");

        let snapshot = log.snapshot().await.expect("snapshot");
        assert_eq!(snapshot.version, Some(1));
        assert_eq!(
            paths(&snapshot, "2026-06-01"),
            ["date=2026-06-01/b.parquet"]
        );
        assert_eq!(
            snapshot.files_in("2026-06-01").next().and_then(|f| f.rows),
            Some(3)
        );
        // Written empty, and never written, are told apart.
        assert!(snapshot.has_partition("2026-06-02"));
        assert!(!snapshot.has_partition("2026-06-03"));
    }

    #[tokio::test]
    async fn a_writer_that_loses_the_version_retries_on_the_new_log() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let log = DeltaLog::new(Arc::clone(&store), Path::from("silver"));
        replace(
            &log,
            &["2026-06-01"],
            &[file("date=2026-06-01/a.parquet", "2026-06-01")],
        )
        .await;
        // Another writer's entry 1 appears: ours must become 2 and remove its file too.
        let other = r#"{"add":{"path":"date=2026-06-01/other.parquet","partitionValues":{"date":"2026-06-01"},"size":1,"modificationTime":0,"dataChange":true}}"#;
        store
            .put(&log.entry(1), other.into())
            .await
            .expect("other writer");
        let (version, removed) = replace(
            &log,
            &["2026-06-01"],
            &[file("date=2026-06-01/b.parquet", "2026-06-01")],
        )
        .await;
        assert_eq!(version, 2);
        let mut removed: Vec<_> = removed.into_iter().map(|f| f.path).collect();
        removed.sort();
        assert_eq!(
            removed,
            ["date=2026-06-01/a.parquet", "date=2026-06-01/other.parquet"]
        );
    }

    #[tokio::test]
    async fn logs_pvflow_cannot_read_are_refused() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let log = DeltaLog::new(Arc::clone(&store), Path::from("t"));
        let v2 = r#"{"protocol":{"minReaderVersion":3,"minWriterVersion":7}}"#;
        store.put(&log.entry(0), v2.into()).await.expect("put");
        let e = log.snapshot().await.expect_err("reader 3");
        assert!(e.to_string().contains("reader of version 3"), "{e}");

        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let log = DeltaLog::new(Arc::clone(&store), Path::from("t"));
        store.put(&log.entry(5), "{}".into()).await.expect("put");
        let e = log.snapshot().await.expect_err("checkpointed");
        assert!(e.to_string().contains("entry 0 is missing"), "{e}");
    }

    #[test]
    fn arrow_types_map_to_delta_types() {
        let schema = delta_schema(&schema()).expect("schema");
        let types: Vec<&Value> = schema["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| &f["type"])
            .collect();
        assert_eq!(types[0], "string");
        assert_eq!(types[1], "timestamp");
        assert_eq!(types[2]["elementType"], "float");
        assert_eq!(types[3], "date");
        let unsigned = Schema::new(vec![Field::new("n", DataType::UInt64, false)]);
        let e = delta_schema(&unsigned).expect_err("no unsigned");
        assert!(e.to_string().contains("column n"), "{e}");
    }
}
