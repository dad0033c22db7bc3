//! `pv_expected_dc_power(irradiance, temperature, rated_power_w, gamma_pdc_per_c)`: the DC power a
//! healthy array would give over a window, by the PVWatts model.

use crate::common::{WINDOW_STATISTICS, answer};
use crate::slot_means::{coerce_series, slot_means};
use datafusion::arrow::array::{Array, AsArray, Float32Array};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, LazyLock};

/// Irradiance and cell temperature of the standard test conditions that rate a module.
const STC_IRRADIANCE_W_M2: f64 = 1000.0;
const STC_TEMPERATURE_C: f64 = 25.0;

/// What pvflow needs to know of an array's nameplate where no plant description lists it:
/// PVWatts' rating, and the maximum-power voltage and current at STC that a nameplate-scaled
/// model divides the series by.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArrayRating {
    /// DC power at standard test conditions (W): the modules' nameplate power times their count.
    pub rated_power_w: f64,
    /// Relative change of DC power per degree of cell temperature (1/°C), negative.
    pub gamma_pdc_per_c: f64,
    /// Maximum-power voltage (V) and current (A) of the array at STC.
    pub v_mp: f64,
    pub i_mp: f64,
}

impl Default for ArrayRating {
    /// The simulated plant's arrays: 5 x 3 Canadian Solar CS6P-250P (250 W, -0.43 %/°C, Vmp
    /// 30.1 V, Imp 8.3 A on its datasheet).
    fn default() -> Self {
        ArrayRating {
            rated_power_w: 3750.0,
            gamma_pdc_per_c: -0.0043,
            v_mp: 150.5,
            i_mp: 24.9,
        }
    }
}

