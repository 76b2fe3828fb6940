//! CSV survey reader: points only. The header names the columns (any order):
//! `room,floor,x,y,band,rssi,ap` are required, `noise,throughput_mbps,wired` optional, other
//! columns are ignored (and listed in the report's notes). The home and the APs come from the
//! caller (the `planner` config section and `--ap`). Blank lines and lines starting with `#`
//! are skipped. Fields may be quoted with `"` (`""` inside quotes is a quote).
//!
//! Pure: text and a file name in, a [`SurveyRead`] or every problem (`FILE:LINE: ...`) out.

use super::survey::{
    check_point, parse_rssi, Ap, Band, Home, Place, Point, Pos, Problem, ReadOptions, Survey,
    SurveyError, SurveyRead,
};

const REQUIRED: [&str; 7] = ["room", "floor", "x", "y", "band", "rssi", "ap"];
const OPTIONAL: [&str; 3] = ["noise", "throughput_mbps", "wired"];

/// Splits one CSV line into fields (RFC 4180 quoting, no multi-line fields).
fn split_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.trim().is_empty() && !was_quoted => {
                cur.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                fields.push(if was_quoted {
                    std::mem::take(&mut cur)
                } else {
                    cur.trim().to_string()
                });
                cur.clear();
                was_quoted = false;
            }
            (false, c) if was_quoted => {
                if !c.is_whitespace() {
                    return Err("text after a closing quote".into());
                }
            }
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err("a quote is not closed (fields cannot span lines)".into());
    }
    fields.push(if was_quoted {
        cur
    } else {
        cur.trim().to_string()
    });
    Ok(fields)
}

fn number(raw: &str, what: &str) -> Result<f64, String> {
    raw.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("{what}: expected a number, got '{raw}'"))
}

fn boolean(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "n" => Ok(false),
        "1" | "true" | "yes" | "y" => Ok(true),
        _ => Err(format!("wired: expected true/false (or 1/0), got '{raw}'")),
    }
}

