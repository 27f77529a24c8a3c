//! The TCP connect probe.

use tokio::time::Instant;

use crate::net::{connect_any, ms, resolve};
use crate::{Host, ProbeKind, ProbeOptions, ProbeResult};

/// Resolves `host` and connects to `port`; up when a connection is established.
pub(crate) async fn probe(
    host: &Host,
    port: u16,
    label: String,
    opts: &ProbeOptions,
) -> ProbeResult {
    let mut result = ProbeResult::empty(label, ProbeKind::Tcp);
    let ips = match resolve(host, opts.family, opts.dns_timeout).await {
        Ok(ips) => ips,
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    let deadline = Instant::now() + opts.timeout;
    match connect_any(&ips, port, deadline, opts.timeout).await {
        Ok((stream, addr, took)) => {
            drop(stream);
            result.up = true;
            result.resolved = Some(addr.ip());
            result.latency_ms = Some(ms(took));
        }
        Err((e, ip)) => {
            result.resolved = ip;
            result.error = Some(e);
        }
    }
    result
}
