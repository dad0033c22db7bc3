//! `pv_window_series(slot, ts, value)`: an aggregate that lays a window's readings out on its
//! 64-slot grid, the series `pv_scalogram` takes.
//!
//! It replaces `array_agg(value ORDER BY ts)` (plus a slot list) in windowing. That form keeps
//! every reading of every open window as boxed scalars and sorts each window on output; this one
//! keeps 64 floats, 64 timestamps and a 64-bit mask per window in flat vectors, so grouping a
//! day of readings costs one store per reading.

use crate::common::{SIGNAL_PROCESSING, WINDOW_LEN, WINDOWING_EXAMPLE};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, FixedSizeListArray, Float32Array, Int64Array,
    PrimitiveArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Field, FieldRef, Float32Type, Int64Type,
};
use datafusion::common::utils::split_vec_min_alloc;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use std::sync::{Arc, LazyLock};

/// The result type: `FixedSizeList<Float32, 64>`, slot `s` at index `s`, NULL where the window
/// has no valid reading.
pub fn window_series_type() -> DataType {
    fixed_list_of(DataType::Float32)
}

fn fixed_list_of(element: DataType) -> DataType {
    DataType::FixedSizeList(
        Arc::new(Field::new_list_field(element, true)),
        WINDOW_LEN as i32,
    )
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PvWindowSeries {
    signature: Signature,
}

impl Default for PvWindowSeries {
    fn default() -> Self {
        Self::new()
    }
}

impl PvWindowSeries {
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for PvWindowSeries {
    fn name(&self) -> &str {
        "pv_window_series"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [slot, ts, value] = arg_types else {
            return plan_err!(
                "pv_window_series takes (slot, ts, value), got {} arguments",
                arg_types.len()
            );
        };
        if !(slot.is_integer() || slot.is_null()) {
            return plan_err!("pv_window_series: `slot` must be an integer (0..=63), got {slot}");
        }
        if !(ts.is_integer() || ts.is_null() || matches!(ts, DataType::Timestamp(..))) {
            return plan_err!(
                "pv_window_series: `ts` must be a timestamp or an integer (it orders readings \
                 that share a slot), got {ts}"
            );
        }
        if !(value.is_numeric() || value.is_null()) {
            return plan_err!("pv_window_series: `value` must be a number, got {value}");
        }
        Ok(vec![DataType::Int64, DataType::Int64, DataType::Float32])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(window_series_type())
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[values]", args.name),
                fixed_list_of(DataType::Float32),
                false,
            )),
            Arc::new(Field::new(
                format!("{}[ts]", args.name),
                fixed_list_of(DataType::Int64),
                false,
            )),
        ])
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(WindowSeriesAccumulator::default()))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(WindowSeriesGroups::default()))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            Documentation::builder(
                SIGNAL_PROCESSING,
                "Aggregates one window's readings of one sensor into its 64-slot series \
                 (`FixedSizeList<Float32, 64>`): the reading with slot `s` lands at index `s`. \
                 A slot with no valid reading (none, or only NULL, NaN or infinite values) is \
                 NULL. A slot given twice keeps the valid reading with the earliest `ts` (on \
                 equal `ts`, the smaller value), so the result does not depend on the order \
                 readings arrive in. A slot outside 0..=63 is an error. Readings with a NULL \
                 slot or `ts` are not placed.",
                "pv_window_series(slot, ts, value)",
            )
            .with_sql_example(WINDOWING_EXAMPLE)
            .with_argument("slot", "The reading's position in its window, 0..=63.")
            .with_argument(
                "ts",
                "The reading's time (a timestamp or an integer): the earliest valid reading of \
                 a slot is kept.",
            )
            .with_argument("value", "The reading (any number; kept as Float32).")
            .with_related_udf("pv_scalogram")
            .build()
        });
        Some(&DOC)
    }
}

/// The slots of many windows, flat: window `w`'s slot `s` is at `w * 64 + s`, and bit `s` of
/// `filled[w]` says whether it holds a reading yet.
#[derive(Debug, Default, Clone)]
struct WindowSlots {
    values: Vec<f32>,
    ts: Vec<i64>,
    filled: Vec<u64>,
}

