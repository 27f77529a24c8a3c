use super::*;
use crate::storage::conformance::{all_samples, assert_history_is, tcp_result};
use serde_json::json;

#[test]
fn schema_version_is_recorded_and_newer_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    drop(SqliteStorage::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    let v: i64 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, MIGRATIONS.len() as i64);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    conn.execute("UPDATE schema_version SET version = 999", [])
        .unwrap();
    drop(conn);
    let err = SqliteStorage::open(&path).unwrap_err();
    assert!(err.to_string().contains("schema version 999"), "{err}");
}

#[test]
fn a_version_1_database_keeps_its_history_and_state_after_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    // A database written by the first schema, as a linkpulse of that version left it.
    let old = [
        ("a", 1_000, true, Some(0.5), tcp_result(80, true, Some(0.5))),
        ("b", 1_001, false, None, tcp_result(1, false, None)),
        ("a", 1_002, false, None, tcp_result(80, false, None)),
        (
            "c",
            1_003,
            true,
            None,
            json!({"target": "push://x", "up": true}),
        ),
    ];
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version VALUES (1);
             INSERT INTO transitions (check_name, at_ms, from_state, to_state)
             VALUES ('a', 1_002, 'up', 'down');",
        )
        .unwrap();
        for (check, at, up, latency, result) in &old {
            conn.execute(
                "INSERT INTO results (check_name, at_ms, up, latency_ms, error_kind, result)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    check,
                    at,
                    up,
                    latency,
                    (!up).then_some("refused"),
                    result.to_string()
                ],
            )
            .unwrap();
        }
    }
    let db = SqliteStorage::open(&path).unwrap();
    let version: i64 = Connection::open(&path)
        .unwrap()
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
    let a = db.history("a", 0, i64::MAX, 10).unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!((a[0].at_ms, a[0].up), (1_002, false), "newest first");
    assert_eq!(
        a[0].result, old[2].4,
        "the stored JSON comes back unchanged"
    );
    assert_eq!(a[0].error_kind.as_deref(), Some("refused"));
    assert_eq!(
        (a[1].result.clone(), a[1].latency_ms),
        (old[0].4.clone(), Some(0.5))
    );
    assert_eq!(
        db.history("c", 0, i64::MAX, 10).unwrap()[0].result,
        old[3].4
    );
    let resume = db.resume().unwrap();
    assert_eq!(resume["a"].state, State::Down);
    assert_eq!(resume["a"].last.as_ref().map(|l| l.at_ms), Some(1_002));
    assert_eq!(
        resume["b"].last.as_ref().map(|l| &l.result),
        Some(&old[1].4)
    );

    // New rows are written compactly beside the migrated ones and read back identically.
    let new = tcp_result(80, true, Some(0.25));
    db.submit(WriteOp::Attempt(Attempt {
        check: "a".into(),
        at_ms: 2_000,
        up: true,
        latency_ms: Some(0.25),
        error_kind: None,
        result: new.clone(),
    }));
    let a = db.history("a", 0, i64::MAX, 10).unwrap();
    assert_eq!(
        a.iter().map(|r| r.at_ms).collect::<Vec<_>>(),
        [2_000, 1_002, 1_000]
    );
    assert_eq!(a[0].result, new);
    assert_eq!(
        db.resume().unwrap()["a"].last.as_ref().map(|l| l.at_ms),
        Some(2_000)
    );
    db.flush().unwrap();
    let (shape, nums): (Option<String>, Option<Vec<u8>>) = Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT t.text, r.nums FROM results r LEFT JOIN texts t ON t.id = r.shape
             WHERE at_ms = 2000",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (shape.as_deref(), nums),
        (Some(r#"{"resolved":"127.0.0.1"}"#), None)
    );
}

#[test]
fn retention_reads_old_rows_through_the_series_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    drop(SqliteStorage::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    let plan = |sql: &str| -> String {
        let mut st = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows: Vec<String> = st
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.join("; ")
    };
    let select = plan(
        "SELECT s.check_name, COUNT(*) FROM series s CROSS JOIN results r ON r.series = s.id
         WHERE r.at_ms < 5 GROUP BY 1",
    );
    let key = "USING PRIMARY KEY (series=? AND at_ms<?)";
    assert!(select.contains(key), "{select}");
    let delete = plan("DELETE FROM results WHERE series IN (SELECT id FROM series) AND at_ms < 5");
    assert!(delete.contains(key), "{delete}");
}

/// A database as the previous release (schema 3) leaves it, written with that schema's own
/// statements: after the migration to typed rows every result reads back as the identical
/// API JSON, in the same order (two results of a check in one millisecond included).
#[test]
fn a_version_3_database_keeps_its_history_after_the_migration_to_typed_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    let samples = all_samples();
    {
        let conn = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version VALUES (3);
             INSERT INTO transitions (check_name, at_ms, from_state, to_state)
             VALUES ('tcp', 2_001, 'up', 'down');",
        )
        .unwrap();
        for (packed, _) in &samples {
            let (kind, target, detail) = rows::packed_columns(packed);
            let found: Option<i64> = conn
                .query_row(
                    "SELECT id FROM series WHERE check_name = ?1 AND kind IS ?2 AND target IS ?3",
                    params![packed.check, kind, target],
                    |r| r.get(0),
                )
                .optional()
                .unwrap();
            let series = found.unwrap_or_else(|| {
                conn.execute(
                    "INSERT INTO series (check_name, kind, target) VALUES (?1, ?2, ?3)",
                    params![packed.check, kind, target],
                )
                .unwrap();
                conn.last_insert_rowid()
            });
            conn.execute(
                "INSERT INTO results (series, at_ms, up, latency_ms, error_kind, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    series,
                    packed.at_ms,
                    packed.up,
                    packed.latency_ms,
                    packed.error_kind,
                    detail
                ],
            )
            .unwrap();
        }
    }
    let db = SqliteStorage::open(&path).unwrap();
    let want: Vec<Attempt> = samples.into_iter().map(|(_, a)| a).collect();
    assert_history_is(db.as_ref(), &want);
    assert_eq!(db.resume().unwrap()["tcp"].state, State::Down);
    let conn = Connection::open(&path).unwrap();
    let (version, old): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT version FROM schema_version),
                    (SELECT COUNT(*) FROM sqlite_master WHERE name = 'results_v3')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (version, old),
        (MIGRATIONS.len() as i64, 0),
        "migrated, the old table dropped"
    );
    drop(db);
    let db = SqliteStorage::open(&path).unwrap();
    assert_history_is(db.as_ref(), &want);
}

/// A cached statement with `col = ?` is reused without being parsed again (SQLite marks such
/// parameters for a re-prepare, and the statement cache clears bindings on every reuse: the
/// result INSERT used to be re-prepared for every row).
#[test]
fn cached_statements_are_not_prepared_again_for_new_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    drop(SqliteStorage::open(&path).unwrap());
    let conn = open_conn(&path).unwrap();
    let sql = "SELECT COALESCE((SELECT MAX(seq) + 1 FROM results
                                WHERE series = ?1 AND at_ms = ?2), 0)";
    for (series, at_ms) in [(1_i64, 0_i64), (2, 1_000), (1, 1), (7, 2_000), (0, 3_000)] {
        let next: i64 = conn
            .prepare_cached(sql)
            .unwrap()
            .query_row(params![series, at_ms], |r| r.get(0))
            .unwrap();
        assert_eq!(next, 0);
    }
    let st = conn.prepare_cached(sql).unwrap();
    assert_eq!(
        st.get_status(rusqlite::StatementStatus::RePrepare),
        0,
        "the statement was prepared again"
    );
}
