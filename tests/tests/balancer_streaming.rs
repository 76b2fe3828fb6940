//! The LLM balancer's streaming and settlement end to end, with the real `hearth` binary
//! between a real client and fake upstreams on 127.0.0.1.
//!
//! Streaming: every server-sent event reaches the client as its own frame, after the upstream
//! sent it and before the upstream sends the next one (nothing is buffered or coalesced).
//! Settlement: every finished request ends in one `llm` log line with who asked, who answered,
//! the tokens (the upstream's real counts, estimated only when it gave none), the cost at the
//! endpoint's prices, bytes, times and failovers — also when the client walked away.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hearth_e2e::client::{call, chat, chat_body, Answer, Client, CHAT, PATIENCE};
use hearth_e2e::daemon::{
    balancer_section, cost_micros, endpoint_section, format_money, Hearth, Settlement,
};
use hearth_e2e::fake_upstream::{Behaviour, FakeUpstream, UsageMode};
use serde_json::json;

/// Prices of `alpha` in the settlement tests (per 1M tokens), and in micro-units.
const ALPHA_PRICES: (&str, &str) = ("1", "2");
const ALPHA_MICROS: (u64, u64) = (1_000_000, 2_000_000);
/// Prices of `beta`: fractions, so the cost needs rounding up to a micro-unit.
const BETA_PRICES: (&str, &str) = ("0.15", "0.6");
const BETA_MICROS: (u64, u64) = (150_000, 600_000);

/// hearth with `alpha` (model `m`, prices 1/2) and `beta` (model `m2`, prices 0.15/0.6).
async fn priced(alpha: &FakeUpstream, beta: &FakeUpstream) -> Hearth {
    let (a, b) = (alpha.base_url(), beta.base_url());
    Hearth::start(|s| {
        format!(
            "{}{}{}",
            balancer_section(s.listen, &[]),
            endpoint_section(
                "alpha",
                &a,
                &["m", "emb"],
                &[
                    ("price_input", ALPHA_PRICES.0),
                    ("price_output", ALPHA_PRICES.1)
                ]
            ),
            endpoint_section(
                "beta",
                &b,
                &["m2"],
                &[
                    ("price_input", BETA_PRICES.0),
                    ("price_output", BETA_PRICES.1)
                ]
            ),
        )
    })
    .await
}

/// `prompt_tokens` the fake charges for the body it received.
fn fake_prompt_tokens(up: &FakeUpstream, request: usize) -> u64 {
    (up.requests()[request].body.len() as u64).div_ceil(4)
}

/// A time field (`ttfb=`, `duration=`) as seconds.
fn seconds(s: &Settlement, key: &str) -> f64 {
    let v = s.get(key);
    v.strip_suffix('s')
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{key}={v} is not seconds in {:?}", s.line))
}

/// Content frames of a streamed answer (frames holding a content chunk), with arrival times.
fn content_frames(a: &Answer) -> Vec<&(Instant, Bytes)> {
    a.frames
        .iter()
        .filter(|(_, b)| String::from_utf8_lossy(b).contains(":tok"))
        .collect()
}

// === zero-buffer streaming ===

#[tokio::test]
async fn every_event_reaches_the_client_before_the_upstream_sends_the_next() {
    let alpha = FakeUpstream::start("alpha").await;
    let a = alpha.base_url();
    let h = Hearth::start(|s| {
        format!(
            "{}{}",
            balancer_section(s.listen, &[]),
            endpoint_section("alpha", &a, &["m"], &[])
        )
    })
    .await;
    let chunks = 4;
    let delay = Duration::from_millis(300);
    // Without and with include_usage: the filtering and the pass-through paths of the relay.
    for (n, include_usage) in [None, Some(true)].into_iter().enumerate() {
        alpha.push(Behaviour::stream(chunks, delay));
        let answer = chat(h.addr, &chat_body("m", true, include_usage)).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.events().last().map(String::as_str), Some("[DONE]"));
        let sent = &alpha.requests()[n].events;
        assert_eq!(
            sent.len(),
            1 + chunks + 1 + 1 + 1,
            "role, contents, finish, usage, [DONE]"
        );
        let frames = content_frames(&answer);
        assert_eq!(
            frames.len(),
            chunks,
            "one frame per content chunk: {:?}",
            answer.frames
        );
        for (i, (received, bytes)) in frames.iter().enumerate() {
            let text = String::from_utf8_lossy(bytes);
            assert_eq!(
                text.matches("data: ").count(),
                1,
                "chunk {i} coalesced: {text:?}"
            );
            assert_eq!(
                text,
                format!("data: {}\n\n", sent[1 + i].data),
                "chunk {i} unchanged"
            );
            assert!(
                *received >= sent[1 + i].at,
                "chunk {i} received before it was sent?"
            );
            if i + 1 < chunks {
                assert!(
                    *received < sent[2 + i].at,
                    "chunk {i} was held back until the upstream sent chunk {}",
                    i + 1
                );
            }
        }
        // The role chunk too: before the first content chunk was even sent.
        let role = answer
            .frames
            .iter()
            .find(|(_, b)| String::from_utf8_lossy(b).contains("\"role\""))
            .expect("role chunk");
        assert!(role.0 < sent[1].at, "the role chunk was held back");
    }
}

