//! The IFB device ("intermediate functional block") that received traffic is redirected to,
//! so it can be shaped on egress there: `ip link add ifb4wan type ifb` and `ip link set … up`.
//!
//! RTM_NEWLINK = `ifinfomsg` (16 bytes) + IFLA_IFNAME + IFLA_LINKINFO { IFLA_INFO_KIND } (NOTES
//! §9). Needs the `ifb` module (OpenWRT: kmod-ifb); load it with `numifbs=0` or the kernel
//! also creates ifb0/ifb1 by itself.

use super::error::EncodeError;
use super::wire::{self, Writer, RTM_NEWLINK};
use super::NewFlags;

const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
/// `IFF_UP`.
const IFF_UP: u32 = 0x1;
/// `IFNAMSIZ` - 1: longest interface name.
pub const MAX_IFNAME: usize = 15;

/// `struct ifinfomsg`: family, pad, type, index, flags, change.
fn ifinfomsg(index: u32, flags: u32, change: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m[8..12].copy_from_slice(&flags.to_ne_bytes());
    m[12..16].copy_from_slice(&change.to_ne_bytes());
    m
}

/// RTM_NEWLINK request creating an IFB device named `name` (down; bring it up with
/// [`link_set_up`] once its ifindex is known). Fails with EEXIST if the name is taken.
pub fn link_add_ifb(name: &str) -> Result<Vec<u8>, EncodeError> {
    link_add(name, "ifb")
}

/// RTM_NEWLINK request creating a link of `kind` (`ifb`, `wireguard`) named `name`.
pub fn link_add(name: &str, kind: &str) -> Result<Vec<u8>, EncodeError> {
    // The kernel's dev_valid_name(): 1..=15 bytes, not "." or "..", no '/', ':' or space.
    let bad = name.is_empty()
        || name.len() > MAX_IFNAME
        || name == "."
        || name == ".."
        || name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace());
    if bad {
        return Err(EncodeError::new(
            format!(
                "{} device '{name}'",
                if kind == "ifb" { "IFB" } else { kind }
            ),
            "a device name is 1 to 15 characters without '/', ':' or spaces",
        ));
    }
    let mut w = Writer::new(RTM_NEWLINK, NewFlags::ADD.bits());
    w.raw(&ifinfomsg(0, 0, 0));
    w.attr_str(IFLA_IFNAME, name);
    let info = w.begin_nest(IFLA_LINKINFO);
    // iproute2 sends the kind without its NUL (len 7); the kernel accepts either.
    w.attr(IFLA_INFO_KIND, kind.as_bytes());
    w.end_nest(info);
    Ok(w.finish())
}

/// RTM_NEWLINK request setting a device up (`ip link set dev X up`): only IFF_UP changes.
pub fn link_set_up(ifindex: u32) -> Vec<u8> {
    let mut w = Writer::new(RTM_NEWLINK, wire::NLM_F_REQUEST | wire::NLM_F_ACK);
    w.raw(&ifinfomsg(ifindex, IFF_UP, IFF_UP));
    w.finish()
}
