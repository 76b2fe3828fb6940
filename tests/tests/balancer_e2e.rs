//! The LLM balancer end to end: the real `hearth` binary (`hearth run --config FILE`) between a
//! real HTTP client and fake OpenAI upstreams, all on 127.0.0.1. This file covers the surface
//! (paths, `/v1/models`, `/health`, errors for bad input), what reaches the upstream (the
//! endpoint's key and never the client's, the body, usage asked for in streams), routing rules
//! and the strategies.
//!
//! Failover lives in `balancer_failover.rs`, streaming and settlement in
//! `balancer_streaming.rs`, hot reload in `balancer_reload.rs`.

use std::collections::{BTreeMap, BTreeSet};

use hearth_e2e::client::{call, chat, chat_body, raw_exchange, Answer, Client, CHAT};
use hearth_e2e::daemon::{balancer_section, endpoint_section, Hearth};
use hearth_e2e::fake_upstream::{Behaviour, FakeUpstream};
use serde_json::{json, Value};
use std::time::Duration;

/// Asserts `a` is an OpenAI-shaped error: `status`, JSON
/// `{"error":{"message","type","param":null,"code"}}` and nothing else, with `code` when given.
fn assert_openai_error(a: &Answer, status: u16, code: Option<&str>) {
    assert_eq!(a.status, status, "status; body {}", a.text());
    assert!(
        a.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "content-type {:?}",
        a.header("content-type")
    );
    let j = a.json();
    let keys: BTreeSet<&str> = j
        .as_object()
        .expect("object")
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(keys, BTreeSet::from(["error"]), "{j}");
    let e = &j["error"];
    let keys: BTreeSet<&str> = e
        .as_object()
        .expect("error object")
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["message", "type", "param", "code"]),
        "{j}"
    );
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{j}");
    assert!(e["type"].as_str().is_some_and(|t| !t.is_empty()), "{j}");
    assert!(e["param"].is_null(), "{j}");
    assert!(e["code"].as_str().is_some_and(|c| !c.is_empty()), "{j}");
    if let Some(code) = code {
        assert_eq!(e["code"], code, "{j}");
    }
}

/// Which endpoint served `a`, from hearth's `x-hearth-endpoint` header.
fn served_by(a: &Answer) -> String {
    a.header("x-hearth-endpoint")
        .unwrap_or_else(|| {
            panic!(
                "no x-hearth-endpoint; status {} body {}",
                a.status,
                a.text()
            )
        })
        .to_owned()
}

/// A non-streamed chat request for `model` on a fresh connection, which must succeed; returns
/// the endpoint that served it (checked against the fake's own answer).
async fn chat_ok(h: &Hearth, model: &str) -> String {
    let a = chat(h.addr, &chat_body(model, false, None)).await;
    assert_eq!(a.status, 200, "{}", a.text());
    let by = served_by(&a);
    assert_eq!(
        a.json()["choices"][0]["message"]["content"],
        format!("hello from {by}"),
        "x-hearth-endpoint names the upstream that answered"
    );
    by
}

/// Counts of endpoints in `served`.
fn tally(served: &[String]) -> BTreeMap<String, usize> {
    let mut t = BTreeMap::new();
    for s in served {
        *t.entry(s.clone()).or_default() += 1;
    }
    t
}

// === surface ===

#[tokio::test]
async fn models_lists_every_endpoint_model_and_route_alias_but_no_glob() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let (a, b) = (alpha.base_url(), beta.base_url());
    let h = Hearth::start(|s| {
        format!(
            "{}{}{}config route 'cheap'\n\toption match_model 'cheap'\n\tlist endpoint 'beta'\n\toption model 'm2'\n\
             config route 'llamas'\n\toption match_model 'llama*'\n\tlist endpoint 'alpha'\n",
            balancer_section(s.listen, &[]),
            endpoint_section("alpha", &a, &["m1", "gpt-4o*"], &[]),
            endpoint_section("beta", &b, &["m2", "m1"], &[]),
        )
    })
    .await;
    let models = call(h.addr, "GET", "/v1/models", &[], "")
        .await
        .expect("answered");
    assert_eq!(models.status, 200);
    assert!(models
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json")));
    let j = models.json();
    assert_eq!(j["object"], "list", "{j}");
    let data = j["data"].as_array().expect("data is a list");
    for m in data {
        assert_eq!(m["object"], "model", "{m}");
    }
    let mut ids: Vec<&str> = data.iter().map(|m| m["id"].as_str().expect("id")).collect();
    ids.sort();
    assert_eq!(ids, ["cheap", "m1", "m2"], "every name once, no glob");
    assert_eq!(
        alpha.requests().len() + beta.requests().len(),
        0,
        "answered by hearth itself"
    );
}

