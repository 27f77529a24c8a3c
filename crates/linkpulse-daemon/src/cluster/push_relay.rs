//! Push checks in cluster mode: a push may reach any member, but only the check's owner runs
//! its deadline. A member that receives a push for a check it does not run writes it to the
//! `cluster_pushes` table and `NOTIFY linkpulse_push`; every member `LISTEN`s, and the one
//! running the check takes the row (`DELETE … RETURNING` over rows locked `FOR UPDATE SKIP
//! LOCKED`, so a push is applied once) and feeds it to its engine. A push waiting when its
//! check's owner dies is taken by the next owner after the takeover. Notifications only
//! wake the relay: it also looks every [`SCAN_EVERY`], so a notification lost with a
//! connection delays a push by that much, never drops it.
//!
//! Through the database rather than forwarded to the owner's advertised address: the push
//! is durable once accepted (a member dying between accepting and forwarding loses nothing),
//! the receiving member needs no view of who owns what (ownership may be changing at that
//! moment), and members need not reach each other's API — only the database, as for
//! everything else in cluster mode.

use std::collections::HashMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use postgres::Client;
use postgres::fallible_iterator::FallibleIterator;
use tokio::sync::oneshot;

use crate::engine::{EngineHandle, PushEvent, Views};
use crate::storage::postgres::{PgTarget, describe};

/// How often the relay looks for pushes without a notification.
pub const SCAN_EVERY: Duration = Duration::from_secs(1);

/// Pushes older than this that no owner took (their check removed from the configuration)
/// are deleted.
const KEEP: Duration = Duration::from_secs(3600);

/// The channel of `NOTIFY`.
const CHANNEL: &str = "linkpulse_push";

/// A push to hand to the owner, and where to say whether it was stored.
struct Request {
    check: String,
    event: PushEvent,
    at_ms: i64,
    reply: oneshot::Sender<Result<(), String>>,
}

/// The API's side of the relay: hands a push for a check this member does not run to the
/// relay's thread.
#[derive(Debug, Clone)]
pub struct PushRelay {
    tx: mpsc::Sender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Request")
    }
}

impl PushRelay {
    /// Stores a push for `check` (received now) for its owner; an error says why it could not
    /// be stored (the database is unreachable).
    pub async fn relay(&self, check: &str, event: PushEvent) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        let request = Request {
            check: check.to_owned(),
            event,
            at_ms: crate::storage::now_ms(),
            reply,
        };
        self.tx
            .send(request)
            .map_err(|_| "the push relay has stopped".to_owned())?;
        rx.await
            .unwrap_or_else(|_| Err("the push relay has stopped".to_owned()))
    }
}

/// What the relay's thread works with.
struct Relay {
    target: PgTarget,
    engine: EngineHandle,
    /// The checks this member runs (the engine's views).
    views: Views,
    /// Push token by check name.
    tokens: Arc<RwLock<HashMap<String, String>>>,
    runtime: tokio::runtime::Handle,
    client: Option<Client>,
}

/// Starts the relay's thread (it stops when every [`PushRelay`] is dropped).
pub fn start(
    target: PgTarget,
    engine: EngineHandle,
    views: Views,
    tokens: Arc<RwLock<HashMap<String, String>>>,
    runtime: tokio::runtime::Handle,
) -> std::io::Result<PushRelay> {
    let (tx, rx) = mpsc::channel();
    let mut relay = Relay {
        target,
        engine,
        views,
        tokens,
        runtime,
        client: None,
    };
    std::thread::Builder::new()
        .name("linkpulse-push-relay".to_owned())
        .spawn(move || relay.run(&rx))?;
    Ok(PushRelay { tx })
}

fn event_name(event: PushEvent) -> &'static str {
    match event {
        PushEvent::Success => "ok",
        PushEvent::Fail => "fail",
        PushEvent::Start => "start",
    }
}

fn event_of(name: &str) -> Option<PushEvent> {
    match name {
        "ok" => Some(PushEvent::Success),
        "fail" => Some(PushEvent::Fail),
        "start" => Some(PushEvent::Start),
        _ => None,
    }
}

