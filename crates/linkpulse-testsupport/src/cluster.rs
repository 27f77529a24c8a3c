//! Cluster-mode fixtures: a member's config over a throwaway database, and the views a test
//! asserts on — which member runs which check, how many checks are in a state — read from
//! the members' real HTTP APIs ([`Daemon`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::daemon::Daemon;
use crate::postgres::PgDatabase;
use crate::servers::WebhookReceiver;

/// What every member of a test cluster shares.
#[derive(Debug, Clone)]
pub struct Shape<'a> {
    /// `cluster.lease`, in seconds.
    pub lease_s: u64,
    /// `defaults.interval`, in milliseconds (timeout 250 ms, rise and fall 1).
    pub interval_ms: u64,
    /// The TCP target of every check.
    pub target: SocketAddr,
    /// How many checks (`c00`, `c01`, …).
    pub checks: usize,
    /// YAML inserted before `checks:` (e.g. [`webhook_alerts`]).
    pub extra: &'a str,
    /// More items of `checks:` (YAML, indented by two), after the TCP ones.
    pub more_checks: &'a str,
}

/// Writes member `name`'s config (and the database password file) into `dir` and returns its
/// path: `shape.checks` TCP checks of `shape.target`, `cluster.node = name`, vantage `lab`.
pub fn member_config(dir: &Path, db: &PgDatabase, name: &str, shape: &Shape<'_>) -> PathBuf {
    member_config_in(dir, db, name, "lab", shape)
}

/// [`member_config`] with `cluster.vantage = vantage` (for `vantage:` checks, given in
/// `shape.more_checks`).
pub fn member_config_in(
    dir: &Path,
    db: &PgDatabase,
    name: &str,
    vantage: &str,
    shape: &Shape<'_>,
) -> PathBuf {
    let Shape {
        lease_s,
        interval_ms,
        target,
        checks,
        extra,
        more_checks,
    } = shape;
    std::fs::write(dir.join("pg.pass"), format!("{}\n", db.password()))
        .unwrap_or_else(|e| panic!("write pg.pass: {e}"));
    let mut yaml = format!(
        "listen: 127.0.0.1:0\ndatabase: {}\ndatabase_password_file: pg.pass\n\
         cluster: {{ node: {name}, vantage: {vantage}, lease: {lease_s}s }}\n\
         defaults: {{ interval: {interval_ms}ms, timeout: 250ms, rise: 1, fall: 1 }}\n{extra}checks:\n",
        db.url()
    );
    for i in 0..*checks {
        yaml.push_str(&format!(
            "  - name: c{i:02}\n    tcp: {{ address: '{target}' }}\n"
        ));
    }
    yaml.push_str(more_checks);
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, yaml).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// `bin serve --config CONFIG`, without a `PGPASSWORD` of the test's environment (the
/// password comes from the config's file).
pub fn serve_command(bin: &str, config: &Path) -> Command {
    let mut command = Command::new(bin);
    command
        .args(["serve", "--config"])
        .arg(config)
        .env_remove("PGPASSWORD");
    command
}

/// The `alerts:` section of a webhook to `hook`.
pub fn webhook_alerts(hook: &WebhookReceiver) -> String {
    format!(
        "alerts:\n  - name: hook\n    webhook: {{ url: '{}' }}\n",
        hook.url()
    )
}