impl WindowSlots {
    fn windows(&self) -> usize {
        self.filled.len()
    }

    fn grow_to(&mut self, windows: usize) {
        if windows > self.windows() {
            self.values.resize(windows * WINDOW_LEN, 0.0);
            self.ts.resize(windows * WINDOW_LEN, 0);
            self.filled.resize(windows, 0);
        }
    }

    /// Offers a valid reading to a slot: it is kept if the slot is empty or it is earlier (on
    /// equal time, smaller) than the one there, so merging in any order gives the same result.
    #[inline]
    fn offer(&mut self, window: usize, slot: usize, ts: i64, value: f32) {
        let i = window * WINDOW_LEN + slot;
        let bit = 1u64 << slot;
        let keep = self.filled[window] & bit == 0
            || ts < self.ts[i]
            || (ts == self.ts[i] && value.total_cmp(&self.values[i]).is_lt());
        if keep {
            self.values[i] = value;
            self.ts[i] = ts;
            self.filled[window] |= bit;
        }
    }

    /// Places each row's reading into window `windows(row)`. Rows the filter drops, or with a
    /// NULL slot, `ts` or value, or a non-finite value, are not placed.
    fn place(
        &mut self,
        args: &[ArrayRef],
        filter: Option<&BooleanArray>,
        windows: impl Fn(usize) -> usize,
    ) -> Result<()> {
        let slots = args[0].as_primitive::<Int64Type>();
        let ts = args[1].as_primitive::<Int64Type>();
        let values = args[2].as_primitive::<Float32Type>();
        let nulls = NullBuffer::union(
            NullBuffer::union(slots.nulls(), ts.nulls()).as_ref(),
            values.nulls(),
        );
        for row in 0..slots.len() {
            if nulls.as_ref().is_some_and(|n| n.is_null(row))
                || filter.is_some_and(|f| !f.is_valid(row) || !f.value(row))
            {
                continue;
            }
            let slot = slots.value(row);
            if !(0..WINDOW_LEN as i64).contains(&slot) {
                return exec_err!(
                    "pv_window_series: row {row} has slot {slot}; slots are 0..={}",
                    WINDOW_LEN - 1
                );
            }
            let value = values.value(row);
            if value.is_finite() {
                self.offer(windows(row), slot as usize, ts.value(row), value);
            }
        }
        Ok(())
    }

    /// Merges partial states (`values`, `ts` lists) row by row into windows `windows(row)`.
    fn merge(&mut self, states: &[ArrayRef], windows: impl Fn(usize) -> usize) -> Result<()> {
        let values = states[0].as_fixed_size_list();
        let ts = states[1].as_fixed_size_list();
        let (values, ts) = (
            values.values().as_primitive::<Float32Type>(),
            ts.values().as_primitive::<Int64Type>(),
        );
        for row in 0..states[0].len() {
            let window = windows(row);
            for slot in 0..WINDOW_LEN {
                let i = row * WINDOW_LEN + slot;
                if ts.is_valid(i) && values.is_valid(i) {
                    self.offer(window, slot, ts.value(i), values.value(i));
                }
            }
        }
        Ok(())
    }

    /// Removes the first `n` windows (all with [`EmitTo::All`]) and returns them.
    fn split_first(&mut self, emit_to: EmitTo) -> WindowSlots {
        let n = match emit_to {
            EmitTo::All => self.windows(),
            EmitTo::First(n) => n.min(self.windows()),
        };
        WindowSlots {
            values: split_vec_min_alloc(&mut self.values, n * WINDOW_LEN),
            ts: split_vec_min_alloc(&mut self.ts, n * WINDOW_LEN),
            filled: split_vec_min_alloc(&mut self.filled, n),
        }
    }

