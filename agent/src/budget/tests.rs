use std::sync::Arc;

use super::period::{days_from_civil, Date};
use super::store::{decode, encode, Store};
use super::*;

/// 2026-11-25 12:00 UTC.
const NOW: i64 = 1_795_608_000;

fn t(y: i32, m: u32, d: u32, h: i64) -> i64 {
    days_from_civil(Date {
        year: y,
        month: m,
        day: d,
    }) * 86_400
        + h * 3600
}

fn kids() -> Payer {
    Payer {
        device: Some("tablet".into()),
        group: "kids".into(),
    }
}

fn money(scope: Scope, period: PeriodKind, value: u64) -> Limit {
    Limit {
        scope,
        period,
        metric: Metric::Money,
        value,
        option: if period == PeriodKind::Day {
            "llm_day"
        } else {
            "llm_month"
        },
    }
}

fn amount(money: u64) -> Amount {
    Amount { money, tokens: 10 }
}

#[test]
fn config_budgets_are_read_from_household_groups_and_device_overrides() {
    let doc = crate::uci::Document::parse(
        "hearth",
        "config balancer llm\n list listen 127.0.0.1:8080\n option llm_month 30\n\
         config endpoint e\n option url http://127.0.0.1:9/v1\n list model m\n option price_input 1\n option price_output 2\n\
         config group kids\n option llm_month 5\n option llm_tokens_day 100000\n option data_month 2\n\
         config device tablet\n option mac aa:bb:cc:dd:ee:01\n option group kids\n option llm_day 0.5\n\
         config device phone\n option mac aa:bb:cc:dd:ee:02\n option group kids\n",
    )
    .unwrap();
    let cfg = crate::config::from_package(doc.package(), "t".as_ref()).unwrap();
    let l = limits(&cfg);
    let show: Vec<String> = l
        .iter()
        .map(|l| {
            format!(
                "{} {} {} {}",
                l.scope.key(),
                l.option,
                l.metric.as_str(),
                l.value
            )
        })
        .collect();
    assert_eq!(
        show,
        [
            "household llm_month money 30000000",
            "group:kids llm_month money 5000000",
            "group:kids llm_tokens_day tokens 100000",
            "device:tablet llm_day money 500000",
            "device:tablet data_month bytes 2147483648",
            "device:phone data_month bytes 2147483648",
        ]
    );
    // The phone sets no money budget of its own: it shares the group's. Data budgets are
    // each device's own, the group's value being the default.
    assert!(!l
        .iter()
        .any(|l| l.scope == Scope::Device("phone".into()) && l.metric != Metric::Bytes));
}

#[test]
fn a_reservation_holds_its_worst_case_until_settled_with_the_real_cost() {
    let b = Budgets::new(
        Tz::utc(),
        vec![money(Scope::Group("kids".into()), PeriodKind::Month, 1000)],
    );
    let r1 = b.reserve(&kids(), amount(600), NOW).unwrap();
    // 600 held: a second worst case of 600 does not fit, one of 400 does.
    let e = b.reserve(&kids(), amount(600), NOW).unwrap_err();
    assert_eq!((e.spent, e.reserved, e.need, e.limit), (0, 600, 600, 1000));
    assert_eq!(e.scope, Scope::Group("kids".into()));
    let r2 = b.reserve(&kids(), amount(400), NOW).unwrap();
    // The first really cost 100: 500 is released.
    b.settle(r1, amount(100), 0, NOW);
    let r3 = b.reserve(&kids(), amount(500), NOW).unwrap();
    b.settle(r2, Amount::default(), 0, NOW);
    b.settle(r3, amount(900), 0, NOW);
    // Spent 100 + 900: over by nothing, and the excess of r3 over its hold (400) is recorded.
    let row = b
        .usage(NOW)
        .into_iter()
        .find(|r| r.scope == "group:kids" && r.period == "month" && r.metric == "money")
        .unwrap();
    assert_eq!((row.spent, row.reserved, row.remaining), (1000, 0, Some(0)));
    assert!(row.exhausted && row.warning);
    assert_eq!(
        row.requests, 2,
        "the request that never reached an upstream is not counted"
    );
    // Nothing fits now, but a free request still does.
    assert!(b.reserve(&kids(), amount(1), NOW).is_err());
    assert!(b
        .reserve(
            &kids(),
            Amount {
                money: 0,
                tokens: 5
            },
            NOW
        )
        .is_ok());
}

