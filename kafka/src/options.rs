//! A Kafka table's configuration: `LOCATION 'kafka://host:port[,host:port]/topic'` plus
//! `OPTIONS (...)`, validated with messages that name the option.

use crate::avro::AvroFraming;
use crate::decode::ValueFormat;
use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OptionsError {
    #[error("Kafka table LOCATION must look like kafka://host:port[,host:port]/topic, got {0:?}")]
    Location(String),
    #[error("Kafka table option '{key}': {why}")]
    Invalid { key: String, why: String },
    #[error(
        "unknown Kafka table option '{0}'; known: {known}, and kafka.<librdkafka setting>",
        known = KNOWN_OPTIONS.join(", ")
    )]
    Unknown(String),
}

/// The options a Kafka table takes besides `kafka.<librdkafka setting>`.
const KNOWN_OPTIONS: [&str; 7] = [
    "format",
    "avro.framing",
    "avro.schema_id",
    "lateness.ms",
    "quarantine",
    "slice.max_messages",
    "timeout.ms",
];

/// Three hours: readings delivered up to three hours after newer ones are read with their day,
/// for reading up to a quarter more of the topic than a day holds (an eighth for a day that
/// ended less than three hours ago, whose scan ends at the partitions' ends).
pub const DEFAULT_LATENESS_MS: u64 = 3 * 3_600_000;

/// Everything a scan needs to reach and decode a topic. Plain data, so a planned scan can be
/// shipped to other processes.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct KafkaTableConfig {
    /// `host:port[,host:port]`
    pub brokers: String,
    pub topic: String,
    pub format: ValueFormat,
    /// The table shows the messages that could not be decoded instead of the readings.
    pub quarantine: bool,
    /// A partition holding more messages than this in the scanned range is read as several
    /// slices, so one big partition still spreads over several tasks.
    pub max_slice_messages: i64,
    /// Bound on every broker round trip (metadata, offsets, a poll that should return data).
    pub timeout_ms: u64,
    /// How far behind newer messages of its partition a message may be stored, by timestamp:
    /// a scan of a time range reads the offsets of this much more on both sides, so readings
    /// delivered late (a gateway reconnecting, a historian's backlog) are still in their day.
    pub lateness_ms: u64,
    /// librdkafka settings passed through (`kafka.security.protocol` -> `security.protocol`).
    pub client: BTreeMap<String, String>,
    /// A readings scan writes the malformed messages it meets (in its range, by Kafka
    /// timestamp) as Parquet files of quarantine rows under this directory (a URL or absolute
    /// path the session's object stores resolve), so one pass keeps both. Set by programs (the
    /// ingest run), not a table option.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine_output: Option<String>,
}

