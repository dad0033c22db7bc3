//! Sessions whose queries run on a pvflow cluster (a `pvflow-scheduler` and its executors).

use crate::Failure;
use anyhow::Context;
use ballista::extension::SessionContextExt;
use datafusion::prelude::SessionContext;
use pvflow_session::config::PvflowConfig;
use pvflow_session::distributed::DistributedParts;

/// A session that plans locally (DDL, Kafka tables) and runs every query on the scheduler at
/// `url` (`df://host:port`). The cluster is first contacted by the first query.
pub async fn connect(config: &PvflowConfig, url: &str) -> Result<SessionContext, Failure> {
    let parts = DistributedParts::new(config).map_err(Failure::usage)?;
    let state = parts
        .session_state(parts.session_config())
        .map_err(Failure::query)?;
    let ctx = SessionContext::remote_with_state(url, state)
        .await
        .with_context(|| format!("--scheduler {url} is not a scheduler URL (df://HOST:PORT)"))
        .map_err(Failure::usage)?;
    parts.register_functions(&ctx);
    Ok(ctx.enable_url_table())
}
