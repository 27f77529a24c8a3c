//! The blackbox `dns` prober: its keys (`query_name`, `query_type`, `valid_rcodes`,
//! `validate_*_rrs`, `transport_protocol`, `recursion_desired`, `preferred_ip_protocol`), their
//! validation, and one probe filling in blackbox_exporter's `probe_dns_*` metrics. The query
//! itself is linkpulse-probe's DNS probe.

use linkpulse_probe::{DnsOptions, DnsType, Host, ProbeOptions, Prober, Rcode, RrRules, Target};
use tokio::time::Instant;

use super::fields::{Checked, Errors, first_unsupported, ip_preference};
use super::module::DnsModule;
use super::outcome::{Outcome, choose_address, family_of, log_result, remaining};
use super::raw::{RawDns, RawRrs, S};

/// HELP texts, blackbox_exporter's own words.
mod help {
    pub(super) const ANSWER: &str = "Returns number of entries in the answer resource record list";
    pub(super) const AUTHORITY: &str =
        "Returns number of entries in the authority resource record list";
    pub(super) const ADDITIONAL: &str =
        "Returns number of entries in the additional resource record list";
    pub(super) const DURATION: &str = "Duration of DNS request by phase";
    pub(super) const SUCCEEDED: &str =
        "Displays whether or not the query was executed successfully";
    pub(super) const SERIAL: &str = "Returns the serial number of the zone";
}

/// Problems go to `errors`; `Ok(Err(reason))` is a valid module linkpulse does not support.
pub(super) fn module(
    errors: &mut Errors<'_>,
    at: &str,
    raw: Option<S<RawDns>>,
) -> Checked<DnsModule> {
    let at = format!("{at}.dns");
    let before = errors.len();
    let Some(raw) = raw else {
        errors.push(
            0,
            &format!("{at}.query_name"),
            "a dns module needs `dns.query_name`",
        );
        return None;
    };
    let line = raw.referenced.line();
    let d = raw.value;
    let ip = ip_preference(
        errors,
        &at,
        d.preferred_ip_protocol.as_ref(),
        d.ip_protocol_fallback,
    );
    let name = match &d.query_name {
        Some(n) => match Target::dns_from_parts("127.0.0.1", &n.value, DnsType::A, false) {
            Ok(_) => n.value.trim().to_owned(),
            Err(e) => {
                errors.at(n, &format!("{at}.query_name"), e.to_string());
                String::new()
            }
        },
        None => {
            errors.push(line, &format!("{at}.query_name"), "missing `query_name`");
            String::new()
        }
    };
    let record_type = match &d.query_type {
        Some(t) => t
            .value
            .parse()
            .unwrap_or_else(|e: linkpulse_probe::UnknownDnsType| {
                errors.at(t, &format!("{at}.query_type"), e.to_string());
                DnsType::Any
            }),
        None => DnsType::Any,
    };
    let tcp = match &d.transport_protocol {
        None => false,
        Some(t) => match t.value.as_str() {
            "udp" => false,
            "tcp" => true,
            other => {
                errors.at(
                    t,
                    &format!("{at}.transport_protocol"),
                    format!("invalid value {other:?} (expected udp or tcp)"),
                );
                false
            }
        },
    };
    let mut options = DnsOptions {
        recursion_desired: d.recursion_desired.unwrap_or(true),
        ..DnsOptions::default()
    };
    for (i, r) in d.valid_rcodes.iter().flatten().enumerate() {
        match r.value.parse::<Rcode>() {
            Ok(code) => options.valid_rcodes.push(code),
            Err(e) => errors.at(r, &format!("{at}.valid_rcodes[{i}]"), e.to_string()),
        }
    }
    for (key, raw, rules) in [
        (
            "validate_answer_rrs",
            &d.validate_answer_rrs,
            &mut options.answer,
        ),
        (
            "validate_authority_rrs",
            &d.validate_authority_rrs,
            &mut options.authority,
        ),
        (
            "validate_additional_rrs",
            &d.validate_additional_rrs,
            &mut options.additional,
        ),
    ] {
        if let Some(raw) = raw {
            *rules = rr_rules(errors, &format!("{at}.{key}"), &raw.value);
        }
    }
    if errors.len() > before {
        return None;
    }
    let mut reason = first_unsupported(
        &at,
        &[
            ("source_ip_address", &d.source_ip_address),
            ("dns_over_tls", &d.dns_over_tls),
            ("tls_config", &d.tls_config),
        ],
    );
    if let Some(class) = d.query_class.as_ref().filter(|c| c.value != "IN") {
        reason.get_or_insert_with(|| {
            format!(
                "`{at}.query_class: {}` is not implemented by linkpulse (only IN)",
                class.value
            )
        });
    }
    Some(match reason {
        Some(r) => Err(r),
        None => Ok(DnsModule {
            ip,
            name,
            record_type,
            tcp,
            options,
        }),
    })
}

