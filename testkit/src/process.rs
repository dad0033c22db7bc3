//! A server as a child process: started, waited for, killed and reaped when dropped.

use crate::{TestkitError, io};
use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to accept connections before the test gives up.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A child process that is killed and reaped when dropped, its output kept in a log file.
#[derive(Debug)]
pub struct ServerProcess {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `command` with stdout and stderr going to `log`.
    pub fn spawn(
        name: &str,
        mut command: Command,
        log: PathBuf,
    ) -> Result<ServerProcess, TestkitError> {
        let out = File::create(&log).map_err(io(format!("create {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(io(format!("share {}", log.display())))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(io(format!("start {name}")))?;
        Ok(ServerProcess {
            name: name.to_string(),
            child,
            log,
        })
    }

    /// Waits until `port` on 127.0.0.1 accepts connections, failing early if the process exits.
    pub fn wait_for_port(&mut self, port: u16) -> Result<(), TestkitError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.not_ready(format!("exited with {status}")));
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.not_ready(format!("port {port} not open after {READY_TIMEOUT:?}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the process has written so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = File::open(&self.log) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// Sends SIGTERM (as Kubernetes stops a pod) and waits up to `limit` for the process to
    /// exit; `None` if it did not.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().ok()?;
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Kills the process now (as a crash would) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(crate) fn not_ready(&self, reason: String) -> TestkitError {
        TestkitError::NotReady {
            name: self.name.clone(),
            reason,
            log: self.log(),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
