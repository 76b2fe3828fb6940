//! `hearth run` as procd runs it: start, SIGHUP with a bad file (kept out), SIGHUP with a good
//! file (adopted), SIGTERM (clean exit 0). Observed through the daemon's stderr, as logd sees it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

/// Upper bound on waiting for one log line; a hang fails the test instead of blocking CI.
/// (Not a performance assertion: the daemon answers in milliseconds.)
const LINE_WAIT: Duration = Duration::from_secs(30);

struct Daemon {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    fn start(config: &Path) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
            .args(["run", "--config"])
            .arg(config)
            .env_remove("HEARTH_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hearth run");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Daemon {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `needle`; panics with everything seen so far otherwise.
    fn expect(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(LINE_WAIT) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line containing {needle:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a config whose runtime_dir (control socket) is beside it, so tests never share
/// the system's /var/run/hearth.
fn write(path: &Path, text: &str) {
    let run = path.with_file_name("run");
    let text = format!(
        "config agent 'main'\n\toption runtime_dir '{}'\n{text}",
        run.display()
    );
    hearth::uci::write_atomic(path, text.as_bytes()).unwrap();
}

fn hearth(args: &[&str], cfg: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .arg("--config")
        .arg(cfg)
        .env_remove("HEARTH_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn reload_and_shutdown_follow_signals() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hearth");
    write(&cfg, "\toption log_level 'info'\n");

    let mut d = Daemon::start(&cfg);
    d.expect("config generation 1");
    d.expect("ready");

    // `hearth status` asks the running agent over its control socket.
    let out = hearth(&["status"], &cfg);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("running (pid"), "{text}");
    assert!(text.contains("(generation 1)"), "{text}");
    assert!(text.contains("LLM balancer off"), "{text}");
    assert!(text.contains("shaping off"), "{text}");
    let out = hearth(&["status", "--json"], &cfg);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pid"], d.child.id());
    let out = hearth(&["status", "--metrics"], &cfg);
    assert!(String::from_utf8_lossy(&out.stdout).contains("\nhearth_up 1\n"));

    // A typo in the new file: reported with its line, the running config stays.
    write(&cfg, "\toption log_levle 'debug'\n");
    d.signal("HUP");
    let problem = d.expect("option 'log_levle'");
    assert!(problem.contains(":3: section 'main' (agent)"), "{problem}");
    assert!(problem.contains("did you mean 'log_level'"), "{problem}");
    d.expect("still running generation 1");

    // A good file is adopted.
    write(&cfg, "\toption log_level 'debug'\n");
    d.signal("HUP");
    d.expect("config generation 2 loaded");
    let out = hearth(&["status"], &cfg);
    assert!(String::from_utf8_lossy(&out.stdout).contains("(generation 2)"));

    d.signal("TERM");
    d.expect("SIGTERM: shutting down");
    d.expect("shutdown complete");
    let status = d.child.wait().unwrap();
    assert!(status.success(), "exit status {status}");

    // Stopped: the socket is gone and status says so.
    let out = hearth(&["status"], &cfg);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hearth is not running"));
}

#[test]
fn sigint_also_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hearth");
    write(&cfg, "");
    let mut d = Daemon::start(&cfg);
    d.expect("ready");
    d.signal("INT");
    d.expect("shutdown complete");
    assert!(d.child.wait().unwrap().success());
}

#[test]
fn run_refuses_an_invalid_config_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hearth");
    write(&cfg, "config shaper 'wan'\n\toption uplaod '20000'\n");
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["run", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("option 'uplaod': unknown option (did you mean 'upload'?)"),
        "{err}"
    );
    assert!(
        err.contains("option 'device': is required but missing"),
        "{err}"
    );
    assert!(err.contains("not starting"), "{err}");
}

#[test]
fn version_and_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("hearth {}", env!("CARGO_PKG_VERSION"))
    );
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "run", "apply", "check", "status", "usage", "plan", "uci", "rpcd",
    ] {
        assert!(
            help.contains(&format!("\n  {cmd} ")),
            "help lacks {cmd}:\n{help}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("chek")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("check"),
        "suggests 'check'"
    );
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hearth");
    // Enough devices for a plan far bigger than a pipe's buffer.
    let mut text = String::from(
        "config shaper wan\n option device wan0\n option lan_device br0\n option upload 50000\n option download 200000\n",
    );
    for i in 0..3000 {
        text.push_str(&format!(
            "config device d{i}\n option mac 02:00:00:00:{:02x}:{:02x}\n list ip 10.{}.{}.{}\n option rate_down 1000\n",
            i / 256,
            i % 256,
            10 + i / 60000,
            i / 250,
            i % 250 + 1
        ));
    }
    std::fs::write(&cfg, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["apply", "--dry-run", "--config"])
        .arg(&cfg)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("wan0"), "{first}");
    // The reader is gone (as with `| head -1`).
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    use std::os::unix::process::ExitStatusExt;
    assert!(
        out.status.success() || out.status.signal() == Some(13),
        "ends by SIGPIPE like other tools: {:?}",
        out.status
    );
}
