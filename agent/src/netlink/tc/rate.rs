//! Rates, bursts and psched ticks, computed exactly as iproute2 6.1 does (NOTES §4), so
//! hearth's HTB and TBF requests are byte-for-byte what `tc` would send.
//!
//! The kernel keeps bucket sizes as *time*: psched ticks of 64 ns (15.625 ticks per µs on
//! every kernel since 2.6.31, `/proc/net/psched` = `3e8 40 f4240 …`). iproute2 converts a
//! byte count to whole microseconds at the rate (truncating), then to ticks (truncating
//! again). The truncation loses under a microsecond; it only shows at multi-gigabit rates
//! (1606 B at 50 Gbit/s = 0.26 µs -> 0 ticks), where a burst that small does not matter.
//! Matching iproute2 exactly (rather than computing ticks from nanoseconds) keeps hearth's
//! requests identical to what `tc` users and the kernel's own tests exercise.

use super::wire::Writer;

/// Ticks per microsecond × 8: one tick is 64 ns, so 1 µs = 1000/64 = 125/8 ticks.
const TICKS_PER_8_US: u64 = 125;
/// Ticks per microsecond (iproute2's `tick_in_usec`), exact in binary.
const TICKS_PER_US: f64 = 15.625;
/// 2^32: the first value a kernel u32 field cannot hold.
const U32_LIMIT: f64 = 4_294_967_296.0;
/// Microseconds per second (iproute2's TIME_UNITS_PER_SEC).
const US_PER_SEC: u64 = 1_000_000;
/// iproute2's default HTB `mtu` (bytes), which sets the rate tables' cell size.
pub const HTB_MTU: u32 = 1600;
/// iproute2's default TBF `mtu` when none is given (bytes).
pub const TBF_MTU: u32 = 2047;
/// Clock rate iproute2 reads from `/proc/net/psched` on kernels with high-resolution
/// timers (every OpenWRT target): it adds `rate / HZ` bytes to default bursts.
pub const HIGH_RES_TIMER_HZ: u64 = 1_000_000_000;
/// `TC_LINKLAYER_ETHERNET`: tells the kernel not to look at the rate tables.
const LINKLAYER_ETHERNET: u8 = 1;

/// Ticks to send `bytes` at `rate_bps` bytes/s, or `None` when the rate is 0 or the time does
/// not fit the kernel's u32 (over ~274 s).
///
/// This is iproute2's `tc_calc_xmittime` to the bit, double-precision arithmetic included:
/// `(unsigned)(1e6 * ((double)size / rate))` µs, then `(unsigned)(µs * 15.625)`. The double
/// quotient is sometimes a hair under an exact integer (1992 B at 125000 B/s gives
/// 15935.999… µs, so 248984 ticks, not 249000), and the captured tables show exactly that.
/// IEEE-754 doubles give the same result on every target, soft-float MIPS included.
pub fn xmit_ticks(bytes: u64, rate_bps: u64) -> Option<u32> {
    if rate_bps == 0 {
        return None;
    }
    let us = US_PER_SEC as f64 * (bytes as f64 / rate_bps as f64);
    if !(0.0..U32_LIMIT).contains(&us) {
        return None;
    }
    let ticks = f64::from(us as u32) * TICKS_PER_US;
    if ticks >= U32_LIMIT {
        return None;
    }
    Some(ticks as u32)
}

/// The smallest byte count whose [`xmit_ticks`] at `rate_bps` is `ticks`: turns a bucket the
/// kernel reports back into the burst a plan would have asked for. Exact for every value this
/// module encodes; for foreign values (set by other tools) it is the nearest byte count.
pub fn burst_from_ticks(ticks: u32, rate_bps: u64) -> u32 {
    if rate_bps == 0 {
        return 0;
    }
    // Smallest whole µs that truncates to `ticks`, then smallest byte count reaching it
    // in exact arithmetic; the double rounding above can move that by a byte, so look
    // around it for the smallest count that really encodes to `ticks`.
    let us = (u128::from(ticks) * 8).div_ceil(u128::from(TICKS_PER_8_US));
    let guess = (us * u128::from(rate_bps)).div_ceil(u128::from(US_PER_SEC));
    let guess = u32::try_from(guess).unwrap_or(u32::MAX);
    (guess.saturating_sub(2)..=guess.saturating_add(2))
        .find(|b| xmit_ticks(u64::from(*b), rate_bps) == Some(ticks))
        .unwrap_or(guess)
}

