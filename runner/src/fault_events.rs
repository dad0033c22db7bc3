//! Predict's fault episodes: the day's gold windows, device by device in time order, through the
//! rules of [`pvflow_episodes`] (the stream's too), going on from where the previous day's run
//! left each device. Staged beside gold and committed with it, so a re-run replaces the day's
//! episodes with gold.
//!
//! - `fault_events` (`<gold>/_fault_events/`): one row per episode and day it was open on: the
//!   episodes closed that day (`state` = `closed`) and those still open at its end (`open`), each
//!   as of that moment. An episode over three days has three rows; its latest is what it is now.
//! - `_episode_state` (`<gold>/_episode_state/`): the devices with a fault run under way or an
//!   episode open at the day's end, as JSON, which the next day's run starts from. Without it
//!   (no predict run for the previous day) every device starts afresh, with a warning (unless
//!   no run ever committed episodes).
//!
//! Only devices with a fault window that day, or carried over, are read back: a device whose
//! windows are all normal and which starts idle stays idle.

use crate::params::{DatasetRoot, RunParams};
use crate::run::{Result, Stages};
use crate::staged::{Staged, register_parquet_files, side_output, staging_target};
use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Field, Float32Type, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit,
};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use pvflow_dataset::layout::{self, DATE_COLUMN};
use pvflow_dataset::{DeltaLog, open_root, path_under};
use pvflow_episodes::{DeviceEpisodes, Episode, EpisodeRules, EventKind, Window, energy_lost_wh};
use pvflow_udfs::WINDOW_SECONDS;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

/// The day's windows that matter to episodes, one device after another in time order: the
/// diagnosis' class and probability, the mean irradiance (daylight or not) and the energy the
/// window lost against PVWatts' expectation.
fn windows_sql() -> String {
    "SELECT device_id,
            window_start,
            fault_label,
            array_element(probabilities, fault_code + 1) AS probability,
            irradiance_mean,
            expected_power_w,
            measured_power_w
     FROM day_of_gold
     ORDER BY device_id, window_start"
        .into()
}

/// `fault_events`' columns, the partition column last.
pub fn fault_events_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let time = || DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        Arc::new(Schema::new(vec![
            Field::new("episode_id", DataType::Utf8, false),
            Field::new("device_id", DataType::Utf8, false),
            Field::new("fault_label", DataType::Utf8, false),
            Field::new("severity", DataType::Utf8, false),
            Field::new("state", DataType::Utf8, false),
            Field::new("first_window_start", time(), false),
            Field::new("last_window_start", time(), false),
            Field::new("closed_by_window_start", time(), true),
            Field::new("duration_seconds", DataType::Int64, false),
            Field::new("windows", DataType::Int64, false),
            Field::new("mean_probability", DataType::Float64, false),
            Field::new("energy_lost_kwh", DataType::Float64, false),
            Field::new("run_id", DataType::Utf8, false),
            Field::new(DATE_COLUMN, DataType::Date32, false),
        ]))
    });
    Arc::clone(&SCHEMA)
}

fn episode_state_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("device_id", DataType::Utf8, false),
            Field::new("state", DataType::Utf8, false),
            Field::new("run_id", DataType::Utf8, false),
            Field::new(DATE_COLUMN, DataType::Date32, false),
        ]))
    });
    Arc::clone(&SCHEMA)
}

/// An episode as of the day's end or its close.
struct EpisodeRow {
    device_id: String,
    episode: Episode,
    /// The window that closed it; `None` while it is open.
    closed_by_ms: Option<i64>,
}

/// The day's episodes and the devices' state at its end, as they are found.
#[derive(Default)]
struct DayEpisodes {
    rows: Vec<EpisodeRow>,
    state: Vec<(String, String)>,
}

