//! A webhook receiver that records the JSON bodies it is sent, in the order they arrive, and
//! answers `200` — for tests of alert delivery and order. It can be stopped and started again
//! on the same port (a receiver that is down for a while).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A running receiver; stops on drop.
#[derive(Debug)]
pub struct WebhookReceiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<serde_json::Value>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The network namespace it listens in, when not this process's.
    netns: Option<std::path::PathBuf>,
}

impl WebhookReceiver {
    /// Listens on `addr` (`127.0.0.1:0` for a free port).
    pub fn start(addr: SocketAddr) -> std::io::Result<WebhookReceiver> {
        WebhookReceiver::start_recording(addr, Arc::default())
    }

    /// Listens on `addr`, appending to `got` (to carry on the record of a stopped receiver).
    pub fn start_recording(
        addr: SocketAddr,
        got: Arc<Mutex<Vec<serde_json::Value>>>,
    ) -> std::io::Result<WebhookReceiver> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, sink) = (stop.clone(), got.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn
                    && let Some(body) = read_request(conn)
                {
                    sink.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(body);
                }
            }
        });
        Ok(WebhookReceiver {
            addr,
            got,
            stop,
            thread: Some(thread),
            netns: None,
        })
    }

    /// Listens on `addr` (e.g. a [`crate::netns::Host`]'s address, port 0) inside namespace
    /// `ns`; stopping it (drop) wakes its accept loop from inside `ns` too.
    pub fn start_in(
        ns: &crate::netns::Namespace,
        addr: SocketAddr,
    ) -> std::io::Result<WebhookReceiver> {
        let mut receiver = ns
            .run_in(|| WebhookReceiver::start(addr))
            .map_err(std::io::Error::other)??;
        receiver.netns = Some(ns.path());
        Ok(receiver)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The bodies received so far, oldest first (shared: it keeps filling).
    pub fn record(&self) -> Arc<Mutex<Vec<serde_json::Value>>> {
        self.got.clone()
    }

    /// The bodies received so far, oldest first.
    pub fn received(&self) -> Vec<serde_json::Value> {
        self.got
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag and closes the listener.
        let wake = || TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).map(drop);
        let woken = match &self.netns {
            None => wake(),
            Some(ns) => std::thread::scope(|scope| {
                scope
                    .spawn(|| crate::sys::enter_netns(ns).and_then(|()| wake()))
                    .join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("panicked")))
            }),
        };
        if woken.is_err() {
            // Its namespace is gone (or unreachable): the thread stays blocked in accept.
            return;
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request (head, then `Content-Length` bytes), answers 200 and returns its JSON body.
fn read_request(mut conn: TcpStream) -> Option<serde_json::Value> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..at]).to_ascii_lowercase();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let body = &buf[at + 4..];
        if body.len() < len {
            continue;
        }
        let _ =
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return serde_json::from_slice(&body[..len]).ok();
    }
}
