//! The HTTP(S) probe: our own DNS, TCP connect and TLS handshake (each timed), then one
//! HTTP/1.1 or HTTP/2 exchange over a hyper client connection, following redirects.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use url::Url;

mod decode;
mod proxy;

pub use decode::Compression;

use crate::net::{connect_any, human, ms, resolve};
use crate::options::MAX_REDIRECTS;
use crate::tls::{self, Alpn};
use crate::{
    ErrorKind, Host, HttpDetail, HttpPhases, ProbeError, ProbeKind, ProbeOptions, ProbeResult,
};

/// How much of a body is kept for `body_contains` / `body_regex`.
const BODY_KEEP: usize = 1 << 20;

/// Reading stops after this many body bytes: a probe is not a download.
const BODY_READ_MAX: u64 = 16 << 20;

/// What one request/response exchange ended with.
enum Hop {
    /// A redirect to follow.
    Redirect(Url),
    /// The final response: status, headers and (part of) the body.
    Done {
        status: u16,
        headers: http::HeaderMap,
        body: Vec<u8>,
    },
}

/// Aborts the connection task when the probe is done with it.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A plain TCP stream whose write-side shutdown is left to the close on drop: hyper shuts a
/// finished HTTP/1.1 connection down before dropping it, which costs one more syscall per
/// probe and tells the server nothing the close (right after) does not.
struct CloseOnDrop(tokio::net::TcpStream);

impl AsyncRead for CloseOnDrop {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for CloseOnDrop {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The hyper connection of one exchange. HTTP/1.1 is driven inside the probe's own future (no
/// task and no cross-task wake-up per probe); HTTP/2 runs as a task, as hyper's h2 client needs
/// an executor anyway. Dropping it closes the connection.
enum Conn {
    /// A spawned connection task, aborted on drop.
    Task {
        /// Held only to abort the task when the exchange is over.
        _task: AbortOnDrop,
    },
    /// The connection future, polled alongside whatever waits on it; `None` once it ended.
    Inline(Option<Pin<Box<dyn Future<Output = ()> + Send>>>),
}

impl Conn {
    /// Awaits `fut` while driving the connection (which is what makes `fut` progress).
    async fn drive<F: Future>(&mut self, fut: F) -> F::Output {
        let Conn::Inline(conn) = self else {
            return fut.await;
        };
        let mut fut = std::pin::pin!(fut);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                return Poll::Ready(out);
            }
            if let Some(c) = conn
                && c.as_mut().poll(cx).is_ready()
            {
                // The connection ended (closed or failed): `fut` learns it on its next poll.
                *conn = None;
                return fut.as_mut().poll(cx);
            }
            Poll::Pending
        })
        .await
    }
}

/// State shared by the hops of one probe.
struct Run<'a> {
    tls: &'a tls::TlsConfigs,
    opts: &'a ProbeOptions,
    /// End of the network budget; pushed back by the time spent in DNS.
    deadline: Instant,
    /// Keep the body for the caller even without `body_contains` / `body_regex`.
    keep_body: bool,
    /// Method of the next request: the asked one, GET after a 303 (HEAD stays HEAD).
    method: http::Method,
    /// This hop sends a plain HTTP request to a proxy: the URI in absolute form.
    absolute_form: bool,
    /// The current hop's TCP connection was made.
    connected: bool,
    result: ProbeResult,
    detail: HttpDetail,
}

