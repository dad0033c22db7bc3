//! The simulator through its public API: determinism, labels, sensor imperfections, and each
//! fault class's physical signature.
//!
//! Signatures are measured against a counterfactual twin: the same seed with no faults has the
//! same weather, device traits and (for faults that draw no random numbers of their own) the same
//! sensor noise, so reading-by-reading ratios isolate the fault's physics.

use pvflow_simulator::{
    ClassMix, FaultClass, FaultEvent, FaultParameters, Plant, PlantConfig, Reading, SimulatorError,
};
use std::collections::{BTreeMap, HashSet};

const WINDOW_MS: i64 = 1_280_000;

fn plant(devices: usize, class_mix: ClassMix) -> Plant {
    Plant::new(PlantConfig {
        devices,
        class_mix,
        ..PlantConfig::default()
    })
    .expect("valid config")
}

fn readings_by_time(plant: &Plant, device: usize) -> BTreeMap<i64, Reading> {
    plant
        .device_readings(device)
        .map(|r| (r.ts_ms, r))
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    assert!(!values.is_empty(), "no values to take the median of");
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// In-event readings of the faulty plant next to the twin's at the same times, where the twin
/// sees at least `min_irradiance`.
fn paired_with_twin(
    faulty: &Plant,
    twin: &Plant,
    event: &FaultEvent,
    min_irradiance: f32,
) -> Vec<(Reading, Reading)> {
    let ours = readings_by_time(faulty, event.device);
    let theirs = readings_by_time(twin, event.device);
    ours.range(event.onset_ms..event.end_ms)
        .filter_map(|(ts, r)| theirs.get(ts).map(|t| (*r, *t)))
        .filter(|(_, t)| t.irradiance >= min_irradiance)
        .collect()
}

/// A plant where every device-day has a fault of `class`, and its fault-free twin.
fn faulty_and_twin(class: FaultClass, devices: usize) -> (Plant, Plant) {
    (
        plant(devices, ClassMix::only(class, 1.0)),
        plant(devices, ClassMix::NONE),
    )
}

#[test]
fn same_seed_same_readings_other_seed_other_readings() {
    let a = plant(4, ClassMix::default());
    let b = plant(4, ClassMix::default());
    let readings: Vec<Reading> = a.device_readings(2).collect();
    assert_eq!(readings, b.device_readings(2).collect::<Vec<_>>());
    assert_eq!(a.fault_events(), b.fault_events());
    let other = Plant::new(PlantConfig {
        devices: 4,
        seed: 43,
        ..PlantConfig::default()
    })
    .expect("valid config");
    let others: Vec<Reading> = other.device_readings(2).collect();
    assert_ne!(readings, others);
    // Not just shifted noise: the weather and losses differ too.
    let daylight = |rs: &[Reading]| {
        rs.iter()
            .filter(|r| r.irradiance > 0.0)
            .map(|r| r.ts_ms)
            .collect::<Vec<_>>()
    };
    assert_ne!(daylight(&readings), daylight(&others));
}

#[test]
fn a_device_does_not_depend_on_the_plant_size() {
    let small = plant(10, ClassMix::default());
    let large = plant(100, ClassMix::default());
    for device in [0, 7, 9] {
        assert_eq!(
            small.device_readings(device).collect::<Vec<_>>(),
            large.device_readings(device).collect::<Vec<_>>(),
            "device {device}"
        );
        assert_eq!(
            small.device_fault_events(device),
            large.device_fault_events(device)
        );
    }
    // Nor on generation order or threads.
    let in_thread = std::thread::scope(|scope| {
        scope
            .spawn(|| large.device_readings(7).collect::<Vec<_>>())
            .join()
            .expect("thread finishes")
    });
    assert_eq!(in_thread, small.device_readings(7).collect::<Vec<_>>());
}

#[test]
fn a_default_day_of_200_devices_holds_every_class() {
    let plant = Plant::new(PlantConfig::default()).expect("default config is valid");
    assert_eq!(plant.config().devices, 200);
    assert_eq!(plant.device_ids().len(), 200);
    assert_eq!(plant.device_ids()[0], "pv-00000");
    assert_eq!(plant.device_ids()[199], "pv-00199");
    assert_eq!(plant.readings_per_device(), 4320);

    let event_classes: HashSet<FaultClass> = plant.fault_events().iter().map(|e| e.class).collect();
    assert_eq!(event_classes.len(), 5, "{event_classes:?}");
    let labels = plant.window_labels(WINDOW_MS);
    let labelled: HashSet<FaultClass> = labels.iter().map(|l| l.fault).collect();
    assert_eq!(labelled, FaultClass::ALL.into_iter().collect());

    // Every window of every device, once, on the epoch-aligned grid: 86400 / 1280 = 67.5 -> 68.
    assert_eq!(labels.len(), 200 * 68);
    for label in &labels {
        assert_eq!(label.window_start_ms.rem_euclid(WINDOW_MS), 0);
    }
    // The label rule: a fault active for at least half the window.
    for label in &labels {
        let window_end = label.window_start_ms + WINDOW_MS;
        let qualifying = plant.device_fault_events(label.device).iter().find(|e| {
            2 * (e.end_ms.min(window_end) - e.onset_ms.max(label.window_start_ms)) >= WINDOW_MS
        });
        assert_eq!(
            qualifying.map_or(FaultClass::Normal, |e| e.class),
            label.fault,
            "{label:?}"
        );
    }
    // Faults fall in daylight and last at least 30 minutes, so each labels some window.
    for event in plant.fault_events() {
        assert!(event.end_ms - event.onset_ms >= 1_800_000);
        assert!(
            labels
                .iter()
                .any(|l| l.device == event.device && l.fault == event.class)
        );
        let noon = plant.config().start_ms + 12 * 3_600_000;
        assert!((event.onset_ms - noon).abs() < 10 * 3_600_000, "{event:?}");
    }
}

#[test]
fn readings_are_ordered_on_the_grid_with_gaps_and_duplicates() {
    let plant = plant(2, ClassMix::default());
    let config = plant.config();
    for device in 0..2 {
        let readings: Vec<Reading> = plant.device_readings(device).collect();
        assert!(readings.len() > 4000 && readings.len() < 4400);
        for pair in readings.windows(2) {
            assert!(pair[0].ts_ms <= pair[1].ts_ms);
            if pair[0].ts_ms == pair[1].ts_ms {
                assert_eq!(pair[0], pair[1], "a duplicate repeats the reading");
            }
        }
        for r in &readings {
            assert_eq!(r.device, device as u32);
            assert_eq!((r.ts_ms - config.start_ms) % 20_000, 0);
            assert!(r.ts_ms >= config.start_ms && r.ts_ms < config.end_ms());
            assert!(r.irradiance >= 0.0 && r.irradiance < 1600.0);
            assert!(r.voltage >= 0.0 && r.voltage < 200.0, "{r:?}");
            assert!(r.current >= 0.0 && r.current < 30.0, "{r:?}");
            assert!(r.temperature > 0.0 && r.temperature < 80.0, "{r:?}");
        }
        // Night: dark, no current; noon: producing.
        let at = |hours: i64| {
            readings
                .iter()
                .find(|r| r.ts_ms >= config.start_ms + hours * 3_600_000)
        };
        let night = at(2).expect("a night reading");
        assert_eq!(
            (night.irradiance, night.current, night.voltage),
            (0.0, 0.0, 0.0)
        );
        let noon = at(12).expect("a noon reading");
        assert!(noon.current > 1.0 && noon.voltage > 100.0, "{noon:?}");
    }
    assert_eq!(plant.device_readings(2).count(), 0, "unknown device");
    assert_eq!(plant.device_readings(usize::MAX).count(), 0);
    assert!(plant.device_fault_events(usize::MAX).is_empty());
}

/// Counts (lost, duplicated) readings of a plant's devices.
fn losses_and_duplicates(plant: &Plant) -> (f64, f64) {
    let mut delivered = 0usize;
    let mut duplicates = 0usize;
    for device in 0..plant.config().devices {
        let mut previous = None;
        for r in plant.device_readings(device) {
            delivered += 1;
            if previous == Some(r.ts_ms) {
                duplicates += 1;
            }
            previous = Some(r.ts_ms);
        }
    }
    let nominal = (plant.readings_per_device() * plant.config().devices) as f64;
    let lost = nominal - (delivered - duplicates) as f64;
    (lost / nominal, duplicates as f64 / nominal)
}

#[test]
fn lost_and_duplicated_readings_follow_the_configured_rates() {
    // 40 device-days: 172800 readings, so the default 0.5% / 0.1% are measured to +-0.05% / +-0.025%.
    let (lost, duplicated) = losses_and_duplicates(&plant(40, ClassMix::NONE));
    assert!((lost - 0.005).abs() < 0.0012, "lost {lost}");
    assert!(
        (duplicated - 0.001).abs() < 0.0005,
        "duplicated {duplicated}"
    );

    let mut config = PlantConfig {
        devices: 10,
        class_mix: ClassMix::NONE,
        ..PlantConfig::default()
    };
    config.sensors.missing_rate = 0.05;
    config.sensors.duplicate_rate = 0.02;
    let (lost, duplicated) = losses_and_duplicates(&Plant::new(config).expect("valid config"));
    assert!((lost - 0.05).abs() < 0.005, "lost {lost}");
    assert!((duplicated - 0.02).abs() < 0.003, "duplicated {duplicated}");
}

#[test]
fn invalid_configs_are_rejected_with_the_field_named() {
    let mut config = PlantConfig::default();
    config.sensors.duplicate_rate = -0.1;
    match Plant::new(config) {
        Err(SimulatorError::InvalidConfig { field, problem }) => {
            assert_eq!(field, "sensors.duplicate_rate");
            assert!(problem.contains("-0.1"), "{problem}");
        }
        other => panic!("negative duplicate rate accepted: {:?}", other.err()),
    }
    let misaligned = PlantConfig {
        start_ms: 1_750_464_000_001,
        ..PlantConfig::default()
    };
    let error = Plant::new(misaligned).err().expect("start off the grid");
    assert!(error.to_string().contains("`start_ms`"), "{error}");
}

#[test]
fn open_circuit_drops_a_third_of_the_current_at_the_same_voltage() {
    let (faulty, twin) = faulty_and_twin(FaultClass::OpenCircuit, 6);
    assert!(!faulty.fault_events().is_empty());
    for event in faulty.fault_events() {
        let pairs = paired_with_twin(&faulty, &twin, event, 300.0);
        let current = median(
            pairs
                .iter()
                .map(|(f, t)| f64::from(f.current / t.current))
                .collect(),
        );
        let voltage = median(
            pairs
                .iter()
                .map(|(f, t)| f64::from(f.voltage / t.voltage))
                .collect(),
        );
        assert!(
            (current - 2.0 / 3.0).abs() < 0.02,
            "{event:?}: current ratio {current}"
        );
        assert!(
            (voltage - 1.0).abs() < 0.02,
            "{event:?}: voltage ratio {voltage}"
        );
        // Same light: the irradiance sensor does not see the fault.
        assert!(pairs.iter().all(|(f, t)| f.irradiance == t.irradiance));
    }
}

#[test]
fn line_line_faults_lower_the_array_voltage() {
    let (faulty, twin) = faulty_and_twin(FaultClass::LineLine, 8);
    assert!(faulty.fault_events().len() >= 6);
    for event in faulty.fault_events() {
        let pairs = paired_with_twin(&faulty, &twin, event, 300.0);
        let voltage = median(
            pairs
                .iter()
                .map(|(f, t)| f64::from(f.voltage / t.voltage))
                .collect(),
        );
        let power = median(
            pairs
                .iter()
                .map(|(f, t)| f64::from(f.voltage * f.current / (t.voltage * t.current)))
                .collect(),
        );
        assert!(voltage < 0.95, "{event:?}: voltage ratio {voltage}");
        assert!(power < 0.95, "{event:?}: power ratio {power}");
    }
}

#[test]
fn line_ground_faults_leak_power() {
    let (faulty, twin) = faulty_and_twin(FaultClass::LineGround, 8);
    assert!(faulty.fault_events().len() >= 6);
    let mut powers = Vec::new();
    for event in faulty.fault_events() {
        let pairs = paired_with_twin(&faulty, &twin, event, 300.0);
        let power = median(
            pairs
                .iter()
                .map(|(f, t)| f64::from(f.voltage * f.current / (t.voltage * t.current)))
                .collect(),
        );
        assert!(power < 0.98, "{event:?}: power ratio {power}");
        assert!(matches!(
            event.parameters,
            FaultParameters::LineGround { .. }
        ));
        powers.push(power);
    }
    // Leaks through a few ohms cost much more than the weakest.
    assert!(median(powers) < 0.97);
}

#[test]
fn partial_shading_costs_power_under_clear_sky() {
    let (faulty, twin) = faulty_and_twin(FaultClass::PartialShading, 8);
    assert!(faulty.fault_events().len() >= 6);
    for event in faulty.fault_events() {
        let pairs = paired_with_twin(&faulty, &twin, event, 600.0);
        if pairs.len() < 20 {
            continue;
        }
        let power = median(
            pairs
                .iter()
                .map(|(f, t)| f64::from(f.voltage * f.current / (t.voltage * t.current)))
                .collect(),
        );
        assert!(power < 0.97, "{event:?}: power ratio {power}");
    }
}

/// Standard deviation of the relative change between consecutive readings with steady light.
fn short_term_voltage_variability(
    pairs: &[(Reading, Reading)],
    pick: impl Fn(&(Reading, Reading)) -> Reading,
) -> f64 {
    let changes: Vec<f64> = pairs
        .windows(2)
        .map(|w| (pick(&w[0]), pick(&w[1])))
        .filter(|(a, b)| {
            b.ts_ms - a.ts_ms == 20_000 && (b.irradiance / a.irradiance - 1.0).abs() < 0.02
        })
        .map(|(a, b)| f64::from(b.voltage / a.voltage) - 1.0)
        .collect();
    assert!(changes.len() > 20, "too few steady readings");
    (changes.iter().map(|c| c * c).sum::<f64>() / changes.len() as f64).sqrt()
}

#[test]
fn arc_faults_raise_short_term_variance() {
    let (faulty, twin) = faulty_and_twin(FaultClass::ArcFault, 6);
    assert!(faulty.fault_events().len() >= 4);
    for event in faulty.fault_events() {
        let pairs = paired_with_twin(&faulty, &twin, event, 300.0);
        let arcing = short_term_voltage_variability(&pairs, |(f, _)| *f);
        let healthy = short_term_voltage_variability(&pairs, |(_, t)| *t);
        assert!(arcing > 2.0 * healthy, "{event:?}: {arcing} vs {healthy}");
        let voltage = median(
            pairs
                .iter()
                .map(|(f, t)| f64::from(f.voltage / t.voltage))
                .collect(),
        );
        assert!(voltage < 1.0, "burning arcs drop voltage: {voltage}");
    }
}

const DESCRIBED: &str = r#"
[site]
name = "Sydney test field"
latitude = -33.87
longitude = 151.21
altitude_m = 40
time_zone = "Australia/Sydney"

[[array_type]]
name = "cdte-field"
module = "First Solar_ Inc. FS-6390"
modules_per_string = 6
strings = 1
tilt = 30
azimuth = 0
devices = ["fs-1", "fs-2"]

[[array_type]]
name = "long-strings"
module = "Canadian Solar Inc. CS1U-430MS"
modules_per_string = 20
strings = 4
tilt = 20
azimuth = 0
mounting = "close_mount"
device_range = { prefix = "cs-", first = 1, count = 3, digits = 2 }
"#;

/// A described plant: its devices by name, each array's voltage and current at its own scale,
/// faults on every design, southern seasons.
#[test]
fn described_plants_simulate_their_own_arrays() {
    let description = pvflow_plant::Plant::parse(DESCRIBED).expect("a valid description");
    // 2026-01-10: high summer in Sydney.
    let summer = PlantConfig {
        start_ms: 1_768_003_200_000,
        class_mix: ClassMix::NONE,
        ..PlantConfig::default()
    };
    let plant = Plant::described(summer.clone(), &description).expect("simulable");
    assert_eq!(
        plant.device_ids(),
        ["fs-1", "fs-2", "cs-01", "cs-02", "cs-03"]
    );
    assert_eq!(plant.config().devices, 5);
    assert_eq!(plant.device_design(2).map(|d| d.strings), Some(4));

    for (device, design) in [
        (0, &description.array_types[0]),
        (2, &description.array_types[1]),
    ] {
        let nameplate = design.nameplate();
        let noon: Vec<Reading> = plant
            .device_readings(device)
            .filter(|r| r.irradiance > 900.0 && r.current > 0.0)
            .collect();
        assert!(noon.len() > 100, "{device}: {} bright readings", noon.len());
        let voltage = median(noon.iter().map(|r| f64::from(r.voltage)).collect());
        let current = median(
            noon.iter()
                .map(|r| f64::from(r.current / r.irradiance))
                .collect(),
        );
        // Warm modules run below Vmp at STC; the current follows the light.
        let v_ratio = voltage / nameplate.v_mp;
        let i_ratio = current * 1000.0 / nameplate.i_mp;
        assert!((0.8..1.0).contains(&v_ratio), "{device}: V/Vmp {v_ratio}");
        assert!(
            (0.9..1.1).contains(&i_ratio),
            "{device}: I/Imp per kW/m2 {i_ratio}"
        );
    }

    // Faults strike every design, within its strings.
    let faulty = Plant::described(
        PlantConfig {
            class_mix: ClassMix::only(FaultClass::LineLine, 1.0),
            days: 3,
            ..summer.clone()
        },
        &description,
    )
    .expect("simulable");
    let events = faulty.fault_events();
    assert_eq!(events.len(), 15, "one fault per device-day");
    for event in events {
        let design = faulty.device_design(event.device).expect("a known device");
        let FaultParameters::LineLine {
            string,
            first_module,
            modules,
            ..
        } = event.parameters
        else {
            panic!("{event:?}");
        };
        assert!(usize::from(string) < design.strings);
        assert!(usize::from(first_module + modules) <= design.modules_per_string);
    }

    // Six months later it is winter: colder modules at the same light.
    let winter = Plant::described(
        PlantConfig {
            start_ms: summer.start_ms + 181 * 86_400_000,
            ..summer
        },
        &description,
    )
    .expect("simulable");
    let night_temperature = |plant: &Plant| {
        median(
            plant
                .device_readings(0)
                .filter(|r| r.irradiance == 0.0)
                .map(|r| f64::from(r.temperature))
                .collect(),
        )
    };
    let (warm, cold) = (night_temperature(&plant), night_temperature(&winter));
    assert!(
        warm - cold > 8.0,
        "summer nights {warm} C, winter nights {cold} C"
    );
}

#[test]
fn descriptions_the_simulator_cannot_build_are_refused() {
    let example = include_str!("../../plant/examples/plant.toml");
    // The example simulates, its datasheet module fitted; one no single diode fits does not.
    let description = pvflow_plant::Plant::parse(example).expect("valid");
    assert!(Plant::described(PlantConfig::default(), &description).is_ok());
    let square = example
        .replace("stc_w = 550", "stc_w = 685")
        .replace("v_mp = 41.9", "v_mp = 49.4")
        .replace("i_mp = 13.13", "i_mp = 13.86");
    let description = pvflow_plant::Plant::parse(&square).expect("valid");
    let error = Plant::described(PlantConfig::default(), &description)
        .err()
        .expect("no single diode fits a square I-V curve");
    assert!(
        matches!(error, SimulatorError::UnsupportedDesign { ref design, .. } if design == "carport-550"),
        "{error}"
    );
}
