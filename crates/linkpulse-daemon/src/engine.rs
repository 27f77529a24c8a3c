//! The engine: one task that owns every check's state, drives the [`Schedule`], starts runs
//! (bounded by global and per-kind semaphores), and turns each outcome into history, state
//! changes, incidents and alerts.
//!
//! Runs are futures polled by the engine task itself (one `FuturesUnordered`), so a slow or
//! hanging check never delays another — the loop only waits for deadlines, completions and
//! commands — and a run costs no task spawn and no wake-up of another thread.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use linkpulse_probe::Prober;
use serde::Serialize;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use crate::config::{AlertConfig, CheckConfig, CheckKind, CheckSpec, Concurrency, Config};
use crate::metrics::{CheckLabels, CheckSeries, Metrics};
use crate::probe::{self, CheckResult, Outcome, PreparedProbe};
use crate::schedule::{self, CheckId, Schedule};
use crate::state::{CheckState, State, Transition};
use crate::storage::{
    Attempt, Millis, PackedAttempt, Resume, Storage, TransitionRecord, WriteOp, now_ms,
};

/// What the API shows of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckView {
    /// Check name.
    pub name: String,
    /// `http`, `tcp`, `icmp`, `push` or `node`.
    pub kind: CheckKind,
    /// Probe target (`tcp://…`, `http(s)://…`, `icmp://…`, `push://TOKEN`, `node://NAME`).
    pub target: String,
    /// Current state.
    pub state: State,
    /// When the current state was entered (ms since the epoch).
    pub since_ms: Millis,
    /// The last result (serialised in the probe JSON shape).
    pub last: Option<CheckResult>,
    /// When the last result arrived.
    pub last_ms: Option<Millis>,
    /// Why the check is down or degraded.
    pub cause: Option<String>,
    /// The layered diagnosis of the current incident, when failing and known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<String>,
    /// Normal interval (push checks: the period).
    pub interval_ms: u64,
    /// Labels from the config.
    pub labels: BTreeMap<String, String>,
}

/// Views of every check, by name; shared with the HTTP API (which sorts them by name).
///
/// A hash map: the engine updates one view per result, and a lookup in a `BTreeMap` of 20,000
/// names compared a dozen strings each time.
pub type Views = Arc<RwLock<HashMap<String, CheckView>>>;

/// A push event (`/api/v1/push/{token}[/fail|/start]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushEvent {
    /// The job succeeded.
    Success,
    /// The job failed.
    Fail,
    /// The job started.
    Start,
}

/// A hub node as its check `node:NAME` sees it; fed with [`EngineHandle::node`].
///
/// The check is created when the node is first reported and is never removed by a reload.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeReport {
    /// The node's name in the hub; the check is `node:NAME`.
    pub node: String,
    /// The node's labels (from its HELLO).
    pub labels: BTreeMap<String, String>,
    /// The hub's heartbeat interval, shown as the check's interval.
    pub interval: Duration,
    /// What happened.
    pub event: NodeEvent,
}

/// What a node report says; see [`NodeReport`].
#[derive(Debug, Clone, PartialEq)]
pub enum NodeEvent {
    /// The session is up: `up`, or `degraded` with `warning` (suspect, or unhealthy STATUS).
    Alive {
        /// Why the node counts as degraded.
        warning: Option<String>,
        /// Latest heartbeat round-trip time, milliseconds.
        rtt_ms: Option<f64>,
    },
    /// The session ended without GOODBYE: `down`, an incident and a `down` alert.
    Dead {
        /// The hub's cause (`peer_closed`, `reset`, `timeout`, …).
        cause: String,
        /// More about the cause, when known.
        detail: Option<String>,
    },
    /// GOODBYE: the check goes to `unknown`, a transition that never alerts (a graceful leave
    /// pages no one, and `unknown` time counts for neither side of availability).
    Left,
    /// The hub's diagnosis of the current death (`host_unreachable`, `process_gone`).
    Diagnosis(String),
    /// The node has been dead or left for longer than `hub.forget_after`: its check leaves
    /// the live list (`/api/v1/checks`, `/metrics`); its history stays in the database, and an
    /// incident still open is closed (the node is retired, nobody will repair it).
    Forgotten,
}

/// Result of a reload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReloadSummary {
    /// Checks kept with their state.
    pub unchanged: usize,
    /// New checks.
    pub added: usize,
    /// Checks whose settings changed (restarted in `unknown`, history kept).
    pub changed: usize,
    /// Checks removed.
    pub removed: usize,
}

/// `9 checks unchanged, 1 added, 0 changed, 0 removed`.
impl std::fmt::Display for ReloadSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} check{} unchanged, {} added, {} changed, {} removed",
            self.unchanged,
            if self.unchanged == 1 { "" } else { "s" },
            self.added,
            self.changed,
            self.removed
        )
    }
}

enum Command {
    Push {
        token: String,
        event: PushEvent,
        reply: oneshot::Sender<bool>,
    },
    Reload {
        config: Box<Config>,
        reply: oneshot::Sender<Result<ReloadSummary, String>>,
    },
    Diagnosis {
        id: CheckId,
        verdict: String,
        detail: serde_json::Value,
    },
    Node(Box<NodeReport>),
}

