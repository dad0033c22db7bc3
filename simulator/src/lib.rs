//! A physics-based PV plant simulator: realistic, labelled sensor readings of PV arrays with
//! electrical faults, for training and demonstrating pvflow's fault classifier.
//!
//! Each device is one array ([`ArrayDesign`]) of modules in series per string and strings in
//! parallel, each module split into substrings with a bypass diode clamping at about -0.5 V,
//! negatively grounded, behind an MPPT inverter; it reports the array's operating voltage and
//! current, module temperature and plane-of-array irradiance every 20 s. By default every
//! device is 5 x 3 Canadian Solar CS6P-250P (60 cells in 3 substrings of 20) at Tabernas, Spain;
//! [`Plant::described`] simulates the devices of a plant description (`pvflow-plant`) instead,
//! each built to its array type, at its site.
//!
//! - [`module`]: the single-diode model with CEC parameters, equal to pvlib's `calcparams_cec` +
//!   `singlediode` (Lambert W).
//! - `array`: strings of bypass-diode substrings in parallel and their I-V and P-V curves under
//!   every fault configuration (`catalogue`); `operating_table` tabulates the curves' maxima over
//!   irradiance x temperature (x diffuse share for shadows) so a reading costs a table read
//!   instead of a solve.
//! - `solar`, `weather`: clear-sky sun over the site on each design's plane, passing clouds,
//!   ambient temperature (with seasons away from the default site), wind and the module's
//!   thermally lagged temperature.
//! - `mppt`: the tracker climbs to the highest-voltage peak after waking or a cloud edge and
//!   moves to the global peak at periodic scans, so under partial shading it can sit on a local
//!   maximum for minutes.
//! - `faults`: the six classes and their physical models; `labels`: window labels (a window on
//!   the epoch-aligned grid takes a fault's class when the fault covers at least half of it).
//! - `noise`: sensor noise, quantisation, lost and duplicated readings; `sensor_faults`: sensors
//!   that fail while the array is fine (frozen or dropped channels, temperature offset or drift,
//!   a soiled or shaded irradiance sensor, a clock jump), off unless
//!   `SensorConfig::failure_rate` is set.
//! - [`Plant`]: ties it together; readings are generated lazily per device, deterministic per
//!   (seed, device), at about 10 million readings per second per core.
//!
//! ```
//! use pvflow_simulator::{Plant, PlantConfig};
//!
//! let plant = Plant::new(PlantConfig { devices: 3, ..PlantConfig::default() })?;
//! let noon = plant.device_readings(0).find(|r| r.ts_ms >= plant.config().start_ms + 12 * 3_600_000);
//! assert!(noon.is_some_and(|r| r.irradiance > 500.0 && r.voltage > 100.0));
//! // One label per device and 1280-s window of the day (67.5 windows: 68 overlap it).
//! assert_eq!(plant.window_labels(1_280_000).len(), 3 * 68);
//! # Ok::<(), pvflow_simulator::SimulatorError>(())
//! ```

mod array;
mod catalogue;
mod config;
mod datasheet_fit;
mod design;
mod error;
mod faults;
mod labels;
mod lambert_w;
pub mod module;
mod mppt;
mod noise;
mod operating_table;
mod plant;
mod rng;
mod sensor_faults;
mod solar;
mod weather;

pub use config::{
    ClassMix, FaultTiming, MpptConfig, PlantConfig, SensorConfig, Site, WeatherConfig,
};
pub use design::ArrayDesign;
pub use error::SimulatorError;
pub use faults::{FaultClass, FaultEvent, FaultParameters};
pub use labels::WindowLabel;
pub use module::{ModulePoint, module_point};
pub use plant::{DeviceReadings, Plant, Reading};
pub use sensor_faults::{Channel, SensorFailure, SensorFailureEvent, SensorFailureParameters};
