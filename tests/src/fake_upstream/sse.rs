//! Server-sent event streams: which events a scripted stream sends and when (a pure plan), and
//! the response body that paces them out.
//!
//! The body is driven by hyper's polling, not by a producer task: each event is handed to hyper
//! as its own frame (so its own HTTP/1 chunk), and between events the body is `Pending` on a
//! timer, which makes hyper flush what it has. Nothing is buffered, no task outlives the
//! connection, and dropping the connection drops the stream.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame};
use serde_json::{json, Value};
use tokio::time::Sleep;

use super::openai;
use super::SentEvent;

/// Which endpoint's chunk shape a stream uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// `/v1/chat/completions`: `chat.completion.chunk` with `choices[].delta`, opened by a
    /// role chunk.
    Chat,
    /// `/v1/completions`: `text_completion` chunks with `choices[].text`, no role chunk.
    Text,
}

/// When the events of a stream leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pace {
    /// The role chunk at once, `delay` before each content chunk, and the finish chunk, the
    /// usage chunk and `[DONE]` right after the last content chunk.
    ContentGaps(Duration),
    /// `delay` before every event, the first one included (a slow drip: long first-byte and
    /// idle gaps).
    EveryEvent(Duration),
}

/// How a stream ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ending {
    /// Finish chunk, optional usage chunk, `data: [DONE]`, then the end of the body.
    Done,
    /// After the content chunks: abort the connection (no finish chunk, no `[DONE]`, no
    /// terminating HTTP chunk).
    Abort,
}

/// Everything a stream's events are made of.
#[derive(Clone, Copy, Debug)]
pub(super) struct StreamScript<'a> {
    /// Chunk shape, by endpoint.
    pub shape: Shape,
    /// The upstream's name, which every content chunk carries.
    pub name: &'a str,
    /// `id` of every chunk.
    pub id: &'a str,
    /// `created` of every chunk.
    pub created: u64,
    /// `model` of every chunk (the requested model, echoed).
    pub model: &'a str,
    /// Number of content chunks.
    pub chunks: usize,
    /// Timing of the events.
    pub pace: Pace,
    /// Whether a usage chunk (`"choices": []`) precedes `[DONE]`; when it does, every other
    /// chunk carries `"usage": null`, as OpenAI does.
    pub with_usage: bool,
    /// `prompt_tokens` of the usage chunk.
    pub prompt_tokens: u64,
    /// Clean `[DONE]` or an aborted connection.
    pub ending: Ending,
}

/// One event of a plan: wait `delay`, then send `data: {data}\n\n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PlannedEvent {
    /// Time between the previous event (or the response headers) and this one.
    pub delay: Duration,
    /// The event's payload: a JSON chunk or `[DONE]`.
    pub data: String,
}

/// The events of a scripted stream, in order, with their delays.
pub(super) fn plan(s: &StreamScript<'_>) -> Vec<PlannedEvent> {
    let (first_gap, content_gap, tail_gap) = match s.pace {
        Pace::ContentGaps(d) => (Duration::ZERO, d, Duration::ZERO),
        Pace::EveryEvent(d) => (d, d, d),
    };
    let mut events = Vec::with_capacity(s.chunks + 4);
    let mut push = |delay: Duration, data: String| events.push(PlannedEvent { delay, data });

    if s.shape == Shape::Chat {
        push(
            first_gap,
            chunk(s, json!({"role": "assistant", "content": ""}), None),
        );
    }
    let mut generated = String::new();
    for i in 0..s.chunks {
        let text = openai::chunk_text(s.name, i);
        generated.push_str(&text);
        let body = match s.shape {
            Shape::Chat => json!({"content": text}),
            Shape::Text => Value::String(text),
        };
        push(content_gap, chunk(s, body, None));
    }
    if s.ending == Ending::Abort {
        return events;
    }
    let finish_body = match s.shape {
        Shape::Chat => json!({}),
        Shape::Text => json!(""),
    };
    push(tail_gap, chunk(s, finish_body, Some("stop")));
    if s.with_usage {
        let usage = openai::usage(s.prompt_tokens, openai::completion_tokens(&generated));
        let mut last = envelope(s);
        last["choices"] = json!([]);
        last["usage"] = usage;
        push(tail_gap, last.to_string());
    }
    push(tail_gap, "[DONE]".to_owned());
    events
}

/// A chunk without choices: the fields every chunk of the stream shares.
fn envelope(s: &StreamScript<'_>) -> Value {
    let object = match s.shape {
        Shape::Chat => "chat.completion.chunk",
        Shape::Text => "text_completion",
    };
    json!({"id": s.id, "object": object, "created": s.created, "model": s.model})
}

/// A chunk with one choice: `body` is the delta (chat) or the text (completions).
fn chunk(s: &StreamScript<'_>, body: Value, finish_reason: Option<&str>) -> String {
    let mut choice = json!({"index": 0, "logprobs": null, "finish_reason": finish_reason});
    match s.shape {
        Shape::Chat => choice["delta"] = body,
        Shape::Text => choice["text"] = body,
    }
    let mut c = envelope(s);
    c["choices"] = json!([choice]);
    if s.with_usage {
        c["usage"] = Value::Null;
    }
    c.to_string()
}

/// Called with every event as it is handed to hyper.
pub(super) type EventLog = Box<dyn FnMut(SentEvent) + Send>;

