//! The finite set of electrical configurations that faults put an array in. Fault parameters
//! are drawn from these levels (not from a continuum) so that each configuration's operating
//! points can be precomputed once per plant and shared by every device (see
//! [`crate::operating_table`]).

use crate::array::{ArrayCircuit, SeriesArc, ShadedSubstrings, Shunt, StringCircuit};

/// Line-line faults: a low-impedance short between two points of one string bridging this many
/// modules (1..=3) ...
pub(crate) const LINE_LINE_MODULES: [usize; 3] = [1, 2, 3];
/// ... through this resistance (ohm): from a bolted short to a resistive contact.
pub(crate) const LINE_LINE_RESISTANCES_OHM: [f64; 3] = [0.05, 0.5, 2.0];

/// Line-ground faults on a negatively grounded array: the fault point sits this many modules
/// above the grounded negative end of its string ...
pub(crate) const LINE_GROUND_MODULES: [usize; 3] = [1, 2, 4];
/// ... and leaks to ground through this resistance (ohm): damaged insulation, wet or burnt,
/// so higher than a line-line short; the ground path returns the leak to the negative end.
pub(crate) const LINE_GROUND_RESISTANCES_OHM: [f64; 3] = [3.0, 8.0, 20.0];

/// Burning series-arc levels: arc-column voltage (DC arcs at a few amperes across millimetre
/// gaps sustain roughly 10-30 V) and plasma resistance.
pub(crate) const ARC_LEVELS: [SeriesArc; 3] = [
    SeriesArc {
        voltage_v: 10.0,
        resistance_ohm: 0.2,
    },
    SeriesArc {
        voltage_v: 18.0,
        resistance_ohm: 0.4,
    },
    SeriesArc {
        voltage_v: 28.0,
        resistance_ohm: 0.6,
    },
];

/// A shadow on the array: per string, groups of shaded substrings (the rest are lit).
pub(crate) struct ShadingPattern {
    pub name: &'static str,
    pub strings: [&'static [ShadedSubstrings]; 3],
}

const fn shaded(count: usize, cover: f64) -> ShadedSubstrings {
    ShadedSubstrings { count, cover }
}

/// Shadows from fixed obstacles (poles, vents, trees, a neighbouring row) and debris; under clear
/// sky each puts bypass diodes into conduction and gives the P-V curve two or three peaks, the
/// global one not always the highest-voltage one.
pub(crate) const SHADING_PATTERNS: [ShadingPattern; 6] = [
    ShadingPattern {
        name: "soft shadow over one module of one string",
        strings: [&[shaded(3, 0.6)], &[], &[]],
    },
    ShadingPattern {
        name: "pole shadow across two modules of one string",
        strings: [&[shaded(2, 1.0), shaded(2, 0.5)], &[], &[]],
    },
    ShadingPattern {
        name: "debris on one cell in every string",
        strings: [&[shaded(1, 0.7)], &[shaded(1, 0.7)], &[shaded(1, 0.7)]],
    },
    ShadingPattern {
        name: "neighbouring row shading the bottom module of every string",
        strings: [&[shaded(3, 0.6)], &[shaded(3, 0.6)], &[shaded(3, 0.6)]],
    },
    ShadingPattern {
        name: "tree shadow over half a string and part of another",
        strings: [&[shaded(8, 0.8)], &[shaded(3, 0.4)], &[]],
    },
    ShadingPattern {
        name: "chimney shadow of unequal depth on two strings",
        strings: [&[shaded(6, 1.0)], &[shaded(2, 0.9)], &[]],
    },
];

/// One catalogued electrical configuration. The string a fault hits does not matter
/// electrically (the strings are identical and parallel), so it is not part of the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum CircuitKey {
    Healthy,
    /// Indices into [`LINE_LINE_MODULES`] and [`LINE_LINE_RESISTANCES_OHM`].
    LineLine {
        modules: usize,
        resistance: usize,
    },
    /// Indices into [`LINE_GROUND_MODULES`] and [`LINE_GROUND_RESISTANCES_OHM`].
    LineGround {
        modules: usize,
        resistance: usize,
    },
    OpenCircuit,
    /// Index into [`SHADING_PATTERNS`].
    PartialShading {
        pattern: usize,
    },
    /// Index into [`ARC_LEVELS`].
    Arc {
        level: usize,
    },
}

const LINE_LINE_COUNT: usize = LINE_LINE_MODULES.len() * LINE_LINE_RESISTANCES_OHM.len();
const LINE_GROUND_COUNT: usize = LINE_GROUND_MODULES.len() * LINE_GROUND_RESISTANCES_OHM.len();
const LINE_LINE_FIRST: usize = 1;
const LINE_GROUND_FIRST: usize = LINE_LINE_FIRST + LINE_LINE_COUNT;
const OPEN_CIRCUIT_INDEX: usize = LINE_GROUND_FIRST + LINE_GROUND_COUNT;
const SHADING_FIRST: usize = OPEN_CIRCUIT_INDEX + 1;
const ARC_FIRST: usize = SHADING_FIRST + SHADING_PATTERNS.len();

