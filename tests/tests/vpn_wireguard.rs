//! A real WireGuard tunnel created by hearth (`manage_link '1'`), on a kernel that has
//! WireGuard — the full-kernel VM lane (`scripts/vm-test.sh`; the host kernel has none, and
//! there this test skips loudly). Keys are generated here with `wg genkey`.
//!
//! A "server" namespace runs the other end (configured with `ip` and `wg`, independently of
//! hearth) and owns the target address. hearth, in the router namespace, creates `wg1`, gives
//! it its key, port, address and the server as peer, brings it up and routes device 0 into
//! it; then a ping from device 0 must cross the tunnel, `wg show` must report a handshake and
//! bytes both ways, a second apply must change nothing, and `hearth apply --json` must report
//! the peer's counters.

use hearth_e2e::netns::{can_run, device_addr, in_vm_lane, must, Netns, Testbed};
use serde_json::Value;

const TOOLS: &[&str] = &["ip", "wg", "ping"];
const TARGET: &str = "198.51.100.7";

fn has_wireguard(ns: &Netns) -> bool {
    let ok = ns
        .output(
            &["ip", "link", "add", "wgprobe", "type", "wireguard"],
            std::time::Duration::from_secs(10),
        )
        .status
        .success();
    if ok {
        ns.cmd("ip link del wgprobe");
    }
    ok
}

/// `wg genkey` and its public key.
fn keypair(ns: &Netns) -> (String, String) {
    let private = ns.must(&["wg", "genkey"]).trim().to_string();
    let public = ns
        .must(&["sh", "-c", &format!("echo {private} | wg pubkey")])
        .trim()
        .to_string();
    (private, public)
}

