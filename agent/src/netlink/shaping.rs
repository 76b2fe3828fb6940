//! The shaping executor: turns a [`ShapingPlan`] into kernel objects and reconciles.
//!
//! Reconcile = dump the managed devices, diff against the plan, apply the minimal set of
//! changes in dependency order (IFBs, root qdisc, classes parents first, leaf qdiscs, filters;
//! deletions filters first and children before parents), dump again and verify. If any step
//! fails — or verification does — the dumped state of every managed device is restored and
//! the failing object and the kernel's own message are reported. Re-applying an unchanged
//! plan makes zero changes.
//!
//! Ownership: on a device named in the plan, hearth owns the root and the ingress qdisc (and so
//! everything under them); devices not in the plan are never touched.

use std::collections::{BTreeMap, BTreeSet};

use super::socket::{ifindex, NlError, RouteSocket};
use super::tc::{
    self, handle, link, Cake, DumpedClass, DumpedFilter, DumpedQdisc, Filter, FilterKind, FqCodel,
    HtbClass, IpField, NewFlags, Qdisc, QdiscKind, SizeSpec, ETH_P_ALL, ETH_P_IP, ETH_P_IPV6,
    INGRESS_HANDLE, TC_H_INGRESS, TC_H_ROOT,
};
use crate::shaping::{Capabilities, LeafQdisc, Match, ShapingPlan};

/// The HTB root's handle on every managed device (`1:`).
pub const ROOT: u32 = handle(1, 0);
/// The HTB `r2q` hearth uses (quantum is set per class anyway).
const R2Q: u32 = 10;
/// errno values the executor reacts to.
const ENOENT: i32 = 2;
const EINVAL: i32 = 22;

/// What one device should look like.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceState {
    pub name: String,
    pub ifindex: u32,
    /// The HTB root (`None`: no shaping on this device, only an ingress redirect).
    pub root: Option<Qdisc>,
    /// HTB classes, parents first.
    pub classes: Vec<HtbClass>,
    /// Leaf qdiscs under leaf classes.
    pub leaves: Vec<Qdisc>,
    /// Filters on the root.
    pub filters: Vec<Filter>,
    /// Ingress redirect: the ingress qdisc and its mirred filter.
    pub ingress: Option<Filter>,
}

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApplyReport {
    /// Kernel changes made (0 when the world already matched).
    pub changes: usize,
    /// Managed devices.
    pub devices: Vec<String>,
    /// One line per change, for logs and `--json`.
    pub actions: Vec<String>,
}

/// An apply that failed (the previous state has been restored when `restored`).
#[derive(Debug, thiserror::Error)]
#[error("{object}: {cause}{}", restore_note(.restored, .unrestorable))]
pub struct ApplyError {
    /// The object whose change failed, as `tc` would describe it.
    pub object: String,
    /// The kernel's refusal (errno and message) or what went wrong.
    pub cause: String,
    /// The dumped state was put back.
    pub restored: bool,
    /// Objects of the previous state hearth could not recreate (foreign kinds).
    pub unrestorable: Vec<String>,
}

impl ApplyError {
    /// Removes IFBs created so far in this apply before reporting (nothing else changed yet).
    fn clean(mut self, sock: &mut RouteSocket, created: &[String]) -> Self {
        for name in created {
            if let Some(i) = ifindex(name) {
                let _ = sock.request(link_del(i));
            }
        }
        self.unrestorable.clear();
        self
    }
}

fn restore_note(restored: &bool, unrestorable: &[String]) -> String {
    match (restored, unrestorable.is_empty()) {
        (true, true) => "; the previous state was restored".into(),
        (true, false) => format!(
            "; the previous state was restored except: {}",
            unrestorable.join(", ")
        ),
        (false, _) => "; restoring the previous state failed too — check `tc qdisc show`".into(),
    }
}

fn leaf_kind(l: LeafQdisc) -> QdiscKind {
    match l {
        LeafQdisc::Cake { overhead } => QdiscKind::Cake(Cake {
            bandwidth_bps: 0,
            overhead: (overhead != 0).then_some(overhead),
            ..Cake::default()
        }),
        LeafQdisc::FqCodel => QdiscKind::FqCodel(FqCodel::default()),
        LeafQdisc::Pfifo { limit } => QdiscKind::Pfifo { limit },
    }
}

