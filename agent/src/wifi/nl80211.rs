//! nl80211 as plain bytes: the four dump requests the collector sends (wiphys, interfaces,
//! stations, survey) and decoders for their replies. Pure — bytes in, values out — and tested
//! against byte fixtures in [`super::tests`]; [`super::collect`] owns the socket.
//!
//! Every number below is from the kernel's uapi `include/uapi/linux/nl80211.h` (the same
//! header iw is built against; checked against `/usr/include/linux/nl80211.h` of Debian 12,
//! linux-libc-dev 6.1). The generic netlink framing and the family lookup are shared with
//! WireGuard (`netlink::wireguard::{get_family, family_id}`, NOTES §10–§11).
//!
//! About the RX/TX survey times: the issue warns that wl-nl80211 0.7/0.8 may swap them. We do
//! not use that crate; [`SURVEY_INFO_TIME_RX`] = 7 and [`SURVEY_INFO_TIME_TX`] = 8 are the
//! uapi values, which iw's `survey.c` prints as "channel receive time" and "channel transmit
//! time" — `survey_rx_and_tx_times_are_not_swapped` pins that.

use crate::netlink::tc::wire::{self, Attr, Attrs, Writer, NLMSG_HDRLEN};
use crate::netlink::tc::DecodeError;

// === commands (enum nl80211_commands) ===
pub const CMD_GET_WIPHY: u8 = 1;
pub const CMD_NEW_WIPHY: u8 = 3;
pub const CMD_GET_INTERFACE: u8 = 5;
pub const CMD_NEW_INTERFACE: u8 = 7;
pub const CMD_GET_STATION: u8 = 17;
pub const CMD_NEW_STATION: u8 = 19;
pub const CMD_GET_SURVEY: u8 = 50;
pub const CMD_NEW_SURVEY_RESULTS: u8 = 51;

// === top-level attributes (enum nl80211_attrs) ===
pub const ATTR_WIPHY: u16 = 1;
pub const ATTR_WIPHY_NAME: u16 = 2;
pub const ATTR_IFINDEX: u16 = 3;
pub const ATTR_IFNAME: u16 = 4;
pub const ATTR_IFTYPE: u16 = 5;
pub const ATTR_MAC: u16 = 6;
pub const ATTR_STA_INFO: u16 = 21;
pub const ATTR_WIPHY_BANDS: u16 = 22;
pub const ATTR_WIPHY_FREQ: u16 = 38;
pub const ATTR_SSID: u16 = 52;
pub const ATTR_SURVEY_INFO: u16 = 84;
pub const ATTR_CHANNEL_WIDTH: u16 = 159;
pub const ATTR_CENTER_FREQ1: u16 = 160;
/// Flag: "send me everything, split over several messages" — without it the kernel leaves
/// out newer wiphy data such as the HE/EHT capabilities (`nl80211_send_band_rateinfo` only
/// adds `NL80211_BAND_ATTR_IFTYPE_DATA` for split dumps).
pub const ATTR_SPLIT_WIPHY_DUMP: u16 = 174;

// === enum nl80211_sta_info ===
pub const STA_INFO_INACTIVE_TIME: u16 = 1;
pub const STA_INFO_RX_BYTES: u16 = 2;
pub const STA_INFO_TX_BYTES: u16 = 3;
pub const STA_INFO_SIGNAL: u16 = 7;
pub const STA_INFO_TX_BITRATE: u16 = 8;
pub const STA_INFO_TX_RETRIES: u16 = 11;
pub const STA_INFO_TX_FAILED: u16 = 12;
pub const STA_INFO_SIGNAL_AVG: u16 = 13;
pub const STA_INFO_RX_BITRATE: u16 = 14;
pub const STA_INFO_CONNECTED_TIME: u16 = 16;
pub const STA_INFO_RX_BYTES64: u16 = 23;
pub const STA_INFO_TX_BYTES64: u16 = 24;
/// kbit/s (the rate-control algorithm's estimate, e.g. minstrel).
pub const STA_INFO_EXPECTED_THROUGHPUT: u16 = 27;

