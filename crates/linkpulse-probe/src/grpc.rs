//! The gRPC health probe: `grpc.health.v1.Health/Check` over plain HTTP/2 or TLS, with an
//! optional service name. `SERVING` is up; `NOT_SERVING`, `UNKNOWN` and `SERVICE_UNKNOWN`
//! (and the `NOT_FOUND` status servers answer for a service they do not know) are down with
//! their name.
//!
//! The connection is made here (resolve, connect, TLS from [`crate::tls::TlsConfigs`], an
//! HTTP/2 handshake with hyper) and tonic-health's generated client makes the call over it:
//! no tonic channel (its buffer task, balancer and reconnects serve long-lived clients, not
//! one call per probe).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::net::{connect_any, human, ms, resolve};
use crate::tls::{Alpn, TlsConfigs};
use crate::{ErrorKind, Host, ProbeError, ProbeKind, ProbeOptions, ProbeResult};

/// gRPC probe options (host, port, service and TLS are part of the target).
#[derive(Debug, Clone, Default)]
pub struct GrpcOptions {
    /// Extra PEM file of trusted CA certificates (TLS targets).
    pub ca_file: Option<PathBuf>,
    /// Do not verify the server certificate (TLS targets).
    pub insecure: bool,
}

/// gRPC health details of a probe.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GrpcDetail {
    /// The service asked about (empty: the server as a whole).
    pub service: String,
    /// The serving status answered (`SERVING`, `NOT_SERVING`, `UNKNOWN`, `SERVICE_UNKNOWN`).
    pub status: Option<String>,
    /// The gRPC status code of the call (0 = OK), once the call was answered.
    pub grpc_code: Option<i32>,
    /// TCP connect time, in milliseconds.
    pub connect_ms: Option<f64>,
    /// TLS handshake time, in milliseconds (TLS targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ms: Option<f64>,
    /// From the start of the HTTP/2 connection to the answer of the call, in milliseconds.
    pub check_ms: Option<f64>,
}

/// What to ask: where, which service, TLS or not.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// Host of the server.
    pub(crate) host: &'a Host,
    /// Its port.
    pub(crate) port: u16,
    /// The service name (empty for the whole server).
    pub(crate) service: &'a str,
    /// Speak TLS.
    pub(crate) tls: bool,
}

/// The name of a serving status as the health protocol spells it.
pub fn status_name(status: i32) -> &'static str {
    match ServingStatus::try_from(status) {
        Ok(ServingStatus::Serving) => "SERVING",
        Ok(ServingStatus::NotServing) => "NOT_SERVING",
        Ok(ServingStatus::ServiceUnknown) => "SERVICE_UNKNOWN",
        Ok(ServingStatus::Unknown) | Err(_) => "UNKNOWN",
    }
}

/// Asks the server once and judges the answer.
pub(crate) async fn probe(
    tls: &'static TlsConfigs,
    call: Call<'_>,
    label: String,
    opts: &ProbeOptions,
) -> ProbeResult {
    let mut result = ProbeResult::empty(label, ProbeKind::Grpc);
    let mut detail = GrpcDetail {
        service: call.service.to_owned(),
        ..GrpcDetail::default()
    };
    let start = Instant::now();
    let outcome = ask(tls, call, opts, &mut detail, &mut result).await;
    result.latency_ms = Some(ms(start.elapsed()));
    result.grpc = Some(Box::new(detail));
    match outcome {
        Ok(()) => {
            result.up = true;
            result
        }
        Err(e) => result.fail(e.kind, e.message),
    }
}

/// Everything a stream to the server can be: plain TCP or TLS over it.
trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// One HTTP/2 connection as the service tonic's generated client calls.
struct H2(SendRequest<tonic::body::Body>);

type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Incoming>, hyper::Error>> + Send>>;

impl tower_service::Service<http::Request<tonic::body::Body>> for H2 {
    type Response = http::Response<Incoming>;
    type Error = hyper::Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.0.send_request(request))
    }
}