#[test]
fn every_scope_is_checked_and_the_narrowest_is_named() {
    let b = Budgets::new(
        Tz::utc(),
        vec![
            money(Scope::Household, PeriodKind::Month, 10_000),
            money(Scope::Group("kids".into()), PeriodKind::Month, 5_000),
            money(Scope::Device("tablet".into()), PeriodKind::Day, 300),
        ],
    );
    let e = b.reserve(&kids(), amount(301), NOW).unwrap_err();
    assert_eq!(e.scope, Scope::Device("tablet".into()));
    assert!(
        e.message("USD").contains("llm_day of device 'tablet'"),
        "{}",
        e.message("USD")
    );
    assert!(
        e.message("USD")
            .contains("resets at 2026-11-26T00:00:00+00:00"),
        "{}",
        e.message("USD")
    );
    // Another device of the group is held by the group budget, and the household by its own.
    let phone = Payer {
        device: Some("phone".into()),
        group: "kids".into(),
    };
    let r = b.reserve(&phone, amount(5_000), NOW).unwrap();
    assert_eq!(
        b.reserve(&phone, amount(1), NOW).unwrap_err().scope,
        Scope::Group("kids".into())
    );
    let adult = Payer {
        device: None,
        group: "adults".into(),
    };
    assert!(b.reserve(&adult, amount(5_000), NOW).is_ok());
    assert_eq!(
        b.reserve(&adult, amount(1), NOW).unwrap_err().scope,
        Scope::Household
    );
    b.settle(r, Amount::default(), 0, NOW);
    assert!(b.reserve(&adult, amount(1), NOW).is_ok());
}

#[test]
fn a_failover_rebases_the_reservation_or_leaves_it_as_it_was() {
    let b = Budgets::new(
        Tz::utc(),
        vec![money(Scope::Group("kids".into()), PeriodKind::Month, 1000)],
    );
    let r = b.reserve(&kids(), amount(300), NOW).unwrap();
    let other = b.reserve(&kids(), amount(500), NOW).unwrap();
    // The next endpoint is dearer: 300 -> 500 fits (500 + 500).
    b.rebase(r, amount(500), NOW).unwrap();
    // 600 does not (500 + 600 > 1000); the reservation keeps 500.
    assert!(b.rebase(r, amount(600), NOW).is_err());
    let row = |b: &Budgets| {
        b.usage(NOW)
            .into_iter()
            .find(|r| r.scope == "group:kids" && r.period == "month" && r.metric == "money")
            .unwrap()
            .reserved
    };
    assert_eq!(row(&b), 1000);
    b.settle(other, Amount::default(), 0, NOW);
    b.settle(r, Amount::default(), 0, NOW);
    assert_eq!(row(&b), 0);
}

#[test]
fn racing_threads_never_overspend() {
    // 8 threads x 500 tries of worst case 37, real cost 0..=37: what is settled never
    // exceeds the budget, and the budget ends (nearly) used.
    let limit = 10_000;
    let b = Arc::new(Budgets::new(
        Tz::utc(),
        vec![money(Scope::Household, PeriodKind::Month, limit)],
    ));
    let threads: Vec<_> = (0..8u64)
        .map(|n| {
            let b = b.clone();
            std::thread::spawn(move || {
                let payer = Payer {
                    device: Some(format!("d{n}")),
                    group: "g".into(),
                };
                let mut admitted = 0;
                for i in 0..500u64 {
                    if let Ok(r) = b.reserve(&payer, amount(37), NOW) {
                        admitted += 1;
                        std::thread::yield_now();
                        b.settle(r, amount((n * 7 + i) % 38), 0, NOW);
                    }
                }
                admitted
            })
        })
        .collect();
    let admitted: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let spent = b
        .usage(NOW)
        .into_iter()
        .find(|r| r.scope == "household" && r.period == "month" && r.metric == "money")
        .unwrap()
        .spent;
    assert!(spent <= limit, "spent {spent} of {limit}");
    assert!(
        spent > limit - 37,
        "the budget is used up to the last worst case: {spent}"
    );
    assert!(admitted < 8 * 500, "some requests were refused");
    assert_eq!(b.in_flight(), 0);
}

