//! The real `hearth` daemon as a child process, for end-to-end tests of the balancer.
//!
//! [`Hearth::start`] writes a config (built for a free `127.0.0.1` port) into a temporary
//! directory, runs `hearth run --config FILE`, captures stderr line by line, and returns once
//! hearth logged `ready` with its balancer listening. The test then talks to [`Hearth::addr`],
//! reloads with [`Hearth::reload`] (new file + `SIGHUP`), reads the settlement lines
//! (`info: llm ok ...`, `warn: llm OUTCOME ...`) as [`Settlement`]s, and stops it with
//! [`Hearth::terminate`] (`SIGTERM`). Dropping a [`Hearth`] kills the process.
//!
//! Each hearth is isolated: unless the config has its own `config agent` section, one is added
//! that puts `runtime_dir` (the control socket) and `state_dir` in the test's temporary
//! directory. Every wait is bounded ([`STARTUP`], [`LOG_PATIENCE`]); every captured line is
//! also echoed to the test's stderr (prefixed `hearth| `), so a failing test shows what the
//! daemon said.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

/// How long hearth may take from spawn to `ready`.
pub const STARTUP: Duration = Duration::from_secs(30);
/// How long a test waits for a log line (a settlement, a reload's result).
pub const LOG_PATIENCE: Duration = Duration::from_secs(15);
/// Attempts at finding a free port hearth can bind (another process may take the port
/// between the probe and hearth's bind).
const PORT_ATTEMPTS: usize = 5;

/// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then released). Listen
/// ports in hearth's config must be non-zero, so this is how a test picks one.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A 127.0.0.1 port that refuses connections for as long as this value lives: a socket is
/// bound to it but never listens, so nothing else can take the port and every connection
/// attempt is answered with a reset ("connection refused").
pub struct ClosedPort {
    /// The address nobody answers on.
    pub addr: SocketAddr,
    /// Holds the port.
    _socket: tokio::net::TcpSocket,
}

impl ClosedPort {
    /// Reserves a port.
    pub fn new() -> ClosedPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("create a socket");
        socket
            .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .expect("bind 127.0.0.1:0");
        let addr = socket.local_addr().expect("bound address");
        ClosedPort {
            addr,
            _socket: socket,
        }
    }

    /// An OpenAI base URL on this port: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        ClosedPort::new()
    }
}

/// What a config is built from.
pub struct Setup<'a> {
    /// The balancer's listen address (`list listen '{listen}'`).
    pub listen: SocketAddr,
    /// A private temporary directory (key files may go there; the config file does).
    pub dir: &'a Path,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// hearth loaded the new file and the balancer reconciled (its summary line).
    Applied(String),
    /// hearth refused the new file and kept running the old config.
    Rejected,
}

/// Lines captured from hearth's stderr.
struct Log {
    /// Every line so far, in order.
    lines: Mutex<Vec<String>>,
    /// Woken on every new line and when stderr closes.
    changed: Notify,
    /// Set when stderr reached its end (the process exited).
    closed: std::sync::atomic::AtomicBool,
    /// Settlement lines among `lines`, counted as they arrive: waiting for the n-th one then
    /// costs a load, not a parse of the whole log on every new line (which, with thousands of
    /// requests, kept the reader behind hearth).
    settled: std::sync::atomic::AtomicUsize,
}

