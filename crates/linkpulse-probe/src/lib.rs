//! Active probes — TCP connect, HTTP(S) request, ICMP echo, DNS query, gRPC health check —
//! that say *why* a target is down.
//!
//! A [`Target`] and [`ProbeOptions`] go in, a [`ProbeResult`] comes out. A target that is down
//! is data (`up: false` plus a classified [`ProbeError`]), never an `Err`: refused, timed out,
//! unreachable, reset, TLS, HTTP status, body mismatch and protocol errors are told apart.
//! [`diagnose`] combines probes of several layers into a verdict on where the fault is.
//!
//! The crate also holds linkpulse's one HTTP(S) client, [`client::HttpClient`] (alert delivery,
//! the hub client, the CLI), and the one builder and cache of rustls client configurations,
//! [`tls::TlsConfigs`], which the HTTPS probe shares.
//!
//! ```no_run
//! # async fn demo() {
//! use linkpulse_probe::{ProbeOptions, Prober, Target};
//!
//! let prober = Prober::new();
//! let target: Target = "tcp://127.0.0.1:5432".parse().expect("valid target");
//! let result = prober.probe(&target, &ProbeOptions::default()).await;
//! if let Some(error) = &result.error {
//!     println!("{} is down: {} ({})", result.target, error.message, error.kind);
//! }
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod client;
pub mod conditions;
mod conversation;
mod data;
pub mod defaults;
pub mod diagnose;
pub mod dialogue;
mod dns;
mod grpc;
mod http;
pub mod icmp;
mod net;
mod options;
mod ping;
mod prober;
pub mod redact;
mod result;
mod status;
mod sys;
mod target;
mod target_url;
mod tcp;
pub mod tls;

pub use data::{DataKind, DataTarget};
pub use dns::{DnsDetail, DnsOptions, DnsType, Rcode, RrRules, UnknownDnsType, UnknownRcode};
pub use grpc::{GrpcDetail, GrpcOptions, status_name as grpc_status_name};
pub use http::Compression;
pub use options::{
    DataOptions, HttpOptions, IcmpOptions, IpFamily, MAX_REDIRECTS, ProbeOptions, TcpOptions,
    TlsOptions,
};
pub use prober::{FinalResponse, Prober};
pub use result::{
    ErrorKind, HttpDetail, HttpPhases, IcmpDetail, LocalReason, ProbeError, ProbeKind, ProbeResult,
    TcpDetail, TlsDetail, UnreachableDetail,
};
pub use status::{StatusSet, StatusSetError};
pub use target::{Host, Target, TargetError};
pub use tls::{CaFileError, load_ca_file};
