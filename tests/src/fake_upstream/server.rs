//! The HTTP side of the fake: the accept loop, one hyper HTTP/1 connection per socket
//! (keep-alive), and the handler that routes a request, takes its behaviour, records it and
//! answers.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::sse::{self, Ending, EventLog, Pace, ScriptedBody, Shape, StreamScript};
use super::{openai, Behaviour, Recorded, SentEvent, Shared, UsageMode};

/// The header every answer carries, naming the upstream.
const NAME_HEADER: HeaderName = HeaderName::from_static("x-fake-upstream");

/// Accepts connections until `stop` fires (or its sender is dropped), then drops the
/// listener and aborts every connection still open.
pub(super) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Events are small writes that must leave at once.
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve(stream, Arc::clone(&shared)));
                }
                Err(e) => {
                    // Typically out of file descriptors under a benchmark: back off, not spin.
                    eprintln!("fake upstream {}: accept failed: {e}", shared.name);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// Serves one connection until the client closes it or a scripted reset or abort ends it.
async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let service = service_fn(move |request| handle(request, Arc::clone(&shared)));
    // The error says why the connection ended (client gone, scripted reset or abort): all
    // expected here.
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// A response: JSON in one piece, or a paced event stream.
type Reply = Response<Either<Full<Bytes>, ScriptedBody>>;

/// The service error that makes hyper close the connection without answering.
#[derive(Debug)]
struct Hangup;

impl fmt::Display for Hangup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fake upstream hung up as scripted")
    }
}

impl std::error::Error for Hangup {}

/// The endpoints the fake serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Chat,
    Completions,
    Embeddings,
    Models,
}

/// The endpoint of `method path`, or the status and message of the error answering it.
fn route(method: &Method, path: &str) -> Result<Endpoint, (u16, String)> {
    let endpoint = match path {
        "/v1/chat/completions" => Endpoint::Chat,
        "/v1/completions" => Endpoint::Completions,
        "/v1/embeddings" => Endpoint::Embeddings,
        "/v1/models" => Endpoint::Models,
        _ => return Err((404, format!("unknown path {path}"))),
    };
    let expected = match endpoint {
        Endpoint::Models => Method::GET,
        _ => Method::POST,
    };
    if *method != expected {
        return Err((405, format!("{path} takes {expected}, not {method}")));
    }
    Ok(endpoint)
}

/// The fields of a request body the fake looks at.
struct Fields {
    /// The body as JSON, or why it is not JSON.
    json: Result<Value, String>,
    /// `model`, when it is a string.
    model: Option<String>,
    /// `stream == true`.
    stream: bool,
    /// `stream_options`.
    stream_options: Option<Value>,
    /// `user` (the end user the client names), `""` when absent: the key of the tallies.
    user: String,
}

