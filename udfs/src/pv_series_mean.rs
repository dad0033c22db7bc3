//! `pv_series_mean(series)`: the mean of a window's valid readings of one sensor.

use crate::common::{WINDOW_STATISTICS, answer};
use crate::slot_means::{coerce_series, slot_means};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::{Arc, LazyLock};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PvSeriesMean {
    signature: Signature,
}

impl PvSeriesMean {
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for PvSeriesMean {
    fn name(&self) -> &str {
        "pv_series_mean"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 1 {
            return plan_err!(
                "pv_series_mean takes (series), got {} arguments",
                arg_types.len()
            );
        }
        coerce_series("pv_series_mean", &["series"], arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let means = slot_means("pv_series_mean", &arrays[0], None, |x, _| f64::from(x))?;
        answer(&args.args, Arc::new(means))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            Documentation::builder(
                WINDOW_STATISTICS,
                "The mean of a window's valid readings of one sensor (NULL, NaN and infinite \
                 readings are left out); NULL when the window has none.",
                "pv_series_mean(series)",
            )
            .with_sql_example(
                "```sql\n> SELECT pv_series_mean([700.0, NULL, 720.0]);\n+-----+\n| 710 |\n+-----+\n```",
            )
            .with_argument("series", "A window's readings of one sensor (`irradiance_series`).")
            .with_related_udf("pv_window_series")
            .build()
        });
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use crate::tests_support::scalar_f32;

    #[tokio::test]
    async fn the_mean_leaves_out_missing_readings() {
        assert_eq!(
            scalar_f32("pv_series_mean([700.0, NULL, 720.0, CAST('NaN' AS DOUBLE)])").await,
            Some(710.0)
        );
        assert_eq!(
            scalar_f32("pv_series_mean([NULL, CAST('NaN' AS DOUBLE)])").await,
            None
        );
        assert_eq!(
            scalar_f32("pv_series_mean(CAST(NULL AS FLOAT[]))").await,
            None
        );
    }
}
