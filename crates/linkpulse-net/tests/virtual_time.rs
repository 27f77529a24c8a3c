//! The driver over in-memory pipes with tokio's paused clock: exact timer behaviour, and the
//! generic `from_stream` path a TLS stream would take.

use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt as _;
use linkpulse_net::{Connection, ConnectionConfig};
use linkpulse_proto::detector::DetectorConfig;
use linkpulse_proto::{Cause, DetectorPolicy, Event, Incarnation, Role, SessionConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use tokio::sync::watch;
use tokio::time::{Instant, timeout};

fn config(name: &str, dead_after: Duration) -> ConnectionConfig {
    let mut s = SessionConfig::new(name, Incarnation::new([1; 16], 1));
    s.interval = Duration::from_millis(100);
    s.detector = DetectorPolicy::Exact(DetectorConfig::fixed(dead_after));
    let mut c = ConnectionConfig::new(s);
    c.keepalive = None;
    c
}

/// Copies bytes both ways until `cut` turns true, then holds both pipes open and silent: a
/// link that drops everything without closing anything.
fn relay(mut a: DuplexStream, mut b: DuplexStream, mut cut: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let (mut ba, mut bb) = ([0u8; 4096], [0u8; 4096]);
        loop {
            tokio::select! {
                r = a.read(&mut ba) => match r {
                    Ok(n) if n > 0 => { if b.write_all(&ba[..n]).await.is_err() { return } }
                    _ => return,
                },
                r = b.read(&mut bb) => match r {
                    Ok(n) if n > 0 => { if a.write_all(&bb[..n]).await.is_err() { return } }
                    _ => return,
                },
                _ = cut.changed() => break,
            }
        }
        // Silent from now on, but nothing is closed.
        let _keep = (a, b);
        std::future::pending::<()>().await;
    });
}

