//! The daemon's HTTP port: its own accept loop around hyper, with the limits `axum::serve`
//! lacks, so that hostile or careless clients cannot take the monitor's descriptors.
//!
//! - **Header-read timeout** ([`HEADER_READ_TIMEOUT`]): a client that does not send a whole
//!   request head in time (slowloris) is disconnected (hyper's own timer).
//! - **Idle timeout** ([`IDLE_TIMEOUT`]): a connection with no request in progress and no byte
//!   read or written for that long is closed. An event stream counts as a request in progress
//!   until it ends.
//! - **Connection cap** ([`connection_cap`]): at most a quarter of the open-files limit (read
//!   again at every accept, so `prlimit` on the running daemon counts); the rest stays for the
//!   probes, the hub's agents, the database and alert delivery. At the cap the loop stops
//!   accepting (new clients wait in the kernel's backlog, holding none of the daemon's
//!   descriptors). From half the cap on, the port is *busy*: idle connections are closed after
//!   [`BUSY_IDLE_TIMEOUT`] and new ones get [`BUSY_HEADER_READ_TIMEOUT`], so a crowd of idle
//!   clients makes room for `/healthz` within seconds.
//!
//! The same loop serves HTTPS (`tls:` in the config): the TLS handshake is done inside each
//! connection's task, within the header-read timeout, and then the request heads get the
//! header-read timeout of their own; the cap counts connections still in their handshake.
//! Idle time is measured on the TCP stream under TLS (bytes of records), so a client sending
//! nothing is idle whatever TLS does. Only HTTP/1.1 is offered over ALPN: hyper's HTTP/2
//! server has no header-read timeout, and a client's PING frames would keep an idle h2
//! connection open for ever.
//!
//! Hand-written rather than a crate's: hyper-util's server gives neither an idle timeout nor a
//! cap, and tower-http's limits act per request, not per connection.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to send a whole request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The same while the port is busy (half the cap or more).
pub const BUSY_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a connection may sit with no request in progress and no traffic.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The same while the port is busy.
pub const BUSY_IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// The most connections the HTTP port holds at once for an open-files limit of `soft`: a
/// quarter of it (the other three quarters are kept for probes, hub sessions, the database
/// and alert delivery), at least 8.
pub fn connection_cap(soft: u64) -> usize {
    usize::try_from(soft / 4).unwrap_or(usize::MAX).max(8)
}

/// The cap for the limit in force now (a default of 1024 when it cannot be read).
fn current_cap() -> usize {
    connection_cap(linkpulse_sys::limits::open_files().map_or(1024, |(soft, _)| soft))
}

/// The open connections, shared by the accept loop and the connection tasks.
#[derive(Debug)]
struct Conns {
    open: AtomicUsize,
    /// Signalled when a connection closes (the loop may accept again; shutdown may finish).
    closed: Notify,
    /// Whether the port is busy (see the module docs).
    busy: watch::Sender<bool>,
    /// The zero of the activity clocks.
    epoch: Instant,
}

impl Conns {
    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Counts one open connection; dropping it frees the slot.
struct Slot(Arc<Conns>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.closed.notify_waiters();
        self.0.closed.notify_one();
    }
}

