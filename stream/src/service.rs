//! `pvflow stream`'s loop: a member of a Kafka consumer group that windows its partitions'
//! readings, diagnoses the windows as they close, and appends them to the live table with each
//! partition's progress, exactly once.
//!
//! Partitions come and go with the group (cooperative-sticky rebalancing). The group's committed
//! offset of a partition is where its open windows can be rebuilt (the smallest offset among
//! their readings), committed after each live commit, so a new owner's fetch starts there; the
//! live table's progress, read when the partition arrives, is the authority: messages before its
//! resume offset are skipped, and so are the windows the table already has. A revoked
//! partition's uncommitted windows are dropped: its new owner rebuilds them. The lag a
//! monitor computes from the group's offsets therefore includes the open windows' readings.

use crate::diagnose::diagnose;
use crate::episodes::PartitionEpisodes;
use crate::events::EventPublisher;
use crate::live::{LiveTable, PartitionProgress};
use crate::metrics;
use crate::windows::{ClosedWindow, PartitionWindows, Placed, Reading, WindowRules};
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{Float32Type, Int64Type, TimestampMillisecondType};
use datafusion::common::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use futures::{FutureExt, StreamExt};
use pvflow_episodes::{EpisodeEvent, EpisodeRules};
use pvflow_kafka::{ChunkDecoder, MessageChunk, ValueFormat};
use pvflow_udfs::ArrayRating;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What a stream reads, where it writes, and when windows close.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    pub brokers: String,
    pub topic: String,
    pub format: ValueFormat,
    /// The consumer group: every `pvflow stream` of one live table shares it.
    pub group_id: String,
    /// Further librdkafka settings (credentials).
    pub client: BTreeMap<String, String>,
    /// The live table's URL.
    pub live: String,
    pub rules: WindowRules,
    /// How often closed windows are diagnosed and committed.
    pub commit_interval: Duration,
    /// This member's name, recorded with its commits.
    pub member: String,
    /// When fault episodes open and close.
    pub episodes: EpisodeRules,
    /// The arrays' rating, for each window's expected power.
    pub rating: ArrayRating,
    /// Where episode events are published.
    pub events_topic: String,
}

/// What a stream did, for its last log line and the tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StreamCounts {
    pub readings: u64,
    pub late_readings: u64,
    pub quarantined: u64,
    pub windows_written: u64,
    pub commits: u64,
    pub episode_events: u64,
}

/// Partitions the group gave or took since the loop last looked.
#[derive(Default)]
struct Rebalances {
    assigned: BTreeSet<i32>,
    revoked: BTreeSet<i32>,
}

/// The rebalances, and whether there are any: the loop looks at the flag for every message.
#[derive(Default)]
struct RebalanceLog {
    noted: AtomicBool,
    changes: Mutex<Rebalances>,
}

struct GroupContext {
    rebalances: Arc<RebalanceLog>,
    topic: String,
}

impl ClientContext for GroupContext {
    /// librdkafka's statistics (every `statistics.interval.ms`): each assigned partition's lag,
    /// from its high watermark and the group's committed offset, without a round trip.
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        for (partition, stats) in &topic.partitions {
            // -1: the internal partition, or a partition this member does not consume.
            if *partition >= 0 && stats.consumer_lag >= 0 {
                metrics::lag(&self.topic, *partition, stats.consumer_lag);
            }
        }
    }
}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let mut changes = self
            .rebalances
            .changes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match rebalance {
            Rebalance::Assign(list) => {
                for element in list.elements() {
                    changes.revoked.remove(&element.partition());
                    changes.assigned.insert(element.partition());
                }
            }
            Rebalance::Revoke(list) => {
                for element in list.elements() {
                    changes.assigned.remove(&element.partition());
                    changes.revoked.insert(element.partition());
                }
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance failed"),
        }
        self.rebalances.noted.store(true, Ordering::Release);
    }
}

/// One owned partition: its windows, what the table last recorded for it, the windows closed
/// since, and the messages received but not yet decoded.
struct Owned {
    windows: PartitionWindows,
    committed: Option<PartitionProgress>,
    closed: Vec<ClosedWindow>,
    /// Its devices' fault episodes as of the last commit.
    episodes: PartitionEpisodes,
    /// The last offset the quarantine has, and the malformed messages since.
    quarantined_through: Option<i64>,
    quarantine: Vec<RecordBatch>,
    /// Messages before this offset were taken before the last commit.
    from: i64,
    pending: MessageChunk,
}

