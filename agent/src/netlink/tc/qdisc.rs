//! Qdiscs: the HTB root that holds hearth's classes, the leaf qdiscs under its classes (CAKE,
//! fq_codel, pfifo), TBF, and the ingress qdisc whose filter redirects to an IFB.
//!
//! RTM_NEWQDISC = `tcmsg` + TCA_KIND + TCA_OPTIONS (a nest, except pfifo's raw `u32 limit`
//! and ingress, which has none). Attribute order follows iproute2 6.1 so requests are
//! byte-equal to `tc`'s. Decoding reads the same attributes back from dump replies.

use super::error::{DecodeError, EncodeError};
use super::rate::{self, TBF_MTU};
use super::stab::{SizeSpec, TCA_STAB};
use super::stats::{StatsCollector, TcStats};
use super::wire::{
    self, tc_message, Attrs, Writer, RTM_DELQDISC, RTM_NEWQDISC, TCA_KIND, TCA_OPTIONS,
};
use super::{Handle, NewFlags, INGRESS_HANDLE, TC_H_INGRESS};

// TCA_HTB_* (NOTES §4).
const TCA_HTB_INIT: u16 = 2;
/// `TC_HTB_PROTOVER`: the kernel rejects any other glob version.
const HTB_VERSION: u32 = 3;

// TCA_TBF_* (NOTES §5).
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RTAB: u16 = 2;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;

// TCA_FQ_CODEL_* (NOTES §5).
const FQ_CODEL_TARGET: u16 = 1;
const FQ_CODEL_LIMIT: u16 = 2;
const FQ_CODEL_INTERVAL: u16 = 3;
const FQ_CODEL_ECN: u16 = 4;
const FQ_CODEL_FLOWS: u16 = 5;
const FQ_CODEL_QUANTUM: u16 = 6;
const FQ_CODEL_CE_THRESHOLD: u16 = 7;
const FQ_CODEL_MEMORY_LIMIT: u16 = 9;

// TCA_CAKE_* (NOTES §5).
const CAKE_BASE_RATE64: u16 = 2;
const CAKE_DIFFSERV_MODE: u16 = 3;
const CAKE_ATM: u16 = 4;
const CAKE_FLOW_MODE: u16 = 5;
const CAKE_OVERHEAD: u16 = 6;
const CAKE_RTT: u16 = 7;
const CAKE_TARGET: u16 = 8;
const CAKE_AUTORATE: u16 = 9;
const CAKE_MEMORY: u16 = 10;
const CAKE_NAT: u16 = 11;
const CAKE_RAW: u16 = 12;
const CAKE_WASH: u16 = 13;
const CAKE_MPU: u16 = 14;
const CAKE_INGRESS: u16 = 15;
const CAKE_ACK_FILTER: u16 = 16;
const CAKE_SPLIT_GSO: u16 = 17;

/// One qdisc on one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qdisc {
    /// The device (`tcm_ifindex`).
    pub ifindex: u32,
    /// `major:0` handle (`1:` = 0x0001_0000). 0 lets the kernel pick one; the ingress qdisc
    /// is always [`INGRESS_HANDLE`].
    pub handle: u32,
    /// Where it hangs: [`super::TC_H_ROOT`], an HTB class id for a leaf qdisc, or
    /// [`TC_H_INGRESS`].
    pub parent: u32,
    /// The discipline and its parameters.
    pub kind: QdiscKind,
    /// How packet lengths are accounted (`stab overhead N ...`); `None` = as the kernel sees
    /// them. Compared exactly: a size table hearth did not plan is removed.
    pub stab: Option<SizeSpec>,
}

