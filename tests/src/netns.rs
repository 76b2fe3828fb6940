//! Kernel testbeds for the shaping tests: network namespaces the test creates (and removes on
//! drop, even when it panics), a router between an "internet" and a LAN of devices, and a
//! bounded way to run `ip`, `tc`, `hearth` and `iperf3` inside them.
//!
//! Topology of a [`Testbed`] (every address lives inside the test's own namespaces):
//!
//! ```text
//!  internet ns          router ns (forwarding on)                device ns i
//!  up0 10.250.1.2 ----- wan0 10.250.1.1
//!                       br0  10.250.2.1 --- port p<i> (veth) ----- eth0 10.250.2.(10+i)
//! ```
//!
//! `hearth apply` runs inside the router namespace (`ip netns exec ROUTER hearth ...`); what it
//! did is read back with iproute2 by [`tc::Observed`], an observer independent of hearth's own
//! netlink code. Names are unique per process and test (`hsh-<pid>-<tag>-<role>`); links are
//! created directly inside the namespaces, so their short names (`wan0`, `br0`) cannot collide
//! with another test's. Namespaces left behind by a killed run are swept on the next one.

pub mod tc;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// Bound for one `ip`/`tc` invocation (generous: the VM lane emulates its CPU).
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound for one `hearth apply`.
pub const HEARTH_TIMEOUT: Duration = Duration::from_secs(90);
/// Prefix of every namespace this module creates.
const PREFIX: &str = "hsh";

/// WAN subnet: router .1, internet .2.
pub const WAN_ROUTER: &str = "10.250.1.1";
pub const INTERNET_ADDR: &str = "10.250.1.2";
/// LAN subnet: router .1, device i at .(10+i).
pub const LAN_ROUTER: &str = "10.250.2.1";

/// Device `i`'s LAN address.
pub fn device_addr(i: usize) -> String {
    format!("10.250.2.{}", 10 + i)
}

/// True in the full-kernel VM lane (`scripts/vm-test.sh` sets it): there a missing tool or
/// kernel feature is a failure, not a skip.
pub fn in_vm_lane() -> bool {
    std::env::var_os("HEARTH_VM_LANE").is_some_and(|v| v == "1")
}

/// Whether the test runs as root (effective uid 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// `name` as found on `$PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Whether `test` can run here: root, and every tool of `tools` on `$PATH` (`ip`/`tc` must be
/// iproute2's, not busybox's applets). Prints `SKIPPED <test>: <why>` and returns false when not;
/// in the VM lane a missing tool panics instead (the lane must never go green on a skip).
pub fn can_run(test: &str, tools: &[&str]) -> bool {
    if !is_root() {
        eprintln!(
            "SKIPPED {test}: needs root (creates network namespaces and changes traffic control)"
        );
        return false;
    }
    for tool in tools {
        let why = match which(tool) {
            None => Some(format!("{tool} is not installed")),
            Some(p) if matches!(*tool, "ip" | "tc") => {
                let out = run_bounded(Command::new(&p).arg("-V"), TOOL_TIMEOUT);
                let v = String::from_utf8_lossy(&out.stdout).into_owned();
                (!v.contains("iproute2")).then(|| {
                    format!(
                        "{} is not iproute2's (`{tool} -V` says {:?}); in the VM lane pass \
                         --host-bin ip --host-bin tc",
                        p.display(),
                        v.trim()
                    )
                })
            }
            Some(_) => None,
        };
        if let Some(why) = why {
            assert!(!in_vm_lane(), "{test}: {why}");
            eprintln!("SKIPPED {test}: {why}");
            return false;
        }
    }
    sweep_stale();
    true
}

/// Runs `cmd` to completion with stdin closed, killing it after `limit` (then panics).
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let (out, err) = drain(&mut child);
    let status = wait_bounded(&mut child, limit)
        .unwrap_or_else(|| panic!("{cmd:?} did not finish within {limit:?}; killed"));
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Reader threads for a child's piped stdout and stderr.
fn drain(child: &mut Child) -> (thread::JoinHandle<Vec<u8>>, thread::JoinHandle<Vec<u8>>) {
    fn reader(p: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
        thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut p) = p {
                let _ = p.read_to_end(&mut v);
            }
            v
        })
    }
    (reader(child.stdout.take()), reader(child.stderr.take()))
}

