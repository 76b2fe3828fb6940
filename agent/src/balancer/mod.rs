//! The LLM request balancer: an OpenAI-compatible endpoint on the router's LAN addresses.
//!
//! Devices send requests with no key of their own; hearth identifies the device, routes the
//! request to a pool, picks an upstream by strategy, injects the upstream's key, fails over
//! before the first byte, streams the answer back as it arrives, and settles the request's
//! usage and cost.
//!
//! - [`server`]: listeners, paths, limits; [`proxy`]: one request, phase by phase;
//! - [`route`]: routing rules (pure); [`strategy`]: picking from a pool (pure);
//! - [`upstream`]: per-endpoint state and the HTTP client; [`sse`]: stream relay filter;
//! - [`settle`]: the record every request ends in; [`error`]: OpenAI-shaped errors;
//! - [`redact`]: keeps an endpoint's key out of the error answers relayed to clients.
//!
//! Hot reload: each request takes the [`Shared`] state current when it arrived, so in-flight
//! requests finish on the old pool while new ones use the new one; listeners whose address
//! did not change stay bound, so no connection is dropped.

pub mod connect;
pub mod error;
pub mod health;
pub mod inspect;
pub mod metrics;
pub mod proxy;
pub mod redact;
pub mod route;
pub mod server;
pub mod settle;
pub mod sse;
pub mod strategy;
pub mod upstream;

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};

use crate::config::{Config, Mac};
use route::Resolution;
use settle::Settlement;
use strategy::{Candidate, Selector};
use upstream::{HttpClient, Upstream};

/// Error type of client response bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response hearth sends to a client.
pub struct ClientBody(UnsyncBoxBody<Bytes, BoxError>);

impl ClientBody {
    /// Wraps any body.
    pub fn new<B>(body: B) -> Self
    where
        B: Body<Data = Bytes, Error = BoxError> + Send + 'static,
    {
        ClientBody(UnsyncBoxBody::new(body))
    }
}

impl From<Bytes> for ClientBody {
    fn from(b: Bytes) -> Self {
        ClientBody::new(Full::new(b).map_err(|never| match never {}))
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

/// Where settlements go (budgets, metrics, log).
pub type SettleHook = Arc<dyn Fn(Settlement) + Send + Sync>;
/// Source IP -> MAC (neighbour table), and MAC -> host name (DHCP leases).
pub struct NeighborLookup {
    /// IP -> MAC.
    pub mac: Box<dyn Fn(IpAddr) -> Option<Mac> + Send + Sync>,
    /// MAC -> host name.
    pub hostname: Box<dyn Fn(Mac) -> Option<String> + Send + Sync>,
}

impl NeighborLookup {
    /// The kernel's neighbour table and dnsmasq's leases at `leases`.
    pub fn system(leases: &std::path::Path) -> Arc<NeighborLookup> {
        let cache = crate::devices::neighbors::NeighborCache::new();
        let leases = crate::devices::leases::Leases::new(leases);
        Arc::new(NeighborLookup {
            mac: Box::new(move |ip| cache.lookup(ip)),
            hostname: Box::new(move |mac| leases.hostname(mac)),
        })
    }
}

/// Everything a request needs, for one config generation.
pub struct Shared {
    /// The config this generation was built from.
    pub config: Arc<Config>,
    /// One per `config endpoint`, same order.
    pub upstreams: Vec<Arc<Upstream>>,
    /// Strategy state per pool (round-robin cursors, weights).
    selectors: Mutex<Vec<SelectorSlot>>,
    /// Pooled HTTP(S) client to upstreams.
    pub client: HttpClient,
    /// Receives every settlement (after the metrics have counted it).
    settle_hook: SettleHook,
    /// Counters for `/metrics`.
    pub metrics: Arc<metrics::BalancerMetrics>,
    /// Resolves MACs and host names, when available.
    pub neighbors: Option<Arc<NeighborLookup>>,
    pub budgets: Option<Arc<crate::budget::Budgets>>,
}

impl Shared {
    /// Builds the state for `config`, keeping upstream state from `old` where unchanged.
    pub fn new(
        config: Arc<Config>,
        old: Option<&Shared>,
        client: HttpClient,
        settle: SettleHook,
        metrics: Arc<metrics::BalancerMetrics>,
        neighbors: Option<Arc<NeighborLookup>>,
        budgets: Option<Arc<crate::budget::Budgets>>,
    ) -> Shared {
        let upstreams = upstream::pool(
            &config.endpoints,
            old.map(|o| o.upstreams.as_slice()).unwrap_or(&[]),
        );
        Shared {
            config,
            upstreams,
            selectors: Mutex::new(Vec::new()),
            client,
            settle_hook: settle,
            metrics,
            neighbors,
            budgets,
        }
    }

    /// Ends a request: metrics, then the hook (log, budgets).
    pub fn settle(&self, s: Settlement) {
        self.metrics.settle(&s);
        if let (Some(b), Some(id)) = (&self.budgets, s.reservation) {
            let actual = crate::budget::Amount {
                money: s.cost.0,
                tokens: s.usage.prompt_tokens + s.usage.completion_tokens,
            };
            let now = crate::budget::now();
            for w in b.settle(id, actual, s.bytes_up + s.bytes_down, now) {
                log::warn!("{w}");
            }
            for w in b.observe_spend(
                s.endpoint.as_deref(),
                s.device.as_deref(),
                s.cost.0,
                &self.config.agent.currency,
                now,
            ) {
                log::warn!("{w}");
            }
        }
        (self.settle_hook)(s);
    }

    /// Output tokens assumed when a request sets no cap.
    pub fn default_max_tokens(&self) -> u64 {
        self.config
            .balancer
            .as_ref()
            .map_or(4096, |b| b.default_max_tokens)
    }

    /// `max_body` of the balancer section.
    pub fn max_body(&self) -> usize {
        self.config
            .balancer
            .as_ref()
            .map_or(8 << 20, |b| b.max_body as usize)
    }

    /// `body_timeout` of the balancer section.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(
            self.config
                .balancer
                .as_ref()
                .map_or(30, |b| u64::from(b.body_timeout)),
        )
    }

