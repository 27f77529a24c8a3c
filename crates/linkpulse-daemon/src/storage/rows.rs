//! Stored columns back into API values, shared by every backend (sans-IO): a backend reads its
//! columns in its own way and builds the records here, so the API JSON is the same whichever
//! database holds the history.

#[cfg(test)]
use super::PackedAttempt;
use super::{Attempt, HourlyRow, Millis};
use super::{cells, compact};
use crate::state::State;

/// The columns of an [`AttemptColumns`], in its field order, from [`ATTEMPT_TABLES`] (the
/// same schema in both backends).
pub(crate) const ATTEMPT_COLUMNS: &str =
    "s.check_name, r.at_ms, r.up, r.latency_us, e.text, t.text, r.nums, s.kind, s.target";

/// The tables [`ATTEMPT_COLUMNS`] come from: a result `r`, its series `s`, its interned error
/// kind `e` and shape `t`.
pub(crate) const ATTEMPT_TABLES: &str = "results r JOIN series s ON s.id = r.series
    LEFT JOIN texts e ON e.id = r.error LEFT JOIN texts t ON t.id = r.shape";

/// The columns of one stored attempt: the result row, its series and its interned texts.
#[derive(Debug)]
pub(crate) struct AttemptColumns {
    /// Check name (of the series).
    pub(crate) check: String,
    /// When the attempt finished.
    pub(crate) at_ms: Millis,
    /// The attempt succeeded.
    pub(crate) up: bool,
    /// Latency in whole microseconds (see [`cells`]).
    pub(crate) latency_us: Option<i64>,
    /// Error kind of a failed attempt.
    pub(crate) error_kind: Option<String>,
    /// The interned shape of the detail (see [`cells`]).
    pub(crate) shape: Option<String>,
    /// The numbers of the shape.
    pub(crate) nums: Option<Vec<u8>>,
    /// Probe kind of the series.
    pub(crate) kind: Option<String>,
    /// Probe target of the series.
    pub(crate) target: Option<String>,
}

impl AttemptColumns {
    /// The attempt with its result rebuilt in the probe JSON shape.
    pub(crate) fn into_attempt(self) -> Attempt {
        let (latency_ms, detail) =
            cells::decode(self.latency_us, self.shape.as_deref(), self.nums.as_deref());
        Attempt {
            result: compact::join(
                self.kind,
                self.target,
                detail.as_deref(),
                self.up,
                latency_ms,
            ),
            check: self.check,
            at_ms: self.at_ms,
            up: self.up,
            latency_ms,
            error_kind: self.error_kind,
        }
    }
}

/// How far a text's stored `last_ms` may lag behind its newest use: the writer moves it
/// forward at most once per this span and text, and retention deletes a text only when its
/// `last_ms` is older than the raw cutoff by more than this (see [`text_cutoff`]).
pub(crate) const TEXT_TOUCH_MS: Millis = 3_600_000;

/// Texts whose every result is older than the raw cutoff `cutoff`: `last_ms` below this.
pub(crate) fn text_cutoff(cutoff: Millis) -> Millis {
    cutoff.saturating_sub(TEXT_TOUCH_MS)
}

/// What a writer knows of a text's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cached {
    /// Its id, and its stored `last_ms` is recent enough for a result at the time asked.
    Fresh(i64),
    /// Its id, but its stored `last_ms` must be moved forward (if the text still exists:
    /// retention may have deleted it since).
    Stale(i64),
    /// Not known: look it up.
    Unknown,
}

/// Ids of interned texts (table `texts`: error kinds and shapes, see [`cells`]) a writer has
/// seen, with the `last_ms` stored for each, so a repeated text costs no query. Valid while
/// no transaction that created an entry has rolled back (the writer clears it then);
/// forgotten whole when it grows past a bound (the database still has every text).
///
/// Keyed by the [`Digest`] of the text, not the text: a check's shape (its URL, address,
/// status line) is a few hundred bytes, and one is kept per check.
#[derive(Debug, Default)]
pub(crate) struct TextIds {
    ids: std::collections::HashMap<u128, (i64, Millis)>,
    digest: Digest,
}

