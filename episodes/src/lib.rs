//! Fault episodes: a device's diagnosed windows, in time order, merged into episodes with
//! hysteresis. One set of rules for every consumer of diagnoses: the stream feeds windows as
//! they close, a batch over a day feeds them sorted; both get the same episodes and events.
//!
//! - An episode of a fault class **opens** after `open_after` consecutive windows of that class
//!   (its first window is the first of them).
//! - It **grows** with each further window of its class; a normal window in between does not
//!   end it.
//! - It **closes** after `close_after` consecutive normal daylight windows (its last window is
//!   its last fault window), or at once when a window of another fault class arrives (which
//!   starts that class's own run).
//! - **Night** windows (mean irradiance under `daylight_irradiance`) and windows without a
//!   diagnosis (too few readings) are skipped: they neither open, grow, close nor interrupt
//!   anything.
//!
//! ```
//! use pvflow_episodes::{DeviceEpisodes, EpisodeRules, EventKind, Window};
//!
//! let rules = EpisodeRules::default(); // open after 3 fault windows, close after 3 normal
//! let mut device = DeviceEpisodes::default();
//! let window = |n: i64, class| Window {
//!     start_ms: 1_780_300_000_000 + n * 1_280_000,
//!     class: Some(class),
//!     probability: 0.9,
//!     irradiance: Some(650.0),
//!     energy_lost_wh: Some(120.0),
//! };
//! let mut events = Vec::new();
//! for (n, class) in ["line_line", "line_line", "line_line", "normal", "normal", "normal"]
//!     .into_iter()
//!     .enumerate()
//! {
//!     events.extend(device.offer("inv-01/array-3", &window(n as i64, class), &rules));
//! }
//! assert_eq!(events.len(), 2);
//! assert_eq!(events[0].kind, EventKind::Opened);
//! assert_eq!(events[1].kind, EventKind::Closed);
//! assert_eq!(events[1].episode.windows, 3);
//! assert_eq!(events[1].episode.severity.as_str(), "major");
//! assert_eq!(events[1].episode.energy_lost_wh, 360.0);
//! assert!(device.is_idle());
//! ```

use serde::{Deserialize, Serialize};

/// The class of a healthy window, as `pv_fault_classify` labels it.
pub const NORMAL: &str = "normal";

/// When episodes open and close.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EpisodeRules {
    /// Consecutive windows of one fault class that open an episode.
    pub open_after: u32,
    /// Consecutive normal daylight windows that close one.
    pub close_after: u32,
    /// Mean irradiance (W/m²) from which a window counts as daylight.
    pub daylight_irradiance: f32,
}

impl Default for EpisodeRules {
    /// Three windows (about an hour) either way: one misclassified window neither raises nor
    /// clears an alarm. 50 W/m² is where an array's output becomes measurable.
    fn default() -> Self {
        EpisodeRules {
            open_after: 3,
            close_after: 3,
            daylight_irradiance: 50.0,
        }
    }
}

/// Why rules cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RulesError {
    #[error("open_after must be at least 1 (windows), not {0}")]
    OpenAfter(u32),
    #[error("close_after must be at least 1 (windows), not {0}")]
    CloseAfter(u32),
    #[error("daylight_irradiance must be a non-negative number of W/m², not {0}")]
    DaylightIrradiance(f32),
}

impl EpisodeRules {
    /// The rules, or which value is wrong and why.
    pub fn validated(self) -> Result<Self, RulesError> {
        if self.open_after == 0 {
            return Err(RulesError::OpenAfter(self.open_after));
        }
        if self.close_after == 0 {
            return Err(RulesError::CloseAfter(self.close_after));
        }
        if self.daylight_irradiance.is_nan() || self.daylight_irradiance < 0.0 {
            return Err(RulesError::DaylightIrradiance(self.daylight_irradiance));
        }
        Ok(self)
    }
}

/// One diagnosed window of a device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window<'a> {
    pub start_ms: i64,
    /// The diagnosis' class (`fault_label`); `None` for a window without one.
    pub class: Option<&'a str>,
    /// The probability of that class.
    pub probability: f32,
    /// Mean irradiance over the window's valid readings (W/m²); `None` if it has none.
    pub irradiance: Option<f32>,
    /// Expected minus measured DC energy over the window (Wh); `None` if either is unknown.
    pub energy_lost_wh: Option<f64>,
}

/// The energy (Wh) a window of `window_seconds` lost: expected minus measured mean DC power
/// (gold's `expected_power_w` and `measured_power_w`) over its length; `None` if either is
/// unknown.
pub fn energy_lost_wh(
    expected_power_w: Option<f32>,
    measured_power_w: Option<f32>,
    window_seconds: i64,
) -> Option<f64> {
    let (expected, measured) = (expected_power_w?, measured_power_w?);
    Some((f64::from(expected) - f64::from(measured)) * window_seconds as f64 / 3600.0)
}

