//! The reporting device: an array of strings of modules in parallel, each module split into
//! substrings of cells with a bypass diode (the default: 5 modules per string, 3 strings, 3
//! substrings of 20 cells), and the array's P-V curve under a (possibly faulted) electrical
//! configuration.
//!
//! Series elements share a current, so each string is built as a voltage-vs-current table on a
//! common current grid (exact single-diode voltages and slopes at the grid points, a monotone
//! cubic in between); parallel strings share a voltage, so the array current at a voltage is the
//! sum of the strings' inverted tables. Strings have no blocking diodes: a string forced above its open
//! circuit voltage takes reverse current, as line-line faults do in the field.

use crate::module::{CecModule, DiodeParameters, golden_section_max};

/// How an array's modules are wired: modules in series per string, strings in parallel, and
/// bypass-diode substrings per module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Wiring {
    pub modules_per_string: usize,
    pub strings: usize,
    pub substrings_per_module: usize,
}

impl Wiring {
    /// The simulator's original array: 5 x 3 modules of 3 substrings.
    pub const DEFAULT: Wiring = Wiring {
        modules_per_string: 5,
        strings: 3,
        substrings_per_module: 3,
    };

    pub fn substrings_per_string(self) -> usize {
        self.modules_per_string * self.substrings_per_module
    }
}

/// A conducting bypass diode holds its substring at `-(forward + on_resistance * I)`, about
/// -0.5 V at rated current.
const BYPASS_FORWARD_V: f64 = 0.4;
const BYPASS_ON_RESISTANCE_OHM: f64 = 0.012;
/// Below this current an arc cannot sustain itself and its voltage collapses (A).
const ARC_SUSTAIN_CURRENT_A: f64 = 0.5;

/// Current grid points for reverse (negative) string currents and for forward ones.
const REVERSE_CURRENT_POINTS: usize = 24;
const FORWARD_CURRENT_POINTS: usize = 120;
/// Voltage samples of the P-V sweep that brackets every local maximum before refinement.
const VOLTAGE_SWEEP_POINTS: usize = 200;
/// A local maximum of P(V) counts as a peak when it stands at least this fraction of the
/// global maximum above the valleys on both sides (filters numerical ripples, not real peaks).
const MIN_PEAK_PROMINENCE: f64 = 0.002;

/// What the cells see: effective plane-of-array irradiance, cell temperature, and the share of
/// the irradiance that is diffuse (what shaded cells still receive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Conditions {
    pub irradiance: f64,
    pub cell_temp_c: f64,
    pub diffuse_share: f64,
}

/// `count` substrings of a string whose worst cell has `cover` of its area in shadow: the
/// substring's current is that of the cell, lit by `(1 - cover) * G + cover * G_diffuse`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ShadedSubstrings {
    pub count: usize,
    pub cover: f64,
}

/// A resistance across `modules` (unshaded) modules of a string: a line-line short between two
/// points of the string, or a ground fault returning to the grounded negative end.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Shunt {
    pub modules: usize,
    pub resistance_ohm: f64,
}

/// A burning series arc in a string: a roughly current-independent arc-column voltage plus
/// a plasma resistance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SeriesArc {
    pub voltage_v: f64,
    pub resistance_ohm: f64,
}

impl SeriesArc {
    fn voltage_drop_and_slope(&self, current: f64) -> (f64, f64) {
        if current <= 0.0 {
            (0.0, 0.0)
        } else if current < ARC_SUSTAIN_CURRENT_A {
            let drop =
                (self.voltage_v + self.resistance_ohm * current) * current / ARC_SUSTAIN_CURRENT_A;
            let slope =
                (self.voltage_v + 2.0 * self.resistance_ohm * current) / ARC_SUSTAIN_CURRENT_A;
            (drop, slope)
        } else {
            (
                self.voltage_v + self.resistance_ohm * current,
                self.resistance_ohm,
            )
        }
    }
}

/// One string's electrical state.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct StringCircuit {
    /// Disconnected (open-circuit fault): carries no current.
    pub open: bool,
    pub shaded: Vec<ShadedSubstrings>,
    pub shunt: Option<Shunt>,
    pub arc: Option<SeriesArc>,
}

