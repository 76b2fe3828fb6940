//! Log-distance path loss, fitted from measurements.
//!
//! RSSI(d, f) = RSSI(1 m) − 10·n·log10(d) − Lf·f + X, X ~ N(0, σ), with d the 3-D distance in
//! metres (clamped to 1 m, the model's reference distance) and f the number of floors between
//! AP and point. `RSSI(1 m)` and `n` (and `Lf` when there are points on other floors) are
//! fitted by ordinary least squares per band and per AP (PLANNER-NOTES.md, "Propagation with
//! few measurements"). With too few points, or a fit that is not physical, the distance
//! coefficient and floor loss of ITU-R P.1238 for residential buildings are used instead, and
//! the offset is calibrated on whatever points there are (or derived from an assumed EIRP).

use super::survey::Band;

/// Storey height assumed for the vertical part of the distance, metres.
pub const FLOOR_HEIGHT_M: f64 = 3.0;

/// Fewest points for a fit of our own.
pub const MIN_FIT_POINTS: usize = 5;

/// A fitted `n` outside this range is not a home's propagation (free space is 2; P.1238's
/// indoor coefficients are 2.2–4): the data is too narrow or too noisy to trust.
pub const PLAUSIBLE_N: (f64, f64) = (1.5, 6.0);

/// Assumed EIRP of a home AP per band, dBm: ~20 dBm at 2.4 GHz, a 23 dBm 5 GHz AP, and a US
/// LPI 6 GHz AP beaconing on 20 MHz at 5 dBm/MHz = 18 dBm (PLANNER-NOTES.md, "6 GHz vs 5 GHz").
pub fn assumed_eirp_dbm(band: Band) -> f64 {
    match band {
        Band::B2g4 => 20.0,
        Band::B5g => 23.0,
        Band::B6g => 18.0,
    }
}

/// ITU-R P.1238 distance power loss coefficient N for residential buildings: 28 at 1.8–2 GHz
/// and 28 (house) at 5.2 GHz; there is no residential value for 6 GHz, so 5 GHz's is used
/// (PLANNER-NOTES.md, "Propagation").
pub const P1238_N: f64 = 28.0;

/// ITU-R P.1238-13 Table 5 floor penetration loss for a house, dB per floor: 2.4 GHz 5 dB,
/// 5.2 GHz 7 dB; 6 GHz has no value, 5 GHz's is used (PLANNER-NOTES.md, "Propagation").
pub fn p1238_floor_loss_db(band: Band) -> f64 {
    match band {
        Band::B2g4 => 5.0,
        Band::B5g | Band::B6g => 7.0,
    }
}

/// ITU-R P.1238 path loss at 1 m: 20·log10(f MHz) − 28 dB.
pub fn p1238_loss_at_1m(band: Band) -> f64 {
    20.0 * band.centre_mhz().log10() - 28.0
}

/// 6 GHz from 5 GHz: free-space loss at 1 m is 48.7 dB at 6 GHz vs 47.3 dB at 5 GHz
/// (SignalPlan docs/MODEL.md, quoted in PLANNER-NOTES.md).
pub const SIX_GHZ_EXTRA_FSPL_DB: f64 = 1.4;

/// 6 GHz from 5 GHz: LPI beacons on 20 MHz read ~5 dB below a 23 dBm 5 GHz AP
/// (PLANNER-NOTES.md, "6 GHz vs 5 GHz").
pub const SIX_GHZ_POWER_OFFSET_DB: f64 = 5.0;

/// One measurement as the fit sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// 3-D distance to the AP, metres.
    pub distance: f64,
    /// Floors between AP and point.
    pub floors: u32,
    pub rssi: f64,
}

/// Where a model's numbers came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Fitted from this many points (floor loss fitted too when `floor_fitted`).
    Fitted { floor_fitted: bool },
    /// ITU-R P.1238 residential `n` and floor loss; the reason says why no fit.
    P1238 { reason: String },
    /// 6 GHz derived from the 5 GHz model.
    DerivedFrom5 { from: Box<Source> },
}

