//! The typed hearth configuration: one struct per UCI section type of `/etc/config/hearth`.
//!
//! Validated once at load (see `config::load`), then trusted by every subsystem. Names follow
//! the UCI schema in DESIGN.md; `docs/configuration.md` is the user-facing reference.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use super::values::{Bytes, Cidr, Dbm, Fwmark, Kbps, Mac, Money, Url};

/// Where a section came from, for messages and for the control API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Section name, or `@type[N]` for an anonymous section (as `uci show` names it).
    pub name: String,
    /// Line of the `config` statement.
    pub line: u32,
}

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this was loaded from (messages, reload).
    pub path: PathBuf,
    /// Agent-wide settings (defaults when there is no `config agent`).
    pub agent: Agent,
    /// One per shaped WAN link.
    pub shapers: Vec<Shaper>,
    /// Groups of devices that share limits and budgets.
    pub groups: Vec<Group>,
    /// Known devices, by MAC.
    pub devices: Vec<Device>,
    /// VPN policies.
    pub vpns: Vec<Vpn>,
    /// Peers of VPN links hearth manages itself (`manage_link 1`).
    pub wireguard_peers: Vec<WireguardPeer>,
    /// The LLM balancer; `None` when the config has no `config balancer` (balancer off).
    pub balancer: Option<Balancer>,
    /// LLM upstreams.
    pub endpoints: Vec<Endpoint>,
    /// LLM routing rules, matched in order.
    pub routes: Vec<Route>,
    /// Wi-Fi planner settings.
    pub planners: Vec<Planner>,
}

// === agent ===

/// Log verbosity (procd forwards stderr to logd, `logread` shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

impl LogLevel {
    pub const CHOICES: &'static [(&'static str, LogLevel)] = &[
        ("error", LogLevel::Error),
        ("warn", LogLevel::Warn),
        ("info", LogLevel::Info),
        ("debug", LogLevel::Debug),
    ];

    /// The `log` crate's filter for this level.
    pub fn filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
        }
    }
}

/// `config agent`: settings of the daemon itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// How much the daemon logs.
    pub log_level: LogLevel,
    /// Persistent state (ledgers) on flash; written at a bounded rate.
    pub state_dir: PathBuf,
    /// Volatile state (control socket) in tmpfs.
    pub runtime_dir: PathBuf,
    /// Seconds between ledger writes to flash (flash wear vs. what a power cut may lose).
    pub flush_interval: u32,
    /// ISO 4217 code all money options are in.
    pub currency: String,
    /// POSIX TZ string budget days and months are counted in (`CET-1CEST,M3.5.0,M10.5.0/3`);
    /// `None` = `$TZ`, else `/etc/TZ` (OpenWRT), else UTC.
    pub timezone: Option<String>,
    /// The web dashboard (`/hearth/`) for routers without LuCI; `None` = off (the default:
    /// the control socket stays the only way in).
    pub dashboard: Option<Dashboard>,
}

/// Where the dashboard listens and the secret that opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dashboard {
    /// TCP address (LAN side only: the dashboard shows who spends what).
    pub listen: SocketAddr,
    /// Where the token comes from (read at every reconcile, so a new token needs a reload).
    pub token: DashboardToken,
}

/// The dashboard's bearer token: inline in the config, or in a root-only file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DashboardToken {
    /// `option dashboard_token` (the config file is world-readable on OpenWRT: prefer a file).
    Inline(String),
    /// `option dashboard_token_file`: first line of the file.
    File(PathBuf),
}

impl Default for Agent {
    fn default() -> Self {
        Agent {
            log_level: LogLevel::Info,
            state_dir: PathBuf::from("/etc/hearth"),
            runtime_dir: PathBuf::from("/var/run/hearth"),
            flush_interval: 300,
            currency: "USD".into(),
            timezone: None,
            dashboard: None,
        }
    }
}

// === shaping ===

/// Leaf queueing discipline under each shaping class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// The best the kernel has: CAKE, else fq_codel, else pfifo.
    Auto,
    Cake,
    FqCodel,
    Pfifo,
}