/// Resolves the plan to kernel objects; `lookup` gives ifindexes (IFBs must exist by now).
pub fn desired(
    plan: &ShapingPlan,
    lookup: &dyn Fn(&str) -> Option<u32>,
) -> Result<Vec<DeviceState>, String> {
    let mut out = Vec::new();
    for l in &plan.links {
        let ifi = lookup(&l.device)
            .ok_or_else(|| format!("network device '{}' does not exist", l.device))?;
        let mut st = DeviceState {
            name: l.device.clone(),
            ifindex: ifi,
            root: None,
            classes: Vec::new(),
            leaves: Vec::new(),
            filters: Vec::new(),
            ingress: None,
        };
        if !l.classes.is_empty() {
            st.root = Some(Qdisc {
                stab: (l.overhead != 0).then(|| SizeSpec::ethernet_overhead(l.overhead)),
                ifindex: ifi,
                handle: ROOT,
                parent: TC_H_ROOT,
                kind: QdiscKind::Htb {
                    default_class: l.default_class & 0xFFFF,
                    r2q: R2Q,
                },
            });
        }
        for c in &l.classes {
            st.classes.push(HtbClass {
                ifindex: ifi,
                classid: c.classid,
                parent: c.parent,
                rate_bps: c.rate,
                ceil_bps: c.ceil,
                burst: c.burst,
                cburst: c.cburst,
                prio: c.prio,
                quantum: c.quantum,
            });
            if let Some(leaf) = c.leaf {
                // Leaf qdisc handle: the class's minor as major (unique on the device; never 1).
                st.leaves.push(Qdisc {
                    stab: None,
                    ifindex: ifi,
                    handle: handle((c.classid & 0xFFFF) as u16, 0),
                    parent: c.classid,
                    kind: leaf_kind(leaf),
                });
            }
        }
        for f in &l.filters {
            let (protocol, kind) = match &f.matches {
                Match::Mark { value, mask } => (
                    ETH_P_ALL,
                    FilterKind::Fw {
                        mark: *value,
                        mask: *mask,
                        classid: f.classid,
                    },
                ),
                Match::Dscp { ipv6, dscp } => (
                    if *ipv6 { ETH_P_IPV6 } else { ETH_P_IP },
                    FilterKind::U32Dscp {
                        ipv6: *ipv6,
                        dscp: *dscp,
                        classid: f.classid,
                    },
                ),
                Match::Addr {
                    source,
                    addr,
                    prefix,
                } => {
                    let field = if *source {
                        IpField::Source
                    } else {
                        IpField::Destination
                    };
                    match addr {
                        std::net::IpAddr::V4(a) => (
                            ETH_P_IP,
                            FilterKind::U32Ipv4 {
                                field,
                                addr: *a,
                                prefix: *prefix,
                                classid: f.classid,
                            },
                        ),
                        std::net::IpAddr::V6(a) => (
                            ETH_P_IPV6,
                            FilterKind::U32Ipv6 {
                                field,
                                addr: *a,
                                prefix: *prefix,
                                classid: f.classid,
                            },
                        ),
                    }
                }
            };
            let handle = match kind {
                FilterKind::Fw { mark, .. } => mark,
                _ => 0,
            };
            st.filters.push(Filter {
                ifindex: ifi,
                parent: ROOT,
                prio: f.prio,
                protocol,
                handle,
                kind,
            });
        }
        if let Some(ifb) = &l.redirect_ingress_to {
            let to = lookup(ifb).ok_or_else(|| format!("network device '{ifb}' does not exist"))?;
            st.ingress = Some(Filter {
                ifindex: ifi,
                parent: INGRESS_HANDLE,
                prio: 1,
                protocol: ETH_P_ALL,
                handle: 0,
                kind: FilterKind::U32MatchAllMirred {
                    classid: None,
                    to_ifindex: to,
                },
            });
        }
        out.push(st);
    }
    Ok(out)
}

/// A device as dumped.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub ifindex: u32,
    pub qdiscs: Vec<DumpedQdisc>,
    pub classes: Vec<DumpedClass>,
    /// Filters on the root qdisc and on ingress.
    pub filters: Vec<DumpedFilter>,
}

impl Snapshot {
    fn root(&self) -> Option<&Qdisc> {
        self.qdiscs
            .iter()
            .map(|d| &d.qdisc)
            .find(|q| q.parent == TC_H_ROOT)
    }
    fn ingress(&self) -> Option<&Qdisc> {
        self.qdiscs
            .iter()
            .map(|d| &d.qdisc)
            .find(|q| q.parent == TC_H_INGRESS)
    }
}

