//! Local fixtures for probe tests: HTTP/1.1 and HTTP/2 servers (plain and TLS) on loopback,
//! certificates from a private CA made with rcgen, servers that misbehave, closed ports.
//! Shared (by `#[path]`) with the `linkpulse` binary's `check_*` tests.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running fixture server; stops accepting when dropped.
pub struct Server {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A port on loopback with nothing listening: bound, then closed.
pub fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    addr
}

/// A private CA that signs leaf certificates.
pub struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    pub fn new() -> Pki {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "linkpulse test CA");
        let ca = CertifiedIssuer::self_signed(params, key).expect("CA cert");
        Pki { ca }
    }

    /// The CA certificate in PEM.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// Writes the CA certificate to `dir/ca.pem`.
    pub fn write_ca(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.ca_pem()).expect("write CA");
        path
    }

    /// A leaf certificate for `names`, valid from `from_days` to `to_days` days from now, with
    /// the CA certificate after it in the chain.
    pub fn leaf(
        &self,
        names: &[&str],
        from_days: i64,
        to_days: i64,
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().expect("leaf key");
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, "linkpulse test server");
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(from_days);
        params.not_after = now + time::Duration::days(to_days);
        let cert = params.signed_by(&key, &self.ca).expect("sign leaf");
        let chain = vec![cert.der().clone(), self.ca.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (chain, key)
    }

    /// A server TLS config offering h2 and http/1.1, with a leaf for localhost and 127.0.0.1
    /// valid for `to_days` more days.
    pub fn server_config(&self, from_days: i64, to_days: i64) -> Arc<rustls::ServerConfig> {
        let (chain, key) = self.leaf(&["localhost", "127.0.0.1"], from_days, to_days);
        tls_config(chain, key)
    }
}

/// A server TLS config with ALPN h2 then http/1.1.
pub fn tls_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Arc<rustls::ServerConfig> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server cert");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

async fn route(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let reply = |status: u16, body: &str| {
        let mut r = Response::new(Full::new(Bytes::from(body.to_owned())));
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        r
    };
    let redirect = |to: String| {
        let mut r = reply(302, "");
        if let Ok(v) = hyper::header::HeaderValue::from_str(&to) {
            r.headers_mut().insert(hyper::header::LOCATION, v);
        }
        r
    };
    if path == "/" {
        return Ok(reply(200, "hello from linkpulse tests"));
    }
    if let Some(code) = path.strip_prefix("/status/") {
        return Ok(reply(code.parse().unwrap_or(500), "status page"));
    }
    if path == "/slow" {
        tokio::time::sleep(Duration::from_secs(30)).await;
        return Ok(reply(200, "too late"));
    }
    if path == "/method" {
        return Ok(reply(200, req.method().as_str()));
    }
    if let Some(code) = path.strip_prefix("/moved/") {
        return Ok(redirect(format!("/status/{code}")));
    }
    if path == "/loop" {
        return Ok(redirect("/loop".to_owned()));
    }
    if path == "/headers" {
        let seen = req
            .headers()
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("?")))
            .collect::<Vec<_>>()
            .join("\n");
        return Ok(reply(200, &seen));
    }
    if let Some(n) = path.strip_prefix("/redirect/") {
        let n: u32 = n.parse().unwrap_or(0);
        if n == 0 {
            return Ok(reply(200, "landed"));
        }
        return Ok(redirect(format!("/redirect/{}", n - 1)));
    }
    Ok(reply(404, "not found"))
}

/// An HTTP server on 127.0.0.1 (TLS when `tls` is given; h2 when ALPN picks it) with routes:
/// `/` 200, `/status/N`, `/slow` (30 s), `/redirect/N` (N hops then 200 "landed"), `/loop`,
/// `/headers` (echoes request headers), `/method` (echoes the method), `/moved/N` (302 to
/// `/status/N`).
pub async fn http_server(tls: Option<Arc<rustls::ServerConfig>>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor {
                    None => serve(stream, false).await,
                    Some(acceptor) => {
                        let Ok(tls) = acceptor.accept(stream).await else {
                            return;
                        };
                        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                        serve(tls, h2).await;
                    }
                }
            });
        }
    });
    Server { addr, task }
}

async fn serve<I>(io: I, h2: bool)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    if h2 {
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(io, service_fn(route))
            .await;
    } else {
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service_fn(route))
            .await;
    }
}

/// A server that answers every connection with `reply` and closes.
pub async fn raw_server(reply: &'static [u8]) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = tokio::time::timeout(
                    Duration::from_millis(500),
                    tokio::io::AsyncReadExt::read(&mut stream, &mut buf),
                )
                .await;
                let _ = stream.write_all(reply).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Server { addr, task }
}

/// A server that accepts, reads the request and resets the connection (SO_LINGER 0).
pub async fn reset_server() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let mut buf = [0u8; 1024];
            let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await;
            reset(stream);
        }
    });
    Server { addr, task }
}

fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// A listener that accepts nothing: connects complete (kernel backlog) but no byte is ever
/// answered.
pub async fn silent_server() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    (listener, addr)
}
