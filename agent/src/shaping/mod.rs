//! Traffic shaping, planned (pure): `Config` -> [`ShapingPlan`] — qdiscs, HTB classes and
//! filters per device — with no I/O. The netlink executor (`crate::netlink`) turns a plan into
//! kernel objects and reconciles.
//!
//! For each `config shaper` there are two places to shape, because NAT hides device addresses
//! on the WAN side:
//!
//! - **WAN link** (`device`): egress is shaped by an HTB root at `upload`; ingress is redirected
//!   (ingress qdisc + u32 match-all + mirred) to an IFB, `ifb4<dev>`, shaped at `download`.
//!   Under the root: priority tiers chosen by DSCP (high: EF/CS5–CS7; bulk: CS1/LE; the rest
//!   normal) and, on egress, a class for the balancer's own upstream traffic (its sockets carry
//!   the balancer's `fwmark`) capped at `llm_share`% of the link. This is SQM's bufferbloat cure
//!   plus priorities.
//! - **LAN side** (`lan_device`): egress = downloads to devices, classified by destination
//!   address; ingress (through `ifb4<lan>`) = uploads, classified by source address. A class
//!   per group with devices, and per device that has a cap, a data budget, a non-normal
//!   priority or is throttled; those classes give per-device byte counters.
//!
//! Rates are bytes per second here (the kernel's unit); the config is in kbit/s.

pub mod caps_cache;
pub mod ids;
pub mod subsystem;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use crate::config::{Config, Leaf, Priority, Shaper};

/// Ethernet MTU plus header: the smallest sensible HTB quantum and burst unit.
pub const MTU: u32 = 1514;
/// Largest HTB quantum the kernel accepts without complaint.
pub const MAX_QUANTUM: u32 = 200_000;
/// Root rate used where a direction is not shaped but per-device caps still apply (10 Gbit/s).
pub const UNSHAPED_BPS: u64 = 10_000_000_000 / 8;
/// Queue limit of pfifo leaves, packets.
pub const PFIFO_LIMIT: u32 = 1000;

/// DSCP values (6-bit) that go to the high tier: EF, CS5, CS6, CS7 (RFC 4594).
pub const DSCP_HIGH: &[u8] = &[46, 40, 48, 56];
/// DSCP values that go to the bulk tier: CS1 and LE (RFC 8622).
pub const DSCP_BULK: &[u8] = &[8, 1];

/// What the kernel offers (from the capability probe); decides `leaf auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    pub cake: bool,
    pub fq_codel: bool,
    /// The `fw` classifier (cls_fw), which the LLM class needs to match the balancer's mark.
    pub fw: bool,
}

/// The leaf qdisc under every HTB leaf class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafQdisc {
    /// CAKE in unlimited mode (HTB does the shaping), with the link's overhead.
    Cake {
        overhead: i32,
    },
    FqCodel,
    Pfifo {
        limit: u32,
    },
}

/// Which direction a link's classes shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Traffic leaving the router to the internet (WAN egress) or from devices (LAN ingress).
    Upload,
    /// Traffic arriving from the internet (WAN ingress) or going to devices (LAN egress).
    Download,
}

/// What a class is for (labels, counters, and which classes budgets may throttle).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClassRole {
    /// The HTB root class at the link rate.
    Root,
    /// A DSCP priority tier on the WAN link.
    Tier(TierKind),
    /// The balancer's own upstream traffic.
    Llm,
    /// Everything on the LAN side that matches no group or device.
    Other,
    Group(String),
    Device(String),
}

/// WAN priority tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TierKind {
    High,
    Normal,
    Bulk,
}

