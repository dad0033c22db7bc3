//! `pv_outlier_mask(series[, window[, max_deviation]])`: pvanalytics' Hampel outliers, reading by reading.

use crate::quality_masks::{
    DATA_QUALITY, HAMPEL_MAX_DEVIATION, HAMPEL_WINDOW, coerce_mask_args, hampel_mask, map_series,
    mask_type, parameter, window_parameter,
};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::LazyLock;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PvOutlierMask {
    signature: Signature,
}

impl PvOutlierMask {
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for PvOutlierMask {
    fn name(&self) -> &str {
        "pv_outlier_mask"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_mask_args("pv_outlier_mask", &["window", "max_deviation"], arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(mask_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let window = window_parameter("pv_outlier_mask", &args.args, HAMPEL_WINDOW, 3, true)?;
        let max_deviation = parameter(
            "pv_outlier_mask",
            "max_deviation",
            &args.args,
            2,
            HAMPEL_MAX_DEVIATION,
        )?;
        map_series(&args.args, |x| hampel_mask(x, window, max_deviation))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            Documentation::builder(
                DATA_QUALITY,
                "Which readings are outliers by the Hampel identifier, as pvanalytics' \
                 `quality.outliers.hampel`: further than `max_deviation` robust standard deviations \
                 (median absolute deviation / 0.6745) from the median of the `window` readings \
                 centred on them. Readings without a whole window of valid readings around them \
                 are not flagged. A spike from a loose contact or a bad sample.",
                "pv_outlier_mask(series[, window[, max_deviation]])",
            )
            .with_sql_example(
                "```sql\n> SELECT pv_outlier_mask([1.0, 1.1, 0.9, 8.0, 1.0, 1.05, 0.95]);\n+--------------------------------------------------+\n| [false, false, false, true, false, false, false] |\n+--------------------------------------------------+\n```",
            )
            .with_argument("series", "A window's readings of one sensor (`irradiance_series`).")
            .with_argument("window", "Readings in the centred window: an odd whole number from 3 (default 5).")
            .with_argument("max_deviation", "How many robust standard deviations make an outlier (default 3).")
            .with_related_udf("pv_stale_mask")
            .with_related_udf("pv_interpolated_mask")
            .build()
        });
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use crate::tests_support::{bool_mask, sql_error};

    #[tokio::test]
    async fn spikes_are_flagged_and_bad_windows_refused() {
        assert_eq!(
            bool_mask("pv_outlier_mask([1.0, 1.1, 0.9, 8.0, 1.0, 1.05, 0.95])").await,
            Some(vec![false, false, false, true, false, false, false])
        );
        let e = sql_error("pv_outlier_mask([1.0], 4)").await;
        assert!(
            e.contains("`window` must be an odd whole number from 3"),
            "{e}"
        );
    }
}
