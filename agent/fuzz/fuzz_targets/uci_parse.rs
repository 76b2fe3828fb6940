//! Any bytes: the UCI parser never panics; whatever parses survives `export` -> parse with the
//! same tree, and an untouched document is byte-identical to its input.
#![no_main]

use hearth::uci::{export, Document};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = Document::parse("fuzz", text) else {
        return;
    };
    assert_eq!(doc.text(), text);
    let _ = hearth::uci::show(doc.package());
    let again = Document::parse("fuzz", &export(doc.package())).expect("export must parse");
    assert_eq!(again.package().to_plain(), doc.package().to_plain());
});