/// One HTB class (and its leaf qdisc, if it is a leaf).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassPlan {
    /// `major:minor` as the kernel's u32 (`0x0001_0010` = 1:10).
    pub classid: u32,
    /// Parent class id (the root class's parent is the qdisc handle `1:0`).
    pub parent: u32,
    /// Guaranteed rate, bytes/s.
    pub rate: u64,
    /// Ceiling, bytes/s.
    pub ceil: u64,
    /// Bytes that may be sent at full speed above `rate`.
    pub burst: u32,
    /// Bytes that may be sent at full speed above `ceil`.
    pub cburst: u32,
    /// Bytes served per round when borrowing.
    pub quantum: u32,
    /// Lower = served first when borrowing.
    pub prio: u32,
    /// Leaf qdisc; `None` for inner classes.
    pub leaf: Option<LeafQdisc>,
    /// What it is for.
    pub role: ClassRole,
}

/// How a filter picks packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// IPv4 TOS / IPv6 traffic-class DSCP equals `dscp`.
    Dscp { ipv6: bool, dscp: u8 },
    /// The packet's firewall mark.
    Mark { value: u32, mask: u32 },
    /// Source (uploads) or destination (downloads) address.
    Addr {
        source: bool,
        addr: IpAddr,
        prefix: u8,
    },
}

/// One classifying filter on a link's HTB root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterPlan {
    /// Lower = tried first.
    pub prio: u16,
    pub matches: Match,
    /// Where matching packets go.
    pub classid: u32,
}

/// Everything hearth puts on one network device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPlan {
    /// The device (a real link, or the IFB hearth creates).
    pub device: String,
    /// For an IFB: the real device whose ingress is redirected here.
    pub ifb_of: Option<String>,
    /// For a real device: redirect its ingress to this IFB.
    pub redirect_ingress_to: Option<String>,
    /// The HTB root qdisc's default class (unclassified traffic).
    pub default_class: u32,
    /// What this link shapes.
    pub direction: Direction,
    /// Bytes HTB adds to every packet's length through a size table on the root (`stab
    /// overhead N linklayer ethernet`): the WAN link's framing overhead; 0 = none.
    pub overhead: i32,
    /// HTB classes, parents before children.
    pub classes: Vec<ClassPlan>,
    /// Filters on the HTB root, in priority order.
    pub filters: Vec<FilterPlan>,
}

/// The plan for every shaper of the config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShapingPlan {
    pub links: Vec<LinkPlan>,
    /// Leaf qdisc kind chosen (`leaf auto` resolved), for reports.
    pub leaf: Option<LeafQdisc>,
}

/// Why a config cannot be planned on this kernel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("shaper '{shaper}': leaf '{leaf}' was asked for but this kernel has no {leaf} qdisc (use leaf 'auto' to fall back)")]
    LeafMissing { shaper: String, leaf: &'static str },
}

/// Run-time inputs besides the config.
#[derive(Debug, Clone, Default)]
pub struct PlanInputs {
    /// What the kernel offers.
    pub caps: Capabilities,
    /// Addresses learned at run time per device section (neighbour table, leases), added to
    /// the configured ones.
    pub learned: BTreeMap<String, Vec<IpAddr>>,
    /// Devices over their data budget: their class ceilings drop to `data_throttle`.
    pub throttled: HashSet<String>,
}

/// The IFB name for `dev`: `ifb4` + the name, cut to the kernel's 15 characters.
pub fn ifb_name(dev: &str) -> String {
    let mut n = format!("ifb4{dev}");
    n.truncate(15);
    n
}

/// `major:minor` as one u32.
pub const fn handle(major: u16, minor: u16) -> u32 {
    ((major as u32) << 16) | minor as u32
}

/// kbit/s -> bytes/s.
pub fn kbit_to_bytes(kbps: u64) -> u64 {
    kbps * 1000 / 8
}

/// Quantum for a class of `rate` bytes/s: rate/10 (HTB's r2q), within [MTU, MAX_QUANTUM].
pub fn quantum_for(rate: u64) -> u32 {
    (rate / 10).clamp(u64::from(MTU), u64::from(MAX_QUANTUM)) as u32
}

/// The largest packet the stack hands a qdisc: a 64 KiB GSO/GRO aggregate (veth, and most
/// router NICs with GRO on, deliver these; CAKE splits them, HTB does not).
pub const MAX_GSO_BYTES: u32 = 65_536;

