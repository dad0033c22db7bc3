//! What the functions share: the window grid, the image's shape, the windowing idiom and the
//! documentation section they appear under.

use datafusion::logical_expr::DocSection;

/// Slots per window: one reading every [`READING_INTERVAL_SECONDS`].
pub const WINDOW_LEN: usize = 64;
/// The plant's reading cadence: one reading per device every 20 s.
pub const READING_INTERVAL_SECONDS: i64 = 20;
/// A window's length, 64 x 20 s = 1280 s (about 21 minutes). Windows are aligned to the Unix
/// epoch, so re-runs give the same windows and every window falls on one UTC date.
pub const WINDOW_SECONDS: i64 = WINDOW_LEN as i64 * READING_INTERVAL_SECONDS;
/// The sensor channels of a window, in the image's channel order.
pub const CHANNELS: [&str; 4] = ["voltage", "current", "temperature", "irradiance"];
/// Wavelet scales 1..=64.
pub const NUM_SCALES: usize = 64;
/// Values per image: channels x scales x time.
pub const IMAGE_LEN: usize = CHANNELS.len() * NUM_SCALES * WINDOW_LEN;
/// A channel with fewer valid readings than this (75 % of the window) gives no image: gap
/// filling would invent too much of it.
pub const MIN_VALID_READINGS: usize = 48;

/// Every reading of `table` with its window (`window_start`) and its place in it (`slot`): the
/// inner query of the windowing idiom, as `plans/ingest.sql` spells it (a test keeps the two
/// equal).
///
/// ```
/// let sql = pvflow_udfs::windowed_readings("readings");
/// assert!(sql.contains("date_bin(INTERVAL '1280 seconds'"));
/// assert!(sql.ends_with("/ 20 AS slot FROM readings"));
/// ```
pub fn windowed_readings(table: &str) -> String {
    let window_start = format!(
        "date_bin(INTERVAL '{WINDOW_SECONDS} seconds', ts, TIMESTAMP '1970-01-01T00:00:00Z')"
    );
    format!(
        "SELECT *, {window_start} AS window_start, \
         (to_unixtime(ts) - to_unixtime({window_start})) / {READING_INTERVAL_SECONDS} AS slot \
         FROM {table}"
    )
}

/// The windowing idiom (docs/udfs.md), the documented example of both `pv_window_series` and
/// `pv_scalogram`.
pub(crate) const WINDOWING_EXAMPLE: &str = r#"```sql
> SELECT device_id, window_start,
         pv_scalogram(pv_window_series(slot, ts, voltage), pv_window_series(slot, ts, current),
                      pv_window_series(slot, ts, temperature), pv_window_series(slot, ts, irradiance)) AS scalogram
  FROM (SELECT *, date_bin(INTERVAL '1280 seconds', ts, TIMESTAMP '1970-01-01T00:00:00Z') AS window_start,
               (to_unixtime(ts) - to_unixtime(date_bin(INTERVAL '1280 seconds', ts, TIMESTAMP '1970-01-01T00:00:00Z'))) / 20 AS slot
        FROM readings)
  GROUP BY device_id, window_start;
```"#;

/// Where pvflow's functions appear in DataFusion's function reference.
pub(crate) const SIGNAL_PROCESSING: DocSection = DocSection {
    include: true,
    label: "Signal Processing Functions",
    description: Some("Wavelet transforms and scalograms of sensor series (pvflow)."),
};

#[cfg(test)]
mod tests {
    use super::*;

    /// `s` with every run of whitespace as one space, and none inside parentheses' edges.
    fn normalised(s: &str) -> String {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace("( ", "(")
            .replace(" )", ")")
    }

    #[test]
    fn the_plans_the_example_and_the_docs_window_on_this_grid() {
        let idiom = normalised(&windowed_readings("readings"));
        // The SQL texts add their own filters after `FROM readings`.
        for (name, text) in [
            ("plans/ingest.sql", include_str!("../../plans/ingest.sql")),
            (
                "examples/scalograms.sql",
                include_str!("../../examples/scalograms.sql"),
            ),
            ("WINDOWING_EXAMPLE", WINDOWING_EXAMPLE),
        ] {
            let text = normalised(
                &text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("--"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
            assert!(
                text.contains(&idiom),
                "{name} does not window as `{idiom}`:\n{text}"
            );
        }
    }

    #[test]
    fn a_window_is_64_readings_of_20_seconds() {
        assert_eq!(WINDOW_SECONDS, 1280);
        assert_eq!(IMAGE_LEN, 16_384);
    }
}
