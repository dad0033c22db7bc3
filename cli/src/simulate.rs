//! `pvflow simulate`: a physics-based PV plant publishing its readings to Kafka (or writing them
//! to a Parquet file), with the ground truth written to Parquet; `pvflow simulate module`: the
//! healthy module's electrical points.

use crate::Failure;
use anyhow::{Context, anyhow};
use chrono::NaiveDate;
use clap::{Args, Subcommand, ValueEnum};
use datafusion::arrow::array::{
    ArrayRef, Float32Array, Int32Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use indicatif::{ProgressBar, ProgressStyle};
use pvflow_kafka::{AvroFraming, PvReading, ReadingProducer, create_topic, reading_schema};
use pvflow_session::PvflowConfig;
use pvflow_simulator::{Plant, PlantConfig, SensorConfig, module_point};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The classification window: 64 readings of 20 s on the epoch-aligned grid.
const WINDOW_MS: i64 = pvflow_udfs::WINDOW_SECONDS * 1000;

pub const AFTER_HELP: &str = "\
The plant: each device is a 5x3 array of CEC single-diode modules with bypass diodes behind an
MPPT inverter, under a clear-sky day with passing clouds, or with --plant the devices of a plant
description (plant/examples/plant.toml), each its array type's modules and strings, facing and
mounted as it says, at its site with seasons for its latitude; faults of six classes (line-line,
line-ground, open circuit, partial shading, arc fault, plus normal) strike some devices in
daylight. Readings go to Kafka in time order (key = device id, message timestamp = reading time,
value = Avro PvReading in single-object encoding); the label of every 64-reading window goes to
--truth. The same --seed gives the same plant, byte for byte.

--output-parquet writes the same readings (the Kafka table's columns: device_id, ts, voltage,
current, temperature, irradiance) to one Parquet file instead, device by device: the model's
training data comes from this path, so it is the data pvflow scores, not a re-implementation.
--sensors clean turns off noise, lost and duplicated readings (the values keep the sensors'
quantisation steps); --noise, --missing-rate and --duplicate-rate override either preset.
--sensor-failures F gives a share F of device-days a failing sensor or clock while the array is fine
(the truth's sensor_failure column names it; pvflow should flag those windows, not call them
PV faults).

--live-minutes N publishes as a running plant does, for N minutes from now: the plant starts at
the current 20 s step (wall-clock time, not a date's midnight) and each step's readings are
published when the clock reaches their time, at the fleet's real rate (devices / 20 readings per
second). It drives `pvflow stream` at a live rate (bench/stream-live.sh); a day's fault timing
(faults strike from 7 to 17 h after the start) makes a short live run mostly healthy.

Examples:
  pvflow simulate --brokers 127.0.0.1:9092 --devices 200 --start 2026-01-01 --truth truth.parquet
  pvflow simulate --output-parquet readings.parquet --truth truth.parquet --devices 50 \
      --sensors clean --clear-day-probability 0.1 --clouds-per-hour 4
  pvflow simulate --brokers 127.0.0.1:9092 --devices 100000 --live-minutes 30
  pvflow simulate --plant plant.toml --output-parquet readings.parquet --truth truth.parquet
  pvflow simulate module --irradiance 1000 --cell-temp 25 --json";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SimulateArgs {
    #[command(subcommand)]
    pub command: Option<SimulateCommand>,

    #[command(flatten)]
    pub plant: PlantArgs,
}

#[derive(Debug, Subcommand)]
pub enum SimulateCommand {
    /// Print the healthy default module's Isc, Voc, Imp, Vmp and Pmp (CS6P-250P, CEC model)
    Module(ModuleArgs),
}

