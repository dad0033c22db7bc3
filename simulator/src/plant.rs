//! A simulated plant: devices, their fault schedules, and their readings.
//!
//! Building a plant draws the weather and every device's faults (cheap). Readings are generated
//! lazily per device, reading by reading: weather -> module temperature -> the operating point
//! of the device's current electrical configuration (read from its array design's precomputed
//! operating table, built on first use and shared by all plants and threads) -> MPPT ->
//! sensors.

use crate::array::Conditions;
use crate::catalogue::{ARC_LEVELS, CircuitKey, LINE_GROUND_RESISTANCES_OHM};
use crate::config::{PlantConfig, Site};
use crate::design::ArrayDesign;
use crate::error::SimulatorError;
use crate::faults::{FaultCircuit, FaultEvent, schedule_device};
use crate::labels::{WindowLabel, label_device_windows, window_sensor_failure};
use crate::mppt::{TrackedPeak, Tracker};
use crate::noise::{Delivery, Sensors, TrueValues};
use crate::operating_table::DesignTables;
use crate::rng::{Stream, stream_rng};
use crate::sensor_faults::{
    SensorFailure, SensorFailureEvent, SensorFailureParameters, schedule_sensor_failures,
};
use crate::weather::WeatherSeries;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::sync::Arc;

/// A ground leak's resistance moves to a neighbouring level about this often (s).
const LEAK_WANDER_TIME_S: f64 = 900.0;
/// Mean time an arc burns before extinguishing, and stays out before reigniting (s).
const ARC_BURN_TIME_S: f64 = 40.0;
const ARC_PAUSE_TIME_S: f64 = 60.0;
/// While an arc burns, its erratic voltage makes the MPPT hunt: relative noise on the voltage and
/// current seen at 20-s sampling.
const ARC_NOISE: f64 = 0.02;
/// Soiling and module mismatch: each device keeps between this share and all of its light.
const MIN_SOILING_FACTOR: f64 = 0.96;
/// Calibration spread of the irradiance sensors (relative) and temperature sensors (C).
const IRRADIANCE_SENSOR_GAIN_SPREAD: f64 = 0.01;
const TEMPERATURE_SENSOR_OFFSET_SPREAD_C: f64 = 0.3;

/// One reading of one device.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    pub device: u32,
    /// UTC epoch ms, on the plant's reading grid.
    pub ts_ms: i64,
    /// Array operating voltage (V).
    pub voltage: f32,
    /// Array current (A).
    pub current: f32,
    /// Module temperature (C).
    pub temperature: f32,
    /// Plane-of-array irradiance (W/m2).
    pub irradiance: f32,
}

/// One array design of a plant and its operating tables.
struct PlantDesign {
    design: ArrayDesign,
    tables: Arc<DesignTables>,
    heat_loss_factor: f64,
}

/// A simulated plant (see the crate documentation).
pub struct Plant {
    config: PlantConfig,
    device_ids: Vec<String>,
    designs: Vec<PlantDesign>,
    /// Index into `designs` of each device's.
    device_designs: Vec<usize>,
    readings_per_device: usize,
    weather: WeatherSeries,
    /// Every fault, by device then onset; `fault_circuits` runs parallel to it.
    events: Vec<FaultEvent>,
    fault_circuits: Vec<FaultCircuit>,
    /// `events[device_event_starts[d]..device_event_starts[d + 1]]` are device `d`'s.
    device_event_starts: Vec<usize>,
    /// Every sensor failure, by device then onset, and where each device's start.
    sensor_failures: Vec<SensorFailureEvent>,
    device_sensor_failure_starts: Vec<usize>,
}

impl Plant {
    /// A plant of `config.devices` arrays built to `config.array`, named `pv-00000` onwards.
    pub fn new(config: PlantConfig) -> Result<Plant, SimulatorError> {
        config.validate()?;
        let width = (config.devices - 1).to_string().len().max(5);
        let device_ids = (0..config.devices)
            .map(|d| format!("pv-{d:0width$}"))
            .collect();
        let designs = vec![config.array.clone()];
        let device_designs = vec![0; config.devices];
        Plant::build(config, designs, device_ids, device_designs)
    }

