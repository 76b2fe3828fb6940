//! The end of every request: a [`Settlement`] with who asked, who answered, what it cost.
//! The budget subsystem (a later issue) consumes these; today they feed the log and metrics.

use std::net::IpAddr;
use std::time::Duration;

use super::sse::Usage;
use crate::config::{Endpoint, Money};

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The whole answer reached the client.
    Complete,
    /// The upstream answered with an error status that was passed on (4xx other than 429).
    UpstreamRefused,
    /// The upstream broke after the first byte; the client got an error event.
    Broken,
    /// `request_timeout` ran out.
    TimedOut,
    /// The client went away before the end.
    ClientGone,
    /// No upstream could serve it (all failed before the first byte).
    Failed,
    /// The request itself was refused (bad body, unknown model): never sent upstream.
    Rejected,
    /// A budget was used up (`on_exhaust deny`, or nothing to downgrade to).
    OverBudget,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Complete => "ok",
            Outcome::UpstreamRefused => "upstream_refused",
            Outcome::Broken => "broken",
            Outcome::TimedOut => "timeout",
            Outcome::ClientGone => "client_gone",
            Outcome::Failed => "failed",
            Outcome::Rejected => "rejected",
            Outcome::OverBudget => "over_budget",
        }
    }
}

/// Everything known about one finished request.
#[derive(Debug, Clone)]
pub struct Settlement {
    /// Client address.
    pub client: IpAddr,
    /// Client host name from the DHCP leases, when known.
    pub host: Option<String>,
    /// Device section name, if the client is a known device.
    pub device: Option<String>,
    /// Group the request was accounted to.
    pub group: String,
    /// Endpoint that served it (the last one tried, for failures).
    pub endpoint: Option<String>,
    /// Model name sent upstream.
    pub model: String,
    /// Token counts (estimated when the upstream sent none).
    pub usage: Usage,
    /// Cost at the endpoint's prices, in micro-units of the currency.
    pub cost: Money,
    /// Request body bytes sent upstream (after hearth's rewrites; the client's size when the
    /// request never left).
    pub bytes_up: u64,
    /// Response bytes sent to the client.
    pub bytes_down: u64,
    /// Time to the upstream's response headers.
    pub ttfb: Option<Duration>,
    /// Time from the request's arrival to its end.
    pub duration: Duration,
    /// How it ended.
    pub outcome: Outcome,
    /// Upstreams tried before the one that answered (failover count).
    pub failovers: u32,
    /// The budget reservation this request holds until it is settled.
    pub reservation: Option<crate::budget::ReservationId>,
    /// The budget whose exhaustion sent it to the downgrade route.
    pub downgraded: Option<String>,
}

/// Cost of `usage` at the endpoint's prices (per 1M tokens), rounded up to a micro-unit;
/// `None` when the endpoint has no prices configured.
pub fn cost(endpoint: &Endpoint, usage: Usage) -> Option<Money> {
    let (pi, po) = (endpoint.price_input?, endpoint.price_output?);
    let micro = (pi.0 as u128 * usage.prompt_tokens as u128
        + po.0 as u128 * usage.completion_tokens as u128)
        .div_ceil(1_000_000);
    Some(Money(u64::try_from(micro).unwrap_or(u64::MAX)))
}

impl Settlement {
    /// One log line, as `logread` shows it.
    pub fn log_line(&self) -> String {
        format!(
            "llm {} client={} host={} device={} group={} endpoint={} model={} tokens={}/{}{} cost={} bytes={}/{} ttfb={} duration={:.3}s failovers={}{}",
            self.outcome.as_str(),
            self.client,
            self.host.as_deref().unwrap_or("-"),
            self.device.as_deref().unwrap_or("-"),
            self.group,
            self.endpoint.as_deref().unwrap_or("-"),
            self.model,
            self.usage.prompt_tokens,
            self.usage.completion_tokens,
            if self.usage.estimated { "(estimated)" } else { "" },
            self.cost,
            self.bytes_up,
            self.bytes_down,
            self.ttfb
                .map(|t| format!("{:.3}s", t.as_secs_f64()))
                .unwrap_or_else(|| "-".into()),
            self.duration.as_secs_f64(),
            self.failovers,
            self.downgraded
                .as_ref()
                .map(|d| format!(" downgraded=({d})"))
                .unwrap_or_default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_uses_prices_per_million_and_rounds_up() {
        let doc = crate::uci::Document::parse(
            "h",
            "config endpoint e\n option url http://127.0.0.1:1/v1\n option price_input 0.15\n option price_output 0.60\nconfig endpoint f\n option url http://127.0.0.1:2/v1\n",
        )
        .unwrap();
        let cfg = crate::config::from_package(doc.package(), "t".as_ref()).unwrap();
        let u = Usage {
            prompt_tokens: 1000,
            completion_tokens: 500,
            estimated: false,
        };
        // 0.15 * 1000/1e6 + 0.60 * 500/1e6 = 0.00015 + 0.0003 = 0.00045 = 450 micro
        assert_eq!(cost(&cfg.endpoints[0], u), Some(Money(450)));
        let one = Usage {
            prompt_tokens: 1,
            completion_tokens: 0,
            estimated: false,
        };
        assert_eq!(
            cost(&cfg.endpoints[0], one),
            Some(Money(1)),
            "0.15 micro rounds up"
        );
        assert_eq!(cost(&cfg.endpoints[1], u), None);
    }
}
