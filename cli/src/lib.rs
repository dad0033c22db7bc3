//! The `pvflow` command line: argument parsing, exit codes, and one module per subcommand.

mod demo;
mod output;
mod remote;
mod run;
mod simulate;
mod sql;

use clap::{Parser, Subcommand};
use pvflow_session::config::PvflowConfig;
use std::path::PathBuf;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the query or plan failed (SQL, planning or execution error)
  2  usage or configuration error (bad arguments, invalid pvflow.toml or model files)
  3  I/O error (a file to read or an output to write)";

#[derive(Debug, Parser)]
#[command(
    name = "pvflow",
    version,
    about = "Finds electrical faults in PV plants with SQL plans on DataFusion",
    long_about = "pvflow turns PV array readings (voltage, current, temperature, irradiance) into \
                  wavelet scalograms and fault diagnoses with SQL.\n\n\
                  Configuration comes from pvflow.toml (--config or PVFLOW_CONFIG), then \
                  PVFLOW_<SECTION>_<KEY> environment variables (for example \
                  PVFLOW_MODEL_NORMALIZATION), then flags.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// Configuration file (default: $PVFLOW_CONFIG, else ./pvflow.toml if present)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run SQL in an embedded DataFusion session with every pvflow function registered
    #[command(after_help = sql::AFTER_HELP)]
    Sql(sql::SqlArgs),
    /// Simulate a PV plant: publish its readings to Kafka and write the ground truth
    #[command(after_help = simulate::AFTER_HELP)]
    Simulate(simulate::SimulateArgs),
    /// The whole pipeline on a simulated plant, in this process: Kafka -> ingest -> predict -> gold
    #[command(after_help = demo::AFTER_HELP)]
    Demo(demo::DemoArgs),
    /// Run a plan (ingest or predict) for one day, in-process or on a cluster
    #[command(after_help = run::AFTER_HELP)]
    Run(run::RunArgs),
}

/// Why the command failed, and the exit code that tells an orchestrator what kind of failure.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    pub const QUERY_CODE: u8 = 1;
    pub const USAGE_CODE: u8 = 2;
    pub const IO_CODE: u8 = 3;

    pub fn query(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: Self::QUERY_CODE,
            error: error.into(),
        }
    }
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: Self::USAGE_CODE,
            error: error.into(),
        }
    }
    pub fn io(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: Self::IO_CODE,
            error: error.into(),
        }
    }
}

pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let config = PvflowConfig::load(cli.config.as_deref()).map_err(Failure::usage)?;
    match cli.command {
        Command::Sql(args) => sql::run(&config, args).await,
        Command::Simulate(args) => simulate::run(&config, args).await,
        Command::Run(args) => run::run(&config, args).await,
        Command::Demo(args) => demo::run(&config, args).await,
    }
}
