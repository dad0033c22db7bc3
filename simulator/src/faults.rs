//! The six classes a reading window can be labelled with, fault events, and how events are
//! scheduled on each device.
//!
//! Each device-day draws one class by the [`ClassMix`](crate::ClassMix); a fault lasts 30 min to
//! 4 h (configurable) inside the part of the day whose clear-sky irradiance reaches 300 W/m2, so
//! it is visible. Fault models (levels in [`crate::catalogue`]; the array is negatively grounded,
//! without blocking diodes or protection devices):
//!
//! Spans below are for the default 5-module strings; longer strings scale them (a fifth, two
//! fifths, three fifths of the string, and so on).
//!
//! - line-line: a short bridging 1-3 modules of one string through 0.05, 0.5 or 2 ohm. The
//!   string's open-circuit voltage drops, healthy strings push reverse current into it, and the
//!   MPPT settles at a markedly lower voltage (-10% to -55%).
//! - line-ground: a leak from a point 1, 2 or 4 modules above the grounded end of a string
//!   through 3-20 ohm; the leak bypasses the modules below it. Its resistance wanders between the
//!   levels during the event (moisture and heating change leakage), so power losses fluctuate.
//! - open circuit: one string disconnected, its share of the current gone at the same voltage
//!   (all of it on a one-string array).
//! - partial shading: one of six shadow patterns (see `SHADING_PATTERNS`); shaded cells keep
//!   only diffuse light, so bypass diodes conduct, the P-V curve has 2-3 peaks and the MPPT may
//!   sit on a local one; the effect fades under clouds, when all light is diffuse.
//! - arc fault: a series arc in one string, burning intermittently (mean 40 s on, 60 s off) at
//!   10-28 V arc voltage plus 0.2-0.6 ohm. Real arcs are kHz-MHz phenomena invisible at 20-s
//!   sampling; only their low-frequency side effects are simulated: the lost voltage while
//!   burning and noise bursts (2% on voltage and current, from the arc's erratic voltage and the
//!   MPPT hunting).

use crate::array::Wiring;
use crate::catalogue::{
    CircuitKey, LINE_GROUND_RESISTANCES_OHM, LINE_GROUND_SHARES, LINE_LINE_RESISTANCES_OHM,
    LINE_LINE_SHARES, SHADING_PATTERNS, bridged_modules,
};
use crate::config::{FaultTiming, PlantConfig};
use rand::Rng;
use std::fmt;

/// What is wrong with an array (the CNN's classes; codes are fixed).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultClass {
    Normal = 0,
    LineLine = 1,
    LineGround = 2,
    OpenCircuit = 3,
    PartialShading = 4,
    ArcFault = 5,
}

impl FaultClass {
    /// Every class, in code order.
    pub const ALL: [FaultClass; 6] = [
        FaultClass::Normal,
        FaultClass::LineLine,
        FaultClass::LineGround,
        FaultClass::OpenCircuit,
        FaultClass::PartialShading,
        FaultClass::ArcFault,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn label(self) -> &'static str {
        match self {
            FaultClass::Normal => "normal",
            FaultClass::LineLine => "line_line",
            FaultClass::LineGround => "line_ground",
            FaultClass::OpenCircuit => "open_circuit",
            FaultClass::PartialShading => "partial_shading",
            FaultClass::ArcFault => "arc_fault",
        }
    }

    /// The class with a code, if any.
    pub fn from_code(code: u8) -> Option<FaultClass> {
        FaultClass::ALL.get(usize::from(code)).copied()
    }
}

impl fmt::Display for FaultClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Where a fault sits and how severe it is. Strings and modules count from 0; modules from the
/// string's grounded negative end.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaultParameters {
    /// A short bridging `modules` modules of a string from `first_module` on.
    LineLine {
        string: u8,
        first_module: u8,
        modules: u8,
        resistance_ohm: f64,
    },
    /// A leak to ground `modules_above_ground` modules above the string's grounded end; its
    /// resistance wanders between 3, 8 and 20 ohm during the event (moisture, heating).
    LineGround {
        string: u8,
        modules_above_ground: u8,
        initial_resistance_ohm: f64,
    },
    /// A string disconnected (blown fuse, broken connector).
    OpenCircuit { string: u8 },
    /// A shadow, one of a fixed set of patterns.
    PartialShading { pattern: &'static str },
    /// A series arc (loose or corroded connector) in a string, burning intermittently.
    ArcFault { string: u8 },
}

/// One fault on one device: active from `onset_ms` (inclusive) to `end_ms` (exclusive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaultEvent {
    pub device: usize,
    pub class: FaultClass,
    pub onset_ms: i64,
    pub end_ms: i64,
    pub parameters: FaultParameters,
}

