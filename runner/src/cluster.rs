//! A run's queries as jobs of a Ballista cluster: their job IDs for the manifest, and the
//! cancellation of those still running when a run is stopped (dropping a Ballista client's
//! query does not stop its job).

use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{CancelJobParams, GetJobStatusParams, job_status};
use ballista_core::utils::{GrpcClientConfig, create_grpc_client_connection};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::protobuf::LogicalPlanNode;
use std::sync::Arc;
use std::time::Duration;

/// Set on a session whose queries run on a Ballista cluster (with
/// [`SessionConfig::with_extension`](datafusion::prelude::SessionConfig::with_extension)): the
/// scheduler's gRPC URL, `http://HOST:PORT`, where a stopped run cancels its jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterScheduler(pub String);

impl ClusterScheduler {
    /// From a client's `df://HOST:PORT`.
    pub fn from_client_url(url: &str) -> ClusterScheduler {
        let address = url.strip_prefix("df://").unwrap_or(url);
        ClusterScheduler(format!("http://{address}"))
    }
}

/// The cluster job a physical plan became, once the scheduler accepted it.
pub(crate) fn job_id(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    plan.downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()?
        .job_id()
        .map(|id| id.to_string())
}

/// A gRPC client of the scheduler.
async fn scheduler_client(
    scheduler: &ClusterScheduler,
) -> Result<SchedulerGrpcClient<tonic::transport::Channel>, String> {
    let channel = create_grpc_client_connection(scheduler.0.clone(), &GrpcClientConfig::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(SchedulerGrpcClient::new(channel))
}

/// What the scheduler says of `job_id`: `None` when it knows no such job.
async fn job_status(
    client: &mut SchedulerGrpcClient<tonic::transport::Channel>,
    job_id: &str,
) -> Result<Option<job_status::Status>, String> {
    Ok(client
        .get_job_status(GetJobStatusParams {
            job_id: job_id.to_string(),
        })
        .await
        .map_err(|e| format!("job {job_id}: {e}"))?
        .into_inner()
        .status
        .and_then(|s| s.status))
}

/// How long a stopping run waits for the scheduler: orchestrators give a stopping pod seconds.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);

/// After the scheduler has ended a job, executors stop its tasks asynchronously (the scheduler
/// sends them the cancellation in the background); a task stops at its next await.
const TASKS_STOP_GRACE: Duration = Duration::from_millis(500);

/// Asks the scheduler to cancel `jobs` and waits until it reports them ended, so that their
/// tasks stop writing before the run removes its staging. Failures are logged: the run stops
/// anyway.
pub(crate) async fn cancel(scheduler: &ClusterScheduler, jobs: &[&str]) {
    let cancelled = async {
        let mut client = scheduler_client(scheduler).await?;
        for job_id in jobs {
            client
                .cancel_job(CancelJobParams {
                    job_id: job_id.to_string(),
                })
                .await
                .map_err(|e| format!("job {job_id}: {e}"))?;
        }
        for job_id in jobs {
            loop {
                let status = job_status(&mut client, job_id).await?;
                // A cancelled job's graph is dropped: no status at all means it ended too.
                if !matches!(
                    status,
                    Some(job_status::Status::Queued(_) | job_status::Status::Running(_))
                ) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tracing::info!(job = job_id, "cluster job cancelled");
        }
        tokio::time::sleep(TASKS_STOP_GRACE).await;
        Ok::<(), String>(())
    };
    match tokio::time::timeout(CANCEL_TIMEOUT, cancelled).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not cancel the run's cluster jobs"),
        Err(_) => tracing::warn!(?jobs, "the scheduler did not end the run's jobs in time"),
    }
}

/// How often a run asks the scheduler about its unfinished jobs.
const LOST_JOB_POLL: Duration = Duration::from_secs(2);

/// Resolves with the ID of one of `unfinished()`'s jobs that the scheduler no longer knows,
/// twice in a row: it restarted and lost its jobs, and the Ballista client would wait for that
/// job forever. Never resolves otherwise; an unreachable scheduler only means asking again.
pub(crate) async fn lost_job(
    scheduler: &ClusterScheduler,
    unfinished: impl Fn() -> Vec<String>,
) -> String {
    let mut unknown_before: Vec<String> = Vec::new();
    loop {
        tokio::time::sleep(LOST_JOB_POLL).await;
        let jobs = unfinished();
        if jobs.is_empty() {
            continue;
        }
        let Ok(mut client) = scheduler_client(scheduler).await else {
            continue;
        };
        let mut unknown = Vec::new();
        for job_id in jobs {
            if let Ok(None) = job_status(&mut client, &job_id).await {
                if unknown_before.contains(&job_id) {
                    return job_id;
                }
                unknown.push(job_id);
            }
        }
        unknown_before = unknown;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_urls_become_grpc_urls() {
        assert_eq!(
            ClusterScheduler::from_client_url("df://scheduler:50050").0,
            "http://scheduler:50050"
        );
    }
}
