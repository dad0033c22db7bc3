//! `[memory]`: the memory a process' queries may hold before they spill to disk.
//!
//! Without a pool DataFusion's operators grow without bound: the window aggregate of ingest holds
//! every open window of the day (about 3 KiB each), so 21 GB at 100,000 devices. With one, the
//! aggregate sorts its windows to a spill file when the pool is full and merges the files at the
//! end, so memory is bounded by the pool, not by the fleet.

use datafusion::execution::memory_pool::{FairSpillPool, MemoryPool, TrackConsumersPool};
use serde::{Deserialize, Serialize};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `[memory]` (docs/configuration.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// The pool of this process' queries (`PVFLOW_MEMORY_POOL`): a size (`4GiB`, `512MB`, bytes),
    /// a share of the machine's or container's memory (`50%`), or `0` for no limit. Ballista
    /// executors size theirs with `--memory-pool-size` instead.
    pub pool: PoolSize,
    /// Where spill files go (`PVFLOW_MEMORY_SPILL_DIR`). Unset: the system's temporary directory.
    pub spill_dir: Option<PathBuf>,
}

/// A pool's size as configured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawPoolSize", into = "String")]
pub enum PoolSize {
    /// No limit: operators never spill.
    Unbounded,
    Bytes(NonZeroUsize),
    /// Percent (1..=100) of the memory this process may use: the container's limit (cgroup)
    /// if it has one, else the machine's.
    Share(u8),
}

/// Half the memory: room for what the pool does not track (Kafka and Parquet buffers, the
/// model's session, the allocator's slack) and for other processes.
impl Default for PoolSize {
    fn default() -> Self {
        PoolSize::Share(50)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawPoolSize {
    Bytes(u64),
    Text(String),
}

impl TryFrom<RawPoolSize> for PoolSize {
    type Error = String;

    fn try_from(raw: RawPoolSize) -> Result<Self, Self::Error> {
        match raw {
            RawPoolSize::Bytes(n) => Ok(bytes(n)),
            RawPoolSize::Text(text) => text.parse(),
        }
    }
}

fn bytes(n: u64) -> PoolSize {
    match NonZeroUsize::new(usize::try_from(n).unwrap_or(usize::MAX)) {
        None => PoolSize::Unbounded,
        Some(n) => PoolSize::Bytes(n),
    }
}

impl std::str::FromStr for PoolSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Some(percent) = text.strip_suffix('%') {
            return match percent.trim().parse::<u8>() {
                Ok(p @ 1..=100) => Ok(PoolSize::Share(p)),
                _ => Err(format!(
                    "memory pool `{text}`: a share must be 1% to 100% (0 means no limit)"
                )),
            };
        }
        text.parse::<bytesize::ByteSize>()
            .map(|size| bytes(size.as_u64()))
            .map_err(|e| {
                format!(
                    "memory pool `{text}` is neither a size (4GiB, 512MB) nor a share (50%): {e}"
                )
            })
    }
}

impl From<PoolSize> for String {
    fn from(size: PoolSize) -> String {
        match size {
            PoolSize::Unbounded => "0".into(),
            PoolSize::Bytes(n) => n.to_string(),
            PoolSize::Share(p) => format!("{p}%"),
        }
    }
}

impl MemoryConfig {
    /// The pool's size in bytes on this machine; `None` for no limit, or for a share when the
    /// machine's memory cannot be read (logged).
    pub fn pool_bytes(&self) -> Option<usize> {
        match self.pool {
            PoolSize::Unbounded => None,
            PoolSize::Bytes(n) => Some(n.get()),
            PoolSize::Share(percent) => {
                let Some(total) = available_memory() else {
                    tracing::warn!(
                        "cannot read this machine's memory: queries run without a memory pool \
                         (set [memory] pool to a size)"
                    );
                    return None;
                };
                Some((total as u128 * u128::from(percent) / 100) as usize)
            }
        }
    }

    /// The pool queries draw from: spilling operators share it fairly, and an error on
    /// exhaustion names its largest consumers.
    pub fn pool(&self) -> Option<Arc<dyn MemoryPool>> {
        let bytes = self.pool_bytes()?;
        let top_consumers = NonZeroUsize::new(5).expect("5 > 0");
        Some(Arc::new(TrackConsumersPool::new(
            FairSpillPool::new(bytes),
            top_consumers,
        )))
    }
}

/// The memory this process may use: the cgroup's limit (a container's) if lower than the
/// machine's.
fn available_memory() -> Option<u64> {
    let machine = machine_memory(Path::new("/proc/meminfo"))?;
    Some(match cgroup_limit(Path::new("/sys/fs/cgroup")) {
        Some(limit) => limit.min(machine),
        None => machine,
    })
}

fn machine_memory(meminfo: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(meminfo).ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// cgroup v2's `memory.max`, else v1's `memory.limit_in_bytes` (whose "unlimited" is a huge
/// number, so the machine's total wins the `min`).
fn cgroup_limit(root: &Path) -> Option<u64> {
    let v2 = std::fs::read_to_string(root.join("memory.max")).ok();
    let text =
        v2.or_else(|| std::fs::read_to_string(root.join("memory/memory.limit_in_bytes")).ok())?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_shares_and_no_limit_parse() {
        assert_eq!("4GiB".parse(), Ok(bytes(4 << 30)));
        assert_eq!("512 MB".parse(), Ok(bytes(512_000_000)));
        assert_eq!("1048576".parse(), Ok(bytes(1 << 20)));
        assert_eq!("50%".parse(), Ok(PoolSize::Share(50)));
        assert_eq!("0".parse(), Ok(PoolSize::Unbounded));
        for wrong in ["0%", "150%", "lots", "-1GiB"] {
            let e = wrong.parse::<PoolSize>().expect_err(wrong);
            assert!(e.contains(wrong), "{e}");
        }
    }

    #[test]
    fn a_share_is_of_the_machine_or_its_container() {
        let dir = tempfile::tempdir().expect("dir");
        let meminfo = dir.path().join("meminfo");
        std::fs::write(&meminfo, "MemTotal:       24576000 kB\nMemFree: 1 kB\n").expect("write");
        assert_eq!(machine_memory(&meminfo), Some(24_576_000 * 1024));
        assert_eq!(cgroup_limit(dir.path()), None);
        std::fs::write(dir.path().join("memory.max"), "max\n").expect("write");
        assert_eq!(cgroup_limit(dir.path()), None);
        std::fs::write(dir.path().join("memory.max"), "8589934592\n").expect("write");
        assert_eq!(cgroup_limit(dir.path()), Some(8 << 30));
        let unlimited = MemoryConfig {
            pool: PoolSize::Unbounded,
            spill_dir: None,
        };
        assert!(unlimited.pool().is_none());
        let fixed = MemoryConfig {
            pool: bytes(1 << 30),
            spill_dir: None,
        };
        assert_eq!(fixed.pool_bytes(), Some(1 << 30));
    }
}
