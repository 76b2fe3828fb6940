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

/// `keep`: the current setup as measured.
pub fn keep(ctx: &Ctx) -> PlanOption {
    let txs = ctx.current_txs();
    let standard = ctx.survey.aps[0].standard;
    let values = model::field(ctx.model, &txs, ctx.primary, &ctx.grid.cells);
    let (p, values) = ctx.predicted_from(values, &txs, standard);
    let cov_ok = ctx.meets_coverage(&p);
    let busy_ok = ctx.meets_busy(p.busy_5ghz);
    let mut evidence = vec![
        ev(
            "coverage",
            p.coverage_pct,
            "%",
            format!("survey + {}", ctx.fit_source()),
        ),
        ev("median_rssi", p.median_rssi, "dBm", "survey + model"),
        ev(
            "rooms_below_target",
            rooms_below(&p).len() as f64,
            "rooms",
            "survey (room medians)",
        ),
    ];
    let measured: Vec<f64> = ctx
        .survey
        .points
        .iter()
        .filter(|pt| pt.band == ctx.primary)
        .map(|pt| pt.rssi)
        .collect();
    if let Some(m) = median(&measured) {
        evidence.push(ev(
            "measured_median_rssi",
            r1(m),
            "dBm",
            format!("survey ({} points on {})", measured.len(), ctx.primary),
        ));
    }
    if let Some(b) = p.busy_5ghz {
        evidence.push(ev(
            "channel_busy_5ghz",
            r1(b * 100.0),
            "%",
            "survey channel_busy (design goal < 50%, PLANNER-NOTES.md)",
        ));
    }
    let verdict = match (cov_ok, busy_ok) {
        (true, true) => format!("already meets the target: {}", coverage_verdict(ctx, &p)),
        (false, _) => format!("does not meet the target: {}", coverage_verdict(ctx, &p)),
        (true, false) => format!(
            "coverage is fine ({}), but 5 GHz is busy {:.0}% of the time (goal at most {:.0}%)",
            coverage_verdict(ctx, &p),
            p.busy_5ghz.unwrap_or(0.0) * 100.0,
            BUSY_GOAL * 100.0
        ),
    };
    let measured_points = measured.len();
    let confidence = if measured_points >= 10 {
        Confidence::High
    } else {
        ctx.model_confidence().0
    };
    PlanOption {
        kind: Kind::Keep,
        title: "Keep the current setup".into(),
        applicable: true,
        nodes: ctx
            .survey
            .aps
            .iter()
            .map(|a| Node {
                id: a.id.clone(),
                role: "ap",
                position: a.pos,
                standard: a.standard,
                backhaul: None,
                backhaul_mbps: None,
            })
            .collect(),
        reaches_target: cov_ok && busy_ok,
        clients_benefit: 0.0,
        cost: (0.0, 0.0),
        within_budget: true,
        confidence,
        evidence,
        assumptions: vec![],
        verdict,
        predicted: p,
        values,
    }
}

/// Candidate positions for the router: where the survey was taken (places people can reach),
/// one per search cell, at least 1 m from where it stands now.
fn move_candidates(ctx: &Ctx) -> Vec<Pos> {
    let res = ctx.search.resolution;
    let mut seen: Vec<(i64, i64, u32)> = Vec::new();
    let mut out = Vec::new();
    let here = ctx.survey.aps[0].pos;
    for p in &ctx.survey.points {
        let key = (
            (p.pos.x / res).floor() as i64,
            (p.pos.y / res).floor() as i64,
            p.pos.floor,
        );
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        if model::distance(p.pos, here) >= 1.0 {
            out.push(Pos {
                x: p.pos.x.clamp(0.0, ctx.survey.home.width),
                y: p.pos.y.clamp(0.0, ctx.survey.home.height),
                floor: p.pos.floor,
            });
        }
    }
    out
}

/// The best position for the main AP among the candidates: by coverage and rooms, then by
/// the margin (the weakest tenth of the home, whole dB), then the shortest move. `None` when
/// there is no candidate.
pub fn best_move(ctx: &Ctx) -> Option<Pos> {
    let here = ctx.survey.aps[0].pos;
    let standard = ctx.survey.aps[0].standard;
    let mut best: Option<((f64, f64), f64, Pos)> = None;
    for c in move_candidates(ctx) {
        let txs = ctx.with_main(ctx.main_tx(c, standard));
        let sv = model::field(ctx.model, &txs, ctx.primary, &ctx.search.cells);
        let rv: Vec<Vec<f64>> = ctx
            .rooms
            .iter()
            .map(|r| model::field(ctx.model, &txs, ctx.primary, &r.positions))
            .collect();
        let score = (r1(ctx.score(&sv, &rv)), percentile(&sv, 0.1).round());
        let dist = model::distance(c, here);
        let better = match best {
            None => true,
            Some((s, d, _)) => score > s || (score == s && dist < d),
        };
        if better {
            best = Some((score, dist, c));
        }
    }
    best.map(|(_, _, p)| p)
}

