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
    // Links hearth manages first: the routes need them.
    let mut link_actions = Vec::new();
    for t in &plan.tables {
        if let Some(m) = &t.managed {
            link_actions.extend(ensure_wireguard(sock, t, m)?);
        }
    }
    let tables = plan.table_ids();
    let have = snapshot(sock, &tables).map_err(|e| fail("dump of rules and routes", e))?;
    let (want_routes, links) = desired_routes(plan);
    let mut report = VpnReport {
        links,
        actions: link_actions,
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

// === WireGuard links hearth manages ===

/// The private key from `path`: base64 as `wg genkey` writes it. A file others may read is
/// accepted with a warning (the key is never logged or shown).
pub fn read_private_key(path: &std::path::Path) -> Result<super::wireguard::Key, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.permissions().mode() & 0o044 != 0 {
        log::warn!(
            "{}: the WireGuard private key is readable by others (mode {:o}); chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    super::wireguard::Key::from_base64(&text).ok_or_else(|| {
        format!(
            "{}: not a WireGuard key (expected the 44 base64 characters `wg genkey` prints)",
            path.display()
        )
    })
}

/// What the kernel has for a WireGuard link: `None` when the link is not WireGuard (or the
/// kernel has none).
pub fn wireguard_state(ifname: &str) -> Option<super::wireguard::DeviceState> {
    use super::wireguard as wg;
    let mut g = RouteSocket::open_generic().ok()?;
    let fam = g.query(wg::get_family("wireguard")).ok()?;
    let id = wg::family_id(fam.first()?).ok()?;
    let parts = g.dump(wg::get_device(id, ifname)).ok()?;
    wg::decode_device(&parts).ok()
}

/// Creates and configures the WireGuard link of `t` (`manage_link '1'`): the link, its key,
/// port and peers (replaced as a set, the link stays up), its addresses, up. Returns what it
/// changed.
pub fn ensure_wireguard(
    sock: &mut RouteSocket,
    t: &crate::vpn::TablePlan,
    m: &crate::vpn::ManagedLink,
) -> Result<Vec<String>, VpnError> {
    use super::wireguard as wg;
    use std::net::ToSocketAddrs;
    let name = &t.interface;
    let mut done = Vec::new();
    let key =
        read_private_key(&m.private_key_file).map_err(|e| fail(format!("vpn '{}'", t.vpn), e))?;
    let mut peers = Vec::new();
    for p in &m.peers {
        let public_key = wg::Key::from_base64(&p.public_key).ok_or_else(|| {
            fail(
                format!("vpn '{}' peer", t.vpn),
                "the public key is not 44 base64 characters",
            )
        })?;
        let endpoint = match &p.endpoint {
            None => None,
            Some((host, port)) => Some(
                (host.as_str(), *port)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| {
                        fail(
                            format!("vpn '{}' peer {}", t.vpn, p.public_key),
                            format!("cannot resolve the endpoint {host}:{port}"),
                        )
                    })?,
            ),
        };
        peers.push(wg::PeerConfig {
            public_key,
            endpoint,
            keepalive: p.keepalive,
            allowed_ips: p.allowed_ips.clone(),
        });
    }
    let want = wg::DeviceConfig {
        ifname: name.clone(),
        private_key: key,
        listen_port: m.listen_port,
        // The tunnel's own packets carry no mark: they leave by the main table (a mark that
        // selects the VPN table would loop them into the tunnel).
        fwmark: 0,
        peers,
    };
    let created = if ifindex(name).is_none() {
        let msg = super::tc::link::link_add(name, "wireguard")
            .map_err(|e| fail(format!("vpn '{}'", t.vpn), e))?;
        sock.request(msg).map_err(|e| {
            let hint = if e.errno() == Some(95) || e.errno() == Some(2) {
                " (the kernel has no WireGuard: install kmod-wireguard)"
            } else {
                ""
            };
            fail(
                format!("create wireguard link {name}"),
                format!("{e}{hint}"),
            )
        })?;
        done.push(format!("create wireguard link {name}"));
        true
    } else {
        false
    };
    let undo = |sock: &mut RouteSocket, e: VpnError| {
        if created {
            if let Some(i) = ifindex(name) {
                let _ = sock.request(super::shaping::link_del(i));
            }
        }
        e
    };
    let mut g = RouteSocket::open_generic().map_err(|e| undo(sock, fail("generic netlink", e)))?;
    let family = g
        .query(wg::get_family("wireguard"))
        .ok()
        .and_then(|m| m.first().and_then(|m| wg::family_id(m).ok()))
        .ok_or_else(|| {
            undo(
                sock,
                fail(
                    format!("configure {name}"),
                    "the kernel has no WireGuard family (kmod-wireguard)",
                ),
            )
        })?;
    let have = g
        .dump(wg::get_device(family, name))
        .ok()
        .and_then(|p| wg::decode_device(&p).ok());
    if !have.is_some_and(|h| h.matches(&want)) {
        g.request(wg::set_device(family, &want))
            .map_err(|e| undo(sock, fail(format!("configure wireguard {name}"), e)))?;
        done.push(format!(
            "configure wireguard {name}: port {}, {} peer(s)",
            m.listen_port.map_or("any".to_string(), |p| p.to_string()),
            want.peers.len()
        ));
    }
    let idx = ifindex(name).ok_or_else(|| fail(name.clone(), "the link vanished"))?;
    let have_addrs =
        addresses(sock, idx).map_err(|e| undo(sock, fail(format!("addresses of {name}"), e)))?;
    for (a, len) in &m.addresses {
        if !have_addrs.contains(&(*a, *len)) {
            sock.request(wg::addr_add(idx, *a, *len))
                .map_err(|e| undo(sock, fail(format!("add address {a}/{len} to {name}"), e)))?;
            done.push(format!("add address {a}/{len} to {name}"));
        }
    }
    if link_state(name) != "up" {
        sock.request(super::tc::link::link_set_up(idx))
            .map_err(|e| undo(sock, fail(format!("set {name} up"), e)))?;
        done.push(format!("set {name} up"));
    }
    Ok(done)
}

