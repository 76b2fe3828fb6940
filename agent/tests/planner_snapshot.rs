//! `hearth plan --snapshot FILE`: live radio data (as `hearth plan --collect` writes it, the
//! schema of docs/planner.md "Live radio data") changes what the planner knows — measured
//! channel load, the client census, the router's own hardware — and so its advice.
//!
//! The survey is `tests/fixtures/planner/busy_6e.json` (a Wi-Fi 6 router, coverage fine, 5 GHz
//! busy, mostly 6E clients), with its census and channel load taken out where a test wants
//! them to come from the router instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/planner")
}

fn hearth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .env_remove("HEARTH_CONFIG")
        .output()
        .expect("run hearth")
}

/// The busy_6e survey without the keys in `drop`, written to `dir`.
fn survey_without(dir: &Path, drop: &[&str]) -> PathBuf {
    let text = std::fs::read_to_string(fixtures().join("busy_6e.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    for k in drop {
        v.as_object_mut().unwrap().remove(*k);
    }
    let p = dir.join("survey.json");
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

fn band(b: &str, he: bool, six_ok: bool) -> Value {
    json!({"band": b, "channels": 11, "ht": b != "6", "vht": b == "5", "he": he || (b == "6" && six_ok), "eht": false})
}

/// A snapshot of one router radio set (`six`: it has 6 GHz) with 5 GHz `busy` and stations.
fn snapshot(dir: &Path, six: bool, busy5: f64, clients: Value, stations: Value) -> PathBuf {
    let mut bands = vec![band("2.4", true, false), band("5", true, false)];
    if six {
        bands.push(band("6", true, true));
    }
    let v = json!({
        "schema": "hearth.wifi.snapshot",
        "version": 1,
        "collected_at": 1_764_000_000u64,
        "duration_s": 30.0,
        "radios": [{"name": "phy0", "bands": bands}],
        "interfaces": [{"name": "wlan1", "radio": "phy0", "kind": "ap", "freq_mhz": 5180, "width_mhz": 80}],
        "stations": stations,
        "channels": [{"radio": "phy0", "freq_mhz": 5180, "operating": true, "active_ms": 30000,
                      "busy_ms": (busy5 * 30000.0) as u64, "utilization": busy5, "method": "delta"}],
        "channel_busy": {"5": busy5},
        "census": {"stations": clients["total"], "clients": clients},
    });
    let p = dir.join("snap.json");
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    p
}

fn plan(dir: &Path, survey: &Path, snap: Option<&Path>) -> Value {
    let cfg = dir.join("hearth");
    std::fs::write(
        &cfg,
        "config planner 'home'\n\toption budget '400'\n\toption target_rssi '-67'\n",
    )
    .unwrap();
    let mut args = vec![
        "--config",
        cfg.to_str().unwrap(),
        "plan",
        "--json",
        "--survey",
        survey.to_str().unwrap(),
    ];
    if let Some(s) = snap {
        args.extend(["--snapshot", s.to_str().unwrap()]);
    }
    let out = hearth(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn option<'a>(v: &'a Value, kind: &str) -> &'a Value {
    v["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap()
}

fn evidence(o: &Value, metric: &str) -> Option<f64> {
    o["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["metric"] == metric)
        .and_then(|e| e["value"].as_f64())
}

fn notes(v: &Value) -> String {
    v["input"]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn station(mac: &str, signal: i32) -> Value {
    json!({"interface": "wlan1", "mac": mac, "band": "5", "signal_dbm": signal,
           "tx": {"mbps": 576.5, "mode": "he", "mcs": 11, "nss": 2, "width_mhz": 80, "gi_us": 0.8},
           "generation": "wifi6"})
}

#[test]
fn measured_channel_load_with_the_surveys_census_recommends_6e() {
    let dir = tempfile::tempdir().unwrap();
    let survey = survey_without(dir.path(), &["channel_busy"]);
    // Without live data the 5 GHz load is unknown, so Wi-Fi 6E is not recommended.
    let before = plan(dir.path(), &survey, None);
    assert_ne!(before["recommendation"]["kind"], "upgrade_6e");
    assert_eq!(
        evidence(option(&before, "upgrade_6e"), "channel_busy_5ghz"),
        None
    );
    // The router measured 72% busy on its 5 GHz channel.
    let clients = json!({"total": 3, "wifi6": 3});
    let stations = json!([
        station("aa:00:00:00:00:01", -52),
        station("aa:00:00:00:00:02", -71),
        station("aa:00:00:00:00:03", -60)
    ]);
    let snap = snapshot(dir.path(), false, 0.72, clients, stations);
    let after = plan(dir.path(), &survey, Some(&snap));
    assert_eq!(
        after["recommendation"]["kind"], "upgrade_6e",
        "{}",
        after["recommendation"]
    );
    let six = option(&after, "upgrade_6e");
    assert_eq!(evidence(six, "channel_busy_5ghz"), Some(72.0));
    assert_eq!(after["input"]["channel_busy"]["5"], 0.72);
    let n = notes(&after);
    assert!(
        n.contains("channel_busy 5 GHz: 72% measured by the router"),
        "{n}"
    );
    assert!(n.contains("census (14 clients) is kept"), "{n}");
    assert!(
        n.contains("3 heard, median signal -60 dBm, weakest -71 dBm (aa:00:00:00:00:02 on 5 GHz); 1 below the target -67 dBm"),
        "{n}"
    );
}

#[test]
fn a_live_census_fills_a_survey_without_one_and_says_it_is_a_lower_bound() {
    let dir = tempfile::tempdir().unwrap();
    let survey = survey_without(dir.path(), &["channel_busy", "clients"]);
    // A Wi-Fi 6 router sees its 6E-capable clients as Wi-Fi 6 (HE on 5 GHz): the census
    // cannot show them, and the planner says why 6E is not recommended.
    let clients = json!({"total": 4, "wifi5": 1, "wifi6": 3});
    let snap = snapshot(dir.path(), false, 0.72, clients, json!([]));
    let v = plan(dir.path(), &survey, Some(&snap));
    assert_eq!(v["input"]["clients"]["total"], 4);
    assert_eq!(v["input"]["clients"]["wifi6e"], 0);
    assert_ne!(v["recommendation"]["kind"], "upgrade_6e");
    let six = option(&v, "upgrade_6e");
    assert_eq!(evidence(six, "clients_6ghz_capable"), Some(0.0));
    assert!(
        six["verdict"]
            .as_str()
            .unwrap()
            .contains("only 0 of 4 clients can use 6 GHz"),
        "{}",
        six["verdict"]
    );
    assert!(notes(&v).contains("a lower bound on what the clients support"));
}

#[test]
fn a_router_that_already_has_6ghz_is_not_told_to_buy_one() {
    let dir = tempfile::tempdir().unwrap();
    let survey = survey_without(dir.path(), &[]);
    let clients = json!({"total": 2, "wifi6e": 2});
    let snap = snapshot(dir.path(), true, 0.72, clients, json!([]));
    let v = plan(dir.path(), &survey, Some(&snap));
    assert_eq!(v["input"]["aps"][0]["standard"], "wifi6e");
    assert_eq!(v["input"]["aps"][0]["bands"], json!(["2.4", "5", "6"]));
    assert_ne!(v["recommendation"]["kind"], "upgrade_6e");
    let verdict = option(&v, "upgrade_6e")["verdict"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(verdict.contains("already wifi6e"), "{verdict}");
    assert!(notes(&v).contains("taken as wifi6e with 2.4/5/6 GHz"));
}

#[test]
fn a_bad_snapshot_field_is_named_and_nothing_is_planned() {
    let dir = tempfile::tempdir().unwrap();
    let survey = survey_without(dir.path(), &[]);
    let snap = snapshot(
        dir.path(),
        false,
        0.5,
        json!({"total": 1, "wifi6": 1}),
        json!([station("aa:00:00:00:00:01", -50)]),
    );
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&snap).unwrap()).unwrap();
    v["stations"][0]["signal_dbm"] = json!("strong");
    std::fs::write(&snap, v.to_string()).unwrap();
    let out = hearth(&[
        "plan",
        "--survey",
        survey.to_str().unwrap(),
        "--snapshot",
        snap.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}: stations[0].signal_dbm: expected a number, got a string",
            snap.display()
        )),
        "{err}"
    );
}

#[test]
fn the_documented_example_snapshot_reads() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/snapshot-example.json");
    let survey = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/survey-example.json");
    let out = hearth(&[
        "plan",
        "--json",
        "--survey",
        survey.to_str().unwrap(),
        "--snapshot",
        example.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        notes(&v).contains("measured by the router"),
        "{}",
        notes(&v)
    );
}
