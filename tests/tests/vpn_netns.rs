//! VPN policy routing on a real kernel: `hearth apply` in a router namespace with two uplinks
//! — `wan0` to the "internet" namespace and `vpn0`, a veth standing in for the WireGuard link
//! (the host kernel has no WireGuard; the VM lane has), to a "vpn end" namespace. Both far
//! ends own the same "internet" address 198.51.100.1, so which one answers a ping shows which
//! way a packet went; each far end's ICMP echo counter (`/proc/net/snmp`) is the independent
//! observer, next to `ip -j rule` / `ip -j route` and `ip route get`.
//!
//! Checked: the rules and the table as planned; device 0 (in the VPN) goes out through `vpn0`
//! and device 1 through `wan0`; with `vpn0` down, device 0's traffic is dropped — the
//! internet end sees none of it (no leak); when `vpn0` is back, one route is re-added; a
//! second apply changes nothing; a refusal mid-apply leaves everything as it was; `--remove`
//! takes hearth's rules and routes away and nothing else. Needs root; skips loudly otherwise.

use hearth_e2e::netns::{can_run, device_addr, must, Netns, Testbed, INTERNET_ADDR};
use serde_json::Value;

const TOOLS: &[&str] = &["ip", "ping"];
const TARGET: &str = "198.51.100.1";
const VPN_ROUTER: &str = "10.251.0.1";
const VPN_END: &str = "10.251.0.2";

/// The testbed plus the VPN uplink and its far end.
struct VpnBed {
    bed: Testbed,
    vpnend: Netns,
}

fn vpn_bed(tag: &str) -> VpnBed {
    let bed = Testbed::new(tag, 2);
    let vpnend = Netns::create(tag, "vpnend");
    must(&[
        "ip",
        "link",
        "add",
        "vpn0",
        "netns",
        &bed.router.name,
        "type",
        "veth",
        "peer",
        "name",
        "vpnpeer",
        "netns",
        &vpnend.name,
    ]);
    bed.router
        .cmd(&format!("ip addr add {VPN_ROUTER}/30 dev vpn0"));
    bed.router.cmd("ip link set vpn0 up");
    bed.router
        .cmd(&format!("ip route add default via {INTERNET_ADDR}"));
    // The VPN end answers for the target (it is local there) and routes the LAN back.
    vpnend.cmd(&format!("ip addr add {VPN_END}/30 dev vpnpeer"));
    vpnend.cmd("ip link set vpnpeer up");
    vpnend.cmd("ip link set lo up");
    vpnend.cmd(&format!("ip addr add {TARGET}/32 dev lo"));
    vpnend.cmd(&format!("ip route add 10.250.2.0/24 via {VPN_ROUTER}"));
    bed.internet.cmd("ip link set lo up");
    bed.internet.cmd(&format!("ip addr add {TARGET}/32 dev lo"));
    for ns in [&bed.router, &vpnend, &bed.internet] {
        ns.cmd("sysctl -qw net.ipv4.conf.all.rp_filter=0");
        ns.cmd("sysctl -qw net.ipv4.conf.default.rp_filter=0");
    }
    VpnBed { bed, vpnend }
}

/// Device 0 goes through the VPN (dev-only route on the point-to-point style link; `extra`
/// adds options to the vpn section).
fn config(extra: &str) -> String {
    format!(
        "config vpn 'wg0'\n\toption interface 'vpn0'\n\toption table '100'\n\toption fwmark '0x100'\n\
         \toption rule_priority '10000'\n\toption kill_switch '1'\n{extra}\n\
         config group 'kids'\n\toption vpn 'wg0'\n\n\
         config device 'kid'\n\toption mac '02:00:00:00:fb:10'\n\tlist ip '{}'\n\toption group 'kids'\n\n\
         config device 'adult'\n\toption mac '02:00:00:00:fb:11'\n\tlist ip '{}'\n",
        device_addr(0),
        device_addr(1)
    )
}

/// ICMP echo requests a namespace has received.
fn echoes(ns: &Netns) -> u64 {
    let snmp = ns.must(&["cat", "/proc/net/snmp"]);
    let mut icmp = snmp.lines().filter(|l| l.starts_with("Icmp:"));
    let (names, values) = (icmp.next().unwrap_or(""), icmp.next().unwrap_or(""));
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "InEchos")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// `count` pings from device `i` to the target; whether any answer came.
fn ping(bed: &Testbed, i: usize, count: u32) -> bool {
    bed.devices[i]
        .output(
            &[
                "ping",
                "-c",
                &count.to_string(),
                "-i",
                "0.2",
                "-W",
                "1",
                TARGET,
            ],
            std::time::Duration::from_secs(30),
        )
        .status
        .success()
}

