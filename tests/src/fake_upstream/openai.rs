//! The bodies an OpenAI-compatible server answers with, as pure functions over data.
//!
//! Everything the fake says is deterministic except `created` (a Unix timestamp), so tests can
//! predict token counts exactly: `prompt_tokens` is the request body's length in bytes divided
//! by four, rounded up, and `completion_tokens` is the number of whitespace-separated words of
//! the generated text. The generated text always names the upstream, so a test that sends
//! through hearth can tell which upstream served it.

use serde_json::{json, Value};

/// `prompt_tokens` the fake charges for a request body of `body_len` bytes.
pub(super) fn prompt_tokens(body_len: usize) -> u64 {
    body_len.div_ceil(4) as u64
}

/// `completion_tokens` the fake charges for generating `text`.
pub(super) fn completion_tokens(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The `usage` object of an answer.
pub(super) fn usage(prompt: u64, completion: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    })
}

/// The text of a non-streamed answer from upstream `name`.
pub(super) fn answer_text(name: &str) -> String {
    format!("hello from {name}")
}

/// The content of the `index`-th streamed chunk from upstream `name`: one word, so tests can
/// count chunks by counting words (or occurrences of `tok`).
pub(super) fn chunk_text(name: &str, index: usize) -> String {
    format!("{name}:tok{index} ")
}

/// A `chat.completion` answering with `content`.
pub(super) fn chat_completion(
    id: &str,
    created: u64,
    model: &str,
    content: &str,
    usage: Value,
) -> Value {
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": usage,
    })
}

/// A legacy `text_completion` answering with `text`.
pub(super) fn text_completion(
    id: &str,
    created: u64,
    model: &str,
    text: &str,
    usage: Value,
) -> Value {
    json!({
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "text": text,
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": usage,
    })
}

/// How many embeddings a request's `input` asks for: one for a string or a single token
/// array, one per item for an array of strings or of token arrays; `None` when `input` is
/// missing, empty or of another type.
pub(super) fn embedding_inputs(input: Option<&Value>) -> Option<usize> {
    match input? {
        Value::String(_) => Some(1),
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) if items.iter().all(Value::is_number) => Some(1),
        Value::Array(items) if items.iter().all(|i| i.is_string() || i.is_array()) => {
            Some(items.len())
        }
        _ => None,
    }
}

/// An embeddings `list` with `inputs` vectors of 8 floats; the floats depend only on the
/// upstream's name and the input's index.
pub(super) fn embeddings(name: &str, model: &str, inputs: usize, prompt_tokens: u64) -> Value {
    let seed = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let data: Vec<Value> = (0..inputs)
        .map(|index| {
            let vector: Vec<f64> = (0..8u32)
                .map(|k| {
                    let mixed = seed.wrapping_add((index as u32).wrapping_mul(8) + k);
                    f64::from(mixed % 2000) / 1000.0 - 1.0
                })
                .collect();
            json!({"object": "embedding", "index": index, "embedding": vector})
        })
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    })
}

/// The `GET /v1/models` list.
pub(super) fn models(ids: &[String]) -> Value {
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "fake"}))
        .collect();
    json!({"object": "list", "data": data})
}

/// An OpenAI-shaped error body for HTTP status `status`; `param` names the offending request
/// field when there is one.
pub(super) fn error(status: u16, message: &str, param: Option<&str>) -> Value {
    let (kind, code) = match status {
        400 => ("invalid_request_error", Value::Null),
        401 => ("invalid_request_error", json!("invalid_api_key")),
        403 => ("permission_error", Value::Null),
        404 => ("invalid_request_error", json!("not_found")),
        413 => ("invalid_request_error", json!("request_too_large")),
        429 => ("requests", json!("rate_limit_exceeded")),
        500..=599 => ("server_error", Value::Null),
        _ => ("invalid_request_error", Value::Null),
    };
    json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_tokens_are_body_bytes_over_four_rounded_up() {
        assert_eq!(prompt_tokens(0), 0);
        assert_eq!(prompt_tokens(1), 1);
        assert_eq!(prompt_tokens(4), 1);
        assert_eq!(prompt_tokens(5), 2);
    }

    #[test]
    fn completion_tokens_count_words() {
        assert_eq!(completion_tokens(&answer_text("alpha")), 3);
        let streamed: String = (0..5).map(|i| chunk_text("alpha", i)).collect();
        assert_eq!(completion_tokens(&streamed), 5);
    }

    #[test]
    fn usage_totals_add_up() {
        assert_eq!(
            usage(7, 3),
            json!({"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10})
        );
    }

    #[test]
    fn embedding_inputs_follow_the_openai_input_forms() {
        assert_eq!(embedding_inputs(Some(&json!("a"))), Some(1));
        assert_eq!(embedding_inputs(Some(&json!(["a", "b"]))), Some(2));
        assert_eq!(embedding_inputs(Some(&json!([1, 2, 3]))), Some(1));
        assert_eq!(embedding_inputs(Some(&json!([[1], [2]]))), Some(2));
        assert_eq!(embedding_inputs(Some(&json!([]))), None);
        assert_eq!(embedding_inputs(Some(&json!(3))), None);
        assert_eq!(embedding_inputs(None), None);
    }

    #[test]
    fn embeddings_have_eight_floats_per_input_and_depend_on_the_name() {
        let a = embeddings("alpha", "m", 2, 5);
        let b = embeddings("beta", "m", 2, 5);
        assert_eq!(a["data"].as_array().map(Vec::len), Some(2));
        assert_eq!(a["data"][1]["embedding"].as_array().map(Vec::len), Some(8));
        assert_eq!(a["data"][1]["index"], 1);
        assert_ne!(a["data"][0]["embedding"], b["data"][0]["embedding"]);
        assert_eq!(a, embeddings("alpha", "m", 2, 5));
    }

    #[test]
    fn errors_carry_openai_types() {
        let e = error(429, "slow down", None);
        assert_eq!(e["error"]["type"], "requests");
        assert_eq!(e["error"]["code"], "rate_limit_exceeded");
        assert_eq!(e["error"]["param"], Value::Null);
        assert_eq!(error(503, "x", None)["error"]["type"], "server_error");
        assert_eq!(error(400, "x", Some("model"))["error"]["param"], "model");
    }
}