/// A 128-bit digest of a value, for the writers' caches: two independently keyed SipHash-1-3
/// sums (random keys per cache), so that a cache keeps 16 bytes per key instead of its text.
/// Among 100,000 keys, two share a digest with a probability below 10⁻²⁸.
#[derive(Debug, Default)]
pub(crate) struct Digest([std::hash::RandomState; 2]);

impl Digest {
    /// The digest of `v`.
    pub(crate) fn of<T: std::hash::Hash + ?Sized>(&self, v: &T) -> u128 {
        use std::hash::BuildHasher;
        let [a, b] = &self.0;
        (u128::from(a.hash_one(v)) << 64) | u128::from(b.hash_one(v))
    }
}

impl TextIds {
    /// Most texts remembered.
    const MAX: usize = 100_000;

    /// The id of `text` for a result at `at_ms`.
    pub(crate) fn get(&self, text: &str, at_ms: Millis) -> Cached {
        match self.ids.get(&self.digest.of(text)) {
            Some(&(id, last)) if at_ms <= last.saturating_add(TEXT_TOUCH_MS) => Cached::Fresh(id),
            Some(&(id, _)) => Cached::Stale(id),
            None => Cached::Unknown,
        }
    }

    /// Remembers the id of `text` and its stored `last_ms`.
    pub(crate) fn insert(&mut self, text: &str, id: i64, last_ms: Millis) {
        if self.ids.len() >= Self::MAX {
            self.ids.clear();
        }
        let digest = self.digest.of(text);
        self.ids.insert(digest, (id, last_ms));
    }

    /// Forgets every id (after a rollback).
    pub(crate) fn clear(&mut self) {
        self.ids.clear();
    }
}

/// The series (probe kind and target) and detail JSON text an attempt is stored with, as an
/// older schema stored them (for the migration tests).
#[cfg(test)]
pub(crate) fn packed_columns(a: &PackedAttempt) -> (Option<&str>, Option<&str>, Option<String>) {
    let (kind, target) = a.series();
    let c = a.cells();
    let (_, detail) = cells::decode(
        c.latency_us.map(i64::from),
        c.shape.as_deref(),
        c.nums.as_deref(),
    );
    (kind, target, detail)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_tell_keys_apart_and_each_cache_has_its_own() {
        let (d, other) = (Digest::default(), Digest::default());
        assert_eq!(d.of("a"), d.of("a"));
        assert_ne!(d.of(&("ab", Some("c"))), d.of(&("a", Some("bc"))));
        assert_ne!(d.of(&("a", None::<&str>)), d.of(&("a", Some(""))));
        assert_ne!(d.of("a"), other.of("a"), "random keys per cache");
    }

    #[test]
    fn text_ids_tell_texts_apart_by_their_digest() {
        let mut t = TextIds::default();
        t.insert(r#"{"resolved":"127.1.0.1"}"#, 1, 1_000);
        t.insert(r#"{"resolved":"127.1.0.2"}"#, 2, 1_000);
        assert_eq!(
            t.get(r#"{"resolved":"127.1.0.1"}"#, 2_000),
            Cached::Fresh(1)
        );
        assert_eq!(
            t.get(r#"{"resolved":"127.1.0.2"}"#, 2_000),
            Cached::Fresh(2)
        );
        assert_eq!(t.get(r#"{"resolved":"127.1.0.3"}"#, 2_000), Cached::Unknown);
        assert_eq!(
            t.get(r#"{"resolved":"127.1.0.1"}"#, 1_000 + TEXT_TOUCH_MS + 1),
            Cached::Stale(1)
        );
        t.clear();
        assert_eq!(t.get(r#"{"resolved":"127.1.0.1"}"#, 2_000), Cached::Unknown);
    }
}
