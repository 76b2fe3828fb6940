//! One proxied request, phase by phase: `admit` (read and check the body), `identify`,
//! `route`, `forward` (pick, fail over before the first byte), then the [`Relay`] body streams
//! the answer and `settle`s when it ends — however it ends.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use tokio::sync::OwnedSemaphorePermit;

use super::error::ProxyError;
use super::health::Ejection;
use super::inspect::Refusal;
pub use super::inspect::{Inspected, OutputCaps};
use super::redact::Redactor;
use super::route::{self, RouteQuery};
use super::settle::{self, Outcome, Settlement};
use super::sse::{SseFilter, Usage};
use super::upstream::{InFlight, Upstream};
use super::{ClientBody, Shared};
use crate::budget::{Amount, Payer};
use crate::config::{Money, OnExhaust, Prefer};
use crate::devices::{self, Identity};

/// Largest non-streamed answer kept to read its `usage` (bigger answers are still relayed,
/// their usage estimated).
const USAGE_SCAN_LIMIT: usize = 1 << 20;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A checked client request.
struct Admitted {
    /// The body as received: sent upstream untouched when nothing needs rewriting.
    raw: Bytes,
    /// The output caps it sets.
    caps: OutputCaps,
    /// The `model` the client asked for.
    model: String,
    /// `stream: true`.
    stream: bool,
    /// The client itself asked for `stream_options.include_usage`.
    client_wants_usage: bool,
    /// Path after `/v1` (`/chat/completions`, ...).
    suffix: &'static str,
    /// `X-Hearth-Prefer`.
    prefer: Option<Prefer>,
    /// Request body size.
    bytes_up: u64,
}

/// Serves a `POST /v1/...` request.
pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    peer: SocketAddr,
    suffix: &'static str,
) -> Response<ClientBody> {
    let started = Instant::now();
    let who = identify(&shared, peer);
    let admitted = match admit(&shared, req, suffix).await {
        Ok(a) => a,
        Err(e) => {
            log::debug!("llm rejected request from {}: {e}", who.ip);
            let mut s = PendingSettlement::new(shared.clone(), &who, "-".into(), 0, started);
            s.outcome = Outcome::Rejected;
            s.finish();
            return e.response();
        }
    };
    forward(shared, who, admitted, started).await
}

/// `identify`: who is asking (loopback clients are the router itself: no neighbour entry).
fn identify(shared: &Shared, peer: SocketAddr) -> Identity {
    let ip = devices::canonical(peer.ip());
    let lookup = shared.neighbors.as_ref().filter(|_| !ip.is_loopback());
    let mac = lookup.and_then(|n| (n.mac)(ip));
    let mut who = devices::identify(&shared.config, ip, mac);
    who.hostname = lookup.zip(who.mac).and_then(|(n, m)| (n.hostname)(m));
    who
}

/// `admit`: content type, size, JSON, `model`.
async fn admit(
    shared: &Shared,
    req: Request<Incoming>,
    suffix: &'static str,
) -> Result<Admitted, ProxyError> {
    let ct_ok = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        })
        .unwrap_or(false);
    if !ct_ok {
        return Err(ProxyError::bad_request(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the request body as JSON with 'Content-Type: application/json'",
        ));
    }
    let prefer = req
        .headers()
        .get("x-hearth-prefer")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| match v.trim().to_ascii_lowercase().as_str() {
            "cost" => Some(Prefer::Cost),
            "latency" => Some(Prefer::Latency),
            "quality" => Some(Prefer::Quality),
            _ => None,
        });
    let max = shared.max_body();
    let limited = Limited::new(req.into_body(), max);
    let body_timeout = shared.body_timeout();
    let bytes = match tokio::time::timeout(body_timeout, limited.collect()).await {
        Err(_) => {
            return Err(ProxyError::bad_request(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request body did not arrive within {}s (body_timeout)",
                    body_timeout.as_secs()
                ),
            ))
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(ProxyError::bad_request(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                format!("the request body is larger than max_body ({max} bytes)"),
            ))
        }
        Ok(Err(e)) => {
            return Err(ProxyError::bad_request(
                StatusCode::BAD_REQUEST,
                "bad_body",
                format!("could not read the request body: {e}"),
            ))
        }
        Ok(Ok(c)) => c.to_bytes(),
    };
    let Inspected {
        model,
        stream,
        client_wants_usage,
        caps,
    } = inspect(&bytes)?;
    Ok(Admitted {
        caps,
        model,
        stream,
        client_wants_usage,
        suffix,
        prefer,
        bytes_up: bytes.len() as u64,
        raw: bytes,
    })
}

