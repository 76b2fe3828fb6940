//! A scriptable fake OpenAI-compatible upstream, to put behind hearth's LLM balancer.
//!
//! [`FakeUpstream::start`] binds `127.0.0.1:0` and answers `POST /v1/chat/completions`,
//! `POST /v1/completions`, `POST /v1/embeddings` and `GET /v1/models` with OpenAI-shaped JSON or
//! server-sent events. Each inference request takes the next [`Behaviour`] from a queue
//! ([`FakeUpstream::push`]) or, when the queue is empty, the default
//! ([`FakeUpstream::set_default`]): a normal answer, a paced stream, an error status, a reset,
//! a stall, a stream cut in the middle. Every request is recorded ([`FakeUpstream::requests`])
//! with its headers, body, parsed fields and the time each SSE event left, so tests can check
//! what hearth forwarded and compare the upstream's timing with what a client received.
//!
//! Answers name the upstream (`"hello from NAME"`, stream chunks `"NAME:tok{i} "`, the
//! `x-fake-upstream` header, error messages), so a test can tell which upstream served.
//! `GET /v1/models` does not consume queued behaviours (health probes would otherwise eat a
//! test's script); it has its own behaviour ([`FakeUpstream::set_models_behaviour`]).
//!
//! Besides the full recording, the fake keeps a small [`Tally`] per request `user` field (the
//! OpenAI parameter clients use to name the end user): requests received and the token usage it
//! reported. It costs a few integers per user, so load tests turn recording off and still know
//! exactly what the upstream itself counted.
//!
//! The `fake-upstream` binary (src/bin/fake-upstream.rs) serves the same thing for benchmarks.

mod openai;
mod server;
mod sse;

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

/// Whether a stream ends with a usage chunk (`{"choices": [], "usage": {...}}`) before
/// `data: [DONE]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UsageMode {
    /// Only when the request asked for it (`stream_options.include_usage == true`), as OpenAI.
    #[default]
    AsRequested,
    /// Always, even when not asked for (an upstream that ignores the option).
    Always,
    /// Never, even when asked for (an upstream that does not support usage in streams).
    Never,
}

/// What the fake does with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// A normal answer by path: JSON, or for a request with `"stream": true` to a completion
    /// endpoint, an immediate stream of 3 content chunks with usage as requested.
    Ok,
    /// Server-sent events (whatever the request's `stream` says, on the completion endpoints;
    /// embeddings and models answer as [`Behaviour::Ok`]): a role chunk at once, `chunks`
    /// content chunks each `delay` after the previous event, a finish chunk, the usage chunk
    /// per `usage`, then `data: [DONE]`.
    Stream {
        /// Number of content chunks.
        chunks: usize,
        /// Gap before each content chunk.
        delay: Duration,
        /// Whether the usage chunk is sent.
        usage: UsageMode,
    },
    /// An error status with an OpenAI-shaped error body, or `body` verbatim (sent as
    /// `application/json` when it parses as JSON, `text/plain` otherwise). A code outside
    /// 100..=999 is answered as 500.
    Status {
        /// HTTP status code.
        code: u16,
        /// `Retry-After` header, in seconds.
        retry_after: Option<u64>,
        /// Body instead of the OpenAI-shaped error.
        body: Option<String>,
    },
    /// Read the request, then close the connection without any response.
    Reset,
    /// Read the request, wait, then answer as [`Behaviour::Ok`] (no byte is sent before).
    StallBeforeHeaders(Duration),
    /// Start a stream (headers, role chunk, `after_chunks` content chunks), then abort the
    /// connection: no finish chunk, no `[DONE]`, no terminating HTTP chunk.
    DropMidStream {
        /// Content chunks sent before the abort.
        after_chunks: usize,
    },
    /// Like [`Behaviour::Stream`] with usage as requested, but every event, the role chunk and
    /// `[DONE]` included, comes `delay` after the previous one (headers are sent at once).
    SlowDrip {
        /// Number of content chunks.
        chunks: usize,
        /// Gap before every event.
        delay: Duration,
    },
}

