//! The TCP connect probe.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::time::Instant;

use crate::net::{connect_any, ms, resolve};
use crate::{Host, ProbeError, ProbeKind, ProbeOptions, ProbeResult};

/// Resolves `host` and connects to `port`; up when a connection is established.
pub(crate) async fn probe(
    host: &Host,
    port: u16,
    label: String,
    opts: &ProbeOptions,
) -> ProbeResult {
    // The result is built once the connect is over: held across the awaits, it would make
    // every run's future (allocated per run) several hundred bytes larger.
    let connected = connect(host, port, opts).await;
    let mut result = ProbeResult::empty(label, ProbeKind::Tcp);
    match connected {
        Ok((addr, took)) => {
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

/// Resolves and connects, then closes: the address and connect time, or the error and the
/// address it concerns.
async fn connect(
    host: &Host,
    port: u16,
    opts: &ProbeOptions,
) -> Result<(SocketAddr, Duration), (ProbeError, Option<IpAddr>)> {
    let ips = resolve(host, opts.family, opts.dns_timeout)
        .await
        .map_err(|e| (e, None))?;
    let deadline = Instant::now() + opts.timeout;
    let (stream, addr, took) = connect_any(&ips, port, deadline, opts.timeout).await?;
    drop(stream);
    Ok((addr, took))
}
