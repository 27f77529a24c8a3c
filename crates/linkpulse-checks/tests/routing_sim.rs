//! The check core and the alert router driven together in virtual time: routing (`match:`),
//! grouping, silences and maintenance windows decide exactly which notifications leave, and
//! when. The configs are parsed by the daemon's own parser; no sleeps, no sockets.

#![allow(clippy::disallowed_methods)] // the simulation needs some real instant as its epoch

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use linkpulse_checks::Now;
use linkpulse_checks::routing::{Matcher, Silence};
use linkpulse_checks::schedule::CheckId;
use linkpulse_daemon::checks::{Core, Effect, Origin};
use linkpulse_daemon::config::Config;
use linkpulse_daemon::probe::Outcome;
use linkpulse_daemon::routing::Router;

/// Saturday 2026-12-05 12:00:00 UTC.
const T0_MS: i64 = 1_796_472_000_000;
const MIN: i64 = 60_000;

/// The core, the router, the clock, and what left for the outbox.
struct Sim {
    core: Core,
    router: Router,
    now: Now,
    up: HashMap<CheckId, bool>,
    verdict: &'static str,
    /// (when, notification) in the order they left.
    sent: Vec<(i64, Notification)>,
}

use linkpulse_daemon::routing::Notification;

impl Sim {
    fn new(yaml: &str) -> Sim {
        let config = Config::parse("sim.yaml", yaml, Path::new(".")).expect("valid config");
        let now = Now {
            mono: Instant::now(),
            wall_ms: T0_MS,
        };
        let mut core = Core::new(config.alerts.clone(), 7);
        core.add_checks(
            config.checks.iter().map(|c| (c.clone(), Origin::Fresh)),
            now,
        );
        let router = linkpulse_daemon::routing::router(&config, now.wall_ms);
        let up = config
            .checks
            .iter()
            .map(|c| (core.id_of(&c.name).expect("added"), true))
            .collect();
        let mut sim = Sim {
            core,
            router,
            now,
            up,
            verdict: "network_unreachable",
            sent: Vec::new(),
        };
        sim.pump();
        sim
    }

    fn set(&mut self, names: &[&str], up: bool) {
        for n in names {
            let id = self.core.id_of(n).expect("check");
            self.up.insert(id, up);
        }
    }

    fn set_all(&mut self, up: bool) {
        for v in self.up.values_mut() {
            *v = up;
        }
    }

    /// Carries out the core's effects at `now` (runs answer at once, diagnoses too) and
    /// collects the router's notifications.
    fn pump(&mut self) {
        loop {
            let mut runs = Vec::new();
            let mut diagnose = Vec::new();
            while let Some(e) = self.core.poll_effect() {
                match e {
                    Effect::Run { id, .. } => runs.push(id),
                    Effect::Diagnose { id } => diagnose.push(id),
                    Effect::Alert(a) => self.router.handle_alert(*a, self.now.wall_ms),
                    _ => {}
                }
            }
            if runs.is_empty() && diagnose.is_empty() {
                break;
            }
            for id in runs {
                let outcome = outcome(self.up[&id]);
                self.core.handle_result(id, outcome, self.now);
            }
            for id in diagnose {
                self.core.handle_diagnosis(
                    id,
                    self.verdict.to_owned(),
                    serde_json::json!({}),
                    self.now,
                );
            }
        }
        while let Some(n) = self.router.poll_notification() {
            self.sent.push((self.now.wall_ms, n));
        }
    }

    /// Moves the clock to `wall_ms`, stopping at every deadline of the core and the router.
    fn advance_to(&mut self, wall_ms: i64) {
        loop {
            let core = self.core.poll_timeout().map(|t| {
                let d = t.saturating_duration_since(self.now.mono);
                // Rounded up: a deadline within the millisecond must be passed, not missed.
                let ms = d.as_micros().div_ceil(1000);
                self.now.wall_ms + i64::try_from(ms).unwrap_or(i64::MAX)
            });
            let router = self.router.poll_timeout(self.now.wall_ms);
            let next = [core, router]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(wall_ms);
            let next = next.max(self.now.wall_ms).min(wall_ms);
            let step = u64::try_from(next - self.now.wall_ms).unwrap_or(0);
            self.now = self.now.after(Duration::from_millis(step));
            self.core.handle_timeout(self.now);
            self.router.handle_timeout(self.now.wall_ms);
            self.pump();
            if self.now.wall_ms >= wall_ms {
                return;
            }
        }
    }

    fn advance(&mut self, ms: i64) {
        self.advance_to(self.now.wall_ms + ms);
    }

