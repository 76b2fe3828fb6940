//! The coverage model of one home: a path-loss model per band and per AP (see [`super::fit`]),
//! the measurement residuals around it, and the grid over the floor plan on which options are
//! compared.
//!
//! A *transmitter* ([`Tx`]) is an AP or node at a position with its per-band models. The
//! predicted RSSI at a position is the best transmitter's. A transmitter that stands where a
//! survey AP stood while it was measured also carries that AP's residuals (measured minus
//! model), interpolated by inverse distance weighting within [`RESIDUAL_RADIUS_M`]: the map of
//! the current setup then honours the measurements (walls the model does not know about show
//! up), while an AP moved elsewhere is predicted by the model alone (its walls are unknown).

use std::collections::HashMap;

use super::fit::{self, PathLoss, Sample, Source, FLOOR_HEIGHT_M, MIN_FIT_POINTS};
use super::survey::{Band, Home, Pos, Survey};

/// How far a measurement's residual is spread, metres (about a room).
pub const RESIDUAL_RADIUS_M: f64 = 3.0;

/// Most grid cells the planner evaluates (all floors together); a finer `resolution` on a big
/// home is coarsened to this, and the report says so.
pub const MAX_GRID_CELLS: usize = 60_000;

/// 3-D distance between two positions, metres.
pub fn distance(a: Pos, b: Pos) -> f64 {
    let dz = (a.floor as f64 - b.floor as f64) * FLOOR_HEIGHT_M;
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2) + dz * dz).sqrt()
}

/// RSSI predicted by `m` for a transmitter at `from` received at `to`.
pub fn predict(m: &PathLoss, from: Pos, to: Pos) -> f64 {
    m.predict(distance(from, to), from.floor.abs_diff(to.floor))
}

/// One measurement's disagreement with the model of its AP.
#[derive(Debug, Clone)]
struct Residual {
    pos: Pos,
    /// Measured minus predicted, dB.
    value: f64,
}

/// The fitted models and the residual field of a survey.
#[derive(Debug, Clone)]
pub struct CoverageModel {
    /// Per band, over all APs' points (index [`Band::index`]); what new nodes use.
    pub pooled: [PathLoss; 3],
    /// Per survey AP and band: the AP's own fit when it has enough points, else `pooled`.
    pub per_ap: Vec<[PathLoss; 3]>,
    /// Residuals per (AP index, band, floor), bucketed by 3 m cells for lookup.
    residuals: HashMap<(usize, usize, u32, i64, i64), Vec<Residual>>,
    /// What the model assumed, for the report.
    pub assumptions: Vec<String>,
}

fn bucket(v: f64) -> i64 {
    (v / RESIDUAL_RADIUS_M).floor() as i64
}

