//! FIB rule and route messages against iproute2 6.1 captures (`vectors/`: from
//! `shared/netlink/vectors`, plus the suppress, delete and IPv6 dev-only captures made the
//! same way). seq/pid are masked; ifindexes are the captured ones (veth0 = 3, lo = 1).

use std::net::IpAddr;

use super::*;
use crate::netlink::tc::tests::{assert_same, parse_vector};

fn vector(text: &str) -> Vec<u8> {
    parse_vector(text).bytes
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn rule(family: u8, priority: u32, table: u32) -> Rule {
    Rule {
        family,
        priority,
        table,
        src: None,
        fwmark: None,
        suppress_prefixlen: None,
        protocol: None,
    }
}

#[test]
fn rules_are_byte_exact() {
    // ip rule add from 10.0.0.2 lookup 100 priority 10000
    #[rustfmt::skip]
    let annotated: &[u8] = &[
        0x2c, 0x00, 0x00, 0x00, // nlmsg_len 44
        0x20, 0x00,             // RTM_NEWRULE (32)
        0x05, 0x06,             // REQUEST|ACK|EXCL|CREATE
        0xc1, 0xff, 0x05, 0x6b, // seq (masked)
        0x00, 0x00, 0x00, 0x00, // pid
        0x02,                   // fib_rule_hdr.family AF_INET
        0x00,                   //   dst_len 0
        0x20,                   //   src_len 32 (from 10.0.0.2 = /32)
        0x00,                   //   tos
        0x64,                   //   table 100 (< 256: in the header)
        0x00, 0x00,             //   res1, res2
        0x01,                   //   action FR_ACT_TO_TBL
        0x00, 0x00, 0x00, 0x00, //   flags
        0x08, 0x00, 0x02, 0x00, // FRA_SRC
        0x0a, 0x00, 0x00, 0x02, //   10.0.0.2
        0x08, 0x00, 0x06, 0x00, // FRA_PRIORITY
        0x10, 0x27, 0x00, 0x00, //   10000
    ];
    assert_same(
        annotated,
        &vector(include_str!("vectors/rule_v4_from.hex")),
        "annotation",
    );
    let from = Rule {
        src: Some((ip("10.0.0.2"), 32)),
        ..rule(AF_INET, 10_000, 100)
    };
    assert_same(&from.encode(true), annotated, "rule from");
    assert_same(
        &from.encode(false),
        &vector(include_str!("vectors/rule_v4_del_from.hex")),
        "rule del (no action)",
    );
    let mark = Rule {
        fwmark: Some((0x100, 0xff00)),
        ..rule(AF_INET, 10_001, 100)
    };
    assert_same(
        &mark.encode(true),
        &vector(include_str!("vectors/rule_v4_fwmark.hex")),
        "fwmark",
    );
    let v6 = Rule {
        src: Some((ip("fd00::2"), 128)),
        ..rule(AF_INET6, 10_000, 100)
    };
    assert_same(
        &v6.encode(true),
        &vector(include_str!("vectors/rule_v6_from.hex")),
        "v6 from",
    );
    let big = Rule {
        src: Some((ip("10.0.0.3"), 32)),
        ..rule(AF_INET, 10_002, 1000)
    };
    assert_same(
        &big.encode(true),
        &vector(include_str!("vectors/extra_rule_v4_table1000.hex")),
        "table 1000",
    );
    for (family, v) in [
        (AF_INET, include_str!("vectors/rule_v4_suppress.hex")),
        (AF_INET6, include_str!("vectors/rule_v6_suppress.hex")),
    ] {
        let s = Rule {
            suppress_prefixlen: Some(0),
            ..rule(family, 9999, TABLE_MAIN)
        };
        assert_same(&s.encode(true), &vector(v), "suppress_prefixlength 0");
    }
}

#[test]
fn routes_are_byte_exact() {
    // ip route add default dev veth0 table 100
    #[rustfmt::skip]
    let annotated: &[u8] = &[
        0x24, 0x00, 0x00, 0x00, // nlmsg_len 36
        0x18, 0x00,             // RTM_NEWROUTE (24)
        0x05, 0x06,             // REQUEST|ACK|EXCL|CREATE
        0xc1, 0xff, 0x05, 0x6b, // seq (masked)
        0x00, 0x00, 0x00, 0x00, // pid
        0x02,                   // rtmsg.family AF_INET
        0x00, 0x00, 0x00,       //   dst_len 0 (default), src_len 0, tos 0
        0x64,                   //   table 100
        0x03,                   //   protocol RTPROT_BOOT (iproute2's default)
        0xfd,                   //   scope link: dev-only, no gateway
        0x01,                   //   type RTN_UNICAST
        0x00, 0x00, 0x00, 0x00, //   flags
        0x08, 0x00, 0x04, 0x00, // RTA_OIF
        0x03, 0x00, 0x00, 0x00, //   ifindex 3 (veth0)
    ];
    assert_same(
        annotated,
        &vector(include_str!("vectors/route_v4_default_dev.hex")),
        "annotation",
    );
    let dev = Route {
        family: AF_INET,
        table: 100,
        kind: RouteKind::Unicast {
            oif: 3,
            gateway: None,
        },
        metric: None,
        protocol: RTPROT_BOOT,
    };
    assert_same(&dev.encode(RouteOp::Add), annotated, "default dev");
    assert_same(
        &dev.encode(RouteOp::Replace),
        &vector(include_str!("vectors/extra_route_v4_replace_dev.hex")),
        "replace",
    );
    let via = Route {
        kind: RouteKind::Unicast {
            oif: 3,
            gateway: Some(ip("10.9.9.1")),
        },
        ..dev.clone()
    };
    assert_same(
        &via.encode(RouteOp::Add),
        &vector(include_str!("vectors/route_v4_default_via.hex")),
        "via",
    );
    let kill = Route {
        kind: RouteKind::Unreachable,
        metric: Some(4_278_198_272),
        ..dev.clone()
    };
    assert_same(
        &kill.encode(RouteOp::Add),
        &vector(include_str!("vectors/route_v4_unreachable.hex")),
        "unreachable",
    );
    let kill6 = Route {
        family: AF_INET6,
        ..kill.clone()
    };
    assert_same(
        &kill6.encode(RouteOp::Add),
        &vector(include_str!("vectors/route_v6_unreachable.hex")),
        "v6 unreachable",
    );
    let big = Route {
        table: 1000,
        metric: None,
        ..kill.clone()
    };
    assert_same(
        &big.encode(RouteOp::Add),
        &vector(include_str!(
            "vectors/extra_route_v4_unreachable_table1000.hex"
        )),
        "table 1000",
    );
    let dev6 = Route {
        family: AF_INET6,
        kind: RouteKind::Unicast {
            oif: 1,
            gateway: None,
        },
        ..dev.clone()
    };
    assert_same(
        &dev6.encode(RouteOp::Add),
        &vector(include_str!("vectors/route_v6_default_dev.hex")),
        "v6 dev (scope universe)",
    );
}

#[test]
fn requests_decode_back_to_what_was_encoded() {
    let rules = [
        Rule {
            src: Some((ip("10.0.0.2"), 32)),
            protocol: Some(RTPROT_HEARTH),
            ..rule(AF_INET, 10_000, 100)
        },
        Rule {
            fwmark: Some((0x100, 0xff00)),
            ..rule(AF_INET6, 10_001, 70_000)
        },
        Rule {
            suppress_prefixlen: Some(0),
            protocol: Some(RTPROT_HEARTH),
            ..rule(AF_INET6, 9_999, TABLE_MAIN)
        },
    ];
    for r in rules {
        assert_eq!(Rule::decode(&r.encode(true)).unwrap(), Some(r.clone()));
    }
    let routes = [
        Route {
            family: AF_INET6,
            table: 300,
            kind: RouteKind::Unicast {
                oif: 9,
                gateway: Some(ip("fe80::1")),
            },
            metric: Some(5),
            protocol: RTPROT_HEARTH,
        },
        Route {
            family: AF_INET,
            table: 100,
            kind: RouteKind::Unreachable,
            metric: Some(4_278_198_272),
            protocol: RTPROT_HEARTH,
        },
    ];
    for r in routes {
        assert_eq!(
            Route::decode(&r.encode(RouteOp::Add)).unwrap(),
            Some(r.clone())
        );
        assert!(r.is_met_by(&r));
    }
    // An unset metric accepts the kernel's IPv6 default.
    let planned = Route {
        family: AF_INET6,
        table: 100,
        kind: RouteKind::Unicast {
            oif: 4,
            gateway: None,
        },
        metric: None,
        protocol: RTPROT_HEARTH,
    };
    assert!(planned.is_met_by(&Route {
        metric: Some(1024),
        ..planned.clone()
    }));
    assert!(!planned.is_met_by(&Route {
        protocol: RTPROT_BOOT,
        ..planned.clone()
    }));
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for bad in [&[][..], &[0u8; 10][..], &[0xff; 40][..]] {
        let _ = Rule::decode(bad);
        let _ = Route::decode(bad);
    }
    let mut cut = Rule {
        src: Some((ip("10.0.0.2"), 32)),
        ..rule(AF_INET, 1, 100)
    }
    .encode(true);
    let n = cut.len();
    cut[0] = (n + 8) as u8; // claims more than there is
    assert!(Rule::decode(&cut).is_err());
}
