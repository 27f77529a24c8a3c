//! The TCP probe: a connect, or with TLS and/or a send/expect script, a dialogue.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::time::Instant;

use crate::conversation::{Peer, talk};
use crate::net::{connect_any, ms, resolve};
use crate::tls::TlsConfigs;
use crate::{Host, ProbeError, ProbeKind, ProbeOptions, ProbeResult, TcpDetail};

/// Resolves `host` and connects to `port`; up when a connection is established (and, with
/// TLS or a script, when the handshake and every step succeeded).
pub(crate) async fn probe(
    configs: &'static TlsConfigs,
    host: &Host,
    port: u16,
    label: String,
    opts: &ProbeOptions,
) -> ProbeResult {
    if !opts.tcp.is_connect_only() {
        // Boxed: the dialogue's future is much larger than a connect's.
        return Box::pin(dialogue(configs, host, port, label, opts)).await;
    }
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

/// Connects, then runs the TLS handshake and the script of `opts.tcp`.
async fn dialogue(
    configs: &'static TlsConfigs,
    host: &Host,
    port: u16,
    label: String,
    opts: &ProbeOptions,
) -> ProbeResult {
    let mut result = ProbeResult::empty(label, ProbeKind::Tcp);
    let start = Instant::now();
    let ips = match resolve(host, opts.family, opts.dns_timeout).await {
        Ok(ips) => ips,
        Err(e) => return result.fail(e.kind, e.message),
    };
    let deadline = Instant::now() + opts.timeout;
    let (stream, addr, _) = match connect_any(&ips, port, deadline, opts.timeout).await {
        Ok(c) => c,
        Err((e, ip)) => {
            result.resolved = ip;
            result.error = Some(e);
            return result;
        }
    };
    let _ = stream.set_nodelay(true);
    result.resolved = Some(addr.ip());
    let peer = Peer {
        configs,
        host,
        addr,
        tls: &opts.tcp.tls_config,
        deadline,
        budget: opts.timeout,
    };
    let talk = talk(&peer, stream, opts.tcp.tls, &opts.tcp.script).await;
    result.latency_ms = Some(ms(start.elapsed()));
    result.tls = talk.tls.map(Box::new);
    result.tcp = Some(Box::new(TcpDetail {
        steps: opts.tcp.script.steps.len(),
        steps_done: talk.steps_done,
        failed_due_to_regex: matches!(
            talk.failure,
            Some(crate::dialogue::DialogueFailure::NoMatch { .. })
        ),
        labels: talk.labels,
    }));
    match talk.error {
        Some(e) => result.error = Some(e),
        None => {
            result.up = true;
            result.warning = crate::tls::expiry_warning(opts, result.tls.as_deref(), host);
        }
    }
    result
}
