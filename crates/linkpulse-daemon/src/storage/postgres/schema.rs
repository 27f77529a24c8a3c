//! The PostgreSQL schema and its built-in migrations. Version N is `MIGRATIONS[N-1]`;
//! `schema_version` holds the applied version. Never edit a shipped migration: append one.
//!
//! The layout follows the SQLite schema at its current version (typed results under a
//! series, see `cells.rs`). JSON is kept as `text`, not `jsonb`, so the API gives back the
//! exact text that was stored.

use postgres::{Client, Transaction};

use super::super::cells;
use super::super::rows::TextIds;
use super::write::{Prepared, Results};

/// The migrations, in order.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: series and compact results, transitions, incidents (at most one open per check),
    // hourly aggregates, alert outbox (unique idempotency key).
    "CREATE TABLE series (
        id BIGSERIAL PRIMARY KEY,
        check_name TEXT NOT NULL,
        kind TEXT,
        target TEXT
    );
    CREATE INDEX series_check ON series (check_name);
    CREATE TABLE results (
        id BIGSERIAL PRIMARY KEY,
        series BIGINT NOT NULL,
        at_ms BIGINT NOT NULL,
        up BOOLEAN NOT NULL,
        latency_ms DOUBLE PRECISION,
        error_kind TEXT,
        detail TEXT
    );
    CREATE INDEX results_series_at ON results (series, at_ms);
    CREATE TABLE transitions (
        id BIGSERIAL PRIMARY KEY,
        check_name TEXT NOT NULL,
        at_ms BIGINT NOT NULL,
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        cause TEXT
    );
    CREATE INDEX transitions_check_at ON transitions (check_name, at_ms);
    CREATE TABLE incidents (
        id BIGSERIAL PRIMARY KEY,
        check_name TEXT NOT NULL,
        started_ms BIGINT NOT NULL,
        ended_ms BIGINT,
        cause TEXT,
        diagnosis TEXT,
        diagnosis_detail TEXT
    );
    CREATE INDEX incidents_check ON incidents (check_name, started_ms);
    CREATE UNIQUE INDEX incidents_open ON incidents (check_name) WHERE ended_ms IS NULL;
    CREATE TABLE hourly (
        check_name TEXT NOT NULL,
        hour_ms BIGINT NOT NULL,
        attempts BIGINT NOT NULL,
        ups BIGINT NOT NULL,
        latency_sum DOUBLE PRECISION NOT NULL,
        latency_n BIGINT NOT NULL,
        latency_max DOUBLE PRECISION,
        PRIMARY KEY (check_name, hour_ms)
    );
    CREATE TABLE outbox (
        id BIGSERIAL PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        target TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        next_ms BIGINT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        delivered_ms BIGINT,
        last_error TEXT
    );
    CREATE INDEX outbox_due ON outbox (next_ms) WHERE delivered_ms IS NULL;",
    // 2: typed results (`cells.rs`): one narrow row of integers per result, the primary key
    // `(series, at_ms, seq)` its only index (`seq` tells apart results of one series in the
    // same millisecond); columns ordered widest first so no alignment padding is stored.
    // Error kinds and detail shapes are interned in `texts`, found by the hash of the text (a
    // btree entry cannot hold a long text); `last_ms` is about when a result last used the
    // text, so retention deletes texts with the results. The rows of version 1 are repacked by
    // [`repack`] between this SQL and `REPACK_DONE`.
    "ALTER TABLE results RENAME TO results_v1;
    ALTER INDEX results_pkey RENAME TO results_v1_pkey;
    ALTER INDEX results_series_at RENAME TO results_v1_series_at;
    CREATE TABLE texts (
        id SERIAL PRIMARY KEY,
        text TEXT NOT NULL,
        last_ms BIGINT NOT NULL
    );
    CREATE INDEX texts_md5 ON texts (md5(text));
    CREATE TABLE results (
        at_ms BIGINT NOT NULL,
        series BIGINT NOT NULL,
        latency_us INTEGER,
        error INTEGER,
        shape INTEGER,
        seq SMALLINT NOT NULL,
        up BOOLEAN NOT NULL,
        nums BYTEA,
        PRIMARY KEY (series, at_ms, seq)
    );",
    // 3: the daemon's own secrets (the key push tokens are derived from), kept across restarts
    // and shared by every daemon of the database.
    "CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );",
    // 4: silences made through the API (`body`: the silence as JSON), kept across restarts.
    "CREATE TABLE silences (
        id TEXT PRIMARY KEY,
        ends_ms BIGINT NOT NULL,
        body TEXT NOT NULL
    );",
    // 5: cluster members (`cluster:`): one row per daemon, its lease dated by this server's
    // clock (`now()`), never a member's; see `crate::cluster`.
    "CREATE TABLE cluster_members (
        name TEXT PRIMARY KEY,
        vantage TEXT NOT NULL,
        address TEXT,
        joined_at TIMESTAMPTZ NOT NULL,
        renewed_at TIMESTAMPTZ NOT NULL,
        lease_expires TIMESTAMPTZ NOT NULL,
        checks_owned INTEGER NOT NULL DEFAULT 0
    );",
    // 6: multi-vantage checks (`vantage:` in cluster mode): a result's series names the
    // vantage and member that saw it, so result rows stay as narrow as before and older
    // series (no vantage) keep their history; the decider reads each vantage's latest result.
    "ALTER TABLE series ADD COLUMN vantage TEXT, ADD COLUMN member TEXT;
    CREATE INDEX series_vantage ON series (check_name) WHERE vantage IS NOT NULL;",
    // 7: the hub's nodes shared by cluster members: one row per node per member whose hub
    // holds (or held) its session; `body` is the node as that hub's registry shows it (JSON).
    // Changes are announced with `NOTIFY linkpulse_hub_nodes, '<member>'`; see
    // `crate::cluster::hub_share`.
    "CREATE TABLE hub_nodes (
        node TEXT NOT NULL,
        member TEXT NOT NULL,
        state TEXT NOT NULL,
        body TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (member, node)
    );",
    // 8: pushes received by a cluster member that does not own the push check, waiting for
    // the owner (`crate::cluster::push_relay`): `event` is `ok`, `fail` or `start`, `at_ms`
    // when the member received it.
    "CREATE TABLE cluster_pushes (
        id BIGSERIAL PRIMARY KEY,
        check_name TEXT NOT NULL,
        event TEXT NOT NULL,
        at_ms BIGINT NOT NULL
    );
    CREATE INDEX cluster_pushes_check ON cluster_pushes (check_name);",
];

