//! Everything a simulated plant is made of, with defaults that give a realistic, labelled day of
//! every fault class for a small plant.

use crate::design::ArrayDesign;
use crate::error::SimulatorError;
use crate::faults::FaultClass;

const MS_PER_DAY: i64 = 86_400_000;
/// Ten years of readings: bounds the plant-wide weather series kept in memory.
const MAX_DAYS: u32 = 3660;

/// A simulated plant: `devices` arrays reporting every `interval_s` for `days` from `start_ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct PlantConfig {
    /// Seeds every random stream: same seed, same plant.
    pub seed: u64,
    /// Number of arrays (reporting devices).
    pub devices: usize,
    /// First reading (UTC epoch ms); must be a multiple of `interval_s`.
    pub start_ms: i64,
    pub days: u32,
    /// Seconds between readings; must divide a day.
    pub interval_s: u32,
    pub class_mix: ClassMix,
    pub fault_timing: FaultTiming,
    pub sensors: SensorConfig,
    pub site: Site,
    /// Every device's array, unless the plant comes from a description
    /// ([`crate::Plant::described`]), which names each device's.
    pub array: ArrayDesign,
    pub weather: WeatherConfig,
    pub mppt: MpptConfig,
}

impl Default for PlantConfig {
    fn default() -> Self {
        PlantConfig {
            seed: 42,
            devices: 200,
            // 2025-06-21T00:00:00Z.
            start_ms: 1_750_464_000_000,
            days: 1,
            interval_s: 20,
            class_mix: ClassMix::default(),
            fault_timing: FaultTiming::default(),
            sensors: SensorConfig::default(),
            site: Site::default(),
            array: ArrayDesign::default(),
            weather: WeatherConfig::default(),
            mppt: MpptConfig::default(),
        }
    }
}

/// The fraction of device-days that get a fault of each class (at most one fault per device-day);
/// the rest are normal.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassMix {
    pub line_line: f64,
    pub line_ground: f64,
    pub open_circuit: f64,
    pub partial_shading: f64,
    pub arc_fault: f64,
}

impl Default for ClassMix {
    fn default() -> Self {
        ClassMix {
            line_line: 0.1,
            line_ground: 0.1,
            open_circuit: 0.1,
            partial_shading: 0.1,
            arc_fault: 0.1,
        }
    }
}

impl ClassMix {
    /// No faults at all.
    pub const NONE: ClassMix = ClassMix {
        line_line: 0.0,
        line_ground: 0.0,
        open_circuit: 0.0,
        partial_shading: 0.0,
        arc_fault: 0.0,
    };

    /// `fraction` of device-days with a fault of `class`, no other faults.
    pub fn only(class: FaultClass, fraction: f64) -> ClassMix {
        let mut mix = ClassMix::NONE;
        match class {
            FaultClass::LineLine => mix.line_line = fraction,
            FaultClass::LineGround => mix.line_ground = fraction,
            FaultClass::OpenCircuit => mix.open_circuit = fraction,
            FaultClass::PartialShading => mix.partial_shading = fraction,
            FaultClass::ArcFault => mix.arc_fault = fraction,
            FaultClass::Normal => {}
        }
        mix
    }

    /// The fraction of device-days of a class; `Normal` gets what the faults leave.
    pub fn fraction(&self, class: FaultClass) -> f64 {
        match class {
            FaultClass::Normal => 1.0 - self.fault_total(),
            FaultClass::LineLine => self.line_line,
            FaultClass::LineGround => self.line_ground,
            FaultClass::OpenCircuit => self.open_circuit,
            FaultClass::PartialShading => self.partial_shading,
            FaultClass::ArcFault => self.arc_fault,
        }
    }

    fn fault_total(&self) -> f64 {
        self.line_line
            + self.line_ground
            + self.open_circuit
            + self.partial_shading
            + self.arc_fault
    }
}

/// When faults happen: inside the part of the day bright enough to see them.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultTiming {
    pub min_duration_s: u32,
    pub max_duration_s: u32,
    /// A fault lies where clear-sky plane-of-array irradiance is at least this (W/m2); a day
    /// that never gets this bright (polar winter) gets no fault.
    pub min_clear_sky_irradiance_w_m2: f64,
}