// === enum nl80211_rate_info ===
/// u16, units of 100 kbit/s (0 when the rate does not fit: then BITRATE32 is used).
pub const RATE_INFO_BITRATE: u16 = 1;
/// u8, HT MCS index 0–76 (NSS = index / 8 + 1 for 0–31).
pub const RATE_INFO_MCS: u16 = 2;
pub const RATE_INFO_40_MHZ_WIDTH: u16 = 3;
pub const RATE_INFO_SHORT_GI: u16 = 4;
/// u32, units of 100 kbit/s.
pub const RATE_INFO_BITRATE32: u16 = 5;
pub const RATE_INFO_VHT_MCS: u16 = 6;
pub const RATE_INFO_VHT_NSS: u16 = 7;
pub const RATE_INFO_80_MHZ_WIDTH: u16 = 8;
pub const RATE_INFO_80P80_MHZ_WIDTH: u16 = 9;
pub const RATE_INFO_160_MHZ_WIDTH: u16 = 10;
pub const RATE_INFO_10_MHZ_WIDTH: u16 = 11;
pub const RATE_INFO_5_MHZ_WIDTH: u16 = 12;
pub const RATE_INFO_HE_MCS: u16 = 13;
pub const RATE_INFO_HE_NSS: u16 = 14;
/// u8, enum nl80211_he_gi: 0 = 0.8 µs, 1 = 1.6 µs, 2 = 3.2 µs.
pub const RATE_INFO_HE_GI: u16 = 15;
pub const RATE_INFO_320_MHZ_WIDTH: u16 = 18;
pub const RATE_INFO_EHT_MCS: u16 = 19;
pub const RATE_INFO_EHT_NSS: u16 = 20;
/// u8, enum nl80211_eht_gi: same values as HE.
pub const RATE_INFO_EHT_GI: u16 = 21;

// === enum nl80211_survey_info ===
pub const SURVEY_INFO_FREQUENCY: u16 = 1;
/// u8 holding an s8, dBm.
pub const SURVEY_INFO_NOISE: u16 = 2;
pub const SURVEY_INFO_IN_USE: u16 = 3;
/// u64 ms the radio was on this channel ("channel active time" in iw).
pub const SURVEY_INFO_TIME: u16 = 4;
/// u64 ms the channel was sensed busy ("channel busy time").
pub const SURVEY_INFO_TIME_BUSY: u16 = 5;
pub const SURVEY_INFO_TIME_EXT_BUSY: u16 = 6;
/// u64 ms receiving ("channel receive time").
pub const SURVEY_INFO_TIME_RX: u16 = 7;
/// u64 ms transmitting ("channel transmit time").
pub const SURVEY_INFO_TIME_TX: u16 = 8;
pub const SURVEY_INFO_TIME_SCAN: u16 = 9;

// === wiphy bands ===
/// enum nl80211_band: the nest type inside NL80211_ATTR_WIPHY_BANDS is the band.
pub const BAND_2GHZ: u16 = 0;
pub const BAND_5GHZ: u16 = 1;
pub const BAND_6GHZ: u16 = 3;
pub const BAND_ATTR_FREQS: u16 = 1;
pub const BAND_ATTR_HT_CAPA: u16 = 4;
pub const BAND_ATTR_VHT_CAPA: u16 = 8;
pub const BAND_ATTR_IFTYPE_DATA: u16 = 9;
pub const BAND_IFTYPE_ATTR_HE_CAP_PHY: u16 = 3;
pub const BAND_IFTYPE_ATTR_EHT_CAP_PHY: u16 = 9;
pub const FREQUENCY_ATTR_FREQ: u16 = 1;
pub const FREQUENCY_ATTR_DISABLED: u16 = 2;

// === enum nl80211_iftype, enum nl80211_chan_width ===
pub const IFTYPE_STATION: u32 = 2;
pub const IFTYPE_AP: u32 = 3;
/// A per-station VLAN (or 4-address WDS) split off an AP: its stations are the AP's clients.
pub const IFTYPE_AP_VLAN: u32 = 4;
pub const IFTYPE_MESH_POINT: u32 = 7;

/// A generic netlink dump request: nlmsghdr (type = the nl80211 family id), genlmsghdr
/// (command, version 0 as iw sends), then attributes.
fn dump_request(family: u16, cmd: u8) -> Writer {
    let mut w = Writer::new(family, wire::NLM_F_REQUEST | wire::NLM_F_DUMP);
    w.raw(&[cmd, 0, 0, 0]);
    w
}

/// `iw list`: every wiphy, split over several messages (see [`ATTR_SPLIT_WIPHY_DUMP`]).
pub fn get_wiphys(family: u16) -> Vec<u8> {
    let mut w = dump_request(family, CMD_GET_WIPHY);
    w.attr(ATTR_SPLIT_WIPHY_DUMP, &[]);
    w.finish()
}

