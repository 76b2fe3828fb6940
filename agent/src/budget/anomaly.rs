//! Spend anomalies: a device or an endpoint suddenly spending much faster than it usually
//! does (a runaway script, a leaked key, an agent stuck in a loop) is noticed within one
//! window, long before a monthly budget would stop it.
//!
//! Per key (`device:NAME`, `endpoint:NAME`) spend is summed in fixed windows
//! (`anomaly_window` seconds). The baseline is an exponentially weighted mean of past windows
//! (weight [`ALPHA`] for the newest, about the last ten windows), idle windows included. Once
//! [`WARM_UP`] windows have been seen, the window in progress is a spike when it exceeds
//! `anomaly_factor` × the baseline and at least `anomaly_min` — checked on every settled
//! request, so a spike is flagged while it happens. A flagged key stays flagged until someone
//! acknowledges it (`hearth usage --ack KEY`); with `anomaly_shift`, the device's requests go to
//! the cheapest endpoint of their pool until then.

use std::collections::{BTreeMap, HashMap};

/// Weight of the newest window in the baseline.
pub const ALPHA: f64 = 0.1;
/// Windows seen before a key can be flagged (its baseline means something).
pub const WARM_UP: u32 = 6;
/// Idle windows replayed into the baseline after a gap, at most (a long gap just decays it).
const MAX_GAP_WINDOWS: i64 = 1000;

/// Detection settings (`balancer` options).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// A window spending more than this many times the baseline is a spike; 0 = off.
    pub factor: f64,
    /// Spend below this (micro-units) in a window is never a spike.
    pub min: u64,
    /// Window length, seconds.
    pub window: i64,
    /// Send a flagged device's requests to the cheapest endpoint of their pool.
    pub shift: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            factor: 5.0,
            min: 100_000,
            window: 300,
            shift: false,
        }
    }
}

/// A flagged key.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub key: String,
    /// When it was flagged (Unix seconds).
    pub since: i64,
    /// Spend in the window that tripped it, micro-units (grows while the window lasts).
    pub window_spend: u64,
    /// The baseline per window, micro-units.
    pub baseline: f64,
}

impl Anomaly {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "key": self.key,
            "since": self.since,
            "window_spend": self.window_spend,
            "baseline_per_window": self.baseline.round() as u64,
            "ratio": if self.baseline > 0.0 { self.window_spend as f64 / self.baseline } else { f64::INFINITY }.min(1e9),
        })
    }
}

#[derive(Debug, Clone, Default)]
struct Series {
    /// Start of the window in progress.
    start: i64,
    /// Spend in it.
    current: u64,
    baseline: f64,
    /// Closed windows folded into the baseline.
    seen: u32,
}

/// The detector: series per key and the flagged ones.
#[derive(Debug, Default)]
pub struct Detector {
    pub settings: Settings,
    series: HashMap<String, Series>,
    active: BTreeMap<String, Anomaly>,
}

impl Detector {
    pub fn new(settings: Settings) -> Detector {
        Detector {
            settings,
            ..Detector::default()
        }
    }

    /// Adds `micros` spent by `key` at `now`; returns the anomaly if this flagged it.
    pub fn record(&mut self, key: &str, micros: u64, now: i64) -> Option<Anomaly> {
        let st = self.settings;
        if st.factor <= 0.0 || st.window <= 0 {
            return None;
        }
        let s = self
            .series
            .entry(key.to_string())
            .or_insert_with(|| Series {
                start: now - now.rem_euclid(st.window),
                ..Series::default()
            });
        // Close the windows that ended, idle ones included.
        let ended = ((now - s.start) / st.window).clamp(0, MAX_GAP_WINDOWS);
        for i in 0..ended {
            let v = if i == 0 { s.current as f64 } else { 0.0 };
            s.baseline = if s.seen == 0 {
                v
            } else {
                ALPHA * v + (1.0 - ALPHA) * s.baseline
            };
            s.seen = s.seen.saturating_add(1);
        }
        if ended > 0 {
            s.start = now - now.rem_euclid(st.window);
            s.current = 0;
        }
        s.current = s.current.saturating_add(micros);
        if let Some(a) = self.active.get_mut(key) {
            a.window_spend = a.window_spend.max(s.current);
            return None;
        }
        let spike =
            s.seen >= WARM_UP && s.current >= st.min && s.current as f64 > st.factor * s.baseline;
        if !spike {
            return None;
        }
        let a = Anomaly {
            key: key.to_string(),
            since: now,
            window_spend: s.current,
            baseline: s.baseline,
        };
        self.active.insert(key.to_string(), a.clone());
        Some(a)
    }

