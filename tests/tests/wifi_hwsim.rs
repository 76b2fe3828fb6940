//! The nl80211 collector on real kernel radios: two `mac80211_hwsim` radios, each moved into a
//! namespace of this test — hostapd (open network, 2.4 GHz channel 1, 802.11n) on one,
//! wpa_supplicant on the other — associated, a few pings between them, then
//! `hearth plan --collect 2 --out F` in the AP's namespace. The snapshot must show the station
//! with a plausible signal and rates, survey data with a utilization in 0..1 and the radio's
//! bands; `iw` (an independent nl80211 client, built on libnl) must report the same signal,
//! transmit rate, survey counters and bands.
//!
//! The host kernel has no mac80211_hwsim: there the test skips loudly. In the VM lane
//! (`scripts/vm-test.sh`, which loads mac80211_hwsim with 2 radios and puts hostapd,
//! wpa_supplicant and iw into the guest) a missing module or tool is a failure.
//!
//! hwsim's survey counts time only on channels it visited while scanning (drivers/net/
//! wireless/mac80211_hwsim.c, `mac80211_hwsim_get_survey`: busy = 1/8 of the dwell time), so
//! the AP radio scans once before hostapd starts, and its counters do not move afterwards:
//! the snapshot's utilization is then the since-start ratio (`"method": "cumulative"`).

use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use hearth_e2e::netns::{can_run, hearth, in_vm_lane, Netns};
use serde_json::Value;

const TOOLS: &[&str] = &["ip", "iw", "hostapd", "wpa_supplicant", "ping"];
const SSID: &str = "hearth-hwsim";
/// Channel 1: allowed for an AP in the world regulatory domain the guest starts with.
const FREQ: u64 = 2412;
const BOUND: Duration = Duration::from_secs(60);

/// The wiphys mac80211_hwsim made, with their network interface: `(phy, netdev)`.
fn hwsim_radios() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/sys/class/ieee80211") else {
        return out;
    };
    let mut phys: Vec<String> = dir
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    phys.sort();
    for phy in phys {
        let dev = Path::new("/sys/class/ieee80211").join(&phy).join("device");
        let is_hwsim = std::fs::canonicalize(&dev)
            .map(|p| p.to_string_lossy().contains("mac80211_hwsim"))
            .unwrap_or(false);
        let netdev = std::fs::read_dir(dev.join("net"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned());
        if let (true, Some(n)) = (is_hwsim, netdev) {
            out.push((phy, n));
        }
    }
    out
}

/// Polls `check` every 200 ms until it returns `Some`, at most `limit`; panics with `what`.
fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        sleep(Duration::from_millis(200));
    }
}

