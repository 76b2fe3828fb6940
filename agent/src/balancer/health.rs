//! Upstream health (pure): what real traffic and probes say about an endpoint, and whether to
//! send it requests now.
//!
//! Passive outlier detection ejects an endpoint for a cool-down when
//! - it fails [`CONSECUTIVE_FAILURES`] times in a row (connect errors, timeouts, 5xx, broken
//!   streams), or
//! - at least half of its last [`WINDOW`] outcomes failed (with at least [`WINDOW_MIN`] seen), or
//! - its time to first streamed token degrades to [`DEGRADED_FACTOR`] times its own baseline
//!   (and above [`DEGRADED_FLOOR_SECS`]), or
//! - it answers 429: the cool-down is its `Retry-After` (else [`RATE_LIMIT_DEFAULT_SECS`]).
//!
//! Cool-downs grow exponentially with repeated ejections ([`BASE_COOLDOWN_SECS`] doubling up to
//! [`MAX_COOLDOWN_SECS`]) and reset after a success. When the cool-down ends the endpoint is
//! tried again; an active probe (`GET {url}/models`, which Ollama and llama.cpp answer — no
//! `max_tokens=1` completion that breaks reasoning models) that succeeds ends a cool-down
//! early. Time is passed in as seconds, so tests need no clock.

use std::collections::VecDeque;

/// Failures in a row that eject.
pub const CONSECUTIVE_FAILURES: u32 = 3;
/// Outcomes remembered for the error rate.
pub const WINDOW: usize = 20;
/// Outcomes needed before the error rate can eject.
pub const WINDOW_MIN: usize = 10;
/// First cool-down.
pub const BASE_COOLDOWN_SECS: f64 = 5.0;
/// Longest cool-down.
pub const MAX_COOLDOWN_SECS: f64 = 300.0;
/// Cool-down for a 429 without `Retry-After` (LiteLLM's default, LLM-NOTES.md).
pub const RATE_LIMIT_DEFAULT_SECS: f64 = 5.0;
/// Longest `Retry-After` honoured.
pub const RATE_LIMIT_MAX_SECS: f64 = 3600.0;
/// A streamed TTFB this many times the baseline is degraded.
pub const DEGRADED_FACTOR: f64 = 8.0;
/// ... and only above this many seconds (a 10 ms -> 80 ms blip is not an outage).
pub const DEGRADED_FLOOR_SECS: f64 = 2.0;
/// Streamed samples needed before the baseline counts.
const BASELINE_MIN_SAMPLES: u32 = 5;
/// Weight of a new sample in the slow baseline average.
const BASELINE_ALPHA: f64 = 0.05;

/// Why an endpoint is out of rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ejection {
    ConsecutiveFailures,
    ErrorRate,
    SlowFirstToken,
    RateLimited,
    ProbeFailed,
}

impl Ejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Ejection::ConsecutiveFailures => "consecutive_failures",
            Ejection::ErrorRate => "error_rate",
            Ejection::SlowFirstToken => "slow_first_token",
            Ejection::RateLimited => "rate_limited",
            Ejection::ProbeFailed => "probe_failed",
        }
    }
}

/// The health record of one endpoint.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// Failures since the last success.
    consecutive: u32,
    /// Recent outcomes, `true` = failure.
    window: VecDeque<bool>,
    /// Ejections since the last success: sets the next cool-down length.
    level: u32,
    /// Out of rotation until this time, and why.
    ejected: Option<(f64, Ejection)>,
    /// When the last failure happened (to pick the least recently failed as a last resort).
    last_failure: Option<f64>,
    /// Slow average of streamed time to first token, and how many samples it has.
    baseline: Option<(f64, u32)>,
    /// Probes that failed in a row.
    probe_failures: u32,
}

impl Health {
    /// May requests go to this endpoint at `now`?
    pub fn available(&self, now: f64) -> bool {
        self.ejected.is_none_or(|(until, _)| now >= until)
    }