/// Which way the router sends a packet from device `i` arriving on br0 (`ip route get`).
fn route_get(bed: &Testbed, i: usize) -> String {
    let out = bed.router.output(
        &[
            "ip",
            "-j",
            "route",
            "get",
            TARGET,
            "from",
            &device_addr(i),
            "iif",
            "br0",
        ],
        std::time::Duration::from_secs(10),
    );
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // An unreachable route makes `ip route get` fail with the kernel's answer.
    if text.contains("No route to host") || text.contains("Network is unreachable") {
        return "unreachable".into();
    }
    let v: Value = serde_json::from_str(text.trim()).unwrap_or(Value::Null);
    v[0]["dev"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| v[0]["type"].as_str().map(str::to_owned))
        .unwrap_or(text)
}

/// hearth's rules (`ip -j rule`, protocol 104) and table 100 as iproute2 shows them.
fn observe(bed: &Testbed) -> (Vec<String>, Vec<String>) {
    let mut rules = Vec::new();
    for fam in ["-4", "-6"] {
        let j: Value = serde_json::from_str(&bed.router.must(&["ip", fam, "-j", "rule", "show"]))
            .unwrap_or(Value::Null);
        for r in j.as_array().into_iter().flatten() {
            // iproute2 prints `protocol` by name or number; hearth's is 104.
            if r["protocol"] == "104" || r["protocol"] == 104 {
                let mut r = r.clone();
                if let Some(o) = r.as_object_mut() {
                    o.remove("protocol");
                }
                rules.push(format!("{fam} {r}"));
            }
        }
    }
    let mut routes = Vec::new();
    for fam in ["-4", "-6"] {
        // An empty table does not exist for iproute2 (an error, no JSON): nothing in it.
        let out = bed.router.output(
            &["ip", fam, "-j", "route", "show", "table", "100"],
            std::time::Duration::from_secs(10),
        );
        let j: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        for r in j.as_array().into_iter().flatten() {
            routes.push(format!("{fam} {r}"));
        }
    }
    rules.sort();
    routes.sort();
    (rules, routes)
}

fn apply(bed: &Testbed, cfg: &std::path::Path, args: &[&str]) -> hearth_e2e::netns::Run {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    bed.hearth_apply(cfg, &all)
}