#[tokio::test]
async fn health_is_ok_and_lists_every_endpoint() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let (a, b) = (alpha.base_url(), beta.base_url());
    let h = Hearth::start(|s| {
        format!(
            "{}{}{}",
            balancer_section(s.listen, &[]),
            endpoint_section("alpha", &a, &["m"], &[]),
            endpoint_section("beta", &b, &["m"], &[]),
        )
    })
    .await;
    let health = call(h.addr, "GET", "/health", &[], "")
        .await
        .expect("answered");
    assert_eq!(health.status, 200);
    let j = health.json();
    assert_eq!(j["status"], "ok", "{j}");
    let names: Vec<&str> = j["endpoints"]
        .as_array()
        .expect("endpoints is a list")
        .iter()
        .map(|e| e["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
}

#[tokio::test]
async fn other_paths_get_404_and_wrong_methods_405_as_openai_errors() {
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
    let body = chat_body("m", false, None);
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/v1"),
        ("POST", "/v1/responses"),
        ("POST", "/v1/chat"),
        ("GET", "/metrics"),
    ] {
        let a = call(h.addr, method, path, &[], &body)
            .await
            .expect("answered");
        assert_openai_error(&a, 404, None);
    }
    for (method, path) in [
        ("GET", CHAT),
        ("PUT", CHAT),
        ("GET", "/v1/completions"),
        ("GET", "/v1/embeddings"),
        ("POST", "/v1/models"),
        ("DELETE", "/health"),
    ] {
        let a = call(h.addr, method, path, &[], &body)
            .await
            .expect("answered");
        assert_openai_error(&a, 405, None);
    }
    assert_eq!(alpha.served(), 0);
}

// === bad input ===

/// One endpoint `alpha` serving `m1` and `m2`, `max_body` 1024.
async fn small_body_hearth(alpha: &FakeUpstream) -> Hearth {
    let a = alpha.base_url();
    Hearth::start(|s| {
        format!(
            "{}{}",
            balancer_section(s.listen, &[("max_body", "1024")]),
            endpoint_section("alpha", &a, &["m1", "m2"], &[]),
        )
    })
    .await
}

#[tokio::test]
async fn a_body_not_sent_as_json_gets_415() {
    let alpha = FakeUpstream::start("alpha").await;
    let h = small_body_hearth(&alpha).await;
    let body = chat_body("m1", false, None);
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let a = call(h.addr, "POST", CHAT, &[("content-type", ct)], &body)
            .await
            .expect("answered");
        assert_openai_error(&a, 415, None);
    }
    // No Content-Type at all.
    let raw = format!(
        "POST {CHAT} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = String::from_utf8_lossy(&raw_exchange(h.addr, &raw).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
    assert_eq!(alpha.served(), 0, "nothing reached the upstream");

    // Parameters of the media type are fine.
    let a = call(
        h.addr,
        "POST",
        CHAT,
        &[("content-type", "application/json; charset=utf-8")],
        &body,
    )
    .await
    .expect("answered");
    assert_eq!(a.status, 200, "{}", a.text());
}

#[tokio::test]
async fn a_body_over_max_body_gets_413_request_too_large() {
    let alpha = FakeUpstream::start("alpha").await;
    let h = small_body_hearth(&alpha).await;
    let big = json!({"model": "m1", "messages": [{"role": "user", "content": "x".repeat(3000)}]});
    let a = call(h.addr, "POST", CHAT, &[], &big.to_string())
        .await
        .expect("answered");
    assert_openai_error(&a, 413, Some("request_too_large"));
    // Just under the limit is fine.
    let fits = json!({"model": "m1", "messages": [{"role": "user", "content": "x".repeat(900)}]});
    assert!(fits.to_string().len() <= 1024);
    let a = call(h.addr, "POST", CHAT, &[], &fits.to_string())
        .await
        .expect("answered");
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        alpha.served(),
        1,
        "only the request that fits reached the upstream"
    );
}