/// A cheap handle to the engine task.
#[derive(Debug, Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl EngineHandle {
    /// Feeds a push event; false when no push check has this token.
    pub async fn push(&self, token: &str, event: PushEvent) -> bool {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Push {
            token: token.to_owned(),
            event,
            reply,
        };
        if self.tx.send(cmd).await.is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }

    /// Feeds a hub node's change to its `node:NAME` check, creating the check on first sight;
    /// false when the engine has stopped.
    pub async fn node(&self, report: NodeReport) -> bool {
        self.tx.send(Command::Node(Box::new(report))).await.is_ok()
    }

    /// Replaces the configuration, keeping the state of unchanged checks.
    pub async fn reload(&self, config: Config) -> Result<ReloadSummary, String> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Reload {
            config: Box::new(config),
            reply,
        };
        self.tx
            .send(cmd)
            .await
            .map_err(|_| "the engine has stopped".to_owned())?;
        rx.await.map_err(|_| "the engine has stopped".to_owned())?
    }
}

struct Done {
    id: CheckId,
    planned: Instant,
    outcome: Outcome,
}

/// One run of a check, polled by the engine task.
type RunFuture = Pin<Box<dyn Future<Output = Done> + Send>>;

/// Per-check runtime state, owned by the engine task.
struct Runtime {
    /// Shared with the runs in flight (never deep-cloned per run).
    cfg: Arc<CheckConfig>,
    probe: Option<Arc<PreparedProbe>>,
    /// The check's metric series, looked up once when the check is added (see [`CheckSeries`]).
    metrics: CheckSeries,
    state: CheckState,
    running: bool,
    /// When the check is due next; a heap entry at another time is stale.
    planned: Option<Instant>,
    /// The time of this check's earliest heap entry (push checks keep at most one).
    queued: Option<Instant>,
    since_ms: Millis,
    /// Push checks: when the running job reported `/start`.
    started: Option<Instant>,
    /// Last alert per alert target (for `repeat`).
    last_alert: HashMap<String, Millis>,
    /// When the current incident started.
    incident_ms: Option<Millis>,
    /// A down alert held back until the diagnosis arrives (when, and the state before).
    pending_down: Option<(Millis, State)>,
    cause: Option<String>,
    diagnosis: Option<String>,
}

/// Everything the engine needs from outside.
#[derive(Debug, Clone)]
pub struct EngineParts {
    /// History backend.
    pub storage: Arc<dyn Storage>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Views shared with the API.
    pub views: Views,
    /// Woken when alerts are queued.
    pub alert_notify: Arc<Notify>,
}

impl std::fmt::Debug for dyn Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Storage")
    }
}

/// The engine task's state.
pub struct Engine {
    parts: EngineParts,
    prober: Prober,
    checks: HashMap<CheckId, Runtime>,
    by_name: HashMap<String, CheckId>,
    tokens: HashMap<String, CheckId>,
    schedule: Schedule,
    /// The limits `global` and `per_kind` enforce.
    concurrency: Concurrency,
    global: Arc<Semaphore>,
    per_kind: HashMap<CheckKind, Arc<Semaphore>>,
    alerts: Vec<AlertConfig>,
    /// `metrics.labels`: the check labels exported as metric labels.
    metric_labels: Vec<String>,
    /// The runs in flight.
    runs: FuturesUnordered<RunFuture>,
    cmd_rx: mpsc::Receiver<Command>,
    cmd_tx: mpsc::Sender<Command>,
    next_id: CheckId,
    /// Stored state of node checks not seen since the start (used when the node joins again).
    node_resume: HashMap<String, Resume>,
    /// Live events for the dashboard (results, state changes, diagnoses); see
    /// [`Engine::with_events`].
    events: linkpulse_web::EventBus,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("checks", &self.checks.len())
            .finish()
    }
}

fn view_of(rt: &Runtime, last: Option<&Attempt>) -> CheckView {
    CheckView {
        name: rt.cfg.name.clone(),
        kind: rt.cfg.spec.kind(),
        target: rt.cfg.spec.target(),
        state: rt.state.state(),
        since_ms: rt.since_ms,
        last: last.map(|a| CheckResult::Json(a.result.clone())),
        last_ms: last.map(|a| a.at_ms),
        cause: rt.cause.clone(),
        diagnosis: rt.diagnosis.clone(),
        interval_ms: u64::try_from(rt.cfg.interval.as_millis()).unwrap_or(u64::MAX),
        labels: rt.cfg.labels.clone(),
    }
}

impl Engine {
    /// Publishes results, state changes and diagnoses into `events` (the dashboard's bus).
    pub fn with_events(mut self, events: linkpulse_web::EventBus) -> Engine {
        self.events = events;
        self
    }

