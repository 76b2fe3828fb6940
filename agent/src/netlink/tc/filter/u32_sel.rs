//! The u32 classifier's selector: `struct tc_u32_sel` and its keys, each comparing one
//! 32-bit big-endian word at a byte offset from the network header. Builds the keys tc builds
//! for `match ip src|dst`, `match ip6 src|dst`, `match ip dsfield`, `match ip6 priority` and
//! `match u32 0 0`, and recognizes them in dumps (NOTES §6).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{FilterKind, IpField};
use crate::netlink::tc::error::DecodeError;
use crate::netlink::tc::wire;
use crate::netlink::tc::{ETH_P_IP, ETH_P_IPV6};

/// `TC_U32_TERMINAL`: the node classifies (has a class id or actions).
const TC_U32_TERMINAL: u8 = 1;
/// `struct tc_u32_sel` without keys.
const SEL_LEN: usize = 16;
/// `struct tc_u32_key`.
const KEY_LEN: usize = 16;

// Key offsets in the IP headers.
const IPV4_SRC_OFF: i32 = 12;
const IPV4_DST_OFF: i32 = 16;
const IPV6_SRC_OFF: i32 = 8;
const IPV6_DST_OFF: i32 = 24;
/// DSCP bits in the first IPv4 word (TOS byte, ECN bits excluded).
const IPV4_DSCP_MASK: u32 = 0xFC << 16;
const IPV4_DSCP_SHIFT: u32 = 18;
/// DSCP bits in the first IPv6 word (traffic class after the 4 version bits).
const IPV6_DSCP_MASK: u32 = 0xFC << 20;
const IPV6_DSCP_SHIFT: u32 = 22;

/// A u32 key in host-order numbers; written as big-endian mask/value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Key {
    /// Bits compared.
    pub mask: u32,
    /// Expected value of those bits.
    pub val: u32,
    /// Byte offset of the 32-bit word from the network header.
    pub off: i32,
}

/// The top `prefix` bits set (`prefix` ≤ 32).
pub(super) fn prefix_mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

/// The address as four host-order words.
fn ipv6_words(addr: &Ipv6Addr) -> [u32; 4] {
    let o = addr.octets();
    [0, 1, 2, 3].map(|i| u32::from_be_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]]))
}

/// `struct tc_u32_sel` + keys (all other selector fields 0: no hashing, no header offsets).
pub(super) fn encode_sel(terminal: bool, keys: &[Key]) -> Vec<u8> {
    let mut sel = Vec::with_capacity(SEL_LEN + KEY_LEN * keys.len());
    sel.push(if terminal { TC_U32_TERMINAL } else { 0 }); // flags
    sel.push(0); // offshift
    sel.push(keys.len() as u8); // nkeys (at most 4 here)
    sel.push(0); // pad
    sel.extend_from_slice(&[0; 12]); // offmask, off, offoff, hoff, hmask
    for k in keys {
        sel.extend_from_slice(&k.mask.to_be_bytes());
        sel.extend_from_slice(&k.val.to_be_bytes());
        sel.extend_from_slice(&k.off.to_ne_bytes());
        sel.extend_from_slice(&0i32.to_ne_bytes()); // offmask
    }
    sel
}

/// `match u32 0 0`: one all-zero key, true for every packet.
pub(super) const MATCH_ALL: Key = Key {
    mask: 0,
    val: 0,
    off: 0,
};

/// `match ip src|dst addr/prefix` (`prefix` ≤ 32): one key, host bits dropped.
pub(super) fn ipv4_keys(field: IpField, addr: Ipv4Addr, prefix: u8) -> Vec<Key> {
    let off = match field {
        IpField::Source => IPV4_SRC_OFF,
        IpField::Destination => IPV4_DST_OFF,
    };
    let mask = prefix_mask(prefix);
    vec![Key {
        mask,
        val: u32::from(addr) & mask,
        off,
    }]
}

/// `match ip6 src|dst addr/prefix` (1..=128): one key per started 32 bits of prefix, as
/// iproute2's `parse_ip6_addr`.
pub(super) fn ipv6_keys(field: IpField, addr: &Ipv6Addr, prefix: u8) -> Vec<Key> {
    let base = match field {
        IpField::Source => IPV6_SRC_OFF,
        IpField::Destination => IPV6_DST_OFF,
    };
    let mut keys = Vec::with_capacity(4);
    for (i, word) in ipv6_words(addr).iter().enumerate() {
        let done = 32 * i as u8;
        if done >= prefix {
            break;
        }
        let mask = prefix_mask((prefix - done).min(32));
        keys.push(Key {
            mask,
            val: word & mask,
            off: base + 4 * i as i32,
        });
    }
    keys
}

