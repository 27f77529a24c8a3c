//! The engine: the driver of the sans-IO [`Core`]. One task feeds it
//! (probe results, pushes, hub nodes, diagnoses, deadlines, reloads) with the time read once
//! per input, and carries out the effects it drains: storage writes, metrics, the dashboard's
//! event bus, the alert outbox, probe runs (bounded by global and per-kind semaphores) and
//! diagnosis tasks. It also publishes the [`Views`] snapshot the API and the dashboard read;
//! nothing flows back through it.
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

use crate::checks::{Core, Effect, HubPolicy, Now, Origin};
pub use crate::checks::{NODE_PREFIX, NodeEvent, NodeReport, PushEvent, ReloadSummary};
use crate::config::{CheckConfig, CheckKind, Concurrency, Config};
use crate::metrics::{CheckLabels, CheckSeries, Metrics};
use crate::probe::{self, CheckResult, Outcome, PreparedProbe};
use crate::schedule::CheckId;
use crate::state::State;
use crate::storage::{Attempt, Millis, PackedAttempt, Resume, Storage, WriteOp};
use linkpulse_checks::QuorumVerdict;
use linkpulse_checks::slots::Slots;

mod shard;
mod views;

pub use shard::Gained;
use shard::Shard;
pub use views::ViewTable;

/// What the API shows of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckView {
    /// Check name.
    pub name: String,
    /// `http`, `tcp`, `icmp`, `push` or `node`.
    pub kind: CheckKind,
    /// Probe target (`tcp://…`, `http(s)://…`, `icmp://…`, `push://***`, `node://NAME`), secrets masked.
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
    /// The silence or maintenance window holding its alerts now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<crate::routing::Maintenance>,
}

/// Views of every check: the snapshot the engine publishes for the HTTP API (which sorts them
/// by name) and the dashboard. Only the engine writes it; nothing is read back.
///
/// Stored by check id ([`ViewTable`]): the engine updates one view per result without
/// hashing or comparing its name.
pub type Views = Arc<RwLock<ViewTable>>;

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
    /// Cluster mode: checks this member took over (with their stored state and, for a
    /// multi-vantage check, its role) and gave up.
    Ownership {
        gained: Vec<Gained>,
        lost: Vec<String>,
    },
    /// Cluster mode: the combined verdicts of multi-vantage checks.
    Quorum(Vec<(String, QuorumVerdict)>),
    Silences(Vec<crate::routing::Silence>),
    /// Cluster mode: node checks this member came to decide (restored from their stored
    /// state) and gave up; see [`crate::hub::NodeOwners`].
    NodeOwnership {
        policy: HubPolicy,
        gained: Vec<(String, Resume)>,
        lost: Vec<String>,
    },
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

    /// Cluster mode: starts running the checks in `gained` (resuming each from its stored
    /// state) and stops those in `lost`. Blocks: call it from a plain thread (the cluster
    /// driver's), never from async code.
    pub fn ownership_blocking(&self, gained: Vec<Gained>, lost: Vec<String>) {
        let _ = self.tx.blocking_send(Command::Ownership { gained, lost });
    }

    /// Cluster mode: the combined verdicts of multi-vantage checks (see
    /// [`crate::cluster`]); each is applied by the check's decider and mirrored by its other
    /// runners. Blocks: call it from a plain thread.
    pub fn quorum_blocking(&self, verdicts: Vec<(String, QuorumVerdict)>) {
        let _ = self.tx.blocking_send(Command::Quorum(verdicts));
    }

    /// Cluster mode: this member now decides the node checks `gained` (restored in their
    /// stored state, `absent` after `policy.rejoin_grace` if their node is not reported) and
    /// no longer those in `lost` (their history stays in the shared database).
    pub async fn node_ownership(
        &self,
        policy: HubPolicy,
        gained: Vec<(String, Resume)>,
        lost: Vec<String>,
    ) -> bool {
        let cmd = Command::NodeOwnership {
            policy,
            gained,
            lost,
        };
        self.tx.send(cmd).await.is_ok()
    }

    /// Replaces the silences the router holds alerts for (after one was made or expired).
    pub async fn silences(&self, list: Vec<crate::routing::Silence>) -> bool {
        self.tx.send(Command::Silences(list)).await.is_ok()
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
    outcome: Outcome,
}

