//! What one `hearth plan --collect N` run saw, in the planner's terms: radios and what their
//! bands can do, interfaces and their channels, stations with signal and rates, per-channel
//! utilization from two survey samples N seconds apart, and the client generation census.
//!
//! [`Snapshot::build`] is pure: decoded nl80211 replies in, a snapshot out. [`super::file`]
//! writes and reads it as JSON (docs/planner.md, "Live radio data").

use crate::planner::{Band, Clients, Standard};

use super::nl80211::{self, Interface, Mode, Rate, Station, SurveyEntry, Wiphy};

/// The band of a channel by its centre frequency, MHz. Ranges: 2.4 GHz channels 1–14
/// (2412–2484), 5 GHz channels 32–177 (5160–5885), 6 GHz channels 1–233 (5955–7115)
/// (IEEE 802.11-2020 Annex E; 802.11ax-2021 for 6 GHz).
pub fn band_of(freq_mhz: u32) -> Option<Band> {
    match freq_mhz {
        2400..=2500 => Some(Band::B2g4),
        5150..=5925 => Some(Band::B5g),
        5926..=7125 => Some(Band::B6g),
        _ => None,
    }
}

fn band_of_nl(band: u16) -> Option<Band> {
    match band {
        nl80211::BAND_2GHZ => Some(Band::B2g4),
        nl80211::BAND_5GHZ => Some(Band::B5g),
        nl80211::BAND_6GHZ => Some(Band::B6g),
        _ => None,
    }
}

/// One band of a radio.
#[derive(Debug, Clone, PartialEq)]
pub struct RadioBand {
    /// Which band (2.4, 5 or 6 GHz).
    pub band: Band,
    /// Channels the regulatory domain allows.
    pub channels: u32,
    /// 802.11n capable (Wi-Fi 4).
    pub ht: bool,
    /// 802.11ac capable (Wi-Fi 5; 5 GHz only).
    pub vht: bool,
    /// 802.11ax capable (Wi-Fi 6; with 6 GHz channels, Wi-Fi 6E).
    pub he: bool,
    /// 802.11be capable (Wi-Fi 7).
    pub eht: bool,
}

/// A radio (wiphy).
#[derive(Debug, Clone, PartialEq)]
pub struct Radio {
    /// `phy0` …: interfaces and channels refer to it.
    pub name: String,
    /// 2.4/5/6 GHz only (60 GHz, S1G are of no use to the planner).
    pub bands: Vec<RadioBand>,
}

impl Radio {
    /// The newest generation this radio can serve: EHT → Wi-Fi 7; HE with a 6 GHz band →
    /// Wi-Fi 6E; HE → Wi-Fi 6; VHT → Wi-Fi 5; else Wi-Fi 4 (Wi-Fi Alliance generation names).
    /// A band without an enabled channel does not count (mac80211_hwsim, for one, has a 6 GHz
    /// band that the world regulatory domain disables entirely).
    pub fn standard(&self) -> Standard {
        let any = |f: fn(&RadioBand) -> bool| self.bands.iter().filter(|b| b.channels > 0).any(f);
        if any(|b| b.eht) {
            Standard::Wifi7
        } else if any(|b| b.he && b.band == Band::B6g) {
            Standard::Wifi6e
        } else if any(|b| b.he) {
            Standard::Wifi6
        } else if any(|b| b.vht) {
            Standard::Wifi5
        } else {
            Standard::Wifi4
        }
    }
}

/// A wireless interface.
#[derive(Debug, Clone, PartialEq)]
pub struct Iface {
    /// Netdev name (`wlan0`, `phy1-ap0`): stations refer to it.
    pub name: String,
    /// Its radio's name.
    pub radio: String,
    /// `ap`, `station`, `mesh`, `other`.
    pub kind: String,
    /// Network name, for people reading the snapshot.
    pub ssid: Option<String>,
    /// Control channel, MHz: the survey entry on it is the operating channel.
    pub freq_mhz: Option<u32>,
    /// Channel width, MHz.
    pub width_mhz: Option<u16>,
}