/// A qdisc's discipline and the parameters hearth sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QdiscKind {
    /// Hierarchical token bucket: the root that holds hearth's classes.
    Htb {
        /// Minor of the class unclassified packets go to (`0x30` for `1:30`; 0 = the
        /// unshaped direct queue). A full class id is accepted when encoding if its major is
        /// the qdisc's; decoding always yields the minor.
        default_class: u32,
        /// Rate-to-quantum divisor for classes without an explicit quantum (tc's default 10).
        r2q: u32,
    },
    /// Token bucket filter: one rate for the whole device, no classes.
    Tbf {
        /// Rate, bytes per second.
        rate_bps: u64,
        /// Bucket size in bytes: how much may leave at line speed; must be at least the
        /// device MTU.
        burst: u32,
        /// Bytes that may wait in the queue (tc's `latency` L means rate × L + burst).
        limit: u32,
    },
    /// CAKE: shaper and AQM in one; hearth uses it unlimited as an HTB leaf.
    Cake(Cake),
    /// fq_codel: the fair-queueing AQM leaf when CAKE is missing.
    FqCodel(FqCodel),
    /// A plain packet FIFO: the leaf of last resort.
    Pfifo {
        /// Queue length in packets.
        limit: u32,
    },
    /// The ingress qdisc: a hook for filters on received traffic (to redirect it to an IFB).
    Ingress,
    /// Any other discipline (noqueue, mq, pfifo_fast, …) as found in a dump. Encoding sends
    /// only its kind, so the kernel uses that discipline's defaults.
    Other {
        /// `TCA_KIND` as the kernel names it.
        kind: String,
    },
}

/// CAKE parameters. `None` leaves the kernel's default (and is not compared by
/// [`QdiscKind::is_met_by`]); a dump fills every field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cake {
    /// Shaped rate in **bytes** per second; 0 = unlimited (an outer HTB shapes).
    pub bandwidth_bps: u64,
    /// Priority tins by DSCP.
    pub diffserv: Option<CakeDiffserv>,
    /// Link-layer cell framing to account for (DSL).
    pub atm: Option<CakeAtm>,
    /// How flows are isolated (per host, per flow, …).
    pub flow_mode: Option<CakeFlowMode>,
    /// Bytes added to every packet for framing the kernel does not see (-64..=256).
    pub overhead: Option<i32>,
    /// `raw`: count packets as the kernel sees them, with no overhead compensation. The kernel
    /// dumps `TCA_CAKE_RAW` only for a CAKE created without an overhead, and reports
    /// `overhead 0` for it too — so restoring a dump must send `RAW` as well, or the copy comes
    /// back as `overhead 0 noatm`. A plan without it does not compare it.
    pub raw: bool,
    /// Minimum packet size accounted, bytes.
    pub mpu: Option<u32>,
    /// Expected round-trip time, µs; tc also sends target = rtt / 20, and so does hearth.
    pub rtt_us: Option<u32>,
    /// Look up the real hosts behind NAT (conntrack) for host isolation.
    pub nat: Option<bool>,
    /// Clear DSCP marks after classifying (do not trust the ISP's marks).
    pub wash: Option<bool>,
    /// Shaping received traffic (on an IFB): count dropped packets as sent.
    pub ingress: Option<bool>,
    /// Drop redundant TCP ACKs on slow uplinks.
    pub ack_filter: Option<CakeAckFilter>,
    /// Split GSO super-packets to keep latency low at low rates.
    pub split_gso: Option<bool>,
    /// Memory limit for queued packets, bytes.
    pub memory_limit: Option<u32>,
}

/// `TCA_CAKE_DIFFSERV_MODE` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CakeDiffserv {
    Diffserv3 = 0,
    Diffserv4 = 1,
    Diffserv8 = 2,
    Besteffort = 3,
    Precedence = 4,
}

/// `TCA_CAKE_ATM` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CakeAtm {
    None = 0,
    Atm = 1,
    Ptm = 2,
}

/// `TCA_CAKE_FLOW_MODE` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CakeFlowMode {
    Flowblind = 0,
    Srchost = 1,
    Dsthost = 2,
    Hosts = 3,
    Flows = 4,
    DualSrchost = 5,
    DualDsthost = 6,
    TripleIsolate = 7,
}

/// `TCA_CAKE_ACK_FILTER` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CakeAckFilter {
    Off = 0,
    Filter = 1,
    Aggressive = 2,
}

