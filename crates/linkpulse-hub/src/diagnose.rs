//! The layered diagnosis of a dead node: ICMP tells whether the host answers, a TCP connect
//! to the advertised port tells whether the host's kernel answers for that port. Together
//! they say `host_unreachable` (nothing answers: network or host down) or `process_gone`
//! (the host answers, the agent does not). Where ICMP is blocked, a TCP refusal still proves
//! the host is up, so ping alone never condemns a host.

use std::time::Duration;

use linkpulse_probe::{ErrorKind, IcmpOptions, ProbeOptions, ProbeResult, Prober, Target};

use crate::Diagnosis;

/// The host and optional port of an advertised address (`HOST:PORT`, `[V6]:PORT`, `HOST`).
fn split(address: &str) -> (String, Option<u16>) {
    let a = address.trim();
    if let Ok(sa) = a.parse::<std::net::SocketAddr>() {
        return (sa.ip().to_string(), Some(sa.port()));
    }
    if let Ok(ip) = a.parse::<std::net::IpAddr>() {
        return (ip.to_string(), None);
    }
    if let Some((host, port)) = a.rsplit_once(':')
        && !host.contains(':')
        && let Ok(port) = port.parse::<u16>()
    {
        return (host.trim_matches(['[', ']']).to_owned(), Some(port));
    }
    (a.trim_matches(['[', ']']).to_owned(), None)
}

/// The verdict from what each layer saw. `tcp` is `None` when no port is known.
pub fn decide(icmp: Option<&ProbeResult>, tcp: Option<&ProbeResult>) -> Diagnosis {
    let host_answers_tcp = tcp.is_some_and(|t| {
        t.up || t
            .error
            .as_ref()
            .is_some_and(|e| matches!(e.kind, ErrorKind::Refused | ErrorKind::Reset))
    });
    let host_answers_icmp = icmp.is_some_and(|r| r.up);
    if host_answers_tcp || host_answers_icmp {
        Diagnosis::ProcessGone
    } else {
        Diagnosis::HostUnreachable
    }
}

/// Probes `address` with ICMP and (when it has a port) a TCP connect, concurrently, each
/// within `budget`, and returns the verdict.
pub async fn diagnose(prober: &Prober, address: &str, budget: Duration) -> Diagnosis {
    let (host, port) = split(address);
    let budget = budget.clamp(Duration::from_millis(100), Duration::from_secs(5));
    let opts = ProbeOptions {
        timeout: budget,
        dns_timeout: budget,
        icmp: IcmpOptions {
            count: 3,
            interval: (budget / 4).max(Duration::from_millis(20)),
            ..IcmpOptions::default()
        },
        ..ProbeOptions::default()
    };
    let icmp_target = Target::icmp_from_host(&host).ok();
    let tcp_target = port.and_then(|p| {
        let hp = if host.contains(':') {
            format!("[{host}]:{p}")
        } else {
            format!("{host}:{p}")
        };
        Target::tcp_from_host_port(&hp).ok()
    });
    let icmp = async {
        match &icmp_target {
            Some(t) => Some(prober.probe(t, &opts).await),
            None => None,
        }
    };
    let tcp = async {
        match &tcp_target {
            Some(t) => Some(prober.probe(t, &opts).await),
            None => None,
        }
    };
    let (icmp, tcp) = tokio::join!(icmp, tcp);
    tracing::debug!(address, ?icmp, ?tcp, "diagnosis probes");
    decide(icmp.as_ref(), tcp.as_ref())
}

#[cfg(test)]
mod tests {
    use linkpulse_probe::ProbeKind;

    use super::*;

    fn res(kind: ProbeKind, up: bool, err: Option<ErrorKind>) -> ProbeResult {
        let r = ProbeResult::empty("t", kind);
        match err {
            Some(e) => r.fail(e, "x"),
            None => ProbeResult { up, ..r },
        }
    }

    #[test]
    fn layers_combine_into_a_verdict() {
        use Diagnosis::*;
        let icmp_up = res(ProbeKind::Icmp, true, None);
        let icmp_silent = res(ProbeKind::Icmp, false, Some(ErrorKind::Timeout));
        let icmp_denied = res(ProbeKind::Icmp, false, Some(ErrorKind::Permission));
        let refused = res(ProbeKind::Tcp, false, Some(ErrorKind::Refused));
        let tcp_silent = res(ProbeKind::Tcp, false, Some(ErrorKind::Timeout));
        let unreachable = res(ProbeKind::Tcp, false, Some(ErrorKind::Unreachable));
        assert_eq!(decide(Some(&icmp_up), Some(&refused)), ProcessGone);
        assert_eq!(decide(Some(&icmp_up), Some(&tcp_silent)), ProcessGone);
        // ICMP blocked but the host's kernel refuses: the host is up.
        assert_eq!(decide(Some(&icmp_silent), Some(&refused)), ProcessGone);
        assert_eq!(decide(Some(&icmp_denied), Some(&refused)), ProcessGone);
        assert_eq!(
            decide(Some(&icmp_silent), Some(&tcp_silent)),
            HostUnreachable
        );
        assert_eq!(
            decide(Some(&icmp_silent), Some(&unreachable)),
            HostUnreachable
        );
        assert_eq!(decide(Some(&icmp_silent), None), HostUnreachable);
        assert_eq!(decide(None, None), HostUnreachable);
    }

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(split("10.0.0.1:80"), ("10.0.0.1".into(), Some(80)));
        assert_eq!(split("[::1]:80"), ("::1".into(), Some(80)));
        assert_eq!(split("::1"), ("::1".into(), None));
        assert_eq!(split("db.local:5432"), ("db.local".into(), Some(5432)));
        assert_eq!(split("db.local"), ("db.local".into(), None));
    }
}
