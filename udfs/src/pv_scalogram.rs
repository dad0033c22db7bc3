//! `pv_scalogram(voltage, current, temperature, irradiance [, slot])`: one window's four series
//! as one normalised 4x64x64 wavelet image, the CNN's input.

use crate::common::{
    CHANNELS, IMAGE_LEN, MIN_VALID_READINGS, NUM_SCALES, SIGNAL_PROCESSING, WINDOW_LEN,
    WINDOWING_EXAMPLE, answer,
};
use crate::list_args::{coerce_float_list, coerce_int_list, list_element, list_of, row_values};
use crate::metrics;
use crate::morlet::DenseCwt;
use crate::normalization::{Nameplate, Normalization};
use crate::pv_expected_dc_power::ArrayRating;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, ListArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Float32Type, Float64Type, Int64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::{Arc, LazyLock};
use std::time::Instant;

/// The scalogram type: `FixedSizeList<Float32, 16384>`, laid out `[channel][scale][time]`.
pub fn scalogram_type() -> DataType {
    DataType::FixedSizeList(
        Arc::new(Field::new_list_field(DataType::Float32, true)),
        IMAGE_LEN as i32,
    )
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PvScalogram {
    signature: Signature,
    normalization: Normalization,
}

impl Default for PvScalogram {
    fn default() -> Self {
        Self::new(Normalization::IDENTITY)
    }
}

impl PvScalogram {
    /// The function with fixed normalisation parameters (usually a model's
    /// `normalization.json`).
    pub fn new(normalization: Normalization) -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            normalization,
        }
    }

    pub fn normalization(&self) -> &Normalization {
        &self.normalization
    }
}

impl ScalarUDFImpl for PvScalogram {
    fn name(&self) -> &str {
        "pv_scalogram"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_window_args("pv_scalogram", &self.normalization, arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(scalogram_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        answer(&args.args, self.scalograms(&arrays)?)
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            Documentation::builder(
                SIGNAL_PROCESSING,
                "The scalogram of one 64-reading window of a PV array: the Morlet CWT \
                 (scales 1..=64, as `cwt_morlet`) of each of the four series after fixed \
                 per-channel normalisation `(x - mean) / std`, stacked channel-first into one \
                 4x64x64 Float32 image (`FixedSizeList<Float32, 16384>`, \
                 `[channel][scale][time]`, channels voltage, current, temperature, \
                 irradiance). Missing readings (absent slots, NULL, NaN, infinite) are filled \
                 per channel by linear interpolation between the nearest valid readings, and \
                 by the nearest valid reading at the window's ends. The image is NULL when any \
                 series is NULL or any channel has fewer than 48 valid readings.",
                "pv_scalogram(voltage, current, temperature, irradiance[, slot]\
                 [, v_mp, i_mp, gamma_pdc_per_c])",
            )
            .with_sql_example(WINDOWING_EXAMPLE)
            .with_argument(
                "voltage",
                "The window's voltage readings: its 64-slot series (`pv_window_series`), or a \
                 list in time order.",
            )
            .with_argument("current", "List of current readings, same length.")
            .with_argument("temperature", "List of temperature readings, same length.")
            .with_argument("irradiance", "List of irradiance readings, same length.")
            .with_argument(
                "slot",
                "Optional list of each reading's position in the window, 0..=63 (same length \
                 as the series). Without it, reading i is at position i. A position given \
                 twice keeps its first valid reading.",
            )
            .with_argument(
                "v_mp, i_mp, gamma_pdc_per_c",
                "The array's maximum-power voltage (V) and current (A) at STC and its power's \
                 temperature coefficient (1/C): `devices.v_mp`, `devices.i_mp`, \
                 `devices.gamma_pdc_per_c`. Required by a `nameplate` or `operating_point` \
                 normalisation, which divide the series by them; a row whose nameplate is NULL \
                 has no image.",
            )
            .with_related_udf("cwt_morlet")
            .with_related_udf("pv_window_series")
            .build()
        });
        Some(&DOC)
    }
}

