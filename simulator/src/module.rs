//! One PV module as a single-diode model with CEC parameters, numerically equal to pvlib's
//! `calcparams_cec` followed by `singlediode` (Lambert-W method).
//!
//! The same equations describe any run of series cells: [`DiodeParameters::cells_fraction`] gives
//! a bypass-diode substring (20 of 60 cells), which is how the array model builds strings.

use crate::lambert_w::lambert_w0_of_exp;
use std::sync::LazyLock;

/// Band gap at reference conditions (eV), CEC/De Soto value for crystalline silicon.
const BANDGAP_REF_EV: f64 = 1.121;
/// Temperature dependence of the band gap (1/K), CEC/De Soto value.
const BANDGAP_TEMP_COEFF: f64 = -0.0002677;
/// Reference irradiance of the CEC parameters (W/m2).
const IRRADIANCE_REF_W_M2: f64 = 1000.0;
/// Reference cell temperature of the CEC parameters (C).
const TEMP_REF_C: f64 = 25.0;
const KELVIN_OFFSET: f64 = 273.15;
/// Boltzmann constant in eV/K (CODATA 2018, as scipy.constants and so pvlib).
const BOLTZMANN_EV_PER_K: f64 = 8.617_333_262e-5;

/// A module's entry in the CEC module database (the fields pvlib's `calcparams_cec` reads).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CecModule {
    pub name: &'static str,
    pub cells_in_series: u32,
    /// Temperature coefficient of the short-circuit current (A/K), before `adjust`.
    pub alpha_sc: f64,
    /// Modified ideality factor `n * Ns * Vth` at reference conditions (V).
    pub a_ref: f64,
    /// Photocurrent at reference conditions (A).
    pub i_l_ref: f64,
    /// Diode saturation current at reference conditions (A).
    pub i_o_ref: f64,
    /// Series resistance (ohm).
    pub r_s: f64,
    /// Shunt resistance at reference irradiance (ohm).
    pub r_sh_ref: f64,
    /// CEC adjustment (%) of the temperature coefficient of the short-circuit current.
    pub adjust: f64,
}

impl CecModule {
    /// The catalogue's module `name` (pvflow-plant's CEC rows), if it has the single-diode
    /// parameters the physics take.
    pub fn from_catalogue(name: &str) -> Option<CecModule> {
        let module = pvflow_plant::catalogue::lookup(name)?;
        let diode = module.single_diode?;
        Some(CecModule {
            name: module.name.as_str(),
            cells_in_series: module.cells_in_series,
            alpha_sc: module.alpha_sc,
            a_ref: diode.a_ref,
            i_l_ref: diode.i_l_ref,
            i_o_ref: diode.i_o_ref,
            r_s: diode.r_s,
            r_sh_ref: diode.r_sh_ref,
            adjust: diode.adjust,
        })
    }
}

/// Canadian Solar CS6P-250P, the simulator's default module (pvlib `CECMod`
/// `Canadian_Solar_Inc__CS6P_250P`): 60 cells, 250 W at STC, from the catalogue.
pub static CANADIAN_SOLAR_CS6P_250P: LazyLock<CecModule> = LazyLock::new(|| {
    // The shipped catalogue holds it (pvflow-plant's tests read every row).
    CecModule::from_catalogue("Canadian Solar Inc. CS6P-250P")
        .expect("the module catalogue ships the CS6P-250P with its CEC parameters")
});

/// The five single-diode parameters at one operating condition:
/// `I = IL - I0 * (exp((V + I*Rs) / nNsVth) - 1) - (V + I*Rs) / Rsh`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiodeParameters {
    /// IL (A).
    pub photocurrent: f64,
    /// I0 (A).
    pub saturation_current: f64,
    /// Rs (ohm).
    pub series_resistance: f64,
    /// Rsh (ohm); infinite in the dark.
    pub shunt_resistance: f64,
    /// nNsVth (V).
    pub n_ns_vth: f64,
}