/// Probes `url`: up when the final status is expected, the body matches and every condition
/// holds. With `keep_body`, also returns the final response's headers and the first
/// [`BODY_KEEP`] bytes of its body once it was read completely.
pub(crate) async fn probe(
    tls: &tls::TlsConfigs,
    url: &Url,
    label: String,
    opts: &ProbeOptions,
    keep_body: bool,
) -> (ProbeResult, Option<crate::FinalResponse>) {
    let start = Instant::now();
    let mut run = Run {
        tls,
        opts,
        deadline: start + opts.timeout,
        keep_body,
        method: opts.http.method.clone(),
        absolute_form: false,
        connected: false,
        result: ProbeResult::empty(label, ProbeKind::Http),
        detail: HttpDetail {
            final_url: url.to_string(),
            ..HttpDetail::default()
        },
    };
    let mut current = url.clone();
    let mut final_body = None;
    let outcome = loop {
        run.detail.final_url = current.to_string();
        run.detail.phases = HttpPhases::default();
        match run.hop(&current).await {
            Err(e) => break Err(e),
            Ok(Hop::Redirect(next)) => {
                if run.detail.redirects >= MAX_REDIRECTS {
                    break Err(ProbeError::new(
                        ErrorKind::Protocol,
                        format!("more than {MAX_REDIRECTS} redirects, last to {next}"),
                    ));
                }
                run.detail.redirects += 1;
                let hop = std::mem::take(&mut run.detail.phases);
                run.detail
                    .redirect_phases
                    .get_or_insert_with(HttpPhases::default)
                    .add(&hop);
                current = next;
            }
            Ok(Hop::Done {
                status,
                headers,
                body,
            }) => {
                let verdict = run
                    .judge(status, &body)
                    .and_then(|()| run.conditions(status, &headers, &body, start.elapsed()));
                if keep_body {
                    final_body = Some(crate::FinalResponse { headers, body });
                }
                break verdict;
            }
        }
    };
    // Gatus's `connected == false`: a target that must not be reachable. Conditions about the
    // connection judge a connection that failed; all met is up (a condition about the answer
    // then sees none and is not).
    let outcome = match outcome {
        Err(e) if !run.connected && opts.http.conditions.iter().any(|c| c.about_connection()) => {
            let answer = crate::conditions::Answer {
                response_time: start.elapsed(),
                ..crate::conditions::Answer::default()
            };
            // Not met: the failed connection is the cause (and keeps its kind for the
            // diagnosis).
            crate::conditions::evaluate(&opts.http.conditions, &answer).map_err(|_| e)
        }
        other => other,
    };
    let total = ms(start.elapsed());
    run.detail.phases.total_ms = Some(total);
    let mut result = run.result;
    result.latency_ms = Some(total);
    match outcome {
        Ok(()) => {
            result.up = true;
            result.warning = tls::expiry_warning(
                opts,
                result.tls.as_deref(),
                current.host_str().unwrap_or("?"),
            );
        }
        Err(e) => result.error = Some(e),
    }
    result.http = Some(Box::new(run.detail));
    (result, final_body)
}

