//! The live table: every window the stream closed, with its diagnosis, appended as Delta
//! commits that also record each Kafka partition's progress, exactly once.
//!
//! One commit holds the Parquet files of the windows closed since the last (one per date) and,
//! per Kafka partition, three application transactions (Delta's `txn`), all in one put-if-absent
//! log entry:
//!
//! - `pvflow-stream/<topic>/<partition>`: the last offset taken (the issue's "version = the last
//!   offset included"); a writer whose expected version is not the log's has lost the
//!   partition to another, and its commit is refused;
//! - `.../resume`: the offset from which the open windows can be rebuilt (the smallest offset
//!   among their readings);
//! - `.../open-since`: the start (ms) of the oldest open window: windows from there on that the
//!   table has are not written again when their readings are read again;
//! - `.../episodes`: which file holds the partition's devices' fault episodes as of this commit
//!   (`_pvflow_episodes/<topic>/<partition>/<version as hex>.json`, written before the log
//!   entry under a random name, so that a writer that lost the partition cannot overwrite it).
//!
//! Files are written before the log entry; a crash between the two leaves files the log does
//! not name, which no reader sees.

use crate::episodes::PartitionEpisodes;
use datafusion::arrow::array::{AsArray, Date32Array, RecordBatch};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Field, Int32Type, Schema, SchemaRef, TimestampMillisecondType,
};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use pvflow_dataset::{AppTransaction, Append, DeltaLog, NewFile, open_root, path_under};
use pvflow_episodes::EpisodeRecord;
use std::collections::HashSet;
use std::sync::Arc;

/// The live table's partition column.
const DATE: &str = "date";
/// Where the partitions' fault episodes are kept, beside the data.
const EPISODES_DIR: &str = "_pvflow_episodes";
/// The application transaction naming a partition's episodes file.
const EPISODES: &str = "/episodes";
/// The quarantine's application transaction of a partition.
const QUARANTINED: &str = "/quarantined";

/// How far one Kafka partition got, as a commit records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionProgress {
    /// The last offset taken.
    pub consumed: i64,
    /// Where to read from to rebuild the open windows.
    pub resume: i64,
    /// The oldest open window's start (ms), if any is open.
    pub open_since: Option<i64>,
    /// The file of the partition's fault episodes, if any commit wrote one.
    pub episodes: Option<i64>,
}

/// The live table at one root.
#[derive(Debug, Clone)]
pub struct LiveTable {
    store: Arc<dyn ObjectStore>,
    root: Path,
    url: String,
    topic: String,
}

impl LiveTable {
    /// The table at `url` (a directory, `file://` or `s3://`) of the stream reading `topic`.
    pub fn open(runtime: &RuntimeEnv, url: &str, topic: &str) -> Result<LiveTable> {
        let (store, root) = open_root(runtime, url)?;
        Ok(LiveTable {
            store,
            root,
            url: url.into(),
            topic: topic.into(),
        })
    }

    fn log(&self) -> DeltaLog {
        DeltaLog::new(Arc::clone(&self.store), self.root.clone())
    }

    fn app_id(&self, partition: i32, part: &str) -> String {
        app_id(&self.topic, partition, part)
    }

    /// The Kafka partition of `topic` an application transaction of the stream's names.
    pub(crate) fn partition_of(app_id: &str, topic: &str) -> Option<i32> {
        let rest = app_id.strip_prefix("pvflow-stream/")?.strip_prefix(topic)?;
        let partition = rest.strip_prefix('/')?;
        partition.split('/').next()?.parse().ok()
    }

    /// What earlier commits recorded for `partition`; `None` if none ever committed for it.
    pub async fn progress(&self, partition: i32) -> Result<Option<PartitionProgress>> {
        let snapshot = self.log().snapshot().await.map_err(external)?;
        let version = |part: &str| snapshot.txn_version(&self.app_id(partition, part));
        Ok(version("").map(|consumed| PartitionProgress {
            consumed,
            resume: version("/resume").unwrap_or(consumed + 1),
            open_since: version("/open-since").filter(|since| *since >= 0),
            episodes: version(EPISODES),
        }))
    }

    fn episodes_path(&self, partition: i32, id: i64) -> Path {
        episodes_path(&self.root, &format!("{}/{partition}", self.topic), id)
    }

