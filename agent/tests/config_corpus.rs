//! `hearth check` against the invalid-config corpus and the example configs.
//!
//! Every file `tests/fixtures/config/invalid/NAME` is a small config with deliberate mistakes;
//! `NAME.expected` holds the exact stderr lines `hearth check --config NAME` must print, with
//! the path written as `{FILE}`. The expectations were worked out by hand from the messages in
//! `src/config`; where the program disagrees with what is right, the case is listed in
//! [`KNOWN_FAILURES`] (skipped loudly) until the program is fixed.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Cases whose expectation is the correct behaviour but the program does not produce it yet:
/// `(fixture, what is wrong)`. Remove an entry once the program is fixed (the test fails when
/// a listed case starts passing, so the list cannot go stale).
const KNOWN_FAILURES: &[(&str, &str)] = &[];

/// The corpus must keep at least this many cases.
const MIN_CASES: usize = 34;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus_dir() -> PathBuf {
    manifest_dir().join("tests/fixtures/config/invalid")
}

fn configs_dir() -> PathBuf {
    manifest_dir().join("../configs")
}

/// `hearth ARGS` with `HEARTH_CONFIG` set to `env` (or removed when `None`).
fn hearth(args: &[&OsStr], env: Option<&OsStr>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hearth"));
    cmd.args(args);
    match env {
        Some(v) => cmd.env("HEARTH_CONFIG", v),
        None => cmd.env_remove("HEARTH_CONFIG"),
    };
    let out = cmd.output().expect("cannot run the hearth binary");
    assert_clean(&out, &format!("hearth {args:?} (HEARTH_CONFIG={env:?})"));
    out
}

/// `hearth check --config PATH`.
fn check(path: &Path) -> Output {
    hearth(
        &[
            OsStr::new("check"),
            OsStr::new("--config"),
            path.as_os_str(),
        ],
        None,
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// No output of hearth may show a panic or a `{:?}` dump of an internal value.
fn assert_clean(out: &Output, what: &str) {
    const FORBIDDEN: &[&str] = &[
        "panicked",
        "RUST_BACKTRACE",
        "Error {",
        "Os {",
        "{ kind:",
        "Some(",
        "Custom {",
    ];
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let s = text(bytes);
        for f in FORBIDDEN {
            assert!(
                !s.contains(f),
                "{what}: {stream} contains {f:?} (a panic or a debug dump):\n{s}"
            );
        }
    }
}

/// A line diff (longest common subsequence), `-` expected, `+` actual.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        }
    }
    out
}

