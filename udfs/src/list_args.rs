//! Argument handling shared by the list-taking functions: type coercion and reading one row's
//! values out of a list array.

use datafusion::arrow::array::{Array, ArrowPrimitiveType, GenericListArray, PrimitiveArray};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, plan_err};
use std::sync::Arc;

/// `List<element>` with Arrow's conventional nullable `item` field.
pub fn list_of(element: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(element, true)))
}

/// The element type of a list-like argument (`List`, `LargeList`, `FixedSizeList`), or `None`.
pub fn list_element(arg: &DataType) -> Option<&DataType> {
    match arg {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            Some(f.data_type())
        }
        _ => None,
    }
}

/// Coerces a list of numbers to `List<Float32>` when its elements are `Float32` (or narrower
/// floats), and to `List<Float64>` otherwise, so the transform runs in the input's precision.
pub fn coerce_float_list(function: &str, argument: &str, arg: &DataType) -> Result<DataType> {
    if arg.is_null() {
        return Ok(list_of(DataType::Float64));
    }
    match list_element(arg) {
        Some(DataType::Float32 | DataType::Float16) => Ok(list_of(DataType::Float32)),
        Some(e) if e.is_numeric() || e.is_null() => Ok(list_of(DataType::Float64)),
        _ => plan_err!(
            "{function}: `{argument}` must be a list of numbers (for example array_agg(x ORDER BY ts)), got {arg}"
        ),
    }
}

/// Coerces a list of integers to `List<Int64>`.
pub fn coerce_int_list(function: &str, argument: &str, arg: &DataType) -> Result<DataType> {
    match list_element(arg) {
        Some(e) if e.is_integer() || e.is_null() => Ok(list_of(DataType::Int64)),
        _ if arg.is_null() => Ok(list_of(DataType::Int64)),
        _ => plan_err!("{function}: `{argument}` must be a list of integers, got {arg}"),
    }
}

/// Copies row `row` of a list of primitives into `out`, with NULL elements as `null_as`.
/// Returns the number of elements.
pub fn row_values<P: ArrowPrimitiveType>(
    list: &GenericListArray<i32>,
    items: &PrimitiveArray<P>,
    row: usize,
    null_as: P::Native,
    out: &mut Vec<P::Native>,
) -> usize {
    let offsets = list.value_offsets();
    let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
    out.clear();
    if items.null_count() == 0 {
        out.extend_from_slice(&items.values()[start..end]);
    } else {
        out.extend((start..end).map(|i| {
            if items.is_null(i) {
                null_as
            } else {
                items.value(i)
            }
        }));
    }
    end - start
}
