//! Single-diode parameters for a module known only by its datasheet (Isc, Voc, Imp, Vmp at
//! STC), so that a plant description may simulate it.
//!
//! Five unknowns, four datasheet points: the modified ideality factor is fixed at 0.037 x Voc
//! (the median of the CEC fits in the catalogue: 0.032-0.045; where no positive resistances
//! fit it, the nearest ratio that has them), then `IL`, `I0`, `Rs` and `Rsh`
//! satisfy short circuit, open circuit, the maximum power point and a zero power slope there.
//! Given `Rs` and `Rsh`, short and open circuit are linear in `IL` and `I0`; Newton's method on
//! `(ln Rs, ln Rsh)` meets the two maximum-power conditions. Temperature behaviour takes typical
//! values: `alpha_sc` 0.04 %/K of Isc and no CEC adjustment.

use crate::module::CecModule;

const A_REF_PER_VOC: [f64; 9] = [
    0.037, 0.035, 0.039, 0.033, 0.041, 0.031, 0.043, 0.029, 0.045,
];
const ALPHA_SC_PER_ISC: f64 = 0.0004;
/// Volts of open circuit per cell, to estimate the cells in series (metadata only).
const VOC_PER_CELL: f64 = 0.67;

/// The datasheet's four points at STC.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Datasheet {
    pub i_sc: f64,
    pub v_oc: f64,
    pub i_mp: f64,
    pub v_mp: f64,
}

/// `IL` and `I0` that meet short and open circuit for `a`, `Rs`, `Rsh`.
fn photo_and_saturation(d: &Datasheet, a: f64, rs: f64, rsh: f64) -> (f64, f64) {
    let at_open = (d.v_oc / a).exp_m1();
    let at_short = (d.i_sc * rs / a).exp_m1();
    let i0 = (d.i_sc * (1.0 + rs / rsh) - d.v_oc / rsh) / (at_open - at_short);
    (d.v_oc / rsh + i0 * at_open, i0)
}

/// The two maximum-power conditions' residuals (relative): the diode equation at (Vmp, Imp),
/// and `Imp + Vmp dI/dV`.
fn residuals(d: &Datasheet, a: f64, rs: f64, rsh: f64) -> [f64; 2] {
    let (il, i0) = photo_and_saturation(d, a, rs, rsh);
    let x = (d.v_mp + d.i_mp * rs) / a;
    let current = il - i0 * x.exp_m1() - (d.v_mp + d.i_mp * rs) / rsh;
    let conductance = i0 / a * x.exp() + 1.0 / rsh;
    let slope = -conductance / (1.0 + rs * conductance);
    [
        (current - d.i_mp) / d.i_sc,
        (d.i_mp + d.v_mp * slope) / d.i_sc,
    ]
}

/// The module's single-diode parameters, or `None` when the datasheet's points admit none
/// (a maximum power point too close to the corners of the curve for one diode).
pub fn fit(name: &'static str, d: Datasheet) -> Option<CecModule> {
    // The median first; where it admits no positive resistances, the neighbours outwards.
    A_REF_PER_VOC
        .iter()
        .find_map(|ratio| fit_with_ideality(name, d, ratio * d.v_oc))
}

fn fit_with_ideality(name: &'static str, d: Datasheet, a: f64) -> Option<CecModule> {
    // Start from a fifth of the slope resistance near open circuit and a large shunt.
    let mut p = [
        (0.2 * (d.v_oc - d.v_mp) / d.i_mp).ln(),
        (50.0 * d.v_oc / d.i_sc).ln(),
    ];
    for _ in 0..100 {
        let r = residuals(&d, a, p[0].exp(), p[1].exp());
        if r.iter().all(|v| v.abs() < 1e-10) {
            break;
        }
        let h = 1e-6;
        let jacobian: Vec<[f64; 2]> = (0..2)
            .map(|k| {
                let mut q = p;
                q[k] += h;
                let rq = residuals(&d, a, q[0].exp(), q[1].exp());
                [(rq[0] - r[0]) / h, (rq[1] - r[1]) / h]
            })
            .collect();
        // Solve J dp = -r (columns are the parameters).
        let (j00, j01, j10, j11) = (
            jacobian[0][0],
            jacobian[1][0],
            jacobian[0][1],
            jacobian[1][1],
        );
        let det = j00 * j11 - j01 * j10;
        if det.abs() < 1e-300 {
            return None;
        }
        let step = [
            (-r[0] * j11 + r[1] * j01) / det,
            (-r[1] * j00 + r[0] * j10) / det,
        ];
        // Damped: no step longer than a factor e in either resistance.
        let scale = 1.0f64.min(1.0 / step[0].abs().max(step[1].abs()).max(1e-12));
        p = [p[0] + scale * step[0], p[1] + scale * step[1]];
    }
    let (rs, rsh) = (p[0].exp(), p[1].exp());
    let r = residuals(&d, a, rs, rsh);
    let (il, i0) = photo_and_saturation(&d, a, rs, rsh);
    let sound = r.iter().all(|v| v.abs() < 1e-6)
        && [rs, rsh, il, i0].iter().all(|v| v.is_finite() && *v > 0.0);
    sound.then(|| CecModule {
        name,
        cells_in_series: (d.v_oc / VOC_PER_CELL).round().max(1.0) as u32,
        alpha_sc: ALPHA_SC_PER_ISC * d.i_sc,
        a_ref: a,
        i_l_ref: il,
        i_o_ref: i0,
        r_s: rs,
        r_sh_ref: rsh,
        adjust: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each catalogue module, refitted from its four datasheet points alone: the fitted
    /// module's maximum power point at STC is the datasheet's.
    #[test]
    fn fits_reproduce_the_maximum_power_point() {
        for module in pvflow_plant::catalogue::modules() {
            let sheet = Datasheet {
                i_sc: module.i_sc,
                v_oc: module.v_oc,
                i_mp: module.i_mp,
                v_mp: module.v_mp,
            };
            let fitted = fit("test", sheet).unwrap_or_else(|| panic!("{} fits", module.name));
            let point = fitted
                .diode_parameters(1000.0, 25.0)
                .characteristic_points();
            let close = |got: f64, want: f64| (got / want - 1.0).abs() < 0.005;
            assert!(
                close(point.p_mp, module.v_mp * module.i_mp),
                "{}: {point:?}",
                module.name
            );
            assert!(close(point.v_oc, module.v_oc), "{}: {point:?}", module.name);
            assert!(close(point.i_sc, module.i_sc), "{}: {point:?}", module.name);
            assert!(close(point.v_mp, module.v_mp), "{}: {point:?}", module.name);
        }
    }
}
