//! The five options — keep, move the AP, add mesh nodes, Wi-Fi 6E, Wi-Fi 7 — evaluated on the
//! coverage model, and the rule that picks one.
//!
//! **Target.** An option *reaches the target* when (1) at least [`COVERAGE_GOAL_PCT`] of the
//! plan gets `target_rssi` or better on the primary band, (2) every surveyed room's median
//! does, and (3) the 5 GHz channel is busy at most [`BUSY_GOAL`] of the time where that is
//! known (voice/video design keeps channel utilization under 50%, PLANNER-NOTES.md
//! "Thresholds").
//!
//! **Rule** (issue #7): the option with the best benefit per cost that reaches the target
//! within `budget`; ties prefer the cheaper, then the simpler option (keep < move_ap <
//! add_mesh < upgrade_6e < upgrade_7). Free options have infinite benefit per cost, so
//! "free beats paid" (PLANNER-NOTES.md decision rule 1). Benefit = clients that benefit.

mod mesh;
mod placement;
mod rule;
mod upgrade;

pub use mesh::add_mesh;
pub use placement::{best_move, keep, move_ap};
pub use rule::recommend;
pub use upgrade::upgrade;

use super::fit::Source;
use super::model::{self, coverage_pct, median, CoverageModel, Grid, Tx};
use super::rates::{self, Phy};
use super::survey::{Band, Pos, Standard, Survey};
use super::Settings;

/// Share of the plan that must reach `target_rssi`, percent (hearth's goal; SignalPlan's
/// moved-AP homes reached 97% and 100%, PLANNER-NOTES.md decision rule 1).
pub const COVERAGE_GOAL_PCT: f64 = 90.0;

/// Highest acceptable 5 GHz channel busy fraction (PLANNER-NOTES.md: utilization < 50%).
pub const BUSY_GOAL: f64 = 0.5;

/// Weakest backhaul a wireless mesh node may use, dBm (−70 dBm with 20 dB SNR is usable,
/// PLANNER-NOTES.md "Thresholds").
pub const BACKHAUL_MIN_DBM: f64 = -70.0;

/// Where a wireless mesh node should hear the main AP, dBm (PLANNER-NOTES.md decision rule 2).
pub const BACKHAUL_WINDOW_DBM: (f64, f64) = (-67.0, -60.0);

/// Below this a room is poor rather than fair (wifi-heatmapper calls < −75 dBm too weak).
pub const TOO_WEAK_DBM: f64 = -75.0;

/// Share of clients that must be Wi-Fi 7 before Wi-Fi 7 can pay (hearth's reading of "only
/// with Wi-Fi 7 clients", PLANNER-NOTES.md decision rule 4).
pub const EHT_SHARE_MIN: f64 = 0.25;

/// "Multi-gigabit" WAN, Mbit/s (PLANNER-NOTES.md decision rule 4).
pub const MULTI_GIG_MBPS: f64 = 2000.0;

/// Clients assumed when there is no census.
pub const ASSUMED_CLIENTS: f64 = 10.0;

/// Price table, USD, typical street prices (hearth's assumption, not a quote): a dual-band
/// Wi-Fi 6 mesh node, a Wi-Fi 6E router, a Wi-Fi 7 router.
pub const PRICE_MESH_NODE: (f64, f64) = (80.0, 150.0);
pub const PRICE_ROUTER_6E: (f64, f64) = (150.0, 300.0);
pub const PRICE_ROUTER_7: (f64, f64) = (250.0, 500.0);

/// The kinds of option, in order of simplicity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Keep,
    MoveAp,
    AddMesh,
    Upgrade6e,
    Upgrade7,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Keep => "keep",
            Kind::MoveAp => "move_ap",
            Kind::AddMesh => "add_mesh",
            Kind::Upgrade6e => "upgrade_6e",
            Kind::Upgrade7 => "upgrade_7",
        }
    }
}

/// Room grade against the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grade {
    Good,
    Fair,
    Poor,
}

