//! A client of the registry API: [`list_nodes`] for one listing, [`WatchClient`] to follow
//! `GET /api/v1/nodes/watch` and keep a live local view that a scheduler asks for
//! [`healthy`](WatchClient::healthy) nodes or a [`pick`](WatchClient::pick).
//!
//! Requests go through [`linkpulse_probe::client::HttpClient`], the one HTTP(S) client of
//! linkpulse (`http://` and `https://` API URLs, system roots); this module adds a small
//! Server-Sent Events parser. The watcher reconnects by itself (backoff with jitter) and
//! resynchronises from the `snapshot` every new stream starts with. A daemon with `auth:`
//! wants a token: [`list_nodes_with_token`] and [`WatchClient::connect_with_token`] send one
//! (`Authorization: Bearer`); a refusal (401, 403) ends `connect` at once with that status.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

pub use linkpulse_probe::client::{BearerToken, ClientError};
use linkpulse_probe::client::{HttpClient, mask_url};
use rand::Rng;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::http::NodeList;
use crate::registry::{Change, ChangeKind, Node, NodeState};

/// Longest SSE line accepted (a snapshot of many nodes is large).
const MAX_LINE: usize = linkpulse_probe::client::MAX_BODY;
/// Budget to connect and get the response head (for a listing: the whole body).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A checked `http(s)://HOST[:PORT][/prefix]` and the client that asks it.
#[derive(Debug, Clone)]
struct Api {
    /// The URL as given, without a trailing `/`.
    base: String,
    client: HttpClient,
}