impl Default for FaultTiming {
    fn default() -> Self {
        FaultTiming {
            min_duration_s: 1800,
            max_duration_s: 4 * 3600,
            min_clear_sky_irradiance_w_m2: 300.0,
        }
    }
}

/// The sensors' imperfections.
#[derive(Clone, Debug, PartialEq)]
pub struct SensorConfig {
    /// Standard deviation of the gaussian noise on voltage, current and irradiance, relative.
    pub relative_noise: f64,
    /// Standard deviation of the temperature sensor's noise (C).
    pub temperature_noise_c: f64,
    /// Quantisation steps of the reported values.
    pub voltage_step_v: f64,
    pub current_step_a: f64,
    pub temperature_step_c: f64,
    pub irradiance_step_w_m2: f64,
    /// Probability that a reading is lost.
    pub missing_rate: f64,
    /// Probability that a reading is delivered twice (same timestamp and values).
    pub duplicate_rate: f64,
    /// Share of device-days with a sensor failure (a frozen or dropped channel, a temperature
    /// offset or drift, a soiled or shaded irradiance sensor; see `sensor_faults`).
    pub failure_rate: f64,
}

impl Default for SensorConfig {
    fn default() -> Self {
        SensorConfig {
            relative_noise: 0.005,
            temperature_noise_c: 0.2,
            voltage_step_v: 0.1,
            current_step_a: 0.01,
            temperature_step_c: 0.1,
            irradiance_step_w_m2: 1.0,
            missing_rate: 0.005,
            duplicate_rate: 0.001,
            failure_rate: 0.0,
        }
    }
}

/// Where the plant is and its climate. Default: Tabernas, Almeria (Spain), in summer all year.
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    pub latitude_deg: f64,
    /// East positive.
    pub longitude_deg: f64,
    pub altitude_m: f64,
    /// Ground reflectance.
    pub albedo: f64,
    /// Mean ambient temperature over the year (C), and how far the warmest and coldest days
    /// of the year lie above and below it (C; 0: no seasons).
    pub mean_ambient_c: f64,
    pub seasonal_ambient_swing_c: f64,
    /// The typical difference between a clear day's minimum and maximum (C).
    pub daily_ambient_swing_c: f64,
    pub mean_wind_m_s: f64,
}

impl Default for Site {
    fn default() -> Self {
        Site {
            latitude_deg: 37.09,
            longitude_deg: -2.36,
            altitude_m: 500.0,
            albedo: 0.2,
            mean_ambient_c: 24.0,
            seasonal_ambient_swing_c: 0.0,
            daily_ambient_swing_c: 12.0,
            mean_wind_m_s: 3.0,
        }
    }
}

/// Day of the year the warmest days come on, in the northern hemisphere (about 20 July); half a
/// year later in the southern.
const WARMEST_DAY_OF_YEAR: f64 = 201.0;
const DAYS_PER_YEAR: f64 = 365.25;

impl Site {
    /// A site at a place, with a zonal-average climate for its latitude (coarse, no climate
    /// record: a plant's own weather may differ by several degrees): the annual mean falls from
    /// 27 C at the equator with the square of latitude (about 19 C at 37 degrees, 5 C at 60) and
    /// 6.5 C per km of altitude, the seasons swing by 1 C plus 0.18 C per degree of latitude.
    pub fn at(latitude_deg: f64, longitude_deg: f64, altitude_m: f64) -> Site {
        Site {
            latitude_deg,
            longitude_deg,
            altitude_m,
            mean_ambient_c: 27.0 - 0.006 * latitude_deg * latitude_deg - 6.5 * altitude_m / 1000.0,
            seasonal_ambient_swing_c: 1.0 + 0.18 * latitude_deg.abs(),
            daily_ambient_swing_c: 10.0,
            ..Site::default()
        }
    }

