//! The sans-IO check core driven in virtual time: every input carries its `now`, every effect
//! is read back in order. Exact, no sleeps, no sockets, no storage. The core is fed the
//! daemon's own config and outcome types (`linkpulse_daemon::checks::DaemonModel`), so the
//! configs below are parsed exactly as `linkpulse serve` parses them.

#![allow(clippy::disallowed_methods)] // the simulation needs some real instant as its epoch

use std::path::Path;
use std::time::{Duration, Instant};

use linkpulse_checks::schedule::CheckId;
use linkpulse_checks::state::State;
use linkpulse_checks::state::Verdict;
use linkpulse_checks::{
    Attempt, HubPolicy, NodeEvent, NodeReport, Now, PushEvent, QuorumVerdict, Resume, VantageRole,
    Write,
};
use linkpulse_daemon::checks::{Core, Effect, Origin};
use linkpulse_daemon::config::{CheckConfig, Config};
use linkpulse_daemon::probe::Outcome;

const T0_MS: i64 = 1_800_000_000_000;

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// A core, its clock and what it said.
struct Sim {
    core: Core,
    now: Now,
    config: Config,
}

impl Sim {
    fn new(yaml: &str) -> Sim {
        let config = Config::parse("sim.yaml", yaml, Path::new(".")).expect("valid config");
        let now = Now {
            mono: Instant::now(),
            wall_ms: T0_MS,
        };
        let mut sim = Sim {
            core: Core::new(config.alerts.clone(), 7),
            now,
            config,
        };
        let checks: Vec<_> = sim
            .config
            .checks
            .iter()
            .map(|c| (c.clone(), Origin::Fresh))
            .collect();
        sim.core.add_checks(checks, now);
        sim
    }

    fn cfg(&self, name: &str) -> CheckConfig {
        let c = self.config.checks.iter().find(|c| c.name == name);
        c.expect("configured").clone()
    }

    fn id(&self, name: &str) -> CheckId {
        self.core.id_of(name).expect("check exists")
    }

    fn state(&self, name: &str) -> State {
        self.core.check(self.id(name)).expect("check").state()
    }

    /// Moves the clock to the core's next deadline (at most `limit` ahead) and handles it.
    fn advance(&mut self, limit: Duration) -> Vec<String> {
        let until = self.now.mono + limit;
        let at = self
            .core
            .poll_timeout()
            .filter(|t| *t <= until)
            .unwrap_or(until);
        let d = at.saturating_duration_since(self.now.mono);
        self.now = self.now.after(d);
        self.core.handle_timeout(self.now);
        self.effects()
    }

    fn effects(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.core.poll_effect())
            .map(describe)
            .collect()
    }

    /// Runs every due probe of `name` with `up` as its outcome, `latency` after it started.
    fn run(&mut self, name: &str, up: bool) -> Vec<String> {
        let id = self.id(name);
        self.now = self.now.after(Duration::from_millis(10));
        self.core.handle_result(id, outcome(up), self.now);
        self.effects()
    }

    /// Waits for the next run of `name` and feeds it.
    fn next_run(&mut self, name: &str, up: bool) -> Vec<String> {
        let id = self.id(name);
        loop {
            let e = self.advance(s(3600));
            if e.iter().any(|e| *e == format!("run {id}")) {
                return self.run(name, up);
            }
        }
    }
}

fn outcome(up: bool) -> Outcome {
    if up {
        Outcome {
            up: true,
            warning: None,
            latency_ms: Some(1.0),
            error_kind: None,
            error_message: None,
            result: Default::default(),
        }
    } else {
        Outcome::failure("tcp://a:1", "tcp", "refused", "connection refused".into())
    }
}

