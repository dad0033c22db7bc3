//! A run whose storage fails under it: the S3 server stopped mid-upload and between a commit's
//! moves and its log entry, and the disk full while staging. Each leaves the previous output as
//! it was (pvflow's and delta-rs's view), no staged files, a manifest saying what failed, and
//! exit code 1; once the storage is back, the same run succeeds.

use super::{
    STDERR, Via, bin_dir, day_content, delta_rs_view, files_under, run_args, run_plan,
    simulated_plant,
};
use pvflow_testkit::S3Server;
use std::path::{Path, PathBuf};

/// What a test compares before and after a failed run: silver's day as pvflow reads it.
const SILVER_DAY: &str = "SELECT device_id, window_start, readings, voltage_mean FROM silver \
                          WHERE date = DATE '2026-06-01' ORDER BY device_id, window_start";

/// A failed run's exit code and printed manifest.
fn failed_run(command: &mut std::process::Command) -> serde_json::Value {
    let output = command.output().expect("pvflow runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    STDERR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push_str(&stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("a JSON manifest");
    assert_eq!(manifest["state"], "failed", "{manifest}");
    manifest
}

#[test]
fn an_s3_server_stopped_mid_upload_or_mid_commit_leaves_the_day_as_it_was() {
    let bins = bin_dir();
    let (_broker, brokers) = simulated_plant(
        &bins,
        &["--partitions", "2", "--devices", "3", "--seed", "9"],
    );
    let s3 = S3Server::start("pvflow").expect("S3 server");
    let data = s3.url("data");
    let mut env = s3.client_env();
    env.push(("PVFLOW_STORAGE_SILVER", format!("{data}/silver")));
    // A dead store fails the run in seconds rather than object_store's 3 minutes.
    env.push(("PVFLOW_STORAGE_RETRY_TIMEOUT_SECONDS", "2".into()));

    let first = run_plan(&bins, &env, "ingest", &brokers, &data, Via::InProcess);
    assert_eq!(first["state"], "succeeded", "{first}");
    let before = day_content(&bins, &env, SILVER_DAY);
    let delta_before = delta_rs_view(&env, &format!("{data}/silver"));
    let silver = s3.bucket_dir().join("data/silver");
    let logged = files_under(&silver.join("_delta_log"));

    // Executors' staged Parquet files go up with PUT (multipart uploads' parts too); the
    // commit moves them (copies: PUT with a copy source), then puts the log entry.
    for (fault, path_part) in [("mid-upload", "/_staging/"), ("mid-commit", "/_delta_log/")] {
        s3.stop_at("PUT", path_part);
        let mut command = std::process::Command::new(bins.join("pvflow"));
        command
            .env_remove("PVFLOW_CONFIG")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args(run_args("ingest", &brokers, &data));
        let manifest = failed_run(&mut command);
        let stopped_by = s3.stopped_by().unwrap_or_else(|| {
            panic!("{fault}: the run never sent its PUT {path_part}: {manifest}")
        });
        assert!(stopped_by.contains(path_part), "{fault}: {stopped_by}");
        let error = manifest["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("127.0.0.1") || error.contains("error sending request"),
            "{fault}: the error should say which store failed: {error}"
        );
        s3.restart().expect("S3 server back");

        assert_eq!(day_content(&bins, &env, SILVER_DAY), before, "{fault}");
        assert_eq!(
            delta_rs_view(&env, &format!("{data}/silver")),
            delta_before,
            "{fault}"
        );
        assert_eq!(files_under(&silver.join("_delta_log")), logged, "{fault}");
        let staged = files_under(&silver.join("_staging"));
        assert!(staged.is_empty(), "{fault}: {staged:?}");
    }

    // The store back, the same run replaces the day.
    let again = run_plan(&bins, &env, "ingest", &brokers, &data, Via::InProcess);
    assert_eq!(again["state"], "succeeded", "{again}");
    assert_eq!(day_content(&bins, &env, SILVER_DAY), before);
}

/// A private mount namespace holding a small tmpfs at `disk`, alive while this is: pvflow's
/// commands run inside it with `nsenter`, and the test sees its files through `/proc`.
struct SmallDisk {
    holder: std::process::Child,
    disk: PathBuf,
}

impl SmallDisk {
    fn mount(disk: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(disk).expect("mount point");
        let holder = std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs -o size={size} pvflow-small-disk '{}' && touch '{}/.mounted' \
                 && exec sleep 600",
                disk.display(),
                disk.display()
            ))
            .spawn()
            .expect("unshare starts (util-linux)");
        let small = SmallDisk {
            holder,
            disk: disk.to_path_buf(),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !small.path("").join(".mounted").exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "no tmpfs mounted at {} in a private mount namespace (needs CAP_SYS_ADMIN)",
                disk.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        small
    }

    /// `relative`, under the disk, as this process sees it.
    fn path(&self, relative: &str) -> PathBuf {
        let inside = self.disk.join(relative);
        Path::new(&format!("/proc/{}/root", self.holder.id()))
            .join(inside.strip_prefix("/").expect("an absolute mount point"))
    }

    /// `pvflow`, run where the disk is mounted.
    fn pvflow(&self, bins: &Path) -> std::process::Command {
        let mut command = std::process::Command::new("nsenter");
        command
            .args(["--target", &self.holder.id().to_string(), "--mount", "--"])
            .arg(bins.join("pvflow"))
            .env_remove("PVFLOW_CONFIG")
            .env_remove("PVFLOW_KAFKA_BROKERS");
        command
    }

    /// Fills the disk but for `free` bytes, with `filler`.
    fn fill(&self, filler: &Path, free: u64) {
        use std::io::Write;
        let mut file = std::fs::File::create(filler).expect("filler");
        let chunk = vec![0xa5_u8; 64 * 1024];
        let mut written = 0_u64;
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("fill {}: {e}", filler.display()),
            }
        }
        file.set_len(written.saturating_sub(free))
            .expect("free some");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// Standard output of `command`, which must succeed.