/// Messages decoded at once.
const CHUNK_MESSAGES: usize = 4096;

/// Messages taken in a row, without waiting, between looks at the shutdown signal.
const SHUTDOWN_CHECK_MESSAGES: u32 = 1024;

/// Messages taken in a row, without waiting, between looks at the clock for a commit.
const CLOCK_CHECK_MESSAGES: u32 = 64;

/// Runs the stream until `shutdown` resolves, then commits what has closed and leaves the
/// group. `ctx` is a session with pvflow's functions and model.
pub async fn run(
    ctx: &SessionContext,
    settings: &StreamSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<StreamCounts> {
    let live = LiveTable::open(&ctx.runtime_env(), &settings.live, &settings.topic)?;
    let rebalances = Arc::new(RebalanceLog::default());
    let consumer: StreamConsumer<GroupContext> = consumer_config(settings)
        .create_with_context(GroupContext {
            rebalances: Arc::clone(&rebalances),
            topic: settings.topic.clone(),
        })
        .map_err(kafka_error("create the consumer"))?;
    consumer
        .subscribe(&[&settings.topic])
        .map_err(kafka_error("subscribe"))?;
    let publisher =
        EventPublisher::connect(&settings.brokers, &settings.client, &settings.events_topic)
            .await?;
    let sinks = Sinks {
        live: &live,
        consumer: &consumer,
        publisher: &publisher,
    };
    let decoder = ChunkDecoder::new(settings.format)?;
    let mut owned: BTreeMap<i32, Owned> = BTreeMap::new();
    let mut counts = StreamCounts::default();
    let mut next_commit = Instant::now() + settings.commit_interval;
    tokio::pin!(shutdown);
    // One stream for the member's life: `recv` would register a waker and a timer per message.
    let mut messages = consumer.stream();
    let mut ready_in_a_row = 0u32;
    loop {
        // A message already fetched is taken without a timer; the shutdown signal is looked at
        // every so often while they keep coming.
        let ready = messages.next().now_or_never();
        ready_in_a_row = if ready.is_some() {
            ready_in_a_row.wrapping_add(1)
        } else {
            0
        };
        if ready_in_a_row % SHUTDOWN_CHECK_MESSAGES == SHUTDOWN_CHECK_MESSAGES - 1
            && shutdown.as_mut().now_or_never().is_some()
        {
            break;
        }
        // `None`: nothing for a while (rdkafka's stream itself never ends).
        let received = match ready {
            Some(next) => next,
            None => tokio::select! {
                () = &mut shutdown => break,
                next = tokio::time::timeout(Duration::from_millis(200), messages.next()) => {
                    next.ok().flatten()
                }
            },
        };
        // Partitions the group gave while polling are set up before their first message.
        if rebalances.noted.swap(false, Ordering::AcqRel) {
            take_rebalances(&rebalances.changes, &live, settings, &mut owned).await?;
        }
        match received {
            Some(message) => {
                let message = message.map_err(kafka_error("read"))?;
                if let Some(state) = owned.get_mut(&message.partition())
                    && message.offset() >= state.from
                {
                    state.pending.push(
                        message.offset(),
                        message.timestamp().to_millis(),
                        message.key(),
                        message.payload(),
                    );
                    if state.pending.len() >= CHUNK_MESSAGES {
                        take_pending(&decoder, &settings.topic, state, &mut counts)?;
                    }
                }
            }
            // Quiet: what has arrived is placed now.
            None => {
                for state in owned.values_mut() {
                    take_pending(&decoder, &settings.topic, state, &mut counts)?;
                }
            }
        }
        // The clock is read once per so many messages in a row, not for each.
        if ready_in_a_row.is_multiple_of(CLOCK_CHECK_MESSAGES) && Instant::now() >= next_commit {
            for state in owned.values_mut() {
                take_pending(&decoder, &settings.topic, state, &mut counts)?;
            }
            commit(ctx, &sinks, settings, &mut owned, &mut counts).await?;
            next_commit = Instant::now() + settings.commit_interval;
        }
    }
    for state in owned.values_mut() {
        take_pending(&decoder, &settings.topic, state, &mut counts)?;
    }
    commit(ctx, &sinks, settings, &mut owned, &mut counts).await?;
    tracing::info!(?counts, "stream stopped");
    Ok(counts)
}

fn consumer_config(settings: &StreamSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("group.id", &settings.group_id)
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("allow.auto.create.topics", "false")
        .set("statistics.interval.ms", "5000");
    for (key, value) in &settings.client {
        config.set(key, value);
    }
    config
}

/// Applies the rebalances noted since the last look: a new partition starts from its progress
/// in the live table, a revoked one is dropped.
async fn take_rebalances(
    changes: &Mutex<Rebalances>,
    live: &LiveTable,
    settings: &StreamSettings,
    owned: &mut BTreeMap<i32, Owned>,
) -> Result<()> {
    let Rebalances { assigned, revoked } =
        std::mem::take(&mut *changes.lock().unwrap_or_else(PoisonError::into_inner));
    for partition in revoked {
        metrics::forget_partition(&settings.topic, partition);
        if owned.remove(&partition).is_some() {
            tracing::info!(
                partition,
                "partition revoked: its open windows go to its next owner"
            );
        }
    }
    for partition in assigned {
        let committed = live.progress(partition).await?;
        let mut windows = PartitionWindows::new(settings.rules);
        if let Some(since) = committed.and_then(|p| p.open_since) {
            for (device, start) in live.written_since(partition, since).await? {
                windows.already_written(&device, start);
            }
        }
        let from = committed.map_or(0, |p| p.resume);
        let episodes = live.episodes(partition, committed.as_ref()).await?;
        let quarantined_through = live.quarantine().quarantined_through(partition).await?;
        tracing::info!(partition, from, "partition assigned");
        owned.insert(
            partition,
            Owned {
                windows,
                committed,
                closed: Vec::new(),
                episodes,
                quarantined_through,
                quarantine: Vec::new(),
                from,
                pending: MessageChunk::new(partition),
            },
        );
    }
    Ok(())
}

/// Decodes the partition's pending messages into readings and places them.
fn take_pending(
    decoder: &ChunkDecoder,
    topic: &str,
    state: &mut Owned,
    counts: &mut StreamCounts,
) -> Result<()> {
    if state.pending.is_empty() {
        return Ok(());
    }
    let decoded = decoder.decode(&state.pending)?;
    state.pending.clear();
    // Messages read again to rebuild windows were quarantined before.
    let quarantined = match state.quarantined_through {
        Some(through) => {
            let offsets = decoded
                .quarantined
                .column_by_name(pvflow_kafka::OFFSET)
                .ok_or_else(|| {
                    DataFusionError::Internal("quarantined messages have no offset".into())
                })?
                .as_primitive::<Int64Type>();
            let new = offsets
                .iter()
                .map(|o| Some(o.is_some_and(|o| o > through)))
                .collect();
            filter_record_batch(&decoded.quarantined, &new)?
        }
        None => decoded.quarantined,
    };
    let messages = quarantined.num_rows();
    if messages > 0 {
        counts.quarantined += messages as u64;
        metrics::malformed(topic, messages as u64);
        tracing::warn!(
            partition = state.pending.partition,
            messages,
            "malformed messages quarantined"
        );
        state.quarantine.push(quarantined);
    }
    place_readings(
        &decoded.readings,
        topic,
        &mut state.windows,
        &mut state.closed,
        counts,
    )
}

fn place_readings(
    readings: &RecordBatch,
    topic: &str,
    windows: &mut PartitionWindows,
    closed: &mut Vec<ClosedWindow>,
    counts: &mut StreamCounts,
) -> Result<()> {
    let now = Instant::now();
    let column = |name: &str| {
        readings
            .column_by_name(name)
            .ok_or_else(|| DataFusionError::Internal(format!("decoded readings have no {name}")))
    };
    let device = column("device_id")?.as_string::<i32>();
    let ts = column("ts")?.as_primitive::<TimestampMillisecondType>();
    let offset = column("_offset")?.as_primitive::<Int64Type>();
    let channels = [
        column("voltage")?.as_primitive::<Float32Type>(),
        column("current")?.as_primitive::<Float32Type>(),
        column("temperature")?.as_primitive::<Float32Type>(),
        column("irradiance")?.as_primitive::<Float32Type>(),
    ];
    let (mut open, mut late, mut written_before, mut full) = (0, 0, 0, 0);
    for row in 0..readings.num_rows() {
        let reading = Reading {
            device_id: device.value(row),
            ts_ms: ts.value(row),
            values: channels.map(|c| Some(c.value(row))),
            offset: offset.value(row),
        };
        counts.readings += 1;
        let (placed, completed) = windows.offer(&reading, now);
        match placed {
            Placed::Open => open += 1,
            Placed::Late => {
                late += 1;
                tracing::debug!(
                    device = reading.device_id,
                    ts = reading.ts_ms,
                    "late reading dropped"
                );
            }
            Placed::WrittenBefore => written_before += 1,
        }
        if let Some(window) = completed {
            full += 1;
            closed.push(window);
        }
    }
    metrics::readings(topic, "open", open);
    metrics::readings(topic, "late", late);
    counts.late_readings += late;
    metrics::readings(topic, "written_before", written_before);
    metrics::windows_closed(topic, "full", full);
    Ok(())
}

/// Where a commit goes.
struct Sinks<'a> {
    live: &'a LiveTable,
    consumer: &'a StreamConsumer<GroupContext>,
    publisher: &'a EventPublisher,
}

