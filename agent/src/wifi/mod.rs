//! Live radio data for the Wi-Fi planner, from the kernel's nl80211 (generic netlink): what
//! the router's radios can do (bands incl. 6 GHz, HT/VHT/HE/EHT), the stations associated
//! with them (signal, tx/rx rate with MCS and width, expected throughput, inactive time),
//! per-channel utilization from two survey samples, and the client generation census.
//!
//! - [`nl80211`]: requests and reply decoders, pure bytes (hand-encoded like WireGuard's;
//!   no nl80211 crate: see its header for the RX/TX survey times the issue warns about).
//! - [`snapshot`]: the decoded replies turned into a [`Snapshot`] (pure).
//! - [`file`]: the snapshot file (JSON, versioned) `hearth plan --collect N --out FILE`
//!   writes and `hearth plan --snapshot FILE` reads.
//! - [`collect`]: the socket and the sampling window (the only I/O).
//!
//! The planner takes a snapshot through `planner::live`. docs/planner.md, "Live radio data",
//! is the user's reference.

pub mod collect;
pub mod file;
pub mod nl80211;
pub mod snapshot;

#[cfg(test)]
mod tests;

use std::fmt::Write as _;

pub use snapshot::{Census, Snapshot};

/// A few lines for people: radios, channels in use, stations, census.
pub fn summary(s: &Snapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "radio data: {} radio(s), {} interface(s), {} station(s), survey {:.1} s apart",
        s.radios.len(),
        s.interfaces.len(),
        s.stations.len(),
        s.duration_s
    );
    for r in &s.radios {
        let bands: Vec<String> = r
            .bands
            .iter()
            .map(|b| {
                let mut caps: Vec<&str> = Vec::new();
                for (on, name) in [(b.ht, "HT"), (b.vht, "VHT"), (b.he, "HE"), (b.eht, "EHT")] {
                    if on {
                        caps.push(name);
                    }
                }
                format!("{} GHz ({})", b.band.label(), caps.join("/"))
            })
            .collect();
        let _ = writeln!(
            out,
            "  {}: {} — {}",
            r.name,
            r.standard().label(),
            bands.join(", ")
        );
    }
    for c in s.channels.iter().filter(|c| c.operating) {
        let u = c
            .utilization
            .map(|u| {
                format!(
                    "{:.0}% busy ({})",
                    u * 100.0,
                    c.method.map_or("", |m| m.label())
                )
            })
            .unwrap_or_else(|| "no busy time reported".into());
        let _ = writeln!(out, "  {} on {} MHz: {u}", c.radio, c.freq_mhz);
    }
    for st in &s.stations {
        let rate = |r: &Option<nl80211::Rate>| {
            r.as_ref().map_or("-".to_string(), |r| {
                format!(
                    "{:.1} Mbit/s {}{}",
                    r.mbps,
                    r.mode.label().to_uppercase(),
                    r.mcs.map_or(String::new(), |m| format!(" MCS {m}"))
                )
            })
        };
        let _ = writeln!(
            out,
            "  {} on {}: signal {} dBm, tx {}, rx {}",
            st.mac,
            st.interface,
            st.signal_dbm.map_or("?".into(), |v| v.to_string()),
            rate(&st.tx),
            rate(&st.rx)
        );
    }
    let c = &s.census.clients;
    let _ = writeln!(
        out,
        "  census: {} client(s): wifi4 {}, wifi5 {}, wifi6 {}, wifi6e {}, wifi7 {}",
        c.total, c.wifi4, c.wifi5, c.wifi6, c.wifi6e, c.wifi7
    );
    for n in &s.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    out
}