/// How urgent an episode of a class is, on the ladder PV monitoring uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Output reduced by an external cause (shading).
    Warning,
    /// A component is faulty; the array still runs (line-line, open circuit, other classes).
    Major,
    /// A fire or shock hazard (arc fault, ground fault).
    Critical,
}

impl Severity {
    pub fn of(class: &str) -> Severity {
        match class {
            "arc_fault" | "line_ground" => Severity::Critical,
            "partial_shading" => Severity::Warning,
            _ => Severity::Major,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }
}

/// Consecutive windows of one fault class on one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    pub class: String,
    pub severity: Severity,
    /// The first and last fault windows' starts (ms).
    pub first_window_ms: i64,
    pub last_window_ms: i64,
    /// Fault windows in it.
    pub windows: u32,
    pub probability_sum: f64,
    /// Expected minus measured DC energy over its fault windows (Wh).
    #[serde(default)]
    pub energy_lost_wh: f64,
}

impl Episode {
    fn starting(class: &str, window: &Window<'_>) -> Episode {
        Episode {
            class: class.to_string(),
            severity: Severity::of(class),
            first_window_ms: window.start_ms,
            last_window_ms: window.start_ms,
            windows: 1,
            probability_sum: f64::from(window.probability),
            energy_lost_wh: window.energy_lost_wh.unwrap_or(0.0),
        }
    }

    fn grow(&mut self, window: &Window<'_>) {
        self.last_window_ms = window.start_ms;
        self.windows += 1;
        self.probability_sum += f64::from(window.probability);
        self.energy_lost_wh += window.energy_lost_wh.unwrap_or(0.0);
    }

    pub fn mean_probability(&self) -> f64 {
        self.probability_sum / f64::from(self.windows.max(1))
    }

    /// From its first window's start to its last window's end.
    pub fn duration_ms(&self, window_ms: i64) -> i64 {
        self.last_window_ms - self.first_window_ms + window_ms
    }

    /// The episode's identity: its device, class and first window, the same whoever computes it.
    pub fn id(&self, device_id: &str) -> String {
        format!(
            "{device_id}/{}/{}",
            self.class,
            rfc3339_ms(self.first_window_ms)
        )
    }
}

/// An episode as the events, the API and the tables show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeRecord {
    pub episode_id: String,
    pub device_id: String,
    pub fault_label: String,
    pub severity: Severity,
    /// RFC 3339, UTC.
    pub first_window_start: String,
    pub last_window_start: String,
    /// From the first window's start to the last window's end.
    pub duration_seconds: i64,
    pub windows: u32,
    pub mean_probability: f64,
    /// Expected minus measured DC energy over its fault windows (kWh, PVWatts-expected).
    pub energy_lost_kwh: f64,
}

impl Episode {
    /// The episode of `device_id`, its windows `window_ms` long.
    pub fn record(&self, device_id: &str, window_ms: i64) -> EpisodeRecord {
        EpisodeRecord {
            episode_id: self.id(device_id),
            device_id: device_id.to_string(),
            fault_label: self.class.clone(),
            severity: self.severity,
            first_window_start: rfc3339_ms(self.first_window_ms),
            last_window_start: rfc3339_ms(self.last_window_ms),
            duration_seconds: self.duration_ms(window_ms) / 1000,
            windows: self.windows,
            mean_probability: self.mean_probability(),
            energy_lost_kwh: self.energy_lost_wh / 1000.0,
        }
    }
}

/// An event as published: what happened, to which episode, decided by which window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub event_id: String,
    pub kind: EventKind,
    pub decided_by_window_start: String,
    #[serde(flatten)]
    pub episode: EpisodeRecord,
}

/// What happened to an episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Opened,
    Closed,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::Closed => "closed",
        }
    }
}

/// An episode opened or closed, as of the window that decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeEvent {
    pub kind: EventKind,
    pub device_id: String,
    pub episode: Episode,
    /// The window that opened or closed it.
    pub decided_by_ms: i64,
}

impl EpisodeEvent {
    /// Deterministic: the same windows give the same ID, so a consumer drops a repeated event by
    /// its ID.
    pub fn id(&self) -> String {
        format!(
            "{}/{}",
            self.episode.id(&self.device_id),
            self.kind.as_str()
        )
    }

    /// The event as published, its windows `window_ms` long.
    pub fn record(&self, window_ms: i64) -> EventRecord {
        EventRecord {
            event_id: self.id(),
            kind: self.kind,
            decided_by_window_start: rfc3339_ms(self.decided_by_ms),
            episode: self.episode.record(&self.device_id, window_ms),
        }
    }
}

