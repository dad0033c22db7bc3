//! A run's parameters, validated before anything runs; each error names the parameter.

use crate::Plan;
use chrono::{NaiveDate, NaiveTime};
use datafusion::common::{ParamValues, ScalarValue};
use pvflow_episodes::EpisodeRules;
use pvflow_kafka::{KafkaTableConfig, TimeRange};
use pvflow_udfs::{ArrayRating, WINDOW_SECONDS};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid parameter {name}: {why}")]
pub struct ParamError {
    pub name: &'static str,
    pub why: String,
}

fn invalid(name: &'static str, why: impl Into<String>) -> ParamError {
    ParamError {
        name,
        why: why.into(),
    }
}

/// Everything a plan run is given.
#[derive(Debug, Clone)]
pub struct RunParams {
    /// The day (UTC) whose windows the run produces.
    pub date: NaiveDate,
    /// Where ingest reads readings.
    pub readings: Readings,
    pub silver: DatasetRoot,
    pub gold: DatasetRoot,
    /// The arrays' rating predict expects power from ([`RunParams::with_plant`]).
    pub rating: ArrayRating,
    /// When predict's fault episodes open and close.
    pub episodes: EpisodeRules,
}

impl RunParams {
    /// Parameters for `plan`; only ingest reads readings.
    pub fn new(
        plan: Plan,
        date: NaiveDate,
        readings: Readings,
        silver: &str,
        gold: &str,
    ) -> Result<Self, ParamError> {
        if plan == Plan::Ingest {
            readings.validate()?;
        }
        let silver = DatasetRoot::parse("silver", silver)?;
        let gold = DatasetRoot::parse("gold", gold)?;
        if silver == gold {
            return Err(invalid(
                "gold",
                format!("gold and silver are the same location, {}", gold.url()),
            ));
        }
        Ok(RunParams {
            date,
            readings,
            silver,
            gold,
            rating: ArrayRating::default(),
            episodes: EpisodeRules::default(),
        })
    }

    /// The parameters with the plant's array rating and episode rules, each checked.
    pub fn with_plant(
        self,
        rating: ArrayRating,
        episodes: EpisodeRules,
    ) -> Result<Self, ParamError> {
        let rating = rating.validated().map_err(|why| invalid("plant", why))?;
        let episodes = episodes
            .validated()
            .map_err(|e| invalid("episodes", e.to_string()))?;
        Ok(RunParams {
            rating,
            episodes,
            ..self
        })
    }

    /// The readings the run's day covers: see [`day_range`].
    pub fn range(&self) -> TimeRange {
        day_range(self.date)
    }

    /// The plans' parameters, typed: `$start`/`$end` timestamps (UTC, ms) of the day's range,
    /// `$date`, `$run_id`, and the array rating's `$rated_power_w`, `$gamma_pdc_per_c`, `$v_mp`
    /// and `$i_mp`.
    pub(crate) fn bind(&self, run_id: &str) -> ParamValues {
        let range = self.range();
        let utc = Some(Arc::from("UTC"));
        let days = (self.date - NaiveDate::default()).num_days() as i32;
        ParamValues::from(HashMap::from([
            (
                "start".to_string(),
                ScalarValue::TimestampMillisecond(range.start, utc.clone()),
            ),
            (
                "end".to_string(),
                ScalarValue::TimestampMillisecond(range.end, utc),
            ),
            ("date".to_string(), ScalarValue::Date32(Some(days))),
            (
                "run_id".to_string(),
                ScalarValue::Utf8(Some(run_id.to_string())),
            ),
            (
                "rated_power_w".to_string(),
                ScalarValue::Float64(Some(self.rating.rated_power_w)),
            ),
            (
                "gamma_pdc_per_c".to_string(),
                ScalarValue::Float64(Some(self.rating.gamma_pdc_per_c)),
            ),
            (
                "v_mp".to_string(),
                ScalarValue::Float64(Some(self.rating.v_mp)),
            ),
            (
                "i_mp".to_string(),
                ScalarValue::Float64(Some(self.rating.i_mp)),
            ),
        ]))
    }
}

/// Where ingest reads readings: the Kafka topic, or (for comparisons with systems that cannot
/// read Kafka) a Parquet file or directory with the Kafka table's reading columns.
#[derive(Debug, Clone)]
pub enum Readings {
    Kafka(KafkaTableConfig),
    Parquet(String),
}

impl Readings {
    fn validate(&self) -> Result<(), ParamError> {
        match self {
            Readings::Kafka(kafka) if kafka.brokers.trim().is_empty() => Err(invalid(
                "brokers",
                "no Kafka brokers given ([kafka] brokers, --brokers)",
            )),
            Readings::Kafka(kafka) if kafka.topic.trim().is_empty() => {
                Err(invalid("topic", "the topic name is empty"))
            }
            Readings::Parquet(location)
                if !location.contains("://") && !Path::new(location).exists() =>
            {
                Err(invalid(
                    "readings-parquet",
                    format!("{location} does not exist"),
                ))
            }
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for Readings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Readings::Kafka(k) => write!(f, "kafka://{}/{}", k.brokers, k.topic),
            Readings::Parquet(location) => f.write_str(location),
        }
    }
}