    /// Flagged keys, in key order.
    pub fn active(&self) -> Vec<Anomaly> {
        self.active.values().cloned().collect()
    }

    /// Whether `key` is flagged.
    pub fn is_flagged(&self, key: &str) -> bool {
        self.active.contains_key(key)
    }

    /// Clears a flag; its window in progress starts over (so it is not flagged again at once
    /// for the same spend). Returns whether it was flagged.
    pub fn acknowledge(&mut self, key: &str) -> bool {
        if let Some(s) = self.series.get_mut(key) {
            s.current = 0;
        }
        self.active.remove(key).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: i64 = 300;

    fn detector() -> Detector {
        Detector::new(Settings {
            factor: 5.0,
            min: 1000,
            window: W,
            shift: true,
        })
    }

    /// `n` windows of `per_window` spend, one request per window, from `t0`.
    fn steady(d: &mut Detector, key: &str, t0: i64, n: i64, per_window: u64) -> i64 {
        for i in 0..n {
            assert!(
                d.record(key, per_window, t0 + i * W + 10).is_none(),
                "window {i}"
            );
        }
        t0 + n * W
    }

    #[test]
    fn a_spike_over_the_baseline_is_flagged_within_its_window() {
        let mut d = detector();
        let t = steady(&mut d, "device:tv", 0, 10, 2000);
        // Four times the usual: not yet a spike.
        assert!(d.record("device:tv", 8000, t + 5).is_none());
        // Past five times the baseline, in the same window: flagged now.
        let a = d.record("device:tv", 4000, t + 6).expect("flagged");
        assert_eq!(a.key, "device:tv");
        assert_eq!(a.window_spend, 12_000);
        assert!((a.baseline - 2000.0).abs() < 1.0, "{}", a.baseline);
        assert!(d.is_flagged("device:tv"));
        // More spend updates it without a second alarm.
        assert!(d.record("device:tv", 50_000, t + 7).is_none());
        assert_eq!(d.active()[0].window_spend, 62_000);
        // Another key is independent.
        assert!(!d.is_flagged("endpoint:cloud"));
        assert!(d.acknowledge("device:tv"));
        assert!(!d.is_flagged("device:tv"));
        assert!(!d.acknowledge("device:tv"));
    }

    #[test]
    fn no_flag_before_warm_up_or_under_the_minimum_or_when_off() {
        let mut d = detector();
        // A new device spending a lot at once has no baseline yet.
        let t = steady(&mut d, "device:new", 0, 3, 10);
        assert!(d.record("device:new", 1_000_000, t).is_none());
        // Small amounts never count, however big the ratio.
        let mut d = detector();
        let t = steady(&mut d, "device:quiet", 0, 10, 1);
        assert!(d.record("device:quiet", 999, t).is_none());
        assert!(
            d.record("device:quiet", 1, t + 1).is_some(),
            "1000 reaches the minimum"
        );
        // factor 0: off.
        let mut off = Detector::new(Settings {
            factor: 0.0,
            ..Settings::default()
        });
        let t = steady(&mut off, "device:x", 0, 10, 1);
        assert!(off.record("device:x", u64::MAX / 2, t).is_none());
    }

    #[test]
    fn idle_windows_lower_the_baseline() {
        let mut d = detector();
        let t = steady(&mut d, "endpoint:cloud", 0, 10, 10_000);
        // A quiet hour (12 windows): the baseline decays to about a quarter.
        assert!(d.record("endpoint:cloud", 1, t + 12 * W).is_none());
        let b = d.series["endpoint:cloud"].baseline;
        assert!((2500.0..3500.0).contains(&b), "{b}");
        // After a quiet day, the old rate is a spike against the new normal.
        let later = t + 300 * W;
        assert!(d.record("endpoint:cloud", 10_000, later).is_some());
    }
}
