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

#[test]
fn init_script_and_uci_defaults_parse_as_sh() {
    for f in ["hearth.init", "hearth.uci-defaults"] {
        let path = workspace_root()
            .join("openwrt-package/hearth/files")
            .join(f);
        let out = std::process::Command::new("sh")
            .arg("-n")
            .arg(&path)
            .output()
            .expect("run sh -n");
        assert!(
            out.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Sources the init script the way rc.common does, with procd's and libuci's shell API
/// replaced by stubs that record every call, and a UCI world where hearth shapes
/// `pppoe-wan` (the `wan` interface) and `br-lan` (`lan`) but not `br-guest`.
const PROCD_STUBS: &str = r#"
calls() { echo "$*" >>"$LOG"; }
procd_open_instance() { calls open_instance "$@"; }
procd_set_param() { calls set_param "$@"; }
procd_close_instance() { calls close_instance; }
procd_add_reload_trigger() { calls reload_trigger "$@"; }
procd_add_interface_trigger() { calls interface_trigger "$@"; }
procd_send_signal() { calls send_signal "$@"; }
ubus() { calls ubus "$@"; }
start() { calls start "$@"; }
config_load() { CFG=$1; }
config_foreach() {
	local fn=$1 type=$2 s
	shift 2
	case "$CFG/$type" in
		hearth/shaper) set -- wan_shaper ;;
		network/interface) set -- loopback lan guest wan wan6 ;;
		*) set -- ;;
	esac
	for s in "$@"; do "$fn" "$s"; done
}
config_get() {
	case "$CFG/$2/$3" in
		hearth/wan_shaper/device) eval "$1=pppoe-wan" ;;
		hearth/wan_shaper/lan_device) eval "$1=br-lan" ;;
		*) eval "$1=" ;;
	esac
}
network_get_device() {
	case "$2" in
		loopback) eval "$1=lo" ;; lan) eval "$1=br-lan" ;; guest) eval "$1=br-guest" ;;
		wan) eval "$1=pppoe-wan" ;; wan6) eval "$1=pppoe-wan" ;; *) eval "$1=" ;;
	esac
}
network_get_physdev() {
	case "$2" in wan|wan6) eval "$1=eth1" ;; *) eval "$1=" ;; esac
}
"#;

fn run_init(action: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls");
    let script = format!(
        "{PROCD_STUBS}\n. '{}'\n{action}\n",
        workspace_root()
            .join("openwrt-package/hearth/files/hearth.init")
            .display()
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("LOG", &log)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "{action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn init_script_starts_one_respawning_instance_logging_to_logd() {
    let calls = run_init("start_service");
    assert_eq!(
        calls,
        [
            "open_instance hearth",
            "set_param command /usr/bin/hearth run --config /etc/config/hearth",
            "set_param respawn 3600 5 5",
            "set_param stdout 1",
            "set_param stderr 1",
            "set_param limits nofile=8192 8192",
            "set_param term_timeout 15",
            "set_param reload_signal HUP",
            "close_instance",
        ]
    );
}

#[test]
fn init_script_reloads_on_config_change_and_on_shaped_interfaces() {
    let calls = run_init("service_triggers");
    assert_eq!(
        calls,
        [
            "reload_trigger hearth",
            "interface_trigger interface.* lan /etc/init.d/hearth reload",
            "interface_trigger interface.* wan /etc/init.d/hearth reload",
            "interface_trigger interface.* wan6 /etc/init.d/hearth reload",
        ],
        "the guest and loopback interfaces carry no shaped device"
    );
}

#[test]
fn init_script_reload_sends_sighup_and_boot_waits_for_the_network() {
    assert_eq!(
        run_init("reload_service"),
        ["send_signal hearth hearth HUP"]
    );
    assert_eq!(
        run_init("boot"),
        ["ubus -t 30 wait_for network.interface", "start"]
    );
}

#[test]
fn init_script_without_shapers_adds_only_the_config_trigger() {
    let calls = run_init("config_foreach() { :; }\nservice_triggers");
    assert_eq!(calls, ["reload_trigger hearth"]);
}
