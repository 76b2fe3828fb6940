//! Qdisc requests against iproute2 captures, and qdisc decoding.

use super::*;
use crate::netlink::tc::{
    handle, Cake, CakeDiffserv, CakeFlowMode, DumpedQdisc, FqCodel, NewFlags, Qdisc, QdiscKind,
    SizeSpec, TC_H_ROOT,
};

const HTB_ROOT: &str = include_str!("../vectors/htb_root.hex");
const HTB_ROOT_REPLACE: &str = include_str!("../vectors/extra_qdisc_replace_htb_root.hex");
const HTB_ROOT_CHANGE: &str = include_str!("../vectors/extra_qdisc_change_htb_root.hex");
const INGRESS: &str = include_str!("../vectors/ingress.hex");
const PFIFO_LEAF: &str = include_str!("../vectors/pfifo_leaf.hex");
const TBF_ROOT: &str = include_str!("../vectors/tbf_root.hex");
const CAKE_LEAF: &str = include_str!("../vectors/cake_leaf.hex");
const CAKE_ROOT: &str = include_str!("../vectors/cake_root.hex");
const FQ_CODEL_LEAF: &str = include_str!("../vectors/fq_codel_leaf.hex");
const QDISC_DEL_ROOT: &str = include_str!("../vectors/qdisc_del_root.hex");

fn htb_root(ifindex: u32, default_class: u32) -> Qdisc {
    Qdisc {
        stab: None,
        ifindex,
        handle: handle(1, 0),
        parent: TC_H_ROOT,
        kind: QdiscKind::Htb {
            default_class,
            r2q: 10,
        },
    }
}

/// `tc qdisc add dev veth0 parent 1:10 handle 110: …`
fn leaf(kind: QdiscKind) -> Qdisc {
    Qdisc {
        stab: None,
        ifindex: VETH0,
        handle: handle(0x110, 0),
        parent: handle(1, 0x10),
        kind,
    }
}

fn cake_leaf() -> Cake {
    Cake {
        bandwidth_bps: 1_250_000,
        diffserv: Some(CakeDiffserv::Besteffort),
        overhead: Some(44),
        mpu: Some(84),
        nat: Some(true),
        ..Cake::default()
    }
}

fn cake_root() -> Qdisc {
    Qdisc {
        stab: None,
        ifindex: VETH0,
        handle: 0,
        parent: TC_H_ROOT,
        kind: QdiscKind::Cake(Cake {
            bandwidth_bps: 2_500_000,
            diffserv: Some(CakeDiffserv::Diffserv3),
            flow_mode: Some(CakeFlowMode::DualSrchost),
            nat: Some(true),
            ..Cake::default()
        }),
    }
}

fn fq_codel_leaf() -> FqCodel {
    FqCodel {
        limit: Some(1000),
        target_us: Some(5000),
        interval_us: Some(100_000),
        ecn: Some(true),
        ..FqCodel::default()
    }
}

fn tbf_root() -> Qdisc {
    Qdisc {
        stab: None,
        ifindex: VETH0,
        handle: 0,
        parent: TC_H_ROOT,
        kind: QdiscKind::Tbf {
            rate_bps: 125_000,
            burst: 4096,
            limit: 54_096,
        },
    }
}

#[test]
fn htb_root_add_is_byte_exact() {
    // tc qdisc add dev veth0 root handle 1: htb default 30 r2q 10
    #[rustfmt::skip]
    let annotated: &[u8] = &[
        // nlmsghdr
        0x48, 0x00, 0x00, 0x00, // nlmsg_len 72
        0x24, 0x00,             // nlmsg_type 36 RTM_NEWQDISC
        0x05, 0x06,             // flags 0x0605 REQUEST|ACK|EXCL|CREATE
        0xab, 0xff, 0x05, 0x6b, // nlmsg_seq (masked)
        0x00, 0x00, 0x00, 0x00, // nlmsg_pid 0
        // tcmsg
        0x00, 0x00, 0x00, 0x00, // tcm_family AF_UNSPEC + 3 pad
        0x03, 0x00, 0x00, 0x00, // tcm_ifindex 3 (veth0)
        0x00, 0x00, 0x01, 0x00, // tcm_handle 1: = 0x00010000
        0xff, 0xff, 0xff, 0xff, // tcm_parent TC_H_ROOT
        0x00, 0x00, 0x00, 0x00, // tcm_info 0
        // TCA_KIND
        0x08, 0x00, 0x01, 0x00, // len 8, type 1
        b'h', b't', b'b', 0x00, // "htb\0"
        // TCA_OPTIONS (no NLA_F_NESTED, as iproute2)
        0x1c, 0x00, 0x02, 0x00, // len 28, type 2
        0x18, 0x00, 0x02, 0x00, //   TCA_HTB_INIT len 24: struct tc_htb_glob
        0x03, 0x00, 0x00, 0x00, //     version 3 (TC_HTB_PROTOVER)
        0x0a, 0x00, 0x00, 0x00, //     rate2quantum 10
        0x30, 0x00, 0x00, 0x00, //     defcls 0x30 (class 1:30)
        0x00, 0x00, 0x00, 0x00, //     debug 0
        0x00, 0x00, 0x00, 0x00, //     direct_pkts 0 (output only)
    ];
    assert_annotation_is_vector(annotated, HTB_ROOT);
    let ours = htb_root(3, 0x30).encode_new(NewFlags::ADD).unwrap();
    assert_same(&ours, annotated, "htb root");
    assert_matches_vector(
        &htb_root(VETH0, 0x30).encode_new(NewFlags::ADD).unwrap(),
        HTB_ROOT,
    );
}

