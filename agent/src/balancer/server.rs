//! Listeners and paths of the balancer, and its place in the daemon as a [`Subsystem`].
//!
//! HTTP/1.1 with keep-alive. Request headers must arrive within `header_timeout` and bodies
//! within `body_timeout` (no slowloris); bodies over `max_body` get 413.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::error::ProxyError;
use super::upstream::{HttpClient, Upstream};
use super::{proxy, route, ClientBody, NeighborLookup, SettleHook, Shared};
use crate::config::Config;
use crate::daemon::shutdown::ShutdownTrigger;
use crate::daemon::{BoxFuture, Reconciled, Shutdown, Subsystem, SubsystemError};

/// How long an active probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The state requests read: swapped whole on reload.
pub type Current = Arc<RwLock<Arc<Shared>>>;

/// Answers one request with the state current at its arrival.
pub async fn serve(
    current: Current,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<ClientBody> {
    let shared = match current.read() {
        Ok(s) => s.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    let path = req.uri().path().trim_end_matches('/');
    let suffix = match path {
        "/v1/chat/completions" => Some("/chat/completions"),
        "/v1/completions" => Some("/completions"),
        "/v1/embeddings" => Some("/embeddings"),
        _ => None,
    };
    match (req.method(), path, suffix) {
        (&Method::POST, _, Some(suffix)) => proxy::handle(shared, req, peer, suffix).await,
        (&Method::GET, "/v1/models", _) => models(&shared),
        (&Method::GET, "/health", _) => health(&shared),
        (_, _, Some(_)) | (_, "/v1/models" | "/health", _) => ProxyError::bad_request(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{} is not allowed on {path}", req.method()),
        )
        .response(),
        _ => ProxyError::bad_request(
            StatusCode::NOT_FOUND,
            "unknown_url",
            format!(
                "unknown path {path}; hearth serves /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models and /health"
            ),
        )
        .response(),
    }
}

fn json(status: StatusCode, v: serde_json::Value) -> Response<ClientBody> {
    let mut r = Response::new(ClientBody::from(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// `GET /v1/models`: every model name and route alias a client may ask for.
fn models(shared: &Shared) -> Response<ClientBody> {
    let data: Vec<serde_json::Value> = route::available_models(&shared.config)
        .into_iter()
        .map(|id| serde_json::json!({"id": id, "object": "model", "created": 0, "owned_by": "hearth"}))
        .collect();
    json(
        StatusCode::OK,
        serde_json::json!({"object": "list", "data": data}),
    )
}

/// `GET /health`: the balancer's view of its upstreams.
fn health(shared: &Shared) -> Response<ClientBody> {
    let ups: Vec<serde_json::Value> = shared
        .upstreams
        .iter()
        .map(|u| {
            serde_json::json!({
                "name": u.name(),
                "usable": u.unusable.is_none(),
                "problem": u.unusable,
                "in_flight": u.in_flight(),
                "health": u.health_json(),
            })
        })
        .collect();
    json(
        StatusCode::OK,
        serde_json::json!({"status": "ok", "endpoints": ups}),
    )
}

/// One active probe: `GET {url}/models` with the endpoint's key; healthy on any 2xx.
pub async fn probe(up: &Upstream, client: &HttpClient) -> bool {
    let mut b = Request::builder()
        .method(Method::GET)
        .uri(up.url_for("/models"));
    if let Some(v) = &up.auth_header {
        b = b.header(header::AUTHORIZATION, v.clone());
    }
    let Ok(req) = b.body(http_body_util::Full::new(Bytes::new())) else {
        return false;
    };
    let answer = tokio::time::timeout(PROBE_TIMEOUT, async {
        let resp = client.request(req).await.ok()?;
        let ok = resp.status().is_success();
        // Read (and drop) the body so the connection goes back to the pool.
        let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
        Some(ok)
    })
    .await;
    matches!(answer, Ok(Some(true)))
}

/// Probes `up` every `health_check` seconds until stopped.
fn spawn_probe(up: Arc<Upstream>, client: HttpClient, mut stop: Shutdown) -> JoinHandle<()> {
    let every = Duration::from_secs(u64::from(up.endpoint.health_check.max(1)));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.recv() => break,
                _ = tokio::time::sleep(every) => {}
            }
            let ok = tokio::select! {
                _ = stop.recv() => break,
                ok = probe(&up, &client) => ok,
            };
            if !ok {
                log::debug!("endpoint '{}': probe GET /models failed", up.name());
            }
            up.record_probe(ok);
        }
    })
}

/// Accepts connections on `listener` until `shutdown`.
pub fn spawn_listener(
    listener: TcpListener,
    current: Current,
    mut shutdown: Shutdown,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.recv() => break,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: back off briefly, keep serving.
                        log::warn!("balancer: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let current = current.clone();
            // The config current at accept time: a reload applies to new connections.
            let header_timeout = match current.read() {
                Ok(s) => s.header_timeout(),
                Err(p) => p.into_inner().header_timeout(),
            };
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let current = current.clone();
                    async move { Ok::<_, Infallible>(serve(current, req, peer).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc);
                if let Err(e) = conn.await {
                    log::debug!("balancer: connection from {peer}: {e}");
                }
            });
        }
    })
}

