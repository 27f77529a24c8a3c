//! `linkpulse link` across real network namespaces — client ⇄ router ⇄ server — with every
//! fault injected in the router or on the peer process, one test per row of the cause table.
//! Each asserts the cause the client reports and that it came within a (generous) budget.
//!
//! Needs root (network namespaces).

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use linkpulse_net::{IoVerdict, KeepaliveProfile, TransportFault, classify};
use linkpulse_testsupport::bin::LinkpulseProcess;
use linkpulse_testsupport::netns::{ClientRouterServer, Topology};
use linkpulse_testsupport::servers::TcpHold;
use serde_json::Value;
use tokio::io::AsyncReadExt;

const BIN: &str = env!("CARGO_BIN_EXE_linkpulse");
/// Generous wait for things that should take milliseconds (process start, handshake).
const START: Duration = Duration::from_secs(10);

fn parse(line: &str) -> Option<Value> {
    serde_json::from_str(line).ok()
}

/// Waits for a JSON line with `"event": event` and returns it.
fn wait_event(p: &mut LinkpulseProcess, event: &str, within: Duration) -> Option<Value> {
    p.wait_for_line(within, |l| parse(l).is_some_and(|v| v["event"] == event))
        .and_then(|l| parse(&l))
}

/// Fails with the process's output when an expected line does not come.
fn expect_event(p: &mut LinkpulseProcess, event: &str, within: Duration) -> Value {
    match wait_event(p, event, within) {
        Some(v) => v,
        None => panic!(
            "no {event:?} event within {within:?}; stdout: {:?}; stderr: {}",
            p.lines(),
            p.stderr()
        ),
    }
}

/// A running `link listen` in the server namespace and a `link connect` to it from the client
/// namespace, both with JSON output, after the session is up and an RTT was measured.
struct Link {
    net: ClientRouterServer,
    server: LinkpulseProcess,
    client: LinkpulseProcess,
}

