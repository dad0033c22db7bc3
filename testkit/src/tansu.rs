//! tansu, a Kafka-compatible broker, with SQLite storage.

use crate::process::ServerProcess;
use crate::tansu_binary;
use crate::{TestkitError, free_port, io};
use std::process::Command;

/// A tansu broker on 127.0.0.1 with its SQLite storage in a temporary directory.
#[derive(Debug)]
pub struct TansuBroker {
    // Field order matters: the process stops before its directory is removed.
    process: ServerProcess,
    port: u16,
    _dir: tempfile::TempDir,
}

impl TansuBroker {
    pub fn start() -> Result<TansuBroker, TestkitError> {
        let binary = tansu_binary()?;
        let dir = tempfile::tempdir().map_err(io("create a broker directory"))?;
        let port = free_port()?;
        let url = format!("tcp://127.0.0.1:{port}");
        let mut command = Command::new(binary);
        command
            .current_dir(dir.path())
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            // Relative to the working directory, the temporary one.
            .args(["--storage-engine", "sqlite://tansu.db"]);
        let mut process =
            ServerProcess::spawn("tansu broker", command, dir.path().join("tansu.log"))?;
        process.wait_for_port(port)?;
        Ok(TansuBroker {
            process,
            port,
            _dir: dir,
        })
    }

    /// Kills the broker now, as a crashed or unreachable broker would be to its clients.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// `host:port` for a Kafka client's `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What the broker has logged, for a failing test's message.
    pub fn log(&self) -> String {
        self.process.log()
    }
}
