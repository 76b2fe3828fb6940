//! The nl80211 collector on real kernel radios: two `mac80211_hwsim` radios, each moved into a
//! namespace of this test — hostapd (open network) on one, wpa_supplicant on the other —
//! associated, a few pings between them, then `hearth plan --collect 2 --out F` in the AP's
//! namespace. The snapshot must show the station with a plausible signal and rates, survey
//! data with a utilization in 0..1 and the radio's bands; `iw` (an independent nl80211 client,
//! built on libnl) must report the same signal, transmit rate (mode, MCS, width), survey
//! counters and bands. Two networks in turn: 2.4 GHz channel 1 with 802.11n (HT20), and — in
//! the VM lane only, because it sets the (global) regulatory domain to US — 5 GHz channel 36
//! with 802.11ac at 80 MHz (VHT80, the setup of hostap's own `test_ap_vht80`).
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
const BOUND: Duration = Duration::from_secs(60);

/// One network hostapd runs and what the station's rates must look like on it.
struct Network {
    /// For messages.
    label: &'static str,
    /// hostapd.conf lines besides interface, driver and ssid.
    hostapd: &'static str,
    /// The AP's control channel, MHz.
    freq: u64,
    band: &'static str,
    /// The AP's channel width, MHz.
    width: u64,
    /// Modes minstrel_ht may pick on it (it may fall back to an older one).
    modes: &'static [&'static str],
}

/// Channel 1: allowed for an AP in the world regulatory domain the guest starts with.
const HT20_2G: Network = Network {
    label: "2.4 GHz HT20",
    hostapd: "hw_mode=g\nchannel=1\nieee80211n=1\nwmm_enabled=1\n",
    freq: 2412,
    band: "2.4",
    width: 20,
    modes: &["ht", "legacy"],
};

/// Channel 36 at 80 MHz (centre index 42) needs a country that allows an AP there.
const VHT80_5G: Network = Network {
    label: "5 GHz VHT80",
    hostapd: "country_code=US\nhw_mode=a\nchannel=36\nieee80211n=1\nht_capab=[HT40+]\n\
              ieee80211ac=1\nvht_oper_chwidth=1\nvht_oper_centr_freq_seg0_idx=42\nwmm_enabled=1\n",
    freq: 5180,
    band: "5",
    width: 80,
    modes: &["vht", "ht", "legacy"],
};

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

/// Polls `check` every 200 ms until it returns `Some`, at most `limit`; panics with `what()`
/// (evaluated then, so it can show a log).
fn wait_for<T>(
    what: impl Fn() -> String,
    limit: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {}",
            what()
        );
        sleep(Duration::from_millis(200));
    }
}

