//! Counters the kernel attaches to every qdisc and class in a dump: `TCA_STATS2` (basic
//! bytes/packets, queue drops/backlog), falling back to the legacy `TCA_STATS` struct. Per
//! device byte counters are read from the classes hearth gives each device.

use super::error::DecodeError;
use super::wire::{read_u32, read_u64, Attr, TCA_STATS, TCA_STATS2};

// TCA_STATS2 nest members (NOTES §3).
const TCA_STATS_BASIC: u16 = 1;
const TCA_STATS_QUEUE: u16 = 3;
const TCA_STATS_PKT64: u16 = 8;

/// What a qdisc or class has carried and dropped since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcStats {
    /// Bytes sent through the object: the per-device traffic counter.
    pub bytes: u64,
    /// Packets sent (64-bit when the kernel reports `TCA_STATS_PKT64`).
    pub packets: u64,
    /// Packets dropped: a shaper that drops a lot is set too tight or too deep.
    pub drops: u32,
    /// Times the object was over its limit (HTB: had to wait or borrow).
    pub overlimits: u32,
    /// Packets put back for a retry by the driver.
    pub requeues: u32,
    /// Packets waiting in the queue now.
    pub qlen: u32,
    /// Bytes waiting in the queue now: the standing queue that causes latency.
    pub backlog: u32,
}

/// Collects stats from the top-level attributes of a dump message: `TCA_STATS2` when present
/// (as every kernel since 2.6 sends), else legacy `TCA_STATS`.
#[derive(Debug, Default)]
pub struct StatsCollector {
    /// Stats from `TCA_STATS2`.
    modern: Option<TcStats>,
    /// Stats from the legacy `struct tc_stats`.
    legacy: Option<TcStats>,
}

impl StatsCollector {
    /// Looks at one top-level attribute; ignores those that are not stats.
    pub fn offer(&mut self, a: &Attr<'_>) -> Result<(), DecodeError> {
        match a.ty {
            TCA_STATS2 => self.modern = Some(decode_stats2(a)?),
            TCA_STATS => self.legacy = Some(decode_legacy(a.payload)?),
            _ => {}
        }
        Ok(())
    }

    /// The stats found, if any.
    pub fn finish(self) -> Option<TcStats> {
        self.modern.or(self.legacy)
    }
}

fn decode_stats2(a: &Attr<'_>) -> Result<TcStats, DecodeError> {
    const WHAT: &str = "TCA_STATS2";
    let mut s = TcStats::default();
    let mut pkt64 = None;
    for attr in a.nested() {
        let attr = attr?;
        let p = attr.payload;
        match attr.ty {
            // struct gnet_stats_basic: u64 bytes, u32 packets (+ 4 bytes of padding on most ABIs).
            TCA_STATS_BASIC => {
                s.bytes = read_u64(p, 0, WHAT)?;
                s.packets = u64::from(read_u32(p, 8, WHAT)?);
            }
            // struct gnet_stats_queue: qlen, backlog, drops, requeues, overlimits.
            TCA_STATS_QUEUE => {
                s.qlen = read_u32(p, 0, WHAT)?;
                s.backlog = read_u32(p, 4, WHAT)?;
                s.drops = read_u32(p, 8, WHAT)?;
                s.requeues = read_u32(p, 12, WHAT)?;
                s.overlimits = read_u32(p, 16, WHAT)?;
            }
            TCA_STATS_PKT64 => pkt64 = Some(attr.u64()?),
            _ => {}
        }
    }
    if let Some(p) = pkt64 {
        s.packets = p;
    }
    Ok(s)
}

/// `struct tc_stats` (40 bytes): bytes u64, packets, drops, overlimits, bps, pps, qlen,
/// backlog (u32 each).
fn decode_legacy(p: &[u8]) -> Result<TcStats, DecodeError> {
    const WHAT: &str = "TCA_STATS";
    Ok(TcStats {
        bytes: read_u64(p, 0, WHAT)?,
        packets: u64::from(read_u32(p, 8, WHAT)?),
        drops: read_u32(p, 12, WHAT)?,
        overlimits: read_u32(p, 16, WHAT)?,
        requeues: 0,
        qlen: read_u32(p, 28, WHAT)?,
        backlog: read_u32(p, 32, WHAT)?,
    })
}
