//! The I/O half of the collector: one generic netlink socket, the nl80211 dumps of
//! [`super::nl80211`] in order — radios, interfaces, a first survey, the sampling window, a
//! second survey, stations — and [`Snapshot::build`] over the decoded replies. Everything it
//! sees is in the caller's network namespace.
//!
//! With `HEARTH_WIFI_CAPTURE=DIR` in the environment every reply is also written to
//! `DIR/<what>.hex` (one message per line, hex): the raw material for a bug report or a
//! test fixture.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::netlink::socket::{NlError, RouteSocket};
use crate::netlink::tc::DecodeError;
use crate::netlink::wireguard::{family_id, get_family};

use super::nl80211::{self, Interface, SurveyEntry};
use super::snapshot::{Samples, Snapshot};

/// Longest sampling window `--collect` accepts, seconds.
pub const MAX_WINDOW_S: u32 = 3600;

/// ENOENT: the controller has no such family.
const ENOENT: i32 = 2;

/// Why no snapshot was taken.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The kernel has no nl80211 (no cfg80211, so no Wi-Fi driver).
    #[error(
        "this kernel has no nl80211 (cfg80211 is not loaded): there are no Wi-Fi radios to sample"
    )]
    NoNl80211,
    /// The socket or a dump failed.
    #[error("nl80211 {what}: {source}")]
    Netlink {
        /// Which dump.
        what: &'static str,
        source: NlError,
    },
    /// A reply could not be read.
    #[error("nl80211 {what}: {source}")]
    Decode {
        what: &'static str,
        source: DecodeError,
    },
}

fn nl(what: &'static str) -> impl FnOnce(NlError) -> CollectError {
    move |source| CollectError::Netlink { what, source }
}

fn dec(what: &'static str) -> impl FnOnce(DecodeError) -> CollectError {
    move |source| CollectError::Decode { what, source }
}

/// Writes `msgs` as hex lines to `$HEARTH_WIFI_CAPTURE/<what>.hex` when that is set.
fn capture(what: &str, msgs: &[Vec<u8>]) {
    let Some(dir) = std::env::var_os("HEARTH_WIFI_CAPTURE") else {
        return;
    };
    let text: String = msgs
        .iter()
        .map(|m| m.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
        .collect();
    let path = std::path::Path::new(&dir).join(format!("{what}.hex"));
    if let Err(e) = std::fs::write(&path, text) {
        log::warn!("cannot write the capture {}: {e}", path.display());
    }
}

/// The survey of every radio that has an interface, keyed by radio index; a radio whose
/// driver refuses gets a note instead.
fn surveys(
    sock: &mut RouteSocket,
    family: u16,
    ifaces: &[Interface],
    round: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<(u32, Vec<SurveyEntry>)>, CollectError> {
    let mut out: Vec<(u32, Vec<SurveyEntry>)> = Vec::new();
    for i in ifaces {
        if out.iter().any(|(w, _)| *w == i.wiphy) {
            continue;
        }
        match sock.dump(nl80211::get_survey(family, i.ifindex)) {
            Ok(msgs) => {
                capture(&format!("survey-{round}-{}", i.name), &msgs);
                let mut entries = Vec::new();
                for m in &msgs {
                    if let Some(e) = nl80211::decode_survey(m).map_err(dec("survey"))? {
                        entries.push(e);
                    }
                }
                out.push((i.wiphy, entries));
            }
            Err(e) => {
                // Several drivers have no survey (EOPNOTSUPP); that radio just has none.
                if round == "1" {
                    notes.push(format!("no survey from phy{} via {}: {e}", i.wiphy, i.name));
                }
                out.push((i.wiphy, Vec::new()));
            }
        }
    }
    Ok(out)
}

/// Samples every radio of this network namespace: survey now and after `window`, stations
/// at the end.
pub fn collect(window: Duration) -> Result<Snapshot, CollectError> {
    let mut sock = RouteSocket::open_generic().map_err(nl("socket"))?;
    let family = match sock.query(get_family("nl80211")) {
        Ok(msgs) => {
            family_id(msgs.first().ok_or(CollectError::NoNl80211)?).map_err(dec("family lookup"))?
        }
        Err(e) if e.errno() == Some(ENOENT) => return Err(CollectError::NoNl80211),
        Err(e) => return Err(nl("family lookup")(e)),
    };
    let msgs = sock
        .dump(nl80211::get_wiphys(family))
        .map_err(nl("wiphy dump"))?;
    capture("wiphy", &msgs);
    let wiphys = nl80211::decode_wiphys(&msgs).map_err(dec("wiphy dump"))?;
    let msgs = sock
        .dump(nl80211::get_interfaces(family))
        .map_err(nl("interface dump"))?;
    capture("interface", &msgs);
    let mut interfaces = Vec::new();
    for m in &msgs {
        match nl80211::decode_interface(m) {
            Ok(i) => interfaces.push(i),
            // P2P-device and NAN interfaces have no netdev and nothing to sample.
            Err(DecodeError::Missing { .. }) => {}
            Err(e) => return Err(dec("interface dump")(e)),
        }
    }
    interfaces.sort_by_key(|i| i.ifindex);
    let mut notes = Vec::new();
    if interfaces.is_empty() {
        notes.push(format!(
            "no wireless interfaces in this network namespace ({} radio(s))",
            wiphys.len()
        ));
    }
    let first = surveys(&mut sock, family, &interfaces, "1", &mut notes)?;
    let started = std::time::Instant::now();
    std::thread::sleep(window);
    let second = surveys(&mut sock, family, &interfaces, "2", &mut notes)?;
    let duration_s = started.elapsed().as_secs_f64();
    let mut stations = Vec::new();
    for i in &interfaces {
        match sock.dump(nl80211::get_stations(family, i.ifindex)) {
            Ok(msgs) => {
                capture(&format!("station-{}", i.name), &msgs);
                for m in &msgs {
                    stations.push(nl80211::decode_station(m).map_err(dec("station dump"))?);
                }
            }
            // An interface that is down or a monitor has no stations: say so, go on.
            Err(e) => notes.push(format!("no station list from {}: {e}", i.name)),
        }
    }
    let surveys = second
        .into_iter()
        .map(|(w, last)| {
            let before = first
                .iter()
                .find(|(x, _)| *x == w)
                .map(|(_, e)| e.clone())
                .unwrap_or_default();
            (w, before, last)
        })
        .collect();
    let collected_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ok(Snapshot::build(Samples {
        wiphys,
        interfaces,
        surveys,
        stations,
        collected_at,
        duration_s,
        notes,
    }))
}
