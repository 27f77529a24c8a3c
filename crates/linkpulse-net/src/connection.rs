//! [`Connection`]: one heartbeat session driven over a byte stream by its own tokio task.
//!
//! The driver is the small loop the sans-IO [`Session`] asks for: bytes read go to
//! `handle_bytes`, end of stream to `handle_eof`, read/write errors (classified, `EINTR`
//! retried) to `handle_transport_error`, the single timer to `handle_timeout`; after every
//! input it writes what `poll_transmit` returns, forwards what `poll_event` returns, and re-arms
//! the timer to `poll_timeout()`. When the session is dead the task closes the socket and ends,
//! freeing everything; the last event the application sees is [`Event::Dead`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use futures_util::{FutureExt as _, Stream};
use linkpulse_proto::detector::DetectorConfig;
use linkpulse_proto::{
    Cause, Event, GoodbyeReason, Role, SendError, Session, SessionConfig, Status, TransportError,
};
use socket2::SockRef;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::classify::{IoVerdict, TransportFault, classify};
use crate::{KeepaliveProfile, NetError, PeerBook};

/// Bytes read per `read` call.
const READ_CHUNK: usize = 4 * 1024;
/// Above this many unwritten bytes the driver stops taking application messages (backpressure).
const WRITE_HIGH_WATER: usize = 1024 * 1024;
/// Events buffered for an application that is not reading before the session is closed.
const MAX_PENDING_EVENTS: usize = 16 * 1024;
/// Application messages that may wait for the driver.
const COMMAND_CAPACITY: usize = 256;

/// Parameters of a [`Connection`].
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// The heartbeat session's parameters.
    pub session: SessionConfig,
    /// Kernel backstop applied to TCP sockets; `None` leaves the socket as the kernel made it.
    /// [`ConnectionConfig::new`] derives it from the session with
    /// [`KeepaliveProfile::for_heartbeat`] (`TCP_USER_TIMEOUT` above the dead deadline).
    pub keepalive: Option<KeepaliveProfile>,
    /// How long [`Connection::connect`] waits for the TCP handshake. Default 10 s.
    pub connect_timeout: Duration,
    /// After a graceful end (GOODBYE sent or received, protocol error), how long the driver
    /// may spend flushing its last frames and waiting for the peer's FIN before it closes the
    /// socket. Default 1 s. The `Dead` event is delivered before this.
    pub linger: Duration,
    /// Events buffered in the channel to the application. Default 1024. When it is full, RTT
    /// samples are dropped and other events wait in the driver.
    pub event_capacity: usize,
    /// Remembers peers' incarnations across connections, so `Up` says whether a peer's host
    /// rebooted or its process restarted. `None`: only [`SessionConfig::previous_peer`].
    pub peer_book: Option<PeerBook>,
}

impl ConnectionConfig {
    /// Defaults around a session configuration.
    pub fn new(session: SessionConfig) -> Self {
        let keepalive = KeepaliveProfile::for_heartbeat(session.interval, dead_deadline(&session));
        ConnectionConfig {
            session,
            keepalive: Some(keepalive),
            connect_timeout: Duration::from_secs(10),
            linger: Duration::from_secs(1),
            event_capacity: 1024,
            peer_book: None,
        }
    }
}

/// The longest silence after which the session's detector declares the peer dead, for the
/// session's requested interval: the fixed timeout, or the phi detector's hard ceiling.
pub fn dead_deadline(session: &SessionConfig) -> Duration {
    match session.detector.resolve(session.interval) {
        DetectorConfig::Fixed(c) => c.dead_after,
        DetectorConfig::Phi(c) => c.max_silence,
    }
}

/// What the application asks the driver to do.
#[derive(Debug)]
enum Command {
    Data(Bytes, oneshot::Sender<Result<(), SendError>>),
    Status(Status, oneshot::Sender<Result<(), SendError>>),
}

/// A cloneable handle for sending on a [`Connection`] and closing it, e.g. from another task.
#[derive(Debug, Clone)]
pub struct ConnectionHandle {
    commands: mpsc::Sender<Command>,
    close: Arc<watch::Sender<Option<(GoodbyeReason, String)>>>,
}

