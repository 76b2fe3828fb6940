//! The Wi-Fi planner (pure: data in, data out, no I/O): survey measurements in, a coverage
//! model, per-room grades, dead zones and ranked, costed options out — keep, move the router,
//! add mesh nodes, Wi-Fi 6E, Wi-Fi 7 — with the evidence behind each, a text report, JSON for
//! LuCI and an SVG heatmap.
//!
//! Pipeline: [`csv`]/[`json`] read a [`Survey`] → [`model::CoverageModel`] fits log-distance
//! path loss per band and AP ([`fit`]) → [`options`] evaluates each option on a grid over the
//! floor plan and [`options::recommend`] applies the rule → [`report`] and [`svg`] render.
//! The numbers and rules come from PLANNER-NOTES.md (cited where used); docs/planner.md is the
//! user's reference. Everything is deterministic: the same input gives the same bytes.
//!
//! Live radio data (`hearth plan --snapshot FILE`, collected from nl80211 by the `wifi` module
//! with `hearth plan --collect N`) enters the same [`Survey`] through [`live`]: measured
//! channel load, the client census, the router's radio generation and bands.

pub mod csv;
pub mod fit;
pub mod json;
pub mod live;
pub mod model;
pub mod options;
pub mod rates;
pub mod report;
pub mod run;
pub mod survey;
pub mod svg;

#[cfg(test)]
mod tests;

pub use options::{Kind, PlanOption, Recommendation};
pub use survey::{
    Ap, ApPlacement, Band, Clients, Home, Point, Pos, Problem, ReadOptions, Standard, Survey,
    SurveyError, SurveyRead,
};

use model::{CoverageModel, Grid};
use options::{Ctx, Room};

/// Search grids are coarser than the report grid: at least this cell size, metres.
const SEARCH_MIN_RES_M: f64 = 1.0;
/// At most this many search cells (all floors).
const SEARCH_MAX_CELLS: usize = 1500;

/// Most positions per room the grades and searches evaluate.
const MAX_ROOM_POSITIONS: usize = 32;

/// What the planner needs besides the survey (from the `planner` config section).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Signal every room should get, dBm.
    pub target_rssi: f64,
    /// Money available for hardware, in `currency`.
    pub budget: f64,
    pub currency: String,
    /// Grid cell size, metres.
    pub resolution: f64,
    /// Internet link rate when the survey does not say (from a shaper's `download`).
    pub wan_mbps: Option<f64>,
    /// Run the mesh placement search (off only to measure its cost).
    pub search: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            target_rssi: -67.0,
            budget: 0.0,
            currency: "USD".into(),
            resolution: 0.5,
            wan_mbps: None,
            search: true,
        }
    }
}

/// A connected area below the target on one floor.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadZone {
    pub floor: u32,
    /// Square metres.
    pub area_m2: f64,
    /// Bounding box: west, north, east, south edges, metres.
    pub bbox: (f64, f64, f64, f64),
    /// Weakest predicted signal in it, dBm.
    pub worst_rssi: f64,
    /// Surveyed rooms whose label lies in it.
    pub rooms: Vec<String>,
}

/// Everything the planner concluded.
#[derive(Debug, Clone)]
pub struct Plan {
    pub settings: Settings,
    pub survey: Survey,
    /// The band coverage is judged on (5 GHz when any AP has it).
    pub primary: Band,
    pub model: CoverageModel,
    pub grid: Grid,
    pub rooms: Vec<Room>,
    pub dead_zones: Vec<DeadZone>,
    /// keep, move_ap, add_mesh, upgrade_6e, upgrade_7 — always all five, in that order.
    pub options: Vec<PlanOption>,
    pub recommendation: Recommendation,
    /// Things the whole plan assumed.
    pub assumptions: Vec<String>,
    /// Internet link rate used, Mbit/s.
    pub wan_mbps: Option<f64>,
}

fn rooms(survey: &Survey, primary: Band) -> Vec<Room> {
    let mut names: Vec<&str> = Vec::new();
    for p in &survey.points {
        if !names.contains(&p.room.as_str()) {
            names.push(&p.room);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let pts: Vec<&Point> = survey.points.iter().filter(|p| p.room == name).collect();
            let mut per_floor: Vec<(u32, usize)> = Vec::new();
            for p in &pts {
                match per_floor.iter_mut().find(|(f, _)| *f == p.pos.floor) {
                    Some(e) => e.1 += 1,
                    None => per_floor.push((p.pos.floor, 1)),
                }
            }
            per_floor.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let floor = per_floor[0].0;
            let mut positions: Vec<Pos> = Vec::new();
            for p in &pts {
                if !positions.iter().any(|q| model::distance(*q, p.pos) < 0.05) {
                    positions.push(p.pos);
                }
            }
            // Grades rest on the median of at most MAX_ROOM_POSITIONS positions, taken evenly
            // in file order: plenty for a median, and the searches stay fast on big surveys.
            if positions.len() > MAX_ROOM_POSITIONS {
                let step = positions.len() as f64 / MAX_ROOM_POSITIONS as f64;
                positions = (0..MAX_ROOM_POSITIONS)
                    .map(|i| positions[(i as f64 * step) as usize])
                    .collect();
            }
            let on_floor: Vec<&Pos> = positions.iter().filter(|p| p.floor == floor).collect();
            let n = on_floor.len().max(1) as f64;
            let centre = Pos {
                x: on_floor.iter().map(|p| p.x).sum::<f64>() / n,
                y: on_floor.iter().map(|p| p.y).sum::<f64>() / n,
                floor,
            };
            let measured: Vec<f64> = pts
                .iter()
                .filter(|p| p.band == primary)
                .map(|p| p.rssi)
                .collect();
            Room {
                name: name.to_string(),
                floor,
                positions,
                centre,
                measured: model::median(&measured),
            }
        })
        .collect()
}

