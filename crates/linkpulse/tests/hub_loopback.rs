//! The hub on loopback with real agent and watcher processes: join, death by kill, graceful
//! leave, authentication, hostile connections, and the watch stream.

mod hub_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hub_support::*;
use linkpulse_hub::{ChangeKind, Diagnosis, NodeState};
use linkpulse_testsupport::bin::LinkpulseProcess;
use linkpulse_testsupport::eventually;

/// Starts `linkpulse nodes --watch --output json` against `api`.
fn watcher(api: &str) -> LinkpulseProcess {
    LinkpulseProcess::start(
        BIN,
        &["nodes", "--watch", "--output", "json", "--hub-api", api],
        None,
    )
    .expect("start watcher")
}

/// Waits until the watcher printed an event `event` for node `name`; returns the JSON.
fn wait_event(
    w: &mut LinkpulseProcess,
    event: &str,
    name: &str,
    budget: Duration,
) -> serde_json::Value {
    let line = w.wait_for_line(budget, |l| {
        serde_json::from_str::<serde_json::Value>(l)
            .is_ok_and(|v| v["event"] == event && v["node"]["name"] == name)
    });
    let Some(line) = line else {
        panic!(
            "watcher never printed {event} for {name}; got {:?}; stderr: {}",
            w.lines(),
            w.stderr()
        );
    };
    serde_json::from_str(&line).expect("json")
}

/// A port on loopback where nothing listens (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn agents_join_die_leave_and_every_watcher_is_told() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = write_file(dir.path(), "secret", &format!("{SECRET}\n"));
    let hub = TestHub::start(hub_config(Some(secret.clone())), None);
    let addr = hub.agent_addr.to_string();
    let mut w1 = watcher(&hub.api_url);
    let mut w2 = watcher(&hub.api_url);
    // Both watchers have their snapshot before anything joins.
    for w in [&mut w1, &mut w2] {
        let snap = w.wait_for_line(Duration::from_secs(10), |l| l.contains("\"snapshot\""));
        assert!(
            snap.is_some(),
            "no snapshot: {:?} {}",
            w.lines(),
            w.stderr()
        );
    }
    let advertise = format!("127.0.0.1:{}", closed_port());
    let mut agents = Vec::new();
    for name in ["a1", "a2", "a3"] {
        let started = Instant::now();
        let mut p = agent(
            &addr,
            name,
            Some(&secret),
            &["--label", "zone=z1", "--advertise", &advertise],
            None,
        );
        wait_connected(&mut p, &addr, Duration::from_secs(10));
        let n = hub.wait_node(name, Duration::from_secs(5), |n| {
            n.state == NodeState::Alive
        });
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "{name} alive after {took:?} (process start included)"
        );
        assert_eq!(n.label("zone"), Some("z1"));
        assert_eq!(n.address.as_deref(), Some(advertise.as_str()));
        agents.push(p);
    }
    // Heartbeats flow: RTT and an ok status are reported.
    let a3 = hub.wait_node("a3", Duration::from_secs(5), |n| {
        n.rtt_ms.is_some() && n.status.as_ref().is_some_and(|s| s.health == "ok")
    });
    assert!(a3.rtt_ms.unwrap_or(f64::MAX) < 100.0, "{a3:?}");

    // SIGKILL a1: its kernel closes the socket → dead with peer_closed or reset, fast.
    let killed = Instant::now();
    agents[0].kill();
    let a1 = hub.wait_node("a1", Duration::from_secs(5), |n| n.state == NodeState::Dead);
    let took = killed.elapsed();
    assert!(
        matches!(a1.cause.as_deref(), Some("peer_closed" | "reset")),
        "{a1:?}"
    );
    assert!(
        took < Duration::from_millis(400),
        "kill noticed after {took:?}"
    );
    // The host answers (loopback), the agent does not: process_gone.
    let a1 = hub.wait_node("a1", Duration::from_secs(10), |n| n.diagnosis.is_some());
    assert_eq!(a1.diagnosis, Some(Diagnosis::ProcessGone));

    // SIGTERM a2: GOODBYE → left.
    terminate(&agents[1]);
    let a2 = hub.wait_node("a2", Duration::from_secs(5), |n| n.state == NodeState::Left);
    assert_eq!(a2.cause.as_deref(), Some("goodbye"));
    let done = agents[1]
        .wait_exit(Duration::from_secs(5))
        .expect("agent exits");
    assert_eq!(done.code(), Some(0), "{done:?}");

    // Both watchers saw every change.
    for w in [&mut w1, &mut w2] {
        for name in ["a1", "a2", "a3"] {
            wait_event(w, "join", name, Duration::from_secs(5));
        }
        let dead = wait_event(w, "dead", "a1", Duration::from_secs(5));
        assert!(matches!(
            dead["node"]["cause"].as_str(),
            Some("peer_closed" | "reset")
        ));
        let diag = wait_event(w, "diagnosis", "a1", Duration::from_secs(5));
        assert_eq!(diag["node"]["diagnosis"], "process_gone");
        let left = wait_event(w, "left", "a2", Duration::from_secs(5));
        assert_eq!(left["node"]["state"], "left");
    }

    // The list API filters by state and label.
    let out = std::process::Command::new(BIN)
        .args([
            "nodes",
            "--hub-api",
            &hub.api_url,
            "--output",
            "json",
            "--state",
            "alive",
            "--label",
            "zone=z1",
        ])
        .output()
        .expect("nodes");
    assert!(out.status.success(), "{out:?}");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<&str> = list["nodes"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(names, ["a3"]);
    for field in [
        "name",
        "state",
        "cause",
        "diagnosis",
        "status",
        "labels",
        "rtt_ms",
        "since",
        "address",
        "incarnation",
    ] {
        assert!(
            list["nodes"][0].get(field).is_some(),
            "field {field} missing: {list}"
        );
    }
    // A bad filter is a clear error.
    let out = std::process::Command::new(BIN)
        .args(["nodes", "--hub-api", &hub.api_url, "--state", "zombie"])
        .output()
        .expect("nodes");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HTTP 400") && err.contains("zombie"), "{err}");
}

