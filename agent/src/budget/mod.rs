//! Budgets: what each device, group and the household may spend on LLM requests (money,
//! tokens) and transfer (bytes), per calendar day and month in the router's time zone.
//!
//! Overspending is made impossible by construction: before a request is forwarded, its
//! worst case (input estimated from the body, plus the output cap, at the chosen endpoint's
//! prices) is *reserved* against every budget that applies — device, group, household — in
//! one critical section. A request is admitted only if, for each of them, what is spent plus
//! what racing requests have reserved plus its own worst case fits. When it ends, the
//! reservation is replaced by what it really cost. (If an upstream reports more than the
//! worst case — a model ignoring `max_tokens` — the excess is recorded and the next request
//! pays for it by being refused.)
//!
//! Whose budgets: the household's (`balancer.llm_month`), the group's (`llm_day`,
//! `llm_month`, `llm_tokens_day` on the group section: shared by its devices), and a device's
//! own — only the budget options its own section sets. Data budgets (`data_month`) are per
//! device: a group's `data_month` is each member's allowance, as in shaping.
//!
//! The engine is pure: the caller passes the time; [`store`] persists the ledgers.

pub mod anomaly;
pub mod period;
pub mod report;
pub mod store;
pub mod subsystem;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Mutex;

use crate::config::{Config, Money, OnExhaust};
pub use period::{PeriodKind, Tz};

/// Whose budget.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Household,
    Group(String),
    Device(String),
}

impl Scope {
    /// `household`, `group:kids`, `device:alice_laptop` (ledger keys, JSON).
    pub fn key(&self) -> String {
        match self {
            Scope::Household => "household".into(),
            Scope::Group(g) => format!("group:{g}"),
            Scope::Device(d) => format!("device:{d}"),
        }
    }

    /// The inverse of [`Scope::key`].
    pub fn from_key(k: &str) -> Option<Scope> {
        match k.split_once(':') {
            None if k == "household" => Some(Scope::Household),
            Some(("group", g)) if !g.is_empty() => Some(Scope::Group(g.into())),
            Some(("device", d)) if !d.is_empty() => Some(Scope::Device(d.into())),
            _ => None,
        }
    }
}

/// A [`Scope`] by reference, ordered exactly as `Scope` is (variant, then name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ScopeRef<'a> {
    Household,
    Group(&'a str),
    Device(&'a str),
}

impl Scope {
    fn as_ref(&self) -> ScopeRef<'_> {
        match self {
            Scope::Household => ScopeRef::Household,
            Scope::Group(g) => ScopeRef::Group(g),
            Scope::Device(d) => ScopeRef::Device(d),
        }
    }
}

/// An account key looked up by reference (`crate::keys`): touching an account (several times
/// per request) clones no scope name.
trait AccountKey {
    fn parts(&self) -> (ScopeRef<'_>, PeriodKind);
}

impl AccountKey for (Scope, PeriodKind) {
    fn parts(&self) -> (ScopeRef<'_>, PeriodKind) {
        (self.0.as_ref(), self.1)
    }
}

impl AccountKey for (ScopeRef<'_>, PeriodKind) {
    fn parts(&self) -> (ScopeRef<'_>, PeriodKind) {
        *self
    }
}

crate::keys::by_parts!(AccountKey, (Scope, PeriodKind));

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Household => write!(f, "household"),
            Scope::Group(g) => write!(f, "group '{g}'"),
            Scope::Device(d) => write!(f, "device '{d}'"),
        }
    }
}

/// What a budget counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Micro-units of the configured currency.
    Money,
    Tokens,
    Bytes,
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Money => "money",
            Metric::Tokens => "tokens",
            Metric::Bytes => "bytes",
        }
    }
}

/// One configured budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub scope: Scope,
    pub period: PeriodKind,
    pub metric: Metric,
    /// In the metric's unit (micro-units for money).
    pub value: u64,
    /// The option that sets it, for messages (`llm_month`).
    pub option: &'static str,
}

