//! The writer thread's side: applies a batch of [`WriteOp`]s in one transaction. Attempts are
//! gathered and inserted with one statement per batch (`unnest` over arrays, in submission
//! order); the rest are single prepared statements.

use std::borrow::Cow;
use std::collections::HashMap;

use postgres::{Client, Statement, Transaction};

use super::super::rows;
use super::super::writer::Apply;
use super::super::{PackedAttempt, WriteOp};
use super::{PgTarget, connection_lost, describe};

/// The statements every batch uses, prepared once per connection.
struct Prepared {
    results: Statement,
    find_series: Statement,
    new_series: Statement,
    transition: Statement,
    open_incident: Statement,
    close_incident: Statement,
    diagnosis: Statement,
    enqueue: Statement,
    delivered: Statement,
    failed: Statement,
}

impl Prepared {
    fn new(c: &mut Client) -> Result<Prepared, postgres::Error> {
        Ok(Prepared {
            results: c.prepare(
                "INSERT INTO results (series, at_ms, up, latency_ms, error_kind, detail)
                 SELECT s, a, u, l, e, d FROM unnest($1::int8[], $2::int8[], $3::bool[],
                     $4::float8[], $5::text[], $6::text[]) WITH ORDINALITY AS t(s, a, u, l, e, d, n)
                 ORDER BY n",
            )?,
            find_series: c.prepare(
                "SELECT id FROM series WHERE check_name = $1 AND kind IS NOT DISTINCT FROM $2
                 AND target IS NOT DISTINCT FROM $3 ORDER BY id LIMIT 1",
            )?,
            new_series: c.prepare(
                "INSERT INTO series (check_name, kind, target) VALUES ($1, $2, $3) RETURNING id",
            )?,
            transition: c.prepare(
                "INSERT INTO transitions (check_name, at_ms, from_state, to_state, cause)
                 VALUES ($1, $2, $3, $4, $5)",
            )?,
            open_incident: c.prepare(
                "INSERT INTO incidents (check_name, started_ms, cause) VALUES ($1, $2, $3)
                 ON CONFLICT (check_name) WHERE ended_ms IS NULL DO NOTHING",
            )?,
            close_incident: c.prepare(
                "UPDATE incidents SET ended_ms = $2 WHERE check_name = $1 AND ended_ms IS NULL",
            )?,
            diagnosis: c.prepare(
                "UPDATE incidents SET diagnosis = $2, diagnosis_detail = $3 WHERE id =
                   (SELECT id FROM incidents WHERE check_name = $1
                    ORDER BY started_ms DESC, id DESC LIMIT 1)",
            )?,
            enqueue: c.prepare(
                "INSERT INTO outbox (key, target, payload, created_ms, next_ms)
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT (key) DO NOTHING",
            )?,
            delivered: c.prepare(
                "UPDATE outbox SET delivered_ms = $2, attempts = attempts + 1, last_error = NULL
                 WHERE id = $1",
            )?,
            failed: c.prepare(
                "UPDATE outbox SET attempts = $2, next_ms = $3, last_error = $4 WHERE id = $1",
            )?,
        })
    }
}

/// Most ops held while the server cannot be reached; beyond it the oldest are dropped.
const MAX_HELD: usize = 100_000;

/// Text as PostgreSQL stores it: `text` cannot hold NUL, which SQLite can (an error message
/// from a hostile server may carry one); it becomes U+FFFD instead of failing the batch.
fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

fn opt_text(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(text)
}

/// Kind, target and id of one series of a check.
type SeriesKey = (Option<String>, Option<String>, i64);

/// The writer: its connection (re-opened after the server went away), statements and series
/// cache (valid while no transaction that created an entry has rolled back).
pub(super) struct PgWriter {
    target: PgTarget,
    conn: Option<(Client, Prepared)>,
    series: HashMap<String, Vec<SeriesKey>>,
    /// Ops of batches that failed because the server could not be reached, applied first in
    /// the next batch (at most [`MAX_HELD`]).
    held: Vec<WriteOp>,
}

impl PgWriter {
    /// A writer on an open connection.
    pub(super) fn new(target: PgTarget, client: Client) -> Result<PgWriter, postgres::Error> {
        let mut client = client;
        let prepared = Prepared::new(&mut client)?;
        Ok(PgWriter {
            target,
            conn: Some((client, prepared)),
            series: HashMap::new(),
            held: Vec::new(),
        })
    }

