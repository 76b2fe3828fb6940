//! Value types of the hearth config and their parsers.
//!
//! Each parser takes the raw UCI string and returns either the typed value or a message that
//! says what was expected and what was found; the caller adds file, line, section and option.
//! Money is kept in micro-units (1e-6 of the currency) so that budgets add up exactly.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

/// Result of a value parser: the value, or a message for a human.
pub type ParseResult<T> = Result<T, String>;

// === numbers ===

/// True for a plain run of ASCII digits (Rust's `parse` would also take a leading `+`).
fn digits(raw: &str) -> bool {
    !raw.is_empty() && raw.bytes().all(|c| c.is_ascii_digit())
}

/// An unsigned integer within `min..=max`.
pub fn uint(raw: &str, min: u64, max: u64, what: &str) -> ParseResult<u64> {
    let v: u64 = raw
        .parse()
        .ok()
        .filter(|_| digits(raw))
        .ok_or_else(|| format!("expected {what} (a whole number), got '{raw}'"))?;
    if v < min || v > max {
        return Err(format!("{what} must be between {min} and {max}, got {v}"));
    }
    Ok(v)
}

/// A signed integer within `min..=max`.
pub fn int(raw: &str, min: i64, max: i64, what: &str) -> ParseResult<i64> {
    let v: i64 = raw
        .parse()
        .ok()
        .filter(|_| digits(raw.strip_prefix('-').unwrap_or(raw)))
        .ok_or_else(|| format!("expected {what} (a whole number), got '{raw}'"))?;
    if v < min || v > max {
        return Err(format!("{what} must be between {min} and {max}, got {v}"));
    }
    Ok(v)
}

/// A decimal number with at most 6 fractional digits, as millionths. No sign, no exponent:
/// config values are written by people and should read like prices.
fn decimal_micros(raw: &str) -> Option<u64> {
    let (int_part, frac) = match raw.split_once('.') {
        Some((i, f)) => (i, f),
        None => (raw, ""),
    };
    if int_part.is_empty() && frac.is_empty() {
        return None;
    }
    if !int_part.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
        || frac.len() > 6
        || int_part.len() > 12
    {
        return None;
    }
    let i: u64 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().ok()?
    };
    let mut f: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..6 {
        f *= 10;
    }
    i.checked_mul(1_000_000)?.checked_add(f)
}

/// A decimal fraction such as metres (`12.5`), bounded to `(min, max]`.
pub fn positive_decimal(raw: &str, max: f64, what: &str) -> ParseResult<f64> {
    let micros = decimal_micros(raw)
        .ok_or_else(|| format!("expected {what} (a number such as 12.5), got '{raw}'"))?;
    let v = micros as f64 / 1e6;
    if v <= 0.0 || v > max {
        return Err(format!(
            "{what} must be more than 0 and at most {max}, got {raw}"
        ));
    }
    Ok(v)
}

// === units ===

/// A rate in kbit/s (what SQM and LuCI use). 0 means "not limited".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Kbps(pub u64);

impl Kbps {
    /// 100 Gbit/s: anything above is a typo (a rate in bit/s, most likely).
    pub const MAX: u64 = 100_000_000;

    pub fn parse(raw: &str) -> ParseResult<Kbps> {
        let v: u64 = raw.parse().ok().filter(|_| digits(raw)).ok_or_else(|| {
            format!(
                "expected a rate in kbit/s (a whole number, e.g. 20000 for 20 Mbit/s), got '{raw}'"
            )
        })?;
        if v > Self::MAX {
            return Err(format!(
                "{v} kbit/s is more than 100 Gbit/s; rates are in kbit/s (20000 = 20 Mbit/s)"
            ));
        }
        Ok(Kbps(v))
    }

    /// True when the rate is 0, which means "no limit / no shaping".
    pub fn is_unlimited(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Kbps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} kbit/s", self.0)
    }
}

/// An amount of money in micro-units of the configured currency (exact arithmetic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Money(pub u64);

impl Money {
    pub fn parse(raw: &str) -> ParseResult<Money> {
        decimal_micros(raw).map(Money).ok_or_else(|| {
            format!("expected an amount of money such as 5 or 0.15 (no currency sign, at most 6 decimals), got '{raw}'")
        })
    }

