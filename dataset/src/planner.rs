//! Physical planning of [`StagedWrite`]: DataFusion's planner plus this one extension.

use crate::{StagedParquetWriteExec, StagedWrite};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::Result;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{LogicalPlan, UserDefinedLogicalNode};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct StagedWritePlanner;

#[async_trait]
impl ExtensionPlanner for StagedWritePlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(write) = node.as_any().downcast_ref::<StagedWrite>() else {
            return Ok(None);
        };
        let [input] = physical_inputs else {
            return Ok(None);
        };
        Ok(Some(Arc::new(StagedParquetWriteExec::try_new(
            Arc::clone(input),
            write.target.clone(),
        )?)))
    }
}

/// DataFusion's query planner that also plans [`StagedWrite`]s: what every pvflow session that
/// plans physically (embedded, the scheduler) uses.
#[derive(Debug, Default)]
pub struct StagedWriteQueryPlanner;

#[async_trait]
impl QueryPlanner for StagedWriteQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(StagedWritePlanner)])
            .create_physical_plan(logical_plan, session)
            .await
    }
}
