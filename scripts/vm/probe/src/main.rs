//! vm-probe: proves the VM lane's guest kernel has what hearth's kernel tests need.
//!
//! Runs inside the microVM started by `scripts/vm-test.sh` (it also runs on any Linux host as root:
//! everything happens in a private network namespace, so nothing leaks). It talks raw rtnetlink and
//! generic netlink — no iproute2 in the guest — and checks, one by one:
//!
//! * links: `dummy`, `veth` pair, `ifb`, `wireguard`;
//! * qdiscs on a veth link: `cake`, `fq_codel`, `htb` (with an HTB class and a CAKE leaf, as hearth's
//!   shaper builds it), `tbf`, `netem` (informational), `ingress`;
//! * filters/actions: `fw` (mark → class), `u32` match-all with `mirred` redirect to an ifb (the
//!   ingress shaping path);
//! * generic netlink families `wireguard` and `nl80211`, and mac80211_hwsim radios;
//! * the `wg` tool, if the image has one (`wg set` on the wireguard link).
//!
//! Prints one line per check and exits non-zero if a required one is missing.
//! `--exit-code N` probes nothing and exits with N at once: the lane's self-test uses it to prove that a
//! failing test fails the lane.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, ExitCode};

// === netlink constants (linux/netlink.h, rtnetlink.h, pkt_sched.h, pkt_cls.h, genetlink.h) ===
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

const RTM_NEWLINK: u16 = 16;
const RTM_NEWQDISC: u16 = 36;
const RTM_NEWTCLASS: u16 = 40;
const RTM_NEWTFILTER: u16 = 44;

const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;

const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TC_H_ROOT: u32 = 0xFFFF_FFFF;
const TC_H_INGRESS: u32 = 0xFFFF_FFF1;
const TCA_HTB_PARMS: u16 = 1;
const TCA_HTB_INIT: u16 = 2;
const TCA_TBF_PARMS: u16 = 1;
const TCA_FW_CLASSID: u16 = 1;
const TCA_U32_CLASSID: u16 = 1;
const TCA_U32_SEL: u16 = 5;
const TCA_U32_ACT: u16 = 7;
const TCA_ACT_KIND: u16 = 1;
const TCA_ACT_OPTIONS: u16 = 2;
const TCA_MIRRED_PARMS: u16 = 2;
const TC_ACT_STOLEN: i32 = 4;
const TCA_EGRESS_REDIR: i32 = 1;
const TC_LINKLAYER_ETHERNET: u8 = 1;
const ETH_P_ALL: u16 = 0x0003;
const ETH_P_IP: u16 = 0x0800;

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

/// One netlink socket (route or generic), bound, with a receive timeout so a lost reply fails the
/// check instead of hanging the VM.
struct Netlink {
    /// The socket; closed on drop.
    fd: OwnedFd,
    /// Sequence number of the last request, to match replies.
    seq: u32,
}

impl Netlink {
    fn open(protocol: i32) -> io::Result<Self> {
        // SAFETY: plain socket(2); the result is checked before it is wrapped in an OwnedFd.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_nl is plain data; all-zero is a valid value (kernel assigns the port id).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: addr is a valid sockaddr_nl and the length matches it.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let tv = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        // SAFETY: tv is a valid timeval and the length matches it.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const libc::timeval as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Netlink { fd, seq: 0 })
    }

    /// Sends one request (NLM_F_REQUEST|NLM_F_ACK added) and returns the payloads of the replies
    /// that came before the ACK; a kernel error comes back as its errno.
    fn request(&mut self, ty: u16, flags: u16, payload: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        self.seq += 1;
        let mut msg = Vec::with_capacity(16 + payload.len());
        msg.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&ty.to_ne_bytes());
        msg.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(payload);
        // SAFETY: msg is a valid buffer of msg.len() bytes.
        let sent = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                msg.as_ptr() as *const libc::c_void,
                msg.len(),
                0,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut replies = Vec::new();
        let mut buf = vec![0u8; 65536];
        // Bounded: a request gets at most a handful of datagrams before its ACK.
        for _ in 0..64 {
            // SAFETY: buf is a valid writable buffer of buf.len() bytes.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    0,
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut off = 0usize;
            let n = n as usize;
            while off + 16 <= n {
                let len =
                    u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap_or([0; 4])) as usize;
                let mty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
                let seq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().unwrap_or([0; 4]));
                if len < 16 || off + len > n {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "truncated netlink reply",
                    ));
                }
                let body = &buf[off + 16..off + len];
                off += (len + 3) & !3;
                if seq != self.seq {
                    continue;
                }
                match mty {
                    NLMSG_ERROR => {
                        let errno = i32::from_ne_bytes(
                            body.get(0..4)
                                .and_then(|b| b.try_into().ok())
                                .unwrap_or([0; 4]),
                        );
                        return if errno == 0 {
                            Ok(replies)
                        } else {
                            Err(io::Error::from_raw_os_error(-errno))
                        };
                    }
                    NLMSG_DONE => return Ok(replies),
                    _ => replies.push(body.to_vec()),
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no netlink ACK after 64 datagrams",
        ))
    }
}