#[test]
fn vpn_devices_leave_through_the_vpn_and_are_held_when_it_is_down() {
    let name = "vpn_devices_leave_through_the_vpn_and_are_held_when_it_is_down";
    if !can_run(name, TOOLS) {
        return;
    }
    let VpnBed { bed, vpnend } = vpn_bed("vpn");
    bed.wait_connected();
    let cfg = bed.config("a", &config(""));
    // Before: everything goes out of wan0.
    assert_eq!(route_get(&bed, 0), "wan0");
    let r = apply(&bed, &cfg, &[]).ok_json();
    assert!(r["vpn"]["changes"].as_u64().unwrap_or(0) > 0, "{r}");
    assert_eq!(r["vpn"]["links"][0]["state"], "up", "{r}");

    // Independent observation: the rules and the table.
    let (rules, routes) = observe(&bed);
    let joined = rules.join("\n");
    let has = |fields: &[&str]| rules.iter().any(|r| fields.iter().all(|f| r.contains(f)));
    for want in [
        &[
            "-4 ",
            "\"priority\":9999",
            "\"table\":\"main\"",
            "\"suppress_prefixlen\":0",
        ][..],
        &[
            "-6 ",
            "\"priority\":9999",
            "\"table\":\"main\"",
            "\"suppress_prefixlen\":0",
        ],
        &[
            "-4 ",
            "\"priority\":10000",
            &format!("\"src\":\"{}\"", device_addr(0)),
            "\"table\":\"100\"",
        ],
        &[
            "-4 ",
            "\"priority\":10000",
            "\"fwmark\":\"0x100\"",
            "\"table\":\"100\"",
        ],
        &[
            "-6 ",
            "\"priority\":10000",
            "\"fwmark\":\"0x100\"",
            "\"table\":\"100\"",
        ],
    ] {
        assert!(has(want), "no rule with {want:?} in:\n{joined}");
    }
    assert_eq!(rules.len(), 5, "{joined}");
    assert!(
        !joined.contains(&device_addr(1)),
        "the adult is in no VPN:\n{joined}"
    );
    let table = routes.join("\n");
    let route = |fields: &[&str]| routes.iter().any(|r| fields.iter().all(|f| r.contains(f)));
    assert!(
        route(&[
            "-4 ",
            "\"dst\":\"default\"",
            "\"dev\":\"vpn0\"",
            "\"scope\":\"link\""
        ]),
        "{table}"
    );
    for fam in ["-4 ", "-6 "] {
        assert!(
            route(&[
                fam,
                "\"type\":\"unreachable\"",
                "\"dst\":\"default\"",
                "\"metric\":4278198272"
            ]),
            "kill switch {fam}: {table}"
        );
    }
    assert_eq!(
        routes.len(),
        3,
        "(no IPv6 route: IPv6 is off on vpn0 here) {table}"
    );

    // Decisions and real packets.
    assert_eq!(route_get(&bed, 0), "vpn0");
    assert_eq!(route_get(&bed, 1), "wan0");
    let (v0, i0) = (echoes(&vpnend), echoes(&bed.internet));
    assert!(
        ping(&bed, 0, 3),
        "the VPN device reaches the target through the VPN"
    );
    assert!(echoes(&vpnend) >= v0 + 3, "the VPN end saw the pings");
    assert_eq!(
        echoes(&bed.internet),
        i0,
        "nothing of the VPN device went out of wan0"
    );
    assert!(
        ping(&bed, 1, 2),
        "the other device reaches the target through wan0"
    );
    assert!(echoes(&bed.internet) >= i0 + 2);

    // A second apply changes nothing.
    let again = apply(&bed, &cfg, &[]).ok_json();
    assert_eq!(again["vpn"]["changes"], 0, "{again}");

    // The VPN link goes down: its route goes with it; the kill switch drops, wan0 leaks nothing.
    bed.router.cmd("ip link set vpn0 down");
    assert_eq!(route_get(&bed, 0), "unreachable");
    let i1 = echoes(&bed.internet);
    assert!(!ping(&bed, 0, 3), "no answer while the VPN is down");
    assert_eq!(
        echoes(&bed.internet),
        i1,
        "the VPN device's traffic leaked through wan0"
    );
    let down = apply(&bed, &cfg, &[]).ok_json();
    assert_eq!(down["vpn"]["links"][0]["state"], "down", "{down}");
    assert_eq!(
        down["vpn"]["changes"], 0,
        "the kill switch already holds: {down}"
    );
    // Back up: applying adds exactly the route that went away.
    bed.router.cmd("ip link set vpn0 up");
    let up = apply(&bed, &cfg, &[]).ok_json();
    assert_eq!(
        up["vpn"]["changes"], 1,
        "the IPv4 default route (IPv6 is off here): {up}"
    );
    assert_eq!(route_get(&bed, 0), "vpn0");
    assert!(ping(&bed, 0, 2));

    // --remove takes hearth's rules and routes away, and only those.
    bed.router
        .cmd("ip rule add from 10.250.2.99 lookup 100 priority 10000");
    let rm = apply(&bed, &cfg, &["--remove"]).ok_json();
    assert!(rm["vpn"]["changes"].as_u64().unwrap_or(0) >= 6, "{rm}");
    let (rules, routes) = observe(&bed);
    assert!(
        rules.is_empty() && routes.is_empty(),
        "{rules:?} {routes:?}"
    );
    let left = bed.router.must(&["ip", "rule", "show"]);
    assert!(
        left.contains("from 10.250.2.99 lookup 100"),
        "someone else's rule stays:\n{left}"
    );
    assert_eq!(route_get(&bed, 0), "wan0");
}

