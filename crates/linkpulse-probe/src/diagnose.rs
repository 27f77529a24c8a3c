//! Layered diagnosis: where along DNS → ICMP → TCP → application a target breaks.
//!
//! [`diagnose`] resolves the target's host, then probes the resolved address with ICMP echo
//! and a TCP connect to the target's port, alongside the original probe, and reduces what it
//! saw to a [`Verdict`] with [`verdict`], a pure function over the layer [`Observations`].
//! A refused connection proves the host is up; ICMP silence alone never condemns a host
//! whose port answers (many networks drop ping).

use std::fmt;
use std::net::IpAddr;
use std::time::Instant;

use serde::Serialize;

use crate::net::{ms, resolve};
use crate::{ErrorKind, Host, ProbeOptions, ProbeResult, Prober, Target};

/// Where the fault is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// The target answers as asked.
    Ok,
    /// The name does not resolve.
    DnsFailure,
    /// Nothing at the address answers: no ping reply (or ICMP unreachable) and the port is
    /// silent or unreachable. The host is down or the network path is cut.
    HostUnreachable,
    /// The host is up (it refuses the connection, or answers ping) but nothing listens.
    ProcessDown,
    /// The host answers ping but the port is silent: a firewall drops the connection.
    PortFiltered,
    /// The port accepts connections but the application's answer is wrong (status, body,
    /// protocol, or it hangs).
    AppError,
    /// The port accepts connections but the TLS handshake fails.
    TlsError,
    /// The layers do not allow a conclusion (e.g. the port is silent and ICMP could not be
    /// used to tell a dead host from a filtered port).
    Inconclusive,
}

impl Verdict {
    /// The snake_case name used in JSON and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::DnsFailure => "dns_failure",
            Verdict::HostUnreachable => "host_unreachable",
            Verdict::ProcessDown => "process_down",
            Verdict::PortFiltered => "port_filtered",
            Verdict::AppError => "app_error",
            Verdict::TlsError => "tls_error",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What one layer showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "error")]
pub enum Layer {
    /// The layer answered.
    Up,
    /// The layer failed with this kind of error.
    Down(ErrorKind),
    /// The layer was not probed (no port for an ICMP target, or an earlier layer failed).
    Skipped,
}

impl Layer {
    /// The layer state of a probe result.
    pub fn of(result: &ProbeResult) -> Layer {
        match (&result.error, result.up) {
            (_, true) => Layer::Up,
            (Some(e), false) => Layer::Down(e.kind),
            (None, false) => Layer::Down(ErrorKind::Timeout),
        }
    }
}

/// The inputs of [`verdict`]: what each layer showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Observations {
    /// Name resolution (`Up` for an IP literal).
    pub dns: Layer,
    /// ICMP echo to the resolved address.
    pub icmp: Layer,
    /// TCP connect to the target's port (`Skipped` for ICMP targets).
    pub tcp: Layer,
    /// The original probe of the target.
    pub app: Layer,
}

/// Reduces the layer observations to a verdict. Pure: every row is unit-tested.
pub fn verdict(o: &Observations) -> Verdict {
    use ErrorKind as K;
    use Layer::{Down, Skipped, Up};
    // A layer the monitor could not even try (no descriptors, ports, memory) tells nothing
    // about the target: never blame the host for the monitor's own exhaustion.
    if [o.dns, o.icmp, o.tcp, o.app].contains(&Down(K::Local)) {
        return Verdict::Inconclusive;
    }
    if let Down(_) = o.dns {
        return Verdict::DnsFailure;
    }
    // The original probe worked: nothing else matters.
    if o.app == Up {
        return Verdict::Ok;
    }
    // The target answered in its own protocol, and wrongly (a DNS response code, a gRPC
    // serving status): the fault is above the transport, whatever TCP says (a DNS server
    // asked over UDP need not listen on TCP at all).
    if let Down(K::Dns | K::Health) = o.app {
        return Verdict::AppError;
    }
    match o.tcp {
        // No port (an ICMP target): ping is the only layer.
        Skipped => match o.icmp {
            Up => Verdict::Ok,
            Down(K::Timeout | K::Unreachable) => Verdict::HostUnreachable,
            _ => Verdict::Inconclusive,
        },
        // The port answers: the fault is above TCP.
        Up => match o.app {
            Down(K::Tls) => Verdict::TlsError,
            Down(_) => Verdict::AppError,
            Up | Skipped => Verdict::Ok,
        },
        // A RST: the host's kernel answered, so the host is up and nothing listens.
        Down(K::Refused | K::Reset) => Verdict::ProcessDown,
        // Silence or an ICMP unreachable on the port.
        Down(K::Timeout | K::Unreachable) => match o.icmp {
            Up => Verdict::PortFiltered,
            Down(K::Timeout | K::Unreachable) => Verdict::HostUnreachable,
            // No ICMP to tell a dead host from a filtered port — unless the network itself
            // said the host is unreachable.
            _ if o.tcp == Down(K::Unreachable) => Verdict::HostUnreachable,
            _ => Verdict::Inconclusive,
        },
        Down(_) => Verdict::Inconclusive,
    }
}

