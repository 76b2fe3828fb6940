//! Planner tests that span modules, and the deterministic PRNG the unit tests use (no `rand`:
//! SplitMix64 and Box–Muller are a few lines and never change between versions).

use super::survey::{Ap, Home, Point, Pos, Standard, Survey};
use super::{plan, Band, Kind, Settings};

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fixed PRNG for reproducible test data.
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Prng {
        Prng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-12);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[test]
fn prng_is_reproducible_and_roughly_normal() {
    let mut a = Prng::new(42);
    let mut b = Prng::new(42);
    assert_eq!(a.next_u64(), b.next_u64());
    let xs: Vec<f64> = (0..20_000).map(|_| a.normal()).collect();
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
    assert!(
        mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
        "{mean} {var}"
    );
}

/// A one-floor home `width` x 8 m, AP at `ap_x`, points every 2 m on 5 GHz from an exact
/// model (rssi_1m, n) plus noise.
fn home(width: f64, ap_x: f64, rssi_1m: f64, n: f64, seed: u64) -> Survey {
    let mut rng = Prng::new(seed);
    let ap = Pos {
        x: ap_x,
        y: 4.0,
        floor: 0,
    };
    let mut points = Vec::new();
    let mut x = 1.0;
    while x < width {
        for y in [2.0, 6.0] {
            let d = ((x - ap.x).powi(2) + (y - ap.y).powi(2)).sqrt().max(1.0);
            points.push(Point {
                room: format!("Room {}", (x / 6.0).floor() as u32 + 1),
                pos: Pos { x, y, floor: 0 },
                band: Band::B5g,
                rssi: (rssi_1m - 10.0 * n * d.log10() + 2.0 * rng.normal()).round(),
                ap: "main".into(),
                noise: None,
                throughput_mbps: None,
                wired: false,
                origin: String::new(),
            });
        }
        x += 2.0;
    }
    Survey {
        home: Home {
            width,
            height: 8.0,
            floors: 1,
            wan_mbps: Some(300.0),
        },
        aps: vec![Ap {
            id: "main".into(),
            pos: ap,
            standard: Standard::Wifi6,
            bands: vec![Band::B2g4, Band::B5g],
        }],
        clients: None,
        channel_busy: [None; 3],
        points,
        notes: vec![],
    }
}

#[test]
fn options_rank_keep_then_move_then_mesh_as_the_home_gets_longer() {
    let settings = Settings {
        budget: 400.0,
        ..Settings::default()
    };
    let small = plan(home(10.0, 5.0, -30.0, 3.0, 1), settings.clone());
    assert_eq!(
        small.recommendation.kind,
        Kind::Keep,
        "{:?}",
        small.options[0].verdict
    );
    let long = plan(home(22.0, 1.0, -30.0, 3.0, 2), settings.clone());
    assert_eq!(
        long.recommendation.kind,
        Kind::MoveAp,
        "{}",
        long.recommendation.reason
    );
    let moved_to = long.options[1].nodes[0].position;
    assert!((7.0..=15.0).contains(&moved_to.x), "moved to {moved_to:?}");
    let longer = plan(home(44.0, 1.0, -30.0, 3.2, 3), settings);
    assert_eq!(
        longer.recommendation.kind,
        Kind::AddMesh,
        "{}",
        longer.recommendation.reason
    );
    let mesh = &longer.options[2];
    assert!(mesh.reaches_target && mesh.within_budget);
    assert!(
        mesh.nodes.iter().all(|n| n.position.x > 10.0),
        "{:?}",
        mesh.nodes
    );
}

#[test]
fn the_same_survey_gives_the_same_json_and_svg() {
    let a = plan(home(22.0, 1.0, -30.0, 3.0, 5), Settings::default());
    let b = plan(home(22.0, 1.0, -30.0, 3.0, 5), Settings::default());
    assert_eq!(
        super::report::to_json(&a, "x", &[]).to_string(),
        super::report::to_json(&b, "x", &[]).to_string()
    );
    assert_eq!(super::svg::render(&a), super::svg::render(&b));
}
