//! The JSON views behind `/devices` and `/endpoints`: the config in force joined with the
//! budget ledgers and the balancer's counters, shaped for people (LuCI, the dashboard, rpcd).
//!
//! Pure functions over data the caller gathered, so they are tested without a daemon.

use serde_json::{json, Value};

use crate::budget::UsageRow;
use crate::config::Config;

/// `/devices`: every configured device with its identity, group, effective limits, what it
/// used in the current day and month (from the ledgers) and the balancer's totals since start.
///
/// `totals` is the balancer's [`crate::balancer::server::BalancerHandle::totals`] (or `null`).
pub fn devices(cfg: &Config, rows: &[UsageRow], totals: &Value) -> Value {
    let list: Vec<Value> = cfg
        .devices
        .iter()
        .map(|d| {
            let name = d.meta.name.as_str();
            let limits = cfg.device_limits(d);
            let scope = format!("device:{name}");
            let usage: Vec<Value> = rows
                .iter()
                .filter(|r| r.scope == scope)
                .map(UsageRow::to_json)
                .collect();
            let spent = |period: &str, metric: &str| -> u64 {
                rows.iter()
                    .find(|r| r.scope == scope && r.period == period && r.metric == metric)
                    .map_or(0, |r| r.spent)
            };
            let llm = &totals["devices"][name];
            json!({
                "name": name,
                "label": d.label.clone().unwrap_or_else(|| name.to_string()),
                "mac": d.mac.to_string(),
                "ips": d.ips.iter().map(|ip| ip.to_string()).collect::<Vec<_>>(),
                "group": d.group,
                "priority": format!("{:?}", limits.priority).to_lowercase(),
                "rate_down_kbit": limits.rate_down.0,
                "rate_up_kbit": limits.rate_up.0,
                "data_month_bytes": limits.data_month.0,
                "llm_day_limit": limits.llm_day.0,
                "llm_month_limit": limits.llm_month.0,
                "llm_tokens_day_limit": limits.llm_tokens_day,
                "bytes_month": spent("month", "bytes"),
                "llm_spent_day": spent("day", "money"),
                "llm_spent_month": spent("month", "money"),
                "tokens_day": spent("day", "tokens"),
                "llm_requests": llm["requests"].as_u64().unwrap_or(0),
                "llm_tokens": llm["tokens"].as_u64().unwrap_or(0),
                "llm_bytes_up": llm["bytes_up"].as_u64().unwrap_or(0),
                "llm_bytes_down": llm["bytes_down"].as_u64().unwrap_or(0),
                "usage": usage,
            })
        })
        .collect();
    json!({
        "currency": cfg.agent.currency,
        "money_unit": "micro",
        "devices": list,
    })
}

/// `/endpoints`: the balancer's endpoints (health, latency, in flight) with request, error,
/// token and cost totals since start; `enabled: false` when the balancer is off.
pub fn endpoints(status: &Value, totals: &Value, currency: &str) -> Value {
    if status["enabled"].as_bool() != Some(true) {
        return json!({"enabled": false, "endpoints": []});
    }
    let list: Vec<Value> = status["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let mut e = e.clone();
            let t = &totals["endpoints"][e["name"].as_str().unwrap_or("")];
            for k in ["requests", "errors", "tokens", "cost"] {
                e[k] = t[k].as_u64().unwrap_or(0).into();
            }
            e["healthy"] = (e["problem"].is_null() && e["health"]["state"] == "healthy").into();
            e
        })
        .collect();
    json!({
        "enabled": true,
        "listen": status["listen"],
        "currency": currency,
        "money_unit": "micro",
        "endpoints": list,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hearth");
        std::fs::write(&p, text).unwrap();
        crate::config::load(&p).unwrap()
    }

    fn row(scope: &str, period: &'static str, metric: &'static str, spent: u64) -> UsageRow {
        UsageRow {
            scope: scope.into(),
            period,
            period_id: "2026-11".into(),
            metric,
            spent,
            reserved: 0,
            limit: None,
            remaining: None,
            option: None,
            resets_at: "2026-12-01T00:00:00Z".into(),
            warning: false,
            exhausted: false,
            requests: 3,
        }
    }

    #[test]
    fn devices_join_config_ledgers_and_balancer_totals() {
        let cfg = config(
            "config group 'kids'\n\toption rate_down '20000'\n\toption llm_month '5'\n\
             config device 'tablet'\n\toption mac '02:00:00:00:00:01'\n\tlist ip '192.168.1.20'\n\
             \toption group 'kids'\n\toption label 'Tablet'\n\
             config device 'tv'\n\toption mac '02:00:00:00:00:02'\n",
        );
        let rows = vec![
            row("device:tablet", "month", "money", 1_500_000),
            row("device:tablet", "month", "bytes", 4096),
            row("group:kids", "month", "money", 9),
        ];
        let totals = json!({"devices": {"tablet": {"requests": 7, "tokens": 300, "bytes_up": 10, "bytes_down": 20}}});
        let v = devices(&cfg, &rows, &totals);
        let t = &v["devices"][0];
        assert_eq!(t["name"], "tablet");
        assert_eq!(t["label"], "Tablet");
        assert_eq!(t["mac"], "02:00:00:00:00:01");
        assert_eq!(t["ips"][0], "192.168.1.20");
        assert_eq!(t["group"], "kids");
        assert_eq!(t["rate_down_kbit"], 20000, "inherited from the group");
        assert_eq!(t["llm_month_limit"], 5_000_000);
        assert_eq!(t["llm_spent_month"], 1_500_000);
        assert_eq!(t["bytes_month"], 4096);
        assert_eq!(t["llm_requests"], 7);
        assert_eq!(t["usage"].as_array().map(Vec::len), Some(2));
        let tv = &v["devices"][1];
        assert_eq!(tv["group"], "default");
        assert_eq!(tv["label"], "tv", "no label: the section name");
        assert_eq!(
            tv["llm_requests"], 0,
            "no traffic, no totals: zeros, not nulls"
        );
    }

    #[test]
    fn endpoints_add_totals_and_a_health_flag() {
        let status = json!({"enabled": true, "listen": ["192.168.1.1:8080"], "endpoints": [
            {"name": "local", "in_flight": 1, "latency_ms": 40, "problem": null, "health": {"state": "healthy"}},
            {"name": "cloud", "in_flight": 0, "latency_ms": null, "problem": null, "health": {"state": "ejected", "reason": "timeout"}},
        ]});
        let totals =
            json!({"endpoints": {"local": {"requests": 4, "errors": 1, "tokens": 90, "cost": 0}}});
        let v = endpoints(&status, &totals, "EUR");
        assert_eq!(v["endpoints"][0]["requests"], 4);
        assert_eq!(v["endpoints"][0]["healthy"], true);
        assert_eq!(v["endpoints"][1]["healthy"], false);
        assert_eq!(v["endpoints"][1]["requests"], 0);
        assert_eq!(v["currency"], "EUR");
        assert_eq!(
            endpoints(&json!({"enabled": false}), &Value::Null, "USD")["enabled"],
            false
        );
    }
}
