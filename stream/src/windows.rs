//! One Kafka partition's open windows: readings placed on each device's 64-slot grid as they
//! arrive, and windows closed when complete or when the partition's watermark passes them.
//!
//! A reading lands where `pv_window_series` puts it in the batch plans ([`window_slot`]): on
//! a slot given twice, the valid reading with the earliest time (on equal times, the smaller
//! value) stays, whatever the arrival order. A window closes when all 64 slots hold a reading,
//! or when the watermark (the newest reading time seen on the partition minus `delay`) passes
//! its end plus `grace`. A partition that has been quiet for `idle_timeout` has its watermark
//! advance with the wall clock from there, so its last windows close too. A reading whose window
//! has closed is late: counted and dropped (the daily batch still reads it).

use pvflow_udfs::{WINDOW_LEN, WINDOW_SECONDS, window_slot};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// The channels of a reading, in the image's order: voltage, current, temperature, irradiance.
pub const CHANNELS: usize = 4;
/// The irradiance channel's index in a window's series.
pub const IRRADIANCE: usize = 3;

const WINDOW_MS: i64 = WINDOW_SECONDS * 1000;

/// When windows close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowRules {
    /// How far behind the newest reading of its partition a reading may be and still count as
    /// on time: the watermark is the newest time seen minus this.
    pub delay: Duration,
    /// How long after the watermark passes a window's end it still takes readings.
    pub grace: Duration,
    /// A partition without readings for this long has its watermark advance with the clock.
    pub idle_timeout: Duration,
}

/// A reading as the stream takes it from Kafka.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading<'a> {
    pub device_id: &'a str,
    /// Milliseconds since the Unix epoch.
    pub ts_ms: i64,
    /// Voltage, current, temperature, irradiance; `None` (or a non-finite value) is missing.
    pub values: [Option<f32>; CHANNELS],
    /// The reading's Kafka offset.
    pub offset: i64,
}

/// What became of a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// In an open window.
    Open,
    /// Its window had closed: dropped and counted.
    Late,
    /// Its window was written by an earlier run of the stream: read again to rebuild the open
    /// windows, and skipped.
    WrittenBefore,
}

/// A closed window of one device: what `pv_window_series` gives the batch plans for the same
/// readings, and how many there were.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedWindow {
    pub device_id: String,
    /// Milliseconds since the Unix epoch.
    pub window_start_ms: i64,
    /// Readings received, valid or not (the batch's `count(*)`).
    pub readings: u32,
    /// Each channel's 64 slots; `None` where no valid reading landed.
    pub series: [[Option<f32>; WINDOW_LEN]; CHANNELS],
}

impl ClosedWindow {
    /// The mean of `channel`'s valid readings, `None` if it has none.
    pub fn mean(&self, channel: usize) -> Option<f32> {
        let valid = self.series.get(channel)?.iter().flatten();
        let (sum, count) = valid.fold((0f64, 0u32), |(s, n), v| (s + f64::from(*v), n + 1));
        (count > 0).then(|| (sum / f64::from(count)) as f32)
    }
}

#[derive(Debug, Clone)]
struct OpenWindow {
    values: [[f32; WINDOW_LEN]; CHANNELS],
    ts: [[i64; WINDOW_LEN]; CHANNELS],
    /// Per channel, the slots holding a valid reading.
    valid: [u64; CHANNELS],
    /// The slots any reading landed in.
    seen: u64,
    readings: u32,
    /// The smallest offset among its readings: where a restart reads from to rebuild it.
    first_offset: i64,
}

impl OpenWindow {
    fn new(offset: i64) -> OpenWindow {
        OpenWindow {
            values: [[0.0; WINDOW_LEN]; CHANNELS],
            ts: [[0; WINDOW_LEN]; CHANNELS],
            valid: [0; CHANNELS],
            seen: 0,
            readings: 0,
            first_offset: offset,
        }
    }

    fn place(&mut self, slot: usize, reading: &Reading<'_>) {
        let bit = 1_u64 << slot;
        self.seen |= bit;
        self.readings += 1;
        self.first_offset = self.first_offset.min(reading.offset);
        for (channel, value) in reading.values.iter().enumerate() {
            let Some(value) = value.filter(|v| v.is_finite()) else {
                continue;
            };
            let (kept_ts, kept) = (self.ts[channel][slot], self.values[channel][slot]);
            let keep = self.valid[channel] & bit == 0
                || reading.ts_ms < kept_ts
                || (reading.ts_ms == kept_ts && value.total_cmp(&kept).is_lt());
            if keep {
                self.values[channel][slot] = value;
                self.ts[channel][slot] = reading.ts_ms;
                self.valid[channel] |= bit;
            }
        }
    }

