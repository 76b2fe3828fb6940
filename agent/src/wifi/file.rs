//! The snapshot file: JSON, versioned (`"schema": "hearth.wifi.snapshot", "version": 1`),
//! written by `hearth plan --collect N --out FILE` and read by `hearth plan --snapshot FILE`.
//! The schema is documented in docs/planner.md ("Live radio data"); absent optional values
//! are left out. A bad field is named by its JSON path (`stations[2].signal_dbm: ...`).
//!
//! Output is deterministic (keys sorted, lists in the snapshot's order), so the same
//! snapshot gives the same bytes; numbers are written as they are (the snapshot holds them
//! already rounded where it computed them), so what was read writes back unchanged.

use serde_json::{json, Map, Value};

use crate::planner::{Band, Clients};

use super::nl80211::{Mode, Rate};
use super::snapshot::{Census, Channel, Iface, Method, Radio, RadioBand, Snapshot, StationSample};

/// The `schema` value of a snapshot file.
pub const SCHEMA: &str = "hearth.wifi.snapshot";
/// The version this build writes and reads.
pub const VERSION: u64 = 1;

/// Puts `key` only when there is a value.
fn put<T: Into<Value>>(m: &mut Map<String, Value>, key: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(key.to_string(), v.into());
    }
}

fn rate_json(r: &Rate) -> Value {
    let mut m = Map::new();
    m.insert("mbps".into(), r.mbps.into());
    m.insert("mode".into(), r.mode.label().into());
    put(&mut m, "mcs", r.mcs);
    put(&mut m, "nss", r.nss);
    m.insert("width_mhz".into(), r.width_mhz.into());
    put(&mut m, "gi_us", r.gi_us);
    Value::Object(m)
}

fn clients_json(c: &Clients) -> Value {
    json!({"total": c.total, "wifi4": c.wifi4, "wifi5": c.wifi5, "wifi6": c.wifi6, "wifi6e": c.wifi6e, "wifi7": c.wifi7})
}

