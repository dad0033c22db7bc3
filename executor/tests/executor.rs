//! The binary's contract with operators: help that explains, and start-up failures that name
//! their cause with exit code 1. (Building this test also builds the binary that the
//! end-to-end tests in tests/ start.)

use assert_cmd::Command;
use predicates::prelude::*;

#[test]
fn help_explains_ports_probes_and_configuration() {
    Command::new(env!("CARGO_BIN_EXE_pvflow-executor"))
        .arg("--help")
        .assert()
        .success()
        .stdout(
            predicate::str::contains("/readyz")
                .and(predicate::str::contains("--scheduler-host"))
                .and(predicate::str::contains("--bind-port"))
                .and(predicate::str::contains("PVFLOW_CONFIG"))
                .and(predicate::str::contains("PVFLOW_EXECUTOR_SCHEDULER_HOST")),
        );
}

#[test]
fn a_missing_configuration_file_is_named() {
    Command::new(env!("CARGO_BIN_EXE_pvflow-executor"))
        .args(["--config", "/nonexistent/pvflow.toml", "--bind-port", "0"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("/nonexistent/pvflow.toml"));
}

/// Started before its scheduler (nothing listens at the address), the executor exits 1 naming
/// the address and the flag that makes it wait.
#[test]
fn a_scheduler_that_is_not_there_is_named_with_the_flag_to_wait() {
    let free_port = || {
        pvflow_testkit::free_port()
            .expect("a free port")
            .to_string()
    };
    let scheduler = free_port();
    Command::new(env!("CARGO_BIN_EXE_pvflow-executor"))
        .args(["--bind-host", "127.0.0.1", "--scheduler-host", "127.0.0.1"])
        .args(["--scheduler-port", &scheduler])
        .args([
            "--bind-port",
            &free_port(),
            "--bind-grpc-port",
            &free_port(),
        ])
        .args(["--bind-health-port", &free_port()])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains(format!("127.0.0.1:{scheduler}")).and(
                predicate::str::contains("--scheduler-connect-timeout-seconds"),
            ),
        );
}
