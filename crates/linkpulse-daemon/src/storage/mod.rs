//! History: every attempt, state transition, incident and pending alert.
//!
//! [`Storage`] is the seam for backends; [`sqlite::SqliteStorage`] is the embedded default and
//! [`postgres::PostgresStorage`] keeps history on a PostgreSQL server; [`open`] picks one from
//! the `database` setting.
//! Writes are submitted as [`WriteOp`]s and applied in order by one writer, batched into
//! transactions, so thousands of checks never contend for the database. Reads are synchronous
//! (call them from `spawn_blocking`) and see every write submitted before them.

mod cells;
mod compact;
#[cfg(test)]
mod conformance;
mod migrations;
pub mod postgres;
mod rows;
pub mod sqlite;
mod writer;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

/// The core's data types, stored as they are (defined in `linkpulse-checks`).
pub use linkpulse_checks::{Attempt, Millis, Resume, TransitionRecord};

/// Which backend holds the history: what the `database` setting names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// An embedded SQLite file (the default).
    Sqlite(PathBuf),
    /// A PostgreSQL database (`database: postgres://user@host:port/dbname`).
    Postgres(postgres::PgTarget),
}

impl Backend {
    /// The database for messages: the file path or the URL without a password.
    pub fn describe(&self) -> String {
        match self {
            Backend::Sqlite(p) => p.display().to_string(),
            Backend::Postgres(t) => t.display_url(),
        }
    }
}

/// An open backend: the [`Storage`] the daemon uses, and its graceful close.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum OpenStorage {
    /// The SQLite file.
    Sqlite(Arc<sqlite::SqliteStorage>),
    /// The PostgreSQL database.
    Postgres(Arc<postgres::PostgresStorage>),
}

impl OpenStorage {
    /// The history seam the rest of the daemon uses.
    pub fn storage(&self) -> Arc<dyn Storage> {
        match self {
            OpenStorage::Sqlite(s) => s.clone(),
            OpenStorage::Postgres(s) => s.clone(),
        }
    }

    /// Commits every queued write and stops the backend's threads.
    pub fn close(&self) {
        match self {
            OpenStorage::Sqlite(s) => s.close(),
            OpenStorage::Postgres(s) => s.close(),
        }
    }
}

/// Opens (creating and migrating if needed) the backend `backend` names. A PostgreSQL target
/// without a password from the config takes the `PGPASSWORD` environment variable, as libpq
/// does. Blocks (connecting may take up to 10 s): call it from `spawn_blocking`.
pub fn open(backend: &Backend) -> Result<OpenStorage, StorageError> {
    match backend {
        Backend::Sqlite(path) => sqlite::SqliteStorage::open(path).map(OpenStorage::Sqlite),
        Backend::Postgres(target) => {
            postgres::PostgresStorage::open(&with_env_password(target)).map(OpenStorage::Postgres)
        }
    }
}

/// `target` with the `PGPASSWORD` environment variable as its password when the config gave
/// none, as libpq does.
pub fn with_env_password(target: &postgres::PgTarget) -> postgres::PgTarget {
    let mut target = target.clone();
    if target.password.is_none() {
        target.password = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty());
    }
    target
}