    /// Builds the engine for `config`, resuming each check's state from `resume`.
    pub fn new(
        config: &Config,
        parts: EngineParts,
        resume: HashMap<String, Resume>,
    ) -> Result<(Engine, EngineHandle), probe::PrepareError> {
        let (cmd_tx, cmd_rx) = mpsc::channel(1024);
        let c = config.concurrency;
        let (global, per_kind) = limits(c);
        let mut engine = Engine {
            parts,
            prober: Prober::new(),
            checks: HashMap::new(),
            by_name: HashMap::new(),
            tokens: HashMap::new(),
            schedule: Schedule::new(),
            concurrency: c,
            global,
            per_kind,
            alerts: config.alerts.clone(),
            metric_labels: config.metrics.labels.clone(),
            runs: FuturesUnordered::new(),
            cmd_rx,
            cmd_tx: cmd_tx.clone(),
            next_id: 0,
            node_resume: resume
                .iter()
                .filter(|(name, _)| name.starts_with(NODE_PREFIX))
                .map(|(name, r)| (name.clone(), r.clone()))
                .collect(),
            events: linkpulse_web::EventBus::new(16),
        };
        let now = Instant::now();
        for cfg in &config.checks {
            let r = resume.get(&cfg.name);
            engine.add(cfg.clone(), r, now)?;
        }
        if let Some(hub) = &config.hub {
            engine.restore_nodes(hub.interval, now);
        }
        engine
            .parts
            .metrics
            .checks
            .set(i64::try_from(engine.checks.len()).unwrap_or(i64::MAX));
        Ok((engine, EngineHandle { tx: cmd_tx }))
    }

    /// Recreates the check of every node known before a restart, in its stored state, so the
    /// API, dashboard and availability keep showing it before (or without) a rejoin. Labels
    /// come back when the node rejoins; a node that does not is reported `absent` by the hub
    /// feed ([`crate::hub::feed`]).
    fn restore_nodes(&mut self, interval: Duration, now: Instant) {
        let stored: Vec<(String, Resume)> = self.node_resume.drain().collect();
        for (name, resume) in stored {
            let node = name.strip_prefix(NODE_PREFIX).unwrap_or(&name).to_owned();
            let cfg = node_check(&name, &node, BTreeMap::new(), interval);
            if let Err(e) = self.add(cfg, Some(&resume), now) {
                tracing::warn!(check = %name, error = %e, "could not restore a node's check");
            }
        }
    }

    fn add(
        &mut self,
        cfg: CheckConfig,
        resume: Option<&Resume>,
        now: Instant,
    ) -> Result<CheckId, probe::PrepareError> {
        let probe = probe::prepare(&cfg)?.map(Arc::new);
        let id = self.next_id;
        self.next_id += 1;
        let state = resume.map_or(State::Unknown, |r| r.state);
        let failing = matches!(state, State::Down);
        let series = CheckSeries::new(&self.parts.metrics, self.metric_labels_of(&cfg), state);
        let mut rt = Runtime {
            probe,
            metrics: series,
            state: CheckState::restore(state, cfg.rise, cfg.fall),
            running: false,
            planned: None,
            queued: None,
            since_ms: resume.map_or_else(now_ms, |r| r.since_ms),
            started: None,
            last_alert: HashMap::new(),
            incident_ms: None,
            pending_down: None,
            cause: None,
            diagnosis: if failing {
                resume.and_then(|r| r.diagnosis.clone())
            } else {
                None
            },
            cfg: Arc::new(cfg),
        };
        if failing {
            // Repeats restart from now; the down alert itself is re-queued below with the key
            // it had, so it is a no-op if it reached the outbox before a crash.
            let at = now_ms();
            for a in &self.alerts {
                rt.last_alert.insert(a.name.clone(), at);
            }
            rt.incident_ms = resume.map(|r| r.since_ms);
            rt.cause = resume
                .and_then(|r| r.last.as_ref())
                .and_then(|a| a.result.get("error"))
                .and_then(|e| {
                    Some(format!(
                        "{}: {}",
                        e.get("kind")?.as_str()?,
                        e.get("message")?.as_str()?
                    ))
                });
        }
        let first = match &rt.cfg.spec {
            CheckSpec::Push {
                token,
                period,
                grace,
            } => {
                self.tokens.insert(token.clone(), id);
                Some(now + *period + *grace)
            }
            // A node check is driven by the hub's changes, never by the schedule.
            CheckSpec::Node { .. } => None,
            _ => Some(schedule::first_run(
                now,
                rt.cfg.interval,
                rand::random::<f64>(),
            )),
        };
        if let Some(first) = first {
            rt.planned = Some(first);
            rt.queued = Some(first);
            self.schedule.insert(id, first);
        }
        let last = resume.and_then(|r| r.last.as_ref());
        let view = view_of(&rt, last);
        self.views_write().insert(rt.cfg.name.clone(), view);
        self.by_name.insert(rt.cfg.name.clone(), id);
        let down_since = failing.then_some(rt.since_ms);
        self.checks.insert(id, rt);
        if let Some(since) = down_since {
            self.enqueue_alerts(id, "down", State::Down, State::Unknown, since, None);
        }
        Ok(id)
    }