#[test]
fn hearth_builds_a_wireguard_tunnel_that_carries_the_vpn_device() {
    let name = "hearth_builds_a_wireguard_tunnel_that_carries_the_vpn_device";
    if !can_run(name, TOOLS) {
        return;
    }
    let bed = Testbed::new("wg", 1);
    if !has_wireguard(&bed.router) {
        assert!(
            !in_vm_lane(),
            "{name}: the VM lane's kernel has no WireGuard"
        );
        eprintln!("SKIPPED {name}: this kernel has no WireGuard (the VM lane runs it: scripts/vm-test.sh)");
        return;
    }
    bed.wait_connected();
    // The server end, reached over its own veth.
    let srv = Netns::create("wg", "srv");
    must(&[
        "ip",
        "link",
        "add",
        "wgup0",
        "netns",
        &bed.router.name,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        &srv.name,
    ]);
    bed.router.cmd("ip addr add 10.252.0.1/30 dev wgup0");
    bed.router.cmd("ip link set wgup0 up");
    srv.cmd("ip addr add 10.252.0.2/30 dev eth0");
    srv.cmd("ip link set eth0 up");
    srv.cmd("ip link set lo up");
    srv.cmd(&format!("ip addr add {TARGET}/32 dev lo"));
    let (srv_priv, srv_pub) = keypair(&srv);
    let (rtr_priv, rtr_pub) = keypair(&srv);
    let srv_key = bed.dir.path().join("srv.key");
    std::fs::write(&srv_key, format!("{srv_priv}\n")).unwrap();
    let rtr_key = bed.dir.path().join("wg1.key");
    std::fs::write(&rtr_key, format!("{rtr_priv}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rtr_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    srv.cmd("ip link add wg0 type wireguard");
    srv.must(&[
        "wg",
        "set",
        "wg0",
        "private-key",
        srv_key.to_str().unwrap(),
        "listen-port",
        "51820",
        "peer",
        &rtr_pub,
        "allowed-ips",
        "10.8.0.2/32,10.250.2.0/24",
    ]);
    srv.cmd("ip addr add 10.8.0.1/24 dev wg0");
    srv.cmd("ip link set wg0 up");
    srv.cmd("ip route add 10.250.2.0/24 dev wg0");

    let cfg = bed.config(
        "a",
        &format!(
            "config vpn 'tunnel'\n\toption interface 'wg1'\n\toption table '100'\n\toption fwmark '0x100'\n\
             \toption rule_priority '10000'\n\toption kill_switch '1'\n\toption manage_link '1'\n\
             \toption private_key_file '{}'\n\toption listen_port '51821'\n\tlist address '10.8.0.2/24'\n\n\
             config wireguard_peer\n\toption vpn 'tunnel'\n\toption public_key '{srv_pub}'\n\
             \toption endpoint '10.252.0.2:51820'\n\tlist allowed_ips '0.0.0.0/0'\n\
             \toption persistent_keepalive '25'\n\n\
             config device 'kid'\n\toption mac '02:00:00:00:fc:10'\n\tlist ip '{}'\n\toption vpn 'tunnel'\n",
            rtr_key.display(),
            device_addr(0)
        ),
    );
    let r = bed.hearth_apply(&cfg, &["--json"]).ok_json();
    let actions: Vec<String> = r["vpn"]["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    for want in [
        "create wireguard link wg1",
        "configure wireguard wg1: port 51821, 1 peer(s)",
        "add address 10.8.0.2/24 to wg1",
        "set wg1 up",
    ] {
        assert!(
            actions.iter().any(|a| a == want),
            "no {want:?} in {actions:?}"
        );
    }
    // Independent view: wg and ip.
    let show = bed.router.must(&["wg", "show", "wg1"]);
    assert!(
        show.contains(&srv_pub) && show.contains("listening port: 51821"),
        "{show}"
    );
    assert!(
        !show.contains(&rtr_priv),
        "wg show never prints the private key"
    );

    // The device's traffic crosses the tunnel (the target exists only behind it).
    let ping = bed.devices[0].output(
        &["ping", "-c", "3", "-i", "0.3", "-W", "2", TARGET],
        std::time::Duration::from_secs(30),
    );
    assert!(
        ping.status.success(),
        "{}",
        String::from_utf8_lossy(&ping.stdout)
    );
    let transfer = bed.router.must(&["wg", "show", "wg1", "transfer"]);
    let counts: Vec<u64> = transfer
        .split_whitespace()
        .skip(1)
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(
        counts.len() == 2 && counts.iter().all(|&n| n > 0),
        "transfer: {transfer}"
    );
    let handshake = bed.router.must(&["wg", "show", "wg1", "latest-handshakes"]);
    assert!(
        handshake
            .split_whitespace()
            .nth(1)
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(0)
            > 0,
        "{handshake}"
    );

    // A second apply changes nothing, and reports the peer's counters.
    let again = bed.hearth_apply(&cfg, &["--json"]).ok_json();
    assert_eq!(again["vpn"]["changes"], 0, "{again}");
    let peer: &Value = &again["vpn"]["wireguard"][0]["peers"][0];
    assert_eq!(peer["public_key"], srv_pub.as_str(), "{again}");
    assert!(peer["rx_bytes"].as_u64().unwrap_or(0) > 0, "{again}");
    assert!(peer["last_handshake"].as_i64().unwrap_or(0) > 0, "{again}");

    // The kill switch with a real tunnel: the link goes down, the device is cut off.
    bed.router.cmd("ip link set wg1 down");
    let cut = bed.devices[0].output(
        &["ping", "-c", "2", "-i", "0.3", "-W", "1", TARGET],
        std::time::Duration::from_secs(30),
    );
    assert!(!cut.status.success());
    // Applying again brings the link up and its routes back.
    let back = bed.hearth_apply(&cfg, &["--json"]).ok_json();
    assert!(back["vpn"]["changes"].as_u64().unwrap_or(0) >= 1, "{back}");
    let ping = bed.devices[0].output(
        &["ping", "-c", "2", "-i", "0.3", "-W", "2", TARGET],
        std::time::Duration::from_secs(30),
    );
    assert!(ping.status.success());
}
