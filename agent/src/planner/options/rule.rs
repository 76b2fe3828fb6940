//! The decision rule: the option with the best benefit per cost that reaches the target within
//! the budget; ties prefer the cheaper, then the simpler option. Explains itself when nothing
//! qualifies.

use super::*;

/// Orders two options by the rule: benefit per cost (5% ties), then cost, then simplicity.
fn better(a: &PlanOption, b: &PlanOption) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (x, y) = (a.benefit_per_cost(), b.benefit_per_cost());
    let tie = (x.is_infinite() && y.is_infinite()) || (x - y).abs() <= 0.05 * x.max(y);
    let by_bpc = if tie {
        Ordering::Equal
    } else {
        y.total_cmp(&x)
    };
    by_bpc
        .then(a.cost_mid().total_cmp(&b.cost_mid()))
        .then(a.kind.cmp(&b.kind))
}

fn money(v: f64) -> String {
    format!("{v:.0}")
}

/// Picks the recommendation (see the module header).
pub fn recommend(options: &[PlanOption], budget: f64, currency: &str) -> Recommendation {
    let mut notes = Vec::new();
    let pick = |filter: &dyn Fn(&PlanOption) -> bool| -> Option<usize> {
        let mut idx: Vec<usize> = (0..options.len())
            .filter(|&i| filter(&options[i]))
            .collect();
        idx.sort_by(|&a, &b| better(&options[a], &options[b]));
        idx.first().copied()
    };
    if let Some(i) = pick(&|o| o.applicable && o.reaches_target && o.within_budget) {
        let o = &options[i];
        let reason = match o.kind {
            Kind::Keep => format!("your setup {}", o.verdict),
            _ if o.cost.1 == 0.0 => o.verdict.clone(),
            _ => format!(
                "the best benefit per cost that reaches the target within your budget of {} {currency}: {} for {}-{} {currency}",
                money(budget),
                o.verdict,
                money(o.cost.0),
                money(o.cost.1)
            ),
        };
        let alternatives = options.iter().filter(|x| {
            o.kind != Kind::Keep
                && x.kind != o.kind
                && x.cost.1 > 0.0
                && x.applicable
                && x.reaches_target
                && x.within_budget
        });
        for other in alternatives {
            notes.push(format!(
                "{} also reaches the target but gives less per {currency} ({}-{} {currency})",
                other.kind.label(),
                money(other.cost.0),
                money(other.cost.1)
            ));
        }
        return Recommendation {
            option: i,
            kind: o.kind,
            reaches_target: true,
            reason,
            notes,
        };
    }
    // Nothing reaches the target within the budget.
    let over: Vec<&PlanOption> = options
        .iter()
        .filter(|o| o.applicable && o.reaches_target && !o.within_budget)
        .collect();
    for o in &over {
        notes.push(format!(
            "{} would reach the target but costs {}-{} {currency}, over your budget of {} {currency}",
            o.kind.label(),
            money(o.cost.0),
            money(o.cost.1),
            money(budget)
        ));
    }
    let paid_in_budget = options
        .iter()
        .any(|o| o.applicable && o.cost.1 > 0.0 && o.within_budget);
    if !paid_in_budget {
        notes.push(format!(
            "a budget of {} {currency} covers no paid option (the cheapest starts at {} {currency})",
            money(budget),
            money(
                options
                    .iter()
                    .filter(|o| o.applicable && o.cost.0 > 0.0)
                    .map(|o| o.cost.0)
                    .fold(f64::INFINITY, f64::min)
            )
        ));
    }
    let i = pick(&|o| o.applicable && o.within_budget && o.clients_benefit > 0.0).unwrap_or(0);
    let o = &options[i];
    let reason = if o.kind == Kind::Keep {
        "nothing within your budget improves on the current setup".to_string()
    } else {
        format!(
            "no option reaches the target within your budget; this one helps most per cost: {}",
            o.verdict
        )
    };
    Recommendation {
        option: i,
        kind: o.kind,
        reaches_target: false,
        reason,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(kind: Kind, cost: (f64, f64), benefit: f64, reaches: bool, budget: f64) -> PlanOption {
        PlanOption {
            kind,
            title: String::new(),
            applicable: true,
            nodes: vec![],
            predicted: Predicted {
                coverage_pct: 0.0,
                coverage_by_band: vec![],
                median_rssi: 0.0,
                phy_rate_mbps: 0.0,
                busy_5ghz: None,
                rooms: vec![],
            },
            reaches_target: reaches,
            clients_benefit: benefit,
            cost,
            within_budget: cost.1 <= budget,
            confidence: Confidence::Medium,
            evidence: vec![],
            assumptions: vec![],
            verdict: "v".into(),
            values: vec![],
        }
    }

    #[test]
    fn free_option_that_reaches_the_target_beats_paid_ones() {
        let o = vec![
            opt(Kind::Keep, (0.0, 0.0), 0.0, false, 300.0),
            opt(Kind::MoveAp, (0.0, 0.0), 2.0, true, 300.0),
            opt(Kind::AddMesh, (80.0, 150.0), 9.0, true, 300.0),
        ];
        let r = recommend(&o, 300.0, "USD");
        assert_eq!(r.kind, Kind::MoveAp);
        assert!(r.reaches_target);
        assert!(
            r.notes[0].starts_with("add_mesh also reaches"),
            "{:?}",
            r.notes
        );
        assert_eq!(r.notes.len(), 1, "only paid alternatives are named");
    }

    #[test]
    fn keep_wins_when_it_already_meets_the_target() {
        let o = vec![
            opt(Kind::Keep, (0.0, 0.0), 0.0, true, 300.0),
            opt(Kind::MoveAp, (0.0, 0.0), 1.0, true, 300.0),
        ];
        assert_eq!(recommend(&o, 300.0, "USD").kind, Kind::Keep);
    }

    #[test]
    fn best_benefit_per_cost_wins_and_near_ties_prefer_the_cheaper() {
        let o = vec![
            opt(Kind::Keep, (0.0, 0.0), 0.0, false, 1000.0),
            opt(Kind::Upgrade6e, (150.0, 300.0), 14.0, true, 1000.0), // 0.0622 per USD
            opt(Kind::Upgrade7, (250.0, 500.0), 30.0, true, 1000.0),  // 0.08 per USD
        ];
        assert_eq!(recommend(&o, 1000.0, "USD").kind, Kind::Upgrade7);
        let o = vec![
            opt(Kind::Keep, (0.0, 0.0), 0.0, false, 1000.0),
            opt(Kind::Upgrade6e, (150.0, 300.0), 14.0, true, 1000.0),
            opt(Kind::Upgrade7, (250.0, 500.0), 24.0, true, 1000.0), // 0.064: within 5%
        ];
        assert_eq!(recommend(&o, 1000.0, "USD").kind, Kind::Upgrade6e);
    }

    #[test]
    fn over_budget_options_are_named_and_the_best_affordable_help_is_recommended() {
        let o = vec![
            opt(Kind::Keep, (0.0, 0.0), 0.0, false, 50.0),
            opt(Kind::MoveAp, (0.0, 0.0), 3.0, false, 50.0),
            opt(Kind::AddMesh, (160.0, 300.0), 8.0, true, 50.0),
            opt(Kind::Upgrade6e, (150.0, 300.0), 0.0, false, 50.0),
        ];
        let r = recommend(&o, 50.0, "EUR");
        assert_eq!(r.kind, Kind::MoveAp);
        assert!(!r.reaches_target);
        assert!(
            r.notes.iter().any(|n| n.contains(
                "add_mesh would reach the target but costs 160-300 EUR, over your budget of 50 EUR"
            )),
            "{:?}",
            r.notes
        );
        assert!(
            r.notes.iter().any(|n| n.contains("covers no paid option")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn inapplicable_options_are_never_recommended() {
        let mut six = opt(Kind::Upgrade6e, (150.0, 300.0), 5.0, true, 500.0);
        six.applicable = false;
        let o = vec![opt(Kind::Keep, (0.0, 0.0), 0.0, false, 500.0), six];
        let r = recommend(&o, 500.0, "USD");
        assert_eq!(r.kind, Kind::Keep);
        assert!(r.reason.contains("nothing within your budget"));
    }

    #[test]
    fn grades_use_the_target_and_the_too_weak_line() {
        assert_eq!(Grade::of(-60.0, -67.0), Grade::Good);
        assert_eq!(Grade::of(-70.0, -67.0), Grade::Fair);
        assert_eq!(Grade::of(-76.0, -67.0), Grade::Poor);
        assert_eq!(Grade::of(-78.0, -80.0), Grade::Good);
    }
}