// === message building ===

/// Appends one netlink attribute (header, data, padding to 4 bytes).
fn attr(buf: &mut Vec<u8>, ty: u16, data: &[u8]) {
    buf.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(data);
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

/// Starts a nested attribute; `nest_end` patches its length.
fn nest_start(buf: &mut Vec<u8>, ty: u16) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&0u16.to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    start
}

fn nest_end(buf: &mut [u8], start: usize) {
    let len = (buf.len() - start) as u16;
    buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// struct ifinfomsg (16 bytes).
fn ifinfomsg(index: i32, flags: u32, change: u32) -> Vec<u8> {
    let mut v = vec![libc::AF_UNSPEC as u8, 0, 0, 0];
    v.extend_from_slice(&index.to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&change.to_ne_bytes());
    v
}

/// struct tcmsg (20 bytes).
fn tcmsg(ifindex: i32, handle: u32, parent: u32, info: u32) -> Vec<u8> {
    let mut v = vec![libc::AF_UNSPEC as u8, 0, 0, 0];
    v.extend_from_slice(&ifindex.to_ne_bytes());
    v.extend_from_slice(&handle.to_ne_bytes());
    v.extend_from_slice(&parent.to_ne_bytes());
    v.extend_from_slice(&info.to_ne_bytes());
    v
}

/// struct tc_ratespec (12 bytes) for `bytes_per_sec`, link layer Ethernet (no rate table needed).
fn ratespec(bytes_per_sec: u32) -> Vec<u8> {
    let mut v = vec![0u8, TC_LINKLAYER_ETHERNET];
    v.extend_from_slice(&0u16.to_ne_bytes()); // overhead
    v.extend_from_slice(&0i16.to_ne_bytes()); // cell_align
    v.extend_from_slice(&0u16.to_ne_bytes()); // mpu
    v.extend_from_slice(&bytes_per_sec.to_ne_bytes());
    v
}

// === the checks ===

fn ifindex(name: &str) -> io::Result<i32> {
    let c =
        std::ffi::CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: c is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(idx as i32)
    }
}

/// Creates link `name` of `kind`; `data` is IFLA_INFO_DATA content, if any.
fn add_link(nl: &mut Netlink, name: &str, kind: &str, data: Option<&[u8]>) -> io::Result<()> {
    let mut p = ifinfomsg(0, 0, 0);
    attr(&mut p, IFLA_IFNAME, &cstr(name));
    let li = nest_start(&mut p, IFLA_LINKINFO);
    attr(&mut p, IFLA_INFO_KIND, kind.as_bytes());
    if let Some(d) = data {
        attr(&mut p, IFLA_INFO_DATA, d);
    }
    nest_end(&mut p, li);
    nl.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &p)
        .map(|_| ())
}

fn set_up(nl: &mut Netlink, name: &str) -> io::Result<()> {
    let idx = ifindex(name)?;
    let up = libc::IFF_UP as u32;
    nl.request(RTM_NEWLINK, 0, &ifinfomsg(idx, up, up))
        .map(|_| ())
}

fn add_veth(nl: &mut Netlink, name: &str, peer: &str) -> io::Result<()> {
    let mut peer_msg = ifinfomsg(0, 0, 0);
    attr(&mut peer_msg, IFLA_IFNAME, &cstr(peer));
    let mut data = Vec::new();
    attr(&mut data, VETH_INFO_PEER, &peer_msg);
    add_link(nl, name, "veth", Some(&data))
}

/// Adds or replaces a qdisc `kind` with raw TCA_OPTIONS (if any).
fn qdisc(
    nl: &mut Netlink,
    dev: &str,
    handle: u32,
    parent: u32,
    kind: &str,
    opts: Option<&[u8]>,
) -> io::Result<()> {
    let mut p = tcmsg(ifindex(dev)?, handle, parent, 0);
    attr(&mut p, TCA_KIND, &cstr(kind));
    if let Some(o) = opts {
        attr(&mut p, TCA_OPTIONS, o);
    }
    nl.request(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, &p)
        .map(|_| ())
}