impl Behaviour {
    /// A stream of `chunks` content chunks `delay` apart, usage as requested.
    pub fn stream(chunks: usize, delay: Duration) -> Behaviour {
        Behaviour::Stream {
            chunks,
            delay,
            usage: UsageMode::AsRequested,
        }
    }

    /// An error status with the OpenAI-shaped body and no `Retry-After`.
    pub fn status(code: u16) -> Behaviour {
        Behaviour::Status {
            code,
            retry_after: None,
            body: None,
        }
    }

    /// A 429 with `Retry-After: retry_after` seconds.
    pub fn rate_limited(retry_after: u64) -> Behaviour {
        Behaviour::Status {
            code: 429,
            retry_after: Some(retry_after),
            body: None,
        }
    }
}

/// One server-sent event as it left the fake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentEvent {
    /// When the event was handed to hyper, which writes and flushes it right away (same
    /// monotonic clock as the test's `Instant::now()`).
    pub at: Instant,
    /// The event's payload (after `data: `): a JSON chunk or `[DONE]`.
    pub data: String,
}

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Order of arrival among all requests to this upstream, from 0.
    pub seq: usize,
    /// When the request's body had been read.
    pub received_at: Instant,
    /// HTTP method (`"POST"`, `"GET"`).
    pub method: String,
    /// Path and query, as sent (`"/v1/chat/completions"`).
    pub path: String,
    /// Request headers in order, names lowercased (includes `authorization`).
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Bytes,
    /// The body parsed as JSON, if it is JSON.
    pub json: Option<Value>,
    /// `model` of the body.
    pub model: Option<String>,
    /// Whether the body said `"stream": true`.
    pub stream: bool,
    /// `stream_options` of the body.
    pub stream_options: Option<Value>,
    /// The behaviour applied (`None` for an unknown path or a wrong method).
    pub behaviour: Option<Behaviour>,
    /// Status of the response (`None` until the headers are produced, and for a reset).
    pub status: Option<u16>,
    /// The SSE events sent, in order, with their times.
    pub events: Vec<SentEvent>,
}

impl Recorded {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the request asked for a usage chunk (`stream_options.include_usage == true`).
    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

/// What an upstream counted for one `user` (see [`FakeUpstream::tallies`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Inference requests received (whatever their behaviour was).
    pub requests: u64,
    /// Answers that reported usage: a JSON answer with `usage`, or a stream's usage chunk
    /// once it was handed to the connection.
    pub usage_reports: u64,
    /// `prompt_tokens` of those reports, summed.
    pub prompt_tokens: u64,
    /// `completion_tokens` of those reports, summed.
    pub completion_tokens: u64,
}

/// A running fake upstream. Dropping it stops it too (without waiting); [`FakeUpstream::stop`]
/// waits until it has stopped.
pub struct FakeUpstream {
    /// The bound address (`127.0.0.1:PORT` unless started with [`FakeUpstream::start_on`]).
    pub addr: SocketAddr,
    /// Script and recording, shared with the connections.
    shared: Arc<Shared>,
    /// Tells the accept loop to stop; dropping it does too.
    shutdown: oneshot::Sender<()>,
    /// The accept loop, which owns the connections.
    accept: JoinHandle<()>,
}

impl FakeUpstream {
    /// Starts an upstream named `name` on `127.0.0.1:0`. Panics if it cannot bind (a test
    /// environment without loopback).
    pub async fn start(name: &str) -> FakeUpstream {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        match FakeUpstream::start_on(addr, name).await {
            Ok(upstream) => upstream,
            Err(e) => panic!("fake upstream {name}: cannot bind {addr}: {e}"),
        }
    }

