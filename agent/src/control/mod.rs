//! The control socket: `RUNTIME_DIR/control.sock`, HTTP/1.1 + JSON over a Unix socket, for the
//! CLI (`hearth status`), the rpcd plugin (LuCI) and Prometheus scrapers (through a local
//! proxy or the node exporter's textfile collector).
//!
//! - `GET /status`: what the agent is doing (version, uptime, config, each subsystem's view);
//! - `GET /usage`: every budget account; `POST /anomaly/ack?key=KEY` clears a spend anomaly;
//! - `GET /devices`, `GET /endpoints`: per-device and per-endpoint views (see [`views`]);
//! - `GET /plan`: the Wi-Fi planner's report for the configured survey, with its SVG;
//! - `GET /metrics`: Prometheus text format.
//!
//! The socket is created mode 0600: only root (hearth itself, rpcd) may talk to it. The same
//! handler also serves the optional token-protected web dashboard on TCP ([`dashboard`]).

pub mod dashboard;
pub mod views;

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use crate::balancer::server::BalancerHandle;
use crate::config::Config;
use crate::daemon::shutdown::{self, ShutdownTrigger};
use crate::daemon::{BoxFuture, Reconciled, Shutdown, Subsystem, SubsystemError};

/// File name of the socket inside `runtime_dir`.
pub const SOCKET_NAME: &str = "control.sock";

/// What `/status` and `/metrics` read.
pub struct Sources {
    /// The balancer's view, when the balancer runs in this daemon.
    pub balancer: Option<BalancerHandle>,
    /// The budget ledgers (`/usage`).
    pub budgets: Option<Arc<crate::budget::Budgets>>,
    /// When the daemon started.
    started: Instant,
    /// Config path and when it was last applied.
    config: Mutex<Option<(PathBuf, u64)>>,
    /// Config generations applied (start = 1).
    generation: Mutex<u64>,
    /// The shaping subsystem's last report (devices, leaf, kernel capabilities).
    shaping: Mutex<Option<serde_json::Value>>,
    /// The config in force (`/devices` and `/plan` read it).
    in_force: Mutex<Option<Arc<Config>>>,
    /// The VPN subsystem's last report (tables, rules, link states).
    vpn: Mutex<Option<serde_json::Value>>,
}

impl Sources {
    pub fn new(
        balancer: Option<BalancerHandle>,
        budgets: Option<Arc<crate::budget::Budgets>>,
    ) -> Arc<Self> {
        Arc::new(Sources {
            balancer,
            budgets,
            started: Instant::now(),
            config: Mutex::new(None),
            generation: Mutex::new(0),
            shaping: Mutex::new(None),
            in_force: Mutex::new(None),
            vpn: Mutex::new(None),
        })
    }

    fn in_force(&self) -> Option<Arc<Config>> {
        self.in_force.lock().map(|c| c.clone()).unwrap_or(None)
    }

    fn balancer_totals(&self) -> serde_json::Value {
        self.balancer
            .as_ref()
            .map_or(serde_json::Value::Null, |b| b.totals())
    }

    /// `/devices` (see [`views::devices`]).
    fn devices(&self) -> serde_json::Value {
        let Some(cfg) = self.in_force() else {
            return serde_json::json!({"devices": []});
        };
        let rows = self
            .budgets
            .as_ref()
            .map(|b| b.usage(crate::budget::now()))
            .unwrap_or_default();
        views::devices(&cfg, &rows, &self.balancer_totals())
    }

    /// `/endpoints` (see [`views::endpoints`]).
    fn endpoints(&self) -> serde_json::Value {
        let status = self
            .balancer
            .as_ref()
            .map_or(serde_json::json!({"enabled": false}), |b| b.status());
        let currency = self
            .in_force()
            .map_or_else(|| "USD".to_string(), |c| c.agent.currency.clone());
        views::endpoints(&status, &self.balancer_totals(), &currency)
    }

