//! `docs/configuration.md` must keep up with the code: every section type the config reader
//! knows has its own heading, and every option it accepts is named (in backticks) under that
//! heading; options in a section's tables must still exist.

use std::path::PathBuf;

use hearth::config::{known_options, SECTION_TYPES};

fn docs() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text under the heading `## \`stype\``, up to the next heading of level 1 or 2.
fn section<'a>(doc: &'a str, stype: &str) -> Option<&'a str> {
    let heading = format!("## `{stype}`");
    let mut start = None;
    let mut offset = 0;
    for line in doc.split_inclusive('\n') {
        let trimmed = line.trim_end();
        match start {
            None if trimmed == heading => start = Some(offset + line.len()),
            Some(s) if trimmed.starts_with("# ") || trimmed.starts_with("## ") => {
                return Some(&doc[s..offset]);
            }
            _ => {}
        }
        offset += line.len();
    }
    start.map(|s| &doc[s..])
}

/// Option names in the first column of the section's tables (`| \`name\` | ...`).
fn documented_options(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(name, _)| name))
        .collect()
}

#[test]
fn every_section_type_and_option_is_documented() {
    let doc = docs();
    let mut problems = Vec::new();
    for stype in SECTION_TYPES {
        let options = known_options(stype);
        assert!(
            !options.is_empty(),
            "known_options({stype:?}) is empty: the schema lookup is broken"
        );
        let Some(text) = section(&doc, stype) else {
            problems.push(format!(
                "section type '{stype}' has no heading \"## `{stype}`\""
            ));
            continue;
        };
        for opt in &options {
            if !text.contains(&format!("`{opt}`")) {
                problems.push(format!(
                    "option '{opt}' of section type '{stype}' is not documented as `{opt}` under its heading"
                ));
            }
        }
        for name in documented_options(text) {
            if !options.contains(&name) {
                problems.push(format!(
                    "the '{stype}' table documents `{name}`, which hearth does not accept (known: {})",
                    options.join(", ")
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/configuration.md is behind the code:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn docs_explain_check_output_and_config_path() {
    let doc = docs();
    for needle in [
        "PATH:LINE: section 'NAME' (TYPE) option 'OPTION': message",
        "PATH:LINE:COL: message",
        "HEARTH_CONFIG",
        "--config",
        "/etc/config/hearth",
        "`default`",
        "kbit/s",
        "GiB",
        "dBm",
        "per 1 million tokens",
    ] {
        assert!(
            doc.contains(needle),
            "docs/configuration.md should mention {needle:?}"
        );
    }
    for code in ["| `0` |", "| `1` |", "| `2` |"] {
        assert!(
            doc.contains(code),
            "the exit code table should have a row {code:?}"
        );
    }
}