/// Reads a CSV survey. `home` and `aps` describe the home the points were taken in.
pub fn read(
    text: &str,
    file: &str,
    home: Home,
    aps: Vec<Ap>,
    opts: &ReadOptions,
) -> Result<SurveyRead, SurveyError> {
    let fatal = |place: Place, message: String| SurveyError {
        problems: vec![Problem {
            file: file.to_string(),
            place,
            message,
        }],
        skippable: false,
    };
    if aps.is_empty() {
        return Err(fatal(
            Place::File,
            "a CSV survey has points only: say where the AP(s) are with --ap ID:X,Y,FLOOR \
             (or list ap 'ID:X,Y,FLOOR' in the planner section)"
                .into(),
        ));
    }
    for a in &aps {
        if a.pos.x > home.width || a.pos.y > home.height || a.pos.floor >= home.floors {
            return Err(fatal(
                Place::File,
                format!(
                    "AP '{}' at ({}, {}) on floor {} is outside the home ({} x {} m, {} floor(s)); check --ap and the planner section's width, height and floors",
                    a.id, a.pos.x, a.pos.y, a.pos.floor, home.width, home.height, home.floors
                ),
            ));
        }
    }
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i as u32 + 1, l.trim_start_matches('\u{feff}')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((hline, header)) = lines.next() else {
        return Err(fatal(
            Place::File,
            format!(
                "empty survey: expected a header line '{}' and one line per measurement",
                REQUIRED.join(",")
            ),
        ));
    };
    let names: Vec<String> = split_line(header)
        .map_err(|e| fatal(Place::Line(hline), e))?
        .into_iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    let col = |name: &str| names.iter().position(|n| n == name);
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|n| col(n).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(fatal(
            Place::Line(hline),
            format!(
                "the header lacks column(s) {} (required: {}; optional: {})",
                missing.join(", "),
                REQUIRED.join(","),
                OPTIONAL.join(",")
            ),
        ));
    }
    let mut notes = Vec::new();
    let ignored: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !REQUIRED.contains(n) && !OPTIONAL.contains(n))
        .collect();
    if !ignored.is_empty() {
        notes.push(format!("{file}: column(s) {} ignored", ignored.join(", ")));
    }
    let idx = |name: &str| col(name).unwrap_or(usize::MAX);
    let (c_room, c_floor, c_x, c_y, c_band, c_rssi, c_ap) = (
        idx("room"),
        idx("floor"),
        idx("x"),
        idx("y"),
        idx("band"),
        idx("rssi"),
        idx("ap"),
    );
    let (c_noise, c_tput, c_wired) = (col("noise"), col("throughput_mbps"), col("wired"));

    let mut points = Vec::new();
    let mut bad = Vec::new();
    for (line, raw) in lines {
        let row = (|| -> Result<Point, String> {
            let f = split_line(raw)?;
            if f.len() != names.len() {
                return Err(format!(
                    "expected {} fields (as in the header), got {}",
                    names.len(),
                    f.len()
                ));
            }
            let get = |i: usize| f[i].as_str();
            let room = get(c_room).to_string();
            if room.is_empty() {
                return Err("room: is empty".into());
            }
            let floor: u32 = get(c_floor).parse().map_err(|_| {
                format!(
                    "floor: expected a floor number (0 = ground), got '{}'",
                    get(c_floor)
                )
            })?;
            let x = number(get(c_x), "x")?;
            let y = number(get(c_y), "y")?;
            let band = Band::parse(get(c_band))
                .ok_or_else(|| format!("band: expected 2.4, 5 or 6, got '{}'", get(c_band)))?;
            let rssi =
                parse_rssi(number(get(c_rssi), "rssi")?).map_err(|e| format!("rssi: {e}"))?;
            let ap = get(c_ap).to_string();
            let opt_num = |c: Option<usize>, what: &str| -> Result<Option<f64>, String> {
                match c.map(|i| f[i].as_str()) {
                    None | Some("") => Ok(None),
                    Some(s) => number(s, what).map(Some),
                }
            };
            let noise = opt_num(c_noise, "noise")?;
            if let Some(n) = noise {
                if !(-130.0..=-50.0).contains(&n) {
                    return Err(format!(
                        "noise: expected a noise floor in dBm between -130 and -50, got {n}"
                    ));
                }
            }
            let throughput_mbps = opt_num(c_tput, "throughput_mbps")?;
            if throughput_mbps.is_some_and(|t| t < 0.0) {
                return Err("throughput_mbps: must be 0 or more".into());
            }
            let wired = match c_wired {
                Some(i) => boolean(&f[i])?,
                None => false,
            };
            let p = Point {
                room,
                pos: Pos { x, y, floor },
                band,
                rssi,
                ap,
                noise,
                throughput_mbps,
                wired,
                origin: format!("{file}:{line}"),
            };
            check_point(&p, &home, &aps).map_err(|(field, msg)| format!("{field}: {msg}"))?;
            Ok(p)
        })();
        match row {
            Ok(p) => points.push(p),
            Err(message) => bad.push(Problem {
                file: file.to_string(),
                place: Place::Line(line),
                message,
            }),
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
            Place::File,
            "no usable measurements (every row was bad or the file has only a header)".into(),
        ));
    }
    Ok(SurveyRead {
        survey: Survey {
            home,
            aps,
            clients: None,
            channel_busy: [None; 3],
            points,
            notes,
        },
        skipped: bad,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::survey::{ApPlacement, Problem};

    fn home() -> Home {
        Home {
            width: 10.0,
            height: 8.0,
            floors: 2,
            wan_mbps: None,
        }
    }

    fn aps() -> Vec<Ap> {
        vec![ApPlacement::parse("main:2,3,0").unwrap().to_ap()]
    }

    #[test]
    fn quoted_fields_keep_commas_and_quotes() {
        assert_eq!(
            split_line(r#""Kid's room, upstairs",1, "say ""hi""" "#).unwrap(),
            vec!["Kid's room, upstairs", "1", r#"say "hi""#]
        );
        assert!(split_line(r#""open,1"#).is_err());
    }

    #[test]
    fn reads_points_in_any_column_order_and_ignores_unknown_columns() {
        let text = "# survey\nap,rssi,band,room,floor,x,y,comment\nmain,-55,5,Kitchen,0,3.5,4,hi\n\nmain,-70,2.4GHz,Bed,1,9,7,\n";
        let r = read(text, "s.csv", home(), aps(), &ReadOptions::default()).unwrap();
        assert_eq!(r.survey.points.len(), 2);
        assert_eq!(r.survey.points[1].band, Band::B2g4);
        assert_eq!(r.survey.points[1].origin, "s.csv:5");
        assert!(r.survey.notes[0].contains("comment"));
    }

    #[test]
    fn bad_rows_reject_the_file_naming_each_line() {
        let text = "room,floor,x,y,band,rssi,ap\nK,0,1,1,5,-50,main\nK,0,1,1,7,-50,main\nK,5,1,1,5,-50,main\nK,0,1,1,5,loud,main\nK,0,1,1,5,-50,other\n";
        let e = read(text, "s.csv", home(), aps(), &ReadOptions::default()).unwrap_err();
        let lines: Vec<String> = e.problems.iter().map(Problem::to_string).collect();
        assert!(e.skippable);
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[0].starts_with("s.csv:3: band:"), "{lines:?}");
        assert!(lines[1].starts_with("s.csv:4: floor:"), "{lines:?}");
        assert!(lines[2].starts_with("s.csv:5: rssi:"), "{lines:?}");
        assert!(lines[3].starts_with("s.csv:6: ap:"), "{lines:?}");
    }

    #[test]
    fn skip_bad_keeps_the_good_rows_and_reports_each_skip() {
        let text = "room,floor,x,y,band,rssi,ap\nK,0,1,1,5,-50,main\nK,0,1,1,5,-50\n";
        let opts = ReadOptions {
            skip_bad: true,
            ..Default::default()
        };
        let r = read(text, "s.csv", home(), aps(), &opts).unwrap();
        assert_eq!(r.survey.points.len(), 1);
        assert_eq!(r.skipped.len(), 1);
        assert_eq!(r.skipped[0].place, Place::Line(3));
    }

    #[test]
    fn missing_header_columns_and_missing_aps_are_fatal() {
        let e = read(
            "room,x,y\n",
            "s.csv",
            home(),
            aps(),
            &ReadOptions::default(),
        )
        .unwrap_err();
        assert!(!e.skippable);
        assert!(e.to_string().contains("floor, band, rssi, ap"), "{e}");
        let e = read(
            "room,floor,x,y,band,rssi,ap\n",
            "s.csv",
            home(),
            Vec::new(),
            &ReadOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("--ap"), "{e}");
    }
}
