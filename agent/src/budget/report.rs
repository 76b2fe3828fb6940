//! `hearth usage`: spend, tokens and data against budgets — from the running agent (control
//! socket `/usage`), or, when it is not running, from the ledger file in `state_dir` (read
//! only: a damaged file is reported, not moved).

use std::path::Path;

use super::store::{decode, Store};
use super::{limits, now, Budgets, Tz};
use crate::config::{Config, Money};

/// Where the rows came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Daemon,
    Ledger,
}

/// The rows (as `/usage` JSON) from the agent or the ledger file.
pub fn fetch(cfg: &Config, socket: &Path) -> Result<(Source, Vec<serde_json::Value>), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    if let Ok((s, body)) = rt.block_on(crate::control::get(socket, "/usage")) {
        if s.is_success() {
            let v: serde_json::Value =
                serde_json::from_str(&body).map_err(|e| format!("unreadable answer: {e}"))?;
            let rows = v["rows"].as_array().cloned().unwrap_or_default();
            return Ok((Source::Daemon, rows));
        }
    }
    let path = Store::new(&cfg.agent.state_dir).path();
    let budgets = Budgets::new(Tz::system(cfg.agent.timezone.as_deref())?, limits(cfg));
    match std::fs::read(&path) {
        Ok(bytes) => {
            let l = decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            budgets.restore(l.accounts);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    Ok((
        Source::Ledger,
        budgets.usage(now()).iter().map(|r| r.to_json()).collect(),
    ))
}

/// Keeps the rows that concern `device` (its own, its group's, the household's) and/or
/// `group` (the group's and its devices').
pub fn filter(
    cfg: &Config,
    rows: Vec<serde_json::Value>,
    device: Option<&str>,
    group: Option<&str>,
) -> Vec<serde_json::Value> {
    if device.is_none() && group.is_none() {
        return rows;
    }
    let mut keep: Vec<String> = Vec::new();
    if let Some(d) = device {
        keep.push(format!("device:{d}"));
        let g = cfg
            .devices
            .iter()
            .find(|x| x.meta.name == d)
            .map_or("default", |x| x.group.as_str());
        keep.push(format!("group:{g}"));
        keep.push("household".into());
    }
    if let Some(g) = group {
        keep.push(format!("group:{g}"));
        keep.extend(
            cfg.devices
                .iter()
                .filter(|x| x.group == g)
                .map(|x| format!("device:{}", x.meta.name)),
        );
    }
    rows.into_iter()
        .filter(|r| {
            r["scope"]
                .as_str()
                .is_some_and(|s| keep.iter().any(|k| k == s))
        })
        .collect()
}

/// The table for people.
pub fn render(rows: &[serde_json::Value], source: Source, currency: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        match source {
            Source::Daemon => "from the running agent",
            Source::Ledger => "from the saved ledger (the agent is not running)",
        }
    );
    if rows.is_empty() {
        out.push_str("no budgets configured and nothing spent yet\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<24} {:<6} {:<10} {:>16} {:>16} {:>16}  RESETS",
        "WHO", "PERIOD", "", "SPENT", "LIMIT", "REMAINING"
    );
    let amount = |metric: &str, v: Option<u64>| match (metric, v) {
        (_, None) => "-".to_string(),
        ("money", Some(v)) => format!("{} {currency}", Money(v)),
        ("bytes", Some(v)) => format!("{:.2} GiB", v as f64 / f64::from(1u32 << 30)),
        (_, Some(v)) => v.to_string(),
    };
    for r in rows {
        let metric = r["metric"].as_str().unwrap_or("?");
        let flag = if r["exhausted"] == true {
            "  USED UP"
        } else if r["warning"] == true {
            "  over 80%"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:<24} {:<6} {:<10} {:>16} {:>16} {:>16}  {}{flag}",
            r["scope"].as_str().unwrap_or("?"),
            r["period"].as_str().unwrap_or("?"),
            metric,
            amount(metric, r["spent"].as_u64()),
            amount(metric, r["limit"].as_u64()),
            amount(metric, r["remaining"].as_u64()),
            r["resets_at"].as_str().unwrap_or("")
        );
    }
    out
}
