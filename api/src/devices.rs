//! `GET /devices/{device_id}`: a device's state as the stream sees it: its latest diagnosed
//! window in the live table and its open fault episode, if any.

use chrono::{Days, NaiveDate, SecondsFormat};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Float32Type, Int32Type, TimeUnit, TimestampMillisecondType,
};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionConfig, SessionContext};
use pvflow_episodes::EpisodeRecord;
use pvflow_session::PvflowConfig;
use serde::Serialize;
use std::sync::Arc;

/// How far back from the live table's newest day a device's latest window is looked for: a
/// device silent longer has none.
pub const LOOKBACK_DAYS: u64 = 7;
/// The longest device ID taken.
const MAX_DEVICE_ID: usize = 256;

/// What `GET /devices/{device_id}` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceState {
    pub device_id: String,
    /// Its latest window in the live table within [`LOOKBACK_DAYS`].
    pub latest: Option<LatestWindow>,
    pub open_episode: Option<EpisodeRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatestWindow {
    /// RFC 3339, UTC.
    pub window_start: String,
    /// `None` when the window had too few valid readings to be diagnosed.
    pub fault_code: Option<i32>,
    pub fault_label: Option<String>,
    /// The probability of `fault_label`.
    pub probability: Option<f32>,
    pub model_version: Option<String>,
}

/// A device ID the API refuses, and why.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DeviceIdError {
    #[error("device_id is empty")]
    Empty,
    #[error("device_id is longer than {MAX_DEVICE_ID} bytes")]
    TooLong,
    #[error("device_id contains a control character")]
    Control,
}

pub fn validate_device_id(device_id: &str) -> Result<(), DeviceIdError> {
    if device_id.is_empty() {
        Err(DeviceIdError::Empty)
    } else if device_id.len() > MAX_DEVICE_ID {
        Err(DeviceIdError::TooLong)
    } else if device_id.chars().any(char::is_control) {
        Err(DeviceIdError::Control)
    } else {
        Ok(())
    }
}

/// Reads devices' states from the live table (`[storage] live`).
pub struct DeviceLookup {
    storage: pvflow_session::StorageConfig,
    /// Built on first use (object store clients kept across requests).
    runtime: tokio::sync::OnceCell<Arc<RuntimeEnv>>,
}

/// The latest window of one device from a date on; parameters bound by type.
const LATEST: &str = "SELECT window_start, fault_code, fault_label, \
                             array_element(probabilities, fault_code + 1) AS probability, \
                             model_version \
                      FROM live WHERE device_id = $1 AND date >= $2 \
                      ORDER BY window_start DESC LIMIT 1";

impl DeviceLookup {
    pub fn new(config: &PvflowConfig) -> DeviceLookup {
        DeviceLookup {
            storage: config.storage.clone(),
            runtime: tokio::sync::OnceCell::new(),
        }
    }

    async fn runtime(&self) -> Result<&Arc<RuntimeEnv>> {
        self.runtime
            .get_or_try_init(|| async {
                let locations = pvflow_session::Locations::of(&self.storage)
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                pvflow_session::object_stores::runtime_env(
                    &self.storage,
                    Some(locations),
                    None,
                    None,
                )
            })
            .await
    }

    /// The state of `device_id`; `None` if the stream knows nothing of it.
    pub async fn state(&self, device_id: &str) -> Result<Option<DeviceState>> {
        let runtime = self.runtime().await?;
        let open_episode = pvflow_stream::open_episodes(runtime, &self.storage.live)
            .await?
            .into_iter()
            .find(|episode| episode.device_id == device_id);
        let latest = self.latest(runtime, device_id).await?;
        Ok(
            (latest.is_some() || open_episode.is_some()).then(|| DeviceState {
                device_id: device_id.to_string(),
                latest,
                open_episode,
            }),
        )
    }

    async fn latest(
        &self,
        runtime: &Arc<RuntimeEnv>,
        device_id: &str,
    ) -> Result<Option<LatestWindow>> {
        let Some(table) = pvflow_dataset::LogTable::open(runtime, &self.storage.live).await? else {
            return Ok(None); // The stream has not committed yet.
        };
        let ctx = SessionContext::new_with_config_rt(SessionConfig::new(), Arc::clone(runtime));
        ctx.register_table("live", Arc::new(table))?;
        // From the table's newest day, not today's: a replayed or late stream has older days.
        let Some(newest) = crate::fleet::newest_day(runtime, &self.storage.live).await? else {
            return Ok(None);
        };
        let since = newest
            .checked_sub_days(Days::new(LOOKBACK_DAYS))
            .unwrap_or(newest);
        let since_days = (since - NaiveDate::default()).num_days() as i32;
        let batches = ctx
            .sql(LATEST)
            .await?
            .with_param_values(vec![
                ScalarValue::Utf8(Some(device_id.to_string())),
                ScalarValue::Date32(Some(since_days)),
            ])?
            .collect()
            .await?;
        batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .map(latest_window)
            .transpose()
    }
}

/// The first row of `batch` (the columns of [`LATEST`]), each column cast to the type this
/// reads it as: the table's types are the Delta log's (timestamps in microseconds).
fn latest_window(batch: &RecordBatch) -> Result<LatestWindow> {
    let column = |i: usize, to: &DataType| cast(batch.column(i), to);
    let start = column(0, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
    let code = column(1, &DataType::Int32)?;
    let label = column(2, &DataType::Utf8)?;
    let probability = column(3, &DataType::Float32)?;
    let version = column(4, &DataType::Utf8)?;
    let start = start.as_primitive::<TimestampMillisecondType>();
    let code = code.as_primitive::<Int32Type>();
    let (label, version) = (label.as_string::<i32>(), version.as_string::<i32>());
    let probability = probability.as_primitive::<Float32Type>();
    Ok(LatestWindow {
        window_start: chrono::DateTime::from_timestamp_millis(start.value(0))
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
            .unwrap_or_default(),
        fault_code: code.is_valid(0).then(|| code.value(0)),
        fault_label: label.is_valid(0).then(|| label.value(0).to_string()),
        probability: probability.is_valid(0).then(|| probability.value(0)),
        model_version: version.is_valid(0).then(|| version.value(0).to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids_are_validated() {
        assert_eq!(validate_device_id("inv-01/array-3"), Ok(()));
        assert_eq!(validate_device_id(""), Err(DeviceIdError::Empty));
        assert_eq!(
            validate_device_id(&"x".repeat(300)),
            Err(DeviceIdError::TooLong)
        );
        assert_eq!(validate_device_id("a\nb"), Err(DeviceIdError::Control));
    }
}
