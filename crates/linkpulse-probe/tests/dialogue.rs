//! TCP dialogues against real local servers: an SMTP-like banner with STARTTLS, an SSH-like
//! banner, a TLS-on-connect IMAP-like greeting, certificates from testsupport's test CA.

use std::net::SocketAddr;
use std::sync::Arc;

use linkpulse_probe::dialogue::{Script, Step};
use linkpulse_probe::{ErrorKind, ProbeOptions, ProbeResult, Prober, TcpOptions, TlsOptions};
use linkpulse_testsupport::servers::{Identity, SmtpServer, TestCa, Validity};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// A server whose connections are handled by `handle`, on a free loopback port.
async fn serve<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = Arc::new(handle);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handle(stream));
        }
    });
    addr
}

async fn say<S: AsyncWrite + Unpin>(w: &mut S, text: &str) {
    let _ = w.write_all(text.as_bytes()).await;
}

/// The SMTP-like server of testsupport, STARTTLS with `id`.
fn smtp_server(id: &Identity) -> SmtpServer {
    SmtpServer::start("127.0.0.1:0".parse().unwrap(), None, id).unwrap()
}

fn tls_options(ca: &TestCa) -> TlsOptions {
    TlsOptions {
        ca_file: Some(ca.pem_path().to_path_buf()),
        insecure: false,
        server_name: Some("localhost".to_owned()),
    }
}

fn smtp_script() -> Script {
    let mut banner = Step::expect("^220 (?P<host>\\S+) ESMTP")
        .unwrap()
        .then_send("EHLO monitor.test");
    banner.labels.push(("mx".to_owned(), "${host}".to_owned()));
    Script::new(vec![
        banner,
        Step::expect("^250[ -]STARTTLS")
            .unwrap()
            .then_send("STARTTLS"),
        Step::expect("^220").unwrap(),
        Step::starttls(),
        Step::send("EHLO monitor.test"),
        Step::expect("^250 ").unwrap().then_send("QUIT"),
        Step::expect("^221").unwrap(),
    ])
}

async fn probe(addr: SocketAddr, tcp: TcpOptions, warn: Option<u32>) -> ProbeResult {
    let target = format!("tcp://{addr}").parse().unwrap();
    let opts = ProbeOptions {
        tcp,
        cert_warn_days: warn,
        timeout: std::time::Duration::from_secs(3),
        ..ProbeOptions::default()
    };
    Prober::new().probe(&target, &opts).await
}

#[tokio::test]
async fn smtp_starttls_dialogue_is_up_with_the_certificate_expiry() {
    let ca = TestCa::new().unwrap();
    let id = ca
        .issue(&["localhost"], Validity::expires_in_days(20))
        .unwrap();
    let server = smtp_server(&id);
    let addr = server.addr();
    let tcp = TcpOptions {
        tls: false,
        tls_config: tls_options(&ca),
        script: smtp_script(),
    };
    let r = probe(addr, tcp, Some(30)).await;
    assert!(r.up, "{r:?}");
    let tls = r.tls.as_ref().expect("TLS details after STARTTLS");
    assert!(
        matches!(tls.cert_days_left, Some(19 | 20)),
        "{:?}",
        tls.cert_days_left
    );
    assert_eq!(tls.version.as_deref(), Some("TLSv1.3"));
    let detail = r.tcp.as_ref().unwrap();
    assert_eq!(detail.steps_done, 7);
    assert_eq!(detail.labels, vec![("mx".to_owned(), "mx.test".to_owned())]);
    assert!(!detail.failed_due_to_regex);
    let warning = r.warning.as_deref().unwrap_or_default();
    assert!(warning.contains("expires in"), "{r:?}");
}

#[tokio::test]
async fn starttls_with_an_untrusted_certificate_is_a_tls_error() {
    let ca = TestCa::new().unwrap();
    let id = ca
        .issue(&["localhost"], Validity::expires_in_days(20))
        .unwrap();
    let server = smtp_server(&id);
    let addr = server.addr();
    // The system roots only: the test CA is not among them.
    let tcp = TcpOptions {
        tls: false,
        tls_config: TlsOptions {
            ca_file: None,
            ..tls_options(&ca)
        },
        script: smtp_script(),
    };
    let r = probe(addr, tcp, None).await;
    assert!(!r.up);
    let e = r.error.as_ref().unwrap();
    assert_eq!(e.kind, ErrorKind::Tls, "{r:?}");
    assert!(e.message.contains("unknown issuer"), "{}", e.message);
}