impl Grade {
    pub fn of(rssi: f64, target: f64) -> Grade {
        if rssi >= target {
            Grade::Good
        } else if rssi >= TOO_WEAK_DBM.min(target) {
            Grade::Fair
        } else {
            Grade::Poor
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Grade::Good => "good",
            Grade::Fair => "fair",
            Grade::Poor => "poor",
        }
    }
}

/// A room of the survey: the positions measured in it.
#[derive(Debug, Clone)]
pub struct Room {
    pub name: String,
    /// The floor most of its points are on.
    pub floor: u32,
    /// Distinct measured positions.
    pub positions: Vec<Pos>,
    /// Where its label goes (mean of the positions on `floor`).
    pub centre: Pos,
    /// Median measured RSSI on the primary band.
    pub measured: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoomGrade {
    pub room: String,
    pub floor: u32,
    pub predicted: f64,
    pub measured: Option<f64>,
    pub grade: Grade,
}

/// One piece of evidence: a metric, its value, and where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub metric: String,
    pub value: f64,
    pub unit: String,
    pub source: String,
}

fn ev(metric: &str, value: f64, unit: &str, source: impl Into<String>) -> Evidence {
    Evidence {
        metric: metric.into(),
        value,
        unit: unit.into(),
        source: source.into(),
    }
}

/// How a mesh node reaches the router.
#[derive(Debug, Clone, PartialEq)]
pub enum Backhaul {
    /// Ethernet or MoCA where the survey marked `wired`.
    Wired,
    /// Over the air on 5 GHz, from `from` (the main AP or an earlier node), sharing the
    /// client band (a dual-band node: half the airtime).
    Wireless { from: String, rssi: f64 },
}

/// An AP or node an option places.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: String,
    /// `ap` (a router that stays, moves or is replaced) or `mesh_node`.
    pub role: &'static str,
    pub position: Pos,
    pub standard: Standard,
    pub backhaul: Option<Backhaul>,
    /// What the node can pass on to its clients, Mbit/s (mesh nodes only).
    pub backhaul_mbps: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Confidence {
    High,
    Medium,
    Low,
}

impl Confidence {
    pub fn label(self) -> &'static str {
        match self {
            Confidence::High => "high",
            Confidence::Medium => "medium",
            Confidence::Low => "low",
        }
    }
}

/// What an option is predicted to give.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicted {
    /// Share of the plan at or above the target on the primary band, percent.
    pub coverage_pct: f64,
    /// The same per band the option's hardware serves.
    pub coverage_by_band: Vec<(Band, f64)>,
    /// Median over the plan on the primary band, dBm.
    pub median_rssi: f64,
    /// PHY rate of a 2-stream client of the new generation at that median, Mbit/s.
    pub phy_rate_mbps: f64,
    /// 5 GHz channel busy fraction afterwards, when known.
    pub busy_5ghz: Option<f64>,
    /// Per-room grades.
    pub rooms: Vec<RoomGrade>,
}

/// One option with everything the report shows about it.
#[derive(Debug, Clone)]
pub struct PlanOption {
    pub kind: Kind,
    /// One line for people.
    pub title: String,
    /// False when it does not apply (already Wi-Fi 6E, nowhere to move, ...).
    pub applicable: bool,
    pub nodes: Vec<Node>,
    pub predicted: Predicted,
    pub reaches_target: bool,
    /// Estimated number of clients that gain.
    pub clients_benefit: f64,
    /// Cost range in the configured currency.
    pub cost: (f64, f64),
    pub within_budget: bool,
    pub confidence: Confidence,
    pub evidence: Vec<Evidence>,
    pub assumptions: Vec<String>,
    /// Why it reaches the target or not, in a sentence or two.
    pub verdict: String,
    /// The grid values on the primary band (for the heatmap); not in JSON.
    pub values: Vec<f64>,
}

impl PlanOption {
    /// Middle of the cost range.
    pub fn cost_mid(&self) -> f64 {
        (self.cost.0 + self.cost.1) / 2.0
    }