/// `move_ap`: the main AP at the best surveyed position.
pub fn move_ap(ctx: &Ctx, keep: &PlanOption, best: Option<Pos>) -> PlanOption {
    let main = &ctx.survey.aps[0];
    let (conf, why) = ctx.model_confidence();
    let mut o = PlanOption {
        kind: Kind::MoveAp,
        title: "Move the router".into(),
        applicable: best.is_some(),
        nodes: vec![],
        predicted: keep.predicted.clone(),
        reaches_target: false,
        clients_benefit: 0.0,
        cost: (0.0, 0.0),
        within_budget: true,
        confidence: conf,
        evidence: vec![],
        assumptions: vec![
            "the router can be moved to a surveyed spot (power and the internet line reach it)"
                .into(),
            "walls are spread evenly: the model fitted on today's position predicts the new one"
                .into(),
        ],
        verdict: "no surveyed position at least 1 m from the router to move it to".into(),
        values: keep.values.clone(),
    };
    let Some(to) = best else { return o };
    let txs = ctx.with_main(ctx.main_tx(to, main.standard));
    let values = model::field(ctx.model, &txs, ctx.primary, &ctx.grid.cells);
    let (p, values) = ctx.predicted_from(values, &txs, main.standard);
    let gain = (p.coverage_pct - keep.predicted.coverage_pct).max(0.0);
    o.clients_benefit = ctx.clients_n * gain / 100.0;
    o.title = format!("Move the router '{}' to {}", main.id, fmt_pos(to));
    o.nodes = vec![Node {
        id: main.id.clone(),
        role: "ap",
        position: to,
        standard: main.standard,
        backhaul: None,
        backhaul_mbps: None,
    }];
    o.evidence = vec![
        ev("moved_m", r1(model::distance(main.pos, to)), "m", "survey positions"),
        ev("coverage_now", keep.predicted.coverage_pct, "%", "survey + model"),
        ev("coverage", p.coverage_pct, "%", ctx.fit_source()),
        ev("rooms_below_target", rooms_below(&p).len() as f64, "rooms", ctx.fit_source()),
        ev(
            "signalplan_moved_ap",
            97.0,
            "%",
            "SignalPlan fixture homes: 57% -> 97% good coverage by moving the AP (PLANNER-NOTES.md rule 1)",
        ),
    ];
    let cov_ok = ctx.meets_coverage(&p);
    o.reaches_target = cov_ok && ctx.meets_busy(p.busy_5ghz);
    o.verdict = if o.reaches_target {
        format!(
            "moving the router is free and enough: {}",
            coverage_verdict(ctx, &p)
        )
    } else if cov_ok {
        "fixes coverage but not the busy 5 GHz channel".into()
    } else {
        format!("not enough: {}", coverage_verdict(ctx, &p))
    };
    o.confidence = conf;
    o.assumptions.push(format!("confidence: {why}"));
    o.predicted = p;
    o.values = values;
    o
}

/// A mesh node candidate.
#[derive(Clone, Copy)]
struct Candidate {
    pos: Pos,
    wired: bool,
}

/// The best node position found so far: (score in half points, preference, goodput), the
/// candidate, its backhaul and goodput, and the search-grid and room values with it.
struct Placement(
    (i64, u8, i64),
    Candidate,
    Backhaul,
    f64,
    Vec<f64>,
    Vec<Vec<f64>>,
);

