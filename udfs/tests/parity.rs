//! Parity with PyWavelets (fixtures computed by `pywt.cwt(x, np.arange(1, 65), 'morl')`, see
//! fixtures/README.md) and the SQL contract of both functions.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float32Type, Float64Type};
use datafusion::common::Result;
use datafusion::prelude::SessionContext;
use pvflow_udfs::{IMAGE_LEN, NUM_SCALES, Normalization, WINDOW_LEN, cwt};
use std::path::PathBuf;

fn fixture<T: npyz::Deserialize>(name: &str) -> (Vec<T>, Vec<u64>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/pywt")
        .join(name);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(std::io::BufReader::new(file)).expect("valid .npy");
    let shape = npy.shape().to_vec();
    (npy.into_vec().expect("fixture dtype"), shape)
}

/// max |ours - reference| / max |reference|
fn relative_error(ours: impl IntoIterator<Item = f64>, reference: &[f64]) -> f64 {
    let scale = reference.iter().fold(0f64, |m, v| m.max(v.abs()));
    let diffs: Vec<f64> = ours
        .into_iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs())
        .collect();
    assert_eq!(diffs.len(), reference.len(), "shape mismatch");
    diffs.into_iter().fold(0f64, f64::max) / scale
}

const SIGNALS: [&str; 2] = ["sine_noise", "step"];

#[test]
fn float64_equals_pywavelets_to_1e9() {
    for signal in SIGNALS {
        for n in [64, 4320] {
            let (x, _) = fixture::<f64>(&format!("{signal}_n{n}_input.npy"));
            let (expect, shape) = fixture::<f64>(&format!("{signal}_n{n}_cwt_conv.npy"));
            assert_eq!(shape, [64, n as u64]);
            let err = relative_error(cwt(&x, 64), &expect);
            assert!(err <= 1e-9, "{signal} n={n}: relative error {err:e}");
        }
    }
}

#[test]
fn float32_equals_pywavelets_float32_to_1e5() {
    for signal in SIGNALS {
        let (x, _) = fixture::<f64>(&format!("{signal}_n64_input.npy"));
        let x32: Vec<f32> = x.iter().map(|v| *v as f32).collect();
        let (expect, _) = fixture::<f32>(&format!("{signal}_n64_cwt_conv_f32in.npy"));
        let expect: Vec<f64> = expect.into_iter().map(f64::from).collect();
        let err = relative_error(cwt(&x32, 64).into_iter().map(f64::from), &expect);
        assert!(err <= 1e-5, "{signal} n=64 f32: relative error {err:e}");
    }
    // No float32 fixture for device-days: the float64 reference bounds the float32 path.
    for signal in SIGNALS {
        let (x, _) = fixture::<f64>(&format!("{signal}_n4320_input.npy"));
        let x32: Vec<f32> = x.iter().map(|v| *v as f32).collect();
        let (expect, _) = fixture::<f64>(&format!("{signal}_n4320_cwt_conv.npy"));
        let err = relative_error(cwt(&x32, 64).into_iter().map(f64::from), &expect);
        assert!(err <= 1e-5, "{signal} n=4320 f32: relative error {err:e}");
    }
}

#[test]
fn any_length_from_one_is_transformed() {
    // Prefixes of the fixture input are valid series of every length; lengths around the
    // dense/direct boundary must agree with each other through linearity and shape.
    let (x, _) = fixture::<f64>("sine_noise_n4320_input.npy");
    for n in [1usize, 2, 3, 17, 63, 65, 127, 128, 129, 1000] {
        let out = cwt(&x[..n], 64);
        assert_eq!(out.len(), 64 * n);
        assert!(out.iter().all(|v| v.is_finite()), "n={n}");
    }
}

fn context() -> SessionContext {
    let ctx = SessionContext::new();
    for udf in pvflow_udfs::all_udfs(Normalization::IDENTITY, None) {
        ctx.register_udf(udf);
    }
    for udaf in pvflow_udfs::all_udafs() {
        ctx.register_udaf(udaf);
    }
    ctx
}

async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    ctx.sql(sql).await?.collect().await
}

#[tokio::test]
async fn sql_cwt_morlet_equals_pywavelets() -> Result<()> {
    let (x, _) = fixture::<f64>("sine_noise_n64_input.npy");
    let (expect, _) = fixture::<f64>("sine_noise_n64_cwt_conv.npy");
    let literal = x
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let batches = collect(
        &context(),
        &format!("SELECT cwt_morlet([{literal}], 64) AS c"),
    )
    .await?;
    let matrix = batches[0].column(0).as_list::<i32>().value(0);
    let rows = matrix.as_list::<i32>();
    assert_eq!(rows.len(), 64);
    let flat = rows
        .values()
        .as_primitive::<Float64Type>()
        .values()
        .to_vec();
    let err = relative_error(flat, &expect);
    assert!(err <= 1e-9, "relative error {err:e}");
    Ok(())
}

