//! What the functions share: the window grid, the image's shape, the windowing idiom and the
//! documentation section they appear under.

use datafusion::arrow::array::ArrayRef;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, DocSection};

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

/// Where a reading at `ts_ms` (milliseconds since the Unix epoch) lands: its window's start
/// (milliseconds) and its slot, exactly as [`windowed_readings`] places it in SQL (a test runs
/// both): the one rule for batch plans and the stream.
///
/// ```
/// // 2026-06-01T00:11:01.5Z: in the window that began at 00:10:40, its second slot.
/// let (start, slot) = pvflow_udfs::window_slot(1_780_272_661_500);
/// assert_eq!((start, slot), (1_780_272_640_000, 1));
/// ```
pub fn window_slot(ts_ms: i64) -> (i64, usize) {
    let start = ts_ms - ts_ms.rem_euclid(WINDOW_SECONDS * 1000);
    // `to_unixtime` keeps whole seconds; the window starts on a whole second.
    let slot = (ts_ms.div_euclid(1000) - start / 1000) / READING_INTERVAL_SECONDS;
    (start, slot as usize)
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

/// `result` (one row per row of `args`) as a function's answer: a scalar when every argument
/// was one (a constant expression), else the array.
pub(crate) fn answer(args: &[ColumnarValue], result: ArrayRef) -> Result<ColumnarValue> {
    Ok(
        if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?)
        } else {
            ColumnarValue::Array(result)
        },
    )
}

/// Where pvflow's functions appear in DataFusion's function reference.
pub(crate) const SIGNAL_PROCESSING: DocSection = DocSection {
    include: true,
    label: "Signal Processing Functions",
    description: Some("Wavelet transforms and scalograms of sensor series (pvflow)."),
};

/// Where the window statistics appear in DataFusion's function reference.
pub(crate) const WINDOW_STATISTICS: DocSection = DocSection {
    include: true,
    label: "Window Statistics Functions",
    description: Some("Means and DC power of a window's sensor series (pvflow)."),
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

    #[tokio::test]
    async fn window_slot_places_readings_as_the_plans_sql_does() {
        use datafusion::arrow::array::{AsArray, RecordBatch, TimestampMillisecondArray};
        use datafusion::arrow::datatypes::{
            DataType, Field, Schema, TimeUnit, TimestampMillisecondType,
        };
        use datafusion::prelude::SessionContext;
        use std::sync::Arc;
        // Window edges, slot edges, sub-second readings, and a spread over a year.
        let day = 1_780_272_000_000_i64;
        let mut times: Vec<i64> = vec![day, day - 1, day + 999, day + 19_999, day + 20_000];
        times.extend((0..2_000).map(|i| day + i * 15_731_117 % (365 * 86_400_000) + i % 1000));
        let schema = Arc::new(Schema::new(vec![Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        )]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(
                TimestampMillisecondArray::from(times.clone()).with_timezone("UTC"),
            )],
        )
        .expect("batch");
        let ctx = SessionContext::new();
        ctx.register_batch("readings", batch).expect("table");
        let sql = format!(
            "SELECT ts, CAST(window_start AS TIMESTAMP(3)) AS window_start, CAST(slot AS BIGINT) AS slot \
             FROM ({}) ORDER BY ts",
            windowed_readings("readings")
        );
        let batches = ctx
            .sql(&sql)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        let mut checked = 0;
        for batch in batches {
            let ts = batch.column(0).as_primitive::<TimestampMillisecondType>();
            let start = batch.column(1).as_primitive::<TimestampMillisecondType>();
            let slot = batch
                .column(2)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            for row in 0..batch.num_rows() {
                assert_eq!(
                    window_slot(ts.value(row)),
                    (start.value(row), slot.value(row) as usize),
                    "ts {}",
                    ts.value(row)
                );
                checked += 1;
            }
        }
        assert_eq!(checked, times.len());
    }

    #[test]
    fn a_window_is_64_readings_of_20_seconds() {
        assert_eq!(WINDOW_SECONDS, 1280);
        assert_eq!(IMAGE_LEN, 16_384);
    }
}
