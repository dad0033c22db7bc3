//! Writing query results: a table for people, CSV / NDJSON / Parquet for programs.

use crate::Failure;
use anyhow::{Context, anyhow};
use clap::ValueEnum;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::parquet::arrow::ArrowWriter;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned text table
    Table,
    /// CSV with a header row (no list columns)
    Csv,
    /// Newline-delimited JSON, one object per row
    Json,
    /// A Parquet file (needs --output)
    Parquet,
}

/// Where rows go. File outputs are written to `<path>.partial` and renamed into place only
/// when complete, so a failed query never leaves a half-written result under the real name.
pub struct ResultSink {
    writer: Option<Writer>,
    /// (partial file, final path) while a file output is unfinished.
    target: Option<(PathBuf, PathBuf)>,
}

enum Writer {
    Table {
        shown: Vec<RecordBatch>,
        kept: usize,
        total: usize,
        max_rows: usize,
        out: Box<dyn Write>,
    },
    Csv(datafusion::arrow::csv::Writer<Box<dyn Write>>),
    Json(datafusion::arrow::json::LineDelimitedWriter<Box<dyn Write>>),
    Parquet(ArrowWriter<BufWriter<File>>),
}

impl ResultSink {
    pub fn stdout(format: Format, schema: SchemaRef, max_rows: usize) -> Result<Self, Failure> {
        let out: Box<dyn Write> = Box::new(BufWriter::new(std::io::stdout()));
        let writer = Writer::new(format, schema, max_rows, out, None)?;
        Ok(ResultSink {
            writer: Some(writer),
            target: None,
        })
    }

    pub fn file(
        format: Format,
        path: &Path,
        schema: SchemaRef,
        max_rows: usize,
    ) -> Result<Self, Failure> {
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))
            .map_err(Failure::io)?;
        // From here on, dropping the sink removes the partial file.
        let mut sink = ResultSink {
            writer: None,
            target: Some((partial, path.to_owned())),
        };
        sink.writer = Some(if format == Format::Parquet {
            Writer::new(
                format,
                schema,
                max_rows,
                Box::new(std::io::sink()),
                Some(BufWriter::new(file)),
            )?
        } else {
            Writer::new(
                format,
                schema,
                max_rows,
                Box::new(BufWriter::new(file)),
                None,
            )?
        });
        Ok(sink)
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), Failure> {
        match self.writer.as_mut() {
            Some(w) => w.write(batch),
            None => Ok(()),
        }
    }

    pub fn finish(mut self) -> Result<(), Failure> {
        if let Some(writer) = self.writer.take() {
            writer.finish()?;
        }
        match self.target.take() {
            Some((partial, path)) => std::fs::rename(&partial, &path)
                .with_context(|| format!("cannot move {} to {}", partial.display(), path.display()))
                .map_err(Failure::io),
            None => Ok(()),
        }
    }
}

impl Drop for ResultSink {
    /// A sink dropped unfinished (an error mid-stream) removes its partial file.
    fn drop(&mut self) {
        if let Some((partial, _)) = self.target.take() {
            let _ = std::fs::remove_file(partial);
        }
    }
}

impl Writer {
    fn new(
        format: Format,
        schema: SchemaRef,
        max_rows: usize,
        out: Box<dyn Write>,
        parquet: Option<BufWriter<File>>,
    ) -> Result<Self, Failure> {
        Ok(match format {
            Format::Table => Writer::Table {
                shown: Vec::new(),
                kept: 0,
                total: 0,
                max_rows,
                out,
            },
            Format::Csv => {
                if let Some(f) = schema.fields().iter().find(|f| is_nested(f.data_type())) {
                    return Err(Failure::usage(anyhow!(
                        "column `{}` is a {}, which CSV cannot hold; use --format json or parquet",
                        f.name(),
                        f.data_type()
                    )));
                }
                Writer::Csv(datafusion::arrow::csv::Writer::new(out))
            }
            Format::Json => Writer::Json(datafusion::arrow::json::LineDelimitedWriter::new(out)),
            Format::Parquet => {
                let file = parquet.ok_or_else(|| {
                    Failure::usage(anyhow!("--format parquet needs --output PATH"))
                })?;
                Writer::Parquet(
                    ArrowWriter::try_new(file, schema, None)
                        .context("cannot start the Parquet writer")
                        .map_err(Failure::io)?,
                )
            }
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), Failure> {
        let io = |e: &dyn std::fmt::Display| Failure::io(anyhow!("cannot write the result: {e}"));
        match self {
            Writer::Table {
                shown,
                kept,
                total,
                max_rows,
                ..
            } => {
                *total += batch.num_rows();
                let room = if *max_rows == 0 {
                    usize::MAX
                } else {
                    *max_rows - *kept
                };
                let take = room.min(batch.num_rows());
                if take > 0 {
                    shown.push(batch.slice(0, take));
                    *kept += take;
                }
                Ok(())
            }
            Writer::Csv(w) => w.write(batch).map_err(|e| io(&e)),
            Writer::Json(w) => w.write(batch).map_err(|e| io(&e)),
            Writer::Parquet(w) => w.write(batch).map_err(|e| io(&e)),
        }
    }

    fn finish(self) -> Result<(), Failure> {
        let io = |e: &dyn std::fmt::Display| Failure::io(anyhow!("cannot write the result: {e}"));
        match self {
            Writer::Table {
                shown,
                kept,
                total,
                mut out,
                ..
            } => {
                let table = pretty_format_batches(&shown).map_err(|e| io(&e))?;
                let footer = match (kept, total) {
                    (_, 1) => "1 row".to_string(),
                    (k, t) if k == t => format!("{t} rows"),
                    (k, t) => format!("{t} rows ({k} shown; --max-rows 0 shows all)"),
                };
                writeln!(out, "{table}\n{footer}")
                    .and_then(|()| out.flush())
                    .map_err(|e| io(&e))
            }
            Writer::Csv(w) => w.into_inner().flush().map_err(|e| io(&e)),
            Writer::Json(mut w) => {
                w.finish().map_err(|e| io(&e))?;
                w.into_inner().flush().map_err(|e| io(&e))
            }
            Writer::Parquet(w) => w.close().map(|_| ()).map_err(|e| io(&e)),
        }
    }
}

fn is_nested(t: &DataType) -> bool {
    matches!(
        t,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::Struct(_)
            | DataType::Map(..)
            | DataType::Union(..)
    )
}