fn run(ns: &Netns, args: &[&str]) -> (bool, String) {
    let out = ns.output(args, BOUND);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The first number after `key` on the line that starts with it (iw's `key:\t-30 [..] dBm`).
fn iw_number(block: &str, key: &str) -> Option<f64> {
    block
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(key))
        .and_then(|l| l[key.len()..].split_whitespace().next())
        .and_then(|w| w.trim_end_matches("Mbps").parse().ok())
}

/// iw's survey block for `freq` (`iw dev X survey dump`).
fn iw_survey_block(dump: &str, freq: u64) -> Option<String> {
    dump.split("Survey data from")
        .find(|b| {
            b.lines()
                .any(|l| l.trim().starts_with("frequency:") && l.contains(&format!("{freq} MHz")))
        })
        .map(str::to_string)
}

/// Bands (`"2.4"`, `"5"`, `"6"`) iw lists for the phy, each with whether it has HE and EHT
/// capabilities (`iw phy X info`: "Band N:" blocks; N = nl80211_band + 1).
fn iw_bands(info: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    for block in info.split("\tBand ").skip(1) {
        let n: u32 = block
            .split(':')
            .next()
            .and_then(|d| d.trim().parse().ok())
            .unwrap_or(0);
        let label = match n {
            1 => "2.4",
            2 => "5",
            4 => "6",
            _ => continue,
        };
        out.push((
            label.to_string(),
            block.contains("HE Iftypes"),
            block.contains("EHT Iftypes"),
        ));
    }
    out
}

#[test]
fn hearth_collects_station_survey_and_radio_data_that_iw_confirms() {
    let name = "hearth_collects_station_survey_and_radio_data_that_iw_confirms";
    // The radios first: on a host without mac80211_hwsim that is the reason to skip.
    let radios = hwsim_radios();
    if radios.len() < 2 && !in_vm_lane() {
        eprintln!(
            "SKIPPED {name}: no mac80211_hwsim ({} hwsim radio(s) here; `modprobe mac80211_hwsim radios=2` runs it on this host, scripts/vm-test.sh in the VM lane)",
            radios.len()
        );
        return;
    }
    if !can_run(name, TOOLS) {
        return;
    }
    assert!(
        radios.len() >= 2,
        "{name}: the VM lane must have 2 mac80211_hwsim radios (scripts/vm/modules.list), found {radios:?}"
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let (ap_phy, ap_if) = radios[0].clone();
    let (sta_phy, sta_if) = radios[1].clone();
    let ap = Netns::create("wifi", "ap");
    let sta = Netns::create("wifi", "sta");
    // Each radio (with its interface) into its own namespace; they come back to the initial
    // namespace when these are deleted (cfg80211 does that on namespace exit).
    for (phy, ns) in [(&ap_phy, &ap), (&sta_phy, &sta)] {
        let out = hearth_e2e::netns::must(&["iw", "phy", phy, "set", "netns", "name", &ns.name]);
        assert!(out.status.success());
    }
    ap.must(&["ip", "link", "set", &ap_if, "up"]);
    // A scan gives hwsim's survey something to report (see the header).
    wait_for("a scan on the AP radio", BOUND, || {
        run(&ap, &["iw", "dev", &ap_if, "scan"]).0.then_some(())
    });
    ap.must(&["ip", "link", "set", &ap_if, "down"]);

    let hostapd_conf = tmp.path().join("hostapd.conf");
    std::fs::write(
        &hostapd_conf,
        format!(
            "interface={ap_if}\ndriver=nl80211\nssid={SSID}\nhw_mode=g\nchannel=1\n\
             ieee80211n=1\nwmm_enabled=1\n"
        ),
    )
    .unwrap();
    let hostapd_log = tmp.path().join("hostapd.log");
    let _hostapd = ap.spawn_to(
        &["hostapd", hostapd_conf.to_str().unwrap()],
        std::fs::File::create(&hostapd_log).unwrap(),
    );
    let log = |p: &PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    wait_for(
        &format!("hostapd to start the AP; its log:\n{}", log(&hostapd_log)),
        BOUND,
        || {
            let (_, info) = run(&ap, &["iw", "dev", &ap_if, "info"]);
            info.contains("type AP").then_some(())
        },
    );
    let wpa_conf = tmp.path().join("wpa.conf");
    std::fs::write(
        &wpa_conf,
        format!("network={{\n\tssid=\"{SSID}\"\n\tkey_mgmt=NONE\n\tscan_freq={FREQ}\n}}\n"),
    )
    .unwrap();
    let wpa_log = tmp.path().join("wpa.log");
    let _wpa = sta.spawn_to(
        &[
            "wpa_supplicant",
            "-i",
            &sta_if,
            "-D",
            "nl80211",
            "-c",
            wpa_conf.to_str().unwrap(),
        ],
        std::fs::File::create(&wpa_log).unwrap(),
    );
    let started = Instant::now();
    wait_for("the station to associate", BOUND, || {
        let (_, link) = run(&sta, &["iw", "dev", &sta_if, "link"]);
        link.contains("Connected to").then_some(())
    });
    eprintln!("associated after {:.1} s", started.elapsed().as_secs_f64());
    // Some unicast data both ways, so both ends have data rates (not just management frames).
    ap.must(&["ip", "addr", "add", "10.77.0.1/24", "dev", &ap_if]);
    sta.must(&["ip", "addr", "add", "10.77.0.2/24", "dev", &sta_if]);
    sta.must(&["ip", "link", "set", &sta_if, "up"]);
    wait_for("pings from the station to the AP", BOUND, || {
        run(&sta, &["ping", "-c", "5", "-W", "2", "10.77.0.1"])
            .0
            .then_some(())
    });
    let sta_mac = sta
        .must(&["cat", &format!("/sys/class/net/{sta_if}/address")])
        .trim()
        .to_string();

    // === hearth collects, in the AP's namespace ===
    let snap_path = tmp.path().join("snap.json");
    let capture = tmp.path().join("capture");
    std::fs::create_dir(&capture).unwrap();
    let t0 = Instant::now();
    let out = ap.output(
        &[
            "env",
            &format!("HEARTH_WIFI_CAPTURE={}", capture.display()),
            hearth().to_str().unwrap(),
            "plan",
            "--collect",
            "2",
            "--out",
            snap_path.to_str().unwrap(),
        ],
        BOUND,
    );
    let took = t0.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "hearth plan --collect failed: {stderr}"
    );
    eprintln!("hearth plan --collect 2 took {took:.1} s:\n{stderr}");
    // The independent observer, right after.
    let (ok, iw_station) = run(&ap, &["iw", "dev", &ap_if, "station", "dump"]);
    assert!(ok, "{iw_station}");
    let (ok, iw_survey) = run(&ap, &["iw", "dev", &ap_if, "survey", "dump"]);
    assert!(ok, "{iw_survey}");
    let (ok, iw_phy) = run(&ap, &["iw", "phy", &ap_phy, "info"]);
    assert!(ok, "{iw_phy}");
    // Raw replies, for fixtures and bug reports (shown with --nocapture).
    for e in std::fs::read_dir(&capture).unwrap().flatten() {
        println!(
            "CAPTURE {}:\n{}",
            e.file_name().to_string_lossy(),
            std::fs::read_to_string(e.path()).unwrap_or_default()
        );
    }
    println!("IW STATION:\n{iw_station}\nIW SURVEY:\n{iw_survey}");
    let text = std::fs::read_to_string(&snap_path).expect("the snapshot file");
    let snap: Value = serde_json::from_str(&text).expect("the snapshot is JSON");
    println!("SNAPSHOT:\n{text}");
    assert_eq!(snap["schema"], "hearth.wifi.snapshot");
    assert_eq!(snap["version"], 1);
    let window = snap["duration_s"].as_f64().unwrap();
    assert!(
        (2.0..took).contains(&window),
        "window {window} s, run {took} s"
    );

    // Radios: only the AP's is in this namespace; bands and HE/EHT as iw lists them.
    let radios = snap["radios"].as_array().unwrap();
    assert_eq!(radios.len(), 1, "{radios:?}");
    assert_eq!(radios[0]["name"], ap_phy.as_str());
    let mut ours: Vec<(String, bool, bool)> = radios[0]["bands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["band"].as_str().unwrap().to_string(),
                b["he"] == true,
                b["eht"] == true,
            )
        })
        .collect();
    let mut theirs = iw_bands(&iw_phy);
    // An iw older than the kernel prints no EHT capabilities at all: compare bands and HE.
    if !iw_phy.contains("EHT") {
        eprintln!("note: this iw prints no EHT capabilities; EHT is not compared");
        theirs.iter_mut().for_each(|b| b.2 = false);
        ours.iter_mut().for_each(|b| b.2 = false);
    }
    assert_eq!(ours, theirs, "bands (band, HE, EHT): hearth vs iw");
    assert!(ours.iter().any(|b| b.0 == "2.4") && ours.iter().any(|b| b.0 == "5"));

    // The AP interface on channel 1.
    let iface = snap["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == ap_if.as_str())
        .expect("the AP interface");
    assert_eq!(iface["kind"], "ap");
    assert_eq!(iface["freq_mhz"].as_u64(), Some(FREQ));
    assert_eq!(iface["ssid"], SSID);

    // The station: signal and rates, as iw reports them.
    let stations = snap["stations"].as_array().unwrap();
    assert_eq!(stations.len(), 1, "{stations:?}");
    let st = &stations[0];
    assert_eq!(st["mac"], sta_mac.as_str());
    assert_eq!(st["band"], "2.4");
    let signal = st["signal_dbm"].as_f64().expect("signal");
    assert!((-100.0..0.0).contains(&signal), "signal {signal} dBm");
    let iw_signal = iw_number(&iw_station, "signal:").expect("iw signal");
    assert!(
        (signal - iw_signal).abs() <= 3.0,
        "signal: hearth {signal}, iw {iw_signal}"
    );
    if let Some(avg) = iw_number(&iw_station, "signal avg:") {
        let ours = st["signal_avg_dbm"].as_f64().expect("signal avg");
        assert!(
            (ours - avg).abs() <= 3.0,
            "signal avg: hearth {ours}, iw {avg}"
        );
    }
    let tx = &st["tx"];
    let rx = &st["rx"];
    for (dir, r) in [("tx", tx), ("rx", rx)] {
        let mbps = r["mbps"].as_f64().unwrap_or(0.0);
        assert!((1.0..=600.0).contains(&mbps), "{dir} rate {mbps} Mbit/s");
        assert_eq!(r["width_mhz"], 20, "{dir}: channel 1 is 20 MHz");
    }
    let iw_tx = iw_number(&iw_station, "tx bitrate:").expect("iw tx bitrate");
    assert!(
        (tx["mbps"].as_f64().unwrap() - iw_tx).abs() < 0.05,
        "tx bitrate: hearth {tx}, iw {iw_tx}"
    );
    // iw prints "MCS n" for HT rates: the mode and MCS must agree.
    let tx_line = iw_station
        .lines()
        .find(|l| l.trim().starts_with("tx bitrate:"))
        .unwrap_or("");
    match tx_line.split("MCS ").nth(1) {
        Some(m) => {
            assert_eq!(tx["mode"], "ht", "{tx_line}");
            assert_eq!(
                tx["mcs"].as_u64(),
                m.split_whitespace().next().and_then(|d| d.parse().ok()),
                "{tx_line}"
            );
        }
        None => assert_eq!(tx["mode"], "legacy", "{tx_line}"),
    }
    assert!(st["inactive_ms"].as_u64().is_some(), "{st}");
    assert!(st["expected_mbps"].as_f64().unwrap_or(0.0) > 0.0, "{st}");

    // Survey: the operating channel, counters as iw reads them, utilization 0..1.
    let ch = snap["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["freq_mhz"].as_u64() == Some(FREQ))
        .expect("a survey entry for channel 1");
    assert_eq!(ch["operating"], true);
    let u = ch["utilization"].as_f64().expect("utilization");
    assert!((0.0..=1.0).contains(&u), "utilization {u}");
    let block = iw_survey_block(&iw_survey, FREQ).expect("iw survey for channel 1");
    assert_eq!(
        ch["active_ms"].as_f64(),
        iw_number(&block, "channel active time:"),
        "active time: hearth {ch}, iw {block}"
    );
    assert_eq!(
        ch["busy_ms"].as_f64(),
        iw_number(&block, "channel busy time:"),
        "busy time: hearth {ch}, iw {block}"
    );
    assert_eq!(snap["channel_busy"]["2.4"].as_f64(), Some(u));

    // The census: one 802.11n station.
    let census = &snap["census"];
    assert_eq!(census["stations"], 1);
    assert_eq!(census["clients"]["total"], 1);
    let generation = st["generation"].as_str().unwrap();
    assert_eq!(census["clients"][generation], 1, "{census}");

    // The planner takes it: the measured load replaces the survey's.
    let survey = hearth_e2e::workspace_root().join("tests/fixtures/planner/small_flat.json");
    let out = ap.output(
        &[
            hearth().to_str().unwrap(),
            "plan",
            "--json",
            "--survey",
            survey.to_str().unwrap(),
            "--snapshot",
            snap_path.to_str().unwrap(),
        ],
        BOUND,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    let busy = plan["input"]["channel_busy"]["2.4"].as_f64();
    assert_eq!(
        busy.map(|b| (b * 1000.0).round()),
        Some((u * 1000.0).round())
    );
}
