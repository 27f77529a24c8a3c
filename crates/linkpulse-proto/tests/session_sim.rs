//! Two sessions over a simulated link under virtual time: handshake, steady state, every cause
//! of death, and protocol errors.

// Tests take one real base instant; every other instant is derived from it.
#![allow(clippy::disallowed_methods)]

mod util;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use linkpulse_proto::detector::DetectorConfig;
use linkpulse_proto::{
    Authenticator, Cause, Codec, DetectorPolicy, ErrorCode, Event, Frame, GoodbyeReason, Health,
    Hello, Restart, SendError, Session, Status, TransportError,
};
use util::{Pair, config};

const MS: Duration = Duration::from_millis(1);

fn dead_cause(ev: Option<(Instant, &Event)>) -> Option<(Instant, Cause, Duration)> {
    match ev {
        Some((t, Event::Dead { cause, silent_for })) => Some((t, cause.clone(), *silent_for)),
        _ => None,
    }
}

#[test]
fn handshake_brings_both_sides_up_with_the_clamped_interval() {
    let mut c = config("agent-7", 1, 10);
    c.interval = Duration::from_millis(5);
    c.labels = vec![("zone".into(), "a".into())];
    c.advertise = Some("10.1.2.3:7000".into());
    let mut s = config("hub", 2, 20);
    s.min_interval = Duration::from_millis(50);
    let mut p = Pair::new(c, s, (2 * MS, Duration::ZERO, 0.0));
    p.run_until(Duration::from_millis(20));

    let Some((_, Event::Up { peer })) = p.client_events.first() else {
        panic!("client events: {:?}", p.client_events);
    };
    assert_eq!(peer.name, "hub");
    assert_eq!(peer.interval, Duration::from_millis(50));
    assert_eq!(peer.incarnation.nonce, 20);
    let Some((t, Event::Up { peer })) = p.server_events.first() else {
        panic!("server events: {:?}", p.server_events);
    };
    assert_eq!(*t, p.t0 + 2 * MS, "server is up when HELLO arrives");
    assert_eq!(peer.name, "agent-7");
    assert_eq!(peer.interval, Duration::from_millis(50));
    assert_eq!(peer.labels, vec![("zone".to_string(), "a".to_string())]);
    assert_eq!(peer.advertise.as_deref(), Some("10.1.2.3:7000"));
    assert_eq!(peer.restart, None);
    // The first PING goes out at once, so both sides have an RTT after one round trip.
    assert!(
        p.client_events
            .iter()
            .any(|(_, e)| *e == Event::Rtt(4 * MS))
    );
    assert!(
        p.server_events
            .iter()
            .any(|(_, e)| *e == Event::Rtt(4 * MS))
    );
}

#[test]
fn steady_state_has_no_suspect_under_bounded_jitter_and_loss() {
    for (name, policy) in [
        (
            "fixed",
            DetectorPolicy::FixedIntervals {
                dead_after_intervals: 5,
            },
        ),
        ("phi", DetectorPolicy::PhiForInterval { threshold: 8.0 }),
    ] {
        let mut c = config("agent", 1, 1);
        c.detector = policy.clone();
        let mut s = config("hub", 2, 2);
        s.detector = policy;
        // 100 ms heartbeats, 5 ms latency + up to 40 ms jitter, 2 % frame loss, 2 minutes.
        let mut p = Pair::new(c, s, (5 * MS, 40 * MS, 0.02));
        p.run_until(Duration::from_secs(120));
        for (side, events) in [("client", &p.client_events), ("server", &p.server_events)] {
            assert_eq!(Pair::names(events), vec!["up"], "{name} {side}");
            let rtts: Vec<Duration> = events
                .iter()
                .filter_map(|(_, e)| match e {
                    Event::Rtt(r) => Some(*r),
                    _ => None,
                })
                .collect();
            assert!(
                rtts.len() > 1000,
                "{name} {side}: only {} RTT samples",
                rtts.len()
            );
            assert!(
                rtts.iter().all(|r| *r >= 10 * MS && *r < 90 * MS),
                "{name} {side}: RTT outside [2·latency, 2·(latency+jitter)): {:?}",
                rtts.iter().max()
            );
        }
    }
}

