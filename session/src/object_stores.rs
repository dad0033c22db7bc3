//! Where pvflow reads and writes files: local directories, and S3 buckets opened on first use
//! with this node's own AWS credentials.
//!
//! Credentials come from the standard AWS environment of the process (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT`, and on EKS the
//! IRSA pair `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`), never from SQL or plans, so they
//! never travel between nodes.

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use url::Url;

/// DataFusion's registry (local files, stores registered explicitly) plus S3 buckets on demand.
#[derive(Debug, Default)]
pub struct PvflowObjectStores {
    registered: DefaultObjectStoreRegistry,
    buckets: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl PvflowObjectStores {
    fn bucket(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let Some(bucket) = url.host_str().filter(|b| !b.is_empty()) else {
            return Err(DataFusionError::Configuration(format!(
                "{url} names no S3 bucket (s3://BUCKET/path)"
            )));
        };
        // A poisoned lock only means a thread panicked while inserting; the map is fine.
        if let Some(store) = self
            .buckets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(bucket)
        {
            return Ok(Arc::clone(store));
        }
        let store: Arc<dyn ObjectStore> = Arc::new(
            AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| {
                    DataFusionError::Configuration(format!(
                        "cannot open S3 bucket {bucket} with this node's AWS settings: {e}"
                    ))
                })?,
        );
        self.buckets
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(bucket.to_string(), Arc::clone(&store));
        Ok(store)
    }
}

impl ObjectStoreRegistry for PvflowObjectStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.registered.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.registered.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match self.registered.get_store(url) {
            Ok(store) => Ok(store),
            Err(_) if url.scheme() == "s3" => self.bucket(url),
            Err(e) => Err(e),
        }
    }
}

/// A runtime with pvflow's object stores; spill files go to `temp_dir` when given, and
/// queries draw from `pool` when given (else without limit).
pub fn runtime_env(
    temp_dir: Option<PathBuf>,
    pool: Option<Arc<dyn MemoryPool>>,
) -> Result<Arc<RuntimeEnv>> {
    let mut builder = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(PvflowObjectStores::default()));
    if let Some(dir) = temp_dir {
        builder = builder.with_temp_file_path(dir);
    }
    if let Some(pool) = pool {
        builder = builder.with_memory_pool(pool);
    }
    builder.build_arc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_files_and_s3_buckets_resolve() {
        let stores = PvflowObjectStores::default();
        let local = Url::parse("file:///tmp/x").expect("url");
        assert!(stores.get_store(&local).is_ok());
        // Building an S3 client needs no network; a region keeps from_env from guessing.
        // SAFETY: tests in this module do not read the environment concurrently.
        unsafe { std::env::set_var("AWS_REGION", "eu-west-1") };
        let a = stores.get_store(&Url::parse("s3://bucket-a/silver/").expect("url"));
        let again = stores.get_store(&Url::parse("s3://bucket-a/gold/").expect("url"));
        assert!(Arc::ptr_eq(&a.expect("bucket a"), &again.expect("cached")));
        let e = stores
            .get_store(&Url::parse("gs://bucket/x").expect("url"))
            .expect_err("no GCS");
        assert!(e.to_string().contains("gs://bucket"), "{e}");
    }
}
