//! The embedded SQLite backend: WAL, `synchronous=NORMAL`, one writer thread.
//!
//! A committed batch survives `kill -9` (WAL); only ops still queued are lost. The writer
//! drains everything queued into one transaction, so the write rate scales with the number of
//! checks without one transaction per result.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::compact;
use super::migrations::MIGRATIONS;
use super::{
    Attempt, HourlyRow, Incident, Millis, OutboxItem, PackedAttempt, Resume, Storage, StorageError,
    TransitionRecord, WriteOp,
};
use crate::state::State;

/// Largest number of ops in one transaction.
const MAX_BATCH: usize = 10_000;

/// How long the writer gathers ops before it commits them in one transaction (unless a flush
/// asks for the commit sooner). Bounds what a `kill -9` can lose; one commit per result would
/// cost more CPU than the probe itself.
const COMMIT_EVERY: Duration = Duration::from_millis(200);

/// What the writer thread receives.
enum Msg {
    Op(WriteOp),
    Flush(Sender<Result<(), String>>),
    Stop,
}

/// SQLite history in one file.
#[derive(Debug)]
pub struct SqliteStorage {
    path: String,
    tx: Mutex<Sender<Msg>>,
    /// Ops submitted so far, and ops the writer has applied: a read flushes first when they
    /// differ, so reads see every write submitted before them.
    submitted: AtomicU64,
    applied: Arc<AtomicU64>,
    reader: Mutex<Connection>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

fn db_err(path: &str) -> impl Fn(rusqlite::Error) -> StorageError + '_ {
    move |source| StorageError::Database {
        path: path.to_owned(),
        source,
    }
}

