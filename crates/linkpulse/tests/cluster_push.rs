//! Push checks in cluster mode, with real members (the `linkpulse` binary) on one throwaway
//! PostgreSQL and real HTTP pushes: a push reaches whichever member it is sent to, is counted
//! once by the check's owner, and after the owner is killed the new owner keeps the deadline
//! the pushes before set.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use linkpulse_testsupport::cluster::{self, Shape, owned, split_once};
use linkpulse_testsupport::daemon::Daemon;
use linkpulse_testsupport::eventually_some as eventually;
use linkpulse_testsupport::postgres;

const LEASE_S: u64 = 3;
const TOKEN: &str = "job-token-0123456789abcdef";
/// The push check's period and grace.
const PERIOD_S: u64 = 12;
const GRACE_S: u64 = 1;

fn start(config: &Path) -> Daemon {
    Daemon::spawn(cluster::serve_command(
        env!("CARGO_BIN_EXE_linkpulse"),
        config,
    ))
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The stored results of `check` as `(at_ms, up, error kind)`, oldest first.
fn results(d: &Daemon, check: &str) -> Vec<(i64, bool, String)> {
    let mut r: Vec<(i64, bool, String)> = d
        .json(&format!("/api/v1/checks/{check}/history?limit=100000"))["results"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|r| {
                    Some((
                        r["at_ms"].as_i64()?,
                        r["up"].as_bool()?,
                        r["error_kind"].as_str().unwrap_or("").to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    r.sort_unstable_by_key(|x| x.0);
    r
}

fn successes(d: &Daemon) -> usize {
    results(d, "job").iter().filter(|r| r.1).count()
}

fn push(d: &Daemon) {
    let (code, body) = d.request("POST", &format!("/api/v1/push/{TOKEN}"), &[]);
    assert_eq!(code, 200, "push to {}: {body}", d.addr());
}

#[test]
fn a_push_to_any_member_counts_once_and_the_deadline_survives_a_takeover() {
    let db = postgres::database().expect("a throwaway PostgreSQL cluster");
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let job = format!(
        "  - name: job\n    push: {{ period: {PERIOD_S}s, grace: {GRACE_S}s, token: '{TOKEN}' }}\n"
    );
    let n = 6;
    let shape = Shape {
        lease_s: LEASE_S,
        interval_ms: 300,
        target: listener.local_addr().unwrap(),
        checks: n,
        extra: "",
        more_checks: &job,
    };
    let mut members: BTreeMap<&str, Daemon> = ["m1", "m2"]
        .into_iter()
        .map(|m| {
            let config = cluster::member_config(dir.path(), &db, m, &shape);
            (m, start(&config))
        })
        .collect();
    let split = eventually(
        "7 checks split over 2 members",
        Duration::from_secs(60),
        || split_once(&members, n + 1),
    );
    let owner = if split["m1"].iter().any(|c| c == "job") {
        "m1"
    } else {
        "m2"
    };
    let other = if owner == "m1" { "m2" } else { "m1" };

    // Pushes to the member that does not run the check reach the one that does, each once.
    for _ in 0..3 {
        push(&members[other]);
    }
    eventually("3 relayed pushes recorded", Duration::from_secs(20), || {
        (successes(&members[owner]) == 3).then_some(())
    });
    push(&members[owner]);
    push(&members[other]);
    eventually("5 pushes recorded", Duration::from_secs(20), || {
        (successes(&members[owner]) == 5).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(successes(&members[owner]), 5, "a push counted twice");
    assert_eq!(members[owner].state("job"), "up");
    assert_eq!(
        db.psql("SELECT COUNT(*) FROM cluster_pushes")
            .unwrap()
            .trim(),
        "0",
        "every relayed push taken"
    );
    // A token no check has is still refused, by either member.
    let (code, _) = members[other].request("POST", "/api/v1/push/not-a-token-of-ours", &[]);
    assert_eq!(code, 404);

    // A last push, then the owner dies: the survivor takes the check over from the shared
    // history and misses the job at the deadline that push set, not a full period after the
    // takeover.
    push(&members[owner]);
    let pushed_at = linkpulse_daemon::storage::now_ms();
    let t0 = Instant::now();
    // Stored before the crash (reading the history commits what is queued).
    eventually("the last push stored", Duration::from_secs(20), || {
        (successes(&members[owner]) == 6).then_some(())
    });
    members.remove(owner).unwrap().kill9();
    let survivor = &members[other];
    eventually(
        "the survivor runs the push check",
        Duration::from_secs(30),
        || {
            owned(&members)[other]
                .iter()
                .any(|c| c == "job")
                .then_some(())
        },
    );
    let took_over = t0.elapsed();
    let missed = eventually("the job missed", Duration::from_secs(60), || {
        results(survivor, "job")
            .into_iter()
            .find(|r| !r.1 && r.0 > pushed_at)
    });
    assert_eq!(missed.2, "timeout", "{missed:?}");
    let after_push = missed.0 - pushed_at;
    let deadline_ms = i64::try_from((PERIOD_S + GRACE_S) * 1000).unwrap();
    // A fresh period after the takeover would miss it only at takeover + period + grace.
    let fresh_ms = i64::try_from(took_over.as_millis()).unwrap() + deadline_ms;
    assert!(
        after_push >= deadline_ms - 500 && after_push < fresh_ms - 1_000,
        "missed {after_push} ms after the last push (its deadline: {deadline_ms} ms; \
         a fresh period after the takeover at {} ms: {fresh_ms} ms)",
        took_over.as_millis()
    );
    assert_eq!(successes(survivor), 6, "every push in the shared history");

    // The owner comes back and takes its check back; killed again, a push sent to the survivor
    // while the check has no live owner waits in the database for the next owner.
    let config = cluster::member_config(dir.path(), &db, owner, &shape);
    members.insert(owner, start(&config));
    eventually(
        "the owner runs the push check again",
        Duration::from_secs(60),
        || {
            owned(&members)[owner]
                .iter()
                .any(|c| c == "job")
                .then_some(())
        },
    );
    members.remove(owner).unwrap().kill9();
    push(&members[other]);
    let survivor = &members[other];
    eventually(
        "the push taken by the new owner",
        Duration::from_secs(60),
        || (successes(survivor) == 7 && survivor.state("job") == "up").then_some(()),
    );
    assert_eq!(
        db.psql("SELECT COUNT(*) FROM cluster_pushes")
            .unwrap()
            .trim(),
        "0"
    );
    drop(listener);
}