    /// `/plan`: plans on a blocking thread (the mesh search takes a moment on a router).
    async fn plan(&self) -> (StatusCode, serde_json::Value) {
        let Some(cfg) = self.in_force() else {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"error": "no config applied yet"}),
            );
        };
        match tokio::task::spawn_blocking(move || crate::planner::run::report_for(&cfg)).await {
            Ok(Ok(v)) => (StatusCode::OK, v),
            Ok(Err(e)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                serde_json::json!({"error": e.lines().join("; ")}),
            ),
            Err(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({"error": format!("the planner failed: {e}")}),
            ),
        }
    }

    /// Records what the VPN policy did last (shown in `/status`).
    pub fn set_vpn(&self, v: serde_json::Value) {
        self.record(&self.vpn, v);
    }

    /// Records that applying the VPN policy failed: the kernel keeps the previous policy, and
    /// `/status` says which (see [`Sources::record_failure`]).
    pub fn set_vpn_failed(&self, error: &str) {
        self.record_failure(&self.vpn, error);
    }

    /// Records what shaping did last (shown in `/status`).
    pub fn set_shaping(&self, v: serde_json::Value) {
        self.record(&self.shaping, v);
    }

    /// Records that applying shaping failed (the previous shaping stays in force).
    pub fn set_shaping_failed(&self, error: &str) {
        self.record_failure(&self.shaping, error);
    }

    fn generation_now(&self) -> u64 {
        self.generation.lock().map(|g| *g).unwrap_or(0)
    }

    /// A subsystem's report, stamped with the config generation it applied.
    fn record(&self, slot: &Mutex<Option<serde_json::Value>>, mut v: serde_json::Value) {
        if v["enabled"].as_bool() == Some(true) {
            v["generation"] = self.generation_now().into();
        }
        if let Ok(mut s) = slot.lock() {
            *s = Some(v);
        }
    }

    /// A failed apply: `error`, the generation it failed on, and under `in_force` the last
    /// successful report — what the kernel still has, since a failed apply rolls back (or
    /// never started). `in_force` is null when nothing was ever applied.
    fn record_failure(&self, slot: &Mutex<Option<serde_json::Value>>, error: &str) {
        let generation = self.generation_now();
        if let Ok(mut s) = slot.lock() {
            let in_force = match s.take() {
                Some(v) if v["enabled"].as_bool() == Some(true) && v["error"].is_null() => v,
                Some(v) => v["in_force"].clone(),
                None => serde_json::Value::Null,
            };
            *s = Some(serde_json::json!({
                "enabled": true,
                "error": error,
                "generation": generation,
                "in_force": in_force,
            }));
        }
    }

    fn status(&self) -> serde_json::Value {
        let config = self.config.lock().map(|c| c.clone()).unwrap_or(None);
        let generation = self.generation.lock().map(|g| *g).unwrap_or(0);
        let shaping = self.shaping.lock().map(|s| s.clone()).unwrap_or(None);
        let cfg = self.in_force();
        let on = |v: &Option<serde_json::Value>| {
            v.as_ref()
                .is_some_and(|v| v["enabled"].as_bool() == Some(true))
        };
        let balancer = self.balancer.as_ref().map(|b| b.status());
        let vpn = self.vpn.lock().map(|s| s.clone()).unwrap_or(None);
        serde_json::json!({
            "subsystems": {
                "control": true,
                "balancer": on(&balancer),
                "shaping": on(&shaping),
                "vpn": on(&vpn),
                "budgets": self.budgets.is_some(),
                "planner": cfg.as_ref().is_some_and(|c| c.planners.iter().any(|p| p.survey.is_some())),
            },
            "links": cfg.as_ref().map(|c| links(c)).unwrap_or_default(),
            "version": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
            "uptime_secs": self.started.elapsed().as_secs(),
            "config": config.as_ref().map(|(p, _)| p.display().to_string()),
            "config_applied_at": config.as_ref().map(|(_, t)| *t),
            "generation": generation,
            "balancer": balancer,
            "shaping": shaping,
            "planner": {"configured": self.in_force().is_some_and(|c| c.planners.iter().any(|p| p.survey.is_some()))},
            "vpn": vpn,
            "budgets": self.budgets.as_ref().map(|b| {
                let rows = b.usage(crate::budget::now());
                serde_json::json!({
                    "in_flight": b.in_flight(),
                    "warnings": rows.iter().filter(|r| r.warning && !r.exhausted).map(|r| r.to_json()).collect::<Vec<_>>(),
                    "exhausted": rows.iter().filter(|r| r.exhausted).map(|r| r.to_json()).collect::<Vec<_>>(),
                    "anomalies": b.anomalies().iter().map(|a| a.to_json()).collect::<Vec<_>>(),
                })
            }),
        })
    }

    /// Every account and budget (`hearth usage`).
    fn usage(&self) -> serde_json::Value {
        match &self.budgets {
            Some(b) => serde_json::json!({
                "source": "daemon",
                "rows": b.usage(crate::budget::now()).iter().map(|r| r.to_json()).collect::<Vec<_>>(),
                "anomalies": b.anomalies().iter().map(|a| a.to_json()).collect::<Vec<_>>(),
            }),
            None => serde_json::json!({"source": "daemon", "rows": []}),
        }
    }

    fn metrics(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP hearth_up 1 while the agent runs.\n# TYPE hearth_up gauge\nhearth_up 1\n",
        );
        out.push_str(&format!(
            "# HELP hearth_uptime_seconds Seconds since the agent started.\n# TYPE hearth_uptime_seconds gauge\nhearth_uptime_seconds {}\n",
            self.started.elapsed().as_secs()
        ));
        if let Some(b) = &self.balancer {
            b.metrics_text(&mut out);
        }
        if let Some(b) = &self.budgets {
            let rows = b.usage(crate::budget::now());
            out.push_str("# HELP hearth_budget_spent Spent in the current period (money in micro-units of the currency, tokens, bytes).\n# TYPE hearth_budget_spent gauge\n");
            for r in &rows {
                out.push_str(&format!(
                    "hearth_budget_spent{{scope=\"{}\",period=\"{}\",metric=\"{}\"}} {}\n",
                    r.scope, r.period, r.metric, r.spent
                ));
            }
            out.push_str("# HELP hearth_budget_limit Configured budget for the period (same units).\n# TYPE hearth_budget_limit gauge\n");
            for r in rows.iter().filter(|r| r.limit.is_some()) {
                out.push_str(&format!(
                    "hearth_budget_limit{{scope=\"{}\",period=\"{}\",metric=\"{}\"}} {}\n",
                    r.scope,
                    r.period,
                    r.metric,
                    r.limit.unwrap_or(0)
                ));
            }
            out.push_str("# HELP hearth_spend_anomaly 1 while a spender is flagged for spending far above its usual rate.\n# TYPE hearth_spend_anomaly gauge\n");
            for a in b.anomalies() {
                out.push_str(&format!("hearth_spend_anomaly{{key=\"{}\"}} 1\n", a.key));
            }
            out.push_str("# HELP hearth_budget_reserved Held by requests in flight (same units).\n# TYPE hearth_budget_reserved gauge\n");
            for r in rows.iter().filter(|r| r.metric != "bytes") {
                out.push_str(&format!(
                    "hearth_budget_reserved{{scope=\"{}\",period=\"{}\",metric=\"{}\"}} {}\n",
                    r.scope, r.period, r.metric, r.reserved
                ));
            }
        }
        out
    }
}

