//! The API's Prometheus metrics: runs by plan and outcome, their durations, and the rows they
//! moved (so that malformed messages show on a dashboard, not only in manifests).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use pvflow_runner::{Plan, RunManifest};

pub(crate) struct RunMetrics {
    registry: Registry,
    submitted: IntCounterVec,
    ended: IntCounterVec,
    running: IntGaugeVec,
    seconds: HistogramVec,
    rows: IntCounterVec,
    notifications: IntCounterVec,
}

/// Run durations from a few seconds (a small plant) to hours (a slow day at fleet scale).
const SECONDS_BUCKETS: [f64; 12] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0,
];

impl RunMetrics {
    pub(crate) fn new() -> RunMetrics {
        // The names and label sets are constants: building them cannot fail.
        let registry = Registry::new();
        let submitted = IntCounterVec::new(
            Opts::new("pvflow_runs_submitted_total", "Plan runs started"),
            &["plan"],
        )
        .expect("valid metric");
        let ended = IntCounterVec::new(
            Opts::new(
                "pvflow_runs_ended_total",
                "Plan runs ended, by state (succeeded, failed, cancelled)",
            ),
            &["plan", "state"],
        )
        .expect("valid metric");
        let running = IntGaugeVec::new(
            Opts::new("pvflow_runs_running", "Plan runs under way"),
            &["plan"],
        )
        .expect("valid metric");
        let seconds = HistogramVec::new(
            HistogramOpts::new("pvflow_run_duration_seconds", "Plan run durations")
                .buckets(SECONDS_BUCKETS.to_vec()),
            &["plan", "state"],
        )
        .expect("valid metric");
        let rows = IntCounterVec::new(
            Opts::new(
                "pvflow_run_rows_total",
                "Rows, messages and windows counted by ended runs (the manifests' counts)",
            ),
            &["plan", "count"],
        )
        .expect("valid metric");
        let notifications = IntCounterVec::new(
            Opts::new(
                "pvflow_run_notifications_total",
                "Runs' end posted to their notify_url: delivered, or failed after every attempt",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        for metric in [
            Box::new(submitted.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(notifications.clone()),
            Box::new(ended.clone()),
            Box::new(running.clone()),
            Box::new(seconds.clone()),
            Box::new(rows.clone()),
        ] {
            registry.register(metric).expect("metric names are unique");
        }
        RunMetrics {
            registry,
            submitted,
            ended,
            running,
            seconds,
            rows,
            notifications,
        }
    }

    /// A run's end posted to its `notify_url` (`delivered`) or given up (`failed`).
    pub(crate) fn notified(&self, outcome: &str) {
        self.notifications.with_label_values(&[outcome]).inc();
    }

    pub(crate) fn submitted(&self, plan: Plan) {
        self.submitted.with_label_values(&[plan.name()]).inc();
        self.running.with_label_values(&[plan.name()]).inc();
    }

    pub(crate) fn ended(&self, manifest: &RunManifest) {
        let plan = manifest.plan.as_str();
        let state = manifest.state.name();
        self.running.with_label_values(&[plan]).dec();
        self.ended.with_label_values(&[plan, state]).inc();
        self.seconds
            .with_label_values(&[plan, state])
            .observe(manifest.seconds);
        for (count, value) in manifest.counts.iter() {
            if let Ok(value) = u64::try_from(value) {
                self.rows.with_label_values(&[plan, count]).inc_by(value);
            }
        }
    }

    /// A run that failed before its plan started (no session).
    pub(crate) fn never_started(&self, plan: &str) {
        self.running.with_label_values(&[plan]).dec();
        self.ended.with_label_values(&[plan, "failed"]).inc();
    }

    /// The runs' metrics, and the process' own (its in-process runs' Kafka scans and functions,
    /// CPU and memory).
    pub(crate) fn text(&self) -> String {
        let mut families = self.registry.gather();
        families.extend(prometheus::gather());
        let mut text = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&families, &mut text) {
            tracing::warn!(error = %e, "cannot encode the metrics");
        }
        String::from_utf8_lossy(&text).into_owned()
    }
}
