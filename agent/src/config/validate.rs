//! Checks that span sections: references, uniqueness, and option combinations.

use std::collections::HashMap;
use std::path::Path;

use super::error::ConfigError;
use super::model::*;
use super::values::Mac;
use crate::uci::Package;

/// Builds errors that point at the line of a given option of a given section.
struct Reporter<'a> {
    pkg: &'a Package,
    path: &'a Path,
    errors: &'a mut Vec<ConfigError>,
}

impl Reporter<'_> {
    /// Line of `option` (item `item` of a list) in section `meta`, or of the section.
    fn line(&self, meta: &Meta, option: Option<&str>, item: usize) -> u32 {
        let sref = meta.name.parse().ok();
        let sec = sref
            .and_then(|r| self.pkg.find(&r))
            .map(|i| &self.pkg.sections[i]);
        match (sec, option) {
            (Some(s), Some(o)) => s
                .option(o)
                .and_then(|o| o.lines.get(item).copied())
                .unwrap_or(s.line),
            _ => meta.line,
        }
    }

    /// Whether section `meta` sets `option` at all (even to values that failed to parse).
    fn has(&self, meta: &Meta, option: &str) -> bool {
        meta.name
            .parse()
            .ok()
            .and_then(|r| self.pkg.find(&r))
            .is_some_and(|i| self.pkg.sections[i].option(option).is_some())
    }

    fn at(&mut self, meta: &Meta, stype: &str, option: Option<&str>, item: usize, msg: String) {
        let line = self.line(meta, option, item);
        self.errors.push(ConfigError {
            path: self.path.to_path_buf(),
            line,
            section: Some((meta.name.clone(), stype.to_string())),
            option: option.map(str::to_string),
            message: msg,
        });
    }

    fn opt(&mut self, meta: &Meta, stype: &str, option: &str, msg: String) {
        self.at(meta, stype, Some(option), 0, msg);
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

pub fn cross_check(cfg: &Config, pkg: &Package, path: &Path, errors: &mut Vec<ConfigError>) {
    let mut r = Reporter { pkg, path, errors };
    let groups = names(cfg.groups.iter().map(|g| &g.meta));
    let vpns = names(cfg.vpns.iter().map(|v| &v.meta));
    let routes = names(cfg.routes.iter().map(|x| &x.meta));
    let endpoints = names(cfg.endpoints.iter().map(|e| &e.meta));
    let mut groups_known = groups.clone();
    groups_known.push(DEFAULT_GROUP);

    // Shapers: one per WAN device; the LAN side is another device.
    let mut wan: HashMap<&str, &Meta> = HashMap::new();
    for s in &cfg.shapers {
        if s.device.is_empty() {
            continue;
        }
        if let Some(first) = wan.insert(&s.device, &s.meta) {
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

    // Limits of groups and devices.
    let check_limits = |r: &mut Reporter, meta: &Meta, stype: &str, l: &LimitOverrides| {
        if let Some(route) = &l.downgrade_route {
            if !routes.contains(&route.as_str()) {
                r.opt(
                    meta,
                    stype,
                    "downgrade_route",
                    missing("route", route, &routes),
                );
            }
        }
        if let Some(v) = &l.vpn {
            if !vpns.contains(&v.as_str()) {
                r.opt(meta, stype, "vpn", missing("vpn", v, &vpns));
            }
        }
    };
    for g in &cfg.groups {
        let l = &g.limits;
        let as_overrides = LimitOverrides {
            downgrade_route: l.downgrade_route.clone(),
            vpn: l.vpn.clone(),
            ..Default::default()
        };
        check_limits(&mut r, &g.meta, "group", &as_overrides);
        if l.on_exhaust == OnExhaust::Downgrade && l.downgrade_route.is_none() {
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
        if d.mac.0 != [0; 6] {
            if let Some(first) = macs.insert(d.mac, &d.meta) {
                let msg = format!(
                    "MAC {} is already used by device '{}' (line {})",
                    d.mac, first.name, first.line
                );
                r.opt(&d.meta, "device", "mac", msg);
            }
        }
        for (i, ip) in d.ips.iter().enumerate() {
            if let Some(first) = ips.insert(*ip, &d.meta) {
                let msg = format!(
                    "address {ip} is already used by device '{}' (line {})",
                    first.name, first.line
                );
                r.at(&d.meta, "device", Some("ip"), i, msg);
            }
        }
        if !groups_known.contains(&d.group.as_str()) {
            r.opt(
                &d.meta,
                "device",
                "group",
                missing("group", &d.group, &groups),
            );
        }
        check_limits(&mut r, &d.meta, "device", &d.overrides);
        let eff = cfg.device_limits(d);
        if eff.on_exhaust == OnExhaust::Downgrade && eff.downgrade_route.is_none() {
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
    let mut marks: HashMap<u32, &Meta> = HashMap::new();
    let mut ifaces: HashMap<&str, &Meta> = HashMap::new();
    for v in &cfg.vpns {
        if let Some(first) = tables.insert(v.table, &v.meta) {
            let msg = format!(
                "table {} is already used by vpn '{}' (line {}); each VPN needs its own table",
                v.table, first.name, first.line
            );
            r.opt(&v.meta, "vpn", "table", msg);
        }
        if let Some(first) = marks.insert(v.fwmark.value, &v.meta) {
            let msg = format!(
                "fwmark {} is already used by vpn '{}' (line {})",
                v.fwmark, first.name, first.line
            );
            r.opt(&v.meta, "vpn", "fwmark", msg);
        }
        if !v.interface.is_empty() {
            if let Some(first) = ifaces.insert(&v.interface, &v.meta) {
                let msg = format!(
                    "interface '{}' is already used by vpn '{}' (line {})",
                    v.interface, first.name, first.line
                );
                r.opt(&v.meta, "vpn", "interface", msg);
            }
        }
        if v.manage_link {
            if v.private_key_file.is_none() {
                r.opt(
                    &v.meta,
                    "vpn",
                    "private_key_file",
                    "is required with manage_link '1' (hearth configures the link itself)".into(),
                );
            }
            if v.addresses.is_empty() {
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
                    0,
                    "manage_link '1' but no wireguard_peer section refers to this vpn".into(),
                );
            }
        }
    }
    for p in &cfg.wireguard_peers {
        if p.vpn.is_empty() {
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
        if p.allowed_ips.is_empty() {
            r.opt(
                &p.meta,
                "wireguard_peer",
                "allowed_ips",
                "at least one entry is required (0.0.0.0/0 to send everything)".into(),
            );
        }
    }

    // Endpoints: one way to give the key; prices come in pairs.
    for e in &cfg.endpoints {
        if e.api_key.is_some() && e.api_key_file.is_some() {
            r.opt(
                &e.meta,
                "endpoint",
                "api_key",
                "set either api_key or api_key_file, not both".into(),
            );
        }
        match (e.price_input, e.price_output) {
            (Some(_), None) => r.opt(
                &e.meta,
                "endpoint",
                "price_output",
                "is missing while price_input is set; give both prices (0 for free)".into(),
            ),
            (None, Some(_)) => r.opt(
                &e.meta,
                "endpoint",
                "price_input",
                "is missing while price_output is set; give both prices (0 for free)".into(),
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
        for (i, e) in x.endpoints.iter().enumerate() {
            if !endpoints.contains(&e.as_str()) {
                let msg = missing("endpoint", e, &endpoints);
                r.at(&x.meta, "route", Some("endpoint"), i, msg);
            }
        }
        if let Some(g) = &x.match_group {
            if !groups_known.contains(&g.as_str()) {
                r.opt(
                    &x.meta,
                    "route",
                    "match_group",
                    missing("group", g, &groups),
                );
            }
        }
    }

    if let Some(b) = &cfg.balancer {
        if cfg.endpoints.is_empty() {
            r.at(
                &b.meta,
                "balancer",
                None,
                0,
                "the balancer has no endpoint sections to send requests to".into(),
            );
        }
    }
}