    /// What left, as `(ms since T0, target, event summary)`.
    fn take(&mut self) -> Vec<(i64, String, String)> {
        std::mem::take(&mut self.sent)
            .into_iter()
            .map(|(at, n)| match n {
                Notification::One(a) => (
                    at - T0_MS,
                    a.alert.clone(),
                    format!("{} {}", a.check, a.event),
                ),
                Notification::Group(g) => {
                    let p = g.payload();
                    (
                        at - T0_MS,
                        g.alert.clone(),
                        p["summary"].as_str().unwrap_or("").to_owned(),
                    )
                }
            })
            .collect()
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

fn checks(n: usize, labels: &str) -> String {
    let mut y = String::from("checks:\n");
    for i in 0..n {
        y.push_str(&format!(
            "  - name: c{i}\n    tcp: {{ address: '127.0.0.1:9' }}\n    interval: 10s\n    fastinter: 1s\n    rise: 1\n    fall: 2\n    labels: {labels}\n"
        ));
    }
    y
}

#[test]
fn five_hundred_checks_down_together_make_one_grouped_notification_per_target() {
    let yaml = format!(
        "
alerts:
  - name: hook
    webhook: {{ url: 'http://127.0.0.1:9/hook' }}
    group_by: [site]
    group_wait: 30s
    group_interval: 2m
  - name: chat
    slack: {{ url: 'http://127.0.0.1:9/chat' }}
    group_by: [site]
{}",
        checks(500, "{ site: dc1 }")
    );
    let mut sim = Sim::new(&yaml);
    sim.advance(MIN);
    assert_eq!(sim.take(), vec![], "up from the start is not news");
    sim.set_all(false);
    sim.advance(5 * MIN);
    let sent = std::mem::take(&mut sim.sent);
    assert_eq!(sent.len(), 2, "one notification per target");
    for (_, n) in &sent {
        let Notification::Group(g) = n else {
            panic!("a group, not {n:?}")
        };
        assert_eq!(g.alerts.len(), 500);
        let p = g.payload();
        assert_eq!(p["count"], 500);
        assert_eq!(p["state"], "down");
        assert_eq!(
            p["diagnosis"], "network_unreachable",
            "the diagnosis they share"
        );
        assert_eq!(p["group"]["site"], "dc1");
        assert_eq!(
            p["summary"],
            "500 checks: 500 down — diagnosis: network_unreachable"
        );
    }
    // All recover together: one "up" notification per target, after the group interval.
    sim.set_all(true);
    sim.advance(10 * MIN);
    let back = sim.take();
    assert_eq!(back.len(), 2, "{back:?}");
    assert!(
        back.iter().all(|(_, _, s)| s == "500 checks: 500 up"),
        "{back:?}"
    );
}

#[test]
fn match_by_labels_states_and_min_duration() {
    let yaml = "
alerts:
  - name: db-team
    webhook: { url: 'http://127.0.0.1:9/db' }
    match: { labels: { team: db }, states: [down], min_duration: 2m }
  - name: all
    webhook: { url: 'http://127.0.0.1:9/all' }
checks:
  - { name: db, tcp: { address: '127.0.0.1:9' }, interval: 10s, fastinter: 1s, rise: 1, fall: 1, labels: { team: db } }
  - { name: web, tcp: { address: '127.0.0.1:9' }, interval: 10s, fastinter: 1s, rise: 1, fall: 1, labels: { team: web } }
";
    let mut sim = Sim::new(yaml);
    sim.advance(MIN);
    sim.take();
    // web goes down: only the unfiltered target hears of it.
    sim.set(&["web"], false);
    sim.advance(MIN);
    let sent = sim.take();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        (sent[0].1.as_str(), sent[0].2.as_str()),
        ("all", "web down")
    );
    // db down for about a minute: shorter than min_duration, db-team hears nothing.
    sim.set(&["db"], false);
    sim.advance(MIN);
    sim.set(&["db"], true);
    sim.advance(3 * MIN);
    let sent = sim.take();
    assert!(sent.iter().all(|(_, to, _)| to == "all"), "{sent:?}");
    // db down for longer: db-team hears once it has lasted 2 minutes, then the recovery.
    sim.set(&["db"], false);
    let start = sim.now.wall_ms - T0_MS;
    sim.advance(5 * MIN);
    sim.set(&["db"], true);
    sim.advance(MIN);
    let to_db: Vec<_> = sim
        .take()
        .into_iter()
        .filter(|(_, to, _)| to == "db-team")
        .collect();
    assert_eq!(to_db.len(), 2, "{to_db:?}");
    assert_eq!(to_db[0].2, "db down");
    let waited = to_db[0].0 - start;
    assert!(
        (2 * MIN..2 * MIN + 15_000).contains(&waited),
        "sent {waited} ms after the failure began"
    );
    assert_eq!(to_db[1].2, "db up");
}

fn silence(checks: &[&str], from: i64, to: i64) -> Silence {
    Silence {
        id: "s1".into(),
        matcher: Matcher {
            checks: checks.iter().map(|c| (*c).to_owned()).collect(),
            labels: Default::default(),
        },
        starts_ms: T0_MS + from,
        ends_ms: T0_MS + to,
        comment: "patching".into(),
        created_by: "test".into(),
        created_ms: T0_MS,
    }
}

const ONE: &str = "
alerts:
  - name: ops
    webhook: { url: 'http://127.0.0.1:9/hook' }
checks:
  - { name: db, tcp: { address: '127.0.0.1:9' }, interval: 10s, fastinter: 1s, rise: 1, fall: 1 }
  - { name: web, tcp: { address: '127.0.0.1:9' }, interval: 10s, fastinter: 1s, rise: 1, fall: 1 }
";

#[test]
fn a_silence_holds_alerts_and_a_state_that_persists_is_sent_when_it_ends() {
    let mut sim = Sim::new(ONE);
    let now = sim.now.wall_ms;
    sim.router
        .set_silences(vec![silence(&["db"], 0, 10 * MIN)], now);
    sim.set(&["db", "web"], false);
    sim.advance(2 * MIN);
    let sent: Vec<_> = sim
        .take()
        .into_iter()
        .map(|(_, to, what)| (to, what))
        .collect();
    assert_eq!(
        sent,
        vec![("ops".into(), "web down".into())],
        "db is silenced"
    );
    // Still down when the silence ends: sent at that instant, once.
    sim.advance_to(T0_MS + 10 * MIN);
    assert_eq!(sim.take(), vec![(10 * MIN, "ops".into(), "db down".into())]);
    sim.advance(MIN);
    assert_eq!(sim.take(), vec![]);
}

#[test]
fn a_failure_that_ends_inside_a_silence_is_never_sent() {
    let mut sim = Sim::new(ONE);
    let now = sim.now.wall_ms;
    sim.router
        .set_silences(vec![silence(&["db"], MIN, 10 * MIN)], now);
    sim.advance(2 * MIN);
    sim.set(&["db"], false);
    sim.advance(2 * MIN);
    sim.set(&["db"], true);
    sim.advance(10 * MIN);
    assert_eq!(sim.take(), vec![]);
}

#[test]
fn a_weekly_window_in_another_zone_holds_alerts_from_its_local_start_to_its_end() {
    // Saturdays 21:00 in Tokyo (12:00Z) for 1 h: T0 is Saturday 12:00Z, so the window opens
    // at T0 exactly and closes at T0 + 1 h.
    let yaml = format!(
        "{ONE}maintenance:
  - name: tokyo-patch
    checks: [db]
    weekly: {{ days: [sat], at: '21:00' }}
    duration: 1h
    time_zone: Asia/Tokyo
"
    );
    let mut sim = Sim::new(&yaml);
    let hold = sim
        .router
        .hold("db", &Default::default(), sim.now.wall_ms)
        .expect("in the window");
    assert_eq!(
        hold,
        linkpulse_checks::routing::Hold::Window {
            name: "tokyo-patch".into(),
            ends_ms: T0_MS + 60 * MIN
        }
    );
    sim.set(&["db"], false);
    sim.advance(59 * MIN);
    assert_eq!(sim.take(), vec![]);
    sim.advance(MIN);
    assert_eq!(sim.take(), vec![(60 * MIN, "ops".into(), "db down".into())]);
    assert_eq!(
        sim.router.hold("db", &Default::default(), sim.now.wall_ms),
        None
    );
}

#[test]
fn a_silence_end_passed_between_two_looks_is_still_due() {
    let mut sim = Sim::new(ONE);
    let now = sim.now.wall_ms;
    sim.router.set_silences(vec![silence(&["db"], 0, MIN)], now);
    // The driver looks again only after the end: the end is due at once, not forgotten.
    assert_eq!(sim.router.poll_timeout(T0_MS + 2 * MIN), Some(T0_MS + MIN));
    sim.router.handle_timeout(T0_MS + 2 * MIN);
    assert_eq!(sim.router.poll_timeout(T0_MS + 2 * MIN), None);
}
