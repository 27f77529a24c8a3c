//! A small task dispatcher on top of the hub's registry: it sends work only to healthy
//! workers, re-dispatches the tasks of a worker the hub declared dead, loses none, and
//! completes each exactly once (an idempotent completion ledger: the first completion of a
//! task counts, later ones are ignored).
//!
//! Workers run a tiny task server (one TCP connection per task: `task ID\n` →
//! `done ID NAME\n`) next to a `linkpulse agent` that advertises the server's address:
//!
//! ```text
//! cargo run -p linkpulse-hub --example scheduler -- worker 127.0.0.1:7001 w1 &
//! linkpulse agent --hub 127.0.0.1:7070 --name w1 --advertise 127.0.0.1:7001 &
//! cargo run -p linkpulse-hub --example scheduler -- dispatch http://127.0.0.1:9118 100
//! ```

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use linkpulse_hub::{ChangeKind, WatchClient};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One task sent to one worker.
#[derive(Debug, Clone)]
pub struct Dispatch {
    /// Task id.
    pub task: u64,
    /// Worker name.
    pub worker: String,
    /// The worker's hub session when the task was sent.
    pub session: u64,
    /// When it was sent.
    pub at: Instant,
}

/// A worker the dispatcher learned was dead (or left).
#[derive(Debug, Clone)]
pub struct Death {
    /// Worker name.
    pub worker: String,
    /// The session that ended.
    pub session: u64,
    /// When the dispatcher learned it.
    pub at: Instant,
}

/// What a dispatch run did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Task → the worker whose completion counted (exactly one per task).
    pub ledger: BTreeMap<u64, String>,
    /// Completions that arrived for tasks already in the ledger (ignored).
    pub duplicates: u64,
    /// Tasks sent again because their worker died or its connection failed.
    pub redispatched: u64,
    /// Every send, in order.
    pub dispatches: Vec<Dispatch>,
    /// Every death seen, in order.
    pub deaths: Vec<Death>,
}

struct Done {
    task: u64,
    worker: String,
    result: Result<(), String>,
}

