//! `upgrade_6e` and `upgrade_7`: a new tri-band router, its 6 GHz coverage, the 5 GHz load it
//! takes away, and (for Wi-Fi 7) the conditions under which Wi-Fi 7 pays.

use super::*;

/// `upgrade_6e` and `upgrade_7`: a new tri-band router where the router stands, or at the
/// best position when moving it helps.
pub fn upgrade(
    ctx: &Ctx,
    keep: &PlanOption,
    moved: Option<&PlanOption>,
    to: Standard,
) -> PlanOption {
    let main = &ctx.survey.aps[0];
    let kind = if to == Standard::Wifi7 {
        Kind::Upgrade7
    } else {
        Kind::Upgrade6e
    };
    let name = if to == Standard::Wifi7 {
        "Wi-Fi 7"
    } else {
        "Wi-Fi 6E"
    };
    let price = if to == Standard::Wifi7 {
        PRICE_ROUTER_7
    } else {
        PRICE_ROUTER_6E
    };
    let pos = match moved {
        Some(m) if m.applicable && m.predicted.coverage_pct > keep.predicted.coverage_pct => {
            m.nodes[0].position
        }
        _ => main.pos,
    };
    let txs = ctx.with_main(ctx.main_tx(pos, to));
    let values = model::field(ctx.model, &txs, ctx.primary, &ctx.grid.cells);
    let (mut p, values) = ctx.predicted_from(values, &txs, to);
    let six = model::field(ctx.model, &txs, Band::B6g, &ctx.grid.cells);
    let cov6 = coverage_pct(&six, ctx.target()) / 100.0;
    let noise = median(
        &ctx.survey
            .points
            .iter()
            .filter_map(|pt| pt.noise)
            .collect::<Vec<_>>(),
    )
    .unwrap_or(rates::DEFAULT_NOISE_DBM);
    let snr_area = six
        .iter()
        .filter(|&&v| v - noise >= rates::SNR_4K_QAM_DB)
        .count() as f64
        / six.len().max(1) as f64;
    let six_median = median(&six).unwrap_or(f64::NEG_INFINITY);
    let rate6 = Phy::of(to, Band::B6g).rate_mbps(six_median);
    let busy = ctx.survey.channel_busy[Band::B5g.index()];
    let census = ctx.survey.clients;
    // 6 GHz-capable clients where 6 GHz reaches the target leave 5 GHz (uniform spread).
    let moved_share = census.map(|c| c.six_ghz_capable() as f64 / c.total.max(1) as f64 * cov6);
    p.busy_5ghz = match (busy, moved_share) {
        (Some(b), Some(s)) => Some(r1((b * (1.0 - s)) * 100.0) / 100.0),
        (b, _) => b,
    };
    let cov_ok = ctx.meets_coverage(&p);
    let busy_ok = ctx.meets_busy(p.busy_5ghz);
    let already =
        main.standard >= to || (to == Standard::Wifi6e && main.standard >= Standard::Wifi6e);
    let mut evidence = Vec::new();
    let mut why_not = Vec::new();
    let mut benefit =
        ctx.clients_n * (p.coverage_pct - keep.predicted.coverage_pct).max(0.0) / 100.0;
    match census {
        Some(c) => {
            let cap6 = c.six_ghz_capable() as f64;
            evidence.push(ev(
                "clients_6ghz_capable",
                r1(100.0 * cap6 / c.total.max(1) as f64),
                "%",
                format!("client census ({} of {})", c.six_ghz_capable(), c.total),
            ));
            let moved_clients = cap6 * cov6;
            benefit += if ctx.busy_problem() && busy_ok {
                // Everyone gains: 6 GHz clients get a clean channel, the rest less contention.
                c.total as f64
            } else {
                moved_clients
            };
            if cap6 / (c.total.max(1) as f64) < 0.3 {
                why_not.push(format!(
                    "only {} of {} clients can use 6 GHz",
                    c.six_ghz_capable(),
                    c.total
                ));
            }
        }
        None => why_not.push(
            "no client census: it is unknown whether clients can use 6 GHz (a JSON survey with \"clients\", or the live collector, tells)".to_string(),
        ),
    }
    match busy {
        Some(b) => {
            evidence.push(ev(
                "channel_busy_5ghz",
                r1(b * 100.0),
                "%",
                "survey channel_busy (Wi-Fi 6E pays when > 50%, PLANNER-NOTES.md rule 3)",
            ));
            if let Some(after) = p.busy_5ghz {
                evidence.push(ev(
                    "channel_busy_5ghz_after",
                    r1(after * 100.0),
                    "%",
                    "model: 6 GHz-capable clients in 6 GHz coverage move off 5 GHz",
                ));
            }
            if b <= BUSY_GOAL {
                why_not.push(format!("5 GHz is busy only {:.0}% of the time", b * 100.0));
            }
        }
        None => why_not.push("5 GHz channel load unknown (no channel_busy in the survey)".into()),
    }
    evidence.push(ev(
        "coverage_6ghz",
        r1(cov6 * 100.0),
        "%",
        "model: 6 GHz from the 5 GHz fit (-1.4 dB free space, -5 dB LPI power)",
    ));
    evidence.push(ev(
        "phy_rate_6ghz",
        r1(rate6),
        "Mbit/s",
        "model: median 6 GHz signal -> MCS -> PHY, 2 streams",
    ));
    let mut assumptions = vec![
        format!(
            "a {name} router costs {}-{} USD (hearth's price table)",
            price.0, price.1
        ),
        "6 GHz needs WPA3 (SAE/OWE) on the clients' networks; clients transmit 6 dB below the AP at 6 GHz (LPI)".into(),
        "clients are spread like the floor area; 6 GHz-capable clients within 6 GHz coverage use it".into(),
    ];
    if pos != main.pos {
        assumptions.push(format!(
            "the new router goes to {} (the move_ap position)",
            fmt_pos(pos)
        ));
    }
    if to == Standard::Wifi7 {
        let eht = census.map(|c| (c.wifi7, c.total));
        if let Some((n7, total)) = eht {
            evidence.push(ev(
                "clients_eht",
                r1(100.0 * n7 as f64 / total.max(1) as f64),
                "%",
                format!("client census ({n7} of {total} Wi-Fi 7)"),
            ));
        }
        evidence.push(ev(
            "area_snr_4k_qam",
            r1(snr_area * 100.0),
            "%",
            format!("model: 6 GHz SNR >= 38 dB (4K-QAM, PLANNER-NOTES.md), noise {noise:.0} dBm"),
        ));
        if let Some(w) = ctx.wan_mbps {
            evidence.push(ev(
                "wan",
                r1(w),
                "Mbit/s",
                "survey home.wan_mbps or the shaper's download",
            ));
        }
        let mut gates = Vec::new();
        match eht {
            Some((n7, total)) if (n7 as f64) < EHT_SHARE_MIN * total.max(1) as f64 => {
                gates.push(format!(
                "only {n7} of {total} clients support Wi-Fi 7 (EHT); it pays with at least {:.0}%",
                EHT_SHARE_MIN * 100.0
            ))
            }
            // The missing census is already among the reasons.
            None => {}
            _ => {}
        }
        if snr_area < 0.2 {
            gates.push(format!(
                "4K-QAM needs ~38 dB SNR, which only {:.0}% of the home would get",
                snr_area * 100.0
            ));
        }
        match ctx.wan_mbps {
            Some(w) if w >= MULTI_GIG_MBPS => {}
            Some(w) => gates.push(format!(
                "the internet link is {w:.0} Mbit/s; Wi-Fi 7's rates matter with a multi-gigabit WAN/LAN"
            )),
            None => gates.push("the internet link rate is unknown (home.wan_mbps, or a shaper's download)".into()),
        }
        if gates.is_empty() {
            benefit += census.map_or(0.0, |c| c.wifi7 as f64 * snr_area.max(0.5));
        } else {
            why_not.insert(0, format!("Wi-Fi 7 does not pay yet: {}", gates.join("; ")));
            assumptions.push(
                "client MLO is mostly EMLSR; 320 MHz only on 6 GHz (3 channels in the US, at most 1 in the EU)".into(),
            );
        }
    }
    let (conf, why) = ctx.model_confidence();
    let mut confidence = lower(conf, Confidence::Medium);
    if census.is_none() || busy.is_none() {
        confidence = Confidence::Low;
    }
    assumptions.push(format!(
        "confidence: {why}; 6 GHz is predicted, not measured"
    ));
    let reaches = !already && cov_ok && busy_ok;
    let verdict = if already {
        format!(
            "the router '{}' is already {}",
            main.id,
            main.standard.label()
        )
    } else if reaches && why_not.is_empty() {
        format!("reaches the target: {}", coverage_verdict(ctx, &p))
    } else if reaches {
        format!("reaches the target, but: {}", why_not.join("; "))
    } else if !cov_ok {
        format!("does not fix coverage: {}", coverage_verdict(ctx, &p))
    } else {
        format!(
            "5 GHz would still be busy {:.0}% of the time{}",
            p.busy_5ghz.unwrap_or(0.0) * 100.0,
            if why_not.is_empty() {
                String::new()
            } else {
                format!(" ({})", why_not.join("; "))
            }
        )
    };
    PlanOption {
        kind,
        title: format!("Replace the router with a {name} router"),
        applicable: !already,
        nodes: vec![Node {
            id: main.id.clone(),
            role: "ap",
            position: pos,
            standard: to,
            backhaul: None,
            backhaul_mbps: None,
        }],
        reaches_target: reaches,
        clients_benefit: if already { 0.0 } else { benefit },
        within_budget: ctx.within(price),
        cost: price,
        confidence,
        evidence,
        assumptions,
        verdict,
        predicted: p,
        values,
    }
}
