//! The binary's contract with operators: help that explains, and start-up failures that name
//! their cause with exit code 1. (Building this test also builds the binary that the
//! end-to-end tests in tests/ start.)

use assert_cmd::Command;
use predicates::prelude::*;

#[test]
fn help_explains_ports_probes_and_configuration() {
    Command::new(env!("CARGO_BIN_EXE_pvflow-scheduler"))
        .arg("--help")
        .assert()
        .success()
        .stdout(
            predicate::str::contains("/readyz")
                .and(predicate::str::contains("--bind-port"))
                .and(predicate::str::contains("PVFLOW_CONFIG"))
                .and(predicate::str::contains("PVFLOW_SCHEDULER_BIND_PORT")),
        );
}

#[test]
fn a_missing_configuration_file_is_named() {
    Command::new(env!("CARGO_BIN_EXE_pvflow-scheduler"))
        .args(["--config", "/nonexistent/pvflow.toml", "--bind-port", "0"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("/nonexistent/pvflow.toml"));
}
