//! Fixed per-channel normalisation of the four sensor series before their transform.
//!
//! The scalogram of a window is `cwt((x_c / scale_c - mean_c) / std_c)` for each channel `c`.
//! With the `standard` method the scales are 1: the series as read. With `nameplate` they are the
//! array's own: voltage over its maximum-power voltage at STC, current over its maximum-power
//! current, irradiance over 1000 W/m2 (temperature as read), so one model serves arrays of any
//! size and module. The parameters are fixed when a model is trained and shipped beside it
//! (`normalization.json`), so that scoring never re-fits them on the batch being scored: the
//! same window always gives the same image.

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

/// `x' = (x / scale - mean) / std`, per channel in [`CHANNELS`] order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    pub mean: [f32; 4],
    pub std: [f32; 4],
    #[serde(default)]
    pub scale: SeriesScale,
}

/// What each series is divided by before it is standardised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SeriesScale {
    /// Nothing: the readings as they are (`"method": "standard"`).
    #[default]
    Raw,
    /// The array's nameplate (`"method": "nameplate"`): voltage / Vmp, current / Imp at STC,
    /// irradiance / 1000 W/m2.
    Nameplate,
}

/// An array's maximum-power voltage (V) and current (A) at STC.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nameplate {
    pub v_mp: f32,
    pub i_mp: f32,
}

const STC_IRRADIANCE_W_M2: f32 = 1000.0;

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
        scale: SeriesScale::Raw,
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
        Ok(Normalization {
            mean,
            std,
            scale: SeriesScale::Raw,
        })
    }

    /// The same parameters over series scaled by `scale`.
    pub fn with_scale(self, scale: SeriesScale) -> Normalization {
        Normalization { scale, ..self }
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
        let scale = match file.method.as_str() {
            "standard" => SeriesScale::Raw,
            "nameplate" => SeriesScale::Nameplate,
            other => {
                return Err(NormalizationError::Invalid(format!(
                    "method {other:?} is not supported; use \"standard\" or \"nameplate\""
                )));
            }
        };
        if file.channels != CHANNELS {
            return Err(NormalizationError::Invalid(format!(
                "channels must be {CHANNELS:?} in that order, got {:?}",
                file.channels
            )));
        }
        Ok(Self::new(file.mean, file.std)?.with_scale(scale))
    }

    pub fn to_json(&self) -> String {
        let file = NormalizationFile {
            method: match self.scale {
                SeriesScale::Raw => "standard",
                SeriesScale::Nameplate => "nameplate",
            }
            .into(),
            channels: CHANNELS.iter().map(|c| c.to_string()).collect(),
            mean: self.mean,
            std: self.std,
        };
        serde_json::to_string_pretty(&file).expect("plain numbers and strings serialise")
    }

    /// Divides one channel's series by its scale, in place: with [`SeriesScale::Nameplate`],
    /// by `nameplate` (which such a normalisation requires).
    pub fn scale(&self, channel: usize, series: &mut [f32], nameplate: Option<Nameplate>) {
        let divisor = match (self.scale, nameplate, channel) {
            (SeriesScale::Nameplate, Some(n), 0) => n.v_mp,
            (SeriesScale::Nameplate, Some(n), 1) => n.i_mp,
            (SeriesScale::Nameplate, _, 3) => STC_IRRADIANCE_W_M2,
            _ => return,
        };
        for v in series {
            *v /= divisor;
        }
    }

    /// Standardises one channel's (scaled) series in place.
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
        self.scale.hash(state);
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
    fn nameplate_normalisation_divides_by_the_array() {
        let text = r#"{"method":"nameplate","channels":["voltage","current","temperature","irradiance"],
                      "mean":[0.9,0.5,30,0.5],"std":[0.2,0.3,10,0.3]}"#;
        let n = Normalization::from_json(text).unwrap();
        assert_eq!(n.scale, SeriesScale::Nameplate);
        assert_eq!(Normalization::from_json(&n.to_json()).unwrap(), n);
        let plate = Some(Nameplate {
            v_mp: 600.0,
            i_mp: 12.0,
        });
        let mut v = [540.0, 600.0];
        n.scale(0, &mut v, plate);
        assert_eq!(v, [0.9, 1.0]);
        let mut i = [6.0];
        n.scale(1, &mut i, plate);
        assert_eq!(i, [0.5]);
        let (mut t, mut g) = ([45.0], [800.0]);
        n.scale(2, &mut t, plate);
        n.scale(3, &mut g, plate);
        assert_eq!((t, g), ([45.0], [0.8]));
        // The shipped model's standard normalisation leaves the readings as they are.
        let mut raw = [540.0];
        Normalization::IDENTITY.scale(0, &mut raw, plate);
        assert_eq!(raw, [540.0]);
    }

    #[test]
    fn apply_standardises() {
        let n = Normalization::new([10.0, 0.0, 0.0, 0.0], [2.0, 1.0, 1.0, 1.0]).unwrap();
        let mut x = [10.0, 12.0, 8.0];
        n.apply(0, &mut x);
        assert_eq!(x, [0.0, 1.0, -1.0]);
    }
}
