//! Server-sent events between an upstream and a client: pass every event on as it arrives,
//! learn the usage on the way, and hide the usage chunk from clients that did not ask for it.
//!
//! hearth always asks upstreams for usage (`stream_options.include_usage`), so a stream is
//! never priced at zero. When the client asked too, bytes are forwarded untouched the moment
//! they arrive and a copy is scanned. When it did not, complete events are forwarded at once
//! and only an event split across reads waits for its end — to know whether it is the usage
//! chunk. Nothing is ever coalesced across events.

use bytes::{Bytes, BytesMut};

/// Token counts of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Tokens in the prompt (input).
    pub prompt_tokens: u64,
    /// Tokens generated (output).
    pub completion_tokens: u64,
    /// True when the upstream sent no usage and these are estimates from byte counts.
    pub estimated: bool,
}

impl Usage {
    /// An estimate when the upstream reports nothing: ~4 bytes of text per token (OpenAI's
    /// rule of thumb for English), at least one token for non-empty text.
    pub fn estimate(prompt_bytes: u64, output_bytes: u64) -> Usage {
        Usage {
            prompt_tokens: prompt_bytes.div_ceil(4),
            completion_tokens: output_bytes.div_ceil(4),
            estimated: true,
        }
    }
}

/// The `usage` of a complete (non-streamed) JSON answer, read without parsing the whole
/// answer: the last `"usage":` key outside a string, then just its value.
pub fn usage_in(buf: &[u8]) -> Option<Usage> {
    const KEY: &[u8] = b"\"usage\"";
    let mut end = buf.len();
    // The first byte is checked before the rest: comparing every window whole costs a call
    // per byte of the answer.
    while let Some(i) = buf[..end]
        .windows(KEY.len())
        .rposition(|w| w[0] == b'"' && w == KEY)
    {
        end = i;
        if i > 0 && buf[i - 1] == b'\\' {
            continue; // an escaped quote: text inside a string
        }
        let rest = &buf[i + KEY.len()..];
        let colon = rest.iter().position(|c| !c.is_ascii_whitespace())?;
        if rest[colon] != b':' {
            continue;
        }
        let mut values = serde_json::Deserializer::from_slice(&rest[colon + 1..])
            .into_iter::<super::inspect::UsageField>();
        if let Some(Ok(u)) = values.next() {
            return u.0;
        }
    }
    None
}

/// Incremental SSE filter for one response.
#[derive(Debug)]
pub struct SseFilter {
    /// The client did not ask for usage: drop the usage-only chunk.
    strip_usage: bool,
    /// Bytes of the current, not yet complete event.
    partial: BytesMut,
    /// Usage seen so far (the last one wins).
    pub usage: Option<Usage>,
    /// Bytes of generated text seen (`delta.content`/`text`), for estimates.
    pub content_bytes: u64,
    /// The upstream sent `data: [DONE]`.
    pub done: bool,
    /// Number of events passed to the client.
    pub events: u64,
}

impl SseFilter {
    pub fn new(strip_usage: bool) -> Self {
        SseFilter {
            strip_usage,
            partial: BytesMut::new(),
            usage: None,
            content_bytes: 0,
            done: false,
            events: 0,
        }
    }

    /// Takes the next bytes from upstream; returns what to send to the client now.
    pub fn feed(&mut self, chunk: Bytes) -> Bytes {
        self.partial.extend_from_slice(&chunk);
        if !self.strip_usage {
            // Nothing to decide for this client: forward untouched, scan a copy.
            while let Some(end) = event_end(&self.partial) {
                let event = self.partial.split_to(end);
                self.inspect(&event);
            }
            return chunk;
        }
        let mut out = BytesMut::new();
        while let Some(end) = event_end(&self.partial) {
            let event = self.partial.split_to(end);
            if self.inspect(&event) {
                out.extend_from_slice(&event);
            }
        }
        out.freeze()
    }

    /// The stream ended: whatever is left (an event without its blank line) — already sent
    /// when passing through, sent now when it was held back and is not the usage chunk.
    pub fn finish(&mut self) -> Bytes {
        let rest = self.partial.split().freeze();
        if rest.is_empty() {
            return rest;
        }
        let keep = self.inspect(&rest);
        if self.strip_usage && keep {
            rest
        } else {
            Bytes::new()
        }
    }