/// Checks a request body: a JSON object with a non-empty string `model`; reads `stream`,
/// `stream_options.include_usage` and the output caps without building a tree
/// ([`super::inspect`]). Pure (fuzzed: `agent/fuzz`).
pub fn inspect(bytes: &[u8]) -> Result<Inspected, ProxyError> {
    super::inspect::inspect(bytes).map_err(|r| match r {
        Refusal::InvalidJson(e) => ProxyError::bad_request(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the request body is not valid JSON: {e}"),
        ),
        Refusal::NotObject => ProxyError::bad_request(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the request body must be a JSON object",
        ),
        Refusal::InvalidModel => ProxyError::bad_request(
            StatusCode::BAD_REQUEST,
            "invalid_model",
            "'model' must be a non-empty string",
        ),
        Refusal::MissingModel => ProxyError::bad_request(
            StatusCode::BAD_REQUEST,
            "missing_model",
            "the request has no 'model'; GET /v1/models lists what is available",
        ),
    })
}

/// The body with `model` set to `model` and, for a stream, `stream_options.include_usage`
/// on (the usage is needed to settle). Parsed into a tree only here, when a rewrite is due.
fn rewrite_body(raw: &[u8], model: &str, stream: bool) -> Result<Bytes, ProxyError> {
    let mut body: serde_json::Value = serde_json::from_slice(raw).map_err(|e| {
        // Inspection skips nested parts without serde_json's nesting limit; a tree has one.
        ProxyError::bad_request(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    if let Some(obj) = body.as_object_mut() {
        obj.insert("model".into(), model.into());
        if stream {
            let opts = obj
                .entry("stream_options")
                .or_insert_with(|| serde_json::json!({}));
            if let Some(o) = opts.as_object_mut() {
                o.insert("include_usage".into(), true.into());
            }
        }
    }
    Ok(Bytes::from(body.to_string()))
}

/// The request as sent to one upstream (headers and URI prepared per endpoint at start).
fn upstream_request(
    up: &Upstream,
    suffix: &str,
    body: &Bytes,
    stream: bool,
) -> Result<Request<Full<Bytes>>, ProxyError> {
    let cannot = |why: String| {
        ProxyError::internal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "bad_upstream_url",
            format!("endpoint '{}': cannot build request: {why}", up.name()),
        )
    };
    let uri = up.uri_for(suffix).map_err(|e| cannot(e.to_string()))?;
    let mut req = Request::new(Full::new(body.clone()));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = uri;
    let h = req.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::ACCEPT,
        HeaderValue::from_static(if stream {
            "text/event-stream"
        } else {
            "application/json"
        }),
    );
    match (&up.api_key, &up.auth_header) {
        (Some(_), Some(v)) => {
            h.insert(header::AUTHORIZATION, v.clone());
        }
        (Some(_), None) => {
            return Err(cannot(
                "its API key holds characters an HTTP header cannot carry".into(),
            ))
        }
        (None, _) => {}
    }
    Ok(req)
}

fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// `route` + `forward`: pick upstreams in the strategy's order and send the request to the
/// first that answers without a retryable failure.
async fn forward(
    shared: Arc<Shared>,
    who: Identity,
    req: Admitted,
    started: Instant,
) -> Response<ClientBody> {
    let cfg = shared.config.clone();
    // Settled however this ends — also if the client hangs up while we wait for an upstream
    // (then this future is dropped and the guard settles it as client_gone).
    let mut settlement = PendingSettlement::new(
        shared.clone(),
        &who,
        req.model.clone(),
        req.bytes_up,
        started,
    );
    let resolution = match route::resolve(
        &cfg,
        RouteQuery {
            model: &req.model,
            group: &who.group,
            prefer: req.prefer,
        },
    ) {
        Ok(r) => r,
        Err(available) => {
            let e = ProxyError::bad_request(
                StatusCode::NOT_FOUND,
                "model_not_found",
                format!(
                    "the model '{}' is not served here; available: {}",
                    req.model,
                    available.join(", ")
                ),
            );
            settlement.outcome = Outcome::Rejected;
            settlement.finish();
            return e.response();
        }
    };
    // Budgets: reserve the worst case at the first candidate's prices; when a budget is used
    // up, deny or take the downgrade route, as the device's group says.
    let payer = Payer {
        device: who.device.clone(),
        group: who.group.clone(),
    };
    let max_out = output_cap(&req.caps, req.suffix, shared.default_max_tokens());
    // A device flagged for a spend anomaly (with anomaly_shift) goes to the cheapest endpoint.
    let mut resolution = resolution;
    if let (Some(b), Some(d)) = (&shared.budgets, &who.device) {
        if b.shifted(d) {
            resolution.strategy = crate::config::Strategy::Cost;
        }
    }
    let est_in = input_estimate(req.raw.len());
    let (mut pool, mut order) = match candidates(&shared, &resolution, &who) {
        Ok(p) => p,
        Err(e) => {
            settlement.finish();
            return e.response();
        }
    };
    let mut downgraded: Option<String> = None;
    if let Some(budgets) = shared.budgets.clone() {
        let first = order.first().map(|&i| pool[i].clone());
        let need = |u: Option<&Arc<Upstream>>| worst_case(u, est_in, max_out);
        let now = crate::budget::now();
        match budgets.reserve(&payer, need(first.as_ref()), now) {
            Ok(id) => settlement.reservation = Some(id),
            Err(ex) => {
                let currency = cfg.agent.currency.clone();
                let over = |ex: &crate::budget::Exhausted| {
                    ProxyError::over_budget(ex, &currency, crate::budget::now())
                };
                let (mode, route_name) = crate::budget::on_exhaust(&cfg, &payer);
                let down = (mode == OnExhaust::Downgrade)
                    .then_some(route_name)
                    .flatten()
                    .and_then(|r| route::resolve_named(&cfg, &r, &req.model));
                let Some(down) = down else {
                    log::info!(
                        "llm over budget: {} ({}): {}",
                        who.ip,
                        payer.group,
                        ex.message(&currency)
                    );
                    settlement.outcome = Outcome::OverBudget;
                    settlement.finish();
                    return over(&ex).response();
                };
                match candidates(&shared, &down, &who) {
                    Ok((p, o)) => {
                        let first = o.first().map(|&i| p[i].clone());
                        match budgets.reserve(&payer, need(first.as_ref()), now) {
                            Ok(id) => {
                                settlement.reservation = Some(id);
                                downgraded = Some(ex.name());
                                (pool, order, resolution) = (p, o, down);
                            }
                            Err(ex2) => {
                                settlement.outcome = Outcome::OverBudget;
                                settlement.finish();
                                return over(&ex2).response();
                            }
                        }
                    }
                    Err(e) => {
                        settlement.finish();
                        return e.response();
                    }
                }
            }
        }
    }
    settlement.downgraded = downgraded.clone();

    settlement.model = resolution.upstream_model.clone();
    let rewrite = resolution.upstream_model != req.model || (req.stream && !req.client_wants_usage);
    let body = if rewrite {
        match rewrite_body(&req.raw, &resolution.upstream_model, req.stream) {
            Ok(b) => b,
            Err(e) => {
                settlement.outcome = Outcome::Rejected;
                settlement.finish();
                return e.response();
            }
        }
    } else {
        req.raw.clone()
    };
    settlement.bytes_up = body.len() as u64;
    let deadline = started + shared.request_timeout();
    let attempts = 1 + shared.retries() as usize;
    let mut last: Option<ProxyError> = None;
    let mut all_429 = true;
    let mut min_retry_after: Option<u64> = None;

    let mut held_at: Option<(Option<Money>, Option<Money>)> = order
        .first()
        .map(|&i| (pool[i].endpoint.price_input, pool[i].endpoint.price_output));
    for (n, &i) in order.iter().take(attempts).enumerate() {
        let up = &pool[i];
        settlement.endpoint = Some(up.name().to_string());
        settlement.failovers = n as u32;
        // Another endpoint, other prices: the reservation follows (or this one is skipped).
        let prices = (up.endpoint.price_input, up.endpoint.price_output);
        if let (Some(b), Some(id)) = (&shared.budgets, settlement.reservation) {
            if held_at != Some(prices) {
                if let Err(ex) = b.rebase(
                    id,
                    worst_case(Some(up), est_in, max_out),
                    crate::budget::now(),
                ) {
                    last = Some(ProxyError::over_budget(
                        &ex,
                        &cfg.agent.currency,
                        crate::budget::now(),
                    ));
                    all_429 = false;
                    continue;
                }
                held_at = Some(prices);
            }
        }
        // Full endpoints are skipped while others remain; the last candidate waits its turn.
        let permit = match up.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) if n + 1 < attempts.min(order.len()) => {
                last = Some(ProxyError::upstream(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "upstream_busy",
                    format!("endpoint '{}' is at max_connections", up.name()),
                ));
                all_429 = false;
                continue;
            }
            Err(_) => {
                match tokio::time::timeout_at(deadline.into(), up.permits.clone().acquire_owned())
                    .await
                {
                    Ok(Ok(p)) => p,
                    _ => {
                        last = Some(ProxyError::upstream(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "upstream_busy",
                            format!("endpoint '{}' stayed at max_connections", up.name()),
                        ));
                        all_429 = false;
                        break;
                    }
                }
            }
        };
        let upstream_req = match upstream_request(up, req.suffix, &body, req.stream) {
            Ok(r) => r,
            Err(e) => {
                last = Some(e);
                all_429 = false;
                continue;
            }
        };
        let guard = up.begin();
        let sent = Instant::now();
        let result =
            tokio::time::timeout_at(deadline.into(), shared.client.request(upstream_req)).await;
        let resp = match result {
            Err(_) => {
                up.record_failure();
                shared.metrics.upstream_error(up.name(), "timeout");
                log::warn!("endpoint '{}': no answer within request_timeout", up.name());
                last = Some(ProxyError::upstream(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    format!("endpoint '{}' did not answer in time", up.name()),
                ));
                all_429 = false;
                break; // the deadline is spent for every upstream
            }
            Ok(Err(e)) => {
                up.record_failure();
                shared.metrics.upstream_error(up.name(), "connect");
                log::warn!("endpoint '{}': {}", up.name(), describe(&e));
                last = Some(ProxyError::upstream(
                    StatusCode::BAD_GATEWAY,
                    "upstream_unreachable",
                    format!("endpoint '{}' could not be reached", up.name()),
                ));
                all_429 = false;
                continue;
            }
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let ra = retry_after(resp.headers());
            log::warn!(
                "endpoint '{}' answered {status}{}; trying the next one",
                up.name(),
                ra.map(|s| format!(" (retry after {s}s)"))
                    .unwrap_or_default()
            );
            if status == StatusCode::TOO_MANY_REQUESTS {
                up.record_rate_limited(ra);
                shared.metrics.upstream_error(up.name(), "rate_limited");
                if let Some(s) = ra {
                    min_retry_after = Some(min_retry_after.map_or(s, |m: u64| m.min(s)));
                }
            } else {
                up.record_failure();
                shared.metrics.upstream_error(up.name(), "server_error");
                all_429 = false;
            }
            let mut e = ProxyError::upstream(
                if status == StatusCode::TOO_MANY_REQUESTS {
                    status
                } else {
                    StatusCode::BAD_GATEWAY
                },
                if status == StatusCode::TOO_MANY_REQUESTS {
                    "upstream_rate_limited"
                } else {
                    "upstream_error"
                },
                format!("endpoint '{}' answered {status}", up.name()),
            );
            e.retry_after = ra;
            last = Some(e);
            continue;
        }
        let ttfb = sent.elapsed();
        up.observe_ttfb(ttfb);
        up.record_success();
        settlement.ttfb = Some(ttfb);
        if !status.is_success() {
            settlement.outcome = Outcome::UpstreamRefused;
        }
        return relay(
            shared.clone(),
            resp,
            RelayParts {
                settlement: settlement.take(),
                downgraded,
                endpoint: up.clone(),
                stream: req.stream,
                strip_usage: req.stream && !req.client_wants_usage,
                deadline,
                started,
                sent,
                guard,
                permit,
            },
        );
    }

    let mut e = last.unwrap_or_else(|| {
        ProxyError::internal(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_upstream",
            format!(
                "no usable endpoint serves '{}' right now",
                resolution.upstream_model
            ),
        )
    });
    if all_429 && e.status == StatusCode::TOO_MANY_REQUESTS {
        e.retry_after = min_retry_after;
        e.message = format!(
            "every endpoint for '{}' is rate limited; retry later",
            resolution.upstream_model
        );
    } else if e.source == super::error::Source::Upstream {
        e.message = format!(
            "no endpoint for '{}' could answer (last: {})",
            resolution.upstream_model, e.message
        );
    }
    settlement.finish();
    e.response()
}