impl Log {
    fn lines(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running `hearth run`.
pub struct Hearth {
    /// Where the balancer listens.
    pub addr: SocketAddr,
    /// The process.
    child: Child,
    /// Its stderr, line by line.
    log: Arc<Log>,
    /// The config file.
    config: PathBuf,
    /// Holds the config (and whatever the test put there) until hearth is gone.
    dir: tempfile::TempDir,
}

impl Hearth {
    /// Starts hearth with the config `make` returns for a free listen address, and waits for
    /// `ready`. Retries with another port when the chosen one was taken meanwhile.
    pub async fn start(make: impl Fn(&Setup<'_>) -> String) -> Hearth {
        let bin = crate::hearth_bin();
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let dir = tempfile::tempdir().expect("temporary directory");
            let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
            let text = make(&Setup {
                listen,
                dir: dir.path(),
            });
            let config = dir.path().join("hearth");
            std::fs::write(&config, isolated(&text, dir.path())).expect("write the config");
            let mut child = Command::new(bin)
                .arg("run")
                .arg("--config")
                .arg(&config)
                .env_remove("HEARTH_CONFIG")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
            let stderr = child.stderr.take().expect("stderr is piped");
            let log = Arc::new(Log {
                lines: Mutex::new(Vec::new()),
                changed: Notify::new(),
                closed: std::sync::atomic::AtomicBool::new(false),
                settled: std::sync::atomic::AtomicUsize::new(0),
            });
            let sink = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    eprintln!("hearth| {line}");
                    let settlement = Settlement::parse(&line).is_some();
                    sink.lines().push(line);
                    if settlement {
                        sink.settled
                            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    sink.changed.notify_waiters();
                }
                sink.closed.store(true, std::sync::atomic::Ordering::SeqCst);
                sink.changed.notify_waiters();
            });
            let hearth = Hearth {
                addr: listen,
                child,
                log,
                config,
                dir,
            };
            let listening = format!("balancer: listening on {listen}");
            let ready = hearth
                .wait_for_line(0, STARTUP, |l| {
                    l == "info: ready" || l.contains("cannot listen on")
                })
                .await;
            let all = hearth.lines();
            match ready {
                Some((_, l))
                    if l == "info: ready" && all.iter().any(|l| l.contains(&listening)) =>
                {
                    return hearth;
                }
                Some((_, l)) if l.contains("cannot listen on") => {
                    last = all.join("\n");
                    continue; // the port was taken: drop this one (kills it), try another
                }
                _ => panic!(
                    "hearth did not become ready on {listen} within {STARTUP:?}; it said:\n{}",
                    all.join("\n")
                ),
            }
        }
        panic!("hearth could not bind a free port in {PORT_ATTEMPTS} attempts; last:\n{last}");
    }

    /// `http://ADDR/v1`, the base URL clients use.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The temporary directory the config lives in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The config file hearth reads.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line hearth wrote to stderr so far.
    pub fn lines(&self) -> Vec<String> {
        self.log.lines().clone()
    }

    /// Waits for the first line at index `from` or later that satisfies `pred`, at most
    /// `within` (less when hearth exits); returns it with its index.
    pub async fn wait_for_line(
        &self,
        from: usize,
        within: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<(usize, String)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.log.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let lines = self.log.lines();
                if let Some(i) = (from..lines.len()).find(|&i| pred(&lines[i])) {
                    return Some((i, lines[i].clone()));
                }
            }
            if self.log.closed.load(std::sync::atomic::Ordering::SeqCst) {
                // hearth exited: no line will ever come (the check above saw every line,
                // since the reader pushes them before it marks the end).
                let lines = self.log.lines();
                return (from..lines.len())
                    .find(|&i| pred(&lines[i]))
                    .map(|i| (i, lines[i].clone()));
            }
            // A short tick as well: a process that exited closes stderr once, after which
            // nothing would wake us before the deadline.
            let tick = tokio::time::Instant::now() + Duration::from_millis(200);
            if tokio::time::timeout_at(deadline.min(tick), notified)
                .await
                .is_err()
                && tokio::time::Instant::now() >= deadline
            {
                return None;
            }
        }
    }

    /// Sends signal `name` (`HUP`, `TERM`, ...) to hearth.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.child.id());
    }

    /// Replaces the config file with `text` (atomically, as an editor or `uci commit` would).
    pub fn write_config(&self, text: &str) {
        let tmp = self.dir.path().join("hearth.new");
        std::fs::write(&tmp, isolated(text, self.dir.path())).expect("write the new config");
        std::fs::rename(&tmp, &self.config).expect("replace the config");
    }

    /// Writes `text` as the config, sends `SIGHUP`, and waits until hearth either applied it
    /// (the balancer logged its reconcile summary) or rejected it.
    pub async fn reload(&self, text: &str) -> Reloaded {
        self.write_config(text);
        let mark = self.lines().len();
        self.signal("HUP");
        let found = self
            .wait_for_line(mark, LOG_PATIENCE, |l| {
                l.contains("the new config is invalid")
                    || (l.starts_with("info: balancer: ") && l.ends_with("changes)"))
                    || l.starts_with("error: balancer")
            })
            .await;
        match found {
            Some((_, l)) if l.contains("the new config is invalid") => Reloaded::Rejected,
            Some((_, l)) => Reloaded::Applied(l),
            None => panic!(
                "hearth did not finish reloading within {LOG_PATIENCE:?}; it said:\n{}",
                self.lines()[mark..].join("\n")
            ),
        }
    }

    /// Every settlement line so far, in order.
    pub fn settlements(&self) -> Vec<Settlement> {
        self.lines()
            .iter()
            .filter_map(|l| Settlement::parse(l))
            .collect()
    }

    /// Waits until at least `n` settlement lines were logged, at most [`LOG_PATIENCE`];
    /// panics (with the log) otherwise. Returns all of them.
    pub async fn wait_settlements(&self, n: usize) -> Vec<Settlement> {
        let deadline = tokio::time::Instant::now() + LOG_PATIENCE;
        loop {
            let notified = self.log.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.log.settled.load(std::sync::atomic::Ordering::SeqCst) >= n {
                return self.settlements();
            }
            let tick = tokio::time::Instant::now() + Duration::from_millis(200);
            let _ = tokio::time::timeout_at(deadline.min(tick), notified).await;
            if tokio::time::Instant::now() >= deadline {
                let all = self.settlements();
                if all.len() >= n {
                    return all;
                }
                panic!(
                    "expected {n} settlement line(s) within {LOG_PATIENCE:?}, got {}; hearth said:\n{}",
                    all.len(),
                    self.lines().join("\n")
                );
            }
        }
    }

    /// Sends `SIGTERM`, waits for the process to exit (at most [`LOG_PATIENCE`]; killed after
    /// that) and for the rest of its stderr; returns the exit status and every line it wrote.
    pub async fn terminate(mut self) -> (ExitStatus, Vec<String>) {
        self.signal("TERM");
        let deadline = tokio::time::Instant::now() + LOG_PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for hearth") {
                break status;
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!(
                    "hearth did not exit within {LOG_PATIENCE:?} of SIGTERM; it said:\n{}",
                    self.lines().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        while !self.log.closed.load(std::sync::atomic::Ordering::SeqCst)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (status, self.lines())
    }
}

