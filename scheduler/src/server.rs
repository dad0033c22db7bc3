//! The scheduler's port: Ballista's scheduler gRPC, its REST API, the health probes and, with
//! `--flight-sql`, pvflow's Flight SQL service. Ballista's own server would mount its Flight SQL
//! service, whose results are at times announced with another stage's schema (see
//! [`crate::flight_sql`]), so the routes are assembled here, as Ballista assembles them.

use crate::flight_sql::{self, Scheduler};
use arrow_flight::flight_service_server::FlightServiceServer;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpcServer;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Serves `scheduler` on `listener` until it fails; Flight SQL too when `flight_sql` holds.
pub async fn serve(
    listener: TcpListener,
    scheduler: Scheduler,
    flight_sql: bool,
) -> std::io::Result<()> {
    let config = Arc::clone(&scheduler.state.config);
    let max_decoding = config.grpc_server_max_decoding_message_size as usize;
    let max_encoding = config.grpc_server_max_encoding_message_size as usize;
    let mut grpc = tonic::service::RoutesBuilder::default();
    grpc.add_service(
        SchedulerGrpcServer::new(scheduler.clone())
            .max_decoding_message_size(max_decoding)
            .max_encoding_message_size(max_encoding),
    );
    // Both serve `arrow.flight.protocol.FlightService`; Flight SQL forwards Ballista's own
    // result tickets as the proxy would.
    if flight_sql {
        grpc.add_service(flight_sql::service(scheduler.clone(), &config));
    } else if config.enable_embedded_flight_proxy {
        grpc.add_service(
            FlightServiceServer::new(flight_sql::flight_proxy(&config))
                .max_decoding_message_size(max_decoding)
                .max_encoding_message_size(max_encoding),
        );
    }
    let scheduler = Arc::new(scheduler);
    let probes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(Arc::clone(&scheduler));
    let app = ballista_scheduler::api::get_routes(scheduler)
        .merge(grpc.routes().into_axum_router())
        .merge(probes)
        .fallback(|| async { StatusCode::NOT_FOUND });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// 200 once `--min-ready-executors` executors registered, 503 before.
async fn ready(State(scheduler): State<Arc<Scheduler>>) -> (StatusCode, String) {
    let required = scheduler.state.config.min_ready_executors;
    if scheduler.is_ready() {
        (StatusCode::OK, "ready\n".into())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: fewer than {required} executors registered\n"),
        )
    }
}
