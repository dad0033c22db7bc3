//! The HTTP routes over [`RunService`].

use crate::devices::{LOOKBACK_DAYS, validate_device_id};
use crate::fleet::{EpisodeFilter, ReadError};
use crate::request::RunRequest;
use crate::service::{CancelError, RunService, SubmitError};
use crate::status::{ErrorBody, RunStatus, Submitted};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;

/// The API's OpenAPI 3.1 description, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// The largest request body taken (a run request is a few hundred bytes); a larger one is
/// refused with 413 before it is read whole (docs/run-api.md).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// `POST /runs`, `GET /runs`, `GET /runs/{id}`, `DELETE /runs/{id}`, `GET /devices/{id}`,
/// `GET /healthz`, `GET /metrics`, `GET /openapi.json` (their description). With a token
/// configured, the `/runs` and `/devices` routes require it as a bearer token; probes, metrics
/// and the description never do (they start and reveal nothing).
pub fn router(service: Arc<RunService>) -> Router {
    let mut runs = Router::new()
        .route("/runs", get(list).post(submit))
        .route("/runs/recorded", get(recorded))
        .route("/runs/{id}", get(status).delete(cancel))
        .route("/devices/{device_id}", get(device))
        .route("/devices/{device_id}/diagnoses", get(diagnoses))
        .route("/devices/{device_id}/series", get(series))
        .route("/devices/{device_id}/scalogram.png", get(scalogram))
        .route("/fleet", get(fleet))
        .route("/fleet/heatmap", get(heatmap))
        .route("/episodes", get(episodes))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES));
    if service.requires_token() {
        runs = runs.route_layer(middleware::from_fn_with_state(
            Arc::clone(&service),
            require_token,
        ));
    }
    runs.merge(crate::dashboard::routes())
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route(
            "/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .layer(middleware::from_fn_with_state(
            Arc::clone(&service),
            limit_time,
        ))
        .with_state(service)
}

/// Answers 408 when a request (reading its body included) takes longer than
/// `[api] request_timeout_seconds`.
async fn limit_time(
    State(service): State<Arc<RunService>>,
    request: Request,
    next: Next,
) -> Response {
    let limit = service.request_timeout();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request took longer than {} s ([api] request_timeout_seconds)",
                limit.as_secs()
            ),
        ),
    }
}

async fn require_token(
    State(service): State<Arc<RunService>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match presented {
        Some(presented) if service.accepts_token(presented) => next.run(request).await,
        Some(_) => error(StatusCode::UNAUTHORIZED, "the API token is wrong"),
        None => error(
            StatusCode::UNAUTHORIZED,
            "this API requires its token: Authorization: Bearer <token> (PVFLOW_API_TOKEN)",
        ),
    }
}

fn refusal(code: StatusCode, body: ErrorBody) -> Response {
    (code, Json(body)).into_response()
}

fn error(code: StatusCode, error: impl ToString) -> Response {
    refusal(
        code,
        ErrorBody {
            error: error.to_string(),
            parameter: None,
            run: None,
        },
    )
}

/// The header a client repeats on a retried `POST /runs` so that it starts one run.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The request's `Idempotency-Key`, if any: 1 to 255 visible ASCII characters; else why not.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key))
        }
        _ => Err("Idempotency-Key must be 1 to 255 visible ASCII characters"),
    }
}

async fn submit(
    State(service): State<Arc<RunService>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = match idempotency_key(&headers) {
        Ok(key) => key,
        Err(why) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                ErrorBody {
                    error: why.into(),
                    parameter: Some("Idempotency-Key".into()),
                    run: None,
                },
            );
        }
    };
    let request: RunRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("the body is not a run request: {e}"),
            );
        }
    };
    match service.submit_once(&request, key).await {
        Ok(Submitted::Started(run)) => (
            StatusCode::ACCEPTED,
            [(header::LOCATION, format!("/runs/{}", run.run_id))],
            Json(run),
        )
            .into_response(),
        Ok(Submitted::Replayed(run)) => (
            StatusCode::OK,
            [
                (header::LOCATION, format!("/runs/{}", run.run_id)),
                (
                    header::HeaderName::from_static("idempotent-replayed"),
                    "true".to_string(),
                ),
            ],
            Json(run),
        )
            .into_response(),
        Ok(Submitted::UpToDate(day)) => (StatusCode::OK, Json(day)).into_response(),
        Err(e) => {
            let message = e.to_string();
            let (code, parameter, run) = match e {
                SubmitError::Invalid(e) => (StatusCode::BAD_REQUEST, Some(e.name.into()), None),
                SubmitError::AlreadyRunning { run, .. } => (StatusCode::CONFLICT, None, Some(*run)),
                SubmitError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, None, None),
                SubmitError::Freshness { .. } => (StatusCode::BAD_GATEWAY, None, None),
                SubmitError::KeyReused { .. } => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some("Idempotency-Key".into()),
                    None,
                ),
                SubmitError::KeyInFlight { .. } => (StatusCode::CONFLICT, None, None),
            };
            refusal(
                code,
                ErrorBody {
                    error: message,
                    parameter,
                    run,
                },
            )
        }
    }
}

#[derive(Debug, Deserialize)]
struct ListFilter {
    plan: Option<String>,
    date: Option<String>,
    state: Option<String>,
}

async fn list(
    State(service): State<Arc<RunService>>,
    Query(filter): Query<ListFilter>,
) -> Json<Vec<RunStatus>> {
    let matches =
        |wanted: &Option<String>, value: &str| wanted.as_deref().is_none_or(|w| w == value);
    let runs = service
        .list()
        .into_iter()
        .filter(|r| {
            matches(&filter.plan, &r.plan)
                && matches(&filter.date, &r.date)
                && matches(&filter.state, r.state.name())
        })
        .collect();
    Json(runs)
}