#[test]
fn a_refusal_mid_apply_leaves_rules_and_routes_as_they_were() {
    let name = "a_refusal_mid_apply_leaves_rules_and_routes_as_they_were";
    if !can_run(name, TOOLS) {
        return;
    }
    let VpnBed {
        bed,
        vpnend: _vpnend,
    } = vpn_bed("vpnfail");
    let a = bed.config("a", &config(""));
    apply(&bed, &a, &[]).ok_json();
    let before = (observe(&bed), bed.router.must(&["ip", "rule", "show"]));
    // B: the device moves to a second VPN whose gateway is not on its link: the kernel refuses
    // that table's default route via the gateway (hearth adds a table's default route before
    // its kill switch). A refusal after changes the same apply already made is in
    // faults_netns.rs.
    let b = config(
        "\nconfig vpn 'office'\n\toption interface 'wan0'\n\toption gateway '10.99.99.1'\n\
         \toption table '200'\n\toption fwmark '0x200'\n\toption rule_priority '20000'\n",
    )
    .replace("\toption group 'kids'\n", "\toption vpn 'office'\n");
    let r = bed.hearth_apply(&bed.config("b", &b), &["--json"]);
    assert_eq!(r.status.code(), Some(1), "{r:?}");
    assert!(
        r.stderr.contains("add route default via 10.99.99.1")
            && r.stderr.contains("table 200")
            && r.stderr.contains("the previous state was restored"),
        "{}",
        r.stderr
    );
    let table200 = bed.router.output(
        &["ip", "route", "show", "table", "200"],
        std::time::Duration::from_secs(10),
    );
    assert!(
        String::from_utf8_lossy(&table200.stdout).trim().is_empty(),
        "table 200 was left with routes"
    );
    let after = (observe(&bed), bed.router.must(&["ip", "rule", "show"]));
    assert_eq!(before, after, "the failed apply left a different state");
}

#[test]
fn a_foreign_default_route_in_the_table_is_named_not_replaced() {
    let name = "a_foreign_default_route_in_the_table_is_named_not_replaced";
    if !can_run(name, TOOLS) {
        return;
    }
    let VpnBed { bed, vpnend: _v } = vpn_bed("vpnforeign");
    bed.router.cmd(&format!(
        "ip route add default via {INTERNET_ADDR} table 100"
    ));
    let r = bed.hearth_apply(&bed.config("a", &config("")), &["--json"]);
    assert_eq!(r.status.code(), Some(1), "{r:?}");
    assert!(
        r.stderr
            .contains("table 100: it already has a default route hearth did not make"),
        "{}",
        r.stderr
    );
    let table = bed.router.must(&["ip", "route", "show", "table", "100"]);
    assert_eq!(
        table.trim(),
        format!("default via {INTERNET_ADDR} dev wan0")
    );
}

#[test]
fn the_daemon_restores_the_vpn_route_when_the_link_comes_back_and_keeps_the_policy_on_stop() {
    let name =
        "the_daemon_restores_the_vpn_route_when_the_link_comes_back_and_keeps_the_policy_on_stop";
    if !can_run(name, TOOLS) {
        return;
    }
    let VpnBed { bed, vpnend } = vpn_bed("vpnd");
    bed.wait_connected();
    let cfg = bed.config("a", &config(""));
    let bin = hearth_e2e::netns::hearth();
    let mut daemon = std::process::Command::new("ip")
        .args(["netns", "exec", &bed.router.name])
        .arg(&bin)
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start hearth run");
    let wait_for = |what: &str, ok: &dyn Fn() -> bool| {
        let start = std::time::Instant::now();
        while !ok() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "{what}: not within 20 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    let kill = |d: &mut std::process::Child| {
        let _ = d.kill();
        let _ = d.wait();
    };
    let via_vpn = || route_get(&bed, 0) == "vpn0";
    wait_for("the daemon applies the policy", &via_vpn);
    bed.router.cmd("ip link set vpn0 down");
    wait_for("the kill switch holds", &|| {
        route_get(&bed, 0) == "unreachable"
    });
    bed.router.cmd("ip link set vpn0 up");
    // No reload, no apply by hand: the watcher puts the route back.
    wait_for("the route is back", &via_vpn);
    let v0 = echoes(&vpnend);
    assert!(ping(&bed, 0, 2), "traffic flows through the VPN again");
    assert!(echoes(&vpnend) >= v0 + 2);
    // SIGTERM: the agent stops, the policy stays (no leak while it restarts).
    must(&["kill", "-TERM", &daemon.id().to_string()]);
    let status = daemon.wait().expect("wait");
    assert!(status.success(), "hearth run exited with {status}");
    assert_eq!(route_get(&bed, 0), "vpn0", "the policy outlives the agent");
    kill(&mut daemon);
}
