//! The data-quality checks users know from NREL's pvanalytics, reading by reading over one
//! series: stale values and linear interpolation (`quality.gaps.stale_values_diff`,
//! `interpolation_diff`, both with `mark='tail'`) and the Hampel outlier identifier
//! (`quality.outliers.hampel`). Same definitions, same defaults; a missing reading (`None`, or
//! not finite) is never flagged and breaks every run and window it falls in, as pandas'
//! rolling windows do with NaN. `fixtures/pvanalytics/` holds pvanalytics' own masks of the
//! labelled series its wheel ships; the tests below require the same masks.

use crate::common::answer;
use crate::list_args::{coerce_float_list, list_of};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanBuilder, ListBuilder};
use datafusion::arrow::datatypes::{DataType, Float32Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, DocSection};
use std::sync::Arc;

/// Where the data-quality functions appear in DataFusion's function reference.
pub(crate) const DATA_QUALITY: DocSection = DocSection {
    include: true,
    label: "Data Quality Functions",
    description: Some("pvanalytics' data-quality checks over a window's sensor series (pvflow)."),
};

/// The argument types of a mask function: a series, then up to `parameters.len()` numbers.
pub(crate) fn coerce_mask_args(
    function: &str,
    parameters: &[&str],
    arg_types: &[DataType],
) -> Result<Vec<DataType>> {
    if arg_types.is_empty() || arg_types.len() > 1 + parameters.len() {
        return plan_err!(
            "{function} takes (series[, {}]), got {} arguments",
            parameters.join("[, "),
            arg_types.len()
        );
    }
    coerce_float_list(function, "series", &arg_types[0])?;
    let mut coerced = vec![list_of(DataType::Float32)];
    for (name, arg) in parameters.iter().zip(&arg_types[1..]) {
        if !arg.is_numeric() {
            return plan_err!("{function}: `{name}` must be a number, got {arg}");
        }
        coerced.push(DataType::Float64);
    }
    Ok(coerced)
}

/// The list-of-booleans type every mask function returns.
pub(crate) fn mask_type() -> DataType {
    list_of(DataType::Boolean)
}

/// The constant number argument `k` (1-based after the series), or `default` when not given.
pub(crate) fn parameter(
    function: &str,
    name: &str,
    args: &[ColumnarValue],
    k: usize,
    default: f64,
) -> Result<f64> {
    match args.get(k) {
        None => Ok(default),
        Some(ColumnarValue::Scalar(ScalarValue::Float64(Some(x)))) if x.is_finite() => Ok(*x),
        Some(_) => exec_err!("{function}: `{name}` must be a constant number"),
    }
}

/// A window length parameter: a whole number at least `min` (and odd when `odd`).
pub(crate) fn window_parameter(
    function: &str,
    args: &[ColumnarValue],
    default: usize,
    min: usize,
    odd: bool,
) -> Result<usize> {
    let window = parameter(function, "window", args, 1, default as f64)?;
    if window.fract() != 0.0
        || window < min as f64
        || window > 4096.0
        || (odd && window % 2.0 == 0.0)
    {
        let kind = if odd {
            "an odd whole number"
        } else {
            "a whole number"
        };
        return exec_err!("{function}: `window` must be {kind} from {min} to 4096, not {window}");
    }
    Ok(window as usize)
}

/// Row by row, `mask` of the series' readings (NULL for a NULL series).
pub(crate) fn map_series(
    args: &[ColumnarValue],
    mask: impl Fn(&[Option<f64>]) -> Vec<bool>,
) -> Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(&args[..1])?;
    let series = arrays[0].as_list::<i32>();
    let mut masks = ListBuilder::new(BooleanBuilder::new());
    let mut readings = Vec::new();
    for row in 0..series.len() {
        if series.is_null(row) {
            masks.append_null();
            continue;
        }
        let values = series.value(row);
        let values = values.as_primitive::<Float32Type>();
        readings.clear();
        readings.extend(values.iter().map(|v| v.map(f64::from)));
        masks.values().append_slice(&mask(&readings));
        masks.append(true);
    }
    let result: ArrayRef = Arc::new(masks.finish());
    answer(&args[..1], result)
}

/// pvanalytics' defaults: the run lengths of `stale_values_diff` and `interpolation_diff`, the
/// window and threshold of `hampel`.
pub const STALE_WINDOW: usize = 6;
pub const INTERPOLATION_WINDOW: usize = 6;
pub const HAMPEL_WINDOW: usize = 5;
pub const HAMPEL_MAX_DEVIATION: f64 = 3.0;

/// `norm.ppf(3/4)`: the median absolute deviation over this estimates a gaussian's standard
/// deviation (statsmodels' `robust.scale.mad`).
const MAD_TO_SIGMA: f64 = 0.674_489_750_196_081_7;

/// Tolerances of "unchanged", as `numpy.allclose`: `|x - first| <= atol + rtol * |first|`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    pub rtol: f64,
    pub atol: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            rtol: 1e-5,
            atol: 1e-8,
        }
    }
}

impl Tolerance {
    fn close(self, x: f64, first: f64) -> bool {
        (x - first).abs() <= self.atol + self.rtol * first.abs()
    }
}

fn valid(x: Option<f64>) -> Option<f64> {
    x.filter(|x| x.is_finite())
}

/// Ends of the windows of `window` readings that all stay close to the window's first.
fn stale_ends(x: &[Option<f64>], window: usize, tolerance: Tolerance) -> Vec<bool> {
    (0..x.len())
        .map(|end| {
            end + 1 >= window && {
                let run = &x[end + 1 - window..=end];
                match valid(run[0]) {
                    Some(first) => run
                        .iter()
                        .all(|&r| valid(r).is_some_and(|r| tolerance.close(r, first))),
                    None => false,
                }
            }
        })
        .collect()
}

