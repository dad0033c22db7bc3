//! The runs one API process started: each runs as a task of its own, can be cancelled, and
//! ends with its manifest. Ended runs stay listed (the latest [`KEPT_ENDED_RUNS`]); older ones,
//! and those of an earlier process, are found through the manifests under their datasets.

use crate::devices::DeviceLookup;
use crate::fleet::FleetReads;
use crate::metrics::RunMetrics;
use crate::request::{RunRequest, ValidRequest};
use crate::status::{RunStatus, Submitted, UpToDate};
use chrono::{SecondsFormat, Utc};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use futures::future::BoxFuture;
use pvflow_runner::{DatasetRoot, DayFreshness, ParamError, Plan, Progress, RunManifest, RunState};
use pvflow_session::{LocationError, Locations, PvflowConfig};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How many ended runs a process keeps in memory.
pub const KEPT_ENDED_RUNS: usize = 1000;

/// A run's end is posted to its `notify_url` this many times at most, waiting 1 s, then 2 s,
/// ... between attempts, each bounded by [`NOTIFY_TIMEOUT`].
const NOTIFY_ATTEMPTS: u32 = 4;
const NOTIFY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where runs get their sessions: a pvflow cluster's client, or an in-process session.
pub trait SessionSource: Send + Sync + 'static {
    /// A new session for one run (or for reading a stored manifest).
    fn session(&self) -> BoxFuture<'static, Result<SessionContext, DataFusionError>>;
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Invalid(#[from] ParamError),
    #[error("{plan} for {date} into {output} is already running as {}", .run.run_id)]
    AlreadyRunning {
        plan: Plan,
        date: String,
        output: String,
        run: Box<RunStatus>,
    },
    #[error("the API is shutting down and starts no runs")]
    ShuttingDown,
    /// `if_late`: the topic could not be compared with the day's last ingest.
    #[error("cannot tell whether {date} has late readings: {why}")]
    Freshness { date: String, why: String },
    #[error("Idempotency-Key {key:?} was given with another request")]
    KeyReused { key: String },
    #[error("a request with Idempotency-Key {key:?} is being handled; retry shortly")]
    KeyInFlight { key: String },
}

#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("no run {0}")]
    Unknown(String),
    #[error("run {} already ended ({:?})", .0.run_id, .0.state)]
    Ended(Box<RunStatus>),
}

struct Entry {
    status: RunStatus,
    /// The dataset the run writes: two runs of a plan for a day into one dataset would race.
    output: String,
    cancel: CancellationToken,
}

/// A submission's `Idempotency-Key`: the request it came with and, once started, its run.
struct Keyed {
    request: RunRequest,
    run_id: Option<String>,
}

#[derive(Default)]
struct Registry {
    entries: HashMap<String, Entry>,
    /// Ended runs, oldest first: the first to be forgotten.
    ended: VecDeque<String>,
    /// Idempotency keys, each forgotten with its run.
    keys: HashMap<String, Keyed>,
}

/// A key taken for a submission in progress; given back if it starts no run.
struct PendingKey<'a> {
    service: &'a RunService,
    key: &'a str,
    started: bool,
}

impl Drop for PendingKey<'_> {
    fn drop(&mut self) {
        if !self.started {
            self.service.registry().keys.remove(self.key);
        }
    }
}

pub struct RunService {
    config: PvflowConfig,
    /// Where requests may read and write.
    locations: Locations,
    sessions: Arc<dyn SessionSource>,
    registry: Mutex<Registry>,
    metrics: RunMetrics,
    tasks: TaskTracker,
    /// Cancelled when the process stops; every run's token is its child.
    stopping: CancellationToken,
    devices: DeviceLookup,
    fleet: FleetReads,
    /// Posts runs' ends to their `notify_url`.
    notifier: reqwest::Client,
}

impl RunService {
    /// Runs take their defaults (brokers, topic, silver, gold, Kafka credentials) from
    /// `config`, and their sessions from `sessions`; requests reach `config`'s [`Locations`].
    pub fn new(
        config: PvflowConfig,
        sessions: Arc<dyn SessionSource>,
    ) -> Result<Arc<RunService>, LocationError> {
        Ok(Arc::new(RunService {
            devices: DeviceLookup::new(&config),
            fleet: FleetReads::new(&config),
            locations: Locations::of(&config.storage)?,
            config,
            sessions,
            registry: Mutex::new(Registry::default()),
            metrics: RunMetrics::new(),
            tasks: TaskTracker::new(),
            stopping: CancellationToken::new(),
            notifier: reqwest::Client::builder()
                .timeout(NOTIFY_TIMEOUT)
                .build()
                .unwrap_or_default(),
        }))
    }