impl Run<'_> {
    /// Whether a final response is what was asked for.
    fn judge(&self, status: u16, body: &[u8]) -> Result<(), ProbeError> {
        let http = &self.opts.http;
        if !http.expect_status.contains(status) {
            // Only a failure needs the address in words (this parses the URL).
            let seen = self
                .result
                .resolved
                .map(|ip| format!(" (from {})", self.authority_label(ip)))
                .unwrap_or_default();
            return Err(ProbeError::new(
                ErrorKind::HttpStatus,
                format!("HTTP {status}, expected {}{seen}", http.expect_status),
            ));
        }
        let text = String::from_utf8_lossy(body);
        if let Some(needle) = &http.body_contains
            && !text.contains(needle.as_str())
        {
            return Err(ProbeError::new(
                ErrorKind::BodyMismatch,
                format!(
                    "body of {} does not contain {needle:?}",
                    self.detail.final_url
                ),
            ));
        }
        if let Some(re) = &http.body_regex
            && !re.is_match(&text)
        {
            return Err(ProbeError::new(
                ErrorKind::BodyMismatch,
                format!("body of {} does not match /{re}/", self.detail.final_url),
            ));
        }
        Ok(())
    }

    /// Evaluates the configured conditions on the final answer.
    fn conditions(
        &self,
        status: u16,
        headers: &http::HeaderMap,
        body: &[u8],
        elapsed: std::time::Duration,
    ) -> Result<(), ProbeError> {
        let conditions = &self.opts.http.conditions;
        if conditions.is_empty() {
            return Ok(());
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let answer = crate::conditions::Answer {
            status: Some(status),
            headers: Some(headers),
            body,
            response_time: elapsed,
            cert_expiry: self
                .result
                .tls
                .as_ref()
                .and_then(|t| t.earliest_expiry)
                .map(|at| at as f64 - now),
            connected: true,
        };
        crate::conditions::evaluate(conditions, &answer)
            .map_err(|f| ProbeError::new(ErrorKind::Condition, f.to_string()))
    }

    fn authority_label(&self, ip: std::net::IpAddr) -> String {
        let port = Url::parse(&self.detail.final_url)
            .ok()
            .and_then(|u| u.port_or_known_default())
            .unwrap_or(0);
        SocketAddr::new(ip, port).to_string()
    }

    /// One request/response exchange with `url`.
    async fn hop(&mut self, url: &Url) -> Result<Hop, ProbeError> {
        let host = match url.host() {
            Some(url::Host::Domain(d)) => Host::Name(d.to_owned()),
            Some(url::Host::Ipv4(ip)) => Host::Ip(ip.into()),
            Some(url::Host::Ipv6(ip)) => Host::Ip(ip.into()),
            None => {
                return Err(ProbeError::new(
                    ErrorKind::Protocol,
                    format!("{url} has no host"),
                ));
            }
        };
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err(ProbeError::new(
                    ErrorKind::Protocol,
                    format!("cannot follow to {url}: scheme {other} is not http or https"),
                ));
            }
        };
        let port = url
            .port_or_known_default()
            .unwrap_or(if https { 443 } else { 80 });

        // Through a proxy, the connection (and its name lookup) is the proxy's.
        let proxy = match &self.opts.http.proxy {
            Some(p) => Some(proxy::endpoint(p).ok_or_else(|| {
                ProbeError::new(
                    ErrorKind::Protocol,
                    format!("proxy {p} is not an http:// URL with a host"),
                )
            })?),
            None => None,
        };
        let (dial_host, dial_port) = proxy.clone().unwrap_or((host.clone(), port));
        self.absolute_form = proxy.is_some() && !https;
        self.connected = false;

        // DNS, with its own budget; its time does not eat into the network budget.
        let dns_start = Instant::now();
        let ips = resolve(&dial_host, self.opts.family, self.opts.dns_timeout).await?;
        let dns = dns_start.elapsed();
        self.deadline += dns;
        self.detail.phases.dns_ms = Some(ms(dns));

        // TCP connect.
        let (stream, addr, took) =
            match connect_any(&ips, dial_port, self.deadline, self.opts.timeout).await {
                Ok(ok) => ok,
                Err((e, ip)) => {
                    self.result.resolved = ip;
                    return Err(e);
                }
            };
        self.result.resolved = Some(addr.ip());
        self.connected = true;
        self.detail.phases.connect_ms = Some(ms(took));
        // One small request: do not let Nagle hold it back.
        let _ = stream.set_nodelay(true);
        let mut stream = stream;
        if proxy.is_some() && https {
            let authority = match &host {
                Host::Ip(std::net::IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
                other => format!("{other}:{port}"),
            };
            proxy::connect_tunnel(&mut stream, &authority, self.deadline).await?;
        }

        if !https {
            return self
                .exchange(TokioIo::new(CloseOnDrop(stream)), false, url, addr)
                .await;
        }

        // TLS handshake.
        let config = self
            .tls
            .get(
                self.opts.http.ca_file.as_deref(),
                self.opts.http.insecure,
                Alpn::H2AndHttp11,
            )
            .map_err(|e| ProbeError::new(ErrorKind::Tls, e.to_string()))?;
        let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| {
            ProbeError::new(
                ErrorKind::Tls,
                format!("{host} is not a valid TLS server name: {e}"),
            )
        })?;
        let tls_start = Instant::now();
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(&config));
        let peer = format!("{host} ({addr})");
        let tls_stream =
            match tokio::time::timeout_at(self.deadline, connector.connect(name, stream)).await {
                Err(_) => {
                    return Err(ProbeError::new(
                        ErrorKind::Timeout,
                        format!(
                            "TLS handshake with {peer} timed out (budget {})",
                            human(self.opts.timeout)
                        ),
                    ));
                }
                Ok(Err(e)) => return Err(tls::handshake_error(&e, &peer)),
                Ok(Ok(s)) => s,
            };
        self.detail.phases.tls_ms = Some(ms(tls_start.elapsed()));
        let detail = tls::detail(tls_stream.get_ref().1);
        let h2 = detail.alpn.as_deref() == Some("h2");
        self.result.tls = Some(Box::new(detail));
        self.exchange(TokioIo::new(tls_stream), h2, url, addr).await
    }

    /// Sends the request over `io` and reads the response.
    async fn exchange<I>(
        &mut self,
        io: TokioIo<I>,
        h2: bool,
        url: &Url,
        addr: SocketAddr,
    ) -> Result<Hop, ProbeError>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let request = self.request(url, h2)?;
        let send_start = Instant::now();
        let timeout = |what: &str| {
            ProbeError::new(
                ErrorKind::Timeout,
                format!("{what} from {addr} within {}", human(self.opts.timeout)),
            )
        };
        let exchange = async {
            if h2 {
                let (mut sender, conn) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
                let task = AbortOnDrop(tokio::spawn(async move {
                    let _ = conn.await;
                }));
                let response = sender.send_request(request).await?;
                Ok::<_, hyper::Error>((response, Conn::Task { _task: task }))
            } else {
                let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
                let mut conn = Conn::Inline(Some(Box::pin(async move {
                    let _ = conn.await;
                })));
                let response = conn.drive(sender.send_request(request)).await?;
                Ok((response, conn))
            }
        };
        let (response, mut conn) = match tokio::time::timeout_at(self.deadline, exchange).await {
            Err(_) => return Err(timeout("no response")),
            Ok(Err(e)) => return Err(hyper_error(&e, addr)),
            Ok(Ok(r)) => r,
        };
        self.detail.phases.first_byte_ms = Some(ms(send_start.elapsed()));
        let status = response.status().as_u16();
        self.detail.status = Some(status);
        self.detail.version = Some(version_name(response.version()).to_owned());
        let text = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        self.detail.content_length = text(header::CONTENT_LENGTH).and_then(|v| v.parse().ok());
        self.detail.last_modified = text(header::LAST_MODIFIED).map(str::to_owned);

        if self.opts.http.follow_redirects
            && matches!(status, 301 | 302 | 303 | 307 | 308)
            && let Some(location) = response.headers().get(header::LOCATION)
        {
            let location = location.to_str().map_err(|_| {
                ProbeError::new(
                    ErrorKind::Protocol,
                    format!("redirect from {url} has a non-text Location"),
                )
            })?;
            let next = url.join(location).map_err(|e| {
                ProbeError::new(
                    ErrorKind::Protocol,
                    format!("redirect from {url} to an invalid Location {location:?}: {e}"),
                )
            })?;
            if status == 303 && self.method != http::Method::HEAD {
                self.method = http::Method::GET;
            }
            return Ok(Hop::Redirect(next));
        }

        let (parts, incoming) = response.into_parts();
        let body = self.read_body(incoming, addr, &mut conn).await?;
        Ok(Hop::Done {
            status,
            headers: parts.headers,
            body,
        })
    }

    /// Reads the body within the deadline, counting every byte (up to [`BODY_READ_MAX`]) and
    /// keeping the first [`BODY_KEEP`] for matching.
    async fn read_body(
        &mut self,
        mut body: Incoming,
        addr: SocketAddr,
        conn: &mut Conn,
    ) -> Result<Vec<u8>, ProbeError> {
        let http = &self.opts.http;
        let keep = self.keep_body
            || http.body_contains.is_some()
            || http.body_regex.is_some()
            || http.conditions.iter().any(|c| c.needs_body());
        let limit = http.body_size_limit;
        let keep_max = limit.map_or(BODY_KEEP, |l| (l as usize).min(BODY_KEEP));
        // A compressed body is kept whole (up to BODY_READ_MAX) and decoded at the end; the
        // limit and what is kept apply to the decoded body.
        let encoding = http.compression;
        let (keep, keep_max, limit) = match encoding {
            Some(_) => (true, BODY_READ_MAX as usize, None),
            None => (keep, keep_max, limit),
        };
        let mut kept = Vec::new();
        let mut total: u64 = 0;
        loop {
            let frame = match tokio::time::timeout_at(self.deadline, conn.drive(body.frame())).await
            {
                Err(_) => {
                    self.detail.body_bytes = Some(total);
                    return Err(ProbeError::new(
                        ErrorKind::Timeout,
                        format!(
                            "body from {addr} not complete within {} ({total} bytes read)",
                            human(self.opts.timeout)
                        ),
                    ));
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    self.detail.body_bytes = Some(total);
                    return Err(hyper_error(&e, addr));
                }
                Ok(Some(Ok(frame))) => frame,
            };
            if let Ok(data) = frame.into_data() {
                total += data.len() as u64;
                if keep && kept.len() < keep_max {
                    let room = keep_max - kept.len();
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
                if let Some(limit) = limit
                    && total > limit
                {
                    // What a reader stopped at the limit has read (blackbox_exporter's
                    // `probe_http_uncompressed_body_length`).
                    self.detail.body_bytes = Some(limit);
                    return Err(ProbeError::new(
                        ErrorKind::Protocol,
                        format!("body from {addr} is larger than body_size_limit ({limit} bytes)"),
                    ));
                }
                if total >= BODY_READ_MAX {
                    break;
                }
            }
        }
        self.detail.body_bytes = Some(total);
        let Some(encoding) = encoding else {
            return Ok(kept);
        };
        let limit = self.opts.http.body_size_limit;
        let keep_max = limit.map_or(BODY_KEEP, |l| (l as usize).min(BODY_KEEP));
        let decoded = decode::decode(encoding, &kept, keep_max, limit)
            .map_err(|why| ProbeError::new(ErrorKind::Protocol, format!("{addr}: {why}")))?;
        self.detail.body_bytes = Some(decoded.total);
        if decoded.over_limit {
            return Err(ProbeError::new(
                ErrorKind::Protocol,
                format!(
                    "decoded body from {addr} is larger than body_size_limit ({} bytes)",
                    decoded.total
                ),
            ));
        }
        Ok(decoded.kept)
    }

    /// Builds the request: origin-form URI and a Host header for HTTP/1.1, absolute URI for h2.
    fn request(&self, url: &Url, h2: bool) -> Result<Request<Full<Bytes>>, ProbeError> {
        let bad = |e: String| {
            ProbeError::new(
                ErrorKind::Protocol,
                format!("cannot build a request for {url}: {e}"),
            )
        };
        let uri: Uri = if h2 || self.absolute_form {
            let mut u = url.clone();
            u.set_fragment(None);
            u.as_str()
                .parse()
                .map_err(|e: http::uri::InvalidUri| bad(e.to_string()))?
        } else {
            let mut path = url.path().to_owned();
            if let Some(q) = url.query() {
                path.push('?');
                path.push_str(q);
            }
            path.parse()
                .map_err(|e: http::uri::InvalidUri| bad(e.to_string()))?
        };
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(uri)
            .header(
                header::USER_AGENT,
                concat!("linkpulse/", env!("CARGO_PKG_VERSION")),
            );
        if !h2 {
            let host = url.host_str().unwrap_or_default();
            let authority = match url.port() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_owned(),
            };
            builder = builder.header(header::HOST, authority);
        }
        if let Some(credentials) = basic_credentials(url) {
            builder = builder.header(header::AUTHORIZATION, credentials);
        }
        // A configured `Accept-Encoding` header (inserted below) wins.
        if let Some(c) = self.opts.http.compression {
            builder = builder.header(header::ACCEPT_ENCODING, c.name());
        }
        // A 303 turned the request into a GET: the body stays behind.
        let body = match &self.opts.http.body {
            Some(b) if self.method == self.opts.http.method => b.clone(),
            _ => Bytes::new(),
        };
        let mut request = builder
            .body(Full::new(body))
            .map_err(|e| bad(e.to_string()))?;
        for (name, value) in &self.opts.http.headers {
            if h2 && name == header::HOST {
                continue;
            }
            request.headers_mut().insert(name.clone(), value.clone());
        }
        Ok(request)
    }
}

