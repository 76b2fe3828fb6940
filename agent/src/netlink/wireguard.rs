//! WireGuard over generic netlink, as plain bytes (NOTES §10, from the kernel's uapi
//! `wireguard.h`): resolve the `wireguard` family, configure a device (private key, port,
//! fwmark, peers with endpoints, allowed IPs and keepalive) and read it back with counters and
//! handshake times. Plus the rtnetlink pieces a managed link needs: create it, give it
//! addresses.
//!
//! Keys never appear in `Debug` output or messages: [`Key`] prints as `(key)`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::tc::wire::{self, Attrs, Writer, NLMSG_HDRLEN};
use super::tc::DecodeError;

/// `GENL_ID_CTRL`: the generic netlink controller.
pub const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

const WG_CMD_GET_DEVICE: u8 = 0;
const WG_CMD_SET_DEVICE: u8 = 1;
const WG_GENL_VERSION: u8 = 1;

const WGDEVICE_A_IFNAME: u16 = 2;
const WGDEVICE_A_PRIVATE_KEY: u16 = 3;
const WGDEVICE_A_PUBLIC_KEY: u16 = 4;
const WGDEVICE_A_FLAGS: u16 = 5;
const WGDEVICE_A_LISTEN_PORT: u16 = 6;
const WGDEVICE_A_FWMARK: u16 = 7;
const WGDEVICE_A_PEERS: u16 = 8;
const WGDEVICE_F_REPLACE_PEERS: u32 = 1;

const WGPEER_A_PUBLIC_KEY: u16 = 1;
const WGPEER_A_FLAGS: u16 = 3;
const WGPEER_A_ENDPOINT: u16 = 4;
const WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL: u16 = 5;
const WGPEER_A_LAST_HANDSHAKE_TIME: u16 = 6;
const WGPEER_A_RX_BYTES: u16 = 7;
const WGPEER_A_TX_BYTES: u16 = 8;
const WGPEER_A_ALLOWEDIPS: u16 = 9;
const WGPEER_F_REPLACE_ALLOWEDIPS: u32 = 2;

const WGALLOWEDIP_A_FAMILY: u16 = 1;
const WGALLOWEDIP_A_IPADDR: u16 = 2;
const WGALLOWEDIP_A_CIDR_MASK: u16 = 3;

/// `NLA_F_NESTED`: set on nests, as libmnl (and so `wg`) does.
const NLA_F_NESTED: u16 = 0x8000;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// A Curve25519 key (32 bytes). Shown as `(key)` so it never reaches a log.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(pub [u8; 32]);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(key)")
    }
}

impl Key {
    /// From the base64 text `wg genkey` / `wg pubkey` print (44 characters).
    pub fn from_base64(text: &str) -> Option<Key> {
        let bytes = base64_decode(text.trim())?;
        Some(Key(bytes.try_into().ok()?))
    }

