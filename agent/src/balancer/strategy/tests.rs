//! Specifications of the strategies as distributions over many picks, with fixed seeds.

use super::*;

/// A candidate with neutral attributes; tests override what they exercise.
fn cand(name: &str) -> Candidate<'_> {
    Candidate {
        name,
        weight: 1,
        in_flight: 0,
        latency: None,
        cost: None,
    }
}

/// How often each candidate came first over `picks` calls of `rank`.
fn first_counts(sel: &mut Selector, cands: &[Candidate<'_>], picks: usize) -> Vec<usize> {
    let mut counts = vec![0; cands.len()];
    for _ in 0..picks {
        counts[sel.rank("", cands)[0]] += 1;
    }
    counts
}

fn all_strategies() -> impl Iterator<Item = Strategy> {
    Strategy::CHOICES.iter().map(|&(_, s)| s)
}

/// Device keys as the balancer sees them: IPv4 strings of a /18.
fn device_keys(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("10.0.{}.{}", i / 256, i % 256))
        .collect()
}

/// The upstream each key lands on first, by name.
fn placements<'a>(keys: &[String], cands: &[Candidate<'a>]) -> Vec<&'a str> {
    let mut sel = Selector::new(Strategy::IpHash, 1);
    keys.iter()
        .map(|k| cands[sel.rank(k, cands)[0]].name)
        .collect()
}

// === every strategy ===

#[test]
fn no_candidates_rank_empty_and_one_candidate_ranks_alone() {
    for s in all_strategies() {
        let mut sel = Selector::new(s, 0);
        assert_eq!(sel.rank("10.0.0.1", &[]), Vec::<usize>::new(), "{s:?}");
        assert_eq!(sel.rank("10.0.0.1", &[cand("only")]), vec![0], "{s:?}");
        assert_eq!(sel.strategy(), s);
    }
}

#[test]
fn rank_is_always_a_permutation_of_the_candidates() {
    // Random pools — duplicate names, weight 0, NaN/negative/infinite latencies, extreme
    // prices — with each selector's state carried from one pool to the next.
    let names = ["a", "b", "c", "d", "e", "f", "g", ""];
    let mut rng = SplitMix64::new(42);
    let mut selectors: Vec<Selector> = all_strategies()
        .enumerate()
        .map(|(i, s)| Selector::new(s, i as u64))
        .collect();
    for case in 0..3000 {
        let n = rng.below(13);
        let cands: Vec<Candidate<'_>> = (0..n)
            .map(|_| Candidate {
                name: names[rng.below(names.len())],
                weight: [0, 1, 2, 7, u32::MAX][rng.below(5)],
                in_flight: [0, 0, 1, 3, u32::MAX][rng.below(5)],
                latency: [
                    None,
                    Some(0.0),
                    Some(0.05),
                    Some(1.5),
                    Some(f64::NAN),
                    Some(-1.0),
                    Some(f64::INFINITY),
                ][rng.below(7)],
                cost: [None, Some(0), Some(750_000), Some(u64::MAX)][rng.below(4)],
            })
            .collect();
        let key = format!("key{}", rng.below(50));
        for sel in &mut selectors {
            let mut order = sel.rank(&key, &cands);
            order.sort_unstable();
            assert_eq!(
                order,
                (0..n).collect::<Vec<_>>(),
                "case {case}, {:?}, {cands:?}",
                sel.strategy()
            );
        }
    }
}

#[test]
fn same_seed_same_choices() {
    let cands = [
        Candidate {
            latency: Some(0.1),
            ..cand("a")
        },
        Candidate {
            latency: Some(0.1),
            ..cand("b")
        },
        Candidate {
            latency: Some(0.3),
            ..cand("c")
        },
    ];
    for s in all_strategies() {
        let mut one = Selector::new(s, 99);
        let mut two = Selector::new(s, 99);
        for _ in 0..100 {
            assert_eq!(one.rank("k", &cands), two.rank("k", &cands), "{s:?}");
        }
    }
}

// === round_robin ===

