//! Unit tests of the UCI grammar, `show`, and lossless editing, plus the round-trip property.

use super::*;
use proptest::prelude::*;

fn pkg(src: &str) -> Package {
    match parser::parse("t", src) {
        Ok(p) => p.package,
        Err(e) => panic!("unexpected errors: {e:?}"),
    }
}

fn errors(src: &str) -> Vec<String> {
    match parser::parse("t", src) {
        Ok(_) => panic!("expected an error for {src:?}"),
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

fn values(p: &Package, sec: usize, opt: &str) -> Vec<String> {
    p.sections[sec]
        .option(opt)
        .unwrap_or_else(|| panic!("no option {opt}"))
        .values
        .clone()
}

// === grammar ===

#[test]
fn named_and_anonymous_sections() {
    let p = pkg("config agent 'main'\n\toption log_level info\nconfig device\n");
    assert_eq!(p.sections.len(), 2);
    assert_eq!(p.sections[0].name.as_deref(), Some("main"));
    assert_eq!(p.sections[0].stype, "agent");
    assert_eq!(p.sections[1].name, None);
    assert_eq!(values(&p, 0, "log_level"), ["info"]);
}

#[test]
fn single_letter_commands() {
    let p = pkg("c t 'n'\no a 1\nl b 2\nl b 3\np pkgname\n");
    assert_eq!(values(&p, 0, "a"), ["1"]);
    assert_eq!(values(&p, 0, "b"), ["2", "3"]);
}

#[test]
fn single_quotes_are_literal() {
    let p = pkg(r#"config t n
option a 'x\"y # not a comment; not a separator'
"#);
    assert_eq!(
        values(&p, 0, "a"),
        [r#"x\"y # not a comment; not a separator"#]
    );
}

#[test]
fn double_quotes_drop_backslash_keep_next_char() {
    let p = pkg("config t n\noption a \"say \\\"hi\\\" \\n \\\\ end\"\n");
    assert_eq!(values(&p, 0, "a"), ["say \"hi\" n \\ end"]);
}

#[test]
fn unquoted_words_end_at_blank_hash_or_semicolon() {
    let p = pkg("config t n\noption a abc#comment\noption b def;option c ghi\n");
    assert_eq!(values(&p, 0, "a"), ["abc"]);
    assert_eq!(values(&p, 0, "b"), ["def"]);
    assert_eq!(values(&p, 0, "c"), ["ghi"]);
}

#[test]
fn pieces_concatenate_without_blank() {
    let p = pkg("config t n\noption a 'a'\"b\"c\noption q 'it'\\''s'\n");
    assert_eq!(values(&p, 0, "a"), ["abc"]);
    assert_eq!(values(&p, 0, "q"), ["it's"]);
}

#[test]
fn comments_anywhere_outside_quotes() {
    let p = pkg("# head\n  # indented\nconfig t n # trailing\n\toption a 'v' # after\n#end");
    assert_eq!(values(&p, 0, "a"), ["v"]);
}

#[test]
fn semicolons_separate_statements() {
    let p = pkg("config t n; option a 1; list b x; list b y\nconfig u; option c 2\n");
    assert_eq!(values(&p, 0, "a"), ["1"]);
    assert_eq!(values(&p, 0, "b"), ["x", "y"]);
    assert_eq!(p.sections[1].stype, "u");
    assert_eq!(values(&p, 1, "c"), ["2"]);
}

#[test]
fn trailing_backslash_continues_statement() {
    let p = pkg("config t n\noption a \\\n  'value'\noption b abc\\\ndef\n");
    assert_eq!(values(&p, 0, "a"), ["value"]);
    assert_eq!(values(&p, 0, "b"), ["abcdef"]);
}

#[test]
fn multi_line_quoted_values_keep_newline() {
    let p = pkg("config t n\noption a 'line1\nline2'\noption b \"x\ny\"\n");
    assert_eq!(values(&p, 0, "a"), ["line1\nline2"]);
    assert_eq!(values(&p, 0, "b"), ["x\ny"]);
}

#[test]
fn backslash_newline_in_double_quotes_joins_lines() {
    let p = pkg("config t n\noption a \"ab\\\ncd\"\n");
    assert_eq!(values(&p, 0, "a"), ["abcd"]);
}

#[test]
fn crlf_line_endings_are_accepted_and_cr_is_not_data() {
    let p = pkg("config t 'n'\r\n\toption a 'v'\r\n\toption b w\r\n\toption c 'x\r\ny'\r\n");
    assert_eq!(values(&p, 0, "a"), ["v"]);
    assert_eq!(values(&p, 0, "b"), ["w"]);
    assert_eq!(values(&p, 0, "c"), ["x\ny"]);
}

#[test]
fn a_value_holding_cr_lf_survives_export() {
    // The first CR of CR CR LF is data, the CRLF a line break inside the quotes; export must
    // write the value so that it parses back the same (fuzz-found: it lost the CR).
    let p = pkg("config t n\noption a 'x\r\r\ny\r'\n");
    assert_eq!(values(&p, 0, "a"), ["x\r\ny\r"]);
    let again = pkg(&export(&p));
    assert_eq!(values(&again, 0, "a"), ["x\r\ny\r"]);
}

#[test]
fn option_twice_replaces_in_place() {
    let p = pkg("config t n\noption a 1\noption b 2\noption a 3\n");
    let names: Vec<_> = p.sections[0].options.iter().map(|o| &o.name).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(values(&p, 0, "a"), ["3"]);
}

#[test]
fn option_then_list_becomes_list_in_place() {
    let p = pkg("config t n\noption a 1\noption b 2\nlist a 3\n");
    assert_eq!(p.sections[0].options[0].kind, OptionKind::List);
    assert_eq!(values(&p, 0, "a"), ["1", "3"]);
}

#[test]
fn empty_option_value_is_ignored() {
    let p = pkg("config t n\noption a 1\noption a ''\noption b ''\noption c\n");
    assert_eq!(values(&p, 0, "a"), ["1"]);
    assert!(p.sections[0].option("b").is_none());
    assert!(p.sections[0].option("c").is_none());
}

#[test]
fn reopened_named_section_merges_and_keeps_position() {
    let p = pkg("config t a\noption x 1\nconfig t b\nconfig t a\noption y 2\n");
    assert_eq!(p.sections.len(), 2);
    assert_eq!(p.sections[0].name.as_deref(), Some("a"));
    assert_eq!(values(&p, 0, "y"), ["2"]);
}

#[test]
fn empty_name_makes_anonymous_section() {
    let p = pkg("config t ''\noption x 1\n");
    assert_eq!(p.sections[0].name, None);
}

#[test]
fn type_may_hold_punctuation() {
    let p = pkg("config 'my-type.v2' n\n");
    assert_eq!(p.sections[0].stype, "my-type.v2");
}

#[test]
fn utf8_values_and_columns() {
    let p = pkg("config t n\noption label 'Zoë’s tablet'\n");
    assert_eq!(values(&p, 0, "label"), ["Zoë’s tablet"]);
    // The column after a multi-byte character counts characters.
    let e = errors("config t n\noption label 'ë' extra\n");
    assert_eq!(e, ["2:18: too many arguments to 'option': expected option NAME 'VALUE' (quote values that contain spaces)"]);
}

#[test]
fn package_statement_is_checked_and_ignored() {
    let p = pkg("package foo\nconfig t n\n");
    assert_eq!(p.name, "t");
    assert_eq!(
        errors("package 'a b'\n")[0],
        "1:9: invalid package name 'a b': use letters, digits, '_' and '-'"
    );
}

#[test]
fn lines_of_list_items_are_recorded() {
    let p = pkg("config t n\n\n list a 1\n list a 2\n");
    assert_eq!(p.sections[0].options[0].lines, [3, 4]);
    assert_eq!(p.sections[0].line, 1);
}

// === errors ===

#[test]
fn errors_name_line_col_and_expectation() {
    assert_eq!(
        errors("confi t n\n"),
        ["1:1: invalid command 'confi': expected 'package', 'config', 'option' or 'list'"]
    );
    assert_eq!(
        errors("option a b\n"),
        ["1:1: 'option' before the first section: expected 'config TYPE [NAME]' first"]
    );
    assert_eq!(
        errors("config\n"),
        ["1:1: 'config' needs more arguments: expected config TYPE ['NAME']"]
    );
    assert_eq!(errors("config t n extra\n"), ["1:12: too many arguments to 'config': expected config TYPE ['NAME'] (quote values that contain spaces)"]);
    assert_eq!(
        errors("config t 'bad-name'\n"),
        ["1:10: invalid section name 'bad-name': names use only letters, digits and '_'"]
    );
    assert_eq!(
        errors("config t n\n  option 'a.b' 1\n"),
        ["2:10: invalid option name 'a.b': names use only letters, digits and '_'"]
    );
    assert_eq!(errors("config t n\noption a 'open\n"), ["2:10: unterminated single-quoted string: expected a closing ' before the end of the file"]);
    assert_eq!(errors("config t n\noption a \"open\n"), ["2:10: unterminated double-quoted string: expected a closing \" before the end of the file"]);
    assert_eq!(errors("config a n\nconfig b n\n"), ["2:8: section 'n' was declared with type 'a' on line 1; it cannot be re-opened as type 'b'"]);
}

#[test]
fn every_bad_line_is_reported() {
    let e = errors("config t n\nfoo\noption ok 1\nbar baz\noption a b c\n");
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(e[0].starts_with("2:1:"));
    assert!(e[1].starts_with("4:1:"));
    assert!(e[2].starts_with("5:12:"));
}

#[test]
fn nul_bytes_are_refused() {
    assert_eq!(
        errors("config t n\noption a 'x\0y'\n"),
        ["2:12: NUL byte in value: config files are text"]
    );
}

// === show ===

#[test]
fn show_matches_uci_format() {
    let p = pkg("config agent 'main'\n\toption a 'it''s'\nconfig device\n\tlist ip '1.2.3.4'\n\tlist ip 'a b'\nconfig device 'x'\nconfig device\n\toption q \"it's\"\n");
    let mut p = p;
    p.name = "hearth".into();
    assert_eq!(
        show(&p),
        "hearth.main=agent\nhearth.main.a='its'\nhearth.@device[0]=device\nhearth.@device[0].ip='1.2.3.4' 'a b'\nhearth.x=device\nhearth.@device[2]=device\nhearth.@device[2].q='it'\\''s'\n"
    );
}

// === editing ===

const SAMPLE: &str = "# hearth sample\n\nconfig agent 'main'\n\toption log_level 'info'   # chatty?\n\toption currency USD\n\n# devices follow\nconfig device 'tv'\n    option mac 'aa:bb:cc:dd:ee:01'\n    list ip '192.168.1.5'\n    list ip '192.168.1.6'\n";

fn doc() -> Document {
    Document::parse("hearth", SAMPLE).unwrap()
}

#[test]
fn untouched_document_is_byte_identical() {
    assert_eq!(doc().text(), SAMPLE);
}

#[test]
fn set_existing_option_keeps_trailing_comment_and_other_lines() {
    let mut d = doc();
    d.set_option(&"main".parse().unwrap(), "log_level", "debug")
        .unwrap();
    assert_eq!(
        d.text(),
        SAMPLE.replace("option log_level 'info'", "option log_level 'debug'")
    );
}

#[test]
fn set_new_option_goes_after_section_with_its_indent() {
    let mut d = doc();
    d.set_option(&"tv".parse().unwrap(), "label", "Living room TV")
        .unwrap();
    assert_eq!(
        d.text(),
        format!("{SAMPLE}    option label 'Living room TV'\n")
    );
    let mut d = doc();
    d.set_option(&"main".parse().unwrap(), "state_dir", "/etc/hearth")
        .unwrap();
    assert_eq!(
        d.text(),
        SAMPLE.replace(
            "option currency USD\n",
            "option currency USD\n\toption state_dir '/etc/hearth'\n"
        )
    );
}

#[test]
fn set_list_replaces_all_items() {
    let mut d = doc();
    d.set_list(&"tv".parse().unwrap(), "ip", &["10.0.0.1", "it's"])
        .unwrap();
    assert_eq!(
        d.text(),
        SAMPLE.replace(
            "    list ip '192.168.1.5'\n    list ip '192.168.1.6'\n",
            "    list ip '10.0.0.1'\n    list ip 'it'\\''s'\n"
        )
    );
    assert_eq!(values(d.package(), 1, "ip"), ["10.0.0.1", "it's"]);
}

#[test]
fn delete_option_removes_its_lines_only() {
    let mut d = doc();
    d.delete_option(&"tv".parse().unwrap(), "ip").unwrap();
    assert_eq!(
        d.text(),
        SAMPLE.replace("    list ip '192.168.1.5'\n    list ip '192.168.1.6'\n", "")
    );
    d.set_option(&"main".parse().unwrap(), "currency", "")
        .unwrap();
    assert!(!d.text().contains("currency"));
}

#[test]
fn add_and_delete_sections() {
    let mut d = doc();
    let r = d.add_section("group", Some("kids")).unwrap();
    d.set_option(&r, "priority", "bulk").unwrap();
    assert_eq!(
        d.text(),
        format!("{SAMPLE}\nconfig group 'kids'\n\toption priority 'bulk'\n")
    );
    let anon = d.add_section("device", None).unwrap();
    d.set_option(&anon, "mac", "aa:bb:cc:dd:ee:02").unwrap();
    assert_eq!(d.package().section_ref(3), "@device[1]");
    d.delete_section(&"tv".parse().unwrap()).unwrap();
    assert!(!d.text().contains("'tv'"));
    assert!(d.text().contains("# devices follow\n"));
    assert_eq!(d.package().sections.len(), 3);
    assert!(d.add_section("group", Some("kids")).is_err());
}

#[test]
fn edits_on_shared_lines_use_semicolons() {
    let mut d = Document::parse("p", "config t a; option x 1; option y 2\nconfig t b\n").unwrap();
    d.set_option(&"a".parse().unwrap(), "x", "9").unwrap();
    assert_eq!(
        d.text(),
        "config t a; option x '9'; option y 2\nconfig t b\n"
    );
    d.set_option(&"a".parse().unwrap(), "z", "3").unwrap();
    assert_eq!(
        d.text(),
        "config t a; option x '9'; option y 2; option z '3'\nconfig t b\n"
    );
    d.delete_option(&"a".parse().unwrap(), "y").unwrap();
    assert_eq!(
        d.text(),
        "config t a; option x '9'; option z '3'\nconfig t b\n"
    );
    assert_eq!(values(d.package(), 0, "z"), ["3"]);
}

#[test]
fn edits_refuse_bad_names_and_unknown_sections() {
    let mut d = doc();
    assert!(d.set_option(&"nope".parse().unwrap(), "a", "1").is_err());
    assert!(d.set_option(&"main".parse().unwrap(), "a-b", "1").is_err());
    assert!(d.add_section("bad type", None).is_err());
    assert_eq!(d.text(), SAMPLE);
}

#[test]
fn section_refs_parse_and_resolve() {
    let d = Document::parse("p", "config a\nconfig b x\nconfig a\n").unwrap();
    let p = d.package();
    assert_eq!(p.find(&"@a[1]".parse().unwrap()), Some(2));
    assert_eq!(p.find(&"@a[-1]".parse().unwrap()), Some(2));
    assert_eq!(p.find(&"@a[-2]".parse().unwrap()), Some(0));
    assert_eq!(p.find(&"@a[2]".parse().unwrap()), None);
    assert_eq!(p.find(&"@a[-3]".parse().unwrap()), None);
    assert_eq!(p.find(&"x".parse().unwrap()), Some(1));
    assert!("@a[z]".parse::<SectionRef>().is_err());
}

#[test]
fn atomic_save_replaces_file_and_keeps_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hearth");
    std::fs::write(&path, SAMPLE).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut d = Document::load(&path).unwrap();
    assert_eq!(d.package().name, "hearth");
    d.set_option(&"main".parse().unwrap(), "log_level", "warn")
        .unwrap();
    d.save(&path).unwrap();
    let back = std::fs::read_to_string(&path).unwrap();
    assert_eq!(back, d.text());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "temp file left behind");
}

#[test]
fn load_reports_non_utf8_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x");
    std::fs::write(&path, b"config t n\noption a '\xff'\n").unwrap();
    let e = Document::load(&path).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("{}:2:11: the file is not UTF-8 text", path.display())
    );
}

