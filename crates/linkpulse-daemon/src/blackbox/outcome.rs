//! What one probe produced ([`Outcome`]: metrics and a log) and the steps every prober shares:
//! resolving the target as blackbox_exporter does, the time left, the result logged, the TLS
//! metrics.

use std::net::IpAddr;
use std::time::Duration;

use linkpulse_probe::{Host, IpFamily, ProbeResult};
use tokio::time::Instant;

use super::exposition::Metrics;
use super::module::IpPreference;

/// HELP texts, blackbox_exporter's own words.
pub(super) mod help {
    pub(crate) const SUCCESS: &str = "Displays whether or not the probe was a success";
    pub(crate) const DURATION: &str = "Returns how long the probe took to complete in seconds";
    pub(crate) const DNS: &str = "Returns the time taken for probe dns lookup in seconds";
    pub(crate) const IP_PROTOCOL: &str = "Specifies whether probe ip protocol is IP4 or IP6";
    pub(crate) const IP_HASH: &str =
        "Specifies the hash of IP address. It's useful to detect if the IP address changes.";
    pub(crate) const REGEX: &str = "Indicates if probe failed due to regex";
    pub(crate) const EXPECT_INFO: &str = "Explicit content matched";
    pub(crate) const CONTENT_LENGTH: &str = "Length of http content response";
    pub(crate) const HTTP_DURATION: &str =
        "Duration of http request by phase, summed over all redirects";
    pub(crate) const REDIRECTS: &str = "The number of redirects";
    pub(crate) const SSL: &str = "Indicates if SSL was used for the final redirect";
    pub(crate) const STATUS: &str = "Response HTTP status code";
    pub(crate) const BODY_LENGTH: &str = "Length of uncompressed response body";
    pub(crate) const HTTP_VERSION: &str = "Returns the version of HTTP of the probe response";
    pub(crate) const EARLIEST_EXPIRY: &str = "Returns last SSL chain expiry in unixtime";
    pub(crate) const LAST_CHAIN_EXPIRY: &str = "Returns last SSL chain expiry in timestamp";
    pub(crate) const LAST_CHAIN_INFO: &str = "Contains SSL leaf certificate information";
    pub(crate) const TLS_VERSION: &str = "Returns the TLS version used or NaN when unknown";
    pub(crate) const ICMP_DURATION: &str = "Duration of icmp request by phase";
    pub(crate) const HOP_LIMIT: &str = "Replied packet hop limit (TTL for ipv4)";
    pub(crate) const LAST_MODIFIED: &str =
        "Returns the Last-Modified HTTP response header in unixtime";
}

/// What one probe produced: its metrics and a log for `debug=true`.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The metrics, `probe_success` and `probe_duration_seconds` included.
    pub metrics: Metrics,
    /// What happened, one line per step.
    pub log: Vec<String>,
}

pub(super) fn bool_value(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// blackbox_exporter's `probe_ip_addr_hash`: FNV-1a (32 bit) of the address bytes.
pub(super) fn ip_hash(ip: IpAddr) -> f64 {
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets().to_vec(),
        },
    };
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    f64::from(h)
}