/// Fixture files (not `.expected`), sorted by name.
fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(corpus_dir())
        .expect("cannot list the corpus directory")
        .map(|e| e.expect("cannot read a corpus entry").path())
        .filter(|p| p.is_file() && p.extension() != Some(OsStr::new("expected")))
        .collect();
    v.sort();
    v
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn invalid_corpus_reports_every_problem_exactly() {
    let cases = fixtures();
    assert!(
        cases.len() >= MIN_CASES,
        "the corpus has {} cases; it must keep at least {MIN_CASES}",
        cases.len()
    );
    let names: Vec<String> = cases.iter().map(|p| name_of(p)).collect();
    for (known, _) in KNOWN_FAILURES {
        assert!(
            names.iter().any(|n| n == known),
            "KNOWN_FAILURES lists '{known}', which is not in the corpus"
        );
    }
    assert!(
        cases.len() - KNOWN_FAILURES.len() >= MIN_CASES,
        "fewer than {MIN_CASES} cases are expected to pass"
    );
    // Every .expected file belongs to a fixture.
    for e in fs::read_dir(corpus_dir()).unwrap() {
        let p = e.unwrap().path();
        if p.extension() == Some(OsStr::new("expected")) {
            assert!(
                p.with_extension("").is_file(),
                "{} has no fixture next to it",
                p.display()
            );
        }
    }

    let mut failures = Vec::new();
    let mut fixed = Vec::new();
    for case in &cases {
        let name = name_of(case);
        let exp_path = case.with_file_name(format!("{name}.expected"));
        let template = fs::read_to_string(&exp_path)
            .unwrap_or_else(|e| panic!("{}: {e} (every fixture needs one)", exp_path.display()));
        assert!(
            !template.trim().is_empty() && template.lines().all(|l| l.starts_with("{FILE}:")),
            "{}: every line must start with {{FILE}}:",
            exp_path.display()
        );
        let expected = template.replace("{FILE}", &case.display().to_string());
        let out = check(case);
        let stderr = text(&out.stderr);
        let code = out.status.code();
        let ok = code == Some(2) && stderr == expected && out.stdout.is_empty();
        let report = format!(
            "fixture '{name}' ({}): exit {code:?} (want Some(2)){}\n{}",
            case.display(),
            if out.stdout.is_empty() {
                String::new()
            } else {
                format!(", stdout {:?}", text(&out.stdout))
            },
            diff(&expected, &stderr)
        );
        match KNOWN_FAILURES.iter().find(|(n, _)| *n == name) {
            Some((_, why)) if !ok => {
                eprintln!("\n!!!!! KNOWN FAILURE (skipped): {name}: {why}\n!!!!! {report}");
            }
            Some(_) => fixed.push(name),
            None if !ok => failures.push(report),
            None => {}
        }
    }
    assert!(
        fixed.is_empty(),
        "these cases now pass: remove them from KNOWN_FAILURES: {fixed:?}"
    );
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases differ (- expected, + actual):\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Whether a file in `configs/` is a UCI config (survey data and notes are not).
fn is_uci(p: &Path) -> bool {
    p.is_file()
        && match p.extension().and_then(OsStr::to_str) {
            None => true,
            Some(ext) => matches!(ext, "conf" | "uci"),
        }
}

#[test]
fn example_configs_are_valid() {
    let mut checked = Vec::new();
    let mut entries: Vec<PathBuf> = fs::read_dir(configs_dir())
        .expect("cannot list configs/")
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries.iter().filter(|p| is_uci(p)) {
        let out = check(p);
        let stdout = text(&out.stdout);
        let prefix = format!("{}: OK (", p.display());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{} should be valid; hearth check said:\n{}{}",
            p.display(),
            stdout,
            text(&out.stderr)
        );
        assert!(
            stdout.starts_with(&prefix) && stdout.ends_with(")\n") && stdout.lines().count() == 1,
            "{}: unexpected stdout {stdout:?}",
            p.display()
        );
        assert!(
            out.stderr.is_empty(),
            "{}: stderr {:?}",
            p.display(),
            text(&out.stderr)
        );
        checked.push(name_of(p));
    }
    for must in ["minimal", "family", "vpn", "demo"] {
        assert!(
            checked.iter().any(|c| c == must),
            "configs/{must} was not checked (checked: {checked:?})"
        );
    }
}

/// Valid configs at the edges of every range: nothing here may be rejected.
#[test]
fn boundary_values_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = "\
config agent
\toption log_level 'debug'
\toption state_dir '/overlay/hearth'
\toption flush_interval '10'
\toption currency 'EUR'

config shaper
\toption device 'eth0.2'
\toption lan_device 'br-lan'
\toption download '100000000'
\toption upload '0'
\toption overhead '-64'
\toption llm_share '100'
\toption leaf 'pfifo'

config shaper 'lte'
\toption device 'wwan0'
\toption overhead '256'
\toption llm_share '0'

config group 'default'
\toption llm_month '.5'
\toption llm_day '2.'
\toption data_month '0.000001'
\toption llm_tokens_day '18446744073709551615'

config group 'kids'
\toption on_exhaust 'downgrade'
\toption downgrade_route 'local'
\toption vpn 'wg0'

config device
\toption mac 'AA-BB-CC-DD-EE-0F'
\toption ip '192.168.1.9'

config device 'kid'
\toption mac '02:00:00:00:00:01'
\toption group 'kids'
\tlist ip 'fd00::9'
\toption on_exhaust 'deny'

