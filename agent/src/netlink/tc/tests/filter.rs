//! Filter requests against iproute2 captures; filter dump parts decoded.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::netlink::tc::filter::encode_del_prio;
use crate::netlink::tc::wire::{Writer, RTM_NEWTFILTER, TCA_KIND, TCA_OPTIONS};
use crate::netlink::tc::{
    handle, DumpedFilter, Filter, FilterKind, ForeignFilter, IpField, NewFlags, ETH_P_ALL,
    ETH_P_IP, ETH_P_IPV6, INGRESS_HANDLE,
};

const U32_IP_SRC: &str = include_str!("../vectors/u32_ip_src.hex");
const U32_IP_DST: &str = include_str!("../vectors/u32_ip_dst.hex");
const U32_IP6_SRC: &str = include_str!("../vectors/u32_ip6_src.hex");
const U32_MIRRED: &str = include_str!("../vectors/u32_mirred_ingress.hex");
const FW: &str = include_str!("../vectors/fw_filter.hex");

fn on_htb(prio: u16, protocol: u16, kind: FilterKind) -> Filter {
    Filter {
        ifindex: VETH0,
        parent: handle(1, 0),
        prio,
        protocol,
        handle: 0,
        kind,
    }
}

/// … protocol ip prio 1 u32 match ip src 10.0.0.2/32 flowid 1:10
fn ip_src() -> Filter {
    on_htb(
        1,
        ETH_P_IP,
        FilterKind::U32Ipv4 {
            field: IpField::Source,
            addr: Ipv4Addr::new(10, 0, 0, 2),
            prefix: 32,
            classid: handle(1, 0x10),
        },
    )
}

/// … protocol ip prio 1 u32 match ip dst 10.0.0.0/24 flowid 1:10
fn ip_dst() -> Filter {
    on_htb(
        1,
        ETH_P_IP,
        FilterKind::U32Ipv4 {
            field: IpField::Destination,
            addr: Ipv4Addr::new(10, 0, 0, 0),
            prefix: 24,
            classid: handle(1, 0x10),
        },
    )
}

/// … protocol ipv6 prio 2 u32 match ip6 src fd00::2/128 flowid 1:10
fn ip6_src() -> Filter {
    on_htb(
        2,
        ETH_P_IPV6,
        FilterKind::U32Ipv6 {
            field: IpField::Source,
            addr: "fd00::2".parse().unwrap(),
            prefix: 128,
            classid: handle(1, 0x10),
        },
    )
}

/// tc filter add dev veth0 parent ffff: protocol all prio 10 u32 match u32 0 0 flowid 1:1
///   action mirred egress redirect dev ifb0
fn mirred(ifindex: u32, ifb: u32) -> Filter {
    Filter {
        ifindex,
        parent: INGRESS_HANDLE,
        prio: 10,
        protocol: ETH_P_ALL,
        handle: 0,
        kind: FilterKind::U32MatchAllMirred {
            classid: Some(handle(1, 1)),
            to_ifindex: ifb,
        },
    }
}

/// tc filter add dev veth0 parent 1: protocol all prio 3 handle 0x100/0xff00 fw flowid 1:12
fn fw(ifindex: u32) -> Filter {
    Filter {
        ifindex,
        parent: handle(1, 0),
        prio: 3,
        protocol: ETH_P_ALL,
        handle: 0x100,
        kind: FilterKind::Fw {
            mark: 0x100,
            mask: 0xff00,
            classid: handle(1, 0x12),
        },
    }
}

fn dscp(ipv6: bool, dscp: u8) -> Filter {
    on_htb(
        if ipv6 { 3 } else { 2 },
        if ipv6 { ETH_P_IPV6 } else { ETH_P_IP },
        FilterKind::U32Dscp {
            ipv6,
            dscp,
            classid: handle(1, 0x10),
        },
    )
}

