//! What the planner knows about a home: its floor plan, the access points, the client census,
//! channel load and the measured survey points. Both survey readers ([`super::csv`],
//! [`super::json`]) produce a [`Survey`]; everything downstream works on it.
//!
//! Units: metres, dBm, fractions 0–1. Floors count from 0 (ground floor).

use std::fmt;

/// A Wi-Fi band, by its usual name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Band {
    B2g4,
    B5g,
    B6g,
}

impl Band {
    /// Every band, in frequency order (also the order of every per-band output).
    pub const ALL: [Band; 3] = [Band::B2g4, Band::B5g, Band::B6g];

    /// `2.4`, `5` or `6` (also accepted: `2.4GHz`, `5ghz`, `6 GHz`).
    pub fn parse(raw: &str) -> Option<Band> {
        let t = raw.trim().to_ascii_lowercase();
        let t = t.trim_end_matches("ghz").trim();
        match t {
            "2.4" | "2" => Some(Band::B2g4),
            "5" => Some(Band::B5g),
            "6" => Some(Band::B6g),
            _ => None,
        }
    }

    /// The name used in files and output.
    pub fn label(self) -> &'static str {
        match self {
            Band::B2g4 => "2.4",
            Band::B5g => "5",
            Band::B6g => "6",
        }
    }

    /// A representative centre frequency, MHz (channel 6; channel 100; 6 GHz UNII-5 middle).
    pub fn centre_mhz(self) -> f64 {
        match self {
            Band::B2g4 => 2437.0,
            Band::B5g => 5500.0,
            Band::B6g => 6185.0,
        }
    }

    /// Index into per-band arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Band {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} GHz", self.label())
    }
}

/// Wi-Fi generation of an access point (or the best one a client supports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standard {
    Wifi4,
    Wifi5,
    Wifi6,
    Wifi6e,
    Wifi7,
}

impl Standard {
    pub const CHOICES: &'static [(&'static str, Standard)] = &[
        ("wifi4", Standard::Wifi4),
        ("wifi5", Standard::Wifi5),
        ("wifi6", Standard::Wifi6),
        ("wifi6e", Standard::Wifi6e),
        ("wifi7", Standard::Wifi7),
    ];

    pub fn parse(raw: &str) -> Option<Standard> {
        Self::CHOICES
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(raw.trim()))
            .map(|(_, s)| *s)
    }

    pub fn label(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(_, s)| *s == self)
            .map(|(w, _)| *w)
            .unwrap_or("wifi5")
    }

    /// The bands a typical router of this generation has (Wi-Fi 6E/7: tri-band).
    pub fn default_bands(self) -> Vec<Band> {
        match self {
            Standard::Wifi6e | Standard::Wifi7 => vec![Band::B2g4, Band::B5g, Band::B6g],
            _ => vec![Band::B2g4, Band::B5g],
        }
    }
}

/// A position in the home: metres from the plan's west (x) and north (y) edge, and a floor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pos {
    pub x: f64,
    pub y: f64,
    pub floor: u32,
}

/// The floor plan: a rectangle per floor, all floors alike.
#[derive(Debug, Clone, PartialEq)]
pub struct Home {
    /// West–east extent, metres.
    pub width: f64,
    /// North–south extent, metres.
    pub height: f64,
    /// Number of floors (positions use 0..floors).
    pub floors: u32,
    /// Internet link rate, Mbit/s, when known (decides whether Wi-Fi 7's rates can matter).
    pub wan_mbps: Option<f64>,
}

/// An access point of the current setup.
#[derive(Debug, Clone, PartialEq)]
pub struct Ap {
    /// Name survey points refer to in their `ap` field.
    pub id: String,
    /// Where it stands.
    pub pos: Pos,
    /// Its generation; decides PHY rates and whether an upgrade is one.
    pub standard: Standard,
    /// Bands it serves.
    pub bands: Vec<Band>,
}

/// `ID:X,Y,FLOOR[:STANDARD]`, the form of `--ap` and of the config's `list ap`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApPlacement {
    pub id: String,
    pub pos: Pos,
    /// `None` = not said (the planner then assumes Wi-Fi 5 and says so).
    pub standard: Option<Standard>,
}

impl ApPlacement {
    /// Parses `main:2,3,0` or `main:2,3,0:wifi6`.
    pub fn parse(raw: &str) -> Result<ApPlacement, String> {
        let bad = || {
            format!("expected ID:X,Y,FLOOR[:STANDARD] such as main:2,3.5,0 or main:2,3.5,0:wifi6, got '{raw}'")
        };
        let mut parts = raw.split(':');
        let id = parts.next().unwrap_or_default().trim();
        let coords = parts.next().ok_or_else(bad)?;
        let standard = match parts.next() {
            None => None,
            Some(s) => Some(Standard::parse(s).ok_or_else(|| {
                format!("unknown Wi-Fi standard '{s}' in '{raw}' (one of wifi4, wifi5, wifi6, wifi6e, wifi7)")
            })?),
        };
        if parts.next().is_some() || id.is_empty() {
            return Err(bad());
        }
        let nums: Vec<&str> = coords.split(',').map(str::trim).collect();
        if nums.len() != 3 {
            return Err(bad());
        }
        let x: f64 = nums[0].parse().map_err(|_| bad())?;
        let y: f64 = nums[1].parse().map_err(|_| bad())?;
        let floor: u32 = nums[2].parse().map_err(|_| bad())?;
        if !x.is_finite() || !y.is_finite() || x < 0.0 || y < 0.0 {
            return Err(format!(
                "AP '{id}': coordinates must be 0 or more metres, got '{raw}'"
            ));
        }
        Ok(ApPlacement {
            id: id.to_string(),
            pos: Pos { x, y, floor },
            standard,
        })
    }

