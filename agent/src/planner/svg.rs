//! SVG heatmap of the plan: one panel per floor with the predicted RSSI of the current setup on
//! the primary band (colour bands relative to the target), the survey points, the current
//! AP(s), the recommended option's new positions, room labels and a legend.
//!
//! Hand-written SVG 1.1: equal-colour cells of a row are merged into one rectangle and survey
//! points are thinned to one per 0.5 m, so a 3-floor home stays far below 200 KB. Coordinates
//! are printed with one decimal: the same plan gives the same bytes.

use std::fmt::Write as _;

use super::options::Kind;
use super::survey::Pos;
use super::Plan;

/// Most survey points drawn per floor.
const MAX_POINTS_PER_FLOOR: usize = 800;

/// Colour bands: (lowest dBm relative to the target, colour, label). The last catches the rest.
fn bands(target: f64) -> Vec<(f64, &'static str, String)> {
    let t = target;
    vec![
        (
            t + 15.0,
            "#1a9641",
            format!("≥ {:.0} dBm (excellent)", t + 15.0),
        ),
        (
            t + 7.0,
            "#52b151",
            format!("{:.0} … {:.0}", t + 7.0, t + 15.0),
        ),
        (t, "#a6d96a", format!("{:.0} … {:.0} (target)", t, t + 7.0)),
        (t - 5.0, "#fee08b", format!("{:.0} … {:.0}", t - 5.0, t)),
        (
            t - 10.0,
            "#fdae61",
            format!("{:.0} … {:.0}", t - 10.0, t - 5.0),
        ),
        (
            t - 18.0,
            "#f46d43",
            format!("{:.0} … {:.0}", t - 18.0, t - 10.0),
        ),
        (
            f64::NEG_INFINITY,
            "#a50026",
            format!("< {:.0} dBm (dead)", t - 18.0),
        ),
    ]
}