#[test]
fn htb_root_default_class_may_be_given_as_a_full_class_id() {
    let minor = htb_root(VETH0, 0x30).encode_new(NewFlags::ADD).unwrap();
    let full = htb_root(VETH0, handle(1, 0x30))
        .encode_new(NewFlags::ADD)
        .unwrap();
    assert_eq!(minor, full);
    let foreign = htb_root(VETH0, handle(2, 0x30)).encode_new(NewFlags::ADD);
    assert!(foreign.unwrap_err().reason.contains("same major"));
}

#[test]
fn htb_root_replace_and_change_flags_are_byte_exact() {
    // tc qdisc replace … default 30: flags 0x0505.
    let replace = htb_root(VETH0, 0x30).encode_new(NewFlags::REPLACE).unwrap();
    assert_matches_vector(&replace, HTB_ROOT_REPLACE);
    // tc qdisc change … default 20: flags 0x0005.
    let change = htb_root(VETH0, 0x20).encode_new(NewFlags::CHANGE).unwrap();
    assert_matches_vector(&change, HTB_ROOT_CHANGE);
}

#[test]
fn ingress_is_byte_exact() {
    // tc qdisc add dev veth0 handle ffff: ingress
    #[rustfmt::skip]
    let annotated: &[u8] = &[
        0x30, 0x00, 0x00, 0x00, // nlmsg_len 48
        0x24, 0x00, 0x05, 0x06, // RTM_NEWQDISC, flags 0x0605
        0xab, 0xff, 0x05, 0x6b, // seq (masked)
        0x00, 0x00, 0x00, 0x00, // pid
        0x00, 0x00, 0x00, 0x00, // tcm_family + pad
        0x03, 0x00, 0x00, 0x00, // tcm_ifindex 3
        0x00, 0x00, 0xff, 0xff, // tcm_handle ffff: (0xFFFF0000)
        0xf1, 0xff, 0xff, 0xff, // tcm_parent TC_H_INGRESS (0xFFFFFFF1)
        0x00, 0x00, 0x00, 0x00, // tcm_info
        0x0c, 0x00, 0x01, 0x00, // TCA_KIND len 12
        b'i', b'n', b'g', b'r', b'e', b's', b's', 0x00, // "ingress\0"; no TCA_OPTIONS
    ];
    assert_annotation_is_vector(annotated, INGRESS);
    assert_same(
        &Qdisc::ingress(3).encode_new(NewFlags::ADD).unwrap(),
        annotated,
        "ingress",
    );
    assert_matches_vector(
        &Qdisc::ingress(VETH0).encode_new(NewFlags::ADD).unwrap(),
        INGRESS,
    );
}