/// Waits up to `limit`; on timeout kills the child and returns `None`.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `args` (program first) and panics with its stderr unless it succeeds.
pub fn must(args: &[&str]) -> Output {
    let out = run_bounded(Command::new(args[0]).args(&args[1..]), TOOL_TIMEOUT);
    assert!(
        out.status.success(),
        "`{}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    out
}

/// Deletes namespaces of this module whose creating process is gone (a run killed before its
/// drops ran). Once per process; bounded by the number of namespaces.
fn sweep_stale() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let Ok(dir) = std::fs::read_dir("/run/netns") else {
            return;
        };
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix(PREFIX)
                .and_then(|r| r.strip_prefix('-'))
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    eprintln!("removing stale test namespace {name}");
                    let _ = run_bounded(
                        Command::new("ip").args(["netns", "del", &name]),
                        TOOL_TIMEOUT,
                    );
                }
            }
        }
    });
}

// === impl Netns ===

/// A network namespace, deleted on drop (its links, IFBs and qdiscs go with it).
#[derive(Debug)]
pub struct Netns {
    /// The name under /run/netns.
    pub name: String,
}

impl Netns {
    /// `hsh-<pid>-<tag>-<role>`, with loopback up and IPv6 off: the tests send every packet
    /// themselves (IPv6 autoconfiguration would put flows into the leaf qdiscs at random).
    pub fn create(tag: &str, role: &str) -> Netns {
        let name = format!("{PREFIX}-{}-{tag}-{role}", std::process::id());
        must(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.must(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ]);
        ns.must(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// `args` run inside the namespace (`ip netns exec NAME ...`), bounded by `limit`.
    pub fn output(&self, args: &[&str], limit: Duration) -> Output {
        run_bounded(
            Command::new("ip")
                .args(["netns", "exec", &self.name])
                .args(args),
            limit,
        )
    }

    /// `args` inside the namespace; panics with stderr unless it succeeds; returns stdout.
    pub fn must(&self, args: &[&str]) -> String {
        let out = self.output(args, TOOL_TIMEOUT);
        assert!(
            out.status.success(),
            "`{}` in {} failed ({}): {}",
            args.join(" "),
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// [`Netns::must`] of a command line split at whitespace (no quoting):
    /// `ns.cmd("tc qdisc add dev wan0 ingress")`.
    pub fn cmd(&self, line: &str) -> String {
        self.must(&line.split_whitespace().collect::<Vec<_>>())
    }

    /// A long-running process inside the namespace, killed on drop of the guard.
    pub fn spawn(&self, args: &[&str]) -> Background {
        self.spawn_to(args, Stdio::null())
    }

    /// Like [`Netns::spawn`], with stdout going to `out` (e.g. a file).
    pub fn spawn_to(&self, args: &[&str], out: impl Into<Stdio>) -> Background {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {args:?} in {}: {e}", self.name));
        Background(child)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run_bounded(
            Command::new("ip").args(["netns", "del", &self.name]),
            TOOL_TIMEOUT,
        );
    }
}

/// A process started with [`Netns::spawn`]; killed (and reaped) on drop.
#[derive(Debug)]
pub struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// === impl Testbed ===

/// The hearth binary the kernel tests run: `$HEARTH_BIN`, else in the VM lane the static musl
/// release build `scripts/vm-test.sh --all` made (the guest has no cargo), else the debug build
/// of [`crate::hearth_bin`].
pub fn hearth() -> PathBuf {
    if let Some(p) = std::env::var_os("HEARTH_BIN") {
        return PathBuf::from(p);
    }
    if in_vm_lane() {
        return crate::workspace_root().join("target/x86_64-unknown-linux-musl/release/hearth");
    }
    crate::hearth_bin().to_path_buf()
}

/// What `hearth apply` printed and returned.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout as JSON (`--json`); panics with both streams when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "hearth printed no JSON ({e}), exit {}:\nstdout: {}\nstderr: {}",
                self.status, self.stdout, self.stderr
            )
        })
    }

    /// Panics unless the run exited 0; returns its JSON.
    pub fn ok_json(&self) -> serde_json::Value {
        assert!(
            self.status.success(),
            "hearth failed ({}):\nstdout: {}\nstderr: {}",
            self.status,
            self.stdout,
            self.stderr
        );
        self.json()
    }
}

