//! The record of a run, written as `_runs/<run_id>.json` under the dataset it wrote
//! (silver for ingest, gold for predict), and read back by the run API.

use crate::params::DatasetRoot;
use datafusion::common::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::ObjectStoreExt;
use pvflow_dataset::{WrittenFile, layout, open_root, path_under};
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
    /// Rows and windows in and out.
    pub counts: RunCounts,
    pub outputs: Vec<Output>,
    /// The jobs of the run's queries on a cluster, in order (none in-process).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_jobs: Vec<ClusterJob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a run read and wrote, counted as it went. A count is absent where the run's plan or
/// readings do not have it (Kafka messages in a Parquet ingest, windows scored in an ingest), or
/// where the run stopped before it. Every message a Kafka ingest read is a windowed reading, a
/// quarantined message or out of the run's range:
/// `messages_read = readings_windowed + messages_quarantined + messages_out_of_range`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunCounts {
    /// Ingest from Kafka: the messages at the run's offsets (the manifest's `kafka`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages_read: Option<i64>,
    /// Ingest from Parquet: the readings in the run's range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readings_read: Option<i64>,
    /// Ingest: readings placed in silver's windows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readings_windowed: Option<i64>,
    /// Ingest from Kafka: readings of the range stored past the offset where its end falls by
    /// time, behind newer readings (read thanks to `[kafka] lateness_ms`; they are also among
    /// `readings_windowed`): how late the topic runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readings_late: Option<i64>,
    /// Ingest from Kafka: messages that are not valid readings, kept in the quarantine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages_quarantined: Option<i64>,
    /// Ingest from Kafka: messages in the range by their Kafka timestamp whose reading time is
    /// outside it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages_out_of_range: Option<i64>,
    /// Ingest: silver's windows written; predict: silver's windows read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows: Option<i64>,
    /// Predict: gold's rows, one per window with a scalogram.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows_scored: Option<i64>,
    /// Predict: silver's windows without a diagnosis (too few valid readings for a scalogram).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows_unscored: Option<i64>,
    /// Predict: fault episodes that closed during the day (`fault_events`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub episodes_closed: Option<i64>,
    /// Predict: fault episodes still open at the day's end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub episodes_open: Option<i64>,
}

impl RunCounts {
    /// The counts the run has, by their manifest names, in a fixed order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, i64)> {
        [
            ("messages_read", self.messages_read),
            ("readings_read", self.readings_read),
            ("readings_windowed", self.readings_windowed),
            ("readings_late", self.readings_late),
            ("messages_quarantined", self.messages_quarantined),
            ("messages_out_of_range", self.messages_out_of_range),
            ("windows", self.windows),
            ("windows_scored", self.windows_scored),
            ("windows_unscored", self.windows_unscored),
            ("episodes_closed", self.episodes_closed),
            ("episodes_open", self.episodes_open),
        ]
        .into_iter()
        .filter_map(|(name, count)| count.map(|c| (name, c)))
    }
}

impl RunManifest {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// The manifest run `run_id` wrote under `root` when it ended, if there is one.
pub async fn read_manifest(
    runtime: &RuntimeEnv,
    root: &DatasetRoot,
    run_id: &str,
) -> Result<Option<RunManifest>, DataFusionError> {
    let (store, dataset) = open_root(runtime, root.url())?;
    let location = path_under(&dataset, &layout::manifest_path(run_id));
    let bytes = match store.get(&location).await {
        Ok(found) => found.bytes().await,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => Err(e),
    }
    .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        DataFusionError::Execution(format!("run manifest {location} is not readable: {e}"))
    })
}

/// Writes `_runs/<run_id>.json` under the dataset root; on failure the manifest is only logged
/// (the run's outcome stands).
pub(crate) async fn write_manifest(
    runtime: &RuntimeEnv,
    root: &DatasetRoot,
    manifest: &RunManifest,
) {
    let location = layout::manifest_path(&manifest.run_id);
    let written = async {
        let (store, dataset) = open_root(runtime, root.url())?;
        store
            .put(&path_under(&dataset, &location), manifest.to_json().into())
            .await
            .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
        Ok::<_, DataFusionError>(())
    };
    if let Err(e) = written.await {
        tracing::warn!(root = %root.url(), manifest = %location, error = %e, "could not write the run manifest");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_written_flat_by_name_and_absent_ones_are_left_out() {
        let counts = RunCounts {
            messages_read: Some(10),
            readings_windowed: Some(8),
            messages_quarantined: Some(2),
            messages_out_of_range: Some(0),
            ..RunCounts::default()
        };
        let json = serde_json::to_value(&counts).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({
                "messages_read": 10,
                "readings_windowed": 8,
                "messages_quarantined": 2,
                "messages_out_of_range": 0,
            })
        );
        let back: RunCounts = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, counts);
        assert_eq!(
            counts.iter().collect::<Vec<_>>(),
            [
                ("messages_read", 10),
                ("readings_windowed", 8),
                ("messages_quarantined", 2),
                ("messages_out_of_range", 0)
            ]
        );
    }
}
