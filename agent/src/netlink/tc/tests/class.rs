//! HTB class requests against iproute2 captures; class dump replies decoded.

use super::*;
use crate::netlink::tc::class::encode_del;
use crate::netlink::tc::rate::{burst_from_ticks, xmit_ticks};
use crate::netlink::tc::{handle, DumpedClass, HtbClass, NewFlags, TcStats};

const CLASS_1_1: &str = include_str!("../vectors/htb_class_1_1.hex");
const CLASS_1_10: &str = include_str!("../vectors/htb_class_1_10.hex");
const CLASS_1_11_RATE64: &str = include_str!("../vectors/htb_class_1_11_rate64.hex");
const CLASS_REPLACE_1_1: &str = include_str!("../vectors/extra_class_replace_1_1.hex");
const CLASS_DEL_1_10: &str = include_str!("../vectors/class_del_1_10.hex");
const DUMP_1_1: &str = include_str!("../vectors/dump_reply_htb_class_1_1.hex");
const DUMP_1_10: &str = include_str!("../vectors/dump_reply_htb_class_1_10.hex");
const DUMP_1_11: &str = include_str!("../vectors/dump_reply_htb_class_1_11_rate64.hex");

/// 10 mbit in bytes per second (tc's mbit = 10^6 bit/s).
const MBIT10: u64 = 1_250_000;

/// tc class add dev veth0 parent 1: classid 1:1 htb rate 10mbit ceil 10mbit burst 15k cburst 15k
fn class_1_1() -> HtbClass {
    HtbClass {
        ifindex: VETH0,
        classid: handle(1, 1),
        parent: handle(1, 0),
        rate_bps: MBIT10,
        ceil_bps: MBIT10,
        burst: 15 * 1024,
        cburst: 15 * 1024,
        prio: 0,
        quantum: 0,
    }
}

/// tc class add dev veth0 parent 1:1 classid 1:10 htb rate 2mbit ceil 10mbit prio 1 quantum 1514
fn class_1_10() -> HtbClass {
    HtbClass {
        ifindex: VETH0,
        classid: handle(1, 0x10),
        parent: handle(1, 1),
        rate_bps: 250_000,
        ceil_bps: MBIT10,
        burst: 0,
        cburst: 0,
        prio: 1,
        quantum: 1514,
    }
}

/// tc class add dev veth0 parent 1:1 classid 1:11 htb rate 50gbit ceil 50gbit
fn class_1_11() -> HtbClass {
    HtbClass {
        ifindex: VETH0,
        classid: handle(1, 0x11),
        parent: handle(1, 1),
        rate_bps: 6_250_000_000,
        ceil_bps: 6_250_000_000,
        burst: 0,
        cburst: 0,
        prio: 0,
        quantum: 0,
    }
}