/// `match ip dsfield D<<2 0xfc` (IPv4 TOS byte) or `match ip6 priority D<<2 0xfc` (IPv6
/// traffic class); `dscp` ≤ 63.
pub(super) fn dscp_key(ipv6: bool, dscp: u8) -> Key {
    let (mask, shift) = if ipv6 {
        (IPV6_DSCP_MASK, IPV6_DSCP_SHIFT)
    } else {
        (IPV4_DSCP_MASK, IPV4_DSCP_SHIFT)
    };
    Key {
        mask,
        val: u32::from(dscp) << shift,
        off: 0,
    }
}

/// The address/DSCP match the keys express for `protocol`, if hearth could have built them.
pub(super) fn recognize(keys: &[Key], protocol: u16, classid: u32) -> Option<FilterKind> {
    match protocol {
        ETH_P_IP => ipv4_match(keys, classid),
        ETH_P_IPV6 => ipv6_match(keys, classid),
        _ => None,
    }
}

/// Whether `mask` is a run of ones from the top bit (0 included).
fn is_prefix(mask: u32) -> bool {
    mask.leading_ones() + mask.trailing_zeros() == 32
}

/// Recognizes an IPv4 DSCP or address prefix match.
fn ipv4_match(keys: &[Key], classid: u32) -> Option<FilterKind> {
    let [k] = keys else { return None };
    if k.val & !k.mask != 0 {
        return None;
    }
    if k.off == 0 && k.mask == IPV4_DSCP_MASK {
        return Some(FilterKind::U32Dscp {
            ipv6: false,
            dscp: (k.val >> IPV4_DSCP_SHIFT) as u8,
            classid,
        });
    }
    let field = match k.off {
        IPV4_SRC_OFF => IpField::Source,
        IPV4_DST_OFF => IpField::Destination,
        _ => return None,
    };
    is_prefix(k.mask).then(|| FilterKind::U32Ipv4 {
        field,
        addr: Ipv4Addr::from(k.val),
        prefix: k.mask.leading_ones() as u8,
        classid,
    })
}

/// Recognizes an IPv6 DSCP or address prefix match: for a prefix, keys for consecutive
/// words from the address start, all but the last one full.
fn ipv6_match(keys: &[Key], classid: u32) -> Option<FilterKind> {
    let first = keys.first()?;
    if let [k] = keys {
        if k.off == 0 && k.mask == IPV6_DSCP_MASK && k.val & !k.mask == 0 {
            return Some(FilterKind::U32Dscp {
                ipv6: true,
                dscp: (k.val >> IPV6_DSCP_SHIFT) as u8,
                classid,
            });
        }
    }
    let field = match first.off {
        IPV6_SRC_OFF => IpField::Source,
        IPV6_DST_OFF => IpField::Destination,
        _ => return None,
    };
    if keys.len() > 4 {
        return None;
    }
    let mut words = [0u32; 4];
    let mut prefix = 0u32;
    for (i, k) in keys.iter().enumerate() {
        let last = i + 1 == keys.len();
        let shape_ok = k.off == first.off + 4 * i as i32
            && is_prefix(k.mask)
            && k.mask != 0
            && (last || k.mask == u32::MAX)
            && k.val & !k.mask == 0;
        if !shape_ok {
            return None;
        }
        words[i] = k.val;
        prefix += k.mask.leading_ones();
    }
    let mut octets = [0u8; 16];
    for (i, w) in words.iter().enumerate() {
        octets[4 * i..4 * i + 4].copy_from_slice(&w.to_be_bytes());
    }
    Some(FilterKind::U32Ipv6 {
        field,
        addr: Ipv6Addr::from(octets),
        prefix: prefix as u8,
        classid,
    })
}

/// The selector's keys, or `None` when it uses hashing or header offsets (not hearth's).
pub(super) fn decode_sel(sel: &[u8]) -> Result<Option<Vec<Key>>, DecodeError> {
    const WHAT: &str = "u32 selector";
    let head: [u8; SEL_LEN] = wire::read_array(sel, 0, WHAT)?;
    let nkeys = usize::from(head[2]);
    if head[1] != 0 || head[4..].iter().any(|b| *b != 0) {
        return Ok(None);
    }
    let mut keys = Vec::with_capacity(nkeys);
    for i in 0..nkeys {
        let at = SEL_LEN + KEY_LEN * i;
        let raw: [u8; KEY_LEN] = wire::read_array(sel, at, WHAT)?;
        let word = |o: usize| [raw[o], raw[o + 1], raw[o + 2], raw[o + 3]];
        if i32::from_ne_bytes(word(12)) != 0 {
            return Ok(None); // offmask: a variable offset
        }
        keys.push(Key {
            mask: u32::from_be_bytes(word(0)),
            val: u32::from_be_bytes(word(4)),
            off: i32::from_ne_bytes(word(8)),
        });
    }
    Ok(Some(keys))
}
