//! The envelope every request shares: header flags, sequence numbers, dump requests, handles.

use super::*;
use crate::netlink::tc::{
    dump_classes, dump_filters, dump_qdiscs, handle, set_sequence, Handle, NewFlags,
    INGRESS_HANDLE, TC_H_INGRESS, TC_H_ROOT,
};

#[test]
fn new_flags_are_the_ones_iproute2_sends() {
    assert_eq!(NewFlags::ADD.bits(), 0x0605);
    assert_eq!(NewFlags::REPLACE.bits(), 0x0505);
    assert_eq!(NewFlags::CREATE_OR_CHANGE.bits(), 0x0405);
    assert_eq!(NewFlags::CHANGE.bits(), 0x0005);
}

#[test]
fn handles_print_like_tc() {
    assert_eq!(Handle(handle(1, 0x10)).to_string(), "1:10");
    assert_eq!(Handle(handle(1, 0)).to_string(), "1:");
    assert_eq!(Handle(handle(0x110, 0xabc)).to_string(), "110:abc");
    assert_eq!(Handle(TC_H_ROOT).to_string(), "root");
    assert_eq!(Handle(TC_H_INGRESS).to_string(), "ingress");
    assert_eq!(Handle(INGRESS_HANDLE).to_string(), "ffff:");
}

#[test]
fn dump_requests_ask_for_a_dump() {
    let mut q = dump_qdiscs();
    assert_eq!(&q[4..8], &[38, 0, 0x01, 0x03], "RTM_GETQDISC, REQUEST|DUMP");
    assert_eq!(q.len(), 36);
    set_sequence(&mut q, 0x0102_0304);
    assert_eq!(&q[8..12], &0x0102_0304u32.to_ne_bytes());
    let c = dump_classes(VETH0);
    assert_eq!(&c[4..6], &[42, 0]);
    assert_eq!(&c[20..24], &VETH0.to_ne_bytes());
    let f = dump_filters(VETH0, INGRESS_HANDLE);
    assert_eq!(&f[4..6], &[46, 0]);
    assert_eq!(&f[28..32], &INGRESS_HANDLE.to_ne_bytes());
    let mut short = vec![0u8; 4];
    set_sequence(&mut short, 1);
    assert_eq!(short, vec![0u8; 4]);
}
