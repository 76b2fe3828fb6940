//! The fake OpenAI-compatible upstream does what the end-to-end tests of the balancer rely on:
//! OpenAI-shaped answers naming the upstream, every scripted behaviour, the recording, the
//! queue, timing, shutdown, and the `fake-upstream` binary.
//!
//! Talks to it over 127.0.0.1 with the crate's low-level HTTP/1 client (`hearth_e2e::client`)
//! and raw sockets where the bytes on the wire matter. Every wait is bounded.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hearth_e2e::client::{
    call, chat, chat_body, raw_chat_request, raw_exchange, Client, CHAT, PATIENCE,
};
use hearth_e2e::fake_upstream::{Behaviour, FakeUpstream, UsageMode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

// === answers ===

#[tokio::test]
async fn chat_completion_is_openai_shaped_and_names_the_upstream() {
    let up = FakeUpstream::start("alpha").await;
    let body = chat_body("gpt-x", false, None);
    let answer = chat(up.addr, &body).await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("x-fake-upstream"), Some("alpha"));
    let j = answer.json();
    assert_eq!(j["object"], "chat.completion");
    assert_eq!(j["model"], "gpt-x");
    assert!(j["id"].as_str().is_some_and(|id| id.contains("alpha")));
    assert!(j["created"].as_u64().is_some());
    assert_eq!(j["choices"][0]["message"]["role"], "assistant");
    assert_eq!(j["choices"][0]["message"]["content"], "hello from alpha");
    assert_eq!(j["choices"][0]["finish_reason"], "stop");
    let prompt = body.len().div_ceil(4) as u64;
    assert_eq!(
        j["usage"],
        json!({"prompt_tokens": prompt, "completion_tokens": 3, "total_tokens": prompt + 3})
    );
    assert!(up.base_url().starts_with("http://127.0.0.1:"));
    assert!(up.base_url().ends_with("/v1"));
    up.stop().await;
}

#[tokio::test]
async fn completions_and_embeddings_have_their_shapes() {
    let up = FakeUpstream::start("beta").await;
    let text = call(
        up.addr,
        "POST",
        "/v1/completions",
        &[],
        r#"{"model":"m1","prompt":"say"}"#,
    )
    .await
    .expect("answered");
    assert_eq!(text.status, 200);
    let j = text.json();
    assert_eq!(j["object"], "text_completion");
    assert_eq!(j["model"], "m1");
    assert_eq!(j["choices"][0]["text"], "hello from beta");
    assert_eq!(j["usage"]["completion_tokens"], 3);

    let body = r#"{"model":"emb","input":["a","b","c"]}"#;
    let emb = call(up.addr, "POST", "/v1/embeddings", &[], body)
        .await
        .expect("answered");
    assert_eq!(emb.status, 200);
    let j = emb.json();
    assert_eq!(j["object"], "list");
    assert_eq!(j["model"], "emb");
    let data = j["data"].as_array().expect("data");
    assert_eq!(data.len(), 3);
    for (i, item) in data.iter().enumerate() {
        assert_eq!(item["object"], "embedding");
        assert_eq!(item["index"], i);
        assert_eq!(item["embedding"].as_array().map(Vec::len), Some(8));
    }
    let prompt = body.len().div_ceil(4) as u64;
    assert_eq!(
        j["usage"],
        json!({"prompt_tokens": prompt, "total_tokens": prompt})
    );
    up.stop().await;
}

