//! Data-driven UCI corpus: runs `hearth uci show FILE` on every fixture under
//! `tests/fixtures/uci/` and compares the output byte for byte.
//!
//! - `bad/NAME` is a malformed file and `bad/NAME.expected` the exact stderr, with the
//!   file's path written as `{FILE}`. The command must exit 2 and print nothing on stdout.
//! - `show/NAME` is a valid file and `show/NAME.show` the exact stdout of `uci show`. The
//!   package name is the file's base name, so fixture names are valid package names. The
//!   command must exit 0 and print nothing on stderr.
//!
//! The expectations were derived by hand from the grammar (libuci `file.c`, see
//! `OPENWRT-NOTES.md`), not copied from the engine's output. Cases where the engine
//! disagrees are listed in [`KNOWN_FAILURES`]: they still run, are reported loudly on
//! stderr, and make the test fail once they start passing, so the list stays honest.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Fixtures (`dir/name`) where the engine currently disagrees with the grammar, with why.
const KNOWN_FAILURES: &[(&str, &str)] = &[];

/// The corpus may grow, never shrink below these sizes.
const MIN_BAD: usize = 24;
const MIN_SHOW: usize = 12;

fn corpus_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/uci")
        .join(kind)
}

/// One fixture: its name, the input file and the file holding the expected output.
struct Fixture {
    name: String,
    input: PathBuf,
    expected: PathBuf,
}

