//! Builds typed sections from UCI sections, one function per section type.
//!
//! The option names asked for here are the schema (see `reader`); keep them in step with
//! DESIGN.md and `docs/configuration.md` (a test checks the docs mention every one).

use super::model::*;
use super::reader::SectionReader;
use super::values::{self, Bytes, Cidr, Dbm, Fwmark, Kbps, Mac, Money, Url};

/// Every section type hearth knows, in the order the docs present them.
pub const SECTION_TYPES: &[&str] = &[
    "agent",
    "shaper",
    "group",
    "device",
    "vpn",
    "wireguard_peer",
    "balancer",
    "endpoint",
    "route",
    "planner",
];

/// Default mark of the balancer's upstream traffic: clear of the masks mwan3 (0x3f00) and
/// pbr (0x00ff0000) use on OpenWRT.
pub const DEFAULT_LLM_MARK: u32 = 0x4c00_0000;

fn meta(r: &SectionReader) -> Meta {
    Meta {
        name: r.name().to_string(),
        line: r.line(),
    }
}

fn section_name(raw: &str) -> Result<String, String> {
    if crate::uci::validate::is_valid_name(raw) {
        Ok(raw.to_string())
    } else {
        Err(format!(
            "expected the name of a section (letters, digits, '_'), got '{raw}'"
        ))
    }
}

fn seconds(min: u64, max: u64) -> impl Fn(&str) -> Result<u32, String> {
    move |s| values::uint(s, min, max, "a number of seconds").map(|v| v as u32)
}

pub fn agent(r: &mut SectionReader) -> Agent {
    let d = Agent::default();
    Agent {
        log_level: r.get("log_level", d.log_level, |s| {
            values::one_of(s, LogLevel::CHOICES)
        }),
        state_dir: r.get("state_dir", d.state_dir, values::abs_path),
        runtime_dir: r.get("runtime_dir", d.runtime_dir, values::abs_path),
        flush_interval: r.get("flush_interval", d.flush_interval, seconds(10, 86_400)),
        currency: r.get("currency", d.currency, values::currency),
        timezone: r.opt("timezone", |s| {
            crate::budget::Tz::parse(s)
                .map(|_| s.trim().to_string())
                .map_err(|e| format!("{e}; give a POSIX TZ string as in /etc/TZ, e.g. CET-1CEST,M3.5.0,M10.5.0/3"))
        }),
        dashboard: dashboard(r),
    }
}

/// The agent's `dashboard_*` options: off unless `dashboard_listen` is set, and then exactly
/// one of `dashboard_token` / `dashboard_token_file` is required.
fn dashboard(r: &mut SectionReader) -> Option<Dashboard> {
    let listen = r.opt("dashboard_listen", |s| {
        let addr = values::listen_addr(s)?;
        match values::not_lan(addr.ip()) {
            Some(why) => Err(format!(
                "{addr} {why}; give the router's LAN address (e.g. 192.168.1.1:8081) or 127.0.0.1:PORT"
            )),
            None => Ok(addr),
        }
    });
    let inline = r.opt("dashboard_token", |s| {
        values::token(s).map(|()| s.to_string())
    });
    let file = r.opt("dashboard_token_file", values::abs_path);
    let has_listen = r.has("dashboard_listen");
    match (inline, file) {
        (Some(_), Some(_)) => {
            let line = r
                .line_of("dashboard_token_file")
                .max(r.line_of("dashboard_token"));
            r.error(
                Some("dashboard_token"),
                line,
                "set either dashboard_token or dashboard_token_file, not both",
            );
            None
        }
        (Some(t), None) => listen.map(|listen| Dashboard {
            listen,
            token: DashboardToken::Inline(t),
        }),
        (None, Some(f)) => listen.map(|listen| Dashboard {
            listen,
            token: DashboardToken::File(f),
        }),
        (None, None)
            if has_listen && !r.has("dashboard_token") && !r.has("dashboard_token_file") =>
        {
            let line = r.line_of("dashboard_listen");
            r.error(
                Some("dashboard_listen"),
                line,
                "needs a token: set dashboard_token_file (a root-only file holding a secret of 16+ characters) or dashboard_token",
            );
            None
        }
        (None, None) => None,
    }
}

pub fn shaper(r: &mut SectionReader) -> Shaper {
    Shaper {
        meta: meta(r),
        device: r.req("device", values::ifname).unwrap_or_default(),
        lan_device: r.opt("lan_device", values::ifname),
        download: r.get("download", Kbps(0), Kbps::parse),
        upload: r.get("upload", Kbps(0), Kbps::parse),
        leaf: r.get("leaf", Leaf::Auto, |s| values::one_of(s, Leaf::CHOICES)),
        overhead: r.get("overhead", 0, |s| {
            values::int(s, -64, 256, "an overhead in bytes").map(|v| v as i32)
        }),
        llm_share: r.get("llm_share", 25, values::percent),
    }
}