#[test]
fn pfifo_leaf_is_byte_exact() {
    // tc qdisc add dev veth0 parent 1:10 handle 110: pfifo limit 1000
    #[rustfmt::skip]
    let annotated: &[u8] = &[
        0x38, 0x00, 0x00, 0x00, // nlmsg_len 56
        0x24, 0x00, 0x05, 0x06, // RTM_NEWQDISC, flags 0x0605
        0xab, 0xff, 0x05, 0x6b, // seq (masked)
        0x00, 0x00, 0x00, 0x00, // pid
        0x00, 0x00, 0x00, 0x00, // tcm_family + pad
        0x03, 0x00, 0x00, 0x00, // tcm_ifindex 3
        0x00, 0x00, 0x10, 0x01, // tcm_handle 110: (0x01100000)
        0x10, 0x00, 0x01, 0x00, // tcm_parent class 1:10 (0x00010010)
        0x00, 0x00, 0x00, 0x00, // tcm_info
        0x0a, 0x00, 0x01, 0x00, // TCA_KIND len 10
        b'p', b'f', b'i', b'f', b'o', 0x00, 0x00, 0x00, // "pfifo\0" + 2 pad
        0x08, 0x00, 0x02, 0x00, // TCA_OPTIONS len 8: a raw struct tc_fifo_qopt, not a nest
        0xe8, 0x03, 0x00, 0x00, //   limit 1000 packets
    ];
    assert_annotation_is_vector(annotated, PFIFO_LEAF);
    let mut q = leaf(QdiscKind::Pfifo { limit: 1000 });
    assert_matches_vector(&q.encode_new(NewFlags::ADD).unwrap(), PFIFO_LEAF);
    q.ifindex = 3;
    assert_same(
        &q.encode_new(NewFlags::ADD).unwrap(),
        annotated,
        "pfifo leaf",
    );
}

#[test]
fn tbf_root_is_byte_exact_including_the_rate_table() {
    // tc qdisc add dev veth0 root tbf rate 1mbit burst 32kbit latency 400ms
    let v = parse_vector(TBF_ROOT);
    #[rustfmt::skip]
    let head: &[u8] = &[
        0x64, 0x04, 0x00, 0x00, // nlmsg_len 1124
        0x24, 0x00, 0x05, 0x06, // RTM_NEWQDISC, flags 0x0605
        0xc2, 0xff, 0x05, 0x6b, // seq (masked)
        0x00, 0x00, 0x00, 0x00, // pid
        0x00, 0x00, 0x00, 0x00, // tcm_family + pad
        0x03, 0x00, 0x00, 0x00, // tcm_ifindex 3
        0x00, 0x00, 0x00, 0x00, // tcm_handle 0: the kernel picks one
        0xff, 0xff, 0xff, 0xff, // tcm_parent root
        0x00, 0x00, 0x00, 0x00, // tcm_info
        0x08, 0x00, 0x01, 0x00, b't', b'b', b'f', 0x00, // TCA_KIND "tbf"
        0x38, 0x04, 0x02, 0x00, // TCA_OPTIONS len 1080
        0x28, 0x00, 0x01, 0x00, //   TCA_TBF_PARMS len 40: struct tc_tbf_qopt
        0x03,                   //     rate.cell_log 3 (2047 >> 3 <= 255)
        0x01,                   //     rate.linklayer 1 (Ethernet)
        0x00, 0x00,             //     rate.overhead 0
        0xff, 0xff,             //     rate.cell_align -1
        0x00, 0x00,             //     rate.mpu 0
        0x48, 0xe8, 0x01, 0x00, //     rate.rate 125000 B/s (1 mbit)
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, //     peakrate: none (12 zero bytes)
        0x50, 0xd3, 0x00, 0x00, //     limit 54096 B (125000 × 0.4 s + 4096)
        0x00, 0xd0, 0x07, 0x00, //     buffer 512000 ticks (4096 B = 32768 µs × 15.625)
        0x00, 0x00, 0x00, 0x00, //     mtu 0 (no peak bucket)
        0x08, 0x00, 0x06, 0x00, //   TCA_TBF_BURST len 8
        0x00, 0x10, 0x00, 0x00, //     4096 bytes
        0x04, 0x04, 0x02, 0x00, //   TCA_TBF_RTAB len 1028: 256 × u32
        0xe8, 0x03, 0x00, 0x00, //     [0] 8 B = 64 µs -> 1000 ticks
        0xd0, 0x07, 0x00, 0x00, //     [1] 16 B = 128 µs -> 2000 ticks, … [255] 2048 B
    ];
    assert_same(
        head,
        &v.bytes[..head.len()],
        "annotation of the tbf capture",
    );
    let ours = tbf_root().encode_new(NewFlags::ADD).unwrap();
    assert_matches_vector(&ours, TBF_ROOT);
}

