//! Generator throughput, single-threaded: readings per second for one device-day (4320
//! readings at 20 s), healthy and through a day with a partial-shading fault. Operating tables
//! are built before measuring (a one-off per plant).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pvflow_simulator::{ClassMix, FaultClass, Plant, PlantConfig};
use std::hint::black_box;

fn plant(class_mix: ClassMix) -> Plant {
    Plant::new(PlantConfig {
        devices: 1,
        class_mix,
        ..PlantConfig::default()
    })
    .expect("valid benchmark config")
}

fn device_day(c: &mut Criterion) {
    let mut group = c.benchmark_group("device_day");
    for class in [
        FaultClass::Normal,
        FaultClass::PartialShading,
        FaultClass::ArcFault,
    ] {
        let plant = plant(ClassMix::only(class, 1.0));
        // Count what a consumer receives; folding the values keeps them from being optimised out.
        let run = || {
            plant
                .device_readings(0)
                .fold((0u64, 0.0f32), |(n, sum), r| {
                    (n + 1, sum + r.voltage + r.current)
                })
        };
        let (readings, _) = run();
        group.throughput(Throughput::Elements(readings));
        group.bench_function(class.label(), |b| b.iter(|| black_box(run())));
    }
    group.finish();
}

criterion_group!(benches, device_day);
criterion_main!(benches);