/// Marks every reading of each flagged window but its first (pvanalytics' `mark='tail'`).
fn mark_tails(ends: &[bool], window: usize) -> Vec<bool> {
    let mut marks = vec![false; ends.len()];
    for (end, _) in ends.iter().enumerate().filter(|(_, flagged)| **flagged) {
        for mark in &mut marks[end + 2 - window..=end] {
            *mark = true;
        }
    }
    marks
}

/// Readings that repeat the reading `window - 1` places before them within `tolerance`, and the
/// readings of that run after its first (`stale_values_diff`, default window 6). `window` must
/// be at least 2.
pub fn stale_mask(x: &[Option<f64>], window: usize, tolerance: Tolerance) -> Vec<bool> {
    mark_tails(&stale_ends(x, window, tolerance), window)
}

/// Readings on a straight line: runs of `window` readings whose steps all equal the first
/// step within `tolerance`, every reading but the run's first (`interpolation_diff`, default
/// window 6; a stale run is a line too). `window` must be at least 3.
pub fn interpolation_mask(x: &[Option<f64>], window: usize, tolerance: Tolerance) -> Vec<bool> {
    let steps: Vec<Option<f64>> = (0..x.len())
        .map(|k| match k {
            0 => None,
            _ => Some(valid(x[k])? - valid(x[k - 1])?),
        })
        .collect();
    mark_tails(&stale_ends(&steps, window - 1, tolerance), window)
}

/// Readings further than `max_deviation` robust standard deviations (median absolute
/// deviation / 0.6745) from the median of the `window` readings centred on them (`hampel`,
/// defaults 5 and 3). Readings without a whole window around them are not flagged. `window`
/// must be odd.
pub fn hampel_mask(x: &[Option<f64>], window: usize, max_deviation: f64) -> Vec<bool> {
    let half = window / 2;
    let mut around = Vec::with_capacity(window);
    (0..x.len())
        .map(|k| {
            if k < half || k + half >= x.len() {
                return false;
            }
            around.clear();
            around.extend(x[k - half..=k + half].iter().map(|&r| valid(r)));
            let Some(mut values) = around.iter().copied().collect::<Option<Vec<f64>>>() else {
                return false;
            };
            let centre = median(&mut values);
            let mut deviations: Vec<f64> = values.iter().map(|v| (v - centre).abs()).collect();
            let mad = median(&mut deviations) / MAD_TO_SIGMA;
            x[k].is_some_and(|reading| (reading - centre).abs() > max_deviation * mad)
        })
        .collect()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        0.5 * (values[n / 2 - 1] + values[n / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn a_run_is_flagged_after_its_first_reading() {
        let x: Vec<Option<f64>> = [1.0, 2.0, 2.0, 2.0, 2.0, 3.0]
            .into_iter()
            .map(Some)
            .collect();
        assert_eq!(
            stale_mask(&x, 3, Tolerance::default()),
            [false, false, true, true, true, false]
        );
        let mut gap = x.clone();
        gap[3] = None;
        assert_eq!(stale_mask(&gap, 3, Tolerance::default()), [false; 6]);
    }

    #[test]
    fn lines_are_interpolation_and_spikes_outliers() {
        let x: Vec<Option<f64>> = [5.0, 1.0, 2.0, 3.0, 4.0, 9.0, 4.5]
            .into_iter()
            .map(Some)
            .collect();
        assert_eq!(
            interpolation_mask(&x, 4, Tolerance::default()),
            [false, false, true, true, true, false, false]
        );
        let spike: Vec<Option<f64>> = [1.0, 1.1, 0.9, 1.0, 8.0, 1.05, 0.95, 1.0, 1.0]
            .into_iter()
            .map(Some)
            .collect();
        let flagged: Vec<usize> = hampel_mask(&spike, 5, 3.0)
            .iter()
            .enumerate()
            .filter_map(|(k, f)| f.then_some(k))
            .collect();
        assert_eq!(flagged, [4]);
    }

    /// A labelled series of pvanalytics' wheel, and pvanalytics' own mask of it.
    fn reference(input: &str, output: &str) -> (Vec<Option<f64>>, Vec<bool>) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pvanalytics");
        let column = |file: &str, k: usize| -> Vec<String> {
            let text = std::fs::read_to_string(dir.join(file)).expect("a fixture");
            text.lines()
                .skip(1)
                .map(|l| l.split(',').nth(k).unwrap_or_default().to_string())
                .collect()
        };
        let values = column(input, 1)
            .iter()
            .map(|v| v.parse::<f64>().ok())
            .collect();
        let mask = column(output, 2).iter().map(|m| m == "True").collect();
        (values, mask)
    }

    #[test]
    fn the_masks_equal_pvanalytics_on_its_labelled_series() {
        let (x, expected) = reference(
            "ac_power_inv_2173_stale_data.csv",
            "pvanalytics_stale_values_diff.csv",
        );
        assert_eq!(stale_mask(&x, STALE_WINDOW, Tolerance::default()), expected);
        let (x, expected) = reference(
            "ac_power_inv_2173_interpolated_data.csv",
            "pvanalytics_interpolation_diff.csv",
        );
        assert_eq!(
            interpolation_mask(&x, INTERPOLATION_WINDOW, Tolerance::default()),
            expected
        );
        let (x, expected) = reference("ac_power_inv_7539_outliers.csv", "pvanalytics_hampel.csv");
        assert_eq!(
            hampel_mask(&x, HAMPEL_WINDOW, HAMPEL_MAX_DEVIATION),
            expected
        );
    }
}
