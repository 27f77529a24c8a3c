//! The history the dashboard and the status page are drawn from: [`HistorySource`], which the
//! daemon implements over its storage, and the records it returns. Plain data, no HTTP: the
//! compaction ([`crate::compact`]) and the endpoints ([`crate::history`],
//! [`crate::status_page`]) both read it.

use serde::Serialize;

/// One attempt, as charts need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// When it finished, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// It succeeded.
    pub up: bool,
    /// Latency in milliseconds, when measured.
    pub latency_ms: Option<f64>,
}

/// A check entered `state` (`up`, `down`, `degraded`, `unknown`) at `at_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    /// When, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The state entered.
    pub state: String,
}

/// An outage: from going down to coming back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentSpan {
    /// When it started.
    pub started_ms: i64,
    /// When it ended; `None` while ongoing.
    pub ended_ms: Option<i64>,
    /// The error that caused it.
    pub cause: Option<String>,
    /// The diagnosis verdict.
    pub diagnosis: Option<String>,
}

/// Errors of a [`HistorySource`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// No check has this name.
    #[error("no check named {0:?}")]
    UnknownCheck(String),
    /// The backend failed.
    #[error("history backend: {0}")]
    Backend(String),
}

/// Where chart data comes from. Methods block (they run on `spawn_blocking`).
pub trait HistorySource: Send + Sync + 'static {
    /// Attempts of `check` in `[from_ms, to_ms)`, any order, the newest `limit` at most.
    fn samples(
        &self,
        check: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<Sample>, HistoryError>;

    /// State changes of `check` at or after `from_ms`, oldest first, preceded by the last one
    /// before `from_ms` if any.
    fn state_changes(&self, check: &str, from_ms: i64) -> Result<Vec<StateChange>, HistoryError>;

    /// Incidents of `check` overlapping `[from_ms, now)`, any order, at most `limit`.
    fn incidents(
        &self,
        check: &str,
        from_ms: i64,
        limit: usize,
    ) -> Result<Vec<IncidentSpan>, HistoryError>;

    /// Whether a silence or maintenance window holds the alerts of `check` now (the status
    /// page shows "maintenance").
    fn maintenance(&self, _check: &str) -> bool {
        false
    }

    /// Uptime of `check` over `[from_ms, to_ms)` with its silences and maintenance windows left
    /// out, 0–1; `None` when nothing held it in that time (or the source does not know).
    fn uptime_excluding_maintenance(
        &self,
        _check: &str,
        _from_ms: i64,
        _to_ms: i64,
    ) -> Option<f64> {
        None
    }

    /// The wall clock, milliseconds since the Unix epoch (tests may fix it).
    fn now_ms(&self) -> i64 {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    }
}