/// The snapshot as JSON.
pub fn to_json(s: &Snapshot) -> Value {
    let radios: Vec<Value> = s
        .radios
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "standard": r.standard().label(),
                "bands": r.bands.iter().map(|b| json!({
                    "band": b.band.label(), "channels": b.channels,
                    "ht": b.ht, "vht": b.vht, "he": b.he, "eht": b.eht,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let interfaces: Vec<Value> = s
        .interfaces
        .iter()
        .map(|i| {
            let mut m = Map::new();
            m.insert("name".into(), i.name.clone().into());
            m.insert("radio".into(), i.radio.clone().into());
            m.insert("kind".into(), i.kind.clone().into());
            put(&mut m, "ssid", i.ssid.clone());
            put(&mut m, "freq_mhz", i.freq_mhz);
            put(&mut m, "width_mhz", i.width_mhz);
            Value::Object(m)
        })
        .collect();
    let stations: Vec<Value> = s
        .stations
        .iter()
        .map(|st| {
            let mut m = Map::new();
            m.insert("interface".into(), st.interface.clone().into());
            m.insert("mac".into(), st.mac.clone().into());
            put(&mut m, "band", st.band.map(Band::label));
            put(&mut m, "signal_dbm", st.signal_dbm);
            put(&mut m, "signal_avg_dbm", st.signal_avg_dbm);
            put(&mut m, "inactive_ms", st.inactive_ms);
            put(&mut m, "connected_s", st.connected_s);
            put(&mut m, "expected_mbps", st.expected_mbps);
            put(&mut m, "tx", st.tx.as_ref().map(rate_json));
            put(&mut m, "rx", st.rx.as_ref().map(rate_json));
            m.insert("generation".into(), st.generation().label().into());
            Value::Object(m)
        })
        .collect();
    let channels: Vec<Value> = s
        .channels
        .iter()
        .map(|c| {
            let mut m = Map::new();
            m.insert("radio".into(), c.radio.clone().into());
            m.insert("freq_mhz".into(), c.freq_mhz.into());
            put(
                &mut m,
                "band",
                super::snapshot::band_of(c.freq_mhz).map(Band::label),
            );
            m.insert("operating".into(), c.operating.into());
            put(&mut m, "noise_dbm", c.noise_dbm);
            put(&mut m, "active_ms", c.active_ms);
            put(&mut m, "busy_ms", c.busy_ms);
            put(&mut m, "rx_ms", c.rx_ms);
            put(&mut m, "tx_ms", c.tx_ms);
            put(&mut m, "utilization", c.utilization);
            put(&mut m, "method", c.method.map(Method::label));
            Value::Object(m)
        })
        .collect();
    let busy: Map<String, Value> = Band::ALL
        .iter()
        .filter_map(|b| s.channel_busy[b.index()].map(|v| (b.label().to_string(), v.into())))
        .collect();
    let c = &s.census;
    json!({
        "schema": SCHEMA,
        "version": VERSION,
        "collected_at": s.collected_at,
        "duration_s": s.duration_s,
        "radios": radios,
        "interfaces": interfaces,
        "stations": stations,
        "channels": channels,
        "channel_busy": busy,
        "census": {
            "stations": c.stations,
            "by_mode": {"legacy": c.legacy, "ht": c.ht, "vht": c.vht, "he": c.he, "eht": c.eht},
            "six_ghz": c.six_ghz,
            "clients": clients_json(&c.clients),
        },
        "notes": s.notes,
    })
}

// === reading ===

/// A bad snapshot field: its JSON path and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {path}: {message}")]
pub struct SnapshotError {
    /// The file as the user named it.
    pub file: String,
    /// `stations[2].signal_dbm`, or empty for the whole file.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

type Res<T> = Result<T, (String, String)>;

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Field access that names the path of what it reads.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    fn of(v: &'a Value, path: &str) -> Res<Obj<'a>> {
        match v.as_object() {
            Some(map) => Ok(Obj {
                map,
                path: path.to_string(),
            }),
            None => Err((
                path.to_string(),
                format!("expected an object, got {}", kind(v)),
            )),
        }
    }

    fn at(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn num(&self, key: &str) -> Res<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| (self.at(key), format!("expected a number, got {}", kind(v)))),
        }
    }

    /// A whole number in `lo..=hi`.
    fn int(&self, key: &str, lo: i64, hi: i64) -> Res<Option<i64>> {
        match self.num(key)? {
            None => Ok(None),
            Some(f) if f.fract() == 0.0 && f >= lo as f64 && f <= hi as f64 => Ok(Some(f as i64)),
            Some(f) => Err((
                self.at(key),
                format!("expected a whole number from {lo} to {hi}, got {f}"),
            )),
        }
    }

    fn uint<T: TryFrom<i64>>(&self, key: &str, hi: i64) -> Res<Option<T>> {
        Ok(self.int(key, 0, hi)?.and_then(|v| T::try_from(v).ok()))
    }

    fn req_uint<T: TryFrom<i64>>(&self, key: &str, hi: i64) -> Res<T> {
        self.uint(key, hi)?.ok_or_else(|| self.missing(key))
    }

    fn missing(&self, key: &str) -> (String, String) {
        (self.at(key), "is required but missing".to_string())
    }

    /// A number in `lo..=hi` (a fraction, a rate).
    fn range(&self, key: &str, lo: f64, hi: f64, unit: &str) -> Res<Option<f64>> {
        match self.num(key)? {
            Some(f) if !(lo..=hi).contains(&f) => Err((
                self.at(key),
                format!("expected {unit} from {lo} to {hi}, got {f}"),
            )),
            v => Ok(v),
        }
    }

    fn text(&self, key: &str) -> Res<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err((self.at(key), format!("expected a string, got {}", kind(v)))),
        }
    }

    fn req_text(&self, key: &str) -> Res<&'a str> {
        self.text(key)?.ok_or_else(|| self.missing(key))
    }

    fn flag(&self, key: &str) -> Res<bool> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err((
                self.at(key),
                format!("expected true or false, got {}", kind(v)),
            )),
        }
    }

    fn band(&self, key: &str) -> Res<Option<Band>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => {
                let raw = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => String::new(),
                };
                Band::parse(&raw).map(Some).ok_or_else(|| {
                    (
                        self.at(key),
                        format!("expected a band \"2.4\", \"5\" or \"6\", got {v}"),
                    )
                })
            }
        }
    }

    /// The array at `key` (missing = empty), each element with its path.
    fn list(&self, key: &str) -> Res<Vec<(String, &'a Value)>> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => Ok(a
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{}[{i}]", self.at(key)), v))
                .collect()),
            Some(v) => Err((self.at(key), format!("expected an array, got {}", kind(v)))),
        }
    }

    fn obj(&self, key: &str) -> Res<Option<Obj<'a>>> {
        self.get(key).map(|v| Obj::of(v, &self.at(key))).transpose()
    }
}