#[tokio::test]
async fn malformed_json_a_non_object_and_a_missing_model_get_400() {
    let alpha = FakeUpstream::start("alpha").await;
    let h = small_body_hearth(&alpha).await;
    let a = call(
        h.addr,
        "POST",
        CHAT,
        &[],
        r#"{"model": "m1", "messages": ["#,
    )
    .await
    .expect("answered");
    assert_openai_error(&a, 400, Some("invalid_json"));
    let a = call(h.addr, "POST", CHAT, &[], "").await.expect("answered");
    assert_openai_error(&a, 400, Some("invalid_json"));
    for not_object in [r#"[{"model":"m1"}]"#, r#""m1""#, "42", "null"] {
        let a = call(h.addr, "POST", CHAT, &[], not_object)
            .await
            .expect("answered");
        assert_openai_error(&a, 400, None);
    }
    let a = call(
        h.addr,
        "POST",
        CHAT,
        &[],
        r#"{"messages":[{"role":"user","content":"hi"}]}"#,
    )
    .await
    .expect("answered");
    assert_openai_error(&a, 400, Some("missing_model"));
    for path in ["/v1/completions", "/v1/embeddings"] {
        let a = call(h.addr, "POST", path, &[], r#"{"input":"x"}"#)
            .await
            .expect("answered");
        assert_openai_error(&a, 400, Some("missing_model"));
    }
    assert_eq!(alpha.served(), 0, "nothing reached the upstream");
}

#[tokio::test]
async fn an_unknown_model_gets_404_model_not_found_listing_the_available_ones() {
    let alpha = FakeUpstream::start("alpha").await;
    let h = small_body_hearth(&alpha).await;
    let a = chat(h.addr, &chat_body("gpt-5-ultra", false, None)).await;
    assert_openai_error(&a, 404, Some("model_not_found"));
    let message = a.json()["error"]["message"]
        .as_str()
        .expect("message")
        .to_owned();
    assert!(message.contains("gpt-5-ultra"), "{message}");
    assert!(
        message.contains("m1") && message.contains("m2"),
        "lists what exists: {message}"
    );
    assert_eq!(alpha.served(), 0);
}

// === what reaches the upstream ===

#[tokio::test]
async fn chat_completions_and_embeddings_reach_the_same_path_upstream_with_the_same_body() {
    let alpha = FakeUpstream::start("alpha").await;
    let a = alpha.base_url();
    let h = Hearth::start(|s| {
        format!(
            "{}{}",
            balancer_section(s.listen, &[]),
            endpoint_section("alpha", &a, &["m", "emb"], &[])
        )
    })
    .await;
    let chat_req = json!({
        "model": "m",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "temperature": 0.25,
        "max_tokens": 7,
        "user": "someone",
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    });
    let answer = call(h.addr, "POST", CHAT, &[], &chat_req.to_string())
        .await
        .expect("answered");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("x-hearth-endpoint"), Some("alpha"));
    let j = answer.json();
    assert_eq!(j["object"], "chat.completion");
    assert_eq!(j["choices"][0]["message"]["content"], "hello from alpha");
    assert_eq!(j["usage"]["completion_tokens"], 3);

    let text = call(
        h.addr,
        "POST",
        "/v1/completions",
        &[],
        r#"{"model":"m","prompt":"say"}"#,
    )
    .await
    .expect("answered");
    assert_eq!(text.status, 200);
    assert_eq!(text.json()["object"], "text_completion");
    assert_eq!(text.json()["choices"][0]["text"], "hello from alpha");

    let emb = call(
        h.addr,
        "POST",
        "/v1/embeddings",
        &[],
        r#"{"model":"emb","input":["a","b"]}"#,
    )
    .await
    .expect("answered");
    assert_eq!(emb.status, 200);
    let ej = emb.json();
    assert_eq!(ej["object"], "list");
    assert_eq!(ej["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(ej["data"][1]["embedding"].as_array().map(Vec::len), Some(8));

    let records = alpha.requests();
    let paths: Vec<&str> = records.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, [CHAT, "/v1/completions", "/v1/embeddings"]);
    assert!(records.iter().all(|r| r.method == "POST"));
    assert_eq!(
        records[0].json.as_ref(),
        Some(&chat_req),
        "the body arrives as sent"
    );
    assert_eq!(
        records[2].json.as_ref(),
        Some(&json!({"model":"emb","input":["a","b"]}))
    );
    assert!(records
        .iter()
        .all(|r| r.header("content-type") == Some("application/json")));
}

#[tokio::test]
async fn the_endpoint_key_is_injected_and_the_client_authorization_never_forwarded() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let gamma = FakeUpstream::start("gamma").await;
    let (a, b, g) = (alpha.base_url(), beta.base_url(), gamma.base_url());
    let h = Hearth::start(|s| {
        let key_file = s.dir.join("beta.key");
        std::fs::write(&key_file, "sk-beta-from-file\n").expect("write key file");
        set_private(&key_file);
        format!(
            "{}{}{}{}",
            balancer_section(s.listen, &[]),
            endpoint_section("alpha", &a, &["a"], &[("api_key", "sk-alpha-inline")]),
            endpoint_section(
                "beta",
                &b,
                &["b"],
                &[("api_key_file", key_file.to_str().expect("utf-8 path"))]
            ),
            endpoint_section("gamma", &g, &["g"], &[]),
        )
    })
    .await;
    let secret = "Bearer sk-client-secret-must-not-leak";
    for (model, stream) in [
        ("a", false),
        ("b", false),
        ("g", false),
        ("a", true),
        ("b", true),
        ("g", true),
    ] {
        let answer = call(
            h.addr,
            "POST",
            CHAT,
            &[
                ("authorization", secret),
                ("x-api-key", "sk-client-secret-2"),
                ("api-key", "sk-client-secret-3"),
            ],
            &chat_body(model, stream, None),
        )
        .await
        .expect("answered");
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    for r in alpha.requests() {
        assert_eq!(r.header("authorization"), Some("Bearer sk-alpha-inline"));
    }
    for r in beta.requests() {
        assert_eq!(r.header("authorization"), Some("Bearer sk-beta-from-file"));
    }
    for r in gamma.requests() {
        assert_eq!(
            r.header("authorization"),
            None,
            "an endpoint without a key gets none"
        );
    }
    for up in [&alpha, &beta, &gamma] {
        assert_eq!(up.served(), 2);
        for r in up.requests() {
            for (name, value) in &r.headers {
                assert!(
                    !value.contains("sk-client-secret"),
                    "{name}: {value} leaked to {}",
                    up.name()
                );
            }
        }
    }
}

fn set_private(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

#[tokio::test]
async fn streams_ask_upstream_for_usage_and_hide_it_from_clients_that_did_not() {
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
    // Not asked (no stream_options), and explicitly declined.
    for include in [None, Some(false)] {
        let answer = chat(h.addr, &chat_body("m", true, include)).await;
        assert_eq!(answer.status, 200);
        assert!(answer
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream")));
        assert_eq!(answer.header("x-hearth-endpoint"), Some("alpha"));
        assert_eq!(answer.body_error, None);
        let events = answer.events();
        assert_eq!(
            events.last().map(String::as_str),
            Some("[DONE]"),
            "{events:?}"
        );
        assert_eq!(events.iter().filter(|e| *e == "[DONE]").count(), 1);
        let chunks = answer.chunks();
        assert_eq!(
            chunks.len(),
            1 + 3 + 1,
            "role, 3 contents, finish — no usage chunk: {events:?}"
        );
        for c in &chunks {
            assert!(
                !c["choices"].as_array().expect("choices").is_empty(),
                "usage chunk leaked: {c}"
            );
            assert!(
                c.get("usage").is_none_or(Value::is_null),
                "usage leaked: {c}"
            );
        }
        assert_eq!(answer.content(), "alpha:tok0 alpha:tok1 alpha:tok2 ");
    }
    // The text completions stream too.
    let text = call(
        h.addr,
        "POST",
        "/v1/completions",
        &[],
        r#"{"model":"m","prompt":"p","stream":true}"#,
    )
    .await
    .expect("answered");
    assert_eq!(text.events().last().map(String::as_str), Some("[DONE]"));
    assert!(text
        .chunks()
        .iter()
        .all(|c| !c["choices"].as_array().expect("choices").is_empty()));
    assert_eq!(text.content(), "alpha:tok0 alpha:tok1 alpha:tok2 ");

    let records = alpha.requests();
    assert_eq!(records.len(), 3);
    for r in &records {
        assert!(r.stream);
        assert!(
            r.include_usage(),
            "hearth asks for usage upstream: {:?}",
            r.stream_options
        );
    }
}

#[tokio::test]
async fn a_json_answer_keeps_its_length_and_is_settled_once_complete() {
    // The upstream's Content-Length goes to the client (no re-chunking: one write per answer),
    // and the settlement still happens, complete, exactly once.
    let alpha = FakeUpstream::start("alpha").await;
    let a = alpha.base_url();
    let h = Hearth::start(|s| {
        format!(
            "{}{}",
            balancer_section(s.listen, &[]),
            endpoint_section("alpha", &a, &["m1"], &[]),
        )
    })
    .await;
    let body = chat_body("m1", false, None);
    let raw = format!(
        "POST {CHAT} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = raw_exchange(h.addr, &raw).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, payload) = text.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(!head.contains("transfer-encoding"), "re-chunked:\n{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("a content-length")
        .trim()
        .parse()
        .expect("a number");
    assert_eq!(length, payload.len(), "{text}");
    let v: Value = serde_json::from_str(payload).expect("the upstream's JSON, whole");
    assert!(v["usage"]["total_tokens"].as_u64().is_some(), "{v}");
    let settled = h.wait_settlements(1).await;
    assert_eq!(settled.len(), 1);
    assert_eq!(settled[0].outcome, "ok", "{}", settled[0].line);
    assert_eq!(settled[0].bytes().1, length as u64, "{}", settled[0].line);
    let (prompt, completion, estimated) = settled[0].tokens();
    assert_eq!(
        prompt + completion,
        v["usage"]["total_tokens"].as_u64().unwrap()
    );
    assert!(!estimated, "{}", settled[0].line);
}

#[tokio::test]
async fn a_client_that_asked_for_usage_gets_the_usage_chunk() {
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
    let answer = chat(h.addr, &chat_body("m", true, Some(true))).await;
    let events = answer.events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks = answer.chunks();
    assert_eq!(chunks.len(), 1 + 3 + 1 + 1, "{events:?}");
    let last = chunks.last().expect("usage chunk");
    assert_eq!(last["choices"], json!([]));
    let upstream_body = alpha.requests()[0].body.len() as u64;
    let prompt = upstream_body.div_ceil(4);
    assert_eq!(
        last["usage"],
        json!({"prompt_tokens": prompt, "completion_tokens": 3, "total_tokens": prompt + 3})
    );
    assert!(alpha.requests()[0].include_usage());
}

// === routing ===

#[tokio::test]
async fn an_alias_route_sends_its_model_name_to_its_endpoints() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let (a, b) = (alpha.base_url(), beta.base_url());
    let h = Hearth::start(|s| {
        format!(
            "{}{}{}config route 'local'\n\toption match_model 'cheap'\n\tlist endpoint 'beta'\n\toption model 'llama3.2:3b'\n",
            balancer_section(s.listen, &[]),
            endpoint_section("alpha", &a, &["gpt-4o-mini"], &[]),
            endpoint_section("beta", &b, &["llama3.2:3b"], &[]),
        )
    })
    .await;
    for _ in 0..3 {
        assert_eq!(chat_ok(&h, "cheap").await, "beta");
    }
    let answer = chat(h.addr, &chat_body("cheap", true, None)).await;
    assert_eq!(served_by(&answer), "beta");
    assert_eq!(answer.events().last().map(String::as_str), Some("[DONE]"));
    assert_eq!(alpha.served(), 0);
    let models: Vec<Option<String>> = beta.requests().into_iter().map(|r| r.model).collect();
    assert_eq!(
        models,
        vec![Some("llama3.2:3b".to_owned()); 4],
        "the model is rewritten upstream"
    );
    // The real name still works, and goes where the endpoints' lists say.
    assert_eq!(chat_ok(&h, "gpt-4o-mini").await, "alpha");
    assert_eq!(alpha.requests()[0].model.as_deref(), Some("gpt-4o-mini"));
}

#[tokio::test]
async fn routes_are_tried_in_file_order_before_the_endpoints_model_lists() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let gamma = FakeUpstream::start("gamma").await;
    let (a, b, g) = (alpha.base_url(), beta.base_url(), gamma.base_url());
    let h = Hearth::start(|s| {
        format!(
            "{}{}{}{}\
             config route 'first'\n\toption match_model 'gpt-4o*'\n\tlist endpoint 'beta'\n\
             config route 'second'\n\toption match_model 'gpt-4o'\n\tlist endpoint 'gamma'\n",
            balancer_section(s.listen, &[]),
            endpoint_section("alpha", &a, &["gpt-*"], &[]),
            endpoint_section("beta", &b, &["b-only"], &[]),
            endpoint_section("gamma", &g, &["g-only"], &[]),
        )
    })
    .await;
    assert_eq!(
        chat_ok(&h, "gpt-4o").await,
        "beta",
        "the first matching route wins"
    );
    assert_eq!(chat_ok(&h, "gpt-4o-mini").await, "beta");
    assert_eq!(
        chat_ok(&h, "gpt-3.5").await,
        "alpha",
        "no route: the endpoint whose glob matches"
    );
    assert_eq!(gamma.served(), 0);
    assert_eq!(
        beta.requests()[0].model.as_deref(),
        Some("gpt-4o"),
        "no rewrite without option model"
    );
}

#[tokio::test]
async fn a_device_listed_by_ip_is_routed_and_settled_by_its_group() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let gamma = FakeUpstream::start("gamma").await;
    let (a, b, g) = (alpha.base_url(), beta.base_url(), gamma.base_url());
    let config = |device: bool| {
        let (a, b, g) = (a.clone(), b.clone(), g.clone());
        move |s: &hearth_e2e::daemon::Setup<'_>| {
            let dev = if device {
                "config device 'tablet'\n\toption mac '02:00:00:00:00:01'\n\tlist ip '127.0.0.1'\n\toption group 'kids'\n"
            } else {
                ""
            };
            format!(
                "{}{}{}{}config group 'kids'\n{dev}\
                 config route 'for_kids'\n\toption match_group 'kids'\n\tlist endpoint 'beta'\n\
                 config route 'for_default'\n\toption match_model 'special'\n\toption match_group 'default'\n\tlist endpoint 'gamma'\n\toption model 'm'\n",
                balancer_section(s.listen, &[]),
                endpoint_section("alpha", &a, &["m"], &[]),
                endpoint_section("beta", &b, &["b-only"], &[]),
                endpoint_section("gamma", &g, &["g-only"], &[]),
            )
        }
    };
    // 127.0.0.1 listed by a device of group kids: every model goes the kids' way.
    let kids = Hearth::start(config(true)).await;
    assert_eq!(chat_ok(&kids, "m").await, "beta");
    assert_eq!(chat_ok(&kids, "special").await, "beta");
    let s = kids.wait_settlements(2).await;
    for s in &s {
        assert_eq!(
            (s.get("device"), s.get("group")),
            ("tablet", "kids"),
            "{}",
            s.line
        );
        assert_eq!(s.get("client"), "127.0.0.1");
    }
    drop(kids);

    // Without the device, 127.0.0.1 is in group default.
    let default = Hearth::start(config(false)).await;
    assert_eq!(chat_ok(&default, "m").await, "alpha");
    assert_eq!(chat_ok(&default, "special").await, "gamma");
    let s = default.wait_settlements(2).await;
    for s in &s {
        assert_eq!(
            (s.get("device"), s.get("group")),
            ("-", "default"),
            "{}",
            s.line
        );
    }
    assert_eq!(gamma.requests()[0].model.as_deref(), Some("m"));
}

#[tokio::test]
async fn the_x_hearth_prefer_header_selects_the_route_that_asks_for_it() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let gamma = FakeUpstream::start("gamma").await;
    let (a, b, g) = (alpha.base_url(), beta.base_url(), gamma.base_url());
    let h = Hearth::start(|s| {
        format!(
            "{}{}{}{}\
             config route 'fast'\n\toption match_model 'm'\n\toption match_prefer 'latency'\n\tlist endpoint 'beta'\n\
             config route 'cheap'\n\toption match_prefer 'cost'\n\tlist endpoint 'gamma'\n",
            balancer_section(s.listen, &[]),
            endpoint_section("alpha", &a, &["m"], &[]),
            endpoint_section("beta", &b, &["other"], &[]),
            endpoint_section("gamma", &g, &["other"], &[]),
        )
    })
    .await;
    let body = chat_body("m", false, None);
    let mut seen = Vec::new();
    for prefer in [
        None,
        Some("latency"),
        Some("cost"),
        Some("quality"),
        Some("nonsense"),
    ] {
        let headers: Vec<(&str, &str)> =
            prefer.map(|p| ("x-hearth-prefer", p)).into_iter().collect();
        let a = call(h.addr, "POST", CHAT, &headers, &body)
            .await
            .expect("answered");
        assert_eq!(a.status, 200, "{}", a.text());
        seen.push(served_by(&a));
    }
    assert_eq!(seen, ["alpha", "beta", "gamma", "alpha", "alpha"]);
}

