//! The commit: only the files tasks reported become visible, one partition directory at a time,
//! each swapped in whole.
//!
//! Local directories only, so far: a directory swap (`renameat2(RENAME_EXCHANGE)` on Linux) is
//! what makes a partition's replacement atomic. Object stores without rename (S3) need a
//! manifest-based table format instead; committing to them is refused rather than done
//! non-atomically.

use crate::StagedTarget;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use serde::Serialize;
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
        let (Some(partition), Some(path), Some(rows)) = (
            column("partition")?.as_string_opt::<i32>(),
            column("path")?.as_string_opt::<i32>(),
            column("rows")?.as_primitive_opt::<Int64Type>(),
        ) else {
            return Err(CommitError::Report(format!(
                "unexpected column types: {}",
                batch.schema()
            )));
        };
        for row in 0..batch.num_rows() {
            files.push(WrittenFile {
                partition: partition.value(row).to_string(),
                path: path.value(row).to_string(),
                rows: rows.value(row),
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
