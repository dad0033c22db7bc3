//! The inverter's maximum power point tracker, reduced to which peak of the P-V curve it sits on.
//!
//! Model: a perturb-and-observe hill-climber with periodic global scans (as commercial string
//! inverters do). Waking up in the morning, and after an abrupt irradiance change (a cloud edge)
//! throws it off, it climbs from open circuit and so settles on the highest-voltage local
//! maximum; every `global_scan_interval_s` it sweeps the whole curve and moves to the global
//! maximum, which it follows until the next restart. On a single-peaked curve (a healthy array)
//! both are the same point; under partial shading the array can spend minutes on a local peak.
//! Perturbation makes the operating point oscillate around the peak: `dither` (relative)
//! moves the voltage one way and, along the curve at the peak (dI/dV = -I/V), the current the
//! other.

use crate::config::MpptConfig;

/// Which maximum of the P-V curve the tracker operates at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TrackedPeak {
    /// Asleep: the array sits at open circuit.
    None,
    HighestVoltage,
    Global,
}

pub(crate) struct Tracker {
    wake_irradiance: f64,
    scan_interval_ms: Option<i64>,
    restart_change: f64,
    peak: TrackedPeak,
    next_scan_ms: i64,
    last_irradiance: f64,
}

impl Tracker {
    pub fn new(config: &MpptConfig) -> Tracker {
        Tracker {
            wake_irradiance: config.wake_irradiance_w_m2,
            scan_interval_ms: (config.global_scan_interval_s > 0)
                .then(|| i64::from(config.global_scan_interval_s) * 1000),
            restart_change: config.restart_irradiance_change,
            peak: TrackedPeak::None,
            next_scan_ms: 0,
            last_irradiance: 0.0,
        }
    }

    /// Advances to a reading at `ts_ms` with plane-of-array `irradiance`.
    pub fn step(&mut self, ts_ms: i64, irradiance: f64) -> TrackedPeak {
        let previous = std::mem::replace(&mut self.last_irradiance, irradiance);
        // Some hysteresis keeps dawn noise from toggling the inverter.
        let awake = if self.peak == TrackedPeak::None {
            irradiance >= self.wake_irradiance
        } else {
            irradiance >= 0.8 * self.wake_irradiance
        };
        if !awake {
            self.peak = TrackedPeak::None;
            return self.peak;
        }
        let abrupt = (irradiance - previous).abs()
            > self.restart_change * previous.max(self.wake_irradiance);
        if self.peak == TrackedPeak::None || abrupt {
            self.peak = TrackedPeak::HighestVoltage;
            if let Some(interval) = self.scan_interval_ms
                && self.next_scan_ms <= ts_ms
            {
                self.next_scan_ms = ts_ms + interval;
            }
        }
        if let Some(interval) = self.scan_interval_ms
            && ts_ms >= self.next_scan_ms
        {
            self.peak = TrackedPeak::Global;
            self.next_scan_ms = ts_ms + interval;
        }
        self.peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(scan_s: u32) -> Tracker {
        Tracker::new(&MpptConfig {
            global_scan_interval_s: scan_s,
            ..MpptConfig::default()
        })
    }

    #[test]
    fn sleeps_in_the_dark_and_climbs_from_open_circuit_at_dawn() {
        let mut t = tracker(600);
        assert_eq!(t.step(0, 5.0), TrackedPeak::None);
        assert_eq!(t.step(20_000, 25.0), TrackedPeak::HighestVoltage);
        // Hysteresis: stays awake slightly below the wake threshold.
        assert_eq!(t.step(40_000, 18.0), TrackedPeak::HighestVoltage);
        assert_eq!(t.step(60_000, 10.0), TrackedPeak::None);
    }

    #[test]
    fn scans_move_to_the_global_peak_until_a_cloud_edge_restarts_the_climb() {
        let mut t = tracker(600);
        let mut ts = 0;
        let mut step = |irradiance: f64| {
            ts += 20_000;
            t.step(ts, irradiance)
        };
        assert_eq!(step(500.0), TrackedPeak::HighestVoltage);
        for _ in 0..29 {
            assert_eq!(step(510.0), TrackedPeak::HighestVoltage);
        }
        // 600 s after waking: the first global scan.
        assert_eq!(step(515.0), TrackedPeak::Global);
        assert_eq!(step(520.0), TrackedPeak::Global);
        // A cloud edge: -60% in one reading.
        assert_eq!(step(200.0), TrackedPeak::HighestVoltage);
        assert_eq!(step(205.0), TrackedPeak::HighestVoltage);
    }

    #[test]
    fn without_scans_it_stays_on_the_highest_voltage_peak() {
        let mut t = tracker(0);
        for k in 1..1000 {
            assert_eq!(t.step(k * 20_000, 600.0), TrackedPeak::HighestVoltage);
        }
    }
}