impl Leaf {
    pub const CHOICES: &'static [(&'static str, Leaf)] = &[
        ("auto", Leaf::Auto),
        ("cake", Leaf::Cake),
        ("fq_codel", Leaf::FqCodel),
        ("pfifo", Leaf::Pfifo),
    ];
}

/// `config shaper`: one shaped link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shaper {
    pub meta: Meta,
    /// WAN netdev: link-rate shaping, priority tiers, the LLM class.
    pub device: String,
    /// LAN netdev where per-device/group classes live (addresses are visible before NAT).
    pub lan_device: Option<String>,
    /// Downstream link rate; 0 = no ingress shaping.
    pub download: Kbps,
    /// Upstream link rate; 0 = no egress shaping.
    pub upload: Kbps,
    /// Leaf qdisc choice.
    pub leaf: Leaf,
    /// Per-packet link-layer overhead in bytes (CAKE `overhead`, size tables for HTB).
    pub overhead: i32,
    /// Ceiling, in percent of the link, for the balancer's own upstream traffic.
    pub llm_share: u8,
}

// === groups and devices ===

/// Priority tier of a group or device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    High,
    Normal,
    Bulk,
}

impl Priority {
    pub const CHOICES: &'static [(&'static str, Priority)] = &[
        ("high", Priority::High),
        ("normal", Priority::Normal),
        ("bulk", Priority::Bulk),
    ];
}

/// What happens when an LLM budget is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExhaust {
    /// Refuse with HTTP 429 and a message naming the budget.
    Deny,
    /// Route to `downgrade_route` (a cheaper or local pool).
    Downgrade,
}

impl OnExhaust {
    pub const CHOICES: &'static [(&'static str, OnExhaust)] = &[
        ("deny", OnExhaust::Deny),
        ("downgrade", OnExhaust::Downgrade),
    ];
}

/// Limits and budgets a group sets for its devices; a device may override each one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Priority tier for shaping.
    pub priority: Priority,
    /// Download ceiling; 0 = none.
    pub rate_down: Kbps,
    /// Upload ceiling; 0 = none.
    pub rate_up: Kbps,
    /// Data per calendar month; 0 = unlimited. Over it: throttled to `data_throttle`.
    pub data_month: Bytes,
    /// Rate a device is throttled to once over `data_month`.
    pub data_throttle: Kbps,
    /// LLM spend per day; 0 = unlimited.
    pub llm_day: Money,
    /// LLM spend per month; 0 = unlimited.
    pub llm_month: Money,
    /// LLM tokens per day; 0 = unlimited.
    pub llm_tokens_day: u64,
    /// What to do when an LLM budget is used up.
    pub on_exhaust: OnExhaust,
    /// Route section used when downgraded.
    pub downgrade_route: Option<String>,
    /// VPN section this traffic goes through.
    pub vpn: Option<String>,
}

impl Default for Limits {
    /// The limits of the built-in `default` group: no caps, no budgets, deny on exhaustion.
    fn default() -> Self {
        Limits {
            priority: Priority::Normal,
            rate_down: Kbps(0),
            rate_up: Kbps(0),
            data_month: Bytes(0),
            data_throttle: Kbps(1000),
            llm_day: Money(0),
            llm_month: Money(0),
            llm_tokens_day: 0,
            on_exhaust: OnExhaust::Deny,
            downgrade_route: None,
            vpn: None,
        }
    }
}

/// A device's overrides of its group's limits: `None` = inherit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitOverrides {
    pub priority: Option<Priority>,
    pub rate_down: Option<Kbps>,
    pub rate_up: Option<Kbps>,
    pub data_month: Option<Bytes>,
    pub data_throttle: Option<Kbps>,
    pub llm_day: Option<Money>,
    pub llm_month: Option<Money>,
    pub llm_tokens_day: Option<u64>,
    pub on_exhaust: Option<OnExhaust>,
    pub downgrade_route: Option<String>,
    pub vpn: Option<String>,
}