impl Fields {
    fn parse(body: &[u8]) -> Fields {
        let json = serde_json::from_slice::<Value>(body).map_err(|e| e.to_string());
        let ok = json.as_ref().ok();
        Fields {
            model: ok
                .and_then(|j| j.get("model"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            stream: ok.and_then(|j| j.get("stream")).and_then(Value::as_bool) == Some(true),
            stream_options: ok.and_then(|j| j.get("stream_options")).cloned(),
            user: ok
                .and_then(|j| j.get("user"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            json,
        }
    }

    fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            == Some(true)
    }
}

/// What one request is, once admitted: enough to answer it and to update its record.
struct Exchange {
    /// The upstream's script and recording.
    shared: Arc<Shared>,
    /// The request's order of arrival (ids of answers carry it).
    seq: usize,
    /// Index of its record, when recording is on.
    slot: Option<usize>,
    /// Length of its body, for `prompt_tokens`.
    body_len: usize,
    /// Its parsed body.
    fields: Fields,
}

async fn handle(request: Request<Incoming>, shared: Arc<Shared>) -> Result<Reply, Hangup> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|_| Hangup)?.to_bytes();
    let received_at = Instant::now();
    let route = route(&parts.method, parts.uri.path());
    let fields = Fields::parse(&body);

    // Take the behaviour and record the request under one lock, so the order of records is
    // the order in which behaviours were consumed.
    let (seq, slot, admitted) = {
        let mut state = shared.state();
        let admitted = route.map(|endpoint| {
            let behaviour = match endpoint {
                Endpoint::Models => state.models_behaviour.clone(),
                _ => match state.queue.pop_front() {
                    Some(queued) => queued,
                    None => state.default.clone(),
                },
            };
            (endpoint, behaviour)
        });
        let seq = state.next_seq;
        state.next_seq += 1;
        if matches!(admitted, Ok((e, _)) if e != Endpoint::Models) {
            state
                .tallies
                .entry(fields.user.clone())
                .or_default()
                .requests += 1;
        }
        let slot = state.recording.then(|| {
            state.recorded.push(Recorded {
                seq,
                received_at,
                method: parts.method.to_string(),
                path: parts
                    .uri
                    .path_and_query()
                    .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
                headers: parts
                    .headers
                    .iter()
                    .map(|(n, v)| {
                        let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                        (n.as_str().to_owned(), value)
                    })
                    .collect(),
                body: body.clone(),
                json: fields.json.as_ref().ok().cloned(),
                model: fields.model.clone(),
                stream: fields.stream,
                stream_options: fields.stream_options.clone(),
                behaviour: admitted.as_ref().ok().map(|(_, b)| b.clone()),
                status: None,
                events: Vec::new(),
            });
            state.recorded.len() - 1
        });
        (seq, slot, admitted)
    };
    if matches!(admitted, Ok((e, _)) if e != Endpoint::Models) {
        shared.served.fetch_add(1, Ordering::SeqCst);
        shared.served_changed.notify_waiters();
    }

    let exchange = Exchange {
        shared,
        seq,
        slot,
        body_len: body.len(),
        fields,
    };
    let reply = match admitted {
        Ok((endpoint, behaviour)) => exchange.respond(endpoint, behaviour).await,
        Err((code, message)) => Ok(exchange.error(code_or_500(code), &message, None)),
    };
    if let Some(slot) = exchange.slot {
        if let Some(record) = exchange.shared.state().recorded.get_mut(slot) {
            record.status = reply.as_ref().ok().map(|r| r.status().as_u16());
        }
    }
    reply
}

/// A status for `code`, 500 when `code` is not one.
fn code_or_500(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// How a behaviour wants a stream.
struct Streaming {
    chunks: usize,
    pace: Pace,
    usage: UsageMode,
    ending: Ending,
}

impl Exchange {
    async fn respond(&self, endpoint: Endpoint, behaviour: Behaviour) -> Result<Reply, Hangup> {
        let streaming = match behaviour {
            Behaviour::Status {
                code,
                retry_after,
                body,
            } => return Ok(self.status(code, retry_after, body)),
            Behaviour::Reset => return Err(Hangup),
            Behaviour::StallBeforeHeaders(stall) => {
                tokio::time::sleep(stall).await;
                self.as_requested()
            }
            Behaviour::Ok => self.as_requested(),
            Behaviour::Stream {
                chunks,
                delay,
                usage,
            } => Some(Streaming {
                chunks,
                pace: Pace::ContentGaps(delay),
                usage,
                ending: Ending::Done,
            }),
            Behaviour::DropMidStream { after_chunks } => Some(Streaming {
                chunks: after_chunks,
                pace: Pace::ContentGaps(Duration::ZERO),
                usage: UsageMode::AsRequested,
                ending: Ending::Abort,
            }),
            Behaviour::SlowDrip { chunks, delay } => Some(Streaming {
                chunks,
                pace: Pace::EveryEvent(delay),
                usage: UsageMode::AsRequested,
                ending: Ending::Done,
            }),
        };
        Ok(self.answer(endpoint, streaming))
    }

    /// The stream [`Behaviour::Ok`] sends when the request asked for one.
    fn as_requested(&self) -> Option<Streaming> {
        self.fields.stream.then_some(Streaming {
            chunks: 3,
            pace: Pace::ContentGaps(Duration::ZERO),
            usage: UsageMode::AsRequested,
            ending: Ending::Done,
        })
    }

    /// A successful answer for `endpoint` (or the 400 a malformed request earns).
    fn answer(&self, endpoint: Endpoint, streaming: Option<Streaming>) -> Reply {
        let name = self.shared.name.as_str();
        if endpoint == Endpoint::Models {
            let ids = self.shared.state().models.clone();
            return self.json(StatusCode::OK, &openai::models(&ids));
        }
        let json = match &self.fields.json {
            Ok(json) if json.is_object() => json,
            Ok(_) => {
                let message =
                    format!("fake upstream {name}: the request body must be a JSON object");
                return self.error(StatusCode::BAD_REQUEST, &message, None);
            }
            Err(e) => {
                let message = format!(
                    "fake upstream {name}: we could not parse the JSON body of your request ({e})"
                );
                return self.error(StatusCode::BAD_REQUEST, &message, None);
            }
        };
        let model = match self.fields.model.as_deref() {
            Some(model) if !model.is_empty() => model,
            _ => {
                let message = format!("fake upstream {name}: you must provide a model parameter");
                return self.error(StatusCode::BAD_REQUEST, &message, Some("model"));
            }
        };
        let prompt_tokens = openai::prompt_tokens(self.body_len);
        let created = unix_now();
        let (shape, prefix) = match endpoint {
            Endpoint::Embeddings => {
                let Some(inputs) = openai::embedding_inputs(json.get("input")) else {
                    let message = format!(
                        "fake upstream {name}: input must be a string or a non-empty array"
                    );
                    return self.error(StatusCode::BAD_REQUEST, &message, Some("input"));
                };
                let list = openai::embeddings(name, model, inputs, prompt_tokens);
                self.shared.tally_usage(&self.fields.user, prompt_tokens, 0);
                return self.json(StatusCode::OK, &list);
            }
            Endpoint::Completions => (Shape::Text, "cmpl"),
            _ => (Shape::Chat, "chatcmpl"),
        };
        let id = format!("{prefix}-{name}-{}", self.seq);

        let Some(streaming) = streaming else {
            let text = openai::answer_text(name);
            let completion_tokens = openai::completion_tokens(&text);
            self.shared
                .tally_usage(&self.fields.user, prompt_tokens, completion_tokens);
            let usage = openai::usage(prompt_tokens, completion_tokens);
            let answer = match shape {
                Shape::Chat => openai::chat_completion(&id, created, model, &text, usage),
                Shape::Text => openai::text_completion(&id, created, model, &text, usage),
            };
            return self.json(StatusCode::OK, &answer);
        };
        let with_usage = match streaming.usage {
            UsageMode::AsRequested => self.fields.include_usage(),
            UsageMode::Always => true,
            UsageMode::Never => false,
        };
        let events = sse::plan(&StreamScript {
            shape,
            name,
            id: &id,
            created,
            model,
            chunks: streaming.chunks,
            pace: streaming.pace,
            with_usage,
            prompt_tokens,
            ending: streaming.ending,
        });
        // Every event passes here: the usage chunk is tallied when it leaves (a stream cut
        // before it reports nothing), and events are recorded when recording is on.
        let (shared, slot, user) = (
            Arc::clone(&self.shared),
            self.slot,
            self.fields.user.clone(),
        );
        let log = Some(Box::new(move |event: SentEvent| {
            if let Some((prompt, completion)) = reported_usage(&event.data) {
                shared.tally_usage(&user, prompt, completion);
            }
            if let Some(slot) = slot {
                if let Some(record) = shared.state().recorded.get_mut(slot) {
                    record.events.push(event);
                }
            }
        }) as EventLog);
        let body = ScriptedBody::new(events, streaming.ending, log);
        let mut reply = self.reply(StatusCode::OK, "text/event-stream", Either::Right(body));
        reply
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        reply
    }

    /// The answer of [`Behaviour::Status`].
    fn status(&self, code: u16, retry_after: Option<u64>, body: Option<String>) -> Reply {
        let status = code_or_500(code);
        let mut reply = match body {
            Some(body) => {
                let kind = if serde_json::from_str::<Value>(&body).is_ok() {
                    "application/json"
                } else {
                    "text/plain; charset=utf-8"
                };
                self.reply(status, kind, Either::Left(Full::new(Bytes::from(body))))
            }
            None => {
                let message = format!(
                    "fake upstream {}: scripted status {}",
                    self.shared.name,
                    status.as_u16()
                );
                self.error(status, &message, None)
            }
        };
        if let Some(seconds) = retry_after {
            reply
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        reply
    }

    /// An OpenAI-shaped error.
    fn error(&self, status: StatusCode, message: &str, param: Option<&str>) -> Reply {
        self.json(status, &openai::error(status.as_u16(), message, param))
    }

    fn json(&self, status: StatusCode, value: &Value) -> Reply {
        let body = Full::new(Bytes::from(value.to_string()));
        self.reply(status, "application/json", Either::Left(body))
    }

    fn reply(
        &self,
        status: StatusCode,
        content_type: &'static str,
        body: Either<Full<Bytes>, ScriptedBody>,
    ) -> Reply {
        let mut reply = Response::new(body);
        *reply.status_mut() = status;
        let headers = reply.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Ok(name) = HeaderValue::from_str(&self.shared.name) {
            headers.insert(NAME_HEADER, name);
        }
        reply
    }
}

/// `(prompt_tokens, completion_tokens)` of an event that carries a usage object (the usage
/// chunk; every other chunk has `"usage": null` or none).
fn reported_usage(data: &str) -> Option<(u64, u64)> {
    if !data.contains("\"usage\":{") {
        return None;
    }
    let chunk: Value = serde_json::from_str(data).ok()?;
    let usage = chunk.get("usage")?;
    Some((
        usage.get("prompt_tokens")?.as_u64()?,
        usage.get("completion_tokens")?.as_u64()?,
    ))
}

/// Seconds since the Unix epoch, for `created`.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