#[test]
fn u32_ipv4_source_match_is_byte_exact() {
    #[rustfmt::skip]
    let annotated: &[u8] = &[
        0x5c, 0x00, 0x00, 0x00, // nlmsg_len 92
        0x2c, 0x00,             // nlmsg_type 44 RTM_NEWTFILTER
        0x05, 0x06,             // flags 0x0605
        0xab, 0xff, 0x05, 0x6b, // seq (masked)
        0x00, 0x00, 0x00, 0x00, // pid
        0x00, 0x00, 0x00, 0x00, // tcm_family + pad
        0x03, 0x00, 0x00, 0x00, // tcm_ifindex 3
        0x00, 0x00, 0x00, 0x00, // tcm_handle 0: the kernel numbers the node (800::800)
        0x00, 0x00, 0x01, 0x00, // tcm_parent 1: (the HTB root)
        0x08, 0x00,             // tcm_info low half: protocol ETH_P_IP, network order
        0x01, 0x00,             // tcm_info high half: prio 1
        0x08, 0x00, 0x01, 0x00, b'u', b'3', b'2', 0x00, // TCA_KIND "u32"
        0x30, 0x00, 0x02, 0x00, // TCA_OPTIONS len 48
        0x08, 0x00, 0x01, 0x00, //   TCA_U32_CLASSID
        0x10, 0x00, 0x01, 0x00, //     flowid 1:10
        0x24, 0x00, 0x05, 0x00, //   TCA_U32_SEL len 36: struct tc_u32_sel + 1 key
        0x01,                   //     flags TC_U32_TERMINAL (classifies)
        0x00,                   //     offshift
        0x01,                   //     nkeys 1
        0x00,                   //     pad
        0x00, 0x00,             //     offmask (be16)
        0x00, 0x00,             //     off
        0x00, 0x00,             //     offoff
        0x00, 0x00,             //     hoff
        0x00, 0x00, 0x00, 0x00, //     hmask (be32)
        0xff, 0xff, 0xff, 0xff, //     key.mask /32 (be32)
        0x0a, 0x00, 0x00, 0x02, //     key.val 10.0.0.2 (be32)
        0x0c, 0x00, 0x00, 0x00, //     key.off 12: IPv4 source address
        0x00, 0x00, 0x00, 0x00, //     key.offmask
    ];
    assert_annotation_is_vector(annotated, U32_IP_SRC);
    let mut f = ip_src();
    assert_matches_vector(&f.encode_new(NewFlags::ADD).unwrap(), U32_IP_SRC);
    f.ifindex = 3;
    assert_same(
        &f.encode_new(NewFlags::ADD).unwrap(),
        annotated,
        "u32 ip src",
    );
}

#[test]
fn u32_ipv4_destination_prefix_is_byte_exact() {
    // key.mask ff ff ff 00, val 0a 00 00 00, off 16.
    assert_matches_vector(&ip_dst().encode_new(NewFlags::ADD).unwrap(), U32_IP_DST);
    // Host bits are dropped, as tc does.
    let sloppy = on_htb(
        1,
        ETH_P_IP,
        FilterKind::U32Ipv4 {
            field: IpField::Destination,
            addr: Ipv4Addr::new(10, 0, 0, 77),
            prefix: 24,
            classid: handle(1, 0x10),
        },
    );
    assert_matches_vector(&sloppy.encode_new(NewFlags::ADD).unwrap(), U32_IP_DST);
    assert!(ip_dst().is_met_by(&sloppy));
}

#[test]
fn u32_ipv6_source_match_is_byte_exact() {
    // Four keys (one per 32 bits of /128) at offsets 8, 12, 16, 20.
    let v = parse_vector(U32_IP6_SRC);
    #[rustfmt::skip]
    let keys: &[u8] = &[
        0xff, 0xff, 0xff, 0xff, 0xfd, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0, 0, 0, 0,
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0, 0, 0, 0,
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0, 0, 0, 0,
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x02, 0x14, 0x00, 0x00, 0x00, 0, 0, 0, 0,
    ];
    assert_eq!(&v.bytes[v.bytes.len() - keys.len()..], keys);
    // tcm_info: ETH_P_IPV6 in network order, prio 2.
    assert_eq!(&v.bytes[32..36], &[0x86, 0xdd, 0x02, 0x00]);
    assert_matches_vector(&ip6_src().encode_new(NewFlags::ADD).unwrap(), U32_IP6_SRC);
}