/// Resolves `host` as blackbox_exporter's `chooseProtocol` does and sets
/// `probe_ip_protocol`, `probe_dns_lookup_time_seconds` and `probe_ip_addr_hash`.
pub(super) async fn choose_address(
    host: &Host,
    pref: IpPreference,
    deadline: Instant,
    out: &mut Outcome,
) -> Option<(IpAddr, Duration)> {
    let start = Instant::now();
    out.metrics
        .gauge("probe_ip_protocol", help::IP_PROTOCOL, 0.0);
    let family_name = |f: IpFamily| if f == IpFamily::V4 { "ip4" } else { "ip6" };
    out.log.push(format!(
        "msg=\"Resolving target address\" target={host} ip_protocol={}",
        family_name(pref.preferred)
    ));
    let candidates: Result<Vec<IpAddr>, String> = match host {
        Host::Ip(ip) => Ok(vec![*ip]),
        Host::Name(name) => {
            match tokio::time::timeout_at(deadline, tokio::net::lookup_host((name.as_str(), 0)))
                .await
            {
                Err(_) => Err(format!("resolving {name} timed out")),
                Ok(Err(e)) => Err(format!("cannot resolve {name}: {e}")),
                Ok(Ok(addrs)) => Ok(addrs.map(|a| a.ip()).collect()),
            }
        }
    };
    let took = start.elapsed();
    out.metrics.gauge(
        "probe_dns_lookup_time_seconds",
        help::DNS,
        took.as_secs_f64(),
    );
    let candidates = match candidates {
        Ok(c) => c,
        Err(e) => {
            out.log.push(format!(
                "msg=\"Resolution with IP protocol failed\" err={e:?}"
            ));
            return None;
        }
    };
    let chosen = candidates
        .iter()
        .find(|ip| pref.preferred.allows(**ip))
        .or_else(|| candidates.first().filter(|_| pref.fallback))
        .copied();
    let Some(ip) = chosen else {
        out.log.push(format!(
            "msg=\"Resolution with IP protocol failed\" err=\"{host} has no {} address and ip_protocol_fallback is off\"",
            family_name(pref.preferred)
        ));
        return None;
    };
    out.metrics.gauge(
        "probe_ip_protocol",
        help::IP_PROTOCOL,
        if ip.is_ipv4() { 4.0 } else { 6.0 },
    );
    out.metrics
        .gauge("probe_ip_addr_hash", help::IP_HASH, ip_hash(ip));
    out.log.push(format!(
        "msg=\"Resolved target address\" target={host} ip={ip}"
    ));
    Some((ip, took))
}

pub(super) fn family_of(ip: IpAddr) -> IpFamily {
    if ip.is_ipv4() {
        IpFamily::V4
    } else {
        IpFamily::V6
    }
}

pub(super) fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

pub(super) fn log_result(out: &mut Outcome, result: &ProbeResult) {
    match &result.error {
        Some(e) => out.log.push(format!(
            "level=error msg=\"Probe failed\" kind={} err={:?}",
            e.kind, e.message
        )),
        None => out.log.push(format!(
            "msg=\"Probe answered\" latency_ms={}",
            result.latency_ms.unwrap_or(0.0)
        )),
    }
}

/// The certificate and TLS version gauges of a TLS connection (http and tcp probers).
pub(super) fn tls_metrics(m: &mut Metrics, tls: &linkpulse_probe::TlsDetail) {
    if let Some(expiry) = tls.earliest_expiry {
        // rustls does not expose the verified chain; the presented chain stands in for it.
        m.gauge(
            "probe_ssl_last_chain_expiry_timestamp_seconds",
            help::LAST_CHAIN_EXPIRY,
            expiry as f64,
        );
    }
    tls_info_metrics(m, tls);
}

/// `probe_ssl_earliest_cert_expiry`, `probe_ssl_last_chain_info` and `probe_tls_version_info`
/// of a TLS connection (every prober that speaks TLS; the grpc prober sets only these, as the
/// exporter's does).
pub(super) fn tls_info_metrics(m: &mut Metrics, tls: &linkpulse_probe::TlsDetail) {
    if let Some(expiry) = tls.earliest_expiry {
        m.gauge(
            "probe_ssl_earliest_cert_expiry",
            help::EARLIEST_EXPIRY,
            expiry as f64,
        );
    }
    m.labelled(
        "probe_ssl_last_chain_info",
        help::LAST_CHAIN_INFO,
        vec![
            (
                "fingerprint_sha256",
                tls.leaf_sha256.clone().unwrap_or_default(),
            ),
            ("issuer", tls.issuer.clone().unwrap_or_default()),
            ("subject", tls.subject.clone().unwrap_or_default()),
            ("subjectalternative", tls.leaf_dns_names.join(",")),
        ],
        1.0,
    );
    if let Some(v) = &tls.version {
        let label = v.replace("TLSv", "TLS ");
        m.labelled(
            "probe_tls_version_info",
            help::TLS_VERSION,
            vec![("version", label)],
            1.0,
        );
    }
}
