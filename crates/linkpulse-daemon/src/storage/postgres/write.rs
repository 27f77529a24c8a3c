//! The writer thread's side: applies a batch of [`WriteOp`]s in one transaction. Attempts are
//! gathered and inserted with one statement per batch (`unnest` over arrays, in submission
//! order) as typed rows (`cells.rs`); the rest are single prepared statements.

use std::borrow::Cow;
use std::collections::HashMap;

use postgres::{Client, GenericClient, Statement, Transaction};

use super::super::cells::Cells;
use super::super::rows::{self, Cached, TextIds};
use super::super::writer::Apply;
use super::super::{Millis, PackedAttempt, WriteOp};
use super::{PgTarget, connection_lost, describe};

/// The statements every batch uses, prepared once per connection.
pub(super) struct Prepared {
    results: Statement,
    find_text: Statement,
    new_text: Statement,
    touch_text: Statement,
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
    pub(super) fn new(c: &mut impl GenericClient) -> Result<Prepared, postgres::Error> {
        Prepared::at(c, true)
    }

    /// The statements of a schema before version 6 (`vantages` false: series have no
    /// vantage), for the repack of version 2, which writes result rows only.
    pub(super) fn before_vantages(c: &mut impl GenericClient) -> Result<Prepared, postgres::Error> {
        Prepared::at(c, false)
    }

