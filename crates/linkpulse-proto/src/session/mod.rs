//! The heartbeat session state machine (sans-IO).

mod config;
mod event;
mod stamp;

pub use config::{Authenticator, DetectorPolicy, SessionConfig};
pub use event::{Cause, Event, PeerInfo, TransportError};

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use linkpulse_detector::{
    Detector, DetectorConfig, FailureDetector, FixedTimeout, PhiAccrual, Suspicion, Verdict,
};
use stamp::Stamp;

use crate::{
    Codec, ConfigError, ErrorCode, ErrorFrame, Frame, Goodbye, GoodbyeReason, Hello,
    MAX_FRAME_SIZE, MAX_TEXT, MIN_FRAME_SIZE_LIMIT, Ping, Pong, SendError, Status, WIRE_VERSION,
    Welcome, truncate_utf8,
};

/// Which end of the connection this session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Connected out; sends HELLO.
    Client,
    /// Accepted the connection; answers with WELCOME.
    Server,
}

/// One side of a heartbeat session over a reliable byte stream, as a sans-IO state machine.
///
/// The session never reads a clock or touches a socket: the driver passes `now` into every
/// call and moves bytes between the session and the transport.
///
/// # Call order
///
/// 1. Create it with [`Session::client`] or [`Session::server`] when the transport connects.
/// 2. Feed every input as it happens:
///    [`handle_bytes`](Self::handle_bytes) for bytes read,
///    [`handle_eof`](Self::handle_eof) when a read returns 0 (FIN),
///    [`handle_transport_error`](Self::handle_transport_error) for a socket error,
///    [`handle_timeout`](Self::handle_timeout) when the timer from `poll_timeout` fires,
///    and the application's [`send_data`](Self::send_data),
///    [`send_status`](Self::send_status) or [`close`](Self::close).
/// 3. After **each** input, drain the outputs:
///    [`poll_transmit`](Self::poll_transmit) until `None` (write every buffer in order),
///    [`poll_event`](Self::poll_event) until `None`, then
///    [`poll_timeout`](Self::poll_timeout) and re-arm the single timer to that instant
///    (`None`: no timer needed).
/// 4. After [`Event::Dead`], drain `poll_transmit` once more (it may hold a GOODBYE or
///    ERROR), then close the transport and drop the session. Every later input is ignored.
///
/// Any valid frame from the peer counts as a heartbeat. Both sides send a PING every granted
/// interval and answer every PING with a PONG. With [`SessionConfig::coalesce_pings`] the
/// server sends its own PING together with the PONG when its PING is due within half an
/// interval, so its PINGs ride on the writes it makes anyway (one write per interval instead
/// of two). With [`SessionConfig::rtt_sample_every`] = N > 1 the server's PING rides along
/// only every Nth PONG (one RTT sample per N intervals, and the client's PONG to read only
/// then); every PONG pushes the server's own PING deadline out, so it still pings on its own
/// when the client goes quiet.
///
/// # Memory
///
/// A session is built for hosts that hold tens of thousands of them: the configuration is
/// shared ([`Session::server_shared`]), frames are decoded straight from the caller's buffer
/// (only a partial frame's bytes are kept), and the frames queued between two drains are
/// encoded into one buffer that [`poll_transmit`](Self::poll_transmit) hands over whole — no
/// buffer is kept while idle. Instants are kept as microsecond offsets from the session's
/// creation (8 bytes each), the handshake's and the end's state are boxed (they are short or
/// final), and a fixed-timeout detector needs no state beyond the last heartbeat's instant.
#[derive(Debug)]
pub struct Session {
    role: Role,
    config: Arc<SessionConfig>,
    /// Creation instant: PING timestamps and every [`Stamp`] are µs since this.
    epoch: Instant,
    /// A partial frame's bytes, kept only while a frame is split across reads.
    partial: Option<Box<Codec>>,
    state: State,
    /// Encoded frames not yet taken by the driver, in order (empty, with no allocation, while
    /// idle).
    transmits: BytesMut,
    /// Events not yet taken by the driver; `None` (no allocation) while drained, which is
    /// nearly always for a host of many sessions (boxed: a pointer instead of a queue).
    #[allow(clippy::box_collection)] // deliberate: 8 bytes per idle session instead of 24+
    events: Option<Box<VecDeque<Event>>>,
    /// When the last valid frame arrived (creation instant until then).
    last_heard: Stamp,
    /// When the detector was last fed a heartbeat (the peer's PINGs only for phi; the
    /// reference of the fixed timeout).
    detector_heard: Stamp,
    /// Pending ICMP-unreachable evidence: the instant by which a frame must arrive.
    unreachable_deadline: Option<Stamp>,
    /// Next PING sequence number.
    next_seq: u64,
    /// Most recent RTT sample, µs (saturated at `u32::MAX`: 71 minutes).
    last_rtt_us: Option<u32>,
    /// The peer's GOODBYE, if it sent one (rare: boxed).
    peer_goodbye: Option<Box<Goodbye>>,
}

