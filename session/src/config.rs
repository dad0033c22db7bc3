//! pvflow's configuration: `pvflow.toml`, then `PVFLOW_<SECTION>_<KEY>` environment variables,
//! then command-line flags (applied by the binaries), later sources winning.

use crate::memory::MemoryConfig;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Environment variable naming the configuration file when `--config` is not given.
pub const CONFIG_ENV: &str = "PVFLOW_CONFIG";
/// Prefix of the per-key environment variables.
const ENV_PREFIX: &str = "PVFLOW_";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    Missing(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
}

/// The whole configuration. Sections grow with the components that read them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PvflowConfig {
    pub model: ModelConfig,
    pub kafka: KafkaConfig,
    pub storage: StorageConfig,
    pub api: ApiConfig,
    pub cluster: ClusterConfig,
    pub memory: MemoryConfig,
    pub flight_sql: FlightSqlConfig,
    pub streaming: StreamingConfig,
    /// `[episodes]`: when fault episodes open and close (`open_after`, `close_after`,
    /// `daylight_irradiance`; `PVFLOW_EPISODES_*`), the same rules wherever diagnoses are.
    pub episodes: pvflow_episodes::EpisodeRules,
    /// `[plant]`: the plant's description and the arrays' DC rating (`PVFLOW_PLANT_*`).
    pub plant: PlantConfig,
}

/// `[plant]`: what the plant is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlantConfig {
    /// A plant description, `plant.toml` (`PVFLOW_PLANT_DESCRIPTION`; plant/examples/), shown
    /// as the table `devices` in every session; a file with an error stops the session from
    /// starting, naming its line and field.
    pub description: Option<PathBuf>,
    /// An array's DC power at STC (W) (`PVFLOW_PLANT_RATED_POWER_W`), from which predict
    /// expects each window's power and counts the energy fault episodes cost.
    pub rated_power_w: f64,
    /// Its power temperature coefficient (1/°C) (`PVFLOW_PLANT_GAMMA_PDC_PER_C`).
    pub gamma_pdc_per_c: f64,
    /// Its maximum-power voltage (V) and current (A) at STC (`PVFLOW_PLANT_V_MP`,
    /// `PVFLOW_PLANT_I_MP`), which a model with nameplate normalisation divides the series by.
    pub v_mp: f64,
    pub i_mp: f64,
}

impl Default for PlantConfig {
    fn default() -> Self {
        let rating = pvflow_udfs::ArrayRating::default();
        PlantConfig {
            description: None,
            rated_power_w: rating.rated_power_w,
            gamma_pdc_per_c: rating.gamma_pdc_per_c,
            v_mp: rating.v_mp,
            i_mp: rating.i_mp,
        }
    }
}

impl PlantConfig {
    /// The arrays' rating, as predict's PVWatts expectation and nameplate scaling take it.
    pub fn rating(&self) -> pvflow_udfs::ArrayRating {
        pvflow_udfs::ArrayRating {
            rated_power_w: self.rated_power_w,
            gamma_pdc_per_c: self.gamma_pdc_per_c,
            v_mp: self.v_mp,
            i_mp: self.i_mp,
        }
    }
}

/// `[streaming]`: `pvflow stream`, the live diagnosis of windows as they close.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamingConfig {
    /// The Kafka consumer group every `pvflow stream` of one live table joins
    /// (`PVFLOW_STREAMING_GROUP`).
    pub group: String,
    /// How far behind the newest reading of its partition a reading may be and still count as
    /// on time (`PVFLOW_STREAMING_DELAY_SECONDS`): the watermark is the newest time minus this.
    pub delay_seconds: u64,
    /// How long after the watermark passes a window's end it still takes readings
    /// (`PVFLOW_STREAMING_GRACE_SECONDS`).
    pub grace_seconds: u64,
    /// A partition without readings this long has its watermark advance with the clock
    /// (`PVFLOW_STREAMING_IDLE_TIMEOUT_SECONDS`), so its last windows close.
    pub idle_timeout_seconds: u64,
    /// How often closed windows are diagnosed and committed to the live table
    /// (`PVFLOW_STREAMING_COMMIT_INTERVAL_SECONDS`).
    pub commit_interval_seconds: u64,
    /// The Kafka topic fault episode events are published to, keyed by device ID
    /// (`PVFLOW_STREAMING_EVENTS_TOPIC`).
    pub events_topic: String,
}

