//! The namespace fixture itself: traffic crosses the router, and the router's faults look
//! like what they stand for. Needs root, `ip`, `ping`, `ss`.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use linkpulse_testsupport::eventually;
use linkpulse_testsupport::netns::{NetnsError, Topology};
use linkpulse_testsupport::servers::TcpHold;

fn ping(host: &linkpulse_testsupport::netns::Host, dst: IpAddr) -> (bool, String) {
    let dst = dst.to_string();
    let out = host
        .output(&["ping", "-n", "-c", "1", "-W", "2", &dst])
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn ping_crosses_the_router_over_v4_and_v6() {
    let net = Topology::client_router_server().unwrap();
    assert_ne!(net.client.name(), net.server.name());
    for dst in [
        IpAddr::V4(net.server.addr_v4()),
        IpAddr::V6(net.server.addr_v6()),
    ] {
        let (ok, text) = ping(&net.client, dst);
        assert!(ok, "ping {dst} failed: {text}");
        assert!(text.contains("1 received"), "{text}");
    }
    // The router is reachable too, on its own address.
    let (ok, text) = ping(&net.client, net.router.addr_v4().into());
    assert!(ok, "{text}");
}

#[test]
fn blackhole_is_silent_and_restore_brings_traffic_back() {
    let net = Topology::client_router_server().unwrap();
    for dst in [
        IpAddr::V4(net.server.addr_v4()),
        IpAddr::V6(net.server.addr_v6()),
    ] {
        net.router.blackhole(dst).unwrap();
        let (ok, text) = ping(&net.client, dst);
        assert!(!ok, "{text}");
        assert!(text.contains("0 received"), "{text}");
        assert!(
            !text.contains("Unreachable"),
            "a blackhole must be silent: {text}"
        );
        net.router.restore(dst).unwrap();
        let (ok, text) = ping(&net.client, dst);
        assert!(ok, "after restore: {text}");
    }
}

#[test]
fn unreachable_makes_the_router_answer_with_icmp() {
    let net = Topology::client_router_server().unwrap();
    let v4 = IpAddr::V4(net.server.addr_v4());
    net.router.unreachable(v4).unwrap();
    let (ok, text) = ping(&net.client, v4);
    assert!(!ok, "{text}");
    assert!(text.contains("Destination Host Unreachable"), "{text}");
    assert!(
        text.contains(&format!("From {}", net.client.gateway_v4())),
        "{text}"
    );

    let v6 = IpAddr::V6(net.server.addr_v6());
    net.router.unreachable(v6).unwrap();
    let (ok, text) = ping(&net.client, v6);
    assert!(!ok, "{text}");
    assert!(text.contains("Destination unreachable"), "{text}");

    net.router.prohibit(v4).unwrap();
    let (_, text) = ping(&net.client, v4);
    assert!(
        text.contains("Packet filtered") || text.contains("Prohibited"),
        "{text}"
    );
}

#[test]
fn in_process_sockets_live_in_the_namespace() {
    let net = Topology::client_router_server().unwrap();
    let server = TcpHold::start("0.0.0.0:0".parse().unwrap(), Some(&net.server)).unwrap();
    let dst = SocketAddr::new(net.server.addr_v4().into(), server.addr().port());
    // From the client namespace the server answers through the router …
    let connected = net
        .client
        .block_on(|| async move { tokio::net::TcpStream::connect(dst).await.map(drop) })
        .unwrap();
    assert!(connected.is_ok(), "{connected:?}");
    assert!(eventually(Duration::from_secs(5), || server.accepted() == 1));
    // … while from the test's own namespace that address does not exist.
    let here = TcpStream::connect_timeout(&dst, Duration::from_millis(300));
    assert!(here.is_err());
    // A blocking closure works too, and panics are resumed on the caller.
    let name = net
        .client
        .run_in(|| std::fs::read_link("/proc/thread-self/ns/net"))
        .unwrap();
    assert!(name.is_ok());
}

#[test]
fn kill_sockets_resets_established_connections() {
    let net = Topology::client_router_server().unwrap();
    let server = TcpHold::start("0.0.0.0:0".parse().unwrap(), Some(&net.server)).unwrap();
    let dst = SocketAddr::new(net.server.addr_v4().into(), server.addr().port());
    let outcome = net
        .client
        .run_in(|| -> std::io::Result<ErrorKind> {
            let mut stream = TcpStream::connect_timeout(&dst, Duration::from_secs(5))?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            stream.write_all(b"hello")?;
            // The server side is killed while we wait for data.
            let killer = std::thread::scope(|s| {
                let h = s.spawn(|| {
                    eventually(Duration::from_secs(5), || server.open() == 1)
                        && net.server.kill_sockets().is_ok()
                });
                let mut buf = [0u8; 16];
                let read = stream.read(&mut buf);
                (h.join().unwrap_or(false), read)
            });
            match killer {
                (true, Err(e)) => Ok(e.kind()),
                (true, Ok(n)) => Ok(if n == 0 {
                    ErrorKind::UnexpectedEof
                } else {
                    ErrorKind::Other
                }),
                (false, _) => Ok(ErrorKind::NotFound),
            }
        })
        .unwrap()
        .unwrap();
    assert_eq!(outcome, ErrorKind::ConnectionReset);
}

#[test]
fn spawned_processes_die_and_namespaces_vanish_on_drop() {
    let net = Topology::client_router_server().unwrap();
    let names = [
        net.client.name().to_owned(),
        net.router.name().to_owned(),
        net.server.name().to_owned(),
    ];
    assert!(names.iter().all(|n| n.len() <= 15 && n.starts_with("lp")));
    let mut sleeper = std::process::Command::new("sleep");
    sleeper.arg("300");
    let child = net.server.spawn(sleeper).unwrap();
    let wrapped = net.client.command("sleep").arg("300").spawn().unwrap();
    let pids = [child.id(), wrapped.id()];
    assert!(eventually(Duration::from_secs(5), || {
        net.server.pids().contains(&pids[0]) && net.client.pids().contains(&pids[1])
    }));
    drop(net);
    for n in &names {
        assert!(!Path::new("/run/netns").join(n).exists(), "{n} left behind");
    }
    for (mut c, pid) in [child, wrapped].into_iter().zip(pids) {
        let status = c.wait().unwrap();
        assert!(!status.success(), "pid {pid} was not killed");
    }
}

#[test]
fn namespaces_are_removed_when_a_test_panics() {
    let names = std::sync::Mutex::new(Vec::new());
    let result = std::panic::catch_unwind(|| {
        let net = Topology::with_hosts(3).unwrap();
        names
            .lock()
            .unwrap()
            .extend(net.hosts.iter().map(|h| h.name().to_owned()));
        panic!("test failure");
    });
    assert!(result.is_err());
    let names = names.into_inner().unwrap();
    assert_eq!(names.len(), 3);
    for n in &names {
        assert!(!Path::new("/run/netns").join(n).exists(), "{n} left behind");
    }
}

#[test]
fn hosts_behind_one_router_reach_each_other() {
    let mut net = Topology::with_hosts(3).unwrap();
    let extra = net.add_host().unwrap().addr_v4();
    let (ok, text) = ping(&net.hosts[0], extra.into());
    assert!(ok, "{text}");
    let (ok, text) = ping(&net.hosts[2], net.hosts[1].addr_v6().into());
    assert!(ok, "{text}");
}

#[test]
fn ip_errors_name_the_command() {
    let net = Topology::new().unwrap();
    let err = net
        .router
        .restore("10.255.255.1".parse().unwrap())
        .unwrap_err();
    assert!(matches!(err, NetnsError::Command { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("route del 10.255.255.1/32"), "{text}");
    assert!(text.contains(net.router.name()), "{text}");
}

#[test]
fn a_pulled_cable_cuts_the_host_off_until_plugged_back() {
    let net = Topology::client_router_server().unwrap();
    let dst = IpAddr::V4(net.server.addr_v4());
    net.client.set_link(false).unwrap();
    let (ok, text) = ping(&net.client, dst);
    assert!(!ok, "{text}");
    assert!(text.contains("Network is unreachable"), "{text}");
    net.client.set_link(true).unwrap();
    let (ok, text) = ping(&net.client, dst);
    assert!(ok, "link back up: {text}");
    let (ok, text) = ping(&net.client, net.server.addr_v6().into());
    assert!(ok, "link back up (v6): {text}");
}

#[test]
fn router_filters_block_ping_or_one_tcp_port_only() {
    let net = Topology::client_router_server().unwrap();
    let open = TcpHold::start("[::]:0".parse().unwrap(), Some(&net.server)).unwrap();
    let other = TcpHold::start("[::]:0".parse().unwrap(), Some(&net.server)).unwrap();
    let connects = |port: u16, dst: IpAddr| {
        let addr = SocketAddr::new(dst, port);
        net.client
            .run_in(|| TcpStream::connect_timeout(&addr, Duration::from_millis(500)).map(drop))
            .unwrap()
    };
    for dst in [
        IpAddr::V4(net.server.addr_v4()),
        IpAddr::V6(net.server.addr_v6()),
    ] {
        net.router.block_ping(dst).unwrap();
        let (ok, text) = ping(&net.client, dst);
        assert!(!ok, "ping should be blocked: {text}");
        assert!(connects(open.addr().port(), dst).is_ok());

        net.router.drop_tcp_port(dst, open.addr().port()).unwrap();
        let err = connects(open.addr().port(), dst).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        assert!(connects(other.addr().port(), dst).is_ok());

        net.router.clear_filters().unwrap();
        assert!(ping(&net.client, dst).0);
        assert!(connects(open.addr().port(), dst).is_ok());
    }
}

#[test]
fn drop_between_cuts_one_pair_of_hosts_only() {
    let net = Topology::with_hosts(3).unwrap();
    let (cut, other, target) = (&net.hosts[0], &net.hosts[1], &net.hosts[2]);
    let listener = TcpHold::start("[::]:0".parse().unwrap(), Some(target)).unwrap();
    let connects = |from: &linkpulse_testsupport::netns::Host, dst: IpAddr| {
        let addr = SocketAddr::new(dst, listener.addr().port());
        from.run_in(|| TcpStream::connect_timeout(&addr, Duration::from_millis(500)).map(drop))
            .unwrap()
    };
    for (src, dst) in [
        (IpAddr::V4(cut.addr_v4()), IpAddr::V4(target.addr_v4())),
        (IpAddr::V6(cut.addr_v6()), IpAddr::V6(target.addr_v6())),
    ] {
        net.router.drop_between(src, dst).unwrap();
        let err = connects(cut, dst).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        assert!(
            connects(other, dst).is_ok(),
            "another host still reaches it"
        );
        let (ok, text) = ping(cut, other.addr_v4().into());
        assert!(ok, "the cut host still reaches the others: {text}");
        net.router.clear_filters().unwrap();
        assert!(connects(cut, dst).is_ok());
    }
    let err = net
        .router
        .drop_between(cut.addr_v4().into(), target.addr_v6().into())
        .unwrap_err();
    assert!(matches!(err, NetnsError::MixedFamilies { .. }), "{err}");
    assert!(
        err.to_string().contains("one is IPv4, the other IPv6"),
        "{err}"
    );
}
