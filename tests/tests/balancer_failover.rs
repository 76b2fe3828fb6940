//! The LLM balancer's failure handling end to end, with the real `hearth` binary between a
//! real client and fake upstreams on 127.0.0.1.
//!
//! Before the first byte reaches the client, a refused connection, an upstream that closes
//! without answering, a 5xx or a 429 sends the request to the next upstream (up to
//! `1 + retries` attempts) and the client sees a normal answer; other 4xx are passed through.
//! When every attempt fails the client gets an OpenAI-shaped 429 / 5xx / 504. After the first
//! byte, a broken or overlong stream ends with an error event and `[DONE]`, never a hang.
//! `max_connections` sends overflow to the next candidate, and the last one waits.
//!
//! Most pools use the `cost` strategy with rising prices, which makes the order of attempts
//! deterministic: `alpha` first, then `beta`, then `gamma`.

use std::time::{Duration, Instant};

use hearth_e2e::client::{call, chat, chat_body, Answer, Client, CHAT, PATIENCE};
use hearth_e2e::daemon::{balancer_section, endpoint_section, ClosedPort, Hearth, Settlement};
use hearth_e2e::fake_upstream::{Behaviour, FakeUpstream};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Prices that put endpoint `i` of a pool after endpoint `i - 1` under the `cost` strategy.
const PRICES: [&str; 4] = ["0.1", "1", "2", "3"];

/// One endpoint of a test pool: name, base URL, extra options.
type EndpointSpec<'a> = (&'a str, String, &'a [(&'a str, &'a str)]);

/// hearth over `endpoints` (name, base URL, extra options), all serving model `m`, each
/// priced so the `cost` strategy tries them in the order given; `balancer` options added
/// (the strategy is `cost` unless given).
async fn ordered_pool(balancer: &[(&str, &str)], endpoints: &[EndpointSpec<'_>]) -> Hearth {
    let mut options = vec![("strategy", "cost")];
    options.retain(|(k, _)| !balancer.iter().any(|(b, _)| b == k));
    options.extend_from_slice(balancer);
    Hearth::start(|s| {
        let mut text = balancer_section(s.listen, &options);
        for (i, (name, url, extra)) in endpoints.iter().enumerate() {
            let mut opts = vec![("price_input", PRICES[i]), ("price_output", PRICES[i])];
            opts.extend_from_slice(extra);
            text.push_str(&endpoint_section(name, url, &["m"], &opts));
        }
        text
    })
    .await
}

/// Asserts an OpenAI-shaped JSON error with `status` (and `code` when given).
fn assert_openai_error(a: &Answer, status: u16, code: Option<&str>) {
    assert_eq!(a.status, status, "body {}", a.text());
    assert!(a
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json")));
    let j = a.json();
    let e = &j["error"];
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{j}");
    assert!(e["type"].as_str().is_some_and(|t| !t.is_empty()), "{j}");
    assert!(e.get("param").is_some_and(Value::is_null), "{j}");
    assert!(e["code"].as_str().is_some_and(|c| !c.is_empty()), "{j}");
    if let Some(code) = code {
        assert_eq!(e["code"], code, "{j}");
    }
}

/// The status is one hearth uses when no upstream could answer.
fn assert_gateway_failure(a: &Answer) {
    assert!(
        a.status == 502 || a.status == 503,
        "expected 502 or 503, got {}: {}",
        a.status,
        a.text()
    );
    assert_openai_error(a, a.status, None);
}

/// The last settlement line, waiting for the `n`-th.
async fn settlement(h: &Hearth, n: usize) -> Settlement {
    h.wait_settlements(n).await.pop().expect("a settlement")
}

/// The error event of a stream that ended early: the payload before `[DONE]`.
fn stream_error(a: &Answer) -> Value {
    let events = a.events();
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{events:?}"
    );
    assert_eq!(
        events.iter().filter(|e| *e == "[DONE]").count(),
        1,
        "{events:?}"
    );
    let err: Value = serde_json::from_str(&events[events.len() - 2]).expect("JSON event");
    assert!(err["error"]["message"].is_string(), "{err}");
    assert!(err["error"]["type"].is_string(), "{err}");
    err
}

// === failover before the first byte ===

#[tokio::test]
async fn a_refused_connection_fails_over_to_the_next_upstream() {
    let dead = ClosedPort::new();
    let alpha = FakeUpstream::start("alpha").await;
    let h = ordered_pool(
        &[],
        &[
            ("dead", dead.base_url(), &[]),
            ("alpha", alpha.base_url(), &[]),
        ],
    )
    .await;
    for (i, stream) in [false, true, false].into_iter().enumerate() {
        let a = chat(h.addr, &chat_body("m", stream, None)).await;
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.header("x-hearth-endpoint"), Some("alpha"));
        assert_eq!(a.body_error, None);
        if stream {
            assert_eq!(a.content(), "alpha:tok0 alpha:tok1 alpha:tok2 ");
            assert_eq!(a.events().last().map(String::as_str), Some("[DONE]"));
        } else {
            assert_eq!(
                a.json()["choices"][0]["message"]["content"],
                "hello from alpha"
            );
        }
        let s = settlement(&h, i + 1).await;
        assert_eq!(
            (s.level.as_str(), s.outcome.as_str()),
            ("info", "ok"),
            "{}",
            s.line
        );
        assert_eq!(s.get("endpoint"), "alpha");
        assert_eq!(s.failovers(), 1, "{}", s.line);
    }
    assert_eq!(alpha.served(), 3);
}

