//! `linkpulse link` on loopback: flags, output formats, bad peers against a listener,
//! reconnect bookkeeping.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use linkpulse_testsupport::bin::LinkpulseProcess;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_linkpulse");
const WAIT: Duration = Duration::from_secs(10);

fn parse(line: &str) -> Option<Value> {
    serde_json::from_str(line).ok()
}

fn expect_json(p: &mut LinkpulseProcess, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    match p.wait_for_line(WAIT, |l| parse(l).is_some_and(|v| pred(&v))) {
        Some(line) => parse(&line).unwrap_or_default(),
        None => panic!(
            "no {what} within {WAIT:?}; stdout {:?}; stderr {}",
            p.lines(),
            p.stderr()
        ),
    }
}

fn listen(extra: &[&str]) -> (LinkpulseProcess, SocketAddr) {
    let mut args = vec!["link", "listen", "127.0.0.1:0", "--output", "json"];
    args.extend_from_slice(extra);
    let mut p = LinkpulseProcess::start(BIN, &args, None).expect("start listen");
    let v = expect_json(&mut p, "listening line", |v| v["event"] == "listening");
    let addr = v["addr"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("bound address");
    (p, addr)
}

fn signal(p: &LinkpulseProcess, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &p.pid().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

#[test]
fn bad_flags_are_named() {
    for (args, needle) in [
        (
            vec!["--timeout", "50ms"],
            "--timeout 50ms must be longer than --interval 100ms",
        ),
        (
            vec!["--detector", "phi", "--timeout", "1s"],
            "--timeout applies only to --detector fixed",
        ),
        (
            vec!["--detector", "phi", "--phi-threshold", "0"],
            "--phi-threshold must be a positive number",
        ),
        (
            vec!["--interval", "0s"],
            "--interval must be greater than 0",
        ),
    ] {
        let mut all = vec!["link", "connect", "127.0.0.1:9"];
        all.extend(args);
        let out = Command::new(BIN).args(&all).output().expect("run");
        assert_eq!(out.status.code(), Some(3), "{all:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{all:?}: {err}");
    }
}

#[test]
fn connect_to_nobody_exits_2_with_the_reason() {
    // A port that was just free: bind, note it, close.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = free.local_addr().expect("addr").to_string();
    drop(free);
    let done = LinkpulseProcess::run(BIN, &["link", "connect", &addr], None, WAIT).expect("exits");
    assert_eq!(done.code(), Some(2));
    assert!(done.stderr.contains("refused"), "{}", done.stderr);
}

#[test]
fn human_output_and_phi_detector() {
    let (mut server, addr) = listen(&["--detector", "phi"]);
    let addr = addr.to_string();
    let mut client = LinkpulseProcess::start(
        BIN,
        &[
            "link",
            "connect",
            &addr,
            "--detector",
            "phi",
            "--phi-threshold",
            "10",
            "--name",
            "c1",
            "--each-beat",
        ],
        None,
    )
    .expect("start");
    let up = client
        .wait_for_line(WAIT, |l| l.contains(" up: "))
        .expect("up line");
    // `<ts> <peer> up: <name> (incarnation …, interval 100ms)`
    let mut words = up.split(' ');
    let ts = words.next().unwrap_or_default();
    assert!(ts.ends_with('Z') && ts.len() == 24, "{up}");
    assert_eq!(words.next(), Some(addr.as_str()), "{up}");
    assert!(up.contains("interval 100ms"), "{up}");
    client
        .wait_for_line(WAIT, |l| l.contains(" rtt ") && l.ends_with(" ms"))
        .expect("rtt line");
    signal(&client, "-INT");
    let done = client.wait_exit(WAIT).expect("exit");
    assert_eq!(done.code(), Some(0));
    let v = expect_json(&mut server, "dead", |v| v["event"] == "dead");
    assert_eq!(v["cause"], "goodbye");
    signal(&server, "-TERM");
    assert_eq!(server.wait_exit(WAIT).expect("exit").code(), Some(0));
}

/// Garbage, an oversized frame and a silent connector each end only their own session, with
/// `protocol` and a detail; a well-behaved client on the same listener never notices.
#[test]
fn bad_peers_get_protocol_and_others_are_unaffected() {
    let (mut server, addr) = listen(&[]);
    let mut good = LinkpulseProcess::start(
        BIN,
        &[
            "link",
            "connect",
            &addr.to_string(),
            "--output",
            "json",
            "--each-beat",
        ],
        None,
    )
    .expect("start");
    expect_json(&mut good, "up", |v| v["event"] == "up");

    let mut garbage = TcpStream::connect(addr).expect("connect");
    garbage
        .write_all(b"\x16\x03\x01\x02\x00 hello? this is TLS")
        .expect("write");
    let peer = garbage.local_addr().expect("addr").to_string();
    let v = expect_json(&mut server, "garbage dead", |v| {
        v["event"] == "dead" && v["peer"] == peer.as_str()
    });
    assert_eq!(v["cause"], "protocol");
    assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");

    let mut huge = TcpStream::connect(addr).expect("connect");
    let mut frame = b"LP".to_vec();
    frame.extend_from_slice(&[1, 1]);
    frame.extend_from_slice(&(1u32 << 30).to_be_bytes());
    huge.write_all(&frame).expect("write");
    let peer = huge.local_addr().expect("addr").to_string();
    let v = expect_json(&mut server, "oversized dead", |v| {
        v["event"] == "dead" && v["peer"] == peer.as_str()
    });
    assert_eq!(v["cause"], "protocol");
    assert!(
        v["detail"].as_str().is_some_and(|d| d.contains("limit")),
        "{v}"
    );

    let silent = TcpStream::connect(addr).expect("connect");
    let peer = silent.local_addr().expect("addr").to_string();
    let started = Instant::now();
    let v = expect_json(&mut server, "silent dead", |v| {
        v["event"] == "dead" && v["peer"] == peer.as_str()
    });
    assert_eq!(v["cause"], "protocol");
    assert!(
        v["detail"].as_str().is_some_and(|d| d.contains("HELLO")),
        "{v}"
    );
    assert!(started.elapsed() < Duration::from_secs(8));

    // The good session: still only RTT lines, and it is still running.
    let _ = good.wait_for_line(Duration::from_millis(500), |_| false);
    for line in good.lines() {
        let v = parse(line).expect("json");
        assert!(
            v["event"] == "up" || v["event"] == "rtt",
            "good session disturbed: {line}"
        );
    }
    let rtts = good
        .lines()
        .iter()
        .filter(|l| l.contains("\"rtt\""))
        .count();
    assert!(rtts >= 5, "{rtts} rtt lines");
    drop((garbage, huge, silent));
}

/// With `--reconnect` the client survives the listener's restart, and its next `up` says the
/// peer's process restarted (same boot id, new nonce).
#[test]
fn reconnect_reports_process_restarted() {
    let (mut server, addr) = listen(&[]);
    let target = addr.to_string();
    let mut client = LinkpulseProcess::start(
        BIN,
        &[
            "link",
            "connect",
            &target,
            "--output",
            "json",
            "--reconnect",
        ],
        None,
    )
    .expect("start");
    let first = expect_json(&mut client, "up", |v| v["event"] == "up");
    assert!(first.get("restart").is_none(), "{first}");
    signal(&server, "-TERM");
    assert_eq!(server.wait_exit(WAIT).expect("exit").code(), Some(0));
    let v = expect_json(&mut client, "dead", |v| v["event"] == "dead");
    assert_eq!(v["cause"], "goodbye");
    // A new listener process on the port the first one was given.
    let mut again =
        LinkpulseProcess::start(BIN, &["link", "listen", &target, "--output", "json"], None)
            .expect("restart listen");
    expect_json(&mut again, "listening", |v| v["event"] == "listening");
    let second = expect_json(&mut client, "second up", |v| {
        v["event"] == "up" && v["incarnation"] != first["incarnation"]
    });
    assert_eq!(second["restart"], "process_restarted", "{second}");
}

/// The link works over IPv6 too: `up` and RTT samples over `[::1]`, then a killed peer is
/// `peer_closed` or `reset`. Skipped (with a message) where the host has no IPv6 loopback.
#[test]
fn ipv6_loopback_link_and_killed_peer() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipping");
        return;
    }
    let mut server = LinkpulseProcess::start(
        BIN,
        &["link", "listen", "[::1]:0", "--output", "json"],
        None,
    )
    .expect("start listen");
    let v = expect_json(&mut server, "listening line", |v| v["event"] == "listening");
    let addr: SocketAddr = v["addr"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("bound address");
    assert!(addr.is_ipv6(), "{addr}");
    let target = addr.to_string();
    let mut client = LinkpulseProcess::start(
        BIN,
        &[
            "link",
            "connect",
            &target,
            "--output",
            "json",
            "--each-beat",
        ],
        None,
    )
    .expect("start connect");
    let up = expect_json(&mut client, "up", |v| v["event"] == "up");
    assert_eq!(up["peer"], target.as_str(), "{up}");
    expect_json(&mut client, "rtt", |v| v["event"] == "rtt");
    let killed = Instant::now();
    signal(&server, "-KILL");
    let dead = expect_json(&mut client, "dead", |v| v["event"] == "dead");
    assert!(
        dead["cause"] == "peer_closed" || dead["cause"] == "reset",
        "{dead}"
    );
    assert!(killed.elapsed() < Duration::from_secs(2), "{dead}");
}

/// By default `link` prints changes and a summary of the heartbeats every `--summary-every`
/// (10 s unless told), not a line per heartbeat; `--each-beat` adds those.
#[test]
fn changes_and_a_periodic_summary_instead_of_a_line_per_beat() {
    let (mut server, addr) = listen(&["--summary-every", "300ms"]);
    let target = addr.to_string();
    let mut client = LinkpulseProcess::start(
        BIN,
        &[
            "link",
            "connect",
            &target,
            "--output",
            "json",
            "--summary-every",
            "300ms",
        ],
        None,
    )
    .expect("start connect");
    expect_json(&mut client, "up", |v| v["event"] == "up");
    let mut seen: Vec<Value> = Vec::new();
    for _ in 0..2 {
        // The next summary: one not seen before.
        let s = expect_json(&mut client, "summary", |v| {
            v["event"] == "summary" && !seen.contains(v)
        });
        seen.push(s.clone());
        assert_eq!(s["peer"], target.as_str(), "{s}");
        assert_eq!(s["period_ms"], 300, "{s}");
        // 100 ms heartbeats over 300 ms.
        assert!(s["beats"].as_u64().is_some_and(|b| b >= 1), "{s}");
        let (min, avg, max) = (
            s["rtt_min_ms"].as_f64().unwrap(),
            s["rtt_avg_ms"].as_f64().unwrap(),
            s["rtt_max_ms"].as_f64().unwrap(),
        );
        assert!(0.0 < min && min <= avg && avg <= max, "{s}");
    }
    // The listener summarises its session too.
    let s = expect_json(&mut server, "listener summary", |v| v["event"] == "summary");
    assert!(s["beats"].as_u64().is_some_and(|b| b >= 1), "{s}");
    let events: Vec<String> = client
        .lines()
        .iter()
        .filter_map(|l| parse(l))
        .map(|v| v["event"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        events.iter().all(|e| e == "up" || e == "summary"),
        "{events:?}"
    );
    // A change still shows at once.
    signal(&server, "-TERM");
    let dead = expect_json(&mut client, "dead", |v| v["event"] == "dead");
    assert_eq!(dead["cause"], "goodbye");
    assert_eq!(client.wait_exit(WAIT).expect("exit").code(), Some(2));

    // The same as text.
    let (mut server, addr) = listen(&[]);
    // What a per-beat line would look like: `<ts> <peer> rtt 0.123 ms`.
    let per_beat = format!("{addr} rtt ");
    let mut client = LinkpulseProcess::start(
        BIN,
        &[
            "link",
            "connect",
            &addr.to_string(),
            "--summary-every",
            "300ms",
        ],
        None,
    )
    .expect("start connect");
    let line = client
        .wait_for_line(WAIT, |l| l.contains(" summary: "))
        .expect("summary line");
    assert!(
        line.contains(" heartbeats answered in 300ms, rtt min/avg/max ") && line.ends_with(" ms"),
        "{line}"
    );
    assert!(
        !client.lines().iter().any(|l| l.contains(&per_beat)),
        "{:?}",
        client.lines()
    );
    signal(&server, "-TERM");
    assert_eq!(server.wait_exit(WAIT).expect("exit").code(), Some(0));
}