/// The group options; on a device each is an override (`None` = inherit from the group).
fn limit_overrides(r: &mut SectionReader) -> LimitOverrides {
    LimitOverrides {
        priority: r.opt("priority", |s| values::one_of(s, Priority::CHOICES)),
        rate_down: r.opt("rate_down", Kbps::parse),
        rate_up: r.opt("rate_up", Kbps::parse),
        data_month: r.opt("data_month", Bytes::parse_gib),
        data_throttle: r.opt("data_throttle", Kbps::parse),
        llm_day: r.opt("llm_day", Money::parse),
        llm_month: r.opt("llm_month", Money::parse),
        llm_tokens_day: r.opt("llm_tokens_day", |s| {
            values::uint(s, 0, u64::MAX, "a number of tokens")
        }),
        on_exhaust: r.opt("on_exhaust", |s| values::one_of(s, OnExhaust::CHOICES)),
        downgrade_route: r.opt("downgrade_route", section_name),
        vpn: r.opt("vpn", section_name),
    }
}

pub fn group(r: &mut SectionReader) -> Group {
    let meta = meta(r);
    let limits = limit_overrides(r).apply_to(&Limits::default());
    Group { meta, limits }
}

pub fn device(r: &mut SectionReader) -> Device {
    Device {
        meta: meta(r),
        mac: r.req("mac", |s| s.parse::<Mac>()).unwrap_or(Mac([0; 6])),
        ips: r
            .list("ip", values::ip)
            .into_iter()
            .map(|(v, _)| v)
            .collect(),
        label: r.opt("label", |s| Ok(s.to_string())),
        group: r
            .opt("group", section_name)
            .unwrap_or_else(|| DEFAULT_GROUP.to_string()),
        overrides: limit_overrides(r),
    }
}

pub fn vpn(r: &mut SectionReader) -> Vpn {
    Vpn {
        meta: meta(r),
        interface: r.req("interface", values::ifname).unwrap_or_default(),
        gateway: r.opt("gateway", values::ip),
        table: r.get("table", 100, |s| {
            let t = values::uint(s, 1, u32::MAX as u64, "a routing table number")? as u32;
            if (253..=255).contains(&t) {
                return Err(format!(
                    "table {t} is the kernel's default/main/local table; pick another number"
                ));
            }
            Ok(t)
        }),
        fwmark: r.get(
            "fwmark",
            Fwmark {
                value: 0x100,
                mask: u32::MAX,
            },
            |s| s.parse::<Fwmark>(),
        ),
        rule_priority: r.get("rule_priority", 10_000, |s| {
            values::uint(s, 1, 32_765, "an ip rule priority").map(|v| v as u32)
        }),
        kill_switch: r.get("kill_switch", true, values::boolean),
        manage_link: r.get("manage_link", false, values::boolean),
        private_key_file: r.opt("private_key_file", values::abs_path),
        listen_port: r.opt("listen_port", |s| {
            values::uint(s, 1, 65_535, "a UDP port").map(|v| v as u16)
        }),
        addresses: r
            .list("address", |s| s.parse::<Cidr>())
            .into_iter()
            .map(|(v, _)| v)
            .collect(),
    }
}

pub fn wireguard_peer(r: &mut SectionReader) -> WireguardPeer {
    WireguardPeer {
        meta: meta(r),
        vpn: r.req("vpn", section_name).unwrap_or_default(),
        public_key: r.req("public_key", values::wg_key).unwrap_or_default(),
        endpoint: r.opt("endpoint", values::host_port),
        allowed_ips: r
            .list("allowed_ips", |s| s.parse::<Cidr>())
            .into_iter()
            .map(|(v, _)| v)
            .collect(),
        persistent_keepalive: r.get("persistent_keepalive", 0, |s| {
            values::uint(s, 0, 65_535, "a keepalive interval in seconds").map(|v| v as u16)
        }),
    }
}