fn open_conn(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Applies the migrations newer than the file's schema version.
fn migrate(conn: &mut Connection, path: &str) -> Result<(), StorageError> {
    let err = db_err(path);
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .map_err(&err)?;
    let current: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version",
            [],
            |r| r.get(0),
        )
        .map_err(&err)?;
    let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if current > supported {
        return Err(StorageError::TooNew {
            path: path.to_owned(),
            found: current,
            supported,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(i + 1).unwrap_or(i64::MAX);
        if version <= current {
            continue;
        }
        let tx = conn.transaction().map_err(&err)?;
        tx.execute_batch(sql).map_err(&err)?;
        tx.execute("DELETE FROM schema_version", []).map_err(&err)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [version],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
    }
    Ok(())
}

impl SqliteStorage {
    /// Opens (creating and migrating if needed) the database at `path` and starts its writer.
    pub fn open(path: &Path) -> Result<Arc<SqliteStorage>, StorageError> {
        let name = path.display().to_string();
        let mut conn = open_conn(path).map_err(db_err(&name))?;
        migrate(&mut conn, &name)?;
        let reader = open_conn(path).map_err(db_err(&name))?;
        let (tx, rx) = mpsc::channel();
        let thread_path = name.clone();
        let applied = Arc::new(AtomicU64::new(0));
        let counter = applied.clone();
        let writer = std::thread::Builder::new()
            .name("linkpulse-db-writer".to_owned())
            .spawn(move || writer_loop(conn, rx, &thread_path, &counter))
            .map_err(|e| StorageError::Database {
                path: name.clone(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        Ok(Arc::new(SqliteStorage {
            path: name,
            tx: Mutex::new(tx),
            submitted: AtomicU64::new(0),
            applied,
            reader: Mutex::new(reader),
            writer: Mutex::new(Some(writer)),
        }))
    }

    /// The database path.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(&self.path)
    }

    /// Wakes the writer so that it commits now (after a flush or stop request).
    fn wake_writer(&self) {
        if let Some(h) = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            h.thread().unpark();
        }
    }

    /// Commits everything queued and stops the writer (graceful shutdown).
    pub fn close(&self) {
        let _ = self
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(Msg::Stop);
        self.wake_writer();
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StorageError> {
        if self.submitted.load(Ordering::Acquire) != self.applied.load(Ordering::Acquire) {
            // Read your writes: commit what is queued first (a stopped writer reads as is).
            let _ = self.flush();
        }
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        f(&conn).map_err(db_err(&self.path))
    }
}

impl Drop for SqliteStorage {
    fn drop(&mut self) {
        self.close();
    }
}

fn writer_loop(mut conn: Connection, rx: Receiver<Msg>, path: &str, applied: &AtomicU64) {
    let mut series = SeriesCache::default();
    loop {
        let first = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let batch = gather(first, &rx);
        let stop = batch.iter().any(|m| matches!(m, Msg::Stop));
        let ops = batch.iter().filter(|m| matches!(m, Msg::Op(_))).count() as u64;
        let mut waiters = Vec::new();
        let result = apply_batch(&mut conn, &mut series, batch, &mut waiters);
        if let Err(e) = &result {
            // The transaction rolled back: series ids it created no longer exist.
            series = SeriesCache::default();
            tracing::error!(database = path, error = %e, "cannot write history");
        }
        applied.fetch_add(ops, Ordering::Release);
        for w in waiters {
            let _ = w.send(result.as_ref().map(|_| ()).map_err(ToString::to_string));
        }
        if stop {
            return;
        }
    }
}

/// Collects what arrives within [`COMMIT_EVERY`] of `first` (or until a flush or stop asks for
/// the commit now, or [`MAX_BATCH`] ops are queued). The writer sleeps in between rather than
/// waiting on the queue, so submitting a result never has to wake a thread.
fn gather(first: Msg, rx: &Receiver<Msg>) -> Vec<Msg> {
    let deadline = std::time::Instant::now() + COMMIT_EVERY;
    let mut urgent = !matches!(first, Msg::Op(_));
    let mut batch = vec![first];
    loop {
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => {
                    urgent |= !matches!(m, Msg::Op(_));
                    batch.push(m);
                }
                Err(_) => break,
            }
        }
        let now = std::time::Instant::now();
        if urgent || batch.len() >= MAX_BATCH || now >= deadline {
            return batch;
        }
        // Woken early by `flush` and `close` (they unpark this thread).
        std::thread::park_timeout(deadline - now);
    }
}

fn apply_batch(
    conn: &mut Connection,
    series: &mut SeriesCache,
    batch: Vec<Msg>,
    waiters: &mut Vec<Sender<Result<(), String>>>,
) -> rusqlite::Result<()> {
    let mut ops = Vec::with_capacity(batch.len());
    for msg in batch {
        match msg {
            Msg::Op(op) => ops.push(op),
            Msg::Flush(w) => waiters.push(w),
            Msg::Stop => {}
        }
    }
    let tx = conn.transaction()?;
    for op in ops {
        apply(&tx, series, op)?;
    }
    tx.commit()
}

/// Series ids (see migration 2) by check name, then kind and target: a check has one series
/// per target it ever had, so the inner list is short. Valid while no transaction that
/// created an entry has rolled back (the writer clears it then).
#[derive(Debug, Default)]
struct SeriesCache(HashMap<String, Vec<SeriesKey>>);

/// Kind, target and id of one series of a check.
type SeriesKey = (Option<String>, Option<String>, i64);

impl SeriesCache {
    /// The id of the series, created if new.
    fn id(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        check: &str,
        kind: Option<&str>,
        target: Option<&str>,
    ) -> rusqlite::Result<i64> {
        let same = |(k, t, _): &&SeriesKey| k.as_deref() == kind && t.as_deref() == target;
        if let Some((_, _, id)) = self.0.get(check).and_then(|l| l.iter().find(same)) {
            return Ok(*id);
        }
        let found: Option<i64> = tx
            .prepare_cached(
                "SELECT id FROM series WHERE check_name = ?1 AND kind IS ?2 AND target IS ?3
                 ORDER BY id LIMIT 1",
            )?
            .query_row(params![check, kind, target], |r| r.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                tx.prepare_cached(
                    "INSERT INTO series (check_name, kind, target) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![check, kind, target])?;
                tx.last_insert_rowid()
            }
        };
        self.0.entry(check.to_owned()).or_default().push((
            kind.map(str::to_owned),
            target.map(str::to_owned),
            id,
        ));
        Ok(id)
    }
}

fn json(v: &serde_json::Value) -> String {
    v.to_string()
}

fn insert_attempt(
    tx: &rusqlite::Transaction<'_>,
    series: &mut SeriesCache,
    a: &PackedAttempt,
) -> rusqlite::Result<()> {
    let (kind, target) = a.series();
    let id = series.id(tx, &a.check, kind, target)?;
    tx.prepare_cached(
        "INSERT INTO results (series, at_ms, up, latency_ms, error_kind, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        id,
        a.at_ms,
        a.up,
        a.latency_ms,
        a.error_kind,
        a.detail()
    ])?;
    Ok(())
}

fn apply(
    tx: &rusqlite::Transaction<'_>,
    series: &mut SeriesCache,
    op: WriteOp,
) -> rusqlite::Result<()> {
    match op {
        WriteOp::Attempt(a) => insert_attempt(tx, series, &PackedAttempt::from(a))?,
        WriteOp::Packed(a) => insert_attempt(tx, series, &a)?,
        WriteOp::Transition(t) => {
            tx.prepare_cached(
                "INSERT INTO transitions (check_name, at_ms, from_state, to_state, cause)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                t.check,
                t.at_ms,
                t.from.as_str(),
                t.to.as_str(),
                t.cause
            ])?;
        }
        WriteOp::OpenIncident {
            check,
            at_ms,
            cause,
        } => {
            tx.prepare_cached(
                "INSERT INTO incidents (check_name, started_ms, cause)
                 SELECT ?1, ?2, ?3 WHERE NOT EXISTS
                   (SELECT 1 FROM incidents WHERE check_name = ?1 AND ended_ms IS NULL)",
            )?
            .execute(params![check, at_ms, cause])?;
        }
        WriteOp::CloseIncident { check, at_ms } => {
            tx.prepare_cached(
                "UPDATE incidents SET ended_ms = ?2 WHERE check_name = ?1 AND ended_ms IS NULL",
            )?
            .execute(params![check, at_ms])?;
        }
        WriteOp::Diagnosis {
            check,
            verdict,
            detail,
        } => {
            tx.prepare_cached(
                "UPDATE incidents SET diagnosis = ?2, diagnosis_detail = ?3 WHERE id =
                   (SELECT id FROM incidents WHERE check_name = ?1 ORDER BY started_ms DESC LIMIT 1)",
            )?
            .execute(params![check, verdict, json(&detail)])?;
        }
        WriteOp::EnqueueAlert {
            key,
            target,
            payload,
            at_ms,
        } => {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO outbox (key, target, payload, created_ms, next_ms)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
            )?
            .execute(params![key, json(&target), json(&payload), at_ms])?;
        }
        WriteOp::AlertDelivered { id, at_ms } => {
            tx.prepare_cached(
                "UPDATE outbox SET delivered_ms = ?2, attempts = attempts + 1, last_error = NULL
                 WHERE id = ?1",
            )?
            .execute(params![id, at_ms])?;
        }
        WriteOp::AlertFailed {
            id,
            attempts,
            next_ms,
            error,
        } => {
            tx.prepare_cached(
                "UPDATE outbox SET attempts = ?2, next_ms = ?3, last_error = ?4 WHERE id = ?1",
            )?
            .execute(params![id, attempts, next_ms, error])?;
        }
    }
    Ok(())
}

