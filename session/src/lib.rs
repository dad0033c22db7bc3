//! pvflow's composition root: the wiring every pvflow process shares.
//!
//! - [`PvflowConfig`]: the configuration file plus `PVFLOW_*` environment variables.
//! - [`pvflow_state`]: the one place a session is assembled (Kafka tables, staged writes,
//!   object stores, pvflow's functions, the datasets as tables), used by the embedded
//!   [`session_context`] and by [`DistributedParts`], which adds the codecs of a Ballista
//!   cluster, so that a plan means the same thing in the CLI, the scheduler and every executor.
//! - What binaries share: [`flags`] (every flag as an environment variable), [`logging`],
//!   [`signals`] and [`object_stores`].
//! - [`Locations`]: what a server's sessions may read and write.

mod codec;
mod config;
mod datasets;
mod devices;
mod distributed;
pub mod flags;
mod locations;
pub mod logging;
mod memory;
pub mod object_stores;
pub mod signals;

pub use config::{
    ApiConfig, CONFIG_ENV, ClusterConfig, ConfigError, FlightSqlConfig, KafkaConfig, ModelConfig,
    PlantConfig, PvflowConfig, StorageConfig, StreamingConfig,
};
pub use distributed::DistributedParts;
pub use locations::{LocationError, Locations};
pub use memory::{MemoryConfig, PoolSize};