/// Burst for `rate`: one millisecond at that rate, and never less than one GSO aggregate.
///
/// SQM sizes HTB bursts as 1 ms of the rate (`SHAPER_BURST_DUR_US`), which is a few KB for a
/// device cap. That is too little once packets are 64 KiB aggregates: a class that idles for a
/// moment (TCP waiting for ACKs) can bank only one small burst, so its credit for the idle time
/// is lost and it ends well under its rate while a sibling borrows the rest. Measured here
/// (`shaping_traffic`, two devices uploading at once through the IFB): 3.0 of a 4 Mbit/s cap
/// with 3 KB bursts, 3.8 with 64 KiB. Letting a class send one aggregate at its parent's rate
/// costs a few milliseconds of queue, once.
pub fn burst_for(rate: u64) -> u32 {
    (rate / 1000).clamp(u64::from(MAX_GSO_BYTES), u64::from(u32::MAX)) as u32
}

fn class(
    classid: u32,
    parent: u32,
    rate: u64,
    ceil: u64,
    prio: u32,
    leaf: Option<LeafQdisc>,
    role: ClassRole,
) -> ClassPlan {
    let rate = rate.max(1).min(ceil.max(1));
    ClassPlan {
        classid,
        parent,
        rate,
        ceil: ceil.max(rate),
        burst: burst_for(rate),
        cburst: burst_for(ceil.max(rate)),
        quantum: quantum_for(rate),
        prio,
        leaf,
        role,
    }
}

/// The leaf for `shaper` on this kernel.
pub fn leaf_for(shaper: &Shaper, caps: Capabilities) -> Result<LeafQdisc, PlanError> {
    let cake = LeafQdisc::Cake {
        overhead: shaper.overhead,
    };
    let missing = |leaf| PlanError::LeafMissing {
        shaper: shaper.meta.name.clone(),
        leaf,
    };
    match shaper.leaf {
        Leaf::Auto if caps.cake => Ok(cake),
        Leaf::Auto if caps.fq_codel => Ok(LeafQdisc::FqCodel),
        Leaf::Auto | Leaf::Pfifo => Ok(LeafQdisc::Pfifo { limit: PFIFO_LIMIT }),
        Leaf::Cake if caps.cake => Ok(cake),
        Leaf::Cake => Err(missing("cake")),
        Leaf::FqCodel if caps.fq_codel => Ok(LeafQdisc::FqCodel),
        Leaf::FqCodel => Err(missing("fq_codel")),
    }
}

/// Plans every shaper of `cfg`.
pub fn plan(cfg: &Config, inputs: &PlanInputs) -> Result<ShapingPlan, PlanError> {
    let mut out = ShapingPlan::default();
    for s in &cfg.shapers {
        let leaf = leaf_for(s, inputs.caps)?;
        out.leaf = Some(leaf);
        // The LLM class needs the fw classifier to see the balancer's mark.
        let llm_mark = cfg
            .balancer
            .as_ref()
            .map(|b| b.fwmark)
            .filter(|m| *m != 0 && inputs.caps.fw);
        if !s.upload.is_unlimited() {
            out.links.push(wan_link(
                &s.device,
                None,
                Direction::Upload,
                kbit_to_bytes(s.upload.0),
                leaf,
                llm_mark.map(|m| (m, s.llm_share)),
                s.overhead,
            ));
        }
        if !s.download.is_unlimited() {
            let ifb = ifb_name(&s.device);
            out.links.push(wan_link(
                &ifb,
                Some(&s.device),
                Direction::Download,
                kbit_to_bytes(s.download.0),
                leaf,
                None,
                s.overhead,
            ));
        }
        if let Some(lan) = &s.lan_device {
            // The LAN is plain Ethernet: the WAN's framing overhead does not apply there.
            let leaf = match leaf {
                LeafQdisc::Cake { .. } => LeafQdisc::Cake { overhead: 0 },
                other => other,
            };
            // Downloads to devices leave the router on the LAN device; uploads arrive on it.
            let down = if s.download.is_unlimited() {
                UNSHAPED_BPS
            } else {
                kbit_to_bytes(s.download.0)
            };
            let up = if s.upload.is_unlimited() {
                UNSHAPED_BPS
            } else {
                kbit_to_bytes(s.upload.0)
            };
            if let Some(l) = lan_link(cfg, inputs, lan, None, Direction::Download, down, leaf) {
                out.links.push(l);
            }
            if let Some(l) = lan_link(
                cfg,
                inputs,
                &ifb_name(lan),
                Some(lan),
                Direction::Upload,
                up,
                leaf,
            ) {
                out.links.push(l);
            }
        }
    }
    // A real device redirects its ingress to the IFB planned for it.
    let ifbs: Vec<(String, String)> = out
        .links
        .iter()
        .filter_map(|l| l.ifb_of.clone().map(|of| (of, l.device.clone())))
        .collect();
    for (of, ifb) in ifbs {
        match out.links.iter_mut().find(|l| l.device == of) {
            Some(l) => l.redirect_ingress_to = Some(ifb),
            None => out.links.push(LinkPlan {
                device: of,
                ifb_of: None,
                redirect_ingress_to: Some(ifb),
                default_class: 0,
                direction: Direction::Upload,
                overhead: 0,
                classes: Vec::new(),
                filters: Vec::new(),
            }),
        }
    }
    Ok(out)
}