/// The whole array's electrical state: healthy, or one fault configuration.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ArrayCircuit {
    pub wiring: Wiring,
    /// One per string of the wiring.
    pub strings: Vec<StringCircuit>,
}

impl Default for ArrayCircuit {
    fn default() -> Self {
        ArrayCircuit::healthy(Wiring::DEFAULT)
    }
}

impl ArrayCircuit {
    pub fn healthy(wiring: Wiring) -> ArrayCircuit {
        ArrayCircuit {
            wiring,
            strings: vec![StringCircuit::default(); wiring.strings],
        }
    }
}

/// A point of the array's I-V curve.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct OperatingPoint {
    pub voltage: f64,
    pub current: f64,
}

impl OperatingPoint {
    pub fn power(&self) -> f64 {
        self.voltage * self.current
    }
}

/// A substring's voltage and slope with its bypass diode, which clamps reverse bias.
fn bypassed_voltage_and_slope(substring: &DiodeParameters, current: f64) -> (f64, f64) {
    let (voltage, slope) = substring.voltage_and_slope(current);
    let clamp = -(BYPASS_FORWARD_V + BYPASS_ON_RESISTANCE_OHM * current);
    if voltage >= clamp {
        (voltage, slope)
    } else {
        (clamp, -BYPASS_ON_RESISTANCE_OHM)
    }
}

/// A string's single-diode parameters at one set of conditions. Shaded groups that receive
/// full light count as unshaded, so electrically identical strings compare equal.
#[derive(Debug, PartialEq)]
struct StringElectrics {
    unshaded: DiodeParameters,
    /// Unshaded substrings outside the shunted segment.
    free_unshaded: usize,
    shaded: Vec<(usize, DiodeParameters)>,
    /// Unshaded substrings bridged by the shunt, and its resistance.
    shunt: Option<(usize, f64)>,
    arc: Option<SeriesArc>,
}

impl StringElectrics {
    fn new(
        circuit: &StringCircuit,
        wiring: Wiring,
        module: &CecModule,
        conditions: Conditions,
    ) -> StringElectrics {
        let substring_of = |irradiance: f64| {
            module
                .diode_parameters(irradiance, conditions.cell_temp_c)
                .cells_fraction(1.0 / wiring.substrings_per_module as f64)
        };
        let shaded: Vec<(usize, DiodeParameters)> = circuit
            .shaded
            .iter()
            .map(|group| {
                (
                    group.count,
                    1.0 - group.cover * (1.0 - conditions.diffuse_share),
                )
            })
            .filter(|&(_, light)| light < 1.0)
            .map(|(count, light)| (count, substring_of(conditions.irradiance * light)))
            .collect();
        let shunted = circuit
            .shunt
            .map_or(0, |s| s.modules * wiring.substrings_per_module);
        let shaded_count: usize = shaded.iter().map(|(count, _)| count).sum();
        StringElectrics {
            unshaded: substring_of(conditions.irradiance),
            free_unshaded: wiring
                .substrings_per_string()
                .saturating_sub(shunted + shaded_count),
            shaded,
            shunt: circuit.shunt.map(|s| (shunted, s.resistance_ohm)),
            arc: circuit.arc,
        }
    }

    /// String voltage and its slope dV/dI at a string current. `warm` carries the shunted
    /// segment's previous solution along the grid.
    fn voltage_and_slope_at(&self, current: f64, warm: &mut Option<SegmentSolution>) -> (f64, f64) {
        let (v, s) = bypassed_voltage_and_slope(&self.unshaded, current);
        let free = self.free_unshaded as f64;
        let (mut voltage, mut slope) = (free * v, free * s);
        for (count, substring) in &self.shaded {
            let (v, s) = bypassed_voltage_and_slope(substring, current);
            voltage += *count as f64 * v;
            slope += *count as f64 * s;
        }
        if let Some((substrings, resistance)) = self.shunt {
            let solution = self.shunted_segment(substrings, resistance, current, *warm);
            voltage += solution.voltage;
            slope += solution.voltage_slope;
            *warm = Some(solution);
        }
        if let Some(arc) = &self.arc {
            let (v, s) = arc.voltage_drop_and_slope(current);
            voltage -= v;
            slope -= s;
        }
        (voltage, slope)
    }