async fn ask(
    tls: &'static TlsConfigs,
    call: Call<'_>,
    opts: &ProbeOptions,
    detail: &mut GrpcDetail,
    result: &mut ProbeResult,
) -> Result<(), ProbeError> {
    let ips = resolve(call.host, opts.family, opts.dns_timeout).await?;
    let deadline = Instant::now() + opts.timeout;
    let (stream, addr, took) = connect_any(&ips, call.port, deadline, opts.timeout)
        .await
        .map_err(|(e, ip)| {
            result.resolved = ip;
            e
        })?;
    result.resolved = Some(addr.ip());
    detail.connect_ms = Some(ms(took));
    let timed_out = || {
        ProbeError::new(
            ErrorKind::Timeout,
            format!(
                "no gRPC health answer from {addr} within {}",
                human(opts.timeout)
            ),
        )
    };
    let io: Box<dyn Io> = if call.tls {
        let config = tls
            .get(
                opts.grpc.ca_file.as_deref(),
                opts.grpc.insecure,
                Alpn::H2AndHttp11,
            )
            .map_err(|e| ProbeError::new(ErrorKind::Tls, e.to_string()))?;
        let name = match call.host {
            Host::Ip(ip) => rustls_pki_types::ServerName::IpAddress((*ip).into()),
            Host::Name(n) => rustls_pki_types::ServerName::try_from(n.clone())
                .map_err(|e| ProbeError::new(ErrorKind::Tls, format!("{n}: {e}")))?,
        };
        let tls_start = Instant::now();
        let connector = tokio_rustls::TlsConnector::from(config);
        let stream = match tokio::time::timeout_at(deadline, connector.connect(name, stream)).await
        {
            Err(_) => return Err(timed_out()),
            Ok(Err(e)) => {
                return Err(crate::tls::handshake_error(
                    &e,
                    &format!("{} ({addr})", call.host),
                ));
            }
            Ok(Ok(s)) => s,
        };
        detail.tls_ms = Some(ms(tls_start.elapsed()));
        result.tls = Some(Box::new(crate::tls::detail(stream.get_ref().1)));
        Box::new(stream)
    } else {
        Box::new(stream)
    };
    let check_start = Instant::now();
    let scheme = if call.tls { "https" } else { "http" };
    let origin = format!("{scheme}://{}:{}", call.host.bracketed(), call.port);
    let origin: http::Uri = origin.parse().map_err(|e| {
        ProbeError::new(
            ErrorKind::Protocol,
            format!("invalid authority {origin}: {e}"),
        )
    })?;
    let request = async {
        let (send, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(io))
            .await
            .map_err(|e| {
                ProbeError::new(
                    ErrorKind::Protocol,
                    format!("no HTTP/2 connection with {addr}: {}", error_chain(&e)),
                )
            })?;
        // Drives the connection; it ends when `send` (in the client) is dropped.
        tokio::spawn(connection);
        let mut client = HealthClient::with_origin(H2(send), origin);
        Ok::<_, ProbeError>(
            client
                .check(HealthCheckRequest {
                    service: call.service.to_owned(),
                })
                .await,
        )
    };
    let answer = match tokio::time::timeout_at(deadline, request).await {
        Err(_) => return Err(timed_out()),
        Ok(answer) => answer?,
    };
    detail.check_ms = Some(ms(check_start.elapsed()));
    let service = if call.service.is_empty() {
        "the server".to_owned()
    } else {
        format!("service `{}`", call.service)
    };
    match answer {
        Ok(response) => {
            detail.grpc_code = Some(0);
            let status = response.into_inner().status;
            let name = status_name(status);
            detail.status = Some(name.to_owned());
            if name == "SERVING" {
                Ok(())
            } else {
                Err(ProbeError::new(
                    ErrorKind::Health,
                    format!("{service} at {addr} is {name}"),
                ))
            }
        }
        Err(status) => {
            detail.grpc_code = Some(status.code() as i32);
            Err(call_error(&status, &service, addr))
        }
    }
}

/// A failed call: the gRPC status, classified.
fn call_error(status: &tonic::Status, service: &str, addr: std::net::SocketAddr) -> ProbeError {
    use tonic::Code;
    match status.code() {
        Code::NotFound => ProbeError::new(
            ErrorKind::Health,
            format!(
                "{service} at {addr} is SERVICE_UNKNOWN (NOT_FOUND: {})",
                status.message()
            ),
        ),
        Code::Unimplemented => ProbeError::new(
            ErrorKind::Protocol,
            format!("{addr} does not implement grpc.health.v1.Health (UNIMPLEMENTED)"),
        ),
        Code::DeadlineExceeded => ProbeError::new(
            ErrorKind::Timeout,
            format!("{addr} answered DEADLINE_EXCEEDED"),
        ),
        Code::Unavailable => ProbeError::new(
            ErrorKind::Reset,
            format!("{addr} is UNAVAILABLE: {}", status.message()),
        ),
        code => ProbeError::new(
            ErrorKind::Protocol,
            format!(
                "{addr} answered the health check with {code:?}: {}",
                status.message()
            ),
        ),
    }
}

/// An error and its sources, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