    fn is_full(&self) -> bool {
        self.seen == u64::MAX
    }

    fn close(self, device_id: String, window_start_ms: i64) -> ClosedWindow {
        let mut series = [[None; WINDOW_LEN]; CHANNELS];
        for (channel, slots) in series.iter_mut().enumerate() {
            for (slot, value) in slots.iter_mut().enumerate() {
                if self.valid[channel] & (1 << slot) != 0 {
                    *value = Some(self.values[channel][slot]);
                }
            }
        }
        ClosedWindow {
            device_id,
            window_start_ms,
            readings: self.readings,
            series,
        }
    }
}

/// Windows by start, then device: looked up without copying the device's name.
#[derive(Debug, Default)]
struct WindowSet(BTreeMap<i64, HashSet<String>>);

impl WindowSet {
    fn contains(&self, device: &str, start: i64) -> bool {
        self.0
            .get(&start)
            .is_some_and(|devices| devices.contains(device))
    }

    fn insert(&mut self, device: &str, start: i64) {
        self.0.entry(start).or_default().insert(device.to_string());
    }

    /// Forgets the windows that start before `start`.
    fn forget_before(&mut self, start: i64) {
        self.0 = self.0.split_off(&start);
    }
}

/// The open windows of one partition.
#[derive(Debug)]
pub struct PartitionWindows {
    rules: WindowRules,
    /// Open windows by start, then device: closing by watermark takes the oldest first.
    open: BTreeMap<i64, HashMap<String, OpenWindow>>,
    /// Windows closed full while the watermark has not yet passed them: a reading for one is
    /// late too.
    closed_early: WindowSet,
    /// Windows an earlier run of the stream wrote.
    written_before: WindowSet,
    newest_ts: Option<i64>,
    last_arrival: Option<Instant>,
    /// The last offset taken.
    consumed: Option<i64>,
    late: u64,
}

impl PartitionWindows {
    pub fn new(rules: WindowRules) -> PartitionWindows {
        PartitionWindows {
            rules,
            open: BTreeMap::new(),
            closed_early: WindowSet::default(),
            written_before: WindowSet::default(),
            newest_ts: None,
            last_arrival: None,
            consumed: None,
            late: 0,
        }
    }

    /// Takes a reading that arrived at `now`; a window it completes is returned closed.
    pub fn offer(&mut self, reading: &Reading<'_>, now: Instant) -> (Placed, Option<ClosedWindow>) {
        self.consumed = Some(
            self.consumed
                .map_or(reading.offset, |c| c.max(reading.offset)),
        );
        self.newest_ts = Some(
            self.newest_ts
                .map_or(reading.ts_ms, |t| t.max(reading.ts_ms)),
        );
        self.last_arrival = Some(now);
        let (start, slot) = window_slot(reading.ts_ms);
        let device = reading.device_id;
        if self.written_before.contains(device, start) {
            return (Placed::WrittenBefore, None);
        }
        if self.is_past(start, now) || self.closed_early.contains(device, start) {
            self.late += 1;
            return (Placed::Late, None);
        }
        let devices = self.open.entry(start).or_default();
        // The device's name is copied once per window, not per reading.
        let window = match devices.get_mut(device) {
            Some(window) => window,
            None => devices
                .entry(device.to_string())
                .or_insert_with(|| OpenWindow::new(reading.offset)),
        };
        window.place(slot, reading);
        if !window.is_full() {
            return (Placed::Open, None);
        }
        let closed = devices
            .remove_entry(device)
            .map(|(device, w)| w.close(device, start));
        if devices.is_empty() {
            self.open.remove(&start);
        }
        self.closed_early.insert(device, start);
        (Placed::Open, closed)
    }

    /// Marks windows an earlier run already wrote, so that readings read again to rebuild the
    /// open windows do not write them twice.
    pub fn already_written(&mut self, device_id: &str, window_start_ms: i64) {
        self.written_before.insert(device_id, window_start_ms);
    }

