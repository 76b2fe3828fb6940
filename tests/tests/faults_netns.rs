//! Kernel-state faults of the running daemon (issue #9, fault injection): `hearth run` in the
//! router namespace of a [`Testbed`] with shaping (HTB, per-device classes), VPN policy
//! routing (a veth `vpn0` stands in for the WireGuard link) and the LLM balancer (a
//! `fake-upstream` process in the "internet" namespace), with traffic flowing.
//!
//! - `kill -9` mid-traffic, then a restart: the new process adopts what the old one left in
//!   the kernel — zero changes, and iproute2 shows exactly the objects of before, each once —
//!   and a second (clean) restart changes nothing either.
//! - A `SIGHUP` with a config the kernel refuses part-way, in shaping *and* in the VPN policy:
//!   the daemon logs both refusals, every tc object, rule and route is as it was before the
//!   reload (iproute2 dumps compared), and the balancer keeps answering.
//!
//! `hearth apply`'s own rollbacks are tested in shaping_netns.rs and vpn_netns.rs; these tests
//! are about the daemon. The host kernel has no cake/fq_codel, so leaves are whatever hearth's
//! `leaf 'auto'` picks (pfifo here, CAKE in the VM lane). Need root, iproute2, iperf3 and curl;
//! skip loudly otherwise. Every wait is bounded; durations are never asserted.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hearth_e2e::netns::tc::{difference, Observed};
use hearth_e2e::netns::{
    can_run, device_addr, IperfClient, IperfServer, Netns, TcMonitor, Testbed, INTERNET_ADDR,
    LAN_ROUTER,
};
use serde_json::Value;

const TOOLS: &[&str] = &["ip", "tc", "ss", "iperf3", "curl"];
/// hearth's routing protocol number on its rules (`ip rule ... proto 104`).
const HEARTH_PROTO: u64 = 104;
/// The VPN's routing table.
const VPN_TABLE: &str = "100";
/// Where the fake upstream listens (in the internet namespace).
const UPSTREAM_PORT: u16 = 8000;
/// Where the balancer listens (the router's LAN address).
const BALANCER_PORT: u16 = 8080;
/// How long the daemon may take to start or to finish a reload.
const PATIENCE: Duration = Duration::from_secs(60);

// === the household ===

/// Device 0 ("kid") is shaped and routed through the VPN; device 1 ("adult") is shaped and
/// goes out through wan0. `extra` is appended (more sections).
fn household(upload: u32, kid_ipv6: bool, extra: &str) -> String {
    let v6 = if kid_ipv6 {
        "\tlist ip 'fd00:250:2::10'\n"
    } else {
        ""
    };
    format!(
        "config shaper 'wan'\n\toption device 'wan0'\n\toption lan_device 'br0'\n\
         \toption upload '{upload}'\n\toption download '20000'\n\toption leaf 'auto'\n\n\
         config group 'family'\n\n\
         config group 'kids'\n\toption vpn 'wg0'\n\n\
         config device 'kid'\n\toption mac '02:00:00:00:fc:10'\n\tlist ip '{kid}'\n{v6}\
         \toption group 'kids'\n\toption rate_down '4000'\n\toption rate_up '4000'\n\n\
         config device 'adult'\n\toption mac '02:00:00:00:fc:11'\n\tlist ip '{adult}'\n\
         \toption group 'family'\n\n\
         config vpn 'wg0'\n\toption interface 'vpn0'\n\toption table '{VPN_TABLE}'\n\
         \toption fwmark '0x100'\n\toption rule_priority '10000'\n\toption kill_switch '1'\n\n\
         config balancer 'llm'\n\tlist listen '{LAN_ROUTER}:{BALANCER_PORT}'\n\n\
         config endpoint 'box'\n\toption url 'http://{INTERNET_ADDR}:{UPSTREAM_PORT}/v1'\n\
         \tlist model 'm'\n\toption health_check '0'\n{extra}",
        kid = device_addr(0),
        adult = device_addr(1),
    )
}

