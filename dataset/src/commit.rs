//! The commit: only the files tasks reported become visible, and a day's files all at once.
//!
//! Files move from the run's staging into their partition directories under names no other run
//! uses, so the previous output stays readable beside them; then one entry in the dataset's
//! [`DeltaLog`] swaps the day's old files for the new ones, and the old files are deleted. The
//! same steps work on local directories and on object stores, where a move is a copy.
//!
//! Readers that take their files from the log (pvflow's, and any Delta reader) never see a
//! mix. A plain listing of a day's directory matches the log except during a commit's moves
//! and deletes (milliseconds locally). A run that crashes between moving and logging, or whose
//! store fails there, leaves its moved files outside the log until a later commit of their day
//! finds them a day old and deletes them.

use crate::delta_log::{DeltaLog, LogError, NewFile, PartitionReplacement};
use crate::{StagedTarget, layout, path_under};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Int64Type, Schema};
use datafusion::datasource::listing::ListingTableUrl;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::file::metadata::ParquetMetaDataReader;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("cannot {action} {path}: {source}")]
    Store {
        action: &'static str,
        path: String,
        source: object_store::Error,
    },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("a task's report of its files is invalid: {0}")]
    Report(String),
}

/// One file a task wrote, as it reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenFile {
    /// The partition value (`YYYY-MM-DD`).
    pub partition: String,
    /// Relative to the dataset root: in staging before the commit, final after it.
    pub path: String,
    pub rows: i64,
    /// NULLs per nullable column.
    pub null_counts: BTreeMap<String, i64>,
}

/// The files a staged write's output rows report.
pub fn written_files(batches: &[RecordBatch]) -> Result<Vec<WrittenFile>, CommitError> {
    let mut files = Vec::new();
    for batch in batches {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| CommitError::Report(format!("no column {name}")))
        };
        let (Some(partition), Some(path), Some(rows), Some(null_counts)) = (
            column("partition")?.as_string_opt::<i32>(),
            column("path")?.as_string_opt::<i32>(),
            column("rows")?.as_primitive_opt::<Int64Type>(),
            column("null_counts")?.as_map_opt(),
        ) else {
            return Err(CommitError::Report(format!(
                "unexpected column types: {}",
                batch.schema()
            )));
        };
        let (Some(names), Some(counts)) = (
            null_counts.keys().as_string_opt::<i32>(),
            null_counts.values().as_primitive_opt::<Int64Type>(),
        ) else {
            return Err(CommitError::Report(format!(
                "unexpected null_counts type: {}",
                null_counts.data_type()
            )));
        };
        let offsets = null_counts.value_offsets();
        for row in 0..batch.num_rows() {
            let entries = offsets[row] as usize..offsets[row + 1] as usize;
            files.push(WrittenFile {
                partition: partition.value(row).to_string(),
                path: path.value(row).to_string(),
                rows: rows.value(row),
                null_counts: entries
                    .map(|i| (names.value(i).to_string(), counts.value(i)))
                    .collect(),
            });
        }
    }
    Ok(files)
}

