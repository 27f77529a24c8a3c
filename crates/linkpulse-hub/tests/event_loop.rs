//! The hub's event loop with many real sessions over loopback TCP: every session joins and
//! stays alive, hostile clients and a peer that stops reading end only their own sessions, and
//! silent peers are declared dead on time while the others are not disturbed; a replaced
//! session is closed (and no other); the hub's own PINGs ride on every Nth PONG only.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use linkpulse_hub::{ChangeKind, Hub, HubConfig, NodeState};
use linkpulse_net::{Connection, ConnectionConfig, local_incarnation};
use linkpulse_proto::{Codec, DetectorPolicy, Event, Frame, Hello, Incarnation, Ping, Pong};
use linkpulse_proto::{SessionConfig, WIRE_VERSION};
use linkpulse_testsupport::eventually_async;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::broadcast;

const INTERVAL: Duration = Duration::from_millis(100);
const TIMEOUT: Duration = Duration::from_millis(1000);

/// A hub on a free loopback port: its handle, agent address and a stop switch.
async fn start_hub() -> (Hub, SocketAddr, tokio::sync::oneshot::Sender<()>) {
    start_hub_with(|_| {}).await
}

/// [`start_hub`] with `configure` applied to the settings last.
async fn start_hub_with(
    configure: impl FnOnce(&mut HubConfig),
) -> (Hub, SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let mut config = HubConfig::new("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")));
    config.interval = INTERVAL;
    config.timeout = TIMEOUT;
    config.handshake_timeout = Duration::from_millis(500);
    config.handshake_rate = 100_000;
    configure(&mut config);
    let hub = Hub::new(config).unwrap_or_else(|e| panic!("{e}"));
    let listener = hub.bind().await.unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn({
        let hub = hub.clone();
        async move {
            let _ = hub
                .run(listener, async {
                    let _ = stopped.await;
                })
                .await;
        }
    });
    (hub, addr, stop)
}

/// `n` well-behaved agents named `prefix0…`; returns once the hub's registry holds every one
/// (an agent is up a moment before the loop records its join, and a test that watches for
/// changes afterwards must not see those joins).
async fn agents(hub: &Hub, addr: SocketAddr, prefix: &str, n: usize) -> Vec<Connection> {
    let mut all = Vec::with_capacity(n);
    for i in 0..n {
        all.push(agent(addr, &format!("{prefix}{i}")).await);
    }
    let joined = eventually_async(Duration::from_secs(10), || async {
        (0..n).all(|i| hub.node(&format!("{prefix}{i}")).is_some())
    })
    .await;
    assert!(joined, "not every {prefix}* agent joined");
    all
}

/// A well-behaved agent (the real client driver) named `name`; returns once it is up.
async fn agent(addr: SocketAddr, name: &str) -> Connection {
    let mut s = SessionConfig::new(name, local_incarnation());
    s.interval = INTERVAL;
    s.detector = DetectorPolicy::FixedIntervals {
        dead_after_intervals: 10,
    };
    let mut conn = Connection::connect(addr, ConnectionConfig::new(s))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    match conn.next_event().await {
        Some(Event::Up { .. }) => conn,
        other => panic!("{name}: expected Up, got {other:?}"),
    }
}

/// Every change on the watch stream until `until`, by node name.
async fn changes_until(
    rx: &mut broadcast::Receiver<std::sync::Arc<linkpulse_hub::Change>>,
    until: Instant,
) -> Vec<(Instant, ChangeKind, String)> {
    let mut out = Vec::new();
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Ok(c)) => out.push((Instant::now(), c.event, c.node.name.clone())),
            Ok(Err(broadcast::error::RecvError::Lagged(n))) => panic!("watcher lagged by {n}"),
            Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => return out,
        }
    }
}