/// VPN links for the testbed: `vpn0` and `vpn1` in the router (10.251.N.1/30), their veth
/// peers in a namespace of their own. Returns the namespace (kept alive by the caller).
fn add_vpn_links(bed: &Testbed, tag: &str) -> Netns {
    let far = Netns::create(tag, "vpnfar");
    for n in 0..2 {
        let (link, peer) = (format!("vpn{n}"), format!("vpnfar{n}"));
        hearth_e2e::netns::must(&[
            "ip",
            "link",
            "add",
            &link,
            "netns",
            &bed.router.name,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
            "netns",
            &far.name,
        ]);
        bed.router
            .cmd(&format!("ip addr add 10.251.{n}.1/30 dev {link}"));
        bed.router.cmd(&format!("ip link set {link} up"));
        far.cmd(&format!("ip addr add 10.251.{n}.2/30 dev {peer}"));
        far.cmd(&format!("ip link set {peer} up"));
    }
    far
}

/// `fake-upstream` (this crate's binary) in the internet namespace, up and listening.
fn start_upstream(bed: &Testbed) -> hearth_e2e::netns::Background {
    let listen = format!("{INTERNET_ADDR}:{UPSTREAM_PORT}");
    let proc = bed.internet.spawn(&[
        env!("CARGO_BIN_EXE_fake-upstream"),
        "--listen",
        &listen,
        "--models",
        "m",
    ]);
    wait_until("the fake upstream listens", Duration::from_secs(20), || {
        bed.internet
            .must(&["ss", "-Htln", &format!("sport = :{UPSTREAM_PORT}")])
            .contains(&format!(":{UPSTREAM_PORT}"))
    });
    proc
}