#[test]
fn cut_link_is_dead_by_timeout_within_the_budget() {
    // Fixed detector: budget is exactly dead_after (5 × 100 ms) after the last frame heard.
    for dead_after_intervals in [3u32, 5, 10] {
        let mut c = config("agent", 1, 1);
        c.detector = DetectorPolicy::FixedIntervals {
            dead_after_intervals,
        };
        let mut p = Pair::new(c, config("hub", 2, 2), (MS, Duration::ZERO, 0.0));
        p.run_until(Duration::from_secs(2));
        let cut_at = p.now;
        p.c2s.cut = true;
        p.s2c.cut = true;
        p.run_until(Duration::from_secs(10));
        let Some((t, cause, silent)) = dead_cause(p.client_dead()) else {
            panic!("client never died: {:?}", p.client_events);
        };
        let budget = Duration::from_millis(100) * dead_after_intervals;
        assert_eq!(cause, Cause::Timeout);
        assert_eq!(
            silent, budget,
            "dead exactly when the silence reaches the budget"
        );
        let detection = t - cut_at;
        assert!(
            detection <= budget && detection + Duration::from_millis(100) >= budget,
            "{dead_after_intervals} intervals: detected {detection:?} after the cut"
        );
        // Suspect came first, at half the budget.
        assert_eq!(Pair::names(&p.client_events), vec!["up", "suspect", "dead"]);
    }
}

#[test]
fn cut_link_with_phi_is_dead_by_timeout_within_a_few_intervals() {
    let mut c = config("agent", 1, 1);
    c.detector = DetectorPolicy::PhiForInterval { threshold: 8.0 };
    let mut p = Pair::new(c, config("hub", 2, 2), (MS, 10 * MS, 0.0));
    p.run_until(Duration::from_secs(30));
    let cut_at = p.now;
    p.c2s.cut = true;
    p.s2c.cut = true;
    p.run_until(Duration::from_secs(60));
    let Some((t, cause, _)) = dead_cause(p.client_dead()) else {
        panic!("client never died: {:?}", p.client_events);
    };
    assert_eq!(cause, Cause::Timeout);
    let detection = t - cut_at;
    // The detector samples the peer's PINGs only (not PONGs), so μ ≈ 100 ms; with the
    // acceptable pause of 100 ms, σ ≥ 25 ms and z(φ = 8) ≈ 5.6, φ reaches 8 about 340 ms after
    // the last PING (plus jitter). The cut falls somewhere within an interval after that PING,
    // so detection after the cut lies in (240 ms − jitter, 340 ms + jitter]; the hard ceiling
    // (2 s) must not be what fires.
    assert!(
        detection > Duration::from_millis(200) && detection <= Duration::from_millis(380),
        "phi detected the cut after {detection:?}, expected within its 340 ms prediction"
    );
}

#[test]
fn fin_is_peer_closed_and_rst_is_reset() {
    let mut p = Pair::simple();
    p.run_until(Duration::from_secs(1));
    let now = p.now;
    p.server.handle_eof(now);
    p.client.handle_transport_error(TransportError::Reset, now);
    p.drain();
    assert_eq!(
        dead_cause(p.server_dead()).map(|d| d.1),
        Some(Cause::PeerClosed)
    );
    assert_eq!(dead_cause(p.client_dead()).map(|d| d.1), Some(Cause::Reset));
    assert_eq!(p.server.poll_timeout(), None);
    assert!(p.client.is_dead() && p.server.is_dead());
    // Nothing after death.
    p.server.handle_bytes(b"garbage", now);
    p.server.handle_timeout(now + Duration::from_secs(9));
    assert_eq!(p.server.poll_event(), None);
    assert_eq!(p.server.cause(), Some(&Cause::PeerClosed));
}

#[test]
fn kernel_timeout_is_timeout() {
    let mut p = Pair::simple();
    p.run_until(Duration::from_millis(500));
    let now = p.now;
    p.client
        .handle_transport_error(TransportError::TimedOut, now);
    p.server
        .handle_transport_error(TransportError::Other("EBADF".into()), now);
    p.drain();
    assert_eq!(
        dead_cause(p.client_dead()).map(|d| d.1),
        Some(Cause::Timeout)
    );
    assert_eq!(dead_cause(p.server_dead()).map(|d| d.1), Some(Cause::Local));
}