impl Drop for Hearth {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

// === config text ===

/// `text` with a `config agent` section that keeps this hearth's runtime files (the control
/// socket) and state inside `dir`, so parallel tests never share (or steal) a socket and never
/// touch the host's `/var/run/hearth`; `text` is returned unchanged when it has its own agent
/// section.
fn isolated(text: &str, dir: &Path) -> String {
    if text.contains("config agent") {
        return text.to_owned();
    }
    format!(
        "config agent 'main'\n\toption runtime_dir '{}'\n\toption state_dir '{}'\n{text}",
        dir.join("run").display(),
        dir.join("state").display()
    )
}

/// `config balancer 'llm'` listening on `listen`, with `options` (name, value) after it.
pub fn balancer_section(listen: SocketAddr, options: &[(&str, &str)]) -> String {
    let mut s = format!("config balancer 'llm'\n\tlist listen '{listen}'\n");
    for (name, value) in options {
        s.push_str(&format!("\toption {name} '{value}'\n"));
    }
    s
}

/// `config endpoint 'NAME'` at `url` serving `models`, with `options` (name, value) after it.
///
/// Unless `options` set `health_check`, the endpoint gets `health_check '0'` (passive health
/// only): the tests script every request a fake receives, and an active probe
/// (`GET /v1/models`) landing in a fake's recording would only add noise.
pub fn endpoint_section(
    name: &str,
    url: &str,
    models: &[&str],
    options: &[(&str, &str)],
) -> String {
    let mut s = format!("config endpoint '{name}'\n\toption url '{url}'\n");
    for m in models {
        s.push_str(&format!("\tlist model '{m}'\n"));
    }
    if !options.iter().any(|(n, _)| *n == "health_check") {
        s.push_str("\toption health_check '0'\n");
    }
    for (name, value) in options {
        s.push_str(&format!("\toption {name} '{value}'\n"));
    }
    s
}

// === settlement lines ===

/// One `llm ...` settlement line of hearth's log, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// Log level: `info` for `ok`, `warn` otherwise.
    pub level: String,
    /// `ok`, `upstream_refused`, `broken`, `timeout`, `client_gone`, `failed`.
    pub outcome: String,
    /// The `key=value` fields (`client`, `device`, `group`, `endpoint`, `model`, `tokens`,
    /// `cost`, `bytes`, `ttfb`, `duration`, `failovers`).
    pub fields: BTreeMap<String, String>,
    /// The line as logged.
    pub line: String,
}

impl Settlement {
    /// Parses `LEVEL: llm OUTCOME key=value ...`; `None` for any other line.
    pub fn parse(line: &str) -> Option<Settlement> {
        let (level, rest) = line.split_once(": ")?;
        let rest = rest.strip_prefix("llm ")?;
        let mut words = rest.split_whitespace();
        let outcome = words.next()?.to_owned();
        let mut fields = BTreeMap::new();
        while let Some(w) = words.next() {
            let (k, v) = w.split_once('=')?;
            let mut v = v.to_owned();
            // A parenthesised value may hold spaces: `downgraded=(llm_month of group 'kids')`.
            if v.starts_with('(') {
                while !v.ends_with(')') {
                    v.push(' ');
                    v.push_str(words.next()?);
                }
            }
            fields.insert(k.to_owned(), v);
        }
        fields.contains_key("client").then(|| Settlement {
            level: level.to_owned(),
            outcome,
            fields,
            line: line.to_owned(),
        })
    }

