//! Traffic-control messages as plain bytes: typed descriptions of the qdiscs, HTB classes and
//! filters hearth shapes with, encoded into complete rtnetlink requests and decoded back from
//! dump replies — no sockets, no I/O. The executor sends what these functions build and feeds
//! them what the kernel answers.
//!
//! Every encoder is proved byte-for-byte against requests captured from iproute2 6.1
//! (`vectors/`, see `tests/`); every decoder is proved against captured kernel replies and
//! by round trips. Layouts, numbers and kernel rules are in `shared/netlink/NOTES.md`.
//!
//! - [`qdisc`]: HTB root, TBF, CAKE, fq_codel, pfifo, ingress.
//! - [`class`]: HTB classes (rates, bursts as psched ticks, rate tables).
//! - [`filter`]: u32 address/DSCP matches, u32 match-all + mirred redirect, fw marks.
//! - [`link`]: the IFB device ingress traffic is redirected to.
//! - [`reply`]: splitting a receive buffer, ACKs and kernel errors.
//! - [`rate`]: the tick arithmetic shared by HTB and TBF.
//!
//! Byte order: all fields are written in host order as the kernel expects (on big-endian MIPS
//! routers too); only the fields the kernel defines as network order (filter protocol, u32
//! keys) are big-endian.

pub mod class;
mod error;
pub mod filter;
pub mod link;
pub mod qdisc;
pub mod rate;
pub mod reply;
pub mod stab;
mod stats;
pub(crate) mod wire;

// The captured vectors are little-endian; see tests/mod.rs.
#[cfg(all(test, target_endian = "little"))]
pub(crate) mod tests;

use std::fmt;

pub use class::{DumpedClass, HtbClass};
pub use error::{DecodeError, EncodeError};
pub use filter::{DumpedFilter, Filter, FilterKind, ForeignFilter, IpField};
pub use qdisc::{
    Cake, CakeAckFilter, CakeAtm, CakeDiffserv, CakeFlowMode, DumpedQdisc, FqCodel, Qdisc,
    QdiscKind,
};
pub use stab::SizeSpec;
pub use stats::TcStats;
pub use wire::{Header, RTM_NEWQDISC, RTM_NEWTCLASS, RTM_NEWTFILTER};

/// `TC_H_ROOT`: the parent of a device's root qdisc.
pub const TC_H_ROOT: u32 = 0xFFFF_FFFF;
/// `TC_H_INGRESS`: the parent of the ingress qdisc.
pub const TC_H_INGRESS: u32 = 0xFFFF_FFF1;
/// Handle of the ingress qdisc (`ffff:`); its filters attach here.
pub const INGRESS_HANDLE: u32 = 0xFFFF_0000;
/// `ETH_P_ALL`: a filter that sees every protocol.
pub const ETH_P_ALL: u16 = 0x0003;
/// `ETH_P_IP`: IPv4 filters.
pub const ETH_P_IP: u16 = 0x0800;
/// `ETH_P_IPV6`: IPv6 filters.
pub const ETH_P_IPV6: u16 = 0x86DD;

/// `major:minor` as the kernel's u32 handle (`handle(1, 0x10)` = `1:10`).
pub const fn handle(major: u16, minor: u16) -> u32 {
    ((major as u32) << 16) | minor as u32
}

/// A handle printed the way `tc` prints it: `1:10` (hex on both sides), `1:` for a qdisc,
/// `root`, `ingress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle(pub u32);

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            TC_H_ROOT => f.write_str("root"),
            TC_H_INGRESS => f.write_str("ingress"),
            h if h & 0xFFFF == 0 => write!(f, "{:x}:", h >> 16),
            h => write!(f, "{:x}:{:x}", h >> 16, h & 0xFFFF),
        }
    }
}

/// What a NEW request may do when the object exists or not (`NLM_F_*` header flags). Every
/// request also carries REQUEST and ACK, so the kernel always answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewFlags {
    /// Create the object if it is missing (else ENOENT).
    pub create: bool,
    /// Fail with EEXIST if it exists (else its change operation runs).
    pub exclusive: bool,
    /// Qdiscs: replace an existing one of another handle/kind (else EEXIST).
    pub replace: bool,
}

impl NewFlags {
    /// `tc … add`: create, fail if present (0x0605).
    pub const ADD: NewFlags = NewFlags {
        create: true,
        exclusive: true,
        replace: false,
    };
    /// `tc qdisc replace`: create or replace (0x0505). HTB has no change operation, so
    /// replacing an HTB root by an identical one fails (EINVAL): delete and add instead.
    pub const REPLACE: NewFlags = NewFlags {
        create: true,
        exclusive: false,
        replace: true,
    };
    /// `tc class replace` / `tc filter replace`: create, or change in place (0x0405).
    pub const CREATE_OR_CHANGE: NewFlags = NewFlags {
        create: true,
        exclusive: false,
        replace: false,
    };
    /// `tc … change`: change in place, ENOENT if missing (0x0005).
    pub const CHANGE: NewFlags = NewFlags {
        create: false,
        exclusive: false,
        replace: false,
    };

    /// The `nlmsg_flags` value.
    pub fn bits(self) -> u16 {
        let mut f = wire::NLM_F_REQUEST | wire::NLM_F_ACK;
        if self.create {
            f |= wire::NLM_F_CREATE;
        }
        if self.exclusive {
            f |= wire::NLM_F_EXCL;
        }
        if self.replace {
            f |= wire::NLM_F_REPLACE;
        }
        f
    }
}

/// Stamps the sequence number (bytes 8..12) of an encoded message, so the executor can match
/// the kernel's ACK to it. Does nothing to a buffer shorter than a header.
pub fn set_sequence(msg: &mut [u8], seq: u32) {
    if let Some(s) = msg.get_mut(8..12) {
        s.copy_from_slice(&seq.to_ne_bytes());
    }
}

/// RTM_GETQDISC dump request. The kernel answers with every qdisc of every device (it does
/// not filter by ifindex): keep the replies whose `ifindex` is wanted.
pub fn dump_qdiscs() -> Vec<u8> {
    let mut w = wire::Writer::new(wire::RTM_GETQDISC, wire::NLM_F_REQUEST | wire::NLM_F_DUMP);
    w.tcmsg(0, 0, 0, 0);
    w.finish()
}

/// RTM_GETTCLASS dump request for the classes of one device.
pub fn dump_classes(ifindex: u32) -> Vec<u8> {
    let mut w = wire::Writer::new(wire::RTM_GETTCLASS, wire::NLM_F_REQUEST | wire::NLM_F_DUMP);
    w.tcmsg(ifindex, 0, 0, 0);
    w.finish()
}

/// RTM_GETTFILTER dump request for the filters attached to `parent` on one device (a qdisc
/// handle such as `1:`, or [`INGRESS_HANDLE`]; 0 = the root qdisc).
pub fn dump_filters(ifindex: u32, parent: u32) -> Vec<u8> {
    let mut w = wire::Writer::new(wire::RTM_GETTFILTER, wire::NLM_F_REQUEST | wire::NLM_F_DUMP);
    w.tcmsg(ifindex, 0, parent, 0);
    w.finish()
}
