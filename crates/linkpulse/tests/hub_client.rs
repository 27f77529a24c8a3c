//! The Rust watch client: live view, `healthy()`, `pick()`, and reconnection after the API
//! server went away and came back on the same address.

mod hub_support;

use std::collections::HashSet;
use std::future::IntoFuture;
use std::time::Duration;

use hub_support::*;
use linkpulse_hub::{Hub, NodeState, WatchClient, routes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_keeps_a_live_view_picks_healthy_nodes_and_reconnects() {
    let hub = Hub::new(hub_config(None)).expect("hub");
    let agents_listener = hub.bind().await.expect("bind");
    let hub_addr = agents_listener.local_addr().expect("addr").to_string();
    tokio::spawn({
        let hub = hub.clone();
        async move { hub.run(agents_listener, std::future::pending()).await }
    });
    let api = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind api");
    let backend = api.local_addr().expect("addr");
    tokio::spawn(axum::serve(api, routes(hub.clone())).into_future());
    // The client talks to the API through a proxy the test can cut (every connection dropped,
    // nothing listening) and bring back on the same address.
    let front = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let api_addr = front.local_addr().expect("addr");
    let api_url = format!("http://{api_addr}");
    let server = tokio::spawn(proxy(front, backend));

    let view = WatchClient::connect(&api_url).await.expect("connect");
    assert!(view.is_connected());
    assert!(view.pick().is_none(), "nobody is healthy yet");

    let ok_cmd = "true";
    let bad_cmd = "echo disk full >&2; false";
    let mut procs = [
        agent(&hub_addr, "c1", None, &["--health-cmd", ok_cmd], None),
        agent(&hub_addr, "c2", None, &["--health-cmd", ok_cmd], None),
        agent(&hub_addr, "c3", None, &["--health-cmd", bad_cmd], None),
    ];
    let all_known = view
        .wait_until(Duration::from_secs(10), |v| {
            v.nodes().len() == 3
                && v.get("c3")
                    .and_then(|n| n.status)
                    .is_some_and(|s| s.health == "degraded")
        })
        .await;
    assert!(all_known, "{:#?}", view.nodes());
    let c3 = view.get("c3").expect("c3");
    assert!(
        c3.status
            .as_ref()
            .is_some_and(|s| s.detail.contains("disk full")),
        "{c3:?}"
    );
    // healthy() excludes the degraded node; pick() alternates between the healthy ones.
    let healthy: HashSet<String> = view.healthy().into_iter().map(|n| n.name).collect();
    assert_eq!(healthy, HashSet::from(["c1".to_owned(), "c2".to_owned()]));
    let picks: Vec<String> = (0..4).filter_map(|_| view.pick()).map(|n| n.name).collect();
    assert_eq!(picks.len(), 4);
    assert!(picks.windows(2).all(|w| w[0] != w[1]), "{picks:?}");
    assert!(picks.iter().all(|p| healthy.contains(p)));

    // The API server goes away; a node dies meanwhile; the server comes back.
    server.abort();
    let _ = server.await;
    assert!(
        view.wait_until(Duration::from_secs(5), |v| !v.is_connected())
            .await
    );
    procs[0].kill();
    let dead = hub_support_wait(&hub, "c1", NodeState::Dead).await;
    assert!(dead, "hub never saw c1 die");
    let front = tokio::net::TcpListener::bind(api_addr)
        .await
        .expect("rebind proxy");
    let _server = tokio::spawn(proxy(front, backend));
    let caught_up = view
        .wait_until(Duration::from_secs(10), |v| {
            v.is_connected() && v.get("c1").is_some_and(|n| n.state == NodeState::Dead)
        })
        .await;
    assert!(caught_up, "{:#?}", view.get("c1"));
    assert!(view.healthy().iter().all(|n| n.name == "c2"));
    // Live changes flow again after the reconnect.
    let mut changes = view.subscribe();
    procs[1].kill();
    let told = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match changes.recv().await {
                Ok(c) if c.node.name == "c2" && c.node.state == NodeState::Dead => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    })
    .await;
    assert_eq!(told, Ok(true));
    assert!(view.pick().is_none());
}

/// Forwards every connection on `front` to `backend`; aborting the task drops them all.
async fn proxy(front: tokio::net::TcpListener, backend: std::net::SocketAddr) {
    let mut conns = tokio::task::JoinSet::new();
    while let Ok((mut inbound, _)) = front.accept().await {
        conns.spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(backend).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

async fn hub_support_wait(hub: &Hub, name: &str, state: NodeState) -> bool {
    linkpulse_testsupport::eventually_async(Duration::from_secs(5), || async {
        hub.node(name).is_some_and(|n| n.state == state)
    })
    .await
}
