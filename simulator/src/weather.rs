//! Plant-wide weather on the reading grid: clear-sky light, passing clouds, ambient temperature
//! and wind, and from them each device's module temperature.
//!
//! Clouds are plant-wide events (a shadow drifting over the plant reaches each device a little
//! later, see [`WeatherSeries::conditions`]); a cloud blocks part of the direct beam and brightens
//! the diffuse sky, so shaded cells lose less under it and shadows fade. Module temperature is
//! Faiman's steady state `T = Ta + G / (U0 + U1 * wind)` (pvlib defaults, for open racks; other
//! mountings shed less heat, see [`ArrayDesign`]) followed with the module's thermal inertia
//! (first-order lag, 5-minute time constant). Clear-sky light is computed on the plane of each
//! array design of the plant.

use crate::config::{PlantConfig, Site, WeatherConfig};
use crate::design::ArrayDesign;
use crate::faults::BrightWindow;
use crate::solar::{PlaneIrradiance, clear_sky_plane_irradiance};
use rand::Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};

const MS_PER_DAY: i64 = 86_400_000;
/// Faiman heat-loss coefficients (pvlib defaults): W/m2K and W s/m3K.
const FAIMAN_U0: f64 = 25.0;
const FAIMAN_U1: f64 = 6.84;
/// Module thermal time constant (s).
const MODULE_THERMAL_TIME_CONSTANT_S: f64 = 300.0;
/// How much a cloud brightens the diffuse sky at full opacity (scattered beam light).
const CLOUD_DIFFUSE_GAIN: f64 = 1.0;
/// Wind: autocorrelation time (s) and variability relative to the mean.
const WIND_CORRELATION_S: f64 = 1800.0;
const WIND_RELATIVE_SPREAD: f64 = 0.4;

/// The weather at one reading for one device.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct DeviceWeather {
    /// Plane-of-array irradiance (W/m2).
    pub irradiance: f64,
    /// Share of it that is diffuse.
    pub diffuse_share: f64,
    pub ambient_c: f64,
    /// Faiman steady-state module temperature (C).
    pub steady_module_temp_c: f64,
}

/// Clear-sky light on one array design's plane at every reading time.
struct ClearSkyPlane {
    beam: Vec<f32>,
    diffuse: Vec<f32>,
}

/// The plant's weather at every reading time (f32: the series are the plant's largest
/// allocation, 12 bytes per reading time plus 8 per array design).
pub(crate) struct WeatherSeries {
    /// One per array design, in the order given to [`WeatherSeries::generate`].
    planes: Vec<ClearSkyPlane>,
    cloud_opacity: Vec<f32>,
    ambient_c: Vec<f32>,
    heat_loss: Vec<f32>,
    interval_s: f64,
}

impl WeatherSeries {
    /// The weather of a plant whose arrays are built to `arrays`.
    pub fn generate(
        config: &PlantConfig,
        arrays: &[ArrayDesign],
        rng: &mut impl Rng,
    ) -> WeatherSeries {
        let interval_ms = config.interval_ms();
        let per_day = (MS_PER_DAY / interval_ms) as usize;
        let len = per_day * config.days as usize;
        let planes = arrays
            .iter()
            .map(|array| {
                let clear: Vec<PlaneIrradiance> = (0..len)
                    .map(|k| {
                        let t = config.start_ms + k as i64 * interval_ms;
                        clear_sky_plane_irradiance(&config.site, array, t)
                    })
                    .collect();
                ClearSkyPlane {
                    beam: clear.iter().map(|c| c.beam as f32).collect(),
                    diffuse: clear.iter().map(|c| c.diffuse as f32).collect(),
                }
            })
            .collect();

        let days: Vec<DayWeather> = (0..=config.days)
            .map(|d| DayWeather::draw(config, config.start_ms + i64::from(d) * MS_PER_DAY, rng))
            .collect();
        let mut cloud_transmission = vec![1.0f64; len];
        for (d, day) in days.iter().take(config.days as usize).enumerate() {
            let first = d * per_day;
            cloud_transmission[first..first + per_day].fill(1.0 - day.haze);
            add_clouds(
                &mut cloud_transmission,
                first,
                per_day,
                interval_ms,
                day,
                &config.weather,
                rng,
            );
        }
        let ambient_c: Vec<f32> = (0..len)
            .map(|k| {
                ambient_temperature(
                    &config.site,
                    &days,
                    k,
                    per_day,
                    config.start_ms + k as i64 * interval_ms,
                ) as f32
            })
            .collect();
        let heat_loss = wind_series(&config.site, len, config.interval_s, rng)
            .into_iter()
            .map(|wind| (FAIMAN_U0 + FAIMAN_U1 * wind) as f32)
            .collect();
        WeatherSeries {
            planes,
            cloud_opacity: cloud_transmission
                .iter()
                .map(|t| (1.0 - t) as f32)
                .collect(),
            ambient_c,
            heat_loss,
            interval_s: f64::from(config.interval_s),
        }
    }