/// One run of a check, polled by the engine task.
type RunFuture = Pin<Box<dyn Future<Output = Done> + Send>>;

/// What the driver keeps per check beside the core's state: the I/O handles.
struct Runtime {
    probe: Option<Arc<PreparedProbe>>,
    /// The check's metric series, looked up once when the check is added (see [`CheckSeries`]).
    metrics: CheckSeries,
}

/// Everything the engine needs from outside.
#[derive(Debug, Clone)]
pub struct EngineParts {
    /// History backend.
    pub storage: Arc<dyn Storage>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The snapshot published for the API and the dashboard.
    pub views: Views,
    /// Woken when alerts are queued.
    pub alert_notify: Arc<Notify>,
    /// The key generated push tokens are derived from ([`crate::push::token`]), read from
    /// the database at start.
    pub push_key: String,
}

impl std::fmt::Debug for dyn Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Storage")
    }
}

/// The engine task's state: the core and the I/O it drives.
pub struct Engine {
    parts: EngineParts,
    core: Core,
    prober: Prober,
    /// Kept under the core's ids, slot for slot.
    runtimes: Slots<Runtime>,
    /// Probes prepared (and so validated) before their checks reach the core.
    prepared: HashMap<String, Arc<PreparedProbe>>,
    /// The limits `global` and `per_kind` enforce.
    concurrency: Concurrency,
    global: Arc<Semaphore>,
    per_kind: HashMap<CheckKind, Arc<Semaphore>>,
    /// `metrics.labels`: the check labels exported as metric labels.
    metric_labels: Vec<String>,
    /// The runs in flight.
    runs: FuturesUnordered<RunFuture>,
    cmd_rx: mpsc::Receiver<Command>,
    cmd_tx: mpsc::Sender<Command>,
    /// Live events for the dashboard (results, state changes, diagnoses); see
    /// [`Engine::with_events`].
    events: linkpulse_web::EventBus,
    /// Cluster mode: every check of the configuration by name, and the ones this member owns
    /// (only those are in the core). `None` outside cluster mode: the core has them all.
    cluster: Option<Shard>,
    /// Routing, grouping, silences and maintenance windows between the core and the outbox.
    router: crate::routing::Router,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("checks", &self.core.len())
            .finish()
    }
}

/// Both clocks, read once per input.
fn clock() -> Now {
    Now {
        mono: Instant::now().into_std(),
        wall_ms: crate::storage::now_ms(),
    }
}

impl Engine {
    /// Publishes results, state changes and diagnoses into `events` (the dashboard's bus).
    pub fn with_events(mut self, events: linkpulse_web::EventBus) -> Engine {
        self.events = events;
        self
    }

    /// Cluster mode: tells `driver` the configuration's checks after each reload.
    pub fn with_cluster(mut self, driver: crate::cluster::ClusterNotifier) -> Engine {
        if let Some(shard) = self.cluster.as_mut() {
            shard.driver = Some(driver);
        }
        self
    }

    /// Holds alerts for `silences` (read from the database at start).
    pub fn with_silences(mut self, silences: Vec<crate::routing::Silence>) -> Engine {
        self.set_silences(silences);
        self
    }

    fn set_silences(&mut self, silences: Vec<crate::routing::Silence>) {
        self.router.set_silences(silences, crate::storage::now_ms());
        self.route_out();
        self.refresh_holds();
    }

    /// Queues the router's notifications in the outbox.
    fn route_out(&mut self) {
        let mut any = false;
        while let Some(n) = self.router.poll_notification() {
            any = true;
            self.parts.storage.submit(crate::routing::enqueue(n));
        }
        if any {
            self.parts.alert_notify.notify_one();
        }
    }

