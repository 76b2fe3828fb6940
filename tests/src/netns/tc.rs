//! An observer of traffic control independent of hearth's netlink code: what iproute2 reports
//! in a namespace (`ip -j -d link`, `tc -j qdisc`, `tc -j filter`, and `tc -d class` as text,
//! because iproute2 6.1 prints HTB classes as text even with `-j`), normalised so that two
//! observations are equal exactly when the kernel state is: kernel-chosen u32 handles, action
//! indexes, reference counts and packet counters are left out.
//!
//! [`Observed::flat`] turns an observation into `object -> description` lines, so a test can
//! assert equality with a readable difference ([`difference`]), and [`Observed::check_plan`]
//! compares it with the plan `hearth apply --dry-run --json` prints.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Netns;

/// One link and its traffic control objects.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkTc {
    /// `info_kind` (`veth`, `bridge`, `ifb`; empty for loopback).
    pub kind: String,
    /// Administratively up.
    pub up: bool,
    /// The bridge it is a port of.
    pub master: Option<String>,
    pub qdiscs: Vec<QdiscTc>,
    pub classes: Vec<ClassTc>,
    /// Filters on the root qdisc (`attach` "root") and on ingress/clsact.
    pub filters: Vec<FilterTc>,
}

/// One qdisc.
#[derive(Debug, Clone, PartialEq)]
pub struct QdiscTc {
    pub kind: String,
    /// `1:`, `ffff:`, `0:` for a default root.
    pub handle: String,
    /// `root`, `ffff:fff1` (ingress/clsact) or the class it sits under (`1:10`).
    pub parent: String,
    /// tc's options without counters (`direct_packets_stat`).
    pub options: Value,
    /// The size table (`tc -d`: linklayer, overhead, mpu, mtu, tsize), `Null` if none.
    pub stab: Value,
}

/// One class, parsed from `tc -d class show` text.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassTc {
    pub kind: String,
    pub classid: String,
    /// `root` or the parent class id.
    pub parent: String,
    /// The leaf qdisc's handle (`10:`), for leaf classes.
    pub leaf: Option<String>,
    /// Every `key value` pair tc printed after the id, in order.
    pub fields: Vec<(String, String)>,
}

/// One entry of `tc -j filter show` (a classifier header, a u32 hash table, or a rule).
#[derive(Debug, Clone, PartialEq)]
pub struct FilterTc {
    /// `root`, `ingress` or `egress` (clsact).
    pub attach: String,
    pub pref: u64,
    pub protocol: String,
    pub kind: String,
    /// Normalised options (`Null` for a classifier header); u32 matches as an array `match`.
    pub options: Value,
}

/// Everything iproute2 shows in one namespace, by link name.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub links: BTreeMap<String, LinkTc>,
}

/// Bits per second from tc's rate text (`3Mbit`, `625Kbit`, `10Gbit`, `12bit`).
pub fn parse_rate(s: &str) -> Option<u64> {
    let n = s.strip_suffix("bit")?;
    let (num, mult) = match n.chars().last()? {
        'K' | 'k' => (&n[..n.len() - 1], 1_000u64),
        'M' | 'm' => (&n[..n.len() - 1], 1_000_000),
        'G' | 'g' => (&n[..n.len() - 1], 1_000_000_000),
        'T' | 't' => (&n[..n.len() - 1], 1_000_000_000_000),
        _ => (n, 1),
    };
    let v: f64 = num.parse().ok()?;
    Some((v * mult as f64).round() as u64)
}

impl ClassTc {
    /// Parses one `class htb 1:10 parent 1:1 leaf 10: prio 0 ... rate 3Mbit ...` line.
    pub fn parse(line: &str) -> Option<ClassTc> {
        let mut t = line.split_whitespace();
        if t.next()? != "class" {
            return None;
        }
        let kind = t.next()?.to_string();
        let classid = t.next()?.to_string();
        let mut c = ClassTc {
            kind,
            classid,
            parent: String::new(),
            leaf: None,
            fields: Vec::new(),
        };
        while let Some(k) = t.next() {
            match k {
                "root" => c.parent = "root".into(),
                "parent" => c.parent = t.next()?.to_string(),
                "leaf" => c.leaf = Some(t.next()?.to_string()),
                _ => {
                    let v = t.next().unwrap_or("").to_string();
                    c.fields.push((k.to_string(), v));
                }
            }
        }
        Some(c)
    }