    /// Per day, the span around the brightest reading where clear-sky irradiance on array
    /// design `plane` reaches `min_irradiance` (None if never).
    pub fn bright_windows(
        &self,
        config: &PlantConfig,
        plane: usize,
        min_irradiance: f64,
    ) -> Vec<Option<BrightWindow>> {
        let interval_ms = config.interval_ms();
        let per_day = (MS_PER_DAY / interval_ms) as usize;
        let plane = &self.planes[plane];
        (0..config.days as usize)
            .map(|d| {
                let bright =
                    |k: &usize| f64::from(plane.beam[*k] + plane.diffuse[*k]) >= min_irradiance;
                // The bright span around the day's brightest reading: far from Greenwich a UTC
                // day holds the end of one local day's light and the start of the next's.
                let day = d * per_day..(d + 1) * per_day;
                let total = |k: usize| plane.beam[k] + plane.diffuse[k];
                let brightest = day.clone().max_by(|&a, &b| total(a).total_cmp(&total(b)))?;
                if !bright(&brightest) {
                    return None;
                }
                let first = (day.start..brightest)
                    .rev()
                    .find(|k| !bright(k))
                    .map_or(day.start, |k| k + 1);
                let last = (brightest..day.end)
                    .find(|k| !bright(k))
                    .map_or(day.end - 1, |k| k - 1);
                Some(BrightWindow {
                    start_ms: config.start_ms + first as i64 * interval_ms,
                    end_ms: config.start_ms + (last as i64 + 1) * interval_ms,
                })
            })
            .collect()
    }

    /// The weather at reading `k` for a device of array design `plane` that cloud shadows reach
    /// `cloud_delay` readings after the plant's reference point, mounted to shed
    /// `heat_loss_factor` of an open rack's heat.
    pub fn conditions(
        &self,
        k: usize,
        cloud_delay: f64,
        plane: usize,
        heat_loss_factor: f64,
    ) -> DeviceWeather {
        let beam = f64::from(self.planes[plane].beam[k]);
        let diffuse = f64::from(self.planes[plane].diffuse[k]);
        let opacity = self.delayed_opacity(k, cloud_delay);
        let beam = beam * (1.0 - opacity);
        let diffuse = diffuse * (1.0 + CLOUD_DIFFUSE_GAIN * opacity);
        let irradiance = beam + diffuse;
        let ambient_c = f64::from(self.ambient_c[k]);
        DeviceWeather {
            irradiance,
            diffuse_share: if irradiance > 0.0 {
                diffuse / irradiance
            } else {
                1.0
            },
            ambient_c,
            steady_module_temp_c: ambient_c
                + irradiance / (f64::from(self.heat_loss[k]) * heat_loss_factor),
        }
    }

    fn delayed_opacity(&self, k: usize, delay: f64) -> f64 {
        let position = (k as f64 - delay).max(0.0);
        let lower = position as usize;
        let upper = (lower + 1).min(k);
        let weight = position - lower as f64;
        let a = f64::from(self.cloud_opacity[lower]);
        let b = f64::from(self.cloud_opacity[upper]);
        a + weight * (b - a)
    }

    /// The fraction by which module temperature closes on its steady state per reading.
    pub fn thermal_step(&self) -> f64 {
        1.0 - (-self.interval_s / MODULE_THERMAL_TIME_CONSTANT_S).exp()
    }
}

/// One day's cloudiness and temperature.
struct DayWeather {
    /// Clouds per hour (0 on clear days).
    cloud_rate_per_hour: f64,
    /// Thin high cloud dimming the whole day.
    haze: f64,
    mean_ambient_c: f64,
    ambient_swing_c: f64,
}

impl DayWeather {
    fn draw(config: &PlantConfig, day_start_ms: i64, rng: &mut impl Rng) -> DayWeather {
        let weather = &config.weather;
        let clear: bool = rng.random::<f64>() < weather.clear_day_probability;
        let exp: f64 = Exp1.sample(rng);
        let haze_draw: f64 = rng.random();
        let temperature_draw: f64 = StandardNormal.sample(rng);
        let cloudy_share = 1.0 - weather.clear_day_probability;
        let (cloud_rate_per_hour, haze) = if clear || cloudy_share <= 0.0 {
            (0.0, 0.0)
        } else {
            (
                weather.cloud_events_per_hour / cloudy_share * exp,
                0.12 * haze_draw,
            )
        };
        DayWeather {
            cloud_rate_per_hour,
            haze,
            mean_ambient_c: config.site.seasonal_mean_ambient_c(day_start_ms)
                + 2.0 * temperature_draw,
            ambient_swing_c: config.site.daily_ambient_swing_c * if clear { 1.0 } else { 0.7 },
        }
    }
}