/// The links the config names (shaped WAN and LAN devices, VPN interfaces) with their state
/// from `/sys/class/net/DEV/operstate` (`missing` when the device does not exist).
fn links(cfg: &Config) -> Vec<serde_json::Value> {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for s in &cfg.shapers {
        seen.push((&s.device, "wan"));
        if let Some(l) = &s.lan_device {
            seen.push((l, "lan"));
        }
    }
    for v in &cfg.vpns {
        seen.push((&v.interface, "vpn"));
    }
    seen.dedup();
    seen.iter()
        .map(|(dev, role)| {
            let state = std::fs::read_to_string(format!("/sys/class/net/{dev}/operstate"))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "missing".into());
            serde_json::json!({"device": dev, "role": role, "state": state})
        })
        .collect()
}

fn reply(status: StatusCode, ctype: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, http::HeaderValue::from_static(ctype));
    r
}

/// Answers one request; the dashboard listener calls this once the token checked out.
pub(crate) async fn serve<B>(sources: Arc<Sources>, req: Request<B>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/devices") => reply(
            StatusCode::OK,
            "application/json",
            sources.devices().to_string(),
        ),
        (&Method::GET, "/endpoints") => reply(
            StatusCode::OK,
            "application/json",
            sources.endpoints().to_string(),
        ),
        (&Method::GET, "/plan") => {
            let (status, v) = sources.plan().await;
            reply(status, "application/json", v.to_string())
        }
        (&Method::GET, "/status") => reply(
            StatusCode::OK,
            "application/json",
            sources.status().to_string(),
        ),
        (&Method::POST, "/anomaly/ack") => {
            let key = req
                .uri()
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("key=")))
                .unwrap_or("")
                .to_string();
            match sources.budgets.as_ref().map(|b| b.acknowledge(&key)) {
                Some(true) => reply(
                    StatusCode::OK,
                    "application/json",
                    serde_json::json!({"acknowledged": key}).to_string(),
                ),
                _ => reply(
                    StatusCode::NOT_FOUND,
                    "application/json",
                    serde_json::json!({"error": format!("'{key}' is not flagged")}).to_string(),
                ),
            }
        }
        (&Method::GET, "/usage") => reply(
            StatusCode::OK,
            "application/json",
            sources.usage().to_string(),
        ),
        (&Method::GET, "/metrics") => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            sources.metrics(),
        ),
        (_, path) => reply(
            StatusCode::NOT_FOUND,
            "application/json",
            serde_json::json!({"error": format!("unknown path {path}; try /status, /usage, /devices, /endpoints, /plan or /metrics")})
                .to_string(),
        ),
    }
}

