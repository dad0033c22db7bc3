//! `pv_quality_flags(voltage, current, temperature, irradiance[, readings])`: why a window's
//! readings cannot be trusted, in pvanalytics' vocabulary.

use crate::common::{MIN_VALID_READINGS, answer};
use crate::quality_masks::{
    DATA_QUALITY, HAMPEL_MAX_DEVIATION, HAMPEL_WINDOW, INTERPOLATION_WINDOW, STALE_WINDOW,
    Tolerance, hampel_mask, interpolation_mask, stale_mask,
};
use crate::slot_means::coerce_series;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Float32Type, Int64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::{Arc, LazyLock};

const CHANNELS: [&str; 4] = ["voltage", "current", "temperature", "irradiance"];
/// A slot counts for the stale, line and spike checks in daylight: the irradiance sensor reads
/// over 200 W/m2 (rdtools' lower bound for analysis), or reads darkness (under 20) while the
/// array delivers current. The night's zeros are not stuck sensors (pvanalytics flags them,
/// docs/data-quality.md), and in the dim light of dawn and dusk the sensors' quantisation steps
/// outweigh their noise, so slow ramps come out as lines.
const DAYLIGHT_IRRADIANCE_W_M2: f64 = 200.0;
const DARK_IRRADIANCE_W_M2: f64 = 20.0;
const DAYLIGHT_CURRENT_A: f64 = 1.0;
/// A window is stale or interpolated in a channel when nearly all its daylight readings are:
/// noise-free sensors quantised to 1 W/m2 read the same irradiance for minutes around solar
/// noon (docs/data-quality.md), a frozen one for the whole window.
const STALE_SHARE: f64 = 0.9;
const INTERPOLATED_SHARE: f64 = 0.9;
/// Spikes: several per window are what noise gives the Hampel identifier over 5 readings (8
/// or more in 7 % of healthy simulated windows); a quarter of the window means a failing sensor
/// or connection.
const MAX_OUTLIERS: usize = 16;
/// Physical limits of a reading (pvanalytics' and QCRad's sense, for an array's DC side): no
/// array gives negative power to speak of, plane-of-array irradiance stays below 1500 W/m2
/// (cloud enhancement included) and modules between -40 and 100 C.
const LIMITS: [(f64, f64); 4] = [
    (-1.0, 2000.0),
    (-1.0, 1000.0),
    (-40.0, 100.0),
    (-10.0, 1500.0),
];

/// More readings than this in a window of 64 slots: a logger whose clock jumped reports over
/// its own true readings (the 0.1 % of duplicates a healthy link sends never come near).
const MAX_READINGS: i64 = 80;

