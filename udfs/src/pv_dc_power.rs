//! `pv_dc_power(voltage, current)`: an array's measured DC power over a window.

use crate::common::{WINDOW_STATISTICS, answer};
use crate::slot_means::{coerce_series, slot_means};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::{Arc, LazyLock};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PvDcPower {
    signature: Signature,
}

impl PvDcPower {
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for PvDcPower {
    fn name(&self) -> &str {
        "pv_dc_power"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return plan_err!(
                "pv_dc_power takes (voltage, current), got {} arguments",
                arg_types.len()
            );
        }
        coerce_series("pv_dc_power", &["voltage", "current"], arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        // Power per reading, then the mean: voltage and current move together under clouds.
        let power = slot_means("pv_dc_power", &arrays[0], Some(&arrays[1]), |v, i| {
            f64::from(v) * f64::from(i)
        })?;
        answer(&args.args, Arc::new(power))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            Documentation::builder(
                WINDOW_STATISTICS,
                "An array's measured DC power over a window (W): the mean of voltage x current \
                 over the readings where both are valid; NULL when none is.",
                "pv_dc_power(voltage, current)",
            )
            .with_sql_example(
                "```sql\n> SELECT pv_dc_power([150.0, 152.0], [20.0, 20.0]);\n+------+\n| 3020 |\n+------+\n```",
            )
            .with_argument("voltage", "The window's voltage readings (V).")
            .with_argument("current", "The window's current readings (A), same length.")
            .with_related_udf("pv_expected_dc_power")
            .build()
        });
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use crate::tests_support::scalar_f32;

    #[tokio::test]
    async fn power_is_the_mean_of_each_readings_product() {
        // (100 x 10 + 200 x 20) / 2, the NULL current's slot left out.
        assert_eq!(
            scalar_f32("pv_dc_power([100.0, 200.0, 300.0], [10.0, 20.0, NULL])").await,
            Some(2500.0)
        );
        assert_eq!(scalar_f32("pv_dc_power([100.0], [NULL])").await, None);
    }

    #[tokio::test]
    async fn series_of_different_lengths_are_refused() {
        let e = crate::tests_support::sql_error("pv_dc_power([1.0, 2.0], [1.0])").await;
        assert!(e.contains("2 and 1 readings"), "{e}");
    }
}