/// The argument types of a window's four series, then (for `pv_scalogram`) the optional slots,
/// then the array's `v_mp`, `i_mp` and `gamma_pdc_per_c`, which the `nameplate` and
/// `operating_point` normalisations require.
pub(crate) fn coerce_window_args(
    function: &str,
    normalization: &Normalization,
    arg_types: &[DataType],
) -> Result<Vec<DataType>> {
    let usage = || {
        plan_err!(
            "{function} takes (voltage, current, temperature, irradiance[, slot]\
             [, v_mp, i_mp, gamma_pdc_per_c]), got {} arguments",
            arg_types.len()
        )
    };
    if !(4..=8).contains(&arg_types.len()) {
        return usage();
    }
    let mut coerced = Vec::with_capacity(arg_types.len());
    for (name, arg) in CHANNELS.iter().zip(arg_types) {
        coerce_float_list(function, name, arg)?;
        coerced.push(list_of(DataType::Float32));
    }
    let mut rest = &arg_types[4..];
    if let Some(slot) = rest.first().filter(|t| list_element(t).is_some()) {
        if function != "pv_scalogram" {
            return usage();
        }
        coerced.push(coerce_int_list(function, "slot", slot)?);
        rest = &rest[1..];
    }
    match rest {
        [] if normalization.scale.needs_nameplate() => plan_err!(
            "{function}: the model's normalisation is by nameplate: pass each array's v_mp, \
             i_mp and gamma_pdc_per_c after the series (devices.v_mp, devices.i_mp, \
             devices.gamma_pdc_per_c)"
        ),
        [] => Ok(coerced),
        [v_mp, i_mp, gamma] => {
            for (name, arg) in [("v_mp", v_mp), ("i_mp", i_mp), ("gamma_pdc_per_c", gamma)] {
                if !(arg.is_numeric() || arg.is_null()) {
                    return plan_err!("{function}: `{name}` must be a number, got {arg}");
                }
                coerced.push(DataType::Float64);
            }
            Ok(coerced)
        }
        _ => usage(),
    }
}

impl PvScalogram {
    /// The images of every row of `arrays` (the four series as `List<Float32>`, then the
    /// optional `List<Int64>` of slots), NULL where a row has none; counted in the metrics.
    pub(crate) fn scalograms(&self, arrays: &[ArrayRef]) -> Result<ArrayRef> {
        let started = Instant::now();
        let result = self.images(arrays)?;
        metrics::SCALOGRAM_SECONDS.inc_by(started.elapsed().as_secs_f64());
        let without_image = result.null_count() as u64;
        metrics::SCALOGRAMS
            .with_label_values(&["imaged"])
            .inc_by(result.len() as u64 - without_image);
        metrics::SCALOGRAMS
            .with_label_values(&["no_image"])
            .inc_by(without_image);
        Ok(result)
    }