#[tokio::test]
async fn without_a_route_the_pool_is_every_endpoint_whose_model_glob_matches() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let gamma = FakeUpstream::start("gamma").await;
    let (a, b, g) = (alpha.base_url(), beta.base_url(), gamma.base_url());
    let h = Hearth::start(|s| {
        format!(
            "{}{}{}{}",
            balancer_section(s.listen, &[("strategy", "round_robin")]),
            endpoint_section("alpha", &a, &["gpt-4o*"], &[]),
            endpoint_section("beta", &b, &["llama*", "qwen2.5:?b"], &[]),
            endpoint_section("gamma", &g, &["gpt-4o-mini"], &[]),
        )
    })
    .await;
    let mini: BTreeSet<String> = [
        chat_ok(&h, "gpt-4o-mini").await,
        chat_ok(&h, "gpt-4o-mini").await,
    ]
    .into();
    assert_eq!(
        mini,
        BTreeSet::from(["alpha".to_owned(), "gamma".to_owned()])
    );
    for _ in 0..3 {
        assert_eq!(chat_ok(&h, "gpt-4o").await, "alpha");
        assert_eq!(chat_ok(&h, "llama3.2:3b").await, "beta");
    }
    assert_eq!(chat_ok(&h, "qwen2.5:7b").await, "beta");
    let a = chat(h.addr, &chat_body("qwen2.5:14b", false, None)).await;
    assert_openai_error(&a, 404, Some("model_not_found"));
}

