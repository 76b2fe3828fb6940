//! The rpcd exec plugin protocol, the way rpcd drives it: the binary is run as
//! `.../rpcd/hearth list` and `.../rpcd/hearth call METHOD` (arguments as JSON on stdin), from
//! a directory named `rpcd` holding a symlink to `hearth` — exactly what the ipk installs at
//! `/usr/libexec/rpcd/hearth`. Checked with the daemon up (a real `hearth run` with a fake
//! upstream and LLM traffic from a known device) and down (every method answers one JSON
//! object with a clear `error`).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hearth_e2e::client::{chat_body, Client, CHAT};
use hearth_e2e::daemon::{balancer_section, endpoint_section, Hearth};
use hearth_e2e::fake_upstream::FakeUpstream;
use hearth_e2e::{hearth_bin, workspace_root};
use serde_json::Value;

/// `DIR/rpcd/hearth`, a symlink to the hearth binary under test.
fn plugin(dir: &Path) -> PathBuf {
    let rpcd = dir.join("rpcd");
    std::fs::create_dir_all(&rpcd).expect("mkdir rpcd");
    let link = rpcd.join("hearth");
    if !link.exists() {
        std::os::unix::fs::symlink(hearth_bin(), &link).expect("symlink the plugin");
    }
    link
}

/// Runs the plugin with `args`, `stdin` and `HEARTH_CONFIG=config`; returns the one JSON
/// object it printed (and checks it printed exactly one line and exited 0).
fn run(plugin: &Path, config: &Path, args: &[&str], stdin: &str) -> Value {
    let mut child = Command::new(plugin)
        .args(args)
        .env("HEARTH_CONFIG", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the plugin");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write the arguments");
    let out = child.wait_with_output().expect("wait for the plugin");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?} exited {:?}: {text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().count(),
        1,
        "{args:?}: one line of JSON: {text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"));
    assert!(v.is_object(), "{args:?}: rpcd accepts only an object: {v}");
    v
}

