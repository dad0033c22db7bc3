//! pvflow's DataFusion functions: the signal-processing half of the fault pipeline.
//!
//! - [`cwt_morlet`](cwt_morlet::CwtMorlet): the Morlet continuous wavelet transform of a series,
//!   numerically equal to PyWavelets' `pywt.cwt(x, scales, 'morl')`.
//! - [`pv_scalogram`](pv_scalogram::PvScalogram): a window's four sensor series as one
//!   normalised 4x64x64 image for the CNN.
//! - [`pv_window_series`](pv_window_series::PvWindowSeries): an aggregate laying a window's
//!   readings of one sensor out on its 64 slots, the series `pv_scalogram` takes.
//! - [`pv_fault_classify`](pv_fault_classify::PvFaultClassify): a scalogram's fault class by the
//!   configured ONNX model ([`fault_model`]), run by ONNX Runtime in batches.
//!
//! The functions count their work (windows imaged and classified, the model's batch latency) in
//! the process' Prometheus registry.
//!
//! Both are vectorised over whole Arrow arrays: the transform of every equal-length series in a
//! batch is one matrix product with a matrix built once per process ([`morlet`]).

pub mod cwt_morlet;
pub mod fault_model;
mod list_args;
mod metrics;
pub mod morlet;
pub mod normalization;
pub mod pv_fault_classify;
pub mod pv_scalogram;
pub mod pv_window_series;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use fault_model::FaultModel;
use normalization::Normalization;
use std::sync::Arc;

/// Every pvflow scalar function, ready to register in a session. `normalization` fixes the
/// parameters `pv_scalogram` applies (a model's `normalization.json`); `model` is the
/// classifier `pv_fault_classify` runs (without one, the function plans but fails to run).
pub fn all_udfs(normalization: Normalization, model: Option<Arc<FaultModel>>) -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(cwt_morlet::CwtMorlet::new()),
        ScalarUDF::from(pv_scalogram::PvScalogram::new(normalization)),
        ScalarUDF::from(pv_fault_classify::PvFaultClassify::new(model)),
    ]
}

/// Every pvflow aggregate function.
pub fn all_udafs() -> Vec<AggregateUDF> {
    vec![AggregateUDF::from(pv_window_series::PvWindowSeries::new())]
}