/// One line per effect, enough to compare orders and contents.
fn describe(e: Effect) -> String {
    match e {
        Effect::Added { id, last } => {
            format!("added {id}{}", if last.is_some() { " +last" } else { "" })
        }
        Effect::Removed { name, .. } => format!("removed {name}"),
        Effect::Relabeled { id } => format!("relabeled {id}"),
        Effect::Run { id, .. } => format!("run {id}"),
        Effect::Skipped { id } => format!("skipped {id}"),
        Effect::Attempt { outcome, .. } => {
            format!("attempt {}", outcome.error_kind.as_deref().unwrap_or("ok"))
        }
        Effect::Write(Write::Transition(t)) => format!("write transition {}>{}", t.from, t.to),
        Effect::Write(Write::OpenIncident { .. }) => "write open".into(),
        Effect::Write(Write::CloseIncident { .. }) => "write close".into(),
        Effect::Write(Write::Diagnosis { verdict, .. }) => format!("write diagnosis {verdict}"),
        Effect::Transition { transition: t, .. } => format!("state {}>{}", t.from, t.to),
        Effect::Alert(a) => format!("alert {}", a.idempotency_key),
        Effect::Diagnose { id } => format!("diagnose {id}"),
        Effect::Diagnosed { verdict, .. } => format!("diagnosed {verdict}"),
        Effect::Decided { id } => format!("decided {id}"),
    }
}

const TCP: &str = "
alerts:
  - name: ops
    repeat: 5m
    webhook: { url: 'http://127.0.0.1:9/hook' }
checks:
  - name: web
    tcp: { address: '127.0.0.1:9' }
    interval: 10s
    fastinter: 2s
    downinter: 30s
    rise: 2
    fall: 2
";

/// A probe that failed for a reason of the monitor's own (`local`: no file descriptors …) is
/// recorded and gives no verdict: no state change, no incident, no alert, however many.
#[test]
fn a_local_fault_is_recorded_without_a_verdict() {
    let mut sim = Sim::new(TCP);
    sim.effects();
    sim.next_run("web", true);
    sim.next_run("web", true);
    assert_eq!(sim.state("web"), State::Up);
    let id = sim.id("web");
    for i in 0..10 {
        let e = loop {
            let e = sim.advance(s(3600));
            if e.iter().any(|e| *e == format!("run {id}")) {
                break e;
            }
        };
        assert_eq!(e, [format!("run {id}")]);
        sim.now = sim.now.after(Duration::from_millis(10));
        // No descriptors left, or no permission to send the probe at all.
        let (kind, message) = if i % 2 == 0 {
            (
                "local",
                "the monitor has no file descriptor left: cannot connect to 127.0.0.1:9: Too many open files",
            )
        } else {
            ("permission", "no ICMP socket: Operation not permitted")
        };
        let local = Outcome::failure("tcp://a:1", "tcp", kind, message.into());
        sim.core.handle_result(id, local, sim.now);
        assert_eq!(sim.effects(), [format!("attempt {kind}")]);
        assert_eq!(sim.state("web"), State::Up);
    }
    // Real failures still count (fall 2).
    assert_eq!(sim.next_run("web", false), ["attempt refused"]);
    assert_eq!(sim.state("web"), State::Up);
}

