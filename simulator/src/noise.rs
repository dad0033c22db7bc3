//! What the sensors and the data logger do to true values: gaussian noise, quantisation, lost
//! and repeated readings.

use crate::config::SensorConfig;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// True values of one reading.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TrueValues {
    pub voltage: f64,
    pub current: f64,
    pub temperature_c: f64,
    pub irradiance: f64,
}

/// Reported values, noisy and quantised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SensedValues {
    pub voltage: f32,
    pub current: f32,
    pub temperature_c: f32,
    pub irradiance: f32,
}

/// Whether the logger loses a reading, sends it once, or sends it twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    Lost,
    Once,
    Twice,
}

pub(crate) struct Sensors {
    relative_noise: f64,
    temperature_noise_c: f64,
    steps: [f64; 4],
    missing_rate: f64,
    duplicate_rate: f64,
}

impl Sensors {
    pub fn new(config: &SensorConfig) -> Sensors {
        Sensors {
            relative_noise: config.relative_noise,
            temperature_noise_c: config.temperature_noise_c,
            steps: [
                config.voltage_step_v,
                config.current_step_a,
                config.temperature_step_c,
                config.irradiance_step_w_m2,
            ],
            missing_rate: config.missing_rate,
            duplicate_rate: config.duplicate_rate,
        }
    }

    /// Noise, then quantisation. The irradiance sensor's own calibration error is `gain`, the
    /// temperature sensor's `offset_c`.
    pub fn sense(
        &self,
        truth: TrueValues,
        gain: f64,
        offset_c: f64,
        rng: &mut impl Rng,
    ) -> SensedValues {
        let mut normal = || -> f64 { StandardNormal.sample(rng) };
        let voltage = truth.voltage * (1.0 + self.relative_noise * normal());
        let current = truth.current * (1.0 + self.relative_noise * normal());
        let temperature_c = truth.temperature_c + offset_c + self.temperature_noise_c * normal();
        let irradiance = truth.irradiance * gain * (1.0 + self.relative_noise * normal());
        SensedValues {
            voltage: quantise(voltage, self.steps[0]),
            current: quantise(current, self.steps[1]),
            temperature_c: quantise(temperature_c, self.steps[2]),
            irradiance: quantise(irradiance, self.steps[3]),
        }
    }

    pub fn delivery(&self, rng: &mut impl Rng) -> Delivery {
        let draw: f64 = rng.random();
        if draw < self.missing_rate {
            Delivery::Lost
        } else if draw < self.missing_rate + self.duplicate_rate {
            Delivery::Twice
        } else {
            Delivery::Once
        }
    }
}

fn quantise(value: f64, step: f64) -> f32 {
    ((value / step).round() * step) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn values_land_on_the_quantisation_grid() {
        let sensors = Sensors::new(&SensorConfig::default());
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let truth = TrueValues {
            voltage: 131.234,
            current: 21.987,
            temperature_c: 47.04,
            irradiance: 912.6,
        };
        for _ in 0..1000 {
            let sensed = sensors.sense(truth, 1.0, 0.0, &mut rng);
            for (value, step) in [
                (sensed.voltage, 0.1),
                (sensed.current, 0.01),
                (sensed.temperature_c, 0.1),
                (sensed.irradiance, 1.0),
            ] {
                let units = f64::from(value) / step;
                assert!(
                    (units - units.round()).abs() < 1e-3,
                    "{value} not on {step}"
                );
            }
        }
    }

    #[test]
    fn noise_has_the_configured_spread() {
        let sensors = Sensors::new(&SensorConfig {
            voltage_step_v: 1e-4,
            ..SensorConfig::default()
        });
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let truth = TrueValues {
            voltage: 100.0,
            current: 0.0,
            temperature_c: 20.0,
            irradiance: 0.0,
        };
        let samples: Vec<f64> = (0..20_000)
            .map(|_| f64::from(sensors.sense(truth, 1.0, 0.0, &mut rng).voltage))
            .collect();
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        let spread =
            (samples.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / samples.len() as f64).sqrt();
        assert!((mean - 100.0).abs() < 0.02, "{mean}");
        assert!((spread - 0.5).abs() < 0.02, "{spread}");
        // Darkness stays exactly zero.
        let sensed = sensors.sense(truth, 1.0, 0.0, &mut rng);
        assert_eq!((sensed.current, sensed.irradiance), (0.0, 0.0));
    }

    #[test]
    fn quantise_rounds_to_nearest_step() {
        assert_eq!(quantise(12.34, 0.1), 12.3);
        assert_eq!(quantise(12.36, 0.1), 12.4);
        assert_eq!(quantise(-0.004, 0.01), 0.0);
        assert_eq!(quantise(999.5, 1.0), 1000.0);
    }
}