pub fn balancer(r: &mut SectionReader) -> Balancer {
    let present = r.has("listen");
    let allow_wan = r.get("allow_wan", false, values::boolean);
    let mut listen = Vec::new();
    for (addr, line) in r.list("listen", values::listen_addr) {
        if listen.contains(&addr) {
            r.error(Some("listen"), line, format!("{addr} is listed twice"));
            continue;
        }
        if !allow_wan {
            if let Some(why) = values::not_lan(addr.ip()) {
                r.error(
                    Some("listen"),
                    line,
                    format!("{addr} {why}; list the router's LAN address (e.g. 192.168.1.1:8080), or set allow_wan '1' if you really mean it"),
                );
            }
        }
        listen.push(addr);
    }
    if !present {
        let line = r.line();
        r.error(
            Some("listen"),
            line,
            "is required: list the LAN address(es) to serve on, e.g. 192.168.1.1:8080",
        );
    }
    Balancer {
        meta: meta(r),
        listen,
        allow_wan,
        fwmark: r.get("fwmark", DEFAULT_LLM_MARK, values::mark_or_zero),
        strategy: r.get("strategy", Strategy::LeastConnections, |s| {
            values::one_of(s, Strategy::CHOICES)
        }),
        llm_month: r.get("llm_month", Money(0), Money::parse),
        request_timeout: r.get("request_timeout", 600, seconds(1, 86_400)),
        max_body: r.get("max_body", 8 * 1024 * 1024, |s| {
            values::uint(s, 1024, 1 << 30, "a size in bytes")
        }),
        header_timeout: r.get("header_timeout", 10, seconds(1, 300)),
        body_timeout: r.get("body_timeout", 30, seconds(1, 3600)),
        retries: r.get("retries", 2, |s| {
            values::uint(s, 0, 10, "a retry count").map(|v| v as u32)
        }),
        default_max_tokens: r.get("default_max_tokens", 4096, |s| {
            values::uint(s, 1, 10_000_000, "a number of tokens")
        }),
        anomaly_factor: r.get("anomaly_factor", 5_000_000, |s| {
            let m = Money::parse(s).map_err(|_| {
                format!("expected a factor such as 5 or 2.5 (0 = off), got '{s}'")
            })?;
            if m.0 != 0 && m.0 < 1_000_000 {
                return Err(format!("a factor below 1 would flag normal spending, got '{s}'; use 0 to turn detection off"));
            }
            if m.0 > 1_000_000_000 {
                return Err(format!("a factor above 1000 never fires, got '{s}'"));
            }
            Ok(m.0)
        }),
        anomaly_min: r.get("anomaly_min", Money(100_000), Money::parse),
        anomaly_window: r.get("anomaly_window", 300, seconds(10, 86_400)),
        anomaly_shift: r.get("anomaly_shift", false, values::boolean),
    }
}

pub fn endpoint(r: &mut SectionReader) -> Endpoint {
    Endpoint {
        meta: meta(r),
        url: r.req("url", |s| s.parse::<Url>()).unwrap_or(Url {
            raw: String::new(),
            tls: false,
            host: String::new(),
            port: 0,
            path: String::new(),
        }),
        api_key_file: r.opt("api_key_file", values::abs_path),
        api_key: r.opt("api_key", |s| {
            if s.bytes().any(|c| c.is_ascii_whitespace() || c < 0x20) {
                Err("an API key has no blanks or control characters".into())
            } else {
                Ok(s.to_string())
            }
        }),
        models: r
            .list("model", values::model_pattern)
            .into_iter()
            .map(|(v, _)| v)
            .collect(),
        price_input: r.opt("price_input", Money::parse),
        price_output: r.opt("price_output", Money::parse),
        weight: r.get("weight", 1, |s| {
            values::uint(s, 1, 1000, "a weight").map(|v| v as u32)
        }),
        max_connections: r.get("max_connections", 32, |s| {
            values::uint(s, 1, 10_000, "a connection count").map(|v| v as u32)
        }),
        health_check: r.get("health_check", 30, seconds(0, 86_400)),
    }
}

pub fn route(r: &mut SectionReader) -> Route {
    Route {
        meta: meta(r),
        match_model: r.opt("match_model", values::model_pattern),
        match_group: r.opt("match_group", section_name),
        match_prefer: r.opt("match_prefer", |s| values::one_of(s, Prefer::CHOICES)),
        endpoints: r
            .list("endpoint", section_name)
            .into_iter()
            .map(|(v, _)| v)
            .collect(),
        model: r.opt("model", values::model_pattern),
        strategy: r.opt("strategy", |s| values::one_of(s, Strategy::CHOICES)),
    }
}

pub fn planner(r: &mut SectionReader) -> Planner {
    Planner {
        meta: meta(r),
        // UCI drops empty values, so a present value is never empty.
        survey: r.opt("survey", |s| Ok(std::path::PathBuf::from(s))),
        target_rssi: r.get("target_rssi", Dbm(-67), Dbm::parse),
        budget: r.get("budget", Money(0), Money::parse),
        width: r.get("width", 12.0, |s| {
            values::positive_decimal(s, 1000.0, "a width in metres")
        }),
        height: r.get("height", 9.0, |s| {
            values::positive_decimal(s, 1000.0, "a height (north-south extent) in metres")
        }),
        floors: r.get("floors", 1, |s| {
            values::uint(s, 1, 10, "a number of floors").map(|v| v as u32)
        }),
        resolution: r.get("resolution", 0.5, |s| {
            let v = values::positive_decimal(s, 5.0, "a grid cell size in metres")?;
            if v < 0.1 {
                return Err(format!("a grid cell size must be at least 0.1 m, got {s}"));
            }
            Ok(v)
        }),
        aps: r
            .list("ap", crate::planner::ApPlacement::parse)
            .into_iter()
            .map(|(v, _)| v)
            .collect(),
    }
}
