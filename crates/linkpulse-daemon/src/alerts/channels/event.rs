//! The alert event as the channels read it back from the outbox payload (the check core's
//! `Alert`, serialised), with the texts every chat channel shares.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One alert event: what happened to which check, and when.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Event {
    /// `down`, `up`, `degraded` or `repeat` (still down); `test` for `linkpulse alert test`.
    pub event: String,
    /// Check name.
    pub check: String,
    /// Check kind (`tcp`, `http`, …).
    pub kind: String,
    /// Check target.
    pub target: String,
    /// The state the event is about (`down`, `up`, `degraded`).
    pub state: String,
    /// The state before.
    pub previous: String,
    /// When it happened (ms since the epoch).
    pub at_ms: i64,
    /// When the current state was entered (ms since the epoch).
    pub since_ms: i64,
    /// When the current incident started (ms since the epoch).
    pub incident_started_ms: Option<i64>,
    /// Why the check is failing.
    pub cause: Option<String>,
    /// Where the fault is (`network`, `process_down`, …), when diagnosed.
    pub diagnosis: Option<String>,
    /// The check's labels.
    pub labels: BTreeMap<String, String>,
    /// The outbox's idempotency key of this delivery.
    pub idempotency_key: String,
    /// The alert target's name.
    pub alert: String,
}

/// How bad an event is, for channels with a severity or priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Down (or still down): page someone.
    Critical,
    /// Degraded: look soon.
    Warning,
    /// Back up, or a test.
    Ok,
}

impl Event {
    /// Reads a payload of the outbox.
    pub fn from_payload(payload: &serde_json::Value) -> Result<Event, String> {
        Event::deserialize(payload).map_err(|e| format!("bad alert payload: {e}"))
    }

    /// The event `linkpulse alert test` sends through `alert`.
    pub fn test(alert: &str, at_ms: i64) -> Event {
        Event {
            event: "test".to_owned(),
            check: "linkpulse-test".to_owned(),
            kind: "test".to_owned(),
            target: "linkpulse alert test".to_owned(),
            state: "down".to_owned(),
            previous: "up".to_owned(),
            at_ms,
            since_ms: at_ms,
            incident_started_ms: Some(at_ms),
            cause: Some("a test notification sent by `linkpulse alert test`".to_owned()),
            diagnosis: None,
            labels: BTreeMap::new(),
            idempotency_key: format!("linkpulse-test/test/{at_ms}/{alert}"),
            alert: alert.to_owned(),
        }
    }

    /// Whether this event ends a problem (`up`): channels resolve or close their alert.
    pub fn resolves(&self) -> bool {
        self.state == "up" && self.event != "test"
    }

    /// How bad it is.
    pub fn severity(&self) -> Severity {
        match self.state.as_str() {
            "up" if self.event != "test" => Severity::Ok,
            "degraded" => Severity::Warning,
            _ => Severity::Critical,
        }
    }

    /// A stable key per check (PagerDuty's `dedup_key`, Opsgenie's `alias`): every event of
    /// the check's current problem refers to the same alert at the provider.
    pub fn dedup_key(&self) -> String {
        format!("linkpulse/{}", self.check)
    }

    /// A short title: `db is down`, `db is still down`, `db is up again`.
    pub fn title(&self) -> String {
        match (self.event.as_str(), self.state.as_str()) {
            ("test", _) => "linkpulse test notification".to_owned(),
            ("repeat", s) => format!("{} is still {s}", self.check),
            (_, "up") => format!("{} is up again", self.check),
            (_, s) => format!("{} is {s}", self.check),
        }
    }

    /// One line for chat: `[linkpulse] db is down (tcp://h:5432): refused — diagnosis: …`.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "[linkpulse] {} is {} ({})",
            self.check, self.state, self.target
        );
        if let Some(c) = &self.cause {
            text.push_str(&format!(": {c}"));
        }
        if let Some(d) = &self.diagnosis {
            text.push_str(&format!(" — diagnosis: {d}"));
        }
        text
    }

    /// The facts a card shows, in order: name and value.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let mut facts = vec![
            ("Check", self.check.clone()),
            ("State", self.state.clone()),
            ("Target", self.target.clone()),
            ("Since", rfc3339(self.since_ms)),
        ];
        if let Some(c) = &self.cause {
            facts.push(("Cause", c.clone()));
        }
        if let Some(d) = &self.diagnosis {
            facts.push(("Diagnosis", d.clone()));
        }
        if !self.labels.is_empty() {
            let labels: Vec<String> = self
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            facts.push(("Labels", labels.join(", ")));
        }
        facts
    }

    /// `at_ms` as RFC 3339.
    pub fn at(&self) -> String {
        rfc3339(self.at_ms)
    }
}

/// Milliseconds since the epoch as RFC 3339 in UTC with milliseconds
/// (`2026-12-05T07:10:00.123Z`).
pub fn rfc3339(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.format(&format).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn down() -> Event {
        Event {
            event: "down".to_owned(),
            check: "db".to_owned(),
            kind: "tcp".to_owned(),
            target: "tcp://h:5432".to_owned(),
            state: "down".to_owned(),
            previous: "up".to_owned(),
            at_ms: 1_764_918_000_123,
            since_ms: 1_764_918_000_123,
            incident_started_ms: Some(1_764_918_000_123),
            cause: Some("refused: connection refused".to_owned()),
            diagnosis: Some("process_down".to_owned()),
            labels: BTreeMap::from([("team".to_owned(), "db".to_owned())]),
            idempotency_key: "db/down/1764918000123/pd".to_owned(),
            alert: "pd".to_owned(),
        }
    }

    #[test]
    fn reads_the_core_payload_and_names_what_happened() {
        let p = serde_json::json!({"event": "down", "check": "db", "kind": "tcp",
            "target": "tcp://h:5432", "state": "down", "previous": "up", "at_ms": 1_764_918_000_123_i64,
            "since_ms": 1_764_918_000_123_i64, "incident_started_ms": 1_764_918_000_123_i64,
            "cause": "refused: connection refused", "diagnosis": "process_down",
            "labels": {"team": "db"}, "idempotency_key": "db/down/1764918000123/pd", "alert": "pd"});
        let e = Event::from_payload(&p).unwrap();
        assert_eq!(e, down());
        assert_eq!(
            e.summary(),
            "[linkpulse] db is down (tcp://h:5432): refused: connection refused — diagnosis: process_down"
        );
        assert_eq!(e.title(), "db is down");
        assert_eq!(e.at(), "2025-12-05T07:00:00.123Z");
        assert_eq!(e.severity(), Severity::Critical);
        assert!(!e.resolves());
    }
}
