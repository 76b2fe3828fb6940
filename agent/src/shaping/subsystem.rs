//! Shaping in the daemon: plan and apply at start and after every accepted reload.
//!
//! The netlink socket is synchronous, so each reconcile runs on a blocking thread. The kernel
//! is probed once (which leaf qdiscs and classifiers exist); the probe is repeated only if it
//! failed. A failed apply has already been rolled back by the executor: the log says what the
//! kernel refused, and the previous shaping stays in force.
//!
//! A link watcher (rtnetlink link events) re-applies the plan in force when a shaped device
//! comes back with a new ifindex — a PPPoE reconnect recreates `pppoe-wan`, a USB modem
//! re-enumerates — so shaping never silently disappears until the next reload.
//!
//! The same thread reads the device and group class counters every [`COUNTER_POLL`] and
//! charges the bytes to the data budgets; a device over its `data_month` is throttled by
//! re-planning with it in [`PlanInputs::throttled`] (its class ceiling drops to
//! `data_throttle`) and applying — through the same reconcile, not a side channel — and
//! released the same way when the month turns.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::Config;
use crate::daemon::{BoxFuture, Reconciled, Shutdown, Subsystem, SubsystemError};
use crate::netlink::{shaping as exec, socket::RouteSocket};

use super::{plan, Capabilities, ClassRole, PlanInputs, ShapingPlan};
use crate::budget::{Budgets, Scope};

/// How often class counters are charged to the data budgets.
pub const COUNTER_POLL: Duration = Duration::from_secs(5);

/// The plan in force and the ifindex of each of its devices when it was applied.
struct Applied {
    plan: super::ShapingPlan,
    ifindexes: HashMap<String, u32>,
}

/// State shared with the link watcher.
#[derive(Default)]
struct Shared {
    /// What was applied last (`None`: nothing to keep in force).
    applied: Mutex<Option<Applied>>,
    /// Serializes applies (reconcile and watcher).
    apply_lock: Mutex<()>,
    /// Set at shutdown: the watcher starts no new apply and ends.
    stopping: AtomicBool,
    /// The ledgers data use is charged to.
    budgets: Option<Arc<Budgets>>,
    /// What a re-plan needs: the config and kernel capabilities in force.
    inputs: Mutex<Option<(Arc<Config>, Capabilities)>>,
    /// Devices throttled in the plan in force.
    throttled: Mutex<HashSet<String>>,
    /// Last byte count seen per (link, class role), to charge only the difference.
    seen: Mutex<HashMap<(String, ClassRole), u64>>,
}

/// Who a class's bytes count for.
fn scope_of(role: &ClassRole) -> Option<Scope> {
    match role {
        ClassRole::Device(d) => Some(Scope::Device(d.clone())),
        ClassRole::Group(g) => Some(Scope::Group(g.clone())),
        _ => None,
    }
}

/// Reads the counters of `plan` and charges what grew since the last reading (a counter that
/// went down belongs to a class created anew: all of it is new). With `baseline`, only
/// remembers the values (classes that existed before this agent started).
fn charge(shared: &Shared, sock: &mut RouteSocket, plan: &ShapingPlan, baseline: bool) {
    let Some(budgets) = &shared.budgets else {
        return;
    };
    let counters = match exec::counters(sock, plan) {
        Ok(c) => c,
        Err(e) => {
            log::warn!("shaping: cannot read class counters for data budgets: {e}");
            return;
        }
    };
    let now = crate::budget::now();
    let mut seen = lock(&shared.seen);
    for c in counters {
        let Some(scope) = scope_of(&c.role) else {
            continue;
        };
        let key = (c.device.clone(), c.role.clone());
        let delta = match seen.insert(key, c.bytes) {
            _ if baseline => 0,
            Some(last) if c.bytes >= last => c.bytes - last,
            Some(_) => c.bytes,
            // A class this agent just created starts near zero.
            None => c.bytes,
        };
        for w in budgets.add_bytes(&scope, delta, now) {
            log::warn!("{w}");
        }
    }
}

/// Devices over their data budget now.
fn over_data(shared: &Shared) -> HashSet<String> {
    shared
        .budgets
        .as_ref()
        .map(|b| b.over_data(crate::budget::now()))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| match s {
            Scope::Device(d) => Some(d),
            _ => None,
        })
        .collect()
}