/// How a scheduled fault changes the array's circuit over time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum FaultCircuit {
    /// The same configuration throughout.
    Fixed(CircuitKey),
    /// A ground leak whose resistance level wanders (see [`crate::plant`]).
    WanderingLeak {
        modules: usize,
        initial_resistance: usize,
    },
    /// An arc that ignites and extinguishes, at a random level each time.
    IntermittentArc,
}

/// The window of a day in which faults are placed (ms, end exclusive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct BrightWindow {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl BrightWindow {
    /// An event's onset and duration (ms) on the reading grid inside this window, from two
    /// uniform draws: its length between `timing`'s bounds (cut to the window), then where.
    pub fn place(
        &self,
        timing: &FaultTiming,
        interval_ms: i64,
        duration_draw: f64,
        onset_draw: f64,
    ) -> (i64, i64) {
        let window_ms = self.end_ms - self.start_ms;
        let min_ms = i64::from(timing.min_duration_s) * 1000;
        let max_ms = i64::from(timing.max_duration_s) * 1000;
        let drawn = min_ms + ((max_ms - min_ms) as f64 * duration_draw) as i64;
        let duration_ms = round_to(drawn.min(window_ms), interval_ms).max(interval_ms);
        let slack = (window_ms - duration_ms).max(0);
        let onset_ms = self.start_ms + round_to((slack as f64 * onset_draw) as i64, interval_ms);
        (onset_ms, duration_ms)
    }
}

/// Draws the faults of one device wired so: per day, a class by the class mix, then time and
/// parameters. Uses only the device's own random stream, so a device's faults do not depend on
/// how many devices the plant has.
pub(crate) fn schedule_device(
    config: &PlantConfig,
    wiring: Wiring,
    device: usize,
    bright_windows: &[Option<BrightWindow>],
    rng: &mut impl Rng,
) -> Vec<(FaultEvent, FaultCircuit)> {
    let interval_ms = config.interval_ms();
    let mut faults = Vec::new();
    for window in bright_windows {
        // Draw the same numbers whether or not the day gets a fault, so one day's outcome does
        // not shift the next day's.
        let class_draw: f64 = rng.random();
        let duration_draw: f64 = rng.random();
        let onset_draw: f64 = rng.random();
        let parameter_draws: [u32; 4] = rng.random();
        let class = pick_class(config, class_draw);
        let Some(window) = window else { continue };
        if class == FaultClass::Normal {
            continue;
        }
        let (onset_ms, duration_ms) =
            window.place(&config.fault_timing, interval_ms, duration_draw, onset_draw);
        let (parameters, circuit) = draw_parameters(class, wiring, parameter_draws);
        faults.push((
            FaultEvent {
                device,
                class,
                onset_ms,
                end_ms: onset_ms + duration_ms,
                parameters,
            },
            circuit,
        ));
    }
    faults
}

fn round_to(value: i64, step: i64) -> i64 {
    value.div_euclid(step) * step
}

fn pick_class(config: &PlantConfig, draw: f64) -> FaultClass {
    let mut cumulative = 0.0;
    for class in &FaultClass::ALL[1..] {
        cumulative += config.class_mix.fraction(*class);
        if draw < cumulative {
            return *class;
        }
    }
    FaultClass::Normal
}

/// Uniform choice among `n` options from a 32-bit draw.
fn choose(draw: u32, n: usize) -> usize {
    ((u64::from(draw) * n as u64) >> 32) as usize
}

