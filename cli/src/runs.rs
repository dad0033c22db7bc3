//! `pvflow runs`: start, follow, list and cancel runs through a `pvflow serve` API.

use crate::Failure;
use crate::run::{PlanDay, StageSpinner, print_summary};
use anyhow::anyhow;
use clap::{Args, Subcommand};
use pvflow_api::{ApiClient, ApiError, RunRequest, RunStatus, Submitted};
use pvflow_runner::{Progress, RunState};
use pvflow_session::PvflowConfig;
use pvflow_session::signals;
use std::time::Duration;

pub const AFTER_HELP: &str = "\
Talks to the run API of `pvflow serve` (see `pvflow serve --help`). Runs started with submit
take their unset locations from the API process's configuration, not this one's. If the API
requires a token, set the same one here: [api] token in pvflow.toml, or PVFLOW_API_TOKEN.

submit --wait follows the run to its end and exits like `pvflow run`: 0 succeeded, 1 failed or
cancelled; SIGTERM or SIGINT while waiting cancels the run, waits for it to end and exits 143
or 130. Every subcommand exits 2 if the API refuses a parameter or the token, and 3 if it
cannot be reached.

Examples:
  pvflow runs --api http://pvflow-api:8080 submit ingest --date 2026-06-01 --wait
  pvflow runs show ingest-2026-06-01-3f9c2a1b
  pvflow runs list
  pvflow runs cancel ingest-2026-06-01-3f9c2a1b";

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// The run API's URL (a `pvflow serve`)
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub api: String,
    #[command(subcommand)]
    pub command: RunsCommand,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Start a run of a plan for one day; prints its ID (or, with --wait, its outcome)
    Submit(SubmitArgs),
    /// A run's state, stage, and manifest once it ended
    Show {
        run_id: String,
        /// Print the status as JSON
        #[arg(long)]
        json: bool,
    },
    /// The runs the API knows, newest first
    List {
        /// Print the statuses as JSON
        #[arg(long)]
        json: bool,
    },
    /// Cancel a running run: its jobs stop, its staging goes, the previous output stays
    Cancel { run_id: String },
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub run: PlanDay,
    /// Follow the run until it ends, and exit with its outcome
    #[arg(long)]
    pub wait: bool,
    /// How often --wait asks for the run's status, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    pub poll: f64,
    /// Print the status as JSON
    #[arg(long)]
    pub json: bool,
    /// Sent as Idempotency-Key: a retry with the same key answers the first run instead of
    /// starting another (e.g. the orchestrator's run ID and the day)
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// The API posts the run's final status to this http(s) URL when it ends
    #[arg(long, value_name = "URL")]
    pub notify_url: Option<String>,
}

/// The exit code an API error calls for.
fn failure(error: ApiError) -> Failure {
    match error {
        ApiError::Refused(_) | ApiError::Unauthorized(_) => Failure::usage(error),
        ApiError::Unreachable { .. } => Failure::io(error),
        _ => Failure::query(error),
    }
}

pub async fn run(config: &PvflowConfig, args: RunsArgs) -> Result<(), Failure> {
    let client = ApiClient::new(&args.api).with_token(config.api.token.clone());
    match args.command {
        RunsCommand::Submit(submit) => run_submit(&client, submit).await,
        RunsCommand::Show { run_id, json } => {
            let status = client.status(&run_id).await.map_err(failure)?;
            print_status(&status, json);
            Ok(())
        }
        RunsCommand::List { json } => {
            let runs = client.list().await.map_err(failure)?;
            if json {
                println!("{}", to_json(&runs));
                return Ok(());
            }
            for run in &runs {
                println!(
                    "{:<36} {:<10} {:<24} {}",
                    run.run_id,
                    run.state.name(),
                    run.submitted_at,
                    run.stage.as_deref().or(run.error.as_deref()).unwrap_or("")
                );
            }
            Ok(())
        }
        RunsCommand::Cancel { run_id } => {
            client.cancel(&run_id).await.map_err(failure)?;
            println!("{run_id}: cancel requested");
            Ok(())
        }
    }
}

async fn run_submit(client: &ApiClient, args: SubmitArgs) -> Result<(), Failure> {
    if !(args.poll.is_finite() && args.poll > 0.0) {
        return Err(Failure::usage(anyhow!(
            "--poll must be a positive number of seconds, not {}",
            args.poll
        )));
    }
    let request = RunRequest {
        notify_url: args.notify_url.clone(),
        ..args.run.request()
    };
    let submitted = match client
        .submit_once(&request, args.idempotency_key.as_deref())
        .await
        .map_err(failure)?
    {
        Submitted::Started(run) | Submitted::Replayed(run) => *run,
        Submitted::UpToDate(day) => {
            if args.json {
                println!("{}", to_json(&day));
            } else {
                println!("{day}");
            }
            return Ok(());
        }
    };
    let run_id = submitted.run_id.clone();
    if !args.wait {
        if args.json {
            println!("{}", to_json(&submitted));
        } else {
            println!("{run_id}");
        }
        return Ok(());
    }
    let spinner = StageSpinner::new();
    let every = Duration::from_secs_f64(args.poll);
    let plan = args.run.plan.into();
    let follow = client.wait(&run_id, every, |status| {
        if let Some(stage) = &status.stage {
            spinner.stage(plan, stage);
        }
    });
    let (ended, stopped_by) = tokio::select! {
        ended = follow => (ended, None),
        signal = signals::stop() => {
            tracing::warn!(signal = signal.name(), run = %run_id, "cancelling the run");
            match client.cancel(&run_id).await {
                // Already ended: its outcome stands.
                Ok(_) | Err(ApiError::Conflict(_)) => {}
                Err(e) => return Err(failure(e)),
            }
            (client.wait(&run_id, every, |_| {}).await, Some(signal))
        }
    };
    spinner.finish();
    let ended = ended.map_err(failure)?;
    print_status(&ended, args.json);
    match (ended.state, stopped_by) {
        (RunState::Succeeded, _) => Ok(()),
        (RunState::Cancelled, Some(signal)) => Err(Failure {
            code: signal.exit_code(),
            error: anyhow!(
                "run {run_id} cancelled on {}: the previous output is unchanged",
                signal.name()
            ),
        }),
        (state, _) => Err(Failure::query(anyhow!(
            "run {run_id} {}: {}",
            state.name(),
            ended.error.as_deref().unwrap_or("no error recorded")
        ))),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn print_status(status: &RunStatus, json: bool) {
    if json {
        println!("{}", to_json(status));
        return;
    }
    match &status.manifest {
        Some(manifest) => print_summary(manifest),
        None => println!(
            "{} {}{}",
            status.run_id,
            status.state.name(),
            status
                .stage
                .as_deref()
                .map(|s| format!(": {s}"))
                .unwrap_or_default()
        ),
    }
    if let Some(error) = &status.error {
        println!("  error: {error}");
    }
}
