//! Keeps an endpoint's key out of what the balancer relays: some upstreams quote the key they
//! were sent in their error answers ("Incorrect API key provided: sk-..."), and the client of
//! hearth never had that key. The proxy runs error answers through a [`Redactor`], which
//! replaces every occurrence of the key with [`REDACTED`], also when the key is split across
//! body chunks.

use bytes::{Bytes, BytesMut};

/// What a key is replaced with.
pub const REDACTED: &[u8] = b"[redacted]";

/// A streaming search-and-replace of one secret.
#[derive(Debug)]
pub struct Redactor {
    /// The secret (never empty).
    secret: Vec<u8>,
    /// Bytes not yet passed on: the end of the last chunk, which may be the start of the
    /// secret (at most `secret.len() - 1` bytes between calls).
    held: BytesMut,
}

impl Redactor {
    /// A redactor for `secret`; `None` when it is empty (nothing to hide).
    pub fn new(secret: &str) -> Option<Redactor> {
        (!secret.is_empty()).then(|| Redactor {
            secret: secret.as_bytes().to_vec(),
            held: BytesMut::new(),
        })
    }

    /// The next chunk with the secret replaced; what could be the start of the secret is held
    /// back until the next call (or [`Redactor::finish`]).
    pub fn push(&mut self, chunk: &[u8]) -> Bytes {
        self.held.extend_from_slice(chunk);
        let mut out = BytesMut::with_capacity(self.held.len());
        let mut rest = &self.held[..];
        while let Some(at) = find(rest, &self.secret) {
            out.extend_from_slice(&rest[..at]);
            out.extend_from_slice(REDACTED);
            rest = &rest[at + self.secret.len()..];
        }
        let keep = rest.len().min(self.secret.len() - 1);
        out.extend_from_slice(&rest[..rest.len() - keep]);
        self.held = BytesMut::from(&rest[rest.len() - keep..]);
        out.freeze()
    }

    /// What is still held back (the body ended: it cannot be the secret).
    pub fn finish(&mut self) -> Bytes {
        self.held.split().freeze()
    }
}

/// Whether `secret` (not empty) occurs in `hay`.
pub fn contains(hay: &[u8], secret: &[u8]) -> bool {
    !secret.is_empty() && find(hay, secret).is_some()
}

/// Where `needle` (not empty) first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(secret: &str, chunks: &[&str]) -> String {
        let mut r = Redactor::new(secret).unwrap();
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(&r.push(c.as_bytes()));
        }
        out.extend_from_slice(&r.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_secret_is_replaced_wherever_the_chunks_split_it() {
        let body = "{\"message\":\"bad key sk-abc123; again: sk-abc123\"}";
        let want = "{\"message\":\"bad key [redacted]; again: [redacted]\"}";
        assert_eq!(run("sk-abc123", &[body]), want);
        for cut in 0..=body.len() {
            let (a, b) = body.split_at(cut);
            assert_eq!(run("sk-abc123", &[a, b]), want, "cut at {cut}");
        }
        let bytes: Vec<String> = body.chars().map(|c| c.to_string()).collect();
        let one_by_one: Vec<&str> = bytes.iter().map(String::as_str).collect();
        assert_eq!(run("sk-abc123", &one_by_one), want);
    }

    #[test]
    fn text_without_the_secret_passes_unchanged() {
        assert_eq!(
            run("sk-abc123", &["sk-abc12", "4 sk-", "ab"]),
            "sk-abc124 sk-ab"
        );
        assert_eq!(
            run("k", &["kkk", "xk"]),
            "[redacted][redacted][redacted]x[redacted]"
        );
        assert!(Redactor::new("").is_none());
        assert!(contains(b"xaby", b"ab"));
        assert!(!contains(b"xaby", b""));
    }
}
