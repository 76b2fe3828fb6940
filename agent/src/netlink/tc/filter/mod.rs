//! Filters: how packets reach hearth's classes — u32 matches on IPv4/IPv6 addresses and DSCP,
//! fw matches on the firewall mark — and the u32 match-all + mirred action that redirects a
//! device's received traffic to its IFB.
//!
//! RTM_NEWTFILTER = `tcmsg` (handle, parent, info = prio << 16 | protocol in network order),
//! KIND, OPTIONS. u32 options: `[CLASSID] [ACT] SEL`, in iproute2's order; fw: the mark is
//! the filter handle, options MASK, CLASSID (NOTES §6). The u32 selector lives in `u32_sel`,
//! the redirect action in `mirred`.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::error::{DecodeError, EncodeError};
use super::wire::{
    self, tc_message, Attrs, Writer, RTM_DELTFILTER, RTM_NEWTFILTER, TCA_KIND, TCA_OPTIONS,
};
use super::{Handle, NewFlags, ETH_P_IP, ETH_P_IPV6};

mod mirred;
mod u32_sel;

use u32_sel::Key;

/// `TCA_CHAIN`: filter chain number (hearth uses chain 0 only).
const TCA_CHAIN: u16 = 11;

// TCA_U32_* (NOTES §6).
const TCA_U32_CLASSID: u16 = 1;
const TCA_U32_LINK: u16 = 3;
const TCA_U32_DIVISOR: u16 = 4;
const TCA_U32_SEL: u16 = 5;
const TCA_U32_POLICE: u16 = 6;
const TCA_U32_ACT: u16 = 7;
const TCA_U32_INDEV: u16 = 8;
const TCA_U32_MARK: u16 = 10;

// TCA_FW_* (NOTES §6).
const TCA_FW_CLASSID: u16 = 1;
const TCA_FW_POLICE: u16 = 2;
const TCA_FW_INDEV: u16 = 3;
const TCA_FW_ACT: u16 = 4;
const TCA_FW_MASK: u16 = 5;

/// One classifying (or redirecting) filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The device.
    pub ifindex: u32,
    /// The qdisc (or class) the filter is attached to: `1:` for the HTB root,
    /// [`super::INGRESS_HANDLE`] for ingress.
    pub parent: u32,
    /// Order of evaluation, lowest first; 1..=65535. One prio holds one kind and one
    /// protocol (the kernel refuses a second protocol at a used prio).
    pub prio: u16,
    /// Ethertype the filter applies to, host order ([`super::ETH_P_IP`], `ETH_P_IPV6`,
    /// `ETH_P_ALL`).
    pub protocol: u16,
    /// Filter handle: 0 lets the kernel number u32 nodes (dumps then show e.g. 800::800);
    /// fw filters use the mark, so 0 or the mark.
    pub handle: u32,
    /// What is matched and where matches go.
    pub kind: FilterKind,
}

/// Which address of the IP header a u32 match compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpField {
    /// Source: uploads from a LAN device.
    Source,
    /// Destination: downloads to a LAN device.
    Destination,
}