/// Dumps one device's qdiscs, classes and root/ingress filters.
pub fn snapshot(sock: &mut RouteSocket, ifi: u32) -> Result<Snapshot, NlError> {
    let mut s = Snapshot {
        ifindex: ifi,
        ..Default::default()
    };
    for m in sock.dump(tc::dump_qdiscs())? {
        let d = DumpedQdisc::decode(&m)?;
        if d.qdisc.ifindex == ifi {
            s.qdiscs.push(d);
        }
    }
    for m in sock.dump(tc::dump_classes(ifi))? {
        s.classes.push(DumpedClass::decode(&m)?);
    }
    let mut parents = Vec::new();
    if let Some(r) = s.root() {
        parents.push(r.handle);
    }
    if s.ingress().is_some() {
        parents.push(INGRESS_HANDLE);
    }
    for p in parents {
        match sock.dump(tc::dump_filters(ifi, p)) {
            Ok(ms) => {
                for m in ms {
                    s.filters.push(DumpedFilter::decode(&m)?);
                }
            }
            Err(e) if e.errno() == Some(EINVAL) || e.errno() == Some(ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(s)
}

/// One change to make.
#[derive(Debug, Clone)]
struct Op {
    /// For reports.
    what: String,
    /// The request.
    msg: Vec<u8>,
    /// A deletion whose target may already be gone (a parent's deletion took it along).
    tolerate_missing: bool,
}

fn filter_parts(f: &DumpedFilter) -> Option<&Filter> {
    match f {
        DumpedFilter::Known(k) => Some(k),
        DumpedFilter::Foreign(_) => None,
    }
}

/// The changes that turn `have` into `want`, in a safe order.
fn diff(want: &DeviceState, have: &Snapshot) -> Result<Vec<Op>, String> {
    let enc = |r: Result<Vec<u8>, tc::EncodeError>| r.map_err(|e| e.to_string());
    let mut ops = Vec::new();
    let dev = &want.name;
    let op = |what: String, msg: Vec<u8>| Op {
        what,
        msg,
        tolerate_missing: false,
    };

    // Root: keep it when it is already our HTB; otherwise start from scratch.
    let root_ok = match (&want.root, have.root()) {
        (Some(w), Some(h)) => w.is_met_by(h),
        (None, None) => true,
        _ => false,
    };
    // Our HTB with another size table (the link's overhead changed): change the table in
    // place and keep the tree.
    if let (Some(w), Some(h), false) = (&want.root, have.root(), root_ok) {
        if w.stab != h.stab
            && w.is_met_by(&Qdisc {
                stab: w.stab,
                ..h.clone()
            })
        {
            ops.push(op(
                format!("{dev}: change the size table of {}", w.describe()),
                w.encode_stab_change(),
            ));
        }
    }
    let root_ok = root_ok
        || matches!((&want.root, have.root()), (Some(w), Some(h)) if w.is_met_by(&Qdisc { stab: w.stab, ..h.clone() }));
    let fresh = !root_ok;
    if fresh {
        // A default root (noqueue, pfifo_fast, mq: handle 0) is replaced by adding ours; any
        // other root is deleted first.
        if let Some(h) = have.root().filter(|h| h.handle != 0) {
            ops.push(op(
                format!("{dev}: delete root qdisc {}", h.kind.name()),
                Qdisc {
                    stab: None,
                    ifindex: want.ifindex,
                    handle: 0,
                    parent: TC_H_ROOT,
                    kind: QdiscKind::Ingress,
                }
                .encode_del(),
            ));
        }
        if let Some(w) = &want.root {
            ops.push(op(
                format!("{dev}: add {}", w.describe()),
                enc(w.encode_new(NewFlags::ADD))?,
            ));
        }
    }
    let have_classes: BTreeMap<u32, &DumpedClass> = if fresh {
        BTreeMap::new()
    } else {
        // Only HTB classes are ours: CAKE and fq_codel leaves list per-flow classes too.
        have.classes
            .iter()
            .filter(|c| c.kind == "htb")
            .map(|c| (c.classid, c))
            .collect()
    };
    let have_filters: Vec<&DumpedFilter> = if fresh {
        Vec::new()
    } else {
        have.filters
            .iter()
            .filter(|f| {
                let p = match f {
                    DumpedFilter::Known(k) => k.parent,
                    DumpedFilter::Foreign(x) => x.parent,
                };
                p != INGRESS_HANDLE
            })
            .collect()
    };

    // Filters to remove first (they may point at classes that go).
    let mut keep_filters = BTreeSet::new();
    for f in &have_filters {
        let wanted = filter_parts(f).and_then(|k| want.filters.iter().position(|w| w.is_met_by(k)));
        match (wanted, f) {
            (Some(i), _) => {
                keep_filters.insert(i);
            }
            (None, DumpedFilter::Known(k)) => ops.push(Op {
                what: format!("{dev}: delete {}", k.describe()),
                msg: enc(k.encode_del())?,
                tolerate_missing: true,
            }),
            (None, DumpedFilter::Foreign(x)) if !x.is_structural() => ops.push(Op {
                what: format!("{dev}: delete foreign {} filter", x.kind),
                msg: x.encode_del(),
                tolerate_missing: true,
            }),
            _ => {}
        }
    }
    // Classes, parents first.
    for c in &want.classes {
        match have_classes.get(&c.classid) {
            None => ops.push(op(
                format!("{dev}: add {}", c.describe()),
                enc(c.encode_new(NewFlags::ADD))?,
            )),
            Some(h) => {
                let met = h.htb.as_ref().is_some_and(|hc| c.is_met_by(hc));
                if !met {
                    ops.push(op(
                        format!("{dev}: change {}", c.describe()),
                        enc(c.encode_new(NewFlags::CREATE_OR_CHANGE))?,
                    ));
                }
            }
        }
    }
    // Leaf qdiscs.
    for l in &want.leaves {
        let current = if fresh {
            None
        } else {
            have.qdiscs
                .iter()
                .map(|d| &d.qdisc)
                .find(|q| q.parent == l.parent)
        };
        match current {
            Some(q) if l.is_met_by(q) => {}
            // Same kind: replace in place. Another kind: the kernel refuses a replace that keeps
            // the handle, so delete the old leaf and add the new one.
            Some(q) if q.kind.name() == l.kind.name() => ops.push(op(
                format!("{dev}: replace {}", l.describe()),
                enc(l.encode_new(NewFlags::REPLACE))?,
            )),
            Some(q) => {
                ops.push(op(
                    format!("{dev}: delete {}", q.describe()),
                    q.encode_del(),
                ));
                ops.push(op(
                    format!("{dev}: add {}", l.describe()),
                    enc(l.encode_new(NewFlags::ADD))?,
                ));
            }
            None => ops.push(op(
                format!("{dev}: add {}", l.describe()),
                enc(l.encode_new(NewFlags::ADD))?,
            )),
        }
    }
    // New filters.
    for (i, f) in want.filters.iter().enumerate() {
        if !keep_filters.contains(&i) {
            ops.push(op(
                format!("{dev}: add {}", f.describe()),
                enc(f.encode_new(NewFlags::CREATE_OR_CHANGE))?,
            ));
        }
    }
    // Classes no longer planned: children before parents.
    let wanted_ids: BTreeSet<u32> = want.classes.iter().map(|c| c.classid).collect();
    let mut extra: Vec<&DumpedClass> = have_classes
        .values()
        .copied()
        .filter(|c| !wanted_ids.contains(&c.classid))
        .collect();
    let depth = |c: &DumpedClass| {
        let mut d = 0;
        let mut p = c.parent;
        while let Some(pc) = have_classes.get(&p) {
            d += 1;
            p = pc.parent;
            if d > 64 {
                break;
            }
        }
        d
    };
    extra.sort_by_key(|c| std::cmp::Reverse(depth(c)));
    for c in extra {
        ops.push(Op {
            what: format!("{dev}: delete class {}", tc::Handle(c.classid)),
            msg: tc::class::encode_del(want.ifindex, c.classid),
            tolerate_missing: true,
        });
    }

    // Ingress.
    let have_ing = have.ingress();
    match (&want.ingress, have_ing) {
        (None, Some(_)) => ops.push(op(
            format!("{dev}: delete ingress qdisc"),
            Qdisc::ingress(want.ifindex).encode_del(),
        )),
        (Some(w), ing) => {
            // hearth owns the ingress hook of a managed device: a clsact (qosify, say) goes.
            let ing = match ing {
                Some(q) if !matches!(q.kind, QdiscKind::Ingress) => {
                    ops.push(op(
                        format!(
                            "{dev}: delete {} qdisc (hearth owns ingress here)",
                            q.kind.name()
                        ),
                        q.encode_del(),
                    ));
                    None
                }
                other => other,
            };
            let foreign_gone = have_ing.is_some() && ing.is_none();
            if ing.is_none() {
                ops.push(op(
                    format!("{dev}: add ingress qdisc"),
                    enc(Qdisc::ingress(want.ifindex).encode_new(NewFlags::ADD))?,
                ));
            }
            let mut present = false;
            for f in have
                .filters
                .iter()
                .filter(|_| !foreign_gone)
                .filter(|f| match f {
                    DumpedFilter::Known(k) => k.parent == INGRESS_HANDLE,
                    DumpedFilter::Foreign(x) => x.parent == INGRESS_HANDLE,
                })
            {
                match f {
                    DumpedFilter::Known(k) if w.is_met_by(k) && !present => present = true,
                    DumpedFilter::Known(k) => ops.push(Op {
                        what: format!("{dev}: delete {}", k.describe()),
                        msg: enc(k.encode_del())?,
                        tolerate_missing: true,
                    }),
                    DumpedFilter::Foreign(x) if !x.is_structural() => ops.push(Op {
                        what: format!("{dev}: delete foreign ingress {} filter", x.kind),
                        msg: x.encode_del(),
                        tolerate_missing: true,
                    }),
                    _ => {}
                }
            }
            if !present {
                ops.push(op(
                    format!("{dev}: add {}", w.describe()),
                    enc(w.encode_new(NewFlags::CREATE_OR_CHANGE))?,
                ));
            }
        }
        (None, None) => {}
    }
    Ok(ops)
}

/// Objects of `want` that the dump `have` does not show (empty = verified).
fn unmet(want: &DeviceState, have: &Snapshot) -> Vec<String> {
    let mut missing = Vec::new();
    if let Some(r) = &want.root {
        if !have.root().is_some_and(|h| r.is_met_by(h)) {
            missing.push(r.describe());
        }
    }
    for c in &want.classes {
        if !have
            .classes
            .iter()
            .any(|h| h.classid == c.classid && h.htb.as_ref().is_some_and(|hc| c.is_met_by(hc)))
        {
            missing.push(c.describe());
        }
    }
    for l in &want.leaves {
        if !have
            .qdiscs
            .iter()
            .any(|d| d.qdisc.parent == l.parent && l.is_met_by(&d.qdisc))
        {
            missing.push(l.describe());
        }
    }
    for f in want.filters.iter().chain(want.ingress.iter()) {
        if !have
            .filters
            .iter()
            .filter_map(filter_parts)
            .any(|h| f.is_met_by(h))
        {
            missing.push(f.describe());
        }
    }
    missing
}

/// Probes which leaf qdiscs this kernel has, on a throwaway IFB (needs CAP_NET_ADMIN).
pub fn probe(sock: &mut RouteSocket) -> Result<Capabilities, NlError> {
    const PROBE: &str = "hearthprobe0";
    if ifindex(PROBE).is_none() {
        sock.request(link::link_add_ifb(PROBE).map_err(|e| std::io::Error::other(e.to_string()))?)?;
    }
    let ifi = ifindex(PROBE).ok_or_else(|| std::io::Error::other("probe IFB vanished"))?;
    let mut try_kind = |kind: QdiscKind| -> bool {
        let q = Qdisc {
            stab: None,
            ifindex: ifi,
            handle: handle(1, 0),
            parent: TC_H_ROOT,
            kind,
        };
        let ok = q
            .encode_new(NewFlags::ADD)
            .ok()
            .map(|m| sock.request(m).is_ok())
            .unwrap_or(false);
        if ok {
            let _ = sock.request(q.encode_del());
        }
        ok
    };
    let cake = try_kind(leaf_kind(LeafQdisc::Cake { overhead: 0 }));
    let fq_codel = try_kind(leaf_kind(LeafQdisc::FqCodel));
    // fw: needs a root to hang on.
    let root = Qdisc {
        stab: None,
        ifindex: ifi,
        handle: ROOT,
        parent: TC_H_ROOT,
        kind: QdiscKind::Htb {
            default_class: 1,
            r2q: R2Q,
        },
    };
    let fw = match root.encode_new(NewFlags::ADD).ok().map(|m| sock.request(m)) {
        Some(Ok(())) => {
            let f = Filter {
                ifindex: ifi,
                parent: ROOT,
                prio: 1,
                protocol: ETH_P_ALL,
                handle: 1,
                kind: FilterKind::Fw {
                    mark: 1,
                    mask: u32::MAX,
                    classid: handle(1, 1),
                },
            };
            let ok = f
                .encode_new(NewFlags::ADD)
                .ok()
                .map(|m| sock.request(m).is_ok())
                .unwrap_or(false);
            let _ = sock.request(root.encode_del());
            ok
        }
        _ => false,
    };
    let caps = Capabilities { cake, fq_codel, fw };
    let _ = sock.request(link_del(ifi));
    Ok(caps)
}

/// RTM_DELLINK for `ifindex` (removes an IFB hearth created).
pub fn link_del(ifi: u32) -> Vec<u8> {
    const RTM_DELLINK: u16 = 17;
    let mut m = Vec::with_capacity(32);
    m.extend_from_slice(&32u32.to_ne_bytes());
    m.extend_from_slice(&RTM_DELLINK.to_ne_bytes());
    m.extend_from_slice(&0x0005u16.to_ne_bytes()); // REQUEST | ACK
    m.extend_from_slice(&0u32.to_ne_bytes()); // seq (set on send)
    m.extend_from_slice(&0u32.to_ne_bytes()); // pid
    m.extend_from_slice(&[0, 0]); // ifi_family AF_UNSPEC, pad
    m.extend_from_slice(&0u16.to_ne_bytes()); // ifi_type
    m.extend_from_slice(&ifi.to_ne_bytes()); // ifi_index
    m.extend_from_slice(&0u32.to_ne_bytes()); // ifi_flags
    m.extend_from_slice(&0u32.to_ne_bytes()); // ifi_change
    m
}

/// Creates the IFBs the plan needs; returns the names created now.
fn ensure_ifbs(
    sock: &mut RouteSocket,
    plan: &ShapingPlan,
    actions: &mut Vec<String>,
) -> Result<Vec<String>, ApplyError> {
    let mut created = Vec::new();
    for l in plan.links.iter().filter(|l| l.ifb_of.is_some()) {
        // A link that merely has the IFB's name (a veth called ifb4wan0) is not ours to take.
        if let Ok(Some(false)) = super::links::is_ifb(sock, &l.device) {
            return Err(ApplyError {
                object: format!("link {}", l.device),
                cause: "exists but is not an IFB; hearth needs that name for the IFB of its device (rename or remove the link)".into(),
                restored: true,
                unrestorable: created.clone(),
            }
            .clean(sock, &created));
        }
        if ifindex(&l.device).is_none() {
            let msg = link::link_add_ifb(&l.device).map_err(|e| ApplyError {
                object: format!("ifb {}", l.device),
                cause: e.to_string(),
                restored: true,
                unrestorable: vec![],
            })?;
            sock.request(msg).map_err(|e| ApplyError {
                object: format!("link add {} type ifb", l.device),
                cause: e.to_string(),
                restored: true,
                unrestorable: vec![],
            })?;
            created.push(l.device.clone());
            actions.push(format!("add ifb {}", l.device));
        }
        if let Some(i) = ifindex(&l.device) {
            let _ = sock.request(link::link_set_up(i));
        }
    }
    Ok(created)
}

/// Reconciles the kernel with `plan`. Every managed device is snapshotted first; any failure
/// restores the snapshots (and removes IFBs created in this run).
pub fn apply(sock: &mut RouteSocket, plan: &ShapingPlan) -> Result<ApplyReport, ApplyError> {
    let mut report = ApplyReport {
        devices: plan.links.iter().map(|l| l.device.clone()).collect(),
        ..Default::default()
    };
    let created = ensure_ifbs(sock, plan, &mut report.actions)?;
    let fail_early = |sock: &mut RouteSocket, object: String, cause: String| {
        for name in &created {
            if let Some(i) = ifindex(name) {
                let _ = sock.request(link_del(i));
            }
        }
        ApplyError {
            object,
            cause,
            restored: true,
            unrestorable: vec![],
        }
    };
    let want = match desired(plan, &ifindex) {
        Ok(w) => w,
        Err(e) => return Err(fail_early(sock, "plan".into(), e)),
    };
    let mut snaps = Vec::new();
    for w in &want {
        match snapshot(sock, w.ifindex) {
            Ok(s) => snaps.push(s),
            Err(e) => {
                return Err(fail_early(
                    sock,
                    format!("dump of {}", w.name),
                    e.to_string(),
                ))
            }
        }
    }
    let mut ops = Vec::new();
    for (w, s) in want.iter().zip(&snaps) {
        match diff(w, s) {
            Ok(o) => ops.extend(o),
            Err(e) => return Err(fail_early(sock, w.name.clone(), e)),
        }
    }
    for o in &ops {
        match sock.request(o.msg.clone()) {
            Ok(()) => {}
            Err(e) if o.tolerate_missing && matches!(e.errno(), Some(ENOENT) | Some(EINVAL)) => {}
            Err(e) => {
                let unrestorable = restore(sock, &want, &snaps, &created);
                return Err(ApplyError {
                    object: o.what.clone(),
                    cause: e.to_string(),
                    restored: true,
                    unrestorable,
                });
            }
        }
        report.actions.push(o.what.clone());
    }
    // Nothing changed: the dump just compared equal to the plan.
    if ops.is_empty() && created.is_empty() {
        return Ok(report);
    }
    // Verify with a fresh dump.
    for w in &want {
        let missing = match snapshot(sock, w.ifindex) {
            Ok(now) => unmet(w, &now),
            Err(e) => vec![format!("dump failed: {e}")],
        };
        if !missing.is_empty() {
            let unrestorable = restore(sock, &want, &snaps, &created);
            return Err(ApplyError {
                object: w.name.clone(),
                cause: format!(
                    "after applying, the kernel does not show: {}",
                    missing.join("; ")
                ),
                restored: true,
                unrestorable,
            });
        }
    }
    report.changes = report.actions.len();
    Ok(report)
}

/// Sends one re-creation request of a restore; notes what could not be recreated.
fn recreate(
    sock: &mut RouteSocket,
    lost: &mut Vec<String>,
    dev: &str,
    what: String,
    msg: Result<Vec<u8>, tc::EncodeError>,
) {
    match msg {
        Ok(m) => {
            if let Err(e) = sock.request(m) {
                lost.push(format!("{dev}: {what} ({e})"));
            }
        }
        Err(e) => lost.push(format!("{dev}: {what} ({e})")),
    }
}

/// Puts the snapshots back; returns what could not be recreated.
fn restore(
    sock: &mut RouteSocket,
    want: &[DeviceState],
    snaps: &[Snapshot],
    created: &[String],
) -> Vec<String> {
    let mut lost = Vec::new();
    for (w, s) in want.iter().zip(snaps) {
        let dev = &w.name;
        // Clear what we own, then rebuild the dumped state.
        let _ = sock.request(
            Qdisc {
                stab: None,
                ifindex: s.ifindex,
                handle: 0,
                parent: TC_H_ROOT,
                kind: QdiscKind::Ingress,
            }
            .encode_del(),
        );
        let _ = sock.request(Qdisc::ingress(s.ifindex).encode_del());
        // The root first, then classes parents first, leaves, filters; then ingress.
        let mut qdiscs: Vec<&Qdisc> = s.qdiscs.iter().map(|d| &d.qdisc).collect();
        qdiscs.sort_by_key(|q| (q.parent != TC_H_ROOT, q.parent == TC_H_INGRESS));
        let root = qdiscs.iter().find(|q| q.parent == TC_H_ROOT).copied();
        let default_root = root.is_some_and(|q| q.handle == 0 || matches!(q.kind, QdiscKind::Other { .. } if q.kind.name() == "noqueue" || q.kind.name() == "pfifo_fast" || q.kind.name() == "mq"));
        if let Some(q) = root.filter(|_| !default_root) {
            recreate(
                sock,
                &mut lost,
                dev,
                q.describe(),
                q.encode_new(NewFlags::ADD),
            );
            // Per-flow classes of CAKE/fq_codel come back with their leaf qdisc.
            let mut classes: Vec<&DumpedClass> =
                s.classes.iter().filter(|c| c.kind == "htb").collect();
            let ids: BTreeSet<u32> = classes.iter().map(|c| c.classid).collect();
            classes.sort_by_key(|c| {
                let mut d = 0;
                let mut p = c.parent;
                while ids.contains(&p) && d < 64 {
                    d += 1;
                    p = s
                        .classes
                        .iter()
                        .find(|x| x.classid == p)
                        .map_or(0, |x| x.parent);
                }
                d
            });
            for c in classes {
                match &c.htb {
                    Some(h) => recreate(
                        sock,
                        &mut lost,
                        dev,
                        h.describe(),
                        h.encode_new(NewFlags::ADD),
                    ),
                    None => lost.push(format!("{dev}: {} class {}", c.kind, tc::Handle(c.classid))),
                }
            }
            for q in qdiscs
                .iter()
                .filter(|q| q.parent != TC_H_ROOT && q.parent != TC_H_INGRESS)
            {
                recreate(
                    sock,
                    &mut lost,
                    dev,
                    q.describe(),
                    q.encode_new(NewFlags::ADD),
                );
            }
        }
        match s.ingress().map(|q| &q.kind) {
            Some(QdiscKind::Ingress) => recreate(
                sock,
                &mut lost,
                dev,
                "ingress qdisc".into(),
                Qdisc::ingress(s.ifindex).encode_new(NewFlags::ADD),
            ),
            Some(other) => lost.push(format!("{dev}: {} qdisc and its filters", other.name())),
            None => {}
        }
        for f in &s.filters {
            match f {
                DumpedFilter::Known(k) => {
                    let mut k = k.clone();
                    if !matches!(k.kind, FilterKind::Fw { .. }) {
                        k.handle = 0;
                    }
                    recreate(
                        sock,
                        &mut lost,
                        dev,
                        k.describe(),
                        k.encode_new(NewFlags::CREATE_OR_CHANGE),
                    );
                }
                DumpedFilter::Foreign(x) if !x.is_structural() => {
                    lost.push(format!("{dev}: {} filter prio {}", x.kind, x.prio))
                }
                _ => {}
            }
        }
    }
    for name in created {
        if let Some(i) = ifindex(name) {
            let _ = sock.request(link_del(i));
        }
    }
    lost
}

/// Removes everything hearth put on the plan's devices (root and ingress qdiscs, IFBs).
pub fn remove(sock: &mut RouteSocket, plan: &ShapingPlan) -> Result<ApplyReport, NlError> {
    let mut report = ApplyReport {
        devices: plan.links.iter().map(|l| l.device.clone()).collect(),
        ..Default::default()
    };
    for l in &plan.links {
        let Some(ifi) = ifindex(&l.device) else {
            continue;
        };
        if l.ifb_of.is_some() {
            if super::links::is_ifb(sock, &l.device)? != Some(true) {
                continue; // not ours
            }
            sock.request(link_del(ifi))?;
            report.actions.push(format!("delete ifb {}", l.device));
            continue;
        }
        let s = snapshot(sock, ifi)?;
        if s.root()
            .is_some_and(|q| q.handle == ROOT && matches!(q.kind, QdiscKind::Htb { .. }))
        {
            sock.request(
                Qdisc {
                    stab: None,
                    ifindex: ifi,
                    handle: 0,
                    parent: TC_H_ROOT,
                    kind: QdiscKind::Ingress,
                }
                .encode_del(),
            )?;
            report
                .actions
                .push(format!("{}: delete root qdisc", l.device));
        }
        if s.ingress().is_some() && l.redirect_ingress_to.is_some() {
            sock.request(Qdisc::ingress(ifi).encode_del())?;
            report
                .actions
                .push(format!("{}: delete ingress qdisc", l.device));
        }
    }
    report.changes = report.actions.len();
    Ok(report)
}

/// Counters of one planned class (for budgets, status and metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassCounters {
    /// The device the class is on.
    pub device: String,
    /// Upload or download.
    pub direction: crate::shaping::Direction,
    /// What the class is for (device, group, tier, LLM).
    pub role: crate::shaping::ClassRole,
    pub bytes: u64,
    pub packets: u64,
    pub drops: u32,
    pub backlog: u32,
}

/// Reads the statistics of every class of `plan` from the kernel.
pub fn counters(sock: &mut RouteSocket, plan: &ShapingPlan) -> Result<Vec<ClassCounters>, NlError> {
    let mut out = Vec::new();
    for l in &plan.links {
        let Some(ifi) = ifindex(&l.device) else {
            continue;
        };
        let dumped: Vec<DumpedClass> = sock
            .dump(tc::dump_classes(ifi))?
            .iter()
            .map(|m| DumpedClass::decode(m))
            .collect::<Result<_, _>>()?;
        for c in &l.classes {
            if let Some(st) = dumped
                .iter()
                .find(|d| d.classid == c.classid)
                .and_then(|d| d.stats)
            {
                out.push(ClassCounters {
                    device: l.device.clone(),
                    direction: l.direction,
                    role: c.role.clone(),
                    bytes: st.bytes,
                    packets: st.packets,
                    drops: st.drops,
                    backlog: st.backlog,
                });
            }
        }
    }
    Ok(out)
}
