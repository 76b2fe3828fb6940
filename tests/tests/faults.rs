//! Fault injection under load (issue #9, part 4): the real `hearth` binary between many
//! concurrent clients (each device its own 127.0.0.0/8 source address) and fake upstreams
//! that refuse, stall, rate-limit, fail, break off or drip.
//!
//! What every test here checks, beyond its own fault: no client waits forever (every wait has
//! a bound, and a request past it fails the test as a hang), every request ends in exactly
//! one settlement, and the budget ledger (the control socket's `/usage`) equals the sum of the
//! settlement lines — per device, per group and for the household, with nothing left reserved.
//!
//! - [`faulty_upstreams_under_concurrent_load_never_hang_a_client_or_lose_a_settlement`]
//! - [`a_sighup_storm_during_traffic_fails_no_request_and_loses_no_settlement`]
//! - [`ten_thousand_requests_from_fifty_devices_reconcile_with_the_upstreams_own_counts`]
//! - [`a_full_state_dir_is_reported_serving_continues_and_the_ledger_is_saved_once_space_returns`]
//!   (needs root for a tiny tmpfs; skips loudly without)
//! - [`kill_dash_nine_under_load_keeps_a_whole_ledger_and_the_restart_reconciles`]
//!
//! Timeouts are hang detectors only: no test asserts how fast anything was.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth_e2e::client::{Answer, Client, CHAT};
use hearth_e2e::daemon::{
    balancer_section, endpoint_section, parse_money, ClosedPort, Hearth, Reloaded, Settlement,
};
use hearth_e2e::fake_upstream::{Behaviour, FakeUpstream, Tally};
use hearth_e2e::netns::is_root;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

/// Price per 1M tokens that makes every token cost exactly 1000 micro-units (no rounding, so
/// sums of per-request costs equal the cost of summed tokens).
const PRICE: &str = "1000";
const MICROS_PER_TOKEN: u64 = 1000;

/// The longest any single client request may take before the test calls it a hang. Far above
/// `request_timeout` of the configs below; only a request hearth never ends reaches it.
const HANG: Duration = Duration::from_secs(60);

/// Device `n`'s LAN address: 127.0.3.n.
fn device_ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 3, n))
}

/// `config device 'devN'` sections for devices `range` of `group`, known by address.
fn devices(group: &str, range: std::ops::RangeInclusive<u8>) -> String {
    range
        .map(|i| {
            format!(
                "config device 'dev{i}'\n\toption mac '02:00:00:00:03:{i:02x}'\n\tlist ip '{}'\n\toption group '{group}'\n",
                device_ip(i)
            )
        })
        .collect()
}

/// A priced endpoint section (passive health only).
fn priced(name: &str, url: &str, models: &[&str], price: &str) -> String {
    endpoint_section(
        name,
        url,
        models,
        &[("price_input", price), ("price_output", price)],
    )
}

/// A chat body from device `n` (named in `user`, which the fakes tally by).
fn body(device: u8, stream: bool, model: &str) -> String {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": stream,
        "max_tokens": 16,
        "user": format!("dev{device}"),
    })
    .to_string()
}

// === how a request ended, as the client saw it ===

/// A request's end that a client can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ending {
    /// 200 and the whole answer (JSON with content, or a stream with content and `[DONE]`).
    Complete,
    /// An OpenAI-shaped JSON error with this status.
    Error(u16),
    /// A stream that ended with an OpenAI-shaped error event, then `[DONE]`.
    StreamError,
    /// A non-streamed 200 whose body broke off: hearth cannot append an error to a JSON
    /// answer already on its way, so it aborts the connection (the client's SDK raises a
    /// connection error at once, it does not wait).
    Cut,
}

/// Classifies the answer to a request (`stream`: whether it asked for a stream), or says why
/// it is neither complete nor an OpenAI-shaped error.
fn judge(a: &Answer, stream: bool) -> Result<Ending, String> {
    if let Some(e) = &a.body_error {
        if a.status == 200 && !stream {
            return Ok(Ending::Cut);
        }
        return Err(format!("status {} body broke off: {e}", a.status));
    }
    let text = a.text();
    let shaped_error = |v: &Value| {
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
            && v["error"]["type"].as_str().is_some_and(|t| !t.is_empty())
    };
    if a.status != 200 {
        let v: Value = serde_json::from_str(&text)
            .map_err(|_| format!("status {} with a non-JSON body {text:?}", a.status))?;
        return if shaped_error(&v) {
            Ok(Ending::Error(a.status))
        } else {
            Err(format!(
                "status {} without an OpenAI error: {text}",
                a.status
            ))
        };
    }
    if !a
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/event-stream"))
    {
        let v: Value =
            serde_json::from_str(&text).map_err(|_| format!("200 with non-JSON {text:?}"))?;
        return match v["choices"][0]["message"]["content"].as_str() {
            Some(c) if !c.is_empty() => Ok(Ending::Complete),
            _ => Err(format!("200 JSON without content: {text}")),
        };
    }
    let mut events = Vec::new();
    for e in text.split("\n\n").filter(|e| !e.is_empty()) {
        match e.strip_prefix("data: ") {
            Some(d) => events.push(d.to_owned()),
            None => return Err(format!("not a data event {e:?} in {text:?}")),
        }
    }
    if events.last().map(String::as_str) != Some("[DONE]")
        || events.iter().filter(|e| *e == "[DONE]").count() != 1
    {
        return Err(format!(
            "a stream that does not end with one [DONE]: {text:?}"
        ));
    }
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).map_err(|_| format!("non-JSON event {e:?}")))
        .collect::<Result<_, _>>()?;
    match chunks.iter().position(|c| c.get("error").is_some()) {
        Some(i) if i == chunks.len() - 1 && shaped_error(&chunks[i]) => Ok(Ending::StreamError),
        Some(_) => Err(format!("an error event that is not the last one: {text:?}")),
        None if chunks
            .iter()
            .any(|c| c["choices"][0]["delta"]["content"].is_string()) =>
        {
            Ok(Ending::Complete)
        }
        None => Err(format!("a stream without content: {text:?}")),
    }
}

