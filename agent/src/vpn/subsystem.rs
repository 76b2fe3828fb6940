//! VPN policy in the daemon: planned and applied at start and after every accepted reload,
//! then kept in force by a watcher thread:
//!
//! - on a link event for a VPN interface (it went down, came back, was recreated), the plan is
//!   applied again — which changes only the default route of that table: the kill switch and
//!   the rules never move, so there is no moment without protection;
//! - every [`ADDRESS_POLL`], the addresses the neighbour table knows for the VPN's devices are
//!   looked up again, and a device that got a new address gets its rule.
//!
//! The policy outlives the agent (a restart must not open a leak); `hearth apply --remove`
//! takes it down.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{plan, plan_json, VpnPlan};
use crate::config::Config;
use crate::daemon::{BoxFuture, Reconciled, Shutdown, Subsystem, SubsystemError};
use crate::netlink::socket::RouteSocket;
use crate::netlink::vpn::{self as exec, VpnReport};

/// How often device addresses are looked up again.
pub const ADDRESS_POLL: Duration = Duration::from_secs(30);
/// How often the watcher looks at its stop flag.
const TICK: Duration = Duration::from_millis(500);

#[derive(Default)]
struct Shared {
    /// The config in force and the plan applied from it.
    current: Mutex<Option<(Arc<Config>, VpnPlan)>>,
    /// Serializes applies.
    apply_lock: Mutex<()>,
    stopping: AtomicBool,
    sources: Option<Arc<crate::control::Sources>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn err(message: String) -> SubsystemError {
    SubsystemError {
        subsystem: "vpn",
        message,
    }
}

fn report_json(plan: &VpnPlan, r: &VpnReport) -> serde_json::Value {
    serde_json::json!({
        "enabled": true,
        "plan": plan_json(plan),
        "links": r.links.iter().map(|(v, i, s)| serde_json::json!({"vpn": v, "interface": i, "state": s})).collect::<Vec<_>>(),
        "last_changes": r.changes,
        "wireguard": crate::netlink::vpn::wireguard_report(plan),
    })
}

/// Plans `cfg` with the addresses known now and applies it.
fn apply_now(shared: &Shared, cfg: &Arc<Config>, why: &str) -> Result<VpnReport, String> {
    let learned: BTreeMap<String, Vec<IpAddr>> = crate::devices::learned(cfg);
    let p = plan(cfg, &learned);
    let _serial = lock(&shared.apply_lock);
    let mut sock = RouteSocket::open().map_err(|e| format!("cannot open netlink: {e}"))?;
    let r = exec::apply(&mut sock, &p).map_err(|e| e.to_string())?;
    for (v, i, s) in &r.links {
        if *s != "up" {
            log::warn!("vpn '{v}': link {i} is {s}; its devices are held by the kill switch (if on) until it is up");
        }
    }
    if r.changes > 0 {
        log::info!(
            "vpn: {why}: {} change(s): {}",
            r.changes,
            r.actions.join("; ")
        );
    }
    if let Some(s) = &shared.sources {
        s.set_vpn(report_json(&p, &r));
    }
    *lock(&shared.current) = Some((cfg.clone(), p));
    Ok(r)
}

fn watch(shared: Arc<Shared>) {
    let events = crate::netlink::links::LinkEvents::subscribe()
        .and_then(|e| e.set_timeout(TICK).map(|()| e));
    let mut events = match events {
        Ok(e) => e,
        Err(e) => {
            log::warn!("vpn: cannot watch link events ({e}); a VPN link that comes back gets its route at the next reload");
            return;
        }
    };
    let mut last_poll = Instant::now();
    while !shared.stopping.load(Ordering::SeqCst) {
        let batch = events.wait().unwrap_or_default();
        let Some((cfg, p)) = lock(&shared.current).clone() else {
            continue;
        };
        let vpn_link = batch
            .iter()
            .find(|(name, _)| p.tables.iter().any(|t| t.interface == *name))
            .map(|(name, _)| name.clone());
        let poll = last_poll.elapsed() >= ADDRESS_POLL;
        if vpn_link.is_none() && !poll {
            continue;
        }
        if poll {
            last_poll = Instant::now();
            // Only re-apply when the plan would change (a device got another address).
            let fresh = plan(&cfg, &crate::devices::learned(&cfg));
            if fresh == p && vpn_link.is_none() {
                continue;
            }
        }
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let why = match &vpn_link {
            Some(l) => format!("link {l} changed"),
            None => "device addresses changed".to_string(),
        };
        if let Err(e) = apply_now(&shared, &cfg, &why) {
            log::error!("vpn: re-apply after {why} failed: {e}");
        }
    }
}

/// The VPN subsystem.
pub struct VpnSubsystem {
    shared: Arc<Shared>,
    watching: bool,
}

impl VpnSubsystem {
    pub fn new(sources: Option<Arc<crate::control::Sources>>) -> Self {
        VpnSubsystem {
            shared: Arc::new(Shared {
                sources,
                ..Shared::default()
            }),
            watching: false,
        }
    }
}

impl Subsystem for VpnSubsystem {
    fn name(&self) -> &'static str {
        "vpn"
    }

    fn reconcile<'a>(
        &'a mut self,
        config: &'a Arc<Config>,
        _shutdown: &'a Shutdown,
    ) -> BoxFuture<'a, Result<Reconciled, SubsystemError>> {
        Box::pin(async move {
            if config.vpns.is_empty() {
                // A reload that drops every VPN takes hearth's policy away.
                let had = lock(&self.shared.current).take().is_some();
                if let Some(s) = &self.shared.sources {
                    s.set_vpn(serde_json::json!({"enabled": false}));
                }
                if !had {
                    return Ok(Reconciled {
                        changes: 0,
                        summary: "off (no vpn section)".into(),
                    });
                }
                let r = tokio::task::spawn_blocking(|| {
                    let mut sock = RouteSocket::open().map_err(|e| e.to_string())?;
                    exec::remove(&mut sock).map_err(|e| e.to_string())
                })
                .await
                .map_err(|e| err(e.to_string()))?
                .map_err(err)?;
                return Ok(Reconciled {
                    changes: r.changes,
                    summary: "off (no vpn section); policy removed".into(),
                });
            }
            let shared = self.shared.clone();
            let cfg = config.clone();
            let r = tokio::task::spawn_blocking(move || apply_now(&shared, &cfg, "config applied"))
                .await
                .map_err(|e| err(format!("apply task failed: {e}")))?
                .map_err(|e| {
                    if let Some(s) = &self.shared.sources {
                        s.set_vpn_failed(&e);
                    }
                    err(e)
                })?;
            if !self.watching {
                let shared = self.shared.clone();
                self.watching = std::thread::Builder::new()
                    .name("hearth-vpn".into())
                    .spawn(move || watch(shared))
                    .is_ok();
            }
            let links: Vec<String> = r
                .links
                .iter()
                .map(|(v, i, s)| format!("{v} via {i} ({s})"))
                .collect();
            Ok(Reconciled {
                changes: r.changes,
                summary: links.join(", "),
            })
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), SubsystemError>> {
        // The policy stays in force while the agent restarts (no leak window); stop the
        // watcher and let an apply in flight finish.
        let shared = self.shared.clone();
        Box::pin(async move {
            shared.stopping.store(true, Ordering::SeqCst);
            tokio::task::spawn_blocking(move || drop(lock(&shared.apply_lock)))
                .await
                .map_err(|e| err(format!("waiting for an apply in flight failed: {e}")))
        })
    }
}
