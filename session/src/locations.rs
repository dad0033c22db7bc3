//! Where pvflow's servers may read and write: the datasets' roots and the locations an operator
//! adds for them, and nothing else.
//!
//! An analyst connected to a server (Flight SQL) or a run request names locations in SQL and in
//! parameters; the server's own files (`/etc/passwd`, a pod's service-account token) and the
//! buckets its credentials happen to reach are not among them. [`Locations::check`] refuses a
//! location outside, naming it; a confined session's object stores ([`crate::object_stores`])
//! refuse every read, write and listing outside, whatever planned it.

use crate::config::StorageConfig;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use object_store::path::Path;
use std::sync::Arc;
use url::Url;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error("{location} is not a location: {reason}")]
    Invalid { location: String, reason: String },
    #[error(
        "{location} is outside the locations this server reaches ({roots}); an operator adds \
         more with [storage] roots"
    )]
    Outside { location: String, roots: String },
}

/// The locations a server's sessions reach: `[storage] silver`, `gold`, `live` and `roots`, each with
/// everything under it.
#[derive(Debug, Clone)]
pub struct Locations {
    roots: Vec<ListingTableUrl>,
}

fn parse(location: &str) -> Result<ListingTableUrl, LocationError> {
    ListingTableUrl::parse(location.trim()).map_err(|e| LocationError::Invalid {
        location: location.to_string(),
        reason: e.to_string(),
    })
}

/// The store a URL is in: its scheme and authority (`file://`, `s3://bucket`).
fn store_of(url: &Url) -> (&str, &str) {
    (url.scheme(), url.host_str().unwrap_or(""))
}

impl Locations {
    /// The datasets' roots and `[storage] roots` of `storage`.
    pub fn of(storage: &StorageConfig) -> Result<Locations, LocationError> {
        let roots = [&storage.silver, &storage.gold, &storage.live]
            .into_iter()
            .chain(&storage.roots)
            .map(|root| parse(root))
            .collect::<Result<_, _>>()?;
        Ok(Locations { roots })
    }

    /// `location` (a path or URL) if it lies under one of the roots; else an error naming it.
    pub fn check(&self, location: &str) -> Result<(), LocationError> {
        let url = parse(location)?;
        let inside = self.roots.iter().any(|root| {
            store_of(root.as_ref()) == store_of(url.as_ref())
                && url.prefix().prefix_matches(root.prefix())
        });
        if inside {
            Ok(())
        } else {
            Err(self.outside(url))
        }
    }

    /// The error for `location`, which lies outside every root.
    pub(crate) fn outside(&self, location: impl std::fmt::Display) -> LocationError {
        LocationError::Outside {
            location: location.to_string(),
            roots: self.to_string(),
        }
    }

    /// The roots inside the object store at `store` (`file:///`, `s3://bucket/`), as paths of
    /// that store; none when the store holds no root.
    pub(crate) fn prefixes_in(&self, store: &Url) -> Vec<Path> {
        self.roots
            .iter()
            .filter(|root| store_of(root.as_ref()) == store_of(store))
            .map(|root| root.prefix().clone())
            .collect()
    }
}

/// A query planner that refuses `COPY ... TO` a location outside `locations` by name, before
/// anything runs (the confined stores would refuse the write too, but with a writer's error).
#[derive(Debug)]
pub(crate) struct ConfinedQueryPlanner {
    pub(crate) inner: Arc<dyn QueryPlanner + Send + Sync>,
    pub(crate) locations: Locations,
}

#[async_trait]
impl QueryPlanner for ConfinedQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut refused = None;
        logical_plan.apply(|node| {
            if let LogicalPlan::Copy(copy) = node
                && let Err(e) = self.locations.check(&copy.output_url)
            {
                refused = Some(e);
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        if let Some(e) = refused {
            return Err(DataFusionError::Plan(format!("COPY refused: {e}")));
        }
        self.inner.create_physical_plan(logical_plan, session).await
    }
}

impl std::fmt::Display for Locations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let roots: Vec<&str> = self.roots.iter().map(ListingTableUrl::as_str).collect();
        f.write_str(&roots.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locations(roots: &[&str]) -> Locations {
        let storage = StorageConfig {
            silver: "/srv/pvflow/silver".into(),
            gold: "s3://plant-gold/gold/".into(),
            roots: roots.iter().map(|r| r.to_string()).collect(),
            ..StorageConfig::default()
        };
        Locations::of(&storage).expect("valid roots")
    }

    #[test]
    fn inside_the_roots_and_nowhere_else() {
        let l = locations(&["/srv/exports/"]);
        for inside in [
            "/srv/pvflow/silver",
            "/srv/pvflow/silver/date=2026-06-01/part-0.parquet",
            "file:///srv/pvflow/silver/_delta_log/",
            "s3://plant-gold/gold/date=2026-06-01/",
            "/srv/exports/readings.parquet",
        ] {
            assert_eq!(l.check(inside), Ok(()), "{inside}");
        }
        for outside in [
            "/etc/passwd",
            "/var/run/secrets/kubernetes.io/serviceaccount/token",
            "/srv/pvflow/silver-other/x.parquet",
            "/srv/pvflow/silver/../../../etc/passwd",
            "file:///srv/pvflow/silver/%2E%2E/%2E%2E/etc/passwd",
            "s3://plant-gold/other/",
            "s3://another-bucket/gold/",
            "/srv",
        ] {
            let e = l.check(outside).expect_err(outside);
            assert!(
                matches!(&e, LocationError::Outside { roots, .. } if roots.contains("s3://plant-gold/gold/")),
                "{outside}: {e}"
            );
        }
    }

    #[test]
    fn relative_roots_are_under_the_working_directory() {
        let l = Locations::of(&StorageConfig::default()).expect("valid");
        assert_eq!(l.check("data/silver/x"), Ok(()));
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(l.check(&cwd.join("data/gold").to_string_lossy()), Ok(()));
        assert!(l.check("data").is_err());
    }
}