/// HTB root 1: with default class 1:1 at 10 Mbit/s — the skeleton of hearth's shaper.
fn htb_with_class(nl: &mut Netlink, dev: &str) -> io::Result<()> {
    let mut glob = Vec::new(); // struct tc_htb_glob
    for v in [3u32, 10, 1, 0, 0] {
        // version, rate2quantum, defcls, debug, direct_pkts
        glob.extend_from_slice(&v.to_ne_bytes());
    }
    let mut o = Vec::new();
    attr(&mut o, TCA_HTB_INIT, &glob);
    qdisc(nl, dev, 0x0001_0000, TC_H_ROOT, "htb", Some(&o))?;

    let mut hopt = Vec::new(); // struct tc_htb_opt
    hopt.extend(ratespec(1_250_000));
    hopt.extend(ratespec(1_250_000));
    for v in [100_000u32, 100_000, 0, 0, 0] {
        // buffer, cbuffer (ticks), quantum, level, prio
        hopt.extend_from_slice(&v.to_ne_bytes());
    }
    let mut o = Vec::new();
    attr(&mut o, TCA_HTB_PARMS, &hopt);
    let mut p = tcmsg(ifindex(dev)?, 0x0001_0001, 0x0001_0000, 0);
    attr(&mut p, TCA_KIND, &cstr("htb"));
    attr(&mut p, TCA_OPTIONS, &o);
    nl.request(RTM_NEWTCLASS, NLM_F_CREATE | NLM_F_EXCL, &p)
        .map(|_| ())
}

/// fw filter on 1: — packets with mark 1 go to class 1:1.
fn fw_filter(nl: &mut Netlink, dev: &str) -> io::Result<()> {
    let info = (1u32 << 16) | u32::from(ETH_P_IP.to_be());
    let mut p = tcmsg(ifindex(dev)?, 1, 0x0001_0000, info);
    attr(&mut p, TCA_KIND, &cstr("fw"));
    let o = nest_start(&mut p, TCA_OPTIONS);
    attr(&mut p, TCA_FW_CLASSID, &0x0001_0001u32.to_ne_bytes());
    nest_end(&mut p, o);
    nl.request(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, &p)
        .map(|_| ())
}

/// ingress qdisc on `dev` plus a u32 match-all filter redirecting everything to `ifb` with mirred.
fn ingress_redirect(nl: &mut Netlink, dev: &str, ifb: &str) -> io::Result<()> {
    qdisc(nl, dev, 0xFFFF_0000, TC_H_INGRESS, "ingress", None)?;
    let info = (1u32 << 16) | u32::from(ETH_P_ALL.to_be());
    let mut p = tcmsg(ifindex(dev)?, 0, 0xFFFF_0000, info);
    attr(&mut p, TCA_KIND, &cstr("u32"));
    let o = nest_start(&mut p, TCA_OPTIONS);
    // struct tc_u32_sel with no keys: flags TC_U32_TERMINAL, matches every packet.
    let sel = [1u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    attr(&mut p, TCA_U32_SEL, &sel);
    attr(&mut p, TCA_U32_CLASSID, &0x0001_0001u32.to_ne_bytes());
    let acts = nest_start(&mut p, TCA_U32_ACT);
    let a1 = nest_start(&mut p, 1);
    attr(&mut p, TCA_ACT_KIND, &cstr("mirred"));
    let ao = nest_start(&mut p, TCA_ACT_OPTIONS);
    let mut parms = Vec::new(); // struct tc_mirred
    for v in [
        0i32,
        0,
        TC_ACT_STOLEN,
        0,
        0,
        TCA_EGRESS_REDIR,
        ifindex(ifb)?,
    ] {
        // index, capab, action, refcnt, bindcnt, eaction, ifindex
        parms.extend_from_slice(&v.to_ne_bytes());
    }
    attr(&mut p, TCA_MIRRED_PARMS, &parms);
    nest_end(&mut p, ao);
    nest_end(&mut p, a1);
    nest_end(&mut p, acts);
    nest_end(&mut p, o);
    nl.request(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, &p)
        .map(|_| ())
}

fn tbf(nl: &mut Netlink, dev: &str) -> io::Result<()> {
    let mut q = Vec::new(); // struct tc_tbf_qopt
    q.extend(ratespec(1_000_000)); // 8 Mbit/s
    q.extend(vec![0u8; 12]); // no peak rate
    for v in [30_000u32, 2_000_000, 0] {
        // limit (bytes), buffer (ticks of 64 ns: 128 ms ≈ 128 kB at this rate), mtu
        q.extend_from_slice(&v.to_ne_bytes());
    }
    let mut o = Vec::new();
    attr(&mut o, TCA_TBF_PARMS, &q);
    qdisc(nl, dev, 0x000C_0000, TC_H_ROOT, "tbf", Some(&o))
}

/// netem with 10 ms delay (it refuses to start without options).
fn netem(nl: &mut Netlink, dev: &str) -> io::Result<()> {
    let mut q = Vec::new(); // struct tc_netem_qopt
    for v in [156_250u32, 1000, 0, 0, 0, 0] {
        // latency (ticks of 64 ns = 10 ms), limit (packets), loss, gap, duplicate, jitter
        q.extend_from_slice(&v.to_ne_bytes());
    }
    qdisc(nl, dev, 0x000D_0000, TC_H_ROOT, "netem", Some(&q))
}

/// Resolves a generic netlink family by name (proves the module registered it).
fn genl_family(name: &str) -> io::Result<()> {
    let mut nl = Netlink::open(libc::NETLINK_GENERIC)?;
    let mut p = vec![CTRL_CMD_GETFAMILY, 1, 0, 0];
    attr(&mut p, CTRL_ATTR_FAMILY_NAME, &cstr(name));
    let replies = nl.request(GENL_ID_CTRL, 0, &p)?;
    if replies.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no family in reply",
        ));
    }
    Ok(())
}