/// A device's windows as far as they matter to its episodes: the run of one fault class that may
/// open one, and the open episode with the normal windows since its last fault window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceEpisodes {
    /// Consecutive windows of one fault class while no episode of it is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run: Option<Episode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    open: Option<Episode>,
    /// Normal daylight windows since the open episode's last fault window.
    #[serde(default, skip_serializing_if = "is_zero")]
    normal_since: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl DeviceEpisodes {
    /// Applies the next window of `device_id` (windows come in time order); returns the events it
    /// causes: at most a close and an open.
    pub fn offer(
        &mut self,
        device_id: &str,
        window: &Window<'_>,
        rules: &EpisodeRules,
    ) -> Vec<EpisodeEvent> {
        let mut events = Vec::new();
        let Some(class) = window.class else {
            return events;
        };
        let daylight = window
            .irradiance
            .is_some_and(|g| g >= rules.daylight_irradiance);
        if !daylight {
            return events;
        }
        let event = |kind, episode: &Episode| EpisodeEvent {
            kind,
            device_id: device_id.to_string(),
            episode: episode.clone(),
            decided_by_ms: window.start_ms,
        };
        if class == NORMAL {
            self.run = None;
            if let Some(open) = &self.open {
                self.normal_since += 1;
                if self.normal_since >= rules.close_after {
                    events.push(event(EventKind::Closed, open));
                    self.open = None;
                    self.normal_since = 0;
                }
            }
            return events;
        }
        match &mut self.open {
            Some(open) if open.class == class => {
                open.grow(window);
                self.normal_since = 0;
                return events;
            }
            Some(open) => {
                events.push(event(EventKind::Closed, open));
                self.open = None;
                self.normal_since = 0;
            }
            None => {}
        }
        match &mut self.run {
            Some(run) if run.class == class => run.grow(window),
            _ => self.run = Some(Episode::starting(class, window)),
        }
        if let Some(run) = self.run.take_if(|run| run.windows >= rules.open_after) {
            events.push(event(EventKind::Opened, &run));
            self.open = Some(run);
        }
        events
    }

    /// The open episode, if any.
    pub fn open_episode(&self) -> Option<&Episode> {
        self.open.as_ref()
    }

    /// Nothing to remember: no run under way and no episode open.
    pub fn is_idle(&self) -> bool {
        self.run.is_none() && self.open.is_none()
    }
}