/// A raw client that completes the handshake by hand and then does only what the test says.
async fn raw_handshake(addr: SocketAddr, name: &str, stream: Option<TcpStream>) -> TcpStream {
    let mut stream = match stream {
        Some(s) => s,
        None => TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    };
    let hello = Frame::Hello(Hello {
        min_version: WIRE_VERSION,
        max_version: WIRE_VERSION,
        node_name: name.to_owned(),
        labels: vec![],
        incarnation: Incarnation::new([7; 16], 1),
        interval: INTERVAL,
        auth_proof: Bytes::new(),
        advertise: None,
    });
    let bytes = hello.to_bytes().unwrap_or_else(|e| panic!("{e}"));
    stream
        .write_all(&bytes)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut codec = Codec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "{name}: no WELCOME");
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{name}: no WELCOME in time"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(n > 0, "{name}: hub closed during the handshake");
        codec.push(buf.get(..n).unwrap_or_default());
        while let Ok(Some(f)) = codec.next_frame() {
            if matches!(f, Frame::Welcome(_)) {
                return stream;
            }
        }
    }
}

/// Reads until the hub closes the connection (EOF or reset); false if it stays open past
/// `within`.
async fn closed_by_hub(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let until = Instant::now() + within;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sessions_in_one_loop_stay_alive_with_rtt() {
    let (hub, addr, _stop) = start_hub().await;
    let mut watch = hub.subscribe().changes;
    let mut agents = agents(&hub, addr, "w", 300).await;
    assert!(
        eventually_async(Duration::from_secs(10), || {
            let hub = hub.clone();
            async move {
                let nodes = hub.nodes();
                nodes.len() == 300
                    && nodes
                        .iter()
                        .all(|n| n.state == NodeState::Alive && n.rtt_ms.is_some())
            }
        })
        .await,
        "every node alive with an RTT"
    );
    assert_eq!(hub.stats().open, 300);
    // Two seconds (20 intervals) of steady state: nothing but the joins.
    let changes = changes_until(&mut watch, Instant::now() + Duration::from_secs(2)).await;
    let odd: Vec<_> = changes
        .iter()
        .filter(|(_, k, _)| *k != ChangeKind::Join)
        .collect();
    assert!(odd.is_empty(), "unexpected changes: {odd:?}");
    // The agents' side of every session is healthy too (no Suspect, no Dead).
    for conn in &mut agents {
        while let Ok(Some(ev)) =
            tokio::time::timeout(Duration::from_millis(1), conn.next_event()).await
        {
            assert!(
                matches!(ev, Event::Rtt(_)),
                "agent saw {ev:?} in steady state"
            );
        }
    }
    // A graceful leave is `left`, and frees the session.
    agents.truncate(299);
    assert!(
        eventually_async(Duration::from_secs(5), || {
            let hub = hub.clone();
            async move {
                hub.node("w299").is_some_and(|n| n.state == NodeState::Left)
                    && hub.stats().open == 299
            }
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_end_only_their_own_sessions() {
    let (hub, addr, _stop) = start_hub().await;
    let agents = agents(&hub, addr, "good", 50).await;
    let mut watch = hub.subscribe().changes;
    let failed_before = hub.stats().failed_handshakes;

    // Garbage, an oversized frame header, and a client that never says HELLO.
    let mut garbage = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    garbage
        .write_all(b"GET / HTTP/1.1\r\n\r\n")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut oversized = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut header = BytesMut::new();
    header.extend_from_slice(b"LP");
    header.extend_from_slice(&[WIRE_VERSION, 0x07]);
    header.extend_from_slice(&(10_000_000u32).to_be_bytes());
    oversized
        .write_all(&header)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut silent = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let budget = Duration::from_secs(5);
    assert!(closed_by_hub(&mut garbage, budget).await, "garbage");
    assert!(closed_by_hub(&mut oversized, budget).await, "oversized");
    assert!(
        closed_by_hub(&mut silent, budget).await,
        "no handshake within the 500 ms deadline"
    );
    assert!(
        eventually_async(Duration::from_secs(5), || {
            let hub = hub.clone();
            async move { hub.stats().failed_handshakes >= failed_before + 3 }
        })
        .await,
        "three failed handshakes counted: {:?}",
        hub.stats()
    );
    // The good sessions were not disturbed.
    let changes = changes_until(&mut watch, Instant::now() + Duration::from_millis(1500)).await;
    assert!(changes.is_empty(), "good sessions changed: {changes:?}");
    assert_eq!(hub.stats().open, 50);
    assert!(
        hub.nodes().iter().all(|n| n.state == NodeState::Alive),
        "{:?}",
        hub.nodes()
    );
    drop(agents);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_is_closed_with_a_clear_cause() {
    let (hub, addr, _stop) = start_hub().await;
    let agents = agents(&hub, addr, "ok", 20).await;
    let mut watch = hub.subscribe().changes;

    // A client with a small receive buffer that floods PINGs and never reads the PONGs.
    let socket = TcpSocket::new_v4().unwrap_or_else(|e| panic!("{e}"));
    socket
        .set_recv_buffer_size(4096)
        .unwrap_or_else(|e| panic!("{e}"));
    let stream = socket.connect(addr).await.unwrap_or_else(|e| panic!("{e}"));
    let mut stream = raw_handshake(addr, "deaf", Some(stream)).await;
    let mut pings = BytesMut::new();
    for seq in 0..2048u64 {
        Frame::Ping(Ping {
            seq,
            timestamp_us: seq,
        })
        .encode(&mut pings, 65_536)
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let pings = pings.freeze();
    let started = Instant::now();
    let mut hub_closed = false;
    // Bounded: at most 2,000 bursts (~100 MB of PONGs owed) or 20 s.
    for _ in 0..2000 {
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
        // An error or a stalled write just means the hub closed it or stopped reading.
        let _ = tokio::time::timeout(Duration::from_millis(500), stream.write_all(&pings)).await;
        if hub.node("deaf").is_some_and(|n| n.state == NodeState::Dead) {
            hub_closed = true;
            break;
        }
    }
    assert!(
        hub_closed,
        "the deaf peer was not closed: {:?}",
        hub.node("deaf")
    );
    let node = hub.node("deaf").unwrap_or_else(|| panic!("no node"));
    assert_eq!(node.cause.as_deref(), Some("protocol"));
    let detail = node.cause_detail.unwrap_or_default();
    assert!(
        detail.contains("peer stopped reading") && detail.contains("bytes unsent"),
        "{detail}"
    );
    // Everyone else is fine.
    let changes = changes_until(&mut watch, Instant::now() + Duration::from_millis(500)).await;
    let others: Vec<_> = changes.iter().filter(|(_, _, n)| n != "deaf").collect();
    assert!(others.is_empty(), "{others:?}");
    assert!(
        eventually_async(Duration::from_secs(5), || {
            let hub = hub.clone();
            async move { hub.stats().open == 20 }
        })
        .await,
        "{:?}",
        hub.stats()
    );
    drop(agents);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peers_die_on_time_among_many_live_ones() {
    let (hub, addr, _stop) = start_hub().await;
    let agents = agents(&hub, addr, "live", 200).await;
    let mut watch = hub.subscribe().changes;
    // 100 peers that complete the handshake and then never send another byte (the socket
    // stays open: the kernel ACKs, nothing arrives — a frozen process).
    let mut silent = HashMap::new();
    for i in 0..100 {
        let name = format!("mute{i}");
        let s = raw_handshake(addr, &name, None).await;
        silent.insert(name, (Instant::now(), s));
    }
    let changes = changes_until(&mut watch, Instant::now() + TIMEOUT * 3).await;
    for (name, (joined, _)) in &silent {
        let dead = changes
            .iter()
            .find(|(_, k, n)| n == name && *k == ChangeKind::Dead)
            .unwrap_or_else(|| panic!("{name} not declared dead"));
        let took = dead.0.saturating_duration_since(*joined);
        // Dead after `timeout` of silence, counted from the WELCOME (the hub's last frame
        // from it was the HELLO just before); generous upper bound for a loaded machine.
        assert!(
            took >= TIMEOUT - Duration::from_millis(150) && took < TIMEOUT * 2,
            "{name}: dead after {took:?}"
        );
        assert!(
            changes
                .iter()
                .any(|(t, k, n)| n == name && *k == ChangeKind::Suspect && *t < dead.0),
            "{name}: suspect before dead"
        );
        let node = hub.node(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(node.cause.as_deref(), Some("timeout"));
    }
    let live: Vec<_> = changes
        .iter()
        .filter(|(_, _, n)| n.starts_with("live"))
        .collect();
    assert!(live.is_empty(), "live agents disturbed: {live:?}");
    drop(agents);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_shutdown_says_goodbye_to_every_session() {
    let (hub, addr, stop) = start_hub().await;
    let mut agents = agents(&hub, addr, "a", 10).await;
    let _ = stop.send(());
    for (i, conn) in agents.iter_mut().enumerate() {
        let dead = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match conn.next_event().await {
                    Some(Event::Dead { cause, .. }) => return Some(cause),
                    Some(_) => {}
                    None => return None,
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("a{i}: no Dead"));
        assert_eq!(dead.as_ref().map(|c| c.as_str()), Some("goodbye"), "a{i}");
    }
    assert!(
        eventually_async(Duration::from_secs(5), || {
            let hub = hub.clone();
            async move { hub.stats().open == 0 }
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_of_the_same_node_closes_the_old_one_and_no_other() {
    let (hub, addr, _stop) = start_hub().await;
    let mut others = agents(&hub, addr, "o", 20).await;
    let mut first = agent(addr, "twin").await;
    let joined = eventually_async(Duration::from_secs(10), || async {
        hub.node("twin").is_some()
    })
    .await;
    assert!(joined, "twin did not join");
    let first_session = hub.node("twin").map(|n| n.session);
    // The same process connects again (same incarnation): the hub keeps the new session and
    // closes the old one with GOODBYE.
    let mut second = agent(addr, "twin").await;
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match first.next_event().await {
                Some(Event::Dead { cause, .. }) => return Some(cause),
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the replaced session was not closed"));
    assert_eq!(ended.as_ref().map(|c| c.as_str()), Some("goodbye"));
    let moved = eventually_async(Duration::from_secs(5), || async {
        hub.node("twin")
            .is_some_and(|n| n.state == NodeState::Alive && Some(n.session) != first_session)
    })
    .await;
    assert!(
        moved,
        "twin is not alive on its new session: {:?}",
        hub.node("twin")
    );
    // Nobody else was closed: every other agent and the new session still exchange frames.
    let quiet = tokio::time::timeout(
        Duration::from_millis(3 * INTERVAL.as_millis() as u64),
        async {
            loop {
                tokio::select! {
                    e = second.next_event() => if matches!(e, Some(Event::Dead { .. }) | None) {
                        return "twin (new)".to_owned();
                    },
                    e = others[7].next_event() => if matches!(e, Some(Event::Dead { .. }) | None) {
                        return "o7".to_owned();
                    },
                }
            }
        },
    )
    .await;
    assert!(quiet.is_err(), "{} was closed", quiet.unwrap_or_default());
    let alive = hub
        .nodes()
        .iter()
        .filter(|n| n.name.starts_with('o') && n.state == NodeState::Alive)
        .count();
    assert_eq!(alive, 20);
}

/// What the hub sent a punctual raw client (a PING every interval, every hub PING answered)
/// over `intervals` intervals: (hub PINGs, hub PONGs).
async fn punctual_client(addr: SocketAddr, name: &str, intervals: u64) -> (usize, usize) {
    let stream = raw_handshake(addr, name, None).await;
    let (mut rd, mut wr) = stream.into_split();
    let start = Instant::now();
    let micros = || u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
    let mut tick = tokio::time::interval(INTERVAL);
    let mut codec = Codec::new();
    let mut buf = [0u8; 4096];
    let (mut sent, mut pings, mut pongs) = (0u64, 0, 0);
    // One interval more than the PINGs sent, for the last PONG.
    let until = start + INTERVAL * u32::try_from(intervals + 1).unwrap_or(u32::MAX);
    loop {
        let left = until.saturating_duration_since(Instant::now());
        tokio::select! {
            () = tokio::time::sleep(left) => break,
            _ = tick.tick(), if sent < intervals => {
                let ping = Frame::Ping(Ping { seq: sent, timestamp_us: micros() });
                let bytes = ping.to_bytes().unwrap_or_else(|e| panic!("{e}"));
                wr.write_all(&bytes).await.unwrap_or_else(|e| panic!("{e}"));
                sent += 1;
            }
            n = rd.read(&mut buf) => {
                let n = n.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(n > 0, "{name}: the hub closed the session");
                codec.push(buf.get(..n).unwrap_or_default());
                while let Ok(Some(frame)) = codec.next_frame() {
                    match frame {
                        Frame::Ping(p) => {
                            pings += 1;
                            let pong = Frame::Pong(Pong {
                                seq: p.seq,
                                echo_timestamp_us: p.timestamp_us,
                                timestamp_us: micros(),
                            });
                            let bytes = pong.to_bytes().unwrap_or_else(|e| panic!("{e}"));
                            wr.write_all(&bytes).await.unwrap_or_else(|e| panic!("{e}"));
                        }
                        Frame::Pong(_) => pongs += 1,
                        _ => {}
                    }
                }
            }
        }
    }
    (pings, pongs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_pings_an_agent_only_on_every_nth_pong_and_still_samples_its_rtt() {
    for every in [1u32, 4] {
        let (hub, addr, _stop) = start_hub_with(|c| c.rtt_sample_every = every).await;
        let name = format!("sparse{every}");
        // 20 client PINGs; the hub's PING that rode along with WELCOME is not counted
        // (the handshake helper stops reading at WELCOME).
        let (pings, pongs) = punctual_client(addr, &name, 20).await;
        assert!(pongs >= 19, "every={every}: {pongs} PONGs for 20 PINGs");
        if every == 1 {
            // One PING of the hub's own per interval, riding on the PONGs.
            assert!(pings >= 14, "every=1: {pings} hub PINGs in 20 intervals");
        } else {
            // One on every 4th PONG: 5 (a late client tick may add a fallback PING or two).
            assert!(
                (4..=9).contains(&pings),
                "every=4: {pings} hub PINGs in 20 intervals"
            );
        }
        let node = hub.node(&name);
        assert!(
            node.as_ref().is_some_and(|n| n.rtt_ms.is_some()),
            "every={every}: no RTT sampled: {node:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_gone_longer_than_forget_after_is_forgotten_and_watchers_are_told() {
    let forget_after = Duration::from_secs(1);
    let (hub, addr, _stop) = start_hub_with(|c| c.forget_after = forget_after).await;
    let mut all = agents(&hub, addr, "f", 2).await;
    let mut watch = hub.subscribe().changes;
    // f1 goes away (dropping the connection says GOODBYE): left at once, forgotten after
    // `forget_after`.
    drop(all.pop());
    let changes = changes_until(&mut watch, Instant::now() + Duration::from_secs(6)).await;
    let of_f1: Vec<(Instant, ChangeKind)> = changes
        .iter()
        .filter(|(_, _, name)| name == "f1")
        .map(|(at, kind, _)| (*at, *kind))
        .filter(|(_, kind)| *kind != ChangeKind::Diagnosis)
        .collect();
    let kinds: Vec<ChangeKind> = of_f1.iter().map(|(_, k)| *k).collect();
    assert_eq!(
        kinds,
        [ChangeKind::Left, ChangeKind::Forgotten],
        "{changes:?}"
    );
    let waited = of_f1[1].0.duration_since(of_f1[0].0);
    assert!(
        waited >= forget_after - Duration::from_millis(50),
        "forgotten after only {waited:?}"
    );
    assert!(hub.node("f1").is_none(), "f1 is still listed");
    // The live node is never forgotten.
    assert_eq!(
        hub.node("f0").map(|n| n.state),
        Some(NodeState::Alive),
        "{changes:?}"
    );
    assert!(
        changes.iter().all(|(_, _, name)| name == "f1"),
        "f0 was disturbed: {changes:?}"
    );
}
