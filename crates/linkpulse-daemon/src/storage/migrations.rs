//! Built-in schema migrations. Version N is `MIGRATIONS[N-1]`; `schema_version` holds the
//! applied version. Never edit a shipped migration: append a new one.

/// The migrations, in order.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: results, transitions, incidents, hourly aggregates, alert outbox.
    "CREATE TABLE results (
        id INTEGER PRIMARY KEY,
        check_name TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        up INTEGER NOT NULL,
        latency_ms REAL,
        error_kind TEXT,
        result TEXT NOT NULL
    );
    CREATE INDEX results_check_at ON results (check_name, at_ms);
    CREATE INDEX results_at ON results (at_ms);
    CREATE TABLE transitions (
        id INTEGER PRIMARY KEY,
        check_name TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        cause TEXT
    );
    CREATE INDEX transitions_check_at ON transitions (check_name, at_ms);
    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY,
        check_name TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        ended_ms INTEGER,
        cause TEXT,
        diagnosis TEXT,
        diagnosis_detail TEXT
    );
    CREATE INDEX incidents_check ON incidents (check_name, started_ms);
    CREATE TABLE hourly (
        check_name TEXT NOT NULL,
        hour_ms INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        ups INTEGER NOT NULL,
        latency_sum REAL NOT NULL,
        latency_n INTEGER NOT NULL,
        latency_max REAL,
        PRIMARY KEY (check_name, hour_ms)
    ) WITHOUT ROWID;
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        target TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        next_ms INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        delivered_ms INTEGER,
        last_error TEXT
    );
    CREATE INDEX outbox_due ON outbox (delivered_ms, next_ms);",
];
