//! The thread + runtime + listener plumbing shared by every server.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::netns::Namespace;
use crate::sys;

/// Why a test server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Binding, entering the namespace or starting the runtime failed.
    #[error("cannot start test server on {addr}: {source}")]
    Io {
        /// The requested address.
        addr: SocketAddr,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Generating a certificate failed.
    #[error("cannot generate certificate: {0}")]
    Cert(#[from] rcgen::Error),
    /// rustls refused the generated certificate or key.
    #[error("cannot build TLS config: {0}")]
    Tls(#[from] rustls::Error),
    /// Writing the CA's PEM file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// A server thread: stops (and is joined) on drop.
#[derive(Debug)]
pub(crate) struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// Binds `addr` (inside `netns` if given) on a new thread and runs `serve` there until
    /// dropped.
    pub(crate) fn start<F, Fut>(
        addr: SocketAddr,
        netns: Option<&Namespace>,
        serve: F,
    ) -> Result<Self, ServerError>
    where
        F: FnOnce(TcpListener) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let io = |source| ServerError::Io { addr, source };
        let path = netns.map(Namespace::path);
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("test-server-{addr}"))
            .spawn(move || {
                let setup = || -> std::io::Result<(tokio::runtime::Runtime, TcpListener)> {
                    if let Some(path) = &path {
                        sys::enter_netns(path)?;
                    }
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    let listener = runtime.block_on(TcpListener::bind(addr))?;
                    Ok((runtime, listener))
                };
                match setup() {
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                    }
                    Ok((runtime, listener)) => {
                        let bound = listener.local_addr();
                        if ready_tx.send(bound).is_err() {
                            return;
                        }
                        runtime.block_on(async move {
                            tokio::select! {
                                () = serve(listener) => {}
                                _ = stopped => {}
                            }
                        });
                    }
                }
            })
            .map_err(io)?;
        let bound = ready_rx
            .recv()
            .map_err(|_| io(std::io::Error::other("server thread exited before binding")))?
            .map_err(io)?;
        Ok(Self {
            addr: bound,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