#[test]
fn goodbye_is_goodbye_on_the_other_side_and_local_on_this_one() {
    let mut p = Pair::simple();
    p.run_until(Duration::from_secs(1));
    let now = p.now;
    p.client.close(GoodbyeReason::Restart, "upgrading", now);
    // A FIN right after the GOODBYE does not change the cause.
    p.run_for(Duration::from_millis(10));
    let now = p.now;
    p.server.handle_eof(now);
    p.drain();
    assert_eq!(dead_cause(p.client_dead()).map(|d| d.1), Some(Cause::Local));
    assert_eq!(
        dead_cause(p.server_dead()).map(|d| d.1),
        Some(Cause::Goodbye)
    );
    let bye = p.server.peer_goodbye().cloned();
    assert_eq!(
        bye.map(|g| (g.reason, g.text)),
        Some((GoodbyeReason::Restart, "upgrading".into()))
    );
    assert_eq!(Pair::names(&p.server_events), vec!["up", "dead"]);
}

#[test]
fn unreachable_evidence_then_silence_is_unreachable() {
    let mut p = Pair::simple();
    p.run_until(Duration::from_secs(1));
    p.c2s.cut = true;
    p.s2c.cut = true;
    p.run_for(Duration::from_millis(50));
    let reported = p.now;
    p.client
        .handle_transport_error(TransportError::Unreachable, reported);
    p.run_for(Duration::from_secs(2));
    let Some((t, cause, _)) = dead_cause(p.client_dead()) else {
        panic!("client never died: {:?}", p.client_events);
    };
    assert_eq!(cause, Cause::Unreachable);
    assert_eq!(
        t - reported,
        Duration::from_millis(300),
        "after the confirmation window"
    );
    // The server, with no ICMP evidence, times out.
    assert_eq!(
        dead_cause(p.server_dead()).map(|d| d.1),
        Some(Cause::Timeout)
    );
}

#[test]
fn unreachable_evidence_names_the_cause_when_the_detector_fires_first() {
    let mut c = config("agent", 1, 1);
    c.unreachable_confirmation = Duration::from_secs(5);
    let mut p = Pair::new(c, config("hub", 2, 2), (MS, Duration::ZERO, 0.0));
    p.run_until(Duration::from_secs(1));
    p.c2s.cut = true;
    p.s2c.cut = true;
    let now = p.now;
    p.client
        .handle_transport_error(TransportError::Unreachable, now);
    p.run_for(Duration::from_secs(2));
    let Some((t, cause, _)) = dead_cause(p.client_dead()) else {
        panic!("client never died");
    };
    assert_eq!(cause, Cause::Unreachable);
    assert!(
        t - now <= Duration::from_millis(500),
        "detector budget, not the 5 s window"
    );
}

#[test]
fn unreachable_evidence_then_a_frame_is_not_a_death() {
    let mut p = Pair::simple();
    p.run_until(Duration::from_secs(1));
    let now = p.now;
    p.client
        .handle_transport_error(TransportError::Unreachable, now);
    p.run_for(Duration::from_secs(5));
    assert_eq!(Pair::names(&p.client_events), vec!["up"]);
    assert!(!p.client.is_dead());
}

#[test]
fn temporary_blackout_is_suspect_then_alive_again() {
    let mut p = Pair::simple();
    p.run_until(Duration::from_secs(1));
    // 350 ms of silence in both directions: past suspect (250 ms), short of dead (500 ms).
    let until = p.now + Duration::from_millis(350);
    p.c2s.blackout_until = Some(until);
    p.s2c.blackout_until = Some(until);
    p.run_for(Duration::from_secs(3));
    for events in [&p.client_events, &p.server_events] {
        assert_eq!(Pair::names(events), vec!["up", "suspect", "alive_again"]);
        let suspect = events
            .iter()
            .find_map(|(_, e)| match e {
                Event::Suspect { silent_for } => Some(*silent_for),
                _ => None,
            })
            .unwrap_or_default();
        assert_eq!(suspect, Duration::from_millis(250));
    }
}

