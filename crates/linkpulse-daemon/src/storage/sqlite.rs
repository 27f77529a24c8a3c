//! The embedded SQLite backend: WAL, `synchronous=NORMAL`, one writer thread.
//!
//! A committed batch survives `kill -9` (WAL); only ops still queued are lost. The writer
//! drains everything queued into one transaction, so the write rate scales with the number of
//! checks without one transaction per result.
//!
//! A batch the database refuses for a reason of the environment (disk full, read-only or
//! immutable file, I/O error, locked) is held in memory, in order, and applied first with the
//! next batch, exactly as the PostgreSQL backend holds batches while its server is away (at
//! most `MAX_HELD` ops; beyond, the oldest are dropped and counted in the log). The writer
//! checks after every batch that the file at the path is still the one it opened (device and
//! inode): a file deleted or replaced while running is reported and a new database is opened
//! at the path, so later writes are not lost into an unlinked file. The file is created 0600
//! (SQLite gives `-wal` and `-shm` the database file's mode).

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, params};

use super::cells;
use super::migrations::{MIGRATIONS, REPACK, REPACK_DONE};
use super::rows::{self, ATTEMPT_COLUMNS, ATTEMPT_TABLES, AttemptColumns, Cached, TextIds};
use super::writer::{Apply, FlushError, Queue};
use super::{
    Attempt, HourlyRow, Incident, Millis, OutboxItem, PackedAttempt, Resume, Storage, StorageError,
    TransitionRecord, WriteOp,
};
use crate::state::State;

/// SQLite history in one file.
#[derive(Debug)]
pub struct SqliteStorage {
    path: String,
    queue: Queue,
    reader: Mutex<Connection>,
    /// Bumped by the writer when it opened a new database at the path (the file was deleted
    /// or replaced); the reader then opens it too.
    generation: Arc<AtomicU64>,
    reader_generation: AtomicU64,
}

/// Most ops held while the database refuses writes; beyond it the oldest are dropped.
pub(crate) const MAX_HELD: usize = 100_000;

