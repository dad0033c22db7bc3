//! s3s-fs, an S3 API over a temporary directory, behind a forwarder that can stop it at the
//! moment a chosen request arrives.

use crate::process::ServerProcess;
use crate::s3s_fs_binary;
use crate::{TestkitError, free_port, io};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// An S3 API on 127.0.0.1 over a temporary directory, with one bucket.
///
/// Clients reach it through a forwarder on [`Self::client_env`]'s endpoint, which reads each
/// request's first line: [`Self::stop_at`] kills the server when a matching request arrives,
/// before the server sees it, so a fault lands at an exact point of a client's work (say,
/// between a commit's moves and its log entry). [`Self::restart`] brings it back over the same
/// objects.
#[derive(Debug)]
pub struct S3Server {
    shared: Arc<Shared>,
    front_port: u16,
    bucket: String,
    dir: tempfile::TempDir,
}

#[derive(Debug)]
struct Shared {
    process: Mutex<Option<ServerProcess>>,
    server_port: u16,
    tripwire: Mutex<Tripwire>,
    /// Set when the server is dropped: the forwarder stops accepting.
    closed: AtomicBool,
}

#[derive(Debug, Default)]
struct Tripwire {
    /// The method and a part of the path of the request that stops the server.
    armed: Option<(String, String)>,
    /// The request line that stopped it.
    tripped: Option<String>,
}

impl S3Server {
    const ACCESS_KEY: &str = "pvflow-test";
    const SECRET_KEY: &str = "pvflow-test-secret";

    /// Starts the server with an empty `bucket`.
    pub fn start(bucket: &str) -> Result<S3Server, TestkitError> {
        let dir = tempfile::tempdir().map_err(io("create an S3 directory"))?;
        // s3s-fs serves each directory under its root as a bucket.
        std::fs::create_dir_all(dir.path().join("data").join(bucket))
            .map_err(io("create the bucket"))?;
        let shared = Arc::new(Shared {
            process: Mutex::new(None),
            server_port: free_port()?,
            tripwire: Mutex::default(),
            closed: AtomicBool::new(false),
        });
        let front = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io("bind the S3 front"))?;
        let front_port = front
            .local_addr()
            .map_err(io("read the front's port"))?
            .port();
        let server = S3Server {
            shared: Arc::clone(&shared),
            front_port,
            bucket: bucket.into(),
            dir,
        };
        server.spawn()?;
        std::thread::spawn(move || {
            for client in front.incoming().flatten() {
                if shared.closed.load(Ordering::SeqCst) {
                    return;
                }
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || shared.forward(client));
            }
        });
        Ok(server)
    }

    fn spawn(&self) -> Result<(), TestkitError> {
        let mut command = Command::new(s3s_fs_binary()?);
        command
            .args(["--host", "127.0.0.1"])
            .args(["--port", &self.shared.server_port.to_string()])
            .args(["--access-key", Self::ACCESS_KEY])
            .args(["--secret-key", Self::SECRET_KEY])
            .arg(self.dir.path().join("data"));
        let mut process =
            ServerProcess::spawn("s3s-fs", command, self.dir.path().join("s3s-fs.log"))?;
        process.wait_for_port(self.shared.server_port)?;
        *self.shared.process() = Some(process);
        Ok(())
    }

    /// Kills the server (as a crash would) when the first request with `method` whose path
    /// contains `path_part` arrives; that request never reaches it, and later ones find no
    /// server until [`Self::restart`].
    pub fn stop_at(&self, method: &str, path_part: &str) {
        *self.shared.tripwire() = Tripwire {
            armed: Some((method.into(), path_part.into())),
            tripped: None,
        };
    }

    /// The request line that stopped the server, once [`Self::stop_at`]'s request came.
    pub fn stopped_by(&self) -> Option<String> {
        self.shared.tripwire().tripped.clone()
    }

    /// Starts the server again over the same objects, disarmed.
    pub fn restart(&self) -> Result<(), TestkitError> {
        *self.shared.tripwire() = Tripwire::default();
        if let Some(mut old) = self.shared.process().take() {
            old.kill();
        }
        self.spawn()
    }

    /// The standard AWS variables that point a client at this server.
    pub fn client_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", Self::ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", Self::SECRET_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
            (
                "AWS_ENDPOINT",
                format!("http://127.0.0.1:{}", self.front_port),
            ),
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
        std::fs::read_to_string(self.dir.path().join("s3s-fs.log")).unwrap_or_default()
    }
}

