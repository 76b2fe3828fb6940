//! Any byte stream, split anywhere: the SSE relay filter never panics, passes every byte of a
//! stream it need not touch (no usage to strip) through unchanged, and finds usage in whole
//! JSON answers without a panic either.
#![no_main]

use bytes::Bytes;
use hearth::balancer::sse::{usage_in, SseFilter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let _ = usage_in(rest);
    for strip in [false, true] {
        let mut f = SseFilter::new(strip);
        let mut out = Vec::new();
        // Chunks of 1..=256 bytes, sizes from the first byte.
        let step = usize::from(split).max(1);
        for chunk in rest.chunks(step) {
            out.extend_from_slice(&f.feed(Bytes::copy_from_slice(chunk)));
        }
        out.extend_from_slice(&f.finish());
        if !strip {
            assert_eq!(out, rest, "a filter that strips nothing must change nothing");
        }
    }
});
