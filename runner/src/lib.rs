//! Runs pvflow's plans: the SQL in `plans/` with typed parameters bound (never spliced), the
//! output written in parallel to staging and committed at once, and a run manifest beside it.
//!
//! - [`Plan::Ingest`]: one day of readings from Kafka -> windows -> scalograms -> silver (and
//!   the day's malformed messages -> `silver/_quarantine/`).
//! - [`Plan::Predict`]: that day's silver -> `pv_fault_classify` -> gold.
//!
//! The same code runs a plan in-process or on a Ballista cluster: it only needs a
//! [`SessionContext`] with pvflow's functions, tables and planner.

mod cluster;
pub mod manifest;
pub mod params;
mod run;

pub use cluster::ClusterScheduler;
pub use manifest::{ClusterJob, RunManifest, RunState};
pub use params::{DatasetRoot, ParamError, Readings, RunParams, day_range};
pub use run::{new_run_id, read_manifest, register_parquet_files, run};

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
