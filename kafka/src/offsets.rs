//! Plan time: which offsets of which partitions hold a time range.
//!
//! Kafka's offsets-for-times answers "the first offset whose timestamp is >= t" per partition.
//! Not every broker answers it correctly (librdkafka's mock cluster returns "end" for every
//! timestamp; tansu returns 0 past the last message), so every answer is checked against the
//! timestamps of the messages around it, and a wrong answer falls back to a binary search that
//! reads message timestamps. A search assumes what Kafka's own time index assumes, that within a
//! partition producers write in timestamp order, up to the table's `lateness`: the offsets
//! planned reach `lateness` past both ends of the range, so a reading stored behind newer ones
//! by up to that much is still read. Rows outside the range are filtered exactly at scan time
//! whatever the offsets.

use crate::error::KafkaError;
use crate::options::KafkaTableConfig;
use crate::time_range::TimeRange;
use rdkafka::ClientContext;
use rdkafka::Offset;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::TopicPartitionList;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// One unit of scan work: messages `start..end` (offsets) of one Kafka partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaSlice {
    pub partition: i32,
    pub start: i64,
    pub end: i64,
}

/// Resolves `range` to offset slices of every partition, each at most
/// `config.max_slice_messages` long. Blocking: call from a blocking thread.
pub fn plan_slices(
    config: &KafkaTableConfig,
    range: TimeRange,
) -> Result<Vec<KafkaSlice>, KafkaError> {
    let started = Instant::now();
    // Timestamp lookups fetch one message at a time: answer each fetch as soon as any data is
    // there instead of waiting for more (librdkafka's default waits up to 500 ms).
    let consumer: BaseConsumer<LookupContext> = config
        .consumer_config()
        .set("fetch.wait.max.ms", "10")
        .create_with_context(LookupContext)
        .map_err(|source| KafkaError::Client {
            brokers: config.brokers.clone(),
            source: Box::new(source),
        })?;
    let unreachable = |source| KafkaError::Unreachable {
        brokers: config.brokers.clone(),
        topic: config.topic.clone(),
        timeout_ms: config.timeout_ms,
        source: Box::new(source),
    };
    let metadata = consumer
        .fetch_metadata(Some(&config.topic), config.timeout())
        .map_err(unreachable)?;
    let topic = metadata
        .topics()
        .iter()
        .find(|t| t.name() == config.topic && t.error().is_none() && !t.partitions().is_empty())
        .ok_or_else(|| KafkaError::NoSuchTopic {
            brokers: config.brokers.clone(),
            topic: config.topic.clone(),
        })?;
    let mut partitions: Vec<i32> = topic.partitions().iter().map(|p| p.id()).collect();
    partitions.sort_unstable();

    let mut slices = Vec::new();
    if range.is_empty() {
        return Ok(slices);
    }
    let mut bounds = Vec::with_capacity(partitions.len());
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(&config.topic, p, config.timeout())
            .map_err(unreachable)?;
        bounds.push(PartitionBounds {
            partition: p,
            low,
            high,
        });
    }
    let reader = TimestampReader {
        consumer: &consumer,
        config,
    };
    // Readings may be stored up to `lateness` behind newer ones, so the offsets read reach that
    // far past both ends of the range; the scan keeps exactly the range's rows.
    let read = range.widened(config.lateness_ms);
    let starts = match read.start {
        Some(t) => reader.first_offsets_at_or_after(t, &bounds)?,
        None => bounds.iter().map(|b| b.low).collect(),
    };
    let ends = match read.end {
        Some(t) => reader.first_offsets_at_or_after(t, &bounds)?,
        None => bounds.iter().map(|b| b.high).collect(),
    };
    for ((b, start), end) in bounds.iter().zip(starts).zip(ends) {
        let mut s = start;
        while s < end {
            let e = end.min(s.saturating_add(config.max_slice_messages));
            slices.push(KafkaSlice {
                partition: b.partition,
                start: s,
                end: e,
            });
            s = e;
        }
    }
    tracing::debug!(topic = %config.topic, ?range, slices = slices.len(), elapsed_ms = started.elapsed().as_millis() as u64, "planned Kafka scan");
    Ok(slices)
}