/// Where the session is in its life.
#[derive(Debug)]
enum State {
    /// Waiting for the peer's half of the handshake (boxed: a few seconds at most).
    Handshake(Box<Handshake>),
    /// Handshake done; heartbeats flow and the detector runs.
    Established(Established),
    /// Ended; `Event::Dead` has been emitted.
    Dead(Box<Cause>),
}

#[derive(Debug)]
struct Handshake {
    /// When the handshake fails.
    deadline: Instant,
    /// Client: whether HELLO has gone out (it waits for CHALLENGE when authenticating).
    hello_sent: bool,
    /// Server with an authenticator: the CHALLENGE nonce, kept until the HELLO is checked.
    challenge: Bytes,
}

/// The established session's own state. The peer's name, incarnation, labels and advertised
/// address went out in `Event::Up` and are not kept.
#[derive(Debug)]
struct Established {
    /// The granted heartbeat interval.
    interval: Duration,
    detector: SessionDetector,
    /// Verdict last reported, to emit Suspect / AliveAgain on changes only.
    verdict: Verdict,
    /// When the detector's verdict next changes if nothing arrives (recomputed after every
    /// input by `check_detector`).
    detector_deadline: Option<Stamp>,
    /// When the next PING is due.
    next_ping: Stamp,
    /// Server with [`SessionConfig::rtt_sample_every`] above 1: PONGs sent since our last
    /// PING (our next PING rides on the PONG that makes it `rtt_sample_every`).
    pongs_since_ping: u32,
}

/// The session's failure detector, sized for the configured kind: a fixed timeout's only
/// state is the instant of the last heartbeat, which the session keeps anyway
/// (`Session::detector_heard`), and its parameters follow from the shared configuration and
/// the granted interval; the phi detector's window is boxed.
#[derive(Debug)]
enum SessionDetector {
    Fixed,
    Phi(Box<PhiAccrual>),
}

impl Session {
    /// A client session on a freshly connected transport. Queues HELLO at once (or, with an
    /// authenticator, waits for the server's CHALLENGE).
    pub fn client(config: SessionConfig, now: Instant) -> Result<Session, ConfigError> {
        config.validate(false)?;
        // Check up front that our HELLO fits the limits, so a bad label is a config error.
        let probe = Frame::Hello(Self::hello_for(&config, Bytes::new()));
        probe.encode(&mut BytesMut::new(), config.max_frame_size)?;
        let mut s = Session::new(Role::Client, Arc::new(config), Bytes::new(), now);
        if s.config.authenticator.is_none() {
            s.send_hello(&[]);
            if let State::Handshake(h) = &mut s.state {
                h.hello_sent = true;
            }
        }
        Ok(s)
    }

    /// A server session on a freshly accepted transport. With an authenticator it queues
    /// CHALLENGE at once; then it waits for HELLO.
    pub fn server(config: SessionConfig, now: Instant) -> Result<Session, ConfigError> {
        let challenge = config.challenge.clone();
        Session::server_shared(Arc::new(config), challenge, now)
    }