/// The wall clock in [`Millis`].
pub fn now_ms() -> Millis {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Errors of a storage backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The database failed.
    #[error("database {path}: {source}")]
    Database {
        /// The database file.
        path: String,
        /// The underlying error.
        #[source]
        source: rusqlite::Error,
    },
    /// The writer could not commit queued writes to the SQLite file (the writer thread's
    /// error, as text: it crossed threads).
    #[error("database {path}: {message}")]
    WriteFailed {
        /// The database file.
        path: String,
        /// What failed.
        message: String,
    },
    /// The database was written by a newer linkpulse.
    #[error("database {path} has schema version {found}, newer than this linkpulse ({supported})")]
    TooNew {
        /// The database file.
        path: String,
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// The PostgreSQL server failed, refused the login, or cannot be reached.
    #[error("PostgreSQL database {database:?} on {server}: {message}")]
    Postgres {
        /// `user@host:port` (never the password).
        server: String,
        /// The database name.
        database: String,
        /// What went wrong, with its causes.
        message: String,
    },
    /// The writer has stopped (the daemon is shutting down).
    #[error("the storage writer has stopped")]
    Closed,
}

/// An attempt in the form it is stored in: the result JSON already reduced to what the row's
/// columns and series do not hold. The engine submits this, so it keeps the JSON for its view
/// without copying it for the writer.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedAttempt {
    /// Check name.
    pub check: String,
    /// When the attempt finished.
    pub at_ms: Millis,
    /// The attempt succeeded.
    pub up: bool,
    /// Latency in milliseconds, when measured.
    pub latency_ms: Option<f64>,
    /// Error kind (`refused`, `timeout`, …) of a failed attempt.
    pub error_kind: Option<String>,
    /// Probe kind and target of the result, or `None` when `detail` is the whole JSON.
    kind_target: Option<(Cow<'static, str>, String)>,
    /// The rest of the result.
    detail: Detail,
    /// Cluster mode, a multi-vantage check: the vantage and member that saw it.
    vantage: Option<Arc<ResultVantage>>,
}

/// What a [`PackedAttempt`] holds of its result beside the columns and the series.
#[derive(Debug, Clone, PartialEq)]
enum Detail {
    /// JSON text, cut into cells by the writer (`None`: nothing left).
    Text(Option<String>),
    /// Already cut into cells, straight from a typed probe result.
    Cells(cells::Cells),
}

/// Where a result of a multi-vantage check was seen from (cluster mode; PostgreSQL keeps it
/// in the result's series, SQLite has no cluster mode and keeps none).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ResultVantage {
    /// The member's vantage label (`cluster.vantage`).
    pub vantage: String,
    /// The member's name (`cluster.node`).
    pub member: String,
}

/// The latest result of a multi-vantage check from one vantage, as the shared database has it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VantageResult {
    /// Check name.
    pub check: String,
    /// The vantage label.
    pub vantage: String,
    /// The member whose result it is.
    pub member: String,
    /// When it finished (ms since the epoch).
    pub at_ms: Millis,
    /// The attempt succeeded.
    pub up: bool,
    /// Latency in milliseconds, when measured.
    pub latency_ms: Option<f64>,
    /// Error kind of a failed attempt.
    pub error_kind: Option<String>,
}

impl PackedAttempt {
    /// Packs an attempt whose result in the probe JSON shape is `result`.
    pub fn new(
        check: String,
        at_ms: Millis,
        up: bool,
        latency_ms: Option<f64>,
        error_kind: Option<String>,
        result: &serde_json::Value,
    ) -> PackedAttempt {
        let split = compact::split(result, up, latency_ms);
        PackedAttempt {
            check,
            at_ms,
            up,
            latency_ms,
            error_kind,
            kind_target: split.kind.map(Cow::Owned).zip(split.target),
            detail: Detail::Text(split.detail),
            vantage: None,
        }
    }

    /// Packs an attempt straight from the typed probe result `r` (whose `up` and `latency_ms`
    /// fill the columns), without building its JSON value; reads give back exactly
    /// `serde_json::to_value(r)`.
    pub fn probe(
        check: String,
        at_ms: Millis,
        error_kind: Option<String>,
        r: &linkpulse_probe::ProbeResult,
    ) -> PackedAttempt {
        let (kind, cells) = compact::probe_cells(r);
        PackedAttempt {
            check,
            at_ms,
            up: r.up,
            latency_ms: r.latency_ms,
            error_kind,
            kind_target: Some((Cow::Borrowed(kind), r.target.clone())),
            detail: Detail::Cells(cells),
            vantage: None,
        }
    }

    /// The same attempt, seen from `vantage` (a multi-vantage check in cluster mode).
    #[must_use]
    pub fn with_vantage(mut self, vantage: Arc<ResultVantage>) -> PackedAttempt {
        self.vantage = Some(vantage);
        self
    }

    /// Where it was seen from, for a multi-vantage check.
    pub fn vantage(&self) -> Option<&ResultVantage> {
        self.vantage.as_deref()
    }

    /// Probe kind and target (the row's series), when the JSON was split.
    pub(crate) fn series(&self) -> (Option<&str>, Option<&str>) {
        match &self.kind_target {
            Some((k, t)) => (Some(k.as_ref()), Some(t.as_str())),
            None => (None, None),
        }
    }

