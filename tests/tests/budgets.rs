//! Budgets end to end: the real `hearth` binary between real clients (each device is its own
//! 127.0.0.0/8 source address) and fake upstreams on loopback.
//!
//! - racing requests from five devices never overspend a group budget, and every refusal is
//!   an OpenAI-shaped 429 that names the budget;
//! - a used-up budget with `on_exhaust downgrade` sends requests to the downgrade route;
//! - streamed usage is counted even when the client did not ask for it, and an upstream
//!   that reports none is charged an estimate;
//! - spending survives a restart, `kill -9` loses at most one flush interval and never
//!   leaves an unreadable ledger, and a damaged ledger falls back to the previous copy.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hearth_e2e::client::{chat_body, Client, CHAT};
use hearth_e2e::daemon::{balancer_section, endpoint_section, Hearth};
use hearth_e2e::fake_upstream::{Behaviour, FakeUpstream, UsageMode};
use hearth_e2e::hearth_bin;
use serde_json::Value;

/// Prices (per 1M tokens) that make every token cost 1000 micro-units (0.001).
const PRICE: &str = "1000";
const MICROS_PER_TOKEN: u64 = 1000;

fn device_ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 10 + n))
}

/// `config device` sections for devices 1..=n of `group`, known by their loopback address.
fn devices(group: &str, first: u8, n: u8) -> String {
    (first..first + n)
        .map(|i| {
            format!(
                "config device 'dev{i}'\n\toption mac '02:00:00:00:00:{i:02x}'\n\tlist ip '{}'\n\toption group '{group}'\n",
                device_ip(i)
            )
        })
        .collect()
}

/// `hearth usage --json` for `config` (from the agent when it runs, else the ledger file).
fn usage(config: &Path, extra: &[&str]) -> Value {
    let out = Command::new(hearth_bin())
        .args(["usage", "--json", "--config"])
        .arg(config)
        .args(extra)
        .output()
        .expect("run hearth usage");
    assert!(
        out.status.success(),
        "hearth usage failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("usage JSON")
}

/// The row of `scope`/`period`/`metric`.
fn row<'a>(u: &'a Value, scope: &str, period: &str, metric: &str) -> &'a Value {
    u["rows"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["scope"] == scope && r["period"] == period && r["metric"] == metric)
        })
        .unwrap_or_else(|| panic!("no {scope} {period} {metric} row in {u}"))
}

/// A chat request with `max_tokens` from `device` (1-based); returns the status, the
/// headers we look at and the body.
async fn ask(
    addr: std::net::SocketAddr,
    device: u8,
    body: &str,
) -> (u16, Option<String>, Option<String>, Value) {
    let mut c = Client::connect_from(addr, device_ip(device)).await;
    let a = c.send("POST", CHAT, &[], body).await.expect("answered");
    let text = a.text();
    let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (
        a.status,
        a.header("x-hearth-downgraded").map(str::to_owned),
        a.header("retry-after").map(str::to_owned),
        json,
    )
}

