//! Judging an [`Answer`] against conditions.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value as Json;

use super::{Answer, Condition, Field, Literal, Op, Segment, Value};

/// The first condition an answer did not meet, with the value seen. `Display`:
/// `condition failed: body.status == "UP" (saw "DOWN")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The condition as written.
    pub condition: String,
    /// What the answer had instead (`"DOWN"`, `503`, `412ms`, `no header x-version`).
    pub saw: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "condition failed: {} (saw {})", self.condition, self.saw)
    }
}

impl std::error::Error for Failure {}

/// Checks `conditions` in order; the first one not met is the error. The body is parsed as
/// JSON at most once, and only when a `body.PATH` condition asks.
pub fn evaluate(conditions: &[Condition], answer: &Answer<'_>) -> Result<(), Failure> {
    let json: Option<Result<Json, String>> = conditions
        .iter()
        .any(|c| matches!(c.field, Field::BodyPath(_)))
        .then(|| {
            serde_json::from_slice(answer.body)
                .map_err(|e| format!("a body that is not JSON ({e})"))
        });
    for c in conditions {
        let seen = seen(&c.field, answer, json.as_ref());
        if !holds(&seen, c.op, &c.value) {
            return Err(Failure {
                condition: c.text.clone(),
                saw: seen.to_string(),
            });
        }
    }
    Ok(())
}

/// A value taken from the answer.
#[derive(Debug)]
enum Seen<'a> {
    Number(f64),
    Text(Cow<'a, str>),
    /// Seconds.
    Duration(f64),
    Bool(bool),
    Json(Cow<'a, Json>),
    /// Not there; the words say what is missing.
    Missing(String),
}

fn seen<'s>(
    field: &Field,
    answer: &'s Answer<'_>,
    json: Option<&'s Result<Json, String>>,
) -> Seen<'s> {
    match field {
        Field::Status => match answer.status {
            Some(s) => Seen::Number(f64::from(s)),
            None => Seen::Missing("no response".to_owned()),
        },
        Field::Body => Seen::Text(String::from_utf8_lossy(answer.body)),
        Field::Header(name) => {
            let value = answer
                .headers
                .and_then(|h| h.get(name.as_str()))
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            match value {
                Some(v) => Seen::Text(Cow::Owned(v)),
                None => Seen::Missing(format!("no header {name}")),
            }
        }
        Field::ResponseTime => Seen::Duration(answer.response_time.as_secs_f64()),
        Field::CertExpiry => match answer.cert_expiry {
            Some(s) => Seen::Duration(s),
            None => Seen::Missing("no TLS certificate".to_owned()),
        },
        Field::Connected => Seen::Bool(answer.connected),
        Field::BodyPath(path) => match json {
            None => Seen::Missing("no body".to_owned()),
            Some(Err(why)) => Seen::Missing(why.clone()),
            Some(Ok(root)) => walk(root, path),
        },
    }
}

/// Follows `path` from `root`.
fn walk<'a>(root: &'a Json, path: &[Segment]) -> Seen<'a> {
    let mut at = root;
    for (i, seg) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let next = match (seg, at) {
            (Segment::Key(k), Json::Object(map)) => match map.get(k) {
                Some(v) => Some(v),
                None if k == "length" && last => return Seen::Number(map.len() as f64),
                None => None,
            },
            (Segment::Key(k), Json::Array(items)) if k == "length" && last => {
                return Seen::Number(items.len() as f64);
            }
            (Segment::Key(k), Json::String(s)) if k == "length" && last => {
                return Seen::Number(s.chars().count() as f64);
            }
            (Segment::Index(n), Json::Array(items)) => items.get(*n),
            _ => None,
        };
        match next {
            Some(v) => at = v,
            None => {
                let shown: String = path[..=i].iter().map(segment_text).collect();
                return Seen::Missing(format!("nothing at body{shown}"));
            }
        }
    }
    Seen::Json(Cow::Borrowed(at))
}

fn segment_text(s: &Segment) -> String {
    match s {
        Segment::Key(k) => format!(".{k}"),
        Segment::Index(n) => format!("[{n}]"),
    }
}

/// Whether `seen OP value` holds.
fn holds(seen: &Seen<'_>, op: Op, value: &Value) -> bool {
    if let Seen::Missing(_) = seen {
        let is_null = matches!(value, Value::Literal(Literal::Null));
        return match op {
            Op::Eq => is_null,
            Op::Ne => !is_null,
            Op::NotContains | Op::NotMatches => true,
            _ => false,
        };
    }
    match value {
        Value::Regex(re) => {
            let hit = re.is_match(&text_of(seen));
            match op {
                Op::Ne | Op::NotMatches => !hit,
                _ => hit,
            }
        }
        Value::Any(items) => {
            let hit = items.iter().any(|l| equals(seen, l));
            if op == Op::Ne { !hit } else { hit }
        }
        Value::Literal(lit) => match op {
            Op::Eq => equals(seen, lit),
            Op::Ne => !equals(seen, lit),
            Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                let (Some(a), Some(b)) = (number_of(seen), literal_number(lit)) else {
                    return false;
                };
                match op {
                    Op::Lt => a < b,
                    Op::Le => a <= b,
                    Op::Gt => a > b,
                    _ => a >= b,
                }
            }
            Op::Contains => contains(seen, lit),
            Op::NotContains => !contains(seen, lit),
            // `matches` always carries a regex (the parser compiles it).
            Op::Matches | Op::NotMatches => false,
        },
    }
}