#[derive(Debug, Deserialize)]
struct LimitQuery {
    limit: Option<usize>,
}

async fn recorded(
    State(service): State<Arc<RunService>>,
    Query(query): Query<LimitQuery>,
) -> Response {
    let limit = query.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return refusal(
            StatusCode::BAD_REQUEST,
            ErrorBody {
                error: "limit must be 1 to 1000 runs".into(),
                parameter: Some("limit".into()),
                run: None,
            },
        );
    }
    match service.recorded(limit).await {
        Ok(runs) => Json(runs).into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read the runs' manifests: {e}"),
        ),
    }
}

async fn status(State(service): State<Arc<RunService>>, Path(id): Path<String>) -> Response {
    match service.status(&id).await {
        Ok(Some(run)) => Json(run).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no run {id}")),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot look up run {id}: {e}"),
        ),
    }
}

async fn cancel(State(service): State<Arc<RunService>>, Path(id): Path<String>) -> Response {
    match service.cancel(&id) {
        Ok(run) => (StatusCode::ACCEPTED, Json(run)).into_response(),
        Err(e @ CancelError::Unknown(_)) => error(StatusCode::NOT_FOUND, e),
        Err(CancelError::Ended(run)) => refusal(
            StatusCode::CONFLICT,
            ErrorBody {
                error: format!("run {} already ended", run.run_id),
                parameter: None,
                run: Some(*run),
            },
        ),
    }
}

async fn device(State(service): State<Arc<RunService>>, Path(device_id): Path<String>) -> Response {
    if let Err(e) = validate_device_id(&device_id) {
        return refusal(
            StatusCode::BAD_REQUEST,
            ErrorBody {
                error: e.to_string(),
                parameter: Some("device_id".into()),
                run: None,
            },
        );
    }
    match service.devices().state(&device_id).await {
        Ok(Some(state)) => Json(state).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!(
                "the stream has no window of device {device_id} in the live table's last {LOOKBACK_DAYS} days and no open episode"
            ),
        ),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read device {device_id}'s state from the live table: {e}"),
        ),
    }
}

/// A read's answer: its JSON, or its error with the status that says whose fault it is.
fn read_answer<T: serde::Serialize>(answer: Result<T, ReadError>) -> Response {
    match answer {
        Ok(value) => Json(value).into_response(),
        Err(e) => {
            let code = match &e {
                ReadError::Invalid { .. } => StatusCode::BAD_REQUEST,
                ReadError::NotFound(_) => StatusCode::NOT_FOUND,
                ReadError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            if code == StatusCode::INTERNAL_SERVER_ERROR {
                tracing::warn!(error = %e, "a read of gold failed");
            }
            refusal(code, e.body())
        }
    }
}

fn device_id_refused(device_id: &str) -> Option<Response> {
    validate_device_id(device_id).err().map(|e| {
        refusal(
            StatusCode::BAD_REQUEST,
            ErrorBody {
                error: e.to_string(),
                parameter: Some("device_id".into()),
                run: None,
            },
        )
    })
}

#[derive(Debug, Deserialize)]
struct DaysQuery {
    from: Option<String>,
    to: Option<String>,
}

async fn diagnoses(
    State(service): State<Arc<RunService>>,
    Path(device_id): Path<String>,
    Query(days): Query<DaysQuery>,
) -> Response {
    if let Some(refused) = device_id_refused(&device_id) {
        return refused;
    }
    let reads = service.fleet();
    read_answer(
        reads
            .diagnoses(&device_id, days.from.as_deref(), days.to.as_deref())
            .await,
    )
}

#[derive(Debug, Deserialize)]
struct DayQuery {
    date: Option<String>,
    limit: Option<usize>,
}

async fn series(
    State(service): State<Arc<RunService>>,
    Path(device_id): Path<String>,
    Query(day): Query<DayQuery>,
) -> Response {
    if let Some(refused) = device_id_refused(&device_id) {
        return refused;
    }
    read_answer(
        service
            .fleet()
            .series(&device_id, day.date.as_deref())
            .await,
    )
}

#[derive(Debug, Deserialize)]
struct WindowQuery {
    window_start: Option<String>,
}

async fn scalogram(
    State(service): State<Arc<RunService>>,
    Path(device_id): Path<String>,
    Query(window): Query<WindowQuery>,
) -> Response {
    if let Some(refused) = device_id_refused(&device_id) {
        return refused;
    }
    let Some(start) = window.window_start else {
        return read_answer::<()>(Err(ReadError::Invalid {
            name: "window_start",
            why: "is required (RFC 3339, a window's start)".into(),
        }));
    };
    match service.fleet().scalogram(&device_id, &start).await {
        Ok(image) => match crate::scalogram_png::render(&image) {
            Ok(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
            Err(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot encode the scalogram: {e}"),
            ),
        },
        Err(e) => read_answer::<()>(Err(e)),
    }
}

async fn fleet(State(service): State<Arc<RunService>>, Query(day): Query<DayQuery>) -> Response {
    read_answer(service.fleet().fleet(day.date.as_deref(), day.limit).await)
}

async fn heatmap(State(service): State<Arc<RunService>>, Query(day): Query<DayQuery>) -> Response {
    read_answer(service.fleet().heatmap(day.date.as_deref()).await)
}

async fn episodes(
    State(service): State<Arc<RunService>>,
    Query(filter): Query<EpisodeFilter>,
) -> Response {
    read_answer(service.fleet().episodes(&filter).await)
}

async fn metrics(State(service): State<Arc<RunService>>) -> Response {
    (
        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        service.metrics_text(),
    )
        .into_response()
}
