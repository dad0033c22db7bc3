//! How pvflow's plan pieces travel between a client, the Ballista scheduler and its executors.
//!
//! Ballista serialises plans with protobuf and hands every node it does not know to an extension
//! codec. pvflow's codecs wrap Ballista's own (which carry its shuffle nodes and file formats)
//! and add payloads of plain data:
//!
//! - a Kafka table (client -> scheduler): its configuration, so the scheduler can plan offsets;
//! - a planned Kafka scan (scheduler -> executors): configuration, time range and projection; its
//!   offset slices, fixed once at planning, are its input (an in-memory plan Ballista carries and
//!   splits between tasks itself), so every executor reads exactly its planned messages;
//! - `pv_scalogram`'s normalisation, so the image an executor computes does not depend on that
//!   executor's configuration;
//! - a staged Parquet write (client -> scheduler -> executors): where a run's tasks write.
//!
//! Every payload starts with one byte saying who wrote the rest: Ballista's codec, or pvflow's
//! JSON. Kafka client secrets (`is_secret` keys) never enter a payload: plans cross the network
//! and are logged by Ballista's REST API. The node decoding a Kafka payload adds the secrets of
//! its own `[kafka] client` configuration.

use crate::config::KafkaConfig;
use crate::devices::DevicesTable;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use pvflow_dataset::{LogTable, StagedParquetWriteExec, StagedTarget, StagedWrite};
use pvflow_kafka::{KafkaScanExec, KafkaSlice, KafkaTable, KafkaTableConfig, TimeRange, is_secret};
use pvflow_udfs::{Normalization, PvScalogram};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// First byte of a payload: written by Ballista's codec.
const BALLISTA: u8 = 0;
/// First byte of a payload: pvflow's JSON [`Payload`].
const PVFLOW: u8 = 1;

#[derive(Debug, Serialize, Deserialize)]
enum Payload {
    KafkaTable {
        config: KafkaTableConfig,
        /// A pinned table's slices ([`KafkaTable::pinned`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pinned: Option<Vec<KafkaSlice>>,
    },
    KafkaScan {
        config: KafkaTableConfig,
        range: TimeRange,
        projection: Option<Vec<usize>>,
    },
    PvScalogram(Normalization),
    /// A dataset read through its log ([`LogTable`]): its schema travels beside the payload.
    LogTable {
        root: String,
    },
    StagedWrite(StagedTarget),
    /// The `devices` table, as its plant description's text.
    Devices {
        description: String,
    },
}

fn encode_payload(payload: &Payload, buf: &mut Vec<u8>) -> Result<()> {
    buf.push(PVFLOW);
    serde_json::to_writer(buf, payload)
        .map_err(|e| DataFusionError::Internal(format!("cannot encode pvflow plan payload: {e}")))
}

/// Splits a payload into its writer and body.
fn split(buf: &[u8]) -> Result<(u8, &[u8])> {
    match buf.split_first() {
        Some((&tag, body)) if tag == BALLISTA || tag == PVFLOW => Ok((tag, body)),
        Some((tag, _)) => Err(DataFusionError::Internal(format!(
            "plan payload has an unknown writer tag {tag}: was it encoded by another pvflow version?"
        ))),
        None => Err(DataFusionError::Internal(
            "empty plan payload for a pvflow codec".into(),
        )),
    }
}

fn decode_payload(body: &[u8]) -> Result<Payload> {
    serde_json::from_slice(body)
        .map_err(|e| DataFusionError::Internal(format!("cannot decode pvflow plan payload: {e}")))
}

/// Runs `encode` from Ballista's codec into `buf`, behind the [`BALLISTA`] tag.
fn encode_ballista(
    buf: &mut Vec<u8>,
    encode: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    buf.push(BALLISTA);
    encode(buf)
}

/// Kafka client settings for payloads: everything but the secrets.
fn without_secrets(config: &KafkaTableConfig) -> KafkaTableConfig {
    let mut config = config.clone();
    config.client.retain(|k, _| !is_secret(k));
    config
}

/// The codecs' per-node state: what the decoding node adds to what the plan carries.
#[derive(Debug, Clone, Default)]
pub struct NodeSecrets {
    /// This node's `[kafka]` settings: the secrets of its `client` are added to decoded Kafka
    /// configurations of its own brokers, and of no others.
    kafka: KafkaConfig,
}

impl NodeSecrets {
    pub fn new(kafka: &KafkaConfig) -> Self {
        NodeSecrets {
            kafka: kafka.clone(),
        }
    }

    fn restore(&self, mut config: KafkaTableConfig) -> KafkaTableConfig {
        config.client.extend(
            self.kafka
                .client_for(&config.brokers)
                .into_iter()
                .filter(|(k, _)| is_secret(k)),
        );
        config
    }
}

