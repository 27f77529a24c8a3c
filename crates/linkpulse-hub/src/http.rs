//! The registry API for schedulers: `GET /api/v1/nodes` and the `GET /api/v1/nodes/watch`
//! Server-Sent Events stream.
//!
//! - `GET /api/v1/nodes[?state=alive][&label=k=v]…` → `{"revision": N, "nodes": [Node…]}`;
//!   `state` may be given several times (any of them), every `label` must match. An unknown
//!   state or a label without `=` is a 400 with `{"error": "…"}` naming it.
//! - `GET /api/v1/nodes/watch` → `text/event-stream`: first one `snapshot` event
//!   (`{"revision": N, "nodes": [...]}`), then one event per change, named after it (`join`,
//!   `status`, `suspect`, `alive_again`, `dead`, `left`, `diagnosis`, `forgotten`, and in
//!   cluster mode `moved` with `"from"` and `"to"`) with data
//!   `{"revision": N, "event": NAME, "node": {...}}` and the SSE `id` set to the revision. A
//!   watcher too slow to keep up gets a fresh `snapshot` instead of the changes it missed.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use crate::registry::{Node, NodeState};
use crate::server::Hub;

/// The body of `GET /api/v1/nodes` and of a `snapshot` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeList {
    /// The registry revision the list reflects.
    pub revision: u64,
    /// The nodes, by name.
    pub nodes: Vec<Node>,
}

/// A filter over nodes, as given in the query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFilter {
    /// Any of these states (empty: every state).
    pub states: Vec<NodeState>,
    /// Every one of these labels must match.
    pub labels: Vec<(String, String)>,
}

impl NodeFilter {
    /// Parses `state=…&label=k=v…` (URL-encoded). Unknown keys are an error too.
    pub fn parse(query: &str) -> Result<Self, String> {
        let mut f = NodeFilter::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "state" => f
                    .states
                    .push(value.parse().map_err(|e| format!("state: {e}"))?),
                "label" => {
                    let (k, v) = value
                        .split_once('=')
                        .ok_or_else(|| format!("label: expected KEY=VALUE, found {value:?}"))?;
                    f.labels.push((k.to_owned(), v.to_owned()));
                }
                other => {
                    return Err(format!(
                        "unknown query parameter {other:?} (expected state or label)"
                    ));
                }
            }
        }
        Ok(f)
    }

    /// Whether `node` passes.
    pub fn matches(&self, node: &Node) -> bool {
        (self.states.is_empty() || self.states.contains(&node.state))
            && self
                .labels
                .iter()
                .all(|(k, v)| node.label(k) == Some(v.as_str()))
    }
}

/// The registry routes, to mount on the daemon's (or any) axum server.
pub fn routes(hub: Hub) -> Router {
    Router::new()
        .route("/api/v1/nodes", get(list))
        .route("/api/v1/nodes/watch", get(watch))
        .with_state(hub)
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

async fn list(State(hub): State<Hub>, RawQuery(query): RawQuery) -> Response {
    let filter = match NodeFilter::parse(query.as_deref().unwrap_or("")) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let (revision, nodes) = hub.list();
    let nodes = nodes.into_iter().filter(|n| filter.matches(n)).collect();
    Json(NodeList { revision, nodes }).into_response()
}

fn snapshot_event(revision: u64, nodes: Vec<Node>) -> SseEvent {
    let data = serde_json::to_string(&NodeList { revision, nodes }).unwrap_or_default();
    SseEvent::default()
        .event("snapshot")
        .id(revision.to_string())
        .data(data)
}

async fn watch(State(hub): State<Hub>) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let sub = hub.subscribe();
    let first = snapshot_event(sub.revision, sub.nodes);
    let stream = futures_util::stream::unfold(
        (Some(first), sub.changes, hub),
        |(first, mut changes, hub)| async move {
            if let Some(ev) = first {
                return Some((Ok(ev), (None, changes, hub)));
            }
            let ev = match changes.recv().await {
                Ok(change) => {
                    let data = serde_json::to_string(&*change).unwrap_or_default();
                    SseEvent::default()
                        .event(change.event.as_str())
                        .id(change.revision.to_string())
                        .data(data)
                }
                Err(RecvError::Lagged(_)) => {
                    // Too slow: start over from a fresh snapshot.
                    let sub = hub.subscribe();
                    changes = sub.changes;
                    snapshot_event(sub.revision, sub.nodes)
                }
                Err(RecvError::Closed) => return None,
            };
            Some((Ok(ev), (None, changes, hub)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_errors_name_the_problem() {
        let f = NodeFilter::parse("state=alive&state=suspect&label=zone%3Da").unwrap();
        assert_eq!(f.states, [NodeState::Alive, NodeState::Suspect]);
        assert_eq!(f.labels, [("zone".to_owned(), "a".to_owned())]);
        assert_eq!(
            NodeFilter::parse("state=zombie").unwrap_err(),
            "state: unknown node state \"zombie\" (expected alive, suspect, dead or left)"
        );
        assert_eq!(
            NodeFilter::parse("label=zone").unwrap_err(),
            "label: expected KEY=VALUE, found \"zone\""
        );
        assert!(
            NodeFilter::parse("color=red")
                .unwrap_err()
                .contains("color")
        );
    }
}