#[tokio::test]
async fn an_upstream_that_closes_without_answering_is_skipped() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let h = ordered_pool(
        &[],
        &[
            ("alpha", alpha.base_url(), &[]),
            ("beta", beta.base_url(), &[]),
        ],
    )
    .await;
    for (i, stream) in [false, true].into_iter().enumerate() {
        alpha.push(Behaviour::Reset);
        let a = chat(h.addr, &chat_body("m", stream, None)).await;
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.header("x-hearth-endpoint"), Some("beta"));
        assert_eq!(a.body_error, None);
        assert_eq!((alpha.served(), beta.served()), (i + 1, i + 1));
        let s = settlement(&h, i + 1).await;
        assert_eq!((s.outcome.as_str(), s.get("endpoint")), ("ok", "beta"));
        assert_eq!(s.failovers(), 1);
    }
    assert_eq!(alpha.queued(), 0);
}

#[tokio::test]
async fn server_errors_and_rate_limits_fail_over() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let failures = [
        Behaviour::status(500),
        Behaviour::status(502),
        Behaviour::status(503),
        Behaviour::status(504),
        Behaviour::rate_limited(30),
        Behaviour::status(429),
        Behaviour::Status {
            code: 502,
            retry_after: None,
            body: Some("<html>bad gateway</html>".into()),
        },
    ];
    for (i, failure) in failures.iter().enumerate() {
        // A fresh hearth each time: passive health would take alpha out of rotation after
        // a 429 or a few failures, and this test is about a single failure.
        let h = ordered_pool(
            &[],
            &[
                ("alpha", alpha.base_url(), &[]),
                ("beta", beta.base_url(), &[]),
            ],
        )
        .await;
        alpha.push(failure.clone());
        let a = chat(h.addr, &chat_body("m", i % 2 == 1, None)).await;
        assert_eq!(a.status, 200, "after {failure:?}: {}", a.text());
        assert_eq!(
            a.header("x-hearth-endpoint"),
            Some("beta"),
            "after {failure:?}"
        );
        assert_eq!(a.header("retry-after"), None);
        assert_eq!(a.body_error, None);
        assert_eq!(
            (alpha.served(), beta.served()),
            (i + 1, i + 1),
            "after {failure:?}"
        );
        let s = settlement(&h, 1).await;
        assert_eq!(
            (s.outcome.as_str(), s.get("endpoint"), s.failovers()),
            ("ok", "beta", 1),
            "{}",
            s.line
        );
    }
}

