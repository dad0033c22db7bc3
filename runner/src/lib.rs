//! Runs pvflow's plans: the SQL in `plans/` with typed parameters bound (never spliced), the
//! output written in parallel to staging and committed at once, and a run manifest beside it.
//!
//! - [`Plan::Ingest`]: one day of readings from Kafka -> windows (four 64-slot series each) ->
//!   silver, and, from the same scan, the day's malformed messages -> `silver/_quarantine/`
//!   (`plans/ingest.sql`).
//! - [`Plan::Predict`]: that day's silver -> scalograms -> `pv_fault_classify` -> gold
//!   (`plans/predict.sql`), and its fault episodes -> `fault_events`.
//!
//! The same code runs a plan in-process or on a Ballista cluster: it only needs a
//! [`SessionContext`](datafusion::prelude::SessionContext) with pvflow's functions, tables and
//! planner. docs/plan-runs.md describes runs as operators see them.
//!
//! # Example: a day's parameters, checked before anything runs
//!
//! ```
//! use pvflow_runner::{Plan, Readings, RunParams, parse_date};
//!
//! let date = parse_date("2026-06-01")?;
//! let readings = Readings::Kafka(pvflow_kafka::KafkaTableConfig::new("127.0.0.1:9092", "pv.readings"));
//! let dir = std::env::temp_dir().join("pvflow-runner-doc");
//! let silver = dir.join("silver");
//! let params = RunParams::new(Plan::Ingest, date, readings.clone(), silver.to_str().unwrap(), silver.to_str().unwrap());
//! // Each error names the parameter.
//! assert_eq!(params.unwrap_err().name, "gold");
//!
//! // The day's readings: windows that start on that day, on the 1280 s grid.
//! let gold = dir.join("gold");
//! let params = RunParams::new(Plan::Ingest, date, readings, silver.to_str().unwrap(), gold.to_str().unwrap())?;
//! let range = params.range();
//! assert_eq!(range.start, Some(1_780_272_640_000));
//! assert_eq!((range.end.unwrap() - range.start.unwrap()) / 1_280_000, 67);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cluster;
mod fault_events;
mod freshness;
mod ingest;
mod manifest;
mod params;
mod predict;
mod run;
mod staged;
#[cfg(test)]
mod tests;

pub use cluster::ClusterScheduler;
pub use fault_events::fault_events_schema;
pub use freshness::{DayFreshness, FreshnessError, day_freshness};
pub use manifest::{
    ClusterJob, KafkaConsumed, Output, PartitionOffsets, RunCounts, RunManifest, RunState,
    StageTiming, read_manifest,
};
pub use params::{DatasetRoot, ParamError, Readings, RunParams, day_range};
pub use pvflow_dataset::layout::{DATE_COLUMN, parse_date};
pub use run::{new_run_id, run};
pub use staged::register_parquet_files;

/// A plan pvflow runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Ingest,
    Predict,
}

impl Plan {
    pub const ALL: [Plan; 2] = [Plan::Ingest, Plan::Predict];

    /// The plan called `name` (`ingest`, `predict`).
    pub fn from_name(name: &str) -> Option<Plan> {
        Plan::ALL.into_iter().find(|p| p.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Plan::Ingest => "ingest",
            Plan::Predict => "predict",
        }
    }

    /// The plan's SQL, as in `plans/`.
    pub fn sql(self) -> &'static str {
        match self {
            Plan::Ingest => include_str!("../../plans/ingest.sql"),
            Plan::Predict => include_str!("../../plans/predict.sql"),
        }
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Receives a run's progress: each stage as it starts.
pub trait Progress: Send + Sync {
    fn stage(&self, plan: Plan, stage: &str);
}

/// Progress nobody watches.
pub struct NoProgress;

impl Progress for NoProgress {
    fn stage(&self, _plan: Plan, _stage: &str) {}
}