/// The match and the action of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterKind {
    /// u32: IPv4 source/destination in `addr/prefix` -> class (`match ip src A/N flowid C`).
    /// Host bits of `addr` are dropped when encoding.
    U32Ipv4 {
        /// Source or destination address.
        field: IpField,
        /// The network address.
        addr: Ipv4Addr,
        /// Prefix length, 0..=32.
        prefix: u8,
        /// Class the matching packets go to.
        classid: u32,
    },
    /// u32: IPv6 source/destination in `addr/prefix` -> class (`match ip6 src A/N`).
    U32Ipv6 {
        /// Source or destination address.
        field: IpField,
        /// The network address.
        addr: Ipv6Addr,
        /// Prefix length, 1..=128.
        prefix: u8,
        /// Class the matching packets go to.
        classid: u32,
    },
    /// u32: DSCP of IPv4 TOS / IPv6 traffic class -> class (`match ip dsfield D<<2 0xfc`,
    /// `match ip6 priority D<<2 0xfc`); ECN bits are ignored.
    U32Dscp {
        /// IPv6 traffic class rather than IPv4 TOS (protocol must agree).
        ipv6: bool,
        /// The 6-bit DSCP value.
        dscp: u8,
        /// Class the matching packets go to.
        classid: u32,
    },
    /// u32 match-all with a mirred egress redirect (`match u32 0 0 action mirred egress
    /// redirect dev IFB`): every received packet is shaped on the IFB instead.
    U32MatchAllMirred {
        /// A flowid kept on the filter (tc scripts set one; the redirect ignores it).
        classid: Option<u32>,
        /// Device that receives the packets (the IFB).
        to_ifindex: u32,
    },
    /// fw: `(skb mark & mask) == mark` -> class (`handle MARK/MASK fw flowid C`).
    Fw {
        /// Mark value after masking; also the filter's handle.
        mark: u32,
        /// Bits of the packet mark compared. All fw filters at one prio share one mask.
        mask: u32,
        /// Class the matching packets go to.
        classid: u32,
    },
}

/// A filter read from a dump that hearth does not describe: the per-priority header the
/// kernel sends before a classifier's entries, u32 hash tables, other tools' filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignFilter {
    /// The device.
    pub ifindex: u32,
    /// Where it is attached.
    pub parent: u32,
    /// Its priority.
    pub prio: u16,
    /// Its protocol, host order.
    pub protocol: u16,
    /// Its handle (0 for a priority header).
    pub handle: u32,
    /// Its filter chain (hearth only uses 0).
    pub chain: u32,
    /// Classifier name (`u32`, `fw`, `flower`, …).
    pub kind: String,
}

/// One RTM_NEWTFILTER part of a filter dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpedFilter {
    /// A filter of a shape hearth plans.
    Known(Filter),
    /// Anything else; enough is kept to delete it.
    Foreign(ForeignFilter),
}

/// `tcm_info` of a filter: prio in the high 16 bits, the protocol in network order in the low.
fn filter_info(prio: u16, protocol: u16) -> u32 {
    (u32::from(prio) << 16) | u32::from(protocol.to_be())
}

/// RTM_DELTFILTER request deleting every filter at `prio` on `parent` (the whole classifier
/// instance, u32 hash tables included). `protocol` must be the prio's or 0.
pub fn encode_del_prio(ifindex: u32, parent: u32, prio: u16, protocol: u16) -> Vec<u8> {
    let mut w = Writer::new(RTM_DELTFILTER, wire::NLM_F_REQUEST | wire::NLM_F_ACK);
    w.tcmsg(ifindex, 0, parent, filter_info(prio, protocol));
    w.finish()
}

// === impl Filter ===

impl Filter {
    /// Names the filter in messages: `u32 filter prio 2 on 1: of ifindex 3`.
    pub fn describe(&self) -> String {
        format!(
            "{} filter prio {} on {} of ifindex {}",
            self.kind.name(),
            self.prio,
            Handle(self.parent),
            self.ifindex
        )
    }

