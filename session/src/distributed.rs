//! The pieces a Ballista scheduler, executor or client needs to run pvflow's plans.
//!
//! All three must agree: the same codecs (`PvflowLogicalCodec`, `PvflowPhysicalCodec`), the
//! same functions under the same names, and Kafka tables wherever `scan()` runs (the
//! scheduler). They are built here from one [`PvflowConfig`] so that no binary wires them by
//! hand.

use crate::codec::{NodeSecrets, PvflowLogicalCodec, PvflowPhysicalCodec};
use crate::config::{PvflowConfig, StorageConfig};
use crate::memory::MemoryConfig;
use crate::{Functions, SessionError, pvflow_state};
use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use datafusion::common::Result;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::SessionConfig;
use datafusion::prelude::SessionContext;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::PhysicalExtensionCodec;
use std::sync::Arc;

/// Everything a node derives from its configuration, built once at start-up (a bad
/// normalisation file fails here, naming the file, not in the first task).
#[derive(Debug, Clone)]
pub struct DistributedParts {
    pub logical_codec: Arc<dyn LogicalExtensionCodec>,
    pub physical_codec: Arc<dyn PhysicalExtensionCodec>,
    functions: Functions,
    /// Where the datasets every session shows are ([`crate::datasets`]).
    storage: StorageConfig,
    /// The pool of sessions run in this process (the demo's embedded executor).
    memory: MemoryConfig,
}

impl DistributedParts {
    pub fn new(config: &PvflowConfig) -> Result<Self, SessionError> {
        let secrets = NodeSecrets::new(&config.kafka.client);
        Ok(DistributedParts {
            logical_codec: Arc::new(PvflowLogicalCodec::new(secrets.clone())),
            physical_codec: Arc::new(PvflowPhysicalCodec::new(secrets)),
            functions: Functions::new(config)?,
            storage: config.storage.clone(),
            memory: config.memory.clone(),
        })
    }

    /// A Ballista client's context, once connected, made a pvflow one: pvflow's functions
    /// registered again (Ballista's client replaces the function lists of the state it is
    /// given) and files queryable by path.
    pub fn client_context(&self, mut ctx: SessionContext) -> Result<SessionContext> {
        self.functions.register(&mut ctx)?;
        Ok(ctx.enable_url_table())
    }

    /// Ballista's session configuration with pvflow's codecs.
    pub fn session_config(&self) -> SessionConfig {
        SessionConfig::new_with_ballista()
            .with_ballista_logical_extension_codec(Arc::clone(&self.logical_codec))
            .with_ballista_physical_extension_codec(Arc::clone(&self.physical_codec))
    }

    /// A session state for `config` (a client's settings on top of [`Self::session_config`]):
    /// [`pvflow_state`] on Ballista's defaults. The scheduler plans every job in one of these.
    pub fn session_state(&self, config: SessionConfig) -> Result<SessionState> {
        let state = ballista_core::utils::default_session_builder(config)?;
        pvflow_state(
            SessionStateBuilder::new_from_existing(state),
            &self.functions,
            &self.storage,
            &self.memory,
        )
    }

    /// The functions an executor resolves plan functions by: Ballista's defaults (built-ins
    /// included) and pvflow's.
    pub fn function_registry(&self) -> Result<BallistaFunctionRegistry> {
        Ok(BallistaFunctionRegistry::from(
            &self.session_state(self.session_config())?,
        ))
    }
}