/// The flags of one window's four series (each `None` slot a missing reading).
pub fn window_flags(series: [&[Option<f64>]; 4]) -> Vec<String> {
    let len = series.iter().map(|s| s.len()).max().unwrap_or(0);
    let reading = |channel: usize, k: usize| {
        series[channel]
            .get(k)
            .copied()
            .flatten()
            .filter(|x| x.is_finite())
    };
    let daylight: Vec<bool> = (0..len)
        .map(|k| {
            let irradiance = reading(3, k);
            irradiance.is_some_and(|g| g > DAYLIGHT_IRRADIANCE_W_M2)
                || (irradiance.is_none_or(|g| g < DARK_IRRADIANCE_W_M2)
                    && reading(1, k).is_some_and(|i| i > DAYLIGHT_CURRENT_A))
        })
        .collect();
    let daylight_slots = daylight.iter().filter(|d| **d).count();
    let mut flags = Vec::new();
    for (channel, name) in CHANNELS.iter().enumerate() {
        let values = series[channel];
        let valid = (0..len).filter(|&k| reading(channel, k).is_some()).count();
        if valid < MIN_VALID_READINGS {
            flags.push(format!("missing_{name}"));
            continue;
        }
        let (low, high) = LIMITS[channel];
        if (0..len).any(|k| reading(channel, k).is_some_and(|x| x < low || x > high)) {
            flags.push(format!("out_of_range_{name}"));
        }
        if daylight_slots == 0 {
            continue;
        }
        // A reading of exactly zero in daylight is what a disconnected array or a tripped
        // inverter gives (a fault to diagnose), not a stuck sensor: it does not count.
        let in_daylight = |mask: &[bool]| {
            (0..mask.len())
                .filter(|&k| mask[k] && daylight[k] && values[k] != Some(0.0))
                .count()
        };
        let share = |mask: &[bool]| in_daylight(mask) as f64 / daylight_slots as f64;
        let stale = stale_mask(values, STALE_WINDOW, Tolerance::default());
        if share(&stale) >= STALE_SHARE {
            flags.push(format!("stale_{name}"));
            continue;
        }
        // A stale run is a line too: count the lines that are not.
        let interpolated: Vec<bool> =
            interpolation_mask(values, INTERPOLATION_WINDOW, Tolerance::default())
                .iter()
                .zip(&stale)
                .map(|(line, stale)| *line && !stale)
                .collect();
        if share(&interpolated) >= INTERPOLATED_SHARE {
            flags.push(format!("interpolated_{name}"));
        }
        if in_daylight(&hampel_mask(values, HAMPEL_WINDOW, HAMPEL_MAX_DEVIATION)) >= MAX_OUTLIERS {
            flags.push(format!("outliers_{name}"));
        }
    }
    flags
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PvQualityFlags {
    signature: Signature,
}

impl PvQualityFlags {
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for PvQualityFlags {
    fn name(&self) -> &str {
        "pv_quality_flags"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let (series, readings) = match arg_types.len() {
            4 => (arg_types, None),
            5 => (&arg_types[..4], Some(&arg_types[4])),
            n => {
                return plan_err!(
                    "pv_quality_flags takes (voltage, current, temperature, irradiance[, \
                     readings]), got {n} arguments"
                );
            }
        };
        let mut coerced = coerce_series("pv_quality_flags", &CHANNELS, series)?;
        if let Some(readings) = readings {
            if !(readings.is_integer() || readings.is_null()) {
                return plan_err!(
                    "pv_quality_flags: `readings` must be an integer (the window's count of \
                     readings), got {readings}"
                );
            }
            coerced.push(DataType::Int64);
        }
        Ok(coerced)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Utf8,
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let lists: Vec<&ListArray> = arrays[..4].iter().map(|a| a.as_list::<i32>()).collect();
        let readings = arrays.get(4).map(|a| a.as_primitive::<Int64Type>());
        let rows = lists[0].len();
        let mut out = ListBuilder::new(StringBuilder::new());
        let mut series: [Vec<Option<f64>>; 4] = Default::default();
        for row in 0..rows {
            if lists.iter().any(|l| l.is_null(row)) {
                out.append_null();
                continue;
            }
            for (values, list) in series.iter_mut().zip(&lists) {
                let row_values = list.value(row);
                values.clear();
                values.extend(
                    row_values
                        .as_primitive::<Float32Type>()
                        .iter()
                        .map(|v| v.map(f64::from)),
                );
            }
            if series.iter().any(|s| s.len() != series[0].len()) {
                return exec_err!(
                    "pv_quality_flags: row {row} has series of different lengths; a window's series have one length"
                );
            }
            let flags = window_flags([&series[0], &series[1], &series[2], &series[3]]);
            for flag in flags {
                out.values().append_value(flag);
            }
            if readings.is_some_and(|r| r.is_valid(row) && r.value(row) > MAX_READINGS) {
                out.values().append_value("conflicting_timestamps");
            }
            out.append(true);
        }
        let result: ArrayRef = Arc::new(out.finish());
        answer(&args.args, result)
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            Documentation::builder(
                DATA_QUALITY,
                "Why a window's readings cannot be trusted, as a list of flags (empty: nothing \
                 found; NULL for a NULL series). Per channel (`voltage`, `current`, \
                 `temperature`, `irradiance`): `missing_<channel>` (fewer than 48 of the 64 \
                 readings), `out_of_range_<channel>` (a reading outside physical limits: \
                 irradiance -10..1500 W/m2, module temperature -40..100 C, voltage and current \
                 not below -1), `stale_<channel>` (90 % or more of the window's daylight \
                 readings stale, `pv_stale_mask`), `interpolated_<channel>` (90 % or more on \
                 straight lines that are not stale, `pv_interpolated_mask`), \
                 `outliers_<channel>` (16 or more daylight readings Hampel outliers, \
                 `pv_outlier_mask`). Daylight: irradiance above 200 W/m2, or current above 1 A \
                 while the irradiance reads darkness; so the night's zeros are not stale nor \
                 dawn's quantised ramps lines. Readings of exactly zero (a dead array) never \
                 count as stale. With the window's count of readings: \
                 `conflicting_timestamps` when it holds more than 80 for its 64 slots (a \
                 logger whose clock jumped reports over its own true readings).",
                "pv_quality_flags(voltage, current, temperature, irradiance[, readings])",
            )
            .with_sql_example(
                "```sql\n> SELECT device_id, window_start, pv_quality_flags(voltage_series, current_series, temperature_series, irradiance_series, readings) AS flags FROM silver;\n```",
            )
            .with_argument("voltage", "The window's voltage readings (`voltage_series`).")
            .with_argument("current", "Its current readings.")
            .with_argument("temperature", "Its module temperature readings.")
            .with_argument("irradiance", "Its plane-of-array irradiance readings.")
            .with_argument(
                "readings",
                "Optional: how many readings the window received, duplicates included.",
            )
            .with_related_udf("pv_stale_mask")
            .with_related_udf("pv_interpolated_mask")
            .with_related_udf("pv_outlier_mask")
            .build()
        });
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sunny window: voltage, current, temperature and irradiance that vary like a
    /// noisy sensor's.
    fn healthy() -> [Vec<Option<f64>>; 4] {
        // A small multiplicative hash as noise in [-scale, scale].
        let wobble = |k: usize, scale: f64| {
            let h = (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
            scale * (h as f64 / (1u64 << 24) as f64 * 2.0 - 1.0)
        };
        [
            (0..64).map(|k| Some(150.0 + wobble(k, 0.8))).collect(),
            (0..64).map(|k| Some(20.0 + wobble(k + 3, 0.1))).collect(),
            (0..64).map(|k| Some(45.0 + wobble(k + 5, 0.2))).collect(),
            (0..64).map(|k| Some(800.0 + wobble(k + 1, 4.0))).collect(),
        ]
    }

    fn flags(series: &[Vec<Option<f64>>; 4]) -> Vec<String> {
        window_flags([&series[0], &series[1], &series[2], &series[3]])
    }

    #[test]
    fn a_healthy_window_has_no_flags() {
        assert!(flags(&healthy()).is_empty(), "{:?}", flags(&healthy()));
    }

    #[test]
    fn each_trouble_is_named() {
        let mut frozen = healthy();
        frozen[3][3..].fill(Some(812.0));
        assert_eq!(flags(&frozen), ["stale_irradiance"]);
        // Frozen for only two thirds of the window: minutes of a steady sky, not yet a fault.
        let mut steady = healthy();
        steady[3][20..].fill(Some(812.0));
        assert!(flags(&steady).is_empty());

        let mut line = healthy();
        for (k, slot) in line[2].iter_mut().enumerate().skip(2) {
            *slot = Some(40.0 + 0.25 * k as f64);
        }
        assert_eq!(flags(&line), ["interpolated_temperature"]);

        let mut dropped = healthy();
        dropped[0][..20].fill(None);
        assert_eq!(flags(&dropped), ["missing_voltage"]);

        let mut hot = healthy();
        hot[2][5] = Some(180.0);
        assert_eq!(flags(&hot), ["out_of_range_temperature"]);

        let mut spiky = healthy();
        for k in (2..62).step_by(3) {
            spiky[1][k] = Some(35.0);
        }
        assert_eq!(flags(&spiky), ["outliers_current"]);
    }

    #[test]
    fn a_dead_array_is_not_a_stuck_sensor() {
        // An open circuit on a one-string array: no voltage, no current, in full sun.
        let mut dead = healthy();
        dead[0].fill(Some(0.0));
        dead[1].fill(Some(0.0));
        assert!(flags(&dead).is_empty(), "{:?}", flags(&dead));
    }

    #[test]
    fn the_night_is_not_stale() {
        let night = [
            vec![Some(0.0); 64],
            vec![Some(0.0); 64],
            vec![Some(12.5); 64],
            vec![Some(0.0); 64],
        ];
        assert!(flags(&night).is_empty(), "{:?}", flags(&night));
    }

    /// A window's series as SQL array literals.
    fn literals(series: &[Vec<Option<f64>>; 4]) -> [String; 4] {
        series.clone().map(|values| {
            let values: Vec<String> = values
                .iter()
                .map(|v| v.map_or("NULL".into(), |v| format!("{v:.3}")))
                .collect();
            format!("[{}]", values.join(", "))
        })
    }

    #[tokio::test]
    async fn more_readings_than_slots_conflict() {
        let [v, i, t, g] = literals(&healthy());
        let with = |readings: &str| format!("pv_quality_flags({v}, {i}, {t}, {g}{readings})");
        let list = crate::tests_support::string_list;
        assert_eq!(list(&with("")).await, Some(vec![]));
        assert_eq!(list(&with(", 80")).await, Some(vec![]));
        assert_eq!(
            list(&with(", 81")).await,
            Some(vec!["conflicting_timestamps".to_string()])
        );
        let e = crate::tests_support::sql_error(&with(", 'many'")).await;
        assert!(e.contains("`readings` must be an integer"), "{e}");
    }
}
