//! The async driver: sockets, the receive task per socket, and [`Pinger::ping`].

use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::meaning::meaning;
use super::packet::{self, Message, Version};
use super::queue::IndexQueue;
use super::session::Session;
use super::table::SeqTable;
use super::{IcmpError, PingOptions, PingReport, SocketMode, SocketTuning, Unreachable};
use crate::sys;

/// Receive buffer asked for: room for the replies of a sweep of ~10,000 targets that arrive
/// before the receive task runs. Beyond `net.core.rmem_max` only with privileges.
const RECV_BUFFER: usize = 16 << 20;
/// Large enough for any ICMP error quoting a full 576-byte datagram behind a 60-byte header.
const RECV_SCRATCH: usize = 2048;
/// Senders read the socket themselves after this many sends (see `Family::after_send`).
const DRAIN_EVERY: u32 = 64;
/// Consecutive non-`WouldBlock` receive errors after which a drain pass gives up.
const MAX_RECV_ERRORS: u32 = 64;

/// An ICMP echo engine shared by any number of concurrent pings.
///
/// Cheap to clone (all clones share the sockets); `Send + Sync`. The sockets are opened by
/// [`Pinger::new`]; each is attached to the tokio runtime (I/O and time enabled) of the first
/// `ping` of its family, and moves to the runtime of the next ping once that runtime is gone.
/// Dropping the last clone stops the receive tasks and closes the sockets.
#[derive(Debug, Clone)]
pub struct Pinger {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Random key mixed into every nonce.
    secret: u64,
    /// Counts probes, for unique nonces.
    probes: AtomicU64,
    /// Bytes of echo payload (at least [`packet::PAYLOAD_LEN`]).
    payload: usize,
    v4: Slot,
    v6: Slot,
}

/// One address family's socket, started on first use.
#[derive(Debug)]
struct Slot {
    state: Mutex<SlotState>,
}

#[derive(Debug)]
enum SlotState {
    /// Opened by `new`, not yet attached to a runtime.
    Opened { sock: Socket, mode: SocketMode },
    /// Attached; a receive task is running.
    Running {
        family: Arc<Family>,
        task: AbortHandle,
    },
    /// Could not be opened or attached; every ping of this family reports this.
    Failed(IcmpError),
}

/// A running ICMP socket of one family with its in-flight table.
#[derive(Debug)]
struct Family {
    version: Version,
    mode: SocketMode,
    /// Identifier we put in requests; replies must carry it on raw sockets.
    ident: u16,
    fd: AsyncFd<Socket>,
    table: Mutex<SeqTable<Waiter>>,
    /// Requests sent, for `Family::after_send`.
    sends: AtomicU32,
    /// Set when a probe waits for a free sequence number; cleared by whoever frees one.
    starved: AtomicBool,
    freed: Notify,
}

/// Where to deliver the outcome of one probe.
#[derive(Debug)]
struct Waiter {
    mailbox: Arc<Mailbox>,
    index: u32,
}

/// The events of one ping, filled by the receive task and emptied by the ping.
///
/// Lighter than a channel: no allocation until the first event, one wake-up per batch.
#[derive(Debug, Default)]
struct Mailbox {
    events: Mutex<Vec<Event>>,
    ready: Notify,
}

impl Mailbox {
    fn post(&self, event: Event) {
        lock(&self.events).push(event);
        // Stores a permit when the ping is not waiting yet, so no event is missed.
        self.ready.notify_one();
    }
}

/// What the receive task saw for one probe.
#[derive(Debug)]
struct Event {
    index: u32,
    /// When the packet was read from the socket.
    at: Instant,
    kind: EventKind,
}

#[derive(Debug)]
enum EventKind {
    /// An echo reply, with its hop limit (IPv4 TTL) when the socket showed it.
    Reply(Option<u8>),
    Error(Unreachable),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn random_seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

/// SplitMix64 finaliser: spreads a counter into an unpredictable-looking nonce.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn is_permission(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES))
}