/// `iw dev`: every wireless interface in this network namespace.
pub fn get_interfaces(family: u16) -> Vec<u8> {
    dump_request(family, CMD_GET_INTERFACE).finish()
}

/// `iw dev IF station dump`.
pub fn get_stations(family: u16, ifindex: u32) -> Vec<u8> {
    let mut w = dump_request(family, CMD_GET_STATION);
    w.attr_u32(ATTR_IFINDEX, ifindex);
    w.finish()
}

/// `iw dev IF survey dump` (the survey is per radio; any of its interfaces names it).
pub fn get_survey(family: u16, ifindex: u32) -> Vec<u8> {
    let mut w = dump_request(family, CMD_GET_SURVEY);
    w.attr_u32(ATTR_IFINDEX, ifindex);
    w.finish()
}

/// The genetlink command and the attributes of one reply; `what` names it in errors.
fn genl<'a>(msg: &'a [u8], what: &'static str) -> Result<(u8, Attrs<'a>), DecodeError> {
    let h = wire::header(msg)?;
    let msg = &msg[..h.len as usize];
    let start = NLMSG_HDRLEN + 4;
    if msg.len() < start {
        return Err(DecodeError::Truncated {
            what,
            need: start,
            have: msg.len(),
        });
    }
    Ok((msg[NLMSG_HDRLEN], Attrs::new(&msg[start..], what)))
}

/// The reply must carry `want`, else it is not the answer we asked for.
fn expect_cmd(got: u8, want: u8, what: &'static str) -> Result<(), DecodeError> {
    if got == want {
        Ok(())
    } else {
        Err(DecodeError::Invalid {
            what,
            detail: format!("genetlink command {got} where {want} was expected"),
        })
    }
}

fn u8_of(a: &Attr, what: &'static str) -> Result<u8, DecodeError> {
    a.payload.first().copied().ok_or(DecodeError::Truncated {
        what,
        need: 1,
        have: 0,
    })
}

/// A signed dBm carried in a u8 (`NL80211_STA_INFO_SIGNAL`, `SURVEY_INFO_NOISE`).
fn dbm_of(a: &Attr, what: &'static str) -> Result<i8, DecodeError> {
    Ok(u8_of(a, what)? as i8)
}

/// A MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn mac_text(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

// === rates ===

/// Which PHY a rate was sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// 802.11a/b/g: no MCS attribute.
    Legacy,
    /// 802.11n (Wi-Fi 4).
    Ht,
    /// 802.11ac (Wi-Fi 5).
    Vht,
    /// 802.11ax (Wi-Fi 6/6E).
    He,
    /// 802.11be (Wi-Fi 7).
    Eht,
}

impl Mode {
    pub const ALL: [Mode; 5] = [Mode::Legacy, Mode::Ht, Mode::Vht, Mode::He, Mode::Eht];

    /// The name used in snapshots.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Legacy => "legacy",
            Mode::Ht => "ht",
            Mode::Vht => "vht",
            Mode::He => "he",
            Mode::Eht => "eht",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.label() == s)
    }
}

/// One `NL80211_STA_INFO_{TX,RX}_BITRATE` nest: the rate of the last frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    /// Mbit/s (the kernel gives units of 100 kbit/s).
    pub mbps: f64,
    /// Which PHY: decides the client's generation in the census.
    pub mode: Mode,
    /// MCS index (HT: 0–31 across streams, as the kernel reports it).
    pub mcs: Option<u8>,
    /// Spatial streams (HT: derived from the MCS index).
    pub nss: Option<u8>,
    /// Channel width, MHz (20 when no width flag is set).
    pub width_mhz: u16,
    /// Guard interval, µs (HT/VHT: 0.4 short or 0.8; HE/EHT: 0.8, 1.6 or 3.2).
    pub gi_us: Option<f64>,
}

