//! Delta checkpoints: the table's state at one version as a Parquet file of actions
//! (`<version>.checkpoint.parquet`, one action a row in Delta's checkpoint schema), named by
//! `_delta_log/_last_checkpoint`, so that a reader starts there instead of at version 0.
//!
//! A checkpoint holds what Delta puts in one: the protocol, the metadata, every application
//! transaction and every live file. Removed files' tombstones are left out (pvflow deletes a
//! commit's removed files itself), and so is commitInfo, with it pvflow's record of partitions
//! replaced empty: only appended tables, whose partitions are never replaced, are checkpointed.
//! Rows go through the same JSON form as log entries both ways, so one code path applies
//! actions.

use super::{LogError, Protocol, Snapshot, Txn, read_whole, store_error};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use datafusion::arrow::json::{LineDelimitedWriter, ReaderBuilder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::{Arc, LazyLock};

/// Appended tables get a checkpoint every this many versions, as Delta's writers do by default.
pub const CHECKPOINT_INTERVAL: u64 = 10;

const LAST_CHECKPOINT: &str = "_last_checkpoint";

/// `_last_checkpoint`'s content.
#[derive(Debug, Serialize, Deserialize)]
struct LastCheckpoint {
    version: u64,
    size: u64,
    /// Set for a multi-part checkpoint, which pvflow does not write or read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parts: Option<u64>,
}

pub(super) fn location(dir: &Path, version: u64) -> Path {
    dir.clone()
        .join(format!("{version:020}.checkpoint.parquet"))
}

fn checkpoint_error(location: &Path, action: &'static str) -> impl Fn(String) -> LogError {
    let location = location.to_string();
    move |reason| LogError::Checkpoint {
        action,
        location: location.clone(),
        reason,
    }
}

/// The version of the log's last checkpoint, if `_last_checkpoint` names one.
pub(super) async fn last(
    store: &Arc<dyn ObjectStore>,
    dir: &Path,
) -> Result<Option<u64>, LogError> {
    let pointer = dir.clone().join(LAST_CHECKPOINT);
    let bytes = match store.get(&pointer).await {
        Ok(got) => got.bytes().await.map_err(store_error("read", &pointer))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(store_error("read", &pointer)(e)),
    };
    let last: LastCheckpoint = serde_json::from_slice(&bytes).map_err(|source| LogError::Json {
        location: pointer.to_string(),
        source,
    })?;
    if last.parts.is_some() {
        return Err(checkpoint_error(&location(dir, last.version), "read")(
            "it is in several parts, which pvflow does not read".into(),
        ));
    }
    Ok(Some(last.version))
}

/// The actions of the checkpoint at `version`, one JSON object a line.
pub(super) async fn read(
    store: &Arc<dyn ObjectStore>,
    dir: &Path,
    version: u64,
) -> Result<Vec<u8>, LogError> {
    let location = location(dir, version);
    let invalid = checkpoint_error(&location, "read");
    let bytes = read_whole(store, &location).await?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|builder| builder.build())
        .map_err(|e| invalid(e.to_string()))?;
    let mut writer = LineDelimitedWriter::new(Vec::new());
    for batch in reader {
        let batch = batch.map_err(|e| invalid(e.to_string()))?;
        writer.write(&batch).map_err(|e| invalid(e.to_string()))?;
    }
    writer.finish().map_err(|e| invalid(e.to_string()))?;
    Ok(writer.into_inner())
}

