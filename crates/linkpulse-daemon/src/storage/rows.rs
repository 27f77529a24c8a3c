//! Stored columns back into API values, shared by every backend (sans-IO): a backend reads its
//! columns in its own way and builds the records here, so the API JSON is the same whichever
//! database holds the history.

use super::compact;
use super::{Attempt, HourlyRow, Millis, PackedAttempt};
use crate::state::State;

/// The columns of an [`AttemptColumns`], in its field order, from `results r JOIN series s`
/// (the same schema in both backends).
pub(crate) const ATTEMPT_COLUMNS: &str =
    "s.check_name, r.at_ms, r.up, r.latency_ms, r.error_kind, r.detail, s.kind, s.target";

/// The columns of one stored attempt: the result row and its series.
#[derive(Debug)]
pub(crate) struct AttemptColumns {
    /// Check name (of the series).
    pub(crate) check: String,
    /// When the attempt finished.
    pub(crate) at_ms: Millis,
    /// The attempt succeeded.
    pub(crate) up: bool,
    /// Latency in milliseconds.
    pub(crate) latency_ms: Option<f64>,
    /// Error kind of a failed attempt.
    pub(crate) error_kind: Option<String>,
    /// The JSON text the row keeps (see [`compact`]).
    pub(crate) detail: Option<String>,
    /// Probe kind of the series.
    pub(crate) kind: Option<String>,
    /// Probe target of the series.
    pub(crate) target: Option<String>,
}

impl AttemptColumns {
    /// The attempt with its result rebuilt in the probe JSON shape.
    pub(crate) fn into_attempt(self) -> Attempt {
        Attempt {
            result: compact::join(
                self.kind,
                self.target,
                self.detail.as_deref(),
                self.up,
                self.latency_ms,
            ),
            check: self.check,
            at_ms: self.at_ms,
            up: self.up,
            latency_ms: self.latency_ms,
            error_kind: self.error_kind,
        }
    }
}

/// The series (probe kind and target) and JSON text an attempt is stored with: read only
/// through [`PackedAttempt::series`] and [`PackedAttempt::detail`].
pub(crate) fn packed_columns(a: &PackedAttempt) -> (Option<&str>, Option<&str>, Option<&str>) {
    let (kind, target) = a.series();
    (kind, target, a.detail())
}

/// A stored state name; an unknown name reads as [`State::Unknown`].
pub(crate) fn state(s: &str) -> State {
    State::parse(s).unwrap_or(State::Unknown)
}

/// Stored JSON text; missing or unreadable text reads as `null`.
pub(crate) fn json(text: Option<&str>) -> serde_json::Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// An hourly aggregate from its stored sums.
pub(crate) fn hourly(
    hour_ms: Millis,
    attempts: i64,
    ups: i64,
    latency_sum: f64,
    latency_n: i64,
    latency_max: Option<f64>,
) -> HourlyRow {
    HourlyRow {
        hour_ms,
        attempts: u64::try_from(attempts).unwrap_or(0),
        ups: u64::try_from(ups).unwrap_or(0),
        latency_avg_ms: (latency_n > 0).then(|| latency_sum / latency_n as f64),
        latency_max_ms: latency_max,
    }
}

/// A row limit as an SQL integer.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The start of the whole hour before `raw_before_ms`: retention folds whole hours only, so
/// an hour is never split between raw rows and its aggregate.
pub(crate) fn hour_cutoff(raw_before_ms: Millis) -> Millis {
    raw_before_ms - raw_before_ms.rem_euclid(3_600_000)
}