    /// Field `key`; panics (showing the line) when it is missing.
    pub fn get(&self, key: &str) -> &str {
        self.fields
            .get(key)
            .unwrap_or_else(|| panic!("no {key}= in settlement line {:?}", self.line))
    }

    /// `tokens=P/C` as (prompt, completion, estimated).
    pub fn tokens(&self) -> (u64, u64, bool) {
        let raw = self.get("tokens");
        let (counts, estimated) = match raw.strip_suffix("(estimated)") {
            Some(c) => (c, true),
            None => (raw, false),
        };
        let (p, c) = counts
            .split_once('/')
            .unwrap_or_else(|| panic!("tokens= is not P/C in {:?}", self.line));
        let num = |s: &str| {
            s.parse::<u64>()
                .unwrap_or_else(|_| panic!("bad token count in {:?}", self.line))
        };
        (num(p), num(c), estimated)
    }

    /// `bytes=UP/DOWN`.
    pub fn bytes(&self) -> (u64, u64) {
        let (up, down) = self
            .get("bytes")
            .split_once('/')
            .unwrap_or_else(|| panic!("bytes= is not UP/DOWN in {:?}", self.line));
        let num = |s: &str| {
            s.parse::<u64>()
                .unwrap_or_else(|_| panic!("bad byte count in {:?}", self.line))
        };
        (num(up), num(down))
    }

    /// `failovers=N`.
    pub fn failovers(&self) -> u32 {
        self.get("failovers")
            .parse()
            .unwrap_or_else(|_| panic!("bad failovers= in {:?}", self.line))
    }
}

/// A cost as hearth prints it: `micros` millionths of the currency, as a decimal without
/// trailing zeros (`0.000018`, `1.5`, `0`).
pub fn format_money(micros: u64) -> String {
    let (whole, frac) = (micros / 1_000_000, micros % 1_000_000);
    if frac == 0 {
        whole.to_string()
    } else {
        let digits = format!("{frac:06}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// The inverse of [`format_money`]: `0.0035` -> 3500 micro-units.
pub fn parse_money(text: &str) -> u64 {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let whole: u64 = whole
        .parse()
        .unwrap_or_else(|_| panic!("bad money {text:?}"));
    let mut digits = frac.to_string();
    assert!(digits.len() <= 6, "bad money {text:?}");
    while digits.len() < 6 {
        digits.push('0');
    }
    whole * 1_000_000
        + digits
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("bad money {text:?}"))
}

/// The cost of `prompt`/`completion` tokens at prices given in micro-units per 1M tokens,
/// rounded up to a micro-unit, in micro-units.
pub fn cost_micros(price_input: u64, price_output: u64, prompt: u64, completion: u64) -> u64 {
    (u128::from(price_input) * u128::from(prompt)
        + u128::from(price_output) * u128::from(completion))
    .div_ceil(1_000_000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settlement_lines_parse() {
        let s = Settlement::parse(
            "warn: llm client_gone client=127.0.0.1 device=- group=default endpoint=alpha model=m tokens=12/3(estimated) cost=0.000018 bytes=100/2000 ttfb=0.001s duration=0.002s failovers=1",
        )
        .expect("a settlement");
        assert_eq!(
            (s.level.as_str(), s.outcome.as_str()),
            ("warn", "client_gone")
        );
        assert_eq!(s.get("endpoint"), "alpha");
        assert_eq!(s.tokens(), (12, 3, true));
        assert_eq!(s.bytes(), (100, 2000));
        assert_eq!(s.failovers(), 1);
        assert!(Settlement::parse("info: ready").is_none());
        let d = Settlement::parse(
            "info: llm ok client=127.0.0.1 host=- device=tab group=kids endpoint=local model=llama tokens=27/3 cost=0 bytes=107/284 ttfb=0.002s duration=0.003s failovers=0 downgraded=(llm_month of group 'kids')",
        )
        .expect("a downgraded settlement");
        assert_eq!(d.get("downgraded"), "(llm_month of group 'kids')");
        assert_eq!(d.get("endpoint"), "local");
        assert!(Settlement::parse("info: llm rejected request").is_none());
    }

    #[test]
    fn money_prints_like_hearth() {
        assert_eq!(format_money(0), "0");
        assert_eq!(format_money(18), "0.000018");
        assert_eq!(format_money(1_500_000), "1.5");
        assert_eq!(cost_micros(150_000, 600_000, 1000, 500), 450);
        assert_eq!(cost_micros(150_000, 0, 1, 0), 1, "rounds up");
    }
}