impl DayEpisodes {
    /// Records a device whose day is over: its episode still open, and its state if it has one.
    fn device_done(&mut self, device_id: &str, device: &DeviceEpisodes) -> Result<()> {
        if let Some(open) = device.open_episode() {
            self.rows.push(EpisodeRow {
                device_id: device_id.to_string(),
                episode: open.clone(),
                closed_by_ms: None,
            });
        }
        if !device.is_idle() {
            let json = serde_json::to_string(device)
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            self.state.push((device_id.to_string(), json));
        }
        Ok(())
    }
}

/// Finds the day's episodes in staged `gold` and stages `fault_events` and `_episode_state`.
pub(crate) async fn stage_episodes(
    ctx: &SessionContext,
    params: &RunParams,
    stages: &mut Stages<'_>,
    gold: &Staged,
) -> Result<Vec<Staged>> {
    let date = params.date.to_string();
    let carried = carried_state(ctx, &params.gold, params.date).await?;
    let urls = gold
        .output
        .files
        .iter()
        .map(|f| params.gold.join(&f.path))
        .collect();
    let day = find_episodes(ctx, urls, carried, &params.episodes).await?;

    let counts = stages.counts();
    counts.episodes_closed =
        Some(day.rows.iter().filter(|r| r.closed_by_ms.is_some()).count() as i64);
    counts.episodes_open =
        Some(day.rows.iter().filter(|r| r.closed_by_ms.is_none()).count() as i64);

    let run_id = stages.run_id().to_string();
    let events = fault_events_batch(&day.rows, &run_id)?;
    let state = state_batch(&day.state, &run_id)?;
    let mut staged = Vec::with_capacity(2);
    for (dataset, root, schema, batch) in [
        (
            "fault_events",
            layout::fault_events_root(params.gold.url()),
            fault_events_schema(),
            events,
        ),
        (
            "episode_state",
            layout::episode_state_root(params.gold.url()),
            episode_state_schema(),
            state,
        ),
    ] {
        let root = DatasetRoot::parse("gold", &root)?;
        staged.push(stage_batch(ctx, stages, dataset, &root, schema, batch, &date).await?);
    }
    Ok(staged)
}

/// The episodes in gold's files `urls` (a day of it), each device going on from its `carried`
/// state.
async fn find_episodes(
    ctx: &SessionContext,
    urls: Vec<String>,
    mut carried: BTreeMap<String, DeviceEpisodes>,
    rules: &EpisodeRules,
) -> Result<DayEpisodes> {
    let mut day = DayEpisodes::default();
    if urls.is_empty() {
        for (id, state) in &carried {
            day.device_done(id, state)?;
        }
        return Ok(day);
    }
    register_parquet_files(ctx, "day_of_gold", urls).await?;

    // Sorted by device and time (a sort that spills), then taken a device at a time: a window
    // function over the day (which device had a fault) would hold the whole day in one batch.
    let mut stream = ctx.sql(&windows_sql()).await?.execute_stream().await?;
    let mut current: Option<(String, Vec<DayWindow>)> = None;
    while let Some(batch) = stream.try_next().await? {
        let column = |name: &str, to: &DataType| -> DfResult<ArrayRef> {
            let found = batch.column_by_name(name).ok_or_else(|| {
                DataFusionError::Internal(format!("gold's windows have no column {name}"))
            })?;
            Ok(cast(found, to)?)
        };
        let device = column("device_id", &DataType::Utf8)?;
        let device = device.as_string::<i32>();
        // Gold's files may hold other units than milliseconds (Delta's are microseconds).
        let start = cast(
            &column(
                "window_start",
                &DataType::Timestamp(TimeUnit::Millisecond, None),
            )?,
            &DataType::Int64,
        )
        .map_err(DataFusionError::from)?;
        let start = start.as_primitive::<Int64Type>();
        let label = column("fault_label", &DataType::Utf8)?;
        let label = label.as_string::<i32>();
        let probability = column("probability", &DataType::Float64)?;
        let probability = probability.as_primitive::<Float64Type>();
        let irradiance = column("irradiance_mean", &DataType::Float64)?;
        let irradiance = irradiance.as_primitive::<Float64Type>();
        let expected = column("expected_power_w", &DataType::Float32)?;
        let expected = expected.as_primitive::<Float32Type>();
        let measured = column("measured_power_w", &DataType::Float32)?;
        let measured = measured.as_primitive::<Float32Type>();
        for row in 0..batch.num_rows() {
            let id = device.value(row);
            if current.as_ref().is_none_or(|(current, _)| current != id) {
                if let Some((done, windows)) = current.take() {
                    device_day(&done, &windows, &mut carried, rules, &mut day)?;
                }
                current = Some((id.to_string(), Vec::new()));
            }
            let Some((_, windows)) = current.as_mut() else {
                continue;
            };
            windows.push(DayWindow {
                start_ms: start.value(row),
                class: label.is_valid(row).then(|| label.value(row).to_string()),
                probability: if probability.is_valid(row) {
                    probability.value(row) as f32
                } else {
                    0.0
                },
                irradiance: irradiance
                    .is_valid(row)
                    .then(|| irradiance.value(row) as f32),
                energy_lost_wh: energy_lost_wh(
                    expected.is_valid(row).then(|| expected.value(row)),
                    measured.is_valid(row).then(|| measured.value(row)),
                    WINDOW_SECONDS,
                ),
            });
        }
    }
    if let Some((done, windows)) = current.take() {
        device_day(&done, &windows, &mut carried, rules, &mut day)?;
    }
    // Devices carried over without a window today (offline all day) keep what they had.
    for (id, state) in &carried {
        day.device_done(id, state)?;
    }

    Ok(day)
}

