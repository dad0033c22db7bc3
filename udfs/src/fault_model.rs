//! The fault classifier behind `pv_fault_classify`: an ONNX model run by ONNX Runtime, loaded
//! once per process from a file named by configuration and shared by every task.
//!
//! ONNX Runtime itself is a shared library loaded at run time (`ort`'s `load-dynamic`): from the
//! configured path, else `ORT_DYLIB_PATH`. Nothing here downloads anything, and the model never
//! travels inside a plan: executors load it from their own configuration.

use crate::common::{CHANNELS, IMAGE_LEN, NUM_SCALES, WINDOW_LEN};
use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, TensorRef};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Input image of one window: 4 channels x 64 scales x 64 readings, a scalogram.
const INPUT_DIMS: [usize; 3] = [CHANNELS.len(), NUM_SCALES, WINDOW_LEN];
/// The classes, in the order of the model's outputs and of gold's `fault_code`
/// (docs/architecture.md).
pub const FAULT_LABELS: [&str; 6] = [
    "normal",
    "line_line",
    "line_ground",
    "open_circuit",
    "partial_shading",
    "arc_fault",
];
/// Environment variable `ort` reads for the ONNX Runtime library when none is configured.
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";

#[derive(Debug, Clone, thiserror::Error)]
pub enum ModelError {
    #[error(
        "no ONNX Runtime library: set [model] onnxruntime (PVFLOW_MODEL_ONNXRUNTIME) or \
         ORT_DYLIB_PATH to libonnxruntime.so (scripts/onnxruntime.sh installs one)"
    )]
    NoRuntime,
    #[error("cannot load the ONNX Runtime library {path} (from {setting}): {reason}")]
    Runtime {
        path: PathBuf,
        setting: &'static str,
        reason: String,
    },
    #[error("cannot read model file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("model file {path} is not a usable fault classifier: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("model {path} failed on a batch of {rows} images: {reason}")]
    Run {
        path: PathBuf,
        rows: usize,
        reason: String,
    },
}

/// The process's ONNX Runtime: one environment per process (an `ort` rule), from the first
/// library path asked for. Later calls get the same outcome.
fn runtime(library: Option<&Path>) -> Result<&'static Environment, ModelError> {
    static RUNTIME: OnceLock<Result<Environment, ModelError>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let (path, setting) = library
                .map(|p| (p.to_path_buf(), "[model] onnxruntime"))
                .or_else(|| {
                    std::env::var_os(ORT_DYLIB_ENV).map(|p| (PathBuf::from(p), ORT_DYLIB_ENV))
                })
                .filter(|(p, _)| !p.as_os_str().is_empty())
                .ok_or(ModelError::NoRuntime)?;
            let failed = |reason: String| ModelError::Runtime {
                path: path.clone(),
                setting,
                reason,
            };
            let environment = ort::init_from(&path)
                .map_err(|e| failed(e.to_string()))?
                .with_name("pvflow")
                .build()
                .map_err(|e| failed(e.to_string()))?;
            tracing::info!(library = %path.display(), "ONNX Runtime loaded");
            Ok(environment)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A loaded fault classifier: float32 `[N, 4, 64, 64]` in, the six class probabilities
