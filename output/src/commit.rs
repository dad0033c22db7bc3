//! The commit: only the files tasks reported become visible, one partition directory at a time,
//! each swapped in whole.
//!
//! Local directories only, so far: a directory swap (`renameat2(RENAME_EXCHANGE)` on Linux) is
//! what makes a partition's replacement atomic. Object stores without rename (S3) need a
//! manifest-based table format instead; committing to them is refused rather than done
//! non-atomically.

use crate::StagedTarget;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(
        "cannot commit output to {root}: atomic commits need a local directory (file://) so far"
    )]
    Unsupported { root: String },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a task's report of its files is invalid: {0}")]
    Report(String),
}

/// One file a task wrote, as it reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

fn local_root(target: &StagedTarget) -> Result<PathBuf, CommitError> {
    url::Url::parse(&target.root)
        .ok()
        .filter(|u| u.scheme() == "file")
        .and_then(|u| u.to_file_path().ok())
        .ok_or_else(|| CommitError::Unsupported {
            root: target.root.clone(),
        })
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CommitError {
    let path = path.to_path_buf();
    move |source| CommitError::Io {
        action,
        path,
        source,
    }
}

/// Makes `files` the whole content of their partition directories, and every partition in
/// `partitions` without files an empty directory (a re-run that finds nothing replaces the old
/// output too). Each directory is swapped in atomically; the old content is then deleted.
/// Returns the files at their final paths. Files in staging that no task reported (a failed
/// attempt's) are deleted with the staging directory.
pub fn commit(
    target: &StagedTarget,
    files: &[WrittenFile],
    partitions: &[String],
) -> Result<Vec<WrittenFile>, CommitError> {
    let root = local_root(target)?;
    let staging = root.join(target.staging_prefix());
    let ready = staging.join("commit");
    let directory = |partition: &str| format!("{}={partition}", target.partition_column);

    let mut all: Vec<&str> = partitions.iter().map(String::as_str).collect();
    all.extend(files.iter().map(|f| f.partition.as_str()));
    all.sort_unstable();
    all.dedup();
    for partition in &all {
        let dir = ready.join(directory(partition));
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
    }

    let prefix = format!("{}/", target.staging_prefix());
    let mut committed = Vec::with_capacity(files.len());
    for file in files {
        let name = file
            .path
            .strip_prefix(&prefix)
            .and_then(|rest| rest.rsplit('/').next())
            .filter(|name| name.ends_with(".parquet") && !name.contains(".."))
            .ok_or_else(|| {
                CommitError::Report(format!("{} is not a file of this run's staging", file.path))
            })?;
        let from = root.join(&file.path);
        let to = ready.join(directory(&file.partition)).join(name);
        std::fs::rename(&from, &to).map_err(io("move", &from))?;
        committed.push(WrittenFile {
            path: format!("{}/{name}", directory(&file.partition)),
            ..file.clone()
        });
    }

    for partition in &all {
        let new = ready.join(directory(partition));
        let current = root.join(directory(partition));
        if current.exists() {
            exchange(&new, &current)?;
            // `new` now holds the previous output.
            std::fs::remove_dir_all(&new).map_err(io("remove the replaced", &new))?;
        } else {
            std::fs::rename(&new, &current).map_err(io("publish", &current))?;
        }
    }
    abort(target)?;
    tracing::info!(root = %target.root, run = %target.run_id, partitions = all.len(), files = committed.len(), "output committed");
    Ok(committed)
}

/// Deletes the run's staging directory and everything in it: what a failed run calls.
pub fn abort(target: &StagedTarget) -> Result<(), CommitError> {
    let staging = local_root(target)?.join(target.staging_prefix());
    match std::fs::remove_dir_all(&staging) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", &staging)(e)),
        _ => {
            // `_staging/` itself goes once no run uses it; another run's files keep it.
            if let Some(parent) = staging.parent() {
                let _ = std::fs::remove_dir(parent);
            }
            Ok(())
        }
    }
}

/// Swaps two directories in one step, so a reader sees one or the other.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> Result<(), CommitError> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| CommitError::Report(format!("path {} contains a NUL byte", p.display())))
    };
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: both are valid NUL-terminated paths that live across the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io("swap in", b)(std::io::Error::last_os_error()))
    }
}

/// Without an atomic swap: the old directory is moved aside and the new one in, two renames
/// apart (a reader in between sees the partition missing, never mixed).
#[cfg(not(target_os = "linux"))]
fn exchange(a: &Path, b: &Path) -> Result<(), CommitError> {
    let aside = a.with_extension("old");
    std::fs::rename(b, &aside).map_err(io("move aside", b))?;
    std::fs::rename(a, b).map_err(io("publish", b))?;
    std::fs::rename(&aside, a).map_err(io("move", &aside))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(root: &Path, run: &str) -> StagedTarget {
        StagedTarget {
            root: url::Url::from_directory_path(root)
                .expect("absolute")
                .to_string(),
            run_id: run.into(),
            partition_column: "date".into(),
        }
    }

    /// A file a task of `run` wrote to staging.
    fn stage(root: &Path, run: &str, day: &str, name: &str) -> WrittenFile {
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

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn only_reported_files_are_published_and_a_rerun_replaces_the_day() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path();
        let first = target(root, "r1");
        let a = stage(root, "r1", "2026-06-01", "part-a.parquet");
        // A failed attempt's file: written, never reported.
        stage(root, "r1", "2026-06-01", "part-lost.parquet");
        let committed = commit(&first, &[a], &["2026-06-01".into()]).expect("commit");
        assert_eq!(committed[0].path, "date=2026-06-01/part-a.parquet");
        assert_eq!(names(&root.join("date=2026-06-01")), ["part-a.parquet"]);
        assert!(!root.join("_staging").exists());

        let second = target(root, "r2");
        let b = stage(root, "r2", "2026-06-01", "part-b.parquet");
        commit(&second, &[b], &["2026-06-01".into()]).expect("commit");
        assert_eq!(names(&root.join("date=2026-06-01")), ["part-b.parquet"]);
        // A run that finds nothing for a day it covers empties that day.
        commit(&target(root, "r3"), &[], &["2026-06-01".into()]).expect("commit");
        assert!(names(&root.join("date=2026-06-01")).is_empty());
    }

    #[test]
    fn an_aborted_run_leaves_the_previous_day() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path();
        let a = stage(root, "r1", "2026-06-01", "part-a.parquet");
        commit(&target(root, "r1"), &[a], &["2026-06-01".into()]).expect("commit");
        stage(root, "r2", "2026-06-01", "part-b.parquet");
        abort(&target(root, "r2")).expect("abort");
        assert_eq!(names(&root.join("date=2026-06-01")), ["part-a.parquet"]);
        assert!(!root.join("_staging").exists());
    }

    #[test]
    fn reports_outside_the_runs_staging_and_object_stores_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path();
        let forged = WrittenFile {
            partition: "2026-06-01".into(),
            path: "date=2026-06-01/other.parquet".into(),
            rows: 1,
            null_counts: BTreeMap::new(),
        };
        let e = commit(&target(root, "r1"), &[forged], &[]).expect_err("not staging");
        assert!(
            e.to_string().contains("not a file of this run's staging"),
            "{e}"
        );
        let s3 = StagedTarget {
            root: "s3://bucket/gold/".into(),
            run_id: "r".into(),
            partition_column: "date".into(),
        };
        let e = commit(&s3, &[], &[]).expect_err("s3");
        assert!(e.to_string().contains("s3://bucket/gold/"), "{e}");
    }
}
