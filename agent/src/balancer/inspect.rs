//! Reads what the balancer needs from a request body — `model`, `stream`,
//! `stream_options.include_usage` and the output caps — in one pass that skips everything
//! else. The messages (nearly all of a body) are neither copied nor allocated: only the few
//! fields above are kept, borrowed from the body when they hold no escapes. The body goes
//! upstream as received unless the model or the usage option must change; only then is it
//! parsed into a tree (`proxy::forward`).
//!
//! Meaning is that of reading the body as a `serde_json::Value`: the last of duplicate keys
//! wins; `stream` and `include_usage` count only as JSON booleans and the caps only as
//! non-negative integers (anything else is as if absent); syntax errors and invalid UTF-8
//! anywhere are refused with serde_json's own message. Parts that are skipped are checked
//! for syntax only: unlike a `Value`, they have no nesting limit (serde_json skips
//! iteratively), a number in them may be out of `f64` range and a `\u` escape may be half a
//! surrogate pair — the upstream judges those. The fuzz target `request_json` holds both
//! readers to exactly this.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::sse::Usage;

/// Implements the visitor methods of every kind of value but maps and sequences as `$v`,
/// for visitors that mostly care about containers; `unit =` (null) and `str =` (a function
/// of the string) override those two.
macro_rules! other_values {
    ($ty:ty, $v:expr) => {
        other_values!($ty, $v, unit = $v, str = |_: &str| $v);
    };
    ($ty:ty, $v:expr, unit = $u:expr) => {
        other_values!($ty, $v, unit = $u, str = |_: &str| $v);
    };
    ($ty:ty, $v:expr, str = $s:expr) => {
        other_values!($ty, $v, unit = $v, str = $s);
    };
    ($ty:ty, $v:expr, unit = $u:expr, str = $s:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$ty, E> {
            Ok($v)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<$ty, E> {
            Ok($v)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<$ty, E> {
            Ok($v)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<$ty, E> {
            Ok($v)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<$ty, E> {
            Ok(($s)(s))
        }
        fn visit_unit<E: de::Error>(self) -> Result<$ty, E> {
            Ok($u)
        }
    };
}

/// A field's value, as far as inspection cares.
#[derive(Debug, Clone, PartialEq)]
enum Scalar<'de> {
    Str(Cow<'de, str>),
    Bool(bool),
    /// A non-negative integer that fits `u64`.
    UInt(u64),
    /// Anything else (null, negative, fraction, array, object).
    Other,
}

impl Scalar<'_> {
    fn as_bool(&self) -> Option<bool> {
        match self {
            Scalar::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn as_u64(&self) -> Option<u64> {
        match self {
            Scalar::UInt(n) => Some(*n),
            _ => None,
        }
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::UInt(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).map_or(Scalar::Other, Scalar::UInt))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// An object key, borrowed unless it holds escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_str(ScalarVisitor)? {
            Scalar::Str(s) => Ok(Key(s)),
            _ => Err(de::Error::custom("an object key must be a string")),
        }
    }
}

/// `stream_options.include_usage`: `Some` only for a boolean in an object.
struct IncludeUsage(Option<bool>);

impl<'de> Deserialize<'de> for IncludeUsage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = IncludeUsage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IncludeUsage, A::Error> {
                let mut found = None;
                while let Some(k) = map.next_key::<Key>()? {
                    if k.0 == "include_usage" {
                        found = map.next_value::<Scalar>()?.as_bool();
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(IncludeUsage(found))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<IncludeUsage, A::Error> {
                ScalarVisitor.visit_seq(seq).map(|_| IncludeUsage(None))
            }
            other_values!(IncludeUsage, IncludeUsage(None));
        }
        d.deserialize_any(V)
    }
}

/// The output caps a request sets (see `proxy::output_cap`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputCaps {
    pub max_completion_tokens: Option<u64>,
    pub max_tokens: Option<u64>,
    pub n: Option<u64>,
}

/// The top level: `None` when the body is not a JSON object.
struct Fields<'de>(Option<Found<'de>>);

#[derive(Default)]
struct Found<'de> {
    model: Option<Scalar<'de>>,
    stream: bool,
    include_usage: bool,
    caps: OutputCaps,
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut f = Found::default();
                while let Some(k) = map.next_key::<Key>()? {
                    match &*k.0 {
                        "model" => f.model = Some(map.next_value()?),
                        "stream" => {
                            f.stream = map.next_value::<Scalar>()?.as_bool().unwrap_or(false)
                        }
                        "stream_options" => {
                            f.include_usage = map.next_value::<IncludeUsage>()?.0.unwrap_or(false)
                        }
                        "max_completion_tokens" => {
                            f.caps.max_completion_tokens = map.next_value::<Scalar>()?.as_u64()
                        }
                        "max_tokens" => f.caps.max_tokens = map.next_value::<Scalar>()?.as_u64(),
                        "n" => f.caps.n = map.next_value::<Scalar>()?.as_u64(),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Fields(Some(f)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Fields<'de>, A::Error> {
                ScalarVisitor.visit_seq(seq).map(|_| Fields(None))
            }
            other_values!(Fields<'de>, Fields(None));
        }
        d.deserialize_any(V)
    }
}

/// The length of a string value (`None` for anything else); the text itself is not kept,
/// so even an escaped string costs no allocation.
struct TextLen(Option<usize>);

impl<'de> Deserialize<'de> for TextLen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TextLen;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            other_values!(
                TextLen,
                TextLen(None),
                str = |s: &str| TextLen(Some(s.len()))
            );
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<TextLen, A::Error> {
                ScalarVisitor.visit_seq(seq).map(|_| TextLen(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TextLen, A::Error> {
                ScalarVisitor.visit_map(map).map(|_| TextLen(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A `usage` value: `None` for null; anything else counts, its token fields when it is an
/// object (fields that are not non-negative integers count as 0).
pub struct UsageField(pub Option<Usage>);

impl<'de> Deserialize<'de> for UsageField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        const ZERO: UsageField = UsageField(Some(Usage {
            prompt_tokens: 0,
            completion_tokens: 0,
            estimated: false,
        }));
        impl<'de> Visitor<'de> for V {
            type Value = UsageField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UsageField, A::Error> {
                let mut u = Usage::default();
                while let Some(k) = map.next_key::<Key>()? {
                    match &*k.0 {
                        "prompt_tokens" => {
                            u.prompt_tokens = map.next_value::<Scalar>()?.as_u64().unwrap_or(0)
                        }
                        "completion_tokens" => {
                            u.completion_tokens = map.next_value::<Scalar>()?.as_u64().unwrap_or(0)
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(UsageField(Some(u)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<UsageField, A::Error> {
                ScalarVisitor.visit_seq(seq).map(|_| ZERO)
            }
            other_values!(UsageField, ZERO, unit = UsageField(None));
        }
        d.deserialize_any(V)
    }
}

/// One element of `choices`: the bytes of its text (`delta.content` when the delta has a
/// `content` key, else `text`).
struct ChoiceText(u64);

impl<'de> Deserialize<'de> for ChoiceText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// `delta`: `Some` when it is an object with a `content` key (the string's length
        /// inside, if a string).
        struct Delta(Option<Option<usize>>);
        impl<'de> Deserialize<'de> for Delta {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = Delta;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("any JSON value")
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Delta, A::Error> {
                        let mut content = None;
                        while let Some(k) = map.next_key::<Key>()? {
                            if k.0 == "content" {
                                content = Some(map.next_value::<TextLen>()?.0);
                            } else {
                                map.next_value::<IgnoredAny>()?;
                            }
                        }
                        Ok(Delta(content))
                    }
                    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Delta, A::Error> {
                        ScalarVisitor.visit_seq(seq).map(|_| Delta(None))
                    }
                    other_values!(Delta, Delta(None));
                }
                d.deserialize_any(V)
            }
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ChoiceText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ChoiceText, A::Error> {
                let (mut delta, mut text) = (None, None);
                while let Some(k) = map.next_key::<Key>()? {
                    match &*k.0 {
                        "delta" => delta = map.next_value::<Delta>()?.0,
                        "text" => text = map.next_value::<TextLen>()?.0,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let len = match delta {
                    Some(content) => content,
                    None => text,
                };
                Ok(ChoiceText(len.unwrap_or(0) as u64))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ChoiceText, A::Error> {
                ScalarVisitor.visit_seq(seq).map(|_| ChoiceText(0))
            }
            other_values!(ChoiceText, ChoiceText(0));
        }
        d.deserialize_any(V)
    }
}

/// `choices`: `Some((elements, text bytes))` when it is an array.
struct Choices(Option<(usize, u64)>);

impl<'de> Deserialize<'de> for Choices {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Choices;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Choices, A::Error> {
                let (mut n, mut bytes) = (0usize, 0u64);
                while let Some(ChoiceText(b)) = seq.next_element()? {
                    n += 1;
                    bytes += b;
                }
                Ok(Choices(Some((n, bytes))))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Choices, A::Error> {
                ScalarVisitor.visit_map(map).map(|_| Choices(None))
            }
            other_values!(Choices, Choices(None));
        }
        d.deserialize_any(V)
    }
}

/// What the balancer reads from one streamed chunk (`data:` of an SSE event).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Chunk {
    /// `choices` is an array: its length.
    pub choices: Option<usize>,
    /// Bytes of generated text in it.
    pub content_bytes: u64,
    /// A non-null `usage`.
    pub usage: Option<Usage>,
}

/// Reads a streamed chunk; `None` when it is not JSON. Nothing of the text is copied.
pub fn chunk(data: &[u8]) -> Option<Chunk> {
    struct Top(Chunk);
    impl<'de> Deserialize<'de> for Top {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Top;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
                    let mut c = Chunk::default();
                    while let Some(k) = map.next_key::<Key>()? {
                        match &*k.0 {
                            "choices" => {
                                let found = map.next_value::<Choices>()?.0;
                                c.choices = found.map(|(n, _)| n);
                                c.content_bytes = found.map_or(0, |(_, b)| b);
                            }
                            "usage" => c.usage = map.next_value::<UsageField>()?.0,
                            _ => {
                                map.next_value::<IgnoredAny>()?;
                            }
                        }
                    }
                    Ok(Top(c))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Top, A::Error> {
                    ScalarVisitor.visit_seq(seq).map(|_| Top(Chunk::default()))
                }
                other_values!(Top, Top(Chunk::default()));
            }
            d.deserialize_any(V)
        }
    }
    let text = std::str::from_utf8(data).ok()?;
    serde_json::from_str::<Top>(text).ok().map(|t| t.0)
}

/// What `inspect` reads from a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// `model`: a non-empty string.
    pub model: String,
    /// `stream: true`.
    pub stream: bool,
    /// `stream_options.include_usage: true`.
    pub client_wants_usage: bool,
    /// `max_completion_tokens`, `max_tokens`, `n`.
    pub caps: OutputCaps,
}

/// Why a body is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not JSON (serde_json's message, with line and column).
    InvalidJson(String),
    /// JSON, but not an object.
    NotObject,
    /// No `model`.
    MissingModel,
    /// `model` is not a non-empty string.
    InvalidModel,
}

/// The body as text. JSON is UTF-8, and serde_json checks that only in the strings it
/// keeps, not in those it skips: checked here for all of it (fast), so a body with a broken
/// string anywhere is refused as a tree would refuse it.
fn utf8(bytes: &[u8]) -> Result<&str, Refusal> {
    std::str::from_utf8(bytes).map_err(|e| {
        // serde_json's message says where (line, column); this path is rare.
        match serde_json::from_slice::<serde_json::Value>(bytes) {
            Err(j) => Refusal::InvalidJson(j.to_string()),
            Ok(_) => Refusal::InvalidJson(format!("not UTF-8 at byte {}", e.valid_up_to())),
        }
    })
}

/// Reads a request body (pure; fuzzed: `agent/fuzz`).
pub fn inspect(bytes: &[u8]) -> Result<Inspected, Refusal> {
    let Fields(found) =
        serde_json::from_str(utf8(bytes)?).map_err(|e| Refusal::InvalidJson(e.to_string()))?;
    let f = found.ok_or(Refusal::NotObject)?;
    let model = match f.model {
        Some(Scalar::Str(m)) if !m.is_empty() => m.into_owned(),
        Some(_) => return Err(Refusal::InvalidModel),
        None => return Err(Refusal::MissingModel),
    };
    Ok(Inspected {
        model,
        stream: f.stream,
        client_wants_usage: f.include_usage,
        caps: f.caps,
    })
}

/// The same readings done through a `serde_json::Value` tree, as the balancer did before:
/// the reference the unit tests and the `request_json` fuzz target hold the readers to.
#[doc(hidden)]
pub mod reference {
    use super::{Chunk, Inspected, OutputCaps, Refusal};
    use crate::balancer::sse::Usage;
    use serde_json::Value;

    /// [`super::inspect`], through a tree.
    pub fn request(bytes: &[u8]) -> Result<Inspected, Refusal> {
        let body: Value =
            serde_json::from_slice(bytes).map_err(|e| Refusal::InvalidJson(e.to_string()))?;
        if !body.is_object() {
            return Err(Refusal::NotObject);
        }
        let model = match body.get("model") {
            Some(Value::String(m)) if !m.is_empty() => m.clone(),
            Some(_) => return Err(Refusal::InvalidModel),
            None => return Err(Refusal::MissingModel),
        };
        Ok(Inspected {
            model,
            stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
            client_wants_usage: body
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            caps: OutputCaps {
                max_completion_tokens: body.get("max_completion_tokens").and_then(Value::as_u64),
                max_tokens: body.get("max_tokens").and_then(Value::as_u64),
                n: body.get("n").and_then(Value::as_u64),
            },
        })
    }

    /// [`super::chunk`], through a tree.
    pub fn chunk(data: &[u8]) -> Option<Chunk> {
        let v: Value = serde_json::from_slice(data).ok()?;
        let usage = |u: &Value| {
            (!u.is_null()).then(|| Usage {
                prompt_tokens: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
                completion_tokens: u
                    .get("completion_tokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                estimated: false,
            })
        };
        let choices = v.get("choices").and_then(Value::as_array);
        Some(Chunk {
            choices: choices.map(Vec::len),
            content_bytes: choices.map_or(0, |cs| {
                cs.iter()
                    .filter_map(|c| {
                        c.get("delta")
                            .and_then(|d| d.get("content"))
                            .or_else(|| c.get("text"))
                            .and_then(Value::as_str)
                    })
                    .map(|t| t.len() as u64)
                    .sum()
            }),
            usage: v.get("usage").and_then(usage),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::reference::{chunk as chunk_by_value, request as by_value};
    use super::*;

    #[test]
    fn reads_the_fields_and_skips_the_rest() {
        let r = inspect(
            br#"{"messages":[{"role":"user","content":"hi \"there\"","x":[1,{"a":null}]}],
                "model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},
                "max_tokens":16,"n":2,"temperature":0.5}"#,
        )
        .unwrap();
        assert_eq!(r.model, "gpt-4o");
        assert!(r.stream && r.client_wants_usage);
        assert_eq!(
            r.caps,
            OutputCaps {
                max_completion_tokens: None,
                max_tokens: Some(16),
                n: Some(2)
            }
        );
    }

    #[test]
    fn agrees_with_reading_a_value() {
        let cases: &[&[u8]] = &[
            br#"{"model":"m"}"#,
            br#"{"model":""}"#,
            br#"{"model":5}"#,
            br#"{"model":null}"#,
            br#"{"mod\u0065l":"esc\u00e9"}"#,
            br#"{"model":"a","model":7}"#,
            br#"{"model":7,"model":"a"}"#,
            br#"{"messages":[]}"#,
            br#"[{"model":"m"}]"#,
            br#""model""#,
            br#"null"#,
            br#"{"model":"m","stream":"true"}"#,
            br#"{"model":"m","stream":1}"#,
            br#"{"model":"m","stream":true,"stream":false}"#,
            br#"{"model":"m","stream_options":[true]}"#,
            br#"{"model":"m","stream_options":{"include_usage":1}}"#,
            br#"{"model":"m","stream_options":{"include_usage":true,"include_usage":null}}"#,
            br#"{"model":"m","max_tokens":-1,"n":1.0,"max_completion_tokens":18446744073709551615}"#,
            br#"{"model":"m","max_tokens":18446744073709551616}"#,
            br#"{"model":"m"} x"#,
            br#"{"model":"m",}"#,
            br#"{"model":"m""#,
            b"",
            b"\xff",
            br#"{"model":"\ud800"}"#,
            b"{\"model\":\"m\",\"messages\":\"\x98\"}",
            b"{\"model\":\"m\xc3\"}",
        ];
        for c in cases {
            assert_eq!(
                inspect(c),
                by_value(c),
                "body {:?}",
                String::from_utf8_lossy(c)
            );
        }
    }

    #[test]
    fn chunks_read_as_a_value_would() {
        let cases: &[&[u8]] = &[
            br#"{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel\nlo"}}]}"#,
            br#"{"choices":[{"delta":{"content":null},"text":"ignored"}]}"#,
            br#"{"choices":[{"delta":{},"text":"abc"}]}"#,
            br#"{"choices":[{"delta":"x","text":"abcd"},{"text":5},7,[1]]}"#,
            br#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3}}"#,
            br#"{"choices":[],"usage":null}"#,
            br#"{"choices":[],"usage":"odd"}"#,
            br#"{"choices":[],"usage":{"prompt_tokens":-1,"completion_tokens":2.5}}"#,
            br#"{"choices":{"0":{}},"usage":{"prompt_tokens":1}}"#,
            br#"{"usage":{"prompt_tokens":1}}"#,
            br#"{"choices":[{"text":"a"}],"choices":[{"text":"bb"}]}"#,
            "{\"choices\":[{\"delta\":{\"content\":\"é\"},\"delta\":{\"role\":\"x\"},\"text\":\"zz\"}]}".as_bytes(),
            br#"[1,2]"#,
            br#""s""#,
            br#"{"choices":[{"text":"a"}]"#,
            b"{\"id\":\"\x98\",\"choices\":[]}",
            b"",
        ];
        for c in cases {
            assert_eq!(
                chunk(c),
                chunk_by_value(c),
                "chunk {:?}",
                String::from_utf8_lossy(c)
            );
        }
    }

    #[test]
    fn deep_nesting_in_skipped_fields_is_fine() {
        let mut body = br#"{"model":"m","messages":"#.to_vec();
        body.extend(std::iter::repeat_n(b'[', 10_000));
        body.extend(std::iter::repeat_n(b']', 10_000));
        body.push(b'}');
        assert_eq!(inspect(&body).unwrap().model, "m");
    }

    proptest::proptest! {
        /// Any JSON made of the fields that matter and noise reads as a `Value` would.
        #[test]
        fn matches_value_reading(
            fields in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "model", "stream", "stream_options", "max_tokens",
                        "max_completion_tokens", "n", "messages", "include_usage",
                    ]),
                    proptest::sample::select(vec![
                        r#""m""#, r#""""#, "true", "false", "null", "0", "3", "-2", "1.5",
                        "[]", r#"{"include_usage":true}"#, r#"{"include_usage":false}"#,
                        r#"[{"a":"b"}]"#, r#""x\"y""#, "1e3",
                    ]),
                ),
                0..8,
            )
        ) {
            let body = format!(
                "{{{}}}",
                fields
                    .iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            proptest::prop_assert_eq!(inspect(body.as_bytes()), by_value(body.as_bytes()));
        }
    }
}
