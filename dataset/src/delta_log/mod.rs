//! A dataset's transaction log: the point where a run's output becomes visible, on every store.
//!
//! Object stores cannot swap a directory, and listing one shows whatever happens to be there.
//! So a dataset root holds a [Delta Lake] log, `_delta_log/<version>.json`, and its content is
//! what the log says: one new entry, written with put-if-absent, removes a day's previous files
//! and adds a run's, all at once. Two runs that commit together cannot both take a version; the
//! loser reads the log again and retries. Readers take their files from the log, never from a
//! listing.
//!
//! The log follows Delta's protocol at reader version 1 and writer version 2, so silver and gold
//! are Delta tables to Spark, Trino, DuckDB and delta-rs too. Tables that grow by appends (the
//! stream's) also carry Delta's application transactions (`txn`: how far each writer got, for
//! exactly-once output) and a checkpoint every [`CHECKPOINT_INTERVAL`] versions, from which a
//! reader starts instead of replaying the log from version 0.
//!
//! [Delta Lake]: https://github.com/delta-io/delta/blob/master/PROTOCOL.md

mod checkpoint;

pub use checkpoint::CHECKPOINT_INTERVAL;

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
    #[error(
        "another writer committed for {app_id} in the log at {root} (it is at version {found:?}, \
         this writer expected {expected:?}): this writer no longer owns it"
    )]
    TransactionConflict {
        root: String,
        app_id: String,
        expected: Option<i64>,
        found: Option<i64>,
    },
    #[error("the checkpoint {location} cannot be {action}: {reason}")]
    Checkpoint {
        action: &'static str,
        location: String,
        reason: String,
    },
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
    /// The statistics as the log has them (JSON), and when the file was added: what a
    /// checkpoint repeats.
    stats: Option<String>,
    modification_time: i64,
}

/// The dataset as of one log version.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// `None` when the dataset has no log yet.
    pub version: Option<u64>,
    files: BTreeMap<String, LogFile>,
    /// Partitions some commit replaced, including those it left empty (a day without data),
    /// since the last checkpoint (which keeps only files).
    written: BTreeSet<String>,
    metadata: Option<Metadata>,
    protocol: Option<Protocol>,
    /// The last version of each application transaction (`txn` appId).
    txns: BTreeMap<String, i64>,
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

    /// The newest date partition that has files, if any.
    pub fn newest_date(&self) -> Option<chrono::NaiveDate> {
        self.files
            .values()
            .filter_map(|f| crate::layout::parse_date(&f.partition).ok())
            .max()
    }

    /// Whether a commit has written `partition`, even if it left it empty.
    pub fn has_partition(&self, partition: &str) -> bool {
        self.written.contains(partition) || self.files_in(partition).next().is_some()
    }

    /// The version application transaction `app_id` last committed, if any.
    pub fn txn_version(&self, app_id: &str) -> Option<i64> {
        self.txns.get(app_id).copied()
    }

    /// Every application transaction's appId and last version, by appId.
    pub fn transactions(&self) -> impl Iterator<Item = (&str, i64)> {
        self.txns
            .iter()
            .map(|(app, version)| (app.as_str(), *version))
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

/// One writer's progress, committed with its files: Delta's application transaction. A writer
/// that resumes reads [`Snapshot::txn_version`] and goes on from there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppTransaction {
    /// Names the writer's stream of commits (for a Kafka consumer: table, topic and partition).
    pub app_id: String,
    /// The version the writer read before this commit: the commit fails if the log has moved on
    /// for `app_id`, because another writer took it over.
    pub expected: Option<i64>,
    /// The version this commit reaches (for a Kafka consumer: the last offset included).
    pub version: i64,
}