    /// Benefit per unit of money (infinite for free options that help or keep things).
    pub fn benefit_per_cost(&self) -> f64 {
        if self.cost_mid() <= 0.0 {
            f64::INFINITY
        } else {
            self.clients_benefit / self.cost_mid()
        }
    }
}

/// What the recommendation says.
#[derive(Debug, Clone)]
pub struct Recommendation {
    /// Index into the options.
    pub option: usize,
    pub kind: Kind,
    pub reaches_target: bool,
    pub reason: String,
    /// Other things worth knowing (a better option over budget, ...).
    pub notes: Vec<String>,
}

/// Everything the option evaluations share.
pub struct Ctx<'a> {
    pub survey: &'a Survey,
    pub model: &'a CoverageModel,
    pub settings: &'a Settings,
    pub grid: &'a Grid,
    /// Coarser grid the searches score on.
    pub search: &'a Grid,
    pub rooms: &'a [Room],
    pub primary: Band,
    /// Clients counted for benefits (census total or [`ASSUMED_CLIENTS`]).
    pub clients_n: f64,
    pub wan_mbps: Option<f64>,
}

/// Round for output and comparisons (0.1).
pub fn r1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

impl Ctx<'_> {
    fn target(&self) -> f64 {
        self.settings.target_rssi
    }

    /// The current setup: every survey AP where it was measured, with its residuals.
    pub fn current_txs(&self) -> Vec<Tx> {
        self.survey
            .aps
            .iter()
            .enumerate()
            .map(|(i, a)| Tx {
                pos: a.pos,
                bands: a.bands.clone(),
                models: self.model.per_ap[i].clone(),
                residuals_of: Some(i),
            })
            .collect()
    }

    /// The main AP (the first) replaced by `tx`.
    fn with_main(&self, tx: Tx) -> Vec<Tx> {
        let mut txs = self.current_txs();
        txs[0] = tx;
        txs
    }

    fn main_tx(&self, pos: Pos, standard: Standard) -> Tx {
        let main = &self.survey.aps[0];
        let same_place = model::distance(pos, main.pos) < 0.5;
        Tx {
            pos,
            bands: if standard >= Standard::Wifi6e {
                standard.default_bands()
            } else {
                main.bands.clone()
            },
            models: self.model.per_ap[0].clone(),
            residuals_of: same_place.then_some(0),
        }
    }

    fn room_grades(&self, txs: &[Tx]) -> Vec<RoomGrade> {
        self.rooms
            .iter()
            .map(|r| {
                let v = model::field(self.model, txs, self.primary, &r.positions);
                let predicted = median(&v).unwrap_or(f64::NEG_INFINITY);
                RoomGrade {
                    room: r.name.clone(),
                    floor: r.floor,
                    predicted,
                    measured: r.measured,
                    grade: Grade::of(predicted, self.target()),
                }
            })
            .collect()
    }

    /// Full evaluation of a set of transmitters on the grid.
    pub fn evaluate(&self, txs: &[Tx], standard: Standard) -> Predicted {
        let values = model::field(self.model, txs, self.primary, &self.grid.cells);
        self.predicted_from(values, txs, standard).0
    }

    fn predicted_from(
        &self,
        values: Vec<f64>,
        txs: &[Tx],
        standard: Standard,
    ) -> (Predicted, Vec<f64>) {
        let mut coverage_by_band = Vec::new();
        for b in Band::ALL {
            if !txs.iter().any(|t| t.bands.contains(&b)) {
                continue;
            }
            let c = if b == self.primary {
                coverage_pct(&values, self.target())
            } else {
                coverage_pct(
                    &model::field(self.model, txs, b, &self.grid.cells),
                    self.target(),
                )
            };
            coverage_by_band.push((b, r1(c)));
        }
        let median_rssi = median(&values).unwrap_or(f64::NEG_INFINITY);
        let p = Predicted {
            coverage_pct: r1(coverage_pct(&values, self.target())),
            coverage_by_band,
            median_rssi: r1(median_rssi),
            phy_rate_mbps: r1(Phy::of(standard, self.primary).rate_mbps(median_rssi)),
            busy_5ghz: self.survey.channel_busy[Band::B5g.index()],
            rooms: self.room_grades(txs),
        };
        (p, values)
    }

    fn meets_coverage(&self, p: &Predicted) -> bool {
        p.coverage_pct >= COVERAGE_GOAL_PCT && p.rooms.iter().all(|r| r.grade == Grade::Good)
    }

    /// Busy goal: met when the busy fraction afterwards is known and low, or when there is
    /// no known problem to begin with.
    fn meets_busy(&self, after: Option<f64>) -> bool {
        match after {
            Some(b) => b <= BUSY_GOAL,
            None => !self.busy_problem(),
        }
    }

    fn busy_problem(&self) -> bool {
        self.survey.channel_busy[Band::B5g.index()].is_some_and(|b| b > BUSY_GOAL)
    }

    fn within(&self, cost: (f64, f64)) -> bool {
        cost.1 <= self.settings.budget
    }

    /// Search score of a field on the search grid plus the rooms: coverage % + % rooms good.
    fn score(&self, search_values: &[f64], room_values: &[Vec<f64>]) -> f64 {
        let cov = coverage_pct(search_values, self.target());
        let good = room_values
            .iter()
            .filter(|v| median(v).is_some_and(|m| m >= self.target()))
            .count();
        cov + 100.0 * good as f64 / self.rooms.len().max(1) as f64
    }

    /// Confidence of predictions resting on the primary band's model of the main AP.
    fn model_confidence(&self) -> (Confidence, String) {
        let m = &self.model.per_ap[0][self.primary.index()];
        match &m.source {
            Source::Fitted { .. } if m.sigma <= 4.0 && m.points >= 20 => (
                Confidence::High,
                format!(
                    "{} points fit the model within σ {:.1} dB",
                    m.points, m.sigma
                ),
            ),
            Source::Fitted { .. } => (
                Confidence::Medium,
                format!("{} points, σ {:.1} dB", m.points, m.sigma),
            ),
            _ => (
                Confidence::Low,
                "too few points for a fit: ITU-R P.1238 coefficients".to_string(),
            ),
        }
    }

    fn fit_source(&self) -> String {
        let m = &self.model.per_ap[0][self.primary.index()];
        match &m.source {
            Source::Fitted { .. } => format!(
                "model: log-distance fit on {} ({} points, n {:.2}, σ {:.1} dB)",
                self.primary, m.points, m.n, m.sigma
            ),
            _ => format!("model: ITU-R P.1238 residential on {}", self.primary),
        }
    }
}

