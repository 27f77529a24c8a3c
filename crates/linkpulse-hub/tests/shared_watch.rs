//! Cluster mode's merged view through the real HTTP API: a hub sharing as member `b` gets
//! another member's rows, and a `WatchClient` following `/api/v1/nodes/watch` is told `moved`
//! (with `from` and `to`) when a node's agent reappears on a third member.

use std::time::{Duration, SystemTime};

use linkpulse_hub::registry::rfc3339;
use linkpulse_hub::{ChangeKind, Hub, HubConfig, Node, NodeState, WatchClient, routes};

fn node(name: &str, since: SystemTime) -> Node {
    Node {
        name: name.into(),
        state: NodeState::Alive,
        cause: None,
        cause_detail: None,
        diagnosis: None,
        status: None,
        labels: [("zone".to_owned(), "a".to_owned())].into(),
        rtt_ms: None,
        since: rfc3339(since),
        address: Some("10.0.0.5:8080".into()),
        incarnation: "i".into(),
        restart: None,
        session: 1,
        member: None,
    }
}

#[tokio::test]
async fn a_watcher_is_told_moved_when_a_node_reappears_on_another_member() {
    let hub = Hub::new(HubConfig::new("127.0.0.1:0".parse().unwrap())).unwrap();
    hub.share_as("b", Duration::from_secs(12));
    let t0 = SystemTime::now();
    hub.with_shared(|v| {
        v.handle_members(["a", "b", "c"], t0);
        v.handle_remote("a", vec![node("w1", t0)], t0);
    });
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", api.local_addr().unwrap());
    let router = routes(hub.clone());
    tokio::spawn(async move { axum::serve(api, router).await });

    let watcher = WatchClient::connect(&url).await.unwrap();
    let w1 = watcher
        .nodes()
        .into_iter()
        .find(|n| n.name == "w1")
        .unwrap();
    assert_eq!(w1.member.as_deref(), Some("a"));
    let mut changes = watcher.subscribe();

    let t1 = t0 + Duration::from_secs(3);
    hub.with_shared(|v| v.handle_remote("c", vec![node("w1", t1)], t1));
    let change = tokio::time::timeout(Duration::from_secs(5), changes.recv())
        .await
        .expect("a change in time")
        .unwrap();
    assert_eq!(change.event, ChangeKind::Moved);
    assert_eq!(
        (change.from.as_deref(), change.to.as_deref()),
        (Some("a"), Some("c"))
    );
    let w1 = watcher
        .nodes()
        .into_iter()
        .find(|n| n.name == "w1")
        .unwrap();
    assert_eq!(
        (w1.state, w1.member.as_deref()),
        (NodeState::Alive, Some("c"))
    );
    // The listing agrees.
    let list = linkpulse_hub::list_nodes(&url, "").await.unwrap();
    assert_eq!(list.nodes[0].member.as_deref(), Some("c"));
}