#[test]
fn rise_and_fall_use_fastinter_while_changing_and_downinter_while_down() {
    let mut sim = Sim::new(TCP);
    assert_eq!(sim.effects(), ["added 0"]);
    // The first run is spread within the interval.
    let first = sim.core.poll_timeout().expect("planned");
    assert!(first <= sim.now.mono + s(10));
    assert_eq!(sim.next_run("web", true), ["attempt ok"]);
    // One success of two: still unknown, and the next run comes after `fastinter`.
    let t = sim.now.mono;
    assert_eq!(sim.state("web"), State::Unknown);
    let planned = sim.core.poll_timeout().expect("planned");
    assert!(planned <= t + s(2), "fastinter while unknown");
    let e = sim.next_run("web", true);
    assert_eq!(
        e,
        [
            "attempt ok",
            "write transition unknown>up",
            "state unknown>up"
        ],
        "unknown → up is not news: no alert"
    );
    // Up and stable: the normal interval.
    let t = sim.now.mono;
    let planned = sim.core.poll_timeout().expect("planned");
    assert!(planned > t + s(7) && planned <= t + s(10));
    assert_eq!(sim.next_run("web", false), ["attempt refused"]);
    assert!(sim.core.poll_timeout().expect("planned") <= sim.now.mono + s(2));
    let e = sim.next_run("web", false);
    assert_eq!(
        e,
        [
            "attempt refused",
            "write transition up>down",
            "write open",
            "diagnose 0",
            "state up>down",
        ],
        "the down alert waits for the diagnosis"
    );
    // Down and stable: `downinter`.
    let planned = sim.core.poll_timeout().expect("planned");
    assert!(planned > sim.now.mono + s(20));
    let id = sim.id("web");
    sim.core
        .handle_diagnosis(id, "process_down".into(), serde_json::json!({}), sim.now);
    let at = sim.core.check(id).expect("check").since_ms();
    assert_eq!(
        sim.effects(),
        [
            format!("alert web/down/{at}/ops"),
            "write diagnosis process_down".to_owned(),
            "diagnosed process_down".to_owned(),
        ],
        "the held down alert goes out with the diagnosis, keyed by when the check went down"
    );
    // Recovery: a first success uses fastinter, the second brings it up and alerts `up`.
    assert_eq!(sim.next_run("web", true), ["attempt ok"]);
    let e = sim.next_run("web", true);
    let up_at = sim.now.wall_ms;
    assert_eq!(
        e,
        [
            "attempt ok".to_owned(),
            "write transition down>up".to_owned(),
            "write close".to_owned(),
            "state down>up".to_owned(),
            format!("alert web/up/{up_at}/ops"),
        ]
    );
}

#[test]
fn an_alert_payload_keeps_its_fields_and_key() {
    let mut sim = Sim::new(TCP);
    sim.effects();
    sim.next_run("web", false);
    sim.next_run("web", false);
    let id = sim.id("web");
    sim.core
        .handle_diagnosis(id, "port_filtered".into(), serde_json::json!({}), sim.now);
    let alert = std::iter::from_fn(|| sim.core.poll_effect())
        .find_map(|e| match e {
            Effect::Alert(a) => Some(a),
            _ => None,
        })
        .expect("a down alert");
    let v = serde_json::to_value(&*alert).expect("serialises");
    let at = alert.at_ms;
    assert_eq!(
        v,
        serde_json::json!({
            "event": "down", "check": "web", "kind": "tcp", "target": "tcp://127.0.0.1:9",
            "state": "down", "previous": "unknown", "at_ms": at, "since_ms": at,
            "incident_started_ms": at, "cause": "refused: connection refused",
            "diagnosis": "port_filtered", "labels": {},
            "idempotency_key": format!("web/down/{at}/ops"), "alert": "ops",
        })
    );
}

#[test]
fn a_down_check_repeats_its_alert_every_repeat() {
    let mut sim = Sim::new(TCP);
    sim.effects();
    sim.next_run("web", false);
    sim.next_run("web", false);
    let id = sim.id("web");
    sim.core
        .handle_diagnosis(id, "process_down".into(), serde_json::json!({}), sim.now);
    sim.effects();
    let down_at = sim.now.wall_ms;
    let mut repeats = Vec::new();
    // 12 minutes of failures at downinter (30 s): repeats at 5 and 10 minutes.
    while sim.now.wall_ms < down_at + 12 * 60_000 {
        for e in sim.next_run("web", false) {
            if e.contains("/repeat/") {
                repeats.push(sim.now.wall_ms - down_at);
            }
        }
    }
    assert_eq!(repeats.len(), 2, "{repeats:?}");
    assert!(repeats[0] >= 300_000 && repeats[0] < 330_000, "{repeats:?}");
    assert!(repeats[1] - repeats[0] >= 300_000, "{repeats:?}");
}

