//! A client of the run API, as `pvflow runs` uses it.

use crate::request::RunRequest;
use crate::status::{ErrorBody, RunStatus, Submitted};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot reach the pvflow API at {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The request was refused as invalid (400): `parameter` names the invalid one.
    #[error("{}", .0.error)]
    Refused(ErrorBody),
    #[error("{}", .0.error)]
    NotFound(ErrorBody),
    /// The API requires a token and this client sent none, or a wrong one (401).
    #[error("{}", .0.error)]
    Unauthorized(ErrorBody),
    /// A run is in the way (409): the same plan and day is running, or the run already ended.
    #[error("{}", .0.error)]
    Conflict(ErrorBody),
    #[error("the pvflow API answered {status}: {body}")]
    Server { status: StatusCode, body: String },
    #[error("the pvflow API's answer is not what pvflow expects: {0}")]
    Unreadable(#[from] serde_json::Error),
}

/// How long one call may take, connecting included: a silent API fails the call (`pvflow runs`
/// exits 3) instead of hanging an orchestrator's task.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The API at one base URL (`http://host:port`).
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl ApiClient {
    pub fn new(base: &str) -> ApiClient {
        ApiClient {
            base: base.trim_end_matches('/').to_string(),
            http: http_client(REQUEST_TIMEOUT),
            token: None,
        }
    }

    /// Gives each call `timeout` instead of [`REQUEST_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> ApiClient {
        self.http = http_client(timeout);
        self
    }

    /// Sends `token` as the bearer token the API requires (`[api] token`).
    pub fn with_token(mut self, token: Option<String>) -> ApiClient {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ApiError> {
        self.call_with(method, path, body, &[]).await
    }

    async fn call_with<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Result<T, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let unreachable = |source| ApiError::Unreachable {
            url: url.clone(),
            source,
        };
        let answer = request.send().await.map_err(unreachable)?;
        let status = answer.status();
        let bytes = answer.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(serde_json::from_slice(&bytes)?);
        }
        let refusal = || serde_json::from_slice::<ErrorBody>(&bytes);
        Err(match status {
            // 422: an Idempotency-Key given before with another request.
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
                ApiError::Refused(refusal()?)
            }
            StatusCode::NOT_FOUND => ApiError::NotFound(refusal()?),
            StatusCode::UNAUTHORIZED => ApiError::Unauthorized(refusal()?),
            StatusCode::CONFLICT => ApiError::Conflict(refusal()?),
            _ => ApiError::Server {
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            },
        })
    }

    /// Starts a run; returns at once with its status (state `running`), or, for a request with
    /// `if_late` whose day is up to date, says so.
    pub async fn submit(&self, request: &RunRequest) -> Result<Submitted, ApiError> {
        self.submit_once(request, None).await
    }

    /// As [`Self::submit`], with an `Idempotency-Key`: a repeat with the same key answers the
    /// run the first started instead of starting another.
    pub async fn submit_once(
        &self,
        request: &RunRequest,
        key: Option<&str>,
    ) -> Result<Submitted, ApiError> {
        let body = serde_json::to_vec(request)?;
        let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
        self.call_with(Method::POST, "/runs", Some(body), &headers)
            .await
    }

    pub async fn status(&self, run_id: &str) -> Result<RunStatus, ApiError> {
        self.call(Method::GET, &run_path(run_id), None).await
    }

    /// The runs the API process knows, newest first.
    pub async fn list(&self) -> Result<Vec<RunStatus>, ApiError> {
        self.call(Method::GET, "/runs", None).await
    }

    /// Asks a running run to stop; it ends `cancelled` shortly after.
    pub async fn cancel(&self, run_id: &str) -> Result<RunStatus, ApiError> {
        self.call(Method::DELETE, &run_path(run_id), None).await
    }

    /// Polls run `run_id` every `every` until it ended, telling `on_poll` each status seen.
    pub async fn wait(
        &self,
        run_id: &str,
        every: Duration,
        mut on_poll: impl FnMut(&RunStatus),
    ) -> Result<RunStatus, ApiError> {
        loop {
            let status = self.status(run_id).await?;
            on_poll(&status);
            if status.ended() {
                return Ok(status);
            }
            tokio::time::sleep(every).await;
        }
    }
}

fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .unwrap_or_else(|e| {
            // Without TLS there is nothing to fail here; should it, calls still work, unbounded.
            tracing::warn!(error = %e, "cannot set the API client's timeout");
            reqwest::Client::new()
        })
}

/// The path of run `run_id`: the ID is one path segment whatever it holds (`/`, `?`, `%`), and
/// the API refuses an invalid one by name.
fn run_path(run_id: &str) -> String {
    let mut path = String::from("/runs/");
    for b in run_id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            path.push(char::from(b));
        } else {
            path.push_str(&format!("%{b:02X}"));
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_is_one_path_segment() {
        assert_eq!(
            run_path("ingest-2026-06-01-0a1b2c3d"),
            "/runs/ingest-2026-06-01-0a1b2c3d"
        );
        assert_eq!(run_path("../x?y=1"), "/runs/..%2Fx%3Fy%3D1");
    }

    #[tokio::test]
    async fn a_silent_api_fails_the_call_in_bounded_time() {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        let client =
            ApiClient::new(&format!("http://{address}")).with_timeout(Duration::from_millis(200));
        // The guard turns a call that hangs into a failure instead of a stuck test.
        let answer = tokio::time::timeout(Duration::from_secs(20), client.status("r"))
            .await
            .expect("the call ends by itself");
        let e = answer.expect_err("no answer");
        assert!(matches!(e, ApiError::Unreachable { .. }), "{e}");
        held.abort();
    }
}