/// `add_mesh`: greedy placement of up to three nodes.
pub fn add_mesh(ctx: &Ctx, keep: &PlanOption) -> PlanOption {
    let node_standard = Standard::Wifi6;
    let pooled = &ctx.model.pooled;
    let main = &ctx.survey.aps[0];
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut wired_seen: Vec<(i64, i64, u32)> = Vec::new();
    for p in ctx.survey.points.iter().filter(|p| p.wired) {
        let key = (
            (p.pos.x * 2.0).round() as i64,
            (p.pos.y * 2.0).round() as i64,
            p.pos.floor,
        );
        if !wired_seen.contains(&key) {
            wired_seen.push(key);
            candidates.push(Candidate {
                pos: p.pos,
                wired: true,
            });
        }
    }
    let wired_points = candidates.len();
    if ctx.settings.search {
        for &c in &ctx.search.cells {
            candidates.push(Candidate {
                pos: c,
                wired: false,
            });
        }
    }
    let mut txs = ctx.current_txs();
    let mut search_vals = model::field(ctx.model, &txs, ctx.primary, &ctx.search.cells);
    let mut room_vals: Vec<Vec<f64>> = ctx
        .rooms
        .iter()
        .map(|r| model::field(ctx.model, &txs, ctx.primary, &r.positions))
        .collect();
    let mut score_now = ctx.score(&search_vals, &room_vals);
    // Backhaul sources: (id, position, goodput it can pass on).
    let mut sources: Vec<(String, Pos, f64)> = vec![(main.id.clone(), main.pos, f64::INFINITY)];
    let mut nodes: Vec<Node> = Vec::new();
    let backhaul_phy = Phy::of(node_standard, Band::B5g);
    let node_model = &pooled[ctx.primary.index()];
    let mut predicted = keep.predicted.clone();
    let mut values = keep.values.clone();
    for k in 0..3 {
        // Key: (score in half points, preference, goodput).
        let mut best: Option<Placement> = None;
        for &c in &candidates {
            if nodes
                .iter()
                .any(|n| model::distance(n.position, c.pos) < 2.0)
                || model::distance(main.pos, c.pos) < 2.0
            {
                continue;
            }
            let (backhaul, goodput, pref) = if c.wired {
                (Backhaul::Wired, rates::WIRED_BACKHAUL_MBPS, 2u8)
            } else {
                let (src, rssi, upstream) = sources
                    .iter()
                    .map(|(id, at, up)| {
                        (
                            id,
                            model::predict(&pooled[Band::B5g.index()], *at, c.pos),
                            *up,
                        )
                    })
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .expect("sources always holds the main AP");
                if rssi < BACKHAUL_MIN_DBM {
                    continue;
                }
                // A dual-band node carries backhaul and clients on the same 5 GHz radio:
                // half the airtime each (PLANNER-NOTES.md decision rule 2).
                let link = backhaul_phy.rate_mbps(rssi) * rates::GOODPUT_SHARE / 2.0;
                let in_window = (BACKHAUL_WINDOW_DBM.0..=BACKHAUL_WINDOW_DBM.1).contains(&rssi);
                (
                    Backhaul::Wireless {
                        from: src.clone(),
                        rssi: r1(rssi),
                    },
                    link.min(upstream),
                    u8::from(in_window),
                )
            };
            let sv: Vec<f64> = ctx
                .search
                .cells
                .iter()
                .zip(&search_vals)
                .map(|(&cell, &v)| v.max(model::predict(node_model, c.pos, cell)))
                .collect();
            let rv: Vec<Vec<f64>> = ctx
                .rooms
                .iter()
                .zip(&room_vals)
                .map(|(r, vals)| {
                    r.positions
                        .iter()
                        .zip(vals)
                        .map(|(&p, &v)| v.max(model::predict(node_model, c.pos, p)))
                        .collect()
                })
                .collect();
            let s = ctx.score(&sv, &rv);
            let key = ((s * 2.0).round() as i64, pref, goodput.round() as i64);
            if best.as_ref().is_none_or(|b| key > b.0) {
                best = Some(Placement(key, c, backhaul, goodput, sv, rv));
            }
        }
        let Some(Placement(key, c, backhaul, goodput, sv, rv)) = best else {
            break;
        };
        // Stop when a node adds less than one point of coverage or rooms.
        if (key.0 as f64) / 2.0 < score_now + 1.0 {
            break;
        }
        let id = format!("node{}", k + 1);
        nodes.push(Node {
            id: id.clone(),
            role: "mesh_node",
            position: c.pos,
            standard: node_standard,
            backhaul: Some(backhaul),
            backhaul_mbps: Some(r1(goodput)),
        });
        sources.push((id, c.pos, goodput));
        txs.push(Tx {
            pos: c.pos,
            bands: node_standard.default_bands(),
            models: pooled.clone(),
            residuals_of: None,
        });
        search_vals = sv;
        room_vals = rv;
        score_now = (key.0 as f64) / 2.0;
        let full = model::field(ctx.model, &txs, ctx.primary, &ctx.grid.cells);
        let (p, v) = ctx.predicted_from(full, &txs, node_standard.min(main.standard));
        predicted = p;
        values = v;
        if ctx.meets_coverage(&predicted) {
            break;
        }
    }
    let n = nodes.len() as f64;
    let cost = (PRICE_MESH_NODE.0 * n, PRICE_MESH_NODE.1 * n);
    let (conf, why) = ctx.model_confidence();
    let any_wireless = nodes
        .iter()
        .any(|x| matches!(x.backhaul, Some(Backhaul::Wireless { .. })));
    let mut evidence = vec![
        ev("nodes", n, "nodes", "placement search on the model"),
        ev(
            "coverage_now",
            keep.predicted.coverage_pct,
            "%",
            "survey + model",
        ),
        ev("coverage", predicted.coverage_pct, "%", ctx.fit_source()),
        ev(
            "wired_points",
            wired_points as f64,
            "points",
            "survey (wired: true)",
        ),
    ];
    for node in &nodes {
        match &node.backhaul {
            Some(Backhaul::Wireless { rssi, .. }) => evidence.push(ev(
                &format!("{}_backhaul_rssi", node.id),
                *rssi,
                "dBm",
                "model (5 GHz, node to its uplink); placement window -60..-67 dBm (PLANNER-NOTES.md rule 2)",
            )),
            Some(Backhaul::Wired) => evidence.push(ev(
                &format!("{}_backhaul_wired", node.id),
                1.0,
                "bool",
                "survey (wired: true at this position)",
            )),
            None => {}
        }
        evidence.push(ev(
            &format!("{}_backhaul_goodput", node.id),
            node.backhaul_mbps.unwrap_or(0.0),
            "Mbit/s",
            "model: backhaul signal -> MCS -> PHY x 0.6, halved when sharing the client band",
        ));
    }
    let mut assumptions = vec![
        format!(
            "a dual-band Wi-Fi 6 node costs {}-{} USD (hearth's price table); tri-band kits avoid the halved backhaul airtime but cost more",
            PRICE_MESH_NODE.0, PRICE_MESH_NODE.1
        ),
        "nodes radiate like the pooled model of today's AP(s)".into(),
        format!("confidence: {why}"),
    ];
    if wired_points == 0 {
        assumptions.push(
            "no survey point is marked wired: backhaul is wireless (mark Ethernet/MoCA spots with wired: true)".into(),
        );
    }
    let applicable = !nodes.is_empty();
    let cov_ok = applicable && ctx.meets_coverage(&predicted);
    let reaches = cov_ok && ctx.meets_busy(predicted.busy_5ghz);
    let gain = (predicted.coverage_pct - keep.predicted.coverage_pct).max(0.0);
    let positions: Vec<String> = nodes.iter().map(|x| fmt_pos(x.position)).collect();
    let verdict = if !applicable {
        if ctx.settings.search || wired_points > 0 {
            "no position where a node gets a usable backhaul (-70 dBm or better) and adds coverage"
                .into()
        } else {
            "placement search disabled".into()
        }
    } else if reaches {
        format!(
            "reaches the target with {} node(s): {}",
            nodes.len(),
            coverage_verdict(ctx, &predicted)
        )
    } else if cov_ok {
        "fixes coverage but not the busy 5 GHz channel (a wireless backhaul even adds airtime)"
            .into()
    } else {
        format!(
            "even {} node(s) fall short: {}",
            nodes.len(),
            coverage_verdict(ctx, &predicted)
        )
    };
    PlanOption {
        kind: Kind::AddMesh,
        title: if applicable {
            format!(
                "Add {} mesh node(s) at {}",
                nodes.len(),
                positions.join(" and ")
            )
        } else {
            "Add mesh node(s)".into()
        },
        applicable,
        nodes,
        reaches_target: reaches,
        clients_benefit: ctx.clients_n * gain / 100.0,
        within_budget: ctx.within(cost),
        cost,
        confidence: if any_wireless {
            lower(conf, Confidence::Medium)
        } else {
            conf
        },
        evidence,
        assumptions,
        verdict,
        predicted,
        values,
    }
}