/// Readings of 2 devices on the 20-s grid with a few missing and some delivered twice, written
/// to Parquet and windowed with the documented idiom (`pv_window_series`), which must equal the
/// `array_agg(... ORDER BY ts)` form it replaced.
#[tokio::test]
async fn windowed_scalograms_over_parquet() -> Result<()> {
    let ctx = context();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("readings.parquet");
    // 2 devices x 256 readings = 4 windows each; device b misses readings 74..=93 (window 1
    // keeps 44: no image) and reading 134 (window 2 keeps 63: the gap is filled). Device a's
    // readings 0, 50, 100, ... come twice: again 5 s later in the same slot, with another
    // voltage, which the earliest-wins rule must ignore.
    collect(
        &ctx,
        &format!(
            "COPY (WITH base AS (
                     SELECT d AS device_id, i,
                            to_timestamp_seconds(1767225600 + i * 20) AS ts,
                            CAST(400 + 10 * sin(i / 5.0) AS FLOAT) AS voltage,
                            CAST(8 + cos(i / 7.0) AS FLOAT) AS current,
                            CAST(35 + i / 100.0 AS FLOAT) AS temperature,
                            CAST(800 + 50 * sin(i / 11.0) AS FLOAT) AS irradiance
                     FROM (SELECT 'a' AS d UNION ALL SELECT 'b') CROSS JOIN unnest(range(0, 256)) AS t(i)
                     WHERE NOT (d = 'b' AND ((i BETWEEN 74 AND 93) OR i = 134)))
                   SELECT device_id, ts, voltage, current, temperature, irradiance FROM base
                   UNION ALL
                   SELECT device_id, ts + INTERVAL '5 seconds', voltage + 100, current, temperature,
                          irradiance
                   FROM base WHERE device_id = 'a' AND i % 50 = 0
                   ORDER BY ts DESC)
             TO '{}' STORED AS PARQUET",
            path.display()
        ),
    )
    .await?;
    collect(
        &ctx,
        &format!(
            "CREATE EXTERNAL TABLE readings STORED AS PARQUET LOCATION '{}'",
            path.display()
        ),
    )
    .await?;
    let batches = collect(
        &ctx,
        &format!("SELECT device_id, window_start, count(*) AS n,
                pv_scalogram(pv_window_series(slot, ts, voltage), pv_window_series(slot, ts, current),
                             pv_window_series(slot, ts, temperature),
                             pv_window_series(slot, ts, irradiance)) AS scalogram,
                pv_window_series(slot, ts, voltage) AS v,
                pv_scalogram(array_agg(voltage ORDER BY ts), array_agg(current ORDER BY ts),
                             array_agg(temperature ORDER BY ts), array_agg(irradiance ORDER BY ts),
                             array_agg(slot ORDER BY ts)) AS scalogram_by_array_agg
         FROM ({})
         GROUP BY device_id, window_start
         ORDER BY device_id, window_start",
            pvflow_udfs::windowed_readings("readings")
        ),
    )
    .await?;
    let batch = datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches)?;
    // 1767225600 is a multiple of 1280 s, so the 256 readings fill exactly 4 windows.
    assert_eq!(batch.num_rows(), 8);
    let counts = batch
        .column(2)
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    assert_eq!(
        counts.values().to_vec(),
        vec![66, 65, 65, 66, 64, 44, 63, 64]
    );
    let images = batch.column(3).as_fixed_size_list();
    assert_eq!(images.value_length() as usize, IMAGE_LEN);
    let nulls: Vec<bool> = (0..8).map(|r| images.is_null(r)).collect();
    assert_eq!(
        nulls,
        [false, false, false, false, false, true, false, false]
    );

    assert_eq!(
        images,
        batch.column(5).as_fixed_size_list(),
        "pv_window_series and array_agg give the same images"
    );

    // A complete window's voltage channel equals the transform of its first readings.
    let v = batch.column(4).as_fixed_size_list().value(0);
    let v: Vec<f32> = v.as_primitive::<Float32Type>().values().to_vec();
    assert_eq!(
        v[0],
        (400.0f64 + 10.0 * 0f64.sin()) as f32,
        "the earliest reading wins"
    );
    let expect = cwt(&v, NUM_SCALES);
    let image = images.value(0);
    let image = image.as_primitive::<Float32Type>().values();
    for (i, (a, b)) in image[..NUM_SCALES * WINDOW_LEN]
        .iter()
        .zip(&expect)
        .enumerate()
    {
        assert!(
            (a - b).abs() <= 1e-5 * b.abs().max(1.0),
            "voltage coefficient {i}: {a} vs {b}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn scalogram_normalises_with_fixed_parameters() -> Result<()> {
    let n = Normalization::new([400.0, 8.0, 35.0, 800.0], [10.0, 1.0, 5.0, 50.0]).expect("valid");
    let ctx = SessionContext::new();
    for udf in pvflow_udfs::all_udfs(n, None) {
        ctx.register_udf(udf);
    }
    // Every channel equal to its mean: the normalised series is zero, so is the image.
    let batches = collect(
        &ctx,
        "SELECT pv_scalogram(v, c, t, g) AS s FROM (SELECT
           array_repeat(CAST(400 AS FLOAT), 64) AS v, array_repeat(CAST(8 AS FLOAT), 64) AS c,
           array_repeat(CAST(35 AS FLOAT), 64) AS t, array_repeat(CAST(800 AS FLOAT), 64) AS g)",
    )
    .await?;
    let images = batches[0].column(0).as_fixed_size_list();
    let image = images.value(0);
    assert!(
        image
            .as_primitive::<Float32Type>()
            .values()
            .iter()
            .all(|v| *v == 0.0)
    );
    Ok(())
}

