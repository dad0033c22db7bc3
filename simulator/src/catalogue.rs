//! The finite set of electrical configurations that faults put an array in. Fault parameters
//! are drawn from these levels (not from a continuum) so that each configuration's operating
//! points can be precomputed once per array design and shared by every device of it (see
//! [`crate::operating_table`]). Where a level depends on the array's size it is given for the
//! default 5 x 3 array and scaled to others (see [`bridged_modules`], [`ShadingPattern`]).

use crate::array::{ArrayCircuit, SeriesArc, ShadedSubstrings, Shunt, StringCircuit, Wiring};

/// Line-line faults: a low-impedance short between two points of one string bridging this share
/// of its modules (1, 2 or 3 of 5) ...
pub(crate) const LINE_LINE_SHARES: [f64; 3] = [0.2, 0.4, 0.6];
/// ... through this resistance (ohm): from a bolted short to a resistive contact.
pub(crate) const LINE_LINE_RESISTANCES_OHM: [f64; 3] = [0.05, 0.5, 2.0];

/// Line-ground faults on a negatively grounded array: the fault point sits this share of the
/// string's modules (1, 2 or 4 of 5) above the grounded negative end of its string ...
pub(crate) const LINE_GROUND_SHARES: [f64; 3] = [0.2, 0.4, 0.8];
/// ... and leaks to ground through this resistance (ohm): damaged insulation, wet or burnt,
/// so higher than a line-line short; the ground path returns the leak to the negative end.
pub(crate) const LINE_GROUND_RESISTANCES_OHM: [f64; 3] = [3.0, 8.0, 20.0];

/// The modules a fault spanning `share` of a string bridges: at least one, at most all.
pub(crate) fn bridged_modules(share: f64, modules_per_string: usize) -> usize {
    ((share * modules_per_string as f64).round() as usize).clamp(1, modules_per_string.max(1))
}

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

/// A shadow on the array: per string, groups of shaded substrings (the rest are lit), counted
/// for the default string of 5 modules of 3 substrings. Other strings get shadows of the same
/// share of their substrings (so a fault class stays as visible on a long string; at least one
/// substring); an array with fewer strings than the pattern loses the rest of it, and a pattern
/// `on_every_string` repeats over every string.
pub(crate) struct ShadingPattern {
    pub name: &'static str,
    pub strings: &'static [&'static [ShadedSubstrings]],
    pub on_every_string: bool,
}

impl ShadingPattern {
    /// The shaded groups of each string of an array wired so.
    fn on(&self, wiring: Wiring) -> Vec<Vec<ShadedSubstrings>> {
        let total = wiring.substrings_per_string();
        let fit = |groups: &[ShadedSubstrings]| {
            let mut left = total;
            groups
                .iter()
                .map(|group| {
                    let share = group.count as f64 / DEFAULT_SUBSTRINGS_PER_STRING;
                    let count = ((share * total as f64).round() as usize).max(1).min(left);
                    left -= count;
                    ShadedSubstrings { count, ..*group }
                })
                .filter(|group| group.count > 0)
                .collect::<Vec<_>>()
        };
        (0..wiring.strings)
            .map(
                |string| match (self.on_every_string, self.strings.get(string)) {
                    (true, _) => fit(self.strings[0]),
                    (false, Some(groups)) => fit(groups),
                    (false, None) => Vec::new(),
                },
            )
            .collect()
    }
}

const DEFAULT_SUBSTRINGS_PER_STRING: f64 = 15.0;

const fn shaded(count: usize, cover: f64) -> ShadedSubstrings {
    ShadedSubstrings { count, cover }
}

/// Shadows from fixed obstacles (poles, vents, trees, a neighbouring row) and debris; under clear
/// sky each puts bypass diodes into conduction and gives the P-V curve two or three peaks, the
/// global one not always the highest-voltage one.
pub(crate) const SHADING_PATTERNS: [ShadingPattern; 6] = [
    ShadingPattern {
        name: "soft shadow over one module of one string",
        strings: &[&[shaded(3, 0.6)]],
        on_every_string: false,
    },
    ShadingPattern {
        name: "pole shadow across two modules of one string",
        strings: &[&[shaded(2, 1.0), shaded(2, 0.5)]],
        on_every_string: false,
    },
    ShadingPattern {
        name: "debris on one cell in every string",
        strings: &[&[shaded(1, 0.7)]],
        on_every_string: true,
    },
    ShadingPattern {
        name: "neighbouring row shading the bottom module of every string",
        strings: &[&[shaded(3, 0.6)]],
        on_every_string: true,
    },
    ShadingPattern {
        name: "tree shadow over half a string and part of another",
        strings: &[&[shaded(8, 0.8)], &[shaded(3, 0.4)]],
        on_every_string: false,
    },
    ShadingPattern {
        name: "chimney shadow of unequal depth on two strings",
        strings: &[&[shaded(6, 1.0)], &[shaded(2, 0.9)]],
        on_every_string: false,
    },
];

