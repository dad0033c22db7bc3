//! `plant.toml`: what a plant is, checked field by field; each error names its line and field.

use crate::catalogue::{self, Module};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Why a description cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlantError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not TOML, or not the description's shape (a missing or unknown field, a wrong type):
    /// toml's message names the line, the column and the field.
    #[error("{0}")]
    Syntax(String),
    #[error("line {line}, {field}: {why}")]
    Invalid {
        line: usize,
        field: String,
        why: String,
    },
}

/// Where a plant is.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub name: String,
    /// Degrees, north positive.
    pub latitude: f64,
    /// Degrees, east positive.
    pub longitude: f64,
    pub altitude_m: f64,
    /// IANA name (`Europe/Madrid`) or `UTC`.
    pub time_zone: String,
}

/// How modules are mounted, as PV temperature models tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mounting {
    OpenRack,
    CloseMount,
    InsulatedBack,
}

const MOUNTINGS: [(&str, Mounting); 3] = [
    ("open_rack", Mounting::OpenRack),
    ("close_mount", Mounting::CloseMount),
    ("insulated_back", Mounting::InsulatedBack),
];

impl Mounting {
    pub fn as_str(self) -> &'static str {
        MOUNTINGS
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("open_rack", |(name, _)| name)
    }
}

/// One array design: its module, how many in series and in parallel, how it faces, and the
/// devices (arrays reporting readings) built to it.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayType {
    pub name: String,
    pub module: Module,
    pub modules_per_string: u32,
    pub strings: u32,
    /// Degrees from horizontal.
    pub tilt: f64,
    /// Degrees clockwise from north (180: facing south).
    pub azimuth: f64,
    pub mounting: Mounting,
    pub devices: Vec<String>,
}

/// An array's nameplate at standard test conditions: its modules' times their arrangement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArrayNameplate {
    pub rated_power_w: f64,
    pub v_oc: f64,
    pub i_sc: f64,
    pub v_mp: f64,
    pub i_mp: f64,
    /// Relative change of power per degree (1/°C).
    pub gamma_pdc_per_c: f64,
}

impl ArrayType {
    pub fn nameplate(&self) -> ArrayNameplate {
        let (series, parallel) = (f64::from(self.modules_per_string), f64::from(self.strings));
        ArrayNameplate {
            rated_power_w: self.module.stc_w * series * parallel,
            v_oc: self.module.v_oc * series,
            i_sc: self.module.i_sc * parallel,
            v_mp: self.module.v_mp * series,
            i_mp: self.module.i_mp * parallel,
            gamma_pdc_per_c: self.module.gamma_r / 100.0,
        }
    }
}

/// A described plant.
#[derive(Debug, Clone, PartialEq)]
pub struct Plant {
    pub site: Site,
    pub array_types: Vec<ArrayType>,
}

impl Plant {
    /// The description in file `path`.
    pub fn load(path: &Path) -> Result<Plant, PlantError> {
        Plant::parse(&Plant::read(path)?)
    }