#[test]
fn list_prints_every_method_with_typed_example_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let p = plugin(dir.path());
    let cfg = workspace_root().join("configs/minimal");
    let v = run(&p, &cfg, &["list"], "");
    let methods: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        methods,
        ["devices", "endpoints", "plan", "status", "usage"],
        "{v}"
    );
    for (m, args) in v.as_object().unwrap() {
        assert!(args.is_object(), "{m}: the signature is an object: {args}");
    }
    assert!(v["usage"]["device"].is_string() && v["usage"]["group"].is_string());
    // The same through the subcommand.
    let out = Command::new(hearth_bin())
        .args(["rpcd", "list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), v);
}

#[test]
fn a_wrong_verb_is_a_usage_error_with_a_json_answer() {
    let dir = tempfile::tempdir().unwrap();
    let p = plugin(dir.path());
    let out = Command::new(&p).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["error"]
        .as_str()
        .unwrap()
        .contains("'list' or 'call METHOD'"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_with_the_daemon_up_and_down() {
    let up = FakeUpstream::start("local").await;
    let device_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 21));
    let h = Hearth::start(|s| {
        let mut t = balancer_section(s.listen, &[]);
        t.push_str(
            "config group 'kids'\n\toption llm_month '5'\n\
             config device 'tablet'\n\toption mac '02:00:00:00:00:21'\n\tlist ip '127.0.0.21'\n\
             \toption group 'kids'\n\toption label 'Tablet'\n",
        );
        t.push_str(&endpoint_section(
            "local",
            &up.base_url(),
            &["m"],
            &[("price_input", "1000"), ("price_output", "1000")],
        ));
        t
    })
    .await;
    // Some LLM traffic from the tablet.
    for _ in 0..3 {
        let mut c = Client::connect_from(h.addr, device_ip).await;
        let a = c
            .send("POST", CHAT, &[], &chat_body("m", false, None))
            .await
            .expect("answered");
        assert_eq!(a.status, 200, "{}", a.text());
    }
    h.wait_settlements(3).await;
    // The plugin and a copy of the config outlive the daemon's directory.
    let keep = tempfile::tempdir().unwrap();
    let p = plugin(keep.path());
    let cfg = keep.path().join("hearth");
    std::fs::copy(h.config_path(), &cfg).expect("copy the config");

    let st = run(&p, &cfg, &["call", "status"], "{}");
    assert_eq!(st["version"], env!("CARGO_PKG_VERSION"), "{st}");
    assert_eq!(st["subsystems"]["balancer"], true, "{st}");
    assert_eq!(st["subsystems"]["control"], true, "{st}");
    assert!(st["links"].is_array(), "{st}");
    assert!(st["shaping"].is_object(), "{st}");

    let dv = run(&p, &cfg, &["call", "devices"], "");
    let tablet = &dv["devices"][0];
    assert_eq!(tablet["name"], "tablet", "{dv}");
    assert_eq!(tablet["label"], "Tablet");
    assert_eq!(tablet["group"], "kids");
    assert_eq!(tablet["mac"], "02:00:00:00:00:21");
    assert_eq!(tablet["llm_requests"], 3, "{dv}");
    assert_eq!(tablet["llm_month_limit"], 5_000_000, "{dv}");
    assert!(tablet["llm_spent_month"].as_u64().unwrap() > 0, "{dv}");

    let ep = run(&p, &cfg, &["call", "endpoints"], "{}");
    let local = &ep["endpoints"][0];
    assert_eq!(local["name"], "local", "{ep}");
    assert_eq!(local["healthy"], true, "{ep}");
    assert_eq!(local["requests"], 3, "{ep}");
    assert_eq!(local["in_flight"], 0, "{ep}");
    assert!(
        local["latency_ms"].is_u64(),
        "measured after 3 requests: {ep}"
    );

    let us = run(&p, &cfg, &["call", "usage"], r#"{"device": "tablet"}"#);
    let rows = us["rows"].as_array().expect("rows");
    assert!(
        rows.iter().any(|r| r["scope"] == "group:kids"
            && r["limit"] == 5_000_000
            && r["resets_at"].is_string()),
        "{us}"
    );
    assert!(rows.iter().all(|r| r["scope"] != "device:other"));

    let plan = run(&p, &cfg, &["call", "plan"], "{}");
    assert!(
        plan["error"]
            .as_str()
            .unwrap()
            .contains("no survey configured"),
        "{plan}"
    );

    let bad = run(&p, &cfg, &["call", "status"], "not json");
    assert!(bad["error"].as_str().unwrap().contains("not valid JSON"));

    // Daemon down: every live method says so, as one JSON object.
    let (status, _) = h.terminate().await;
    assert!(status.success());
    for m in ["status", "devices", "usage", "endpoints"] {
        let v = run(&p, &cfg, &["call", m], "{}");
        let e = v["error"].as_str().unwrap_or_else(|| panic!("{m}: {v}"));
        assert!(e.contains("hearth is not running"), "{m}: {e}");
    }
}

#[test]
fn plan_runs_the_configured_survey_and_embeds_the_svg() {
    let dir = tempfile::tempdir().unwrap();
    let p = plugin(dir.path());
    let root = workspace_root();
    let cfg = dir.path().join("hearth");
    std::fs::write(
        &cfg,
        format!(
            "config planner 'home'\n\toption survey '{}'\n\tlist ap 'main:1,1,0:wifi5'\n",
            root.join("configs/demo-survey.csv").display()
        ),
    )
    .unwrap();
    let v = run(&p, &cfg, &["call", "plan"], "{}");
    assert!(v["error"].is_null(), "{v}");
    assert!(v["report"]["recommendation"]["title"].is_string(), "{v}");
    let svg = v["svg"].as_str().expect("svg string");
    assert!(
        svg.starts_with("<svg") || svg.starts_with("<?xml"),
        "{}",
        &svg[..60.min(svg.len())]
    );
}