/// The balancer as a daemon subsystem.
pub struct Balancer {
    /// The state requests read; `None` until the first reconcile with a balancer section.
    current: Option<Current>,
    /// Bound listeners by configured address, with the trigger that stops each.
    listeners: Vec<(SocketAddr, JoinHandle<()>, ShutdownTrigger)>,
    /// Active probe tasks, one per upstream with `health_check` > 0.
    probes: Vec<(Arc<Upstream>, JoinHandle<()>, ShutdownTrigger)>,
    /// Where settlements go.
    settle: SettleHook,
    /// MAC lookup.
    neighbors: Option<Arc<NeighborLookup>>,
    /// Budget ledgers requests reserve against (`None`: no accounting, as in some tests).
    budgets: Option<Arc<crate::budget::Budgets>>,
    /// What observers (the control socket) see.
    handle: BalancerHandle,
}

/// A read-only view of the balancer for `/metrics` and `/status`.
#[derive(Clone)]
pub struct BalancerHandle {
    /// The state of the current generation; `None` while the balancer is off.
    published: Arc<RwLock<Option<Arc<Shared>>>>,
    /// Counters that outlive generations.
    metrics: Arc<super::metrics::BalancerMetrics>,
}

impl BalancerHandle {
    fn shared(&self) -> Option<Arc<Shared>> {
        match self.published.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Appends the balancer's Prometheus metrics.
    pub fn metrics_text(&self, out: &mut String) {
        let shared = self.shared();
        let (ups, currency) = shared
            .as_ref()
            .map(|s| (s.upstreams.as_slice(), s.config.agent.currency.as_str()))
            .unwrap_or((&[], "USD"));
        self.metrics.render(out, ups, currency);
    }

    /// The balancer's part of `/status`.
    pub fn status(&self) -> serde_json::Value {
        let Some(s) = self.shared() else {
            return serde_json::json!({"enabled": false});
        };
        let listen: Vec<String> = s
            .config
            .balancer
            .as_ref()
            .map(|b| b.listen.iter().map(|a| a.to_string()).collect())
            .unwrap_or_default();
        let endpoints: Vec<serde_json::Value> = s
            .upstreams
            .iter()
            .map(|u| {
                serde_json::json!({
                    "name": u.name(),
                    "url": u.endpoint.url.raw,
                    "models": u.endpoint.models,
                    "in_flight": u.in_flight(),
                    "latency_ms": u.candidate().latency.map(|s| (s * 1000.0).round() as u64),
                    "problem": u.unusable,
                    "health": u.health_json(),
                })
            })
            .collect();
        serde_json::json!({"enabled": true, "listen": listen, "endpoints": endpoints})
    }

    /// Request, token and cost totals since start, per endpoint and per device.
    pub fn totals(&self) -> serde_json::Value {
        self.metrics.totals()
    }
}

impl Balancer {
    pub fn new(settle: SettleHook, neighbors: Option<Arc<NeighborLookup>>) -> Self {
        Balancer {
            current: None,
            listeners: Vec::new(),
            probes: Vec::new(),
            settle,
            neighbors,
            budgets: None,
            handle: BalancerHandle {
                published: Arc::new(RwLock::new(None)),
                metrics: super::metrics::BalancerMetrics::new(),
            },
        }
    }

    /// Requests reserve and settle against `budgets`.
    pub fn with_budgets(mut self, budgets: Arc<crate::budget::Budgets>) -> Self {
        self.budgets = Some(budgets);
        self
    }

    /// The view the control socket reads.
    pub fn handle(&self) -> BalancerHandle {
        self.handle.clone()
    }

    fn publish(&self, shared: Option<Arc<Shared>>) {
        match self.handle.published.write() {
            Ok(mut g) => *g = shared,
            Err(p) => *p.into_inner() = shared,
        }
    }

    /// The addresses being served.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|(a, _, _)| *a).collect()
    }

