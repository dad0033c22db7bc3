//! pvflow's streaming mode, built up piece by piece (issue 17): so far the windowing of one
//! Kafka partition's readings as they arrive ([`PartitionWindows`]), by the same placement rule
//! as the batch plans, closing each device's window when its 64 slots are filled or when the
//! partition's watermark has passed it; and the diagnosis of closed windows in batches by the
//! plans' own classifier ([`diagnose`]); and the live table ([`LiveTable`]), whose commits
//! carry each Kafka partition's progress so that output is written exactly once.
//!
//! ```
//! use pvflow_stream::{PartitionWindows, Placed, Reading, WindowRules};
//! use std::time::{Duration, Instant};
//!
//! let mut windows = PartitionWindows::new(WindowRules {
//!     delay: Duration::from_secs(60),
//!     grace: Duration::from_secs(120),
//!     idle_timeout: Duration::from_secs(300),
//! });
//! let reading = Reading {
//!     device_id: "inv-01/array-3",
//!     ts_ms: 1_780_272_661_500,
//!     values: [Some(612.0), Some(8.1), Some(41.5), Some(870.0)],
//!     offset: 42,
//! };
//! let (placed, closed) = windows.offer(&reading, Instant::now());
//! assert_eq!((placed, closed), (Placed::Open, None));
//! assert_eq!(windows.resume_offset(), Some(42));
//! ```

mod diagnose;
mod episodes;
mod events;
mod live;
mod metrics;
mod probes;
mod service;
mod windows;

pub use diagnose::diagnose;
pub use episodes::PartitionEpisodes;
pub use live::{LiveTable, PartitionProgress, open_episodes};
pub use probes::serve_probes;
pub use service::{StreamCounts, StreamSettings, run};
pub use windows::{
    CHANNELS, ClosedWindow, IRRADIANCE, PartitionWindows, Placed, Reading, WindowRules,
};