#[test]
fn an_incident_survives_a_restart_and_its_down_alert_keeps_its_key() {
    let mut sim = Sim::new(TCP);
    sim.effects();
    let since = T0_MS - 60_000;
    let resume = Resume {
        state: State::Down,
        since_ms: since,
        last: Some(Attempt {
            check: "web".into(),
            at_ms: T0_MS - 1_000,
            up: false,
            latency_ms: None,
            error_kind: Some("refused".into()),
            result: serde_json::json!({"error": {"kind": "refused", "message": "nope"}}),
        }),
        diagnosis: Some("process_down".into()),
    };
    // The restarted core: the check comes back down, in its incident, with its diagnosis.
    let mut core = Core::new(sim.config.alerts.clone(), 1);
    core.add_checks([(sim.cfg("web"), Origin::Resume(resume))], sim.now);
    let effects: Vec<String> = std::iter::from_fn(|| core.poll_effect())
        .map(describe)
        .collect();
    assert_eq!(
        effects,
        [
            "added 0 +last".to_owned(),
            format!("alert web/down/{since}/ops")
        ],
        "re-queued under the key it had: a no-op when it was delivered before the crash"
    );
    let c = core.check(0).expect("check");
    assert_eq!(c.state(), State::Down);
    assert_eq!(c.incident_ms(), Some(since));
    assert_eq!(c.cause().map(String::as_str), Some("refused: nope"));
    assert_eq!(c.diagnosis().map(String::as_str), Some("process_down"));
    // Repeats restart from the restart, not from the incident's start.
    sim.core = core;
    let mut first_repeat = None;
    while first_repeat.is_none() {
        for e in sim.next_run("web", false) {
            if e.contains("/repeat/") {
                first_repeat = Some(sim.now.wall_ms - T0_MS);
            }
        }
    }
    assert!(
        first_repeat.is_some_and(|ms| ms >= 300_000),
        "{first_repeat:?}"
    );
}

const PUSH: &str = "
checks:
  - name: job
    push: { period: 1m, grace: 10s, token: job }
";

#[test]
fn a_push_check_goes_down_after_period_plus_grace_and_start_gives_latency() {
    let mut sim = Sim::new(PUSH);
    sim.effects();
    let t0 = sim.now.mono;
    assert_eq!(sim.core.poll_timeout(), Some(t0 + s(70)));
    assert!(!sim.core.handle_push("nope", PushEvent::Success, sim.now));
    // /start then success 3 s later: the run time is the latency.
    assert!(sim.core.handle_push("job", PushEvent::Start, sim.now));
    assert_eq!(sim.effects(), Vec::<String>::new());
    sim.now = sim.now.after(s(3));
    assert!(sim.core.handle_push("job", PushEvent::Success, sim.now));
    let effects: Vec<Effect> = std::iter::from_fn(|| sim.core.poll_effect()).collect();
    let latency = effects.into_iter().find_map(|e| match e {
        Effect::Attempt { outcome, .. } => outcome.latency_ms,
        _ => None,
    });
    assert_eq!(latency, Some(3000.0));
    assert_eq!(sim.state("job"), State::Up);
    // The deadline moved to success + period + grace; nothing happens before it.
    let deadline = sim.now.mono + s(70);
    // The first deadline's heap entry is stale: re-armed at the new deadline, silently.
    let e = sim.advance(s(3600));
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(sim.now.mono, t0 + s(70));
    let e = sim.advance(s(3600));
    assert_eq!(sim.now.mono, deadline);
    assert_eq!(
        e,
        [
            "attempt timeout",
            "write transition up>down",
            "write open",
            "state up>down"
        ]
    );
    // Down: a timeout every period, no new incident.
    assert_eq!(sim.core.poll_timeout(), Some(deadline + s(60)));
    assert_eq!(sim.advance(s(60)), ["attempt timeout"]);
    // A reported failure while down; then a success brings it back.
    assert!(sim.core.handle_push("job", PushEvent::Fail, sim.now));
    assert_eq!(sim.effects(), ["attempt reported"]);
    assert!(sim.core.handle_push("job", PushEvent::Success, sim.now));
    assert_eq!(
        sim.effects(),
        [
            "attempt ok",
            "write transition down>up",
            "write close",
            "state down>up"
        ]
    );
}

