//! Sessions whose queries run on a pvflow cluster (a `pvflow-scheduler` and its executors).

use crate::Failure;
use anyhow::Context;
use ballista::extension::SessionContextExt;
use ballista_core::config::BALLISTA_CLIENT_PULL;
use datafusion::prelude::SessionContext;
use pvflow_runner::ClusterScheduler;
use pvflow_session::DistributedParts;
use pvflow_session::PvflowConfig;
use std::sync::Arc;

/// A session that plans locally (DDL, Kafka tables) and runs every query on the scheduler at
/// `url` (`df://host:port`). The cluster is first contacted by the first query.
pub async fn connect(pvflow: &PvflowConfig, url: &str) -> Result<SessionContext, Failure> {
    let parts = DistributedParts::new(pvflow).map_err(Failure::usage)?;
    // Where a stopped `pvflow run` cancels its jobs. It needs each query's job ID while the job
    // runs: Ballista's pull mode has it on submission, its push mode only with the first status
    // update, which may come when the first stage ends.
    let mut config = parts
        .session_config()
        .with_extension(Arc::new(ClusterScheduler::from_client_url(url)));
    match pvflow.cluster.partitions {
        Some(0) => {
            return Err(Failure::usage(anyhow::anyhow!(
                "[cluster] partitions (PVFLOW_CLUSTER_PARTITIONS) must be at least 1"
            )));
        }
        Some(partitions) => config = config.with_target_partitions(partitions),
        None => {}
    }
    config
        .options_mut()
        .set(BALLISTA_CLIENT_PULL, "true")
        .map_err(Failure::query)?;
    let state = parts.client_state(config).map_err(Failure::query)?;
    let ctx = SessionContext::remote_with_state(url, state)
        .await
        .with_context(|| format!("--scheduler {url} is not a scheduler URL (df://HOST:PORT)"))
        .map_err(Failure::usage)?;
    parts.client_context(ctx).map_err(Failure::query)
}