/// A request's settlement until it is handed to the relay or settled; dropping it settles it
/// as `client_gone` (the client left while hearth was still waiting for an upstream).
struct PendingSettlement {
    /// Where it goes.
    shared: Arc<Shared>,
    /// For the duration.
    started: Instant,
    /// `Some` until taken or settled.
    s: Option<Settlement>,
}

impl PendingSettlement {
    fn new(
        shared: Arc<Shared>,
        who: &Identity,
        model: String,
        bytes_up: u64,
        started: Instant,
    ) -> Self {
        PendingSettlement {
            shared,
            started,
            s: Some(Settlement {
                client: who.ip,
                host: who.hostname.clone(),
                device: who.device.clone(),
                group: who.group.clone(),
                endpoint: None,
                model,
                usage: Usage::default(),
                cost: Money(0),
                bytes_up,
                bytes_down: 0,
                ttfb: None,
                duration: Duration::ZERO,
                outcome: Outcome::Failed,
                failovers: 0,
                reservation: None,
                downgraded: None,
            }),
        }
    }

    /// Settles now with the outcome set so far.
    fn finish(mut self) {
        if let Some(mut s) = self.s.take() {
            s.duration = self.started.elapsed();
            self.shared.settle(s);
        }
    }

    /// Hands the settlement on (to the relay, which settles it when the answer ends).
    fn take(mut self) -> Settlement {
        // Invariant: `s` is only emptied by `finish`/`take`, which consume the guard.
        self.s.take().expect("settlement present until taken")
    }
}