/// dBm as a snapshot stores it (an s8 from the kernel; above 0 dBm is not a received level).
fn dbm(o: &Obj, key: &str) -> Res<Option<i8>> {
    Ok(o.int(key, -128, 0)?.map(|v| v as i8))
}

fn read_rate(o: &Obj) -> Res<Rate> {
    let mode = o.req_text("mode")?;
    Ok(Rate {
        mbps: o
            .range("mbps", 0.0, 1.0e6, "Mbit/s")?
            .ok_or_else(|| o.missing("mbps"))?,
        mode: Mode::parse(mode).ok_or_else(|| {
            (
                o.at("mode"),
                format!("expected one of legacy, ht, vht, he, eht, got \"{mode}\""),
            )
        })?,
        mcs: o.uint("mcs", 255)?,
        nss: o.uint("nss", 16)?,
        width_mhz: o.uint("width_mhz", 320)?.unwrap_or(20),
        gi_us: o.range("gi_us", 0.0, 10.0, "microseconds")?,
    })
}

fn read_radio(o: &Obj) -> Res<Radio> {
    let mut bands = Vec::new();
    for (path, v) in o.list("bands")? {
        let b = Obj::of(v, &path)?;
        bands.push(RadioBand {
            band: b.band("band")?.ok_or_else(|| b.missing("band"))?,
            channels: b.uint("channels", 1000)?.unwrap_or(0),
            ht: b.flag("ht")?,
            vht: b.flag("vht")?,
            he: b.flag("he")?,
            eht: b.flag("eht")?,
        });
    }
    Ok(Radio {
        name: o.req_text("name")?.to_string(),
        bands,
    })
}

fn read_station(o: &Obj) -> Res<StationSample> {
    let rate = |key: &str| -> Res<Option<Rate>> { o.obj(key)?.map(|r| read_rate(&r)).transpose() };
    Ok(StationSample {
        interface: o.req_text("interface")?.to_string(),
        mac: o.req_text("mac")?.to_string(),
        band: o.band("band")?,
        signal_dbm: dbm(o, "signal_dbm")?,
        signal_avg_dbm: dbm(o, "signal_avg_dbm")?,
        inactive_ms: o.uint("inactive_ms", u32::MAX.into())?,
        connected_s: o.uint("connected_s", u32::MAX.into())?,
        expected_mbps: o.range("expected_mbps", 0.0, 1.0e6, "Mbit/s")?,
        tx: rate("tx")?,
        rx: rate("rx")?,
    })
}

fn read_channel(o: &Obj) -> Res<Channel> {
    let ms = |key: &str| o.uint::<u64>(key, i64::MAX);
    let method = match o.text("method")? {
        None => None,
        Some(m) => Some(Method::parse(m).ok_or_else(|| {
            (
                o.at("method"),
                format!("expected \"delta\" or \"cumulative\", got \"{m}\""),
            )
        })?),
    };
    Ok(Channel {
        radio: o.req_text("radio")?.to_string(),
        freq_mhz: o.req_uint("freq_mhz", 100_000)?,
        operating: o.flag("operating")?,
        noise_dbm: dbm(o, "noise_dbm")?,
        active_ms: ms("active_ms")?,
        busy_ms: ms("busy_ms")?,
        rx_ms: ms("rx_ms")?,
        tx_ms: ms("tx_ms")?,
        utilization: o.range("utilization", 0.0, 1.0, "a fraction")?,
        method,
    })
}

