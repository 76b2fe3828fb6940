//! Live radio data into a survey (pure): what `hearth plan --snapshot FILE` adds to the survey
//! before planning. A snapshot is what the router itself measured (`hearth plan --collect`,
//! the `wifi` module), so:
//!
//! - **channel load**: a measured utilization replaces the survey's `channel_busy` for its
//!   band (the survey's number was typed in; the radio counted);
//! - **client census**: fills `clients` when the survey has none. A survey's own census is
//!   kept: it says what clients *support*, while the live census counts the PHY each link
//!   *uses* — a lower bound (a Wi-Fi 6E phone on a Wi-Fi 5 router is seen with VHT rates);
//! - **router hardware**: the radios' newest generation (EHT → Wi-Fi 7, HE on 6 GHz →
//!   Wi-Fi 6E, …) and bands become those of the survey's first AP, the router hearth runs on —
//!   so `upgrade_6e`/`upgrade_7` know whether that hardware is already there;
//! - **station signals**: reported as evidence in the notes (how many stations are below the
//!   target right now, the weakest), not fitted: a station's position is unknown.
//!
//! Every change is said in `survey.notes` (the report's `input.notes`).

use super::{Band, Survey};
use crate::wifi::Snapshot;

/// What [`apply`] changed, for callers that want to say more than the notes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// Bands whose `channel_busy` came from the snapshot.
    pub busy_bands: Vec<Band>,
    /// The census came from the snapshot.
    pub census: bool,
    /// The first AP's generation/bands came from the snapshot.
    pub router: bool,
    /// The notes added to the survey (also in `survey.notes`).
    pub notes: Vec<String>,
}

