//! The write queue every backend shares: [`WriteOp`]s are applied in submission order by one
//! writer thread, gathered for [`COMMIT_EVERY`] into one transaction, and a flush (or a read,
//! through [`Queue::pending`]) asks for the commit at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{StorageHealth, WriteOp};

/// Largest number of ops in one transaction.
const MAX_BATCH: usize = 10_000;

/// How long the writer gathers ops before it commits them in one transaction (unless a flush
/// asks for the commit sooner). Bounds what a `kill -9` can lose; one commit per result would
/// cost more CPU than the probe itself.
pub(crate) const COMMIT_EVERY: Duration = Duration::from_millis(200);

/// A backend's side of the writer: applies one batch in one transaction.
pub(crate) trait Apply: Send + 'static {
    /// Applies `ops` in order, all or nothing; the error says why the batch was not
    /// committed. Called on every flush, with no ops too.
    fn apply(&mut self, ops: Vec<WriteOp>) -> Result<(), String>;

    /// Whether ops of an earlier failed batch are held for another try (the writer then
    /// calls [`Apply::apply`] with no new ops about once a second).
    fn holds_ops(&self) -> bool {
        self.held() > 0
    }

    /// How many ops of earlier failed batches are held.
    fn held(&self) -> usize {
        0
    }

    /// A problem found outside a batch (the database file deleted or replaced), checked after
    /// every batch; `None` when all is well.
    fn problem(&mut self) -> Option<String> {
        None
    }
}

/// What the writer last saw, shared with [`Queue::health`].
#[derive(Debug, Default)]
struct Status {
    problem: Mutex<Option<String>>,
    errors: AtomicU64,
    held: AtomicU64,
}

impl Status {
    /// Records the outcome of one batch (and the backend's own check).
    fn record(&self, result: &Result<(), String>, problem: Option<String>, held: usize) {
        let problem = match (result, problem) {
            (_, Some(p)) => Some(p),
            (Err(e), None) => Some(e.clone()),
            (Ok(()), None) => None,
        };
        if problem.is_some() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.held.store(held as u64, Ordering::Relaxed);
        *self.problem.lock().unwrap_or_else(PoisonError::into_inner) = problem;
    }
}

/// Why a flush did not commit.
#[derive(Debug)]
pub(crate) enum FlushError {
    /// The batch failed and rolled back.
    Failed(String),
    /// The writer has stopped.
    Closed,
}

/// What the writer thread receives.
enum Msg {
    Op(WriteOp),
    Flush(Sender<Result<(), String>>),
    Stop,
}

/// The sending side of the writer thread.
#[derive(Debug)]
pub(crate) struct Queue {
    tx: Mutex<Sender<Msg>>,
    /// Ops submitted so far, and ops the writer has applied: a read flushes first when they
    /// differ, so reads see every write submitted before them.
    submitted: AtomicU64,
    applied: Arc<AtomicU64>,
    writer: Mutex<Option<JoinHandle<()>>>,
    status: Arc<Status>,
}

impl Queue {
    /// Starts the writer thread (named `thread`) around `backend`.
    pub(crate) fn start(thread: &str, backend: impl Apply) -> std::io::Result<Queue> {
        let (tx, rx) = mpsc::channel();
        let applied = Arc::new(AtomicU64::new(0));
        let counter = applied.clone();
        let status = Arc::new(Status::default());
        let seen = status.clone();
        let writer = std::thread::Builder::new()
            .name(thread.to_owned())
            .spawn(move || writer_loop(backend, &rx, &counter, &seen))?;
        Ok(Queue {
            tx: Mutex::new(tx),
            submitted: AtomicU64::new(0),
            applied,
            writer: Mutex::new(Some(writer)),
            status,
        })
    }

    /// Whether the last batch reached the database, and the failures so far.
    pub(crate) fn health(&self) -> StorageHealth {
        StorageHealth {
            problem: self
                .status
                .problem
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            errors: self.status.errors.load(Ordering::Relaxed),
            held: usize::try_from(self.status.held.load(Ordering::Relaxed)).unwrap_or(usize::MAX),
        }
    }

    /// Queues a write; never blocks.
    pub(crate) fn submit(&self, op: WriteOp) {
        self.submitted.fetch_add(1, Ordering::Release);
        let _ = self
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(Msg::Op(op));
    }

    /// Whether some submitted write is not applied yet.
    pub(crate) fn pending(&self) -> bool {
        self.submitted.load(Ordering::Acquire) != self.applied.load(Ordering::Acquire)
    }

    /// Waits until every write submitted before this call is committed.
    pub(crate) fn flush(&self) -> Result<(), FlushError> {
        let (tx, rx) = mpsc::channel();
        self.tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(Msg::Flush(tx))
            .map_err(|_| FlushError::Closed)?;
        self.wake_writer();
        match rx.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(FlushError::Failed(message)),
            Err(_) => Err(FlushError::Closed),
        }
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

    /// Commits everything queued and stops the writer.
    pub(crate) fn close(&self) {
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
}

fn writer_loop(mut backend: impl Apply, rx: &Receiver<Msg>, applied: &AtomicU64, status: &Status) {
    loop {
        let first = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => {
                if backend.holds_ops() {
                    let result = backend.apply(Vec::new());
                    let problem = backend.problem();
                    status.record(&result, problem, backend.held());
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let batch = gather(first, rx);
        let mut stop = false;
        let mut waiters = Vec::new();
        let mut ops = Vec::with_capacity(batch.len());
        for msg in batch {
            match msg {
                Msg::Op(op) => ops.push(op),
                Msg::Flush(w) => waiters.push(w),
                Msg::Stop => stop = true,
            }
        }
        let n = ops.len() as u64;
        let result = backend.apply(ops);
        let problem = backend.problem();
        status.record(&result, problem, backend.held());
        applied.fetch_add(n, Ordering::Release);
        for w in waiters {
            let _ = w.send(result.clone());
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