    /// `substrings` unshaded substrings bridged by `resistance` when `external` amperes pass the
    /// segment: the cells carry `x` with `x - V(x) / R = external`. Newton's method from a
    /// first-order prediction off the previous solution, safeguarded with bisection (the left
    /// side increases with `x`).
    fn shunted_segment(
        &self,
        substrings: usize,
        resistance: f64,
        external: f64,
        previous: Option<SegmentSolution>,
    ) -> SegmentSolution {
        let n = substrings as f64;
        let residual = |x: f64| {
            let (v, slope) = bypassed_voltage_and_slope(&self.unshaded, x);
            (
                x - n * v / resistance - external,
                1.0 - n * slope / resistance,
            )
        };
        // A substring's voltage falls with current and is -IL*Rs at the photocurrent IL, so it is
        // >= -IL*Rs below IL and <= 0 above: these bounds bracket the root.
        let photocurrent = self.unshaded.photocurrent;
        let mut hi = external.max(photocurrent);
        let mut lo = external.min(photocurrent)
            - n * photocurrent * self.unshaded.series_resistance / resistance
            - 1e-9;
        let mut x = match previous {
            Some(p) => p.cells_current + (external - p.external_current) * p.cells_slope,
            None => 0.5 * (lo + hi),
        }
        .clamp(lo, hi);
        for _ in 0..100 {
            let (r, slope) = residual(x);
            if r == 0.0 {
                break;
            }
            if r > 0.0 {
                hi = x;
            } else {
                lo = x;
            }
            let newton = x - r / slope;
            let next = if newton > lo && newton < hi {
                newton
            } else {
                0.5 * (lo + hi)
            };
            let done = (next - x).abs() <= 1e-10 * (1.0 + x.abs());
            x = next;
            if done {
                break;
            }
        }
        let (v, cell_slope) = bypassed_voltage_and_slope(&self.unshaded, x);
        // dx/dI_external = 1 / residual'(x).
        let cells_slope = 1.0 / (1.0 - n * cell_slope / resistance);
        SegmentSolution {
            external_current: external,
            cells_current: x,
            cells_slope,
            voltage: n * v,
            voltage_slope: n * cell_slope * cells_slope,
        }
    }
}

/// A shunted segment's state at one external current.
#[derive(Clone, Copy, Debug)]
struct SegmentSolution {
    external_current: f64,
    /// Current through the cells, and its derivative with respect to the external current.
    cells_current: f64,
    cells_slope: f64,
    /// Segment voltage and dV/dI_external.
    voltage: f64,
    voltage_slope: f64,
}

impl ArrayCircuit {
    /// The array's I-V curve at some conditions.
    pub fn curve(&self, module: &CecModule, conditions: Conditions) -> ArrayCurve {
        let photocurrent = module
            .diode_parameters(conditions.irradiance, conditions.cell_temp_c)
            .photocurrent;
        if !(conditions.irradiance > 0.0 && photocurrent > 0.0) {
            return ArrayCurve::dark();
        }
        let currents = current_grid(photocurrent, self.wiring.strings);
        // Electrically identical strings (the healthy ones, usually) share one table, counted
        // once per string.
        let mut distinct: Vec<(StringElectrics, StringTable, f64)> = Vec::new();
        for string in self.strings.iter().filter(|string| !string.open) {
            let electrics = StringElectrics::new(string, self.wiring, module, conditions);
            if let Some((_, _, count)) = distinct.iter_mut().find(|(seen, _, _)| *seen == electrics)
            {
                *count += 1.0;
                continue;
            }
            let mut warm = None;
            let (voltages, slopes) = currents
                .iter()
                .map(|&current| electrics.voltage_and_slope_at(current, &mut warm))
                .unzip();
            let table = StringTable::new(&currents, voltages, slopes);
            distinct.push((electrics, table, 1.0));
        }
        let strings: Vec<(StringTable, f64)> = distinct
            .into_iter()
            .map(|(_, table, count)| (table, count))
            .collect();
        let max_voltage = strings
            .iter()
            .map(|(table, _)| table.voltages[REVERSE_CURRENT_POINTS])
            .fold(0.0, f64::max);
        ArrayCurve {
            currents,
            strings,
            max_voltage,
        }
    }
}