    /// Every view's `maintenance` as the silences and windows say now.
    fn refresh_holds(&self) {
        let now = crate::storage::now_ms();
        let mut views = self.views_write();
        for id in self.core.ids() {
            let Some(c) = self.core.check(id) else {
                continue;
            };
            let cfg = c.cfg();
            if let Some(v) = views.get_mut(id) {
                v.maintenance = self
                    .router
                    .hold(&cfg.name, &cfg.labels, now)
                    .map(Into::into);
            }
        }
    }

    /// Builds the engine for `config`, resuming each check's state from `resume`.
    pub fn new(
        config: &Config,
        parts: EngineParts,
        mut resume: HashMap<String, Resume>,
    ) -> Result<(Engine, EngineHandle), probe::PrepareError> {
        let (cmd_tx, cmd_rx) = mpsc::channel(1024);
        let c = config.concurrency;
        let (global, per_kind) = limits(c);
        let mut engine = Engine {
            parts,
            core: Core::new(config.alerts.clone(), rand::random()),
            prober: Prober::new(),
            runtimes: Slots::new(),
            prepared: HashMap::new(),
            concurrency: c,
            global,
            per_kind,
            metric_labels: config.metrics.labels.clone(),
            runs: FuturesUnordered::new(),
            cmd_rx,
            cmd_tx: cmd_tx.clone(),
            events: linkpulse_web::EventBus::new(16),
            cluster: None,
            router: crate::routing::router(config, crate::storage::now_ms()),
        };
        let mut checks = config.checks.clone();
        crate::push::token::resolve(&mut checks, &engine.parts.push_key);
        engine.prepare(&checks)?;
        let now = clock();
        if let Some(cluster) = &config.cluster {
            // A member starts with no check: the cluster driver hands it its share.
            engine.cluster = Some(Shard::new(cluster, checks.drain(..)));
        }
        let checks = checks.into_iter().map(|cfg| {
            let origin = resume
                .remove(&cfg.name)
                .map_or(Origin::Fresh, Origin::Resume);
            (cfg, origin)
        });
        engine.core.add_checks(checks, now);
        // Cluster mode: a node's check is decided by its owner only, restored when it gains
        // it (`crate::hub::feed`), not here.
        if let Some(hub) = config.hub.as_ref().filter(|_| config.cluster.is_none()) {
            let hub = hub.clone().clamped();
            let policy = crate::checks::hub_policy(&hub);
            let nodes = resume
                .into_iter()
                .filter(|(name, _)| name.starts_with(NODE_PREFIX));
            engine.core.restore_nodes(policy, nodes, now);
        }
        engine.drain();
        engine.prepared = HashMap::new();
        Ok((engine, EngineHandle { tx: cmd_tx }))
    }

    /// Prepares the probe of every active check in `checks` (all or nothing).
    fn prepare(&mut self, checks: &[CheckConfig]) -> Result<(), probe::PrepareError> {
        let mut prepared = HashMap::new();
        // Checks with the same settings share one set of probe options.
        let mut preparer = probe::Preparer::default();
        for c in checks {
            if let Some(p) = preparer.prepare(c)? {
                prepared.insert(c.name.clone(), Arc::new(p));
            }
        }
        self.prepared = prepared;
        Ok(())
    }