/// Logical codec: Kafka tables and `pv_scalogram`, the rest to Ballista's codec.
#[derive(Debug, Default)]
pub struct PvflowLogicalCodec {
    inner: BallistaLogicalExtensionCodec,
    secrets: NodeSecrets,
}

impl PvflowLogicalCodec {
    pub fn new(secrets: NodeSecrets) -> Self {
        PvflowLogicalCodec {
            inner: BallistaLogicalExtensionCodec::default(),
            secrets,
        }
    }
}

impl LogicalExtensionCodec for PvflowLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        match split(buf)? {
            (BALLISTA, body) => self.inner.try_decode(body, inputs, ctx),
            (_, body) => match decode_payload(body)? {
                Payload::StagedWrite(target) => {
                    let [input] = inputs else {
                        return Err(DataFusionError::Internal(format!(
                            "a staged write has one input, got {}",
                            inputs.len()
                        )));
                    };
                    Ok(Extension {
                        node: Arc::new(StagedWrite {
                            input: input.clone(),
                            target,
                        }),
                    })
                }
                other => Err(DataFusionError::Internal(format!(
                    "expected a logical pvflow node, got {other:?}"
                ))),
            },
        }
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        if let Some(write) = node.node.as_any().downcast_ref::<StagedWrite>() {
            return encode_payload(&Payload::StagedWrite(write.target.clone()), buf);
        }
        encode_ballista(buf, |b| self.inner.try_encode(node, b))
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match split(buf)? {
            (BALLISTA, body) => self
                .inner
                .try_decode_table_provider(body, table_ref, schema, ctx),
            (_, body) => match decode_payload(body)? {
                Payload::LogTable { root } => Ok(Arc::new(LogTable::new(&root, schema))),
                Payload::Devices { description } => Ok(Arc::new(
                    DevicesTable::parse(&description)
                        .map_err(|e| DataFusionError::Plan(format!("table {table_ref}: {e}")))?,
                )),
                Payload::KafkaTable { config, pinned } => {
                    let config = self.secrets.restore(config);
                    Ok(Arc::new(match pinned {
                        Some(slices) => KafkaTable::pinned(config, slices),
                        None => KafkaTable::new(config),
                    }))
                }
                other => Err(DataFusionError::Internal(format!(
                    "table {table_ref}: expected a table payload, got {other:?}"
                ))),
            },
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(dataset) = node.downcast_ref::<LogTable>() {
            let payload = Payload::LogTable {
                root: dataset.root().to_string(),
            };
            return encode_payload(&payload, buf);
        }
        if let Some(devices) = node.downcast_ref::<DevicesTable>() {
            let payload = Payload::Devices {
                description: devices.description().to_string(),
            };
            return encode_payload(&payload, buf);
        }
        if let Some(kafka) = node.downcast_ref::<KafkaTable>() {
            let payload = Payload::KafkaTable {
                config: without_secrets(kafka.config()),
                pinned: kafka.pinned_slices().map(<[KafkaSlice]>::to_vec),
            };
            return encode_payload(&payload, buf);
        }
        encode_ballista(buf, |b| {
            self.inner.try_encode_table_provider(table_ref, node, b)
        })
    }

    // File formats must reach Ballista's codec, or COPY TO and INSERT silently lose theirs.
    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        match split(buf)? {
            (BALLISTA, body) => self.inner.try_decode_file_format(body, ctx),
            _ => Err(DataFusionError::Internal(
                "pvflow has no file format payloads".into(),
            )),
        }
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        encode_ballista(buf, |b| self.inner.try_encode_file_format(b, node))
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udf(node, buf)
    }
}

/// `pv_scalogram` carries its normalisation; other functions travel by name (nothing written)
/// and resolve in the receiving node's registry.
fn encode_udf(node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
    match node.inner().downcast_ref::<PvScalogram>() {
        Some(f) => encode_payload(&Payload::PvScalogram(*f.normalization()), buf),
        None => Ok(()),
    }
}

fn decode_udf(name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
    if buf.is_empty() {
        // Called when the name is missing from this node's registry.
        return Err(DataFusionError::Plan(format!(
            "function {name} is not registered on this pvflow node"
        )));
    }
    match split(buf)? {
        (PVFLOW, body) => match decode_payload(body)? {
            Payload::PvScalogram(n) => {
                let n = Normalization::new(n.mean, n.std)
                    .map_err(|e| DataFusionError::Plan(format!("{name}: {e}")))?;
                Ok(Arc::new(ScalarUDF::from(PvScalogram::new(n))))
            }
            other => Err(DataFusionError::Internal(format!(
                "function {name}: unexpected payload {other:?}"
            ))),
        },
        _ => Err(DataFusionError::Internal(format!(
            "function {name} is not known to this pvflow node"
        ))),
    }
}