    /// The base64 text (for public keys in status; never used for private ones).
    pub fn to_base64(&self) -> String {
        base64_encode(&self.0)
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648 §4) with padding.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (i, chunk) in s.chunks(4).enumerate() {
        let last = i == s.len() / 4 - 1;
        let mut v = 0u32;
        let mut pad = 0;
        for (j, &c) in chunk.iter().enumerate() {
            let d = match c {
                b'=' if last && j >= 2 => {
                    pad += 1;
                    0
                }
                _ if pad > 0 => return None,
                _ => B64.iter().position(|&b| b == c)? as u32,
            };
            v = (v << 6) | d;
        }
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

pub fn base64_encode(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(v >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A genetlink message: nlmsghdr (type = family), genlmsghdr (cmd, version).
fn genl(family: u16, flags: u16, cmd: u8, version: u8) -> Writer {
    let mut w = Writer::new(family, flags);
    w.raw(&[cmd, version, 0, 0]);
    w
}

/// `CTRL_CMD_GETFAMILY` for `name` (answered with the family's id).
pub fn get_family(name: &str) -> Vec<u8> {
    let mut w = genl(
        GENL_ID_CTRL,
        wire::NLM_F_REQUEST | wire::NLM_F_ACK,
        CTRL_CMD_GETFAMILY,
        1,
    );
    w.attr_str(CTRL_ATTR_FAMILY_NAME, name);
    w.finish()
}

/// The family id in a `CTRL_CMD_NEWFAMILY` answer.
pub fn family_id(msg: &[u8]) -> Result<u16, DecodeError> {
    for a in genl_attrs(msg, "genetlink family")? {
        let a = a?;
        if a.ty == CTRL_ATTR_FAMILY_ID {
            return wire::read_u16(a.payload, 0, "family id");
        }
    }
    Err(DecodeError::Missing {
        what: "genetlink family",
        attr: "CTRL_ATTR_FAMILY_ID",
    })
}

fn genl_attrs<'a>(msg: &'a [u8], what: &'static str) -> Result<Attrs<'a>, DecodeError> {
    let h = wire::header(msg)?;
    let msg = &msg[..h.len as usize];
    let start = NLMSG_HDRLEN + 4;
    if msg.len() < start {
        return Err(DecodeError::Truncated {
            what,
            need: start,
            have: msg.len(),
        });
    }
    Ok(Attrs::new(&msg[start..], what))
}

/// One peer as hearth configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    pub public_key: Key,
    pub endpoint: Option<SocketAddr>,
    /// Seconds; 0 = off.
    pub keepalive: u16,
    pub allowed_ips: Vec<(IpAddr, u8)>,
}

/// A WireGuard device as hearth configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    pub ifname: String,
    pub private_key: Key,
    pub listen_port: Option<u16>,
    /// Mark on the tunnel's own (encrypted) packets; 0 = none.
    pub fwmark: u32,
    pub peers: Vec<PeerConfig>,
}

fn sockaddr(a: &SocketAddr) -> Vec<u8> {
    let mut b = Vec::with_capacity(28);
    match a {
        SocketAddr::V4(v) => {
            b.extend_from_slice(&AF_INET.to_ne_bytes());
            b.extend_from_slice(&v.port().to_be_bytes());
            b.extend_from_slice(&v.ip().octets());
            b.extend_from_slice(&[0; 8]);
        }
        SocketAddr::V6(v) => {
            b.extend_from_slice(&AF_INET6.to_ne_bytes());
            b.extend_from_slice(&v.port().to_be_bytes());
            b.extend_from_slice(&v.flowinfo().to_be_bytes());
            b.extend_from_slice(&v.ip().octets());
            b.extend_from_slice(&v.scope_id().to_ne_bytes());
        }
    }
    b
}

fn read_sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes([*b.first()?, *b.get(1)?]);
    let port = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
    match family {
        AF_INET if b.len() >= 8 => {
            let ip: [u8; 4] = b[4..8].try_into().ok()?;
            Some(SocketAddr::from((ip, port)))
        }
        AF_INET6 if b.len() >= 24 => {
            let ip: [u8; 16] = b[8..24].try_into().ok()?;
            Some(SocketAddr::from((ip, port)))
        }
        _ => None,
    }
}

/// `WG_CMD_SET_DEVICE` replacing the whole configuration (`wg setconf`): key, port, mark,
/// and the peer set (peers not listed are removed; the link itself stays up).
pub fn set_device(family: u16, d: &DeviceConfig) -> Vec<u8> {
    let mut w = genl(
        family,
        wire::NLM_F_REQUEST | wire::NLM_F_ACK,
        WG_CMD_SET_DEVICE,
        WG_GENL_VERSION,
    );
    w.attr_str(WGDEVICE_A_IFNAME, &d.ifname);
    w.attr(WGDEVICE_A_PRIVATE_KEY, &d.private_key.0);
    w.attr(
        WGDEVICE_A_LISTEN_PORT,
        &d.listen_port.unwrap_or(0).to_ne_bytes(),
    );
    w.attr_u32(WGDEVICE_A_FWMARK, d.fwmark);
    w.attr_u32(WGDEVICE_A_FLAGS, WGDEVICE_F_REPLACE_PEERS);
    let peers = w.begin_nest(WGDEVICE_A_PEERS | NLA_F_NESTED);
    for p in &d.peers {
        let peer = w.begin_nest(NLA_F_NESTED);
        w.attr(WGPEER_A_PUBLIC_KEY, &p.public_key.0);
        w.attr_u32(WGPEER_A_FLAGS, WGPEER_F_REPLACE_ALLOWEDIPS);
        if let Some(e) = &p.endpoint {
            w.attr(WGPEER_A_ENDPOINT, &sockaddr(e));
        }
        w.attr(
            WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
            &p.keepalive.to_ne_bytes(),
        );
        let ips = w.begin_nest(WGPEER_A_ALLOWEDIPS | NLA_F_NESTED);
        for (a, len) in &p.allowed_ips {
            let ip = w.begin_nest(NLA_F_NESTED);
            let (fam, bytes) = match a {
                IpAddr::V4(v) => (AF_INET, v.octets().to_vec()),
                IpAddr::V6(v) => (AF_INET6, v.octets().to_vec()),
            };
            w.attr(WGALLOWEDIP_A_FAMILY, &fam.to_ne_bytes());
            w.attr(WGALLOWEDIP_A_IPADDR, &bytes);
            w.attr(WGALLOWEDIP_A_CIDR_MASK, &[*len]);
            w.end_nest(ip);
        }
        w.end_nest(ips);
        w.end_nest(peer);
    }
    w.end_nest(peers);
    w.finish()
}

/// `WG_CMD_GET_DEVICE` dump request for `ifname`.
pub fn get_device(family: u16, ifname: &str) -> Vec<u8> {
    let mut w = genl(
        family,
        wire::NLM_F_REQUEST | wire::NLM_F_DUMP,
        WG_CMD_GET_DEVICE,
        WG_GENL_VERSION,
    );
    w.attr_str(WGDEVICE_A_IFNAME, ifname);
    w.finish()
}

/// A peer as the kernel reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerState {
    pub public_key: Option<Key>,
    pub endpoint: Option<SocketAddr>,
    pub keepalive: u16,
    pub allowed_ips: Vec<(IpAddr, u8)>,
    /// Unix seconds of the last handshake; 0 = never.
    pub last_handshake: i64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// A device as the kernel reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceState {
    pub private_key: Option<Key>,
    pub public_key: Option<Key>,
    pub listen_port: u16,
    pub fwmark: u32,
    pub peers: Vec<PeerState>,
}