#[test]
fn cake_leaf_and_root_are_byte_exact() {
    // tc qdisc add dev veth0 parent 1:10 handle 110: cake bandwidth 10mbit besteffort
    //   overhead 44 mpu 84 nat
    #[rustfmt::skip]
    let annotated: &[u8] = &[
        0x68, 0x00, 0x00, 0x00, // nlmsg_len 104
        0x24, 0x00, 0x05, 0x06, // RTM_NEWQDISC, flags 0x0605
        0xab, 0xff, 0x05, 0x6b, // seq (masked)
        0x00, 0x00, 0x00, 0x00, // pid
        0x00, 0x00, 0x00, 0x00, // tcm_family + pad
        0x03, 0x00, 0x00, 0x00, // tcm_ifindex 3
        0x00, 0x00, 0x10, 0x01, // tcm_handle 110:
        0x10, 0x00, 0x01, 0x00, // tcm_parent 1:10
        0x00, 0x00, 0x00, 0x00, // tcm_info
        0x09, 0x00, 0x01, 0x00, // TCA_KIND len 9
        b'c', b'a', b'k', b'e', 0x00, 0x00, 0x00, 0x00, // "cake\0" + 3 pad
        0x38, 0x00, 0x02, 0x00, // TCA_OPTIONS len 56
        0x0c, 0x00, 0x02, 0x00, //   TCA_CAKE_BASE_RATE64 len 12
        0xd0, 0x12, 0x13, 0x00, 0x00, 0x00, 0x00, 0x00, // 1250000 bytes/s (10 mbit)
        0x08, 0x00, 0x03, 0x00, //   TCA_CAKE_DIFFSERV_MODE
        0x03, 0x00, 0x00, 0x00, //     3 besteffort
        0x08, 0x00, 0x06, 0x00, //   TCA_CAKE_OVERHEAD
        0x2c, 0x00, 0x00, 0x00, //     44 bytes (s32)
        0x08, 0x00, 0x0e, 0x00, //   TCA_CAKE_MPU
        0x54, 0x00, 0x00, 0x00, //     84 bytes
        0x08, 0x00, 0x09, 0x00, //   TCA_CAKE_AUTORATE
        0x00, 0x00, 0x00, 0x00, //     0 (sent with every explicit bandwidth)
        0x08, 0x00, 0x0b, 0x00, //   TCA_CAKE_NAT
        0x01, 0x00, 0x00, 0x00, //     1
    ];
    assert_annotation_is_vector(annotated, CAKE_LEAF);
    let mut q = leaf(QdiscKind::Cake(cake_leaf()));
    assert_matches_vector(&q.encode_new(NewFlags::ADD).unwrap(), CAKE_LEAF);
    q.ifindex = 3;
    assert_same(
        &q.encode_new(NewFlags::ADD).unwrap(),
        annotated,
        "cake leaf",
    );

    // tc qdisc add dev veth0 root cake bandwidth 20mbit diffserv3 dual-srchost nat:
    // DIFFSERV 0 is sent although it is the default; FLOW_MODE comes before AUTORATE.
    assert_matches_vector(&cake_root().encode_new(NewFlags::ADD).unwrap(), CAKE_ROOT);
}

#[test]
fn fq_codel_leaf_is_byte_exact() {
    // tc qdisc add dev veth0 parent 1:10 handle 110: fq_codel limit 1000 target 5ms
    //   interval 100ms ecn
    #[rustfmt::skip]
    let annotated: &[u8] = &[
        0x58, 0x00, 0x00, 0x00, // nlmsg_len 88
        0x24, 0x00, 0x05, 0x06, // RTM_NEWQDISC, flags 0x0605
        0xab, 0xff, 0x05, 0x6b, // seq (masked)
        0x00, 0x00, 0x00, 0x00, // pid
        0x00, 0x00, 0x00, 0x00, // tcm_family + pad
        0x03, 0x00, 0x00, 0x00, // tcm_ifindex 3
        0x00, 0x00, 0x10, 0x01, // tcm_handle 110:
        0x10, 0x00, 0x01, 0x00, // tcm_parent 1:10
        0x00, 0x00, 0x00, 0x00, // tcm_info
        0x0d, 0x00, 0x01, 0x00, // TCA_KIND len 13
        b'f', b'q', b'_', b'c', b'o', b'd', b'e', b'l',
        0x00, 0x00, 0x00, 0x00, // "fq_codel\0" + 3 pad
        0x24, 0x00, 0x02, 0x00, // TCA_OPTIONS len 36
        0x08, 0x00, 0x02, 0x00, //   TCA_FQ_CODEL_LIMIT
        0xe8, 0x03, 0x00, 0x00, //     1000 packets
        0x08, 0x00, 0x03, 0x00, //   TCA_FQ_CODEL_INTERVAL
        0xa0, 0x86, 0x01, 0x00, //     100000 µs
        0x08, 0x00, 0x01, 0x00, //   TCA_FQ_CODEL_TARGET
        0x88, 0x13, 0x00, 0x00, //     5000 µs
        0x08, 0x00, 0x04, 0x00, //   TCA_FQ_CODEL_ECN
        0x01, 0x00, 0x00, 0x00, //     on
    ];
    assert_annotation_is_vector(annotated, FQ_CODEL_LEAF);
    let mut q = leaf(QdiscKind::FqCodel(fq_codel_leaf()));
    assert_matches_vector(&q.encode_new(NewFlags::ADD).unwrap(), FQ_CODEL_LEAF);
    q.ifindex = 3;
    assert_same(
        &q.encode_new(NewFlags::ADD).unwrap(),
        annotated,
        "fq_codel leaf",
    );
}