/// A module's characteristic points: short circuit, open circuit and maximum power.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ModulePoint {
    pub i_sc: f64,
    pub v_oc: f64,
    pub i_mp: f64,
    pub v_mp: f64,
    pub p_mp: f64,
}

/// Characteristic points of the default module ([`CANADIAN_SOLAR_CS6P_250P`]) at an effective
/// irradiance (W/m2) and cell temperature (C); all zero without light.
pub fn module_point(irradiance_w_m2: f64, cell_temp_c: f64) -> ModulePoint {
    if irradiance_w_m2 <= 0.0 {
        return ModulePoint::default();
    }
    CANADIAN_SOLAR_CS6P_250P
        .diode_parameters(irradiance_w_m2, cell_temp_c)
        .characteristic_points()
}

impl CecModule {
    /// pvlib's `calcparams_cec`: De Soto's temperature and irradiance dependence with the CEC
    /// adjustment applied to `alpha_sc`.
    pub fn diode_parameters(&self, effective_irradiance: f64, cell_temp_c: f64) -> DiodeParameters {
        let alpha_sc = self.alpha_sc * (1.0 - self.adjust / 100.0);
        let t_ref = TEMP_REF_C + KELVIN_OFFSET;
        let t_cell = cell_temp_c + KELVIN_OFFSET;
        let bandgap = BANDGAP_REF_EV * (1.0 + BANDGAP_TEMP_COEFF * (t_cell - t_ref));
        let irradiance_ratio = effective_irradiance / IRRADIANCE_REF_W_M2;
        let saturation_current = self.i_o_ref
            * (t_cell / t_ref).powi(3)
            * (BANDGAP_REF_EV / (BOLTZMANN_EV_PER_K * t_ref)
                - bandgap / (BOLTZMANN_EV_PER_K * t_cell))
                .exp();
        DiodeParameters {
            photocurrent: irradiance_ratio * (self.i_l_ref + alpha_sc * (t_cell - t_ref)),
            saturation_current,
            series_resistance: self.r_s,
            shunt_resistance: self.r_sh_ref / irradiance_ratio,
            n_ns_vth: self.a_ref * (t_cell / t_ref),
        }
    }
}

impl DiodeParameters {
    /// The same cells' parameters for a series run holding `fraction` of them: voltage-like
    /// terms scale with the cell count, currents do not.
    pub fn cells_fraction(&self, fraction: f64) -> DiodeParameters {
        DiodeParameters {
            series_resistance: self.series_resistance * fraction,
            shunt_resistance: self.shunt_resistance * fraction,
            n_ns_vth: self.n_ns_vth * fraction,
            ..*self
        }
    }

    /// Terminal voltage at a current (pvlib `_lambertw_v_from_i`). Currents above the
    /// photocurrent give the reverse-biased (negative) voltage of the shunt path.
    pub fn voltage_at_current(&self, current: f64) -> f64 {
        let DiodeParameters {
            photocurrent: il,
            saturation_current: i0,
            series_resistance: rs,
            shunt_resistance: rsh,
            n_ns_vth: a,
        } = *self;
        if rsh.is_infinite() {
            return a * ((il - current) / i0).ln_1p() - current * rs;
        }
        let ln_arg = (i0 * rsh / a).ln() + (il + i0 - current) * rsh / a;
        (il + i0 - current) * rsh - current * rs - a * lambert_w0_of_exp(ln_arg)
    }

    /// Terminal voltage and its slope dV/dI at a current, for Newton solves.
    pub fn voltage_and_slope(&self, current: f64) -> (f64, f64) {
        let voltage = self.voltage_at_current(current);
        let diode_voltage = voltage + current * self.series_resistance;
        // Differentiating the implicit equation: dV/dI = -Rs - 1 / (I0/a e^(Vd/a) + 1/Rsh).
        let conductance = self.saturation_current / self.n_ns_vth
            * (diode_voltage / self.n_ns_vth).exp()
            + 1.0 / self.shunt_resistance;
        (voltage, -self.series_resistance - 1.0 / conductance)
    }

