//! `hearth run` keeps shaping in force when a shaped device disappears and comes back (a PPPoE
//! reconnect recreates `pppoe-wan`): the link watcher re-applies the plan. Needs root (a
//! namespace created and removed here); skips loudly otherwise.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hearth_e2e::hearth_bin;

fn run(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

struct Cleanup(String, Option<Child>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(c) = &mut self.1 {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn root_qdisc(ns: &str) -> String {
    let out = Command::new("ip")
        .args([
            "netns", "exec", ns, "tc", "-j", "qdisc", "show", "dev", "wan0", "root",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v[0]["kind"].as_str().unwrap_or("").to_string()
}

#[test]
fn a_shaped_device_that_comes_back_is_shaped_again() {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if !root {
        eprintln!("SKIPPED a_shaped_device_that_comes_back_is_shaped_again: needs root for a network namespace");
        return;
    }
    let ns = format!("hearth-rl-{}", std::process::id());
    assert!(run(&["ip", "netns", "add", &ns]));
    let mut guard = Cleanup(ns.clone(), None);
    let veth = |ns: &str| {
        run(&[
            "ip", "-n", ns, "link", "add", "wan0", "type", "veth", "peer", "name", "wanpeer",
        ]) && run(&["ip", "-n", ns, "link", "set", "wan0", "up"])
            && run(&["ip", "-n", ns, "link", "set", "wanpeer", "up"])
    };
    assert!(veth(&ns));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hearth");
    std::fs::write(
        &cfg,
        format!(
            "config agent 'main'\n\toption runtime_dir '{}'\nconfig shaper 'wan'\n\toption device 'wan0'\n\toption upload '10000'\n\toption download '20000'\n",
            dir.path().join("run").display()
        ),
    )
    .unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(hearth_bin())
        .args(["run", "--config"])
        .arg(&cfg)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    guard.1 = Some(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut expect = |needle: &str| loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) if l.contains(needle) => return l,
            Ok(l) => seen.push(l),
            Err(_) => panic!("no line with {needle:?}; saw:\n{}", seen.join("\n")),
        }
    };
    expect("ready");
    assert_eq!(root_qdisc(&ns), "htb");

    // The device goes away (its shaping with it) and comes back with a new ifindex.
    assert!(run(&["ip", "-n", &ns, "link", "del", "wan0"]));
    assert!(veth(&ns));
    let line = expect("re-applied after wan0 came back");
    assert!(!line.contains("(0 changes)"), "{line}");
    assert_eq!(root_qdisc(&ns), "htb", "the tree is back on the new wan0");

    // SIGTERM: the watcher stops (no re-apply can be cut short by the exit), the agent exits
    // cleanly, and the shaping stays in force for the restart.
    let pid = guard.1.as_ref().unwrap().id();
    assert!(run(&["kill", "-TERM", &pid.to_string()]));
    expect("shutdown complete");
    let mut child = guard.1.take().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "hearth run exited with {status}");
    assert_eq!(
        root_qdisc(&ns),
        "htb",
        "shaping stays in force after a stop"
    );
}