config vpn 'wg0'
\toption interface 'wg0'
\toption gateway 'fe80::1'
\toption table '252'
\toption fwmark '0x100/0xff00'
\toption rule_priority '32765'
\toption kill_switch 'enabled'

config vpn 'wg1'
\toption interface 'wg1'
\toption table '256'
\toption fwmark '512'
\toption rule_priority '1'
\toption manage_link 'yes'
\toption private_key_file '/etc/hearth/wg1.key'
\toption listen_port '65535'
\toption address 'fd08::2/128'

config wireguard_peer
\toption vpn 'wg1'
\toption public_key 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg='
\toption endpoint '[2001:db8::1]:51820'
\toption allowed_ips '::/0'
\toption persistent_keepalive '65535'

config balancer
\tlist listen '[fd00::1]:8080'
\tlist listen '127.0.0.1:8080'
\toption max_body '1073741824'
\toption retries '10'
\toption request_timeout '86400'

config endpoint 'local_llm'
\toption url 'http://[fd00::5]:11434/v1/'
\toption price_input '0'
\toption price_output '0.000001'
\toption health_check '0'
\toption weight '1000'
\toption max_connections '10000'

config endpoint 'nas_llm'
\toption url 'http://nas_box.lan:11434'
\toption model 'qwen2.5*'
\toption price_input '0'
\toption price_output '0'

config route 'local'
\tlist endpoint 'local_llm'
\tlist endpoint 'nas_llm'
\toption match_group 'default'
\toption match_prefer 'quality'

config planner 'p'
\toption survey 'survey.csv'
\toption width '1000'
\toption height '0.000001'
\toption floors '10'
\toption target_rssi '-100'

config planner 'q'
\toption target_rssi '-30'
";
    let path = dir.path().join("hearth");
    fs::write(&path, cfg).unwrap();
    let out = check(&path);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a valid config was rejected:\n{}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).starts_with(&format!("{}: OK (", path.display())));
}

#[test]
fn hearth_config_variable_and_precedence() {
    let minimal = configs_dir().join("minimal");
    let family = configs_dir().join("family");
    let check_only = [OsStr::new("check")];

    // HEARTH_CONFIG alone.
    let out = hearth(&check_only, Some(minimal.as_os_str()));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with(&format!("{}: OK (", minimal.display())));

    // --config wins over HEARTH_CONFIG, whichever of the two is broken.
    let missing = corpus_dir().join("no-such-file");
    let with_config = |p: &Path| {
        vec![
            OsStr::new("check").to_os_string(),
            OsStr::new("--config").to_os_string(),
            p.as_os_str().to_os_string(),
        ]
    };
    let args = with_config(&family);
    let args: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let out = hearth(&args, Some(missing.as_os_str()));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with(&format!("{}: OK (", family.display())));

    let args = with_config(&missing);
    let args: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let out = hearth(&args, Some(minimal.as_os_str()));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&missing.display().to_string()));

    // `-c` is the short form, and the option may come before the subcommand.
    let out = hearth(
        &[OsStr::new("-c"), family.as_os_str(), OsStr::new("check")],
        Some(missing.as_os_str()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with(&format!("{}: OK (", family.display())));

    // Neither: the default path, whatever state it is in on this machine, is the one named.
    let out = hearth(&check_only, None);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.lines().all(|l| l.starts_with("/etc/config/hearth:")),
        "without --config and HEARTH_CONFIG, /etc/config/hearth should be checked:\n{all}"
    );

    // Set but empty (`HEARTH_CONFIG= hearth check`) counts as unset, not as a usage error.
    let out = hearth(&check_only, Some(OsStr::new("")));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_ne!(out.status.code(), Some(2), "{all}");
    assert!(
        all.lines().all(|l| l.starts_with("/etc/config/hearth:")),
        "{all}"
    );
}

#[test]
fn missing_config_is_an_io_failure_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("does-not-exist");
    let out = check(&path);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!("{}: ", path.display())) && stderr.lines().count() == 1,
        "stderr should be one line naming the path: {stderr:?}"
    );

    // A directory is not a config file either.
    let out = check(dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).starts_with(&format!("{}: ", dir.path().display())));
}