#[tokio::test]
async fn other_client_errors_of_the_upstream_are_passed_through_not_retried() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let h = ordered_pool(
        &[],
        &[
            ("alpha", alpha.base_url(), &[]),
            ("beta", beta.base_url(), &[]),
        ],
    )
    .await;
    let own = r#"{"error":{"message":"context_length_exceeded: too long","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
    alpha.push(Behaviour::Status {
        code: 400,
        retry_after: None,
        body: Some(own.into()),
    });
    let a = chat(h.addr, &chat_body("m", false, None)).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.text(), own, "the upstream's body, untouched");
    assert_eq!(a.header("content-type"), Some("application/json"));
    assert_eq!(a.header("x-hearth-endpoint"), Some("alpha"));

    for code in [401, 403, 404, 422] {
        alpha.push(Behaviour::status(code));
        let a = chat(h.addr, &chat_body("m", code == 404, None)).await;
        assert_eq!(a.status, code);
        assert!(a.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("alpha")));
    }
    assert_eq!(beta.served(), 0, "a client error is not retried elsewhere");
    let settled = h.wait_settlements(5).await;
    for s in settled {
        assert_eq!(
            (s.level.as_str(), s.outcome.as_str()),
            ("warn", "upstream_refused"),
            "{}",
            s.line
        );
        assert_eq!((s.get("endpoint"), s.failovers()), ("alpha", 0));
    }
}

#[tokio::test]
async fn attempts_stop_after_one_plus_retries() {
    let ups = [
        FakeUpstream::start("alpha").await,
        FakeUpstream::start("beta").await,
        FakeUpstream::start("gamma").await,
        FakeUpstream::start("delta").await,
    ];
    for u in &ups {
        u.set_default(Behaviour::status(500));
    }
    let endpoints: Vec<EndpointSpec<'_>> = ups
        .iter()
        .map(|u| (u.name(), u.base_url(), &[][..]))
        .collect();
    // Default retries (2): three of the four are tried.
    let h = ordered_pool(&[], &endpoints).await;
    let a = chat(h.addr, &chat_body("m", false, None)).await;
    assert_gateway_failure(&a);
    let served: Vec<usize> = ups.iter().map(FakeUpstream::served).collect();
    assert_eq!(served, [1, 1, 1, 0]);
    let s = settlement(&h, 1).await;
    assert_eq!(
        (s.level.as_str(), s.outcome.as_str()),
        ("warn", "failed"),
        "{}",
        s.line
    );
    assert_eq!((s.get("endpoint"), s.failovers()), ("gamma", 2));
    drop(h);

    // retries 1: two; retries 0: one.
    for (retries, expect) in [("1", [2, 2, 1, 0]), ("0", [3, 2, 1, 0])] {
        let h = ordered_pool(&[("retries", retries)], &endpoints).await;
        let a = chat(h.addr, &chat_body("m", true, None)).await;
        assert_gateway_failure(&a);
        let served: Vec<usize> = ups.iter().map(FakeUpstream::served).collect();
        assert_eq!(served, expect, "retries {retries}");
    }
}

#[tokio::test]
async fn when_every_upstream_is_rate_limited_the_client_gets_429_with_the_smallest_retry_after() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let gamma = FakeUpstream::start("gamma").await;
    alpha.set_default(Behaviour::rate_limited(7));
    beta.set_default(Behaviour::rate_limited(3));
    gamma.set_default(Behaviour::rate_limited(5));
    for (i, stream) in [false, true].into_iter().enumerate() {
        // A fresh hearth each time (a 429 takes an endpoint out of rotation).
        let h = ordered_pool(
            &[],
            &[
                ("alpha", alpha.base_url(), &[]),
                ("beta", beta.base_url(), &[]),
                ("gamma", gamma.base_url(), &[]),
            ],
        )
        .await;
        let a = chat(h.addr, &chat_body("m", stream, None)).await;
        assert_openai_error(&a, 429, None);
        assert_eq!(a.header("retry-after"), Some("3"));
        let served = (alpha.served(), beta.served(), gamma.served());
        assert_eq!(served, (i + 1, i + 1, i + 1), "every upstream was tried");
        let s = settlement(&h, 1).await;
        assert_eq!(
            (s.level.as_str(), s.outcome.as_str()),
            ("warn", "failed"),
            "{}",
            s.line
        );
    }
}

