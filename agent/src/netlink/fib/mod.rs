//! Policy routing messages as plain bytes: FIB rules (`ip rule`) and routes (`ip route`),
//! encoded into complete rtnetlink requests and decoded from dump replies — no sockets, no I/O.
//! Layouts: `shared/netlink/NOTES.md` §7 and §8; every encoder is proved byte-for-byte against
//! an iproute2 6.1 capture in `vectors/` (see `tests.rs`).
//!
//! hearth marks what it creates with its own routing protocol number ([`RTPROT_HEARTH`]) —
//! `rtm_protocol` on routes, `FRA_PROTOCOL` on rules — so it can tell its objects from
//! netifd's, mwan3's or pbr's, and removes only its own.

#[cfg(all(test, target_endian = "little"))]
mod tests;

use std::net::IpAddr;

use super::tc::wire::{self, Attrs, Writer, NLMSG_HDRLEN};
use super::tc::DecodeError;

pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_GETROUTE: u16 = 26;
pub const RTM_NEWRULE: u16 = 32;
pub const RTM_DELRULE: u16 = 33;
pub const RTM_GETRULE: u16 = 34;

pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

/// The routing protocol number hearth's routes and rules carry (`ip route show proto 104`).
/// Unassigned in iproute2's `rt_protos` (which lists 0–18, 42, 99, 186–192).
pub const RTPROT_HEARTH: u8 = 104;
/// What `ip route add` sends when no `proto` is given.
pub const RTPROT_BOOT: u8 = 3;
/// `RT_TABLE_MAIN`.
pub const TABLE_MAIN: u32 = 254;

// fib_rule_hdr / FRA_* (NOTES §7).
const FR_ACT_TO_TBL: u8 = 1;
const FRA_SRC: u16 = 2;
const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_SUPPRESS_PREFIXLEN: u16 = 14;
const FRA_TABLE: u16 = 15;
const FRA_FWMASK: u16 = 16;
const FRA_PROTOCOL: u16 = 21;

// rtmsg / RTA_* (NOTES §8).
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_TABLE: u16 = 15;
const RTN_UNICAST: u8 = 1;
const RTN_UNREACHABLE: u8 = 7;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;

/// Bytes of `fib_rule_hdr` and of `rtmsg` (both 12).
const HDR_LEN: usize = 12;

fn family_of(a: &IpAddr) -> u8 {
    if a.is_ipv4() {
        AF_INET
    } else {
        AF_INET6
    }
}

fn addr_bytes(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

fn read_addr(b: &[u8], family: u8, what: &'static str) -> Result<IpAddr, DecodeError> {
    match (family, b.len()) {
        (AF_INET, 4) => Ok(IpAddr::from(
            <[u8; 4]>::try_from(b).expect("length checked"),
        )),
        (AF_INET6, 16) => Ok(IpAddr::from(
            <[u8; 16]>::try_from(b).expect("length checked"),
        )),
        _ => Err(DecodeError::Invalid {
            what,
            detail: format!("an address of {} bytes for family {family}", b.len()),
        }),
    }
}

/// Splits a rule or route message into its 12-byte header and attributes.
fn split<'a>(
    msg: &'a [u8],
    types: &[u16],
    what: &'static str,
) -> Result<(u16, [u8; 12], Attrs<'a>), DecodeError> {
    let h = wire::header(msg)?;
    if !types.contains(&h.ty) {
        return Err(DecodeError::UnexpectedType {
            expected: what,
            got: h.ty,
        });
    }
    let msg = &msg[..h.len as usize];
    let hdr = wire::read_array::<HDR_LEN>(msg, NLMSG_HDRLEN, what)?;
    Ok((h.ty, hdr, Attrs::new(&msg[NLMSG_HDRLEN + HDR_LEN..], what)))
}

/// A dump request (`ip rule show` / `ip route show table all`) for one family.
fn dump_request(ty: u16, family: u8) -> Vec<u8> {
    let mut w = Writer::new(ty, wire::NLM_F_REQUEST | wire::NLM_F_DUMP);
    let mut hdr = [0u8; HDR_LEN];
    hdr[0] = family;
    w.raw(&hdr);
    w.finish()
}