#[test]
fn status_and_data_reach_the_peer() {
    let mut p = Pair::simple();
    assert_eq!(
        p.client.send_data(Bytes::from_static(b"early")),
        Err(SendError::NotEstablished)
    );
    p.run_until(Duration::from_millis(50));
    let status = Status {
        health: Health::Draining,
        detail: "rolling restart".into(),
        gauges: vec![("inflight".into(), 3.0)],
    };
    assert_eq!(p.client.send_status(status.clone()), Ok(()));
    assert_eq!(p.server.send_data(Bytes::from_static(b"task 17")), Ok(()));
    let too_big = Bytes::from(vec![0u8; 70_000]);
    assert!(matches!(
        p.server.send_data(too_big),
        Err(SendError::Encode(_))
    ));
    p.run_for(Duration::from_millis(50));
    assert!(
        p.server_events
            .iter()
            .any(|(_, e)| *e == Event::Status(status.clone()))
    );
    assert!(
        p.client_events
            .iter()
            .any(|(_, e)| *e == Event::Data(Bytes::from_static(b"task 17")))
    );
    let now = p.now;
    p.client.close(GoodbyeReason::Shutdown, "", now);
    assert_eq!(p.client.send_data(Bytes::new()), Err(SendError::Closed));
}

fn server_error_frame(p: &mut Pair) -> Option<Frame> {
    let mut codec = Codec::new();
    while let Some(b) = p.server.poll_transmit() {
        codec.push(&b);
    }
    let mut last = None;
    while let Ok(Some(f)) = codec.next_frame() {
        last = Some(f);
    }
    last
}

fn fresh_server() -> (Session, Instant) {
    let t0 = Instant::now();
    let s = Session::server(config("hub", 2, 2), t0).unwrap_or_else(|e| panic!("{e}"));
    (s, t0)
}

fn protocol_death(s: &mut Session) -> Option<String> {
    std::iter::from_fn(|| s.poll_event()).find_map(|e| match e {
        Event::Dead {
            cause: Cause::Protocol(d),
            ..
        } => Some(d),
        _ => None,
    })
}

#[test]
fn garbage_bytes_are_a_protocol_error_with_an_error_frame() {
    let mut p = Pair::simple();
    p.server.handle_bytes(b"GET / HTTP/1.1\r\n\r\n", p.t0);
    let text = protocol_death(&mut p.server);
    assert_eq!(
        text.as_deref(),
        Some("bad magic bytes 0x4745 (expected 0x4c50, \"LP\"): not a linkpulse peer")
    );
    match server_error_frame(&mut p) {
        Some(Frame::Error(e)) => assert_eq!(e.code, ErrorCode::Malformed),
        other => panic!("expected an ERROR frame, got {other:?}"),
    }
}

#[test]
fn peer_error_frame_ends_the_other_side_with_protocol() {
    let mut p = Pair::simple();
    p.run_until(Duration::from_millis(50));
    // The client sends a frame the server cannot decode (a PING with a byte too many).
    let now = p.now;
    let mut bad = BytesMut::new();
    bad.put_slice(b"LP\x01\x03\x00\x00\x00\x11");
    bad.put_slice(&[0u8; 17]);
    p.server.handle_bytes(&bad, now);
    p.run_for(Duration::from_millis(50));
    assert_eq!(
        dead_cause(p.server_dead()).map(|d| d.1),
        Some(Cause::Protocol(
            "PING payload has 1 trailing byte(s) after the last field".into()
        ))
    );
    assert_eq!(
        dead_cause(p.client_dead()).map(|d| d.1),
        Some(Cause::Protocol(
            "peer reported malformed: PING payload has 1 trailing byte(s) after the last field"
                .into()
        ))
    );
}

#[test]
fn wrong_version_is_a_protocol_error() {
    // A HELLO offering only version 2.
    let (mut s, t0) = fresh_server();
    let hello = Frame::Hello(Hello {
        min_version: 2,
        max_version: 2,
        node_name: "future".into(),
        labels: vec![],
        incarnation: Default::default(),
        interval: Duration::from_millis(100),
        auth_proof: Bytes::new(),
        advertise: None,
    });
    s.handle_bytes(&hello.to_bytes().unwrap_or_default(), t0);
    assert_eq!(
        protocol_death(&mut s).as_deref(),
        Some("no common protocol version: peer speaks 2..=2, this side speaks 1")
    );
    let mut codec = Codec::new();
    while let Some(b) = s.poll_transmit() {
        codec.push(&b);
    }
    assert!(matches!(
        codec.next_frame(),
        Ok(Some(Frame::Error(e))) if e.code == ErrorCode::UnsupportedVersion
    ));

    // A header with wire version 9.
    let (mut s, t0) = fresh_server();
    s.handle_bytes(b"LP\x09\x01\x00\x00\x00\x00", t0);
    assert_eq!(
        protocol_death(&mut s).as_deref(),
        Some("unsupported wire version 9 (this side speaks version 1)")
    );
}

