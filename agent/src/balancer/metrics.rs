//! Balancer metrics in Prometheus text format: requests by outcome, upstream errors by kind,
//! in-flight, time-to-first-byte and duration histograms, tokens, cost and bytes by
//! device/group/endpoint, and each endpoint's health.
//!
//! Counters are 64-bit and live behind one mutex (32-bit MIPS has no 64-bit atomics); they
//! are touched once per request, so the lock is never contended in practice.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use super::settle::Settlement;
use super::upstream::Upstream;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Cumulative counts per bucket, then +Inf.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }
}

/// `(device, group, endpoint)`.
type Who = (String, String, String);

/// A `Who` looked up by reference (`crate::keys`): counting a request allocates nothing once
/// its device/group/endpoint has been seen.
trait WhoKey {
    fn parts(&self) -> (&str, &str, &str);
}

impl WhoKey for Who {
    fn parts(&self) -> (&str, &str, &str) {
        (&self.0, &self.1, &self.2)
    }
}

impl WhoKey for (&str, &str, &str) {
    fn parts(&self) -> (&str, &str, &str) {
        *self
    }
}

crate::keys::by_parts!(WhoKey, Who);

/// Everything counted for one device/group/endpoint.
#[derive(Debug, Default)]
struct WhoStats {
    /// Requests by outcome.
    requests: BTreeMap<&'static str, u64>,
    /// Tokens in / out.
    tokens: (u64, u64),
    /// Cost in micro-units.
    cost: u64,
    /// Bytes up / down.
    bytes: (u64, u64),
}

#[derive(Debug, Default)]
struct Inner {
    /// Requests, tokens, cost and bytes by who.
    by_who: BTreeMap<Who, WhoStats>,
    /// Upstream attempt failures by endpoint and kind.
    upstream_errors: BTreeMap<(String, &'static str), u64>,
    /// Failovers (extra upstreams tried) in total.
    failovers: u64,
    /// Usage that had to be estimated.
    estimated: u64,
    ttfb: BTreeMap<String, Histogram>,
    duration: BTreeMap<String, Histogram>,
}

/// The entry of `key` in `map`, inserted (the only allocation) when new.
fn entry_mut<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}

/// The balancer's counters.
#[derive(Debug, Default)]
pub struct BalancerMetrics {
    inner: Mutex<Inner>,
}