/// The common current grid: reverse currents down to what the other strings could push into a
/// string, forward currents to just past the photocurrent (where every substring is bypassed).
/// Index `REVERSE_CURRENT_POINTS` is exactly zero.
fn current_grid(photocurrent: f64, strings: usize) -> Vec<f64> {
    // A lone string still gets a reverse span: its table needs points below zero current.
    let reverse_limit = -1.2 * strings.saturating_sub(1).max(1) as f64 * photocurrent;
    let forward_limit = 1.03 * photocurrent;
    let reverse = (0..REVERSE_CURRENT_POINTS)
        .map(|k| reverse_limit * (1.0 - k as f64 / REVERSE_CURRENT_POINTS as f64));
    let forward = (0..=FORWARD_CURRENT_POINTS)
        .map(|k| forward_limit * k as f64 / FORWARD_CURRENT_POINTS as f64);
    reverse.chain(forward).collect()
}

/// One string's voltage (decreasing) and slope dV/dI on the current grid, read between grid
/// points as a monotone cubic Hermite spline: exact single-diode slopes make it accurate to
/// ~1e-5 near the knee, where straight lines would shift the maximum power point.
struct StringTable {
    voltages: Vec<f64>,
    slopes: Vec<f64>,
}

impl StringTable {
    /// Limits the slopes (Fritsch-Carlson) so every interval stays monotone, also across the
    /// kinks where bypass diodes start conducting.
    fn new(currents: &[f64], voltages: Vec<f64>, mut slopes: Vec<f64>) -> StringTable {
        for k in 0..voltages.len() - 1 {
            let secant = (voltages[k + 1] - voltages[k]) / (currents[k + 1] - currents[k]);
            if secant == 0.0 {
                slopes[k] = 0.0;
                slopes[k + 1] = 0.0;
                continue;
            }
            let alpha = (slopes[k] / secant).max(0.0);
            let beta = (slopes[k + 1] / secant).max(0.0);
            let norm = alpha.hypot(beta);
            let scale = if norm > 3.0 { 3.0 / norm } else { 1.0 };
            slopes[k] = scale * alpha * secant;
            slopes[k + 1] = scale * beta * secant;
        }
        StringTable { voltages, slopes }
    }

    /// The string current at a voltage, clamped at the grid ends.
    fn current_at(&self, currents: &[f64], voltage: f64) -> f64 {
        let j = self.voltages.partition_point(|&v| v > voltage);
        if j == 0 {
            return currents[0];
        }
        if j == self.voltages.len() {
            return currents[j - 1];
        }
        let (v0, v1) = (self.voltages[j - 1], self.voltages[j]);
        if v0 == v1 {
            return currents[j];
        }
        let h = currents[j] - currents[j - 1];
        let (m0, m1) = (h * self.slopes[j - 1], h * self.slopes[j]);
        let hermite = |t: f64| {
            let (t2, t3) = (t * t, t * t * t);
            let value = (2.0 * t3 - 3.0 * t2 + 1.0) * v0
                + (t3 - 2.0 * t2 + t) * m0
                + (-2.0 * t3 + 3.0 * t2) * v1
                + (t3 - t2) * m1;
            let derivative = (6.0 * t2 - 6.0 * t) * (v0 - v1)
                + (3.0 * t2 - 4.0 * t + 1.0) * m0
                + (3.0 * t2 - 2.0 * t) * m1;
            (value, derivative)
        };
        // Newton on the decreasing cubic, kept inside a shrinking bracket.
        let (mut lo, mut hi) = (0.0, 1.0);
        let mut t = (v0 - voltage) / (v0 - v1);
        for _ in 0..30 {
            let (value, derivative) = hermite(t);
            if value == voltage {
                break;
            }
            if value > voltage {
                lo = t;
            } else {
                hi = t;
            }
            let mut next = if derivative < 0.0 {
                t - (value - voltage) / derivative
            } else {
                f64::NAN
            };
            if !(next > lo && next < hi) {
                next = 0.5 * (lo + hi);
            }
            let done = (next - t).abs() < 1e-13;
            t = next;
            if done {
                break;
            }
        }
        currents[j - 1] + t * h
    }
}

