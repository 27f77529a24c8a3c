//! Connection and Listener over real loopback sockets: handshake, heartbeats, DATA, graceful
//! close, and bad peers that end only their own session.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use linkpulse_net::{Connection, ConnectionConfig, Listener, local_incarnation};
use linkpulse_proto::{Cause, Event, GoodbyeReason, Incarnation, Restart, SessionConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const BUDGET: Duration = Duration::from_secs(10);

fn config(name: &str) -> ConnectionConfig {
    let mut s = SessionConfig::new(name, local_incarnation());
    s.interval = Duration::from_millis(50);
    s.handshake_timeout = Duration::from_millis(500);
    ConnectionConfig::new(s)
}

async fn listener() -> (Listener, SocketAddr) {
    let l = Listener::bind("127.0.0.1:0".parse().expect("addr"), config("hub"))
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    (l, addr)
}

/// Reads events until one matches, failing after the budget.
async fn wait_for(conn: &mut Connection, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let result = timeout(BUDGET, async {
        while let Some(ev) = conn.next_event().await {
            if pred(&ev) {
                return Some(ev);
            }
        }
        None
    })
    .await;
    match result {
        Ok(Some(ev)) => ev,
        Ok(None) => panic!("stream ended before {what}"),
        Err(_) => panic!("no {what} within {BUDGET:?}"),
    }
}

async fn dead_cause(conn: &mut Connection) -> Cause {
    match wait_for(conn, "dead", |e| matches!(e, Event::Dead { .. })).await {
        Event::Dead { cause, .. } => cause,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn heartbeats_data_and_graceful_goodbye() {
    let (l, addr) = listener().await;
    let mut client = Connection::connect(addr, config("agent"))
        .await
        .expect("connect");
    let mut server = timeout(BUDGET, l.accept())
        .await
        .expect("accept in time")
        .expect("accept");

    match wait_for(&mut client, "up", |e| matches!(e, Event::Up { .. })).await {
        Event::Up { peer } => {
            assert_eq!(peer.name, "hub");
            assert_eq!(peer.interval, Duration::from_millis(50));
        }
        _ => unreachable!(),
    }
    wait_for(
        &mut server,
        "up",
        |e| matches!(e, Event::Up { peer } if peer.name == "agent"),
    )
    .await;
    wait_for(&mut client, "rtt", |e| matches!(e, Event::Rtt(_))).await;
    wait_for(&mut server, "rtt", |e| matches!(e, Event::Rtt(_))).await;

    client
        .send_data(Bytes::from_static(b"hello hub"))
        .await
        .expect("send");
    let ev = wait_for(&mut server, "data", |e| matches!(e, Event::Data(_))).await;
    assert_eq!(ev, Event::Data(Bytes::from_static(b"hello hub")));

    server.close(GoodbyeReason::Shutdown, "bye");
    assert_eq!(dead_cause(&mut client).await, Cause::Goodbye);
    assert_eq!(dead_cause(&mut server).await, Cause::Local);
    // The stream ends after Dead and the driver frees the socket.
    assert_eq!(
        timeout(BUDGET, client.next_event()).await.expect("ends"),
        None
    );
    timeout(BUDGET, server.finished())
        .await
        .expect("driver ends");
}

#[tokio::test]
async fn sending_before_the_handshake_is_refused_not_lost() {
    let (_l, addr) = listener().await;
    // Nobody accepts; the kernel completes TCP but no WELCOME comes back.
    let client = Connection::connect(addr, config("agent"))
        .await
        .expect("connect");
    let err = client
        .send_data(Bytes::from_static(b"x"))
        .await
        .expect_err("not established");
    assert!(
        err.to_string().contains("not established") || err.to_string().contains("cannot send"),
        "{err}"
    );
}

#[tokio::test]
async fn reconnect_reports_process_restart_and_host_reboot() {
    let (l, addr) = listener().await;
    let boot = [7u8; 16];
    for (nonce, boot, expected) in [
        (1, boot, None),
        (2, boot, Some(Restart::ProcessRestarted)),
        (2, [8u8; 16], Some(Restart::HostRebooted)),
    ] {
        let mut cfg = config("agent");
        cfg.session.incarnation = Incarnation::new(boot, nonce);
        let client = Connection::connect(addr, cfg).await.expect("connect");
        let mut server = l.accept().await.expect("accept");
        match wait_for(&mut server, "up", |e| matches!(e, Event::Up { .. })).await {
            Event::Up { peer } => assert_eq!(peer.restart, expected),
            _ => unreachable!(),
        }
        client.close(GoodbyeReason::Restart, "again");
        assert_eq!(dead_cause(&mut server).await, Cause::Goodbye);
    }
}

#[tokio::test]
async fn peer_process_exit_is_peer_closed_and_rst_is_reset() {
    // FIN without GOODBYE: a raw server that accepts and closes.
    let raw = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = raw.local_addr().expect("addr");
    let mut client = Connection::connect(addr, config("agent"))
        .await
        .expect("connect");
    let (mut s, _) = raw.accept().await.expect("accept");
    // Read the HELLO first: closing with unread data would send RST, not FIN.
    let mut hello = [0u8; 1024];
    let n = s.read(&mut hello).await.expect("read HELLO");
    assert!(n > 0);
    drop(s);
    assert_eq!(dead_cause(&mut client).await, Cause::PeerClosed);

    // RST: SO_LINGER 0 makes close() send a reset.
    let mut client = Connection::connect(addr, config("agent"))
        .await
        .expect("connect");
    let (s, _) = raw.accept().await.expect("accept");
    let s = s.into_std().expect("std");
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .expect("linger");
    drop(s);
    assert_eq!(dead_cause(&mut client).await, Cause::Reset);
}

/// Bad peers get `protocol`; a good session on the same listener carries on.
#[tokio::test]
async fn bad_peers_end_only_their_own_session() {
    let (l, addr) = listener().await;
    let mut good = Connection::connect(addr, config("good"))
        .await
        .expect("connect");
    let mut good_server = l.accept().await.expect("accept");
    wait_for(&mut good, "up", |e| matches!(e, Event::Up { .. })).await;

    // Garbage bytes.
    let mut raw = tokio::net::TcpStream::connect(addr).await.expect("connect");
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut bad = l.accept().await.expect("accept");
    let cause = dead_cause(&mut bad).await;
    assert_eq!(cause.as_str(), "protocol", "{cause}");

    // A header announcing a frame far larger than the limit.
    let mut raw2 = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut header = Vec::from(linkpulse_proto::MAGIC);
    header.push(linkpulse_proto::WIRE_VERSION);
    header.push(linkpulse_proto::FrameType::Hello.code());
    header.extend_from_slice(&u32::MAX.to_be_bytes());
    header.resize(64, 0);
    raw2.write_all(&header).await.expect("write");
    let mut bad = l.accept().await.expect("accept");
    let cause = dead_cause(&mut bad).await;
    assert!(
        cause
            .detail()
            .unwrap_or_default()
            .contains("exceeds the 65536-byte limit"),
        "{cause}"
    );

    // A peer that connects and says nothing.
    let _silent = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut bad = l.accept().await.expect("accept");
    let cause = dead_cause(&mut bad).await;
    assert!(
        cause.detail().unwrap_or_default().contains("no HELLO"),
        "{cause}"
    );

    // The good session is still alive: fresh RTT samples, no suspicion, data still flows.
    wait_for(&mut good, "rtt", |e| matches!(e, Event::Rtt(_))).await;
    good.send_data(Bytes::from_static(b"still here"))
        .await
        .expect("send");
    let ev = wait_for(&mut good_server, "data", |e| {
        assert!(
            !matches!(e, Event::Suspect { .. } | Event::Dead { .. }),
            "good session hurt: {e:?}"
        );
        matches!(e, Event::Data(_))
    })
    .await;
    assert_eq!(ev, Event::Data(Bytes::from_static(b"still here")));
    drop((raw, raw2));
}