fn node_report(name: &str, event: NodeEvent) -> NodeReport {
    NodeReport {
        node: name.into(),
        labels: [("role".to_owned(), "db".to_owned())].into(),
        interval: Duration::from_millis(500),
        event,
    }
}

fn resumed(state: State, since_ms: i64) -> Resume {
    Resume {
        state,
        since_ms,
        last: None,
        diagnosis: None,
    }
}

#[test]
fn restored_nodes_go_absent_after_the_grace_and_are_forgotten_after_forget_after() {
    let mut sim = Sim::new("checks: []\n");
    let policy = HubPolicy {
        interval: Duration::from_millis(500),
        rejoin_grace: s(12),
        forget_after: s(3600),
    };
    let stored = [
        ("node:gone".to_owned(), resumed(State::Up, T0_MS - 5_000)),
        ("node:back".to_owned(), resumed(State::Up, T0_MS - 5_000)),
        (
            "node:old".to_owned(),
            resumed(State::Down, T0_MS - 3_599_000),
        ),
    ];
    sim.core.restore_nodes(policy, stored, sim.now);
    assert_eq!(sim.effects().len(), 3);
    // `old` has been down for 3,599 s: forgotten one second (and a millisecond) from the start,
    // the incident it was restored in closed.
    let e = sim.advance(s(60));
    assert_eq!(e, ["removed node:old", "write close"]);
    assert_eq!(sim.now.wall_ms, T0_MS + 1_001);
    // `back` rejoins within the grace; `gone` never does.
    sim.now = sim.now.after(s(3));
    let alive = NodeEvent::Alive {
        warning: None,
        rtt_ms: Some(0.3),
    };
    sim.core.handle_node(node_report("back", alive), sim.now);
    assert_eq!(sim.effects(), ["relabeled 1", "attempt ok"]);
    // At the grace, exactly: `gone` goes down, cause `absent`.
    let e = sim.advance(s(60));
    assert_eq!(sim.now.wall_ms, T0_MS + 12_000);
    assert_eq!(
        e,
        [
            "attempt absent",
            "write transition up>down",
            "write open",
            "state up>down"
        ]
    );
    assert_eq!(sim.state("node:gone"), State::Down);
    assert_eq!(sim.state("node:back"), State::Up);
    // An hour later it is forgotten, its incident closed; `back` stays.
    let e = sim.advance(s(7200));
    assert_eq!(sim.now.wall_ms, T0_MS + 12_000 + 3_600_001);
    assert_eq!(e, ["removed node:gone", "write close"]);
    assert!(sim.core.id_of("node:back").is_some());
    assert_eq!(sim.core.poll_timeout(), None);
}

