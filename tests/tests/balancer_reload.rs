//! Hot reload of the LLM balancer end to end: the real `hearth` binary gets a new config file
//! and `SIGHUP` while clients are talking to it through fake upstreams on 127.0.0.1.
//!
//! Streams in flight finish normally on the pool they started with; requests after the reload
//! see the new config; keep-alive connections opened before the reload keep working; no
//! request fails; an invalid new config is refused and the old one keeps serving. `SIGTERM`
//! stops hearth cleanly.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hearth_e2e::client::{call, chat, chat_body, Answer, Client, CHAT, PATIENCE};
use hearth_e2e::daemon::{balancer_section, endpoint_section, free_port, Hearth, Reloaded};
use hearth_e2e::fake_upstream::{Behaviour, FakeUpstream};
use tokio::net::TcpStream;

/// A config listening on `listen` with `endpoints` (name, base URL, models).
fn config(listen: SocketAddr, strategy: &str, endpoints: &[(&str, &str, &[&str])]) -> String {
    let mut text = balancer_section(listen, &[("strategy", strategy)]);
    for (name, url, models) in endpoints {
        text.push_str(&endpoint_section(name, url, models, &[]));
    }
    text
}

/// The model ids `GET /v1/models` lists.
async fn model_ids(h: &Hearth) -> Vec<String> {
    let a = call(h.addr, "GET", "/v1/models", &[], "")
        .await
        .expect("answered");
    assert_eq!(a.status, 200);
    let mut ids: Vec<String> = a.json()["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

/// Asserts a stream arrived whole from `name`: its `chunks` contents and `[DONE]`, no error.
fn assert_whole_stream(a: &Answer, name: &str, chunks: usize) {
    assert_eq!(a.status, 200);
    assert_eq!(a.body_error, None);
    let expected: String = (0..chunks).map(|i| format!("{name}:tok{i} ")).collect();
    assert_eq!(a.content(), expected);
    assert!(
        a.chunks().iter().all(|c| c.get("error").is_none()),
        "{:?}",
        a.events()
    );
    assert_eq!(a.events().last().map(String::as_str), Some("[DONE]"));
}

#[tokio::test]
async fn a_reload_that_swaps_endpoints_keeps_streams_in_flight_and_keep_alive_connections() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let gamma = FakeUpstream::start("gamma").await;
    let (a, b, g) = (alpha.base_url(), beta.base_url(), gamma.base_url());
    let h = Hearth::start(|s| {
        config(
            s.listen,
            "round_robin",
            &[("alpha", &a, &["m"]), ("beta", &b, &["m"])],
        )
    })
    .await;

    // A keep-alive connection, used before the reload.
    let mut keep = Client::connect(h.addr).await;
    let before = keep
        .send("POST", CHAT, &[], &chat_body("m", false, None))
        .await
        .expect("answered");
    assert_eq!(before.status, 200);

    // A slow stream in flight across the reload.
    let chunks = 6;
    for up in [&alpha, &beta] {
        up.set_default(Behaviour::stream(chunks, Duration::from_millis(200)));
    }
    let mut streaming = Client::connect(h.addr).await;
    let mut stream = streaming
        .open("POST", CHAT, &[], &chat_body("m", true, None))
        .await
        .expect("answered");
    for up in [&alpha, &beta] {
        up.set_default(Behaviour::Ok);
    }
    let busy = stream.headers["x-hearth-endpoint"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let first = stream
        .next_frame()
        .await
        .expect("no error")
        .expect("a first frame");
    assert!(String::from_utf8_lossy(&first).contains("\"role\""));

    // The new config drops the endpoint serving the stream and adds gamma.
    let (kept_name, kept_url) = if busy == "alpha" {
        ("beta", b.clone())
    } else {
        ("alpha", a.clone())
    };
    let reloaded = h
        .reload(&config(
            h.addr,
            "round_robin",
            &[(kept_name, &kept_url, &["m"]), ("gamma", &g, &["m"])],
        ))
        .await;
    assert!(matches!(reloaded, Reloaded::Applied(_)), "{reloaded:?}");

    // New requests see the new pool, on the old keep-alive connection and on new ones.
    let mut after = Vec::new();
    let a = keep
        .send("POST", CHAT, &[], &chat_body("m", false, None))
        .await
        .expect("the keep-alive connection still works");
    after.push(a);
    for i in 0..6 {
        after.push(chat(h.addr, &chat_body("m", i % 2 == 0, None)).await);
    }
    let mut served = BTreeSet::new();
    for a in &after {
        assert_eq!(a.status, 200, "{}", a.text());
        served.insert(a.header("x-hearth-endpoint").expect("endpoint").to_owned());
    }
    assert_eq!(
        served,
        BTreeSet::from([kept_name.to_owned(), "gamma".to_owned()])
    );
    assert!(!keep.is_closed());

    // The stream that started before the reload ends normally, on the endpoint it started on.
    let stream = stream.finish().await;
    assert!(
        stream.frames[0].1 == first,
        "frames read before are part of the answer"
    );
    assert_whole_stream(&stream, &busy, chunks);

    let settled = h.wait_settlements(1 + 1 + after.len()).await;
    for s in &settled {
        assert_eq!(s.outcome, "ok", "no request failed: {}", s.line);
    }
    assert!(settled
        .iter()
        .any(|s| s.get("endpoint") == busy && s.tokens().1 == chunks as u64));
}

#[tokio::test]
async fn a_changed_model_list_applies_to_requests_after_the_reload() {
    let alpha = FakeUpstream::start("alpha").await;
    let a = alpha.base_url();
    let h = Hearth::start(|s| config(s.listen, "round_robin", &[("alpha", &a, &["m1"])])).await;
    assert_eq!(model_ids(&h).await, ["m1"]);
    assert_eq!(
        chat(h.addr, &chat_body("m1", false, None)).await.status,
        200
    );
    assert_eq!(
        chat(h.addr, &chat_body("m2", false, None)).await.status,
        404
    );

    // A stream of m1 in flight across the reload.
    alpha.push(Behaviour::stream(4, Duration::from_millis(200)));
    let mut client = Client::connect(h.addr).await;
    let stream = client
        .open("POST", CHAT, &[], &chat_body("m1", true, None))
        .await
        .expect("answered");

    let reloaded = h
        .reload(&config(h.addr, "round_robin", &[("alpha", &a, &["m2"])]))
        .await;
    assert!(matches!(reloaded, Reloaded::Applied(_)), "{reloaded:?}");
    assert_eq!(model_ids(&h).await, ["m2"]);
    let gone = chat(h.addr, &chat_body("m1", false, None)).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.error_code().as_deref(), Some("model_not_found"));
    let now = chat(h.addr, &chat_body("m2", false, None)).await;
    assert_eq!(now.status, 200);
    assert_eq!(
        alpha
            .requests()
            .last()
            .and_then(|r| r.model.clone())
            .as_deref(),
        Some("m2")
    );

    assert_whole_stream(&stream.finish().await, "alpha", 4);
}

#[tokio::test]
async fn an_invalid_config_on_sighup_is_refused_and_the_old_one_keeps_serving() {
    let alpha = FakeUpstream::start("alpha").await;
    let a = alpha.base_url();
    let h = Hearth::start(|s| config(s.listen, "round_robin", &[("alpha", &a, &["m"])])).await;
    let mut keep = Client::connect(h.addr).await;
    assert_eq!(
        keep.send("POST", CHAT, &[], &chat_body("m", false, None))
            .await
            .expect("answered")
            .status,
        200
    );

    let broken = format!(
        "{}config endpoint 'alpha'\n\toption urll '{a}'\n\tlist model 'other'\n",
        balancer_section(h.addr, &[])
    );
    assert_eq!(h.reload(&broken).await, Reloaded::Rejected);
    assert!(h
        .lines()
        .iter()
        .any(|l| l.starts_with("error:") && l.contains("urll")));
    assert_eq!(model_ids(&h).await, ["m"], "still the old config");
    for _ in 0..3 {
        let answer = keep
            .send("POST", CHAT, &[], &chat_body("m", true, None))
            .await
            .expect("answered");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.events().last().map(String::as_str), Some("[DONE]"));
    }
    assert_eq!(chat(h.addr, &chat_body("m", false, None)).await.status, 200);

    // Fixed: the next reload applies.
    let fixed = config(h.addr, "round_robin", &[("alpha", &a, &["m", "other"])]);
    assert!(matches!(h.reload(&fixed).await, Reloaded::Applied(_)));
    assert_eq!(model_ids(&h).await, ["m", "other"]);
    assert_eq!(
        chat(h.addr, &chat_body("other", false, None)).await.status,
        200
    );
}

