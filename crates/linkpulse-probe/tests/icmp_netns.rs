//! ICMP through a router network namespace: replies from a namespace host, ICMP
//! destination-unreachable from the router, silence from a blackhole route, unprivileged
//! datagram sockets, and the permission error.
//!
//! Topology built per test (root needed; names unique per process and test, removed on drop):
//!
//! ```text
//!  client ns                      router ns
//!  c0 10.66.0.1/24  ──veth──  r0 10.66.0.2/24     unreachable 10.66.20.0/24
//!     fd66::1/64                 fd66::2/64        prohibit    10.66.40.0/24
//!  default via router                              blackhole   10.66.30.0/24
//!                                                  unreachable fd66:20::/64
//! ```
//!
//! The probes run inside the client namespace: each outer test re-executes this test binary
//! under `ip netns exec` to run [`netns_child`] there, with the case in `LP_ICMP_CASE`.

use std::net::IpAddr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use linkpulse_probe::icmp::{IcmpError, PingOptions, PingReport, Pinger, SocketMode};

const ROUTER_V4: &str = "10.66.0.2";
const ROUTER_V6: &str = "fd66::2";
const UNREACHABLE_V4: &str = "10.66.20.5";
const PROHIBITED_V4: &str = "10.66.40.5";
const BLACKHOLE_V4: &str = "10.66.30.5";
const UNREACHABLE_V6: &str = "fd66:20::5";
const CHILD_TEST: &str = "netns_child";
const CASE_VAR: &str = "LP_ICMP_CASE";

/// Runs a command, panicking with its output if it fails (test setup only).
fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn setup command");
    assert!(
        out.status.success(),
        "`{}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A named network namespace, deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new(role: &str) -> Netns {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "lpicmp-{role}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    fn ip(&self, args: &[&str]) {
        let mut all = vec!["ip", "-n", &self.name];
        all.extend_from_slice(args);
        run(&all);
    }

    fn sysctl(&self, setting: &str) {
        run(&[
            "ip", "netns", "exec", &self.name, "sysctl", "-q", "-w", setting,
        ]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Client and router namespaces joined by a veth pair (see the module docs).
struct Topology {
    client: Netns,
    _router: Netns,
}

impl Topology {
    fn new() -> Topology {
        let client = Netns::new("c");
        let router = Netns::new("r");
        // The router only answers with ICMP errors when it forwards; lift its rate limits so
        // every probe gets its error. Forwarding is switched on before the link comes up:
        // toggling it later stalls IPv6 neighbour discovery for about a second.
        router.sysctl("net.ipv4.ip_forward=1");
        router.sysctl("net.ipv6.conf.all.forwarding=1");
        router.sysctl("net.ipv6.conf.default.forwarding=1");
        router.sysctl("net.ipv4.icmp_ratelimit=0");
        router.sysctl("net.ipv6.icmp.ratelimit=0");
        client.ip(&[
            "link",
            "add",
            "c0",
            "type",
            "veth",
            "peer",
            "name",
            "r0",
            "netns",
            &router.name,
        ]);
        router.ip(&["link", "set", "r0", "up"]);
        client.ip(&["link", "set", "c0", "up"]);
        client.ip(&["addr", "add", "10.66.0.1/24", "dev", "c0"]);
        client.ip(&["-6", "addr", "add", "fd66::1/64", "dev", "c0", "nodad"]);
        router.ip(&["addr", "add", "10.66.0.2/24", "dev", "r0"]);
        router.ip(&["-6", "addr", "add", "fd66::2/64", "dev", "r0", "nodad"]);
        client.ip(&["route", "add", "default", "via", ROUTER_V4]);
        client.ip(&["-6", "route", "add", "default", "via", ROUTER_V6]);
        router.ip(&["route", "add", "unreachable", "10.66.20.0/24"]);
        router.ip(&["route", "add", "blackhole", "10.66.30.0/24"]);
        router.ip(&["route", "add", "prohibit", "10.66.40.0/24"]);
        router.ip(&["-6", "route", "add", "unreachable", "fd66:20::/64"]);
        Topology {
            client,
            _router: router,
        }
    }

    /// Runs `netns_child` with `case` inside the client namespace, `prefix` wrapping the
    /// binary (e.g. `setpriv` to drop CAP_NET_RAW), and checks that it ran and passed.
    fn run_child(&self, case: &str, prefix: &[&str]) -> Output {
        let exe = std::env::current_exe().expect("test binary path");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.client.name])
            .args(prefix)
            .arg(exe);
        cmd.args([
            "--exact",
            CHILD_TEST,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ]);
        let out = cmd.env(CASE_VAR, case).output().expect("spawn child test");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "child case `{case}` failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            out.status
        );
        out
    }
}

/// `setpriv` arguments that take CAP_NET_RAW away from the child, even though it runs as root.
const WITHOUT_NET_RAW: &[&str] = &[
    "setpriv",
    "--bounding-set=-net_raw",
    "--inh-caps=-net_raw",
    "--",
];

#[test]
fn raw_sockets_report_replies_unreachables_and_silence() {
    Topology::new().run_child("raw", &[]);
}

#[test]
fn datagram_sockets_work_without_cap_net_raw_where_ping_group_range_allows() {
    let topo = Topology::new();
    topo.client.sysctl("net.ipv4.ping_group_range=0 2147483647");
    topo.run_child("datagram", WITHOUT_NET_RAW);
}

