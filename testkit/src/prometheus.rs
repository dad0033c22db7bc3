//! A real Prometheus (Debian's package, `scripts/prometheus.sh`) scraping test processes on
//! 127.0.0.1 every second, queried over its HTTP API.

use crate::process::ServerProcess;
use crate::{TestkitError, free_port, io};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// What Prometheus scrapes: a job name, `127.0.0.1:PORT` and the metrics path.
#[derive(Debug, Clone)]
pub struct ScrapeTarget {
    pub job: String,
    pub address: String,
    pub metrics_path: String,
}

impl ScrapeTarget {
    pub fn new(job: &str, port: u16, metrics_path: &str) -> ScrapeTarget {
        ScrapeTarget {
            job: job.into(),
            address: format!("127.0.0.1:{port}"),
            metrics_path: metrics_path.into(),
        }
    }
}

/// The prometheus binary: `PVFLOW_PROMETHEUS` (what `scripts/prometheus.sh` prints).
pub fn prometheus_binary() -> Result<PathBuf, TestkitError> {
    std::env::var_os("PVFLOW_PROMETHEUS")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .ok_or_else(|| {
            TestkitError::Script(
                "no prometheus: set PVFLOW_PROMETHEUS to the binary scripts/prometheus.sh prints"
                    .into(),
            )
        })
}

pub struct PrometheusServer {
    process: ServerProcess,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PrometheusServer {
    /// Starts Prometheus scraping `targets` every second and waits until it is ready.
    pub fn start(
        binary: &Path,
        targets: &[ScrapeTarget],
    ) -> Result<PrometheusServer, TestkitError> {
        let dir = tempfile::tempdir().map_err(io("create Prometheus' directory"))?;
        let mut config = String::from(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
        );
        // One scrape config per job (Prometheus refuses a job name twice), its targets listed.
        let mut jobs: Vec<(&str, &str, Vec<&str>)> = Vec::new();
        for target in targets {
            match jobs.iter_mut().find(|(job, _, _)| *job == target.job) {
                Some((_, _, addresses)) => addresses.push(&target.address),
                None => jobs.push((&target.job, &target.metrics_path, vec![&target.address])),
            }
        }
        for (job, path, addresses) in jobs {
            config.push_str(&format!(
                "  - job_name: {job}\n    metrics_path: {path}\n    static_configs:\n      - targets: ['{}']\n",
                addresses.join("', '")
            ));
        }
        let file = dir.path().join("prometheus.yml");
        std::fs::write(&file, config).map_err(io("write prometheus.yml"))?;
        let port = free_port()?;
        let mut command = Command::new(binary);
        command
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let mut process =
            ServerProcess::spawn("prometheus", command, dir.path().join("prometheus.log"))?;
        process.wait_for_port(port)?;
        let server = PrometheusServer {
            process,
            port,
            _dir: dir,
        };
        for _ in 0..300 {
            if server.get("/-/ready").is_some_and(|(code, _)| code == 200) {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(server.process.not_ready("not ready after 30 s".into()))
    }

    /// The JSON answer to the instant query `expr` (`/api/v1/query`).
    pub fn query(&self, expr: &str) -> Option<String> {
        self.get(&format!("/api/v1/query?query={}", percent_encoded(expr)))
            .map(|(_, body)| body)
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    /// `GET path` over HTTP/1.0, so that the answer comes whole, not in chunks.
    fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let status = response.split_whitespace().nth(1)?.parse().ok()?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())?;
        Some((status, body))
    }
}

fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