/// The checks a member runs now (its `/api/v1/checks`).
pub fn owned_by(d: &Daemon) -> Vec<String> {
    d.json("/api/v1/checks")
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The checks each member runs now.
pub fn owned(members: &BTreeMap<&str, Daemon>) -> BTreeMap<String, Vec<String>> {
    members
        .iter()
        .map(|(name, d)| ((*name).to_owned(), owned_by(d)))
        .collect()
}

/// Every one of `n` checks run by exactly one of `members`, each of which runs some.
pub fn split_once(
    members: &BTreeMap<&str, Daemon>,
    n: usize,
) -> Option<BTreeMap<String, Vec<String>>> {
    let by_member = owned(members);
    let all: Vec<&String> = by_member.values().flatten().collect();
    let distinct: BTreeSet<&String> = all.iter().copied().collect();
    let every_member_works = by_member.values().all(|v| !v.is_empty());
    (all.len() == n && distinct.len() == n && every_member_works).then_some(by_member)
}

/// How many checks the members show in `state` now.
pub fn in_state(members: &BTreeMap<&str, Daemon>, state: &str) -> usize {
    members.values().map(|d| checks_in_state(d, state)).sum()
}

/// How many checks one member shows in `state` now.
pub fn checks_in_state(d: &Daemon, state: &str) -> usize {
    d.json("/api/v1/checks")
        .as_array()
        .map_or(0, |a| a.iter().filter(|c| c["state"] == state).count())
}

/// How many times the receiver got each idempotency key.
pub fn deliveries_per_key(hook: &WebhookReceiver) -> BTreeMap<String, usize> {
    let mut per_key = BTreeMap::new();
    for a in hook.received() {
        *per_key
            .entry(a["idempotency_key"].as_str().unwrap_or("").to_owned())
            .or_default() += 1;
    }
    per_key
}

/// The checks named by the receiver's alerts in `state`, one entry per delivery.
pub fn alerted(hook: &WebhookReceiver, state: &str) -> Vec<String> {
    hook.received()
        .iter()
        .filter(|a| a["state"] == state)
        .filter_map(|a| a["check"].as_str().map(str::to_owned))
        .collect()
}

/// Check `check` as `member` shows it (`GET /api/v1/checks/{check}`) once it has the latest
/// result of `vantages` vantages; `None` before (404 until the member has joined and been
/// given the check).
pub fn with_vantages(member: &Daemon, check: &str, vantages: usize) -> Option<serde_json::Value> {
    let (status, body) = member.get(&format!("/api/v1/checks/{check}"));
    let c: serde_json::Value = serde_json::from_str(&body).ok().filter(|_| status == 200)?;
    (c["vantages"]["results"].as_array()?.len() == vantages).then_some(c)
}

/// The vantages whose latest result failed, in a check as [`with_vantages`] returns it.
pub fn failing_vantages(check: &serde_json::Value) -> BTreeSet<String> {
    check["vantages"]["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["up"] == false)
        .filter_map(|r| r["vantage"].as_str().map(str::to_owned))
        .collect()
}

/// Waits until `member` shows `check` (run from `vantages` vantages) `up` with diagnosis
/// `vantage_isolated`, and asserts that `isolated` is the one vantage named isolated, in the
/// cause, and the only one failing.
pub fn assert_isolated(member: &Daemon, check: &str, vantages: usize, isolated: &str) {
    let v = crate::eventually_some(
        &format!("`{check}` up with {isolated} isolated"),
        std::time::Duration::from_secs(60),
        || {
            let v = with_vantages(member, check, vantages)?;
            (v["state"] == "up" && v["diagnosis"] == "vantage_isolated").then_some(v)
        },
    );
    assert!(
        v["cause"].as_str().is_some_and(|c| c.contains(isolated)),
        "{v:#}"
    );
    assert_eq!(
        v["vantages"]["isolated"],
        serde_json::json!([isolated]),
        "{v:#}"
    );
    assert_eq!(failing_vantages(&v), BTreeSet::from([isolated.to_owned()]));
}

/// `linkpulse_check_attempts_total` of `check` on `d`, summed over its results (0 when the
/// member does not run it).
pub fn attempts(d: &Daemon, check: &str) -> u64 {
    let (status, body) = d.get("/metrics");
    assert_eq!(status, 200, "GET /metrics: {body}");
    let label = format!("check=\"{check}\"");
    body.lines()
        .filter(|l| l.starts_with("linkpulse_check_attempts_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A quiet moment of `check` on `d`: its attempt count and a time (ms, the machine's clock)
/// such that every attempt counted started before it and none started after it was counted —
/// the count is read twice, `settle` apart, around the time, and must not change (a loopback
/// attempt completes well within `settle`). Retries for up to 30 s.
pub fn quiet_attempts(d: &Daemon, check: &str, settle: std::time::Duration) -> (u64, i64) {
    crate::eventually_some(
        &format!("a moment with no attempt of {check} under way"),
        std::time::Duration::from_secs(30),
        || {
            let before = attempts(d, check);
            let at = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_millis();
            std::thread::sleep(settle);
            (attempts(d, check) == before).then_some((before, i64::try_from(at).ok()?))
        },
    )
}

/// The stored results' times of `check` (ms, oldest first), as `d`'s history API reads them
/// from the shared database.
pub fn result_times(d: &Daemon, check: &str) -> Vec<i64> {
    let mut at: Vec<i64> =
        d.json(&format!("/api/v1/checks/{check}/history?limit=100000"))["results"]
            .as_array()
            .map(|l| l.iter().filter_map(|r| r["at_ms"].as_i64()).collect())
            .unwrap_or_default();
    at.sort_unstable();
    at
}
