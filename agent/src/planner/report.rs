//! The plan for people (text) and for LuCI (JSON, schema `hearth.plan/1`, documented in
//! docs/planner.md). Numbers are rounded (0.1 dB, 0.1 %, 0.01 m) so output is byte-stable;
//! JSON object keys come out sorted (serde_json's map), lists in a fixed order.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::fit::{PathLoss, Source};
use super::options::{Backhaul, Node, PlanOption, Predicted};
use super::survey::{Band, Pos, Problem};
use super::Plan;

/// JSON schema name and version.
pub const SCHEMA: &str = "hearth.plan/1";

fn round(v: f64, places: i32) -> Value {
    if !v.is_finite() {
        return Value::Null;
    }
    let f = 10f64.powi(places);
    let r = (v * f).round() / f;
    // -0.0 prints as "-0.0": normalise.
    json!(if r == 0.0 { 0.0 } else { r })
}

fn n1(v: f64) -> Value {
    round(v, 1)
}

fn pos_json(p: Pos) -> Value {
    json!({"x": round(p.x, 2), "y": round(p.y, 2), "floor": p.floor})
}

fn model_json(ap: Option<&str>, m: &PathLoss) -> Value {
    let reason = match &m.source {
        Source::P1238 { reason } => Some(reason.clone()),
        _ => None,
    };
    json!({
        "ap": ap,
        "band": m.band.label(),
        "source": m.source.kind(),
        "floor_loss_fitted": matches!(m.source, Source::Fitted { floor_fitted: true }),
        "fallback_reason": reason,
        "n": round(m.n, 2),
        "rssi_1m": n1(m.rssi_1m),
        "pl_1m": n1(m.loss_at_1m()),
        "floor_loss_db": n1(m.floor_loss),
        "sigma_db": round(m.sigma, 2),
        "rmse_db": round(m.rmse, 2),
        "points": m.points,
    })
}

fn node_json(n: &Node) -> Value {
    let backhaul = match &n.backhaul {
        None => Value::Null,
        Some(Backhaul::Wired) => json!({"kind": "wired", "goodput_mbps": n.backhaul_mbps.map(n1)}),
        Some(Backhaul::Wireless { from, rssi }) => json!({
            "kind": "wireless", "from": from, "rssi": n1(*rssi), "band": "5",
            "shares_client_band": true, "goodput_mbps": n.backhaul_mbps.map(n1)
        }),
    };
    json!({
        "id": n.id,
        "role": n.role,
        "position": pos_json(n.position),
        "standard": n.standard.label(),
        "backhaul": backhaul,
    })
}

fn predicted_json(p: &Predicted) -> Value {
    let by_band: serde_json::Map<String, Value> = p
        .coverage_by_band
        .iter()
        .map(|(b, c)| (b.label().to_string(), n1(*c)))
        .collect();
    json!({
        "coverage_pct": n1(p.coverage_pct),
        "coverage_by_band": by_band,
        "median_rssi": n1(p.median_rssi),
        "phy_rate_mbps": n1(p.phy_rate_mbps),
        "channel_busy_5ghz": p.busy_5ghz.map(|b| round(b, 3)),
        "rooms": p.rooms.iter().map(|r| json!({
            "room": r.room, "floor": r.floor, "predicted_rssi": n1(r.predicted),
            "measured_rssi": r.measured.map(n1), "grade": r.grade.label(),
        })).collect::<Vec<_>>(),
    })
}

fn option_json(o: &PlanOption, currency: &str) -> Value {
    json!({
        "kind": o.kind.label(),
        "title": o.title,
        "applicable": o.applicable,
        "reaches_target": o.reaches_target,
        "within_budget": o.within_budget,
        "cost": {"low": n1(o.cost.0), "high": n1(o.cost.1), "currency": currency},
        "clients_benefit": o.clients_benefit.round() as u64,
        "benefit_per_cost": if o.benefit_per_cost().is_finite() { round(o.benefit_per_cost(), 4) } else { Value::Null },
        "confidence": o.confidence.label(),
        "predicted": predicted_json(&o.predicted),
        "nodes": o.nodes.iter().map(node_json).collect::<Vec<_>>(),
        "evidence": o.evidence.iter().map(|e| json!({
            "metric": e.metric, "value": round(e.value, 2), "unit": e.unit, "source": e.source,
        })).collect::<Vec<_>>(),
        "assumptions": o.assumptions,
        "verdict": o.verdict,
    })
}