/// A commit that adds files and moves application transactions forward, replacing nothing.
#[derive(Debug)]
pub struct Append<'a> {
    /// The dataset's schema, partition column included.
    pub schema: &'a Schema,
    pub partition_column: &'a str,
    pub adds: &'a [NewFile],
    pub transactions: &'a [AppTransaction],
    /// Who commits, for the log's commitInfo.
    pub writer: &'a str,
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

    /// The dataset as of the log's last entry: from the last checkpoint when there is one, else
    /// replayed from the first entry.
    pub async fn snapshot(&self) -> Result<Snapshot, LogError> {
        let dir = self.root.clone().join(LOG_DIR);
        let mut snapshot = Snapshot::default();
        let start = match checkpoint::last(&self.store, &dir).await? {
            Some(version) => {
                let lines = checkpoint::read(&self.store, &dir, version).await?;
                let location = checkpoint::location(&dir, version).to_string();
                self.apply_lines(&lines, &location, &mut snapshot)?;
                snapshot.version = Some(version);
                version + 1
            }
            None => 0,
        };
        // Entries from `start` on: a listing that begins after the checkpoint's own entry.
        let offset = start.checked_sub(1).map(|v| self.entry(v));
        let listed: Vec<_> = match &offset {
            Some(offset) => self.store.list_with_offset(Some(&dir), offset),
            None => self.store.list(Some(&dir)),
        }
        .try_collect()
        .await
        .map_err(store_error("list", &dir))?;
        let mut versions: Vec<u64> = listed
            .iter()
            .filter_map(|meta| meta.location.filename())
            .filter_map(|name| name.strip_suffix(".json"))
            .filter(|stem| stem.len() == 20)
            .filter_map(|stem| stem.parse().ok())
            .filter(|version| *version >= start)
            .collect();
        versions.sort_unstable();
        for (expected, version) in (start..).zip(versions) {
            if version != expected {
                return Err(self.unsupported(format!(
                    "entry {expected} is missing, and no checkpoint covers it"
                )));
            }
            self.apply(version, &mut snapshot).await?;
        }
        Ok(snapshot)
    }

    async fn apply(&self, version: u64, snapshot: &mut Snapshot) -> Result<(), LogError> {
        let location = self.entry(version);
        let bytes = read_whole(&self.store, &location).await?;
        self.apply_lines(&bytes, location.as_ref(), snapshot)?;
        snapshot.version = Some(version);
        Ok(())
    }

    /// Applies actions, one JSON object a line: a log entry's, or a checkpoint's rows.
    fn apply_lines(
        &self,
        bytes: &[u8],
        location: &str,
        snapshot: &mut Snapshot,
    ) -> Result<(), LogError> {
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
                snapshot.protocol = Some(protocol);
            }
            if let Some(metadata) = action.meta_data {
                snapshot.metadata = Some(metadata);
            }
            if let Some(txn) = action.txn {
                snapshot.txns.insert(txn.app_id, txn.version);
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
                    stats: add.stats,
                    modification_time: add.modification_time,
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
        self.commit(|snapshot| {
            let mut actions = vec![commit_info(replacement)];
            actions.extend(self.table_actions(
                snapshot,
                &schema_string,
                replacement.partition_column,
            )?);
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
            actions.extend(add_actions(replacement.adds, replacement.partition_column));
            Ok((actions, removed))
        })
        .await
    }

    /// Commits `append` as the next version: its files added, its transactions moved forward.
    /// Retries against the new log when another writer took the version first, unless that
    /// writer committed for one of `append`'s transactions. Every [`CHECKPOINT_INTERVAL`]th
    /// version also gets a checkpoint (best effort: a failed one is logged, the commit stands).
    pub async fn append(&self, append: &Append<'_>) -> Result<u64, LogError> {
        let schema_string = delta_schema(append.schema)?.to_string();
        let (version, ()) = self
            .commit(|snapshot| {
                for txn in append.transactions {
                    let found = snapshot.txn_version(&txn.app_id);
                    if found != txn.expected {
                        return Err(LogError::TransactionConflict {
                            root: self.root.to_string(),
                            app_id: txn.app_id.clone(),
                            expected: txn.expected,
                            found,
                        });
                    }
                }
                let now = now_ms();
                let mut actions = vec![json!({"commitInfo": {
                    "timestamp": now,
                    "operation": "STREAMING UPDATE",
                    "operationParameters": {"outputMode": "Append"},
                    "engineInfo": concat!("pvflow/", env!("CARGO_PKG_VERSION")),
                    "pvflowWriter": append.writer,
                }})];
                actions.extend(self.table_actions(
                    snapshot,
                    &schema_string,
                    append.partition_column,
                )?);
                actions.extend(append.transactions.iter().map(|txn| {
                    json!({"txn": Txn {
                        app_id: txn.app_id.clone(),
                        version: txn.version,
                        last_updated: Some(now),
                    }})
                }));
                actions.extend(add_actions(append.adds, append.partition_column));
                Ok((actions, ()))
            })
            .await?;
        if version > 0 && version % CHECKPOINT_INTERVAL == 0 {
            let dir = self.root.clone().join(LOG_DIR);
            let written = match self.snapshot().await {
                Ok(snapshot) => checkpoint::write(&self.store, &dir, &snapshot).await,
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                tracing::warn!(root = %self.root, version, error = %e, "could not write a checkpoint");
            }
        }
        Ok(version)
    }

    /// The protocol and metadata a commit adds: both for a new table, the new schema when it
    /// changed (as Delta's schema overwrite does), nothing otherwise.
    fn table_actions(
        &self,
        snapshot: &Snapshot,
        schema_string: &str,
        partition_column: &str,
    ) -> Result<Vec<Value>, LogError> {
        Ok(match &snapshot.metadata {
            None => vec![
                json!({"protocol": Protocol {
                    min_reader_version: 1,
                    min_writer_version: 2,
                }}),
                json!({"metaData": Metadata::new(
                    uuid::Uuid::new_v4().to_string(),
                    schema_string.to_string(),
                    partition_column,
                )}),
            ],
            Some(current) if current.partition_columns != [partition_column] => {
                return Err(self.unsupported(format!(
                    "it is partitioned by {:?}, the commit by {partition_column}",
                    current.partition_columns
                )));
            }
            Some(current) if current.schema_string != schema_string => {
                let mut changed = current.clone();
                changed.schema_string = schema_string.to_string();
                vec![json!({ "metaData": changed })]
            }
            Some(_) => Vec::new(),
        })
    }

    /// Writes the actions `actions_for` makes of the current log as its next version, with
    /// put-if-absent; when another writer took that version first, reads the log again and
    /// retries.
    async fn commit<T>(
        &self,
        mut actions_for: impl FnMut(&Snapshot) -> Result<(Vec<Value>, T), LogError>,
    ) -> Result<(u64, T), LogError> {
        for _ in 0..COMMIT_ATTEMPTS {
            let snapshot = self.snapshot().await?;
            let version = snapshot.version.map_or(0, |v| v + 1);
            let (actions, outcome) = actions_for(&snapshot)?;
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
                Ok(_) => return Ok((version, outcome)),
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

/// The add actions of `files`, with their statistics.
fn add_actions<'a>(
    files: &'a [NewFile],
    partition_column: &'a str,
) -> impl Iterator<Item = Value> + 'a {
    let now = now_ms();
    files.iter().map(move |file| {
        let stats = json!({"numRecords": file.rows, "nullCount": file.null_counts});
        json!({"add": Add {
            path: file.path.clone(),
            partition_values: BTreeMap::from([(
                partition_column.to_string(),
                Some(file.partition.clone()),
            )]),
            size: file.size,
            modification_time: now,
            data_change: true,
            stats: Some(stats.to_string()),
        }})
    })
}