/// One request on `client` (reconnecting from `device` when hearth closed the connection),
/// bounded by [`HANG`]. `Err` when it hung, broke, or ended in anything but a complete
/// answer or an OpenAI-shaped error.
async fn exchange(
    client: &mut Option<Client>,
    addr: SocketAddr,
    device: u8,
    body: &str,
) -> Result<(Ending, Answer), String> {
    let run = async {
        if client.as_ref().is_none_or(Client::is_closed) {
            *client = Some(Client::connect_from(addr, device_ip(device)).await);
        }
        let c = client.as_mut().expect("connected just above");
        let answer = c
            .send("POST", CHAT, &[], body)
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        let stream = body.contains("\"stream\":true");
        Ok::<_, String>((judge(&answer, stream)?, answer))
    };
    match tokio::time::timeout(HANG, run).await {
        Ok(r) => r,
        Err(_) => {
            *client = None;
            Err(format!("no end within {HANG:?} (a hang)"))
        }
    }
}

// === ledgers and settlements ===

/// Requests, money (micro-units), tokens and bytes, as settlements and ledgers count them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Sums {
    requests: u64,
    money: u64,
    tokens: u64,
    bytes: u64,
}

impl Sums {
    fn add(&mut self, o: Sums) {
        self.requests += o.requests;
        self.money += o.money;
        self.tokens += o.tokens;
        self.bytes += o.bytes;
    }
}

/// What one settlement line charges the ledgers: nothing for a request refused before it
/// held a reservation (`over_budget`, `rejected`); otherwise its cost, tokens and bytes
/// (hearth counts the balancer's bytes when no shaper counts them), and one request.
fn charge(s: &Settlement) -> Sums {
    if matches!(s.outcome.as_str(), "over_budget" | "rejected") {
        return Sums::default();
    }
    let (p, c, _) = s.tokens();
    let (up, down) = s.bytes();
    Sums {
        requests: 1,
        money: parse_money(s.get("cost")),
        tokens: p + c,
        bytes: up + down,
    }
}

/// Settlement charges per ledger scope: `device:NAME`, `group:NAME`, `household`.
fn charges_by_scope(settled: &[Settlement]) -> BTreeMap<String, Sums> {
    let mut out: BTreeMap<String, Sums> = BTreeMap::new();
    for s in settled {
        let c = charge(s);
        if c == Sums::default() {
            continue;
        }
        if s.get("device") != "-" {
            out.entry(format!("device:{}", s.get("device")))
                .or_default()
                .add(c);
        }
        out.entry(format!("group:{}", s.get("group")))
            .or_default()
            .add(c);
        out.entry("household".into()).or_default().add(c);
    }
    out
}

/// `GET path` on hearth's control socket (`RUN/control.sock`), as JSON.
async fn control(run: &Path, path: &str) -> Value {
    let socket = run.join("control.sock");
    let talk = async {
        let mut s = tokio::net::UnixStream::connect(&socket).await?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nhost: hearth\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(HANG, talk)
        .await
        .unwrap_or_else(|_| panic!("control socket {} answers {path} in time", socket.display()))
        .unwrap_or_else(|e| panic!("control socket {}: {e}", socket.display()));
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {text:?}"));
    assert!(head.starts_with("HTTP/1.1 200"), "{path}: {text}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path} is not JSON ({e}): {body}"))
}

/// The ledger's sums of `scope` in `period` (`day`, `month`) from `/usage` rows, and what is
/// still reserved there.
fn ledger(usage: &Value, scope: &str, period: &str) -> (Sums, u64) {
    let rows: Vec<&Value> = usage["rows"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter(|r| r["scope"] == scope && r["period"] == period)
                .collect()
        })
        .unwrap_or_default();
    let metric = |m: &str| {
        rows.iter()
            .find(|r| r["metric"] == m)
            .map_or(0, |r| r["spent"].as_u64().unwrap_or(0))
    };
    let reserved = rows
        .iter()
        .map(|r| r["reserved"].as_u64().unwrap_or(0))
        .sum();
    let sums = Sums {
        requests: rows
            .first()
            .map_or(0, |r| r["requests"].as_u64().unwrap_or(0)),
        money: metric("money"),
        tokens: metric("tokens"),
        bytes: metric("bytes"),
    };
    (sums, reserved)
}