/// Connected (4-neighbour) areas below the target, largest first, at most five.
fn dead_zones(grid: &Grid, values: &[f64], target: f64, rooms: &[Room]) -> Vec<DeadZone> {
    let per_floor = grid.nx * grid.ny;
    let mut seen = vec![false; values.len()];
    let mut zones = Vec::new();
    for start in 0..values.len() {
        if seen[start] || values[start] >= target {
            continue;
        }
        let floor = (start / per_floor) as u32;
        let mut stack = vec![start];
        seen[start] = true;
        let mut cells = Vec::new();
        while let Some(i) = stack.pop() {
            cells.push(i);
            let local = i % per_floor;
            let (ix, iy) = (local % grid.nx, local / grid.nx);
            let mut push = |j: usize| {
                if !seen[j] && values[j] < target {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if ix > 0 {
                push(i - 1);
            }
            if ix + 1 < grid.nx {
                push(i + 1);
            }
            if iy > 0 {
                push(i - grid.nx);
            }
            if iy + 1 < grid.ny {
                push(i + grid.nx);
            }
        }
        let r = grid.resolution;
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        let mut worst = f64::INFINITY;
        for &i in &cells {
            let c = grid.cells[i];
            x0 = x0.min(c.x - r / 2.0);
            y0 = y0.min(c.y - r / 2.0);
            x1 = x1.max(c.x + r / 2.0);
            y1 = y1.max(c.y + r / 2.0);
            worst = worst.min(values[i]);
        }
        let bbox = (x0.max(0.0), y0.max(0.0), x1, y1);
        let cell_set: std::collections::HashSet<usize> = cells.iter().copied().collect();
        let in_zone: Vec<String> = rooms
            .iter()
            .filter(|room| {
                room.floor == floor && {
                    let ix = ((room.centre.x / r).floor() as usize).min(grid.nx - 1);
                    let iy = ((room.centre.y / r).floor() as usize).min(grid.ny - 1);
                    cell_set.contains(&(floor as usize * per_floor + iy * grid.nx + ix))
                }
            })
            .map(|room| room.name.clone())
            .collect();
        zones.push(DeadZone {
            floor,
            area_m2: cells.len() as f64 * r * r,
            bbox,
            worst_rssi: worst,
            rooms: in_zone,
        });
    }
    zones.sort_by(|a, b| b.area_m2.total_cmp(&a.area_m2).then(a.floor.cmp(&b.floor)));
    zones.truncate(5);
    zones
}

/// Plans the home of `survey`.
pub fn plan(survey: Survey, settings: Settings) -> Plan {
    let primary = if survey.aps.iter().any(|a| a.bands.contains(&Band::B5g))
        || survey.points.iter().any(|p| p.band == Band::B5g)
    {
        Band::B5g
    } else {
        Band::B2g4
    };
    let model = CoverageModel::build(&survey);
    let grid = Grid::new(&survey.home, settings.resolution, model::MAX_GRID_CELLS);
    let search = Grid::new(
        &survey.home,
        settings.resolution.max(SEARCH_MIN_RES_M),
        SEARCH_MAX_CELLS,
    );
    let rooms = rooms(&survey, primary);
    let wan_mbps = survey.home.wan_mbps.or(settings.wan_mbps);
    let mut assumptions = model.assumptions.clone();
    assumptions.push(format!(
        "distances are 3-D with {} m per floor; walls are not modelled one by one (the fitted exponent absorbs them)",
        fit::FLOOR_HEIGHT_M
    ));
    if (grid.resolution - settings.resolution).abs() > 1e-9 {
        assumptions.push(format!(
            "the grid was coarsened to {:.2} m to stay within {} cells",
            grid.resolution,
            model::MAX_GRID_CELLS
        ));
    }
    if survey.clients.is_none() {
        assumptions.push(format!(
            "no client census: benefits are counted for {} clients",
            options::ASSUMED_CLIENTS
        ));
    }
    if settings.currency != "USD" {
        assumptions.push(format!(
            "prices come from hearth's USD table and are compared with the budget in {} as they are",
            settings.currency
        ));
    }
    assumptions.push(format!(
        "PHY rates are for a 2-stream client; goodput is about {:.0}% of the PHY rate",
        rates::GOODPUT_SHARE * 100.0
    ));
    let clients_n = survey
        .clients
        .map(|c| c.total as f64)
        .filter(|&t| t > 0.0)
        .unwrap_or(options::ASSUMED_CLIENTS);
    let ctx = Ctx {
        survey: &survey,
        model: &model,
        settings: &settings,
        grid: &grid,
        search: &search,
        rooms: &rooms,
        primary,
        clients_n,
        wan_mbps,
    };
    let keep = options::keep(&ctx);
    let best = options::best_move(&ctx);
    let moved = options::move_ap(&ctx, &keep, best);
    let mesh = options::add_mesh(&ctx, &keep);
    let six = options::upgrade(&ctx, &keep, Some(&moved), Standard::Wifi6e);
    let seven = options::upgrade(&ctx, &keep, Some(&moved), Standard::Wifi7);
    let dead = dead_zones(&grid, &keep.values, settings.target_rssi, &rooms);
    let options = vec![keep, moved, mesh, six, seven];
    let recommendation = options::recommend(&options, settings.budget, &settings.currency);
    Plan {
        settings,
        primary,
        model,
        grid,
        rooms,
        dead_zones: dead,
        options,
        recommendation,
        assumptions,
        wan_mbps,
        survey,
    }
}
