//! End-to-end tests with every component a separate process on 127.0.0.1: a tansu Kafka broker,
//! a `pvflow-scheduler` with two `pvflow-executor`s, and the `pvflow` CLI that simulates a plant
//! and submits SQL. The binaries come from the workspace build (`cargo nextest run --workspace`
//! builds them before running tests).

use assert_cmd::Command;
use pvflow_testkit::{PvflowCluster, TansuBroker};
use std::path::PathBuf;

/// `target/<profile>`, where the workspace's binaries are: this test runs from its `deps/`.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .to_path_buf();
    for bin in ["pvflow", "pvflow-scheduler", "pvflow-executor"] {
        assert!(
            dir.join(bin).is_file(),
            "{bin} is not built in {}: run the tests with --workspace",
            dir.display()
        );
    }
    dir
}

fn pvflow(bins: &std::path::Path) -> Command {
    let mut command = Command::new(bins.join("pvflow"));
    // Tests must not pick up a developer's pvflow.toml or environment.
    command
        .env_remove("PVFLOW_CONFIG")
        .env_remove("PVFLOW_KAFKA_BROKERS")
        .env_remove("PVFLOW_MODEL_NORMALIZATION");
    command
}

fn stdout(command: &mut Command) -> String {
    let output = command.output().expect("pvflow runs");
    assert!(
        output.status.success(),
        "pvflow failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// A simulated plant read from Kafka with a time range, windowed and transformed to scalograms
/// on the cluster: the results equal the same SQL run in-process.
#[test]
fn kafka_scalogram_sql_on_the_cluster_equals_the_embedded_run() {
    let bins = bin_dir();
    let broker = TansuBroker::start().expect("tansu broker");
    let brokers = broker.bootstrap_servers();
    let dir = tempfile::tempdir().expect("temp dir");
    let truth = dir.path().join("truth.parquet");
    stdout(
        pvflow(&bins)
            .args(["simulate", "--brokers", &brokers, "--topic", "pv.e2e"])
            .args([
                "--partitions",
                "3",
                "--devices",
                "6",
                "--start",
                "2026-06-01",
                "--seed",
                "11",
                "--truth",
                truth.to_str().expect("utf-8 path"),
            ]),
    );

    let cluster = PvflowCluster::start(&bins, 2, 2, &[]).expect("pvflow cluster");
    let sql = format!(
        "CREATE EXTERNAL TABLE r STORED AS KAFKA LOCATION 'kafka://{brokers}/pv.e2e';
         SELECT _partition, device_id, count(*) AS readings, min(ts) AS first, max(ts) AS last,
                round(sum(voltage), 1) AS voltage_sum
         FROM r WHERE ts >= TIMESTAMP '2026-06-01T06:00:00Z' AND ts < TIMESTAMP '2026-06-01T18:00:00Z'
         GROUP BY _partition, device_id ORDER BY device_id;
         SELECT device_id, count(*) AS windows, count(scalogram) AS scalograms,
                round(sum(scalogram[64 * 64 + 32]), 2) AS current_scale1,
                round(sum(scalogram[3 * 64 * 64 + 63 * 64 + 32]), 2) AS irradiance_scale64
         FROM (SELECT device_id, window_start,
                      pv_scalogram(array_agg(voltage ORDER BY ts), array_agg(current ORDER BY ts),
                                   array_agg(temperature ORDER BY ts), array_agg(irradiance ORDER BY ts),
                                   array_agg(slot ORDER BY ts)) AS scalogram
               FROM (SELECT *, date_bin(INTERVAL '1280 seconds', ts, TIMESTAMP '1970-01-01T00:00:00Z') AS window_start,
                            (to_unixtime(ts) - to_unixtime(date_bin(INTERVAL '1280 seconds', ts, TIMESTAMP '1970-01-01T00:00:00Z'))) / 20 AS slot
                     FROM r WHERE ts >= TIMESTAMP '2026-06-01T08:00:00Z' AND ts < TIMESTAMP '2026-06-01T16:00:00Z')
               GROUP BY device_id, window_start)
         GROUP BY device_id ORDER BY device_id;"
    );
    let embedded = stdout(pvflow(&bins).args(["sql", "--format", "csv", &sql]));
    let distributed = stdout(pvflow(&bins).args([
        "sql",
        "--format",
        "csv",
        "--scheduler",
        &cluster.url(),
        &sql,
    ]));
    assert_eq!(embedded, distributed, "cluster logs:\n{}", cluster.logs());
    // Not vacuous: six devices in both results, every 8-hour window complete enough to image.
    assert_eq!(embedded.matches("pv-").count(), 12, "{embedded}");
    // 08:00-16:00 is 22 full windows plus a half one (too short for an image) per device.
    assert_eq!(embedded.matches(",23,22,").count(), 6, "{embedded}");
}