    fn at(c: &mut impl GenericClient, vantages: bool) -> Result<Prepared, postgres::Error> {
        let (find_series, new_series) = if vantages {
            (FIND_SERIES, NEW_SERIES)
        } else {
            (FIND_SERIES_V1, NEW_SERIES_V1)
        };
        Ok(Prepared {
            // `seq` is 0 unless the series already has a result in that millisecond (stored,
            // or earlier in the batch).
            results: c.prepare(
                "INSERT INTO results (at_ms, series, latency_us, error, shape, seq, up, nums)
                 SELECT a, s, l, e, h,
                     (COALESCE((SELECT MAX(x.seq) + 1 FROM results x
                                WHERE x.series = t.s AND x.at_ms = t.a), 0)
                      + row_number() OVER (PARTITION BY s, a ORDER BY n) - 1)::int2,
                     u, b
                 FROM unnest($1::int8[], $2::int8[], $3::bool[], $4::int4[], $5::int4[],
                     $6::int4[], $7::bytea[]) WITH ORDINALITY AS t(s, a, u, l, e, h, b, n)
                 ORDER BY n",
            )?,
            // By hash: a btree entry cannot hold a long text.
            find_text: c.prepare(
                "SELECT id, last_ms FROM texts WHERE md5(text) = md5($1) AND text = $1
                 ORDER BY id LIMIT 1",
            )?,
            new_text: c
                .prepare("INSERT INTO texts (text, last_ms) VALUES ($1, $2) RETURNING id")?,
            touch_text: c
                .prepare("UPDATE texts SET last_ms = GREATEST(last_ms, $2) WHERE id = $1")?,
            find_series: c.prepare(find_series)?,
            new_series: c.prepare(new_series)?,
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

// A multi-vantage check has one series per vantage and member (schema 6).
const FIND_SERIES: &str =
    "SELECT id FROM series WHERE check_name = $1 AND kind IS NOT DISTINCT FROM $2
     AND target IS NOT DISTINCT FROM $3 AND vantage IS NOT DISTINCT FROM $4
     AND member IS NOT DISTINCT FROM $5 ORDER BY id LIMIT 1";
const NEW_SERIES: &str = "INSERT INTO series (check_name, kind, target, vantage, member)
     VALUES ($1, $2, $3, $4, $5) RETURNING id";
// Before schema 6 (only the repack of version 2 uses them, and never for series).
const FIND_SERIES_V1: &str = "SELECT id FROM series WHERE check_name = $1
     AND kind IS NOT DISTINCT FROM $2 AND target IS NOT DISTINCT FROM $3 ORDER BY id LIMIT 1";
const NEW_SERIES_V1: &str =
    "INSERT INTO series (check_name, kind, target) VALUES ($1, $2, $3) RETURNING id";

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

/// Kind, target, vantage and id of one series of a check.
type SeriesKey = (
    Option<String>,
    Option<String>,
    Option<super::super::ResultVantage>,
    i64,
);

/// The writer: its connection (re-opened after the server went away), statements and series
/// cache (valid while no transaction that created an entry has rolled back).
pub(super) struct PgWriter {
    target: PgTarget,
    conn: Option<(Client, Prepared)>,
    series: HashMap<String, Vec<SeriesKey>>,
    texts: TextIds,
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
            texts: TextIds::default(),
            held: Vec::new(),
        })
    }

    fn apply_ops(&mut self, ops: &[WriteOp]) -> Result<(), postgres::Error> {
        let (client, st) = connection(&mut self.conn, &self.target)?;
        let series = &mut self.series;
        let texts = &mut self.texts;
        let mut tx = client.transaction()?;
        let mut batch = Results::default();
        for op in ops {
            match op {
                WriteOp::Attempt(a) => {
                    let packed = PackedAttempt::from(a.clone());
                    batch.push(&mut tx, st, series, texts, &packed)?;
                }
                WriteOp::Packed(a) => batch.push(&mut tx, st, series, texts, a)?,
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
            let mut client = target.connect()?;
            let prepared = Prepared::new(&mut client)?;
            (client, prepared)
        }
    };
    Ok(slot.insert(conn))
}

/// The id of an interned text (created if new) used by a result at `at_ms`, `None` for
/// `None`. The text's `last_ms` is moved forward when it lags by more than an hour.
fn text_id(
    tx: &mut Transaction<'_>,
    st: &Prepared,
    texts: &mut TextIds,
    s: Option<&str>,
    at_ms: Millis,
) -> Result<Option<i32>, postgres::Error> {
    let Some(s) = s else {
        return Ok(None);
    };
    match texts.get(s, at_ms) {
        Cached::Fresh(id) => return Ok(i32::try_from(id).ok()),
        Cached::Stale(id) => {
            let id32 = i32::try_from(id).unwrap_or(i32::MAX);
            // Unless retention deleted it meanwhile: then it is looked up (and made) again.
            if tx.execute(&st.touch_text, &[&id32, &at_ms])? == 1 {
                texts.insert(s, id, at_ms);
                return Ok(Some(id32));
            }
        }
        Cached::Unknown => {}
    }
    let stored = text(s);
    let (id, last): (i32, Millis) = match tx.query_opt(&st.find_text, &[&stored])? {
        Some(row) => {
            let (id, last): (i32, Millis) = (row.try_get(0)?, row.try_get(1)?);
            if last.saturating_add(rows::TEXT_TOUCH_MS) < at_ms {
                tx.execute(&st.touch_text, &[&id, &at_ms])?;
                (id, at_ms)
            } else {
                (id, last)
            }
        }
        None => (
            tx.query_one(&st.new_text, &[&stored, &at_ms])?.try_get(0)?,
            at_ms,
        ),
    };
    texts.insert(s, i64::from(id), last);
    Ok(Some(id))
}

/// The attempts of one batch, as the columns of one `unnest` insert.
#[derive(Default)]
pub(super) struct Results {
    series: Vec<i64>,
    at_ms: Vec<i64>,
    up: Vec<bool>,
    latency_us: Vec<Option<i32>>,
    error: Vec<Option<i32>>,
    shape: Vec<Option<i32>>,
    nums: Vec<Option<Vec<u8>>>,
}

impl Results {
    /// Adds one row of `series`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn push_row(
        &mut self,
        tx: &mut Transaction<'_>,
        st: &Prepared,
        texts: &mut TextIds,
        series: i64,
        at_ms: Millis,
        up: bool,
        error_kind: Option<&str>,
        c: &Cells,
    ) -> Result<(), postgres::Error> {
        let error = text_id(tx, st, texts, error_kind, at_ms)?;
        let shape = text_id(tx, st, texts, c.shape.as_deref(), at_ms)?;
        self.series.push(series);
        self.at_ms.push(at_ms);
        self.up.push(up);
        self.latency_us.push(c.latency_us);
        self.error.push(error);
        self.shape.push(shape);
        self.nums.push(c.nums.clone());
        Ok(())
    }

    /// Rows gathered.
    pub(super) fn len(&self) -> usize {
        self.series.len()
    }

    fn push(
        &mut self,
        tx: &mut Transaction<'_>,
        st: &Prepared,
        cache: &mut HashMap<String, Vec<SeriesKey>>,
        texts: &mut TextIds,
        a: &PackedAttempt,
    ) -> Result<(), postgres::Error> {
        let (kind, target) = a.series();
        let vantage = a.vantage();
        let same = |(k, t, v, _): &&SeriesKey| {
            k.as_deref() == kind && t.as_deref() == target && v.as_ref() == vantage
        };
        let id = match cache.get(&a.check).and_then(|l| l.iter().find(same)) {
            Some((_, _, _, id)) => *id,
            None => {
                let (k, t) = (kind.map(text), target.map(text));
                let (v, m) = (
                    vantage.map(|v| v.vantage.as_str()),
                    vantage.map(|v| v.member.as_str()),
                );
                let found = tx.query_opt(&st.find_series, &[&a.check, &k, &t, &v, &m])?;
                let id: i64 = match found {
                    Some(row) => row.try_get(0)?,
                    None => tx
                        .query_one(&st.new_series, &[&a.check, &k, &t, &v, &m])?
                        .try_get(0)?,
                };
                cache.entry(a.check.clone()).or_default().push((
                    kind.map(str::to_owned),
                    target.map(str::to_owned),
                    vantage.cloned(),
                    id,
                ));
                id
            }
        };
        self.push_row(
            tx,
            st,
            texts,
            id,
            a.at_ms,
            a.up,
            a.error_kind.as_deref(),
            &a.cells(),
        )
    }

    /// Inserts the rows gathered and empties the batch.
    pub(super) fn insert(
        &mut self,
        tx: &mut Transaction<'_>,
        st: &Prepared,
    ) -> Result<(), postgres::Error> {
        if self.series.is_empty() {
            return Ok(());
        }
        tx.execute(
            &st.results,
            &[
                &self.series,
                &self.at_ms,
                &self.up,
                &self.latency_us,
                &self.error,
                &self.shape,
                &self.nums,
            ],
        )?;
        *self = Results::default();
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
            self.texts.clear();
            result = self.apply_ops(&all);
        }
        result.map_err(|e| {
            // The transaction rolled back: series and text ids it created no longer exist.
            self.series.clear();
            self.texts.clear();
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

    fn held(&self) -> usize {
        self.held.len()
    }
}

impl PgWriter {
    /// Whether the connection is gone (the server cannot be reached or closed it).
    fn lost(&self) -> bool {
        self.conn.as_ref().is_none_or(|(c, _)| c.is_closed())
    }
}