/// Charges the counters and, when the set of devices over their data budget changed,
/// re-plans and applies.
fn poll_data(shared: &Shared) {
    let Some(plan) = lock(&shared.applied).as_ref().map(|a| a.plan.clone()) else {
        return;
    };
    let mut sock = match RouteSocket::open() {
        Ok(s) => s,
        Err(e) => {
            log::warn!("shaping: netlink: {e}");
            return;
        }
    };
    charge(shared, &mut sock, &plan, false);
    let over = over_data(shared);
    if over == *lock(&shared.throttled) {
        return;
    }
    let Some((cfg, caps)) = lock(&shared.inputs).clone() else {
        return;
    };
    let _serial = lock(&shared.apply_lock);
    if shared.stopping.load(Ordering::SeqCst) {
        return;
    }
    let p = match plan_with(&cfg, caps, &over) {
        Ok(p) => p,
        Err(e) => {
            log::error!("shaping: cannot plan the data-budget throttle: {e}");
            return;
        }
    };
    match exec::apply(&mut sock, &p) {
        Ok(r) => {
            let old = lock(&shared.throttled).clone();
            for d in over.difference(&old) {
                let rate = cfg
                    .devices
                    .iter()
                    .find(|x| x.meta.name == *d)
                    .map(|x| cfg.device_limits(x).data_throttle.0)
                    .unwrap_or(0);
                log::warn!("shaping: device '{d}' used its data_month: throttled to {rate} kbit/s until the month ends");
            }
            for d in old.difference(&over) {
                log::info!("shaping: device '{d}' is no longer throttled");
            }
            log::info!(
                "shaping: data-budget throttle applied ({} changes)",
                r.changes
            );
            charge(shared, &mut sock, &p, false);
            *lock(&shared.throttled) = over;
            *lock(&shared.applied) = Some(Applied {
                ifindexes: ifindexes(&p),
                plan: p,
            });
        }
        Err(e) => log::error!("shaping: applying the data-budget throttle failed: {e}"),
    }
}

/// The plan for `cfg` with `throttled` devices.
fn plan_with(
    cfg: &Config,
    caps: Capabilities,
    throttled: &HashSet<String>,
) -> Result<ShapingPlan, super::PlanError> {
    plan(
        cfg,
        &PlanInputs {
            caps,
            throttled: throttled.clone(),
            learned: crate::devices::learned(cfg),
        },
    )
}

/// How often the watcher looks at `stopping` when no link event arrives.
const WATCH_TICK: Duration = Duration::from_millis(500);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn ifindexes(plan: &super::ShapingPlan) -> HashMap<String, u32> {
    plan.links
        .iter()
        .filter_map(|l| crate::netlink::socket::ifindex(&l.device).map(|i| (l.device.clone(), i)))
        .collect()
}

/// Watches link events until shutdown and re-applies when a shaped device reappears.
fn watch(shared: Arc<Shared>) {
    let events = crate::netlink::links::LinkEvents::subscribe()
        .and_then(|e| e.set_timeout(WATCH_TICK).map(|()| e));
    let mut events = match events {
        Ok(e) => e,
        Err(e) => {
            log::warn!("shaping: cannot watch link events ({e}); a recreated device keeps no shaping until the next reload");
            return;
        }
    };
    let mut last_poll = std::time::Instant::now();
    while !shared.stopping.load(Ordering::SeqCst) {
        if last_poll.elapsed() >= COUNTER_POLL {
            last_poll = std::time::Instant::now();
            poll_data(&shared);
        }
        let batch = match events.wait() {
            Ok(b) => b,
            Err(e) => {
                log::warn!("shaping: link events: {e}");
                std::thread::sleep(std::time::Duration::from_secs(1));
                continue;
            }
        };
        for (name, idx) in batch {
            let plan = {
                let g = lock(&shared.applied);
                match g.as_ref() {
                    Some(a) if a.ifindexes.get(&name).is_some_and(|&old| old != idx) => {
                        a.plan.clone()
                    }
                    _ => continue,
                }
            };
            let _serial = lock(&shared.apply_lock);
            // Shutdown waits for an apply in flight, and none starts after it.
            if shared.stopping.load(Ordering::SeqCst) {
                return;
            }
            log::info!("shaping: {name} came back (ifindex {idx}); re-applying");
            let result = RouteSocket::open()
                .map_err(|e| e.to_string())
                .and_then(|mut s| exec::apply(&mut s, &plan).map_err(|e| e.to_string()));
            match result {
                Ok(r) => log::info!(
                    "shaping: re-applied after {name} came back ({} changes)",
                    r.changes
                ),
                Err(e) => log::error!("shaping: re-apply after {name} came back failed: {e}"),
            }
            if let Some(a) = lock(&shared.applied).as_mut() {
                a.ifindexes = ifindexes(&a.plan);
            }
        }
    }
}

/// The shaping subsystem.
pub struct Shaping {
    /// What the kernel offers, once probed.
    caps: Option<Capabilities>,
    /// Where `/status` reads what shaping did.
    sources: Option<Arc<crate::control::Sources>>,
    /// Shared with the link watcher.
    shared: Arc<Shared>,
    /// The watcher thread runs (started with the first shaper).
    watching: bool,
}

