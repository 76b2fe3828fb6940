//! Link events: a blocking listener on rtnetlink's link group (`RTMGRP_LINK`) that reports
//! every link that appears or changes, as `(name, ifindex)`.

use std::io;

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// The rtnetlink multicast group of link changes.
const RTMGRP_LINK: u32 = 1;

/// A subscription to link events.
pub struct LinkEvents {
    /// Bound to RTMGRP_LINK.
    sock: Socket,
    /// Receive buffer.
    buf: Vec<u8>,
}

impl LinkEvents {
    pub fn subscribe() -> io::Result<LinkEvents> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind(&SocketAddr::new(0, RTMGRP_LINK))?;
        Ok(LinkEvents {
            sock,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Makes [`LinkEvents::wait`] return an empty batch after `t` without events, so the
    /// caller can look at its stop flag.
    pub fn set_timeout(&self, t: std::time::Duration) -> io::Result<()> {
        // `as _`: the C types differ between libcs (and musl's time_t is deprecated by name).
        let tv = nix::sys::time::TimeVal::new(t.as_secs() as _, t.subsec_micros() as _);
        nix::sys::socket::setsockopt(&self.sock, nix::sys::socket::sockopt::ReceiveTimeout, &tv)
            .map_err(io::Error::from)
    }

    /// Blocks until the next batch of link messages (or the timeout: an empty batch);
    /// returns the new or changed links.
    pub fn wait(&mut self) -> io::Result<Vec<(String, u32)>> {
        let n = match self.sock.recv(&mut &mut self.buf[..], 0) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(Vec::new())
            }
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        let mut off = 0;
        while off < n {
            let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[off..n])
            else {
                break;
            };
            let len = msg.header.length as usize;
            if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) = msg.payload {
                if let Some(name) = l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n.clone()),
                    _ => None,
                }) {
                    out.push((name, l.header.index));
                }
            }
            if len == 0 {
                break;
            }
            off += (len + 3) & !3;
        }
        Ok(out)
    }
}

/// The kind of link `name` (`Some(true)` for an IFB), `None` if there is no such link.
pub fn is_ifb(
    sock: &mut super::socket::RouteSocket,
    name: &str,
) -> Result<Option<bool>, super::socket::NlError> {
    use netlink_packet_core::{NetlinkHeader, NLM_F_DUMP, NLM_F_REQUEST};
    use netlink_packet_route::link::{InfoKind, LinkInfo, LinkMessage};
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_DUMP | NLM_F_REQUEST;
    let mut req = NetlinkMessage::new(
        header,
        NetlinkPayload::from(RouteNetlinkMessage::GetLink(LinkMessage::default())),
    );
    req.finalize();
    let mut buf = vec![0; req.header.length as usize];
    req.serialize(&mut buf[..]);
    for m in sock.dump(buf)? {
        let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&m) else {
            continue;
        };
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) = msg.payload else {
            continue;
        };
        let named = l
            .attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::IfName(n) if n == name));
        if named {
            let ifb = l.attributes.iter().any(|a| match a {
                LinkAttribute::LinkInfo(infos) => infos
                    .iter()
                    .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Ifb))),
                _ => false,
            });
            return Ok(Some(ifb));
        }
    }
    Ok(None)
}
