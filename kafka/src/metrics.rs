//! Prometheus counters of Kafka scans, in the process' default registry: every node that reads
//! Kafka (an executor, an in-process run) serves them with its other metrics.

use prometheus::{
    CounterVec, IntCounter, IntCounterVec, Opts, register_counter_vec, register_int_counter_vec,
};
use std::sync::LazyLock;

/// Labels: `topic`, and `scan`, `readings` or `quarantine` (a quarantine scan reads the same
/// messages again and keeps the malformed ones).
const LABELS: [&str; 2] = ["topic", "scan"];

// Names and labels are constants: registering them fails only if a name were taken twice.
static MESSAGES_READ: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "pvflow_kafka_messages_read_total",
            "Kafka messages read by scans"
        ),
        &LABELS
    )
    .expect("metric registered once")
});

static ROWS_EMITTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "pvflow_kafka_rows_emitted_total",
            "Rows scans handed to their queries: readings in range (scan=readings), malformed \
             messages in range (scan=quarantine)"
        ),
        &LABELS
    )
    .expect("metric registered once")
});

static READ_SECONDS: LazyLock<CounterVec> = LazyLock::new(|| {
    register_counter_vec!(
        Opts::new(
            "pvflow_kafka_read_seconds_total",
            "Time scans spent reading and decoding Kafka slices"
        ),
        &LABELS
    )
    .expect("metric registered once")
});

/// One scan's counters.
#[derive(Clone)]
pub(crate) struct ScanCounters {
    pub messages: IntCounter,
    pub rows: IntCounter,
    pub seconds: prometheus::Counter,
}

impl ScanCounters {
    pub(crate) fn new(topic: &str, quarantine: bool) -> ScanCounters {
        let labels = [topic, if quarantine { "quarantine" } else { "readings" }];
        ScanCounters {
            messages: MESSAGES_READ.with_label_values(&labels),
            rows: ROWS_EMITTED.with_label_values(&labels),
            seconds: READ_SECONDS.with_label_values(&labels),
        }
    }
}
