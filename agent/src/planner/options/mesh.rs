//! `add_mesh`: up to three nodes placed greedily on the search grid (and on wired points),
//! each with its backhaul modelled: wired, or 5 GHz signal -> MCS -> goodput, halved on a
//! dual-band node, no faster than its uplink.

use super::*;

/// A mesh node candidate.
#[derive(Clone, Copy)]
struct Candidate {
    pos: Pos,
    wired: bool,
}

/// The best node position found so far: (score in half points, preference, goodput), the
/// candidate, its backhaul and goodput, and the search-grid and room values with it.
struct Placement(
    (i64, u8, i64),
    Candidate,
    Backhaul,
    f64,
    Vec<f64>,
    Vec<Vec<f64>>,
);

/// `add_mesh`: greedy placement of up to three nodes.
pub fn add_mesh(ctx: &Ctx, keep: &PlanOption) -> PlanOption {
    let node_standard = Standard::Wifi6;
    let pooled = &ctx.model.pooled;
    let main = &ctx.survey.aps[0];
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut wired_seen: Vec<(i64, i64, u32)> = Vec::new();
    for p in ctx.survey.points.iter().filter(|p| p.wired) {
        let key = (
            (p.pos.x * 2.0).round() as i64,
            (p.pos.y * 2.0).round() as i64,
            p.pos.floor,
        );
        if !wired_seen.contains(&key) {
            wired_seen.push(key);
            candidates.push(Candidate {
                pos: p.pos,
                wired: true,
            });
        }
    }
    let wired_points = candidates.len();
    if ctx.settings.search {
        for &c in &ctx.search.cells {
            candidates.push(Candidate {
                pos: c,
                wired: false,
            });
        }
    }
    let mut txs = ctx.current_txs();
    let mut search_vals = model::field(ctx.model, &txs, ctx.primary, &ctx.search.cells);
    let mut room_vals: Vec<Vec<f64>> = ctx
        .rooms
        .iter()
        .map(|r| model::field(ctx.model, &txs, ctx.primary, &r.positions))
        .collect();
    let mut score_now = ctx.score(&search_vals, &room_vals);
    // Backhaul sources: (id, position, goodput it can pass on).
    let mut sources: Vec<(String, Pos, f64)> = vec![(main.id.clone(), main.pos, f64::INFINITY)];
    let mut nodes: Vec<Node> = Vec::new();
    let backhaul_phy = Phy::of(node_standard, Band::B5g);
    let node_model = &pooled[ctx.primary.index()];
    let mut predicted = keep.predicted.clone();
    let mut values = keep.values.clone();
    for k in 0..3 {
        // Key: (score in half points, preference, goodput).
        let mut best: Option<Placement> = None;
        for &c in &candidates {
            if nodes
                .iter()
                .any(|n| model::distance(n.position, c.pos) < 2.0)
                || model::distance(main.pos, c.pos) < 2.0
            {
                continue;
            }
            let (backhaul, goodput, pref) = if c.wired {
                (Backhaul::Wired, rates::WIRED_BACKHAUL_MBPS, 2u8)
            } else {
                let (src, rssi, upstream) = sources
                    .iter()
                    .map(|(id, at, up)| {
                        (
                            id,
                            model::predict(&pooled[Band::B5g.index()], *at, c.pos),
                            *up,
                        )
                    })
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .expect("sources always holds the main AP");
                if rssi < BACKHAUL_MIN_DBM {
                    continue;
                }
                // A dual-band node carries backhaul and clients on the same 5 GHz radio:
                // half the airtime each (PLANNER-NOTES.md decision rule 2).
                let link = backhaul_phy.rate_mbps(rssi) * rates::GOODPUT_SHARE / 2.0;
                let in_window = (BACKHAUL_WINDOW_DBM.0..=BACKHAUL_WINDOW_DBM.1).contains(&rssi);
                (
                    Backhaul::Wireless {
                        from: src.clone(),
                        rssi: r1(rssi),
                    },
                    link.min(upstream),
                    u8::from(in_window),
                )
            };
            let sv: Vec<f64> = ctx
                .search
                .cells
                .iter()
                .zip(&search_vals)
                .map(|(&cell, &v)| v.max(model::predict(node_model, c.pos, cell)))
                .collect();
            let rv: Vec<Vec<f64>> = ctx
                .rooms
                .iter()
                .zip(&room_vals)
                .map(|(r, vals)| {
                    r.positions
                        .iter()
                        .zip(vals)
                        .map(|(&p, &v)| v.max(model::predict(node_model, c.pos, p)))
                        .collect()
                })
                .collect();
            let s = ctx.score(&sv, &rv);
            let key = ((s * 2.0).round() as i64, pref, goodput.round() as i64);
            if best.as_ref().is_none_or(|b| key > b.0) {
                best = Some(Placement(key, c, backhaul, goodput, sv, rv));
            }
        }
        let Some(Placement(key, c, backhaul, goodput, sv, rv)) = best else {
            break;
        };
        // Stop when a node adds less than one point of coverage or rooms.
        if (key.0 as f64) / 2.0 < score_now + 1.0 {
            break;
        }
        let id = format!("node{}", k + 1);
        nodes.push(Node {
            id: id.clone(),
            role: "mesh_node",
            position: c.pos,
            standard: node_standard,
            backhaul: Some(backhaul),
            backhaul_mbps: Some(r1(goodput)),
        });
        sources.push((id, c.pos, goodput));
        txs.push(Tx {
            pos: c.pos,
            bands: node_standard.default_bands(),
            models: pooled.clone(),
            residuals_of: None,
        });
        search_vals = sv;
        room_vals = rv;
        score_now = (key.0 as f64) / 2.0;
        let full = model::field(ctx.model, &txs, ctx.primary, &ctx.grid.cells);
        let (p, v) = ctx.predicted_from(full, &txs, node_standard.min(main.standard));
        predicted = p;
        values = v;
        if ctx.meets_coverage(&predicted) {
            break;
        }
    }
    let n = nodes.len() as f64;
    let cost = (PRICE_MESH_NODE.0 * n, PRICE_MESH_NODE.1 * n);
    let (conf, why) = ctx.model_confidence();
    let any_wireless = nodes
        .iter()
        .any(|x| matches!(x.backhaul, Some(Backhaul::Wireless { .. })));
    let mut evidence = vec![
        ev("nodes", n, "nodes", "placement search on the model"),
        ev(
            "coverage_now",
            keep.predicted.coverage_pct,
            "%",
            "survey + model",
        ),
        ev("coverage", predicted.coverage_pct, "%", ctx.fit_source()),
        ev(
            "wired_points",
            wired_points as f64,
            "points",
            "survey (wired: true)",
        ),
    ];
    for node in &nodes {
        match &node.backhaul {
            Some(Backhaul::Wireless { rssi, .. }) => evidence.push(ev(
                &format!("{}_backhaul_rssi", node.id),
                *rssi,
                "dBm",
                "model (5 GHz, node to its uplink); placement window -60..-67 dBm (PLANNER-NOTES.md rule 2)",
            )),
            Some(Backhaul::Wired) => evidence.push(ev(
                &format!("{}_backhaul_wired", node.id),
                1.0,
                "bool",
                "survey (wired: true at this position)",
            )),
            None => {}
        }
        evidence.push(ev(
            &format!("{}_backhaul_goodput", node.id),
            node.backhaul_mbps.unwrap_or(0.0),
            "Mbit/s",
            "model: backhaul signal -> MCS -> PHY x 0.6, halved when sharing the client band",
        ));
    }
    let mut assumptions = vec![
        format!(
            "a dual-band Wi-Fi 6 node costs {}-{} USD (hearth's price table); tri-band kits avoid the halved backhaul airtime but cost more",
            PRICE_MESH_NODE.0, PRICE_MESH_NODE.1
        ),
        "nodes radiate like the pooled model of today's AP(s)".into(),
        format!("confidence: {why}"),
    ];
    if wired_points == 0 {
        assumptions.push(
            "no survey point is marked wired: backhaul is wireless (mark Ethernet/MoCA spots with wired: true)".into(),
        );
    }
    let applicable = !nodes.is_empty();
    let cov_ok = applicable && ctx.meets_coverage(&predicted);
    let reaches = cov_ok && ctx.meets_busy(predicted.busy_5ghz);
    let gain = (predicted.coverage_pct - keep.predicted.coverage_pct).max(0.0);
    let positions: Vec<String> = nodes.iter().map(|x| fmt_pos(x.position)).collect();
    let verdict = if !applicable {
        if ctx.settings.search || wired_points > 0 {
            "no position where a node gets a usable backhaul (-70 dBm or better) and adds coverage"
                .into()
        } else {
            "placement search disabled".into()
        }
    } else if reaches {
        format!(
            "reaches the target with {} node(s): {}",
            nodes.len(),
            coverage_verdict(ctx, &predicted)
        )
    } else if cov_ok {
        "fixes coverage but not the busy 5 GHz channel (a wireless backhaul even adds airtime)"
            .into()
    } else {
        format!(
            "even {} node(s) fall short: {}",
            nodes.len(),
            coverage_verdict(ctx, &predicted)
        )
    };
    PlanOption {
        kind: Kind::AddMesh,
        title: if applicable {
            format!(
                "Add {} mesh node(s) at {}",
                nodes.len(),
                positions.join(" and ")
            )
        } else {
            "Add mesh node(s)".into()
        },
        applicable,
        nodes,
        reaches_target: reaches,
        clients_benefit: ctx.clients_n * gain / 100.0,
        within_budget: ctx.within(cost),
        cost,
        confidence: if any_wireless {
            lower(conf, Confidence::Medium)
        } else {
            conf
        },
        evidence,
        assumptions,
        verdict,
        predicted,
        values,
    }
}
