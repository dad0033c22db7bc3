//! The `pvflow` binary as users and orchestrators see it: output, formats and exit codes.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

fn pvflow() -> Command {
    let mut cmd = Command::cargo_bin("pvflow").expect("pvflow binary");
    // Keep tests independent of the developer's environment.
    cmd.env_remove("PVFLOW_CONFIG")
        .env_remove("PVFLOW_MODEL_NORMALIZATION")
        .env_remove("RUST_LOG");
    cmd
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
