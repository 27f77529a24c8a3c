//! The hub: accepts agent sessions, keeps the [`Registry`] current, tells watchers, and
//! diagnoses dead nodes.
//!
//! Plain-TCP sessions are hosted many per thread by the `driver` event loop (one
//! compact slot per session, one timer heap, one shared read buffer); TLS sessions each run in
//! their own task (a [`linkpulse_net::Connection`]). Either way a peer that sends garbage, an
//! oversized frame, a wrong proof, nothing at all, or stops reading ends only its own session.
//! The accept loop bounds the number of open sessions and the rate of new connections (a
//! token bucket); connections over either bound are closed at once. Session events reach the
//! [`Registry`] through one function, `Hub::apply`, in batches from the event loop.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use linkpulse_net::{Connection, ConnectionConfig, ConnectionHandle, local_incarnation};
use linkpulse_probe::Prober;
use linkpulse_proto::{Authenticator, Event, GoodbyeReason, Incarnation, Role, SessionConfig};
use rand::RngCore;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

use crate::auth::{HubAuth, HubKeys, SecretError};
use crate::diagnose::diagnose;
use crate::driver::{Followup, Member, prepare_socket};
use crate::registry::{Change, ChangeKind, Join, Node, NodeState, Registry, SessionId};
use crate::settings::HubConfig;
use crate::shared::SharedView;
use crate::tls::TlsError;

/// Changes buffered per watcher before it is resynchronised with a fresh snapshot.
const WATCH_BUFFER: usize = 4096;

