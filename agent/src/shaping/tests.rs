//! Planner tests: tiers, the LLM class, per-device classes, caps, throttling, leaf fallback,
//! and the HTB invariants on every plan.

use super::*;

fn cfg(src: &str) -> Config {
    let doc = crate::uci::Document::parse("hearth", src).unwrap();
    crate::config::from_package(doc.package(), "t".as_ref()).unwrap()
}

const CAKE: Capabilities = Capabilities {
    cake: true,
    fq_codel: true,
    fw: true,
};

fn inputs(caps: Capabilities) -> PlanInputs {
    PlanInputs {
        caps,
        ..Default::default()
    }
}

fn link<'a>(p: &'a ShapingPlan, dev: &str) -> &'a LinkPlan {
    p.links
        .iter()
        .find(|l| l.device == dev)
        .unwrap_or_else(|| panic!("no link {dev}: {p:#?}"))
}

fn by_role<'a>(l: &'a LinkPlan, role: &ClassRole) -> &'a ClassPlan {
    l.classes
        .iter()
        .find(|c| c.role == *role)
        .unwrap_or_else(|| panic!("no {role:?} on {}", l.device))
}

#[test]
fn wan_gets_tiers_on_egress_and_an_ifb_for_ingress() {
    let c = cfg(
        "config shaper wan\n option device eth1\n option upload 20000\n option download 100000\n",
    );
    let p = plan(&c, &inputs(CAKE)).unwrap();
    p.check().unwrap();
    let eth1 = link(&p, "eth1");
    assert_eq!(eth1.direction, Direction::Upload);
    assert_eq!(eth1.redirect_ingress_to.as_deref(), Some("ifb4eth1"));
    assert_eq!(by_role(eth1, &ClassRole::Root).rate, 20_000 * 1000 / 8);
    let ifb = link(&p, "ifb4eth1");
    assert_eq!(ifb.ifb_of.as_deref(), Some("eth1"));
    assert_eq!(by_role(ifb, &ClassRole::Root).ceil, 100_000 * 1000 / 8);
    for t in [TierKind::High, TierKind::Normal, TierKind::Bulk] {
        let c = by_role(eth1, &ClassRole::Tier(t));
        assert_eq!(c.ceil, 2_500_000, "every tier may borrow the whole link");
        assert_eq!(c.leaf, Some(LeafQdisc::Cake { overhead: 0 }));
    }
    assert_eq!(
        eth1.default_class,
        by_role(eth1, &ClassRole::Tier(TierKind::Normal)).classid
    );
    // DSCP EF goes high, CS1 bulk, for IPv4 and IPv6.
    let high = by_role(eth1, &ClassRole::Tier(TierKind::High)).classid;
    assert!(eth1.filters.iter().any(|f| f.matches
        == Match::Dscp {
            ipv6: true,
            dscp: 46
        }
        && f.classid == high));
    assert_eq!(p.leaf, Some(LeafQdisc::Cake { overhead: 0 }));
}

#[test]
fn llm_class_is_capped_at_its_share_and_matched_by_mark() {
    let c = cfg(
        "config shaper wan\n option device eth1\n option upload 20000\n option llm_share 25\n\
                 config balancer b\n list listen 127.0.0.1:8080\n option fwmark 0x4c000000\n\
                 config endpoint e\n option url http://127.0.0.1:1/v1\n",
    );
    let p = plan(&c, &inputs(CAKE)).unwrap();
    p.check().unwrap();
    let eth1 = link(&p, "eth1");
    let llm = by_role(eth1, &ClassRole::Llm);
    assert_eq!(llm.ceil, 2_500_000 / 4);
    assert!(llm.rate <= llm.ceil);
    assert!(eth1.filters.iter().any(|f| f.matches
        == Match::Mark {
            value: 0x4c00_0000,
            mask: u32::MAX
        }
        && f.classid == llm.classid));
    // Without the fw classifier there is no LLM class (nothing could steer traffic into it).
    let nofw = plan(&c, &inputs(Capabilities { fw: false, ..CAKE })).unwrap();
    assert!(link(&nofw, "eth1")
        .classes
        .iter()
        .all(|c| c.role != ClassRole::Llm));
    // No download: no IFB.
    assert!(p.links.iter().all(|l| l.device != "ifb4eth1"));
}