    fn views_write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, CheckView>> {
        self.parts
            .views
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The metric labels of `cfg`: name, kind and the labels `metrics.labels` exports.
    fn metric_labels_of(&self, cfg: &CheckConfig) -> CheckLabels {
        CheckLabels::new(
            &cfg.name,
            cfg.spec.kind().as_str(),
            &cfg.labels,
            &self.metric_labels,
        )
    }

    /// Replaces the check's series when its metric labels changed (a node's labels, or
    /// `metrics.labels` on reload): the old series go, new ones show the current state.
    fn relabel(&mut self, id: CheckId) {
        let Some(rt) = self.checks.get(&id) else {
            return;
        };
        let labels = self.metric_labels_of(&rt.cfg);
        let Some(rt) = self.checks.get_mut(&id) else {
            return;
        };
        if *rt.metrics.labels() == labels {
            return;
        }
        let m = &self.parts.metrics;
        let fresh = CheckSeries::new(m, labels, rt.state.state());
        std::mem::replace(&mut rt.metrics, fresh).forget(m);
    }

    /// Runs until `shutdown` resolves; in-flight runs are abandoned, queued writes are kept.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        // When runs were last started: the schedule wakes the thread at most once per
        // `START_SLACK` (the runs due meanwhile start together, late by less than that).
        let mut started = Instant::now();
        loop {
            let now = Instant::now();
            if self.schedule.next_deadline().is_some_and(|d| d <= now) {
                started = now;
            }
            while let Some((id, planned)) = self.schedule.pop_due(now) {
                self.due(id, planned, now);
            }
            let deadline = self
                .schedule
                .next_deadline()
                .map_or(now + Duration::from_secs(3600), |d| {
                    d.max(started + START_SLACK)
                });
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep_until(deadline) => {}
                Some(done) = self.runs.next(), if !self.runs.is_empty() => self.complete(done),
                Some(cmd) = self.cmd_rx.recv() => self.command(cmd),
            }
        }
    }

    fn due(&mut self, id: CheckId, planned: Instant, now: Instant) {
        let Some(rt) = self.checks.get_mut(&id) else {
            return;
        };
        if rt.planned != Some(planned) {
            // A push success moved the deadline later without a new heap entry (so a check
            // pinged often keeps one entry): re-arm at the current deadline.
            if let (true, Some(later)) = (rt.queued == Some(planned), rt.planned)
                && later > planned
            {
                rt.queued = Some(later);
                self.schedule.insert(id, later);
            }
            return;
        }
        rt.planned = None;
        rt.queued = None;
        if let CheckSpec::Push { period, grace, .. } = rt.cfg.spec {
            let message = format!(
                "no success within period + grace ({} + {})",
                humantime::format_duration(period),
                humantime::format_duration(grace)
            );
            let outcome = Outcome::failure(&rt.cfg.spec.target(), "push", "timeout", message);
            let next = now + period;
            rt.planned = Some(next);
            rt.queued = Some(next);
            self.schedule.insert(id, next);
            self.record(id, outcome);
            return;
        }
        let (Some(probe), false) = (rt.probe.clone(), rt.running) else {
            return;
        };
        rt.running = true;
        let cfg = rt.cfg.clone();
        let global = self.global.clone();
        let kind = self.per_kind.get(&cfg.spec.kind()).cloned();
        let prober = self.prober.clone();
        let metrics = self.parts.metrics.clone();
        self.runs.push(Box::pin(async move {
            let _g = global.acquire_owned().await;
            let _k = match kind {
                Some(k) => k.acquire_owned().await.ok(),
                None => None,
            };
            let lag = Instant::now().saturating_duration_since(planned);
            metrics.schedule_lag_seconds.observe(lag.as_secs_f64());
            let outcome = probe::run(&prober, &cfg, &probe).await;
            Done {
                id,
                planned,
                outcome,
            }
        }));
    }

    fn complete(&mut self, done: Done) {
        let Some(rt) = self.checks.get_mut(&done.id) else {
            return;
        };
        rt.running = false;
        self.record(done.id, done.outcome);
        let Some(rt) = self.checks.get_mut(&done.id) else {
            return;
        };
        let every = if rt.state.transitioning() {
            rt.cfg.fastinter
        } else if rt.state.state() == State::Down {
            rt.cfg.downinter
        } else {
            rt.cfg.interval
        };
        let now = Instant::now();
        let next = schedule::next_run(done.planned, every, now);
        if next > done.planned + every {
            self.parts.metrics.schedule_skipped.inc();
        }
        rt.planned = Some(next);
        rt.queued = Some(next);
        self.schedule.insert(done.id, next);
    }

    /// Stores an attempt, feeds the state machine and handles a state change.
    fn record(&mut self, id: CheckId, mut outcome: Outcome) {
        let at = now_ms();
        let Some(rt) = self.checks.get_mut(&id) else {
            return;
        };
        // Storage gets the packed form, the view the result itself (never copied).
        let result = std::mem::take(&mut outcome.result);
        let (name, error_kind) = (rt.cfg.name.clone(), outcome.error_kind.clone());
        let packed = match &result {
            CheckResult::Probe(r) => PackedAttempt::probe(name, at, error_kind, r),
            CheckResult::Json(v) => {
                PackedAttempt::new(name, at, outcome.up, outcome.latency_ms, error_kind, v)
            }
        };
        self.parts.storage.submit(WriteOp::Packed(packed));
        let m = &self.parts.metrics;
        rt.metrics.attempt(
            m,
            outcome.error_kind.as_deref(),
            outcome.latency_ms.filter(|_| outcome.up),
        );
        if let CheckResult::Probe(r) = &result
            && let Some(not_after) = r.tls.as_ref().and_then(|t| t.earliest_expiry)
        {
            rt.metrics.cert_expiry(m, not_after);
        }
        let transition = rt.state.handle(outcome.verdict());
        let state = rt.state.state();
        rt.cause = if state == State::Up {
            None
        } else {
            outcome.cause().or(rt.cause.take())
        };
        if let Some(t) = transition {
            rt.since_ms = at;
            self.transition(id, t, at, &outcome);
        } else if state == State::Down {
            self.repeat_alerts(id, at);
        }
        let Some(rt) = self.checks.get_mut(&id) else {
            return;
        };
        rt.metrics.set_state(rt.state.state());
        if self.events.subscribers() > 0 {
            self.events
                .publish(linkpulse_web::Event::Result(linkpulse_web::ResultEvent {
                    check: rt.cfg.name.clone(),
                    at_ms: at,
                    up: outcome.up,
                    latency_ms: outcome.latency_ms,
                    state: rt.state.state().as_str().to_owned(),
                    result: result.to_value(),
                }));
        }
        let rt = &*rt;
        let mut views = self
            .parts
            .views
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match views.get_mut(&rt.cfg.name) {
            // Only what a result changes; a node's labels can change with its report.
            Some(v) if rt.cfg.spec.kind() != CheckKind::Node => {
                v.state = rt.state.state();
                v.since_ms = rt.since_ms;
                v.last = Some(result);
                v.last_ms = Some(at);
                v.cause.clone_from(&rt.cause);
                v.diagnosis.clone_from(&rt.diagnosis);
            }
            _ => {
                let mut view = view_of(rt, None);
                view.last = Some(result);
                view.last_ms = Some(at);
                views.insert(rt.cfg.name.clone(), view);
            }
        }
    }

    fn transition(&mut self, id: CheckId, t: Transition, at: Millis, outcome: &Outcome) {
        let Some(rt) = self.checks.get_mut(&id) else {
            return;
        };
        let name = rt.cfg.name.clone();
        let cause = outcome.cause();
        tracing::info!(check = %name, from = %t.from, to = %t.to, cause = cause.as_deref().unwrap_or(""), "state change");
        let s = &self.parts.storage;
        s.submit(WriteOp::Transition(TransitionRecord {
            check: name.clone(),
            at_ms: at,
            from: t.from,
            to: t.to,
            cause: cause.clone(),
        }));
        rt.metrics.state_change(&self.parts.metrics, t.to);
        let event = if t.to == State::Down {
            s.submit(WriteOp::OpenIncident {
                check: name.clone(),
                at_ms: at,
                cause: cause.clone(),
            });
            rt.incident_ms = Some(at);
            rt.diagnosis = None;
            if let Some(p) = rt.probe.clone() {
                // Layered diagnosis (DNS → ICMP → TCP → application) runs beside the schedule;
                // its verdict is attached to the incident when it arrives.
                let (prober, tx) = (self.prober.clone(), self.cmd_tx.clone());
                let cap = p.options.timeout * 4 + Duration::from_secs(5);
                tokio::spawn(async move {
                    let run = linkpulse_probe::diagnose::diagnose(&prober, &p.target, &p.options);
                    let (verdict, detail) = match tokio::time::timeout(cap, run).await {
                        Ok(d) => (
                            d.verdict.as_str().to_owned(),
                            serde_json::to_value(&d).unwrap_or_default(),
                        ),
                        Err(_) => (
                            "inconclusive".to_owned(),
                            serde_json::json!({ "error": "the diagnosis did not finish in time" }),
                        ),
                    };
                    let _ = tx
                        .send(Command::Diagnosis {
                            id,
                            verdict,
                            detail,
                        })
                        .await;
                });
            }
            Some("down")
        } else if t.from == State::Down {
            s.submit(WriteOp::CloseIncident {
                check: name.clone(),
                at_ms: at,
            });
            rt.incident_ms = None;
            rt.diagnosis = None;
            (t.to != State::Unknown).then_some("up")
        } else if t.to == State::Unknown {
            None // a node that left gracefully pages no one
        } else if t.to == State::Degraded {
            Some("degraded")
        } else if t.from == State::Degraded {
            Some("up")
        } else {
            None // unknown → up is not news
        };
        // Published after the writes above were queued: a reader woken by this event (the
        // public status page re-reads its summary) sees the transition and the incident.
        self.events
            .publish(linkpulse_web::Event::State(linkpulse_web::StateEvent {
                check: name.clone(),
                at_ms: at,
                from: t.from.as_str().to_owned(),
                to: t.to.as_str().to_owned(),
                cause: cause.clone(),
                diagnosis: None,
            }));
        if let Some(event) = event {
            rt.last_alert.clear();
            for a in &self.alerts {
                rt.last_alert.insert(a.name.clone(), at);
            }
            // A down alert waits for the diagnosis so it can say where the fault is.
            if event == "down" && rt.probe.is_some() {
                rt.pending_down = Some((at, t.from));
                return;
            }
            if let Some((down_at, down_from)) = rt.pending_down.take() {
                self.enqueue_alerts(id, "down", State::Down, down_from, down_at, None);
            }
            self.enqueue_alerts(id, event, t.to, t.from, at, None);
        }
    }

    fn repeat_alerts(&mut self, id: CheckId, at: Millis) {
        let Some(rt) = self.checks.get_mut(&id) else {
            return;
        };
        let mut due = Vec::new();
        for a in &self.alerts {
            let Some(every) = a.repeat else { continue };
            let last = rt.last_alert.get(&a.name).copied().unwrap_or(rt.since_ms);
            let every = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
            if at.saturating_sub(last) >= every {
                rt.last_alert.insert(a.name.clone(), at);
                due.push(a.name.clone());
            }
        }
        if !due.is_empty() {
            self.enqueue_alerts(id, "repeat", State::Down, State::Down, at, Some(&due));
        }
    }

    fn enqueue_alerts(
        &self,
        id: CheckId,
        event: &str,
        state: State,
        from: State,
        at: Millis,
        only: Option<&[String]>,
    ) {
        let Some(rt) = self.checks.get(&id) else {
            return;
        };
        let payload = serde_json::json!({
            "event": event,
            "check": rt.cfg.name,
            "kind": rt.cfg.spec.kind(),
            "target": rt.cfg.spec.target(),
            "state": state,
            "previous": from,
            "at_ms": at,
            "since_ms": rt.since_ms,
            "incident_started_ms": rt.incident_ms,
            "cause": rt.cause,
            "diagnosis": rt.diagnosis,
            "labels": rt.cfg.labels,
        });
        for a in &self.alerts {
            if only.is_some_and(|o| !o.contains(&a.name)) {
                continue;
            }
            let key = format!("{}/{event}/{at}/{}", rt.cfg.name, a.name);
            let mut p = payload.clone();
            if let Some(obj) = p.as_object_mut() {
                obj.insert(
                    "idempotency_key".to_owned(),
                    serde_json::Value::String(key.clone()),
                );
                obj.insert(
                    "alert".to_owned(),
                    serde_json::Value::String(a.name.clone()),
                );
            }
            self.parts.storage.submit(WriteOp::EnqueueAlert {
                key,
                target: serde_json::to_value(&a.target).unwrap_or_default(),
                payload: p,
                at_ms: at,
            });
        }
        self.parts.alert_notify.notify_one();
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Push {
                token,
                event,
                reply,
            } => {
                let found = self.tokens.get(&token).copied();
                if let Some(id) = found {
                    self.push(id, event);
                }
                let _ = reply.send(found.is_some());
            }
            Command::Reload { config, reply } => {
                let _ = reply.send(self.reload(*config));
            }
            Command::Diagnosis {
                id,
                verdict,
                detail,
            } => self.diagnosis(id, verdict, detail),
            Command::Node(report) => self.node(*report),
        }
    }

    /// Attaches a diagnosis to check `id`'s current incident (ignored unless it is down).
    fn diagnosis(&mut self, id: CheckId, verdict: String, detail: serde_json::Value) {
        let Some(rt) = self.checks.get_mut(&id) else {
            return;
        };
        if rt.state.state() != State::Down {
            return;
        }
        rt.diagnosis = Some(verdict.clone());
        if let Some((down_at, down_from)) = rt.pending_down.take() {
            self.enqueue_alerts(id, "down", State::Down, down_from, down_at, None);
        }
        let Some(rt) = self.checks.get_mut(&id) else {
            return;
        };
        let name = rt.cfg.name.clone();
        self.parts.storage.submit(WriteOp::Diagnosis {
            check: name.clone(),
            verdict: verdict.clone(),
            detail,
        });
        self.events.publish(linkpulse_web::Event::Diagnosis(
            linkpulse_web::DiagnosisEvent {
                check: name.clone(),
                at_ms: now_ms(),
                verdict: verdict.clone(),
            },
        ));
        if let Some(v) = self.views_write().get_mut(&name) {
            v.diagnosis = Some(verdict);
        }
    }

    /// Applies a hub node's change to its `node:NAME` check, creating the check first.
    fn node(&mut self, report: NodeReport) {
        let name = format!("{NODE_PREFIX}{}", report.node);
        let id = match self.by_name.get(&name) {
            Some(id) => *id,
            None if matches!(report.event, NodeEvent::Diagnosis(_) | NodeEvent::Forgotten) => {
                return;
            }
            None => {
                let cfg = node_check(&name, &report.node, report.labels.clone(), report.interval);
                let resume = self.node_resume.remove(&name);
                let Ok(id) = self.add(cfg, resume.as_ref(), Instant::now()) else {
                    return;
                };
                self.parts
                    .metrics
                    .checks
                    .set(i64::try_from(self.checks.len()).unwrap_or(i64::MAX));
                id
            }
        };
        let Some(rt) = self.checks.get_mut(&id) else {
            return;
        };
        if rt.cfg.labels != report.labels {
            Arc::make_mut(&mut rt.cfg).labels = report.labels;
            self.relabel(id);
        }
        let Some(rt) = self.checks.get(&id) else {
            return;
        };
        let target = rt.cfg.spec.target();
        let outcome = match report.event {
            NodeEvent::Alive { warning, rtt_ms } => Outcome {
                up: true,
                warning: warning.clone(),
                latency_ms: rtt_ms,
                error_kind: None,
                error_message: None,
                result: CheckResult::Json(serde_json::json!({
                    "target": target, "kind": "node", "up": true, "warning": warning,
                    "latency_ms": rtt_ms, "error": null, "resolved": null,
                })),
            },
            NodeEvent::Dead { cause, detail } => Outcome::failure(
                &target,
                "node",
                &cause,
                detail.unwrap_or_else(|| "the session ended without GOODBYE".to_owned()),
            ),
            NodeEvent::Left => return self.node_left(id),
            NodeEvent::Forgotten => return self.forget_node(id),
            NodeEvent::Diagnosis(verdict) => {
                let detail = serde_json::json!({ "source": "hub", "verdict": verdict });
                return self.diagnosis(id, verdict, detail);
            }
        };
        self.record(id, outcome);
    }

    /// A node the hub forgot: the check is removed, an open incident closed.
    fn forget_node(&mut self, id: CheckId) {
        let Some(rt) = self.remove_check(id) else {
            return;
        };
        tracing::info!(check = %rt.cfg.name, "node forgotten: its check is removed (history kept)");
        if rt.incident_ms.is_some() {
            self.parts.storage.submit(WriteOp::CloseIncident {
                check: rt.cfg.name.clone(),
                at_ms: now_ms(),
            });
        }
        self.parts
            .metrics
            .checks
            .set(i64::try_from(self.checks.len()).unwrap_or(i64::MAX));
    }

    /// Takes a check out of the live set: schedule, names, push token, metrics and view.
    fn remove_check(&mut self, id: CheckId) -> Option<Runtime> {
        let rt = self.checks.remove(&id)?;
        self.by_name.remove(&rt.cfg.name);
        if let CheckSpec::Push { token, .. } = &rt.cfg.spec {
            self.tokens.remove(token);
        }
        self.views_write().remove(&rt.cfg.name);
        rt.metrics.forget(&self.parts.metrics);
        Some(rt)
    }

    /// A graceful leave: `unknown`, recorded as a transition, never alerted.
    fn node_left(&mut self, id: CheckId) {
        let at = now_ms();
        let Some(rt) = self.checks.get_mut(&id) else {
            return;
        };
        let from = rt.state.state();
        if from == State::Unknown {
            return;
        }
        rt.state = CheckState::restore(State::Unknown, rt.cfg.rise, rt.cfg.fall);
        rt.since_ms = at;
        rt.cause = Some("left: the node said GOODBYE".to_owned());
        let outcome = Outcome::failure(
            &rt.cfg.spec.target(),
            "node",
            "left",
            "the node said GOODBYE".to_owned(),
        );
        let t = Transition {
            from,
            to: State::Unknown,
        };
        self.transition(id, t, at, &outcome);
        let Some(rt) = self.checks.get_mut(&id) else {
            return;
        };
        rt.metrics.set_state(State::Unknown);
        let rt = &*rt;
        let mut view = view_of(rt, None);
        let mut views = self.views_write();
        if let Some(old) = views.get(&view.name) {
            (view.last, view.last_ms) = (old.last.clone(), old.last_ms);
        }
        views.insert(view.name.clone(), view);
    }

    fn push(&mut self, id: CheckId, event: PushEvent) {
        let now = Instant::now();
        let Some(rt) = self.checks.get_mut(&id) else {
            return;
        };
        let CheckSpec::Push { period, grace, .. } = rt.cfg.spec else {
            return;
        };
        let target = rt.cfg.spec.target();
        let outcome = match event {
            PushEvent::Start => {
                rt.started = Some(now);
                return;
            }
            PushEvent::Success => {
                let latency = rt
                    .started
                    .take()
                    .map(|s| now.duration_since(s).as_secs_f64() * 1000.0);
                let next = now + period + grace;
                rt.planned = Some(next);
                if rt.queued.is_none() {
                    rt.queued = Some(next);
                    self.schedule.insert(id, next);
                }
                Outcome {
                    up: true,
                    warning: None,
                    latency_ms: latency,
                    error_kind: None,
                    error_message: None,
                    result: CheckResult::Json(serde_json::json!({
                        "target": target, "kind": "push", "up": true, "warning": null,
                        "latency_ms": latency, "error": null, "resolved": null,
                    })),
                }
            }
            PushEvent::Fail => {
                rt.started = None;
                Outcome::failure(
                    &target,
                    "push",
                    "reported",
                    "the job reported a failure".to_owned(),
                )
            }
        };
        self.record(id, outcome);
    }

    fn reload(&mut self, config: Config) -> Result<ReloadSummary, String> {
        // Prepare every probe first so a bad reload changes nothing.
        for c in &config.checks {
            probe::prepare(c).map_err(|e| e.to_string())?;
        }
        let mut summary = ReloadSummary::default();
        let now = Instant::now();
        let mut keep = HashMap::new();
        for c in &config.checks {
            if let Some(id) = self.by_name.get(&c.name)
                && self.checks.get(id).is_some_and(|rt| *rt.cfg == *c)
            {
                keep.insert(c.name.clone(), *id);
            }
        }
        let old: Vec<CheckId> = self.checks.keys().copied().collect();
        for id in old {
            let Some(rt) = self.checks.get(&id) else {
                continue;
            };
            // Node checks come from the hub, not from the file: a reload keeps them.
            if keep.get(&rt.cfg.name) == Some(&id) || rt.cfg.spec.kind() == CheckKind::Node {
                continue;
            }
            let Some(rt) = self.remove_check(id) else {
                continue;
            };
            if config.checks.iter().any(|c| c.name == rt.cfg.name) {
                summary.changed += 1;
            } else {
                summary.removed += 1;
            }
        }
        self.alerts = config.alerts.clone();
        if config.metrics.labels != self.metric_labels {
            // Every kept check (node checks included) gets its series under the new labels.
            self.metric_labels.clone_from(&config.metrics.labels);
            let ids: Vec<CheckId> = self.checks.keys().copied().collect();
            for id in ids {
                self.relabel(id);
            }
        }
        if config.concurrency != self.concurrency {
            // New limits take effect for every run that starts from now on; runs already in
            // flight (or waiting for a slot) finish under the limits they started with.
            tracing::info!(
                "new concurrency limits: {} (were {})",
                config.concurrency,
                self.concurrency
            );
            self.concurrency = config.concurrency;
            (self.global, self.per_kind) = limits(config.concurrency);
        }
        for c in &config.checks {
            if keep.contains_key(&c.name) {
                summary.unchanged += 1;
                continue;
            }
            if !self.by_name.contains_key(&c.name) {
                self.add(c.clone(), None, now).map_err(|e| e.to_string())?;
            }
        }
        summary.added = config.checks.len() - summary.unchanged - summary.changed;
        self.parts
            .metrics
            .checks
            .set(i64::try_from(self.checks.len()).unwrap_or(i64::MAX));
        Ok(summary)
    }

    /// A sender for diagnosis results (used by the diagnosis task).
    pub fn diagnosis_sender(&self) -> DiagnosisSender {
        DiagnosisSender {
            tx: self.cmd_tx.clone(),
        }
    }
}

