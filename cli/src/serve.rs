//! `pvflow serve`: the run API, for orchestrators that start plan runs over HTTP.

use crate::{Failure, remote};
use anyhow::Context;
use clap::Args;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use futures::future::BoxFuture;
use pvflow_api::{RunService, SessionSource};
use pvflow_session::PvflowConfig;
use pvflow_session::signals;
use std::net::SocketAddr;
use std::sync::Arc;

pub const AFTER_HELP: &str = "\
Orchestrators (Airflow, Step Functions, cron) start runs of the plans here and poll them until
they end. A run does exactly what `pvflow run` does (on the cluster given by --scheduler, else in
this process) and writes the same manifest.

  POST   /runs         {\"plan\": \"ingest\", \"date\": \"2026-06-01\"}: 202 with the run's status,
                       Location: /runs/<id>. Optional fields, as pvflow run's flags: brokers,
                       topic, silver, gold, readings_parquet (under [storage] silver, gold or
                       roots), if_late; unset ones come from this process's configuration.
                       400 names an invalid parameter; 409 if that plan is already running
                       for that day into that dataset; with if_late and nothing new, 200
                       {\"state\": \"up_to_date\", ...} and no run.
  GET    /runs/<id>    the run's state (running, succeeded, failed, cancelled), its stage while
                       it runs, its manifest once it ended; 404 if unknown. Runs of earlier
                       processes are read from their manifests (_runs/<id>.json).
  GET    /runs         the runs this process knows, newest first (?plan=, ?date=, ?state=)
  GET    /runs/recorded  the last runs whose manifests are in silver's and gold's _runs/ (?limit=)
  DELETE /runs/<id>    cancels the run: its cluster jobs stop, its staging goes, the previous
                       output stays; 409 if it already ended
  GET    /devices/<id> the device's state from the stream (pvflow stream): its latest window in
                       the live table ([storage] live) and its open fault episode; 404 if the
                       stream knows nothing of it
  GET    /devices/<id>/diagnoses?from=&to=   the device's diagnoses in gold (at most
                       [api] max_range_days); /devices/<id>/series?date= its day's series;
                       /devices/<id>/scalogram.png?window_start= a window's scalogram
  GET    /fleet        the day's devices worst first (?date=, ?limit=); /fleet/heatmap?date=
  GET    /episodes     fault episodes (?state=, ?fault_label=, ?severity=, ?device_id=, ?from=, ?to=)
  GET    /             the web dashboard over all of these
  GET    /healthz      liveness
  GET    /metrics      Prometheus: pvflow_runs_submitted_total, pvflow_runs_ended_total,
                       pvflow_runs_running, pvflow_run_duration_seconds, pvflow_run_rows_total

Security: set a token ([api] token in pvflow.toml, or PVFLOW_API_TOKEN; [api] tokens adds
more, for rotation) and the /runs, /devices, /fleet and /episodes routes answer 401 unless a request carries
`Authorization: Bearer <token>` (pvflow runs sends the same setting); /healthz and /metrics
stay open. Without one, anyone who reaches ADDR can start and cancel runs. With [api] tls_cert
and tls_key (PEM files; PVFLOW_API_TLS_CERT, PVFLOW_API_TLS_KEY) it serves HTTPS only.

Prints `pvflow API on http://ADDR` (or https) once listening. SIGTERM or SIGINT cancels the running runs,
waits until each has written its manifest, and exits 0.

Examples:
  pvflow serve --bind 0.0.0.0:8080 --scheduler df://pvflow-scheduler:50050
  curl -X POST localhost:8080/runs -H \"Authorization: Bearer $PVFLOW_API_TOKEN\" \\
       -d '{\"plan\": \"ingest\", \"date\": \"2026-06-01\"}'
  pvflow runs submit ingest --date 2026-06-01 --wait";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Run plans on a pvflow cluster (df://HOST:PORT of a pvflow-scheduler) instead of in this
    /// process
    #[arg(long, value_name = "URL")]
    pub scheduler: Option<String>,
}

/// Sessions for the API's runs, as `pvflow run` makes them.
struct RunSessions {
    config: PvflowConfig,
    scheduler: Option<String>,
}

impl SessionSource for RunSessions {
    fn session(&self) -> BoxFuture<'static, Result<SessionContext, DataFusionError>> {
        let config = self.config.clone();
        let scheduler = self.scheduler.clone();
        Box::pin(async move {
            match scheduler {
                Some(url) => remote::connect(&config, &url)
                    .await
                    .map_err(|f| DataFusionError::External(f.error.into())),
                None => pvflow_session::server_session_context(&config)
                    .map_err(|e| DataFusionError::External(Box::new(e))),
            }
        })
    }
}

pub async fn run(config: &PvflowConfig, args: ServeArgs) -> Result<(), Failure> {
    let sessions = RunSessions {
        config: config.clone(),
        scheduler: args.scheduler,
    };
    // A wrong --scheduler or model is a usage error at start, not a failure of every run.
    if let Some(url) = &sessions.scheduler {
        remote::connect(config, url).await?;
    } else {
        pvflow_session::server_session_context(config).map_err(Failure::usage)?;
    }
    let tls = pvflow_tls::acceptor(
        config.api.tls_cert.as_deref(),
        config.api.tls_key.as_deref(),
        pvflow_tls::Protocol::Http1,
    )
    .context("[api] TLS")
    .map_err(Failure::usage)?;
    let service = RunService::new(config.clone(), Arc::new(sessions)).map_err(Failure::usage)?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))
        .map_err(Failure::io)?;
    let address = listener
        .local_addr()
        .context("the listener has no address")
        .map_err(Failure::io)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("pvflow API on {scheme}://{address}");
    println!("dashboard: {scheme}://{address}/");
    tracing::info!(%address, scheme, "pvflow API listening");
    if !service.requires_token() && !address.ip().is_loopback() {
        tracing::warn!(
            %address,
            "the API has no token (PVFLOW_API_TOKEN): anyone who reaches it can start and cancel runs"
        );
    }
    let shutdown = async {
        let signal = signals::stop().await;
        tracing::info!(
            signal = signal.name(),
            "pvflow API stopping: cancelling its runs"
        );
    };
    let served = match tls {
        Some(acceptor) => {
            let listener = pvflow_tls::TlsListener::new(listener, acceptor)
                .context("the listener has no address")
                .map_err(Failure::io)?;
            pvflow_api::serve(listener, service, shutdown).await
        }
        None => pvflow_api::serve(listener, service, shutdown).await,
    };
    served.context("the pvflow API failed").map_err(Failure::io)
}