#[test]
fn oversized_frame_is_a_protocol_error() {
    let (mut s, t0) = fresh_server();
    let mut b = BytesMut::new();
    b.put_slice(b"LP\x01\x07");
    b.put_u32(70_000 - 8);
    s.handle_bytes(&b, t0);
    assert_eq!(
        protocol_death(&mut s).as_deref(),
        Some("frame of 70000 bytes exceeds the 65536-byte limit")
    );
}

#[test]
fn unexpected_frames_are_protocol_errors() {
    let (mut s, t0) = fresh_server();
    let ping = Frame::Ping(linkpulse_proto::Ping {
        seq: 0,
        timestamp_us: 0,
    });
    s.handle_bytes(&ping.to_bytes().unwrap_or_default(), t0);
    assert_eq!(
        protocol_death(&mut s).as_deref(),
        Some("unexpected PING during the handshake")
    );
}

#[test]
fn silent_peer_fails_the_handshake() {
    let (mut s, t0) = fresh_server();
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(3)));
    s.handle_timeout(t0 + Duration::from_secs(1));
    assert!(!s.is_dead(), "an early timer call is harmless");
    s.handle_timeout(t0 + Duration::from_secs(3));
    assert_eq!(
        protocol_death(&mut s).as_deref(),
        Some("no HELLO within 3s of connecting")
    );
}

