//! What the per-window mean functions share: the mean, over a window's slots, of a value of one
//! or two of its series, counting only the slots where every series read has a valid reading.

use crate::list_args::{coerce_float_list, list_of};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float32Array, ListArray};
use datafusion::arrow::datatypes::{DataType, Float32Type};
use datafusion::common::{Result, exec_err, plan_err};

/// Coerces `names.len()` series arguments (then nothing else) to `List<Float32>`.
pub(crate) fn coerce_series(
    function: &str,
    names: &[&str],
    arg_types: &[DataType],
) -> Result<Vec<DataType>> {
    if arg_types.len() < names.len() {
        return plan_err!(
            "{function} takes ({}), got {} arguments",
            names.join(", "),
            arg_types.len()
        );
    }
    names
        .iter()
        .zip(arg_types)
        .map(|(name, arg)| {
            coerce_float_list(function, name, arg)?;
            Ok(list_of(DataType::Float32))
        })
        .collect()
}

/// Row by row, the mean of `value(a, b)` over the slots where `a` (and `b`, when given) hold a
/// finite reading; NULL for a NULL series or a row without any such slot.
pub(crate) fn slot_means(
    function: &str,
    a: &ArrayRef,
    b: Option<&ArrayRef>,
    value: impl Fn(f32, f32) -> f64,
) -> Result<Float32Array> {
    let a = a.as_list::<i32>();
    let b = b.map(|b| b.as_list::<i32>());
    let (a_items, b_items) = (
        a.values().as_primitive::<Float32Type>(),
        b.map(|b| b.values().as_primitive::<Float32Type>()),
    );
    let reading = |items: &datafusion::arrow::array::Float32Array, i: usize| {
        (items.is_valid(i) && items.value(i).is_finite()).then(|| items.value(i))
    };
    let mut means = Vec::with_capacity(a.len());
    for row in 0..a.len() {
        if a.is_null(row) || b.is_some_and(|b| b.is_null(row)) {
            means.push(None);
            continue;
        }
        let range = |list: &ListArray| {
            let offsets = list.value_offsets();
            offsets[row] as usize..offsets[row + 1] as usize
        };
        let a_range = range(a);
        if let Some(b) = b
            && range(b).len() != a_range.len()
        {
            return exec_err!(
                "{function}: row {row} has series of {} and {} readings; a window's series have one length",
                a_range.len(),
                range(b).len()
            );
        }
        let b_start = b.map_or(0, |b| range(b).start);
        let (mut sum, mut n) = (0.0f64, 0u32);
        for (k, i) in a_range.enumerate() {
            let Some(x) = reading(a_items, i) else {
                continue;
            };
            let y = match b_items {
                Some(items) => match reading(items, b_start + k) {
                    Some(y) => y,
                    None => continue,
                },
                None => 0.0,
            };
            sum += value(x, y);
            n += 1;
        }
        means.push((n > 0).then(|| (sum / f64::from(n)) as f32));
    }
    Ok(Float32Array::from(means))
}
