//! `pvflow stream`'s HTTP port for Kubernetes and Prometheus: `/healthz` (the process answers)
//! and `/metrics` (the stream's, the model's batches, the process' CPU and memory).

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::{Encoder, TextEncoder};
use std::net::SocketAddr;

/// Listens on `address` (an error if it cannot), then serves until the process ends.
pub async fn serve_probes(address: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!(error = %e, "the probes' port failed");
        }
    });
    Ok(bound)
}

async fn metrics() -> Response {
    let mut text = Vec::new();
    match TextEncoder::new().encode(&prometheus::gather(), &mut text) {
        Ok(()) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
