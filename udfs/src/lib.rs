//! pvflow's DataFusion functions: the signal-processing half of the fault pipeline.
//!
//! - `cwt_morlet(values [, num_scales])`: the Morlet continuous wavelet transform of a series,
//!   numerically equal to PyWavelets' `pywt.cwt(x, scales, 'morl')`.
//! - `pv_window_series(slot, ts, value)`: an aggregate laying a window's readings of one sensor
//!   out on its 64 slots ([`WINDOW_LEN`]), the series `pv_scalogram` takes.
//! - `pv_scalogram(voltage, current, temperature, irradiance [, slot])`: a window's four sensor
//!   series as one normalised 4x64x64 image for the CNN.
//! - `pv_fault_classify(scalogram)`, or `pv_fault_classify(voltage, current, temperature,
//!   irradiance)`: a window's fault class by the configured ONNX model ([`FaultModel`]), run by
//!   ONNX Runtime in batches; the four-series form makes the scalograms itself, 128 at a time.
//! - `pv_series_mean(series)`, `pv_dc_power(voltage, current)` and
//!   `pv_expected_dc_power(irradiance, temperature, rated_power_w, gamma_pdc_per_c)`: a window's
//!   mean reading, its measured DC power and the power PVWatts expects of a healthy array
//!   ([`ArrayRating`]).
//!
//! `docs/udfs.md` is their SQL reference; `SHOW FUNCTIONS` prints the same text. All of them
//! are vectorised over whole Arrow arrays: the transform of every equal-length series in a batch
//! is one matrix product with a matrix built once per process ([`DenseCwt`]). They count their
//! work (windows imaged and classified, the model's batch latency) in the process' Prometheus
//! registry.
//!
//! # Example: a transform in SQL
//!
//! ```
//! use datafusion::prelude::SessionContext;
//! use pvflow_udfs::Normalization;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> datafusion::common::Result<()> {
//! let ctx = SessionContext::new();
//! for udf in pvflow_udfs::all_udfs(Normalization::IDENTITY, None) {
//!     ctx.register_udf(udf);
//! }
//! for udaf in pvflow_udfs::all_udafs() {
//!     ctx.register_udaf(udaf);
//! }
//! let batches = ctx
//!     .sql("SELECT array_length(cwt_morlet([0.0, 1.0, 0.0, -1.0], 3)) AS scales")
//!     .await?
//!     .collect()
//!     .await?;
//! assert_eq!(batches[0].num_rows(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Example: the transform as a Rust function
//!
//! ```
//! // Scales 1..=2 of a 4-sample series, scale after scale.
//! let coefficients = pvflow_udfs::cwt(&[0.0_f64, 1.0, 0.0, -1.0], 2);
//! assert_eq!(coefficients.len(), 2 * 4);
//! ```

mod common;
mod cwt_morlet;
mod fault_model;
mod list_args;
mod metrics;
mod morlet;
mod normalization;
mod pv_dc_power;
mod pv_expected_dc_power;
mod pv_fault_classify;
mod pv_interpolated_mask;
mod pv_irradiance_at_night;
mod pv_outlier_mask;
mod pv_quality_flags;
mod pv_scalogram;
mod pv_series_mean;
mod pv_stale_mask;
mod pv_window_series;
mod quality_masks;
mod slot_means;
#[cfg(test)]
mod tests_support;

pub use common::{
    CHANNELS, IMAGE_LEN, MIN_VALID_READINGS, NUM_SCALES, READING_INTERVAL_SECONDS, WINDOW_LEN,
    WINDOW_SECONDS, window_slot, windowed_readings,
};
pub use fault_model::{FAULT_LABELS, FaultModel, ModelError};
pub use morlet::{CwtFloat, DenseCwt, cwt};
pub use normalization::{Nameplate, Normalization, NormalizationError, SeriesScale};
pub use pv_expected_dc_power::ArrayRating;
pub use pv_scalogram::{PvScalogram, scalogram_type};

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use std::sync::Arc;

/// Every pvflow scalar function, ready to register in a session. `normalization` fixes the
/// parameters `pv_scalogram` applies (a model's `normalization.json`); `model` is the
/// classifier `pv_fault_classify` runs (without one, the function plans but fails to run).
pub fn all_udfs(normalization: Normalization, model: Option<Arc<FaultModel>>) -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(cwt_morlet::CwtMorlet::new()),
        ScalarUDF::from(PvScalogram::new(normalization)),
        ScalarUDF::from(pv_fault_classify::PvFaultClassify::new(
            normalization,
            model,
        )),
        ScalarUDF::from(pv_series_mean::PvSeriesMean::new()),
        ScalarUDF::from(pv_dc_power::PvDcPower::new()),
        ScalarUDF::from(pv_expected_dc_power::PvExpectedDcPower::new()),
        ScalarUDF::from(pv_stale_mask::PvStaleMask::new()),
        ScalarUDF::from(pv_interpolated_mask::PvInterpolatedMask::new()),
        ScalarUDF::from(pv_outlier_mask::PvOutlierMask::new()),
        ScalarUDF::from(pv_quality_flags::PvQualityFlags::new()),
        ScalarUDF::from(pv_irradiance_at_night::PvIrradianceAtNight::new()),
    ]
}

/// Every pvflow aggregate function.
pub fn all_udafs() -> Vec<AggregateUDF> {
    vec![AggregateUDF::from(pv_window_series::PvWindowSeries::new())]
}