fn lower(a: Confidence, b: Confidence) -> Confidence {
    use Confidence::*;
    match (a, b) {
        (Low, _) | (_, Low) => Low,
        (Medium, _) | (_, Medium) => Medium,
        _ => High,
    }
}

/// The `q` quantile (0..1) of the finite values, `NEG_INFINITY` when there are none.
fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NEG_INFINITY;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn fmt_pos(p: Pos) -> String {
    format!("({:.1}, {:.1}) on floor {}", p.x, p.y, p.floor)
}

fn rooms_below(p: &Predicted) -> Vec<String> {
    p.rooms
        .iter()
        .filter(|r| r.grade != Grade::Good)
        .map(|r| format!("{} ({:.0} dBm)", r.room, r.predicted))
        .collect()
}

fn coverage_verdict(ctx: &Ctx, p: &Predicted) -> String {
    let below = rooms_below(p);
    if ctx.meets_coverage(p) {
        format!(
            "{:.0}% of the home at {} dBm or better and every room good",
            p.coverage_pct,
            ctx.target()
        )
    } else if below.is_empty() {
        format!(
            "only {:.0}% of the home at {} dBm or better (goal {COVERAGE_GOAL_PCT:.0}%)",
            p.coverage_pct,
            ctx.target()
        )
    } else {
        format!(
            "{:.0}% of the home at {} dBm or better; below target: {}",
            p.coverage_pct,
            ctx.target(),
            below.join(", ")
        )
    }
}