#[test]
fn root_delete_is_byte_exact() {
    // tc qdisc del dev veth0 root
    #[rustfmt::skip]
    let annotated: &[u8] = &[
        0x24, 0x00, 0x00, 0x00, // nlmsg_len 36: header + tcmsg, no attributes
        0x25, 0x00,             // nlmsg_type 37 RTM_DELQDISC
        0x05, 0x00,             // flags 0x0005 REQUEST|ACK
        0xc2, 0xff, 0x05, 0x6b, // seq (masked)
        0x00, 0x00, 0x00, 0x00, // pid
        0x00, 0x00, 0x00, 0x00, // tcm_family + pad
        0x03, 0x00, 0x00, 0x00, // tcm_ifindex 3
        0x00, 0x00, 0x00, 0x00, // tcm_handle 0: whatever sits at the parent
        0xff, 0xff, 0xff, 0xff, // tcm_parent root
        0x00, 0x00, 0x00, 0x00, // tcm_info
    ];
    assert_annotation_is_vector(annotated, QDISC_DEL_ROOT);
    let root = |ifindex| Qdisc {
        stab: None,
        ifindex,
        handle: 0,
        parent: TC_H_ROOT,
        kind: QdiscKind::Htb {
            default_class: 0,
            r2q: 10,
        },
    };
    assert_same(&root(3).encode_del(), annotated, "qdisc del");
    assert_matches_vector(&root(VETH0).encode_del(), QDISC_DEL_ROOT);
}

#[test]
fn request_vectors_decode_to_their_descriptions() {
    let cases: Vec<(&str, Qdisc)> = vec![
        (HTB_ROOT, htb_root(VETH0, 0x30)),
        (HTB_ROOT_CHANGE, htb_root(VETH0, 0x20)),
        (INGRESS, Qdisc::ingress(VETH0)),
        (PFIFO_LEAF, leaf(QdiscKind::Pfifo { limit: 1000 })),
        (TBF_ROOT, tbf_root()),
        (CAKE_LEAF, leaf(QdiscKind::Cake(cake_leaf()))),
        (CAKE_ROOT, cake_root()),
        (FQ_CODEL_LEAF, leaf(QdiscKind::FqCodel(fq_codel_leaf()))),
    ];
    for (text, want) in cases {
        let v = parse_vector(text);
        let got = DumpedQdisc::decode(&v.with_test_ifindexes()).unwrap();
        assert_eq!(got.qdisc, want, "{}", v.cmd);
        assert_eq!(got.stats, None, "requests carry no stats");
        assert!(want.kind.is_met_by(&got.qdisc.kind));
    }
}

#[test]
fn qdiscs_round_trip() {
    let cases = vec![
        htb_root(VETH0, 0x20),
        tbf_root(),
        Qdisc {
            kind: QdiscKind::Tbf {
                rate_bps: 10_000_000_000, // 80 Gbit/s: needs TCA_TBF_RATE64
                burst: 200_000,
                limit: 1_000_000,
            },
            ..tbf_root()
        },
        leaf(QdiscKind::Cake(Cake {
            bandwidth_bps: 0,
            overhead: Some(-4),
            rtt_us: Some(100_000),
            wash: Some(false),
            ingress: Some(true),
            ack_filter: Some(crate::netlink::tc::CakeAckFilter::Aggressive),
            split_gso: Some(true),
            memory_limit: Some(4 << 20),
            atm: Some(crate::netlink::tc::CakeAtm::Ptm),
            ..Cake::default()
        })),
        // What a dump of `tc qdisc add ... cake` (no overhead given) looks like.
        leaf(QdiscKind::Cake(Cake {
            bandwidth_bps: 0,
            overhead: Some(0),
            raw: true,
            atm: Some(crate::netlink::tc::CakeAtm::None),
            ..Cake::default()
        })),
        leaf(QdiscKind::FqCodel(FqCodel {
            flows: Some(64),
            quantum: Some(300),
            ce_threshold_us: Some(2000),
            memory_limit: Some(1 << 20),
            ..fq_codel_leaf()
        })),
        leaf(QdiscKind::Other { kind: "sfq".into() }),
        Qdisc::ingress(VETH0),
    ];
    for q in cases {
        let bytes = q.encode_new(NewFlags::ADD).unwrap();
        let back = DumpedQdisc::decode(&bytes).unwrap();
        assert_eq!(back.qdisc, q);
    }
}