/// The Parquet files in `target`'s staging for `partition`, with their rows and the NULLs of
/// each column from their footers: for files tasks wrote beside their query's output (a Kafka
/// scan's quarantine side output), which no staged write reported. Only a complete file has a
/// footer, and object stores show a file only once it is complete.
pub async fn staged_parquet_files(
    store: &Arc<dyn ObjectStore>,
    target: &StagedTarget,
    partition: &str,
) -> Result<Vec<WrittenFile>, CommitError> {
    let root = root_path(&target.root)?;
    let relative_dir = target.staging_partition_dir(partition);
    let dir = path_under(&root, &relative_dir);
    let listed: Vec<_> = store
        .list(Some(&dir))
        .try_collect()
        .await
        .map_err(store_error("list", &dir))?;
    let mut files = Vec::with_capacity(listed.len());
    for object in listed {
        let Some(name) = object.location.filename().map(str::to_string) else {
            continue;
        };
        if !name.ends_with(".parquet") {
            continue;
        }
        // Side-output files are small (a few MiB at most): read whole, then their footer.
        let bytes = store
            .get(&object.location)
            .await
            .map_err(store_error("read", &object.location))?
            .bytes()
            .await
            .map_err(store_error("read", &object.location))?;
        let footer = ParquetMetaDataReader::new()
            .parse_and_finish(&bytes)
            .map_err(|e| CommitError::Report(format!("{}: {e}", object.location)))?;
        let mut null_counts = BTreeMap::new();
        for row_group in footer.row_groups() {
            for column in row_group.columns() {
                let nulls = column
                    .statistics()
                    .and_then(|s| s.null_count_opt())
                    .unwrap_or(0);
                *null_counts
                    .entry(column.column_path().parts()[0].clone())
                    .or_insert(0) += nulls as i64;
            }
        }
        files.push(WrittenFile {
            partition: partition.to_string(),
            path: format!("{relative_dir}/{name}"),
            rows: footer.file_metadata().num_rows(),
            null_counts,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The dataset root `target.root` names, as a path in its store.
fn root_path(root: &str) -> Result<Path, CommitError> {
    ListingTableUrl::parse(root)
        .map(|url| url.prefix().clone())
        .map_err(|e| CommitError::Report(format!("{root} is not a dataset root: {e}")))
}

fn store_error(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(object_store::Error) -> CommitError {
    let path = path.to_string();
    move |source| CommitError::Store {
        action,
        path,
        source,
    }
}

/// Makes `files` the whole content of their partitions, and every partition in `partitions`
/// without files empty (a re-run that finds nothing replaces the old output too), in one log
/// entry. `schema` is the output's, partition column included. Returns the files at their final
/// paths. Files in staging that no task reported (a failed attempt's) go with the staging.
pub async fn commit(
    store: &Arc<dyn ObjectStore>,
    target: &StagedTarget,
    schema: &Schema,
    files: &[WrittenFile],
    partitions: &[String],
) -> Result<Vec<WrittenFile>, CommitError> {
    let root = root_path(&target.root)?;
    let prefix = format!("{}/", target.staging_prefix());
    let directory = |partition: &str| format!("{}={partition}", target.partition_column);
    let mut moves = Vec::with_capacity(files.len());
    for file in files {
        let name = file
            .path
            .strip_prefix(&prefix)
            .and_then(|rest| rest.rsplit('/').next())
            .filter(|name| name.ends_with(".parquet") && !name.contains(".."))
            .ok_or_else(|| {
                CommitError::Report(format!("{} is not a file of this run's staging", file.path))
            })?;
        let committed = WrittenFile {
            path: format!("{}/{name}", directory(&file.partition)),
            ..file.clone()
        };
        moves.push((file, committed));
    }

    let renames: Vec<_> = moves
        .iter()
        .map(|(staged, committed)| {
            let (from, to) = (
                path_under(&root, &staged.path),
                path_under(&root, &committed.path),
            );
            async move {
                store
                    .rename(&from, &to)
                    .await
                    .map_err(store_error("move", &from))?;
                let meta = store.head(&to).await.map_err(store_error("read", &to))?;
                Ok::<_, CommitError>(NewFile {
                    path: committed.path.clone(),
                    partition: committed.partition.clone(),
                    size: meta.size,
                    rows: committed.rows,
                    null_counts: committed.null_counts.clone(),
                })
            }
        })
        .collect();
    // The renames are collected before being awaited: a stream holding the closure would make
    // every future awaiting it, up to a whole plan run, not provably `Send` (rustc cannot see
    // through the closure's higher-ranked borrow).
    let moved = futures::stream::iter(renames)
        .buffer_unordered(CONCURRENT_REQUESTS)
        .try_collect::<Vec<NewFile>>()
        .await;
    let mut all: BTreeSet<String> = partitions.iter().cloned().collect();
    all.extend(files.iter().map(|f| f.partition.clone()));
    let logged = match moved {
        Ok(adds) => DeltaLog::new(Arc::clone(store), root.clone())
            .replace_partitions(&PartitionReplacement {
                schema,
                partition_column: &target.partition_column,
                partitions: &all,
                adds: &adds,
                run_id: &target.run_id,
            })
            .await
            .map_err(CommitError::from),
        Err(e) => Err(e),
    };
    let (version, removed) = match logged {
        Ok(logged) => logged,
        Err(e) => {
            // Nothing refers to the moved files: take them back out of the partitions.
            let moved = moves.iter().map(|(_, c)| path_under(&root, &c.path));
            delete_all(store, moved.collect()).await;
            return Err(e);
        }
    };
    // The old files are out of the log: a reader that listed them before this commit may
    // still be reading, which is why they are deleted only now.
    let mut replaced: Vec<Path> = removed.iter().map(|f| path_under(&root, &f.path)).collect();
    let ours: BTreeSet<Path> = moves
        .iter()
        .map(|(_, c)| path_under(&root, &c.path))
        .collect();
    for partition in &all {
        let day = path_under(&root, &directory(partition));
        replaced.extend(unlogged_files(store, &day, &ours, version == 0).await);
    }
    delete_all(store, replaced).await;
    abort(store, target).await?;
    sweep_stale_staging(store, target).await;
    tracing::info!(root = %target.root, run = %target.run_id, version, partitions = all.len(), files = moves.len(), replaced = removed.len(), "output committed");
    Ok(moves.into_iter().map(|(_, committed)| committed).collect())
}

/// Files of `day` outside the log that the commit deletes, besides those it logged as removed:
/// when this commit `created_log`, every file but `ours` (output of a version without a log);
/// otherwise only stale ones, moved in by a commit whose log entry never came (its store
/// failed between the two) and left there because the store could not take them back out
/// either. Best effort: a failed listing is logged, the commit stands.
async fn unlogged_files(
    store: &Arc<dyn ObjectStore>,
    day: &Path,
    ours: &BTreeSet<Path>,
    created_log: bool,
) -> Vec<Path> {
    let cutoff = crate::delta_log::now_ms() / 1000 - STALE_STAGING_SECONDS;
    let listed: object_store::Result<Vec<_>> = store.list(Some(day)).try_collect().await;
    match listed {
        Ok(listed) => listed
            .into_iter()
            .filter(|meta| !ours.contains(&meta.location))
            .filter(|meta| created_log || meta.last_modified.timestamp() < cutoff)
            .map(|meta| meta.location)
            .collect(),
        Err(e) => {
            tracing::warn!(day = %day, error = %e, "could not list the day's files outside the log");
            Vec::new()
        }
    }
}

/// Requests in flight at once when moving or deleting a run's files.
const CONCURRENT_REQUESTS: usize = 16;

/// Deletes what it can, logging what it cannot: used where the output is already decided.
async fn delete_all(store: &Arc<dyn ObjectStore>, locations: Vec<Path>) {
    let locations = futures::stream::iter(locations.into_iter().map(Ok));
    for e in delete_each(store, locations.boxed()).await {
        tracing::warn!(error = %e, "could not delete a file");
    }
}

/// Deletes every location of `locations`, and returns the failures: a file already gone is
/// not one.
async fn delete_each(
    store: &Arc<dyn ObjectStore>,
    locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
) -> Vec<object_store::Error> {
    store
        .delete_stream(locations)
        .filter_map(|result| async move {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => Some(e),
            }
        })
        .collect()
        .await
}

/// Staging no file of which changed for this long belongs to no live run, and a day's file
/// outside the log this old belongs to no commit under way.
const STALE_STAGING_SECONDS: i64 = 24 * 3600;

/// Deletes other runs' staging left behind: a run killed before it could clean up, or a task
/// of a cancelled run that wrote after its run removed the staging. Nothing reads it, but it
/// takes space. Best effort: a failure is logged, the commit stands.
async fn sweep_stale_staging(store: &Arc<dyn ObjectStore>, target: &StagedTarget) {
    let Ok(root) = root_path(&target.root) else {
        return;
    };
    let staging = path_under(&root, layout::STAGING_DIR);
    let runs = match store.list_with_delimiter(Some(&staging)).await {
        Ok(listed) => listed.common_prefixes,
        Err(e) => {
            tracing::warn!(root = %target.root, error = %e, "could not list old staging");
            return;
        }
    };
    let cutoff = crate::delta_log::now_ms() / 1000 - STALE_STAGING_SECONDS;
    for run in runs {
        let Some(run_id) = run.filename().filter(|id| *id != target.run_id) else {
            continue;
        };
        let newest = store
            .list(Some(&run))
            .try_fold(i64::MIN, |newest, meta| async move {
                Ok(newest.max(meta.last_modified.timestamp()))
            })
            .await;
        // An empty run directory (local disks) counts as stale.
        if matches!(newest, Ok(newest) if newest < cutoff) {
            let stale = StagedTarget {
                run_id: run_id.to_string(),
                ..target.clone()
            };
            match abort(store, &stale).await {
                Ok(()) => {
                    tracing::info!(root = %target.root, run = run_id, "removed stale staging")
                }
                Err(e) => {
                    tracing::warn!(root = %target.root, run = run_id, error = %e, "could not remove stale staging")
                }
            }
        }
    }
}

/// Deletes the run's staging and everything in it: what a failed run calls.
pub async fn abort(store: &Arc<dyn ObjectStore>, target: &StagedTarget) -> Result<(), CommitError> {
    let staging = path_under(&root_path(&target.root)?, &target.staging_prefix());
    delete_prefix(store, &staging).await?;
    // Local disks also have the directories, which moves and deletes leave behind; `_staging`
    // itself goes once no other run uses it.
    if let Some(dir) = url::Url::parse(&target.root)
        .ok()
        .filter(|u| u.scheme() == "file")
        .and_then(|u| u.to_file_path().ok())
        .map(|root| root.join(target.staging_prefix()))
    {
        // On tokio's blocking pool: a run's staging may hold many files.
        match tokio::fs::remove_dir_all(&dir).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(CommitError::Io {
                    action: "delete the staging",
                    path: dir,
                    source: e,
                });
            }
            _ => {
                if let Some(parent) = dir.parent() {
                    let _ = tokio::fs::remove_dir(parent).await;
                }
            }
        }
    }
    Ok(())
}

/// Deletes every object under `prefix`.
async fn delete_prefix(store: &Arc<dyn ObjectStore>, prefix: &Path) -> Result<(), CommitError> {
    let listed = store.list(Some(prefix)).map_ok(|meta| meta.location);
    match delete_each(store, listed.boxed()).await.into_iter().next() {
        Some(source) => Err(CommitError::Store {
            action: "delete",
            path: prefix.to_string(),
            source,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field};
    use object_store::local::LocalFileSystem;

    fn target(root: &std::path::Path, run: &str) -> StagedTarget {
        StagedTarget {
            root: url::Url::from_directory_path(root)
                .expect("absolute")
                .to_string(),
            run_id: run.into(),
            partition_column: "date".into(),
        }
    }

    fn store() -> Arc<dyn ObjectStore> {
        Arc::new(LocalFileSystem::new())
    }

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("device_id", DataType::Utf8, false),
            Field::new("date", DataType::Date32, false),
        ])
    }

    /// A file a task of `run` wrote to staging.
    fn stage(root: &std::path::Path, run: &str, day: &str, name: &str) -> WrittenFile {
        let path = format!("_staging/{run}/date={day}/{name}");
        let full = root.join(&path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(&full, name).expect("write");
        WrittenFile {
            partition: day.into(),
            path,
            rows: 1,
            null_counts: BTreeMap::new(),
        }
    }

    /// Makes `file` look last written two days ago.
    fn two_days_old(file: &std::path::Path) {
        let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(48 * 3600);
        std::fs::File::options()
            .write(true)
            .open(file)
            .and_then(|f| f.set_modified(two_days_ago))
            .expect("backdate");
    }

    fn names(dir: &std::path::Path) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    async fn logged(
        store: &Arc<dyn ObjectStore>,
        root: &std::path::Path,
        day: &str,
    ) -> Vec<String> {
        let root = root_path(&target(root, "any").root).expect("root");
        let snapshot = DeltaLog::new(Arc::clone(store), root)
            .snapshot()
            .await
            .expect("log");
        snapshot.files_in(day).map(|f| f.path.clone()).collect()
    }

    #[tokio::test]
    async fn only_reported_files_are_published_and_a_rerun_replaces_the_day() {
        let dir = tempfile::tempdir().expect("dir");
        let (root, store) = (dir.path(), store());
        let day = "2026-06-01";
        let a = stage(root, "r1", day, "part-a.parquet");
        // A failed attempt's file: written, never reported.
        stage(root, "r1", day, "part-lost.parquet");
        let committed = commit(&store, &target(root, "r1"), &schema(), &[a], &[day.into()])
            .await
            .expect("commit");
        assert_eq!(committed[0].path, "date=2026-06-01/part-a.parquet");
        assert_eq!(names(&root.join("date=2026-06-01")), ["part-a.parquet"]);
        assert_eq!(
            logged(&store, root, day).await,
            ["date=2026-06-01/part-a.parquet"]
        );
        assert!(!root.join("_staging").exists());

        let b = stage(root, "r2", day, "part-b.parquet");
        commit(&store, &target(root, "r2"), &schema(), &[b], &[day.into()])
            .await
            .expect("commit");
        assert_eq!(names(&root.join("date=2026-06-01")), ["part-b.parquet"]);
        assert_eq!(
            logged(&store, root, day).await,
            ["date=2026-06-01/part-b.parquet"]
        );
        // A run that finds nothing for a day it covers empties that day.
        commit(&store, &target(root, "r3"), &schema(), &[], &[day.into()])
            .await
            .expect("commit");
        assert!(names(&root.join("date=2026-06-01")).is_empty());
        assert!(logged(&store, root, day).await.is_empty());
        assert_eq!(names(&root.join("_delta_log")).len(), 3);
    }

    #[tokio::test]
    async fn an_aborted_run_leaves_the_previous_day() {
        let dir = tempfile::tempdir().expect("dir");
        let (root, store) = (dir.path(), store());
        let day = "2026-06-01";
        let a = stage(root, "r1", day, "part-a.parquet");
        commit(&store, &target(root, "r1"), &schema(), &[a], &[day.into()])
            .await
            .expect("commit");
        stage(root, "r2", day, "part-b.parquet");
        abort(&store, &target(root, "r2")).await.expect("abort");
        assert_eq!(names(&root.join("date=2026-06-01")), ["part-a.parquet"]);
        assert_eq!(
            logged(&store, root, day).await,
            ["date=2026-06-01/part-a.parquet"]
        );
        assert!(!root.join("_staging").exists());
    }

    #[tokio::test]
    async fn the_first_commit_replaces_a_day_written_before_the_log() {
        let dir = tempfile::tempdir().expect("dir");
        let (root, store) = (dir.path(), store());
        let day = "2026-06-01";
        std::fs::create_dir_all(root.join("date=2026-06-01")).expect("mkdir");
        std::fs::write(root.join("date=2026-06-01/part-unlogged.parquet"), "x").expect("write");
        let a = stage(root, "r1", day, "part-a.parquet");
        commit(&store, &target(root, "r1"), &schema(), &[a], &[day.into()])
            .await
            .expect("commit");
        assert_eq!(names(&root.join("date=2026-06-01")), ["part-a.parquet"]);
    }

    #[tokio::test]
    async fn a_commit_sweeps_staging_that_no_live_run_owns() {
        let dir = tempfile::tempdir().expect("dir");
        let (root, store) = (dir.path(), store());
        let day = "2026-06-01";
        // A killed run's staging from two days ago, and a run writing now.
        let old = stage(root, "killed", day, "part-old.parquet");
        two_days_old(&root.join(&old.path));
        stage(root, "live", day, "part-live.parquet");
        let a = stage(root, "r1", day, "part-a.parquet");
        commit(&store, &target(root, "r1"), &schema(), &[a], &[day.into()])
            .await
            .expect("commit");
        assert_eq!(names(&root.join("_staging")), ["live"]);
    }

    #[tokio::test]
    async fn a_commit_deletes_its_days_stale_files_outside_the_log() {
        let dir = tempfile::tempdir().expect("dir");
        let (root, store) = (dir.path(), store());
        let day = "2026-06-01";
        let a = stage(root, "r1", day, "part-a.parquet");
        commit(&store, &target(root, "r1"), &schema(), &[a], &[day.into()])
            .await
            .expect("commit");
        // Moved in by a commit whose store failed before its log entry, two days ago; and one
        // a commit under way has just moved in.
        let stale = root.join("date=2026-06-01/part-orphan.parquet");
        std::fs::write(&stale, "x").expect("write");
        two_days_old(&stale);
        std::fs::write(root.join("date=2026-06-01/part-moving.parquet"), "x").expect("write");
        let b = stage(root, "r2", day, "part-b.parquet");
        commit(&store, &target(root, "r2"), &schema(), &[b], &[day.into()])
            .await
            .expect("commit");
        assert_eq!(
            names(&root.join("date=2026-06-01")),
            ["part-b.parquet", "part-moving.parquet"]
        );
    }

    #[tokio::test]
    async fn a_failed_log_commit_takes_the_moved_files_back_out() {
        let dir = tempfile::tempdir().expect("dir");
        let (root, store) = (dir.path(), store());
        let day = "2026-06-01";
        let a = stage(root, "r1", day, "part-a.parquet");
        // A schema a Delta log cannot record fails the commit after the move.
        let unsigned = Schema::new(vec![Field::new("n", DataType::UInt64, false)]);
        let e = commit(&store, &target(root, "r1"), &unsigned, &[a], &[day.into()])
            .await
            .expect_err("unsigned column");
        assert!(e.to_string().contains("column n"), "{e}");
        assert!(names(&root.join("date=2026-06-01")).is_empty());
    }

    #[tokio::test]
    async fn reports_outside_the_runs_staging_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let forged = WrittenFile {
            partition: "2026-06-01".into(),
            path: "date=2026-06-01/other.parquet".into(),
            rows: 1,
            null_counts: BTreeMap::new(),
        };
        let e = commit(
            &store(),
            &target(dir.path(), "r1"),
            &schema(),
            &[forged],
            &[],
        )
        .await
        .expect_err("not staging");
        assert!(
            e.to_string().contains("not a file of this run's staging"),
            "{e}"
        );
    }
}