    /// The mean ambient temperature of the day starting at `day_start_ms` (UTC epoch ms).
    pub(crate) fn seasonal_mean_ambient_c(&self, day_start_ms: i64) -> f64 {
        if self.seasonal_ambient_swing_c == 0.0 {
            return self.mean_ambient_c;
        }
        let days = day_start_ms as f64 / 86_400_000.0;
        // 1 January 1970 is day 0 of its year; drift over the centuries is immaterial here.
        let day_of_year = days.rem_euclid(DAYS_PER_YEAR);
        let warmest = if self.latitude_deg >= 0.0 {
            WARMEST_DAY_OF_YEAR
        } else {
            WARMEST_DAY_OF_YEAR - DAYS_PER_YEAR / 2.0
        };
        let phase = std::f64::consts::TAU * (day_of_year - warmest) / DAYS_PER_YEAR;
        self.mean_ambient_c + self.seasonal_ambient_swing_c * phase.cos()
    }
}

/// Clouds.
#[derive(Clone, Debug, PartialEq)]
pub struct WeatherConfig {
    /// Share of days without clouds.
    pub clear_day_probability: f64,
    /// Mean number of clouds passing per hour, over all days (cloudy days get more).
    pub cloud_events_per_hour: f64,
    /// Mean time a cloud shades the plant (s).
    pub mean_cloud_duration_s: f64,
    /// A cloud's shadow reaches the plant's devices up to this much apart (s), as it drifts
    /// over the plant.
    pub max_cloud_delay_s: f64,
}

impl Default for WeatherConfig {
    fn default() -> Self {
        WeatherConfig {
            clear_day_probability: 0.3,
            cloud_events_per_hour: 2.0,
            mean_cloud_duration_s: 240.0,
            max_cloud_delay_s: 90.0,
        }
    }
}

/// The inverter's maximum power point tracker: a hill-climber that, after waking and after an
/// abrupt irradiance change, settles on the highest-voltage peak of the P-V curve, and moves to
/// the global peak at each periodic global scan (they differ only under partial shading).
#[derive(Clone, Debug, PartialEq)]
pub struct MpptConfig {
    /// Below this plane-of-array irradiance the inverter sleeps and the array sits at open
    /// circuit (W/m2).
    pub wake_irradiance_w_m2: f64,
    /// Seconds between global scans of the P-V curve; 0 disables them.
    pub global_scan_interval_s: u32,
    /// A relative irradiance change between two readings above this restarts hill-climbing
    /// from open circuit.
    pub restart_irradiance_change: f64,
    /// Perturb-and-observe oscillation around the tracked point, relative voltage amplitude.
    pub dither: f64,
}

impl Default for MpptConfig {
    fn default() -> Self {
        MpptConfig {
            wake_irradiance_w_m2: 20.0,
            global_scan_interval_s: 600,
            restart_irradiance_change: 0.3,
            dither: 0.004,
        }
    }
}

/// Fails with the field's name unless `value` lies in `[min, max]`.
fn check_range(field: &'static str, value: f64, min: f64, max: f64) -> Result<(), SimulatorError> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("must be in [{min}, {max}], got {value}"),
        ))
    }
}

fn invalid(field: &'static str, problem: String) -> SimulatorError {
    SimulatorError::InvalidConfig { field, problem }
}

impl PlantConfig {
    /// Milliseconds between readings.
    pub fn interval_ms(&self) -> i64 {
        i64::from(self.interval_s) * 1000
    }

    /// End of the simulated period (exclusive, UTC epoch ms).
    pub fn end_ms(&self) -> i64 {
        self.start_ms + i64::from(self.days) * MS_PER_DAY
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), SimulatorError> {
        if self.devices == 0 || u32::try_from(self.devices).is_err() {
            return Err(invalid(
                "devices",
                format!("must be in [1, {}], got {}", u32::MAX, self.devices),
            ));
        }
        if self.days == 0 || self.days > MAX_DAYS {
            return Err(invalid(
                "days",
                format!("must be in [1, {MAX_DAYS}], got {}", self.days),
            ));
        }
        if self.interval_s == 0 || 86_400 % self.interval_s != 0 {
            return Err(invalid(
                "interval_s",
                format!(
                    "must divide 86400 (whole readings per day), got {}",
                    self.interval_s
                ),
            ));
        }
        if self.start_ms.rem_euclid(self.interval_ms()) != 0 {
            return Err(invalid(
                "start_ms",
                format!(
                    "must be on the {} s reading grid, got {}",
                    self.interval_s, self.start_ms
                ),
            ));
        }
        let limit = i64::MAX / 2 - i64::from(MAX_DAYS) * MS_PER_DAY;
        if self.start_ms.abs() > limit {
            return Err(invalid(
                "start_ms",
                format!("is out of range: {}", self.start_ms),
            ));
        }
        self.validate_class_mix()?;
        self.validate_fault_timing()?;
        self.validate_sensors()?;
        self.validate_site()?;
        self.array.validate()?;
        self.validate_weather()?;
        self.validate_mppt()
    }