    /// Writes `episodes` of `partition` under a new name, for a commit to record; returns it.
    pub async fn write_episodes(
        &self,
        partition: i32,
        episodes: &PartitionEpisodes,
    ) -> Result<i64> {
        let id = (uuid::Uuid::new_v4().as_u64_pair().0 >> 1) as i64;
        let json =
            serde_json::to_vec(episodes).map_err(|e| DataFusionError::External(Box::new(e)))?;
        self.store
            .put(&self.episodes_path(partition, id), json.into())
            .await
            .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
        Ok(id)
    }

    /// The fault episodes of `partition` as `progress` records them.
    pub async fn episodes(
        &self,
        partition: i32,
        progress: Option<&PartitionProgress>,
    ) -> Result<PartitionEpisodes> {
        match progress.and_then(|p| p.episodes) {
            Some(id) => read_episodes(&self.store, &self.episodes_path(partition, id)).await,
            None => Ok(PartitionEpisodes::default()),
        }
    }

    /// Deletes a file of episodes no commit records any longer. A reader of an older snapshot
    /// that misses it reads the log again.
    pub async fn forget_episodes(&self, partition: i32, id: i64) {
        if let Err(e) = self.store.delete(&self.episodes_path(partition, id)).await {
            tracing::warn!(partition, error = %e, "could not delete a superseded episodes file");
        }
    }

    /// Appends `rows` (the diagnosed windows, as [`crate::diagnose`] gives them) and moves each
    /// partition of `progress` from what the writer last read (`expected`) to its new value, in
    /// one commit. Refused if another writer committed for one of those partitions meanwhile.
    pub async fn commit(
        &self,
        rows: &[RecordBatch],
        progress: &[(i32, Option<PartitionProgress>, PartitionProgress)],
        writer: &str,
    ) -> Result<u64> {
        let mut transactions = Vec::new();
        for (partition, expected, now) in progress {
            for (part, old, new) in [
                ("", expected.map(|p| p.consumed), now.consumed),
                ("/resume", expected.map(|p| p.resume), now.resume),
                (
                    "/open-since",
                    expected.map(|p| p.open_since.unwrap_or(-1)),
                    now.open_since.unwrap_or(-1),
                ),
            ] {
                transactions.push(AppTransaction {
                    app_id: self.app_id(*partition, part),
                    expected: old,
                    version: new,
                });
            }
            if let Some(episodes) = now.episodes {
                transactions.push(AppTransaction {
                    app_id: self.app_id(*partition, EPISODES),
                    expected: expected.and_then(|p| p.episodes),
                    version: episodes,
                });
            }
        }
        append_dated(&self.store, &self.root, rows, &transactions, writer).await
    }

    /// The windows (device, start in ms) of Kafka partition `partition` from `since_ms` on
    /// that the table has: those an earlier run wrote.
    pub async fn written_since(
        &self,
        partition: i32,
        since_ms: i64,
    ) -> Result<HashSet<(String, i64)>> {
        let snapshot = self.log().snapshot().await.map_err(external)?;
        let first_day = date_text((since_ms.div_euclid(86_400_000)) as i32)?;
        let mut written = HashSet::new();
        for file in snapshot.files().filter(|f| f.partition >= first_day) {
            let location = path_under(&self.root, &file.path);
            let bytes = self
                .store
                .get(&location)
                .await
                .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?
                .bytes()
                .await
                .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
            for batch in ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()? {
                let batch = batch?;
                let device = batch
                    .column_by_name("device_id")
                    .map(|c| c.as_string::<i32>());
                let start = batch
                    .column_by_name("window_start")
                    .map(|c| c.as_primitive::<TimestampMillisecondType>());
                let from = batch
                    .column_by_name("kafka_partition")
                    .map(|c| c.as_primitive::<Int32Type>());
                let (Some(device), Some(start), Some(from)) = (device, start, from) else {
                    return Err(DataFusionError::Execution(format!(
                        "{} has no device_id, window_start and kafka_partition: not a live table's file",
                        file.path
                    )));
                };
                for row in 0..batch.num_rows() {
                    if from.value(row) == partition && start.value(row) >= since_ms {
                        written.insert((device.value(row).to_string(), start.value(row)));
                    }
                }
            }
        }
        Ok(written)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The stream's quarantine beside the live table.
    pub fn quarantine(&self) -> QuarantineTable {
        QuarantineTable {
            store: Arc::clone(&self.store),
            root: path_under(&self.root, pvflow_dataset::layout::QUARANTINE_DIR),
            topic: self.topic.clone(),
        }
    }
}

/// Messages the stream could not read (the batch's quarantine columns and a `date`, of the
/// Kafka timestamp), a Delta table of its own under the live table (`_quarantine/`, the table
/// `live_quarantine` of every session). Each append records per Kafka partition the last offset
/// it quarantined (`pvflow-stream/<topic>/<partition>/quarantined`), so messages read again to
/// rebuild windows are not quarantined twice, and a writer that lost the partition is refused.
#[derive(Debug, Clone)]
pub struct QuarantineTable {
    store: Arc<dyn ObjectStore>,
    root: Path,
    topic: String,
}

impl QuarantineTable {
    fn log(&self) -> DeltaLog {
        DeltaLog::new(Arc::clone(&self.store), self.root.clone())
    }

