//! The rpcd exec plugin: how LuCI reads hearth. rpcd runs every executable in
//! `/usr/libexec/rpcd/` as `PLUGIN list` at start (it prints the methods, each with example
//! arguments whose JSON types give the ubus signature) and `PLUGIN call METHOD` for each ubus
//! call (arguments as one JSON object on stdin; it prints one JSON object). The object is
//! named after the file: `/usr/libexec/rpcd/hearth` → ubus object `hearth`
//! (openwrt/rpcd plugin.c). The package installs that file as a symlink to `/usr/bin/hearth`;
//! `main` recognises the plugin by its directory, and `hearth rpcd list|call M` does the same.
//!
//! Methods (the LuCI ACL grants exactly these):
//! - `status`: the agent (version, uptime, subsystems, kernel capabilities, link states);
//! - `devices`: each device's identity, group, rates, bytes and LLM use;
//! - `usage`: budget accounts (spent, limit, reset), optionally for one `device` or `group`;
//! - `endpoints`: LLM endpoints (health, latency, in flight, totals);
//! - `plan`: the Wi-Fi planner's report for the configured survey, with the SVG heatmap.
//!
//! All but `plan` ask the running daemon over its control socket; when it is not running the
//! answer is `{"error": "..."}` saying so. `plan` runs the planner here (same code as
//! `hearth plan --json`): it needs only the config and the survey file.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::config::{self, Config};

/// Every method, with the example arguments `list` prints.
pub fn methods() -> Value {
    json!({
        "status": {},
        "devices": {},
        "usage": {"device": "tablet", "group": "kids"},
        "endpoints": {},
        "plan": {},
    })
}

/// Whether `argv0` is the plugin path (`.../rpcd/hearth`): rpcd runs it by that name.
pub fn invoked_as_plugin(argv0: &Path) -> bool {
    argv0
        .parent()
        .and_then(|d| d.file_name())
        .is_some_and(|d| d == "rpcd")
}

/// Runs the protocol for `args` (after the program name): prints the answer, returns the
/// exit code (0 for every answer rpcd can pass on, errors included; 2 for a wrong verb).
pub fn main(args: &[String], config_path: PathBuf) -> u8 {
    match args.first().map(String::as_str) {
        Some("list") => {
            println!("{}", methods());
            0
        }
        Some("call") => {
            let method = args.get(1).map(String::as_str).unwrap_or("");
            let mut input = String::new();
            let answer = match std::io::stdin().read_to_string(&mut input) {
                Ok(_) => call(method, &input, &config_path),
                Err(e) => error(format!("cannot read the arguments on stdin: {e}")),
            };
            println!("{answer}");
            0
        }
        other => {
            eprintln!(
                "hearth rpcd: expected 'list' or 'call METHOD' (the rpcd exec plugin protocol), got {}",
                other.map_or("nothing".to_string(), |o| format!("'{o}'"))
            );
            println!("{}", error("expected 'list' or 'call METHOD'".to_string()));
            2
        }
    }
}

fn error(message: String) -> Value {
    json!({ "error": message })
}

/// Answers `call METHOD` with the JSON arguments `input` (empty = none).
pub fn call(method: &str, input: &str, config_path: &Path) -> Value {
    let args: Value = if input.trim().is_empty() {
        json!({})
    } else {
        match serde_json::from_str(input) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return error("the arguments must be a JSON object".into()),
            Err(e) => return error(format!("the arguments are not valid JSON: {e}")),
        }
    };
    if methods().get(method).is_none() {
        return error(format!(
            "unknown method '{method}'; known: status, devices, usage, endpoints, plan"
        ));
    }
    let cfg = config::load(config_path);
    if method == "plan" {
        return match &cfg {
            Ok(c) => {
                crate::planner::run::report_for(c).unwrap_or_else(|e| error(e.lines().join("; ")))
            }
            Err(e) => error(format!(
                "{} is not valid (run 'hearth check'): {}",
                config_path.display(),
                e.lines().first().cloned().unwrap_or_default()
            )),
        };
    }
    let socket = socket_of(cfg.as_ref().ok());
    let path = match method {
        "status" => "/status",
        "devices" => "/devices",
        "usage" => "/usage",
        _ => "/endpoints",
    };
    let mut v = match fetch(&socket, path) {
        Ok(v) => v,
        Err(e) => return error(e),
    };
    if method == "usage" {
        let device = args["device"].as_str().filter(|s| !s.is_empty());
        let group = args["group"].as_str().filter(|s| !s.is_empty());
        if let (Ok(c), true) = (&cfg, device.is_some() || group.is_some()) {
            let rows = v["rows"].as_array().cloned().unwrap_or_default();
            v["rows"] = Value::Array(crate::budget::report::filter(c, rows, device, group));
        }
        if let Ok(c) = &cfg {
            v["currency"] = c.agent.currency.clone().into();
        }
    }
    v
}

/// The control socket of the config (the default runtime_dir when it does not load).
fn socket_of(cfg: Option<&Config>) -> PathBuf {
    cfg.map_or_else(
        || config::Agent::default().runtime_dir,
        |c| c.agent.runtime_dir.clone(),
    )
    .join(crate::control::SOCKET_NAME)
}

/// `GET path` on the control socket, as a JSON object.
fn fetch(socket: &Path, path: &str) -> Result<Value, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let (status, body) = rt
        .block_on(crate::control::get(socket, path))
        .map_err(|e| {
            format!(
                "hearth is not running (no answer on {}: {e}); start it with /etc/init.d/hearth start",
                socket.display()
            )
        })?;
    let v: Value = serde_json::from_str(&body)
        .map_err(|e| format!("unreadable answer from hearth ({status}): {e}"))?;
    if !status.is_success() && v.get("error").is_none() {
        return Err(format!("hearth answered {status}"));
    }
    match v {
        Value::Object(_) => Ok(v),
        _ => Err("hearth answered something other than a JSON object".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_is_recognised_by_its_directory() {
        assert!(invoked_as_plugin(Path::new("/usr/libexec/rpcd/hearth")));
        assert!(!invoked_as_plugin(Path::new("/usr/bin/hearth")));
        assert!(!invoked_as_plugin(Path::new("hearth")));
    }

    #[test]
    fn bad_calls_get_an_error_object() {
        let p = Path::new("/nonexistent/hearth");
        assert!(call("nope", "", p)["error"]
            .as_str()
            .unwrap()
            .contains("unknown method 'nope'"));
        assert!(call("status", "[1]", p)["error"]
            .as_str()
            .unwrap()
            .contains("JSON object"));
        assert!(call("status", "{", p)["error"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"));
    }

    #[test]
    fn without_a_daemon_the_error_says_it_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("hearth");
        std::fs::write(
            &cfg,
            format!(
                "config agent main\n option runtime_dir '{}'\n",
                dir.path().display()
            ),
        )
        .unwrap();
        for m in ["status", "devices", "usage", "endpoints"] {
            let v = call(m, "{}", &cfg);
            assert!(
                v["error"]
                    .as_str()
                    .unwrap()
                    .contains("hearth is not running"),
                "{m}: {v}"
            );
        }
        let v = call("plan", "{}", &cfg);
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("no survey configured"),
            "{v}"
        );
    }
}