/// Writes `snapshot` as the checkpoint of its version, then points `_last_checkpoint` at it.
pub(super) async fn write(
    store: &Arc<dyn ObjectStore>,
    dir: &Path,
    snapshot: &Snapshot,
) -> Result<(), LogError> {
    let (Some(version), Some(metadata), Some(protocol)) =
        (snapshot.version, &snapshot.metadata, &snapshot.protocol)
    else {
        // A log without a table yet has nothing to checkpoint.
        return Ok(());
    };
    let location = location(dir, version);
    let invalid = checkpoint_error(&location, "written");
    let [partition_column] = metadata.partition_columns.as_slice() else {
        return Err(invalid("pvflow's tables have one partition column".into()));
    };
    let mut actions = vec![
        json!({"protocol": Protocol::clone(protocol)}),
        json!({"metaData": metadata}),
    ];
    actions.extend(snapshot.txns.iter().map(|(app_id, version)| {
        json!({"txn": Txn {
            app_id: app_id.clone(),
            version: *version,
            last_updated: None,
        }})
    }));
    actions.extend(snapshot.files().map(|file| {
        json!({"add": {
            "path": file.path,
            "partitionValues": {partition_column: file.partition},
            "size": file.size,
            "modificationTime": file.modification_time,
            "dataChange": false,
            "stats": file.stats,
        }})
    }));
    let lines: String = actions.iter().map(|a| format!("{a}\n")).collect();
    let mut decoder = ReaderBuilder::new(Arc::clone(&SCHEMA))
        .with_batch_size(actions.len().max(1))
        .build_decoder()
        .map_err(|e| invalid(e.to_string()))?;
    decoder
        .decode(lines.as_bytes())
        .map_err(|e| invalid(e.to_string()))?;
    let batch = decoder
        .flush()
        .map_err(|e| invalid(e.to_string()))?
        .unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(&SCHEMA)));
    let mut parquet = ArrowWriter::try_new(Vec::new(), Arc::clone(&SCHEMA), None)
        .map_err(|e| invalid(e.to_string()))?;
    parquet.write(&batch).map_err(|e| invalid(e.to_string()))?;
    let bytes = parquet.into_inner().map_err(|e| invalid(e.to_string()))?;
    // The same version's checkpoint is the same content: overwriting is harmless.
    store
        .put(&location, bytes.into())
        .await
        .map_err(store_error("write", &location))?;
    let pointer = dir.clone().join(LAST_CHECKPOINT);
    let last = LastCheckpoint {
        version,
        size: actions.len() as u64,
        parts: None,
    };
    let body = serde_json::to_vec(&last).map_err(|source| LogError::Json {
        location: pointer.to_string(),
        source,
    })?;
    store
        .put(&pointer, body.into())
        .await
        .map_err(store_error("write", &pointer))?;
    tracing::info!(checkpoint = %location, actions = actions.len(), "checkpoint written");
    Ok(())
}

/// Delta's checkpoint schema, the columns pvflow's actions use.
static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let string = || DataType::Utf8;
    let field = |name: &str, data_type: DataType| Field::new(name, data_type, true);
    let strings_map = DataType::Map(
        Arc::new(Field::new(
            "key_value",
            DataType::Struct(Fields::from(vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", DataType::Utf8, true),
            ])),
            false,
        )),
        false,
    );
    let record = |fields: Vec<Field>| DataType::Struct(Fields::from(fields));
    Arc::new(Schema::new(vec![
        field(
            "txn",
            record(vec![
                field("appId", string()),
                field("version", DataType::Int64),
                field("lastUpdated", DataType::Int64),
            ]),
        ),
        field(
            "add",
            record(vec![
                field("path", string()),
                field("partitionValues", strings_map.clone()),
                field("size", DataType::Int64),
                field("modificationTime", DataType::Int64),
                field("dataChange", DataType::Boolean),
                field("stats", string()),
            ]),
        ),
        field(
            "remove",
            record(vec![
                field("path", string()),
                field("deletionTimestamp", DataType::Int64),
                field("dataChange", DataType::Boolean),
            ]),
        ),
        field(
            "metaData",
            record(vec![
                field("id", string()),
                field("name", string()),
                field("description", string()),
                field(
                    "format",
                    record(vec![
                        field("provider", string()),
                        field("options", strings_map.clone()),
                    ]),
                ),
                field("schemaString", string()),
                field(
                    "partitionColumns",
                    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
                ),
                field("configuration", strings_map),
                field("createdTime", DataType::Int64),
            ]),
        ),
        field(
            "protocol",
            record(vec![
                field("minReaderVersion", DataType::Int32),
                field("minWriterVersion", DataType::Int32),
            ]),
        ),
    ]))
});
