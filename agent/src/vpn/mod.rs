//! VPN policy routing, planned (pure: config in, plan out).
//!
//! For every `config vpn`:
//!
//! - a routing table (`table`) whose default route leaves through the VPN link — directly on
//!   the link for point-to-point links such as WireGuard (`default dev wg0`, no gateway), via
//!   `gateway` otherwise — for IPv4 and IPv6 (an IPv4 gateway gives no IPv6 route: IPv6 then
//!   meets the kill switch instead of leaking);
//! - the kill switch (`kill_switch '1'`): `unreachable default` in the same table at metric
//!   [`KILL_METRIC`], so when the link or its route is gone, the VPN's traffic is dropped —
//!   never sent out of the WAN;
//! - rules at `rule_priority` selecting the table for every address of the VPN's devices
//!   (`from ADDR lookup TABLE`; a device belongs to a VPN through its own or its group's
//!   `vpn`) and for traffic hearth marks itself (`fwmark VALUE/MASK lookup TABLE`).
//!
//! In front of them, one rule per family keeps LAN-local destinations in `main`:
//! `lookup main suppress_prefixlength 0` one priority earlier — every route of `main` except
//! its default applies first, so a VPN device still reaches the printer, while its internet
//! traffic falls through to the VPN's table.
//!
//! Everything carries hearth's routing protocol number ([`RTPROT_HEARTH`]), which is how the
//! executor tells its rules and routes from anyone else's.

pub mod subsystem;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::config::Config;
pub use crate::netlink::fib::{Rule, RTPROT_HEARTH as PROTOCOL};
use crate::netlink::fib::{AF_INET, AF_INET6, RTPROT_HEARTH, TABLE_MAIN};

/// Metric of the kill switch's `unreachable default`: far behind any real default route
/// (iproute2 prints it as 4278198272).
pub const KILL_METRIC: u32 = 0xFF00_2000;

/// The default route a table should have, before ifindexes are known.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PlannedRoute {
    /// `default [via GATEWAY] dev INTERFACE`.
    Link {
        family: u8,
        interface: String,
        gateway: Option<IpAddr>,
    },
    /// `unreachable default metric KILL_METRIC`.
    KillSwitch { family: u8 },
}

/// One VPN's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePlan {
    /// The `config vpn` section.
    pub vpn: String,
    pub table: u32,
    /// The VPN netdev.
    pub interface: String,
    /// Its routes.
    pub routes: Vec<PlannedRoute>,
    /// Devices routed through it (section names), for status.
    pub devices: Vec<String>,
}

/// The whole policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VpnPlan {
    pub tables: Vec<TablePlan>,
    /// Every rule, sorted (priority, then family, then content).
    pub rules: Vec<Rule>,
}

impl VpnPlan {
    /// Tables hearth owns (its routes there are hearth's).
    pub fn table_ids(&self) -> BTreeSet<u32> {
        self.tables.iter().map(|t| t.table).collect()
    }
}

