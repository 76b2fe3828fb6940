//! `hearth plan` on synthetic homes: the real binary, surveys in tests/fixtures/planner/
//! (generated below from the log-distance model with fixed seeds; `fixtures_are_up_to_date`
//! checks the stored files match, and `HEARTH_REGEN_FIXTURES=1 cargo test --test
//! planner_scenarios` rewrites them), assertions on the JSON.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/planner")
}

// === the generator ===

/// SplitMix64 and Box–Muller: reproducible noise without `rand`.
struct Prng(u64);

impl Prng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-12);
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }
}

/// A synthetic home: rooms are rectangles surveyed every `step` metres; RSSI follows
/// RSSI(1 m) − 10·n·log10(d) − floor_loss·floors + N(0, sigma), rounded to whole dBm as
/// survey tools report it.
struct Home {
    width: f64,
    height: f64,
    floors: u32,
    /// (id, x, y, floor, standard)
    ap: (&'static str, f64, f64, u32, &'static str),
    /// (name, floor, x0, y0, x1, y1)
    rooms: Vec<(&'static str, u32, f64, f64, f64, f64)>,
    step: f64,
    /// Per band: (band, rssi_1m, n, floor_loss)
    bands: Vec<(&'static str, f64, f64, f64)>,
    sigma: f64,
    seed: u64,
    clients: Option<Value>,
    busy: Option<Value>,
    wan_mbps: Option<f64>,
    /// Positions (x, y, floor) marked wired.
    wired: Vec<(f64, f64, u32)>,
}

/// One measurement: (room, floor, x, y, band, rssi, wired).
type Row = (&'static str, u32, f64, f64, &'static str, i64, bool);

fn r2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

impl Home {
    fn rows(&self) -> Vec<Row> {
        let mut rng = Prng(self.seed);
        let mut out = Vec::new();
        for &(room, floor, x0, y0, x1, y1) in &self.rooms {
            let mut y = y0 + 0.5;
            while y < y1 {
                let mut x = x0 + 0.5;
                while x < x1 {
                    for &(band, a, n, lf) in &self.bands {
                        let (_, ax, ay, af, _) = self.ap;
                        let dz = (floor as f64 - af as f64) * 3.0;
                        let d = ((x - ax).powi(2) + (y - ay).powi(2) + dz * dz)
                            .sqrt()
                            .max(1.0);
                        let rssi = a - 10.0 * n * d.log10() - lf * floor.abs_diff(af) as f64
                            + self.sigma * rng.normal();
                        let wired = self.wired.iter().any(|&(wx, wy, wf)| {
                            wf == floor && (wx - x).abs() < 0.01 && (wy - y).abs() < 0.01
                        });
                        out.push((
                            room,
                            floor,
                            r2(x),
                            r2(y),
                            band,
                            rssi.round().max(-100.0) as i64,
                            wired,
                        ));
                    }
                    x += self.step;
                }
                y += self.step;
            }
        }
        out
    }

    fn json(&self) -> String {
        let (id, x, y, floor, standard) = self.ap;
        let bands: Vec<&str> = self.bands.iter().map(|b| b.0).collect();
        let points: Vec<Value> = self
            .rows()
            .into_iter()
            .map(|(room, floor, x, y, band, rssi, wired)| {
                json!({"room": room, "floor": floor, "x": x, "y": y, "band": band, "ap": id, "rssi": rssi, "wired": wired})
            })
            .collect();
        // One field per line at the top, one point per line: readable and diff-friendly.
        let mut s = format!(
            "{{\"home\": {},\n \"aps\": {},\n",
            json!({"width": self.width, "height": self.height, "floors": self.floors, "wan_mbps": self.wan_mbps}),
            json!([{"id": id, "x": x, "y": y, "floor": floor, "standard": standard, "bands": bands}])
        );
        if let Some(c) = &self.clients {
            s += &format!(" \"clients\": {c},\n");
        }
        if let Some(b) = &self.busy {
            s += &format!(" \"channel_busy\": {b},\n");
        }
        let lines: Vec<String> = points.iter().map(|p| format!("  {p}")).collect();
        s + " \"points\": [\n" + &lines.join(",\n") + "\n ]}\n"
    }

    fn csv(&self) -> String {
        let mut s = String::from("room,floor,x,y,band,rssi,ap,wired\n");
        for (room, floor, x, y, band, rssi, wired) in self.rows() {
            s += &format!(
                "{room},{floor},{x},{y},{band},{rssi},{},{}\n",
                self.ap.0,
                u8::from(wired)
            );
        }
        s
    }
}

fn five_and_two(a5: f64, n5: f64) -> Vec<(&'static str, f64, f64, f64)> {
    vec![("2.4", a5 + 5.0, n5 - 0.3, 5.0), ("5", a5, n5, 7.0)]
}

fn strip(
    x0: f64,
    len: f64,
    names: &[&'static str],
    height: f64,
) -> Vec<(&'static str, u32, f64, f64, f64, f64)> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                *n,
                0,
                x0 + i as f64 * len,
                0.0,
                x0 + (i + 1) as f64 * len,
                height,
            )
        })
        .collect()
}

