//! Proxy errors know where they came from and whether a retry is safe; that decides the
//! status code the client sees and whether the next upstream is tried — in one place.
//!
//! Every error reaches the client in OpenAI's shape,
//! `{"error":{"message","type","param":null,"code"}}`, so SDKs raise their typed errors.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

/// Who caused the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The client's request is wrong (bad JSON, unknown model, too large).
    Downstream,
    /// An upstream failed (refused, timed out, 429, 5xx, broke mid-stream).
    Upstream,
    /// hearth itself (no endpoint could be tried, configuration problem).
    Internal,
}

/// One failed request, or one failed attempt of it.
#[derive(Debug, Clone)]
pub struct ProxyError {
    /// Who caused it.
    pub source: Source,
    /// Status for the client.
    pub status: StatusCode,
    /// OpenAI `error.type`.
    pub kind: &'static str,
    /// OpenAI `error.code` (machine-readable reason).
    pub code: &'static str,
    /// For a human, naming the object involved.
    pub message: String,
    /// Safe to try another upstream: nothing has been sent to the client yet and the
    /// failure is the upstream's (connect error, timeout before headers, 429, 5xx).
    pub retryable: bool,
    /// Seconds the upstream asked us to wait (`Retry-After` of a 429/503).
    pub retry_after: Option<u64>,
    /// Details added to the error object under `budget` (which budget, how much is used).
    pub budget: Option<serde_json::Value>,
}

impl ProxyError {
    /// A client mistake: 4xx, never retried.
    pub fn bad_request(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ProxyError {
            source: Source::Downstream,
            status,
            kind: "invalid_request_error",
            code,
            message: message.into(),
            retryable: false,
            retry_after: None,
            budget: None,
        }
    }

    /// An upstream failure that another upstream may not have.
    pub fn upstream(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ProxyError {
            source: Source::Upstream,
            status,
            kind: "upstream_error",
            code,
            message: message.into(),
            retryable: true,
            retry_after: None,
            budget: None,
        }
    }

    /// hearth's own failure.
    pub fn internal(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ProxyError {
            source: Source::Internal,
            status,
            kind: "server_error",
            code,
            message: message.into(),
            retryable: false,
            retry_after: None,
            budget: None,
        }
    }

    /// The error object as JSON text.
    pub fn json(&self) -> String {
        let mut v = serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": null,
                "code": self.code,
            }
        });
        if let Some(b) = &self.budget {
            v["error"]["budget"] = b.clone();
        }
        v.to_string()
    }

    /// HTTP 429 for a used-up budget, in OpenAI's shape (`insufficient_quota`), with
    /// `Retry-After` until the budget resets.
    pub fn over_budget(e: &crate::budget::Exhausted, currency: &str, now: i64) -> Self {
        ProxyError {
            source: Source::Internal,
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: "insufficient_quota",
            code: "budget_exhausted",
            message: e.message(currency),
            retryable: false,
            retry_after: Some((e.resets_at - now).max(1) as u64),
            budget: Some(serde_json::json!({
                "name": e.name(),
                "scope": e.scope.key(),
                "option": e.option,
                "period": e.period.as_str(),
                "metric": e.metric.as_str(),
                "spent": e.spent,
                "reserved": e.reserved,
                "need": e.need,
                "limit": e.limit,
                "resets_at": e.resets_local,
            })),
        }
    }

    /// The error as an HTTP response for the client.
    pub fn response<B: From<Bytes>>(&self) -> Response<B> {
        let mut r = Response::new(B::from(Bytes::from(self.json())));
        *r.status_mut() = self.status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }

    /// The error as an SSE event, for a stream that already started.
    pub fn sse_event(&self) -> Bytes {
        Bytes::from(format!("data: {}\n\ndata: [DONE]\n\n", self.json()))
    }
}

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_openai_shape() {
        let e = ProxyError::bad_request(StatusCode::NOT_FOUND, "model_not_found", "no 'x'");
        let v: serde_json::Value = serde_json::from_str(&e.json()).unwrap();
        assert_eq!(v["error"]["message"], "no 'x'");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["code"], "model_not_found");
        assert!(v["error"]["param"].is_null());
        let r: Response<http_body_util::Full<Bytes>> = e.response();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn sse_error_ends_the_stream() {
        let e = ProxyError::upstream(StatusCode::BAD_GATEWAY, "upstream_broke", "gone");
        let s = String::from_utf8(e.sse_event().to_vec()).unwrap();
        assert!(s.starts_with("data: {\"error\""));
        assert!(s.ends_with("\n\ndata: [DONE]\n\n"));
    }
}
