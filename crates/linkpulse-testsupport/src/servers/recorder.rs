//! A receiver that records every request whole (method, path, headers, body, arrival time)
//! and answers from a script: request N gets the script's N-th response, the last one once
//! the script runs out. Over TLS it stands in for a provider's API (PagerDuty, Discord, …)
//! in alert tests: a `429` with `Retry-After` first, then the provider's success answer.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::AsyncWriteExt;
use tokio_rustls::TlsAcceptor;

use super::http::{HttpResponse, read_request};
use super::runner::{Running, ServerError};
use super::tls::Identity;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `POST`, `PUT`, …
    pub method: String,
    /// Path and query, as in the request line.
    pub path: String,
    /// Headers in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// When its head was read.
    pub at: Instant,
}

impl Recorded {
    /// The value of header `name` (any case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn parse(raw: &[u8], at: Instant) -> Option<Recorded> {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&raw[..end]);
        let mut lines = head.split("\r\n");
        let mut first = lines.next()?.split(' ');
        let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
        let headers = lines
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                Some((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            })
            .collect();
        Some(Recorded {
            method,
            path,
            headers,
            body: raw[end + 4..].to_vec(),
            at,
        })
    }
}

/// A running recorder; stops on drop.
#[derive(Debug)]
pub struct Recorder {
    running: Running,
    got: Arc<Mutex<Vec<Recorded>>>,
    tls: bool,
}

impl Recorder {
    /// Serves on `addr` (port 0 for any), over TLS with `identity` when given, answering
    /// from `script` (at least one response).
    pub fn start(
        addr: SocketAddr,
        script: Vec<HttpResponse>,
        identity: Option<&Identity>,
    ) -> Result<Recorder, ServerError> {
        let tls = match identity {
            Some(id) => Some(TlsAcceptor::from(Arc::new(id.server_config()?))),
            None => None,
        };
        let is_tls = tls.is_some();
        let got: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let sink = got.clone();
        let script = Arc::new(script);
        let running = Running::start(addr, None, move |listener| async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (sink, script, tls) = (sink.clone(), script.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        None => serve(stream, &sink, &script).await,
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve(stream, &sink, &script).await;
                            }
                        }
                    }
                });
            }
        })?;
        Ok(Recorder {
            running,
            got,
            tls: is_tls,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    /// `https://ADDR/PATH` (or `http://`).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!(
            "{scheme}://{}/{}",
            self.addr(),
            path.trim_start_matches('/')
        )
    }

    /// Every request so far, oldest first.
    pub fn received(&self) -> Vec<Recorded> {
        self.got
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

async fn serve<S>(mut stream: S, sink: &Mutex<Vec<Recorded>>, script: &[HttpResponse])
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Some(raw) = read_request(&mut stream).await else {
        return;
    };
    let Some(request) = Recorded::parse(&raw, Instant::now()) else {
        return;
    };
    let response = {
        let mut got = sink
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = got.len();
        got.push(request);
        script.get(n).or(script.last()).cloned()
    };
    let Some(response) = response else { return };
    if stream.write_all(&response.encode(false)).await.is_ok() {
        let _ = stream.shutdown().await;
    }
}