#[tokio::test]
async fn models_lists_the_configured_ids_without_consuming_the_queue() {
    let up = FakeUpstream::start("gamma").await;
    up.set_models(vec!["llama3".into(), "qwen".into()]);
    up.push(Behaviour::status(500));
    let models = call(up.addr, "GET", "/v1/models", &[], "")
        .await
        .expect("answered");
    assert_eq!(models.status, 200);
    let j = models.json();
    assert_eq!(j["object"], "list");
    let ids: Vec<&str> = j["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["llama3", "qwen"]);
    assert!(j["data"]
        .as_array()
        .expect("data")
        .iter()
        .all(|m| m["object"] == "model" && m["owned_by"] == "fake"));
    assert_eq!(up.queued(), 1, "a health probe does not eat the script");
    assert_eq!(up.served(), 0);

    up.set_models_behaviour(Behaviour::status(503));
    let down = call(up.addr, "GET", "/v1/models", &[], "")
        .await
        .expect("answered");
    assert_eq!(down.status, 503);
    up.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_openai_errors() {
    let up = FakeUpstream::start("delta").await;
    let bad_json = call(up.addr, "POST", CHAT, &[], "{not json")
        .await
        .expect("answered");
    assert_eq!(bad_json.status, 400);
    assert_eq!(bad_json.json()["error"]["type"], "invalid_request_error");
    assert!(bad_json.json()["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("delta")));

    let no_model = call(up.addr, "POST", CHAT, &[], r#"{"messages":[]}"#)
        .await
        .expect("answered");
    assert_eq!(no_model.status, 400);
    assert_eq!(no_model.json()["error"]["param"], "model");

    let unknown = call(up.addr, "POST", "/v1/chat", &[], "{}")
        .await
        .expect("answered");
    assert_eq!(unknown.status, 404);
    assert!(unknown.json()["error"]["message"].is_string());

    let wrong_method = call(up.addr, "GET", CHAT, &[], "").await.expect("answered");
    assert_eq!(wrong_method.status, 405);
    assert_eq!(
        up.served(),
        2,
        "unknown paths and wrong methods are not served"
    );
    up.stop().await;
}

// === streams ===

#[tokio::test]
async fn a_stream_request_gets_role_three_chunks_finish_and_done_without_usage() {
    let up = FakeUpstream::start("alpha").await;
    let answer = chat(up.addr, &chat_body("m", true, None)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("text/event-stream"));
    assert_eq!(answer.body_error, None);

    let events = answer.events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks = answer.chunks();
    assert_eq!(
        chunks.len(),
        1 + 3 + 1,
        "role, 3 contents, finish; no usage"
    );
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert!(chunks.iter().all(|c| c["model"] == "m"));
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "alpha:tok0 alpha:tok1 alpha:tok2 ");
    assert!(chunks[..4]
        .iter()
        .all(|c| c["choices"][0]["finish_reason"].is_null()));
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
    up.stop().await;
}

#[tokio::test]
async fn the_usage_chunk_comes_only_when_asked_unless_overridden() {
    let up = FakeUpstream::start("alpha").await;
    let asked = chat_body("m", true, Some(true));
    let answer = chat(up.addr, &asked).await;
    let chunks = answer.chunks();
    let usage = chunks.last().expect("usage chunk");
    assert_eq!(usage["choices"], json!([]));
    let prompt = asked.len().div_ceil(4) as u64;
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": prompt, "completion_tokens": 3, "total_tokens": prompt + 3})
    );
    assert_eq!(answer.events().last().map(String::as_str), Some("[DONE]"));

    let declined = chat(up.addr, &chat_body("m", true, Some(false))).await;
    assert!(declined.chunks().iter().all(|c| c.get("usage").is_none()));

    up.push(Behaviour::Stream {
        chunks: 2,
        delay: Duration::ZERO,
        usage: UsageMode::Always,
    });
    let forced = chat(up.addr, &chat_body("m", true, None)).await;
    let last = forced.chunks().pop().expect("chunks");
    assert_eq!(last["usage"]["completion_tokens"], 2);

    up.push(Behaviour::Stream {
        chunks: 2,
        delay: Duration::ZERO,
        usage: UsageMode::Never,
    });
    let withheld = chat(up.addr, &asked).await;
    assert!(withheld
        .chunks()
        .iter()
        .all(|c| !c["choices"].as_array().is_some_and(Vec::is_empty)));
    assert_eq!(withheld.events().last().map(String::as_str), Some("[DONE]"));
    up.stop().await;
}

#[tokio::test]
async fn stream_behaviour_streams_even_a_non_stream_request_and_completions_too() {
    let up = FakeUpstream::start("alpha").await;
    up.push(Behaviour::stream(4, Duration::ZERO));
    let answer = chat(up.addr, &chat_body("m", false, None)).await;
    assert_eq!(answer.header("content-type"), Some("text/event-stream"));
    assert_eq!(answer.chunks().len(), 1 + 4 + 1);

    up.push(Behaviour::stream(2, Duration::ZERO));
    let text = call(
        up.addr,
        "POST",
        "/v1/completions",
        &[],
        r#"{"model":"m","prompt":"p","stream":true}"#,
    )
    .await
    .expect("answered");
    let chunks = text.chunks();
    assert_eq!(chunks.len(), 2 + 1, "no role chunk in text completions");
    assert!(chunks.iter().all(|c| c["object"] == "text_completion"));
    assert_eq!(chunks[1]["choices"][0]["text"], "alpha:tok1 ");
    assert_eq!(text.events().last().map(String::as_str), Some("[DONE]"));
    up.stop().await;
}

#[tokio::test]
async fn content_chunks_are_spaced_by_the_delay_and_each_is_its_own_frame() {
    let up = FakeUpstream::start("alpha").await;
    let delay = Duration::from_millis(40);
    up.push(Behaviour::stream(4, delay));
    let started = Instant::now();
    let answer = chat(up.addr, &chat_body("m", true, None)).await;
    assert!(started.elapsed() < PATIENCE, "sanity bound");

    let sent = &up.requests()[0].events;
    assert_eq!(sent.len(), 1 + 4 + 1 + 1);
    assert_eq!(sent.last().map(|e| e.data.as_str()), Some("[DONE]"));
    for pair in sent[..5].windows(2) {
        assert!(
            pair[1].at - pair[0].at >= delay,
            "a content chunk left before its delay"
        );
    }
    // Each content event was received as its own frame, after the upstream sent it.
    let content_frames: Vec<&(Instant, Bytes)> = answer
        .frames
        .iter()
        .filter(|(_, b)| String::from_utf8_lossy(b).contains(":tok"))
        .collect();
    assert_eq!(content_frames.len(), 4);
    for (i, (received, bytes)) in content_frames.iter().enumerate() {
        let text = String::from_utf8_lossy(bytes);
        assert_eq!(text.matches(":tok").count(), 1);
        assert!(text.contains(&format!("alpha:tok{i} ")));
        assert!(*received >= sent[1 + i].at);
    }
    up.stop().await;
}

#[tokio::test]
async fn each_event_reaches_the_client_before_the_next_one_is_sent() {
    // No buffering anywhere in the fake: with a generous gap, the client holds chunk i
    // before the fake even sends chunk i + 1.
    let up = FakeUpstream::start("alpha").await;
    up.push(Behaviour::stream(3, Duration::from_millis(300)));
    let answer = chat(up.addr, &chat_body("m", true, None)).await;
    let sent = &up.requests()[0].events;
    let received: Vec<Instant> = answer
        .frames
        .iter()
        .filter(|(_, b)| String::from_utf8_lossy(b).contains(":tok"))
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(received.len(), 3);
    for i in 0..2 {
        assert!(received[i] < sent[2 + i].at, "chunk {i} was held back");
    }
    up.stop().await;
}

#[tokio::test]
async fn slow_drip_waits_before_every_event() {
    let up = FakeUpstream::start("alpha").await;
    let delay = Duration::from_millis(30);
    up.push(Behaviour::SlowDrip { chunks: 2, delay });
    let answer = chat(up.addr, &chat_body("m", true, Some(true))).await;
    assert_eq!(answer.events().last().map(String::as_str), Some("[DONE]"));
    let record = &up.requests()[0];
    assert_eq!(record.events.len(), 1 + 2 + 1 + 1 + 1);
    assert!(record.events[0].at - record.received_at >= delay);
    for pair in record.events.windows(2) {
        assert!(pair[1].at - pair[0].at >= delay);
    }
    up.stop().await;
}

#[tokio::test]
async fn drop_mid_stream_sends_some_chunks_then_aborts_without_done() {
    let up = FakeUpstream::start("alpha").await;
    up.push(Behaviour::DropMidStream { after_chunks: 2 });
    let answer = chat(up.addr, &chat_body("m", true, Some(true))).await;
    assert_eq!(answer.status, 200);
    assert!(answer.body_error.is_some(), "the body ends in an error");
    let events = answer.events();
    assert_eq!(events.len(), 1 + 2, "role and two content chunks arrived");
    assert!(!events.iter().any(|e| e == "[DONE]"));

    // On the wire: chunked encoding never terminated.
    // Every chunk sent before the abort is flushed, however many.
    up.push(Behaviour::DropMidStream { after_chunks: 40 });
    let raw = raw_exchange(up.addr, &raw_chat_request(&chat_body("m", true, None))).await;
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 200"));
    assert_eq!(raw.matches(":tok").count(), 40);
    assert!(raw.contains("alpha:tok39 "));
    assert!(!raw.contains("[DONE]"));
    assert!(!raw.ends_with("0\r\n\r\n"));
    up.stop().await;
}

// === failures ===

#[tokio::test]
async fn status_429_carries_retry_after_and_an_openai_error() {
    let up = FakeUpstream::start("alpha").await;
    up.push(Behaviour::rate_limited(7));
    let answer = chat(up.addr, &chat_body("m", false, None)).await;
    assert_eq!(answer.status, 429);
    assert_eq!(answer.header("retry-after"), Some("7"));
    let j = answer.json();
    assert_eq!(j["error"]["type"], "requests");
    assert_eq!(j["error"]["code"], "rate_limit_exceeded");
    assert!(j["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("alpha")));

    up.push(Behaviour::status(500));
    let answer = chat(up.addr, &chat_body("m", true, None)).await;
    assert_eq!(answer.status, 500);
    assert_eq!(answer.header("retry-after"), None);
    assert_eq!(answer.json()["error"]["type"], "server_error");
    up.stop().await;
}

#[tokio::test]
async fn status_with_a_body_sends_it_verbatim() {
    let up = FakeUpstream::start("alpha").await;
    up.push(Behaviour::Status {
        code: 502,
        retry_after: None,
        body: Some("<html>bad gateway</html>".into()),
    });
    let html = chat(up.addr, &chat_body("m", false, None)).await;
    assert_eq!(html.status, 502);
    assert_eq!(html.body(), b"<html>bad gateway</html>");
    assert!(html
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain")));

    up.push(Behaviour::Status {
        code: 400,
        retry_after: Some(1),
        body: Some(r#"{"error":{"message":"context too long"}}"#.into()),
    });
    let json_error = chat(up.addr, &chat_body("m", false, None)).await;
    assert_eq!(json_error.status, 400);
    assert_eq!(json_error.header("content-type"), Some("application/json"));
    assert_eq!(json_error.header("retry-after"), Some("1"));
    assert_eq!(json_error.json()["error"]["message"], "context too long");
    up.stop().await;
}

#[tokio::test]
async fn reset_closes_the_connection_without_a_response() {
    let up = FakeUpstream::start("alpha").await;
    up.push(Behaviour::Reset);
    let result = call(up.addr, "POST", CHAT, &[], &chat_body("m", false, None)).await;
    assert!(result.is_err(), "the client sees a connection error");

    up.push(Behaviour::Reset);
    let raw = raw_exchange(up.addr, &raw_chat_request(&chat_body("m", false, None))).await;
    assert!(raw.is_empty(), "not one byte of response");
    assert_eq!(up.served(), 2);
    let records = up.requests();
    assert!(records.iter().all(|r| r.status.is_none()));
    assert_eq!(
        records[1].model.as_deref(),
        Some("m"),
        "the request was read"
    );
    up.stop().await;
}

#[tokio::test]
async fn stall_delays_the_headers_then_answers_normally() {
    let up = FakeUpstream::start("alpha").await;
    let stall = Duration::from_millis(200);
    up.push(Behaviour::StallBeforeHeaders(stall));
    let before = Instant::now();
    let answer = chat(up.addr, &chat_body("m", false, None)).await;
    let first_byte = answer.frames.first().map(|(at, _)| *at).expect("a body");
    assert!(first_byte - before >= stall);
    assert!(before.elapsed() < PATIENCE, "sanity bound");
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.json()["choices"][0]["message"]["content"],
        "hello from alpha"
    );

    // Nothing at all reaches a client that gives up before the stall ends.
    up.push(Behaviour::StallBeforeHeaders(Duration::from_secs(5)));
    let mut stream = TcpStream::connect(up.addr).await.expect("connect");
    let request = raw_chat_request(&chat_body("m", true, None));
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut buf = [0u8; 64];
    let read = timeout(Duration::from_millis(300), stream.read(&mut buf)).await;
    assert!(read.is_err(), "no byte during the stall");
    up.stop().await;
}

// === script and recording ===

#[tokio::test]
async fn queued_behaviours_are_consumed_in_order_then_the_default_applies() {
    let up = FakeUpstream::start("alpha").await;
    up.push(Behaviour::status(500));
    up.push(Behaviour::rate_limited(2));
    up.push(Behaviour::Reset);
    up.push(Behaviour::status(503));
    assert_eq!(up.queued(), 4);

    let body = chat_body("m", false, None);
    let mut seen = Vec::new();
    for _ in 0..6 {
        let status = call(up.addr, "POST", CHAT, &[], &body)
            .await
            .map(|a| a.status)
            .ok();
        seen.push(status);
    }
    assert_eq!(
        seen,
        [Some(500), Some(429), None, Some(503), Some(200), Some(200)]
    );
    assert_eq!(up.queued(), 0);

    up.set_default(Behaviour::status(401));
    let answer = chat(up.addr, &body).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json()["error"]["code"], "invalid_api_key");
    let behaviours: Vec<_> = up.requests().into_iter().map(|r| r.behaviour).collect();
    assert_eq!(behaviours[0], Some(Behaviour::status(500)));
    assert_eq!(behaviours[4], Some(Behaviour::Ok));
    assert_eq!(behaviours[6], Some(Behaviour::status(401)));
    up.stop().await;
}

#[tokio::test]
async fn the_recording_captures_authorization_model_and_stream_options() {
    let up = FakeUpstream::start("alpha").await;
    let body = chat_body("gpt-4o-mini", true, Some(true));
    let answer = call(
        up.addr,
        "POST",
        CHAT,
        &[("Authorization", "Bearer sk-test-123"), ("X-Custom", "yes")],
        &body,
    )
    .await
    .expect("answered");
    assert_eq!(answer.status, 200);

    let records = up.requests();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.seq, 0);
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, CHAT);
    assert_eq!(r.header("authorization"), Some("Bearer sk-test-123"));
    assert!(r.headers.iter().any(|(n, v)| n == "x-custom" && v == "yes"));
    assert_eq!(r.body, body.as_bytes());
    assert_eq!(r.model.as_deref(), Some("gpt-4o-mini"));
    assert!(r.stream);
    assert_eq!(r.stream_options, Some(json!({"include_usage": true})));
    assert!(r.include_usage());
    assert_eq!(
        r.json.as_ref().map(|j| &j["messages"][0]["content"]),
        Some(&json!("hi"))
    );
    assert_eq!(r.status, Some(200));
    let sent: Vec<&str> = r.events.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(sent, answer.events(), "the log is what the client got");
    assert_eq!(up.served(), 1);
    up.stop().await;
}

#[tokio::test]
async fn recording_can_be_turned_off() {
    let up = FakeUpstream::start("alpha").await;
    up.set_recording(false);
    chat(up.addr, &chat_body("m", true, None)).await;
    assert!(up.requests().is_empty());
    assert_eq!(up.served(), 1);
    up.stop().await;
}

#[tokio::test]
async fn tallies_count_requests_and_reported_usage_per_user_with_recording_off() {
    let up = FakeUpstream::start("alpha").await;
    up.set_recording(false);
    let with_user = |stream: bool, include_usage: bool| {
        json!({
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": stream,
            "stream_options": {"include_usage": include_usage},
            "user": "tablet",
        })
        .to_string()
    };
    // A JSON answer and a stream with its usage chunk report usage; a stream without one,
    // and a stream cut before its end, do not.
    let json_answer = chat(up.addr, &with_user(false, false)).await.json();
    let streamed = chat(up.addr, &with_user(true, true)).await;
    chat(up.addr, &with_user(true, false)).await;
    up.push(Behaviour::DropMidStream { after_chunks: 1 });
    let _ = call(up.addr, "POST", CHAT, &[], &with_user(true, true)).await;
    chat(up.addr, &chat_body("m", false, None)).await;
    let tallies = up.tallies();
    let streamed_usage = streamed.chunks().last().expect("usage chunk")["usage"].clone();
    let t = tallies["tablet"];
    assert_eq!((t.requests, t.usage_reports), (4, 2), "{t:?}");
    assert_eq!(
        t.prompt_tokens,
        json_answer["usage"]["prompt_tokens"].as_u64().unwrap()
            + streamed_usage["prompt_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        t.completion_tokens,
        json_answer["usage"]["completion_tokens"].as_u64().unwrap()
            + streamed_usage["completion_tokens"].as_u64().unwrap()
    );
    assert_eq!(tallies[""].requests, 1, "no user: counted under \"\"");
    assert!(up.requests().is_empty());
    up.stop().await;
}

#[tokio::test]
async fn wait_served_returns_when_the_count_is_reached_or_the_time_is_up() {
    let up = FakeUpstream::start("alpha").await;
    assert!(!up.wait_served(1, Duration::from_millis(50)).await);
    let addr = up.addr;
    let client = tokio::spawn(async move {
        for _ in 0..3 {
            chat(addr, &chat_body("m", false, None)).await;
        }
    });
    assert!(up.wait_served(3, PATIENCE).await);
    client.await.expect("client task");
    up.stop().await;
}

// === connections and lifecycle ===

#[tokio::test]
async fn keep_alive_serves_many_requests_on_one_connection() {
    let up = FakeUpstream::start("alpha").await;
    let mut client = Client::connect(up.addr).await;
    for i in 0..50 {
        let stream = i % 2 == 0;
        let answer = client
            .send("POST", CHAT, &[], &chat_body("m", stream, None))
            .await
            .expect("answered on the same connection");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body_error, None);
    }
    assert_eq!(up.served(), 50);
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_clients_are_all_served() {
    let up = FakeUpstream::start("alpha").await;
    up.set_recording(false);
    let addr = up.addr;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(addr).await;
            for i in 0..20 {
                let answer = client
                    .send("POST", CHAT, &[], &chat_body("m", i % 3 == 0, None))
                    .await
                    .expect("answered");
                assert_eq!(answer.status, 200);
            }
        }));
    }
    for task in tasks {
        timeout(PATIENCE, task)
            .await
            .expect("clients finish in time")
            .expect("client task");
    }
    assert_eq!(up.served(), 32 * 20);
    up.stop().await;
}

