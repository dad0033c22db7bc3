//! pvflow's DataFusion functions: the signal-processing half of the fault pipeline.
//!
//! - [`cwt_morlet`](cwt_morlet::CwtMorlet): the Morlet continuous wavelet transform of a series,
//!   numerically equal to PyWavelets' `pywt.cwt(x, scales, 'morl')`.
//! - [`pv_scalogram`](pv_scalogram::PvScalogram): a window's four sensor series as one
//!   normalised 4x64x64 image for the CNN.
//!
//! Both are vectorised over whole Arrow arrays: the transform of every equal-length series in a
//! batch is one matrix product with a matrix built once per process ([`morlet`]).

pub mod cwt_morlet;
mod list_args;
pub mod morlet;
pub mod normalization;
pub mod pv_scalogram;

use datafusion::logical_expr::ScalarUDF;
use normalization::Normalization;

/// Every pvflow scalar function, ready to register in a session. `normalization` fixes the
/// parameters `pv_scalogram` applies (a model's `normalization.json`).
pub fn all_udfs(normalization: Normalization) -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(cwt_morlet::CwtMorlet::new()),
        ScalarUDF::from(pv_scalogram::PvScalogram::new(normalization)),
    ]
}
