//! JSON survey reader: the whole home in one file (the contract in docs/planner.md):
//!
//! ```text
//! {"home": {"width": 14, "height": 10, "floors": 1, "wan_mbps": 500},
//!  "aps": [{"id": "main", "x": 2.0, "y": 3.0, "floor": 0, "standard": "wifi5", "bands": ["2.4", "5"]}],
//!  "clients": {"total": 14, "wifi4": 2, "wifi5": 4, "wifi6": 3, "wifi6e": 4, "wifi7": 1},
//!  "channel_busy": {"2.4": 0.61, "5": 0.72},
//!  "points": [{"room": "Kitchen", "floor": 0, "x": 3.5, "y": 4.0, "band": "5", "ap": "main", "rssi": -61}]}
//! ```
//!
//! Fields not in the contract are ignored. Problems are named by JSON path
//! (`points[3].rssi`); only bad `points[]` entries can be skipped with `--skip-bad`.

use serde_json::{Map, Value};

use super::survey::{
    check_point, parse_rssi, Ap, ApPlacement, Band, Clients, Home, Place, Point, Pos, Problem,
    ReadOptions, Standard, Survey, SurveyError, SurveyRead,
};

/// Field access that names the path of what it reads.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    fn of(v: &'a Value, path: &str) -> Result<Obj<'a>, (String, String)> {
        v.as_object()
            .map(|map| Obj {
                map,
                path: path.to_string(),
            })
            .ok_or_else(|| {
                (
                    path.to_string(),
                    format!("expected an object, got {}", kind(v)),
                )
            })
    }

    fn at(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn num(&self, key: &str) -> Result<Option<f64>, (String, String)> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| (self.at(key), format!("expected a number, got {}", kind(v)))),
        }
    }

    fn req_num(&self, key: &str) -> Result<f64, (String, String)> {
        self.num(key)?
            .ok_or_else(|| (self.at(key), "is required but missing".to_string()))
    }

    fn count(&self, key: &str) -> Result<Option<u32>, (String, String)> {
        match self.num(key)? {
            None => Ok(None),
            Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= u32::MAX as f64 => Ok(Some(f as u32)),
            Some(f) => Err((
                self.at(key),
                format!("expected a whole number 0 or more, got {f}"),
            )),
        }
    }

    fn text(&self, key: &str) -> Result<Option<&'a str>, (String, String)> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            // Bands are often written as numbers (5, 2.4): accept those as text too.
            Some(v @ Value::Number(_)) if key == "band" => Ok(v.as_f64().and_then(|f| {
                Band::ALL
                    .into_iter()
                    .find(|b| b.label().parse::<f64>().ok() == Some(f))
                    .map(Band::label)
            })),
            Some(v) => Err((self.at(key), format!("expected a string, got {}", kind(v)))),
        }
    }

    fn req_text(&self, key: &str) -> Result<&'a str, (String, String)> {
        self.text(key)?
            .ok_or_else(|| (self.at(key), "is required but missing".to_string()))
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn home(root: &Obj) -> Result<Home, (String, String)> {
    let v = root
        .map
        .get("home")
        .ok_or_else(|| ("home".to_string(), "is required but missing".to_string()))?;
    let h = Obj::of(v, "home")?;
    let positive = |key: &str| -> Result<f64, (String, String)> {
        let f = h.req_num(key)?;
        if f > 0.0 && f <= 1000.0 {
            Ok(f)
        } else {
            Err((
                h.at(key),
                format!("expected metres, more than 0 and at most 1000, got {f}"),
            ))
        }
    };
    let width = positive("width")?;
    let height = positive("height")?;
    let floors = h.count("floors")?.unwrap_or(1);
    if !(1..=10).contains(&floors) {
        return Err((
            h.at("floors"),
            format!("expected 1 to 10 floors, got {floors}"),
        ));
    }
    let wan_mbps = h.num("wan_mbps")?;
    if wan_mbps.is_some_and(|w| w < 0.0) {
        return Err((h.at("wan_mbps"), "must be 0 or more".into()));
    }
    Ok(Home {
        width,
        height,
        floors,
        wan_mbps,
    })
}