#[test]
fn periods_roll_over_at_local_midnight_and_month_end() {
    let tz = Tz::parse("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
    let b = Budgets::new(
        tz,
        vec![
            money(Scope::Group("kids".into()), PeriodKind::Day, 100),
            money(Scope::Group("kids".into()), PeriodKind::Month, 150),
        ],
    );
    let before = t(2026, 11, 30, 22); // 23:00 local, November 30
    let r = b.reserve(&kids(), amount(90), before).unwrap();
    b.settle(r, amount(90), 0, before);
    assert!(
        b.reserve(&kids(), amount(20), before).is_err(),
        "day budget: 90 + 20 > 100"
    );
    assert!(!b.rolled(before));
    // 00:00 local on December 1st: a new day and a new month.
    let after = t(2026, 11, 30, 23);
    assert!(b.rolled(after), "a period ended: save now");
    let r = b.reserve(&kids(), amount(100), after).unwrap();
    b.settle(r, amount(100), 0, after);
    let rows = b.usage(after);
    let month = rows
        .iter()
        .find(|r| r.period == "month" && r.scope == "group:kids" && r.metric == "money")
        .unwrap();
    assert_eq!((month.period_id.as_str(), month.spent), ("2026-12", 100));
    assert_eq!(month.resets_at, "2027-01-01T00:00:00+01:00");
}

#[test]
fn a_hold_taken_before_midnight_is_released_after_it() {
    let b = Budgets::new(
        Tz::utc(),
        vec![money(Scope::Group("kids".into()), PeriodKind::Day, 100)],
    );
    let r = b.reserve(&kids(), amount(80), t(2026, 11, 25, 23)).unwrap();
    let next = t(2026, 11, 26, 1);
    assert!(
        b.reserve(&kids(), amount(30), next).is_err(),
        "the hold carries over"
    );
    b.settle(r, amount(10), 0, next);
    let r = b.reserve(&kids(), amount(90), next).unwrap();
    b.settle(r, Amount::default(), 0, next);
}

#[test]
fn warnings_are_given_once_per_period_at_80_percent() {
    let b = Budgets::new(
        Tz::utc(),
        vec![money(Scope::Group("kids".into()), PeriodKind::Month, 100)],
    );
    let r = b.reserve(&kids(), amount(79), NOW).unwrap();
    assert!(b.settle(r, amount(79), 0, NOW).is_empty());
    let r = b.reserve(&kids(), amount(1), NOW).unwrap();
    let w = b.settle(r, amount(1), 0, NOW);
    assert_eq!(w, ["budget llm_month of group 'kids' (2026-11): 80% used"]);
    let r = b.reserve(&kids(), amount(1), NOW).unwrap();
    assert!(b.settle(r, amount(1), 0, NOW).is_empty());
}

#[test]
fn data_budgets_count_bytes_and_name_who_is_over() {
    let b = Budgets::new(
        Tz::utc(),
        vec![Limit {
            scope: Scope::Device("tv".into()),
            period: PeriodKind::Month,
            metric: Metric::Bytes,
            value: 1000,
            option: "data_month",
        }],
    );
    b.add_bytes(&Scope::Device("tv".into()), 999, NOW);
    assert!(b.over_data(NOW).is_empty());
    b.add_bytes(&Scope::Device("tv".into()), 1, NOW);
    assert_eq!(b.over_data(NOW), [Scope::Device("tv".into())]);
    // Next month the device is free again.
    assert!(b.over_data(t(2026, 12, 1, 0)).is_empty());
}

#[test]
fn the_ledger_round_trips_and_detects_damage() {
    let b = Budgets::new(Tz::utc(), vec![]);
    let r = b.reserve(&kids(), amount(5), NOW).unwrap();
    b.settle(r, amount(5), 77, NOW);
    let snap = b.take_snapshot(NOW).expect("dirty");
    assert!(
        b.take_snapshot(NOW).is_none(),
        "no write when nothing changed"
    );
    let bytes = encode(&snap, NOW);
    let back = decode(&bytes).unwrap();
    assert_eq!(back.accounts, snap);
    assert_eq!(back.saved_at, NOW);
    // Torn: cut anywhere.
    for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
        assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    // A flipped bit in the data.
    let mut flipped = bytes.clone();
    let last = flipped.len() - 5;
    flipped[last] ^= 0x01;
    assert!(decode(&flipped).unwrap_err().contains("checksum"));
}

#[test]
fn a_damaged_ledger_is_kept_aside_and_the_previous_generation_used() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    assert!(store.load().ledger.is_none(), "a first start has no ledger");
    let b = Budgets::new(Tz::utc(), vec![]);
    let r = b.reserve(&kids(), amount(5), NOW).unwrap();
    b.settle(r, amount(5), 0, NOW);
    let first = encode(&b.snapshot(), NOW);
    store.save(&first).unwrap();
    let r = b.reserve(&kids(), amount(7), NOW).unwrap();
    b.settle(r, amount(7), 0, NOW);
    store.save(&encode(&b.snapshot(), NOW + 1)).unwrap();
    assert_eq!(store.load().ledger.unwrap().saved_at, NOW + 1);
    // The newest copy is torn (power cut during a copy by hand, bad flash block).
    let cur = store.path();
    let text = std::fs::read(&cur).unwrap();
    std::fs::write(&cur, &text[..text.len() - 3]).unwrap();
    let loaded = store.load();
    assert_eq!(
        loaded.ledger.unwrap().saved_at,
        NOW,
        "the previous generation"
    );
    assert!(
        loaded.problems[0].contains("torn write"),
        "{:?}",
        loaded.problems
    );
    assert!(dir.path().join("ledger.json.corrupt").exists());
    // Both damaged: nothing loads, and both are named.
    std::fs::write(dir.path().join("ledger.json.1"), b"garbage").unwrap();
    let loaded = store.load();
    assert!(loaded.ledger.is_none());
    assert_eq!(loaded.problems.len(), 1, "{:?}", loaded.problems);
    assert!(dir.path().join("ledger.json.1.corrupt").exists());
}

