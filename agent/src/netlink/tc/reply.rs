//! What comes back from the kernel: a receive buffer split into messages, and the control
//! messages among them — ACK, error (with the kernel's own explanation when the socket has
//! `NETLINK_EXT_ACK` set), end of dump. Data messages go to the object decoders
//! ([`super::DumpedQdisc::decode`], …).

use std::fmt;

use super::error::DecodeError;
use super::wire::{self, align4, Attrs, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN};

/// `NLM_F_CAPPED` on an error: the echoed request was cut to its header.
const NLM_F_CAPPED: u16 = 0x100;
/// `NLM_F_ACK_TLVS` on an error: extended-ACK attributes follow the echoed request.
const NLM_F_ACK_TLVS: u16 = 0x200;
/// `NLMSGERR_ATTR_MSG`: the kernel's error text.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// Iterator over the netlink messages in one receive buffer (each slice includes its header).
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    /// Bytes not yet returned.
    rest: &'a [u8],
}

/// Splits a receive buffer into messages. Stops (after one error) at a malformed length.
pub fn messages(buf: &[u8]) -> Messages<'_> {
    Messages { rest: buf }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<&'a [u8], DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match wire::header(self.rest) {
            Ok(h) => {
                let len = h.len as usize;
                let msg = &self.rest[..len];
                self.rest = self.rest.get(align4(len)..).unwrap_or(&[]);
                Some(Ok(msg))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// The kernel refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    /// Positive errno (EEXIST 17, ENOENT 2, EINVAL 22, EBUSY 16, EOPNOTSUPP 95, …).
    pub errno: i32,
    /// The kernel's explanation (extended ACK), e.g. "Change operation not supported by
    /// specified qdisc.", when it gave one.
    pub message: Option<String>,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", std::io::Error::from_raw_os_error(self.errno))?;
        if let Some(m) = &self.message {
            write!(f, ": {}", m.trim_end_matches('.'))?;
        }
        Ok(())
    }
}

impl std::error::Error for KernelError {}

/// What a control message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// NLMSG_ERROR with error 0: the request was carried out.
    Ack,
    /// NLMSG_ERROR with an errno, or a dump that ended in error.
    Error(KernelError),
    /// NLMSG_DONE: the dump is complete.
    Done,
}

/// Reads `msg` as a control message; `Ok(None)` for a data message (RTM_NEW*).
pub fn control(msg: &[u8]) -> Result<Option<Control>, DecodeError> {
    const WHAT: &str = "netlink error reply";
    let h = wire::header(msg)?;
    let msg = &msg[..h.len as usize];
    match h.ty {
        NLMSG_DONE => {
            // A dump that failed half-way ends with DONE carrying a negative errno.
            let err = wire::read_u32(msg, NLMSG_HDRLEN, "NLMSG_DONE").unwrap_or(0) as i32;
            Ok(Some(if err < 0 {
                Control::Error(KernelError {
                    errno: err.saturating_neg(),
                    message: None,
                })
            } else {
                Control::Done
            }))
        }
        NLMSG_ERROR => {
            let err = wire::read_u32(msg, NLMSG_HDRLEN, WHAT)? as i32;
            if err == 0 {
                return Ok(Some(Control::Ack));
            }
            let mut message = None;
            if h.flags & NLM_F_ACK_TLVS != 0 {
                // error(4) + echoed request: its header only when CAPPED, else all of it.
                let echoed = NLMSG_HDRLEN + 4;
                let req_len = wire::read_u32(msg, echoed, WHAT)? as usize;
                let skip = if h.flags & NLM_F_CAPPED != 0 {
                    NLMSG_HDRLEN
                } else {
                    align4(req_len.max(NLMSG_HDRLEN))
                };
                let tlvs = msg.get(echoed.saturating_add(skip)..).unwrap_or(&[]);
                for a in Attrs::new(tlvs, WHAT) {
                    let a = a?;
                    if a.ty == NLMSGERR_ATTR_MSG {
                        message = Some(a.string()?);
                    }
                }
            }
            Ok(Some(Control::Error(KernelError {
                errno: err.saturating_neg(),
                message,
            })))
        }
        _ => Ok(None),
    }
}

/// The header of a message (type, flags, sequence number).
pub fn header(msg: &[u8]) -> Result<wire::Header, DecodeError> {
    wire::header(msg)
}