/// Errors a send can return because an earlier ICMP error (for another probe) is pending on
/// the socket; the send itself did not happen and may be retried.
fn is_deferred_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EHOSTUNREACH
                | libc::ENETUNREACH
                | libc::ECONNREFUSED
                | libc::EHOSTDOWN
                | libc::EPROTO
        )
    )
}

fn mode_name(mode: SocketMode) -> &'static str {
    match mode {
        SocketMode::Datagram => "datagram",
        SocketMode::Raw => "raw",
    }
}

/// Opens and configures one ICMP socket.
fn try_open(version: Version, mode: SocketMode, tuning: &SocketTuning) -> io::Result<Socket> {
    let (domain, protocol) = match version {
        Version::V4 => (Domain::IPV4, Protocol::ICMPV4),
        Version::V6 => (Domain::IPV6, Protocol::ICMPV6),
    };
    let ty = match mode {
        SocketMode::Datagram => Type::DGRAM,
        SocketMode::Raw => Type::RAW,
    };
    let sock = Socket::new(domain, ty, Some(protocol))?;
    sock.set_nonblocking(true)?;
    sys::tune(
        &sock,
        version == Version::V6,
        tuning.ttl,
        tuning.dont_fragment,
    )?;
    sys::grow_recv_buffer(&sock, RECV_BUFFER);
    match (mode, version) {
        (SocketMode::Raw, Version::V4) => {
            let pass = [
                packet::V4_ECHO_REPLY,
                packet::V4_DEST_UNREACH,
                packet::V4_TIME_EXCEEDED,
            ];
            if let Err(e) = sys::set_icmp_filter_v4(&sock, &pass) {
                tracing::debug!(error = %e, "ICMP_FILTER not set; foreign ICMP is filtered in user space");
            }
        }
        (SocketMode::Raw, Version::V6) => {
            let pass = [
                packet::V6_ECHO_REPLY,
                packet::V6_DEST_UNREACH,
                packet::V6_PACKET_TOO_BIG,
                packet::V6_TIME_EXCEEDED,
            ];
            if let Err(e) = sys::set_icmp_filter_v6(&sock, &pass) {
                tracing::debug!(error = %e, "ICMP6_FILTER not set; foreign ICMPv6 is filtered in user space");
            }
        }
        (SocketMode::Datagram, v) => sys::enable_recv_err(&sock, v == Version::V6)?,
    }
    // Raw IPv4 reads carry the TTL in the IP header; every other socket reports the hop limit
    // of a reply as ancillary data.
    if !(mode == SocketMode::Raw && version == Version::V4)
        && let Err(e) = sys::enable_recv_hop_limit(&sock, version == Version::V6)
    {
        tracing::debug!(error = %e, "hop limit of replies not available");
    }
    Ok(sock)
}

/// Opens a socket of the requested mode, or the first that works of datagram then raw.
fn open(
    version: Version,
    mode: Option<SocketMode>,
    tuning: &SocketTuning,
) -> Result<(Socket, SocketMode), IcmpError> {
    let modes: &[SocketMode] = match mode {
        Some(SocketMode::Datagram) => &[SocketMode::Datagram],
        Some(SocketMode::Raw) => &[SocketMode::Raw],
        None => &[SocketMode::Datagram, SocketMode::Raw],
    };
    let mut denied = Vec::new();
    let mut other = None;
    for &m in modes {
        match try_open(version, m, tuning) {
            Ok(sock) => return Ok((sock, m)),
            Err(e) if is_permission(&e) => denied.push(format!("{} socket: {e}", mode_name(m))),
            Err(e) => {
                other.get_or_insert(e);
            }
        }
    }
    let number = match version {
        Version::V4 => 4,
        Version::V6 => 6,
    };
    match other {
        Some(source) => Err(IcmpError::FamilyUnavailable {
            version: number,
            source,
        }),
        None => Err(IcmpError::Permission {
            detail: format!("IPv{number} {}", denied.join(", ")),
        }),
    }
}

