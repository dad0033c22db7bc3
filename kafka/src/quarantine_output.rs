//! A readings scan's side output: the malformed messages it meets, written as Parquet files
//! (rows of [`quarantine_schema`]) under the directory `KafkaTableConfig::quarantine_output`
//! names. One pass over a topic then both yields its readings and keeps its quarantine.
//!
//! A file's name derives from its slice and its place in it
//! (`part-p<partition>-o<slice start>-<n>.parquet`), and files end at fixed points of the
//! slice's messages: a retried task rewrites the same files with the same rows instead of adding
//! copies, so the directory always holds each malformed message once.

use crate::offsets::KafkaSlice;
use crate::schema::quarantine_schema;
use datafusion::arrow::array::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use std::sync::Arc;

/// Buffered quarantine rows per file at most (in Arrow memory): a topic of nothing but large
/// malformed messages still goes out in bounded pieces.
const FILE_BYTES: usize = 32 << 20;

/// One slice's malformed messages on their way to the side output. Used from the scan's
/// blocking reader thread: writes block on the runtime it was opened in.
pub(crate) struct QuarantineWriter {
    store: Arc<dyn ObjectStore>,
    dir: Path,
    slice: KafkaSlice,
    pending: Vec<RecordBatch>,
    pending_bytes: usize,
    files: usize,
    runtime: tokio::runtime::Handle,
}

impl QuarantineWriter {
    /// A writer into `dir` (a directory URL or absolute path the session's object stores
    /// resolve) for `slice`'s messages.
    pub(crate) fn open(dir: &str, slice: KafkaSlice, runtime: &RuntimeEnv) -> Result<Self> {
        let url = ListingTableUrl::parse(dir)?;
        Ok(QuarantineWriter {
            store: runtime.object_store(url.object_store())?,
            dir: url.prefix().clone(),
            slice,
            pending: Vec::new(),
            pending_bytes: 0,
            files: 0,
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// Keeps `batch` (quarantine rows), writing a file once enough is buffered.
    pub(crate) fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.pending_bytes += batch.get_array_memory_size();
        self.pending.push(batch);
        if self.pending_bytes >= FILE_BYTES {
            self.write_file()?;
        }
        Ok(())
    }

    /// Writes what is buffered: the slice has been read.
    pub(crate) fn finish(mut self) -> Result<()> {
        self.write_file()
    }

    fn write_file(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let mut bytes = Vec::with_capacity(self.pending_bytes);
        let mut writer = ArrowWriter::try_new(&mut bytes, quarantine_schema(), Some(props))?;
        for batch in self.pending.drain(..) {
            writer.write(&batch)?;
        }
        writer.close()?;
        self.pending_bytes = 0;
        let name = format!(
            "part-p{}-o{}-{:05}.parquet",
            self.slice.partition, self.slice.start, self.files
        );
        let location = self.dir.clone().join(name.as_str());
        self.runtime
            .block_on(self.store.put(&location, bytes.into()))
            .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
        self.files += 1;
        Ok(())
    }
}
