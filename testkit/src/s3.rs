//! s3s-fs, an S3 API over a temporary directory.

use crate::process::ServerProcess;
use crate::s3s_fs_binary;
use crate::{TestkitError, free_port, io};
use std::path::PathBuf;
use std::process::Command;

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