impl LimitOverrides {
    /// `base` with every override applied.
    pub fn apply_to(&self, base: &Limits) -> Limits {
        Limits {
            priority: self.priority.unwrap_or(base.priority),
            rate_down: self.rate_down.unwrap_or(base.rate_down),
            rate_up: self.rate_up.unwrap_or(base.rate_up),
            data_month: self.data_month.unwrap_or(base.data_month),
            data_throttle: self.data_throttle.unwrap_or(base.data_throttle),
            llm_day: self.llm_day.unwrap_or(base.llm_day),
            llm_month: self.llm_month.unwrap_or(base.llm_month),
            llm_tokens_day: self.llm_tokens_day.unwrap_or(base.llm_tokens_day),
            on_exhaust: self.on_exhaust.unwrap_or(base.on_exhaust),
            downgrade_route: self
                .downgrade_route
                .clone()
                .or_else(|| base.downgrade_route.clone()),
            vpn: self.vpn.clone().or_else(|| base.vpn.clone()),
        }
    }
}

/// Name of the group unknown devices (and devices without `group`) belong to.
pub const DEFAULT_GROUP: &str = "default";

/// `config group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub meta: Meta,
    /// The group's limits (defaults filled in).
    pub limits: Limits,
}

/// `config device`: a known device, identified by MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub meta: Meta,
    /// Identity of the device on the LAN.
    pub mac: Mac,
    /// Fixed addresses; more are learned at run time (neighbour table, DHCP leases).
    pub ips: Vec<IpAddr>,
    /// Name shown to people.
    pub label: Option<String>,
    /// Group it belongs to (`default` when not set).
    pub group: String,
    /// Per-device overrides of the group's limits.
    pub overrides: LimitOverrides,
}

// === VPN ===

/// `config vpn`: a VPN policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vpn {
    pub meta: Meta,
    /// The VPN netdev (e.g. `wg0`).
    pub interface: String,
    /// Next hop on the VPN link; `None` = point-to-point (`default dev wg0`).
    pub gateway: Option<IpAddr>,
    /// Routing table whose default route is the VPN.
    pub table: u32,
    /// Mark selecting the table for traffic hearth marks itself.
    pub fwmark: Fwmark,
    /// Priority of the `ip rule`s.
    pub rule_priority: u32,
    /// Unreachable route in the table when the link is down: no leaks.
    pub kill_switch: bool,
    /// hearth creates and configures the WireGuard link itself (no netifd).
    pub manage_link: bool,
    /// Private key file, for `manage_link`.
    pub private_key_file: Option<PathBuf>,
    /// UDP listen port, for `manage_link`.
    pub listen_port: Option<u16>,
    /// Addresses of the link, for `manage_link`.
    pub addresses: Vec<Cidr>,
}

/// `config wireguard_peer` (anonymous): a peer of a VPN link hearth manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireguardPeer {
    pub meta: Meta,
    /// The `vpn` section this peer belongs to.
    pub vpn: String,
    /// Peer public key (base64).
    pub public_key: String,
    /// `host:port` to reach the peer; `None` = the peer connects to us.
    pub endpoint: Option<(String, u16)>,
    /// Destinations routed to this peer.
    pub allowed_ips: Vec<Cidr>,
    /// Keepalive interval in seconds; 0 = off.
    pub persistent_keepalive: u16,
}

// === LLM balancer ===

/// How the balancer picks an upstream from a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    RoundRobin,
    Weighted,
    LeastConnections,
    IpHash,
    Latency,
    Cost,
}

impl Strategy {
    pub const CHOICES: &'static [(&'static str, Strategy)] = &[
        ("round_robin", Strategy::RoundRobin),
        ("weighted", Strategy::Weighted),
        ("least_connections", Strategy::LeastConnections),
        ("ip_hash", Strategy::IpHash),
        ("latency", Strategy::Latency),
        ("cost", Strategy::Cost),
    ];
}

/// `X-Hearth-Prefer` values a route can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefer {
    Cost,
    Latency,
    Quality,
}

impl Prefer {
    pub const CHOICES: &'static [(&'static str, Prefer)] = &[
        ("cost", Prefer::Cost),
        ("latency", Prefer::Latency),
        ("quality", Prefer::Quality),
    ];
}

