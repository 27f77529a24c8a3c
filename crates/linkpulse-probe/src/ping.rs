//! The ICMP echo probe: resolves the host and maps a [`PingReport`] onto a [`ProbeResult`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::icmp::{IcmpError, PingOptions, PingReport, Pinger, SocketTuning};
use crate::net::{ms, resolve};
use crate::{ErrorKind, Host, IcmpDetail, ProbeKind, ProbeOptions, ProbeResult, UnreachableDetail};

/// The ICMP engine, created on first use; a creation failure is remembered and reported on every
/// ICMP probe as a `permission` error.
/// Probes with a TTL, don't-fragment or payload size of their own get an engine per setting
/// (its sockets carry the setting), created on first use too.
#[derive(Debug, Default)]
pub(crate) struct LazyPinger {
    cell: OnceLock<Result<Arc<Pinger>, String>>,
    tuned: Mutex<HashMap<SocketTuning, Result<Arc<Pinger>, String>>>,
}

impl LazyPinger {
    fn get(&self, tuning: &SocketTuning) -> Result<Arc<Pinger>, String> {
        if *tuning == SocketTuning::default() {
            return self
                .cell
                .get_or_init(|| Pinger::new().map(Arc::new).map_err(|e| e.to_string()))
                .clone();
        }
        let mut tuned = self.tuned.lock().unwrap_or_else(PoisonError::into_inner);
        tuned
            .entry(*tuning)
            .or_insert_with(|| {
                Pinger::with_tuning(tuning)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }
}

/// Pings `host` `opts.icmp.count` times, or fewer when `stop` completes first (what was seen
/// until then is reported).
pub(crate) async fn probe(
    pinger: &LazyPinger,
    host: &Host,
    label: String,
    opts: &ProbeOptions,
    stop: impl Future<Output = ()>,
) -> ProbeResult {
    let mut result = ProbeResult::empty(label, ProbeKind::Icmp);
    let ip = match resolve(host, opts.family, opts.dns_timeout).await {
        Ok(ips) => match ips.first() {
            Some(ip) => *ip,
            None => return result.fail(ErrorKind::Dns, format!("{host} has no address")),
        },
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    result.resolved = Some(ip);
    let pinger = match pinger.get(&opts.icmp.tuning) {
        Ok(p) => p,
        Err(why) => return result.fail(ErrorKind::Permission, why),
    };
    let ping_opts = PingOptions {
        count: opts.icmp.count.max(1),
        interval: opts.icmp.interval,
        timeout: opts.timeout,
    };
    let report = pinger.ping_until(ip, &ping_opts, stop).await;
    apply(result, ip, &report)
}

/// Maps a report: up iff a reply came back; all lost with unreachable replies → `unreachable`
/// naming the code; all lost silently → `timeout`.
pub(crate) fn apply(mut result: ProbeResult, ip: IpAddr, report: &PingReport) -> ProbeResult {
    let detail = IcmpDetail {
        sent: report.sent,
        received: report.received,
        loss: report.loss_percent,
        rtt_min_ms: report.rtt_min.map(ms),
        rtt_avg_ms: report.rtt_avg.map(ms),
        rtt_max_ms: report.rtt_max.map(ms),
        rtt_mdev_ms: report.rtt_mdev.map(ms),
        unreachable: report
            .unreachable
            .iter()
            .map(|u| UnreachableDetail {
                from: u.from,
                code: u.code,
                meaning: u.meaning.clone(),
            })
            .collect(),
        reply_hop_limit: report.reply_hop_limit,
    };
    result.latency_ms = detail.rtt_avg_ms;
    result.icmp = Some(Box::new(detail));
    if report.received > 0 {
        result.up = true;
        return result;
    }
    if let Some(e) = &report.error {
        return result.fail(pinger_error_kind(e), format!("pinging {ip}: {e}"));
    }
    if let Some(u) = report.unreachable.first() {
        let msg = format!(
            "{ip} unreachable: {} (ICMP code {}) from {}",
            u.meaning, u.code, u.from
        );
        return result.fail(ErrorKind::Unreachable, msg);
    }
    let msg = format!(
        "no echo reply from {ip}: {} of {} lost",
        report.sent, report.sent
    );
    result.fail(ErrorKind::Timeout, msg)
}

/// The kind of a pinger failure: a send refused by routing is `unreachable`; anything else
/// is the monitor's own failure, reported as `permission`.
fn pinger_error_kind(e: &IcmpError) -> ErrorKind {
    match e {
        // A request larger than the path MTU with don't-fragment set: the path's answer.
        IcmpError::Send { source, .. } if source.raw_os_error() == Some(libc::EMSGSIZE) => {
            ErrorKind::Unreachable
        }
        IcmpError::Send { source, .. } => match crate::net::classify_io(source) {
            k @ (ErrorKind::Unreachable | ErrorKind::Timeout) => k,
            _ => ErrorKind::Permission,
        },
        _ => ErrorKind::Permission,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::icmp::Unreachable;

    fn report(
        received: u32,
        unreachable: Vec<Unreachable>,
        error: Option<IcmpError>,
    ) -> PingReport {
        let rtt = |us| (received > 0).then(|| Duration::from_micros(us));
        PingReport {
            sent: 3,
            received,
            loss_percent: f64::from(3 - received.min(3)) * 100.0 / 3.0,
            rtt_min: rtt(100),
            rtt_avg: rtt(200),
            rtt_max: rtt(300),
            rtt_mdev: rtt(50),
            unreachable,
            error,
            reply_hop_limit: (received > 0).then_some(61),
        }
    }

    #[test]
    fn maps_reports() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let empty = || ProbeResult::empty("icmp://x", ProbeKind::Icmp);
        let r = apply(empty(), ip, &report(2, vec![], None));
        assert!(r.up && r.error.is_none());
        assert_eq!(r.latency_ms, Some(0.2));
        let icmp = r.icmp.unwrap();
        assert_eq!((icmp.sent, icmp.received), (3, 2));
        assert!((icmp.loss - 33.33).abs() < 0.1);
        assert_eq!(icmp.reply_hop_limit, Some(61));

        let r = apply(empty(), ip, &report(0, vec![], None));
        assert_eq!(r.error.map(|e| e.kind), Some(ErrorKind::Timeout));

        let unreach = Unreachable {
            from: "192.0.2.254".parse().unwrap(),
            code: 1,
            meaning: "host unreachable".into(),
        };
        let r = apply(empty(), ip, &report(0, vec![unreach], None));
        let e = r.error.unwrap();
        assert_eq!(e.kind, ErrorKind::Unreachable);
        assert!(
            e.message
                .contains("host unreachable (ICMP code 1) from 192.0.2.254"),
            "{}",
            e.message
        );

        let no_route = IcmpError::Send {
            addr: ip,
            source: std::io::Error::from_raw_os_error(libc::ENETUNREACH),
        };
        let r = apply(empty(), ip, &report(0, vec![], Some(no_route)));
        assert_eq!(r.error.map(|e| e.kind), Some(ErrorKind::Unreachable));

        let denied = IcmpError::Permission {
            detail: "denied".into(),
        };
        let r = apply(empty(), ip, &report(0, vec![], Some(denied)));
        assert_eq!(r.error.map(|e| e.kind), Some(ErrorKind::Permission));
    }
}