impl Source {
    /// Short name for JSON: `fit`, `p1238` or `derived_from_5ghz`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Fitted { .. } => "fit",
            Source::P1238 { .. } => "p1238",
            Source::DerivedFrom5 { .. } => "derived_from_5ghz",
        }
    }
}

/// A path-loss model for one band (of one AP, or pooled over all APs).
#[derive(Debug, Clone, PartialEq)]
pub struct PathLoss {
    pub band: Band,
    /// Predicted signal 1 m from the AP, dBm.
    pub rssi_1m: f64,
    /// Distance exponent.
    pub n: f64,
    /// Loss per floor crossed, dB.
    pub floor_loss: f64,
    /// Residual standard deviation (N − parameters in the denominator), dB; 0 without points.
    pub sigma: f64,
    /// Root mean square error over the points, dB; 0 without points.
    pub rmse: f64,
    /// Points the numbers rest on.
    pub points: usize,
    pub source: Source,
}

impl PathLoss {
    /// Predicted RSSI at `distance` metres across `floors` floors.
    pub fn predict(&self, distance: f64, floors: u32) -> f64 {
        self.rssi_1m - 10.0 * self.n * distance.max(1.0).log10() - self.floor_loss * floors as f64
    }

    /// Path loss at 1 m implied by the assumed EIRP (what P.1238 and link budgets call the
    /// offset).
    pub fn loss_at_1m(&self) -> f64 {
        assumed_eirp_dbm(self.band) - self.rssi_1m
    }

    /// The 6 GHz model implied by this 5 GHz one: same exponent and floor loss, offset lowered
    /// by the extra free-space loss and the LPI power difference.
    pub fn derive_6ghz(&self) -> PathLoss {
        PathLoss {
            band: Band::B6g,
            rssi_1m: self.rssi_1m - SIX_GHZ_EXTRA_FSPL_DB - SIX_GHZ_POWER_OFFSET_DB,
            source: Source::DerivedFrom5 {
                from: Box::new(self.source.clone()),
            },
            ..self.clone()
        }
    }

    fn residuals(&mut self, samples: &[Sample], params: usize) {
        let ssr: f64 = samples
            .iter()
            .map(|s| (s.rssi - self.predict(s.distance, s.floors)).powi(2))
            .sum();
        let n = samples.len();
        self.points = n;
        self.rmse = if n > 0 { (ssr / n as f64).sqrt() } else { 0.0 };
        self.sigma = if n > params {
            (ssr / (n - params) as f64).sqrt()
        } else {
            self.rmse
        };
    }
}

