//! Keyless identity from the network: a device in its own namespace, known to hearth only by
//! its MAC, sends a request; hearth finds its MAC in the kernel's neighbour table, its device
//! section and group, and routes by that group. Needs root (it builds a veth + netns testbed
//! and removes it); skips loudly otherwise.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hearth_e2e::fake_upstream::FakeUpstream;
use hearth_e2e::hearth_bin;
use hearth_e2e::netns::is_root;

const NS_MAC: &str = "02:00:5e:78:00:02";
const HOST_IP: &str = "10.231.78.1";

fn run(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// veth pair: host end with HOST_IP, far end in a fresh namespace with NS_MAC.
struct Testbed {
    ns: String,
    host_if: String,
}

impl Testbed {
    fn create() -> Testbed {
        let pid = std::process::id();
        let bed = Testbed {
            ns: format!("hearth-id-{pid}"),
            host_if: format!("hid{}", pid % 100_000),
        };
        let ns = bed.ns.as_str();
        let hif = bed.host_if.as_str();
        let host_cidr = format!("{HOST_IP}/24");
        assert!(run(&["ip", "netns", "add", ns]), "ip netns add");
        for step in [
            vec![
                "ip", "link", "add", hif, "type", "veth", "peer", "name", "idpeer", "netns", ns,
            ],
            vec!["ip", "addr", "add", &host_cidr, "dev", hif],
            vec!["ip", "link", "set", hif, "up"],
            vec!["ip", "-n", ns, "link", "set", "idpeer", "address", NS_MAC],
            vec![
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                "10.231.78.2/24",
                "dev",
                "idpeer",
            ],
            vec!["ip", "-n", ns, "link", "set", "idpeer", "up"],
            vec!["ip", "-n", ns, "link", "set", "lo", "up"],
        ] {
            assert!(run(&step), "testbed step failed: {step:?}");
        }
        bed
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

struct Daemon(Child, mpsc::Receiver<String>);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Daemon {
    fn expect(&self, needle: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match self.1.recv_timeout(Duration::from_secs(30)) {
                Ok(l) if l.contains(needle) => return l,
                Ok(l) => seen.push(l),
                Err(_) => panic!("no log line with {needle:?}; saw:\n{}", seen.join("\n")),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_is_known_by_its_mac_and_routed_by_its_group() {
    if !is_root() {
        eprintln!("SKIPPED a_device_is_known_by_its_mac_and_routed_by_its_group: needs root for a network namespace");
        return;
    }
    for tool in ["ip", "curl"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .status()
                .unwrap()
                .success(),
            "{tool} is needed (scripts/test.sh installs it)"
        );
    }
    let bed = Testbed::create();
    let up = FakeUpstream::start("lan-box").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hearth");
    std::fs::write(
        &cfg,
        format!(
            "config agent 'main'\n\toption runtime_dir '{run}'\n\
             config group 'kids'\n\
             config device 'kid_tablet'\n\toption mac '{NS_MAC}'\n\toption group 'kids'\n\
             config balancer 'llm'\n\tlist listen '{HOST_IP}:{port}'\n\
             config endpoint 'box'\n\toption url '{url}'\n\tlist model 'general'\n\tlist model 'kid-safe'\n\toption health_check '0'\n\
             config route 'kids_only'\n\toption match_group 'kids'\n\tlist endpoint 'box'\n\toption model 'kid-safe'\n",
            run = dir.path().join("run").display(),
            url = up.base_url(),
        ),
    )
    .unwrap();
    let mut child = Command::new(hearth_bin())
        .args(["run", "--config"])
        .arg(&cfg)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let d = Daemon(child, rx);
    d.expect("ready");

    // The device asks for "general"; it is a kid, so the group route rewrites the model.
    let url = format!("http://{HOST_IP}:{port}/v1/chat/completions");
    let out = tokio::task::spawn_blocking({
        let ns = bed.ns.clone();
        move || {
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &ns,
                    "curl",
                    "-sS",
                    "--max-time",
                    "20",
                    "-H",
                    "content-type: application/json",
                    "-d",
                ])
                .arg(r#"{"model":"general","messages":[{"role":"user","content":"hi"}]}"#)
                .arg(&url)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON answer");
    assert!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or("")
            .contains("lan-box"),
        "{body}"
    );
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].model.as_deref(),
        Some("kid-safe"),
        "routed by the kids group"
    );
    let line = d.expect("llm ok");
    assert!(line.contains("client=10.231.78.2"), "{line}");
    assert!(line.contains("device=kid_tablet group=kids"), "{line}");
    drop(bed);
}
