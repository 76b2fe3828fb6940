//! Upstreams at run time: the endpoint's config plus what traffic has taught us about it —
//! requests in flight, time-to-first-byte, and a connection limit — and the shared HTTP client.
//!
//! State survives reloads: a reload builds a new pool but keeps the `Upstream` of every
//! endpoint whose config did not change, so in-flight counts and latency history carry over.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;

use super::connect::MarkedConnector;
use super::health::Health;
use super::strategy::{Candidate, PeakEwma};
use crate::config::Endpoint;

/// The client every upstream request goes through (pooled keep-alive connections, http and
/// https with the webpki roots, sockets marked for shaping).
pub type HttpClient = Client<hyper_rustls::HttpsConnector<MarkedConnector>, Full<Bytes>>;

/// How long a TCP (and TLS) connect may take before the next upstream is tried.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time constant of the latency average: a minute of history dominates.
const LATENCY_TAU_SECS: f64 = 60.0;

/// Builds the shared client; its sockets carry `mark` (0 = none).
pub fn client(mark: u32) -> HttpClient {
    let http = MarkedConnector::new(mark, CONNECT_TIMEOUT);
    // Invariant: ring provides every default protocol version and cipher suite, which is
    // the only way this builder step can fail.
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .expect("ring supports rustls' default protocol versions")
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(32)
        .build(https)
}

/// Seconds since the process started: the clock latency averages run on.
pub fn now_secs() -> f64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// One endpoint at run time.
#[derive(Debug)]
pub struct Upstream {
    /// The endpoint's config (compared on reload to decide whether to keep this state).
    pub endpoint: Endpoint,
    /// The key to send upstream, read from `api_key_file` or `api_key`; `None` = none needed.
    pub api_key: Option<String>,
    /// Why this upstream cannot be used (its key file is unreadable), if so.
    pub unusable: Option<String>,
    /// `max_connections` permits; one is held for the life of each request.
    pub permits: Arc<Semaphore>,
    /// Requests currently open to it (what least_connections and latency look at).
    in_flight: AtomicU32,
    /// Peak-EWMA of time to first byte.
    latency: Mutex<PeakEwma>,
    /// Passive and active health.
    health: Mutex<Health>,
    /// `Authorization: Bearer <key>`, built once (marked sensitive); `None` without a key or
    /// when the key holds bytes a header cannot carry (then requests fail with that reason).
    pub auth_header: Option<HeaderValue>,
    /// The endpoint's name as the `X-Hearth-Endpoint` response header.
    pub name_header: Option<HeaderValue>,
    /// The upstream URI of each proxied path, parsed once (cloning a `Uri` allocates nothing).
    uris: Vec<(&'static str, Uri)>,
}

/// The API paths the balancer proxies (after `/v1`).
pub const PROXIED_SUFFIXES: [&str; 3] = ["/chat/completions", "/completions", "/embeddings"];

impl Upstream {
    /// Builds the run-time state of `endpoint`, reading its key file.
    pub fn new(endpoint: &Endpoint) -> Upstream {
        let (api_key, unusable) = match (&endpoint.api_key, &endpoint.api_key_file) {
            (Some(k), _) => (Some(k.clone()), None),
            (None, Some(path)) => match read_key(path) {
                Ok(k) => (Some(k), None),
                Err(e) => (None, Some(e)),
            },
            (None, None) => (None, None),
        };
        let auth_header = api_key.as_deref().and_then(|k| {
            let mut v = HeaderValue::try_from(format!("Bearer {k}")).ok()?;
            v.set_sensitive(true);
            Some(v)
        });
        let name_header = HeaderValue::try_from(endpoint.meta.name.as_str()).ok();
        let uris = PROXIED_SUFFIXES
            .iter()
            .filter_map(|&sfx| Some((sfx, format!("{}{sfx}", endpoint.url.raw).parse().ok()?)))
            .collect();
        Upstream {
            endpoint: endpoint.clone(),
            api_key,
            unusable,
            auth_header,
            name_header,
            uris,
            permits: Arc::new(Semaphore::new(endpoint.max_connections as usize)),
            in_flight: AtomicU32::new(0),
            latency: Mutex::new(PeakEwma::new(LATENCY_TAU_SECS)),
            health: Mutex::new(Health::default()),
        }
    }

    /// Runs `f` on the health record (a poisoned lock still holds valid data).
    fn with_health<T>(&self, f: impl FnOnce(&mut Health) -> T) -> T {
        let mut g = match self.health.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g)
    }

    /// May requests go here now?
    pub fn available(&self) -> bool {
        self.with_health(|h| h.available(now_secs()))
    }

    /// Seconds of cool-down left and why, while out of rotation.
    pub fn ejection(&self) -> Option<(f64, super::health::Ejection)> {
        self.with_health(|h| h.ejection(now_secs()))
    }

    /// A good answer.
    pub fn record_success(&self) {
        let was_out = self.with_health(|h| {
            let out = !h.available(now_secs());
            h.success(now_secs());
            out
        });
        if was_out {
            log::info!("endpoint '{}' is back in rotation", self.name());
        }
    }

    /// A failure (connect error, timeout, 5xx, broken stream).
    pub fn record_failure(&self) {
        self.transition(|h, now| h.failure(now));
    }

    /// A 429.
    pub fn record_rate_limited(&self, retry_after: Option<u64>) {
        self.transition(|h, now| h.rate_limited(now, retry_after));
    }

    /// Time to the first streamed token.
    pub fn record_first_token(&self, ttft: Duration) {
        self.transition(|h, now| h.first_token(now, ttft.as_secs_f64()));
    }

