//! `pv_fault_classify(scalogram)` or `pv_fault_classify(voltage, current, temperature,
//! irradiance)`: the fault class of each window, by the configured ONNX model, batched over
//! whole arrays.
//!
//! The four-series form images and classifies in one pass: it makes the scalograms of
//! [`BATCH_ROWS`] windows at a time (`pv_scalogram`'s code and normalisation), scores them and
//! drops them, so a query never holds more than one model batch of images however many windows
//! it classifies. This is what `plans/predict.sql` runs over silver's series.

use crate::common::{CHANNELS, IMAGE_LEN};
use crate::fault_model::{FAULT_LABELS, FaultModel};
use crate::list_args::{list_element, list_of};
use crate::metrics;
use crate::normalization::Normalization;
use crate::pv_scalogram::{PvScalogram, coerce_window_args};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, Int32Array, StringArray,
    StructArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Float32Type};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

/// Images per ONNX Runtime run: large enough to keep the cores busy, small enough that the
/// LeNet's first activations (32 x 64 x 64 floats per image) stay in tens of MB.
const BATCH_ROWS: usize = 128;

const MACHINE_LEARNING: DocSection = DocSection {
    include: true,
    label: "Machine Learning Functions",
    description: Some("Fault classification of scalograms with the configured model (pvflow)."),
};

/// The result type: `Struct<fault_code Int32, fault_label Utf8,
/// probabilities FixedSizeList<Float32, 6>, model_version Utf8>`.
pub fn classification_type() -> DataType {
    DataType::Struct(classification_fields())
}

fn classification_fields() -> Fields {
    Fields::from(vec![
        Field::new("fault_code", DataType::Int32, true),
        Field::new("fault_label", DataType::Utf8, true),
        Field::new("probabilities", probabilities_type(), true),
        Field::new("model_version", DataType::Utf8, true),
    ])
}

fn probabilities_type() -> DataType {
    DataType::FixedSizeList(
        Arc::new(Field::new_list_field(DataType::Float32, true)),
        FAULT_LABELS.len() as i32,
    )
}

#[derive(Debug)]
pub struct PvFaultClassify {
    signature: Signature,
    /// `None` when no `[model] path` is configured: planning works, running says what to set.
    model: Option<Arc<FaultModel>>,
    /// Images the four-series form: the model's normalisation (`[model] normalization`).
    scalogram: PvScalogram,
}

impl PvFaultClassify {
    pub fn new(normalization: Normalization, model: Option<Arc<FaultModel>>) -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            model,
            scalogram: PvScalogram::new(normalization),
        }
    }

    /// Images and classifies `series` (the four channels as `List<Float32>`) [`BATCH_ROWS`]
    /// windows at a time.
    fn classify_series(&self, model: &FaultModel, series: &[ArrayRef]) -> Result<ArrayRef> {
        let rows = series[0].len();
        let mut parts = Vec::with_capacity(rows.div_ceil(BATCH_ROWS));
        for start in (0..rows.max(1)).step_by(BATCH_ROWS) {
            let len = BATCH_ROWS.min(rows - start);
            let chunk: Vec<ArrayRef> = series.iter().map(|a| a.slice(start, len)).collect();
            parts.push(classify(model, &self.scalogram.scalograms(&chunk)?)?);
        }
        match parts.as_slice() {
            [one] => Ok(Arc::clone(one)),
            _ => Ok(concat(
                &parts.iter().map(|p| p.as_ref()).collect::<Vec<_>>(),
            )?),
        }
    }
}

// Two instances are the same function when they run the same model file with the same
// normalisation.
impl PartialEq for PvFaultClassify {
    fn eq(&self, other: &Self) -> bool {
        self.model.as_ref().map(|m| m.version()) == other.model.as_ref().map(|m| m.version())
            && self.scalogram == other.scalogram
    }
}

impl Eq for PvFaultClassify {}

impl Hash for PvFaultClassify {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.model.as_ref().map(|m| m.version()).hash(state);
        self.scalogram.hash(state);
    }
}

