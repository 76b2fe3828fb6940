//! The IFB link request against its iproute2 capture.

use super::*;
use crate::netlink::tc::link::{link_add_ifb, link_set_up};

const LINK_ADD_IFB: &str = include_str!("../vectors/link_add_ifb.hex");

#[test]
fn ifb_link_add_is_byte_exact() {
    // ip link add ifb4veth0 type ifb
    #[rustfmt::skip]
    let annotated: &[u8] = &[
        0x3c, 0x00, 0x00, 0x00, // nlmsg_len 60
        0x10, 0x00,             // nlmsg_type 16 RTM_NEWLINK
        0x05, 0x06,             // flags 0x0605 REQUEST|ACK|EXCL|CREATE
        0xc1, 0xff, 0x05, 0x6b, // seq (masked)
        0x00, 0x00, 0x00, 0x00, // pid
        // struct ifinfomsg, all zero: the kernel picks the index
        0x00,                   // ifi_family AF_UNSPEC
        0x00,                   // pad
        0x00, 0x00,             // ifi_type
        0x00, 0x00, 0x00, 0x00, // ifi_index 0
        0x00, 0x00, 0x00, 0x00, // ifi_flags
        0x00, 0x00, 0x00, 0x00, // ifi_change
        0x0e, 0x00, 0x03, 0x00, // IFLA_IFNAME len 14
        b'i', b'f', b'b', b'4', b'v', b'e', b't', b'h', b'0', 0x00, // "ifb4veth0\0"
        0x00, 0x00,             // pad to 16
        0x0c, 0x00, 0x12, 0x00, // IFLA_LINKINFO len 12 (no NLA_F_NESTED)
        0x07, 0x00, 0x01, 0x00, //   IFLA_INFO_KIND len 7: "ifb" without a NUL
        b'i', b'f', b'b', 0x00, //   "ifb" + 1 pad byte
    ];
    assert_annotation_is_vector(annotated, LINK_ADD_IFB);
    let ours = link_add_ifb("ifb4veth0").unwrap();
    assert_same(&ours, annotated, "ifb link");
    assert_matches_vector(&ours, LINK_ADD_IFB);
}

#[test]
fn ifb_names_the_kernel_would_refuse_are_refused() {
    for bad in ["", "ifb4averylongname", ".", "..", "a/b", "a b", "a:b"] {
        let e = link_add_ifb(bad).unwrap_err();
        assert!(e.to_string().contains("IFB device"), "{e}");
    }
    assert!(link_add_ifb("ifb4eth0.100123").is_ok(), "15 characters fit");
}

#[test]
fn set_up_changes_only_the_up_flag() {
    #[rustfmt::skip]
    let want: &[u8] = &[
        0x20, 0x00, 0x00, 0x00, // nlmsg_len 32
        0x10, 0x00, 0x05, 0x00, // RTM_NEWLINK, REQUEST|ACK
        0, 0, 0, 0, 0, 0, 0, 0,
        0x00, 0x00, 0x00, 0x00, // family, pad, type
        0x07, 0x00, 0x00, 0x00, // ifi_index 7
        0x01, 0x00, 0x00, 0x00, // ifi_flags IFF_UP
        0x01, 0x00, 0x00, 0x00, // ifi_change IFF_UP: leave other flags alone
    ];
    assert_eq!(link_set_up(VETH0), want);
}