#[test]
fn round_robin_puts_each_candidate_first_exactly_equally_often() {
    let cands = [cand("a"), cand("b"), cand("c"), cand("d")];
    let mut sel = Selector::new(Strategy::RoundRobin, 0);
    assert_eq!(first_counts(&mut sel, &cands, 4 * 250), vec![250; 4]);
}

#[test]
fn round_robin_falls_back_in_rotation_order() {
    let cands = [cand("a"), cand("b"), cand("c")];
    let mut sel = Selector::new(Strategy::RoundRobin, 0);
    assert_eq!(sel.rank("", &cands), vec![0, 1, 2]);
    assert_eq!(sel.rank("", &cands), vec![1, 2, 0]);
    assert_eq!(sel.rank("", &cands), vec![2, 0, 1]);
    assert_eq!(sel.rank("", &cands), vec![0, 1, 2]);
}

#[test]
fn round_robin_keeps_rotating_when_the_pool_shrinks() {
    let four = [cand("a"), cand("b"), cand("c"), cand("d")];
    let mut sel = Selector::new(Strategy::RoundRobin, 0);
    for _ in 0..3 {
        sel.rank("", &four);
    }
    let two = [cand("a"), cand("b")];
    assert_eq!(first_counts(&mut sel, &two, 100), vec![50, 50]);
}

// === weighted ===

