//! The `pvflow` command line: argument parsing, exit codes, and one module per subcommand.

mod demo;
mod output;
mod remote;
mod run;
mod runs;
mod serve;
mod simulate;
mod sql;
mod stream;

use clap::{Parser, Subcommand};
use pvflow_session::PvflowConfig;
use std::path::PathBuf;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the query or plan failed (SQL, planning or execution error; a run that failed or was
     cancelled, followed by `pvflow runs submit --wait`)
  2  usage or configuration error (bad arguments, invalid pvflow.toml or model files, a
     parameter the run API refused, a missing or wrong API token)
  3  I/O error (a file to read or an output to write; the run API unreachable)
  130, 143  pvflow run, or runs submit --wait, stopped by SIGINT or SIGTERM: the run cancelled
     cleanly, previous output unchanged";

#[derive(Debug, Parser)]
#[command(
    name = "pvflow",
    version,
    about = "Finds electrical faults in PV plants with SQL plans on DataFusion",
    long_about = "pvflow turns PV array readings (voltage, current, temperature, irradiance) into \
                  wavelet scalograms and fault diagnoses with SQL.\n\n\
                  Configuration comes from pvflow.toml (--config or PVFLOW_CONFIG), then \
                  PVFLOW_<SECTION>_<KEY> environment variables (for example \
                  PVFLOW_MODEL_NORMALIZATION), then flags, each of which can also be set as \
                  PVFLOW_<SUBCOMMAND>_<FLAG> (for example PVFLOW_RUN_SCHEDULER). Logs go to \
                  stderr; PVFLOW_LOG_FORMAT=json writes them as JSON lines.",
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
    /// Serve the run API: orchestrators start plan runs over HTTP and poll them
    #[command(after_help = serve::AFTER_HELP)]
    Serve(serve::ServeArgs),
    /// Start, follow, list and cancel runs through a `pvflow serve` API
    #[command(after_help = runs::AFTER_HELP)]
    Runs(runs::RunsArgs),
    /// Diagnose windows as they close, while the plant runs: Kafka -> live table, exactly once
    #[command(after_help = stream::AFTER_HELP)]
    Stream(stream::StreamArgs),
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

/// Logs on stderr at `-v` levels (warnings only by default); see [`pvflow_session::logging`].
pub fn init_logging(verbose: u8) {
    pvflow_session::logging::init(match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    });
}

impl Cli {
    /// The command line, each subcommand's flags also read from `PVFLOW_<SUBCOMMAND>_<FLAG>`
    /// (`pvflow run --scheduler` is `PVFLOW_RUN_SCHEDULER`), as container specs set them; exits
    /// with clap's usage error if invalid.
    pub fn from_env_and_flags() -> Cli {
        use clap::{CommandFactory, FromArgMatches};
        let mut command = Cli::command();
        let names: Vec<String> = command
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        for name in names {
            let prefix = format!("PVFLOW_{}_", name.to_ascii_uppercase());
            command =
                command.mut_subcommand(&name, |c| pvflow_session::flags::from_env(c, &prefix));
        }
        Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit())
    }
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let config = PvflowConfig::load(cli.config.as_deref()).map_err(Failure::usage)?;
    match cli.command {
        Command::Sql(args) => sql::run(&config, args).await,
        Command::Simulate(args) => simulate::run(&config, args).await,
        Command::Run(args) => run::run(&config, args).await,
        Command::Demo(args) => demo::run(&config, args).await,
        Command::Serve(args) => serve::run(&config, args).await,
        Command::Runs(args) => runs::run(&config, args).await,
        Command::Stream(args) => stream::run(&config, args).await,
    }
}