/// fq_codel parameters; `None` = kernel default (not sent, not compared). A dump fills them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FqCodel {
    /// Queue limit, packets (default 10240).
    pub limit: Option<u32>,
    /// Number of flow buckets; only settable at creation (default 1024).
    pub flows: Option<u32>,
    /// Bytes dequeued per flow per round (default: device MTU + 14).
    pub quantum: Option<u32>,
    /// CoDel interval, µs (default 100 ms).
    pub interval_us: Option<u32>,
    /// CoDel target sojourn time, µs (default 5 ms).
    pub target_us: Option<u32>,
    /// Mark ECN-capable packets instead of dropping them.
    pub ecn: Option<bool>,
    /// Sojourn time above which packets get CE marks, µs.
    pub ce_threshold_us: Option<u32>,
    /// Memory limit for queued packets, bytes (default 32 MB).
    pub memory_limit: Option<u32>,
}

/// A qdisc read from a dump, with its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpedQdisc {
    /// The qdisc, described as a plan would describe it.
    pub qdisc: Qdisc,
    /// Bytes, packets, drops, backlog.
    pub stats: Option<TcStats>,
}

// === impl Qdisc ===

impl Qdisc {
    /// The ingress qdisc of a device (`tc qdisc add dev X handle ffff: ingress`).
    pub fn ingress(ifindex: u32) -> Qdisc {
        Qdisc {
            ifindex,
            handle: INGRESS_HANDLE,
            parent: TC_H_INGRESS,
            kind: QdiscKind::Ingress,
            stab: None,
        }
    }

    /// Names the qdisc in messages: `htb qdisc 1: (parent root) on ifindex 3`.
    pub fn describe(&self) -> String {
        format!(
            "{} qdisc {} (parent {}) on ifindex {}",
            self.kind.name(),
            Handle(self.handle),
            Handle(self.parent),
            self.ifindex
        )
    }

    /// Whether `actual` (from a dump) is this planned qdisc: same device and parent, same
    /// handle (a planned handle of 0 accepts the kernel's choice), and a kind that
    /// [`QdiscKind::is_met_by`].
    pub fn is_met_by(&self, actual: &Qdisc) -> bool {
        self.ifindex == actual.ifindex
            && self.parent == actual.parent
            && (self.handle == 0 || self.handle == actual.handle)
            && self.kind.is_met_by(&actual.kind)
            && self.stab == actual.stab
    }

