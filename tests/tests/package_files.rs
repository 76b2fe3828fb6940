//! The OpenWRT package files agree with the binary: the default config is valid, and the
//! command line the procd init script starts is one hearth accepts, with reload wired to SIGHUP.

use hearth_e2e::{run_hearth, workspace_root};

fn init_script() -> String {
    std::fs::read_to_string(workspace_root().join("openwrt-package/hearth/files/hearth.init"))
        .expect("init script")
}

/// The value of `NAME=...` in the init script.
fn var(script: &str, name: &str) -> String {
    script
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name}= not set in the init script"))
        .to_string()
}

#[test]
fn default_config_passes_check() {
    let cfg = workspace_root().join("openwrt-package/hearth/files/hearth.config");
    let out = run_hearth(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn init_script_runs_the_daemon_with_the_uci_file_and_reloads_by_sighup() {
    let s = init_script();
    assert_eq!(var(&s, "USE_PROCD"), "1");
    assert_eq!(var(&s, "CONF"), "/etc/config/hearth");
    let cmd = s
        .lines()
        .find_map(|l| l.trim().strip_prefix("procd_set_param command "))
        .expect("procd_set_param command");
    let argv: Vec<&str> = cmd
        .split_whitespace()
        .map(|a| a.trim_matches('"'))
        .collect();
    assert_eq!(argv, ["$PROG", "run", "--config", "$CONF"]);
    assert!(s.contains("procd_set_param reload_signal HUP"));
    assert!(s.contains("procd_add_reload_trigger hearth"));
    assert!(
        s.contains("procd_set_param stderr 1"),
        "logs must reach logd"
    );

    // The same flags, with `check` instead of `run`, are accepted by the binary.
    let cfg = workspace_root().join("configs/minimal");
    let out = run_hearth(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success());
}