/// Every generated fixture: (file name, contents).
fn generated() -> Vec<(&'static str, String)> {
    let small_flat = Home {
        width: 9.0,
        height: 7.0,
        floors: 1,
        ap: ("main", 4.5, 3.5, 0, "wifi6"),
        rooms: vec![
            ("Living", 0, 0.0, 0.0, 5.0, 4.0),
            ("Kitchen", 0, 5.0, 0.0, 9.0, 4.0),
            ("Bedroom", 0, 0.0, 4.0, 5.0, 7.0),
            ("Bath", 0, 5.0, 4.0, 9.0, 7.0),
        ],
        step: 1.5,
        bands: five_and_two(-32.0, 3.0),
        sigma: 2.5,
        seed: 11,
        clients: Some(
            json!({"total": 8, "wifi4": 1, "wifi5": 3, "wifi6": 4, "wifi6e": 0, "wifi7": 0}),
        ),
        busy: Some(json!({"2.4": 0.45, "5": 0.3})),
        wan_mbps: Some(300.0),
        wired: vec![],
    };
    let long_move = Home {
        width: 22.0,
        height: 8.0,
        floors: 1,
        ap: ("main", 1.0, 4.0, 0, "wifi6"),
        rooms: strip(0.0, 5.5, &["Office", "Living", "Kitchen", "Bedroom"], 8.0),
        step: 1.5,
        bands: five_and_two(-30.0, 3.0),
        sigma: 2.5,
        seed: 22,
        clients: None,
        busy: None,
        wan_mbps: Some(500.0),
        wired: vec![],
    };
    let long_mesh = Home {
        width: 44.0,
        height: 8.0,
        floors: 1,
        ap: ("main", 1.0, 4.0, 0, "wifi6"),
        rooms: strip(
            0.0,
            5.5,
            &[
                "Garage", "Office", "Hall", "Living", "Dining", "Kitchen", "Bedroom", "Studio",
            ],
            8.0,
        ),
        step: 2.0,
        bands: five_and_two(-30.0, 3.2),
        sigma: 2.5,
        seed: 33,
        clients: Some(
            json!({"total": 12, "wifi4": 1, "wifi5": 4, "wifi6": 5, "wifi6e": 2, "wifi7": 0}),
        ),
        busy: Some(json!({"5": 0.35})),
        wan_mbps: Some(500.0),
        wired: vec![],
    };
    let busy_6e = Home {
        width: 12.0,
        height: 9.0,
        floors: 1,
        ap: ("main", 6.0, 4.5, 0, "wifi6"),
        rooms: vec![
            ("Living", 0, 0.0, 0.0, 6.0, 5.0),
            ("Kitchen", 0, 6.0, 0.0, 12.0, 5.0),
            ("Office", 0, 0.0, 5.0, 6.0, 9.0),
            ("Bedroom", 0, 6.0, 5.0, 12.0, 9.0),
        ],
        step: 1.5,
        bands: five_and_two(-32.0, 2.9),
        sigma: 2.5,
        seed: 44,
        clients: Some(
            json!({"total": 14, "wifi4": 0, "wifi5": 2, "wifi6": 3, "wifi6e": 8, "wifi7": 1}),
        ),
        busy: Some(json!({"2.4": 0.61, "5": 0.72})),
        wan_mbps: Some(500.0),
        wired: vec![],
    };
    let mut three_rooms = Vec::new();
    for (f, names) in [
        (0u32, ["Hall", "Kitchen", "Living"]),
        (1, ["Study", "Bedroom", "Kids' room"]),
        (2, ["Attic", "Guest & bath", "Loft <north>"]),
    ] {
        for (i, n) in names.iter().enumerate() {
            let x0 = i as f64 * 14.0 / 3.0;
            three_rooms.push((*n, f, x0, 0.0, x0 + 14.0 / 3.0, 10.0));
        }
    }
    let three_floor = Home {
        width: 14.0,
        height: 10.0,
        floors: 3,
        ap: ("main", 7.0, 5.0, 1, "wifi5"),
        rooms: three_rooms,
        step: 1.0,
        bands: five_and_two(-31.0, 3.1),
        sigma: 3.0,
        seed: 55,
        clients: Some(
            json!({"total": 16, "wifi4": 2, "wifi5": 6, "wifi6": 5, "wifi6e": 2, "wifi7": 1}),
        ),
        busy: Some(json!({"2.4": 0.55, "5": 0.4})),
        wan_mbps: Some(1000.0),
        wired: vec![(12.5, 9.5, 2)],
    };
    // The demo flat: the router in a corner where the fibre comes in.
    let demo = Home {
        width: 12.0,
        height: 9.0,
        floors: 1,
        ap: ("main", 1.0, 1.0, 0, "wifi5"),
        rooms: vec![
            ("Hall", 0, 0.0, 0.0, 4.0, 4.0),
            ("Living", 0, 4.0, 0.0, 12.0, 5.0),
            ("Kitchen", 0, 0.0, 4.0, 4.0, 9.0),
            ("Bedroom", 0, 4.0, 5.0, 8.0, 9.0),
            ("Office", 0, 8.0, 5.0, 12.0, 9.0),
        ],
        step: 1.5,
        bands: five_and_two(-33.0, 3.4),
        sigma: 3.0,
        seed: 99,
        clients: None,
        busy: None,
        wan_mbps: None,
        wired: vec![],
    };
    vec![
        ("small_flat.json", small_flat.json()),
        ("long_move.json", long_move.json()),
        ("long_mesh.json", long_mesh.json()),
        ("busy_6e.json", busy_6e.json()),
        ("three_floor.json", three_floor.json()),
        ("three_floor.csv", three_floor.csv()),
        ("../../../configs/demo-survey.csv", demo.csv()),
    ]
}

