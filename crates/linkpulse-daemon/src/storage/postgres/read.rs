//! Reads and retention: the SQL of each [`Storage`](super::Storage) query; rows become
//! records through the shared `rows.rs`.

use std::collections::HashMap;

use postgres::{Client, IsolationLevel, Row};

use super::super::rows::{self, ATTEMPT_COLUMNS, ATTEMPT_TABLES, AttemptColumns, limit};
use super::super::{
    Attempt, HourlyRow, Incident, Millis, OutboxItem, Resume, TransitionRecord, VantageResult,
};
use crate::state::State;

type Result<T> = std::result::Result<T, postgres::Error>;

fn attempt(r: &Row) -> Result<Attempt> {
    Ok(AttemptColumns {
        check: r.try_get(0)?,
        at_ms: r.try_get(1)?,
        up: r.try_get(2)?,
        latency_us: r.try_get::<_, Option<i32>>(3)?.map(i64::from),
        error_kind: r.try_get(4)?,
        shape: r.try_get(5)?,
        nums: r.try_get(6)?,
        kind: r.try_get(7)?,
        target: r.try_get(8)?,
    }
    .into_attempt())
}

pub(super) fn history(
    c: &mut Client,
    check: &str,
    from_ms: Millis,
    to_ms: Millis,
    n: usize,
) -> Result<Vec<Attempt>> {
    let sql = format!(
        "SELECT {ATTEMPT_COLUMNS} FROM {ATTEMPT_TABLES}
         WHERE s.check_name = $1 AND r.at_ms >= $2 AND r.at_ms < $3
         ORDER BY r.at_ms DESC, r.series DESC, r.seq DESC LIMIT $4"
    );
    c.query(&sql, &[&check, &from_ms, &to_ms, &limit(n)])?
        .iter()
        .map(attempt)
        .collect()
}

pub(super) fn hourly(
    c: &mut Client,
    check: &str,
    from_ms: Millis,
    to_ms: Millis,
) -> Result<Vec<HourlyRow>> {
    c.query(
        "SELECT hour_ms, attempts, ups, latency_sum, latency_n, latency_max FROM hourly
         WHERE check_name = $1 AND hour_ms >= $2 AND hour_ms < $3 ORDER BY hour_ms",
        &[&check, &from_ms, &to_ms],
    )?
    .iter()
    .map(|r| {
        Ok(rows::hourly(
            r.try_get(0)?,
            r.try_get(1)?,
            r.try_get(2)?,
            r.try_get(3)?,
            r.try_get(4)?,
            r.try_get(5)?,
        ))
    })
    .collect()
}

pub(super) fn transitions(
    c: &mut Client,
    check: Option<&str>,
    from_ms: Millis,
) -> Result<Vec<TransitionRecord>> {
    // The last transition before the window (per check), then those inside it.
    c.query(
        "SELECT check_name, at_ms, from_state, to_state, cause FROM transitions t
         WHERE ($1::text IS NULL OR check_name = $1) AND (at_ms >= $2 OR id = (
             SELECT id FROM transitions u WHERE u.check_name = t.check_name
             AND u.at_ms < $2 ORDER BY at_ms DESC, id DESC LIMIT 1))
         ORDER BY at_ms, id",
        &[&check, &from_ms],
    )?
    .iter()
    .map(|r| {
        Ok(TransitionRecord {
            check: r.try_get(0)?,
            at_ms: r.try_get(1)?,
            from: rows::state(r.try_get(2)?),
            to: rows::state(r.try_get(3)?),
            cause: r.try_get(4)?,
        })
    })
    .collect()
}

