//! The mirred action as hearth uses it: redirect every packet out of another device (the
//! IFB), nested in a filter's action list the way iproute2 nests it (NOTES §6).

use super::TCA_U32_ACT;
use crate::netlink::tc::error::DecodeError;
use crate::netlink::tc::wire::{self, Attrs, Writer, NLA_F_NESTED};

const TCA_ACT_KIND: u16 = 1;
const TCA_ACT_OPTIONS: u16 = 2;
const TCA_MIRRED_PARMS: u16 = 2;
/// `TC_ACT_STOLEN`: the redirected packet does not continue on this device.
const TC_ACT_STOLEN: i32 = 4;
/// `TCA_EGRESS_REDIR`: send the packet out of the target device (an IFB shapes it there).
const TCA_EGRESS_REDIR: i32 = 1;

/// ACT { 1 { KIND "mirred", OPTIONS|NESTED { PARMS tc_mirred } } }, as iproute2 nests it.
pub(super) fn encode_redirect(w: &mut Writer, to_ifindex: u32) {
    let act = w.begin_nest(TCA_U32_ACT);
    let first = w.begin_nest(1);
    w.attr_str(TCA_ACT_KIND, "mirred");
    let opts = w.begin_nest(TCA_ACT_OPTIONS | NLA_F_NESTED);
    // struct tc_mirred: index, capab, action, refcnt, bindcnt, eaction, ifindex.
    let mut parms = Vec::with_capacity(28);
    for v in [0, 0, TC_ACT_STOLEN, 0, 0, TCA_EGRESS_REDIR] {
        parms.extend_from_slice(&v.to_ne_bytes());
    }
    parms.extend_from_slice(&to_ifindex.to_ne_bytes());
    w.attr(TCA_MIRRED_PARMS, &parms);
    w.end_nest(opts);
    w.end_nest(first);
    w.end_nest(act);
}

/// The target ifindex if the action list is exactly one mirred egress redirect.
pub(super) fn decode_redirect(act: &[u8]) -> Result<Option<u32>, DecodeError> {
    const WHAT: &str = "filter actions";
    let mut found = None;
    for (n, slot) in Attrs::new(act, WHAT).enumerate() {
        let slot = slot?;
        if n > 0 {
            return Ok(None);
        }
        let mut kind = None;
        let mut parms = None;
        for a in slot.nested() {
            let a = a?;
            match a.ty {
                TCA_ACT_KIND => kind = Some(a.string()?),
                TCA_ACT_OPTIONS => {
                    for o in a.nested() {
                        let o = o?;
                        if o.ty == TCA_MIRRED_PARMS {
                            parms = Some(o.payload);
                        }
                    }
                }
                _ => {}
            }
        }
        if kind.as_deref() != Some("mirred") {
            return Ok(None);
        }
        let Some(p) = parms else { return Ok(None) };
        const PARMS: &str = "mirred parameters";
        let action = wire::read_u32(p, 8, PARMS)? as i32;
        let eaction = wire::read_u32(p, 20, PARMS)? as i32;
        let ifindex = wire::read_u32(p, 24, PARMS)?;
        if action != TC_ACT_STOLEN || eaction != TCA_EGRESS_REDIR {
            return Ok(None);
        }
        found = Some(ifindex);
    }
    Ok(found)
}