/// The version whose SQL is followed by [`repack`] (then [`REPACK_DONE`]).
const REPACK: usize = 2;

/// Run after the rows of `results_v1` are repacked.
const REPACK_DONE: &str = "DROP TABLE results_v1;";

/// Rows read (and inserted) at a time while repacking.
const REPACK_BATCH: i32 = 10_000;

/// Rows between two progress messages of a repack.
const PROGRESS_ROWS: u64 = 1_000_000;

/// Copies the results of schema 1 (`results_v1`: JSON text per row) into the typed rows of
/// schema 2, in key order, inside the migration's transaction. Results of one series in the
/// same millisecond keep their order (by their old id).
fn repack(tx: &mut Transaction<'_>, database: &str) -> Result<(), postgres::Error> {
    let total: i64 = tx
        .query_one("SELECT COUNT(*) FROM results_v1", &[])?
        .try_get(0)?;
    if total == 0 {
        return Ok(());
    }
    let started = std::time::Instant::now();
    tracing::info!(%database, results = total,
        "migrating history to typed rows (schema 2); this runs once");
    let st = Prepared::before_vantages(tx)?;
    let read = tx.prepare(
        "SELECT series, at_ms, up, latency_ms, error_kind, detail FROM results_v1
         ORDER BY series, at_ms, id",
    )?;
    let portal = tx.bind(&read, &[])?;
    let mut texts = TextIds::default();
    let mut batch = Results::default();
    let mut done: u64 = 0;
    loop {
        let rows = tx.query_portal(&portal, REPACK_BATCH)?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            batch.push_row(
                tx,
                &st,
                &mut texts,
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get(2)?,
                r.try_get(4)?,
                &cells::encode(r.try_get(3)?, r.try_get(5)?),
            )?;
        }
        done += batch.len() as u64;
        batch.insert(tx, &st)?;
        if done % PROGRESS_ROWS < REPACK_BATCH as u64 {
            tracing::info!(%database, done, of = total, "migrating history");
        }
    }
    tracing::info!(%database, results = done,
        seconds = started.elapsed().as_secs_f64(), "history migrated to typed rows");
    Ok(())
}

/// Advisory lock key held while migrating, so two daemons starting on one database at once
/// never both apply a migration.
const MIGRATION_LOCK: i64 = 0x6c69_6e6b_7075_6c73; // "linkpuls"

/// The newest version this build knows.
pub(crate) fn supported() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// What [`migrate`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Migrated {
    /// The schema is at [`supported`] (now or already).
    Current,
    /// The database holds a newer schema than this build knows.
    TooNew(i64),
}

/// Applies the migrations newer than the database's schema version and records the new
/// version, all in one transaction (DDL is transactional in PostgreSQL: a failed upgrade
/// leaves the old schema as it was).
pub(crate) fn migrate(client: &mut Client, database: &str) -> Result<Migrated, postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::int8 FROM schema_version",
            &[],
        )?
        .try_get(0)?;
    if current > supported() {
        return Ok(Migrated::TooNew(current));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(i + 1).unwrap_or(i64::MAX);
        if version <= current {
            continue;
        }
        tx.batch_execute(sql)?;
        if i + 1 == REPACK {
            repack(&mut tx, database)?;
            tx.batch_execute(REPACK_DONE)?;
        }
        tx.execute("DELETE FROM schema_version", &[])?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&version],
        )?;
    }
    tx.commit()?;
    Ok(Migrated::Current)
}