#[test]
fn fixtures_are_up_to_date() {
    let regen = std::env::var_os("HEARTH_REGEN_FIXTURES").is_some();
    for (name, text) in generated() {
        let path = fixtures().join(name);
        if regen {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let stored = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (HEARTH_REGEN_FIXTURES=1 writes it)",
                path.display()
            )
        });
        assert!(
            stored == text,
            "{} differs from what the generator makes; HEARTH_REGEN_FIXTURES=1 rewrites it",
            path.display()
        );
    }
}

// === running hearth ===

/// A config with a planner section (budget, optional extra lines) in a temp dir.
fn config(dir: &Path, budget: u32, extra: &str) -> PathBuf {
    let p = dir.join("hearth");
    std::fs::write(
        &p,
        format!("config planner 'home'\n\toption budget '{budget}'\n\toption target_rssi '-67'\n{extra}"),
    )
    .unwrap();
    p
}

fn hearth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .env_remove("HEARTH_CONFIG")
        .output()
        .expect("run hearth")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `hearth plan --json` on a fixture with `budget`; the parsed JSON.
fn plan_json(fixture: &str, budget: u32) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), budget, "");
    let survey = fixtures().join(fixture);
    let out = hearth(&[
        "--config",
        cfg.to_str().unwrap(),
        "plan",
        "--json",
        "--survey",
        survey.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    check_schema(&v);
    v
}

/// What every plan's JSON must have (docs/planner.md).
fn check_schema(v: &Value) {
    let kinds = ["keep", "move_ap", "add_mesh", "upgrade_6e", "upgrade_7"];
    assert_eq!(v["schema"], "hearth.plan/1");
    assert!(
        kinds.contains(&v["recommendation"]["kind"].as_str().unwrap()),
        "{}",
        v["recommendation"]
    );
    let options = v["options"].as_array().unwrap();
    let got: Vec<&str> = options
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(got, kinds);
    for o in options {
        let cov = o["predicted"]["coverage_pct"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&cov), "{o}");
        assert!(o["cost"]["low"].as_f64().unwrap() <= o["cost"]["high"].as_f64().unwrap());
        assert!(o["within_budget"].is_boolean() && o["reaches_target"].is_boolean());
        assert!(["high", "medium", "low"].contains(&o["confidence"].as_str().unwrap()));
        let evidence = o["evidence"].as_array().unwrap();
        assert!(
            !evidence.is_empty() || o["applicable"] == false,
            "{} has no evidence",
            o["kind"]
        );
        for e in evidence {
            assert!(
                e["metric"].is_string()
                    && e["value"].is_number()
                    && e["unit"].is_string()
                    && e["source"].is_string(),
                "{e}"
            );
        }
        for n in o["nodes"].as_array().unwrap() {
            let p = &n["position"];
            assert!(
                p["x"].is_number() && p["y"].is_number() && p["floor"].is_u64(),
                "{n}"
            );
        }
    }
}