fn ap(v: &Value, path: &str, home: &Home) -> Result<Ap, (String, String)> {
    let a = Obj::of(v, path)?;
    let id = a.req_text("id")?.to_string();
    if id.is_empty() {
        return Err((a.at("id"), "is empty".into()));
    }
    let pos = Pos {
        x: a.req_num("x")?,
        y: a.req_num("y")?,
        floor: a.count("floor")?.unwrap_or(0),
    };
    if pos.x < 0.0 || pos.x > home.width || pos.y < 0.0 || pos.y > home.height {
        return Err((
            path.to_string(),
            format!(
                "position ({}, {}) is outside the plan ({} x {} m)",
                pos.x, pos.y, home.width, home.height
            ),
        ));
    }
    if pos.floor >= home.floors {
        return Err((
            a.at("floor"),
            format!("floor {} is outside the home", pos.floor),
        ));
    }
    let standard = match a.text("standard")? {
        None => Standard::Wifi5,
        Some(s) => Standard::parse(s).ok_or_else(|| {
            (
                a.at("standard"),
                format!("expected one of wifi4, wifi5, wifi6, wifi6e, wifi7, got '{s}'"),
            )
        })?,
    };
    let bands = match a.map.get("bands") {
        None | Some(Value::Null) => standard.default_bands(),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for (i, b) in items.iter().enumerate() {
                let p = format!("{}[{i}]", a.at("bands"));
                let label = match b {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    other => return Err((p, format!("expected a band, got {}", kind(other)))),
                };
                let band = Band::parse(&label)
                    .ok_or_else(|| (p, format!("expected 2.4, 5 or 6, got '{label}'")))?;
                if !out.contains(&band) {
                    out.push(band);
                }
            }
            out.sort();
            out
        }
        Some(other) => {
            return Err((
                a.at("bands"),
                format!("expected an array, got {}", kind(other)),
            ))
        }
    };
    Ok(Ap {
        id,
        pos,
        standard,
        bands,
    })
}

fn clients(v: &Value) -> Result<Clients, (String, String)> {
    let c = Obj::of(v, "clients")?;
    let mut out = Clients {
        total: 0,
        wifi4: c.count("wifi4")?.unwrap_or(0),
        wifi5: c.count("wifi5")?.unwrap_or(0),
        wifi6: c.count("wifi6")?.unwrap_or(0),
        wifi6e: c.count("wifi6e")?.unwrap_or(0),
        wifi7: c.count("wifi7")?.unwrap_or(0),
    };
    let sum = out.wifi4 + out.wifi5 + out.wifi6 + out.wifi6e + out.wifi7;
    out.total = c.count("total")?.unwrap_or(sum);
    if out.total < sum {
        return Err((
            c.at("total"),
            format!("is {} but the generations add up to {sum}", out.total),
        ));
    }
    Ok(out)
}

fn busy(v: &Value) -> Result<[Option<f64>; 3], (String, String)> {
    let c = Obj::of(v, "channel_busy")?;
    let mut out = [None; 3];
    let mut keys: Vec<&String> = c.map.keys().collect();
    keys.sort();
    for key in keys {
        let Some(band) = Band::parse(key) else {
            return Err((c.at(key), "expected a band (2.4, 5 or 6) as the key".into()));
        };
        let f = c.req_num(key)?;
        if !(0.0..=1.0).contains(&f) {
            return Err((c.at(key), format!("expected a fraction 0 to 1, got {f}")));
        }
        out[band.index()] = Some(f);
    }
    Ok(out)
}

