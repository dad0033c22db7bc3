//! Plan time: which offsets of which partitions hold a time range.
//!
//! Kafka's offsets-for-times answers "the first offset whose timestamp is >= t" per partition.
//! Not every broker answers it correctly (librdkafka's mock cluster returns "end" for every
//! timestamp; tansu returns 0 past the last message), so every answer is checked against the
//! timestamps of the messages around it, and a wrong answer falls back to a binary search that
//! reads message timestamps. Both assume what Kafka's own time index assumes: within a
//! partition, producers write in timestamp order. Rows outside the range are filtered exactly
//! at scan time whatever the offsets.

use crate::error::KafkaError;
use crate::options::KafkaTableConfig;
use crate::time_range::TimeRange;
use rdkafka::Offset;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::TopicPartitionList;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
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
    let consumer: BaseConsumer = config
        .consumer_config()
        .set("fetch.wait.max.ms", "10")
        .create()
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
    let reader = TimestampReader {
        consumer: &consumer,
        config,
    };
    let starts = range
        .start
        .map(|t| reader.broker_offsets_for(&partitions, t))
        .transpose()?;
    let ends = range
        .end
        .map(|t| reader.broker_offsets_for(&partitions, t))
        .transpose()?;
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(&config.topic, p, config.timeout())
            .map_err(unreachable)?;
        let bound = |t: Option<i64>, answers: &Option<HashMap<i32, Offset>>, default: i64| match (
            t, answers,
        ) {
            (Some(t), Some(a)) => {
                reader.first_offset_at_or_after(p, t, low, high, a.get(&p).copied())
            }
            _ => Ok(default),
        };
        let start = bound(range.start, &starts, low)?;
        let end = bound(range.end, &ends, high)?;
        let mut s = start;
        while s < end {
            let e = end.min(s.saturating_add(config.max_slice_messages));
            slices.push(KafkaSlice {
                partition: p,
                start: s,
                end: e,
            });
            s = e;
        }
    }
    tracing::debug!(topic = %config.topic, ?range, slices = slices.len(), elapsed_ms = started.elapsed().as_millis() as u64, "planned Kafka scan");
    Ok(slices)
}

struct TimestampReader<'a> {
    consumer: &'a BaseConsumer,
    config: &'a KafkaTableConfig,
}

impl TimestampReader<'_> {
    /// The broker's offsets-for-times answer for every partition (unchecked).
    fn broker_offsets_for(
        &self,
        partitions: &[i32],
        t: i64,
    ) -> Result<HashMap<i32, Offset>, KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            tpl.add_partition_offset(&self.config.topic, p, Offset::Offset(t))
                .map_err(|e| self.read_error(p, t, e.to_string()))?;
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

    /// The first offset in `low..=high` whose message timestamp is `>= t` (`high` if none):
    /// the broker's answer when the neighbouring messages confirm it, else a binary search.
    fn first_offset_at_or_after(
        &self,
        p: i32,
        t: i64,
        low: i64,
        high: i64,
        answer: Option<Offset>,
    ) -> Result<i64, KafkaError> {
        if low >= high {
            return Ok(low);
        }
        let candidate = match answer {
            Some(Offset::Offset(o)) => Some(o.clamp(low, high)),
            Some(Offset::End) => Some(high),
            _ => None,
        };
        if let Some(o) = candidate {
            let before_ok = o == low || self.timestamp_at(p, o - 1)? < t;
            let at_ok = o == high || self.timestamp_at(p, o)? >= t;
            if before_ok && at_ok {
                return Ok(o);
            }
            tracing::debug!(
                partition = p,
                t,
                answer = o,
                "broker offsets-for-times answer is wrong; searching"
            );
        }
        // Invariant: timestamp(lo - 1) < t (or lo == low) and timestamp(hi) >= t (or hi == high).
        let (mut lo, mut hi) = (low, high);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.timestamp_at(p, mid)? < t {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// The timestamp of the first message at or after `offset` (offsets can have gaps).
    fn timestamp_at(&self, p: i32, offset: i64) -> Result<i64, KafkaError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.config.topic, p, Offset::Offset(offset))
            .map_err(|e| self.read_error(p, offset, e.to_string()))?;
        self.consumer
            .assign(&tpl)
            .map_err(|e| self.read_error(p, offset, e.to_string()))?;
        let deadline = Instant::now() + self.config.timeout();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.read_error(
                    p,
                    offset,
                    format!("no message within {} ms", self.config.timeout_ms),
                ));
            }
            match self.consumer.poll(left) {
                Some(Ok(m)) if m.partition() == p && m.offset() >= offset => {
                    return m.timestamp().to_millis().ok_or_else(|| {
                        self.read_error(p, offset, "message has no timestamp".into())
                    });
                }
                Some(Ok(_)) | Some(Err(RdKafkaError::PartitionEOF(_))) | None => continue,
                Some(Err(e)) => return Err(self.read_error(p, offset, e.to_string())),
            }
        }
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
