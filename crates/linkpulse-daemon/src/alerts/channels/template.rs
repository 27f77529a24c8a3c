//! A templated webhook for any other receiver: method, URL, headers and a body written in
//! the config, with `{{field}}` replaced by the event's fields.
//!
//! `{{field}}` inserts the value as text (an absent value is empty); `{{field | json}}`
//! inserts it as JSON (a quoted, escaped string; `null` when absent; `labels` as an object),
//! which is what a JSON body needs. The fields are listed in [`FIELDS`] (and
//! docs/config.md); a field not in the list is a config error with its line.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Event;
use super::config::{Ctx, S};
use super::http::Request;
use super::secret::{Revealed, Secret};
use crate::config::fields::headers as check_headers;
use crate::config::fields::plain_headers;

/// The fields a template may name (plus `labels.NAME` for one label).
pub const FIELDS: [&str; 20] = [
    "event",
    "check",
    "kind",
    "target",
    "state",
    "previous",
    "at",
    "at_ms",
    "since",
    "since_ms",
    "incident_started",
    "incident_started_ms",
    "cause",
    "diagnosis",
    "labels",
    "idempotency_key",
    "alert",
    "title",
    "summary",
    "severity",
];

/// `webhook_template:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    url: Option<S<String>>,
    url_file: Option<S<String>>,
    url_env: Option<S<String>>,
    method: Option<S<String>>,
    #[serde(default)]
    headers: BTreeMap<String, S<String>>,
    body: S<String>,
    content_type: Option<S<String>>,
    ca_file: Option<S<String>>,
}

/// A templated webhook.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Template {
    /// The URL (may carry a token: a secret).
    pub url: Secret,
    /// HTTP method (`POST` unless set).
    pub method: String,
    /// Headers; their values are templates too.
    pub headers: BTreeMap<String, String>,
    /// The body template.
    pub body: String,
    /// `Content-Type` of the body (`application/json` unless set).
    pub content_type: String,
    /// Extra CA certificates for `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
}

impl Template {
    pub(crate) fn validate(c: &mut Ctx<'_, '_>, raw: &Raw) -> Option<Template> {
        let url = c.webhook_url(
            raw.url.as_ref(),
            raw.url_file.as_ref(),
            raw.url_env.as_ref(),
        );
        let method = match &raw.method {
            None => Some("POST".to_owned()),
            Some(m) => {
                match http::Method::from_bytes(m.value.trim().to_ascii_uppercase().as_bytes()) {
                    Ok(method) => Some(method.to_string()),
                    Err(_) => {
                        c.at(m, "method", format!("invalid method {:?}", m.value));
                        None
                    }
                }
            }
        };
        let prefix = c.prefix.clone();
        let headers_ok = check_headers(c.e, &raw.headers, &prefix);
        let mut ok = headers_ok;
        for (name, value) in &raw.headers {
            if let Err(m) = parse(&value.value) {
                c.at(value, &format!("headers.{name}"), m);
                ok = false;
            }
        }
        if let Err(m) = parse(&raw.body.value) {
            c.at(&raw.body, "body", m);
            ok = false;
        }
        let content_type = match &raw.content_type {
            None => Some("application/json".to_owned()),
            Some(t)
                if http::HeaderValue::from_str(t.value.trim()).is_ok()
                    && !t.value.trim().is_empty() =>
            {
                Some(t.value.trim().to_owned())
            }
            Some(t) => {
                c.at(
                    t,
                    "content_type",
                    format!("invalid content type {:?}", t.value),
                );
                None
            }
        };
        let ca_file = c.ca_file(raw.ca_file.as_ref());
        ok.then_some(())?;
        Some(Template {
            url: url?,
            method: method?,
            headers: plain_headers(&raw.headers),
            body: raw.body.value.clone(),
            content_type: content_type?,
            ca_file: ca_file?,
        })
    }

    /// The request with the event filled in.
    pub(crate) fn request(&self, ev: &Event, r: &mut Revealed) -> Result<Request, String> {
        let url = r.reveal(&self.url)?;
        let method = http::Method::from_bytes(self.method.as_bytes())
            .map_err(|e| format!("bad method: {e}"))?;
        let mut headers = Vec::new();
        for (name, value) in &self.headers {
            headers.push((name.clone(), render(value, ev)?));
        }
        Ok(Request {
            method,
            url,
            headers,
            content_type: self.content_type.clone(),
            body: render(&self.body, ev)?.into_bytes(),
        })
    }
}

