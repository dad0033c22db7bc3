//! What operators read of gold: a device's diagnoses over a range of days, the fleet worst-first,
//! the heat-map of a day, fault episodes with filters, a device's series, and a window's
//! scalogram. Every value a request gives is validated here and bound as a typed parameter;
//! every read names its days, so the Delta log prunes the files to those partitions and Parquet's
//! row-group statistics the rest.
//!
//! Reads run in this process on a session of their own (never a cluster's): they are small, and
//! an operator's page should not wait for a scheduler.

use crate::status::ErrorBody;
use chrono::{DateTime, NaiveDate};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float32Type, Int64Type, TimeUnit};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{DataFrame, SessionContext, col, lit};
use pvflow_session::PvflowConfig;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Why a read has no answer: the request is wrong (400, naming the parameter), nothing matches
/// (404), or reading failed (500).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("invalid parameter {name}: {why}")]
    Invalid { name: &'static str, why: String },
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Failed(#[from] DataFusionError),
}

impl From<datafusion::arrow::error::ArrowError> for ReadError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        ReadError::Failed(e.into())
    }
}

impl ReadError {
    fn invalid(name: &'static str, why: impl Into<String>) -> ReadError {
        ReadError::Invalid {
            name,
            why: why.into(),
        }
    }

    /// The error as the API answers it.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.to_string(),
            parameter: match self {
                ReadError::Invalid { name, .. } => Some((*name).into()),
                _ => None,
            },
            run: None,
        }
    }
}

type Result<T> = std::result::Result<T, ReadError>;

/// A date parameter `name`, `YYYY-MM-DD`.
pub fn date_parameter(name: &'static str, text: &str) -> Result<NaiveDate> {
    pvflow_runner::parse_date(text).map_err(|why| ReadError::invalid(name, why))
}

/// An inclusive range of days, at most `max_days` long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DayRange {
    /// `from`..=`to` (either defaulting to the other; both to `newest`), checked.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        newest: Option<NaiveDate>,
        max_days: u32,
    ) -> Result<Option<DayRange>> {
        let from = from.map(|d| date_parameter("from", d)).transpose()?;
        let to = to.map(|d| date_parameter("to", d)).transpose()?;
        let (from, to) = match (from, to, newest) {
            (Some(f), Some(t), _) => (f, t),
            (Some(d), None, _) | (None, Some(d), _) | (None, None, Some(d)) => (d, d),
            (None, None, None) => return Ok(None),
        };
        if to < from {
            return Err(ReadError::invalid(
                "to",
                format!("{to} is before from ({from})"),
            ));
        }
        let days = (to - from).num_days() + 1;
        if days > i64::from(max_days) {
            return Err(ReadError::invalid(
                "to",
                format!(
                    "the range {from}..={to} spans {days} days, more than [api] max_range_days ({max_days})"
                ),
            ));
        }
        Ok(Some(DayRange { from, to }))
    }

    fn bounds(&self) -> [ScalarValue; 2] {
        [date_value(self.from), date_value(self.to)]
    }
}

fn date_value(date: NaiveDate) -> ScalarValue {
    ScalarValue::Date32(Some((date - NaiveDate::default()).num_days() as i32))
}

/// The fleet of a day, worst first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fleet {
    pub date: NaiveDate,
    /// Gold's windows of the day by class.
    pub classes: BTreeMap<String, i64>,
    pub devices: Vec<Value>,
}

/// A day's diagnoses, devices x windows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Heatmap {
    pub date: NaiveDate,
    /// Every window start of the day's grid, RFC 3339.
    pub window_starts: Vec<String>,
    pub devices: Vec<String>,
    /// Per device, per window: its `fault_code`, or `null` without a diagnosis.
    pub fault_codes: Vec<Vec<Option<i64>>>,
}

/// Which episodes `GET /episodes` lists.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct EpisodeFilter {
    pub state: Option<String>,
    pub fault_label: Option<String>,
    pub severity: Option<String>,
    pub device_id: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

const SEVERITIES: [&str; 3] = ["warning", "major", "critical"];

/// Gold, its fault events and silver, read for operators.
/// What the fleet's reads call a window gold gives no diagnosis because its data cannot be
/// trusted (its `quality_flags`, docs/data-quality.md).
const UNTRUSTED: &str = "untrusted_data";

pub struct FleetReads {
    config: PvflowConfig,
    session: tokio::sync::OnceCell<SessionContext>,
}