// === strategies ===

/// A hearth over fakes `names` serving model `m` with `balancer` options and extra per
/// endpoint options; returns it with the fakes.
async fn pool(
    names: &[&str],
    balancer: &[(&str, &str)],
    endpoint_options: &[&[(&str, &str)]],
) -> (Hearth, Vec<FakeUpstream>) {
    let mut fakes = Vec::new();
    for n in names {
        fakes.push(FakeUpstream::start(n).await);
    }
    let urls: Vec<String> = fakes.iter().map(FakeUpstream::base_url).collect();
    let h = Hearth::start(|s| {
        let mut text = balancer_section(s.listen, balancer);
        for (i, n) in names.iter().enumerate() {
            let opts = endpoint_options.get(i).copied().unwrap_or(&[]);
            text.push_str(&endpoint_section(n, &urls[i], &["m"], opts));
        }
        text
    })
    .await;
    (h, fakes)
}

#[tokio::test]
async fn round_robin_alternates_exactly() {
    let (h, fakes) = pool(&["alpha", "beta"], &[("strategy", "round_robin")], &[]).await;
    let mut seen = Vec::new();
    for _ in 0..10 {
        seen.push(chat_ok(&h, "m").await);
    }
    for pair in seen.windows(2) {
        assert_ne!(pair[0], pair[1], "not alternating: {seen:?}");
    }
    assert_eq!((fakes[0].served(), fakes[1].served()), (5, 5));
}

