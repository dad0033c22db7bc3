//! The wiring every pvflow process shares: configuration, DataFusion sessions with all of
//! pvflow's functions registered, and (in [`distributed`]) the codecs and sessions of a Ballista
//! cluster, so that a plan means the same thing in the CLI, the scheduler and every executor.

pub mod codec;
pub mod config;
pub mod datasets;
pub mod distributed;
pub mod flags;
pub mod logging;
pub mod object_stores;

use config::PvflowConfig;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::{SessionConfig, SessionContext};
use pvflow_kafka::{KAFKA_FORMAT, KafkaTableFactory};
use pvflow_dataset::StagedWriteQueryPlanner;
use pvflow_udfs::fault_model::{FaultModel, ModelError};
use pvflow_udfs::normalization::{Normalization, NormalizationError};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Normalization(#[from] NormalizationError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("cannot set up the runtime: {0}")]
    Runtime(datafusion::common::DataFusionError),
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

/// Every pvflow function with the parameters and model `config` names: what every session
/// (embedded, scheduler, executor) registers.
pub fn udfs(config: &PvflowConfig) -> Result<Vec<ScalarUDF>, SessionError> {
    Ok(pvflow_udfs::all_udfs(
        normalization(config)?,
        fault_model(config)?,
    ))
}

/// An embedded session: DataFusion's defaults, `information_schema` for analysts' `SHOW`
/// commands, files queryable by path, Kafka tables (`STORED AS KAFKA`), staged Parquet writes
/// (plan runs' output), and every pvflow function.
pub fn session_context(config: &PvflowConfig) -> Result<SessionContext, SessionError> {
    let session_config = SessionConfig::new().with_information_schema(true);
    let state = SessionStateBuilder::new()
        .with_config(session_config)
        .with_runtime_env(object_stores::runtime_env(None).map_err(SessionError::Runtime)?)
        .with_default_features()
        .with_table_factory(KAFKA_FORMAT.into(), Arc::new(KafkaTableFactory))
        .with_query_planner(Arc::new(StagedWriteQueryPlanner))
        .build();
    // enable_url_table: analysts can query a file by its path, `SELECT * FROM 'x.parquet'`.
    datasets::register_datasets(&state, &config.storage).map_err(SessionError::Runtime)?;
    let ctx = SessionContext::new_with_state(state).enable_url_table();
    for udf in udfs(config)? {
        ctx.register_udf(udf);
    }
    for udaf in pvflow_udfs::all_udafs() {
        ctx.register_udaf(udaf);
    }
    Ok(ctx)
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
}
