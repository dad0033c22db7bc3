//! Prometheus metrics of the stream, in the process' default registry, served on
//! `pvflow stream --metrics-bind` with the process' CPU and memory and the model's batches.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, register_histogram_vec,
    register_int_counter_vec, register_int_gauge_vec,
};
use std::sync::LazyLock;

// Names and labels are constants: registering them fails only if a name were taken twice.
static READINGS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "pvflow_stream_readings_total",
            "Readings the stream took, by what became of them: open (placed in an open window), \
             late (its window had closed; dropped), written_before (read again to rebuild open \
             windows, of a window the live table has)"
        ),
        &["topic", "outcome"]
    )
    .expect("metric registered once")
});

static MALFORMED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "pvflow_stream_malformed_messages_total",
            "Messages that are not readings, quarantined"
        ),
        &["topic"]
    )
    .expect("metric registered once")
});

static WINDOWS_CLOSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "pvflow_stream_windows_closed_total",
            "Windows closed, by why: full (64 slots) or watermark"
        ),
        &["topic", "reason"]
    )
    .expect("metric registered once")
});

static WINDOWS_OPEN: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        Opts::new(
            "pvflow_stream_windows_open",
            "Windows open on this member's partitions"
        ),
        &["topic"]
    )
    .expect("metric registered once")
});

static EPISODE_EVENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "pvflow_stream_episode_events_total",
            "Fault episode events published, by kind: opened or closed"
        ),
        &["topic", "kind"]
    )
    .expect("metric registered once")
});

static EPISODES_OPEN: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        Opts::new(
            "pvflow_stream_episodes_open",
            "Fault episodes open on this member's partitions' devices"
        ),
        &["topic"]
    )
    .expect("metric registered once")
});

static COMMITS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "pvflow_stream_commits_total",
            "Commits to the live table, and the windows they wrote"
        ),
        &["topic", "what"]
    )
    .expect("metric registered once")
});

static DELAY: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        HistogramOpts::new(
            "pvflow_stream_diagnosis_delay_seconds",
            "From a window's end to its diagnosis being committed (wall clock against the \
             readings' time: a replay of old readings shows as large delays; a full window, \
             complete at its last slot 20 s before its end, can be diagnosed before it)"
        )
        // Fine up to the watermark's default delay + grace (180 s), where live windows land.
        .buckets(vec![
            0.0, 2.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 150.0, 180.0, 190.0, 200.0,
            210.0, 240.0, 300.0, 600.0, 1800.0, 3600.0, 86_400.0,
        ]),
        &["topic"]
    )
    .expect("metric registered once")
});

static LAG: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        Opts::new(
            "pvflow_stream_consumer_lag",
            "Messages in a partition past the group's committed offset (the open windows' first \
             reading: at most a window's worth when the stream keeps up), from librdkafka's \
             statistics every 5 s"
        ),
        &["topic", "partition"]
    )
    .expect("metric registered once")
});

pub(crate) fn readings(topic: &str, outcome: &str, n: u64) {
    READINGS.with_label_values(&[topic, outcome]).inc_by(n);
}

pub(crate) fn malformed(topic: &str, n: u64) {
    MALFORMED.with_label_values(&[topic]).inc_by(n);
}

pub(crate) fn windows_closed(topic: &str, reason: &str, n: usize) {
    WINDOWS_CLOSED
        .with_label_values(&[topic, reason])
        .inc_by(n as u64);
}

pub(crate) fn windows_open(topic: &str, n: usize) {
    WINDOWS_OPEN.with_label_values(&[topic]).set(n as i64);
}

pub(crate) fn committed(topic: &str, windows: usize) {
    COMMITS.with_label_values(&[topic, "commits"]).inc();
    COMMITS
        .with_label_values(&[topic, "windows"])
        .inc_by(windows as u64);
}

pub(crate) fn diagnosis_delay(topic: &str, seconds: f64) {
    DELAY.with_label_values(&[topic]).observe(seconds.max(0.0));
}

pub(crate) fn lag(topic: &str, partition: i32, messages: i64) {
    LAG.with_label_values(&[topic, &partition.to_string()])
        .set(messages.max(0));
}

pub(crate) fn forget_partition(topic: &str, partition: i32) {
    let _ = LAG.remove_label_values(&[topic, &partition.to_string()]);
}

pub(crate) fn episode_event(topic: &str, kind: &str) {
    EPISODE_EVENTS.with_label_values(&[topic, kind]).inc();
}

pub(crate) fn episodes_open(topic: &str, open: usize) {
    EPISODES_OPEN.with_label_values(&[topic]).set(open as i64);
}