fn bucket(v: f64, edges: &[(f64, &'static str, String)]) -> usize {
    edges
        .iter()
        .position(|(lo, _, _)| v >= *lo)
        .unwrap_or(edges.len() - 1)
}

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Renders the heatmap.
pub fn render(plan: &Plan) -> String {
    let home = &plan.survey.home;
    let target = plan.settings.target_rssi;
    let edges = bands(target);
    let scale = (640.0 / home.width).clamp(8.0, 60.0);
    let (pw, ph) = (home.width * scale, home.height * scale);
    let margin = 20.0;
    let title_h = 44.0;
    let panel_title = 22.0;
    let legend_w = 230.0;
    let total_w = margin * 3.0 + pw + legend_w;
    let panels_h = home.floors as f64 * (ph + panel_title + margin);
    let total_h = title_h + panels_h.max(330.0) + margin;
    let keep = &plan.options[0];
    let grid = &plan.grid;
    let rec = &plan.recommendation;
    let chosen = &plan.options[rec.option];
    let mut s = String::with_capacity(64 * 1024);
    let _ = write!(
        s,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{total_w:.0}\" height=\"{total_h:.0}\" viewBox=\"0 0 {total_w:.0} {total_h:.0}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    );
    let _ = writeln!(
        s,
        "<title>hearth Wi-Fi plan: predicted {} RSSI of the current setup</title>",
        plan.primary
    );
    let _ = writeln!(
        s,
        "<rect x=\"0\" y=\"0\" width=\"{total_w:.0}\" height=\"{total_h:.0}\" fill=\"#ffffff\"/>"
    );
    let _ = writeln!(
        s,
        "<text x=\"{margin:.0}\" y=\"22\" font-size=\"16\" font-weight=\"bold\">Predicted {} signal, current setup (target {target:.0} dBm)</text>",
        plan.primary
    );
    let _ = writeln!(
        s,
        "<text x=\"{margin:.0}\" y=\"38\">Recommendation: {} — {}</text>",
        rec.kind.label(),
        escape(&chosen.title)
    );
    let per_floor = grid.nx * grid.ny;
    for floor in 0..home.floors {
        let ox = margin;
        let oy = title_h + floor as f64 * (ph + panel_title + margin) + panel_title;
        let _ = writeln!(s, "<g id=\"floor{floor}\">");
        let _ = writeln!(
            s,
            "<text x=\"{ox:.1}\" y=\"{:.1}\" font-weight=\"bold\">Floor {floor}</text>",
            oy - 6.0
        );
        // Heat cells, merged along rows.
        let r = grid.resolution;
        for iy in 0..grid.ny {
            let mut ix = 0;
            while ix < grid.nx {
                let base = floor as usize * per_floor + iy * grid.nx;
                let b = bucket(keep.values[base + ix], &edges);
                let start = ix;
                while ix < grid.nx && bucket(keep.values[base + ix], &edges) == b {
                    ix += 1;
                }
                let x0 = start as f64 * r;
                let x1 = (ix as f64 * r).min(home.width);
                let y0 = iy as f64 * r;
                let y1 = ((iy + 1) as f64 * r).min(home.height);
                let _ = writeln!(
                    s,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/>",
                    ox + x0 * scale,
                    oy + y0 * scale,
                    (x1 - x0) * scale + 0.3,
                    (y1 - y0) * scale + 0.3,
                    edges[b].1
                );
            }
        }
        let _ = writeln!(
            s,
            "<rect x=\"{ox:.1}\" y=\"{oy:.1}\" width=\"{pw:.1}\" height=\"{ph:.1}\" fill=\"none\" stroke=\"#333333\" stroke-width=\"1.5\"/>"
        );
        // Survey points on the primary band, thinned.
        let mut drawn: Vec<(i64, i64)> = Vec::new();
        for p in plan
            .survey
            .points
            .iter()
            .filter(|p| p.pos.floor == floor && p.band == plan.primary)
        {
            let key = (
                (p.pos.x * 2.0).floor() as i64,
                (p.pos.y * 2.0).floor() as i64,
            );
            if drawn.len() >= MAX_POINTS_PER_FLOOR || drawn.contains(&key) {
                continue;
            }
            drawn.push(key);
            let _ = writeln!(
                s,
                "<circle class=\"survey-point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\" stroke=\"#000000\" stroke-width=\"0.7\"/>",
                ox + p.pos.x * scale,
                oy + p.pos.y * scale,
                edges[bucket(p.rssi, &edges)].1
            );
        }
        // Room labels.
        for room in plan.rooms.iter().filter(|r| r.floor == floor) {
            let _ = writeln!(
                s,
                "<text class=\"room\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#111111\" stroke=\"#ffffff\" stroke-width=\"2.5\" paint-order=\"stroke\">{}</text>",
                ox + room.centre.x * scale,
                oy + room.centre.y * scale - 6.0,
                escape(&room.name)
            );
        }
        // Current APs.
        for ap in plan.survey.aps.iter().filter(|a| a.pos.floor == floor) {
            marker_ap(&mut s, ox, oy, scale, ap.pos, &ap.id);
        }
        // Proposed positions of the recommendation.
        if rec.kind != Kind::Keep {
            for n in chosen.nodes.iter().filter(|n| n.position.floor == floor) {
                let moved = plan
                    .survey
                    .aps
                    .iter()
                    .all(|a| super::model::distance(a.pos, n.position) > 0.3);
                if moved {
                    marker_proposed(&mut s, ox, oy, scale, n.position, &n.id);
                }
            }
        }
        let _ = writeln!(s, "</g>");
    }
    // Legend.
    let lx = margin * 2.0 + pw;
    let mut ly = title_h + panel_title;
    let _ = writeln!(s, "<g id=\"legend\">");
    let _ = writeln!(
        s,
        "<text x=\"{lx:.1}\" y=\"{:.1}\" font-weight=\"bold\">Signal ({}, dBm)</text>",
        ly - 6.0,
        plan.primary
    );
    for (_, colour, label) in &edges {
        let _ = writeln!(
            s,
            "<rect x=\"{lx:.1}\" y=\"{ly:.1}\" width=\"18\" height=\"14\" fill=\"{colour}\" stroke=\"#333333\" stroke-width=\"0.5\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            lx + 24.0,
            ly + 11.0,
            escape(label)
        );
        ly += 20.0;
    }
    ly += 10.0;
    marker_ap(
        &mut s,
        lx + 9.0 - 0.0,
        ly + 7.0,
        1.0,
        Pos {
            x: 0.0,
            y: 0.0,
            floor: 0,
        },
        "",
    );
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\">current AP</text>",
        lx + 24.0,
        ly + 11.0
    );
    ly += 22.0;
    marker_proposed(
        &mut s,
        lx + 9.0,
        ly + 7.0,
        1.0,
        Pos {
            x: 0.0,
            y: 0.0,
            floor: 0,
        },
        "",
    );
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\">proposed position</text>",
        lx + 24.0,
        ly + 11.0
    );
    ly += 22.0;
    let _ = writeln!(
        s,
        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#ffffff\" stroke=\"#000000\" stroke-width=\"0.7\"/><text x=\"{:.1}\" y=\"{:.1}\">survey point (measured)</text>",
        lx + 9.0,
        ly + 7.0,
        lx + 24.0,
        ly + 11.0
    );
    ly += 22.0;
    let _ = writeln!(
        s,
        "<text x=\"{lx:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#555555\">grid {:.2} m, 1 m = {scale:.0} px</text>",
        ly + 8.0,
        grid.resolution
    );
    let _ = writeln!(s, "</g>");
    s.push_str("</svg>\n");
    s
}

fn marker_ap(s: &mut String, ox: f64, oy: f64, scale: f64, p: Pos, label: &str) {
    let (x, y) = (ox + p.x * scale, oy + p.y * scale);
    // Markers on the map carry a class (tests and LuCI find them); the legend's do not.
    let class = if label.is_empty() {
        ""
    } else {
        " class=\"ap\""
    };
    let _ = writeln!(
        s,
        "<rect{class} x=\"{:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"#222222\" stroke=\"#ffffff\" stroke-width=\"1.5\"/>",
        x - 6.0,
        y - 6.0
    );
    if !label.is_empty() {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-weight=\"bold\" stroke=\"#ffffff\" stroke-width=\"2.5\" paint-order=\"stroke\">{}</text>",
            x + 9.0,
            y + 4.0,
            escape(label)
        );
    }
}