/// The WAN side (or its IFB): root at the link rate, three DSCP tiers, maybe an LLM class.
fn wan_link(
    device: &str,
    ifb_of: Option<&str>,
    direction: Direction,
    rate: u64,
    leaf: LeafQdisc,
    llm: Option<(u32, u8)>,
    overhead: i32,
) -> LinkPlan {
    let root = handle(1, 1);
    let (high, normal, bulk, llm_id) = (
        handle(1, 0x10),
        handle(1, 0x20),
        handle(1, 0x30),
        handle(1, 0x40),
    );
    let pct = |p: u64| rate * p / 100;
    let mut classes = vec![class(
        root,
        handle(1, 0),
        rate,
        rate,
        0,
        None,
        ClassRole::Root,
    )];
    // Guaranteed shares add up to at most the link; every tier may borrow up to the link.
    classes.push(class(
        high,
        root,
        pct(30),
        rate,
        0,
        Some(leaf),
        ClassRole::Tier(TierKind::High),
    ));
    classes.push(class(
        normal,
        root,
        pct(40),
        rate,
        1,
        Some(leaf),
        ClassRole::Tier(TierKind::Normal),
    ));
    classes.push(class(
        bulk,
        root,
        pct(10),
        rate,
        3,
        Some(leaf),
        ClassRole::Tier(TierKind::Bulk),
    ));
    let mut filters = Vec::new();
    let mut prio = 1u16;
    if let Some((mark, share)) = llm {
        let ceil = pct(u64::from(share.max(1)));
        classes.push(class(
            llm_id,
            root,
            pct(20).min(ceil),
            ceil,
            2,
            Some(leaf),
            ClassRole::Llm,
        ));
        filters.push(FilterPlan {
            prio,
            matches: Match::Mark {
                value: mark,
                mask: u32::MAX,
            },
            classid: llm_id,
        });
        prio += 1;
    }
    for ipv6 in [false, true] {
        for (list, id) in [(DSCP_HIGH, high), (DSCP_BULK, bulk)] {
            for &dscp in list {
                filters.push(FilterPlan {
                    prio,
                    matches: Match::Dscp { ipv6, dscp },
                    classid: id,
                });
            }
        }
        prio += 1;
    }
    LinkPlan {
        device: device.to_string(),
        ifb_of: ifb_of.map(str::to_string),
        redirect_ingress_to: None,
        default_class: normal,
        direction,
        overhead,
        classes,
        filters,
    }
}

