//! pvflow's datasets as tables of every session: `silver`, `gold`, `fault_events` (gold's fault
//! episodes), `quarantine` (silver's malformed messages), `live` (the stream's diagnoses) and `live_quarantine` (the stream's
//! malformed messages), read through their Delta logs from the configured `[storage]` roots, so
//! that a query sees a committed version and never a commit's files in motion.

use crate::config::StorageConfig;
use crate::devices::DevicesTable;
use async_trait::async_trait;
use datafusion::catalog::{
    CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider, SchemaProvider, TableProvider,
};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::execution::runtime_env::RuntimeEnv;
use pvflow_dataset::{LogTable, layout};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A session's default schema: tables registered as usual (they take precedence), then the
/// datasets by name.
#[derive(Debug)]
pub struct DatasetSchema {
    registered: MemorySchemaProvider,
    /// Name -> dataset root.
    datasets: BTreeMap<&'static str, String>,
    runtime: Arc<RuntimeEnv>,
}

impl DatasetSchema {
    pub fn new(storage: &StorageConfig, runtime: Arc<RuntimeEnv>) -> DatasetSchema {
        let quarantine = layout::quarantine_root(&storage.silver);
        let live_quarantine = layout::quarantine_root(&storage.live);
        DatasetSchema {
            registered: MemorySchemaProvider::new(),
            datasets: BTreeMap::from([
                ("silver", storage.silver.clone()),
                ("gold", storage.gold.clone()),
                ("fault_events", layout::fault_events_root(&storage.gold)),
                ("live", storage.live.clone()),
                ("quarantine", quarantine),
                ("live_quarantine", live_quarantine),
            ]),
            runtime,
        }
    }
}

/// Makes the default schema of `state` (and of every context sharing its catalogs) a
/// [`DatasetSchema`], replacing the empty one a new session has; creates the default catalog
/// if the session has none (Ballista's scheduler sessions).
pub fn register_datasets(
    state: &SessionState,
    storage: &StorageConfig,
    devices: Arc<DevicesTable>,
) -> Result<()> {
    let defaults = &state.config_options().catalog;
    let catalogs = state.catalog_list();
    let catalog = match catalogs.catalog(&defaults.default_catalog) {
        Some(catalog) => catalog,
        None => {
            let catalog: Arc<dyn CatalogProvider> = Arc::new(MemoryCatalogProvider::new());
            catalogs.register_catalog(defaults.default_catalog.clone(), Arc::clone(&catalog));
            catalog
        }
    };
    let schema = DatasetSchema::new(storage, Arc::clone(state.runtime_env()));
    schema.register_table("devices".into(), devices)?;
    catalog.register_schema(&defaults.default_schema, Arc::new(schema))?;
    Ok(())
}

#[async_trait]
impl SchemaProvider for DatasetSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.registered.table_names();
        names.extend(self.datasets.keys().map(|name| name.to_string()));
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.registered.table(name).await? {
            return Ok(Some(table));
        }
        let Some(root) = self.datasets.get(name) else {
            return Ok(None);
        };
        let table = LogTable::open(&self.runtime, root).await.map_err(|e| {
            DataFusionError::Plan(format!("cannot open dataset {name} at {root}: {e}"))
        })?;
        Ok(table.map(|t| Arc::new(t) as Arc<dyn TableProvider>))
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        self.registered.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.registered.deregister_table(name)
    }

    /// Registered tables only: a dataset's name may be taken by a table of the session
    /// (`CREATE EXTERNAL TABLE gold ...`), which then hides the dataset.
    fn table_exist(&self, name: &str) -> bool {
        self.registered.table_exist(name)
    }
}