/// The budgets `cfg` configures, household first.
pub fn limits(cfg: &Config) -> Vec<Limit> {
    let mut out = Vec::new();
    let mut push = |scope: &Scope, period, metric, value: u64, option| {
        if value > 0 {
            out.push(Limit {
                scope: scope.clone(),
                period,
                metric,
                value,
                option,
            });
        }
    };
    if let Some(b) = &cfg.balancer {
        push(
            &Scope::Household,
            PeriodKind::Month,
            Metric::Money,
            b.llm_month.0,
            "llm_month",
        );
    }
    for g in &cfg.groups {
        let s = Scope::Group(g.meta.name.clone());
        let l = &g.limits;
        push(&s, PeriodKind::Day, Metric::Money, l.llm_day.0, "llm_day");
        push(
            &s,
            PeriodKind::Month,
            Metric::Money,
            l.llm_month.0,
            "llm_month",
        );
        push(
            &s,
            PeriodKind::Day,
            Metric::Tokens,
            l.llm_tokens_day,
            "llm_tokens_day",
        );
    }
    for d in &cfg.devices {
        let s = Scope::Device(d.meta.name.clone());
        let o = &d.overrides;
        push(
            &s,
            PeriodKind::Day,
            Metric::Money,
            o.llm_day.map_or(0, |m| m.0),
            "llm_day",
        );
        push(
            &s,
            PeriodKind::Month,
            Metric::Money,
            o.llm_month.map_or(0, |m| m.0),
            "llm_month",
        );
        push(
            &s,
            PeriodKind::Day,
            Metric::Tokens,
            o.llm_tokens_day.unwrap_or(0),
            "llm_tokens_day",
        );
        // Per device, inherited from the group when the device sets none.
        let data = o
            .data_month
            .unwrap_or_else(|| cfg.group_limits(&d.group).data_month);
        push(&s, PeriodKind::Month, Metric::Bytes, data.0, "data_month");
    }
    out
}

/// Who a request is charged to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payer {
    /// The device section, for known devices.
    pub device: Option<String>,
    pub group: String,
}

impl Payer {
    /// Device (if known), group, household: every scope the request counts against.
    pub fn scopes(&self) -> Vec<Scope> {
        let mut v = Vec::with_capacity(3);
        if let Some(d) = &self.device {
            v.push(Scope::Device(d.clone()));
        }
        v.push(Scope::Group(self.group.clone()));
        v.push(Scope::Household);
        v
    }
}

/// Spending in one scope and period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    /// The period this counts (`2026-11-25`, `2026-11`).
    pub period: String,
    /// Settled spend, micro-units.
    pub money: u64,
    pub tokens: u64,
    pub bytes: u64,
    /// Settled requests.
    pub requests: u64,
    /// Worst cases of requests in flight (not persisted).
    pub reserved_money: u64,
    pub reserved_tokens: u64,
}

impl Account {
    fn spent(&self, m: Metric) -> u64 {
        match m {
            Metric::Money => self.money,
            Metric::Tokens => self.tokens,
            Metric::Bytes => self.bytes,
        }
    }

    fn reserved(&self, m: Metric) -> u64 {
        match m {
            Metric::Money => self.reserved_money,
            Metric::Tokens => self.reserved_tokens,
            Metric::Bytes => 0,
        }
    }
}

/// The worst case (or the real cost) of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amount {
    /// Micro-units.
    pub money: u64,
    pub tokens: u64,
}

/// A budget a request does not fit in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exhausted {
    pub scope: Scope,
    pub period: PeriodKind,
    pub metric: Metric,
    pub option: &'static str,
    /// Spent so far (settled).
    pub spent: u64,
    /// Reserved by requests in flight.
    pub reserved: u64,
    /// This request's worst case.
    pub need: u64,
    pub limit: u64,
    /// When the period resets (Unix seconds) and the same instant as local RFC 3339 text.
    pub resets_at: i64,
    pub resets_local: String,
}

impl Exhausted {
    /// `llm_month of group 'kids'`.
    pub fn name(&self) -> String {
        format!("{} of {}", self.option, self.scope)
    }

    /// For people: which budget, how much is used, when it resets.
    pub fn message(&self, currency: &str) -> String {
        let fmt = |v: u64| match self.metric {
            Metric::Money => format!("{} {currency}", Money(v)),
            Metric::Tokens => format!("{v} tokens"),
            Metric::Bytes => format!("{v} bytes"),
        };
        let inflight = if self.reserved > 0 {
            format!(" (+{} held by requests in flight)", fmt(self.reserved))
        } else {
            String::new()
        };
        format!(
            "the {} budget ({}) is used up: {} of {} spent{inflight}, this request may need up to {}; it resets at {}",
            self.name(),
            self.period.as_str(),
            fmt(self.spent),
            fmt(self.limit),
            fmt(self.need),
            self.resets_local
        )
    }
}

/// A reservation held for a request in flight.
pub type ReservationId = u64;