impl Pinger {
    /// Opens ICMP sockets for IPv4 and IPv6: unprivileged datagram sockets where
    /// `net.ipv4.ping_group_range` allows them, else raw sockets.
    ///
    /// Fails with [`IcmpError::Permission`] when neither kind may be opened, or with the IPv4
    /// error when neither family has a socket. When only one family failed, pings to it
    /// return that error in [`PingReport::error`].
    pub fn new() -> Result<Pinger, IcmpError> {
        Pinger::open(None, &SocketTuning::default())
    }

    /// Like [`Pinger::new`] but with only the given kind of socket (no fallback).
    pub fn with_mode(mode: SocketMode) -> Result<Pinger, IcmpError> {
        Pinger::open(Some(mode), &SocketTuning::default())
    }

    /// Like [`Pinger::new`], with sockets that send every request with `tuning`'s hop limit,
    /// don't-fragment setting and payload size.
    pub fn with_tuning(tuning: &SocketTuning) -> Result<Pinger, IcmpError> {
        Pinger::open(None, tuning)
    }

    fn open(mode: Option<SocketMode>, tuning: &SocketTuning) -> Result<Pinger, IcmpError> {
        let v4 = open(Version::V4, mode, tuning);
        let v6 = open(Version::V6, mode, tuning);
        match (&v4, &v6) {
            (Err(e @ IcmpError::Permission { .. }), _) | (Err(e), Err(_)) => return Err(e.clone()),
            _ => {}
        }
        let slot = |r: Result<(Socket, SocketMode), IcmpError>| Slot {
            state: Mutex::new(match r {
                Ok((sock, mode)) => SlotState::Opened { sock, mode },
                Err(e) => SlotState::Failed(e),
            }),
        };
        let secret = random_seed();
        Ok(Pinger {
            inner: Arc::new(Inner {
                secret,
                probes: AtomicU64::new(0),
                payload: tuning.payload_size.max(packet::PAYLOAD_LEN),
                v4: slot(v4),
                v6: slot(v6),
            }),
        })
    }

    /// The kind of socket used for addresses of `addr`'s family, or `None` if that family has
    /// no socket.
    pub fn socket_mode(&self, addr: IpAddr) -> Option<SocketMode> {
        match &*lock(&self.slot(addr.to_canonical()).state) {
            SlotState::Opened { mode, .. } => Some(*mode),
            SlotState::Running { family, .. } => Some(family.mode),
            SlotState::Failed(_) => None,
        }
    }

    fn slot(&self, addr: IpAddr) -> &Slot {
        match addr {
            IpAddr::V4(_) => &self.inner.v4,
            IpAddr::V6(_) => &self.inner.v6,
        }
    }

    /// The running socket for `addr`'s family, attaching it to the current runtime first.
    fn family(&self, addr: IpAddr) -> Result<Arc<Family>, IcmpError> {
        let mut state = lock(&self.slot(addr).state);
        match &*state {
            SlotState::Running { family, task } if !task.is_finished() => {
                return Ok(Arc::clone(family));
            }
            SlotState::Running { .. } => detach(&mut state)?,
            SlotState::Failed(e) => return Err(e.clone()),
            SlotState::Opened { .. } => {}
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| IcmpError::Runtime {
            detail: e.to_string(),
        })?;
        let placeholder = SlotState::Failed(IcmpError::Runtime {
            detail: "socket is being attached".to_owned(),
        });
        let SlotState::Opened { sock, mode } = std::mem::replace(&mut *state, placeholder) else {
            return Err(IcmpError::Runtime {
                detail: "socket state changed unexpectedly".to_owned(),
            });
        };
        let version = match addr {
            IpAddr::V4(_) => Version::V4,
            IpAddr::V6(_) => Version::V6,
        };
        // The kernel picks the identifier of datagram sockets; ours only matters for raw ones.
        let ident = (self.inner.secret >> 48) as u16;
        let first_seq = (self.inner.secret >> 32) as u16;
        let table_ident = (mode == SocketMode::Raw).then_some(ident);
        let fd = match sys::register(sock) {
            Ok(fd) => fd,
            Err(e) => {
                let err = IcmpError::Io(e);
                *state = SlotState::Failed(err.clone());
                return Err(err);
            }
        };
        let family = Arc::new(Family {
            version,
            mode,
            ident,
            fd,
            table: Mutex::new(SeqTable::new(table_ident, first_seq)),
            sends: AtomicU32::new(0),
            starved: AtomicBool::new(false),
            freed: Notify::new(),
        });
        let task = runtime
            .spawn(receive_loop(Arc::clone(&family)))
            .abort_handle();
        *state = SlotState::Running {
            family: Arc::clone(&family),
            task,
        };
        Ok(family)
    }

