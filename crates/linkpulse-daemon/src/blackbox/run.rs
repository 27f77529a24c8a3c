//! Runs one module against one target and fills in blackbox_exporter's metrics.
//!
//! Like blackbox_exporter, the target's name is resolved first (choosing the address family
//! from `preferred_ip_protocol` and `ip_protocol_fallback`), then the probe runs against that
//! family within what is left of the timeout.

use std::time::Duration;

use linkpulse_probe::{Host, ProbeOptions, Prober, Target};
use tokio::time::Instant;

use super::exposition::Metrics;
use super::module::{HttpModule, IcmpModule, Module, ModuleProber, TcpModule};
use super::outcome::{
    Outcome, bool_value, choose_address, family_of, help, ip_hash, log_result, remaining,
    tls_metrics,
};

/// Parses an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) into unix seconds.
pub fn http_date(text: &str) -> Option<f64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc2822).ok()?;
    Some(t.unix_timestamp() as f64)
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

async fn icmp(
    prober: &Prober,
    module: &IcmpModule,
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