/// Plans the policy for `cfg`; `learned` adds run-time addresses per device section
/// (neighbour table, DHCP leases).
pub fn plan(cfg: &Config, learned: &BTreeMap<String, Vec<IpAddr>>) -> VpnPlan {
    let mut out = VpnPlan::default();
    let mut rules = BTreeSet::new();
    for v in &cfg.vpns {
        let mut routes = Vec::new();
        for family in [AF_INET, AF_INET6] {
            let gateway = v.gateway.filter(|g| fam(g) == family);
            // A gateway of the other family cannot carry this family: no route (the kill
            // switch, if on, drops it).
            if v.gateway.is_none() || gateway.is_some() {
                routes.push(PlannedRoute::Link {
                    family,
                    interface: v.interface.clone(),
                    gateway,
                });
            }
            if v.kill_switch {
                routes.push(PlannedRoute::KillSwitch { family });
            }
        }
        let rule = |family: u8| Rule {
            family,
            priority: v.rule_priority,
            table: v.table,
            src: None,
            fwmark: None,
            suppress_prefixlen: None,
            protocol: Some(RTPROT_HEARTH),
        };
        if v.fwmark.value != 0 {
            for family in [AF_INET, AF_INET6] {
                rules.insert(Rule {
                    fwmark: Some((v.fwmark.value, v.fwmark.mask)),
                    ..rule(family)
                });
            }
        }
        let mut devices = Vec::new();
        for d in &cfg.devices {
            if cfg.device_limits(d).vpn.as_deref() != Some(v.meta.name.as_str()) {
                continue;
            }
            devices.push(d.meta.name.clone());
            let addrs: BTreeSet<IpAddr> = d
                .ips
                .iter()
                .chain(learned.get(&d.meta.name).into_iter().flatten())
                .map(|a| crate::devices::canonical(*a))
                .collect();
            for a in addrs {
                let len = if a.is_ipv4() { 32 } else { 128 };
                rules.insert(Rule {
                    src: Some((a, len)),
                    ..rule(fam(&a))
                });
            }
        }
        out.tables.push(TablePlan {
            vpn: v.meta.name.clone(),
            table: v.table,
            interface: v.interface.clone(),
            routes,
            devices,
        });
    }
    if let Some(first) = cfg.vpns.iter().map(|v| v.rule_priority).min() {
        for family in [AF_INET, AF_INET6] {
            rules.insert(Rule {
                family,
                priority: first.saturating_sub(1),
                table: TABLE_MAIN,
                src: None,
                fwmark: None,
                suppress_prefixlen: Some(0),
                protocol: Some(RTPROT_HEARTH),
            });
        }
    }
    let mut rules: Vec<Rule> = rules.into_iter().collect();
    rules.sort_by(|a, b| {
        (a.priority, a.family)
            .cmp(&(b.priority, b.family))
            .then(a.cmp(b))
    });
    out.rules = rules;
    out
}

fn fam(a: &IpAddr) -> u8 {
    if a.is_ipv4() {
        AF_INET
    } else {
        AF_INET6
    }
}

/// Warnings about the config that the plan cannot act on yet.
pub fn warnings(cfg: &Config) -> Vec<String> {
    cfg.vpns
        .iter()
        .filter(|v| v.manage_link)
        .map(|v| {
            format!(
                "vpn '{}': manage_link '1' is not implemented in this build yet; create {} yourself (the policy and kill switch apply to it as it is)",
                v.meta.name, v.interface
            )
        })
        .collect()
}

/// The plan as JSON (`hearth apply --dry-run --json`, status, LuCI).
pub fn plan_json(p: &VpnPlan) -> serde_json::Value {
    serde_json::json!({
        "tables": p.tables.iter().map(|t| serde_json::json!({
            "vpn": t.vpn,
            "table": t.table,
            "interface": t.interface,
            "devices": t.devices,
            "routes": t.routes.iter().map(route_text).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "rules": p.rules.iter().map(Rule::describe).collect::<Vec<_>>(),
    })
}

fn route_text(r: &PlannedRoute) -> String {
    match r {
        PlannedRoute::Link {
            family,
            interface,
            gateway,
        } => format!(
            "{}default{} dev {interface}",
            if *family == AF_INET6 { "-6 " } else { "" },
            gateway.map(|g| format!(" via {g}")).unwrap_or_default()
        ),
        PlannedRoute::KillSwitch { family } => format!(
            "{}unreachable default metric {KILL_METRIC}",
            if *family == AF_INET6 { "-6 " } else { "" }
        ),
    }
}

/// The plan for people.
pub fn plan_text(p: &VpnPlan) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if p.tables.is_empty() {
        return out;
    }
    for t in &p.tables {
        let _ = writeln!(
            out,
            "vpn '{}': table {} via {} for {}",
            t.vpn,
            t.table,
            t.interface,
            if t.devices.is_empty() {
                "no device (marked traffic only)".to_string()
            } else {
                t.devices.join(", ")
            }
        );
        for r in &t.routes {
            let _ = writeln!(out, "  route {} table {}", route_text(r), t.table);
        }
    }
    for r in &p.rules {
        let _ = writeln!(out, "  {}", r.describe());
    }
    out
}