#[tokio::test]
async fn a_reload_can_move_the_listener_and_the_stream_in_flight_on_the_old_one_finishes() {
    let alpha = FakeUpstream::start("alpha").await;
    let a = alpha.base_url();
    let h = Hearth::start(|s| config(s.listen, "round_robin", &[("alpha", &a, &["m"])])).await;
    let old = h.addr;
    alpha.push(Behaviour::stream(4, Duration::from_millis(200)));
    let mut client = Client::connect(old).await;
    let stream = client
        .open("POST", CHAT, &[], &chat_body("m", true, None))
        .await
        .expect("answered");

    let new = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let reloaded = h
        .reload(&config(new, "round_robin", &[("alpha", &a, &["m"])]))
        .await;
    match &reloaded {
        Reloaded::Applied(line) => assert!(line.contains(&new.to_string()), "{line}"),
        Reloaded::Rejected => panic!("rejected"),
    }
    assert_eq!(chat(new, &chat_body("m", false, None)).await.status, 200);
    assert!(
        TcpStream::connect(old).await.is_err(),
        "the old address no longer accepts"
    );
    assert_whole_stream(&stream.finish().await, "alpha", 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_during_reloads_never_fail() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let (a, b) = (alpha.base_url(), beta.base_url());
    let h = Hearth::start(|s| {
        config(
            s.listen,
            "round_robin",
            &[("alpha", &a, &["m"]), ("beta", &b, &["m"])],
        )
    })
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for worker in 0..3 {
        let (addr, stop) = (h.addr, stop.clone());
        load.push(tokio::spawn(async move {
            let mut keep = Client::connect(addr).await;
            let mut statuses = Vec::new();
            for i in 0..2_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let body = chat_body("m", (i + worker) % 2 == 0, None);
                // Alternate the kept-alive connection and fresh ones.
                let answer = if i % 2 == 0 {
                    keep.send("POST", CHAT, &[], &body).await.expect("answered")
                } else {
                    chat(addr, &body).await
                };
                let complete = answer.body_error.is_none()
                    && (answer.header("content-type") != Some("text/event-stream")
                        || answer.events().last().map(String::as_str) == Some("[DONE]"));
                statuses.push((answer.status, complete));
            }
            statuses
        }));
    }
    // Reload a few times under load: strategy and weights change, the pool stays.
    for (n, strategy) in ["weighted", "least_connections", "round_robin", "cost"]
        .into_iter()
        .enumerate()
    {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let text = config(
            h.addr,
            strategy,
            &[("alpha", &a, &["m"]), ("beta", &b, &["m"])],
        );
        assert!(
            matches!(h.reload(&text).await, Reloaded::Applied(_)),
            "reload {n}"
        );
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.store(true, Ordering::SeqCst);
    let mut total = 0;
    for task in load {
        let statuses = tokio::time::timeout(PATIENCE, task)
            .await
            .expect("load ends in time")
            .expect("load task");
        assert!(!statuses.is_empty());
        for (status, complete) in &statuses {
            assert_eq!((*status, *complete), (200, true));
        }
        total += statuses.len();
    }
    let settled = h.wait_settlements(total).await;
    assert!(settled.iter().all(|s| s.outcome == "ok"));
}

#[tokio::test]
async fn sigterm_stops_hearth_cleanly_and_closes_the_listener() {
    let alpha = FakeUpstream::start("alpha").await;
    let a = alpha.base_url();
    let h = Hearth::start(|s| config(s.listen, "round_robin", &[("alpha", &a, &["m"])])).await;
    assert_eq!(chat(h.addr, &chat_body("m", false, None)).await.status, 200);
    let addr = h.addr;
    let (status, lines) = h.terminate().await;
    assert!(status.success(), "exit status {status}");
    assert!(
        lines.iter().any(|l| l == "info: SIGTERM: shutting down"),
        "{lines:?}"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("info: shutdown complete")
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "nothing listens on {addr} any more"
    );
}