#[tokio::test]
async fn a_banner_that_does_not_match_fails_due_to_regex() {
    let addr = serve(|mut s| async move {
        say(&mut s, "554 mx.test no service for you\r\n").await;
    })
    .await;
    let tcp = TcpOptions {
        script: smtp_script(),
        ..TcpOptions::default()
    };
    let r = probe(addr, tcp, None).await;
    assert!(!r.up);
    let e = r.error.as_ref().unwrap();
    assert_eq!(e.kind, ErrorKind::BodyMismatch, "{r:?}");
    assert!(
        e.message.contains("554 mx.test no service"),
        "{}",
        e.message
    );
    assert!(r.tcp.as_ref().unwrap().failed_due_to_regex);
}

#[tokio::test]
async fn ssh_banner_with_a_version_label() {
    let addr = serve(|mut s| async move {
        say(&mut s, "SSH-2.0-OpenSSH_9.6p1 Debian-3\r\n").await;
        // An SSH server then waits for the client's banner.
        let mut buf = [0u8; 64];
        let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
    })
    .await;
    let mut step = Step::expect("^SSH-2\\.0-(?P<version>\\S+)").unwrap();
    step.labels
        .push(("version".to_owned(), "${version}".to_owned()));
    let tcp = TcpOptions {
        script: Script::new(vec![step, Step::send("SSH-2.0-linkpulse")]),
        ..TcpOptions::default()
    };
    let r = probe(addr, tcp, None).await;
    assert!(r.up, "{r:?}");
    assert_eq!(
        r.tcp.unwrap().labels,
        vec![("version".to_owned(), "OpenSSH_9.6p1".to_owned())]
    );
}

#[tokio::test]
async fn a_silent_server_times_out_naming_the_step() {
    let addr = serve(|s| async move {
        tokio::time::sleep(std::time::Duration::from_secs(10)).await;
        drop(s);
    })
    .await;
    let tcp = TcpOptions {
        script: Script::new(vec![Step::expect("^220").unwrap()]),
        ..TcpOptions::default()
    };
    let target = format!("tcp://{addr}").parse().unwrap();
    let opts = ProbeOptions {
        tcp,
        timeout: std::time::Duration::from_millis(300),
        ..ProbeOptions::default()
    };
    let r = Prober::new().probe(&target, &opts).await;
    let e = r.error.as_ref().unwrap();
    assert_eq!(e.kind, ErrorKind::Timeout, "{r:?}");
    assert!(e.message.contains("at step 1"), "{}", e.message);
}

#[tokio::test]
async fn tls_on_connect_reports_expiry_and_runs_the_script_inside() {
    let ca = TestCa::new().unwrap();
    let id = ca
        .issue(&["localhost", "127.0.0.1"], Validity::expires_in_days(90))
        .unwrap();
    let config = Arc::new(id.server_config().unwrap());
    let addr = serve(move |s| {
        let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
        async move {
            let Ok(mut s) = acceptor.accept(s).await else {
                return;
            };
            say(&mut s, "* OK IMAP4rev1 ready\r\n").await;
            let _ = s.shutdown().await;
        }
    })
    .await;
    let tcp = TcpOptions {
        tls: true,
        tls_config: TlsOptions {
            server_name: None,
            ..tls_options(&ca)
        },
        script: Script::new(vec![Step::expect("^\\* OK").unwrap()]),
    };
    let r = probe(addr, tcp, Some(30)).await;
    assert!(r.up, "{r:?}");
    assert!(r.warning.is_none(), "{r:?}");
    assert!(matches!(
        r.tls.as_ref().unwrap().cert_days_left,
        Some(89 | 90)
    ));
    // Plain TCP to a TLS port: the greeting never comes in clear text.
    let plain = TcpOptions {
        script: Script::new(vec![Step::expect("^\\* OK").unwrap()]),
        ..TcpOptions::default()
    };
    let target = format!("tcp://{addr}").parse().unwrap();
    let opts = ProbeOptions {
        tcp: plain,
        timeout: std::time::Duration::from_millis(500),
        ..ProbeOptions::default()
    };
    let r = Prober::new().probe(&target, &opts).await;
    assert!(!r.up, "{r:?}");
}