/// Decodes a rate nest; `None` when it carries no bitrate (the kernel could not compute one).
pub fn decode_rate(nest: &Attr) -> Result<Option<Rate>, DecodeError> {
    const WHAT: &str = "nl80211 rate info";
    let (mut r16, mut r32) = (None, None);
    let mut rate = Rate {
        mbps: 0.0,
        mode: Mode::Legacy,
        mcs: None,
        nss: None,
        width_mhz: 20,
        gi_us: None,
    };
    let mut short_gi = false;
    let mut he_gi = None;
    for a in nest.nested() {
        let a = a?;
        match a.ty {
            RATE_INFO_BITRATE => r16 = Some(wire::read_u16(a.payload, 0, WHAT)?),
            RATE_INFO_BITRATE32 => r32 = Some(a.u32()?),
            RATE_INFO_MCS => {
                let m = u8_of(&a, WHAT)?;
                rate.mode = rate.mode.max(Mode::Ht);
                rate.mcs = Some(m);
                // HT MCS 0–31: 8 per stream (IEEE 802.11-2020 §19.5, tables 19-27 ff.).
                if m < 32 {
                    rate.nss = Some(m / 8 + 1);
                }
            }
            RATE_INFO_VHT_MCS => {
                rate.mode = rate.mode.max(Mode::Vht);
                rate.mcs = Some(u8_of(&a, WHAT)?);
            }
            RATE_INFO_HE_MCS => {
                rate.mode = rate.mode.max(Mode::He);
                rate.mcs = Some(u8_of(&a, WHAT)?);
            }
            RATE_INFO_EHT_MCS => {
                rate.mode = Mode::Eht;
                rate.mcs = Some(u8_of(&a, WHAT)?);
            }
            RATE_INFO_VHT_NSS | RATE_INFO_HE_NSS | RATE_INFO_EHT_NSS => {
                rate.nss = Some(u8_of(&a, WHAT)?)
            }
            RATE_INFO_HE_GI | RATE_INFO_EHT_GI => he_gi = Some(u8_of(&a, WHAT)?),
            RATE_INFO_SHORT_GI => short_gi = true,
            RATE_INFO_5_MHZ_WIDTH => rate.width_mhz = 5,
            RATE_INFO_10_MHZ_WIDTH => rate.width_mhz = 10,
            RATE_INFO_40_MHZ_WIDTH => rate.width_mhz = 40,
            RATE_INFO_80_MHZ_WIDTH => rate.width_mhz = 80,
            // 80+80 spans 160 MHz of spectrum in two pieces; counted as 160.
            RATE_INFO_80P80_MHZ_WIDTH | RATE_INFO_160_MHZ_WIDTH => rate.width_mhz = 160,
            RATE_INFO_320_MHZ_WIDTH => rate.width_mhz = 320,
            _ => {}
        }
    }
    rate.gi_us = match rate.mode {
        Mode::Legacy => None,
        Mode::Ht | Mode::Vht => Some(if short_gi { 0.4 } else { 0.8 }),
        Mode::He | Mode::Eht => match he_gi {
            Some(0) => Some(0.8),
            Some(1) => Some(1.6),
            Some(2) => Some(3.2),
            _ => None,
        },
    };
    // The kernel sends BITRATE32 always and the u16 only when the rate fits (nl80211.c
    // nl80211_put_sta_rate); prefer the u32.
    let units = match (r32, r16) {
        (Some(v), _) if v > 0 => v,
        (_, Some(v)) if v > 0 => u32::from(v),
        _ => return Ok(None),
    };
    rate.mbps = f64::from(units) / 10.0;
    Ok(Some(rate))
}

// === stations ===

/// One associated station (or mesh peer), as `iw dev IF station dump` shows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Station {
    /// The interface it belongs to (from the request, echoed by the kernel).
    pub ifindex: u32,
    /// Its address, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// dBm of the last received frame.
    pub signal_dbm: Option<i8>,
    /// dBm, the driver's running average.
    pub signal_avg_dbm: Option<i8>,
    /// ms since the station was last heard.
    pub inactive_ms: Option<u32>,
    /// s since association.
    pub connected_s: Option<u32>,
    /// Bytes received from it (64-bit counter when the kernel sends one).
    pub rx_bytes: Option<u64>,
    /// Bytes sent to it.
    pub tx_bytes: Option<u64>,
    /// Retransmissions to it: a sign of a poor link.
    pub tx_retries: Option<u32>,
    /// Frames to it that were given up.
    pub tx_failed: Option<u32>,
    /// Mbit/s, rate control's estimate (kernel: kbit/s).
    pub expected_mbps: Option<f64>,
    /// Rate of the last frame sent to it.
    pub tx: Option<Rate>,
    /// Rate of the last frame received from it.
    pub rx: Option<Rate>,
}