/// `wg genkey` then `wg set DEV private-key … listen-port 51820`, read back with `wg show`.
fn wg_tool(dev: &str) -> Result<String, String> {
    let wg = ["/usr/bin/wg", "/usr/local/bin/wg"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(wg) = wg else {
        return Err("no wg binary in this image".into());
    };
    let key = Command::new(wg)
        .arg("genkey")
        .output()
        .map_err(|e| format!("{wg} genkey: {e}"))?;
    if !key.status.success() {
        return Err(format!(
            "{wg} genkey failed: {}",
            String::from_utf8_lossy(&key.stderr).trim()
        ));
    }
    let path = std::env::temp_dir().join(format!("vm-probe-{}.key", std::process::id()));
    std::fs::write(&path, &key.stdout).map_err(|e| format!("write {}: {e}", path.display()))?;
    let set = Command::new(wg)
        .args(["set", dev, "private-key"])
        .arg(&path)
        .args(["listen-port", "51820"])
        .output()
        .map_err(|e| format!("wg set: {e}"));
    let _ = std::fs::remove_file(&path);
    let set = set?;
    if !set.status.success() {
        return Err(format!(
            "wg set failed: {}",
            String::from_utf8_lossy(&set.stderr).trim()
        ));
    }
    let show = Command::new(wg)
        .args(["show", dev, "listen-port"])
        .output()
        .map_err(|e| format!("wg show: {e}"))?;
    let port = String::from_utf8_lossy(&show.stdout).trim().to_string();
    if port == "51820" {
        Ok(format!("wg set/show on {dev}: listen-port {port}"))
    } else {
        Err(format!(
            "wg show {dev} listen-port said {port:?}, expected 51820"
        ))
    }
}

/// One probed feature and what the kernel said.
struct Check {
    /// What was tried, e.g. "qdisc cake".
    name: &'static str,
    /// Whether the lane is broken without it (later kernel tests depend on it).
    required: bool,
    /// Ok(detail) or Err(why it failed).
    result: Result<String, String>,
}

fn run_checks() -> Vec<Check> {
    let mut checks = Vec::new();
    // mac80211_hwsim radios live in the initial namespace: count them before leaving it.
    let radios = std::fs::read_dir("/sys/class/ieee80211")
        .map(|d| d.count())
        .unwrap_or(0);
    checks.push(Check {
        name: "mac80211_hwsim radios",
        required: true,
        result: if radios >= 2 {
            Ok(format!("{radios} wiphys"))
        } else {
            Err(format!(
                "{radios} wiphys in /sys/class/ieee80211, want >= 2"
            ))
        },
    });

    let mut push = |name, required, r: io::Result<()>| {
        checks.push(Check {
            name,
            required,
            result: r.map(|_| String::new()).map_err(|e| e.to_string()),
        });
    };

    // SAFETY: unshare(2) with a plain flag; affects only this process (single-threaded so far).
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        push(
            "private network namespace (unshare)",
            true,
            Err(io::Error::last_os_error()),
        );
        return checks;
    }
    let mut nl = match Netlink::open(libc::NETLINK_ROUTE) {
        Ok(nl) => nl,
        Err(e) => {
            push("rtnetlink socket", true, Err(e));
            return checks;
        }
    };
    push("link lo up", true, set_up(&mut nl, "lo"));

    push(
        "link dummy",
        true,
        add_link(&mut nl, "probe0", "dummy", None).and_then(|_| set_up(&mut nl, "probe0")),
    );
    // Qdiscs go on the veth peer probe-b, ingress on probe-a: veth exists on most hosts too, so a host
    // run still exercises these encodings.
    let veth = add_veth(&mut nl, "probe-a", "probe-b")
        .and_then(|_| set_up(&mut nl, "probe-a"))
        .and_then(|_| set_up(&mut nl, "probe-b"));
    let have_veth = veth.is_ok();
    push("link veth pair", true, veth);
    let ifb =
        add_link(&mut nl, "probe-ifb", "ifb", None).and_then(|_| set_up(&mut nl, "probe-ifb"));
    let have_ifb = ifb.is_ok();
    push("link ifb", true, ifb);
    let wg = add_link(&mut nl, "probe-wg", "wireguard", None);
    let have_wg = wg.is_ok();
    push("link wireguard", true, wg);

    if have_veth {
        // Each root qdisc gets its own handle: replacing a qdisc by one of another kind under the
        // same handle is EINVAL (the kernel reads it as "change its options").
        push(
            "qdisc cake (root)",
            true,
            qdisc(&mut nl, "probe-b", 0x000A_0000, TC_H_ROOT, "cake", None),
        );
        push(
            "qdisc fq_codel (root)",
            true,
            qdisc(&mut nl, "probe-b", 0x000B_0000, TC_H_ROOT, "fq_codel", None),
        );
        push("qdisc tbf (root)", true, tbf(&mut nl, "probe-b"));
        push("qdisc netem (root)", false, netem(&mut nl, "probe-b"));
        let htb = htb_with_class(&mut nl, "probe-b");
        let have_htb = htb.is_ok();
        push("qdisc htb + class 1:1", true, htb);
        if have_htb {
            push(
                "qdisc cake as leaf of htb 1:1",
                true,
                qdisc(&mut nl, "probe-b", 0x0010_0000, 0x0001_0001, "cake", None),
            );
            push(
                "filter fw (mark 1 -> class 1:1)",
                true,
                fw_filter(&mut nl, "probe-b"),
            );
        }
    }
    if have_ifb && have_veth {
        push(
            "qdisc ingress + u32 + mirred -> ifb",
            true,
            ingress_redirect(&mut nl, "probe-a", "probe-ifb"),
        );
    }
    push("genl family wireguard", true, genl_family("wireguard"));
    push("genl family nl80211", true, genl_family("nl80211"));
    if have_wg {
        let r = wg_tool("probe-wg");
        checks.push(Check {
            name: "wg tool (set/show)",
            required: false,
            result: r,
        });
    }
    checks
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let forced_exit = match args.as_slice() {
        [] => None,
        [flag, n] if flag == "--exit-code" => match n.parse::<u8>() {
            Ok(n) => Some(n),
            Err(_) => {
                eprintln!("vm-probe: --exit-code wants a number 0-255, got {n:?}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: vm-probe [--exit-code N]");
            return ExitCode::from(2);
        }
    };

    if let Some(n) = forced_exit {
        println!("vm-probe: exiting with {n} without probing, as asked (--exit-code)");
        return ExitCode::from(n);
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!("vm-probe: kernel {}", release.trim());
    let checks = run_checks();
    let mut missing_required = 0;
    for c in &checks {
        match &c.result {
            Ok(detail) if detail.is_empty() => println!("vm-probe: ok       {}", c.name),
            Ok(detail) => println!("vm-probe: ok       {} ({detail})", c.name),
            Err(e) => {
                let tag = if c.required { "  [REQUIRED]" } else { "" };
                println!("vm-probe: MISSING  {}: {e}{tag}", c.name);
                if c.required {
                    missing_required += 1;
                }
            }
        }
    }
    let ok = checks.iter().filter(|c| c.result.is_ok()).count();
    println!(
        "vm-probe: {} checks, {ok} ok, {} missing ({missing_required} required)",
        checks.len(),
        checks.len() - ok
    );
    if missing_required > 0 {
        eprintln!("vm-probe: FAILED: {missing_required} required kernel feature(s) missing (see MISSING lines above)");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