    fn validate_class_mix(&self) -> Result<(), SimulatorError> {
        let mix = &self.class_mix;
        check_range("class_mix.line_line", mix.line_line, 0.0, 1.0)?;
        check_range("class_mix.line_ground", mix.line_ground, 0.0, 1.0)?;
        check_range("class_mix.open_circuit", mix.open_circuit, 0.0, 1.0)?;
        check_range("class_mix.partial_shading", mix.partial_shading, 0.0, 1.0)?;
        check_range("class_mix.arc_fault", mix.arc_fault, 0.0, 1.0)?;
        let total = mix.fault_total();
        if total > 1.0 + 1e-9 {
            return Err(invalid(
                "class_mix",
                format!("fault fractions must sum to at most 1, got {total}"),
            ));
        }
        Ok(())
    }

    fn validate_fault_timing(&self) -> Result<(), SimulatorError> {
        let timing = &self.fault_timing;
        if timing.min_duration_s < self.interval_s {
            return Err(invalid(
                "fault_timing.min_duration_s",
                format!(
                    "must be at least interval_s ({}), got {}",
                    self.interval_s, timing.min_duration_s
                ),
            ));
        }
        if timing.max_duration_s < timing.min_duration_s {
            return Err(invalid(
                "fault_timing.max_duration_s",
                format!(
                    "must be at least min_duration_s ({}), got {}",
                    timing.min_duration_s, timing.max_duration_s
                ),
            ));
        }
        check_range(
            "fault_timing.min_clear_sky_irradiance_w_m2",
            timing.min_clear_sky_irradiance_w_m2,
            0.0,
            1200.0,
        )
    }

    fn validate_sensors(&self) -> Result<(), SimulatorError> {
        let sensors = &self.sensors;
        check_range("sensors.relative_noise", sensors.relative_noise, 0.0, 0.5)?;
        check_range(
            "sensors.temperature_noise_c",
            sensors.temperature_noise_c,
            0.0,
            10.0,
        )?;
        for (field, step) in [
            ("sensors.voltage_step_v", sensors.voltage_step_v),
            ("sensors.current_step_a", sensors.current_step_a),
            ("sensors.temperature_step_c", sensors.temperature_step_c),
            ("sensors.irradiance_step_w_m2", sensors.irradiance_step_w_m2),
        ] {
            if !(step.is_finite() && step > 0.0 && step <= 100.0) {
                return Err(invalid(field, format!("must be in (0, 100], got {step}")));
            }
        }
        check_range("sensors.missing_rate", sensors.missing_rate, 0.0, 0.99)?;
        check_range("sensors.duplicate_rate", sensors.duplicate_rate, 0.0, 0.99)?;
        check_range("sensors.failure_rate", sensors.failure_rate, 0.0, 1.0)
    }

    fn validate_site(&self) -> Result<(), SimulatorError> {
        let site = &self.site;
        check_range("site.latitude_deg", site.latitude_deg, -90.0, 90.0)?;
        check_range("site.longitude_deg", site.longitude_deg, -180.0, 180.0)?;
        check_range("site.altitude_m", site.altitude_m, -500.0, 6000.0)?;
        check_range("site.albedo", site.albedo, 0.0, 1.0)?;
        check_range("site.mean_ambient_c", site.mean_ambient_c, -50.0, 50.0)?;
        check_range(
            "site.seasonal_ambient_swing_c",
            site.seasonal_ambient_swing_c,
            0.0,
            40.0,
        )?;
        check_range(
            "site.daily_ambient_swing_c",
            site.daily_ambient_swing_c,
            0.0,
            40.0,
        )?;
        check_range("site.mean_wind_m_s", site.mean_wind_m_s, 0.0, 30.0)
    }

