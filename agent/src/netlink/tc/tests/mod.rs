//! Byte tests: every encoder against requests captured from iproute2 6.1 (`../vectors/`,
//! copied from `shared/netlink/vectors`, comment headers kept), every decoder against captured
//! kernel dump replies and the same requests, plus round trips and malformed input.
//!
//! Comparison follows the vectors' README: bytes 8..16 (seq, pid) are masked, and the
//! ifindexes at the `ifindex-at` offsets are replaced by this test's own (so a test also
//! proves where the encoder puts them). The captures are little-endian (x86), so these tests
//! run on little-endian hosts only; the encoders write host order and are right on
//! big-endian routers by construction.

mod class;
mod envelope;
mod filter;
mod link;
mod qdisc;
mod robustness;

/// ifindex the tests give the captured `veth0` (captured as 3).
pub const VETH0: u32 = 7;
/// ifindex the tests give the captured `ifb0` (captured as 4).
pub const IFB0: u32 = 9;

/// One parsed `.hex` vector.
pub struct Vector {
    /// The iproute2 command line that produced it.
    pub cmd: String,
    /// The message bytes, as captured.
    pub bytes: Vec<u8>,
    /// (offset, device) of every u32 ifindex field.
    pub ifindex_at: Vec<(usize, String)>,
}

/// Parses the vector format: `#` header lines, then hex bytes separated by whitespace.
pub fn parse_vector(text: &str) -> Vector {
    let mut cmd = String::new();
    let mut ifindex_at = Vec::new();
    let mut bytes = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix('#') {
            let h = h.trim();
            if let Some(c) = h.strip_prefix("cmd:") {
                cmd = c.trim().to_string();
            } else if let Some(list) = h.strip_prefix("ifindex-at:") {
                for item in list.split_whitespace().filter(|i| *i != "none") {
                    let (off, dev) = item.split_once(':').expect("offset:device");
                    ifindex_at.push((off.parse().expect("offset"), dev.to_string()));
                }
            }
            continue;
        }
        for b in line.split_whitespace() {
            bytes.push(u8::from_str_radix(b, 16).expect("hex byte"));
        }
    }
    Vector {
        cmd,
        bytes,
        ifindex_at,
    }
}

impl Vector {
    /// The bytes with this test's ifindexes substituted ([`VETH0`], [`IFB0`]).
    pub fn with_test_ifindexes(&self) -> Vec<u8> {
        let mut b = self.bytes.clone();
        for (off, dev) in &self.ifindex_at {
            let idx = match dev.as_str() {
                "veth0" => VETH0,
                "ifb0" => IFB0,
                other => panic!("vector names unknown device {other}"),
            };
            b[*off..*off + 4].copy_from_slice(&idx.to_le_bytes());
        }
        b
    }
}

/// `bytes` with nlmsg_seq and nlmsg_pid zeroed.
pub fn masked(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    if b.len() >= 16 {
        b[8..16].fill(0);
    }
    b
}

/// Asserts two messages are equal apart from seq/pid; on failure shows where they differ.
pub fn assert_same(ours: &[u8], expected: &[u8], what: &str) {
    let (a, b) = (masked(ours), masked(expected));
    if a == b {
        return;
    }
    let diffs: Vec<String> = (0..a.len().max(b.len()))
        .filter(|i| a.get(*i) != b.get(*i))
        .take(16)
        .map(|i| format!("@{i}: ours {:02x?} expected {:02x?}", a.get(i), b.get(i)))
        .collect();
    panic!(
        "{what}: {} bytes vs {} expected; first differences:\n  {}",
        a.len(),
        b.len(),
        diffs.join("\n  ")
    );
}

/// Asserts an encoder's output equals a vector file (masked, ifindexes substituted).
pub fn assert_matches_vector(ours: &[u8], vector_text: &str) {
    let v = parse_vector(vector_text);
    assert_same(ours, &v.with_test_ifindexes(), &v.cmd);
}

/// Asserts an annotated byte array (captured ifindexes) is exactly the vector file, so the
/// comments in a test describe the real capture.
pub fn assert_annotation_is_vector(annotated: &[u8], vector_text: &str) {
    let v = parse_vector(vector_text);
    assert_same(annotated, &v.bytes, &format!("annotation of `{}`", v.cmd));
}