#[derive(Debug, Args)]
pub struct ModuleArgs {
    /// Effective irradiance on the module, W/m2
    #[arg(long, value_name = "W_M2")]
    pub irradiance: f64,
    /// Cell temperature, degrees C
    #[arg(long, value_name = "C")]
    pub cell_temp: f64,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PlantArgs {
    /// Kafka bootstrap servers, host:port[,host:port] (default: [kafka] brokers, PVFLOW_KAFKA_BROKERS)
    #[arg(long, value_name = "HOSTS")]
    pub brokers: Option<String>,
    /// Topic to publish to (default: [kafka] topic, else pv.readings)
    #[arg(long)]
    pub topic: Option<String>,
    /// Partitions of the topic when pvflow creates it
    #[arg(long, default_value_t = 8)]
    pub partitions: i32,
    /// Write the readings to this Parquet file instead of publishing them to Kafka
    #[arg(long, value_name = "PATH", conflicts_with_all = ["brokers", "topic"])]
    pub output_parquet: Option<PathBuf>,
    /// Sensor realism: `realistic` (noise, quantisation, lost and duplicated readings) or
    /// `clean` (quantisation only)
    #[arg(long, value_enum, default_value_t = SensorPreset::Realistic)]
    pub sensors: SensorPreset,
    /// Relative gaussian noise on voltage, current and irradiance (overrides --sensors)
    #[arg(long, value_name = "FRACTION")]
    pub noise: Option<f64>,
    /// Probability that a reading is lost (overrides --sensors)
    #[arg(long, value_name = "FRACTION")]
    pub missing_rate: Option<f64>,
    /// Probability that a reading is delivered twice (overrides --sensors)
    #[arg(long, value_name = "FRACTION")]
    pub duplicate_rate: Option<f64>,
    /// Share of device-days with a sensor failure: a frozen or dropped channel, a temperature
    /// offset or drift, a soiled or shaded irradiance sensor, a clock jump (default 0)
    #[arg(long, value_name = "FRACTION")]
    pub sensor_failures: Option<f64>,
    /// Share of days without clouds (default 0.3)
    #[arg(long, value_name = "FRACTION")]
    pub clear_day_probability: Option<f64>,
    /// Mean number of clouds passing per hour over all days (default 2)
    #[arg(long, value_name = "RATE")]
    pub clouds_per_hour: Option<f64>,
    /// Number of devices (PV arrays)
    #[arg(long, default_value_t = 200)]
    pub devices: usize,
    /// Simulate the plant this description (plant.toml) describes: its devices, arrays and site
    #[arg(long, value_name = "PLANT_TOML", conflicts_with = "devices")]
    pub plant: Option<PathBuf>,
    /// First day, YYYY-MM-DD (UTC)
    #[arg(long, value_name = "DATE", default_value = "2026-01-01", value_parser = pvflow_runner::parse_date)]
    pub start: NaiveDate,
    /// Number of days
    #[arg(long, default_value_t = 1)]
    pub days: u32,
    /// Publish live for this many minutes from now, each reading when the clock reaches its
    /// time, instead of --start and --days as fast as possible
    #[arg(long, value_name = "MINUTES", conflicts_with_all = ["start", "days", "output_parquet"],
          value_parser = clap::value_parser!(u32).range(1..=14_400))]
    pub live_minutes: Option<u32>,
    /// Seconds between readings
    #[arg(long, default_value_t = 20)]
    pub interval: u32,
    /// Random seed: the same seed gives the same plant
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Fraction of devices with a fault of each class, as class=fraction pairs, e.g.
    /// line_line=0.05,arc_fault=0.1 (unnamed classes keep their default)
    #[arg(long, value_name = "MIX")]
    pub class_mix: Option<String>,
    /// Write the ground truth (device_id, window_start, fault_code, fault_label) here
    #[arg(long, value_name = "PATH")]
    pub truth: Option<PathBuf>,
}

/// How imperfect the sensors are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SensorPreset {
    /// The simulator's defaults: 0.5 % noise, 0.2 C temperature noise, 0.5 % lost and 0.1 %
    /// duplicated readings.
    Realistic,
    /// No noise, no lost or duplicated readings; values keep the quantisation steps.
    Clean,
}

pub async fn run(config: &PvflowConfig, args: SimulateArgs) -> Result<(), Failure> {
    match args.command {
        Some(SimulateCommand::Module(m)) => print_module(&m),
        None => tokio::task::spawn_blocking({
            let config = config.clone();
            move || simulate(&config, args.plant)
        })
        .await
        .map_err(|e| Failure::io(anyhow!("simulation thread failed: {e}")))?,
    }
}

