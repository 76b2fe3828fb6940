//! Any bytes as a ledger file (a torn write, a bad flash block): decoding never panics, and
//! whatever decodes re-encodes to a file that decodes to the same accounts. Any text as a
//! POSIX TZ string: parsing never panics, and a parsed zone answers for any instant.
#![no_main]

use hearth::budget::store::{decode, encode};
use hearth::budget::{PeriodKind, Tz};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(l) = decode(data) {
        let again = decode(&encode(&l.accounts, l.saved_at)).expect("re-encoded ledger");
        assert_eq!(again.accounts, l.accounts);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(tz) = Tz::parse(text) {
            for t in [0i64, 1_795_608_000, -86_400 * 365 * 100, 86_400 * 365 * 200] {
                let _ = tz.offset_at(t);
                let _ = PeriodKind::Month.ends_after(&tz, t);
                let _ = PeriodKind::Day.id_at(&tz, t);
            }
        }
    }
});