/// `2026-06-01T10:21:20.000Z`: what the event IDs and JSON show.
pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_780_300_000_000;
    const W: i64 = 1_280_000;

    /// Events of `classes` (`"night"` is a normal window in the dark, `"-"` one without a
    /// diagnosis), as (kind, class, first window, last window, windows).
    fn run(classes: &[&str], rules: &EpisodeRules) -> Vec<(EventKind, String, i64, i64, u32)> {
        let mut device = DeviceEpisodes::default();
        let mut events = Vec::new();
        for (n, class) in classes.iter().enumerate() {
            let window = Window {
                start_ms: T0 + n as i64 * W,
                class: match *class {
                    "-" => None,
                    "night" => Some(NORMAL),
                    c => Some(c),
                },
                probability: 0.5 + n as f32 / 100.0,
                irradiance: Some(if *class == "night" { 3.0 } else { 700.0 }),
                energy_lost_wh: Some(10.0),
            };
            events.extend(device.offer("d", &window, rules));
        }
        events
            .into_iter()
            .map(|e| {
                let first = (e.episode.first_window_ms - T0) / W;
                let last = (e.episode.last_window_ms - T0) / W;
                (e.kind, e.episode.class, first, last, e.episode.windows)
            })
            .collect()
    }

    use EventKind::{Closed, Opened};

    #[test]
    fn an_episode_opens_after_n_fault_windows_and_closes_after_m_normal_ones() {
        let rules = EpisodeRules::default();
        let ll = "line_line".to_string();
        assert_eq!(
            run(
                &[
                    "normal",
                    "line_line",
                    "line_line",
                    "line_line",
                    "normal",
                    "line_line",
                    "normal",
                    "normal",
                    "normal",
                    "normal"
                ],
                &rules
            ),
            [(Opened, ll.clone(), 1, 3, 3), (Closed, ll, 1, 5, 4)]
        );
        // Two fault windows are not an episode.
        assert!(run(&["line_line", "line_line", "normal", "line_line"], &rules).is_empty());
    }

    #[test]
    fn night_and_undiagnosed_windows_neither_open_close_nor_interrupt() {
        let rules = EpisodeRules::default();
        let oc = "open_circuit".to_string();
        assert_eq!(
            run(
                &[
                    "open_circuit",
                    "night",
                    "-",
                    "open_circuit",
                    "night",
                    "open_circuit",
                    "normal",
                    "night",
                    "normal",
                    "-",
                    "normal"
                ],
                &rules
            ),
            [(Opened, oc.clone(), 0, 5, 3), (Closed, oc, 0, 5, 3)]
        );
        // Open across the night: still open in the morning.
        assert_eq!(
            run(
                &["arc_fault"; 3]
                    .iter()
                    .chain(&["night"; 40])
                    .copied()
                    .collect::<Vec<_>>(),
                &rules
            )
            .len(),
            1
        );
    }

    #[test]
    fn another_fault_class_closes_the_episode_and_starts_its_own_run() {
        let rules = EpisodeRules::default();
        let (ll, lg) = ("line_line".to_string(), "line_ground".to_string());
        assert_eq!(
            run(
                &[
                    "line_line",
                    "line_line",
                    "line_line",
                    "line_ground",
                    "line_ground",
                    "line_ground"
                ],
                &rules
            ),
            [
                (Opened, ll.clone(), 0, 2, 3),
                (Closed, ll, 0, 2, 3),
                (Opened, lg, 3, 5, 3)
            ]
        );
    }

    #[test]
    fn one_window_rules_open_and_close_at_once() {
        let rules = EpisodeRules {
            open_after: 1,
            close_after: 1,
            ..EpisodeRules::default()
        };
        let ps = "partial_shading".to_string();
        assert_eq!(
            run(&["partial_shading", "normal"], &rules),
            [(Opened, ps.clone(), 0, 0, 1), (Closed, ps, 0, 0, 1)]
        );
    }

    #[test]
    fn event_ids_name_device_class_first_window_and_kind() {
        let mut device = DeviceEpisodes::default();
        let rules = EpisodeRules {
            open_after: 1,
            ..EpisodeRules::default()
        };
        let events = device.offer(
            "inv-01/array-3",
            &Window {
                start_ms: 1_780_272_640_000,
                class: Some("arc_fault"),
                probability: 0.97,
                irradiance: Some(900.0),
                energy_lost_wh: None,
            },
            &rules,
        );
        assert_eq!(
            events[0].id(),
            "inv-01/array-3/arc_fault/2026-06-01T00:10:40.000Z/opened"
        );
        assert_eq!(events[0].episode.severity, Severity::Critical);
        assert!((events[0].episode.mean_probability() - 0.97).abs() < 1e-6);
        assert_eq!(events[0].episode.duration_ms(W), W);
        let json = serde_json::to_value(events[0].record(W)).expect("json");
        assert_eq!(json["kind"], "opened");
        assert_eq!(json["severity"], "critical");
        assert_eq!(
            json["episode_id"],
            "inv-01/array-3/arc_fault/2026-06-01T00:10:40.000Z"
        );
        assert_eq!(json["duration_seconds"], 1280);
    }

    #[test]
    fn state_survives_serialisation_and_goes_on_the_same() {
        let rules = EpisodeRules::default();
        let mut device = DeviceEpisodes::default();
        let window = |n: i64, class| Window {
            start_ms: T0 + n * W,
            class: Some(class),
            probability: 0.8,
            irradiance: Some(500.0),
            energy_lost_wh: Some(1.5),
        };
        for n in 0..4 {
            device.offer("d", &window(n, "line_line"), &rules);
        }
        device.offer("d", &window(4, NORMAL), &rules);
        let json = serde_json::to_string(&device).expect("json");
        let mut restored: DeviceEpisodes = serde_json::from_str(&json).expect("parse");
        assert_eq!(restored, device);
        let later = [window(5, NORMAL), window(6, NORMAL)];
        let a: Vec<_> = later
            .iter()
            .flat_map(|w| device.offer("d", w, &rules))
            .collect();
        let b: Vec<_> = later
            .iter()
            .flat_map(|w| restored.offer("d", w, &rules))
            .collect();
        assert_eq!(a, b);
        assert_eq!(a.len(), 1);
        assert!(serde_json::to_string(&DeviceEpisodes::default()).expect("json") == "{}");
    }

    #[test]
    fn invalid_rules_are_refused_naming_the_value() {
        let zero = EpisodeRules {
            open_after: 0,
            ..EpisodeRules::default()
        };
        assert_eq!(zero.validated(), Err(RulesError::OpenAfter(0)));
        let dark = EpisodeRules {
            daylight_irradiance: f32::NAN,
            ..EpisodeRules::default()
        };
        assert!(
            dark.validated()
                .expect_err("NaN")
                .to_string()
                .contains("daylight_irradiance")
        );
    }
}
