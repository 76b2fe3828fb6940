//! Size tables (`TCA_STAB`): how a qdisc accounts a packet's length, so that HTB charges
//! for the bytes the link really sends (PPPoE, VLAN, DOCSIS framing) and not only for what the
//! kernel sees — `tc qdisc add ... stab overhead 18 linklayer ethernet htb ...`, which is how
//! SQM's `htb` scripts honour `overhead`.
//!
//! Kernel semantics (`net/sched/sch_api.c`, `__qdisc_calculate_pkt_len`): the accounted
//! length is `skb->len + overhead`; with a table (`tsize > 0`) that is looked up as
//! `data[(len + cell_align) >> cell_log] << size_log`. A table is needed only for ATM cell
//! framing or a minimum packet unit; an Ethernet overhead alone needs none, and iproute2 then
//! sends `mtu = tsize = cell_log = cell_align = 0` and no `TCA_STAB_DATA`.
//!
//! The kernel dumps only `TCA_STAB_BASE`, never the table, so restoring a dumped size table
//! regenerates the table from the base fields the way iproute2 computes it
//! (`tc/tc_core.c`, `tc_calc_size_table`): `data[i] = adjust((i + 1) << cell_log) >>
//! size_log`, where `adjust` raises the size to `mpu` and, for ATM, rounds it up to whole
//! 53-byte cells of 48 payload bytes.

use super::error::DecodeError;
use super::wire::{self, Attr, Writer};

/// `TCA_STAB` (top-level attribute of a qdisc message).
pub const TCA_STAB: u16 = 8;
/// `TCA_STAB_BASE`: `struct tc_sizespec`.
const TCA_STAB_BASE: u16 = 1;
/// `TCA_STAB_DATA`: `tsize` host-order u16 sizes.
const TCA_STAB_DATA: u16 = 2;
/// `sizeof(struct tc_sizespec)`.
const SIZESPEC_LEN: usize = 24;

/// `enum tc_link_layer`: `TC_LINKLAYER_ETHERNET`.
pub const LINKLAYER_ETHERNET: u32 = 1;
/// `TC_LINKLAYER_ATM`: 53-byte cells carrying 48 bytes each (ADSL).
pub const LINKLAYER_ATM: u32 = 2;

/// `struct tc_sizespec`, field for field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SizeSpec {
    /// Table slot = length >> cell_log.
    pub cell_log: u8,
    /// Table values are sizes >> size_log.
    pub size_log: u8,
    /// Added to the length before the lookup (iproute2 uses -1 with a table).
    pub cell_align: i16,
    /// Bytes added to every packet (may be negative, e.g. to discount a VLAN tag).
    pub overhead: i32,
    /// [`LINKLAYER_ETHERNET`] or [`LINKLAYER_ATM`].
    pub linklayer: u32,
    /// Minimum packet unit, bytes.
    pub mpu: u32,
    /// Largest length the table covers.
    pub mtu: u32,
    /// Table entries; 0 = no table.
    pub tsize: u32,
}

impl SizeSpec {
    /// `stab overhead N linklayer ethernet`: N bytes more per packet, no table.
    pub fn ethernet_overhead(overhead: i32) -> SizeSpec {
        SizeSpec {
            overhead,
            linklayer: LINKLAYER_ETHERNET,
            ..SizeSpec::default()
        }
    }

    /// The table the kernel needs for these base fields (empty when `tsize` is 0).
    pub fn table(&self) -> Vec<u16> {
        (0..self.tsize)
            .map(|i| {
                let len = (u64::from(i) + 1) << self.cell_log.min(31);
                let mut sz = len.max(u64::from(self.mpu));
                if self.linklayer == LINKLAYER_ATM {
                    sz = sz.div_ceil(48) * 53;
                }
                (sz >> self.size_log.min(63)).min(u64::from(u16::MAX)) as u16
            })
            .collect()
    }

    /// Appends the `TCA_STAB` nest as iproute2 does: the base, then the table if any.
    pub(super) fn encode(&self, w: &mut Writer) {
        let nest = w.begin_nest(TCA_STAB);
        let mut base = Vec::with_capacity(SIZESPEC_LEN);
        base.push(self.cell_log);
        base.push(self.size_log);
        base.extend_from_slice(&self.cell_align.to_ne_bytes());
        base.extend_from_slice(&self.overhead.to_ne_bytes());
        for v in [self.linklayer, self.mpu, self.mtu, self.tsize] {
            base.extend_from_slice(&v.to_ne_bytes());
        }
        w.attr(TCA_STAB_BASE, &base);
        if self.tsize > 0 {
            let data: Vec<u8> = self.table().iter().flat_map(|v| v.to_ne_bytes()).collect();
            w.attr(TCA_STAB_DATA, &data);
        }
        w.end_nest(nest);
    }

    /// Reads a dumped `TCA_STAB` nest (its base; a table, if present, is implied by it).
    pub(super) fn decode(attr: &Attr<'_>) -> Result<SizeSpec, DecodeError> {
        const WHAT: &str = "size table";
        for a in attr.nested() {
            let a = a?;
            if a.ty != TCA_STAB_BASE {
                continue;
            }
            let b = a.payload;
            let [cell_log, size_log, al0, al1] = wire::read_array::<4>(b, 0, WHAT)?;
            return Ok(SizeSpec {
                cell_log,
                size_log,
                cell_align: i16::from_ne_bytes([al0, al1]),
                overhead: wire::read_u32(b, 4, WHAT)? as i32,
                linklayer: wire::read_u32(b, 8, WHAT)?,
                mpu: wire::read_u32(b, 12, WHAT)?,
                mtu: wire::read_u32(b, 16, WHAT)?,
                tsize: wire::read_u32(b, 20, WHAT)?,
            });
        }
        Err(DecodeError::Missing {
            what: WHAT,
            attr: "TCA_STAB_BASE",
        })
    }
}
