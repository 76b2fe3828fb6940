//! The netlink framing every tc message shares: the 16-byte `nlmsghdr`, the 20-byte `tcmsg`,
//! and type-length-value attributes (4-byte header, payload padded to 4 bytes).
//!
//! [`Writer`] builds one message front to back (nests are closed by patching their length);
//! [`Attrs`] walks attributes without trusting any length it reads. Numbers are in host
//! order (the kernel's), except where a field is documented as network order (BE); see
//! `shared/netlink/NOTES.md` §1–§2.

use super::error::DecodeError;

/// Length of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// Length of `struct tcmsg`.
pub const TCMSG_LEN: usize = 20;
/// Length of an attribute header (`u16 len`, `u16 type`).
pub const NLA_HDRLEN: usize = 4;
/// Attribute type bits; the top two are the NESTED and NET_BYTEORDER flags.
pub const NLA_TYPE_MASK: u16 = 0x3fff;
/// Marks an attribute whose payload is a nest (iproute2 sets it only on TCA_ACT_OPTIONS).
pub const NLA_F_NESTED: u16 = 0x8000;

// Message types (NOTES §1).
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const RTM_NEWLINK: u16 = 16;
pub const RTM_NEWQDISC: u16 = 36;
pub const RTM_DELQDISC: u16 = 37;
pub const RTM_GETQDISC: u16 = 38;
pub const RTM_NEWTCLASS: u16 = 40;
pub const RTM_DELTCLASS: u16 = 41;
pub const RTM_GETTCLASS: u16 = 42;
pub const RTM_NEWTFILTER: u16 = 44;
pub const RTM_DELTFILTER: u16 = 45;
pub const RTM_GETTFILTER: u16 = 46;

// Header flags (NOTES §1).
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;

// Top-level TCA_* attributes (NOTES §3).
pub const TCA_KIND: u16 = 1;
pub const TCA_OPTIONS: u16 = 2;
pub const TCA_STATS: u16 = 3;
pub const TCA_STATS2: u16 = 7;

/// Rounds `n` up to the 4-byte netlink alignment (saturating: lengths read from the kernel
/// must not overflow on 32-bit targets).
pub const fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// Builds one netlink message. `seq` and `pid` are left 0: the kernel fills the port id, and
/// the executor stamps its sequence number with [`super::set_sequence`].
#[derive(Debug)]
pub struct Writer {
    /// The message so far; `nlmsg_len` is patched in [`Writer::finish`].
    buf: Vec<u8>,
}

impl Writer {
    /// Starts a message of type `ty` with header flags `flags`.
    pub fn new(ty: u16, flags: u16) -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, patched in finish()
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_seq
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid
        Writer { buf }
    }

    /// Appends `struct tcmsg`: family AF_UNSPEC, ifindex, handle, parent, info.
    pub fn tcmsg(&mut self, ifindex: u32, handle: u32, parent: u32, info: u32) {
        self.buf.extend_from_slice(&[0, 0, 0, 0]); // tcm_family + 3 pad bytes
        self.buf.extend_from_slice(&ifindex.to_ne_bytes());
        self.buf.extend_from_slice(&handle.to_ne_bytes());
        self.buf.extend_from_slice(&parent.to_ne_bytes());
        self.buf.extend_from_slice(&info.to_ne_bytes());
    }

    /// Appends raw bytes (a fixed header such as `ifinfomsg`); callers keep them 4-aligned.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Appends one attribute and the padding after it. Payloads here are at most a few
    /// KiB (rate tables), far below the u16 length limit.
    pub fn attr(&mut self, ty: u16, payload: &[u8]) {
        let len = NLA_HDRLEN + payload.len();
        debug_assert!(len <= usize::from(u16::MAX));
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
    }

    /// A host-order u32 attribute.
    pub fn attr_u32(&mut self, ty: u16, v: u32) {
        self.attr(ty, &v.to_ne_bytes());
    }

    /// A host-order u64 attribute.
    pub fn attr_u64(&mut self, ty: u16, v: u64) {
        self.attr(ty, &v.to_ne_bytes());
    }

    /// A NUL-terminated string attribute (the NUL counts in the length).
    pub fn attr_str(&mut self, ty: u16, s: &str) {
        let mut payload = Vec::with_capacity(s.len() + 1);
        payload.extend_from_slice(s.as_bytes());
        payload.push(0);
        self.attr(ty, &payload);
    }

    /// Opens a nest; returns the token [`Writer::end_nest`] needs.
    pub fn begin_nest(&mut self, ty: u16) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        start
    }

    /// Closes a nest: its length covers everything written since, padding included (as
    /// iproute2's `addattr_nest_end` does).
    pub fn end_nest(&mut self, start: usize) {
        let len = self.buf.len() - start;
        debug_assert!(len <= usize::from(u16::MAX));
        self.buf[start..start + 2].copy_from_slice(&(len as u16).to_ne_bytes());
    }

    /// Patches `nlmsg_len` and returns the message.
    pub fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }

    fn pad(&mut self) {
        let padded = align4(self.buf.len());
        self.buf.resize(padded, 0);
    }
}