#[tokio::test]
async fn stop_cuts_streams_in_flight_and_refuses_new_connections() {
    let up = FakeUpstream::start("alpha").await;
    up.push(Behaviour::SlowDrip {
        chunks: 1000,
        delay: Duration::from_millis(50),
    });
    let addr = up.addr;
    let client = tokio::spawn(async move { chat(addr, &chat_body("m", true, None)).await });
    assert!(up.wait_served(1, PATIENCE).await);

    timeout(PATIENCE, up.stop()).await.expect("stop is bounded");
    let answer = timeout(PATIENCE, client)
        .await
        .expect("the client's stream ends")
        .expect("client task");
    assert!(answer.body_error.is_some());
    assert!(!answer.events().iter().any(|e| e == "[DONE]"));
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

#[test]
fn the_binary_serves_until_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-upstream"))
        .args(["--listen", "127.0.0.1:0", "--name", "bench"])
        .args(["--mode", "stream", "--chunks", "5", "--delay-ms", "1"])
        .args(["--models", "a,b"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn fake-upstream");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, line) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let _ = lines.send(first);
    });
    let first = line.recv_timeout(PATIENCE).expect("a first line in time");
    let addr: SocketAddr = first
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    assert!(addr.ip().is_loopback());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let stream = chat(addr, &chat_body("m", false, None)).await;
        assert_eq!(stream.header("x-fake-upstream"), Some("bench"));
        assert_eq!(stream.chunks().len(), 1 + 5 + 1);
        let models = call(addr, "GET", "/v1/models", &[], "")
            .await
            .expect("answered");
        assert_eq!(models.json()["data"][1]["id"], "b");
    });

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let mut exit = None;
    for _ in 0..100 {
        if let Some(code) = child.try_wait().expect("wait fake-upstream") {
            exit = Some(code);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let Some(exit) = exit else {
        let _ = child.kill();
        panic!("fake-upstream did not exit within 5 s of SIGTERM");
    };
    assert!(exit.success(), "exit status {exit}");
}

#[test]
fn the_binary_rejects_bad_options() {
    let output = Command::new(env!("CARGO_BIN_EXE_fake-upstream"))
        .args(["--listen", "127.0.0.1:0", "--mode", "fast"])
        .output()
        .expect("run fake-upstream");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--mode must be ok or stream"), "{stderr}");
}