impl FleetReads {
    pub fn new(config: &PvflowConfig) -> FleetReads {
        FleetReads {
            config: config.clone(),
            session: tokio::sync::OnceCell::new(),
        }
    }

    /// The longest range of days one request may read (`[api] max_range_days`).
    pub fn max_range_days(&self) -> u32 {
        self.config.api.max_range_days
    }

    async fn session(&self) -> Result<&SessionContext> {
        self.session
            .get_or_try_init(|| async {
                pvflow_session::server_session_context(&self.config)
                    .map_err(|e| DataFusionError::External(Box::new(e)))
            })
            .await
            .map_err(ReadError::from)
    }

    /// The newest day `dataset` (a dataset root) has, if any.
    async fn newest_day(&self, root: &str) -> Result<Option<NaiveDate>> {
        let ctx = self.session().await?;
        Ok(newest_day(&ctx.runtime_env(), root).await?)
    }

    /// The newest day gold has.
    pub async fn newest_gold_day(&self) -> Result<Option<NaiveDate>> {
        self.newest_day(&self.config.storage.gold).await
    }

    async fn query(&self, sql: &str, params: Vec<ScalarValue>) -> Result<DataFrame> {
        let ctx = self.session().await?;
        Ok(ctx.sql(sql).await?.with_param_values(params)?)
    }

