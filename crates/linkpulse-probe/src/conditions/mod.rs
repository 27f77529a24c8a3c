//! Conditions on an HTTP answer, Gatus style: `status == 200`, `body.status == "UP"`,
//! `body.items.length > 0`, `response_time < 300ms`, `cert_expiry > 7d`,
//! `header.content-type contains json`.
//!
//! Sans-IO: [`Condition::parse`] turns the text into a typed AST (type-checked, so
//! `response_time < 300` or `status contains "x"` is an error at config load, with a caret
//! under the bad token); [`evaluate`] judges an [`Answer`] — status, headers, the (bounded)
//! body, the response time and the certificate's time left, all given by the caller — and
//! names the first condition that failed with the value it saw:
//! `condition failed: body.status == "UP" (saw "DOWN")`.
//!
//! ```
//! use linkpulse_probe::conditions::{Answer, Condition, evaluate};
//!
//! let up: Condition = "body.status == \"UP\"".parse().unwrap();
//! let answer = Answer { status: Some(200), body: br#"{"status":"DOWN"}"#, ..Answer::default() };
//! let failed = evaluate(&[up], &answer).unwrap_err();
//! assert_eq!(failed.to_string(), r#"condition failed: body.status == "UP" (saw "DOWN")"#);
//! ```
//!
//! Operands (left): `status`, `body` (the whole text), `body.PATH` (JSON: `.field`, `[index]`,
//! `["odd key"]`, `.length` of an array, string or object), `header.NAME`, `response_time`,
//! `cert_expiry` (time left on the earliest-expiring certificate), `connected`. Gatus's
//! placeholders `[STATUS]`, `[BODY]`, `[RESPONSE_TIME]`, `[CERTIFICATE_EXPIRATION]` and
//! `[CONNECTED]` are accepted as the same operands. Operators: `==`, `!=`, `<`, `<=`, `>`,
//! `>=`, `contains`, `not contains`, `matches` (a regular expression), `not matches`.
//! Values (right): numbers, `"strings"` (or `'strings'`), durations (`300ms`, `7d`),
//! `true`/`false`, `null`, `any(V, V, …)` (equal to one of them) and `pat("glob*")`.

mod eval;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

pub use eval::{Failure, evaluate};

/// One parsed, type-checked condition. `Display` gives back the text as written.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The text as written (trimmed).
    text: String,
    /// What is looked at.
    field: Field,
    /// How it is compared.
    op: Op,
    /// What it is compared with.
    value: Value,
}

impl Condition {
    /// Parses and type-checks `text`.
    pub fn parse(text: &str) -> Result<Condition, ConditionError> {
        parse::condition(text)
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether evaluating needs the response headers.
    pub fn needs_headers(&self) -> bool {
        matches!(self.field, Field::Header(_))
    }

    /// Whether the condition is about the connection itself (`connected`): it is judged even
    /// when no connection could be made.
    pub fn about_connection(&self) -> bool {
        matches!(self.field, Field::Connected)
    }

    /// Whether evaluating needs the response body.
    pub fn needs_body(&self) -> bool {
        matches!(self.field, Field::Body | Field::BodyPath(_))
    }
}

impl std::str::FromStr for Condition {
    type Err = ConditionError;

    fn from_str(s: &str) -> Result<Condition, ConditionError> {
        Condition::parse(s)
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for Condition {
    fn eq(&self, other: &Condition) -> bool {
        self.text == other.text
    }
}

/// Why a condition does not parse or type-check: what is wrong, and where. `Display` is the
/// message, then the condition with a caret line under the offending token:
///
/// ```text
/// response_time is a duration: write the value with a unit, e.g. 300ms or 2s
///   response_time < 300
///                   ^^^
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}\n  {text}\n  {caret}")]
pub struct ConditionError {
    /// What is wrong, naming the token.
    pub message: String,
    /// The condition as written.
    pub text: String,
    /// Byte range of the offending token in `text`.
    pub span: std::ops::Range<usize>,
    /// Spaces and carets that line up under `span` (one caret per character).
    caret: String,
}

impl ConditionError {
    fn new(text: &str, span: std::ops::Range<usize>, message: impl Into<String>) -> Self {
        let floor = |mut at: usize| {
            at = at.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            at
        };
        let start = floor(span.start);
        let end = floor(span.end.max(start));
        let pad = text[..start].chars().count();
        let width = text[start..end].chars().count().max(1);
        ConditionError {
            message: message.into(),
            text: text.to_owned(),
            caret: format!("{}{}", " ".repeat(pad), "^".repeat(width)),
            span: start..end,
        }
    }
}

/// What an answer looked like, for [`evaluate`]. The caller fills in what it has; a field
/// it does not have (`status: None`, `cert_expiry: None`) makes conditions on it fail with
/// "saw no …".
#[derive(Debug, Clone, Default)]
pub struct Answer<'a> {
    /// Status of the final response.
    pub status: Option<u16>,
    /// Headers of the final response.
    pub headers: Option<&'a http::HeaderMap>,
    /// The body (as much as was kept).
    pub body: &'a [u8],
    /// How long the whole request took.
    pub response_time: Duration,
    /// Seconds until the earliest-expiring certificate expires (negative once expired);
    /// `None` without TLS.
    pub cert_expiry: Option<f64>,
    /// Whether a connection was made.
    pub connected: bool,
}

/// The left side: what a condition looks at.
#[derive(Debug, Clone, PartialEq)]
enum Field {
    /// The final status code.
    Status,
    /// The whole body as text.
    Body,
    /// A value inside a JSON body.
    BodyPath(Vec<Segment>),
    /// A response header, by lower-case name.
    Header(String),
    /// The request's total time.
    ResponseTime,
    /// Time left on the certificate.
    CertExpiry,
    /// Whether a connection was made.
    Connected,
}

impl Field {
    /// The type of the field's values, for type checks.
    fn ty(&self) -> Ty {
        match self {
            Field::Status => Ty::Number,
            Field::Body | Field::Header(_) => Ty::Text,
            Field::BodyPath(_) => Ty::Json,
            Field::ResponseTime | Field::CertExpiry => Ty::Duration,
            Field::Connected => Ty::Bool,
        }
    }
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    /// `.name` or `["name"]`; `.length` of an array or string is its length.
    Key(String),
    /// `[3]`.
    Index(usize),
}

/// The types the checker knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Number,
    Text,
    Duration,
    Bool,
    /// A JSON value: its type is known only at run time.
    Json,
    Null,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Number => "a number",
            Ty::Text => "text",
            Ty::Duration => "a duration",
            Ty::Bool => "true or false",
            Ty::Json => "a JSON value",
            Ty::Null => "null",
        }
    }
}

/// The operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    NotContains,
    Matches,
    NotMatches,
}

impl Op {
    fn is_order(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }
}

/// A literal on the right.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Number(f64),
    Text(String),
    /// Seconds.
    Duration(f64),
    Bool(bool),
    Null,
}

impl Literal {
    fn ty(&self) -> Ty {
        match self {
            Literal::Number(_) => Ty::Number,
            Literal::Text(_) => Ty::Text,
            Literal::Duration(_) => Ty::Duration,
            Literal::Bool(_) => Ty::Bool,
            Literal::Null => Ty::Null,
        }
    }
}

/// The right side.
#[derive(Debug, Clone)]
enum Value {
    /// One literal.
    Literal(Literal),
    /// `any(a, b, …)`: equal to one of them.
    Any(Vec<Literal>),
    /// `pat("glob*")` or the regular expression of `matches`.
    Regex(regex::Regex),
}