#[test]
fn htb_class_with_defaults_is_byte_exact_including_rate_tables() {
    let v = parse_vector(CLASS_1_10);
    #[rustfmt::skip]
    let head: &[u8] = &[
        // nlmsghdr
        0x68, 0x08, 0x00, 0x00, // nlmsg_len 2152
        0x28, 0x00,             // nlmsg_type 40 RTM_NEWTCLASS
        0x05, 0x06,             // flags 0x0605 REQUEST|ACK|EXCL|CREATE
        0xab, 0xff, 0x05, 0x6b, // seq (masked)
        0x00, 0x00, 0x00, 0x00, // pid
        // tcmsg
        0x00, 0x00, 0x00, 0x00, // tcm_family + pad
        0x03, 0x00, 0x00, 0x00, // tcm_ifindex 3
        0x10, 0x00, 0x01, 0x00, // tcm_handle = classid 1:10
        0x01, 0x00, 0x01, 0x00, // tcm_parent = class 1:1
        0x00, 0x00, 0x00, 0x00, // tcm_info 0
        0x08, 0x00, 0x01, 0x00, b'h', b't', b'b', 0x00, // TCA_KIND "htb"
        0x3c, 0x08, 0x02, 0x00, // TCA_OPTIONS len 2108 (no RATE64/CEIL64: rates < 2^32)
        0x30, 0x00, 0x01, 0x00, //   TCA_HTB_PARMS len 48: struct tc_htb_opt
        0x03,                   //     rate.cell_log 3 (mtu 1600 >> 3 <= 255)
        0x01,                   //     rate.linklayer 1 Ethernet (kernel skips RTAB)
        0x00, 0x00,             //     rate.overhead 0
        0xff, 0xff,             //     rate.cell_align -1
        0x00, 0x00,             //     rate.mpu 0
        0x90, 0xd0, 0x03, 0x00, //     rate.rate 250000 B/s (2 mbit)
        0x03, 0x01, 0x00, 0x00, //     ceil: cell_log 3, linklayer 1, overhead 0
        0xff, 0xff, 0x00, 0x00, //     ceil: cell_align -1, mpu 0
        0xd0, 0x12, 0x13, 0x00, //     ceil.rate 1250000 B/s (10 mbit)
        0xa0, 0x86, 0x01, 0x00, //     buffer 100000 ticks (default 1600 B = 6400 µs)
        0x20, 0x4e, 0x00, 0x00, //     cbuffer 20000 ticks (1600 B at ceil = 1280 µs)
        0xea, 0x05, 0x00, 0x00, //     quantum 1514
        0x00, 0x00, 0x00, 0x00, //     level 0 (output only)
        0x01, 0x00, 0x00, 0x00, //     prio 1
        0x04, 0x04, 0x04, 0x00, //   TCA_HTB_RTAB len 1028: 256 × u32 at the rate
        0xf4, 0x01, 0x00, 0x00, //     [0] 8 B = 32 µs -> 500 ticks
        0xe8, 0x03, 0x00, 0x00, //     [1] 16 B = 64 µs -> 1000 ticks …
    ];
    assert_same(
        head,
        &v.bytes[..head.len()],
        "annotation of the class capture",
    );
    // TCA_HTB_CTAB (type 3) follows RTAB: the same table at the ceiling.
    let ctab = head.len() - 8 + 1024;
    assert_eq!(&v.bytes[ctab..ctab + 4], &[0x04, 0x04, 0x03, 0x00]);
    for i in 0..256usize {
        let at = |base: usize| {
            let o = base + 4 * i;
            u32::from_le_bytes(v.bytes[o..o + 4].try_into().unwrap())
        };
        let size = ((i + 1) * 8) as u64;
        assert_eq!(
            Some(at(head.len() - 8)),
            xmit_ticks(size, 250_000),
            "rtab[{i}]"
        );
        assert_eq!(Some(at(ctab + 4)), xmit_ticks(size, MBIT10), "ctab[{i}]");
    }

    let mut c = class_1_10();
    assert_matches_vector(&c.encode_new(NewFlags::ADD).unwrap(), CLASS_1_10);
    c.ifindex = 3;
    let ours = c.encode_new(NewFlags::ADD).unwrap();
    assert_same(&ours[..head.len()], head, "class head");
}

#[test]
fn htb_class_with_explicit_bursts_is_byte_exact() {
    // buffer = cbuffer = 15360 B at 10 mbit = 12288 µs = 192000 ticks (0x2EE00).
    assert_eq!(class_1_1().buffer_ticks(), Some(192_000));
    assert_matches_vector(&class_1_1().encode_new(NewFlags::ADD).unwrap(), CLASS_1_1);
}

