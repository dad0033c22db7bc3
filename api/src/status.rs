//! What the API answers: a run's status, and the body of a refusal.

use pvflow_runner::{Plan, RunManifest, RunState};
use serde::{Deserialize, Serialize};

/// A run as the API knows it: while it runs, its stage; once it ended, its manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunStatus {
    pub run_id: String,
    pub plan: String,
    pub date: String,
    /// `running`, then `succeeded`, `failed` or `cancelled`.
    pub state: RunState,
    pub submitted_at: String,
    /// The stage under way, while the run runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Someone asked for the run to stop (`DELETE /runs/<id>`) and it has not ended yet.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel_requested: bool,
    /// Why the run failed or was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The run's manifest once it ended (left out of listings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<RunManifest>,
}

impl RunStatus {
    pub fn ended(&self) -> bool {
        self.state != RunState::Running
    }

    /// The status of a run that ended, from its manifest (as stored under its dataset).
    pub fn from_manifest(manifest: RunManifest) -> RunStatus {
        RunStatus {
            run_id: manifest.run_id.clone(),
            plan: manifest.plan.clone(),
            date: manifest.parameters.get("date").cloned().unwrap_or_default(),
            state: manifest.state,
            submitted_at: manifest.started_at.clone(),
            stage: None,
            cancel_requested: false,
            error: manifest.error.clone(),
            manifest: Some(manifest),
        }
    }
}

/// What `POST /runs` answers a request with `if_late` whose day is up to date (200): no run
/// started, the day's last ingest read every reading of it the topic holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpToDate {
    pub plan: String,
    pub date: String,
    /// Always `up_to_date`.
    pub state: String,
    /// The day's committed ingest.
    pub last_run_id: String,
}

impl UpToDate {
    pub fn new(plan: Plan, date: String, last_run_id: String) -> UpToDate {
        UpToDate {
            plan: plan.name().into(),
            date,
            state: "up_to_date".into(),
            last_run_id,
        }
    }
}

/// The sentence `pvflow run` and `pvflow runs` print.
impl std::fmt::Display for UpToDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} is up to date: the topic holds no reading of the day that run {} did not \
             read",
            self.plan, self.date, self.last_run_id
        )
    }
}

/// What a submission did: started a run, found its day up to date (`if_late`), or found the
/// run an earlier request with the same `Idempotency-Key` started.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Submitted {
    Started(Box<RunStatus>),
    UpToDate(UpToDate),
    /// Answered 200 with the run; read back as [`Submitted::Started`], which has its shape.
    Replayed(Box<RunStatus>),
}

/// The body of every answer that is not a run: what went wrong, and where it applies, which
/// parameter or which run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    /// The invalid parameter, when a request was refused for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// The run in the way (a conflict) or concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunStatus>,
}