pub(super) fn incidents(
    c: &mut Client,
    check: Option<&str>,
    from_ms: Millis,
    n: usize,
) -> Result<Vec<Incident>> {
    c.query(
        "SELECT id, check_name, started_ms, ended_ms, cause, diagnosis, diagnosis_detail
         FROM incidents WHERE ($1::text IS NULL OR check_name = $1)
         AND (ended_ms IS NULL OR ended_ms >= $2)
         ORDER BY started_ms DESC, id DESC LIMIT $3",
        &[&check, &from_ms, &limit(n)],
    )?
    .iter()
    .map(|r| {
        let detail: Option<&str> = r.try_get(6)?;
        Ok(Incident {
            id: r.try_get(0)?,
            check: r.try_get(1)?,
            started_ms: r.try_get(2)?,
            ended_ms: r.try_get(3)?,
            cause: r.try_get(4)?,
            diagnosis: r.try_get(5)?,
            diagnosis_detail: detail.map(|t| rows::json(Some(t))),
        })
    })
    .collect()
}

pub(super) fn resume(c: &mut Client) -> Result<HashMap<String, Resume>> {
    let mut out: HashMap<String, Resume> = HashMap::new();
    for r in c.query(
        "SELECT check_name, at_ms, to_state FROM transitions WHERE id IN
           (SELECT MAX(id) FROM transitions GROUP BY check_name)",
        &[],
    )? {
        out.insert(
            r.try_get(0)?,
            Resume {
                state: rows::state(r.try_get(2)?),
                since_ms: r.try_get(1)?,
                last: None,
                diagnosis: None,
            },
        );
    }
    // The newest row of each series (one probe of the `(series, at_ms, seq)` key per series,
    // never a scan of all results), oldest first: the last one of a check is its newest.
    let sql = format!(
        "SELECT {ATTEMPT_COLUMNS} FROM series s CROSS JOIN LATERAL
           (SELECT * FROM results x WHERE x.series = s.id
            ORDER BY x.at_ms DESC, x.seq DESC LIMIT 1) r
         LEFT JOIN texts e ON e.id = r.error LEFT JOIN texts t ON t.id = r.shape
         ORDER BY r.at_ms, s.id, r.seq"
    );
    for r in c.query(&sql, &[])? {
        let a = attempt(&r)?;
        let e = out.entry(a.check.clone()).or_insert(Resume {
            state: State::Unknown,
            since_ms: a.at_ms,
            last: None,
            diagnosis: None,
        });
        e.last = Some(a);
    }
    for r in c.query(
        "SELECT check_name, diagnosis FROM incidents
         WHERE ended_ms IS NULL AND diagnosis IS NOT NULL",
        &[],
    )? {
        let check: &str = r.try_get(0)?;
        if let Some(e) = out.get_mut(check) {
            e.diagnosis = Some(r.try_get(1)?);
        }
    }
    Ok(out)
}

pub(super) fn due_alerts(c: &mut Client, now_ms: Millis, n: usize) -> Result<Vec<OutboxItem>> {
    c.query(
        // Held behind an earlier undelivered alert of the same check to the same target:
        // each receiver gets a check's alerts in event order (see `Storage::due_alerts`).
        "SELECT id, key, target, payload, attempts, next_ms FROM outbox o
         WHERE delivered_ms IS NULL AND next_ms <= $1
         AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.delivered_ms IS NULL AND e.id < o.id
             AND e.target = o.target
             AND e.payload::jsonb ->> 'check' = o.payload::jsonb ->> 'check')
         ORDER BY next_ms, id LIMIT $2",
        &[&now_ms, &limit(n)],
    )?
    .iter()
    .map(outbox_item)
    .collect()
}

/// An outbox row read as `id, key, target, payload, attempts, next_ms`.
fn outbox_item(r: &Row) -> Result<OutboxItem> {
    let attempts: i32 = r.try_get(4)?;
    Ok(OutboxItem {
        id: r.try_get(0)?,
        key: r.try_get(1)?,
        target: rows::json(r.try_get(2)?),
        payload: rows::json(r.try_get(3)?),
        attempts: u32::try_from(attempts).unwrap_or(0),
        next_ms: r.try_get(5)?,
    })
}