/// A response body that sends a plan's events, each as its own frame, at the planned times.
pub(super) struct ScriptedBody {
    /// Events not sent yet.
    events: VecDeque<PlannedEvent>,
    /// What happens after the last event.
    ending: Ending,
    /// The running wait before the next event.
    sleep: Option<Pin<Box<Sleep>>>,
    /// Whether the next event's delay has already elapsed.
    waited: bool,
    /// Set once the body, before aborting, has returned `Pending` so that hyper flushes the
    /// chunks already written (hyper flushes when the body is not ready).
    abort_armed: bool,
    /// Where sent events are recorded (absent when recording is off).
    log: Option<EventLog>,
}

impl ScriptedBody {
    pub(super) fn new(events: Vec<PlannedEvent>, ending: Ending, log: Option<EventLog>) -> Self {
        ScriptedBody {
            events: events.into(),
            ending,
            sleep: None,
            waited: false,
            abort_armed: false,
            log,
        }
    }
}

/// The error a [`ScriptedBody`] ends with when its script says to abort: hyper then closes the
/// connection without the terminating chunk.
#[derive(Debug)]
pub(super) struct StreamAborted;

impl fmt::Display for StreamAborted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fake upstream aborted the stream as scripted")
    }
}

impl std::error::Error for StreamAborted {}

impl Body for ScriptedBody {
    type Data = Bytes;
    type Error = StreamAborted;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamAborted>>> {
        let this = &mut *self;
        loop {
            if let Some(sleep) = this.sleep.as_mut() {
                ready!(sleep.as_mut().poll(cx));
                this.sleep = None;
                this.waited = true;
            }
            let Some(next) = this.events.front() else {
                return match this.ending {
                    Ending::Done => Poll::Ready(None),
                    Ending::Abort if this.abort_armed => Poll::Ready(Some(Err(StreamAborted))),
                    Ending::Abort => {
                        this.abort_armed = true;
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                };
            };
            if !this.waited && !next.delay.is_zero() {
                this.sleep = Some(Box::pin(tokio::time::sleep(next.delay)));
                continue;
            }
            let Some(event) = this.events.pop_front() else {
                continue; // unreachable: front() was Some just above
            };
            this.waited = false;
            let wire = Bytes::from(format!("data: {}\n\n", event.data));
            if let Some(log) = this.log.as_mut() {
                log(SentEvent {
                    at: Instant::now(),
                    data: event.data,
                });
            }
            return Poll::Ready(Some(Ok(Frame::data(wire))));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.events.is_empty() && self.ending == Ending::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(
        shape: Shape,
        chunks: usize,
        with_usage: bool,
        ending: Ending,
    ) -> StreamScript<'static> {
        StreamScript {
            shape,
            name: "alpha",
            id: "chatcmpl-alpha-0",
            created: 1,
            model: "m",
            chunks,
            pace: Pace::ContentGaps(Duration::from_millis(5)),
            with_usage,
            prompt_tokens: 9,
            ending,
        }
    }

    fn parsed(events: &[PlannedEvent]) -> Vec<Value> {
        events
            .iter()
            .filter(|e| e.data != "[DONE]")
            .map(|e| serde_json::from_str(&e.data).expect("chunk is JSON"))
            .collect()
    }

    #[test]
    fn chat_stream_is_role_contents_finish_done() {
        let events = plan(&script(Shape::Chat, 3, false, Ending::Done));
        assert_eq!(events.len(), 1 + 3 + 1 + 1);
        assert_eq!(events.last().map(|e| e.data.as_str()), Some("[DONE]"));
        let chunks = parsed(&events);
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "alpha:tok0 ");
        assert_eq!(chunks[3]["choices"][0]["delta"]["content"], "alpha:tok2 ");
        assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
        assert!(chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk"));
        assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    }

    #[test]
    fn content_gaps_delay_only_content_chunks() {
        let events = plan(&script(Shape::Chat, 2, true, Ending::Done));
        let delays: Vec<u64> = events.iter().map(|e| e.delay.as_millis() as u64).collect();
        assert_eq!(delays, vec![0, 5, 5, 0, 0, 0]);
    }

    #[test]
    fn usage_chunk_has_no_choices_and_others_carry_null_usage() {
        let events = plan(&script(Shape::Chat, 4, true, Ending::Done));
        let chunks = parsed(&events);
        let last = chunks.last().expect("usage chunk");
        assert_eq!(last["choices"], json!([]));
        assert_eq!(
            last["usage"],
            json!({"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13})
        );
        assert!(chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c["usage"].is_null()));
    }

    #[test]
    fn aborted_stream_stops_after_content_without_done() {
        let events = plan(&script(Shape::Chat, 2, true, Ending::Abort));
        assert_eq!(events.len(), 3);
        assert!(events.iter().all(|e| e.data != "[DONE]"));
    }

    #[test]
    fn text_stream_has_no_role_chunk() {
        let events = plan(&script(Shape::Text, 2, false, Ending::Done));
        let chunks = parsed(&events);
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0]["object"], "text_completion");
        assert_eq!(chunks[0]["choices"][0]["text"], "alpha:tok0 ");
        assert_eq!(chunks[2]["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn every_event_pace_delays_everything() {
        let mut s = script(Shape::Chat, 1, false, Ending::Done);
        s.pace = Pace::EveryEvent(Duration::from_millis(7));
        assert!(plan(&s).iter().all(|e| e.delay == Duration::from_millis(7)));
    }
}