fn print_module(args: &ModuleArgs) -> Result<(), Failure> {
    if !(args.irradiance.is_finite() && args.irradiance >= 0.0) {
        return Err(Failure::usage(anyhow!(
            "--irradiance must be a non-negative number of W/m2"
        )));
    }
    if !(args.cell_temp.is_finite() && (-60.0..=120.0).contains(&args.cell_temp)) {
        return Err(Failure::usage(anyhow!(
            "--cell-temp must be between -60 and 120 C"
        )));
    }
    let p = module_point(args.irradiance, args.cell_temp);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "irradiance_w_m2": args.irradiance, "cell_temp_c": args.cell_temp,
                "i_sc": p.i_sc, "v_oc": p.v_oc, "i_mp": p.i_mp, "v_mp": p.v_mp, "p_mp": p.p_mp,
            })
        );
    } else {
        println!(
            "CS6P-250P at {} W/m2, {} C",
            args.irradiance, args.cell_temp
        );
        println!(
            "  Isc {:>8.4} A\n  Voc {:>8.4} V\n  Imp {:>8.4} A\n  Vmp {:>8.4} V\n  Pmp {:>8.3} W",
            p.i_sc, p.v_oc, p.i_mp, p.v_mp, p.p_mp
        );
    }
    Ok(())
}

fn plant_config(args: &PlantArgs) -> Result<PlantConfig, Failure> {
    let (start_ms, days) = match args.live_minutes {
        // From the next step of the grid; whole days are simulated, the rest never published.
        Some(minutes) => {
            let interval_ms = i64::from(args.interval.max(1)) * 1000;
            let now_ms = wall_ms();
            (
                (now_ms + interval_ms - 1).div_euclid(interval_ms) * interval_ms,
                minutes.div_ceil(24 * 60),
            )
        }
        None => (
            args.start
                .and_time(chrono::NaiveTime::MIN)
                .and_utc()
                .timestamp_millis(),
            args.days,
        ),
    };
    let mut config = PlantConfig {
        seed: args.seed,
        devices: args.devices,
        start_ms,
        days,
        interval_s: args.interval,
        ..PlantConfig::default()
    };
    if args.sensors == SensorPreset::Clean {
        config.sensors = SensorConfig {
            relative_noise: 0.0,
            temperature_noise_c: 0.0,
            missing_rate: 0.0,
            duplicate_rate: 0.0,
            ..SensorConfig::default()
        };
    }
    if let Some(noise) = args.noise {
        config.sensors.relative_noise = noise;
    }
    if let Some(rate) = args.missing_rate {
        config.sensors.missing_rate = rate;
    }
    if let Some(rate) = args.duplicate_rate {
        config.sensors.duplicate_rate = rate;
    }
    if let Some(rate) = args.sensor_failures {
        config.sensors.failure_rate = rate;
    }
    if let Some(p) = args.clear_day_probability {
        config.weather.clear_day_probability = p;
    }
    if let Some(rate) = args.clouds_per_hour {
        config.weather.cloud_events_per_hour = rate;
    }
    if let Some(mix) = &args.class_mix {
        for pair in mix.split(',').filter(|p| !p.trim().is_empty()) {
            let (name, value) = pair.split_once('=').ok_or_else(|| {
                Failure::usage(anyhow!("--class-mix: {pair:?} is not class=fraction"))
            })?;
            let fraction: f64 = value
                .trim()
                .parse()
                .map_err(|_| Failure::usage(anyhow!("--class-mix: {value:?} is not a number")))?;
            let slot = match name.trim() {
                "line_line" => &mut config.class_mix.line_line,
                "line_ground" => &mut config.class_mix.line_ground,
                "open_circuit" => &mut config.class_mix.open_circuit,
                "partial_shading" => &mut config.class_mix.partial_shading,
                "arc_fault" => &mut config.class_mix.arc_fault,
                other => {
                    return Err(Failure::usage(anyhow!(
                        "--class-mix: unknown class {other:?}; use line_line, line_ground, open_circuit, partial_shading, arc_fault"
                    )));
                }
            };
            *slot = fraction;
        }
    }
    config.validate().map_err(Failure::usage)?;
    Ok(config)
}