/// Weights 5/3/1 as a pool, in the given order of names.
fn weighted_pool(order: [&'static str; 3]) -> Vec<Candidate<'static>> {
    order
        .iter()
        .map(|&name| Candidate {
            weight: match name {
                "five" => 5,
                "three" => 3,
                _ => 1,
            },
            ..cand(name)
        })
        .collect()
}

/// First picks by name over `picks` calls.
fn weighted_shares(
    sel: &mut Selector,
    pool: &[Candidate<'_>],
    picks: usize,
) -> BTreeMap<String, usize> {
    let mut shares = BTreeMap::new();
    for _ in 0..picks {
        let first = pool[sel.rank("", pool)[0]].name;
        *shares.entry(first.to_owned()).or_insert(0) += 1;
    }
    shares
}

fn assert_within_one_percent(shares: &BTreeMap<String, usize>, total: usize) {
    for (name, expected) in [
        ("five", 5.0 / 9.0),
        ("three", 3.0 / 9.0),
        ("one", 1.0 / 9.0),
    ] {
        let got = shares.get(name).copied().unwrap_or(0) as f64 / total as f64;
        assert!(
            (got - expected).abs() < 0.01,
            "{name}: share {got:.4}, expected {expected:.4} ({shares:?})"
        );
    }
}

#[test]
fn weighted_shares_match_weights_within_one_percent() {
    let pool = weighted_pool(["five", "three", "one"]);
    let mut sel = Selector::new(Strategy::Weighted, 0);
    let shares = weighted_shares(&mut sel, &pool, 10_000);
    assert_within_one_percent(&shares, 10_000);
}

#[test]
fn weighted_shares_hold_when_the_pool_is_reordered_midway() {
    let mut sel = Selector::new(Strategy::Weighted, 0);
    let mut shares = weighted_shares(&mut sel, &weighted_pool(["five", "three", "one"]), 5_003);
    for (name, n) in weighted_shares(&mut sel, &weighted_pool(["one", "five", "three"]), 4_997) {
        *shares.entry(name).or_insert(0) += n;
    }
    assert_within_one_percent(&shares, 10_000);
}

#[test]
fn weighted_sequence_does_not_depend_on_pool_order() {
    let mut straight = Selector::new(Strategy::Weighted, 0);
    let mut shuffled = Selector::new(Strategy::Weighted, 0);
    let a = weighted_pool(["five", "three", "one"]);
    let b = weighted_pool(["three", "one", "five"]);
    for _ in 0..100 {
        let first_a = a[straight.rank("", &a)[0]].name;
        let first_b = b[shuffled.rank("", &b)[0]].name;
        assert_eq!(first_a, first_b);
    }
}

#[test]
fn weighted_interleaves_picks_smoothly() {
    // nginx's example: weights 5/1/1 give a a b a c a a, not a a a a a b c.
    let cands = [
        Candidate {
            weight: 5,
            ..cand("a")
        },
        cand("b"),
        cand("c"),
    ];
    let mut sel = Selector::new(Strategy::Weighted, 0);
    let firsts: String = (0..14)
        .map(|_| cands[sel.rank("", &cands)[0]].name)
        .collect();
    assert_eq!(firsts, "aabacaaaabacaa");
}

#[test]
fn weighted_falls_back_by_descending_weight() {
    let pool = weighted_pool(["one", "three", "five"]);
    let mut sel = Selector::new(Strategy::Weighted, 0);
    for _ in 0..50 {
        let order = sel.rank("", &pool);
        let weights: Vec<u32> = order[1..].iter().map(|&i| pool[i].weight).collect();
        assert!(weights.windows(2).all(|w| w[0] >= w[1]), "{order:?}");
    }
}

#[test]
fn weighted_counts_a_zero_weight_as_one() {
    let cands = [
        Candidate {
            weight: 0,
            ..cand("a")
        },
        cand("b"),
    ];
    let mut sel = Selector::new(Strategy::Weighted, 0);
    assert_eq!(first_counts(&mut sel, &cands, 100), vec![50, 50]);
}

// === least_connections ===

#[test]
fn least_connections_picks_the_idlest_and_falls_back_by_load() {
    let cands = [
        Candidate {
            in_flight: 4,
            ..cand("a")
        },
        Candidate {
            in_flight: 1,
            ..cand("b")
        },
        Candidate {
            in_flight: 9,
            ..cand("c")
        },
        Candidate {
            in_flight: 2,
            ..cand("d")
        },
    ];
    let mut sel = Selector::new(Strategy::LeastConnections, 3);
    for _ in 0..20 {
        assert_eq!(sel.rank("", &cands), vec![1, 3, 0, 2]);
    }
}

#[test]
fn least_connections_spreads_ties_evenly() {
    let cands = [
        cand("a"),
        Candidate {
            in_flight: 1,
            ..cand("busy")
        },
        cand("b"),
        cand("c"),
    ];
    let mut sel = Selector::new(Strategy::LeastConnections, 3);
    let counts = first_counts(&mut sel, &cands, 3000);
    assert_eq!(counts[1], 0, "{counts:?}");
    for i in [0, 2, 3] {
        assert!((900..=1100).contains(&counts[i]), "{counts:?}");
    }
}

// === ip_hash ===

#[test]
fn ip_hash_balances_devices_across_upstreams() {
    let cands = [
        cand("openai"),
        cand("groq"),
        cand("ollama"),
        cand("mistral"),
    ];
    let keys = device_keys(10_000);
    let placed = placements(&keys, &cands);
    for c in &cands {
        let n = placed.iter().filter(|&&p| p == c.name).count();
        assert!((2000..=3000).contains(&n), "{}: {n} of 10000", c.name);
    }
}

#[test]
fn ip_hash_shares_devices_by_weight() {
    let cands = [
        cand("a"),
        cand("b"),
        Candidate {
            weight: 2,
            ..cand("double")
        },
    ];
    let placed = placements(&device_keys(10_000), &cands);
    let double = placed.iter().filter(|&&p| p == "double").count();
    assert!((4700..=5300).contains(&double), "{double} of 10000");
}

#[test]
fn ip_hash_is_stable_across_calls_selectors_and_pool_order() {
    let cands = [
        cand("openai"),
        cand("groq"),
        cand("ollama"),
        cand("mistral"),
    ];
    let reversed: Vec<Candidate<'_>> = cands.iter().rev().copied().collect();
    let mut one = Selector::new(Strategy::IpHash, 1);
    let mut other = Selector::new(Strategy::IpHash, 2);
    for key in device_keys(500) {
        let names = |order: Vec<usize>, pool: &[Candidate<'static>]| -> Vec<&'static str> {
            order.into_iter().map(|i| pool[i].name).collect()
        };
        let first = names(one.rank(&key, &cands), &cands);
        assert_eq!(first, names(one.rank(&key, &cands), &cands));
        assert_eq!(first, names(other.rank(&key, &cands), &cands));
        assert_eq!(first, names(other.rank(&key, &reversed), &reversed));
    }
}

#[test]
fn ip_hash_removing_an_upstream_moves_only_its_devices_to_their_second_choice() {
    let four = [
        cand("openai"),
        cand("groq"),
        cand("ollama"),
        cand("mistral"),
    ];
    let three = [cand("openai"), cand("ollama"), cand("mistral")];
    let keys = device_keys(10_000);
    let before = placements(&keys, &four);
    let after = placements(&keys, &three);
    let mut sel = Selector::new(Strategy::IpHash, 0);
    let mut moved = 0;
    for (i, key) in keys.iter().enumerate() {
        if before[i] == "groq" {
            moved += 1;
            let second = four[sel.rank(key, &four)[1]].name;
            assert_eq!(after[i], second, "{key}");
        } else {
            assert_eq!(after[i], before[i], "{key} moved off a surviving upstream");
        }
    }
    assert!((2000..=3000).contains(&moved), "{moved} of 10000 moved");
}

#[test]
fn ip_hash_adding_an_upstream_moves_about_a_fifth_of_devices_all_to_it() {
    let four = [
        cand("openai"),
        cand("groq"),
        cand("ollama"),
        cand("mistral"),
    ];
    let five = [
        cand("openai"),
        cand("groq"),
        cand("ollama"),
        cand("mistral"),
        cand("local"),
    ];
    let keys = device_keys(10_000);
    let before = placements(&keys, &four);
    let after = placements(&keys, &five);
    let mut moved = 0;
    for i in 0..keys.len() {
        if after[i] != before[i] {
            moved += 1;
            assert_eq!(after[i], "local", "{} moved between old upstreams", keys[i]);
        }
    }
    assert!((1700..=2300).contains(&moved), "{moved} of 10000 moved");
}

// === latency ===

/// Three measured upstreams, fastest first, with nothing open.
fn latency_pool() -> [Candidate<'static>; 3] {
    [
        Candidate {
            latency: Some(0.05),
            ..cand("fast")
        },
        Candidate {
            latency: Some(0.2),
            ..cand("medium")
        },
        Candidate {
            latency: Some(0.5),
            ..cand("slow")
        },
    ]
}

#[test]
fn latency_gives_the_fastest_the_plurality_but_not_everything() {
    // Power of two choices with fixed scores: the fastest wins every draw it is in (2/3), the
    // middle one wins the draw against the slowest (1/3).
    let mut sel = Selector::new(Strategy::Latency, 5);
    let counts = first_counts(&mut sel, &latency_pool(), 3000);
    assert!((1850..=2150).contains(&counts[0]), "{counts:?}");
    assert!((850..=1150).contains(&counts[1]), "{counts:?}");
}

#[test]
fn latency_under_load_gives_every_upstream_first_picks() {
    // 3000 requests at 100/s, each open for its upstream's latency: the queue on the fast
    // upstreams raises their score until the slow one wins draws too.
    let pool = latency_pool();
    let mut sel = Selector::new(Strategy::Latency, 5);
    let mut open: Vec<Vec<f64>> = vec![Vec::new(); pool.len()];
    let mut counts = [0usize; 3];
    for k in 0..3000 {
        let now = f64::from(k) * 0.01;
        for ends in &mut open {
            ends.retain(|&end| end > now);
        }
        let cands: Vec<Candidate<'_>> = pool
            .iter()
            .zip(&open)
            .map(|(c, ends)| Candidate {
                in_flight: ends.len() as u32,
                ..*c
            })
            .collect();
        let first = sel.rank("", &cands)[0];
        counts[first] += 1;
        open[first].push(now + pool[first].latency.unwrap_or(0.0));
    }
    assert!(counts.iter().all(|&n| n > 0), "{counts:?}");
    assert!(counts[0] > counts[1] && counts[0] > counts[2], "{counts:?}");
}

#[test]
fn latency_reprobes_a_slow_upstream_even_without_load() {
    // One client, one request at a time, estimates from PeakEwma: the slow upstream's idle
    // estimate fades until it wins a draw and is measured again.
    let ttfb = [0.05, 0.2, 0.5];
    let names = ["fast", "medium", "slow"];
    let mut ewma = [PeakEwma::new(30.0); 3];
    let mut sel = Selector::new(Strategy::Latency, 5);
    let mut counts = [0usize; 3];
    let mut now = 0.0;
    for _ in 0..3000 {
        let cands: Vec<Candidate<'_>> = (0..3)
            .map(|i| Candidate {
                latency: ewma[i].value(now),
                ..cand(names[i])
            })
            .collect();
        let first = sel.rank("", &cands)[0];
        counts[first] += 1;
        now += ttfb[first];
        ewma[first].observe(ttfb[first], now);
        now += 1.0;
    }
    assert!(counts.iter().all(|&n| n > 0), "{counts:?}");
    assert!(counts[0] > counts[1] + counts[2], "{counts:?}");
}

#[test]
fn latency_ranks_unmeasured_upstreams_first() {
    let mut pool = latency_pool().to_vec();
    pool.push(cand("new"));
    let mut sel = Selector::new(Strategy::Latency, 5);
    for _ in 0..100 {
        assert_eq!(sel.rank("", &pool)[0], 3);
    }
}

#[test]
fn latency_spreads_several_unmeasured_upstreams_by_load() {
    let mut pool = latency_pool().to_vec();
    pool.push(Candidate {
        in_flight: 1,
        ..cand("probing")
    });
    pool.push(cand("new"));
    let mut sel = Selector::new(Strategy::Latency, 5);
    for _ in 0..100 {
        assert_eq!(sel.rank("", &pool)[..2], [4, 3]);
    }
}

#[test]
fn latency_score_rises_with_open_requests() {
    // 0.05 s with 9 open scores 0.5; 0.2 s with none scores 0.2. Two candidates are always
    // both drawn, so the better score always wins.
    let cands = [
        Candidate {
            latency: Some(0.05),
            in_flight: 9,
            ..cand("fast-but-busy")
        },
        Candidate {
            latency: Some(0.2),
            ..cand("idle")
        },
    ];
    let mut sel = Selector::new(Strategy::Latency, 5);
    assert_eq!(first_counts(&mut sel, &cands, 100), vec![0, 100]);
}

#[test]
fn latency_falls_back_by_ascending_score() {
    let cands = [
        Candidate {
            latency: Some(0.3),
            ..cand("a")
        },
        Candidate {
            latency: Some(0.1),
            ..cand("b")
        },
        Candidate {
            latency: Some(0.4),
            ..cand("c")
        },
        Candidate {
            latency: Some(0.2),
            ..cand("d")
        },
    ];
    let mut sel = Selector::new(Strategy::Latency, 5);
    for _ in 0..100 {
        let order = sel.rank("", &cands);
        let rest: Vec<f64> = order[1..]
            .iter()
            .map(|&i| cands[i].latency.unwrap_or(0.0))
            .collect();
        assert!(rest.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
        assert_ne!(order[0], 2, "the slowest never wins a draw");
    }
}

// === PeakEwma ===

#[test]
fn peak_ewma_is_none_before_the_first_sample() {
    let mut e = PeakEwma::new(10.0);
    assert_eq!(e.value(0.0), None);
    e.observe(0.3, 5.0);
    assert_eq!(e.value(5.0), Some(0.3));
}

#[test]
fn peak_ewma_jumps_to_a_peak_at_once() {
    let mut e = PeakEwma::new(10.0);
    e.observe(0.1, 0.0);
    e.observe(2.0, 0.001);
    assert_eq!(e.value(0.001), Some(2.0));
}

#[test]
fn peak_ewma_closes_the_gap_to_lower_samples_by_e_per_tau() {
    let tau = 10.0;
    let mut e = PeakEwma::new(tau);
    e.observe(1.0, 0.0);
    e.observe(0.1, tau);
    let gap = e.value(tau).unwrap() - 0.1;
    assert!((gap - 0.9 / std::f64::consts::E).abs() < 1e-9, "gap {gap}");
}

#[test]
fn peak_ewma_decay_depends_on_time_not_on_sample_count() {
    let tau = 10.0;
    let mut sparse = PeakEwma::new(tau);
    let mut dense = PeakEwma::new(tau);
    sparse.observe(1.0, 0.0);
    dense.observe(1.0, 0.0);
    sparse.observe(0.1, 2.0 * tau);
    for k in 1..=100 {
        dense.observe(0.1, 2.0 * tau * f64::from(k) / 100.0);
    }
    let (s, d) = (
        sparse.value(2.0 * tau).unwrap(),
        dense.value(2.0 * tau).unwrap(),
    );
    assert!((s - d).abs() < 1e-9, "{s} vs {d}");
    assert!((s - 0.1 - 0.9 * (-2.0f64).exp()).abs() < 1e-9, "{s}");
}

#[test]
fn peak_ewma_fades_while_idle_and_recovers_on_the_next_sample() {
    let tau = 10.0;
    let mut e = PeakEwma::new(tau);
    e.observe(0.5, 0.0);
    let faded = e.value(tau).unwrap();
    assert!((faded - 0.5 / std::f64::consts::E).abs() < 1e-9, "{faded}");
    assert!(e.value(100.0 * tau).unwrap() < 1e-9);
    // Long idle, then a sample: the estimate is that sample, not a blend with the old one.
    e.observe(0.4, 100.0 * tau);
    assert!((e.value(100.0 * tau).unwrap() - 0.4).abs() < 1e-9);
}

#[test]
fn peak_ewma_ignores_nonsense_samples_and_clock_steps_back() {
    let mut e = PeakEwma::new(10.0);
    e.observe(f64::NAN, 0.0);
    e.observe(f64::INFINITY, 0.0);
    e.observe(0.2, f64::NAN);
    assert_eq!(e.value(0.0), None);
    e.observe(0.2, 100.0);
    e.observe(0.1, 50.0); // clock stepped back: no time elapsed, no pull
    assert_eq!(e.value(100.0), Some(0.2));
    e.observe(-1.0, 110.0); // read as 0
    let v = e.value(110.0).unwrap();
    assert!((v - 0.2 / std::f64::consts::E).abs() < 1e-9, "{v}");
    assert_eq!(e.value(f64::NAN), Some(v));
    assert_eq!(e.value(f64::INFINITY), Some(0.0));
}

#[test]
fn peak_ewma_with_no_time_constant_follows_the_last_sample() {
    let mut e = PeakEwma::new(0.0);
    e.observe(1.0, 0.0);
    e.observe(0.1, 1.0);
    assert_eq!(e.value(1.0), Some(0.1));
}

// === cost ===

#[test]
fn cost_picks_the_cheapest_and_ranks_unknown_last() {
    let cands = [
        cand("unpriced"),
        Candidate {
            cost: Some(750_000),
            ..cand("mini")
        },
        Candidate {
            cost: Some(0),
            ..cand("local")
        },
        Candidate {
            cost: Some(12_500_000),
            ..cand("big")
        },
    ];
    let mut sel = Selector::new(Strategy::Cost, 0);
    for _ in 0..20 {
        assert_eq!(sel.rank("", &cands), vec![2, 1, 3, 0]);
    }
}

#[test]
fn cost_spreads_equal_prices_evenly() {
    let cands = [
        Candidate {
            cost: Some(2_000_000),
            ..cand("dear")
        },
        Candidate {
            cost: Some(750_000),
            ..cand("a")
        },
        Candidate {
            cost: Some(750_000),
            ..cand("b")
        },
    ];
    let mut sel = Selector::new(Strategy::Cost, 0);
    let counts = first_counts(&mut sel, &cands, 2000);
    assert_eq!(counts[0], 0);
    assert!((800..=1200).contains(&counts[1]), "{counts:?}");
}