impl Api {
    fn parse(url: &str, token: Option<&BearerToken>) -> Result<Api, ClientError> {
        let bad = |reason: String| ClientError::Url {
            url: mask_url(url),
            reason,
        };
        let u = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err(bad("only http:// and https:// are supported".to_owned()));
        }
        if u.host().is_none() {
            return Err(bad("no host".to_owned()));
        }
        if u.query().is_some() || u.fragment().is_some() {
            return Err(bad(
                "a query or fragment has no place in the API URL".to_owned()
            ));
        }
        Ok(Api {
            base: url.trim_end_matches('/').to_owned(),
            client: HttpClient::new()
                .timeout(REQUEST_TIMEOUT)
                .bearer(token.cloned()),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// `GET /api/v1/nodes?QUERY` once. `query` is the raw query string (`state=alive&label=k=v`),
/// empty for every node.
pub async fn list_nodes(api_url: &str, query: &str) -> Result<NodeList, ClientError> {
    list_nodes_with_token(api_url, query, None).await
}

/// [`list_nodes`] sending `token` (a daemon with `auth:` wants the read role).
pub async fn list_nodes_with_token(
    api_url: &str,
    query: &str,
    token: Option<&BearerToken>,
) -> Result<NodeList, ClientError> {
    let api = Api::parse(api_url, token)?;
    let path = if query.is_empty() {
        "/api/v1/nodes".to_owned()
    } else {
        format!("/api/v1/nodes?{query}")
    };
    api.client.get_json(&api.url(&path)).await
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseMessage {
    /// The `event:` field (`message` when absent).
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` field.
    pub id: Option<String>,
}

/// Incremental SSE parser: push bytes, take complete events.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    current: SseMessage,
    has_data: bool,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the events they complete. A line longer than the limit is an
    /// error (the stream should be dropped).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseMessage>, String> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(pos) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos;
            let mut line = &self.buf[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let line = String::from_utf8_lossy(line).into_owned();
            start = end + 1;
            self.line(&line, &mut out);
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_LINE {
            return Err(format!("SSE line longer than {MAX_LINE} bytes"));
        }
        Ok(out)
    }

    fn line(&mut self, line: &str, out: &mut Vec<SseMessage>) {
        if line.is_empty() {
            if self.has_data {
                let mut msg = std::mem::take(&mut self.current);
                if msg.event.is_empty() {
                    msg.event = "message".to_owned();
                }
                out.push(msg);
            }
            self.current = SseMessage::default();
            self.has_data = false;
            return;
        }
        if line.starts_with(':') {
            return; // comment (keep-alive)
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.current.event = value.to_owned(),
            "data" => {
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
            }
            "id" => self.current.id = Some(value.to_owned()),
            _ => {}
        }
    }
}

#[derive(Debug, Default)]
struct View {
    revision: u64,
    nodes: BTreeMap<String, Node>,
}

#[derive(Debug)]
struct Shared {
    view: RwLock<View>,
    round_robin: AtomicUsize,
    changes: broadcast::Sender<Change>,
    /// Bumped on every applied change or snapshot (for waiting on the view).
    version: watch::Sender<u64>,
    connected: watch::Sender<bool>,
    last_error: Mutex<Option<String>>,
    /// The last refusal of the credentials (401 or 403), for `connect` to end with.
    refused: watch::Sender<Option<Refusal>>,
}

/// A `401`/`403` answer to the watch request.
#[derive(Debug, Clone)]
struct Refusal {
    url: String,
    status: u16,
    body: String,
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, View> {
        self.view
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, View> {
        self.view
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    fn apply_snapshot(&self, list: NodeList) {
        let mut synthetic = Vec::new();
        {
            let mut view = self.write();
            for node in &list.nodes {
                let old = view.nodes.get(&node.name);
                let differs = old.is_none_or(|old| {
                    old.state != node.state
                        || old.session != node.session
                        || old.member != node.member
                        || old.diagnosis != node.diagnosis
                });
                if differs {
                    let live = |s: NodeState| matches!(s, NodeState::Alive | NodeState::Suspect);
                    // Cluster mode: alive on another member's hub than before → moved.
                    let from = old
                        .filter(|o| o.member != node.member && live(o.state) && live(node.state))
                        .map(|o| o.member.clone());
                    let event = match node.state {
                        _ if from.is_some() => ChangeKind::Moved,
                        NodeState::Alive => ChangeKind::Join,
                        NodeState::Suspect => ChangeKind::Suspect,
                        NodeState::Dead => ChangeKind::Dead,
                        NodeState::Left => ChangeKind::Left,
                    };
                    synthetic.push(Change {
                        revision: list.revision,
                        event,
                        node: node.clone(),
                        to: from.is_some().then(|| node.member.clone()).flatten(),
                        from: from.flatten(),
                    });
                }
            }
            // Nodes the hub forgot while we were not watching.
            for (name, old) in &view.nodes {
                if !list.nodes.iter().any(|n| &n.name == name) {
                    synthetic.push(Change {
                        revision: list.revision,
                        event: ChangeKind::Forgotten,
                        node: old.clone(),
                        from: None,
                        to: None,
                    });
                }
            }
            view.revision = list.revision;
            view.nodes = list
                .nodes
                .into_iter()
                .map(|n| (n.name.clone(), n))
                .collect();
        }
        for c in synthetic {
            let _ = self.changes.send(c);
        }
        self.bump();
    }

    fn apply_change(&self, change: Change) {
        {
            let mut view = self.write();
            if change.revision <= view.revision {
                return; // already reflected in the snapshot
            }
            view.revision = change.revision;
            if change.event == ChangeKind::Forgotten {
                view.nodes.remove(&change.node.name);
            } else {
                view.nodes
                    .insert(change.node.name.clone(), change.node.clone());
            }
        }
        let _ = self.changes.send(change);
        self.bump();
    }

    fn set_error(&self, e: String) {
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = Some(e);
        }
    }
}

/// A live local view of the hub's nodes, kept current from `GET /api/v1/nodes/watch`.
///
/// Dropping it stops the background task.
#[derive(Debug)]
pub struct WatchClient {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for WatchClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WatchClient {
    /// Starts following `api_url` (e.g. `http://127.0.0.1:9118`) and returns once the first
    /// snapshot has arrived (or fails after 10 s with the last error). Afterwards the client
    /// reconnects by itself whenever the stream breaks.
    pub async fn connect(api_url: &str) -> Result<WatchClient, ClientError> {
        WatchClient::connect_with_token(api_url, None).await
    }

    /// [`WatchClient::connect`] sending `token` with every request (a daemon with `auth:`
    /// wants the read role). A refusal of the token (401, 403) is returned at once as
    /// [`ClientError::Status`].
    pub async fn connect_with_token(
        api_url: &str,
        token: Option<&BearerToken>,
    ) -> Result<WatchClient, ClientError> {
        let api = Api::parse(api_url, token)?;
        let (changes, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            view: RwLock::new(View::default()),
            round_robin: AtomicUsize::new(0),
            changes,
            version: watch::channel(0).0,
            connected: watch::channel(false).0,
            last_error: Mutex::new(None),
            refused: watch::channel(None).0,
        });
        let mut version = shared.version.subscribe();
        let mut refused = shared.refused.subscribe();
        let task = tokio::spawn(follow(api.clone(), Arc::clone(&shared)));
        let client = WatchClient { shared, task };
        let first = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                tokio::select! {
                    r = version.changed() => return r.is_ok(),
                    r = refused.changed() => {
                        if r.is_err() || refused.borrow().is_some() {
                            return false;
                        }
                    }
                }
            }
        })
        .await;
        if !matches!(first, Ok(true)) {
            let refusal = client.shared.refused.borrow().clone();
            if let Some(r) = refusal {
                return Err(ClientError::Status {
                    url: r.url,
                    status: r.status,
                    body: r.body,
                    retry_after: None,
                });
            }
            let reason = client
                .shared
                .last_error
                .lock()
                .ok()
                .and_then(|e| e.clone())
                .unwrap_or_else(|| "no snapshot within 10s".to_owned());
            return Err(ClientError::Transport {
                url: mask_url(&api.url("/api/v1/nodes/watch")),
                reason,
            });
        }
        Ok(client)
    }

    /// Every node in the view, by name.
    pub fn nodes(&self) -> Vec<Node> {
        self.shared.read().nodes.values().cloned().collect()
    }

    /// One node.
    pub fn get(&self, name: &str) -> Option<Node> {
        self.shared.read().nodes.get(name).cloned()
    }

