//! Per-device counters come from the kernel's class statistics: traffic to a device lands in its
//! own class, traffic from it in its group's. Needs root (a router namespace and a device
//! namespace, created and removed here); skips loudly otherwise.

use std::process::Command;

use hearth_e2e::hearth_bin;

fn run(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn counters(ns: &str, cfg: &std::path::Path) -> Vec<serde_json::Value> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(hearth_bin())
        .args(["apply", "--counters", "--config"])
        .arg(cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn bytes(list: &[serde_json::Value], device: &str, class: &str) -> u64 {
    list.iter()
        .find(|c| c["device"] == device && c["class"] == class)
        .unwrap_or_else(|| panic!("no {class} on {device}: {list:?}"))["bytes"]
        .as_u64()
        .unwrap()
}

#[test]
fn traffic_to_and_from_a_device_is_counted_in_its_classes() {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if !root {
        eprintln!("SKIPPED traffic_to_and_from_a_device_is_counted_in_its_classes: needs root for network namespaces");
        return;
    }
    let pid = std::process::id();
    let (router, device) = (format!("hearth-cr-{pid}"), format!("hearth-cd-{pid}"));
    assert!(run(&["ip", "netns", "add", &router]));
    let _guard = Namespaces(vec![router.clone(), device.clone()]);
    assert!(run(&["ip", "netns", "add", &device]));
    for step in [
        vec![
            "ip", "-n", &router, "link", "add", "lan0", "type", "veth", "peer", "name", "d0",
            "netns", &device,
        ],
        vec![
            "ip",
            "-n",
            &router,
            "addr",
            "add",
            "10.99.0.1/24",
            "dev",
            "lan0",
        ],
        vec!["ip", "-n", &router, "link", "set", "lan0", "up"],
        vec![
            "ip",
            "-n",
            &device,
            "addr",
            "add",
            "10.99.0.11/24",
            "dev",
            "d0",
        ],
        vec!["ip", "-n", &device, "link", "set", "d0", "up"],
    ] {
        assert!(run(&step), "{step:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hearth");
    std::fs::write(
        &cfg,
        "config shaper 'wan'\n\toption device 'wan0'\n\toption lan_device 'lan0'\n\
         config group 'kids'\n\
         config device 'tab'\n\toption mac '02:00:00:00:00:11'\n\tlist ip '10.99.0.11'\n\toption group 'kids'\n\toption rate_down '2000'\n",
    )
    .unwrap();
    let apply = Command::new("ip")
        .args(["netns", "exec", &router])
        .arg(hearth_bin())
        .args(["apply", "--json", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        apply.status.success(),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );
    let before = counters(&router, &cfg);
    assert_eq!(bytes(&before, "lan0", "Device(\"tab\")"), 0);
    // 5 pings of 1000 bytes of payload (1028 B IP packets) each way.
    assert!(run(&[
        "ip",
        "netns",
        "exec",
        &router,
        "ping",
        "-q",
        "-c",
        "5",
        "-i",
        "0.2",
        "-s",
        "1000",
        "-W",
        "5",
        "10.99.0.11"
    ]));
    let after = counters(&router, &cfg);
    let down = bytes(&after, "lan0", "Device(\"tab\")");
    let up = bytes(&after, "ifb4lan0", "Group(\"kids\")");
    // HTB counts the whole frame: 5 x (1028 IP + 14 Ethernet) = 5210 each way.
    assert_eq!(down, 5 * 1042, "downloads to tab land in its own class");
    assert_eq!(
        up,
        5 * 1042,
        "uploads from tab land in its group's class (no own upload cap)"
    );
    assert!(bytes(&after, "lan0", "Root") >= down);
}
