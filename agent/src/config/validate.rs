//! Checks that span sections: references, uniqueness, and option combinations.

use std::collections::HashMap;
use std::path::Path;

use super::error::ConfigError;
use super::model::*;
use super::values::{Fwmark, Mac};
use crate::uci::Package;

/// Builds errors that point at the line of a given option of a given section.
struct Reporter<'a> {
    pkg: &'a Package,
    path: &'a Path,
    errors: &'a mut Vec<ConfigError>,
}

impl Reporter<'_> {
    /// The UCI section behind `meta`.
    fn uci_section(&self, meta: &Meta) -> Option<&crate::uci::Section> {
        let r = meta.name.parse().ok()?;
        self.pkg.find(&r).map(|i| &self.pkg.sections[i])
    }

    /// Whether section `meta` sets `option` at all (even to values that failed to parse).
    fn has(&self, meta: &Meta, option: &str) -> bool {
        self.uci_section(meta)
            .is_some_and(|s| s.option(option).is_some())
    }

    /// Whether an earlier check already reported `option` of `meta` (a value that did not
    /// parse was replaced by its default: cross-checks on it would report phantom problems).
    fn failed(&self, meta: &Meta, option: &str) -> bool {
        self.errors.iter().any(|e| {
            e.option.as_deref() == Some(option)
                && e.section.as_ref().is_some_and(|(n, _)| *n == meta.name)
        })
    }

    /// Line of the first item of list `option` whose raw text satisfies `is_item`.
    fn item_line(&self, meta: &Meta, option: &str, is_item: impl Fn(&str) -> bool) -> u32 {
        self.uci_section(meta)
            .and_then(|s| s.option(option))
            .and_then(|o| {
                o.values
                    .iter()
                    .zip(&o.lines)
                    .find(|(v, _)| is_item(v))
                    .map(|(_, l)| *l)
            })
            .unwrap_or(meta.line)
    }

    /// Line of `option` in section `meta` (its last assignment), or of the section.
    fn line(&self, meta: &Meta, option: Option<&str>) -> u32 {
        match (self.uci_section(meta), option) {
            (Some(s), Some(o)) => s.option(o).map_or(s.line, |o| o.line()),
            _ => meta.line,
        }
    }

    /// An error about `option` (or the section) at `line`.
    fn at_line(&mut self, meta: &Meta, stype: &str, option: Option<&str>, line: u32, msg: String) {
        self.errors.push(ConfigError {
            path: self.path.to_path_buf(),
            line,
            section: Some((meta.name.clone(), stype.to_string())),
            option: option.map(str::to_string),
            message: msg,
        });
    }

    /// An error about `option` (or the section), on that option's line.
    fn at(&mut self, meta: &Meta, stype: &str, option: Option<&str>, msg: String) {
        let line = self.line(meta, option);
        self.at_line(meta, stype, option, line, msg);
    }

    fn opt(&mut self, meta: &Meta, stype: &str, option: &str, msg: String) {
        self.at(meta, stype, Some(option), msg);
    }
}

fn names<'a>(items: impl Iterator<Item = &'a Meta>) -> Vec<&'a str> {
    items.map(|m| m.name.as_str()).collect()
}

fn missing(kind: &str, name: &str, known: &[&str]) -> String {
    let hint = match super::suggest::closest(name, known) {
        Some(k) => format!(" (did you mean '{k}'?)"),
        None if known.is_empty() => format!(" (there are no '{kind}' sections)"),
        None => format!(" (known: {})", known.join(", ")),
    };
    format!("refers to {kind} '{name}', which does not exist{hint}")
}

/// Records `meta` as the first user of `key`; returns the first user when it was taken.
fn claim<'a, K: std::hash::Hash + Eq>(
    seen: &mut HashMap<K, &'a Meta>,
    key: K,
    meta: &'a Meta,
) -> Option<&'a Meta> {
    match seen.entry(key) {
        std::collections::hash_map::Entry::Occupied(e) => Some(e.get()),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(meta);
            None
        }
    }
}