impl KafkaTableConfig {
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        KafkaTableConfig {
            brokers: brokers.into(),
            topic: topic.into(),
            format: ValueFormat::Avro(AvroFraming::SingleObject),
            quarantine: false,
            max_slice_messages: 1_000_000,
            timeout_ms: 10_000,
            lateness_ms: DEFAULT_LATENESS_MS,
            client: BTreeMap::new(),
            quarantine_output: None,
        }
    }

    /// Parses a `CREATE EXTERNAL TABLE ... STORED AS KAFKA LOCATION ... OPTIONS (...)`.
    pub fn from_ddl(
        location: &str,
        options: &HashMap<String, String>,
    ) -> Result<Self, OptionsError> {
        let rest = location
            .strip_prefix("kafka://")
            .ok_or_else(|| OptionsError::Location(location.into()))?;
        let (brokers, topic) = rest
            .split_once('/')
            .ok_or_else(|| OptionsError::Location(location.into()))?;
        let valid_broker = |b: &str| {
            b.rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
        };
        if topic.is_empty() || topic.contains('/') || !brokers.split(',').all(valid_broker) {
            return Err(OptionsError::Location(location.into()));
        }
        let mut config = KafkaTableConfig::new(brokers, topic);
        // DataFusion hands undotted keys over as `format.<key>`.
        let options: BTreeMap<String, &String> = options
            .iter()
            .map(|(k, v)| {
                let k = k.to_ascii_lowercase();
                (
                    k.strip_prefix("format.").map(str::to_string).unwrap_or(k),
                    v,
                )
            })
            .collect();
        let get = |key: &str| options.get(key).map(|v| v.as_str());
        let invalid = |key: &str, why: String| OptionsError::Invalid {
            key: key.into(),
            why,
        };

        let framing = match get("avro.framing") {
            None | Some("single-object") => AvroFraming::SingleObject,
            Some("confluent") => {
                let id = get("avro.schema_id").ok_or_else(|| {
                    invalid(
                        "avro.schema_id",
                        "required with 'avro.framing' 'confluent'".into(),
                    )
                })?;
                let schema_id = id.parse().map_err(|_| {
                    invalid(
                        "avro.schema_id",
                        format!("{id:?} is not a 32-bit schema id"),
                    )
                })?;
                AvroFraming::Confluent { schema_id }
            }
            Some(other) => {
                return Err(invalid(
                    "avro.framing",
                    format!("{other:?}; use 'single-object' or 'confluent'"),
                ));
            }
        };
        config.format = match get("format") {
            None | Some("avro") => ValueFormat::Avro(framing),
            Some("json") => ValueFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "format",
                    format!("{other:?}; use 'avro' or 'json'"),
                ));
            }
        };
        if let Some(v) = get("quarantine") {
            config.quarantine = v
                .parse()
                .map_err(|_| invalid("quarantine", format!("{v:?}; use 'true' or 'false'")))?;
        }
        if let Some(v) = get("slice.max_messages") {
            config.max_slice_messages =
                v.parse().ok().filter(|n: &i64| *n > 0).ok_or_else(|| {
                    invalid(
                        "slice.max_messages",
                        format!("{v:?} is not a positive integer"),
                    )
                })?;
        }
        if let Some(v) = get("timeout.ms") {
            config.timeout_ms = v.parse().ok().filter(|n: &u64| *n > 0).ok_or_else(|| {
                invalid(
                    "timeout.ms",
                    format!("{v:?} is not a positive number of milliseconds"),
                )
            })?;
        }
        if let Some(v) = get("lateness.ms") {
            config.lateness_ms = v.parse().map_err(|_| {
                invalid(
                    "lateness.ms",
                    format!("{v:?} is not a number of milliseconds (0 or more)"),
                )
            })?;
        }
        for (key, value) in &options {
            if let Some(setting) = key.strip_prefix("kafka.") {
                config.client.insert(setting.to_string(), (*value).clone());
            } else if !KNOWN_OPTIONS.contains(&key.as_str()) {
                return Err(OptionsError::Unknown(key.clone()));
            }
        }
        Ok(config)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// librdkafka configuration for a consumer that reads assigned partitions (no group
    /// membership, no commits).
    pub fn consumer_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", "pvflow-scan")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            // A scan drains its queue as fast as it fills: librdkafka's default pauses a
            // partition's fetching for a whole second whenever 100,000 messages are queued,
            // which made each 200,000-message slice wait about 1 s (docs/benchmarks.md).
            .set("fetch.queue.backoff.ms", "10")
            .set("socket.timeout.ms", self.timeout_ms.max(10).to_string())
            .set("allow.auto.create.topics", "false");
        for (k, v) in &self.client {
            c.set(k, v);
        }
        c
    }
}

/// librdkafka settings whose values must never be shown.
pub fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "jaas",
        "oauthbearer.config",
        "ssl.key.pem",
        "ssl_key",
        "certificate.pem",
        "credentials",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// `key=value` pairs with secrets replaced, for plans and logs.