impl ConnectionHandle {
    /// Sends application bytes to the peer as one DATA frame; waits while the driver's write
    /// buffer is full. Fails if the session is not established yet, the message is too large,
    /// or the connection has ended.
    pub async fn send_data(&self, data: Bytes) -> Result<(), NetError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Data(data, tx))
            .await
            .map_err(|_| NetError::Closed)?;
        rx.await
            .map_err(|_| NetError::Closed)?
            .map_err(NetError::from)
    }

    /// Reports this side's health to the peer (a STATUS frame).
    pub async fn send_status(&self, status: Status) -> Result<(), NetError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Status(status, tx))
            .await
            .map_err(|_| NetError::Closed)?;
        rx.await
            .map_err(|_| NetError::Closed)?
            .map_err(NetError::from)
    }

    /// Ends the session gracefully: the driver sends GOODBYE, reports `Dead { cause: local }`,
    /// flushes and closes the socket. Returns at once; idempotent.
    pub fn close(&self, reason: GoodbyeReason, text: &str) {
        self.close.send_if_modified(|slot| {
            if slot.is_none() {
                *slot = Some((reason, text.to_owned()));
                true
            } else {
                false
            }
        });
    }

    /// True once the driver task has ended (the socket is closed).
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }
}

/// One heartbeat session over a transport, driven by its own task.
///
/// Read its events with [`next_event`](Self::next_event) or as a [`Stream`]; the stream ends
/// after [`Event::Dead`]. Dropping the `Connection` and every [`ConnectionHandle`] closes the
/// session gracefully (GOODBYE). One connection's failure never affects another's: each has
/// its own task, socket and session.
#[derive(Debug)]
pub struct Connection {
    events: mpsc::Receiver<Event>,
    handle: ConnectionHandle,
    peer_addr: Option<SocketAddr>,
    local_addr: Option<SocketAddr>,
    task: JoinHandle<()>,
}