fn body_with_cap(model: &str, max_tokens: u64) -> String {
    serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": max_tokens,
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_requests_from_five_devices_never_overspend_the_group_budget() {
    let up = FakeUpstream::start("cloud").await;
    // Every request waits upstream long enough for all 200 to arrive while the first ones
    // still hold their reservations.
    up.set_default(Behaviour::StallBeforeHeaders(Duration::from_secs(3)));
    let body = body_with_cap("m", 10);
    // Worst case: body/3 input tokens + 10 output, at 0.001 a token.
    let worst = (body.len() as u64).div_ceil(3) + 10;
    let budget_micros = 20 * worst * MICROS_PER_TOKEN; // about 20 worst cases
    let budget = format!(
        "{}.{:06}",
        budget_micros / 1_000_000,
        budget_micros % 1_000_000
    );
    let h = Hearth::start(|s| {
        let mut t = balancer_section(s.listen, &[]);
        t.push_str(&format!(
            "config group 'family'\n\toption llm_month '{budget}'\n"
        ));
        t.push_str(&devices("family", 1, 5));
        t.push_str(&endpoint_section(
            "cloud",
            &up.base_url(),
            &["m"],
            &[("price_input", PRICE), ("price_output", PRICE)],
        ));
        t
    })
    .await;
    let addr = h.addr;
    let tasks: Vec<_> = (0..200u32)
        .map(|i| {
            let body = body.clone();
            tokio::spawn(async move { ask(addr, (i % 5 + 1) as u8, &body).await })
        })
        .collect();
    let mut admitted = 0u64;
    let mut refused = 0u64;
    for t in tasks {
        let (status, _, retry_after, json) = t.await.expect("task");
        match status {
            200 => admitted += 1,
            429 => {
                refused += 1;
                assert_eq!(json["error"]["code"], "budget_exhausted", "{json}");
                assert_eq!(json["error"]["type"], "insufficient_quota", "{json}");
                assert_eq!(
                    json["error"]["budget"]["name"],
                    "llm_month of group 'family'"
                );
                let m = json["error"]["message"].as_str().unwrap_or("");
                assert!(
                    m.contains("llm_month of group 'family'") && m.contains("resets at"),
                    "{m}"
                );
                assert!(retry_after.is_some_and(|r| r.parse::<u64>().is_ok_and(|s| s > 0)));
            }
            other => panic!("unexpected status {other}: {json}"),
        }
    }
    assert_eq!(admitted + refused, 200);
    // All raced in while the first held their worst cases: exactly 20 fit.
    assert_eq!(admitted, 20, "admitted {admitted} of 200");
    let settled = h.wait_settlements(200).await;
    assert_eq!(
        settled
            .iter()
            .filter(|s| s.outcome == "over_budget")
            .count() as u64,
        refused
    );
    // Each really cost less than its worst case: what is left is used one request at a time
    // until less than a worst case remains.
    up.set_default(Behaviour::Ok);
    let mut later = 0;
    for _ in 0..50 {
        let (status, _, _, json) = ask(addr, 1, &body).await;
        if status == 429 {
            assert_eq!(
                json["error"]["budget"]["name"],
                "llm_month of group 'family'"
            );
            break;
        }
        assert_eq!(status, 200, "{json}");
        later += 1;
    }
    admitted += later;
    let settled = h.wait_settlements(200 + later as usize + 1).await;
    let spent: u64 = settled
        .iter()
        .filter(|s| s.outcome == "ok")
        .map(|s| hearth_e2e::daemon::parse_money(s.get("cost")))
        .sum();
    assert!(spent <= budget_micros, "spent {spent} of {budget_micros}");
    assert!(
        budget_micros - spent < worst * MICROS_PER_TOKEN,
        "the budget is used up to the last worst case: spent {spent} of {budget_micros}"
    );
    // The ledger agrees with the settlements, and nothing is held any more.
    let u = usage(h.config_path(), &["--group", "family"]);
    assert_eq!(u["source"], "daemon");
    let r = row(&u, "group:family", "month", "money");
    assert_eq!(r["spent"], spent, "{r}");
    assert_eq!(r["reserved"], 0, "{r}");
    assert_eq!(r["requests"], admitted, "{r}");
    assert_eq!(
        r["exhausted"], false,
        "a little is left, less than a worst case: {r}"
    );
}

#[tokio::test]
async fn a_used_up_budget_denies_or_downgrades_as_the_group_says() {
    let cloud = FakeUpstream::start("cloud").await;
    let local = FakeUpstream::start("local").await;
    let body = body_with_cap("gpt", 20);
    let worst = ((body.len() as u64).div_ceil(3) + 20) * MICROS_PER_TOKEN;
    // Room for exactly two worst cases in each group.
    let budget = format!("0.{:06}", 2 * worst);
    let h = Hearth::start(|s| {
        let mut t = balancer_section(s.listen, &[]);
        t.push_str(&format!(
            "config group 'kids'\n\toption llm_month '{budget}'\n\toption on_exhaust 'downgrade'\n\toption downgrade_route 'fallback'\n\
             config group 'adults'\n\toption llm_day '{budget}'\n"
        ));
        t.push_str(&devices("kids", 1, 1));
        t.push_str(&devices("adults", 2, 1));
        t.push_str(&endpoint_section(
            "cloud",
            &cloud.base_url(),
            &["gpt"],
            &[("price_input", PRICE), ("price_output", PRICE)],
        ));
        t.push_str(&endpoint_section(
            "local",
            &local.base_url(),
            &["llama"],
            &[("price_input", "0"), ("price_output", "0")],
        ));
        t.push_str("config route 'fallback'\n\toption match_model 'cheap'\n\tlist endpoint 'local'\n\toption model 'llama3.2'\n");
        t
    })
    .await;
    // Kids: one request fits two worst cases... then three real ones, then the local model.
    let mut downgraded = 0;
    for _ in 0..6 {
        let (status, down, _, json) = ask(h.addr, 1, &body).await;
        assert_eq!(status, 200, "{json}");
        if let Some(d) = down {
            assert_eq!(d, "llm_month of group 'kids'");
            assert!(json["choices"][0]["message"]["content"]
                .as_str()
                .is_some_and(|c| c.contains("local")));
            downgraded += 1;
        }
    }
    assert!(downgraded >= 3, "downgraded {downgraded} of 6");
    let sent_local = local.requests();
    assert_eq!(sent_local.len(), downgraded);
    assert!(
        sent_local
            .iter()
            .all(|r| r.model.as_deref() == Some("llama3.2")),
        "the route's model is sent"
    );
    // Adults: deny, with the day budget named and a Retry-After until local midnight.
    let mut denied = None;
    let mut asked_adults = 0;
    for _ in 0..6 {
        let (status, _, retry, json) = ask(h.addr, 2, &body).await;
        asked_adults += 1;
        if status == 429 {
            denied = Some((retry, json));
            break;
        }
        assert_eq!(status, 200, "{json}");
    }
    let (retry, json) = denied.expect("the adults' day budget runs out");
    assert_eq!(
        json["error"]["budget"]["name"], "llm_day of group 'adults'",
        "{json}"
    );
    assert_eq!(json["error"]["budget"]["period"], "day");
    let secs: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=86_400).contains(&secs), "{secs}");
    // Every request is settled, the refused one too; its log line may trail the answer.
    let settled = h.wait_settlements(6 + asked_adults).await;
    assert!(settled
        .iter()
        .any(|s| s.outcome == "over_budget" && s.get("group") == "adults"));
    assert!(settled
        .iter()
        .filter(|s| s.fields.contains_key("downgraded"))
        .all(|s| s.get("endpoint") == "local"));
}

