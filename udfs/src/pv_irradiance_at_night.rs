//! `pv_irradiance_at_night(irradiance, window_start, latitude, longitude)`: how many of a
//! window's readings see light while the sun is down at the site.

use crate::common::{READING_INTERVAL_SECONDS, answer};
use crate::quality_masks::DATA_QUALITY;
use crate::slot_means::coerce_series;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::datatypes::{
    DataType, Float32Type, Float64Type, TimeUnit, TimestampMillisecondType,
};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::{Arc, LazyLock};

/// Irradiance a sensor cannot read with the sun this far below the horizon (W/m2, degrees):
/// twilight gives a few W/m2 at most.
const NIGHT_IRRADIANCE_W_M2: f32 = 50.0;
const NIGHT_SUN_ELEVATION_DEG: f64 = -2.0;

/// The readings of `irradiance` (slot `k` read at `window_start_ms + 20 s x k`) over 50 W/m2
/// while the sun stands 2 degrees or more below the horizon at the site.
pub fn light_at_night(
    irradiance: impl Iterator<Item = Option<f32>>,
    window_start_ms: i64,
    latitude: f64,
    longitude: f64,
) -> usize {
    let interval_ms = READING_INTERVAL_SECONDS * 1000;
    irradiance
        .enumerate()
        .filter(|(_, g)| g.is_some_and(|g| g > NIGHT_IRRADIANCE_W_M2))
        .filter(|(k, _)| {
            let ts_ms = window_start_ms + *k as i64 * interval_ms;
            let sun = pvflow_plant::sun::sun_position(ts_ms, latitude, longitude);
            sun.elevation_deg() < NIGHT_SUN_ELEVATION_DEG
        })
        .count()
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PvIrradianceAtNight {
    signature: Signature,
}

impl PvIrradianceAtNight {
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for PvIrradianceAtNight {
    fn name(&self) -> &str {
        "pv_irradiance_at_night"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [_, start, latitude, longitude] = arg_types else {
            return plan_err!(
                "pv_irradiance_at_night takes (irradiance, window_start, latitude, longitude), \
                 got {} arguments",
                arg_types.len()
            );
        };
        let mut coerced =
            coerce_series("pv_irradiance_at_night", &["irradiance"], &arg_types[..1])?;
        if !matches!(start, DataType::Timestamp(_, _) | DataType::Null) {
            return plan_err!(
                "pv_irradiance_at_night: `window_start` must be a timestamp, got {start}"
            );
        }
        coerced.push(DataType::Timestamp(
            TimeUnit::Millisecond,
            Some("UTC".into()),
        ));
        for (name, arg) in [("latitude", latitude), ("longitude", longitude)] {
            if !(arg.is_numeric() || arg.is_null()) {
                return plan_err!("pv_irradiance_at_night: `{name}` must be a number, got {arg}");
            }
            coerced.push(DataType::Float64);
        }
        Ok(coerced)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let series = arrays[0].as_list::<i32>();
        let start = arrays[1].as_primitive::<TimestampMillisecondType>();
        let latitude = arrays[2].as_primitive::<Float64Type>();
        let longitude = arrays[3].as_primitive::<Float64Type>();
        let counts: Int64Array = (0..series.len())
            .map(|row| {
                let known = [
                    series.is_valid(row),
                    start.is_valid(row),
                    latitude.is_valid(row),
                    longitude.is_valid(row),
                ];
                known.iter().all(|k| *k).then(|| {
                    let readings = series.value(row);
                    let count = light_at_night(
                        readings.as_primitive::<Float32Type>().iter(),
                        start.value(row),
                        latitude.value(row),
                        longitude.value(row),
                    );
                    count as i64
                })
            })
            .collect();
        let result: ArrayRef = Arc::new(counts);
        answer(&args.args, result)
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            Documentation::builder(
                DATA_QUALITY,
                "How many of a window's irradiance readings see over 50 W/m2 while the sun \
                 stands 2 degrees or more below the horizon at the site (reading k taken at \
                 window_start + 20 s x k): light a sensor cannot see, from a wrong clock or a \
                 stuck sensor. NULL when any argument is NULL (a device without a site). \
                 Predict flags 3 or more as `irradiance_sun_inconsistent`.",
                "pv_irradiance_at_night(irradiance, window_start, latitude, longitude)",
            )
            .with_sql_example(
                "```sql\n> SELECT s.device_id, s.window_start, pv_irradiance_at_night(s.irradiance_series, s.window_start, d.latitude, d.longitude) FROM silver s JOIN devices d ON s.device_id = d.device_id;\n```",
            )
            .with_argument("irradiance", "The window's irradiance readings (`irradiance_series`).")
            .with_argument("window_start", "When the window's first slot was read.")
            .with_argument("latitude", "The site's latitude (degrees north).")
            .with_argument("longitude", "The site's longitude (degrees east).")
            .with_related_udf("pv_quality_flags")
            .build()
        });
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn light_counts_only_when_the_sun_is_down() {
        // Tabernas, 2026-06-01: 22:00 UTC is night, 12:00 UTC is day.
        let day_start = 1_780_272_000_000;
        let sunny = || (0..64).map(|_| Some(800.0f32));
        assert_eq!(
            light_at_night(sunny(), day_start + 12 * 3_600_000, 37.09, -2.36),
            0
        );
        assert_eq!(
            light_at_night(sunny(), day_start + 22 * 3_600_000, 37.09, -2.36),
            64
        );
        let dark = (0..64).map(|_| Some(0.0f32));
        assert_eq!(
            light_at_night(dark, day_start + 22 * 3_600_000, 37.09, -2.36),
            0
        );
    }

    #[tokio::test]
    async fn a_device_without_a_site_gets_null() {
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_udf(PvIrradianceAtNight::new().into());
        let batches = ctx
            .sql(
                "SELECT pv_irradiance_at_night([800.0, 900.0], TIMESTAMP '2026-06-01T22:00:00Z', \
                 37.09, -2.36) AS lit, \
                 pv_irradiance_at_night([800.0], TIMESTAMP '2026-06-01T22:00:00Z', NULL, NULL) AS unknown",
            )
            .await
            .expect("plans")
            .collect()
            .await
            .expect("runs");
        let lit = batches[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let unknown = batches[0].column(1);
        assert_eq!(lit.value(0), 2);
        assert!(unknown.is_null(0));
    }
}