/// One window of a device's day in gold, owned while the device's windows are gathered.
struct DayWindow {
    start_ms: i64,
    class: Option<String>,
    probability: f32,
    irradiance: Option<f32>,
    energy_lost_wh: Option<f64>,
}

/// Device `id`'s day, its `windows` in time order, through the episode rules from the state it
/// carried; a device with neither a fault window nor a carried state has nothing to track.
fn device_day(
    id: &str,
    windows: &[DayWindow],
    carried: &mut BTreeMap<String, DeviceEpisodes>,
    rules: &EpisodeRules,
    day: &mut DayEpisodes,
) -> Result<()> {
    let faulty = windows.iter().any(|w| {
        w.class
            .as_deref()
            .is_some_and(|c| c != pvflow_episodes::NORMAL)
    });
    let state = carried.remove(id);
    if !faulty && state.is_none() {
        return Ok(());
    }
    let mut state = state.unwrap_or_default();
    for w in windows {
        let window = Window {
            start_ms: w.start_ms,
            class: w.class.as_deref(),
            probability: w.probability,
            irradiance: w.irradiance,
            energy_lost_wh: w.energy_lost_wh,
        };
        for event in state.offer(id, &window, rules) {
            if event.kind == EventKind::Closed {
                day.rows.push(EpisodeRow {
                    device_id: event.device_id,
                    episode: event.episode,
                    closed_by_ms: Some(event.decided_by_ms),
                });
            }
        }
    }
    day.device_done(id, &state)
}