/// The control socket as a daemon subsystem.
pub struct Control {
    /// The data it serves.
    sources: Arc<Sources>,
    /// The bound socket path and its server task.
    bound: Option<(PathBuf, JoinHandle<()>, ShutdownTrigger)>,
    /// The dashboard's TCP listener, when configured: its address, task, stop and token.
    dashboard: Option<(
        std::net::SocketAddr,
        JoinHandle<()>,
        ShutdownTrigger,
        dashboard::Token,
    )>,
}

impl Control {
    pub fn new(sources: Arc<Sources>) -> Self {
        Control {
            sources,
            bound: None,
            dashboard: None,
        }
    }

    async fn stop_dashboard(&mut self) {
        if let Some((addr, task, stop, _)) = self.dashboard.take() {
            stop.trigger();
            let _ = task.await;
            log::info!("control: dashboard on {addr} stopped");
        }
    }

    /// Serves, moves or stops the dashboard as `config` asks; the token is re-read every time.
    async fn apply_dashboard(&mut self, config: &Config) -> Result<Option<String>, SubsystemError> {
        let fail = |message: String| SubsystemError {
            subsystem: "control",
            message,
        };
        let Some(d) = &config.agent.dashboard else {
            self.stop_dashboard().await;
            return Ok(None);
        };
        let token = match dashboard::read_token(&d.token) {
            Ok(t) => t,
            Err(e) => {
                // A token that cannot be read must not leave the old one open.
                self.stop_dashboard().await;
                return Err(fail(format!("dashboard off: {e}")));
            }
        };
        let url = format!("dashboard on http://{}/hearth/", d.listen);
        if let Some((addr, _, _, current)) = &self.dashboard {
            if *addr == d.listen {
                match current.write() {
                    Ok(mut t) => *t = token,
                    Err(p) => *p.into_inner() = token,
                }
                return Ok(Some(url));
            }
        }
        self.stop_dashboard().await;
        let listener = dashboard::bind(d.listen)
            .await
            .map_err(|e| fail(format!("dashboard off: cannot listen on {}: {e}", d.listen)))?;
        let token = Arc::new(std::sync::RwLock::new(token));
        let (trigger, stop) = shutdown::channel();
        let task = dashboard::spawn(listener, self.sources.clone(), token.clone(), stop);
        self.dashboard = Some((d.listen, task, trigger, token));
        Ok(Some(url))
    }

    async fn unbind(&mut self) {
        if let Some((path, task, stop)) = self.bound.take() {
            stop.trigger();
            let _ = task.await;
            let _ = std::fs::remove_file(&path);
        }
    }

    async fn apply(&mut self, config: &Arc<Config>) -> Result<Reconciled, SubsystemError> {
        let path = config.agent.runtime_dir.join(SOCKET_NAME);
        if let Ok(mut c) = self.sources.config.lock() {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            *c = Some((config.path.clone(), now));
        }
        if let Ok(mut g) = self.sources.generation.lock() {
            *g += 1;
        }
        if let Ok(mut c) = self.sources.in_force.lock() {
            *c = Some(config.clone());
        }
        let mut changes = 0;
        if self.bound.as_ref().is_none_or(|(p, _, _)| *p != path) {
            let listener = bind(&path).map_err(|e| SubsystemError {
                subsystem: "control",
                message: format!("cannot create {}: {e}", path.display()),
            })?;
            self.unbind().await;
            let (trigger, stop) = shutdown::channel();
            let task = spawn(listener, self.sources.clone(), stop);
            self.bound = Some((path.clone(), task, trigger));
            changes += 1;
        }
        let before = self.dashboard.as_ref().map(|d| d.0);
        let dash = self.apply_dashboard(config).await?;
        if self.dashboard.as_ref().map(|d| d.0) != before {
            changes += 1;
        }
        Ok(Reconciled {
            changes,
            summary: match dash {
                Some(d) => format!("serving {}; {d}", path.display()),
                None => format!("serving {}", path.display()),
            },
        })
    }
}