    /// The windows' values and times as `FixedSizeList`s with NULL for empty slots.
    fn into_arrays(self) -> Result<(ArrayRef, ArrayRef)> {
        let items = NullBuffer::from_iter(
            self.filled
                .iter()
                .flat_map(|mask| (0..WINDOW_LEN).map(move |slot| mask & (1 << slot) != 0)),
        );
        Ok((
            fixed_list(Float32Array::new(self.values.into(), Some(items.clone())))?,
            fixed_list(Int64Array::new(self.ts.into(), Some(items)))?,
        ))
    }

    fn size(&self) -> usize {
        self.values.capacity() * size_of::<f32>()
            + self.ts.capacity() * size_of::<i64>()
            + self.filled.capacity() * size_of::<u64>()
    }
}

fn fixed_list<T: ArrowPrimitiveType>(items: PrimitiveArray<T>) -> Result<ArrayRef> {
    let field = Arc::new(Field::new_list_field(items.data_type().clone(), true));
    Ok(Arc::new(FixedSizeListArray::try_new(
        field,
        WINDOW_LEN as i32,
        Arc::new(items),
        None,
    )?))
}

/// The grouped form, used by `GROUP BY`: all of an operator's windows in one [`WindowSlots`].
#[derive(Debug, Default)]
struct WindowSeriesGroups {
    slots: WindowSlots,
}

impl GroupsAccumulator for WindowSeriesGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.slots.grow_to(total_num_groups);
        self.slots
            .place(values, opt_filter, |row| group_indices[row])
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(self.slots.split_first(emit_to).into_arrays()?.0)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (values, ts) = self.slots.split_first(emit_to).into_arrays()?;
        Ok(vec![values, ts])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.slots.grow_to(total_num_groups);
        self.slots.merge(values, |row| group_indices[row])
    }

    /// Each row as its own window (DataFusion skips partial aggregation this way when grouping
    /// does not reduce rows, which windows of 64 readings do).
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut rows = WindowSlots::default();
        rows.grow_to(values[0].len());
        rows.place(values, opt_filter, |row| row)?;
        let (values, ts) = rows.into_arrays()?;
        Ok(vec![values, ts])
    }

    fn size(&self) -> usize {
        self.slots.size()
    }
}

/// The ungrouped form (an aggregate over a whole table): one window.
#[derive(Debug, Default)]
struct WindowSeriesAccumulator {
    slots: WindowSlots,
}

impl WindowSeriesAccumulator {
    /// The window as arrays, keeping it: evaluate and state may be called more than once.
    fn one_window(&mut self) -> Result<(ArrayRef, ArrayRef)> {
        self.slots.grow_to(1);
        self.slots.clone().into_arrays()
    }
}