fn literal_number(l: &Literal) -> Option<f64> {
    match l {
        Literal::Number(n) | Literal::Duration(n) => Some(*n),
        _ => None,
    }
}

fn number_of(seen: &Seen<'_>) -> Option<f64> {
    match seen {
        Seen::Number(n) | Seen::Duration(n) => Some(*n),
        Seen::Text(t) => t.trim().parse().ok(),
        Seen::Json(j) => match j.as_ref() {
            Json::Number(n) => n.as_f64(),
            Json::String(s) => s.trim().parse().ok(),
            _ => None,
        },
        Seen::Bool(_) | Seen::Missing(_) => None,
    }
}

/// The value as text: a JSON string without its quotes, anything else as written.
fn text_of<'a>(seen: &'a Seen<'_>) -> Cow<'a, str> {
    match seen {
        Seen::Text(t) => Cow::Borrowed(t.as_ref()),
        Seen::Json(j) => match j.as_ref() {
            Json::String(s) => Cow::Borrowed(s.as_str()),
            other => Cow::Owned(other.to_string()),
        },
        Seen::Number(n) => Cow::Owned(number_text(*n)),
        Seen::Duration(s) => Cow::Owned(duration_text(*s)),
        Seen::Bool(b) => Cow::Owned(b.to_string()),
        Seen::Missing(_) => Cow::Borrowed(""),
    }
}

fn literal_text(l: &Literal) -> Cow<'_, str> {
    match l {
        Literal::Text(t) => Cow::Borrowed(t.as_str()),
        Literal::Number(n) => Cow::Owned(number_text(*n)),
        Literal::Duration(s) => Cow::Owned(duration_text(*s)),
        Literal::Bool(b) => Cow::Owned(b.to_string()),
        Literal::Null => Cow::Borrowed("null"),
    }
}

fn equals(seen: &Seen<'_>, lit: &Literal) -> bool {
    match lit {
        Literal::Null => matches!(seen, Seen::Json(j) if j.is_null()),
        Literal::Number(_) | Literal::Duration(_) => number_of(seen)
            .zip(literal_number(lit))
            .is_some_and(|(a, b)| a == b),
        Literal::Bool(b) => match seen {
            Seen::Bool(s) => s == b,
            Seen::Json(j) => j.as_bool() == Some(*b),
            other => text_of(other) == b.to_string(),
        },
        Literal::Text(t) => text_of(seen) == t.as_str(),
    }
}

/// Text contains the literal; a JSON array contains an item equal to it.
fn contains(seen: &Seen<'_>, lit: &Literal) -> bool {
    if let Seen::Json(j) = seen
        && let Json::Array(items) = j.as_ref()
    {
        return items
            .iter()
            .any(|item| equals(&Seen::Json(Cow::Borrowed(item)), lit));
    }
    text_of(seen).contains(literal_text(lit).as_ref())
}

fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// `412ms`, `1.5s`, `6d 23h 59m`.
fn duration_text(secs: f64) -> String {
    let sign = if secs < 0.0 { "-" } else { "" };
    let s = secs.abs();
    let body = if s < 1.0 {
        let ms = s * 1000.0;
        if ms < 10.0 {
            format!("{ms:.1}ms")
        } else {
            format!("{ms:.0}ms")
        }
    } else if s < 60.0 {
        format!("{}s", (s * 100.0).round() / 100.0)
    } else {
        let whole = std::time::Duration::from_secs(if s >= 86_400.0 {
            (s / 60.0).floor() as u64 * 60
        } else {
            s.floor() as u64
        });
        humantime::format_duration(whole).to_string()
    };
    format!("{sign}{body}")
}

/// Longest text shown as a seen value.
const SHOW_MAX: usize = 80;

impl fmt::Display for Seen<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // At most SHOW_MAX characters, quoted or not, with `…` when cut.
        let clip = |f: &mut fmt::Formatter<'_>, t: &str, quote: bool| {
            let cut: String = t.chars().take(SHOW_MAX).collect();
            let more = if cut.len() < t.len() { "…" } else { "" };
            if quote {
                write!(f, "{cut:?}{more}")
            } else {
                write!(f, "{cut}{more}")
            }
        };
        match self {
            Seen::Number(n) => f.write_str(&number_text(*n)),
            Seen::Text(t) => clip(f, t, true),
            Seen::Duration(s) => f.write_str(&duration_text(*s)),
            Seen::Bool(b) => write!(f, "{b}"),
            Seen::Json(j) => match j.as_ref() {
                Json::String(s) => clip(f, s, true),
                other => clip(f, &other.to_string(), false),
            },
            Seen::Missing(why) => f.write_str(why),
        }
    }
}