use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{FunctionRegistry, SessionState, SessionStateBuilder};
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::{SessionConfig, SessionContext};
use devices::DevicesTable;
use pvflow_dataset::StagedWriteQueryPlanner;
use pvflow_kafka::{KAFKA_FORMAT, KafkaTableFactory};
use pvflow_udfs::{FaultModel, ModelError, Normalization, NormalizationError};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Normalization(#[from] NormalizationError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("cannot set up the runtime: {0}")]
    Runtime(datafusion::common::DataFusionError),
    #[error("invalid [storage] location: {0}")]
    Locations(#[from] LocationError),
    #[error("[plant] description: {0}")]
    Plant(#[from] pvflow_plant::PlantError),
}

/// The normalisation `pv_scalogram` applies, from `[model] normalization`.
pub fn normalization(config: &PvflowConfig) -> Result<Normalization, SessionError> {
    match &config.model.normalization {
        Some(path) => {
            let n = Normalization::from_json_file(path)?;
            tracing::info!(path = %path.display(), "pv_scalogram normalisation loaded");
            Ok(n)
        }
        None => {
            tracing::info!("no [model] normalization configured: scalograms of raw readings");
            Ok(Normalization::IDENTITY)
        }
    }
}

/// The fault classifier of `[model] path`, with ONNX Runtime from `[model] onnxruntime`; loaded
/// once per process.
pub fn fault_model(config: &PvflowConfig) -> Result<Option<Arc<FaultModel>>, SessionError> {
    let Some(path) = &config.model.path else {
        tracing::info!("no [model] path configured: pv_fault_classify cannot run");
        return Ok(None);
    };
    let model = FaultModel::load(path, config.model.onnxruntime.as_deref())?;
    tracing::info!(path = %path.display(), version = model.version(), "fault model loaded");
    Ok(Some(model))
}

/// Every pvflow function, with the normalisation and model `config` names.
#[derive(Debug, Clone)]
pub struct Functions {
    udfs: Vec<ScalarUDF>,
    udafs: Vec<AggregateUDF>,
    /// The plant description's `devices` table (empty without one), loaded with them.
    devices: Arc<DevicesTable>,
}

impl Functions {
    /// Loads the configured normalisation, model and plant description: a bad file fails
    /// here, naming the file.
    pub fn new(config: &PvflowConfig) -> Result<Functions, SessionError> {
        let description = match &config.plant.description {
            Some(path) => pvflow_plant::Plant::read(path)?,
            None => String::new(),
        };
        let devices = Arc::new(DevicesTable::parse(&description)?);
        if let Some(path) = &config.plant.description {
            tracing::info!(path = %path.display(), "plant description loaded");
        }
        Ok(Functions {
            udfs: pvflow_udfs::all_udfs(normalization(config)?, fault_model(config)?),
            udafs: pvflow_udfs::all_udafs(),
            devices,
        })
    }

    /// Registers them in `registry`: a session state, or a context whose functions were
    /// replaced (a Ballista client's).
    pub fn register(&self, registry: &mut dyn FunctionRegistry) -> datafusion::common::Result<()> {
        for udf in &self.udfs {
            registry.register_udf(Arc::new(udf.clone()))?;
        }
        for udaf in &self.udafs {
            registry.register_udaf(Arc::new(udaf.clone()))?;
        }
        Ok(())
    }
}

/// The one place a pvflow session is assembled, embedded or on a cluster, so that a plan means
/// the same thing in the CLI, the scheduler and every executor: `builder`'s state (DataFusion's
/// defaults or Ballista's) with Kafka tables (`STORED AS KAFKA`), staged Parquet writes (plan
/// runs' output), pvflow's object stores (reaching only `confined_to` when given: a server's),
/// `memory`'s pool and spill directory, every pvflow function, and the datasets of `storage`
/// as tables.
pub fn pvflow_state(
    builder: SessionStateBuilder,
    functions: &Functions,
    storage: &StorageConfig,
    memory: &MemoryConfig,
    confined_to: Option<Locations>,
) -> datafusion::common::Result<SessionState> {
    let planner: Arc<dyn QueryPlanner + Send + Sync> = match &confined_to {
        None => Arc::new(StagedWriteQueryPlanner),
        Some(locations) => Arc::new(locations::ConfinedQueryPlanner {
            inner: Arc::new(StagedWriteQueryPlanner),
            locations: locations.clone(),
        }),
    };
    let runtime = object_stores::runtime_env(
        storage,
        confined_to,
        memory.spill_dir.clone(),
        memory.pool(),
    )?;
    let mut state = builder
        .with_table_factory(KAFKA_FORMAT.into(), Arc::new(KafkaTableFactory))
        .with_query_planner(planner)
        .with_runtime_env(runtime)
        .build();
    functions.register(&mut state)?;
    datasets::register_datasets(&state, storage, functions.devices.clone())?;
    Ok(state)
}

/// An embedded session for a user's own commands ([`pvflow_state`] on DataFusion's defaults),
/// with `information_schema` for analysts' `SHOW` commands and any file queryable by path
/// (`SELECT * FROM 'x.parquet'`).
pub fn session_context(config: &PvflowConfig) -> Result<SessionContext, SessionError> {
    Ok(embedded_context(config, None)?.enable_url_table())
}

/// An embedded session for a server, whose SQL and parameters come from its clients: as
/// [`session_context`], but reaching only the configured [`Locations`].
pub fn server_session_context(config: &PvflowConfig) -> Result<SessionContext, SessionError> {
    embedded_context(config, Some(Locations::of(&config.storage)?))
}

fn embedded_context(
    config: &PvflowConfig,
    confined_to: Option<Locations>,
) -> Result<SessionContext, SessionError> {
    let builder = SessionStateBuilder::new()
        .with_config(SessionConfig::new().with_information_schema(true))
        .with_default_features();
    let state = pvflow_state(
        builder,
        &Functions::new(config)?,
        &config.storage,
        &config.memory,
        confined_to,
    )
    .map_err(SessionError::Runtime)?;
    Ok(SessionContext::new_with_state(state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::FunctionRegistry;
    use std::path::PathBuf;

    #[tokio::test]
    async fn every_function_is_registered() {
        let ctx = session_context(&PvflowConfig::default()).expect("session");
        for name in ["cwt_morlet", "pv_scalogram", "pv_fault_classify"] {
            assert!(ctx.udf(name).is_ok(), "{name} missing");
        }
        assert!(
            ctx.udaf("pv_window_series").is_ok(),
            "pv_window_series missing"
        );
        let df = ctx
            .sql("SELECT routine_name FROM information_schema.routines WHERE routine_name = 'cwt_morlet'")
            .await
            .expect("plans");
        assert_eq!(df.count().await.expect("runs"), 1);
    }

    #[test]
    fn a_configured_normalisation_file_must_load() {
        let mut config = PvflowConfig::default();
        config.model.normalization = Some(PathBuf::from("/nonexistent/normalization.json"));
        let Err(e) = session_context(&config) else {
            panic!("a missing normalisation file must fail the session")
        };
        let e = e.to_string();
        assert!(e.contains("/nonexistent/normalization.json"), "{e}");

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("normalization.json");
        let n = Normalization::new([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]).expect("valid");
        std::fs::write(&path, n.to_json()).expect("write");
        config.model.normalization = Some(path);
        assert_eq!(normalization(&config).expect("loads"), n);
    }

    #[test]
    fn a_configured_model_file_must_load() {
        let mut config = PvflowConfig::default();
        config.model.path = Some(PathBuf::from("/nonexistent/model.onnx"));
        let Err(e) = session_context(&config) else {
            panic!("a missing model file must fail the session")
        };
        let e = e.to_string();
        assert!(e.contains("/nonexistent/model.onnx"), "{e}");
    }

    /// What an analyst connected to a server tries: the SQL a server runs reaches the datasets
    /// and nothing else, read or write, path or URL.
    #[tokio::test]
    async fn a_server_session_reaches_only_its_locations() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = PvflowConfig::default();
        config.storage.silver = dir.path().join("silver").to_string_lossy().into_owned();
        config.storage.gold = dir.path().join("gold").to_string_lossy().into_owned();
        std::fs::create_dir_all(&config.storage.gold).expect("gold");
        let ctx = server_session_context(&config).expect("session");
        let outside = dir.path().join("outside.csv");
        std::fs::write(&outside, "secret\n").expect("write");
        let run = |sql: String| {
            let ctx = ctx.clone();
            async move { ctx.sql(&sql).await?.collect().await }
        };
        for sql in [
            "CREATE EXTERNAL TABLE p STORED AS CSV LOCATION '/etc/passwd'".to_string(),
            format!(
                "CREATE EXTERNAL TABLE o STORED AS CSV LOCATION '{}'",
                outside.display()
            ),
            format!(
                "CREATE EXTERNAL TABLE o STORED AS CSV LOCATION '{}/gold/../outside.csv'",
                dir.path().display()
            ),
            "CREATE EXTERNAL TABLE s STORED AS PARQUET LOCATION 's3://any-bucket/x/'".to_string(),
            format!(
                "COPY (SELECT 1 AS x) TO '{}' STORED AS CSV",
                dir.path().join("written.csv").display()
            ),
            "SELECT * FROM '/etc/passwd'".to_string(),
        ] {
            let e = run(sql.clone()).await.expect_err(&sql).to_string();
            assert!(
                e.contains("outside the locations") || e.contains("public./etc/passwd' not found"),
                "{sql}: {e}"
            );
        }
        assert!(!dir.path().join("written.csv").exists());
        // Inside the datasets' roots, an analyst's tables work.
        let gold_csv = dir.path().join("gold").join("extra.csv");
        std::fs::write(&gold_csv, "x\n1\n").expect("write");
        run(format!(
            "CREATE EXTERNAL TABLE g STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true')",
            gold_csv.display()
        ))
        .await
        .expect("inside gold");
        let rows = run("SELECT count(*) FROM g".into()).await.expect("reads");
        assert_eq!(rows[0].num_rows(), 1);
    }
}
