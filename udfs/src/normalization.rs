//! Fixed per-channel normalisation of the four sensor series before their transform.
//!
//! The scalogram of a window is `cwt((x_c - mean_c) / std_c)` for each channel `c`. The
//! parameters are fixed when a model is trained and shipped beside it (`normalization.json`),
//! so that scoring never re-fits them on the batch being scored: the same window always gives
//! the same image.

use crate::common::CHANNELS;
use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum NormalizationError {
    #[error("cannot read normalisation file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("normalisation file {path} is not valid: {reason}")]
    InFile { path: PathBuf, reason: String },
    #[error("normalisation parameters are not valid: {0}")]
    Invalid(String),
}

/// `x' = (x - mean) / std`, per channel in [`CHANNELS`] order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    pub mean: [f32; 4],
    pub std: [f32; 4],
}

/// The file format: the parameters plus what they mean, checked on load.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NormalizationFile {
    method: String,
    channels: Vec<String>,
    mean: [f32; 4],
    std: [f32; 4],
}

impl Normalization {
    /// No change: the scalogram of the raw readings.
    pub const IDENTITY: Normalization = Normalization {
        mean: [0.0; 4],
        std: [1.0; 4],
    };

    /// Validated parameters: finite means, finite positive standard deviations.
    pub fn new(mean: [f32; 4], std: [f32; 4]) -> Result<Self, NormalizationError> {
        for (c, (m, s)) in CHANNELS.iter().zip(mean.iter().zip(&std)) {
            if !m.is_finite() {
                return Err(NormalizationError::Invalid(format!("mean of {c} is {m}")));
            }
            if !(s.is_finite() && *s > 0.0) {
                return Err(NormalizationError::Invalid(format!(
                    "std of {c} is {s}; it must be finite and positive"
                )));
            }
        }
        Ok(Normalization { mean, std })
    }

    /// Parses the JSON document of a `normalization.json` file.
    ///
    /// ```json
    /// {"method": "standard", "channels": ["voltage", "current", "temperature", "irradiance"],
    ///  "mean": [300.0, 6.0, 35.0, 500.0], "std": [100.0, 3.0, 10.0, 300.0]}
    /// ```
    pub fn from_json(text: &str) -> Result<Self, NormalizationError> {
        let file: NormalizationFile =
            serde_json::from_str(text).map_err(|e| NormalizationError::Invalid(e.to_string()))?;
        Self::from_file_contents(file)
    }

    pub fn from_json_file(path: &Path) -> Result<Self, NormalizationError> {
        let text = std::fs::read_to_string(path).map_err(|source| NormalizationError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&text).map_err(|e| NormalizationError::InFile {
            path: path.to_owned(),
            reason: match e {
                NormalizationError::Invalid(why) => why,
                other => other.to_string(),
            },
        })
    }

    fn from_file_contents(file: NormalizationFile) -> Result<Self, NormalizationError> {
        if file.method != "standard" {
            return Err(NormalizationError::Invalid(format!(
                "method {:?} is not supported; use \"standard\"",
                file.method
            )));
        }
        if file.channels != CHANNELS {
            return Err(NormalizationError::Invalid(format!(
                "channels must be {CHANNELS:?} in that order, got {:?}",
                file.channels
            )));
        }
        Self::new(file.mean, file.std)
    }

    pub fn to_json(&self) -> String {
        let file = NormalizationFile {
            method: "standard".into(),
            channels: CHANNELS.iter().map(|c| c.to_string()).collect(),
            mean: self.mean,
            std: self.std,
        };
        serde_json::to_string_pretty(&file).expect("plain numbers and strings serialise")
    }

    /// Normalises one channel's series in place.
    pub fn apply(&self, channel: usize, series: &mut [f32]) {
        let (mean, inv_std) = (self.mean[channel], 1.0 / self.std[channel]);
        for v in series {
            *v = (*v - mean) * inv_std;
        }
    }
}

impl Default for Normalization {
    fn default() -> Self {
        Self::IDENTITY
    }
}

// Validated parameters are finite, so bitwise equality is a total equivalence.
impl Eq for Normalization {}

impl Hash for Normalization {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for v in self.mean.iter().chain(&self.std) {
            v.to_bits().hash(state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_its_file_format() {
        let n = Normalization::new([300.0, 6.0, 35.0, 500.0], [100.0, 3.0, 10.0, 300.0]).unwrap();
        assert_eq!(Normalization::from_json(&n.to_json()).unwrap(), n);
    }

    #[test]
    fn refuses_what_it_cannot_use_and_says_why() {
        let bad_std = r#"{"method":"standard","channels":["voltage","current","temperature","irradiance"],
                         "mean":[0,0,0,0],"std":[1,0,1,1]}"#;
        let e = Normalization::from_json(bad_std).unwrap_err().to_string();
        assert!(e.contains("std of current is 0"), "{e}");
        let bad_order = r#"{"method":"standard","channels":["current","voltage","temperature","irradiance"],
                           "mean":[0,0,0,0],"std":[1,1,1,1]}"#;
        let e = Normalization::from_json(bad_order).unwrap_err().to_string();
        assert!(e.contains("in that order"), "{e}");
        let e = Normalization::from_json(r#"{"method":"minmax"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field") || e.contains("minmax"), "{e}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let e = Normalization::from_json_file(Path::new("/nonexistent/normalization.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/normalization.json"), "{e}");
    }

    #[test]
    fn apply_standardises() {
        let n = Normalization::new([10.0, 0.0, 0.0, 0.0], [2.0, 1.0, 1.0, 1.0]).unwrap();
        let mut x = [10.0, 12.0, 8.0];
        n.apply(0, &mut x);
        assert_eq!(x, [0.0, 1.0, -1.0]);
    }
}