fn point(v: &Value, path: &str, home: &Home, aps: &[Ap]) -> Result<Point, (String, String)> {
    let o = Obj::of(v, path)?;
    let room = o.req_text("room")?.to_string();
    if room.is_empty() {
        return Err((o.at("room"), "is empty".into()));
    }
    let band_raw = o.req_text("band")?;
    let band = Band::parse(band_raw).ok_or_else(|| {
        (
            o.at("band"),
            format!("expected 2.4, 5 or 6, got '{band_raw}'"),
        )
    })?;
    let rssi = parse_rssi(o.req_num("rssi")?).map_err(|e| (o.at("rssi"), e))?;
    let floor = o.count("floor")?.unwrap_or(0);
    let noise = o.num("noise")?;
    if let Some(n) = noise {
        if !(-130.0..=-50.0).contains(&n) {
            return Err((
                o.at("noise"),
                format!("expected a noise floor in dBm between -130 and -50, got {n}"),
            ));
        }
    }
    let throughput_mbps = o.num("throughput_mbps")?;
    if throughput_mbps.is_some_and(|t| t < 0.0) {
        return Err((o.at("throughput_mbps"), "must be 0 or more".into()));
    }
    let wired = match o.map.get("wired") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err((
                o.at("wired"),
                format!("expected true or false, got {}", kind(other)),
            ))
        }
    };
    let ap = match o.text("ap")? {
        Some(a) => a.to_string(),
        // Points may leave `ap` out: they measured the first (main) AP.
        None => aps[0].id.clone(),
    };
    let p = Point {
        room,
        pos: Pos {
            x: o.req_num("x")?,
            y: o.req_num("y")?,
            floor,
        },
        band,
        rssi,
        ap,
        noise,
        throughput_mbps,
        wired,
        origin: path.to_string(),
    };
    check_point(&p, home, aps).map_err(|(field, msg)| (o.at(&field), msg))?;
    Ok(p)
}