/// The result of [`diagnose`]: the verdict, a one-line summary, and every layer's result.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    /// The target, in its URL form.
    pub target: String,
    /// Where the fault is.
    pub verdict: Verdict,
    /// E.g. "process_down: host answers ping, port 5432 refused".
    pub summary: String,
    /// The layer states the verdict was computed from.
    pub observations: Observations,
    /// Each layer's full result.
    pub layers: Layers,
}

/// Full results of the layers of a diagnosis; a layer not probed is `null`.
#[derive(Debug, Clone, Serialize)]
pub struct Layers {
    /// Name resolution.
    pub dns: DnsReport,
    /// ICMP echo to the resolved address.
    pub icmp: Option<ProbeResult>,
    /// TCP connect to the port.
    pub tcp: Option<ProbeResult>,
    /// The original probe.
    pub target: Option<ProbeResult>,
}

/// What name resolution found.
#[derive(Debug, Clone, Serialize)]
pub struct DnsReport {
    /// The host that was resolved.
    pub host: String,
    /// Whether it resolved.
    pub up: bool,
    /// The addresses found (the first one is probed).
    pub addresses: Vec<IpAddr>,
    /// Time taken, in milliseconds.
    pub latency_ms: Option<f64>,
    /// Why it failed.
    pub error: Option<crate::ProbeError>,
}

/// Diagnoses `target`: resolves its host, then runs ICMP echo, a TCP connect to its port and
/// the original probe concurrently against the first resolved address, and computes the
/// verdict.
pub async fn diagnose(prober: &Prober, target: &Target, opts: &ProbeOptions) -> Diagnosis {
    let label = target.to_string();
    let host = target.host().unwrap_or_else(|| Host::Name(String::new()));
    let start = Instant::now();
    let resolved = resolve(&host, opts.family, opts.dns_timeout).await;
    let mut dns = DnsReport {
        host: host.to_string(),
        up: false,
        addresses: Vec::new(),
        latency_ms: Some(ms(start.elapsed())),
        error: None,
    };
    let ip = match resolved {
        Ok(ips) => {
            dns.up = true;
            dns.addresses = ips;
            dns.addresses.first().copied()
        }
        Err(e) => {
            dns.error = Some(e);
            None
        }
    };
    let Some(ip) = ip else {
        let observations = Observations {
            dns: Layer::Down(ErrorKind::Dns),
            icmp: Layer::Skipped,
            tcp: Layer::Skipped,
            app: Layer::Skipped,
        };
        let why = dns
            .error
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_default();
        return Diagnosis {
            target: label,
            verdict: Verdict::DnsFailure,
            summary: format!("dns_failure: {why}"),
            observations,
            layers: Layers {
                dns,
                icmp: None,
                tcp: None,
                target: None,
            },
        };
    };

    let icmp_target = Target::Icmp { host: Host::Ip(ip) };
    let port = target.port();
    let tcp_target = port.map(|port| Target::Tcp {
        host: Host::Ip(ip),
        port,
    });
    let icmp = prober.probe(&icmp_target, opts);
    // A plain TCP target is its own TCP layer; one with TLS or a dialogue is an application.
    let tcp_is_target = matches!(target, Target::Tcp { .. }) && opts.tcp.is_connect_only();
    let connect_only = ProbeOptions {
        tcp: crate::TcpOptions::default(),
        ..opts.clone()
    };
    let tcp = async {
        match &tcp_target {
            // For a TCP target the original probe is the TCP layer: probe once.
            _ if tcp_is_target => None,
            None => None,
            Some(t) => Some(prober.probe(t, &connect_only).await),
        }
    };
    let app = async {
        match target {
            // For an ICMP target the original probe is the ICMP layer.
            Target::Icmp { .. } => None,
            _ => Some(prober.probe(target, opts).await),
        }
    };
    let (icmp, tcp, app) = tokio::join!(icmp, tcp, app);
    let tcp = if tcp_is_target { app.clone() } else { tcp };
    let app = match target {
        Target::Icmp { .. } => Some(icmp.clone()),
        _ => app,
    };
    let observations = Observations {
        dns: Layer::Up,
        icmp: Layer::of(&icmp),
        tcp: tcp.as_ref().map_or(Layer::Skipped, Layer::of),
        app: app.as_ref().map_or(Layer::Skipped, Layer::of),
    };
    let verdict = verdict(&observations);
    let summary = summarize(verdict, ip, port, &icmp, tcp.as_ref(), app.as_ref());
    Diagnosis {
        target: label,
        verdict,
        summary,
        observations,
        layers: Layers {
            dns,
            icmp: Some(icmp),
            tcp,
            target: app,
        },
    }
}

