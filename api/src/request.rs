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
}

/// A request checked against the configuration: everything a run needs.
#[derive(Debug, Clone)]
pub struct ValidRequest {
    pub plan: Plan,
    pub date: NaiveDate,
    pub params: RunParams,
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
        )?;
        Ok(ValidRequest { plan, date, params })
    }
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
}