pub(crate) fn simulate(config: &PvflowConfig, args: PlantArgs) -> Result<(), Failure> {
    let plant = match &args.plant {
        Some(path) => {
            let description = pvflow_plant::Plant::load(path)
                .with_context(|| format!("--plant {}", path.display()))
                .map_err(Failure::usage)?;
            Plant::described(plant_config(&args)?, &description)
                .with_context(|| format!("--plant {}", path.display()))
                .map_err(Failure::usage)?
        }
        None => Plant::new(plant_config(&args)?).map_err(Failure::usage)?,
    };
    let plant_config = plant.config();
    let expected = match args.live_minutes {
        Some(minutes) => u64::from(minutes) * 60 / u64::from(args.interval.max(1)),
        None => plant.readings_per_device() as u64,
    } * plant_config.devices as u64;
    let progress = ProgressBar::new(expected).with_style(
        ProgressStyle::with_template(
            "{spinner} simulating {pos}/{len} readings {bar:30} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let (written, destination) = match &args.output_parquet {
        Some(path) => {
            let written = write_readings(&plant, path, &progress).map_err(Failure::io)?;
            (written, path.display().to_string())
        }
        None => publish_readings(config, &args, &plant, &progress)?,
    };
    progress.finish_and_clear();
    let elapsed = started.elapsed();

    let mut by_class: BTreeMap<&str, usize> = BTreeMap::new();
    for e in plant.fault_events() {
        *by_class.entry(e.class.label()).or_default() += 1;
    }
    let verb = if args.output_parquet.is_some() {
        "wrote"
    } else {
        "published"
    };
    println!(
        "{verb} {written} readings of {} devices to {destination} in {:.1} s ({:.0} readings/s)",
        plant_config.devices,
        elapsed.as_secs_f64(),
        written as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    println!("fault events: {by_class:?}");
    if !plant.sensor_failure_events().is_empty() {
        let mut by_failure: BTreeMap<String, usize> = BTreeMap::new();
        for e in plant.sensor_failure_events() {
            *by_failure.entry(e.failure.label()).or_default() += 1;
        }
        println!("sensor failures: {by_failure:?}");
    }
    if let Some(path) = &args.truth {
        let windows = write_truth(&plant, path).map_err(Failure::io)?;
        println!("ground truth: {windows} windows -> {}", path.display());
    }
    Ok(())
}

/// Milliseconds since the Unix epoch, by the wall clock.
fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Publishes the plant's readings to Kafka; returns how many were delivered and where.
fn publish_readings(
    config: &PvflowConfig,
    args: &PlantArgs,
    plant: &Plant,
    progress: &ProgressBar,
) -> Result<(u64, String), Failure> {
    let brokers = args
        .brokers
        .clone()
        .or_else(|| config.kafka.brokers.clone())
        .ok_or_else(|| {
            Failure::usage(anyhow!(
                "no Kafka brokers: pass --brokers host:port (or --output-parquet PATH) or set PVFLOW_KAFKA_BROKERS"
            ))
        })?;
    let topic = args
        .topic
        .clone()
        .unwrap_or_else(|| config.kafka.topic.clone());
    let client = BTreeMap::new();

    let runtime = tokio::runtime::Handle::current();
    runtime
        .block_on(create_topic(
            &brokers,
            &topic,
            args.partitions,
            &client,
            Duration::from_secs(10),
        ))
        .map_err(Failure::io)?;
    let mut producer = ReadingProducer::new(&brokers, &topic, AvroFraming::SingleObject, &client)
        .map_err(Failure::io)?;

    let plant_config = plant.config();
    let ids = plant.device_ids();
    let mut devices: Vec<_> = (0..plant_config.devices)
        .map(|d| plant.device_readings(d).peekable())
        .collect();
    let mut reading = PvReading {
        device_id: String::new(),
        ts: 0,
        voltage: 0.0,
        current: 0.0,
        temperature: 0.0,
        irradiance: 0.0,
    };
    let mut sent = 0u64;
    // Time-major order, as a plant's gateways publish: Kafka's time index (and pvflow's
    // time-bounded scans) assume timestamps grow within a partition.
    let step = plant_config.interval_ms();
    let mut t = plant_config.start_ms;
    let end_ms = match args.live_minutes {
        Some(minutes) => t + i64::from(minutes) * 60_000,
        None => plant_config.end_ms(),
    };
    while t < end_ms {
        if args.live_minutes.is_some() {
            // The step's readings leave when the clock reaches their time.
            let ahead = t - wall_ms();
            if ahead > 0 {
                std::thread::sleep(Duration::from_millis(ahead as u64));
            }
        }
        for device in devices.iter_mut() {
            while let Some(r) = device.next_if(|r| r.ts_ms < t + step) {
                reading.device_id.clear();
                reading.device_id.push_str(&ids[r.device as usize]);
                reading.ts = r.ts_ms;
                (
                    reading.voltage,
                    reading.current,
                    reading.temperature,
                    reading.irradiance,
                ) = (r.voltage, r.current, r.temperature, r.irradiance);
                producer.send(&reading).map_err(Failure::io)?;
                sent += 1;
            }
        }
        progress.set_position(sent.min(progress.length().unwrap_or(u64::MAX)));
        t += step;
    }
    let report = producer
        .finish(Duration::from_secs(60))
        .map_err(Failure::io)?;
    if report.failed > 0 || report.delivered != sent {
        return Err(Failure::io(anyhow!(
            "{} of {sent} readings were not delivered to {topic}: {}",
            sent - report.delivered.min(sent),
            report
                .first_error
                .unwrap_or_else(|| "no error reported".into())
        )));
    }
    Ok((sent, format!("{topic} on {brokers}")))
}

/// Rows per Parquet row group batch: a few devices' days, small enough to keep memory flat.
const PARQUET_BATCH_ROWS: usize = 65_536;

/// The readings as one Parquet file with the Kafka table's reading columns, device by device,
/// written beside and renamed into place when complete. Returns the number of readings.
fn write_readings(plant: &Plant, path: &Path, progress: &ProgressBar) -> anyhow::Result<u64> {
    let schema = reading_schema();
    let partial = path.with_extension("parquet.partial");
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut writer = ArrowWriter::try_new(file, Arc::clone(&schema), None)?;
    let ids = plant.device_ids();
    let mut rows = ReadingColumns::default();
    let mut written = 0u64;
    for device in 0..plant.config().devices {
        for r in plant.device_readings(device) {
            rows.push(&ids[r.device as usize], r);
            if rows.len() == PARQUET_BATCH_ROWS {
                written += rows.len() as u64;
                writer.write(&rows.take_batch(&schema)?)?;
                progress.set_position(written);
            }
        }
    }
    written += rows.len() as u64;
    writer.write(&rows.take_batch(&schema)?)?;
    writer
        .close()
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("cannot move {} to {}", partial.display(), path.display()))?;
    Ok(written)
}

/// Readings gathered column by column for the next Parquet batch.
#[derive(Default)]
struct ReadingColumns {
    device_id: Vec<String>,
    ts_ms: Vec<i64>,
    voltage: Vec<f32>,
    current: Vec<f32>,
    temperature: Vec<f32>,
    irradiance: Vec<f32>,
}

impl ReadingColumns {
    fn push(&mut self, device_id: &str, r: pvflow_simulator::Reading) {
        self.device_id.push(device_id.to_owned());
        self.ts_ms.push(r.ts_ms);
        self.voltage.push(r.voltage);
        self.current.push(r.current);
        self.temperature.push(r.temperature);
        self.irradiance.push(r.irradiance);
    }

    fn len(&self) -> usize {
        self.ts_ms.len()
    }

    /// The gathered rows as a batch of `schema`, leaving the columns empty.
    fn take_batch(&mut self, schema: &Arc<Schema>) -> anyhow::Result<RecordBatch> {
        let taken = std::mem::take(self);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(taken.device_id)),
            Arc::new(TimestampMillisecondArray::from(taken.ts_ms).with_timezone("UTC")),
            Arc::new(Float32Array::from(taken.voltage)),
            Arc::new(Float32Array::from(taken.current)),
            Arc::new(Float32Array::from(taken.temperature)),
            Arc::new(Float32Array::from(taken.irradiance)),
        ];
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}

