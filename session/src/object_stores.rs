//! Where pvflow reads and writes files: local directories, and S3 buckets opened on first use
//! with this node's own AWS credentials.
//!
//! Credentials come from the standard AWS environment of the process (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT`, and on EKS the
//! IRSA pair `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`), never from SQL or plans, so they
//! never travel between nodes.
//!
//! A server's stores are confined to its [`Locations`]: every read, write, listing and
//! deletion elsewhere is refused, so SQL from a client cannot open files or buckets that are
//! not pvflow's.

use crate::config::StorageConfig;
use crate::locations::Locations;
use async_trait::async_trait;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use futures::stream::{self, BoxStream, StreamExt};
use object_store::RetryConfig;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use url::Url;

/// DataFusion's registry (local files, stores registered explicitly) plus S3 buckets on demand,
/// confined to `confined_to` when set.
#[derive(Debug)]
pub struct PvflowObjectStores {
    registered: DefaultObjectStoreRegistry,
    buckets: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
    /// How buckets retry failed requests (`[storage] retry_timeout_seconds`).
    retry: RetryConfig,
    confined_to: Option<Locations>,
}

impl PvflowObjectStores {
    /// Stores with `storage`'s settings, reaching only `confined_to` when given.
    pub fn new(storage: &StorageConfig, confined_to: Option<Locations>) -> PvflowObjectStores {
        PvflowObjectStores {
            registered: DefaultObjectStoreRegistry::default(),
            buckets: RwLock::default(),
            retry: RetryConfig {
                retry_timeout: Duration::from_secs(storage.retry_timeout_seconds),
                ..RetryConfig::default()
            },
            confined_to,
        }
    }

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
                .with_retry(self.retry.clone())
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
        let prefixes = match &self.confined_to {
            None => Vec::new(),
            Some(locations) => {
                let prefixes = locations.prefixes_in(url);
                if prefixes.is_empty() {
                    return Err(DataFusionError::Plan(locations.outside(url).to_string()));
                }
                prefixes
            }
        };
        let store = match self.registered.get_store(url) {
            Ok(store) => store,
            Err(_) if url.scheme() == "s3" => self.bucket(url)?,
            Err(e) => return Err(e),
        };
        Ok(match &self.confined_to {
            None => store,
            Some(locations) => Arc::new(ConfinedStore {
                inner: store,
                prefixes,
                locations: locations.clone(),
            }),
        })
    }
}

/// A store that refuses every path outside `prefixes`.
#[derive(Debug, Clone)]
struct ConfinedStore {
    inner: Arc<dyn ObjectStore>,
    prefixes: Vec<Path>,
    /// The server's locations, for errors.
    locations: Locations,
}

impl ConfinedStore {
    fn check(&self, path: &Path) -> object_store::Result<()> {
        if self.prefixes.iter().any(|p| path.prefix_matches(p)) {
            Ok(())
        } else {
            Err(object_store::Error::PermissionDenied {
                path: path.to_string(),
                source: Box::new(self.locations.outside(path)),
            })
        }
    }

    /// Listing above a root would walk what is not pvflow's: only listings inside one run.
    fn check_listing(&self, prefix: Option<&Path>) -> object_store::Result<()> {
        self.check(prefix.unwrap_or(&Path::default()))
    }
}

impl std::fmt::Display for ConfinedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} confined to {}", self.inner, self.locations)
    }
}

#[async_trait]
impl ObjectStore for ConfinedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.check(location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.check(location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.check(location)?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        self.check(location)?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let checked = self.clone();
        let locations = locations
            .map(move |path| path.and_then(|p| checked.check(&p).map(|()| p)))
            .boxed();
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        match self.check_listing(prefix) {
            Ok(()) => self.inner.list(prefix),
            Err(e) => stream::once(async { Err(e) }).boxed(),
        }
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        match self.check_listing(prefix) {
            Ok(()) => self.inner.list_with_offset(prefix, offset),
            Err(e) => stream::once(async { Err(e) }).boxed(),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.check_listing(prefix)?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.check(from)?;
        self.check(to)?;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.check(from)?;
        self.check(to)?;
        self.inner.rename_opts(from, to, options).await
    }
}

/// A runtime with pvflow's object stores ([`PvflowObjectStores::new`]); spill files go to
/// `temp_dir` when given, and queries draw from `pool` when given (else without limit).
pub fn runtime_env(
    storage: &StorageConfig,
    confined_to: Option<Locations>,
    temp_dir: Option<PathBuf>,
    pool: Option<Arc<dyn MemoryPool>>,
) -> Result<Arc<RuntimeEnv>> {
    let stores = PvflowObjectStores::new(storage, confined_to);
    let mut builder = RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(stores));
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
        let stores = PvflowObjectStores::new(&StorageConfig::default(), None);
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

    #[tokio::test]
    async fn confined_stores_refuse_every_path_outside_the_locations() {
        use object_store::ObjectStoreExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let silver = dir.path().join("silver");
        let outside = dir.path().join("secret.txt");
        std::fs::create_dir_all(&silver).expect("silver");
        std::fs::write(silver.join("window.parquet"), b"inside").expect("write");
        std::fs::write(&outside, b"not pvflow's").expect("write");
        let storage = StorageConfig {
            silver: silver.to_string_lossy().into_owned(),
            gold: dir.path().join("gold").to_string_lossy().into_owned(),
            ..StorageConfig::default()
        };
        let stores = PvflowObjectStores::new(
            &storage,
            Some(Locations::of(&storage).expect("valid roots")),
        );
        let store = stores
            .get_store(&Url::parse("file:///").expect("url"))
            .expect("local files hold roots");
        let path = |p: &std::path::Path| Path::from_absolute_path(p).expect("path");

        let inside = store.get(&path(&silver.join("window.parquet"))).await;
        assert_eq!(
            &inside.expect("inside").bytes().await.expect("read")[..],
            b"inside"
        );
        let refused = |e: object_store::Error| {
            assert!(
                matches!(&e, object_store::Error::PermissionDenied { .. }),
                "{e}"
            );
            assert!(e.to_string().contains("[storage] roots"), "{e}");
        };
        refused(store.get(&path(&outside)).await.expect_err("read outside"));
        refused(store.head(&path(&outside)).await.expect_err("head outside"));
        refused(
            store
                .put(&path(&dir.path().join("new.txt")), b"x".to_vec().into())
                .await
                .expect_err("write outside"),
        );
        refused(
            store
                .delete(&path(&outside))
                .await
                .expect_err("delete outside"),
        );
        refused(
            store
                .copy(&path(&outside), &path(&silver.join("stolen.txt")))
                .await
                .expect_err("copy from outside"),
        );
        refused(
            store
                .list_with_delimiter(Some(&path(dir.path())))
                .await
                .expect_err("list above a root"),
        );
        let listed: Vec<_> = store.list(None).collect().await;
        assert_eq!(listed.len(), 1);
        refused(listed.into_iter().next().expect("one").expect_err("list /"));
        assert!(std::fs::read(&outside).is_ok_and(|b| b == b"not pvflow's"));

        let bucket = stores
            .get_store(&Url::parse("s3://someone-elses-bucket/").expect("url"))
            .expect_err("a bucket that holds no root");
        assert!(
            bucket.to_string().contains("s3://someone-elses-bucket/"),
            "{bucket}"
        );
    }
}