    /// The plant a description describes: its devices, named and built as it says, at its site
    /// (with a climate for its latitude, see [`Site::at`]). `config` gives the rest: seed,
    /// period, faults, sensors, weather; its `devices`, `site` location and `array` are
    /// replaced.
    pub fn described(
        mut config: PlantConfig,
        description: &pvflow_plant::Plant,
    ) -> Result<Plant, SimulatorError> {
        let site = &description.site;
        config.site = Site {
            albedo: config.site.albedo,
            mean_wind_m_s: config.site.mean_wind_m_s,
            ..Site::at(site.latitude, site.longitude, site.altitude_m)
        };
        let designs = description
            .array_types
            .iter()
            .filter(|array| !array.devices.is_empty())
            .map(ArrayDesign::from_array_type)
            .collect::<Result<Vec<_>, _>>()?;
        let (device_ids, device_designs): (Vec<String>, Vec<usize>) = description
            .devices()
            .map(|(id, array)| {
                let design = designs.iter().position(|d| d.name == array.name);
                (id.to_owned(), design.unwrap_or_default())
            })
            .unzip();
        config.devices = device_ids.len();
        if let Some(first) = designs.first() {
            config.array = first.clone();
        }
        config.validate()?;
        Plant::build(config, designs, device_ids, device_designs)
    }

    fn build(
        config: PlantConfig,
        designs: Vec<ArrayDesign>,
        device_ids: Vec<String>,
        device_designs: Vec<usize>,
    ) -> Result<Plant, SimulatorError> {
        let weather = WeatherSeries::generate(
            &config,
            &designs,
            &mut stream_rng(config.seed, Stream::Weather),
        );
        let min_irradiance = config.fault_timing.min_clear_sky_irradiance_w_m2;
        let bright_windows: Vec<_> = (0..designs.len())
            .map(|plane| weather.bright_windows(&config, plane, min_irradiance))
            .collect();
        let mut events = Vec::new();
        let mut fault_circuits = Vec::new();
        let mut device_event_starts = Vec::with_capacity(config.devices + 1);
        for (device, &design) in device_designs.iter().enumerate() {
            device_event_starts.push(events.len());
            let mut rng = stream_rng(config.seed, Stream::Faults(device));
            let wiring = designs[design].wiring();
            for (event, circuit) in
                schedule_device(&config, wiring, device, &bright_windows[design], &mut rng)
            {
                events.push(event);
                fault_circuits.push(circuit);
            }
        }
        device_event_starts.push(events.len());
        let mut sensor_failures = Vec::new();
        let mut device_sensor_failure_starts = Vec::with_capacity(config.devices + 1);
        for (device, &design) in device_designs.iter().enumerate() {
            device_sensor_failure_starts.push(sensor_failures.len());
            let mut rng = stream_rng(config.seed, Stream::SensorFailures(device));
            sensor_failures.extend(schedule_sensor_failures(
                &config,
                device,
                &bright_windows[design],
                &mut rng,
            ));
        }
        device_sensor_failure_starts.push(sensor_failures.len());
        let readings_per_device = config.days as usize * (86_400 / config.interval_s as usize);
        let designs = designs
            .into_iter()
            .map(|design| PlantDesign {
                tables: DesignTables::shared(&design.module, design.wiring()),
                heat_loss_factor: design.heat_loss_factor(),
                design,
            })
            .collect();
        Ok(Plant {
            config,
            device_ids,
            designs,
            device_designs,
            readings_per_device,
            weather,
            events,
            fault_circuits,
            device_event_starts,
            sensor_failures,
            device_sensor_failure_starts,
        })
    }

    pub fn config(&self) -> &PlantConfig {
        &self.config
    }

    /// Device names: a description's, else `pv-00000` onwards (wider with more than 100000
    /// devices).
    pub fn device_ids(&self) -> &[String] {
        &self.device_ids
    }

    /// The array a device is built to (`None` for an unknown device).
    pub fn device_design(&self, device: usize) -> Option<&ArrayDesign> {
        let design = *self.device_designs.get(device)?;
        Some(&self.designs[design].design)
    }

    /// Readings per device before losses and duplicates.
    pub fn readings_per_device(&self) -> usize {
        self.readings_per_device
    }

    /// Every fault of the plant, by device then onset.
    pub fn fault_events(&self) -> &[FaultEvent] {
        &self.events
    }

