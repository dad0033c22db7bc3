//! The shipped module catalogue: rows of the CEC module database (`catalogue/cec-modules.csv`,
//! its origin in `catalogue/README.md`), looked up by name.

use std::sync::LazyLock;

const CSV: &str = include_str!("../catalogue/cec-modules.csv");

/// A module's nameplate at standard test conditions and its CEC single-diode parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Module {
    /// As the CEC database names it (`Canadian Solar Inc. CS6P-250P`).
    pub name: String,
    pub technology: String,
    pub bifacial: bool,
    /// Power at STC (W).
    pub stc_w: f64,
    /// Cells in series.
    pub cells_in_series: u32,
    pub i_sc: f64,
    pub v_oc: f64,
    pub i_mp: f64,
    pub v_mp: f64,
    /// Temperature coefficient of the short-circuit current (A/K).
    pub alpha_sc: f64,
    /// Temperature coefficient of the open-circuit voltage (V/K).
    pub beta_oc: f64,
    /// Temperature coefficient of power (%/K).
    pub gamma_r: f64,
    /// The CEC single-diode parameters (`a_ref`, `I_L_ref`, `I_o_ref`, `R_s`, `R_sh_ref`,
    /// `Adjust`) the simulator's physics take; `None` for a module given by datasheet values.
    pub single_diode: Option<SingleDiode>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SingleDiode {
    pub a_ref: f64,
    pub i_l_ref: f64,
    pub i_o_ref: f64,
    pub r_s: f64,
    pub r_sh_ref: f64,
    pub adjust: f64,
}

/// pvlib's key for a module name: every character other than an ASCII letter or digit as `_`.
pub fn pvlib_key(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The shipped modules.
pub fn modules() -> &'static [Module] {
    static MODULES: LazyLock<Vec<Module>> = LazyLock::new(|| parse(CSV));
    &MODULES
}

/// The module called `name` (its CEC name or pvlib's key for it).
pub fn lookup(name: &str) -> Option<&'static Module> {
    let key = pvlib_key(name);
    modules()
        .iter()
        .find(|m| m.name == name || pvlib_key(&m.name) == key)
}

/// The rows of a CEC module CSV (a header, a units row, then modules). The shipped file is
/// checked by the tests, so a malformed row there is a build defect, not a user's error.
fn parse(csv: &str) -> Vec<Module> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    lines
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            let text = |name: &str| column(name).and_then(|i| cells.get(i)).copied();
            let number = |name: &str| text(name).and_then(|t| t.trim().parse::<f64>().ok());
            Some(Module {
                name: text("Name")?.to_string(),
                technology: text("Technology")?.to_string(),
                bifacial: text("Bifacial")? == "1",
                stc_w: number("STC")?,
                cells_in_series: number("N_s")? as u32,
                i_sc: number("I_sc_ref")?,
                v_oc: number("V_oc_ref")?,
                i_mp: number("I_mp_ref")?,
                v_mp: number("V_mp_ref")?,
                alpha_sc: number("alpha_sc")?,
                beta_oc: number("beta_oc")?,
                gamma_r: number("gamma_r")?,
                single_diode: Some(SingleDiode {
                    a_ref: number("a_ref")?,
                    i_l_ref: number("I_L_ref")?,
                    i_o_ref: number("I_o_ref")?,
                    r_s: number("R_s")?,
                    r_sh_ref: number("R_sh_ref")?,
                    adjust: number("Adjust")?,
                }),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_row_is_read() {
        let rows = CSV.lines().skip(2).filter(|l| !l.trim().is_empty()).count();
        assert_eq!(modules().len(), rows);
        assert!(rows >= 8);
        let technologies: std::collections::BTreeSet<&str> =
            modules().iter().map(|m| m.technology.as_str()).collect();
        assert!(technologies.contains("CdTe") && technologies.contains("CIGS"));
        assert!(modules().iter().any(|m| m.stc_w > 500.0));
    }

    #[test]
    fn modules_are_found_by_name_or_pvlib_key() {
        let by_name = lookup("Canadian Solar Inc. CS6P-250P").expect("by name");
        let by_key = lookup("Canadian_Solar_Inc__CS6P_250P").expect("by key");
        assert_eq!(by_name, by_key);
        // The values pvlib's retrieve_sam('CECMod') gives (fixtures/pvlib/README.md).
        assert_eq!(
            (by_name.cells_in_series, by_name.i_sc, by_name.v_oc),
            (60, 8.87, 37.2)
        );
        let diode = by_name.single_diode.expect("CEC parameters");
        assert_eq!((diode.a_ref, diode.r_s), (1.488217, 0.321434));
        assert_eq!(by_name.gamma_r, -0.424);
        assert!(lookup("No Such Module").is_none());
    }
}