fn option<'a>(v: &'a Value, kind: &str) -> &'a Value {
    v["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap()
}

fn evidence(o: &Value, metric: &str) -> f64 {
    o["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["metric"] == metric)
        .unwrap_or_else(|| panic!("no evidence {metric} in {}", o["kind"]))["value"]
        .as_f64()
        .unwrap()
}

// === scenarios ===

#[test]
fn small_flat_well_covered_keeps_the_router() {
    let v = plan_json("small_flat.json", 300);
    assert_eq!(
        v["recommendation"]["kind"], "keep",
        "{}",
        v["recommendation"]
    );
    let keep = option(&v, "keep");
    assert_eq!(keep["reaches_target"], true);
    assert!(keep["predicted"]["coverage_pct"].as_f64().unwrap() >= 90.0);
    assert!(evidence(keep, "measured_median_rssi") > -60.0);
    assert!(v["current"]["dead_zones"].as_array().unwrap().is_empty());
}

#[test]
fn long_house_moves_the_router_to_the_middle_when_that_suffices() {
    let v = plan_json("long_move.json", 300);
    let rec = &v["recommendation"];
    assert_eq!(rec["kind"], "move_ap", "{rec}");
    assert_eq!(option(&v, "keep")["reaches_target"], false);
    let mv = option(&v, "move_ap");
    assert_eq!(mv["cost"]["high"], 0.0);
    assert_eq!(mv["within_budget"], true);
    let p = &rec["nodes"][0]["position"];
    let x = p["x"].as_f64().unwrap();
    assert!(
        (6.0..=16.0).contains(&x),
        "moved to x = {x} in a 22 m house"
    );
    assert!(evidence(mv, "coverage") > evidence(mv, "coverage_now"));
    // The far end is what the current setup lacks.
    let dead = v["current"]["dead_zones"].as_array().unwrap();
    assert!(
        dead.iter()
            .any(|z| z["bbox"]["x1"].as_f64().unwrap() > 20.0),
        "{dead:?}"
    );
}

#[test]
fn very_long_house_gets_mesh_nodes_where_the_backhaul_holds() {
    let v = plan_json("long_mesh.json", 400);
    let rec = &v["recommendation"];
    assert_eq!(rec["kind"], "add_mesh", "{rec}");
    assert_eq!(
        option(&v, "move_ap")["reaches_target"],
        false,
        "moving alone must not suffice here"
    );
    let mesh = option(&v, "add_mesh");
    assert_eq!(mesh["within_budget"], true);
    assert_eq!(mesh["reaches_target"], true);
    let nodes = mesh["nodes"].as_array().unwrap();
    assert!((1..=3).contains(&nodes.len()), "{nodes:?}");
    for n in nodes {
        let x = n["position"]["x"].as_f64().unwrap();
        assert!(
            x > 12.0 && x < 44.0,
            "node at x = {x}: should be in the far part of a 44 m house"
        );
        let rssi = n["backhaul"]["rssi"].as_f64().unwrap();
        assert!((-70.0..=-55.0).contains(&rssi), "backhaul {rssi} dBm");
        assert!(n["backhaul"]["goodput_mbps"].as_f64().unwrap() > 50.0);
    }
    assert!(mesh["cost"]["low"].as_f64().unwrap() >= 80.0 * nodes.len() as f64);
}

#[test]
fn busy_five_ghz_with_mostly_6e_clients_upgrades_to_6e() {
    let v = plan_json("busy_6e.json", 400);
    let rec = &v["recommendation"];
    assert_eq!(rec["kind"], "upgrade_6e", "{rec}");
    let keep = option(&v, "keep");
    assert_eq!(keep["reaches_target"], false);
    assert!(
        keep["predicted"]["coverage_pct"].as_f64().unwrap() >= 90.0,
        "coverage is not the problem"
    );
    let six = option(&v, "upgrade_6e");
    assert!(evidence(six, "clients_6ghz_capable") > 50.0);
    assert_eq!(evidence(six, "channel_busy_5ghz"), 72.0);
    assert!(six["predicted"]["channel_busy_5ghz"].as_f64().unwrap() <= 0.5);
    assert_eq!(six["within_budget"], true);
}

#[test]
fn few_wifi7_clients_do_not_justify_wifi7_and_the_report_says_why() {
    let v = plan_json("busy_6e.json", 1000);
    assert_ne!(v["recommendation"]["kind"], "upgrade_7");
    let seven = option(&v, "upgrade_7");
    assert_eq!(
        seven["within_budget"], true,
        "budget is not the reason here"
    );
    let verdict = seven["verdict"].as_str().unwrap();
    assert!(verdict.contains("Wi-Fi 7 does not pay yet"), "{verdict}");
    assert!(
        verdict.contains("only 1 of 14 clients support Wi-Fi 7"),
        "{verdict}"
    );
    assert!(evidence(seven, "clients_eht") < 10.0);
}

#[test]
fn a_budget_too_small_for_any_paid_option_says_so() {
    let v = plan_json("long_mesh.json", 50);
    let rec = &v["recommendation"];
    assert!(
        ["keep", "move_ap"].contains(&rec["kind"].as_str().unwrap()),
        "{rec}"
    );
    assert_eq!(rec["reaches_target"], false);
    for o in v["options"].as_array().unwrap() {
        if o["cost"]["high"].as_f64().unwrap() > 0.0 {
            assert_eq!(o["within_budget"], false, "{}", o["kind"]);
        }
    }
    let notes: Vec<&str> = rec["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("add_mesh would reach the target")
                && n.contains("over your budget of 50")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("covers no paid option")),
        "{notes:?}"
    );
}

