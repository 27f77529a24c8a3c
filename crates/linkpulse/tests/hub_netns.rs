//! The hub and its agents in separate network namespaces behind a router, with the faults in
//! the router: a cut link, a rebooted host, and failover between two hubs.

mod hub_support;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hub_support::*;
use linkpulse_hub::{Diagnosis, HubConfig, NodeState};
use linkpulse_testsupport::bin::LinkpulseProcess;
use linkpulse_testsupport::netns::Topology;

/// Cuts `ip`'s link in the router in both directions: traffic to it is blackholed (route)
/// and traffic from it too (policy rule), as a pulled cable would.
fn cut_link(topology: &Topology, ip: IpAddr) {
    topology.router.blackhole(ip).expect("blackhole route");
    topology
        .router
        .ip(&["rule", "add", "from", &format!("{ip}/32"), "blackhole"])
        .expect("blackhole rule");
}

/// Undoes [`cut_link`].
fn restore_link(topology: &Topology, ip: IpAddr) {
    topology
        .router
        .ip(&["rule", "del", "from", &format!("{ip}/32"), "blackhole"])
        .expect("remove rule");
    topology.router.restore(ip).expect("restore route");
}

fn hub_in(topology: &Arc<Topology>, host: usize, timeout: Duration) -> TestHub {
    let ip = topology.hosts[host].addr_v4();
    let mut config = HubConfig::new((ip, 0).into());
    config.interval = Duration::from_millis(100);
    config.timeout = timeout;
    TestHub::start(config, Some((Arc::clone(topology), host)))
}

fn json_watcher(topology: &Topology, host: usize, api: &str) -> LinkpulseProcess {
    let mut w = LinkpulseProcess::start(
        BIN,
        &["nodes", "--watch", "--output", "json", "--hub-api", api],
        Some(&topology.hosts[host]),
    )
    .expect("start watcher");
    let snap = w.wait_for_line(Duration::from_secs(10), |l| l.contains("\"snapshot\""));
    assert!(
        snap.is_some(),
        "no snapshot: {:?} {}",
        w.lines(),
        w.stderr()
    );
    w
}

fn wait_json(
    w: &mut LinkpulseProcess,
    budget: Duration,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let line = w.wait_for_line(budget, |l| {
        serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| pred(&v))
    });
    let Some(line) = line else {
        panic!(
            "watcher never printed the expected event; got {:?}; stderr: {}",
            w.lines(),
            w.stderr()
        );
    };
    serde_json::from_str(&line).expect("json")
}

#[test]
fn a_cut_link_is_dead_by_timeout_and_diagnosed_host_unreachable() {
    let topology = Arc::new(Topology::with_hosts(4).expect("topology (needs root)"));
    let hub = hub_in(&topology, 0, Duration::from_millis(500));
    let hub_addr = hub.agent_addr.to_string();
    let mut w1 = json_watcher(&topology, 0, &hub.api_url);
    let mut w2 = json_watcher(&topology, 0, &hub.api_url);
    let mut agents = Vec::new();
    let started = Instant::now();
    for i in 1..=3 {
        let advertise = format!("{}:7", topology.hosts[i].addr_v4());
        agents.push(agent(
            &hub_addr,
            &format!("n{i}"),
            None,
            &["--advertise", &advertise],
            Some(&topology.hosts[i]),
        ));
    }
    for i in 1..=3 {
        hub.wait_node(&format!("n{i}"), Duration::from_secs(5), |n| {
            n.state == NodeState::Alive
        });
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "all alive after {took:?}");

    // Cut n2 in the router: silence. The hub's fixed detector (500 ms) declares it dead.
    let victim: IpAddr = topology.hosts[2].addr_v4().into();
    let cut = Instant::now();
    cut_link(&topology, victim);
    let n2 = hub.wait_node("n2", Duration::from_secs(5), |n| n.state == NodeState::Dead);
    let detected = cut.elapsed();
    assert_eq!(n2.cause.as_deref(), Some("timeout"), "{n2:?}");
    assert!(
        detected < Duration::from_millis(1500),
        "dead {detected:?} after the cut (budget 500 ms + one interval + slack)"
    );
    let n2 = hub.wait_node("n2", Duration::from_secs(6), |n| n.diagnosis.is_some());
    assert_eq!(n2.diagnosis, Some(Diagnosis::HostUnreachable), "{n2:?}");
    let diagnosed = cut.elapsed();
    assert!(
        diagnosed < Duration::from_secs(4),
        "diagnosed after {diagnosed:?}"
    );
    // The others never flinched.
    for name in ["n1", "n3"] {
        assert_eq!(hub.state(name), Some(NodeState::Alive));
    }
    // Both watchers were told, with the cause and then the diagnosis.
    for w in [&mut w1, &mut w2] {
        let dead = wait_json(w, Duration::from_secs(5), |v| {
            v["event"] == "dead" && v["node"]["name"] == "n2"
        });
        assert_eq!(dead["node"]["cause"], "timeout");
        let diag = wait_json(w, Duration::from_secs(5), |v| {
            v["event"] == "diagnosis" && v["node"]["name"] == "n2"
        });
        assert_eq!(diag["node"]["diagnosis"], "host_unreachable");
        assert!(
            !w.lines()
                .iter()
                .any(|l| l.contains("\"suspect\"") && !l.contains("\"n2\"")),
            "a healthy node was suspected: {:?}",
            w.lines()
        );
    }
    restore_link(&topology, victim);
}