/// A station as seen at the end of the sampling window.
#[derive(Debug, Clone, PartialEq)]
pub struct StationSample {
    /// The interface it is associated with.
    pub interface: String,
    /// The client's address: the census counts each once.
    pub mac: String,
    /// The band of the interface's channel.
    pub band: Option<Band>,
    /// dBm of the last frame heard from it (evidence of coverage where it is).
    pub signal_dbm: Option<i8>,
    /// dBm, the driver's average: steadier than the last frame; preferred as evidence.
    pub signal_avg_dbm: Option<i8>,
    /// ms since it was last heard: a large value means an idle (or gone) client.
    pub inactive_ms: Option<u32>,
    /// s since it associated.
    pub connected_s: Option<u32>,
    /// Rate control's estimate of what the link delivers, Mbit/s.
    pub expected_mbps: Option<f64>,
    /// Rate of the last frame sent to it.
    pub tx: Option<Rate>,
    /// Rate of the last frame received from it.
    pub rx: Option<Rate>,
}

impl StationSample {
    /// The newest PHY mode seen in either direction. The last frame's rate is a lower bound
    /// on what the client supports: a Wi-Fi 6 client on a Wi-Fi 5 AP is seen with VHT rates.
    pub fn best_mode(&self) -> Option<Mode> {
        [&self.tx, &self.rx]
            .into_iter()
            .flatten()
            .map(|r| r.mode)
            .max()
    }

    /// The generation the census counts this station in.
    pub fn generation(&self) -> Standard {
        match self.best_mode() {
            Some(Mode::Eht) => Standard::Wifi7,
            Some(Mode::He) if self.band == Some(Band::B6g) => Standard::Wifi6e,
            Some(Mode::He) => Standard::Wifi6,
            Some(Mode::Vht) => Standard::Wifi5,
            // HT, legacy-only or unknown: the oldest bucket the planner has.
            _ => Standard::Wifi4,
        }
    }
}

/// How a channel's utilization was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// busy / active over the sampling window (the two samples' differences).
    Delta,
    /// busy / active since the driver started counting: the counters did not advance in the
    /// window (some drivers, mac80211_hwsim among them, count only while scanning) or went
    /// backwards (driver reset).
    Cumulative,
}

impl Method {
    pub fn label(self) -> &'static str {
        match self {
            Method::Delta => "delta",
            Method::Cumulative => "cumulative",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        [Method::Delta, Method::Cumulative]
            .into_iter()
            .find(|m| m.label() == s)
    }
}

/// One surveyed channel of one radio.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// The radio whose survey this is (surveys are per radio, not per interface).
    pub radio: String,
    /// Channel centre, MHz.
    pub freq_mhz: u32,
    /// The radio operates on this channel (the driver's IN_USE flag, or an interface's
    /// control channel).
    pub operating: bool,
    /// Noise floor, dBm (SNR = signal - noise).
    pub noise_dbm: Option<i8>,
    /// The second sample's counters, ms: time on the channel ...
    pub active_ms: Option<u64>,
    /// ... of which the medium was sensed busy ...
    pub busy_ms: Option<u64>,
    /// ... receiving ...
    pub rx_ms: Option<u64>,
    /// ... and transmitting.
    pub tx_ms: Option<u64>,
    /// busy / active, 0–1, when the driver reports both.
    pub utilization: Option<f64>,
    /// How `utilization` was computed.
    pub method: Option<Method>,
}

/// How many of the router's clients (stations of its AP interfaces) were seen with which PHY,
/// and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Census {
    /// Stations counted (distinct MAC addresses).
    pub stations: u32,
    /// Stations by the newest mode seen (each counted once).
    pub legacy: u32,
    /// Newest mode HT (802.11n).
    pub ht: u32,
    /// Newest mode VHT (802.11ac).
    pub vht: u32,
    /// Newest mode HE (802.11ax).
    pub he: u32,
    /// Newest mode EHT (802.11be).
    pub eht: u32,
    /// Stations on a 6 GHz channel.
    pub six_ghz: u32,
    /// The same stations by generation, as the planner's `clients` counts them.
    pub clients: Clients,
}

