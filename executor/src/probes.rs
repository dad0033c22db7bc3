//! The executor's HTTP port (`--bind-health-port`) for Kubernetes and Prometheus: `/healthz`
//! (the process answers), `/readyz` (its last heartbeat reached the scheduler), as Ballista's own
//! health server answers them, and `/metrics`, which Ballista's executor does not serve.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ballista_executor::health::ExecutorHealth;
use prometheus::{Encoder, TextEncoder};
use std::net::SocketAddr;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Listens on `address` (an error if it cannot) and serves the probes and metrics until `stop`.
pub async fn serve(
    address: SocketAddr,
    health: ExecutorHealth,
    stop: oneshot::Receiver<()>,
) -> std::io::Result<JoinHandle<std::io::Result<()>>> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(%address, "probes and metrics listening");
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(health);
    Ok(tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop.await;
            })
            .await
    }))
}

async fn ready(State(health): State<ExecutorHealth>) -> Response {
    if health.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no successful heartbeat yet\n",
        )
            .into_response()
    }
}

/// The process' metrics: Kafka scans, scalograms, the model's batches (see the `pvflow_kafka`
/// and `pvflow_udfs` crates), and the process' CPU and memory.
async fn metrics() -> Response {
    let mut text = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&prometheus::gather(), &mut text) {
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response()
}
