//! The `grpc:` check kind: its YAML keys, their validation and the validated [`GrpcSpec`].
//! The keys mirror `linkpulse check grpc`:
//!
//! ```yaml
//! grpc:
//!   address: api.example:50051   # HOST:PORT
//!   service: my.pkg.Orders       # empty (default): the server as a whole
//!   tls: false
//!   ca_file: ca.pem              # TLS: extra trusted CAs
//!   insecure: false              # TLS: do not verify the certificate
//! ```

use std::path::{Path, PathBuf};

use linkpulse_probe::{GrpcOptions, Target};
use serde::Deserialize;

use super::collect::Errors;
use super::spanned::S;

/// `grpc:` check module, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGrpc {
    pub(crate) address: S<String>,
    pub(crate) service: Option<S<String>>,
    pub(crate) tls: Option<bool>,
    pub(crate) ca_file: Option<S<String>>,
    pub(crate) insecure: Option<bool>,
}

/// A validated gRPC health check.
#[derive(Debug, Clone, PartialEq)]
pub struct GrpcSpec {
    /// The target (host, port, service, TLS).
    pub target: Target,
    /// Extra CA bundle (PEM), TLS only.
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification, TLS only.
    pub insecure: bool,
}

impl GrpcSpec {
    /// The probe options of this check.
    pub fn options(&self) -> GrpcOptions {
        GrpcOptions {
            ca_file: self.ca_file.clone(),
            insecure: self.insecure,
        }
    }
}

/// Validates a `grpc:` module at `path` (`checks[3].grpc`); `base` resolves `ca_file`.
pub(crate) fn validate(
    e: &mut Errors<'_>,
    g: &RawGrpc,
    path: &str,
    base: &Path,
) -> Option<GrpcSpec> {
    let service = g.service.as_ref().map_or("", |s| s.value.as_str());
    let target =
        match Target::grpc_from_host_port(&g.address.value, service, g.tls.unwrap_or(false)) {
            Ok(t) => Some(t),
            Err(err) => {
                match (&g.service, &err) {
                    (Some(s), linkpulse_probe::TargetError::InvalidService { .. }) => {
                        e.at(s, format!("{path}.service"), err.to_string());
                    }
                    _ => e.at(&g.address, format!("{path}.address"), err.to_string()),
                }
                None
            }
        };
    let mut ok = true;
    let ca_file = match &g.ca_file {
        Some(ca) => {
            let file = super::fields::ca_file(e, ca, &format!("{path}.ca_file"), base);
            ok &= file.is_some();
            file
        }
        None => None,
    };
    match (ok, target) {
        (true, Some(target)) => Some(GrpcSpec {
            target,
            ca_file,
            insecure: g.insecure.unwrap_or(false),
        }),
        _ => None,
    }
}
