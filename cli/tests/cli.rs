//! The `pvflow` binary as users and orchestrators see it: output, formats and exit codes.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

/// The `pvflow` binary, independent of the developer's environment.
fn pvflow_process() -> std::process::Command {
    use assert_cmd::cargo::CommandCargoExt;
    let mut cmd = std::process::Command::cargo_bin("pvflow").expect("pvflow binary");
    for name in [
        "PVFLOW_CONFIG",
        "PVFLOW_MODEL_NORMALIZATION",
        "PVFLOW_MODEL_PATH",
        "PVFLOW_MODEL_ONNXRUNTIME",
        "PVFLOW_KAFKA_BROKERS",
        "PVFLOW_STORAGE_SILVER",
        "PVFLOW_STORAGE_GOLD",
        "PVFLOW_API_TOKEN",
        "RUST_LOG",
    ] {
        cmd.env_remove(name);
    }
    cmd
}

fn pvflow() -> Command {
    Command::from_std(pvflow_process())
}

/// Runs `cmd`, which must succeed, and returns its stdout; a failure shows both outputs.
fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The last line of `pvflow sql --format json` output: its one row.
fn last_json_row(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.lines().last().expect("a row")).expect("JSON")
}

#[test]
fn cwt_morlet_from_the_shell() {
    pvflow()
        .args(["sql", "SELECT array_length(cwt_morlet([0.0, 1.0, 0.0, -1.0, 0.0, 1.0, 0.0, -1.0], 4)) AS scales"])
        .assert()
        .success()
        .stdout(predicate::str::contains("| scales |").and(predicate::str::contains("| 4      |")))
        .stdout(predicate::str::contains("1 row"));
}