    /// Closes every window the watermark at `now` has passed (end plus grace), oldest first.
    pub fn close_passed(&mut self, now: Instant) -> Vec<ClosedWindow> {
        let mut closed = Vec::new();
        while let Some((&start, _)) = self.open.first_key_value() {
            if !self.is_past(start, now) {
                break;
            }
            if let Some((start, devices)) = self.open.pop_first() {
                let mut devices: Vec<_> = devices.into_iter().collect();
                devices.sort_by(|a, b| a.0.cmp(&b.0));
                closed.extend(devices.into_iter().map(|(d, w)| w.close(d, start)));
            }
        }
        if let Some(watermark) = self.watermark(now) {
            // Once the watermark has passed them, closed windows are late by time alone.
            let horizon = watermark - self.grace_ms() - WINDOW_MS;
            self.closed_early.forget_before(horizon);
            self.written_before.forget_before(horizon);
        }
        closed
    }

    /// Closes every open window, whatever the watermark: for a partition given up or a stream
    /// that stops without waiting for them. The caller decides whether to keep them.
    pub fn close_all(&mut self) -> Vec<ClosedWindow> {
        let open = std::mem::take(&mut self.open);
        open.into_iter()
            .flat_map(|(start, devices)| devices.into_iter().map(move |(d, w)| w.close(d, start)))
            .collect()
    }

    /// The partition's watermark at `now`, in milliseconds: the newest reading time minus
    /// `delay`, advancing with the clock once the partition has been idle for `idle_timeout`.
    pub fn watermark(&self, now: Instant) -> Option<i64> {
        let newest = self.newest_ts?;
        let mut watermark = newest - self.rules.delay.as_millis() as i64;
        if let Some(last) = self.last_arrival {
            let quiet = now.saturating_duration_since(last);
            if let Some(beyond) = quiet.checked_sub(self.rules.idle_timeout) {
                watermark += beyond.as_millis() as i64;
            }
        }
        Some(watermark)
    }

    fn grace_ms(&self) -> i64 {
        self.rules.grace.as_millis() as i64
    }

    /// Whether the window starting at `start` is past: the watermark beyond its end plus grace.
    fn is_past(&self, start: i64, now: Instant) -> bool {
        self.watermark(now)
            .is_some_and(|w| w >= start + WINDOW_MS + self.grace_ms())
    }

    /// The offset a restart reads from to rebuild the open windows: the smallest offset among
    /// their readings, else the one after the last taken.
    pub fn resume_offset(&self) -> Option<i64> {
        let open = self
            .open
            .values()
            .flat_map(|devices| devices.values())
            .map(|w| w.first_offset)
            .min();
        open.or(self.consumed.map(|c| c + 1))
    }

    /// The start of the oldest open window (ms): windows before it are all closed.
    pub fn oldest_open(&self) -> Option<i64> {
        self.open.first_key_value().map(|(start, _)| *start)
    }

    /// The last offset taken.
    pub fn consumed(&self) -> Option<i64> {
        self.consumed
    }

    /// Open windows, over all devices.
    pub fn open_windows(&self) -> usize {
        self.open.values().map(HashMap::len).sum()
    }

    /// Readings dropped because their window had closed.
    pub fn late_readings(&self) -> u64 {
        self.late
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_780_272_640_000; // 2026-06-01T00:10:40Z, a window start

    fn rules() -> WindowRules {
        WindowRules {
            delay: Duration::from_secs(60),
            grace: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(300),
        }
    }

    fn reading(device_id: &str, ts_ms: i64, offset: i64) -> Reading<'_> {
        Reading {
            device_id,
            ts_ms,
            values: [Some(600.0), Some(8.0), Some(35.0), Some(900.0)],
            offset,
        }
    }

    #[test]
    fn a_window_closes_when_its_64_slots_are_filled() {
        let mut windows = PartitionWindows::new(rules());
        let now = Instant::now();
        // Out of order: the window is complete only with its last slot.
        for (i, slot) in (1..64).chain([0]).enumerate() {
            let (placed, closed) =
                windows.offer(&reading("a", START + slot * 20_000 + 5, i as i64), now);
            assert_eq!(placed, Placed::Open);
            assert_eq!(closed.is_some(), slot == 0, "slot {slot}");
            if let Some(closed) = closed {
                assert_eq!(closed.window_start_ms, START);
                assert_eq!(closed.readings, 64);
                assert!(closed.series.iter().all(|s| s.iter().all(Option::is_some)));
            }
        }
        assert_eq!(windows.open_windows(), 0);
        // Another reading for that window comes after it closed: late.
        let (placed, _) = windows.offer(&reading("a", START + 5, 64), now);
        assert_eq!(placed, Placed::Late);
        assert_eq!(windows.late_readings(), 1);
    }