/// Asserts that the ledger of every scope settlements charged (both periods) equals the sum
/// of those settlements, plus `base` (what the ledger held before), and that nothing is left
/// reserved anywhere.
fn assert_ledger_reconciles(
    usage: &Value,
    settled: &[Settlement],
    base: &BTreeMap<String, Sums>,
    what: &str,
) {
    let mut expected = base.clone();
    for (scope, s) in charges_by_scope(settled) {
        expected.entry(scope).or_default().add(s);
    }
    assert!(!expected.is_empty(), "{what}: nothing was charged");
    for (scope, want) in &expected {
        for period in ["day", "month"] {
            let (got, _) = ledger(usage, scope, period);
            assert_eq!(
                got, *want,
                "{what}: ledger of {scope} ({period}) vs settlements"
            );
        }
    }
    let reserved: Vec<&Value> = usage["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["reserved"].as_u64() != Some(0))
        .collect();
    assert!(
        reserved.is_empty(),
        "{what}: reservations left after every request ended: {reserved:?}"
    );
}

/// Waits until exactly `n` settlement lines were logged and returns them; fails when fewer
/// come (a lost settlement) or more (a request settled twice).
async fn exactly_settled(h: &Hearth, n: usize) -> Vec<Settlement> {
    let settled = h.wait_settlements(n).await;
    assert_eq!(
        settled.len(),
        n,
        "{} settlement lines for {n} requests",
        settled.len()
    );
    settled
}

/// Count of settlements per value of `field` (a `key=value` field, or `outcome`).
fn count_by(settled: &[Settlement], field: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for s in settled {
        let value = if field == "outcome" {
            &s.outcome
        } else {
            s.get(field)
        };
        *out.entry(value.to_owned()).or_default() += 1;
    }
    out
}

// === 1. upstream faults under concurrent load ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulty_upstreams_under_concurrent_load_never_hang_a_client_or_lose_a_settlement() {
    let refused = ClosedPort::new();
    let stall = FakeUpstream::start("stall").await;
    // Far past request_timeout: only hearth's deadline ends these.
    stall.set_default(Behaviour::StallBeforeHeaders(Duration::from_secs(30)));
    let limited = FakeUpstream::start("limited").await;
    limited.set_default(Behaviour::rate_limited(1));
    let failing = FakeUpstream::start("failing").await;
    failing.set_default(Behaviour::status(500));
    let dropping = FakeUpstream::start("dropping").await;
    dropping.set_default(Behaviour::DropMidStream { after_chunks: 2 });
    let dripping = FakeUpstream::start("dripping").await;
    dripping.set_default(Behaviour::SlowDrip {
        chunks: 3,
        delay: Duration::from_millis(30),
    });
    let good1 = FakeUpstream::start("good1").await;
    let good2 = FakeUpstream::start("good2").await;
    let faulty = [&stall, &limited, &failing, &dropping, &dripping];
    for f in faulty.iter().chain([&&good1, &&good2]) {
        f.set_recording(false);
    }
    let mut urls: Vec<(&str, String)> = vec![("refused", refused.base_url())];
    for f in faulty.iter().chain([&&good1, &&good2]) {
        urls.push((f.name(), f.base_url()));
    }
    const DEVICES: u8 = 8;
    let h = Hearth::start(|s| {
        let mut t = balancer_section(
            s.listen,
            &[
                ("strategy", "round_robin"),
                ("request_timeout", "3"),
                ("retries", "3"),
            ],
        );
        t.push_str("config group 'family'\n\toption llm_month '1000000'\n");
        t.push_str(&devices("family", 1..=DEVICES));
        for (name, url) in &urls {
            t.push_str(&priced(name, url, &["m"], PRICE));
        }
        t
    })
    .await;

    // 8 devices x 4 workers x 10 requests, a third of them streamed, on kept-alive connections.
    const WORKERS_PER_DEVICE: usize = 4;
    const PER_WORKER: usize = 10;
    let mut load = Vec::new();
    for device in 1..=DEVICES {
        for w in 0..WORKERS_PER_DEVICE {
            let addr = h.addr;
            load.push(tokio::spawn(async move {
                let mut client = None;
                let mut ends = Vec::new();
                for i in 0..PER_WORKER {
                    let stream = (i + w) % 3 == 0;
                    ends.push(
                        exchange(&mut client, addr, device, &body(device, stream, "m")).await,
                    );
                }
                (device, ends)
            }));
        }
    }
    let total = usize::from(DEVICES) * WORKERS_PER_DEVICE * PER_WORKER;
    let mut tally: BTreeMap<Ending, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for task in load {
        let (device, ends) = task.await.expect("a load task panicked");
        for end in ends {
            match end {
                Ok((e, _)) => *tally.entry(e).or_default() += 1,
                Err(why) => failures.push(format!("dev{device}: {why}")),
            }
        }
    }
    eprintln!("client endings: {tally:?}");
    assert!(
        failures.is_empty(),
        "{} of {total} requests hung, broke or answered in no OpenAI shape:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(tally.get(&Ending::Complete).is_some_and(|n| *n > 0));
    // Round robin sent the first requests to every endpoint: each fault was met.
    for f in faulty {
        assert!(f.served() > 0, "{} was never tried", f.name());
    }

    let settled = exactly_settled(&h, total).await;
    let per_device = count_by(&settled, "device");
    for d in 1..=DEVICES {
        assert_eq!(
            per_device.get(&format!("dev{d}")).copied(),
            Some(WORKERS_PER_DEVICE * PER_WORKER),
            "one settlement per request of dev{d}"
        );
    }
    let outcomes = count_by(&settled, "outcome");
    eprintln!("settled outcomes: {outcomes:?}");
    assert_eq!(
        outcomes.get("ok").copied().unwrap_or(0),
        tally[&Ending::Complete],
        "every complete answer settled ok, and only those"
    );
    // Errors before any byte of an answer came as JSON errors; after, as error events (or
    // a cut, for non-streamed answers).
    let failed = |before_headers: bool| {
        settled
            .iter()
            .filter(|s| s.outcome != "ok" && (s.get("ttfb") == "-") == before_headers)
            .count()
    };
    let ended = |e: &[Ending]| {
        e.iter()
            .map(|e| tally.get(e).copied().unwrap_or(0))
            .sum::<usize>()
    };
    let errors: usize = tally
        .iter()
        .filter(|(e, _)| matches!(e, Ending::Error(_)))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        errors,
        failed(true),
        "JSON errors vs failures before the headers"
    );
    assert_eq!(
        ended(&[Ending::StreamError, Ending::Cut]),
        failed(false),
        "error events and cuts vs failures after the headers"
    );
    assert!(
        settled.iter().any(|s| s.failovers() > 0),
        "some requests failed over"
    );
    let usage = control(&h.dir().join("run"), "/usage").await;
    assert_ledger_reconciles(&usage, &settled, &BTreeMap::new(), "after the faults");
    assert_eq!(
        ledger(&usage, "household", "month").0.requests,
        total as u64,
        "the ledger charged each request once"
    );
    assert_eq!(h.settlements().len(), total, "no request settled twice");
}

