//! The heartbeat session state machine (sans-IO).

mod config;
mod event;

pub use config::{Authenticator, DetectorPolicy, SessionConfig};
pub use event::{Cause, Event, PeerInfo, TransportError};

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use linkpulse_detector::{Detector, FailureDetector, FixedTimeout, PhiAccrual, Suspicion, Verdict};

use crate::{
    Codec, ConfigError, ErrorCode, ErrorFrame, Frame, Goodbye, GoodbyeReason, Hello, MAX_TEXT,
    Ping, Pong, SendError, Status, WIRE_VERSION, Welcome, truncate_utf8,
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
/// of two).
///
/// # Memory
///
/// A session is built for hosts that hold tens of thousands of them: the configuration is
/// shared ([`Session::server_shared`]), frames are decoded straight from the caller's buffer
/// (only a partial frame's bytes are kept), and the frames queued between two drains are
/// encoded into one buffer that [`poll_transmit`](Self::poll_transmit) hands over whole — no
/// buffer is kept while idle.
#[derive(Debug)]
pub struct Session {
    role: Role,
    config: Arc<SessionConfig>,
    /// Server with an authenticator: the CHALLENGE nonce, kept until the HELLO is checked.
    challenge: Bytes,
    /// Creation instant; PING timestamps are µs since this.
    epoch: Instant,
    codec: Codec,
    state: State,
    /// Encoded frames not yet taken by the driver, in order (empty, with no allocation, while
    /// idle).
    transmits: BytesMut,
    events: VecDeque<Event>,
    /// When the last valid frame arrived (creation instant until then).
    last_heard: Instant,
    /// When the detector was last fed a heartbeat (the peer's PINGs only).
    detector_heard: Instant,
    /// Pending ICMP-unreachable evidence: the instant by which a frame must arrive.
    unreachable_deadline: Option<Instant>,
    /// Next PING sequence number.
    next_seq: u64,
    /// Most recent RTT sample.
    last_rtt: Option<Duration>,
    /// The peer's GOODBYE, if it sent one.
    peer_goodbye: Option<Goodbye>,
}

/// Where the session is in its life.
#[derive(Debug)]
enum State {
    /// Waiting for the peer's half of the handshake.
    Handshake {
        /// When the handshake fails.
        deadline: Instant,
        /// Client: whether HELLO has gone out (it waits for CHALLENGE when authenticating).
        hello_sent: bool,
    },
    /// Handshake done; heartbeats flow and the detector runs.
    Established(Box<Established>),
    /// Ended; `Event::Dead` has been emitted.
    Dead(Cause),
}

#[derive(Debug)]
struct Established {
    /// The peer (its labels and advertised address went out in `Event::Up` and are not
    /// kept).
    peer: PeerInfo,
    detector: SessionDetector,
    /// Verdict last reported, to emit Suspect / AliveAgain on changes only.
    verdict: Verdict,
    /// When the detector's verdict next changes if nothing arrives (recomputed after every
    /// input by `check_detector`).
    detector_deadline: Option<Instant>,
    /// When the next PING is due.
    next_ping: Instant,
}

/// The session's failure detector, sized for the configured kind: a fixed timeout is a few
/// instants inline; the phi detector's window is boxed, so a fixed-timeout session does not
/// carry the phi detector's size.
#[derive(Debug)]
enum SessionDetector {
    Fixed(FixedTimeout),
    Phi(Box<PhiAccrual>),
}

impl From<Detector> for SessionDetector {
    fn from(d: Detector) -> Self {
        match d {
            Detector::Fixed(f) => SessionDetector::Fixed(f),
            Detector::Phi(p) => SessionDetector::Phi(Box::new(p)),
        }
    }
}

impl SessionDetector {
    fn heartbeat(&mut self, now: Instant) {
        match self {
            SessionDetector::Fixed(d) => d.heartbeat(now),
            SessionDetector::Phi(d) => d.heartbeat(now),
        }
    }

    fn suspicion(&self, now: Instant) -> Suspicion {
        match self {
            SessionDetector::Fixed(d) => d.suspicion(now),
            SessionDetector::Phi(d) => d.suspicion(now),
        }
    }

    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        match self {
            SessionDetector::Fixed(d) => d.next_deadline(now),
            SessionDetector::Phi(d) => d.next_deadline(now),
        }
    }
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
            s.state = State::Handshake {
                deadline: now + s.config.handshake_timeout,
                hello_sent: true,
            };
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
        let mut s = Session::new(Role::Server, config, challenge, now);
        if s.config.authenticator.is_some() {
            let challenge = Frame::Challenge(s.challenge.clone());
            s.queue(&challenge);
        } else {
            s.challenge = Bytes::new();
        }
        Ok(s)
    }

    fn new(role: Role, config: Arc<SessionConfig>, challenge: Bytes, now: Instant) -> Session {
        let codec = Codec::with_max_frame_size(config.max_frame_size);
        Session {
            role,
            challenge,
            state: State::Handshake {
                deadline: now + config.handshake_timeout,
                hello_sent: false,
            },
            config,
            epoch: now,
            codec,
            transmits: BytesMut::new(),
            events: VecDeque::new(),
            last_heard: now,
            detector_heard: now,
            unreachable_deadline: None,
            next_seq: 0,
            last_rtt: None,
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
        if frame
            .encode(&mut self.transmits, self.codec.max_frame_size())
            .is_ok()
        {
            true
        } else {
            self.transmits.truncate(start);
            false
        }
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
            State::Dead(c) => Some(c),
            _ => None,
        }
    }

    /// The peer, once the handshake has completed (and while established). Its `labels` and
    /// `advertise` are empty here: they are delivered once, in [`Event::Up`].
    pub fn peer(&self) -> Option<&PeerInfo> {
        match &self.state {
            State::Established(e) => Some(&e.peer),
            _ => None,
        }
    }

    /// When the last valid frame arrived (the creation instant if none has).
    pub fn last_heard(&self) -> Instant {
        self.last_heard
    }

    /// The most recent RTT sample.
    pub fn last_rtt(&self) -> Option<Duration> {
        self.last_rtt
    }

    /// The detector's current view, while established.
    pub fn suspicion(&self, now: Instant) -> Option<Suspicion> {
        match &self.state {
            State::Established(e) => Some(e.detector.suspicion(now)),
            _ => None,
        }
    }

    /// The peer's GOODBYE, if it sent one (reason and text).
    pub fn peer_goodbye(&self) -> Option<&Goodbye> {
        self.peer_goodbye.as_ref()
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
        let event = self.events.pop_front();
        if event.is_none() && self.events.capacity() > 0 {
            // Drained: give the queue's memory back (most sessions are idle most of the time).
            self.events = VecDeque::new();
        }
        event
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called; `None` once dead.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let base = match &self.state {
            State::Dead(_) => return None,
            State::Handshake { deadline, .. } => *deadline,
            State::Established(e) => match e.detector_deadline {
                Some(d) => e.next_ping.min(d),
                None => e.next_ping,
            },
        };
        Some(match self.unreachable_deadline {
            Some(u) => base.min(u),
            None => base,
        })
    }

    // ----- inputs ----------------------------------------------------------------------

    /// Bytes read from the transport. Complete frames are processed at once; a partial frame
    /// waits for more bytes. A malformed frame ends the session with ERROR + `Protocol`.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Instant) {
        if self.is_dead() {
            return;
        }
        if self.codec.buffered() == 0 {
            // Usual case: whole frames, decoded straight from the caller's buffer; only a
            // trailing partial frame is copied.
            let mut rest = bytes;
            loop {
                match Frame::decode(rest, self.codec.max_frame_size()) {
                    Ok(Some((frame, used))) => {
                        rest = rest.get(used..).unwrap_or_default();
                        self.handle_frame(frame, now);
                        if self.is_dead() {
                            return;
                        }
                    }
                    Ok(None) => {
                        self.codec.push(rest);
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
        self.codec.push(bytes);
        loop {
            match self.codec.next_frame() {
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
        self.codec.release_if_empty();
        self.check_detector(now);
    }

    /// The timer from [`poll_timeout`](Self::poll_timeout) fired (calling it early or late is
    /// harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        match &self.state {
            State::Dead(_) => return,
            State::Handshake { deadline, .. } => {
                if now >= *deadline {
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
            && now >= deadline
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
                    self.unreachable_deadline = Some(now + self.config.unreachable_confirmation);
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
        if let Err(e) = self.codec.encode(&frame, &mut self.transmits) {
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

    fn die(&mut self, cause: Cause, now: Instant) {
        let silent_for = now.saturating_duration_since(self.last_heard);
        // Transition: any → Dead. Nothing happens after this.
        self.state = State::Dead(cause.clone());
        self.unreachable_deadline = None;
        self.challenge = Bytes::new();
        self.events.push_back(Event::Dead { cause, silent_for });
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
        let fresh = now > self.detector_heard;
        self.last_heard = self.last_heard.max(now);
        self.unreachable_deadline = None;
        if fresh && let State::Established(e) = &mut self.state {
            let samples = match e.detector {
                SessionDetector::Phi(_) => matches!(frame, Frame::Ping(_)),
                SessionDetector::Fixed(_) => true,
            };
            if samples {
                self.detector_heard = now;
                e.detector.heartbeat(now);
            }
        }
        // Frames that mean the same in every state.
        match frame {
            Frame::Goodbye(g) => {
                self.peer_goodbye = Some(g);
                self.die(Cause::Goodbye, now);
                return;
            }
            Frame::Error(e) => {
                let text = format!("peer reported {}: {}", e.code.as_str(), e.text);
                // Transition: any → Dead; no ERROR is sent back to a peer that is closing.
                self.die(Cause::Protocol(text), now);
                return;
            }
            _ => {}
        }
        match &self.state {
            State::Dead(_) => {}
            State::Handshake { hello_sent, .. } => {
                let hello_sent = *hello_sent;
                match (self.role, frame) {
                    (Role::Server, Frame::Hello(h)) => self.accept_hello(h, now),
                    (Role::Client, Frame::Challenge(nonce)) if !hello_sent => {
                        self.send_hello(&nonce);
                        if let State::Handshake { hello_sent, .. } = &mut self.state {
                            *hello_sent = true;
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
                    if self.role == Role::Server && self.config.coalesce_pings {
                        self.ride_along_ping(now);
                    }
                }
                Frame::Pong(p) => {
                    let now_us = self.timestamp_us(now);
                    if p.seq < self.next_seq && p.echo_timestamp_us <= now_us {
                        let rtt = Duration::from_micros(now_us - p.echo_timestamp_us);
                        self.last_rtt = Some(rtt);
                        self.events.push_back(Event::Rtt(rtt));
                    }
                }
                Frame::Status(s) => self.events.push_back(Event::Status(s)),
                Frame::Data(d) => self.events.push_back(Event::Data(d)),
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
        if let Some(auth) = &self.config.authenticator
            && let Err(reason) = auth.verify(&self.challenge, &hello)
        {
            let text = format!(
                "authentication failed for node {:?}: {reason}",
                hello.node_name
            );
            self.protocol_error(ErrorCode::AuthFailed, text, now);
            return;
        }
        // The nonce has served its purpose.
        self.challenge = Bytes::new();
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
        let kept = PeerInfo {
            name: peer.name.clone(),
            incarnation: peer.incarnation,
            interval: peer.interval,
            version: peer.version,
            labels: Vec::new(),
            advertise: None,
            restart: peer.restart,
        };
        self.events.push_back(Event::Up { peer });
        let peer = kept;
        // Transition: Handshake → Established; first PING goes out at once to measure RTT.
        self.state = State::Established(Box::new(Established {
            peer,
            detector: SessionDetector::from(detector),
            verdict: Verdict::Alive,
            detector_deadline: None,
            next_ping: now,
        }));
        self.send_due_pings(now);
    }

    /// Server: our PING due within half an interval goes out now, in the same write as the
    /// PONG just queued. The server's PINGs then follow the client's rhythm (still one per
    /// interval) and cost no write of their own.
    fn ride_along_ping(&mut self, now: Instant) {
        let State::Established(e) = &mut self.state else {
            return;
        };
        let half = e.peer.interval / 2;
        if e.next_ping > now && e.next_ping.saturating_duration_since(now) <= half {
            e.next_ping = now;
            self.send_due_pings(now);
        }
    }

    fn send_due_pings(&mut self, now: Instant) {
        let State::Established(e) = &mut self.state else {
            return;
        };
        if now < e.next_ping {
            return;
        }
        let interval = e.peer.interval;
        if self.role == Role::Server && self.config.coalesce_pings {
            // The server's own timer lags a quarter interval, so that the client's PING
            // (every interval) normally arrives first and carries ours along in the same
            // write (`ride_along_ping`); a quarter interval of client jitter is tolerated
            // before the server pings on its own again.
            e.next_ping = now + interval + interval / 4;
        } else {
            e.next_ping += interval;
            if e.next_ping <= now {
                // We fell behind (timer woke late): do not burst, resume the rhythm from now.
                e.next_ping = now + interval;
            }
        }
        let ping = Frame::Ping(Ping {
            seq: self.next_seq,
            timestamp_us: self.timestamp_us(now),
        });
        self.next_seq += 1;
        self.queue(&ping);
    }

    fn check_detector(&mut self, now: Instant) {
        let State::Established(e) = &mut self.state else {
            return;
        };
        let s = e.detector.suspicion(now);
        let previous = e.verdict;
        e.verdict = s.verdict;
        e.detector_deadline = e.detector.next_deadline(now);
        match (previous, s.verdict) {
            // Transition: Alive → Suspect.
            (Verdict::Alive, Verdict::Suspect) => self.events.push_back(Event::Suspect {
                silent_for: s.silent_for,
            }),
            // Transition: Suspect → Alive (a frame arrived in time).
            (Verdict::Suspect, Verdict::Alive) => self.events.push_back(Event::AliveAgain),
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