impl Accumulator for WindowSeriesAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.slots.grow_to(1);
        self.slots.place(values, None, |_| 0)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        ScalarValue::try_from_array(&self.one_window()?.0, 0)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (values, ts) = self.one_window()?;
        Ok(vec![
            ScalarValue::try_from_array(&values, 0)?,
            ScalarValue::try_from_array(&ts, 0)?,
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.slots.grow_to(1);
        self.slots.merge(states, |_| 0)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.slots.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(slots: &[i64], ts: &[i64], values: &[f32]) -> Vec<ArrayRef> {
        vec![
            Arc::new(Int64Array::from(slots.to_vec())),
            Arc::new(Int64Array::from(ts.to_vec())),
            Arc::new(Float32Array::from(values.to_vec())),
        ]
    }

    fn series(list: &ArrayRef, row: usize) -> Vec<Option<f32>> {
        let row = list.as_fixed_size_list().value(row);
        row.as_primitive::<Float32Type>().iter().collect()
    }

    #[test]
    fn readings_land_in_their_slots_and_the_earliest_valid_wins() {
        let mut g = WindowSeriesGroups::default();
        // Window 0: slot 3 twice (later first), slot 5 NaN then valid; window 1: slot 63.
        let batch = args(
            &[3, 3, 5, 5, 63],
            &[200, 100, 10, 20, 7],
            &[2.0, 1.0, f32::NAN, 5.0, 9.0],
        );
        g.update_batch(&batch, &[0, 0, 0, 0, 1], None, 2).unwrap();
        let out = g.evaluate(EmitTo::All).unwrap();
        let (w0, w1) = (series(&out, 0), series(&out, 1));
        assert_eq!(w0[3], Some(1.0));
        assert_eq!(
            w0[5],
            Some(5.0),
            "a NaN reading leaves the slot to a valid one"
        );
        assert_eq!(w0.iter().flatten().count(), 2);
        assert_eq!(w1[63], Some(9.0));
        assert_eq!(w1.iter().flatten().count(), 1);
    }

    #[test]
    fn merging_partial_states_in_either_order_gives_the_same_series() {
        let a = args(&[0, 1, 2], &[5, 5, 5], &[1.0, 2.0, 3.0]);
        let b = args(&[1, 2, 4], &[4, 5, 9], &[20.0, 1.5, 40.0]);
        let partial = |batch: &[ArrayRef]| {
            let mut g = WindowSeriesGroups::default();
            g.update_batch(batch, &[0, 0, 0], None, 1).unwrap();
            g.state(EmitTo::All).unwrap()
        };
        let (sa, sb) = (partial(&a), partial(&b));
        let merged = |first: &[ArrayRef], second: &[ArrayRef]| {
            let mut g = WindowSeriesGroups::default();
            g.merge_batch(first, &[0], 1).unwrap();
            g.merge_batch(second, &[0], 1).unwrap();
            series(&g.evaluate(EmitTo::All).unwrap(), 0)
        };
        let ab = merged(&sa, &sb);
        assert_eq!(ab, merged(&sb, &sa));
        // slot 1: ts 4 beats ts 5; slot 2: equal ts, the smaller value.
        assert_eq!(
            &ab[..5],
            &[Some(1.0), Some(20.0), Some(1.5), None, Some(40.0)]
        );
    }

    #[test]
    fn emitting_the_first_windows_keeps_the_rest() {
        let mut g = WindowSeriesGroups::default();
        g.update_batch(
            &args(&[0, 1, 2], &[0, 0, 0], &[1.0, 2.0, 3.0]),
            &[0, 1, 2],
            None,
            3,
        )
        .unwrap();
        let first = g.evaluate(EmitTo::First(2)).unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!(series(&first, 1)[1], Some(2.0));
        let rest = g.evaluate(EmitTo::All).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(series(&rest, 0)[2], Some(3.0));
    }

    #[test]
    fn rows_converted_to_state_merge_like_updated_ones() {
        let batch = args(&[3, 3, 9], &[2, 1, 0], &[7.0, 6.0, f32::NAN]);
        let mut updated = WindowSeriesGroups::default();
        updated.update_batch(&batch, &[0, 0, 0], None, 1).unwrap();
        let mut merged = WindowSeriesGroups::default();
        let states = merged.convert_to_state(&batch, None).unwrap();
        assert_eq!(states[0].len(), 3, "one state per row");
        merged.merge_batch(&states, &[0, 0, 0], 1).unwrap();
        assert_eq!(
            series(&updated.evaluate(EmitTo::All).unwrap(), 0),
            series(&merged.evaluate(EmitTo::All).unwrap(), 0)
        );
    }

    #[test]
    fn a_slot_outside_the_window_is_an_error_naming_the_row() {
        let mut g = WindowSeriesGroups::default();
        let err = g
            .update_batch(&args(&[0, 64], &[0, 0], &[1.0, 1.0]), &[0, 0], None, 1)
            .unwrap_err();
        assert!(err.to_string().contains("row 1 has slot 64"), "{err}");
    }

    #[test]
    fn the_ungrouped_form_can_be_evaluated_twice() {
        let mut acc = WindowSeriesAccumulator::default();
        acc.update_batch(&args(&[7], &[0], &[3.0])).unwrap();
        let once = acc.evaluate().unwrap();
        assert_eq!(once, acc.evaluate().unwrap());
        let ScalarValue::FixedSizeList(list) = once else {
            panic!("{once:?}")
        };
        assert_eq!(list.value(0).as_primitive::<Float32Type>().value(7), 3.0);
    }
}