    fn validate_weather(&self) -> Result<(), SimulatorError> {
        let weather = &self.weather;
        check_range(
            "weather.clear_day_probability",
            weather.clear_day_probability,
            0.0,
            1.0,
        )?;
        check_range(
            "weather.cloud_events_per_hour",
            weather.cloud_events_per_hour,
            0.0,
            60.0,
        )?;
        check_range(
            "weather.mean_cloud_duration_s",
            weather.mean_cloud_duration_s,
            10.0,
            7200.0,
        )?;
        check_range(
            "weather.max_cloud_delay_s",
            weather.max_cloud_delay_s,
            0.0,
            3600.0,
        )
    }

    fn validate_mppt(&self) -> Result<(), SimulatorError> {
        let mppt = &self.mppt;
        check_range(
            "mppt.wake_irradiance_w_m2",
            mppt.wake_irradiance_w_m2,
            1.0,
            500.0,
        )?;
        check_range(
            "mppt.restart_irradiance_change",
            mppt.restart_irradiance_change,
            0.01,
            10.0,
        )?;
        check_range("mppt.dither", mppt.dither, 0.0, 0.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(config: &PlantConfig) -> (&'static str, String) {
        match config.validate() {
            Err(SimulatorError::InvalidConfig { field, problem }) => (field, problem),
            other => panic!("config should be invalid: {config:?}, got {other:?}"),
        }
    }

    #[test]
    fn default_is_valid() {
        assert_eq!(PlantConfig::default().validate(), Ok(()));
        let mix = ClassMix::default();
        let total: f64 = FaultClass::ALL
            .iter()
            .map(|&class| mix.fraction(class))
            .sum();
        assert!((total - 1.0).abs() < 1e-12);
    }

    #[test]
    fn errors_name_the_field_and_the_value() {
        let mut config = PlantConfig {
            devices: 0,
            ..PlantConfig::default()
        };
        assert_eq!(problem(&config).0, "devices");

        config = PlantConfig {
            interval_s: 7,
            ..PlantConfig::default()
        };
        let (field, text) = problem(&config);
        assert_eq!(field, "interval_s");
        assert!(
            text.contains("divide 86400") && text.contains('7'),
            "{text}"
        );

        config = PlantConfig {
            start_ms: PlantConfig::default().start_ms + 1500,
            ..PlantConfig::default()
        };
        let (field, text) = problem(&config);
        assert_eq!(field, "start_ms");
        assert!(text.contains("20 s reading grid"), "{text}");

        config = PlantConfig::default();
        config.sensors.missing_rate = 1.5;
        let error = config.validate().expect_err("missing rate above 1");
        assert_eq!(
            error.to_string(),
            "invalid simulator config: `sensors.missing_rate` must be in [0, 0.99], got 1.5"
        );

        config = PlantConfig::default();
        config.sensors.voltage_step_v = 0.0;
        assert_eq!(problem(&config).0, "sensors.voltage_step_v");

        config = PlantConfig::default();
        config.class_mix.arc_fault = 0.7;
        let (field, text) = problem(&config);
        assert_eq!(field, "class_mix");
        assert!(text.contains("sum to at most 1"), "{text}");

        config = PlantConfig::default();
        config.class_mix.line_line = f64::NAN;
        assert_eq!(problem(&config).0, "class_mix.line_line");

        config = PlantConfig::default();
        config.fault_timing.max_duration_s = 60;
        assert_eq!(problem(&config).0, "fault_timing.max_duration_s");

        config = PlantConfig::default();
        config.site.latitude_deg = 91.0;
        assert_eq!(problem(&config).0, "site.latitude_deg");

        config = PlantConfig {
            days: 0,
            ..PlantConfig::default()
        };
        assert_eq!(problem(&config).0, "days");

        config = PlantConfig::default();
        config.weather.mean_cloud_duration_s = -1.0;
        assert_eq!(problem(&config).0, "weather.mean_cloud_duration_s");

        config = PlantConfig::default();
        config.mppt.dither = 0.5;
        assert_eq!(problem(&config).0, "mppt.dither");
    }

    #[test]
    fn start_ms_may_precede_the_epoch_on_the_grid() {
        let config = PlantConfig {
            start_ms: -20_000 * 3,
            ..PlantConfig::default()
        };
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.end_ms() - config.start_ms, 86_400_000);
    }
}