#[test]
fn wrong_secrets_are_rejected_and_others_are_unaffected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = write_file(
        dir.path(),
        "tokens",
        "good token-of-good-1\n* fallback-secret-9\n",
    );
    let hub = TestHub::start(hub_config(Some(tokens)), None);
    let addr = hub.agent_addr.to_string();
    let good_secret = write_file(dir.path(), "good", "token-of-good-1\n");
    let wrong = write_file(dir.path(), "wrong", "not-the-token-00\n");
    let mut good = agent(&addr, "good", Some(&good_secret), &[], None);
    wait_connected(&mut good, &addr, Duration::from_secs(10));
    hub.wait_node("good", Duration::from_secs(5), |n| {
        n.state == NodeState::Alive
    });
    let mut changes = hub.hub.subscribe().changes;

    // Wrong token for a name that has one; the fallback secret under a name with its own
    // token; and the fallback via LINKPULSE_SECRET for a name without a token.
    let mut bad = agent(&addr, "bad", Some(&wrong), &[], None);
    let fallback = write_file(dir.path(), "fallback", "fallback-secret-9\n");
    let mut impostor = agent(&addr, "good", Some(&fallback), &[], None);
    let mut other = std::process::Command::new(BIN);
    other
        .args(["agent", "--hub", &addr, "--name", "other"])
        .env("LINKPULSE_SECRET", "fallback-secret-9")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut other = other.spawn().expect("spawn");
    hub.wait_node("other", Duration::from_secs(10), |n| {
        n.state == NodeState::Alive
    });
    assert!(
        eventually(Duration::from_secs(10), || hub
            .hub
            .stats()
            .failed_handshakes
            >= 2),
        "{:?}",
        hub.hub.stats()
    );
    let text = |p: &LinkpulseProcess| p.stderr();
    assert!(
        eventually(Duration::from_secs(5), || text(&bad)
            .contains("authentication failed")),
        "{}",
        text(&bad)
    );
    assert!(hub.node("bad").is_none());
    assert!(bad.lines().iter().all(|l| !l.starts_with("connected")));
    assert!(impostor.lines().iter().all(|l| !l.starts_with("connected")));
    // The good agent's session was never disturbed.
    let g = hub.node("good").expect("good");
    assert_eq!(g.state, NodeState::Alive);
    while let Ok(c) = changes.try_recv() {
        assert!(
            !(c.node.name == "good" && c.event != ChangeKind::Status),
            "good was disturbed: {c:?}"
        );
    }
    bad.kill();
    impostor.kill();
    let _ = other.kill();
    let _ = other.wait();
}

