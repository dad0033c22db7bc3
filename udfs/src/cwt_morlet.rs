//! `cwt_morlet(values [, num_scales])`: the continuous wavelet transform of one series.

use crate::common::{SIGNAL_PROCESSING, answer};
use crate::list_args::{coerce_float_list, list_of, row_values};
use crate::morlet::{CwtFloat, DENSE_MAX_LEN, DenseCwt, FilterBank, MAX_SCALES, cwt_direct};
use datafusion::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, Int64Array, ListArray, PrimitiveArray,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{DataType, Field, Float32Type, Float64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::{Arc, LazyLock};

/// Scales used when `num_scales` is omitted, as in the pipeline's `np.arange(1, 65)`.
pub const DEFAULT_SCALES: usize = 64;

/// The continuous wavelet transform with PyWavelets' real Morlet wavelet; see [`crate::morlet`]
/// for the numerics and `docs/udfs.md` for the SQL contract.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CwtMorlet {
    signature: Signature,
}

impl Default for CwtMorlet {
    fn default() -> Self {
        Self::new()
    }
}

impl CwtMorlet {
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for CwtMorlet {
    fn name(&self) -> &str {
        "cwt_morlet"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let (values, rest) = match arg_types {
            [values] => (values, None),
            [values, scales] => (values, Some(scales)),
            _ => {
                return plan_err!(
                    "cwt_morlet takes (values) or (values, num_scales), got {} arguments",
                    arg_types.len()
                );
            }
        };
        let mut coerced = vec![coerce_float_list("cwt_morlet", "values", values)?];
        if let Some(scales) = rest {
            if !(scales.is_integer() || scales.is_null()) {
                return plan_err!("cwt_morlet: `num_scales` must be an integer, got {scales}");
            }
            coerced.push(DataType::Int64);
        }
        Ok(coerced)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(DataType::List(item)) => Ok(list_of(list_of(item.data_type().clone()))),
            other => plan_err!("cwt_morlet: unexpected argument type {other:?}"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let values = arrays[0].as_list::<i32>();
        let scales = match arrays.get(1) {
            Some(a) => a
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .clone(),
            None => Int64Array::from_value(DEFAULT_SCALES as i64, values.len()),
        };
        let result = match values.value_type() {
            DataType::Float32 => transform::<Float32Type>(values, &scales)?,
            DataType::Float64 => transform::<Float64Type>(values, &scales)?,
            other => return exec_err!("cwt_morlet: unexpected element type {other}"),
        };
        answer(&args.args, result)
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            Documentation::builder(
                SIGNAL_PROCESSING,
                "Continuous wavelet transform of a series with the real Morlet wavelet \
                 (PyWavelets' `morl`) at scales 1..=num_scales. Returns the coefficient matrix \
                 as a list of `num_scales` rows (scale 1 first), each as long as the input. \
                 Equals `pywt.cwt(x, np.arange(1, num_scales + 1), 'morl')` (PyWavelets 1.9, \
                 precision 12); Float32 input is transformed in Float32, anything else in \
                 Float64. NULL elements are treated as NaN; a NULL or empty list gives NULL.",
                "cwt_morlet(values[, num_scales])",
            )
            .with_sql_example(
                r#"```sql
> SELECT array_length(c) AS scales, array_length(c[1]) AS samples
  FROM (SELECT cwt_morlet([0.0, 1.0, 0.0, -1.0, 0.0, 1.0, 0.0, -1.0], 4) AS c);
+--------+---------+
| scales | samples |
+--------+---------+
| 4      | 8       |
+--------+---------+
```"#,
            )
            .with_argument(
                "values",
                "List of numbers, one series in time order: a list literal, a list column, or \
                 `array_agg(x ORDER BY ts)`.",
            )
            .with_argument(
                "num_scales",
                "Number of scales, 1 to 1024 (default 64). NULL gives NULL.",
            )
            .with_related_udf("pv_scalogram")
            .build()
        });
        Some(&DOC)
    }
}

/// Transforms every row of `values` in the precision of `P`.
fn transform<P>(values: &ListArray, scales: &Int64Array) -> Result<ArrayRef>
where
    P: ArrowPrimitiveType,
    P::Native: CwtFloat,
{
    let rows = values.len();
    let items = values.values().as_primitive::<P>();
    let offsets = values.value_offsets();

    // Output shape first: each row's scales and length decide where its coefficients go.
    let mut shapes = Vec::with_capacity(rows);
    for row in 0..rows {
        let len = (offsets[row + 1] - offsets[row]) as usize;
        let shape = if values.is_null(row) || scales.is_null(row) || len == 0 {
            None
        } else {
            let s = scales.value(row);
            if !(1..=MAX_SCALES as i64).contains(&s) {
                return exec_err!(
                    "cwt_morlet: num_scales must be between 1 and {MAX_SCALES}, got {s} (row {row})"
                );
            }
            Some((len, s as usize))
        };
        shapes.push(shape);
    }
    let total_values: usize = shapes.iter().flatten().map(|(n, s)| n * s).sum();
    let total_rows: usize = shapes.iter().flatten().map(|(_, s)| s).sum();
    if total_values > i32::MAX as usize {
        return exec_err!(
            "cwt_morlet: one batch would produce {total_values} coefficients, more than a list \
             column holds (2^31); lower datafusion.execution.batch_size"
        );
    }

    let nan = P::Native::from_f64(f64::NAN);
    let mut out = vec![P::Native::default(); total_values];
    let mut scratch = Vec::new();
    let mut run = DenseRun::default();
    let mut pos = 0;
    for (row, shape) in shapes.iter().enumerate() {
        let Some((len, num_scales)) = *shape else {
            continue;
        };
        if len <= DENSE_MAX_LEN {
            if run.shape != Some((len, num_scales)) {
                run.flush(values, items, &mut out, &mut scratch);
                run = DenseRun {
                    shape: Some((len, num_scales)),
                    rows: Vec::new(),
                    out_start: pos,
                };
            }
            run.rows.push(row);
        } else {
            run.flush(values, items, &mut out, &mut scratch);
            row_values(values, items, row, nan, &mut scratch);
            let bank = FilterBank::get(num_scales);
            cwt_direct(
                &scratch,
                &bank,
                num_scales,
                &mut out[pos..pos + len * num_scales],
            );
        }
        pos += len * num_scales;
    }
    run.flush(values, items, &mut out, &mut scratch);

    // Two levels of offsets: rows -> scales, scales -> coefficients.
    let mut row_offsets = Vec::with_capacity(rows + 1);
    let mut scale_offsets = Vec::with_capacity(total_rows + 1);
    row_offsets.push(0i32);
    scale_offsets.push(0i32);
    let (mut scale_rows, mut coefficients) = (0i32, 0i32);
    for (len, num_scales) in shapes.iter().map(|s| s.unwrap_or((0, 0))) {
        for _ in 0..num_scales {
            coefficients += len as i32;
            scale_offsets.push(coefficients);
        }
        scale_rows += num_scales as i32;
        row_offsets.push(scale_rows);
    }
    let item = Arc::new(Field::new_list_field(P::DATA_TYPE, true));
    let inner = ListArray::try_new(
        Arc::clone(&item),
        OffsetBuffer::new(ScalarBuffer::from(scale_offsets)),
        Arc::new(PrimitiveArray::<P>::from_iter_values(out)),
        None,
    )?;
    let nulls = NullBuffer::from_iter(shapes.iter().map(Option::is_some));
    let outer = ListArray::try_new(
        Arc::new(Field::new_list_field(list_of(P::DATA_TYPE), true)),
        OffsetBuffer::new(ScalarBuffer::from(row_offsets)),
        Arc::new(inner),
        Some(nulls),
    )?;
    Ok(Arc::new(outer))
}

/// Consecutive short rows of one shape, transformed together as one matrix product. Rows in
/// between that produce nothing (NULL or empty) do not break a run, because their output is
/// empty and the run's output stays contiguous.
#[derive(Default)]
struct DenseRun {
    shape: Option<(usize, usize)>,
    rows: Vec<usize>,
    out_start: usize,
}

impl DenseRun {
    fn flush<P>(
        &mut self,
        values: &ListArray,
        items: &PrimitiveArray<P>,
        out: &mut [P::Native],
        scratch: &mut Vec<P::Native>,
    ) where
        P: ArrowPrimitiveType,
        P::Native: CwtFloat,
    {
        let Some((len, num_scales)) = self.shape.take() else {
            return;
        };
        let nan = P::Native::from_f64(f64::NAN);
        let mut series = Vec::with_capacity(self.rows.len() * len);
        for &row in &self.rows {
            row_values(values, items, row, nan, scratch);
            series.extend_from_slice(scratch);
        }
        let dense = DenseCwt::<P::Native>::get(len, num_scales);
        let width = dense.output_len();
        let end = self.out_start + self.rows.len() * width;
        dense.transform(
            &series,
            self.rows.len(),
            &mut out[self.out_start..end],
            width,
        );
        self.rows.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Float64Array;
    use datafusion::logical_expr::ScalarUDF;
    use datafusion::prelude::SessionContext;

    fn ctx() -> SessionContext {
        let ctx = SessionContext::new();
        ctx.register_udf(ScalarUDF::from(CwtMorlet::new()));
        ctx
    }

    async fn query(sql: &str) -> Result<Vec<datafusion::arrow::array::RecordBatch>> {
        ctx().sql(sql).await?.collect().await
    }

    #[tokio::test]
    async fn literal_returns_scales_by_samples() -> Result<()> {
        let batches = query(
            "SELECT array_length(c) AS s, array_length(c[1]) AS n, arrow_typeof(c) AS t \
             FROM (SELECT cwt_morlet([0.0, 1.0, 0.0, -1.0, 0.0, 1.0, 0.0, -1.0], 4) AS c)",
        )
        .await?;
        let b = &batches[0];
        assert_eq!(
            b.column(0)
                .as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
                .value(0),
            4
        );
        assert_eq!(
            b.column(1)
                .as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
                .value(0),
            8
        );
        assert!(b.column(2).as_string::<i32>().value(0).contains("Float64"));
        Ok(())
    }

    #[tokio::test]
    async fn default_is_64_scales_and_float32_stays_float32() -> Result<()> {
        let batches = query(
            "SELECT array_length(c) AS s, arrow_typeof(c) AS t FROM \
             (SELECT cwt_morlet(arrow_cast(make_array(1.0, 2.0, 3.0), 'List(Float32)')) AS c)",
        )
        .await?;
        let b = &batches[0];
        assert_eq!(
            b.column(0)
                .as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
                .value(0),
            64
        );
        let t = b.column(1).as_string::<i32>().value(0);
        assert!(t.contains("Float32") && !t.contains("Float64"), "{t}");
        Ok(())
    }

    #[tokio::test]
    async fn null_and_empty_inputs_give_null() -> Result<()> {
        let batches = query(
            "SELECT cwt_morlet(v, 8) IS NULL AS n FROM (VALUES (NULL), (make_array()), (make_array(1.0))) AS t(v)",
        )
        .await?;
        let n = batches[0].column(0).as_boolean();
        assert_eq!((n.value(0), n.value(1), n.value(2)), (true, true, false));
        Ok(())
    }

    #[tokio::test]
    async fn bad_arguments_are_refused_with_the_reason() {
        let err = query("SELECT cwt_morlet([1.0, 2.0], 0)")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("num_scales must be between 1 and 1024, got 0"),
            "{err}"
        );
        let err = query("SELECT cwt_morlet('abc', 4)")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("`values` must be a list of numbers"), "{err}");
        let err = query("SELECT cwt_morlet([1.0], 'x')")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("`num_scales` must be an integer"), "{err}");
    }

    /// Mixed lengths, NULLs and both paths (dense and direct) in one batch: every row equals
    /// its own single-series transform.
    #[test]
    fn batch_rows_equal_single_series_transforms() -> Result<()> {
        let lens = [64usize, 64, 0, 64, 200, 3, 3, 64];
        let series: Vec<Option<Vec<Option<f64>>>> = lens
            .iter()
            .enumerate()
            .map(|(r, &n)| {
                (r != 2).then(|| {
                    (0..n)
                        .map(|i| Some(((i * 31 + r) % 17) as f64 - 8.0))
                        .collect()
                })
            })
            .collect();
        let values = ListArray::from_iter_primitive::<Float64Type, _, _>(series.clone());
        let scales = Int64Array::from(vec![64, 64, 64, 8, 16, 64, 64, 64]);
        let out = transform::<Float64Type>(&values, &scales)?;
        let out = out.as_list::<i32>();
        for (row, s) in series.iter().enumerate() {
            match s {
                Some(x) if !x.is_empty() => {
                    let x: Vec<f64> = x.iter().map(|v| v.unwrap()).collect();
                    let expect = crate::morlet::cwt(&x, scales.value(row) as usize);
                    let got = out.value(row);
                    let got = got.as_list::<i32>();
                    let (start, end) = (got.value_offsets()[0], got.value_offsets()[got.len()]);
                    let flat = got.values().slice(start as usize, (end - start) as usize);
                    let flat: &Float64Array = flat.as_primitive::<Float64Type>();
                    assert_eq!(flat.len(), expect.len(), "row {row}");
                    for (a, b) in flat.values().iter().zip(&expect) {
                        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "row {row}");
                    }
                }
                _ => assert!(out.is_null(row), "row {row}"),
            }
        }
        Ok(())
    }
}