    /// The cells the result is stored in (besides its series, time, `up` and error kind).
    pub(crate) fn cells(&self) -> Cow<'_, cells::Cells> {
        match &self.detail {
            Detail::Text(text) => Cow::Owned(cells::encode(self.latency_ms, text.as_deref())),
            Detail::Cells(c) => Cow::Borrowed(c),
        }
    }
}

impl From<Attempt> for PackedAttempt {
    fn from(a: Attempt) -> PackedAttempt {
        PackedAttempt::new(
            a.check,
            a.at_ms,
            a.up,
            a.latency_ms,
            a.error_kind,
            &a.result,
        )
    }
}

/// An outage of one check: from going down to coming back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    /// Row id.
    pub id: i64,
    /// Check name.
    pub check: String,
    /// When the check went down.
    pub started_ms: Millis,
    /// When it came back; `None` while ongoing.
    pub ended_ms: Option<Millis>,
    /// The error that brought it down.
    pub cause: Option<String>,
    /// The diagnosis verdict (`process_down`, …) when known.
    pub diagnosis: Option<String>,
    /// The diagnosis details (JSON) when known.
    pub diagnosis_detail: Option<serde_json::Value>,
}

/// An alert waiting in (or delivered from) the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxItem {
    /// Row id.
    pub id: i64,
    /// Unique idempotency key, sent with the alert.
    pub key: String,
    /// Where to deliver (JSON of `AlertTarget`).
    pub target: serde_json::Value,
    /// The event (JSON).
    pub payload: serde_json::Value,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Earliest time of the next attempt.
    pub next_ms: Millis,
}

/// A write, applied in submission order.
#[derive(Debug)]
#[non_exhaustive]
pub enum WriteOp {
    /// Store an attempt.
    Attempt(Attempt),
    /// Store an attempt already packed (what the engine submits).
    Packed(PackedAttempt),
    /// Store a transition.
    Transition(TransitionRecord),
    /// Open an incident for a check (no-op if one is open).
    OpenIncident {
        /// Check name.
        check: String,
        /// Start.
        at_ms: Millis,
        /// Cause.
        cause: Option<String>,
    },
    /// Close the open incident of a check.
    CloseIncident {
        /// Check name.
        check: String,
        /// End.
        at_ms: Millis,
    },
    /// Attach a diagnosis to the open (or most recent) incident of a check.
    Diagnosis {
        /// Check name.
        check: String,
        /// Verdict.
        verdict: String,
        /// Details.
        detail: serde_json::Value,
    },
    /// Put an alert in the outbox (ignored if the key exists).
    EnqueueAlert {
        /// Idempotency key.
        key: String,
        /// Target JSON.
        target: serde_json::Value,
        /// Event JSON.
        payload: serde_json::Value,
        /// Created at.
        at_ms: Millis,
    },
    /// Mark an alert delivered.
    AlertDelivered {
        /// Row id.
        id: i64,
        /// When.
        at_ms: Millis,
    },
    /// Record a failed delivery and when to try again.
    AlertFailed {
        /// Row id.
        id: i64,
        /// Attempts so far.
        attempts: u32,
        /// Next attempt.
        next_ms: Millis,
        /// Why it failed.
        error: String,
    },
}

/// Hourly aggregate of attempts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourlyRow {
    /// Start of the hour.
    pub hour_ms: Millis,
    /// Attempts.
    pub attempts: u64,
    /// Successful attempts.
    pub ups: u64,
    /// Mean latency.
    pub latency_avg_ms: Option<f64>,
    /// Worst latency.
    pub latency_max_ms: Option<f64>,
}