    /// RTM_NEWQDISC request (`tc qdisc add|replace|change`).
    pub fn encode_new(&self, flags: NewFlags) -> Result<Vec<u8>, EncodeError> {
        let mut w = Writer::new(RTM_NEWQDISC, flags.bits());
        w.tcmsg(self.ifindex, self.handle, self.parent, 0);
        w.attr_str(TCA_KIND, self.kind.name());
        let invalid = |reason: &str| EncodeError::new(self.describe(), reason);
        match &self.kind {
            QdiscKind::Htb { default_class, r2q } => {
                let major = *default_class >> 16;
                if major != 0 && major != self.handle >> 16 {
                    return Err(invalid(
                        "the default class must belong to this qdisc (same major number)",
                    ));
                }
                let opts = w.begin_nest(TCA_OPTIONS);
                // struct tc_htb_glob: version, rate2quantum, defcls, debug, direct_pkts.
                let mut glob = Vec::with_capacity(20);
                for v in [HTB_VERSION, *r2q, *default_class & 0xFFFF, 0, 0] {
                    glob.extend_from_slice(&v.to_ne_bytes());
                }
                w.attr(TCA_HTB_INIT, &glob);
                w.end_nest(opts);
            }
            QdiscKind::Tbf {
                rate_bps,
                burst,
                limit,
            } => {
                if *rate_bps == 0 || *burst == 0 || *limit == 0 {
                    return Err(invalid("TBF needs a rate, a burst and a limit above 0"));
                }
                let buffer = rate::xmit_ticks(u64::from(*burst), *rate_bps).ok_or_else(|| {
                    invalid("the burst takes longer than the kernel can count (274 s) at this rate")
                })?;
                let cell_log = rate::cell_log(TBF_MTU);
                let opts = w.begin_nest(TCA_OPTIONS);
                // struct tc_tbf_qopt: rate, peakrate (none), limit, buffer, mtu.
                let mut qopt = Vec::with_capacity(36);
                rate::push_ratespec(&mut qopt, cell_log, *rate_bps);
                qopt.extend_from_slice(&[0; 12]);
                for v in [*limit, buffer, 0] {
                    qopt.extend_from_slice(&v.to_ne_bytes());
                }
                w.attr(TCA_TBF_PARMS, &qopt);
                w.attr_u32(TCA_TBF_BURST, *burst);
                if rate::needs_rate64(*rate_bps) {
                    w.attr_u64(TCA_TBF_RATE64, *rate_bps);
                }
                rate::attr_rate_table(&mut w, TCA_TBF_RTAB, cell_log, *rate_bps);
                w.end_nest(opts);
            }
            QdiscKind::Cake(c) => {
                if let Some(o) = c.overhead {
                    if !(-64..=256).contains(&o) {
                        return Err(invalid("CAKE overhead must be within -64..=256 bytes"));
                    }
                }
                let opts = w.begin_nest(TCA_OPTIONS);
                encode_cake(&mut w, c);
                w.end_nest(opts);
            }
            QdiscKind::FqCodel(f) => {
                let opts = w.begin_nest(TCA_OPTIONS);
                let fields = [
                    (FQ_CODEL_LIMIT, f.limit),
                    (FQ_CODEL_FLOWS, f.flows),
                    (FQ_CODEL_QUANTUM, f.quantum),
                    (FQ_CODEL_INTERVAL, f.interval_us),
                    (FQ_CODEL_TARGET, f.target_us),
                    (FQ_CODEL_ECN, f.ecn.map(u32::from)),
                    (FQ_CODEL_CE_THRESHOLD, f.ce_threshold_us),
                    (FQ_CODEL_MEMORY_LIMIT, f.memory_limit),
                ];
                for (ty, v) in fields {
                    if let Some(v) = v {
                        w.attr_u32(ty, v);
                    }
                }
                w.end_nest(opts);
            }
            // struct tc_fifo_qopt { u32 limit } directly as TCA_OPTIONS (not a nest).
            QdiscKind::Pfifo { limit } => w.attr_u32(TCA_OPTIONS, *limit),
            QdiscKind::Ingress => {}
            QdiscKind::Other { kind } => {
                if kind.is_empty() || kind.len() >= 16 || kind.contains('\0') {
                    return Err(invalid("a qdisc kind is 1 to 15 characters"));
                }
            }
        }
        // iproute2 adds the size table after the options.
        if let Some(stab) = &self.stab {
            if stab.tsize > 4096 {
                return Err(invalid("a size table has at most 4096 entries"));
            }
            stab.encode(&mut w);
        }
        Ok(w.finish())
    }

    /// RTM_NEWQDISC `change` that sets (or, with `None`, removes) only the size table: kind and
    /// stab, no options. The kernel runs the discipline's change operation only for
    /// `TCA_OPTIONS`, so this works on HTB, which has none, and leaves its classes alone.
    pub fn encode_stab_change(&self) -> Vec<u8> {
        let mut w = Writer::new(RTM_NEWQDISC, NewFlags::CHANGE.bits());
        w.tcmsg(self.ifindex, self.handle, self.parent, 0);
        w.attr_str(TCA_KIND, self.kind.name());
        if let Some(stab) = &self.stab {
            stab.encode(&mut w);
        }
        w.finish()
    }

    /// RTM_DELQDISC request (`tc qdisc del dev X parent P [handle H]`). With handle 0 the
    /// kernel deletes whatever qdisc sits at `parent`; with a handle it checks it first.
    pub fn encode_del(&self) -> Vec<u8> {
        let mut w = Writer::new(RTM_DELQDISC, wire::NLM_F_REQUEST | wire::NLM_F_ACK);
        w.tcmsg(self.ifindex, self.handle, self.parent, 0);
        w.finish()
    }
}