#[test]
fn devices_get_classes_under_their_group_with_caps() {
    let c = cfg("config shaper wan\n option device eth1\n option lan_device br-lan\n option download 100000\n option upload 20000\n\
                 config group kids\n option rate_down 30000\n\
                 config device tab\n option mac 02:00:00:00:00:01\n list ip 10.0.0.5\n list ip fd00::5\n option group kids\n option rate_down 5000\n\
                 config device phone\n option mac 02:00:00:00:00:02\n list ip 10.0.0.6\n option group kids\n\
                 config device tv\n option mac 02:00:00:00:00:03\n list ip 10.0.0.7\n option priority bulk\n");
    let p = plan(&c, &inputs(CAKE)).unwrap();
    p.check().unwrap();
    let lan = link(&p, "br-lan");
    assert_eq!(lan.direction, Direction::Download);
    let kids = by_role(lan, &ClassRole::Group("kids".into()));
    assert_eq!(kids.ceil, 30_000 * 1000 / 8);
    assert_eq!(kids.leaf, None, "kids has a member with its own class");
    let tab = by_role(lan, &ClassRole::Device("tab".into()));
    assert_eq!(tab.parent, kids.classid);
    assert_eq!(tab.ceil, 5_000 * 1000 / 8);
    // phone has no own needs: it is counted in the group's catch-all child.
    let rest = by_role(lan, &ClassRole::Group("kids:rest".into()));
    assert_eq!(rest.parent, kids.classid);
    let dst = |ip: &str| {
        lan.filters.iter().find(|f| matches!(&f.matches, Match::Addr { addr, source: false, .. } if *addr == ip.parse::<IpAddr>().unwrap())).unwrap().classid
    };
    assert_eq!(dst("10.0.0.5"), tab.classid);
    assert_eq!(dst("fd00::5"), tab.classid);
    assert_eq!(dst("10.0.0.6"), rest.classid);
    // tv: bulk priority gives it a class in the default group.
    let tv = by_role(lan, &ClassRole::Device("tv".into()));
    assert_eq!(tv.prio, 3);
    assert_eq!(dst("10.0.0.7"), tv.classid);
    // Uploads: the LAN IFB, classified by source address, capped by rate_up (none here).
    let up = link(&p, "ifb4br-lan");
    assert_eq!(up.direction, Direction::Upload);
    assert!(up
        .filters
        .iter()
        .all(|f| matches!(f.matches, Match::Addr { source: true, .. })));
    assert_eq!(
        link(&p, "br-lan").redirect_ingress_to.as_deref(),
        Some("ifb4br-lan")
    );
}

#[test]
fn throttled_devices_drop_to_data_throttle_and_learned_addresses_count() {
    let c = cfg("config shaper wan\n option device eth1\n option lan_device br-lan\n option download 100000\n\
                 config group kids\n option data_month 50\n option data_throttle 1000\n\
                 config device tab\n option mac 02:00:00:00:00:01\n option group kids\n");
    let mut inp = inputs(CAKE);
    inp.throttled.insert("tab".into());
    inp.learned
        .insert("tab".into(), vec!["10.0.0.9".parse().unwrap()]);
    let p = plan(&c, &inp).unwrap();
    p.check().unwrap();
    let lan = link(&p, "br-lan");
    let tab = by_role(lan, &ClassRole::Device("tab".into()));
    assert_eq!(tab.ceil, 1000 * 1000 / 8);
    assert!(lan.filters.iter().any(|f| f.classid == tab.classid));
    let again = plan(&c, &inputs(CAKE)).unwrap();
    let tab2 = by_role(link(&again, "br-lan"), &ClassRole::Device("tab".into()));
    assert_eq!(tab2.classid, tab.classid, "throttling keeps the class id");
    assert_eq!(tab2.ceil, 100_000 * 1000 / 8);
}

#[test]
fn leaf_falls_back_and_explicit_choices_fail_clearly() {
    let src = |leaf: &str| {
        format!("config shaper wan\n option device eth1\n option upload 1000\n option leaf {leaf}\n option overhead 44\n")
    };
    let none = Capabilities::default();
    let fq = Capabilities {
        cake: false,
        fq_codel: true,
        fw: true,
    };
    assert_eq!(
        plan(&cfg(&src("auto")), &inputs(CAKE)).unwrap().leaf,
        Some(LeafQdisc::Cake { overhead: 44 })
    );
    assert_eq!(
        plan(&cfg(&src("auto")), &inputs(fq)).unwrap().leaf,
        Some(LeafQdisc::FqCodel)
    );
    assert_eq!(
        plan(&cfg(&src("auto")), &inputs(none)).unwrap().leaf,
        Some(LeafQdisc::Pfifo { limit: PFIFO_LIMIT })
    );
    let e = plan(&cfg(&src("cake")), &inputs(fq)).unwrap_err();
    assert_eq!(e.to_string(), "shaper 'wan': leaf 'cake' was asked for but this kernel has no cake qdisc (use leaf 'auto' to fall back)");
    assert!(plan(&cfg(&src("fq_codel")), &inputs(none)).is_err());
    assert!(plan(&cfg(&src("pfifo")), &inputs(none)).is_ok());
}