// === 2. SIGHUP storm during traffic ===

/// Config `variant` (0 or 1) of the storm: both valid, differing in strategy, the group's
/// budget and a model only this variant serves (`only-0`, `only-1`).
fn storm_config(listen: SocketAddr, variant: usize, alpha: &str, beta: &str) -> String {
    let strategy = ["round_robin", "least_connections"][variant];
    let mut t = balancer_section(listen, &[("strategy", strategy)]);
    t.push_str(&format!(
        "config group 'family'\n\toption llm_month '{}'\n",
        1000 - variant
    ));
    t.push_str(&devices("family", 1..=6));
    let only = format!("only-{variant}");
    t.push_str(&priced("alpha", alpha, &["m", &only], PRICE));
    t.push_str(&priced("beta", beta, &["m"], PRICE));
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sighup_storm_during_traffic_fails_no_request_and_loses_no_settlement() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    alpha.set_recording(false);
    beta.set_recording(false);
    let (a, b) = (alpha.base_url(), beta.base_url());
    let h = Hearth::start(|s| storm_config(s.listen, 0, &a, &b)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for device in 1..=6u8 {
        for w in 0..2usize {
            let (addr, stop) = (h.addr, stop.clone());
            load.push(tokio::spawn(async move {
                let mut client = None;
                let mut ends = Vec::new();
                for i in 0..1_000usize {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let stream = (i + w) % 2 == 0;
                    ends.push(
                        exchange(&mut client, addr, device, &body(device, stream, "m")).await,
                    );
                }
                ends
            }));
        }
    }
    // Traffic first, then 20 reloads one after the other, each waited for...
    for _ in 0..200 {
        if alpha.served() + beta.served() >= 24 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(alpha.served() + beta.served() >= 24, "the load got going");
    for n in 0..20 {
        let applied = h.reload(&storm_config(h.addr, (n + 1) % 2, &a, &b)).await;
        assert!(
            matches!(applied, Reloaded::Applied(_)),
            "reload {n}: {applied:?}"
        );
    }
    // ...then 10 fired back to back without waiting.
    let mut last = 0;
    for n in 20..30 {
        last = (n + 1) % 2;
        h.write_config(&storm_config(h.addr, last, &a, &b));
        h.signal("HUP");
    }
    // hearth settles on the file as last written: its model is served, the other one's not.
    let (served, gone) = (format!("only-{last}"), format!("only-{}", 1 - last));
    let mut converged = false;
    let mut probes = 0;
    for _ in 0..100 {
        probes += 2;
        let mut c = None;
        let probe = |model: &str| body(1, false, model);
        let yes = exchange(&mut c, h.addr, 1, &probe(&served)).await;
        let no = exchange(&mut c, h.addr, 1, &probe(&gone)).await;
        if matches!(yes, Ok((Ending::Complete, _))) && matches!(no, Ok((Ending::Error(404), _))) {
            converged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        converged,
        "hearth did not settle on the last config written"
    );
    stop.store(true, Ordering::SeqCst);
    let mut total = 0;
    let mut failures = Vec::new();
    for task in load {
        for end in task.await.expect("a load task panicked") {
            total += 1;
            match end {
                Ok((Ending::Complete, _)) => {}
                Ok((e, a)) => failures.push(format!("{e:?}: {}", a.text())),
                Err(why) => failures.push(why),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} requests failed during the storm:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The convergence probes settled too (the 404s as rejected, charging nothing).
    let settled = exactly_settled(&h, total + probes).await;
    let load_settled: Vec<Settlement> = settled
        .iter()
        .filter(|s| s.get("model") == "m")
        .cloned()
        .collect();
    assert_eq!(load_settled.len(), total);
    assert!(load_settled.iter().all(|s| s.outcome == "ok"));
    eprintln!("{total} requests during 30 reloads, {probes} probes");
    let usage = control(&h.dir().join("run"), "/usage").await;
    assert_ledger_reconciles(&usage, &settled, &BTreeMap::new(), "after the storm");
    assert_eq!(
        h.settlements().len(),
        settled.len(),
        "no request settled twice"
    );
}

// === 3. 10,000 requests from 50 devices ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_from_fifty_devices_reconcile_with_the_upstreams_own_counts() {
    const DEVICES: u8 = 50;
    const PER_DEVICE: usize = 200;
    let cloud_a = FakeUpstream::start("cloud_a").await;
    let cloud_b = FakeUpstream::start("cloud_b").await;
    let local = FakeUpstream::start("local").await;
    let fakes = [&cloud_a, &cloud_b, &local];
    for f in fakes {
        // 10,000 full records would hold every body and header; the tallies are enough.
        f.set_recording(false);
    }
    // Budgets (a request costs about 40 tokens = 0.04): the kids' month runs out after about
    // 300 requests and downgrades to the free local model; the guests' day after about 150
    // and denies; dev7's own day after about 50 and denies (the adults' group has plenty).
    let kids_month = 12_000_000u64;
    let guests_day = 6_000_000u64;
    let dev7_day = 2_000_000u64;
    let money = |m: u64| hearth_e2e::daemon::format_money(m);
    let (ua, ub, ul) = (cloud_a.base_url(), cloud_b.base_url(), local.base_url());
    let h = Hearth::start(|s| {
        let mut t = balancer_section(s.listen, &[("strategy", "round_robin")]);
        t.push_str("config group 'adults'\n\toption llm_month '1000'\n");
        t.push_str(&format!(
            "config group 'kids'\n\toption llm_month '{}'\n\toption on_exhaust 'downgrade'\n\toption downgrade_route 'fallback'\n",
            money(kids_month)
        ));
        t.push_str(&format!(
            "config group 'guests'\n\toption llm_day '{}'\n",
            money(guests_day)
        ));
        t.push_str(&devices("adults", 1..=20));
        t.push_str(&devices("kids", 21..=35));
        t.push_str(&devices("guests", 36..=DEVICES));
        // dev7's own day budget (its section comes from `devices`; this one adds the limit).
        t = t.replace(
            "config device 'dev7'\n",
            &format!("config device 'dev7'\n\toption llm_day '{}'\n", money(dev7_day)),
        );
        t.push_str(&priced("cloud_a", &ua, &["m"], PRICE));
        t.push_str(&priced("cloud_b", &ub, &["m"], PRICE));
        t.push_str(&priced("local", &ul, &["llama"], "0"));
        t.push_str("config route 'fallback'\n\toption match_model 'cheap'\n\tlist endpoint 'local'\n\toption model 'llama'\n");
        t
    })
    .await;

    #[derive(Debug, Default, Clone, Copy)]
    struct Seen {
        complete: usize,
        downgraded: usize,
        denied: usize,
    }
    let gate = Arc::new(Semaphore::new(16));
    let mut load = Vec::new();
    for device in 1..=DEVICES {
        let (addr, gate) = (h.addr, gate.clone());
        load.push(tokio::spawn(async move {
            let mut client = None;
            let mut seen = Seen::default();
            let mut failures = Vec::new();
            for i in 0..PER_DEVICE {
                let _permit = gate.acquire().await.expect("the gate stays open");
                let b = body(device, i % 4 == 0, "m");
                match exchange(&mut client, addr, device, &b).await {
                    Ok((Ending::Complete, a)) => {
                        seen.complete += 1;
                        if a.header("x-hearth-downgraded").is_some() {
                            seen.downgraded += 1;
                        }
                    }
                    Ok((Ending::Error(429), a))
                        if a.json()["error"]["code"] == "budget_exhausted" =>
                    {
                        seen.denied += 1
                    }
                    Ok((e, a)) => failures.push(format!("dev{device}: {e:?} {}", a.text())),
                    Err(why) => failures.push(format!("dev{device}: {why}")),
                }
            }
            (device, seen, failures)
        }));
    }
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut failures = Vec::new();
    for task in load {
        let (device, s, f) = task.await.expect("a load task panicked");
        seen.insert(format!("dev{device}"), s);
        failures.extend(f);
    }
    assert!(
        failures.is_empty(),
        "{} requests neither completed nor were denied by a budget:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let total = usize::from(DEVICES) * PER_DEVICE;
    let settled = exactly_settled(&h, total).await;

    // hearth's settlements against what each client saw.
    let mut by_device: BTreeMap<String, Vec<&Settlement>> = BTreeMap::new();
    for s in &settled {
        by_device
            .entry(s.get("device").to_owned())
            .or_default()
            .push(s);
    }
    for (dev, s) in &seen {
        let lines = &by_device[dev];
        assert_eq!(lines.len(), PER_DEVICE, "{dev}: one settlement per request");
        let ok = lines.iter().filter(|l| l.outcome == "ok").count();
        let over = lines.iter().filter(|l| l.outcome == "over_budget").count();
        let down = lines
            .iter()
            .filter(|l| l.fields.contains_key("downgraded"))
            .count();
        assert_eq!(
            (ok, over, down),
            (s.complete, s.denied, s.downgraded),
            "{dev}"
        );
        assert_eq!(ok + over, PER_DEVICE, "{dev}: only ok and over_budget");
    }
    // The budgets really ran out, each as configured.
    let group_sum = |range: std::ops::RangeInclusive<u8>, f: fn(&Seen) -> usize| {
        range.map(|d| f(&seen[&format!("dev{d}")])).sum::<usize>()
    };
    assert!(group_sum(21..=35, |s| s.downgraded) > 0, "kids downgraded");
    assert_eq!(group_sum(21..=35, |s| s.denied), 0, "kids are never denied");
    assert!(group_sum(36..=50, |s| s.denied) > 0, "guests denied");
    assert!(seen["dev7"].denied > 0, "dev7's own budget denies");
    assert_eq!(
        group_sum(1..=20, |s| s.denied),
        seen["dev7"].denied,
        "no other adult is denied"
    );

    // The upstreams' own counts: per device (their `user`) and per endpoint.
    let tallies: Vec<(&str, BTreeMap<String, Tally>)> =
        fakes.iter().map(|f| (f.name(), f.tallies())).collect();
    for (dev, lines) in &by_device {
        let mut upstream = Tally::default();
        let mut cloud_tokens = 0;
        for (name, t) in &tallies {
            let t = t.get(dev).copied().unwrap_or_default();
            upstream.requests += t.requests;
            upstream.usage_reports += t.usage_reports;
            upstream.prompt_tokens += t.prompt_tokens;
            upstream.completion_tokens += t.completion_tokens;
            if *name != "local" {
                cloud_tokens += t.prompt_tokens + t.completion_tokens;
            }
        }
        let ok: Vec<&&Settlement> = lines.iter().filter(|l| l.outcome == "ok").collect();
        let prompt: u64 = ok.iter().map(|l| l.tokens().0).sum();
        let completion: u64 = ok.iter().map(|l| l.tokens().1).sum();
        let cost: u64 = ok.iter().map(|l| parse_money(l.get("cost"))).sum();
        assert!(ok.iter().all(|l| !l.tokens().2), "{dev}: no estimates");
        assert_eq!(
            (upstream.requests, upstream.usage_reports),
            (ok.len() as u64, ok.len() as u64),
            "{dev}: requests the upstreams received and answered with usage"
        );
        assert_eq!(
            (upstream.prompt_tokens, upstream.completion_tokens),
            (prompt, completion),
            "{dev}: tokens the upstreams reported vs hearth's settlements"
        );
        assert_eq!(
            cost,
            cloud_tokens * MICROS_PER_TOKEN,
            "{dev}: spend = cloud tokens at the cloud's price"
        );
    }
    let endpoints = control(&h.dir().join("run"), "/endpoints").await;
    for (name, t) in &tallies {
        let requests: u64 = t.values().map(|t| t.requests).sum();
        let tokens: u64 = t
            .values()
            .map(|t| t.prompt_tokens + t.completion_tokens)
            .sum();
        let lines: Vec<&Settlement> = settled
            .iter()
            .filter(|s| s.get("endpoint") == *name)
            .collect();
        assert_eq!(
            lines.len() as u64,
            requests,
            "{name}: settlements vs received"
        );
        let e = endpoints["endpoints"]
            .as_array()
            .and_then(|l| l.iter().find(|e| e["name"] == *name))
            .unwrap_or_else(|| panic!("{name} in /endpoints: {endpoints}"));
        let price = if *name == "local" {
            0
        } else {
            MICROS_PER_TOKEN
        };
        assert_eq!(
            (e["requests"].as_u64(), e["errors"].as_u64()),
            (Some(requests), Some(0)),
            "{name}: {e}"
        );
        assert_eq!(e["tokens"].as_u64(), Some(tokens), "{name}: {e}");
        assert_eq!(e["cost"].as_u64(), Some(tokens * price), "{name}: {e}");
    }
    assert_eq!(
        tallies
            .iter()
            .flat_map(|(_, t)| t.values())
            .map(|t| t.requests)
            .sum::<u64>(),
        settled.iter().filter(|s| s.outcome == "ok").count() as u64,
        "every admitted request reached exactly one upstream"
    );
    // hearth's per-device totals since start.
    let devices_view = control(&h.dir().join("run"), "/devices").await;
    for d in devices_view["devices"].as_array().expect("devices") {
        let name = d["name"].as_str().unwrap_or_default();
        let Some(lines) = by_device.get(name) else {
            assert_eq!(d["llm_requests"], 0, "{d}");
            continue;
        };
        let tokens: u64 = lines.iter().map(|l| l.tokens().0 + l.tokens().1).sum();
        assert_eq!(d["llm_requests"].as_u64(), Some(lines.len() as u64), "{d}");
        assert_eq!(d["llm_tokens"].as_u64(), Some(tokens), "{d}");
    }

    // The ledgers: equal to the settlements, and no budget overspent.
    let usage = control(&h.dir().join("run"), "/usage").await;
    assert_ledger_reconciles(&usage, &settled, &BTreeMap::new(), "after 10,000 requests");
    for (scope, period, limit) in [
        ("group:kids", "month", kids_month),
        ("group:guests", "day", guests_day),
        ("device:dev7", "day", dev7_day),
    ] {
        let (spent, _) = ledger(&usage, scope, period);
        assert!(
            spent.money <= limit,
            "{scope} {period}: spent {} of {limit}",
            spent.money
        );
        assert!(spent.money > 0, "{scope} spent something");
    }
    assert_eq!(h.settlements().len(), total, "no request settled twice");
}

// === 4. disk full on the state dir ===

/// A tmpfs of `size` mounted on a directory for as long as this lives; unmounted on drop,
/// also when the test panics.
struct Tmpfs {
    /// The mount point.
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).expect("create the mount point");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount -t tmpfs on {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Something still holds it open (a daemon being killed): detach it now, it goes
            // when the last user does.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// A config whose ledger lives in `state` (saved every 10 s, the shortest interval) and whose
/// control socket is in `run`; devices 1..=4 in group `family`.
fn persistent(listen: SocketAddr, run: &Path, state: &Path, url: &str) -> String {
    let mut t = format!(
        "config agent 'main'\n\toption runtime_dir '{}'\n\toption state_dir '{}'\n\toption flush_interval '10'\n",
        run.display(),
        state.display()
    );
    t.push_str(&balancer_section(listen, &[]));
    t.push_str("config group 'family'\n\toption llm_month '1000'\n");
    t.push_str(&devices("family", 1..=4));
    t.push_str(&priced("cloud", url, &["m"], PRICE));
    t
}

/// The household's month spend in a ledger file's bytes, if they form a valid ledger (header
/// line with the data's length, then the JSON).
fn ledger_file_money(bytes: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (header, data) = text.split_once('\n')?;
    let len: usize = header
        .split(' ')
        .find_map(|p| p.strip_prefix("len="))?
        .parse()
        .ok()?;
    if !header.starts_with("hearth-ledger ") || data.len() != len {
        return None;
    }
    let v: Value = serde_json::from_str(data).ok()?;
    v["accounts"].as_array()?.iter().find_map(|a| {
        (a["scope"] == "household" && a["period"] == "month")
            .then(|| a["money_micro"].as_u64())
            .flatten()
    })
}

/// Writes `path` until its file system is full (ENOSPC); a 64 KiB tmpfs takes at most 16
/// pages.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("create the filler");
    let page = [0xa5u8; 4096];
    for _ in 0..64 {
        if let Err(e) = f.write_all(&page).and_then(|()| f.sync_all()) {
            assert_eq!(
                e.raw_os_error(),
                Some(28),
                "filling {}: {e}",
                path.display()
            );
            return;
        }
    }
    panic!("{} never filled up", path.display());
}

/// `n` non-streamed requests from device 1, each answered 200.
async fn spend(h: &Hearth, n: usize) {
    let mut client = None;
    for _ in 0..n {
        let (end, a) = exchange(&mut client, h.addr, 1, &body(1, false, "m"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(end, Ending::Complete, "{}", a.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_state_dir_is_reported_serving_continues_and_the_ledger_is_saved_once_space_returns()
{
    let test =
        "a_full_state_dir_is_reported_serving_continues_and_the_ledger_is_saved_once_space_returns";
    if !is_root() {
        eprintln!("SKIPPED {test}: needs root (mounts a 64 KiB tmpfs as the state dir to fill it)");
        return;
    }
    let up = FakeUpstream::start("cloud").await;
    let url = up.base_url();
    let root = tempfile::tempdir().expect("temporary directory");
    let state = root.path().join("state");
    let tmpfs = Tmpfs::mount(&state, "64k");
    let st = tmpfs.path.clone();
    let file = st.join("ledger.json");

    // A first run leaves a ledger (SIGTERM saves it).
    let h = Hearth::start(|s| persistent(s.listen, &s.dir.join("run"), &st, &url)).await;
    spend(&h, 3).await;
    let (status, lines) = h.terminate().await;
    assert!(status.success(), "{}", lines.join("\n"));
    let saved = std::fs::read(&file).expect("the first run saved a ledger");
    let saved_money = ledger_file_money(&saved).expect("a valid ledger");
    assert!(saved_money > 0);

    // Second run: fill the file system, spend, wait for the periodic save to fail.
    let h = Hearth::start(|s| persistent(s.listen, &s.dir.join("run"), &st, &url)).await;
    let filler = st.join("filler");
    fill(&filler);
    let mark = h.lines().len();
    spend(&h, 3).await;
    let settled = h.wait_settlements(3).await;
    let new_money: u64 = settled.iter().map(|s| parse_money(s.get("cost"))).sum();
    let (_, error) = h
        .wait_for_line(mark, Duration::from_secs(30), |l| {
            l.contains("cannot save the ledger")
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "no save error within two flush intervals; hearth said:\n{}",
                h.lines()[mark..].join("\n")
            )
        });
    assert!(error.starts_with("error: "), "{error}");
    assert!(
        error.contains(&st.display().to_string()) && error.contains("No space left on device"),
        "the error names the path and the OS error: {error}"
    );
    // Still serving, still counting; the last good ledger is untouched.
    spend(&h, 2).await;
    let settled = h.wait_settlements(5).await;
    let new_money2: u64 = settled.iter().map(|s| parse_money(s.get("cost"))).sum();
    assert!(new_money2 > new_money);
    let usage = control(&h.dir().join("run"), "/usage").await;
    assert_eq!(
        ledger(&usage, "household", "month").0.money,
        saved_money + new_money2,
        "in memory: the old ledger plus this run"
    );
    assert_eq!(
        std::fs::read(&file).expect("the ledger is still there"),
        saved,
        "the previous generation is not touched by a failed save"
    );
    assert!(
        !st.join("ledger.json.tmp").exists(),
        "a failed save leaves no partial copy holding the last bytes of the disk"
    );

    // Space returns: the next periodic save writes everything.
    std::fs::remove_file(&filler).expect("remove the filler");
    let want = saved_money + new_money2;
    let mut on_disk = None;
    for _ in 0..150 {
        on_disk = std::fs::read(&file)
            .ok()
            .and_then(|b| ledger_file_money(&b));
        if on_disk == Some(want) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        on_disk,
        Some(want),
        "saved once space returned; hearth said:\n{}",
        h.lines()[mark..].join("\n")
    );
    assert_eq!(
        std::fs::read(st.join("ledger.json.1")).ok(),
        Some(saved),
        "the last good copy became the previous generation"
    );

    // Full again at shutdown: the last save fails loudly, and the ledger on disk stays the
    // last good one, which the next start loads.
    let good = std::fs::read(&file).expect("the ledger");
    fill(&filler);
    spend(&h, 2).await;
    let _ = h.wait_settlements(7).await;
    let (_, lines) = h.terminate().await;
    assert!(
        lines.iter().any(|l| l.starts_with("error: ")
            && l.contains("cannot save the ledger")
            && l.contains("No space left on device")
            && l.contains("is lost")),
        "the failed save at shutdown is reported, and what it means:\n{}",
        lines.join("\n")
    );
    assert_eq!(
        std::fs::read(&file).ok(),
        Some(good),
        "a failed save at shutdown leaves the last good ledger"
    );
    std::fs::remove_file(&filler).expect("remove the filler");
    let h = Hearth::start(|s| persistent(s.listen, &s.dir.join("run"), &st, &url)).await;
    let usage = control(&h.dir().join("run"), "/usage").await;
    assert_eq!(ledger(&usage, "household", "month").0.money, want);
    assert!(
        !h.lines().iter().any(|l| l.contains("damaged")),
        "{}",
        h.lines().join("\n")
    );
    drop(h);
    drop(tmpfs);
}

// === 5. kill -9 under load, then restart ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_under_load_keeps_a_whole_ledger_and_the_restart_reconciles() {
    let up = FakeUpstream::start("cloud").await;
    up.set_recording(false);
    let url = up.base_url();
    let state = tempfile::tempdir().expect("temporary directory");
    let st = state.path().to_path_buf();
    let h = Hearth::start(|s| persistent(s.listen, &s.dir.join("run"), &st, &url)).await;
    // A request completed this long before the kill must be in the ledger: the flush
    // interval (10 s), the saver's tick (1 s) and a second of slack.
    let saved_within = Duration::from_secs(12);
    let kill_after = Duration::from_secs(14);
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    // Devices 1 and 2 stream, 3 and 4 do not: each device's requests cost the same.
    for device in 1..=4u8 {
        for _ in 0..2 {
            let (addr, stop) = (h.addr, stop.clone());
            load.push(tokio::spawn(async move {
                let mut client = None;
                let mut done: Vec<Instant> = Vec::new();
                for _ in 0..5_000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let b = body(device, device <= 2, "m");
                    match exchange(&mut client, addr, device, &b).await {
                        Ok((Ending::Complete, _)) => done.push(Instant::now()),
                        // Killed under our feet: the end of this worker.
                        _ if stop.load(Ordering::SeqCst) => break,
                        Ok((e, a)) => panic!("dev{device}: {e:?} {}", a.text()),
                        Err(why) => panic!("dev{device}: {why}"),
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (device, done)
            }));
        }
    }
    tokio::time::sleep(kill_after.saturating_sub(started.elapsed())).await;
    stop.store(true, Ordering::SeqCst);
    let killed_at = Instant::now();
    h.signal("KILL");
    // Every line hearth wrote before it died: wait for the end of its stderr.
    let _ = h.wait_for_line(0, HANG, |_| false).await;
    let settled_before = h.settlements();
    let mut done: BTreeMap<u8, Vec<Instant>> = BTreeMap::new();
    for task in load {
        let (device, d) = tokio::time::timeout(HANG, task)
            .await
            .expect("workers end after the kill")
            .expect("a load task panicked");
        done.entry(device).or_default().extend(d);
    }
    drop(h);

    let h = Hearth::start(|s| persistent(s.listen, &s.dir.join("run"), &st, &url)).await;
    let lines = h.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ledger.json (") && l.contains("accounts)")),
        "the restart loaded the ledger:\n{}",
        lines.join("\n")
    );
    assert!(
        !lines.iter().any(|l| l.contains("damaged")),
        "{}",
        lines.join("\n")
    );
    let usage = control(&h.dir().join("run"), "/usage").await;
    let mut base = BTreeMap::new();
    for device in 1..=4u8 {
        let name = format!("dev{device}");
        let mine: Vec<&Settlement> = settled_before
            .iter()
            .filter(|s| s.get("device") == name)
            .collect();
        assert!(!mine.is_empty(), "{name} settled requests before the kill");
        let cost = parse_money(mine[0].get("cost"));
        assert!(
            mine.iter().all(|s| parse_money(s.get("cost")) == cost),
            "{name}: every request costs the same"
        );
        let (loaded, _) = ledger(&usage, &format!("device:{name}"), "month");
        let old = done[&device]
            .iter()
            .filter(|t| killed_at.duration_since(**t) > saved_within)
            .count() as u64;
        eprintln!(
            "{name}: {} settled before the kill, {} in the ledger, {old} completed over {saved_within:?} before the kill",
            mine.len(),
            loaded.requests
        );
        assert_eq!(
            loaded.money,
            loaded.requests * cost,
            "{name}: the ledger holds whole requests"
        );
        assert!(
            loaded.requests <= mine.len() as u64,
            "{name}: {} saved, only {} settled",
            loaded.requests,
            mine.len()
        );
        assert!(
            loaded.requests >= old,
            "{name}: {} saved, but {old} completed over {saved_within:?} before the kill",
            loaded.requests
        );
        base.insert(format!("device:{name}"), loaded);
    }
    base.insert(
        "group:family".into(),
        ledger(&usage, "group:family", "month").0,
    );
    base.insert("household".into(), ledger(&usage, "household", "month").0);
    // The restarted ledger keeps counting exactly.
    for device in 1..=4u8 {
        let mut client = None;
        for _ in 0..10 {
            let b = body(device, device <= 2, "m");
            let (end, a) = exchange(&mut client, h.addr, device, &b)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(end, Ending::Complete, "{}", a.text());
        }
    }
    let settled = exactly_settled(&h, 40).await;
    let usage = control(&h.dir().join("run"), "/usage").await;
    let mut expected = base.clone();
    for (scope, s) in charges_by_scope(&settled) {
        expected.entry(scope).or_default().add(s);
    }
    for (scope, want) in &expected {
        assert_eq!(
            ledger(&usage, scope, "month").0,
            *want,
            "{scope}: loaded ledger plus this run's settlements"
        );
    }
}