/// Sends `task` to the worker at `address` and waits for its completion line.
async fn send_task(address: String, task: u64, worker: String) -> Result<(), String> {
    let mut s = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(&address))
        .await
        .map_err(|_| format!("connect to {address} timed out"))?
        .map_err(|e| format!("connect to {address}: {e}"))?;
    s.write_all(format!("task {task}\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .await
        .map_err(|e| e.to_string())?;
    if line.trim() == format!("done {task} {worker}") {
        Ok(())
    } else {
        Err(format!("unexpected answer {line:?}"))
    }
}

/// Runs tasks `0..tasks` on the healthy workers of `client`'s view, at most `concurrency` at
/// once. `progress` counts completed tasks. Gives up after `deadline`.
pub async fn dispatch(
    client: &WatchClient,
    tasks: u64,
    concurrency: usize,
    progress: Arc<AtomicU64>,
    deadline: Duration,
) -> Outcome {
    let end = Instant::now() + deadline;
    let mut out = Outcome::default();
    let mut changes = client.subscribe();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut pending: VecDeque<u64> = (0..tasks).collect();
    // Task → (worker, session, the sending task).
    let mut in_flight: HashMap<u64, (String, u64, JoinHandle<()>)> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    while (out.ledger.len() as u64) < tasks && Instant::now() < end {
        // Hand out work to healthy workers, least loaded first.
        while in_flight.len() < concurrency {
            let Some(task) = pending.pop_front() else {
                break;
            };
            let load = |name: &str| in_flight.values().filter(|(w, _, _)| w == name).count();
            let Some(worker) = client.pick_least_loaded(|n| load(&n.name) as f64) else {
                pending.push_front(task);
                break;
            };
            let Some(address) = worker.address.clone() else {
                pending.push_front(task);
                break;
            };
            out.dispatches.push(Dispatch {
                task,
                worker: worker.name.clone(),
                session: worker.session,
                at: Instant::now(),
            });
            let tx = done_tx.clone();
            let name = worker.name.clone();
            let handle = tokio::spawn(async move {
                let result = send_task(address, task, name.clone()).await;
                let _ = tx.send(Done {
                    task,
                    worker: name,
                    result,
                });
            });
            in_flight.insert(task, (worker.name, worker.session, handle));
        }
        tokio::select! {
            Some(done) = done_rx.recv() => {
                let mine = in_flight.get(&done.task).is_some_and(|(w, _, _)| *w == done.worker);
                match done.result {
                    Ok(()) => {
                        match out.ledger.entry(done.task) {
                            Entry::Occupied(_) => out.duplicates += 1,
                            Entry::Vacant(slot) => {
                                slot.insert(done.worker);
                                progress.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        if mine {
                            in_flight.remove(&done.task);
                        }
                    }
                    Err(_) if mine && !out.ledger.contains_key(&done.task) => {
                        in_flight.remove(&done.task);
                        pending.push_front(done.task);
                        out.redispatched += 1;
                    }
                    Err(_) => {}
                }
            }
            change = changes.recv() => {
                let Ok(change) = change else { continue };
                if matches!(change.event, ChangeKind::Dead | ChangeKind::Left) {
                    let node = change.node;
                    out.deaths.push(Death {
                        worker: node.name.clone(),
                        session: node.session,
                        at: Instant::now(),
                    });
                    // Everything that worker held goes back to the queue.
                    let lost: Vec<u64> = in_flight
                        .iter()
                        .filter(|(_, (w, s, _))| *w == node.name && *s <= node.session)
                        .map(|(t, _)| *t)
                        .collect();
                    for t in lost {
                        if let Some((_, _, h)) = in_flight.remove(&t) {
                            h.abort();
                        }
                        if !out.ledger.contains_key(&t) {
                            pending.push_front(t);
                            out.redispatched += 1;
                        }
                    }
                }
            }
            _ = tick.tick() => {}
        }
    }
    for (_, (_, _, h)) in in_flight {
        h.abort();
    }
    out
}

/// A worker's task server: answers `task ID` with `done ID NAME` after `delay`. While
/// `frozen` is set it accepts and reads but never answers (a hung worker).
pub async fn serve_worker(
    listener: TcpListener,
    name: String,
    delay: Duration,
    frozen: Arc<AtomicBool>,
) {
    while let Ok((s, _)) = listener.accept().await {
        let name = name.clone();
        let frozen = Arc::clone(&frozen);
        tokio::spawn(async move {
            let (r, mut w) = s.into_split();
            let mut line = String::new();
            if BufReader::new(r).read_line(&mut line).await.is_err() {
                return;
            }
            let Some(id) = line.trim().strip_prefix("task ") else {
                return;
            };
            tokio::time::sleep(delay).await;
            if frozen.load(Ordering::Relaxed) {
                std::future::pending::<()>().await;
            }
            let _ = w.write_all(format!("done {id} {name}\n").as_bytes()).await;
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["worker", listen, name] => {
            let listener = TcpListener::bind(listen).await?;
            println!("worker {name} serving tasks on {}", listener.local_addr()?);
            serve_worker(
                listener,
                (*name).to_owned(),
                Duration::from_millis(20),
                Arc::new(AtomicBool::new(false)),
            )
            .await;
        }
        ["dispatch", api, tasks] => {
            let tasks: u64 = tasks.parse()?;
            let client = WatchClient::connect(api).await?;
            let progress = Arc::new(AtomicU64::new(0));
            let out = dispatch(&client, tasks, 8, progress, Duration::from_secs(600)).await;
            println!(
                "completed {} of {tasks} tasks ({} duplicate completions ignored, {} re-dispatched)",
                out.ledger.len(),
                out.duplicates,
                out.redispatched
            );
            let mut per_worker: BTreeMap<&str, usize> = BTreeMap::new();
            for w in out.ledger.values() {
                *per_worker.entry(w).or_default() += 1;
            }
            for (w, n) in per_worker {
                println!("  {w}: {n}");
            }
        }
        _ => {
            eprintln!("usage: scheduler worker LISTEN NAME | scheduler dispatch HUB_API TASKS");
            std::process::exit(2);
        }
    }
    Ok(())
}