/// Decodes one `NL80211_CMD_NEW_STATION` message of a station dump.
pub fn decode_station(msg: &[u8]) -> Result<Station, DecodeError> {
    const WHAT: &str = "nl80211 station";
    let (cmd, attrs) = genl(msg, WHAT)?;
    expect_cmd(cmd, CMD_NEW_STATION, WHAT)?;
    let mut s = Station::default();
    let mut have_info = false;
    for a in attrs {
        let a = a?;
        match a.ty {
            ATTR_IFINDEX => s.ifindex = a.u32()?,
            ATTR_MAC => s.mac = mac_text(a.payload),
            ATTR_STA_INFO => {
                have_info = true;
                for f in a.nested() {
                    let f = f?;
                    match f.ty {
                        STA_INFO_SIGNAL => s.signal_dbm = Some(dbm_of(&f, WHAT)?),
                        STA_INFO_SIGNAL_AVG => s.signal_avg_dbm = Some(dbm_of(&f, WHAT)?),
                        STA_INFO_INACTIVE_TIME => s.inactive_ms = Some(f.u32()?),
                        STA_INFO_CONNECTED_TIME => s.connected_s = Some(f.u32()?),
                        STA_INFO_RX_BYTES if s.rx_bytes.is_none() => {
                            s.rx_bytes = Some(u64::from(f.u32()?))
                        }
                        STA_INFO_TX_BYTES if s.tx_bytes.is_none() => {
                            s.tx_bytes = Some(u64::from(f.u32()?))
                        }
                        STA_INFO_RX_BYTES64 => s.rx_bytes = Some(f.u64()?),
                        STA_INFO_TX_BYTES64 => s.tx_bytes = Some(f.u64()?),
                        STA_INFO_TX_RETRIES => s.tx_retries = Some(f.u32()?),
                        STA_INFO_TX_FAILED => s.tx_failed = Some(f.u32()?),
                        STA_INFO_EXPECTED_THROUGHPUT => {
                            s.expected_mbps = Some(f64::from(f.u32()?) / 1000.0)
                        }
                        STA_INFO_TX_BITRATE => s.tx = decode_rate(&f)?,
                        STA_INFO_RX_BITRATE => s.rx = decode_rate(&f)?,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if s.mac.is_empty() {
        return Err(DecodeError::Missing {
            what: WHAT,
            attr: "NL80211_ATTR_MAC",
        });
    }
    if !have_info {
        return Err(DecodeError::Missing {
            what: WHAT,
            attr: "NL80211_ATTR_STA_INFO",
        });
    }
    Ok(s)
}

// === survey ===

/// One channel of a survey dump, as `iw dev IF survey dump` shows it. Times are counters
/// since the driver started counting (ms); utilization needs two samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SurveyEntry {
    /// Channel centre, MHz: pairs the two samples.
    pub freq_mhz: u32,
    /// Noise floor, dBm.
    pub noise_dbm: Option<i8>,
    /// The radio is on this channel now.
    pub in_use: bool,
    /// Time on the channel (`SURVEY_INFO_TIME`).
    pub active_ms: Option<u64>,
    /// Time the medium was busy (`TIME_BUSY`): utilization = busy / active.
    pub busy_ms: Option<u64>,
    /// Time the extension (secondary 20 MHz) channel was busy.
    pub ext_busy_ms: Option<u64>,
    /// Time receiving (`TIME_RX`, attribute 7).
    pub rx_ms: Option<u64>,
    /// Time transmitting (`TIME_TX`, attribute 8).
    pub tx_ms: Option<u64>,
    /// Time spent scanning on it.
    pub scan_ms: Option<u64>,
}

/// Decodes one `NL80211_CMD_NEW_SURVEY_RESULTS` message; `None` for an entry without a
/// frequency (drivers report unused slots that way).
pub fn decode_survey(msg: &[u8]) -> Result<Option<SurveyEntry>, DecodeError> {
    const WHAT: &str = "nl80211 survey";
    let (cmd, attrs) = genl(msg, WHAT)?;
    expect_cmd(cmd, CMD_NEW_SURVEY_RESULTS, WHAT)?;
    let mut e = SurveyEntry::default();
    for a in attrs {
        let a = a?;
        if a.ty != ATTR_SURVEY_INFO {
            continue;
        }
        for f in a.nested() {
            let f = f?;
            match f.ty {
                SURVEY_INFO_FREQUENCY => e.freq_mhz = f.u32()?,
                SURVEY_INFO_NOISE => e.noise_dbm = Some(dbm_of(&f, WHAT)?),
                SURVEY_INFO_IN_USE => e.in_use = true,
                SURVEY_INFO_TIME => e.active_ms = Some(f.u64()?),
                SURVEY_INFO_TIME_BUSY => e.busy_ms = Some(f.u64()?),
                SURVEY_INFO_TIME_EXT_BUSY => e.ext_busy_ms = Some(f.u64()?),
                SURVEY_INFO_TIME_RX => e.rx_ms = Some(f.u64()?),
                SURVEY_INFO_TIME_TX => e.tx_ms = Some(f.u64()?),
                SURVEY_INFO_TIME_SCAN => e.scan_ms = Some(f.u64()?),
                _ => {}
            }
        }
    }
    Ok((e.freq_mhz != 0).then_some(e))
}

// === interfaces ===

/// One wireless interface (`iw dev`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Interface {
    /// Station and survey dumps are asked per ifindex.
    pub ifindex: u32,
    /// Netdev name.
    pub name: String,
    /// Index of its wiphy (`phy#N`).
    pub wiphy: u32,
    /// enum nl80211_iftype (2 station, 3 AP, 7 mesh point …).
    pub iftype: u32,
    /// The interface's own address.
    pub mac: String,
    /// As the kernel has it; not necessarily UTF-8 (shown lossily).
    pub ssid: Option<String>,
    /// Control channel, MHz, when the interface is on a channel.
    pub freq_mhz: Option<u32>,
    /// enum nl80211_chan_width.
    pub chan_width: Option<u32>,
    /// Centre of the whole (wider than 20 MHz) channel, MHz.
    pub center_freq1: Option<u32>,
}

impl Interface {
    /// `ap`, `ap_vlan`, `station`, `mesh` or `other`.
    pub fn kind(&self) -> &'static str {
        match self.iftype {
            IFTYPE_AP => "ap",
            IFTYPE_AP_VLAN => "ap_vlan",
            IFTYPE_STATION => "station",
            IFTYPE_MESH_POINT => "mesh",
            _ => "other",
        }
    }

    /// Channel width, MHz, from enum nl80211_chan_width.
    pub fn width_mhz(&self) -> Option<u16> {
        Some(match self.chan_width? {
            0 | 1 => 20,
            2 => 40,
            3 => 80,
            4 | 5 => 160,
            6 => 5,
            7 => 10,
            13 => 320,
            _ => return None,
        })
    }
}

/// Decodes one `NL80211_CMD_NEW_INTERFACE` message.
pub fn decode_interface(msg: &[u8]) -> Result<Interface, DecodeError> {
    const WHAT: &str = "nl80211 interface";
    let (cmd, attrs) = genl(msg, WHAT)?;
    expect_cmd(cmd, CMD_NEW_INTERFACE, WHAT)?;
    let mut i = Interface::default();
    let mut have_index = false;
    for a in attrs {
        let a = a?;
        match a.ty {
            ATTR_IFINDEX => {
                i.ifindex = a.u32()?;
                have_index = true;
            }
            ATTR_IFNAME => i.name = a.string()?,
            ATTR_WIPHY => i.wiphy = a.u32()?,
            ATTR_IFTYPE => i.iftype = a.u32()?,
            ATTR_MAC => i.mac = mac_text(a.payload),
            ATTR_SSID => i.ssid = Some(String::from_utf8_lossy(a.payload).into_owned()),
            ATTR_WIPHY_FREQ => i.freq_mhz = Some(a.u32()?),
            ATTR_CHANNEL_WIDTH => i.chan_width = Some(a.u32()?),
            ATTR_CENTER_FREQ1 => i.center_freq1 = Some(a.u32()?),
            _ => {}
        }
    }
    if !have_index {
        // A P2P device or NAN interface has no netdev: nothing to dump stations on.
        return Err(DecodeError::Missing {
            what: WHAT,
            attr: "NL80211_ATTR_IFINDEX",
        });
    }
    Ok(i)
}

// === wiphys ===

/// What one band of a radio can do.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BandCaps {
    /// enum nl80211_band (0 2.4 GHz, 1 5 GHz, 3 6 GHz; 2 60 GHz, 4 S1G, 5 LC).
    pub band: u16,
    /// Enabled channels, MHz (regulatory-disabled ones left out).
    pub freqs: Vec<u32>,
    /// `NL80211_BAND_ATTR_HT_CAPA` present.
    pub ht: bool,
    /// `NL80211_BAND_ATTR_VHT_CAPA` present.
    pub vht: bool,
    /// An iftype-data entry with `HE_CAP_PHY`.
    pub he: bool,
    /// An iftype-data entry with `EHT_CAP_PHY`.
    pub eht: bool,
}

/// A radio (`iw list`), merged from the parts of a split dump.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Wiphy {
    /// `NL80211_ATTR_WIPHY`: interfaces name their radio by it; parts merge by it.
    pub index: u32,
    /// `phy0` …
    pub name: String,
    /// Its bands, in nl80211 band order.
    pub bands: Vec<BandCaps>,
}