    fn apply_ops(&mut self, ops: &[WriteOp]) -> Result<(), postgres::Error> {
        let (client, st) = connection(&mut self.conn, &self.target)?;
        let series = &mut self.series;
        let mut tx = client.transaction()?;
        let mut batch = Results::default();
        for op in ops {
            match op {
                WriteOp::Attempt(a) => {
                    let packed = PackedAttempt::from(a.clone());
                    batch.push(&mut tx, st, series, &packed)?;
                }
                WriteOp::Packed(a) => batch.push(&mut tx, st, series, a)?,
                WriteOp::Transition(t) => {
                    tx.execute(
                        &st.transition,
                        &[
                            &t.check,
                            &t.at_ms,
                            &t.from.as_str(),
                            &t.to.as_str(),
                            &opt_text(&t.cause),
                        ],
                    )?;
                }
                WriteOp::OpenIncident {
                    check,
                    at_ms,
                    cause,
                } => {
                    tx.execute(&st.open_incident, &[check, at_ms, &opt_text(cause)])?;
                }
                WriteOp::CloseIncident { check, at_ms } => {
                    tx.execute(&st.close_incident, &[check, at_ms])?;
                }
                WriteOp::Diagnosis {
                    check,
                    verdict,
                    detail,
                } => {
                    tx.execute(&st.diagnosis, &[check, &text(verdict), &detail.to_string()])?;
                }
                WriteOp::EnqueueAlert {
                    key,
                    target,
                    payload,
                    at_ms,
                } => {
                    tx.execute(
                        &st.enqueue,
                        &[&text(key), &target.to_string(), &payload.to_string(), at_ms],
                    )?;
                }
                WriteOp::AlertDelivered { id, at_ms } => {
                    tx.execute(&st.delivered, &[id, at_ms])?;
                }
                WriteOp::AlertFailed {
                    id,
                    attempts,
                    next_ms,
                    error,
                } => {
                    let attempts = i32::try_from(*attempts).unwrap_or(i32::MAX);
                    tx.execute(&st.failed, &[id, &attempts, next_ms, &text(error)])?;
                }
            }
        }
        batch.insert(&mut tx, st)?;
        tx.commit()
    }
}

/// The open connection in `slot`, opened again when the previous one broke.
fn connection<'c>(
    slot: &'c mut Option<(Client, Prepared)>,
    target: &PgTarget,
) -> Result<&'c mut (Client, Prepared), postgres::Error> {
    let conn = match slot.take() {
        Some(c) if !c.0.is_closed() => c,
        _ => {
            let mut client = target.client_config().connect(postgres::NoTls)?;
            let prepared = Prepared::new(&mut client)?;
            (client, prepared)
        }
    };
    Ok(slot.insert(conn))
}

/// The attempts of one batch, as the columns of one `unnest` insert.
#[derive(Default)]
struct Results {
    series: Vec<i64>,
    at_ms: Vec<i64>,
    up: Vec<bool>,
    latency_ms: Vec<Option<f64>>,
    error_kind: Vec<Option<String>>,
    detail: Vec<Option<String>>,
}

impl Results {
    fn push(
        &mut self,
        tx: &mut Transaction<'_>,
        st: &Prepared,
        cache: &mut HashMap<String, Vec<SeriesKey>>,
        a: &PackedAttempt,
    ) -> Result<(), postgres::Error> {
        let (kind, target, detail) = rows::packed_columns(a);
        let same = |(k, t, _): &&SeriesKey| k.as_deref() == kind && t.as_deref() == target;
        let id = match cache.get(&a.check).and_then(|l| l.iter().find(same)) {
            Some((_, _, id)) => *id,
            None => {
                let (k, t) = (kind.map(text), target.map(text));
                let found = tx.query_opt(&st.find_series, &[&a.check, &k, &t])?;
                let id: i64 = match found {
                    Some(row) => row.try_get(0)?,
                    None => tx
                        .query_one(&st.new_series, &[&a.check, &k, &t])?
                        .try_get(0)?,
                };
                cache.entry(a.check.clone()).or_default().push((
                    kind.map(str::to_owned),
                    target.map(str::to_owned),
                    id,
                ));
                id
            }
        };
        self.series.push(id);
        self.at_ms.push(a.at_ms);
        self.up.push(a.up);
        self.latency_ms.push(a.latency_ms);
        self.error_kind
            .push(opt_text(&a.error_kind).map(Cow::into_owned));
        self.detail.push(detail.map(|d| text(d).into_owned()));
        Ok(())
    }

    fn insert(&self, tx: &mut Transaction<'_>, st: &Prepared) -> Result<(), postgres::Error> {
        if self.series.is_empty() {
            return Ok(());
        }
        tx.execute(
            &st.results,
            &[
                &self.series,
                &self.at_ms,
                &self.up,
                &self.latency_ms,
                &self.error_kind,
                &self.detail,
            ],
        )?;
        Ok(())
    }
}

impl Apply for PgWriter {
    fn apply(&mut self, ops: Vec<WriteOp>) -> Result<(), String> {
        let mut all = std::mem::take(&mut self.held);
        all.extend(ops);
        if all.is_empty() {
            return Ok(());
        }
        let mut result = self.apply_ops(&all);
        if let Err(e) = &result
            && (self.lost() || connection_lost(e))
        {
            // The server went away (restart, failover): the batch rolled back with the
            // connection; apply it once more on a new one.
            self.conn = None;
            self.series.clear();
            result = self.apply_ops(&all);
        }
        result.map_err(|e| {
            // The transaction rolled back: series ids it created no longer exist.
            self.series.clear();
            let message = describe(&e);
            let database = self.target.display_url();
            if self.lost() || connection_lost(&e) {
                self.conn = None;
                // Unreachable: keep the ops for the next batch, the oldest dropped past a bound.
                let over = all.len().saturating_sub(MAX_HELD);
                all.drain(..over);
                tracing::error!(%database, error = %message, held = all.len(),
                    dropped = over, "cannot reach the database; history is held in memory");
                self.held = all;
            } else {
                tracing::error!(%database, error = %message, lost = all.len(),
                    "cannot write history");
            }
            message
        })
    }

    fn holds_ops(&self) -> bool {
        !self.held.is_empty()
    }
}

impl PgWriter {
    /// Whether the connection is gone (the server cannot be reached or closed it).
    fn lost(&self) -> bool {
        self.conn.as_ref().is_none_or(|(c, _)| c.is_closed())
    }
}
