//! A synchronous rtnetlink socket: send one request and wait for its ACK, or run a dump and
//! collect its messages. Requests are small and the kernel answers at once, so blocking calls
//! (from `spawn_blocking` or the CLI) are the simplest correct thing.

use std::io;

use netlink_sys::{protocols::NETLINK_GENERIC, protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::tc::reply::{self, Control, KernelError};
use super::tc::set_sequence;

/// Why a netlink exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum NlError {
    /// The socket itself failed (permissions, closed).
    #[error("netlink: {0}")]
    Io(#[from] io::Error),
    /// The kernel refused the request.
    #[error("{0}")]
    Kernel(#[from] KernelError),
    /// The kernel's answer could not be read.
    #[error("netlink: unreadable answer: {0}")]
    Decode(#[from] super::tc::DecodeError),
}

impl NlError {
    /// The kernel's errno, when the kernel refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NlError::Kernel(k) => Some(k.errno),
            _ => None,
        }
    }
}

/// One rtnetlink socket in the caller's network namespace.
pub struct RouteSocket {
    /// The socket.
    sock: Socket,
    /// Sequence number of the next request.
    seq: u32,
    /// Receive buffer (reused).
    buf: Vec<u8>,
}

/// Upper bound on receive calls for one exchange (a dump of a big tc tree is a few dozen).
const MAX_RECVS: usize = 100_000;

impl RouteSocket {
    /// Opens the socket with extended ACKs on (so errors carry the kernel's explanation).
    pub fn open() -> Result<RouteSocket, NlError> {
        Self::open_protocol(NETLINK_ROUTE)
    }

    /// A generic netlink socket (WireGuard), with the same request/dump calls.
    pub fn open_generic() -> Result<RouteSocket, NlError> {
        Self::open_protocol(NETLINK_GENERIC)
    }

    fn open_protocol(protocol: isize) -> Result<RouteSocket, NlError> {
        let mut sock = Socket::new(protocol)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        let _ = sock.set_ext_ack(true);
        Ok(RouteSocket {
            sock,
            seq: 1,
            buf: vec![0; 256 * 1024],
        })
    }

    fn send(&mut self, msg: &mut [u8]) -> Result<u32, NlError> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1).max(1);
        set_sequence(msg, seq);
        self.sock.send(msg, 0)?;
        Ok(seq)
    }

    /// Sends a request that wants an ACK; `Ok` once the kernel carried it out.
    pub fn request(&mut self, mut msg: Vec<u8>) -> Result<(), NlError> {
        let seq = self.send(&mut msg)?;
        for _ in 0..MAX_RECVS {
            let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
            for m in reply::messages(&self.buf[..n]) {
                let m = m?;
                if msg_seq(m) != seq {
                    continue;
                }
                match reply::control(m)? {
                    Some(Control::Ack) | Some(Control::Done) => return Ok(()),
                    Some(Control::Error(e)) => return Err(e.into()),
                    None => {}
                }
            }
        }
        Err(io::Error::other("no answer to a netlink request").into())
    }

    /// Sends a request (with ACK) that is answered with data; returns the data messages.
    pub fn query(&mut self, mut msg: Vec<u8>) -> Result<Vec<Vec<u8>>, NlError> {
        let seq = self.send(&mut msg)?;
        let mut out = Vec::new();
        for _ in 0..MAX_RECVS {
            let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
            for m in reply::messages(&self.buf[..n]) {
                let m = m?;
                if msg_seq(m) != seq {
                    continue;
                }
                match reply::control(m)? {
                    Some(Control::Ack) | Some(Control::Done) => return Ok(out),
                    Some(Control::Error(e)) => return Err(e.into()),
                    None => out.push(m.to_vec()),
                }
            }
        }
        Err(io::Error::other("no answer to a netlink request").into())
    }

    /// Runs a dump; returns every data message (each with its header).
    pub fn dump(&mut self, mut msg: Vec<u8>) -> Result<Vec<Vec<u8>>, NlError> {
        let seq = self.send(&mut msg)?;
        let mut out = Vec::new();
        for _ in 0..MAX_RECVS {
            let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
            for m in reply::messages(&self.buf[..n]) {
                let m = m?;
                if msg_seq(m) != seq {
                    continue;
                }
                match reply::control(m)? {
                    Some(Control::Done) => return Ok(out),
                    Some(Control::Error(e)) => return Err(e.into()),
                    Some(Control::Ack) => {}
                    None => out.push(m.to_vec()),
                }
            }
        }
        Err(io::Error::other("a netlink dump did not end").into())
    }
}

/// `nlmsg_seq` of a message (bytes 8..12).
fn msg_seq(m: &[u8]) -> u32 {
    m.get(8..12)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(0)
}

/// The ifindex of a network device, `None` if it does not exist.
pub fn ifindex(name: &str) -> Option<u32> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}
