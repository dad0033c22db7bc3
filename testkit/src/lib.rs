//! Real servers for pvflow's tests, started on 127.0.0.1 and stopped when dropped.
//!
//! [`TansuBroker`] runs the `tansu` Kafka-compatible broker as a separate process with SQLite
//! storage: unlike librdkafka's in-process mock cluster it answers offsets-for-times, so tests
//! against it exercise the planner's direct path rather than its fallback. `scripts/tansu.sh`
//! installs the binary (`make test` runs it first). [`PvflowCluster`] runs a `pvflow-scheduler`
//! and `pvflow-executor` processes from the workspace's build. [`S3Server`] runs `s3s-fs`, an
//! S3 API over a temporary directory (`scripts/s3s-fs.sh` installs it).

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The tansu release `scripts/tansu.sh` installs.
pub const TANSU_VERSION: &str = "0.6.0";

/// The s3s-fs release `scripts/s3s-fs.sh` installs.
pub const S3S_FS_VERSION: &str = "0.14.1";

/// How long a server may take to accept connections before the test gives up.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

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

fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> TestkitError {
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

    fn not_ready(&self, reason: String) -> TestkitError {
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

    /// `host:port` for a Kafka client's `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What the broker has logged, for a failing test's message.
    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// An S3 API on 127.0.0.1 over a temporary directory, with one bucket.
#[derive(Debug)]
pub struct S3Server {
    process: ServerProcess,
    port: u16,
    bucket: String,
    dir: tempfile::TempDir,
}

impl S3Server {
    const ACCESS_KEY: &str = "pvflow-test";
    const SECRET_KEY: &str = "pvflow-test-secret";

    /// Starts the server with an empty `bucket`.
    pub fn start(bucket: &str) -> Result<S3Server, TestkitError> {
        let binary = s3s_fs_binary()?;
        let dir = tempfile::tempdir().map_err(io("create an S3 directory"))?;
        let data = dir.path().join("data");
        // s3s-fs serves each directory under its root as a bucket.
        std::fs::create_dir_all(data.join(bucket)).map_err(io("create the bucket"))?;
        let port = free_port()?;
        let mut command = Command::new(binary);
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", Self::ACCESS_KEY])
            .args(["--secret-key", Self::SECRET_KEY])
            .arg(&data);
        let mut process = ServerProcess::spawn("s3s-fs", command, dir.path().join("s3s-fs.log"))?;
        process.wait_for_port(port)?;
        Ok(S3Server {
            process,
            port,
            bucket: bucket.into(),
            dir,
        })
    }

    /// The standard AWS variables that point a client at this server.
    pub fn client_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", Self::ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", Self::SECRET_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT", format!("http://127.0.0.1:{}", self.port)),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// `s3://<bucket>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("s3://{}/{path}", self.bucket)
    }

    /// Where the bucket's objects are, as files.
    pub fn bucket_dir(&self) -> PathBuf {
        self.dir.path().join("data").join(&self.bucket)
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}

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
    dir: tempfile::TempDir,
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
        let mut command = Command::new(bin_dir.join("pvflow-scheduler"));
        command
            .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1"])
            .args(["--bind-port", &scheduler_port.to_string()])
            .args(["--min-ready-executors", &executors.to_string()])
            // A killed executor is noticed within seconds, not Ballista's default 3 minutes.
            .args(["--executor-timeout-seconds", "5"])
            .args(["--expire-dead-executor-interval-seconds", "1"])
            .envs(env.iter().copied());
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

    /// Every process's log, for a failing test's message.
    pub fn logs(&self) -> String {
        let mut text = format!("--- scheduler ---\n{}", self.scheduler.log());
        for (i, e) in self.executors.iter().enumerate() {
            text.push_str(&format!("\n--- executor {i} ---\n{}", e.log()));
        }
        text
    }
}

/// `pvflow serve` on 127.0.0.1, running plans on the cluster at `scheduler`.
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
        scheduler: &str,
        env: &[(&str, &str)],
    ) -> Result<RunApi, TestkitError> {
        let dir = tempfile::tempdir().map_err(io("create the API's directory"))?;
        let port = free_port()?;
        let mut command = Command::new(bin_dir.join("pvflow"));
        command
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .args(["--scheduler", scheduler])
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

    /// The body of `GET path`, if it answered 200.
    pub fn get(&self, path: &str) -> Option<String> {
        http_get(self.port, path).and_then(|(code, body)| (code == 200).then_some(body))
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// The status code and body of `GET path` on 127.0.0.1:`port`, or None if there is no answer.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Some((status, body))
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    http_get(port, path).map(|(status, _)| status)
}