#[test]
fn hostile_connections_are_closed_and_sessions_keep_beating() {
    let mut config = hub_config(None);
    config.handshake_timeout = Duration::from_millis(500);
    config.handshake_rate = 300;
    let hub = TestHub::start(config, None);
    let addr = hub.agent_addr.to_string();
    let mut agents = Vec::new();
    for name in ["h1", "h2"] {
        let mut p = agent(&addr, name, None, &[], None);
        wait_connected(&mut p, &addr, Duration::from_secs(10));
        agents.push(p);
    }
    for name in ["h1", "h2"] {
        hub.wait_node(name, Duration::from_secs(5), |n| {
            n.state == NodeState::Alive
        });
    }
    let mut changes = hub.hub.subscribe().changes;

    // Each hostile connection must be closed by the hub: read returns 0 or an error.
    let closed = |mut s: TcpStream| {
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 4096];
        let started = Instant::now();
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {} // the CHALLENGE / ERROR frame
            }
            assert!(started.elapsed() < Duration::from_secs(5), "not closed");
        }
    };
    // Garbage bytes.
    let mut s = TcpStream::connect(&addr).expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    closed(s);
    // An oversized frame header (1 GiB payload announced).
    let mut s = TcpStream::connect(&addr).expect("connect");
    let mut header = vec![b'L', b'P', 1, 0x01];
    header.extend_from_slice(&(1u32 << 30).to_be_bytes());
    s.write_all(&header).expect("write");
    closed(s);
    // No handshake at all: closed after the handshake timeout.
    let s = TcpStream::connect(&addr).expect("connect");
    let took = closed(s);
    assert!(took >= Duration::from_millis(400), "closed after {took:?}");
    // A flood of connects, some of which send junk.
    let flood: Vec<TcpStream> = (0..400)
        .filter_map(|i| {
            let mut s = TcpStream::connect(&addr).ok()?;
            if i % 2 == 0 {
                let _ = s.write_all(&[0xff; 64]);
            }
            Some(s)
        })
        .collect();
    let stats = hub.hub.stats();
    assert!(
        eventually(Duration::from_secs(10), || hub.hub.stats().open <= 2),
        "hostile sessions linger: {:?}",
        hub.hub.stats()
    );
    drop(flood);
    assert!(stats.accepted >= 4, "{stats:?}");
    // Let a few more heartbeat intervals pass under observation, then check that neither
    // agent was ever suspected.
    let watch_until = Instant::now() + Duration::from_secs(1);
    eventually(Duration::from_secs(2), || Instant::now() >= watch_until);
    while let Ok(c) = changes.try_recv() {
        assert!(
            !matches!(
                c.event,
                ChangeKind::Suspect | ChangeKind::Dead | ChangeKind::Left
            ),
            "an agent was disturbed: {c:?}"
        );
    }
    for name in ["h1", "h2"] {
        assert_eq!(hub.state(name), Some(NodeState::Alive));
    }
}

