//! A low-level HTTP/1 client for the end-to-end tests: one keep-alive connection per
//! [`Client`], every response body read frame by frame with the [`Instant`] each frame arrived,
//! so a test can compare what a client received, and when, with what an upstream sent
//! ([`crate::fake_upstream::SentEvent::at`] is on the same monotonic clock).
//!
//! Built on hyper's `client::conn` (no pool, no retries, nothing hidden): what the test sends
//! is what goes on the wire. Every wait is bounded by [`PATIENCE`]; a test that would hang
//! panics instead.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::HeaderMap;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Upper bound of any single wait (connect, response head, next body frame); far above
/// anything the tests need.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Path of the chat completions endpoint.
pub const CHAT: &str = "/v1/chat/completions";

/// Most body frames one response may have before the client gives up reading (a bound on
/// every loop).
const MAX_FRAMES: usize = 10_000;

// === Answer ===

/// A response as the client received it.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Body frames, each with the time it was received.
    pub frames: Vec<(Instant, Bytes)>,
    /// Why the body ended early (the connection broke), if it did.
    pub body_error: Option<String>,
}

impl Answer {
    /// The whole body.
    pub fn body(&self) -> Vec<u8> {
        self.frames.iter().flat_map(|(_, b)| b.to_vec()).collect()
    }

    /// The whole body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body()).into_owned()
    }

    /// The body parsed as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body())
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The SSE `data:` payloads, in order (each event must be a single `data: ` line).
    pub fn events(&self) -> Vec<String> {
        let body = String::from_utf8(self.body()).expect("SSE is UTF-8");
        body.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                e.strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("not a data event: {e:?}"))
                    .to_owned()
            })
            .collect()
    }

    /// The SSE payloads that are JSON (all but `[DONE]`).
    pub fn chunks(&self) -> Vec<Value> {
        self.events()
            .iter()
            .filter(|e| *e != "[DONE]")
            .map(|e| serde_json::from_str(e).expect("chunk is JSON"))
            .collect()
    }

    /// The generated text of a stream: every `delta.content` (chat) or `text` (completions)
    /// of the first choice, concatenated.
    pub fn content(&self) -> String {
        self.chunks()
            .iter()
            .filter_map(|c| {
                let choice = &c["choices"][0];
                choice["delta"]["content"]
                    .as_str()
                    .or_else(|| choice["text"].as_str())
                    .map(str::to_owned)
            })
            .collect()
    }

    /// `error.code` of an OpenAI-shaped JSON error body.
    pub fn error_code(&self) -> Option<String> {
        self.json()["error"]["code"].as_str().map(str::to_owned)
    }
}

// === Client ===

/// One keep-alive HTTP/1 connection.
pub struct Client {
    /// Where it is connected (sent as `Host`).
    addr: SocketAddr,
    /// hyper's request half.
    sender: SendRequest<Full<Bytes>>,
    /// Drives the connection; aborted on drop, which closes the socket.
    driver: JoinHandle<()>,
}

impl Client {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = timeout(PATIENCE, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        Client::over(addr, stream).await
    }

    /// Connects to `addr` from the local address `source` (another 127.0.0.0/8 address plays
    /// another device on the LAN).
    pub async fn connect_from(addr: SocketAddr, source: std::net::IpAddr) -> Client {
        let socket = match source {
            std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        }
        .expect("socket");
        socket
            .bind(SocketAddr::new(source, 0))
            .unwrap_or_else(|e| panic!("bind {source}: {e}"));
        let stream = timeout(PATIENCE, socket.connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        Client::over(addr, stream).await
    }

    async fn over(addr: SocketAddr, stream: TcpStream) -> Client {
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Client {
            addr,
            sender,
            driver,
        }
    }

    /// Whether the server closed the connection.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends a request and waits for the response head; the body is read by the caller
    /// ([`Opened::next_frame`], [`Opened::finish`]). `Content-Type: application/json` is added
    /// unless `headers` has a `content-type`.
    pub async fn open(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Opened, hyper::Error> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("valid request");
        timeout(PATIENCE, self.sender.ready())
            .await
            .expect("connection ready in time")?;
        let response = timeout(PATIENCE, self.sender.send_request(request))
            .await
            .expect("response head in time")?;
        let (parts, body) = response.into_parts();
        Ok(Opened {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
            frames: Vec::new(),
        })
    }

    /// Sends a request and reads the whole response.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Answer, hyper::Error> {
        Ok(self.open(method, path, headers, body).await?.finish().await)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// A response whose head has arrived and whose body is being read.
pub struct Opened {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body still to read.
    body: Incoming,
    /// Data frames read so far, with their arrival times.
    frames: Vec<(Instant, Bytes)>,
}

impl Opened {
    /// The next data frame (`Ok(None)` at the end of the body, `Err` when it broke off);
    /// panics when nothing comes within [`PATIENCE`].
    pub async fn next_frame(&mut self) -> Result<Option<Bytes>, String> {
        loop {
            match timeout(PATIENCE, self.body.frame())
                .await
                .expect("next body frame in time")
            {
                None => return Ok(None),
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.frames.push((Instant::now(), data.clone()));
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    /// Reads the rest of the body.
    pub async fn finish(mut self) -> Answer {
        let mut body_error = None;
        for _ in 0..MAX_FRAMES {
            match self.next_frame().await {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    body_error = Some(e);
                    break;
                }
            }
        }
        Answer {
            status: self.status,
            headers: self.headers,
            frames: self.frames,
            body_error,
        }
    }
}

// === shortcuts ===

/// One request on a fresh connection.
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Answer, hyper::Error> {
    Client::connect(addr)
        .await
        .send(method, path, headers, body)
        .await
}

/// A chat request body for `model`, with `stream_options.include_usage` when given.
pub fn chat_body(model: &str, stream: bool, include_usage: Option<bool>) -> String {
    let mut body = json!({
        "model": model,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": stream,
    });
    if let Some(include) = include_usage {
        body["stream_options"] = json!({"include_usage": include});
    }
    body.to_string()
}

/// `POST /v1/chat/completions` with `body` on a fresh connection; panics if no response.
pub async fn chat(addr: SocketAddr, body: &str) -> Answer {
    call(addr, "POST", CHAT, &[], body).await.expect("answered")
}

/// Writes `request` on a raw socket and reads until the server closes it (send
/// `connection: close` to a server that keeps connections alive).
pub async fn raw_exchange(addr: SocketAddr, request: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut received = Vec::new();
    timeout(PATIENCE, stream.read_to_end(&mut received))
        .await
        .expect("the server closes the connection in time")
        .expect("clean close, no reset");
    received
}

/// A raw HTTP/1.1 chat request carrying `body`.
pub fn raw_chat_request(body: &str) -> String {
    format!(
        "POST {CHAT} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
}