    fn images(&self, arrays: &[ArrayRef]) -> Result<ArrayRef> {
        let rows = arrays[0].len();
        let channels: Vec<&ListArray> = arrays[..4].iter().map(|a| a.as_list::<i32>()).collect();
        let slots = arrays
            .get(4)
            .filter(|a| matches!(a.data_type(), DataType::List(_)))
            .map(|a| a.as_list::<i32>());
        // The arrays' nameplates come last, after the optional slots.
        let nameplates = match &arrays[4 + usize::from(slots.is_some())..] {
            [v_mp, i_mp, gamma] => Some((
                v_mp.as_primitive::<Float64Type>(),
                i_mp.as_primitive::<Float64Type>(),
                gamma.as_primitive::<Float64Type>(),
            )),
            _ => None,
        };

        // Series laid out [channel][row][time] so each channel is one (rows x 64) matrix;
        // rows without an image keep zeros, which transform to zeros.
        let mut series = vec![0f32; CHANNELS.len() * rows * WINDOW_LEN];
        let mut windows = [[0f32; WINDOW_LEN]; 4];
        let mut positions = Vec::new();
        let mut scratch = Vec::new();
        let mut valid = Vec::with_capacity(rows);
        for row in 0..rows {
            let nameplate = match nameplates {
                Some((v_mp, i_mp, gamma))
                    if v_mp.is_valid(row) && i_mp.is_valid(row) && gamma.is_valid(row) =>
                {
                    // The nameplate's rules are the rating's (pv_expected_dc_power's).
                    let rating = ArrayRating {
                        v_mp: v_mp.value(row),
                        i_mp: i_mp.value(row),
                        gamma_pdc_per_c: gamma.value(row),
                        ..ArrayRating::default()
                    }
                    .validated();
                    let plate = match rating {
                        Ok(r) => Nameplate {
                            v_mp: r.v_mp as f32,
                            i_mp: r.i_mp as f32,
                            gamma_pdc_per_c: r.gamma_pdc_per_c as f32,
                        },
                        Err(why) => return exec_err!("pv_scalogram: row {row}: {why}"),
                    };
                    Some(plate)
                }
                _ => None,
            };
            let complete = (nameplate.is_some() || !self.normalization.scale.needs_nameplate())
                && self.row_windows(
                    row,
                    &channels,
                    slots,
                    nameplate,
                    &mut positions,
                    &mut scratch,
                    &mut windows,
                )?;
            if complete {
                for (c, window) in windows.iter().enumerate() {
                    let start = (c * rows + row) * WINDOW_LEN;
                    series[start..start + WINDOW_LEN].copy_from_slice(window);
                }
            }
            valid.push(complete);
        }

        let mut images = vec![0f32; rows * IMAGE_LEN];
        let dense = DenseCwt::<f32>::get(WINDOW_LEN, NUM_SCALES);
        let channel_len = dense.output_len();
        for c in 0..CHANNELS.len() {
            let input = &series[c * rows * WINDOW_LEN..(c + 1) * rows * WINDOW_LEN];
            dense.transform(input, rows, &mut images[c * channel_len..], IMAGE_LEN);
        }
        let item = Arc::new(Field::new_list_field(DataType::Float32, true));
        let array = FixedSizeListArray::try_new(
            item,
            IMAGE_LEN as i32,
            Arc::new(Float32Array::from(images)),
            Some(NullBuffer::from(valid)),
        )?;
        Ok(Arc::new(array))
    }

    /// Fills `windows` with row `row`'s four normalised 64-slot series. Returns false when the
    /// row has no image (a NULL series, or a channel with too few valid readings).
    #[allow(clippy::too_many_arguments)]
    fn row_windows(
        &self,
        row: usize,
        channels: &[&ListArray],
        slots: Option<&ListArray>,
        nameplate: Option<Nameplate>,
        positions: &mut Vec<Option<usize>>,
        scratch: &mut Vec<f32>,
        windows: &mut [[f32; WINDOW_LEN]; 4],
    ) -> Result<bool> {
        if channels.iter().any(|c| c.is_null(row)) || slots.is_some_and(|s| s.is_null(row)) {
            return Ok(false);
        }
        let len = channels[0].value_length(row) as usize;
        for (name, c) in CHANNELS.iter().zip(channels).skip(1) {
            let other = c.value_length(row) as usize;
            if other != len {
                return exec_err!(
                    "pv_scalogram: row {row} has {len} voltage readings but {other} {name} readings; \
                     the four series of a window must have the same length"
                );
            }
        }
        reading_positions(row, len, slots, positions)?;
        for (list, window) in channels.iter().zip(windows.iter_mut()) {
            let items = list.values().as_primitive::<Float32Type>();
            row_values(list, items, row, f32::NAN, scratch);
            if !fill_window(scratch, positions, window) {
                return Ok(false);
            }
        }
        // Scaled together: the operating point of a reading depends on its temperature and light.
        self.normalization.scale(windows, nameplate);
        for (c, window) in windows.iter_mut().enumerate() {
            self.normalization.apply(c, window);
        }
        Ok(true)
    }
}