#[test]
fn quantum_and_burst_scale_with_rate() {
    assert_eq!(quantum_for(1000), MTU);
    assert_eq!(quantum_for(1_250_000), 125_000);
    assert_eq!(quantum_for(125_000_000), MAX_QUANTUM);
    assert_eq!(burst_for(1000), MAX_GSO_BYTES);
    assert_eq!(burst_for(12_500_000), MAX_GSO_BYTES);
    assert_eq!(burst_for(125_000_000), 125_000);
    assert_eq!(ifb_name("a-very-long-name0"), "ifb4a-very-long");
}

#[test]
fn plans_keep_htb_invariants_for_the_example_configs() {
    for name in ["minimal", "family", "vpn", "demo"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../configs")
            .join(name);
        let c = crate::config::load(&path).unwrap();
        for caps in [CAKE, Capabilities::default()] {
            let p = plan(&c, &inputs(caps)).unwrap();
            p.check().unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn nothing_to_shape_gives_an_empty_plan() {
    let p = plan(
        &cfg("config shaper wan\n option device eth1\n"),
        &inputs(CAKE),
    )
    .unwrap();
    assert!(p.links.is_empty(), "{p:#?}");
}

mod property {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Random households: every plan keeps the HTB invariants, and every device address
        /// is classified on both LAN directions.
        #[test]
        fn random_households_keep_htb_invariants(
            down in 0u64..2_000_000, up in 0u64..500_000, share in 0u8..=100,
            groups in proptest::collection::vec((0u64..300_000, 0u64..300_000, 0u8..3), 0..5),
            devices in proptest::collection::vec((0usize..6, 0u64..200_000, 0u64..50_000, 0u8..4, any::<bool>(), 0u32..100), 0..12),
        ) {
            let prio = ["high", "normal", "bulk"];
            let mut src = format!("config shaper wan\n option device eth1\n option lan_device br-lan\n option download {down}\n option upload {up}\n option llm_share {share}\n\
                config balancer b\n list listen 127.0.0.1:8080\nconfig endpoint e\n option url http://127.0.0.1:1/v1\n");
            for (i, (gd, gu, gp)) in groups.iter().enumerate() {
                src.push_str(&format!("config group g{i}\n option rate_down {gd}\n option rate_up {gu}\n option priority {}\n", prio[*gp as usize]));
            }
            let mut inp = inputs(CAKE);
            for (i, (g, dd, du, dp, budget, _)) in devices.iter().enumerate() {
                let group = if groups.is_empty() || *g >= groups.len() { "default".to_string() } else { format!("g{g}") };
                src.push_str(&format!("config device d{i}\n option mac 02:00:00:00:01:{i:02x}\n list ip 10.9.0.{}\n option group {group}\n", i + 2));
                if *dd > 0 { src.push_str(&format!(" option rate_down {dd}\n")); }
                if *du > 0 { src.push_str(&format!(" option rate_up {du}\n")); }
                if *dp < 3 { src.push_str(&format!(" option priority {}\n", prio[*dp as usize])); }
                if *budget { src.push_str(" option data_month 10\n"); }
            }
            for (i, d) in devices.iter().enumerate() {
                if d.5 < 20 { inp.throttled.insert(format!("d{i}")); }
            }
            let c = cfg(&src);
            let p = plan(&c, &inp).unwrap();
            prop_assert!(p.check().is_ok(), "{:?}\n{src}", p.check());
            for l in p.links.iter().filter(|l| l.device == "br-lan" || l.device == "ifb4br-lan") {
                for i in 0..devices.len() {
                    let ip: IpAddr = format!("10.9.0.{}", i + 2).parse().unwrap();
                    prop_assert!(l.filters.iter().any(|f| matches!(&f.matches, Match::Addr { addr, .. } if *addr == ip)), "d{i} unclassified on {}", l.device);
                }
            }
        }
    }
}
