//! HTB classes: the guaranteed rate / ceiling tree hearth shapes every device and group with,
//! and whose counters give per-device traffic.
//!
//! RTM_NEWTCLASS = `tcmsg` (handle = classid) + KIND "htb" +
//! `OPTIONS { [RATE64] [CEIL64] PARMS RTAB CTAB }` — iproute2's order. Bursts travel as
//! psched ticks ([`super::rate`]); the 1 KiB rate tables are sent as iproute2 sends them
//! although the kernel ignores them.

use super::error::{DecodeError, EncodeError};
use super::rate::{self, HTB_MTU};
use super::stats::{StatsCollector, TcStats};
use super::wire::{
    self, tc_message, Attrs, Writer, RTM_DELTCLASS, RTM_NEWTCLASS, TCA_KIND, TCA_OPTIONS,
};
use super::{Handle, NewFlags, TC_H_ROOT};

// TCA_HTB_* (NOTES §4).
const TCA_HTB_PARMS: u16 = 1;
const TCA_HTB_CTAB: u16 = 3;
const TCA_HTB_RTAB: u16 = 4;
const TCA_HTB_RATE64: u16 = 6;
const TCA_HTB_CEIL64: u16 = 7;
/// Highest HTB priority; the kernel silently clamps larger values.
pub const HTB_MAX_PRIO: u32 = 7;

/// One HTB class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtbClass {
    /// The device (`tcm_ifindex`).
    pub ifindex: u32,
    /// `major:minor` of this class; the major is the HTB qdisc's.
    pub classid: u32,
    /// The parent class, or the qdisc handle (`1:`) for a top class. Dumps report top classes
    /// with parent `root`; the decoder turns that back into the qdisc handle.
    pub parent: u32,
    /// Guaranteed rate, bytes per second.
    pub rate_bps: u64,
    /// Rate the class may reach by borrowing, bytes per second; 0 = same as `rate_bps`.
    pub ceil_bps: u64,
    /// Bytes the class may send at once at `ceil` when it has saved up tokens; 0 = tc's
    /// default (rate / 10^9 + 1600 B). Stored by the kernel as ticks at `rate_bps`.
    pub burst: u32,
    /// Like `burst`, for the ceiling bucket (at `ceil_bps`); 0 = tc's default.
    pub cburst: u32,
    /// Borrowing priority, 0 (first) to 7.
    pub prio: u32,
    /// Bytes served per round among siblings; 0 = the kernel's rate / r2q (clamped
    /// 1000..=200000 with a warning).
    pub quantum: u32,
}

/// A class read from a dump (any kind), with its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpedClass {
    /// The device.
    pub ifindex: u32,
    /// The class id.
    pub classid: u32,
    /// The parent, normalized like [`HtbClass::parent`].
    pub parent: u32,
    /// Handle of the qdisc under this class (0 when it has none of its own).
    pub leaf_qdisc: u32,
    /// `TCA_KIND` of the class's qdisc.
    pub kind: String,
    /// The HTB parameters when `kind` is "htb".
    pub htb: Option<HtbClass>,
    /// Bytes, packets, drops, backlog: the per-device counters.
    pub stats: Option<TcStats>,
}

// === impl HtbClass ===

impl HtbClass {
    /// Names the class in messages: `HTB class 1:10 (parent 1:1) on ifindex 3`.
    pub fn describe(&self) -> String {
        format!(
            "HTB class {} (parent {}) on ifindex {}",
            Handle(self.classid),
            Handle(self.parent),
            self.ifindex
        )
    }

    /// The ceiling actually requested (`ceil_bps`, or `rate_bps` when 0).
    pub fn effective_ceil(&self) -> u64 {
        if self.ceil_bps == 0 {
            self.rate_bps
        } else {
            self.ceil_bps
        }
    }

    /// The burst actually requested, bytes (`burst`, or tc's default at `rate_bps`).
    pub fn effective_burst(&self) -> u32 {
        if self.burst == 0 {
            rate::default_burst(self.rate_bps)
        } else {
            self.burst
        }
    }

