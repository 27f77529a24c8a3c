//! Shared fixtures of the hub tests: an in-process hub with its HTTP API on its own thread
//! (optionally inside a network namespace), agents and watchers as real `linkpulse` processes.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use linkpulse_hub::{Hub, HubConfig, Node, NodeState, routes};
use linkpulse_testsupport::bin::LinkpulseProcess;
use linkpulse_testsupport::eventually;
use linkpulse_testsupport::netns::{Namespace, Topology};

pub const BIN: &str = env!("CARGO_BIN_EXE_linkpulse");
pub const SECRET: &str = "correct-horse-battery";

/// A hub and its API, served by a thread with its own runtime; stopped on drop.
pub struct TestHub {
    pub hub: Hub,
    pub agent_addr: SocketAddr,
    pub api_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestHub {
    /// Starts a hub on `bind_ip:0` (agents) and `bind_ip:0` (API), inside `netns` if given.
    pub fn start(config: HubConfig, netns: Option<(Arc<Topology>, usize)>) -> TestHub {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            if let Some((topology, host)) = &netns {
                topology.hosts[*host]
                    .enter_this_thread()
                    .expect("enter the hub's namespace");
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let hub = Hub::new(config).expect("hub config");
                let agents = hub.bind().await.expect("bind hub");
                let agent_addr = agents.local_addr().expect("addr");
                let api_ip = agent_addr.ip();
                let api = tokio::net::TcpListener::bind((api_ip, 0))
                    .await
                    .expect("bind api");
                let api_url = format!("http://{}", api.local_addr().expect("addr"));
                let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
                let h = hub.clone();
                let server = tokio::spawn(async move {
                    h.run(agents, async {
                        let _ = done_rx.await;
                    })
                    .await
                });
                let app = routes(hub.clone());
                let api_task = tokio::spawn(async move {
                    let _ = axum::serve(api, app).await;
                });
                ready_tx
                    .send((hub, agent_addr, api_url))
                    .expect("report readiness");
                let _ = stop_rx.await;
                let _ = done_tx.send(());
                let _ = server.await;
                api_task.abort();
            });
        });
        let (hub, agent_addr, api_url) = ready_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("hub started");
        TestHub {
            hub,
            agent_addr,
            api_url,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn node(&self, name: &str) -> Option<Node> {
        self.hub.node(name)
    }

    pub fn state(&self, name: &str) -> Option<NodeState> {
        self.node(name).map(|n| n.state)
    }

    /// Waits until `name` satisfies `pred`; panics with the node's last view otherwise.
    pub fn wait_node(&self, name: &str, budget: Duration, pred: impl Fn(&Node) -> bool) -> Node {
        let ok = eventually(budget, || self.node(name).is_some_and(|n| pred(&n)));
        assert!(
            ok,
            "node {name} never matched within {budget:?}; last: {:#?}",
            self.node(name)
        );
        self.node(name).expect("node exists")
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Writes `content` to a fresh file in `dir` and returns its path.
pub fn write_file(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write file");
    p
}

/// Default hub settings for tests on loopback.
pub fn hub_config(secret_file: Option<PathBuf>) -> HubConfig {
    let mut c = HubConfig::new("127.0.0.1:0".parse().expect("addr"));
    c.secret_file = secret_file;
    c
}

/// Starts `linkpulse agent` with `extra` arguments.
pub fn agent(
    hubs: &str,
    name: &str,
    secret_file: Option<&Path>,
    extra: &[&str],
    netns: Option<&Namespace>,
) -> LinkpulseProcess {
    let mut args: Vec<String> = vec![
        "agent".into(),
        "--hub".into(),
        hubs.into(),
        "--name".into(),
        name.into(),
    ];
    if let Some(f) = secret_file {
        args.push("--secret-file".into());
        args.push(f.display().to_string());
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    LinkpulseProcess::start(BIN, &refs, netns).expect("start agent")
}

/// Waits for the agent's stable `connected to hub ADDR` line.
pub fn wait_connected(p: &mut LinkpulseProcess, hub: &str, budget: Duration) {
    let want = format!("connected to hub {hub}");
    let line = p.wait_for_line(budget, |l| l == want);
    assert!(
        line.is_some(),
        "agent never printed {want:?}; stdout: {:?}; stderr: {}",
        p.lines(),
        p.stderr()
    );
}

/// Sends SIGTERM to a process.
pub fn terminate(p: &LinkpulseProcess) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &p.pid().to_string()])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -TERM failed");
}

/// Elapsed time since `t`, for messages.
pub fn since(t: Instant) -> Duration {
    t.elapsed()
}