    #[test]
    fn a_slot_given_twice_keeps_the_earliest_valid_reading_whatever_the_order() {
        let now = Instant::now();
        let mut a = PartitionWindows::new(rules());
        let mut b = PartitionWindows::new(rules());
        let mut early = reading("d", START + 1_000, 0);
        early.values = [Some(1.0), None, Some(f32::NAN), Some(3.0)];
        let mut late = reading("d", START + 2_000, 1);
        late.values = [Some(2.0), Some(5.0), Some(7.0), Some(4.0)];
        a.offer(&early, now);
        a.offer(&late, now);
        b.offer(&late, now);
        b.offer(&early, now);
        let (a, b) = (a.close_all(), b.close_all());
        assert_eq!(a, b);
        assert_eq!(
            a[0].series.map(|s| s[0]),
            [Some(1.0), Some(5.0), Some(7.0), Some(3.0)]
        );
        assert_eq!(a[0].readings, 2);
    }

    #[test]
    fn the_watermark_closes_windows_after_their_end_plus_grace() {
        let mut windows = PartitionWindows::new(rules());
        let now = Instant::now();
        windows.offer(&reading("a", START + 40_000, 10), now);
        windows.offer(&reading("b", START + 60_000, 11), now);
        assert_eq!(windows.resume_offset(), Some(10));
        assert_eq!(windows.oldest_open(), Some(START));
        // The next window's readings move the watermark: end (START + 1280 s) + grace 120 s +
        // delay 60 s is when the first window closes.
        let closes_at = START + WINDOW_MS + 120_000 + 60_000;
        windows.offer(&reading("a", closes_at - 1, 12), now);
        assert!(windows.close_passed(now).is_empty());
        windows.offer(&reading("b", closes_at, 13), now);
        let closed = windows.close_passed(now);
        let devices: Vec<_> = closed.iter().map(|w| w.device_id.as_str()).collect();
        assert_eq!(devices, ["a", "b"]);
        assert!(
            closed
                .iter()
                .all(|w| w.window_start_ms == START && w.readings == 1)
        );
        // What is still open began at offset 12; everything before is written or dropped.
        assert_eq!(windows.resume_offset(), Some(12));
        assert_eq!(windows.consumed(), Some(13));
        // A reading for the closed window is late, one within grace of the open one is not.
        assert_eq!(
            windows.offer(&reading("c", START + 5, 14), now).0,
            Placed::Late
        );
        assert_eq!(
            windows
                .offer(&reading("c", START + WINDOW_MS + 5, 15), now)
                .0,
            Placed::Open
        );
    }