impl Link {
    fn start(client_args: &[&str], server_args: &[&str]) -> Link {
        let net = Topology::client_router_server().expect("namespaces (needs root)");
        let mut args = vec![
            "link",
            "listen",
            "0.0.0.0:0",
            "--output",
            "json",
            "--name",
            "server",
            // Every heartbeat's RTT, no periodic summary: these tests count events.
            "--each-beat",
            "--summary-every",
            "0s",
        ];
        args.extend_from_slice(server_args);
        let mut server =
            LinkpulseProcess::start(BIN, &args, Some(&net.server)).expect("start listen");
        let listening = expect_event(&mut server, "listening", START);
        let port: SocketAddr = listening["addr"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("addr");
        let target = SocketAddr::new(IpAddr::V4(net.server.addr_v4()), port.port()).to_string();
        let mut args = vec![
            "link",
            "connect",
            target.as_str(),
            "--output",
            "json",
            "--name",
            "client",
            "--each-beat",
            "--summary-every",
            "0s",
        ];
        args.extend_from_slice(client_args);
        let mut client =
            LinkpulseProcess::start(BIN, &args, Some(&net.client)).expect("start connect");
        let up = expect_event(&mut client, "up", START);
        assert_eq!(up["name"], "server");
        assert_eq!(up["peer"], target.as_str());
        expect_event(&mut client, "rtt", START);
        expect_event(&mut server, "up", START);
        Link {
            net,
            server,
            client,
        }
    }

    fn server_ip(&self) -> IpAddr {
        IpAddr::V4(self.net.server.addr_v4())
    }

    fn client_ip(&self) -> IpAddr {
        IpAddr::V4(self.net.client.addr_v4())
    }

    /// Silently drops everything between client and server, both ways, in the router.
    fn cut(&self) {
        self.net
            .router
            .blackhole(self.server_ip())
            .expect("blackhole server");
        self.net
            .router
            .blackhole(self.client_ip())
            .expect("blackhole client");
    }

    fn restore(&self) {
        self.net
            .router
            .restore(self.server_ip())
            .expect("restore server");
        self.net
            .router
            .restore(self.client_ip())
            .expect("restore client");
    }

    /// Waits for the client's `dead` event; returns it and how long after `since` it came.
    fn client_dead(&mut self, since: Instant, within: Duration) -> (Value, Duration) {
        let dead = expect_event(&mut self.client, "dead", within);
        (dead, since.elapsed())
    }
}

fn signal(p: &LinkpulseProcess, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &p.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {sig} failed");
}

/// Row 1: a healthy peer for 30 s (300 heartbeats each way at 100 ms): RTT samples keep
/// coming, never `suspect` or `dead`, on either side.
#[test]
fn alive_peer_gives_only_rtt() {
    let mut link = Link::start(&[], &[]);
    // Collect everything the client prints for 30 s.
    let _ = link
        .client
        .wait_for_line(Duration::from_secs(30), |_| false);
    let mut rtts = 0;
    for line in link.client.lines() {
        let v = parse(line).expect("JSON line");
        match v["event"].as_str() {
            Some("up") => continue,
            Some("rtt") => rtts += 1,
            _ => panic!("unexpected event on a healthy link: {line}"),
        }
        assert!(v["rtt_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{line}");
        // Every line carries an RFC 3339 timestamp with milliseconds.
        let ts = v["ts"].as_str().unwrap_or_default();
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes().get(19) == Some(&b'.'),
            "{ts}"
        );
    }
    // Roughly 300 expected; allow for a loaded machine.
    assert!(rtts >= 150, "only {rtts} RTT samples in 30 s");
    let bad = link
        .server
        .lines()
        .iter()
        .filter(|l| l.contains("\"suspect\"") || l.contains("\"dead\""))
        .count();
    assert_eq!(bad, 0, "server saw trouble: {:?}", link.server.lines());
}

/// Row 2: the link is silently cut (blackhole both ways in the router) → `timeout` within the
/// budget: fixed detector, dead after 500 ms of silence.
#[test]
fn blackholed_link_is_timeout() {
    let mut link = Link::start(&["--timeout", "500ms"], &["--timeout", "500ms"]);
    let cut = Instant::now();
    link.cut();
    let (dead, took) = link.client_dead(cut, Duration::from_secs(10));
    assert_eq!(dead["cause"], "timeout", "{dead}");
    assert!(
        took < Duration::from_secs(3),
        "detected after {took:?} (budget 500 ms + slack)"
    );
    let silent = dead["silent_ms"].as_u64().expect("silent_ms");
    assert!((500..3000).contains(&silent), "silent_ms {silent}");
    // The server sees the same silence from its side.
    let dead = expect_event(&mut link.server, "dead", Duration::from_secs(10));
    assert_eq!(dead["cause"], "timeout", "{dead}");
    // `connect` exits 2 once the peer is dead.
    let done = link
        .client
        .wait_exit(Duration::from_secs(10))
        .expect("client exits");
    assert_eq!(done.code(), Some(2));
}

/// Row 3: the peer host "reboots": cut the link, destroy the server's connections (`ss -K`,
/// its RST is lost in the blackhole), restore. The client's next frame meets a host with no
/// record of the connection → RST → `reset`, long before the 5 s heartbeat deadline.
#[test]
fn rebooted_peer_is_reset_at_the_next_frame() {
    let mut link = Link::start(&["--timeout", "5s"], &["--timeout", "5s"]);
    link.cut();
    link.net
        .server
        .kill_sockets()
        .expect("ss -K in the server namespace");
    let restored = Instant::now();
    link.restore();
    let (dead, took) = link.client_dead(restored, Duration::from_secs(10));
    assert_eq!(dead["cause"], "reset", "{dead}");
    assert!(
        took < Duration::from_secs(4),
        "reset seen {took:?} after the link came back"
    );
}

/// Row 4: the router replaces the route to the server with `unreachable` → every frame the
/// client sends is answered with ICMP host unreachable, which IP_RECVERR reports at once →
/// `unreachable` after the 300 ms confirmation, well before the 3 s heartbeat deadline.
///
/// The server's own packets are dropped in the router too (a policy rule on their source):
/// a host whose route is gone is not heard from either, and any frame that still arrived
/// would rightly cancel the ICMP evidence. The rule matches only forwarded traffic from the
/// server, so the router's ICMP messages still reach the client.
#[test]
fn unreachable_route_is_unreachable() {
    let mut link = Link::start(&["--timeout", "3s"], &["--timeout", "3s"]);
    let fault = Instant::now();
    link.net
        .router
        .unreachable(link.server_ip())
        .expect("unreachable route to the server");
    let from_server = link.server_ip().to_string();
    link.net
        .router
        .ip(&["rule", "add", "from", &from_server, "blackhole"])
        .expect("drop the server's packets");
    let (dead, took) = link.client_dead(fault, Duration::from_secs(10));
    assert_eq!(dead["cause"], "unreachable", "{dead}");
    assert!(
        took < Duration::from_millis(2500),
        "unreachable after {took:?}"
    );
}

/// Row 5: the peer process is SIGKILLed; its kernel closes the socket → `peer_closed` (FIN)
/// or `reset` (RST, unread data) within milliseconds — no heartbeat deadline involved.
#[test]
fn killed_peer_process_is_peer_closed_or_reset() {
    let mut link = Link::start(&["--timeout", "5s"], &[]);
    let kill = Instant::now();
    signal(&link.server, "-KILL");
    let (dead, took) = link.client_dead(kill, Duration::from_secs(10));
    let cause = dead["cause"].as_str().unwrap_or_default();
    assert!(cause == "peer_closed" || cause == "reset", "{dead}");
    assert!(took < Duration::from_secs(2), "noticed after {took:?}");
}

/// Row 6: graceful shutdown → `goodbye`, on both sides, and exit codes.
#[test]
fn sigterm_sends_goodbye() {
    let mut link = Link::start(&[], &[]);
    // The client leaves: the server names it, the client exits 0.
    signal(&link.client, "-TERM");
    let done = link
        .client
        .wait_exit(Duration::from_secs(10))
        .expect("client exits");
    assert_eq!(done.code(), Some(0), "{:?}", done.stderr);
    let dead = done
        .json_lines()
        .into_iter()
        .find(|v| v["event"] == "dead")
        .expect("client dead line");
    assert_eq!(dead["cause"], "local");
    let dead = expect_event(&mut link.server, "dead", Duration::from_secs(10));
    assert_eq!(dead["cause"], "goodbye", "{dead}");

    // A new client; now the server leaves: the client sees goodbye and exits 2.
    let target = link
        .client
        .lines()
        .first()
        .and_then(|l| parse(l))
        .map(|v| v["peer"].clone());
    let target = target
        .and_then(|v| v.as_str().map(str::to_owned))
        .expect("peer address");
    let mut client = LinkpulseProcess::start(
        BIN,
        &["link", "connect", &target, "--output", "json"],
        Some(&link.net.client),
    )
    .expect("start connect");
    expect_event(&mut client, "up", START);
    signal(&link.server, "-TERM");
    let dead = expect_event(&mut client, "dead", Duration::from_secs(10));
    assert_eq!(dead["cause"], "goodbye", "{dead}");
    assert_eq!(
        client
            .wait_exit(Duration::from_secs(10))
            .expect("exit")
            .code(),
        Some(2)
    );
    assert_eq!(
        link.server
            .wait_exit(Duration::from_secs(10))
            .expect("exit")
            .code(),
        Some(0)
    );
}

/// Row 7: the peer process hangs (SIGSTOP). Its kernel still ACKs, so TCP sees nothing wrong
/// and kernel keepalive alone never fires; the heartbeat says `timeout`.
#[test]
fn stopped_peer_is_timeout_by_heartbeat_but_not_by_keepalive() {
    let mut link = Link::start(&["--timeout", "500ms"], &[]);
    let stop = Instant::now();
    signal(&link.server, "-STOP");
    let (dead, took) = link.client_dead(stop, Duration::from_secs(10));
    assert_eq!(dead["cause"], "timeout", "{dead}");
    assert!(took < Duration::from_secs(3), "detected after {took:?}");

    // Kernel keepalive alone, tuned to notice a dead peer in 4 s, on a fresh connection to
    // the stopped process: the peer's kernel answers every probe, so after 3 × that budget
    // the connection is still up.
    let port = dead["peer"]
        .as_str()
        .and_then(|a| a.parse::<SocketAddr>().ok())
        .expect("peer address")
        .port();
    let target = SocketAddr::new(link.server_ip(), port);
    let outcome = link
        .net
        .client
        .block_on(|| async move {
            let mut stream = tokio::net::TcpStream::connect(target)
                .await
                .expect("connect");
            quick_keepalive().apply(&stream).expect("keepalive");
            let mut buf = [0u8; 64];
            tokio::time::timeout(Duration::from_secs(12), stream.read(&mut buf))
                .await
                .is_err()
        })
        .expect("client namespace");
    assert!(
        outcome,
        "keepalive ended a connection to a live (stopped) kernel"
    );
    signal(&link.server, "-CONT");
}

/// idle 1 s, interval 1 s, count 3, no user timeout: 4 s worst case.
fn quick_keepalive() -> KeepaliveProfile {
    KeepaliveProfile {
        idle: Duration::from_secs(1),
        interval: Duration::from_secs(1),
        count: 3,
        user_timeout: None,
    }
}

/// Kernel keepalive alone (idle 1 s, interval 1 s, count 3, no heartbeats) notices a silently
/// cut link in about 4 s, and the read fails with ETIMEDOUT.
#[test]
fn kernel_keepalive_alone_notices_a_cut_in_about_four_seconds() {
    let net = Topology::client_router_server().expect("namespaces (needs root)");
    let hold =
        TcpHold::start("0.0.0.0:0".parse().expect("addr"), Some(&net.server)).expect("server");
    let target = SocketAddr::new(IpAddr::V4(net.server.addr_v4()), hold.addr().port());
    let (server_ip, client_ip) = (
        IpAddr::V4(net.server.addr_v4()),
        IpAddr::V4(net.client.addr_v4()),
    );
    let router = &net.router;
    let (err, took) = net
        .client
        .block_on(|| async move {
            let mut stream = tokio::net::TcpStream::connect(target)
                .await
                .expect("connect");
            assert_eq!(quick_keepalive().idle_detection(), Duration::from_secs(4));
            quick_keepalive().apply(&stream).expect("keepalive");
            router.blackhole(server_ip).expect("blackhole");
            router.blackhole(client_ip).expect("blackhole");
            let cut = Instant::now();
            let mut buf = [0u8; 64];
            let result = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf)).await;
            (result, cut.elapsed())
        })
        .expect("client namespace");
    let err = match err {
        Ok(Err(e)) => e,
        other => panic!("expected a read error, got {other:?} after {took:?}"),
    };
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert_eq!(classify(&err), IoVerdict::Fault(TransportFault::Timeout));
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(8),
        "keepalive fired after {took:?}, expected about 4 s"
    );
}
