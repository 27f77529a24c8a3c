//! TCP probes against real loopback sockets.

mod support;

use linkpulse_probe::{ErrorKind, Host, IpFamily, ProbeOptions, Prober, Target};

fn tcp(addr: std::net::SocketAddr) -> Target {
    Target::Tcp {
        host: Host::Ip(addr.ip()),
        port: addr.port(),
    }
}

#[tokio::test]
async fn listener_is_up_with_a_latency() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let r = Prober::new()
        .probe(&tcp(addr), &ProbeOptions::default())
        .await;
    assert!(r.up, "{r:?}");
    assert!(r.error.is_none());
    assert!(r.latency_ms.is_some_and(|l| l >= 0.0));
    assert_eq!(r.resolved, Some(addr.ip()));
    assert_eq!(r.target, format!("tcp://{addr}"));
}

#[tokio::test]
async fn closed_port_is_refused_and_named() {
    let addr = support::closed_port();
    let r = Prober::new()
        .probe(&tcp(addr), &ProbeOptions::default())
        .await;
    assert!(!r.up);
    let e = r.error.expect("an error");
    assert_eq!(e.kind, ErrorKind::Refused);
    assert_eq!(e.message, format!("connection refused by {addr}"));
    assert_eq!(r.latency_ms, None);
}

#[tokio::test]
async fn ipv6_loopback_works() {
    let Ok(listener) = tokio::net::TcpListener::bind("[::1]:0").await else {
        eprintln!("no IPv6 loopback here; skipping");
        return;
    };
    let addr = listener.local_addr().unwrap();
    let target: Target = format!("tcp://[::1]:{}", addr.port()).parse().unwrap();
    let r = Prober::new().probe(&target, &ProbeOptions::default()).await;
    assert!(r.up, "{r:?}");
}

#[tokio::test]
async fn localhost_name_resolves_and_the_family_filter_applies() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let target: Target = format!("tcp://localhost:{port}").parse().unwrap();
    let opts = ProbeOptions {
        family: IpFamily::V4,
        ..ProbeOptions::default()
    };
    let r = Prober::new().probe(&target, &opts).await;
    assert!(r.up, "{r:?}");
    assert_eq!(r.resolved, Some("127.0.0.1".parse().unwrap()));

    // An IPv4 literal with IPv6 only is refused before any packet is sent.
    let opts = ProbeOptions {
        family: IpFamily::V6,
        ..ProbeOptions::default()
    };
    let r = Prober::new()
        .probe(&tcp(listener.local_addr().unwrap()), &opts)
        .await;
    assert!(!r.up);
    let e = r.error.unwrap();
    assert!(e.message.contains("not an IPv6 address"), "{}", e.message);
}

#[tokio::test]
async fn json_shape_of_a_result() {
    let addr = support::closed_port();
    let r = Prober::new()
        .probe(&tcp(addr), &ProbeOptions::default())
        .await;
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["kind"], "tcp");
    assert_eq!(v["up"], false);
    assert!(v["latency_ms"].is_null());
    assert_eq!(v["error"]["kind"], "refused");
    assert!(v["error"]["message"].is_string());
    let back: linkpulse_probe::ProbeResult = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);
}

/// A listener whose accept queue is full drops further SYNs: on loopback that is real
/// silence, so the probe must say `timeout` (not refused) within its budget.
#[tokio::test]
async fn full_accept_queue_is_a_timeout() {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    socket
        .bind(&SockAddr::from(
            "127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(),
        ))
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    // Fill the queue: keep connecting (never accepting) until a connect hangs.
    let mut held = Vec::new();
    let mut full = false;
    for _ in 0..16 {
        match tokio::time::timeout(
            std::time::Duration::from_millis(300),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(s)) => held.push(s),
            _ => {
                full = true;
                break;
            }
        }
    }
    assert!(full, "the accept queue never filled");
    let opts = ProbeOptions {
        timeout: std::time::Duration::from_millis(400),
        ..ProbeOptions::default()
    };
    let start = std::time::Instant::now();
    let r = Prober::new().probe(&tcp(addr), &opts).await;
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    let e = r.error.expect("an error");
    assert_eq!(e.kind, ErrorKind::Timeout, "{}", e.message);
    assert_eq!(e.message, format!("no answer from {addr} within 400ms"));
    drop(socket);
}