/// The LAN side: a class per group with devices and per device that needs one, filters by
/// address. `None` when no group or device needs a class.
fn lan_link(
    cfg: &Config,
    inputs: &PlanInputs,
    device: &str,
    ifb_of: Option<&str>,
    direction: Direction,
    rate: u64,
    leaf: LeafQdisc,
) -> Option<LinkPlan> {
    let root = handle(1, 1);
    let other = handle(1, ids::OTHER_MINOR);
    let source = direction == Direction::Upload;
    let cap_of = |l: &crate::config::Limits| match direction {
        Direction::Download => l.rate_down,
        Direction::Upload => l.rate_up,
    };
    // A device's own cap: only what the device section sets (a group's cap is for the whole
    // group, and is the group class's ceiling).
    let own_cap = |d: &crate::config::Device| {
        match direction {
            Direction::Download => d.overrides.rate_down,
            Direction::Upload => d.overrides.rate_up,
        }
        .filter(|c| !c.is_unlimited())
    };
    let prio_of = |p: Priority| match p {
        Priority::High => 0,
        Priority::Normal => 1,
        Priority::Bulk => 3,
    };
    // Which devices need their own class.
    let mut needs: Vec<(&crate::config::Device, crate::config::Limits)> = Vec::new();
    for d in &cfg.devices {
        let l = cfg.device_limits(d);
        let capped = own_cap(d).is_some();
        // Data budgets are per device (a group's data_month is each member's default).
        let budget = l.data_month.0 > 0;
        let prio = d
            .overrides
            .priority
            .is_some_and(|p| p != cfg.group_limits(&d.group).priority);
        if capped || budget || prio || inputs.throttled.contains(&d.meta.name) {
            needs.push((d, l));
        }
    }
    // Groups that have members get a class (their devices without own classes land there).
    let mut groups: Vec<String> = cfg.devices.iter().map(|d| d.group.clone()).collect();
    groups.sort();
    groups.dedup();
    if needs.is_empty() && groups.iter().all(|g| cfg.group(g).is_none()) {
        return None;
    }
    let group_ids = ids::assign(groups.iter().map(String::as_str), ids::GROUP_RANGE);
    let device_ids = ids::assign(
        needs.iter().map(|(d, _)| d.meta.name.as_str()),
        ids::DEVICE_RANGE,
    );

    let mut classes = vec![class(
        root,
        handle(1, 0),
        rate,
        rate,
        0,
        None,
        ClassRole::Root,
    )];
    // Guarantees: split the link evenly among groups plus "other"; never more than the root.
    let shares = groups.len() as u64 + 1;
    classes.push(class(
        other,
        root,
        rate / shares,
        rate,
        1,
        Some(leaf),
        ClassRole::Other,
    ));
    let mut filters = Vec::new();
    for g in &groups {
        let limits = cfg.group_limits(g);
        let ceil = match cap_of(&limits) {
            c if c.is_unlimited() => rate,
            c => kbit_to_bytes(c.0).min(rate),
        };
        let gid = handle(1, group_ids[g.as_str()]);
        let members: Vec<_> = needs.iter().filter(|(d, _)| d.group == *g).collect();
        let has_plain = cfg
            .devices
            .iter()
            .any(|d| d.group == *g && !needs.iter().any(|(n, _)| n.meta.name == d.meta.name));
        // A group class is a leaf unless some member has its own class under it.
        let grate = (rate / shares).min(ceil);
        if members.is_empty() {
            classes.push(class(
                gid,
                root,
                grate,
                ceil,
                prio_of(limits.priority),
                Some(leaf),
                ClassRole::Group(g.clone()),
            ));
        } else {
            classes.push(class(
                gid,
                root,
                grate,
                ceil,
                prio_of(limits.priority),
                None,
                ClassRole::Group(g.clone()),
            ));
            // Children share the group's guarantee: members with own classes and, if any,
            // a catch-all for the rest of the group.
            let n = members.len() as u64 + u64::from(has_plain);
            for (d, l) in &members {
                let mut dceil = own_cap(d).map_or(ceil, |c| kbit_to_bytes(c.0).min(ceil));
                if inputs.throttled.contains(&d.meta.name) {
                    dceil = dceil.min(kbit_to_bytes(l.data_throttle.0).max(1));
                }
                let did = handle(1, device_ids[d.meta.name.as_str()]);
                classes.push(class(
                    did,
                    gid,
                    (grate / n).min(dceil),
                    dceil,
                    prio_of(l.priority),
                    Some(leaf),
                    ClassRole::Device(d.meta.name.clone()),
                ));
            }
            if has_plain {
                let rest = handle(1, group_ids[g.as_str()] | ids::GROUP_REST_BIT);
                classes.push(class(
                    rest,
                    gid,
                    grate / n,
                    ceil,
                    prio_of(limits.priority),
                    Some(leaf),
                    ClassRole::Group(format!("{g}:rest")),
                ));
            }
        }
    }
    // Filters: device addresses first (more specific), then group members without own class.
    let addrs = |d: &crate::config::Device| -> Vec<IpAddr> {
        let mut a = d.ips.clone();
        if let Some(l) = inputs.learned.get(&d.meta.name) {
            a.extend(l.iter().copied());
        }
        a.sort();
        a.dedup();
        a
    };
    for d in &cfg.devices {
        let own = needs.iter().any(|(n, _)| n.meta.name == d.meta.name);
        let target = if own {
            handle(1, device_ids[d.meta.name.as_str()])
        } else {
            let gid = group_ids[d.group.as_str()];
            let grp_has_children = needs.iter().any(|(n, _)| n.group == d.group);
            handle(
                1,
                if grp_has_children {
                    gid | ids::GROUP_REST_BIT
                } else {
                    gid
                },
            )
        };
        for a in addrs(d) {
            let prefix = if a.is_ipv4() { 32 } else { 128 };
            filters.push(FilterPlan {
                prio: if a.is_ipv4() { 1 } else { 2 },
                matches: Match::Addr {
                    source,
                    addr: a,
                    prefix,
                },
                classid: target,
            });
        }
    }
    filters.sort_by_key(|f| f.prio);
    Some(LinkPlan {
        device: device.to_string(),
        ifb_of: ifb_of.map(str::to_string),
        redirect_ingress_to: None,
        default_class: other,
        direction,
        overhead: 0,
        classes,
        filters,
    })
}