#[test]
fn a_node_dies_leaves_and_is_forgotten_through_the_hubs_reports() {
    let mut sim = Sim::new(
        "alerts:\n  - name: ops\n    webhook: { url: 'http://127.0.0.1:9/hook' }\nchecks: []\n",
    );
    let alive = NodeEvent::Alive {
        warning: None,
        rtt_ms: None,
    };
    sim.core.handle_node(node_report("n1", alive), sim.now);
    assert_eq!(
        sim.effects(),
        [
            "added 0",
            "attempt ok",
            "write transition unknown>up",
            "state unknown>up"
        ]
    );
    let dead = NodeEvent::Dead {
        cause: "reset".into(),
        detail: None,
    };
    sim.core.handle_node(node_report("n1", dead), sim.now);
    let at = sim.now.wall_ms;
    assert_eq!(
        sim.effects(),
        [
            "attempt reset".to_owned(),
            "write transition up>down".to_owned(),
            "write open".to_owned(),
            "state up>down".to_owned(),
            format!("alert node:n1/down/{at}/ops"),
        ],
        "a node's down alert does not wait: the hub diagnoses it"
    );
    let diag = NodeEvent::Diagnosis("process_gone".into());
    sim.core.handle_node(node_report("n1", diag), sim.now);
    assert_eq!(
        sim.effects(),
        ["write diagnosis process_gone", "diagnosed process_gone"]
    );
    sim.core
        .handle_node(node_report("n1", NodeEvent::Left), sim.now);
    assert_eq!(
        sim.effects(),
        [
            "write transition down>unknown",
            "write close",
            "state down>unknown"
        ],
        "a graceful leave pages no one"
    );
    sim.core
        .handle_node(node_report("n1", NodeEvent::Forgotten), sim.now);
    assert_eq!(sim.effects(), ["removed node:n1"]);
    // A diagnosis or forget of an unknown node creates nothing.
    sim.core
        .handle_node(node_report("n2", NodeEvent::Forgotten), sim.now);
    assert!(sim.effects().is_empty());
}

#[test]
fn a_check_handed_away_and_back_keeps_its_incident_and_pending_alert() {
    let mut sim = Sim::new(TCP);
    sim.effects();
    sim.next_run("web", false);
    let e = sim.next_run("web", false);
    assert!(e.contains(&"diagnose 0".to_owned()));
    let down_at = sim.now.wall_ms;
    // Handed away before the diagnosis came: the other owner gets the pending down alert.
    let mut handed = sim.core.remove_checks(&["web"]);
    assert_eq!(sim.effects(), ["removed web"]);
    assert!(sim.core.id_of("web").is_none());
    assert_eq!(handed.len(), 1);
    let h = handed.pop().expect("one");
    assert_eq!((h.state, h.incident_ms), (State::Down, Some(down_at)));
    assert!(h.pending_down.is_some());
    // The diagnosis of the old owner arrives late: ignored (the check is gone).
    sim.core
        .handle_diagnosis(0, "process_down".into(), serde_json::json!({}), sim.now);
    assert!(sim.effects().is_empty());
    // Handed back: same state and incident, and the diagnosis is asked for again.
    sim.now = sim.now.after(s(5));
    let ids = sim
        .core
        .add_checks([(sim.cfg("web"), Origin::Handoff(Box::new(h)))], sim.now);
    assert_eq!(
        sim.effects(),
        [format!("added {}", ids[0]), format!("diagnose {}", ids[0])]
    );
    assert_eq!(sim.state("web"), State::Down);
    sim.core.handle_diagnosis(
        ids[0],
        "process_down".into(),
        serde_json::json!({}),
        sim.now,
    );
    assert_eq!(
        sim.effects()[0],
        format!("alert web/down/{down_at}/ops"),
        "one down alert, under the key of the original incident"
    );
}

#[test]
fn a_reload_keeps_unchanged_checks_and_restarts_changed_ones() {
    let mut sim = Sim::new(TCP);
    sim.effects();
    sim.next_run("web", true);
    sim.next_run("web", true);
    assert_eq!(sim.state("web"), State::Up);
    let same = sim.config.checks.clone();
    let summary = sim.core.reload(&same, sim.config.alerts.clone(), sim.now);
    assert_eq!(
        (summary.unchanged, summary.added, summary.changed),
        (1, 0, 0)
    );
    assert!(sim.effects().is_empty());
    let old = sim.core.id_of("web").expect("web");
    let mut changed = same.clone();
    changed[0].rise = 3;
    let summary = sim.core.reload(&changed, Vec::new(), sim.now);
    assert_eq!((summary.unchanged, summary.changed), (0, 1));
    let new = sim.core.id_of("web").expect("web");
    assert_ne!(
        new, old,
        "the restarted check reuses the slot under a new id"
    );
    assert_eq!(
        sim.effects(),
        ["removed web".to_owned(), format!("added {new}")]
    );
    assert_eq!(sim.state("web"), State::Unknown);
    // A result of the old check's run still in flight does not reach the new one.
    sim.core.handle_result(old, outcome(false), sim.now);
    assert!(sim.effects().is_empty());
    assert_eq!(sim.state("web"), State::Unknown);
}