/// A piece of a template.
#[derive(Debug, PartialEq)]
enum Piece<'t> {
    Text(&'t str),
    Field { name: &'t str, json: bool },
}

/// Splits a template into text and fields; an unknown field or filter, or a `{{` not
/// closed, is an error in words for the config's user.
fn parse(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a {{ is not closed by }}".to_owned())?;
        let inner = after[..end].trim();
        let (name, json) = match inner.split_once('|') {
            None => (inner, false),
            Some((name, filter)) if filter.trim() == "json" => (name.trim(), true),
            Some((_, filter)) => {
                return Err(format!("unknown filter {:?} (only json)", filter.trim()));
            }
        };
        let known =
            FIELDS.contains(&name) || name.strip_prefix("labels.").is_some_and(|l| !l.is_empty());
        if !known {
            return Err(format!(
                "unknown field {name:?} in the template (fields: {}, labels.NAME)",
                FIELDS.join(", ")
            ));
        }
        pieces.push(Piece::Field { name, json });
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// The value of a field of the event.
fn value(ev: &Event, name: &str) -> serde_json::Value {
    use serde_json::Value;
    let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::from);
    match name {
        "event" => ev.event.clone().into(),
        "check" => ev.check.clone().into(),
        "kind" => ev.kind.clone().into(),
        "target" => ev.target.clone().into(),
        "state" => ev.state.clone().into(),
        "previous" => ev.previous.clone().into(),
        "at" => ev.at().into(),
        "at_ms" => ev.at_ms.into(),
        "since" => super::event::rfc3339(ev.since_ms).into(),
        "since_ms" => ev.since_ms.into(),
        "incident_started" => ev
            .incident_started_ms
            .map_or(Value::Null, |ms| super::event::rfc3339(ms).into()),
        "incident_started_ms" => ev.incident_started_ms.map_or(Value::Null, Value::from),
        "cause" => opt(&ev.cause),
        "diagnosis" => opt(&ev.diagnosis),
        "labels" => serde_json::to_value(&ev.labels).unwrap_or_default(),
        "idempotency_key" => ev.idempotency_key.clone().into(),
        "alert" => ev.alert.clone().into(),
        "title" => ev.title().into(),
        "summary" => ev.summary().into(),
        "severity" => match ev.severity() {
            super::Severity::Critical => "critical",
            super::Severity::Warning => "warning",
            super::Severity::Ok => "ok",
        }
        .into(),
        other => other
            .strip_prefix("labels.")
            .and_then(|l| ev.labels.get(l))
            .map_or(Value::Null, |v| v.clone().into()),
    }
}

/// The template with the event's fields in it.
pub fn render(template: &str, ev: &Event) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    for piece in parse(template)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Field { name, json: true } => out.push_str(&value(ev, name).to_string()),
            Piece::Field { name, json: false } => match value(ev, name) {
                serde_json::Value::Null => {}
                serde_json::Value::String(s) => out.push_str(&s),
                other => out.push_str(&other.to_string()),
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::channels::tests::down;

    #[test]
    fn fields_as_text_and_as_json() {
        let t = r#"{"text": {{ summary | json }}, "team": "{{labels.team}}", "labels": {{labels|json}}, "d": {{diagnosis|json}}, "at": {{at_ms}}}"#;
        let out = render(t, &down()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["team"], "db");
        assert_eq!(v["labels"]["team"], "db");
        assert_eq!(v["d"], "process_down");
        assert_eq!(v["at"], 1_764_918_000_123_i64);
        assert!(v["text"].as_str().unwrap().contains("— diagnosis"));
        let mut ev = down();
        ev.cause = Some("a \"quoted\"\nline".to_owned());
        let v: serde_json::Value =
            serde_json::from_str(&render("{{cause|json}}", &ev).unwrap()).unwrap();
        assert_eq!(v, "a \"quoted\"\nline");
        assert_eq!(
            render("[{{ missing_label }}]", &ev)
                .unwrap_err()
                .split(' ')
                .next(),
            Some("unknown")
        );
        assert_eq!(
            render("{{labels.nope}}|{{labels.nope|json}}", &ev).unwrap(),
            "|null"
        );
        assert!(render("{{check", &ev).unwrap_err().contains("not closed"));
        assert!(
            render("{{check|upper}}", &ev)
                .unwrap_err()
                .contains("unknown filter")
        );
    }
}
