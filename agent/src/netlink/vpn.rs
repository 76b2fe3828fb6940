//! Applying a [`VpnPlan`]: dump hearth's rules and routes, diff, apply the minimal change,
//! verify with a fresh dump, and put the previous state back if anything fails.
//!
//! Ownership: a rule or route is hearth's when it carries [`RTPROT_HEARTH`]; `--remove`
//! deletes exactly those. hearth also claims the default routes of the tables its VPNs name:
//! a default route someone else put in such a table is an error (named), not silently
//! replaced.
//!
//! A VPN link that is missing or down gets no route (the kernel refuses one and would remove
//! it anyway): the kill switch keeps holding, and the apply says so. When the link comes up,
//! applying again adds just that route.

use std::collections::BTreeSet;

use super::fib::{self, Route, RouteKind, RouteOp, Rule, AF_INET, AF_INET6, RTPROT_HEARTH};
use super::socket::{ifindex, NlError, RouteSocket};
use crate::vpn::{PlannedRoute, VpnPlan, KILL_METRIC};

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VpnReport {
    /// Kernel changes made.
    pub changes: usize,
    /// `ip rule` / `ip route` descriptions of each change, in order.
    pub actions: Vec<String>,
    /// Per VPN: `(name, interface, state)` where state is `up`, `down` or `missing`.
    pub links: Vec<(String, String, &'static str)>,
}

/// hearth's rules and routes as the kernel has them, plus foreign default routes in the
/// tables hearth claims.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub rules: Vec<Rule>,
    pub routes: Vec<Route>,
    pub foreign_routes: Vec<Route>,
}

/// Why an apply failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {cause}{}", if *.restored { "; the previous state was restored" } else { "" })]
pub struct VpnError {
    pub object: String,
    pub cause: String,
    pub restored: bool,
}

fn fail(object: impl Into<String>, cause: impl std::fmt::Display) -> VpnError {
    VpnError {
        object: object.into(),
        cause: cause.to_string(),
        restored: false,
    }
}

/// Whether `name` exists and is administratively up (`IFF_UP` in sysfs `flags`).
fn link_state(name: &str) -> &'static str {
    match std::fs::read_to_string(format!("/sys/class/net/{name}/flags")) {
        Ok(f) => {
            let flags = u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).unwrap_or(0);
            if flags & 1 != 0 {
                "up"
            } else {
                "down"
            }
        }
        Err(_) => "missing",
    }
}

/// Whether `name` has IPv6 (not disabled by `disable_ipv6`, and the stack is there).
fn ipv6_on(name: &str) -> bool {
    std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"))
        .map(|v| v.trim() == "0")
        .unwrap_or(false)
}

/// Dumps hearth's rules and the default routes of `tables` (and hearth's anywhere).
pub fn snapshot(sock: &mut RouteSocket, tables: &BTreeSet<u32>) -> Result<Snapshot, NlError> {
    let mut s = Snapshot::default();
    for family in [AF_INET, AF_INET6] {
        for m in sock.dump(fib::dump_rules(family))? {
            if let Some(r) = Rule::decode(&m)? {
                if r.protocol == Some(RTPROT_HEARTH) {
                    s.rules.push(r);
                }
            }
        }
        for m in sock.dump(fib::dump_routes(family))? {
            if let Some(r) = Route::decode(&m)? {
                if r.protocol == RTPROT_HEARTH {
                    s.routes.push(r);
                } else if tables.contains(&r.table) {
                    s.foreign_routes.push(r);
                }
            }
        }
    }
    Ok(s)
}

