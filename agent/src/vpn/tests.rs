//! VPN planner: tables, routes, kill switch, rules for devices and marks, IPv4/IPv6,
//! point-to-point vs gateway links, several VPNs, devices moving between groups.

use std::collections::BTreeMap;

use super::*;

fn cfg(src: &str) -> Config {
    let doc = crate::uci::Document::parse("hearth", src).unwrap();
    crate::config::from_package(doc.package(), "t".as_ref()).unwrap()
}

const TWO_VPNS: &str = "
config vpn 'wg0'
	option interface 'wg0'
	option table '100'
	option fwmark '0x100'
	option rule_priority '10000'
config vpn 'office'
	option interface 'tun0'
	option gateway '10.66.0.1'
	option table '200'
	option fwmark '0x200/0xff00'
	option rule_priority '20000'
	option kill_switch '0'
config group 'kids'
	option vpn 'wg0'
config device 'tablet'
	option mac '02:00:00:00:00:01'
	list ip '192.168.1.50'
	list ip 'fd00:1::50'
	option group 'kids'
config device 'laptop'
	option mac '02:00:00:00:00:02'
	list ip '192.168.1.60'
	option vpn 'office'
config device 'tv'
	option mac '02:00:00:00:00:03'
	list ip '192.168.1.70'
";

fn show(p: &VpnPlan) -> Vec<String> {
    p.rules.iter().map(Rule::describe).collect()
}

#[test]
fn a_point_to_point_vpn_gets_dev_routes_a_kill_switch_and_rules_for_its_devices() {
    let p = plan(&cfg(TWO_VPNS), &BTreeMap::new());
    let wg = &p.tables[0];
    assert_eq!(
        (wg.vpn.as_str(), wg.table, wg.interface.as_str()),
        ("wg0", 100, "wg0")
    );
    assert_eq!(
        wg.routes,
        [
            PlannedRoute::Link {
                family: AF_INET,
                interface: "wg0".into(),
                gateway: None
            },
            PlannedRoute::KillSwitch { family: AF_INET },
            PlannedRoute::Link {
                family: AF_INET6,
                interface: "wg0".into(),
                gateway: None
            },
            PlannedRoute::KillSwitch { family: AF_INET6 },
        ]
    );
    assert_eq!(wg.devices, ["tablet"]);
    assert_eq!(
        show(&p),
        [
            "rule priority 9999 lookup main suppress_prefixlength 0",
            "-6 rule priority 9999 lookup main suppress_prefixlength 0",
            "rule priority 10000 fwmark 0x100/0xffffffff lookup 100",
            "rule priority 10000 from 192.168.1.50/32 lookup 100",
            "-6 rule priority 10000 fwmark 0x100/0xffffffff lookup 100",
            "-6 rule priority 10000 from fd00:1::50/128 lookup 100",
            "rule priority 20000 fwmark 0x200/0xff00 lookup 200",
            "rule priority 20000 from 192.168.1.60/32 lookup 200",
            "-6 rule priority 20000 fwmark 0x200/0xff00 lookup 200",
        ]
    );
    assert!(p.rules.iter().all(|r| r.protocol == Some(PROTOCOL)));
    // The tv is in no VPN: no rule mentions it.
    assert!(!show(&p).iter().any(|r| r.contains("192.168.1.70")));
}

#[test]
fn a_gateway_vpn_routes_via_it_and_an_ipv4_gateway_gives_no_ipv6_route() {
    let p = plan(&cfg(TWO_VPNS), &BTreeMap::new());
    let office = &p.tables[1];
    assert_eq!(
        office.routes,
        [PlannedRoute::Link {
            family: AF_INET,
            interface: "tun0".into(),
            gateway: Some("10.66.0.1".parse().unwrap())
        }],
        "kill switch off; IPv6 cannot use an IPv4 gateway"
    );
}

#[test]
fn learned_addresses_join_and_devices_follow_their_group() {
    let mut learned = BTreeMap::new();
    learned.insert("tablet".to_string(), vec!["192.168.1.51".parse().unwrap()]);
    learned.insert("tv".to_string(), vec!["192.168.1.71".parse().unwrap()]);
    let p = plan(&cfg(TWO_VPNS), &learned);
    let rules = show(&p);
    assert!(rules.contains(&"rule priority 10000 from 192.168.1.51/32 lookup 100".to_string()));
    assert!(
        !rules.iter().any(|r| r.contains("192.168.1.71")),
        "tv is in no VPN"
    );
    // The tv moves to the kids: its addresses join wg0's rules, nothing else changes.
    let moved = TWO_VPNS.replace(
        "config device 'tv'\n\toption mac '02:00:00:00:00:03'\n",
        "config device 'tv'\n\toption mac '02:00:00:00:00:03'\n\toption group 'kids'\n",
    );
    let p2 = plan(&cfg(&moved), &learned);
    let added: Vec<String> = show(&p2)
        .into_iter()
        .filter(|r| !rules.contains(r))
        .collect();
    assert_eq!(
        added,
        [
            "rule priority 10000 from 192.168.1.70/32 lookup 100",
            "rule priority 10000 from 192.168.1.71/32 lookup 100",
        ]
    );
    assert_eq!(p2.tables[0].devices, ["tablet", "tv"]);
}

#[test]
fn no_vpn_no_policy() {
    let p = plan(&cfg("config group 'kids'\n"), &BTreeMap::new());
    assert!(p.tables.is_empty() && p.rules.is_empty());
}
