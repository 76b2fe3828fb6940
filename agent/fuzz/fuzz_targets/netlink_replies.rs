//! Any bytes as a kernel reply: every netlink decoder (tc qdiscs, classes, filters; FIB
//! rules and routes; WireGuard devices; nl80211 wiphys, interfaces, stations and survey
//! entries; the reply splitter) returns a value or an error, never a panic.
#![no_main]

use hearth::netlink::fib::{Route, Rule};
use hearth::netlink::tc::{reply, DumpedClass, DumpedFilter, DumpedQdisc};
use hearth::netlink::wireguard;
use hearth::wifi::nl80211;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = Vec::new();
    for m in reply::messages(data) {
        let Ok(m) = m else { break };
        let _ = reply::control(m);
        let _ = DumpedQdisc::decode(m);
        let _ = DumpedClass::decode(m);
        let _ = DumpedFilter::decode(m);
        let _ = Rule::decode(m);
        let _ = Route::decode(m);
        let _ = wireguard::family_id(m);
        let _ = wireguard::decode_device(&[m.to_vec()]);
        let _ = nl80211::decode_station(m);
        let _ = nl80211::decode_survey(m);
        let _ = nl80211::decode_interface(m);
        parts.push(m.to_vec());
    }
    // A split wiphy dump is read as a whole (parts merge by radio and band).
    let _ = nl80211::decode_wiphys(&parts);
    let _ = DumpedQdisc::decode(data);
    let _ = Rule::decode(data);
    let _ = Route::decode(data);
});
