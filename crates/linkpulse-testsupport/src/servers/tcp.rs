//! A TCP listener that accepts and holds connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::AsyncReadExt;

use super::runner::{Running, ServerError};
use crate::netns::Namespace;

/// Accepts every connection and keeps it open (reading and discarding what arrives) until
/// the peer closes it or this handle drops.
#[derive(Debug)]
pub struct TcpHold {
    running: Running,
    accepted: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
}

impl TcpHold {
    /// Listens on `addr` (port 0 for any), inside `netns` if given.
    pub fn start(addr: SocketAddr, netns: Option<&Namespace>) -> Result<Self, ServerError> {
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let (acc, opn) = (Arc::clone(&accepted), Arc::clone(&open));
        let running = Running::start(addr, netns, move |listener| async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                acc.fetch_add(1, Ordering::SeqCst);
                opn.fetch_add(1, Ordering::SeqCst);
                let opn = Arc::clone(&opn);
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(1..) = stream.read(&mut buf).await {}
                    opn.fetch_sub(1, Ordering::SeqCst);
                });
            }
        })?;
        Ok(Self {
            running,
            accepted,
            open,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// How many accepted connections are still open (not yet closed or reset by the peer).
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}