/// `Basic …` credentials from the URL's user-info (`http://user:password@host/`), percent-decoded;
/// `None` without user-info. A configured `Authorization` header replaces them.
fn basic_credentials(url: &Url) -> Option<String> {
    use base64::Engine as _;
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
    let mut pair = decode(url.username());
    pair.push(b':');
    pair.extend(decode(url.password().unwrap_or("")));
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    ))
}

/// `HTTP/1.1`, `HTTP/2`…
fn version_name(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    }
}

/// Classifies a hyper error seen while talking to `addr`.
fn hyper_error(e: &hyper::Error, addr: SocketAddr) -> ProbeError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            let kind = crate::net::classify_io(io);
            let what = match kind {
                ErrorKind::Reset => {
                    format!("connection reset by {addr} before a complete response")
                }
                ErrorKind::Local => crate::net::local_message(io, &format!("talking to {addr}")),
                _ => format!("{addr}: {}", crate::net::os_reason(io)),
            };
            return ProbeError::new(kind, what);
        }
        source = s.source();
    }
    if e.is_parse() || e.is_parse_status() {
        return ProbeError::new(
            ErrorKind::Protocol,
            format!("invalid HTTP response from {addr}: {e}"),
        );
    }
    if e.is_incomplete_message() {
        return ProbeError::new(
            ErrorKind::Reset,
            format!("{addr} closed the connection before a complete response"),
        );
    }
    let detail = match std::error::Error::source(e) {
        Some(s) => format!("{e}: {s}"),
        None => e.to_string(),
    };
    ProbeError::new(
        ErrorKind::Protocol,
        format!("HTTP exchange with {addr} failed: {detail}"),
    )
}