impl std::ops::Deref for PendingSettlement {
    type Target = Settlement;
    fn deref(&self) -> &Settlement {
        self.s.as_ref().expect("settlement present until taken")
    }
}

impl std::ops::DerefMut for PendingSettlement {
    fn deref_mut(&mut self) -> &mut Settlement {
        self.s.as_mut().expect("settlement present until taken")
    }
}

impl Drop for PendingSettlement {
    fn drop(&mut self) {
        if let Some(mut s) = self.s.take() {
            s.outcome = Outcome::ClientGone;
            s.duration = self.started.elapsed();
            self.shared.settle(s);
        }
    }
}

/// The usable upstreams of `res` and the order the strategy tries them in; `Err` when every
/// one of them asked us to wait (their soonest `Retry-After` is passed on).
fn candidates(
    shared: &Shared,
    res: &route::Resolution,
    who: &Identity,
) -> Result<(Vec<Arc<Upstream>>, Vec<usize>), ProxyError> {
    let usable: Vec<&Arc<Upstream>> = res
        .pool
        .iter()
        .filter_map(|&i| shared.upstreams.get(i))
        .filter(|u| u.unusable.is_none())
        .collect();
    let mut pool: Vec<Arc<Upstream>> = usable
        .iter()
        .filter(|u| u.available())
        .map(|u| (*u).clone())
        .collect();
    if pool.is_empty() && !usable.is_empty() {
        let out: Vec<(f64, Ejection)> = usable.iter().filter_map(|u| u.ejection()).collect();
        if out.len() == usable.len() && out.iter().all(|(_, why)| *why == Ejection::RateLimited) {
            // Every upstream asked us to wait: pass that on rather than knock again.
            let wait = out
                .iter()
                .map(|(s, _)| *s)
                .fold(f64::INFINITY, f64::min)
                .ceil()
                .max(1.0) as u64;
            let mut e = ProxyError::upstream(
                StatusCode::TOO_MANY_REQUESTS,
                "upstream_rate_limited",
                format!(
                    "every endpoint for '{}' is rate limited; retry in {wait}s",
                    res.upstream_model
                ),
            );
            e.retry_after = Some(wait);
            return Err(e);
        }
        // Out after failures: rather than fail blindly, try the one due back soonest (the
        // likeliest to have recovered; rate-limited ones keep their wait).
        if let Some(u) = usable
            .iter()
            .filter(|u| {
                u.ejection()
                    .is_none_or(|(_, why)| why != Ejection::RateLimited)
            })
            .min_by(|a, b| {
                let (ea, eb) = (
                    a.ejection().map_or(0.0, |e| e.0),
                    b.ejection().map_or(0.0, |e| e.0),
                );
                ea.total_cmp(&eb)
            })
        {
            log::warn!(
                "every endpoint for '{}' is out of rotation; trying '{}', which is due back soonest",
                res.upstream_model,
                u.name()
            );
            pool.push((*u).clone());
        }
    }
    let cands: Vec<_> = pool.iter().map(|u| u.candidate()).collect();
    let order = shared.rank(res, &who.key(), &cands);
    Ok((pool, order))
}