/// The addresses of link `ifindex` (RTM_GETADDR dump).
fn addresses(sock: &mut RouteSocket, ifindex: u32) -> Result<Vec<(std::net::IpAddr, u8)>, NlError> {
    let mut w = super::tc::wire::Writer::new(
        22,
        super::tc::wire::NLM_F_REQUEST | super::tc::wire::NLM_F_DUMP,
    );
    w.raw(&[0u8; 8]);
    let mut out = Vec::new();
    for m in sock.dump(w.finish())? {
        let Some(hdr) = m.get(16..24) else { continue };
        let (fam, len) = (hdr[0], hdr[1]);
        let idx = u32::from_ne_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        if idx != ifindex {
            continue;
        }
        for a in super::tc::wire::Attrs::new(&m[24..], "address") {
            let Ok(a) = a else { break };
            // IFA_LOCAL (2), else IFA_ADDRESS (1).
            if a.ty == 2 || (a.ty == 1 && fam == AF_INET6) {
                let ip = match a.payload.len() {
                    4 => <[u8; 4]>::try_from(a.payload)
                        .ok()
                        .map(std::net::IpAddr::from),
                    16 => <[u8; 16]>::try_from(a.payload)
                        .ok()
                        .map(std::net::IpAddr::from),
                    _ => None,
                };
                if let Some(ip) = ip {
                    if !out.contains(&(ip, len)) {
                        out.push((ip, len));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Per VPN whose link is WireGuard: its public key, port and peers with their last
/// handshake (Unix seconds, 0 = never) and byte counters — for status and `hearth apply`.
pub fn wireguard_report(plan: &VpnPlan) -> serde_json::Value {
    let list: Vec<serde_json::Value> = plan
        .tables
        .iter()
        .filter_map(|t| {
            let st = wireguard_state(&t.interface)?;
            Some(serde_json::json!({
                "vpn": t.vpn,
                "interface": t.interface,
                "public_key": st.public_key.map(|k| k.to_base64()),
                "listen_port": st.listen_port,
                "peers": st.peers.iter().map(|p| serde_json::json!({
                    "public_key": p.public_key.map(|k| k.to_base64()),
                    "endpoint": p.endpoint.map(|e| e.to_string()),
                    "allowed_ips": p.allowed_ips.iter().map(|(a, l)| format!("{a}/{l}")).collect::<Vec<_>>(),
                    "last_handshake": p.last_handshake,
                    "rx_bytes": p.rx_bytes,
                    "tx_bytes": p.tx_bytes,
                })).collect::<Vec<_>>(),
            }))
        })
        .collect();
    serde_json::Value::Array(list)
}