/// `ip -f FAMILY rule show` as a request.
pub fn dump_rules(family: u8) -> Vec<u8> {
    dump_request(RTM_GETRULE, family)
}

/// `ip -f FAMILY route show table all` as a request.
pub fn dump_routes(family: u8) -> Vec<u8> {
    dump_request(RTM_GETROUTE, family)
}

// === rules ===

/// One FIB rule: `[from SRC] [fwmark M/MASK] lookup TABLE [suppress_prefixlength N] priority P`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rule {
    /// [`AF_INET`] or [`AF_INET6`].
    pub family: u8,
    pub priority: u32,
    /// Table looked up.
    pub table: u32,
    /// Source prefix.
    pub src: Option<(IpAddr, u8)>,
    /// Firewall mark and mask.
    pub fwmark: Option<(u32, u32)>,
    /// `suppress_prefixlength N`: ignore routes with a prefix this short or shorter (0: the
    /// default route) — keeps LAN-local destinations in `main` while the default goes
    /// elsewhere.
    pub suppress_prefixlen: Option<u32>,
    /// `FRA_PROTOCOL`; `None` sends none (as iproute2 does).
    pub protocol: Option<u8>,
}

impl Rule {
    /// `ip rule add|del ...` as one message. Attribute order is iproute2's for the same
    /// command line: SRC, FWMARK, FWMASK, TABLE (ids ≥ 256), PRIORITY, SUPPRESS_PREFIXLEN,
    /// PROTOCOL.
    pub fn encode(&self, add: bool) -> Vec<u8> {
        let (ty, flags) = if add {
            (
                RTM_NEWRULE,
                wire::NLM_F_REQUEST | wire::NLM_F_ACK | wire::NLM_F_EXCL | wire::NLM_F_CREATE,
            )
        } else {
            (RTM_DELRULE, wire::NLM_F_REQUEST | wire::NLM_F_ACK)
        };
        let mut w = Writer::new(ty, flags);
        // fib_rule_hdr: family, dst_len, src_len, tos, table, res1, res2, action, flags.
        let mut hdr = [0u8; HDR_LEN];
        hdr[0] = self.family;
        hdr[2] = self.src.map_or(0, |(_, l)| l);
        hdr[4] = if self.table < 256 {
            self.table as u8
        } else {
            0
        };
        // iproute2 sends no action when deleting.
        hdr[7] = if add { FR_ACT_TO_TBL } else { 0 };
        w.raw(&hdr);
        if let Some((a, _)) = &self.src {
            w.attr(FRA_SRC, &addr_bytes(a));
        }
        if let Some((mark, mask)) = self.fwmark {
            w.attr_u32(FRA_FWMARK, mark);
            w.attr_u32(FRA_FWMASK, mask);
        }
        if self.table >= 256 {
            w.attr_u32(FRA_TABLE, self.table);
        }
        w.attr_u32(FRA_PRIORITY, self.priority);
        if let Some(n) = self.suppress_prefixlen {
            w.attr_u32(FRA_SUPPRESS_PREFIXLEN, n);
        }
        if let Some(p) = self.protocol {
            w.attr(FRA_PROTOCOL, &[p]);
        }
        w.finish()
    }