#[test]
fn the_device_decides_between_deny_and_downgrade_else_its_group() {
    let doc = crate::uci::Document::parse(
        "hearth",
        "config group kids\n option on_exhaust downgrade\n option downgrade_route cheap\n\
         config group adults\n\
         config device tablet\n option mac aa:bb:cc:dd:ee:01\n option group kids\n\
         config device strict\n option mac aa:bb:cc:dd:ee:02\n option group kids\n option on_exhaust deny\n\
         config device laptop\n option mac aa:bb:cc:dd:ee:03\n option group adults\n\
         config endpoint e\n option url http://127.0.0.1:9/v1\n list model m\n\
         config route cheap\n option match_model cheap\n list endpoint e\n",
    )
    .unwrap();
    let cfg = crate::config::from_package(doc.package(), "t".as_ref()).unwrap();
    let payer = |d: Option<&str>, g: &str| Payer {
        device: d.map(str::to_string),
        group: g.into(),
    };
    assert_eq!(
        on_exhaust(&cfg, &payer(Some("tablet"), "kids")),
        (OnExhaust::Downgrade, Some("cheap".into()))
    );
    assert_eq!(
        on_exhaust(&cfg, &payer(Some("strict"), "kids")).0,
        OnExhaust::Deny
    );
    assert_eq!(
        on_exhaust(&cfg, &payer(Some("laptop"), "adults")).0,
        OnExhaust::Deny
    );
    // An unknown client in a group (by its group's settings) and in `default`.
    assert_eq!(
        on_exhaust(&cfg, &payer(None, "kids")).0,
        OnExhaust::Downgrade
    );
    assert_eq!(
        on_exhaust(&cfg, &payer(None, "default")),
        (OnExhaust::Deny, None)
    );
}

#[test]
fn a_failed_save_loses_nothing_and_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    // state_dir is not a directory (a full or broken flash looks the same to the saver).
    let blocked = dir.path().join("not-a-dir");
    std::fs::write(&blocked, b"x").unwrap();
    let store = Store::new(&blocked.join("state"));
    let b = Budgets::new(Tz::utc(), vec![]);
    let r = b.reserve(&kids(), amount(5), NOW).unwrap();
    b.settle(r, amount(5), 0, NOW);
    let snap = b.take_snapshot(NOW).unwrap();
    assert!(store.save(&encode(&snap, NOW)).is_err());
    // The saver marks the ledger dirty again, so the next tick retries with everything.
    b.mark_dirty();
    assert_eq!(b.take_snapshot(NOW).unwrap(), snap);
    // Spending goes on in memory meanwhile.
    assert!(b.reserve(&kids(), amount(1), NOW).is_ok());
}

#[test]
fn a_failed_save_keeps_the_good_ledger_and_leaves_no_partial_copy() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let b = Budgets::new(Tz::utc(), vec![]);
    let r = b.reserve(&kids(), amount(5), NOW).unwrap();
    b.settle(r, amount(5), 0, NOW);
    let good = encode(&b.snapshot(), NOW);
    store.save(&good).unwrap();
    // The previous generation's name is taken by a directory: the step that moves the
    // current copy aside fails (works as root too, unlike a read-only directory).
    std::fs::create_dir_all(dir.path().join("ledger.json.1").join("x")).unwrap();
    let r = b.reserve(&kids(), amount(7), NOW).unwrap();
    b.settle(r, amount(7), 0, NOW);
    assert!(store.save(&encode(&b.snapshot(), NOW + 1)).is_err());
    assert_eq!(std::fs::read(store.path()).unwrap(), good, "untouched");
    assert!(
        !dir.path().join("ledger.json.tmp").exists(),
        "no partial copy left behind"
    );
    assert_eq!(store.load().ledger.unwrap().saved_at, NOW);
}
