//! The web dashboard: `http://dashboard_listen/hearth/`, for routers without LuCI (DD-WRT,
//! plain Linux). Off unless `config agent` sets `dashboard_listen` and a token.
//!
//! Every path on this TCP listener needs the token — the page, its scripts and the JSON it
//! reads (`/status`, `/usage`, `/devices`, `/endpoints`, `/plan`, `/metrics`, the same
//! handler as the control socket). The token is accepted as:
//! - `Authorization: Bearer TOKEN` (scripts, curl);
//! - the `hearth_token` cookie (the browser, after the first visit);
//! - `?token=TOKEN` on a GET: answered with `303 See Other` to the same path without the
//!   token, setting the cookie (`HttpOnly; SameSite=Strict; Path=/`), so the secret leaves
//!   the address bar and history.
//!
//! Anything else gets `401` (JSON, or a short HTML page for `/hearth/`). Tokens are compared
//! in constant time. Responses are `no-store`, framing is denied and the page's Content
//! Security Policy allows only its own scripts (the planner's SVG is shown as a `data:` image,
//! so it cannot run code).
//!
//! The page's rendering code is LuCI's: `render.js` is the `hearth.render` module the LuCI
//! views load (openwrt-package/luci-app-hearth). Served here, it is wrapped in a function
//! that hands it a stand-in for LuCI's `baseclass`, and the page supplies `E()` and `_()`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::Sources;
use crate::config::values::token as check_token;
use crate::config::DashboardToken;
use crate::daemon::Shutdown;

/// Name of the cookie that carries the token.
pub const COOKIE: &str = "hearth_token";

/// The page.
const PAGE: &str = include_str!("dashboard/index.html");
/// The page's own script (fetching, polling, `E()`).
const APP: &str = include_str!("dashboard/app.js");
/// The page's style sheet.
const STYLE: &str = include_str!("dashboard/style.css");
/// LuCI's `hearth.render` module, shared with the LuCI views.
const RENDER: &str = include_str!(
    "../../../openwrt-package/luci-app-hearth/htdocs/luci-static/resources/hearth/render.js"
);

/// The token in force; a reload may replace it without rebinding the listener.
pub type Token = Arc<RwLock<String>>;

/// The token from the config: inline, or the first line of the file.
pub fn read_token(t: &DashboardToken) -> Result<String, String> {
    match t {
        DashboardToken::Inline(s) => Ok(s.clone()),
        DashboardToken::File(path) => read_token_file(path),
    }
}

fn read_token_file(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read dashboard_token_file {}: {e}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    check_token(&token).map_err(|e| format!("dashboard_token_file {}: {e}", path.display()))?;
    Ok(token)
}

/// Equal in constant time for equal lengths (the length of a token is not a secret worth a
/// branch: every token is at least 16 characters).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && difference_bits(a, b) == 0
}

/// The OR of the XOR of every byte pair: 0 exactly when the (equal-length) inputs are equal.
/// Every byte is visited whatever came before (no early exit), so the time taken does not
/// tell how much of a guess was right.
fn difference_bits(a: &[u8], b: &[u8]) -> u8 {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))
}

/// `%XX` and `+` decoding of one query value (a token may be base64: `+`, `/`, `=`).
fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            b.get(i + 1).and_then(|&c| hex(c)),
            b.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
            (b'+', _, _) => out.push(b' '),
            (c, _, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the credentials in a request amount to.
#[derive(Debug, PartialEq, Eq)]
enum Auth {
    /// The right token came in a header or cookie.
    Granted,
    /// The right token came in the query: set the cookie and go to this location.
    SetCookie(String),
    /// No token, or a wrong one.
    Denied,
}

fn authorize<B>(req: &Request<B>, token: &str) -> Auth {
    let t = token.as_bytes();
    let bearer = req
        .headers()
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix("Bearer "))
        .any(|v| same(v.trim().as_bytes(), t));
    let cookie = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .any(|v| same(v.as_bytes(), t));
    if bearer || cookie {
        return Auth::Granted;
    }
    if req.method() == Method::GET {
        if let Some(q) = req.uri().query() {
            let mut rest = Vec::new();
            let mut found = false;
            for kv in q.split('&') {
                match kv.strip_prefix("token=") {
                    Some(v) if same(percent_decode(v).as_bytes(), t) => found = true,
                    Some(_) => {}
                    None => rest.push(kv),
                }
            }
            if found {
                let path = req.uri().path();
                return Auth::SetCookie(if rest.is_empty() {
                    path.to_string()
                } else {
                    format!("{path}?{}", rest.join("&"))
                });
            }
        }
    }
    Auth::Denied
}

fn respond(
    status: StatusCode,
    ctype: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

/// Headers every dashboard answer carries.
fn harden(mut r: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        ),
    );
    r
}