    /// Generated readings (several devices, duplicated slots, missing and non-finite values,
    /// any order) windowed by the stream and by the batch plans' SQL (`windowed_readings` and
    /// `pv_window_series`): the same windows, counts and series.
    #[tokio::test]
    async fn windows_equal_the_batch_plans_for_the_same_readings() {
        use datafusion::arrow::array::{
            Array, AsArray, Float32Array, RecordBatch, StringArray, TimestampMillisecondArray,
        };
        use datafusion::arrow::datatypes::{
            DataType, Field, Float32Type, Int64Type, Schema, TimeUnit, TimestampMillisecondType,
        };
        use datafusion::prelude::SessionContext;
        use std::sync::Arc;

        let mut random = pvflow_testkit::SeededRandom::new(17);
        let devices = ["a", "b", "c"];
        let (mut device_ids, mut times, mut columns) =
            (Vec::new(), Vec::new(), vec![Vec::new(); 4]);
        for _ in 0..3_000 {
            device_ids.push(devices[random.below(devices.len())]);
            // Five windows, to the millisecond, never in a window's last slot: no window fills,
            // so every duplicate of a slot is still taken (a full window closes, and what comes
            // after it is late by design).
            let window = START + (random.below(5) as i64 - 1) * WINDOW_MS;
            times.push(window + random.below(63 * 20_000) as i64);
            for column in &mut columns {
                column.push(match random.below(20) {
                    0 => None,
                    1 => Some(f32::NAN),
                    2 => Some(f32::INFINITY),
                    _ => Some(random.below(1000) as f32 / 4.0),
                });
            }
        }
        // A delay longer than the readings' spread: in any order, none is late.
        let mut windows = PartitionWindows::new(WindowRules {
            delay: Duration::from_secs(86_400),
            ..rules()
        });
        let now = Instant::now();
        let mut streamed = Vec::new();
        for i in 0..times.len() {
            let values = [columns[0][i], columns[1][i], columns[2][i], columns[3][i]];
            let reading = Reading {
                device_id: device_ids[i],
                ts_ms: times[i],
                values,
                offset: i as i64,
            };
            if let (_, Some(closed)) = windows.offer(&reading, now) {
                streamed.push(closed);
            }
        }
        streamed.extend(windows.close_all());
        streamed.sort_by(|a, b| {
            (&a.device_id, a.window_start_ms).cmp(&(&b.device_id, b.window_start_ms))
        });

        let schema = Arc::new(Schema::new(vec![
            Field::new("device_id", DataType::Utf8, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            Field::new("voltage", DataType::Float32, true),
            Field::new("current", DataType::Float32, true),
            Field::new("temperature", DataType::Float32, true),
            Field::new("irradiance", DataType::Float32, true),
        ]));
        let mut arrays: Vec<Arc<dyn Array>> = vec![
            Arc::new(StringArray::from(device_ids.clone())),
            Arc::new(TimestampMillisecondArray::from(times.clone()).with_timezone("UTC")),
        ];
        arrays.extend(
            columns
                .iter()
                .map(|c| Arc::new(Float32Array::from(c.clone())) as Arc<dyn Array>),
        );
        let ctx = SessionContext::new();
        for udaf in pvflow_udfs::all_udafs() {
            ctx.register_udaf(udaf);
        }
        ctx.register_batch(
            "readings",
            RecordBatch::try_new(schema, arrays).expect("batch"),
        )
        .expect("table");
        let sql = format!(
            "SELECT device_id, CAST(window_start AS TIMESTAMP(3)) AS window_start, count(*) AS readings, \
             pv_window_series(slot, ts, voltage), pv_window_series(slot, ts, current), \
             pv_window_series(slot, ts, temperature), pv_window_series(slot, ts, irradiance) \
             FROM ({}) GROUP BY device_id, window_start ORDER BY device_id, window_start",
            pvflow_udfs::windowed_readings("readings")
        );
        let batches = ctx
            .sql(&sql)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        let mut batch_windows = Vec::new();
        for batch in &batches {
            let device = batch.column(0).as_string::<i32>();
            let start = batch.column(1).as_primitive::<TimestampMillisecondType>();
            let readings = batch.column(2).as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                let mut series = [[None; WINDOW_LEN]; CHANNELS];
                for (channel, slots) in series.iter_mut().enumerate() {
                    let list = batch.column(3 + channel).as_fixed_size_list().value(row);
                    let values = list.as_primitive::<Float32Type>();
                    for (slot, value) in slots.iter_mut().enumerate() {
                        *value = values.is_valid(slot).then(|| values.value(slot));
                    }
                }
                batch_windows.push(ClosedWindow {
                    device_id: device.value(row).to_string(),
                    window_start_ms: start.value(row),
                    readings: readings.value(row) as u32,
                    series,
                });
            }
        }
        assert_eq!(streamed.len(), devices.len() * 5);
        assert_eq!(streamed.len(), batch_windows.len());
        for (stream, batch) in streamed.iter().zip(&batch_windows) {
            assert_eq!(stream, batch);
        }
    }

    #[test]
    fn an_idle_partition_closes_its_windows_as_the_clock_goes_on() {
        let mut windows = PartitionWindows::new(rules());
        let start = Instant::now();
        windows.offer(&reading("a", START + 5, 0), start);
        // Quiet past the idle timeout, and then as long as the window plus grace and delay.
        let quiet = rules().idle_timeout + Duration::from_millis((WINDOW_MS + 180_000) as u64);
        assert!(
            windows
                .close_passed(start + quiet - Duration::from_secs(1))
                .is_empty()
        );
        assert_eq!(windows.close_passed(start + quiet).len(), 1);
    }

    #[test]
    fn windows_written_by_an_earlier_run_are_not_written_again() {
        let mut windows = PartitionWindows::new(rules());
        let now = Instant::now();
        windows.already_written("a", START);
        assert_eq!(
            windows.offer(&reading("a", START + 5, 0), now).0,
            Placed::WrittenBefore
        );
        assert_eq!(
            windows.offer(&reading("b", START + 5, 1), now).0,
            Placed::Open
        );
        assert_eq!(windows.close_all().len(), 1);
        assert_eq!(windows.late_readings(), 0);
    }
}
