//! Multi-vantage checks (`vantage: { from: [eu, us, ap], quorum: 2 }`): every live member of
//! those vantages runs the check and stores its results with its vantage; this thread reads
//! the latest result of each vantage from the shared database, combines them with
//! `linkpulse_cluster::quorum` and `isolation`, and hands the combined verdicts to the engine
//! (whose core applies them on the check's decider and mirrors them elsewhere). It also
//! publishes the per-vantage rows the check's API and page show.
//!
//! Every member reads the same rows, so every member computes the same verdicts; only the
//! decider's core turns them into transitions, incidents and alerts.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use serde::Serialize;

use linkpulse_checks::QuorumVerdict;
use linkpulse_checks::state::Verdict;
use linkpulse_cluster::isolation;
use linkpulse_cluster::quorum::{self, Decision, VantageVerdict};

use super::ClusterCheck;
use crate::config::vantage::VantageConfig;
use crate::engine::EngineHandle;
use crate::storage::{Millis, Storage, VantageResult};

/// A vantage is isolated (its own network's problem) when it fails alone on every one of at
/// least this many shared checks: with one check, one vantage failing is a partial outage.
pub const MIN_ISOLATION_CHECKS: usize = 2;

/// The per-vantage view of one multi-vantage check (`vantages` in its API JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VantageView {
    /// The member that decides the check's state (sends its alerts), as of this member's last
    /// lease renewal.
    pub decider: Option<String>,
    /// How many vantages must say down for the check to be down, now.
    pub quorum: usize,
    /// The latest result of each vantage that reported recently, by vantage.
    pub results: Vec<VantageRow>,
    /// Vantages that say down (isolated ones left out).
    pub failing: Vec<String>,
    /// Vantages left out as isolated (they fail alone on every check).
    pub isolated: Vec<String>,
}

/// One vantage's latest result on a check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VantageRow {
    /// The vantage label.
    pub vantage: String,
    /// The member that ran it.
    pub member: String,
    /// Whether the target answered from there.
    pub up: bool,
    /// The error kind of a failure.
    pub error_kind: Option<String>,
    /// Latency in milliseconds, when measured.
    pub latency_ms: Option<f64>,
    /// When (ms since the epoch).
    pub at_ms: Millis,
    /// Left out of the quorum: this vantage fails alone on every check.
    pub isolated: bool,
}

/// The per-vantage views of every multi-vantage check, by name (published by the poller) and
/// their deciders (published by the cluster driver at each renewal), read by the API.
#[derive(Debug, Clone, Default)]
pub struct VantageViews(Arc<RwLock<Published>>);

#[derive(Debug, Default)]
struct Published {
    views: HashMap<String, VantageView>,
    deciders: HashMap<String, String>,
}

impl VantageViews {
    /// The view of `check`, when it is a multi-vantage check with recent results.
    pub fn get(&self, check: &str) -> Option<VantageView> {
        let p = self.0.read().unwrap_or_else(PoisonError::into_inner);
        let mut v = p.views.get(check).cloned()?;
        v.decider = p.deciders.get(check).cloned();
        Some(v)
    }

    fn set(&self, all: HashMap<String, VantageView>) {
        self.0.write().unwrap_or_else(PoisonError::into_inner).views = all;
    }

    /// Who decides each multi-vantage check now.
    pub(super) fn set_deciders(&self, deciders: HashMap<String, String>) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .deciders = deciders;
    }
}

/// One multi-vantage check as the poller needs it.
#[derive(Debug, Clone)]
struct Watched {
    vantage: VantageConfig,
    /// Results older than this are no longer a vantage's latest word.
    fresh_ms: i64,
}

