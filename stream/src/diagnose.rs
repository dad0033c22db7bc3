//! Closed windows diagnosed in batches by the plans' own function, `pv_fault_classify`, with its
//! rules: a window with fewer than 48 valid readings in a channel gets no diagnosis (its
//! `fault_code` is NULL) and is kept, counted, like every other.

use crate::windows::{CHANNELS, ClosedWindow};
use datafusion::arrow::array::{
    ArrayRef, FixedSizeListArray, Float32Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::common::{ParamValues, Result, ScalarValue};
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

/// A live table row per closed window: its device, window and readings, the Kafka partition it
/// came from, its data-quality flags and its diagnosis and power as `plans/predict.sql` spells
/// gold's (nameplates from `devices`, else `$rated_power_w`, `$gamma_pdc_per_c`, `$v_mp` and
/// `$i_mp` bound from `[plant]`). The fleet's temperature is the median of the batch's windows
/// of one array type and start, not of the whole plant's: a partition's devices are a sample of
/// every type (Kafka spreads devices by key), and a batch never waits for other partitions.
const DIAGNOSIS: &str = r#"
SELECT device_id,
       window_start,
       CAST(window_start AS DATE) AS date,
       readings,
       kafka_partition,
       CASE WHEN cardinality(quality_flags) = 0 THEN "diagnosis.fault_code" END AS fault_code,
       CASE WHEN cardinality(quality_flags) = 0 THEN "diagnosis.fault_label" END AS fault_label,
       "diagnosis.probabilities" AS probabilities,
       "diagnosis.model_version" AS model_version,
       quality_flags,
       irradiance_mean,
       measured_power_w,
       expected_power_w
FROM (SELECT device_id, window_start, readings, kafka_partition, irradiance_mean,
             measured_power_w, expected_power_w,
             array_concat(
               window_flags,
               CASE WHEN expected_power_w > 0.05 * rated_power_w
                         AND measured_power_w > 1.15 * expected_power_w
                    THEN make_array('irradiance_inconsistent') END,
               CASE WHEN fleet_devices >= 3 AND abs(temperature_mean - fleet_temperature) > 3
                    THEN make_array('temperature_inconsistent') END,
               CASE WHEN light_at_night >= 3
                    THEN make_array('irradiance_sun_inconsistent') END) AS quality_flags,
             unnest(diagnosis)
      FROM (SELECT w.device_id, w.window_start, readings, kafka_partition,
                   w.temperature_mean, fleet.fleet_temperature, fleet.fleet_devices,
                   pv_quality_flags(voltage_series, current_series, temperature_series,
                                    irradiance_series) AS window_flags,
                   pv_irradiance_at_night(irradiance_series, w.window_start, devices.latitude,
                                          devices.longitude) AS light_at_night,
                   COALESCE(devices.rated_power_w, $rated_power_w) AS rated_power_w,
                   pv_fault_classify(voltage_series, current_series, temperature_series,
                                     irradiance_series,
                                     COALESCE(devices.v_mp, $v_mp),
                                     COALESCE(devices.i_mp, $i_mp),
                                     COALESCE(devices.gamma_pdc_per_c, $gamma_pdc_per_c))
                     AS diagnosis,
                   pv_series_mean(irradiance_series) AS irradiance_mean,
                   pv_dc_power(voltage_series, current_series) AS measured_power_w,
                   pv_expected_dc_power(irradiance_series, temperature_series,
                                        COALESCE(devices.rated_power_w, $rated_power_w),
                                        COALESCE(devices.gamma_pdc_per_c, $gamma_pdc_per_c))
                     AS expected_power_w
            FROM (SELECT *, pv_series_mean(temperature_series) AS temperature_mean
                  FROM closed_windows) w
            LEFT JOIN devices ON w.device_id = devices.device_id
            LEFT JOIN (SELECT c.window_start, COALESCE(d.array_type, '') AS array_type,
                              median(pv_series_mean(c.temperature_series)) AS fleet_temperature,
                              count(*) AS fleet_devices
                       FROM closed_windows c LEFT JOIN devices d ON c.device_id = d.device_id
                       GROUP BY 1, 2) fleet
              ON w.window_start = fleet.window_start
             AND COALESCE(devices.array_type, '') = fleet.array_type))
"#;

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

/// Diagnoses `windows` of Kafka partition `partition` in `ctx`, a session with pvflow's
/// functions (and its model), expecting power of arrays rated `rating`: the live table's rows,
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
    // The session's catalog is shared: a name of this batch's own, removed after.
    let table = format!("closed_windows_{}", uuid::Uuid::new_v4().simple());
    ctx.register_batch(&table, windows_batch(windows, partition)?)?;
    let rating = ParamValues::from(HashMap::from([
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
    let diagnosed = async {
        ctx.sql(&DIAGNOSIS.replace("closed_windows", &table))
            .await?
            .with_param_values(rating)?
            .collect()
            .await
    };
    let diagnosed = diagnosed.await;
    ctx.deregister_table(&table)?;
    diagnosed
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
        let batch = datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches)
            .expect("one batch");
        let device = batch.column(0).as_string::<i32>();
        let flags = batch.column(9).as_list::<i32>();
        let code = batch.column(5).as_primitive::<Int32Type>();
        for row in 0..batch.num_rows() {
            let flags = flags.value(row);
            let flags: Vec<&str> = flags.as_string::<i32>().iter().flatten().collect();
            let hot = device.value(row) == "hot";
            assert_eq!(
                flags.contains(&"temperature_inconsistent"),
                hot,
                "{}: {flags:?}",
                device.value(row)
            );
            // An untrusted window gets no fault class.
            assert_eq!(
                code.is_valid(row),
                flags.is_empty(),
                "{}",
                device.value(row)
            );
        }
    }
}