/// Creates the database file readable by its owner only (0600), unless it exists.
fn create_private(path: &Path) -> std::io::Result<()> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Device and inode of the file at `path`.
fn identity(path: &Path) -> std::io::Result<(u64, u64)> {
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

/// Whether SQLite refused a batch for a reason of the environment that may pass (the batch is
/// then held and tried again), rather than for the batch itself.
fn transient(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode as C;
    matches!(
        e.sqlite_error_code(),
        Some(
            C::DiskFull
                | C::SystemIoFailure
                | C::ReadOnly
                | C::CannotOpen
                | C::DatabaseBusy
                | C::DatabaseLocked
                | C::PermissionDenied
                | C::OutOfMemory
        )
    )
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
    // The query planner stability guarantee: plans do not depend on the values bound. Without
    // it SQLite (3.54) marks `x = ?` parameters of a WHERE clause for a re-prepare when their
    // value moves to or from 0/1, and the statement cache's `sqlite3_clear_bindings` then
    // expires the statement every time it is reused: the result INSERT was parsed and planned
    // anew for every row (most of the writer thread's CPU).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
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
        if i + 1 == REPACK {
            repack(&tx, path).map_err(&err)?;
            tx.execute_batch(REPACK_DONE).map_err(&err)?;
        }
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

/// Rows between two progress messages of a repack.
const PROGRESS_ROWS: i64 = 1_000_000;

/// Copies the results of schema 3 (`results_v3`: JSON text per row) into the typed rows of
/// schema 4, in key order, inside the migration's transaction. Results of one series in the
/// same millisecond keep their order (their `seq` follows their old id).
fn repack(tx: &rusqlite::Transaction<'_>, path: &str) -> rusqlite::Result<()> {
    let total: i64 = tx.query_row("SELECT COUNT(*) FROM results_v3", [], |r| r.get(0))?;
    if total == 0 {
        return Ok(());
    }
    let started = std::time::Instant::now();
    tracing::info!(database = %path, results = total,
        "migrating history to typed rows (schema 4); this runs once");
    let mut texts = TextIds::default();
    let mut read = tx.prepare(
        "SELECT series, at_ms, up, latency_ms, error_kind, detail FROM results_v3
         ORDER BY series, at_ms, id",
    )?;
    let mut rows = read.query([])?;
    let mut last: Option<(i64, Millis, i64)> = None;
    let mut done: i64 = 0;
    while let Some(r) = rows.next()? {
        let (series, at_ms): (i64, Millis) = (r.get(0)?, r.get(1)?);
        let seq = match last {
            Some((s, a, q)) if s == series && a == at_ms => q + 1,
            _ => 0,
        };
        last = Some((series, at_ms, seq));
        let error: Option<String> = r.get(4)?;
        let detail: Option<String> = r.get(5)?;
        let c = cells::encode(r.get(3)?, detail.as_deref());
        let error = text_id(tx, &mut texts, error.as_deref(), at_ms)?;
        let shape = text_id(tx, &mut texts, c.shape.as_deref(), at_ms)?;
        tx.prepare_cached(
            "INSERT INTO results (series, at_ms, seq, up, error, latency_us, shape, nums)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            series,
            at_ms,
            seq,
            r.get::<_, bool>(2)?,
            error,
            c.latency_us,
            shape,
            c.nums
        ])?;
        done += 1;
        if done % PROGRESS_ROWS == 0 {
            tracing::info!(database = %path, done, of = total,
                percent = done * 100 / total, "migrating history");
        }
    }
    tracing::info!(database = %path, results = done,
        seconds = started.elapsed().as_secs_f64(), "history migrated to typed rows");
    Ok(())
}

/// The id of an interned text (created if new) used by a result at `at_ms`, `None` for
/// `None`. The text's `last_ms` is moved forward when it lags by more than an hour.
fn text_id(
    tx: &rusqlite::Transaction<'_>,
    texts: &mut TextIds,
    text: Option<&str>,
    at_ms: Millis,
) -> rusqlite::Result<Option<i64>> {
    let Some(text) = text else {
        return Ok(None);
    };
    let touch = |id: i64| -> rusqlite::Result<bool> {
        let n = tx
            .prepare_cached("UPDATE texts SET last_ms = MAX(last_ms, ?2) WHERE id = ?1")?
            .execute(params![id, at_ms])?;
        Ok(n == 1)
    };
    match texts.get(text, at_ms) {
        Cached::Fresh(id) => return Ok(Some(id)),
        // Unless retention deleted it meanwhile: then it is looked up (and made) again.
        Cached::Stale(id) if touch(id)? => {
            texts.insert(text, id, at_ms);
            return Ok(Some(id));
        }
        Cached::Stale(_) | Cached::Unknown => {}
    }
    let found: Option<(i64, Millis)> = tx
        .prepare_cached("SELECT id, last_ms FROM texts WHERE text = ?1")?
        .query_row([text], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (id, last) = match found {
        Some((id, last)) if last.saturating_add(rows::TEXT_TOUCH_MS) < at_ms => {
            touch(id)?;
            (id, at_ms)
        }
        Some(known) => known,
        None => {
            tx.prepare_cached("INSERT INTO texts (text, last_ms) VALUES (?1, ?2)")?
                .execute(params![text, at_ms])?;
            (tx.last_insert_rowid(), at_ms)
        }
    };
    texts.insert(text, id, last);
    Ok(Some(id))
}

impl SqliteStorage {
    /// Opens (creating and migrating if needed) the database at `path` and starts its writer.
    pub fn open(path: &Path) -> Result<Arc<SqliteStorage>, StorageError> {
        let name = path.display().to_string();
        let conn = open_new(path, &name)?;
        let reader = open_conn(path).map_err(db_err(&name))?;
        let generation = Arc::new(AtomicU64::new(0));
        let writer = SqliteWriter {
            file: identity(path).ok(),
            conn,
            path: name.clone(),
            series: SeriesCache::default(),
            texts: TextIds::default(),
            held: Vec::new(),
            failing: None,
            generation: generation.clone(),
            replaced: None,
        };
        let queue =
            Queue::start("linkpulse-db-writer", writer).map_err(|e| StorageError::Database {
                path: name.clone(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        Ok(Arc::new(SqliteStorage {
            path: name,
            queue,
            reader: Mutex::new(reader),
            generation,
            reader_generation: AtomicU64::new(0),
        }))
    }

    /// The database path.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(&self.path)
    }

    /// Commits everything queued and stops the writer (graceful shutdown).
    pub fn close(&self) {
        self.queue.close();
    }

    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StorageError> {
        if self.queue.pending() {
            // Read your writes: commit what is queued first (a stopped writer reads as is).
            let _ = self.flush();
        }
        let mut conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let generation = self.generation.load(Ordering::Acquire);
        if self.reader_generation.load(Ordering::Relaxed) != generation {
            // The writer opened a new database at the path: read that one.
            *conn = open_conn(Path::new(&self.path)).map_err(db_err(&self.path))?;
            self.reader_generation.store(generation, Ordering::Relaxed);
        }
        f(&conn).map_err(db_err(&self.path))
    }
}

impl Drop for SqliteStorage {
    fn drop(&mut self) {
        self.close();
    }
}

/// Opens the database at `path` (created 0600 when new) and migrates it.
fn open_new(path: &Path, name: &str) -> Result<Connection, StorageError> {
    create_private(path).map_err(|e| StorageError::Database {
        path: name.to_owned(),
        source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
    })?;
    let mut conn = open_conn(path).map_err(db_err(name))?;
    migrate(&mut conn, name)?;
    Ok(conn)
}

/// The writer thread's side: the write connection and its caches of series and text ids.
struct SqliteWriter {
    conn: Connection,
    path: String,
    series: SeriesCache,
    texts: TextIds,
    /// Device and inode of the file opened (to notice it deleted or replaced).
    file: Option<(u64, u64)>,
    /// Ops of batches the database refused for a passing reason, applied first next time.
    held: Vec<WriteOp>,
    /// The error of the failure going on (logged once when it starts or changes).
    failing: Option<String>,
    /// Bumped when a new database was opened at the path.
    generation: Arc<AtomicU64>,
    /// What happened to the file, once a new database was opened in its place (reported once
    /// through [`Apply::problem`]).
    replaced: Option<String>,
}

impl SqliteWriter {
    /// Applies `ops` in one transaction.
    fn commit(&mut self, ops: &[WriteOp]) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        for op in ops {
            apply(&tx, &mut self.series, &mut self.texts, op)?;
        }
        tx.commit()
    }

    /// When the file at the path is no longer the one opened (deleted, or replaced by another
    /// file), opens (creating) the database at the path and notes what happened; the error
    /// says why no database could be opened there (writes are then held, never written into
    /// a file that is gone).
    fn check_file(&mut self) -> Result<(), String> {
        let path = Path::new(&self.path);
        let now = identity(path).ok();
        if now.is_some() && now == self.file {
            return Ok(());
        }
        let what = if now.is_none() {
            "was deleted"
        } else {
            "was replaced by another file"
        };
        let message = format!(
            "the database file {} {what} while the daemon was running; history written to it \
             before is no longer in the file at this path",
            self.path
        );
        match open_new(path, &self.path) {
            Ok(conn) => {
                tracing::error!(database = %self.path,
                    "{message}; opened a new database there, later writes go to it");
                self.conn = conn;
                self.file = identity(path).ok();
                self.series = SeriesCache::default();
                self.texts.clear();
                self.generation.fetch_add(1, Ordering::Release);
                self.replaced = Some(message);
                Ok(())
            }
            Err(e) => Err(format!("{message}; cannot open a new one: {e}")),
        }
    }
}

impl Apply for SqliteWriter {
    fn apply(&mut self, ops: Vec<WriteOp>) -> Result<(), String> {
        let mut all = std::mem::take(&mut self.held);
        all.extend(ops);
        if let Err(message) = self.check_file() {
            self.hold(all, &message);
            return Err(message);
        }
        let result = self.commit(&all);
        match result {
            Ok(()) => {
                if self.failing.take().is_some() {
                    tracing::info!(database = %self.path, committed = all.len(),
                        "the database accepts writes again; the writes held meanwhile are committed");
                }
                Ok(())
            }
            Err(e) => {
                // The transaction rolled back: series and text ids it created no longer exist.
                self.series = SeriesCache::default();
                self.texts.clear();
                let message = e.to_string();
                if transient(&e) {
                    self.hold(all, &message);
                } else {
                    self.failing = Some(message.clone());
                    tracing::error!(database = %self.path, error = %message, lost = all.len(),
                        "cannot write history");
                }
                Err(message)
            }
        }
    }

    fn held(&self) -> usize {
        self.held.len()
    }

    fn problem(&mut self) -> Option<String> {
        self.replaced.take()
    }
}

impl SqliteWriter {
    /// Keeps `ops` for the next batch (the oldest dropped past [`MAX_HELD`]); logs when the
    /// failure starts, changes or drops ops.
    fn hold(&mut self, mut ops: Vec<WriteOp>, message: &str) {
        let first = self.failing.as_deref() != Some(message);
        self.failing = Some(message.to_owned());
        let over = ops.len().saturating_sub(MAX_HELD);
        ops.drain(..over);
        if first || over > 0 {
            tracing::error!(database = %self.path, error = %message, held = ops.len(),
                dropped = over, "cannot write history; writes are held in memory and committed when the database accepts them");
        }
        self.held = ops;
    }
}

/// Series ids (see migration 2) by check name, kind and target (a check has one series per
/// target it ever had), keyed by their [`rows::Digest`]: 16 bytes per series instead of three
/// strings. Valid while no transaction that created an entry has rolled back (the writer
/// clears it then).
#[derive(Debug, Default)]
struct SeriesCache {
    ids: HashMap<u128, i64>,
    digest: rows::Digest,
}

impl SeriesCache {
    /// The id of the series, created if new.
    fn id(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        check: &str,
        kind: Option<&str>,
        target: Option<&str>,
    ) -> rusqlite::Result<i64> {
        let key = self.digest.of(&(check, kind, target));
        if let Some(id) = self.ids.get(&key) {
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
        self.ids.insert(key, id);
        Ok(id)
    }
}

fn json(v: &serde_json::Value) -> String {
    v.to_string()
}

fn insert_attempt(
    tx: &rusqlite::Transaction<'_>,
    series: &mut SeriesCache,
    texts: &mut TextIds,
    a: &PackedAttempt,
) -> rusqlite::Result<()> {
    let (kind, target) = a.series();
    let id = series.id(tx, &a.check, kind, target)?;
    let c = a.cells();
    let error = text_id(tx, texts, a.error_kind.as_deref(), a.at_ms)?;
    let shape = text_id(tx, texts, c.shape.as_deref(), a.at_ms)?;
    // `seq` is 0 unless the series already has a result in this millisecond.
    tx.prepare_cached(
        "INSERT INTO results (series, at_ms, seq, up, error, latency_us, shape, nums)
         VALUES (?1, ?2, COALESCE((SELECT MAX(seq) + 1 FROM results
                                   WHERE series = ?1 AND at_ms = ?2), 0), ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        id,
        a.at_ms,
        a.up,
        error,
        c.latency_us,
        shape,
        c.nums
    ])?;
    Ok(())
}

fn apply(
    tx: &rusqlite::Transaction<'_>,
    series: &mut SeriesCache,
    texts: &mut TextIds,
    op: &WriteOp,
) -> rusqlite::Result<()> {
    match op {
        WriteOp::Attempt(a) => insert_attempt(tx, series, texts, &PackedAttempt::from(a.clone()))?,
        WriteOp::Packed(a) => insert_attempt(tx, series, texts, a)?,
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
            .execute(params![check, verdict, json(detail)])?;
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
            .execute(params![key, json(target), json(payload), at_ms])?;
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

fn attempt_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Attempt> {
    Ok(AttemptColumns {
        check: r.get(0)?,
        at_ms: r.get(1)?,
        up: r.get(2)?,
        latency_us: r.get(3)?,
        error_kind: r.get(4)?,
        shape: r.get(5)?,
        nums: r.get(6)?,
        kind: r.get(7)?,
        target: r.get(8)?,
    }
    .into_attempt())
}

fn state_col(s: String) -> State {
    rows::state(&s)
}

fn parse_json(text: Option<String>) -> serde_json::Value {
    rows::json(text.as_deref())
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

use rows::limit;

impl Storage for SqliteStorage {
    fn submit(&self, op: WriteOp) {
        self.queue.submit(op);
    }

    fn health(&self) -> super::StorageHealth {
        self.queue.health()
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.queue.flush().map_err(|e| match e {
            FlushError::Failed(message) => StorageError::WriteFailed {
                path: self.path.clone(),
                message,
            },
            FlushError::Closed => StorageError::Closed,
        })
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
                "SELECT {ATTEMPT_COLUMNS} FROM {ATTEMPT_TABLES}
                 WHERE s.check_name = ?1 AND r.at_ms >= ?2 AND r.at_ms < ?3
                 ORDER BY r.at_ms DESC, r.series DESC, r.seq DESC LIMIT ?4"
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
                Ok(rows::hourly(
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
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
            // The rows of the newest millisecond of each series (one probe of the key per
            // series), oldest first: the last one of a check is its newest.
            let mut st = c.prepare_cached(&format!(
                "SELECT {ATTEMPT_COLUMNS} FROM series s CROSS JOIN results r
                   ON r.series = s.id
                   AND r.at_ms = (SELECT MAX(x.at_ms) FROM results x WHERE x.series = s.id)
                 LEFT JOIN texts e ON e.id = r.error LEFT JOIN texts t ON t.id = r.shape
                 ORDER BY r.at_ms, s.id, r.seq"
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

    fn secret(&self, name: &str, fresh: &str) -> Result<String, StorageError> {
        self.with_reader(|c| {
            c.execute(
                "INSERT OR IGNORE INTO secrets (name, value) VALUES (?1, ?2)",
                params![name, fresh],
            )?;
            c.query_row(
                "SELECT value FROM secrets WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
        })
    }

    fn put_silence(&self, s: &super::Silence) -> Result<(), StorageError> {
        let body = super::silence_body(s);
        self.with_reader(|c| {
            c.execute(
                "INSERT OR REPLACE INTO silences (id, ends_ms, body) VALUES (?1, ?2, ?3)",
                params![s.id, s.ends_ms, body],
            )
            .map(drop)
        })
    }

    fn silences(&self, now_ms: Millis) -> Result<Vec<super::Silence>, StorageError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached("SELECT body FROM silences WHERE ends_ms > ?1")?;
            let bodies = st
                .query_map(params![now_ms], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(super::silences_of(bodies))
        })
    }

    fn outbox_status(&self) -> Result<Vec<super::OutboxStatus>, StorageError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT json_extract(o.payload, '$.alert') AS a,
                        SUM(o.delivered_ms IS NULL), SUM(o.delivered_ms IS NOT NULL),
                        MAX(o.delivered_ms),
                        (SELECT e.last_error FROM outbox e
                         WHERE json_extract(e.payload, '$.alert') = json_extract(o.payload, '$.alert')
                         AND e.last_error IS NOT NULL ORDER BY e.id DESC LIMIT 1)
                 FROM outbox o WHERE a IS NOT NULL GROUP BY a ORDER BY a",
            )?;
            st.query_map([], |r| {
                Ok(super::OutboxStatus {
                    alert: r.get(0)?,
                    pending: r.get(1)?,
                    delivered: r.get(2)?,
                    last_delivered_ms: r.get(3)?,
                    last_error: r.get(4)?,
                })
            })?
            .collect()
        })
    }

    fn due_alerts(&self, now_ms: Millis, n: usize) -> Result<Vec<OutboxItem>, StorageError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                // Held behind an earlier undelivered alert of the same check to the same
                // target: each receiver gets a check's alerts in event order.
                "SELECT id, key, target, payload, attempts, next_ms FROM outbox o
                 WHERE delivered_ms IS NULL AND next_ms <= ?1
                 AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.delivered_ms IS NULL
                     AND e.id < o.id AND e.target = o.target
                     AND json_extract(e.payload, '$.check') = json_extract(o.payload, '$.check'))
                 ORDER BY next_ms, id LIMIT ?2",
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
        let cutoff = rows::hour_cutoff(raw_before_ms);
        let conn = Connection::open(&self.path).map_err(db_err(&self.path))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(db_err(&self.path))?;
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(db_err(&self.path))?;
        let run = || -> rusqlite::Result<()> {
            conn.execute(
                "INSERT INTO hourly (check_name, hour_ms, attempts, ups, latency_sum, latency_n, latency_max)
                 SELECT s.check_name, r.at_ms - (r.at_ms % 3600000), COUNT(*), SUM(r.up),
                        COALESCE(SUM(r.latency_us), 0) / 1000.0, COUNT(r.latency_us),
                        MAX(r.latency_us) / 1000.0
                 FROM series s CROSS JOIN results r ON r.series = s.id
                 WHERE r.at_ms < ?1 GROUP BY 1, 2
                 ON CONFLICT (check_name, hour_ms) DO UPDATE SET
                   attempts = attempts + excluded.attempts, ups = ups + excluded.ups,
                   latency_sum = latency_sum + excluded.latency_sum,
                   latency_n = latency_n + excluded.latency_n,
                   latency_max = MAX(COALESCE(latency_max, excluded.latency_max), COALESCE(excluded.latency_max, latency_max))",
                [cutoff],
            )?;
            // Per series, through the `(series, at_ms, seq)` key (CROSS JOIN above: series first).
            conn.execute(
                "DELETE FROM results WHERE series IN (SELECT id FROM series) AND at_ms < ?1",
                [cutoff],
            )?;
            // Texts no remaining result uses (every use was before the cutoff).
            conn.execute(
                "DELETE FROM texts WHERE last_ms < ?1",
                [rows::text_cutoff(cutoff)],
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