impl ScalarUDFImpl for PvFaultClassify {
    fn name(&self) -> &str {
        "pv_fault_classify"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() >= CHANNELS.len() {
            return coerce_window_args(
                "pv_fault_classify",
                self.scalogram.normalization(),
                arg_types,
            );
        }
        let [arg] = arg_types else {
            return plan_err!(
                "pv_fault_classify takes a scalogram, or a window's four series (voltage, \
                 current, temperature, irradiance), got {} arguments",
                arg_types.len()
            );
        };
        match (arg, list_element(arg)) {
            // The silver column as pv_scalogram writes it: used as is.
            (DataType::FixedSizeList(_, _), Some(DataType::Float32)) => Ok(vec![arg.clone()]),
            (_, Some(e)) if e.is_numeric() || e.is_null() => Ok(vec![list_of(DataType::Float32)]),
            _ if arg.is_null() => Ok(vec![list_of(DataType::Float32)]),
            _ => plan_err!(
                "pv_fault_classify: the scalogram must be a list of 16384 numbers (pv_scalogram's \
                 4x64x64 image), got {arg}"
            ),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(classification_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(model) = &self.model else {
            return exec_err!(
                "pv_fault_classify: no model configured; set [model] path (PVFLOW_MODEL_PATH) \
                 to the ONNX model file"
            );
        };
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let result = match arrays.as_slice() {
            [scalograms] => classify(model, scalograms)?,
            series => self.classify_series(model, series)?,
        };
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?)
        } else {
            ColumnarValue::Array(result)
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            Documentation::builder(
                MACHINE_LEARNING,
                "The fault class of a window by the configured ONNX model (`[model] path`, \
                 `PVFLOW_MODEL_PATH`), from its scalogram or from its four 64-slot series. \
                 Returns a struct: `fault_code` (0 normal, 1 line_line, 2 line_ground, \
                 3 open_circuit, 4 partial_shading, 5 arc_fault: the most probable class), \
                 `fault_label`, the six `probabilities` in that order, and `model_version` \
                 (`sha256:` of the model file). Given the four series (silver's \
                 `voltage_series`, ...), it is `pv_fault_classify(pv_scalogram(...))` computed \
                 128 windows at a time with the model's normalisation (`[model] \
                 normalization`), the images never kept. The result is NULL for a window \
                 without a scalogram (`pv_scalogram`'s rules), a NULL scalogram, one that is \
                 not 16384 (4x64x64) values long, or one with a NULL, NaN or infinite value.",
                "pv_fault_classify(scalogram) or pv_fault_classify(voltage, current, temperature, irradiance)",
            )
            .with_sql_example(
                r#"```sql
> SELECT device_id, window_start, c.fault_label, c.probabilities
  FROM (SELECT device_id, window_start,
               pv_fault_classify(voltage_series, current_series, temperature_series, irradiance_series) AS c
        FROM silver);
```"#,
            )
            .with_argument(
                "scalogram",
                "A 4x64x64 image laid out [channel][scale][time]: pv_scalogram's \
                 FixedSizeList<Float32, 16384>, or any list of 16384 numbers.",
            )
            .with_argument(
                "voltage, current, temperature, irradiance",
                "Instead of a scalogram: the window's four series, as pv_scalogram takes them \
                 (silver's 64-slot series from pv_window_series).",
            )
            .with_related_udf("pv_window_series")
            .with_related_udf("pv_scalogram")
            .build()
        });
        Some(&DOC)
    }
}

/// Classifies every row of `scalograms`: valid images go to the model in batches of
/// [`BATCH_ROWS`]; other rows get a NULL result.
fn classify(model: &FaultModel, scalograms: &ArrayRef) -> Result<ArrayRef> {
    let rows = scalograms.len();
    let copied;
    let (images, valid_rows): (&[f32], Vec<usize>) = match all_valid_images(scalograms) {
        // Silver's usual case: the images go to the model straight from the Arrow buffer.
        Some(images) => (images, (0..rows).collect()),
        None => {
            let mut images = Vec::with_capacity(rows * IMAGE_LEN);
            let mut valid_rows = Vec::with_capacity(rows);
            for row in 0..rows {
                if append_image(scalograms, row, &mut images)? {
                    valid_rows.push(row);
                }
            }
            copied = images;
            (&copied, valid_rows)
        }
    };
    let mut probabilities = vec![0f32; rows * FAULT_LABELS.len()];
    for (chunk, chunk_rows) in images
        .chunks(BATCH_ROWS * IMAGE_LEN)
        .zip(valid_rows.chunks(BATCH_ROWS))
    {
        let timer = metrics::MODEL_BATCH_SECONDS.start_timer();
        let out = model
            .probabilities(chunk)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        timer.observe_duration();
        for (p, row) in out.chunks_exact(FAULT_LABELS.len()).zip(chunk_rows) {
            probabilities[row * FAULT_LABELS.len()..(row + 1) * FAULT_LABELS.len()]
                .copy_from_slice(p);
        }
    }

    let mut valid = vec![false; rows];
    for row in &valid_rows {
        valid[*row] = true;
    }
    let nulls = NullBuffer::from(valid.clone());
    let codes: Vec<Option<i32>> = (0..rows)
        .map(|row| {
            valid[row].then(|| {
                most_probable(
                    &probabilities[row * FAULT_LABELS.len()..(row + 1) * FAULT_LABELS.len()],
                )
            })
        })
        .collect();
    let labels: StringArray = codes
        .iter()
        .map(|c| c.map(|c| FAULT_LABELS[c as usize]))
        .collect();
    count_classified(&labels);
    let versions: StringArray = valid.iter().map(|v| v.then_some(model.version())).collect();
    let probabilities = FixedSizeListArray::try_new(
        Arc::new(Field::new_list_field(DataType::Float32, true)),
        FAULT_LABELS.len() as i32,
        Arc::new(Float32Array::from(probabilities)),
        Some(nulls.clone()),
    )?;
    let children: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from(codes)),
        Arc::new(labels),
        Arc::new(probabilities),
        Arc::new(versions),
    ];
    Ok(Arc::new(StructArray::try_new(
        classification_fields(),
        children,
        Some(nulls),
    )?))
}

fn count_classified(labels: &StringArray) {
    let mut per_label = [0u64; FAULT_LABELS.len()];
    for label in labels.iter().flatten() {
        if let Some(i) = FAULT_LABELS.iter().position(|l| *l == label) {
            per_label[i] += 1;
        }
    }
    for (label, count) in FAULT_LABELS.iter().zip(per_label) {
        metrics::CLASSIFIED
            .with_label_values(&[*label])
            .inc_by(count);
    }
    metrics::CLASSIFIED
        .with_label_values(&["none"])
        .inc_by(labels.null_count() as u64);
}

/// The images of a `FixedSizeList<Float32, 16384>` array as one slice, when every row is a
/// valid image (no NULL row or value, every value finite).
fn all_valid_images(scalograms: &ArrayRef) -> Option<&[f32]> {
    let list = scalograms.as_fixed_size_list_opt()?;
    if list.value_length() as usize != IMAGE_LEN
        || list.null_count() > 0
        || list.values().null_count() > 0
    {
        return None;
    }
    let values = list.values().as_primitive_opt::<Float32Type>()?.values();
    values.iter().all(|v| v.is_finite()).then_some(&values[..])
}

/// Appends row `row`'s image to `images` if it is one: non-NULL, exactly [`IMAGE_LEN`] values,
/// all finite. Returns whether it did.
fn append_image(scalograms: &ArrayRef, row: usize, images: &mut Vec<f32>) -> Result<bool> {
    if scalograms.is_null(row) {
        return Ok(false);
    }
    let values = match scalograms.data_type() {
        DataType::FixedSizeList(_, _) => scalograms.as_fixed_size_list().value(row),
        DataType::List(_) => scalograms.as_list::<i32>().value(row),
        other => return exec_err!("pv_fault_classify: unexpected argument type {other}"),
    };
    if values.len() != IMAGE_LEN || values.null_count() > 0 {
        return Ok(false);
    }
    let values = values.as_primitive::<Float32Type>().values();
    if !values.iter().all(|v| v.is_finite()) {
        return Ok(false);
    }
    images.extend_from_slice(values);
    Ok(true)
}

/// The index of the largest probability (the first one on ties).
fn most_probable(probabilities: &[f32]) -> i32 {
    let mut best = 0;
    for (i, p) in probabilities.iter().enumerate() {
        if *p > probabilities[best] {
            best = i;
        }
    }
    best as i32
}