#[test]
fn a_planned_kind_ignores_parameters_it_leaves_to_the_kernel() {
    let plan = QdiscKind::Cake(Cake {
        bandwidth_bps: 0,
        overhead: Some(44),
        ..Cake::default()
    });
    // A dump reports every parameter.
    let dumped = QdiscKind::Cake(Cake {
        bandwidth_bps: 0,
        overhead: Some(44),
        diffserv: Some(CakeDiffserv::Diffserv3),
        flow_mode: Some(CakeFlowMode::TripleIsolate),
        rtt_us: Some(100_000),
        nat: Some(false),
        ..Cake::default()
    });
    assert!(plan.is_met_by(&dumped));
    let other_overhead = QdiscKind::Cake(Cake {
        overhead: Some(18),
        ..Cake::default()
    });
    assert!(!plan.is_met_by(&other_overhead));
    assert!(!plan.is_met_by(&QdiscKind::FqCodel(FqCodel::default())));
    assert!(QdiscKind::Other {
        kind: "noqueue".into()
    }
    .is_met_by(&QdiscKind::Other {
        kind: "noqueue".into()
    }));
}

#[test]
fn invalid_qdiscs_are_refused_with_the_object_named() {
    let bad_tbf = Qdisc {
        kind: QdiscKind::Tbf {
            rate_bps: 0,
            burst: 4096,
            limit: 10_000,
        },
        ..tbf_root()
    };
    let e = bad_tbf.encode_new(NewFlags::ADD).unwrap_err();
    assert!(
        e.to_string()
            .contains("tbf qdisc 0: (parent root) on ifindex 7"),
        "{e}"
    );
    let slow = Qdisc {
        kind: QdiscKind::Tbf {
            rate_bps: 1,
            burst: 100_000,
            limit: 10_000,
        },
        ..tbf_root()
    };
    assert!(slow.encode_new(NewFlags::ADD).is_err());
    let overhead = leaf(QdiscKind::Cake(Cake {
        overhead: Some(300),
        ..Cake::default()
    }));
    assert!(overhead.encode_new(NewFlags::ADD).is_err());
    let empty = leaf(QdiscKind::Other {
        kind: String::new(),
    });
    assert!(empty.encode_new(NewFlags::ADD).is_err());
}

#[test]
fn a_qdisc_dump_part_with_stats_decodes() {
    // A kernel-style dump part: tcmsg, KIND, OPTIONS{INIT}, STATS2{BASIC, QUEUE}, built
    // from the request bytes plus stats attributes in the kernel's layout.
    let mut msg = htb_root(VETH0, 0x30).encode_new(NewFlags::ADD).unwrap();
    #[rustfmt::skip]
    let stats2: &[u8] = &[
        0x30, 0x00, 0x07, 0x00, // TCA_STATS2 len 48
        0x14, 0x00, 0x01, 0x00, //   TCA_STATS_BASIC len 20
        0x40, 0xe2, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, // bytes 123456
        0x64, 0x00, 0x00, 0x00, //     packets 100
        0x00, 0x00, 0x00, 0x00, //     padding
        0x18, 0x00, 0x03, 0x00, //   TCA_STATS_QUEUE len 24
        0x02, 0x00, 0x00, 0x00, //     qlen 2
        0xdc, 0x05, 0x00, 0x00, //     backlog 1500
        0x05, 0x00, 0x00, 0x00, //     drops 5
        0x01, 0x00, 0x00, 0x00, //     requeues 1
        0x07, 0x00, 0x00, 0x00, //     overlimits 7
    ];
    msg.extend_from_slice(stats2);
    let len = msg.len() as u32;
    msg[0..4].copy_from_slice(&len.to_ne_bytes());
    let got = DumpedQdisc::decode(&msg).unwrap();
    let s = got.stats.unwrap();
    assert_eq!((s.bytes, s.packets), (123_456, 100));
    assert_eq!(
        (s.qlen, s.backlog, s.drops, s.requeues, s.overlimits),
        (2, 1500, 5, 1, 7)
    );
}