    fn app_id(&self, partition: i32) -> String {
        app_id(&self.topic, partition, QUARANTINED)
    }

    /// The last offset of `partition` quarantined, if any was.
    pub async fn quarantined_through(&self, partition: i32) -> Result<Option<i64>> {
        let snapshot = self.log().snapshot().await.map_err(external)?;
        Ok(snapshot.txn_version(&self.app_id(partition)))
    }

    /// Appends `messages` (the decoders' quarantine rows) and moves each partition of `through`
    /// from the last offset the writer knew quarantined to its new one, in one commit.
    pub async fn append(
        &self,
        messages: &[RecordBatch],
        through: &[(i32, Option<i64>, i64)],
        writer: &str,
    ) -> Result<u64> {
        let dated = messages.iter().map(with_date).collect::<Result<Vec<_>>>()?;
        let transactions: Vec<AppTransaction> = through
            .iter()
            .map(|(partition, expected, now)| AppTransaction {
                app_id: self.app_id(*partition),
                expected: *expected,
                version: *now,
            })
            .collect();
        append_dated(&self.store, &self.root, &dated, &transactions, writer).await
    }
}

/// `messages` with a `date` column: the day of their Kafka timestamp (of the epoch if none).
fn with_date(messages: &RecordBatch) -> Result<RecordBatch> {
    let timestamps = messages
        .column_by_name(pvflow_kafka::KAFKA_TIMESTAMP)
        .ok_or_else(|| DataFusionError::Internal("quarantined messages have no timestamp".into()))?
        .as_primitive::<TimestampMillisecondType>();
    let days: Date32Array = timestamps
        .iter()
        .map(|t| Some(t.unwrap_or(0).div_euclid(86_400_000) as i32))
        .collect();
    let mut fields: Vec<_> = messages.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(DATE, DataType::Date32, false)));
    let mut columns = messages.columns().to_vec();
    columns.push(Arc::new(days));
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Every device's open fault episode in the live table at `url`, from the episodes files its
/// last commit records for each partition of each topic streamed into it.
pub async fn open_episodes(runtime: &RuntimeEnv, url: &str) -> Result<Vec<EpisodeRecord>> {
    let (store, root) = open_root(runtime, url)?;
    let log = DeltaLog::new(Arc::clone(&store), root.clone());
    let window_ms = pvflow_udfs::WINDOW_SECONDS * 1000;
    // A file superseded between reading the log and reading the file: read the log again.
    let mut attempts = 0;
    'snapshot: loop {
        attempts += 1;
        let snapshot = log.snapshot().await.map_err(external)?;
        let mut open = Vec::new();
        for (app_id, id) in snapshot.transactions() {
            let Some(topic_partition) = app_id
                .strip_prefix("pvflow-stream/")
                .and_then(|rest| rest.strip_suffix(EPISODES))
            else {
                continue;
            };
            match read_episodes(&store, &episodes_path(&root, topic_partition, id)).await {
                Ok(episodes) => open.extend(
                    episodes
                        .open()
                        .map(|(device, episode)| episode.record(device, window_ms)),
                ),
                Err(DataFusionError::ObjectStore(e))
                    if matches!(*e, object_store::Error::NotFound { .. }) && attempts < 3 =>
                {
                    continue 'snapshot;
                }
                Err(e) => return Err(e),
            }
        }
        return Ok(open);
    }
}

async fn read_episodes(store: &Arc<dyn ObjectStore>, path: &Path) -> Result<PartitionEpisodes> {
    let bytes = store
        .get(path)
        .await
        .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?
        .bytes()
        .await
        .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        DataFusionError::Execution(format!("{path} is not a file of fault episodes: {e}"))
    })
}