impl Drop for S3Server {
    /// The forwarder's threads hold the server too: it is stopped here, and the forwarder woken
    /// to see that it is closed.
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        if let Some(mut process) = self.shared.process().take() {
            process.kill();
        }
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.front_port));
    }
}

impl Shared {
    fn process(&self) -> std::sync::MutexGuard<'_, Option<ServerProcess>> {
        self.process.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn tripwire(&self) -> std::sync::MutexGuard<'_, Tripwire> {
        self.tripwire.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Passes one client connection's requests to the server and its answers back, until
    /// either side closes or a request trips the wire. A connection the server refuses is
    /// closed, as a dead server's would be.
    fn forward(&self, client: TcpStream) {
        let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.server_port)) else {
            return;
        };
        let (Ok(mut answers_in), Ok(mut answers_out)) = (server.try_clone(), client.try_clone())
        else {
            return;
        };
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut answers_in, &mut answers_out);
            let _ = answers_out.shutdown(Shutdown::Both);
        });
        let mut requests = BufReader::new(&client);
        let mut server_out = &server;
        while let Ok(Some(head)) = read_head(&mut requests) {
            let request_line = head.lines().next().unwrap_or_default().to_string();
            if self.trips(&request_line) {
                break;
            }
            if server_out.write_all(head.as_bytes()).is_err()
                || copy_body(&head, &mut requests, &mut server_out).is_err()
            {
                break;
            }
        }
        let _ = client.shutdown(Shutdown::Both);
        let _ = server.shutdown(Shutdown::Both);
    }

    /// Whether `request_line` stops the server: if so, it is stopped.
    fn trips(&self, request_line: &str) -> bool {
        let mut tripwire = self.tripwire();
        let Some((method, path_part)) = &tripwire.armed else {
            return false;
        };
        let mut parts = request_line.split(' ');
        if parts.next() != Some(method.as_str())
            || !parts
                .next()
                .is_some_and(|path| path.contains(path_part.as_str()))
        {
            return false;
        }
        tripwire.armed = None;
        tripwire.tripped = Some(request_line.to_string());
        if let Some(process) = self.process().as_mut() {
            process.kill();
        }
        true
    }
}

/// A request's line and headers, up to and including the blank line; `None` at the end.
fn read_head(reader: &mut impl BufRead) -> std::io::Result<Option<String>> {
    let mut head = String::new();
    loop {
        let before = head.len();
        if reader.read_line(&mut head)? == 0 {
            return Ok(None);
        }
        if head[before..] == *"\r\n" && before > 0 {
            return Ok(Some(head));
        }
    }
}

/// Copies the body `head` announces, by `Content-Length` or chunked.
fn copy_body(head: &str, from: &mut impl BufRead, to: &mut impl Write) -> std::io::Result<()> {
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_ascii_lowercase())
        })
    };
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size_line = String::new();
            from.read_line(&mut size_line)?;
            to.write_all(size_line.as_bytes())?;
            let size = size_line.split(';').next().unwrap_or_default().trim();
            let size = u64::from_str_radix(size, 16)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            if size == 0 {
                // Trailers, then the blank line.
                while let Some(line) = read_line(from)? {
                    to.write_all(line.as_bytes())?;
                    if line == "\r\n" {
                        return Ok(());
                    }
                }
                return Ok(());
            }
            // The chunk and its CRLF.
            std::io::copy(&mut from.by_ref().take(size + 2), to)?;
        }
    }
    let length = header("content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    std::io::copy(&mut from.by_ref().take(length), to)?;
    Ok(())
}

fn read_line(reader: &mut impl BufRead) -> std::io::Result<Option<String>> {
    let mut line = String::new();
    Ok((reader.read_line(&mut line)? > 0).then_some(line))
}