/// The one-line human summary of a verdict.
fn summarize(
    verdict: Verdict,
    ip: IpAddr,
    port: Option<u16>,
    icmp: &ProbeResult,
    tcp: Option<&ProbeResult>,
    app: Option<&ProbeResult>,
) -> String {
    let why = |r: Option<&ProbeResult>| {
        r.and_then(|r| r.error.as_ref())
            .map(|e| e.message.clone())
            .unwrap_or_default()
    };
    let port = port.map(|p| format!("port {p}")).unwrap_or_default();
    let ping = match Layer::of(icmp) {
        Layer::Up => "host answers ping".to_owned(),
        Layer::Down(ErrorKind::Permission) => "ICMP not available".to_owned(),
        Layer::Down(ErrorKind::Unreachable) => format!("ping: {}", why(Some(icmp))),
        _ => format!("no ping reply from {ip}"),
    };
    let tcp_state = match tcp.map(Layer::of) {
        Some(Layer::Down(ErrorKind::Refused)) => "refused",
        Some(Layer::Down(ErrorKind::Reset)) => "reset",
        Some(Layer::Down(ErrorKind::Timeout)) => "timed out",
        Some(Layer::Down(ErrorKind::Unreachable)) => "unreachable",
        Some(Layer::Up) => "accepts connections",
        _ => "failed",
    };
    let text = match verdict {
        Verdict::Ok => match app.and_then(|a| a.latency_ms) {
            Some(ms) => format!("target answers ({ms:.2} ms); {ping}"),
            None => ping,
        },
        Verdict::DnsFailure => "name does not resolve".to_owned(),
        Verdict::HostUnreachable if port.is_empty() => ping,
        Verdict::HostUnreachable => format!("{ping}, {port} {tcp_state}"),
        Verdict::ProcessDown => {
            format!("{ping}, {port} {tcp_state} (the host is up, nothing listens)")
        }
        Verdict::PortFiltered => format!("{ping}, {port} {tcp_state} (dropped by a firewall?)"),
        // A DNS server asked over UDP answered, though its TCP port may not accept.
        Verdict::AppError if tcp.map(Layer::of) != Some(Layer::Up) => {
            format!("{port} answers, but {}", why(app))
        }
        Verdict::AppError => format!("{port} accepts connections, but {}", why(app)),
        Verdict::TlsError => format!("{port} accepts connections, but {}", why(app)),
        Verdict::Inconclusive if port.is_empty() => format!("{ping}: {}", why(Some(icmp))),
        Verdict::Inconclusive => format!("{ping}, {port} {tcp_state}: {}", why(tcp.or(app))),
    };
    format!("{verdict}: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorKind as K;
    use Layer::{Down, Skipped, Up};

    fn v(dns: Layer, icmp: Layer, tcp: Layer, app: Layer) -> Verdict {
        verdict(&Observations {
            dns,
            icmp,
            tcp,
            app,
        })
    }

    #[test]
    fn every_row() {
        // DNS first.
        assert_eq!(
            v(Down(K::Dns), Skipped, Skipped, Skipped),
            Verdict::DnsFailure
        );
        // The original works: ok, even when ping is blocked.
        assert_eq!(v(Up, Down(K::Timeout), Up, Up), Verdict::Ok);
        assert_eq!(
            v(Up, Down(K::Timeout), Down(K::Local), Down(K::Local)),
            Verdict::Inconclusive,
            "a fault of the monitor's own is never host_unreachable"
        );
        assert_eq!(v(Up, Down(K::Permission), Up, Up), Verdict::Ok);
        // ICMP target.
        assert_eq!(v(Up, Up, Skipped, Skipped), Verdict::Ok);
        assert_eq!(
            v(Up, Down(K::Timeout), Skipped, Skipped),
            Verdict::HostUnreachable
        );
        assert_eq!(
            v(Up, Down(K::Unreachable), Skipped, Skipped),
            Verdict::HostUnreachable
        );
        assert_eq!(
            v(Up, Down(K::Permission), Skipped, Skipped),
            Verdict::Inconclusive
        );
        // Refused proves the host is up, whatever ping says.
        assert_eq!(
            v(Up, Up, Down(K::Refused), Down(K::Refused)),
            Verdict::ProcessDown
        );
        assert_eq!(
            v(Up, Down(K::Timeout), Down(K::Refused), Down(K::Refused)),
            Verdict::ProcessDown
        );
        assert_eq!(
            v(Up, Down(K::Permission), Down(K::Reset), Down(K::Reset)),
            Verdict::ProcessDown
        );
        // Silent port.
        assert_eq!(
            v(Up, Up, Down(K::Timeout), Down(K::Timeout)),
            Verdict::PortFiltered
        );
        assert_eq!(
            v(Up, Up, Down(K::Unreachable), Down(K::Unreachable)),
            Verdict::PortFiltered
        );
        assert_eq!(
            v(Up, Down(K::Timeout), Down(K::Timeout), Down(K::Timeout)),
            Verdict::HostUnreachable
        );
        assert_eq!(
            v(
                Up,
                Down(K::Unreachable),
                Down(K::Unreachable),
                Down(K::Unreachable)
            ),
            Verdict::HostUnreachable
        );
        assert_eq!(
            v(
                Up,
                Down(K::Permission),
                Down(K::Unreachable),
                Down(K::Unreachable)
            ),
            Verdict::HostUnreachable
        );
        assert_eq!(
            v(Up, Down(K::Permission), Down(K::Timeout), Down(K::Timeout)),
            Verdict::Inconclusive
        );
        // The port answers, the application does not.
        assert_eq!(
            v(Up, Down(K::Timeout), Up, Down(K::HttpStatus)),
            Verdict::AppError
        );
        assert_eq!(v(Up, Up, Up, Down(K::BodyMismatch)), Verdict::AppError);
        // A DNS server that answers NXDOMAIN over UDP, or a gRPC server NOT_SERVING, is an
        // application fault even when its TCP port refuses.
        assert_eq!(v(Up, Up, Down(K::Refused), Down(K::Dns)), Verdict::AppError);
        assert_eq!(v(Up, Skipped, Up, Down(K::Health)), Verdict::AppError);
        assert_eq!(v(Up, Up, Up, Down(K::Condition)), Verdict::AppError);
        assert_eq!(v(Up, Up, Up, Down(K::Timeout)), Verdict::AppError);
        assert_eq!(v(Up, Up, Up, Down(K::Protocol)), Verdict::AppError);
        assert_eq!(v(Up, Up, Up, Down(K::Tls)), Verdict::TlsError);
        // Odd connect errors are not guessed at.
        assert_eq!(
            v(Up, Up, Down(K::Permission), Down(K::Permission)),
            Verdict::Inconclusive
        );
    }
}