    async fn apply(&mut self, config: &Arc<Config>) -> Result<Reconciled, SubsystemError> {
        let Some(b) = &config.balancer else {
            let n = self.listeners.len();
            for (addr, task, stop) in self.listeners.drain(..) {
                stop.trigger();
                let _ = task.await;
                log::info!("balancer: stopped listening on {addr}");
            }
            self.current = None;
            self.publish(None);
            self.sync_probes(&[], None).await;
            return Ok(Reconciled {
                changes: n,
                summary: "off (no balancer section)".into(),
            });
        };
        // Bind what is new first: if that fails, nothing changes.
        let mut fresh = Vec::new();
        for addr in &b.listen {
            if self.listeners.iter().any(|(a, _, _)| a == addr) {
                continue;
            }
            let l = TcpListener::bind(addr).await.map_err(|e| SubsystemError {
                subsystem: "balancer",
                message: format!("cannot listen on {addr}: {e}; keeping the previous listeners"),
            })?;
            fresh.push((*addr, l));
        }
        let old = self.current.as_ref().map(|c| match c.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        });
        // Reuse the pooled connections unless the mark changed.
        let client = match &old {
            Some(o) if o.config.balancer.as_ref().map(|b| b.fwmark) == Some(b.fwmark) => {
                o.client.clone()
            }
            _ => super::upstream::client(b.fwmark),
        };
        let shared = Arc::new(Shared::new(
            config.clone(),
            old.as_deref(),
            client.clone(),
            self.settle.clone(),
            self.handle.metrics.clone(),
            self.neighbors.clone(),
            self.budgets.clone(),
        ));
        self.sync_probes(&shared.upstreams, Some(&client)).await;
        self.publish(Some(shared.clone()));
        let current = match &self.current {
            Some(c) => {
                match c.write() {
                    Ok(mut g) => *g = shared,
                    Err(p) => *p.into_inner() = shared,
                }
                c.clone()
            }
            None => {
                let c = Arc::new(RwLock::new(shared));
                self.current = Some(c.clone());
                c
            }
        };
        let mut changes = fresh.len();
        for (addr, l) in fresh {
            let (trigger, shutdown) = crate::daemon::shutdown::channel();
            let task = spawn_listener(l, current.clone(), shutdown);
            log::info!("balancer: listening on {addr}");
            self.listeners.push((addr, task, trigger));
        }
        // Stop listeners no longer configured.
        let mut i = 0;
        while i < self.listeners.len() {
            if b.listen.contains(&self.listeners[i].0) {
                i += 1;
            } else {
                let (addr, task, stop) = self.listeners.remove(i);
                stop.trigger();
                let _ = task.await;
                log::info!("balancer: stopped listening on {addr}");
                changes += 1;
            }
        }
        Ok(Reconciled {
            changes,
            summary: format!(
                "serving {} endpoint(s) on {}",
                config.endpoints.len(),
                self.addresses()
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }
}

impl Balancer {
    /// Keeps exactly one probe task per probed upstream of `pool`.
    async fn sync_probes(&mut self, pool: &[Arc<Upstream>], client: Option<&HttpClient>) {
        let wanted = |u: &Arc<Upstream>| u.endpoint.health_check > 0 && u.unusable.is_none();
        let mut i = 0;
        while i < self.probes.len() {
            let keep = pool
                .iter()
                .any(|u| Arc::ptr_eq(u, &self.probes[i].0) && wanted(u));
            if keep {
                i += 1;
            } else {
                let (_, task, stop) = self.probes.remove(i);
                stop.trigger();
                let _ = task.await;
            }
        }
        let Some(client) = client else { return };
        for u in pool.iter().filter(|u| wanted(u)) {
            if !self.probes.iter().any(|(p, _, _)| Arc::ptr_eq(p, u)) {
                let (trigger, stop) = crate::daemon::shutdown::channel();
                let task = spawn_probe(u.clone(), client.clone(), stop);
                self.probes.push((u.clone(), task, trigger));
            }
        }
    }
}

impl Subsystem for Balancer {
    fn name(&self) -> &'static str {
        "balancer"
    }

    fn reconcile<'a>(
        &'a mut self,
        config: &'a Arc<Config>,
        _shutdown: &'a Shutdown,
    ) -> BoxFuture<'a, Result<Reconciled, SubsystemError>> {
        Box::pin(self.apply(config))
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), SubsystemError>> {
        Box::pin(async move {
            for (_, task, stop) in self.listeners.drain(..) {
                stop.trigger();
                let _ = task.await;
            }
            self.sync_probes(&[], None).await;
            Ok(())
        })
    }
}