/// `upgrade_6e` and `upgrade_7`: a new tri-band router where the router stands, or at the
/// best position when moving it helps.
pub fn upgrade(
    ctx: &Ctx,
    keep: &PlanOption,
    moved: Option<&PlanOption>,
    to: Standard,
) -> PlanOption {
    let main = &ctx.survey.aps[0];
    let kind = if to == Standard::Wifi7 {
        Kind::Upgrade7
    } else {
        Kind::Upgrade6e
    };
    let name = if to == Standard::Wifi7 {
        "Wi-Fi 7"
    } else {
        "Wi-Fi 6E"
    };
    let price = if to == Standard::Wifi7 {
        PRICE_ROUTER_7
    } else {
        PRICE_ROUTER_6E
    };
    let pos = match moved {
        Some(m) if m.applicable && m.predicted.coverage_pct > keep.predicted.coverage_pct => {
            m.nodes[0].position
        }
        _ => main.pos,
    };
    let txs = ctx.with_main(ctx.main_tx(pos, to));
    let values = model::field(ctx.model, &txs, ctx.primary, &ctx.grid.cells);
    let (mut p, values) = ctx.predicted_from(values, &txs, to);
    let six = model::field(ctx.model, &txs, Band::B6g, &ctx.grid.cells);
    let cov6 = coverage_pct(&six, ctx.target()) / 100.0;
    let noise = median(
        &ctx.survey
            .points
            .iter()
            .filter_map(|pt| pt.noise)
            .collect::<Vec<_>>(),
    )
    .unwrap_or(rates::DEFAULT_NOISE_DBM);
    let snr_area = six
        .iter()
        .filter(|&&v| v - noise >= rates::SNR_4K_QAM_DB)
        .count() as f64
        / six.len().max(1) as f64;
    let six_median = median(&six).unwrap_or(f64::NEG_INFINITY);
    let rate6 = Phy::of(to, Band::B6g).rate_mbps(six_median);
    let busy = ctx.survey.channel_busy[Band::B5g.index()];
    let census = ctx.survey.clients;
    // 6 GHz-capable clients where 6 GHz reaches the target leave 5 GHz (uniform spread).
    let moved_share = census.map(|c| c.six_ghz_capable() as f64 / c.total.max(1) as f64 * cov6);
    p.busy_5ghz = match (busy, moved_share) {
        (Some(b), Some(s)) => Some(r1((b * (1.0 - s)) * 100.0) / 100.0),
        (b, _) => b,
    };
    let cov_ok = ctx.meets_coverage(&p);
    let busy_ok = ctx.meets_busy(p.busy_5ghz);
    let already =
        main.standard >= to || (to == Standard::Wifi6e && main.standard >= Standard::Wifi6e);
    let mut evidence = Vec::new();
    let mut why_not = Vec::new();
    let mut benefit =
        ctx.clients_n * (p.coverage_pct - keep.predicted.coverage_pct).max(0.0) / 100.0;
    match census {
        Some(c) => {
            let cap6 = c.six_ghz_capable() as f64;
            evidence.push(ev(
                "clients_6ghz_capable",
                r1(100.0 * cap6 / c.total.max(1) as f64),
                "%",
                format!("client census ({} of {})", c.six_ghz_capable(), c.total),
            ));
            let moved_clients = cap6 * cov6;
            benefit += if ctx.busy_problem() && busy_ok {
                // Everyone gains: 6 GHz clients get a clean channel, the rest less contention.
                c.total as f64
            } else {
                moved_clients
            };
            if cap6 / (c.total.max(1) as f64) < 0.3 {
                why_not.push(format!(
                    "only {} of {} clients can use 6 GHz",
                    c.six_ghz_capable(),
                    c.total
                ));
            }
        }
        None => why_not.push(
            "no client census: it is unknown whether clients can use 6 GHz (a JSON survey with \"clients\", or the live collector, tells)".to_string(),
        ),
    }
    match busy {
        Some(b) => {
            evidence.push(ev(
                "channel_busy_5ghz",
                r1(b * 100.0),
                "%",
                "survey channel_busy (Wi-Fi 6E pays when > 50%, PLANNER-NOTES.md rule 3)",
            ));
            if let Some(after) = p.busy_5ghz {
                evidence.push(ev(
                    "channel_busy_5ghz_after",
                    r1(after * 100.0),
                    "%",
                    "model: 6 GHz-capable clients in 6 GHz coverage move off 5 GHz",
                ));
            }
            if b <= BUSY_GOAL {
                why_not.push(format!("5 GHz is busy only {:.0}% of the time", b * 100.0));
            }
        }
        None => why_not.push("5 GHz channel load unknown (no channel_busy in the survey)".into()),
    }
    evidence.push(ev(
        "coverage_6ghz",
        r1(cov6 * 100.0),
        "%",
        "model: 6 GHz from the 5 GHz fit (-1.4 dB free space, -5 dB LPI power)",
    ));
    evidence.push(ev(
        "phy_rate_6ghz",
        r1(rate6),
        "Mbit/s",
        "model: median 6 GHz signal -> MCS -> PHY, 2 streams",
    ));
    let mut assumptions = vec![
        format!(
            "a {name} router costs {}-{} USD (hearth's price table)",
            price.0, price.1
        ),
        "6 GHz needs WPA3 (SAE/OWE) on the clients' networks; clients transmit 6 dB below the AP at 6 GHz (LPI)".into(),
        "clients are spread like the floor area; 6 GHz-capable clients within 6 GHz coverage use it".into(),
    ];
    if pos != main.pos {
        assumptions.push(format!(
            "the new router goes to {} (the move_ap position)",
            fmt_pos(pos)
        ));
    }
    if to == Standard::Wifi7 {
        let eht = census.map(|c| (c.wifi7, c.total));
        if let Some((n7, total)) = eht {
            evidence.push(ev(
                "clients_eht",
                r1(100.0 * n7 as f64 / total.max(1) as f64),
                "%",
                format!("client census ({n7} of {total} Wi-Fi 7)"),
            ));
        }
        evidence.push(ev(
            "area_snr_4k_qam",
            r1(snr_area * 100.0),
            "%",
            format!("model: 6 GHz SNR >= 38 dB (4K-QAM, PLANNER-NOTES.md), noise {noise:.0} dBm"),
        ));
        if let Some(w) = ctx.wan_mbps {
            evidence.push(ev(
                "wan",
                r1(w),
                "Mbit/s",
                "survey home.wan_mbps or the shaper's download",
            ));
        }
        let mut gates = Vec::new();
        match eht {
            Some((n7, total)) if (n7 as f64) < EHT_SHARE_MIN * total.max(1) as f64 => {
                gates.push(format!(
                "only {n7} of {total} clients support Wi-Fi 7 (EHT); it pays with at least {:.0}%",
                EHT_SHARE_MIN * 100.0
            ))
            }
            // The missing census is already among the reasons.
            None => {}
            _ => {}
        }
        if snr_area < 0.2 {
            gates.push(format!(
                "4K-QAM needs ~38 dB SNR, which only {:.0}% of the home would get",
                snr_area * 100.0
            ));
        }
        match ctx.wan_mbps {
            Some(w) if w >= MULTI_GIG_MBPS => {}
            Some(w) => gates.push(format!(
                "the internet link is {w:.0} Mbit/s; Wi-Fi 7's rates matter with a multi-gigabit WAN/LAN"
            )),
            None => gates.push("the internet link rate is unknown (home.wan_mbps, or a shaper's download)".into()),
        }
        if gates.is_empty() {
            benefit += census.map_or(0.0, |c| c.wifi7 as f64 * snr_area.max(0.5));
        } else {
            why_not.insert(0, format!("Wi-Fi 7 does not pay yet: {}", gates.join("; ")));
            assumptions.push(
                "client MLO is mostly EMLSR; 320 MHz only on 6 GHz (3 channels in the US, at most 1 in the EU)".into(),
            );
        }
    }
    let (conf, why) = ctx.model_confidence();
    let mut confidence = lower(conf, Confidence::Medium);
    if census.is_none() || busy.is_none() {
        confidence = Confidence::Low;
    }
    assumptions.push(format!(
        "confidence: {why}; 6 GHz is predicted, not measured"
    ));
    let reaches = !already && cov_ok && busy_ok;
    let verdict = if already {
        format!(
            "the router '{}' is already {}",
            main.id,
            main.standard.label()
        )
    } else if reaches && why_not.is_empty() {
        format!("reaches the target: {}", coverage_verdict(ctx, &p))
    } else if reaches {
        format!("reaches the target, but: {}", why_not.join("; "))
    } else if !cov_ok {
        format!("does not fix coverage: {}", coverage_verdict(ctx, &p))
    } else {
        format!(
            "5 GHz would still be busy {:.0}% of the time{}",
            p.busy_5ghz.unwrap_or(0.0) * 100.0,
            if why_not.is_empty() {
                String::new()
            } else {
                format!(" ({})", why_not.join("; "))
            }
        )
    };
    PlanOption {
        kind,
        title: format!("Replace the router with a {name} router"),
        applicable: !already,
        nodes: vec![Node {
            id: main.id.clone(),
            role: "ap",
            position: pos,
            standard: to,
            backhaul: None,
            backhaul_mbps: None,
        }],
        reaches_target: reaches,
        clients_benefit: if already { 0.0 } else { benefit },
        within_budget: ctx.within(price),
        cost: price,
        confidence,
        evidence,
        assumptions,
        verdict,
        predicted: p,
        values,
    }
}

