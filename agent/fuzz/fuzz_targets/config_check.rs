//! Any bytes: loading the typed config never panics, and every problem it reports carries a
//! line inside the file.
#![no_main]

use hearth::config::{from_package, LoadError};
use hearth::uci::Document;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = Document::parse("hearth", text) else {
        return;
    };
    let lines = text.lines().count().max(1) as u32;
    if let Err(LoadError::Invalid(errors)) = from_package(doc.package(), "fuzz".as_ref()) {
        assert!(!errors.is_empty());
        for e in errors {
            assert!(e.line >= 1 && e.line <= lines + 1, "line {} of {lines}: {e}", e.line);
        }
    }
});