impl Default for StreamingConfig {
    fn default() -> Self {
        StreamingConfig {
            group: "pvflow-stream".into(),
            delay_seconds: 60,
            grace_seconds: 120,
            idle_timeout_seconds: 300,
            commit_interval_seconds: 10,
            events_topic: "pv.fault-events".into(),
        }
    }
}

/// `[flight_sql]`: the scheduler's Arrow Flight SQL endpoint (`pvflow-scheduler --flight-sql`),
/// whose password is `[api] token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlightSqlConfig {
    /// With `tls_key`, Flight SQL is served over TLS only, on `tls_port`, with this PEM
    /// certificate chain (`PVFLOW_FLIGHT_SQL_TLS_CERT`; on Kubernetes, from a Secret). Unset:
    /// plain gRPC on the scheduler's own port.
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `tls_cert` (`PVFLOW_FLIGHT_SQL_TLS_KEY`).
    pub tls_key: Option<PathBuf>,
    /// Where Flight SQL over TLS listens, on the scheduler's bind host
    /// (`PVFLOW_FLIGHT_SQL_TLS_PORT`). The scheduler's port keeps the cluster's own gRPC.
    pub tls_port: u16,
}

impl Default for FlightSqlConfig {
    fn default() -> Self {
        FlightSqlConfig {
            tls_cert: None,
            tls_key: None,
            tls_port: 50443,
        }
    }
}

/// `[cluster]`: how clients of a pvflow cluster (`--scheduler`) split their queries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Partitions of a job's stages: its shuffles' width, so the tasks of a stage
    /// (`PVFLOW_CLUSTER_PARTITIONS`). Best equal to the executors' task slots in total: more
    /// tasks than slots each pay the scheduling cost for nothing. Unset: Ballista's 16.
    pub partitions: Option<usize>,
}

/// `[api]`: the run API (`pvflow serve`) and its clients (`pvflow runs`), and Flight SQL's
/// password.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// The bearer token the API requires of every run request, and its clients send
    /// (`PVFLOW_API_TOKEN`). Unset, with no `tokens` either: the API takes requests from anyone
    /// who reaches it.
    pub token: Option<String>,
    /// Further tokens the servers accept (`PVFLOW_API_TOKENS='["old", "new"]'`), so that a token
    /// is rotated without downtime: add the new one here, move clients to it, then remove the old.
    pub tokens: Vec<String>,
    /// How long the run API gives one request, its body included, before answering 408
    /// (`PVFLOW_API_REQUEST_TIMEOUT_SECONDS`): a client that sends slowly cannot hold a
    /// connection and a task forever.
    pub request_timeout_seconds: u64,
    /// The run API serves HTTPS with this PEM certificate chain and `tls_key`
    /// (`PVFLOW_API_TLS_CERT`; on Kubernetes, from a Secret); unset, plain HTTP.
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `tls_cert` (`PVFLOW_API_TLS_KEY`).
    pub tls_key: Option<PathBuf>,
    /// The most days one read of diagnoses or episodes may span (`PVFLOW_API_MAX_RANGE_DAYS`);
    /// a longer range is refused with 400.
    pub max_range_days: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            token: None,
            tokens: Vec::new(),
            request_timeout_seconds: 60,
            tls_cert: None,
            tls_key: None,
            max_range_days: 31,
        }
    }
}

impl ApiConfig {
    /// Whether requests must carry a token: one is configured (an empty one is none).
    pub fn requires_token(&self) -> bool {
        self.accepted().next().is_some()
    }

