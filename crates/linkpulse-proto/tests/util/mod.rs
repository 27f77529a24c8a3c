//! A simulated link between two sessions under virtual time, with latency, jitter, loss and
//! cuts (the idea of quinn-proto's `tests/util.rs`). Everything is deterministic.

// Tests take one real base instant; every other instant is derived from it.
#![allow(clippy::disallowed_methods)]
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use linkpulse_proto::{Event, Incarnation, Session, SessionConfig};

/// Deterministic xorshift64* random numbers.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One direction of the link. Order is preserved (it models a TCP stream); a lost frame
/// vanishes whole.
pub struct Link {
    pub latency: Duration,
    /// Extra delay, uniform in [0, jitter).
    pub jitter: Duration,
    /// Probability that a frame is lost.
    pub loss: f64,
    /// Everything sent before this instant is dropped (a temporary blackout).
    pub blackout_until: Option<Instant>,
    /// Permanently cut: everything sent or in flight is dropped.
    pub cut: bool,
    queue: VecDeque<(Instant, Bytes)>,
    last_delivery: Option<Instant>,
}

impl Link {
    pub fn new(latency: Duration, jitter: Duration, loss: f64) -> Self {
        Link {
            latency,
            jitter,
            loss,
            blackout_until: None,
            cut: false,
            queue: VecDeque::new(),
            last_delivery: None,
        }
    }

    fn send(&mut self, bytes: Bytes, now: Instant, rng: &mut Rng) {
        if self.cut || self.blackout_until.is_some_and(|t| now < t) || rng.unit() < self.loss {
            return;
        }
        let at = now + self.latency + self.jitter.mul_f64(rng.unit());
        let at = self.last_delivery.map_or(at, |last| at.max(last));
        self.last_delivery = Some(at);
        self.queue.push_back((at, bytes));
    }

    fn next_delivery(&self) -> Option<Instant> {
        self.queue.front().map(|(at, _)| *at)
    }

    fn pop_due(&mut self, now: Instant) -> Option<Bytes> {
        if self.queue.front().is_some_and(|(at, _)| *at <= now) {
            self.queue.pop_front().map(|(_, b)| b)
        } else {
            None
        }
    }
}

/// Two sessions joined by two links, with every event recorded with its instant.
pub struct Pair {
    pub t0: Instant,
    pub now: Instant,
    pub client: Session,
    pub server: Session,
    /// client → server
    pub c2s: Link,
    /// server → client
    pub s2c: Link,
    pub client_events: Vec<(Instant, Event)>,
    pub server_events: Vec<(Instant, Event)>,
    pub rng: Rng,
}

pub fn config(name: &str, boot: u8, nonce: u64) -> SessionConfig {
    SessionConfig::new(name, Incarnation::new([boot; 16], nonce))
}

impl Pair {
    pub fn new(
        client: SessionConfig,
        server: SessionConfig,
        link: (Duration, Duration, f64),
    ) -> Pair {
        let t0 = Instant::now();
        let client = Session::client(client, t0).unwrap_or_else(|e| panic!("client config: {e}"));
        let server = Session::server(server, t0).unwrap_or_else(|e| panic!("server config: {e}"));
        Pair {
            t0,
            now: t0,
            client,
            server,
            c2s: Link::new(link.0, link.1, link.2),
            s2c: Link::new(link.0, link.1, link.2),
            client_events: Vec::new(),
            server_events: Vec::new(),
            rng: Rng::new(0x5eed_1234_abcd_0001),
        }
    }

    /// A pair with default configs and a clean 1 ms link.
    pub fn simple() -> Pair {
        Pair::new(
            config("agent", 1, 1),
            config("hub", 2, 2),
            (Duration::from_millis(1), Duration::ZERO, 0.0),
        )
    }

    /// Moves queued transmits onto the links and collects events.
    pub fn drain(&mut self) {
        while let Some(b) = self.client.poll_transmit() {
            self.c2s.send(b, self.now, &mut self.rng);
        }
        while let Some(b) = self.server.poll_transmit() {
            self.s2c.send(b, self.now, &mut self.rng);
        }
        while let Some(e) = self.client.poll_event() {
            self.client_events.push((self.now, e));
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push((self.now, e));
        }
    }

    /// Advances virtual time to the next interesting instant (≤ `limit`) and processes it.
    /// Returns false when nothing is scheduled before `limit`.
    pub fn step(&mut self, limit: Instant) -> bool {
        self.drain();
        let next = [
            self.client.poll_timeout(),
            self.server.poll_timeout(),
            self.c2s.next_delivery(),
            self.s2c.next_delivery(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next.filter(|&t| t <= limit) else {
            self.now = self.now.max(limit);
            return false;
        };
        self.now = self.now.max(next);
        while let Some(b) = self.c2s.pop_due(self.now) {
            self.server.handle_bytes(&b, self.now);
        }
        while let Some(b) = self.s2c.pop_due(self.now) {
            self.client.handle_bytes(&b, self.now);
        }
        if self.client.poll_timeout().is_some_and(|t| t <= self.now) {
            self.client.handle_timeout(self.now);
        }
        if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
            self.server.handle_timeout(self.now);
        }
        self.drain();
        true
    }

    /// Runs until virtual time reaches `t0 + d` (bounded number of steps).
    pub fn run_until(&mut self, d: Duration) {
        let limit = self.t0 + d;
        for _ in 0..10_000_000 {
            if !self.step(limit) {
                return;
            }
        }
        panic!("simulation did not settle");
    }

    /// Runs for `d` more.
    pub fn run_for(&mut self, d: Duration) {
        let target = self.now - self.t0 + d;
        self.run_until(target);
    }

    pub fn client_dead(&self) -> Option<(Instant, &Event)> {
        self.client_events
            .iter()
            .find(|(_, e)| matches!(e, Event::Dead { .. }))
            .map(|(t, e)| (*t, e))
    }

    pub fn server_dead(&self) -> Option<(Instant, &Event)> {
        self.server_events
            .iter()
            .find(|(_, e)| matches!(e, Event::Dead { .. }))
            .map(|(t, e)| (*t, e))
    }

    pub fn names(events: &[(Instant, Event)]) -> Vec<&'static str> {
        events
            .iter()
            .filter(|(_, e)| !matches!(e, Event::Rtt(_)))
            .map(|(_, e)| e.name())
            .collect()
    }
}
