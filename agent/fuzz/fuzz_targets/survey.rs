//! Any text as a survey file, CSV and JSON: the readers never panic; whatever they accept
//! has only points inside the home.
#![no_main]

use hearth::planner::survey::{Ap, Band, Home, Pos, ReadOptions, Standard};
use hearth::planner::{csv, json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for skip_bad in [false, true] {
        let opts = ReadOptions {
            skip_bad,
            ..ReadOptions::default()
        };
        let home = Home {
            width: 14.0,
            height: 10.0,
            floors: 2,
            wan_mbps: None,
        };
        let aps = vec![Ap {
            id: "main".into(),
            pos: Pos {
                x: 2.0,
                y: 3.0,
                floor: 0,
            },
            standard: Standard::Wifi5,
            bands: vec![Band::B2g4, Band::B5g],
        }];
        let _ = csv::read(text, "fuzz.csv", home, aps, &opts);
        let _ = json::read(text, "fuzz.json", &opts);
    }
});