/// Each reading's slot in the window: from the `slot` list, or its index when there is none.
/// NULL slots become `None` (the reading is unplaced, so missing).
fn reading_positions(
    row: usize,
    len: usize,
    slots: Option<&ListArray>,
    positions: &mut Vec<Option<usize>>,
) -> Result<()> {
    positions.clear();
    let Some(slots) = slots else {
        if len > WINDOW_LEN {
            return exec_err!(
                "pv_scalogram: row {row} has {len} readings but a window holds {WINDOW_LEN}; \
                 group readings into 64-slot windows (see the function's documentation)"
            );
        }
        positions.extend((0..len).map(Some));
        return Ok(());
    };
    let slot_len = slots.value_length(row) as usize;
    if slot_len != len {
        return exec_err!(
            "pv_scalogram: row {row} has {len} readings but {slot_len} slots; pass one slot per reading"
        );
    }
    let items = slots.values().as_primitive::<Int64Type>();
    let start = slots.value_offsets()[row] as usize;
    for i in start..start + len {
        let slot = items.value(i);
        if items.is_null(i) {
            positions.push(None);
        } else if (0..WINDOW_LEN as i64).contains(&slot) {
            positions.push(Some(slot as usize));
        } else {
            return exec_err!(
                "pv_scalogram: row {row} places a reading at slot {slot}; slots are 0..={}",
                WINDOW_LEN - 1
            );
        }
    }
    Ok(())
}

