//! Stable HTB minor ids: each group and device gets an id derived from its name, so adding or
//! removing one leaves every other class id — and its kernel object — untouched on reload.

use std::collections::HashMap;
use std::ops::Range;

/// The LAN "everything else" class (`1:2`).
pub const OTHER_MINOR: u16 = 0x2;
/// Group classes: `1:100`..`1:7ff`.
pub const GROUP_RANGE: Range<u16> = 0x100..0x800;
/// A group's catch-all child for members without their own class: the group id with this bit.
pub const GROUP_REST_BIT: u16 = 0x800;
/// Device classes: `1:1000`..`1:fffe`.
pub const DEVICE_RANGE: Range<u16> = 0x1000..0xffff;

/// FNV-1a: small, stable across versions and platforms (ids must not change with a rebuild).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Assigns an id in `range` to every name: its hash slot, or the next free one (names are
/// placed in sorted order, so the result does not depend on the input order).
pub fn assign<'a>(
    names: impl Iterator<Item = &'a str>,
    range: Range<u16>,
) -> HashMap<&'a str, u16> {
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    names.dedup();
    let span = u64::from(range.end - range.start);
    let mut used = std::collections::HashSet::new();
    let mut out = HashMap::new();
    for n in names {
        // Bounded probe: a home config has far fewer names than slots.
        let start = fnv1a(n) % span;
        for k in 0..span {
            let id = range.start + ((start + k) % span) as u16;
            if used.insert(id) {
                out.insert(n, id);
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_unique() {
        let a = assign(["kids", "adults", "iot"].into_iter(), GROUP_RANGE);
        let b = assign(["iot", "kids", "adults", "guests"].into_iter(), GROUP_RANGE);
        for n in ["kids", "adults", "iot"] {
            assert_eq!(a[n], b[n], "adding a group must not move {n}");
            assert!(GROUP_RANGE.contains(&a[n]));
        }
        let many: Vec<String> = (0..2000).map(|i| format!("dev{i}")).collect();
        let ids = assign(many.iter().map(String::as_str), DEVICE_RANGE);
        let mut v: Vec<u16> = ids.values().copied().collect();
        v.sort();
        v.dedup();
        assert_eq!(v.len(), 2000);
        assert!(v.iter().all(|i| DEVICE_RANGE.contains(i)));
    }

    #[test]
    fn group_rest_ids_do_not_collide_with_groups_or_devices() {
        for g in GROUP_RANGE {
            let rest = g | GROUP_REST_BIT;
            assert!(
                !GROUP_RANGE.contains(&rest)
                    && !DEVICE_RANGE.contains(&rest)
                    && rest != OTHER_MINOR
            );
        }
    }
}