fn succeeded(command: &mut std::process::Command) -> String {
    let output = command.output().expect("pvflow runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn a_disk_full_while_staging_leaves_the_day_as_it_was() {
    let bins = bin_dir();
    let (_broker, brokers) = simulated_plant(
        &bins,
        &["--partitions", "2", "--devices", "3", "--seed", "9"],
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = SmallDisk::mount(&dir.path().join("disk"), "32m");
    let data = disk.disk.display().to_string();
    let silver_env = ("PVFLOW_STORAGE_SILVER", format!("{data}/silver"));
    let run = |disk: &SmallDisk| {
        let mut command = disk.pvflow(&bins);
        command
            .env(silver_env.0, &silver_env.1)
            .args(run_args("ingest", &brokers, &data));
        command
    };
    let silver_day = |disk: &SmallDisk| {
        succeeded(
            disk.pvflow(&bins)
                .env(silver_env.0, &silver_env.1)
                .args(["sql", "--format", "csv", SILVER_DAY]),
        )
    };

    let first: serde_json::Value =
        serde_json::from_str(&succeeded(&mut run(&disk))).expect("manifest");
    assert_eq!(first["state"], "succeeded", "{first}");
    let before = silver_day(&disk);
    let day_files = |disk: &SmallDisk| {
        let mut files = files_under(&disk.path("silver/date=2026-06-01"));
        files.sort();
        files
    };
    let files_before = day_files(&disk);
    assert!(!files_before.is_empty());

    // Room for the manifest, not for the day's files.
    let filler = disk.path("filler");
    disk.fill(&filler, 16 * 1024);
    let manifest = failed_run(&mut run(&disk));
    let error = manifest["error"].as_str().unwrap_or_default();
    assert!(error.contains("No space left on device"), "{manifest}");
    assert_eq!(day_files(&disk), files_before);
    let staged = files_under(&disk.path("silver/_staging"));
    assert!(staged.is_empty(), "{staged:?}");
    // The manifest on disk says so too: the staging went first and made room for it.
    let run_id = manifest["run_id"].as_str().expect("run id");
    let kept = std::fs::read_to_string(disk.path(&format!("silver/_runs/{run_id}.json")))
        .expect("the failed run's manifest is on disk");
    assert!(kept.contains("No space left on device"), "{kept}");
    assert_eq!(silver_day(&disk), before);

    // Room again: the same run replaces the day.
    std::fs::remove_file(&filler).expect("free the disk");
    let again: serde_json::Value =
        serde_json::from_str(&succeeded(&mut run(&disk))).expect("manifest");
    assert_eq!(again["state"], "succeeded", "{again}");
    assert_eq!(silver_day(&disk), before);
}