/// iproute2's default burst for `rate_bps`: one timer tick of data plus one MTU.
pub fn default_burst(rate_bps: u64) -> u32 {
    u32::try_from(rate_bps / HIGH_RES_TIMER_HZ + u64::from(HTB_MTU)).unwrap_or(u32::MAX)
}

/// The value for a 32-bit `rate` field: the rate, saturated when a 64-bit attribute must
/// carry the real value (the kernel rejects 0 there even then).
pub(crate) fn rate32(rate_bps: u64) -> u32 {
    u32::try_from(rate_bps).unwrap_or(u32::MAX)
}

/// Whether the rate needs `TCA_*_RATE64` / `CEIL64` (iproute2: rate >= 2^32).
pub(crate) fn needs_rate64(rate_bps: u64) -> bool {
    rate_bps > u64::from(u32::MAX)
}

/// Cell size log2 for rate tables: smallest n with `mtu >> n <= 255` (iproute2).
pub(crate) fn cell_log(mtu: u32) -> u8 {
    let mut n = 0u8;
    while (mtu >> n) > 255 {
        n += 1;
    }
    n
}

/// Appends a 12-byte `struct tc_ratespec` as iproute2 fills it for an Ethernet link:
/// cell_log, linklayer 1, overhead 0, cell_align -1, mpu 0, rate (saturated).
pub(crate) fn push_ratespec(out: &mut Vec<u8>, cell_log: u8, rate_bps: u64) {
    out.push(cell_log);
    out.push(LINKLAYER_ETHERNET);
    out.extend_from_slice(&0u16.to_ne_bytes()); // overhead
    out.extend_from_slice(&(-1i16).to_ne_bytes()); // cell_align
    out.extend_from_slice(&0u16.to_ne_bytes()); // mpu
    out.extend_from_slice(&rate32(rate_bps).to_ne_bytes());
}

/// Writes a 1 KiB rate table attribute: entry i = ticks to send `(i + 1) << cell_log` bytes.
/// The kernel ignores it when linklayer is set (it is), but iproute2 always sends it and
/// older kernels' TBF wanted it; overflowing entries saturate.
pub(crate) fn attr_rate_table(w: &mut Writer, ty: u16, cell_log: u8, rate_bps: u64) {
    let mut table = Vec::with_capacity(1024);
    for i in 0..256u64 {
        let size = (i + 1) << cell_log;
        let ticks = xmit_ticks(size, rate_bps).unwrap_or(u32::MAX);
        table.extend_from_slice(&ticks.to_ne_bytes());
    }
    w.attr(ty, &table);
}

/// The `rate` field of a `tc_ratespec` at `off` in `buf`, if there.
pub(crate) fn ratespec_rate(buf: &[u8], off: usize) -> Option<u32> {
    let at = off.checked_add(8)?;
    buf.get(at..at.checked_add(4)?)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_ne_bytes)
}

/// Whether two bursts at `rate_bps` are the same bucket as far as a kernel dump can tell.
/// TBF recomputes its bucket from `TCA_TBF_BURST` in nanoseconds, so the ticks it reports
/// differ from tc's by under a microsecond: bursts within one microsecond of data (plus a
/// byte of rounding) are equal.
pub(crate) fn same_burst(a: u32, b: u32, rate_bps: u64) -> bool {
    u64::from(a.abs_diff(b)) <= rate_bps / US_PER_SEC + 1
}

/// A CoDel time (µs) as the kernel reports it back: stored as ns >> 10, dumped as µs, so
/// 5000 µs comes back as 4999 (fq_codel target, interval, ce_threshold).
pub(crate) fn codel_us(us: u32) -> u32 {
    let units = (u64::from(us) * 1000) >> 10;
    ((units << 10) / 1000) as u32
}
