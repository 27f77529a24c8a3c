//! Many heartbeat sessions in one process, for measuring what a session costs (memory, CPU)
//! without any output formatting in the way. Used by `bench/detection-latency`.
//!
//! ```text
//! many_sessions listen ADDR [INTERVAL_MS [DEAD_MS]]          # prints "LISTENING <addr>"
//! many_sessions connect ADDR COUNT [INTERVAL_MS [DEAD_MS]]   # prints "READY <n>"
//! ```
//!
//! The fixed detector declares a peer dead after DEAD_MS (default 5 × INTERVAL_MS).
//!
//! Both print `UP <n>` / `DEAD <n> <cause>` counters as sessions come and go and run until
//! stdin closes.

use std::net::SocketAddr;
use std::time::Duration;

use linkpulse_net::{Connection, ConnectionConfig, Listener, local_incarnation};
use linkpulse_proto::detector::DetectorConfig;
use linkpulse_proto::{Event, SessionConfig};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

const USAGE: &str = "usage: many_sessions listen ADDR [INTERVAL_MS [DEAD_MS]] | \
                     many_sessions connect ADDR COUNT [INTERVAL_MS [DEAD_MS]]";

fn config(name: String, interval: Duration, dead: Option<Duration>) -> ConnectionConfig {
    let mut session = SessionConfig::new(name, local_incarnation());
    session.interval = interval;
    let dead = dead.unwrap_or(interval * 5);
    session.detector = linkpulse_proto::DetectorPolicy::Exact(DetectorConfig::fixed(dead));
    ConnectionConfig::new(session)
}

fn millis(arg: Option<&String>) -> Result<Option<Duration>, std::num::ParseIntError> {
    arg.map(|s| s.parse().map(Duration::from_millis))
        .transpose()
}

/// Forwards `true` on Up and the cause name on Dead.
fn watch(mut conn: Connection, tx: mpsc::UnboundedSender<Option<String>>) {
    tokio::spawn(async move {
        while let Some(ev) = conn.next_event().await {
            match ev {
                Event::Up { .. } => {
                    let _ = tx.send(None);
                }
                Event::Dead { cause, .. } => {
                    let _ = tx.send(Some(cause.to_string()));
                }
                _ => {}
            }
        }
    });
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().ok_or(USAGE)?.as_str();
    let addr: SocketAddr = args.get(1).ok_or(USAGE)?.parse()?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut expected = None;
    match mode {
        "listen" => {
            let interval = millis(args.get(2))?.unwrap_or(Duration::from_millis(100));
            let dead = millis(args.get(3))?;
            let listener = Listener::bind(addr, config("listener".into(), interval, dead)).await?;
            println!("LISTENING {}", listener.local_addr()?);
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Ok(conn) = listener.accept().await {
                    watch(conn, tx.clone());
                }
            });
        }
        "connect" => {
            let count: usize = args.get(2).ok_or(USAGE)?.parse()?;
            let interval = millis(args.get(3))?.unwrap_or(Duration::from_millis(100));
            let dead = millis(args.get(4))?;
            for i in 0..count {
                let conn =
                    Connection::connect(addr, config(format!("s{i}"), interval, dead)).await?;
                watch(conn, tx.clone());
            }
            expected = Some(count);
        }
        _ => return Err(USAGE.into()),
    }
    let (mut up, mut dead) = (0usize, 0usize);
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    loop {
        tokio::select! {
            Some(ev) = rx.recv() => match ev {
                None => {
                    up += 1;
                    if expected == Some(up) { println!("READY {up}"); } else if expected.is_none() { println!("UP {up}"); }
                }
                Some(cause) => { dead += 1; println!("DEAD {dead} {cause}"); }
            },
            r = stdin.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) { break },
        }
    }
    Ok(())
}