/// The last traffic and the requests in progress of one connection.
#[derive(Debug, Default)]
struct Activity {
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

/// A request in progress (its response head not yet sent).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(a: &Arc<Activity>) -> InFlight {
        a.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(a.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A TCP stream that notes when bytes last moved.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
    conns: Arc<Conns>,
}

impl Tracked {
    fn touch(&self) {
        self.activity
            .last_ms
            .store(self.conns.elapsed_ms(), Ordering::Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// An event stream counts as a request in progress until it ends (it is never idle, however
/// busy the port); any other response as soon as its head is made.
fn hold_while_streaming(
    r: axum::response::Response,
    in_flight: InFlight,
) -> axum::response::Response {
    let streaming = r
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !streaming {
        return r;
    }
    let (parts, body) = r.into_parts();
    let body = futures_util::StreamExt::map(body.into_data_stream(), move |chunk| {
        let _held = &in_flight;
        chunk
    });
    axum::response::Response::from_parts(parts, axum::body::Body::from_stream(body))
}

/// Whether an accept error means this process (or the system) has no descriptor left.
fn out_of_descriptors(e: &io::Error) -> bool {
    e.raw_os_error()
        .and_then(linkpulse_probe::LocalReason::of_errno)
        == Some(linkpulse_probe::LocalReason::NoFileDescriptors)
}

/// Serves `router` on `listener` with the limits of the module docs until `shutdown`
/// resolves; then stops accepting, lets requests in progress finish and returns once every
/// connection has closed. With `tls`, every connection is HTTPS (see the module docs). An
/// accept that fails for want of descriptors is a fault of the monitor's own: noted in
/// `health` (`/readyz`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    health: Arc<crate::health::Health>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    tokio::pin!(shutdown);
    let (busy, _) = watch::channel(false);
    let conns = Arc::new(Conns {
        open: AtomicUsize::new(0),
        closed: Notify::new(),
        busy,
        epoch: Instant::now(),
    });
    let (stop, _) = watch::channel(false);
    let mut last_emfile_log: Option<Instant> = None;
    'accept: loop {
        // At the cap: wait for a connection to close (or for the shutdown).
        loop {
            let cap = current_cap();
            let open = conns.open.load(Ordering::Acquire);
            conns.busy.send_if_modified(|b| {
                let now = open.saturating_mul(2) >= cap;
                std::mem::replace(b, now) != now
            });
            if open < cap {
                break;
            }
            let closed = conns.closed.notified();
            tokio::select! {
                () = &mut shutdown => break 'accept,
                () = closed => {}
                // The limit may be raised meanwhile (`prlimit`).
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            r = listener.accept() => r,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                if out_of_descriptors(&e) {
                    // The monitor's own exhaustion: say so (not too often) and make room by
                    // treating the port as busy until a connection closes.
                    let now = Instant::now();
                    health.local_fault(
                        now.into_std(),
                        "(the HTTP port)",
                        &format!(
                            "{}: cannot accept an HTTP connection",
                            linkpulse_probe::LocalReason::NoFileDescriptors.words()
                        ),
                    );
                    if last_emfile_log.is_none_or(|t| now - t > Duration::from_secs(10)) {
                        last_emfile_log = Some(now);
                        tracing::error!(error = %e, open = conns.open.load(Ordering::Relaxed),
                            "cannot accept an HTTP connection: no file descriptor left");
                    }
                    conns.busy.send_if_modified(|b| !std::mem::replace(b, true));
                }
                // Per-connection errors (the peer gave up) and exhaustion alike: a short pause
                // so that a persistent error does not spin.
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        conns.open.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(conns.clone());
        tokio::spawn(connection(
            stream,
            tls.clone(),
            router.clone(),
            slot,
            stop.subscribe(),
        ));
    }
    // Graceful: every connection finishes its request in progress, idle ones close at once.
    let _ = stop.send(true);
    loop {
        let closed = conns.closed.notified();
        if conns.open.load(Ordering::Acquire) == 0 {
            return Ok(());
        }
        closed.await;
    }
}

/// Serves one connection until it ends, idles out or the daemon stops: over TLS when
/// `tls` is given (the handshake within the header-read timeout), else plain.
async fn connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    router: Router,
    slot: Slot,
    mut stop: watch::Receiver<bool>,
) {
    let conns = slot.0.clone();
    let activity = Arc::new(Activity::default());
    activity
        .last_ms
        .store(conns.elapsed_ms(), Ordering::Relaxed);
    let tracked = Tracked {
        inner: stream,
        activity: activity.clone(),
        conns: conns.clone(),
    };
    let header_timeout = if *conns.busy.borrow() {
        BUSY_HEADER_READ_TIMEOUT
    } else {
        HEADER_READ_TIMEOUT
    };
    let Some(acceptor) = tls else {
        http1(tracked, router, &conns, &activity, header_timeout, stop).await;
        drop(slot);
        return;
    };
    // A client that does not finish its handshake in time holds the slot no longer than
    // one that does not finish its request head.
    let handshake = tokio::time::timeout(header_timeout, acceptor.accept(tracked));
    let stream = tokio::select! {
        r = handshake => r,
        _ = stop.changed() => return,
    };
    match stream {
        Ok(Ok(stream)) => http1(stream, router, &conns, &activity, header_timeout, stop).await,
        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!("TLS handshake not finished within {header_timeout:?}"),
    }
    drop(slot);
}

/// Serves HTTP/1.1 on `io` (a tracked TCP stream, or TLS over one) until the connection ends,
/// idles out (no request in progress and no traffic on `activity`) or the daemon stops.
async fn http1<S>(
    io: S,
    router: Router,
    conns: &Conns,
    activity: &Arc<Activity>,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut busy = conns.busy.subscribe();
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let mut router = router.clone();
        let in_flight = InFlight::start(&requests);
        async move {
            let response: Result<axum::response::Response, Infallible> =
                tower_service::Service::call(&mut router, req).await;
            Ok::<_, Infallible>(match response {
                Ok(r) => hold_while_streaming(r, in_flight),
                Err(never) => match never {},
            })
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let idle_for = if *busy.borrow() {
            BUSY_IDLE_TIMEOUT
        } else {
            IDLE_TIMEOUT
        };
        let last = activity.last_ms.load(Ordering::Relaxed);
        let deadline = conns.epoch + Duration::from_millis(last) + idle_for;
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "HTTP connection ended with an error");
                }
                break;
            }
            () = tokio::time::sleep_until(deadline) => {
                let quiet_ms = conns.elapsed_ms().saturating_sub(activity.last_ms.load(Ordering::Relaxed));
                if activity.in_flight.load(Ordering::Acquire) == 0
                    && Duration::from_millis(quiet_ms) >= idle_for
                {
                    // Idle: dropping the connection closes the socket.
                    break;
                }
            }
            r = busy.changed() => {
                if r.is_err() {
                    break;
                }
            }
            r = stop.changed(), if !stopping => {
                stopping = true;
                if r.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_three_quarters_of_the_descriptors_for_the_rest() {
        assert_eq!(connection_cap(1000), 250);
        assert_eq!(connection_cap(1024), 256);
        assert_eq!(connection_cap(20), 8);
    }
}