#[test]
fn sql_errors_are_readable_with_exit_code_1() {
    pvflow()
        .args(["sql", "SELECT * FROM no_such_table"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("error:").and(predicate::str::contains("no_such_table")))
        .stderr(predicate::str::contains("panicked").not());
    pvflow()
        .args(["sql", "SELEC 1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("error:"));
}

/// A plant description is the table `devices` of every session; a wrong one stops the command
/// with its line and field named.
#[test]
fn the_plant_description_is_the_devices_table() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let example = repo.join("plant/examples/plant.toml");
    let out = stdout_of(pvflow().env("PVFLOW_PLANT_DESCRIPTION", &example).args([
        "sql",
        "--format",
        "csv",
        "SELECT technology, count(*) AS devices, round(max(v_mp), 1) AS v_mp FROM devices GROUP BY 1 ORDER BY 1",
    ]));
    assert_eq!(
        out,
        "technology,devices,v_mp\nCdTe,2,695.6\nMono-c-Si,1,754.2\nMulti-c-Si,200,150.5\n"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let wrong = dir.path().join("plant.toml");
    let text = std::fs::read_to_string(&example).expect("example");
    std::fs::write(&wrong, text.replace("strings = 3", "strings = 0")).expect("written");
    pvflow()
        .env("PVFLOW_PLANT_DESCRIPTION", &wrong)
        .args(["sql", "SELECT 1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "[plant] description: line 17, array_type[0].strings: must be 1 to 50, not 0",
        ));
}

#[test]
fn usage_and_io_errors_have_their_own_codes() {
    pvflow()
        .args(["sql", "--format", "parquet", "SELECT 1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--output"));
    pvflow()
        .args(["sql", "-f", "/nonexistent/q.sql"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("/nonexistent/q.sql"));
    pvflow()
        .args(["--config", "/nonexistent/pvflow.toml", "sql", "SELECT 1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/nonexistent/pvflow.toml"));
    pvflow()
        .args(["sql", "--format", "csv", "SELECT [1, 2] AS l"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("CSV cannot hold"));
}

#[test]
fn a_bad_normalisation_file_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("normalization.json");
    std::fs::write(&bad, r#"{"method": "standard"}"#).expect("write");
    pvflow()
        .env("PVFLOW_MODEL_NORMALIZATION", &bad)
        .args(["sql", "SELECT 1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(bad.display().to_string()));
}

#[test]
fn statements_from_a_file_run_in_one_session_and_formats_round_trip() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("r.parquet");
    let script = dir.path().join("q.sql");
    std::fs::write(
        &script,
        format!(
            "COPY (SELECT i, CAST(i AS FLOAT) * 0.5 AS x FROM unnest(range(0, 10)) AS t(i)) TO '{}' STORED AS PARQUET;\n\
             CREATE EXTERNAL TABLE r STORED AS PARQUET LOCATION '{}';\n\
             SELECT sum(i) AS total FROM r;",
            data.display(),
            data.display()
        ),
    )
    .expect("write");
    let script = script.to_str().expect("utf-8 path");
    pvflow()
        .args(["sql", "-f", script])
        .assert()
        .success()
        .stdout(predicate::str::contains("| 45    |"));
    pvflow()
        .args(["sql", "--format", "csv", "-f", script])
        .assert()
        .success()
        .stdout(predicate::str::ends_with("total\n45\n"));
    pvflow()
        .args(["sql", "--format", "json", "-f", script])
        .assert()
        .success()
        .stdout(predicate::str::ends_with("{\"total\":45}\n"));

    let out = dir.path().join("out.parquet");
    pvflow()
        .args([
            "sql",
            "--format",
            "parquet",
            "--output",
            out.to_str().expect("utf-8"),
            "-f",
            script,
        ])
        .assert()
        .success();
    pvflow()
        .args(["sql", &format!("SELECT total FROM '{}'", out.display())])
        .assert()
        .success()
        .stdout(predicate::str::contains("| 45    |"));
}

#[test]
fn a_failed_query_leaves_no_output_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.json");
    pvflow()
        .args([
            "sql",
            "--format",
            "json",
            "--output",
            out.to_str().expect("utf-8"),
        ])
        .arg("SELECT cwt_morlet([1.0, 2.0], 0)")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "num_scales must be between 1 and 1024",
        ));
    assert!(!out.exists());
    assert!(!Path::new(&format!("{}.partial", out.display())).exists());
}

#[test]
fn table_output_is_capped_and_says_so() {
    pvflow()
        .args([
            "sql",
            "--max-rows",
            "3",
            "SELECT * FROM unnest(range(0, 10))",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "10 rows (3 shown; --max-rows 0 shows all)",
        ));
}

#[test]
fn help_explains_exit_codes_and_examples() {
    pvflow()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes"));
    pvflow()
        .args(["sql", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "pvflow sql -f examples/scalograms.sql",
        ));
}

#[test]
fn simulate_module_matches_pvlib_within_one_percent() {
    // fixtures/pvlib/cec_module_mpp_25C.csv, the 1000 W/m2 row (pvlib singlediode).
    let pvlib = [
        ("i_sc", 8.870_000_513),
        ("v_oc", 37.199_993_11),
        ("i_mp", 8.300_000_651),
        ("v_mp", 30.099_990_41),
        ("p_mp", 249.829_940_0),
    ];
    let out = stdout_of(pvflow().args([
        "simulate",
        "module",
        "--irradiance",
        "1000",
        "--cell-temp",
        "25",
        "--json",
    ]));
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    for (key, expect) in pvlib {
        let got = json[key].as_f64().expect("number");
        assert!(
            (got - expect).abs() <= 0.01 * expect,
            "{key}: {got} vs pvlib {expect}"
        );
    }
    pvflow()
        .args([
            "simulate",
            "module",
            "--irradiance",
            "-5",
            "--cell-temp",
            "25",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--irradiance"));
}

#[test]
fn simulate_publishes_a_plant_that_sql_reads_back() {
    let cluster = rdkafka::mocking::MockCluster::new(1).expect("mock broker");
    // The mock broker cannot create topics over the admin API; pvflow uses an existing one.
    cluster.create_topic("pv.sim", 3, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().expect("temp dir");
    let truth = dir.path().join("truth.parquet");
    pvflow()
        .args([
            "simulate",
            "--brokers",
            &brokers,
            "--topic",
            "pv.sim",
            "--partitions",
            "3",
            "--devices",
            "4",
        ])
        .args([
            "--start",
            "2026-06-01",
            "--seed",
            "7",
            "--truth",
            truth.to_str().expect("utf-8"),
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("published").and(predicate::str::contains("ground truth")),
        );
    let sql = format!(
        "CREATE EXTERNAL TABLE r STORED AS KAFKA LOCATION 'kafka://{brokers}/pv.sim';
         SELECT count(DISTINCT device_id) AS devices, min(ts) >= TIMESTAMP '2026-06-01T00:00:00Z' AS after_start,
                max(ts) < TIMESTAMP '2026-06-02T00:00:00Z' AS before_end FROM r;
         SELECT count(*) AS windows FROM '{}';",
        truth.display()
    );
    pvflow()
        .args(["sql", "--format", "csv", &sql])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "devices,after_start,before_end\n4,true,true\n",
        ))
        // 4 devices x 67.5 windows of 1280 s in a day = 4 x 68 windows overlapping it.
        .stdout(predicate::str::contains("windows\n272\n"));
    pvflow()
        .args(["simulate", "--devices", "1"])
        .env_remove("PVFLOW_KAFKA_BROKERS")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--brokers"));
    drop(cluster);
}

#[test]
fn simulate_writes_parquet_readings_clean_or_realistic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulate_to = |name: &str, sensors: &str| {
        let path = dir.path().join(name);
        pvflow()
            .args([
                "simulate",
                "--devices",
                "3",
                "--start",
                "2026-06-01",
                "--seed",
                "11",
            ])
            .args(["--sensors", sensors, "--output-parquet"])
            .arg(&path)
            .assert()
            .success()
            .stdout(predicate::str::contains("wrote"));
        path
    };
    let clean = simulate_to("clean.parquet", "clean");
    let realistic = simulate_to("realistic.parquet", "realistic");
    let sql = format!(
        "CREATE EXTERNAL TABLE clean STORED AS PARQUET LOCATION '{}';
         CREATE EXTERNAL TABLE realistic STORED AS PARQUET LOCATION '{}';
         SELECT arrow_typeof(ts) LIKE 'Timestamp(%UTC%)' AS ts_utc, arrow_typeof(voltage) AS v_type
         FROM clean LIMIT 1;
         SELECT count(*) AS n, count(DISTINCT (device_id, ts)) AS distinct_readings FROM clean;
         SELECT count(*) < 3 * 4320 AS some_lost,
                count(*) - count(DISTINCT (device_id, ts)) > 0 AS some_twice
         FROM realistic;
         SELECT count(*) AS differing FROM clean c JOIN realistic r USING (device_id, ts)
         WHERE c.current > 1 AND c.current <> r.current;",
        clean.display(),
        realistic.display()
    );
    let stdout = stdout_of(pvflow().args(["sql", "--format", "csv", &sql]));
    // Clean: every one of a day's 4320 readings per device, each once.
    assert!(
        stdout.contains("ts_utc,v_type\ntrue,Float32\n")
            && stdout.contains("n,distinct_readings\n12960,12960\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("some_lost,some_twice\ntrue,true\n"),
        "{stdout}"
    );
    // Realistic noise moves (nearly) every daytime current away from the clean value.
    let differing: u64 = stdout
        .lines()
        .skip_while(|l| *l != "differing")
        .nth(1)
        .and_then(|l| l.parse().ok())
        .expect("a count of differing readings");
    assert!(differing > 1000, "{stdout}");

    pvflow()
        .args([
            "simulate",
            "--brokers",
            "127.0.0.1:9",
            "--output-parquet",
            "x.parquet",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--output-parquet"));
}

fn onnxruntime_library() -> String {
    pvflow_testkit::onnxruntime_library().expect("ONNX Runtime's library")
}

#[test]
fn the_shipped_model_scores_a_simulated_plant_end_to_end() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let model = root.join("models/pv_fault_lean.onnx");
    let normalization = root.join("models/normalization.json");
    let dir = tempfile::tempdir().expect("temp dir");
    let readings = dir.path().join("readings.parquet");
    let truth = dir.path().join("truth.parquet");
    let silver = dir.path().join("silver.parquet");
    // A plant the model was not trained on (seed, date), every device-day with a fault.
    pvflow()
        .args([
            "simulate",
            "--devices",
            "12",
            "--start",
            "2026-04-10",
            "--seed",
            "4242",
        ])
        .args(["--sensors", "clean", "--class-mix"])
        .arg(
            "line_line=0.19,line_ground=0.19,open_circuit=0.19,partial_shading=0.19,arc_fault=0.19",
        )
        .arg("--output-parquet")
        .arg(&readings)
        .arg("--truth")
        .arg(&truth)
        .assert()
        .success();
    let windows = format!(
        "CREATE EXTERNAL TABLE readings STORED AS PARQUET LOCATION '{}';
         SELECT device_id, window_start,
                pv_scalogram(pv_window_series(slot, ts, voltage), pv_window_series(slot, ts, current),
                             pv_window_series(slot, ts, temperature), pv_window_series(slot, ts, irradiance)) AS scalogram
         FROM ({})
         GROUP BY device_id, window_start",
        readings.display(),
        pvflow_udfs::windowed_readings("readings"),
    );
    pvflow()
        .env("PVFLOW_MODEL_NORMALIZATION", &normalization)
        .args(["sql", "--format", "parquet", "--output"])
        .arg(&silver)
        .arg(&windows)
        .assert()
        .success();
    let score = format!(
        "CREATE EXTERNAL TABLE silver STORED AS PARQUET LOCATION '{}';
         CREATE EXTERNAL TABLE truth STORED AS PARQUET LOCATION '{}';
         SELECT count(*) AS scored,
                sum(CASE WHEN r['fault_code'] = t.fault_code THEN 1 ELSE 0 END) AS correct,
                sum(CASE WHEN t.fault_code > 0 THEN 1 ELSE 0 END) AS faults,
                sum(CASE WHEN t.fault_code > 0 AND r['fault_code'] = t.fault_code THEN 1 ELSE 0 END) AS faults_found,
                min(r['model_version']) AS model_version
         FROM (SELECT device_id, window_start, pv_fault_classify(scalogram) AS r FROM silver) s
         JOIN truth t USING (device_id, window_start)
         WHERE r IS NOT NULL",
        silver.display(),
        truth.display()
    );
    let row = last_json_row(&stdout_of(
        pvflow()
            .env("PVFLOW_MODEL_PATH", &model)
            .env("ORT_DYLIB_PATH", onnxruntime_library())
            .args(["sql", "--format", "json", &score]),
    ));
    let count = |key: &str| {
        row[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} in {row}"))
    };
    // 12 devices x 67 whole windows of the day (the straddling one has too few readings).
    assert_eq!(count("scored"), 12 * 67, "{row}");
    assert!(count("faults") >= 20, "{row}");
    // The model card's held-out accuracy is 0.99 overall and the fault recall 0.89-1.0 per
    // class; a plant this small must still be scored nearly right.
    assert!(count("correct") * 100 >= count("scored") * 95, "{row}");
    assert!(count("faults_found") * 100 >= count("faults") * 80, "{row}");
    // The version is the model file's SHA-256, as sha256sum prints it.
    let sum = std::process::Command::new("sha256sum")
        .arg(&model)
        .output()
        .expect("sha256sum runs");
    let sum = String::from_utf8_lossy(&sum.stdout);
    let hex = sum.split_whitespace().next().expect("a checksum");
    assert_eq!(row["model_version"], format!("sha256:{hex}"), "{row}");
}

/// The README's main job, small: an in-process broker, a simulated day, both plans, a summary
/// against the ground truth; then predict re-run on its silver replaces the day's gold.
#[test]
fn the_demo_runs_the_pipeline_and_its_output_can_be_rerun_and_queried() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let stdout = stdout_of(
        pvflow()
            .current_dir(&repo)
            .env("ORT_DYLIB_PATH", onnxruntime_library())
            .args(["demo", "--devices", "8", "--seed", "3", "--output"])
            .arg(dir.path()),
    );
    // 8 devices x 67 windows starting on the day, all classified.
    assert!(stdout.contains("536 windows classified"), "{stdout}");
    assert!(
        stdout.contains("against the simulator's ground truth: macro-F1"),
        "{stdout}"
    );
    let manifests = std::fs::read_dir(dir.path().join("silver/_runs")).expect("manifests");
    assert_eq!(manifests.count(), 1);

    // As the summary suggests: the output as the configured datasets, read through their logs.
    assert!(stdout.contains("FROM gold GROUP BY 1"), "{stdout}");
    let gold = dir.path().join("gold");
    let query =
        "SELECT count(*) AS windows, count(DISTINCT run_id) AS runs, min(run_id) AS run FROM gold";
    let gold_day = || {
        let mut sql = pvflow();
        sql.env("PVFLOW_STORAGE_GOLD", &gold)
            .env("PVFLOW_STORAGE_SILVER", dir.path().join("silver"))
            .args(["sql", "--format", "csv", query]);
        let out = sql.output().expect("sql");
        let csv = String::from_utf8_lossy(&out.stdout).into_owned();
        let row = csv.lines().nth(1).unwrap_or_default().to_string();
        let (counts, run) = row.rsplit_once(',').unwrap_or_default();
        (counts.to_string(), run.to_string())
    };
    let day_files = || {
        let mut names: Vec<_> = std::fs::read_dir(gold.join("date=2026-06-01"))
            .expect("gold's day")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        names
    };
    let (counts_before, run_before) = gold_day();
    assert_eq!(counts_before, "536,1");
    let files_before = day_files();
    let rerun = pvflow()
        .env("ORT_DYLIB_PATH", onnxruntime_library())
        .env("PVFLOW_MODEL_PATH", repo.join("models/pv_fault_lean.onnx"))
        .env(
            "PVFLOW_MODEL_NORMALIZATION",
            repo.join("models/normalization.json"),
        )
        .args([
            "run",
            "predict",
            "--date",
            "2026-06-01",
            "--json",
            "--silver",
        ])
        .arg(dir.path().join("silver"))
        .arg("--gold")
        .arg(&gold)
        .output()
        .expect("runs");
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    let manifest: serde_json::Value = serde_json::from_slice(&rerun.stdout).expect("manifest");
    let rerun_id = manifest["run_id"].as_str().expect("run id");

    // The same windows, now all from the re-run, in files of its own: the day was replaced.
    let (counts_after, run_after) = gold_day();
    assert_eq!(counts_after, "536,1");
    // Its fault episodes were replaced with it: the re-run's own, as many as before.
    let episodes = |query: &str| {
        let out = pvflow()
            .env("PVFLOW_STORAGE_GOLD", &gold)
            .env("PVFLOW_STORAGE_SILVER", dir.path().join("silver"))
            .args(["sql", "--format", "csv", query])
            .output()
            .expect("sql");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        episodes("SELECT count(DISTINCT run_id) FROM fault_events"),
        if manifest["counts"]["episodes_closed"].as_i64().unwrap_or(0)
            + manifest["counts"]["episodes_open"].as_i64().unwrap_or(0)
            > 0
        {
            "1"
        } else {
            "0"
        }
    );
    let episode_rows = episodes("SELECT count(*) FROM fault_events");
    assert_eq!(
        episode_rows.parse::<i64>().unwrap_or(-1),
        manifest["counts"]["episodes_closed"].as_i64().unwrap_or(0)
            + manifest["counts"]["episodes_open"].as_i64().unwrap_or(0)
    );
    assert_ne!(run_after, run_before);
    assert_eq!(run_after, rerun_id);
    let files_after = day_files();
    assert!(
        files_after.iter().all(|f| !files_before.contains(f)),
        "{files_before:?} -> {files_after:?}"
    );
}

/// Gold for the demo's day (200 devices, seed 7, realistic sensors, the shipped lean model)
/// equals the gold pvflow wrote when silver held each window's image instead of its series:
/// the same windows, the same classes, probabilities within 1e-5. The reference,
/// `tests/data/gold-demo-2026-06-01.parquet`, is that gold's `device_id, window_start,
/// fault_code, probabilities`, written by commit a401fcc's `pvflow run ingest` and `pvflow run
/// predict` from these readings.
/// Failing sensors on healthy arrays: flagged as untrusted data (or their NaN readings kept in
/// quarantine) and not called PV faults, through both plans on the demo's Ballista scheduler.
#[test]
fn failing_sensors_are_flagged_not_called_pv_faults() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let stdout = stdout_of(
        pvflow()
            .current_dir(&repo)
            .env("ORT_DYLIB_PATH", onnxruntime_library())
            .args([
                "demo",
                "--devices",
                "30",
                "--seed",
                "11",
                "--sensor-failures",
                "0.5",
            ])
            .arg("--output")
            .arg(dir.path()),
    );
    // "  failing sensors     75 windows: 96.0 % flagged as untrusted data or quarantined, 0.0 % called a PV fault"
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("failing sensors"))
        .unwrap_or_else(|| panic!("no failing sensors line in {stdout}"));
    let numbers: Vec<f64> = line
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|n| n.parse().ok())
        .collect();
    let [windows, flagged, called_faults] = numbers[..] else {
        panic!("{line}");
    };
    assert!(windows >= 50.0, "{line}");
    // The issue's targets: at least 90 % flagged, at most 5 % reported as PV faults.
    assert!(flagged >= 90.0, "{line}");
    assert!(called_faults <= 5.0, "{line}");
}

/// A described plant of other modules at another site, some of its sensors failing: simulated
/// as described, through both plans on the demo's Ballista scheduler (the `devices` table
/// travels in the plan); gold rates each window by its own array's nameplate and flags the
/// failing sensors' windows instead of diagnosing them.
#[test]
fn a_described_plant_runs_through_both_plans_rated_by_its_nameplates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let description = repo.join("cli/tests/data/sydney-plant.toml");
    let stdout = stdout_of(
        pvflow()
            .current_dir(&repo)
            .env("ORT_DYLIB_PATH", onnxruntime_library())
            .args([
                "demo",
                "--date",
                "2026-01-10",
                "--sensor-failures",
                "0.5",
                "--plant",
            ])
            .arg(&description)
            .arg("--output")
            .arg(dir.path()),
    );
    assert!(stdout.contains("8 devices x 1 day"), "{stdout}");
    // 8 devices x 67 windows starting on the day, less those of a dropped sensor (its NaN
    // readings are quarantined), each classified.
    let classified: u64 = stdout
        .split(" windows classified")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!((400..=536).contains(&classified), "{stdout}");

    let query = "SELECT d.array_type,
                        count(DISTINCT device_id) AS devices,
                        round(median(g.expected_power_w / (g.irradiance_mean / 1000 * d.rated_power_w)), 2) AS warm,
                        round(median(g.measured_power_w / g.expected_power_w), 2) AS performance
                 FROM gold g JOIN devices d USING (device_id)
                 WHERE g.irradiance_mean > 300 AND g.fault_code = 0
                 GROUP BY 1 ORDER BY 1";
    let csv = stdout_of(
        pvflow()
            .env("PVFLOW_PLANT_DESCRIPTION", &description)
            .env("PVFLOW_STORAGE_GOLD", dir.path().join("gold"))
            .env("PVFLOW_STORAGE_SILVER", dir.path().join("silver"))
            .args(["sql", "--format", "csv", query]),
    );
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{csv}");
    for (row, array_type) in rows.iter().zip(["cdte-field", "long-strings"]) {
        assert_eq!(row[..2], [array_type, "4"], "{csv}");
        let number = |k: usize| row[k].parse::<f64>().unwrap_or(f64::NAN);
        // PVWatts at the array's own rating: summer-warm modules lose a few to 15 percent ...
        assert!((0.8..1.0).contains(&number(2)), "{array_type}: {csv}");
        // ... and the simulated physics deliver what the nameplate promises.
        assert!((0.93..1.03).contains(&number(3)), "{array_type}: {csv}");
    }

    // The failing sensors' windows: flagged in gold, without a diagnosis.
    let flagged = stdout_of(
        pvflow()
            .env("PVFLOW_STORAGE_GOLD", dir.path().join("gold"))
            .env("PVFLOW_STORAGE_SILVER", dir.path().join("silver"))
            .args(["sql", "--format", "csv"])
            .arg(format!(
                "CREATE EXTERNAL TABLE truth STORED AS PARQUET LOCATION '{}';
                 SELECT count(*) AS windows,
                        sum(CASE WHEN cardinality(g.quality_flags) > 0 THEN 1 ELSE 0 END) AS flagged,
                        sum(CASE WHEN cardinality(g.quality_flags) > 0 AND g.fault_code IS NULL
                                 THEN 1 ELSE 0 END) AS undiagnosed
                 FROM gold g JOIN truth t
                   ON g.device_id = t.device_id AND g.window_start = t.window_start
                 WHERE t.sensor_failure IS NOT NULL AND t.fault_code = 0",
                dir.path().join("truth.parquet").display()
            )),
    );
    let counts: Vec<u64> = flagged
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split(',')
        .filter_map(|n| n.parse().ok())
        .collect();
    let [windows, flagged, undiagnosed] = counts[..] else {
        panic!("{flagged}");
    };
    assert!(windows >= 10, "{windows} failing-sensor windows in gold");
    assert!(
        flagged * 10 >= windows * 8,
        "{flagged} of {windows} flagged"
    );
    assert_eq!(undiagnosed, flagged);

    // The general model (operating-point normalisation) takes each array's nameplate through
    // predict: it finds this plant's faults, which the standard model (one 5 x 3 design) misses.
    let general = dir.path().join("gold-general");
    pvflow()
        .env("ORT_DYLIB_PATH", onnxruntime_library())
        .env("PVFLOW_PLANT_DESCRIPTION", &description)
        .env("PVFLOW_STORAGE_SILVER", dir.path().join("silver"))
        .env("PVFLOW_STORAGE_GOLD", &general)
        .env(
            "PVFLOW_MODEL_PATH",
            repo.join("models/general/pv_fault.onnx"),
        )
        .env(
            "PVFLOW_MODEL_NORMALIZATION",
            repo.join("models/general/normalization.json"),
        )
        .args(["run", "predict", "--date", "2026-01-10"])
        .assert()
        .success();
    let scored = last_json_row(&stdout_of(
        pvflow()
            .env("PVFLOW_STORAGE_GOLD", &general)
            .args(["sql", "--format", "json"])
            .arg(format!(
                "CREATE EXTERNAL TABLE truth STORED AS PARQUET LOCATION '{}';
                 SELECT sum(CASE WHEN t.fault_code = 0 THEN 1 ELSE 0 END) AS healthy,
                        sum(CASE WHEN t.fault_code = 0 AND g.fault_code = 0 THEN 1 ELSE 0 END)
                          AS called_normal,
                        sum(CASE WHEN t.fault_code > 0 THEN 1 ELSE 0 END) AS faulty,
                        sum(CASE WHEN t.fault_code > 0 AND g.fault_code = t.fault_code
                                 THEN 1 ELSE 0 END) AS found
                 FROM gold g JOIN truth t
                   ON g.device_id = t.device_id AND g.window_start = t.window_start
                 WHERE g.fault_code IS NOT NULL",
                dir.path().join("truth.parquet").display()
            )),
    ));
    let count = |name: &str| scored[name].as_u64().unwrap_or_else(|| panic!("{scored}"));
    assert!(count("healthy") >= 400, "{scored}");
    assert!(
        count("called_normal") * 100 >= count("healthy") * 95,
        "{scored}"
    );
    assert!(count("faulty") >= 3, "{scored}");
    assert!(count("found") * 2 >= count("faulty"), "{scored}");
}

#[test]
fn gold_of_the_demo_day_equals_the_gold_of_silver_that_kept_images() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().expect("temp dir");
    let readings = dir.path().join("readings.parquet");
    pvflow()
        .args(["simulate", "--devices", "200", "--start", "2026-06-01"])
        .args(["--seed", "7", "--sensors", "realistic", "--output-parquet"])
        .arg(&readings)
        .assert()
        .success();
    let (silver, gold) = (dir.path().join("silver"), dir.path().join("gold"));
    let model = |cmd: &mut Command| {
        cmd.env("ORT_DYLIB_PATH", onnxruntime_library())
            .env("PVFLOW_MODEL_PATH", repo.join("models/pv_fault_lean.onnx"))
            .env(
                "PVFLOW_MODEL_NORMALIZATION",
                repo.join("models/normalization.json"),
            )
            .env("PVFLOW_STORAGE_SILVER", &silver)
            .env("PVFLOW_STORAGE_GOLD", &gold);
    };
    for plan in ["ingest", "predict"] {
        let mut run = pvflow();
        model(&mut run);
        run.args(["run", plan, "--date", "2026-06-01"]);
        if plan == "ingest" {
            run.arg("--readings-parquet").arg(&readings);
        }
        run.assert().success();
    }
    let reference =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gold-demo-2026-06-01.parquet");
    let differences = (1..=6)
        .map(|i| format!("abs(g.probabilities[{i}] - r.probabilities[{i}])"))
        .collect::<Vec<_>>()
        .join(", ");
    let compare = format!(
        "CREATE EXTERNAL TABLE reference STORED AS PARQUET LOCATION '{}';
         SELECT (SELECT count(*) FROM reference) AS reference_windows,
                (SELECT count(*) FROM gold) AS windows,
                count(*) AS both,
                sum(CASE WHEN g.fault_code = r.fault_code THEN 1 ELSE 0 END) AS same_class,
                max(greatest({differences})) AS max_difference
         FROM gold g JOIN reference r USING (device_id, window_start)",
        reference.display()
    );
    let mut sql = pvflow();
    model(&mut sql);
    let row = last_json_row(&stdout_of(sql.args(["sql", "--format", "json", &compare])));
    let windows = row["reference_windows"].as_u64().expect("count");
    assert!(windows > 13_000, "{row}");
    for column in ["windows", "both", "same_class"] {
        assert_eq!(row[column].as_u64(), Some(windows), "{column}: {row}");
    }
    let difference = row["max_difference"].as_f64().expect("difference");
    assert!(difference <= 1e-5, "{row}");

    // docs/udfs.md's example of scalograms from silver runs on this silver.
    let mut example = pvflow();
    model(&mut example);
    let csv = stdout_of(example.current_dir(&repo).args([
        "sql",
        "--format",
        "csv",
        "-f",
        "examples/silver_scalograms.sql",
    ]));
    assert_eq!(csv.matches("pv-00042,").count(), 5, "{csv}");
}

