//! Closed windows judged by gold's own plan: `plans/predict.sql` runs over each batch of closed
//! windows shaped as silver's rows, so the stream and `pvflow run predict` diagnose, flag and
//! price a window by one text. A window with fewer than 48 valid readings in a channel gets no
//! diagnosis (predict leaves it out of gold); the stream keeps it, counted, with its flags and
//! a NULL `fault_code`.

use crate::windows::{CHANNELS, ClosedWindow};
use datafusion::arrow::array::{
    ArrayRef, FixedSizeListArray, Float32Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::catalog::MemoryCatalogProviderList;
use datafusion::common::{ParamValues, Result, ScalarValue};
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use pvflow_udfs::{ArrayRating, WINDOW_LEN};
use std::collections::HashMap;
use std::sync::Arc;

/// The channels' series columns, in the image's order.
const SERIES: [&str; CHANNELS] = [
    "voltage_series",
    "current_series",
    "temperature_series",
    "irradiance_series",
];

/// A batch of closed windows as silver's rows: ingest's per-window flags beside the series (the
/// mean temperature over the window's slots, where ingest averages every reading it got).
const AS_SILVER: &str = "
SELECT *,
       pv_quality_flags(voltage_series, current_series, temperature_series, irradiance_series,
                        readings) AS quality_flags,
       pv_series_mean(temperature_series) AS temperature_mean
FROM closed_windows";

/// A live table row per closed window: its device, window and readings, the Kafka partition it
/// came from, and predict's judgement (nameplates from `devices`, else `$rated_power_w`,
/// `$gamma_pdc_per_c`, `$v_mp` and `$i_mp` bound from `[plant]`). The fleet's temperature is
/// the median of the batch's windows of one array type and start, not of the whole plant's: a
/// partition's devices are a sample of every type (Kafka spreads devices by key), and a batch
/// never waits for other partitions.
const LIVE_ROWS: &str = concat!(
    "
SELECT w.device_id, w.window_start, CAST(w.window_start AS DATE) AS date, w.readings,
       w.kafka_partition, g.fault_code, g.fault_label, g.probabilities, g.model_version,
       COALESCE(g.quality_flags, w.quality_flags) AS quality_flags, g.irradiance_mean,
       g.measured_power_w, g.expected_power_w
FROM silver w
LEFT JOIN (
",
    include_str!("../../plans/predict.sql"),
    "
) g ON w.device_id = g.device_id AND w.window_start = g.window_start"
);

/// `windows` of Kafka partition `partition` as a table: one row each, its series as
/// `pv_window_series` gives them.
fn windows_batch(windows: &[ClosedWindow], partition: i32) -> Result<RecordBatch> {
    let series_type = DataType::FixedSizeList(
        Arc::new(Field::new_list_field(DataType::Float32, true)),
        WINDOW_LEN as i32,
    );
    let mut fields = vec![
        Field::new("device_id", DataType::Utf8, false),
        Field::new(
            "window_start",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("readings", DataType::Int64, false),
        Field::new("kafka_partition", DataType::Int32, false),
    ];
    fields.extend(
        SERIES
            .iter()
            .map(|name| Field::new(*name, series_type.clone(), false)),
    );
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            windows.iter().map(|w| w.device_id.as_str()),
        )),
        Arc::new(
            TimestampMillisecondArray::from_iter_values(windows.iter().map(|w| w.window_start_ms))
                .with_timezone("UTC"),
        ),
        Arc::new(Int64Array::from_iter_values(
            windows.iter().map(|w| i64::from(w.readings)),
        )),
        Arc::new(Int32Array::from_value(partition, windows.len())),
    ];
    for channel in 0..CHANNELS {
        let values = Float32Array::from_iter(
            windows
                .iter()
                .flat_map(|w| w.series[channel].iter().copied()),
        );
        let item = Arc::new(Field::new_list_field(DataType::Float32, true));
        columns.push(Arc::new(FixedSizeListArray::try_new(
            item,
            WINDOW_LEN as i32,
            Arc::new(values),
            None,
        )?));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Diagnoses `windows` of Kafka partition `partition` in a session of `ctx`'s functions (and
/// its model) and `devices`, expecting power of arrays rated `rating`: the live table's rows,
/// in any order.
pub async fn diagnose(
    ctx: &SessionContext,
    windows: &[ClosedWindow],
    partition: i32,
    rating: &ArrayRating,
) -> Result<Vec<RecordBatch>> {
    if windows.is_empty() {
        return Ok(Vec::new());
    }
    let batch = batch_session(ctx, windows_batch(windows, partition)?).await?;
    let params = ParamValues::from(HashMap::from([
        (
            "run_id".to_string(),
            ScalarValue::Utf8(Some("stream".into())),
        ),
        (
            "rated_power_w".to_string(),
            ScalarValue::Float64(Some(rating.rated_power_w)),
        ),
        (
            "gamma_pdc_per_c".to_string(),
            ScalarValue::Float64(Some(rating.gamma_pdc_per_c)),
        ),
        ("v_mp".to_string(), ScalarValue::Float64(Some(rating.v_mp))),
        ("i_mp".to_string(), ScalarValue::Float64(Some(rating.i_mp))),
    ]));
    batch
        .sql(LIVE_ROWS)
        .await?
        .with_param_values(params)?
        .collect()
        .await
}

/// A session for one batch: `ctx`'s functions, settings and `devices`, and the batch as
/// `silver`, in a catalog of its own (so `predict.sql` runs as written, and batches never see
/// each other's tables).
async fn batch_session(ctx: &SessionContext, windows: RecordBatch) -> Result<SessionContext> {
    let state = ctx.state();
    let config = state
        .config()
        .clone()
        .with_create_default_catalog_and_schema(true);
    let batch = SessionContext::new_with_state(
        SessionStateBuilder::new_from_existing(state)
            .with_config(config)
            .with_catalog_list(Arc::new(MemoryCatalogProviderList::new()))
            .build(),
    );
    batch.register_table("devices", ctx.table_provider("devices").await?)?;
    batch.register_batch("closed_windows", windows)?;
    let silver = batch.sql(AS_SILVER).await?.into_view();
    batch.register_table("silver", silver)?;
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Int32Type;

    fn session() -> SessionContext {
        let file = |path| pvflow_testkit::repo_file(path);
        let library = pvflow_testkit::onnxruntime_library().expect("ONNX Runtime");
        let model = pvflow_udfs::FaultModel::load(
            &file("models/pv_fault_lean.onnx"),
            Some(std::path::Path::new(&library)),
        )
        .expect("model");
        let normalization =
            pvflow_udfs::Normalization::from_json_file(&file("models/normalization.json"))
                .expect("normalization");
        let ctx = SessionContext::new();
        for udf in pvflow_udfs::all_udfs(normalization, Some(model)) {
            ctx.register_udf(udf);
        }
        // Every pvflow session has the plant's devices; these windows' plant lists none.
        let schema = Arc::new(Schema::new(vec![
            Field::new("device_id", DataType::Utf8, false),
            Field::new("array_type", DataType::Utf8, false),
            Field::new("rated_power_w", DataType::Float64, false),
            Field::new("gamma_pdc_per_c", DataType::Float64, false),
            Field::new("v_mp", DataType::Float64, false),
            Field::new("i_mp", DataType::Float64, false),
            Field::new("latitude", DataType::Float64, false),
            Field::new("longitude", DataType::Float64, false),
        ]));
        ctx.register_batch("devices", RecordBatch::new_empty(schema))
            .expect("devices");
        ctx
    }

    /// A window of a healthy array at noon, `valid` of its 64 readings present.
    fn window(device_id: &str, valid: usize) -> ClosedWindow {
        window_at(device_id, valid, 45.0)
    }

    /// The same, its module at `temperature` C.
    fn window_at(device_id: &str, valid: usize, temperature: f32) -> ClosedWindow {
        let level = [450.0, 7.5, temperature, 950.0];
        let swing = [1.0, 0.05, 0.2, 1.0];
        let series = std::array::from_fn(|channel| {
            std::array::from_fn(|slot| {
                let wobble = (slot as f32 * 0.3).sin();
                (slot < valid).then(|| level[channel] + swing[channel] * wobble)
            })
        });
        ClosedWindow {
            device_id: device_id.into(),
            window_start_ms: 1_780_272_640_000 + 15 * 1_280_000,
            readings: valid as u32,
            series,
        }
    }

    #[tokio::test]
    async fn windows_are_diagnosed_unless_too_few_readings_are_valid() {
        let batches = diagnose(
            &session(),
            &[window("full", 64), window("sparse", 40)],
            3,
            &ArrayRating::default(),
        )
        .await
        .expect("diagnosed");
        let batch = datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches)
            .expect("one batch");
        assert_eq!(batch.num_rows(), 2);
        let schema = batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names,
            [
                "device_id",
                "window_start",
                "date",
                "readings",
                "kafka_partition",
                "fault_code",
                "fault_label",
                "probabilities",
                "model_version",
                "quality_flags",
                "irradiance_mean",
                "measured_power_w",
                "expected_power_w"
            ]
        );
        let device = batch.column(0).as_string::<i32>();
        let code = batch.column(5).as_primitive::<Int32Type>();
        for row in 0..2 {
            let scored = device.value(row) == "full";
            assert_eq!(code.is_valid(row), scored, "{}", device.value(row));
        }
        assert!(
            batch
                .column(4)
                .as_primitive::<Int32Type>()
                .iter()
                .all(|p| p == Some(3))
        );
    }

    #[tokio::test]
    async fn a_temperature_far_from_its_types_median_is_flagged() {
        let windows = [
            window_at("a", 64, 45.0),
            window_at("b", 64, 46.0),
            window_at("c", 64, 44.5),
            window_at("hot", 64, 52.0),
        ];
        let batches = diagnose(&session(), &windows, 0, &ArrayRating::default())
            .await
            .expect("diagnosed");
        for (device, flags, diagnosed) in flagged(&batches) {
            let hot = device == "hot";
            assert_eq!(
                flags.iter().any(|f| f == "temperature_inconsistent"),
                hot,
                "{device}: {flags:?}"
            );
            // An untrusted window gets no fault class.
            assert_eq!(diagnosed, flags.is_empty(), "{device}");
        }
    }

    #[tokio::test]
    async fn a_window_of_more_readings_than_slots_is_flagged_as_ingest_flags_it() {
        let mut jumped = window("jumped", 64);
        jumped.readings = 90;
        let batches = diagnose(
            &session(),
            &[window("steady", 64), jumped],
            0,
            &ArrayRating::default(),
        )
        .await
        .expect("diagnosed");
        for (device, flags, _) in flagged(&batches) {
            let jumped = device == "jumped";
            assert_eq!(
                flags.iter().any(|f| f == "conflicting_timestamps"),
                jumped,
                "{device}: {flags:?}"
            );
        }
    }

    /// Each live row's device, quality flags and whether it has a fault class.
    fn flagged(batches: &[RecordBatch]) -> Vec<(String, Vec<String>, bool)> {
        let batch = datafusion::arrow::compute::concat_batches(&batches[0].schema(), batches)
            .expect("one batch");
        let device = batch.column(0).as_string::<i32>();
        let code = batch.column(5).as_primitive::<Int32Type>();
        let flags = batch.column(9).as_list::<i32>();
        (0..batch.num_rows())
            .map(|row| {
                let row_flags = flags.value(row);
                let row_flags = row_flags.as_string::<i32>().iter().flatten();
                (
                    device.value(row).to_string(),
                    row_flags.map(str::to_string).collect(),
                    code.is_valid(row),
                )
            })
            .collect()
    }
}