/// Decodes every part of a split `NL80211_CMD_GET_WIPHY` dump into radios, in index order.
/// A radio's attributes (and even one band's channel list) may be spread over several
/// messages: parts are merged by wiphy index and band.
pub fn decode_wiphys(parts: &[Vec<u8>]) -> Result<Vec<Wiphy>, DecodeError> {
    const WHAT: &str = "nl80211 wiphy";
    let mut out: Vec<Wiphy> = Vec::new();
    for part in parts {
        let (cmd, attrs) = genl(part, WHAT)?;
        expect_cmd(cmd, CMD_NEW_WIPHY, WHAT)?;
        let mut index = None;
        let mut name = None;
        let mut bands: Vec<BandCaps> = Vec::new();
        for a in attrs {
            let a = a?;
            match a.ty {
                ATTR_WIPHY => index = Some(a.u32()?),
                ATTR_WIPHY_NAME => name = Some(a.string()?),
                ATTR_WIPHY_BANDS => {
                    for b in a.nested() {
                        let b = b?;
                        bands.push(decode_band(&b)?);
                    }
                }
                _ => {}
            }
        }
        let index = index.ok_or(DecodeError::Missing {
            what: WHAT,
            attr: "NL80211_ATTR_WIPHY",
        })?;
        let w = match out.iter_mut().position(|w| w.index == index) {
            Some(i) => &mut out[i],
            None => {
                out.push(Wiphy {
                    index,
                    ..Default::default()
                });
                out.last_mut().expect("just pushed")
            }
        };
        if let Some(n) = name {
            w.name = n;
        }
        for b in bands {
            match w.bands.iter_mut().find(|x| x.band == b.band) {
                Some(x) => {
                    for f in b.freqs {
                        if !x.freqs.contains(&f) {
                            x.freqs.push(f);
                        }
                    }
                    x.ht |= b.ht;
                    x.vht |= b.vht;
                    x.he |= b.he;
                    x.eht |= b.eht;
                }
                None => w.bands.push(b),
            }
        }
    }
    out.sort_by_key(|w| w.index);
    for w in &mut out {
        w.bands.sort_by_key(|b| b.band);
        for b in &mut w.bands {
            b.freqs.sort_unstable();
        }
    }
    Ok(out)
}

