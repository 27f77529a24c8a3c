//! Tiny real servers for tests, each on its own thread with its own tokio runtime, optionally
//! inside a network namespace, stopped on drop.
//!
//! - [`TcpHold`]: accepts connections and holds them open, reading and discarding.
//! - [`HttpServer`]: HTTP/1.1 with a chosen [`HttpResponse`] (status, body, headers, delay),
//!   over plain TCP or TLS.
//! - [`TestCa`]: a private CA issuing certificates with a chosen [`Validity`]; its PEM file can
//!   be passed to `linkpulse check http --ca`.
//! - [`SmtpServer`]: an SMTP-like banner, `EHLO` and `STARTTLS` (send/expect dialogues).
//! - [`WebhookReceiver`]: records the JSON bodies POSTed to it, in order (alert delivery).
//! - [`GrpcHealthServer`]: the standard gRPC health service, plain or TLS, its statuses set by
//!   the test.
//! - [`Recorder`]: records whole requests (headers, body, time) and answers from a script
//!   (a provider's API in alert tests: a 429 with `Retry-After`, then success).
//!
//! Bind port 0 and read [`TcpHold::addr`] / [`HttpServer::addr`]; never guess ports.

mod grpc;
mod http;
mod recorder;
mod runner;
mod smtp;
mod tcp;
mod tls;
mod webhook;

pub use grpc::GrpcHealthServer;
pub use http::{HttpResponse, HttpServer};
pub use recorder::{Recorded, Recorder};
pub use runner::ServerError;
pub use smtp::SmtpServer;
pub use tcp::TcpHold;
pub use tls::{Identity, TestCa, Validity};
pub use webhook::WebhookReceiver;