/// Lists `kind/` as (input, input + `.ext`) pairs; panics on an input without an
/// expectation or an expectation without an input, so nothing is skipped silently.
fn fixtures(kind: &str, ext: &str) -> Vec<Fixture> {
    let dir = corpus_dir(kind);
    let suffix = format!(".{ext}");
    let mut inputs = Vec::new();
    let mut expectations = Vec::new();
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.unwrap();
        let name = entry
            .file_name()
            .into_string()
            .expect("fixture names are UTF-8");
        if let Some(base) = name.strip_suffix(&suffix) {
            expectations.push(base.to_string());
        } else {
            assert!(
                !name.contains('.'),
                "{kind}/{name}: unexpected file (inputs have no extension, expectations end in {suffix})"
            );
            inputs.push(name);
        }
    }
    for base in &expectations {
        assert!(
            inputs.contains(base),
            "{kind}/{base}{suffix} has no input file {kind}/{base}"
        );
    }
    inputs.sort();
    inputs
        .into_iter()
        .map(|name| {
            let expected = dir.join(format!("{name}{suffix}"));
            assert!(
                expected.is_file(),
                "{kind}/{name} has no expectation {kind}/{name}{suffix}"
            );
            Fixture {
                input: dir.join(&name),
                name,
                expected,
            }
        })
        .collect()
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn uci_show(path: &Path) -> Outcome {
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("uci")
        .arg("show")
        .arg(path)
        .env_remove("HEARTH_CONFIG")
        .output()
        .expect("run hearth");
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// One output line made visible: control characters escaped, the line end marked `$`
/// (absent when the text does not end in a newline).
fn visible(line: &str) -> String {
    let (body, eol) = match line.strip_suffix('\n') {
        Some(body) => (body, "$"),
        None => (line, " [no newline at end]"),
    };
    let mut out = String::new();
    for c in body.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out + eol
}

/// A line-by-line diff of two outputs, every line shown through [`visible`].
fn diff(expected: &str, actual: &str) -> String {
    let exp: Vec<&str> = expected.split_inclusive('\n').collect();
    let act: Vec<&str> = actual.split_inclusive('\n').collect();
    let mut out = String::new();
    for i in 0..exp.len().max(act.len()) {
        match (exp.get(i), act.get(i)) {
            (Some(e), Some(a)) if e == a => {
                let _ = writeln!(out, "    {:>3}   {}", i + 1, visible(e));
            }
            (e, a) => {
                if let Some(e) = e {
                    let _ = writeln!(out, "    {:>3} - {}", i + 1, visible(e));
                }
                if let Some(a) = a {
                    let _ = writeln!(out, "    {:>3} + {}", i + 1, visible(a));
                }
            }
        }
    }
    out
}

/// Checks one fixture; returns a readable description of every mismatch.
fn check(
    id: &str,
    got: &Outcome,
    want_code: i32,
    want_stdout: &str,
    want_stderr: &str,
) -> Option<String> {
    let mut problems = String::new();
    if got.code != Some(want_code) {
        let _ = writeln!(
            problems,
            "  exit code: expected {want_code}, got {:?}",
            got.code
        );
    }
    if got.stdout != want_stdout {
        let _ = writeln!(
            problems,
            "  stdout differs (- expected, + actual):\n{}",
            diff(want_stdout, &got.stdout)
        );
    }
    if got.stderr != want_stderr {
        let _ = writeln!(
            problems,
            "  stderr differs (- expected, + actual):\n{}",
            diff(want_stderr, &got.stderr)
        );
    }
    if problems.is_empty() {
        None
    } else {
        Some(format!("fixture {id}:\n{problems}"))
    }
}

/// Runs every fixture of a corpus and fails with all mismatches at once.
fn run_corpus(
    kind: &str,
    ext: &str,
    min: usize,
    expect: impl Fn(&Fixture, &Outcome) -> Option<String>,
) {
    let all = fixtures(kind, ext);
    assert!(
        all.len() >= min,
        "the {kind} corpus shrank: {} fixtures, at least {min} expected",
        all.len()
    );
    let mut failures = Vec::new();
    let mut fixed = Vec::new();
    for fx in &all {
        let id = format!("{kind}/{}", fx.name);
        let known = KNOWN_FAILURES.iter().find(|(k, _)| *k == id);
        let got = uci_show(&fx.input);
        match (expect(fx, &got), known) {
            (None, None) => {}
            (None, Some(_)) => fixed.push(id),
            (Some(report), None) => failures.push(report),
            (Some(report), Some((_, why))) => {
                eprintln!("\n!!!!!!!! KNOWN FAILURE, SKIPPED: {id}\n!!!!!!!! {why}\n{report}")
            }
        }
    }
    assert!(
        fixed.is_empty(),
        "these known failures pass now; remove them from KNOWN_FAILURES: {fixed:?}"
    );
    assert!(
        failures.is_empty(),
        "{} of {} {kind} fixtures failed:\n\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

fn read_expected(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn bad_files_report_every_syntax_error() {
    run_corpus("bad", "expected", MIN_BAD, |fx, got| {
        let want = read_expected(&fx.expected).replace("{FILE}", &fx.input.display().to_string());
        assert!(!want.is_empty(), "bad/{}: empty expectation", fx.name);
        check(&format!("bad/{}", fx.name), got, 2, "", &want)
    });
}

#[test]
fn valid_files_show_like_uci() {
    run_corpus("show", "show", MIN_SHOW, |fx, got| {
        let want = read_expected(&fx.expected);
        check(&format!("show/{}", fx.name), got, 0, &want, "")
    });
}

/// The CRLF fixtures only test something while their CRs survive checkouts.
#[test]
fn crlf_fixtures_keep_their_carriage_returns() {
    for (kind, name) in [("bad", "crlf_error"), ("show", "crlf")] {
        let bytes = fs::read(corpus_dir(kind).join(name)).unwrap();
        let lf = bytes.iter().filter(|&&b| b == b'\n').count();
        let crlf = bytes.windows(2).filter(|w| w == b"\r\n").count();
        assert!(
            lf > 0 && lf == crlf,
            "{kind}/{name}: every line must end in CRLF ({crlf} of {lf} do)"
        );
    }
}

#[test]
fn missing_file_exits_1_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-config");
    let got = uci_show(&path);
    assert_eq!(got.code, Some(1), "stderr: {}", got.stderr);
    assert_eq!(got.stdout, "");
    let shown = path.display().to_string();
    assert!(
        got.stderr.starts_with(&format!("{shown}: ")),
        "stderr should start with the path {shown:?}: {:?}",
        got.stderr
    );
    assert_eq!(got.stderr.lines().count(), 1, "one line: {:?}", got.stderr);
}
