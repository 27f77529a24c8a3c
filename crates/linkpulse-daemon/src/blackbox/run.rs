//! Runs one module against one target and fills in blackbox_exporter's metrics.
//!
//! Like blackbox_exporter, the target's name is resolved first (choosing the address family
//! from `preferred_ip_protocol` and `ip_protocol_fallback`), then the probe runs against that
//! family within what is left of the timeout.

use std::net::IpAddr;
use std::time::Duration;

use linkpulse_probe::{Host, IpFamily, ProbeOptions, ProbeResult, Prober, Target};
use tokio::time::Instant;

use super::config::{HttpModule, IpPreference, Module, ModuleProber, TcpModule};
use super::exposition::Metrics;

/// HELP texts, blackbox_exporter's own words.
mod help {
    pub(super) const SUCCESS: &str = "Displays whether or not the probe was a success";
    pub(super) const DURATION: &str = "Returns how long the probe took to complete in seconds";
    pub(super) const DNS: &str = "Returns the time taken for probe dns lookup in seconds";
    pub(super) const IP_PROTOCOL: &str = "Specifies whether probe ip protocol is IP4 or IP6";
    pub(super) const IP_HASH: &str =
        "Specifies the hash of IP address. It's useful to detect if the IP address changes.";
    pub(super) const REGEX: &str = "Indicates if probe failed due to regex";
    pub(super) const EXPECT_INFO: &str = "Explicit content matched";
    pub(super) const CONTENT_LENGTH: &str = "Length of http content response";
    pub(super) const HTTP_DURATION: &str =
        "Duration of http request by phase, summed over all redirects";
    pub(super) const REDIRECTS: &str = "The number of redirects";
    pub(super) const SSL: &str = "Indicates if SSL was used for the final redirect";
    pub(super) const STATUS: &str = "Response HTTP status code";
    pub(super) const BODY_LENGTH: &str = "Length of uncompressed response body";
    pub(super) const HTTP_VERSION: &str = "Returns the version of HTTP of the probe response";
    pub(super) const EARLIEST_EXPIRY: &str = "Returns last SSL chain expiry in unixtime";
    pub(super) const LAST_CHAIN_EXPIRY: &str = "Returns last SSL chain expiry in timestamp";
    pub(super) const LAST_CHAIN_INFO: &str = "Contains SSL leaf certificate information";
    pub(super) const TLS_VERSION: &str = "Returns the TLS version used or NaN when unknown";
    pub(super) const ICMP_DURATION: &str = "Duration of icmp request by phase";
    pub(super) const HOP_LIMIT: &str = "Replied packet hop limit (TTL for ipv4)";
    pub(super) const LAST_MODIFIED: &str =
        "Returns the Last-Modified HTTP response header in unixtime";
}

/// Parses an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) into unix seconds.
pub fn http_date(text: &str) -> Option<f64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc2822).ok()?;
    Some(t.unix_timestamp() as f64)
}

/// What one probe produced: its metrics and a log for `debug=true`.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The metrics, `probe_success` and `probe_duration_seconds` included.
    pub metrics: Metrics,
    /// What happened, one line per step.
    pub log: Vec<String>,
}

/// Probes `target` with `module` within `timeout`. Never fails: a target that is down gives
/// `probe_success 0`. `module` must be an http, tcp or icmp module; any other gives 0 too.
pub async fn probe(prober: &Prober, module: &Module, target: &str, timeout: Duration) -> Outcome {
    let start = Instant::now();
    let mut out = Outcome::default();
    out.log.push(format!(
        "msg=\"Beginning probe\" module={} target={target:?} timeout_seconds={}",
        module.name,
        timeout.as_secs_f64()
    ));
    let deadline = start + timeout;
    let run = async {
        match &module.prober {
            ModuleProber::Http(h) => http(prober, h, target, deadline, &mut out).await,
            ModuleProber::Tcp(t) => tcp(prober, t, target, deadline, &mut out).await,
            ModuleProber::Icmp(i) => icmp(prober, i, target, deadline, &mut out).await,
            ModuleProber::Dns(d) => super::dns::probe(prober, d, target, deadline, &mut out).await,
            ModuleProber::Grpc(g) => {
                super::grpc::probe(prober, g, target, deadline, &mut out).await
            }
            ModuleProber::Unsupported { reason, .. } => {
                out.log
                    .push(format!("msg=\"Unsupported module\" reason={reason:?}"));
                false
            }
        }
    };
    // A backstop only: each step has the same deadline and reports its own timeout first.
    let backstop = deadline + Duration::from_millis(100);
    let success = match tokio::time::timeout_at(backstop, run).await {
        Ok(success) => success,
        Err(_) => {
            out.log.push(format!(
                "msg=\"Probe timed out\" timeout_seconds={}",
                timeout.as_secs_f64()
            ));
            false
        }
    };
    let took = start.elapsed().as_secs_f64();
    out.metrics
        .gauge("probe_success", help::SUCCESS, bool_value(success));
    out.metrics.gauge(
        "probe_duration_seconds",
        help::DURATION,
        crate::metrics::clean_seconds(took),
    );
    out.log.push(format!(
        "msg=\"Probe {}\" duration_seconds={took}",
        if success { "succeeded" } else { "failed" }
    ));
    out
}

