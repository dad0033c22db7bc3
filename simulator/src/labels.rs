//! Window labels for training: the fault class of each fixed-length window of a device's
//! readings.
//!
//! Windows lie on a grid aligned to the Unix epoch (`window_start = floor(ts / window) * window`),
//! so every device and every run agree on them. Rule: a window is labelled with a fault class
//! when that fault is active for at least half of the window's length (in time, whether or not
//! readings were lost); otherwise it is `normal`. A device has at most one fault at a time, so at
//! most one class can qualify. A window's sensor failure follows the same rule, on its own.

use crate::faults::{FaultClass, FaultEvent};
use crate::sensor_faults::{SensorFailure, SensorFailureEvent};

/// The label of one window of one device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WindowLabel {
    pub device: usize,
    pub window_start_ms: i64,
    /// The array's state.
    pub fault: FaultClass,
    /// What is wrong with its sensors, if anything.
    pub sensor_failure: Option<SensorFailure>,
}

/// The labelling rule: an event from `onset_ms` to `end_ms` is active for at least half of the
/// window starting at `window_start_ms`.
fn covers_half(onset_ms: i64, end_ms: i64, window_start_ms: i64, window_ms: i64) -> bool {
    let overlap = end_ms.min(window_start_ms + window_ms) - onset_ms.max(window_start_ms);
    2 * overlap >= window_ms
}

/// The failure of `failures` whose readings cover at least half of the window.
pub(crate) fn window_sensor_failure(
    failures: &[SensorFailureEvent],
    window_start_ms: i64,
    window_ms: i64,
) -> Option<SensorFailure> {
    // A clock jump's readings land away from its event: look at every failure's span.
    failures
        .iter()
        .find(|event| {
            let (onset_ms, end_ms) = event.reported_span();
            covers_half(onset_ms, end_ms, window_start_ms, window_ms)
        })
        .map(|event| event.failure)
}

/// Labels every window overlapping `[start_ms, end_ms)` for one device, whose `events` are
/// sorted by onset and do not overlap. Appends to `out`.
pub(crate) fn label_device_windows(
    device: usize,
    events: &[FaultEvent],
    start_ms: i64,
    end_ms: i64,
    window_ms: i64,
    out: &mut Vec<WindowLabel>,
) {
    let mut window_start_ms = start_ms.div_euclid(window_ms) * window_ms;
    let mut cursor = 0;
    while window_start_ms < end_ms {
        let window_end_ms = window_start_ms + window_ms;
        while cursor < events.len() && events[cursor].end_ms <= window_start_ms {
            cursor += 1;
        }
        let fault = events[cursor..]
            .iter()
            .take_while(|event| event.onset_ms < window_end_ms)
            .find(|event| covers_half(event.onset_ms, event.end_ms, window_start_ms, window_ms))
            .map_or(FaultClass::Normal, |event| event.class);
        out.push(WindowLabel {
            device,
            window_start_ms,
            fault,
            sensor_failure: None,
        });
        window_start_ms = window_end_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::FaultParameters;

    fn event(class: FaultClass, onset_ms: i64, end_ms: i64) -> FaultEvent {
        FaultEvent {
            device: 4,
            class,
            onset_ms,
            end_ms,
            parameters: FaultParameters::OpenCircuit { string: 0 },
        }
    }

    fn labels(events: &[FaultEvent], start_ms: i64, end_ms: i64) -> Vec<(i64, FaultClass)> {
        let mut out = Vec::new();
        label_device_windows(4, events, start_ms, end_ms, 1000, &mut out);
        assert!(out.iter().all(|label| label.device == 4));
        out.iter()
            .map(|label| (label.window_start_ms, label.fault))
            .collect()
    }

    #[test]
    fn half_a_window_is_enough_less_is_not() {
        let events = [
            event(FaultClass::OpenCircuit, 1500, 2400),
            event(FaultClass::ArcFault, 3501, 4000),
        ];
        assert_eq!(
            labels(&events, 0, 5000),
            vec![
                (0, FaultClass::Normal),
                (1000, FaultClass::OpenCircuit),
                (2000, FaultClass::Normal),
                (3000, FaultClass::Normal),
                (4000, FaultClass::Normal),
            ]
        );
    }

    #[test]
    fn windows_align_to_the_epoch_and_cover_the_period() {
        let events = [event(FaultClass::LineLine, -2000, 10_000)];
        // Period [-1500, 1200): windows starting -2000, -1000, 0, 1000.
        assert_eq!(
            labels(&events, -1500, 1200),
            vec![
                (-2000, FaultClass::LineLine),
                (-1000, FaultClass::LineLine),
                (0, FaultClass::LineLine),
                (1000, FaultClass::LineLine),
            ]
        );
    }

    #[test]
    fn a_short_fault_inside_one_window() {
        let events = [event(FaultClass::PartialShading, 2100, 2700)];
        assert_eq!(
            labels(&events, 2000, 3000),
            vec![(2000, FaultClass::PartialShading)]
        );
    }
}
