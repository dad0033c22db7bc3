//! End-to-end tests with every component a separate process on 127.0.0.1: a tansu Kafka broker,
//! a `pvflow-scheduler` with two `pvflow-executor`s, and the `pvflow` CLI that simulates a plant
//! and submits SQL. The binaries come from the workspace build (`cargo nextest run --workspace`
//! builds them before running tests).

use assert_cmd::Command;
use pvflow_runner::RunCounts;
use pvflow_testkit::{PrometheusServer, PvflowCluster, RunApi, S3Server, TansuBroker};
use std::path::PathBuf;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

mod dashboard;
mod flight_sql_tls;
mod storage_failures;
mod stream;

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

/// What every pvflow command of this process wrote to stderr (its logs and warnings), for the
/// scan for secrets.
static STDERR: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

fn stdout(command: &mut Command) -> String {
    let output = command.output().expect("pvflow runs");
    STDERR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push_str(&String::from_utf8_lossy(&output.stderr));
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
    let windowed = pvflow_udfs::windowed_readings("r");
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
                      pv_scalogram(pv_window_series(slot, ts, voltage), pv_window_series(slot, ts, current),
                                   pv_window_series(slot, ts, temperature), pv_window_series(slot, ts, irradiance)) AS scalogram
               FROM ({windowed} WHERE ts >= TIMESTAMP '2026-06-01T08:00:00Z' AND ts < TIMESTAMP '2026-06-01T16:00:00Z')
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

/// A tansu broker holding a plant simulated from the test day (2026-06-01) on topic
/// `pv.plans`, `simulate`'s further arguments `args`; with its bootstrap servers.
fn simulated_plant(bins: &std::path::Path, args: &[&str]) -> (TansuBroker, String) {
    let broker = TansuBroker::start().expect("tansu broker");
    let brokers = broker.bootstrap_servers();
    stdout(
        pvflow(bins)
            .args(["simulate", "--brokers", &brokers, "--topic", "pv.plans"])
            .args(["--start", "2026-06-01"])
            .args(args),
    );
    (broker, brokers)
}

/// What predict needs: the shipped lean model, its normalisation, and ONNX Runtime.
fn model_env() -> Vec<(&'static str, String)> {
    let file = |path| pvflow_testkit::repo_file(path).display().to_string();
    vec![
        ("PVFLOW_MODEL_PATH", file("models/pv_fault_lean.onnx")),
        (
            "PVFLOW_MODEL_NORMALIZATION",
            file("models/normalization.json"),
        ),
        (
            "ORT_DYLIB_PATH",
            pvflow_testkit::onnxruntime_library().expect("ONNX Runtime"),
        ),
    ]
}

/// The arguments of `pvflow run <plan>` for the test day, reading `brokers`' `pv.plans` topic
/// and writing silver and gold under `data` (a directory or an `s3://` URL), with the manifest
/// printed as JSON.
fn run_args(plan: &str, brokers: &str, data: &str) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = [
        "run",
        plan,
        "--date",
        "2026-06-01",
        "--json",
        "--brokers",
        brokers,
        "--topic",
        "pv.plans",
    ]
    .map(Into::into)
    .to_vec();
    args.extend([
        "--silver".into(),
        format!("{data}/silver").into(),
        "--gold".into(),
        format!("{data}/gold").into(),
    ]);
    args
}

