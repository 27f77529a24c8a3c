//! Real ICMP echo over loopback: every address in 127.0.0.0/8 and ::1 answers.
//!
//! These tests need CAP_NET_RAW or a `net.ipv4.ping_group_range` that admits the test's group.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use linkpulse_probe::icmp::{IcmpError, PingOptions, PingReport, Pinger, SocketMode};

fn opts(count: u32) -> PingOptions {
    PingOptions {
        count,
        interval: Duration::from_millis(20),
        timeout: Duration::from_secs(5),
    }
}

fn assert_all_answered(addr: IpAddr, report: &PingReport, count: u32) {
    assert!(
        report.error.is_none(),
        "{addr}: unexpected error {:?}",
        report.error
    );
    assert_eq!(
        (report.sent, report.received),
        (count, count),
        "{addr}: {report:?}"
    );
    assert_eq!(report.loss_percent, 0.0, "{addr}: {report:?}");
    assert!(report.unreachable.is_empty(), "{addr}: {report:?}");
    let (min, avg, max) = (report.rtt_min, report.rtt_avg, report.rtt_max);
    let (Some(min), Some(avg), Some(max)) = (min, avg, max) else {
        panic!("{addr}: no RTT in {report:?}")
    };
    assert!(
        min <= avg && avg <= max,
        "{addr}: rtt min/avg/max out of order: {report:?}"
    );
    assert!(
        max < Duration::from_secs(5),
        "{addr}: rtt beyond the timeout: {report:?}"
    );
    assert!(report.rtt_mdev.is_some(), "{addr}: {report:?}");
}

#[tokio::test]
async fn pings_ipv4_loopback() {
    let pinger = Pinger::new().expect("ICMP socket (run as root or widen ping_group_range)");
    let addr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let report = pinger.ping(addr, &opts(3)).await;
    assert_all_answered(addr, &report, 3);
}

#[tokio::test]
async fn pings_ipv6_loopback() {
    let pinger = Pinger::new().expect("ICMP socket");
    let addr = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let report = pinger.ping(addr, &opts(3)).await;
    assert_all_answered(addr, &report, 3);
}

#[tokio::test]
async fn raw_mode_pings_both_families() {
    let pinger = Pinger::with_mode(SocketMode::Raw).expect("raw ICMP sockets need CAP_NET_RAW");
    for addr in [
        IpAddr::V4(Ipv4Addr::new(127, 1, 2, 3)),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ] {
        assert_eq!(pinger.socket_mode(addr), Some(SocketMode::Raw));
        let report = pinger.ping(addr, &opts(2)).await;
        assert_all_answered(addr, &report, 2);
    }
}

#[tokio::test]
async fn ipv4_mapped_ipv6_address_is_pinged_over_ipv4() {
    let pinger = Pinger::new().expect("ICMP socket");
    let addr: IpAddr = "::ffff:127.0.0.9".parse().expect("valid address");
    let report = pinger.ping(addr, &opts(1)).await;
    assert_all_answered(addr, &report, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_concurrent_pings_never_confuse_replies() {
    let pinger = Arc::new(Pinger::new().expect("ICMP socket"));
    // 2,000 distinct addresses 127.0.0.1 ..= 127.0.7.208, all pinged at once through one socket.
    let addrs: Vec<IpAddr> = (1u32..=2000)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0x7f00_0000 + i)))
        .collect();
    let options = PingOptions {
        count: 3,
        interval: Duration::from_millis(10),
        timeout: Duration::from_secs(10),
    };
    let mut tasks = tokio::task::JoinSet::new();
    for &addr in &addrs {
        let (pinger, options) = (Arc::clone(&pinger), options.clone());
        tasks.spawn(async move { (addr, pinger.ping(addr, &options).await) });
    }
    let mut seen = 0;
    while let Some(done) = tasks.join_next().await {
        let (addr, report) = done.expect("ping task");
        assert_all_answered(addr, &report, 3);
        seen += 1;
    }
    assert_eq!(seen, addrs.len());
}

#[tokio::test]
async fn a_cancelled_ping_leaves_the_pinger_usable() {
    let pinger = Pinger::new().expect("ICMP socket");
    let addr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let slow = PingOptions {
        count: 50,
        interval: Duration::from_millis(100),
        timeout: Duration::from_secs(1),
    };
    let cancelled =
        tokio::time::timeout(Duration::from_millis(150), pinger.ping(addr, &slow)).await;
    assert!(cancelled.is_err(), "a 5 s ping cannot finish in 150 ms");
    let report = pinger.ping(addr, &opts(2)).await;
    assert_all_answered(addr, &report, 2);
}

#[tokio::test]
async fn invalid_options_are_reported_with_the_field() {
    let pinger = Pinger::new().expect("ICMP socket");
    let addr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let zero_count = PingOptions {
        count: 0,
        ..PingOptions::default()
    };
    let report = pinger.ping(addr, &zero_count).await;
    assert_eq!(report.sent, 0);
    let err = report.error.expect("count 0 must be rejected");
    assert!(matches!(err, IcmpError::InvalidOptions { .. }), "{err:?}");
    assert!(err.to_string().contains("count is 0"), "{err}");

    let zero_timeout = PingOptions {
        timeout: Duration::ZERO,
        ..PingOptions::default()
    };
    let err = pinger
        .ping(addr, &zero_timeout)
        .await
        .error
        .expect("timeout 0 must be rejected");
    assert!(err.to_string().contains("timeout is 0s"), "{err}");
}

#[test]
fn default_options_match_ping() {
    let d = PingOptions::default();
    assert_eq!(
        (d.count, d.interval, d.timeout),
        (3, Duration::from_secs(1), Duration::from_secs(2))
    );
}

#[test]
fn pinger_and_reports_can_be_shared_across_tasks() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Pinger>();
    shareable::<PingReport>();
    shareable::<IcmpError>();
}

#[test]
fn a_pinger_outlives_the_runtime_of_its_first_ping() {
    let pinger = Pinger::new().expect("ICMP socket");
    let addr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    for round in 0..3 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let report = runtime.block_on(pinger.ping(addr, &opts(1)));
        drop(runtime);
        assert!(report.error.is_none(), "round {round}: {report:?}");
        assert_all_answered(addr, &report, 1);
    }
}
