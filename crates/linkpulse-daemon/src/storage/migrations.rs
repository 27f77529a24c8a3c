//! Built-in schema migrations. Version N is `MIGRATIONS[N-1]`; `schema_version` holds the
//! applied version. Never edit a shipped migration: append a new one. A migration that needs
//! code (version [`REPACK`]) is SQL before and after the code `sqlite.rs` runs between them,
//! all in the migration's transaction.

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
    // 2: compact results. A result row refers to its series (check name, probe kind and
    // target, stored once) and keeps as JSON only what its columns and series do not hold
    // (`detail`, NULL when nothing is left). Rows of version 1 keep their JSON verbatim under
    // a series with NULL kind and target, so the API reads them back unchanged.
    "CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        check_name TEXT NOT NULL,
        kind TEXT,
        target TEXT
    );
    CREATE INDEX series_check ON series (check_name);
    INSERT INTO series (check_name) SELECT DISTINCT check_name FROM results ORDER BY check_name;
    CREATE TABLE results_v2 (
        id INTEGER PRIMARY KEY,
        series INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        up INTEGER NOT NULL,
        latency_ms REAL,
        error_kind TEXT,
        detail TEXT
    );
    INSERT INTO results_v2 (id, series, at_ms, up, latency_ms, error_kind, detail)
        SELECT r.id, s.id, r.at_ms, r.up, r.latency_ms, r.error_kind, r.result
        FROM results r JOIN series s ON s.check_name = r.check_name;
    DROP TABLE results;
    ALTER TABLE results_v2 RENAME TO results;
    CREATE INDEX results_series_at ON results (series, at_ms);
    CREATE INDEX results_at ON results (at_ms);",
    // 3: no `(at_ms)` index on results: retention finds old rows per series through
    // `(series, at_ms)`, and every result no longer pays for a second index entry.
    "DROP INDEX IF EXISTS results_at;",
    // 4: typed results (`cells.rs`): one narrow row of integers per result in a table keyed
    // by `(series, at_ms, seq)` (WITHOUT ROWID: one B-tree, no separate index; `seq` tells
    // apart results of one series in the same millisecond and is 0 — no bytes — otherwise).
    // Error kinds and detail shapes are interned in `texts` (`last_ms`: about when a result
    // last used the text, so retention deletes texts with the results). The rows of version 3 are
    // repacked by `sqlite.rs` between this SQL and `REPACK_DONE`.
    "ALTER TABLE results RENAME TO results_v3;
    CREATE TABLE texts (
        id INTEGER PRIMARY KEY,
        text TEXT NOT NULL UNIQUE,
        last_ms INTEGER NOT NULL
    );
    CREATE TABLE results (
        series INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        up INTEGER NOT NULL,
        error INTEGER,
        latency_us INTEGER,
        shape INTEGER,
        nums BLOB,
        PRIMARY KEY (series, at_ms, seq)
    ) WITHOUT ROWID;",
    // 5: the daemon's own secrets (the key push tokens are derived from), kept across restarts.
    "CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;",
    // 6: silences made through the API (`body`: the silence as JSON), kept across restarts.
    "CREATE TABLE silences (
        id TEXT PRIMARY KEY,
        ends_ms INTEGER NOT NULL,
        body TEXT NOT NULL
    ) WITHOUT ROWID;",
];

/// The version whose SQL is followed by repacking the old results (then [`REPACK_DONE`]).
pub(crate) const REPACK: usize = 4;

/// Run after the rows of `results_v3` are repacked.
pub(crate) const REPACK_DONE: &str = "DROP TABLE results_v3;";