/// `[N, 6]` out.
pub struct FaultModel {
    path: PathBuf,
    /// `sha256:<hex>` of the model file: which model scored a row.
    version: String,
    /// Idle single-threaded sessions. A batch takes one (opening another when all are busy)
    /// and puts it back, so concurrent tasks score in parallel, one core each. One session
    /// with ONNX Runtime's own thread pool instead made tasks queue for it while its threads
    /// spun against the tasks' Parquet decoding: 5x fewer images per CPU-second.
    sessions: Mutex<Vec<Session>>,
    environment: &'static Environment,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for FaultModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultModel")
            .field("path", &self.path)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl FaultModel {
    /// The model at `path`, loaded once per process (later calls with the same file share it),
    /// with ONNX Runtime from `library` (else `ORT_DYLIB_PATH`). Fails, naming the file, if the
    /// file is missing, is not ONNX, or does not take `[N, 4, 64, 64]` float32 images to six
    /// float32 outputs.
    pub fn load(path: &Path, library: Option<&Path>) -> Result<Arc<FaultModel>, ModelError> {
        static MODELS: OnceLock<Mutex<HashMap<PathBuf, Arc<FaultModel>>>> = OnceLock::new();
        let key = std::fs::canonicalize(path).map_err(|e| ModelError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let models = MODELS.get_or_init(Default::default);
        // A poisoned cache only means another thread panicked while inserting; the map is fine.
        let mut models = models.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(model) = models.get(&key) {
            return Ok(Arc::clone(model));
        }
        let model = Arc::new(Self::open(path, library)?);
        models.insert(key, Arc::clone(&model));
        Ok(model)
    }

    fn open(path: &Path, library: Option<&Path>) -> Result<FaultModel, ModelError> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let environment = runtime(library)?;
        let invalid = |reason: String| ModelError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let session = open_session(environment, &bytes).map_err(invalid)?;
        check_signature(&session).map_err(invalid)?;
        Ok(FaultModel {
            path: path.to_path_buf(),
            version: content_hash(&bytes),
            sessions: Mutex::new(vec![session]),
            environment,
            bytes,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `sha256:<hex>` of the model file.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Probabilities of `images.len() / IMAGE_LEN` images laid out `[image][channel][scale][time]`,
    /// six per image in [`FAULT_LABELS`] order.
    pub fn probabilities(&self, images: &[f32]) -> Result<Vec<f32>, ModelError> {
        let rows = images.len() / IMAGE_LEN;
        if rows == 0 {
            return Ok(Vec::new());
        }
        let failed = |reason: String| ModelError::Run {
            path: self.path.clone(),
            rows,
            reason,
        };
        let shape = [rows, INPUT_DIMS[0], INPUT_DIMS[1], INPUT_DIMS[2]];
        let input = TensorRef::from_array_view((shape, &images[..rows * IMAGE_LEN]))
            .map_err(|e| failed(e.to_string()))?;
        // A poisoned pool only means a thread panicked while holding the lock; the list is fine.
        let idle = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        let mut session = match idle {
            Some(session) => session,
            None => open_session(self.environment, &self.bytes).map_err(failed)?,
        };
        let probabilities = run_batch(&mut session, input, rows).map_err(failed);
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(session);
        probabilities
    }
}

/// One single-threaded session of the model: tasks, not ONNX Runtime, decide how many cores
/// score at once.
fn open_session(environment: &Environment, bytes: &[u8]) -> Result<Session, String> {
    fn text<E: std::fmt::Display>(e: E) -> String {
        e.to_string()
    }
    Session::builder(environment)
        .map_err(text)?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(text)?
        .with_intra_threads(1)
        .map_err(text)?
        .with_inter_threads(1)
        .map_err(text)?
        .commit_from_memory(bytes)
        .map_err(text)
}

fn run_batch(
    session: &mut Session,
    input: TensorRef<'_, f32>,
    rows: usize,
) -> Result<Vec<f32>, String> {
    let outputs = session
        .run(ort::inputs![input])
        .map_err(|e| e.to_string())?;
    let (out_shape, values) = outputs[0]
        .try_extract_tensor::<f32>()
        .map_err(|e| e.to_string())?;
    if **out_shape != [rows as i64, FAULT_LABELS.len() as i64] {
        return Err(format!(
            "output shape {:?}, expected [{rows}, {}]",
            &**out_shape,
            FAULT_LABELS.len()
        ));
    }
    Ok(values.to_vec())
}

/// One float32 input `[N, 4, 64, 64]` and a float32 first output `[N, 6]`, N dynamic (pvflow
/// batches whole arrays).
fn check_signature(session: &Session) -> Result<(), String> {
    let (inputs, outputs) = (session.inputs(), session.outputs());
    if inputs.len() != 1 || outputs.is_empty() {
        return Err(format!(
            "expected one input and at least one output, found {} and {}",
            inputs.len(),
            outputs.len()
        ));
    }
    let expect = |what: &str, dtype: &ort::value::ValueType, dims: &[i64]| {
        let shape = dtype.tensor_shape().map(|s| s.to_vec());
        let fits = dtype.tensor_type() == Some(TensorElementType::Float32)
            && shape.as_deref() == Some(dims);
        if fits {
            Ok(())
        } else {
            Err(format!(
                "{what} is {dtype:?}, expected float32 {dims:?} (-1: a dynamic batch size)"
            ))
        }
    };
    let image = [-1, 4, 64, 64];
    expect("input", inputs[0].dtype(), &image)?;
    expect(
        "output",
        outputs[0].dtype(),
        &[-1, FAULT_LABELS.len() as i64],
    )
}

fn content_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(7 + 2 * digest.len());
    hex.push_str("sha256:");
    for byte in digest.iter() {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}