/// Router + internet + devices, each in its own namespace, and a directory for configs.
/// Field order = drop order: devices and the internet first, the router last.
#[derive(Debug)]
pub struct Testbed {
    /// Device namespaces, `eth0` at [`device_addr`]`(i)`, default route via the router.
    pub devices: Vec<Netns>,
    /// The "internet": `up0` at [`INTERNET_ADDR`], route to the LAN via the router.
    pub internet: Netns,
    /// The router: `wan0` (to the internet), bridge `br0` with one veth port per device.
    pub router: Netns,
    /// Config files.
    pub dir: tempfile::TempDir,
}

impl Testbed {
    /// Builds the topology of the module header with `n_devices` devices. Links have multicast
    /// off, the bridge no snooping (it would report 224.0.0.106) and namespaces IPv6 off: no
    /// packet flows that a test did not send.
    pub fn new(tag: &str, n_devices: usize) -> Testbed {
        let mut bed = Testbed {
            devices: Vec::new(),
            internet: Netns::create(tag, "inet"),
            router: Netns::create(tag, "rtr"),
            dir: tempfile::tempdir().expect("temporary directory"),
        };
        let (r, i) = (bed.router.name.clone(), bed.internet.name.clone());
        must(&[
            "ip", "link", "add", "wan0", "netns", &r, "type", "veth", "peer", "name", "up0",
            "netns", &i,
        ]);
        bed.router.must(&[
            "ip",
            "addr",
            "add",
            &format!("{WAN_ROUTER}/24"),
            "dev",
            "wan0",
        ]);
        bed.router
            .must(&["ip", "link", "set", "wan0", "multicast", "off", "up"]);
        bed.internet.must(&[
            "ip",
            "addr",
            "add",
            &format!("{INTERNET_ADDR}/24"),
            "dev",
            "up0",
        ]);
        bed.internet
            .must(&["ip", "link", "set", "up0", "multicast", "off", "up"]);
        bed.internet
            .must(&["ip", "route", "add", "10.250.2.0/24", "via", WAN_ROUTER]);
        bed.router.must(&[
            "ip",
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        bed.router.must(&[
            "ip",
            "addr",
            "add",
            &format!("{LAN_ROUTER}/24"),
            "dev",
            "br0",
        ]);
        bed.router
            .must(&["ip", "link", "set", "br0", "multicast", "off", "up"]);
        bed.router.must(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        for n in 0..n_devices {
            let dev = Netns::create(tag, &format!("dev{n}"));
            let port = format!("p{n}");
            must(&[
                "ip", "link", "add", &port, "netns", &r, "type", "veth", "peer", "name", "eth0",
                "netns", &dev.name,
            ]);
            bed.router.must(&[
                "ip",
                "link",
                "set",
                &port,
                "master",
                "br0",
                "multicast",
                "off",
                "up",
            ]);
            dev.must(&[
                "ip",
                "addr",
                "add",
                &format!("{}/24", device_addr(n)),
                "dev",
                "eth0",
            ]);
            dev.must(&["ip", "link", "set", "eth0", "multicast", "off", "up"]);
            dev.must(&["ip", "route", "add", "default", "via", LAN_ROUTER]);
            bed.devices.push(dev);
        }
        bed
    }

    /// Waits (bounded) until every device reaches the internet through the router.
    pub fn wait_connected(&self) {
        for d in &self.devices {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let out = d.output(
                    &["ping", "-c", "1", "-W", "1", INTERNET_ADDR],
                    Duration::from_secs(5),
                );
                if out.status.success() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{} cannot reach {INTERNET_ADDR} through the router: {}",
                    d.name,
                    String::from_utf8_lossy(&out.stdout)
                );
                thread::sleep(Duration::from_millis(200));
            }
        }
    }

    /// Writes `text` as a config file named `name` in the testbed's directory.
    /// Without a `config agent` section of its own, the config keeps hearth's runtime files
    /// (control socket, remembered capability probe) in the testbed's directory.
    pub fn config(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        let text = if text.contains("config agent") {
            text.to_string()
        } else {
            format!(
                "config agent 'main'\n\toption runtime_dir '{}'\n\toption state_dir '{}'\n\n{text}",
                self.dir.path().join("run").display(),
                self.dir.path().join("state").display()
            )
        };
        std::fs::write(&p, text).expect("write config");
        p
    }

    /// `hearth apply --config CFG ARGS` inside the router namespace. Checks that hearth's
    /// capability probe left no IFB behind.
    pub fn hearth_apply(&self, cfg: &Path, args: &[&str]) -> Run {
        let bin = hearth();
        let cfg = cfg.to_string_lossy();
        let mut all = vec![bin.to_str().expect("UTF-8 path"), "apply", "--config", &cfg];
        all.extend_from_slice(args);
        let out = self.router.output(&all, HEARTH_TIMEOUT);
        let run = Run {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let links = self.router.must(&["ip", "-br", "link", "show"]);
        assert!(
            !links.contains("hearthprobe0"),
            "hearth's probe IFB was left behind:\n{links}\nhearth stderr: {}",
            run.stderr
        );
        run
    }

    /// What iproute2 shows in the router namespace now.
    pub fn observe(&self) -> tc::Observed {
        tc::Observed::of(&self.router)
    }
}

// === the config ===

/// The config the shaping tests apply, by its knobs: a shaper on `wan0` with LAN side `br0`,
/// group "family" with a capped device (device 0) and an uncapped one (device 1), and a
/// balancer, so that an LLM class is planned where the kernel has cls_fw.
#[derive(Debug, Clone)]
pub struct ShapingConfig {
    /// WAN upload and download, kbit/s.
    pub upload: u64,
    pub download: u64,
    /// `leaf` option of the shaper.
    pub leaf: &'static str,
    pub overhead: i32,
    /// The capped device's own caps, kbit/s.
    pub capped_down: u64,
    pub capped_up: u64,
    /// Also give the capped device an IPv6 address (an IPv6 filter at prio 2).
    pub capped_ipv6: bool,
}

impl Default for ShapingConfig {
    fn default() -> ShapingConfig {
        ShapingConfig {
            upload: 10_000,
            download: 20_000,
            leaf: "auto",
            overhead: 0,
            capped_down: 4_000,
            capped_up: 4_000,
            capped_ipv6: false,
        }
    }
}

impl ShapingConfig {
    /// The UCI text.
    pub fn text(&self) -> String {
        let v6 = if self.capped_ipv6 {
            "\tlist ip 'fd00:250:2::10'\n"
        } else {
            ""
        };
        format!(
            "config shaper 'wan'\n\toption device 'wan0'\n\toption lan_device 'br0'\n\
             \toption upload '{up}'\n\toption download '{down}'\n\toption leaf '{leaf}'\n\
             \toption overhead '{oh}'\n\toption llm_share '25'\n\n\
             config group 'family'\n\n\
             config device 'capped'\n\toption mac '02:00:00:00:fa:10'\n\tlist ip '{a0}'\n{v6}\
             \toption group 'family'\n\toption rate_down '{cd}'\n\toption rate_up '{cu}'\n\n\
             config device 'free'\n\toption mac '02:00:00:00:fa:11'\n\tlist ip '{a1}'\n\
             \toption group 'family'\n\n\
             config balancer 'llm'\n\tlist listen '10.250.2.1:8080'\n\n\
             config endpoint 'box'\n\toption url 'http://10.250.1.2:8000/v1'\n\tlist model 'm'\n",
            up = self.upload,
            down = self.download,
            leaf = self.leaf,
            oh = self.overhead,
            a0 = device_addr(0),
            a1 = device_addr(1),
            cd = self.capped_down,
            cu = self.capped_up,
        )
    }
}

// === tc monitor ===

/// `tc monitor` in a namespace, logging every traffic control event to a file: proves what a
/// process did in between two observations (e.g. changes an apply made before it failed).
#[derive(Debug)]
pub struct TcMonitor {
    log: PathBuf,
    _proc: Background,
}

impl TcMonitor {
    /// Starts the monitor and returns once it reports events (bounded): a throwaway pfifo is
    /// added to and removed from `lo` until the monitor has printed it.
    pub fn start(ns: &Netns, log: PathBuf) -> TcMonitor {
        let file = std::fs::File::create(&log).expect("create monitor log");
        let proc = ns.spawn_to(&["tc", "monitor"], file);
        let mon = TcMonitor { log, _proc: proc };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !mon.text().contains("dev lo") {
            assert!(
                Instant::now() < deadline,
                "tc monitor in {} printed nothing within 10 s",
                ns.name
            );
            ns.must(&[
                "tc", "qdisc", "replace", "dev", "lo", "root", "handle", "99:", "pfifo",
            ]);
            ns.must(&["tc", "qdisc", "del", "dev", "lo", "root"]);
            thread::sleep(Duration::from_millis(100));
        }
        mon
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

// === iperf3 ===

/// An `iperf3 -s` inside a namespace, killed on drop.
#[derive(Debug)]
pub struct IperfServer {
    /// Where clients connect.
    pub addr: String,
    pub port: u16,
    _proc: Background,
}

impl IperfServer {
    pub fn start(ns: &Netns, addr: &str, port: u16) -> IperfServer {
        let p = port.to_string();
        let proc = ns.spawn(&["iperf3", "-s", "-B", addr, "-p", &p]);
        // Listening before any client connects (bounded).
        let deadline = Instant::now() + Duration::from_secs(10);
        let filter = format!("sport = :{port}");
        while !ns
            .must(&["ss", "-Htln", &filter])
            .contains(&format!(":{port}"))
        {
            assert!(
                Instant::now() < deadline,
                "iperf3 -s did not listen on {addr}:{port} in {} within 10 s",
                ns.name
            );
            thread::sleep(Duration::from_millis(50));
        }
        IperfServer {
            addr: addr.to_string(),
            port,
            _proc: proc,
        }
    }
}

/// A running `iperf3 -c` (TCP, JSON output).
#[derive(Debug)]
pub struct IperfClient {
    child: Child,
    out: Option<thread::JoinHandle<Vec<u8>>>,
    err: Option<thread::JoinHandle<Vec<u8>>>,
    limit: Duration,
    what: String,
}

impl IperfClient {
    /// Starts a `secs`-second test from `ns` to `server` (`reverse`: the server sends, i.e. the
    /// client downloads). The first second (slow start, queue fill) is left out of the result.
    pub fn start(ns: &Netns, server: &IperfServer, secs: u32, reverse: bool) -> IperfClient {
        let (p, t) = (server.port.to_string(), secs.to_string());
        let mut args = vec![
            "ip",
            "netns",
            "exec",
            &ns.name,
            "iperf3",
            "-c",
            &server.addr,
            "-p",
            &p,
            "-t",
            &t,
            "-O",
            "1",
            "-J",
            "--connect-timeout",
            "3000",
        ];
        if reverse {
            args.push("-R");
        }
        let mut child = Command::new(args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start iperf3 client");
        let (out, err) = drain(&mut child);
        IperfClient {
            child,
            out: Some(out),
            err: Some(err),
            limit: Duration::from_secs(u64::from(secs) + 20),
            what: args[3..].join(" "),
        }
    }

    /// The receiver's goodput in Mbit/s, or why there is none.
    pub fn finish(mut self) -> Result<f64, String> {
        let status = wait_bounded(&mut self.child, self.limit);
        let out = self.out.take().map(|h| h.join().unwrap_or_default());
        let err = self.err.take().map(|h| h.join().unwrap_or_default());
        let out = String::from_utf8_lossy(&out.unwrap_or_default()).into_owned();
        let err = String::from_utf8_lossy(&err.unwrap_or_default()).into_owned();
        let Some(status) = status else {
            return Err(format!(
                "`{}` did not finish in {:?}",
                self.what, self.limit
            ));
        };
        let v: serde_json::Value = serde_json::from_str(&out)
            .map_err(|e| format!("`{}` ({status}) printed no JSON ({e}): {err}", self.what))?;
        if let Some(e) = v["error"].as_str() {
            return Err(format!("`{}`: {e}", self.what));
        }
        v["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .map(|b| b / 1e6)
            .ok_or_else(|| format!("`{}`: no end.sum_received in {out}", self.what))
    }
}

impl Drop for IperfClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
