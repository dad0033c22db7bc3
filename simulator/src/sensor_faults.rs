//! Sensor failures: the array is healthy, its readings are not. Each device-day gets one with
//! probability [`SensorConfig::failure_rate`](crate::SensorConfig) (0 by default), placed like a
//! PV fault (30 min to 4 h in the bright part of the day), drawn from the device's own stream so
//! that PV faults and readings do not change with it. The kinds, equally likely:
//!
//! - frozen channel: one of the four sensors repeats its reading from the onset on (a hung
//!   logger input, a stuck transmitter);
//! - dropped channel: one sensor reports nothing (NaN: a broken wire, a failed input card);
//! - temperature offset: the module temperature reads 5-15 C high or low (a probe come loose);
//! - temperature drift: the error grows steadily, reaching 5-15 C at the event's end; the event
//!   (and its label) starts when the error reaches 3 C;
//! - irradiance soiled: the plane-of-array sensor reads 50-80 % of the light (dirt, bird
//!   droppings on the sensor alone);
//! - irradiance shaded: a shadow on the sensor alone: it sees only the diffuse light;
//! - clock jump: the logger's clock runs 1-3 h fast or slow, so the readings carry wrong times
//!   and land in windows that hold the device's true readings already. Its windows (and labels)
//!   are those the shifted readings land in.

use crate::config::PlantConfig;
use crate::faults::BrightWindow;
use rand::Rng;
use std::fmt;

/// A drifting temperature sensor counts as failed once its error reaches this (C).
pub(crate) const DRIFT_FAILURE_C: f64 = 3.0;

/// The sensors' channels, in the readings' order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    Voltage,
    Current,
    Temperature,
    Irradiance,
}

impl Channel {
    pub const ALL: [Channel; 4] = [
        Channel::Voltage,
        Channel::Current,
        Channel::Temperature,
        Channel::Irradiance,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Channel::Voltage => "voltage",
            Channel::Current => "current",
            Channel::Temperature => "temperature",
            Channel::Irradiance => "irradiance",
        }
    }
}

/// What failed, without its parameters: a window label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SensorFailure {
    Frozen(Channel),
    Dropped(Channel),
    TemperatureOffset,
    TemperatureDrift,
    IrradianceSoiled,
    IrradianceShaded,
    ClockJump,
}

impl SensorFailure {
    /// `frozen_irradiance`, `dropped_voltage`, `temperature_offset`, ...
    pub fn label(self) -> String {
        match self {
            SensorFailure::Frozen(c) => format!("frozen_{}", c.name()),
            SensorFailure::Dropped(c) => format!("dropped_{}", c.name()),
            SensorFailure::TemperatureOffset => "temperature_offset".into(),
            SensorFailure::TemperatureDrift => "temperature_drift".into(),
            SensorFailure::IrradianceSoiled => "irradiance_soiled".into(),
            SensorFailure::IrradianceShaded => "irradiance_shaded".into(),
            SensorFailure::ClockJump => "clock_jump".into(),
        }
    }
}

impl fmt::Display for SensorFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// How the failed sensor reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SensorFailureParameters {
    /// Frozen and dropped channels need nothing more.
    None,
    /// The temperature error (C); for a drift, the error at the event's end, growing by
    /// `per_hour_c` an hour (it reached 3 C at the onset).
    TemperatureError { error_c: f64, per_hour_c: f64 },
    /// The share of the light the irradiance sensor reads.
    IrradianceGain(f64),
    /// How far the clock is off (ms; positive: fast).
    ClockShift(i64),
}

/// One sensor failure of one device, from `onset_ms` (inclusive) to `end_ms` (exclusive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SensorFailureEvent {
    pub device: usize,
    pub failure: SensorFailure,
    pub onset_ms: i64,
    pub end_ms: i64,
    pub parameters: SensorFailureParameters,
}

impl SensorFailureEvent {
    /// Where the failure's readings land in time: shifted for a clock jump, else the event.
    pub fn reported_span(&self) -> (i64, i64) {
        match self.parameters {
            SensorFailureParameters::ClockShift(shift_ms) => {
                (self.onset_ms + shift_ms, self.end_ms + shift_ms)
            }
            _ => (self.onset_ms, self.end_ms),
        }
    }

    /// The temperature error at `ts_ms` (C); 0 outside temperature failures.
    pub(crate) fn temperature_error_c(&self, ts_ms: i64) -> f64 {
        match (self.failure, self.parameters) {
            (
                SensorFailure::TemperatureOffset,
                SensorFailureParameters::TemperatureError { error_c, .. },
            ) => error_c,
            (
                SensorFailure::TemperatureDrift,
                SensorFailureParameters::TemperatureError {
                    error_c,
                    per_hour_c,
                },
            ) => {
                let hours = (ts_ms - self.onset_ms) as f64 / 3_600_000.0;
                let signed_rate = per_hour_c.copysign(error_c);
                DRIFT_FAILURE_C.copysign(error_c) + signed_rate * hours
            }
            _ => 0.0,
        }
    }
}