/// Cluster mode's [`due_alerts`]: the due alerts are claimed — their `next_ms` moved `claim_ms`
/// ahead in the same statement, rows other members are claiming skipped (`FOR UPDATE SKIP
/// LOCKED`) — so each alert is delivered by one member. The delivery's mark (delivered, or the
/// next retry) replaces the claim; a member that dies mid-delivery leaves its claims to lapse,
/// and another member delivers them after `claim_ms` (the idempotency key tells a receiver
/// that saw it already).
pub(super) fn claim_alerts(
    c: &mut Client,
    now_ms: Millis,
    n: usize,
    claim_ms: Millis,
) -> Result<Vec<OutboxItem>> {
    supersede_twins(c, now_ms)?;
    let mut items = c
        .query(
            "WITH due AS (
                 SELECT id, next_ms FROM outbox o
                 WHERE delivered_ms IS NULL AND next_ms <= $1
                 AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.delivered_ms IS NULL
                     AND e.id < o.id AND e.target = o.target
                     AND e.payload::jsonb ->> 'check' = o.payload::jsonb ->> 'check')
                 ORDER BY next_ms, id LIMIT $2
                 FOR UPDATE SKIP LOCKED)
             UPDATE outbox SET next_ms = $1 + $3 FROM due WHERE outbox.id = due.id
             RETURNING outbox.id, outbox.key, outbox.target, outbox.payload, outbox.attempts,
                 due.next_ms",
            &[&now_ms, &limit(n), &claim_ms],
        )?
        .iter()
        .map(outbox_item)
        .collect::<Result<Vec<_>>>()?;
    // RETURNING has no order: oldest first, as `due_alerts`.
    items.sort_by_key(|i| (i.next_ms, i.id));
    Ok(items)
}

/// How far apart the state changes of two members' twin alerts may be (see
/// [`supersede_twins`]).
const TWIN_WINDOW_MS: Millis = 10 * 60 * 1000;

/// Cluster mode: marks delivered, without sending it, a due alert that repeats the last
/// alert delivered for the same check and target — the same `down`, `up` or `degraded`, of a
/// state change at most [`TWIN_WINDOW_MS`] apart, with no alert of another event for that
/// check and target queued between the two. Such a twin comes from a member cut off from
/// the database that kept running its checks (as it should) while another member took them
/// over: both saw the same change, and the cut member's alert reached the outbox only when
/// it could write again. `last_error` names the alert it repeats.
fn supersede_twins(c: &mut Client, now_ms: Millis) -> Result<u64> {
    c.execute(
        "WITH o AS (
             SELECT id, target, payload::jsonb AS p FROM outbox
             WHERE delivered_ms IS NULL AND next_ms <= $1),
         twin AS (
             SELECT DISTINCT ON (o.id) o.id, e.key FROM o JOIN outbox e
                 ON e.delivered_ms IS NOT NULL AND e.id <> o.id AND e.target = o.target
                 AND e.payload::jsonb ->> 'check' = o.p ->> 'check'
                 AND e.payload::jsonb ->> 'event' = o.p ->> 'event'
             WHERE o.p ->> 'event' IN ('down', 'up', 'degraded')
               AND abs((e.payload::jsonb ->> 'since_ms')::bigint
                       - (o.p ->> 'since_ms')::bigint) <= $2
               AND NOT EXISTS (
                   SELECT 1 FROM outbox b
                   WHERE b.target = o.target AND b.payload::jsonb ->> 'check' = o.p ->> 'check'
                     AND b.payload::jsonb ->> 'event' IN ('down', 'up', 'degraded')
                     AND b.payload::jsonb ->> 'event' <> o.p ->> 'event'
                     AND (b.payload::jsonb ->> 'at_ms')::bigint
                         BETWEEN least((e.payload::jsonb ->> 'at_ms')::bigint, (o.p ->> 'at_ms')::bigint)
                             AND greatest((e.payload::jsonb ->> 'at_ms')::bigint, (o.p ->> 'at_ms')::bigint))
             ORDER BY o.id, e.id DESC)
         UPDATE outbox SET delivered_ms = $1,
             last_error = 'not sent: another member delivered the same alert (' || twin.key || ')'
         FROM twin WHERE outbox.id = twin.id",
        &[&now_ms, &TWIN_WINDOW_MS],
    )
}

