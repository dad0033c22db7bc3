//! pvflow's run API: orchestrators (Airflow, Step Functions, cron) start plan runs over HTTP
//! and poll them until they end.
//!
//! | Route | Answer |
//! |---|---|
//! | `POST /runs` with a [`RunRequest`] | 202 and the run's [`RunStatus`] (`Location: /runs/<id>`); with `if_late` and the day up to date, 200 and [`UpToDate`]; 400 names the invalid parameter; 409 if that plan already runs for that day into that dataset; 502 if `if_late` cannot read the topic; 503 while the process stops |
//! | `GET /runs/<id>` | the run's status: its stage while it runs, its manifest once it ended; 404 if unknown |
//! | `GET /runs[?plan=&date=&state=]` | the runs this process knows, newest first |
//! | `GET /runs/recorded[?limit=]` | the last runs whose manifests are in silver's and gold's `_runs/`, whoever ran them |
//! | `DELETE /runs/<id>` | 202: the run is cancelled as a stopped `pvflow run` is (jobs cancelled, staging removed, previous output kept); 409 if it already ended |
//! | `GET /devices/<id>` | the device's [`DeviceState`] from the stream: its latest window in the live table (within [`LOOKBACK_DAYS`]) and its open fault episode; 400 for an invalid ID; 404 if the stream knows nothing of it |
//! | `GET /devices/<id>/diagnoses[?from=&to=]` | the device's diagnoses in gold over a range of days (default gold's newest day; at most `[api] max_range_days`) |
//! | `GET /devices/<id>/series[?date=]` | the device's windows of a day from silver (its four series) with gold's diagnosis |
//! | `GET /devices/<id>/scalogram.png?window_start=` | a window's scalogram, as the model sees it |
//! | `GET /fleet[?date=&limit=]` | the day's devices worst first ([`Fleet`]): open episodes by severity, energy lost, fault windows; windows by class |
//! | `GET /fleet/heatmap[?date=]` | the day's diagnoses, devices x windows ([`Heatmap`]) |
//! | `GET /episodes[?state=&fault_label=&severity=&device_id=&from=&to=]` | fault episodes as they are now, newest first |
//! | `GET /` | the web dashboard (its files need no token; it asks for one if the API does) |
//! | `GET /healthz`, `GET /metrics` | liveness, and Prometheus metrics of runs |
//!
//! Reads validate every parameter (400 names it), bind it by type, and name their days, so that
//! they read only those days' files ([`FleetReads`]); 404 when nothing matches.
//!
//! With `[api] token` (`PVFLOW_API_TOKEN`) set, the `/runs`, `/devices`, `/fleet` and `/episodes` routes answer 401 unless the request
//! carries it as `Authorization: Bearer <token>`.
//!
//! Runs execute in the API process exactly as `pvflow run` does (plans on a cluster through a
//! scheduler, or in-process), through a [`SessionSource`]. A run's status outlives the process
//! through its manifest: `GET /runs/<id>` of a run the process does not know reads
//! `_runs/<id>.json` under the configured dataset of its plan.

mod client;
mod dashboard;
mod devices;
mod fleet;
mod metrics;
mod request;
mod routes;
mod scalogram_png;
mod service;
mod status;

pub use client::{ApiClient, ApiError, REQUEST_TIMEOUT};
pub use devices::{DeviceLookup, DeviceState, LOOKBACK_DAYS, LatestWindow};
pub use fleet::{DayRange, EpisodeFilter, Fleet, FleetReads, Heatmap, ReadError};
pub use request::{RunRequest, ValidRequest};
pub use routes::router;
pub use service::{CancelError, KEPT_ENDED_RUNS, RunService, SessionSource, SubmitError};
pub use status::{ErrorBody, RunStatus, Submitted, UpToDate};

use std::future::Future;
use std::sync::Arc;

/// Serves the API on `listener` (a `TcpListener`, or a `pvflow_tls::TlsListener` for HTTPS) until
/// `shutdown` resolves; then refuses new runs, cancels the running ones and returns once each
/// has ended and written its manifest.
pub async fn serve<L>(
    listener: L,
    service: Arc<RunService>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let stopping = Arc::clone(&service);
    let served = axum::serve(listener, router(Arc::clone(&service)))
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Runs end (and their manifests are written) before the server stops answering, so
            // that pollers see them end.
            stopping.shutdown().await;
        })
        .await;
    service.shutdown().await;
    served
}

#[cfg(test)]
mod tests;