    /// The revision of the last change applied.
    pub fn revision(&self) -> u64 {
        self.shared.read().revision
    }

    /// Whether the stream is currently connected.
    pub fn is_connected(&self) -> bool {
        *self.shared.connected.borrow()
    }

    /// Nodes a scheduler may send work to: alive and not reporting themselves degraded or
    /// draining ([`Node::is_healthy`]).
    pub fn healthy(&self) -> Vec<Node> {
        self.shared
            .read()
            .nodes
            .values()
            .filter(|n| n.is_healthy())
            .cloned()
            .collect()
    }

    /// The next healthy node, round-robin; `None` if none is healthy.
    pub fn pick(&self) -> Option<Node> {
        let healthy = self.healthy();
        if healthy.is_empty() {
            return None;
        }
        let i = self.shared.round_robin.fetch_add(1, Ordering::Relaxed);
        let n = healthy.len();
        healthy.into_iter().nth(i % n)
    }

    /// The healthy node with the lowest `load` (e.g. tasks in flight, or a STATUS gauge);
    /// ties go to the first by name.
    pub fn pick_least_loaded(&self, load: impl Fn(&Node) -> f64) -> Option<Node> {
        self.healthy()
            .into_iter()
            .map(|n| (load(&n), n))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, n)| n)
    }

    /// Every change applied from now on (and a synthetic one per node that differs after a
    /// resynchronising snapshot), in order.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.shared.changes.subscribe()
    }

    /// Waits until `cond` holds for the view, or `deadline` passes; returns whether it held.
    pub async fn wait_until(
        &self,
        deadline: Duration,
        cond: impl Fn(&WatchClient) -> bool,
    ) -> bool {
        let mut version = self.shared.version.subscribe();
        let wait = async {
            loop {
                if cond(self) {
                    return;
                }
                if version.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(deadline, wait).await.is_ok() || cond(self)
    }
}

/// The background loop: stream, and reconnect with backoff and jitter when it breaks.
async fn follow(api: Api, shared: Arc<Shared>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match stream_once(&api, &shared).await {
            Ok(()) => backoff = Duration::from_millis(100),
            Err(e) => {
                tracing::debug!(error = %e, "watch stream failed");
                shared.set_error(e);
            }
        }
        shared.connected.send_replace(false);
        let jitter = rand::rng().random_range(0.5..1.5);
        tokio::time::sleep(backoff.mul_f64(jitter)).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

async fn stream_once(api: &Api, shared: &Shared) -> Result<(), String> {
    let mut body = match api
        .client
        .get_stream(&api.url("/api/v1/nodes/watch"), "text/event-stream")
        .await
    {
        Ok(body) => body,
        Err(e) => {
            if let ClientError::Status {
                url,
                status: status @ (401 | 403),
                body,
                ..
            } = &e
            {
                shared.refused.send_replace(Some(Refusal {
                    url: url.clone(),
                    status: *status,
                    body: body.clone(),
                }));
            }
            return Err(e.to_string());
        }
    };
    shared.refused.send_if_modified(|r| r.take().is_some());
    let mut parser = SseParser::new();
    while let Some(data) = body.next_chunk().await {
        let data = data.map_err(|e| e.to_string())?;
        for msg in parser.push(&data)? {
            match msg.event.as_str() {
                "snapshot" => {
                    let list: NodeList = serde_json::from_str(&msg.data)
                        .map_err(|e| format!("bad snapshot: {e}"))?;
                    shared.connected.send_replace(true);
                    shared.apply_snapshot(list);
                }
                _ => match serde_json::from_str::<Change>(&msg.data) {
                    Ok(change) => shared.apply_change(change),
                    Err(e) => tracing::debug!(event = %msg.event, error = %e, "ignoring event"),
                },
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_parser_handles_split_input_comments_and_multiline_data() {
        let mut p = SseParser::new();
        let mut got = p.push(b": keep-alive\n\nevent: join\nid: 3\nda").unwrap();
        assert!(got.is_empty());
        got.extend(p.push(b"ta: {\"a\":1}\r\ndata: x\n\n").unwrap());
        got.extend(p.push(b"data: plain\n\n").unwrap());
        assert_eq!(
            got,
            [
                SseMessage {
                    event: "join".into(),
                    data: "{\"a\":1}\nx".into(),
                    id: Some("3".into())
                },
                SseMessage {
                    event: "message".into(),
                    data: "plain".into(),
                    id: None
                },
            ]
        );
    }

    #[test]
    fn api_urls_are_checked() {
        assert!(Api::parse("http://127.0.0.1:9118", None).is_ok());
        let a = Api::parse("http://[::1]:80/prefix/", None).unwrap();
        assert_eq!(a.url("/x"), "http://[::1]:80/prefix/x");
        assert!(Api::parse("https://h:1", None).is_ok());
        let e = Api::parse("ftp://u:pw@h:1", None).unwrap_err().to_string();
        assert!(e.contains("only http:// and https://"), "{e}");
        assert!(!e.contains("pw"), "the password is masked: {e}");
        assert!(Api::parse("not a url", None).is_err());
    }
}
