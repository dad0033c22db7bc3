//! Prometheus counters of the functions' work, in the process' default registry: every node
//! that runs them (an executor, an in-process run) serves them with its other metrics.

use prometheus::{
    Counter, Histogram, HistogramOpts, IntCounterVec, Opts, register_counter, register_histogram,
    register_int_counter_vec,
};
use std::sync::LazyLock;

// Names and labels are constants: registering them fails only if a name were taken twice.

/// Windows `pv_scalogram` transformed, by `result`: `imaged`, or `no_image` (a NULL series, or
/// a channel with too few valid readings).
pub(crate) static SCALOGRAMS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "pvflow_scalograms_total",
            "Windows pv_scalogram transformed, by result"
        ),
        &["result"]
    )
    .expect("metric registered once")
});

pub(crate) static SCALOGRAM_SECONDS: LazyLock<Counter> = LazyLock::new(|| {
    register_counter!(
        "pvflow_scalogram_seconds_total",
        "Time pv_scalogram spent on its batches (CWT and normalisation)"
    )
    .expect("metric registered once")
});

/// Windows `pv_fault_classify` classified, by `fault_label` (`none` for a NULL result).
pub(crate) static CLASSIFIED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "pvflow_windows_classified_total",
            "Windows pv_fault_classify classified, by fault label (none: no valid image)"
        ),
        &["fault_label"]
    )
    .expect("metric registered once")
});

/// One ONNX Runtime call on a batch of up to `BATCH_ROWS` images: the model's latency.
pub(crate) static MODEL_BATCH_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        HistogramOpts::new(
            "pvflow_model_batch_seconds",
            "Time of one ONNX Runtime run of the fault model on a batch of images"
        )
        .buckets(vec![
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0
        ])
    )
    .expect("metric registered once")
});