impl DeviceState {
    /// Whether the kernel holds what `want` configures (counters and roaming aside: an
    /// endpoint is compared only when configured).
    pub fn matches(&self, want: &DeviceConfig) -> bool {
        let port_ok = want.listen_port.is_none_or(|p| p == self.listen_port);
        let peers_ok = self.peers.len() == want.peers.len()
            && want.peers.iter().all(|w| {
                self.peers.iter().any(|h| {
                    let mut a = h.allowed_ips.clone();
                    let mut b = w.allowed_ips.clone();
                    a.sort();
                    b.sort();
                    h.public_key == Some(w.public_key)
                        && h.keepalive == w.keepalive
                        && (w.endpoint.is_none() || h.endpoint == w.endpoint)
                        && a == b
                })
            });
        self.private_key == Some(want.private_key)
            && port_ok
            && self.fwmark == want.fwmark
            && peers_ok
    }
}

fn read_ip(b: &[u8], fam: u16) -> Option<IpAddr> {
    match fam {
        AF_INET => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        AF_INET6 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Reads the parts of a `WG_CMD_GET_DEVICE` dump; peers split over parts are joined by key.
pub fn decode_device(parts: &[Vec<u8>]) -> Result<DeviceState, DecodeError> {
    const WHAT: &str = "wireguard device";
    let mut d = DeviceState::default();
    for part in parts {
        for a in genl_attrs(part, WHAT)? {
            let a = a?;
            match a.ty {
                WGDEVICE_A_PRIVATE_KEY => d.private_key = a.payload.try_into().ok().map(Key),
                WGDEVICE_A_PUBLIC_KEY => d.public_key = a.payload.try_into().ok().map(Key),
                WGDEVICE_A_LISTEN_PORT => d.listen_port = wire::read_u16(a.payload, 0, WHAT)?,
                WGDEVICE_A_FWMARK => d.fwmark = a.u32()?,
                WGDEVICE_A_PEERS => {
                    for p in a.nested() {
                        let p = p?;
                        let mut peer = PeerState::default();
                        for f in p.nested() {
                            let f = f?;
                            match f.ty {
                                WGPEER_A_PUBLIC_KEY => {
                                    peer.public_key = f.payload.try_into().ok().map(Key)
                                }
                                WGPEER_A_ENDPOINT => peer.endpoint = read_sockaddr(f.payload),
                                WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL => {
                                    peer.keepalive = wire::read_u16(f.payload, 0, WHAT)?
                                }
                                WGPEER_A_LAST_HANDSHAKE_TIME => {
                                    peer.last_handshake = wire::read_u64(f.payload, 0, WHAT)? as i64
                                }
                                WGPEER_A_RX_BYTES => peer.rx_bytes = f.u64()?,
                                WGPEER_A_TX_BYTES => peer.tx_bytes = f.u64()?,
                                WGPEER_A_ALLOWEDIPS => {
                                    for ip in f.nested() {
                                        let ip = ip?;
                                        let (mut fam, mut addr, mut len) = (0, None, 0);
                                        for x in ip.nested() {
                                            let x = x?;
                                            match x.ty {
                                                WGALLOWEDIP_A_FAMILY => {
                                                    fam = wire::read_u16(x.payload, 0, WHAT)?
                                                }
                                                WGALLOWEDIP_A_IPADDR => addr = Some(x.payload),
                                                WGALLOWEDIP_A_CIDR_MASK => {
                                                    len = *x.payload.first().unwrap_or(&0)
                                                }
                                                _ => {}
                                            }
                                        }
                                        if let Some(a) = addr.and_then(|b| read_ip(b, fam)) {
                                            peer.allowed_ips.push((a, len));
                                        }
                                    }
                                }
                                _ => {}
                            }
                        }
                        // A peer continued from the previous part: merge.
                        match d
                            .peers
                            .iter_mut()
                            .find(|x| x.public_key.is_some() && x.public_key == peer.public_key)
                        {
                            Some(x) => x.allowed_ips.extend(peer.allowed_ips),
                            None => d.peers.push(peer),
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(d)
}

// === rtnetlink: addresses ===

const RTM_NEWADDR: u16 = 20;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

/// `ip addr add ADDR/LEN dev IFINDEX` (IFA_LOCAL and IFA_ADDRESS, as iproute2 sends).
/// With `replace`, an existing address is not an error.
pub fn addr_add(ifindex: u32, addr: IpAddr, prefix: u8) -> Vec<u8> {
    let mut w = Writer::new(
        RTM_NEWADDR,
        wire::NLM_F_REQUEST | wire::NLM_F_ACK | wire::NLM_F_CREATE | wire::NLM_F_REPLACE,
    );
    let fam = if addr.is_ipv4() { AF_INET } else { AF_INET6 } as u8;
    let mut m = [0u8; 8];
    m[0] = fam;
    m[1] = prefix;
    m[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    w.raw(&m);
    let bytes = match addr {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    };
    w.attr(IFA_LOCAL, &bytes);
    w.attr(IFA_ADDRESS, &bytes);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Key {
        Key([b; 32])
    }

    #[test]
    fn base64_keys_round_trip_and_bad_text_is_refused() {
        // `wg genkey` output shape: 44 characters, one '='.
        let k = Key::from_base64("yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=").unwrap();
        assert_eq!(
            k.to_base64(),
            "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
        );
        assert_eq!(format!("{k:?}"), "(key)", "keys never print");
        for bad in [
            "",
            "abc",
            "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBm",
            "!Anz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=",
            "yA==5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=",
        ] {
            assert!(Key::from_base64(bad).is_none(), "{bad:?}");
        }
        assert_eq!(base64_encode(b"hearth"), "aGVhcnRo");
        assert_eq!(base64_decode("aGVhcnQ=").unwrap(), b"heart");
    }

    #[test]
    fn a_set_device_message_reads_back_as_the_same_device() {
        let d = DeviceConfig {
            ifname: "wg1".into(),
            private_key: key(7),
            listen_port: Some(51821),
            fwmark: 0x200,
            peers: vec![
                PeerConfig {
                    public_key: key(9),
                    endpoint: Some("192.0.2.1:51820".parse().unwrap()),
                    keepalive: 25,
                    allowed_ips: vec![("0.0.0.0".parse().unwrap(), 0), ("::".parse().unwrap(), 0)],
                },
                PeerConfig {
                    public_key: key(10),
                    endpoint: Some("[2001:db8::1]:51820".parse().unwrap()),
                    keepalive: 0,
                    allowed_ips: vec![("10.8.0.0".parse().unwrap(), 24)],
                },
            ],
        };
        let msg = set_device(0x1d, &d);
        // nlmsghdr type = the family id; genlmsghdr = SET_DEVICE, version 1.
        assert_eq!(u16::from_ne_bytes([msg[4], msg[5]]), 0x1d);
        assert_eq!(&msg[16..18], &[WG_CMD_SET_DEVICE, 1]);
        let back = decode_device(&[msg]).unwrap();
        assert!(back.matches(&d), "{back:?}");
        assert_eq!(back.listen_port, 51821);
        assert_eq!(back.peers[1].endpoint, d.peers[1].endpoint);
        // Another key, port or peer set does not match.
        assert!(!back.matches(&DeviceConfig {
            fwmark: 1,
            ..d.clone()
        }));
        let mut fewer = d.clone();
        fewer.peers.pop();
        assert!(!back.matches(&fewer));
    }

    #[test]
    fn family_lookups_are_well_formed() {
        let m = get_family("wireguard");
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), GENL_ID_CTRL);
        assert_eq!(m[16], CTRL_CMD_GETFAMILY);
        // A reply carrying the id.
        let mut w = genl(GENL_ID_CTRL, 0, 1, 2);
        w.attr(CTRL_ATTR_FAMILY_ID, &0x1du16.to_ne_bytes());
        w.attr_str(CTRL_ATTR_FAMILY_NAME, "wireguard");
        assert_eq!(family_id(&w.finish()).unwrap(), 0x1d);
        assert!(family_id(&[0u8; 8]).is_err());
    }
}