/// Folds raw results before the whole hour of `raw_before_ms` into hourly rows and deletes
/// history older than `hourly_before_ms`, in one transaction that sees one snapshot (the rows
/// it aggregates are the rows it deletes).
pub(super) fn prune(c: &mut Client, raw_before_ms: Millis, hourly_before_ms: Millis) -> Result<()> {
    let cutoff = rows::hour_cutoff(raw_before_ms);
    let mut tx = c
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .start()?;
    tx.execute(
        "INSERT INTO hourly (check_name, hour_ms, attempts, ups, latency_sum, latency_n, latency_max)
         SELECT s.check_name, r.at_ms - (r.at_ms % 3600000), COUNT(*), COUNT(*) FILTER (WHERE r.up),
                COALESCE(SUM(r.latency_us), 0)::float8 / 1000, COUNT(r.latency_us),
                MAX(r.latency_us)::float8 / 1000
         FROM series s JOIN results r ON r.series = s.id
         WHERE r.at_ms < $1 GROUP BY 1, 2
         ON CONFLICT (check_name, hour_ms) DO UPDATE SET
           attempts = hourly.attempts + excluded.attempts, ups = hourly.ups + excluded.ups,
           latency_sum = hourly.latency_sum + excluded.latency_sum,
           latency_n = hourly.latency_n + excluded.latency_n,
           latency_max = GREATEST(hourly.latency_max, excluded.latency_max)",
        &[&cutoff],
    )?;
    // Per series, through the `(series, at_ms, seq)` key.
    tx.execute(
        "DELETE FROM results WHERE series IN (SELECT id FROM series) AND at_ms < $1",
        &[&cutoff],
    )?;
    // Texts no remaining result uses (every use was before the cutoff).
    tx.execute(
        "DELETE FROM texts WHERE last_ms < $1",
        &[&rows::text_cutoff(cutoff)],
    )?;
    tx.execute(
        "DELETE FROM hourly WHERE hour_ms < $1",
        &[&hourly_before_ms],
    )?;
    tx.execute(
        "DELETE FROM incidents WHERE ended_ms IS NOT NULL AND ended_ms < $1",
        &[&hourly_before_ms],
    )?;
    // Keep the last transition of each check: it is the state a window starts in.
    tx.execute(
        "DELETE FROM transitions WHERE at_ms < $1 AND id NOT IN
           (SELECT MAX(id) FROM transitions GROUP BY check_name)",
        &[&hourly_before_ms],
    )?;
    tx.execute(
        "DELETE FROM outbox WHERE delivered_ms IS NOT NULL AND delivered_ms < $1",
        &[&hourly_before_ms],
    )?;
    tx.commit()
}

/// The latest result at or after `since_ms` of each vantage of each multi-vantage check: per
/// series with a vantage (one per member), its newest row by the primary key, then the newest
/// of each vantage.
pub(super) fn vantage_latest(c: &mut Client, since_ms: Millis) -> Result<Vec<VantageResult>> {
    let sql = format!(
        "SELECT DISTINCT ON (s.check_name, s.vantage) {ATTEMPT_COLUMNS}, s.vantage, s.member
         FROM series s CROSS JOIN LATERAL
             (SELECT * FROM results x WHERE x.series = s.id AND x.at_ms >= $1
              ORDER BY x.at_ms DESC, x.seq DESC LIMIT 1) r
         LEFT JOIN texts e ON e.id = r.error LEFT JOIN texts t ON t.id = r.shape
         WHERE s.vantage IS NOT NULL
         ORDER BY s.check_name, s.vantage, r.at_ms DESC"
    );
    c.query(&sql, &[&since_ms])?
        .iter()
        .map(|r| {
            let a = attempt(r)?;
            Ok(VantageResult {
                check: a.check,
                vantage: r.try_get(9)?,
                member: r.try_get(10)?,
                at_ms: a.at_ms,
                up: a.up,
                latency_ms: a.latency_ms,
                error_kind: a.error_kind,
            })
        })
        .collect()
}
