//! A client of the run API, as `pvflow runs` uses it.

use crate::request::RunRequest;
use crate::status::{ErrorBody, RunStatus};
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
            http: reqwest::Client::new(),
            token: None,
        }
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
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
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
            StatusCode::BAD_REQUEST => ApiError::Refused(refusal()?),
            StatusCode::NOT_FOUND => ApiError::NotFound(refusal()?),
            StatusCode::UNAUTHORIZED => ApiError::Unauthorized(refusal()?),
            StatusCode::CONFLICT => ApiError::Conflict(refusal()?),
            _ => ApiError::Server {
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            },
        })
    }

    /// Starts a run; returns at once with its status (state `running`).
    pub async fn submit(&self, request: &RunRequest) -> Result<RunStatus, ApiError> {
        let body = serde_json::to_vec(request)?;
        self.call(Method::POST, "/runs", Some(body)).await
    }

    pub async fn status(&self, run_id: &str) -> Result<RunStatus, ApiError> {
        self.call(Method::GET, &format!("/runs/{run_id}"), None)
            .await
    }

    /// The runs the API process knows, newest first.
    pub async fn list(&self) -> Result<Vec<RunStatus>, ApiError> {
        self.call(Method::GET, "/runs", None).await
    }

    /// Asks a running run to stop; it ends `cancelled` shortly after.
    pub async fn cancel(&self, run_id: &str) -> Result<RunStatus, ApiError> {
        self.call(Method::DELETE, &format!("/runs/{run_id}"), None)
            .await
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