/// Creates the runtime directory and a fresh socket (a stale one from a crash is replaced).
fn bind(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // A socket someone still answers on belongs to another running hearth: never take it
    // over (two agents would fight over the same kernel state). A dead one is left by a crash.
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "another hearth is running and serving it (stop it first, or give this one another runtime_dir)",
        ));
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

fn spawn(listener: UnixListener, sources: Arc<Sources>, mut stop: Shutdown) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                _ = stop.recv() => break,
                r = listener.accept() => match r {
                    Ok((s, _)) => s,
                    Err(e) => {
                        log::warn!("control: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let sources = sources.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let sources = sources.clone();
                    async move { Ok::<_, Infallible>(serve(sources, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}

impl Subsystem for Control {
    fn name(&self) -> &'static str {
        "control"
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
            self.stop_dashboard().await;
            self.unbind().await;
            Ok(())
        })
    }
}

/// Client side: `GET path` on the control socket; returns the status and the body.
pub async fn get(socket: &Path, path: &str) -> std::io::Result<(StatusCode, String)> {
    request(socket, Method::GET, path).await
}

/// One request to the control socket with an empty body.
pub async fn request(
    socket: &Path,
    method: Method,
    path: &str,
) -> std::io::Result<(StatusCode, String)> {
    let stream = UnixStream::connect(socket).await?;
    let (status, _, body) = exchange(stream, method, path, &[]).await?;
    Ok((status, body))
}

/// One HTTP/1.1 exchange on `io` (a connected socket): status, headers and body.
pub async fn exchange<IO>(
    io: IO,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(StatusCode, http::HeaderMap, String)>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io_err = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| io_err(&e))?;
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "hearth");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::new())).map_err(|e| io_err(&e))?;
    let resp = send.send_request(req).await.map_err(|e| io_err(&e))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| io_err(&e))?
        .to_bytes();
    Ok((status, headers, String::from_utf8_lossy(&body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_apply_keeps_the_last_good_report_as_in_force() {
        let src = Sources::new(None, None);
        let bump = || *src.generation.lock().unwrap() += 1;
        bump();
        src.set_shaping_failed("cannot probe the kernel");
        let first = src.status()["shaping"].clone();
        assert_eq!(first["error"], "cannot probe the kernel");
        assert!(first["in_force"].is_null(), "nothing applied yet: {first}");
        bump();
        src.set_shaping(serde_json::json!({"enabled": true, "devices": ["tv"]}));
        assert_eq!(src.status()["shaping"]["generation"], 2);
        bump();
        src.set_shaping_failed("RTM_NEWQDISC: Invalid argument");
        bump();
        src.set_shaping_failed("RTM_NEWQDISC: Invalid argument (again)");
        let s = src.status()["shaping"].clone();
        assert_eq!(s["generation"], 4, "{s}");
        assert_eq!(s["error"], "RTM_NEWQDISC: Invalid argument (again)");
        assert_eq!(s["in_force"]["generation"], 2, "{s}");
        assert_eq!(s["in_force"]["devices"][0], "tv", "{s}");
        bump();
        src.set_shaping(serde_json::json!({"enabled": true, "devices": ["tv", "pc"]}));
        let s = src.status()["shaping"].clone();
        assert!(s["error"].is_null() && s["in_force"].is_null(), "{s}");
        // Same for the VPN policy; a disabled record carries no generation.
        src.set_vpn(serde_json::json!({"enabled": false}));
        src.set_vpn_failed("no such device wg0");
        let v = src.status()["vpn"].clone();
        assert!(v["in_force"].is_null(), "off is not a policy in force: {v}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn budgets_usage_and_anomalies_over_the_socket() {
        use crate::budget::{anomaly, Amount, Budgets, Payer, Tz};
        let dir = tempfile::tempdir().unwrap();
        let cfg_path = dir.path().join("hearth");
        let run = dir.path().join("run");
        std::fs::write(
            &cfg_path,
            format!(
                "config agent main\n option runtime_dir '{}'\n",
                run.display()
            ),
        )
        .unwrap();
        let cfg = Arc::new(crate::config::load(&cfg_path).unwrap());
        let budgets = Arc::new(Budgets::new(Tz::utc(), Vec::new()));
        budgets.configure_anomaly(anomaly::Settings {
            factor: 5.0,
            min: 1000,
            window: 300,
            shift: true,
        });
        // A device spends 2000 a window for an hour, then 20 000 at once.
        let now = crate::budget::now();
        for i in 0..12 {
            budgets.observe_spend(Some("cloud"), Some("tv"), 2000, "USD", now - 3600 + i * 300);
        }
        let warn = budgets.observe_spend(Some("cloud"), Some("tv"), 20_000, "USD", now);
        assert_eq!(warn.len(), 2, "endpoint and device: {warn:?}");
        assert!(
            warn[1].contains("device:tv") && warn[1].contains("cheapest"),
            "{warn:?}"
        );
        assert!(budgets.shifted("tv"));
        let payer = Payer {
            device: Some("tv".into()),
            group: "default".into(),
        };
        let r = budgets
            .reserve(
                &payer,
                Amount {
                    money: 5,
                    tokens: 5,
                },
                now,
            )
            .unwrap();
        budgets.settle(
            r,
            Amount {
                money: 5,
                tokens: 5,
            },
            0,
            now,
        );

        let mut c = Control::new(Sources::new(None, Some(budgets.clone())));
        let (_t, stop) = shutdown::channel();
        c.reconcile(&cfg, &stop).await.unwrap();
        let sock = run.join(SOCKET_NAME);
        let (_, body) = get(&sock, "/usage").await.unwrap();
        let u: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            u["rows"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["scope"] == "device:tv" && r["spent"] == 5),
            "{u}"
        );
        assert_eq!(u["anomalies"][0]["key"], "device:tv", "{u}");
        let (_, body) = get(&sock, "/status").await.unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["budgets"]["anomalies"].as_array().map(Vec::len),
            Some(2),
            "{v}"
        );
        let (_, metrics) = get(&sock, "/metrics").await.unwrap();
        assert!(
            metrics.contains("hearth_spend_anomaly{key=\"device:tv\"} 1"),
            "{metrics}"
        );
        let (st, _) = request(&sock, Method::POST, "/anomaly/ack?key=device:tv")
            .await
            .unwrap();
        assert_eq!(st, StatusCode::OK);
        assert!(!budgets.shifted("tv"));
        let (st, _) = request(&sock, Method::POST, "/anomaly/ack?key=device:tv")
            .await
            .unwrap();
        assert_eq!(st, StatusCode::NOT_FOUND, "no longer flagged");
        c.flush().await.unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn status_and_metrics_over_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let cfg_path = dir.path().join("hearth");
        let run = dir.path().join("run");
        std::fs::write(
            &cfg_path,
            format!(
                "config agent main\n option runtime_dir '{}'\n",
                run.display()
            ),
        )
        .unwrap();
        let cfg = Arc::new(crate::config::load(&cfg_path).unwrap());
        let mut c = Control::new(Sources::new(None, None));
        let (_t, stop) = shutdown::channel();
        c.reconcile(&cfg, &stop).await.unwrap();
        let sock = run.join(SOCKET_NAME);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (st, body) = get(&sock, "/status").await.unwrap();
        assert_eq!(st, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(v["generation"], 1);
        assert_eq!(v["config"], cfg_path.display().to_string());
        let (_, metrics) = get(&sock, "/metrics").await.unwrap();
        assert!(metrics.contains("\nhearth_up 1\n"), "{metrics}");
        let (st, _) = get(&sock, "/nope").await.unwrap();
        assert_eq!(st, StatusCode::NOT_FOUND);
        // A second agent with the same runtime_dir must not take the socket over.
        let mut other = Control::new(Sources::new(None, None));
        let err = other.reconcile(&cfg, &stop).await.unwrap_err();
        assert!(
            err.message.contains("another hearth is running"),
            "{}",
            err.message
        );
        let (st, _) = get(&sock, "/status").await.unwrap();
        assert_eq!(st, StatusCode::OK, "the first agent still serves");
        // A reload with the same runtime_dir keeps the socket; flush removes it.
        c.reconcile(&cfg, &stop).await.unwrap();
        let (_, body) = get(&sock, "/status").await.unwrap();
        assert!(body.contains("\"generation\":2"), "{body}");
        c.flush().await.unwrap();
        assert!(!sock.exists());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn dashboard_needs_the_token_and_the_socket_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let cfg_path = dir.path().join("hearth");
        let run = dir.path().join("run");
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "0123456789abcdef0123\n").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let write = |token_file: &Path| {
            std::fs::write(
                &cfg_path,
                format!(
                    "config agent main\n option runtime_dir '{}'\n option dashboard_listen '127.0.0.1:{port}'\n option dashboard_token_file '{}'\n",
                    run.display(),
                    token_file.display()
                ),
            )
            .unwrap();
            Arc::new(crate::config::load(&cfg_path).unwrap())
        };
        let cfg = write(&token_file);
        let mut c = Control::new(Sources::new(None, None));
        let (_t, stop) = shutdown::channel();
        let r = c.reconcile(&cfg, &stop).await.unwrap();
        assert!(
            r.summary
                .contains(&format!("http://127.0.0.1:{port}/hearth/")),
            "{}",
            r.summary
        );
        let tcp = |path: &'static str, headers: Vec<(&'static str, String)>| async move {
            let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            exchange(s, Method::GET, path, &h).await.unwrap()
        };
        let bearer = || vec![("authorization", "Bearer 0123456789abcdef0123".to_string())];
        for path in [
            "/hearth/",
            "/status",
            "/devices",
            "/hearth/render.js",
            "/metrics",
        ] {
            let (st, h, _) = tcp(path, vec![]).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "{path} without the token");
            assert!(h.contains_key(header::WWW_AUTHENTICATE));
            let (st, _, _) = tcp(
                path,
                vec![("authorization", "Bearer 0123456789abcdef0124".into())],
            )
            .await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "{path} with a wrong token");
            let (st, h, _) = tcp(path, bearer()).await;
            assert_eq!(st, StatusCode::OK, "{path} with the token");
            assert_eq!(h[header::CACHE_CONTROL], "no-store");
        }
        let (_, _, js) = tcp("/hearth/render.js", bearer()).await;
        assert!(
            js.starts_with("window.hearthRender = (function (baseclass) {"),
            "{js}"
        );
        // ?token= sets the cookie and sends the browser on without the token in the address.
        let (st, h, _) = tcp("/hearth/?token=0123456789abcdef0123", vec![]).await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        assert_eq!(h[header::LOCATION], "/hearth/");
        let cookie = h[header::SET_COOKIE].to_str().unwrap().to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let pair = cookie.split(';').next().unwrap().to_string();
        let (st, _, body) = tcp("/hearth/", vec![("cookie", pair.clone())]).await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("/hearth/render.js"));
        // The unix socket answers without a token, as before.
        let (st, _) = get(&run.join(SOCKET_NAME), "/status").await.unwrap();
        assert_eq!(st, StatusCode::OK);
        // A new token (reload) replaces the old one on the same listener.
        std::fs::write(&token_file, "fedcba9876543210fedc\n").unwrap();
        c.reconcile(&cfg, &stop).await.unwrap();
        let (st, _, _) = tcp("/status", vec![("cookie", pair)]).await;
        assert_eq!(
            st,
            StatusCode::UNAUTHORIZED,
            "the old token no longer opens it"
        );
        // An unreadable token file closes the dashboard (and says why).
        let cfg = write(&dir.path().join("missing"));
        let err = c.reconcile(&cfg, &stop).await.unwrap_err();
        assert!(err.message.contains("dashboard off"), "{}", err.message);
        // Nothing of hearth answers on the port any more. (Parallel tests bind ephemeral ports
        // too: should one have taken this port, what answers must at least not be hearth.)
        if let Ok(s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let answer = exchange(s, Method::GET, "/status", &[]).await;
            let is_hearth = answer.is_ok_and(|(_, h, _)| {
                h.get(header::WWW_AUTHENTICATE)
                    .is_some_and(|v| v.as_bytes().starts_with(b"Bearer realm=\"hearth\""))
            });
            assert!(
                !is_hearth,
                "the dashboard still answers after it was closed"
            );
        }
        c.flush().await.unwrap();
    }
}