    /// One part of a rule dump (or a request). Rules hearth does not model (other actions,
    /// `iif`, `to` prefixes, …) come back as `Ok(None)`: they are never hearth's.
    pub fn decode(msg: &[u8]) -> Result<Option<Rule>, DecodeError> {
        const WHAT: &str = "RTM_NEWRULE";
        let (_, hdr, attrs) = split(msg, &[RTM_NEWRULE, RTM_DELRULE], WHAT)?;
        let (family, dst_len, src_len, action) = (hdr[0], hdr[1], hdr[2], hdr[7]);
        let mut r = Rule {
            family,
            priority: 0,
            table: u32::from(hdr[4]),
            src: None,
            fwmark: None,
            suppress_prefixlen: None,
            protocol: None,
        };
        let mut mark = None;
        let mut mask = None;
        let mut foreign = dst_len != 0 || (action != FR_ACT_TO_TBL && action != 0);
        for a in attrs {
            let a = a?;
            match a.ty {
                FRA_SRC => r.src = Some((read_addr(a.payload, family, WHAT)?, src_len)),
                FRA_PRIORITY => r.priority = a.u32()?,
                FRA_TABLE => r.table = a.u32()?,
                FRA_FWMARK => mark = Some(a.u32()?),
                FRA_FWMASK => mask = Some(a.u32()?),
                FRA_SUPPRESS_PREFIXLEN => {
                    let v = a.u32()?;
                    // The kernel dumps -1 for "not set".
                    r.suppress_prefixlen = (v != u32::MAX).then_some(v);
                }
                FRA_PROTOCOL => r.protocol = a.payload.first().copied(),
                // iif/oif names, goto, flow, uid/port ranges…: not a rule hearth makes.
                3 | 4 | 11 | 12 | 13 | 17 | 19 | 20 | 22 | 23 | 24 => foreign = true,
                _ => {}
            }
        }
        if let Some(m) = mark.filter(|m| *m != 0) {
            r.fwmark = Some((m, mask.unwrap_or(u32::MAX)));
        }
        Ok((!foreign).then_some(r))
    }
}

// === routes ===

/// What a route does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteKind {
    /// Out of `oif`, via `gateway` or (none) directly on the link — a point-to-point link such
    /// as WireGuard has no gateway.
    Unicast { oif: u32, gateway: Option<IpAddr> },
    /// Drop with "network unreachable" (the kill switch).
    Unreachable,
}

/// A default route in a table (hearth's tables hold only default routes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    pub family: u8,
    pub table: u32,
    pub kind: RouteKind,
    /// `metric` (`RTA_PRIORITY`); `None` = the kernel's default (0 for IPv4, 1024 for IPv6).
    pub metric: Option<u32>,
    /// `rtm_protocol`.
    pub protocol: u8,
}

impl Route {
    /// `ip route add|del default ... table T` as one message; `replace` = `ip route replace`.
    /// Attribute order is iproute2's: DST (IPv6 only, `::/0`), GATEWAY, PRIORITY, TABLE (ids
    /// ≥ 256), OIF.
    pub fn encode(&self, op: RouteOp) -> Vec<u8> {
        let create = wire::NLM_F_REQUEST | wire::NLM_F_ACK | wire::NLM_F_CREATE;
        let (ty, flags) = match op {
            RouteOp::Add => (RTM_NEWROUTE, create | wire::NLM_F_EXCL),
            RouteOp::Replace => (RTM_NEWROUTE, create | wire::NLM_F_REPLACE),
            RouteOp::Delete => (RTM_DELROUTE, wire::NLM_F_REQUEST | wire::NLM_F_ACK),
        };
        let mut w = Writer::new(ty, flags);
        // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
        let mut hdr = [0u8; HDR_LEN];
        hdr[0] = self.family;
        hdr[4] = if self.table < 256 {
            self.table as u8
        } else {
            0
        };
        hdr[5] = self.protocol;
        let (scope, rtype) = match &self.kind {
            // A dev-only IPv4 route is on-link: scope link (IPv6 routes are all universe).
            RouteKind::Unicast { gateway: None, .. } if self.family == AF_INET => {
                (RT_SCOPE_LINK, RTN_UNICAST)
            }
            RouteKind::Unicast { .. } => (RT_SCOPE_UNIVERSE, RTN_UNICAST),
            RouteKind::Unreachable => (RT_SCOPE_UNIVERSE, RTN_UNREACHABLE),
        };
        hdr[6] = scope;
        hdr[7] = rtype;
        w.raw(&hdr);
        if self.family == AF_INET6 {
            w.attr(RTA_DST, &[0; 16]);
        }
        if let RouteKind::Unicast {
            gateway: Some(g), ..
        } = &self.kind
        {
            w.attr(RTA_GATEWAY, &addr_bytes(g));
        }
        if let Some(m) = self.metric {
            w.attr_u32(RTA_PRIORITY, m);
        }
        if self.table >= 256 {
            w.attr_u32(RTA_TABLE, self.table);
        }
        if let RouteKind::Unicast { oif, .. } = &self.kind {
            w.attr_u32(RTA_OIF, *oif);
        }
        w.finish()
    }