async fn next_matching(conn: &mut Connection, pred: impl Fn(&Event) -> bool) -> Event {
    loop {
        match timeout(Duration::from_secs(60), conn.next_event()).await {
            Ok(Some(ev)) if pred(&ev) => return ev,
            Ok(Some(_)) => {}
            other => panic!("stream ended or stalled: {other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_silent_link_is_timeout_after_the_budget_not_later() {
    let (client_io, relay_a) = duplex(64 * 1024);
    let (relay_b, server_io) = duplex(64 * 1024);
    let (cut_tx, cut_rx) = watch::channel(false);
    relay(relay_a, relay_b, cut_rx);
    let budget = Duration::from_millis(500);
    let mut client =
        Connection::from_stream(client_io, Role::Client, config("c", budget)).expect("client");
    let mut server =
        Connection::from_stream(server_io, Role::Server, config("s", budget)).expect("server");
    next_matching(&mut client, |e| matches!(e, Event::Up { .. })).await;
    next_matching(&mut server, |e| matches!(e, Event::Up { .. })).await;
    // A few seconds of healthy heartbeats: nothing but RTT.
    let healthy_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < healthy_until {
        let ev = next_matching(&mut client, |_| true).await;
        assert!(matches!(ev, Event::Rtt(_)), "healthy link reported {ev:?}");
    }
    let cut_at = Instant::now();
    let _ = cut_tx.send(true);
    let suspect = next_matching(&mut client, |e| !matches!(e, Event::Rtt(_))).await;
    assert!(matches!(suspect, Event::Suspect { .. }), "{suspect:?}");
    let Event::Dead { cause, silent_for } = next_matching(&mut client, |_| true).await else {
        panic!("expected dead after suspect");
    };
    let took = cut_at.elapsed();
    assert_eq!(cause, Cause::Timeout);
    // Silence is counted from the last frame (≤ one interval before the cut).
    assert_eq!(silent_for, budget);
    assert!(
        took <= budget && took > budget - Duration::from_millis(100),
        "{took:?}"
    );
    assert_eq!(
        next_matching(&mut server, |e| matches!(e, Event::Dead { .. }))
            .await
            .name(),
        "dead"
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_that_never_answers_fails_the_handshake() {
    let (client_io, _mute) = duplex(64 * 1024);
    let mut client = Connection::from_stream(
        client_io,
        Role::Client,
        config("c", Duration::from_millis(500)),
    )
    .expect("client");
    let start = Instant::now();
    let Event::Dead { cause, .. } = next_matching(&mut client, |_| true).await else {
        panic!("expected dead");
    };
    assert!(
        cause.detail().unwrap_or_default().contains("no WELCOME"),
        "{cause}"
    );
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(3),
        "default handshake timeout"
    );
}

#[tokio::test]
async fn data_both_ways_over_a_generic_stream() {
    let (a, b) = duplex(64 * 1024);
    let budget = Duration::from_millis(500);
    let mut client = Connection::from_stream(a, Role::Client, config("c", budget)).expect("c");
    let mut server = Connection::from_stream(b, Role::Server, config("s", budget)).expect("s");
    next_matching(&mut client, |e| matches!(e, Event::Up { .. })).await;
    next_matching(&mut server, |e| matches!(e, Event::Up { .. })).await;
    let big = Bytes::from(vec![7u8; 60_000]);
    client.send_data(big.clone()).await.expect("send big");
    server
        .send_data(Bytes::from_static(b"ack"))
        .await
        .expect("send ack");
    assert_eq!(
        next_matching(&mut server, |e| matches!(e, Event::Data(_))).await,
        Event::Data(big)
    );
    assert_eq!(
        next_matching(&mut client, |e| matches!(e, Event::Data(_))).await,
        Event::Data(Bytes::from_static(b"ack"))
    );
    // Too large for one frame: refused with a reason, the session carries on.
    let err = client
        .send_data(Bytes::from(vec![0u8; 70_000]))
        .await
        .expect_err("too large");
    assert!(err.to_string().contains("cannot send"), "{err}");
    next_matching(&mut client, |e| matches!(e, Event::Rtt(_))).await;
    // Dropping the connection (and every handle) leaves gracefully.
    drop(client);
    let Event::Dead { cause, .. } =
        next_matching(&mut server, |e| matches!(e, Event::Dead { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(cause, Cause::Goodbye);
}

/// A frame that reached the socket before the deadline counts even when the driver runs late
/// (a loaded host): the driver reads what is already there before it lets the timer decide.
/// Each round the peer's PING lands in the pipe, then the clock jumps past the dead deadline
/// before the driver task gets to run; both are ready when it does.
#[tokio::test(start_paused = true)]
async fn bytes_already_received_beat_a_late_timer() {
    use linkpulse_proto::{Frame, Ping, WIRE_VERSION, Welcome};
    let (client_io, mut raw) = duplex(1024 * 1024);
    let mut client = Connection::from_stream(
        client_io,
        Role::Client,
        config("c", Duration::from_millis(500)),
    )
    .expect("client");
    let mut hello = [0u8; 1024];
    assert!(raw.read(&mut hello).await.expect("HELLO") > 0);
    let welcome = Frame::Welcome(Welcome {
        version: WIRE_VERSION,
        node_name: "raw".into(),
        incarnation: Incarnation::new([2; 16], 2),
        interval: Duration::from_millis(100),
        server_nonce: Bytes::new(),
    });
    raw.write_all(&welcome.to_bytes().expect("encode"))
        .await
        .expect("WELCOME");
    next_matching(&mut client, |e| matches!(e, Event::Up { .. })).await;
    for seq in 0..20 {
        let ping = Frame::Ping(Ping {
            seq,
            timestamp_us: seq * 600_000,
        });
        raw.write_all(&ping.to_bytes().expect("encode"))
            .await
            .expect("PING");
        // Jump past both the suspect (250 ms) and dead (500 ms) deadlines at once.
        tokio::time::advance(Duration::from_millis(600)).await;
        // Keep the pipe from filling with the client's own PINGs.
        let mut sink = [0u8; 4096];
        while let Some(Ok(n)) = raw.read(&mut sink).now_or_never() {
            if n == 0 {
                break;
            }
        }
    }
    while let Ok(Some(ev)) = timeout(Duration::ZERO, client.next_event()).await {
        assert!(
            !matches!(ev, Event::Suspect { .. } | Event::Dead { .. }),
            "a late driver condemned a live peer: {ev:?}"
        );
    }
}
