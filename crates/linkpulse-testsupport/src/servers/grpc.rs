//! A gRPC server with the standard health service (tonic-health), whose serving status the
//! test switches.

use std::net::SocketAddr;

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use super::runner::{Running, ServerError};
use super::tls::Identity;

/// `grpc.health.v1.Health` on loopback, plain or TLS; the whole server (`""`) starts SERVING,
/// other services are unknown until [`GrpcHealthServer::set`] names them.
#[derive(Debug)]
pub struct GrpcHealthServer {
    running: Running,
    reporter: HealthReporter,
}

impl GrpcHealthServer {
    /// Listens on `addr` (port 0 for any) over plain HTTP/2.
    pub fn start(addr: SocketAddr) -> Result<Self, ServerError> {
        Self::start_inner(addr, None)
    }

    /// Listens on `addr` over TLS, presenting `identity`.
    pub fn start_tls(addr: SocketAddr, identity: &Identity) -> Result<Self, ServerError> {
        Self::start_inner(addr, Some(identity.clone()))
    }

    fn start_inner(addr: SocketAddr, identity: Option<Identity>) -> Result<Self, ServerError> {
        let (reporter, service) = tonic_health::server::health_reporter();
        let running = Running::start(addr, None, move |listener| async move {
            let mut builder = tonic::transport::Server::builder();
            if let Some(id) = identity {
                let tls = tonic::transport::ServerTlsConfig::new().identity(
                    tonic::transport::Identity::from_pem(id.cert_pem, id.key_pem),
                );
                builder = match builder.tls_config(tls) {
                    Ok(b) => b,
                    Err(_) => return,
                };
            }
            let incoming = tonic::transport::server::TcpIncoming::from(listener);
            let _ = builder
                .add_service(service)
                .serve_with_incoming(incoming)
                .await;
        })?;
        Ok(GrpcHealthServer { running, reporter })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    /// Sets the status of `service` (`""` for the whole server): SERVING when `serving`,
    /// NOT_SERVING otherwise. Callable from sync and async code alike.
    pub fn set(&self, service: &str, serving: bool) {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        let reporter = self.reporter.clone();
        let service = service.to_owned();
        std::thread::scope(|s| {
            s.spawn(|| {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().build() {
                    rt.block_on(reporter.set_service_status(service, status));
                }
            });
        });
    }
}
