//! Signal → MCS → PHY rate, for a 2-stream client (what most phones and laptops have).
//!
//! The MCS a link can hold is the highest whose minimum receiver sensitivity is at or below
//! the signal. Sensitivities at 20 MHz (IEEE 802.11-2020 Table 21-25 for MCS 0–9, 802.11ax
//! for 10–11, 802.11be for 12–13; PLANNER-NOTES.md "Thresholds" quotes MCS0 −82, MCS7 −64,
//! MCS9 −57, MCS11 −52, MCS12 −49, MCS13 −46 dBm); each doubling of the width costs 3 dB.
//! Rates follow from the OFDM parameters: bits per subcarrier × coding rate × data
//! subcarriers × streams / symbol time.

use super::survey::{Band, Standard};

/// Minimum sensitivity per MCS at 20 MHz, dBm.
const SENSITIVITY_20MHZ: [f64; 14] = [
    -82.0, -79.0, -77.0, -74.0, -70.0, -66.0, -65.0, -64.0, -59.0, -57.0, -54.0, -52.0, -49.0,
    -46.0,
];

/// (bits per subcarrier, coding rate) per MCS.
const MODULATION: [(f64, f64); 14] = [
    (1.0, 0.5),
    (2.0, 0.5),
    (2.0, 0.75),
    (4.0, 0.5),
    (4.0, 0.75),
    (6.0, 2.0 / 3.0),
    (6.0, 0.75),
    (6.0, 5.0 / 6.0),
    (8.0, 0.75),
    (8.0, 5.0 / 6.0),
    (10.0, 0.75),
    (10.0, 5.0 / 6.0),
    (12.0, 0.75),
    (12.0, 5.0 / 6.0),
];

/// Streams assumed for clients.
pub const CLIENT_STREAMS: f64 = 2.0;

/// Share of the PHY rate a client gets as TCP goodput (MAC overhead, acknowledgements;
/// a rule of thumb, stated in the report's assumptions).
pub const GOODPUT_SHARE: f64 = 0.6;

/// Goodput of a gigabit Ethernet (or MoCA 2.5) backhaul, Mbit/s.
pub const WIRED_BACKHAUL_MBPS: f64 = 940.0;

/// A PHY: channel width, data subcarriers, symbol time and highest MCS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phy {
    pub width_mhz: f64,
    data_subcarriers: f64,
    symbol_us: f64,
    max_mcs: usize,
}

impl Phy {
    /// What an AP of `standard` typically runs on `band`: Wi-Fi 4 HT40, Wi-Fi 5 VHT80,
    /// Wi-Fi 6/6E HE80 (HE160 on 6 GHz), Wi-Fi 7 EHT80 on 5 GHz, EHT320 on 6 GHz; 2.4 GHz at
    /// 20 MHz. Short/0.8 µs guard interval.
    pub fn of(standard: Standard, band: Band) -> Phy {
        // Subcarriers: HT 20/40 = 52/108, VHT 80 = 234 (3.6 µs symbols with short GI);
        // HE/EHT 20/80/160/320 = 234/980/1960/3920 (13.6 µs symbols with 0.8 µs GI).
        let ht = |w: f64, sc: f64| Phy {
            width_mhz: w,
            data_subcarriers: sc,
            symbol_us: 3.6,
            max_mcs: 7,
        };
        let he = |w: f64, sc: f64, max_mcs: usize| Phy {
            width_mhz: w,
            data_subcarriers: sc,
            symbol_us: 13.6,
            max_mcs,
        };
        match (standard, band) {
            (Standard::Wifi4, Band::B2g4) | (Standard::Wifi5, Band::B2g4) => ht(20.0, 52.0),
            (Standard::Wifi4, _) => ht(40.0, 108.0),
            (Standard::Wifi5, _) => Phy {
                width_mhz: 80.0,
                data_subcarriers: 234.0,
                symbol_us: 3.6,
                max_mcs: 9,
            },
            (Standard::Wifi7, Band::B2g4) => he(20.0, 234.0, 13),
            (_, Band::B2g4) => he(20.0, 234.0, 11),
            (Standard::Wifi7, Band::B6g) => he(320.0, 3920.0, 13),
            (Standard::Wifi7, Band::B5g) => he(80.0, 980.0, 13),
            (_, Band::B6g) => he(160.0, 1960.0, 11),
            (_, Band::B5g) => he(80.0, 980.0, 11),
        }
    }

    /// Highest MCS the signal holds, `None` below MCS0.
    pub fn mcs(&self, rssi: f64) -> Option<usize> {
        let penalty = 3.0 * (self.width_mhz / 20.0).log2();
        (0..=self.max_mcs)
            .rev()
            .find(|&m| rssi >= SENSITIVITY_20MHZ[m] + penalty)
    }

    /// PHY rate of a 2-stream client at `rssi`, Mbit/s (0 below MCS0).
    pub fn rate_mbps(&self, rssi: f64) -> f64 {
        match self.mcs(rssi) {
            None => 0.0,
            Some(m) => {
                let (bits, coding) = MODULATION[m];
                bits * coding * self.data_subcarriers * CLIENT_STREAMS / self.symbol_us
            }
        }
    }
}

/// SNR 4096-QAM (MCS 12/13) needs, dB (PLANNER-NOTES.md, "Thresholds").
pub const SNR_4K_QAM_DB: f64 = 38.0;

/// Noise floor assumed when the survey does not give one, dBm (thermal noise of a 20 MHz
/// channel, −101 dBm, plus a 6 dB receiver noise figure).
pub const DEFAULT_NOISE_DBM: f64 = -95.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rates_match_the_standards_tables() {
        let cases = [
            (Standard::Wifi4, Band::B5g, 300.0),   // HT40 2SS MCS15, SGI
            (Standard::Wifi5, Band::B5g, 866.7),   // VHT80 2SS MCS9, SGI
            (Standard::Wifi6, Band::B5g, 1201.0),  // HE80 2SS MCS11
            (Standard::Wifi6e, Band::B6g, 2402.0), // HE160 2SS MCS11
            (Standard::Wifi7, Band::B6g, 5764.7),  // EHT320 2SS MCS13
        ];
        for (s, b, want) in cases {
            let got = Phy::of(s, b).rate_mbps(-20.0);
            assert!((got - want).abs() < 1.0, "{s:?} {b:?}: {got} vs {want}");
        }
    }

    #[test]
    fn mcs_follows_sensitivity_with_three_db_per_width_doubling() {
        let he20 = Phy::of(Standard::Wifi6, Band::B2g4);
        assert_eq!(he20.mcs(-82.0), Some(0));
        assert_eq!(he20.mcs(-83.0), None);
        assert_eq!(he20.mcs(-64.0), Some(7));
        assert_eq!(he20.mcs(-52.0), Some(11));
        let he80 = Phy::of(Standard::Wifi6, Band::B5g);
        assert_eq!(he80.mcs(-64.0), Some(4), "80 MHz costs 6 dB");
        let eht320 = Phy::of(Standard::Wifi7, Band::B6g);
        assert_eq!(eht320.mcs(-34.0), Some(13));
        assert_eq!(eht320.mcs(-35.0), Some(12));
        assert_eq!(Phy::of(Standard::Wifi6, Band::B5g).rate_mbps(-90.0), 0.0);
    }
}