fn marker_proposed(s: &mut String, ox: f64, oy: f64, scale: f64, p: Pos, label: &str) {
    let (x, y) = (ox + p.x * scale, oy + p.y * scale);
    let _ = writeln!(
        s,
        "<polygon{} points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"#ffffff\" stroke=\"#0050c8\" stroke-width=\"2.5\"/>",
        if label.is_empty() { "" } else { " class=\"proposed\"" },
        x,
        y - 8.0,
        x + 8.0,
        y,
        x,
        y + 8.0,
        x - 8.0,
        y
    );
    if !label.is_empty() {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#0050c8\" font-weight=\"bold\" stroke=\"#ffffff\" stroke-width=\"2.5\" paint-order=\"stroke\">{} (proposed)</text>",
            x + 10.0,
            y + 4.0,
            escape(label)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_makes_text_safe_for_xml() {
        assert_eq!(
            escape("Kid's <room> & \"den\""),
            "Kid&apos;s &lt;room&gt; &amp; &quot;den&quot;"
        );
    }

    #[test]
    fn buckets_are_relative_to_the_target() {
        let e = bands(-67.0);
        assert_eq!(bucket(-40.0, &e), 0);
        assert_eq!(bucket(-67.0, &e), 2);
        assert_eq!(bucket(-67.1, &e), 3);
        assert_eq!(bucket(-100.0, &e), 6);
        assert_eq!(bucket(f64::NEG_INFINITY, &e), 6);
    }
}