    /// One part of a route dump. Anything but a default unicast/unreachable route (hearth
    /// makes no others) comes back as `Ok(None)`.
    pub fn decode(msg: &[u8]) -> Result<Option<Route>, DecodeError> {
        const WHAT: &str = "RTM_NEWROUTE";
        let (_, hdr, attrs) = split(msg, &[RTM_NEWROUTE, RTM_DELROUTE], WHAT)?;
        let (family, dst_len, rtype) = (hdr[0], hdr[1], hdr[7]);
        let mut table = u32::from(hdr[4]);
        let mut oif = None;
        let mut gateway = None;
        let mut metric = None;
        let mut multipath = false;
        for a in attrs {
            let a = a?;
            match a.ty {
                RTA_TABLE => table = a.u32()?,
                RTA_OIF => oif = Some(a.u32()?),
                RTA_GATEWAY => gateway = Some(read_addr(a.payload, family, WHAT)?),
                RTA_PRIORITY => metric = Some(a.u32()?),
                9 | 30 => multipath = true, // RTA_MULTIPATH, RTA_NH_ID
                _ => {}
            }
        }
        if dst_len != 0 || multipath {
            return Ok(None);
        }
        let kind = match (rtype, oif) {
            (RTN_UNICAST, Some(oif)) => RouteKind::Unicast { oif, gateway },
            (RTN_UNREACHABLE, _) => RouteKind::Unreachable,
            _ => return Ok(None),
        };
        Ok(Some(Route {
            family,
            table,
            kind,
            metric,
            protocol: hdr[5],
        }))
    }

    /// Whether `actual` (dumped) is this planned route: an unset metric accepts the kernel's
    /// default.
    pub fn is_met_by(&self, actual: &Route) -> bool {
        self.family == actual.family
            && self.table == actual.table
            && self.kind == actual.kind
            && self.protocol == actual.protocol
            && (self.metric.is_none() || self.metric == actual.metric)
    }

    /// `ip route` words for messages: `unreachable default metric M table T`.
    pub fn describe(&self) -> String {
        let fam = if self.family == AF_INET6 { "-6 " } else { "" };
        let what = match &self.kind {
            RouteKind::Unicast { oif, gateway } => format!(
                "default{} dev #{oif}",
                gateway.map(|g| format!(" via {g}")).unwrap_or_default()
            ),
            RouteKind::Unreachable => "unreachable default".into(),
        };
        format!(
            "{fam}route {what}{} table {}",
            self.metric
                .map(|m| format!(" metric {m}"))
                .unwrap_or_default(),
            self.table
        )
    }
}

impl Rule {
    /// `ip rule` words for messages.
    pub fn describe(&self) -> String {
        let fam = if self.family == AF_INET6 { "-6 " } else { "" };
        let mut s = format!("{fam}rule priority {}", self.priority);
        if let Some((a, l)) = &self.src {
            s.push_str(&format!(" from {a}/{l}"));
        }
        if let Some((m, k)) = self.fwmark {
            s.push_str(&format!(" fwmark {m:#x}/{k:#x}"));
        }
        let table = match self.table {
            TABLE_MAIN => "main".to_string(),
            t => t.to_string(),
        };
        s.push_str(&format!(" lookup {table}"));
        if let Some(n) = self.suppress_prefixlen {
            s.push_str(&format!(" suppress_prefixlength {n}"));
        }
        s
    }
}

/// How [`Route::encode`] sends a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteOp {
    Add,
    Replace,
    Delete,
}

/// The family of an address (for callers building rules from addresses).
pub fn family(a: &IpAddr) -> u8 {
    family_of(a)
}