/// One Parquet file per date of `rows`, without the date column (its directory says it).
/// The stream's application transaction `part` of `topic`'s `partition`
/// (`pvflow-stream/<topic>/<partition><part>`), as [`LiveTable::partition_of`] reads it.
fn app_id(topic: &str, partition: i32, part: &str) -> String {
    format!("pvflow-stream/{topic}/{partition}{part}")
}

/// The file of episodes `id` of `topic_partition` (`<topic>/<partition>`) under `root`.
fn episodes_path(root: &Path, topic_partition: &str, id: i64) -> Path {
    path_under(
        root,
        &format!("{EPISODES_DIR}/{topic_partition}/{id:016x}.json"),
    )
}

/// Writes `rows` (with a `date` column; at least one batch, for the schema) as a file per date
/// under `root` and appends them with `transactions` to its log, in one commit.
async fn append_dated(
    store: &Arc<dyn ObjectStore>,
    root: &Path,
    rows: &[RecordBatch],
    transactions: &[AppTransaction],
    writer: &str,
) -> Result<u64> {
    let Some(schema) = rows.first().map(RecordBatch::schema) else {
        return Err(DataFusionError::Internal(
            "an append needs the rows' schema, even with no rows".into(),
        ));
    };
    let adds = write_date_files(store, root, &schema, rows).await?;
    DeltaLog::new(Arc::clone(store), root.clone())
        .append(&Append {
            schema: &schema,
            partition_column: DATE,
            adds: &adds,
            transactions,
            writer,
        })
        .await
        .map_err(external)
}

async fn write_date_files(
    store: &Arc<dyn ObjectStore>,
    root: &Path,
    schema: &SchemaRef,
    rows: &[RecordBatch],
) -> Result<Vec<NewFile>> {
    let all = concat_batches(schema, rows)?;
    if all.num_rows() == 0 {
        return Ok(Vec::new());
    }
    let date_index = schema.index_of(DATE)?;
    let days = all.column(date_index).as_primitive::<Date32Type>();
    let mut dates: Vec<i32> = days.iter().flatten().collect();
    dates.sort_unstable();
    dates.dedup();
    let keep: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| i != date_index)
        .collect();
    let mut adds = Vec::with_capacity(dates.len());
    for day in dates {
        let mask = days.iter().map(|d| Some(d == Some(day))).collect();
        let part = filter_record_batch(&all, &mask)?.project(&keep)?;
        let mut writer = ArrowWriter::try_new(Vec::new(), part.schema(), None)?;
        writer.write(&part)?;
        let bytes = writer.into_inner()?;
        let partition = date_text(day)?;
        let path = format!(
            "{DATE}={partition}/part-{}.parquet",
            uuid::Uuid::new_v4().simple()
        );
        let size = bytes.len() as u64;
        let location = path_under(root, &path);
        store
            .put(&location, bytes.into())
            .await
            .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
        let null_counts = part
            .schema()
            .fields()
            .iter()
            .zip(part.columns())
            .filter(|(field, _)| field.is_nullable())
            .map(|(field, column)| (field.name().clone(), column.null_count() as i64))
            .collect();
        adds.push(NewFile {
            path,
            partition,
            size,
            rows: part.num_rows() as i64,
            null_counts,
        });
    }
    Ok(adds)
}

fn date_text(days: i32) -> Result<String> {
    chrono::DateTime::from_timestamp(i64::from(days) * 86_400, 0)
        .map(|t| t.date_naive().to_string())
        .ok_or_else(|| DataFusionError::Execution(format!("day {days} is out of range")))
}