    /// `header_timeout` of the balancer section.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(
            self.config
                .balancer
                .as_ref()
                .map_or(10, |b| u64::from(b.header_timeout)),
        )
    }

    /// `request_timeout` of the balancer section.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(
            self.config
                .balancer
                .as_ref()
                .map_or(600, |b| u64::from(b.request_timeout)),
        )
    }

    /// `retries` of the balancer section.
    pub fn retries(&self) -> u32 {
        self.config.balancer.as_ref().map_or(2, |b| b.retries)
    }

    /// The order to try a pool's candidates in, with the pool's own strategy state.
    pub fn rank(&self, res: &Resolution, client_key: &str, cands: &[Candidate]) -> Vec<usize> {
        let mut sel = match self.selectors.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        // A handful of entries (routes x strategies): a linear search by reference allocates
        // nothing on the request path.
        let at = sel
            .iter()
            .position(|s| s.strategy == res.strategy && s.route == res.route && s.pool == res.pool);
        let at = at.unwrap_or_else(|| {
            sel.push(SelectorSlot {
                strategy: res.strategy,
                route: res.route.clone(),
                pool: res.pool.clone(),
                selector: Selector::new(res.strategy, seed()),
            });
            sel.len() - 1
        });
        sel[at].selector.rank(client_key, cands)
    }
}

/// The selector of one strategy over one route's pool.
struct SelectorSlot {
    strategy: crate::config::Strategy,
    route: Option<String>,
    pool: Vec<usize>,
    selector: Selector,
}

/// A seed for strategy randomness that differs between runs (no `rand` crate needed).
fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (u64::from(std::process::id()) << 32)
}

/// The default settle hook: one log line per request — `info` when it went as it should or
/// the client simply left (a closed tab, a stopped generation: routine in a household),
/// `warn` for everything an operator may want to look at.
pub fn log_settlement() -> SettleHook {
    Arc::new(|s: Settlement| {
        if matches!(
            s.outcome,
            settle::Outcome::Complete | settle::Outcome::ClientGone
        ) {
            log::info!("{}", s.log_line());
        } else {
            log::warn!("{}", s.log_line());
        }
    })
}