/// The global semaphore and the per-kind ones of `c` (push checks are not limited).
fn limits(c: Concurrency) -> (Arc<Semaphore>, HashMap<CheckKind, Arc<Semaphore>>) {
    let per_kind = HashMap::from([
        (CheckKind::Http, Arc::new(Semaphore::new(c.http))),
        (CheckKind::Tcp, Arc::new(Semaphore::new(c.tcp))),
        (CheckKind::Icmp, Arc::new(Semaphore::new(c.icmp))),
        (
            CheckKind::Push,
            Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
        ),
    ]);
    (Arc::new(Semaphore::new(c.global)), per_kind)
}

/// The longest a due run waits so that it starts together with others: with 2,000 runs a
/// second the engine thread then wakes for the schedule 250 times a second instead of up to
/// 1,000, and the connects a batch begins are often complete before it sleeps again.
const START_SLACK: Duration = Duration::from_millis(4);

/// Name prefix of the checks of hub nodes (`node:NAME`); config check names cannot contain `:`.
pub const NODE_PREFIX: &str = "node:";

/// The settings of a node's check: one report flips the state (rise = fall = 1).
fn node_check(
    name: &str,
    node: &str,
    labels: BTreeMap<String, String>,
    interval: Duration,
) -> CheckConfig {
    CheckConfig {
        name: name.to_owned(),
        spec: CheckSpec::Node {
            node: node.to_owned(),
        },
        interval,
        timeout: interval,
        rise: 1,
        fall: 1,
        fastinter: interval,
        downinter: interval,
        degraded_latency: None,
        cert_warn_days: 0,
        loss_threshold: 1.0,
        labels,
    }
}

/// Attaches diagnosis verdicts to incidents from outside the engine task.
#[derive(Debug, Clone)]
pub struct DiagnosisSender {
    tx: mpsc::Sender<Command>,
}

impl DiagnosisSender {
    /// Attaches `verdict` to check `id`'s current incident.
    pub async fn send(&self, id: CheckId, verdict: String, detail: serde_json::Value) {
        let _ = self
            .tx
            .send(Command::Diagnosis {
                id,
                verdict,
                detail,
            })
            .await;
    }
}