fn encode_cake(w: &mut Writer, c: &Cake) {
    // iproute2 order: BASE_RATE64, DIFFSERV, ATM, FLOW_MODE, OVERHEAD, MPU, RTT, TARGET,
    // AUTORATE, MEMORY, NAT, WASH, SPLIT_GSO, INGRESS, ACK_FILTER.
    w.attr_u64(CAKE_BASE_RATE64, c.bandwidth_bps);
    let fields = [
        (CAKE_DIFFSERV_MODE, c.diffserv.map(|d| d as u32)),
        (CAKE_ATM, c.atm.map(|a| a as u32)),
        (CAKE_FLOW_MODE, c.flow_mode.map(|f| f as u32)),
        (CAKE_OVERHEAD, c.overhead.map(|o| o as u32)),
        // tc's `raw` sends OVERHEAD 0 and then RAW 0 (the kernel applies them in that order).
        (CAKE_RAW, c.raw.then_some(0)),
        (CAKE_MPU, c.mpu),
        (CAKE_RTT, c.rtt_us),
        (CAKE_TARGET, c.rtt_us.map(|r| (r / 20).max(1))),
        // tc sends "autorate off" with every explicit bandwidth, hearth always gives one.
        (CAKE_AUTORATE, Some(0)),
        (CAKE_MEMORY, c.memory_limit),
        (CAKE_NAT, c.nat.map(u32::from)),
        (CAKE_WASH, c.wash.map(u32::from)),
        (CAKE_SPLIT_GSO, c.split_gso.map(u32::from)),
        (CAKE_INGRESS, c.ingress.map(u32::from)),
        (CAKE_ACK_FILTER, c.ack_filter.map(|a| a as u32)),
    ];
    for (ty, v) in fields {
        if let Some(v) = v {
            w.attr_u32(ty, v);
        }
    }
}

// === impl QdiscKind ===

impl QdiscKind {
    /// `TCA_KIND` string.
    pub fn name(&self) -> &str {
        match self {
            QdiscKind::Htb { .. } => "htb",
            QdiscKind::Tbf { .. } => "tbf",
            QdiscKind::Cake(_) => "cake",
            QdiscKind::FqCodel(_) => "fq_codel",
            QdiscKind::Pfifo { .. } => "pfifo",
            QdiscKind::Ingress => "ingress",
            QdiscKind::Other { kind } => kind,
        }
    }

    /// Whether `actual` (decoded from a dump) is what this planned kind asks for: same
    /// discipline, every parameter the plan sets equal. Unset `Option`s are not compared;
    /// values the kernel stores coarser are compared as it reports them (fq_codel times in
    /// 1024 ns units, TBF bursts within a microsecond of data).
    pub fn is_met_by(&self, actual: &QdiscKind) -> bool {
        fn opt<T: PartialEq>(plan: &Option<T>, actual: &Option<T>) -> bool {
            plan.is_none() || plan == actual
        }
        match (self, actual) {
            (
                QdiscKind::Htb { default_class, r2q },
                QdiscKind::Htb {
                    default_class: d2,
                    r2q: r2,
                },
            ) => default_class & 0xFFFF == d2 & 0xFFFF && r2q == r2,
            (
                QdiscKind::Tbf {
                    rate_bps,
                    burst,
                    limit,
                },
                QdiscKind::Tbf {
                    rate_bps: r2,
                    burst: b2,
                    limit: l2,
                },
            ) => rate_bps == r2 && limit == l2 && rate::same_burst(*burst, *b2, *rate_bps),
            (QdiscKind::Cake(p), QdiscKind::Cake(a)) => {
                p.bandwidth_bps == a.bandwidth_bps
                    && opt(&p.diffserv, &a.diffserv)
                    && opt(&p.atm, &a.atm)
                    && opt(&p.flow_mode, &a.flow_mode)
                    && opt(&p.overhead, &a.overhead)
                    && (!p.raw || a.raw)
                    && opt(&p.mpu, &a.mpu)
                    && opt(&p.rtt_us, &a.rtt_us)
                    && opt(&p.nat, &a.nat)
                    && opt(&p.wash, &a.wash)
                    && opt(&p.ingress, &a.ingress)
                    && opt(&p.ack_filter, &a.ack_filter)
                    && opt(&p.split_gso, &a.split_gso)
                    && opt(&p.memory_limit, &a.memory_limit)
            }
            (QdiscKind::FqCodel(p), QdiscKind::FqCodel(a)) => {
                // Times come back from the kernel rounded down to its 1024 ns units.
                let time = |plan: &Option<u32>, actual: &Option<u32>| {
                    opt(plan, actual) || plan.map(rate::codel_us) == *actual
                };
                opt(&p.limit, &a.limit)
                    && opt(&p.flows, &a.flows)
                    && opt(&p.quantum, &a.quantum)
                    && time(&p.interval_us, &a.interval_us)
                    && time(&p.target_us, &a.target_us)
                    && opt(&p.ecn, &a.ecn)
                    && time(&p.ce_threshold_us, &a.ce_threshold_us)
                    && opt(&p.memory_limit, &a.memory_limit)
            }
            (QdiscKind::Other { kind }, other) => kind == other.name(),
            (plan, actual) => plan == actual,
        }
    }
}