    /// The access point this placement describes (defaults filled in).
    pub fn to_ap(&self) -> Ap {
        let standard = self.standard.unwrap_or(Standard::Wifi5);
        Ap {
            id: self.id.clone(),
            pos: self.pos,
            standard,
            bands: standard.default_bands(),
        }
    }
}

/// How many clients support each generation at best.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clients {
    pub total: u32,
    pub wifi4: u32,
    pub wifi5: u32,
    pub wifi6: u32,
    pub wifi6e: u32,
    pub wifi7: u32,
}

impl Clients {
    /// Clients that can use 6 GHz: Wi-Fi 6E and (practically all) Wi-Fi 7 clients.
    pub fn six_ghz_capable(&self) -> u32 {
        self.wifi6e + self.wifi7
    }
}

/// One measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Room name (labels on the heatmap, per-room grades).
    pub room: String,
    pub pos: Pos,
    pub band: Band,
    /// Signal of `ap` on `band`, dBm.
    pub rssi: f64,
    /// Which AP was measured.
    pub ap: String,
    /// Noise floor, dBm, when the survey tool reported it.
    pub noise: Option<f64>,
    /// Measured throughput, Mbit/s, when reported (shown as evidence).
    pub throughput_mbps: Option<f64>,
    /// A wired backhaul (Ethernet, MoCA) is available here: a mesh node could go here.
    pub wired: bool,
    /// Where it came from in the file (`FILE:LINE` or a JSON path), for messages.
    pub origin: String,
}

/// Everything one survey file says.
#[derive(Debug, Clone, PartialEq)]
pub struct Survey {
    pub home: Home,
    pub aps: Vec<Ap>,
    /// Client census; `None` when the file has none (CSV never has one).
    pub clients: Option<Clients>,
    /// Channel busy fraction per band (index [`Band::index`]), when known.
    pub channel_busy: [Option<f64>; 3],
    pub points: Vec<Point>,
    /// Things the reader assumed or ignored, for the report.
    pub notes: Vec<String>,
}

/// Where in a survey file a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A whole file (unreadable format, missing header).
    File,
    /// 1-based line (CSV; JSON syntax errors).
    Line(u32),
    /// A JSON path such as `points[3].rssi`.
    Path(String),
}

/// A bad row or field in a survey file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file name as the user gave it.
    pub file: String,
    pub place: Place,
    /// What is wrong, and what was expected.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Place::File => write!(f, "{}: {}", self.file, self.message),
            Place::Line(l) => write!(f, "{}:{l}: {}", self.file, self.message),
            Place::Path(p) => write!(f, "{}: {p}: {}", self.file, self.message),
        }
    }
}

/// A survey that was read, and the rows left out (only with `skip_bad`).
#[derive(Debug, Clone, PartialEq)]
pub struct SurveyRead {
    pub survey: Survey,
    /// Each bad row that was skipped.
    pub skipped: Vec<Problem>,
}

/// Why a survey file was rejected: every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct SurveyError {
    pub problems: Vec<Problem>,
    /// True when only point rows are bad (so `--skip-bad` would help).
    pub skippable: bool,
}

/// Options both readers share.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Leave bad point rows out (and report each) instead of rejecting the file.
    pub skip_bad: bool,
    /// APs from the command line (`--ap`) and the config (`list ap`); for CSV they are the
    /// only APs, for JSON they replace or add to the file's by id.
    pub aps: Vec<ApPlacement>,
}

/// Checks one point against the home and the APs; `Err` is the message for the user.
pub(crate) fn check_point(p: &Point, home: &Home, aps: &[Ap]) -> Result<(), (String, String)> {
    // Allow a little slack at the walls: people stand at the edge of a plan drawn by eye.
    let slack = 0.5;
    if p.pos.floor >= home.floors {
        return Err((
            "floor".into(),
            format!(
                "floor {} is outside the home (floors 0..{})",
                p.pos.floor,
                home.floors - 1
            ),
        ));
    }
    if p.pos.x < -slack || p.pos.x > home.width + slack {
        return Err((
            "x".into(),
            format!(
                "x {} m is outside the plan (0..{} m wide)",
                p.pos.x, home.width
            ),
        ));
    }
    if p.pos.y < -slack || p.pos.y > home.height + slack {
        return Err((
            "y".into(),
            format!(
                "y {} m is outside the plan (0..{} m deep)",
                p.pos.y, home.height
            ),
        ));
    }
    if !aps.iter().any(|a| a.id == p.ap) {
        let known: Vec<&str> = aps.iter().map(|a| a.id.as_str()).collect();
        return Err((
            "ap".into(),
            format!(
                "AP '{}' is not known (known: {}); add it with --ap {}:X,Y,FLOOR",
                p.ap,
                known.join(", "),
                p.ap
            ),
        ));
    }
    Ok(())
}

/// A signal level in dBm, as a survey gives it.
pub(crate) fn parse_rssi(raw: f64) -> Result<f64, String> {
    if raw.is_finite() && (-120.0..=0.0).contains(&raw) {
        Ok(raw)
    } else {
        Err(format!(
            "expected a signal level in dBm between -120 and 0, got {raw}"
        ))
    }
}