#[tokio::test]
async fn streamed_usage_is_counted_and_a_missing_one_is_estimated() {
    let up = FakeUpstream::start("cloud").await;
    let h = Hearth::start(|s| {
        let mut t = balancer_section(s.listen, &[]);
        t.push_str("config group 'kids'\n\toption llm_tokens_day '1000000'\n");
        t.push_str(&devices("kids", 1, 1));
        t.push_str(&endpoint_section(
            "cloud",
            &up.base_url(),
            &["m"],
            &[("price_input", PRICE), ("price_output", PRICE)],
        ));
        t
    })
    .await;
    // A stream whose client did not ask for usage: hearth asks upstream anyway.
    up.push(Behaviour::stream(4, Duration::from_millis(5)));
    let (status, ..) = ask(h.addr, 1, &chat_body("m", true, None)).await;
    assert_eq!(status, 200);
    assert!(up.requests()[0].include_usage(), "usage asked upstream");
    // An upstream that never reports usage in streams: an estimate, marked as such.
    up.push(Behaviour::Stream {
        chunks: 4,
        delay: Duration::from_millis(5),
        usage: UsageMode::Never,
    });
    let (status, ..) = ask(h.addr, 1, &chat_body("m", true, Some(true))).await;
    assert_eq!(status, 200);
    let s = h.wait_settlements(2).await;
    let (p0, c0, est0) = s[0].tokens();
    let (p1, c1, est1) = s[1].tokens();
    assert!(!est0 && est1, "{:?} / {:?}", s[0].line, s[1].line);
    assert!(p0 > 0 && c0 > 0 && p1 > 0 && c1 > 0);
    let u = usage(h.config_path(), &["--device", "dev1"]);
    let tokens = row(&u, "group:kids", "day", "tokens");
    assert_eq!(tokens["spent"], p0 + c0 + p1 + c1, "{tokens}");
    let money = row(&u, "device:dev1", "month", "money");
    assert_eq!(
        money["spent"],
        (p0 + c0 + p1 + c1) * MICROS_PER_TOKEN,
        "{money}"
    );
}

/// A config for the persistence tests: ledger in `state`, saved every 10 s.
fn persistent(listen: std::net::SocketAddr, run: &Path, state: &Path, up: &str) -> String {
    let mut t = format!(
        "config agent 'main'\n\toption runtime_dir '{}'\n\toption state_dir '{}'\n\toption flush_interval '10'\n",
        run.display(),
        state.display()
    );
    t.push_str(&balancer_section(listen, &[]));
    t.push_str("config group 'family'\n\toption llm_month '1000'\n");
    t.push_str(&devices("family", 1, 1));
    t.push_str(&endpoint_section(
        "cloud",
        up,
        &["m"],
        &[("price_input", PRICE), ("price_output", PRICE)],
    ));
    t
}