/// Places one channel's readings on the 64-slot grid and fills the gaps. Returns false when
/// fewer than [`MIN_VALID_READINGS`] slots hold a valid (finite) reading.
fn fill_window(values: &[f32], positions: &[Option<usize>], window: &mut [f32]) -> bool {
    let mut present = [false; WINDOW_LEN];
    for (&v, p) in values.iter().zip(positions) {
        if let Some(p) = *p
            && !present[p]
            && v.is_finite()
        {
            window[p] = v;
            present[p] = true;
        }
    }
    let known: Vec<usize> = (0..WINDOW_LEN).filter(|&i| present[i]).collect();
    if known.len() < MIN_VALID_READINGS {
        return false;
    }
    let (first, last) = (known[0], known[known.len() - 1]);
    let (head, tail) = (window[first], window[last]);
    window[..first].fill(head);
    window[last + 1..].fill(tail);
    for pair in known.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (va, vb) = (window[a], window[b]);
        for (step, v) in window[a + 1..b].iter_mut().enumerate() {
            let w = (step + 1) as f32 / (b - a) as f32;
            *v = va + (vb - va) * w;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalization::SeriesScale;
    use datafusion::arrow::array::{AsArray, RecordBatch};
    use datafusion::prelude::SessionContext;

    fn slots(n: usize) -> Vec<Option<usize>> {
        (0..n).map(Some).collect()
    }

    #[test]
    fn gaps_are_interpolated_and_ends_held() {
        let mut values: Vec<f32> = (0..64).map(|i| i as f32).collect();
        values[10] = f32::NAN;
        values[11] = f32::INFINITY;
        values[0] = f32::NAN;
        values[63] = f32::NAN;
        let mut w = [0f32; 64];
        assert!(fill_window(&values, &slots(64), &mut w));
        assert_eq!(w[10], 10.0);
        assert_eq!(w[11], 11.0);
        assert_eq!(w[0], 1.0, "leading gap takes the first valid reading");
        assert_eq!(w[63], 62.0, "trailing gap takes the last valid reading");
    }

    #[test]
    fn explicit_slots_place_readings_and_the_first_valid_duplicate_wins() {
        // 60 readings with slots 0..=59 skipping 30 and 31, then duplicates of slot 5.
        let mut pos: Vec<Option<usize>> =
            (0..64).filter(|s| *s != 30 && *s != 31).map(Some).collect();
        let mut values: Vec<f32> = pos.iter().map(|p| p.unwrap() as f32 * 2.0).collect();
        pos.push(Some(5));
        values.push(1000.0);
        let mut w = [0f32; 64];
        assert!(fill_window(&values, &pos, &mut w));
        assert_eq!(w[5], 10.0);
        assert_eq!((w[29], w[30], w[31], w[32]), (58.0, 60.0, 62.0, 64.0));
    }

    #[test]
    fn too_few_valid_readings_give_no_window() {
        let mut w = [0f32; 64];
        let values = vec![1.0f32; 47];
        assert!(!fill_window(&values, &slots(47), &mut w));
        let values = vec![1.0f32; 48];
        assert!(fill_window(&values, &slots(48), &mut w));
        assert!(
            w.iter().all(|v| *v == 1.0),
            "short windows hold the last reading"
        );
    }

    async fn images(
        normalization: Normalization,
        sql: &str,
    ) -> datafusion::common::Result<Vec<RecordBatch>> {
        let ctx = SessionContext::new();
        ctx.register_udf(PvScalogram::new(normalization).into());
        ctx.sql(sql).await?.collect().await
    }

    /// Nameplate and operating-point normalisation: an array of four times longer strings and
    /// twice the strings, same light and heat, gives the same image once each is divided by its
    /// own nameplate.
    #[tokio::test]
    async fn nameplate_scaling_makes_arrays_of_any_size_alike() {
        for scale in [SeriesScale::Nameplate, SeriesScale::OperatingPoint] {
            arrays_of_any_size_alike(scale).await;
        }
    }

    async fn arrays_of_any_size_alike(scale: SeriesScale) {
        let nameplate = Normalization::new([0.9, 0.5, 35.0, 0.5], [0.2, 0.3, 10.0, 0.3])
            .expect("valid")
            .with_scale(scale);
        let series = |scale: f64| -> String {
            let values: Vec<String> = (0..64)
                .map(|k| format!("{:.4}", scale * (1.0 + 0.05 * (k as f64 * 0.3).sin())))
                .collect();
            format!("[{}]", values.join(", "))
        };
        let sql = |v: f64, i: f64| {
            format!(
                "SELECT pv_scalogram({}, {}, {}, {}, {}, {}, -0.004) AS image",
                series(v * 135.0),
                series(i * 20.0),
                series(45.0),
                series(800.0),
                v * 150.5,
                i * 24.9
            )
        };
        let image = |batches: Vec<RecordBatch>| -> Vec<f32> {
            let list = batches[0].column(0).as_fixed_size_list();
            list.value(0)
                .as_primitive::<Float32Type>()
                .values()
                .to_vec()
        };
        let small = image(images(nameplate, &sql(1.0, 1.0)).await.expect("runs"));
        let large = image(images(nameplate, &sql(4.0, 2.0)).await.expect("runs"));
        let worst = small
            .iter()
            .zip(&large)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-3, "images differ by {worst}");
        // Raw (standard) normalisation tells the two apart.
        let raw = Normalization::new([0.0; 4], [1.0; 4]).expect("valid");
        let a = image(images(raw, &sql(1.0, 1.0)).await.expect("runs"));
        let b = image(images(raw, &sql(4.0, 2.0)).await.expect("runs"));
        assert!(a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1.0));
        // Without the nameplate, a nameplate model cannot image a window: said at planning.
        let e = images(
            nameplate,
            "SELECT pv_scalogram([1.0], [1.0], [1.0], [1.0]) AS image",
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("pass each array's v_mp, i_mp and gamma_pdc_per_c"),
            "{e}"
        );
        // A nameplate that cannot be is refused, naming the value.
        let e = images(
            nameplate,
            "SELECT pv_scalogram([1.0], [1.0], [1.0], [1.0], 150.5, 24.9, 0.5) AS image",
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(e.contains("row 0: gamma_pdc_per_c must be between"), "{e}");
    }
}
