//! Plant descriptions: what a plant is, for simulating it, normalising its readings and telling
//! expected from measured power. A `plant.toml` gives the site and each array design (module,
//! modules per string, strings, tilt, azimuth, mounting) with the devices built to it; modules
//! come from the shipped CEC catalogue ([`catalogue`]) by name, or from their datasheet.
//! `examples/plant.toml` is a documented example.
//!
//! ```
//! let plant = pvflow_plant::Plant::parse(include_str!("../examples/plant.toml"))?;
//! assert_eq!(plant.site.time_zone, "Europe/Madrid");
//! let (device, design) = plant.devices().next().expect("a device");
//! assert_eq!(device, "pv-00000");
//! // 5 x 3 modules of 249.83 W at STC.
//! let nameplate = design.nameplate();
//! assert!((nameplate.rated_power_w - 3747.45).abs() < 1e-6);
//! assert!((nameplate.v_mp - 150.5).abs() < 1e-9);
//!
//! // A mistake names its line and field.
//! let wrong = include_str!("../examples/plant.toml").replace("latitude = 37.09", "latitude = 95.0");
//! let e = pvflow_plant::Plant::parse(&wrong).unwrap_err();
//! assert_eq!(e.to_string(), "line 7, site.latitude: must be -90 to 90 degrees, not 95");
//! # Ok::<(), pvflow_plant::PlantError>(())
//! ```

pub mod catalogue;
mod description;
pub mod sun;

pub use catalogue::{Module, SingleDiode};
pub use description::{ArrayNameplate, ArrayType, Mounting, Plant, PlantError, Site};