/// A history backend. Writes are queued; reads block (use `spawn_blocking`) and see every write
/// submitted before the read.
pub trait Storage: Send + Sync + 'static {
    /// Queues a write; never blocks. Lost only if the process dies before the writer commits.
    fn submit(&self, op: WriteOp);
    /// Waits until every write submitted before this call is committed.
    fn flush(&self) -> Result<(), StorageError>;
    /// Attempts of `check` in `[from_ms, to_ms)`, newest first, at most `limit`.
    fn history(
        &self,
        check: &str,
        from_ms: Millis,
        to_ms: Millis,
        limit: usize,
    ) -> Result<Vec<Attempt>, StorageError>;
    /// Hourly aggregates of `check` in `[from_ms, to_ms)`, oldest first.
    fn hourly(
        &self,
        check: &str,
        from_ms: Millis,
        to_ms: Millis,
    ) -> Result<Vec<HourlyRow>, StorageError>;
    /// Transitions at or after `from_ms` (all checks, or one), oldest first, plus for each
    /// check the last transition before `from_ms` (the state the window starts in).
    fn transitions(
        &self,
        check: Option<&str>,
        from_ms: Millis,
    ) -> Result<Vec<TransitionRecord>, StorageError>;
    /// Incidents that overlap `[from_ms, now)` (all checks, or one), newest first.
    fn incidents(
        &self,
        check: Option<&str>,
        from_ms: Millis,
        limit: usize,
    ) -> Result<Vec<Incident>, StorageError>;
    /// The last state, attempt and open diagnosis of every check that has history.
    fn resume(&self) -> Result<HashMap<String, Resume>, StorageError>;
    /// Undelivered alerts due at `now_ms`, oldest first. An alert waits behind an earlier
    /// undelivered alert of the same check to the same alert target (even one in backoff), so
    /// a receiver gets each check's alerts in event order and its last one matches the state.
    fn due_alerts(&self, now_ms: Millis, limit: usize) -> Result<Vec<OutboxItem>, StorageError>;
    /// Folds raw attempts older than `raw_before_ms` into hourly rows and deletes history older
    /// than `hourly_before_ms`.
    fn prune(&self, raw_before_ms: Millis, hourly_before_ms: Millis) -> Result<(), StorageError>;
    /// Whether writes reach the database now, and how many batches failed so far.
    fn health(&self) -> StorageHealth {
        StorageHealth::default()
    }
    /// The daemon's secret `name` (e.g. the key push tokens are derived from), stored as
    /// `fresh` when the database has none yet: every later call, after a restart too and on
    /// every daemon sharing the database, returns the first value stored.
    fn secret(&self, name: &str, fresh: &str) -> Result<String, StorageError>;
    /// Stores silence `s` (replacing one with its id), committed when this returns.
    fn put_silence(&self, s: &Silence) -> Result<(), StorageError>;
    /// The latest result of each vantage of each multi-vantage check, among results at or after
    /// `since_ms`. Only PostgreSQL keeps vantages (cluster mode); other backends have none.
    fn vantage_latest(&self, since_ms: Millis) -> Result<Vec<VantageResult>, StorageError> {
        let _ = since_ms;
        Ok(Vec::new())
    }
    /// The silences that end after `now_ms` (active or still to come), by start.
    fn silences(&self, now_ms: Millis) -> Result<Vec<Silence>, StorageError>;
    /// The outbox per alert target (by the `alert` of each payload), by name.
    fn outbox_status(&self) -> Result<Vec<OutboxStatus>, StorageError>;
}

/// What the outbox holds for one alert target (the dashboard's channel list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxStatus {
    /// The alert target's name.
    pub alert: String,
    /// Notifications not delivered yet (waiting, or in backoff after failures).
    pub pending: i64,
    /// Notifications delivered.
    pub delivered: i64,
    /// When the last one was delivered.
    pub last_delivered_ms: Option<Millis>,
    /// The error of the most recent failed attempt (URL secrets masked), if any failed.
    pub last_error: Option<String>,
}

/// A silence as stored (JSON in the `body` column of `silences`).
pub use linkpulse_checks::routing::Silence;

/// The stored form of a silence, and back.
pub(crate) fn silence_body(s: &Silence) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The silences of `bodies` (unreadable rows skipped), sorted by start.
pub(crate) fn silences_of(bodies: Vec<String>) -> Vec<Silence> {
    let mut list: Vec<Silence> = bodies
        .iter()
        .filter_map(|b| serde_json::from_str(b).ok())
        .collect();
    list.sort_by(|a, b| (a.starts_ms, &a.id).cmp(&(b.starts_ms, &b.id)));
    list
}

/// What [`Storage::health`] reports: `/readyz` and `linkpulse_storage_errors_total` read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageHealth {
    /// Why writes fail now (the last error; writes are held in memory meanwhile), or `None`.
    pub problem: Option<String>,
    /// Write batches (or file checks) that failed since the start.
    pub errors: u64,
    /// Writes held in memory, waiting for the database to accept them.
    pub held: usize,
}
