//! The pieces a Ballista scheduler, executor or client needs to run pvflow's plans.
//!
//! All three must agree: the same codecs (`PvflowLogicalCodec`, `PvflowPhysicalCodec`), the
//! same functions under the same names, and Kafka tables wherever `scan()` runs (the
//! scheduler). They are built here from one [`PvflowConfig`] so that no binary wires them by
//! hand.

use crate::codec::{NodeSecrets, PvflowLogicalCodec, PvflowPhysicalCodec};
use crate::config::{PvflowConfig, StorageConfig};
use crate::memory::MemoryConfig;
use crate::{Functions, Locations, SessionError, object_stores, pvflow_state};
use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use datafusion::common::Result;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::SessionConfig;
use datafusion::prelude::SessionContext;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::PhysicalExtensionCodec;
use std::path::PathBuf;
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
    /// All that a node's sessions and tasks reach: a cluster serves its clients' SQL.
    locations: Locations,
}

impl DistributedParts {
    pub fn new(config: &PvflowConfig) -> Result<Self, SessionError> {
        let secrets = NodeSecrets::new(&config.kafka);
        Ok(DistributedParts {
            logical_codec: Arc::new(PvflowLogicalCodec::new(secrets.clone())),
            physical_codec: Arc::new(PvflowPhysicalCodec::new(secrets)),
            functions: Functions::new(config)?,
            storage: config.storage.clone(),
            memory: config.memory.clone(),
            locations: Locations::of(&config.storage)?,
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

    /// A server's session state for `config` (a client's settings on top of
    /// [`Self::session_config`]): [`pvflow_state`] on Ballista's defaults, reaching only the
    /// node's [`Locations`]. The scheduler plans every job in one of these.
    pub fn session_state(&self, config: SessionConfig) -> Result<SessionState> {
        self.state(config, Some(self.locations.clone()))
    }

    /// A client's session state: as [`Self::session_state`], for a user's own commands, which
    /// reach any location the user can (the cluster still confines what its nodes do).
    pub fn client_state(&self, config: SessionConfig) -> Result<SessionState> {
        self.state(config, None)
    }

    fn state(&self, config: SessionConfig, confined_to: Option<Locations>) -> Result<SessionState> {
        let state = ballista_core::utils::default_session_builder(config)?;
        pvflow_state(
            SessionStateBuilder::new_from_existing(state),
            &self.functions,
            &self.storage,
            &self.memory,
            confined_to,
        )
    }

    /// The runtime of an executor's tasks: pvflow's object stores, reaching only the node's
    /// [`Locations`]; spill files in `work_dir` when given. Ballista gives each task its memory
    /// pool (`--memory-pool-size`), so none here.
    pub fn task_runtime(&self, work_dir: Option<PathBuf>) -> Result<Arc<RuntimeEnv>> {
        object_stores::runtime_env(&self.storage, Some(self.locations.clone()), work_dir, None)
    }

    /// The functions an executor resolves plan functions by: Ballista's defaults (built-ins
    /// included) and pvflow's.
    pub fn function_registry(&self) -> Result<BallistaFunctionRegistry> {
        Ok(BallistaFunctionRegistry::from(
            &self.session_state(self.session_config())?,
        ))
    }
}