    /// One device's faults (empty for an unknown device).
    pub fn device_fault_events(&self, device: usize) -> &[FaultEvent] {
        &self.events[self.device_event_range(device)]
    }

    /// Every sensor failure of the plant, by device then onset.
    pub fn sensor_failure_events(&self) -> &[SensorFailureEvent] {
        &self.sensor_failures
    }

    /// One device's sensor failures (empty for an unknown device).
    pub fn device_sensor_failures(&self, device: usize) -> &[SensorFailureEvent] {
        if device < self.config.devices {
            let starts = &self.device_sensor_failure_starts;
            &self.sensor_failures[starts[device]..starts[device + 1]]
        } else {
            &[]
        }
    }

    fn device_event_range(&self, device: usize) -> std::ops::Range<usize> {
        if device < self.config.devices {
            self.device_event_starts[device]..self.device_event_starts[device + 1]
        } else {
            0..0
        }
    }

    /// Labels of every `window_ms` window that overlaps the simulated period, for every device,
    /// by device then time. Windows lie on a grid aligned to the Unix epoch
    /// (`window_start = floor(ts / window_ms) * window_ms`); a window takes a fault's class when
    /// the fault is active for at least half of it, else `Normal`, and likewise a sensor
    /// failure. Empty when `window_ms` is not positive.
    pub fn window_labels(&self, window_ms: i64) -> Vec<WindowLabel> {
        let mut labels = Vec::new();
        if window_ms <= 0 {
            return labels;
        }
        for device in 0..self.config.devices {
            let first = labels.len();
            label_device_windows(
                device,
                self.device_fault_events(device),
                self.config.start_ms,
                self.config.end_ms(),
                window_ms,
                &mut labels,
            );
            let failures = self.device_sensor_failures(device);
            if !failures.is_empty() {
                for label in &mut labels[first..] {
                    label.sensor_failure =
                        window_sensor_failure(failures, label.window_start_ms, window_ms);
                }
            }
        }
        labels
    }

    /// A device's readings in time order (but for a clock jump's, which carry the wrong clock's
    /// times), including lost readings' gaps and duplicates. The same
    /// for a given seed and device whatever the plant's size or the caller's threads. An unknown
    /// device yields nothing.
    pub fn device_readings(&self, device: usize) -> DeviceReadings<'_> {
        DeviceReadings::new(self, device)
    }
}

/// A device's fixed traits, drawn from its own stream.
struct DeviceTraits {
    /// When cloud shadows reach the device relative to the plant reference (readings).
    cloud_delay: f64,
    soiling: f64,
    irradiance_gain: f64,
    temperature_offset_c: f64,
}

impl DeviceTraits {
    fn draw(config: &PlantConfig, rng: &mut impl Rng) -> DeviceTraits {
        let delay_draw: f64 = rng.random();
        let soiling_draw: f64 = rng.random();
        let gain_draw: f64 = StandardNormal.sample(rng);
        let offset_draw: f64 = StandardNormal.sample(rng);
        DeviceTraits {
            cloud_delay: delay_draw * config.weather.max_cloud_delay_s
                / f64::from(config.interval_s),
            soiling: MIN_SOILING_FACTOR + (1.0 - MIN_SOILING_FACTOR) * soiling_draw,
            irradiance_gain: 1.0 + IRRADIANCE_SENSOR_GAIN_SPREAD * gain_draw,
            temperature_offset_c: TEMPERATURE_SENSOR_OFFSET_SPREAD_C * offset_draw,
        }
    }
}

/// The state of the fault a device is in.
#[derive(Clone, Copy, Debug, PartialEq)]
enum ActiveFault {
    None,
    Fixed(CircuitKey),
    Leak {
        modules: usize,
        resistance: usize,
    },
    /// The arc level while burning.
    Arc {
        burning: Option<usize>,
    },
}

/// Per-reading probabilities of the fault processes' state changes.
struct FaultDynamics {
    leak_wander: f64,
    arc_extinguish: f64,
    arc_ignite: f64,
}