/// Polls `ok` every 100 ms until it holds; panics after `limit`.
fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// One chat request from device `i` to the balancer with curl: the HTTP status (0 when no
/// answer came) and the body.
fn llm_request(bed: &Testbed, i: usize) -> (u16, String) {
    let url = format!("http://{LAN_ROUTER}:{BALANCER_PORT}/v1/chat/completions");
    let out = bed.devices[i].output(
        &[
            "curl",
            "-sS",
            "-m",
            "10",
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
            "-w",
            "\n%{http_code}",
            &url,
        ],
        Duration::from_secs(30),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

// === the daemon ===

/// `hearth run` inside the router namespace, its stderr captured line by line.
struct Daemon {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    /// Starts it and waits (bounded) for `ready`.
    fn start(bed: &Testbed, cfg: &Path, label: &str) -> Daemon {
        // `ip netns exec` execs hearth in place: the child's pid is hearth's.
        let mut child = Command::new("ip")
            .args(["netns", "exec", &bed.router.name])
            .arg(hearth_e2e::netns::hearth())
            .args(["run", "--config"])
            .arg(cfg)
            .env_remove("HEARTH_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hearth run");
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let label = label.to_string();
        thread::spawn(move || {
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("hearth[{label}]| {l}");
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(l);
            }
        });
        let d = Daemon { child, lines };
        d.wait_line(0, "ready", |l| l == "info: ready");
        d
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits for a line at index `from` or later that satisfies `pred`; returns it.
    fn wait_line(&self, from: usize, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = self.lines().iter().skip(from).find(|l| pred(l)) {
                return l.clone();
            }
            let invalid = self
                .lines()
                .iter()
                .skip(from)
                .any(|l| l.contains("the new config is invalid"));
            assert!(
                start.elapsed() < PATIENCE && !invalid,
                "hearth logged no {what} within {PATIENCE:?}; it said:\n{}",
                self.lines().join("\n")
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The reconcile line of `subsystem` at or after `from` (`info: shaping: ... (N changes)`).
    fn reconciled(&self, from: usize, subsystem: &str) -> String {
        let prefix = format!("info: {subsystem}: ");
        self.wait_line(from, &format!("{subsystem} reconcile"), |l| {
            l.starts_with(&prefix) && l.ends_with("changes)")
        })
    }

    fn signal(&self, sig: &str) {
        hearth_e2e::netns::must(&["kill", &format!("-{sig}"), &self.child.id().to_string()]);
    }

    /// Waits (bounded) for the process to exit; returns its status.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "hearth did not exit within {PATIENCE:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// === what the kernel holds ===

/// Everything the router's kernel shows that hearth owns or could have duplicated: tc objects
/// (iproute2's view, normalised), hearth's rules, every route of every table, and the raw
/// rule list.
#[derive(Debug, PartialEq)]
struct KernelState {
    tc: Observed,
    /// hearth's rules (`ip -j rule`, protocol 104), one JSON object per line, in dump order.
    hearth_rules: Vec<String>,
    /// `ip rule show` for both families, as printed.
    all_rules: String,
    /// `ip route show table all` for both families, sorted (IPv6 is off: no expiring routes).
    all_routes: Vec<String>,
    /// `ip route show table 100`, as printed.
    vpn_table: Vec<String>,
}

fn kernel_state(bed: &Testbed) -> KernelState {
    let r = &bed.router;
    let mut hearth_rules = Vec::new();
    let mut all_rules = String::new();
    let mut all_routes = Vec::new();
    for fam in ["-4", "-6"] {
        let rules: Value =
            serde_json::from_str(&r.must(&["ip", fam, "-j", "rule", "show"])).unwrap_or_default();
        for rule in rules.as_array().into_iter().flatten() {
            let proto = &rule["protocol"];
            if proto.as_u64() == Some(HEARTH_PROTO) || proto.as_str() == Some("104") {
                hearth_rules.push(format!("{fam} {rule}"));
            }
        }
        all_rules.push_str(&r.must(&["ip", fam, "rule", "show"]));
        all_routes.extend(
            r.must(&["ip", fam, "route", "show", "table", "all"])
                .lines()
                .map(str::to_owned),
        );
    }
    all_routes.sort();
    let vpn_table = all_routes
        .iter()
        .filter(|l| l.contains(&format!("table {VPN_TABLE}")))
        .cloned()
        .collect();
    KernelState {
        tc: bed.observe(),
        hearth_rules,
        all_rules,
        all_routes,
        vpn_table,
    }
}

/// Panics with a readable difference unless `a` and `b` are the same kernel state.
fn assert_same_state(a: &KernelState, b: &KernelState, what: &str) {
    let tc = difference(&a.tc, &b.tc);
    assert!(tc.is_empty(), "{what}: tc differs:\n{}", tc.join("\n"));
    assert_eq!(
        a.hearth_rules, b.hearth_rules,
        "{what}: hearth's rules differ"
    );
    assert_eq!(a.all_rules, b.all_rules, "{what}: `ip rule show` differs");
    assert_eq!(a.all_routes, b.all_routes, "{what}: routes differ");
}

/// No object appears twice, and what hearth should have made is there: per shaped device an
/// HTB root and its classes, rules pointing to the VPN table, its default route and kill
/// switch.
fn assert_each_once(s: &KernelState) {
    for (name, link) in &s.tc.links {
        let mut ids: Vec<&str> = link.classes.iter().map(|c| c.classid.as_str()).collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "{name}: a class id appears twice");
        let mut parents: Vec<&str> = link.qdiscs.iter().map(|q| q.parent.as_str()).collect();
        let n = parents.len();
        parents.sort_unstable();
        parents.dedup();
        assert_eq!(parents.len(), n, "{name}: two qdiscs under one parent");
        let mut filters: Vec<String> = link
            .filters
            .iter()
            .map(|f| format!("{f:?}"))
            .collect::<Vec<_>>();
        let n = filters.len();
        filters.sort_unstable();
        filters.dedup();
        assert_eq!(filters.len(), n, "{name}: a filter appears twice");
    }
    for dev in ["wan0", "ifb4wan0", "br0", "ifb4br0"] {
        let l = s.tc.links.get(dev).unwrap_or_else(|| panic!("no {dev}"));
        assert_eq!(
            l.qdisc("root").map(|q| q.kind.as_str()),
            Some("htb"),
            "{dev}"
        );
        assert!(l.classes.len() >= 4, "{dev}: {:?}", l.classes);
    }
    let mut rules = s.hearth_rules.clone();
    rules.sort();
    rules.dedup();
    assert_eq!(rules.len(), s.hearth_rules.len(), "{:#?}", s.hearth_rules);
    assert!(
        s.hearth_rules
            .iter()
            .any(|r| r.contains(&format!("\"src\":\"{}\"", device_addr(0)))
                && r.contains(&format!("\"table\":\"{VPN_TABLE}\""))),
        "no rule sends the kid to table {VPN_TABLE}: {:#?}",
        s.hearth_rules
    );
    let mut routes = s.all_routes.clone();
    routes.dedup();
    assert_eq!(routes.len(), s.all_routes.len(), "a route appears twice");
    let has = |needle: &str| s.vpn_table.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(has("default dev vpn0"), 1, "{:#?}", s.vpn_table);
    assert!(has("unreachable default") >= 1, "{:#?}", s.vpn_table);
}

/// A few LLM requests from device 1 in a loop until `stop` (at most `max`), on a thread.
fn llm_load(bed: &Testbed, stop: &AtomicBool, max: usize) -> (usize, usize) {
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..max {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match llm_request(bed, 1).0 {
            200 => ok += 1,
            _ => failed += 1,
        }
        thread::sleep(Duration::from_millis(50));
    }
    (ok, failed)
}

#[test]
fn kill_9_under_load_then_restart_adopts_the_kernel_state_without_duplicates() {
    let name = "kill_9_under_load_then_restart_adopts_the_kernel_state_without_duplicates";
    if !can_run(name, TOOLS) {
        return;
    }
    let bed = Testbed::new("kill9", 2);
    let _far = add_vpn_links(&bed, "kill9");
    let _upstream = start_upstream(&bed);
    bed.wait_connected();
    let cfg = bed.config("hearth", &household(10_000, false, ""));
    let mut first = Daemon::start(&bed, &cfg, "1");
    let (status, body) = llm_request(&bed, 1);
    assert_eq!(status, 200, "the balancer answers before the fault: {body}");
    let before = kernel_state(&bed);
    assert_each_once(&before);

    // Load: a bulk download by the adult through the shaped router, and LLM requests.
    let iperf = IperfServer::start(&bed.internet, INTERNET_ADDR, 5201);
    let bulk = IperfClient::start(&bed.devices[1], &iperf, 6, true);
    let stop = AtomicBool::new(false);
    let (second, (llm_ok, _llm_failed)) = thread::scope(|s| {
        let load = s.spawn(|| llm_load(&bed, &stop, 400));
        thread::sleep(Duration::from_millis(1500));
        first.signal("KILL");
        let st = first.wait_exit();
        assert!(!st.success(), "kill -9 must kill it: {st}");
        assert_same_state(&before, &kernel_state(&bed), "kill -9 itself");
        let second = Daemon::start(&bed, &cfg, "2");
        thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::SeqCst);
        (second, load.join().expect("load thread"))
    });
    assert!(llm_ok > 0, "no LLM request succeeded during the test");
    let mbit = bulk.finish();
    assert!(
        mbit.is_ok(),
        "the bulk transfer broke across the restart: {mbit:?}"
    );

    // The restarted daemon found everything in place: nothing to change, nothing doubled.
    for sub in ["shaping", "vpn"] {
        let line = second.reconciled(0, sub);
        assert!(
            line.ends_with("(0 changes)"),
            "after kill -9 the restart re-adopts {sub} as it is: {line}"
        );
    }
    let after = kernel_state(&bed);
    assert_same_state(&before, &after, "the restart after kill -9");
    assert_each_once(&after);
    let (status, body) = llm_request(&bed, 1);
    assert_eq!(
        status, 200,
        "the balancer answers after the restart: {body}"
    );

    // A clean stop and another start change nothing either.
    let mut second = second;
    second.signal("TERM");
    assert!(second.wait_exit().success());
    let third = Daemon::start(&bed, &cfg, "3");
    for sub in ["shaping", "vpn"] {
        let line = third.reconciled(0, sub);
        assert!(line.ends_with("(0 changes)"), "second restart: {line}");
    }
    assert_same_state(&before, &kernel_state(&bed), "the second restart");
    let (status, _) = llm_request(&bed, 0);
    assert_eq!(status, 200, "the VPN device reaches the balancer too");
}

/// Logs `ip -o monitor route` in `ns` to `log`, once it reports events (bounded).
fn route_monitor(ns: &Netns, log: &Path) -> hearth_e2e::netns::Background {
    let file = std::fs::File::create(log).expect("create the route monitor log");
    let proc = ns.spawn_to(&["ip", "-o", "monitor", "route"], file);
    wait_until("ip monitor route prints", Duration::from_secs(10), || {
        ns.must(&[
            "ip",
            "route",
            "replace",
            "unreachable",
            "192.0.2.77/32",
            "table",
            "4242",
        ]);
        ns.must(&["ip", "route", "del", "192.0.2.77/32", "table", "4242"]);
        std::fs::read_to_string(log).is_ok_and(|t| t.contains("192.0.2.77"))
    });
    proc
}

#[test]
fn a_reload_the_kernel_refuses_mid_apply_leaves_the_kernel_as_it_was_and_keeps_serving() {
    let name =
        "a_reload_the_kernel_refuses_mid_apply_leaves_the_kernel_as_it_was_and_keeps_serving";
    if !can_run(name, &["ip", "tc", "ss", "curl"]) {
        return;
    }
    let bed = Testbed::new("hup", 2);
    let _far = add_vpn_links(&bed, "hup");
    let _upstream = start_upstream(&bed);
    let cfg = bed.config("hearth", &household(10_000, false, ""));
    let daemon = Daemon::start(&bed, &cfg, "hup");
    assert_eq!(llm_request(&bed, 1).0, 200);

    // Someone's IPv4 filter at prio 2 on br0: hearth's IPv6 filter at that prio is refused
    // once the kernel keeps the (emptied) IPv4 classifier there (see shaping_netns.rs).
    bed.router.cmd(
        "tc filter add dev br0 parent 1: prio 2 \
         protocol ip u32 match ip dst 10.250.2.99/32 flowid 1:2",
    );
    let tc_mon = TcMonitor::start(&bed.router, bed.dir.path().join("tc-monitor"));
    let route_log = bed.dir.path().join("route-monitor");
    let _route_mon = route_monitor(&bed.router, &route_log);
    let before = kernel_state(&bed);

    // The new config: a new WAN rate (applied first), an IPv6 address for the kid (refused);
    // a spare VPN on vpn1 (its table 150 gets its routes first) and the adult in a VPN whose
    // gateway is not on its link (the kernel refuses that route).
    let office = "\nconfig vpn 'spare'\n\toption interface 'vpn1'\n\toption table '150'\n\
                  \toption fwmark '0x150'\n\toption rule_priority '15000'\n\
                  \nconfig vpn 'office'\n\toption interface 'wan0'\n\toption gateway '10.99.99.1'\n\
                  \toption table '200'\n\toption fwmark '0x200'\n\toption rule_priority '20000'\n";
    let text = household(12_000, true, office).replace(
        "\toption group 'family'\n\nconfig vpn",
        "\toption group 'family'\n\toption vpn 'office'\n\nconfig vpn",
    );
    assert!(text.contains("option vpn 'office'"), "{text}");
    bed.config("hearth", &text);
    let mark = daemon.lines().len();
    daemon.signal("HUP");
    let shaping = daemon.wait_line(mark, "the shaping refusal", |l| {
        l.starts_with("error: shaping: ")
    });
    let vpn = daemon.wait_line(mark, "the VPN refusal", |l| l.starts_with("error: vpn: "));
    daemon.reconciled(mark, "balancer");
    for (line, needles) in [
        (
            &shaping,
            &["br0: add u32 filter prio 2", "previous state was restored"][..],
        ),
        (
            &vpn,
            &[
                "add route default via 10.99.99.1",
                "table 200",
                "previous state was restored",
            ],
        ),
    ] {
        for n in needles {
            assert!(line.contains(n), "{n:?} not in {line:?}");
        }
    }
    // Both had changed something before the refusal, so there was something to put back.
    assert!(
        tc_mon
            .text()
            .lines()
            .any(|l| l.contains("dev wan0") && l.contains("rate 12Mbit")),
        "shaping did not change wan0 before failing:\n{}",
        tc_mon.text()
    );
    let routes = std::fs::read_to_string(&route_log).unwrap_or_default();
    assert!(
        routes
            .lines()
            .any(|l| l.starts_with("default dev vpn1 table 150")),
        "the VPN apply added nothing to table 150 before failing:\n{routes}"
    );

    let after = kernel_state(&bed);
    assert_same_state(&before, &after, "the refused reload");
    // The old config keeps serving: LLM requests and the VPN device's policy.
    let (status, body) = llm_request(&bed, 1);
    assert_eq!(
        status, 200,
        "the balancer answers after the refused reload: {body}"
    );
    assert!(
        after.hearth_rules.iter().all(|r| !r.contains("20000")),
        "{:#?}",
        after.hearth_rules
    );
    // `hearth status` says so: the generation that failed, and what stays in force.
    let out = Command::new(hearth_e2e::netns::hearth())
        .args(["status", "--config"])
        .arg(&cfg)
        .env_remove("HEARTH_CONFIG")
        .output()
        .expect("run hearth status");
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "shaping FAILED to apply config generation 2: ",
        "VPN policy FAILED to apply config generation 2: ",
        "  the kernel keeps what generation 1 applied:\n  shaping ",
        "  the kernel keeps what generation 1 applied:\n  vpn wg0 via vpn0: link ",
    ] {
        assert!(
            text.contains(needle),
            "{needle:?} not in hearth status:\n{text}"
        );
    }
}