impl Shaping {
    pub fn new(
        sources: Option<Arc<crate::control::Sources>>,
        budgets: Option<Arc<Budgets>>,
    ) -> Self {
        Shaping {
            caps: None,
            sources,
            shared: Arc::new(Shared {
                budgets,
                ..Shared::default()
            }),
            watching: false,
        }
    }

    fn publish(&self, v: serde_json::Value) {
        if let Some(s) = &self.sources {
            s.set_shaping(v);
        }
    }
}

fn err(message: String) -> SubsystemError {
    SubsystemError {
        subsystem: "shaping",
        message,
    }
}

impl Subsystem for Shaping {
    fn name(&self) -> &'static str {
        "shaping"
    }

    fn reconcile<'a>(
        &'a mut self,
        config: &'a Arc<Config>,
        _shutdown: &'a Shutdown,
    ) -> BoxFuture<'a, Result<Reconciled, SubsystemError>> {
        Box::pin(async move {
            if config.shapers.is_empty() {
                *lock(&self.shared.applied) = None;
                self.publish(serde_json::json!({"enabled": false}));
                return Ok(Reconciled {
                    changes: 0,
                    summary: "off (no shaper section)".into(),
                });
            }
            let cfg = config.clone();
            let known = self.caps;
            let shared = self.shared.clone();
            let (caps, result) = tokio::task::spawn_blocking(move || {
                let mut sock =
                    RouteSocket::open().map_err(|e| err(format!("cannot open netlink: {e}")))?;
                let caps = match known {
                    Some(c) => c,
                    None => super::caps_cache::probe(&mut sock, &cfg.agent.runtime_dir)
                        .map(|(c, _)| c)
                        .map_err(|e| {
                            err(format!(
                                "cannot probe the kernel (hearth needs CAP_NET_ADMIN): {e}"
                            ))
                        })?,
                };
                let throttled = over_data(&shared);
                let p = plan_with(&cfg, caps, &throttled).map_err(|e| err(e.to_string()))?;
                let _serial = lock(&shared.apply_lock);
                let report = exec::apply(&mut sock, &p).map_err(|e| err(e.to_string()))?;
                // Counters of classes that were already there (shaping outlives restarts)
                // were charged by the previous run; start counting from here.
                let first = lock(&shared.seen).is_empty();
                charge(&shared, &mut sock, &p, first);
                *lock(&shared.throttled) = throttled;
                *lock(&shared.inputs) = Some((cfg.clone(), caps));
                *lock(&shared.applied) = Some(Applied {
                    ifindexes: ifindexes(&p),
                    plan: p.clone(),
                });
                Ok::<_, SubsystemError>((caps, (report, p.leaf)))
            })
            .await
            .map_err(|e| err(format!("apply task failed: {e}")))
            .and_then(|r| r)
            .inspect_err(|e| {
                if let Some(s) = &self.sources {
                    s.set_shaping_failed(&e.message);
                }
            })?;
            self.caps = Some(caps);
            if !self.watching {
                let shared = self.shared.clone();
                self.watching = std::thread::Builder::new()
                    .name("hearth-links".into())
                    .spawn(move || watch(shared))
                    .is_ok();
            }
            let (report, leaf) = result;
            self.publish(serde_json::json!({
                "enabled": true,
                "devices": report.devices,
                "leaf": leaf.map(|l| format!("{l:?}")),
                "capabilities": {"cake": caps.cake, "fq_codel": caps.fq_codel, "fw": caps.fw},
                "last_changes": report.changes,
            }));
            for a in &report.actions {
                log::debug!("shaping: {a}");
            }
            Ok(Reconciled {
                changes: report.changes,
                summary: format!(
                    "{} device(s) shaped ({}), leaf {}",
                    report.devices.len(),
                    report.devices.join(", "),
                    leaf.map(|l| format!("{l:?}")).unwrap_or_else(|| "-".into())
                ),
            })
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), SubsystemError>> {
        // Shaping stays in force while the agent restarts (procd respawn); `hearth apply
        // --remove` takes it down. What must not happen is the process exiting in the middle
        // of a watcher's re-apply (no rollback would run): stop the watcher and wait for an
        // apply in flight to finish.
        let shared = self.shared.clone();
        Box::pin(async move {
            shared.stopping.store(true, Ordering::SeqCst);
            tokio::task::spawn_blocking(move || drop(lock(&shared.apply_lock)))
                .await
                .map_err(|e| err(format!("waiting for an apply in flight failed: {e}")))
        })
    }
}