/// An array I-V curve: the connected strings' tables on a common current grid.
pub(crate) struct ArrayCurve {
    currents: Vec<f64>,
    /// Each distinct string's table and how many strings are like it.
    strings: Vec<(StringTable, f64)>,
    /// Highest string open-circuit voltage: the array's open-circuit voltage is below it.
    max_voltage: f64,
}

impl ArrayCurve {
    fn dark() -> ArrayCurve {
        ArrayCurve {
            currents: Vec::new(),
            strings: Vec::new(),
            max_voltage: 0.0,
        }
    }

    /// Array current at an array voltage: the sum of the strings' currents there.
    pub fn current_at(&self, voltage: f64) -> f64 {
        self.strings
            .iter()
            .map(|(table, count)| count * table.current_at(&self.currents, voltage))
            .sum()
    }

    pub fn power_at(&self, voltage: f64) -> f64 {
        voltage * self.current_at(voltage)
    }

    /// Where the array current crosses zero (bisection; the current decreases with voltage).
    pub fn open_circuit_voltage(&self) -> f64 {
        if self.max_voltage <= 0.0 {
            return 0.0;
        }
        let (mut lo, mut hi) = (0.0, self.max_voltage);
        while hi - lo > 1e-9 * self.max_voltage {
            let mid = 0.5 * (lo + hi);
            if self.current_at(mid) > 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }

    /// Every local maximum of P(V), highest voltage first.
    pub fn peaks(&self) -> Vec<OperatingPoint> {
        if self.max_voltage <= 0.0 {
            return Vec::new();
        }
        let step = self.max_voltage / VOLTAGE_SWEEP_POINTS as f64;
        let powers: Vec<f64> = (0..=VOLTAGE_SWEEP_POINTS)
            .map(|j| self.power_at(j as f64 * step))
            .collect();
        let global = powers.iter().copied().fold(0.0, f64::max);
        let mut peaks: Vec<OperatingPoint> = (1..VOLTAGE_SWEEP_POINTS)
            .filter(|&j| powers[j] > powers[j - 1] && powers[j] >= powers[j + 1])
            .filter(|&j| prominence(&powers, j) >= MIN_PEAK_PROMINENCE * global)
            .map(|j| {
                let lo = (j - 1) as f64 * step;
                let hi = (j + 1) as f64 * step;
                let voltage =
                    golden_section_max(|v| self.power_at(v), lo, hi, 1e-7 * self.max_voltage);
                OperatingPoint {
                    voltage,
                    current: self.current_at(voltage),
                }
            })
            .collect();
        peaks.reverse();
        peaks
    }
}

/// How far a sampled local maximum stands above the higher of the two valleys separating it
/// from higher ground (or the ends of the sweep).
fn prominence(powers: &[f64], peak: usize) -> f64 {
    let height = powers[peak];
    let valley = |indices: &mut dyn Iterator<Item = usize>| {
        let mut lowest = height;
        for k in indices {
            if powers[k] > height {
                break;
            }
            lowest = lowest.min(powers[k]);
        }
        lowest
    };
    let left = valley(&mut (0..peak).rev());
    let right = valley(&mut (peak + 1..powers.len()));
    height - left.max(right)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::{CANADIAN_SOLAR_CS6P_250P, module_point};

    fn conditions(irradiance: f64, cell_temp_c: f64, diffuse_share: f64) -> Conditions {
        Conditions {
            irradiance,
            cell_temp_c,
            diffuse_share,
        }
    }

    fn global_peak(curve: &ArrayCurve) -> OperatingPoint {
        curve
            .peaks()
            .into_iter()
            .max_by(|a, b| a.power().total_cmp(&b.power()))
            .expect("a lit array has a maximum power point")
    }

    #[test]
    fn healthy_array_is_five_modules_by_three_strings() {
        for (g, t) in [(1000.0, 25.0), (200.0, 10.0), (850.0, 60.0), (30.0, 20.0)] {
            let curve =
                ArrayCircuit::default().curve(&CANADIAN_SOLAR_CS6P_250P, conditions(g, t, 0.2));
            let module = module_point(g, t);
            let peaks = curve.peaks();
            assert_eq!(peaks.len(), 1, "healthy array has one peak at G={g} T={t}");
            let mpp = peaks[0];
            let expected_v = Wiring::DEFAULT.modules_per_string as f64 * module.v_mp;
            let expected_i = Wiring::DEFAULT.strings as f64 * module.i_mp;
            assert!(
                (mpp.voltage / expected_v - 1.0).abs() < 1e-4,
                "V {} vs {expected_v}",
                mpp.voltage
            );
            assert!(
                (mpp.current / expected_i - 1.0).abs() < 1e-4,
                "I {} vs {expected_i}",
                mpp.current
            );
            assert!((mpp.power() / (expected_v * expected_i) - 1.0).abs() < 1e-4);
            let voc = curve.open_circuit_voltage();
            assert!(
                (voc / (Wiring::DEFAULT.modules_per_string as f64 * module.v_oc) - 1.0).abs()
                    < 1e-4
            );
            // Short circuit sits within a grid step of the bypass diodes' kink, which the
            // spline smooths: ~0.1% there, irrelevant to maximum power points.
            let isc = curve.current_at(0.0);
            assert!((isc / (Wiring::DEFAULT.strings as f64 * module.i_sc) - 1.0).abs() < 2e-3);
        }
    }

    #[test]
    fn bypass_diode_clamps_reverse_bias_near_minus_half_a_volt() {
        let substring = CANADIAN_SOLAR_CS6P_250P
            .diode_parameters(300.0, 25.0)
            .cells_fraction(1.0 / 3.0);
        let driven = 2.0 * substring.photocurrent;
        assert!(
            substring.voltage_at_current(driven) < -50.0,
            "unprotected cells break down"
        );
        let (clamped, slope) = bypassed_voltage_and_slope(&substring, 8.5);
        assert_eq!(slope, -BYPASS_ON_RESISTANCE_OHM);
        assert!((-0.55..=-0.45).contains(&clamped), "{clamped}");
    }

    #[test]
    fn dark_array_has_no_curve() {
        let curve =
            ArrayCircuit::default().curve(&CANADIAN_SOLAR_CS6P_250P, conditions(0.0, 20.0, 1.0));
        assert!(curve.peaks().is_empty());
        assert_eq!(curve.open_circuit_voltage(), 0.0);
        assert_eq!(curve.current_at(10.0), 0.0);
    }

    #[test]
    fn open_string_removes_a_third_of_the_current() {
        let mut circuit = ArrayCircuit::default();
        circuit.strings[1].open = true;
        let c = conditions(900.0, 45.0, 0.15);
        let faulted = global_peak(&circuit.curve(&CANADIAN_SOLAR_CS6P_250P, c));
        let healthy = global_peak(&ArrayCircuit::default().curve(&CANADIAN_SOLAR_CS6P_250P, c));
        assert!((faulted.current / healthy.current - 2.0 / 3.0).abs() < 1e-3);
        assert!((faulted.voltage / healthy.voltage - 1.0).abs() < 1e-3);
    }

    #[test]
    fn shaded_string_has_two_peaks_and_diffuse_light_removes_them() {
        let mut circuit = ArrayCircuit::default();
        circuit.strings[0].shaded = vec![ShadedSubstrings {
            count: 6,
            cover: 1.0,
        }];
        let clear = circuit.curve(&CANADIAN_SOLAR_CS6P_250P, conditions(1000.0, 40.0, 0.15));
        let peaks = clear.peaks();
        assert!(peaks.len() >= 2, "{peaks:?}");
        assert!(peaks[0].voltage > peaks[1].voltage);
        // Overcast: everything is diffuse, the shadow vanishes.
        let overcast = circuit.curve(&CANADIAN_SOLAR_CS6P_250P, conditions(300.0, 20.0, 1.0));
        assert_eq!(overcast.peaks().len(), 1);
    }

    #[test]
    fn shunt_across_modules_lowers_the_string_voltage() {
        let c = conditions(1000.0, 45.0, 0.15);
        let healthy = global_peak(&ArrayCircuit::default().curve(&CANADIAN_SOLAR_CS6P_250P, c));
        let mut circuit = ArrayCircuit::default();
        circuit.strings[2].shunt = Some(Shunt {
            modules: 2,
            resistance_ohm: 0.05,
        });
        let curve = circuit.curve(&CANADIAN_SOLAR_CS6P_250P, c);
        let faulted = global_peak(&curve);
        assert!(faulted.power() < 0.95 * healthy.power());
        // A bolted short across two modules: the string's open-circuit voltage is ~3/5.
        let voc = curve.open_circuit_voltage();
        assert!(voc < healthy.voltage * 1.3, "array Voc {voc}");
    }

    #[test]
    fn shunted_segment_solution_satisfies_kirchhoff() {
        let module = &CANADIAN_SOLAR_CS6P_250P;
        let c = conditions(700.0, 35.0, 0.2);
        let string = StringCircuit {
            shunt: Some(Shunt {
                modules: 3,
                resistance_ohm: 4.0,
            }),
            ..StringCircuit::default()
        };
        let electrics = StringElectrics::new(&string, Wiring::DEFAULT, module, c);
        for external in [-12.0, -1.0, 0.0, 3.0, 5.5, 6.4] {
            let solution = electrics.shunted_segment(9, 4.0, external, None);
            let cells =
                9.0 * bypassed_voltage_and_slope(&electrics.unshaded, solution.cells_current).0;
            assert!((solution.voltage - cells).abs() < 1e-9);
            let shunt_current = solution.voltage / 4.0;
            assert!(
                (solution.cells_current - shunt_current - external).abs() < 1e-6,
                "KCL at I={external}"
            );
            // The slope the table uses matches a finite difference.
            let h = 1e-3;
            let up = electrics
                .shunted_segment(9, 4.0, external + h, Some(solution))
                .voltage;
            let down = electrics
                .shunted_segment(9, 4.0, external - h, Some(solution))
                .voltage;
            let numeric = (up - down) / (2.0 * h);
            assert!(
                (solution.voltage_slope - numeric).abs() <= 2e-3 * numeric.abs().max(1.0),
                "I={external}: {} vs {numeric}",
                solution.voltage_slope
            );
        }
    }

    #[test]
    fn arc_drop_is_zero_without_forward_current() {
        let arc = SeriesArc {
            voltage_v: 20.0,
            resistance_ohm: 0.5,
        };
        assert_eq!(arc.voltage_drop_and_slope(-1.0), (0.0, 0.0));
        assert_eq!(arc.voltage_drop_and_slope(0.0), (0.0, 0.0));
        assert_eq!(arc.voltage_drop_and_slope(8.0), (24.0, 0.5));
        // Continuous where the arc reaches its sustaining current.
        let below = arc.voltage_drop_and_slope(ARC_SUSTAIN_CURRENT_A - 1e-9).0;
        let above = arc.voltage_drop_and_slope(ARC_SUSTAIN_CURRENT_A + 1e-9).0;
        assert!((below - above).abs() < 1e-6);
    }

    #[test]
    fn inverted_table_is_exact_for_cubics_and_clamps() {
        // V(I) = 10 - I^3 on [0, 2] in two intervals: Hermite with exact slopes is exact.
        let currents = [0.0, 1.0, 2.0];
        let table = StringTable::new(&currents, vec![10.0, 9.0, 2.0], vec![0.0, -3.0, -12.0]);
        for current in [0.2, 0.7, 1.3, 1.9] {
            let voltage = 10.0 - current * current * current;
            let got = table.current_at(&currents, voltage);
            assert!((got - current).abs() < 1e-12, "{got} vs {current}");
        }
        assert_eq!(table.current_at(&currents, 11.0), 0.0);
        assert_eq!(table.current_at(&currents, -5.0), 2.0);
    }

    #[test]
    fn slope_limiting_keeps_intervals_monotone() {
        let currents = [0.0, 1.0, 2.0];
        let table = StringTable::new(&currents, vec![10.0, 9.0, 0.0], vec![-50.0, -50.0, 1.0]);
        assert!(table.slopes.iter().all(|&s| s <= 0.0));
        let mut previous = f64::INFINITY;
        for k in 0..=200 {
            let voltage = 10.0 - k as f64 * 0.05;
            let current = table.current_at(&currents, voltage);
            assert!(current >= previous || previous.is_infinite() || current >= previous - 1e-12);
            previous = current;
        }
    }
}
