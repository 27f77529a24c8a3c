//! The PostgreSQL backend, for when one node is not enough (history on a shared server).
//!
//! Same semantics as the SQLite backend: one writer thread applies [`WriteOp`]s in order,
//! gathered for 200 ms into one transaction (the write queue shared with SQLite,
//! `storage/writer.rs`); `flush` and every read commit what is queued first. Results are
//! stored as typed rows under a series exactly like SQLite, and read back through the same code
//! (`storage/rows.rs`), so the API JSON is identical.
//!
//! It uses the `postgres` crate, the synchronous client of rust-postgres, rather than
//! `tokio-postgres`: the writer is a plain thread that blocks on its queue, and reads are
//! blocking calls made from `spawn_blocking`, so an async client would only add a runtime
//! hand-off to every call. The sync client runs its own small runtime, which must never be
//! entered or dropped on an async thread: both connections therefore live on threads of their
//! own (the writer thread and a reader thread), and the storage object only sends them work.
//! Connections are plain TCP unless the URL asks for TLS (`?sslmode=require` or
//! `?sslmode=verify-full&sslrootcert=CA.pem`, rustls; see `target.rs`).

mod read;
mod schema;
mod target;
mod write;

use std::collections::HashMap;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use postgres::Client;

use super::writer::{FlushError, Queue};
use super::{
    Attempt, HourlyRow, Incident, Millis, OutboxItem, Resume, Storage, StorageError,
    TransitionRecord, WriteOp,
};
pub use target::PgTarget;

/// A read to run on the reader thread.
type Job = Box<dyn FnOnce(&mut Reader) + Send>;

/// History in a PostgreSQL database.
#[derive(Debug)]
pub struct PostgresStorage {
    target: PgTarget,
    queue: Queue,
    reads: Mutex<Option<Sender<Job>>>,
    reader: Mutex<Option<JoinHandle<()>>>,
    /// Cluster mode: how long due alerts are claimed for (ms; 0 = one daemon, no claims).
    claim_ms: std::sync::atomic::AtomicI64,
}

/// Alerts claimed at a time in cluster mode.
const CLAIM_BATCH: usize = 20;