    /// The ceiling burst actually requested, bytes.
    pub fn effective_cburst(&self) -> u32 {
        if self.cburst == 0 {
            rate::default_burst(self.effective_ceil())
        } else {
            self.cburst
        }
    }

    /// `buffer` as sent to the kernel: ticks to send the burst at the rate.
    pub fn buffer_ticks(&self) -> Option<u32> {
        rate::xmit_ticks(u64::from(self.effective_burst()), self.rate_bps)
    }

    /// `cbuffer` as sent to the kernel: ticks to send the ceiling burst at the ceiling.
    pub fn cbuffer_ticks(&self) -> Option<u32> {
        rate::xmit_ticks(u64::from(self.effective_cburst()), self.effective_ceil())
    }

    /// RTM_NEWTCLASS request. Use [`NewFlags::CREATE_OR_CHANGE`] to create or update in
    /// place (HTB classes do have a change operation); [`NewFlags::ADD`] fails on an
    /// existing class.
    pub fn encode_new(&self, flags: NewFlags) -> Result<Vec<u8>, EncodeError> {
        let invalid = |reason: &str| EncodeError::new(self.describe(), reason);
        if self.classid & 0xFFFF == 0 {
            return Err(invalid("a class id needs a minor number (1:10, not 1:)"));
        }
        if self.parent != TC_H_ROOT && self.parent >> 16 != self.classid >> 16 {
            return Err(invalid(
                "class and parent must have the same major number (the HTB qdisc's)",
            ));
        }
        if self.rate_bps == 0 {
            return Err(invalid("the rate must be above 0 (the kernel rejects 0)"));
        }
        let ceil = self.effective_ceil();
        if ceil < self.rate_bps {
            return Err(invalid("the ceiling is below the guaranteed rate"));
        }
        if self.prio > HTB_MAX_PRIO {
            return Err(invalid("HTB priorities are 0 to 7"));
        }
        let too_long =
            || invalid("the burst takes longer than the kernel can count (274 s) at this rate");
        let buffer = self.buffer_ticks().ok_or_else(too_long)?;
        let cbuffer = self.cbuffer_ticks().ok_or_else(too_long)?;
        let cell_log = rate::cell_log(HTB_MTU);

        let mut w = Writer::new(RTM_NEWTCLASS, flags.bits());
        w.tcmsg(self.ifindex, self.classid, self.parent, 0);
        w.attr_str(TCA_KIND, "htb");
        let opts = w.begin_nest(TCA_OPTIONS);
        if rate::needs_rate64(self.rate_bps) {
            w.attr_u64(TCA_HTB_RATE64, self.rate_bps);
        }
        if rate::needs_rate64(ceil) {
            w.attr_u64(TCA_HTB_CEIL64, ceil);
        }
        // struct tc_htb_opt: rate, ceil, buffer, cbuffer, quantum, level, prio.
        let mut parms = Vec::with_capacity(44);
        rate::push_ratespec(&mut parms, cell_log, self.rate_bps);
        rate::push_ratespec(&mut parms, cell_log, ceil);
        for v in [buffer, cbuffer, self.quantum, 0, self.prio] {
            parms.extend_from_slice(&v.to_ne_bytes());
        }
        w.attr(TCA_HTB_PARMS, &parms);
        rate::attr_rate_table(&mut w, TCA_HTB_RTAB, cell_log, self.rate_bps);
        rate::attr_rate_table(&mut w, TCA_HTB_CTAB, cell_log, ceil);
        w.end_nest(opts);
        Ok(w.finish())
    }

    /// RTM_DELTCLASS request for this class.
    pub fn encode_del(&self) -> Vec<u8> {
        encode_del(self.ifindex, self.classid)
    }

    /// Whether `actual` (decoded from a dump) is this planned class: same place, rates,
    /// buckets (compared in ticks, as the kernel keeps them) and priority; a planned quantum
    /// of 0 accepts whatever the kernel computed. A different parent cannot be changed in
    /// place: delete and re-add.
    pub fn is_met_by(&self, actual: &HtbClass) -> bool {
        self.ifindex == actual.ifindex
            && self.classid == actual.classid
            && self.parent == actual.parent
            && self.rate_bps == actual.rate_bps
            && self.effective_ceil() == actual.effective_ceil()
            && self.buffer_ticks() == actual.buffer_ticks()
            && self.cbuffer_ticks() == actual.cbuffer_ticks()
            && self.prio == actual.prio
            && (self.quantum == 0 || self.quantum == actual.quantum)
    }
}