/// Solves the 2×2 or 3×3 normal equations `a·x = b` by Gaussian elimination with partial
/// pivoting; `None` when singular.
fn solve<const N: usize>(mut a: [[f64; N]; N], mut b: [f64; N]) -> Option<[f64; N]> {
    for col in 0..N {
        let pivot = (col..N).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-9 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..N {
            let f = a[row][col] / a[col][col];
            let pivot_row = a[col];
            for (x, p) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; N];
    for row in (0..N).rev() {
        let s: f64 = (row + 1..N).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

/// Least squares of y = a + n·u (+ L·w), u = −10·log10 d, w = −floors.
fn least_squares(samples: &[Sample], floor_loss: Option<f64>) -> Option<(f64, f64, f64)> {
    let u = |s: &Sample| -10.0 * s.distance.max(1.0).log10();
    match floor_loss {
        Some(lf) => {
            // Floor loss known: move it to the left side, fit a and n.
            let (mut s1, mut su, mut suu, mut sy, mut suy) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for s in samples {
                let y = s.rssi + lf * s.floors as f64;
                let x = u(s);
                s1 += 1.0;
                su += x;
                suu += x * x;
                sy += y;
                suy += x * y;
            }
            let [a, n] = solve([[s1, su], [su, suu]], [sy, suy])?;
            Some((a, n, lf))
        }
        None => {
            let mut m = [[0.0; 3]; 3];
            let mut b = [0.0; 3];
            for s in samples {
                let row = [1.0, u(s), -(s.floors as f64)];
                for i in 0..3 {
                    for j in 0..3 {
                        m[i][j] += row[i] * row[j];
                    }
                    b[i] += row[i] * s.rssi;
                }
            }
            let [a, n, lf] = solve(m, b)?;
            Some((a, n, lf))
        }
    }
}

/// Fits a model for `band` from `samples` (falls back to P.1238 and says why).
pub fn fit(band: Band, samples: &[Sample]) -> PathLoss {
    let fallback_lf = p1238_floor_loss_db(band);
    let fallback = |reason: String| -> PathLoss {
        // P.1238's slope and floor loss; the offset from the points when there are any, else
        // from the assumed EIRP minus P.1238's loss at 1 m.
        let n = P1238_N / 10.0;
        let rssi_1m = if samples.is_empty() {
            assumed_eirp_dbm(band) - p1238_loss_at_1m(band)
        } else {
            samples
                .iter()
                .map(|s| {
                    s.rssi + 10.0 * n * s.distance.max(1.0).log10() + fallback_lf * s.floors as f64
                })
                .sum::<f64>()
                / samples.len() as f64
        };
        let mut m = PathLoss {
            band,
            rssi_1m,
            n,
            floor_loss: fallback_lf,
            sigma: 0.0,
            rmse: 0.0,
            points: 0,
            source: Source::P1238 { reason },
        };
        m.residuals(samples, 1);
        m
    };
    if samples.len() < MIN_FIT_POINTS {
        return fallback(format!(
            "{} point(s) on {band}; a fit needs at least {MIN_FIT_POINTS}",
            samples.len()
        ));
    }
    let logs = samples.iter().map(|s| s.distance.max(1.0).log10());
    let (lo, hi) = logs.fold((f64::MAX, f64::MIN), |(lo, hi), l| (lo.min(l), hi.max(l)));
    if hi - lo < 0.3 {
        return fallback(format!(
            "the {band} points are all at about the same distance from the AP (farthest < 2x nearest): the slope cannot be fitted"
        ));
    }
    // Fit the floor loss only with enough points on the AP's floor and on others.
    let other_floor = samples.iter().filter(|s| s.floors > 0).count();
    let same_floor = samples.len() - other_floor;
    let joint = if other_floor >= 3 && same_floor >= 3 {
        least_squares(samples, None).filter(|&(_, _, lf)| (0.0..=30.0).contains(&lf))
    } else {
        None
    };
    let (params, fitted) = match joint {
        Some(f) => (3, Some((f, true))),
        None => (
            2,
            least_squares(samples, Some(fallback_lf)).map(|f| (f, false)),
        ),
    };
    match fitted {
        Some(((a, n, lf), floor_fitted)) if (PLAUSIBLE_N.0..=PLAUSIBLE_N.1).contains(&n) => {
            let mut m = PathLoss {
                band,
                rssi_1m: a,
                n,
                floor_loss: lf,
                sigma: 0.0,
                rmse: 0.0,
                points: 0,
                source: Source::Fitted { floor_fitted },
            };
            m.residuals(samples, params);
            m
        }
        Some(((_, n, _), _)) => fallback(format!(
            "the {band} fit gave n = {n:.2}, outside the plausible {}..{}",
            PLAUSIBLE_N.0, PLAUSIBLE_N.1
        )),
        None => fallback(format!("the {band} points do not determine a fit")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::tests::Prng;

    fn synthetic(rng: &mut Prng, a: f64, n: f64, lf: f64, count: usize, sigma: f64) -> Vec<Sample> {
        (0..count)
            .map(|i| {
                let distance = 1.0 + rng.uniform() * 19.0;
                let floors = (i % 3) as u32;
                let rssi =
                    a - 10.0 * n * distance.log10() - lf * floors as f64 + sigma * rng.normal();
                Sample {
                    distance,
                    floors,
                    rssi,
                }
            })
            .collect()
    }

    #[test]
    fn fit_recovers_known_exponent_offset_and_floor_loss_from_noisy_data() {
        let mut rng = Prng::new(7);
        let samples = synthetic(&mut rng, -32.0, 3.3, 9.0, 400, 4.0);
        let m = fit(Band::B5g, &samples);
        assert_eq!(m.source, Source::Fitted { floor_fitted: true });
        assert!((m.n - 3.3).abs() < 0.15, "n = {}", m.n);
        assert!((m.rssi_1m + 32.0).abs() < 1.5, "rssi_1m = {}", m.rssi_1m);
        assert!(
            (m.floor_loss - 9.0).abs() < 1.0,
            "floor loss = {}",
            m.floor_loss
        );
        assert!((m.sigma - 4.0).abs() < 0.5, "sigma = {}", m.sigma);
        assert!(m.rmse <= m.sigma);
        assert!((m.loss_at_1m() - (23.0 + 32.0)).abs() < 1.5);
    }

    #[test]
    fn noiseless_data_is_recovered_exactly() {
        let mut rng = Prng::new(1);
        let samples = synthetic(&mut rng, -40.0, 2.5, 5.0, 30, 0.0);
        let m = fit(Band::B2g4, &samples);
        assert!((m.n - 2.5).abs() < 1e-9 && (m.rssi_1m + 40.0).abs() < 1e-9);
        assert!(m.rmse < 1e-9);
    }

    #[test]
    fn too_few_points_fall_back_to_p1238_calibrated_on_the_points() {
        let samples = [
            Sample {
                distance: 4.0,
                floors: 0,
                rssi: -60.0,
            },
            Sample {
                distance: 8.0,
                floors: 0,
                rssi: -69.0,
            },
        ];
        let m = fit(Band::B5g, &samples);
        assert!(matches!(m.source, Source::P1238 { ref reason } if reason.contains("2 point")));
        assert_eq!(m.n, 2.8);
        assert_eq!(m.floor_loss, 7.0);
        // Offset: mean of rssi + 28 log10 d = (-60 + 16.86 - 69 + 25.29) / 2.
        assert!((m.rssi_1m - (-43.43)).abs() < 0.01, "{}", m.rssi_1m);
        let empty = fit(Band::B2g4, &[]);
        assert!((empty.loss_at_1m() - p1238_loss_at_1m(Band::B2g4)).abs() < 1e-9);
        assert!((p1238_loss_at_1m(Band::B2g4) - 39.7).abs() < 0.1);
    }

    #[test]
    fn points_at_one_distance_or_an_implausible_slope_fall_back() {
        let same: Vec<Sample> = (0..8)
            .map(|i| Sample {
                distance: 5.0 + i as f64 * 0.1,
                floors: 0,
                rssi: -60.0,
            })
            .collect();
        assert_eq!(fit(Band::B5g, &same).source.kind(), "p1238");
        // Signal rising with distance.
        let rising: Vec<Sample> = (1..10)
            .map(|i| Sample {
                distance: i as f64 * 2.0,
                floors: 0,
                rssi: -70.0 + i as f64,
            })
            .collect();
        assert!(
            matches!(fit(Band::B5g, &rising).source, Source::P1238 { ref reason } if reason.contains("plausible"))
        );
    }

    #[test]
    fn six_ghz_is_five_ghz_minus_free_space_and_power_offsets() {
        let mut rng = Prng::new(3);
        let m5 = fit(Band::B5g, &synthetic(&mut rng, -35.0, 3.0, 7.0, 50, 2.0));
        let m6 = m5.derive_6ghz();
        assert_eq!(m6.band, Band::B6g);
        assert!((m5.predict(10.0, 1) - m6.predict(10.0, 1) - 6.4).abs() < 1e-9);
        assert_eq!(m6.source.kind(), "derived_from_5ghz");
    }
}
