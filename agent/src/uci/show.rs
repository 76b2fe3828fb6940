//! `uci show` output: `pkg.sec=type`, `pkg.sec.opt='value'`, lists as space-separated quoted
//! items, anonymous sections as `pkg.@type[N]` (libuci `cli.c`, extended syntax, the default).

use super::tree::Package;

/// Quotes a value the way `uci show` and `uci export` do: `'...'` with `'` written as `'\''`.
///
/// Inside quotes our parser reads a CRLF as a line break (`\n`, so files edited on Windows keep
/// their meaning), which would drop the CR of a value holding CR LF; such a CR is written twice:
/// the first is data, the second and the LF are the line break. (Found by the `uci_parse` fuzz
/// target.)
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    let mut chars = value.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '\'' {
            out.push_str("'\\''");
        } else if ch == '\r' && chars.peek() == Some(&'\n') {
            out.push_str("\r\r");
        } else {
            out.push(ch);
        }
    }
    out.push('\'');
    out
}

/// Renders the whole package exactly as `uci show PACKAGE` prints it.
pub fn show(pkg: &Package) -> String {
    let mut out = String::new();
    for idx in 0..pkg.sections.len() {
        let s = &pkg.sections[idx];
        let sref = pkg.section_ref(idx);
        out.push_str(&format!("{}.{}={}\n", pkg.name, sref, s.stype));
        for o in &s.options {
            let vals: Vec<String> = o.values.iter().map(|v| quote(v)).collect();
            out.push_str(&format!(
                "{}.{}.{}={}\n",
                pkg.name,
                sref,
                o.name,
                vals.join(" ")
            ));
        }
    }
    out
}

/// Renders the package the way `uci export` writes a file (used for new files and as a
/// canonical form in tests).
pub fn export(pkg: &Package) -> String {
    let mut out = String::new();
    for s in &pkg.sections {
        out.push_str("\nconfig ");
        out.push_str(&type_token(&s.stype));
        if let Some(n) = &s.name {
            out.push(' ');
            out.push_str(&quote(n));
        }
        out.push('\n');
        for o in &s.options {
            let kw = match o.kind {
                super::tree::OptionKind::Single => "option",
                super::tree::OptionKind::List => "list",
            };
            for v in &o.values {
                out.push_str(&format!("\t{kw} {} {}\n", o.name, quote(v)));
            }
        }
    }
    out.push('\n');
    out
}

/// A section type written bare when that is unambiguous, quoted otherwise (a type may hold
/// `#`, `;`, quotes or a backslash, which bare would change the meaning).
pub fn type_token(stype: &str) -> String {
    if stype
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'/' | b':' | b'@'))
    {
        stype.to_string()
    } else {
        quote(stype)
    }
}
