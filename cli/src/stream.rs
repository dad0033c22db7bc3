//! `pvflow stream`: diagnose windows as they close, while the plant runs.

use crate::Failure;
use anyhow::{Context, anyhow};
use clap::Args;
use pvflow_kafka::{AvroFraming, ValueFormat};
use pvflow_session::{PvflowConfig, signals};
use pvflow_stream::{StreamSettings, WindowRules};
use std::time::Duration;

pub const AFTER_HELP: &str = "\
Joins the Kafka consumer group [streaming] group on the readings topic and keeps, per partition
and device, the open 64-reading windows, placed as ingest places them. A window closes when its
64 slots hold a reading, or when the partition's watermark (its newest reading time minus
[streaming] delay_seconds) passes the window's end plus [streaming] grace_seconds; a partition quiet
for [streaming] idle_timeout_seconds has its watermark advance with the clock. Every
[streaming] commit_interval_seconds the closed windows are classified by the model, as predict
does (fewer than 48 valid readings: no diagnosis, fault_code NULL), and appended to the live
table ([storage] live, a table of every pvflow session) in one Delta commit that also records
each partition's progress.

Each diagnosis also moves its device's fault episode on, by the [episodes] rules: an episode
opens after open_after consecutive windows of one fault class and closes after close_after
normal daylight windows (night and undiagnosed windows count for nothing); another fault class
closes it and starts its own. Opened and closed events go, as JSON keyed by device ID, to
[streaming] events_topic (created with one partition if missing) before the commit that includes their windows: at
least once, each with a deterministic event_id (device/class/first window/kind), so consumers
drop repeats by ID. The episodes are kept beside the live table; `pvflow serve` answers
GET /devices/{device_id} from them.

Exactly once: a restarted stream, or the member that takes a partition over, starts from the
progress the live table records, rebuilds the open windows from Kafka and skips the windows the
table has; a member that lost a partition cannot commit for it, and drops it. Readings that arrive after
their window closed are counted and dropped (the daily ingest still reads them); malformed
messages are counted and appended, once each, to the stream's quarantine (table
live_quarantine, under the live table), as ingest quarantines them. Start more members with
the same group to share the partitions.

--metrics-bind serves /healthz and /metrics: readings by outcome (open, late, written_before),
malformed messages, windows closed (full, watermark) and open, commits, the delay from a
window's end to its committed diagnosis (histogram), and consumer lag per partition.

SIGTERM or SIGINT commits what has closed and leaves the group; open windows are rebuilt by
the next member. Exit codes: 0 stopped by a signal, 1 failed (Kafka, the live table, the
model), 2 invalid configuration, 3 the metrics port cannot be bound.

Examples:
  pvflow stream --brokers 127.0.0.1:9092 --topic pv.readings
  PVFLOW_STORAGE_LIVE=s3://plant/live pvflow stream";

/// Where the stream reads and writes; unset values come from the configuration.
#[derive(Debug, Clone, Args)]
pub struct StreamArgs {
    /// Kafka bootstrap servers (default: [kafka] brokers)
    #[arg(long)]
    pub brokers: Option<String>,
    /// The readings topic (default: [kafka] topic)
    #[arg(long)]
    pub topic: Option<String>,
    /// The live table: a directory, file:// or s3:// URL (default: [storage] live)
    #[arg(long)]
    pub live: Option<String>,
    /// The consumer group (default: [streaming] group)
    #[arg(long)]
    pub group: Option<String>,
    /// The topic fault episode events are published to (default: [streaming] events_topic)
    #[arg(long)]
    pub events_topic: Option<String>,
    /// Where /healthz and /metrics (Prometheus) are served
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:9464")]
    pub metrics_bind: std::net::SocketAddr,
}

pub async fn run(config: &PvflowConfig, args: StreamArgs) -> Result<(), Failure> {
    let mut config = config.clone();
    if let Some(live) = args.live {
        config.storage.live = live;
    }
    let brokers = args
        .brokers
        .or_else(|| config.kafka.brokers.clone())
        .ok_or_else(|| {
            Failure::usage(anyhow!(
                "no Kafka brokers: give --brokers or set [kafka] brokers"
            ))
        })?;
    if config.model.path.is_none() {
        return Err(Failure::usage(anyhow!(
            "no model to diagnose windows with: set [model] path (PVFLOW_MODEL_PATH)"
        )));
    }
    let episodes = config
        .episodes
        .validated()
        .context("invalid [episodes]")
        .map_err(Failure::usage)?;
    let rating = config
        .plant
        .rating()
        .validated()
        .map_err(|why| Failure::usage(anyhow!("invalid [plant]: {why}")))?;
    let ctx = pvflow_session::session_context(&config).map_err(Failure::usage)?;
    let streaming = &config.streaming;
    let settings = StreamSettings {
        client: config.kafka.client_for(&brokers),
        brokers,
        topic: args.topic.unwrap_or_else(|| config.kafka.topic.clone()),
        format: ValueFormat::Avro(AvroFraming::SingleObject),
        group_id: args.group.unwrap_or_else(|| streaming.group.clone()),
        live: config.storage.live.clone(),
        rules: WindowRules {
            delay: Duration::from_secs(streaming.delay_seconds),
            grace: Duration::from_secs(streaming.grace_seconds),
            idle_timeout: Duration::from_secs(streaming.idle_timeout_seconds),
        },
        commit_interval: Duration::from_secs(streaming.commit_interval_seconds.max(1)),
        member: format!("{}-{}", hostname(), std::process::id()),
        episodes,
        rating,
        events_topic: args
            .events_topic
            .unwrap_or_else(|| streaming.events_topic.clone()),
    };
    let probes = pvflow_stream::serve_probes(args.metrics_bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.metrics_bind))
        .map_err(Failure::io)?;
    tracing::info!(topic = %settings.topic, group = %settings.group_id, live = %settings.live, %probes, "stream starting");
    let shutdown = async {
        let signal = signals::stop().await;
        tracing::info!(
            signal = signal.name(),
            "stream stopping: committing what has closed"
        );
    };
    let counts = pvflow_stream::run(&ctx, &settings, shutdown)
        .await
        .context("the stream failed")
        .map_err(Failure::query)?;
    eprintln!(
        "stream stopped: {} readings, {} windows written in {} commits, {} episode events, {} late readings dropped, {} malformed messages quarantined",
        counts.readings,
        counts.windows_written,
        counts.commits,
        counts.episode_events,
        counts.late_readings,
        counts.quarantined
    );
    Ok(())
}

/// The pod's name on Kubernetes, else the machine's.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "pvflow".into())
}