#[test]
fn kernel_rounding_of_fq_codel_times_and_tbf_buckets_still_meets_the_plan() {
    use crate::netlink::tc::wire::{Writer, RTM_NEWQDISC, TCA_KIND, TCA_OPTIONS};
    // fq_codel keeps times as ns >> 10: 5 ms and 100 ms come back as 4999 and 99999 µs.
    let reported = QdiscKind::FqCodel(FqCodel {
        limit: Some(1000),
        flows: Some(1024),
        quantum: Some(1514),
        target_us: Some(4999),
        interval_us: Some(99_999),
        ecn: Some(true),
        memory_limit: Some(32 << 20),
        ce_threshold_us: None,
    });
    let plan = QdiscKind::FqCodel(fq_codel_leaf());
    assert!(plan.is_met_by(&reported));
    let other = QdiscKind::FqCodel(FqCodel {
        target_us: Some(10_000),
        ..fq_codel_leaf()
    });
    assert!(!other.is_met_by(&reported));

    // TBF recomputes its bucket from TCA_TBF_BURST in ns: 1514 B at 100 mbit is sent as
    // 1890 ticks (121 whole µs) but dumped as 1892 (121.12 µs).
    let plan = Qdisc {
        kind: QdiscKind::Tbf {
            rate_bps: 12_500_000,
            burst: 1514,
            limit: 100_000,
        },
        ..tbf_root()
    };
    let mut w = Writer::new(RTM_NEWQDISC, 0x2);
    w.tcmsg(VETH0, handle(0x8001, 0), TC_H_ROOT, 1);
    w.attr_str(TCA_KIND, "tbf");
    let o = w.begin_nest(TCA_OPTIONS);
    let mut qopt = vec![3, 1, 0, 0, 0xff, 0xff, 0, 0];
    qopt.extend_from_slice(&12_500_000u32.to_ne_bytes());
    qopt.extend_from_slice(&[0; 12]);
    for v in [100_000u32, 1892, 0] {
        qopt.extend_from_slice(&v.to_ne_bytes());
    }
    w.attr(1, &qopt);
    w.end_nest(o);
    let dumped = DumpedQdisc::decode(&w.finish()).unwrap().qdisc;
    assert_eq!(dumped.handle, handle(0x8001, 0));
    assert!(plan.is_met_by(&dumped), "{dumped:?}");
    let bigger = Qdisc {
        kind: QdiscKind::Tbf {
            rate_bps: 12_500_000,
            burst: 3000,
            limit: 100_000,
        },
        ..tbf_root()
    };
    assert!(!bigger.is_met_by(&dumped));
}

#[test]
fn a_raw_cake_is_sent_as_tc_sends_raw_and_compared_only_when_planned() {
    let raw = leaf(QdiscKind::Cake(Cake {
        bandwidth_bps: 0,
        overhead: Some(0),
        raw: true,
        ..Cake::default()
    }));
    let bytes = raw.encode_new(NewFlags::ADD).unwrap();
    // `tc qdisc add ... cake unlimited raw`: OVERHEAD 0 immediately followed by RAW 0, so the
    // kernel first sets the overhead flag and then clears it.
    let overhead_then_raw: [u8; 16] = [
        0x08, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, // TCA_CAKE_OVERHEAD 0
        0x08, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, // TCA_CAKE_RAW 0
    ];
    assert!(
        bytes.windows(16).any(|w| w == overhead_then_raw),
        "{bytes:02x?}"
    );
    let QdiscKind::Cake(back) = DumpedQdisc::decode(&bytes).unwrap().qdisc.kind else {
        panic!("not cake");
    };
    assert!(back.raw);
    let not_raw = QdiscKind::Cake(Cake {
        bandwidth_bps: 0,
        overhead: Some(0),
        ..Cake::default()
    });
    assert!(
        !raw.kind.is_met_by(&not_raw),
        "a planned raw needs a raw CAKE"
    );
    assert!(
        not_raw.is_met_by(&raw.kind),
        "an unplanned raw is not compared"
    );
}

const HTB_ROOT_STAB_ETHERNET: &str = include_str!("../vectors/htb_root_stab_ethernet.hex");
const HTB_ROOT_STAB_ATM: &str = include_str!("../vectors/htb_root_stab_atm.hex");
const DUMP_HTB_ROOT_STAB_ATM: &str = include_str!("../vectors/dump_reply_htb_root_stab_atm.hex");

