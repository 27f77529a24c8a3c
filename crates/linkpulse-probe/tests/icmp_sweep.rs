//! A sweep of many loopback ICMP targets, for measuring the engine's cost (not a timed test).
//!
//! ```sh
//! cargo test --release -p linkpulse-probe --test icmp_sweep -- --ignored --nocapture
//! LP_SWEEP_TARGETS=10000 LP_SWEEP_THREADS=1 /usr/bin/time -v target/release/deps/icmp_sweep-* --ignored --nocapture
//! ```
//! `LP_SWEEP_TARGETS` (default 10,000) addresses from 127.0.0.1 upwards get one echo request
//! each, all at once; `LP_SWEEP_THREADS` picks the tokio runtime: 1 = current-thread
//! (default), N > 1 = multi-thread with N workers. Compare with
//! `fping -i 0 -q <same addresses>` under `/usr/bin/time -v`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use linkpulse_probe::icmp::{PingOptions, Pinger};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore = "a benchmark sweep; run explicitly with --ignored"]
fn sweep_loopback_targets() {
    let targets =
        u32::try_from(env_usize("LP_SWEEP_TARGETS", 10_000)).expect("target count fits u32");
    let threads = env_usize("LP_SWEEP_THREADS", 1);
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    let pinger = Arc::new(Pinger::new().expect("ICMP socket"));
    let opts = PingOptions {
        count: 1,
        interval: Duration::ZERO,
        timeout: Duration::from_secs(5),
    };
    let started = Instant::now();
    let (received, sent) = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 1..=targets {
            let addr = IpAddr::V4(Ipv4Addr::from(0x7f00_0000 + i));
            let (pinger, opts) = (Arc::clone(&pinger), opts.clone());
            tasks.spawn(async move { pinger.ping(addr, &opts).await });
        }
        let (mut received, mut sent) = (0u64, 0u64);
        while let Some(report) = tasks.join_next().await {
            let report = report.expect("ping task");
            received += u64::from(report.received);
            sent += u64::from(report.sent);
        }
        (received, sent)
    });
    let wall = started.elapsed();
    println!(
        "icmp sweep: {targets} targets, {sent} sent, {received} received, wall {:.3} s, runtime threads {threads}",
        wall.as_secs_f64()
    );
    assert_eq!(
        received,
        u64::from(targets),
        "every loopback target answers"
    );
}
