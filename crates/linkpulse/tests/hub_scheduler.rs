//! The scheduler example (`examples/scheduler.rs`) under faults: workers
//! crash and hang while tasks run; every task completes exactly once and none is sent to a
//! worker after the dispatcher learned it was dead.

mod hub_support;
#[path = "../../../examples/scheduler.rs"]
#[allow(dead_code, unreachable_pub, missing_docs, clippy::all)]
mod scheduler;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use hub_support::*;
use linkpulse_hub::{NodeState, WatchClient};
use linkpulse_testsupport::bin::LinkpulseProcess;
use linkpulse_testsupport::eventually;

struct Worker {
    agent: LinkpulseProcess,
    frozen: Arc<AtomicBool>,
}

const TASKS: u64 = 300;

#[test]
fn every_task_completes_exactly_once_while_workers_crash_and_hang() {
    let hub = TestHub::start(hub_config(None), None);
    let hub_addr = hub.agent_addr.to_string();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let start_worker = |name: &str| -> Worker {
        let frozen = Arc::new(AtomicBool::new(false));
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        rt.spawn(scheduler::serve_worker(
            listener,
            name.to_owned(),
            Duration::from_millis(15),
            Arc::clone(&frozen),
        ));
        let mut agent = agent(&hub_addr, name, None, &["--advertise", &addr], None);
        wait_connected(&mut agent, &hub_addr, Duration::from_secs(10));
        hub.wait_node(name, Duration::from_secs(5), |n| {
            n.state == NodeState::Alive
        });
        Worker { agent, frozen }
    };
    let mut workers = vec![start_worker("w1"), start_worker("w2"), start_worker("w3")];

    let client = rt
        .block_on(WatchClient::connect(&hub.api_url))
        .expect("watch client");
    let client = Arc::new(client);
    let progress = Arc::new(AtomicU64::new(0));
    let run =
        rt.spawn({
            let client = Arc::clone(&client);
            let progress = Arc::clone(&progress);
            async move {
                scheduler::dispatch(&client, TASKS, 12, progress, Duration::from_secs(60)).await
            }
        });

    // A crash: w1's process dies with tasks in hand (its server stops answering, its agent
    // is killed: the hub sees peer_closed/reset).
    assert!(eventually(Duration::from_secs(30), || progress
        .load(Ordering::Relaxed)
        >= 40));
    workers[0].frozen.store(true, Ordering::Relaxed);
    workers[0].agent.kill();
    // A hang: w2 stops answering and its agent is stopped (SIGSTOP): the hub declares it dead
    // by timeout.
    assert!(eventually(Duration::from_secs(30), || progress
        .load(Ordering::Relaxed)
        >= 120));
    workers[1].frozen.store(true, Ordering::Relaxed);
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &workers[1].agent.pid().to_string()])
        .status()
        .expect("kill -STOP");
    assert!(stopped.success());
    // A new worker joins mid-run.
    workers.push(start_worker("w4"));

    let out = rt.block_on(run).expect("dispatcher");
    // Exactly once: every task in the ledger, each counted once.
    assert_eq!(out.ledger.len() as u64, TASKS, "lost tasks: {out:?}");
    assert!(out.ledger.keys().copied().eq(0..TASKS));
    assert!(
        out.redispatched > 0,
        "the faults should have cost some tasks: {out:?}"
    );
    let by = |w: &str| out.ledger.values().filter(|v| *v == w).count();
    assert!(by("w4") > 0, "the late worker got work");
    // Nothing was sent to a worker after the dispatcher learned its session had died.
    for d in &out.deaths {
        let late: Vec<_> = out
            .dispatches
            .iter()
            .filter(|x| x.worker == d.worker && x.session == d.session && x.at > d.at)
            .collect();
        assert!(
            late.is_empty(),
            "sent to {} after its death: {late:?}",
            d.worker
        );
    }
    let dead: Vec<&str> = out.deaths.iter().map(|d| d.worker.as_str()).collect();
    assert!(dead.contains(&"w1") && dead.contains(&"w2"), "{dead:?}");
    let w2 = hub.node("w2").expect("w2");
    assert_eq!(w2.cause.as_deref(), Some("timeout"), "{w2:?}");
    drop(workers);
}