#[tokio::test]
async fn while_every_upstream_cools_down_after_429_the_client_is_told_the_soonest_wait() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    alpha.set_default(Behaviour::rate_limited(60));
    beta.set_default(Behaviour::rate_limited(30));
    let h = ordered_pool(
        &[],
        &[
            ("alpha", alpha.base_url(), &[]),
            ("beta", beta.base_url(), &[]),
        ],
    )
    .await;
    let first = chat(h.addr, &chat_body("m", false, None)).await;
    assert_openai_error(&first, 429, Some("upstream_rate_limited"));
    assert_eq!(first.header("retry-after"), Some("30"));
    assert_eq!((alpha.served(), beta.served()), (1, 1));
    // Both are now cooling down for the time they asked: hearth answers at once with the
    // soonest wait and does not knock on either again (LLM-NOTES #7).
    let second = chat(h.addr, &chat_body("m", true, None)).await;
    assert_openai_error(&second, 429, Some("upstream_rate_limited"));
    let wait: u64 = second.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&wait), "retry-after {wait}");
    assert_eq!(
        (alpha.served(), beta.served()),
        (1, 1),
        "no upstream was asked again"
    );
}

#[tokio::test]
async fn when_every_attempt_fails_otherwise_the_client_gets_an_openai_shaped_5xx() {
    let dead = ClosedPort::new();
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    // A rate limit, a reset, a refusal; then a rate limit and server errors: not all 429,
    // so not a 429.
    for (i, beta_fails) in [Behaviour::Reset, Behaviour::status(503)]
        .into_iter()
        .enumerate()
    {
        let h = ordered_pool(
            &[],
            &[
                ("alpha", alpha.base_url(), &[]),
                ("beta", beta.base_url(), &[]),
                ("dead", dead.base_url(), &[]),
            ],
        )
        .await;
        alpha.push(Behaviour::rate_limited(9));
        beta.push(beta_fails);
        let a = chat(h.addr, &chat_body("m", i == 1, None)).await;
        assert_gateway_failure(&a);
        assert_eq!(a.header("retry-after"), None);
        assert_eq!((alpha.served(), beta.served()), (i + 1, i + 1));
        let s = settlement(&h, 1).await;
        assert_eq!(
            (s.outcome.as_str(), s.get("endpoint"), s.failovers()),
            ("failed", "dead", 2),
            "{}",
            s.line
        );
    }
}

#[tokio::test]
async fn request_timeout_before_the_headers_gives_504_upstream_timeout() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    alpha.set_default(Behaviour::StallBeforeHeaders(Duration::from_secs(4)));
    let h = ordered_pool(
        &[("request_timeout", "1")],
        &[
            ("alpha", alpha.base_url(), &[]),
            ("beta", beta.base_url(), &[]),
        ],
    )
    .await;
    for stream in [false, true] {
        let started = Instant::now();
        let a = chat(h.addr, &chat_body("m", stream, None)).await;
        assert_openai_error(&a, 504, Some("upstream_timeout"));
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "not before request_timeout"
        );
        assert!(started.elapsed() < PATIENCE, "sanity bound");
    }
    assert_eq!(beta.served(), 0, "the deadline is spent for every upstream");
    let settled = h.wait_settlements(2).await;
    for s in settled {
        assert_eq!(s.level, "warn", "{}", s.line);
        assert_ne!(s.outcome, "ok");
        assert_eq!(s.get("endpoint"), "alpha");
    }
}

// === after the first byte ===