#[test]
fn an_ethernet_overhead_size_table_is_byte_exact() {
    // tc qdisc add dev veth0 root handle 1: stab overhead 18 linklayer ethernet htb default 30
    // r2q 10: the HTB message of htb_root.hex, then the size table.
    #[rustfmt::skip]
    let stab: &[u8] = &[
        0x20, 0x00, 0x08, 0x00, // TCA_STAB (8), nest of 32 bytes
        0x1c, 0x00, 0x01, 0x00, //   TCA_STAB_BASE (1), 28 bytes: struct tc_sizespec
        0x00,                   //     cell_log 0 (no table)
        0x00,                   //     size_log 0
        0x00, 0x00,             //     cell_align 0
        0x12, 0x00, 0x00, 0x00, //     overhead 18 (s32)
        0x01, 0x00, 0x00, 0x00, //     linklayer 1 = TC_LINKLAYER_ETHERNET
        0x00, 0x00, 0x00, 0x00, //     mpu 0
        0x00, 0x00, 0x00, 0x00, //     mtu 0
        0x00, 0x00, 0x00, 0x00, //     tsize 0: no TCA_STAB_DATA follows
    ];
    let v = parse_vector(HTB_ROOT_STAB_ETHERNET);
    let plain = parse_vector(HTB_ROOT);
    assert_eq!(&v.bytes[..plain.bytes.len()][16..], &plain.bytes[16..]);
    assert_eq!(&v.bytes[plain.bytes.len()..], stab);
    let q = Qdisc {
        stab: Some(SizeSpec::ethernet_overhead(18)),
        ..htb_root(VETH0, 0x30)
    };
    assert_matches_vector(
        &q.encode_new(NewFlags::ADD).unwrap(),
        HTB_ROOT_STAB_ETHERNET,
    );
    let back = DumpedQdisc::decode(&q.encode_new(NewFlags::ADD).unwrap()).unwrap();
    assert_eq!(back.qdisc, q);
}

#[test]
fn an_atm_size_table_is_rebuilt_from_the_dump_exactly_as_tc_built_it() {
    // The kernel dumps only the table's base fields (tc computed cell_log 2, mtu 2047,
    // tsize 512, cell_align -1); restoring must send the 512 sizes tc sent.
    let dumped = DumpedQdisc::decode(&parse_vector(DUMP_HTB_ROOT_STAB_ATM).with_test_ifindexes())
        .unwrap()
        .qdisc;
    let stab = dumped.stab.expect("the dump has a size table");
    assert_eq!(
        stab,
        SizeSpec {
            cell_log: 2,
            size_log: 0,
            cell_align: -1,
            overhead: 44,
            linklayer: crate::netlink::tc::stab::LINKLAYER_ATM,
            mpu: 96,
            mtu: 2047,
            tsize: 512,
        }
    );
    let table = stab.table();
    // Slot 0 covers 1..=4 bytes: raised to the 96-byte MPU, two 53-byte cells.
    assert_eq!(table[0], 106);
    // Slot 11 = 48 bytes: one cell would do, but the MPU makes it two.
    assert_eq!(table[11], 106);
    // Slot 24 = 100 bytes: three cells.
    assert_eq!(table[24], 159);
    assert_matches_vector(
        &dumped.encode_new(NewFlags::ADD).unwrap(),
        HTB_ROOT_STAB_ATM,
    );
}

#[test]
fn a_size_table_change_sends_kind_and_table_only() {
    let q = Qdisc {
        stab: Some(SizeSpec::ethernet_overhead(18)),
        ..htb_root(VETH0, 0x30)
    };
    let msg = q.encode_stab_change();
    let full = q.encode_new(NewFlags::CHANGE).unwrap();
    // Header (flags 0x0005 = change) and tcmsg as `tc qdisc change`, TCA_KIND, then TCA_STAB,
    // with no TCA_OPTIONS between them (HTB has no change operation for options).
    assert_eq!(&msg[4..8], &full[4..8]);
    assert_eq!(&msg[16..44], &full[16..44]);
    let stab_start = full.len() - 32;
    assert_eq!(&msg[44..], &full[stab_start..]);
    assert_eq!(msg.len(), 44 + 32);
    // Without a table the message removes it.
    let plain = htb_root(VETH0, 0x30).encode_stab_change();
    assert_eq!(plain.len(), 44);
}