impl ShapingPlan {
    /// Checks the HTB invariants: every child's rate fits its parent's rate, ceilings never
    /// exceed the parent's ceiling, class ids unique, filters point at leaf classes.
    pub fn check(&self) -> Result<(), String> {
        for l in &self.links {
            let mut seen = HashSet::new();
            for c in &l.classes {
                if !seen.insert(c.classid) {
                    return Err(format!("{}: class {:x} twice", l.device, c.classid));
                }
                if c.rate > c.ceil {
                    return Err(format!(
                        "{}: class {:x} rate above ceil",
                        l.device, c.classid
                    ));
                }
            }
            for p in &l.classes {
                let kids: Vec<&ClassPlan> =
                    l.classes.iter().filter(|c| c.parent == p.classid).collect();
                let sum: u64 = kids.iter().map(|c| c.rate).sum();
                if sum > p.rate {
                    return Err(format!(
                        "{}: children of {:x} guarantee {sum} > {}",
                        l.device, p.classid, p.rate
                    ));
                }
                if let Some(k) = kids.iter().find(|k| k.ceil > p.ceil) {
                    return Err(format!(
                        "{}: class {:x} ceil above its parent's",
                        l.device, k.classid
                    ));
                }
                if !kids.is_empty() && p.leaf.is_some() {
                    return Err(format!(
                        "{}: class {:x} has children and a leaf qdisc",
                        l.device, p.classid
                    ));
                }
            }
            for f in &l.filters {
                match l.classes.iter().find(|c| c.classid == f.classid) {
                    Some(c) if c.leaf.is_some() => {}
                    _ => {
                        return Err(format!(
                            "{}: filter to {:x}, not a leaf class",
                            l.device, f.classid
                        ))
                    }
                }
            }
            if !l.classes.is_empty()
                && !l
                    .classes
                    .iter()
                    .any(|c| c.classid == l.default_class && c.leaf.is_some())
            {
                return Err(format!(
                    "{}: default class {:x} is not a leaf",
                    l.device, l.default_class
                ));
            }
        }
        Ok(())
    }
}