#[derive(Debug, Clone)]
struct Reservation {
    scopes: Vec<Scope>,
    amount: Amount,
}

/// One line of `hearth usage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub scope: String,
    pub period: &'static str,
    /// `2026-11`.
    pub period_id: String,
    pub metric: &'static str,
    pub spent: u64,
    pub reserved: u64,
    /// `None`: tracked, no budget.
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// Option that sets the budget.
    pub option: Option<&'static str>,
    pub resets_at: String,
    /// Spent ≥ 80 % of the limit.
    pub warning: bool,
    pub exhausted: bool,
    pub requests: u64,
}

impl UsageRow {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "scope": self.scope,
            "period": self.period,
            "period_id": self.period_id,
            "metric": self.metric,
            "spent": self.spent,
            "reserved": self.reserved,
            "limit": self.limit,
            "remaining": self.remaining,
            "option": self.option,
            "resets_at": self.resets_at,
            "warning": self.warning,
            "exhausted": self.exhausted,
            "requests": self.requests,
        })
    }
}

/// Share of a budget at which a warning is logged and shown.
pub const WARN_PERCENT: u64 = 80;

struct State {
    tz: Tz,
    limits: Vec<Limit>,
    accounts: BTreeMap<(Scope, PeriodKind), Account>,
    reservations: HashMap<ReservationId, Reservation>,
    next_id: ReservationId,
    /// Count the balancer's bytes in data budgets (off when shaping's LAN classes already
    /// see every byte a device exchanges, the router's answers included).
    llm_bytes: bool,
    /// Changed since the last save.
    dirty: bool,
    /// A period ended since the last save (save now).
    rolled: bool,
    /// Warnings already given this period.
    warned: BTreeSet<(Scope, PeriodKind, Metric, String)>,
    /// The day and month ids at one second (`account` runs several times per request:
    /// formatting them once a second is enough).
    ids: Option<(i64, String, String)>,
}

/// The ledgers, shared by the balancer (reserve/settle), the data counters, status and the
/// store. All methods take the current time in Unix seconds.
pub struct Budgets {
    state: Mutex<State>,
    /// Spend-rate anomalies (own lock: it never holds the ledgers').
    detector: Mutex<anomaly::Detector>,
}

impl Budgets {
    pub fn new(tz: Tz, limits: Vec<Limit>) -> Budgets {
        Budgets {
            state: Mutex::new(State {
                tz,
                limits,
                accounts: BTreeMap::new(),
                reservations: HashMap::new(),
                next_id: 1,
                llm_bytes: true,
                dirty: false,
                rolled: false,
                warned: BTreeSet::new(),
                ids: None,
            }),
            detector: Mutex::new(anomaly::Detector::default()),
        }
    }

    fn detector(&self) -> std::sync::MutexGuard<'_, anomaly::Detector> {
        match self.detector.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Anomaly detection settings (from the balancer section).
    pub fn configure_anomaly(&self, settings: anomaly::Settings) {
        self.detector().settings = settings;
    }

    /// Feeds a settled request's cost to the anomaly detector; returns what to log.
    pub fn observe_spend(
        &self,
        endpoint: Option<&str>,
        device: Option<&str>,
        micros: u64,
        currency: &str,
        now: i64,
    ) -> Vec<String> {
        if micros == 0 {
            return Vec::new();
        }
        let mut d = self.detector();
        let window = d.settings.window;
        let keys = endpoint
            .map(|e| format!("endpoint:{e}"))
            .into_iter()
            .chain(device.map(|x| format!("device:{x}")));
        let mut out = Vec::new();
        for k in keys {
            if let Some(a) = d.record(&k, micros, now) {
                out.push(format!(
                    "spend anomaly: {k} spent {} {currency} in the current {window} s window, {:.1}x its usual {} {currency}{}; acknowledge with: hearth usage --ack {k}",
                    Money(a.window_spend),
                    a.window_spend as f64 / a.baseline.max(1.0),
                    Money(a.baseline.round() as u64),
                    if d.settings.shift && k.starts_with("device:") {
                        "; its requests go to the cheapest endpoint until then"
                    } else {
                        ""
                    }
                ));
            }
        }
        out
    }

    /// Flagged spenders.
    pub fn anomalies(&self) -> Vec<anomaly::Anomaly> {
        self.detector().active()
    }

    /// Clears the flag on `key` (`device:NAME`, `endpoint:NAME`).
    pub fn acknowledge(&self, key: &str) -> bool {
        self.detector().acknowledge(key)
    }