/// The routes `plan` wants now (ifindexes resolved; links that are down or missing get
/// none), and the state of each VPN link.
pub fn desired_routes(plan: &VpnPlan) -> (Vec<Route>, Vec<(String, String, &'static str)>) {
    let mut routes = Vec::new();
    let mut links = Vec::new();
    for t in &plan.tables {
        let state = link_state(&t.interface);
        links.push((t.vpn.clone(), t.interface.clone(), state));
        for r in &t.routes {
            match r {
                PlannedRoute::Link {
                    family,
                    interface,
                    gateway,
                } => {
                    let Some(oif) = ifindex(interface).filter(|_| state == "up") else {
                        continue;
                    };
                    // The kernel refuses IPv6 routes over a link with IPv6 off: IPv6 then
                    // meets the kill switch.
                    if *family == AF_INET6 && !ipv6_on(interface) {
                        continue;
                    }
                    routes.push(Route {
                        family: *family,
                        table: t.table,
                        kind: RouteKind::Unicast {
                            oif,
                            gateway: *gateway,
                        },
                        metric: None,
                        protocol: RTPROT_HEARTH,
                    });
                }
                PlannedRoute::KillSwitch { family } => routes.push(Route {
                    family: *family,
                    table: t.table,
                    kind: RouteKind::Unreachable,
                    metric: Some(KILL_METRIC),
                    protocol: RTPROT_HEARTH,
                }),
            }
        }
    }
    (routes, links)
}

/// One change, and how to undo it.
#[derive(Debug, Clone)]
enum Op {
    AddRoute(Route),
    DelRoute(Route),
    AddRule(Rule),
    DelRule(Rule),
}

impl Op {
    fn describe(&self) -> String {
        match self {
            Op::AddRoute(r) => format!("add {}", r.describe()),
            Op::DelRoute(r) => format!("delete {}", r.describe()),
            Op::AddRule(r) => format!("add {}", r.describe()),
            Op::DelRule(r) => format!("delete {}", r.describe()),
        }
    }

    fn message(&self) -> Vec<u8> {
        match self {
            Op::AddRoute(r) => r.encode(RouteOp::Add),
            Op::DelRoute(r) => r.encode(RouteOp::Delete),
            Op::AddRule(r) => r.encode(true),
            Op::DelRule(r) => r.encode(false),
        }
    }

    fn inverse(&self) -> Op {
        match self {
            Op::AddRoute(r) => Op::DelRoute(r.clone()),
            Op::DelRoute(r) => Op::AddRoute(r.clone()),
            Op::AddRule(r) => Op::DelRule(r.clone()),
            Op::DelRule(r) => Op::AddRule(r.clone()),
        }
    }
}

/// The metric the kernel gives a route (IPv6 routes default to 1024).
fn metric(r: &Route) -> u32 {
    r.metric
        .unwrap_or(if r.family == AF_INET6 { 1024 } else { 0 })
}

/// The changes from `have` to `want`: new routes, new rules (the tables are ready before a
/// rule points at them), then old rules, then old routes.
fn diff(want_routes: &[Route], want_rules: &[Rule], have: &Snapshot) -> Result<Vec<Op>, VpnError> {
    for w in want_routes {
        if let Some(f) = have
            .foreign_routes
            .iter()
            .find(|f| f.family == w.family && f.table == w.table && metric(f) == metric(w))
        {
            return Err(fail(
                format!("table {}", w.table),
                format!(
                    "it already has a default route hearth did not make ({}, protocol {}); give the vpn a table of its own or remove that route",
                    f.describe(),
                    f.protocol
                ),
            ));
        }
    }
    let mut ops = Vec::new();
    for w in want_routes {
        if !have.routes.iter().any(|h| w.is_met_by(h)) {
            ops.push(Op::AddRoute(w.clone()));
        }
    }
    for w in want_rules {
        if !have.rules.contains(w) {
            ops.push(Op::AddRule(w.clone()));
        }
    }
    for h in &have.rules {
        if !want_rules.contains(h) {
            ops.push(Op::DelRule(h.clone()));
        }
    }
    for h in &have.routes {
        if !want_routes.iter().any(|w| w.is_met_by(h)) {
            ops.push(Op::DelRoute(h.clone()));
        }
    }
    Ok(ops)
}

/// Runs `ops`; on the first refusal undoes what was done (in reverse) and reports.
fn run(sock: &mut RouteSocket, ops: &[Op], report: &mut VpnReport) -> Result<(), VpnError> {
    for (i, op) in ops.iter().enumerate() {
        if let Err(e) = sock.request(op.message()) {
            let mut restored = true;
            for done in ops[..i].iter().rev() {
                if sock.request(done.inverse().message()).is_err() {
                    restored = false;
                }
            }
            return Err(VpnError {
                object: op.describe(),
                cause: e.to_string(),
                restored,
            });
        }
        report.actions.push(op.describe());
    }
    Ok(())
}

/// Brings the kernel to `plan` with the fewest changes; verifies; rolls back on failure.
pub fn apply(sock: &mut RouteSocket, plan: &VpnPlan) -> Result<VpnReport, VpnError> {
    let tables = plan.table_ids();
    let have = snapshot(sock, &tables).map_err(|e| fail("dump of rules and routes", e))?;
    let (want_routes, links) = desired_routes(plan);
    let mut report = VpnReport {
        links,
        ..VpnReport::default()
    };
    let ops = diff(&want_routes, &plan.rules, &have)?;
    run(sock, &ops, &mut report)?;
    if !ops.is_empty() {
        let now = snapshot(sock, &tables).map_err(|e| fail("dump after applying", e))?;
        let missing: Vec<String> = want_routes
            .iter()
            .filter(|w| !now.routes.iter().any(|h| w.is_met_by(h)))
            .map(Route::describe)
            .chain(
                plan.rules
                    .iter()
                    .filter(|w| !now.rules.contains(w))
                    .map(Rule::describe),
            )
            .collect();
        if !missing.is_empty() {
            let undo: Vec<Op> = ops.iter().rev().map(Op::inverse).collect();
            let restored = run(sock, &undo, &mut VpnReport::default()).is_ok();
            return Err(VpnError {
                object: "verify".into(),
                cause: format!(
                    "after applying, the kernel does not show: {}",
                    missing.join("; ")
                ),
                restored,
            });
        }
    }
    report.changes = report.actions.len();
    Ok(report)
}

/// Deletes every rule and route hearth made (rules first, so nothing points at an emptied
/// table).
pub fn remove(sock: &mut RouteSocket) -> Result<VpnReport, VpnError> {
    let have = snapshot(sock, &BTreeSet::new()).map_err(|e| fail("dump of rules and routes", e))?;
    let ops: Vec<Op> = have
        .rules
        .iter()
        .cloned()
        .map(Op::DelRule)
        .chain(have.routes.iter().cloned().map(Op::DelRoute))
        .collect();
    let mut report = VpnReport::default();
    run(sock, &ops, &mut report)?;
    report.changes = report.actions.len();
    Ok(report)
}