#[test]
fn health_urls_become_status_and_a_failing_one_makes_the_node_unhealthy() {
    use linkpulse_testsupport::servers::{HttpResponse, HttpServer};
    let ok = HttpServer::start(
        "127.0.0.1:0".parse().expect("addr"),
        None,
        HttpResponse::new(200),
    )
    .expect("http 200");
    let failing = HttpServer::start(
        "127.0.0.1:0".parse().expect("addr"),
        None,
        HttpResponse::new(503),
    )
    .expect("http 503");
    let hub = TestHub::start(hub_config(None), None);
    let addr = hub.agent_addr.to_string();
    let mut good = agent(
        &addr,
        "u1",
        None,
        &["--health-url", &ok.url("/health")],
        None,
    );
    let mut bad = agent(
        &addr,
        "u2",
        None,
        &["--health-url", &failing.url("/health")],
        None,
    );
    wait_connected(&mut good, &addr, Duration::from_secs(10));
    wait_connected(&mut bad, &addr, Duration::from_secs(10));
    let u1 = hub.wait_node("u1", Duration::from_secs(10), |n| n.status.is_some());
    assert!(u1.is_healthy(), "{u1:?}");
    let u2 = hub.wait_node("u2", Duration::from_secs(10), |n| n.status.is_some());
    let status = u2.status.clone().expect("status");
    assert_eq!(status.health, "degraded", "{u2:?}");
    assert!(status.detail.contains("503"), "{status:?}");
    // Alive but unhealthy: the session is fine, a scheduler must not pick it.
    assert_eq!(u2.state, NodeState::Alive);
    assert!(!u2.is_healthy());
    assert!(ok.requests() >= 1 && failing.requests() >= 1);
}

#[test]
fn an_agent_refused_for_its_secret_stops_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = write_file(dir.path(), "secret", SECRET);
    let hub = TestHub::start(hub_config(Some(secret)), None);
    let addr = hub.agent_addr.to_string();
    // The first hub does not answer at all; that is worth retrying and does not count.
    let nobody = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a closed port")
        .to_string();
    let hubs = format!("{nobody},{addr}");
    let wrong = write_file(dir.path(), "wrong", "definitely-not-the-secret");
    let started = Instant::now();
    for secret in [Some(wrong.as_path()), None] {
        let mut bad = agent(&hubs, "refused", secret, &[], None);
        let done = bad
            .wait_exit(Duration::from_secs(30))
            .expect("the agent gives up within the deadline");
        assert_eq!(done.code(), Some(3), "{}", done.stderr);
        let last = done.stderr.lines().last().unwrap_or("");
        assert!(
            last.starts_with(
                "linkpulse: agent: the hub refused this agent's secret 3 times in a row"
            ) && last.contains(&addr)
                && last.contains("auth_failed")
                && last.contains("--secret-file or LINKPULSE_SECRET"),
            "{}",
            done.stderr
        );
        assert!(done.stdout.iter().all(|l| !l.starts_with("connected")));
    }
    assert!(since(started) < Duration::from_secs(30));
    assert!(hub.node("refused").is_none());
}

#[test]
fn log_lines_are_coloured_on_a_terminal_unless_no_color_is_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = write_file(dir.path(), "secret", SECRET);
    let hub = TestHub::start(hub_config(Some(secret)), None);
    let wrong = write_file(dir.path(), "wrong", "definitely-not-the-secret");
    // The refused agent logs warnings, then exits: `script` gives it a terminal as stderr and
    // copies what the terminal showed to its own stdout.
    let agent = format!(
        "'{BIN}' agent --hub {} --name tty --secret-file '{}'",
        hub.agent_addr,
        wrong.display()
    );
    for (no_color, coloured) in [(None, true), (Some("1"), false)] {
        let mut command = std::process::Command::new("script");
        command
            .args(["-qefc", &agent, "/dev/null"])
            .env("TERM", "xterm-256color")
            .env_remove("LINKPULSE_LOG_FORMAT");
        match no_color {
            Some(v) => command.env("NO_COLOR", v),
            None => command.env_remove("NO_COLOR"),
        };
        let done = LinkpulseProcess::spawn(command)
            .expect("spawn script")
            .wait_exit(Duration::from_secs(30))
            .expect("the agent exits");
        let text = done.stdout.join("\n");
        assert!(text.contains("cannot reach hub"), "{text}");
        assert_eq!(
            text.contains('\x1b'),
            coloured,
            "NO_COLOR={no_color:?}: {text:?}"
        );
    }
}