#[test]
fn one_ping_with_more_probes_than_sequence_numbers_finishes() {
    let out = Topology::new().run_child("flood", &[]);
    println!("{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn without_permission_the_error_names_both_fixes() {
    // A fresh namespace starts with ping_group_range "1 0": no datagram sockets for anyone.
    let topo = Topology::new();
    topo.run_child("permission", WITHOUT_NET_RAW);
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("valid test address")
}

fn assert_unreachable(report: &PingReport, count: u32, from: &str, code: u8, meaning: &str) {
    assert_eq!((report.sent, report.received), (count, 0), "{report:?}");
    assert_eq!(report.loss_percent, 100.0, "{report:?}");
    assert_eq!(
        report.unreachable.len(),
        count as usize,
        "one error per probe: {report:?}"
    );
    for u in &report.unreachable {
        assert_eq!(
            (u.from, u.code, u.meaning.as_str()),
            (ip(from), code, meaning),
            "{report:?}"
        );
    }
    assert!(report.error.is_none(), "{report:?}");
}

/// Pings every kind of target at once from inside the client namespace.
async fn ping_everything(pinger: &Pinger) {
    let count = 3;
    let opts = PingOptions {
        count,
        interval: Duration::from_millis(50),
        timeout: Duration::from_millis(700),
    };
    // The kernel sends at most 5 route errors in a burst per peer (net.ipv4.route.error_burst,
    // a host-wide setting we leave alone), so the two IPv4 error cases send 2 probes each.
    let errs = 2;
    let err_opts = PingOptions {
        count: errs,
        ..opts.clone()
    };
    let (router4, router6, unreach4, prohib4, silent4, unreach6) = tokio::join!(
        pinger.ping(ip(ROUTER_V4), &opts),
        pinger.ping(ip(ROUTER_V6), &opts),
        pinger.ping(ip(UNREACHABLE_V4), &err_opts),
        pinger.ping(ip(PROHIBITED_V4), &err_opts),
        pinger.ping(ip(BLACKHOLE_V4), &opts),
        pinger.ping(ip(UNREACHABLE_V6), &opts),
    );
    for (name, r) in [("router v4", &router4), ("router v6", &router6)] {
        assert_eq!((r.sent, r.received), (count, count), "{name}: {r:?}");
        assert!(
            r.rtt_avg.is_some() && r.unreachable.is_empty(),
            "{name}: {r:?}"
        );
        // The router is directly connected: its replies arrive with the default hop limit,
        // whether read from the IPv4 header (raw) or from ancillary data (datagram, IPv6).
        assert_eq!(r.reply_hop_limit, Some(64), "{name}: {r:?}");
    }
    assert_unreachable(&unreach4, errs, ROUTER_V4, 1, "host unreachable");
    assert_unreachable(
        &prohib4,
        errs,
        ROUTER_V4,
        13,
        "communication administratively prohibited",
    );
    assert_unreachable(&unreach6, count, ROUTER_V6, 0, "no route to destination");
    // A blackhole is silence: every probe lost, no ICMP error, no pinger error.
    assert_eq!((silent4.sent, silent4.received), (count, 0), "{silent4:?}");
    assert_eq!(silent4.loss_percent, 100.0, "{silent4:?}");
    assert!(
        silent4.unreachable.is_empty() && silent4.error.is_none(),
        "{silent4:?}"
    );
    assert_eq!(silent4.rtt_avg, None, "{silent4:?}");
}

/// Runs inside the client namespace, started by the tests above; does nothing elsewhere.
#[tokio::test]
#[ignore = "started by the other tests inside a network namespace"]
async fn netns_child() {
    let Ok(case) = std::env::var(CASE_VAR) else {
        eprintln!("{CHILD_TEST} only runs when re-executed by the netns tests");
        return;
    };
    match case.as_str() {
        "raw" => {
            let pinger = Pinger::with_mode(SocketMode::Raw).expect("raw socket as root");
            ping_everything(&pinger).await;
        }
        "datagram" => {
            let pinger = Pinger::new().expect("datagram sockets are allowed in this namespace");
            assert_eq!(
                pinger.socket_mode(ip(ROUTER_V4)),
                Some(SocketMode::Datagram)
            );
            assert_eq!(
                pinger.socket_mode(ip(ROUTER_V6)),
                Some(SocketMode::Datagram)
            );
            assert!(
                Pinger::with_mode(SocketMode::Raw).is_err(),
                "raw sockets must be refused without CAP_NET_RAW, or this case proves nothing"
            );
            ping_everything(&pinger).await;
        }
        "flood" => {
            // One ping with more silent probes than there are sequence numbers: once all are in
            // flight it must expire its own probes to free numbers, not wait forever.
            let pinger = Pinger::with_mode(SocketMode::Raw).expect("raw socket as root");
            let count = 65_536 + 1_000;
            let opts = PingOptions {
                count,
                interval: Duration::ZERO,
                timeout: Duration::from_secs(2),
            };
            let started = std::time::Instant::now();
            let r = tokio::time::timeout(
                Duration::from_secs(120),
                pinger.ping(ip(BLACKHOLE_V4), &opts),
            )
            .await
            .expect("a ping holding every sequence number must still finish");
            assert_eq!((r.sent, r.received), (count, 0), "{r:?}");
            assert!(r.error.is_none() && r.unreachable.is_empty(), "{r:?}");
            println!("flood of {count} probes took {:?}", started.elapsed());
        }
        "permission" => {
            let err = Pinger::new().expect_err("neither socket kind is allowed");
            assert!(matches!(err, IcmpError::Permission { .. }), "{err:?}");
            let text = err.to_string();
            assert!(
                text.contains("sysctl -w net.ipv4.ping_group_range=\"0 2147483647\""),
                "{text}"
            );
            assert!(text.contains("setcap cap_net_raw+ep"), "{text}");
            assert!(
                text.contains("datagram socket") && text.contains("raw socket"),
                "{text}"
            );
            println!("permission error: {text}");
        }
        other => panic!("unknown {CASE_VAR} {other:?}"),
    }
}