/// Bad parameters are refused before anything runs, naming the parameter; a day without silver
/// fails the run (exit 1) and leaves gold as it was.
#[test]
fn bad_run_parameters_are_named_and_a_missing_day_fails_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |args: &[&str]| {
        pvflow()
            .current_dir(dir.path())
            .arg("run")
            .args(args)
            .output()
            .expect("runs")
    };
    let bad_date = run(&["ingest", "--date", "2026-13-01", "--brokers", "127.0.0.1:9"]);
    assert_eq!(bad_date.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_date.stderr).contains("--date"));
    let no_brokers = run(&["ingest", "--date", "2026-06-01"]);
    assert_eq!(no_brokers.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_brokers.stderr).contains("invalid parameter brokers"));
    let bad_silver = run(&[
        "predict",
        "--date",
        "2026-06-01",
        "--silver",
        "ftp://host/silver",
    ]);
    assert_eq!(bad_silver.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_silver.stderr).contains("invalid parameter silver"));

    let no_file = run(&[
        "ingest",
        "--date",
        "2026-06-01",
        "--readings-parquet",
        "nope.parquet",
    ]);
    assert_eq!(no_file.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&no_file.stderr).contains("invalid parameter readings-parquet")
    );

    let late_predict = run(&["predict", "--date", "2026-06-01", "--if-late"]);
    assert_eq!(late_predict.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&late_predict.stderr).contains("is for ingest"));
    std::fs::write(dir.path().join("r.parquet"), b"").expect("file");
    let late_parquet = run(&[
        "ingest",
        "--date",
        "2026-06-01",
        "--readings-parquet",
        "r.parquet",
        "--if-late",
    ]);
    assert_eq!(late_parquet.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&late_parquet.stderr).contains("does not go with readings_parquet")
    );

    let missing = run(&["predict", "--date", "2026-06-01", "--json"]);
    assert_eq!(missing.status.code(), Some(1));
    let manifest = String::from_utf8_lossy(&missing.stdout);
    assert!(manifest.contains("\"state\": \"failed\""), "{manifest}");
    assert!(
        manifest.contains("run ingest for that date first"),
        "{manifest}"
    );
    assert!(!dir.path().join("data/gold/date=2026-06-01").exists());
}