fn decode_band(b: &Attr) -> Result<BandCaps, DecodeError> {
    let mut caps = BandCaps {
        band: b.ty,
        ..Default::default()
    };
    for f in b.nested() {
        let f = f?;
        match f.ty {
            BAND_ATTR_FREQS => {
                for ch in f.nested() {
                    let ch = ch?;
                    let (mut freq, mut disabled) = (None, false);
                    for x in ch.nested() {
                        let x = x?;
                        match x.ty {
                            FREQUENCY_ATTR_FREQ => freq = Some(x.u32()?),
                            FREQUENCY_ATTR_DISABLED => disabled = true,
                            _ => {}
                        }
                    }
                    if let (Some(freq), false) = (freq, disabled) {
                        caps.freqs.push(freq);
                    }
                }
            }
            BAND_ATTR_HT_CAPA => caps.ht = true,
            BAND_ATTR_VHT_CAPA => caps.vht = true,
            BAND_ATTR_IFTYPE_DATA => {
                for it in f.nested() {
                    let it = it?;
                    for x in it.nested() {
                        let x = x?;
                        match x.ty {
                            BAND_IFTYPE_ATTR_HE_CAP_PHY => caps.he = true,
                            BAND_IFTYPE_ATTR_EHT_CAP_PHY => caps.eht = true,
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(caps)
}