/// The verdicts and views of `results` (the latest per check and vantage) for `checks`.
fn combine(
    checks: &BTreeMap<String, Watched>,
    results: Vec<VantageResult>,
    now_ms: Millis,
) -> (Vec<(String, QuorumVerdict)>, HashMap<String, VantageView>) {
    let mut latest: BTreeMap<String, BTreeMap<String, VantageResult>> = BTreeMap::new();
    for r in results {
        let Some(w) = checks.get(&r.check) else {
            continue;
        };
        if !w.vantage.from.contains(&r.vantage) || r.at_ms < now_ms - w.fresh_ms {
            continue;
        }
        latest
            .entry(r.check.clone())
            .or_default()
            .insert(r.vantage.clone(), r);
    }
    let ups: BTreeMap<String, BTreeMap<String, bool>> = latest
        .iter()
        .map(|(c, vs)| {
            (
                c.clone(),
                vs.iter().map(|(v, r)| (v.clone(), r.up)).collect(),
            )
        })
        .collect();
    let isolated = isolation::isolated_vantages(&ups, MIN_ISOLATION_CHECKS);
    let (mut verdicts, mut views) = (Vec::new(), HashMap::new());
    for (name, w) in checks {
        let rows = latest.remove(name).unwrap_or_default();
        let votes: BTreeMap<String, VantageVerdict> = rows
            .iter()
            .map(|(v, r)| {
                let verdict = if r.up {
                    VantageVerdict::Up
                } else {
                    VantageVerdict::Down
                };
                (v.clone(), verdict)
            })
            .collect();
        let counted = votes.keys().filter(|v| !isolated.contains(*v)).count();
        let q = w.vantage.quorum_of(counted);
        let decision = quorum::decide(&votes, q, &isolated);
        let failing = match &decision {
            Decision::Degraded { failing } | Decision::Down { failing } => failing.clone(),
            _ => Vec::new(),
        };
        let left_out: Vec<String> = votes
            .keys()
            .filter(|v| isolated.contains(*v))
            .cloned()
            .collect();
        if let Some(v) = verdict(&decision, &rows, &left_out) {
            verdicts.push((name.clone(), v));
        }
        views.insert(
            name.clone(),
            VantageView {
                decider: None,
                quorum: q,
                results: rows
                    .into_values()
                    .map(|r| VantageRow {
                        isolated: isolated.contains(&r.vantage),
                        vantage: r.vantage,
                        member: r.member,
                        up: r.up,
                        error_kind: r.error_kind,
                        latency_ms: r.latency_ms,
                        at_ms: r.at_ms,
                    })
                    .collect(),
                failing,
                isolated: left_out,
            },
        );
    }
    (verdicts, views)
}

/// `eu (refused), us (timeout)`.
fn named(failing: &[String], rows: &BTreeMap<String, VantageResult>) -> String {
    failing
        .iter()
        .map(
            |v| match rows.get(v).and_then(|r| r.error_kind.as_deref()) {
                Some(kind) => format!("{v} ({kind})"),
                None => v.clone(),
            },
        )
        .collect::<Vec<_>>()
        .join(", ")
}

/// The core's input for `decision`; `None` while no vantage reports.
fn verdict(
    decision: &Decision,
    rows: &BTreeMap<String, VantageResult>,
    isolated: &[String],
) -> Option<QuorumVerdict> {
    let isolated_note = (!isolated.is_empty()).then(|| {
        format!(
            "vantage_isolated: {} (fails alone on every check; left out)",
            isolated.join(", ")
        )
    });
    Some(match decision {
        Decision::Unknown => return None,
        Decision::Up { .. } => QuorumVerdict {
            verdict: Verdict::Ok,
            diagnosis: isolated_note
                .as_ref()
                .map(|_| "vantage_isolated".to_owned()),
            cause: isolated_note,
        },
        Decision::Degraded { failing } => QuorumVerdict {
            verdict: Verdict::Warn,
            cause: Some(format!(
                "partial_outage: down from {} (fewer than the quorum)",
                named(failing, rows)
            )),
            diagnosis: Some("partial_outage".to_owned()),
        },
        Decision::Down { failing } => QuorumVerdict {
            verdict: Verdict::Fail,
            cause: Some(format!("down from {}", named(failing, rows))),
            diagnosis: None,
        },
    })
}

enum Msg {
    Checks(Vec<ClusterCheck>),
    /// Checks joined this member's engine: send every verdict again.
    Resend,
    Stop,
}

