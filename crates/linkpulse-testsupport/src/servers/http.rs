//! A raw HTTP/1.1 server answering every request with one configured response.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

use super::runner::{Running, ServerError};
use super::tls::Identity;
use crate::netns::Namespace;

/// Largest request head read before answering anyway.
const MAX_HEAD: usize = 64 * 1024;

/// The response an [`HttpServer`] gives to every request.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code, e.g. 200 or 503.
    pub status: u16,
    /// Body bytes (omitted for `HEAD`).
    pub body: Vec<u8>,
    /// Extra headers, e.g. `("Location", "/elsewhere")`.
    pub headers: Vec<(String, String)>,
    /// Pause after reading the request head and before sending anything back.
    pub delay: Duration,
    /// Send the body with `Transfer-Encoding: chunked`, in chunks of 7 bytes, instead of with
    /// a `Content-Length`.
    pub chunked: bool,
}

/// Size of a chunk of a [`HttpResponse::chunked`] body: small, so that a body spans several.
const CHUNK: usize = 7;

impl HttpResponse {
    /// `status` with an empty body, no extra header, no delay.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            body: Vec::new(),
            headers: Vec::new(),
            delay: Duration::ZERO,
            chunked: false,
        }
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends the body in chunks of 7 bytes (`Transfer-Encoding: chunked`).
    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }

    /// Sets the delay before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub(super) fn encode(&self, head_only: bool) -> Vec<u8> {
        let length = if self.chunked {
            "Transfer-Encoding: chunked".to_owned()
        } else {
            format!("Content-Length: {}", self.body.len())
        };
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\n{length}\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
        );
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if head_only {
            return bytes;
        }
        if !self.chunked {
            bytes.extend_from_slice(&self.body);
            return bytes;
        }
        for chunk in self.body.chunks(CHUNK) {
            bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            bytes.extend_from_slice(chunk);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// An HTTP/1.1 server (plain or TLS) answering every request with one [`HttpResponse`],
/// one request per connection (`Connection: close`).
#[derive(Debug)]
pub struct HttpServer {
    running: Running,
    requests: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<String>>>,
    tls: bool,
}

impl HttpServer {
    /// Serves plain HTTP on `addr` (port 0 for any), inside `netns` if given.
    pub fn start(
        addr: SocketAddr,
        netns: Option<&Namespace>,
        response: HttpResponse,
    ) -> Result<Self, ServerError> {
        Self::start_inner(addr, netns, response, None)
    }

    /// Serves HTTPS on `addr` with `identity` (certificate chain and key from a [`super::TestCa`]).
    pub fn start_tls(
        addr: SocketAddr,
        netns: Option<&Namespace>,
        response: HttpResponse,
        identity: &Identity,
    ) -> Result<Self, ServerError> {
        let config = identity.server_config()?;
        Self::start_inner(
            addr,
            netns,
            response,
            Some(TlsAcceptor::from(Arc::new(config))),
        )
    }

    fn start_inner(
        addr: SocketAddr,
        netns: Option<&Namespace>,
        response: HttpResponse,
        tls: Option<TlsAcceptor>,
    ) -> Result<Self, ServerError> {
        let requests = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let counter = Arc::clone(&requests);
        let log = Arc::clone(&received);
        let is_tls = tls.is_some();
        let response = Arc::new(response);
        let running = Running::start(addr, netns, move |listener| async move {
            while let Ok((stream, _)) = listener.accept().await {
                let response = Arc::clone(&response);
                let seen = (Arc::clone(&counter), Arc::clone(&log));
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => answer(stream, &response, &seen).await,
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                answer(stream, &response, &seen).await;
                            }
                        }
                    }
                });
            }
        })?;
        Ok(Self {
            running,
            requests,
            received,
            tls: is_tls,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    /// `http://ADDR/PATH` or `https://ADDR/PATH` (IPv6 addresses bracketed).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let path = path.trim_start_matches('/');
        format!("{scheme}://{}/{path}", self.addr())
    }

    /// How many complete request heads were read so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Every request received so far, head and body (`Content-Length` bytes) as text.
    pub fn received(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Reads one request (head, then `Content-Length` bytes of body), records it, waits the
/// configured delay, writes the response, closes.
async fn answer<S>(
    mut stream: S,
    response: &HttpResponse,
    (counter, log): &(Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>),
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    counter.fetch_add(1, Ordering::SeqCst);
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(String::from_utf8_lossy(&request).into_owned());
    if !response.delay.is_zero() {
        tokio::time::sleep(response.delay).await;
    }
    let head_only = request.starts_with(b"HEAD ");
    if stream.write_all(&response.encode(head_only)).await.is_ok() {
        let _ = stream.shutdown().await;
    }
}

/// Reads one request: its head, then `Content-Length` bytes of body (what arrived of them).
/// `None` when the connection closed before a whole head.
pub(super) async fn read_request<S>(stream: &mut S) -> Option<Vec<u8>>
where
    S: AsyncRead + Unpin,
{
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(head.len(), |p| p + 4);
    let length = String::from_utf8_lossy(&head[..end])
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0)
        .min(MAX_HEAD);
    while head.len() < end + length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_requests_get_no_body() {
        let r = HttpResponse::new(503).body("down").header("X-A", "b");
        let full = String::from_utf8(r.encode(false)).unwrap();
        assert!(
            full.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{full}"
        );
        assert!(full.contains("Content-Length: 4\r\nConnection: close\r\nX-A: b\r\n\r\n"));
        assert!(full.ends_with("\r\n\r\ndown"));
        let head = String::from_utf8(r.encode(true)).unwrap();
        assert!(head.ends_with("\r\n\r\n"), "{head}");
    }
}