#[tokio::test]
async fn spending_survives_a_restart_and_a_damaged_ledger_falls_back() {
    let up = FakeUpstream::start("cloud").await;
    let state = tempfile::tempdir().unwrap();
    let st = state.path().to_path_buf();
    let url = up.base_url();
    let h = Hearth::start(|s| persistent(s.listen, &s.dir.join("run"), &st, &url)).await;
    for _ in 0..3 {
        assert_eq!(ask(h.addr, 1, &body_with_cap("m", 5)).await.0, 200);
    }
    let before = usage(h.config_path(), &[]);
    let spent = row(&before, "group:family", "month", "money")["spent"].clone();
    assert!(spent.as_u64().unwrap() > 0);
    let cfg = state.path().join("hearth.conf");
    std::fs::copy(h.config_path(), &cfg).unwrap();
    let (status, lines) = h.terminate().await;
    assert!(status.success(), "{}", lines.join("\n"));
    // SIGTERM saved the ledger: the offline reader sees the same spend.
    let offline = usage(&cfg, &[]);
    assert_eq!(offline["source"], "ledger");
    assert_eq!(
        row(&offline, "group:family", "month", "money")["spent"],
        spent
    );
    // Spend once more, save again (two generations), then tear the newest copy.
    let h = Hearth::start(|s| persistent(s.listen, &s.dir.join("run"), &st, &url)).await;
    assert_eq!(
        row(
            &usage(h.config_path(), &[]),
            "group:family",
            "month",
            "money"
        )["spent"],
        spent
    );
    assert_eq!(ask(h.addr, 1, &body_with_cap("m", 5)).await.0, 200);
    let (status, _) = h.terminate().await;
    assert!(status.success());
    let ledger = st.join("ledger.json");
    let bytes = std::fs::read(&ledger).unwrap();
    std::fs::write(&ledger, &bytes[..bytes.len() / 2]).unwrap();
    let h = Hearth::start(|s| persistent(s.listen, &s.dir.join("run"), &st, &url)).await;
    let lines = h.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ledger.json is damaged") && l.contains("torn write")),
        "{}",
        lines.join("\n")
    );
    assert!(st.join("ledger.json.corrupt").exists());
    // The previous generation: what was spent before the last run, never zero.
    assert_eq!(
        row(
            &usage(h.config_path(), &[]),
            "group:family",
            "month",
            "money"
        )["spent"],
        spent
    );
}

#[tokio::test]
async fn kill_dash_nine_loses_at_most_one_flush_interval_and_never_the_file() {
    let up = FakeUpstream::start("cloud").await;
    let state = tempfile::tempdir().unwrap();
    let st = state.path().to_path_buf();
    let url = up.base_url();
    let body = body_with_cap("m", 5);
    // A request settled this long before the kill must be in the ledger: the flush interval
    // (10 s), the saver's tick (1 s) and a second of slack.
    let saved_within = Duration::from_secs(12);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut total_requests = 0usize;
    for run in 0..2 {
        let h = Hearth::start(|s| persistent(s.listen, &s.dir.join("run"), &st, &url)).await;
        let base = row(
            &usage(h.config_path(), &[]),
            "group:family",
            "month",
            "money",
        )["spent"]
            .as_u64()
            .unwrap();
        // A pseudo-random kill point (fixed seed), 11 to 16 s into the run.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let kill_after = Duration::from_millis(11_000 + seed % 5_000);
        let started = Instant::now();
        let mut completed: Vec<Instant> = Vec::new();
        while started.elapsed() < kill_after && total_requests < 1000 {
            let (status, ..) = ask(h.addr, 1, &body).await;
            assert_eq!(status, 200);
            completed.push(Instant::now());
            total_requests += 1;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let settled = h.wait_settlements(completed.len()).await;
        let cost = hearth_e2e::daemon::parse_money(settled[0].get("cost"));
        assert!(settled
            .iter()
            .all(|s| s.get("cost") == settled[0].get("cost")));
        let cfg = state.path().join("hearth.conf");
        std::fs::copy(h.config_path(), &cfg).unwrap();
        let killed_at = Instant::now();
        h.signal("KILL");
        drop(h);
        // Always a readable ledger, holding whole requests only, none invented, none lost
        // that settled more than a flush interval before the kill.
        let offline = usage(&cfg, &[]);
        assert_eq!(offline["source"], "ledger", "run {run}");
        let loaded = row(&offline, "group:family", "month", "money")["spent"]
            .as_u64()
            .unwrap();
        let old = completed
            .iter()
            .filter(|t| killed_at.duration_since(**t) > saved_within)
            .count() as u64;
        let n = completed.len() as u64;
        assert!(loaded >= base, "run {run}: the ledger went back");
        assert_eq!((loaded - base) % cost, 0, "run {run}: whole requests only");
        let saved = (loaded - base) / cost;
        eprintln!(
            "run {run}: killed after {kill_after:?}; {n} settled, {saved} in the ledger, {old} settled over {saved_within:?} before the kill"
        );
        assert!(saved <= n, "run {run}: {saved} saved of {n} settled");
        assert!(
            saved >= old,
            "run {run}: {saved} saved, but {old} settled over {saved_within:?} before the kill"
        );
    }
    assert!(total_requests <= 1000);
}