/// The state the run for the day before `date` left, by device; empty, with a warning, if no
/// run committed one.
async fn carried_state(
    ctx: &SessionContext,
    gold: &DatasetRoot,
    date: NaiveDate,
) -> Result<BTreeMap<String, DeviceEpisodes>> {
    let mut carried = BTreeMap::new();
    let Some(before) = date.pred_opt().map(|d| d.to_string()) else {
        return Ok(carried);
    };
    let (store, root) = open_root(&ctx.runtime_env(), &layout::episode_state_root(gold.url()))?;
    let snapshot = DeltaLog::new(Arc::clone(&store), root.clone())
        .snapshot()
        .await?;
    if snapshot.version.is_none() {
        tracing::info!(date = %date, "the first predict run with fault episodes: none to go on from");
        return Ok(carried);
    }
    if !snapshot.has_partition(&before) {
        tracing::warn!(
            date = %date,
            before = %before,
            "no predict run committed fault episodes for the day before: episodes open at its \
             end, and fault runs under way, start afresh"
        );
        return Ok(carried);
    }
    for file in snapshot.files_in(&before) {
        for batch in read_parquet(&store, &path_under(&root, &file.path)).await? {
            let devices = batch.column(0).as_string::<i32>();
            let states = batch.column(1).as_string::<i32>();
            for row in 0..batch.num_rows() {
                let state: DeviceEpisodes =
                    serde_json::from_str(states.value(row)).map_err(|e| {
                        DataFusionError::Execution(format!(
                            "the episode state of {} on {before} ({}) is not readable: {e}",
                            devices.value(row),
                            file.path
                        ))
                    })?;
                carried.insert(devices.value(row).to_string(), state);
            }
        }
    }
    Ok(carried)
}

async fn read_parquet(store: &Arc<dyn ObjectStore>, path: &Path) -> DfResult<Vec<RecordBatch>> {
    let store_error = |e| DataFusionError::ObjectStore(Box::new(e));
    let bytes = store
        .get(path)
        .await
        .map_err(store_error)?
        .bytes()
        .await
        .map_err(store_error)?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

fn fault_events_batch(rows: &[EpisodeRow], run_id: &str) -> DfResult<RecordBatch> {
    let schema = fault_events_schema();
    let window_ms = WINDOW_SECONDS * 1000;
    let time = |values: Vec<Option<i64>>| {
        Arc::new(TimestampMillisecondArray::from(values).with_timezone("UTC")) as ArrayRef
    };
    let text = |values: Vec<String>| Arc::new(StringArray::from(values)) as ArrayRef;
    let columns: Vec<ArrayRef> = vec![
        text(rows.iter().map(|r| r.episode.id(&r.device_id)).collect()),
        text(rows.iter().map(|r| r.device_id.clone()).collect()),
        text(rows.iter().map(|r| r.episode.class.clone()).collect()),
        text(
            rows.iter()
                .map(|r| r.episode.severity.as_str().into())
                .collect(),
        ),
        text(
            rows.iter()
                .map(|r| {
                    if r.closed_by_ms.is_some() {
                        "closed"
                    } else {
                        "open"
                    }
                    .into()
                })
                .collect(),
        ),
        time(
            rows.iter()
                .map(|r| Some(r.episode.first_window_ms))
                .collect(),
        ),
        time(
            rows.iter()
                .map(|r| Some(r.episode.last_window_ms))
                .collect(),
        ),
        time(rows.iter().map(|r| r.closed_by_ms).collect()),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.episode.duration_ms(window_ms) / 1000),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| i64::from(r.episode.windows)),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.episode.mean_probability()),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.episode.energy_lost_wh / 1000.0),
        )),
        text(vec![run_id.to_string(); rows.len()]),
    ];
    without_date(&schema, columns)
}

fn state_batch(state: &[(String, String)], run_id: &str) -> DfResult<RecordBatch> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(state.iter().map(|(d, _)| d))),
        Arc::new(StringArray::from_iter_values(state.iter().map(|(_, s)| s))),
        Arc::new(StringArray::from(vec![run_id; state.len()])),
    ];
    without_date(&episode_state_schema(), columns)
}

