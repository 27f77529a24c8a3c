//! Prometheus Alertmanager, API v2: `POST {url}/api/v2/alerts` with a list of alerts.
//!
//! Labels are the check's labels plus `alertname` (`LinkpulseCheckDown` or
//! `LinkpulseCheckDegraded`), `check` and `instance` (the target), which the check's labels
//! cannot override; `startsAt` is when the incident started. While the check stays down the
//! alert is posted again every `repeat` (1 min unless set; the check core schedules these as
//! `repeat` events, through the outbox like every other), well within Alertmanager's
//! `resolve_timeout` (5 min by default): Alertmanager resolves an alert that is not re-posted,
//! as it does for Prometheus. On recovery the alert is posted with `endsAt`, which resolves it.

use std::time::Duration;

use serde::Deserialize;

use super::Event;
use super::config::{Ctx, S};
use super::http::{Request, join};

/// How often a firing alert is posted again when `repeat` is not written.
pub const DEFAULT_REPEAT: Duration = Duration::from_secs(60);
/// The longest `repeat`: Alertmanager's default `resolve_timeout`.
pub const MAX_REPEAT: Duration = Duration::from_secs(300);
/// How long a test alert stays active.
const TEST_ALERT_FOR_MS: i64 = 5 * 60 * 1000;

/// `alertmanager:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    url: S<String>,
    ca_file: Option<S<String>>,
}

/// An Alertmanager (or a cluster member of one).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Alertmanager {
    /// Base URL, e.g. `http://alertmanager:9093`.
    pub url: String,
    /// Extra CA certificates for `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
}

impl Alertmanager {
    pub(crate) fn validate(c: &mut Ctx<'_, '_>, raw: &Raw) -> Option<Alertmanager> {
        let url = c.url(&raw.url, "url");
        let ca_file = c.ca_file(raw.ca_file.as_ref());
        Some(Alertmanager {
            url: url?,
            ca_file: ca_file?,
        })
    }

    /// The alerts to post: the firing one of the current problem, and the resolved one of
    /// the problem before (degraded → down, or → up).
    pub(crate) fn request(&self, ev: &Event) -> Request {
        let starts = ev.incident_started_ms.unwrap_or(ev.since_ms);
        let mut alerts = Vec::new();
        let firing = match ev.state.as_str() {
            "down" => Some("LinkpulseCheckDown"),
            "degraded" => Some("LinkpulseCheckDegraded"),
            _ => None,
        };
        if let Some(name) = firing {
            let ends = (ev.event == "test").then(|| ev.at_ms + TEST_ALERT_FOR_MS);
            alerts.push(alert(ev, name, starts, ends));
        }
        let ended = match ev.previous.as_str() {
            "down" => Some("LinkpulseCheckDown"),
            "degraded" => Some("LinkpulseCheckDegraded"),
            _ => None,
        };
        if let Some(name) = ended.filter(|n| Some(*n) != firing) {
            alerts.push(alert(ev, name, starts, Some(ev.at_ms)));
        }
        Request::post_json(
            join(&self.url, "/api/v2/alerts"),
            &serde_json::Value::Array(alerts),
        )
    }
}

/// One alert of the list.
fn alert(ev: &Event, name: &str, starts_ms: i64, ends_ms: Option<i64>) -> serde_json::Value {
    let mut labels: serde_json::Map<String, serde_json::Value> = ev
        .labels
        .iter()
        .map(|(k, v)| (label_name(k), v.clone().into()))
        .collect();
    labels.insert("alertname".to_owned(), name.into());
    labels.insert("check".to_owned(), ev.check.clone().into());
    labels.insert("instance".to_owned(), ev.target.clone().into());
    let mut annotations = serde_json::Map::new();
    annotations.insert("summary".to_owned(), ev.title().into());
    annotations.insert("description".to_owned(), ev.summary().into());
    if let Some(c) = &ev.cause {
        annotations.insert("cause".to_owned(), c.clone().into());
    }
    if let Some(d) = &ev.diagnosis {
        annotations.insert("diagnosis".to_owned(), d.clone().into());
    }
    let mut a = serde_json::json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": super::event::rfc3339(starts_ms),
    });
    if let Some(ends) = ends_ms {
        a["endsAt"] = super::event::rfc3339(ends).into();
    }
    a
}

/// A check label's name as an Alertmanager label name (`[a-zA-Z_][a-zA-Z0-9_]*`, which
/// Alertmanager refuses otherwise): other characters become `_`, a leading digit gets a `_`.
fn label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::channels::tests::down;

    #[test]
    fn fires_with_the_checks_labels_and_resolves_with_ends_at() {
        let am = Alertmanager {
            url: "http://am.test:9093".to_owned(),
            ca_file: None,
        };
        let mut ev = down();
        ev.labels.insert("check".to_owned(), "spoofed".to_owned());
        ev.labels.insert("app.tier-1".to_owned(), "web".to_owned());
        let req = am.request(&ev);
        assert_eq!(req.url, "http://am.test:9093/api/v2/alerts");
        let b = req.json();
        assert_eq!(b.as_array().unwrap().len(), 1);
        assert_eq!(b[0]["labels"]["alertname"], "LinkpulseCheckDown");
        assert_eq!(b[0]["labels"]["check"], "db");
        assert_eq!(b[0]["labels"]["team"], "db");
        assert_eq!(b[0]["labels"]["app_tier_1"], "web");
        assert_eq!(label_name("9x"), "_9x");
        assert_eq!(b[0]["labels"]["instance"], "tcp://h:5432");
        assert_eq!(b[0]["startsAt"], "2025-12-05T07:00:00.123Z");
        assert!(b[0].get("endsAt").is_none(), "firing: no endsAt");
        let mut up = down();
        (up.state, up.previous, up.at_ms) = ("up".to_owned(), "down".to_owned(), ev.at_ms + 60_000);
        let b = am.request(&up).json();
        assert_eq!(b.as_array().unwrap().len(), 1);
        assert_eq!(b[0]["labels"]["alertname"], "LinkpulseCheckDown");
        assert_eq!(b[0]["startsAt"], "2025-12-05T07:00:00.123Z");
        assert_eq!(b[0]["endsAt"], "2025-12-05T07:01:00.123Z");
    }
}