/// RTM_DELTCLASS request (`tc class del dev X classid C`). The kernel refuses (EBUSY) while
/// the class has children or a filter points to it: delete filters and children first.
pub fn encode_del(ifindex: u32, classid: u32) -> Vec<u8> {
    let mut w = Writer::new(RTM_DELTCLASS, wire::NLM_F_REQUEST | wire::NLM_F_ACK);
    w.tcmsg(ifindex, classid, 0, 0);
    w.finish()
}

// === decoding ===

impl DumpedClass {
    /// Reads one RTM_NEWTCLASS message (a dump part, or a request).
    pub fn decode(msg: &[u8]) -> Result<DumpedClass, DecodeError> {
        const WHAT: &str = "RTM_NEWTCLASS";
        let (tcm, attrs) = tc_message(msg, RTM_NEWTCLASS, WHAT)?;
        let mut kind = None;
        let mut options = None;
        let mut stats = StatsCollector::default();
        for a in attrs {
            let a = a?;
            match a.ty {
                TCA_KIND => kind = Some(a.string()?),
                TCA_OPTIONS => options = Some(a.payload),
                _ => stats.offer(&a)?,
            }
        }
        let kind = kind.ok_or(DecodeError::Missing {
            what: WHAT,
            attr: "TCA_KIND",
        })?;
        // Top classes are reported with parent TC_H_ROOT; plans name the qdisc (`1:`).
        let parent = if tcm.parent == TC_H_ROOT {
            tcm.handle & 0xFFFF_0000
        } else {
            tcm.parent
        };
        let htb = if kind == "htb" {
            let opts = options.ok_or(DecodeError::Missing {
                what: WHAT,
                attr: "TCA_OPTIONS",
            })?;
            Some(decode_htb(opts, tcm.ifindex, tcm.handle, parent)?)
        } else {
            None
        };
        Ok(DumpedClass {
            ifindex: tcm.ifindex,
            classid: tcm.handle,
            parent,
            leaf_qdisc: tcm.info,
            kind,
            htb,
            stats: stats.finish(),
        })
    }
}

fn decode_htb(
    opts: &[u8],
    ifindex: u32,
    classid: u32,
    parent: u32,
) -> Result<HtbClass, DecodeError> {
    const WHAT: &str = "htb class options";
    let mut parms = None;
    let mut rate64 = None;
    let mut ceil64 = None;
    for a in Attrs::new(opts, WHAT) {
        let a = a?;
        match a.ty {
            TCA_HTB_PARMS => parms = Some(a.payload),
            TCA_HTB_RATE64 => rate64 = Some(a.u64()?),
            TCA_HTB_CEIL64 => ceil64 = Some(a.u64()?),
            _ => {}
        }
    }
    let p = parms.ok_or(DecodeError::Missing {
        what: WHAT,
        attr: "TCA_HTB_PARMS",
    })?;
    let rate32 = wire::read_u32(p, 8, WHAT)?;
    let ceil32 = wire::read_u32(p, 20, WHAT)?;
    let rate_bps = rate64.unwrap_or(u64::from(rate32));
    let ceil_bps = ceil64.unwrap_or(u64::from(ceil32));
    let buffer = wire::read_u32(p, 24, WHAT)?;
    let cbuffer = wire::read_u32(p, 28, WHAT)?;
    Ok(HtbClass {
        ifindex,
        classid,
        parent,
        rate_bps,
        ceil_bps,
        burst: rate::burst_from_ticks(buffer, rate_bps),
        cburst: rate::burst_from_ticks(cbuffer, ceil_bps),
        quantum: wire::read_u32(p, 32, WHAT)?,
        prio: wire::read_u32(p, 40, WHAT)?,
    })
}
