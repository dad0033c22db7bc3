//! Fixed per-channel normalisation of the four sensor series before their transform.
//!
//! The scalogram of a window is `cwt((x_c / scale_c - mean_c) / std_c)` for each channel `c`.
//! With the `standard` method the scales are 1: the series as read. With `nameplate` they are the
//! array's own: voltage over its maximum-power voltage at STC, current over its maximum-power
//! current, irradiance over 1000 W/m2 (temperature as read), so one model serves arrays of any
//! size and module. With `operating_point` voltage and current are divided, reading by reading,
//! by where the array's maximum-power point should be at that reading's temperature and
//! irradiance, so that a module's own temperature coefficient no longer looks like a fault.
//! The parameters are fixed when a model is trained and shipped beside it
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
    /// The array's expected maximum-power point at each reading (`"method":
    /// "operating_point"`): voltage / (Vmp x (1 + gamma x (T - 25 C))), current / (Imp x G /
    /// 1000 W/m2) with G no lower than 100 W/m2, irradiance / 1000 W/m2.
    ///
    /// Vmp's temperature coefficient is taken to be the power's, gamma, which datasheets and
    /// plant descriptions give: Imp's own is a tenth of it or less. The low-light fall of Vmp is
    /// left for the model to learn from the irradiance channel.
    OperatingPoint,
}

impl SeriesScale {
    /// Whether windows need their array's [`Nameplate`] to be imaged.
    pub fn needs_nameplate(self) -> bool {
        self != SeriesScale::Raw
    }
}

/// An array's maximum-power voltage (V) and current (A) at STC, and its power's temperature
/// coefficient (1/C, about -0.004 for crystalline silicon).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nameplate {
    pub v_mp: f32,
    pub i_mp: f32,
    pub gamma_pdc_per_c: f32,
}

const STC_IRRADIANCE_W_M2: f32 = 1000.0;
const STC_TEMPERATURE_C: f32 = 25.0;
/// Below this irradiance the expected current is taken at it: at dawn, dusk and night the
/// ratio of two small readings would be noise.
const LOW_LIGHT_W_M2: f32 = 100.0;
/// The temperature factor of Vmp never falls below this, whatever a broken sensor reads.
const MIN_TEMPERATURE_FACTOR: f32 = 0.5;

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
            "operating_point" => SeriesScale::OperatingPoint,
            other => {
                return Err(NormalizationError::Invalid(format!(
                    "method {other:?} is not supported; use \"standard\", \"nameplate\" or \
                     \"operating_point\""
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
                SeriesScale::OperatingPoint => "operating_point",
            }
            .into(),
            channels: CHANNELS.iter().map(|c| c.to_string()).collect(),
            mean: self.mean,
            std: self.std,
        };
        serde_json::to_string_pretty(&file).expect("plain numbers and strings serialise")
    }

    /// Divides a window's four series ([`CHANNELS`] order) by their scales, in place: by
    /// `nameplate` unless the method is `standard` (the others require it).
    pub fn scale<const N: usize>(&self, series: &mut [[f32; N]; 4], nameplate: Option<Nameplate>) {
        let Some(plate) = nameplate else {
            return;
        };
        let [voltage, current, temperature, irradiance] = series;
        match self.scale {
            SeriesScale::Raw => return,
            SeriesScale::Nameplate => {
                voltage.iter_mut().for_each(|v| *v /= plate.v_mp);
                current.iter_mut().for_each(|i| *i /= plate.i_mp);
            }
            SeriesScale::OperatingPoint => {
                for (v, t) in voltage.iter_mut().zip(temperature.iter()) {
                    let factor = 1.0 + plate.gamma_pdc_per_c * (t - STC_TEMPERATURE_C);
                    *v /= plate.v_mp * factor.max(MIN_TEMPERATURE_FACTOR);
                }
                for (i, g) in current.iter_mut().zip(irradiance.iter()) {
                    *i /= plate.i_mp * g.max(LOW_LIGHT_W_M2) / STC_IRRADIANCE_W_M2;
                }
            }
        }
        irradiance
            .iter_mut()
            .for_each(|g| *g /= STC_IRRADIANCE_W_M2);
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

    const PLATE: Nameplate = Nameplate {
        v_mp: 600.0,
        i_mp: 12.0,
        gamma_pdc_per_c: -0.004,
    };

    fn file(method: &str) -> Normalization {
        let text = format!(
            r#"{{"method":"{method}","channels":["voltage","current","temperature","irradiance"],
               "mean":[0.9,0.5,30,0.5],"std":[0.2,0.3,10,0.3]}}"#
        );
        let n = Normalization::from_json(&text).unwrap();
        assert_eq!(Normalization::from_json(&n.to_json()).unwrap(), n);
        n
    }

    #[test]
    fn nameplate_normalisation_divides_by_the_array() {
        let n = file("nameplate");
        assert_eq!(n.scale, SeriesScale::Nameplate);
        let mut w = [[540.0, 600.0], [6.0, 6.0], [45.0, 45.0], [800.0, 800.0]];
        n.scale(&mut w, Some(PLATE));
        assert_eq!(w, [[0.9, 1.0], [0.5, 0.5], [45.0, 45.0], [0.8, 0.8]]);
        // The shipped model's standard normalisation leaves the readings as they are.
        let mut raw = [[540.0], [6.0], [45.0], [800.0]];
        Normalization::IDENTITY.scale(&mut raw, Some(PLATE));
        assert_eq!(raw, [[540.0], [6.0], [45.0], [800.0]]);
    }

    #[test]
    fn operating_point_normalisation_expects_the_readings_temperature_and_light() {
        let n = file("operating_point");
        assert_eq!(n.scale, SeriesScale::OperatingPoint);
        // At 50 C a -0.4 %/C array's Vmp is 10 % below STC's; at 500 W/m2 Imp is half.
        // At dawn (50 W/m2) the current is compared with 100 W/m2's.
        let mut w = [[540.0, 540.0], [6.0, 0.6], [50.0, 25.0], [500.0, 50.0]];
        n.scale(&mut w, Some(PLATE));
        let close = |a: f32, b: f32| (a - b).abs() < 1e-5;
        assert!(close(w[0][0], 1.0) && close(w[0][1], 0.9), "{:?}", w[0]);
        assert!(close(w[1][0], 1.0) && close(w[1][1], 0.5), "{:?}", w[1]);
        assert_eq!(w[2], [50.0, 25.0]);
        assert_eq!(w[3], [0.5, 0.05]);
        // A temperature sensor reading nonsense cannot make the divisor vanish.
        let mut hot = [[300.0], [6.0], [400.0], [500.0]];
        n.scale(&mut hot, Some(PLATE));
        assert!(close(hot[0][0], 1.0), "{:?}", hot[0]);
    }

    #[test]
    fn apply_standardises() {
        let n = Normalization::new([10.0, 0.0, 0.0, 0.0], [2.0, 1.0, 1.0, 1.0]).unwrap();
        let mut x = [10.0, 12.0, 8.0];
        n.apply(0, &mut x);
        assert_eq!(x, [0.0, 1.0, -1.0]);
    }
}