// === settlement ===

#[tokio::test]
async fn a_settlement_line_says_who_asked_who_answered_and_what_it_cost() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let h = priced(&alpha, &beta).await;

    let body = chat_body("m", false, None);
    let answer = chat(h.addr, &body).await;
    assert_eq!(answer.status, 200);
    let s = h.wait_settlements(1).await.remove(0);
    assert_eq!(
        (s.level.as_str(), s.outcome.as_str()),
        ("info", "ok"),
        "{}",
        s.line
    );
    assert!(s.line.starts_with("info: llm ok "), "{}", s.line);
    assert_eq!(s.get("client"), "127.0.0.1");
    assert_eq!(s.get("device"), "-");
    assert_eq!(s.get("group"), "default");
    assert_eq!(s.get("endpoint"), "alpha");
    assert_eq!(s.get("model"), "m");
    let prompt = fake_prompt_tokens(&alpha, 0);
    assert_eq!(s.tokens(), (prompt, 3, false), "{}", s.line);
    assert_eq!(answer.json()["usage"]["prompt_tokens"], prompt);
    let cost = cost_micros(ALPHA_MICROS.0, ALPHA_MICROS.1, prompt, 3);
    assert_eq!(
        cost,
        prompt + 6,
        "1 and 2 per 1M tokens are 1 and 2 micro-units per token"
    );
    assert_eq!(s.get("cost"), format_money(cost), "{}", s.line);
    assert_eq!(
        alpha.requests()[0].body.len(),
        body.len(),
        "sent upstream as received"
    );
    assert_eq!(
        s.bytes(),
        (body.len() as u64, answer.body().len() as u64),
        "{}",
        s.line
    );
    let (ttfb, duration) = (seconds(&s, "ttfb"), seconds(&s, "duration"));
    assert!(ttfb >= 0.0 && ttfb <= duration, "{}", s.line);
    assert!(
        duration < PATIENCE.as_secs_f64(),
        "sanity bound: {}",
        s.line
    );
    assert_eq!(s.failovers(), 0);

    // Fractional prices: the cost is rounded up to a micro-unit.
    let answer = chat(h.addr, &chat_body("m2", false, None)).await;
    assert_eq!(answer.status, 200);
    let s = h.wait_settlements(2).await.remove(1);
    let prompt = fake_prompt_tokens(&beta, 0);
    assert_eq!(
        (s.get("endpoint"), s.tokens()),
        ("beta", (prompt, 3, false))
    );
    let exact = BETA_MICROS.0 * prompt + BETA_MICROS.1 * 3;
    let cost = cost_micros(BETA_MICROS.0, BETA_MICROS.1, prompt, 3);
    assert_eq!(cost, exact.div_ceil(1_000_000));
    assert_eq!(s.get("cost"), format_money(cost), "{}", s.line);

    // Embeddings: input tokens only.
    let emb = call(
        h.addr,
        "POST",
        "/v1/embeddings",
        &[],
        r#"{"model":"emb","input":"abc"}"#,
    )
    .await
    .expect("answered");
    assert_eq!(emb.status, 200);
    let s = h.wait_settlements(3).await.remove(2);
    let prompt = fake_prompt_tokens(&alpha, 1);
    assert_eq!(
        (s.get("model"), s.tokens()),
        ("emb", (prompt, 0, false)),
        "{}",
        s.line
    );
    assert_eq!(
        s.get("cost"),
        format_money(cost_micros(ALPHA_MICROS.0, ALPHA_MICROS.1, prompt, 0))
    );
}

