//! [`Listener`]: accepts heartbeat sessions, each in its own task.

use std::net::SocketAddr;

use bytes::Bytes;
use linkpulse_proto::Role;
use tokio::net::TcpListener;

use crate::peers::random_u64;
use crate::{Connection, ConnectionConfig, NetError, PeerBook};

/// Accepts TCP connections and starts a server [`Connection`] on each.
///
/// Every accepted session runs in its own task with its own socket and state, so a peer that
/// sends garbage, an oversized frame or nothing at all ends only its own session (with cause
/// `protocol`). The listener keeps a [`PeerBook`] so a peer that reconnects is reported as
/// `host_rebooted` or `process_restarted`.
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
    config: ConnectionConfig,
    peers: PeerBook,
}

impl Listener {
    /// Binds `addr` (port 0 picks a free port; see [`local_addr`](Self::local_addr)).
    pub async fn bind(addr: SocketAddr, config: ConnectionConfig) -> Result<Listener, NetError> {
        let inner = TcpListener::bind(addr)
            .await
            .map_err(|source| NetError::Bind { addr, source })?;
        Ok(Listener::from_tokio(inner, config))
    }

    /// Wraps an already bound listener.
    pub fn from_tokio(inner: TcpListener, mut config: ConnectionConfig) -> Listener {
        let peers = config.peer_book.get_or_insert_with(PeerBook::new).clone();
        Listener {
            inner,
            config,
            peers,
        }
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr, NetError> {
        self.inner.local_addr().map_err(|source| NetError::Socket {
            what: "read the bound address",
            source,
        })
    }

    /// The peers seen so far.
    pub fn peers(&self) -> &PeerBook {
        &self.peers
    }

    /// Waits for the next connection and starts its session. An error (e.g. out of file
    /// descriptors) concerns only that attempt: call `accept` again, ideally after a short
    /// pause.
    pub async fn accept(&self) -> Result<Connection, NetError> {
        let (stream, _) = self.inner.accept().await.map_err(NetError::Accept)?;
        let mut config = self.config.clone();
        if config.session.authenticator.is_some() {
            // A fresh challenge per connection, so a recorded proof cannot be replayed.
            let mut nonce = Vec::with_capacity(16);
            nonce.extend_from_slice(&random_u64().to_le_bytes());
            nonce.extend_from_slice(&random_u64().to_le_bytes());
            config.session.challenge = Bytes::from(nonce);
        }
        Connection::from_tcp(stream, Role::Server, config)
    }
}