// === round-trip property ===

/// A value as the generator sees it: any printable text, including quotes, `#`, `;`,
/// backslashes, non-ASCII and newlines.
fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_.:/-]{1,12}",
        "[ -~]{1,16}",
        "[a-z' \"#;\\\\\n]{1,10}",
        "[äöü€’a-z ]{1,8}",
    ]
}

#[derive(Debug, Clone)]
struct GenSection {
    stype: String,
    name: Option<String>,
    options: Vec<(String, bool, Vec<String>)>,
}

fn section_strategy() -> impl Strategy<Value = GenSection> {
    (
        prop_oneof!["[a-z]{1,6}", "[a-z][a-z._-]{0,5}"],
        proptest::option::of("[a-zA-Z0-9_]{1,8}"),
        proptest::collection::vec(
            (
                "[a-z_][a-z0-9_]{0,6}",
                any::<bool>(),
                proptest::collection::vec(value_strategy(), 1..4),
            ),
            0..5,
        ),
    )
        .prop_map(|(stype, name, opts)| {
            // One option per name, as the tree would hold it.
            let mut seen = std::collections::HashSet::new();
            let options = opts
                .into_iter()
                .filter(|(n, _, _)| seen.insert(n.clone()))
                .map(|(n, list, mut v)| {
                    if !list {
                        v.truncate(1);
                    }
                    (n, list, v)
                })
                .collect();
            GenSection {
                stype,
                name,
                options,
            }
        })
}

