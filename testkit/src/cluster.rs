//! A pvflow cluster: one `pvflow-scheduler` and its `pvflow-executor`s from the workspace's build.

use crate::http::{http_get, http_status};
use crate::process::READY_TIMEOUT;
use crate::process::ServerProcess;
use crate::{TestkitError, free_port, io};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A `pvflow-scheduler` and its `pvflow-executor` processes on 127.0.0.1, started from the
/// binaries in `bin_dir` (the workspace's `target/<profile>`).
#[derive(Debug)]
pub struct PvflowCluster {
    // Executors stop before the scheduler, and both before their directory goes.
    executors: Vec<ServerProcess>,
    /// Each executor's probes and metrics port.
    health_ports: Vec<u16>,
    scheduler: ServerProcess,
    scheduler_port: u16,
    /// What the scheduler was started with: binaries, executors awaited, environment.
    restart: (PathBuf, usize, Vec<(String, String)>),
    dir: tempfile::TempDir,
}

fn scheduler_command(bin_dir: &Path, port: u16, executors: usize, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(bin_dir.join("pvflow-scheduler"));
    command
        .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1"])
        .args(["--bind-port", &port.to_string()])
        .args(["--min-ready-executors", &executors.to_string()])
        // A killed executor is noticed within seconds, not Ballista's default 3 minutes.
        .args(["--executor-timeout-seconds", "5"])
        .args(["--expire-dead-executor-interval-seconds", "1"])
        .envs(env.iter().copied());
    command
}

impl PvflowCluster {
    /// Starts a scheduler and `executors` executors (each with `vcores` task slots) and waits
    /// until the scheduler reports them all registered. `env` is passed to every process.
    pub fn start(
        bin_dir: &Path,
        executors: usize,
        vcores: usize,
        env: &[(&str, &str)],
    ) -> Result<PvflowCluster, TestkitError> {
        let dir = tempfile::tempdir().map_err(io("create a cluster directory"))?;
        let scheduler_port = free_port()?;
        let command = scheduler_command(bin_dir, scheduler_port, executors, env);
        let mut scheduler = ServerProcess::spawn(
            "pvflow-scheduler",
            command,
            dir.path().join("scheduler.log"),
        )?;
        scheduler.wait_for_port(scheduler_port)?;
        let mut cluster = PvflowCluster {
            executors: Vec::new(),
            health_ports: Vec::new(),
            scheduler,
            scheduler_port,
            restart: (
                bin_dir.to_path_buf(),
                executors,
                env.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            dir,
        };
        for i in 0..executors {
            cluster.start_executor(bin_dir, i, vcores, env)?;
        }
        cluster.wait_until_ready()?;
        Ok(cluster)
    }

    fn start_executor(
        &mut self,
        bin_dir: &Path,
        i: usize,
        vcores: usize,
        env: &[(&str, &str)],
    ) -> Result<(), TestkitError> {
        let work_dir = self.dir.path().join(format!("executor-{i}"));
        std::fs::create_dir_all(&work_dir).map_err(io(format!("create {}", work_dir.display())))?;
        let (flight, grpc, health) = (free_port()?, free_port()?, free_port()?);
        let mut command = Command::new(bin_dir.join("pvflow-executor"));
        command
            .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1"])
            .args(["--scheduler-host", "127.0.0.1"])
            .args(["--scheduler-port", &self.scheduler_port.to_string()])
            .args(["--bind-port", &flight.to_string()])
            .args(["--bind-grpc-port", &grpc.to_string()])
            .args(["--bind-health-port", &health.to_string()])
            .args(["--vcores", &vcores.to_string()])
            .args(["--executor-heartbeat-interval-seconds", "1"])
            .arg("--work-dir")
            .arg(&work_dir)
            .envs(env.iter().copied());
        let mut executor = ServerProcess::spawn(
            &format!("pvflow-executor {i}"),
            command,
            self.dir.path().join(format!("executor-{i}.log")),
        )?;
        executor.wait_for_port(flight)?;
        self.executors.push(executor);
        self.health_ports.push(health);
        Ok(())
    }

    /// Polls the scheduler's `/readyz`, which turns 200 once enough executors registered.
    fn wait_until_ready(&mut self) -> Result<(), TestkitError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if http_status(self.scheduler_port, "/readyz") == Some(200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.scheduler.not_ready(format!(
                    "/readyz not 200 after {READY_TIMEOUT:?} with {} executors; their logs:\n{}",
                    self.executors.len(),
                    self.logs()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `df://127.0.0.1:PORT`, for `pvflow sql --scheduler`.
    /// What Prometheus scrapes: the scheduler's `/api/metrics` (job `pvflow-scheduler`) and
    /// each executor's `/metrics` (job `pvflow-executor`).
    pub fn scrape_targets(&self) -> Vec<crate::ScrapeTarget> {
        let mut targets = vec![crate::ScrapeTarget::new(
            "pvflow-scheduler",
            self.scheduler_port,
            "/api/metrics",
        )];
        targets.extend(
            self.health_ports
                .iter()
                .map(|port| crate::ScrapeTarget::new("pvflow-executor", *port, "/metrics")),
        );
        targets
    }

    pub fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.scheduler_port)
    }

    /// `GET path` on the scheduler's REST API (`/api/job/ID`, ...): status code and body.
    pub fn scheduler_get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.scheduler_port, path)
    }

    /// `GET path` on executor `i`'s probes and metrics port (`/readyz`, `/metrics`).
    pub fn executor_get(&self, i: usize, path: &str) -> Option<(u16, String)> {
        http_get(*self.health_ports.get(i)?, path)
    }

    /// Kills executor `i` without warning, as a crashed machine would.
    pub fn kill_executor(&mut self, i: usize) {
        if let Some(executor) = self.executors.get_mut(i) {
            executor.kill();
        }
    }

    /// Kills the scheduler without warning and starts it again on its port, as a crashed and
    /// rescheduled pod would be; returns once it listens (its executors may not be back).
    pub fn restart_scheduler(&mut self) -> Result<(), TestkitError> {
        self.scheduler.kill();
        let (bin_dir, executors, env) = &self.restart;
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let command = scheduler_command(bin_dir, self.scheduler_port, *executors, &env);
        self.scheduler = ServerProcess::spawn(
            "pvflow-scheduler (restarted)",
            command,
            self.dir.path().join("scheduler-restarted.log"),
        )?;
        self.scheduler.wait_for_port(self.scheduler_port)
    }

    /// Every process's log, for a failing test's message.
    pub fn logs(&self) -> String {
        let mut text = format!("--- scheduler ---\n{}", self.scheduler.log());
        for (i, e) in self.executors.iter().enumerate() {
            text.push_str(&format!("\n--- executor {i} ---\n{}", e.log()));
        }
        text
    }
}