impl CircuitKey {
    /// How many configurations the catalogue holds.
    pub const COUNT: usize = ARC_FIRST + ARC_LEVELS.len();

    /// A dense index in `0..COUNT`, for per-plant tables of precomputed configurations.
    pub fn index(self) -> usize {
        match self {
            CircuitKey::Healthy => 0,
            CircuitKey::LineLine {
                modules,
                resistance,
            } => LINE_LINE_FIRST + modules * LINE_LINE_RESISTANCES_OHM.len() + resistance,
            CircuitKey::LineGround {
                modules,
                resistance,
            } => LINE_GROUND_FIRST + modules * LINE_GROUND_RESISTANCES_OHM.len() + resistance,
            CircuitKey::OpenCircuit => OPEN_CIRCUIT_INDEX,
            CircuitKey::PartialShading { pattern } => SHADING_FIRST + pattern,
            CircuitKey::Arc { level } => ARC_FIRST + level,
        }
    }

    /// Whether the configuration depends on the diffuse share of the light (shadows do).
    pub fn is_shaded(self) -> bool {
        matches!(self, CircuitKey::PartialShading { .. })
    }

    /// The array circuit; the fault sits on the first string.
    pub fn circuit(self) -> ArrayCircuit {
        let mut circuit = ArrayCircuit::default();
        let first = &mut circuit.strings[0];
        match self {
            CircuitKey::Healthy => {}
            CircuitKey::LineLine {
                modules,
                resistance,
            } => {
                first.shunt = Some(Shunt {
                    modules: LINE_LINE_MODULES[modules],
                    resistance_ohm: LINE_LINE_RESISTANCES_OHM[resistance],
                });
            }
            CircuitKey::LineGround {
                modules,
                resistance,
            } => {
                first.shunt = Some(Shunt {
                    modules: LINE_GROUND_MODULES[modules],
                    resistance_ohm: LINE_GROUND_RESISTANCES_OHM[resistance],
                });
            }
            CircuitKey::OpenCircuit => first.open = true,
            CircuitKey::PartialShading { pattern } => {
                for (string, groups) in circuit
                    .strings
                    .iter_mut()
                    .zip(SHADING_PATTERNS[pattern].strings)
                {
                    *string = StringCircuit {
                        shaded: groups.to_vec(),
                        ..StringCircuit::default()
                    };
                }
            }
            CircuitKey::Arc { level } => first.arc = Some(ARC_LEVELS[level]),
        }
        circuit
    }

    /// Every catalogued configuration, in index order.
    #[cfg(test)]
    pub fn all() -> Vec<CircuitKey> {
        let mut keys = vec![CircuitKey::Healthy];
        for modules in 0..LINE_LINE_MODULES.len() {
            for resistance in 0..LINE_LINE_RESISTANCES_OHM.len() {
                keys.push(CircuitKey::LineLine {
                    modules,
                    resistance,
                });
            }
        }
        for modules in 0..LINE_GROUND_MODULES.len() {
            for resistance in 0..LINE_GROUND_RESISTANCES_OHM.len() {
                keys.push(CircuitKey::LineGround {
                    modules,
                    resistance,
                });
            }
        }
        keys.push(CircuitKey::OpenCircuit);
        keys.extend(
            (0..SHADING_PATTERNS.len()).map(|pattern| CircuitKey::PartialShading { pattern }),
        );
        keys.extend((0..ARC_LEVELS.len()).map(|level| CircuitKey::Arc { level }));
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::{Conditions, SUBSTRINGS_PER_STRING};
    use crate::module::CANADIAN_SOLAR_CS6P_250P;

    #[test]
    fn index_is_a_bijection_onto_the_catalogue() {
        let keys = CircuitKey::all();
        assert_eq!(keys.len(), CircuitKey::COUNT);
        for (position, key) in keys.iter().enumerate() {
            assert_eq!(key.index(), position, "{key:?}");
        }
    }

    #[test]
    fn shading_patterns_fit_their_strings() {
        for pattern in &SHADING_PATTERNS {
            for groups in pattern.strings {
                let shaded: usize = groups.iter().map(|g| g.count).sum();
                assert!(shaded <= SUBSTRINGS_PER_STRING, "{}", pattern.name);
                assert!(groups.iter().all(|g| g.cover > 0.0 && g.cover <= 1.0));
            }
        }
    }

    /// Under clear sky (15% diffuse) every shading pattern makes the array's P-V curve
    /// multi-peaked.
    #[test]
    fn every_shading_pattern_gives_several_power_peaks() {
        for (pattern, shading) in SHADING_PATTERNS.iter().enumerate() {
            let circuit = CircuitKey::PartialShading { pattern }.circuit();
            for (irradiance, cell_temp_c) in [(1000.0, 50.0), (600.0, 30.0)] {
                let conditions = Conditions {
                    irradiance,
                    cell_temp_c,
                    diffuse_share: 0.15,
                };
                let peaks = circuit.curve(&CANADIAN_SOLAR_CS6P_250P, conditions).peaks();
                assert!(
                    peaks.len() >= 2,
                    "{}: {} peak(s) at G={irradiance}",
                    shading.name,
                    peaks.len()
                );
            }
        }
    }
}