    /// The text of the description file `path`, for who keeps it as written.
    pub fn read(path: &Path) -> Result<String, PlantError> {
        std::fs::read_to_string(path).map_err(|source| PlantError::Read {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The description `text` (TOML).
    pub fn parse(text: &str) -> Result<Plant, PlantError> {
        let raw: RawPlant = toml::from_str(text).map_err(|e| PlantError::Syntax(e.to_string()))?;
        raw.check(text)
    }

    /// Every device with its array type, in the description's order.
    pub fn devices(&self) -> impl Iterator<Item = (&str, &ArrayType)> {
        self.array_types
            .iter()
            .flat_map(|t| t.devices.iter().map(move |d| (d.as_str(), t)))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlant {
    site: RawSite,
    #[serde(rename = "array_type")]
    array_types: Spanned<Vec<RawArrayType>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    #[serde(default)]
    name: String,
    latitude: Spanned<f64>,
    longitude: Spanned<f64>,
    #[serde(default = "sea_level")]
    altitude_m: Spanned<f64>,
    time_zone: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArrayType {
    name: Spanned<String>,
    module: Option<Spanned<String>>,
    datasheet: Option<Spanned<Datasheet>>,
    modules_per_string: Spanned<u32>,
    strings: Spanned<u32>,
    tilt: Spanned<f64>,
    azimuth: Spanned<f64>,
    #[serde(default = "open_rack")]
    mounting: Spanned<String>,
    devices: Option<Spanned<Vec<String>>>,
    device_range: Option<Spanned<DeviceRange>>,
}

fn sea_level() -> Spanned<f64> {
    Spanned::new(0..0, 0.0)
}

fn open_rack() -> Spanned<String> {
    Spanned::new(0..0, "open_rack".into())
}

/// A module given by its datasheet instead of the catalogue.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Datasheet {
    name: String,
    #[serde(default = "crystalline")]
    technology: String,
    stc_w: f64,
    v_oc: f64,
    i_sc: f64,
    v_mp: f64,
    i_mp: f64,
    gamma_pdc_per_c: f64,
}

fn crystalline() -> String {
    "Mono-c-Si".into()
}

/// `count` device IDs `<prefix><first + n>`, the number zero-padded to `digits`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceRange {
    prefix: String,
    #[serde(default)]
    first: u64,
    count: u64,
    #[serde(default)]
    digits: usize,
}

/// The most devices one description may list (a plant of 100,000 arrays fits, a typo of 10^12
/// does not fill memory).
const MAX_DEVICES: u64 = 10_000_000;
const MAX_DEVICE_ID: usize = 256;

struct Checker<'a> {
    text: &'a str,
}

impl Checker<'_> {
    fn line<T>(&self, at: &Spanned<T>) -> usize {
        let start = at.span().start.min(self.text.len());
        self.text[..start].matches('\n').count() + 1
    }

    fn invalid<T>(
        &self,
        at: &Spanned<T>,
        field: impl Into<String>,
        why: impl Into<String>,
    ) -> PlantError {
        PlantError::Invalid {
            line: self.line(at),
            field: field.into(),
            why: why.into(),
        }
    }

    fn within(
        &self,
        value: &Spanned<f64>,
        field: &str,
        range: std::ops::RangeInclusive<f64>,
        unit: &str,
    ) -> Result<f64, PlantError> {
        let v = *value.get_ref();
        if v.is_finite() && range.contains(&v) {
            Ok(v)
        } else {
            Err(self.invalid(
                value,
                field,
                format!(
                    "must be {} to {} {unit}, not {v}",
                    range.start(),
                    range.end()
                ),
            ))
        }
    }
}

impl RawPlant {
    fn check(self, text: &str) -> Result<Plant, PlantError> {
        let c = Checker { text };
        let site = Site {
            name: self.site.name,
            latitude: c.within(
                &self.site.latitude,
                "site.latitude",
                -90.0..=90.0,
                "degrees",
            )?,
            longitude: c.within(
                &self.site.longitude,
                "site.longitude",
                -180.0..=180.0,
                "degrees",
            )?,
            altitude_m: c.within(
                &self.site.altitude_m,
                "site.altitude_m",
                -500.0..=9000.0,
                "metres",
            )?,
            time_zone: {
                let zone = self.site.time_zone.get_ref();
                if zone == "UTC" || (zone.contains('/') && !zone.contains(char::is_whitespace)) {
                    zone.clone()
                } else {
                    return Err(c.invalid(
                        &self.site.time_zone,
                        "site.time_zone",
                        format!("{zone:?} is not an IANA time zone such as Europe/Madrid (or UTC)"),
                    ));
                }
            },
        };
        if self.array_types.get_ref().is_empty() {
            return Err(c.invalid(
                &self.array_types,
                "array_type",
                "the plant has no array type",
            ));
        }
        let mut names = BTreeSet::new();
        let mut seen_devices = BTreeSet::new();
        let mut array_types = Vec::new();
        for (i, raw) in self.array_types.into_inner().into_iter().enumerate() {
            let field = |name: &str| format!("array_type[{i}].{name}");
            let name = raw.name.get_ref().trim().to_string();
            if name.is_empty() || !names.insert(name.clone()) {
                return Err(c.invalid(
                    &raw.name,
                    field("name"),
                    format!("{name:?} is empty or names another array type too"),
                ));
            }
            let module =
                match (&raw.module, &raw.datasheet) {
                    (Some(module), None) => catalogue::lookup(module.get_ref())
                        .cloned()
                        .ok_or_else(|| {
                            let known: Vec<&str> = catalogue::modules()
                                .iter()
                                .map(|m| m.name.as_str())
                                .collect();
                            c.invalid(
                        module,
                        field("module"),
                        format!(
                            "{:?} is not in the catalogue ({}); give its [datasheet] instead",
                            module.get_ref(),
                            known.join("; ")
                        ),
                    )
                        })?,
                    (None, Some(sheet)) => checked_datasheet(&c, sheet, &field("datasheet"))?,
                    _ => {
                        return Err(c.invalid(
                            &raw.name,
                            field("module"),
                            "give either module (a catalogue name) or [datasheet], one of them",
                        ));
                    }
                };
            let count = |value: &Spanned<u32>, name: &str, max: u32| {
                let v = *value.get_ref();
                if (1..=max).contains(&v) {
                    Ok(v)
                } else {
                    Err(c.invalid(value, field(name), format!("must be 1 to {max}, not {v}")))
                }
            };
            let mounting = MOUNTINGS
                .iter()
                .find(|(n, _)| *n == raw.mounting.get_ref())
                .map(|(_, m)| *m)
                .ok_or_else(|| {
                    c.invalid(
                        &raw.mounting,
                        field("mounting"),
                        format!(
                            "{:?} is not one of open_rack, close_mount, insulated_back",
                            raw.mounting.get_ref()
                        ),
                    )
                })?;
            let devices = device_ids(&c, &raw, &field)?;
            for device in &devices {
                if !seen_devices.insert(device.clone()) {
                    return Err(c.invalid(
                        &raw.name,
                        field("devices"),
                        format!("device {device:?} is listed twice"),
                    ));
                }
            }
            array_types.push(ArrayType {
                name,
                module,
                modules_per_string: count(&raw.modules_per_string, "modules_per_string", 100)?,
                strings: count(&raw.strings, "strings", 50)?,
                tilt: c.within(&raw.tilt, &field("tilt"), 0.0..=90.0, "degrees")?,
                azimuth: c.within(&raw.azimuth, &field("azimuth"), 0.0..=360.0, "degrees")?,
                mounting,
                devices,
            });
        }
        Ok(Plant { site, array_types })
    }
}

fn checked_datasheet(
    c: &Checker<'_>,
    sheet: &Spanned<Datasheet>,
    field: &str,
) -> Result<Module, PlantError> {
    let s = sheet.get_ref();
    let refuse = |why: String| c.invalid(sheet, field, why);
    for (name, value) in [
        ("stc_w", s.stc_w),
        ("v_oc", s.v_oc),
        ("i_sc", s.i_sc),
        ("v_mp", s.v_mp),
        ("i_mp", s.i_mp),
    ] {
        if !(value.is_finite() && value > 0.0) {
            return Err(refuse(format!(
                "{name} must be a positive number, not {value}"
            )));
        }
    }
    if s.v_mp >= s.v_oc || s.i_mp >= s.i_sc {
        return Err(refuse(format!(
            "the maximum power point ({} V, {} A) must lie below open circuit ({} V) and short circuit ({} A)",
            s.v_mp, s.i_mp, s.v_oc, s.i_sc
        )));
    }
    if ((s.v_mp * s.i_mp) - s.stc_w).abs() > 0.05 * s.stc_w {
        return Err(refuse(format!(
            "stc_w ({} W) is not v_mp x i_mp ({:.1} W) within 5 %",
            s.stc_w,
            s.v_mp * s.i_mp
        )));
    }
    if !(-0.02..=0.0).contains(&s.gamma_pdc_per_c) {
        return Err(refuse(format!(
            "gamma_pdc_per_c must be -0.02 to 0 per °C (crystalline silicon is about -0.004), not {}",
            s.gamma_pdc_per_c
        )));
    }
    Ok(Module {
        name: s.name.clone(),
        technology: s.technology.clone(),
        bifacial: false,
        stc_w: s.stc_w,
        cells_in_series: 0,
        i_sc: s.i_sc,
        v_oc: s.v_oc,
        i_mp: s.i_mp,
        v_mp: s.v_mp,
        alpha_sc: 0.0,
        beta_oc: 0.0,
        gamma_r: s.gamma_pdc_per_c * 100.0,
        single_diode: None,
    })
}

fn device_ids(
    c: &Checker<'_>,
    raw: &RawArrayType,
    field: &dyn Fn(&str) -> String,
) -> Result<Vec<String>, PlantError> {
    let ids: Vec<String> = match (&raw.devices, &raw.device_range) {
        (Some(list), None) => list.get_ref().clone(),
        (None, Some(range)) => {
            let r = range.get_ref();
            if r.count == 0 || r.count > MAX_DEVICES {
                return Err(c.invalid(
                    range,
                    field("device_range.count"),
                    format!("must be 1 to {MAX_DEVICES}, not {}", r.count),
                ));
            }
            (r.first..r.first + r.count)
                .map(|n| format!("{}{n:0width$}", r.prefix, width = r.digits))
                .collect()
        }
        _ => {
            return Err(c.invalid(
                &raw.name,
                field("devices"),
                "give either devices (a list of IDs) or device_range, one of them",
            ));
        }
    };
    let at: &dyn Fn(String) -> PlantError = &|why| match (&raw.devices, &raw.device_range) {
        (Some(list), _) => c.invalid(list, field("devices"), why),
        (_, Some(range)) => c.invalid(range, field("device_range"), why),
        _ => c.invalid(&raw.name, field("devices"), why),
    };
    if ids.is_empty() {
        return Err(at("the array type has no devices".into()));
    }
    if let Some(bad) = ids
        .iter()
        .find(|id| id.is_empty() || id.len() > MAX_DEVICE_ID || id.chars().any(char::is_control))
    {
        return Err(at(format!(
            "device ID {bad:?} must be 1 to {MAX_DEVICE_ID} bytes without control characters"
        )));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../examples/plant.toml");

    /// The example with `old` replaced by `new` (once), parsed; its error's text.
    fn error_with(old: &str, new: &str) -> String {
        assert!(EXAMPLE.contains(old), "{old}");
        match Plant::parse(&EXAMPLE.replacen(old, new, 1)) {
            Ok(_) => panic!("{old} -> {new} was taken"),
            Err(e) => e.to_string(),
        }
    }

    fn line_of(text: &str) -> usize {
        EXAMPLE
            .lines()
            .position(|l| l.starts_with(text))
            .expect("line")
            + 1
    }

    #[test]
    fn the_example_describes_three_designs_and_their_devices() {
        let plant = Plant::parse(EXAMPLE).expect("the example");
        assert_eq!(plant.array_types.len(), 3);
        assert_eq!(plant.devices().count(), 203);
        let ids: Vec<&str> = plant.devices().map(|(d, _)| d).collect();
        assert_eq!(ids[199], "pv-00199");
        let first_solar = &plant.array_types[1];
        assert_eq!(first_solar.module.technology, "CdTe");
        assert_eq!(first_solar.mounting, Mounting::OpenRack);
        let carport = plant.array_types[2].nameplate();
        assert_eq!(carport.rated_power_w, 550.0 * 36.0);
        assert!((carport.v_oc - 49.9 * 18.0).abs() < 1e-9);
        assert_eq!(carport.i_mp, 13.13 * 2.0);
        assert!((carport.gamma_pdc_per_c + 0.0035).abs() < 1e-12);
        let cs6p = plant.array_types[0].nameplate();
        assert!((cs6p.gamma_pdc_per_c + 0.00424).abs() < 1e-12);
    }

    #[test]
    fn values_out_of_range_name_their_line_and_field() {
        let e = error_with("tilt = 25", "tilt = 95");
        assert_eq!(
            e,
            format!(
                "line {}, array_type[1].tilt: must be 0 to 90 degrees, not 95",
                line_of("tilt = 25")
            )
        );
        let e = error_with("longitude = -2.36", "longitude = -200.0");
        assert!(
            e.starts_with(&format!("line {}, site.longitude", line_of("longitude"))),
            "{e}"
        );
        let e = error_with("strings = 3", "strings = 0");
        assert!(
            e.contains("array_type[0].strings: must be 1 to 50, not 0"),
            "{e}"
        );
        let e = error_with("mounting = \"open_rack\"", "mounting = \"floating\"");
        assert!(
            e.contains("array_type[0].mounting: \"floating\" is not one of"),
            "{e}"
        );
        let e = error_with(
            "time_zone = \"Europe/Madrid\"",
            "time_zone = \"CET summer\"",
        );
        assert!(e.contains("site.time_zone"), "{e}");
    }

    #[test]
    fn modules_devices_and_datasheets_are_checked() {
        let e = error_with("FS-6390\"", "FS-9999\"");
        assert!(
            e.contains(
                "array_type[1].module: \"First Solar_ Inc. FS-9999\" is not in the catalogue"
            ),
            "{e}"
        );
        let e = error_with("\"fs-west-2\"]", "\"pv-00007\"]");
        assert!(e.contains("device \"pv-00007\" is listed twice"), "{e}");
        let e = error_with("v_mp = 41.9", "v_mp = 52.0");
        assert!(
            e.contains("array_type[2].datasheet: the maximum power point"),
            "{e}"
        );
        let e = error_with("stc_w = 550", "stc_w = 700");
        assert!(e.contains("is not v_mp x i_mp"), "{e}");
        let e = error_with("devices = [\"carport-1\"]", "devices = []");
        assert!(
            e.contains("array_type[2].devices: the array type has no devices"),
            "{e}"
        );
        let e = error_with("name = \"field-first-solar\"", "name = \"rooftop-cs6p\"");
        assert!(e.contains("names another array type too"), "{e}");
    }

    #[test]
    fn shape_errors_come_from_toml_with_their_line() {
        let e = error_with("azimuth = 180\nmounting", "azimut = 180\nmounting");
        assert!(e.contains("line") && e.contains("azimut"), "{e}");
        let e = error_with("modules_per_string = 5", "modules_per_string = \"five\"");
        assert!(
            e.contains(&format!("line {}", line_of("modules_per_string = 5"))),
            "{e}"
        );
    }
}