#[tokio::test]
async fn weighted_three_to_one_splits_three_to_one() {
    let (h, fakes) = pool(
        &["alpha", "beta"],
        &[("strategy", "weighted")],
        &[&[("weight", "3")], &[("weight", "1")]],
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..40 {
        seen.push(chat_ok(&h, "m").await);
    }
    let t = tally(&seen);
    let alpha = t.get("alpha").copied().unwrap_or(0);
    assert!((27..=33).contains(&alpha), "alpha got {alpha} of 40: {t:?}");
    assert_eq!(alpha + t.get("beta").copied().unwrap_or(0), 40);
    assert_eq!(fakes[0].served(), alpha);
}

#[tokio::test]
async fn cost_always_picks_the_cheapest_endpoint() {
    let (h, fakes) = pool(
        &["alpha", "beta", "gamma"],
        &[("strategy", "cost")],
        &[
            &[("price_input", "1"), ("price_output", "2")],
            &[("price_input", "0.1"), ("price_output", "0.2")],
            &[("price_input", "5"), ("price_output", "5")],
        ],
    )
    .await;
    for _ in 0..10 {
        assert_eq!(chat_ok(&h, "m").await, "beta");
    }
    assert_eq!((fakes[0].served(), fakes[2].served()), (0, 0));
}

#[tokio::test]
async fn ip_hash_sticks_every_request_from_one_address_to_one_upstream() {
    let (h, fakes) = pool(&["alpha", "beta", "gamma"], &[("strategy", "ip_hash")], &[]).await;
    let mut seen = Vec::new();
    for i in 0..15 {
        let answer = chat(h.addr, &chat_body("m", i % 3 == 0, None)).await;
        assert_eq!(answer.status, 200);
        seen.push(served_by(&answer));
    }
    let t = tally(&seen);
    assert_eq!(t.len(), 1, "one upstream for 127.0.0.1: {t:?}");
    assert_eq!(fakes.iter().map(FakeUpstream::served).max(), Some(15));
}

#[tokio::test]
async fn least_connections_sends_the_next_request_to_the_idle_upstream() {
    let (h, fakes) = pool(
        &["alpha", "beta"],
        &[("strategy", "least_connections")],
        &[],
    )
    .await;
    for f in &fakes {
        f.set_default(Behaviour::stream(4, Duration::from_millis(250)));
    }
    let body = chat_body("m", true, None);
    for _ in 0..3 {
        let mut c1 = Client::connect(h.addr).await;
        let mut c2 = Client::connect(h.addr).await;
        let first = c1.open("POST", CHAT, &[], &body).await.expect("answered");
        let busy = first.headers["x-hearth-endpoint"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let health = call(h.addr, "GET", "/health", &[], "")
            .await
            .expect("answered")
            .json();
        let in_flight: BTreeMap<String, u64> = health["endpoints"]
            .as_array()
            .expect("endpoints")
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().expect("name").to_owned(),
                    e["in_flight"].as_u64().expect("in_flight"),
                )
            })
            .collect();
        assert_eq!(in_flight.get(&busy), Some(&1), "{health}");
        let second = c2.open("POST", CHAT, &[], &body).await.expect("answered");
        let other = second.headers["x-hearth-endpoint"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert_ne!(busy, other, "the second request went to the busy upstream");
        let (a, b) = (first.finish().await, second.finish().await);
        assert_eq!(a.events().last().map(String::as_str), Some("[DONE]"));
        assert_eq!(b.events().last().map(String::as_str), Some("[DONE]"));
    }
}