#[test]
fn a_rebooted_agent_comes_back_as_a_new_incarnation_and_the_old_session_ends_with_reset() {
    let topology = Arc::new(Topology::with_hosts(2).expect("topology (needs root)"));
    // A long timeout, so the reboot is noticed by the RST, not by silence.
    let hub = hub_in(&topology, 0, Duration::from_secs(5));
    let hub_addr = hub.agent_addr.to_string();
    let host = &topology.hosts[1];
    let mut first = agent(&hub_addr, "r1", None, &[], Some(host));
    wait_connected(&mut first, &hub_addr, Duration::from_secs(10));
    let before = hub.wait_node("r1", Duration::from_secs(5), |n| {
        n.state == NodeState::Alive
    });

    // "Reboot": cut the link, kill the process and its sockets (nothing reaches the hub),
    // restore the link. The hub's next PING meets a host with no record: RST.
    let ip: IpAddr = host.addr_v4().into();
    cut_link(&topology, ip);
    first.kill();
    host.kill_sockets().expect("ss -K");
    restore_link(&topology, ip);
    let old = hub.wait_node("r1", Duration::from_secs(4), |n| n.state == NodeState::Dead);
    assert_eq!(old.cause.as_deref(), Some("reset"), "{old:?}");
    assert_eq!(old.incarnation, before.incarnation);

    let mut second = agent(&hub_addr, "r1", None, &[], Some(host));
    wait_connected(&mut second, &hub_addr, Duration::from_secs(10));
    let after = hub.wait_node("r1", Duration::from_secs(5), |n| {
        n.state == NodeState::Alive
    });
    assert_ne!(after.incarnation, before.incarnation);
    assert_eq!(
        after.restart.as_deref(),
        Some("process_restarted"),
        "{after:?}"
    );
    assert!(after.session > before.session);
}

#[test]
fn agents_fail_over_to_the_backup_hub_and_return_with_prefer_first() {
    let topology = Arc::new(Topology::with_hosts(4).expect("topology (needs root)"));
    let primary = hub_in(&topology, 0, Duration::from_millis(500));
    let backup = hub_in(&topology, 1, Duration::from_millis(500));
    let hubs = format!("{},{}", primary.agent_addr, backup.agent_addr);
    let mut agents = Vec::new();
    for i in 2..=3 {
        let mut p = agent(
            &hubs,
            &format!("f{i}"),
            None,
            &["--prefer-first"],
            Some(&topology.hosts[i]),
        );
        wait_connected(
            &mut p,
            &primary.agent_addr.to_string(),
            Duration::from_secs(10),
        );
        agents.push(p);
    }
    for name in ["f2", "f3"] {
        primary.wait_node(name, Duration::from_secs(5), |n| {
            n.state == NodeState::Alive
        });
    }
    // Cut the primary: every agent is on the backup within the budget.
    let ip: IpAddr = topology.hosts[0].addr_v4().into();
    let cut = Instant::now();
    cut_link(&topology, ip);
    for name in ["f2", "f3"] {
        backup.wait_node(name, Duration::from_secs(5), |n| {
            n.state == NodeState::Alive
        });
    }
    let took = cut.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "on the backup after {took:?}"
    );
    for name in ["f2", "f3"] {
        let n = primary.wait_node(name, Duration::from_secs(5), |n| n.state == NodeState::Dead);
        assert_eq!(n.cause.as_deref(), Some("timeout"));
    }
    // Restore: with --prefer-first they return to the primary and leave the backup.
    restore_link(&topology, ip);
    for name in ["f2", "f3"] {
        primary.wait_node(name, Duration::from_secs(10), |n| {
            n.state == NodeState::Alive
        });
        let b = backup.wait_node(name, Duration::from_secs(5), |n| n.state == NodeState::Left);
        assert_eq!(b.cause.as_deref(), Some("goodbye"));
    }
    let on_primary = format!("connected to hub {}", primary.agent_addr);
    let on_backup = format!("connected to hub {}", backup.agent_addr);
    for p in &mut agents {
        // Primary, then backup, then primary again.
        let mut seen = 0;
        let line = p.wait_for_line(Duration::from_secs(5), |l| {
            seen += usize::from(l == on_primary);
            seen == 2
        });
        assert!(line.is_some(), "{:?}", p.lines());
        let order: Vec<&String> = p
            .lines()
            .iter()
            .filter(|l| **l == on_primary || **l == on_backup)
            .collect();
        assert_eq!(order, [&on_primary, &on_backup, &on_primary]);
    }
}
