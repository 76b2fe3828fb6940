//! Any bytes: the balancer's JSON readers never panic and read exactly what a
//! `serde_json::Value` of the same bytes holds (`inspect::reference`) — the request
//! inspection (`model`, `stream`, usage option, output caps) and the streamed-chunk reader
//! (choices, text bytes, usage) — and an accepted body has a non-empty model. (They skip what
//! they do not need without building a tree, checking its syntax but not its nesting depth,
//! number range or surrogate pairing: input a tree refuses for one of those is checked for
//! not panicking only.)
#![no_main]

use hearth::balancer::inspect::{self, reference, Refusal};
use hearth::balancer::proxy::{input_estimate, inspect as proxy_inspect, output_cap};
use libfuzzer_sys::fuzz_target;

/// serde_json errors a tree reports for parts the readers skip without that check.
const LENIENT: &[&str] = &["recursion limit", "number out of range", "surrogate"];

fuzz_target!(|data: &[u8]| {
    let _ = input_estimate(data.len());
    if let Ok(r) = proxy_inspect(data) {
        assert!(!r.model.is_empty());
        for suffix in ["/chat/completions", "/completions", "/embeddings"] {
            let _ = output_cap(&r.caps, suffix, 4096);
        }
    }
    let (got, want) = (inspect::inspect(data), reference::request(data));
    let chunk = inspect::chunk(data);
    match (&got, &want) {
        (_, Err(Refusal::InvalidJson(e))) if LENIENT.iter().any(|l| e.contains(l)) => {}
        // Both refuse it as JSON (serde_json's message may name another spot).
        (Err(Refusal::InvalidJson(_)), Err(Refusal::InvalidJson(_))) => assert_eq!(chunk, None),
        _ => {
            assert_eq!(got, want);
            assert_eq!(chunk, reference::chunk(data));
        }
    }
});