/// One catalogued electrical configuration of an array. The string a fault hits does not
/// matter electrically (the strings are identical and parallel), so it is not part of the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum CircuitKey {
    Healthy,
    /// Indices into [`LINE_LINE_SHARES`] and [`LINE_LINE_RESISTANCES_OHM`].
    LineLine {
        modules: usize,
        resistance: usize,
    },
    /// Indices into [`LINE_GROUND_SHARES`] and [`LINE_GROUND_RESISTANCES_OHM`].
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

const LINE_LINE_COUNT: usize = LINE_LINE_SHARES.len() * LINE_LINE_RESISTANCES_OHM.len();
const LINE_GROUND_COUNT: usize = LINE_GROUND_SHARES.len() * LINE_GROUND_RESISTANCES_OHM.len();
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

    /// The circuit of an array wired so; the fault sits on the first string.
    pub fn circuit(self, wiring: Wiring) -> ArrayCircuit {
        let mut circuit = ArrayCircuit::healthy(wiring);
        let modules = wiring.modules_per_string;
        let Some(first) = circuit.strings.first_mut() else {
            return circuit;
        };
        match self {
            CircuitKey::Healthy => {}
            CircuitKey::LineLine {
                modules: share,
                resistance,
            } => {
                first.shunt = Some(Shunt {
                    modules: bridged_modules(LINE_LINE_SHARES[share], modules),
                    resistance_ohm: LINE_LINE_RESISTANCES_OHM[resistance],
                });
            }
            CircuitKey::LineGround {
                modules: share,
                resistance,
            } => {
                first.shunt = Some(Shunt {
                    modules: bridged_modules(LINE_GROUND_SHARES[share], modules),
                    resistance_ohm: LINE_GROUND_RESISTANCES_OHM[resistance],
                });
            }
            CircuitKey::OpenCircuit => first.open = true,
            CircuitKey::PartialShading { pattern } => {
                for (string, shaded) in circuit
                    .strings
                    .iter_mut()
                    .zip(SHADING_PATTERNS[pattern].on(wiring))
                {
                    *string = StringCircuit {
                        shaded,
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
        for modules in 0..LINE_LINE_SHARES.len() {
            for resistance in 0..LINE_LINE_RESISTANCES_OHM.len() {
                keys.push(CircuitKey::LineLine {
                    modules,
                    resistance,
                });
            }
        }
        for modules in 0..LINE_GROUND_SHARES.len() {
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
    use crate::array::Conditions;
    use crate::module::CANADIAN_SOLAR_CS6P_250P;

    const WIRINGS: [Wiring; 4] = [
        Wiring::DEFAULT,
        Wiring {
            modules_per_string: 1,
            strings: 1,
            substrings_per_module: 3,
        },
        Wiring {
            modules_per_string: 30,
            strings: 4,
            substrings_per_module: 3,
        },
        Wiring {
            modules_per_string: 8,
            strings: 2,
            substrings_per_module: 1,
        },
    ];

    #[test]
    fn index_is_a_bijection_onto_the_catalogue() {
        let keys = CircuitKey::all();
        assert_eq!(keys.len(), CircuitKey::COUNT);
        for (position, key) in keys.iter().enumerate() {
            assert_eq!(key.index(), position, "{key:?}");
        }
    }

    #[test]
    fn shading_patterns_fit_every_wiring() {
        for wiring in WIRINGS {
            for pattern in &SHADING_PATTERNS {
                let strings = pattern.on(wiring);
                assert_eq!(strings.len(), wiring.strings, "{}", pattern.name);
                for groups in strings {
                    let shaded: usize = groups.iter().map(|g| g.count).sum();
                    assert!(shaded <= wiring.substrings_per_string(), "{}", pattern.name);
                    assert!(groups.iter().all(|g| g.cover > 0.0 && g.cover <= 1.0));
                }
            }
        }
        // The default array keeps the patterns as written.
        let tree = SHADING_PATTERNS[4].on(Wiring::DEFAULT);
        assert_eq!(tree[0][0].count, 8);
        assert_eq!(tree[1][0].count, 3);
        assert!(tree[2].is_empty());
        assert_eq!(SHADING_PATTERNS[2].on(Wiring::DEFAULT)[2][0].count, 1);
    }

    #[test]
    fn fault_spans_scale_with_the_string() {
        let spans = |shares: [f64; 3], n| shares.map(|share| bridged_modules(share, n));
        assert_eq!(spans(LINE_LINE_SHARES, 5), [1, 2, 3]);
        assert_eq!(spans(LINE_GROUND_SHARES, 5), [1, 2, 4]);
        assert_eq!(spans(LINE_LINE_SHARES, 30), [6, 12, 18]);
        assert_eq!(spans(LINE_GROUND_SHARES, 1), [1, 1, 1]);
        for wiring in WIRINGS {
            for key in CircuitKey::all() {
                let circuit = key.circuit(wiring);
                assert_eq!(circuit.strings.len(), wiring.strings);
                let shunted = circuit.strings[0].shunt.map_or(0, |s| s.modules);
                assert!(shunted <= wiring.modules_per_string, "{key:?}");
            }
        }
    }

    /// Under clear sky (15% diffuse) every shading pattern makes the array's P-V curve
    /// multi-peaked.
    #[test]
    fn every_shading_pattern_gives_several_power_peaks() {
        let long_strings = Wiring {
            strings: 3,
            ..WIRINGS[2]
        };
        for (pattern, shading) in SHADING_PATTERNS.iter().enumerate() {
            for wiring in [Wiring::DEFAULT, long_strings] {
                let circuit = CircuitKey::PartialShading { pattern }.circuit(wiring);
                for (irradiance, cell_temp_c) in [(1000.0, 50.0), (600.0, 30.0)] {
                    let conditions = Conditions {
                        irradiance,
                        cell_temp_c,
                        diffuse_share: 0.15,
                    };
                    let peaks = circuit.curve(&CANADIAN_SOLAR_CS6P_250P, conditions).peaks();
                    assert!(
                        peaks.len() >= 2,
                        "{} on {wiring:?}: {} peak(s) at G={irradiance}",
                        shading.name,
                        peaks.len()
                    );
                }
            }
        }
    }

    /// Why no window classifier can always tell a shadow from a short on a one-string array
    /// (models/README.md): under clear sky a shadow's bypassed substrings drop the same share of
    /// the string's voltage as a bolted short over as many modules, at the same current. Of the
    /// six patterns, the soft shadow and the neighbouring row's shadow land within 1 % of a
    /// short of a fifth of the string, the chimney's within 2 % of one of two fifths, at every
    /// string length. Only diffuse light tells them apart: the shadow fades, the short stays.
    #[test]
    fn on_one_string_a_shadow_and_a_short_share_a_maximum_power_point() {
        let peak = |key: CircuitKey, wiring, conditions| {
            let curve = key
                .circuit(wiring)
                .curve(&CANADIAN_SOLAR_CS6P_250P, conditions);
            let best = curve
                .peaks()
                .into_iter()
                .max_by(|a, b| a.power().total_cmp(&b.power()))
                .expect("a lit array has a maximum power point");
            (best.voltage, best.current)
        };
        let short = |modules| CircuitKey::LineLine {
            modules,
            resistance: 0,
        };
        let twins = [(0, short(0)), (3, short(0)), (5, short(1))];
        for modules_per_string in [5, 10, 20, 30] {
            let wiring = Wiring {
                modules_per_string,
                strings: 1,
                substrings_per_module: 3,
            };
            for diffuse_share in [0.15, 0.5, 0.95] {
                let conditions = Conditions {
                    irradiance: 900.0 - 600.0 * diffuse_share,
                    cell_temp_c: 40.0,
                    diffuse_share,
                };
                let (v0, i0) = peak(CircuitKey::Healthy, wiring, conditions);
                for (pattern, twin) in twins {
                    let (v, i) = peak(CircuitKey::PartialShading { pattern }, wiring, conditions);
                    let (v2, i2) = peak(twin, wiring, conditions);
                    let apart = ((v - v2) / v0).abs().max(((i - i2) / i0).abs());
                    let what = format!(
                        "pattern {pattern}, {modules_per_string} modules, diffuse {diffuse_share}"
                    );
                    if diffuse_share < 0.9 {
                        assert!(apart < 0.02, "{what}: {apart:.3} apart");
                    } else {
                        assert!(
                            apart > 0.1,
                            "{what}: the shadow should fade ({apart:.3} apart)"
                        );
                    }
                }
            }
        }
    }
}
