//! The fault episodes of one Kafka partition's devices, fed with each commit's diagnosed
//! windows by [`pvflow_episodes`]' rules, and kept with the live table so that a restart or a new
//! owner goes on where the last commit left them.

use crate::windows::{ClosedWindow, IRRADIANCE};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float32Type, Int32Type, TimestampMillisecondType};
use datafusion::common::{DataFusionError, Result};
use pvflow_episodes::{
    DeviceEpisodes, Episode, EpisodeEvent, EpisodeRules, Window, energy_lost_wh,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Every device of a partition with a fault run under way or an episode open; the others have
/// nothing to remember.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartitionEpisodes {
    devices: BTreeMap<String, DeviceEpisodes>,
}

impl PartitionEpisodes {
    /// Feeds `rows` (a commit's diagnoses, as [`crate::diagnose`] gives them, of `windows`) to
    /// their devices' episodes, each device's windows in time order. Returns the events and
    /// whether anything changed.
    pub fn offer(
        &mut self,
        rows: &[RecordBatch],
        windows: &[ClosedWindow],
        rules: &EpisodeRules,
    ) -> Result<(Vec<EpisodeEvent>, bool)> {
        let irradiance: HashMap<(&str, i64), Option<f32>> = windows
            .iter()
            .map(|w| {
                (
                    (w.device_id.as_str(), w.window_start_ms),
                    w.mean(IRRADIANCE),
                )
            })
            .collect();
        let mut diagnosed = Vec::new();
        for batch in rows {
            let column = |name: &str| {
                batch.column_by_name(name).ok_or_else(|| {
                    DataFusionError::Internal(format!("diagnosed windows have no {name}"))
                })
            };
            let device = column("device_id")?.as_string::<i32>();
            let start = column("window_start")?.as_primitive::<TimestampMillisecondType>();
            let code = column("fault_code")?.as_primitive::<Int32Type>();
            let label = column("fault_label")?.as_string::<i32>();
            let probabilities = column("probabilities")?.as_fixed_size_list();
            // The power columns, for the energy an episode costs.
            let power = |name: &str| {
                batch
                    .column_by_name(name)
                    .map(|c| c.as_primitive::<Float32Type>())
            };
            let (expected, measured) = (power("expected_power_w"), power("measured_power_w"));
            let watts = |column: Option<&datafusion::arrow::array::Float32Array>, row: usize| {
                column.and_then(|c| c.is_valid(row).then(|| c.value(row)))
            };
            for row in 0..batch.num_rows() {
                let (device, start) = (device.value(row), start.value(row));
                let class = label.is_valid(row).then(|| label.value(row));
                let probability = match (class, code.is_valid(row)) {
                    (Some(_), true) => usize::try_from(code.value(row))
                        .ok()
                        .and_then(|c| {
                            let p = probabilities.value(row);
                            let p = p.as_primitive::<Float32Type>();
                            (c < p.len()).then(|| p.value(c))
                        })
                        .unwrap_or(0.0),
                    _ => 0.0,
                };
                let irradiance = irradiance.get(&(device, start)).copied().flatten();
                let lost = energy_lost_wh(
                    watts(expected, row),
                    watts(measured, row),
                    pvflow_udfs::WINDOW_SECONDS,
                );
                diagnosed.push((device, start, class, probability, irradiance, lost));
            }
        }
        diagnosed.sort_by_key(|(device, start, ..)| (*device, *start));
        let mut events = Vec::new();
        let mut changed = false;
        for (device, start_ms, class, probability, irradiance, energy_lost_wh) in diagnosed {
            let state = self.devices.entry(device.to_string()).or_default();
            let before = state.clone();
            events.extend(state.offer(
                device,
                &Window {
                    start_ms,
                    class,
                    probability,
                    irradiance,
                    energy_lost_wh,
                },
                rules,
            ));
            changed |= *state != before;
            if state.is_idle() {
                self.devices.remove(device);
            }
        }
        Ok((events, changed))
    }

    /// The open episodes, by device.
    pub fn open(&self) -> impl Iterator<Item = (&str, &Episode)> {
        self.devices
            .iter()
            .filter_map(|(device, state)| Some((device.as_str(), state.open_episode()?)))
    }