/// Orders two options by the rule: benefit per cost (5% ties), then cost, then simplicity.
fn better(a: &PlanOption, b: &PlanOption) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (x, y) = (a.benefit_per_cost(), b.benefit_per_cost());
    let tie = (x.is_infinite() && y.is_infinite()) || (x - y).abs() <= 0.05 * x.max(y);
    let by_bpc = if tie {
        Ordering::Equal
    } else {
        y.total_cmp(&x)
    };
    by_bpc
        .then(a.cost_mid().total_cmp(&b.cost_mid()))
        .then(a.kind.cmp(&b.kind))
}

fn money(v: f64) -> String {
    format!("{v:.0}")
}

/// Picks the recommendation (see the module header).
pub fn recommend(options: &[PlanOption], budget: f64, currency: &str) -> Recommendation {
    let mut notes = Vec::new();
    let pick = |filter: &dyn Fn(&PlanOption) -> bool| -> Option<usize> {
        let mut idx: Vec<usize> = (0..options.len())
            .filter(|&i| filter(&options[i]))
            .collect();
        idx.sort_by(|&a, &b| better(&options[a], &options[b]));
        idx.first().copied()
    };
    if let Some(i) = pick(&|o| o.applicable && o.reaches_target && o.within_budget) {
        let o = &options[i];
        let reason = match o.kind {
            Kind::Keep => format!("your setup {}", o.verdict),
            _ if o.cost.1 == 0.0 => o.verdict.clone(),
            _ => format!(
                "the best benefit per cost that reaches the target within your budget of {} {currency}: {} for {}-{} {currency}",
                money(budget),
                o.verdict,
                money(o.cost.0),
                money(o.cost.1)
            ),
        };
        let alternatives = options.iter().filter(|x| {
            o.kind != Kind::Keep
                && x.kind != o.kind
                && x.cost.1 > 0.0
                && x.applicable
                && x.reaches_target
                && x.within_budget
        });
        for other in alternatives {
            notes.push(format!(
                "{} also reaches the target but gives less per {currency} ({}-{} {currency})",
                other.kind.label(),
                money(other.cost.0),
                money(other.cost.1)
            ));
        }
        return Recommendation {
            option: i,
            kind: o.kind,
            reaches_target: true,
            reason,
            notes,
        };
    }
    // Nothing reaches the target within the budget.
    let over: Vec<&PlanOption> = options
        .iter()
        .filter(|o| o.applicable && o.reaches_target && !o.within_budget)
        .collect();
    for o in &over {
        notes.push(format!(
            "{} would reach the target but costs {}-{} {currency}, over your budget of {} {currency}",
            o.kind.label(),
            money(o.cost.0),
            money(o.cost.1),
            money(budget)
        ));
    }
    let paid_in_budget = options
        .iter()
        .any(|o| o.applicable && o.cost.1 > 0.0 && o.within_budget);
    if !paid_in_budget {
        notes.push(format!(
            "a budget of {} {currency} covers no paid option (the cheapest starts at {} {currency})",
            money(budget),
            money(
                options
                    .iter()
                    .filter(|o| o.applicable && o.cost.0 > 0.0)
                    .map(|o| o.cost.0)
                    .fold(f64::INFINITY, f64::min)
            )
        ));
    }
    let i = pick(&|o| o.applicable && o.within_budget && o.clients_benefit > 0.0).unwrap_or(0);
    let o = &options[i];
    let reason = if o.kind == Kind::Keep {
        "nothing within your budget improves on the current setup".to_string()
    } else {
        format!(
            "no option reaches the target within your budget; this one helps most per cost: {}",
            o.verdict
        )
    };
    Recommendation {
        option: i,
        kind: o.kind,
        reaches_target: false,
        reason,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(kind: Kind, cost: (f64, f64), benefit: f64, reaches: bool, budget: f64) -> PlanOption {
        PlanOption {
            kind,
            title: String::new(),
            applicable: true,
            nodes: vec![],
            predicted: Predicted {
                coverage_pct: 0.0,
                coverage_by_band: vec![],
                median_rssi: 0.0,
                phy_rate_mbps: 0.0,
                busy_5ghz: None,
                rooms: vec![],
            },
            reaches_target: reaches,
            clients_benefit: benefit,
            cost,
            within_budget: cost.1 <= budget,
            confidence: Confidence::Medium,
            evidence: vec![],
            assumptions: vec![],
            verdict: "v".into(),
            values: vec![],
        }
    }

    #[test]
    fn free_option_that_reaches_the_target_beats_paid_ones() {
        let o = vec![
            opt(Kind::Keep, (0.0, 0.0), 0.0, false, 300.0),
            opt(Kind::MoveAp, (0.0, 0.0), 2.0, true, 300.0),
            opt(Kind::AddMesh, (80.0, 150.0), 9.0, true, 300.0),
        ];
        let r = recommend(&o, 300.0, "USD");
        assert_eq!(r.kind, Kind::MoveAp);
        assert!(r.reaches_target);
        assert!(
            r.notes[0].starts_with("add_mesh also reaches"),
            "{:?}",
            r.notes
        );
        assert_eq!(r.notes.len(), 1, "only paid alternatives are named");
    }

    #[test]
    fn keep_wins_when_it_already_meets_the_target() {
        let o = vec![
            opt(Kind::Keep, (0.0, 0.0), 0.0, true, 300.0),
            opt(Kind::MoveAp, (0.0, 0.0), 1.0, true, 300.0),
        ];
        assert_eq!(recommend(&o, 300.0, "USD").kind, Kind::Keep);
    }

    #[test]
    fn best_benefit_per_cost_wins_and_near_ties_prefer_the_cheaper() {
        let o = vec![
            opt(Kind::Keep, (0.0, 0.0), 0.0, false, 1000.0),
            opt(Kind::Upgrade6e, (150.0, 300.0), 14.0, true, 1000.0), // 0.0622 per USD
            opt(Kind::Upgrade7, (250.0, 500.0), 30.0, true, 1000.0),  // 0.08 per USD
        ];
        assert_eq!(recommend(&o, 1000.0, "USD").kind, Kind::Upgrade7);
        let o = vec![
            opt(Kind::Keep, (0.0, 0.0), 0.0, false, 1000.0),
            opt(Kind::Upgrade6e, (150.0, 300.0), 14.0, true, 1000.0),
            opt(Kind::Upgrade7, (250.0, 500.0), 24.0, true, 1000.0), // 0.064: within 5%
        ];
        assert_eq!(recommend(&o, 1000.0, "USD").kind, Kind::Upgrade6e);
    }

    #[test]
    fn over_budget_options_are_named_and_the_best_affordable_help_is_recommended() {
        let o = vec![
            opt(Kind::Keep, (0.0, 0.0), 0.0, false, 50.0),
            opt(Kind::MoveAp, (0.0, 0.0), 3.0, false, 50.0),
            opt(Kind::AddMesh, (160.0, 300.0), 8.0, true, 50.0),
            opt(Kind::Upgrade6e, (150.0, 300.0), 0.0, false, 50.0),
        ];
        let r = recommend(&o, 50.0, "EUR");
        assert_eq!(r.kind, Kind::MoveAp);
        assert!(!r.reaches_target);
        assert!(
            r.notes.iter().any(|n| n.contains(
                "add_mesh would reach the target but costs 160-300 EUR, over your budget of 50 EUR"
            )),
            "{:?}",
            r.notes
        );
        assert!(
            r.notes.iter().any(|n| n.contains("covers no paid option")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn inapplicable_options_are_never_recommended() {
        let mut six = opt(Kind::Upgrade6e, (150.0, 300.0), 5.0, true, 500.0);
        six.applicable = false;
        let o = vec![opt(Kind::Keep, (0.0, 0.0), 0.0, false, 500.0), six];
        let r = recommend(&o, 500.0, "USD");
        assert_eq!(r.kind, Kind::Keep);
        assert!(r.reason.contains("nothing within your budget"));
    }

    #[test]
    fn grades_use_the_target_and_the_too_weak_line() {
        assert_eq!(Grade::of(-60.0, -67.0), Grade::Good);
        assert_eq!(Grade::of(-70.0, -67.0), Grade::Fair);
        assert_eq!(Grade::of(-76.0, -67.0), Grade::Poor);
        assert_eq!(Grade::of(-78.0, -80.0), Grade::Good);
    }
}