#[tokio::test]
async fn a_stream_cut_mid_way_ends_with_an_upstream_broke_event_and_done() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let h = ordered_pool(
        &[],
        &[
            ("alpha", alpha.base_url(), &[]),
            ("beta", beta.base_url(), &[]),
        ],
    )
    .await;
    // One keep-alive connection throughout: a broken stream ends the response, not it.
    let mut client = Client::connect(h.addr).await;
    for (i, include_usage) in [None, Some(true)].into_iter().enumerate() {
        alpha.push(Behaviour::DropMidStream { after_chunks: 2 });
        let a = client
            .send("POST", CHAT, &[], &chat_body("m", true, include_usage))
            .await
            .expect("answered");
        assert_eq!(a.status, 200);
        assert_eq!(a.body_error, None, "the response ends cleanly");
        let chunks = a.chunks();
        assert_eq!(
            chunks.len(),
            1 + 2 + 1,
            "role, 2 contents, the error: {:?}",
            a.events()
        );
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "alpha:tok0 ");
        assert_eq!(chunks[2]["choices"][0]["delta"]["content"], "alpha:tok1 ");
        let err = stream_error(&a);
        assert_eq!(err["error"]["code"], "upstream_broke", "{err}");
        assert_eq!(beta.served(), 0, "no failover after the first byte");
        let s = settlement(&h, i + 1).await;
        assert_eq!(
            (s.level.as_str(), s.outcome.as_str()),
            ("warn", "broken"),
            "{}",
            s.line
        );
        assert_eq!(s.get("endpoint"), "alpha");
    }
    let after = client
        .send("POST", CHAT, &[], &chat_body("m", false, None))
        .await
        .expect("the connection still serves");
    assert_eq!(after.status, 200);
}

/// A one-trick upstream: answers every request with `response` (raw HTTP bytes) and closes.
struct RawUpstream {
    /// Its address.
    addr: std::net::SocketAddr,
    /// The accept loop.
    task: JoinHandle<()>,
}

impl RawUpstream {
    async fn start(response: String) -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let response = response.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 8192];
                    // Read the head and the Content-Length body (bounded).
                    for _ in 0..1000 {
                        let Ok(n) = socket.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        request.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length = text[..end]
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            if request.len() >= end + 4 + length {
                                break;
                            }
                        }
                    }
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        RawUpstream { addr, task }
    }

    fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn a_stream_that_ends_without_done_gets_the_error_event() {
    let chunk = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": "raw:tok0 "}, "finish_reason": null}]});
    let body = format!("data: {chunk}\n\n");
    let raw = RawUpstream::start(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ))
    .await;
    let beta = FakeUpstream::start("beta").await;
    let h = ordered_pool(
        &[],
        &[("raw", raw.base_url(), &[]), ("beta", beta.base_url(), &[])],
    )
    .await;
    for (i, include_usage) in [None, Some(true)].into_iter().enumerate() {
        let a = chat(h.addr, &chat_body("m", true, include_usage)).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.body_error, None);
        assert_eq!(a.content(), "raw:tok0 ");
        assert_eq!(a.chunks()[0], chunk);
        assert_eq!(stream_error(&a)["error"]["code"], "upstream_broke");
        let s = settlement(&h, i + 1).await;
        assert_eq!(
            (s.outcome.as_str(), s.get("endpoint")),
            ("broken", "raw"),
            "{}",
            s.line
        );
    }
    assert_eq!(beta.served(), 0);
}

#[tokio::test]
async fn a_stream_longer_than_request_timeout_ends_with_a_request_timeout_event() {
    let alpha = FakeUpstream::start("alpha").await;
    let h = ordered_pool(
        &[("request_timeout", "1")],
        &[("alpha", alpha.base_url(), &[])],
    )
    .await;
    alpha.push(Behaviour::SlowDrip {
        chunks: 40,
        delay: Duration::from_millis(200),
    });
    let started = Instant::now();
    let a = chat(h.addr, &chat_body("m", true, None)).await;
    assert!(started.elapsed() < PATIENCE, "sanity bound");
    assert_eq!(a.status, 200);
    assert_eq!(a.body_error, None);
    let err = stream_error(&a);
    assert_eq!(err["error"]["code"], "request_timeout", "{err}");
    let content = a.content();
    assert!(
        content.starts_with("alpha:tok0 "),
        "some chunks came first: {content:?}"
    );
    assert!(
        !content.contains("alpha:tok39"),
        "cut before the end: {content:?}"
    );
    let s = settlement(&h, 1).await;
    assert_eq!(
        (s.level.as_str(), s.outcome.as_str()),
        ("warn", "timeout"),
        "{}",
        s.line
    );
}