/// An error of the client with its causes (`db error: ERROR: …`), never the password.
pub(crate) fn describe(e: &postgres::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

/// Whether `e` means the connection is gone, even if the client has not noticed yet: the
/// server ended the session (`57P01` admin shutdown — `pg_terminate_backend`, a failover —
/// `57P02` crash shutdown, `57P03` cannot connect now) or a connection exception (class
/// `08`). The FATAL message arrives before the socket's EOF, so `Client::is_closed` can
/// still be false when the first statement after it fails.
pub(crate) fn connection_lost(e: &postgres::Error) -> bool {
    e.is_closed()
        || e.code().is_some_and(|c| {
            let code = c.code();
            code.starts_with("08") || code.starts_with("57P")
        })
}

fn pg_err(target: &PgTarget, message: String) -> StorageError {
    StorageError::Postgres {
        server: target.server(),
        database: target.dbname.clone(),
        message,
    }
}

/// How long reads fail at once after one found the server unreachable slowly, before the next
/// read tries again. A server whose host is cut off or answers with ICMP errors makes a read
/// wait for the TCP user timeout and the connect timeout (10 s each); without this, every
/// read queued behind it (the API's, the dashboard's) would wait as long in turn.
const READ_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// A read that failed after this long found a server that does not answer (see
/// [`READ_RETRY_AFTER`]).
const SLOW_FAILURE: std::time::Duration = std::time::Duration::from_secs(1);

/// The reader thread's connection, opened again when the previous one broke.
struct Reader {
    target: PgTarget,
    client: Option<Client>,
    /// When a read last found the server unreachable; cleared by a read that reaches it.
    unreachable_at: Option<std::time::Instant>,
}

impl Reader {
    fn client(&mut self) -> Result<&mut Client, postgres::Error> {
        let client = match self.client.take() {
            Some(c) if !c.is_closed() => c,
            _ => self.target.connect()?,
        };
        Ok(self.client.insert(client))
    }
}

impl PostgresStorage {
    /// Connects to `target`, creates or migrates the schema and starts the writer and reader
    /// threads. Fails when the server cannot be reached (within 10 s), refuses the login, or
    /// holds a schema newer than this build ([`StorageError::TooNew`]).
    pub fn open(target: &PgTarget) -> Result<Arc<PostgresStorage>, StorageError> {
        // Connections are made off the caller's thread, which may be an async one (see the
        // module docs); they are then handed to the threads that keep them.
        let (writer, reader) = std::thread::scope(|s| {
            s.spawn(|| connect(target))
                .join()
                .unwrap_or_else(|_| Err(pg_err(target, "the connecting thread failed".into())))
        })?;
        let spawn_err = |e: std::io::Error| pg_err(target, format!("cannot start a thread: {e}"));
        let queue = Queue::start("linkpulse-pg-writer", writer).map_err(spawn_err)?;
        let (jobs, rx) = mpsc::channel::<Job>();
        let mut reader = Reader {
            target: target.clone(),
            client: Some(reader),
            unreachable_at: None,
        };
        let reader = std::thread::Builder::new()
            .name("linkpulse-pg-reader".to_owned())
            .spawn(move || {
                for job in rx {
                    job(&mut reader);
                }
            })
            .map_err(spawn_err)?;
        Ok(Arc::new(PostgresStorage {
            target: target.clone(),
            queue,
            reads: Mutex::new(Some(jobs)),
            reader: Mutex::new(Some(reader)),
            claim_ms: Default::default(),
        }))
    }

    /// Cluster mode: [`Storage::due_alerts`] claims what it returns for `claim` (see
    /// `read::claim_alerts`), so members sharing the database deliver each alert once.
    pub fn claim_alerts_for(&self, claim: std::time::Duration) {
        let ms = i64::try_from(claim.as_millis()).unwrap_or(i64::MAX).max(1);
        self.claim_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// The server and database (never the password).
    pub fn target(&self) -> &PgTarget {
        &self.target
    }

    /// Commits everything queued and stops the writer and reader threads (graceful
    /// shutdown); later reads fail with [`StorageError::Closed`].
    pub fn close(&self) {
        self.queue.close();
        drop(
            self.reads
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let reader = self
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = reader {
            let _ = h.join();
        }
    }

    /// Runs `f` on the reader connection, after committing every write submitted before.
    fn read<T: Send + 'static>(
        &self,
        f: impl Fn(&mut Client) -> Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T, StorageError> {
        if self.queue.pending() && self.queue.health().problem.is_none() {
            // Read your writes: commit what is queued first (a stopped writer reads as is;
            // a writer holding writes for an unreachable server is not waited for).
            let _ = self.flush();
        }
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move |r: &mut Reader| {
            if let Some(at) = r.unreachable_at
                && at.elapsed() < READ_RETRY_AFTER
            {
                let _ = tx.send(Err(format!(
                    "database unreachable (a read {} ms ago found no server; retried after {} s)",
                    at.elapsed().as_millis(),
                    READ_RETRY_AFTER.as_secs()
                )));
                return;
            }
            let gone = |e: &postgres::Error, r: &Reader| {
                connection_lost(e) || r.client.as_ref().is_none_or(Client::is_closed)
            };
            let started = std::time::Instant::now();
            let mut result = r.client().and_then(&f);
            if let Err(e) = &result
                && gone(e, r)
            {
                // The server went away since the last read: once more on a new connection.
                r.client = None;
                result = r.client().and_then(&f);
            }
            // Only a slow failure (a server that does not answer) makes the next reads fail at
            // once: one refused at once costs them nothing to find out for themselves.
            r.unreachable_at = match &result {
                Err(e) if gone(e, r) && started.elapsed() >= SLOW_FAILURE => {
                    Some(std::time::Instant::now())
                }
                _ => None,
            };
            let result = result.map_err(|e| describe(&e));
            let _ = tx.send(result);
        });
        let sent = self
            .reads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|s| s.send(job).is_ok());
        if sent != Some(true) {
            return Err(StorageError::Closed);
        }
        match rx.recv() {
            Ok(result) => result.map_err(|m| pg_err(&self.target, m)),
            Err(_) => Err(StorageError::Closed),
        }
    }
}

/// Opens the writer's connection, migrates, then opens the reader's.
fn connect(target: &PgTarget) -> Result<(write::PgWriter, Client), StorageError> {
    let err = |e: postgres::Error| pg_err(target, describe(&e));
    let mut client = target.connect().map_err(err)?;
    match schema::migrate(&mut client, &target.display_url()).map_err(err)? {
        schema::Migrated::Current => {}
        schema::Migrated::TooNew(found) => {
            return Err(StorageError::TooNew {
                path: target.display_url(),
                found,
                supported: schema::supported(),
            });
        }
    }
    let writer = write::PgWriter::new(target.clone(), client).map_err(err)?;
    let reader = target.connect().map_err(err)?;
    Ok((writer, reader))
}

impl Drop for PostgresStorage {
    fn drop(&mut self) {
        self.close();
    }
}

impl Storage for PostgresStorage {
    fn submit(&self, op: WriteOp) {
        self.queue.submit(op);
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.queue.flush().map_err(|e| match e {
            FlushError::Failed(message) => pg_err(&self.target, message),
            FlushError::Closed => StorageError::Closed,
        })
    }

    fn history(
        &self,
        check: &str,
        from_ms: Millis,
        to_ms: Millis,
        limit: usize,
    ) -> Result<Vec<Attempt>, StorageError> {
        let check = check.to_owned();
        self.read(move |c| read::history(c, &check, from_ms, to_ms, limit))
    }

    fn hourly(
        &self,
        check: &str,
        from_ms: Millis,
        to_ms: Millis,
    ) -> Result<Vec<HourlyRow>, StorageError> {
        let check = check.to_owned();
        self.read(move |c| read::hourly(c, &check, from_ms, to_ms))
    }

    fn transitions(
        &self,
        check: Option<&str>,
        from_ms: Millis,
    ) -> Result<Vec<TransitionRecord>, StorageError> {
        let check = check.map(str::to_owned);
        self.read(move |c| read::transitions(c, check.as_deref(), from_ms))
    }

    fn incidents(
        &self,
        check: Option<&str>,
        from_ms: Millis,
        limit: usize,
    ) -> Result<Vec<Incident>, StorageError> {
        let check = check.map(str::to_owned);
        self.read(move |c| read::incidents(c, check.as_deref(), from_ms, limit))
    }

    fn resume(&self) -> Result<HashMap<String, Resume>, StorageError> {
        self.read(read::resume)
    }

    fn due_alerts(&self, now_ms: Millis, limit: usize) -> Result<Vec<OutboxItem>, StorageError> {
        let claim_ms = self.claim_ms.load(std::sync::atomic::Ordering::Relaxed);
        if claim_ms > 0 {
            // Cluster mode: few at a time, so a member that dies mid-batch strands few.
            let limit = limit.min(CLAIM_BATCH);
            return self.read(move |c| read::claim_alerts(c, now_ms, limit, claim_ms));
        }
        self.read(move |c| read::due_alerts(c, now_ms, limit))
    }

    fn health(&self) -> super::StorageHealth {
        self.queue.health()
    }

    fn secret(&self, name: &str, fresh: &str) -> Result<String, StorageError> {
        let (name, fresh) = (name.to_owned(), fresh.to_owned());
        self.read(move |c| {
            c.execute(
                "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &fresh],
            )?;
            c.query_one("SELECT value FROM secrets WHERE name = $1", &[&name])?
                .try_get(0)
        })
    }

    fn put_silence(&self, s: &super::Silence) -> Result<(), StorageError> {
        let (id, ends_ms, body) = (s.id.clone(), s.ends_ms, super::silence_body(s));
        self.read(move |c| {
            c.execute(
                "INSERT INTO silences (id, ends_ms, body) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET ends_ms = EXCLUDED.ends_ms, body = EXCLUDED.body",
                &[&id, &ends_ms, &body],
            )
            .map(drop)
        })
    }

    fn silences(&self, now_ms: Millis) -> Result<Vec<super::Silence>, StorageError> {
        self.read(move |c| {
            let rows = c.query("SELECT body FROM silences WHERE ends_ms > $1", &[&now_ms])?;
            let bodies = rows
                .iter()
                .map(|r| r.try_get::<_, String>(0))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(super::silences_of(bodies))
        })
    }

    fn vantage_latest(&self, since_ms: Millis) -> Result<Vec<super::VantageResult>, StorageError> {
        self.read(move |c| read::vantage_latest(c, since_ms))
    }

    fn outbox_status(&self) -> Result<Vec<super::OutboxStatus>, StorageError> {
        self.read(|c| {
            c.query(
                "SELECT g.a, g.pending, g.delivered, g.last_ms,
                        (SELECT e.last_error FROM outbox e
                         WHERE e.payload::jsonb ->> 'alert' = g.a
                         AND e.last_error IS NOT NULL ORDER BY e.id DESC LIMIT 1)
                 FROM (SELECT o.payload::jsonb ->> 'alert' AS a,
                         SUM(CASE WHEN o.delivered_ms IS NULL THEN 1 ELSE 0 END)::BIGINT AS pending,
                         SUM(CASE WHEN o.delivered_ms IS NULL THEN 0 ELSE 1 END)::BIGINT AS delivered,
                         MAX(o.delivered_ms) AS last_ms
                       FROM outbox o GROUP BY 1) g
                 WHERE g.a IS NOT NULL ORDER BY g.a",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(super::OutboxStatus {
                    alert: r.try_get(0)?,
                    pending: r.try_get(1)?,
                    delivered: r.try_get(2)?,
                    last_delivered_ms: r.try_get(3)?,
                    last_error: r.try_get(4)?,
                })
            })
            .collect()
        })
    }

    fn prune(&self, raw_before_ms: Millis, hourly_before_ms: Millis) -> Result<(), StorageError> {
        // On a connection of its own (a long pass never holds up reads), made and closed on a
        // thread of its own (see the module docs).
        let target = &self.target;
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut client = target.connect().map_err(|e| describe(&e))?;
                read::prune(&mut client, raw_before_ms, hourly_before_ms).map_err(|e| describe(&e))
            })
            .join()
            .unwrap_or_else(|_| Err("the retention thread failed".to_owned()))
        })
        .map_err(|m| pg_err(target, m))
    }
}

#[cfg(test)]
mod tests;
