//! Any text as a survey file, CSV and JSON, and as a live radio snapshot: the readers never
//! panic; whatever they accept has only points inside the home; an accepted snapshot merges
//! into a survey without panicking.
#![no_main]

use hearth::planner::survey::{Ap, Band, Home, Pos, ReadOptions, Standard};
use hearth::planner::{csv, json, live};
use hearth::wifi::file as snapshot;
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
        if let Ok(mut read) = json::read(text, "fuzz.json", &opts) {
            // The same text as a snapshot too rarely parses; the example's shape is seeded.
            if let Ok(snap) = snapshot::read(text, "fuzz.json") {
                live::apply(&mut read.survey, &snap, "fuzz.json", -67.0);
            }
        }
    }
    if let Ok(snap) = snapshot::read(text, "fuzz-snapshot.json") {
        let mut survey = json::read(
            r#"{"home": {"width": 8, "height": 6, "floors": 1},
                "aps": [{"id": "main", "x": 1, "y": 1, "floor": 0}],
                "points": [{"room": "Hall", "floor": 0, "x": 2, "y": 2, "band": "5", "ap": "main", "rssi": -50}]}"#,
            "seed.json",
            &ReadOptions::default(),
        )
        .expect("the fixed survey reads")
        .survey;
        live::apply(&mut survey, &snap, "fuzz-snapshot.json", -67.0);
        // What was read writes back and reads again as the same snapshot.
        let again = snapshot::to_json(&snap).to_string();
        assert_eq!(snapshot::read(&again, "again.json").ok(), Some(snap));
    }
});