    fn next_nonce(&self) -> u64 {
        let n = self.inner.probes.fetch_add(1, Ordering::Relaxed);
        mix(self.inner.secret ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    /// Pings `addr` `opts.count` times, `opts.interval` apart, waiting up to `opts.timeout`
    /// for each reply. Never fails: problems of the pinger itself land in
    /// [`PingReport::error`]. IPv4-mapped IPv6 addresses are pinged over IPv4.
    ///
    /// Cancel-safe: dropping the future forgets its probes.
    pub async fn ping(&self, addr: IpAddr, opts: &PingOptions) -> PingReport {
        self.ping_until(addr, opts, std::future::pending()).await
    }

    /// Like [`Pinger::ping`], but ends early once `stop` completes (e.g. on Ctrl-C) and
    /// reports what was seen so far, as `ping` does when interrupted: requests still waiting
    /// for their reply count as lost, requests not yet sent are not counted.
    pub async fn ping_until(
        &self,
        addr: IpAddr,
        opts: &PingOptions,
        stop: impl Future<Output = ()>,
    ) -> PingReport {
        let mut stop = pin!(stop);
        let addr = addr.to_canonical();
        if let Err(e) = opts.validate() {
            return PingReport::failed(e);
        }
        let family = match self.family(addr) {
            Ok(f) => f,
            Err(e) => return PingReport::failed(e),
        };
        let mut run = Run {
            family: &family,
            session: Session::new(opts, Instant::now()),
            inflight: InFlight {
                family: &family,
                probes: IndexQueue::default(),
            },
            mailbox: Arc::new(Mailbox::default()),
            events: Vec::new(),
            hop_limit: None,
        };
        let dest = SockAddr::from(SocketAddr::new(addr, 0));
        let mut sleep = pin!(tokio::time::sleep(Duration::ZERO));
        loop {
            while let Some(index) = run.session.poll_transmit(Instant::now()) {
                let nonce = self.next_nonce();
                let seq = run.register(addr, nonce, index).await;
                run.inflight.set(index, seq, nonce);
                let fixed;
                let sized;
                let request: &[u8] = if self.inner.payload == packet::PAYLOAD_LEN {
                    fixed = packet::build_echo(family.version, family.ident, seq, nonce);
                    &fixed
                } else {
                    sized = packet::build_echo_sized(
                        family.version,
                        family.ident,
                        seq,
                        nonce,
                        self.inner.payload,
                    );
                    &sized
                };
                let sent_at = Instant::now();
                match family.send(request, &dest).await {
                    Ok(()) => run.session.on_sent(index, sent_at),
                    Err(source) => {
                        run.inflight.release(index);
                        run.session
                            .on_send_failed(index, IcmpError::Send { addr, source });
                    }
                }
            }
            run.expire();
            if run.session.is_done() {
                break;
            }
            let Some(deadline) = run.session.poll_timeout() else {
                break;
            };
            sleep
                .as_mut()
                .reset(tokio::time::Instant::from_std(deadline));
            tokio::select! {
                biased;
                // Events are taken by `run.expire()` at the top of the loop.
                () = run.mailbox.ready.notified() => {}
                () = &mut sleep => {}
                () = &mut stop => {
                    // Replies already received count; the rest in flight are lost.
                    run.take_events();
                    break;
                }
            }
        }
        let Run {
            session,
            inflight,
            hop_limit,
            ..
        } = run;
        drop(inflight);
        let mut report = session.report();
        report.reply_hop_limit = hop_limit;
        report
    }
}

/// The receive task ended, so the runtime it ran on is gone (or its socket failed): takes the
/// socket back so the next ping attaches it to its own runtime.
fn detach(state: &mut SlotState) -> Result<(), IcmpError> {
    let placeholder = SlotState::Failed(IcmpError::Runtime {
        detail: "socket is being detached".to_owned(),
    });
    let SlotState::Running { family, task } = std::mem::replace(state, placeholder) else {
        return Ok(());
    };
    match Arc::try_unwrap(family) {
        Ok(family) => {
            let mode = family.mode;
            *state = SlotState::Opened {
                sock: family.fd.into_inner(),
                mode,
            };
            Ok(())
        }
        Err(family) => {
            *state = SlotState::Running { family, task };
            Err(IcmpError::Runtime {
                detail: "the runtime running the ICMP receive task has stopped while pings of \
                         another runtime still use the socket; use one Pinger per runtime"
                    .to_owned(),
            })
        }
    }
}

/// One ping in progress: its session, the sequence numbers it holds and its mailbox.
struct Run<'a> {
    family: &'a Family,
    session: Session,
    inflight: InFlight<'a>,
    mailbox: Arc<Mailbox>,
    /// Scratch space swapped with the mailbox, to read events without holding its lock.
    events: Vec<Event>,
    /// Hop limit of the last counted reply.
    hop_limit: Option<u8>,
}

impl Run<'_> {
    /// Feeds every event the receive task posted into the session.
    fn take_events(&mut self) {
        std::mem::swap(&mut self.events, &mut *lock(&self.mailbox.events));
        for event in self.events.drain(..) {
            // The receive task already took the probe out of the table.
            self.inflight.forget(event.index);
            match event.kind {
                EventKind::Reply(hops) => {
                    if self.session.on_reply(event.index, event.at) && hops.is_some() {
                        self.hop_limit = hops;
                    }
                }
                EventKind::Error(u) => self.session.on_error(event.index, u),
            }
        }
    }