impl ArrayRating {
    /// The rating, or which value is wrong and why.
    pub fn validated(self) -> std::result::Result<Self, String> {
        if !(self.rated_power_w.is_finite() && self.rated_power_w > 0.0) {
            return Err(format!(
                "rated_power_w must be a positive number of watts, not {}",
                self.rated_power_w
            ));
        }
        if !(self.gamma_pdc_per_c.is_finite() && (-0.02..=0.0).contains(&self.gamma_pdc_per_c)) {
            return Err(format!(
                "gamma_pdc_per_c must be between -0.02 and 0 per °C (crystalline silicon is \
                 about -0.004), not {}",
                self.gamma_pdc_per_c
            ));
        }
        for (name, value, unit) in [("v_mp", self.v_mp, "volts"), ("i_mp", self.i_mp, "amperes")] {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!(
                    "{name} must be a positive number of {unit}, not {value}"
                ));
            }
        }
        Ok(self)
    }

    /// PVWatts' DC power (W) at plane-of-array irradiance `irradiance` (W/m²) and cell
    /// temperature `temperature` (°C), as pvlib's `pvwatts_dc`.
    pub fn pvwatts_dc(&self, irradiance: f64, temperature: f64) -> f64 {
        irradiance / STC_IRRADIANCE_W_M2
            * self.rated_power_w
            * (1.0 + self.gamma_pdc_per_c * (temperature - STC_TEMPERATURE_C))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PvExpectedDcPower {
    signature: Signature,
}

impl PvExpectedDcPower {
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

const ARGUMENTS: &str = "irradiance, temperature, rated_power_w, gamma_pdc_per_c";

impl ScalarUDFImpl for PvExpectedDcPower {
    fn name(&self) -> &str {
        "pv_expected_dc_power"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 4 {
            return plan_err!(
                "pv_expected_dc_power takes ({ARGUMENTS}), got {} arguments",
                arg_types.len()
            );
        }
        let mut coerced = coerce_series(
            "pv_expected_dc_power",
            &["irradiance", "temperature"],
            arg_types,
        )?;
        for (name, arg) in ["rated_power_w", "gamma_pdc_per_c"]
            .iter()
            .zip(&arg_types[2..])
        {
            if !(arg.is_numeric() || arg.is_null()) {
                return plan_err!("pv_expected_dc_power: `{name}` must be a number, got {arg}");
            }
            coerced.push(DataType::Float64);
        }
        Ok(coerced)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        // PVWatts is linear in G and G x (T - 25): two means over the valid readings, then
        // each row's own rating (a plant's arrays differ).
        let irradiance = slot_means(
            "pv_expected_dc_power",
            &arrays[0],
            Some(&arrays[1]),
            |g, _| f64::from(g),
        )?;
        let warming = slot_means(
            "pv_expected_dc_power",
            &arrays[0],
            Some(&arrays[1]),
            |g, t| f64::from(g) * (f64::from(t) - STC_TEMPERATURE_C),
        )?;
        let rated = arrays[2].as_primitive::<Float64Type>();
        let gamma = arrays[3].as_primitive::<Float64Type>();
        let mut expected = Vec::with_capacity(irradiance.len());
        for row in 0..irradiance.len() {
            if irradiance.is_null(row) || rated.is_null(row) || gamma.is_null(row) {
                expected.push(None);
                continue;
            }
            let rating = ArrayRating {
                rated_power_w: rated.value(row),
                gamma_pdc_per_c: gamma.value(row),
                ..ArrayRating::default()
            }
            .validated();
            let rating = match rating {
                Ok(rating) => rating,
                Err(why) => return exec_err!("pv_expected_dc_power: {why}"),
            };
            let (g, gt) = (
                f64::from(irradiance.value(row)),
                f64::from(warming.value(row)),
            );
            expected.push(Some(
                (rating.rated_power_w / STC_IRRADIANCE_W_M2 * (g + rating.gamma_pdc_per_c * gt))
                    as f32,
            ));
        }
        answer(&args.args, Arc::new(Float32Array::from(expected)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            Documentation::builder(
                WINDOW_STATISTICS,
                "The DC power (W) a healthy array would give over a window, by NREL's PVWatts \
                 model (pvlib `pvwatts_dc`): `irradiance / 1000 x rated_power_w x (1 + \
                 gamma_pdc_per_c x (temperature - 25))`, averaged over the readings where both \
                 series are valid; NULL when none is. The module temperature stands for the \
                 cell temperature (a few degrees below it in full sun). Compare it with \
                 `pv_dc_power`: their difference is the power a fault or a shadow costs.",
                "pv_expected_dc_power(irradiance, temperature, rated_power_w, gamma_pdc_per_c)",
            )
            .with_sql_example(
                "```sql\n> SELECT pv_expected_dc_power([800.0], [45.0], 3750, -0.0043);\n+--------+\n| 2742 |\n+--------+\n```",
            )
            .with_argument("irradiance", "The window's plane-of-array irradiance readings (W/m²).")
            .with_argument("temperature", "The window's module temperature readings (°C).")
            .with_argument("rated_power_w", "The array's DC power at STC (W): a constant, or a column (a plant's arrays differ, e.g. `devices.rated_power_w`).")
            .with_argument("gamma_pdc_per_c", "Its power temperature coefficient (1/°C, e.g. -0.0043), likewise.")
            .with_related_udf("pv_dc_power")
            .build()
        });
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_support::{scalar_f32, sql_error};

    #[test]
    fn pvwatts_matches_pvlib() {
        // pvlib.pvsystem.pvwatts_dc(800, 45, 3750, -0.0043) = 2742.0
        let p = ArrayRating::default().pvwatts_dc(800.0, 45.0);
        assert!((p - 2742.0).abs() < 1e-9, "{p}");
    }

    #[tokio::test]
    async fn the_expected_power_is_the_mean_over_valid_readings() {
        let p = scalar_f32(
            "pv_expected_dc_power([800.0, 1000.0, NULL], [45.0, 25.0, 30.0], 3750, -0.0043)",
        )
        .await;
        assert_eq!(p, Some(((2742.0 + 3750.0) / 2.0) as f32));
    }

    #[tokio::test]
    async fn a_rating_out_of_range_is_refused_naming_it() {
        let e = sql_error("pv_expected_dc_power([800.0], [45.0], 0, -0.0043)").await;
        assert!(e.contains("rated_power_w must be a positive"), "{e}");
        let e = sql_error("pv_expected_dc_power([800.0], [45.0], 3750, 0.5)").await;
        assert!(e.contains("gamma_pdc_per_c must be between"), "{e}");
    }

    #[tokio::test]
    async fn each_row_takes_its_own_rating() {
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_udf(PvExpectedDcPower::new().into());
        let batches = ctx
            .sql(
                "SELECT pv_expected_dc_power(g, t, p, gamma) AS w FROM (VALUES \
                 ([800.0], [45.0], 3750.0, -0.0043), \
                 ([800.0], [45.0], 7500.0, -0.0043), \
                 ([800.0], [45.0], 3750.0, 0.0), \
                 ([800.0], [45.0], NULL, -0.0043)) AS v(g, t, p, gamma)",
            )
            .await
            .expect("plans")
            .collect()
            .await
            .expect("runs");
        let w = batches[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Float32Type>();
        assert_eq!(w.value(0), 2742.0);
        assert_eq!(w.value(1), 5484.0);
        assert_eq!(w.value(2), 3000.0);
        assert!(w.is_null(3), "no rating, no expectation");
    }
}