    /// A server session whose configuration is shared with other sessions (a host of many
    /// sessions keeps one copy), with this connection's own CHALLENGE nonce (`challenge`
    /// replaces [`SessionConfig::challenge`]; ignored without an authenticator).
    pub fn server_shared(
        config: Arc<SessionConfig>,
        challenge: Bytes,
        now: Instant,
    ) -> Result<Session, ConfigError> {
        config.validate_server(&challenge)?;
        let authenticates = config.authenticator.is_some();
        let challenge = if authenticates {
            challenge
        } else {
            Bytes::new()
        };
        let mut s = Session::new(Role::Server, config, challenge.clone(), now);
        if authenticates {
            s.queue(&Frame::Challenge(challenge));
        }
        Ok(s)
    }

    fn new(role: Role, config: Arc<SessionConfig>, challenge: Bytes, now: Instant) -> Session {
        let start = Stamp::floor(now, now);
        Session {
            role,
            state: State::Handshake(Box::new(Handshake {
                deadline: now + config.handshake_timeout,
                hello_sent: false,
                challenge,
            })),
            config,
            epoch: now,
            partial: None,
            transmits: BytesMut::new(),
            events: None,
            last_heard: start,
            detector_heard: start,
            unreachable_deadline: None,
            next_seq: 0,
            last_rtt_us: None,
            peer_goodbye: None,
        }
    }

    fn hello_for(config: &SessionConfig, auth_proof: Bytes) -> Hello {
        Hello {
            min_version: WIRE_VERSION,
            max_version: WIRE_VERSION,
            node_name: config.node_name.clone(),
            labels: config.labels.clone(),
            incarnation: config.incarnation,
            interval: config.interval,
            auth_proof,
            advertise: config.advertise.clone(),
        }
    }

    fn send_hello(&mut self, challenge: &[u8]) {
        let mut hello = Self::hello_for(&self.config, Bytes::new());
        if let Some(auth) = &self.config.authenticator {
            hello.auth_proof = Bytes::from(auth.prove(challenge, &hello));
        }
        self.queue(&Frame::Hello(hello));
    }

    /// Encodes and queues a frame built by the session itself. Such frames are within limits
    /// by construction (config validated, texts truncated); one that is not is dropped.
    fn queue(&mut self, frame: &Frame) -> bool {
        let start = self.transmits.len();
        let max = self.max_frame_size();
        if frame.encode(&mut self.transmits, max).is_ok() {
            true
        } else {
            self.transmits.truncate(start);
            false
        }
    }

    /// The frame-size limit in force (as a [`Codec`] would clamp it).
    fn max_frame_size(&self) -> usize {
        self.config
            .max_frame_size
            .clamp(MIN_FRAME_SIZE_LIMIT, MAX_FRAME_SIZE)
    }

