//! The test servers answer like real ones, checked with plain std/rustls clients on loopback.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use linkpulse_testsupport::eventually;
use linkpulse_testsupport::servers::{HttpResponse, HttpServer, TcpHold, TestCa, Validity};

fn get(addr: std::net::SocketAddr, method: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "{method} / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn tcp_hold_accepts_and_holds() {
    let server = TcpHold::start("127.0.0.1:0".parse().unwrap(), None).unwrap();
    assert_ne!(server.addr().port(), 0);
    let a = TcpStream::connect(server.addr()).unwrap();
    let _b = TcpStream::connect(server.addr()).unwrap();
    assert!(eventually(Duration::from_secs(5), || server.open() == 2));
    drop(a);
    assert!(eventually(Duration::from_secs(5), || server.open() == 1));
    assert_eq!(server.accepted(), 2);
}

#[test]
fn dropping_a_server_frees_its_port() {
    let server = TcpHold::start("127.0.0.1:0".parse().unwrap(), None).unwrap();
    let addr = server.addr();
    drop(server);
    let err = TcpStream::connect(addr).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn http_server_answers_with_status_body_and_headers() {
    let server = HttpServer::start(
        "127.0.0.1:0".parse().unwrap(),
        None,
        HttpResponse::new(503)
            .body("maintenance")
            .header("Retry-After", "5"),
    )
    .unwrap();
    let reply = get(server.addr(), "GET");
    assert!(reply.starts_with("HTTP/1.1 503 "), "{reply}");
    assert!(reply.contains("Retry-After: 5\r\n"), "{reply}");
    assert!(reply.ends_with("\r\n\r\nmaintenance"), "{reply}");
    assert!(get(server.addr(), "HEAD").ends_with("\r\n\r\n"));
    assert_eq!(server.requests(), 2);
    assert_eq!(
        server.url("/health"),
        format!("http://{}/health", server.addr())
    );
}

#[test]
fn http_delay_holds_the_response_back() {
    let server = HttpServer::start(
        "127.0.0.1:0".parse().unwrap(),
        None,
        HttpResponse::new(200).delay(Duration::from_millis(300)),
    )
    .unwrap();
    let start = Instant::now();
    let reply = get(server.addr(), "GET");
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
}

/// Connects with rustls trusting only the test CA; returns the reply or the TLS error.
fn tls_get(ca: &TestCa, server: &HttpServer) -> Result<String, std::io::Error> {
    let mut roots = rustls::RootCertStore::empty();
    let ca_der = rustls_pki_types::pem::PemObject::from_pem_slice(ca.cert_pem().as_bytes())
        .map_err(std::io::Error::other)?;
    roots.add(ca_der).map_err(std::io::Error::other)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = TcpStream::connect(server.addr())?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
    let mut out = String::new();
    match tls.read_to_string(&mut out) {
        Ok(_) => Ok(out),
        // The server closes without close_notify after Connection: close; keep what came.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => Ok(out),
        Err(e) => Err(e),
    }
}

#[test]
fn tls_server_is_trusted_through_the_test_ca() {
    let ca = TestCa::new().unwrap();
    assert!(
        std::fs::read_to_string(ca.pem_path())
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    let id = ca
        .issue(&["localhost", "127.0.0.1"], Validity::expires_in_days(5))
        .unwrap();
    assert_eq!(id.chain().len(), 2);
    let server = HttpServer::start_tls(
        "127.0.0.1:0".parse().unwrap(),
        None,
        HttpResponse::new(200).body("secure"),
        &id,
    )
    .unwrap();
    assert!(server.url("/").starts_with("https://127.0.0.1:"));
    let reply = tls_get(&ca, &server).unwrap();
    assert!(reply.ends_with("secure"), "{reply}");
}

#[test]
fn an_expired_certificate_is_rejected_by_a_client() {
    let ca = TestCa::new().unwrap();
    let id = ca
        .issue(&["localhost"], Validity::expired_days_ago(2))
        .unwrap();
    let server = HttpServer::start_tls(
        "127.0.0.1:0".parse().unwrap(),
        None,
        HttpResponse::new(200),
        &id,
    )
    .unwrap();
    let err = tls_get(&ca, &server).unwrap_err();
    assert!(err.to_string().to_lowercase().contains("expired"), "{err}");
}
