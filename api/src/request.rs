//! What starts a run: the plan, the day, and where to read and write (`pvflow run`'s flags).

use chrono::NaiveDate;
use pvflow_kafka::KafkaTableConfig;
use pvflow_runner::{ParamError, Plan, Readings, RunParams};
use pvflow_session::{Locations, PvflowConfig};
use serde::{Deserialize, Serialize};

/// A request for a run, as `POST /runs` takes it and `pvflow run` builds it from its flags.
/// Unset locations come from the configuration of whoever runs the plan. Fields are text so
/// that an invalid value is refused with the parameter's name, not a JSON parser's position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// `ingest` or `predict`.
    pub plan: String,
    /// The day (UTC), `YYYY-MM-DD`.
    pub date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brokers: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gold: Option<String>,
    /// ingest: read readings from this Parquet file or directory instead of Kafka.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readings_parquet: Option<String>,
    /// ingest: run only if the topic holds readings of the day its last ingest did not read
    /// (or the day was never ingested from Kafka).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub if_late: bool,
    /// An `http(s)://` URL the API posts the run's final status to when it ends (run API only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
}

/// A request checked against the configuration: everything a run needs.
#[derive(Debug, Clone)]
pub struct ValidRequest {
    pub plan: Plan,
    pub date: NaiveDate,
    pub params: RunParams,
    pub notify: Option<reqwest::Url>,
}

impl ValidRequest {
    /// The dataset the run writes (and keeps its manifest under).
    pub fn output(&self) -> &str {
        match self.plan {
            Plan::Ingest => self.params.silver.url(),
            Plan::Predict => self.params.gold.url(),
        }
    }
}

fn invalid(name: &'static str, why: String) -> ParamError {
    ParamError { name, why }
}

impl RunRequest {
    /// Checks every parameter, filling the unset ones from `config`; the error names the first
    /// invalid one.
    pub fn validate(&self, config: &PvflowConfig) -> Result<ValidRequest, ParamError> {
        let plan = Plan::from_name(&self.plan).ok_or_else(|| {
            invalid(
                "plan",
                format!("'{}' is not a plan (ingest, predict)", self.plan),
            )
        })?;
        let date = pvflow_runner::parse_date(&self.date).map_err(|e| invalid("date", e))?;
        if self.if_late && plan != Plan::Ingest {
            return Err(invalid(
                "if_late",
                "is for ingest: predict after an ingest that ran".into(),
            ));
        }
        if self.if_late && self.readings_parquet.is_some() {
            return Err(invalid(
                "if_late",
                "compares Kafka offsets: it does not go with readings_parquet".into(),
            ));
        }
        let readings = match &self.readings_parquet {
            Some(_) if self.brokers.is_some() || self.topic.is_some() => {
                return Err(invalid(
                    "readings_parquet",
                    "readings come from Kafka (brokers, topic) or from Parquet, not both".into(),
                ));
            }
            Some(path) => Readings::Parquet(path.clone()),
            None => {
                let brokers = self
                    .brokers
                    .clone()
                    .or_else(|| config.kafka.brokers.clone())
                    .unwrap_or_default();
                let topic = self
                    .topic
                    .clone()
                    .unwrap_or_else(|| config.kafka.topic.clone());
                let mut kafka = KafkaTableConfig::new(brokers, topic);
                kafka.client = config.kafka.client_for(&kafka.brokers);
                kafka.lateness_ms = config.kafka.lateness_ms;
                Readings::Kafka(kafka)
            }
        };
        let params = RunParams::new(
            plan,
            date,
            readings,
            self.silver.as_deref().unwrap_or(&config.storage.silver),
            self.gold.as_deref().unwrap_or(&config.storage.gold),
        )?
        .with_plant(config.plant.rating(), config.episodes)?;
        let notify = self.notify_url.as_deref().map(notify_url).transpose()?;
        Ok(ValidRequest {
            plan,
            date,
            params,
            notify,
        })
    }
}

