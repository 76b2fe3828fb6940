//! Talking to the kernel over netlink. The message builders and parsers here are pure (bytes
//! in, bytes out) and proved against iproute2 captures; the code that owns sockets and sends
//! them (the executor) sits beside them and stays thin.
//!
//! - [`tc`]: traffic control — qdiscs, HTB classes, filters, the IFB link.

pub mod fib;
pub mod links;
pub mod shaping;
pub mod socket;
pub mod tc;
pub mod vpn;