/// `struct nlmsghdr`, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Length of the whole message, header included.
    pub len: u32,
    /// `RTM_*` / `NLMSG_*` type: tells which decoder applies.
    pub ty: u16,
    /// `NLM_F_*`: MULTI marks dump parts; ACK_TLVS/CAPPED shape error replies.
    pub flags: u16,
    /// Echo of the request's sequence number: matches replies to requests.
    pub seq: u32,
    /// Port id of the receiver (0 in requests).
    pub pid: u32,
}

/// Reads the header of the message at the start of `buf` and checks its length is sane.
pub fn header(buf: &[u8]) -> Result<Header, DecodeError> {
    let h = Header {
        len: read_u32(buf, 0, "netlink header")?,
        ty: read_u16(buf, 4, "netlink header")?,
        flags: read_u16(buf, 6, "netlink header")?,
        seq: read_u32(buf, 8, "netlink header")?,
        pid: read_u32(buf, 12, "netlink header")?,
    };
    let len = h.len as usize;
    if len < NLMSG_HDRLEN {
        return Err(DecodeError::Invalid {
            what: "netlink header",
            detail: format!("length {len} is shorter than the header itself"),
        });
    }
    if len > buf.len() {
        return Err(DecodeError::Truncated {
            what: "netlink message",
            need: len,
            have: buf.len(),
        });
    }
    Ok(h)
}

/// `struct tcmsg`, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcMsg {
    /// Device the object lives on.
    pub ifindex: u32,
    /// Qdisc handle, classid, or filter handle.
    pub handle: u32,
    /// Where the object is attached.
    pub parent: u32,
    /// Filters: prio/protocol; class dumps: the leaf qdisc's handle; qdisc dumps: refcount.
    pub info: u32,
}

/// Splits one tc message (`nlmsghdr` + `tcmsg` + attributes) after checking its type.
pub fn tc_message<'a>(
    msg: &'a [u8],
    expected: u16,
    what: &'static str,
) -> Result<(TcMsg, Attrs<'a>), DecodeError> {
    let h = header(msg)?;
    if h.ty != expected {
        return Err(DecodeError::UnexpectedType {
            expected: what,
            got: h.ty,
        });
    }
    let msg = &msg[..h.len as usize];
    let tcm = TcMsg {
        ifindex: read_u32(msg, NLMSG_HDRLEN + 4, what)?,
        handle: read_u32(msg, NLMSG_HDRLEN + 8, what)?,
        parent: read_u32(msg, NLMSG_HDRLEN + 12, what)?,
        info: read_u32(msg, NLMSG_HDRLEN + 16, what)?,
    };
    let rest = msg.get(NLMSG_HDRLEN + TCMSG_LEN..).unwrap_or(&[]);
    Ok((tcm, Attrs::new(rest, what)))
}