#[test]
fn runs_through_the_api_exit_as_pvflow_run_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = pvflow_testkit::free_port().expect("a free port");
    let mut serve = pvflow_process();
    serve
        .current_dir(dir.path())
        .env("PVFLOW_API_TOKEN", "cli-test-token")
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")]);
    let mut api =
        pvflow_testkit::ServerProcess::spawn("pvflow serve", serve, dir.path().join("api.log"))
            .expect("pvflow serve starts");
    api.wait_for_port(port).expect("the API listens");
    let url = format!("http://127.0.0.1:{port}");
    let runs = |args: &[&str]| {
        pvflow()
            .env("PVFLOW_API_TOKEN", "cli-test-token")
            .args(["runs", "--api", &url])
            .args(args)
            .output()
            .expect("runs")
    };

    // Without the API's token: refused, a configuration error.
    let no_token = pvflow()
        .args(["runs", "--api", &url, "list"])
        .output()
        .expect("runs");
    assert_eq!(no_token.status.code(), Some(2), "{no_token:?}");
    assert!(String::from_utf8_lossy(&no_token.stderr).contains("requires its token"));

    // The API refuses the parameter: a usage error, as for pvflow run.
    let no_brokers = runs(&["submit", "ingest", "--date", "2026-06-01"]);
    assert_eq!(no_brokers.status.code(), Some(2), "{no_brokers:?}");
    assert!(String::from_utf8_lossy(&no_brokers.stderr).contains("invalid parameter brokers"));
    // The run fails (no silver for the day): exit 1, with the reason.
    let failed = runs(&[
        "submit",
        "predict",
        "--date",
        "2026-06-01",
        "--wait",
        "--poll",
        "0.1",
    ]);
    assert_eq!(failed.status.code(), Some(1), "{failed:?}");
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("run ingest for that date first"),
        "{failed:?}"
    );
    let listed = runs(&["list", "--json"]);
    assert!(listed.status.success(), "{listed:?}");
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["state"], "failed", "{listed}");
    let id = listed[0]["run_id"].as_str().expect("a run ID");
    let shown = runs(&["show", id]);
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("error: no silver"),
        "{shown:?}"
    );

    // SIGTERM stops the API cleanly; then it cannot be reached: an I/O error.
    let stopped = api.terminate(std::time::Duration::from_secs(10));
    assert_eq!(stopped.and_then(|s| s.code()), Some(0), "{}", api.log());
    let unreachable = runs(&["list"]);
    assert_eq!(unreachable.status.code(), Some(3), "{unreachable:?}");
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("cannot reach the pvflow API"));
}