impl CoverageModel {
    /// Fits every model of `survey`.
    pub fn build(survey: &Survey) -> CoverageModel {
        let mut assumptions = Vec::new();
        let ap_index = |id: &str| survey.aps.iter().position(|a| a.id == id);
        let samples_of = |band: Band, ap: Option<usize>| -> Vec<Sample> {
            survey
                .points
                .iter()
                .filter(|p| p.band == band)
                .filter_map(|p| {
                    let i = ap_index(&p.ap)?;
                    if ap.is_some_and(|a| a != i) {
                        return None;
                    }
                    let at = survey.aps[i].pos;
                    Some(Sample {
                        distance: distance(at, p.pos),
                        floors: at.floor.abs_diff(p.pos.floor),
                        rssi: p.rssi,
                    })
                })
                .collect()
        };
        let mut pooled: Vec<PathLoss> = Band::ALL
            .iter()
            .map(|&b| fit::fit(b, &samples_of(b, None)))
            .collect();
        let has_6 = samples_of(Band::B6g, None).len() >= MIN_FIT_POINTS;
        if !has_6 {
            pooled[2] = pooled[1].derive_6ghz();
            assumptions.push(format!(
                "6 GHz is predicted from the 5 GHz model: {} dB more free-space loss at 1 m (SignalPlan: 48.7 vs 47.3 dB) and {} dB less power (LPI beacons on 20 MHz vs a 23 dBm 5 GHz AP); same exponent and floor loss, which is optimistic through brick and concrete",
                fit::SIX_GHZ_EXTRA_FSPL_DB,
                fit::SIX_GHZ_POWER_OFFSET_DB
            ));
        }
        for m in &pooled {
            if let Source::P1238 { reason } = &m.source {
                let measured = survey.points.iter().any(|p| p.band == m.band);
                if measured
                    || m.band != Band::B2g4
                    || survey.aps.iter().any(|a| a.bands.contains(&m.band))
                {
                    assumptions.push(format!(
                        "{}: ITU-R P.1238 residential coefficients (N = {}, floor loss {} dB) instead of a fit: {reason}",
                        m.band,
                        fit::P1238_N,
                        fit::p1238_floor_loss_db(m.band)
                    ));
                }
            }
        }
        let pooled: [PathLoss; 3] = [pooled[0].clone(), pooled[1].clone(), pooled[2].clone()];
        let mut per_ap = Vec::new();
        for (i, _) in survey.aps.iter().enumerate() {
            let mut own = pooled.clone();
            for b in Band::ALL {
                let s = samples_of(b, Some(i));
                if s.len() >= MIN_FIT_POINTS && s.len() < samples_of(b, None).len() {
                    let m = fit::fit(b, &s);
                    if matches!(m.source, Source::Fitted { .. }) {
                        own[b.index()] = m;
                    }
                }
            }
            if !has_6 && matches!(own[1].source, Source::Fitted { .. }) {
                own[2] = own[1].derive_6ghz();
            }
            per_ap.push(own);
        }
        let mut model = CoverageModel {
            pooled,
            per_ap,
            residuals: HashMap::new(),
            assumptions,
        };
        for p in &survey.points {
            let Some(i) = ap_index(&p.ap) else { continue };
            let m = &model.per_ap[i][p.band.index()];
            let value = p.rssi - predict(m, survey.aps[i].pos, p.pos);
            model
                .residuals
                .entry((
                    i,
                    p.band.index(),
                    p.pos.floor,
                    bucket(p.pos.x),
                    bucket(p.pos.y),
                ))
                .or_default()
                .push(Residual { pos: p.pos, value });
        }
        model
    }

    /// The residual correction of AP `ap` on `band` at `at`, dB (0 far from measurements).
    pub fn correction(&self, ap: usize, band: Band, at: Pos) -> f64 {
        let (bx, by) = (bucket(at.x), bucket(at.y));
        let (mut sw, mut swr, mut alpha) = (0.0, 0.0, 0.0f64);
        for dx in -1..=1 {
            for dy in -1..=1 {
                let Some(list) =
                    self.residuals
                        .get(&(ap, band.index(), at.floor, bx + dx, by + dy))
                else {
                    continue;
                };
                for r in list {
                    let d = ((r.pos.x - at.x).powi(2) + (r.pos.y - at.y).powi(2)).sqrt();
                    if d >= RESIDUAL_RADIUS_M {
                        continue;
                    }
                    let w = 1.0 / (d * d + 0.25);
                    sw += w;
                    swr += w * r.value;
                    alpha = alpha.max(1.0 - d / RESIDUAL_RADIUS_M);
                }
            }
        }
        if sw > 0.0 {
            alpha * swr / sw
        } else {
            0.0
        }
    }
}

/// An AP or mesh node as the grid sees it.
#[derive(Debug, Clone)]
pub struct Tx {
    pub pos: Pos,
    /// Bands it serves.
    pub bands: Vec<Band>,
    /// Its model per band (index [`Band::index`]).
    pub models: [PathLoss; 3],
    /// Survey AP index whose residuals apply (only when standing where it was measured).
    pub residuals_of: Option<usize>,
}