fn redirect(status: StatusCode, location: &str) -> Response<Full<Bytes>> {
    let mut r = respond(status, "text/plain; charset=utf-8", Bytes::new());
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// One request on the dashboard listener.
pub(crate) async fn handle<B>(
    sources: Arc<Sources>,
    token: Token,
    req: Request<B>,
) -> Response<Full<Bytes>> {
    let token = token.read().map(|t| t.clone()).unwrap_or_default();
    let path = req.uri().path().to_string();
    let r = match authorize(&req, &token) {
        Auth::Denied if path == "/" || path.starts_with("/hearth") => {
            let mut r = respond(
                StatusCode::UNAUTHORIZED,
                "text/html; charset=utf-8",
                // No favicon request (it would be refused too, and browsers log that).
                "<!doctype html><title>hearth</title><link rel=\"icon\" href=\"data:,\">\
                 <h1>hearth: token required</h1>\
                 <p>Open <code>/hearth/?token=TOKEN</code> with the token from \
                 <code>dashboard_token_file</code> (or <code>dashboard_token</code>) in \
                 <code>/etc/config/hearth</code>.</p>",
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"hearth\""),
            );
            r
        }
        Auth::Denied => {
            let mut r = respond(
                StatusCode::UNAUTHORIZED,
                "application/json",
                serde_json::json!({"error": "token required: send Authorization: Bearer TOKEN"})
                    .to_string(),
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"hearth\""),
            );
            r
        }
        Auth::SetCookie(location) => {
            let mut r = redirect(StatusCode::SEE_OTHER, &location);
            let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Auth::Granted => match (req.method(), path.as_str()) {
            (&Method::GET, "/" | "/hearth") => redirect(StatusCode::PERMANENT_REDIRECT, "/hearth/"),
            (&Method::GET, "/hearth/") => respond(StatusCode::OK, "text/html; charset=utf-8", PAGE),
            (&Method::GET, "/hearth/app.js") => {
                respond(StatusCode::OK, "text/javascript; charset=utf-8", APP)
            }
            (&Method::GET, "/hearth/style.css") => {
                respond(StatusCode::OK, "text/css; charset=utf-8", STYLE)
            }
            (&Method::GET, "/hearth/render.js") => respond(
                StatusCode::OK,
                "text/javascript; charset=utf-8",
                format!(
                    "window.hearthRender = (function (baseclass) {{\n{RENDER}\n}})({{ extend: function (o) {{ return o; }} }});\n"
                ),
            ),
            _ => super::serve(sources, req).await,
        },
    };
    harden(r)
}

/// The dashboard's listener task: accepts until `stop`.
pub(crate) fn spawn(
    listener: TcpListener,
    sources: Arc<Sources>,
    token: Token,
    mut stop: Shutdown,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                _ = stop.recv() => break,
                r = listener.accept() => match r {
                    Ok((s, _)) => s,
                    Err(e) => {
                        log::warn!("dashboard: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let (sources, token) = (sources.clone(), token.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let (sources, token) = (sources.clone(), token.clone());
                    async move { Ok::<_, Infallible>(handle(sources, token, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .header_read_timeout(Duration::from_secs(10))
                    .timer(hyper_util::rt::TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}

/// Binds the dashboard's address.
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123";

    fn req(uri: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn token_comes_from_a_bearer_header_a_cookie_or_once_from_the_query() {
        assert_eq!(
            authorize(
                &req("/status", &[("authorization", &format!("Bearer {TOKEN}"))]),
                TOKEN
            ),
            Auth::Granted
        );
        assert_eq!(
            authorize(
                &req("/hearth/", &[("cookie", &format!("a=b; {COOKIE}={TOKEN}"))]),
                TOKEN
            ),
            Auth::Granted
        );
        assert_eq!(
            authorize(&req(&format!("/hearth/?x=1&token={TOKEN}"), &[]), TOKEN),
            Auth::SetCookie("/hearth/?x=1".into())
        );
        assert_eq!(authorize(&req("/hearth/", &[]), TOKEN), Auth::Denied);
        for wrong in [
            "Bearer 0123456789abcdef0124",
            "Bearer 0123456789abcdef012",
            "Basic MDEyMzQ1Njc4OWFiY2RlZjAxMjM=",
            "",
        ] {
            assert_eq!(
                authorize(&req("/status", &[("authorization", wrong)]), TOKEN),
                Auth::Denied,
                "{wrong}"
            );
        }
        assert_eq!(
            authorize(&req("/hearth/?token=0123456789abcdef0124", &[]), TOKEN),
            Auth::Denied
        );
    }

    #[test]
    fn the_token_compare_does_not_stop_at_the_first_wrong_byte() {
        let t = TOKEN.as_bytes();
        let mut guess = t.to_vec();
        guess[0] ^= 0x01;
        let last = guess.len() - 1;
        guess[last] ^= 0x02;
        // The last byte's difference is in the result: it was compared after the first
        // mismatch.
        assert_eq!(difference_bits(&guess, t), 0x03);
        guess[0] = t[0];
        assert_eq!(difference_bits(&guess, t), 0x02);
        assert_eq!(difference_bits(t, t), 0);
        assert!(same(t, t) && !same(&guess, t) && !same(&t[1..], t));
    }

    #[test]
    fn query_tokens_are_percent_decoded() {
        let b64 = "ab+/cd==efghijklmnop";
        assert_eq!(
            authorize(
                &req("/hearth/?token=ab%2B%2Fcd%3D%3Defghijklmnop", &[]),
                b64
            ),
            Auth::SetCookie("/hearth/".into())
        );
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn weak_or_odd_tokens_are_refused() {
        assert!(check_token(TOKEN).is_ok());
        assert!(check_token("short").unwrap_err().contains("at least 16"));
        assert!(check_token("0123456789abcdef;x").is_err());
        assert!(check_token("0123456789abcdef x").is_err());
    }

    #[test]
    fn token_file_first_line_is_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, format!("{TOKEN}\n# comment\n")).unwrap();
        assert_eq!(read_token_file(&p).unwrap(), TOKEN);
        std::fs::write(&p, "weak\n").unwrap();
        assert!(read_token_file(&p).unwrap_err().contains("at least 16"));
        assert!(read_token_file(&dir.path().join("missing"))
            .unwrap_err()
            .contains("cannot read dashboard_token_file"));
    }
}
