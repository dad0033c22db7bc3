//! `pvflow-scheduler`: Ballista's scheduler with pvflow built in.
//!
//! It plans every job in a pvflow session (Kafka tables, pvflow's functions and codecs), because
//! Ballista runs a table's `scan()` on the scheduler: Kafka offsets are fixed here, once per
//! job, and shipped to executors as plain data. Ballista's own flags (ports, policies, limits)
//! are kept as they are, so its documentation applies; pvflow's settings come from
//! `pvflow.toml` and `PVFLOW_*` variables.

mod flight_sql;
mod server;

use anyhow::Context;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::create_scheduler;
use clap::Parser;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use pvflow_session::DistributedParts;
use pvflow_session::{ApiConfig, FlightSqlConfig, PvflowConfig};
use pvflow_tls::{Protocol, TlsAcceptor, TlsListener};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

pub const AFTER_HELP: &str = "\
Serves Ballista's scheduler gRPC, its REST API (/api/jobs, /api/executors, ...), Prometheus
metrics of jobs and pending tasks (/api/metrics) and the health probes /healthz and /readyz
(ready once --min-ready-executors executors registered), all on --bind-port (default 50050).
Executors are pvflow-executor processes started with --scheduler-host/--scheduler-port pointing
here; clients connect with df://HOST:PORT.

--flight-sql also serves Arrow Flight SQL there, for analysts' SQL clients (ADBC, JDBC,
DBeaver): SQL planned with pvflow's functions and Kafka tables, run on the executors. With
[api] token (PVFLOW_API_TOKEN) set, clients log in with any user name and that token as the
password; without it, anyone who reaches the port may query (a warning is logged). With
[flight_sql] tls_cert and tls_key (PEM) set, Flight SQL is served over TLS only, on
[flight_sql] tls_port (default 50443), and no longer on --bind-port.

Every flag can also be set as PVFLOW_SCHEDULER_<FLAG> (e.g. PVFLOW_SCHEDULER_BIND_PORT); a flag given on the
command line wins.

Configuration: pvflow.toml (--config or PVFLOW_CONFIG), then PVFLOW_<SECTION>_<KEY> variables:
[kafka] client holds librdkafka settings such as credentials (never sent in plans), [model]
the model files. SIGINT/SIGTERM stop the scheduler.

Exit codes: 0 stopped by a signal, 1 failed to start or serve.";

#[derive(Debug, Parser)]
#[command(name = "pvflow-scheduler", version, after_help = AFTER_HELP)]
/// The pvflow scheduler: plans jobs and hands their tasks to pvflow executors
pub struct Args {
    /// pvflow configuration file (default: $PVFLOW_CONFIG, else ./pvflow.toml if present)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub ballista: ballista_scheduler::config::Config,
}

impl Args {
    /// The arguments from the command line, each flag also settable as `PVFLOW_SCHEDULER_<FLAG>`
    /// (`--bind-port` is `PVFLOW_SCHEDULER_BIND_PORT`); exits with clap's usage error if invalid.
    pub fn from_env_and_flags() -> Args {
        use clap::{CommandFactory, FromArgMatches};
        let matches =
            pvflow_session::flags::from_env(Args::command(), "PVFLOW_SCHEDULER_").get_matches();
        Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// Runs the scheduler until SIGINT or SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let config = PvflowConfig::load(args.config.as_deref())?;
    let parts = DistributedParts::new(&config)?;
    let address: SocketAddr = format!("{}:{}", args.ballista.bind_host, args.ballista.bind_port)
        .parse()
        .context("--bind-host/--bind-port do not form a socket address")?;
    let mut scheduler = scheduler_config(args.ballista, &parts, &config.api)?;
    let tls = flight_sql_tls(&config.flight_sql, &mut scheduler)?;
    scheduler.validate().context("invalid scheduler flags")?;
    let plain_flight_sql = scheduler.flight_sql_enabled() && tls.is_none();
    let scheduler = Arc::new(scheduler);
    let cluster = BallistaCluster::new_from_config(&scheduler)
        .await
        .context("cannot set up the scheduler's cluster state")?;
    let server =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::clone(&scheduler))
            .await
            .context("cannot start the scheduler")?;
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let flight_sql = match tls {
        Some(acceptor) => {
            let tls_address = SocketAddr::new(address.ip(), config.flight_sql.tls_port);
            let tcp = TcpListener::bind(tls_address)
                .await
                .with_context(|| format!("cannot listen for Flight SQL on {tls_address}"))?;
            tracing::info!(%tls_address, "Flight SQL over TLS");
            Some((TlsListener::new(tcp, acceptor)?, tls_address))
        }
        None => None,
    };
    tracing::info!(%address, "pvflow scheduler starting");
    let flight_sql = async {
        match flight_sql {
            Some((listener, at)) => {
                flight_sql::serve_over_tls(listener, server.clone(), &scheduler)
                    .await
                    .with_context(|| format!("Flight SQL on {at} failed"))
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        served = server::serve(listener, server.clone(), plain_flight_sql) => {
            served.with_context(|| format!("scheduler on {address} failed"))
        }
        served = flight_sql => served,
        signal = pvflow_session::signals::stop() => {
            tracing::info!(signal = signal.name(), "pvflow scheduler stopping");
            Ok(())
        }
    }
}

/// The TLS acceptor for Flight SQL when `[flight_sql] tls_cert` and `tls_key` are set and
/// `--flight-sql` is on; Flight SQL then leaves the scheduler's port, which keeps the cluster's
/// own gRPC (executors, `--scheduler` clients) inside the cluster's network.
fn flight_sql_tls(
    flight_sql: &FlightSqlConfig,
    scheduler: &mut SchedulerConfig,
) -> anyhow::Result<Option<TlsAcceptor>> {
    let acceptor = pvflow_tls::acceptor(
        flight_sql.tls_cert.as_deref(),
        flight_sql.tls_key.as_deref(),
        Protocol::Http2,
    )
    .context("[flight_sql] TLS")?;
    if acceptor.is_some() && !scheduler.flight_sql_enabled() {
        tracing::warn!(
            "[flight_sql] tls_cert is set but --flight-sql is not: no Flight SQL served"
        );
        return Ok(None);
    }
    if acceptor.is_some() {
        scheduler.flight_sql = false;
    }
    Ok(acceptor)
}

/// Ballista's scheduler configuration from its flags, with pvflow's sessions and codecs, and
/// Flight SQL clients authenticated by the API token of `api` when one is set.
pub fn scheduler_config(
    flags: ballista_scheduler::config::Config,
    parts: &DistributedParts,
    api: &ApiConfig,
) -> anyhow::Result<SchedulerConfig> {
    let mut config = SchedulerConfig::try_from(flags).context("invalid scheduler flags")?;
    let producer = parts.clone();
    config.override_config_producer = Some(Arc::new(move || producer.session_config()));
    let builder = parts.clone();
    config.override_session_builder = Some(Arc::new(move |c| builder.session_state(c)));
    config.override_logical_codec = Some(Arc::clone(&parts.logical_codec));
    config.override_physical_codec = Some(Arc::clone(&parts.physical_codec));
    if let Some(authenticator) = flight_sql::TokenAuthenticator::new(api) {
        config.override_flight_sql_authenticator = Some(Arc::new(authenticator));
    }
    Ok(config)
}