/// "already used by device 'x' (line N)", or "listed twice" when the first user is itself.
fn taken(what: &str, kind: &str, first: &Meta, me: &Meta) -> String {
    if first.name == me.name {
        format!("{what} is listed twice")
    } else {
        format!(
            "{what} is already used by {kind} '{}' (line {})",
            first.name, first.line
        )
    }
}

/// Two fwmark rules collide when some packet mark matches both.
fn marks_overlap(a: &Fwmark, b: &Fwmark) -> bool {
    (a.value ^ b.value) & a.mask & b.mask == 0
}

pub fn cross_check(cfg: &Config, pkg: &Package, path: &Path, errors: &mut Vec<ConfigError>) {
    let mut r = Reporter { pkg, path, errors };
    let groups = names(cfg.groups.iter().map(|g| &g.meta));
    let vpns = names(cfg.vpns.iter().map(|v| &v.meta));
    let routes = names(cfg.routes.iter().map(|x| &x.meta));
    let endpoints = names(cfg.endpoints.iter().map(|e| &e.meta));
    let mut groups_known = groups.clone();
    if !groups_known.contains(&DEFAULT_GROUP) {
        groups_known.push(DEFAULT_GROUP);
    }

    // Shapers: one per WAN device; the LAN side is another device.
    let mut wan: HashMap<&str, &Meta> = HashMap::new();
    for s in &cfg.shapers {
        if s.device.is_empty() || r.failed(&s.meta, "device") {
            continue;
        }
        if let Some(first) = claim(&mut wan, s.device.as_str(), &s.meta) {
            let msg = format!(
                "device '{}' is already shaped by section '{}' (line {})",
                s.device, first.name, first.line
            );
            r.opt(&s.meta, "shaper", "device", msg);
        }
        if s.lan_device.as_deref() == Some(s.device.as_str()) {
            r.opt(
                &s.meta,
                "shaper",
                "lan_device",
                "must differ from 'device': per-device classes live on the LAN side".into(),
            );
        }
    }

    // References from groups and devices.
    let check_refs = |r: &mut Reporter,
                      meta: &Meta,
                      stype: &str,
                      route: &Option<String>,
                      vpn: &Option<String>| {
        if let Some(route) = route {
            if !routes.contains(&route.as_str()) {
                r.opt(
                    meta,
                    stype,
                    "downgrade_route",
                    missing("route", route, &routes),
                );
            }
        }
        if let Some(v) = vpn {
            if !vpns.contains(&v.as_str()) {
                r.opt(meta, stype, "vpn", missing("vpn", v, &vpns));
            }
        }
    };
    for g in &cfg.groups {
        let l = &g.limits;
        check_refs(&mut r, &g.meta, "group", &l.downgrade_route, &l.vpn);
        if l.on_exhaust == OnExhaust::Downgrade
            && l.downgrade_route.is_none()
            && !r.failed(&g.meta, "downgrade_route")
        {
            r.opt(
                &g.meta,
                "group",
                "on_exhaust",
                "'downgrade' needs option downgrade_route naming the route to use".into(),
            );
        }
    }

    let mut macs: HashMap<Mac, &Meta> = HashMap::new();
    let mut ips: HashMap<std::net::IpAddr, &Meta> = HashMap::new();
    for d in &cfg.devices {
        if !r.failed(&d.meta, "mac") {
            if let Some(first) = claim(&mut macs, d.mac, &d.meta) {
                let msg = taken(&format!("MAC {}", d.mac), "device", first, &d.meta);
                r.opt(&d.meta, "device", "mac", msg);
            }
        }
        for ip in &d.ips {
            if let Some(first) = claim(&mut ips, *ip, &d.meta) {
                let msg = taken(&format!("address {ip}"), "device", first, &d.meta);
                // The second occurrence within this device, or the first one in it otherwise.
                let nth = usize::from(first.name == d.meta.name);
                let lines: Vec<u32> = r
                    .uci_section(&d.meta)
                    .and_then(|s| s.option("ip"))
                    .map(|o| {
                        o.values
                            .iter()
                            .zip(&o.lines)
                            .filter(|(v, _)| v.parse::<std::net::IpAddr>().ok() == Some(*ip))
                            .map(|(_, l)| *l)
                            .collect()
                    })
                    .unwrap_or_default();
                let line = lines
                    .get(nth)
                    .or(lines.first())
                    .copied()
                    .unwrap_or(d.meta.line);
                r.at_line(&d.meta, "device", Some("ip"), line, msg);
            }
        }
        if !groups_known.contains(&d.group.as_str()) && !r.failed(&d.meta, "group") {
            r.opt(
                &d.meta,
                "device",
                "group",
                missing("group", &d.group, &groups_known),
            );
        }
        check_refs(
            &mut r,
            &d.meta,
            "device",
            &d.overrides.downgrade_route,
            &d.overrides.vpn,
        );
        let eff = cfg.device_limits(d);
        let group_failed = cfg.group(&d.group).is_some_and(|g| {
            r.failed(&g.meta, "downgrade_route") || r.failed(&g.meta, "on_exhaust")
        });
        if eff.on_exhaust == OnExhaust::Downgrade
            && eff.downgrade_route.is_none()
            && !r.failed(&d.meta, "downgrade_route")
            && !group_failed
        {
            r.opt(
                &d.meta,
                "device",
                "on_exhaust",
                "'downgrade' needs a downgrade_route (on the device or its group)".into(),
            );
        }
    }

    // VPNs: distinct interfaces, tables and marks; what manage_link needs.
    let mut tables: HashMap<u32, &Meta> = HashMap::new();
    let mut ifaces: HashMap<&str, &Meta> = HashMap::new();
    let mut marks: Vec<(&Fwmark, &Meta)> = Vec::new();
    for v in &cfg.vpns {
        if !r.failed(&v.meta, "table") {
            if let Some(first) = claim(&mut tables, v.table, &v.meta) {
                let msg = format!(
                    "table {} is already used by vpn '{}' (line {}); each VPN needs its own table",
                    v.table, first.name, first.line
                );
                r.opt(&v.meta, "vpn", "table", msg);
            }
        }
        if !r.failed(&v.meta, "fwmark") {
            if let Some((m, first)) = marks.iter().find(|(m, _)| marks_overlap(m, &v.fwmark)) {
                let msg = if **m == v.fwmark {
                    format!(
                        "fwmark {} is already used by vpn '{}' (line {})",
                        v.fwmark, first.name, first.line
                    )
                } else {
                    format!(
                        "fwmark {} also matches fwmark {} of vpn '{}' (line {}); marks must not overlap",
                        v.fwmark, m, first.name, first.line
                    )
                };
                r.opt(&v.meta, "vpn", "fwmark", msg);
            } else {
                marks.push((&v.fwmark, &v.meta));
            }
        }
        if !v.interface.is_empty() && !r.failed(&v.meta, "interface") {
            if let Some(first) = claim(&mut ifaces, v.interface.as_str(), &v.meta) {
                let msg = format!(
                    "interface '{}' is already used by vpn '{}' (line {})",
                    v.interface, first.name, first.line
                );
                r.opt(&v.meta, "vpn", "interface", msg);
            }
        }
        if v.manage_link {
            if v.private_key_file.is_none() && !r.has(&v.meta, "private_key_file") {
                r.opt(
                    &v.meta,
                    "vpn",
                    "private_key_file",
                    "is required with manage_link '1' (hearth configures the link itself)".into(),
                );
            }
            if v.addresses.is_empty() && !r.has(&v.meta, "address") {
                r.opt(
                    &v.meta,
                    "vpn",
                    "address",
                    "at least one address is required with manage_link '1'".into(),
                );
            }
            if !cfg.wireguard_peers.iter().any(|p| p.vpn == v.meta.name) {
                r.at(
                    &v.meta,
                    "vpn",
                    None,
                    "manage_link '1' but no wireguard_peer section refers to this vpn".into(),
                );
            }
        }
    }
    for p in &cfg.wireguard_peers {
        if p.vpn.is_empty() || r.failed(&p.meta, "vpn") {
            continue;
        }
        match cfg.vpns.iter().find(|v| v.meta.name == p.vpn) {
            None => r.opt(&p.meta, "wireguard_peer", "vpn", missing("vpn", &p.vpn, &vpns)),
            Some(v) if !v.manage_link => r.opt(
                &p.meta,
                "wireguard_peer",
                "vpn",
                format!(
                    "vpn '{}' has manage_link '0': its peers belong in /etc/config/network (netifd); set manage_link '1' for hearth to manage them",
                    p.vpn
                ),
            ),
            Some(_) => {}
        }
        if p.allowed_ips.is_empty() && !r.has(&p.meta, "allowed_ips") {
            r.opt(
                &p.meta,
                "wireguard_peer",
                "allowed_ips",
                "at least one entry is required (0.0.0.0/0 to send everything)".into(),
            );
        }
    }

    // Endpoints: one way to give the key; prices come in pairs, and are required as soon as a
    // money budget exists (an unpriced model would spend without counting).
    let money_budgets = crate::budget::limits(cfg)
        .iter()
        .any(|l| l.metric == crate::budget::Metric::Money);
    for e in &cfg.endpoints {
        if r.has(&e.meta, "api_key") && r.has(&e.meta, "api_key_file") {
            r.opt(
                &e.meta,
                "endpoint",
                "api_key",
                "set either api_key or api_key_file, not both".into(),
            );
        }
        match (
            r.has(&e.meta, "price_input"),
            r.has(&e.meta, "price_output"),
        ) {
            (true, false) => r.opt(
                &e.meta,
                "endpoint",
                "price_output",
                "is missing while price_input is set; give both prices (0 for free)".into(),
            ),
            (false, true) => r.opt(
                &e.meta,
                "endpoint",
                "price_input",
                "is missing while price_output is set; give both prices (0 for free)".into(),
            ),
            (false, false) if money_budgets => r.opt(
                &e.meta,
                "endpoint",
                "price_input",
                "is required because money budgets are configured (llm_day/llm_month): give price_input and price_output per 1M tokens, 0 for a free endpoint".into(),
            ),
            _ => {}
        }
    }

    // Routes: a pool of existing endpoints, a known group.
    for x in &cfg.routes {
        if !r.has(&x.meta, "endpoint") {
            r.opt(
                &x.meta,
                "route",
                "endpoint",
                "is required: list the endpoint sections this route sends to".into(),
            );
        }
        for e in &x.endpoints {
            if !endpoints.contains(&e.as_str()) {
                let msg = missing("endpoint", e, &endpoints);
                let line = r.item_line(&x.meta, "endpoint", |v| v == e);
                r.at_line(&x.meta, "route", Some("endpoint"), line, msg);
            }
        }
        if let Some(g) = &x.match_group {
            if !groups_known.contains(&g.as_str()) {
                r.opt(
                    &x.meta,
                    "route",
                    "match_group",
                    missing("group", g, &groups_known),
                );
            }
        }
    }

    if let Some(b) = &cfg.balancer {
        if b.fwmark != 0 && !r.failed(&b.meta, "fwmark") {
            let llm = Fwmark {
                value: b.fwmark,
                mask: u32::MAX,
            };
            if let Some(v) = cfg.vpns.iter().find(|v| marks_overlap(&v.fwmark, &llm)) {
                r.opt(
                    &b.meta,
                    "balancer",
                    "fwmark",
                    format!(
                        "{:#x} matches fwmark {} of vpn '{}': LLM upstream traffic would be routed into the VPN; pick another mark",
                        b.fwmark, v.fwmark, v.meta.name
                    ),
                );
            }
        }
        if cfg.endpoints.is_empty() {
            r.at(
                &b.meta,
                "balancer",
                None,
                "the balancer has no endpoint sections to send requests to".into(),
            );
        }
    }
}