/// Where a test runs a plan.
#[derive(Debug, Clone, Copy)]
enum Via<'a> {
    /// `pvflow run`, in its own process.
    InProcess,
    /// `pvflow run --scheduler <url>`.
    Cluster(&'a str),
    /// `pvflow runs --api <url> submit --wait`, through a `pvflow serve`.
    Api(&'a str),
}

/// The run's manifest, from `--json`.
fn run_plan(
    bins: &std::path::Path,
    env: &[(&str, String)],
    plan: &str,
    brokers: &str,
    data: &str,
    via: Via,
) -> serde_json::Value {
    let mut command = pvflow(bins);
    for (key, value) in env {
        command.env(key, value);
    }
    let args = run_args(plan, brokers, data);
    match via {
        Via::InProcess => command.args(args),
        Via::Cluster(url) => command.args(args).args(["--scheduler", url]),
        // `submit` takes `run`'s arguments after `run`.
        // With a key of its own, as an orchestrator's retries would send it.
        Via::Api(url) => command
            .args(["runs", "--api", url, "submit"])
            .args(&args[1..])
            .args(["--wait", "--poll", "0.2"])
            .args([
                "--idempotency-key",
                &format!("e2e-{plan}-{}", idempotency_nonce()),
            ]),
    };
    let printed: serde_json::Value =
        serde_json::from_str(&stdout(&mut command)).expect("a JSON manifest");
    match via {
        // The API prints the run's status, which holds its manifest.
        Via::Api(_) => {
            assert_eq!(printed["state"], printed["manifest"]["state"], "{printed}");
            printed["manifest"].clone()
        }
        _ => printed,
    }
}

/// A number no earlier call in this process gave.
fn idempotency_nonce() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The content of a dataset's day, in a stable order and without run IDs.
fn day_content(bins: &std::path::Path, env: &[(&str, String)], sql: &str) -> String {
    let mut command = pvflow(bins);
    for (key, value) in env {
        command.env(key, value);
    }
    stdout(command.args(["sql", "--format", "csv", sql]))
}

/// A printed manifest's counts, typed: a count the run does not have is 0.
fn counts(manifest: &serde_json::Value) -> RunCounts {
    serde_json::from_value(manifest["counts"].clone())
        .unwrap_or_else(|e| panic!("counts of {manifest}: {e}"))
}

/// The files a day's directory holds, by name.
fn files_of(day: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(day)
        .unwrap_or_else(|e| panic!("{}: {e}", day.display()))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every file under `dir`, at any depth (none if it does not exist).
fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.expect("entry").path())
        .flat_map(|path| {
            if path.is_dir() {
                files_under(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// Both plans through the scheduler: every reading accounted for, gold equal to the embedded
/// run's, and a re-run replacing the day with exactly its own files.
#[test]
fn plans_on_the_cluster_equal_the_embedded_run_and_reruns_replace_the_day() {
    let bins = bin_dir();
    let (_broker, brokers) = simulated_plant(
        &bins,
        &["--partitions", "3", "--devices", "6", "--seed", "5"],
    );
    // Silver and gold on S3 too: the cluster's executors write there, the client commits.
    let s3 = S3Server::start("pvflow").expect("S3 server");
    let mut env = model_env();
    env.extend(s3.client_env());
    let dir = tempfile::tempdir().expect("temp dir");
    let root = |name: &str| dir.path().join(name).display().to_string();
    // The configured datasets, which every session shows as tables: the cluster run's.
    env.push((
        "PVFLOW_STORAGE_SILVER",
        format!("{}/silver", root("cluster")),
    ));
    env.push(("PVFLOW_STORAGE_GOLD", format!("{}/gold", root("cluster"))));
    // Servers reach only their storage: the other runs' locations are granted as an operator
    // would.
    env.push((
        "PVFLOW_STORAGE_ROOTS",
        format!(r#"["{}", "{}"]"#, dir.path().display(), s3.url("data")),
    ));
    // The API and the scheduler's Flight SQL take the same token, and pvflow runs sends it.
    env.push(("PVFLOW_API_TOKEN", API_TOKEN.into()));
    // A Kafka credential every node adds to its own brokers' clients (the broker needs none).
    env.push(("PVFLOW_KAFKA_BROKERS", brokers.clone()));
    env.push((
        "PVFLOW_KAFKA_CLIENT",
        format!(r#"{{"sasl.password"="{KAFKA_SECRET}"}}"#),
    ));
    env.push(("PVFLOW_SCHEDULER_FLIGHT_SQL", "true".into()));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cluster = PvflowCluster::start(&bins, 2, 2, &env_refs).expect("pvflow cluster");
    let url = cluster.url();
    let (embedded, distributed, on_s3) = (root("embedded"), root("cluster"), s3.url("data"));
    // The run to disk goes through the run API, whose runs are the cluster's clients.
    let api = RunApi::start(&bins, Some(&url), &env_refs).expect("run API");
    let api_url = api.url();
    // A real Prometheus scrapes them all while the runs go on, as a deployment's would.
    let mut targets = cluster.scrape_targets();
    targets.push(api.scrape_target());
    let prometheus = PrometheusServer::start(
        &pvflow_testkit::prometheus_binary().expect("prometheus (scripts/prometheus.sh)"),
        &targets,
    )
    .expect("prometheus");
    let runs = [
        (&embedded, Via::InProcess),
        (&distributed, Via::Api(&api_url)),
        (&on_s3, Via::Cluster(&url)),
    ];

    // What the cluster's runs read and classified, to check against the executors' metrics.
    let (mut cluster_messages, mut cluster_scored) = (0, 0);
    for (data, via) in runs {
        let ingest = run_plan(&bins, &env, "ingest", &brokers, data, via);
        assert_eq!(
            ingest["state"],
            "succeeded",
            "{ingest}\n{}\n{}",
            cluster.logs(),
            s3.log()
        );
        let read = counts(&ingest);
        let messages = read.messages_read.unwrap_or(0);
        // Every message read is a windowed reading, quarantined, or outside the day's range: the
        // scan reads `lateness_ms` past both ends of the range, and the readings before its
        // start (00:10:40) are in a window that began the day before.
        assert!(messages > 6 * 4000, "{ingest}");
        assert_eq!(
            Some(messages),
            read.readings_windowed
                .zip(read.messages_quarantined)
                .zip(read.messages_out_of_range)
                .map(|((w, q), o)| w + q + o),
            "{ingest}"
        );
        assert_eq!(read.readings_late, Some(0), "{ingest}");
        // 67 windows start on the day for each device.
        assert_eq!(read.windows, Some(6 * 67), "{ingest}");
        let partitions = ingest["kafka"]["partitions"].as_array().expect("offsets");
        assert_eq!(partitions.len(), 3, "{ingest}");

        let predict = run_plan(&bins, &env, "predict", &brokers, data, via);
        assert_eq!(
            predict["state"],
            "succeeded",
            "{predict}\n{}",
            cluster.logs()
        );
        let classified = counts(&predict);
        let scored = classified.windows_scored;
        // Every window of silver is scored or counted as having too few readings.
        assert_eq!(
            classified
                .windows_scored
                .zip(classified.windows_unscored)
                .map(|(s, u)| s + u),
            read.windows,
            "{predict}"
        );
        if !matches!(via, Via::InProcess) {
            cluster_messages += messages;
            cluster_scored += scored.unwrap_or(0);
        }
    }

    // The executors' probes answer as Ballista's own do, and their /metrics count the same work
    // as the manifests, between them.
    for i in 0..2 {
        assert_eq!(
            cluster.executor_get(i, "/healthz"),
            Some((200, "ok\n".into()))
        );
        assert_eq!(
            cluster.executor_get(i, "/readyz"),
            Some((200, "ready\n".into()))
        );
    }
    let executor_metrics: Vec<String> = (0..2)
        .map(|i| match cluster.executor_get(i, "/metrics") {
            Some((200, body)) => body,
            other => panic!("executor {i} /metrics: {other:?}"),
        })
        .collect();
    let summed = |name: &str, labels: &[&str]| -> i64 {
        executor_metrics
            .iter()
            .map(|text| metric_sum(text, name, labels))
            .sum()
    };
    // A run reads exactly the offsets its manifest records (the run pins them), once: the
    // readings scan keeps the quarantine too, and no quarantine scan runs.
    for (scan, read) in [
        (r#"scan="readings""#, cluster_messages),
        (r#"scan="quarantine""#, 0),
    ] {
        assert_eq!(
            summed(
                "pvflow_kafka_messages_read_total",
                &[r#"topic="pv.plans""#, scan]
            ),
            read,
            "{scan}: {executor_metrics:?}"
        );
    }
    let classified = summed("pvflow_windows_classified_total", &[]);
    let unclassified = summed(
        "pvflow_windows_classified_total",
        &[r#"fault_label="none""#],
    );
    assert_eq!(
        classified - unclassified,
        cluster_scored,
        "{executor_metrics:?}"
    );
    assert!(
        executor_metrics[0].contains("process_resident_memory_bytes"),
        "{}",
        executor_metrics[0]
    );

    let metrics = api.get("/metrics").expect("metrics");
    for plan in ["ingest", "predict"] {
        let ended = format!(r#"pvflow_runs_ended_total{{plan="{plan}",state="succeeded"}} 1"#);
        assert!(metrics.contains(&ended), "{metrics}\n{}", api.log());
    }
    every_dashboard_panel_has_data(&prometheus);

    let gold_sql = |data: &str| {
        format!(
            "SELECT device_id, window_start, date, fault_code, fault_label, model_version,
                    round(probabilities[fault_code + 1], 3) AS p
             FROM '{data}/gold/' ORDER BY device_id, window_start"
        )
    };
    let silver_sql = |data: &str| {
        format!(
            "SELECT device_id, count(*) AS windows, sum(readings) AS readings,
                    round(sum(current_series[32]), 2) AS current_slot32,
                    round(sum(pv_scalogram(voltage_series, current_series, temperature_series,
                                           irradiance_series)[64 * 64 + 32]), 2) AS current_scale1
             FROM '{data}/silver/' GROUP BY device_id ORDER BY device_id"
        )
    };
    let gold = day_content(&bins, &env, &gold_sql(&embedded));
    assert_eq!(gold.lines().count(), 1 + 6 * 67, "{gold}");
    let silver = day_content(&bins, &env, &silver_sql(&embedded));
    for other in [&distributed, &on_s3] {
        assert_eq!(gold, day_content(&bins, &env, &gold_sql(other)), "{other}");
        assert_eq!(
            silver,
            day_content(&bins, &env, &silver_sql(other)),
            "{other}"
        );
    }

    analysts_query_gold_over_flight_sql(&cluster, &distributed);
    // The configured gold as a table, through its log, in-process and on the cluster.
    let gold_table = "SELECT count(*) AS windows, min(date) AS first_day FROM gold";
    let expected = "windows,first_day\n402,2026-06-01\n";
    assert_eq!(day_content(&bins, &env, gold_table), expected);
    let mut on_cluster = pvflow(&bins);
    on_cluster.envs(env.iter().map(|(k, v)| (k, v))).args([
        "sql",
        "--scheduler",
        &url,
        "--format",
        "csv",
        gold_table,
    ]);
    assert_eq!(stdout(&mut on_cluster), expected);
    // A filter on the date chooses the files: no day after the run's.
    let later = "SELECT count(*) AS windows FROM gold WHERE date > DATE '2026-06-01'";
    assert_eq!(day_content(&bins, &env, later), "windows\n0\n");

    // A re-run replaces the day, on a disk and on S3: same rows, and only the new run's files.
    let s3_files = s3.bucket_dir().join("data");
    for (data, files) in [
        (&distributed, PathBuf::from(&distributed)),
        (&on_s3, s3_files),
    ] {
        rerun_replaces_the_day(&bins, &env, &brokers, &url, data, &files);
        assert_eq!(gold, day_content(&bins, &env, &gold_sql(data)), "{data}");
    }

    // No token, credential or secret in any log line or error of pvflow's processes, nor in
    // any file they wrote (manifests, Delta log entries, Parquet).
    let aws_secret = env
        .iter()
        .find(|(key, _)| *key == "AWS_SECRET_ACCESS_KEY")
        .map(|(_, value)| value.clone())
        .expect("the S3 server's secret");
    let mut written: Vec<(String, String)> = vec![
        ("the cluster's logs".into(), cluster.logs()),
        ("the API's log".into(), api.log()),
        (
            "pvflow commands' stderr".into(),
            STDERR
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        ),
    ];
    for file in files_under(dir.path())
        .into_iter()
        .chain(files_under(&s3.bucket_dir()))
    {
        let bytes = std::fs::read(&file).expect("readable");
        written.push((
            file.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    assert!(written.len() > 20, "{} files and logs", written.len());
    for (what, text) in &written {
        for secret in [API_TOKEN, KAFKA_SECRET, aws_secret.as_str()] {
            assert!(!text.contains(secret), "{what} holds a secret:\n{text}");
        }
    }
}

const API_TOKEN: &str = "e2e-api-token";
const KAFKA_SECRET: &str = "e2e-kafka-secret";

/// An analyst's SQL client on the scheduler's Flight SQL: logs in with the API token and
/// queries the configured gold with pvflow's functions at hand; a wrong token is refused.
fn analysts_query_gold_over_flight_sql(cluster: &PvflowCluster, data: &str) {
    let url = cluster.url().replace("df://", "http://");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let error = flight_sql_client(&url)
            .await
            .handshake("analyst", "wrong")
            .await
            .expect_err("a wrong token is refused");
        assert!(error.to_string().contains("API token"), "{error}");

        let mut client = flight_sql_session(&url).await;
        // As an attacker with the token would: files and buckets that are not the datasets'
        // stay out of reach, read or write.
        let secret = std::env::temp_dir().join(format!("pvflow-e2e-{}.csv", std::process::id()));
        for sql in [
            "CREATE EXTERNAL TABLE p STORED AS CSV LOCATION '/etc/passwd'".to_string(),
            "CREATE EXTERNAL TABLE t STORED AS CSV \
             LOCATION '/var/run/secrets/kubernetes.io/serviceaccount/token'"
                .to_string(),
            "CREATE EXTERNAL TABLE b STORED AS PARQUET LOCATION 's3://another-bucket/'".to_string(),
            format!("COPY (SELECT 1 AS x) TO '{}' STORED AS CSV", secret.display()),
        ] {
            let error = client.execute(sql.clone(), None).await.expect_err(&sql);
            // Ballista's Flight SQL refuses COPY outright; pvflow's planner would too.
            let error = error.to_string();
            assert!(
                error.contains("outside the locations") || error.contains("does not support COPY"),
                "{sql}: {error}"
            );
        }
        assert!(!secret.exists());
        let row = flight_sql_first_row(
            &mut client,
            "SELECT count(*) AS windows, array_length(cwt_morlet([0.0, 1.0, 0.0, -1.0], 4)) AS scales,
                    min(date) AS day
             FROM gold WHERE date = DATE '2026-06-01'",
        )
        .await
        .expect("gold's day");
        assert_eq!(row, ["402", "4", "2026-06-01"]);
    });
    analysts_query_gold_through_adbc(cluster, data);
}

/// The same through ADBC's Flight SQL driver, which checks that each result's data has the
/// schema announced for it: typical analysts' queries, several runs each, and the calls a
/// client's schema browser makes; gold's files declared as an external table under `data`.
fn analysts_query_gold_through_adbc(cluster: &PvflowCluster, data: &str) {
    let python = pvflow_testkit::adbc_python().expect("ADBC's Flight SQL driver");
    let script = pvflow_testkit::repo_file("tests/e2e/adbc_queries.py");
    let uri = cluster.url().replace("df://", "grpc://");
    let out = Command::new(python)
        .arg(&script)
        .args([&uri, API_TOKEN, &format!("{data}/gold/")])
        .output()
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ADBC queries failed:\n{stderr}");
    let answers: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let result = |name: &str| answers["results"][name].clone();
    assert_eq!(result("count"), serde_json::json!([["402"]]));
    assert_eq!(result("count_of_a_day"), serde_json::json!([["402"]]));
    for grouped in ["by_class", "by_class_unaliased"] {
        let windows: i64 = result(grouped)
            .as_array()
            .expect("rows")
            .iter()
            .map(|row| {
                row[1]
                    .as_str()
                    .and_then(|n| n.parse::<i64>().ok())
                    .expect("a count")
            })
            .sum();
        assert_eq!(windows, 402, "{grouped}: {answers}");
    }
    assert_eq!(
        result("confidence_by_device").as_array().map(Vec::len),
        Some(6)
    );
    assert_eq!(result("gold_join_silver")[0][0], "402", "{answers}");
    assert_eq!(result("latest_by_device").as_array().map(Vec::len), Some(6));
    // The hive partition column, a dictionary in the plan, is sent as plain strings.
    assert_eq!(result("external_rows"), serde_json::json!([["2026-06-01"]]));
    assert_eq!(
        result("external_by_day"),
        serde_json::json!([["2026-06-01", "402"]])
    );
    let tables = &answers["tables"];
    for table in ["gold", "silver"] {
        assert!(
            tables.as_array().is_some_and(|t| t.contains(&table.into())),
            "{answers}"
        );
    }
    assert!(
        answers["gold_columns"]
            .as_array()
            .is_some_and(|c| c.contains(&"fault_label".into())),
        "{answers}"
    );
}

/// The sum of metric `name`'s samples in Prometheus text `text` that carry every one of
/// `labels` (`key="value"`).
fn metric_sum(text: &str, name: &str, labels: &[&str]) -> i64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|value| value as i64)
        .sum()
}

/// Re-runs predict for the day on the cluster at `url` and checks that gold's day directory (in
/// `files`, the local view of `data`) then holds exactly the files the run reports, all new,
/// and that its log has the commit.
fn rerun_replaces_the_day(
    bins: &std::path::Path,
    env: &[(&str, String)],
    brokers: &str,
    url: &str,
    data: &str,
    files: &std::path::Path,
) {
    let day = files.join("gold/date=2026-06-01");
    let before = files_of(&day);
    let rerun = run_plan(bins, env, "predict", brokers, data, Via::Cluster(url));
    assert_eq!(rerun["state"], "succeeded", "{rerun}");
    let after = files_of(&day);
    let reported: Vec<String> = rerun["outputs"][0]["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            let path = f["path"].as_str().expect("path");
            path.rsplit('/').next().expect("name").to_string()
        })
        .collect();
    let mut reported_sorted = reported.clone();
    reported_sorted.sort();
    assert_eq!(after, reported_sorted);
    // Written in parallel: one file per task partition, not one funnelled writer.
    assert!(after.len() >= 2, "{after:?}");
    assert!(
        before.iter().all(|f| !after.contains(f)),
        "{before:?} {after:?}"
    );
    // An S3 server may keep emptied directories; there must be no objects.
    let staged = files_under(&files.join("gold/_staging"));
    assert!(staged.is_empty(), "{staged:?}");
    // One log entry per predict run.
    assert_eq!(files_of(&files.join("gold/_delta_log")).len(), 2, "{data}");

    // delta-rs, a second reader of the log, sees the same day.
    let seen = delta_rs_view(env, &format!("{data}/gold"));
    assert_eq!(seen["version"], 1, "{seen}");
    assert_eq!(
        seen["partition_columns"],
        serde_json::json!(["date"]),
        "{seen}"
    );
    assert_eq!(seen["files"], serde_json::json!(after), "{seen}");
    assert_eq!(seen["rows"], 6 * 67, "{seen}");
    assert_eq!(seen["dates"], serde_json::json!(["2026-06-01"]), "{seen}");
}

/// What delta-rs, a second reader of Delta logs, sees of the table at `uri` (`read_delta.py`'s
/// JSON: version, partition columns, file names, rows, dates).
fn delta_rs_view(env: &[(&str, String)], uri: &str) -> serde_json::Value {
    let python = pvflow_testkit::delta_python().expect("deltalake");
    let mut read = std::process::Command::new(python);
    read.arg(pvflow_testkit::repo_file("tests/read_delta.py"))
        .arg(uri)
        .envs(env.iter().map(|(k, v)| (k, v)));
    let output = read.output().expect("read_delta.py runs");
    assert!(
        output.status.success(),
        "delta-rs cannot read {uri}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("delta-rs's view as JSON")
}

/// `pvflow run ingest` of the day on the cluster, in the background, its manifest on stdout.
fn spawn_ingest(bins: &std::path::Path, brokers: &str, url: &str, data: &str) -> Child {
    std::process::Command::new(bins.join("pvflow"))
        .env_remove("PVFLOW_CONFIG")
        .args(run_args("ingest", brokers, data))
        .args(["--scheduler", url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("pvflow run starts")
}

/// Waits for `child` to exit (at most `limit`) and returns its status and stdout.
fn finish(child: &mut Child, limit: Duration, cluster: &PvflowCluster) -> (ExitStatus, String) {
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not end within {limit:?}\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut stdout)
        .expect("manifest");
    (status, stdout)
}

/// A run stopped by SIGTERM while its tasks write (as Kubernetes stops a pod), then a run that
/// loses an executor: the first is cancelled on the cluster and leaves the previous silver as
/// it was; the second completes correctly on the other executor, or fails the same way. Never a
/// partial day.
#[test]
fn a_run_that_is_stopped_or_loses_an_executor_never_leaves_a_partial_day() {
    let bins = bin_dir();
    let (mut broker, brokers) = simulated_plant(
        &bins,
        &["--partitions", "4", "--devices", "12", "--seed", "9"],
    );
    let env: [(&str, String); 0] = [];
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    let root = data.to_str().expect("utf-8 path");
    let storage = format!(r#"["{root}"]"#);
    let mut cluster = PvflowCluster::start(&bins, 2, 1, &[("PVFLOW_STORAGE_ROOTS", &storage)])
        .expect("pvflow cluster");
    let url = cluster.url();
    let first = run_plan(&bins, &env, "ingest", &brokers, root, Via::Cluster(&url));
    assert_eq!(first["state"], "succeeded", "{first}");
    let silver_sql = format!(
        "SELECT device_id, count(*) AS windows, sum(readings) AS readings,
                round(sum(current_series[32]), 2) AS current_slot32
         FROM '{}/silver/' GROUP BY device_id ORDER BY device_id",
        data.display()
    );
    let silver = day_content(&bins, &env, &silver_sql);
    let day = data.join("silver/date=2026-06-01");
    let before = files_of(&day);

    // Stopped once its tasks write into staging.
    let mut stopped = spawn_ingest(&bins, &brokers, &url, root);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !data.join("silver/_staging").exists() {
        assert!(
            Instant::now() < deadline,
            "no task wrote\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &stopped.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let (status, manifest) = finish(&mut stopped, Duration::from_secs(30), &cluster);
    assert_eq!(status.code(), Some(143), "{manifest}");
    let manifest: serde_json::Value = serde_json::from_str(&manifest).expect("a JSON manifest");
    assert_eq!(manifest["state"], "cancelled", "{manifest}");
    let jobs = manifest["cluster_jobs"].as_array().expect("cluster jobs");
    let writing = jobs
        .iter()
        .find(|j| j["finished"] == false)
        .unwrap_or_else(|| panic!("no unfinished job in {manifest}"));
    let job = writing["job_id"].as_str().expect("job id");
    // Cancelled on the cluster, not left running without a client: the scheduler either has
    // dropped the job or reports it ended.
    if let Some((200, body)) = cluster.scheduler_get(&format!("/api/job/{job}")) {
        let reported: serde_json::Value = serde_json::from_str(&body).expect("job JSON");
        assert!(
            !matches!(reported["status"].as_str(), Some("Running" | "Queued")),
            "{reported}"
        );
    }
    assert_eq!(before, files_of(&day));
    assert!(!data.join("silver/_staging").exists());
    assert_eq!(silver, day_content(&bins, &env, &silver_sql));
    // The scheduler's Prometheus metrics count it.
    let (code, metrics) = cluster.scheduler_get("/api/metrics").expect("metrics");
    assert_eq!(code, 200, "{metrics}");
    assert!(metrics.contains("job_cancelled_total 1"), "{metrics}");

    // An executor killed while one of the run's tasks is reading Kafka on it.
    let mut rerun = spawn_ingest(&bins, &brokers, &url, root);
    let reading = reading_executor(&cluster, &[0, 1], || {
        rerun.try_wait().expect("wait").is_none()
    });
    cluster.kill_executor(reading);
    let (status, manifest) = finish(&mut rerun, Duration::from_secs(240), &cluster);
    let after = files_of(&day);
    eprintln!("the run that lost executor {reading}: {status}");
    if status.success() {
        // Completed on the other executor: the same silver, entirely from the new run.
        assert!(
            before.iter().all(|f| !after.contains(f)),
            "{before:?} {after:?}"
        );
    } else {
        // Failed: the previous day untouched.
        assert!(manifest.contains("\"failed\""), "{manifest}");
        assert_eq!(before, after);
    }
    assert_eq!(silver, day_content(&bins, &env, &silver_sql), "{manifest}");
    assert!(!data.join("silver/_staging").exists());

    // The broker stopped while the run reads: its first slice read, three still to read on the
    // one executor slot left. The run fails, says so, and the day is what it was.
    let before = files_of(&day);
    let mut cut_off = spawn_ingest(&bins, &brokers, &url, root);
    reading_executor(&cluster, &[1 - reading], || {
        cut_off.try_wait().expect("wait").is_none()
    });
    broker.kill();
    let (status, manifest) = finish(&mut cut_off, Duration::from_secs(240), &cluster);
    assert_eq!(status.code(), Some(1), "{manifest}");
    let manifest: serde_json::Value = serde_json::from_str(&manifest).expect("a JSON manifest");
    assert_eq!(manifest["state"], "failed", "{manifest}");
    let error = manifest["error"].as_str().expect("an error");
    // Names the topic, partition and offset it could not read (Ballista shows the task's
    // error as debug output).
    assert!(
        error.contains(r#"topic: "pv.plans""#) && error.contains("BrokerTransportFailure"),
        "{error}"
    );
    assert_eq!(before, files_of(&day));
    assert!(!data.join("silver/_staging").exists());
    assert_eq!(silver, day_content(&bins, &env, &silver_sql), "{manifest}");
}

/// Which of `executors` reads Kafka for a run first: waits until one's count of messages read
/// grows (a scan task of the run is reading on it). Panics if the run ends first
/// (`running` says whether it still runs).
fn reading_executor(
    cluster: &PvflowCluster,
    executors: &[usize],
    mut running: impl FnMut() -> bool,
) -> usize {
    let read = |i: usize| match cluster.executor_get(i, "/metrics") {
        Some((200, text)) => metric_sum(&text, "pvflow_kafka_messages_read_total", &[]),
        _ => 0,
    };
    let before: Vec<i64> = executors.iter().map(|&i| read(i)).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(i) = executors
            .iter()
            .zip(&before)
            .find_map(|(&i, &was)| (read(i) > was).then_some(i))
        {
            return i;
        }
        assert!(
            running(),
            "the run ended before any executor read\n{}",
            cluster.logs()
        );
        assert!(
            Instant::now() < deadline,
            "no executor read\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How much load [`the_run_api_and_flight_sql_hold_concurrent_load`] applies, and where it
/// writes its figures (`bench/load.sh` scales it up).
struct LoadShape {
    /// Concurrent HTTP clients of the run API, each sending `requests` requests.
    api_clients: usize,
    requests: usize,
    /// Concurrent Flight SQL sessions, each running `queries` queries.
    flight_clients: usize,
    queries: usize,
    report: Option<PathBuf>,
}

impl LoadShape {
    fn from_env() -> LoadShape {
        let number = |name: &str, default: usize| {
            std::env::var(name).map_or(default, |v| v.parse().expect("a number"))
        };
        LoadShape {
            api_clients: number("PVFLOW_LOAD_API_CLIENTS", 16),
            requests: number("PVFLOW_LOAD_REQUESTS", 50),
            flight_clients: number("PVFLOW_LOAD_FLIGHT_CLIENTS", 4),
            queries: number("PVFLOW_LOAD_QUERIES", 10),
            report: std::env::var_os("PVFLOW_LOAD_REPORT").map(PathBuf::from),
        }
    }
}

/// Latencies of one kind of request, and how many answered otherwise than expected.
#[derive(Default)]
struct Latencies {
    seconds: Vec<f64>,
    errors: Vec<String>,
}

impl Latencies {
    fn record(&mut self, started: Instant, outcome: Result<(), String>) {
        self.seconds.push(started.elapsed().as_secs_f64());
        if let Err(e) = outcome {
            self.errors.push(e);
        }
    }

    /// Every reader's latencies, once each has ended.
    async fn joined(readers: Vec<tokio::task::JoinHandle<Latencies>>) -> Latencies {
        let mut all = Latencies::default();
        for reader in readers {
            let ended = reader.await.expect("reader");
            all.seconds.extend(ended.seconds);
            all.errors.extend(ended.errors);
        }
        all
    }

    fn summary(&mut self) -> serde_json::Value {
        self.seconds.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let n = self.seconds.len();
            let i = ((q * n as f64).ceil() as usize).clamp(1, n.max(1)) - 1;
            self.seconds
                .get(i)
                .map_or(0.0, |s| (s * 1e5).round() / 100.0)
        };
        serde_json::json!({
            "requests": self.seconds.len(),
            "errors": self.errors.len(),
            "p50_ms": at(0.50),
            "p99_ms": at(0.99),
            "max_ms": at(1.0),
        })
    }
}

type FlightSqlClient = arrow_flight::sql::client::FlightSqlServiceClient<tonic::transport::Channel>;

/// A Flight SQL client of the scheduler at `url` (`http://HOST:PORT`), not logged in.
async fn flight_sql_client(url: &str) -> FlightSqlClient {
    use ballista_core::utils::{GrpcClientConfig, create_grpc_client_connection};
    let channel = create_grpc_client_connection(url.to_string(), &GrpcClientConfig::default())
        .await
        .expect("connected");
    FlightSqlClient::new(channel)
}

/// A Flight SQL session logged in with the API token.
async fn flight_sql_session(url: &str) -> FlightSqlClient {
    let mut client = flight_sql_client(url).await;
    client
        .handshake("analyst", API_TOKEN)
        .await
        .expect("logged in");
    client
}

/// The first row of `sql`'s answer, each column as text.
async fn flight_sql_first_row(
    client: &mut FlightSqlClient,
    sql: &str,
) -> Result<Vec<String>, String> {
    use futures::TryStreamExt;
    let info = client
        .execute(sql.to_string(), None)
        .await
        .map_err(|e| e.to_string())?;
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.ok_or("no ticket")?;
        let got: Vec<_> = client
            .do_get(ticket)
            .await
            .map_err(|e| e.to_string())?
            .try_collect()
            .await
            .map_err(|e| e.to_string())?;
        batches.extend(got);
    }
    let batch = batches.first().ok_or("no rows")?;
    let format = arrow::util::display::FormatOptions::default();
    batch
        .columns()
        .iter()
        .map(|column| {
            arrow::util::display::ArrayFormatter::try_new(column, &format)
                .map(|f| f.value(0).to_string())
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// The run API and Flight SQL under bounded concurrent load while runs of other days ingest and
/// predict, with a duplicate of each running day's run (409) in the mix: no request fails, no
/// run fails, every Flight SQL answer is the committed day's, whatever is being committed.
/// Latencies are printed (and written to `PVFLOW_LOAD_REPORT`), never asserted.
#[test]
fn the_run_api_and_flight_sql_hold_concurrent_load() {
    let shape = LoadShape::from_env();
    let bins = bin_dir();
    let (_broker, brokers) = simulated_plant(
        &bins,
        &[
            "--partitions",
            "3",
            "--devices",
            "6",
            "--days",
            "3",
            "--seed",
            "11",
        ],
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let dataset = |name: &str| dir.path().join(name).display().to_string();
    let (silver, gold) = (dataset("silver"), dataset("gold"));
    let env = [
        ("PVFLOW_STORAGE_SILVER", silver.as_str()),
        ("PVFLOW_STORAGE_GOLD", gold.as_str()),
        ("PVFLOW_KAFKA_BROKERS", brokers.as_str()),
        ("PVFLOW_KAFKA_TOPIC", "pv.plans"),
        ("PVFLOW_API_TOKEN", API_TOKEN),
        ("PVFLOW_SCHEDULER_FLIGHT_SQL", "true"),
    ];
    let model_env = model_env();
    let env: Vec<(&str, &str)> = env
        .into_iter()
        .chain(model_env.iter().map(|(k, v)| (*k, v.as_str())))
        .collect();
    let cluster = PvflowCluster::start(&bins, 2, 2, &env).expect("pvflow cluster");
    let api = RunApi::start(&bins, Some(&cluster.url()), &env).expect("run API");
    let (api_url, flight_url) = (api.url(), cluster.url().replace("df://", "http://"));

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let report = runtime.block_on(async {
        let http = reqwest::Client::new();
        let submit = async |plan: &str, date: &str| -> (u16, serde_json::Value) {
            let body = serde_json::json!({"plan": plan, "date": date}).to_string();
            let answer = http
                .post(format!("{api_url}/runs"))
                .bearer_auth(API_TOKEN)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("answered");
            let code = answer.status().as_u16();
            let body = answer.bytes().await.expect("a body");
            (code, serde_json::from_slice(&body).expect("a JSON answer"))
        };
        let wait = async |run_id: &str| -> serde_json::Value {
            loop {
                let body = http
                    .get(format!("{api_url}/runs/{run_id}"))
                    .bearer_auth(API_TOKEN)
                    .send()
                    .await
                    .expect("answered")
                    .bytes()
                    .await
                    .expect("a body");
                let status: serde_json::Value =
                    serde_json::from_slice(&body).expect("a JSON status");
                if status["state"] != "running" {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        // The first day, before the load: what Flight SQL sessions read while others commit.
        for plan in ["ingest", "predict"] {
            let (code, started) = submit(plan, "2026-06-01").await;
            assert_eq!(code, 202, "{started}");
            let ended = wait(started["run_id"].as_str().expect("run id")).await;
            assert_eq!(ended["state"], "succeeded", "{ended}\n{}", cluster.logs());
        }
        let day_one = "SELECT count(*) FROM gold WHERE date = DATE '2026-06-01'";
        let expected = flight_sql_first_row(&mut flight_sql_session(&flight_url).await, day_one)
            .await
            .expect("day one's windows");
        assert_eq!(expected, ["402"]);

        // Readers, each at least its share of requests and on until the runs below end: run API
        // clients polling what orchestrators poll, Flight SQL sessions querying.
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let going = |done: &std::sync::atomic::AtomicBool, i: usize, least: usize| {
            i < least || !done.load(std::sync::atomic::Ordering::Relaxed)
        };
        let api_readers: Vec<_> = (0..shape.api_clients)
            .map(|client| {
                let (http, url, done) = (http.clone(), api_url.clone(), done.clone());
                tokio::spawn(async move {
                    let mut latencies = Latencies::default();
                    let mut i = 0;
                    while going(&done, i, shape.requests) {
                        i += 1;
                        let path = ["/runs", "/healthz", "/metrics", "/runs?plan=ingest"]
                            [(client + i) % 4];
                        let started = Instant::now();
                        let answer = http
                            .get(format!("{url}{path}"))
                            .bearer_auth(API_TOKEN)
                            .send()
                            .await;
                        let outcome = match answer {
                            Ok(a) if a.status() == 200 => {
                                a.bytes().await.map(drop).map_err(|e| e.to_string())
                            }
                            Ok(a) => Err(format!("{path}: {}", a.status())),
                            Err(e) => Err(format!("{path}: {e}")),
                        };
                        latencies.record(started, outcome);
                    }
                    latencies
                })
            })
            .collect();
        let flight_readers: Vec<_> = (0..shape.flight_clients)
            .map(|_| {
                let (url, expected, done) = (flight_url.clone(), expected.clone(), done.clone());
                tokio::spawn(async move {
                    let mut latencies = Latencies::default();
                    let mut session = flight_sql_session(&url).await;
                    let mut i = 0;
                    while going(&done, i, shape.queries) {
                        i += 1;
                        let started = Instant::now();
                        let outcome = match flight_sql_first_row(&mut session, day_one).await {
                            Ok(row) if row == expected => Ok(()),
                            Ok(row) => Err(format!("{row:?} windows, not {expected:?}")),
                            Err(e) => Err(e),
                        };
                        latencies.record(started, outcome);
                    }
                    latencies
                })
            })
            .collect();

        // Meanwhile, orchestrators: the other two days' runs at once, and each a second time
        // while it runs, which the API refuses with 409 naming the running one.
        let mut submits = Latencies::default();
        let mut duplicates_refused = 0;
        for plan in ["ingest", "predict"] {
            let mut running = Vec::new();
            for date in ["2026-06-02", "2026-06-03"] {
                let started = Instant::now();
                let (code, status) = submit(plan, date).await;
                submits.record(
                    started,
                    (code == 202)
                        .then_some(())
                        .ok_or(format!("{code}: {status}")),
                );
                running.push(status["run_id"].as_str().expect("run id").to_string());
                let started = Instant::now();
                let (code, refusal) = submit(plan, date).await;
                submits.record(
                    started,
                    (code == 409)
                        .then_some(())
                        .ok_or(format!("{code}: {refusal}")),
                );
                duplicates_refused += usize::from(code == 409);
            }
            for run_id in running {
                let ended = wait(&run_id).await;
                assert_eq!(ended["state"], "succeeded", "{ended}\n{}", cluster.logs());
            }
        }

        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut api_reads = Latencies::joined(api_readers).await;
        let mut flight_queries = Latencies::joined(flight_readers).await;
        for (what, l) in [
            ("run API", &api_reads),
            ("Flight SQL", &flight_queries),
            ("submissions", &submits),
        ] {
            assert!(l.errors.is_empty(), "{what}: {:?}\n{}", l.errors, api.log());
        }
        assert_eq!(duplicates_refused, 4);
        serde_json::json!({
            "api_clients": shape.api_clients,
            "flight_clients": shape.flight_clients,
            "api_reads": api_reads.summary(),
            "flight_sql_queries": flight_queries.summary(),
            "run_submissions": submits.summary(),
            "runs": {"succeeded": 6, "duplicates_refused_409": duplicates_refused},
        })
    });
    eprintln!("{report:#}");
    if let Some(path) = &shape.report {
        std::fs::write(path, format!("{report:#}\n")).expect("report written");
    }
}

/// The scheduler crashes and comes back while a run submitted through the run API reads: the
/// run fails clean (the day as it was, no staging, a manifest saying why), and the API,
/// restarted too, still answers for the run from its manifest.
#[test]
fn a_scheduler_restart_fails_the_run_clean_and_the_api_still_answers() {
    let bins = bin_dir();
    let (_broker, brokers) = simulated_plant(
        &bins,
        &["--partitions", "4", "--devices", "12", "--seed", "9"],
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let silver = dir.path().join("silver");
    let gold = dir.path().join("gold");
    let env = [
        ("PVFLOW_STORAGE_SILVER", silver.display().to_string()),
        ("PVFLOW_STORAGE_GOLD", gold.display().to_string()),
        ("PVFLOW_KAFKA_BROKERS", brokers.clone()),
        ("PVFLOW_KAFKA_TOPIC", "pv.plans".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut cluster = PvflowCluster::start(&bins, 2, 1, &env).expect("pvflow cluster");
    let api = RunApi::start(&bins, Some(&cluster.url()), &env).expect("run API");
    let submit = |api: &RunApi| -> String {
        let printed = stdout(
            pvflow(&bins)
                .args(["runs", "--api", &api.url(), "submit"])
                .args(["ingest", "--date", "2026-06-01", "--json"]),
        );
        let status: serde_json::Value = serde_json::from_str(&printed).expect("a status");
        status["run_id"].as_str().expect("a run id").to_string()
    };
    let state = |api: &RunApi, run_id: &str| -> serde_json::Value {
        let body = api
            .get(&format!("/runs/{run_id}"))
            .expect("the run's status");
        serde_json::from_str(&body).expect("a JSON status")
    };
    let wait = |api: &RunApi, run_id: &str| -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let status = state(api, run_id);
            if status["state"] != "running" {
                return status;
            }
            assert!(Instant::now() < deadline, "{status}\n{}", api.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let first = submit(&api);
    assert_eq!(
        wait(&api, &first)["state"],
        "succeeded",
        "{}",
        cluster.logs()
    );
    let day = silver.join("date=2026-06-01");
    let before = files_of(&day);

    let second = submit(&api);
    reading_executor(&cluster, &[0, 1], || {
        state(&api, &second)["state"] == "running"
    });
    cluster.restart_scheduler().expect("scheduler back");
    let ended = wait(&api, &second);
    assert_eq!(ended["state"], "failed", "{ended}\n{}", api.log());
    let error = ended["error"].as_str().expect("why it failed");
    assert!(!error.is_empty(), "{ended}");
    assert_eq!(before, files_of(&day), "{ended}");
    // Tasks the lost scheduler had started may still finish on the executors: give them the
    // time, then no staged file may remain or show.
    std::thread::sleep(Duration::from_secs(3));
    let staged = files_under(&silver.join("_staging"));
    assert!(staged.is_empty(), "{staged:?}");
    assert_eq!(before, files_of(&day));

    // The API process goes and comes back: it answers for the run from its manifest.
    drop(api);
    let api = RunApi::start(&bins, Some(&cluster.url()), &env).expect("run API again");
    let remembered = state(&api, &second);
    assert_eq!(remembered["state"], "failed", "{remembered}");
    assert_eq!(remembered["error"], ended["error"], "{remembered}");
}

/// Every query of the Grafana dashboard (monitoring/grafana/pvflow-dashboard.json) returns
/// series from `prometheus`, which scrapes a cluster, its executors and the run API that ran
/// plans: what an operator's panels would show. `$__rate_interval` is Grafana's; 30 s here.
fn every_dashboard_panel_has_data(prometheus: &PrometheusServer) {
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(pvflow_testkit::repo_file(
            "monitoring/grafana/pvflow-dashboard.json",
        ))
        .expect("the dashboard"),
    )
    .expect("the dashboard is JSON");
    let queries: Vec<(String, String)> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap_or_default().to_string();
            panel["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |t| {
                    (
                        title.clone(),
                        t["expr"].as_str().unwrap_or_default().to_string(),
                    )
                })
        })
        .collect();
    assert!(queries.len() >= 12, "{queries:?}");
    // Rates need two scrapes of each target: a few seconds after the first.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut empty = Vec::new();
    loop {
        empty.clear();
        for (title, expr) in &queries {
            let expr = expr.replace("$__rate_interval", "30s");
            let answer = prometheus.query(&expr).unwrap_or_default();
            let answer: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
            let series = answer["data"]["result"].as_array().map_or(0, Vec::len);
            if answer["status"] != "success" || series == 0 {
                empty.push(format!("{title}: {expr} -> {answer}"));
            }
        }
        if empty.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(
        empty.is_empty(),
        "{}\n{}",
        empty.join("\n"),
        prometheus.log()
    );
    // The classes the executors counted, as the "Windows by fault class" panel shows them.
    let classes = prometheus
        .query("sum(pvflow_windows_classified_total)")
        .unwrap_or_default();
    let parsed: serde_json::Value = serde_json::from_str(&classes).unwrap_or_default();
    let windows: f64 = parsed["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    assert!(windows > 0.0, "{classes}");
}