fn bool_value(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// blackbox_exporter's `probe_ip_addr_hash`: FNV-1a (32 bit) of the address bytes.
pub fn ip_hash(ip: IpAddr) -> f64 {
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

async fn tcp(
    prober: &Prober,
    module: &TcpModule,
    target: &str,
    deadline: Instant,
    out: &mut Outcome,
) -> bool {
    out.metrics
        .gauge("probe_failed_due_to_regex", help::REGEX, 0.0);
    let (host, port) = match Target::tcp_from_host_port(target) {
        Ok(Target::Tcp { host, port }) => (host, port),
        Ok(_) => return false,
        Err(e) => {
            out.log.push(format!(
                "level=error msg=\"Error splitting target address and port\" err=\"{e}\""
            ));
            return false;
        }
    };
    let Some((ip, _)) = choose_address(&host, module.ip, deadline, out).await else {
        return false;
    };
    let mut tcp = module.options.clone();
    // The certificate is checked against the target's name, as blackbox_exporter does.
    if tcp.tls_config.server_name.is_none()
        && let Host::Name(name) = &host
    {
        tcp.tls_config.server_name = Some(name.clone());
    }
    let opts = ProbeOptions {
        timeout: remaining(deadline),
        dns_timeout: remaining(deadline),
        family: family_of(ip),
        tcp,
        ..ProbeOptions::default()
    };
    let t = Target::Tcp {
        host: Host::Ip(ip),
        port,
    };
    let result = prober.probe(&t, &opts).await;
    log_result(out, &result);
    if result.tcp.as_ref().is_some_and(|d| d.failed_due_to_regex) {
        out.metrics
            .gauge("probe_failed_due_to_regex", help::REGEX, 1.0);
    }
    if let Some(tls) = &result.tls {
        tls_metrics(&mut out.metrics, tls);
    }
    if let Some(detail) = result.tcp.as_ref().filter(|d| !d.labels.is_empty()) {
        // One series with every step's labels (a name given twice keeps its last value).
        let mut labels: Vec<(String, String)> = Vec::new();
        for (name, value) in &detail.labels {
            labels.retain(|(n, _)| n != name);
            labels.push((name.clone(), value.clone()));
        }
        labels.sort();
        out.metrics
            .labelled_dynamic("probe_expect_info", help::EXPECT_INFO, labels, 1.0);
    }
    result.up
}

/// The certificate and TLS version gauges of a TLS connection (http and tcp probers).
fn tls_metrics(m: &mut Metrics, tls: &linkpulse_probe::TlsDetail) {
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

async fn icmp(
    prober: &Prober,
    module: &super::config::IcmpModule,
    target: &str,
    deadline: Instant,
    out: &mut Outcome,
) -> bool {
    let phase = |out: &mut Outcome, phase: &str, v: f64| {
        out.metrics.labelled(
            "probe_icmp_duration_seconds",
            help::ICMP_DURATION,
            vec![("phase", phase.to_owned())],
            crate::metrics::clean_seconds(v),
        );
    };
    for p in ["resolve", "setup", "rtt"] {
        phase(out, p, 0.0);
    }
    let host = match Target::icmp_from_host(target) {
        Ok(Target::Icmp { host }) => host,
        Ok(_) => return false,
        Err(e) => {
            out.log.push(format!(
                "level=error msg=\"Invalid ICMP target\" err=\"{e}\""
            ));
            return false;
        }
    };
    let Some((ip, dns)) = choose_address(&host, module.ip, deadline, out).await else {
        return false;
    };
    phase(out, "resolve", dns.as_secs_f64());
    let mut opts = ProbeOptions {
        timeout: remaining(deadline),
        dns_timeout: remaining(deadline),
        family: family_of(ip),
        ..ProbeOptions::default()
    };
    // blackbox_exporter sends one echo request per probe.
    opts.icmp.count = 1;
    opts.icmp.tuning = module.tuning;
    let started = Instant::now();
    let result = prober
        .probe(&Target::Icmp { host: Host::Ip(ip) }, &opts)
        .await;
    let took = started.elapsed().as_secs_f64();
    log_result(out, &result);
    let rtt = result
        .icmp
        .as_ref()
        .and_then(|d| d.rtt_avg_ms)
        .map(|ms| ms / 1000.0);
    if let Some(rtt) = rtt {
        phase(out, "rtt", rtt);
        phase(out, "setup", (took - rtt).max(0.0));
    } else {
        phase(out, "setup", took);
    }
    if let Some(hops) = result.icmp.as_ref().and_then(|d| d.reply_hop_limit) {
        out.metrics.gauge(
            "probe_icmp_reply_hop_limit",
            help::HOP_LIMIT,
            f64::from(hops),
        );
    }
    result.up
}

async fn http(
    prober: &Prober,
    module: &HttpModule,
    target: &str,
    deadline: Instant,
    out: &mut Outcome,
) -> bool {
    let m = &mut out.metrics;
    m.gauge("probe_failed_due_to_regex", help::REGEX, 0.0);
    m.gauge("probe_http_content_length", help::CONTENT_LENGTH, 0.0);
    m.gauge(
        "probe_http_uncompressed_body_length",
        help::BODY_LENGTH,
        0.0,
    );
    m.gauge("probe_http_redirects", help::REDIRECTS, 0.0);
    m.gauge("probe_http_ssl", help::SSL, 0.0);
    m.gauge("probe_http_status_code", help::STATUS, 0.0);
    m.gauge("probe_http_version", help::HTTP_VERSION, 0.0);
    let phase = |m: &mut Metrics, phase: &str, v: f64| {
        m.labelled(
            "probe_http_duration_seconds",
            help::HTTP_DURATION,
            vec![("phase", phase.to_owned())],
            crate::metrics::clean_seconds(v),
        );
    };
    for p in ["resolve", "connect", "tls", "processing", "transfer"] {
        phase(m, p, 0.0);
    }

    // blackbox_exporter adds http:// to a target without a scheme.
    let lower = target.to_ascii_lowercase();
    let url = if lower.starts_with("http://") || lower.starts_with("https://") {
        target.to_owned()
    } else {
        format!("http://{target}")
    };
    let t = match Target::http_from_url(&url) {
        Ok(t) => t,
        Err(e) => {
            out.log.push(format!(
                "level=error msg=\"Could not parse target URL\" err=\"{e}\""
            ));
            return false;
        }
    };
    let Some(host) = t.host() else {
        return false;
    };
    let Some((ip, dns)) = choose_address(&host, module.ip, deadline, out).await else {
        return false;
    };
    let opts = ProbeOptions {
        timeout: remaining(deadline),
        dns_timeout: remaining(deadline),
        family: family_of(ip),
        http: module.options.clone(),
        ..ProbeOptions::default()
    };
    let body_rules =
        !module.fail_if_body_matches.is_empty() || !module.fail_if_body_not_matches.is_empty();
    let header_rules =
        !module.fail_if_header_matches.is_empty() || !module.fail_if_header_not_matches.is_empty();
    let (result, answer) = prober
        .probe_keeping_body(&t, &opts, body_rules || header_rules)
        .await;
    log_result(out, &result);
    let mut success = result.up;

    let m = &mut out.metrics;
    if let Some(ip) = result.resolved {
        m.gauge("probe_ip_addr_hash", help::IP_HASH, ip_hash(ip));
    }
    let detail = result.http.clone().unwrap_or_default();
    // blackbox_exporter sums the phases over every request of a redirect chain.
    let mut phases = detail.redirect_phases.clone().unwrap_or_default();
    phases.add(&detail.phases);
    let p = &phases;
    let secs = |ms: Option<f64>| ms.unwrap_or(0.0) / 1000.0;
    phase(m, "resolve", dns.as_secs_f64() + secs(p.dns_ms));
    phase(m, "connect", secs(p.connect_ms));
    phase(m, "tls", secs(p.tls_ms));
    phase(m, "processing", secs(p.first_byte_ms));
    if detail.status.is_some() {
        let transfer = secs(p.total_ms)
            - secs(p.dns_ms)
            - secs(p.connect_ms)
            - secs(p.tls_ms)
            - secs(p.first_byte_ms);
        phase(m, "transfer", transfer.max(0.0));
    }
    if let Some(status) = detail.status {
        m.gauge("probe_http_status_code", help::STATUS, f64::from(status));
    }
    if detail.status.is_some() {
        // The header, -1 without one (a chunked body), as Go's `Response.ContentLength`.
        let declared = detail.content_length.map_or(-1.0, |n| n as f64);
        m.gauge("probe_http_content_length", help::CONTENT_LENGTH, declared);
    }
    let read = detail.body_bytes.unwrap_or(0) as f64;
    m.gauge(
        "probe_http_uncompressed_body_length",
        help::BODY_LENGTH,
        read,
    );
    if let Some(stamp) = detail.last_modified.as_deref().and_then(http_date) {
        m.gauge(
            "probe_http_last_modified_timestamp_seconds",
            help::LAST_MODIFIED,
            stamp,
        );
    }
    m.gauge(
        "probe_http_redirects",
        help::REDIRECTS,
        f64::from(detail.redirects),
    );
    let version = detail.version.as_deref().map(|v| match v {
        "HTTP/2" => "HTTP/2.0",
        other => other,
    });
    if let Some(v) = version
        && let Some(n) = v.strip_prefix("HTTP/").and_then(|n| n.parse::<f64>().ok())
    {
        m.gauge("probe_http_version", help::HTTP_VERSION, n);
    }

    if let Some(tls) = &result.tls {
        m.gauge("probe_http_ssl", help::SSL, 1.0);
        tls_metrics(m, tls);
        if success && module.fail_if_ssl {
            out.log
                .push("level=error msg=\"Final request was over SSL\"".to_owned());
            success = false;
        }
    } else if success && module.fail_if_not_ssl {
        out.log
            .push("level=error msg=\"Final request was not over SSL\"".to_owned());
        success = false;
    }

    if success
        && !module.valid_http_versions.is_empty()
        && !version.is_some_and(|v| module.valid_http_versions.iter().any(|ok| ok == v))
    {
        out.log.push(format!(
            "level=error msg=\"Invalid HTTP version number\" version={:?}",
            version.unwrap_or("")
        ));
        success = false;
    }

    if success && body_rules {
        let text = String::from_utf8_lossy(answer.as_ref().map_or(&[][..], |a| &a.body));
        let failed_match = module
            .fail_if_body_matches
            .iter()
            .find(|re| re.is_match(&text));
        let failed_miss = module
            .fail_if_body_not_matches
            .iter()
            .find(|re| !re.is_match(&text));
        if let Some(re) = failed_match {
            out.log.push(format!(
                "level=error msg=\"Body matched regular expression\" regexp={:?}",
                re.as_str()
            ));
        }
        if let Some(re) = failed_miss {
            out.log.push(format!(
                "level=error msg=\"Body did not match regular expression\" regexp={:?}",
                re.as_str()
            ));
        }
        if failed_match.is_some() || failed_miss.is_some() {
            out.metrics
                .gauge("probe_failed_due_to_regex", help::REGEX, 1.0);
            success = false;
        }
    }
    if success
        && header_rules
        && let Some(why) =
            super::http_keys::header_failure(module, &answer.map(|a| a.headers).unwrap_or_default())
    {
        out.log.push(format!("level=error {why}"));
        out.metrics
            .gauge("probe_failed_due_to_regex", help::REGEX, 1.0);
        success = false;
    }
    success
}