/// Multiplies a day's transmission by passing clouds: Poisson arrivals, exponential durations
/// (at least a minute), peak opacity 0.3-1, edges ramping over 20-90 s.
fn add_clouds(
    transmission: &mut [f64],
    first: usize,
    per_day: usize,
    interval_ms: i64,
    day: &DayWeather,
    weather: &WeatherConfig,
    rng: &mut impl Rng,
) {
    if day.cloud_rate_per_hour <= 0.0 {
        return;
    }
    let interval_s = interval_ms as f64 / 1000.0;
    let day_s = per_day as f64 * interval_s;
    let mean_gap_s = 3600.0 / day.cloud_rate_per_hour;
    let first_gap: f64 = Exp1.sample(rng);
    let mut start_s = mean_gap_s * first_gap;
    while start_s < day_s {
        let exp: f64 = Exp1.sample(rng);
        let duration_s = (weather.mean_cloud_duration_s * exp).max(60.0);
        let opacity = 0.3 + 0.7 * rng.random::<f64>();
        let ramp_s = (20.0 + 70.0 * rng.random::<f64>()).min(duration_s / 3.0);
        let first_k = (start_s / interval_s).ceil() as usize;
        let last_k = (((start_s + duration_s) / interval_s) as usize).min(per_day - 1);
        for k in first_k..=last_k {
            let t = k as f64 * interval_s - start_s;
            let edge = (t.min(duration_s - t) / ramp_s).clamp(0.0, 1.0);
            transmission[first + k] *= 1.0 - opacity * edge;
        }
        let gap: f64 = Exp1.sample(rng);
        start_s += duration_s + mean_gap_s * gap;
    }
}

/// Daily cycle around a mean that drifts linearly from one day to the next; warmest at 15:00
/// local solar time.
fn ambient_temperature(
    site: &Site,
    days: &[DayWeather],
    k: usize,
    per_day: usize,
    unix_ms: i64,
) -> f64 {
    let d = k / per_day;
    let fraction = (k % per_day) as f64 / per_day as f64;
    let mean =
        days[d].mean_ambient_c + fraction * (days[d + 1].mean_ambient_c - days[d].mean_ambient_c);
    let solar_hour = (unix_ms as f64 / 3_600_000.0 + site.longitude_deg / 15.0).rem_euclid(24.0);
    let phase = std::f64::consts::TAU * (solar_hour - 9.0) / 24.0;
    mean + days[d].ambient_swing_c / 2.0 * phase.sin()
}