    /// Terminal current at a voltage (pvlib `_lambertw_i_from_v`).
    pub fn current_at_voltage(&self, voltage: f64) -> f64 {
        let DiodeParameters {
            photocurrent: il,
            saturation_current: i0,
            series_resistance: rs,
            shunt_resistance: rsh,
            n_ns_vth: a,
        } = *self;
        let gsh = 1.0 / rsh;
        if rs == 0.0 {
            return il - i0 * (voltage / a).exp_m1() - gsh * voltage;
        }
        let scale = a * (rs * gsh + 1.0);
        let ln_arg = (rs * i0 / scale).ln() + (rs * (il + i0) + voltage) / scale;
        (il + i0 - voltage * gsh) / (rs * gsh + 1.0) - (a / rs) * lambert_w0_of_exp(ln_arg)
    }

    /// Short circuit, open circuit and the maximum power point (golden-section search on
    /// P(V) = V I(V) over [0, Voc], as pvlib's Lambert-W `singlediode`).
    pub fn characteristic_points(&self) -> ModulePoint {
        let v_oc = self.voltage_at_current(0.0);
        let i_sc = self.current_at_voltage(0.0);
        let v_mp = golden_section_max(|v| v * self.current_at_voltage(v), 0.0, v_oc, 1e-10);
        let i_mp = self.current_at_voltage(v_mp);
        ModulePoint {
            i_sc,
            v_oc,
            i_mp,
            v_mp,
            p_mp: v_mp * i_mp,
        }
    }
}

