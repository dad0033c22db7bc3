//! `pv_stale_mask(series[, window])`: pvanalytics' stale values, reading by reading.

use crate::quality_masks::{
    DATA_QUALITY, STALE_WINDOW, Tolerance, coerce_mask_args, map_series, mask_type, stale_mask,
    window_parameter,
};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::LazyLock;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PvStaleMask {
    signature: Signature,
}

impl PvStaleMask {
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for PvStaleMask {
    fn name(&self) -> &str {
        "pv_stale_mask"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_mask_args("pv_stale_mask", &["window"], arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(mask_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let window = window_parameter("pv_stale_mask", &args.args, STALE_WINDOW, 2, false)?;
        map_series(&args.args, |x| stale_mask(x, window, Tolerance::default()))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            Documentation::builder(
                DATA_QUALITY,
                "Which readings are stale, as pvanalytics' `quality.gaps.stale_values_diff` with \
                 `mark='tail'`: a reading is stale when it and the `window - 1` readings before it \
                 all equal the first of them (numpy's `allclose`, rtol 1e-5, atol 1e-8), and so are \
                 the readings of that run after its first. A missing reading is never stale and \
                 breaks a run. A stuck sensor, or a logger repeating its last value.",
                "pv_stale_mask(series[, window])",
            )
            .with_sql_example(
                "```sql\n> SELECT pv_stale_mask([1.0, 2.0, 2.0, 2.0, 3.0], 3);\n+-----------------------------------+\n| [false, false, true, true, false] |\n+-----------------------------------+\n```",
            )
            .with_argument("series", "A window's readings of one sensor (`irradiance_series`).")
            .with_argument("window", "Readings a run must last to be stale: a whole number from 2 (default 6, two minutes at 20 s).")
            .with_related_udf("pv_interpolated_mask")
            .with_related_udf("pv_outlier_mask")
            .build()
        });
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use crate::tests_support::{bool_mask, sql_error};

    #[tokio::test]
    async fn stale_runs_are_flagged_and_bad_windows_refused() {
        assert_eq!(
            bool_mask("pv_stale_mask([1.0, 2.0, 2.0, 2.0, 3.0], 3)").await,
            Some(vec![false, false, true, true, false])
        );
        let e = sql_error("pv_stale_mask([1.0], 1)").await;
        assert!(e.contains("`window` must be a whole number from 2"), "{e}");
    }
}