impl FaultDynamics {
    fn new(interval_s: f64) -> FaultDynamics {
        let chance = |time_s: f64| 1.0 - (-interval_s / time_s).exp();
        FaultDynamics {
            leak_wander: chance(LEAK_WANDER_TIME_S),
            arc_extinguish: chance(ARC_BURN_TIME_S),
            arc_ignite: chance(ARC_PAUSE_TIME_S),
        }
    }
}

/// Iterator over one device's readings (see [`Plant::device_readings`]).
pub struct DeviceReadings<'a> {
    plant: &'a Plant,
    device: u32,
    next_index: usize,
    end_index: usize,
    rng: ChaCha8Rng,
    traits: DeviceTraits,
    sensors: Sensors,
    tracker: Tracker,
    thermal_step: f64,
    dither: f64,
    module_temp_c: Option<f64>,
    events: &'a [FaultEvent],
    fault_circuits: &'a [FaultCircuit],
    event_cursor: usize,
    sensor_failures: &'a [SensorFailureEvent],
    sensor_cursor: usize,
    /// A frozen channel's reading, from the failure's first reading on.
    frozen: Option<f32>,
    active: ActiveFault,
    /// Index into the plant's designs.
    design: usize,
    dynamics: FaultDynamics,
    duplicate: Option<Reading>,
}