/// Input tokens assumed for a body of `bytes`: one per 3 bytes, rounded up. English runs
/// near 4 bytes a token and the JSON around the messages is not tokenised at all, so this
/// errs high; the real count replaces it at settlement.
pub fn input_estimate(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(3)
}

/// Output tokens a request may produce: `max_completion_tokens` or `max_tokens` (else the
/// configured default), times `n` choices; embeddings produce none.
pub fn output_cap(caps: &OutputCaps, suffix: &str, default: u64) -> u64 {
    if suffix == "/embeddings" {
        return 0;
    }
    let cap = caps
        .max_completion_tokens
        .or(caps.max_tokens)
        .unwrap_or(default);
    let n = caps.n.unwrap_or(1).clamp(1, 128);
    cap.saturating_mul(n)
}

/// The most a request may cost at `up`'s prices (an endpoint without prices counts as free:
/// the config requires prices whenever a money budget exists).
fn worst_case(up: Option<&Arc<Upstream>>, est_in: u64, max_out: u64) -> Amount {
    let usage = Usage {
        prompt_tokens: est_in,
        completion_tokens: max_out,
        estimated: true,
    };
    Amount {
        money: up
            .and_then(|u| settle::cost(&u.endpoint, usage))
            .map_or(0, |m| m.0),
        tokens: est_in + max_out,
    }
}