/// The argument of the maximum of a unimodal function on `[lo, hi]`, to within `tolerance`.
pub(crate) fn golden_section_max(f: impl Fn(f64) -> f64, lo: f64, hi: f64, tolerance: f64) -> f64 {
    const INV_PHI: f64 = 0.618_033_988_749_894_9;
    let (mut a, mut b) = (lo, hi);
    let mut c = b - INV_PHI * (b - a);
    let mut d = a + INV_PHI * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    while (b - a).abs() > tolerance {
        if fc > fd {
            b = d;
            d = c;
            fd = fc;
            c = b - INV_PHI * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + INV_PHI * (b - a);
            fd = f(d);
        }
    }
    0.5 * (a + b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row of `fixtures/pvlib/cec_module_mpp_25C.csv`.
    struct PvlibRow {
        irradiance: f64,
        temp_cell: f64,
        params: [f64; 5],
        points: [f64; 5],
    }

    fn pvlib_rows() -> Vec<PvlibRow> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/pvlib/cec_module_mpp_25C.csv"
        );
        let text = std::fs::read_to_string(path).expect("pvlib fixture is readable");
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().expect("header").split(',').collect();
        assert_eq!(
            header,
            [
                "module",
                "effective_irradiance_Wm2",
                "temp_cell_C",
                "IL",
                "I0",
                "Rs",
                "Rsh",
                "nNsVth",
                "i_sc",
                "v_oc",
                "i_mp",
                "v_mp",
                "p_mp"
            ]
        );
        lines
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let fields: Vec<&str> = line.split(',').collect();
                assert_eq!(
                    fields[0],
                    pvflow_plant::catalogue::pvlib_key(CANADIAN_SOLAR_CS6P_250P.name)
                );
                let numbers: Vec<f64> = fields[1..]
                    .iter()
                    .map(|field| field.parse().expect("numeric field"))
                    .collect();
                PvlibRow {
                    irradiance: numbers[0],
                    temp_cell: numbers[1],
                    params: numbers[2..7].try_into().expect("five parameters"),
                    points: numbers[7..12].try_into().expect("five points"),
                }
            })
            .collect()
    }

    fn assert_close(name: &str, ours: f64, theirs: f64, relative: f64) {
        let error = (ours - theirs).abs() / theirs.abs();
        assert!(
            error <= relative,
            "{name}: ours {ours} pvlib {theirs} (rel error {error:e})"
        );
    }

    #[test]
    fn calcparams_cec_matches_pvlib() {
        let rows = pvlib_rows();
        assert!(rows.len() >= 5);
        for row in rows {
            let p = CANADIAN_SOLAR_CS6P_250P.diode_parameters(row.irradiance, row.temp_cell);
            let ours = [
                p.photocurrent,
                p.saturation_current,
                p.series_resistance,
                p.shunt_resistance,
                p.n_ns_vth,
            ];
            for ((name, o), t) in ["IL", "I0", "Rs", "Rsh", "nNsVth"]
                .iter()
                .zip(ours)
                .zip(row.params)
            {
                assert_close(name, o, t, 1e-9);
            }
        }
    }

    /// The contract: within 1% of pvlib's singlediode on every fixture row (in fact ~1e-6).
    #[test]
    fn module_point_matches_pvlib_singlediode_within_one_percent() {
        for row in pvlib_rows() {
            let point = module_point(row.irradiance, row.temp_cell);
            let ours = [point.i_sc, point.v_oc, point.i_mp, point.v_mp, point.p_mp];
            for ((name, o), t) in ["i_sc", "v_oc", "i_mp", "v_mp", "p_mp"]
                .iter()
                .zip(ours)
                .zip(row.points)
            {
                assert_close(name, o, t, 0.01);
                // Tighter: the same equations solved to full precision.
                assert_close(name, o, t, 1e-4);
            }
        }
    }

    #[test]
    fn voltage_and_current_solutions_invert_each_other() {
        let p = CANADIAN_SOLAR_CS6P_250P.diode_parameters(640.0, 47.0);
        for current in [-10.0, -1.0, 0.0, 2.0, 5.0, 5.9, 6.5, 9.0] {
            let voltage = p.voltage_at_current(current);
            let back = p.current_at_voltage(voltage);
            assert!(
                (back - current).abs() < 1e-7,
                "I={current} V={voltage} back={back}"
            );
        }
    }

    #[test]
    fn slope_matches_finite_difference() {
        let p = CANADIAN_SOLAR_CS6P_250P
            .diode_parameters(800.0, 40.0)
            .cells_fraction(1.0 / 3.0);
        for current in [-5.0, 0.0, 4.0, 6.8, 7.05, 9.0] {
            let h = 1e-6;
            let (_, slope) = p.voltage_and_slope(current);
            let numeric =
                (p.voltage_at_current(current + h) - p.voltage_at_current(current - h)) / (2.0 * h);
            assert!(
                (slope - numeric).abs() <= 1e-4 * numeric.abs().max(1.0),
                "I={current}: {slope} vs {numeric}"
            );
        }
    }

    #[test]
    fn substrings_add_up_to_the_module() {
        let module = CANADIAN_SOLAR_CS6P_250P.diode_parameters(900.0, 35.0);
        let substring = module.cells_fraction(1.0 / 3.0);
        for current in [0.0, 3.0, 7.5] {
            let sum = 3.0 * substring.voltage_at_current(current);
            assert!((sum - module.voltage_at_current(current)).abs() < 1e-9);
        }
    }

    #[test]
    fn dark_module_produces_nothing() {
        assert_eq!(module_point(0.0, 25.0), ModulePoint::default());
        assert_eq!(module_point(-5.0, 25.0), ModulePoint::default());
    }

    #[test]
    fn golden_section_finds_parabola_vertex() {
        let x = golden_section_max(|x| -(x - 1.3) * (x - 1.3), -4.0, 9.0, 1e-12);
        assert!((x - 1.3).abs() < 1e-9);
    }
}