    fn field(&self, k: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.as_str())
    }

    /// Guaranteed rate, bit/s.
    pub fn rate(&self) -> Option<u64> {
        self.field("rate").and_then(parse_rate)
    }

    /// Ceiling, bit/s.
    pub fn ceil(&self) -> Option<u64> {
        self.field("ceil").and_then(parse_rate)
    }

    /// HTB priority (tc prints it for leaf classes only).
    pub fn prio(&self) -> Option<u64> {
        self.field("prio").and_then(|p| p.parse().ok())
    }
}

impl FilterTc {
    /// A rule (matches something), not a classifier header or a u32 hash table.
    pub fn is_rule(&self) -> bool {
        self.options.is_object() && self.options.get("ht_divisor").is_none()
    }

    /// The class a rule sends packets to (u32 `flowid`, fw `classid`).
    pub fn class(&self) -> Option<&str> {
        self.options
            .get("flowid")
            .or_else(|| self.options.get("classid"))
            .and_then(Value::as_str)
    }

    /// u32 keys as (value, mask, offset).
    pub fn matches(&self) -> Vec<(u32, u32, i64)> {
        let hex = |v: &Value| {
            v.as_str()
                .and_then(|s| u32::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        };
        self.options
            .get("match")
            .and_then(Value::as_array)
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| Some((hex(&m["value"])?, hex(&m["mask"])?, m["off"].as_i64()?)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// For a mirred redirect rule: the device it sends packets to.
    pub fn redirect_to(&self) -> Option<&str> {
        self.options
            .get("actions")?
            .as_array()?
            .iter()
            .find(|a| a["kind"] == "mirred" && a["mirred_action"] == "redirect")?
            .get("to_dev")?
            .as_str()
    }

    fn describe(&self) -> String {
        format!(
            "{} pref {} {} {} {}",
            self.attach, self.pref, self.protocol, self.kind, self.options
        )
    }
}

impl LinkTc {
    pub fn class(&self, id: &str) -> Option<&ClassTc> {
        self.classes.iter().find(|c| c.classid == id)
    }

    pub fn qdisc(&self, parent: &str) -> Option<&QdiscTc> {
        self.qdiscs.iter().find(|q| q.parent == parent)
    }

    /// The ingress-side qdisc (`ingress` or `clsact`).
    pub fn ingress(&self) -> Option<&QdiscTc> {
        self.qdisc("ffff:fff1")
    }

    /// Rules attached at `attach` (`root`, `ingress`, `egress`).
    pub fn rules(&self, attach: &str) -> Vec<&FilterTc> {
        self.filters
            .iter()
            .filter(|f| f.attach == attach && f.is_rule())
            .collect()
    }
}

/// tc's u32 JSON repeats the key `match` once per key; number them so a JSON parser keeps all.
fn number_matches(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut n = 0;
    let mut rest = text;
    while let Some(i) = rest.find("\"match\":") {
        out.push_str(&rest[..i]);
        out.push_str(&format!("\"match#{n:04}\":"));
        n += 1;
        rest = &rest[i + "\"match\":".len()..];
    }
    out.push_str(rest);
    out
}

/// Drops what the kernel chooses or counts; collects numbered u32 matches into one array.
fn normalise_filter_options(kind: &str, opts: &Value) -> Value {
    let Some(map) = opts.as_object() else {
        return Value::Null;
    };
    let mut out = serde_json::Map::new();
    let mut matches = Vec::new();
    for (k, v) in map {
        match k.as_str() {
            "order" | "key_ht" | "bkt" | "not_in_hw" | "in_hw" | "in_hw_count" => {}
            // u32's node handle is chosen by the kernel (fw's `handle` is the mark it matches).
            "fh" if kind == "u32" => {}
            "actions" => {
                let acts: Vec<Value> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        let mut a = a.clone();
                        if let Some(m) = a.as_object_mut() {
                            for volatile in [
                                "index",
                                "ref",
                                "bind",
                                "stats",
                                "installed",
                                "last_used",
                                "expires",
                                "first_used",
                            ] {
                                m.remove(volatile);
                            }
                        }
                        a
                    })
                    .collect();
                out.insert(k.clone(), Value::Array(acts));
            }
            m if m.starts_with("match#") => matches.push(v.clone()),
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if !matches.is_empty() {
        out.insert("match".into(), Value::Array(matches));
    }
    Value::Object(out)
}

/// iproute2 6.1 prints some classifiers' options (fw) as text inside the JSON:
/// `"options":{handle 0x4c000000 classid 1:40 }`. Turns such text into `"key":"value"` pairs.
fn repair_text_options(text: &str) -> String {
    const OPTS: &str = "\"options\":{";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(OPTS) {
        let after = &rest[i + OPTS.len()..];
        out.push_str(&rest[..i + OPTS.len()]);
        let textual = !after.starts_with('"') && !after.starts_with('}');
        match after.find('}') {
            Some(end) if textual => {
                let words: Vec<&str> = after[..end].split_whitespace().collect();
                let pairs: Vec<String> = words
                    .chunks(2)
                    .map(|kv| format!("\"{}\":\"{}\"", kv[0], kv.get(1).unwrap_or(&"")))
                    .collect();
                out.push_str(&pairs.join(","));
                rest = &after[end..];
            }
            _ => rest = after,
        }
    }
    out.push_str(rest);
    out
}

fn json_of(ns: &Netns, args: &[&str]) -> Vec<Value> {
    let text = ns.must(args);
    let text = repair_text_options(&number_matches(&text));
    let v: Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("`{}` printed no JSON array ({e}): {text}", args.join(" ")));
    v.as_array().cloned().unwrap_or_default()
}

impl Observed {
    /// Observes every link of `ns`.
    pub fn of(ns: &Netns) -> Observed {
        let mut links = BTreeMap::new();
        for l in json_of(ns, &["ip", "-j", "-d", "link", "show"]) {
            let Some(name) = l["ifname"].as_str() else {
                continue;
            };
            let flags: Vec<&str> = l["flags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            links.insert(
                name.to_string(),
                LinkTc {
                    kind: l["linkinfo"]["info_kind"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    up: flags.contains(&"UP"),
                    master: l["master"].as_str().map(str::to_string),
                    qdiscs: Vec::new(),
                    classes: Vec::new(),
                    filters: Vec::new(),
                },
            );
        }
        // Size tables only show with -d (which also changes other options, so only take them).
        let key = |q: &Value| format!("{} {} {} {}", q["dev"], q["handle"], q["parent"], q["root"]);
        let stabs: BTreeMap<String, Value> = json_of(ns, &["tc", "-j", "-d", "qdisc", "show"])
            .into_iter()
            .map(|q| (key(&q), q["stab"].clone()))
            .collect();
        for q in json_of(ns, &["tc", "-j", "qdisc", "show"]) {
            let Some(link) = q["dev"].as_str().and_then(|d| links.get_mut(d)) else {
                continue;
            };
            let mut options = q["options"].clone();
            if let Some(m) = options.as_object_mut() {
                m.remove("direct_packets_stat");
            }
            link.qdiscs.push(QdiscTc {
                kind: q["kind"].as_str().unwrap_or("").to_string(),
                handle: q["handle"].as_str().unwrap_or("").to_string(),
                parent: if q["root"] == true {
                    "root".into()
                } else {
                    q["parent"].as_str().unwrap_or("").to_string()
                },
                options,
                stab: stabs.get(&key(&q)).cloned().unwrap_or(Value::Null),
            });
        }
        for (name, link) in links.iter_mut() {
            link.qdiscs.sort_by(|a, b| a.parent.cmp(&b.parent));
            // Classes hang under a root with a handle (a default root, `0:`, is classless).
            let classful = link.qdisc("root").is_some_and(|q| q.handle != "0:");
            if classful {
                link.classes = ns
                    .must(&["tc", "-d", "class", "show", "dev", name])
                    .lines()
                    .filter_map(ClassTc::parse)
                    // CAKE and fq_codel list one class per active flow: traffic, not configuration.
                    .filter(|c| !matches!(c.kind.as_str(), "cake" | "fq_codel"))
                    .collect();
                link.classes.sort_by(|a, b| a.classid.cmp(&b.classid));
            }
            let mut attach = Vec::new();
            if classful {
                attach.push("root");
            }
            match link.ingress().map(|q| q.kind.as_str()) {
                Some("clsact") => attach.extend(["ingress", "egress"]),
                Some(_) => attach.push("ingress"),
                None => {}
            }
            for a in attach {
                let mut args = vec!["tc", "-j", "filter", "show", "dev", name.as_str()];
                if a != "root" {
                    args.push(a);
                }
                for f in json_of(ns, &args) {
                    let kind = f["kind"].as_str().unwrap_or("").to_string();
                    link.filters.push(FilterTc {
                        attach: a.to_string(),
                        pref: f["pref"].as_u64().unwrap_or(0),
                        protocol: f["protocol"].as_str().unwrap_or("").to_string(),
                        options: normalise_filter_options(&kind, &f["options"]),
                        kind,
                    });
                }
            }
            link.filters.sort_by_key(FilterTc::describe);
        }
        Observed { links }
    }

    pub fn link(&self, name: &str) -> &LinkTc {
        self.links
            .get(name)
            .unwrap_or_else(|| panic!("no link {name}; links: {:?}", self.links.keys()))
    }

    /// One line per object: `object -> description`. Equal maps = equal kernel state.
    pub fn flat(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        for (name, l) in &self.links {
            m.insert(
                format!("link {name}"),
                format!(
                    "kind={} up={} master={}",
                    l.kind,
                    l.up,
                    l.master.as_deref().unwrap_or("-")
                ),
            );
            for q in &l.qdiscs {
                m.insert(
                    format!("{name} qdisc under {}", q.parent),
                    match &q.stab {
                        Value::Null => format!("{} {} {}", q.kind, q.handle, q.options),
                        stab => format!("{} {} {} stab {stab}", q.kind, q.handle, q.options),
                    },
                );
            }
            for c in &l.classes {
                let fields: Vec<String> =
                    c.fields.iter().map(|(k, v)| format!("{k} {v}")).collect();
                m.insert(
                    format!("{name} class {}", c.classid),
                    format!(
                        "{} parent {} leaf {} {}",
                        c.kind,
                        c.parent,
                        c.leaf.as_deref().unwrap_or("-"),
                        fields.join(" ")
                    ),
                );
            }
            for f in &l.filters {
                let k = format!("{name} filter {}", f.describe());
                let n = m.get(&k).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
                m.insert(k, (n + 1).to_string());
            }
        }
        m
    }

    /// Compares with `plan` (the `links` of `hearth apply --dry-run --json`); returns every
    /// difference, empty when the kernel shows exactly the planned tree.
    pub fn check_plan(&self, plan: &Value) -> Vec<String> {
        let mut bad = Vec::new();
        for l in plan.as_array().into_iter().flatten() {
            let dev = l["device"].as_str().unwrap_or("?");
            let Some(o) = self.links.get(dev) else {
                bad.push(format!("{dev}: planned, but there is no such link"));
                continue;
            };
            if l["ifb_of"].is_string() && (o.kind != "ifb" || !o.up) {
                bad.push(format!(
                    "{dev}: should be an IFB that is up, is kind {:?} up={}",
                    o.kind, o.up
                ));
            }
            let classes = l["classes"].as_array().cloned().unwrap_or_default();
            let mut expected_qdiscs = 0;
            if !classes.is_empty() {
                expected_qdiscs += 1;
                let default = l["default_class"]
                    .as_str()
                    .and_then(|d| d.split(':').nth(1))
                    .and_then(|m| u32::from_str_radix(m, 16).ok());
                match o.qdisc("root") {
                    Some(q) if q.kind == "htb" && q.handle == "1:" => {
                        let got = q.options["default"]
                            .as_str()
                            .and_then(|d| u32::from_str_radix(d.trim_start_matches("0x"), 16).ok());
                        if got != default {
                            bad.push(format!(
                                "{dev}: HTB default class {got:?}, planned {default:?}"
                            ));
                        }
                        // A planned overhead is an Ethernet size table on the root.
                        let overhead = l["overhead"].as_i64().unwrap_or(0);
                        let stab_ok = match &q.stab {
                            Value::Null => overhead == 0,
                            st => {
                                st["overhead"].as_i64() == Some(overhead)
                                    && st["linklayer"] == "ethernet"
                                    && overhead != 0
                            }
                        };
                        if !stab_ok {
                            bad.push(format!(
                                "{dev}: size table {}, planned overhead {overhead}",
                                q.stab
                            ));
                        }
                    }
                    q => bad.push(format!("{dev}: root qdisc should be htb 1:, is {q:?}")),
                }
            } else if o.qdisc("root").is_some_and(|q| q.kind == "htb") {
                bad.push(format!("{dev}: has an HTB root although none is planned"));
            }
            let planned: Vec<&str> = classes
                .iter()
                .filter_map(|c| c["classid"].as_str())
                .collect();
            for c in &o.classes {
                if !planned.contains(&c.classid.as_str()) {
                    bad.push(format!("{dev}: class {} is not planned", c.classid));
                }
            }
            let near = |got: Option<u64>, kbit: u64| {
                // tc prints whole units (or truncates to kbit above 1 Mbit/s); the plan has kbit.
                got.is_some_and(|g| g.abs_diff(kbit * 1000) <= 1000 + g / 1000)
            };
            for c in &classes {
                let id = c["classid"].as_str().unwrap_or("?");
                let Some(oc) = o.class(id) else {
                    bad.push(format!("{dev}: planned class {id} is missing"));
                    continue;
                };
                let parent = match c["parent"].as_str() {
                    Some("1:0") => "root",
                    Some(p) => p,
                    None => "?",
                };
                if oc.parent != parent {
                    bad.push(format!(
                        "{dev}: class {id} parent {}, planned {parent}",
                        oc.parent
                    ));
                }
                let (rate, ceil) = (
                    c["rate_kbit"].as_u64().unwrap_or(0),
                    c["ceil_kbit"].as_u64().unwrap_or(0),
                );
                if !near(oc.rate(), rate) || !near(oc.ceil(), ceil) {
                    bad.push(format!(
                        "{dev}: class {id} rate {:?} ceil {:?} bit/s, planned {rate} / {ceil} kbit/s",
                        oc.rate(),
                        oc.ceil()
                    ));
                }
                if let (Some(p), Some(want)) = (oc.prio(), c["prio"].as_u64()) {
                    if p != want {
                        bad.push(format!("{dev}: class {id} prio {p}, planned {want}"));
                    }
                }
                match (c["leaf"].as_str(), &oc.leaf) {
                    (None, None) => {}
                    (None, Some(h)) => bad.push(format!("{dev}: inner class {id} has leaf {h}")),
                    (Some(want), None) => bad.push(format!(
                        "{dev}: class {id} has no leaf qdisc, planned {want}"
                    )),
                    (Some(want), Some(h)) => {
                        expected_qdiscs += 1;
                        match o.qdisc(id) {
                            Some(q) if &q.handle == h => {
                                if let Err(e) = leaf_matches(want, q) {
                                    bad.push(format!("{dev}: leaf of {id}: {e}"));
                                }
                            }
                            q => bad.push(format!(
                                "{dev}: class {id} says leaf {h}, qdisc there is {q:?}"
                            )),
                        }
                    }
                }
            }
            let rules = o.rules("root");
            let want_rules = l["filters"].as_array().map_or(0, Vec::len);
            if rules.len() != want_rules {
                bad.push(format!(
                    "{dev}: {} filter rule(s) on the root, planned {want_rules}",
                    rules.len()
                ));
            }
            for r in &rules {
                let to = r.class().unwrap_or("-");
                let leaf = classes
                    .iter()
                    .any(|c| c["classid"] == to && c["leaf"].is_string());
                if !leaf {
                    bad.push(format!(
                        "{dev}: filter to {to}, not a planned leaf class: {}",
                        r.describe()
                    ));
                }
            }
            match (l["redirect_ingress_to"].as_str(), o.ingress()) {
                (None, None) => {}
                (None, Some(q)) => bad.push(format!("{dev}: unplanned {} qdisc", q.kind)),
                (Some(ifb), q) => {
                    expected_qdiscs += 1;
                    if q.map(|q| q.kind.as_str()) != Some("ingress") {
                        bad.push(format!("{dev}: ingress qdisc missing (have {q:?})"));
                    }
                    let ing = o.rules("ingress");
                    let ok = ing.len() == 1
                        && ing[0].protocol == "all"
                        && ing[0].kind == "u32"
                        && ing[0].matches() == [(0, 0, 0)]
                        && ing[0].redirect_to() == Some(ifb);
                    if !ok {
                        bad.push(format!(
                            "{dev}: ingress should be one match-all redirect to {ifb}, is {:?}",
                            ing.iter().map(|f| f.describe()).collect::<Vec<_>>()
                        ));
                    }
                }
            }
            let non_default = o
                .qdiscs
                .iter()
                .filter(|q| !(q.parent == "root" && q.handle == "0:"))
                .count();
            if non_default != expected_qdiscs {
                bad.push(format!(
                    "{dev}: {non_default} qdiscs, planned {expected_qdiscs}: {:?}",
                    o.qdiscs
                ));
            }
        }
        bad
    }
}

/// Whether `q` is the leaf hearth's plan describes as `want` (`Pfifo { limit: 1000 }`,
/// `FqCodel`, `Cake { overhead: 44 }`).
pub fn leaf_matches(want: &str, q: &QdiscTc) -> Result<(), String> {
    let num = |s: &str| -> Option<i64> {
        let d: String = s
            .chars()
            .skip_while(|c| !c.is_ascii_digit() && *c != '-')
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        d.parse().ok()
    };
    let ok = if want.starts_with("Pfifo") {
        q.kind == "pfifo" && q.options["limit"].as_i64() == num(want)
    } else if want.starts_with("FqCodel") {
        q.kind == "fq_codel"
    } else if want.starts_with("Cake") {
        let overhead = num(want).unwrap_or(0);
        q.kind == "cake"
            && q.options["bandwidth"] == "unlimited"
            && (overhead == 0 || q.options["overhead"].as_i64() == Some(overhead))
    } else {
        false
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "planned {want}, kernel has {} {}",
            q.kind, q.options
        ))
    }
}

/// Lines that differ between two flat observations: `- gone`, `+ new`, `~ changed (a -> b)`.
pub fn difference(before: &Observed, after: &Observed) -> Vec<String> {
    let (a, b) = (before.flat(), after.flat());
    let mut out = Vec::new();
    for (k, v) in &a {
        match b.get(k) {
            None => out.push(format!("- {k}: {v}")),
            Some(w) if w != v => out.push(format!("~ {k}: {v}  ->  {w}")),
            _ => {}
        }
    }
    for (k, v) in &b {
        if !a.contains_key(k) {
            out.push(format!("+ {k}: {v}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_options_become_json() {
        let t = r#"[{"kind":"fw","options":{handle 0x4c000000 classid 1:40 }},{"kind":"u32","options":{"fh":"800:"}},{"options":{}}]"#;
        let v: Value = serde_json::from_str(&repair_text_options(t)).unwrap();
        assert_eq!(v[0]["options"]["handle"], "0x4c000000");
        assert_eq!(v[0]["options"]["classid"], "1:40");
        assert_eq!(v[1]["options"]["fh"], "800:");
    }

    #[test]
    fn repeated_u32_matches_are_all_kept() {
        let t = r#"{"match":{"value":"1"},"match":{"value":"2"}}"#;
        let v: Value = serde_json::from_str(&number_matches(t)).unwrap();
        let n = normalise_filter_options("u32", &v);
        assert_eq!(n["match"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn rates_and_classes_parse_from_tc_text() {
        assert_eq!(parse_rate("3Mbit"), Some(3_000_000));
        assert_eq!(parse_rate("13333Kbit"), Some(13_333_000));
        assert_eq!(parse_rate("10Gbit"), Some(10_000_000_000));
        assert_eq!(parse_rate("999bit"), Some(999));
        let c = ClassTc::parse("class htb 1:10 parent 1:1 leaf 10: prio 0 quantum 37500 rate 3Mbit ceil 10Mbit linklayer ethernet burst 3027b/1 mpu 0b cburst 3026b/1 mpu 0b level 0 ").unwrap();
        assert_eq!((c.parent.as_str(), c.leaf.as_deref()), ("1:1", Some("10:")));
        assert_eq!(
            (c.rate(), c.ceil(), c.prio()),
            (Some(3_000_000), Some(10_000_000), Some(0))
        );
        let r =
            ClassTc::parse("class htb 1:1 root rate 10Mbit ceil 10Mbit burst 3026b cburst 3026b")
                .unwrap();
        assert_eq!(
            (r.parent.as_str(), r.leaf.as_deref(), r.prio()),
            ("root", None, None)
        );
    }
}