const VANTAGE: &str = "
database: postgres://linkpulse@db.invalid/linkpulse
cluster: { node: m1, vantage: eu }
alerts:
  - name: ops
    webhook: { url: 'http://127.0.0.1:9/hook' }
checks:
  - name: web
    tcp: { address: '127.0.0.1:9' }
    interval: 10s
    rise: 1
    fall: 1
    vantage: { from: [eu, us, ap], quorum: 2 }
";

fn quorum(verdict: Verdict, cause: Option<&str>, diagnosis: Option<&str>) -> QuorumVerdict {
    QuorumVerdict {
        verdict,
        cause: cause.map(str::to_owned),
        diagnosis: diagnosis.map(str::to_owned),
    }
}

/// A multi-vantage check: its own runs are witnesses (recorded, no verdict); its state comes
/// from the quorum's verdicts, and only on its decider do they become transitions, incidents
/// and alerts (a down alert at once: the vantages are its diagnosis).
#[test]
fn a_multi_vantage_check_takes_its_state_from_the_quorum_and_only_its_decider_alerts() {
    let mut decider = Sim::new(VANTAGE);
    let mut runner = Sim::new(VANTAGE);
    for (sim, decide) in [(&mut decider, true), (&mut runner, false)] {
        sim.effects();
        let id = sim.id("web");
        sim.core
            .set_vantage_role(id, VantageRole { run: true, decide });
        assert_eq!(sim.next_run("web", false), ["attempt refused"]);
        assert_eq!(
            sim.state("web"),
            State::Unknown,
            "a witness gives no verdict"
        );
    }
    let id = decider.id("web");
    let partial = quorum(
        Verdict::Warn,
        Some("partial_outage: down from eu (refused)"),
        Some("partial_outage"),
    );
    decider.core.handle_quorum(id, partial.clone(), decider.now);
    let e = decider.effects();
    assert!(e.contains(&"state unknown>degraded".to_owned()), "{e:?}");
    assert!(e.iter().any(|e| e.contains("web/degraded/")), "{e:?}");
    let c = decider.core.check(id).unwrap();
    assert_eq!(c.diagnosis().map(String::as_str), Some("partial_outage"));
    assert!(c.cause().unwrap().contains("eu"));

    let down = quorum(
        Verdict::Fail,
        Some("down from eu (refused), us (timeout)"),
        None,
    );
    decider.now = decider.now.after(s(10));
    decider.core.handle_quorum(id, down.clone(), decider.now);
    let e = decider.effects();
    assert!(e.contains(&"write open".to_owned()), "{e:?}");
    assert!(e.iter().any(|e| e.contains("web/down/")), "{e:?}");
    assert!(!e.iter().any(|e| e.starts_with("diagnose")), "{e:?}");

    // The runner shows the same state and says nothing.
    let rid = runner.id("web");
    for q in [partial, down] {
        runner.core.handle_quorum(rid, q, runner.now);
        assert_eq!(runner.effects(), [format!("decided {rid}")]);
    }
    assert_eq!(runner.state("web"), State::Down);

    // Back up with one vantage isolated: up, named.
    decider.now = decider.now.after(s(10));
    let isolated = quorum(
        Verdict::Ok,
        Some("vantage_isolated: eu (fails alone on every check; left out)"),
        Some("vantage_isolated"),
    );
    decider.core.handle_quorum(id, isolated, decider.now);
    let e = decider.effects();
    assert!(e.contains(&"write close".to_owned()), "{e:?}");
    let c = decider.core.check(id).unwrap();
    assert_eq!(c.state(), State::Up);
    assert_eq!(c.diagnosis().map(String::as_str), Some("vantage_isolated"));
}