fn pct(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

/// Adds `snap` (read from `name`) to `survey`; `target_rssi` (dBm) grades station signals.
pub fn apply(survey: &mut Survey, snap: &Snapshot, name: &str, target_rssi: f64) -> Applied {
    let mut done = Applied::default();
    let mut notes = Vec::new();
    // Channel load.
    for band in Band::ALL {
        let Some(measured) = snap.channel_busy[band.index()] else {
            continue;
        };
        let slot = &mut survey.channel_busy[band.index()];
        match *slot {
            Some(old) if (old - measured).abs() >= 0.005 => notes.push(format!(
                "channel_busy {band}: {} measured by the router ({name}) replaces the survey's {}",
                pct(measured),
                pct(old)
            )),
            Some(_) => {}
            None => notes.push(format!(
                "channel_busy {band}: {} measured by the router ({name})",
                pct(measured)
            )),
        }
        *slot = Some(measured);
        done.busy_bands.push(band);
    }
    // Client census.
    let live = snap.census.clients;
    if live.total > 0 {
        let line = format!(
            "{} station(s): wifi4 {}, wifi5 {}, wifi6 {}, wifi6e {}, wifi7 {}",
            live.total, live.wifi4, live.wifi5, live.wifi6, live.wifi6e, live.wifi7
        );
        match survey.clients {
            None => {
                survey.clients = Some(live);
                done.census = true;
                notes.push(format!(
                    "client census from the router ({name}): {line}; it counts the PHY each link uses, a lower bound on what the clients support"
                ));
            }
            Some(c) => notes.push(format!(
                "the survey's client census ({} clients) is kept; the router saw {line}",
                c.total
            )),
        }
    }
    // The router's hardware.
    if let (Some(standard), Some(ap)) = (snap.router_standard(), survey.aps.first_mut()) {
        let bands = snap.router_bands();
        let bands = if bands.is_empty() {
            ap.bands.clone()
        } else {
            bands
        };
        if ap.standard != standard || ap.bands != bands {
            notes.push(format!(
                "AP '{}' is taken as {} with {} GHz: the router's radios ({name}) (the survey said {} with {} GHz)",
                ap.id,
                standard.label(),
                bands.iter().map(|b| b.label()).collect::<Vec<_>>().join("/"),
                ap.standard.label(),
                ap.bands.iter().map(|b| b.label()).collect::<Vec<_>>().join("/"),
            ));
            let assumed = format!("AP '{}' is assumed", ap.id);
            survey.notes.retain(|n| !n.starts_with(&assumed));
            ap.standard = standard;
            ap.bands = bands;
        }
        done.router = true;
    }
    // Station signals, as evidence.
    let mut signals: Vec<(i8, &str, Option<Band>)> = snap
        .clients()
        .filter_map(|s| {
            s.signal_avg_dbm
                .or(s.signal_dbm)
                .map(|v| (v, s.mac.as_str(), s.band))
        })
        .collect();
    signals.sort_by_key(|x| x.0);
    if let Some(&(weakest, mac, band)) = signals.first() {
        let below = signals
            .iter()
            .filter(|x| f64::from(x.0) < target_rssi)
            .count();
        let mid = signals[signals.len() / 2].0;
        notes.push(format!(
            "router's stations ({name}): {} heard, median signal {mid} dBm, weakest {weakest} dBm ({mac}{}); {below} below the target {target_rssi} dBm",
            signals.len(),
            band.map_or(String::new(), |b| format!(" on {b}")),
        ));
    }
    survey.notes.extend(notes.iter().cloned());
    done.notes = notes;
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::{Ap, Clients, Home, Pos, Standard};
    use crate::wifi::snapshot::{Radio, RadioBand, StationSample};

    fn survey() -> Survey {
        Survey {
            home: Home {
                width: 10.0,
                height: 8.0,
                floors: 1,
                wan_mbps: None,
            },
            aps: vec![Ap {
                id: "main".into(),
                pos: Pos {
                    x: 1.0,
                    y: 1.0,
                    floor: 0,
                },
                standard: Standard::Wifi5,
                bands: vec![Band::B2g4, Band::B5g],
            }],
            clients: None,
            channel_busy: [None, Some(0.72), None],
            points: vec![],
            notes: vec!["AP 'main' is assumed to be Wi-Fi 5 (say ...)".into()],
        }
    }

    fn station(mac: &str, signal: i8) -> StationSample {
        StationSample {
            interface: "wlan0".into(),
            mac: mac.into(),
            band: Some(Band::B5g),
            signal_dbm: Some(signal + 1),
            signal_avg_dbm: Some(signal),
            inactive_ms: None,
            connected_s: None,
            expected_mbps: None,
            tx: None,
            rx: None,
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            collected_at: 0,
            duration_s: 10.0,
            radios: vec![Radio {
                name: "phy0".into(),
                bands: [Band::B2g4, Band::B5g, Band::B6g]
                    .into_iter()
                    .map(|band| RadioBand {
                        band,
                        channels: 4,
                        ht: band != Band::B6g,
                        vht: band == Band::B5g,
                        he: true,
                        eht: false,
                    })
                    .collect(),
            }],
            interfaces: vec![],
            stations: vec![
                station("aa:00:00:00:00:01", -48),
                station("aa:00:00:00:00:02", -75),
                station("aa:00:00:00:00:03", -60),
            ],
            channels: vec![],
            channel_busy: [Some(0.3), Some(0.55), None],
            census: crate::wifi::Census {
                clients: Clients {
                    total: 3,
                    wifi5: 1,
                    wifi6: 1,
                    wifi6e: 1,
                    ..Default::default()
                },
                ..Default::default()
            },
            notes: vec![],
        }
    }

    #[test]
    fn measured_load_census_and_radios_enter_the_survey_and_are_noted() {
        let mut s = survey();
        let done = apply(&mut s, &snapshot(), "snap.json", -67.0);
        assert_eq!(done.busy_bands, vec![Band::B2g4, Band::B5g]);
        assert_eq!(s.channel_busy, [Some(0.3), Some(0.55), None]);
        assert!(done.census && done.router);
        assert_eq!(s.clients.unwrap().six_ghz_capable(), 1);
        assert_eq!(s.aps[0].standard, Standard::Wifi6e);
        assert_eq!(s.aps[0].bands, Band::ALL.to_vec());
        let notes = s.notes.join("\n");
        assert!(!notes.contains("assumed to be Wi-Fi 5"), "{notes}");
        assert!(notes.contains("55% measured by the router (snap.json) replaces the survey's 72%"));
        assert!(
            notes.contains("taken as wifi6e with 2.4/5/6 GHz"),
            "{notes}"
        );
        assert!(
            notes.contains("3 heard, median signal -60 dBm, weakest -75 dBm (aa:00:00:00:00:02 on 5 GHz); 1 below the target -67 dBm"),
            "{notes}"
        );
    }

    #[test]
    fn a_survey_census_is_kept_and_an_empty_snapshot_changes_nothing() {
        let mut s = survey();
        let declared = Clients {
            total: 10,
            wifi7: 4,
            ..Default::default()
        };
        s.clients = Some(declared);
        let done = apply(&mut s, &snapshot(), "snap.json", -67.0);
        assert!(!done.census);
        assert_eq!(s.clients, Some(declared));
        assert!(s
            .notes
            .iter()
            .any(|n| n.contains("census (10 clients) is kept")));

        let mut s = survey();
        let empty = Snapshot {
            radios: vec![],
            stations: vec![],
            channel_busy: [None; 3],
            census: Default::default(),
            ..snapshot()
        };
        let before = s.clone();
        assert_eq!(apply(&mut s, &empty, "e.json", -67.0), Applied::default());
        assert_eq!(s, before);
    }
}
