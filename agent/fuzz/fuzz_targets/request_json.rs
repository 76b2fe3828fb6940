//! Any request body: the balancer's inspection (`model`, `stream`, usage option) and the
//! budget's worst-case estimate never panic, and an accepted body has a non-empty model.
#![no_main]

use hearth::balancer::proxy::{input_estimate, inspect, output_cap};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = input_estimate(data.len());
    if let Ok(r) = inspect(data) {
        assert!(!r.model.is_empty());
        for suffix in ["/chat/completions", "/completions", "/embeddings"] {
            let _ = output_cap(&r.body, suffix, 4096);
        }
    }
});
