//! The event loop thread: readiness and timers in, session inputs; session outputs to the
//! sockets and, in batches, to the registry.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, TryRecvError};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use linkpulse_proto::{Cause, Event, GoodbyeReason, Session, SessionConfig};
use mio::{Events, Interest, Poll, Token};
use rand::RngCore;

use super::Followup;
use super::slab::{Key, Slab};
use super::slot::{LINGER, Phase, ReadPass, Slot};
use super::timers::Timers;
use super::{Command, WAKER};
use crate::Hub;

/// Size of the one read buffer shared by every session (a whole maximal frame fits).
const SCRATCH: usize = 64 * 1024;
/// Readiness events taken per `poll`.
const EVENTS: usize = 1024;
/// Timer granularity: the loop sleeps until the earliest deadline rounded up to a multiple of
/// this, and then handles every deadline due. Most deadlines in the heap are detector
/// deadlines that a heartbeat has already pushed later (stale entries, re-armed when they
/// surface); without a granularity each of them would wake the thread on its own.
const TICK: Duration = Duration::from_millis(4);

/// The loop's state; lives on its thread.
pub(super) struct Reactor {
    hub: Hub,
    runtime: tokio::runtime::Handle,
    poll: Poll,
    commands: mpsc::Receiver<Command>,
    stop: Arc<AtomicBool>,
    stopping: bool,
    /// Shared by every session: the hub's settings, built once.
    config: Arc<SessionConfig>,
    slots: Slab<Slot>,
    timers: Timers,
    /// One read buffer for all sessions.
    scratch: Vec<u8>,
    /// One write buffer for all sessions (a session's frames of one turn, written at once).
    out: Vec<u8>,
    /// Session events of this turn, applied to the registry under one lock.
    batch: Vec<(Key, Event)>,
    /// Slots whose read budget ran out: read again next turn.
    again: Vec<Key>,
    /// Slots to drop at the end of this turn.
    doomed: Vec<Key>,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("sessions", &self.slots.len())
            .field("timers", &self.timers.len())
            .finish_non_exhaustive()
    }
}

/// `d` rounded up to a whole number of [`TICK`]s.
fn tick_ceil(d: Duration) -> Duration {
    let tick = TICK.as_micros().max(1);
    let ticks = d.as_micros().div_ceil(tick);
    Duration::from_micros(u64::try_from(ticks.saturating_mul(tick)).unwrap_or(u64::MAX))
}

fn token(key: Key) -> Token {
    Token(key.index())
}

/// True for ends after which the socket is closed gracefully (flush, FIN, wait for the
/// peer's FIN) rather than dropped at once.
fn graceful(cause: Option<&Cause>) -> bool {
    matches!(
        cause,
        Some(Cause::Local | Cause::Goodbye | Cause::Protocol(_) | Cause::PeerClosed)
    )
}

impl Reactor {
    pub(super) fn new(
        hub: Hub,
        runtime: tokio::runtime::Handle,
        poll: Poll,
        commands: mpsc::Receiver<Command>,
        stop: Arc<AtomicBool>,
    ) -> Reactor {
        let config = Arc::new(hub.session_config(Bytes::new()));
        Reactor {
            hub,
            runtime,
            poll,
            commands,
            stop,
            stopping: false,
            config,
            slots: Slab::default(),
            timers: Timers::new(Instant::now()),
            scratch: vec![0; SCRATCH],
            out: Vec::with_capacity(4096),
            batch: Vec::new(),
            again: Vec::new(),
            doomed: Vec::new(),
        }
    }