fn rr_rules(errors: &mut Errors<'_>, at: &str, raw: &RawRrs) -> RrRules {
    let mut rules = RrRules::default();
    for (key, list, out) in [
        (
            "fail_if_matches_regexp",
            &raw.fail_if_matches_regexp,
            &mut rules.fail_if_matches,
        ),
        (
            "fail_if_all_match_regexp",
            &raw.fail_if_all_match_regexp,
            &mut rules.fail_if_all_match,
        ),
        (
            "fail_if_not_matches_regexp",
            &raw.fail_if_not_matches_regexp,
            &mut rules.fail_if_not_matches,
        ),
        (
            "fail_if_none_matches_regexp",
            &raw.fail_if_none_matches_regexp,
            &mut rules.fail_if_none_matches,
        ),
    ] {
        for (i, r) in list.iter().enumerate() {
            match regex::Regex::new(&r.value) {
                Ok(re) => out.push(re),
                Err(e) => errors.at(
                    r,
                    &format!("{at}.{key}[{i}]"),
                    format!("invalid regular expression {:?}: {e}", r.value),
                ),
            }
        }
    }
    rules
}

/// One probe of the DNS server `target` (`host[:port]`, port 53 unless given).
pub(super) async fn probe(
    prober: &Prober,
    module: &DnsModule,
    target: &str,
    deadline: Instant,
    out: &mut Outcome,
) -> bool {
    let m = &mut out.metrics;
    m.gauge("probe_dns_answer_rrs", help::ANSWER, 0.0);
    m.gauge("probe_dns_authority_rrs", help::AUTHORITY, 0.0);
    m.gauge("probe_dns_additional_rrs", help::ADDITIONAL, 0.0);
    m.gauge("probe_dns_query_succeeded", help::SUCCEEDED, 0.0);
    if module.record_type == DnsType::Soa {
        m.gauge("probe_dns_serial", help::SERIAL, 0.0);
    }
    let phase = |out: &mut Outcome, phase: &str, v: f64| {
        out.metrics
            .phase("probe_dns_duration_seconds", help::DURATION, phase, v);
    };
    for p in ["resolve", "connect", "request"] {
        phase(out, p, 0.0);
    }
    let query = match Target::dns_from_parts(target, &module.name, module.record_type, module.tcp) {
        Ok(q) => q,
        Err(e) => {
            out.log.push(format!(
                "level=error msg=\"Error parsing target address\" err=\"{e}\""
            ));
            return false;
        }
    };
    let Target::Dns {
        server,
        port,
        name,
        record_type,
        tcp,
    } = query
    else {
        return false;
    };
    let Some((ip, lookup)) = choose_address(&server, module.ip, deadline, out).await else {
        return false;
    };
    phase(out, "resolve", lookup.as_secs_f64());
    let opts = ProbeOptions {
        timeout: remaining(deadline),
        dns_timeout: remaining(deadline),
        family: family_of(ip),
        dns: module.options.clone(),
        ..ProbeOptions::default()
    };
    let t = Target::Dns {
        server: Host::Ip(ip),
        port,
        name,
        record_type,
        tcp,
    };
    out.log.push(format!(
        "msg=\"Making DNS query\" target={t} dial_protocol={}",
        if tcp { "tcp" } else { "udp" }
    ));
    let result = prober.probe(&t, &opts).await;
    log_result(out, &result);
    if let Some(d) = &result.dns {
        let secs = |ms: Option<f64>| ms.unwrap_or(0.0) / 1000.0;
        phase(out, "connect", secs(d.connect_ms));
        phase(out, "request", secs(d.request_ms));
        if d.rcode.is_some() {
            let m = &mut out.metrics;
            m.gauge("probe_dns_query_succeeded", help::SUCCEEDED, 1.0);
            m.gauge("probe_dns_answer_rrs", help::ANSWER, d.answers.len() as f64);
            m.gauge(
                "probe_dns_authority_rrs",
                help::AUTHORITY,
                d.authority.len() as f64,
            );
            m.gauge(
                "probe_dns_additional_rrs",
                help::ADDITIONAL,
                d.additional.len() as f64,
            );
            if let Some(serial) = d.soa_serial {
                m.gauge("probe_dns_serial", help::SERIAL, f64::from(serial));
            }
        }
    }
    result.up
}
