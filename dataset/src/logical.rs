//! The logical staged write: a client builds it over a query's plan, so the write is planned
//! (and runs) wherever the query does, embedded or on a Ballista cluster.

use crate::{StagedTarget, written_files_schema};
use datafusion::common::{DFSchema, DFSchemaRef, Result, plan_err};
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use std::fmt;
use std::sync::{Arc, LazyLock};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct StagedWrite {
    pub input: LogicalPlan,
    pub target: StagedTarget,
}

impl StagedWrite {
    /// `input` written to `target`, as a plan whose rows are the files written.
    pub fn plan(input: LogicalPlan, target: StagedTarget) -> Result<LogicalPlan> {
        if input
            .schema()
            .index_of_column_by_name(None, &target.partition_column)
            .is_none()
        {
            return plan_err!(
                "the output has no partition column {}",
                target.partition_column
            );
        }
        Ok(LogicalPlan::Extension(Extension {
            node: Arc::new(StagedWrite { input, target }),
        }))
    }
}

fn schema() -> DFSchemaRef {
    static SCHEMA: LazyLock<DFSchemaRef> = LazyLock::new(|| {
        Arc::new(
            DFSchema::try_from(written_files_schema().as_ref().clone())
                .expect("a plain schema converts"),
        )
    });
    Arc::clone(&SCHEMA)
}

impl UserDefinedLogicalNodeCore for StagedWrite {
    fn name(&self) -> &str {
        "StagedWrite"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        static HOLDER: LazyLock<DFSchemaRef> = LazyLock::new(schema);
        &HOLDER
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "StagedWrite: root={}, run={}, partition_by={}",
            self.target.root, self.target.run_id, self.target.partition_column
        )
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let Some(input) = inputs.pop() else {
            return plan_err!("StagedWrite has one input");
        };
        Ok(StagedWrite {
            input,
            target: self.target.clone(),
        })
    }
}