/// Encodes a value in one of several equivalent spellings.
fn spell(v: &str, style: u8) -> String {
    let plain_ok = v
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"_.:/-".contains(&c));
    match style % 3 {
        0 if plain_ok => v.to_string(),
        1 if !v.contains('\r') => {
            let mut s = String::from("\"");
            for ch in v.chars() {
                if ch == '"' || ch == '\\' {
                    s.push('\\');
                }
                s.push(ch);
            }
            s.push('"');
            s
        }
        _ => quote(v),
    }
}

/// Renders generated sections with varied layout: comments, blank lines, indentation,
/// `;`-joined statements, short keywords and mixed quoting. Returns the text and the tree it
/// must parse to.
fn render(secs: &[GenSection], style: &[u8]) -> (String, PlainPackage) {
    let mut out = String::from("# generated\n");
    let mut k = 0usize;
    let mut next = || {
        k += 1;
        style[k % style.len()]
    };
    let mut plain: PlainPackage = Vec::new();
    for s in secs {
        if let Some(n) = &s.name {
            if plain.iter().any(|p| p.name.as_deref() == Some(n.as_str())) {
                continue; // re-opening is tested separately
            }
        }
        let kw = if next() % 5 == 0 { "c" } else { "config" };
        out.push_str(&format!("{kw} {}", spell(&s.stype, next())));
        if let Some(n) = &s.name {
            out.push(' ');
            out.push_str(&spell(n, next()));
        }
        out.push_str(if next() % 4 == 0 {
            " # section\n"
        } else {
            "\n"
        });
        for (name, list, vals) in &s.options {
            for v in vals {
                let indent = ["\t", "  ", "", " \t"][next() as usize % 4];
                let kw = match (list, next() % 6 == 0) {
                    (true, true) => "l",
                    (true, false) => "list",
                    (false, true) => "o",
                    (false, false) => "option",
                };
                out.push_str(&format!("{indent}{kw} {name} {}", spell(v, next())));
                match next() % 7 {
                    0 => out.push_str("; "),
                    1 => out.push_str(" # note\n"),
                    2 => out.push_str("\n\n"),
                    _ => out.push('\n'),
                }
            }
        }
        plain.push(PlainSection {
            stype: s.stype.clone(),
            name: s.name.clone(),
            options: s
                .options
                .iter()
                .map(|(n, list, v)| {
                    let kind = if *list {
                        OptionKind::List
                    } else {
                        OptionKind::Single
                    };
                    (n.clone(), kind, v.clone())
                })
                .collect(),
        });
    }
    (out, plain)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random valid files parse to the tree they were generated from, survive export ->
    /// parse unchanged, and an edit rewrites only the edited statement.
    #[test]
    fn round_trip_is_lossless(
        secs in proptest::collection::vec(section_strategy(), 1..6),
        style in proptest::collection::vec(any::<u8>(), 1..32),
        new_value in value_strategy(),
    ) {
        let (text, expected) = render(&secs, &style);
        let d = Document::parse("p", &text).map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
        prop_assert_eq!(d.package().to_plain(), expected.clone(), "text:\n{}", text);
        prop_assert_eq!(d.text(), text.as_str());

        // Canonical export parses back to the same tree.
        let exported = export(d.package());
        let again = Document::parse("p", &exported).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(again.package().to_plain(), expected.clone());

        // Edit the first option of the first section that has one: only its statements change.
        if let Some((si, s)) = d.package().sections.iter().enumerate().find(|(_, s)| !s.options.is_empty()) {
            let opt = &s.options[0];
            let first = &d.parsed.stmts[opt.stmts[0]];
            let last = &d.parsed.stmts[*opt.stmts.last().unwrap()];
            let (head, tail) = (&text[..first.start.offset], &text[last.end..]);
            let sref: SectionRef = d.package().section_ref(si).parse().unwrap();
            let mut e = d.clone();
            e.set_option(&sref, &opt.name, &new_value).unwrap();
            prop_assert!(e.text().starts_with(head), "head changed:\n{}\n---\n{}", text, e.text());
            if opt.stmts.len() == 1 {
                prop_assert!(e.text().ends_with(tail), "tail changed:\n{}\n---\n{}", text, e.text());
            }
            let mut want = expected;
            want[si].options[0] = (opt.name.clone(), OptionKind::Single, vec![new_value.clone()]);
            prop_assert_eq!(e.package().to_plain(), want);
        }
    }
}