    /// Devices' states from the stream's live table.
    pub fn devices(&self) -> &DeviceLookup {
        &self.devices
    }

    /// Gold, fault events and silver, read for operators.
    pub fn fleet(&self) -> &FleetReads {
        &self.fleet
    }

    /// Whether run requests must carry a token (`[api] token` or `tokens`).
    pub fn requires_token(&self) -> bool {
        self.config.api.requires_token()
    }

    /// How long one request may take (`[api] request_timeout_seconds`).
    pub fn request_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.config.api.request_timeout_seconds)
    }

    /// Whether `presented` is one of the configured tokens.
    pub fn accepts_token(&self, presented: &str) -> bool {
        self.config.api.accepts(presented)
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// As [`Self::submit`]; for a request with `if_late`, first compares the topic with the
    /// day's last ingest (reading Kafka, so it takes a moment) and starts no run when the day is
    /// up to date.
    pub async fn submit_if_late(
        self: &Arc<Self>,
        request: &RunRequest,
    ) -> Result<Submitted, SubmitError> {
        let valid = self.validate(request)?;
        if request.if_late {
            let date = valid.date.to_string();
            let failed = |why: String| SubmitError::Freshness {
                date: date.clone(),
                why,
            };
            let ctx = self
                .sessions
                .session()
                .await
                .map_err(|e| failed(e.to_string()))?;
            let freshness = pvflow_runner::day_freshness(&ctx, &valid.params)
                .await
                .map_err(|e| failed(e.to_string()))?;
            if let DayFreshness::UpToDate { run_id } = freshness {
                return Ok(Submitted::UpToDate(UpToDate::new(valid.plan, date, run_id)));
            }
        }
        self.start(valid)
            .map(|run| Submitted::Started(Box::new(run)))
    }

    /// As [`Self::submit_if_late`], once per `key` (a client's `Idempotency-Key`): a request
    /// repeated with the key answers the run the first started, for as long as the process
    /// keeps that run; the key with another request is refused. A request that starts no run
    /// (refused, up to date) leaves the key free.
    pub async fn submit_once(
        self: &Arc<Self>,
        request: &RunRequest,
        key: Option<&str>,
    ) -> Result<Submitted, SubmitError> {
        let Some(key) = key else {
            return self.submit_if_late(request).await;
        };
        {
            let mut registry = self.registry();
            match registry.keys.get(key) {
                Some(keyed) if keyed.request != *request => {
                    return Err(SubmitError::KeyReused { key: key.into() });
                }
                Some(Keyed {
                    run_id: Some(run_id),
                    ..
                }) => {
                    if let Some(entry) = registry.entries.get(run_id) {
                        return Ok(Submitted::Replayed(Box::new(entry.status.clone())));
                    }
                }
                Some(_) => return Err(SubmitError::KeyInFlight { key: key.into() }),
                None => {}
            }
            registry.keys.insert(
                key.to_string(),
                Keyed {
                    request: request.clone(),
                    run_id: None,
                },
            );
        }
        let mut pending = PendingKey {
            service: self,
            key,
            started: false,
        };
        let submitted = self.submit_if_late(request).await?;
        if let Submitted::Started(run) = &submitted
            && let Some(keyed) = self.registry().keys.get_mut(key)
        {
            keyed.run_id = Some(run.run_id.clone());
            pending.started = true;
        }
        Ok(submitted)
    }

    /// Validates `request` and starts its run; returns at once with the run's status. Call it
    /// within a Tokio runtime: the run is a task of it.
    pub fn submit(self: &Arc<Self>, request: &RunRequest) -> Result<RunStatus, SubmitError> {
        self.start(self.validate(request)?)
    }

    /// `request` checked against the API's locations and configuration, unless the API stops.
    fn validate(&self, request: &RunRequest) -> Result<ValidRequest, SubmitError> {
        if self.stopping.is_cancelled() {
            return Err(SubmitError::ShuttingDown);
        }
        request.check_locations(&self.locations)?;
        Ok(request.validate(&self.config)?)
    }

    /// Starts the run of `valid`, unless the API began stopping since it was validated (an
    /// `if_late` check reads Kafka in between).
    fn start(self: &Arc<Self>, valid: ValidRequest) -> Result<RunStatus, SubmitError> {
        if self.stopping.is_cancelled() {
            return Err(SubmitError::ShuttingDown);
        }
        let run_id = pvflow_runner::new_run_id(valid.plan, valid.date);
        let status = RunStatus {
            run_id: run_id.clone(),
            plan: valid.plan.name().into(),
            date: valid.date.to_string(),
            state: RunState::Running,
            submitted_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            stage: None,
            cancel_requested: false,
            error: None,
            manifest: None,
        };
        let cancel = self.stopping.child_token();
        {
            let mut registry = self.registry();
            let output = valid.output().to_string();
            if let Some(running) = registry.entries.values().find(|e| {
                !e.status.ended()
                    && e.status.plan == status.plan
                    && e.status.date == status.date
                    && e.output == output
            }) {
                return Err(SubmitError::AlreadyRunning {
                    plan: valid.plan,
                    date: status.date,
                    output,
                    run: Box::new(running.status.clone()),
                });
            }
            registry.entries.insert(
                run_id.clone(),
                Entry {
                    status: status.clone(),
                    output,
                    cancel: cancel.clone(),
                },
            );
        }
        self.metrics.submitted(valid.plan);
        tracing::info!(run = %run_id, plan = %valid.plan, date = %valid.date, "run submitted");
        let service = Arc::clone(self);
        let notify = valid.notify.clone();
        self.tasks.spawn(async move {
            let ended = service.execute(&run_id, valid, cancel).await;
            let status = service.end(&run_id, ended);
            if let (Some(url), Some(status)) = (notify, status) {
                service.notify(&url, &status).await;
            }
        });
        Ok(status)
    }

    async fn execute(
        self: &Arc<Self>,
        run_id: &str,
        valid: ValidRequest,
        cancel: CancellationToken,
    ) -> Result<RunManifest, String> {
        let ValidRequest { plan, params, .. } = valid;
        let ctx = self
            .sessions
            .session()
            .await
            .map_err(|e| format!("cannot open a session for the run: {e}"))?;
        let progress = StageReporter {
            service: Arc::clone(self),
            run_id: run_id.to_string(),
        };
        Ok(pvflow_runner::run(
            &ctx,
            run_id.to_string(),
            plan,
            &params,
            &progress,
            cancel.cancelled_owned(),
        )
        .await)
    }

    /// Records how run `run_id` ended: its manifest, or why it never started. Returns its final
    /// status.
    fn end(&self, run_id: &str, ended: Result<RunManifest, String>) -> Option<RunStatus> {
        let mut registry = self.registry();
        let entry = registry.entries.get_mut(run_id)?;
        let status = &mut entry.status;
        status.stage = None;
        status.cancel_requested = false;
        match ended {
            Ok(manifest) => {
                status.state = manifest.state;
                status.error = manifest.error.clone();
                if entry.cancel.is_cancelled() && manifest.state == RunState::Cancelled {
                    status.error = Some(if self.stopping.is_cancelled() {
                        "cancelled: the API process was stopped".into()
                    } else {
                        "cancelled on request".into()
                    });
                }
                self.metrics.ended(&manifest);
                status.manifest = Some(manifest);
            }
            Err(error) => {
                status.state = RunState::Failed;
                status.error = Some(error);
                self.metrics.never_started(&status.plan);
            }
        }
        tracing::info!(run = %run_id, state = ?status.state, "run ended");
        let status = status.clone();
        registry.ended.push_back(run_id.to_string());
        while registry.ended.len() > KEPT_ENDED_RUNS {
            if let Some(oldest) = registry.ended.pop_front() {
                registry.entries.remove(&oldest);
                registry
                    .keys
                    .retain(|_, keyed| keyed.run_id.as_deref() != Some(oldest.as_str()));
            }
        }
        Some(status)
    }

    /// Posts run `status`, which ended, to `url` as JSON (what `GET /runs/<id>` answers), until
    /// the receiver answers 2xx or [`NOTIFY_ATTEMPTS`] were made.
    async fn notify(&self, url: &reqwest::Url, status: &RunStatus) {
        let body = match serde_json::to_vec(status) {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(run = %status.run_id, error = %e, "cannot encode the run's end");
                return;
            }
        };
        let mut why = String::new();
        for attempt in 1..=NOTIFY_ATTEMPTS {
            let posted = self
                .notifier
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("pvflow-run-id", &status.run_id)
                .body(body.clone())
                .send()
                .await;
            match posted {
                Ok(answer) if answer.status().is_success() => {
                    self.metrics.notified("delivered");
                    tracing::info!(run = %status.run_id, host = url.host_str(), "run's end notified");
                    return;
                }
                Ok(answer) => why = format!("answered {}", answer.status()),
                Err(e) => why = e.to_string(),
            }
            if attempt < NOTIFY_ATTEMPTS {
                tokio::time::sleep(std::time::Duration::from_secs(1 << (attempt - 1))).await;
            }
        }
        self.metrics.notified("failed");
        tracing::warn!(run = %status.run_id, host = url.host_str(), why, "could not notify the run's end");
    }

    fn set_stage(&self, run_id: &str, stage: &str) {
        if let Some(entry) = self.registry().entries.get_mut(run_id) {
            entry.status.stage = Some(stage.to_string());
        }
    }

    /// Run `run_id`'s status: from this process, else from the manifest under the configured
    /// dataset of its plan (a run of an earlier process, or one forgotten since).
    pub async fn status(&self, run_id: &str) -> Result<Option<RunStatus>, DataFusionError> {
        if let Some(entry) = self.registry().entries.get(run_id) {
            return Ok(Some(entry.status.clone()));
        }
        // IDs are `<plan>-<date>-<hex>`: anything else is no run, and never becomes a path.
        let Some(plan) = Plan::ALL
            .into_iter()
            .find(|p| run_id.starts_with(&format!("{}-", p.name())))
        else {
            return Ok(None);
        };
        if !run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Ok(None);
        }
        let storage = &self.config.storage;
        let root = match plan {
            Plan::Ingest => DatasetRoot::parse("silver", &storage.silver),
            Plan::Predict => DatasetRoot::parse("gold", &storage.gold),
        }
        .map_err(|e| DataFusionError::Configuration(e.to_string()))?;
        let ctx = self.sessions.session().await?;
        let manifest = pvflow_runner::read_manifest(&ctx.runtime_env(), &root, run_id).await?;
        Ok(manifest.map(RunStatus::from_manifest))
    }

    /// The last `limit` runs whose manifests are under the configured silver's and gold's
    /// `_runs/` (whoever ran them: this process, another, the CronJob, `pvflow run`), newest
    /// first, with their manifests.
    pub async fn recorded(&self, limit: usize) -> Result<Vec<RunStatus>, DataFusionError> {
        use futures::TryStreamExt;
        let storage = &self.config.storage;
        let ctx = self.sessions.session().await?;
        let runtime = ctx.runtime_env();
        let mut found = Vec::new();
        for (name, url) in [("silver", &storage.silver), ("gold", &storage.gold)] {
            let root = DatasetRoot::parse(name, url)
                .map_err(|e| DataFusionError::Configuration(e.to_string()))?;
            let (store, path) = pvflow_dataset::open_root(&runtime, root.url())?;
            let runs = path.clone().join(pvflow_dataset::layout::RUNS_DIR);
            let listed: Vec<object_store::ObjectMeta> =
                match store.list(Some(&runs)).try_collect().await {
                    Ok(listed) => listed,
                    Err(object_store::Error::NotFound { .. }) => Vec::new(),
                    Err(e) => return Err(DataFusionError::ObjectStore(Box::new(e))),
                };
            for meta in listed {
                if let Some(run_id) = meta
                    .location
                    .filename()
                    .and_then(|f| f.strip_suffix(".json"))
                {
                    found.push((meta.last_modified, root.clone(), run_id.to_string()));
                }
            }
        }
        found.sort_by_key(|(modified, ..)| std::cmp::Reverse(*modified));
        let mut runs = Vec::new();
        for (_, root, run_id) in found.into_iter().take(limit) {
            if let Some(manifest) = pvflow_runner::read_manifest(&runtime, &root, &run_id).await? {
                runs.push(RunStatus::from_manifest(manifest));
            }
        }
        Ok(runs)
    }

    /// The runs this process knows, newest first, without their manifests.
    pub fn list(&self) -> Vec<RunStatus> {
        let mut runs: Vec<RunStatus> = self
            .registry()
            .entries
            .values()
            .map(|e| RunStatus {
                manifest: None,
                ..e.status.clone()
            })
            .collect();
        runs.sort_by(|a, b| b.submitted_at.cmp(&a.submitted_at));
        runs
    }

    /// Asks run `run_id` to stop: its cluster jobs are cancelled and its staging removed, as for
    /// a stopped `pvflow run`; the previous output stays as it was.
    pub fn cancel(&self, run_id: &str) -> Result<RunStatus, CancelError> {
        let mut registry = self.registry();
        let entry = registry
            .entries
            .get_mut(run_id)
            .ok_or_else(|| CancelError::Unknown(run_id.to_string()))?;
        if entry.status.ended() {
            return Err(CancelError::Ended(Box::new(entry.status.clone())));
        }
        tracing::info!(run = %run_id, "cancel requested");
        entry.cancel.cancel();
        entry.status.cancel_requested = true;
        Ok(entry.status.clone())
    }

    /// Cancels every running run and waits until each has ended and written its manifest.
    pub async fn shutdown(&self) {
        self.stopping.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// The API's metrics in Prometheus' text format.
    pub fn metrics_text(&self) -> String {
        self.metrics.text()
    }
}

/// Keeps a run's status at the stage it is in.
struct StageReporter {
    service: Arc<RunService>,
    run_id: String,
}

impl Progress for StageReporter {
    fn stage(&self, _plan: Plan, stage: &str) {
        self.service.set_stage(&self.run_id, stage);
    }
}
