//! Real servers for pvflow's tests, started on 127.0.0.1 and stopped when dropped.
//!
//! [`TansuBroker`] runs the `tansu` Kafka-compatible broker as a separate process with SQLite
//! storage: unlike librdkafka's in-process mock cluster it answers offsets-for-times, so tests
//! against it exercise the planner's direct path rather than its fallback. `scripts/tansu.sh`
//! installs the binary (`make test` runs it first). [`PvflowCluster`] runs a `pvflow-scheduler`
//! and `pvflow-executor` processes from the workspace's build. [`S3Server`] runs `s3s-fs`, an
//! S3 API over a temporary directory (`scripts/s3s-fs.sh` installs it), behind a forwarder that stops it when a chosen request arrives. [`RunApi`] runs
//! `pvflow serve`. [`PrometheusServer`] runs a real Prometheus scraping them. Each server is a [`ServerProcess`]: killed and reaped when dropped, its output
//! kept in a log the test can print. [`SeededRandom`] generates reproducible hostile input.

mod api;
mod cluster;
mod http;
mod process;
mod prometheus;
mod random;
mod s3;
mod tansu;

pub use api::RunApi;
pub use cluster::PvflowCluster;
pub use http::http_get;
pub use process::ServerProcess;
pub use prometheus::{PrometheusServer, ScrapeTarget, prometheus_binary};
pub use random::SeededRandom;
pub use s3::S3Server;
pub use tansu::TansuBroker;

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The tansu release `scripts/tansu.sh` installs.
pub const TANSU_VERSION: &str = "0.6.0";

/// The s3s-fs release `scripts/s3s-fs.sh` installs.
pub const S3S_FS_VERSION: &str = "0.14.1";

#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    #[error(
        "the tansu broker is not installed (looked for {0}); run scripts/tansu.sh, or set PVFLOW_TANSU to its binary"
    )]
    TansuMissing(PathBuf),
    #[error(
        "the s3s-fs S3 server is not installed (looked for {0}); run scripts/s3s-fs.sh, or set PVFLOW_S3S_FS to its binary"
    )]
    S3sFsMissing(PathBuf),
    #[error("cannot {action}: {source}")]
    Io {
        action: String,
        source: std::io::Error,
    },
    #[error("{name} did not start: {reason}\n--- its log ---\n{log}")]
    NotReady {
        name: String,
        reason: String,
        log: String,
    },
    #[error("{0}")]
    Script(String),
}

pub(crate) fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> TestkitError {
    let action = action.into();
    move |source| TestkitError::Io { action, source }
}

/// The tansu binary: `PVFLOW_TANSU`, else where `scripts/tansu.sh` installs it.
pub fn tansu_binary() -> Result<PathBuf, TestkitError> {
    let path = cached_binary("PVFLOW_TANSU", &format!("tansu-{TANSU_VERSION}/bin/tansu"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(TestkitError::TansuMissing(path))
    }
}

/// The s3s-fs binary: `PVFLOW_S3S_FS`, else where `scripts/s3s-fs.sh` installs it.
pub fn s3s_fs_binary() -> Result<PathBuf, TestkitError> {
    let path = cached_binary(
        "PVFLOW_S3S_FS",
        &format!("s3s-fs-{S3S_FS_VERSION}/bin/s3s-fs"),
    );
    if path.is_file() {
        Ok(path)
    } else {
        Err(TestkitError::S3sFsMissing(path))
    }
}

/// The binary `variable` names, else `relative` in the scripts' cache (`PVFLOW_CACHE`, else
/// `~/.cache/pvflow`).
fn cached_binary(variable: &str, relative: &str) -> PathBuf {
    match std::env::var_os(variable) {
        Some(path) => PathBuf::from(path),
        None => std::env::var_os("PVFLOW_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/pvflow")))
            .unwrap_or_else(|| PathBuf::from(".cache/pvflow"))
            .join(relative),
    }
}

/// ONNX Runtime's library: `ORT_DYLIB_PATH`, else the one `scripts/onnxruntime.sh` installs
/// (once, into the user's cache).
pub fn onnxruntime_library() -> Result<String, TestkitError> {
    if let Some(path) = std::env::var("ORT_DYLIB_PATH")
        .ok()
        .filter(|p| !p.is_empty())
    {
        return Ok(path);
    }
    script_output("onnxruntime.sh")
}

/// A Python with delta-rs (`deltalake`), which `scripts/deltalake.sh` installs on first use:
/// a second reader of pvflow's Delta tables.
pub fn delta_python() -> Result<String, TestkitError> {
    script_output("deltalake.sh")
}

/// A Python with ADBC's Flight SQL driver, which `scripts/adbc.sh` installs on first use: an
/// analyst's SQL client.
pub fn adbc_python() -> Result<String, TestkitError> {
    script_output("adbc.sh")
}

/// A Python with openapi-spec-validator and jsonschema, which `scripts/openapi.sh` installs on
/// first use: checks the run API's OpenAPI description and answers against it.
pub fn openapi_python() -> Result<String, TestkitError> {
    script_output("openapi.sh")
}

/// What `scripts/<name>` prints: the path of what it installed.
fn script_output(name: &str) -> Result<String, TestkitError> {
    let script = repo_file(&format!("scripts/{name}"));
    let out = Command::new(&script)
        .output()
        .map_err(io(format!("run {}", script.display())))?;
    if !out.status.success() {
        return Err(TestkitError::Script(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A file of the repository, by its path from the workspace root.
pub fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

/// A port that was free a moment ago. Servers that cannot report the port they bound need one
/// chosen for them; the window in which another process could take it is tiny on a test box.
pub fn free_port() -> Result<u16, TestkitError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io("bind a free port"))?;
    let port = listener
        .local_addr()
        .map_err(io("read a bound port"))?
        .port();
    Ok(port)
}
