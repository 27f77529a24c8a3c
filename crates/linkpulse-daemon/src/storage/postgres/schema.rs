//! The PostgreSQL schema and its built-in migrations. Version N is `MIGRATIONS[N-1]`;
//! `schema_version` holds the applied version. Never edit a shipped migration: append one.
//!
//! The layout follows the SQLite schema at its current version (compact results under a
//! series, see `compact.rs`). JSON is kept as `text`, not `jsonb`, so the API gives back the
//! exact text that was stored.

use postgres::Client;

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
];

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
pub(crate) fn migrate(client: &mut Client) -> Result<Migrated, postgres::Error> {
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
        tx.execute("DELETE FROM schema_version", &[])?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&version],
        )?;
    }
    tx.commit()?;
    Ok(Migrated::Current)
}