    fn accepted(&self) -> impl Iterator<Item = &str> {
        self.token
            .iter()
            .chain(&self.tokens)
            .map(String::as_str)
            .filter(|t| !t.is_empty())
    }

    /// Whether `presented` is one of the configured tokens (false when none is set). Compared
    /// in time independent of where they differ, so that timing does not reveal how much of a
    /// guess was right.
    pub fn accepts(&self, presented: &str) -> bool {
        let equal = |token: &str| {
            let (a, b) = (presented.as_bytes(), token.as_bytes());
            a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
        };
        // Every token compared, so that timing does not reveal which one matched either.
        self.accepted()
            .fold(false, |found, token| equal(token) | found)
    }
}

// No token reaches a log through a `{:?}`.
impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tokens", &format!("<{} redacted>", self.tokens.len()))
            .field("request_timeout_seconds", &self.request_timeout_seconds)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .finish()
    }
}

/// `[storage]`: where plan runs write. A directory or a `file://` URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Silver, the windows and their scalograms (`PVFLOW_STORAGE_SILVER`).
    pub silver: String,
    /// Gold, the fault diagnoses (`PVFLOW_STORAGE_GOLD`).
    pub gold: String,
    /// The live table: `pvflow stream`'s diagnoses of windows as they close
    /// (`PVFLOW_STORAGE_LIVE`).
    pub live: String,
    /// Further directories or URL prefixes (`s3://bucket/exports/`) that the servers (run API,
    /// Flight SQL, executors) may read and write besides silver and gold, such as readings
    /// exported as Parquet (`PVFLOW_STORAGE_ROOTS='["/srv/exports"]'`). Servers reach nothing
    /// else.
    pub roots: Vec<String>,
    /// How long one request to S3 is retried, with backoff, before it fails and with it the
    /// run (`PVFLOW_STORAGE_RETRY_TIMEOUT_SECONDS`): a store that stopped answering fails a run
    /// within about this time, a brief outage does not.
    pub retry_timeout_seconds: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            silver: "data/silver".into(),
            gold: "data/gold".into(),
            live: "data/live".into(),
            roots: Vec::new(),
            // object_store's own default.
            retry_timeout_seconds: 180,
        }
    }
}

/// `[kafka]`: where readings are published and read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port]` (`PVFLOW_KAFKA_BROKERS`).
    pub brokers: Option<String>,
    /// The readings topic (`PVFLOW_KAFKA_TOPIC`).
    pub topic: String,
    /// librdkafka settings of this node, such as SASL credentials (`[kafka.client]`,
    /// `PVFLOW_KAFKA_CLIENT='{"sasl.password"="..."}'`). Secrets among them never travel in
    /// plans: each node decoding a Kafka scan adds its own.
    pub client: BTreeMap<String, String>,
    /// How late a reading may be stored, behind newer ones of its partition, and still be read
    /// with its day (`PVFLOW_KAFKA_LATENESS_MS`; a Kafka table's `lateness.ms`).
    pub lateness_ms: u64,
}

impl KafkaConfig {
    /// The librdkafka settings for a client of `brokers`: all of `[kafka] client` when they are
    /// this node's configured brokers; without its secrets otherwise, so that a plan or request
    /// naming other brokers never sends them this node's credentials.
    pub fn client_for(&self, brokers: &str) -> BTreeMap<String, String> {
        let ours = self
            .brokers
            .as_deref()
            .is_some_and(|configured| same_brokers(configured, brokers));
        self.client
            .iter()
            .filter(|(key, _)| ours || !pvflow_kafka::is_secret(key))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Whether two bootstrap lists name the same brokers, whatever their order and spacing.
fn same_brokers(a: &str, b: &str) -> bool {
    let set = |list: &str| {
        let mut brokers: Vec<String> = list
            .split(',')
            .map(|b| b.trim().to_ascii_lowercase())
            .filter(|b| !b.is_empty())
            .collect();
        brokers.sort();
        brokers.dedup();
        brokers
    };
    let a = set(a);
    !a.is_empty() && a == set(b)
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: None,
            topic: "pv.readings".into(),
            client: BTreeMap::new(),
            lateness_ms: pvflow_kafka::DEFAULT_LATENESS_MS,
        }
    }
}

