//! `pv_interpolated_mask(series[, window])`: pvanalytics' linear interpolation, reading by reading.

use crate::quality_masks::{
    DATA_QUALITY, INTERPOLATION_WINDOW, Tolerance, coerce_mask_args, interpolation_mask,
    map_series, mask_type, window_parameter,
};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::LazyLock;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PvInterpolatedMask {
    signature: Signature,
}

impl PvInterpolatedMask {
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for PvInterpolatedMask {
    fn name(&self) -> &str {
        "pv_interpolated_mask"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_mask_args("pv_interpolated_mask", &["window"], arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(mask_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let window = window_parameter(
            "pv_interpolated_mask",
            &args.args,
            INTERPOLATION_WINDOW,
            3,
            false,
        )?;
        map_series(&args.args, |x| {
            interpolation_mask(x, window, Tolerance::default())
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            Documentation::builder(
                DATA_QUALITY,
                "Which readings lie on a straight line, as pvanalytics' `quality.gaps.interpolation_diff` \
                 with `mark='tail'`: runs of `window` readings whose steps all equal the run's first \
                 step (numpy's `allclose`, rtol 1e-5, atol 1e-8), every reading of the run but its \
                 first. A gateway filling a gap by interpolation draws such lines; a stale run is one \
                 too. A missing reading is never flagged and breaks a run.",
                "pv_interpolated_mask(series[, window])",
            )
            .with_sql_example(
                "```sql\n> SELECT pv_interpolated_mask([5.0, 1.0, 2.0, 3.0, 9.0], 3);\n+-----------------------------------+\n| [false, false, true, true, false] |\n+-----------------------------------+\n```",
            )
            .with_argument("series", "A window's readings of one sensor (`irradiance_series`).")
            .with_argument("window", "Readings a line must last: a whole number from 3 (default 6).")
            .with_related_udf("pv_stale_mask")
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
    async fn lines_are_flagged_and_bad_windows_refused() {
        assert_eq!(
            bool_mask("pv_interpolated_mask([5.0, 1.0, 2.0, 3.0, 9.0], 3)").await,
            Some(vec![false, false, true, true, false])
        );
        let e = sql_error("pv_interpolated_mask([1.0], 2)").await;
        assert!(e.contains("`window` must be a whole number from 3"), "{e}");
    }
}