    /// Seconds of cool-down left and the reason, if ejected.
    pub fn ejection(&self, now: f64) -> Option<(f64, Ejection)> {
        self.ejected
            .filter(|(until, _)| now < *until)
            .map(|(until, why)| (until - now, why))
    }

    /// When it last failed (`None` = never).
    pub fn last_failure(&self) -> Option<f64> {
        self.last_failure
    }

    /// Failures in a row right now.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive
    }

    fn push(&mut self, failed: bool) {
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(failed);
    }

    fn eject(&mut self, now: f64, why: Ejection, secs: Option<f64>) {
        let secs = secs.unwrap_or_else(|| {
            (BASE_COOLDOWN_SECS * 2f64.powi(self.level.min(16) as i32)).min(MAX_COOLDOWN_SECS)
        });
        self.level += 1;
        let until = now + secs;
        // Never shorten a cool-down already running.
        let until = match self.ejected {
            Some((u, _)) if u > until => u,
            _ => until,
        };
        self.ejected = Some((until, why));
        // A fresh start for the counters once it is back.
        self.consecutive = 0;
        self.window.clear();
    }

    /// A request got a good answer (headers, not 429/5xx).
    pub fn success(&mut self, _now: f64) {
        self.consecutive = 0;
        self.level = 0;
        self.probe_failures = 0;
        self.ejected = None;
        self.push(false);
    }

    /// A request failed at this endpoint (connect error, timeout, 5xx, broken stream).
    pub fn failure(&mut self, now: f64) {
        self.last_failure = Some(now);
        self.consecutive += 1;
        self.push(true);
        let failures = self.window.iter().filter(|&&f| f).count();
        if self.consecutive >= CONSECUTIVE_FAILURES {
            self.eject(now, Ejection::ConsecutiveFailures, None);
        } else if self.window.len() >= WINDOW_MIN && failures * 2 >= self.window.len() {
            self.eject(now, Ejection::ErrorRate, None);
        }
    }

    /// A 429: out for `retry_after` seconds (or the default).
    pub fn rate_limited(&mut self, now: f64, retry_after: Option<u64>) {
        self.last_failure = Some(now);
        let secs = retry_after
            .map(|s| (s as f64).min(RATE_LIMIT_MAX_SECS))
            .unwrap_or(RATE_LIMIT_DEFAULT_SECS);
        self.eject(now, Ejection::RateLimited, Some(secs));
    }

    /// A streamed request's time to first token: ejects when far above the baseline.
    pub fn first_token(&mut self, now: f64, secs: f64) {
        if !secs.is_finite() || secs < 0.0 {
            return;
        }
        match self.baseline {
            None => self.baseline = Some((secs, 1)),
            Some((base, n)) => {
                if n >= BASELINE_MIN_SAMPLES
                    && secs > DEGRADED_FLOOR_SECS
                    && secs > base * DEGRADED_FACTOR
                {
                    self.last_failure = Some(now);
                    self.eject(now, Ejection::SlowFirstToken, None);
                    return; // an outlier does not move the baseline
                }
                self.baseline = Some((base + BASELINE_ALPHA * (secs - base), n.saturating_add(1)));
            }
        }
    }

    /// An active probe's result. Success ends a cool-down early; three failed probes in a row
    /// eject (a probe is cheap and says nothing about load, so it needs a pattern).
    pub fn probe(&mut self, now: f64, ok: bool) {
        if ok {
            self.probe_failures = 0;
            if self
                .ejected
                .is_some_and(|(_, why)| why != Ejection::RateLimited)
            {
                self.ejected = None;
            }
        } else {
            self.probe_failures += 1;
            self.last_failure = Some(now);
            if self.probe_failures >= CONSECUTIVE_FAILURES && self.available(now) {
                self.eject(now, Ejection::ProbeFailed, None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_failures_in_a_row_eject_with_growing_cooldowns() {
        let mut h = Health::default();
        h.failure(0.0);
        h.failure(1.0);
        assert!(h.available(1.0));
        h.failure(2.0);
        assert!(!h.available(2.0));
        assert_eq!(h.ejection(2.0), Some((5.0, Ejection::ConsecutiveFailures)));
        assert!(h.available(7.0), "back after the cool-down");
        for t in [7.0, 7.1, 7.2] {
            h.failure(t);
        }
        assert_eq!(h.ejection(7.2).unwrap().0, 10.0, "second ejection doubles");
        h.success(20.0);
        for t in [21.0, 21.1, 21.2] {
            h.failure(t);
        }
        assert_eq!(
            h.ejection(21.2).unwrap().0,
            5.0,
            "a success resets the level"
        );
    }

    #[test]
    fn cooldown_is_capped() {
        let mut h = Health::default();
        let mut t = 0.0;
        for _ in 0..20 {
            for _ in 0..3 {
                h.failure(t);
            }
            let (left, _) = h.ejection(t).unwrap();
            assert!(left <= MAX_COOLDOWN_SECS);
            t += left;
        }
        assert_eq!(h.ejection(t - 0.0).map(|x| x.0), None);
    }

    #[test]
    fn error_rate_ejects_even_without_a_streak() {
        let mut h = Health::default();
        let mut t = 0.0;
        // fail, ok, fail, ok, ...: never two failures in a row, but half of them fail.
        for i in 0..=WINDOW_MIN {
            t += 1.0;
            if i % 2 == 0 {
                h.failure(t);
            } else {
                h.success(t);
            }
        }
        assert_eq!(h.ejection(t).map(|x| x.1), Some(Ejection::ErrorRate));
    }

    #[test]
    fn rate_limit_honours_retry_after_and_probes_do_not_cut_it_short() {
        let mut h = Health::default();
        h.rate_limited(10.0, Some(30));
        assert_eq!(h.ejection(10.0), Some((30.0, Ejection::RateLimited)));
        h.probe(11.0, true);
        assert!(
            !h.available(11.0),
            "a /models probe says nothing about a rate limit"
        );
        assert!(h.available(40.0));
        let mut h = Health::default();
        h.rate_limited(0.0, None);
        assert_eq!(h.ejection(0.0).unwrap().0, RATE_LIMIT_DEFAULT_SECS);
        h.rate_limited(0.0, Some(10_000_000));
        assert_eq!(h.ejection(0.0).unwrap().0, RATE_LIMIT_MAX_SECS);
    }

    #[test]
    fn successful_probe_ends_an_outage_cooldown_early() {
        let mut h = Health::default();
        for t in [0.0, 0.1, 0.2] {
            h.failure(t);
        }
        assert!(!h.available(1.0));
        h.probe(1.0, true);
        assert!(h.available(1.0));
    }

    #[test]
    fn failed_probes_eject_after_three() {
        let mut h = Health::default();
        h.probe(0.0, false);
        h.probe(30.0, false);
        assert!(h.available(30.0));
        h.probe(60.0, false);
        assert_eq!(h.ejection(60.0).map(|x| x.1), Some(Ejection::ProbeFailed));
    }

    #[test]
    fn slow_first_token_against_own_baseline() {
        let mut h = Health::default();
        for i in 0..10 {
            h.first_token(i as f64, 0.3);
        }
        h.first_token(11.0, 1.5); // slower but under the floor: fine
        assert!(h.available(11.0));
        h.first_token(12.0, 3.0); // 10x baseline and above 2 s
        assert_eq!(
            h.ejection(12.0).map(|x| x.1),
            Some(Ejection::SlowFirstToken)
        );
        // A slow local model whose baseline is slow is not an outlier.
        let mut slow = Health::default();
        for i in 0..10 {
            slow.first_token(i as f64, 4.0);
        }
        slow.first_token(11.0, 6.0);
        assert!(slow.available(11.0));
    }

    #[test]
    fn last_failure_is_remembered() {
        let mut h = Health::default();
        assert_eq!(h.last_failure(), None);
        h.failure(3.0);
        h.success(4.0);
        assert_eq!(h.last_failure(), Some(3.0));
    }
}