    /// Runs until stopped and every session is gone.
    pub(super) fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS);
        loop {
            let timeout = if self.again.is_empty() {
                self.timers
                    .next()
                    .map(|t| tick_ceil(t.saturating_duration_since(Instant::now())))
            } else {
                Some(Duration::ZERO)
            };
            if let Err(err) = self.poll.poll(&mut events, timeout) {
                if err.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(%err, "hub event loop cannot poll; its sessions end");
                    break;
                }
                continue;
            }
            let now = Instant::now();
            for ev in &events {
                if ev.token() == WAKER {
                    continue;
                }
                let Some(key) = self.slots.key_at(ev.token().0) else {
                    continue;
                };
                let drain = ev.is_read_closed() || ev.is_error();
                self.on_ready(key, ev.is_readable() || drain, ev.is_writable(), drain, now);
            }
            for key in std::mem::take(&mut self.again) {
                self.on_ready(key, true, false, false, now);
            }
            self.on_commands(now);
            self.on_timers(now);
            self.publish();
            self.bury();
            if self.stopping && self.slots.is_empty() {
                break;
            }
        }
        // Whatever is left (a poll failure) is dropped: sockets close, counters follow.
        for key in self.slots.keys() {
            self.doomed.push(key);
        }
        self.publish();
        self.bury();
    }

    /// A socket is ready.
    fn on_ready(&mut self, key: Key, readable: bool, writable: bool, drain: bool, now: Instant) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        if writable {
            slot.flush(now);
        }
        if readable && slot.read(&mut self.scratch, drain, now) == ReadPass::MoreWaiting {
            self.again.push(key);
        }
        self.service(key, now);
    }

    /// Moves a slot's session outputs: bytes to the socket, events to the batch, its deadline
    /// to the timer heap; starts the close when the session has ended.
    fn service(&mut self, key: Key, now: Instant) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        if slot.phase == Phase::Open {
            self.out.clear();
            slot.session.poll_transmit_into(&mut self.out);
            slot.write(&self.out, now);
            if self.out.capacity() > SCRATCH {
                // One unusually large burst must not pin memory for the loop's lifetime.
                self.out = Vec::with_capacity(4096);
            }
            while let Some(event) = slot.session.poll_event() {
                if let (Event::Rtt(rtt), Some(member)) = (&event, &mut slot.member)
                    && !member.rtt_changed(*rtt)
                {
                    continue; // nothing new for the registry
                }
                self.batch.push((key, event));
            }
            if slot.session.is_dead() {
                // Anything the session queued while dying (GOODBYE, ERROR) goes out first.
                self.out.clear();
                slot.session.poll_transmit_into(&mut self.out);
                slot.write(&self.out, now);
                slot.phase = if graceful(slot.session.cause()) {
                    Phase::Closing {
                        until: now + LINGER,
                        fin_sent: false,
                    }
                } else {
                    Phase::Doomed
                };
                slot.flush(now);
            }
        }
        if let Phase::Closing { until, .. } = slot.phase
            && now >= until
        {
            slot.phase = Phase::Doomed;
        }
        if slot.phase == Phase::Doomed {
            self.doomed.push(key);
            return;
        }
        slot.update_interest(self.poll.registry(), token(key));
        let want = slot.deadline();
        self.timers.arm(key, &mut slot.armed, want);
    }

    /// Fires every due timer.
    fn on_timers(&mut self, now: Instant) {
        while let Some((at, key)) = self.timers.pop_due(now) {
            let Some(slot) = self.slots.get_mut(key) else {
                continue;
            };
            if slot.armed != Some(at) {
                continue; // stale: an earlier entry replaced it
            }
            slot.armed = None;
            if slot.deadline().is_some_and(|d| d <= now) && slot.phase == Phase::Open {
                slot.session.handle_timeout(now);
            }
            self.service(key, now);
        }
    }

    /// Takes every queued command.
    fn on_commands(&mut self, now: Instant) {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Add { stream, peer }) => self.add(stream, peer, now),
                Ok(Command::Close {
                    session,
                    reason,
                    text,
                }) => {
                    // A replaced session (rare): found by its registry id in one pass over
                    // the slots, instead of a map entry kept for every session.
                    let found = self
                        .slots
                        .find(|slot| slot.member.as_ref().is_some_and(|m| m.session() == session));
                    if let Some(key) = found
                        && let Some(slot) = self.slots.get_mut(key)
                    {
                        slot.session.close(reason, &text, now);
                        self.service(key, now);
                    }
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        if !self.stopping && self.stop.load(Ordering::Acquire) {
            // Transition: running → stopping. Every session says GOODBYE; the loop ends
            // once the last one has closed.
            self.stopping = true;
            for key in self.slots.keys() {
                if let Some(slot) = self.slots.get_mut(key) {
                    slot.session
                        .close(GoodbyeReason::Shutdown, "hub shutting down", now);
                }
                self.service(key, now);
            }
        }
    }

    /// Starts a session on an admitted connection.
    fn add(&mut self, stream: std::net::TcpStream, peer: SocketAddr, now: Instant) {
        if self.stopping {
            self.hub.session_closed();
            return;
        }
        let mut challenge = [0u8; 16];
        rand::rng().fill_bytes(&mut challenge);
        let challenge = Bytes::copy_from_slice(&challenge);
        let session = match Session::server_shared(Arc::clone(&self.config), challenge, now) {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(%peer, %err, "cannot start an agent session");
                self.hub.session_closed();
                return;
            }
        };
        let stream = mio::net::TcpStream::from_std(stream);
        let Some(key) = self.slots.insert(Slot::new(session, stream, peer)) else {
            self.hub.session_closed();
            return;
        };
        let registered = match self.slots.get_mut(key) {
            Some(slot) => {
                self.poll
                    .registry()
                    .register(&mut slot.stream, token(key), Interest::READABLE)
            }
            None => Ok(()),
        };
        if let Err(err) = registered {
            tracing::warn!(%peer, %err, "cannot register an agent socket");
            self.slots.remove(key);
            self.hub.session_closed();
            return;
        }
        self.service(key, now);
    }

    /// Applies this turn's session events to the registry under one lock, then does what
    /// must happen outside it.
    fn publish(&mut self) {
        // A refused session's own `Dead` comes out of the second round; nothing more.
        for _ in 0..2 {
            if self.batch.is_empty() {
                return;
            }
            self.publish_batch();
        }
        if self.batch.capacity() > 4096 {
            // A burst (thousands of joins at once) must not pin memory for the loop's life.
            self.batch = Vec::new();
        }
    }

    fn publish_batch(&mut self) {
        let now = SystemTime::now();
        let mut followups = Vec::new();
        let mut refused = Vec::new();
        {
            let mut state = self.hub.lock();
            for (key, event) in self.batch.drain(..) {
                let Some(slot) = self.slots.get_mut(key) else {
                    continue;
                };
                let before = followups.len();
                self.hub.apply(
                    &mut state,
                    &mut slot.member,
                    slot.peer,
                    None,
                    event,
                    now,
                    &mut followups,
                );
                if followups
                    .get(before..)
                    .is_some_and(|f| f.iter().any(|f| matches!(f, Followup::Refused)))
                {
                    refused.push(key);
                }
            }
            state.publish();
        }
        for f in followups {
            self.hub.follow_up(f, &self.runtime);
        }
        let now = Instant::now();
        for key in refused {
            if let Some(slot) = self.slots.get_mut(key) {
                slot.session
                    .close(GoodbyeReason::Other, "registry full", now);
            }
            self.service(key, now);
        }
    }

    /// Drops the slots whose sessions are over.
    fn bury(&mut self) {
        for key in std::mem::take(&mut self.doomed) {
            if let Some(mut slot) = self.slots.remove(key) {
                // Deregistering a socket that is about to close is best effort.
                let _ = self.poll.registry().deregister(&mut slot.stream);
                self.hub.session_closed();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_whole_ticks() {
        assert_eq!(tick_ceil(Duration::ZERO), Duration::ZERO);
        assert_eq!(tick_ceil(Duration::from_micros(1)), TICK);
        assert_eq!(tick_ceil(TICK), TICK);
        assert_eq!(tick_ceil(TICK + Duration::from_micros(1)), TICK * 2);
    }
}