#[test]
fn htb_class_above_32_bits_uses_rate64_and_a_saturated_rate_field() {
    let v = parse_vector(CLASS_1_11_RATE64);
    #[rustfmt::skip]
    let options: &[u8] = &[
        0x54, 0x08, 0x02, 0x00, // TCA_OPTIONS len 2132
        0x0c, 0x00, 0x06, 0x00, //   TCA_HTB_RATE64 len 12, first
        0x80, 0x6e, 0x87, 0x74, 0x01, 0x00, 0x00, 0x00, // 6250000000 B/s (50 gbit)
        0x0c, 0x00, 0x07, 0x00, //   TCA_HTB_CEIL64 len 12
        0x80, 0x6e, 0x87, 0x74, 0x01, 0x00, 0x00, 0x00, // 6250000000 B/s
        0x30, 0x00, 0x01, 0x00, //   TCA_HTB_PARMS len 48
        0x03, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00,
        0xff, 0xff, 0xff, 0xff, //     rate.rate saturated (must be non-zero)
        0x03, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00,
        0xff, 0xff, 0xff, 0xff, //     ceil.rate saturated
        0x00, 0x00, 0x00, 0x00, //     buffer 0: 1606 B = 0.257 µs, truncated to 0 µs (tc)
        0x00, 0x00, 0x00, 0x00, //     cbuffer 0, same
        0x00, 0x00, 0x00, 0x00, //     quantum 0: the kernel computes (clamps to 200000)
        0x00, 0x00, 0x00, 0x00, //     level
        0x00, 0x00, 0x00, 0x00, //     prio 0
    ];
    // nlmsghdr (16) + tcmsg (20) + KIND (8), then the options.
    assert_eq!(&v.bytes[44..44 + options.len()], options);
    assert_matches_vector(
        &class_1_11().encode_new(NewFlags::ADD).unwrap(),
        CLASS_1_11_RATE64,
    );
}

#[test]
fn class_replace_sends_create_without_replace() {
    // tc class replace dev veth0 parent 1: classid 1:1 htb rate 20mbit ceil 20mbit: 0x0405.
    let c = HtbClass {
        rate_bps: 2_500_000,
        ceil_bps: 2_500_000,
        burst: 0,
        cburst: 0,
        ..class_1_1()
    };
    assert_eq!(NewFlags::CREATE_OR_CHANGE.bits(), 0x0405);
    assert_matches_vector(
        &c.encode_new(NewFlags::CREATE_OR_CHANGE).unwrap(),
        CLASS_REPLACE_1_1,
    );
}

#[test]
fn class_delete_is_byte_exact() {
    // tc class del dev veth0 classid 1:10
    #[rustfmt::skip]
    let annotated: &[u8] = &[
        0x24, 0x00, 0x00, 0x00, // nlmsg_len 36
        0x29, 0x00,             // nlmsg_type 41 RTM_DELTCLASS
        0x05, 0x00,             // flags REQUEST|ACK
        0xca, 0xff, 0x05, 0x6b, // seq (masked)
        0x00, 0x00, 0x00, 0x00, // pid
        0x00, 0x00, 0x00, 0x00, // tcm_family + pad
        0x03, 0x00, 0x00, 0x00, // tcm_ifindex 3
        0x10, 0x00, 0x01, 0x00, // tcm_handle = classid 1:10
        0x00, 0x00, 0x00, 0x00, // tcm_parent 0 (not needed)
        0x00, 0x00, 0x00, 0x00, // tcm_info
    ];
    assert_annotation_is_vector(annotated, CLASS_DEL_1_10);
    assert_same(&encode_del(3, handle(1, 0x10)), annotated, "class del");
    assert_matches_vector(&class_1_10().encode_del(), CLASS_DEL_1_10);
}