fn draw_parameters(
    class: FaultClass,
    wiring: Wiring,
    draws: [u32; 4],
) -> (FaultParameters, FaultCircuit) {
    // Designs hold at most 12 strings of 40 modules (ArrayDesign::validate).
    let small = |n: usize| u8::try_from(n).unwrap_or(u8::MAX);
    let string = small(choose(draws[0], wiring.strings));
    let per_string = wiring.modules_per_string;
    match class {
        FaultClass::LineLine => {
            let modules = choose(draws[1], LINE_LINE_SHARES.len());
            let resistance = choose(draws[2], LINE_LINE_RESISTANCES_OHM.len());
            let bridged = bridged_modules(LINE_LINE_SHARES[modules], per_string);
            let first_module = small(choose(draws[3], per_string - bridged + 1));
            (
                FaultParameters::LineLine {
                    string,
                    first_module,
                    modules: small(bridged),
                    resistance_ohm: LINE_LINE_RESISTANCES_OHM[resistance],
                },
                FaultCircuit::Fixed(CircuitKey::LineLine {
                    modules,
                    resistance,
                }),
            )
        }
        FaultClass::LineGround => {
            let modules = choose(draws[1], LINE_GROUND_SHARES.len());
            let resistance = choose(draws[2], LINE_GROUND_RESISTANCES_OHM.len());
            (
                FaultParameters::LineGround {
                    string,
                    modules_above_ground: small(bridged_modules(
                        LINE_GROUND_SHARES[modules],
                        per_string,
                    )),
                    initial_resistance_ohm: LINE_GROUND_RESISTANCES_OHM[resistance],
                },
                FaultCircuit::WanderingLeak {
                    modules,
                    initial_resistance: resistance,
                },
            )
        }
        FaultClass::OpenCircuit => (
            FaultParameters::OpenCircuit { string },
            FaultCircuit::Fixed(CircuitKey::OpenCircuit),
        ),
        FaultClass::PartialShading => {
            let pattern = choose(draws[1], SHADING_PATTERNS.len());
            (
                FaultParameters::PartialShading {
                    pattern: SHADING_PATTERNS[pattern].name,
                },
                FaultCircuit::Fixed(CircuitKey::PartialShading { pattern }),
            )
        }
        FaultClass::ArcFault | FaultClass::Normal => (
            FaultParameters::ArcFault { string },
            FaultCircuit::IntermittentArc,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn codes_and_labels_are_fixed() {
        let expected = [
            (0, "normal"),
            (1, "line_line"),
            (2, "line_ground"),
            (3, "open_circuit"),
            (4, "partial_shading"),
            (5, "arc_fault"),
        ];
        for (class, (code, label)) in FaultClass::ALL.iter().zip(expected) {
            assert_eq!(class.code(), code);
            assert_eq!(class.label(), label);
            assert_eq!(class.to_string(), label);
            assert_eq!(FaultClass::from_code(code), Some(*class));
        }
        assert_eq!(FaultClass::from_code(6), None);
    }

    #[test]
    fn choose_is_uniform_and_in_range() {
        assert_eq!(choose(0, 3), 0);
        assert_eq!(choose(u32::MAX, 3), 2);
        assert_eq!(choose(u32::MAX / 2, 2), 0);
        assert_eq!(choose(u32::MAX / 2 + 1, 2), 1);
    }

    #[test]
    fn faults_fit_their_bright_window_on_the_grid() {
        let mut config = PlantConfig::default();
        config.class_mix.line_line = 0.5;
        config.class_mix.arc_fault = 0.5;
        config.class_mix.line_ground = 0.0;
        config.class_mix.open_circuit = 0.0;
        config.class_mix.partial_shading = 0.0;
        let day = 86_400_000;
        let windows: Vec<Option<BrightWindow>> = (0..200)
            .map(|d| {
                (d % 5 != 0).then_some(BrightWindow {
                    start_ms: config.start_ms + d * day + 7 * 3_600_000,
                    end_ms: config.start_ms + d * day + 17 * 3_600_000,
                })
            })
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let faults = schedule_device(&config, Wiring::DEFAULT, 3, &windows, &mut rng);
        assert_eq!(faults.len(), 160, "every bright day gets a fault");
        for (event, circuit) in &faults {
            let day_index = (event.onset_ms - config.start_ms) / day;
            let window = windows[day_index as usize].expect("faults only on bright days");
            assert!(event.onset_ms >= window.start_ms && event.end_ms <= window.end_ms);
            assert_eq!(event.onset_ms % 20_000, 0);
            let duration = event.end_ms - event.onset_ms;
            assert!(
                (1_800_000..=4 * 3_600_000).contains(&duration),
                "{duration}"
            );
            assert_eq!(event.device, 3);
            match (event.class, circuit) {
                (FaultClass::LineLine, FaultCircuit::Fixed(CircuitKey::LineLine { .. })) => {}
                (FaultClass::ArcFault, FaultCircuit::IntermittentArc) => {}
                other => panic!("unexpected {other:?}"),
            }
            if let FaultParameters::LineLine {
                first_module,
                modules,
                ..
            } = event.parameters
            {
                assert!(usize::from(first_module + modules) <= Wiring::DEFAULT.modules_per_string);
            }
        }
    }

    #[test]
    fn class_mix_sets_the_share_of_device_days() {
        let config = PlantConfig::default();
        let window = Some(BrightWindow {
            start_ms: config.start_ms,
            end_ms: config.start_ms + 36_000_000,
        });
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let faults = schedule_device(&config, Wiring::DEFAULT, 0, &vec![window; 5000], &mut rng);
        for class in &FaultClass::ALL[1..] {
            let share = faults.iter().filter(|(e, _)| e.class == *class).count() as f64 / 5000.0;
            assert!((share - 0.1).abs() < 0.02, "{class}: {share}");
        }
    }
}