fn external(e: pvflow_dataset::LogError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        Date32Array, Int32Array, StringArray, TimestampMillisecondArray,
    };
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::prelude::SessionContext;

    const START: i64 = 1_780_272_640_000;

    fn rows(windows: &[(&str, i64, i32)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("device_id", DataType::Utf8, false),
            Field::new(
                "window_start",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            Field::new(DATE, DataType::Date32, false),
            Field::new("kafka_partition", DataType::Int32, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(windows.iter().map(|w| w.0))),
                Arc::new(
                    TimestampMillisecondArray::from_iter_values(windows.iter().map(|w| w.1))
                        .with_timezone("UTC"),
                ),
                Arc::new(Date32Array::from_iter_values(
                    windows.iter().map(|w| w.1.div_euclid(86_400_000) as i32),
                )),
                Arc::new(Int32Array::from_iter_values(windows.iter().map(|w| w.2))),
            ],
        )
        .expect("rows")
    }

    #[tokio::test]
    async fn commits_record_each_partitions_progress_and_refuse_a_writer_that_lost_it() {
        let dir = tempfile::tempdir().expect("dir");
        let url = dir.path().join("live").display().to_string();
        let table = LiveTable::open(&SessionContext::new().runtime_env(), &url, "pv.readings")
            .expect("table");
        assert_eq!(table.progress(0).await.expect("progress"), None);
        let first = PartitionProgress {
            consumed: 99,
            resume: 40,
            open_since: Some(START + 1_280_000),
            episodes: None,
        };
        // Windows of two days in one commit: a file each.
        let day_two = START + 86_400_000;
        table
            .commit(
                &[rows(&[("a", START, 0), ("b", day_two, 0)])],
                &[(0, None, first)],
                "w1",
            )
            .await
            .expect("first commit");
        assert_eq!(table.progress(0).await.expect("progress"), Some(first));
        let second = PartitionProgress {
            consumed: 150,
            resume: 151,
            open_since: None,
            episodes: None,
        };
        table
            .commit(
                &[rows(&[("a", START + 1_280_000, 0)])],
                &[(0, Some(first), second)],
                "w1",
            )
            .await
            .expect("second commit");
        assert_eq!(table.progress(0).await.expect("progress"), Some(second));

        // A writer that still believes partition 0 is where it was first is refused.
        let stale = table
            .commit(
                &[rows(&[("z", START, 0)])],
                &[(0, Some(first), second)],
                "w2",
            )
            .await
            .expect_err("partition 0 moved on");
        assert!(stale.to_string().contains("no longer owns it"), "{stale}");

        assert_eq!(
            LiveTable::partition_of("pvflow-stream/pv.readings/7/resume", "pv.readings"),
            Some(7)
        );
        assert_eq!(
            LiveTable::partition_of("pvflow-stream/pv.readings/7", "pv.readings"),
            Some(7)
        );
        assert_eq!(
            LiveTable::partition_of("pvflow-stream/pv.other/7", "pv.readings"),
            None
        );

        let written = table.written_since(0, START + 1).await.expect("written");
        let mut written: Vec<_> = written.into_iter().collect();
        written.sort();
        assert_eq!(
            written,
            [
                ("a".to_string(), START + 1_280_000),
                ("b".to_string(), day_two)
            ]
        );
        assert!(
            table
                .written_since(1, START)
                .await
                .expect("none")
                .is_empty()
        );
    }

    #[tokio::test]
    async fn each_commit_names_its_partitions_episodes_file() {
        let dir = tempfile::tempdir().expect("dir");
        let url = dir.path().join("live").display().to_string();
        let runtime = SessionContext::new().runtime_env();
        let table = LiveTable::open(&runtime, &url, "pv.readings").expect("table");
        let episodes = crate::episodes::tests::one_open_episode("inv-7");
        let id = table.write_episodes(2, &episodes).await.expect("written");
        let progress = PartitionProgress {
            consumed: 10,
            resume: 11,
            open_since: None,
            episodes: Some(id),
        };
        // Not committed yet: no reader sees it.
        assert!(
            open_episodes(&runtime, &url)
                .await
                .expect("read")
                .is_empty()
        );
        table
            .commit(&[rows(&[])], &[(2, None, progress)], "w1")
            .await
            .expect("commit");
        let recorded = table.progress(2).await.expect("progress");
        assert_eq!(recorded, Some(progress));
        assert_eq!(
            table
                .episodes(2, recorded.as_ref())
                .await
                .expect("episodes"),
            episodes
        );
        let open = open_episodes(&runtime, &url).await.expect("read");
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].device_id, "inv-7");
        assert_eq!(open[0].fault_label, "arc_fault");

        // The next commit's file replaces it; the superseded one is deleted.
        let next = PartitionProgress {
            consumed: 20,
            episodes: Some(
                table
                    .write_episodes(2, &PartitionEpisodes::default())
                    .await
                    .expect("written"),
            ),
            ..progress
        };
        table
            .commit(&[rows(&[])], &[(2, Some(progress), next)], "w1")
            .await
            .expect("commit");
        table.forget_episodes(2, id).await;
        assert!(
            open_episodes(&runtime, &url)
                .await
                .expect("read")
                .is_empty()
        );
        assert!(table.episodes(2, Some(&progress)).await.is_err());
    }
}