#[test]
fn restart_kind_is_reported_against_the_previous_incarnation() {
    for (boot, nonce, want) in [
        (1u8, 1u64, Restart::Same),
        (1, 2, Restart::ProcessRestarted),
        (9, 1, Restart::HostRebooted),
    ] {
        let mut s = config("hub", 2, 2);
        s.previous_peer = Some(linkpulse_proto::Incarnation::new([1; 16], 1));
        let mut p = Pair::new(config("agent", boot, nonce), s, (MS, Duration::ZERO, 0.0));
        p.run_until(Duration::from_millis(10));
        match p.server_events.first() {
            Some((_, Event::Up { peer })) => assert_eq!(peer.restart, Some(want)),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn exact_detector_config_is_validated_with_the_field_name() {
    let mut c = config("agent", 1, 1);
    c.detector = DetectorPolicy::Exact(DetectorConfig::Phi(linkpulse_proto::detector::PhiConfig {
        threshold: 0.0,
        ..Default::default()
    }));
    let err = Session::client(c, Instant::now())
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("detector: phi.threshold must be a finite number greater than 0, got 0")
    );
    let mut c = config("", 1, 1);
    c.interval = Duration::from_millis(1);
    let err = Session::client(c, Instant::now())
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("node_name must be 1 to 255 bytes of UTF-8, got 0 bytes")
    );
}

/// A toy authenticator: proof = challenge reversed + secret (the hub will use HMAC).
#[derive(Debug)]
struct Toy(&'static [u8]);

impl Authenticator for Toy {
    fn prove(&self, challenge: &[u8], _hello: &Hello) -> Vec<u8> {
        let mut v: Vec<u8> = challenge.iter().rev().copied().collect();
        v.extend_from_slice(self.0);
        v
    }
    fn verify(&self, challenge: &[u8], hello: &Hello) -> Result<(), String> {
        if hello.auth_proof == self.prove(challenge, hello) {
            Ok(())
        } else {
            Err("bad proof".into())
        }
    }
}

#[test]
fn challenge_response_authentication() {
    for (client_secret, ok) in [(&b"s3cret"[..], true), (&b"wrong"[..], false)] {
        let mut c = config("agent", 1, 1);
        c.authenticator = Some(Arc::new(Toy(client_secret)));
        let mut s = config("hub", 2, 2);
        s.authenticator = Some(Arc::new(Toy(b"s3cret")));
        s.challenge = Bytes::from_static(b"nonce-123");
        let mut p = Pair::new(c, s, (MS, Duration::ZERO, 0.0));
        p.run_until(Duration::from_millis(100));
        if ok {
            assert_eq!(Pair::names(&p.server_events), vec!["up"]);
            assert_eq!(Pair::names(&p.client_events), vec!["up"]);
        } else {
            assert_eq!(
                dead_cause(p.server_dead()).map(|d| d.1),
                Some(Cause::Protocol(
                    "authentication failed for node \"agent\": bad proof".into()
                ))
            );
            let client_cause = dead_cause(p.client_dead()).map(|d| d.1);
            assert_eq!(
                client_cause,
                Some(Cause::Protocol(
                    "peer reported auth_failed: authentication failed for node \"agent\": bad proof"
                        .into()
                ))
            );
            // The agent tells a refused secret from any other end of the session by its code.
            assert_eq!(
                client_cause.and_then(|c| c.peer_error()),
                Some(ErrorCode::AuthFailed)
            );
            let server_cause = dead_cause(p.server_dead()).map(|d| d.1);
            assert_eq!(server_cause.and_then(|c| c.peer_error()), None);
        }
    }
}

#[test]
fn client_rejects_a_granted_interval_outside_its_range() {
    let mut c = config("agent", 1, 1);
    c.max_interval = Duration::from_secs(1);
    let mut s = config("hub", 2, 2);
    s.min_interval = Duration::from_secs(5);
    let mut p = Pair::new(c, s, (MS, Duration::ZERO, 0.0));
    p.run_until(Duration::from_millis(20));
    assert_eq!(
        dead_cause(p.client_dead()).map(|d| d.1),
        Some(Cause::Protocol(
            "server granted interval 5s, outside this side's range 10ms..=1s".into()
        ))
    );
}

/// What the server sent and both sides observed in one run of [`ping_run`].
#[derive(Debug, Default)]
struct PingRun {
    /// Buffers the server wrote (one `write` each).
    server_writes: usize,
    /// The server's PINGs with the instant each was written.
    server_pings: Vec<Instant>,
    /// PONGs the server wrote.
    server_pongs: usize,
    client_rtts: usize,
    server_rtts: usize,
    /// Events other than `Up` / `Rtt` (a suspect, a death…), per side.
    other: Vec<(&'static str, &'static str)>,
}

/// Runs a client (100 ms interval) against a server over a zero-latency pipe for `secs` of
/// virtual time; from `quiet_after` on, everything the client sends is lost (the client goes
/// quiet from the server's point of view). The client's timer runs 3 ms late every other
/// time (jitter), so its PINGs never coincide with the server's timer.
fn ping_run(
    coalesce: bool,
    rtt_sample_every: u32,
    secs: u64,
    quiet_after: Option<Duration>,
    server_dead_after_intervals: u32,
) -> PingRun {
    let t0 = Instant::now();
    let mut c = config("agent", 1, 1);
    c.interval = 100 * MS;
    let mut s = config("hub", 2, 2);
    s.coalesce_pings = coalesce;
    s.rtt_sample_every = rtt_sample_every;
    s.detector = DetectorPolicy::FixedIntervals {
        dead_after_intervals: server_dead_after_intervals,
    };
    let mut client = Session::client(c, t0).unwrap_or_else(|e| panic!("{e}"));
    let mut server = Session::server(s, t0).unwrap_or_else(|e| panic!("{e}"));
    let mut seen = Codec::new();
    let mut run = PingRun::default();
    let mut now = t0;
    for tick in 0..100_000u32 {
        let quiet = quiet_after.is_some_and(|q| now >= t0 + q);
        for _ in 0..2 {
            while let Some(b) = client.poll_transmit() {
                if !quiet {
                    server.handle_bytes(&b, now);
                }
            }
            while let Some(b) = server.poll_transmit() {
                run.server_writes += 1;
                seen.push(&b);
                while let Ok(Some(frame)) = seen.next_frame() {
                    match frame {
                        Frame::Ping(_) => run.server_pings.push(now),
                        Frame::Pong(_) => run.server_pongs += 1,
                        _ => {}
                    }
                }
                client.handle_bytes(&b, now);
            }
        }
        for (side, s) in [("client", &mut client), ("server", &mut server)] {
            while let Some(e) = s.poll_event() {
                match e {
                    Event::Rtt(_) if side == "client" => run.client_rtts += 1,
                    Event::Rtt(_) => run.server_rtts += 1,
                    Event::Up { .. } => {}
                    other => run.other.push((side, other.name())),
                }
            }
        }
        let (Some(ct), Some(st)) = (client.poll_timeout(), server.poll_timeout()) else {
            break;
        };
        if ct.min(st) > t0 + Duration::from_secs(secs) {
            break;
        }
        if ct < st {
            let jitter = if tick % 2 == 0 {
                3 * MS
            } else {
                Duration::ZERO
            };
            now = now.max(ct + jitter);
            client.handle_timeout(now);
        } else {
            now = now.max(st);
            server.handle_timeout(now);
        }
    }
    run
}

#[test]
fn coalesced_server_pings_ride_on_pongs_one_write_per_interval() {
    for coalesce in [false, true] {
        let run = ping_run(coalesce, 1, 10, None, 5);
        assert!(run.other.is_empty(), "coalesce={coalesce}: {:?}", run.other);
        assert!(
            run.client_rtts >= 95,
            "coalesce={coalesce}: client RTTs {}",
            run.client_rtts
        );
        assert!(
            run.server_rtts >= 95,
            "coalesce={coalesce}: server RTTs {}",
            run.server_rtts
        );
        // One PING of the server's own per interval either way (the option off changes
        // nothing about how often the server pings).
        assert!(
            (95..=110).contains(&run.server_pings.len()),
            "coalesce={coalesce}: {} server PINGs",
            run.server_pings.len()
        );
        if coalesce {
            // WELCOME+PING, then one PONG+PING per client PING: ~100 writes in 10 s.
            assert!(
                run.server_writes <= 110,
                "coalesced: {} server writes",
                run.server_writes
            );
        } else {
            assert!(
                run.server_writes >= 190,
                "independent: {} server writes",
                run.server_writes
            );
        }
    }
}

#[test]
fn server_pings_only_every_nth_pong_and_still_samples_rtt() {
    for coalesce in [false, true] {
        let run = ping_run(coalesce, 8, 10, None, 5);
        // The client's detector lives on the PONGs alone: no suspect, no death.
        assert!(run.other.is_empty(), "coalesce={coalesce}: {:?}", run.other);
        // ~100 client PINGs in 10 s, each answered.
        assert!(run.server_pongs >= 95, "{} PONGs", run.server_pongs);
        assert!(run.client_rtts >= 95, "client RTTs {}", run.client_rtts);
        // The first PING at the handshake, then one on every 8th PONG: ~13, not ~100.
        let pings = run.server_pings.len();
        assert!(
            (12..=15).contains(&pings),
            "coalesce={coalesce}: {pings} PINGs"
        );
        // Each is answered: the RTT is still sampled, once per 8 intervals.
        assert!(
            run.server_rtts + 1 >= pings,
            "{} RTT samples for {pings} PINGs",
            run.server_rtts
        );
        for pair in run.server_pings.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                (700 * MS..=900 * MS).contains(&gap),
                "PINGs {gap:?} apart, expected ~800 ms"
            );
        }
        // Every PING rides on a PONG: one write per client PING, plus WELCOME.
        assert!(
            run.server_writes <= run.server_pongs + 2,
            "{} writes for {} PONGs",
            run.server_writes,
            run.server_pongs
        );
    }
}