/// Draws one device's sensor failures, one day at a time (the same numbers whether or not a
/// day gets one, so a day's outcome does not shift the next's).
pub(crate) fn schedule_sensor_failures(
    config: &PlantConfig,
    device: usize,
    bright_windows: &[Option<BrightWindow>],
    rng: &mut impl Rng,
) -> Vec<SensorFailureEvent> {
    let interval_ms = config.interval_ms();
    let mut events = Vec::new();
    for window in bright_windows {
        let fails: f64 = rng.random();
        let kind: f64 = rng.random();
        let channel: f64 = rng.random();
        let size: f64 = rng.random();
        let sign: bool = rng.random();
        let duration_draw: f64 = rng.random();
        let onset_draw: f64 = rng.random();
        let Some(window) = window else { continue };
        if fails >= config.sensors.failure_rate {
            continue;
        }
        let channel = Channel::ALL[((channel * 4.0) as usize).min(3)];
        let error_c = (5.0 + 10.0 * size).copysign(if sign { 1.0 } else { -1.0 });
        let (failure, parameters) = match ((kind * 7.0) as usize).min(6) {
            0 => (
                SensorFailure::Frozen(channel),
                SensorFailureParameters::None,
            ),
            1 => (
                SensorFailure::Dropped(channel),
                SensorFailureParameters::None,
            ),
            2 => (
                SensorFailure::TemperatureOffset,
                SensorFailureParameters::TemperatureError {
                    error_c,
                    per_hour_c: 0.0,
                },
            ),
            3 => (
                SensorFailure::TemperatureDrift,
                SensorFailureParameters::TemperatureError {
                    error_c,
                    per_hour_c: 0.0,
                },
            ),
            4 => (
                SensorFailure::IrradianceSoiled,
                SensorFailureParameters::IrradianceGain(0.5 + 0.3 * size),
            ),
            5 => (
                SensorFailure::IrradianceShaded,
                SensorFailureParameters::None,
            ),
            _ => {
                // 1-3 h, on the reading grid.
                let hours = 1.0 + 2.0 * size;
                let shift_ms = ((hours * 3_600_000.0) as i64).div_euclid(interval_ms) * interval_ms;
                (
                    SensorFailure::ClockJump,
                    SensorFailureParameters::ClockShift(if sign { shift_ms } else { -shift_ms }),
                )
            }
        };
        let (onset_ms, duration_ms) =
            window.place(&config.fault_timing, interval_ms, duration_draw, onset_draw);
        let parameters = match parameters {
            // The drift reaches 3 C at the onset and `error_c` at the end.
            SensorFailureParameters::TemperatureError { error_c, .. }
                if failure == SensorFailure::TemperatureDrift =>
            {
                let hours = duration_ms as f64 / 3_600_000.0;
                SensorFailureParameters::TemperatureError {
                    error_c,
                    per_hour_c: (error_c.abs() - DRIFT_FAILURE_C) / hours,
                }
            }
            other => other,
        };
        events.push(SensorFailureEvent {
            device,
            failure,
            onset_ms,
            end_ms: onset_ms + duration_ms,
            parameters,
        });
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SensorConfig;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn failures_come_at_the_configured_rate_in_every_kind() {
        let config = PlantConfig {
            sensors: SensorConfig {
                failure_rate: 0.5,
                ..SensorConfig::default()
            },
            ..PlantConfig::default()
        };
        let window = Some(BrightWindow {
            start_ms: config.start_ms + 7 * 3_600_000,
            end_ms: config.start_ms + 17 * 3_600_000,
        });
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let events = schedule_sensor_failures(&config, 2, &vec![window; 2000], &mut rng);
        let share = events.len() as f64 / 2000.0;
        assert!((share - 0.5).abs() < 0.05, "{share}");
        let kinds: std::collections::HashSet<String> =
            events.iter().map(|e| e.failure.label()).collect();
        assert_eq!(kinds.len(), 4 + 4 + 5, "{kinds:?}");
        for event in &events {
            assert!(event.onset_ms >= config.start_ms + 7 * 3_600_000);
            assert!(event.end_ms <= config.start_ms + 17 * 3_600_000);
            if event.failure == SensorFailure::TemperatureDrift {
                let at_onset = event.temperature_error_c(event.onset_ms);
                let at_end = event.temperature_error_c(event.end_ms);
                assert!((at_onset.abs() - 3.0).abs() < 1e-9, "{at_onset}");
                assert!((5.0..=15.0).contains(&at_end.abs()), "{at_end}");
                assert_eq!(at_onset.signum(), at_end.signum());
            }
        }
    }

    #[test]
    fn no_failure_rate_no_failures() {
        let config = PlantConfig::default();
        let window = Some(BrightWindow {
            start_ms: 0,
            end_ms: 36_000_000,
        });
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        assert!(schedule_sensor_failures(&config, 0, &[window; 100], &mut rng).is_empty());
    }
}