/// The lookups' consumer moves between partitions and offsets: a partition's end, reached just
/// before it moved on, is reported as a client error, which is expected here and not logged as
/// one.
struct LookupContext;

impl ClientContext for LookupContext {
    fn error(&self, error: RdKafkaError, reason: &str) {
        match error {
            RdKafkaError::PartitionEOF(_)
            | RdKafkaError::Global(RDKafkaErrorCode::PartitionEOF) => {
                tracing::trace!(%reason, "partition end");
            }
            error => tracing::error!(%error, %reason, "Kafka client error"),
        }
    }
}

impl ConsumerContext for LookupContext {}

/// Partitions whose timestamps are read together (see `first_offsets_at_or_after`).
const LOOKUP_PARTITIONS: usize = 16;

/// A partition's offsets when planning began: `low..high` hold its messages.
#[derive(Debug, Clone, Copy)]
struct PartitionBounds {
    partition: i32,
    low: i64,
    high: i64,
}

struct TimestampReader<'a> {
    consumer: &'a BaseConsumer<LookupContext>,
    config: &'a KafkaTableConfig,
}

impl TimestampReader<'_> {
    /// The broker's offsets-for-times answer for every partition (unchecked).
    fn broker_offsets_for(
        &self,
        bounds: &[PartitionBounds],
        t: i64,
    ) -> Result<HashMap<i32, Offset>, KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for b in bounds {
            tpl.add_partition_offset(&self.config.topic, b.partition, Offset::Offset(t))
                .map_err(|e| self.read_error(b.partition, t, e.to_string()))?;
        }
        let answer = self
            .consumer
            .offsets_for_times(tpl, self.config.timeout())
            .map_err(|source| KafkaError::Unreachable {
                brokers: self.config.brokers.clone(),
                topic: self.config.topic.clone(),
                timeout_ms: self.config.timeout_ms,
                source: Box::new(source),
            })?;
        Ok(answer
            .elements()
            .iter()
            .map(|e| (e.partition(), e.offset()))
            .collect())
    }

    /// Per partition (in `bounds`' order), the first offset in `low..=high` whose message
    /// timestamp is `>= t` (`high` if none): the broker's answer where the neighbouring messages
    /// confirm it, else a binary search. The broker answers for every partition at once; the
    /// checks and searches go `LOOKUP_PARTITIONS` partitions at a time, each step one fetch for
    /// all of them (a fetch brings a whole batch of messages per partition, so not all at once).
    fn first_offsets_at_or_after(
        &self,
        t: i64,
        bounds: &[PartitionBounds],
    ) -> Result<Vec<i64>, KafkaError> {
        let answers = self.broker_offsets_for(bounds, t)?;
        let mut offsets = Vec::with_capacity(bounds.len());
        for chunk in bounds.chunks(LOOKUP_PARTITIONS) {
            offsets.extend(self.search(t, chunk, &answers)?);
        }
        Ok(offsets)
    }

    fn search(
        &self,
        t: i64,
        bounds: &[PartitionBounds],
        answers: &HashMap<i32, Offset>,
    ) -> Result<Vec<i64>, KafkaError> {
        let candidate = |b: &PartitionBounds| match answers.get(&b.partition) {
            Some(Offset::Offset(o)) => Some((*o).clamp(b.low, b.high)),
            Some(Offset::End) => Some(b.high),
            _ => None,
        };
        // Invariant of each search: timestamp(lo - 1) < t (or lo == low), and timestamp(hi) >= t
        // (or hi == high).
        let mut searches: Vec<(i64, i64)> = bounds.iter().map(|b| (b.low, b.high)).collect();
        let candidates: Vec<Option<i64>> = bounds
            .iter()
            .map(|b| candidate(b).filter(|_| b.low < b.high))
            .collect();
        let before = self.timestamps_at(
            bounds
                .iter()
                .zip(&candidates)
                .filter_map(|(b, c)| c.filter(|&o| o > b.low).map(|o| (b.partition, o - 1))),
        )?;
        let at = self.timestamps_at(
            bounds
                .iter()
                .zip(&candidates)
                .filter_map(|(b, c)| c.filter(|&o| o < b.high).map(|o| (b.partition, o))),
        )?;
        for ((b, c), search) in bounds.iter().zip(&candidates).zip(searches.iter_mut()) {
            let Some(o) = *c else { continue };
            let before_ok = o == b.low || before.get(&b.partition).is_some_and(|&ts| ts < t);
            let at_ok = o == b.high || at.get(&b.partition).is_some_and(|&ts| ts >= t);
            if before_ok && at_ok {
                *search = (o, o);
            } else {
                tracing::debug!(
                    partition = b.partition,
                    t,
                    answer = o,
                    "broker offsets-for-times answer is wrong; searching"
                );
            }
        }
        loop {
            let mids: Vec<Option<i64>> = searches
                .iter()
                .map(|&(lo, hi)| (lo < hi).then_some(lo + (hi - lo) / 2))
                .collect();
            if mids.iter().all(Option::is_none) {
                return Ok(searches.into_iter().map(|(lo, _)| lo).collect());
            }
            let timestamps = self.timestamps_at(
                bounds
                    .iter()
                    .zip(&mids)
                    .filter_map(|(b, mid)| mid.map(|m| (b.partition, m))),
            )?;
            for ((b, mid), (lo, hi)) in bounds.iter().zip(&mids).zip(searches.iter_mut()) {
                let Some(mid) = *mid else { continue };
                match timestamps.get(&b.partition) {
                    Some(&ts) if ts < t => *lo = mid + 1,
                    _ => *hi = mid,
                }
            }
        }
    }

    /// Per partition, the timestamp of the first message at or after its offset (offsets can
    /// have gaps); a partition with none there is left out. One partition at most once.
    fn timestamps_at(
        &self,
        wanted: impl IntoIterator<Item = (i32, i64)>,
    ) -> Result<HashMap<i32, i64>, KafkaError> {
        let wanted: HashMap<i32, i64> = wanted.into_iter().collect();
        let mut found = HashMap::with_capacity(wanted.len());
        if wanted.is_empty() {
            return Ok(found);
        }
        let mut tpl = TopicPartitionList::new();
        for (&p, &offset) in &wanted {
            tpl.add_partition_offset(&self.config.topic, p, Offset::Offset(offset))
                .map_err(|e| self.read_error(p, offset, e.to_string()))?;
        }
        let (&first_p, &first_offset) = wanted.iter().next().expect("not empty");
        self.consumer
            .assign(&tpl)
            .map_err(|e| self.read_error(first_p, first_offset, e.to_string()))?;
        let mut ended = HashSet::new();
        let deadline = Instant::now() + self.config.timeout();
        while found.len() + ended.len() < wanted.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            let pending = || {
                wanted
                    .iter()
                    .find(|(p, _)| !found.contains_key(*p))
                    .map_or((first_p, first_offset), |(&p, &o)| (p, o))
            };
            if left.is_zero() {
                let (p, offset) = pending();
                return Err(self.read_error(
                    p,
                    offset,
                    format!("no message within {} ms", self.config.timeout_ms),
                ));
            }
            match self.consumer.poll(left) {
                Some(Ok(m)) => {
                    let p = m.partition();
                    if found.contains_key(&p) || wanted.get(&p).is_none_or(|&o| m.offset() < o) {
                        continue;
                    }
                    let ts = m.timestamp().to_millis().ok_or_else(|| {
                        self.read_error(p, m.offset(), "message has no timestamp".into())
                    })?;
                    found.insert(p, ts);
                }
                // Nothing at or after the offset (a gap up to the end): left out.
                Some(Err(RdKafkaError::PartitionEOF(p))) if wanted.contains_key(&p) => {
                    if !found.contains_key(&p) {
                        ended.insert(p);
                    }
                }
                Some(Err(RdKafkaError::PartitionEOF(_))) | None => continue,
                Some(Err(e)) => {
                    let (p, offset) = pending();
                    return Err(self.read_error(p, offset, e.to_string()));
                }
            }
        }
        Ok(found)
    }

    fn read_error(&self, partition: i32, offset: i64, why: String) -> KafkaError {
        KafkaError::Read {
            topic: self.config.topic.clone(),
            partition,
            offset,
            why,
        }
    }
}