fn parse_json(text: Option<String>) -> serde_json::Value {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// The columns [`attempt_row`] reads, from `results r JOIN series s`.
const ATTEMPT_COLUMNS: &str =
    "s.check_name, r.at_ms, r.up, r.latency_ms, r.error_kind, r.detail, s.kind, s.target";

fn attempt_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Attempt> {
    let up: bool = r.get(2)?;
    let latency_ms: Option<f64> = r.get(3)?;
    let detail: Option<String> = r.get(5)?;
    Ok(Attempt {
        check: r.get(0)?,
        at_ms: r.get(1)?,
        up,
        latency_ms,
        error_kind: r.get(4)?,
        result: compact::join(r.get(6)?, r.get(7)?, detail.as_deref(), up, latency_ms),
    })
}

fn state_col(s: String) -> State {
    State::parse(&s).unwrap_or(State::Unknown)
}

fn transition_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TransitionRecord> {
    Ok(TransitionRecord {
        check: r.get(0)?,
        at_ms: r.get(1)?,
        from: state_col(r.get(2)?),
        to: state_col(r.get(3)?),
        cause: r.get(4)?,
    })
}

fn incident_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Incident> {
    Ok(Incident {
        id: r.get(0)?,
        check: r.get(1)?,
        started_ms: r.get(2)?,
        ended_ms: r.get(3)?,
        cause: r.get(4)?,
        diagnosis: r.get(5)?,
        diagnosis_detail: r.get::<_, Option<String>>(6)?.map(|t| parse_json(Some(t))),
    })
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Storage for SqliteStorage {
    fn submit(&self, op: WriteOp) {
        self.submitted.fetch_add(1, Ordering::Release);
        let _ = self
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(Msg::Op(op));
    }

    fn flush(&self) -> Result<(), StorageError> {
        let (tx, rx) = mpsc::channel();
        self.tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(Msg::Flush(tx))
            .map_err(|_| StorageError::Closed)?;
        self.wake_writer();
        match rx.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(StorageError::Database {
                path: self.path.clone(),
                source: rusqlite::Error::InvalidParameterName(message),
            }),
            Err(_) => Err(StorageError::Closed),
        }
    }

    fn history(
        &self,
        check: &str,
        from_ms: Millis,
        to_ms: Millis,
        n: usize,
    ) -> Result<Vec<Attempt>, StorageError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {ATTEMPT_COLUMNS} FROM results r JOIN series s ON s.id = r.series
                 WHERE s.check_name = ?1 AND r.at_ms >= ?2 AND r.at_ms < ?3
                 ORDER BY r.at_ms DESC, r.id DESC LIMIT ?4"
            ))?;
            st.query_map(params![check, from_ms, to_ms, limit(n)], attempt_row)?
                .collect()
        })
    }

    fn hourly(
        &self,
        check: &str,
        from_ms: Millis,
        to_ms: Millis,
    ) -> Result<Vec<HourlyRow>, StorageError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT hour_ms, attempts, ups, latency_sum, latency_n, latency_max FROM hourly
                 WHERE check_name = ?1 AND hour_ms >= ?2 AND hour_ms < ?3 ORDER BY hour_ms",
            )?;
            st.query_map(params![check, from_ms, to_ms], |r| {
                let sum: f64 = r.get(3)?;
                let n: i64 = r.get(4)?;
                Ok(HourlyRow {
                    hour_ms: r.get(0)?,
                    attempts: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                    ups: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    latency_avg_ms: (n > 0).then(|| sum / n as f64),
                    latency_max_ms: r.get(5)?,
                })
            })?
            .collect()
        })
    }

    fn transitions(
        &self,
        check: Option<&str>,
        from_ms: Millis,
    ) -> Result<Vec<TransitionRecord>, StorageError> {
        self.with_reader(|c| {
            // The last transition before the window (per check), then those inside it.
            let mut st = c.prepare_cached(
                "SELECT check_name, at_ms, from_state, to_state, cause FROM transitions t
                 WHERE (?1 IS NULL OR check_name = ?1) AND (at_ms >= ?2 OR id = (
                     SELECT id FROM transitions u WHERE u.check_name = t.check_name
                     AND u.at_ms < ?2 ORDER BY at_ms DESC, id DESC LIMIT 1))
                 ORDER BY at_ms, id",
            )?;
            st.query_map(params![check, from_ms], transition_row)?
                .collect()
        })
    }

    fn incidents(
        &self,
        check: Option<&str>,
        from_ms: Millis,
        n: usize,
    ) -> Result<Vec<Incident>, StorageError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, check_name, started_ms, ended_ms, cause, diagnosis, diagnosis_detail
                 FROM incidents WHERE (?1 IS NULL OR check_name = ?1)
                 AND (ended_ms IS NULL OR ended_ms >= ?2)
                 ORDER BY started_ms DESC, id DESC LIMIT ?3",
            )?;
            st.query_map(params![check, from_ms, limit(n)], incident_row)?
                .collect()
        })
    }

    fn resume(&self) -> Result<HashMap<String, Resume>, StorageError> {
        self.with_reader(|c| {
            let mut out: HashMap<String, Resume> = HashMap::new();
            let mut st = c.prepare_cached(
                "SELECT check_name, at_ms, to_state FROM transitions WHERE id IN
                   (SELECT MAX(id) FROM transitions GROUP BY check_name)",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            for row in rows {
                let (check, since_ms, state) = row?;
                out.insert(
                    check,
                    Resume {
                        state: state_col(state),
                        since_ms,
                        last: None,
                        diagnosis: None,
                    },
                );
            }
            // The newest row of each series, then of each check.
            let mut st = c.prepare_cached(&format!(
                "SELECT {ATTEMPT_COLUMNS} FROM results r JOIN series s ON s.id = r.series
                 WHERE r.id IN (SELECT MAX(id) FROM results GROUP BY series)
                 ORDER BY r.id"
            ))?;
            for a in st.query_map([], attempt_row)? {
                let a = a?;
                let e = out.entry(a.check.clone()).or_insert(Resume {
                    state: State::Unknown,
                    since_ms: a.at_ms,
                    last: None,
                    diagnosis: None,
                });
                e.last = Some(a);
            }
            let mut st = c.prepare_cached(
                "SELECT check_name, diagnosis FROM incidents
                 WHERE ended_ms IS NULL AND diagnosis IS NOT NULL",
            )?;
            let rows =
                st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (check, d) = row?;
                if let Some(e) = out.get_mut(&check) {
                    e.diagnosis = Some(d);
                }
            }
            Ok(out)
        })
    }

    fn due_alerts(&self, now_ms: Millis, n: usize) -> Result<Vec<OutboxItem>, StorageError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, key, target, payload, attempts, next_ms FROM outbox
                 WHERE delivered_ms IS NULL AND next_ms <= ?1 ORDER BY next_ms, id LIMIT ?2",
            )?;
            st.query_map(params![now_ms, limit(n)], |r| {
                Ok(OutboxItem {
                    id: r.get(0)?,
                    key: r.get(1)?,
                    target: parse_json(r.get(2)?),
                    payload: parse_json(r.get(3)?),
                    attempts: r.get(4)?,
                    next_ms: r.get(5)?,
                })
            })?
            .collect()
        })
    }

    fn prune(&self, raw_before_ms: Millis, hourly_before_ms: Millis) -> Result<(), StorageError> {
        // Whole hours only, so an hour is never split between raw rows and its aggregate.
        let cutoff = raw_before_ms - raw_before_ms.rem_euclid(3_600_000);
        let conn = Connection::open(&self.path).map_err(db_err(&self.path))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(db_err(&self.path))?;
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(db_err(&self.path))?;
        let run = || -> rusqlite::Result<()> {
            conn.execute(
                "INSERT INTO hourly (check_name, hour_ms, attempts, ups, latency_sum, latency_n, latency_max)
                 SELECT s.check_name, r.at_ms - (r.at_ms % 3600000), COUNT(*), SUM(r.up),
                        COALESCE(SUM(r.latency_ms), 0), COUNT(r.latency_ms), MAX(r.latency_ms)
                 FROM series s CROSS JOIN results r ON r.series = s.id
                 WHERE r.at_ms < ?1 GROUP BY 1, 2
                 ON CONFLICT (check_name, hour_ms) DO UPDATE SET
                   attempts = attempts + excluded.attempts, ups = ups + excluded.ups,
                   latency_sum = latency_sum + excluded.latency_sum,
                   latency_n = latency_n + excluded.latency_n,
                   latency_max = MAX(COALESCE(latency_max, excluded.latency_max), COALESCE(excluded.latency_max, latency_max))",
                [cutoff],
            )?;
            // Per series, through the `(series, at_ms)` index (CROSS JOIN above: series first).
            conn.execute(
                "DELETE FROM results WHERE series IN (SELECT id FROM series) AND at_ms < ?1",
                [cutoff],
            )?;
            conn.execute("DELETE FROM hourly WHERE hour_ms < ?1", [hourly_before_ms])?;
            conn.execute(
                "DELETE FROM incidents WHERE ended_ms IS NOT NULL AND ended_ms < ?1",
                [hourly_before_ms],
            )?;
            // Keep the last transition of each check: it is the state a window starts in.
            conn.execute(
                "DELETE FROM transitions WHERE at_ms < ?1 AND id NOT IN
                   (SELECT MAX(id) FROM transitions GROUP BY check_name)",
                [hourly_before_ms],
            )?;
            conn.execute(
                "DELETE FROM outbox WHERE delivered_ms IS NOT NULL AND delivered_ms < ?1",
                [hourly_before_ms],
            )?;
            Ok(())
        };
        match run() {
            Ok(()) => conn.execute_batch("COMMIT").map_err(db_err(&self.path)),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(db_err(&self.path)(e))
            }
        }
    }
}

#[cfg(test)]
mod tests;
