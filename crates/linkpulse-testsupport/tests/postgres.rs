//! The throwaway PostgreSQL cluster: starts, hands out separate databases, and leaves nothing
//! behind (no server on the port, no directory) once the last database is dropped.

use std::net::TcpStream;
use std::time::Duration;

use linkpulse_testsupport::eventually;
use linkpulse_testsupport::postgres::{self, PgCluster};

#[test]
fn databases_are_separate_and_the_cluster_is_gone_after_the_last_drop() {
    let a = postgres::database().expect("start a cluster");
    let b = postgres::database().expect("second database");
    assert_ne!(a.name(), b.name());
    assert!(
        std::sync::Arc::ptr_eq(a.cluster(), b.cluster()),
        "one cluster per process"
    );
    a.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (7)")
        .unwrap();
    assert_eq!(a.psql("SELECT x FROM t").unwrap().trim(), "7");
    let err = b.psql("SELECT x FROM t").unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(a.url().starts_with("postgres://postgres@127.0.0.1:"));
    let port = a.cluster().port();
    let dir = a.cluster().dir().to_owned();
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "listening on TCP"
    );
    drop(a);
    assert!(dir.exists(), "still used by b");
    drop(b);
    assert!(!dir.exists(), "{} removed", dir.display());
    assert!(
        eventually(Duration::from_secs(10), || TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_err()),
        "the server stopped"
    );
    // A new cluster starts after the old one stopped.
    let c = PgCluster::shared().unwrap();
    assert_ne!(c.dir(), dir);
}

#[test]
fn a_cluster_left_by_a_killed_test_process_is_stopped_and_deleted() {
    // A test process that is SIGKILLed never runs Drop: simulate one whose pid is gone by
    // renaming a live cluster's directory to a dead pid, then stopping nothing ourselves.
    let cluster = PgCluster::start().unwrap();
    let port = cluster.port();
    let dead_pid = {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    };
    let orphan = std::env::temp_dir().join(format!("linkpulse-pg-{dead_pid}-orphan"));
    std::fs::create_dir(&orphan).unwrap();
    let data = orphan.join("data");
    // The running server's data directory moves with the rename of its parent: use a symlink
    // instead so the live cluster keeps its paths.
    std::os::unix::fs::symlink(cluster.dir().join("data"), &data).unwrap();
    let next = PgCluster::start().unwrap();
    assert!(!orphan.exists(), "{} swept", orphan.display());
    assert!(
        eventually(Duration::from_secs(10), || TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_err()),
        "the orphaned server was stopped"
    );
    drop(cluster);
    assert!(TcpStream::connect(("127.0.0.1", next.port())).is_ok());
}