    // ----- accessors -------------------------------------------------------------------

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// True once the handshake has completed and until the session ends.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established(_))
    }

    /// True once the session has ended.
    pub fn is_dead(&self) -> bool {
        matches!(self.state, State::Dead(_))
    }

    /// Why the session ended, once it has.
    pub fn cause(&self) -> Option<&Cause> {
        match &self.state {
            State::Dead(c) => Some(c.as_ref()),
            _ => None,
        }
    }

    /// The granted heartbeat interval, once the handshake has completed (and while
    /// established). Who the peer is ([`PeerInfo`]) is delivered once, in [`Event::Up`], and
    /// not kept: a host of many sessions keeps it where it needs it.
    pub fn interval(&self) -> Option<Duration> {
        match &self.state {
            State::Established(e) => Some(e.interval),
            _ => None,
        }
    }

    /// When the last valid frame arrived (the creation instant if none has), to the
    /// microsecond.
    pub fn last_heard(&self) -> Instant {
        self.last_heard.instant(self.epoch)
    }

    /// The most recent RTT sample.
    pub fn last_rtt(&self) -> Option<Duration> {
        self.last_rtt_us
            .map(|us| Duration::from_micros(u64::from(us)))
    }

    /// The detector's current view, while established.
    pub fn suspicion(&self, now: Instant) -> Option<Suspicion> {
        match &self.state {
            State::Established(e) => self.detector_suspicion(e, now),
            _ => None,
        }
    }

    /// The peer's GOODBYE, if it sent one (reason and text).
    pub fn peer_goodbye(&self) -> Option<&Goodbye> {
        self.peer_goodbye.as_deref()
    }

    // ----- outputs ---------------------------------------------------------------------

    /// The next buffer to write to the transport, in order: every frame queued since the last
    /// call, in one buffer (so one `write` sends them all).
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.transmits.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.transmits).freeze())
        }
    }

    /// Appends every frame queued since the last call to `dst` (the caller's own write
    /// buffer, e.g. one shared by many sessions) and returns how many bytes were added.
    /// Equivalent to draining [`poll_transmit`](Self::poll_transmit), without handing over an
    /// allocation.
    pub fn poll_transmit_into(&mut self, dst: &mut Vec<u8>) -> usize {
        let n = self.transmits.len();
        if n > 0 {
            dst.extend_from_slice(&self.transmits);
            self.transmits = BytesMut::new();
        }
        n
    }

    /// Bytes queued for the transport and not yet taken.
    pub fn pending_transmit(&self) -> usize {
        self.transmits.len()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.as_mut().and_then(|q| q.pop_front());
        if event.is_none() {
            // Drained: give the queue's memory back (most sessions are idle most of the time).
            self.events = None;
        }
        event
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called; `None` once dead.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let base = match &self.state {
            State::Dead(_) => return None,
            State::Handshake(h) => return Some(self.with_unreachable(h.deadline)),
            State::Established(e) => match e.detector_deadline {
                Some(d) => e.next_ping.min(d),
                None => e.next_ping,
            },
        };
        Some(self.with_unreachable(base.instant(self.epoch)))
    }

    /// `deadline`, or the unreachable evidence's deadline if that is earlier.
    fn with_unreachable(&self, deadline: Instant) -> Instant {
        match self.unreachable_deadline {
            Some(u) => deadline.min(u.instant(self.epoch)),
            None => deadline,
        }
    }

    // ----- inputs ----------------------------------------------------------------------

    /// Bytes read from the transport. Complete frames are processed at once; a partial frame
    /// waits for more bytes. A malformed frame ends the session with ERROR + `Protocol`.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Instant) {
        if self.is_dead() {
            return;
        }
        if self.partial.is_none() {
            // Usual case: whole frames, decoded straight from the caller's buffer; only a
            // trailing partial frame is copied.
            let mut rest = bytes;
            loop {
                match Frame::decode(rest, self.max_frame_size()) {
                    Ok(Some((frame, used))) => {
                        rest = rest.get(used..).unwrap_or_default();
                        self.handle_frame(frame, now);
                        if self.is_dead() {
                            return;
                        }
                    }
                    Ok(None) => {
                        if !rest.is_empty() {
                            let mut codec = Codec::with_max_frame_size(self.max_frame_size());
                            codec.push(rest);
                            self.partial = Some(Box::new(codec));
                        }
                        break;
                    }
                    Err(e) => {
                        self.protocol_error(ErrorCode::from(&e), e.to_string(), now);
                        return;
                    }
                }
            }
            self.check_detector(now);
            return;
        }
        // A frame was split across reads: the codec completes it and decodes what follows.
        if let Some(codec) = &mut self.partial {
            codec.push(bytes);
        }
        while let Some(codec) = &mut self.partial {
            match codec.next_frame() {
                Ok(Some(frame)) => {
                    self.handle_frame(frame, now);
                    if self.is_dead() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.protocol_error(ErrorCode::from(&e), e.to_string(), now);
                    return;
                }
            }
        }
        if self.partial.as_ref().is_some_and(|c| c.buffered() == 0) {
            self.partial = None;
        }
        self.check_detector(now);
    }

    /// The timer from [`poll_timeout`](Self::poll_timeout) fired (calling it early or late is
    /// harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        match &self.state {
            State::Dead(_) => return,
            State::Handshake(h) => {
                if now >= h.deadline {
                    let what = match self.role {
                        Role::Server => "HELLO",
                        Role::Client => "WELCOME",
                    };
                    let text = format!(
                        "no {what} within {:?} of connecting",
                        self.config.handshake_timeout
                    );
                    self.protocol_error(ErrorCode::HandshakeTimeout, text, now);
                    return;
                }
            }
            State::Established(_) => {}
        }
        if let Some(deadline) = self.unreachable_deadline
            && now >= deadline.instant(self.epoch)
        {
            self.die(Cause::Unreachable, now);
            return;
        }
        self.send_due_pings(now);
        self.check_detector(now);
    }

    /// The transport reported end of stream (a read returned 0: FIN). Ends the session with
    /// [`Cause::PeerClosed`] unless a GOODBYE already ended it.
    pub fn handle_eof(&mut self, now: Instant) {
        if !self.is_dead() {
            self.die(Cause::PeerClosed, now);
        }
    }

    /// The transport reported an error. See [`TransportError`] for what each kind does.
    pub fn handle_transport_error(&mut self, error: TransportError, now: Instant) {
        if self.is_dead() {
            return;
        }
        match error {
            TransportError::Reset => self.die(Cause::Reset, now),
            TransportError::TimedOut => self.die(Cause::Timeout, now),
            TransportError::Other(_) => self.die(Cause::Local, now),
            TransportError::Unreachable => {
                if self.unreachable_deadline.is_none() {
                    let deadline = now + self.config.unreachable_confirmation;
                    self.unreachable_deadline = Some(Stamp::ceil(self.epoch, deadline));
                }
            }
        }
    }

    /// Ends the session at once with `cause`, sending nothing (for drivers that give up on
    /// the transport themselves, e.g. a peer that stopped reading). Does nothing if the
    /// session already ended.
    pub fn abort(&mut self, cause: Cause, now: Instant) {
        if !self.is_dead() {
            self.die(cause, now);
        }
    }

    /// Queues application bytes for the peer as one DATA frame.
    pub fn send_data(&mut self, data: Bytes) -> Result<(), SendError> {
        self.send_app(Frame::Data(data))
    }

    /// Queues a STATUS frame reporting this side's health.
    pub fn send_status(&mut self, status: Status) -> Result<(), SendError> {
        self.send_app(Frame::Status(status))
    }

    fn send_app(&mut self, frame: Frame) -> Result<(), SendError> {
        match self.state {
            State::Dead(_) => return Err(SendError::Closed),
            State::Handshake { .. } => return Err(SendError::NotEstablished),
            State::Established(_) => {}
        }
        let start = self.transmits.len();
        let max = self.max_frame_size();
        if let Err(e) = frame.encode(&mut self.transmits, max) {
            self.transmits.truncate(start);
            return Err(e.into());
        }
        Ok(())
    }

    /// Ends the session gracefully: queues GOODBYE and emits `Dead { cause: Local }`.
    /// `text` is truncated to 256 bytes. Does nothing if the session already ended.
    pub fn close(&mut self, reason: GoodbyeReason, text: &str, now: Instant) {
        if self.is_dead() {
            return;
        }
        let goodbye = Frame::Goodbye(Goodbye {
            reason,
            text: truncate_utf8(text, MAX_TEXT).to_owned(),
        });
        self.queue(&goodbye);
        self.die(Cause::Local, now);
    }

    // ----- internals -------------------------------------------------------------------

    fn timestamp_us(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    fn emit(&mut self, event: Event) {
        self.events.get_or_insert_default().push_back(event);
    }

    fn die(&mut self, cause: Cause, now: Instant) {
        let silent_for = now.saturating_duration_since(self.last_heard());
        // Transition: any → Dead. Nothing happens after this.
        self.state = State::Dead(Box::new(cause.clone()));
        self.unreachable_deadline = None;
        self.partial = None;
        self.emit(Event::Dead { cause, silent_for });
    }

    fn protocol_error(&mut self, code: ErrorCode, text: String, now: Instant) {
        let frame = Frame::Error(ErrorFrame {
            code,
            text: truncate_utf8(&text, MAX_TEXT).to_owned(),
        });
        self.queue(&frame);
        self.die(Cause::Protocol(text), now);
    }

    fn unexpected(&mut self, frame: &Frame, when: &str, now: Instant) {
        let text = format!("unexpected {} {when}", frame.frame_type());
        self.protocol_error(ErrorCode::UnexpectedFrame, text, now);
    }

    fn handle_frame(&mut self, frame: Frame, now: Instant) {
        // Any valid frame is a sign of life and cancels unreachable evidence, and resets the
        // fixed timeout ("dead after T of silence"). The phi detector, though, models the
        // inter-arrival time of the peer's own periodic PINGs: a PONG answers *our* PING one RTT
        // later, usually right next to the peer's PING, so counting it would fill the window
        // with alternating near-zero and near-interval gaps, inflate the deviation and delay
        // detection. Frames read at the same instant count once.
        let stamp = Stamp::floor(self.epoch, now);
        let fresh = stamp > self.detector_heard;
        self.last_heard = self.last_heard.max(stamp);
        self.unreachable_deadline = None;
        if fresh && let State::Established(e) = &mut self.state {
            match &mut e.detector {
                SessionDetector::Phi(d) => {
                    if matches!(frame, Frame::Ping(_)) {
                        self.detector_heard = stamp;
                        d.heartbeat(now);
                    }
                }
                // The fixed timeout's reference is `detector_heard` itself.
                SessionDetector::Fixed => self.detector_heard = stamp,
            }
        }
        // Frames that mean the same in every state.
        match frame {
            Frame::Goodbye(g) => {
                self.peer_goodbye = Some(Box::new(g));
                self.die(Cause::Goodbye, now);
                return;
            }
            Frame::Error(e) => {
                // Transition: any → Dead; no ERROR is sent back to a peer that is closing.
                self.die(Cause::peer_reported(e.code, &e.text), now);
                return;
            }
            _ => {}
        }
        match &self.state {
            State::Dead(_) => {}
            State::Handshake(h) => {
                let hello_sent = h.hello_sent;
                match (self.role, frame) {
                    (Role::Server, Frame::Hello(h)) => self.accept_hello(h, now),
                    (Role::Client, Frame::Challenge(nonce)) if !hello_sent => {
                        self.send_hello(&nonce);
                        if let State::Handshake(h) = &mut self.state {
                            h.hello_sent = true;
                        }
                    }
                    (Role::Client, Frame::Challenge(_)) => {
                        // A server that authenticates a client configured without an
                        // authenticator: our HELLO (with an empty proof) is already out; the
                        // server will answer with ERROR auth_failed.
                    }
                    (Role::Client, Frame::Welcome(w)) if hello_sent => self.accept_welcome(w, now),
                    (_, other) => self.unexpected(&other, "during the handshake", now),
                }
            }
            State::Established(_) => match frame {
                Frame::Ping(p) => {
                    let pong = Frame::Pong(Pong {
                        seq: p.seq,
                        echo_timestamp_us: p.timestamp_us,
                        timestamp_us: self.timestamp_us(now),
                    });
                    self.queue(&pong);
                    if self.rides_pings() {
                        self.ride_along_ping(now);
                    }
                }
                Frame::Pong(p) => {
                    let now_us = self.timestamp_us(now);
                    if p.seq < self.next_seq && p.echo_timestamp_us <= now_us {
                        let rtt_us = now_us - p.echo_timestamp_us;
                        self.last_rtt_us = Some(u32::try_from(rtt_us).unwrap_or(u32::MAX));
                        self.emit(Event::Rtt(Duration::from_micros(rtt_us)));
                    }
                }
                Frame::Status(s) => self.emit(Event::Status(s)),
                Frame::Data(d) => self.emit(Event::Data(d)),
                other => self.unexpected(&other, "after the handshake", now),
            },
        }
    }

    fn accept_hello(&mut self, hello: Hello, now: Instant) {
        if !(hello.min_version..=hello.max_version).contains(&WIRE_VERSION) {
            let text = format!(
                "no common protocol version: peer speaks {}..={}, this side speaks {WIRE_VERSION}",
                hello.min_version, hello.max_version
            );
            self.protocol_error(ErrorCode::UnsupportedVersion, text, now);
            return;
        }
        let challenge = match &self.state {
            State::Handshake(h) => h.challenge.as_ref(),
            _ => &[],
        };
        if let Some(auth) = &self.config.authenticator
            && let Err(reason) = auth.verify(challenge, &hello)
        {
            let text = format!(
                "authentication failed for node {:?}: {reason}",
                hello.node_name
            );
            self.protocol_error(ErrorCode::AuthFailed, text, now);
            return;
        }
        let interval = hello
            .interval
            .clamp(self.config.min_interval, self.config.max_interval);
        let welcome = Frame::Welcome(Welcome {
            version: WIRE_VERSION,
            node_name: self.config.node_name.clone(),
            incarnation: self.config.incarnation,
            interval,
            server_nonce: Bytes::new(),
        });
        self.queue(&welcome);
        let peer = PeerInfo {
            restart: self
                .config
                .previous_peer
                .map(|prev| hello.incarnation.restart_since(&prev)),
            name: hello.node_name,
            incarnation: hello.incarnation,
            interval,
            version: WIRE_VERSION,
            labels: hello.labels,
            advertise: hello.advertise,
        };
        self.establish(peer, now);
    }

    fn accept_welcome(&mut self, welcome: Welcome, now: Instant) {
        if welcome.version != WIRE_VERSION {
            let text = format!(
                "server chose protocol version {}, this side speaks {WIRE_VERSION}",
                welcome.version
            );
            self.protocol_error(ErrorCode::UnsupportedVersion, text, now);
            return;
        }
        if !(self.config.min_interval..=self.config.max_interval).contains(&welcome.interval) {
            let text = format!(
                "server granted interval {:?}, outside this side's range {:?}..={:?}",
                welcome.interval, self.config.min_interval, self.config.max_interval
            );
            self.protocol_error(ErrorCode::UnexpectedFrame, text, now);
            return;
        }
        let peer = PeerInfo {
            restart: self
                .config
                .previous_peer
                .map(|prev| welcome.incarnation.restart_since(&prev)),
            name: welcome.node_name,
            incarnation: welcome.incarnation,
            interval: welcome.interval,
            version: welcome.version,
            labels: Vec::new(),
            advertise: None,
        };
        self.establish(peer, now);
    }

    fn establish(&mut self, peer: PeerInfo, now: Instant) {
        let detector_config = self.config.detector.resolve(peer.interval);
        let detector = match detector_config.build(now) {
            Ok(mut d) => {
                d.heartbeat(now);
                d
            }
            Err(e) => {
                // Only reachable if the granted interval makes the policy invalid
                // (e.g. an exact config was validated for another interval).
                self.protocol_error(
                    ErrorCode::Unknown(0),
                    format!("detector for interval {:?}: {e}", peer.interval),
                    now,
                );
                return;
            }
        };
        let interval = peer.interval;
        self.emit(Event::Up { peer });
        let detector = match detector {
            // Its state is `detector_heard`, which starts here like the detector just built.
            Detector::Fixed(_) => SessionDetector::Fixed,
            Detector::Phi(p) => SessionDetector::Phi(Box::new(p)),
        };
        self.detector_heard = Stamp::floor(self.epoch, now);
        // Transition: Handshake → Established; first PING goes out at once to measure RTT.
        self.state = State::Established(Established {
            interval,
            detector,
            verdict: Verdict::Alive,
            detector_deadline: None,
            next_ping: Stamp::floor(self.epoch, now),
            pongs_since_ping: 0,
        });
        self.send_due_pings(now);
    }

    /// Server whose own PINGs ride on the PONGs it sends ([`SessionConfig::coalesce_pings`],
    /// implied by [`SessionConfig::rtt_sample_every`] above 1).
    fn rides_pings(&self) -> bool {
        self.role == Role::Server
            && (self.config.coalesce_pings || self.config.rtt_sample_every > 1)
    }

    /// Server: our PING due within half an interval goes out now, in the same write as the
    /// PONG just queued. The server's PINGs then follow the client's rhythm (still one per
    /// interval) and cost no write of their own.
    fn ride_along_ping(&mut self, now: Instant) {
        let every = self.config.rtt_sample_every;
        let State::Established(e) = &mut self.state else {
            return;
        };
        if every > 1 {
            // The PONG just queued is a heartbeat for the client's detector: our own PING
            // waits for the `every`-th PONG, and each PONG before it pushes our fallback PING
            // (the one we send when the client goes quiet) out to where `send_due_pings`
            // would put it after a PING of ours.
            e.pongs_since_ping = e.pongs_since_ping.saturating_add(1);
            if e.pongs_since_ping >= every {
                e.next_ping = Stamp::floor(self.epoch, now);
                self.send_due_pings(now);
            } else {
                let fallback = Stamp::ceil(self.epoch, now + e.interval + e.interval / 4);
                e.next_ping = e.next_ping.max(fallback);
            }
            return;
        }
        let half = e.interval / 2;
        let next_ping = e.next_ping.instant(self.epoch);
        if next_ping > now && next_ping.saturating_duration_since(now) <= half {
            e.next_ping = Stamp::floor(self.epoch, now);
            self.send_due_pings(now);
        }
    }

    fn send_due_pings(&mut self, now: Instant) {
        let rides = self.rides_pings();
        let State::Established(e) = &mut self.state else {
            return;
        };
        let next_ping = e.next_ping.instant(self.epoch);
        if now < next_ping {
            return;
        }
        let interval = e.interval;
        e.pongs_since_ping = 0;
        let next_ping = if rides {
            // The server's own timer lags a quarter interval, so that the client's PING
            // (every interval) normally arrives first and carries ours along in the same
            // write (`ride_along_ping`); a quarter interval of client jitter is tolerated
            // before the server pings on its own again.
            now + interval + interval / 4
        } else {
            let next = next_ping + interval;
            if next <= now {
                // We fell behind (timer woke late): do not burst, resume the rhythm from now.
                now + interval
            } else {
                next
            }
        };
        e.next_ping = Stamp::ceil(self.epoch, next_ping);
        let ping = Frame::Ping(Ping {
            seq: self.next_seq,
            timestamp_us: self.timestamp_us(now),
        });
        self.next_seq += 1;
        self.queue(&ping);
    }

    /// The fixed-timeout detector as it stands: built from the shared configuration for the
    /// granted `interval` (the policy resolves to the same parameters every time, and
    /// `establish` checked them) with `detector_heard` as its last heartbeat.
    fn fixed_detector(&self, interval: Duration) -> Option<FixedTimeout> {
        match self.config.detector.resolve(interval) {
            DetectorConfig::Fixed(c) => {
                FixedTimeout::new(c, self.detector_heard.instant(self.epoch)).ok()
            }
            DetectorConfig::Phi(_) => None,
        }
    }

    /// The detector's view at `now` and when it next changes.
    fn detector_suspicion(&self, e: &Established, now: Instant) -> Option<Suspicion> {
        match &e.detector {
            SessionDetector::Fixed => self.fixed_detector(e.interval).map(|d| d.suspicion(now)),
            SessionDetector::Phi(d) => Some(d.suspicion(now)),
        }
    }

    fn detector_next_deadline(&self, e: &Established, now: Instant) -> Option<Instant> {
        match &e.detector {
            SessionDetector::Fixed => self
                .fixed_detector(e.interval)
                .and_then(|d| d.next_deadline(now)),
            SessionDetector::Phi(d) => d.next_deadline(now),
        }
    }

    fn check_detector(&mut self, now: Instant) {
        let (s, deadline) = match &self.state {
            State::Established(e) => match self.detector_suspicion(e, now) {
                Some(s) => (s, self.detector_next_deadline(e, now)),
                None => return,
            },
            _ => return,
        };
        let deadline = deadline.map(|d| Stamp::ceil(self.epoch, d));
        let State::Established(e) = &mut self.state else {
            return;
        };
        let previous = e.verdict;
        e.verdict = s.verdict;
        e.detector_deadline = deadline;
        match (previous, s.verdict) {
            // Transition: Alive → Suspect.
            (Verdict::Alive, Verdict::Suspect) => self.emit(Event::Suspect {
                silent_for: s.silent_for,
            }),
            // Transition: Suspect → Alive (a frame arrived in time).
            (Verdict::Suspect, Verdict::Alive) => self.emit(Event::AliveAgain),
            // Transition: → Dead. ICMP evidence still pending names the cause.
            (_, Verdict::Dead) => {
                let cause = if self.unreachable_deadline.is_some() {
                    Cause::Unreachable
                } else {
                    Cause::Timeout
                };
                self.die(cause, now);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards the per-session footprint a hub pays tens of thousands of times
    /// (bench/hub-capacity.md has the breakdown).
    #[test]
    fn a_session_stays_compact() {
        let size = size_of::<Session>();
        println!("Session: {size} bytes");
        assert!(size <= 176, "Session is {size} bytes, budget 176");
    }
}