/// `config balancer`: the OpenAI-compatible listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balancer {
    pub meta: Meta,
    /// LAN addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// Mark on the balancer's upstream sockets, so shaping can class LLM traffic (0 = none).
    pub fwmark: u32,
    /// Also allow wildcard and public listen addresses (off: the balancer spends the
    /// household's upstream keys and must not face the internet).
    pub allow_wan: bool,
    /// Default strategy for pools without a route override.
    pub strategy: Strategy,
    /// Household LLM budget per month; 0 = unlimited.
    pub llm_month: Money,
    /// Seconds a request may take end to end.
    pub request_timeout: u32,
    /// Largest request body accepted, bytes (413 above).
    pub max_body: u64,
    /// Seconds a client may take to send its request headers (slow senders are cut off).
    pub header_timeout: u32,
    /// Seconds a client may take to send its request body (408 after that).
    pub body_timeout: u32,
    /// Extra upstreams tried before the first byte reaches the client.
    pub retries: u32,
    /// Output tokens assumed for budget reservations when a request sets no `max_tokens`.
    pub default_max_tokens: u64,
    /// Spend anomaly: a window spending more than this times its baseline (micro-units of
    /// the factor: 5_000_000 = 5x); 0 = off.
    pub anomaly_factor: u64,
    /// Spend below this in a window is never an anomaly.
    pub anomaly_min: Money,
    /// Anomaly window, seconds.
    pub anomaly_window: u32,
    /// Send a flagged device's requests to the cheapest endpoint until acknowledged.
    pub anomaly_shift: bool,
}

/// `config endpoint`: an LLM upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub meta: Meta,
    /// Base URL (`.../v1`).
    pub url: Url,
    /// File holding the API key (preferred: keeps the key out of the world-readable config).
    pub api_key_file: Option<PathBuf>,
    /// Inline API key.
    pub api_key: Option<String>,
    /// Models served (globs allowed).
    pub models: Vec<String>,
    /// Price per 1M input tokens; `None` = not configured.
    pub price_input: Option<Money>,
    /// Price per 1M output tokens; `None` = not configured.
    pub price_output: Option<Money>,
    /// Share for the weighted strategy.
    pub weight: u32,
    /// Concurrent requests allowed to this upstream.
    pub max_connections: u32,
    /// Seconds between active health probes; 0 = passive only.
    pub health_check: u32,
}

/// `config route`: a routing rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub meta: Meta,
    /// Model alias or glob the client asks for; `None` = any model.
    pub match_model: Option<String>,
    /// Only for this group.
    pub match_group: Option<String>,
    /// Only for requests with this `X-Hearth-Prefer`.
    pub match_prefer: Option<Prefer>,
    /// Pool of endpoint sections.
    pub endpoints: Vec<String>,
    /// Model name sent upstream (rewrite).
    pub model: Option<String>,
    /// Strategy override for this pool.
    pub strategy: Option<Strategy>,
}

// === Wi-Fi planner ===

/// `config planner`: inputs of the Wi-Fi planner.
#[derive(Debug, Clone, PartialEq)]
pub struct Planner {
    pub meta: Meta,
    /// Survey file (CSV or JSON); relative paths are relative to the config file.
    pub survey: Option<PathBuf>,
    /// Signal every room should get.
    pub target_rssi: Dbm,
    /// Money the household is willing to spend on hardware.
    pub budget: Money,
    /// Floor plan width, metres.
    pub width: f64,
    /// Floor plan depth, metres.
    pub height: f64,
    /// Number of floors.
    pub floors: u32,
    /// Cell size of the coverage grid, metres.
    pub resolution: f64,
    /// Where the access points stand (`ID:X,Y,FLOOR[:STANDARD]`), for CSV surveys, which
    /// have points only.
    pub aps: Vec<crate::planner::ApPlacement>,
}

// === lookups ===

impl Config {
    /// The group named `name`, if configured.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.meta.name == name)
    }

    /// The limits of group `name`: its section's, or the built-in defaults for `default`.
    pub fn group_limits(&self, name: &str) -> Limits {
        self.group(name)
            .map(|g| g.limits.clone())
            .unwrap_or_default()
    }

    /// A device's effective limits: its group's, with the device's overrides applied.
    pub fn device_limits(&self, device: &Device) -> Limits {
        device.overrides.apply_to(&self.group_limits(&device.group))
    }

    /// The endpoint section named `name`.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.meta.name == name)
    }
}