/// Cell centres over the floor plan, floor by floor, row by row (north to south).
#[derive(Debug, Clone)]
pub struct Grid {
    /// Cell size, metres.
    pub resolution: f64,
    pub nx: usize,
    pub ny: usize,
    pub floors: u32,
    pub cells: Vec<Pos>,
}

impl Grid {
    /// A grid at `resolution` metres, coarsened to at most `max_cells` cells.
    pub fn new(home: &Home, resolution: f64, max_cells: usize) -> Grid {
        let mut res = resolution.max(0.05);
        loop {
            let nx = (home.width / res).ceil().max(1.0) as usize;
            let ny = (home.height / res).ceil().max(1.0) as usize;
            if nx * ny * home.floors as usize <= max_cells.max(1) {
                let mut cells = Vec::with_capacity(nx * ny * home.floors as usize);
                for floor in 0..home.floors {
                    for iy in 0..ny {
                        for ix in 0..nx {
                            // Cells at the edge may be cut by the plan; centre them in what is left.
                            let x0 = ix as f64 * res;
                            let y0 = iy as f64 * res;
                            cells.push(Pos {
                                x: (x0 + (x0 + res).min(home.width)) / 2.0,
                                y: (y0 + (y0 + res).min(home.height)) / 2.0,
                                floor,
                            });
                        }
                    }
                }
                return Grid {
                    resolution: res,
                    nx,
                    ny,
                    floors: home.floors,
                    cells,
                };
            }
            res *= 1.25;
        }
    }
}