    /// `device_id`'s diagnoses in `range`, in time order.
    pub async fn diagnoses(
        &self,
        device_id: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Value> {
        let newest = self.newest_gold_day().await?;
        let Some(range) = DayRange::parse(from, to, newest, self.max_range_days())? else {
            return Err(ReadError::NotFound("gold has no diagnoses yet".into()));
        };
        let [from_day, to_day] = range.bounds();
        let rows = self
            .query(
                "SELECT window_start, fault_code, fault_label, \
                        array_element(probabilities, fault_code + 1) AS probability, \
                        probabilities, quality_flags, irradiance_mean, measured_power_w, \
                        expected_power_w, model_version, run_id \
                 FROM gold WHERE date BETWEEN $2 AND $3 AND device_id = $1 \
                 ORDER BY window_start",
                vec![ScalarValue::Utf8(Some(device_id.into())), from_day, to_day],
            )
            .await?;
        let rows = json_rows(rows.collect().await?)?;
        if rows.is_empty() {
            return Err(ReadError::NotFound(format!(
                "gold has no diagnoses of device {device_id} from {} to {}",
                range.from, range.to
            )));
        }
        Ok(serde_json::json!({
            "device_id": device_id,
            "from": range.from,
            "to": range.to,
            "diagnoses": rows,
        }))
    }

    /// The day's fleet, worst first: open episodes by severity, then energy lost, then fault
    /// windows; at most `limit` devices.
    pub async fn fleet(&self, date: Option<&str>, limit: Option<usize>) -> Result<Fleet> {
        let date = self.day(date).await?;
        let limit = limit.unwrap_or(100);
        if !(1..=100_000).contains(&limit) {
            return Err(ReadError::invalid("limit", "must be 1 to 100000 devices"));
        }
        let day = date_value(date);
        let classes = self
            .query(
                &format!(
                    "SELECT COALESCE(fault_label, '{UNTRUSTED}') AS fault_label, \
                            count(*) AS windows \
                     FROM gold WHERE date = $1 GROUP BY 1"
                ),
                vec![day.clone()],
            )
            .await?
            .collect()
            .await?;
        let mut by_class = BTreeMap::new();
        for batch in &classes {
            let label = cast(batch.column(0), &DataType::Utf8)?;
            let count = cast(batch.column(1), &DataType::Int64)?;
            let (label, count) = (label.as_string::<i32>(), count.as_primitive::<Int64Type>());
            for row in 0..batch.num_rows() {
                by_class.insert(label.value(row).to_string(), count.value(row));
            }
        }
        if by_class.is_empty() {
            return Err(ReadError::NotFound(format!(
                "gold has no windows on {date}"
            )));
        }
        // Episodes as of the day's end; fault_events may not exist yet (gold from before it).
        let episodes = if self.has_fault_events().await? {
            "SELECT device_id, \
                    sum(CASE WHEN state = 'open' THEN 1 ELSE 0 END) AS open_episodes, \
                    max(CASE WHEN state <> 'open' THEN 0 WHEN severity = 'critical' THEN 3 \
                             WHEN severity = 'major' THEN 2 ELSE 1 END) AS open_rank, \
                    sum(energy_lost_kwh) AS energy_lost_kwh \
             FROM fault_events WHERE date = $1 GROUP BY device_id"
        } else {
            "SELECT CAST(NULL AS VARCHAR) AS device_id, 0 AS open_episodes, 0 AS open_rank, \
                    CAST(0 AS DOUBLE) AS energy_lost_kwh WHERE false"
        };
        let sql = format!(
            "WITH day AS (SELECT device_id, window_start, fault_label FROM gold WHERE date = $1), \
             counts AS (SELECT device_id, count(*) AS windows, \
                               sum(CASE WHEN fault_label <> 'normal' THEN 1 ELSE 0 END) AS fault_windows, \
                               max(window_start) AS last_window_start \
                        FROM day GROUP BY device_id), \
             latest AS (SELECT d.device_id, \
                               COALESCE(d.fault_label, '{UNTRUSTED}') AS last_fault_label \
                        FROM day d JOIN counts c \
                          ON d.device_id = c.device_id AND d.window_start = c.last_window_start), \
             episodes AS ({episodes}) \
             SELECT c.device_id, c.windows, c.fault_windows, \
                    coalesce(e.open_episodes, 0) AS open_episodes, \
                    CASE e.open_rank WHEN 3 THEN 'critical' WHEN 2 THEN 'major' \
                                     WHEN 1 THEN 'warning' END AS worst_open_severity, \
                    coalesce(e.energy_lost_kwh, 0.0) AS energy_lost_kwh, \
                    c.last_window_start, l.last_fault_label \
             FROM counts c JOIN latest l ON c.device_id = l.device_id \
                  LEFT JOIN episodes e ON c.device_id = e.device_id \
             ORDER BY coalesce(e.open_rank, 0) DESC, open_episodes DESC, energy_lost_kwh DESC, \
                      c.fault_windows DESC, c.device_id \
             LIMIT {limit}"
        );
        let devices = json_rows(self.query(&sql, vec![day]).await?.collect().await?)?;
        Ok(Fleet {
            date,
            classes: by_class,
            devices,
        })
    }

    async fn has_fault_events(&self) -> Result<bool> {
        let root = pvflow_dataset::layout::fault_events_root(&self.config.storage.gold);
        Ok(self.newest_day(&root).await?.is_some())
    }

    /// `date`, or gold's newest day.
    async fn day(&self, date: Option<&str>) -> Result<NaiveDate> {
        match date {
            Some(text) => date_parameter("date", text),
            None => self
                .newest_gold_day()
                .await?
                .ok_or_else(|| ReadError::NotFound("gold has no diagnoses yet".into())),
        }
    }

    /// The day's diagnoses, every device x every window of the day's grid.
    pub async fn heatmap(&self, date: Option<&str>) -> Result<Heatmap> {
        let date = self.day(date).await?;
        let batches = self
            .query(
                "SELECT device_id, window_start, fault_code \
                 FROM gold WHERE date = $1 ORDER BY device_id, window_start",
                vec![date_value(date)],
            )
            .await?
            .collect()
            .await?;
        let range = pvflow_runner::day_range(date);
        let (start, end) = (range.start.unwrap_or(0), range.end.unwrap_or(0));
        let window_ms = pvflow_udfs::WINDOW_SECONDS * 1000;
        let windows = ((end - start) / window_ms).max(0) as usize;
        let mut devices: Vec<String> = Vec::new();
        let mut codes: Vec<Vec<Option<i64>>> = Vec::new();
        for batch in &batches {
            let device = cast(batch.column(0), &DataType::Utf8)?;
            // Delta's timestamps are microseconds: milliseconds first, then the number.
            let start_ms = cast(
                &cast(
                    batch.column(1),
                    &DataType::Timestamp(TimeUnit::Millisecond, None),
                )?,
                &DataType::Int64,
            )?;
            let code = cast(batch.column(2), &DataType::Int64)?;
            let device = device.as_string::<i32>();
            let (start_ms, code) = (
                start_ms.as_primitive::<Int64Type>(),
                code.as_primitive::<Int64Type>(),
            );
            for row in 0..batch.num_rows() {
                if devices.last().map(String::as_str) != Some(device.value(row)) {
                    devices.push(device.value(row).to_string());
                    codes.push(vec![None; windows]);
                }
                let slot = (start_ms.value(row) - start) / window_ms;
                if let (Ok(slot), Some(row_codes)) = (usize::try_from(slot), codes.last_mut())
                    && slot < windows
                {
                    row_codes[slot] = code.is_valid(row).then(|| code.value(row));
                }
            }
        }
        if devices.is_empty() {
            return Err(ReadError::NotFound(format!(
                "gold has no windows on {date}"
            )));
        }
        Ok(Heatmap {
            date,
            window_starts: (0..windows as i64)
                .map(|n| pvflow_episodes::rfc3339_ms(start + n * window_ms))
                .collect(),
            devices,
            fault_codes: codes,
        })
    }

    /// Episodes as they are now (each one's latest row in the range), newest first.
    pub async fn episodes(&self, filter: &EpisodeFilter) -> Result<Value> {
        if let Some(state) = &filter.state
            && state != "open"
            && state != "closed"
        {
            return Err(ReadError::invalid("state", "must be open or closed"));
        }
        if let Some(severity) = &filter.severity
            && !SEVERITIES.contains(&severity.as_str())
        {
            return Err(ReadError::invalid(
                "severity",
                "must be warning, major or critical",
            ));
        }
        if let Some(label) = &filter.fault_label
            && !pvflow_udfs::FAULT_LABELS.contains(&label.as_str())
        {
            return Err(ReadError::invalid(
                "fault_label",
                format!("must be one of {}", pvflow_udfs::FAULT_LABELS.join(", ")),
            ));
        }
        if let Some(device) = &filter.device_id {
            crate::devices::validate_device_id(device)
                .map_err(|e| ReadError::invalid("device_id", e.to_string()))?;
        }
        let root = pvflow_dataset::layout::fault_events_root(&self.config.storage.gold);
        let newest = self.newest_day(&root).await?;
        let Some(range) = DayRange::parse(
            filter.from.as_deref(),
            filter.to.as_deref(),
            newest,
            self.max_range_days(),
        )?
        else {
            return Ok(serde_json::json!({ "episodes": [] }));
        };
        let [from_day, to_day] = range.bounds();
        let mut df = self
            .query(
                "SELECT episode_id, device_id, fault_label, severity, state, first_window_start, \
                        last_window_start, closed_by_window_start, duration_seconds, windows, \
                        mean_probability, energy_lost_kwh, date \
                 FROM (SELECT *, row_number() OVER (PARTITION BY episode_id \
                                                    ORDER BY date DESC) AS newest \
                       FROM fault_events WHERE date BETWEEN $1 AND $2) \
                 WHERE newest = 1",
                vec![from_day, to_day],
            )
            .await?;
        for (column, wanted) in [
            ("state", &filter.state),
            ("severity", &filter.severity),
            ("fault_label", &filter.fault_label),
            ("device_id", &filter.device_id),
        ] {
            if let Some(wanted) = wanted {
                df = df
                    .filter(col(column).eq(lit(wanted.as_str())))
                    .map_err(ReadError::from)?;
            }
        }
        let df = df
            .sort(vec![
                col("last_window_start").sort(false, false),
                col("episode_id").sort(true, false),
            ])
            .map_err(ReadError::from)?;
        let episodes = json_rows(df.collect().await?)?;
        Ok(serde_json::json!({
            "from": range.from,
            "to": range.to,
            "episodes": episodes,
        }))
    }

    /// `device_id`'s windows on `date` from silver: the four series and gold's diagnosis.
    pub async fn series(&self, device_id: &str, date: Option<&str>) -> Result<Value> {
        let date = self.day(date).await?;
        let rows = self
            .query(
                "SELECT s.window_start, s.readings, s.voltage_series, s.current_series, \
                        s.temperature_series, s.irradiance_series, g.fault_code, g.fault_label \
                 FROM silver s LEFT JOIN \
                      (SELECT window_start, fault_code, fault_label FROM gold \
                       WHERE date = $2 AND device_id = $1) g \
                   ON s.window_start = g.window_start \
                 WHERE s.date = $2 AND s.device_id = $1 \
                 ORDER BY s.window_start",
                vec![ScalarValue::Utf8(Some(device_id.into())), date_value(date)],
            )
            .await?;
        let windows = json_rows(rows.collect().await?)?;
        if windows.is_empty() {
            return Err(ReadError::NotFound(format!(
                "silver has no windows of device {device_id} on {date}"
            )));
        }
        Ok(serde_json::json!({ "device_id": device_id, "date": date, "windows": windows }))
    }

    /// The scalogram of `device_id`'s window starting at `window_start` (RFC 3339), as the
    /// model sees it: 4 x 64 x 64 values, channel after channel.
    pub async fn scalogram(&self, device_id: &str, window_start: &str) -> Result<Vec<f32>> {
        let start = DateTime::parse_from_rfc3339(window_start).map_err(|e| {
            ReadError::invalid(
                "window_start",
                format!("{window_start:?} is not RFC 3339: {e}"),
            )
        })?;
        let start = start.to_utc();
        let plant = &self.config.plant;
        // The array's nameplate, as predict passes it (a nameplate-normalised model needs it).
        let batches = self
            .query(
                "SELECT pv_scalogram(voltage_series, current_series, temperature_series, \
                                     irradiance_series, COALESCE(d.v_mp, $4), \
                                     COALESCE(d.i_mp, $5), \
                                     COALESCE(d.gamma_pdc_per_c, $6)) AS image \
                 FROM silver s LEFT JOIN devices d ON s.device_id = d.device_id \
                 WHERE date = $2 AND s.device_id = $1 AND window_start = $3",
                vec![
                    ScalarValue::Utf8(Some(device_id.into())),
                    date_value(start.date_naive()),
                    ScalarValue::TimestampMillisecond(
                        Some(start.timestamp_millis()),
                        Some("UTC".into()),
                    ),
                    ScalarValue::Float64(Some(plant.v_mp)),
                    ScalarValue::Float64(Some(plant.i_mp)),
                    ScalarValue::Float64(Some(plant.gamma_pdc_per_c)),
                ],
            )
            .await?
            .collect()
            .await?;
        let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
            return Err(ReadError::NotFound(format!(
                "silver has no window of device {device_id} starting at {window_start}"
            )));
        };
        let images = batch.column(0).as_fixed_size_list();
        if images.is_null(0) {
            return Err(ReadError::NotFound(format!(
                "the window of device {device_id} at {window_start} has too few valid readings for a scalogram"
            )));
        }
        let values = images.value(0);
        Ok(values.as_primitive::<Float32Type>().values().to_vec())
    }
}