// === decoding ===

impl DumpedQdisc {
    /// Reads one RTM_NEWQDISC message (a dump part, or a request).
    pub fn decode(msg: &[u8]) -> Result<DumpedQdisc, DecodeError> {
        const WHAT: &str = "RTM_NEWQDISC";
        let (tcm, attrs) = tc_message(msg, RTM_NEWQDISC, WHAT)?;
        let mut kind = None;
        let mut options = None;
        let mut stab = None;
        let mut stats = StatsCollector::default();
        for a in attrs {
            let a = a?;
            match a.ty {
                TCA_KIND => kind = Some(a.string()?),
                TCA_OPTIONS => options = Some(a),
                TCA_STAB => stab = Some(SizeSpec::decode(&a)?),
                _ => stats.offer(&a)?,
            }
        }
        let kind = kind.ok_or(DecodeError::Missing {
            what: WHAT,
            attr: "TCA_KIND",
        })?;
        let payload = options.map(|a| a.payload);
        let kind = match kind.as_str() {
            "htb" => decode_htb(required(payload, "htb")?)?,
            "tbf" => decode_tbf(required(payload, "tbf")?)?,
            "cake" => QdiscKind::Cake(decode_cake(payload.unwrap_or(&[]))?),
            "fq_codel" => QdiscKind::FqCodel(decode_fq_codel(payload.unwrap_or(&[]))?),
            "pfifo" => QdiscKind::Pfifo {
                limit: wire::read_u32(required(payload, "pfifo")?, 0, "pfifo options")?,
            },
            "ingress" => QdiscKind::Ingress,
            _ => QdiscKind::Other { kind },
        };
        Ok(DumpedQdisc {
            qdisc: Qdisc {
                ifindex: tcm.ifindex,
                handle: tcm.handle,
                parent: tcm.parent,
                kind,
                stab,
            },
            stats: stats.finish(),
        })
    }
}

fn required<'a>(payload: Option<&'a [u8]>, kind: &'static str) -> Result<&'a [u8], DecodeError> {
    payload.ok_or(DecodeError::Missing {
        what: kind,
        attr: "TCA_OPTIONS",
    })
}

fn decode_htb(opts: &[u8]) -> Result<QdiscKind, DecodeError> {
    const WHAT: &str = "htb options";
    for a in Attrs::new(opts, WHAT) {
        let a = a?;
        if a.ty == TCA_HTB_INIT {
            return Ok(QdiscKind::Htb {
                r2q: wire::read_u32(a.payload, 4, WHAT)?,
                default_class: wire::read_u32(a.payload, 8, WHAT)?,
            });
        }
    }
    Err(DecodeError::Missing {
        what: WHAT,
        attr: "TCA_HTB_INIT",
    })
}

fn decode_tbf(opts: &[u8]) -> Result<QdiscKind, DecodeError> {
    const WHAT: &str = "tbf options";
    let mut parms = None;
    let mut rate64 = None;
    let mut burst_attr = None;
    for a in Attrs::new(opts, WHAT) {
        let a = a?;
        match a.ty {
            TCA_TBF_PARMS => parms = Some(a.payload),
            TCA_TBF_RATE64 => rate64 = Some(a.u64()?),
            TCA_TBF_BURST => burst_attr = Some(a.u32()?),
            _ => {}
        }
    }
    let p = parms.ok_or(DecodeError::Missing {
        what: WHAT,
        attr: "TCA_TBF_PARMS",
    })?;
    let rate32 = rate::ratespec_rate(p, 0).ok_or(DecodeError::Truncated {
        what: WHAT,
        need: 12,
        have: p.len(),
    })?;
    let rate_bps = rate64.unwrap_or(u64::from(rate32));
    let limit = wire::read_u32(p, 24, WHAT)?;
    let buffer = wire::read_u32(p, 28, WHAT)?;
    // Requests carry the burst in bytes; kernel dumps only the bucket in ticks.
    let burst = burst_attr.unwrap_or_else(|| rate::burst_from_ticks(buffer, rate_bps));
    Ok(QdiscKind::Tbf {
        rate_bps,
        burst,
        limit,
    })
}