/// Closes what the watermarks passed, diagnoses every closed window and feeds the diagnoses to
/// their devices' episodes; publishes the episode events, then commits the windows with each
/// partition's progress and episodes; then commits the group's offsets.
async fn commit(
    ctx: &SessionContext,
    sinks: &Sinks<'_>,
    settings: &StreamSettings,
    owned: &mut BTreeMap<i32, Owned>,
    counts: &mut StreamCounts,
) -> Result<()> {
    let now = Instant::now();
    let Sinks {
        live,
        consumer,
        publisher,
    } = *sinks;
    let mut rows = Vec::new();
    let mut progress = Vec::new();
    let mut events = Vec::new();
    // Episodes move on only once their windows are committed: a refused commit feeds the same
    // windows again at the next one.
    let mut next_episodes = BTreeMap::new();
    if !quarantine(live, settings, owned).await? {
        return Ok(());
    }
    for (partition, state) in owned.iter_mut() {
        let passed = state.windows.close_passed(now);
        metrics::windows_closed(&settings.topic, "watermark", passed.len());
        state.closed.extend(passed);
        let (Some(consumed), Some(resume)) =
            (state.windows.consumed(), state.windows.resume_offset())
        else {
            continue;
        };
        let mut current = PartitionProgress {
            consumed,
            resume,
            open_since: state.windows.oldest_open(),
            episodes: state.committed.and_then(|p| p.episodes),
        };
        if state.committed == Some(current) && state.closed.is_empty() {
            continue;
        }
        let diagnosed = diagnose(ctx, &state.closed, *partition, &settings.rating).await?;
        let mut episodes = state.episodes.clone();
        let (happened, changed) = episodes.offer(&diagnosed, &state.closed, &settings.episodes)?;
        if changed {
            current.episodes = Some(live.write_episodes(*partition, &episodes).await?);
            next_episodes.insert(*partition, episodes);
        }
        events.extend(happened);
        rows.extend(diagnosed);
        progress.push((*partition, state.committed, current));
    }
    if progress.is_empty() {
        return Ok(());
    }
    if rows.is_empty() {
        // Progress alone: an empty batch carries the schema.
        rows.extend(diagnose_schema(ctx).await?);
    }
    let windows: usize = rows.iter().map(RecordBatch::num_rows).sum();
    // Before the commit: a crash in between publishes them again, with the same IDs.
    publisher.publish(&events).await?;
    let version = match live.commit(&rows, &progress, &settings.member).await {
        Ok(version) => version,
        Err(e) => return drop_if_lost(e, &settings.topic, owned),
    };
    counts.commits += 1;
    counts.windows_written += windows as u64;
    counts.episode_events += events.len() as u64;
    metrics::committed(&settings.topic, windows);
    note_events(&settings.topic, &events);
    let wall_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let window_ms = pvflow_udfs::WINDOW_SECONDS * 1000;
    let mut offsets = TopicPartitionList::new();
    for (partition, before, now) in &progress {
        if let Some(state) = owned.get_mut(partition) {
            for window in &state.closed {
                let end = window.window_start_ms + window_ms;
                metrics::diagnosis_delay(&settings.topic, (wall_ms - end) as f64 / 1000.0);
            }
            state.committed = Some(*now);
            state.closed.clear();
            if let Some(episodes) = next_episodes.remove(partition) {
                state.episodes = episodes;
            }
        }
        if let (Some(old), Some(new)) = (before.and_then(|p| p.episodes), now.episodes)
            && old != new
        {
            live.forget_episodes(*partition, old).await;
        }
        offsets
            .add_partition_offset(&settings.topic, *partition, Offset::Offset(now.resume))
            .map_err(kafka_error("note an offset"))?;
    }
    // Where a new owner's fetch starts, and what lag is measured by; the live table's
    // progress is what a restart goes by.
    if let Err(e) = consumer.commit(&offsets, CommitMode::Async) {
        tracing::warn!(error = %e, "could not commit the group's offsets");
    }
    metrics::windows_open(
        &settings.topic,
        owned.values().map(|o| o.windows.open_windows()).sum(),
    );
    metrics::episodes_open(
        &settings.topic,
        owned.values().map(|o| o.episodes.open().count()).sum(),
    );
    tracing::info!(version, windows, partitions = progress.len(), "live commit");
    Ok(())
}