    /// Looks at one complete event; returns false when it must be hidden from the client.
    fn inspect(&mut self, event: &[u8]) -> bool {
        self.events += 1;
        let mut keep = true;
        for line in event.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(data) = line.strip_prefix(b"data:") else {
                continue;
            };
            let data = data.strip_prefix(b" ").unwrap_or(data);
            if data == b"[DONE]" {
                self.done = true;
                continue;
            }
            // Read in place: no tree, no copy of the text (`inspect::chunk`).
            let Some(c) = super::inspect::chunk(data) else {
                continue;
            };
            if let Some(choices) = c.choices {
                self.content_bytes += c.content_bytes;
                if let Some(u) = c.usage {
                    self.usage = Some(u);
                    if choices == 0 && self.strip_usage {
                        keep = false;
                    }
                }
            }
        }
        if !keep {
            self.events -= 1;
        }
        keep
    }
}

/// End offset (after the blank line) of the first complete event in `b`.
fn event_end(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'\n' {
            if b[i + 1] == b'\n' {
                return Some(i + 2);
            }
            if b[i + 1] == b'\r' && b.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// True when `b` ends exactly at an event boundary.
    fn ends_event(b: &[u8]) -> bool {
        b.ends_with(b"\n\n") || b.ends_with(b"\n\r\n")
    }

    const CHUNK: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello\"}}]}\n\n";
    const USAGE: &str =
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,\"total_tokens\":9}}\n\n";
    const DONE: &str = "data: [DONE]\n\n";

    fn feed_all(f: &mut SseFilter, parts: &[&str]) -> String {
        let mut out = String::new();
        for p in parts {
            out.push_str(std::str::from_utf8(&f.feed(Bytes::from(p.to_string()))).unwrap());
        }
        out.push_str(std::str::from_utf8(&f.finish()).unwrap());
        out
    }

    #[test]
    fn passes_everything_when_client_asked_for_usage() {
        let mut f = SseFilter::new(false);
        let out = feed_all(&mut f, &[CHUNK, USAGE, DONE]);
        assert_eq!(out, format!("{CHUNK}{USAGE}{DONE}"));
        assert_eq!(
            f.usage,
            Some(Usage {
                prompt_tokens: 7,
                completion_tokens: 2,
                estimated: false
            })
        );
        assert!(f.done);
        assert_eq!(f.content_bytes, 5);
    }

    #[test]
    fn strips_usage_chunk_but_still_counts_it() {
        let mut f = SseFilter::new(true);
        let out = feed_all(&mut f, &[CHUNK, USAGE, DONE]);
        assert_eq!(out, format!("{CHUNK}{DONE}"));
        assert_eq!(f.usage.unwrap().completion_tokens, 2);
    }

    #[test]
    fn events_split_across_reads_are_reassembled_and_never_merged() {
        let all = format!("{CHUNK}{USAGE}{DONE}");
        for cut in 1..all.len() {
            let (a, b) = all.split_at(cut);
            let mut f = SseFilter::new(true);
            let first = f.feed(Bytes::from(a.to_string()));
            // Whatever goes out first is whole events only.
            assert!(first.is_empty() || ends_event(&first), "cut {cut}");
            let out = format!(
                "{}{}{}",
                std::str::from_utf8(&first).unwrap(),
                std::str::from_utf8(&f.feed(Bytes::from(b.to_string()))).unwrap(),
                std::str::from_utf8(&f.finish()).unwrap()
            );
            assert_eq!(out, format!("{CHUNK}{DONE}"), "cut {cut}");
            assert_eq!(f.usage.unwrap().prompt_tokens, 7, "cut {cut}");
            // Passing through untouched also works at every cut.
            let mut g = SseFilter::new(false);
            let out = feed_all(&mut g, &[a, b]);
            assert_eq!(out, all, "cut {cut}");
            assert!(g.usage.is_some() && g.done, "cut {cut}");
        }
    }

    #[test]
    fn crlf_events() {
        let mut f = SseFilter::new(true);
        let out = feed_all(&mut f, &["data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\r\n\r\n", "data: [DONE]\r\n\r\n"]);
        assert_eq!(out, "data: [DONE]\r\n\r\n");
        assert!(f.usage.is_some());
    }

    #[test]
    fn usage_is_found_without_parsing_the_answer() {
        let answer = br#"{"id":"x","choices":[{"message":{"content":"the word \"usage\": 3"}}],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}"#;
        assert_eq!(
            usage_in(answer),
            Some(Usage {
                prompt_tokens: 12,
                completion_tokens: 7,
                estimated: false
            })
        );
        assert_eq!(usage_in(br#"{"choices":[{"text":"\"usage\": {}"}]}"#), None);
        assert_eq!(usage_in(br#"{"usage": null}"#), None);
        assert_eq!(usage_in(b"not json \"usage\""), None);
    }

    #[test]
    fn estimates_round_up() {
        assert_eq!(
            Usage::estimate(9, 0),
            Usage {
                prompt_tokens: 3,
                completion_tokens: 0,
                estimated: true
            }
        );
    }
}