    /// Whether `device`'s requests should go to the cheapest endpoint (flagged, shift on).
    pub fn shifted(&self, device: &str) -> bool {
        let d = self.detector();
        d.settings.shift && d.is_flagged(&format!("device:{device}"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// New budgets and time zone after a reload; spending so far is kept.
    pub fn configure(&self, tz: Tz, limits: Vec<Limit>) {
        let mut s = self.lock();
        s.tz = tz;
        s.limits = limits;
        s.ids = None;
    }

    /// Whether settled LLM requests add their bytes to data use (see `State::llm_bytes`).
    pub fn count_llm_bytes(&self, on: bool) {
        self.lock().llm_bytes = on;
    }

    /// Whether any money or token budget applies to `payer` (else admission is free).
    pub fn limits_apply(&self, payer: &Payer) -> bool {
        let s = self.lock();
        let scopes = payer.scopes();
        s.limits
            .iter()
            .any(|l| l.metric != Metric::Bytes && scopes.contains(&l.scope))
    }

    /// Reserves `amount` against every budget of `payer`, or says which one it does not fit.
    pub fn reserve(
        &self,
        payer: &Payer,
        amount: Amount,
        now: i64,
    ) -> Result<ReservationId, Exhausted> {
        let mut s = self.lock();
        let scopes = payer.scopes();
        s.check(&scopes, amount, now)?;
        s.hold(&scopes, amount, now);
        let id = s.next_id;
        s.next_id += 1;
        s.reservations.insert(id, Reservation { scopes, amount });
        Ok(id)
    }

    /// Replaces a reservation's amount (failover to an endpoint with other prices). On
    /// `Err` the old reservation stays as it was.
    pub fn rebase(&self, id: ReservationId, amount: Amount, now: i64) -> Result<(), Exhausted> {
        let mut s = self.lock();
        let Some(r) = s.reservations.get(&id).cloned() else {
            return Ok(());
        };
        s.release_hold(&r.scopes, r.amount, now);
        if let Err(e) = s.check(&r.scopes, amount, now) {
            s.hold(&r.scopes, r.amount, now);
            return Err(e);
        }
        s.hold(&r.scopes, amount, now);
        if let Some(r) = s.reservations.get_mut(&id) {
            r.amount = amount;
        }
        Ok(())
    }

    /// Ends a reservation with what the request really cost (zero for a request that never
    /// reached an upstream); returns warnings newly crossed (80 %) to log.
    pub fn settle(&self, id: ReservationId, actual: Amount, bytes: u64, now: i64) -> Vec<String> {
        let mut s = self.lock();
        let Some(r) = s.reservations.remove(&id) else {
            return Vec::new();
        };
        s.release_hold(&r.scopes, r.amount, now);
        let bytes = if s.llm_bytes { bytes } else { 0 };
        let charged = actual != Amount::default() || bytes > 0;
        for scope in &r.scopes {
            for kind in [PeriodKind::Day, PeriodKind::Month] {
                let a = s.account(scope, kind, now);
                a.money = a.money.saturating_add(actual.money);
                a.tokens = a.tokens.saturating_add(actual.tokens);
                a.bytes = a.bytes.saturating_add(bytes);
                if charged {
                    a.requests += 1;
                }
            }
        }
        if charged {
            s.dirty = true;
        }
        s.new_warnings(&r.scopes, now)
    }

    /// Charges bytes that did not go through the balancer (shaping class counters) to a
    /// device or group; returns newly crossed warnings.
    pub fn add_bytes(&self, scope: &Scope, bytes: u64, now: i64) -> Vec<String> {
        if bytes == 0 {
            return Vec::new();
        }
        let mut s = self.lock();
        for kind in [PeriodKind::Day, PeriodKind::Month] {
            let a = s.account(scope, kind, now);
            a.bytes = a.bytes.saturating_add(bytes);
        }
        s.dirty = true;
        s.new_warnings(std::slice::from_ref(scope), now)
    }

    /// Devices and groups over a data budget (`data_month`) right now.
    pub fn over_data(&self, now: i64) -> Vec<Scope> {
        let mut s = self.lock();
        let limits: Vec<Limit> = s
            .limits
            .iter()
            .filter(|l| l.metric == Metric::Bytes)
            .cloned()
            .collect();
        limits
            .into_iter()
            .filter(|l| s.account(&l.scope, l.period, now).bytes >= l.value)
            .map(|l| l.scope)
            .collect()
    }

    /// Every tracked account and configured budget, for `hearth usage` and status.
    pub fn usage(&self, now: i64) -> Vec<UsageRow> {
        let mut s = self.lock();
        let mut keys: BTreeSet<(Scope, PeriodKind)> = s.accounts.keys().cloned().collect();
        keys.extend(s.limits.iter().map(|l| (l.scope.clone(), l.period)));
        let mut out = Vec::new();
        for (scope, kind) in keys {
            let tz = s.tz.clone();
            let resets = kind.ends_after(&tz, now);
            let limits: Vec<Limit> = s
                .limits
                .iter()
                .filter(|l| l.scope == scope && l.period == kind)
                .cloned()
                .collect();
            let a = s.account(&scope, kind, now).clone();
            for metric in [Metric::Money, Metric::Tokens, Metric::Bytes] {
                let limit = limits.iter().find(|l| l.metric == metric);
                let spent = a.spent(metric);
                if limit.is_none() && spent == 0 && a.reserved(metric) == 0 {
                    continue;
                }
                out.push(UsageRow {
                    scope: scope.key(),
                    period: kind.as_str(),
                    period_id: a.period.clone(),
                    metric: metric.as_str(),
                    spent,
                    reserved: a.reserved(metric),
                    limit: limit.map(|l| l.value),
                    remaining: limit.map(|l| l.value.saturating_sub(spent)),
                    option: limit.map(|l| l.option),
                    resets_at: period::rfc3339(&tz, resets),
                    warning: limit
                        .is_some_and(|l| spent.saturating_mul(100) >= l.value * WARN_PERCENT),
                    exhausted: limit.is_some_and(|l| spent >= l.value),
                    requests: a.requests,
                });
            }
        }
        out
    }

    /// Settled spending as the store saves it; clears the dirty flags.
    pub fn take_snapshot(&self, now: i64) -> Option<Vec<(Scope, PeriodKind, Account)>> {
        let mut s = self.lock();
        // Roll every account so a finished period is saved as ended.
        let keys: Vec<(Scope, PeriodKind)> = s.accounts.keys().cloned().collect();
        for (scope, kind) in &keys {
            s.account(scope, *kind, now);
        }
        if !(s.dirty || s.rolled) {
            return None;
        }
        s.dirty = false;
        s.rolled = false;
        Some(s.snapshot())
    }

    /// Everything settled, regardless of the dirty flag.
    pub fn snapshot(&self) -> Vec<(Scope, PeriodKind, Account)> {
        self.lock().snapshot()
    }

    /// Whether a save is due now regardless of the interval (a period ended).
    pub fn rolled(&self, now: i64) -> bool {
        let mut s = self.lock();
        let keys: Vec<(Scope, PeriodKind)> = s.accounts.keys().cloned().collect();
        for (scope, kind) in &keys {
            s.account(scope, *kind, now);
        }
        s.rolled
    }

    /// Puts saved spending back (at start). Accounts of ended periods are dropped when
    /// touched, so a ledger from last month counts for nothing this month.
    pub fn restore(&self, accounts: Vec<(Scope, PeriodKind, Account)>) {
        let mut s = self.lock();
        for (scope, kind, mut a) in accounts {
            a.reserved_money = 0;
            a.reserved_tokens = 0;
            s.accounts.insert((scope, kind), a);
        }
    }

    /// Marks the ledger changed (a save failed: try again).
    pub fn mark_dirty(&self) {
        self.lock().dirty = true;
    }

    /// Requests in flight holding a reservation.
    pub fn in_flight(&self) -> usize {
        self.lock().reservations.len()
    }
}

impl State {
    /// The account of `scope` for the period containing `now`, rolled over if it ended.
    fn account(&mut self, scope: &Scope, kind: PeriodKind, now: i64) -> &mut Account {
        let ids = match self.ids.take() {
            Some(c) if c.0 == now => c,
            _ => (
                now,
                PeriodKind::Day.id_at(&self.tz, now),
                PeriodKind::Month.id_at(&self.tz, now),
            ),
        };
        let ids = self.ids.insert(ids);
        let id = match kind {
            PeriodKind::Day => ids.1.as_str(),
            PeriodKind::Month => ids.2.as_str(),
        };
        let key = (scope.as_ref(), kind);
        if !self.accounts.contains_key(&key as &dyn AccountKey) {
            self.accounts.insert(
                (scope.clone(), kind),
                Account {
                    period: id.to_string(),
                    ..Account::default()
                },
            );
        }
        let a = self
            .accounts
            .get_mut(&key as &dyn AccountKey)
            .expect("inserted above");
        if a.period != id {
            // A new period: spending starts from zero; requests in flight keep their hold.
            *a = Account {
                period: id.to_string(),
                reserved_money: a.reserved_money,
                reserved_tokens: a.reserved_tokens,
                ..Account::default()
            };
            self.rolled = true;
        }
        a
    }

    fn check(&mut self, scopes: &[Scope], amount: Amount, now: i64) -> Result<(), Exhausted> {
        let limits: Vec<Limit> = self
            .limits
            .iter()
            .filter(|l| scopes.contains(&l.scope) && l.metric != Metric::Bytes)
            .cloned()
            .collect();
        // Report in the payer's order: device, group, household.
        for scope in scopes {
            for l in limits.iter().filter(|l| &l.scope == scope) {
                let need = match l.metric {
                    Metric::Money => amount.money,
                    Metric::Tokens => amount.tokens,
                    Metric::Bytes => 0,
                };
                // A request that costs nothing cannot overspend (a free model stays usable).
                if need == 0 {
                    continue;
                }
                let tz = self.tz.clone();
                let a = self.account(&l.scope, l.period, now);
                let (spent, reserved) = (a.spent(l.metric), a.reserved(l.metric));
                if spent.saturating_add(reserved).saturating_add(need) > l.value {
                    let resets_at = l.period.ends_after(&tz, now);
                    return Err(Exhausted {
                        scope: l.scope.clone(),
                        period: l.period,
                        metric: l.metric,
                        option: l.option,
                        spent,
                        reserved,
                        need,
                        limit: l.value,
                        resets_at,
                        resets_local: period::rfc3339(&tz, resets_at),
                    });
                }
            }
        }
        Ok(())
    }

    fn hold(&mut self, scopes: &[Scope], amount: Amount, now: i64) {
        for scope in scopes {
            for kind in [PeriodKind::Day, PeriodKind::Month] {
                let a = self.account(scope, kind, now);
                a.reserved_money = a.reserved_money.saturating_add(amount.money);
                a.reserved_tokens = a.reserved_tokens.saturating_add(amount.tokens);
            }
        }
    }

    fn release_hold(&mut self, scopes: &[Scope], amount: Amount, now: i64) {
        for scope in scopes {
            for kind in [PeriodKind::Day, PeriodKind::Month] {
                let a = self.account(scope, kind, now);
                a.reserved_money = a.reserved_money.saturating_sub(amount.money);
                a.reserved_tokens = a.reserved_tokens.saturating_sub(amount.tokens);
            }
        }
    }

    fn new_warnings(&mut self, scopes: &[Scope], now: i64) -> Vec<String> {
        let limits: Vec<Limit> = self
            .limits
            .iter()
            .filter(|l| scopes.contains(&l.scope))
            .cloned()
            .collect();
        let mut out = Vec::new();
        for l in limits {
            let a = self.account(&l.scope, l.period, now);
            let spent = a.spent(l.metric);
            let period = a.period.clone();
            if spent.saturating_mul(100) < l.value * WARN_PERCENT {
                continue;
            }
            if self
                .warned
                .insert((l.scope.clone(), l.period, l.metric, period.clone()))
            {
                out.push(format!(
                    "budget {} of {} ({period}): {}% used",
                    l.option,
                    l.scope,
                    spent.saturating_mul(100) / l.value.max(1)
                ));
            }
        }
        out
    }

    fn snapshot(&self) -> Vec<(Scope, PeriodKind, Account)> {
        self.accounts
            .iter()
            .map(|((s, k), a)| {
                let mut a = a.clone();
                a.reserved_money = 0;
                a.reserved_tokens = 0;
                (s.clone(), *k, a)
            })
            .collect()
    }
}

/// What to do for a payer whose budget ran out: the effective `on_exhaust` and
/// `downgrade_route` of the device (or its group).
pub fn on_exhaust(cfg: &Config, payer: &Payer) -> (OnExhaust, Option<String>) {
    let limits = payer
        .device
        .as_ref()
        .and_then(|d| cfg.devices.iter().find(|x| x.meta.name == *d))
        .map(|d| cfg.device_limits(d))
        .unwrap_or_else(|| cfg.group_limits(&payer.group));
    (limits.on_exhaust, limits.downgrade_route)
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