fn read_census(o: &Obj) -> Res<Census> {
    let n = |o: &Obj, key: &str| -> Res<u32> { Ok(o.uint(key, u32::MAX.into())?.unwrap_or(0)) };
    let mut c = Census {
        stations: n(o, "stations")?,
        six_ghz: n(o, "six_ghz")?,
        ..Default::default()
    };
    if let Some(m) = o.obj("by_mode")? {
        c.legacy = n(&m, "legacy")?;
        c.ht = n(&m, "ht")?;
        c.vht = n(&m, "vht")?;
        c.he = n(&m, "he")?;
        c.eht = n(&m, "eht")?;
    }
    if let Some(k) = o.obj("clients")? {
        let cl = &mut c.clients;
        cl.wifi4 = n(&k, "wifi4")?;
        cl.wifi5 = n(&k, "wifi5")?;
        cl.wifi6 = n(&k, "wifi6")?;
        cl.wifi6e = n(&k, "wifi6e")?;
        cl.wifi7 = n(&k, "wifi7")?;
        let sum = cl.wifi4 + cl.wifi5 + cl.wifi6 + cl.wifi6e + cl.wifi7;
        cl.total = k.uint("total", u32::MAX.into())?.unwrap_or(sum);
        if cl.total < sum {
            return Err((
                k.at("total"),
                format!("is {} but the generations add up to {sum}", cl.total),
            ));
        }
    }
    Ok(c)
}

fn read_value(root: &Value) -> Res<Snapshot> {
    let top = Obj::of(root, "")?;
    match top.text("schema")? {
        Some(SCHEMA) => {}
        Some(other) => {
            return Err((
                "schema".into(),
                format!("is \"{other}\", not a hearth Wi-Fi snapshot (\"{SCHEMA}\")"),
            ))
        }
        None => return Err(top.missing("schema")),
    }
    let version: u64 = top.req_uint("version", i64::MAX)?;
    if version != VERSION {
        return Err((
            "version".into(),
            format!("is {version}; this hearth reads version {VERSION} (collect again with this hearth)"),
        ));
    }
    let mut s = Snapshot {
        collected_at: top.uint("collected_at", i64::MAX)?.unwrap_or(0),
        duration_s: top
            .range("duration_s", 0.0, 1.0e6, "seconds")?
            .unwrap_or(0.0),
        radios: Vec::new(),
        interfaces: Vec::new(),
        stations: Vec::new(),
        channels: Vec::new(),
        channel_busy: [None; 3],
        census: Census::default(),
        notes: Vec::new(),
    };
    for (path, v) in top.list("radios")? {
        s.radios.push(read_radio(&Obj::of(v, &path)?)?);
    }
    for (path, v) in top.list("interfaces")? {
        let o = Obj::of(v, &path)?;
        s.interfaces.push(Iface {
            name: o.req_text("name")?.to_string(),
            radio: o.text("radio")?.unwrap_or_default().to_string(),
            kind: o.text("kind")?.unwrap_or("other").to_string(),
            ssid: o.text("ssid")?.map(str::to_string),
            freq_mhz: o.uint("freq_mhz", 100_000)?,
            width_mhz: o.uint("width_mhz", 320)?,
        });
    }
    for (path, v) in top.list("stations")? {
        s.stations.push(read_station(&Obj::of(v, &path)?)?);
    }
    for (path, v) in top.list("channels")? {
        s.channels.push(read_channel(&Obj::of(v, &path)?)?);
    }
    if let Some(b) = top.obj("channel_busy")? {
        for key in b.map.keys() {
            let band = Band::parse(key).ok_or_else(|| {
                (
                    b.at(key),
                    "expected a band \"2.4\", \"5\" or \"6\" as the key".to_string(),
                )
            })?;
            s.channel_busy[band.index()] = b.range(key, 0.0, 1.0, "a fraction")?;
        }
    }
    if let Some(c) = top.obj("census")? {
        s.census = read_census(&c)?;
    }
    for (path, v) in top.list("notes")? {
        match v {
            Value::String(n) => s.notes.push(n.clone()),
            other => return Err((path, format!("expected a string, got {}", kind(other)))),
        }
    }
    Ok(s)
}

/// Reads a snapshot file's text; `file` names it in errors.
pub fn read(text: &str, file: &str) -> Result<Snapshot, SnapshotError> {
    let err = |path: String, message: String| SnapshotError {
        file: file.to_string(),
        path,
        message,
    };
    let v: Value = serde_json::from_str(text)
        .map_err(|e| err(format!("line {}", e.line()), format!("not valid JSON: {e}")))?;
    read_value(&v).map_err(|(p, m)| {
        let p = if p.is_empty() { "top level".into() } else { p };
        err(p, m)
    })
}