/// Physical codec: Kafka scans and `pv_scalogram`, the rest (shuffles, ...) to Ballista's codec.
#[derive(Debug, Default)]
pub struct PvflowPhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
    secrets: NodeSecrets,
}

impl PvflowPhysicalCodec {
    pub fn new(secrets: NodeSecrets) -> Self {
        PvflowPhysicalCodec {
            inner: BallistaPhysicalExtensionCodec::default(),
            secrets,
        }
    }
}

impl PhysicalExtensionCodec for PvflowPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match split(buf)? {
            (BALLISTA, body) => self.inner.try_decode(body, inputs, ctx, proto_converter),
            (_, body) => match decode_payload(body)? {
                Payload::KafkaScan {
                    config,
                    range,
                    projection,
                } => {
                    let [slices] = inputs else {
                        return Err(DataFusionError::Internal(format!(
                            "a Kafka scan has one input (its slices), got {}",
                            inputs.len()
                        )));
                    };
                    Ok(Arc::new(KafkaScanExec::with_slices_input(
                        self.secrets.restore(config),
                        Arc::clone(slices),
                        range,
                        projection,
                    )?))
                }
                Payload::StagedWrite(target) => {
                    let [input] = inputs else {
                        return Err(DataFusionError::Internal(format!(
                            "a staged write has one input, got {}",
                            inputs.len()
                        )));
                    };
                    Ok(Arc::new(StagedParquetWriteExec::try_new(
                        Arc::clone(input),
                        target,
                    )?))
                }
                other => Err(DataFusionError::Internal(format!(
                    "expected a physical pvflow node, got {other:?}"
                ))),
            },
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(scan) = node.downcast_ref::<KafkaScanExec>() {
            let payload = Payload::KafkaScan {
                config: without_secrets(scan.config()),
                range: scan.range(),
                projection: scan.projection().cloned(),
            };
            return encode_payload(&payload, buf);
        }
        if let Some(write) = node.downcast_ref::<StagedParquetWriteExec>() {
            return encode_payload(&Payload::StagedWrite(write.target().clone()), buf);
        }
        encode_ballista(buf, |b| self.inner.try_encode(node, b, proto_converter))
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udf(node, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;
    use std::collections::BTreeMap;

    #[test]
    fn kafka_tables_travel_pinned_and_without_secrets() {
        let mut config = KafkaTableConfig::new("broker:9092", "pv.readings");
        config
            .client
            .insert("sasl.password".into(), "client secret".into());
        let slices = vec![KafkaSlice {
            partition: 2,
            start: 10,
            end: 20,
        }];
        let node = KafkaConfig {
            brokers: Some("broker:9092".into()),
            client: BTreeMap::from([("sasl.password".to_string(), "node secret".into())]),
            ..KafkaConfig::default()
        };
        let codec = PvflowLogicalCodec::new(NodeSecrets::new(&node));
        let reference = TableReference::bare("readings");
        let travel = |config: KafkaTableConfig| {
            let table = KafkaTable::pinned(config, slices.clone());
            let mut buf = Vec::new();
            codec
                .try_encode_table_provider(&reference, Arc::new(table.clone()), &mut buf)
                .expect("encoded");
            assert!(!String::from_utf8_lossy(&buf).contains("client secret"));
            let ctx = SessionContext::new();
            let decoded = codec
                .try_decode_table_provider(&buf, &reference, table.schema(), &ctx.task_ctx())
                .expect("decoded");
            let decoded = decoded.downcast_ref::<KafkaTable>().expect("a Kafka table");
            assert_eq!(decoded.pinned_slices(), Some(slices.as_slice()));
            decoded.config().client.get("sasl.password").cloned()
        };
        assert_eq!(travel(config.clone()).as_deref(), Some("node secret"));
        // A plan naming other brokers (an analyst's table) never gets the node's credentials.
        config.brokers = "attacker:9092".into();
        assert_eq!(travel(config), None);
    }

    #[test]
    fn the_devices_table_travels_as_its_description() {
        let codec = PvflowLogicalCodec::new(NodeSecrets::new(&KafkaConfig::default()));
        let reference = TableReference::bare("devices");
        let ctx = SessionContext::new();
        for description in [include_str!("../../plant/examples/plant.toml"), ""] {
            let table = Arc::new(DevicesTable::parse(description).expect("a description"));
            let mut buf = Vec::new();
            codec
                .try_encode_table_provider(&reference, table.clone(), &mut buf)
                .expect("encoded");
            let decoded = codec
                .try_decode_table_provider(&buf, &reference, table.schema(), &ctx.task_ctx())
                .expect("decoded");
            let decoded = decoded.downcast_ref::<DevicesTable>().expect("devices");
            assert_eq!(decoded.description(), description);
            assert_eq!(decoded.schema(), table.schema());
        }
    }
}
