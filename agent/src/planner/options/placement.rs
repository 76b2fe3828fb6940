//! `keep` (the setup as measured) and `move_ap` (the main router at the best surveyed spot).

use super::*;

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