#[test]
fn u32_ipv6_partial_prefixes_use_one_key_per_started_word() {
    let f = |prefix| {
        on_htb(
            2,
            ETH_P_IPV6,
            FilterKind::U32Ipv6 {
                field: IpField::Destination,
                addr: "2001:db8:abcd:12ff::".parse().unwrap(),
                prefix,
                classid: handle(1, 0x10),
            },
        )
    };
    // /60: key at 24 full, key at 28 with mask fffffff0 (value masked to ...12f0).
    let bytes = f(60).encode_new(NewFlags::ADD).unwrap();
    let sel_keys = &bytes[bytes.len() - 32..];
    #[rustfmt::skip]
    let want: &[u8] = &[
        0xff, 0xff, 0xff, 0xff, 0x20, 0x01, 0x0d, 0xb8, 24, 0, 0, 0, 0, 0, 0, 0,
        0xff, 0xff, 0xff, 0xf0, 0xab, 0xcd, 0x12, 0xf0, 28, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(sel_keys, want);
    assert_eq!(bytes[bytes.len() - 32 - 16 + 2], 2, "nkeys");
    // Decoding gives the network address back.
    let DumpedFilter::Known(back) = DumpedFilter::decode(&bytes).unwrap() else {
        panic!("not recognized");
    };
    let FilterKind::U32Ipv6 { addr, prefix, .. } = back.kind else {
        panic!("{back:?}");
    };
    assert_eq!(
        (addr, prefix),
        ("2001:db8:abcd:12f0::".parse().unwrap(), 60)
    );
    assert!(f(60).is_met_by(&back));
}

#[test]
fn u32_match_all_mirred_redirect_is_byte_exact() {
    #[rustfmt::skip]
    let annotated: &[u8] = &[
        0x94, 0x00, 0x00, 0x00, // nlmsg_len 148
        0x2c, 0x00, 0x05, 0x06, // RTM_NEWTFILTER, flags 0x0605
        0xab, 0xff, 0x05, 0x6b, // seq (masked)
        0x00, 0x00, 0x00, 0x00, // pid
        0x00, 0x00, 0x00, 0x00, // tcm_family + pad
        0x03, 0x00, 0x00, 0x00, // tcm_ifindex 3 (veth0)
        0x00, 0x00, 0x00, 0x00, // tcm_handle 0
        0x00, 0x00, 0xff, 0xff, // tcm_parent ffff: (the ingress qdisc)
        0x00, 0x03,             // protocol ETH_P_ALL, network order
        0x0a, 0x00,             // prio 10
        0x08, 0x00, 0x01, 0x00, b'u', b'3', b'2', 0x00, // TCA_KIND "u32"
        0x68, 0x00, 0x02, 0x00, // TCA_OPTIONS len 104
        0x08, 0x00, 0x01, 0x00, //   TCA_U32_CLASSID
        0x01, 0x00, 0x01, 0x00, //     1:1
        0x38, 0x00, 0x07, 0x00, //   TCA_U32_ACT len 56
        0x34, 0x00, 0x01, 0x00, //     action #1 (order) len 52
        0x0b, 0x00, 0x01, 0x00, //       TCA_ACT_KIND len 11
        b'm', b'i', b'r', b'r', b'e', b'd', 0x00, 0x00, // "mirred\0" + pad
        0x24, 0x00, 0x02, 0x80, //       TCA_ACT_OPTIONS len 36, NLA_F_NESTED set
        0x20, 0x00, 0x02, 0x00, //         TCA_MIRRED_PARMS len 32: struct tc_mirred
        0x00, 0x00, 0x00, 0x00, //           index 0 (new action)
        0x00, 0x00, 0x00, 0x00, //           capab
        0x04, 0x00, 0x00, 0x00, //           action TC_ACT_STOLEN
        0x00, 0x00, 0x00, 0x00, //           refcnt
        0x00, 0x00, 0x00, 0x00, //           bindcnt
        0x01, 0x00, 0x00, 0x00, //           eaction TCA_EGRESS_REDIR
        0x04, 0x00, 0x00, 0x00, //           ifindex 4 (ifb0), message offset 108
        0x24, 0x00, 0x05, 0x00, //   TCA_U32_SEL len 36
        0x01, 0x00, 0x01, 0x00, //     flags TERMINAL, offshift 0, nkeys 1, pad
        0x00, 0x00, 0x00, 0x00, //     offmask, off
        0x00, 0x00, 0x00, 0x00, //     offoff, hoff
        0x00, 0x00, 0x00, 0x00, //     hmask
        0x00, 0x00, 0x00, 0x00, //     key.mask 0: "match u32 0 0" matches everything
        0x00, 0x00, 0x00, 0x00, //     key.val 0
        0x00, 0x00, 0x00, 0x00, //     key.off 0
        0x00, 0x00, 0x00, 0x00, //     key.offmask
    ];
    assert_annotation_is_vector(annotated, U32_MIRRED);
    assert_same(
        &mirred(3, 4).encode_new(NewFlags::ADD).unwrap(),
        annotated,
        "mirred",
    );
    // Both ifindexes substituted: veth0 at 20, ifb0 at 108.
    assert_matches_vector(
        &mirred(VETH0, IFB0).encode_new(NewFlags::ADD).unwrap(),
        U32_MIRRED,
    );
}

#[test]
fn fw_filter_is_byte_exact() {
    #[rustfmt::skip]
    let annotated: &[u8] = &[
        0x40, 0x00, 0x00, 0x00, // nlmsg_len 64
        0x2c, 0x00, 0x05, 0x06, // RTM_NEWTFILTER, flags 0x0605
        0xab, 0xff, 0x05, 0x6b, // seq (masked)
        0x00, 0x00, 0x00, 0x00, // pid
        0x00, 0x00, 0x00, 0x00, // tcm_family + pad
        0x03, 0x00, 0x00, 0x00, // tcm_ifindex 3
        0x00, 0x01, 0x00, 0x00, // tcm_handle 0x100: the mark
        0x00, 0x00, 0x01, 0x00, // tcm_parent 1:
        0x00, 0x03, 0x03, 0x00, // protocol ETH_P_ALL (network order), prio 3
        0x07, 0x00, 0x01, 0x00, b'f', b'w', 0x00, 0x00, // TCA_KIND "fw" (len 7) + pad
        0x14, 0x00, 0x02, 0x00, // TCA_OPTIONS len 20
        0x08, 0x00, 0x05, 0x00, //   TCA_FW_MASK
        0x00, 0xff, 0x00, 0x00, //     0xff00: match (mark & 0xff00) == 0x100
        0x08, 0x00, 0x01, 0x00, //   TCA_FW_CLASSID
        0x12, 0x00, 0x01, 0x00, //     1:12
    ];
    assert_annotation_is_vector(annotated, FW);
    assert_same(&fw(3).encode_new(NewFlags::ADD).unwrap(), annotated, "fw");
    assert_matches_vector(&fw(VETH0).encode_new(NewFlags::ADD).unwrap(), FW);
    // The handle may be left 0: the mark is the handle.
    let no_handle = Filter {
        handle: 0,
        ..fw(VETH0)
    };
    assert_matches_vector(&no_handle.encode_new(NewFlags::ADD).unwrap(), FW);
}

#[test]
fn dscp_matches_follow_tc_layout() {
    // No capture exists; the expected keys are what tc builds for
    // `match ip dsfield 0xb8 0xfc` (pack_key8: byte 1 of word 0) and
    // `match ip6 priority 0xb8 0xfc` (traffic class << 20), DSCP 46 = EF.
    #[rustfmt::skip]
    let v4: &[u8] = &[
        0x5c, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0,
        0x00, 0x00, 0x00, 0x00, // tcm_family
        0x07, 0x00, 0x00, 0x00, // ifindex 7
        0x00, 0x00, 0x00, 0x00, // handle 0
        0x00, 0x00, 0x01, 0x00, // parent 1:
        0x08, 0x00, 0x02, 0x00, // ETH_P_IP, prio 2
        0x08, 0x00, 0x01, 0x00, b'u', b'3', b'2', 0x00,
        0x30, 0x00, 0x02, 0x00, // TCA_OPTIONS
        0x08, 0x00, 0x01, 0x00, 0x10, 0x00, 0x01, 0x00, // CLASSID 1:10
        0x24, 0x00, 0x05, 0x00, // SEL
        0x01, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0x00, 0xfc, 0x00, 0x00, // key.mask: the DSCP bits of the TOS byte
        0x00, 0xb8, 0x00, 0x00, // key.val: 46 << 2
        0x00, 0x00, 0x00, 0x00, // key.off 0 (first word of the IPv4 header)
        0x00, 0x00, 0x00, 0x00, // key.offmask
    ];
    assert_same(
        &dscp(false, 46).encode_new(NewFlags::ADD).unwrap(),
        v4,
        "dscp v4",
    );
    let v6 = dscp(true, 46).encode_new(NewFlags::ADD).unwrap();
    // ETH_P_IPV6, prio 3; key mask 0x0fc00000, value 0xb8 << 20.
    assert_eq!(&v6[32..36], &[0x86, 0xdd, 0x03, 0x00]);
    assert_eq!(
        &v6[v6.len() - 16..],
        &[0x0f, 0xc0, 0, 0, 0x0b, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
}

#[test]
fn request_vectors_decode_to_their_descriptions() {
    let cases = [
        (U32_IP_SRC, ip_src()),
        (U32_IP_DST, ip_dst()),
        (U32_IP6_SRC, ip6_src()),
        (U32_MIRRED, mirred(VETH0, IFB0)),
        (FW, fw(VETH0)),
    ];
    for (text, want) in cases {
        let v = parse_vector(text);
        let got = DumpedFilter::decode(&v.with_test_ifindexes()).unwrap();
        assert_eq!(got, DumpedFilter::Known(want), "{}", v.cmd);
    }
}

#[test]
fn filters_round_trip() {
    let mut cases = vec![
        ip_src(),
        ip_dst(),
        ip6_src(),
        mirred(VETH0, IFB0),
        Filter {
            kind: FilterKind::U32MatchAllMirred {
                classid: None,
                to_ifindex: IFB0,
            },
            ..mirred(VETH0, IFB0)
        },
        fw(VETH0),
        Filter {
            kind: FilterKind::Fw {
                mark: 0x4c00_0000,
                mask: u32::MAX,
                classid: handle(1, 0x40),
            },
            handle: 0x4c00_0000,
            ..fw(VETH0)
        },
        on_htb(
            4,
            ETH_P_IP,
            FilterKind::U32Ipv4 {
                field: IpField::Source,
                addr: Ipv4Addr::UNSPECIFIED,
                prefix: 0,
                classid: handle(1, 2),
            },
        ),
    ];
    for d in 0..64 {
        cases.push(dscp(false, d));
        cases.push(dscp(true, d));
    }
    for p in [1u8, 31, 32, 33, 64, 65, 96, 127] {
        cases.push(on_htb(
            5,
            ETH_P_IPV6,
            FilterKind::U32Ipv6 {
                field: IpField::Destination,
                addr: Ipv6Addr::from(u128::MAX << (128 - u32::from(p))),
                prefix: p,
                classid: handle(1, 0x1000),
            },
        ));
    }
    for f in cases {
        let bytes = f.encode_new(NewFlags::ADD).unwrap();
        assert_eq!(
            DumpedFilter::decode(&bytes).unwrap(),
            DumpedFilter::Known(f.clone())
        );
    }
}

/// A u32 dump part the way the kernel sends it: chain, a kernel handle, then options.
fn kernel_u32_part(fh: u32, options: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::new(RTM_NEWTFILTER, 0x2);
    w.tcmsg(
        VETH0,
        fh,
        handle(1, 0),
        (2 << 16) | u32::from(ETH_P_IP.to_be()),
    );
    w.attr_str(TCA_KIND, "u32");
    w.attr_u32(11, 0); // TCA_CHAIN 0
    let o = w.begin_nest(TCA_OPTIONS);
    options(&mut w);
    w.end_nest(o);
    w.finish()
}

#[test]
fn kernel_numbered_u32_nodes_meet_a_plan_without_handle() {
    let plan = dscp(false, 46);
    let request = plan.encode_new(NewFlags::ADD).unwrap();
    let sel = request[request.len() - 36 + 4..].to_vec();
    let part = kernel_u32_part(0x8000_0800, |w| {
        w.attr(5, &sel); // SEL
        w.attr_u32(2, 0x8000_0000); // HASH: the node's table 800:
        w.attr_u32(1, handle(1, 0x10)); // CLASSID
        w.attr(9, &[0; 24]); // PCNT
    });
    let DumpedFilter::Known(got) = DumpedFilter::decode(&part).unwrap() else {
        panic!("a plain DSCP node must be recognized");
    };
    assert_eq!(got.handle, 0x8000_0800);
    assert!(plan.is_met_by(&got));
    assert!(!dscp(false, 10).is_met_by(&got));
}

#[test]
fn kernel_style_mirred_action_decodes() {
    // Dumps add an action index, counters and TM to the action.
    let part = {
        let mut w = Writer::new(RTM_NEWTFILTER, 0x2);
        w.tcmsg(
            VETH0,
            0x8000_0800,
            INGRESS_HANDLE,
            (10 << 16) | u32::from(ETH_P_ALL.to_be()),
        );
        w.attr_str(TCA_KIND, "u32");
        let o = w.begin_nest(TCA_OPTIONS);
        w.attr(5, &{
            let mut s = vec![1, 0, 1, 0];
            s.extend_from_slice(&[0; 28]);
            s
        });
        let act = w.begin_nest(7);
        let one = w.begin_nest(1);
        w.attr_str(1, "mirred");
        w.attr(4, &[0; 16]); // TCA_ACT_STATS
        let ao = w.begin_nest(2 | 0x8000);
        w.attr(1, &[0; 32]); // TCA_MIRRED_TM
        let mut parms = Vec::new();
        for v in [1u32, 0, 4, 1, 1, 1, IFB0] {
            parms.extend_from_slice(&v.to_ne_bytes());
        }
        w.attr(2, &parms);
        w.end_nest(ao);
        w.end_nest(one);
        w.end_nest(act);
        w.end_nest(o);
        w.finish()
    };
    let DumpedFilter::Known(got) = DumpedFilter::decode(&part).unwrap() else {
        panic!("the redirect must be recognized");
    };
    assert_eq!(
        got.kind,
        FilterKind::U32MatchAllMirred {
            classid: None,
            to_ifindex: IFB0
        }
    );
}

#[test]
fn headers_hash_tables_and_strangers_are_foreign() {
    // The per-prio header: no options.
    let mut w = Writer::new(RTM_NEWTFILTER, 0x2);
    w.tcmsg(
        VETH0,
        0,
        handle(1, 0),
        (2 << 16) | u32::from(ETH_P_IP.to_be()),
    );
    w.attr_str(TCA_KIND, "u32");
    let header = w.finish();
    let got = DumpedFilter::decode(&header).unwrap();
    assert_eq!(
        got,
        DumpedFilter::Foreign(ForeignFilter {
            ifindex: VETH0,
            parent: handle(1, 0),
            prio: 2,
            protocol: ETH_P_IP,
            handle: 0,
            chain: 0,
            kind: "u32".into(),
        })
    );
    // A hash table (DIVISOR).
    let table = kernel_u32_part(0x8000_0000, |w| w.attr_u32(4, 1));
    assert!(matches!(
        DumpedFilter::decode(&table).unwrap(),
        DumpedFilter::Foreign(_)
    ));
    // A match on the word after the IPv4 header (ports): not hearth's.
    let ports = kernel_u32_part(0x8000_0801, |w| {
        let mut s = vec![1, 0, 1, 0];
        s.extend_from_slice(&[0; 12]);
        s.extend_from_slice(&0xffff_0000u32.to_be_bytes());
        s.extend_from_slice(&0x0050_0000u32.to_be_bytes());
        s.extend_from_slice(&20i32.to_ne_bytes());
        s.extend_from_slice(&0i32.to_ne_bytes());
        w.attr(5, &s);
        w.attr_u32(1, handle(1, 0x10));
    });
    assert!(matches!(
        DumpedFilter::decode(&ports).unwrap(),
        DumpedFilter::Foreign(_)
    ));
    // Another classifier.
    let mut w = Writer::new(RTM_NEWTFILTER, 0x2);
    w.tcmsg(VETH0, 1, handle(1, 0), 1 << 16);
    w.attr_str(TCA_KIND, "flower");
    let o = w.begin_nest(TCA_OPTIONS);
    w.attr_u32(1, handle(1, 0x10));
    w.end_nest(o);
    let flower = w.finish();
    let DumpedFilter::Foreign(f) = DumpedFilter::decode(&flower).unwrap() else {
        panic!("flower is foreign");
    };
    assert_eq!(f.kind, "flower");
    assert!(!f.is_structural(), "someone else's filter");
    // The header and the hash table 800: are bookkeeping.
    for (bytes, handle) in [(&header, 0), (&table, 0x8000_0000)] {
        let DumpedFilter::Foreign(f) = DumpedFilter::decode(bytes).unwrap() else {
            panic!("foreign");
        };
        assert_eq!(f.handle, handle);
        assert!(f.is_structural());
    }
}

#[test]
fn deletes_name_prio_protocol_and_handle() {
    let all = encode_del_prio(VETH0, handle(1, 0), 2, ETH_P_IP);
    #[rustfmt::skip]
    let want: &[u8] = &[
        0x24, 0x00, 0x00, 0x00, // nlmsg_len 36
        0x2d, 0x00, 0x05, 0x00, // RTM_DELTFILTER 45, REQUEST|ACK
        0, 0, 0, 0, 0, 0, 0, 0,
        0x00, 0x00, 0x00, 0x00, // tcm_family
        0x07, 0x00, 0x00, 0x00, // ifindex 7
        0x00, 0x00, 0x00, 0x00, // handle 0: the whole prio
        0x00, 0x00, 0x01, 0x00, // parent 1:
        0x08, 0x00, 0x02, 0x00, // ETH_P_IP, prio 2
    ];
    assert_eq!(all, want);
    // One node, by the handle from a dump: KIND is sent so the kernel checks it.
    let one = Filter {
        handle: 0x8000_0801,
        ..ip_src()
    }
    .encode_del()
    .unwrap();
    assert_eq!(&one[24..28], &0x8000_0801u32.to_ne_bytes());
    assert_eq!(
        &one[36..],
        &[0x08, 0x00, 0x01, 0x00, b'u', b'3', b'2', 0x00]
    );
    // A planned u32 filter has no handle yet.
    assert!(ip_src().encode_del().is_err());
    // fw: the mark is the handle.
    let fw_del = Filter {
        handle: 0,
        ..fw(VETH0)
    }
    .encode_del()
    .unwrap();
    assert_eq!(&fw_del[24..28], &0x100u32.to_ne_bytes());
    // A foreign entry in another chain names its chain.
    let foreign = ForeignFilter {
        ifindex: VETH0,
        parent: handle(1, 0),
        prio: 7,
        protocol: ETH_P_ALL,
        handle: 0,
        chain: 3,
        kind: "flower".into(),
    }
    .encode_del();
    assert_eq!(&foreign[foreign.len() - 8..], &[8, 0, 11, 0, 3, 0, 0, 0]);
}

#[test]
fn invalid_filters_are_refused_with_the_filter_named() {
    let wrong_protocol = Filter {
        protocol: ETH_P_ALL,
        ..ip_src()
    };
    let e = wrong_protocol.encode_new(NewFlags::ADD).unwrap_err();
    assert!(
        e.to_string()
            .contains("u32 filter prio 1 on 1: of ifindex 7"),
        "{e}"
    );
    let cases = [
        Filter {
            prio: 0,
            ..ip_src()
        },
        on_htb(
            1,
            ETH_P_IP,
            FilterKind::U32Ipv4 {
                field: IpField::Source,
                addr: Ipv4Addr::LOCALHOST,
                prefix: 33,
                classid: handle(1, 0x10),
            },
        ),
        on_htb(
            1,
            ETH_P_IPV6,
            FilterKind::U32Ipv6 {
                field: IpField::Source,
                addr: Ipv6Addr::UNSPECIFIED,
                prefix: 0,
                classid: handle(1, 0x10),
            },
        ),
        on_htb(
            1,
            ETH_P_IP,
            FilterKind::U32Ipv4 {
                field: IpField::Source,
                addr: Ipv4Addr::LOCALHOST,
                prefix: 8,
                classid: 0,
            },
        ),
        dscp(false, 64),
        Filter {
            protocol: ETH_P_IP,
            ..dscp(true, 46)
        },
        Filter {
            kind: FilterKind::Fw {
                mark: 0x1ff,
                mask: 0xff00,
                classid: handle(1, 0x12),
            },
            handle: 0,
            ..fw(VETH0)
        },
        Filter {
            handle: 0x200,
            ..fw(VETH0)
        },
        Filter {
            kind: FilterKind::U32MatchAllMirred {
                classid: None,
                to_ifindex: 0,
            },
            ..mirred(VETH0, IFB0)
        },
    ];
    for f in cases {
        assert!(f.encode_new(NewFlags::ADD).is_err(), "{f:?}");
    }
}