/// Appends the malformed messages taken since the last commit to the quarantine, with each
/// partition's last quarantined offset; `false` if a partition was lost to another member
/// (dropped: the commit waits for the next interval).
async fn quarantine(
    live: &LiveTable,
    settings: &StreamSettings,
    owned: &mut BTreeMap<i32, Owned>,
) -> Result<bool> {
    let mut messages = Vec::new();
    let mut through = Vec::new();
    for (partition, state) in owned.iter() {
        let last = state
            .quarantine
            .iter()
            .filter_map(|batch| {
                let offsets = batch.column_by_name(pvflow_kafka::OFFSET)?;
                datafusion::arrow::compute::max(offsets.as_primitive::<Int64Type>())
            })
            .max();
        if let Some(last) = last {
            messages.extend(state.quarantine.iter().cloned());
            through.push((*partition, state.quarantined_through, last));
        }
    }
    if messages.is_empty() {
        return Ok(true);
    }
    match live
        .quarantine()
        .append(&messages, &through, &settings.member)
        .await
    {
        Ok(_) => {
            for (partition, _, last) in through {
                if let Some(state) = owned.get_mut(&partition) {
                    state.quarantined_through = Some(last);
                    state.quarantine.clear();
                }
            }
            Ok(true)
        }
        Err(e) => drop_if_lost(e, &settings.topic, owned).map(|()| false),
    }
}