    #[cfg(test)]
    fn device(&self, device_id: &str) -> Option<&DeviceEpisodes> {
        self.devices.get(device_id)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use datafusion::arrow::array::{
        FixedSizeListArray, Float32Array, Int32Array, StringArray, TimestampMillisecondArray,
    };
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use pvflow_episodes::EventKind;
    use std::sync::Arc;

    const T0: i64 = 1_780_300_000_000;
    const W: i64 = 1_280_000;

    /// Diagnoses as `diagnose` gives them: (device, window number, class code or None).
    fn rows(windows: &[(&str, i64, Option<i32>)]) -> RecordBatch {
        let probabilities: Vec<Option<f32>> = windows
            .iter()
            .flat_map(|(_, _, code)| {
                (0..6).map(move |c| Some(if *code == Some(c) { 0.9 } else { 0.02 }))
            })
            .collect();
        let schema = Schema::new(vec![
            Field::new("device_id", DataType::Utf8, false),
            Field::new(
                "window_start",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            Field::new("fault_code", DataType::Int32, true),
            Field::new("fault_label", DataType::Utf8, true),
            Field::new(
                "probabilities",
                DataType::FixedSizeList(
                    Arc::new(Field::new_list_field(DataType::Float32, true)),
                    6,
                ),
                true,
            ),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from_iter_values(windows.iter().map(|w| w.0))),
                Arc::new(
                    TimestampMillisecondArray::from_iter_values(
                        windows.iter().map(|w| T0 + w.1 * W),
                    )
                    .with_timezone("UTC"),
                ),
                Arc::new(Int32Array::from_iter(windows.iter().map(|w| w.2))),
                Arc::new(StringArray::from_iter(
                    windows
                        .iter()
                        .map(|w| w.2.map(|c| pvflow_udfs::FAULT_LABELS[c as usize])),
                )),
                Arc::new(
                    FixedSizeListArray::try_new(
                        Arc::new(Field::new_list_field(DataType::Float32, true)),
                        6,
                        Arc::new(Float32Array::from(probabilities)),
                        None,
                    )
                    .expect("probabilities"),
                ),
            ],
        )
        .expect("rows")
    }

    /// The closed window of each row, lit at `irradiance` W/m².
    fn closed(windows: &[(&str, i64, Option<i32>)], irradiance: f32) -> Vec<ClosedWindow> {
        windows
            .iter()
            .map(|(device, n, _)| ClosedWindow {
                device_id: device.to_string(),
                window_start_ms: T0 + n * W,
                readings: 64,
                series: std::array::from_fn(|channel| {
                    [Some(if channel == IRRADIANCE {
                        irradiance
                    } else {
                        1.0
                    }); 64]
                }),
            })
            .collect()
    }

    /// A partition whose `device` has an arc fault episode open.
    pub(crate) fn one_open_episode(device: &str) -> PartitionEpisodes {
        let windows: Vec<_> = (0..3).map(|n| (device, n, Some(5))).collect();
        let mut partition = PartitionEpisodes::default();
        partition
            .offer(
                &[rows(&windows)],
                &closed(&windows, 900.0),
                &EpisodeRules::default(),
            )
            .expect("offered");
        partition
    }

    #[test]
    fn a_commits_windows_feed_each_device_in_time_order() {
        let rules = EpisodeRules::default();
        let mut partition = PartitionEpisodes::default();
        // Out of order across batches and devices, as a commit's diagnoses may come.
        let first = [("b", 2, Some(5)), ("a", 1, Some(1)), ("b", 0, Some(5))];
        let second = [
            ("a", 0, Some(1)),
            ("b", 1, Some(5)),
            ("a", 2, None),
            ("a", 3, Some(1)),
        ];
        let all: Vec<_> = first.iter().chain(&second).copied().collect();
        let (events, changed) = partition
            .offer(&[rows(&first), rows(&second)], &closed(&all, 800.0), &rules)
            .expect("offered");
        assert!(changed);
        let opened: Vec<_> = events
            .iter()
            .map(|e| (e.kind, e.device_id.as_str(), e.episode.windows))
            .collect();
        assert_eq!(
            opened,
            [(EventKind::Opened, "a", 3), (EventKind::Opened, "b", 3)]
        );
        assert!((events[1].episode.mean_probability() - 0.9).abs() < 1e-6);
        assert_eq!(partition.open().count(), 2);

        // Night windows change nothing; normal daylight ones close an episode, after which the
        // device is forgotten.
        let night = [("a", 4, Some(0)), ("a", 5, Some(0)), ("a", 6, Some(0))];
        let (events, changed) = partition
            .offer(&[rows(&night)], &closed(&night, 2.0), &rules)
            .expect("offered");
        assert!(events.is_empty() && !changed);
        let day = [("a", 7, Some(0)), ("a", 8, Some(0)), ("a", 9, Some(0))];
        let (events, changed) = partition
            .offer(&[rows(&day)], &closed(&day, 300.0), &rules)
            .expect("offered");
        assert!(changed);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::Closed);
        assert!(partition.device("a").is_none());
        assert_eq!(partition.open().map(|(d, _)| d).collect::<Vec<_>>(), ["b"]);
    }
}