#[test]
fn the_text_report_leads_with_the_recommendation() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 50, "");
    let survey = fixtures().join("long_mesh.json");
    let out = hearth(&[
        "--config",
        cfg.to_str().unwrap(),
        "plan",
        "--survey",
        survey.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out.stdout);
    assert!(
        t.lines().nth(2).unwrap().starts_with("RECOMMENDATION: "),
        "{t}"
    );
    assert!(t.contains("covers no paid option"), "{t}");
    assert!(t.contains("Model:") && t.contains("Assumptions:"), "{t}");
}

// === SVG and determinism ===

/// A minimal XML well-formedness check: one root, balanced tags, quoted attributes, no raw
/// `<` or stray `&`, known entities only.
fn well_formed(xml: &str) -> Result<Vec<String>, String> {
    fn entities_ok(s: &str) -> Result<(), String> {
        if s.contains('<') {
            return Err(format!("raw '<' in {s:?}"));
        }
        let mut rest = s;
        while let Some(i) = rest.find('&') {
            let after = &rest[i + 1..];
            let end = after
                .find(';')
                .ok_or_else(|| format!("unterminated entity in {s:?}"))?;
            let name = &after[..end];
            let ok = ["amp", "lt", "gt", "quot", "apos"].contains(&name)
                || (name.starts_with('#') && name.len() > 1);
            if !ok {
                return Err(format!("unknown entity &{name}; in {s:?}"));
            }
            rest = &after[end + 1..];
        }
        Ok(())
    }
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut roots = 0;
    let mut rest = xml;
    if let Some(r) = rest.strip_prefix("<?xml") {
        rest = &r[r.find("?>").ok_or("unterminated XML declaration")? + 2..];
    }
    while !rest.is_empty() {
        let lt = rest.find('<').unwrap_or(rest.len());
        let txt = &rest[..lt];
        if stack.is_empty() && !txt.trim().is_empty() {
            return Err(format!("text outside the root: {txt:?}"));
        }
        entities_ok(txt)?;
        rest = &rest[lt..];
        if rest.is_empty() {
            break;
        }
        if let Some(r) = rest.strip_prefix("<!--") {
            rest = &r[r.find("-->").ok_or("unterminated comment")? + 3..];
            continue;
        }
        let gt = rest.find('>').ok_or("unterminated tag")?;
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .ok_or_else(|| format!("</{name}> closes nothing"))?;
            if open != name.trim() {
                return Err(format!("<{open}> closed by </{name}>"));
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name_end = body.find(char::is_whitespace).unwrap_or(body.len());
        let name = &body[..name_end];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '-' || c == '_')
        {
            return Err(format!("bad tag name in <{tag}>"));
        }
        // Attributes: name="value" pairs.
        let mut attrs = body[name_end..].trim();
        let mut names = Vec::new();
        while !attrs.is_empty() {
            let eq = attrs
                .find('=')
                .ok_or_else(|| format!("attribute without value in <{tag}>"))?;
            let an = attrs[..eq].trim();
            if names.contains(&an) {
                return Err(format!("duplicate attribute {an} in <{tag}>"));
            }
            names.push(an);
            let after = attrs[eq + 1..].trim_start();
            let q = after.chars().next().ok_or("missing attribute value")?;
            if q != '"' && q != '\'' {
                return Err(format!("unquoted attribute {an} in <{tag}>"));
            }
            let close = after[1..]
                .find(q)
                .ok_or_else(|| format!("unterminated attribute in <{tag}>"))?;
            entities_ok(&after[1..1 + close])?;
            attrs = after[close + 2..].trim_start();
        }
        if stack.is_empty() {
            roots += 1;
        }
        seen.push(name.to_string());
        if !self_closing {
            stack.push(name.to_string());
        }
    }
    if !stack.is_empty() {
        return Err(format!("unclosed: {stack:?}"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(seen)
}

#[test]
fn the_well_formedness_check_rejects_broken_xml() {
    assert!(well_formed("<svg><g></g><rect x=\"1\"/></svg>").is_ok());
    for bad in [
        "<svg><g></svg>",
        "<svg><rect x=1/></svg>",
        "<svg>a & b</svg>",
        "<svg></svg><svg></svg>",
        "<svg><text>x < y</text></svg>",
        "<svg><rect x=\"1\" x=\"2\"/></svg>",
    ] {
        assert!(well_formed(bad).is_err(), "{bad} passed");
    }
}

/// `hearth plan` on the 3-floor home with `--svg`: (JSON stdout, SVG bytes).
fn three_floor_run(dir: &Path, name: &str) -> (Vec<u8>, Vec<u8>) {
    let cfg = config(dir, 300, "");
    let svg = dir.join(name);
    let survey = fixtures().join("three_floor.json");
    let out = hearth(&[
        "--config",
        cfg.to_str().unwrap(),
        "plan",
        "--json",
        "--survey",
        survey.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    (out.stdout, std::fs::read(&svg).unwrap())
}

#[test]
fn svg_of_a_three_floor_home_is_valid_small_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let (json, svg) = three_floor_run(dir.path(), "a.svg");
    assert!(svg.len() <= 200 * 1024, "SVG is {} bytes", svg.len());
    let svg = String::from_utf8(svg).unwrap();
    let tags = well_formed(&svg).unwrap_or_else(|e| panic!("SVG is not well-formed: {e}"));
    assert_eq!(tags[0], "svg");
    for f in 0..3 {
        assert!(
            svg.contains(&format!("<g id=\"floor{f}\">")),
            "floor {f} panel missing"
        );
    }
    assert!(
        svg.contains("<g id=\"legend\">") && svg.contains("(target)"),
        "legend missing"
    );
    assert_eq!(
        svg.matches("<rect class=\"ap\"").count(),
        1,
        "one current AP marker"
    );
    assert!(svg.matches("class=\"survey-point\"").count() > 50);
    // Room labels, escaped.
    assert!(svg.contains(">Kids&apos; room</text>") && svg.contains(">Loft &lt;north&gt;</text>"));
    let v: Value = serde_json::from_slice(&json).unwrap();
    check_schema(&v);
    if v["recommendation"]["kind"] != "keep" {
        assert!(
            svg.contains("class=\"proposed\""),
            "recommended positions are drawn"
        );
    }
}

#[test]
fn same_input_gives_byte_identical_json_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let (j1, s1) = three_floor_run(dir.path(), "1.svg");
    let (j2, s2) = three_floor_run(dir.path(), "2.svg");
    assert!(j1 == j2, "JSON differs between runs");
    assert!(s1 == s2, "SVG differs between runs");
}

#[test]
fn csv_survey_with_aps_from_the_command_line_plans_the_same_home() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        300,
        "\toption width '14'\n\toption height '10'\n\toption floors '3'\n\toption resolution '1'\n",
    );
    let survey = fixtures().join("three_floor.csv");
    let out = hearth(&[
        "--config",
        cfg.to_str().unwrap(),
        "plan",
        "--json",
        "--survey",
        survey.to_str().unwrap(),
        "--ap",
        "main:7,5,1:wifi5",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_schema(&v);
    assert_eq!(v["settings"]["resolution_m"], 1.0);
    assert_eq!(
        v["input"]["aps"][0]["position"],
        json!({"x": 7.0, "y": 5.0, "floor": 1})
    );
    // Without an AP a CSV survey cannot be planned.
    let out = hearth(&[
        "--config",
        cfg.to_str().unwrap(),
        "plan",
        "--survey",
        survey.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--ap ID:X,Y,FLOOR"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_demo_config_finds_its_survey_next_to_it() {
    let out = hearth(&[
        "--config",
        root().join("configs/demo").to_str().unwrap(),
        "plan",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_schema(&v);
    assert!(v["input"]["survey"]
        .as_str()
        .unwrap()
        .ends_with("demo-survey.csv"));
    assert_ne!(
        v["recommendation"]["kind"], "keep",
        "the demo flat has a weak far corner"
    );
}

#[test]
fn the_json_example_in_configs_is_a_valid_survey() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 300, "");
    let survey = root().join("configs/survey-example.json");
    let out = hearth(&[
        "--config",
        cfg.to_str().unwrap(),
        "plan",
        "--json",
        "--survey",
        survey.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_schema(&v);
    assert_eq!(v["input"]["points"], 14);
    assert_eq!(v["input"]["clients"]["wifi6e"], 4);
}

// === bad input ===

#[test]
fn bad_csv_rows_are_named_by_line_and_reject_the_file() {
    let bad = fixtures().join("bad.csv");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 300, "\tlist ap 'main:2,3,0'\n");
    let out = hearth(&[
        "--config",
        cfg.to_str().unwrap(),
        "plan",
        "--survey",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let name = bad.display().to_string();
    for (line, what) in [
        (4, "band:"),
        (5, "rssi:"),
        (7, "expected 7 fields"),
        (8, "x:"),
    ] {
        assert!(
            err.contains(&format!("{name}:{line}: {what}")),
            "line {line} ({what}) not reported:\n{err}"
        );
    }
    assert!(
        err.contains("4 bad row(s)") && err.contains("--skip-bad"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let out = hearth(&[
        "--config",
        cfg.to_str().unwrap(),
        "plan",
        "--json",
        "--skip-bad",
        "--survey",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert_eq!(err.matches("hearth plan: skipped ").count(), 4, "{err}");
    assert!(err.contains(&format!("skipped {name}:5: rssi:")), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["input"]["skipped"].as_array().unwrap().len(), 4);
}

#[test]
fn bad_json_points_are_named_by_path_and_reject_the_file() {
    let bad = fixtures().join("bad.json");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 300, "");
    let name = bad.display().to_string();
    let out = hearth(&[
        "--config",
        cfg.to_str().unwrap(),
        "plan",
        "--survey",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    for path in ["points[1].rssi", "points[3].band", "points[4].floor"] {
        assert!(
            err.contains(&format!("{name}: {path}: ")),
            "{path} not reported:\n{err}"
        );
    }
    let out = hearth(&[
        "--config",
        cfg.to_str().unwrap(),
        "plan",
        "--skip-bad",
        "--survey",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).matches("hearth plan: skipped ").count(),
        3
    );
    // Broken JSON names the line.
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"home\": {\"width\": 5,\n \"height\": }\n}").unwrap();
    let out = hearth(&[
        "--config",
        cfg.to_str().unwrap(),
        "plan",
        "--survey",
        broken.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!("{}:2: not valid JSON", broken.display())),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn missing_survey_is_an_io_error_and_bad_live_data_arguments_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 300, "");
    let out = hearth(&[
        "--config",
        cfg.to_str().unwrap(),
        "plan",
        "--survey",
        "/nonexistent/s.csv",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let out = hearth(&["--config", cfg.to_str().unwrap(), "plan"]);
    assert_eq!(out.status.code(), Some(2), "no survey anywhere");
    // A sampling window out of range is a usage error (no radio is touched).
    for n in ["0", "3601"] {
        let out = hearth(&["plan", "--collect", n]);
        assert_eq!(out.status.code(), Some(2), "--collect {n}");
        assert!(text(&out.stderr).contains("1 to 3600 seconds"));
    }
    // --collect writes a snapshot; it does not plan a survey at the same time.
    let out = hearth(&["plan", "--collect", "5", "--survey", "s.csv"]);
    assert_eq!(out.status.code(), Some(2));
    // A snapshot that cannot be read is an I/O error; one without a survey is refused.
    let survey = dir.path().join("s.csv");
    std::fs::write(
        &survey,
        "room,floor,x,y,band,rssi,ap\nHall,0,1,1,5,-50,main\n",
    )
    .unwrap();
    let out = hearth(&[
        "--config",
        cfg.to_str().unwrap(),
        "plan",
        "--survey",
        survey.to_str().unwrap(),
        "--ap",
        "main:1,1,0",
        "--snapshot",
        "/nonexistent/snap.json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("cannot read the snapshot /nonexistent/snap.json"));
    let out = hearth(&[
        "--config",
        cfg.to_str().unwrap(),
        "plan",
        "--snapshot",
        "x.json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("a snapshot adds live radio data to a survey"));
    let out = hearth(&["plan", "--ap", "main:1,2"]);
    assert_eq!(out.status.code(), Some(2), "a bad --ap is a usage error");
}