/// One attribute: its type (flags masked off) and its unpadded payload.
#[derive(Debug, Clone, Copy)]
pub struct Attr<'a> {
    /// `TCA_*` number, NESTED / NET_BYTEORDER bits removed.
    pub ty: u16,
    /// Payload, without the header and without trailing padding.
    pub payload: &'a [u8],
    /// What is being decoded, for error messages.
    what: &'static str,
}

impl<'a> Attr<'a> {
    /// The payload as a host-order u32 (exactly 4 bytes, or more: extra bytes are ignored
    /// as newer kernels may grow a field).
    pub fn u32(&self) -> Result<u32, DecodeError> {
        read_u32(self.payload, 0, self.what)
    }

    /// The payload as a host-order i32.
    pub fn i32(&self) -> Result<i32, DecodeError> {
        Ok(self.u32()? as i32)
    }

    /// The payload as a host-order u64.
    pub fn u64(&self) -> Result<u64, DecodeError> {
        read_u64(self.payload, 0, self.what)
    }

    /// The payload as a NUL-terminated (or unterminated) UTF-8 string.
    pub fn string(&self) -> Result<String, DecodeError> {
        let end = self
            .payload
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(self.payload.len());
        std::str::from_utf8(&self.payload[..end])
            .map(str::to_string)
            .map_err(|_| DecodeError::Invalid {
                what: self.what,
                detail: "a string attribute is not UTF-8".into(),
            })
    }

    /// The attributes nested in this one.
    pub fn nested(&self) -> Attrs<'a> {
        Attrs::new(self.payload, self.what)
    }
}

/// Iterator over the attributes in a byte range; yields an error (once) on a bad length.
#[derive(Debug, Clone)]
pub struct Attrs<'a> {
    /// What is left to read.
    rest: &'a [u8],
    /// What is being decoded, for error messages.
    what: &'static str,
}

impl<'a> Attrs<'a> {
    pub fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Attrs { rest: bytes, what }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.len() < NLA_HDRLEN {
            // Fewer than 4 bytes left can only be trailing padding.
            self.rest = &[];
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([self.rest[0], self.rest[1]]));
        let ty = u16::from_ne_bytes([self.rest[2], self.rest[3]]) & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > self.rest.len() {
            let have = self.rest.len();
            self.rest = &[];
            return Some(Err(DecodeError::Invalid {
                what: self.what,
                detail: format!("attribute {ty} claims {len} bytes, {have} are left"),
            }));
        }
        let payload = &self.rest[NLA_HDRLEN..len];
        self.rest = self.rest.get(align4(len)..).unwrap_or(&[]);
        Some(Ok(Attr {
            ty,
            payload,
            what: self.what,
        }))
    }
}

/// A host-order u16 at `off`.
pub fn read_u16(buf: &[u8], off: usize, what: &'static str) -> Result<u16, DecodeError> {
    Ok(u16::from_ne_bytes(read_array(buf, off, what)?))
}

/// A host-order u32 at `off`.
pub fn read_u32(buf: &[u8], off: usize, what: &'static str) -> Result<u32, DecodeError> {
    Ok(u32::from_ne_bytes(read_array(buf, off, what)?))
}

/// A host-order u64 at `off`.
pub fn read_u64(buf: &[u8], off: usize, what: &'static str) -> Result<u64, DecodeError> {
    Ok(u64::from_ne_bytes(read_array(buf, off, what)?))
}

/// `N` bytes at `off`, or a truncation error naming `what`.
pub fn read_array<const N: usize>(
    buf: &[u8],
    off: usize,
    what: &'static str,
) -> Result<[u8; N], DecodeError> {
    off.checked_add(N)
        .and_then(|end| buf.get(off..end))
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(DecodeError::Truncated {
            what,
            need: off.saturating_add(N),
            have: buf.len(),
        })
}