impl Census {
    fn of<'a>(stations: impl Iterator<Item = &'a StationSample>) -> Census {
        let mut c = Census::default();
        let mut seen: Vec<&str> = Vec::new();
        for s in stations {
            if seen.contains(&s.mac.as_str()) {
                continue;
            }
            seen.push(&s.mac);
            c.stations += 1;
            match s.best_mode() {
                Some(Mode::Eht) => c.eht += 1,
                Some(Mode::He) => c.he += 1,
                Some(Mode::Vht) => c.vht += 1,
                Some(Mode::Ht) => c.ht += 1,
                Some(Mode::Legacy) | None => c.legacy += 1,
            }
            if s.band == Some(Band::B6g) {
                c.six_ghz += 1;
            }
            let k = &mut c.clients;
            k.total += 1;
            match s.generation() {
                Standard::Wifi4 => k.wifi4 += 1,
                Standard::Wifi5 => k.wifi5 += 1,
                Standard::Wifi6 => k.wifi6 += 1,
                Standard::Wifi6e => k.wifi6e += 1,
                Standard::Wifi7 => k.wifi7 += 1,
            }
        }
        c
    }
}

/// Everything one collection saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Unix seconds at the end of sampling.
    pub collected_at: u64,
    /// Seconds between the two survey samples.
    pub duration_s: f64,
    /// What the router's hardware can do (decides whether 6E/7 is already there).
    pub radios: Vec<Radio>,
    /// Which interfaces serve clients, on which channel.
    pub interfaces: Vec<Iface>,
    /// Every station of every interface (clients, an uplink AP, mesh peers).
    pub stations: Vec<StationSample>,
    /// Every surveyed channel of every radio.
    pub channels: Vec<Channel>,
    /// Utilization of the operating channel per band (index [`Band::index`]); the busiest
    /// when several radios share a band.
    pub channel_busy: [Option<f64>; 3],
    /// The router's clients by generation (see [`Snapshot::clients`]).
    pub census: Census,
    /// What could not be read (an interface whose stations or survey the driver refused).
    pub notes: Vec<String>,
}

/// The decoded replies of one collection.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// The radios (a split dump, merged).
    pub wiphys: Vec<Wiphy>,
    /// The interfaces with a netdev.
    pub interfaces: Vec<Interface>,
    /// Per radio index: the first and the second survey dump.
    pub surveys: Vec<(u32, Vec<SurveyEntry>, Vec<SurveyEntry>)>,
    /// Every interface's station dump.
    pub stations: Vec<Station>,
    /// Unix seconds at the end.
    pub collected_at: u64,
    /// Seconds between the two survey dumps, as measured.
    pub duration_s: f64,
    /// What the collector could not read.
    pub notes: Vec<String>,
}

/// busy / active of a channel from its two samples (see [`Method`]); clamped to 0–1
/// (a driver's busy counter can run a little ahead of its active counter).
pub fn utilization(first: Option<&SurveyEntry>, last: &SurveyEntry) -> Option<(f64, Method)> {
    let (active, busy) = (last.active_ms?, last.busy_ms?);
    if let Some(f) = first {
        if let (Some(a0), Some(b0)) = (f.active_ms, f.busy_ms) {
            if active > a0 && busy >= b0 {
                let u = (busy - b0) as f64 / (active - a0) as f64;
                return Some((u.clamp(0.0, 1.0), Method::Delta));
            }
        }
    }
    (active > 0).then(|| {
        (
            (busy as f64 / active as f64).clamp(0.0, 1.0),
            Method::Cumulative,
        )
    })
}

