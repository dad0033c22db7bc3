//! The run API, `pvflow serve`, as a process.

use crate::http::http_get;
use crate::process::ServerProcess;
use crate::{TestkitError, free_port, io};
use std::path::Path;
use std::process::Command;

/// `pvflow serve` on 127.0.0.1, running plans on the cluster at `scheduler` (else in itself).
#[derive(Debug)]
pub struct RunApi {
    process: ServerProcess,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RunApi {
    /// Starts the API with `env` (as the cluster's processes get it) and waits until it listens.
    pub fn start(
        bin_dir: &Path,
        scheduler: Option<&str>,
        env: &[(&str, &str)],
    ) -> Result<RunApi, TestkitError> {
        let dir = tempfile::tempdir().map_err(io("create the API's directory"))?;
        let port = free_port()?;
        let mut command = Command::new(bin_dir.join("pvflow"));
        command
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .args(
                scheduler
                    .map(|url| ["--scheduler", url])
                    .into_iter()
                    .flatten(),
            )
            .env_remove("PVFLOW_CONFIG")
            .envs(env.iter().copied());
        let mut process =
            ServerProcess::spawn("pvflow serve", command, dir.path().join("api.log"))?;
        process.wait_for_port(port)?;
        Ok(RunApi {
            process,
            port,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT`, for `pvflow runs --api`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What Prometheus scrapes: the API's `/metrics` (job `pvflow-api`).
    pub fn scrape_target(&self) -> crate::ScrapeTarget {
        crate::ScrapeTarget::new("pvflow-api", self.port, "/metrics")
    }

    /// The body of `GET path`, if it answered 200.
    pub fn get(&self, path: &str) -> Option<String> {
        http_get(self.port, path).and_then(|(code, body)| (code == 200).then_some(body))
    }

    /// The status and body of `GET path`, whatever it answered.
    pub fn answer(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.port, path)
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}