    /// An active probe's result.
    pub fn record_probe(&self, ok: bool) {
        let now = now_secs();
        let (before, after) = self.with_health(|h| {
            let b = h.available(now);
            h.probe(now, ok);
            (b, h.available(now))
        });
        if !before && after {
            log::info!(
                "endpoint '{}' answers probes again: back in rotation",
                self.name()
            );
        }
        if before && !after {
            self.log_ejection(now);
        }
    }

    /// Applies a health event and logs an ejection it causes.
    fn transition(&self, f: impl FnOnce(&mut Health, f64)) {
        let now = now_secs();
        let ejected = self.with_health(|h| {
            let before = h.available(now);
            f(h, now);
            before && !h.available(now)
        });
        if ejected {
            self.log_ejection(now);
        }
    }

    fn log_ejection(&self, now: f64) {
        if let Some((secs, why)) = self.with_health(|h| h.ejection(now)) {
            log::warn!(
                "endpoint '{}' out of rotation for {:.0}s ({})",
                self.name(),
                secs,
                why.as_str()
            );
        }
    }

    /// Health for `/health` and status.
    pub fn health_json(&self) -> serde_json::Value {
        let now = now_secs();
        self.with_health(|h| match h.ejection(now) {
            Some((secs, why)) => serde_json::json!({
                "state": "ejected", "reason": why.as_str(), "seconds_left": secs.ceil() as u64,
            }),
            None => serde_json::json!({
                "state": "healthy", "consecutive_failures": h.consecutive_failures(),
            }),
        })
    }

    /// The endpoint's section name.
    pub fn name(&self) -> &str {
        &self.endpoint.meta.name
    }

    /// What the strategies see.
    pub fn candidate(&self) -> Candidate<'_> {
        let e = &self.endpoint;
        Candidate {
            name: &e.meta.name,
            weight: e.weight,
            in_flight: self.in_flight.load(Ordering::Relaxed),
            latency: self
                .latency
                .lock()
                .map(|l| l.value(now_secs()))
                .unwrap_or(None),
            cost: match (e.price_input, e.price_output) {
                (Some(i), Some(o)) => Some(i.0.saturating_add(o.0)),
                _ => None,
            },
        }
    }

    /// Records a time to first byte.
    pub fn observe_ttfb(&self, ttfb: Duration) {
        if let Ok(mut l) = self.latency.lock() {
            l.observe(ttfb.as_secs_f64(), now_secs());
        }
    }

    /// Counts a request as open until the guard drops.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// Requests open right now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// `{url}{suffix}` where suffix is the part of the client's path after `/v1`.
    pub fn url_for(&self, suffix: &str) -> String {
        format!("{}{}", self.endpoint.url.raw, suffix)
    }

    /// `url_for(suffix)` as a `Uri`: the one parsed at start for a proxied path, else parsed
    /// now.
    pub fn uri_for(&self, suffix: &str) -> Result<Uri, http::uri::InvalidUri> {
        match self.uris.iter().find(|(s, _)| *s == suffix) {
            Some((_, u)) => Ok(u.clone()),
            None => self.url_for(suffix).parse(),
        }
    }
}

/// One open request to an upstream (decrements the count when dropped).
#[derive(Debug)]
pub struct InFlight(Arc<Upstream>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Reads an API key file: first line, trimmed. Warns when others can read it.
fn read_key(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read api_key_file {}: {e}", path.display()))?;
    let key = text.lines().next().unwrap_or("").trim().to_string();
    if key.is_empty() {
        return Err(format!("api_key_file {} is empty", path.display()));
    }
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o004 != 0 {
            log::warn!(
                "api_key_file {} is world-readable; chmod 600 it",
                path.display()
            );
        }
    }
    Ok(key)
}

/// Builds the pool for `endpoints`, reusing the state of unchanged endpoints from `old`. An
/// endpoint whose `api_key_file` now holds another key counts as changed: rotating a key is
/// "write the file, reload".
pub fn pool(endpoints: &[Endpoint], old: &[Arc<Upstream>]) -> Vec<Arc<Upstream>> {
    endpoints
        .iter()
        .map(|e| {
            old.iter()
                .find(|u| {
                    u.endpoint == *e
                        && u.unusable.is_none()
                        && e.api_key_file.as_deref().is_none_or(|path| {
                            read_key(path).ok().as_deref() == u.api_key.as_deref()
                        })
                })
                .cloned()
                .unwrap_or_else(|| {
                    let u = Upstream::new(e);
                    if let Some(why) = &u.unusable {
                        log::error!("endpoint '{}': {why}; it will not be used", e.meta.name);
                    }
                    Arc::new(u)
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint_with_key_file(path: &std::path::Path) -> Endpoint {
        let text = format!(
            "config endpoint 'e'\n\toption url 'http://127.0.0.1:9/v1'\n\tlist model 'm'\n\
             \toption api_key_file '{}'\n",
            path.display()
        );
        let doc = crate::uci::Document::parse("hearth", &text).unwrap();
        let cfg = crate::config::from_package(doc.package(), "t".as_ref()).unwrap();
        cfg.endpoints[0].clone()
    }

    #[test]
    fn a_reload_keeps_an_unchanged_endpoint_and_rereads_a_rotated_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "sk-first\n").unwrap();
        let e = endpoint_with_key_file(&path);
        let first = pool(std::slice::from_ref(&e), &[]);
        assert_eq!(first[0].api_key.as_deref(), Some("sk-first"));
        let same = pool(std::slice::from_ref(&e), &first);
        assert!(Arc::ptr_eq(&first[0], &same[0]), "unchanged: state kept");
        std::fs::write(&path, "sk-second\n").unwrap();
        let rotated = pool(std::slice::from_ref(&e), &same);
        assert!(!Arc::ptr_eq(&same[0], &rotated[0]), "rotated key: rebuilt");
        assert_eq!(rotated[0].api_key.as_deref(), Some("sk-second"));
    }
}