    /// RTM_NEWTFILTER request. Note that [`NewFlags::CREATE_OR_CHANGE`] with handle 0 adds a
    /// second u32 node rather than changing the first: to re-apply, delete the prio first.
    pub fn encode_new(&self, flags: NewFlags) -> Result<Vec<u8>, EncodeError> {
        let invalid = |reason: String| EncodeError::new(self.describe(), reason);
        if self.prio == 0 {
            return Err(invalid(
                "a filter needs a priority of 1 or more so it can be found again".into(),
            ));
        }
        let want_protocol = |p: u16, name: &str| {
            if self.protocol == p {
                Ok(())
            } else {
                Err(invalid(format!(
                    "an {name} match needs protocol {name} (0x{p:04x}), not 0x{:04x}",
                    self.protocol
                )))
            }
        };
        let need_class = |classid: u32| {
            if classid == 0 {
                Err(invalid("a flowid (class id) is required".into()))
            } else {
                Ok(())
            }
        };
        let mut handle = self.handle;
        let mut classid = None;
        let mut mirred_to = None;
        let mut keys: Vec<Key> = Vec::new();
        match &self.kind {
            FilterKind::U32Ipv4 {
                field,
                addr,
                prefix,
                classid: c,
            } => {
                want_protocol(ETH_P_IP, "IPv4")?;
                need_class(*c)?;
                if *prefix > 32 {
                    return Err(invalid(format!("IPv4 prefix /{prefix} is over 32")));
                }
                keys = u32_sel::ipv4_keys(*field, *addr, *prefix);
                classid = Some(*c);
            }
            FilterKind::U32Ipv6 {
                field,
                addr,
                prefix,
                classid: c,
            } => {
                want_protocol(ETH_P_IPV6, "IPv6")?;
                need_class(*c)?;
                if *prefix == 0 || *prefix > 128 {
                    return Err(invalid(format!(
                        "IPv6 prefix /{prefix} is not within 1..=128 (use a match-all for /0)"
                    )));
                }
                keys = u32_sel::ipv6_keys(*field, addr, *prefix);
                classid = Some(*c);
            }
            FilterKind::U32Dscp {
                ipv6,
                dscp,
                classid: c,
            } => {
                if *ipv6 {
                    want_protocol(ETH_P_IPV6, "IPv6")?;
                } else {
                    want_protocol(ETH_P_IP, "IPv4")?;
                }
                need_class(*c)?;
                if *dscp > 63 {
                    return Err(invalid(format!("DSCP {dscp} is over 63")));
                }
                keys.push(u32_sel::dscp_key(*ipv6, *dscp));
                classid = Some(*c);
            }
            FilterKind::U32MatchAllMirred {
                classid: c,
                to_ifindex,
            } => {
                if *to_ifindex == 0 {
                    return Err(invalid("the redirect target device is missing".into()));
                }
                keys.push(u32_sel::MATCH_ALL);
                classid = *c;
                mirred_to = Some(*to_ifindex);
            }
            FilterKind::Fw {
                mark,
                mask,
                classid: c,
            } => {
                need_class(*c)?;
                if *mark == 0 {
                    return Err(invalid("an fw filter needs a non-zero mark".into()));
                }
                if mark & !mask != 0 {
                    return Err(invalid(format!(
                        "mark 0x{mark:x} has bits outside mask 0x{mask:x}; it would never match"
                    )));
                }
                if handle != 0 && handle != *mark {
                    return Err(invalid(format!(
                        "an fw filter's handle is its mark (0x{mark:x}), not 0x{handle:x}"
                    )));
                }
                handle = *mark;
            }
        }

        let mut w = Writer::new(RTM_NEWTFILTER, flags.bits());
        w.tcmsg(
            self.ifindex,
            handle,
            self.parent,
            filter_info(self.prio, self.protocol),
        );
        w.attr_str(TCA_KIND, self.kind.name());
        let opts = w.begin_nest(TCA_OPTIONS);
        if let FilterKind::Fw { mask, classid, .. } = &self.kind {
            w.attr_u32(TCA_FW_MASK, *mask);
            w.attr_u32(TCA_FW_CLASSID, *classid);
        } else {
            if let Some(c) = classid {
                w.attr_u32(TCA_U32_CLASSID, c);
            }
            if let Some(to) = mirred_to {
                mirred::encode_redirect(&mut w, to);
            }
            let terminal = classid.is_some() || mirred_to.is_some();
            w.attr(TCA_U32_SEL, &u32_sel::encode_sel(terminal, &keys));
        }
        w.end_nest(opts);
        Ok(w.finish())
    }

