//! Who is asking? Source IP -> MAC -> device section -> group.
//!
//! The identity labels every LLM request (logs, metrics, budgets) and is the key `ip_hash`
//! sticks on. A device is matched by MAC when the MAC is known (the neighbour table, filled
//! in by the caller), else by a configured `ip`; anyone else is in the `default` group.

use std::net::IpAddr;

pub mod leases;
pub mod neighbors;

use crate::config::{Config, Mac, DEFAULT_GROUP};

/// The identity of a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Source address (IPv4-mapped IPv6 shown as IPv4).
    pub ip: IpAddr,
    /// Link-layer address, when the neighbour table knows it.
    pub mac: Option<Mac>,
    /// The device section, for known devices.
    pub device: Option<String>,
    /// The group budgets and routes apply to.
    pub group: String,
    /// The host name from the DHCP leases, when known.
    pub hostname: Option<String>,
}

impl Identity {
    /// A stable key for stickiness: the device, else the MAC, else the address.
    pub fn key(&self) -> String {
        match (&self.device, &self.mac) {
            (Some(d), _) => format!("device:{d}"),
            (None, Some(m)) => format!("mac:{m}"),
            _ => format!("ip:{}", self.ip),
        }
    }
}

/// `::ffff:a.b.c.d` -> `a.b.c.d`; other addresses unchanged.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Resolves a client to its device and group.
pub fn identify(cfg: &Config, ip: IpAddr, mac: Option<Mac>) -> Identity {
    let ip = canonical(ip);
    let device = mac
        .and_then(|m| cfg.devices.iter().find(|d| d.mac == m))
        .or_else(|| cfg.devices.iter().find(|d| d.ips.contains(&ip)));
    Identity {
        ip,
        mac: mac.or(device.map(|d| d.mac)),
        device: device.map(|d| d.meta.name.clone()),
        group: device.map_or_else(|| DEFAULT_GROUP.to_string(), |d| d.group.clone()),
        hostname: None,
    }
}

/// Addresses the neighbour table knows for each configured device (by MAC), besides the
/// configured ones: what policy routing and shaping classify by at run time. Link-local
/// IPv6 addresses are left out (they never leave the LAN).
pub fn learned(cfg: &Config) -> std::collections::BTreeMap<String, Vec<IpAddr>> {
    let mut out: std::collections::BTreeMap<String, Vec<IpAddr>> = Default::default();
    let Ok(entries) = neighbors::dump() else {
        return out;
    };
    for (ip, mac) in entries {
        let ip = canonical(ip);
        if matches!(ip, IpAddr::V6(v) if (v.segments()[0] & 0xffc0) == 0xfe80) {
            continue;
        }
        if let Some(d) = cfg.devices.iter().find(|d| d.mac == mac) {
            let list = out.entry(d.meta.name.clone()).or_default();
            if !list.contains(&ip) {
                list.push(ip);
            }
        }
    }
    for list in out.values_mut() {
        list.sort();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_by_mac_then_ip_else_default() {
        let doc = crate::uci::Document::parse(
            "h",
            "config group kids\nconfig device tab\n option mac 02:00:00:00:00:01\n list ip 10.0.0.5\n option group kids\n",
        )
        .unwrap();
        let cfg = crate::config::from_package(doc.package(), "t".as_ref()).unwrap();
        let by_ip = identify(&cfg, "::ffff:10.0.0.5".parse().unwrap(), None);
        assert_eq!(by_ip.device.as_deref(), Some("tab"));
        assert_eq!(by_ip.group, "kids");
        assert_eq!(by_ip.ip, "10.0.0.5".parse::<IpAddr>().unwrap());
        let by_mac = identify(
            &cfg,
            "10.0.0.99".parse().unwrap(),
            Some("02:00:00:00:00:01".parse().unwrap()),
        );
        assert_eq!(by_mac.device.as_deref(), Some("tab"));
        let stranger = identify(&cfg, "10.0.0.7".parse().unwrap(), None);
        assert_eq!(
            (stranger.device.as_deref(), stranger.group.as_str()),
            (None, "default")
        );
        assert_eq!(stranger.key(), "ip:10.0.0.7");
    }
}
