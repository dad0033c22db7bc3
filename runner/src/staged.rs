//! A run's output between its query and its commit: written in parallel to staging, checked,
//! then published through each dataset's log.

use crate::manifest::Output;
use crate::params::DatasetRoot;
use crate::run::{Result, RunError, Stages};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::DataFusionError;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::file_format::options::ReadOptions;
use datafusion::datasource::listing::{ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use pvflow_dataset::layout::DATE_COLUMN;
use pvflow_dataset::{
    StagedTarget, StagedWrite, commit, open_root, staged_parquet_files, written_files,
};
use std::sync::Arc;

/// A dataset's output, written to staging and not yet visible.
pub(crate) struct Staged {
    target: StagedTarget,
    /// The output's columns, partition column included: what the dataset's log records.
    schema: SchemaRef,
    /// The files at their staging paths.
    pub(crate) output: Output,
}

impl Staged {
    /// The rows of every file written, as the tasks reported them.
    pub(crate) fn rows(&self) -> i64 {
        self.output.files.iter().map(|f| f.rows).sum()
    }
}

/// Where this run stages `root`'s output, registered so that the staging goes when the run
/// ends ([`crate::run::InFlight`]).
pub(crate) fn staging_target(stages: &Stages<'_>, root: &DatasetRoot) -> StagedTarget {
    let target = StagedTarget {
        root: root.url().into(),
        run_id: stages.run_id().into(),
        partition_column: DATE_COLUMN.into(),
    };
    stages.in_flight.stage(&target);
    target
}

/// What the run put in `target`'s staging for `date` beside any staged write (a side output:
/// files written there directly), as `dataset`'s day with the columns `schema` (the partition
/// column included): the files with their rows and NULLs from their footers.
pub(crate) async fn side_output(
    ctx: &SessionContext,
    target: StagedTarget,
    dataset: &str,
    schema: SchemaRef,
    date: &str,
) -> Result<Staged> {
    let (store, _) = open_root(&ctx.runtime_env(), &target.root)?;
    let files = staged_parquet_files(&store, &target, date).await?;
    let output = Output {
        dataset: dataset.into(),
        root: target.root.clone(),
        partitions: vec![date.to_string()],
        files,
    };
    Ok(Staged {
        target,
        schema,
        output,
    })
}

/// Writes `df` to staging under `root` in parallel, as `dataset`'s rows of `date`. The staging
/// directory goes when the run ends ([`crate::run::InFlight`]); [`publish`] makes the files
/// visible before that.
pub(crate) async fn write_staged(
    ctx: &SessionContext,
    stages: &Stages<'_>,
    df: DataFrame,
    root: &DatasetRoot,
    dataset: &'static str,
    date: &str,
) -> Result<Staged> {
    let target = staging_target(stages, root);
    let schema = Arc::clone(df.schema().inner());
    let plan = StagedWrite::plan(df.into_unoptimized_plan(), target.clone())?;
    let batches = stages
        .in_flight
        .collect(ctx.execute_logical_plan(plan).await?)
        .await?;
    let files = written_files(&batches)?;
    if let Some(stray) = files.iter().find(|f| f.partition != date) {
        return Err(RunError::StrayPartition {
            dataset,
            found: stray.partition.clone(),
            date: date.into(),
        });
    }
    Ok(Staged {
        target,
        schema,
        output: Output {
            dataset: dataset.into(),
            root: root.url().into(),
            partitions: vec![date.to_string()],
            files,
        },
    })
}

/// Commits each staged dataset's day, in order, and returns the outputs at their final paths.
/// Each dataset's commit is one log entry; between two datasets' entries lie only their moves.
pub(crate) async fn publish(ctx: &SessionContext, staged: Vec<Staged>) -> Result<Vec<Output>> {
    let mut outputs = Vec::with_capacity(staged.len());
    for s in staged {
        let (store, _) = open_root(&ctx.runtime_env(), &s.target.root)?;
        let files = commit(
            &store,
            &s.target,
            &s.schema,
            &s.output.files,
            &s.output.partitions,
        )
        .await?;
        outputs.push(Output { files, ..s.output });
    }
    Ok(outputs)
}

/// Registers (or replaces) table `name` as exactly the Parquet files `urls`, as a log lists a
/// dataset's files: unlike a directory, no file beside them is read.
pub async fn register_parquet_files(
    ctx: &SessionContext,
    name: &str,
    urls: Vec<String>,
) -> std::result::Result<(), DataFusionError> {
    let urls = urls
        .iter()
        .map(ListingTableUrl::parse)
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let options = ParquetReadOptions::default()
        .to_listing_options(&ctx.copied_config(), ctx.copied_table_options());
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .infer_schema(&ctx.state())
        .await?;
    replace_table(ctx, name, Arc::new(ListingTable::try_new(config)?))
}

/// Registers `table` as `name`, replacing a table of that name.
pub(crate) fn replace_table(
    ctx: &SessionContext,
    name: &str,
    table: Arc<dyn TableProvider>,
) -> std::result::Result<(), DataFusionError> {
    ctx.deregister_table(name)?;
    ctx.register_table(name, table)?;
    Ok(())
}