/// The plan as JSON (`skipped`: the bad rows left out with `--skip-bad`).
pub fn to_json(plan: &Plan, input: &str, skipped: &[Problem]) -> Value {
    let s = &plan.survey;
    let mut models = Vec::new();
    for b in Band::ALL {
        models.push(model_json(None, &plan.model.pooled[b.index()]));
    }
    if s.aps.len() > 1 {
        for (ap, per) in s.aps.iter().zip(&plan.model.per_ap) {
            for m in per {
                models.push(model_json(Some(&ap.id), m));
            }
        }
    }
    let busy: serde_json::Map<String, Value> = Band::ALL
        .iter()
        .filter_map(|b| s.channel_busy[b.index()].map(|v| (b.label().to_string(), round(v, 3))))
        .collect();
    let rec = &plan.recommendation;
    let chosen = &plan.options[rec.option];
    let keep = &plan.options[0];
    json!({
        "schema": SCHEMA,
        "input": {
            "survey": input,
            "points": s.points.len(),
            "skipped": skipped.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "notes": s.notes,
            "home": {"width": round(s.home.width, 2), "height": round(s.home.height, 2), "floors": s.home.floors, "wan_mbps": plan.wan_mbps.map(n1)},
            "aps": s.aps.iter().map(|a| json!({
                "id": a.id, "position": pos_json(a.pos), "standard": a.standard.label(),
                "bands": a.bands.iter().map(|b| b.label()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "clients": s.clients.map(|c| json!({"total": c.total, "wifi4": c.wifi4, "wifi5": c.wifi5, "wifi6": c.wifi6, "wifi6e": c.wifi6e, "wifi7": c.wifi7})),
            "channel_busy": busy,
        },
        "settings": {
            "target_rssi": n1(plan.settings.target_rssi),
            "budget": round(plan.settings.budget, 2),
            "currency": plan.settings.currency,
            "resolution_m": round(plan.grid.resolution, 3),
            "primary_band": plan.primary.label(),
            "coverage_goal_pct": super::options::COVERAGE_GOAL_PCT,
        },
        "model": models,
        "current": {
            "coverage_pct": n1(keep.predicted.coverage_pct),
            "median_rssi": n1(keep.predicted.median_rssi),
            "rooms": predicted_json(&keep.predicted)["rooms"].clone(),
            "dead_zones": plan.dead_zones.iter().map(|z| json!({
                "floor": z.floor, "area_m2": n1(z.area_m2),
                "bbox": {"x0": round(z.bbox.0, 2), "y0": round(z.bbox.1, 2), "x1": round(z.bbox.2, 2), "y1": round(z.bbox.3, 2)},
                "worst_rssi": n1(z.worst_rssi), "rooms": z.rooms,
            })).collect::<Vec<_>>(),
        },
        "options": plan.options.iter().map(|o| option_json(o, &plan.settings.currency)).collect::<Vec<_>>(),
        "recommendation": {
            "kind": rec.kind.label(),
            "title": chosen.title,
            "reaches_target": rec.reaches_target,
            "reason": rec.reason,
            "notes": rec.notes,
            "nodes": chosen.nodes.iter().map(node_json).collect::<Vec<_>>(),
        },
        "assumptions": plan.assumptions,
    })
}

fn money(v: f64) -> String {
    format!("{v:.0}")
}

/// The plan for people.
pub fn to_text(plan: &Plan, input: &str, skipped: &[Problem]) -> String {
    let mut out = String::new();
    let s = &plan.survey;
    let cur = &plan.settings.currency;
    let rec = &plan.recommendation;
    let chosen = &plan.options[rec.option];
    let _ = writeln!(
        out,
        "Wi-Fi plan for {} ({} points, {:.0} x {:.0} m, {} floor(s)); target {} dBm, budget {} {cur}",
        input,
        s.points.len(),
        s.home.width,
        s.home.height,
        s.home.floors,
        plan.settings.target_rssi,
        money(plan.settings.budget)
    );
    if !skipped.is_empty() {
        let _ = writeln!(out, "  {} bad row(s) skipped (see stderr)", skipped.len());
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "RECOMMENDATION: {} — {}",
        rec.kind.label(),
        chosen.title
    );
    let _ = writeln!(out, "  {}", rec.reason);
    if chosen.cost.1 > 0.0 {
        let _ = writeln!(
            out,
            "  cost {}-{} {cur}, confidence {}",
            money(chosen.cost.0),
            money(chosen.cost.1),
            chosen.confidence.label()
        );
    }
    for n in &rec.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    let _ = writeln!(out);
    let keep = &plan.options[0];
    let _ = writeln!(
        out,
        "Now: {:.0}% of the home at {} dBm or better on {}, median {:.0} dBm",
        keep.predicted.coverage_pct,
        plan.settings.target_rssi,
        plan.primary,
        keep.predicted.median_rssi
    );
    for r in &keep.predicted.rooms {
        let measured = r
            .measured
            .map(|m| format!("measured {m:.0} dBm, "))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<18} floor {}  {}predicted {:.0} dBm  {}",
            r.room,
            r.floor,
            measured,
            r.predicted,
            r.grade.label()
        );
    }
    for z in &plan.dead_zones {
        let _ = writeln!(
            out,
            "  below target: {:.0} m² on floor {} around x {:.0}-{:.0}, y {:.0}-{:.0} (down to {:.0} dBm){}",
            z.area_m2,
            z.floor,
            z.bbox.0,
            z.bbox.2,
            z.bbox.1,
            z.bbox.3,
            z.worst_rssi,
            if z.rooms.is_empty() {
                String::new()
            } else {
                format!(": {}", z.rooms.join(", "))
            }
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Options:");
    for o in &plan.options {
        let cost = if o.cost.1 > 0.0 {
            format!(
                "{}-{} {cur}{}",
                money(o.cost.0),
                money(o.cost.1),
                if o.within_budget {
                    ""
                } else {
                    " (over budget)"
                }
            )
        } else {
            "free".into()
        };
        let mark = if o.kind == rec.kind { "*" } else { " " };
        let _ = writeln!(
            out,
            "{mark} {:<10} {}: coverage {:.0}%, median {:.0} dBm, ~{:.0} Mbit/s PHY, {} client(s) gain, {cost}, confidence {}",
            o.kind.label(),
            if o.applicable { "" } else { "(n/a)" },
            o.predicted.coverage_pct,
            o.predicted.median_rssi,
            o.predicted.phy_rate_mbps,
            o.clients_benefit.round(),
            o.confidence.label()
        );
        let _ = writeln!(out, "    {}", o.title);
        let _ = writeln!(out, "    {}", o.verdict);
        for n in o.nodes.iter().filter(|n| n.role == "mesh_node") {
            let bh = match &n.backhaul {
                Some(Backhaul::Wired) => "wired backhaul".to_string(),
                Some(Backhaul::Wireless { from, rssi }) => {
                    format!("wireless backhaul from {from} at {rssi:.0} dBm")
                }
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "    {} at ({:.1}, {:.1}) floor {}: {bh}, ~{:.0} Mbit/s to its clients",
                n.id,
                n.position.x,
                n.position.y,
                n.position.floor,
                n.backhaul_mbps.unwrap_or(0.0)
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Model:");
    for b in Band::ALL {
        let m = &plan.model.pooled[b.index()];
        let how = match &m.source {
            Source::Fitted { .. } => format!("fit on {} points", m.points),
            Source::P1238 { reason } => format!("ITU-R P.1238 ({reason})"),
            Source::DerivedFrom5 { .. } => "derived from 5 GHz".into(),
        };
        let _ = writeln!(
            out,
            "  {:<8} n {:.2}, {:.1} dBm at 1 m (path loss {:.1} dB), floor loss {:.1} dB, σ {:.1} dB, RMSE {:.1} dB — {how}",
            b.to_string(),
            m.n,
            m.rssi_1m,
            m.loss_at_1m(),
            m.floor_loss,
            m.sigma,
            m.rmse
        );
    }
    let _ = writeln!(out, "Assumptions:");
    for a in &plan.assumptions {
        let _ = writeln!(out, "  - {a}");
    }
    out
}