/// The best predicted RSSI on `band` at each of `at`, over `txs` serving it
/// (`f64::NEG_INFINITY` where none does).
pub fn field(model: &CoverageModel, txs: &[Tx], band: Band, at: &[Pos]) -> Vec<f64> {
    at.iter()
        .map(|&p| {
            txs.iter()
                .filter(|t| t.bands.contains(&band))
                .map(|t| {
                    let m = &t.models[band.index()];
                    let c = t.residuals_of.map_or(0.0, |i| model.correction(i, band, p));
                    predict(m, t.pos, p) + c
                })
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect()
}

/// Share of values at or above `target`, percent.
pub fn coverage_pct(values: &[f64], target: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    100.0 * values.iter().filter(|&&v| v >= target).count() as f64 / values.len() as f64
}

/// Median of the finite values (`None` when there are none).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::survey::{Ap, Point, Standard};

    fn survey(points: Vec<(f64, f64, f64)>) -> Survey {
        Survey {
            home: Home {
                width: 20.0,
                height: 10.0,
                floors: 1,
                wan_mbps: None,
            },
            aps: vec![Ap {
                id: "main".into(),
                pos: Pos {
                    x: 1.0,
                    y: 5.0,
                    floor: 0,
                },
                standard: Standard::Wifi6,
                bands: vec![Band::B2g4, Band::B5g],
            }],
            clients: None,
            channel_busy: [None; 3],
            points: points
                .into_iter()
                .map(|(x, y, rssi)| Point {
                    room: "R".into(),
                    pos: Pos { x, y, floor: 0 },
                    band: Band::B5g,
                    rssi,
                    ap: "main".into(),
                    noise: None,
                    throughput_mbps: None,
                    wired: false,
                    origin: String::new(),
                })
                .collect(),
            notes: Vec::new(),
        }
    }

    /// RSSI of an exact -30 dBm at 1 m, n = 3 model.
    fn exact(x: f64, y: f64) -> f64 {
        let d = ((x - 1.0).powi(2) + (y - 5.0).powi(2)).sqrt().max(1.0);
        -30.0 - 30.0 * d.log10()
    }

    #[test]
    fn grid_covers_the_plan_with_cell_centres_and_coarsens_big_homes() {
        let home = Home {
            width: 10.0,
            height: 5.0,
            floors: 2,
            wan_mbps: None,
        };
        let g = Grid::new(&home, 1.0, 1000);
        assert_eq!((g.nx, g.ny, g.cells.len()), (10, 5, 100));
        assert_eq!(
            g.cells[0],
            Pos {
                x: 0.5,
                y: 0.5,
                floor: 0
            }
        );
        assert_eq!(
            g.cells[99],
            Pos {
                x: 9.5,
                y: 4.5,
                floor: 1
            }
        );
        let coarse = Grid::new(&home, 0.1, 1000);
        assert!(coarse.cells.len() <= 1000 && coarse.resolution > 0.1);
        // A width that is not a multiple of the resolution: the last cell is centred in what is left.
        let odd = Grid::new(&Home { width: 2.5, ..home }, 1.0, 1000);
        assert_eq!(odd.cells[2].x, 2.25);
    }

    #[test]
    fn residual_interpolation_honours_measurements_and_fades_with_distance() {
        // Points follow the model exactly except one spot 8 dB worse (a wall the model lacks).
        let mut pts: Vec<(f64, f64, f64)> = (0..19)
            .map(|i| (1.0 + i as f64, 2.0, exact(1.0 + i as f64, 2.0)))
            .collect();
        pts.push((15.0, 8.0, exact(15.0, 8.0) - 8.0));
        let s = survey(pts);
        let m = CoverageModel::build(&s);
        let at = |x: f64, y: f64| Pos { x, y, floor: 0 };
        let r = m.correction(0, Band::B5g, at(15.0, 8.0));
        let model_only = predict(&m.per_ap[0][1], s.aps[0].pos, at(15.0, 8.0));
        // At the point, model + correction is (nearly) the measurement.
        assert!(
            (model_only + r - (exact(15.0, 8.0) - 8.0)).abs() < 0.8,
            "corrected {} vs measured {}",
            model_only + r,
            exact(15.0, 8.0) - 8.0
        );
        // Half-way out of the radius it is weaker; beyond it there is none.
        let half = m.correction(0, Band::B5g, at(16.5, 8.0));
        assert!(half < 0.0 && half.abs() < r.abs() * 0.6, "{half} vs {r}");
        assert!(m.correction(0, Band::B5g, at(15.0, 4.5)).abs() < 1.0);
        assert_eq!(m.correction(0, Band::B5g, at(19.0, 9.9)), 0.0);
        // Other bands and floors have no residuals here.
        assert_eq!(m.correction(0, Band::B2g4, at(15.0, 8.0)), 0.0);
    }

    #[test]
    fn field_takes_the_strongest_transmitter_serving_the_band() {
        let s = survey(
            (0..10)
                .map(|i| (2.0 + i as f64, 5.0, exact(2.0 + i as f64, 5.0)))
                .collect(),
        );
        let m = CoverageModel::build(&s);
        let tx = |x: f64, bands: Vec<Band>| Tx {
            pos: Pos {
                x,
                y: 5.0,
                floor: 0,
            },
            bands,
            models: m.pooled.clone(),
            residuals_of: None,
        };
        let at = [Pos {
            x: 18.0,
            y: 5.0,
            floor: 0,
        }];
        let near = field(
            &m,
            &[tx(1.0, vec![Band::B5g]), tx(17.0, vec![Band::B5g])],
            Band::B5g,
            &at,
        )[0];
        assert!((near - -30.0).abs() < 0.5, "{near}");
        let none = field(&m, &[tx(17.0, vec![Band::B2g4])], Band::B5g, &at)[0];
        assert_eq!(none, f64::NEG_INFINITY);
    }

    #[test]
    fn coverage_and_median() {
        assert_eq!(
            coverage_pct(&[-60.0, -70.0, -67.0, f64::NEG_INFINITY], -67.0),
            50.0
        );
        assert_eq!(
            median(&[-60.0, -70.0, f64::NEG_INFINITY, -65.0]),
            Some(-65.0)
        );
        assert_eq!(median(&[-60.0, -70.0]), Some(-65.0));
        assert_eq!(median(&[]), None);
    }
}