pub fn redacted(client: &BTreeMap<String, String>) -> String {
    client
        .iter()
        .map(|(k, v)| {
            if is_secret(k) {
                format!("{k}=***")
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Debug for KafkaTableConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaTableConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("format", &self.format)
            .field("quarantine", &self.quarantine)
            .field("max_slice_messages", &self.max_slice_messages)
            .field("timeout_ms", &self.timeout_ms)
            .field("client", &redacted(&self.client))
            .field("quarantine_output", &self.quarantine_output)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_location_and_options() {
        let c = KafkaTableConfig::from_ddl(
            "kafka://127.0.0.1:9092,broker2:9093/pv.readings",
            &opts(&[
                ("format", "avro"),
                ("avro.framing", "confluent"),
                ("avro.schema_id", "7"),
                ("kafka.security.protocol", "SASL_SSL"),
            ]),
        )
        .unwrap();
        assert_eq!(c.brokers, "127.0.0.1:9092,broker2:9093");
        assert_eq!(c.topic, "pv.readings");
        assert_eq!(
            c.format,
            ValueFormat::Avro(AvroFraming::Confluent { schema_id: 7 })
        );
        assert_eq!(c.client["security.protocol"], "SASL_SSL");
    }

    #[test]
    fn mistakes_name_the_option() {
        let e = KafkaTableConfig::from_ddl("http://x:1/t", &opts(&[])).unwrap_err();
        assert!(matches!(e, OptionsError::Location(_)));
        let e = KafkaTableConfig::from_ddl("kafka://x/t", &opts(&[])).unwrap_err();
        assert!(matches!(e, OptionsError::Location(_)));
        let e =
            KafkaTableConfig::from_ddl("kafka://x:1/t", &opts(&[("format", "xml")])).unwrap_err();
        assert!(e.to_string().contains("'format'"), "{e}");
        let e =
            KafkaTableConfig::from_ddl("kafka://x:1/t", &opts(&[("avro.framing", "confluent")]))
                .unwrap_err();
        assert!(e.to_string().contains("avro.schema_id"), "{e}");
        let e =
            KafkaTableConfig::from_ddl("kafka://x:1/t", &opts(&[("fromat", "avro")])).unwrap_err();
        assert_eq!(e, OptionsError::Unknown("fromat".into()));
        let e =
            KafkaTableConfig::from_ddl("kafka://x:1/t", &opts(&[("timeout.ms", "0")])).unwrap_err();
        assert!(e.to_string().contains("timeout.ms"), "{e}");
    }

    /// Generated locations and options (known keys with wild values, unknown keys, odd
    /// characters): parsing never panics, and every refusal names what it refuses.
    #[test]
    fn generated_locations_and_options_are_parsed_or_refused_by_name() {
        let mut rng = pvflow_testkit::SeededRandom::new(0x9E37_79B9_7F4A_7C15);
        let values = [
            "",
            "0",
            "-1",
            "1",
            "18446744073709551616",
            "true",
            "TRUE",
            "avro",
            "json",
            "xml",
            "confluent",
            "single-object",
            "4294967296",
            "1e3",
            " 5",
            "\u{0}",
            "é",
            "1000000",
        ];
        let locations = [
            "kafka://127.0.0.1:9092/pv.readings",
            "kafka://h:1,h2:2/t",
            "kafka://h:99999/t",
            "kafka://:1/t",
            "kafka://h:1/",
            "kafka://h:1/a/b",
            "kafka:/h:1/t",
            "",
            "kafka://",
            "kafka://h:1/t\u{0}",
            "kafka://[::1]:9092/t",
        ];
        let mut keys: Vec<String> = KNOWN_OPTIONS.iter().map(|k| k.to_string()).collect();
        keys.extend(
            [
                "FORMAT",
                "format.quarantine",
                "kafka.",
                "kafka.x.y",
                "fromat",
                "",
            ]
            .map(String::from),
        );
        for _ in 0..2000 {
            let location = locations[rng.below(locations.len())];
            let options: HashMap<String, String> = (0..rng.below(4))
                .map(|_| {
                    let key = keys[rng.below(keys.len())].clone();
                    (key, values[rng.below(values.len())].to_string())
                })
                .collect();
            match KafkaTableConfig::from_ddl(location, &options) {
                Ok(config) => {
                    assert!(config.max_slice_messages > 0 && config.timeout_ms > 0);
                }
                Err(OptionsError::Location(got)) => assert_eq!(got, location),
                Err(OptionsError::Invalid { key, why }) => {
                    assert!(KNOWN_OPTIONS.contains(&key.as_str()), "{key}");
                    assert!(!why.is_empty());
                }
                Err(OptionsError::Unknown(key)) => {
                    assert!(!KNOWN_OPTIONS.contains(&key.as_str()), "{key}");
                }
            }
        }
    }

    #[test]
    fn secrets_never_show() {
        let c = KafkaTableConfig::from_ddl(
            "kafka://x:1/t",
            &opts(&[
                ("kafka.sasl.password", "hunter2"),
                ("kafka.sasl.username", "alice"),
            ]),
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2")
                && shown.contains("sasl.password=***")
                && shown.contains("alice"),
            "{shown}"
        );
    }
}