    /// RTM_DELTFILTER request for this one filter, by its kernel handle (from a dump, or the
    /// mark for fw). A u32 filter planned with handle 0 has no handle of its own yet: delete
    /// its whole prio with [`encode_del_prio`] instead.
    pub fn encode_del(&self) -> Result<Vec<u8>, EncodeError> {
        let handle = match &self.kind {
            FilterKind::Fw { mark, .. } if self.handle == 0 => *mark,
            _ => self.handle,
        };
        if handle == 0 {
            return Err(EncodeError::new(
                self.describe(),
                "it has no handle yet (take it from a dump, or delete the whole prio)",
            ));
        }
        let mut w = Writer::new(RTM_DELTFILTER, wire::NLM_F_REQUEST | wire::NLM_F_ACK);
        w.tcmsg(
            self.ifindex,
            handle,
            self.parent,
            filter_info(self.prio, self.protocol),
        );
        w.attr_str(TCA_KIND, self.kind.name());
        Ok(w.finish())
    }

    /// Whether `actual` (decoded from a dump) is this planned filter: same place, prio,
    /// protocol and match; a planned handle of 0 accepts the kernel's numbering.
    pub fn is_met_by(&self, actual: &Filter) -> bool {
        self.ifindex == actual.ifindex
            && self.parent == actual.parent
            && self.prio == actual.prio
            && self.protocol == actual.protocol
            && (self.handle == 0 || self.handle == actual.handle)
            && self.kind.normalized() == actual.kind.normalized()
    }
}

impl FilterKind {
    /// `TCA_KIND` string.
    pub fn name(&self) -> &'static str {
        match self {
            FilterKind::Fw { .. } => "fw",
            _ => "u32",
        }
    }

    /// The same match with host bits of addresses cleared (what the kernel keeps).
    fn normalized(&self) -> FilterKind {
        match self.clone() {
            FilterKind::U32Ipv4 {
                field,
                addr,
                prefix,
                classid,
            } => FilterKind::U32Ipv4 {
                field,
                addr: Ipv4Addr::from(u32::from(addr) & u32_sel::prefix_mask(prefix.min(32))),
                prefix,
                classid,
            },
            FilterKind::U32Ipv6 {
                field,
                addr,
                prefix,
                classid,
            } => {
                let keep = u128::MAX.checked_shl(128 - u32::from(prefix.min(128)));
                FilterKind::U32Ipv6 {
                    field,
                    addr: Ipv6Addr::from(u128::from(addr) & keep.unwrap_or(0)),
                    prefix,
                    classid,
                }
            }
            other => other,
        }
    }
}

impl ForeignFilter {
    /// Whether this is kernel bookkeeping rather than a filter: the per-priority header
    /// (handle 0) every classifier gets in a dump, or a u32 hash table (`800:`, node bits 0).
    /// A diff against a plan skips these; anything else foreign was put there by someone
    /// else.
    pub fn is_structural(&self) -> bool {
        self.handle == 0 || (self.kind == "u32" && self.handle & 0xFFF == 0)
    }

    /// RTM_DELTFILTER request: this entry by handle, or (handle 0, a priority header) the
    /// whole prio.
    pub fn encode_del(&self) -> Vec<u8> {
        let mut w = Writer::new(RTM_DELTFILTER, wire::NLM_F_REQUEST | wire::NLM_F_ACK);
        w.tcmsg(
            self.ifindex,
            self.handle,
            self.parent,
            filter_info(self.prio, self.protocol),
        );
        if !self.kind.is_empty() && !self.kind.contains('\0') {
            w.attr_str(TCA_KIND, &self.kind);
        }
        if self.chain != 0 {
            w.attr_u32(TCA_CHAIN, self.chain);
        }
        w.finish()
    }
}

// === decoding ===