/// `[model]`: the classification model and the parameters fixed with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// `normalization.json` holding `pv_scalogram`'s per-channel mean and std
    /// (`PVFLOW_MODEL_NORMALIZATION`). Unset: scalograms of the raw readings.
    pub normalization: Option<PathBuf>,
    /// The ONNX fault classifier `pv_fault_classify` runs (`PVFLOW_MODEL_PATH`), loaded once at
    /// start-up. Unset: the function plans but fails to run, saying what to set.
    pub path: Option<PathBuf>,
    /// The ONNX Runtime shared library (`libonnxruntime.so`) that runs the model
    /// (`PVFLOW_MODEL_ONNXRUNTIME`). Unset: `ORT_DYLIB_PATH`.
    pub onnxruntime: Option<PathBuf>,
}

/// Sections the environment may set; other `PVFLOW_*` variables (such as `PVFLOW_CONFIG`)
/// are not configuration keys.
const SECTIONS: &[&str] = &[
    "model",
    "kafka",
    "storage",
    "api",
    "cluster",
    "memory",
    "flight_sql",
    "streaming",
    "episodes",
    "plant",
];

impl PvflowConfig {
    /// Loads defaults, then the file (`path`, else `$PVFLOW_CONFIG`, else `./pvflow.toml` if it
    /// exists), then the environment. A file named explicitly must exist.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let explicit = path
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from));
        let file = match explicit {
            Some(p) if !p.is_file() => return Err(ConfigError::Missing(p)),
            Some(p) => Some(p),
            None => Some(PathBuf::from("pvflow.toml")).filter(|p| p.is_file()),
        };
        let mut figment = Figment::from(Serialized::defaults(PvflowConfig::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(Env::prefixed(ENV_PREFIX).filter_map(|key| {
            // MODEL_NORMALIZATION -> model.normalization, FLIGHT_SQL_TLS_PORT ->
            // flight_sql.tls_port: the section's name, then `_`, then the key.
            let key = key.as_str();
            SECTIONS.iter().find_map(|section| {
                let rest = key
                    .get(..section.len())
                    .filter(|head| head.eq_ignore_ascii_case(section))
                    .and_then(|_| key[section.len()..].strip_prefix('_'))?;
                Some(format!("{section}.{}", rest.to_ascii_lowercase()).into())
            })
        }));
        figment
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "custom.toml",
                "[model]\nnormalization = \"from-file.json\"\n",
            )?;
            let c = PvflowConfig::load(Some(Path::new("custom.toml"))).expect("loads");
            assert_eq!(c.model.normalization, Some(PathBuf::from("from-file.json")));
            jail.set_env("PVFLOW_MODEL_NORMALIZATION", "from-env.json");
            let c = PvflowConfig::load(Some(Path::new("custom.toml"))).expect("loads");
            assert_eq!(c.model.normalization, Some(PathBuf::from("from-env.json")));
            // Sections and keys with underscores of their own.
            jail.set_env("PVFLOW_FLIGHT_SQL_TLS_PORT", "1443");
            jail.set_env("PVFLOW_STORAGE_RETRY_TIMEOUT_SECONDS", "7");
            let c = PvflowConfig::load(None).expect("loads");
            assert_eq!(c.flight_sql.tls_port, 1443);
            assert_eq!(c.storage.retry_timeout_seconds, 7);
            Ok(())
        });
    }

    #[test]
    fn the_api_token_comes_from_the_environment_and_never_shows_in_debug_output() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PVFLOW_API_TOKEN", "s3cret-token");
            let c = PvflowConfig::load(None).expect("loads");
            assert_eq!(c.api.token.as_deref(), Some("s3cret-token"));
            assert!(c.api.accepts("s3cret-token"));
            assert!(!c.api.accepts("s3cret-tokeN") && !c.api.accepts(""));
            assert!(!ApiConfig::default().accepts(""));
            // Rotation: the old token and the new one both work until the old one is removed.
            jail.set_env("PVFLOW_API_TOKENS", r#"["n3xt-token", ""]"#);
            let c = PvflowConfig::load(None).expect("loads");
            assert!(c.api.accepts("s3cret-token") && c.api.accepts("n3xt-token"));
            assert!(!c.api.accepts("") && !c.api.accepts("n3xt-tokeN"));
            assert!(!format!("{c:?}").contains("n3xt-token"));
            let shown = format!("{c:?}");
            assert!(!shown.contains("s3cret-token"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
            Ok(())
        });
    }

    #[test]
    fn config_path_from_environment_and_defaults_without_a_file() {
        figment::Jail::expect_with(|jail| {
            assert_eq!(
                PvflowConfig::load(None).expect("defaults"),
                PvflowConfig::default()
            );
            jail.create_file("elsewhere.toml", "[model]\nnormalization = \"n.json\"\n")?;
            jail.set_env(CONFIG_ENV, "elsewhere.toml");
            let c = PvflowConfig::load(None).expect("loads");
            assert_eq!(c.model.normalization, Some(PathBuf::from("n.json")));
            Ok(())
        });
    }

    #[test]
    fn the_memory_pool_is_a_size_a_share_or_none() {
        use crate::memory::PoolSize;
        figment::Jail::expect_with(|jail| {
            let c = PvflowConfig::load(None).expect("defaults");
            assert_eq!(c.memory.pool, PoolSize::Share(50));
            jail.create_file("pool.toml", "[memory]\npool = \"4GiB\"\n")?;
            let c = PvflowConfig::load(Some(Path::new("pool.toml"))).expect("loads");
            assert_eq!(c.memory.pool_bytes(), Some(4 << 30));
            jail.set_env("PVFLOW_MEMORY_POOL", "0");
            jail.set_env("PVFLOW_MEMORY_SPILL_DIR", "/var/tmp/spill");
            let c = PvflowConfig::load(Some(Path::new("pool.toml"))).expect("loads");
            assert_eq!(c.memory.pool, PoolSize::Unbounded);
            assert_eq!(c.memory.spill_dir, Some(PathBuf::from("/var/tmp/spill")));
            jail.set_env("PVFLOW_MEMORY_POOL", "lots");
            let e = PvflowConfig::load(None).unwrap_err().to_string();
            assert!(e.contains("memory pool `lots`"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn mistakes_are_named() {
        figment::Jail::expect_with(|jail| {
            let e = PvflowConfig::load(Some(Path::new("absent.toml")))
                .unwrap_err()
                .to_string();
            assert!(e.contains("absent.toml does not exist"), "{e}");
            jail.create_file("typo.toml", "[model]\nnormalisation = \"x\"\n")?;
            let e = PvflowConfig::load(Some(Path::new("typo.toml")))
                .unwrap_err()
                .to_string();
            assert!(e.contains("normalisation"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn kafka_credentials_go_only_to_the_configured_brokers() {
        let kafka = KafkaConfig {
            brokers: Some("kafka-0:9093, kafka-1:9093".into()),
            client: BTreeMap::from([
                ("security.protocol".into(), "SASL_SSL".into()),
                ("sasl.password".into(), "hunter2".into()),
            ]),
            ..KafkaConfig::default()
        };
        let ours = kafka.client_for("kafka-1:9093,kafka-0:9093");
        assert_eq!(ours["sasl.password"], "hunter2");
        for theirs in ["attacker:9092", "kafka-0:9093", ""] {
            let client = kafka.client_for(theirs);
            assert!(!client.contains_key("sasl.password"), "{theirs}");
            assert_eq!(client["security.protocol"], "SASL_SSL");
        }
        let unset = KafkaConfig {
            brokers: None,
            ..kafka
        };
        assert!(
            !unset
                .client_for("kafka-0:9093")
                .contains_key("sasl.password")
        );
    }
}
