//! Character rules for UCI names, types and package names (libuci `util.c`).

/// Section and option names: `[A-Za-z0-9_]+`.
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Package names: like names, plus `-`.
pub fn is_valid_package(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// Section types: printable ASCII without blanks (`!`..=`~`).
pub fn is_valid_type(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| (33..=126).contains(&c))
}