/// `notify_url` parsed: an absolute `http` or `https` URL with a host, at most 2 KiB.
fn notify_url(url: &str) -> Result<reqwest::Url, ParamError> {
    let refused = |why: &str| invalid("notify_url", format!("{url:?} {why}"));
    if url.len() > 2048 {
        return Err(invalid(
            "notify_url",
            "is longer than 2048 characters".into(),
        ));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| refused(&format!("is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(refused("is not an http:// or https:// URL with a host"));
    }
    Ok(parsed)
}

impl RunRequest {
    /// Refuses a location outside `locations`, a server's: a request reaches the datasets and
    /// what an operator configured for them, not wherever its body says. The error names the
    /// first parameter outside.
    pub fn check_locations(&self, locations: &Locations) -> Result<(), ParamError> {
        let given = [
            ("silver", &self.silver),
            ("gold", &self.gold),
            ("readings_parquet", &self.readings_parquet),
        ];
        for (name, location) in given {
            if let Some(location) = location {
                locations
                    .check(location)
                    .map_err(|e| invalid(name, e.to_string()))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(plan: &str, date: &str) -> RunRequest {
        RunRequest {
            plan: plan.into(),
            date: date.into(),
            brokers: Some("127.0.0.1:9092".into()),
            ..RunRequest::default()
        }
    }

    #[test]
    fn fills_unset_locations_from_the_configuration() {
        let valid = request("predict", "2026-06-01")
            .validate(&PvflowConfig::default())
            .expect("valid");
        assert_eq!(valid.plan, Plan::Predict);
        assert_eq!(valid.date.to_string(), "2026-06-01");
        assert_eq!(valid.output(), valid.params.gold.url());
    }

    #[test]
    fn names_the_invalid_parameter() {
        let config = PvflowConfig::default();
        let refused = |r: RunRequest| r.validate(&config).expect_err("refused");
        assert_eq!(refused(request("train", "2026-06-01")).name, "plan");
        let date = refused(request("ingest", "2026-13-01"));
        assert_eq!(date.name, "date");
        assert!(date.why.contains("2026-13-01"), "{}", date.why);
        let both = RunRequest {
            readings_parquet: Some("readings.parquet".into()),
            ..request("ingest", "2026-06-01")
        };
        assert_eq!(refused(both).name, "readings_parquet");
        let no_brokers = RunRequest {
            brokers: None,
            ..request("ingest", "2026-06-01")
        };
        assert_eq!(refused(no_brokers).name, "brokers");
    }

    #[test]
    fn refuses_unknown_fields() {
        let json = r#"{"plan": "ingest", "date": "2026-06-01", "dates": "x"}"#;
        let error = serde_json::from_str::<RunRequest>(json).expect_err("unknown field");
        assert!(error.to_string().contains("dates"), "{error}");
    }

    #[test]
    fn locations_outside_the_servers_are_named() {
        let mut config = PvflowConfig::default();
        config.storage.roots = vec!["/srv/exports".into()];
        let locations = Locations::of(&config.storage).expect("valid");
        let ok = RunRequest {
            silver: Some("data/silver".into()),
            readings_parquet: Some("/srv/exports/day.parquet".into()),
            ..request("ingest", "2026-06-01")
        };
        assert_eq!(ok.check_locations(&locations), Ok(()));
        let cases = [
            ("silver", "/tmp/elsewhere"),
            ("gold", "s3://another-bucket/gold/"),
            ("readings_parquet", "/etc/passwd"),
        ];
        for (name, location) in cases {
            let mut r = request("ingest", "2026-06-01");
            match name {
                "silver" => r.silver = Some(location.into()),
                "gold" => r.gold = Some(location.into()),
                _ => r.readings_parquet = Some(location.into()),
            }
            let e = r.check_locations(&locations).expect_err(location);
            assert_eq!(e.name, name);
            assert!(e.why.contains("outside the locations"), "{}", e.why);
        }
    }

    /// Generated run parameters (plans, dates, brokers, topics and locations with odd values
    /// and characters), checked as the API checks them: never a panic, every refusal names a
    /// parameter of the request and says why, and nothing is created outside the roots.
    #[test]
    fn generated_parameters_are_accepted_or_refused_by_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
        let mut config = PvflowConfig::default();
        config.storage.silver = root("silver");
        config.storage.gold = root("gold");
        config.storage.roots = vec![root("exports")];
        config.kafka.brokers = Some("127.0.0.1:9092".into());
        let locations = Locations::of(&config.storage).expect("valid");
        let plans = ["ingest", "predict", "", "INGEST", "train", "ingest\u{0}"];
        let dates = [
            "2026-06-01",
            "2026-02-29",
            "2024-02-29",
            "0000-01-01",
            "+10000-01-01",
            "2026-6-1",
            "2026-06-01T00:00:00Z",
            "",
            "yesterday",
            "2026-06-01\n",
            "9999-12-31",
        ];
        let texts = [
            "",
            " ",
            "127.0.0.1:9092",
            "h:1,h:2",
            "\u{0}",
            "é",
            "../..",
            "s3://",
            "s3:///x",
            "gs://b/x",
            "file:///etc/passwd",
            "/etc/passwd",
            "%2e%2e",
            "a\nb",
        ];
        let dataset_locations = [
            root("silver"),
            root("gold"),
            root("exports/day.parquet"),
            root("silver/../../x"),
            root("silver-other"),
            root("gold/sub"),
            "data/silver".into(),
            "".into(),
            "s3://bucket/silver/".into(),
            "file://".into(),
            "/".into(),
            "\u{0}".into(),
        ];
        let notify_urls = [
            "https://hooks.example.org/pvflow?team=om",
            "http://10.0.0.5:8080/runs",
            "ftp://hooks.example.org/",
            "hooks.example.org/pvflow",
            "",
        ];
        let mut rng = pvflow_testkit::SeededRandom::new(0x51_7C_C1_B7_27_22_0A_95);
        let mut pick = |choices: &[&str]| choices[rng.below(choices.len())].to_string();
        let (mut valid, mut refused) = (0, 0);
        for round in 0..3000 {
            let location = |i: usize| {
                (round % (i + 2) != 0).then(|| {
                    dataset_locations[(round * 7 + i * 5) % dataset_locations.len()].clone()
                })
            };
            let request = RunRequest {
                plan: pick(&plans),
                date: pick(&dates),
                brokers: (round % 3 == 0).then(|| pick(&texts)),
                topic: (round % 4 == 0).then(|| pick(&texts)),
                silver: location(0),
                gold: location(1),
                readings_parquet: (round % 5 == 0).then(|| location(2)).flatten(),
                if_late: round % 7 == 0,
                // Not drawn from `rng`: the other fields' draws stay as they were.
                notify_url: (round % 11 == 0)
                    .then(|| notify_urls[round / 11 % notify_urls.len()].to_string()),
            };
            match request
                .check_locations(&locations)
                .and_then(|()| request.validate(&config))
            {
                Ok(_) => valid += 1,
                Err(e) => {
                    refused += 1;
                    assert!(
                        [
                            "plan",
                            "date",
                            "brokers",
                            "topic",
                            "silver",
                            "gold",
                            "readings_parquet",
                            "readings-parquet",
                            "if_late",
                            "notify_url"
                        ]
                        .contains(&e.name),
                        "{e}"
                    );
                    assert!(!e.why.is_empty(), "{request:?}");
                }
            }
        }
        assert!(
            valid > 100 && refused > 1000,
            "{valid} valid, {refused} refused"
        );
        let created: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            created
                .iter()
                .all(|name| ["silver", "gold", "exports"].contains(&name.as_str())),
            "{created:?}"
        );
    }
}