/// A one-line reason for a client error, with its cause chain.
fn describe(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// What the relay needs besides the upstream response.
struct RelayParts {
    settlement: Settlement,
    /// The budget that sent this request to the downgrade route (a response header).
    downgraded: Option<String>,
    endpoint: Arc<Upstream>,
    stream: bool,
    strip_usage: bool,
    deadline: Instant,
    started: Instant,
    sent: Instant,
    guard: InFlight,
    permit: OwnedSemaphorePermit,
}

/// Builds the client response around the upstream's body.
fn relay(shared: Arc<Shared>, resp: Response<Incoming>, parts: RelayParts) -> Response<ClientBody> {
    let (head, body) = resp.into_parts();
    let is_sse = head
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    // Error answers may quote the key hearth sent (the client never had it): replaced.
    let redact = parts
        .endpoint
        .api_key
        .as_deref()
        .filter(|_| !head.status.is_success())
        .and_then(Redactor::new);
    let hides_key = |v: &HeaderValue| {
        parts
            .endpoint
            .api_key
            .as_deref()
            .is_some_and(|k| super::redact::contains(v.as_bytes(), k.as_bytes()))
    };
    let mut out = Response::builder().status(head.status);
    for name in [header::CONTENT_TYPE, header::CACHE_CONTROL] {
        if let Some(v) = head.headers.get(&name).filter(|v| !hides_key(v)) {
            out = out.header(name, v.clone());
        }
    }
    for (name, v) in &head.headers {
        if (name.as_str().starts_with("x-ratelimit-") || name.as_str().starts_with("openai-"))
            && !hides_key(v)
        {
            out = out.header(name, v.clone());
        }
    }
    if let Some(v) = &parts.endpoint.name_header {
        out = out.header("x-hearth-endpoint", v.clone());
    }
    if let Some(v) = parts
        .downgraded
        .as_deref()
        .and_then(|d| HeaderValue::from_str(d).ok())
    {
        out = out.header("x-hearth-downgraded", v);
    }
    let relay = Relay {
        inner: body,
        sse: (parts.stream && is_sse).then(|| SseFilter::new(parts.strip_usage)),
        scan: (!is_sse).then(BytesMut::new),
        redact,
        deadline: Box::pin(tokio::time::sleep_until(parts.deadline.into())),
        tail: None,
        finished: false,
        outcome: None,
        settlement: Some(parts.settlement),
        endpoint: parts.endpoint,
        started: parts.started,
        sent: Some(parts.sent),
        shared,
        _guard: parts.guard,
        _permit: parts.permit,
    };
    out.body(ClientBody::new(relay)).unwrap_or_else(|e| {
        ProxyError::internal(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            .response()
    })
}

/// The client's response body: the upstream's bytes as they arrive, an error event if the
/// upstream breaks mid-stream, and the settlement when it ends (or is dropped).
struct Relay {
    /// The upstream body.
    inner: Incoming,
    /// For streams: event-aware filtering and usage capture.
    sse: Option<SseFilter>,
    /// For plain JSON: a copy (up to a limit) to read `usage` at the end.
    scan: Option<BytesMut>,
    /// For error answers from an endpoint with a key: replaces the key in what is relayed.
    redact: Option<Redactor>,
    /// `request_timeout` for the whole exchange.
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// Bytes still to send after the upstream ended (held-back rest, error event).
    tail: Option<Bytes>,
    /// No more frames will be produced.
    finished: bool,
    /// How it ended, once known.
    outcome: Option<Outcome>,
    /// Filled in and handed to the settle hook exactly once.
    settlement: Option<Settlement>,
    /// Prices, name.
    endpoint: Arc<Upstream>,
    /// For the duration.
    started: Instant,
    /// When the request went upstream; taken at the first streamed event (time to first token).
    sent: Option<Instant>,
    /// The settle hook.
    shared: Arc<Shared>,
    /// Keeps the request counted as in flight until the body is done.
    _guard: InFlight,
    /// Keeps a `max_connections` slot until the body is done.
    _permit: OwnedSemaphorePermit,
}

impl Relay {
    fn count(&mut self, n: usize) {
        if let Some(s) = &mut self.settlement {
            s.bytes_down += n as u64;
        }
    }

    /// Ends the stream because of `err`: streams get an error event, JSON is cut.
    fn fail(&mut self, outcome: Outcome, err: ProxyError) -> Option<Bytes> {
        self.outcome = Some(outcome);
        match &mut self.sse {
            Some(f) => {
                let mut b = BytesMut::from(&f.finish()[..]);
                b.extend_from_slice(&err.sse_event());
                Some(b.freeze())
            }
            None => None,
        }
    }

    fn settle(&mut self) {
        let Some(mut s) = self.settlement.take() else {
            return;
        };
        let outcome = self.outcome.unwrap_or(Outcome::ClientGone);
        if s.outcome != Outcome::UpstreamRefused || outcome != Outcome::Complete {
            s.outcome = outcome;
        }
        let (usage, output_bytes) = match (&self.sse, &self.scan) {
            (Some(f), _) => (f.usage, f.content_bytes),
            (None, Some(buf)) => {
                match super::sse::usage_in(buf) {
                    // The common case: the answer says its usage; no need to parse all of it.
                    Some(u) => (Some(u), 0),
                    None => {
                        let v: Option<serde_json::Value> = serde_json::from_slice(buf).ok();
                        (None, v.map_or(buf.len() as u64, |v| answer_bytes(&v)))
                    }
                }
            }
            (None, None) => (None, 0),
        };
        s.usage = usage.unwrap_or_else(|| Usage::estimate(s.bytes_up, output_bytes));
        s.cost = settle::cost(&self.endpoint.endpoint, s.usage).unwrap_or(Money(0));
        s.duration = self.started.elapsed();
        self.shared.settle(s);
    }
}

/// Bytes of generated text in a non-streamed answer (for estimates).
fn answer_bytes(v: &serde_json::Value) -> u64 {
    v.get("choices")
        .and_then(|c| c.as_array())
        .map(|cs| {
            cs.iter()
                .filter_map(|c| {
                    c.pointer("/message/content")
                        .or_else(|| c.get("text"))
                        .and_then(|t| t.as_str())
                })
                .map(|t| t.len() as u64)
                .sum()
        })
        .unwrap_or(0)
}

impl Relay {
    /// The upstream's bytes go to the client unchanged (no event filtering, no redaction), so
    /// the upstream's length is the client's: the answer keeps its Content-Length instead of
    /// being re-chunked (one write per answer instead of two, and no chunk framing).
    fn passes_through(&self) -> bool {
        self.sse.is_none() && self.redact.is_none()
    }
}

impl Body for Relay {
    type Data = Bytes;
    type Error = BoxError;

    fn size_hint(&self) -> http_body::SizeHint {
        if self.passes_through() && !self.finished && self.tail.is_none() {
            self.inner.size_hint()
        } else {
            http_body::SizeHint::default()
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished && self.tail.is_none() && self.settlement.is_none()
    }

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if let Some(t) = this.tail.take() {
                if !t.is_empty() {
                    this.count(t.len());
                    return Poll::Ready(Some(Ok(Frame::data(t))));
                }
            }
            if this.finished {
                this.settle();
                return Poll::Ready(None);
            }
            if this.deadline.as_mut().poll(cx).is_ready() {
                this.finished = true;
                let e = ProxyError::upstream(
                    StatusCode::GATEWAY_TIMEOUT,
                    "request_timeout",
                    format!(
                        "the answer from '{}' took longer than request_timeout",
                        this.endpoint.name()
                    ),
                );
                match this.fail(Outcome::TimedOut, e) {
                    Some(t) => {
                        this.tail = Some(t);
                        continue;
                    }
                    None => {
                        this.settle();
                        return Poll::Ready(Some(Err("request_timeout".into())));
                    }
                }
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers: not used by this API
                    };
                    let out = match (&mut this.sse, &mut this.scan) {
                        (Some(f), _) => f.feed(data),
                        (None, Some(buf)) => {
                            if buf.len() + data.len() <= USAGE_SCAN_LIMIT {
                                buf.extend_from_slice(&data);
                            }
                            data
                        }
                        (None, None) => data,
                    };
                    let out = match &mut this.redact {
                        Some(r) => r.push(&out),
                        None => out,
                    };
                    if this.sse.is_some() {
                        if let Some(sent) = this.sent.take() {
                            this.endpoint.record_first_token(sent.elapsed());
                        }
                    }
                    if this.passes_through() && this.inner.is_end_stream() {
                        // The upstream's Content-Length is used up: the answer is complete.
                        // Settle now, because with a known length hyper may end the response
                        // without polling for the end of the body.
                        this.finished = true;
                        this.outcome = Some(Outcome::Complete);
                        this.count(out.len());
                        this.settle();
                        if out.is_empty() {
                            return Poll::Ready(None);
                        }
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                    if out.is_empty() {
                        continue;
                    }
                    this.count(out.len());
                    return Poll::Ready(Some(Ok(Frame::data(out))));
                }
                Poll::Ready(Some(Err(e))) => {
                    this.endpoint.record_failure();
                    this.shared
                        .metrics
                        .upstream_error(this.endpoint.name(), "broken");
                    log::warn!(
                        "endpoint '{}' broke off its answer: {}",
                        this.endpoint.name(),
                        describe(&e)
                    );
                    this.finished = true;
                    let err = ProxyError::upstream(
                        StatusCode::BAD_GATEWAY,
                        "upstream_broke",
                        format!("the answer from '{}' broke off", this.endpoint.name()),
                    );
                    match this.fail(Outcome::Broken, err) {
                        Some(t) => this.tail = Some(t),
                        None => {
                            this.settle();
                            return Poll::Ready(Some(Err(Box::new(e))));
                        }
                    }
                }
                Poll::Ready(None) => {
                    this.finished = true;
                    let ended_early = this.sse.as_ref().is_some_and(|f| !f.done);
                    if ended_early {
                        this.endpoint.record_failure();
                        this.shared
                            .metrics
                            .upstream_error(this.endpoint.name(), "broken");
                        let err = ProxyError::upstream(
                            StatusCode::BAD_GATEWAY,
                            "upstream_broke",
                            format!(
                                "the stream from '{}' ended without [DONE]",
                                this.endpoint.name()
                            ),
                        );
                        this.tail = this.fail(Outcome::Broken, err);
                    } else {
                        this.outcome = Some(Outcome::Complete);
                        let held = this.redact.as_mut().map(|r| r.finish());
                        let sse = this.sse.as_mut().map(|f| f.finish());
                        this.tail = match (held, sse) {
                            (Some(h), Some(e)) => Some([h, e].concat().into()),
                            (h, e) => h.or(e),
                        };
                    }
                }
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // The client went away (or the server is shutting down): still account for it.
        self.settle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_case_output_follows_the_request_caps() {
        // The caps as inspection reads them from a body that also has a model.
        let j = |fields: &str| {
            let body = match fields.trim_matches(['{', '}', ' ']) {
                "" => r#"{"model":"m"}"#.to_string(),
                f => format!(r#"{{"model":"m",{f}}}"#),
            };
            inspect(body.as_bytes())
                .map(|i| i.caps)
                .expect("valid body")
        };
        assert_eq!(
            output_cap(&j(r#"{"max_tokens": 50}"#), "/chat/completions", 4096),
            50
        );
        // The newer name wins; n multiplies.
        assert_eq!(
            output_cap(
                &j(r#"{"max_tokens": 50, "max_completion_tokens": 70, "n": 3}"#),
                "/chat/completions",
                4096
            ),
            210
        );
        assert_eq!(output_cap(&j(r#"{}"#), "/completions", 4096), 4096);
        assert_eq!(
            output_cap(&j(r#"{"max_tokens": 50}"#), "/embeddings", 4096),
            0
        );
        // Nonsense values fall back to the default, n is bounded.
        assert_eq!(
            output_cap(
                &j(r#"{"max_tokens": -1, "n": 1000}"#),
                "/chat/completions",
                10
            ),
            1280
        );
        assert_eq!(input_estimate(0), 0);
        assert_eq!(input_estimate(10), 4);
    }
}