impl<'a> DeviceReadings<'a> {
    fn new(plant: &'a Plant, device: usize) -> DeviceReadings<'a> {
        let config = &plant.config;
        let range = plant.device_event_range(device);
        let known = device < config.devices;
        DeviceReadings {
            plant,
            device: u32::try_from(device).unwrap_or(u32::MAX),
            next_index: 0,
            end_index: if known { plant.readings_per_device } else { 0 },
            rng: stream_rng(config.seed, Stream::Readings(device)),
            traits: DeviceTraits::draw(
                config,
                &mut stream_rng(config.seed, Stream::Traits(device)),
            ),
            sensors: Sensors::new(&config.sensors),
            tracker: Tracker::new(&config.mppt),
            thermal_step: plant.weather.thermal_step(),
            dither: config.mppt.dither,
            module_temp_c: None,
            events: &plant.events[range.clone()],
            fault_circuits: &plant.fault_circuits[range],
            event_cursor: 0,
            sensor_failures: plant.device_sensor_failures(device),
            sensor_cursor: 0,
            frozen: None,
            active: ActiveFault::None,
            design: plant
                .device_designs
                .get(device)
                .copied()
                .unwrap_or_default(),
            dynamics: FaultDynamics::new(f64::from(config.interval_s)),
            duplicate: None,
        }
    }

    /// Moves the fault state to time `ts_ms` and returns the circuit in effect, and whether an
    /// arc is burning.
    fn fault_at(&mut self, ts_ms: i64) -> (CircuitKey, bool) {
        while self.event_cursor < self.events.len()
            && self.events[self.event_cursor].end_ms <= ts_ms
        {
            self.event_cursor += 1;
            self.active = ActiveFault::None;
        }
        let in_event = self.event_cursor < self.events.len()
            && self.events[self.event_cursor].onset_ms <= ts_ms;
        if !in_event {
            return (CircuitKey::Healthy, false);
        }
        if self.active == ActiveFault::None {
            self.active = match self.fault_circuits[self.event_cursor] {
                FaultCircuit::Fixed(key) => ActiveFault::Fixed(key),
                FaultCircuit::WanderingLeak {
                    modules,
                    initial_resistance,
                } => ActiveFault::Leak {
                    modules,
                    resistance: initial_resistance,
                },
                FaultCircuit::IntermittentArc => ActiveFault::Arc { burning: None },
            };
        }
        match &mut self.active {
            ActiveFault::None => (CircuitKey::Healthy, false),
            ActiveFault::Fixed(key) => (*key, false),
            ActiveFault::Leak {
                modules,
                resistance,
            } => {
                let draw: f64 = self.rng.random();
                if draw < self.dynamics.leak_wander {
                    let up = draw < 0.5 * self.dynamics.leak_wander;
                    *resistance = if up {
                        (*resistance + 1).min(LINE_GROUND_RESISTANCES_OHM.len() - 1)
                    } else {
                        resistance.saturating_sub(1)
                    };
                }
                let key = CircuitKey::LineGround {
                    modules: *modules,
                    resistance: *resistance,
                };
                (key, false)
            }
            ActiveFault::Arc { burning } => {
                let draw: f64 = self.rng.random();
                *burning = match *burning {
                    Some(level) if draw >= self.dynamics.arc_extinguish => Some(level),
                    Some(_) => None,
                    None if draw < self.dynamics.arc_ignite => {
                        Some(self.rng.random_range(0..ARC_LEVELS.len()))
                    }
                    None => None,
                };
                match *burning {
                    Some(level) => (CircuitKey::Arc { level }, true),
                    None => (CircuitKey::Healthy, false),
                }
            }
        }
    }

    /// Simulates reading `k` (whether or not it will be delivered).
    fn simulate(&mut self, k: usize) -> Reading {
        let plant = self.plant;
        let ts_ms = plant.config.start_ms + k as i64 * plant.config.interval_ms();
        let design = &plant.designs[self.design];
        let weather = plant.weather.conditions(
            k,
            self.traits.cloud_delay,
            self.design,
            design.heat_loss_factor,
        );
        let module_temp_c = match self.module_temp_c {
            Some(previous) => {
                previous + self.thermal_step * (weather.steady_module_temp_c - previous)
            }
            None => weather.steady_module_temp_c,
        };
        self.module_temp_c = Some(module_temp_c);

        let (circuit, arc_burning) = self.fault_at(ts_ms);
        let effective_irradiance = weather.irradiance * self.traits.soiling;
        let points = design.tables.table(circuit).lookup(Conditions {
            irradiance: effective_irradiance,
            cell_temp_c: module_temp_c,
            diffuse_share: weather.diffuse_share,
        });
        let (mut voltage, mut current) = match self.tracker.step(ts_ms, effective_irradiance) {
            TrackedPeak::None => (points.open_circuit_voltage, 0.0),
            TrackedPeak::HighestVoltage => (
                points.highest_voltage_peak.voltage,
                points.highest_voltage_peak.current,
            ),
            TrackedPeak::Global => (points.global.voltage, points.global.current),
        };
        if current > 0.0 {
            let swing = self.dither * (2.0 * self.rng.random::<f64>() - 1.0);
            voltage *= 1.0 + swing;
            current *= 1.0 - swing;
        }
        if arc_burning {
            let v_noise: f64 = StandardNormal.sample(&mut self.rng);
            let i_noise: f64 = StandardNormal.sample(&mut self.rng);
            voltage *= 1.0 + ARC_NOISE * v_noise;
            current *= 1.0 + ARC_NOISE * i_noise;
        }
        let failure = self.sensor_failure_at(ts_ms);
        let (mut gain, mut offset_c, mut sensor_irradiance) = (
            self.traits.irradiance_gain,
            self.traits.temperature_offset_c,
            weather.irradiance,
        );
        if let Some(event) = failure {
            offset_c += event.temperature_error_c(ts_ms);
            match (event.failure, event.parameters) {
                (SensorFailure::IrradianceSoiled, SensorFailureParameters::IrradianceGain(g)) => {
                    gain *= g;
                }
                (SensorFailure::IrradianceShaded, _) => {
                    sensor_irradiance *= weather.diffuse_share;
                }
                _ => {}
            }
        }
        let truth = TrueValues {
            voltage,
            current,
            temperature_c: module_temp_c,
            irradiance: sensor_irradiance,
        };
        let sensed = self.sensors.sense(truth, gain, offset_c, &mut self.rng);
        let mut values = [
            sensed.voltage,
            sensed.current,
            sensed.temperature_c,
            sensed.irradiance,
        ];
        match failure.map(|event| event.failure) {
            Some(SensorFailure::Frozen(channel)) => {
                let slot = &mut values[channel as usize];
                *slot = *self.frozen.get_or_insert(*slot);
            }
            Some(SensorFailure::Dropped(channel)) => values[channel as usize] = f32::NAN,
            _ => {}
        }
        let [voltage, current, temperature, irradiance] = values;
        let clock_shift_ms = match failure.map(|event| event.parameters) {
            Some(SensorFailureParameters::ClockShift(shift_ms)) => shift_ms,
            _ => 0,
        };
        Reading {
            device: self.device,
            ts_ms: ts_ms + clock_shift_ms,
            voltage,
            current,
            temperature,
            irradiance,
        }
    }

    /// The sensor failure at `ts_ms`, moving the cursor (readings come in time order).
    fn sensor_failure_at(&mut self, ts_ms: i64) -> Option<SensorFailureEvent> {
        while self
            .sensor_failures
            .get(self.sensor_cursor)
            .is_some_and(|event| event.end_ms <= ts_ms)
        {
            self.sensor_cursor += 1;
            self.frozen = None;
        }
        self.sensor_failures
            .get(self.sensor_cursor)
            .filter(|event| event.onset_ms <= ts_ms)
            .copied()
    }
}

impl Iterator for DeviceReadings<'_> {
    type Item = Reading;