/// Reads a JSON survey.
pub fn read(text: &str, file: &str, opts: &ReadOptions) -> Result<SurveyRead, SurveyError> {
    let problem = |place: Place, message: String| Problem {
        file: file.to_string(),
        place,
        message,
    };
    let fatal = |place: Place, message: String| SurveyError {
        problems: vec![problem(place, message)],
        skippable: false,
    };
    let root: Value = serde_json::from_str(text).map_err(|e| {
        fatal(
            Place::Line(e.line() as u32),
            format!("not valid JSON (column {}): {e}", e.column()),
        )
    })?;
    let top = Obj::of(&root, "").map_err(|(_, m)| fatal(Place::File, format!("top level: {m}")))?;
    let at = |(path, msg): (String, String)| fatal(Place::Path(path), msg);
    let home = home(&top).map_err(at)?;
    let mut aps = Vec::new();
    match top.map.get("aps") {
        Some(Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                let a = ap(v, &format!("aps[{i}]"), &home).map_err(at)?;
                if aps.iter().any(|x: &Ap| x.id == a.id) {
                    return Err(at((
                        format!("aps[{i}].id"),
                        format!("'{}' is used twice", a.id),
                    )));
                }
                aps.push(a);
            }
        }
        None | Some(Value::Null) => {}
        Some(other) => {
            return Err(at((
                "aps".into(),
                format!("expected an array, got {}", kind(other)),
            )))
        }
    }
    let mut notes = Vec::new();
    for placement in &opts.aps {
        let cli: ApPlacement = placement.clone();
        match aps.iter_mut().find(|a| a.id == cli.id) {
            Some(a) => {
                a.pos = cli.pos;
                if let Some(s) = cli.standard {
                    a.standard = s;
                }
                notes.push(format!("AP '{}' placed by --ap, not by the file", cli.id));
            }
            None => aps.push(cli.to_ap()),
        }
    }
    if aps.is_empty() {
        return Err(at((
            "aps".into(),
            "no access point: list them in \"aps\" or give --ap ID:X,Y,FLOOR".into(),
        )));
    }
    let clients = match top.map.get("clients") {
        None | Some(Value::Null) => None,
        Some(v) => Some(clients(v).map_err(at)?),
    };
    let channel_busy = match top.map.get("channel_busy") {
        None | Some(Value::Null) => [None; 3],
        Some(v) => busy(v).map_err(at)?,
    };
    let items = match top.map.get("points") {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => {
            return Err(at((
                "points".into(),
                "is required: the measurements".into(),
            )))
        }
        Some(other) => {
            return Err(at((
                "points".into(),
                format!("expected an array, got {}", kind(other)),
            )))
        }
    };
    let mut points = Vec::new();
    let mut bad = Vec::new();
    for (i, v) in items.iter().enumerate() {
        match point(v, &format!("points[{i}]"), &home, &aps) {
            Ok(p) => points.push(p),
            Err((path, msg)) => bad.push(problem(Place::Path(path), msg)),
        }
    }
    if !bad.is_empty() && !opts.skip_bad {
        return Err(SurveyError {
            problems: bad,
            skippable: true,
        });
    }
    if points.is_empty() {
        return Err(fatal(
            Place::Path("points".into()),
            "no usable measurements".into(),
        ));
    }
    Ok(SurveyRead {
        survey: Survey {
            home,
            aps,
            clients,
            channel_busy,
            points,
            notes,
        },
        skipped: bad,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"home": {"width": 14, "height": 10, "floors": 1, "wan_mbps": 500, "note": "x"},
     "aps": [{"id": "main", "x": 2.0, "y": 3.0, "floor": 0, "standard": "wifi5", "bands": ["2.4", "5"]}],
     "clients": {"total": 14, "wifi4": 2, "wifi5": 4, "wifi6": 3, "wifi6e": 4, "wifi7": 1},
     "channel_busy": {"2.4": 0.61, "5": 0.72},
     "extra": [1, 2],
     "points": [{"room": "Kitchen", "floor": 0, "x": 3.5, "y": 4.0, "band": "5", "ap": "main", "rssi": -61, "wired": false, "phone": "x"},
                {"room": "Hall", "x": 5, "y": 4.0, "band": 2.4, "rssi": -50}]}"#;

    #[test]
    fn reads_the_contract_and_ignores_extra_fields() {
        let r = read(GOOD, "s.json", &ReadOptions::default()).unwrap();
        let s = r.survey;
        assert_eq!(s.home.wan_mbps, Some(500.0));
        assert_eq!(s.aps[0].standard, Standard::Wifi5);
        assert_eq!(s.clients.unwrap().six_ghz_capable(), 5);
        assert_eq!(s.channel_busy[Band::B5g.index()], Some(0.72));
        assert_eq!(s.points.len(), 2);
        assert_eq!(s.points[1].band, Band::B2g4);
        assert_eq!(s.points[1].ap, "main");
    }

    #[test]
    fn bad_points_are_named_by_json_path() {
        let text = GOOD
            .replace("\"rssi\": -61", "\"rssi\": \"loud\"")
            .replace("\"x\": 5,", "\"x\": 50,");
        let e = read(&text, "s.json", &ReadOptions::default()).unwrap_err();
        let msgs: Vec<String> = e.problems.iter().map(ToString::to_string).collect();
        assert!(e.skippable);
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(
            msgs[0].starts_with("s.json: points[0].rssi: expected a number"),
            "{msgs:?}"
        );
        assert!(msgs[1].starts_with("s.json: points[1].x: "), "{msgs:?}");
    }

    #[test]
    fn syntax_errors_name_the_line_and_home_errors_are_fatal() {
        let e = read("{\n\"home\": ,\n}", "s.json", &ReadOptions::default()).unwrap_err();
        assert!(e.to_string().starts_with("s.json:2: not valid JSON"), "{e}");
        let e = read(
            &GOOD.replace("\"width\": 14", "\"width\": -1"),
            "s.json",
            &ReadOptions {
                skip_bad: true,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(!e.skippable);
        assert!(e.to_string().starts_with("s.json: home.width: "), "{e}");
    }

    #[test]
    fn command_line_aps_move_or_add_aps() {
        let opts = ReadOptions {
            skip_bad: false,
            aps: vec![
                ApPlacement::parse("main:7,5,0").unwrap(),
                ApPlacement::parse("attic:1,1,0:wifi6").unwrap(),
            ],
        };
        let s = read(GOOD, "s.json", &opts).unwrap().survey;
        assert_eq!(s.aps.len(), 2);
        assert_eq!(s.aps[0].pos.x, 7.0);
        assert_eq!(s.aps[1].standard, Standard::Wifi6);
    }
}
