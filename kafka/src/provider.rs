//! Topics as tables: `CREATE EXTERNAL TABLE readings STORED AS KAFKA LOCATION
//! 'kafka://host:port/topic' OPTIONS ('format' 'avro')`, or [`KafkaTable::new`] from Rust.

use crate::exec::KafkaScanExec;
use crate::offsets::{KafkaSlice, plan_slices};
use crate::options::KafkaTableConfig;
use crate::schema::{KAFKA_TIMESTAMP, TS, quarantine_schema, readings_schema};
use crate::time_range::TimeRange;
use crate::time_range::{constrains, time_range};
use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::TableType;
use datafusion::logical_expr::{CreateExternalTable, Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;

/// The `STORED AS` name of Kafka tables.
pub const KAFKA_FORMAT: &str = "KAFKA";

#[derive(Debug, Clone)]
pub struct KafkaTable {
    config: KafkaTableConfig,
    /// Set: the table is the messages at these offsets, not those the brokers hold now.
    pinned: Option<Vec<KafkaSlice>>,
}

impl KafkaTable {
    /// The topic as the brokers hold it: each scan finds its offsets from its time range.
    pub fn new(config: KafkaTableConfig) -> Self {
        KafkaTable {
            config,
            pinned: None,
        }
    }

    /// Exactly the messages at `slices` (as a scan of this topic planned them): every scan
    /// reads those, without asking the brokers, and still keeps only the rows its filters'
    /// time range holds. A run pins its range this way, so that each of its queries (the
    /// readings, the quarantine) reads the offsets its manifest records, even if the brokers'
    /// answer changed since (retention, a late write).
    pub fn pinned(config: KafkaTableConfig, slices: Vec<KafkaSlice>) -> Self {
        KafkaTable {
            config,
            pinned: Some(slices),
        }
    }

    pub fn config(&self) -> &KafkaTableConfig {
        &self.config
    }

    /// The slices a pinned table reads.
    pub fn pinned_slices(&self) -> Option<&[KafkaSlice]> {
        self.pinned.as_deref()
    }

    /// The column a time range applies to: a reading's `ts`, a quarantined message's Kafka
    /// timestamp.
    fn time_column(&self) -> &'static str {
        if self.config.quarantine {
            KAFKA_TIMESTAMP
        } else {
            TS
        }
    }

    /// Plans a scan of `range` (blocking broker round trips run off the async runtime; none
    /// for a pinned table).
    pub async fn plan(
        &self,
        range: TimeRange,
        projection: Option<Vec<usize>>,
    ) -> Result<KafkaScanExec> {
        if let Some(slices) = &self.pinned {
            return KafkaScanExec::new(self.config.clone(), slices, range, projection);
        }
        let config = self.config.clone();
        let slices = tokio::task::spawn_blocking(move || plan_slices(&config, range))
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        KafkaScanExec::new(self.config.clone(), &slices, range, projection)
    }
}

#[async_trait]
impl TableProvider for KafkaTable {
    fn schema(&self) -> SchemaRef {
        if self.config.quarantine {
            quarantine_schema()
        } else {
            readings_schema()
        }
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Time predicates bound the offsets read; DataFusion still applies every filter itself.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if constrains(f, self.time_column()) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let range = time_range(filters, self.time_column());
        Ok(Arc::new(self.plan(range, projection.cloned()).await?))
    }
}

/// Creates Kafka tables from `CREATE EXTERNAL TABLE ... STORED AS KAFKA`.
#[derive(Debug, Default)]
pub struct KafkaTableFactory;

#[async_trait]
impl TableProviderFactory for KafkaTableFactory {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> Result<Arc<dyn TableProvider>> {
        let [location] = cmd.locations.as_slice() else {
            return Err(DataFusionError::Plan(format!(
                "a Kafka table has one LOCATION (kafka://host:port[,host:port]/topic), got {}",
                cmd.locations.len()
            )));
        };
        let config = KafkaTableConfig::from_ddl(location, &cmd.options)
            .map_err(|e| DataFusionError::Plan(e.to_string()))?;
        Ok(Arc::new(KafkaTable::new(config)))
    }
}