impl BalancerMetrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Counts a finished request.
    pub fn settle(&self, s: &Settlement) {
        let key = (
            s.device.as_deref().unwrap_or_default(),
            s.group.as_str(),
            s.endpoint.as_deref().unwrap_or_default(),
        );
        let mut m = self.lock();
        let st = match m.by_who.get_mut(&key as &dyn WhoKey) {
            Some(st) => st,
            None => {
                let who = (key.0.to_string(), key.1.to_string(), key.2.to_string());
                m.by_who.entry(who).or_default()
            }
        };
        *st.requests.entry(s.outcome.as_str()).or_default() += 1;
        st.tokens.0 += s.usage.prompt_tokens;
        st.tokens.1 += s.usage.completion_tokens;
        st.cost += s.cost.0;
        st.bytes.0 += s.bytes_up;
        st.bytes.1 += s.bytes_down;
        m.failovers += u64::from(s.failovers);
        if s.usage.estimated && s.endpoint.is_some() {
            m.estimated += 1;
        }
        if let Some(ep) = &s.endpoint {
            if let Some(t) = s.ttfb {
                entry_mut(&mut m.ttfb, ep).observe(t.as_secs_f64());
            }
            entry_mut(&mut m.duration, ep).observe(s.duration.as_secs_f64());
        }
    }

    /// Counts one failed attempt at an upstream (`connect`, `timeout`, `rate_limited`,
    /// `server_error`, `broken`).
    pub fn upstream_error(&self, endpoint: &str, kind: &'static str) {
        *self
            .lock()
            .upstream_errors
            .entry((endpoint.to_string(), kind))
            .or_default() += 1;
    }

    /// Totals since the agent started, for the dashboard and LuCI: per endpoint (`requests`,
    /// `errors` = requests not `ok`, `tokens`, `cost`) and per device (`requests`, `tokens`,
    /// `cost`, `bytes_up`, `bytes_down`; unknown clients under `""`).
    pub fn totals(&self) -> serde_json::Value {
        #[derive(Default)]
        struct T {
            requests: u64,
            errors: u64,
            tokens: u64,
            cost: u64,
            up: u64,
            down: u64,
        }
        let m = self.lock();
        let mut endpoints: BTreeMap<&str, T> = BTreeMap::new();
        let mut devices: BTreeMap<&str, T> = BTreeMap::new();
        for (who, st) in &m.by_who {
            for (outcome, n) in &st.requests {
                for t in [
                    endpoints.entry(who.2.as_str()).or_default(),
                    devices.entry(who.0.as_str()).or_default(),
                ] {
                    t.requests += n;
                    if *outcome != "ok" {
                        t.errors += n;
                    }
                }
            }
            let (i, o) = st.tokens;
            endpoints.entry(who.2.as_str()).or_default().tokens += i + o;
            devices.entry(who.0.as_str()).or_default().tokens += i + o;
            endpoints.entry(who.2.as_str()).or_default().cost += st.cost;
            devices.entry(who.0.as_str()).or_default().cost += st.cost;
            let t = devices.entry(who.0.as_str()).or_default();
            t.up += st.bytes.0;
            t.down += st.bytes.1;
        }
        let obj = |map: BTreeMap<&str, T>,
                   bytes: bool|
         -> serde_json::Map<String, serde_json::Value> {
            map.into_iter()
                .map(|(k, t)| {
                    let mut v = serde_json::json!({"requests": t.requests, "errors": t.errors, "tokens": t.tokens, "cost": t.cost});
                    if bytes {
                        v["bytes_up"] = t.up.into();
                        v["bytes_down"] = t.down.into();
                    }
                    (k.to_string(), v)
                })
                .collect()
        };
        serde_json::json!({"endpoints": obj(endpoints, false), "devices": obj(devices, true)})
    }

    /// Appends the text exposition, with gauges read from `upstreams`.
    pub fn render(&self, out: &mut String, upstreams: &[Arc<Upstream>], currency: &str) {
        let m = self.lock();
        let who = |w: &Who| {
            format!(
                "device=\"{}\",group=\"{}\",endpoint=\"{}\"",
                esc(&w.0),
                esc(&w.1),
                esc(&w.2)
            )
        };
        head(
            out,
            "hearth_llm_requests_total",
            "counter",
            "LLM requests by outcome.",
        );
        for (w, outcome, n) in m
            .by_who
            .iter()
            .flat_map(|(w, st)| st.requests.iter().map(move |(o, n)| (w, o, n)))
        {
            let _ = writeln!(
                out,
                "hearth_llm_requests_total{{{},outcome=\"{outcome}\"}} {n}",
                who(w)
            );
        }
        head(
            out,
            "hearth_llm_tokens_total",
            "counter",
            "Tokens by direction (input = prompt, output = completion).",
        );
        for (w, (i, o)) in m.by_who.iter().map(|(w, st)| (w, st.tokens)) {
            let _ = writeln!(
                out,
                "hearth_llm_tokens_total{{{},direction=\"input\"}} {i}",
                who(w)
            );
            let _ = writeln!(
                out,
                "hearth_llm_tokens_total{{{},direction=\"output\"}} {o}",
                who(w)
            );
        }
        head(
            out,
            "hearth_llm_cost_total",
            "counter",
            "Spend at the endpoints' prices, in the configured currency.",
        );
        for (w, c) in m.by_who.iter().map(|(w, st)| (w, st.cost)) {
            let _ = writeln!(
                out,
                "hearth_llm_cost_total{{{},currency=\"{}\"}} {}",
                who(w),
                esc(currency),
                super::super::config::Money(c)
            );
        }
        head(
            out,
            "hearth_llm_bytes_total",
            "counter",
            "Bytes to upstreams (up) and to clients (down).",
        );
        for (w, (u, d)) in m.by_who.iter().map(|(w, st)| (w, st.bytes)) {
            let _ = writeln!(
                out,
                "hearth_llm_bytes_total{{{},direction=\"up\"}} {u}",
                who(w)
            );
            let _ = writeln!(
                out,
                "hearth_llm_bytes_total{{{},direction=\"down\"}} {d}",
                who(w)
            );
        }
        head(
            out,
            "hearth_llm_upstream_errors_total",
            "counter",
            "Failed attempts at an upstream, by kind.",
        );
        for ((ep, kind), n) in &m.upstream_errors {
            let _ = writeln!(
                out,
                "hearth_llm_upstream_errors_total{{endpoint=\"{}\",kind=\"{kind}\"}} {n}",
                esc(ep)
            );
        }
        head(
            out,
            "hearth_llm_failovers_total",
            "counter",
            "Extra upstreams tried before the first byte.",
        );
        let _ = writeln!(out, "hearth_llm_failovers_total {}", m.failovers);
        head(
            out,
            "hearth_llm_usage_estimated_total",
            "counter",
            "Requests whose upstream sent no usage (tokens estimated).",
        );
        let _ = writeln!(out, "hearth_llm_usage_estimated_total {}", m.estimated);
        for (name, help, hists) in [
            (
                "hearth_llm_ttfb_seconds",
                "Time to the upstream's response headers.",
                &m.ttfb,
            ),
            (
                "hearth_llm_duration_seconds",
                "Time from request to the end of the answer.",
                &m.duration,
            ),
        ] {
            head(out, name, "histogram", help);
            for (ep, h) in hists {
                for (b, c) in BUCKETS.iter().zip(&h.counts) {
                    let _ = writeln!(
                        out,
                        "{name}_bucket{{endpoint=\"{}\",le=\"{b}\"}} {c}",
                        esc(ep)
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{{endpoint=\"{}\",le=\"+Inf\"}} {}",
                    esc(ep),
                    h.count
                );
                let _ = writeln!(out, "{name}_sum{{endpoint=\"{}\"}} {}", esc(ep), h.sum);
                let _ = writeln!(out, "{name}_count{{endpoint=\"{}\"}} {}", esc(ep), h.count);
            }
        }
        drop(m);
        head(
            out,
            "hearth_llm_in_flight",
            "gauge",
            "Requests open to each endpoint.",
        );
        for u in upstreams {
            let _ = writeln!(
                out,
                "hearth_llm_in_flight{{endpoint=\"{}\"}} {}",
                esc(u.name()),
                u.in_flight()
            );
        }
        head(
            out,
            "hearth_llm_endpoint_up",
            "gauge",
            "1 when the endpoint is in rotation, 0 while ejected or unusable.",
        );
        for u in upstreams {
            let up = u.unusable.is_none() && u.available();
            let _ = writeln!(
                out,
                "hearth_llm_endpoint_up{{endpoint=\"{}\"}} {}",
                esc(u.name()),
                u8::from(up)
            );
        }
    }
}

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value (backslash, quote, newline).
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::super::settle::Outcome;
    use super::super::sse::Usage;
    use super::*;
    use crate::config::Money;
    use std::time::Duration;

    fn settlement(outcome: Outcome) -> Settlement {
        Settlement {
            client: "10.0.0.5".parse().unwrap(),
            host: None,
            device: Some("tab".into()),
            group: "kids".into(),
            endpoint: Some("openai".into()),
            model: "m".into(),
            usage: Usage {
                prompt_tokens: 10,
                completion_tokens: 5,
                estimated: false,
            },
            cost: Money(450),
            bytes_up: 100,
            bytes_down: 200,
            ttfb: Some(Duration::from_millis(30)),
            duration: Duration::from_millis(700),
            outcome,
            failovers: 1,
            reservation: None,
            downgraded: None,
        }
    }

    #[test]
    fn renders_prometheus_text() {
        let m = BalancerMetrics::new();
        m.settle(&settlement(Outcome::Complete));
        m.settle(&settlement(Outcome::Complete));
        m.settle(&settlement(Outcome::Broken));
        m.upstream_error("openai", "connect");
        let mut out = String::new();
        m.render(&mut out, &[], "USD");
        let who = "device=\"tab\",group=\"kids\",endpoint=\"openai\"";
        assert!(
            out.contains(&format!(
                "hearth_llm_requests_total{{{who},outcome=\"ok\"}} 2\n"
            )),
            "{out}"
        );
        assert!(out.contains(&format!(
            "hearth_llm_requests_total{{{who},outcome=\"broken\"}} 1\n"
        )));
        assert!(out.contains(&format!(
            "hearth_llm_tokens_total{{{who},direction=\"input\"}} 30\n"
        )));
        assert!(out.contains(&format!(
            "hearth_llm_cost_total{{{who},currency=\"USD\"}} 0.00135\n"
        )));
        assert!(out.contains(
            "hearth_llm_upstream_errors_total{endpoint=\"openai\",kind=\"connect\"} 1\n"
        ));
        assert!(out.contains("hearth_llm_failovers_total 3\n"));
        assert!(
            out.contains("hearth_llm_ttfb_seconds_bucket{endpoint=\"openai\",le=\"0.025\"} 0\n")
        );
        assert!(out.contains("hearth_llm_ttfb_seconds_bucket{endpoint=\"openai\",le=\"0.05\"} 3\n"));
        assert!(out.contains("hearth_llm_duration_seconds_count{endpoint=\"openai\"} 3\n"));
        // Every sample line is `name{labels} value` or `name value`.
        for line in out.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