impl Connection {
    /// Connects to `addr` over TCP and starts a client session.
    pub async fn connect(
        addr: SocketAddr,
        config: ConnectionConfig,
    ) -> Result<Connection, NetError> {
        let timeout = config.connect_timeout;
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => return Err(NetError::Connect { addr, source }),
            Err(_) => return Err(NetError::ConnectTimeout { addr, timeout }),
        };
        Connection::from_tcp(stream, Role::Client, config)
    }

    /// Starts a session on an already connected TCP stream: applies the keepalive profile and
    /// `TCP_NODELAY`, enables `IP_RECVERR` so ICMP unreachable is reported at once, then spawns
    /// the driver. Must be called inside a tokio runtime.
    pub fn from_tcp(
        stream: TcpStream,
        role: Role,
        config: ConnectionConfig,
    ) -> Result<Connection, NetError> {
        let peer_addr = stream.peer_addr().ok();
        let local_addr = stream.local_addr().ok();
        let ipv6 = local_addr.is_some_and(|a| a.is_ipv6());
        linkpulse_sys::errqueue::enable_recverr(stream.as_fd(), ipv6).map_err(|source| {
            NetError::Socket {
                what: "enable IP_RECVERR",
                source,
            }
        })?;
        stream
            .set_nodelay(true)
            .map_err(|source| NetError::Socket {
                what: "set TCP_NODELAY",
                source,
            })?;
        if let Some(profile) = &config.keepalive {
            profile.apply(&stream)?;
        }
        // A second descriptor for the same socket, to read SO_ERROR and the error queue for
        // diagnostics while the stream itself is split between reader and writer.
        let diag = stream
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .and_then(|fd| linkpulse_sys::reactor::register_error_readiness(fd).ok());
        let mut conn = Connection::spawn(stream, role, config, diag)?;
        conn.peer_addr = peer_addr;
        conn.local_addr = local_addr;
        Ok(conn)
    }

    /// Starts a session over any byte stream (a TLS stream, an in-memory pipe). No socket
    /// options are applied. Must be called inside a tokio runtime.
    pub fn from_stream<S>(
        stream: S,
        role: Role,
        config: ConnectionConfig,
    ) -> Result<Connection, NetError>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        Connection::spawn(stream, role, config, None)
    }

    fn spawn<S>(
        stream: S,
        role: Role,
        config: ConnectionConfig,
        diag: Option<AsyncFd<OwnedFd>>,
    ) -> Result<Connection, NetError>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let now = now();
        let session = match role {
            Role::Client => Session::client(config.session.clone(), now)?,
            Role::Server => Session::server(config.session.clone(), now)?,
        };
        let (events_tx, events) = mpsc::channel(config.event_capacity.max(1));
        let (commands_tx, commands) = mpsc::channel(COMMAND_CAPACITY);
        let (close_tx, close_rx) = watch::channel(None);
        let (reader, writer) = tokio::io::split(stream);
        let driver = Driver {
            session,
            reader,
            writer,
            out: VecDeque::new(),
            out_bytes: 0,
            events_tx,
            pending: VecDeque::new(),
            commands,
            commands_open: true,
            close_rx,
            diag,
            peer_book: config.peer_book,
            linger: config.linger,
        };
        let task = tokio::spawn(driver.run());
        Ok(Connection {
            events,
            handle: ConnectionHandle {
                commands: commands_tx,
                close: Arc::new(close_tx),
            },
            peer_addr: None,
            local_addr: None,
            task,
        })
    }

    /// The next event; `None` after [`Event::Dead`] has been returned.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// A cloneable handle for sending and closing from elsewhere.
    pub fn handle(&self) -> ConnectionHandle {
        self.handle.clone()
    }

    /// The peer's address (TCP connections only).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer_addr
    }

    /// This side's address (TCP connections only).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// See [`ConnectionHandle::send_data`].
    pub async fn send_data(&self, data: Bytes) -> Result<(), NetError> {
        self.handle.send_data(data).await
    }

    /// See [`ConnectionHandle::send_status`].
    pub async fn send_status(&self, status: Status) -> Result<(), NetError> {
        self.handle.send_status(status).await
    }

    /// See [`ConnectionHandle::close`].
    pub fn close(&self, reason: GoodbyeReason, text: &str) {
        self.handle.close(reason, text);
    }

    /// Waits until the driver task has ended and the socket is closed, discarding events not
    /// yet read.
    pub async fn finished(mut self) {
        self.events.close();
        while self.events.recv().await.is_some() {}
        let _ = (&mut self.task).await;
    }
}

impl Stream for Connection {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.get_mut().events.poll_recv(cx)
    }
}

/// The current instant on tokio's clock (so `tokio::time::pause` drives sessions in tests).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

fn to_transport_error(fault: TransportFault, err: &std::io::Error) -> TransportError {
    match fault {
        TransportFault::Reset => TransportError::Reset,
        TransportFault::Timeout => TransportError::TimedOut,
        TransportFault::Unreachable => TransportError::Unreachable,
        _ => TransportError::Other(err.to_string()),
    }
}

/// The state of one connection's task.
struct Driver<S> {
    session: Session,
    reader: tokio::io::ReadHalf<S>,
    writer: tokio::io::WriteHalf<S>,
    /// Frames not yet fully written, in order; the front may be partly written.
    out: VecDeque<Bytes>,
    out_bytes: usize,
    events_tx: mpsc::Sender<Event>,
    /// Events waiting for room in the channel, in order.
    pending: VecDeque<Event>,
    commands: mpsc::Receiver<Command>,
    commands_open: bool,
    close_rx: watch::Receiver<Option<(GoodbyeReason, String)>>,
    /// A second descriptor of the TCP socket, registered for error readiness only: POLLERR
    /// (an ICMP error reported through `IP_RECVERR`) wakes the driver even while it has
    /// nothing to read or write, and `SO_ERROR` says which error.
    diag: Option<AsyncFd<OwnedFd>>,
    peer_book: Option<PeerBook>,
    linger: Duration,
}