impl DumpedFilter {
    /// Reads one RTM_NEWTFILTER message (a dump part, or a request).
    pub fn decode(msg: &[u8]) -> Result<DumpedFilter, DecodeError> {
        const WHAT: &str = "RTM_NEWTFILTER";
        let (tcm, attrs) = tc_message(msg, RTM_NEWTFILTER, WHAT)?;
        let mut kind = None;
        let mut options = None;
        let mut chain = 0;
        for a in attrs {
            let a = a?;
            match a.ty {
                TCA_KIND => kind = Some(a.string()?),
                TCA_OPTIONS => options = Some(a.payload),
                TCA_CHAIN => chain = a.u32()?,
                _ => {}
            }
        }
        let kind = kind.ok_or(DecodeError::Missing {
            what: WHAT,
            attr: "TCA_KIND",
        })?;
        let prio = (tcm.info >> 16) as u16;
        let protocol = u16::from_be((tcm.info & 0xFFFF) as u16);
        let known = match (kind.as_str(), options) {
            _ if chain != 0 => None,
            ("u32", Some(opts)) => decode_u32(opts, protocol)?,
            ("fw", Some(opts)) => decode_fw(opts, tcm.handle)?,
            _ => None,
        };
        Ok(match known {
            Some(kind) => DumpedFilter::Known(Filter {
                ifindex: tcm.ifindex,
                parent: tcm.parent,
                prio,
                protocol,
                handle: tcm.handle,
                kind,
            }),
            None => DumpedFilter::Foreign(ForeignFilter {
                ifindex: tcm.ifindex,
                parent: tcm.parent,
                prio,
                protocol,
                handle: tcm.handle,
                chain,
                kind,
            }),
        })
    }
}

/// The u32 node's match, if it is one of hearth's shapes.
fn decode_u32(opts: &[u8], protocol: u16) -> Result<Option<FilterKind>, DecodeError> {
    const WHAT: &str = "u32 options";
    let mut classid = None;
    let mut sel = None;
    let mut act = None;
    let mut extra = false;
    for a in Attrs::new(opts, WHAT) {
        let a = a?;
        match a.ty {
            TCA_U32_CLASSID => classid = Some(a.u32()?).filter(|c| *c != 0),
            TCA_U32_SEL => sel = Some(a.payload),
            TCA_U32_ACT => act = Some(a.payload),
            // Hash tables, links to them, policers, device and mark matches: not hearth's.
            TCA_U32_DIVISOR | TCA_U32_LINK | TCA_U32_POLICE | TCA_U32_INDEV | TCA_U32_MARK => {
                extra = true
            }
            // HASH (the node's table), PCNT, FLAGS, PAD: do not change what is matched.
            _ => {}
        }
    }
    let Some(sel) = sel else { return Ok(None) };
    if extra {
        return Ok(None);
    }
    let keys = u32_sel::decode_sel(sel)?;
    let Some(keys) = keys else { return Ok(None) };
    let mirred = match act {
        Some(a) => match mirred::decode_redirect(a)? {
            Some(to) => Some(to),
            None => return Ok(None),
        },
        None => None,
    };
    if let Some(to_ifindex) = mirred {
        let all = keys == [u32_sel::MATCH_ALL];
        return Ok(all.then_some(FilterKind::U32MatchAllMirred {
            classid,
            to_ifindex,
        }));
    }
    let Some(classid) = classid else {
        return Ok(None);
    };
    Ok(u32_sel::recognize(&keys, protocol, classid))
}

/// The fw filter's match, if it is a plain mark -> class filter.
fn decode_fw(opts: &[u8], handle: u32) -> Result<Option<FilterKind>, DecodeError> {
    const WHAT: &str = "fw options";
    // The kernel omits MASK when it is all ones.
    let mut mask = u32::MAX;
    let mut classid = None;
    for a in Attrs::new(opts, WHAT) {
        let a = a?;
        match a.ty {
            TCA_FW_CLASSID => classid = Some(a.u32()?),
            TCA_FW_MASK => mask = a.u32()?,
            TCA_FW_POLICE | TCA_FW_INDEV | TCA_FW_ACT => return Ok(None),
            _ => {}
        }
    }
    Ok(classid.filter(|c| *c != 0).map(|classid| FilterKind::Fw {
        mark: handle,
        mask,
        classid,
    }))
}