#[tokio::test]
async fn scalogram_rejects_malformed_windows_with_the_row() {
    let ctx = context();
    let err = collect(
        &ctx,
        "SELECT pv_scalogram([1.0, 2.0], [1.0], [1.0, 2.0], [1.0, 2.0])",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("row 0 has 2 voltage readings but 1 current readings"),
        "{err}"
    );
    let err = collect(
        &ctx,
        "SELECT pv_scalogram([1.0], [1.0], [1.0], [1.0], [64])",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("slot 64; slots are 0..=63"), "{err}");
    let err = collect(&ctx, "SELECT pv_scalogram([1.0], [1.0], [1.0])")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("got 3 arguments"), "{err}");
}

// pv_fault_classify: ONNX Runtime from Rust against ONNX Runtime's Python API
// (fixtures/onnx/, a random-weights LeNet and its golden output).

mod fault_classify {
    use super::*;
    use datafusion::arrow::array::{FixedSizeListArray, Float32Array, StructArray};
    use datafusion::arrow::datatypes::{DataType, Field};
    use pvflow_udfs::{FAULT_LABELS, FaultModel};
    use std::path::Path;
    use std::sync::Arc;

    fn onnx_fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/onnx")
            .join(name)
    }

    /// ONNX Runtime's library: `ORT_DYLIB_PATH`, else the one scripts/onnxruntime.sh installs
    /// (once, into the user's cache).
    fn onnxruntime() -> PathBuf {
        if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
            return PathBuf::from(path);
        }
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/onnxruntime.sh");
        let out = std::process::Command::new(&script)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    }

    fn fixture_model() -> Arc<FaultModel> {
        let library = onnxruntime();
        FaultModel::load(&onnx_fixture("lenet_pv_random.onnx"), Some(&library))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn npy_f32(name: &str) -> (Vec<f32>, Vec<u64>) {
        let path = onnx_fixture(name);
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let npy = npyz::NpyFile::new(std::io::BufReader::new(file)).expect("valid .npy");
        let shape = npy.shape().to_vec();
        (npy.into_vec().expect("float32"), shape)
    }

    fn classify_context(model: Arc<FaultModel>) -> SessionContext {
        let ctx = SessionContext::new();
        for udf in pvflow_udfs::all_udfs(Normalization::IDENTITY, Some(model)) {
            ctx.register_udf(udf);
        }
        ctx
    }

    /// A table `images(id, scalogram FixedSizeList<Float32, 16384>)` of `rows`, NULL where None.
    fn register_images(ctx: &SessionContext, rows: &[Option<Vec<f32>>]) -> Result<()> {
        let mut values = Vec::with_capacity(rows.len() * IMAGE_LEN);
        for row in rows {
            match row {
                Some(image) => values.extend_from_slice(image),
                None => values.extend(std::iter::repeat_n(0.0, IMAGE_LEN)),
            }
        }
        let images = FixedSizeListArray::try_new(
            Arc::new(Field::new_list_field(DataType::Float32, true)),
            IMAGE_LEN as i32,
            Arc::new(Float32Array::from(values)),
            Some(rows.iter().map(Option::is_some).collect()),
        )?;
        let ids: Vec<i64> = (0..rows.len() as i64).collect();
        let batch = RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(datafusion::arrow::array::Int64Array::from(ids)) as _,
            ),
            ("scalogram", Arc::new(images) as _),
        ])?;
        ctx.register_batch("images", batch)?;
        Ok(())
    }

    fn probabilities(result: &StructArray, row: usize) -> Vec<f32> {
        result
            .column_by_name("probabilities")
            .expect("probabilities")
            .as_fixed_size_list()
            .value(row)
            .as_primitive::<Float32Type>()
            .values()
            .to_vec()
    }

    #[tokio::test]
    async fn probabilities_equal_onnx_runtime_python_within_1e_5() -> Result<()> {
        let (input, input_shape) = npy_f32("lenet_input_4x4x64x64.npy");
        let (expect, expect_shape) = npy_f32("lenet_output_probs_4x6.npy");
        assert_eq!(
            (input_shape, expect_shape),
            (vec![4, 4, 64, 64], vec![4, 6])
        );
        let model = fixture_model();
        // 300 rows (more than one ONNX Runtime batch), cycling through the four fixture images,
        // so a row's result must not depend on its batch or position.
        let rows: Vec<Option<Vec<f32>>> = (0..300)
            .map(|i| Some(input[(i % 4) * IMAGE_LEN..(i % 4 + 1) * IMAGE_LEN].to_vec()))
            .collect();
        let ctx = classify_context(Arc::clone(&model));
        register_images(&ctx, &rows)?;
        let batches = collect(
            &ctx,
            "SELECT id, pv_fault_classify(scalogram) AS c FROM images ORDER BY id",
        )
        .await?;
        let mut row_id = 0;
        for batch in &batches {
            let result = batch.column(1).as_struct();
            let codes = result
                .column_by_name("fault_code")
                .expect("code")
                .as_primitive::<datafusion::arrow::datatypes::Int32Type>();
            let labels = result
                .column_by_name("fault_label")
                .expect("label")
                .as_string::<i32>();
            let versions = result
                .column_by_name("model_version")
                .expect("version")
                .as_string::<i32>();
            for row in 0..batch.num_rows() {
                let want = &expect[(row_id % 4) * 6..(row_id % 4 + 1) * 6];
                let got = probabilities(result, row);
                let err = got
                    .iter()
                    .zip(want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(err <= 1e-5, "row {row_id}: {got:?} vs {want:?}");
                let argmax = (0..6).fold(0, |best, i| if want[i] > want[best] { i } else { best });
                assert_eq!(codes.value(row) as usize, argmax, "row {row_id}");
                assert_eq!(labels.value(row), FAULT_LABELS[argmax]);
                assert_eq!(versions.value(row), model.version());
                row_id += 1;
            }
        }
        assert_eq!(row_id, 300);
        // The version is the file's SHA-256, as sha256sum prints it.
        let sums = std::fs::read_to_string(onnx_fixture("../SHA256SUMS")).expect("SHA256SUMS");
        let line = sums
            .lines()
            .find(|l| l.ends_with("onnx/lenet_pv_random.onnx"))
            .expect("checksum line");
        assert_eq!(model.version(), format!("sha256:{}", &line[..64]));
        Ok(())
    }

    /// Classifying a window's four series is classifying its scalogram: over 300 windows (so
    /// more than one 128-window chunk), some with too few valid readings for an image.
    #[tokio::test]
    async fn the_four_series_form_equals_classifying_the_scalogram() -> Result<()> {
        let windows = 300;
        let channel = |c: usize| {
            let values: Vec<Option<f32>> = (0..windows * WINDOW_LEN)
                .map(|i| {
                    let (w, slot) = (i / WINDOW_LEN, i % WINDOW_LEN);
                    // Every seventh window keeps only 40 of its 64 readings.
                    (w % 7 != 3 || slot < 40)
                        .then(|| ((i * (c + 3)) % 97) as f32 / 10.0 + (w % 5) as f32)
                })
                .collect();
            Ok::<_, datafusion::arrow::error::ArrowError>(Arc::new(FixedSizeListArray::try_new(
                Arc::new(Field::new_list_field(DataType::Float32, true)),
                WINDOW_LEN as i32,
                Arc::new(Float32Array::from(values)),
                None,
            )?) as Arc<dyn Array>)
        };
        let batch = RecordBatch::try_from_iter([
            ("v", channel(0)?),
            ("c", channel(1)?),
            ("t", channel(2)?),
            ("g", channel(3)?),
        ])?;
        let ctx = classify_context(fixture_model());
        ctx.register_batch("windows", batch)?;
        let batches = collect(
            &ctx,
            "SELECT pv_fault_classify(v, c, t, g) AS fused,
                    pv_fault_classify(pv_scalogram(v, c, t, g)) AS imaged
             FROM windows",
        )
        .await?;
        let (mut rows, mut without) = (0, 0);
        for batch in &batches {
            let (fused, imaged) = (batch.column(0).as_struct(), batch.column(1).as_struct());
            for row in 0..batch.num_rows() {
                assert_eq!(fused.is_null(row), imaged.is_null(row), "row {rows}");
                if fused.is_null(row) {
                    without += 1;
                } else {
                    assert_eq!(probabilities(fused, row), probabilities(imaged, row));
                }
                rows += 1;
            }
        }
        let short = (0..windows).filter(|w| w % 7 == 3).count();
        assert_eq!((rows, without), (windows, short));
        Ok(())
    }

    #[tokio::test]
    async fn bad_images_give_null_rows_and_plain_lists_are_accepted() -> Result<()> {
        let (input, _) = npy_f32("lenet_input_4x4x64x64.npy");
        let good = input[..IMAGE_LEN].to_vec();
        let mut with_nan = good.clone();
        with_nan[100] = f32::NAN;
        let mut with_inf = good.clone();
        with_inf[IMAGE_LEN - 1] = f32::INFINITY;
        let ctx = classify_context(fixture_model());
        register_images(
            &ctx,
            &[
                Some(good.clone()),
                None,
                Some(with_nan),
                Some(with_inf),
                Some(good),
            ],
        )?;
        let batches = collect(
            &ctx,
            "SELECT pv_fault_classify(scalogram) AS c FROM images ORDER BY id",
        )
        .await?;
        let result = batches[0].column(0).as_struct();
        let nulls: Vec<bool> = (0..5).map(|r| result.is_null(r)).collect();
        assert_eq!(nulls, [false, true, true, true, false]);
        assert!(
            result
                .column_by_name("fault_code")
                .expect("code")
                .is_null(2)
        );
        assert_eq!(probabilities(result, 0), probabilities(result, 4));

        // A plain list (here Float64, from a cast) of the same values gives the same result; a
        // list of the wrong length, or with a NULL element, gives NULL.
        let batches = collect(
            &ctx,
            "SELECT pv_fault_classify(CAST(scalogram AS DOUBLE[])) AS same,
                    pv_fault_classify(array_slice(CAST(scalogram AS REAL[]), 2, 16384)) AS short,
                    pv_fault_classify(array_replace(CAST(scalogram AS REAL[]), scalogram[1], NULL)) AS with_null
             FROM images WHERE id = 0",
        )
        .await?;
        let same = batches[0].column(0).as_struct();
        let got = probabilities(same, 0);
        let want = probabilities(result, 0);
        let err = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(err <= 1e-6, "{got:?} vs {want:?}");
        assert!(batches[0].column(1).is_null(0));
        assert!(batches[0].column(2).is_null(0));
        Ok(())
    }

    #[test]
    fn a_corrupt_or_missing_model_is_named() {
        let library = onnxruntime();
        let dir = tempfile::tempdir().expect("temp dir");
        let corrupt = dir.path().join("corrupt.onnx");
        std::fs::write(&corrupt, b"not a protobuf").expect("write");
        let missing = dir.path().join("missing.onnx");
        let cwt = onnx_fixture("../pywt/step_n64_input.npy");
        for path in [&corrupt, &missing, &cwt] {
            let error = FaultModel::load(path, Some(&library)).expect_err("must not load");
            assert!(
                error.to_string().contains(&path.display().to_string()),
                "{error}"
            );
        }
        assert!(
            FaultModel::load(
                Path::new(&onnx_fixture("lenet_pv_random.onnx")),
                Some(&library)
            )
            .is_ok()
        );
    }

    #[tokio::test]
    async fn without_a_model_the_function_plans_but_says_what_to_set() {
        let ctx = context();
        let error = collect(
            &ctx,
            "SELECT pv_fault_classify(array_repeat(CAST(0 AS REAL), 16384))",
        )
        .await
        .expect_err("no model");
        assert!(error.to_string().contains("PVFLOW_MODEL_PATH"), "{error}");
    }
}