#[test]
fn server_pings_on_its_own_when_the_client_goes_quiet() {
    // Client silent from 3 s; the server declares it dead after 20 intervals (2 s) of silence.
    let run = ping_run(true, 8, 10, Some(Duration::from_secs(3)), 20);
    let t0 = run.server_pings[0];
    let before: Vec<_> = run
        .server_pings
        .iter()
        .filter(|&&t| t < t0 + Duration::from_secs(3))
        .collect();
    let after: Vec<_> = run
        .server_pings
        .iter()
        .filter(|&&t| t >= t0 + Duration::from_secs(3))
        .collect();
    assert!(
        (4..=5).contains(&before.len()),
        "{} PINGs while the client talked",
        before.len()
    );
    // Quiet: the server's own timer, every 1.25 intervals (125 ms), until the 2 s timeout.
    assert!(
        (14..=17).contains(&after.len()),
        "{} PINGs of the server's own in 2 s of client silence",
        after.len()
    );
    for pair in after.windows(2) {
        let gap = *pair[1] - *pair[0];
        assert!(
            (120 * MS..=130 * MS).contains(&gap),
            "fallback PINGs {gap:?} apart"
        );
    }
    assert!(
        run.other.contains(&("server", "dead")),
        "server events {:?}",
        run.other
    );
}

#[test]
fn zero_rtt_sample_every_is_a_config_error_naming_the_field() {
    let mut s = config("hub", 2, 2);
    s.rtt_sample_every = 0;
    let err = Session::server(s, Instant::now()).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("rtt_sample_every"), "{err}");
}