/// Window labels as Parquet, written beside and renamed into place when complete.
fn write_truth(plant: &Plant, path: &Path) -> anyhow::Result<usize> {
    let labels = plant.window_labels(WINDOW_MS);
    let ids = plant.device_ids();
    let schema = Arc::new(Schema::new(vec![
        Field::new("device_id", DataType::Utf8, false),
        Field::new(
            "window_start",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("fault_code", DataType::Int32, false),
        Field::new("fault_label", DataType::Utf8, false),
        Field::new("sensor_failure", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            labels.iter().map(|l| ids[l.device].as_str()),
        )),
        Arc::new(
            TimestampMillisecondArray::from_iter_values(labels.iter().map(|l| l.window_start_ms))
                .with_timezone("UTC"),
        ),
        Arc::new(Int32Array::from_iter_values(
            labels.iter().map(|l| i32::from(l.fault.code())),
        )),
        Arc::new(StringArray::from_iter_values(
            labels.iter().map(|l| l.fault.label()),
        )),
        Arc::new(StringArray::from_iter(
            labels.iter().map(|l| l.sensor_failure.map(|f| f.label())),
        )),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
    let partial = path.with_extension("parquet.partial");
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut writer = ArrowWriter::try_new(file, schema, None)?;
    writer.write(&batch)?;
    writer.close()?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("cannot move {} to {}", partial.display(), path.display()))?;
    Ok(labels.len())
}
