//! IP -> MAC from the kernel's neighbour table (ARP for IPv4, NDP for IPv6), over rtnetlink
//! (`RTM_GETNEIGH` dump) — never by running `ip neigh`.
//!
//! Lookups hit a cache; a miss refreshes the whole table, at most once per
//! [`REFRESH_INTERVAL`] (a dump of a home router's table takes well under a millisecond, and
//! a stranger on the LAN must not make every request re-read it).

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::config::Mac;

/// Least time between two table dumps caused by misses.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(2);

/// Reads the neighbour table: every entry with a usable link-layer address.
pub fn dump() -> io::Result<Vec<(IpAddr, Mac)>> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_DUMP | NLM_F_REQUEST;
    let mut req = NetlinkMessage::new(
        header,
        NetlinkPayload::from(RouteNetlinkMessage::GetNeighbour(
            NeighbourMessage::default(),
        )),
    );
    req.finalize();
    let mut buf = vec![0; req.header.length as usize];
    req.serialize(&mut buf[..]);
    socket.send(&buf, 0)?;

    let mut out = Vec::new();
    let mut rx = vec![0u8; 64 * 1024];
    // A dump ends with NLMSG_DONE; the bound only guards against a kernel that never says so.
    for _ in 0..10_000 {
        let n = socket.recv(&mut &mut rx[..], 0)?;
        let mut off = 0;
        while off < n {
            let msg: NetlinkMessage<RouteNetlinkMessage> = NetlinkMessage::deserialize(&rx[off..n])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(e) => {
                    return Err(io::Error::other(format!("neighbour dump refused: {e:?}")))
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(m)) => {
                    if let Some(entry) = entry(&m) {
                        out.push(entry);
                    }
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            off += len;
        }
    }
    Err(io::Error::other("neighbour dump did not end"))
}

/// An entry's (IP, MAC) if it is usable (resolved, not failed).
fn entry(m: &NeighbourMessage) -> Option<(IpAddr, Mac)> {
    if matches!(
        m.header.state,
        NeighbourState::Incomplete
            | NeighbourState::Failed
            | NeighbourState::Noarp
            | NeighbourState::None
    ) {
        return None;
    }
    let ip = m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => Some(IpAddr::V4(*v4)),
        NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => Some(IpAddr::V6(*v6)),
        _ => None,
    })?;
    let mac = m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(b) if b.len() == 6 => {
            Some(Mac([b[0], b[1], b[2], b[3], b[4], b[5]]))
        }
        _ => None,
    })?;
    Some((ip, mac))
}

/// A cached view of the neighbour table.
#[derive(Debug, Default)]
pub struct NeighborCache {
    /// IP -> MAC as of the last dump.
    entries: RwLock<HashMap<IpAddr, Mac>>,
    /// When the table was last dumped.
    refreshed: Mutex<Option<Instant>>,
}

impl NeighborCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The MAC of `ip`, refreshing the table on a miss (rate-limited).
    pub fn lookup(&self, ip: IpAddr) -> Option<Mac> {
        if let Some(m) = self.cached(ip) {
            return Some(m);
        }
        let due = {
            let mut last = match self.refreshed.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let due = last.is_none_or(|t| t.elapsed() >= REFRESH_INTERVAL);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            self.refresh();
        }
        self.cached(ip)
    }

    fn cached(&self, ip: IpAddr) -> Option<Mac> {
        match self.entries.read() {
            Ok(g) => g.get(&ip).copied(),
            Err(p) => p.into_inner().get(&ip).copied(),
        }
    }

    /// Re-reads the whole table now.
    pub fn refresh(&self) {
        match dump() {
            Ok(list) => {
                let map: HashMap<IpAddr, Mac> = list.into_iter().collect();
                match self.entries.write() {
                    Ok(mut g) => *g = map,
                    Err(p) => *p.into_inner() = map,
                }
            }
            Err(e) => log::warn!("devices: cannot read the neighbour table: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A veth pair whose far end sits in a namespace this test creates; removed on drop.
    struct Testbed {
        ns: String,
        host_if: String,
    }

    impl Testbed {
        fn create(tag: &str) -> Option<Testbed> {
            let ns = format!("hearth-nb-{tag}-{}", std::process::id());
            let host_if = format!("hnb{}", std::process::id() % 100_000);
            let run = |args: &[&str]| {
                Command::new("ip")
                    .args(args)
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false)
            };
            if !run(&["netns", "add", &ns]) {
                return None;
            }
            let bed = Testbed {
                ns: ns.clone(),
                host_if: host_if.clone(),
            };
            let ok = run(&["link", "add", &host_if, "type", "veth", "peer", "name", "nbpeer", "netns", &ns])
                && run(&["addr", "add", "10.231.77.1/24", "dev", &host_if])
                && run(&["link", "set", &host_if, "up"])
                && run(&["-n", &ns, "link", "set", "nbpeer", "address", "02:00:5e:77:00:02"])
                && run(&["-n", &ns, "addr", "add", "10.231.77.2/24", "dev", "nbpeer"])
                && run(&["-n", &ns, "link", "set", "nbpeer", "up"])
                // Traffic from the namespace makes the host learn its neighbour for real.
                && run(&["netns", "exec", &ns, "ping", "-c", "1", "-W", "5", "10.231.77.1"]);
            ok.then_some(bed)
        }
    }

    impl Drop for Testbed {
        fn drop(&mut self) {
            let _ = Command::new("ip")
                .args(["link", "del", &self.host_if])
                .status();
            let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        }
    }

    #[test]
    fn learns_macs_from_the_kernel_neighbour_table() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED learns_macs_from_the_kernel_neighbour_table: needs root to create a network namespace");
            return;
        }
        let Some(_bed) = Testbed::create("learn") else {
            panic!("could not build the veth/netns testbed (ip netns, veth and ping are needed)");
        };
        let cache = NeighborCache::new();
        let ip: IpAddr = "10.231.77.2".parse().unwrap();
        assert_eq!(cache.lookup(ip), Some("02:00:5e:77:00:02".parse().unwrap()));
        // A miss is answered from a fresh dump at most every REFRESH_INTERVAL.
        assert_eq!(cache.lookup("10.231.77.99".parse().unwrap()), None);
        let entries = dump().unwrap();
        assert!(entries.iter().any(|(i, _)| *i == ip), "{entries:?}");
    }
}