/// Wind speed (m/s): an AR(1) process around the site mean.
fn wind_series(site: &Site, len: usize, interval_s: u32, rng: &mut impl Rng) -> Vec<f64> {
    let mean = site.mean_wind_m_s;
    let spread = WIND_RELATIVE_SPREAD * mean;
    let memory = (-f64::from(interval_s) / WIND_CORRELATION_S).exp();
    let innovation = spread * (1.0 - memory * memory).sqrt();
    let initial: f64 = StandardNormal.sample(rng);
    let mut anomaly = spread * initial;
    (0..len)
        .map(|_| {
            let noise: f64 = StandardNormal.sample(rng);
            anomaly = memory * anomaly + innovation * noise;
            (mean + anomaly).max(0.2)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn series(config: &PlantConfig, seed: u64) -> WeatherSeries {
        WeatherSeries::generate(
            config,
            std::slice::from_ref(&config.array),
            &mut ChaCha8Rng::seed_from_u64(seed),
        )
    }

    #[test]
    fn clear_day_has_a_smooth_bell_and_warm_modules_at_noon() {
        let mut config = PlantConfig::default();
        config.weather.clear_day_probability = 1.0;
        let weather = series(&config, 1);
        let noon = 12 * 180;
        let at_noon = weather.conditions(noon, 0.0, 0, 1.0);
        assert!((900.0..1100.0).contains(&at_noon.irradiance), "{at_noon:?}");
        assert!(at_noon.steady_module_temp_c > at_noon.ambient_c + 15.0);
        let night = weather.conditions(2 * 180, 0.0, 0, 1.0);
        assert_eq!(night.irradiance, 0.0);
        assert_eq!(night.steady_module_temp_c, night.ambient_c);
        // No cloud: consecutive readings differ by little.
        for k in 8 * 180..16 * 180 {
            let a = weather.conditions(k, 0.0, 0, 1.0).irradiance;
            let b = weather.conditions(k + 1, 0.0, 0, 1.0).irradiance;
            assert!((a - b).abs() < 5.0, "{k}: {a} -> {b}");
        }
    }

    #[test]
    fn clouds_dim_for_minutes_and_raise_the_diffuse_share() {
        let mut config = PlantConfig::default();
        config.weather.clear_day_probability = 0.0;
        config.weather.cloud_events_per_hour = 6.0;
        config.days = 3;
        let weather = series(&config, 7);
        let plane = &weather.planes[0];
        let clear = |k: usize| f64::from(plane.beam[k] + plane.diffuse[k]);
        let mut dimmed = 0;
        for day in 0..3 {
            for k in day * 4320 + 9 * 180..day * 4320 + 15 * 180 {
                let c = weather.conditions(k, 0.0, 0, 1.0);
                if c.irradiance < 0.7 * clear(k) {
                    dimmed += 1;
                    let clear_share = f64::from(plane.diffuse[k]) / clear(k);
                    assert!(c.diffuse_share > 1.2 * clear_share, "{c:?}");
                }
            }
        }
        // Several clouds of a few minutes over 18 bright hours.
        assert!((20..2000).contains(&dimmed), "{dimmed} dimmed readings");
    }

    #[test]
    fn cloud_delay_shifts_the_shadow() {
        let mut config = PlantConfig::default();
        config.weather.clear_day_probability = 0.0;
        config.weather.cloud_events_per_hour = 6.0;
        let weather = series(&config, 3);
        for k in 10..4320 {
            assert_eq!(
                weather.delayed_opacity(k, 3.0),
                weather.delayed_opacity(k - 3, 0.0)
            );
            let half = weather.delayed_opacity(k, 2.5);
            let (a, b) = (
                weather.delayed_opacity(k - 3, 0.0),
                weather.delayed_opacity(k - 2, 0.0),
            );
            assert!((half - 0.5 * (a + b)).abs() < 1e-6);
        }
    }

    #[test]
    fn bright_windows_cover_midday() {
        let config = PlantConfig {
            days: 2,
            ..PlantConfig::default()
        };
        let weather = series(&config, 1);
        let windows = weather.bright_windows(&config, 0, 300.0);
        assert_eq!(windows.len(), 2);
        for (d, window) in windows.iter().enumerate() {
            let window = window.expect("June in Spain is bright");
            let day_start = config.start_ms + d as i64 * MS_PER_DAY;
            let hours = |ms: i64| (ms - day_start) as f64 / 3_600_000.0;
            assert!(
                (5.0..9.0).contains(&hours(window.start_ms)),
                "{}",
                hours(window.start_ms)
            );
            assert!(
                (15.0..19.5).contains(&hours(window.end_ms)),
                "{}",
                hours(window.end_ms)
            );
        }
        assert!(
            weather
                .bright_windows(&config, 0, 5000.0)
                .iter()
                .all(Option::is_none)
        );
    }

    #[test]
    fn bright_windows_hold_daylight_far_from_greenwich() {
        // Sydney: local noon is 02:00 UTC, so a UTC day holds two pieces of daylight.
        let mut config = PlantConfig {
            days: 3,
            // 2026-01-10: summer there.
            start_ms: 1_768_003_200_000,
            ..PlantConfig::default()
        };
        config.site = Site::at(-33.87, 151.21, 40.0);
        config.array.azimuth_deg = 0.0;
        let weather = series(&config, 1);
        for (d, window) in weather.bright_windows(&config, 0, 300.0).iter().enumerate() {
            let window = window.expect("January in Sydney is bright");
            for ms in (window.start_ms..window.end_ms).step_by(600_000) {
                let k = ((ms - config.start_ms) / config.interval_ms()) as usize;
                let plane = &weather.planes[0];
                let clear = f64::from(plane.beam[k] + plane.diffuse[k]);
                assert!(
                    clear >= 300.0,
                    "day {d}: {clear} W/m2 inside the bright window"
                );
            }
        }
    }

    #[test]
    fn ambient_temperature_peaks_in_the_afternoon() {
        let mut config = PlantConfig::default();
        config.weather.clear_day_probability = 1.0;
        let weather = series(&config, 5);
        let warmest = (0..4320)
            .max_by(|&a, &b| weather.ambient_c[a].total_cmp(&weather.ambient_c[b]))
            .expect("a day of readings");
        let hour = warmest as f64 / 180.0;
        assert!((14.5..16.0).contains(&hour), "warmest at {hour} UTC");
        // 20-s readings close 1 - exp(-20/300) of the gap to the steady temperature.
        assert!((weather.thermal_step() - 0.0645).abs() < 1e-3);
    }
}