fn decode_cake(opts: &[u8]) -> Result<Cake, DecodeError> {
    const WHAT: &str = "cake options";
    let mut c = Cake::default();
    let bad = |name: &str, v: u32| DecodeError::Invalid {
        what: WHAT,
        detail: format!("unknown {name} {v}"),
    };
    for a in Attrs::new(opts, WHAT) {
        let a = a?;
        match a.ty {
            CAKE_BASE_RATE64 => c.bandwidth_bps = a.u64()?,
            CAKE_DIFFSERV_MODE => {
                let v = a.u32()?;
                c.diffserv = Some(match v {
                    0 => CakeDiffserv::Diffserv3,
                    1 => CakeDiffserv::Diffserv4,
                    2 => CakeDiffserv::Diffserv8,
                    3 => CakeDiffserv::Besteffort,
                    4 => CakeDiffserv::Precedence,
                    _ => return Err(bad("diffserv mode", v)),
                });
            }
            CAKE_ATM => {
                let v = a.u32()?;
                c.atm = Some(match v {
                    0 => CakeAtm::None,
                    1 => CakeAtm::Atm,
                    2 => CakeAtm::Ptm,
                    _ => return Err(bad("ATM mode", v)),
                });
            }
            CAKE_FLOW_MODE => {
                let v = a.u32()?;
                c.flow_mode = Some(match v {
                    0 => CakeFlowMode::Flowblind,
                    1 => CakeFlowMode::Srchost,
                    2 => CakeFlowMode::Dsthost,
                    3 => CakeFlowMode::Hosts,
                    4 => CakeFlowMode::Flows,
                    5 => CakeFlowMode::DualSrchost,
                    6 => CakeFlowMode::DualDsthost,
                    7 => CakeFlowMode::TripleIsolate,
                    _ => return Err(bad("flow mode", v)),
                });
            }
            CAKE_ACK_FILTER => {
                let v = a.u32()?;
                c.ack_filter = Some(match v {
                    0 => CakeAckFilter::Off,
                    1 => CakeAckFilter::Filter,
                    2 => CakeAckFilter::Aggressive,
                    _ => return Err(bad("ACK filter mode", v)),
                });
            }
            CAKE_OVERHEAD => c.overhead = Some(a.i32()?),
            CAKE_MPU => c.mpu = Some(a.u32()?),
            CAKE_RAW => c.raw = true,
            CAKE_RTT => c.rtt_us = Some(a.u32()?),
            CAKE_MEMORY => c.memory_limit = Some(a.u32()?),
            CAKE_NAT => c.nat = Some(a.u32()? != 0),
            CAKE_WASH => c.wash = Some(a.u32()? != 0),
            CAKE_INGRESS => c.ingress = Some(a.u32()? != 0),
            CAKE_SPLIT_GSO => c.split_gso = Some(a.u32()? != 0),
            // TARGET is derived from RTT; AUTORATE, FWMARK, PAD are not planned.
            _ => {}
        }
    }
    Ok(c)
}

fn decode_fq_codel(opts: &[u8]) -> Result<FqCodel, DecodeError> {
    const WHAT: &str = "fq_codel options";
    let mut f = FqCodel::default();
    for a in Attrs::new(opts, WHAT) {
        let a = a?;
        match a.ty {
            FQ_CODEL_LIMIT => f.limit = Some(a.u32()?),
            FQ_CODEL_FLOWS => f.flows = Some(a.u32()?),
            FQ_CODEL_QUANTUM => f.quantum = Some(a.u32()?),
            FQ_CODEL_INTERVAL => f.interval_us = Some(a.u32()?),
            FQ_CODEL_TARGET => f.target_us = Some(a.u32()?),
            FQ_CODEL_ECN => f.ecn = Some(a.u32()? != 0),
            FQ_CODEL_CE_THRESHOLD => f.ce_threshold_us = Some(a.u32()?),
            FQ_CODEL_MEMORY_LIMIT => f.memory_limit = Some(a.u32()?),
            _ => {}
        }
    }
    Ok(f)
}