/// Which results a check's last verdict was made from (vantage and time of each).
type Basis = Vec<(String, Millis)>;

/// Keeps the verdicts made from results not seen before: rise and fall then count rounds of
/// new results (about one per interval), not reads of the same ones.
fn fresh_only(
    verdicts: Vec<(String, QuorumVerdict)>,
    views: &HashMap<String, VantageView>,
    seen: &mut HashMap<String, Basis>,
) -> Vec<(String, QuorumVerdict)> {
    verdicts
        .into_iter()
        .filter(|(name, _)| {
            let basis: Basis = views.get(name).map_or_else(Vec::new, |v| {
                v.results
                    .iter()
                    .map(|r| (r.vantage.clone(), r.at_ms))
                    .collect()
            });
            seen.insert(name.clone(), basis.clone()).as_ref() != Some(&basis)
        })
        .collect()
}

/// The running poller: new checks after a reload, stop at shutdown.
#[derive(Debug)]
pub(super) struct Poller {
    tx: mpsc::Sender<Msg>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Poller {
    /// Starts the poller for `checks` (those without `vantage:` are ignored); results older
    /// than three intervals plus `lease` are no longer a vantage's word.
    pub(super) fn start(
        checks: &[ClusterCheck],
        lease: Duration,
        storage: Arc<dyn Storage>,
        engine: EngineHandle,
        views: VantageViews,
    ) -> std::io::Result<Poller> {
        let (tx, rx) = mpsc::channel();
        let mut watched = watch(checks, lease);
        let thread = std::thread::Builder::new()
            .name("linkpulse-vantage".to_owned())
            .spawn(move || {
                let mut seen = HashMap::new();
                loop {
                    let tick = tick(&watched);
                    match rx.recv_timeout(tick) {
                        Ok(Msg::Checks(c)) => watched = watch(&c, lease),
                        Ok(Msg::Resend) => seen.clear(),
                        Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                        Err(RecvTimeoutError::Timeout) => {}
                    }
                    if watched.is_empty() {
                        views.set(HashMap::new());
                        continue;
                    }
                    let now = crate::storage::now_ms();
                    let oldest = watched.values().map(|w| w.fresh_ms).max().unwrap_or(0);
                    match storage.vantage_latest(now - oldest) {
                        Ok(results) => {
                            let (verdicts, all) = combine(&watched, results, now);
                            let verdicts = fresh_only(verdicts, &all, &mut seen);
                            views.set(all);
                            if !verdicts.is_empty() {
                                engine.quorum_blocking(verdicts);
                            }
                        }
                        Err(e) => {
                            // The verdicts stay as they are until the database answers.
                            tracing::debug!(error = %e, "cluster: cannot read the vantages' results");
                        }
                    }
                }
            })?;
        Ok(Poller {
            tx,
            thread: Some(thread),
        })
    }

    /// The configuration's checks changed.
    pub(super) fn set_checks(&self, checks: Vec<ClusterCheck>) {
        let _ = self.tx.send(Msg::Checks(checks));
    }

    /// Checks joined this member's engine (a role changed): their next verdict goes out even
    /// if made from results already seen.
    pub(super) fn resend(&self) {
        let _ = self.tx.send(Msg::Resend);
    }

    /// Stops the thread and waits for it.
    pub(super) fn stop(mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn watch(checks: &[ClusterCheck], lease: Duration) -> BTreeMap<String, Watched> {
    checks
        .iter()
        .filter_map(|c| {
            let vantage = c.vantage.clone()?;
            let fresh = c.interval * 3 + lease;
            Some((
                c.name.clone(),
                Watched {
                    vantage,
                    fresh_ms: i64::try_from(fresh.as_millis()).unwrap_or(i64::MAX),
                },
            ))
        })
        .collect()
}

/// How often the results are read: the shortest interval of a multi-vantage check, between a
/// quarter second and five seconds.
fn tick(watched: &BTreeMap<String, Watched>) -> Duration {
    watched
        .values()
        .map(|w| Duration::from_millis(u64::try_from(w.fresh_ms).unwrap_or(0)))
        .min()
        .map_or(Duration::from_secs(5), |d| d / 6)
        .clamp(Duration::from_millis(250), Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vantage::Quorum;
    use linkpulse_cluster::VantageSet;

    fn r(check: &str, vantage: &str, up: bool, at_ms: i64) -> VantageResult {
        VantageResult {
            check: check.into(),
            vantage: vantage.into(),
            member: format!("m-{vantage}"),
            at_ms,
            up,
            latency_ms: Some(1.0),
            error_kind: (!up).then(|| "refused".to_owned()),
        }
    }

    fn checks(names: &[&str]) -> BTreeMap<String, Watched> {
        names
            .iter()
            .map(|n| {
                (
                    (*n).to_owned(),
                    Watched {
                        vantage: VantageConfig {
                            from: VantageSet::Only(
                                ["eu", "us", "ap"].map(str::to_owned).into_iter().collect(),
                            ),
                            quorum: Quorum::Exactly(2),
                        },
                        fresh_ms: 10_000,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn one_vantage_down_is_a_partial_outage_two_are_down() {
        let c = checks(&["a", "b", "ok"]);
        let now = 100_000;
        // `ok` answers everywhere, so eu does not fail on every check: not isolated.
        let results = vec![
            r("ok", "eu", true, now),
            r("ok", "us", true, now),
            r("ok", "ap", true, now),
            r("a", "eu", false, now),
            r("a", "us", true, now),
            r("a", "ap", true, now),
            r("b", "eu", false, now),
            r("b", "us", false, now),
            r("b", "ap", true, now),
        ];
        let (v, views) = combine(&c, results, now);
        let a = &v.iter().find(|(n, _)| n == "a").unwrap().1;
        assert_eq!(a.verdict, Verdict::Warn);
        assert_eq!(a.diagnosis.as_deref(), Some("partial_outage"));
        assert!(
            a.cause.as_deref().unwrap().contains("eu (refused)"),
            "{a:?}"
        );
        let b = &v.iter().find(|(n, _)| n == "b").unwrap().1;
        assert_eq!(b.verdict, Verdict::Fail);
        assert_eq!(views["b"].failing, ["eu", "us"]);
        assert_eq!(views["a"].results.len(), 3);
    }

    #[test]
    fn a_vantage_failing_alone_on_every_check_is_isolated_and_stale_results_are_ignored() {
        let c = checks(&["a", "b", "c"]);
        let now = 100_000;
        let mut results = Vec::new();
        for n in ["a", "b", "c"] {
            results.push(r(n, "eu", false, now));
            results.push(r(n, "us", true, now));
            // A result older than the check's freshness does not count.
            results.push(r(n, "ap", false, now - 20_000));
        }
        let (v, views) = combine(&c, results, now);
        for (name, q) in &v {
            assert_eq!(q.verdict, Verdict::Ok, "{name}");
            assert_eq!(q.diagnosis.as_deref(), Some("vantage_isolated"), "{name}");
            assert!(q.cause.as_deref().unwrap().contains("eu"), "{q:?}");
        }
        assert_eq!(views["a"].isolated, ["eu"]);
        assert_eq!(views["a"].results.len(), 2);
    }

    #[test]
    fn a_verdict_goes_out_once_per_round_of_new_results() {
        let c = checks(&["a"]);
        let mut seen = HashMap::new();
        let round = |at: i64, seen: &mut HashMap<String, Basis>| {
            let results = vec![r("a", "eu", false, at), r("a", "us", true, at)];
            let (v, views) = combine(&c, results, at);
            fresh_only(v, &views, seen).len()
        };
        assert_eq!(round(100_000, &mut seen), 1);
        assert_eq!(round(100_000, &mut seen), 0, "the same results again");
        assert_eq!(round(100_500, &mut seen), 1, "a new round");
        seen.clear();
        assert_eq!(
            round(100_500, &mut seen),
            1,
            "sent again after a role change"
        );
    }
}
