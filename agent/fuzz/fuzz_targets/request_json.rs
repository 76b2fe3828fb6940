//! Any bytes: the balancer's JSON readers never panic and read exactly what a
//! `serde_json::Value` of the same bytes holds — the request inspection (`model`, `stream`,
//! usage option, output caps) and the streamed-chunk reader (choices, text bytes, usage) —
//! and an accepted body has a non-empty model. (They skip what they do not need without
//! building a tree, checking its syntax but not its nesting depth, number range or
//! surrogate pairing: input a tree refuses for one of those is checked for not panicking
//! only.)
#![no_main]

use hearth::balancer::inspect::{self, Chunk, OutputCaps};
use hearth::balancer::proxy::{input_estimate, inspect, output_cap};
use hearth::balancer::sse::Usage;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The request fields as a `Value` gives them: model (or the refusal's name), stream,
/// include_usage, caps.
fn request_by_value(v: &Value) -> Result<(String, bool, bool, OutputCaps), &'static str> {
    if !v.is_object() {
        return Err("invalid_json");
    }
    let model = match v.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(_) => return Err("invalid_model"),
        None => return Err("missing_model"),
    };
    Ok((
        model,
        v.get("stream").and_then(Value::as_bool).unwrap_or(false),
        v.pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        OutputCaps {
            max_completion_tokens: v.get("max_completion_tokens").and_then(Value::as_u64),
            max_tokens: v.get("max_tokens").and_then(Value::as_u64),
            n: v.get("n").and_then(Value::as_u64),
        },
    ))
}

fn chunk_by_value(v: &Value) -> Chunk {
    let choices = v.get("choices").and_then(Value::as_array);
    Chunk {
        choices: choices.map(Vec::len),
        content_bytes: choices.map_or(0, |cs| {
            cs.iter()
                .filter_map(|c| {
                    c.get("delta")
                        .and_then(|d| d.get("content"))
                        .or_else(|| c.get("text"))
                        .and_then(Value::as_str)
                })
                .map(|t| t.len() as u64)
                .sum()
        }),
        usage: v.get("usage").filter(|u| !u.is_null()).map(|u| Usage {
            prompt_tokens: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
            completion_tokens: u.get("completion_tokens").and_then(Value::as_u64).unwrap_or(0),
            estimated: false,
        }),
    }
}

/// serde_json errors a tree reports for parts the readers skip without that check.
const LENIENT: &[&str] = &["recursion limit", "number out of range", "surrogate"];

fuzz_target!(|data: &[u8]| {
    let _ = input_estimate(data.len());
    let got = inspect(data);
    if let Ok(r) = &got {
        assert!(!r.model.is_empty());
        for suffix in ["/chat/completions", "/completions", "/embeddings"] {
            let _ = output_cap(&r.caps, suffix, 4096);
        }
    }
    let chunk = inspect::chunk(data);
    match serde_json::from_slice::<Value>(data) {
        Ok(v) => {
            let want = request_by_value(&v);
            match (&got, &want) {
                (Ok(r), Ok((model, stream, usage, caps))) => {
                    assert_eq!(&r.model, model);
                    assert_eq!(r.stream, *stream);
                    assert_eq!(r.client_wants_usage, *usage);
                    assert_eq!(r.caps, *caps);
                }
                (Err(e), Err(code)) => assert_eq!(e.code, *code),
                _ => panic!("inspection and Value disagree: {:?} vs {want:?}", got.as_ref().map(|r| &r.model)),
            }
            assert_eq!(chunk, Some(chunk_by_value(&v)));
        }
        // What the readers skip is checked for syntax, not for nesting depth, number range
        // or surrogate pairing (the module's documented leniency): no comparison then.
        Err(e) if LENIENT.iter().any(|l| e.to_string().contains(l)) => {}
        Err(_) => {
            assert!(got.as_ref().is_err_and(|e| e.code == "invalid_json"));
            assert_eq!(chunk, None);
        }
    }
});
