//! CWT throughput, single-threaded: `bench/cwt.sh` runs this next to PyWavelets and prints the
//! comparison recorded in docs/benchmarks.md.
//!
//! Groups (criterion ids are `group/function/parameter`):
//! - `cwt_window`: 64-sample windows, 64 scales, per channel-window (the pipeline's shape).
//! - `cwt_device_day`: one 4320-sample series (a device-day at 20 s), 64 scales.
//! - `pv_scalogram`: whole 4x64x64 images through the SQL function, per window.
//! - `sgemm_roof`: the same matrix kernel on a large square product, the machine's f32 rate.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use datafusion::arrow::array::{ArrayRef, ListArray};
use datafusion::arrow::datatypes::{DataType, Field, Float32Type};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};
use pvflow_udfs::{CwtFloat, DenseCwt, PvScalogram, cwt, scalogram_type};
use std::hint::black_box;
use std::sync::Arc;

fn series<T: CwtFloat>(len: usize, seed: usize) -> Vec<T> {
    (0..len)
        .map(|i| T::from_f64(((i * 7 + seed * 13) % 29) as f64 * 0.1 + (i as f64 * 0.37).sin()))
        .collect()
}

fn cwt_window<T: CwtFloat>(c: &mut Criterion, precision: &str) {
    let mut group = c.benchmark_group("cwt_window");
    let dense = DenseCwt::<T>::get(64, 64);
    for windows in [1usize, 1024] {
        let input = series::<T>(64 * windows, windows);
        let mut out = vec![T::default(); windows * dense.output_len()];
        group.throughput(Throughput::Elements(windows as u64));
        group.bench_function(BenchmarkId::new(precision, windows), |b| {
            b.iter(|| dense.transform(black_box(&input), windows, &mut out, dense.output_len()))
        });
    }
    group.finish();
}

fn cwt_device_day(c: &mut Criterion) {
    let mut group = c.benchmark_group("cwt_device_day");
    group.sample_size(20);
    group.throughput(Throughput::Elements(1));
    let x64 = series::<f64>(4320, 1);
    let x32 = series::<f32>(4320, 1);
    group.bench_function("f64", |b| b.iter(|| cwt(black_box(&x64), 64)));
    group.bench_function("f32", |b| b.iter(|| cwt(black_box(&x32), 64)));
    group.finish();
}

fn pv_scalogram(c: &mut Criterion) {
    let windows = 1024;
    let udf = ScalarUDF::from(PvScalogram::default());
    let list = |seed: usize| -> ArrayRef {
        let values = series::<f32>(64 * windows, seed);
        Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(
            values
                .chunks(64)
                .map(|w| Some(w.iter().copied().map(Some).collect::<Vec<_>>())),
        ))
    };
    let args: Vec<ArrayRef> = (0..4).map(list).collect();
    let item = Arc::new(Field::new_list_field(DataType::Float32, true));
    let arg_fields: Vec<_> = (0..4)
        .map(|i| {
            Arc::new(Field::new(
                format!("c{i}"),
                DataType::List(item.clone()),
                true,
            ))
        })
        .collect();
    let return_field = Arc::new(Field::new("s", scalogram_type(), true));
    let config = Arc::new(ConfigOptions::default());
    let mut group = c.benchmark_group("pv_scalogram");
    group.throughput(Throughput::Elements(windows as u64));
    group.bench_function(BenchmarkId::new("f32", windows), |b| {
        b.iter(|| {
            udf.invoke_with_args(ScalarFunctionArgs {
                args: args.iter().cloned().map(ColumnarValue::Array).collect(),
                arg_fields: arg_fields.clone(),
                number_rows: windows,
                return_field: return_field.clone(),
                config_options: config.clone(),
            })
            .expect("scalograms")
        })
    });
    group.finish();
}

fn sgemm_roof(c: &mut Criterion) {
    let n = 1024;
    let a = series::<f32>(n * n, 3);
    let b = series::<f32>(n * n, 5);
    let mut out = vec![0f32; n * n];
    let mut group = c.benchmark_group("sgemm_roof");
    group.sample_size(10);
    // One element = one multiply-add.
    group.throughput(Throughput::Elements((n * n * n) as u64));
    group.bench_function(BenchmarkId::new("f32", n), |bench| {
        bench.iter(|| f32::matmul(black_box(&a), n, n, black_box(&b), n, &mut out, n))
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    cwt_window::<f32>(c, "f32");
    cwt_window::<f64>(c, "f64");
    cwt_device_day(c);
    pv_scalogram(c);
    sgemm_roof(c);
}

criterion_group!(cwt_benches, benches);
criterion_main!(cwt_benches);
