//! The record of a run, written as `_runs/<run_id>.json` under each dataset it wrote.

use pvflow_dataset::WrittenFile;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Running,
    Succeeded,
    Failed,
    /// Stopped by a signal before it finished; like a failed run, it left no output.
    Cancelled,
}

impl RunState {
    /// The state as manifests and the API spell it.
    pub fn name(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }
}

/// Offsets one Kafka partition's read covered (end exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionOffsets {
    pub partition: i32,
    pub start_offset: i64,
    pub end_offset: i64,
    pub messages: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KafkaConsumed {
    pub brokers: String,
    pub topic: String,
    /// The reading-time range read, `[start, end)`.
    pub range_start: String,
    pub range_end: String,
    pub partitions: Vec<PartitionOffsets>,
    pub messages: i64,
}

/// A query the run sent to a Ballista cluster, as the scheduler knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterJob {
    pub job_id: String,
    /// Whether the query ended (succeeded or failed) before the run did; a stopped run cancels
    /// its unfinished jobs.
    pub finished: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageTiming {
    pub stage: String,
    pub seconds: f64,
}

/// The files a run committed to one dataset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Output {
    pub dataset: String,
    pub root: String,
    pub partitions: Vec<String>,
    pub files: Vec<WrittenFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunManifest {
    pub run_id: String,
    pub plan: String,
    pub parameters: BTreeMap<String, String>,
    pub state: RunState,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub seconds: f64,
    pub stages: Vec<StageTiming>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka: Option<KafkaConsumed>,
    /// Rows and windows in and out, by name (`messages_read`, `readings_windowed`,
    /// `messages_quarantined`, `windows`, `windows_imaged`, `windows_scored`, ...).
    pub counts: BTreeMap<String, i64>,
    pub outputs: Vec<Output>,
    /// The jobs of the run's queries on a cluster, in order (none in-process).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_jobs: Vec<ClusterJob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RunManifest {
    pub fn succeeded(&self) -> bool {
        self.state == RunState::Succeeded
    }

    pub fn count(&self, name: &str) -> i64 {
        self.counts.get(name).copied().unwrap_or(0)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}