/// A batch of `schema` without its last column, the partition column, which names the files'
/// directory instead.
fn without_date(schema: &SchemaRef, columns: Vec<ArrayRef>) -> DfResult<RecordBatch> {
    let fields = schema.fields()[..schema.fields().len() - 1].to_vec();
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Writes `batch` as one Parquet file into `root`'s staging for `date`, as `dataset`'s day.
async fn stage_batch(
    ctx: &SessionContext,
    stages: &Stages<'_>,
    dataset: &str,
    root: &DatasetRoot,
    schema: SchemaRef,
    batch: RecordBatch,
    date: &str,
) -> Result<Staged> {
    let target = staging_target(stages, root);
    if batch.num_rows() > 0 {
        let (store, root_path) = open_root(&ctx.runtime_env(), &target.root)?;
        let file = format!(
            "{}/part-{}.parquet",
            target.staging_partition_dir(date),
            uuid::Uuid::new_v4().simple()
        );
        store
            .put(
                &path_under(&root_path, &file),
                parquet_bytes(&batch)?.into(),
            )
            .await
            .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
    }
    side_output(ctx, target, dataset, schema, date).await
}

fn parquet_bytes(batch: &RecordBatch) -> DfResult<Vec<u8>> {
    let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), None)?;
    writer.write(batch)?;
    Ok(writer.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        FixedSizeListArray, Float32Array, Int32Array, TimestampMicrosecondArray,
    };
    use pvflow_udfs::FAULT_LABELS;

    const WINDOW_MS: i64 = WINDOW_SECONDS * 1000;
    /// The last window boundary before 2026-06-01T00:00:00Z.
    const MIDNIGHT: i64 = 1_780_272_000_000 - 1_780_272_000_000 % WINDOW_MS;

    /// A gold file of `windows`: (device, window number from [`MIDNIGHT`], class, mean
    /// irradiance, power lost in W).
    fn gold_file(
        dir: &std::path::Path,
        name: &str,
        windows: &[(&str, i64, &str, f32, f32)],
    ) -> String {
        let code = |class: &str| {
            FAULT_LABELS
                .iter()
                .position(|l| *l == class)
                .expect("class") as i32
        };
        let probabilities = windows.iter().flat_map(|w| {
            let mut p = [0.02f32; 6];
            p[code(w.2) as usize] = 0.9;
            p
        });
        let item = Arc::new(Field::new_list_field(DataType::Float32, true));
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "device_id",
                Arc::new(StringArray::from_iter_values(windows.iter().map(|w| w.0))),
            ),
            (
                "window_start",
                // Microseconds, as Delta tables keep time (gold read back may be so).
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(
                        windows.iter().map(|w| (MIDNIGHT + w.1 * WINDOW_MS) * 1000),
                    )
                    .with_timezone("UTC"),
                ),
            ),
            (
                "fault_code",
                Arc::new(Int32Array::from_iter_values(
                    windows.iter().map(|w| code(w.2)),
                )),
            ),
            (
                "fault_label",
                Arc::new(StringArray::from_iter_values(windows.iter().map(|w| w.2))),
            ),
            (
                "probabilities",
                Arc::new(
                    FixedSizeListArray::try_new(
                        item,
                        6,
                        Arc::new(Float32Array::from_iter_values(probabilities)),
                        None,
                    )
                    .expect("list"),
                ),
            ),
            (
                "irradiance_mean",
                Arc::new(Float32Array::from_iter_values(windows.iter().map(|w| w.3))),
            ),
            (
                "measured_power_w",
                Arc::new(Float32Array::from_iter_values(
                    windows.iter().map(|w| 2000.0 - w.4),
                )),
            ),
            (
                "expected_power_w",
                Arc::new(Float32Array::from_value(2000.0, windows.len())),
            ),
        ];
        let batch = RecordBatch::try_from_iter(columns).expect("batch");
        let path = dir.join(name);
        std::fs::write(&path, parquet_bytes(&batch).expect("parquet")).expect("write");
        path.to_str().expect("utf-8").to_string()
    }

    /// (device, class, state, windows, first and last window numbers, energy lost in Wh).
    fn summary(day: &DayEpisodes) -> Vec<(String, String, &'static str, u32, i64, i64, i64)> {
        day.rows
            .iter()
            .map(|r| {
                (
                    r.device_id.clone(),
                    r.episode.class.clone(),
                    if r.closed_by_ms.is_some() {
                        "closed"
                    } else {
                        "open"
                    },
                    r.episode.windows,
                    (r.episode.first_window_ms - MIDNIGHT) / WINDOW_MS,
                    (r.episode.last_window_ms - MIDNIGHT) / WINDOW_MS,
                    r.episode.energy_lost_wh.round() as i64,
                )
            })
            .collect()
    }

    fn carried(day: &DayEpisodes) -> BTreeMap<String, DeviceEpisodes> {
        day.state
            .iter()
            .map(|(id, json)| (id.clone(), serde_json::from_str(json).expect("state")))
            .collect()
    }

    /// Two days of three devices: `a` has an episode open over midnight that closes the next
    /// morning after three normal windows (night in between neither closes nor grows it); `b` is
    /// healthy and never read; `c`'s two fault windows at the end of one day open an episode
    /// with the first of the next, which starts on the day before.
    #[tokio::test]
    async fn episodes_go_on_over_midnight_from_the_state_the_day_before_left() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ctx = SessionContext::new();
        let rules = EpisodeRules::default();
        let (ll, n) = ("line_line", "normal");
        let first = gold_file(
            dir.path(),
            "day1.parquet",
            &[
                ("a", 30, n, 600.0, 0.0),
                ("a", 31, ll, 600.0, 900.0),
                ("a", 32, ll, 600.0, 900.0),
                ("a", 33, ll, 600.0, 900.0),
                ("a", 34, n, 600.0, 0.0),
                ("a", 60, n, 2.0, 0.0),
                ("b", 30, n, 600.0, 0.0),
                ("c", 40, ll, 400.0, 450.0),
                ("c", 41, ll, 400.0, 450.0),
                ("c", 66, n, 1.0, 0.0),
            ],
        );
        let one = find_episodes(&ctx, vec![first], BTreeMap::new(), &rules)
            .await
            .expect("day 1");
        // 900 W lost over a 1280 s window is 320 Wh.
        assert_eq!(
            summary(&one),
            [("a".into(), ll.into(), "open", 3, 31, 33, 960)]
        );
        assert_eq!(
            one.state
                .iter()
                .map(|(d, _)| d.as_str())
                .collect::<Vec<_>>(),
            ["a", "c"]
        );

        let second = gold_file(
            dir.path(),
            "day2.parquet",
            &[
                ("a", 67, n, 3.0, 0.0),
                ("a", 90, ll, 700.0, 900.0),
                ("a", 91, n, 700.0, 0.0),
                ("a", 92, n, 700.0, 0.0),
                ("a", 93, n, 700.0, 0.0),
                ("b", 90, n, 700.0, 0.0),
                ("c", 90, ll, 800.0, 450.0),
            ],
        );
        let two = find_episodes(&ctx, vec![second], carried(&one), &rules)
            .await
            .expect("day 2");
        assert_eq!(
            summary(&two),
            [
                ("a".into(), ll.into(), "closed", 4, 31, 90, 1280),
                ("c".into(), ll.into(), "open", 3, 40, 90, 480),
            ]
        );
        assert_eq!(two.rows[0].closed_by_ms, Some(MIDNIGHT + 93 * WINDOW_MS));
        assert_eq!(
            two.state
                .iter()
                .map(|(d, _)| d.as_str())
                .collect::<Vec<_>>(),
            ["c"]
        );

        // A device carried over without any window the next day keeps its open episode.
        let offline = find_episodes(&ctx, Vec::new(), carried(&two), &rules)
            .await
            .expect("day 3");
        assert_eq!(summary(&offline), summary(&two)[1..]);

        let batch = fault_events_batch(&two.rows, "predict-test").expect("batch");
        assert_eq!(
            batch.schema().fields().len() + 1,
            fault_events_schema().fields().len()
        );
        let ids = batch.column(0).as_string::<i32>();
        let first = pvflow_episodes::rfc3339_ms(MIDNIGHT + 31 * WINDOW_MS);
        assert_eq!(ids.value(0), format!("a/line_line/{first}"));
    }
}