/// Why the hub could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The secret file is unusable.
    #[error("hub.secret_file: {0}")]
    Secret(#[from] SecretError),
    /// The listening socket could not be bound.
    #[error("cannot listen for agents on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The TLS settings are unusable.
    #[error("hub TLS: {0}")]
    Tls(#[from] TlsError),
    /// The session parameters derived from the configuration are invalid.
    #[error("invalid hub session settings: {0}")]
    Session(#[from] linkpulse_proto::ConfigError),
    /// The event loop that drives plain-TCP sessions could not start (epoll or thread).
    #[error("cannot start the hub's session event loop: {0}")]
    EventLoop(std::io::Error),
}

/// Counters of the accept path, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Sessions open now (handshaking or established).
    pub open: usize,
    /// Connections accepted since start.
    pub accepted: u64,
    /// Connections closed at once because `max_sessions` were open.
    pub rejected_full: u64,
    /// Connections closed at once because of the handshake rate limit.
    pub rejected_rate: u64,
    /// Sessions that ended before completing the handshake (bad proof, garbage, silence).
    pub failed_handshakes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    open: AtomicUsize,
    accepted: AtomicU64,
    rejected_full: AtomicU64,
    rejected_rate: AtomicU64,
    failed_handshakes: AtomicU64,
}

pub(crate) struct State {
    registry: Registry,
    /// Changes for every watcher. Shared (`Arc`): the ring of `WATCH_BUFFER` slots then holds
    /// a pointer each, not a whole `Change`, so filling it once (a burst of joins) leaves
    /// ~0.1 MB resident instead of ~1.4 MB; a change's memory goes when every watcher has
    /// read it.
    watchers: broadcast::Sender<Arc<Change>>,
    /// Handles of established sessions that run in their own task (TLS), to close one that
    /// a new session replaces. Event-loop sessions have no entry (it would cost every
    /// session ~60 bytes for a rare event): a loop finds the session to close by its id
    /// ([`Followup::Close`]).
    handles: HashMap<SessionId, ConnectionHandle>,
    /// Cluster mode: this registry merged with the other members' nodes; watchers and
    /// listings see the merged view ([`Hub::share_as`]).
    shared: Option<SharedView>,
}

impl State {
    /// Sends every pending registry change to the watchers (through the merged view in
    /// cluster mode).
    pub(crate) fn publish(&mut self) {
        let now = SystemTime::now();
        while let Some(change) = self.registry.poll_change() {
            match self.shared.as_mut() {
                Some(view) => view.handle_local(&change, now),
                None => self.send(change),
            }
        }
        self.publish_shared();
    }

    /// Sends the merged view's pending changes to the watchers.
    fn publish_shared(&mut self) {
        while let Some(change) = self.shared.as_mut().and_then(SharedView::poll_change) {
            self.send(change);
        }
    }

    fn send(&self, change: Change) {
        tracing::debug!(
            event = change.event.as_str(),
            node = %change.node.name,
            revision = change.revision,
            from = change.from.as_deref(),
            "node change"
        );
        // No watcher is not an error.
        let _ = self.watchers.send(Arc::new(change));
    }

    /// The revision and nodes watchers see: the merged view's in cluster mode.
    fn listing(&self) -> (u64, Vec<Node>) {
        match &self.shared {
            Some(view) => (view.revision(), view.nodes().cloned().collect()),
            None => (self.registry.revision(), self.registry.nodes().collect()),
        }
    }
}

struct Inner {
    config: HubConfig,
    auth: Option<Arc<dyn Authenticator>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    incarnation: Incarnation,
    state: Mutex<State>,
    prober: Prober,
    counters: Counters,
    /// The event loops running this hub's sessions (one per [`Hub::run`]), to close a session
    /// by its id in whichever holds it.
    loops: Mutex<Vec<std::sync::Weak<crate::driver::LoopTx>>>,
}

/// A running registry of agents. Cheap to clone; every clone is the same hub.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// What a watcher starts from: the current nodes, the revision they reflect, and the
/// changes after it.
#[derive(Debug)]
pub struct Subscription {
    /// The revision of the snapshot.
    pub revision: u64,
    /// Every node at that revision.
    pub nodes: Vec<Node>,
    /// Changes with revisions above `revision`, in order (shared between watchers).
    pub changes: broadcast::Receiver<Arc<Change>>,
}

impl Hub {
    /// A hub with `config` (clamped); reads the secret file if one is given.
    pub fn new(config: HubConfig) -> Result<Hub, HubError> {
        let config = config.clamped();
        let auth: Option<Arc<dyn Authenticator>> = match &config.secret_file {
            Some(path) => Some(Arc::new(HubAuth::new(HubKeys::from_file(path)?))),
            None => None,
        };
        Self::with_auth(config, auth)
    }

    /// A hub with an explicit authenticator (e.g. keys not read from a file).
    pub fn with_keys(config: HubConfig, keys: HubKeys) -> Result<Hub, HubError> {
        Self::with_auth(config.clamped(), Some(Arc::new(HubAuth::new(keys))))
    }

    fn with_auth(config: HubConfig, auth: Option<Arc<dyn Authenticator>>) -> Result<Hub, HubError> {
        let (watchers, _) = broadcast::channel(WATCH_BUFFER);
        let tls = match &config.tls {
            Some(t) => Some(tokio_rustls::TlsAcceptor::from(crate::tls::server_config(
                t,
            )?)),
            None => None,
        };
        let hub = Hub {
            inner: Arc::new(Inner {
                config,
                auth,
                tls,
                incarnation: local_incarnation(),
                state: Mutex::new(State {
                    registry: Registry::new(),
                    watchers,
                    handles: HashMap::new(),
                    shared: None,
                }),
                prober: Prober::new(),
                counters: Counters::default(),
                loops: Mutex::new(Vec::new()),
            }),
        };
        // Validate the session settings once, so a bad value fails at start, not per agent.
        hub.session_config(Bytes::from_static(b"validate"))
            .validate(true)?;
        Ok(hub)
    }

    /// The settings in force (after clamping).
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// Binds the configured listen address.
    pub async fn bind(&self) -> Result<TcpListener, HubError> {
        let addr = self.inner.config.listen;
        TcpListener::bind(addr)
            .await
            .map_err(|source| HubError::Bind { addr, source })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: keep going.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every node, by name (in cluster mode, every member's).
    pub fn nodes(&self) -> Vec<Node> {
        self.list().1
    }

    /// The current revision and every node at it (in cluster mode, the merged view's).
    pub fn list(&self) -> (u64, Vec<Node>) {
        self.lock().listing()
    }

    /// One node (in cluster mode, as the merged view shows it).
    pub fn node(&self, name: &str) -> Option<Node> {
        let state = self.lock();
        match &state.shared {
            Some(view) => view.get(name).cloned(),
            None => state.registry.get(name),
        }
    }

    /// The current nodes and a receiver of every later change, taken atomically.
    pub fn subscribe(&self) -> Subscription {
        let state = self.lock();
        let (revision, nodes) = state.listing();
        Subscription {
            revision,
            nodes,
            changes: state.watchers.subscribe(),
        }
    }

    /// The nodes whose sessions this hub holds (its own registry, also in cluster mode) and
    /// the registry's revision: what a cluster member publishes to the others.
    pub fn local_nodes(&self) -> (u64, Vec<Node>) {
        let state = self.lock();
        (state.registry.revision(), state.registry.nodes().collect())
    }

    /// The registry's revision (it grows with every change of this hub's own nodes).
    pub fn local_revision(&self) -> u64 {
        self.lock().registry.revision()
    }

    /// Cluster mode: from now on watchers and listings see this hub's nodes merged with the
    /// other members' (see [`SharedView`]); `member` is this member's name, `transit` how long
    /// the nodes of a member whose lease lapsed wait for their agents to reappear elsewhere.
    /// Watchers get the merged view's revisions from here on (through a fresh snapshot).
    pub fn share_as(&self, member: &str, transit: Duration) {
        let mut state = self.lock();
        let mut view = SharedView::new(member, transit);
        let now = SystemTime::now();
        let nodes: Vec<Node> = state.registry.nodes().collect();
        for node in nodes {
            let change = Change {
                revision: 0,
                event: ChangeKind::Join,
                node,
                from: None,
                to: None,
            };
            view.handle_local(&change, now);
        }
        while view.poll_change().is_some() {}
        state.shared = Some(view);
    }

    /// Cluster mode: feeds the merged view (the other members' rows, the live members, a
    /// timeout) and sends what changed to the watchers. `None` when sharing is off.
    pub fn with_shared<R>(&self, f: impl FnOnce(&mut SharedView) -> R) -> Option<R> {
        let mut state = self.lock();
        let out = state.shared.as_mut().map(f);
        state.publish_shared();
        out
    }

    /// Counters of the accept path.
    pub fn stats(&self) -> HubStats {
        let c = &self.inner.counters;
        HubStats {
            open: c.open.load(Ordering::Relaxed),
            accepted: c.accepted.load(Ordering::Relaxed),
            rejected_full: c.rejected_full.load(Ordering::Relaxed),
            rejected_rate: c.rejected_rate.load(Ordering::Relaxed),
            failed_handshakes: c.failed_handshakes.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn session_config(&self, challenge: Bytes) -> SessionConfig {
        let c = &self.inner.config;
        let mut s = SessionConfig::new(c.name.clone(), self.inner.incarnation);
        s.interval = c.interval;
        s.min_interval = c.interval;
        s.max_interval = c.interval;
        s.detector = c.detector_policy();
        s.handshake_timeout = c.handshake_timeout;
        s.authenticator = self.inner.auth.clone();
        s.challenge = challenge;
        s.coalesce_pings = true;
        s.rtt_sample_every = c.rtt_sample_every;
        s
    }

    /// The kernel backstop applied to every agent socket.
    pub(crate) fn keepalive(&self) -> Option<linkpulse_net::KeepaliveProfile> {
        ConnectionConfig::new(self.session_config(Bytes::new())).keepalive
    }

    /// Records a started event loop (and forgets the ones that ended).
    pub(crate) fn add_loop(&self, tx: std::sync::Weak<crate::driver::LoopTx>) {
        let mut loops = self
            .inner
            .loops
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loops.retain(|l| l.strong_count() > 0);
        loops.push(tx);
    }

    /// Asks every event loop to close the session `session` with GOODBYE (only the one that
    /// holds it does anything).
    fn close_in_loops(&self, session: SessionId, reason: GoodbyeReason, text: &str) {
        let loops: Vec<_> = self
            .inner
            .loops
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .collect();
        for tx in loops {
            tx.close_session(session, reason, text);
        }
    }

    /// Counts a session that ended (or was never admitted) as no longer open.
    pub(crate) fn session_closed(&self) {
        self.inner.counters.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Accepts agents on `listener` until `shutdown` completes; then closes every session
    /// with GOODBYE.
    pub async fn run(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), HubError> {
        let mut bucket = TokenBucket::new(self.inner.config.handshake_rate, Instant::now());
        // Plain TCP sessions live in the event loop; it stops (closing its sessions with
        // GOODBYE) when this guard is dropped, also if this future is dropped.
        let event_loop = match &self.inner.tls {
            None => Some(
                crate::driver::EventLoop::start(self.clone(), tokio::runtime::Handle::current())
                    .map_err(HubError::EventLoop)?,
            ),
            Some(_) => None,
        };
        tokio::pin!(shutdown);
        let forget_after = self.inner.config.forget_after;
        let mut forget_tick = tokio::time::interval(
            (forget_after / 8).clamp(Duration::from_millis(100), Duration::from_secs(60)),
        );
        forget_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = forget_tick.tick() => self.forget_gone(forget_after),
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => self.admit(stream, peer, &mut bucket, event_loop.as_ref()),
                    Err(err) => {
                        // E.g. out of file descriptors: only this attempt failed.
                        tracing::warn!(%err, "hub cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        // Task sessions; the event loop's own are closed when it is dropped.
        let handles: Vec<ConnectionHandle> = self.lock().handles.values().cloned().collect();
        for h in handles {
            h.close(GoodbyeReason::Shutdown, "hub shutting down");
        }
        drop(event_loop);
        Ok(())
    }

    /// Forgets the nodes dead or left for longer than `forget_after`.
    fn forget_gone(&self, forget_after: Duration) {
        let Some(cutoff) = SystemTime::now().checked_sub(forget_after) else {
            return;
        };
        let mut state = self.lock();
        let n = state.registry.forget_before(cutoff);
        if n > 0 {
            tracing::info!(
                nodes = n,
                forget_after_s = forget_after.as_secs(),
                "forgot nodes gone for longer than forget_after"
            );
            state.publish();
        }
    }

    fn admit(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        bucket: &mut TokenBucket,
        event_loop: Option<&crate::driver::EventLoop>,
    ) {
        let c = &self.inner.counters;
        if !bucket.take(Instant::now()) {
            c.rejected_rate.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "handshake rate limit: connection closed");
            return;
        }
        if c.open.load(Ordering::Relaxed) >= self.inner.config.max_sessions {
            c.rejected_full.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "max_sessions reached: connection closed");
            return;
        }
        c.accepted.fetch_add(1, Ordering::Relaxed);
        c.open.fetch_add(1, Ordering::Relaxed);
        if let Some(event_loop) = event_loop {
            // Plain TCP: the event loop owns the session from here (and counts it closed).
            event_loop.add(stream, peer);
            return;
        }
        let slot = OpenSlot(Arc::clone(&self.inner));
        let mut challenge = vec![0u8; 16];
        rand::rng().fill_bytes(&mut challenge);
        let mut config = ConnectionConfig::new(self.session_config(Bytes::from(challenge)));
        config.linger = Duration::from_millis(200);
        config.event_capacity = 64;
        let hub = self.clone();
        tokio::spawn(async move {
            if let Err(err) = prepare_socket(&stream, config.keepalive.as_ref()) {
                tracing::warn!(%peer, %err, "cannot set up an agent socket");
                return;
            }
            let conn = match &hub.inner.tls {
                None => Connection::from_stream(stream, Role::Server, config),
                Some(acceptor) => {
                    let budget = hub.inner.config.handshake_timeout;
                    match tokio::time::timeout(budget, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => Connection::from_stream(tls, Role::Server, config),
                        Ok(Err(err)) => {
                            hub.failed_handshake(peer, &format!("TLS: {err}"));
                            return;
                        }
                        Err(_) => {
                            hub.failed_handshake(peer, "no TLS handshake in time");
                            return;
                        }
                    }
                }
            };
            match conn {
                Ok(conn) => hub.serve(conn, peer).await,
                Err(err) => tracing::warn!(%peer, %err, "cannot start an agent session"),
            }
            drop(slot);
        });
    }

    pub(crate) fn failed_handshake(&self, peer: SocketAddr, why: &str) {
        self.inner
            .counters
            .failed_handshakes
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%peer, why, "agent session failed before the handshake");
    }

    /// Follows one agent session (in its own task) from handshake to death.
    async fn serve(&self, mut conn: Connection, peer: SocketAddr) {
        let mut member: Option<Member> = None;
        let runtime = tokio::runtime::Handle::current();
        let mut followups = Vec::new();
        while let Some(event) = conn.next_event().await {
            let dead = matches!(event, Event::Dead { .. });
            {
                let mut state = self.lock();
                self.apply(
                    &mut state,
                    &mut member,
                    peer,
                    Some(&|| conn.handle()),
                    event,
                    SystemTime::now(),
                    &mut followups,
                );
                state.publish();
            }
            for f in followups.drain(..) {
                match f {
                    Followup::Refused => conn.close(GoodbyeReason::Other, "registry full"),
                    other => self.follow_up(other, &runtime),
                }
            }
            if dead {
                break;
            }
        }
        conn.finished().await;
    }

    /// Applies one session event to the registry (the caller holds the lock and publishes the
    /// changes afterwards). `member` is the session's place in the registry, set by `Up` and
    /// taken by `Dead`; `task` makes a handle that closes this session if it runs in its own
    /// task (`None`: it runs in an event loop); what must happen outside the lock is pushed
    /// onto `followups`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply(
        &self,
        state: &mut State,
        member: &mut Option<Member>,
        peer: SocketAddr,
        task: Option<&dyn Fn() -> ConnectionHandle>,
        event: Event,
        now: SystemTime,
        followups: &mut Vec<Followup>,
    ) {
        match event {
            Event::Up { peer: info } => {
                let join = Join {
                    name: info.name,
                    labels: info.labels,
                    advertise: info.advertise,
                    connected_from: Some(peer.ip()),
                    incarnation: info.incarnation,
                };
                match state.registry.join(join, now) {
                    Ok(joined) => {
                        if let Some(task) = task {
                            state.handles.insert(joined.session, task());
                        }
                        if let Some(old) = joined.replaced {
                            followups.push(Followup::Close {
                                session: old,
                                task: state.handles.remove(&old),
                            });
                        }
                        *member = Some(Member::new(joined.name, joined.session));
                    }
                    Err(full) => {
                        tracing::warn!(%full, "agent refused");
                        followups.push(Followup::Refused);
                    }
                }
            }
            Event::Rtt(rtt) => {
                if let Some(m) = member {
                    state.registry.rtt(m.name(), m.session(), rtt);
                }
            }
            Event::Suspect { .. } => {
                if let Some(m) = member {
                    state.registry.suspect(m.name(), m.session(), now);
                }
            }
            Event::AliveAgain => {
                if let Some(m) = member {
                    state.registry.alive_again(m.name(), m.session(), now);
                }
            }
            Event::Status(status) => {
                if let Some(m) = member {
                    state.registry.status(m.name(), m.session(), &status);
                }
            }
            Event::Data(_) => {}
            Event::Dead { cause, silent_for } => {
                let Some(m) = member.take() else {
                    self.failed_handshake(peer, &cause.to_string());
                    return;
                };
                let (name, session) = (m.name().clone(), m.session());
                state.handles.remove(&session);
                let node_state = state.registry.ended(&name, session, &cause, now);
                tracing::info!(
                    node = %name,
                    %cause,
                    silent_ms = silent_for.as_millis(),
                    "agent session ended"
                );
                if node_state == Some(NodeState::Dead)
                    && let Some(address) = state.registry.address(&name)
                {
                    followups.push(Followup::Diagnose {
                        name: name.to_string(),
                        session,
                        address,
                    });
                }
            }
        }
    }

    /// Does what [`Hub::apply`] left for outside the lock (except [`Followup::Refused`], which
    /// the session's driver handles).
    pub(crate) fn follow_up(&self, followup: Followup, runtime: &tokio::runtime::Handle) {
        match followup {
            Followup::Close { session, task } => {
                let (reason, text) = (GoodbyeReason::Other, "replaced by a new session");
                match task {
                    Some(handle) => handle.close(reason, text),
                    None => self.close_in_loops(session, reason, text),
                }
            }
            Followup::Diagnose {
                name,
                session,
                address,
            } => {
                let hub = self.clone();
                runtime.spawn(async move {
                    hub.diagnose_later(name, session, address).await;
                });
            }
            Followup::Refused => {}
        }
    }

    /// After `timeout`, if the node has not come back, probes its address and records the
    /// verdict.
    async fn diagnose_later(&self, name: String, session: SessionId, address: String) {
        let timeout = self.inner.config.timeout;
        tokio::time::sleep(timeout).await;
        let still_dead = self
            .lock()
            .registry
            .get(&name)
            .is_some_and(|n| n.session == session.0 && n.state == NodeState::Dead);
        if !still_dead {
            return;
        }
        let budget = timeout.clamp(Duration::from_millis(300), Duration::from_secs(2));
        let verdict = diagnose(&self.inner.prober, &address, budget).await;
        let mut state = self.lock();
        state.registry.diagnosis(&name, session, verdict);
        state.publish();
    }
}

/// Counts an open session until dropped.
struct OpenSlot(Arc<Inner>);

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.counters.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// New connections per second, with a burst of the same size.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: u32, now: Instant) -> Self {
        TokenBucket {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            last: now,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_limits_bursts_and_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, t0);
        assert!((0..3).all(|_| b.take(t0)));
        assert!(!b.take(t0));
        assert!(b.take(t0 + Duration::from_millis(400)));
        assert!(!b.take(t0 + Duration::from_millis(400)));
    }
}