#[test]
fn dump_reply_decodes_rates_buckets_leaf_and_counters() {
    // tc -j class show dev veth0: the part for 1:10.
    #[rustfmt::skip]
    let annotated: &[u8] = &[
        0xec, 0x00, 0x00, 0x00, // nlmsg_len 236
        0x28, 0x00,             // RTM_NEWTCLASS
        0x02, 0x00,             // flags NLM_F_MULTI (a dump part)
        0xad, 0xff, 0x05, 0x6b, // seq (echo of the request's, masked)
        0x41, 0x39, 0x00, 0x00, // pid: the receiving socket's port id (masked)
        0x00, 0x00, 0x00, 0x00, // tcm_family + pad
        0x03, 0x00, 0x00, 0x00, // tcm_ifindex 3
        0x10, 0x00, 0x01, 0x00, // tcm_handle 1:10
        0x01, 0x00, 0x01, 0x00, // tcm_parent 1:1
        0x00, 0x00, 0x10, 0x01, // tcm_info: the leaf qdisc 110:
        0x08, 0x00, 0x01, 0x00, b'h', b't', b'b', 0x00, // TCA_KIND "htb"
        0x34, 0x00, 0x02, 0x00, // TCA_OPTIONS len 52
        0x30, 0x00, 0x01, 0x00, //   TCA_HTB_PARMS len 48
        0x00, 0x01, 0x00, 0x00, //     rate: cell_log 0, linklayer 1, overhead 0
        0x00, 0x00, 0x00, 0x00, //     rate: cell_align 0, mpu 0 (kernel's own ratespec)
        0x90, 0xd0, 0x03, 0x00, //     rate 250000 B/s
        0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xd0, 0x12, 0x13, 0x00, //     ceil 1250000 B/s
        0xa0, 0x86, 0x01, 0x00, //     buffer 100000 ticks
        0x20, 0x4e, 0x00, 0x00, //     cbuffer 20000 ticks
        0xea, 0x05, 0x00, 0x00, //     quantum 1514
        0x00, 0x00, 0x00, 0x00, //     level 0 (a leaf)
        0x01, 0x00, 0x00, 0x00, //     prio 1
        0x48, 0x00, 0x07, 0x00, // TCA_STATS2 len 72
        0x14, 0x00, 0x01, 0x00, //   TCA_STATS_BASIC len 20
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // bytes 0
        0x00, 0x00, 0x00, 0x00, //     packets 0
        0x00, 0x00, 0x00, 0x00, //     padding
        0x18, 0x00, 0x03, 0x00, //   TCA_STATS_QUEUE len 24
        0x00, 0x00, 0x00, 0x00, //     qlen
        0x00, 0x00, 0x00, 0x00, //     backlog
        0x00, 0x00, 0x00, 0x00, //     drops
        0x00, 0x00, 0x00, 0x00, //     requeues
        0x00, 0x00, 0x00, 0x00, //     overlimits
        0x18, 0x00, 0x04, 0x00, //   TCA_STATS_APP len 24: struct tc_htb_xstats
        0x00, 0x00, 0x00, 0x00, //     lends
        0x00, 0x00, 0x00, 0x00, //     borrows
        0x00, 0x00, 0x00, 0x00, //     giants
        0xa0, 0x86, 0x01, 0x00, //     tokens 100000 (full bucket when idle)
        0x20, 0x4e, 0x00, 0x00, //     ctokens 20000
        0x2c, 0x00, 0x03, 0x00, // TCA_STATS len 44: legacy struct tc_stats, all 0
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00,
        0x18, 0x00, 0x04, 0x00, // TCA_XSTATS len 24: tc_htb_xstats again
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xa0, 0x86, 0x01, 0x00, 0x20, 0x4e, 0x00, 0x00,
    ];
    assert_annotation_is_vector(annotated, DUMP_1_10);
    let got = DumpedClass::decode(&parse_vector(DUMP_1_10).with_test_ifindexes()).unwrap();
    assert_eq!(got.ifindex, VETH0);
    assert_eq!(got.classid, handle(1, 0x10));
    assert_eq!(got.parent, handle(1, 1));
    assert_eq!(got.leaf_qdisc, handle(0x110, 0));
    assert_eq!(got.kind, "htb");
    assert_eq!(got.stats, Some(TcStats::default()));
    let htb = got.htb.unwrap();
    assert_eq!(
        htb,
        HtbClass {
            burst: 1600,
            cburst: 1600,
            ..class_1_10()
        }
    );
    assert!(
        class_1_10().is_met_by(&htb),
        "the plan with default bursts is met"
    );
}

#[test]
fn dump_reply_of_a_top_class_names_the_qdisc_as_parent() {
    // The kernel reports 1:1 (created with parent 1:) with parent TC_H_ROOT.
    let v = parse_vector(DUMP_1_1);
    assert_eq!(&v.bytes[28..32], &[0xff; 4]);
    let got = DumpedClass::decode(&v.with_test_ifindexes()).unwrap();
    assert_eq!(got.parent, handle(1, 0));
    assert_eq!(got.leaf_qdisc, 0);
    let htb = got.htb.unwrap();
    // quantum 0 was asked for; the kernel computed 1250000 / r2q 10 = 125000.
    assert_eq!(htb.quantum, 125_000);
    assert_eq!(
        htb,
        HtbClass {
            quantum: 125_000,
            ..class_1_1()
        }
    );
    assert!(class_1_1().is_met_by(&htb));
}