/// The whole object at `location` (a log entry, a checkpoint).
async fn read_whole(
    store: &Arc<dyn ObjectStore>,
    location: &Path,
) -> Result<bytes::Bytes, LogError> {
    store
        .get(location)
        .await
        .map_err(store_error("read", location))?
        .bytes()
        .await
        .map_err(store_error("read", location))
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

/// A log line: one action, under its name. Actions pvflow does not use (cdc, ...) are skipped.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Action {
    protocol: Option<Protocol>,
    meta_data: Option<Metadata>,
    add: Option<Add>,
    remove: Option<Remove>,
    txn: Option<Txn>,
    commit_info: Option<serde_json::Map<String, Value>>,
}

/// An application transaction: how far writer `app_id` got.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Txn {
    app_id: String,
    version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_updated: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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
    use datafusion::arrow::array::RecordBatch;
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

    fn txn(app_id: &str, expected: Option<i64>, version: i64) -> AppTransaction {
        AppTransaction {
            app_id: app_id.into(),
            expected,
            version,
        }
    }

    async fn append(
        log: &DeltaLog,
        adds: &[NewFile],
        txns: &[AppTransaction],
    ) -> Result<u64, LogError> {
        log.append(&Append {
            schema: &schema(),
            partition_column: "date",
            adds,
            transactions: txns,
            writer: "test",
        })
        .await
    }

    #[tokio::test]
    async fn appends_move_transactions_and_refuse_a_writer_that_lost_ownership() {
        let log = DeltaLog::new(Arc::new(InMemory::new()), Path::from("live"));
        let a = file("date=2026-06-01/a.parquet", "2026-06-01");
        assert_eq!(
            append(&log, &[a], &[txn("p0", None, 41)])
                .await
                .expect("v0"),
            0
        );
        let b = file("date=2026-06-01/b.parquet", "2026-06-01");
        let v1 = append(&log, &[b], &[txn("p0", Some(41), 99), txn("p1", None, 7)]).await;
        assert_eq!(v1.expect("v1"), 1);
        let snapshot = log.snapshot().await.expect("snapshot");
        assert_eq!(snapshot.txn_version("p0"), Some(99));
        assert_eq!(snapshot.txn_version("p1"), Some(7));
        assert_eq!(snapshot.txn_version("p2"), None);
        // Appends add; nothing is replaced.
        assert_eq!(snapshot.files_in("2026-06-01").count(), 2);

        // A writer that still believes p0 is at 41 has lost it to the one that took it to 99.
        let stale = file("date=2026-06-01/stale.parquet", "2026-06-01");
        let e = append(&log, &[stale], &[txn("p0", Some(41), 120)])
            .await
            .expect_err("p0 moved on");
        assert!(
            matches!(
                &e,
                LogError::TransactionConflict {
                    found: Some(99),
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(log.snapshot().await.expect("snapshot").version, Some(1));
    }

    #[tokio::test]
    async fn a_checkpoint_stands_for_the_entries_before_it() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let log = DeltaLog::new(Arc::clone(&store), Path::from("live"));
        let mut expected = None;
        for i in 0..12_i64 {
            let add = file(&format!("date=2026-06-01/{i}.parquet"), "2026-06-01");
            append(&log, &[add], &[txn("p0", expected, i * 10)])
                .await
                .expect("append");
            expected = Some(i * 10);
        }
        let before = log.snapshot().await.expect("snapshot");
        assert!(
            store
                .head(
                    &log.root
                        .clone()
                        .join(LOG_DIR)
                        .join("00000000000000000010.checkpoint.parquet")
                )
                .await
                .is_ok()
        );
        // Entries up to the checkpoint's may go (as log retention removes them): a reader needs
        // only the checkpoint and what follows it.
        for version in 0..=CHECKPOINT_INTERVAL {
            store.delete(&log.entry(version)).await.expect("delete");
        }
        let after = log.snapshot().await.expect("from the checkpoint");
        assert_eq!(after.version, Some(11));
        assert_eq!(after.txn_version("p0"), Some(110));
        assert_eq!(
            after.files().collect::<Vec<_>>(),
            before.files().collect::<Vec<_>>()
        );
        assert_eq!(after.files().next().and_then(|f| f.rows), Some(3));
        assert_eq!(after.metadata, before.metadata);
    }

    /// delta-rs, a second reader of the log, starts from pvflow's checkpoint and sees the same
    /// files, rows and application transactions.
    #[tokio::test]
    async fn delta_rs_reads_a_checkpointed_table_and_its_transactions() {
        use datafusion::arrow::array::{StringArray, TimestampMillisecondArray};
        let dir = tempfile::tempdir().expect("dir");
        let store: Arc<dyn ObjectStore> = Arc::new(
            object_store::local::LocalFileSystem::new_with_prefix(dir.path()).expect("store"),
        );
        let log = DeltaLog::new(Arc::clone(&store), Path::from("live"));
        let file_schema = Arc::new(Schema::new(vec![
            Field::new("device_id", DataType::Utf8, false),
            Field::new(
                "window_start",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
        ]));
        let mut expected = None;
        for i in 0..12_i64 {
            let batch = RecordBatch::try_new(
                Arc::clone(&file_schema),
                vec![
                    Arc::new(StringArray::from(vec![format!("dev-{i}")])),
                    Arc::new(
                        TimestampMillisecondArray::from(vec![1_780_272_000_000 + i * 1_280_000])
                            .with_timezone("UTC"),
                    ),
                ],
            )
            .expect("batch");
            let mut writer =
                parquet::arrow::ArrowWriter::try_new(Vec::new(), Arc::clone(&file_schema), None)
                    .expect("writer");
            writer.write(&batch).expect("write");
            let bytes = writer.into_inner().expect("parquet");
            let path = format!("date=2026-06-01/part-{i}.parquet");
            let size = bytes.len() as u64;
            store
                .put(&Path::from(format!("live/{path}")), bytes.into())
                .await
                .expect("put");
            let add = NewFile {
                path,
                partition: "2026-06-01".into(),
                size,
                rows: 1,
                null_counts: BTreeMap::new(),
            };
            let version = 1_000 + i;
            append(
                &log,
                &[add],
                &[txn("pvflow-stream/pv.readings/0", expected, version)],
            )
            .await
            .expect("append");
            expected = Some(version);
        }
        // Without the entries the checkpoint stands for, delta-rs must start from it.
        for version in 0..=CHECKPOINT_INTERVAL {
            store.delete(&log.entry(version)).await.expect("delete");
        }
        let python = std::process::Command::new(pvflow_testkit::delta_python().expect("deltalake"))
            .arg(pvflow_testkit::repo_file("tests/read_delta.py"))
            .arg(dir.path().join("live"))
            .arg("pvflow-stream/pv.readings/0")
            .output()
            .expect("read_delta.py runs");
        assert!(
            python.status.success(),
            "{}",
            String::from_utf8_lossy(&python.stderr)
        );
        let seen: Value = serde_json::from_slice(&python.stdout).expect("JSON");
        assert_eq!(seen["version"], 11, "{seen}");
        assert_eq!(seen["rows"], 12, "{seen}");
        assert_eq!(seen["files"].as_array().map(Vec::len), Some(12), "{seen}");
        assert_eq!(
            seen["transactions"]["pvflow-stream/pv.readings/0"], 1_011,
            "{seen}"
        );
        assert!(
            dir.path()
                .join("live/_delta_log/00000000000000000010.checkpoint.parquet")
                .exists()
        );
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