/// The newest day with files of the dataset at `root`, as its log says now.
pub(crate) async fn newest_day(
    runtime: &RuntimeEnv,
    root: &str,
) -> datafusion::common::Result<Option<NaiveDate>> {
    let (store, path) = pvflow_dataset::open_root(runtime, root)?;
    let snapshot = pvflow_dataset::DeltaLog::new(store, path)
        .snapshot()
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    Ok(snapshot.newest_date())
}

/// `batches` as JSON objects, one per row, NULLs kept.
fn json_rows(batches: Vec<RecordBatch>) -> Result<Vec<Value>> {
    let mut writer = arrow_json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow_json::writer::JsonArray>(Vec::new());
    let batches: Vec<&RecordBatch> = batches.iter().collect();
    writer
        .write_batches(&batches)
        .map_err(DataFusionError::from)?;
    writer.finish().map_err(DataFusionError::from)?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ReadError::Failed(DataFusionError::External(Box::new(e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked_and_named() {
        let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date");
        let newest = Some(day("2026-06-03"));
        let range = DayRange::parse(None, None, newest, 31)
            .expect("ok")
            .expect("range");
        assert_eq!(
            (range.from, range.to),
            (day("2026-06-03"), day("2026-06-03"))
        );
        let range = DayRange::parse(Some("2026-06-01"), None, newest, 31)
            .expect("ok")
            .expect("range");
        assert_eq!(range.to, day("2026-06-01"));
        let name = |e: ReadError| match e {
            ReadError::Invalid { name, why } => format!("{name}: {why}"),
            other => panic!("{other}"),
        };
        let e =
            DayRange::parse(Some("2026-06-01"), Some("2026-08-01"), newest, 31).expect_err("long");
        assert!(name(e).starts_with("to: the range 2026-06-01..=2026-08-01 spans 62 days"));
        let e = DayRange::parse(Some("2026-06-31"), None, newest, 31).expect_err("bad date");
        assert!(name(e).starts_with("from: \"2026-06-31\""));
        let e = DayRange::parse(Some("2026-06-02"), Some("2026-06-01"), newest, 31)
            .expect_err("reversed");
        assert!(name(e).contains("before from"));
        assert!(DayRange::parse(None, None, None, 31).expect("ok").is_none());
    }
}