fn log(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// What iw's `tx bitrate:` line says: (Mbit/s, mode, MCS, width MHz).
fn iw_rate(line: &str) -> (f64, &'static str, Option<u64>, u64) {
    let mbps = line
        .split_whitespace()
        .nth(2)
        .and_then(|w| w.parse().ok())
        .unwrap_or(0.0);
    let (mode, key) = if line.contains("EHT-MCS") {
        ("eht", "EHT-MCS ")
    } else if line.contains("HE-MCS") {
        ("he", "HE-MCS ")
    } else if line.contains("VHT-MCS") {
        ("vht", "VHT-MCS ")
    } else if line.contains("MCS") {
        ("ht", "MCS ")
    } else {
        ("legacy", "")
    };
    let mcs = (!key.is_empty())
        .then(|| line.split(key).nth(1))
        .flatten()
        .and_then(|r| r.split_whitespace().next())
        .and_then(|d| d.parse().ok());
    let width = line
        .split_whitespace()
        .find_map(|w| w.strip_suffix("MHz").and_then(|n| n.parse().ok()))
        .unwrap_or(20);
    (mbps, mode, mcs, width)
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

/// The two radios, in this test's namespaces, with what the scenarios need.
struct Bed {
    ap: Netns,
    sta: Netns,
    ap_phy: String,
    ap_if: String,
    sta_if: String,
    tmp: tempfile::TempDir,
}

/// hostapd and wpa_supplicant of one network; killed on drop.
struct Link {
    _wpa: hearth_e2e::netns::Background,
    _hostapd: hearth_e2e::netns::Background,
}

impl Bed {
    /// Starts `net`, associates the station, sends a few pings; the processes live as long
    /// as the returned guard.
    fn associate(&self, net: &Network) -> Link {
        let (ap, sta, ap_if, sta_if) = (&self.ap, &self.sta, &self.ap_if, &self.sta_if);
        let conf = self.tmp.path().join("hostapd.conf");
        std::fs::write(
            &conf,
            format!(
                "interface={ap_if}\ndriver=nl80211\nssid={SSID}\n{}",
                net.hostapd
            ),
        )
        .unwrap();
        let hostapd_log = self.tmp.path().join(format!("hostapd-{}.log", net.freq));
        let hostapd = ap.spawn_to(
            &["hostapd", conf.to_str().unwrap()],
            std::fs::File::create(&hostapd_log).unwrap(),
        );
        wait_for(
            || {
                format!(
                    "{}: hostapd to start the AP; its log:\n{}",
                    net.label,
                    log(&hostapd_log)
                )
            },
            BOUND,
            || {
                let (_, info) = run(ap, &["iw", "dev", ap_if, "info"]);
                (info.contains("type AP") && info.contains(&format!("({} MHz)", net.freq)))
                    .then_some(())
            },
        );
        let wpa_conf = self.tmp.path().join("wpa.conf");
        std::fs::write(
            &wpa_conf,
            format!(
                "network={{\n\tssid=\"{SSID}\"\n\tkey_mgmt=NONE\n\tscan_freq={}\n}}\n",
                net.freq
            ),
        )
        .unwrap();
        let wpa_log = self.tmp.path().join(format!("wpa-{}.log", net.freq));
        let wpa = sta.spawn_to(
            &[
                "wpa_supplicant",
                "-i",
                sta_if,
                "-D",
                "nl80211",
                "-c",
                wpa_conf.to_str().unwrap(),
            ],
            std::fs::File::create(&wpa_log).unwrap(),
        );
        let started = Instant::now();
        wait_for(
            || {
                format!(
                    "{}: the station to associate; wpa_supplicant's log:\n{}",
                    net.label,
                    log(&wpa_log)
                )
            },
            BOUND,
            || {
                let (_, link) = run(sta, &["iw", "dev", sta_if, "link"]);
                link.contains("Connected to").then_some(())
            },
        );
        eprintln!(
            "{}: associated after {:.1} s",
            net.label,
            started.elapsed().as_secs_f64()
        );
        // Some unicast data both ways, so both ends have data rates (not just management).
        ap.must(&["ip", "addr", "replace", "10.77.0.1/24", "dev", ap_if]);
        sta.must(&["ip", "addr", "replace", "10.77.0.2/24", "dev", sta_if]);
        sta.must(&["ip", "link", "set", sta_if, "up"]);
        wait_for(
            || format!("{}: pings from the station to the AP", net.label),
            BOUND,
            || {
                run(sta, &["ping", "-c", "5", "-W", "2", "10.77.0.1"])
                    .0
                    .then_some(())
            },
        );
        Link {
            _wpa: wpa,
            _hostapd: hostapd,
        }
    }

    /// `hearth plan --collect 2` in the AP's namespace, checked against iw; returns the
    /// snapshot's path and its JSON.
    fn collect_and_check(&self, net: &Network) -> (PathBuf, Value) {
        let (ap, ap_if, ap_phy) = (&self.ap, &self.ap_if, &self.ap_phy);
        let sta_mac = self
            .sta
            .must(&["cat", &format!("/sys/class/net/{}/address", self.sta_if)])
            .trim()
            .to_string();
        let snap_path = self.tmp.path().join(format!("snap-{}.json", net.freq));
        let capture = self.tmp.path().join(format!("capture-{}", net.freq));
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
            "{}: hearth plan --collect failed: {stderr}",
            net.label
        );
        eprintln!(
            "{}: hearth plan --collect 2 took {took:.1} s:\n{stderr}",
            net.label
        );
        // The independent observer, right after.
        let (ok, iw_station) = run(ap, &["iw", "dev", ap_if, "station", "dump"]);
        assert!(ok, "{iw_station}");
        let (ok, iw_survey) = run(ap, &["iw", "dev", ap_if, "survey", "dump"]);
        assert!(ok, "{iw_survey}");
        let (ok, iw_phy) = run(ap, &["iw", "phy", ap_phy, "info"]);
        assert!(ok, "{iw_phy}");
        // Raw replies, for fixtures and bug reports (shown with --nocapture).
        let mut files: Vec<_> = std::fs::read_dir(&capture).unwrap().flatten().collect();
        files.sort_by_key(|e| e.file_name());
        for e in files {
            println!(
                "CAPTURE {} {}:\n{}",
                net.freq,
                e.file_name().to_string_lossy(),
                log(&e.path())
            );
        }
        println!(
            "IW STATION {}:\n{iw_station}\nIW SURVEY {}:\n{iw_survey}",
            net.freq, net.freq
        );
        let text = std::fs::read_to_string(&snap_path).expect("the snapshot file");
        println!("SNAPSHOT {}:\n{text}", net.freq);
        let snap: Value = serde_json::from_str(&text).expect("the snapshot is JSON");
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

        // The AP interface on its channel.
        let iface = snap["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == ap_if.as_str())
            .expect("the AP interface");
        assert_eq!(iface["kind"], "ap");
        assert_eq!(iface["freq_mhz"].as_u64(), Some(net.freq));
        assert_eq!(iface["ssid"], SSID);
        assert_eq!(iface["width_mhz"].as_u64(), Some(net.width), "{iface}");

        // The station: signal and rates, as iw reports them.
        let stations = snap["stations"].as_array().unwrap();
        assert_eq!(stations.len(), 1, "{stations:?}");
        let st = &stations[0];
        assert_eq!(st["mac"], sta_mac.as_str());
        assert_eq!(st["band"], net.band);
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
        for dir in ["tx", "rx"] {
            let r = &st[dir];
            let mbps = r["mbps"].as_f64().unwrap_or(0.0);
            assert!(
                (1.0..=2000.0).contains(&mbps),
                "{}: {dir} rate {r}",
                net.label
            );
            let mode = r["mode"].as_str().unwrap_or("");
            assert!(net.modes.contains(&mode), "{}: {dir} mode {r}", net.label);
        }
        // iw's tx bitrate line, e.g. "390.0 MBit/s VHT-MCS 4 80MHz VHT-NSS 2".
        let tx_line = iw_station
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("tx bitrate:"))
            .expect("iw tx bitrate");
        let (mbps, mode, mcs, width) = iw_rate(tx_line);
        let tx = &st["tx"];
        assert!(
            (tx["mbps"].as_f64().unwrap() - mbps).abs() < 0.05,
            "tx: hearth {tx}, iw {tx_line}"
        );
        assert_eq!(tx["mode"], mode, "tx: hearth {tx}, iw {tx_line}");
        assert_eq!(tx["mcs"].as_u64(), mcs, "tx: hearth {tx}, iw {tx_line}");
        assert_eq!(
            tx["width_mhz"].as_u64(),
            Some(width),
            "tx: hearth {tx}, iw {tx_line}"
        );
        assert!(st["inactive_ms"].as_u64().is_some(), "{st}");
        assert!(st["expected_mbps"].as_f64().unwrap_or(0.0) > 0.0, "{st}");

        // Survey: the operating channel, counters as iw reads them, utilization 0..1.
        let ch = snap["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["freq_mhz"].as_u64() == Some(net.freq))
            .expect("a survey entry for the AP's channel");
        assert_eq!(ch["operating"], true);
        let u = ch["utilization"].as_f64().expect("utilization");
        assert!((0.0..=1.0).contains(&u), "utilization {u}");
        let block = iw_survey_block(&iw_survey, net.freq).expect("iw survey for the channel");
        for (ours, theirs) in [
            ("active_ms", "channel active time:"),
            ("busy_ms", "channel busy time:"),
        ] {
            assert_eq!(
                ch[ours].as_f64(),
                iw_number(&block, theirs),
                "{ours}: hearth {ch}, iw {block}"
            );
        }
        assert_eq!(snap["channel_busy"][net.band].as_f64(), Some(u));

        // The census: the one station, in the generation its rates show.
        let census = &snap["census"];
        assert_eq!(census["stations"], 1);
        assert_eq!(census["clients"]["total"], 1);
        let generation = st["generation"].as_str().unwrap();
        assert_eq!(census["clients"][generation], 1, "{census}");
        (snap_path, snap)
    }
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
    let (ap_phy, ap_if) = radios[0].clone();
    let (sta_phy, sta_if) = radios[1].clone();
    let bed = Bed {
        ap: Netns::create("wifi", "ap"),
        sta: Netns::create("wifi", "sta"),
        ap_phy,
        ap_if,
        sta_if,
        tmp: tempfile::tempdir().expect("temp dir"),
    };
    // Each radio (with its interface) into its own namespace; they come back to the initial
    // namespace when these are deleted (cfg80211 does that on namespace exit).
    for (phy, ns) in [(&bed.ap_phy, &bed.ap), (&sta_phy, &bed.sta)] {
        hearth_e2e::netns::must(&["iw", "phy", phy, "set", "netns", "name", &ns.name]);
    }
    bed.ap.must(&["ip", "link", "set", &bed.ap_if, "up"]);
    // A scan gives hwsim's survey something to report (see the header).
    wait_for(
        || "a scan on the AP radio".into(),
        BOUND,
        || {
            run(&bed.ap, &["iw", "dev", &bed.ap_if, "scan"])
                .0
                .then_some(())
        },
    );
    bed.ap.must(&["ip", "link", "set", &bed.ap_if, "down"]);

    let link = bed.associate(&HT20_2G);
    let (snap_path, snap) = bed.collect_and_check(&HT20_2G);
    drop(link);

    // The planner takes it: the measured load replaces the survey's.
    let survey = hearth_e2e::workspace_root().join("tests/fixtures/planner/small_flat.json");
    let out = bed.ap.output(
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
    assert_eq!(
        plan["input"]["channel_busy"]["2.4"].as_f64(),
        snap["channel_busy"]["2.4"]
            .as_f64()
            .map(|u| (u * 1000.0).round() / 1000.0)
    );

    if !in_vm_lane() {
        eprintln!("{name}: 5 GHz VHT80 not run: it sets the regulatory domain, which only the VM lane may");
        return;
    }
    bed.sta.must(&["ip", "link", "set", &bed.sta_if, "down"]);
    bed.ap.must(&["ip", "link", "set", &bed.ap_if, "down"]);
    let _link = bed.associate(&VHT80_5G);
    let (_, snap) = bed.collect_and_check(&VHT80_5G);
    // minstrel_ht sends VHT rates to a VHT client; the census counts a Wi-Fi 5 client.
    let st = &snap["stations"][0];
    assert_eq!(st["tx"]["mode"], "vht", "{st}");
    assert_eq!(snap["census"]["clients"]["wifi5"], 1);
}