/// Logs and counts the episode events a commit published.
fn note_events(topic: &str, events: &[EpisodeEvent]) {
    for event in events {
        let kind = event.kind.as_str();
        metrics::episode_event(topic, kind);
        tracing::info!(
            device = %event.device_id,
            class = %event.episode.class,
            severity = event.episode.severity.as_str(),
            kind,
            "fault episode {kind}"
        );
    }
}

/// A commit refused because another member committed for one of its partitions first: that
/// partition is theirs now, and this member drops it and commits the others' at the next
/// interval (the files just written stay outside the log). Any other error is returned.
fn drop_if_lost(
    error: DataFusionError,
    topic: &str,
    owned: &mut BTreeMap<i32, Owned>,
) -> Result<()> {
    let Some(partition) = lost_partition(&error, topic) else {
        return Err(error);
    };
    tracing::warn!(partition, %error, "partition taken over by another member: dropped");
    metrics::forget_partition(topic, partition);
    owned.remove(&partition);
    Ok(())
}

/// The partition a refused commit names, when another writer committed for it first.
fn lost_partition(error: &DataFusionError, topic: &str) -> Option<i32> {
    let DataFusionError::External(source) = error else {
        return None;
    };
    let pvflow_dataset::LogError::TransactionConflict { app_id, .. } = source.downcast_ref()?
    else {
        return None;
    };
    LiveTable::partition_of(app_id, topic)
}

/// No rows, with the live table's schema.
async fn diagnose_schema(ctx: &SessionContext) -> Result<Vec<RecordBatch>> {
    let placeholder = ClosedWindow {
        device_id: String::new(),
        window_start_ms: 0,
        readings: 0,
        series: [[None; pvflow_udfs::WINDOW_LEN]; crate::windows::CHANNELS],
    };
    let batches = diagnose(ctx, &[placeholder], 0, &ArrayRating::default()).await?;
    Ok(batches
        .first()
        .map(|b| vec![RecordBatch::new_empty(b.schema())])
        .unwrap_or_default())
}

fn kafka_error(action: &'static str) -> impl Fn(rdkafka::error::KafkaError) -> DataFusionError {
    move |e| DataFusionError::External(format!("cannot {action} on Kafka: {e}").into())
}
