//! Where things are under a dataset root: the one home of pvflow's on-disk (and on-S3) layout.
//!
//! ```text
//! <root>/                              silver/, gold/: a dataset root (a directory or an S3 prefix)
//!   _delta_log/00000000000000000003.json   the log: which files make the dataset
//!   date=2026-06-01/part-....parquet       a day's rows (the date is not stored in the files)
//!   _staging/<run id>/date=.../            a run's files before its commit (readers ignore it)
//!   _runs/<run id>.json                    a run's manifest
//!   _quarantine/                           (silver only) a dataset of the malformed messages
//!   _fault_events/                         (gold only) a dataset of the fault episodes
//!   _episode_state/                        (gold only) each day's episodes under way, for the next
//! ```
//!
//! ```
//! use pvflow_dataset::layout;
//!
//! let day = layout::parse_date("2026-06-01")?;
//! assert_eq!(day.to_string(), "2026-06-01");
//! assert_eq!(layout::manifest_path("ingest-2026-06-01-0a1b2c3d"), "_runs/ingest-2026-06-01-0a1b2c3d.json");
//! assert_eq!(layout::quarantine_root("s3://plant/silver"), "s3://plant/silver/_quarantine/");
//! assert_eq!(layout::fault_events_root("/srv/gold/"), "/srv/gold/_fault_events/");
//! # Ok::<(), String>(())
//! ```

use chrono::NaiveDate;

/// The partition column every dataset has: a Date32, the UTC date of each row's window.
pub const DATE_COLUMN: &str = "date";
/// The Delta log's directory.
pub const LOG_DIR: &str = "_delta_log";
/// Runs' files before their commit, one directory per run.
pub const STAGING_DIR: &str = "_staging";
/// Runs' manifests.
pub const RUNS_DIR: &str = "_runs";
/// Silver's malformed messages: a dataset of its own under silver's root.
pub const QUARANTINE_DIR: &str = "_quarantine";
/// Gold's fault episodes: a dataset of their own under gold's root.
pub const FAULT_EVENTS_DIR: &str = "_fault_events";
/// What each predict run leaves its next day to go on from: the devices with a fault run under
/// way or an episode open at the day's end.
pub const EPISODE_STATE_DIR: &str = "_episode_state";

/// How dates are written in partition directories, parameters and flags.
pub(crate) const DATE_FORMAT: &str = "%Y-%m-%d";

/// `text` as a date `YYYY-MM-DD`, or why not (for a message that names the parameter).
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, DATE_FORMAT)
        .map_err(|e| format!("{text:?} is not a date YYYY-MM-DD: {e}"))
}

/// Run `run_id`'s staging directory, relative to the root.
pub fn staging_dir(run_id: &str) -> String {
    format!("{STAGING_DIR}/{run_id}")
}

/// Run `run_id`'s manifest, relative to the root of the dataset it wrote.
pub fn manifest_path(run_id: &str) -> String {
    format!("{RUNS_DIR}/{run_id}.json")
}

/// The root of the quarantine of the silver dataset at `silver` (a URL or path), with a
/// trailing `/`.
pub fn quarantine_root(silver: &str) -> String {
    format!("{}/{QUARANTINE_DIR}/", silver.trim_end_matches('/'))
}

/// The root of the fault episodes of the gold dataset at `gold`, with a trailing `/`.
pub fn fault_events_root(gold: &str) -> String {
    format!("{}/{FAULT_EVENTS_DIR}/", gold.trim_end_matches('/'))
}

/// The root of the episode state of the gold dataset at `gold`, with a trailing `/`.
pub fn episode_state_root(gold: &str) -> String {
    format!("{}/{EPISODE_STATE_DIR}/", gold.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_refused_with_the_text_they_came_from() {
        let e = parse_date("2026-13-01").unwrap_err();
        assert!(
            e.contains("\"2026-13-01\"") && e.contains("YYYY-MM-DD"),
            "{e}"
        );
        assert!(parse_date("01/06/2026").is_err());
    }

    #[test]
    fn the_quarantine_is_under_silver_whatever_its_trailing_slash() {
        assert_eq!(
            quarantine_root("/data/silver/"),
            "/data/silver/_quarantine/"
        );
        assert_eq!(quarantine_root("/data/silver"), "/data/silver/_quarantine/");
    }
}