    /// Zero means "no budget" for budget options and "free" for prices.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 1_000_000;
        let frac = self.0 % 1_000_000;
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let s = format!("{frac:06}");
            write!(f, "{whole}.{}", s.trim_end_matches('0'))
        }
    }
}

/// A data volume in bytes, configured in GiB (decimals allowed: `0.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Bytes(pub u64);

impl Bytes {
    pub fn parse_gib(raw: &str) -> ParseResult<Bytes> {
        let micros = decimal_micros(raw).ok_or_else(|| {
            format!("expected a data volume in GiB (a number such as 50 or 0.5), got '{raw}'")
        })?;
        // micros * 2^30 / 1e6, in u128 so no volume a router could see overflows.
        let bytes = (micros as u128 * (1u128 << 30)) / 1_000_000;
        u64::try_from(bytes)
            .map(Bytes)
            .map_err(|_| format!("{raw} GiB is too large"))
    }
}

/// Signal strength in dBm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dbm(pub i32);

impl Dbm {
    pub fn parse(raw: &str) -> ParseResult<Dbm> {
        int(raw, -100, -30, "a signal level in dBm").map(|v| Dbm(v as i32))
    }
}

/// A share of a link in percent (0..=100).
pub fn percent(raw: &str) -> ParseResult<u8> {
    uint(raw, 0, 100, "a percentage").map(|v| v as u8)
}

/// UCI booleans, as `config_get_bool` in OpenWRT's `functions.sh` reads them.
pub fn boolean(raw: &str) -> ParseResult<bool> {
    match raw {
        "1" | "yes" | "on" | "true" | "enabled" => Ok(true),
        "0" | "no" | "off" | "false" | "disabled" => Ok(false),
        _ => Err(format!(
            "expected a boolean (1/0, yes/no, on/off, true/false), got '{raw}'"
        )),
    }
}

/// One of a fixed set of words.
pub fn one_of<T: Copy>(raw: &str, choices: &[(&str, T)]) -> ParseResult<T> {
    choices
        .iter()
        .find(|(w, _)| *w == raw)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let words: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
            let hint = super::suggest::closest(raw, &words)
                .map(|w| format!(" (did you mean '{w}'?)"))
                .unwrap_or_default();
            format!("expected one of {}, got '{raw}'{hint}", words.join("|"))
        })
}

// === network ===

