//! `pvflow-executor`: Ballista's executor with pvflow built in.
//!
//! Tasks arrive as serialised plans; this executor decodes them with pvflow's codecs (Kafka
//! scans, `pv_scalogram` with the normalisation the plan carries) and resolves functions in a
//! registry holding Ballista's defaults and pvflow's. Ballista's own flags are kept as they are.
//! Its health port also serves Prometheus metrics (`probes.rs`).

mod probes;

use anyhow::Context;
use ballista_core::error::BallistaError;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use clap::Parser;
use pvflow_session::DistributedParts;
use pvflow_session::PvflowConfig;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub const AFTER_HELP: &str = "\
Registers with the scheduler at --scheduler-host/--scheduler-port and runs its tasks, --vcores
at a time. Serves Arrow Flight (shuffle reads and results) on --bind-port, task launch gRPC on
--bind-grpc-port, and the health probes /healthz and /readyz and Prometheus /metrics (Kafka
messages read, windows imaged and classified, the model's batch latency, process CPU and
memory) on --bind-health-port. Other
executors and clients must reach --external-host on --bind-port.

Every flag can also be set as PVFLOW_EXECUTOR_<FLAG> (e.g. PVFLOW_EXECUTOR_SCHEDULER_HOST); a flag given on the
command line wins.

Configuration: pvflow.toml (--config or PVFLOW_CONFIG), then PVFLOW_<SECTION>_<KEY> variables:
[kafka] client holds librdkafka settings such as credentials (never sent in plans), [model]
the model files. SIGINT/SIGTERM stop the executor after telling the scheduler.

Exit codes: 0 stopped by a signal, 1 failed to start or lost its services.";

#[derive(Debug, Parser)]
#[command(name = "pvflow-executor", version, after_help = AFTER_HELP)]
/// A pvflow executor: runs the tasks of pvflow jobs for a pvflow scheduler
pub struct Args {
    /// pvflow configuration file (default: $PVFLOW_CONFIG, else ./pvflow.toml if present)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub ballista: ballista_executor::config::Config,
}

impl Args {
    /// The arguments from the command line, each flag also settable as `PVFLOW_EXECUTOR_<FLAG>`
    /// (`--bind-port` is `PVFLOW_EXECUTOR_BIND_PORT`); exits with clap's usage error if invalid.
    pub fn from_env_and_flags() -> Args {
        use clap::{CommandFactory, FromArgMatches};
        let matches =
            pvflow_session::flags::from_env(Args::command(), "PVFLOW_EXECUTOR_").get_matches();
        Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// Runs the executor until SIGINT, SIGTERM or the loss of its services.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let config = PvflowConfig::load(args.config.as_deref())?;
    let parts = DistributedParts::new(&config)?;
    let health_address: SocketAddr = format!(
        "{}:{}",
        args.ballista.bind_host, args.ballista.bind_health_port
    )
    .parse()
    .context("--bind-host/--bind-health-port do not form a socket address")?;
    let scheduler = format!(
        "{}:{}",
        args.ballista.scheduler_host, args.ballista.scheduler_port
    );
    let executor = executor_config(args.ballista, &parts)?;

    let (stop_probes, probes_stopped) = tokio::sync::oneshot::channel();
    let probes = probes::serve(health_address, executor.health.clone(), probes_stopped)
        .await
        .with_context(|| format!("cannot serve probes and metrics on {health_address}"))?;
    let result = start_executor_process(Arc::new(executor))
        .await
        .map_err(|e| match e {
            BallistaError::GrpcConnectionError(_) => anyhow::anyhow!(
                "cannot reach the scheduler at {scheduler}: start it first, or let the executor \
                 wait for it with --scheduler-connect-timeout-seconds N \
                 (PVFLOW_EXECUTOR_SCHEDULER_CONNECT_TIMEOUT_SECONDS)"
            ),
            e => anyhow::Error::new(e).context("executor failed"),
        });
    let _ = stop_probes.send(());
    if let Ok(Err(e)) = probes.await {
        tracing::warn!(error = %e, "probe server stopped with an error");
    }
    result
}

/// Ballista's executor configuration from its flags, with pvflow's codecs, functions and object
/// stores.
pub fn executor_config(
    flags: ballista_executor::config::Config,
    parts: &DistributedParts,
) -> anyhow::Result<ExecutorProcessConfig> {
    let mut config = ExecutorProcessConfig::try_from(flags).context("invalid executor flags")?;
    let producer = parts.clone();
    config.override_config_producer = Some(Arc::new(move || producer.session_config()));
    config.override_function_registry = Some(Arc::new(
        parts
            .function_registry()
            .context("cannot build the executor's function registry")?,
    ));
    config.override_logical_codec = Some(Arc::clone(&parts.logical_codec));
    config.override_physical_codec = Some(Arc::clone(&parts.physical_codec));
    // Ballista's own producer, plus S3 buckets opened with this node's AWS settings, confined
    // to the node's datasets; spills stay in the work directory when one is given.
    let work_dir = config.work_dir.clone().map(PathBuf::from);
    let tasks = parts.clone();
    config.override_runtime_producer =
        Some(Arc::new(move |_| tasks.task_runtime(work_dir.clone())));
    Ok(config)
}