/// A multi-vantage check decided here but run only by other members schedules no run.
#[test]
fn a_multi_vantage_check_decided_but_not_run_here_schedules_no_probe() {
    let mut sim = Sim::new(VANTAGE);
    sim.effects();
    let id = sim.id("web");
    sim.core.set_vantage_role(
        id,
        VantageRole {
            run: false,
            decide: true,
        },
    );
    for _ in 0..5 {
        let e = sim.advance(s(3600));
        assert!(!e.contains(&format!("run {id}")), "{e:?}");
    }
}

/// A check's state as a cluster member took it over, its last attempt `ago_ms` before now.
fn taken_over_at(sim: &Sim, ago_ms: i64) -> Resume {
    Resume {
        state: State::Up,
        since_ms: T0_MS - 600_000,
        last: Some(Attempt {
            check: "web".into(),
            at_ms: sim.now.wall_ms - ago_ms,
            up: true,
            latency_ms: Some(1.0),
            error_kind: None,
            result: serde_json::json!({}),
        }),
        diagnosis: None,
    }
}

/// The times (ms after the take-over) of the first `n` runs of a check a new core took over.
fn runs_after_take_over(sim: &mut Sim, ago_ms: i64, n: usize) -> Vec<i64> {
    let resume = taken_over_at(sim, ago_ms);
    sim.core = Core::new(sim.config.alerts.clone(), 3);
    sim.core
        .add_checks([(sim.cfg("web"), Origin::TakeOver(resume))], sim.now);
    sim.effects();
    let t0 = sim.now.wall_ms;
    (0..n)
        .map(|_| {
            sim.next_run("web", true);
            // `run` fed the result 10 ms after the start.
            sim.now.wall_ms - 10 - t0
        })
        .collect()
}

/// Cluster mode's seam: a check taken over from another member keeps that member's cadence.
/// Its next slot still ahead (a member joined, or the owner handed it over) → it runs at that
/// slot, neither earlier nor later. Overdue (the owner died and its lease ran out first) → it
/// runs within the catch-up spread (2 s), then back at the old cadence, never two runs closer
/// than half an interval.
#[test]
fn a_check_taken_over_keeps_the_previous_owners_cadence() {
    let mut sim = Sim::new(TCP);
    sim.effects();
    // Last run 4 s ago at 10 s: the next at +6 s, then every 10 s.
    assert_eq!(
        runs_after_take_over(&mut sim, 4_000, 3),
        [6_000, 16_000, 26_000]
    );
    // Last run 13.5 s ago (the dead owner's lease, then a renewal): a catch-up run within 2 s,
    // then the old slots, last + 20 s = +6.5 s and on (the wall clock rounds to 1 ms).
    let near = |got: i64, want: i64| (got - want).abs() <= 1;
    let runs = runs_after_take_over(&mut sim, 13_500, 3);
    assert!((0..2_000).contains(&runs[0]), "{runs:?}");
    assert!(near(runs[1], 6_500) && near(runs[2], 16_500), "{runs:?}");
    // Last run 29 s ago: the slot 1 s ahead is too close to the catch-up run, so +11 s.
    let runs = runs_after_take_over(&mut sim, 29_000, 2);
    assert!((0..2_000).contains(&runs[0]), "{runs:?}");
    assert!(near(runs[1], 11_000), "{runs:?}");
    // No last attempt (never run): the first run anywhere in the interval, as a new check.
    let mut fresh = Resume {
        last: None,
        ..taken_over_at(&sim, 0)
    };
    fresh.state = State::Unknown;
    sim.core = Core::new(sim.config.alerts.clone(), 3);
    sim.core
        .add_checks([(sim.cfg("web"), Origin::TakeOver(fresh))], sim.now);
    sim.effects();
    let t0 = sim.now.wall_ms;
    sim.next_run("web", true);
    assert!((0..10_010).contains(&(sim.now.wall_ms - t0)));
}