    fn next(&mut self) -> Option<Reading> {
        if let Some(reading) = self.duplicate.take() {
            return Some(reading);
        }
        while self.next_index < self.end_index {
            let reading = self.simulate(self.next_index);
            self.next_index += 1;
            match self.sensors.delivery(&mut self.rng) {
                Delivery::Lost => continue,
                Delivery::Once => return Some(reading),
                Delivery::Twice => {
                    self.duplicate = Some(reading);
                    return Some(reading);
                }
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let pending = usize::from(self.duplicate.is_some());
        let remaining = self.end_index - self.next_index;
        (pending, Some(pending + 2 * remaining))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClassMix;
    use crate::faults::FaultClass;

    fn plant_with(class: FaultClass, devices: usize) -> Plant {
        let class_mix = ClassMix::only(class, 1.0);
        let mut config = PlantConfig {
            devices,
            class_mix,
            ..PlantConfig::default()
        };
        config.fault_timing.min_duration_s = 3 * 3600;
        Plant::new(config).expect("valid config")
    }

    /// Runs the fault state machine of every device through its events.
    fn fault_states(plant: &Plant) -> Vec<(CircuitKey, bool)> {
        let mut states = Vec::new();
        for device in 0..plant.config.devices {
            let mut readings = plant.device_readings(device);
            for event in plant.device_fault_events(device) {
                for ts in (event.onset_ms..event.end_ms).step_by(20_000) {
                    states.push(readings.fault_at(ts));
                }
            }
        }
        states
    }

    #[test]
    fn plants_are_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        fn sent<T: Send>() {}
        shared::<Plant>();
        sent::<DeviceReadings<'static>>();
    }

    #[test]
    fn arcs_burn_about_forty_percent_of_the_time_at_every_level() {
        let states = fault_states(&plant_with(FaultClass::ArcFault, 10));
        let burning: Vec<CircuitKey> = states.iter().filter(|(_, b)| *b).map(|(k, _)| *k).collect();
        let duty = burning.len() as f64 / states.len() as f64;
        // Stationary share: ignite / (ignite + extinguish) = 0.283 / 0.676.
        assert!(
            (duty - 0.42).abs() < 0.06,
            "duty {duty} over {} readings",
            states.len()
        );
        for level in 0..ARC_LEVELS.len() {
            assert!(burning.contains(&CircuitKey::Arc { level }));
        }
        assert!(states.iter().all(|(k, b)| *b || *k == CircuitKey::Healthy));
    }

    #[test]
    fn ground_leaks_wander_between_resistance_levels() {
        let states = fault_states(&plant_with(FaultClass::LineGround, 10));
        let changes = states.windows(2).filter(|w| w[0].0 != w[1].0).count();
        // About one change per 45 readings (900 s at 20 s), minus event boundaries.
        let expected = states.len() as f64 / 45.0;
        assert!(
            (changes as f64) > 0.5 * expected && (changes as f64) < 1.5 * expected,
            "{changes} vs {expected}"
        );
        assert!(
            states
                .iter()
                .all(|(k, burning)| !burning && matches!(k, CircuitKey::LineGround { .. }))
        );
    }

    #[test]
    fn device_ids_widen_past_five_digits() {
        let plant = plant_with(FaultClass::Normal, 100_001);
        assert_eq!(plant.device_ids()[0], "pv-000000");
        assert_eq!(plant.device_ids()[100_000], "pv-100000");
        let small = plant_with(FaultClass::Normal, 3);
        assert_eq!(small.device_ids(), ["pv-00000", "pv-00001", "pv-00002"]);
    }
}
