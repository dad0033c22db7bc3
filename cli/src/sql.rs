//! `pvflow sql`: SQL in an embedded session with every pvflow function registered.

use crate::Failure;
use crate::output::{Format, ResultSink};
use anyhow::Context;
use clap::Args;
use datafusion::sql::parser::DFParser;
use futures::StreamExt;
use pvflow_session::PvflowConfig;
use std::path::PathBuf;

pub const AFTER_HELP: &str = "\
Statements are separated by `;` and run in order in one session, so a file can create tables
and then query them. Every statement's result is shown; with --output only the last statement's
result is written (to a temporary file renamed into place when complete), the others run for
their effects.

Tables: silver, gold and quarantine are the configured datasets ([storage] silver and gold,
PVFLOW_STORAGE_*), read through their Delta logs as of the query, with `date` a DATE column; a
table created with the same name hides one.

Examples:
  pvflow sql \"SELECT fault_label, count(*) FROM gold WHERE date = DATE '2026-06-01' GROUP BY 1\"
  pvflow sql \"SELECT cwt_morlet([0.0, 1.0, 0.0, -1.0], 4)\"
  pvflow sql -f examples/scalograms.sql
  pvflow sql --format parquet --output windows.parquet \"SELECT * FROM 'readings.parquet'\"
  pvflow sql --scheduler df://127.0.0.1:50050 -f query.sql

Functions: `SHOW FUNCTIONS LIKE 'pv%'`, or docs/udfs.md for cwt_morlet and pv_scalogram.";

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// SQL to run: one statement, or several separated by `;`
    #[arg(
        value_name = "QUERY",
        required_unless_present = "file",
        conflicts_with = "file"
    )]
    pub query: Option<String>,

    /// Read the SQL from this file instead
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Result format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Write the last statement's result to this file instead of standard output
    /// (required with --format parquet)
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Rows shown per result in table format (0 shows all)
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub max_rows: usize,

    /// Run on a pvflow cluster (df://HOST:PORT of a pvflow-scheduler) instead of in this process
    #[arg(long, value_name = "URL")]
    pub scheduler: Option<String>,
}

pub async fn run(config: &PvflowConfig, args: SqlArgs) -> Result<(), Failure> {
    if args.format == Format::Parquet && args.output.is_none() {
        return Err(Failure::usage(anyhow::anyhow!(
            "--format parquet writes a file: add --output PATH"
        )));
    }
    let text = match (&args.query, &args.file) {
        (Some(q), _) => q.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read SQL file {}", f.display()))
            .map_err(Failure::io)?,
        (None, None) => unreachable!("clap requires QUERY or --file"),
    };
    let ctx = match &args.scheduler {
        None => pvflow_session::session_context(config).map_err(Failure::usage)?,
        Some(url) => crate::remote::connect(config, url).await?,
    };
    let statements = DFParser::parse_sql(&text).map_err(Failure::query)?;
    if statements.is_empty() {
        return Err(Failure::usage(anyhow::anyhow!("no SQL statement given")));
    }

    let count = statements.len();
    for (i, statement) in statements.into_iter().enumerate() {
        let last = i + 1 == count;
        let context = || format!("statement {} of {count}", i + 1);
        let plan = ctx
            .state()
            .statement_to_plan(statement)
            .await
            .with_context(context)
            .map_err(Failure::query)?;
        let frame = ctx
            .execute_logical_plan(plan)
            .await
            .with_context(context)
            .map_err(Failure::query)?;
        let writes_output = args.output.is_some() && last;
        if args.output.is_some() && !last {
            frame
                .collect()
                .await
                .with_context(context)
                .map_err(Failure::query)?;
            continue;
        }
        // DDL and SET have nothing to show.
        if frame.schema().fields().is_empty() {
            frame
                .collect()
                .await
                .with_context(context)
                .map_err(Failure::query)?;
            continue;
        }
        let schema = frame.schema().inner().clone();
        let mut sink = match (&args.output, writes_output) {
            (Some(path), true) => ResultSink::file(args.format, path, schema, args.max_rows),
            _ => ResultSink::stdout(args.format, schema, args.max_rows),
        }?;
        let mut stream = frame
            .execute_stream()
            .await
            .with_context(context)
            .map_err(Failure::query)?;
        while let Some(batch) = stream.next().await {
            let batch = batch.with_context(context).map_err(Failure::query)?;
            sink.write(&batch)?;
        }
        sink.finish()?;
    }
    Ok(())
}
