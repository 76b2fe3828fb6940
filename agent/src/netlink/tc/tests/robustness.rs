//! Malformed input never panics a decoder; replies (ACK, errors, dump end) are read right.

use proptest::prelude::*;

use super::*;
use crate::netlink::tc::reply::{control, messages, Control, KernelError};
use crate::netlink::tc::{dump_classes, DecodeError, DumpedClass, DumpedFilter, DumpedQdisc};

const ALL: &[&str] = &[
    include_str!("../vectors/htb_root.hex"),
    include_str!("../vectors/ingress.hex"),
    include_str!("../vectors/pfifo_leaf.hex"),
    include_str!("../vectors/tbf_root.hex"),
    include_str!("../vectors/cake_leaf.hex"),
    include_str!("../vectors/cake_root.hex"),
    include_str!("../vectors/fq_codel_leaf.hex"),
    include_str!("../vectors/htb_class_1_1.hex"),
    include_str!("../vectors/htb_class_1_11_rate64.hex"),
    include_str!("../vectors/dump_reply_htb_class_1_1.hex"),
    include_str!("../vectors/dump_reply_htb_class_1_10.hex"),
    include_str!("../vectors/dump_reply_htb_class_1_11_rate64.hex"),
    include_str!("../vectors/u32_ip_src.hex"),
    include_str!("../vectors/u32_ip6_src.hex"),
    include_str!("../vectors/u32_mirred_ingress.hex"),
    include_str!("../vectors/fw_filter.hex"),
];

/// Runs every decoder on `bytes`; only the absence of a panic matters.
fn decode_everything(bytes: &[u8]) {
    let _ = DumpedQdisc::decode(bytes);
    let _ = DumpedClass::decode(bytes);
    let _ = DumpedFilter::decode(bytes);
    let _ = control(bytes);
    for m in messages(bytes) {
        let _ = m;
    }
}

/// The message with its type forced to each decoder's, so the attribute walkers run.
fn as_each_type(bytes: &[u8]) -> Vec<Vec<u8>> {
    [36u16, 40, 44, 2, 3]
        .iter()
        .map(|t| {
            let mut b = bytes.to_vec();
            if b.len() >= 6 {
                b[4..6].copy_from_slice(&t.to_ne_bytes());
            }
            b
        })
        .collect()
}

#[test]
fn truncated_messages_are_errors_not_panics() {
    for text in ALL {
        let full = parse_vector(text).bytes;
        for cut in 0..full.len() {
            let mut b = full[..cut].to_vec();
            decode_everything(&b);
            // Also with nlmsg_len fixed to the cut length, so the attributes are cut.
            if cut >= 4 {
                b[0..4].copy_from_slice(&(cut as u32).to_ne_bytes());
                for t in as_each_type(&b) {
                    decode_everything(&t);
                }
            }
        }
    }
}

#[test]
fn a_message_shorter_than_its_length_field_is_reported() {
    let full = parse_vector(ALL[0]).bytes;
    let e = DumpedQdisc::decode(&full[..40]).unwrap_err();
    assert!(matches!(e, DecodeError::Truncated { .. }), "{e}");
    let e = DumpedClass::decode(&full).unwrap_err();
    assert!(
        matches!(e, DecodeError::UnexpectedType { got: 36, .. }),
        "{e}"
    );
}

proptest! {
    #[test]
    fn corrupted_vectors_never_panic(
        which in 0..ALL.len(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut b = parse_vector(ALL[which]).bytes;
        for (at, v) in flips {
            let i = at % b.len();
            b[i] = v;
        }
        for t in as_each_type(&b) {
            decode_everything(&t);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        for t in as_each_type(&bytes) {
            decode_everything(&t);
        }
    }
}

fn nlmsg(ty: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&42u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(payload);
    m
}

#[test]
fn acks_errors_and_dump_ends_are_recognized() {
    let request = dump_classes(VETH0);
    // ACK: error 0 + the request's header.
    let mut ack = 0i32.to_ne_bytes().to_vec();
    ack.extend_from_slice(&request[..16]);
    assert_eq!(control(&nlmsg(2, 0x100, &ack)).unwrap(), Some(Control::Ack));

    // Refusal with an extended ACK message, request capped to its header.
    let mut err = (-22i32).to_ne_bytes().to_vec();
    err.extend_from_slice(&request[..16]);
    let text = b"Change operation not supported by specified qdisc.\0";
    err.extend_from_slice(&((4 + text.len()) as u16).to_ne_bytes());
    err.extend_from_slice(&1u16.to_ne_bytes());
    err.extend_from_slice(text);
    err.resize(err.len().div_ceil(4) * 4, 0);
    let got = control(&nlmsg(2, 0x100 | 0x200, &err)).unwrap();
    let Some(Control::Error(e)) = got else {
        panic!("{got:?}")
    };
    assert_eq!(
        e,
        KernelError {
            errno: 22,
            message: Some("Change operation not supported by specified qdisc.".into()),
        }
    );
    assert!(e
        .to_string()
        .ends_with(": Change operation not supported by specified qdisc"));

    // Refusal without extended ACK, full request echoed.
    let mut plain = (-17i32).to_ne_bytes().to_vec();
    plain.extend_from_slice(&request);
    let got = control(&nlmsg(2, 0, &plain)).unwrap();
    assert_eq!(
        got,
        Some(Control::Error(KernelError {
            errno: 17,
            message: None
        }))
    );

    assert_eq!(
        control(&nlmsg(3, 2, &0i32.to_ne_bytes())).unwrap(),
        Some(Control::Done)
    );
    let failed_dump = control(&nlmsg(3, 2, &(-16i32).to_ne_bytes())).unwrap();
    assert!(matches!(
        failed_dump,
        Some(Control::Error(KernelError { errno: 16, .. }))
    ));
    // A data message is not a control message.
    let part = parse_vector(ALL[10]).bytes;
    assert_eq!(control(&part).unwrap(), None);
}

#[test]
fn a_receive_buffer_splits_into_its_messages() {
    let a = parse_vector(ALL[9]).bytes;
    let b = parse_vector(ALL[10]).bytes;
    let done = nlmsg(3, 2, &0i32.to_ne_bytes());
    let buf = [a.clone(), b.clone(), done.clone()].concat();
    let parts: Vec<&[u8]> = messages(&buf).map(Result::unwrap).collect();
    assert_eq!(parts, vec![&a[..], &b[..], &done[..]]);
    assert_eq!(DumpedClass::decode(parts[1]).unwrap().classid, 0x0001_0010);
    // A length running past the buffer ends the walk with an error.
    let mut bad = buf.clone();
    bad[0..4].copy_from_slice(&0x10_0000u32.to_ne_bytes());
    let first = messages(&bad).next().unwrap();
    assert!(first.is_err());
    assert_eq!(messages(&bad).count(), 1);
}