    fn views_write(&self) -> std::sync::RwLockWriteGuard<'_, ViewTable> {
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
        let Some(c) = self.core.check(id) else {
            return;
        };
        let (labels, state) = (self.metric_labels_of(c.cfg()), c.state());
        let Some(rt) = self.runtimes.get_mut(&id) else {
            return;
        };
        if *rt.metrics.labels() == labels {
            return;
        }
        let m = &self.parts.metrics;
        let fresh = CheckSeries::new(m, labels, state);
        std::mem::replace(&mut rt.metrics, fresh).forget(m);
    }

    /// The check's snapshot entry rebuilt from the core, keeping the last result shown.
    fn refresh_view(&self, id: CheckId, last: Option<(CheckResult, Millis)>) {
        let Some(c) = self.core.check(id) else {
            return;
        };
        let cfg = c.cfg();
        let mut views = self.views_write();
        if let Some(v) = views.get_mut(id) {
            v.state = c.state();
            v.since_ms = c.since_ms();
            v.cause = c.cause().cloned();
            v.diagnosis = c.diagnosis().cloned();
            if let Some((result, at)) = last {
                (v.last, v.last_ms) = (Some(result), Some(at));
            }
            if cfg.spec.kind() == CheckKind::Node && v.labels != cfg.labels {
                v.labels.clone_from(&cfg.labels);
                // Labels decide which silences and windows match.
                v.maintenance = self.hold(cfg);
            }
            // `maintenance` is kept by `refresh_holds`, which runs whenever a hold can change
            // (a silence made or expired, a window's edge, a reload): not per result.
            return;
        }
        let (last, last_ms) = last.map_or((None, None), |(r, at)| (Some(r), Some(at)));
        views.insert(
            id,
            CheckView {
                name: cfg.name.clone(),
                kind: cfg.spec.kind(),
                target: cfg.spec.target(),
                state: c.state(),
                since_ms: c.since_ms(),
                last,
                last_ms,
                cause: c.cause().cloned(),
                diagnosis: c.diagnosis().cloned(),
                interval_ms: u64::try_from(cfg.interval.as_millis()).unwrap_or(u64::MAX),
                labels: cfg.labels.clone(),
                maintenance: self.hold(cfg),
            },
        );
    }

    fn hold(&self, cfg: &CheckConfig) -> Option<crate::routing::Maintenance> {
        let now = crate::storage::now_ms();
        self.router
            .hold(&cfg.name, &cfg.labels, now)
            .map(Into::into)
    }

    /// Carries out every effect the core has queued.
    fn drain(&mut self) {
        let mut alerted = false;
        let mut counted = false;
        // Room for the checks just added, sized as the core's slots (never doubled).
        self.runtimes.reserve_slots(self.core.slot_count());
        self.views_write().reserve_slots(self.core.slot_count());
        while let Some(effect) = self.core.poll_effect() {
            match effect {
                Effect::Added { id, last } => {
                    counted = true;
                    self.added(id, last);
                }
                Effect::Removed {
                    id,
                    name,
                    forgotten,
                } => {
                    counted = true;
                    if forgotten {
                        tracing::info!(check = %name, "node forgotten: its check is removed (history kept)");
                    }
                    self.router.forget(&name);
                    self.views_write().remove(id);
                    if let Some(rt) = self.runtimes.remove(&id) {
                        rt.metrics.forget(&self.parts.metrics);
                    }
                }
                Effect::Relabeled { id } => {
                    self.relabel(id);
                    self.refresh_view(id, None);
                }
                Effect::Run { id, planned, cfg } => self.start_run(id, planned, cfg),
                Effect::Skipped { .. } => {
                    self.parts.metrics.schedule_skipped.inc();
                }
                Effect::Attempt { id, at_ms, outcome } => self.attempt(id, at_ms, outcome),
                Effect::Write(op) => self.parts.storage.submit(op.into()),
                Effect::Transition {
                    id,
                    at_ms,
                    transition: t,
                    cause,
                } => {
                    let Some(c) = self.core.check(id) else {
                        continue;
                    };
                    let name = c.cfg().name.clone();
                    tracing::info!(check = %name, from = %t.from, to = %t.to, cause = cause.as_deref().unwrap_or(""), "state change");
                    if let Some(rt) = self.runtimes.get_mut(&id) {
                        rt.metrics.state_change(&self.parts.metrics, t.to);
                        rt.metrics.set_state(c.state());
                    }
                    self.events
                        .publish(linkpulse_web::Event::State(linkpulse_web::StateEvent {
                            check: name,
                            at_ms,
                            from: t.from.as_str().to_owned(),
                            to: t.to.as_str().to_owned(),
                            cause,
                            diagnosis: None,
                        }));
                    self.refresh_view(id, None);
                }
                Effect::Alert(alert) => {
                    alerted = true;
                    self.router.handle_alert(*alert, crate::storage::now_ms());
                }
                Effect::Diagnose { id } => self.diagnose(id),
                Effect::Decided { id } => {
                    if let (Some(c), Some(rt)) = (self.core.check(id), self.runtimes.get_mut(&id)) {
                        rt.metrics.set_state(c.state());
                    }
                    self.refresh_view(id, None);
                }
                Effect::Diagnosed { id, at_ms, verdict } => {
                    let Some(c) = self.core.check(id) else {
                        continue;
                    };
                    self.events.publish(linkpulse_web::Event::Diagnosis(
                        linkpulse_web::DiagnosisEvent {
                            check: c.cfg().name.clone(),
                            at_ms,
                            verdict,
                        },
                    ));
                    self.refresh_view(id, None);
                }
            }
        }
        if alerted {
            self.route_out();
        }
        if counted {
            self.parts
                .metrics
                .checks
                .set(i64::try_from(self.core.len()).unwrap_or(i64::MAX));
        }
    }

    /// A check joined: its probe, metric series and snapshot entry.
    fn added(&mut self, id: CheckId, last: Option<Attempt>) {
        let Some(c) = self.core.check(id) else {
            return;
        };
        let cfg = c.cfg().clone();
        let probe = match self.prepared.remove(&cfg.name) {
            Some(p) => Some(p),
            None => match probe::prepare(&cfg) {
                Ok(p) => p.map(Arc::new),
                Err(e) => {
                    tracing::warn!(check = %cfg.name, error = %e, "could not prepare a check's probe");
                    None
                }
            },
        };
        let metrics = CheckSeries::new(&self.parts.metrics, self.metric_labels_of(&cfg), c.state());
        self.runtimes.insert(id, Runtime { probe, metrics });
        self.refresh_view(id, last.map(|a| (CheckResult::Json(a.result), a.at_ms)));
    }

    /// Stores an attempt, counts it, publishes it and shows it in the snapshot.
    fn attempt(&mut self, id: CheckId, at: Millis, mut outcome: Outcome) {
        let (Some(c), Some(rt)) = (self.core.check(id), self.runtimes.get_mut(&id)) else {
            return;
        };
        let cfg = c.cfg();
        // Storage gets the packed form, the snapshot the result itself (never copied).
        let result = std::mem::take(&mut outcome.result);
        let (name, error_kind) = (cfg.name.clone(), outcome.error_kind.clone());
        let mut packed = match &result {
            CheckResult::Probe(r) => PackedAttempt::probe(name, at, error_kind, r),
            CheckResult::Json(v) => {
                PackedAttempt::new(name, at, outcome.up, outcome.latency_ms, error_kind, v)
            }
        };
        if cfg.vantage.is_some()
            && let Some(shard) = &self.cluster
        {
            // One vantage's witness: stored with where it was seen from.
            packed = packed.with_vantage(shard.tag.clone());
        }
        self.parts.storage.submit(WriteOp::Packed(packed));
        let m = &self.parts.metrics;
        if outcome.is_local() {
            let permission = outcome.error_kind.as_deref()
                == Some(linkpulse_probe::ErrorKind::Permission.as_str());
            let message = outcome.error_message.as_deref().unwrap_or("");
            note_local_fault(m, &cfg.name, message, permission);
        }
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
        let state = c.state();
        rt.metrics.set_state(state);
        if self.events.subscribers() > 0 {
            self.events
                .publish(linkpulse_web::Event::Result(linkpulse_web::ResultEvent {
                    check: cfg.name.clone(),
                    at_ms: at,
                    up: outcome.up,
                    latency_ms: outcome.latency_ms,
                    state: state.as_str().to_owned(),
                    result: result.to_value(),
                }));
        }
        self.refresh_view(id, Some((result, at)));
    }

    /// Starts one probe run, bounded by the global and per-kind semaphores.
    fn start_run(&mut self, id: CheckId, planned: std::time::Instant, cfg: Arc<CheckConfig>) {
        let probe = self.runtimes.get(&id).and_then(|rt| rt.probe.clone());
        let global = self.global.clone();
        let kind = self.per_kind.get(&cfg.spec.kind()).cloned();
        let prober = self.prober.clone();
        let metrics = self.parts.metrics.clone();
        let planned = Instant::from_std(planned);
        self.runs.push(Box::pin(async move {
            let Some(probe) = probe else {
                let outcome = Outcome::failure(
                    &cfg.spec.target(),
                    cfg.spec.kind().as_str(),
                    "internal",
                    "the check has no probe".to_owned(),
                );
                return Done { id, outcome };
            };
            let _g = global.acquire_owned().await;
            let _k = match kind {
                Some(k) => k.acquire_owned().await.ok(),
                None => None,
            };
            let lag = Instant::now().saturating_duration_since(planned);
            metrics.schedule_lag_seconds.observe(lag.as_secs_f64());
            let outcome = probe::run(&prober, &cfg, &probe).await;
            Done { id, outcome }
        }));
    }

    /// Layered diagnosis (DNS → ICMP → TCP → application) beside the schedule; its verdict
    /// comes back as a command.
    fn diagnose(&self, id: CheckId) {
        let Some(p) = self.runtimes.get(&id).and_then(|rt| rt.probe.clone()) else {
            return;
        };
        let (prober, tx) = (self.prober.clone(), self.cmd_tx.clone());
        let cap = p.options.timeout * 4 + Duration::from_secs(5);
        tokio::spawn(async move {
            let run = linkpulse_probe::diagnose::diagnose(&prober, &p.target, &p.options);
            let (verdict, detail) = match tokio::time::timeout(cap, run).await {
                Ok(d) => {
                    let mut detail = serde_json::to_value(&d).unwrap_or_default();
                    probe::mask_json(&p.redact, &mut detail);
                    (d.verdict.as_str().to_owned(), detail)
                }
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

    /// Runs until `shutdown` resolves; in-flight runs are abandoned, queued writes are kept.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        // When runs were last started: the schedule wakes the thread at most once per
        // `START_SLACK` (the runs due meanwhile start together, late by less than that).
        let mut started = Instant::now();
        loop {
            let now = clock();
            let mono = Instant::from_std(now.mono);
            if self.core.poll_timeout().is_some_and(|d| d <= now.mono) {
                started = mono;
                self.core.handle_timeout(now);
                self.drain();
            }
            if self
                .router
                .poll_timeout(now.wall_ms)
                .is_some_and(|t| t <= now.wall_ms)
            {
                self.router.handle_timeout(now.wall_ms);
                self.route_out();
                self.refresh_holds();
            }
            let routed = self.router.poll_timeout(now.wall_ms).map(|t| {
                let wait = u64::try_from(t.saturating_sub(now.wall_ms)).unwrap_or(0);
                mono + Duration::from_millis(wait)
            });
            let deadline = self
                .core
                .poll_timeout()
                .map_or(mono + Duration::from_secs(3600), |d| {
                    Instant::from_std(d).max(started + START_SLACK)
                });
            let deadline = routed.map_or(deadline, |r| deadline.min(r));
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep_until(deadline) => {}
                Some(done) = self.runs.next(), if !self.runs.is_empty() => {
                    self.core.handle_result(done.id, done.outcome, clock());
                }
                Some(cmd) = self.cmd_rx.recv() => self.command(cmd),
            }
            self.drain();
        }
    }

    fn command(&mut self, cmd: Command) {
        let now = clock();
        match cmd {
            Command::Push {
                token,
                event,
                reply,
            } => {
                let found = self.core.handle_push(&token, event, now);
                self.drain();
                let _ = reply.send(found);
            }
            Command::Reload { config, reply } => {
                let _ = reply.send(self.reload(*config, now));
            }
            Command::Diagnosis {
                id,
                verdict,
                detail,
            } => self.core.handle_diagnosis(id, verdict, detail, now),
            Command::Node(report) => self.core.handle_node(*report, now),
            Command::Ownership { gained, lost } => self.ownership(gained, lost, now),
            Command::Quorum(verdicts) => self.quorum(verdicts, now),
            Command::Silences(list) => self.set_silences(list),
            Command::NodeOwnership {
                policy,
                gained,
                lost,
            } => self.node_ownership(policy, gained, lost, now),
        }
    }

    fn reload(&mut self, mut config: Config, now: Now) -> Result<ReloadSummary, String> {
        crate::push::token::resolve(&mut config.checks, &self.parts.push_key);
        // Prepare every probe first so a bad reload changes nothing.
        self.prepare(&config.checks).map_err(|e| e.to_string())?;
        if let Some(shard) = self.cluster.as_mut() {
            shard.reload(&mut config.checks);
        }
        let summary = self.core.reload(&config.checks, config.alerts.clone(), now);
        if let Some(shard) = &self.cluster {
            let roles: Vec<_> = shard.roles.iter().map(|(n, r)| (n.clone(), *r)).collect();
            self.apply_roles(roles);
        }
        self.router.set_routes(crate::routing::routes(&config));
        self.router
            .set_windows(config.maintenance.clone(), now.wall_ms);
        self.route_out();
        self.refresh_holds();
        if config.metrics.labels != self.metric_labels {
            // Every kept check (node checks included) gets its series under the new labels.
            self.metric_labels.clone_from(&config.metrics.labels);
            let ids: Vec<CheckId> = self.core.ids().collect();
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
        self.drain();
        self.prepared = HashMap::new();
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
    // Data checks (postgres, redis, mysql) share the TCP limit.
    let tcp = Arc::new(Semaphore::new(c.tcp));
    let per_kind = HashMap::from([
        (CheckKind::Http, Arc::new(Semaphore::new(c.http))),
        (CheckKind::Tcp, tcp.clone()),
        (CheckKind::Postgres, tcp.clone()),
        (CheckKind::Mysql, tcp.clone()),
        (CheckKind::Redis, tcp),
        (CheckKind::Icmp, Arc::new(Semaphore::new(c.icmp))),
        (
            CheckKind::Push,
            Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
        ),
    ]);
    (Arc::new(Semaphore::new(c.global)), per_kind)
}

/// The longest a due run waits so that it starts together with others: with 2,000 runs a
/// second the engine thread then wakes for the schedule about 330 times a second instead of
/// up to 1,000, and the connects a batch begins are often complete before it sleeps again.
///
/// 3 ms, not 4: a run's lag is this wait (spread evenly up to the slack) plus the time the
/// batch takes to start; with 4 ms, 10–20 % of runs were later than 4 ms, which put the lag
/// p99 (`linkpulse_schedule_lag_seconds`, buckets 4 and 8 ms) near 7.7 ms by interpolation.
const START_SLACK: Duration = Duration::from_millis(3);

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

/// Counts and reports a probe of `check` that failed for a reason of the monitor's own: the
/// check's state is untouched (the core gives no verdict), `/readyz` turns not ready.
fn note_local_fault(m: &Metrics, check: &str, message: &str, permission: bool) {
    let reason = if permission {
        "no_permission"
    } else {
        linkpulse_probe::LocalReason::of_message(message)
            .map_or("other", linkpulse_probe::LocalReason::as_str)
    };
    m.probe_local_errors
        .get_or_create(&crate::metrics::ReasonLabels {
            reason: reason.to_owned(),
        })
        .inc();
    let what = format!("check {check:?}");
    if m.health
        .local_fault(std::time::Instant::now(), &what, message)
    {
        tracing::warn!(
            check,
            reason,
            error = message,
            "a probe failed for a reason of the monitor's own; no check's state changes for such failures (logged once per 30 s)"
        );
    }
}