#[test]
fn dump_reply_above_32_bits_reads_rate64_and_ceil64() {
    let got = DumpedClass::decode(&parse_vector(DUMP_1_11).with_test_ifindexes()).unwrap();
    let htb = got.htb.unwrap();
    assert_eq!(htb.rate_bps, 6_250_000_000);
    assert_eq!(htb.ceil_bps, 6_250_000_000);
    assert_eq!(htb.quantum, 200_000, "the kernel clamps rate / r2q");
    assert!(class_1_11().is_met_by(&htb));
}

#[test]
fn request_vectors_decode_to_their_descriptions() {
    for (text, plan) in [
        (CLASS_1_1, class_1_1()),
        (CLASS_1_10, class_1_10()),
        (CLASS_1_11_RATE64, class_1_11()),
    ] {
        let v = parse_vector(text);
        let got = DumpedClass::decode(&v.with_test_ifindexes()).unwrap();
        assert_eq!(got.leaf_qdisc, 0);
        assert!(plan.is_met_by(&got.htb.unwrap()), "{}", v.cmd);
    }
}

#[test]
fn classes_round_trip() {
    let classes = [
        class_1_1(),
        HtbClass {
            burst: 1600,
            cburst: 1600,
            ..class_1_10()
        },
        class_1_11(),
        HtbClass {
            rate_bps: 12_500_000, // 100 mbit
            ceil_bps: 125_000_000,
            burst: 12_500,
            cburst: 125_000,
            prio: 7,
            quantum: 3028,
            ..class_1_10()
        },
    ];
    for c in classes {
        let bytes = c.encode_new(NewFlags::ADD).unwrap();
        let back = DumpedClass::decode(&bytes).unwrap().htb.unwrap();
        assert_eq!(back, c);
        assert!(c.is_met_by(&back));
    }
}

#[test]
fn bursts_survive_the_trip_through_ticks() {
    // Whatever the burst, decoding gives a byte count that encodes to the same ticks, and is
    // never more than what was asked.
    for rate in [1_000, 125_000, 250_000, 1_250_000, 12_500_000, 125_000_000] {
        for burst in [1, 99, 1514, 1600, 3000, 15_360, 64_000, 1_000_000] {
            let Some(ticks) = xmit_ticks(burst, rate) else {
                continue;
            };
            let back = burst_from_ticks(ticks, rate);
            assert_eq!(
                xmit_ticks(u64::from(back), rate),
                Some(ticks),
                "{burst} B at {rate}"
            );
            assert!(u64::from(back) <= burst);
        }
    }
}

#[test]
fn a_changed_rate_or_burst_is_not_met() {
    let plan = class_1_1();
    let mut actual = plan.clone();
    actual.rate_bps += 1;
    assert!(!plan.is_met_by(&actual));
    let mut actual = plan.clone();
    actual.burst = 1600;
    assert!(!plan.is_met_by(&actual));
    let mut actual = plan.clone();
    actual.parent = handle(1, 2);
    assert!(!plan.is_met_by(&actual));
}

#[test]
fn invalid_classes_are_refused_with_the_class_named() {
    let cases = [
        HtbClass {
            rate_bps: 0,
            ..class_1_10()
        },
        HtbClass {
            classid: handle(1, 0),
            ..class_1_10()
        },
        HtbClass {
            classid: handle(2, 0x10),
            ..class_1_10()
        },
        HtbClass {
            ceil_bps: 1000,
            ..class_1_10()
        },
        HtbClass {
            prio: 8,
            ..class_1_10()
        },
        HtbClass {
            rate_bps: 1,
            ceil_bps: 1,
            burst: 100_000,
            ..class_1_10()
        },
    ];
    for c in cases {
        let e = c.encode_new(NewFlags::ADD).unwrap_err();
        assert!(e.to_string().contains("HTB class"), "{e}");
    }
}