// === max_connections ===

/// Waits until `/health` shows no request in flight to `endpoint`.
async fn wait_idle(h: &Hearth, endpoint: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let health = call(h.addr, "GET", "/health", &[], "")
            .await
            .expect("answered")
            .json();
        let busy = health["endpoints"]
            .as_array()
            .expect("endpoints")
            .iter()
            .find(|e| e["name"] == endpoint)
            .and_then(|e| e["in_flight"].as_u64())
            .expect("in_flight of the endpoint");
        if busy == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{endpoint} stays busy: {health}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn max_connections_sends_overflow_to_the_next_candidate() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    alpha.set_default(Behaviour::stream(4, Duration::from_millis(200)));
    let h = ordered_pool(
        &[],
        &[
            ("alpha", alpha.base_url(), &[("max_connections", "1")]),
            ("beta", beta.base_url(), &[]),
        ],
    )
    .await;
    let body = chat_body("m", true, None);
    let mut first_client = Client::connect(h.addr).await;
    let first = first_client
        .open("POST", CHAT, &[], &body)
        .await
        .expect("answered");
    assert_eq!(first.headers["x-hearth-endpoint"], "alpha");
    // alpha is full while the first stream runs.
    for _ in 0..2 {
        let a = chat(h.addr, &body).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.header("x-hearth-endpoint"), Some("beta"));
        assert_eq!(a.events().last().map(String::as_str), Some("[DONE]"));
    }
    let first = first.finish().await;
    assert_eq!(
        first.content(),
        "alpha:tok0 alpha:tok1 alpha:tok2 alpha:tok3 "
    );
    // Free again (once hearth has let go of the first request): the cheapest gets it.
    wait_idle(&h, "alpha").await;
    let a = chat(h.addr, &chat_body("m", false, None)).await;
    assert_eq!(a.header("x-hearth-endpoint"), Some("alpha"));
    assert_eq!((alpha.served(), beta.served()), (2, 2));
}

#[tokio::test]
async fn the_last_candidate_waits_for_a_free_slot() {
    let alpha = FakeUpstream::start("alpha").await;
    alpha.set_default(Behaviour::stream(3, Duration::from_millis(200)));
    let h = ordered_pool(
        &[],
        &[("alpha", alpha.base_url(), &[("max_connections", "1")])],
    )
    .await;
    let body = chat_body("m", true, None);
    let mut first_client = Client::connect(h.addr).await;
    let first = first_client
        .open("POST", CHAT, &[], &body)
        .await
        .expect("answered");
    let addr = h.addr;
    let second_body = body.clone();
    let second = tokio::spawn(async move { call(addr, "POST", CHAT, &[], &second_body).await });
    let first = first.finish().await;
    let second = tokio::time::timeout(PATIENCE, second)
        .await
        .expect("the second request is served in time")
        .expect("task")
        .expect("answered");
    for a in [&first, &second] {
        assert_eq!(a.status, 200);
        assert_eq!(a.header("x-hearth-endpoint"), Some("alpha"));
        assert_eq!(a.content(), "alpha:tok0 alpha:tok1 alpha:tok2 ");
    }
    let records = alpha.requests();
    assert_eq!(records.len(), 2);
    let first_done = records[0].events.last().expect("events").at;
    assert!(
        records[1].received_at >= first_done,
        "the second request reached the upstream while the first still held the only slot"
    );
}