impl Snapshot {
    /// The snapshot of decoded replies (pure).
    pub fn build(s: Samples) -> Snapshot {
        let radio_name = |index: u32| {
            s.wiphys
                .iter()
                .find(|w| w.index == index)
                .map(|w| w.name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| format!("phy{index}"))
        };
        let radios: Vec<Radio> = s
            .wiphys
            .iter()
            .map(|w| Radio {
                name: radio_name(w.index),
                bands: w
                    .bands
                    .iter()
                    .filter_map(|b| {
                        Some(RadioBand {
                            band: band_of_nl(b.band)?,
                            channels: b.freqs.len() as u32,
                            ht: b.ht,
                            vht: b.vht,
                            he: b.he,
                            eht: b.eht,
                        })
                    })
                    .collect(),
            })
            .collect();
        let mut ifaces_sorted = s.interfaces.clone();
        ifaces_sorted.sort_by(|a, b| a.name.cmp(&b.name));
        let interfaces: Vec<Iface> = ifaces_sorted
            .iter()
            .map(|i| Iface {
                name: i.name.clone(),
                radio: radio_name(i.wiphy),
                kind: i.kind().to_string(),
                ssid: i.ssid.clone(),
                freq_mhz: i.freq_mhz,
                width_mhz: i.width_mhz(),
            })
            .collect();
        let mut stations: Vec<StationSample> = s
            .stations
            .iter()
            .filter_map(|st| {
                let iface = s.interfaces.iter().find(|i| i.ifindex == st.ifindex)?;
                Some(StationSample {
                    interface: iface.name.clone(),
                    mac: st.mac.clone(),
                    band: iface.freq_mhz.and_then(band_of),
                    signal_dbm: st.signal_dbm,
                    signal_avg_dbm: st.signal_avg_dbm,
                    inactive_ms: st.inactive_ms,
                    connected_s: st.connected_s,
                    expected_mbps: st.expected_mbps,
                    tx: st.tx.clone(),
                    rx: st.rx.clone(),
                })
            })
            .collect();
        stations.sort_by(|a, b| a.interface.cmp(&b.interface).then(a.mac.cmp(&b.mac)));
        let mut channels = Vec::new();
        for (wiphy, first, last) in &s.surveys {
            let on: Vec<u32> = s
                .interfaces
                .iter()
                .filter(|i| i.wiphy == *wiphy)
                .filter_map(|i| i.freq_mhz)
                .collect();
            for e in last {
                let before = first.iter().find(|f| f.freq_mhz == e.freq_mhz);
                // Rounded to 0.01%: the file stores 4 decimals, and reads back equal.
                let u = utilization(before, e).map(|(u, m)| ((u * 1e4).round() / 1e4, m));
                channels.push(Channel {
                    radio: radio_name(*wiphy),
                    freq_mhz: e.freq_mhz,
                    operating: e.in_use || on.contains(&e.freq_mhz),
                    noise_dbm: e.noise_dbm,
                    active_ms: e.active_ms,
                    busy_ms: e.busy_ms,
                    rx_ms: e.rx_ms,
                    tx_ms: e.tx_ms,
                    utilization: u.map(|x| x.0),
                    method: u.map(|x| x.1),
                });
            }
        }
        channels.sort_by(|a, b| a.radio.cmp(&b.radio).then(a.freq_mhz.cmp(&b.freq_mhz)));
        let mut channel_busy = [None; 3];
        for c in channels.iter().filter(|c| c.operating) {
            if let (Some(b), Some(u)) = (band_of(c.freq_mhz), c.utilization) {
                let slot = &mut channel_busy[b.index()];
                *slot = Some(slot.map_or(u, |v: f64| v.max(u)));
            }
        }
        let mut snap = Snapshot {
            collected_at: s.collected_at,
            // To the millisecond: the file shows it, and more digits are noise.
            duration_s: (s.duration_s * 1e3).round() / 1e3,
            radios,
            interfaces,
            stations,
            channels,
            channel_busy,
            census: Census::default(),
            notes: s.notes,
        };
        snap.census = Census::of(snap.clients());
        snap
    }

    /// The stations that are the router's clients: those of its AP interfaces. A station
    /// interface's "station" is the upstream AP, a mesh interface's are mesh peers; neither
    /// is a client. (A station whose interface the file does not list counts as a client.)
    pub fn clients(&self) -> impl Iterator<Item = &StationSample> {
        self.stations.iter().filter(|st| {
            self.interfaces
                .iter()
                .find(|i| i.name == st.interface)
                .is_none_or(|i| i.kind == "ap" || i.kind == "ap_vlan")
        })
    }

    /// The newest generation among the radios (what "this router" can serve), if any radio.
    pub fn router_standard(&self) -> Option<Standard> {
        self.radios.iter().map(Radio::standard).max()
    }

    /// Bands the radios have, in frequency order.
    pub fn router_bands(&self) -> Vec<Band> {
        Band::ALL
            .into_iter()
            .filter(|b| {
                self.radios
                    .iter()
                    .any(|r| r.bands.iter().any(|x| x.band == *b && x.channels > 0))
            })
            .collect()
    }
}