/// An Ethernet MAC address of a device (unicast, not all zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl FromStr for Mac {
    type Err = String;

    fn from_str(raw: &str) -> ParseResult<Mac> {
        let bad = || format!("expected a MAC address such as aa:bb:cc:dd:ee:01, got '{raw}'");
        let sep = if raw.contains('-') { '-' } else { ':' };
        let parts: Vec<&str> = raw.split(sep).collect();
        if parts.len() != 6 {
            return Err(bad());
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(&parts) {
            if p.len() != 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if out == [0; 6] {
            return Err(format!("'{raw}' is the all-zero MAC, not a device"));
        }
        if out[0] & 1 == 1 {
            return Err(format!(
                "'{raw}' is a multicast/broadcast MAC, not a device (the first octet must be even)"
            ));
        }
        Ok(Mac(out))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// An IPv4 or IPv6 address.
pub fn ip(raw: &str) -> ParseResult<IpAddr> {
    raw.parse()
        .map_err(|_| format!("expected an IPv4 or IPv6 address such as 192.168.1.23, got '{raw}'"))
}

/// An address with a prefix length (`10.7.0.2/32`, `fd00::/64`); a bare address means a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(raw: &str) -> ParseResult<Cidr> {
        let bad = || {
            format!("expected an address with prefix such as 10.7.0.2/32 or fd00::/64, got '{raw}'")
        };
        let (a, p) = match raw.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p.parse::<u8>().map_err(|_| bad())?,
        };
        if prefix > max {
            return Err(format!(
                "prefix /{prefix} is too long for {addr} (at most /{max})"
            ));
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A firewall mark with optional mask (`0x100`, `256`, `0x100/0xff00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fwmark {
    pub value: u32,
    pub mask: u32,
}

/// `0x1f` or `31`: digits only (no sign), as the kernel tools print marks.
fn u32_hex_or_dec(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) if !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit()) => {
            u32::from_str_radix(h, 16).ok()
        }
        Some(_) => None,
        None if digits(s) => s.parse().ok(),
        None => None,
    }
}

impl FromStr for Fwmark {
    type Err = String;

    fn from_str(raw: &str) -> ParseResult<Fwmark> {
        let bad = || format!("expected a firewall mark such as 0x100 or 0x100/0xff00, got '{raw}'");
        let (v, m) = match raw.split_once('/') {
            Some((v, m)) => (v, Some(m)),
            None => (raw, None),
        };
        let value = u32_hex_or_dec(v).ok_or_else(bad)?;
        let mask = match m {
            Some(m) => u32_hex_or_dec(m).ok_or_else(bad)?,
            None => u32::MAX,
        };
        if value == 0 {
            return Err("a fwmark of 0 matches unmarked traffic; use a non-zero mark".into());
        }
        if value & !mask != 0 {
            return Err(format!(
                "mark {value:#x} has bits outside its mask {mask:#x}"
            ));
        }
        Ok(Fwmark { value, mask })
    }
}

impl fmt::Display for Fwmark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mask == u32::MAX {
            write!(f, "{:#x}", self.value)
        } else {
            write!(f, "{:#x}/{:#x}", self.value, self.mask)
        }
    }
}

/// A socket mark (`0x4c000000` or decimal); `0` means none.
pub fn mark_or_zero(raw: &str) -> ParseResult<u32> {
    u32_hex_or_dec(raw)
        .ok_or_else(|| format!("expected a mark such as 0x4c000000 (or 0 for none), got '{raw}'"))
}

/// A Linux network interface name (`eth1`, `br-lan`, `wg0`): 1–15 bytes, no `/`, blanks or `:`.
pub fn ifname(raw: &str) -> ParseResult<String> {
    if raw.is_empty() || raw.len() > 15 {
        return Err(format!(
            "expected an interface name of 1 to 15 characters (such as eth1 or br-lan), got '{raw}'"
        ));
    }
    if raw == "."
        || raw == ".."
        || raw
            .bytes()
            .any(|c| c == b'/' || c == b':' || c.is_ascii_whitespace() || c < 0x20)
    {
        return Err(format!("'{raw}' is not a valid interface name"));
    }
    Ok(raw.to_string())
}

/// An address to listen on: `192.168.1.1:8080` or `[fd00::1]:8080`.
pub fn listen_addr(raw: &str) -> ParseResult<SocketAddr> {
    let addr: SocketAddr = raw.parse().map_err(|_| {
        format!("expected ADDRESS:PORT such as 192.168.1.1:8080 or [fd00::1]:8080, got '{raw}'")
    })?;
    if addr.port() == 0 {
        return Err(format!(
            "port 0 would bind a random port no device can find; give a port such as 8080, got '{raw}'"
        ));
    }
    Ok(addr)
}

/// The shortest secret accepted for the dashboard: 16 characters (64 bits as hex, 96 as
/// base64); shorter ones are guessable from the LAN.
pub const TOKEN_MIN: usize = 16;

/// A secret token (the dashboard's): at least [`TOKEN_MIN`] characters, and only characters
/// that pass a cookie, a header and a query string unchanged (letters, digits, `-_.~+/=`:
/// hex and base64 both fit).
pub fn token(t: &str) -> ParseResult<()> {
    if let Some(c) = t
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.~+/=".contains(*c)))
    {
        return Err(format!(
            "a token is letters, digits and - _ . ~ + / = only (found {c:?})"
        ));
    }
    if t.len() < TOKEN_MIN {
        return Err(format!(
            "the token is {} characters; use at least {TOKEN_MIN} (e.g. the output of 'openssl rand -hex 16')",
            t.len()
        ));
    }
    Ok(())
}

/// Why `ip` is not a LAN-side address (wildcard or public), or `None` if it is one:
/// loopback, RFC 1918 private IPv4, link-local, or IPv6 unique-local.
pub fn not_lan(ip: IpAddr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("listens on every interface, the WAN included");
    }
    let lan = match ip {
        IpAddr::V4(v4) => {
            // Not 100.64/10 (RFC 6598): that is the carrier-grade NAT space on the WAN side.
            v4.is_loopback() || v4.is_private() || v4.is_link_local()
        }
        IpAddr::V6(v6) => {
            let s = v6.segments()[0];
            v6.is_loopback() || (s & 0xfe00) == 0xfc00 || (s & 0xffc0) == 0xfe80
        }
    };
    (!lan).then_some("is a public address (WAN side)")
}

/// `host:port` where host is a DNS name, an IPv4 address or a bracketed IPv6 address.
pub fn host_port(raw: &str) -> ParseResult<(String, u16)> {
    let bad = || format!("expected HOST:PORT such as vpn.example.net:51820, got '{raw}'");
    let (host, port) = raw.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().ok().filter(|_| digits(port)).ok_or_else(bad)?;
    if port == 0 {
        return Err(bad());
    }
    let host = if let Some(h) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        h.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        h.to_string()
    } else {
        if host.contains(':') || !valid_hostname(host) {
            return Err(bad());
        }
        host.to_string()
    };
    Ok((host, port))
}

fn valid_hostname(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
                && !l.starts_with('-')
        })
}

/// An upstream base URL, `http` or `https`, such as `https://api.openai.com/v1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The URL as written, minus a trailing `/`.
    pub raw: String,
    /// True for `https`.
    pub tls: bool,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port, defaulted from the scheme.
    pub port: u16,
    /// Path prefix without trailing `/` (may be empty).
    pub path: String,
}

impl FromStr for Url {
    type Err = String;

    fn from_str(raw: &str) -> ParseResult<Url> {
        let bad = |why: &str| {
            format!("expected a URL such as https://api.openai.com/v1 ({why}), got '{raw}'")
        };
        let (tls, rest) = if let Some(r) = raw.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = raw.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad("it must start with http:// or https://"));
        };
        if raw.bytes().any(|c| c.is_ascii_whitespace() || c < 0x20) {
            return Err(bad("no blanks allowed"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err("credentials do not belong in the URL; put the key in api_key_file".into());
        }
        if path.contains('?') || path.contains('#') {
            return Err(bad("no query or fragment"));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(r) = authority.strip_prefix('[') {
            let (h, after) = r.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            h.parse::<std::net::Ipv6Addr>()
                .map_err(|_| bad("bad IPv6 address"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse::<u16>().map_err(|_| bad("bad port"))?,
                None if after.is_empty() => default_port,
                None => return Err(bad("bad port")),
            };
            (h.to_string(), port)
        } else {
            let (h, p) = match authority.rsplit_once(':') {
                Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad("bad port"))?),
                None => (authority, default_port),
            };
            if !valid_hostname(h) {
                return Err(bad("bad host name"));
            }
            (h.to_string(), p)
        };
        if port == 0 {
            return Err(bad("port 0"));
        }
        Ok(Url {
            raw: raw.trim_end_matches('/').to_string(),
            tls,
            host,
            port,
            path: path.trim_end_matches('/').to_string(),
        })
    }
}

/// An absolute file or directory path.
pub fn abs_path(raw: &str) -> ParseResult<PathBuf> {
    if !raw.starts_with('/') {
        return Err(format!(
            "expected an absolute path (starting with /), got '{raw}'"
        ));
    }
    Ok(PathBuf::from(raw))
}

/// A model name or glob (`gpt-4o-mini`, `llama3*`): printable, no blanks.
pub fn model_pattern(raw: &str) -> ParseResult<String> {
    if raw.is_empty()
        || raw
            .bytes()
            .any(|c| c.is_ascii_whitespace() || c < 0x20 || c == 0x7f)
    {
        return Err(format!(
            "expected a model name or glob without blanks, got '{raw}'"
        ));
    }
    Ok(raw.to_string())
}

/// A WireGuard public key: base64 of 32 bytes (44 characters ending in `=`).
pub fn wg_key(raw: &str) -> ParseResult<String> {
    let ok = raw.len() == 44
        && raw.ends_with('=')
        && raw[..43]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/');
    if ok {
        Ok(raw.to_string())
    } else {
        Err(format!(
            "expected a WireGuard public key (44 characters of base64 ending in '='), got '{raw}'"
        ))
    }
}

/// An ISO 4217 currency code (`USD`, `EUR`).
pub fn currency(raw: &str) -> ParseResult<String> {
    if raw.len() == 3 && raw.bytes().all(|c| c.is_ascii_uppercase()) {
        Ok(raw.to_string())
    } else {
        Err(format!(
            "expected a 3-letter currency code such as USD or EUR, got '{raw}'"
        ))
    }
}
