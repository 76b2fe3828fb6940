//! Why a tc message could not be built or read. Encode errors name the object (device
//! index and `major:minor`) and what to change; decode errors say which part of which reply
//! was malformed, so a log line is enough to find the bug.

/// A description that cannot become a valid kernel request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot build the netlink request for {object}: {reason}")]
pub struct EncodeError {
    /// The object, e.g. `HTB class 1:10 on ifindex 3`.
    pub object: String,
    /// What is wrong and what to use instead.
    pub reason: String,
}

impl EncodeError {
    pub(crate) fn new(object: impl Into<String>, reason: impl Into<String>) -> Self {
        EncodeError {
            object: object.into(),
            reason: reason.into(),
        }
    }
}

/// A kernel reply that does not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end before a field or a declared length does.
    #[error("malformed netlink reply: {what} is truncated (needs {need} bytes, has {have})")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes there.
        have: usize,
    },
    /// The message is another type than the decoder handles.
    #[error("unexpected netlink message type {got} where a {expected} was expected")]
    UnexpectedType {
        /// The message the decoder reads.
        expected: &'static str,
        /// `nlmsg_type` found.
        got: u16,
    },
    /// A mandatory attribute is absent.
    #[error("malformed netlink reply: {what} has no {attr} attribute")]
    Missing {
        /// The structure being read.
        what: &'static str,
        /// The attribute's name.
        attr: &'static str,
    },
    /// A field holds a value this decoder cannot represent.
    #[error("malformed netlink reply: {what}: {detail}")]
    Invalid {
        /// The structure being read.
        what: &'static str,
        /// What was found.
        detail: String,
    },
}
