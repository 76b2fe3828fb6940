//! Unit tests of value parsing and of config-level behaviour (defaults, overrides, schema).

use super::values::*;
use super::*;
use std::path::Path;

fn parse_cfg(src: &str) -> Result<Config, Vec<String>> {
    let doc = crate::uci::Document::parse("hearth", src)
        .map_err(|e| e.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    from_package(doc.package(), Path::new("cfg")).map_err(|e| e.lines())
}

#[test]
fn money_is_exact_micro_units() {
    assert_eq!(Money::parse("5"), Ok(Money(5_000_000)));
    assert_eq!(Money::parse("0.15"), Ok(Money(150_000)));
    assert_eq!(Money::parse(".5"), Ok(Money(500_000)));
    assert_eq!(Money::parse("0.000001"), Ok(Money(1)));
    assert!(Money::parse("0.0000001").is_err());
    assert!(Money::parse("-1").is_err());
    assert!(Money::parse("1e3").is_err());
    assert!(Money::parse("$5").is_err());
    assert!(Money::parse(".").is_err());
    assert_eq!(Money(150_000).to_string(), "0.15");
    assert_eq!(Money(30_000_000).to_string(), "30");
}

#[test]
fn gib_converts_to_bytes() {
    assert_eq!(Bytes::parse_gib("1"), Ok(Bytes(1 << 30)));
    assert_eq!(Bytes::parse_gib("0.5"), Ok(Bytes(1 << 29)));
    assert_eq!(Bytes::parse_gib("200"), Ok(Bytes(200 << 30)));
    assert!(Bytes::parse_gib("1 GiB").is_err());
}

#[test]
fn rates_are_kbit_and_bounded() {
    assert_eq!(Kbps::parse("20000"), Ok(Kbps(20_000)));
    assert!(Kbps::parse("20mbit").is_err());
    let e = Kbps::parse("1000000000").unwrap_err();
    assert!(e.contains("more than 100 Gbit/s"), "{e}");
}

#[test]
fn macs_are_unicast_and_case_insensitive() {
    let a: Mac = "AA:bb:CC:dd:EE:01".parse().unwrap();
    let b: Mac = "aa-bb-cc-dd-ee-01".parse().unwrap();
    assert_eq!(a, b);
    assert_eq!(a.to_string(), "aa:bb:cc:dd:ee:01");
    assert!("01:00:5e:00:00:01"
        .parse::<Mac>()
        .unwrap_err()
        .contains("multicast"));
    assert!("ff:ff:ff:ff:ff:ff".parse::<Mac>().is_err());
    assert!("00:00:00:00:00:00"
        .parse::<Mac>()
        .unwrap_err()
        .contains("all-zero"));
    assert!("aa:bb:cc:dd:ee".parse::<Mac>().is_err());
    assert!("aa:bb:cc:dd:ee:0g".parse::<Mac>().is_err());
    assert!("aabb.ccdd.ee01".parse::<Mac>().is_err());
}

#[test]
fn cidrs_and_fwmarks() {
    let c: Cidr = "10.7.0.2/32".parse().unwrap();
    assert_eq!(c.to_string(), "10.7.0.2/32");
    assert_eq!("fd00::1".parse::<Cidr>().unwrap().prefix, 128);
    assert!("10.0.0.0/33"
        .parse::<Cidr>()
        .unwrap_err()
        .contains("too long"));
    assert!("10.0.0/8".parse::<Cidr>().is_err());
    let m: Fwmark = "0x100/0xff00".parse().unwrap();
    assert_eq!((m.value, m.mask), (0x100, 0xff00));
    assert_eq!("256".parse::<Fwmark>().unwrap().value, 0x100);
    assert!("0".parse::<Fwmark>().is_err());
    assert!("0x101/0xff00"
        .parse::<Fwmark>()
        .unwrap_err()
        .contains("outside its mask"));
}

#[test]
fn urls_are_http_or_https_without_credentials() {
    let u: Url = "https://api.openai.com/v1/".parse().unwrap();
    assert_eq!(
        (u.tls, u.host.as_str(), u.port, u.path.as_str()),
        (true, "api.openai.com", 443, "/v1")
    );
    assert_eq!(u.raw, "https://api.openai.com/v1");
    let u: Url = "http://[fd00::5]:11434/v1".parse().unwrap();
    assert_eq!((u.host.as_str(), u.port), ("fd00::5", 11434));
    let u: Url = "http://192.168.1.5:11434".parse().unwrap();
    assert_eq!((u.port, u.path.as_str()), (11434, ""));
    assert!("ftp://x/".parse::<Url>().is_err());
    assert!("https://user:pw@host/v1"
        .parse::<Url>()
        .unwrap_err()
        .contains("api_key_file"));
    assert!("https:///v1".parse::<Url>().is_err());
    assert!("https://host:0/".parse::<Url>().is_err());
    assert!("https://host:99999/".parse::<Url>().is_err());
    assert!("https://host/v1?x=1".parse::<Url>().is_err());
}

#[test]
fn small_parsers() {
    assert_eq!(boolean("yes"), Ok(true));
    assert_eq!(boolean("disabled"), Ok(false));
    assert!(boolean("2").is_err());
    assert!(ifname("br-lan").is_ok());
    assert!(ifname("a-very-long-ifname").is_err());
    assert!(ifname("eth0:1").is_err());
    assert_eq!(
        host_port("vpn.example.net:51820"),
        Ok(("vpn.example.net".into(), 51820))
    );
    assert_eq!(host_port("[fd00::1]:51820"), Ok(("fd00::1".into(), 51820)));
    assert!(host_port("fd00::1:51820").is_err());
    assert!(host_port("host:0").is_err());
    assert!(wg_key("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=").is_ok());
    assert!(wg_key("short=").is_err());
    assert_eq!(Dbm::parse("-67"), Ok(Dbm(-67)));
    assert!(Dbm::parse("-20").is_err());
    assert!(currency("EUR").is_ok());
    let e = one_of("least_connection", model::Strategy::CHOICES).unwrap_err();
    assert!(e.contains("did you mean 'least_connections'"), "{e}");
}

#[test]
fn empty_file_is_a_valid_config_with_defaults() {
    let cfg = parse_cfg("").unwrap();
    assert_eq!(cfg.agent, Agent::default());
    assert!(cfg.balancer.is_none());
}

#[test]
fn devices_inherit_group_limits_and_override_them() {
    let cfg = parse_cfg(
        "config group kids\n option llm_month 5\n option priority bulk\n option rate_down 3000\n\
         config device a\n option mac 02:00:00:00:00:01\n option group kids\n option llm_month 3\n\
         config device b\n option mac 02:00:00:00:00:02\n",
    )
    .unwrap();
    let a = cfg.device_limits(&cfg.devices[0]);
    assert_eq!(a.llm_month, Money(3_000_000));
    assert_eq!(a.priority, Priority::Bulk);
    assert_eq!(a.rate_down, Kbps(3000));
    let b = cfg.device_limits(&cfg.devices[1]);
    assert_eq!(cfg.devices[1].group, DEFAULT_GROUP);
    assert_eq!(b, Limits::default());
}

#[test]
fn a_default_group_section_overrides_builtin_defaults() {
    let cfg = parse_cfg(
        "config group default\n option llm_month 1\nconfig device d\n option mac 02:00:00:00:00:01\n",
    )
    .unwrap();
    assert_eq!(
        cfg.device_limits(&cfg.devices[0]).llm_month,
        Money(1_000_000)
    );
}

#[test]
fn every_problem_is_reported_in_line_order() {
    let errs = parse_cfg(
        "config shaper wan\n option uplaod 1\nconfig device d\n option mac zz\nconfig agent\n option log_level loud\n",
    )
    .unwrap_err();
    assert_eq!(
        errs,
        [
            "cfg:1: section 'wan' (shaper) option 'device': is required but missing",
            "cfg:2: section 'wan' (shaper) option 'uplaod': unknown option (did you mean 'upload'?)",
            "cfg:4: section 'd' (device) option 'mac': expected a MAC address such as aa:bb:cc:dd:ee:01, got 'zz'",
            "cfg:6: section '@agent[0]' (agent) option 'log_level': expected one of error|warn|info|debug, got 'loud'",
        ]
    );
}

#[test]
fn schema_lists_options_per_type() {
    let shaper = known_options("shaper");
    assert_eq!(
        shaper,
        [
            "device",
            "lan_device",
            "download",
            "upload",
            "leaf",
            "overhead",
            "llm_share"
        ]
    );
    assert!(
        known_options("device").contains(&"llm_month"),
        "devices take group overrides"
    );
    assert!(known_options("nope").is_empty());
    for t in SECTION_TYPES {
        assert!(!known_options(t).is_empty(), "{t}");
    }
}

#[test]
fn balancer_client_timeouts_default_and_are_bounded() {
    let base = "config endpoint e\n option url http://127.0.0.1:9/v1\n list model m\n\
                config balancer llm\n list listen 127.0.0.1:8080\n";
    let b = parse_cfg(base).unwrap().balancer.unwrap();
    assert_eq!((b.header_timeout, b.body_timeout), (10, 30));
    let b = parse_cfg(&format!(
        "{base} option header_timeout 2\n option body_timeout 3\n"
    ))
    .unwrap()
    .balancer
    .unwrap();
    assert_eq!((b.header_timeout, b.body_timeout), (2, 3));
    for bad in [
        "header_timeout 0",
        "header_timeout 301",
        "body_timeout 0",
        "body_timeout 3601",
    ] {
        let errs = parse_cfg(&format!("{base} option {bad}\n")).unwrap_err();
        assert!(errs[0].contains("must be between"), "{bad}: {errs:?}");
    }
}