/// Waits for POLLERR on `diag` and takes the pending socket error (`SO_ERROR`). Never resolves
/// without a descriptor.
async fn socket_error(diag: Option<&AsyncFd<OwnedFd>>) -> std::io::Result<Option<std::io::Error>> {
    let Some(fd) = diag else {
        return std::future::pending().await;
    };
    let mut guard = fd.ready(Interest::ERROR).await?;
    let pending = SockRef::from(guard.get_inner()).take_error();
    guard.clear_ready();
    pending
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> Driver<S> {
    async fn run(mut self) {
        let mut buf = vec![0u8; READ_CHUNK];
        let mut close_open = true;
        // One timer for the whole life of the connection, moved only when the session's
        // deadline changes (re-registering a timer on every loop turn costs CPU per heartbeat).
        let far = || tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
        let timer = tokio::time::sleep_until(far());
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            self.drain_session();
            if self.session.is_dead() {
                break;
            }
            let deadline = self.session.poll_timeout();
            if deadline != armed {
                armed = deadline;
                let at = deadline.map_or_else(far, tokio::time::Instant::from_std);
                timer.as_mut().reset(at);
            }
            let take_commands = self.commands_open && self.out_bytes < WRITE_HIGH_WATER;
            let front = self.out.front().cloned();
            tokio::select! {
                r = self.reader.read(&mut buf) => match r {
                    Ok(0) => self.session.handle_eof(now()),
                    Ok(n) => self.session.handle_bytes(buf.get(..n).unwrap_or_default(), now()),
                    Err(e) => self.on_io_error(&e, "read"),
                },
                r = write_some(&mut self.writer, front), if !self.out.is_empty() => match r {
                    Ok(0) => self.session.handle_transport_error(
                        TransportError::Other("write returned 0 bytes".to_owned()), now()),
                    Ok(n) => self.advance(n),
                    Err(e) => self.on_io_error(&e, "write"),
                },
                permit = async { self.events_tx.clone().reserve_owned().await }, if !self.pending.is_empty() => {
                    if let (Ok(permit), Some(ev)) = (permit, self.pending.pop_front()) {
                        permit.send(ev);
                    } else {
                        // The application dropped its receiver: nobody wants events any more.
                        self.pending.clear();
                    }
                },
                cmd = self.commands.recv(), if take_commands => match cmd {
                    Some(Command::Data(data, reply)) => { let _ = reply.send(self.session.send_data(data)); }
                    Some(Command::Status(status, reply)) => { let _ = reply.send(self.session.send_status(status)); }
                    None => {
                        // Every handle is gone: nobody can use this session any more.
                        self.commands_open = false;
                        if self.events_tx.is_closed() {
                            self.session.close(GoodbyeReason::Shutdown, "connection dropped", now());
                        }
                    }
                },
                changed = self.close_rx.changed(), if close_open => {
                    let request = if changed.is_ok() { self.close_rx.borrow_and_update().clone() } else { None };
                    match request {
                        Some((reason, text)) => self.session.close(reason, &text, now()),
                        None if changed.is_err() => close_open = false,
                        None => {}
                    }
                },
                r = socket_error(self.diag.as_ref()) => match r {
                    Ok(Some(e)) => self.on_io_error(&e, "SO_ERROR"),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(%e, "error readiness unavailable");
                        self.diag = None;
                    }
                },
                () = &mut timer, if armed.is_some() => {
                    // Fired: re-arm on the next turn even if the deadline stays the same.
                    armed = None;
                    // Bytes that reached the socket before the deadline must count even if this
                    // task was scheduled late (a loaded host): read what is already there first.
                    if self.drain_ready(&mut buf) {
                        self.session.handle_timeout(now());
                    }
                }
            }
        }
        let cause = self.session.cause().cloned();
        self.shutdown(cause.as_ref()).await;
        // Deliver whatever the channel had no room for; the socket is already closed.
        let Driver {
            events_tx, pending, ..
        } = self;
        for ev in pending {
            if events_tx.send(ev).await.is_err() {
                break;
            }
        }
    }

    /// Feeds the session every chunk already readable without waiting (at most 16 chunks).
    /// Returns false if the session died on the way.
    fn drain_ready(&mut self, buf: &mut [u8]) -> bool {
        for _ in 0..16 {
            let Some(r) = self.reader.read(buf).now_or_never() else {
                break;
            };
            match r {
                Ok(0) => self.session.handle_eof(now()),
                Ok(n) => self
                    .session
                    .handle_bytes(buf.get(..n).unwrap_or_default(), now()),
                Err(e) => self.on_io_error(&e, "read"),
            }
            if self.session.is_dead() {
                return false;
            }
        }
        true
    }

    /// Moves the session's outputs to the write queue and the application.
    fn drain_session(&mut self) {
        while let Some(bytes) = self.session.poll_transmit() {
            self.out_bytes += bytes.len();
            self.out.push_back(bytes);
        }
        while let Some(mut ev) = self.session.poll_event() {
            if let (Event::Up { peer }, Some(book)) = (&mut ev, &self.peer_book) {
                let seen = book.observe(&peer.name, peer.incarnation);
                if peer.restart.is_none() {
                    peer.restart = seen;
                }
            }
            self.deliver(ev);
        }
        if self.pending.len() > MAX_PENDING_EVENTS && !self.session.is_dead() {
            tracing::warn!("application is not reading events; closing the session");
            self.session
                .close(GoodbyeReason::Other, "observer overloaded", now());
            self.drain_session();
        }
    }

    fn deliver(&mut self, ev: Event) {
        if self.pending.is_empty() {
            match self.events_tx.try_send(ev) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                // RTT samples are periodic; losing one under load is harmless.
                Err(mpsc::error::TrySendError::Full(Event::Rtt(_))) => {}
                Err(mpsc::error::TrySendError::Full(ev)) => self.pending.push_back(ev),
            }
        } else if !matches!(ev, Event::Rtt(_)) {
            self.pending.push_back(ev);
        }
    }

    fn advance(&mut self, mut n: usize) {
        self.out_bytes = self.out_bytes.saturating_sub(n);
        while n > 0 {
            let Some(front) = self.out.front_mut() else {
                break;
            };
            let take = n.min(front.len());
            front.advance(take);
            n -= take;
            if front.is_empty() {
                self.out.pop_front();
            }
        }
    }

    fn on_io_error(&mut self, err: &std::io::Error, op: &'static str) {
        let fault = match classify(err) {
            IoVerdict::Retry => return,
            IoVerdict::Fault(f) => f,
        };
        if let Some(fd) = &self.diag {
            for q in
                linkpulse_sys::errqueue::read_error_queue(fd.get_ref().as_fd()).unwrap_or_default()
            {
                tracing::debug!(?q.origin, q.icmp_type, q.icmp_code, offender = ?q.offender, "error queue");
            }
        }
        tracing::debug!(op, %err, fault = fault.as_str(), "transport error");
        self.session
            .handle_transport_error(to_transport_error(fault, err), now());
    }

    /// Closes the transport after the session died. A graceful end flushes the last frames
    /// (GOODBYE / ERROR), sends FIN and waits briefly for the peer's FIN, so the close is not a
    /// reset; after a reset, a timeout or an unreachable peer the socket is dropped at once.
    async fn shutdown(&mut self, cause: Option<&Cause>) {
        self.drain_session();
        let graceful = matches!(
            cause,
            Some(Cause::Local | Cause::Goodbye | Cause::Protocol(_) | Cause::PeerClosed)
        );
        if !graceful {
            return;
        }
        let linger = self.linger;
        let flush = async {
            while let Some(front) = self.out.pop_front() {
                if self.writer.write_all(&front).await.is_err() {
                    return;
                }
            }
            let _ = self.writer.shutdown().await;
            let mut sink = [0u8; 1024];
            // Wait for the peer's FIN (read returns 0) or an error.
            while let Ok(n) = self.reader.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(linger, flush).await;
    }
}

/// Writes some of `front` (cancel-safe: `write` either completes or writes nothing).
async fn write_some<W: AsyncWrite>(
    writer: &mut tokio::io::WriteHalf<W>,
    front: Option<Bytes>,
) -> std::io::Result<usize> {
    match front {
        Some(b) => writer.write(&b).await,
        None => std::future::pending().await,
    }
}