/// The readings whose windows start on `date`: from the first window boundary at or after
/// midnight to the first one at or after the next midnight. Windows straddling midnight belong to
/// the day they start, so consecutive days' ranges meet exactly.
pub fn day_range(date: NaiveDate) -> TimeRange {
    let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc().timestamp();
    let grid = |seconds: i64| {
        seconds.div_euclid(WINDOW_SECONDS) * WINDOW_SECONDS
            + if seconds.rem_euclid(WINDOW_SECONDS) == 0 {
                0
            } else {
                WINDOW_SECONDS
            }
    };
    let next = date.succ_opt().unwrap_or(date);
    TimeRange {
        start: Some(grid(midnight(date)) * 1000),
        end: Some(grid(midnight(next)) * 1000),
    }
}

/// A dataset's root: a local directory (created if missing) or an object-store URL, always as a
/// URL ending in `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetRoot(url::Url);

impl DatasetRoot {
    pub fn parse(name: &'static str, location: &str) -> Result<Self, ParamError> {
        let location = location.trim();
        if location.is_empty() {
            return Err(invalid(name, "the location is empty"));
        }
        let mut url = if location.contains("://") {
            let url = url::Url::parse(location)
                .map_err(|e| invalid(name, format!("{location} is not a URL: {e}")))?;
            match url.scheme() {
                "file" | "s3" => url,
                other => {
                    return Err(invalid(
                        name,
                        format!(
                            "{location}: unsupported scheme {other} (a directory, file:// or s3://)"
                        ),
                    ));
                }
            }
        } else {
            let path = std::path::absolute(Path::new(location))
                .map_err(|e| invalid(name, format!("{location}: {e}")))?;
            std::fs::create_dir_all(&path)
                .map_err(|e| invalid(name, format!("cannot create {}: {e}", path.display())))?;
            url::Url::from_directory_path(&path).map_err(|()| {
                invalid(name, format!("{} is not an absolute path", path.display()))
            })?
        };
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        Ok(DatasetRoot(url))
    }

    pub fn url(&self) -> &str {
        self.0.as_str()
    }

    /// The URL of a directory under the root.
    pub fn join(&self, relative: &str) -> String {
        format!("{}{relative}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        pvflow_dataset::layout::parse_date(s).expect("date")
    }

    #[test]
    fn day_ranges_follow_the_window_grid_and_meet() {
        let a = day_range(date("2026-06-01"));
        let b = day_range(date("2026-06-02"));
        assert_eq!(a.end, b.start);
        for ms in [a.start, a.end].into_iter().flatten() {
            assert_eq!(ms % (WINDOW_SECONDS * 1000), 0);
        }
        // 2026-06-01T00:00:00Z is 1_780_272_000 s, 1_390_837.5 windows: the day starts 640 s in.
        assert_eq!(a.start, Some((1_780_272_000 + 640) * 1000));
        assert_eq!(
            (a.end.unwrap() - a.start.unwrap()) / 1000 / WINDOW_SECONDS,
            67
        );
    }

    #[test]
    fn locations_become_directory_urls_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().expect("dir");
        let silver = dir.path().join("silver");
        let root = DatasetRoot::parse("silver", silver.to_str().expect("utf-8")).expect("dir");
        assert!(root.url().starts_with("file:///") && root.url().ends_with("/silver/"));
        assert!(silver.is_dir());
        assert_eq!(
            DatasetRoot::parse("gold", "s3://bucket/gold")
                .expect("s3")
                .url(),
            "s3://bucket/gold/"
        );
        let e = DatasetRoot::parse("gold", "ftp://x/gold").expect_err("scheme");
        assert_eq!(e.name, "gold");
        assert!(e.to_string().contains("unsupported scheme ftp"), "{e}");
        let e = RunParams::new(
            Plan::Ingest,
            date("2026-06-01"),
            Readings::Kafka(KafkaTableConfig::new("", "t")),
            silver.to_str().expect("utf-8"),
            "gold",
        )
        .expect_err("no brokers");
        assert_eq!(e.name, "brokers");
        let on_s3 = RunParams::new(
            Plan::Predict,
            date("2026-06-01"),
            Readings::Kafka(KafkaTableConfig::new("", "t")),
            "s3://bucket/silver",
            "s3://bucket/gold",
        )
        .expect("predict on S3");
        assert_eq!(on_s3.gold.url(), "s3://bucket/gold/");
    }
}