    /// Takes the events that arrived, then gives up on probes whose timeout passed. (Events
    /// first: a reply already received must not be counted lost.)
    fn expire(&mut self) {
        self.take_events();
        let inflight = &mut self.inflight;
        self.session.expire(Instant::now(), |i| inflight.release(i));
    }

    /// Takes a sequence number for probe `index`. While all are in flight, waits — but
    /// never past this ping's own next timeout, whose expiry frees numbers it holds itself.
    async fn register(&mut self, addr: IpAddr, nonce: u64, index: u32) -> u16 {
        loop {
            let waiter = Waiter {
                mailbox: Arc::clone(&self.mailbox),
                index,
            };
            let registered = self.family.register(addr, nonce, waiter);
            let Some(at) = self.session.next_expiry() else {
                return registered.await;
            };
            match tokio::time::timeout_at(tokio::time::Instant::from_std(at), registered).await {
                Ok(seq) => return seq,
                Err(_elapsed) => self.expire(),
            }
        }
    }
}

/// The sequence numbers one ping holds; released on timeout and when the ping ends or is
/// dropped.
struct InFlight<'a> {
    family: &'a Family,
    /// (sequence, nonce) of each probe still in the table, by probe index.
    probes: IndexQueue<(u16, u64)>,
}

impl InFlight<'_> {
    fn set(&mut self, index: u32, seq: u16, nonce: u64) {
        self.probes.push(index, (seq, nonce));
    }

    fn forget(&mut self, index: u32) -> Option<(u16, u64)> {
        self.probes.remove(index)
    }

    fn release(&mut self, index: u32) {
        if let Some((seq, nonce)) = self.forget(index) {
            self.family.remove(seq, nonce);
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        for (seq, nonce) in self.probes.drain() {
            self.family.remove(seq, nonce);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for slot in [&self.v4, &self.v6] {
            if let SlotState::Running { task, .. } = &*lock(&slot.state) {
                task.abort();
            }
        }
    }
}

impl Family {
    /// Takes a free sequence number for a probe, waiting while all 65,536 are in flight.
    async fn register(&self, dst: IpAddr, nonce: u64, waiter: Waiter) -> u16 {
        let mut waiter = match lock(&self.table).insert(dst, nonce, waiter) {
            Ok(seq) => return seq,
            Err(w) => w,
        };
        loop {
            // Listen before the retry, so a number freed in between is not missed.
            let mut freed = pin!(self.freed.notified());
            freed.as_mut().enable();
            self.starved.store(true, Ordering::Release);
            match lock(&self.table).insert(dst, nonce, waiter) {
                Ok(seq) => return seq,
                Err(w) => waiter = w,
            }
            freed.await;
        }
    }

    fn remove(&self, seq: u16, nonce: u64) {
        let removed = lock(&self.table).remove(seq, nonce).is_some();
        if removed {
            self.after_free();
        }
    }

    fn after_free(&self) {
        if self.starved.load(Ordering::Acquire) && self.starved.swap(false, Ordering::AcqRel) {
            self.freed.notify_waiters();
        }
    }

    /// Sends one request, waiting for buffer space and retrying when the socket reports an
    /// ICMP error that belongs to an earlier probe.
    async fn send(&self, request: &[u8], dest: &SockAddr) -> io::Result<()> {
        let mut deferred = 0;
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| fd.get_ref().send_to(request, dest)) {
                Ok(Ok(_)) => {
                    self.after_send();
                    return Ok(());
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) if is_deferred_error(&e) && deferred < 3 => deferred += 1,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
    }

    /// Every [`DRAIN_EVERY`] sends, reads the socket right away instead of leaving it to the
    /// receive task: when thousands of pings start at once the receive task may only run
    /// after all of them have sent, and replies must not overflow the receive buffer (which
    /// unprivileged processes cannot grow past `net.core.rmem_max`) meanwhile.
    fn after_send(&self) {
        if self.sends.fetch_add(1, Ordering::Relaxed) % DRAIN_EVERY == DRAIN_EVERY - 1 {
            let mut buf = [0u8; RECV_SCRATCH];
            if self.mode == SocketMode::Datagram {
                self.drain_error_queue(&mut buf);
            }
            self.drain(&mut buf);
        }
    }

    /// Reads every queued packet and hands each to its waiter.
    fn drain(&self, buf: &mut [u8]) {
        let mut errors = 0;
        loop {
            match sys::recv_with_hop_limit(self.fd.get_ref().as_fd(), buf) {
                Ok((len, from, hop_limit)) => {
                    let at = Instant::now();
                    if let Some(packet) = buf.get(..len) {
                        self.dispatch(packet, from, hop_limit, at);
                    }
                    errors = 0;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // A pending ICMP error surfaces here once; it is reported through the
                    // packet itself (raw) or the error queue (datagram).
                    tracing::trace!(error = %e, "ICMP receive error");
                    errors += 1;
                    if errors >= MAX_RECV_ERRORS {
                        return;
                    }
                }
            }
        }
    }

    fn dispatch(&self, packet: &[u8], from: Option<IpAddr>, hop_limit: Option<u8>, at: Instant) {
        let with_ip_header = self.mode == SocketMode::Raw && self.version == Version::V4;
        let parsed = match packet::parse(self.version, with_ip_header, packet) {
            Ok(p) => p,
            Err(why) => {
                tracing::trace!(?why, len = packet.len(), "ignoring malformed ICMP packet");
                return;
            }
        };
        let Some(src) = parsed.src.or(from).map(|a| a.to_canonical()) else {
            return;
        };
        let (waiter, kind) = match parsed.message {
            Message::EchoReply(echo) => {
                let nonce = packet::payload_nonce(echo.payload);
                let w = lock(&self.table).take_reply(src, echo.ident, echo.seq, nonce);
                (w, EventKind::Reply(parsed.ttl.or(hop_limit)))
            }
            Message::Error {
                icmp_type,
                code,
                quoted,
            } => {
                let ident = (self.mode == SocketMode::Raw).then_some(quoted.ident);
                let w = lock(&self.table).take_error(quoted.dst, ident, quoted.seq, quoted.nonce);
                let meaning = meaning(self.version, icmp_type, code);
                (
                    w,
                    EventKind::Error(Unreachable {
                        from: src,
                        code,
                        meaning,
                    }),
                )
            }
            Message::Other => return,
        };
        if let Some(w) = waiter {
            self.after_free();
            // The ping may have ended meanwhile; then nobody reads the event.
            w.mailbox.post(Event {
                index: w.index,
                at,
                kind,
            });
        }
    }

    /// Reads the error queue of a datagram socket: ICMP errors about our requests.
    fn drain_error_queue(&self, buf: &mut [u8]) {
        loop {
            // Empty queue, or a socket error: nothing more to read now.
            let Ok(Some(queued)) = sys::recv_error(self.fd.get_ref().as_fd(), buf) else {
                return;
            };
            let at = Instant::now();
            let sys::QueuedEntry {
                error: Some(error),
                dest: Some(dest),
                ..
            } = queued
            else {
                continue;
            };
            let Some((icmp_type, code)) = error.icmp() else {
                continue;
            };
            let dest = dest.ip();
            let Some(original) = buf.get(..queued.len) else {
                continue;
            };
            let Ok(Some((_ident, seq, nonce))) = packet::parse_own_echo(self.version, original)
            else {
                continue;
            };
            let dest = dest.to_canonical();
            let Some(w) = lock(&self.table).take_error(dest, None, seq, nonce) else {
                continue;
            };
            self.after_free();
            let from = error.offender.map_or(dest, |a| a.ip().to_canonical());
            let u = Unreachable {
                from,
                code,
                meaning: meaning(self.version, icmp_type, code),
            };
            w.mailbox.post(Event {
                index: w.index,
                at,
                kind: EventKind::Error(u),
            });
        }
    }
}

/// The receive task of one socket: wait for readiness, drain everything, repeat.
async fn receive_loop(family: Arc<Family>) {
    let mut buf = vec![0u8; RECV_SCRATCH];
    loop {
        let mut guard = match family.fd.ready(Interest::READABLE | Interest::ERROR).await {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(error = %e, "ICMP receive task stopped");
                return;
            }
        };
        if family.mode == SocketMode::Datagram {
            family.drain_error_queue(&mut buf);
        }
        family.drain(&mut buf);
        guard.clear_ready();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn waiter() -> Waiter {
        Waiter {
            mailbox: Arc::new(Mailbox::default()),
            index: 0,
        }
    }

    /// With all 65,536 sequence numbers in flight, a new probe waits until one is freed and
    /// then takes exactly that one.
    #[tokio::test]
    async fn full_sequence_space_waits_for_a_freed_number() {
        let Ok(pinger) = Pinger::new() else {
            eprintln!("skipped: no ICMP socket permission");
            return;
        };
        let dst = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let family = pinger.family(dst).expect("IPv4 socket");
        for nonce in 0..=u64::from(u16::MAX) {
            let _ = family.register(dst, nonce, waiter()).await;
        }
        let fam = Arc::clone(&family);
        let mut late = tokio::spawn(async move { fam.register(dst, 1 << 40, waiter()).await });
        let early = tokio::time::timeout(Duration::from_millis(100), &mut late).await;
        assert!(
            early.is_err(),
            "registered although every number is in flight: {early:?}"
        );
        let freed = lock(&family.table).remove_any_for_test();
        family.after_free();
        let seq = tokio::time::timeout(Duration::from_secs(10), late)
            .await
            .expect("the waiting probe was never woken")
            .expect("register task");
        assert_eq!(seq, freed);
    }

    #[test]
    fn nonces_do_not_repeat() {
        let Ok(pinger) = Pinger::new() else { return };
        let nonces: std::collections::HashSet<u64> =
            (0..10_000).map(|_| pinger.next_nonce()).collect();
        assert_eq!(nonces.len(), 10_000);
    }
}
