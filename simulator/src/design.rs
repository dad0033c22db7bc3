//! An array design: the module, how many in series and in parallel, how they face and how they
//! are mounted. Every device of a plant is built to one; plant descriptions
//! ([`pvflow_plant::Plant`]) name theirs per array type.

use crate::array::Wiring;
use crate::datasheet_fit::{Datasheet, fit};
use crate::error::SimulatorError;
use crate::module::{CANADIAN_SOLAR_CS6P_250P, CecModule};
use pvflow_plant::Mounting;

/// Strings longer than this are outside what a DC system allows (1500 V over ~50 V modules).
const MAX_MODULES_PER_STRING: usize = 40;
/// Strings per reporting device (one MPPT input or combiner).
const MAX_STRINGS: usize = 12;

#[derive(Clone, Debug, PartialEq)]
pub struct ArrayDesign {
    /// The array type's name in a plant description (`default` for the simulator's own).
    pub name: String,
    pub module: CecModule,
    pub modules_per_string: usize,
    pub strings: usize,
    /// Bypass diodes per module: 3 for crystalline modules, 1 for thin film (a shadow then takes
    /// a whole module out).
    pub bypass_diodes: usize,
    /// Degrees from horizontal.
    pub tilt_deg: f64,
    /// Direction the modules face, clockwise from north (180 = south).
    pub azimuth_deg: f64,
    pub mounting: Mounting,
}

impl Default for ArrayDesign {
    /// The simulator's own array: 5 x 3 CS6P-250P on an open rack, south at 30 degrees.
    fn default() -> Self {
        ArrayDesign {
            name: "default".into(),
            module: *CANADIAN_SOLAR_CS6P_250P,
            modules_per_string: 5,
            strings: 3,
            bypass_diodes: 3,
            tilt_deg: 30.0,
            azimuth_deg: 180.0,
            mounting: Mounting::OpenRack,
        }
    }
}

/// A datasheet module's fitted parameters. Its name is leaked to give it the static lifetime the
/// catalogue's names have: once per array type of a description, for the process' life.
fn fitted(module: &pvflow_plant::Module) -> Option<CecModule> {
    let sheet = Datasheet {
        i_sc: module.i_sc,
        v_oc: module.v_oc,
        i_mp: module.i_mp,
        v_mp: module.v_mp,
    };
    fit(Box::leak(module.name.clone().into_boxed_str()), sheet)
}

impl ArrayDesign {
    /// The design of a plant description's array type: its catalogue module's CEC parameters,
    /// or single-diode parameters fitted to its datasheet (`datasheet_fit`).
    pub fn from_array_type(array: &pvflow_plant::ArrayType) -> Result<ArrayDesign, SimulatorError> {
        let module = match CecModule::from_catalogue(&array.module.name) {
            Some(module) => module,
            None => fitted(&array.module).ok_or_else(|| SimulatorError::UnsupportedDesign {
                design: array.name.clone(),
                problem: format!(
                    "no single diode fits the datasheet of module {:?} (its maximum power \
                     point lies too close to open and short circuit)",
                    array.module.name
                ),
            })?,
        };
        let crystalline = array.module.technology.contains("c-Si");
        let design = ArrayDesign {
            name: array.name.clone(),
            module,
            modules_per_string: array.modules_per_string as usize,
            strings: array.strings as usize,
            bypass_diodes: if crystalline { 3 } else { 1 },
            tilt_deg: array.tilt,
            azimuth_deg: array.azimuth,
            mounting: array.mounting,
        };
        design.validate()?;
        Ok(design)
    }

    pub(crate) fn wiring(&self) -> Wiring {
        Wiring {
            modules_per_string: self.modules_per_string,
            strings: self.strings,
            substrings_per_module: self.bypass_diodes,
        }
    }

    /// How much heat the mounting sheds relative to an open rack (Faiman's coefficients, which
    /// the weather uses, are for open racks): PVsyst's default U-values, 29 W/m2K free-standing,
    /// 20 semi-integrated (close mount), 15 insulated back.
    pub(crate) fn heat_loss_factor(&self) -> f64 {
        match self.mounting {
            Mounting::OpenRack => 1.0,
            Mounting::CloseMount => 20.0 / 29.0,
            Mounting::InsulatedBack => 15.0 / 29.0,
        }
    }

    /// Checks every field; the error names the design and the first bad one.
    pub fn validate(&self) -> Result<(), SimulatorError> {
        let problem = if !(1..=MAX_MODULES_PER_STRING).contains(&self.modules_per_string) {
            format!(
                "modules_per_string must be 1 to {MAX_MODULES_PER_STRING}, not {}",
                self.modules_per_string
            )
        } else if !(1..=MAX_STRINGS).contains(&self.strings) {
            format!("strings must be 1 to {MAX_STRINGS}, not {}", self.strings)
        } else if !(1..=6).contains(&self.bypass_diodes) {
            format!("bypass_diodes must be 1 to 6, not {}", self.bypass_diodes)
        } else if !(self.tilt_deg.is_finite() && (0.0..=90.0).contains(&self.tilt_deg)) {
            format!("tilt_deg must be 0 to 90, not {}", self.tilt_deg)
        } else if !(self.azimuth_deg.is_finite() && (0.0..=360.0).contains(&self.azimuth_deg)) {
            format!("azimuth_deg must be 0 to 360, not {}", self.azimuth_deg)
        } else {
            return Ok(());
        };
        Err(SimulatorError::UnsupportedDesign {
            design: self.name.clone(),
            problem,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_types_become_designs() {
        let plant = pvflow_plant::Plant::parse(include_str!("../../plant/examples/plant.toml"))
            .expect("the example parses");
        let thin_film = &plant.array_types[1];
        let design = ArrayDesign::from_array_type(thin_film).expect("a catalogue module");
        assert_eq!(design.module.name, "First Solar_ Inc. FS-6390");
        assert_eq!((design.modules_per_string, design.strings), (4, 2));
        assert_eq!(design.bypass_diodes, 1);
        assert_eq!(design.tilt_deg, 25.0);

        // A module by its datasheet: fitted, and its maximum power point is the datasheet's.
        let carport = ArrayDesign::from_array_type(&plant.array_types[2]).expect("fits");
        let point = carport
            .module
            .diode_parameters(1000.0, 25.0)
            .characteristic_points();
        assert!(
            (point.p_mp / (41.9 * 13.13) - 1.0).abs() < 0.005,
            "{point:?}"
        );
        let mut impossible = plant.array_types[2].clone();
        impossible.module.v_mp = 0.99 * impossible.module.v_oc;
        impossible.module.i_mp = 0.99 * impossible.module.i_sc;
        let e = ArrayDesign::from_array_type(&impossible).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("array type carport-550: no single diode"),
            "{e}"
        );
    }

    #[test]
    fn bad_designs_name_the_field() {
        let design = ArrayDesign {
            strings: 0,
            ..ArrayDesign::default()
        };
        assert_eq!(
            design.validate().unwrap_err().to_string(),
            "array type default: strings must be 1 to 12, not 0"
        );
        assert!(ArrayDesign::default().validate().is_ok());
    }
}