    /// Starts an upstream named `name` on `addr`.
    pub async fn start_on(addr: SocketAddr, name: &str) -> io::Result<FakeUpstream> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(name));
        let (shutdown, stop) = oneshot::channel();
        let accept = tokio::spawn(server::accept_loop(listener, Arc::clone(&shared), stop));
        Ok(FakeUpstream {
            addr,
            shared,
            shutdown,
            accept,
        })
    }

    /// The upstream's name, as its answers carry it.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The OpenAI base URL: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues `b`: the next inference requests take queued behaviours first, in order.
    pub fn push(&self, b: Behaviour) {
        self.shared.state().queue.push_back(b);
    }

    /// Number of queued behaviours not consumed yet.
    pub fn queued(&self) -> usize {
        self.shared.state().queue.len()
    }

    /// Sets the behaviour of inference requests when the queue is empty (initially
    /// [`Behaviour::Ok`]).
    pub fn set_default(&self, b: Behaviour) {
        self.shared.state().default = b;
    }

    /// Sets the behaviour of `GET /v1/models` (initially [`Behaviour::Ok`]); stream behaviours
    /// answer the list as `Ok` would.
    pub fn set_models_behaviour(&self, b: Behaviour) {
        self.shared.state().models_behaviour = b;
    }

    /// Sets the model ids `GET /v1/models` lists (initially `["fake-model"]`).
    pub fn set_models(&self, ids: Vec<String>) {
        self.shared.state().models = ids;
    }

    /// Turns recording on (the default) or off; off keeps memory flat under benchmarks.
    pub fn set_recording(&self, on: bool) {
        self.shared.state().recording = on;
    }

    /// Every request recorded so far, in order of arrival.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.state().recorded.clone()
    }

    /// Requests and reported usage per request `user` field (`""` for requests without one),
    /// counted whether recording is on or off.
    pub fn tallies(&self) -> BTreeMap<String, Tally> {
        self.shared.state().tallies.clone()
    }

    /// Number of inference requests received (each consumed a behaviour, whatever it was;
    /// `GET /v1/models` and unknown paths are not counted).
    pub fn served(&self) -> usize {
        self.shared.served.load(Ordering::SeqCst)
    }

    /// Waits until [`FakeUpstream::served`] reaches `n`, at most `within`; returns whether it
    /// did.
    pub async fn wait_served(&self, n: usize, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.shared.served_changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.served() >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.served() >= n;
            }
        }
    }

    /// Stops accepting, ends the connections in flight (streams are cut), and waits for that,
    /// at most a few seconds.
    pub async fn stop(self) {
        let FakeUpstream {
            shutdown, accept, ..
        } = self;
        let _ = shutdown.send(());
        let abort = accept.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), accept)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

/// What the connections share with the handle.
struct Shared {
    /// The upstream's name, which every answer carries.
    name: String,
    /// Script and recording, behind one lock never held across an await.
    state: Mutex<State>,
    /// Inference requests received, readable without the lock.
    served: AtomicUsize,
    /// Woken whenever `served` grows, for [`FakeUpstream::wait_served`].
    served_changed: Notify,
}

/// The mutable part of [`Shared`].
struct State {
    /// Behaviours for the next inference requests, in order.
    queue: VecDeque<Behaviour>,
    /// Behaviour of inference requests when the queue is empty.
    default: Behaviour,
    /// Behaviour of `GET /v1/models`.
    models_behaviour: Behaviour,
    /// Ids `GET /v1/models` lists.
    models: Vec<String>,
    /// Whether requests are recorded.
    recording: bool,
    /// Requests recorded, in order of arrival.
    recorded: Vec<Recorded>,
    /// `seq` of the next request.
    next_seq: usize,
    /// Requests and reported usage by the request's `user` field; kept even with recording
    /// off (a few integers per user, so memory stays flat under load).
    tallies: BTreeMap<String, Tally>,
}

impl Shared {
    fn new(name: &str) -> Shared {
        Shared {
            name: name.to_owned(),
            state: Mutex::new(State {
                queue: VecDeque::new(),
                default: Behaviour::Ok,
                models_behaviour: Behaviour::Ok,
                models: vec!["fake-model".to_owned()],
                recording: true,
                recorded: Vec::new(),
                next_seq: 0,
                tallies: BTreeMap::new(),
            }),
            served: AtomicUsize::new(0),
            served_changed: Notify::new(),
        }
    }

    /// Adds a usage report for `user` to its tally.
    fn tally_usage(&self, user: &str, prompt: u64, completion: u64) {
        let mut state = self.state();
        let t = state.tallies.entry(user.to_owned()).or_default();
        t.usage_reports += 1;
        t.prompt_tokens += prompt;
        t.completion_tokens += completion;
    }

    /// The state; a panic elsewhere while holding the lock leaves it usable (every update is
    /// a single push or assignment).
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