#[tokio::test]
async fn latency_measures_every_upstream_then_prefers_the_fastest() {
    let (h, fakes) = pool(&["alpha", "beta"], &[("strategy", "latency")], &[]).await;
    fakes[1].set_default(Behaviour::StallBeforeHeaders(Duration::from_millis(300)));
    let first_two: BTreeSet<String> = [chat_ok(&h, "m").await, chat_ok(&h, "m").await].into();
    assert_eq!(
        first_two,
        BTreeSet::from(["alpha".to_owned(), "beta".to_owned()]),
        "unmeasured first"
    );
    for _ in 0..8 {
        assert_eq!(
            chat_ok(&h, "m").await,
            "alpha",
            "the slow upstream was picked"
        );
    }
}

#[tokio::test]
async fn a_route_strategy_overrides_the_balancer_strategy() {
    let alpha = FakeUpstream::start("alpha").await;
    let beta = FakeUpstream::start("beta").await;
    let (a, b) = (alpha.base_url(), beta.base_url());
    let h = Hearth::start(|s| {
        format!(
            "{}{}{}config route 'spread'\n\toption match_model 'spread'\n\tlist endpoint 'alpha'\n\tlist endpoint 'beta'\n\toption model 'm'\n\toption strategy 'round_robin'\n",
            balancer_section(s.listen, &[("strategy", "cost")]),
            endpoint_section("alpha", &a, &["m"], &[("price_input", "0.1"), ("price_output", "0.1")]),
            endpoint_section("beta", &b, &["m"], &[("price_input", "1"), ("price_output", "1")]),
        )
    })
    .await;
    for _ in 0..4 {
        assert_eq!(chat_ok(&h, "m").await, "alpha", "cost for the plain model");
    }
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(chat_ok(&h, "spread").await);
    }
    for pair in seen.windows(2) {
        assert_ne!(pair[0], pair[1], "round_robin on the route: {seen:?}");
    }
}