#[tokio::test]
async fn a_stream_is_settled_with_the_upstreams_usage_even_when_the_client_did_not_ask() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let h = priced(&alpha, &beta).await;
    for (n, include_usage) in [None, Some(false), Some(true)].into_iter().enumerate() {
        alpha.push(Behaviour::stream(5, Duration::ZERO));
        let answer = chat(h.addr, &chat_body("m", true, include_usage)).await;
        assert_eq!(answer.status, 200);
        let usage_chunks = answer
            .chunks()
            .iter()
            .filter(|c| c["choices"] == json!([]))
            .count();
        assert_eq!(usage_chunks, usize::from(include_usage == Some(true)));
        let s = h.wait_settlements(n + 1).await.remove(n);
        let prompt = fake_prompt_tokens(&alpha, n);
        assert_eq!(s.outcome, "ok", "{}", s.line);
        assert_eq!(
            s.tokens(),
            (prompt, 5, false),
            "real counts, not estimated: {}",
            s.line
        );
        let cost = cost_micros(ALPHA_MICROS.0, ALPHA_MICROS.1, prompt, 5);
        assert_eq!(s.get("cost"), format_money(cost), "{}", s.line);
        assert_eq!(
            s.bytes().1,
            answer.body().len() as u64,
            "bytes down: {}",
            s.line
        );
    }
}

#[tokio::test]
async fn an_upstream_that_reports_no_usage_is_settled_with_an_estimate() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let h = priced(&alpha, &beta).await;
    alpha.push(Behaviour::Stream {
        chunks: 4,
        delay: Duration::ZERO,
        usage: UsageMode::Never,
    });
    let answer = chat(h.addr, &chat_body("m", true, Some(true))).await;
    assert_eq!(answer.events().last().map(String::as_str), Some("[DONE]"));
    let s = h.wait_settlements(1).await.remove(0);
    let (prompt, completion, estimated) = s.tokens();
    assert!(estimated, "marked (estimated): {}", s.line);
    assert!(s.get("tokens").ends_with("(estimated)"));
    assert!(prompt > 0 && completion > 0, "{}", s.line);
    assert_eq!(s.outcome, "ok");

    // A JSON answer without usage, too.
    let bare = json!({"id": "x", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "four words right here"}, "finish_reason": "stop"}]});
    alpha.push(Behaviour::Status {
        code: 200,
        retry_after: None,
        body: Some(bare.to_string()),
    });
    let answer = chat(h.addr, &chat_body("m", false, None)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), bare);
    let s = h.wait_settlements(2).await.remove(1);
    let (prompt, completion, estimated) = s.tokens();
    assert!(estimated && prompt > 0 && completion > 0, "{}", s.line);
    let cost = cost_micros(ALPHA_MICROS.0, ALPHA_MICROS.1, prompt, completion);
    assert_eq!(
        s.get("cost"),
        format_money(cost),
        "estimates are priced too: {}",
        s.line
    );
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_is_settled_as_client_gone() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let h = priced(&alpha, &beta).await;
    let chunks = 20;
    alpha.push(Behaviour::stream(chunks, Duration::from_millis(100)));
    let started = Instant::now();
    let mut client = Client::connect(h.addr).await;
    let mut opened = client
        .open("POST", CHAT, &[], &chat_body("m", true, None))
        .await
        .expect("answered");
    assert_eq!(opened.status, 200);
    let mut got = String::new();
    while !got.contains("alpha:tok1 ") {
        let frame = opened
            .next_frame()
            .await
            .expect("no error")
            .expect("more frames");
        got.push_str(&String::from_utf8_lossy(&frame));
    }
    drop(opened);
    drop(client);

    let s = h.wait_settlements(1).await.remove(0);
    assert_eq!(
        (s.level.as_str(), s.outcome.as_str()),
        ("info", "client_gone"),
        "{}",
        s.line
    );
    assert_eq!(s.get("endpoint"), "alpha");
    let (_, down) = s.bytes();
    assert!(
        down >= got.len() as u64,
        "bytes down counts what was sent: {}",
        s.line
    );

    // The upstream stream is abandoned too: it never gets to its end.
    let full = 1 + chunks + 1 + 1 + 1;
    let end = started + Duration::from_millis(100) * chunks as u32 + Duration::from_secs(1);
    tokio::time::sleep_until(end.into()).await;
    let sent = alpha.requests()[0].events.len();
    assert!(
        sent < full,
        "hearth kept reading the upstream after the client left ({sent} events)"
    );
}

#[tokio::test]
async fn a_client_that_leaves_before_the_first_byte_is_still_settled() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let h = priced(&alpha, &beta).await;
    alpha.push(Behaviour::StallBeforeHeaders(Duration::from_secs(3)));
    let addr = h.addr;
    let client =
        tokio::spawn(
            async move { call(addr, "POST", CHAT, &[], &chat_body("m", true, None)).await },
        );
    assert!(
        alpha.wait_served(1, PATIENCE).await,
        "the request reached the upstream"
    );
    client.abort();
    let _ = client.await;
    let s = h.wait_settlements(1).await.remove(0);
    assert_eq!(s.level, "info", "a client leaving is routine: {}", s.line);
    assert_eq!(s.outcome, "client_gone", "{}", s.line);
    assert_eq!(s.get("endpoint"), "alpha");
}