impl Relay {
    fn run(&mut self, rx: &mpsc::Receiver<Request>) {
        let mut last_scan: Option<Instant> = None;
        let mut last_sweep = Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(request) => {
                    let result = self.store(&request);
                    let _ = request.reply.send(result);
                    continue; // more may be queued; look for the owner's side after
                }
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
            let notified = self.client.as_mut().is_some_and(|c| {
                let mut n = c.notifications();
                n.iter().count().is_ok_and(|k| k > 0)
            });
            if notified || last_scan.is_none_or(|t| t.elapsed() >= SCAN_EVERY) {
                last_scan = Some(Instant::now());
                if let Err(e) = self.take() {
                    tracing::debug!(error = %e, "push relay: cannot read relayed pushes");
                }
            }
            if last_sweep.elapsed() >= Duration::from_secs(60) {
                last_sweep = Instant::now();
                let _ = self.sweep();
            }
        }
    }

    /// The connection (opened and `LISTEN`ing on first use or after it broke).
    fn client(&mut self) -> Result<&mut Client, String> {
        let client = match self.client.take() {
            Some(c) if !c.is_closed() => c,
            _ => {
                let mut c = self.target.connect().map_err(|e| describe(&e))?;
                c.batch_execute(&format!("LISTEN {CHANNEL}"))
                    .map_err(|e| describe(&e))?;
                c
            }
        };
        Ok(self.client.insert(client))
    }

    fn failed(&mut self, e: &postgres::Error) -> String {
        self.client = None;
        describe(e)
    }

    /// Writes a received push for its owner and wakes the members.
    fn store(&mut self, r: &Request) -> Result<(), String> {
        let client = self.client()?;
        let result = client.transaction().and_then(|mut tx| {
            tx.execute(
                "INSERT INTO cluster_pushes (check_name, event, at_ms) VALUES ($1, $2, $3)",
                &[&r.check, &event_name(r.event), &r.at_ms],
            )?;
            tx.batch_execute(&format!("NOTIFY {CHANNEL}"))?;
            tx.commit()
        });
        result.map_err(|e| self.failed(&e))
    }

    /// Takes the waiting pushes of the push checks this member runs and feeds them to the
    /// engine, oldest first.
    fn take(&mut self) -> Result<(), String> {
        let mine: Vec<String> = {
            let tokens = self.tokens.read().unwrap_or_else(PoisonError::into_inner);
            if tokens.is_empty() {
                // No push check: nothing to look at among the (many) checks this member runs.
                return Ok(());
            }
            // The views are kept by id: one pass picks the push checks this member runs.
            let views = self.views.read().unwrap_or_else(PoisonError::into_inner);
            views
                .values()
                .filter(|v| tokens.contains_key(&v.name))
                .map(|v| v.name.clone())
                .collect()
        };
        if mine.is_empty() {
            return Ok(());
        }
        let (engine, runtime, tokens) = (
            self.engine.clone(),
            self.runtime.clone(),
            self.tokens.clone(),
        );
        let client = self.client()?;
        let result = client.transaction().and_then(|mut tx| {
            let rows = tx.query(
                "DELETE FROM cluster_pushes WHERE id IN (
                     SELECT id FROM cluster_pushes WHERE check_name = ANY($1)
                     ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED)
                 RETURNING id, check_name, event, at_ms",
                &[&mine],
            )?;
            let mut rows: Vec<(i64, String, String, i64)> = rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect();
            rows.sort_unstable_by_key(|r| r.0);
            for (_, check, event, at_ms) in rows {
                let token = tokens
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&check)
                    .cloned();
                let taken = match (token, event_of(&event)) {
                    (Some(token), Some(e)) => runtime.block_on(engine.push(&token, e)),
                    _ => true, // unknown event or check: nothing to give it to
                };
                if !taken {
                    // The check moved away meanwhile: leave the push for its new owner.
                    tx.execute(
                        "INSERT INTO cluster_pushes (check_name, event, at_ms) VALUES ($1, $2, $3)",
                        &[&check, &event, &at_ms],
                    )?;
                }
            }
            tx.commit()
        });
        result.map_err(|e| self.failed(&e))
    }

    /// Deletes pushes nobody took within [`KEEP`].
    fn sweep(&mut self) -> Result<(), String> {
        let before = crate::storage::now_ms() - i64::try_from(KEEP.as_millis()).unwrap_or(0);
        let client = self.client()?;
        let result = client.execute("DELETE FROM cluster_pushes WHERE at_ms < $1", &[&before]);
        result.map(drop).map_err(|e| self.failed(&e))
    }
}
