//! The blackbox `grpc` prober: its keys (`service`, `tls`, `tls_config`,
//! `preferred_ip_protocol`), their validation, and one probe filling in blackbox_exporter's
//! `probe_grpc_*` metrics. The health check itself is linkpulse-probe's gRPC probe.

use std::path::Path;

use linkpulse_probe::{ErrorKind, GrpcOptions, Host, HttpOptions, ProbeOptions, Prober, Target};
use tokio::time::Instant;

use super::fields::{Checked, Errors, ip_preference, tls_config};
use super::module::GrpcModule;
use super::outcome::{Outcome, choose_address, family_of, log_result, remaining, tls_info_metrics};
use super::raw::{RawGrpc, S};

/// HELP texts, blackbox_exporter's own words.
mod help {
    pub(super) const DURATION: &str = "Duration of gRPC request by phase";
    pub(super) const SSL: &str = "Indicates if SSL was used for the connection";
    pub(super) const STATUS: &str = "Response gRPC status code";
    pub(super) const RESPONSE: &str = "Response HealthCheck response";
    pub(super) const EARLIEST_EXPIRY: &str = "Returns last SSL chain expiry in unixtime";
}

/// The serving statuses of the health protocol, each a `probe_grpc_healthcheck_response`.
const STATUSES: [&str; 4] = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/// Problems go to `errors`; `Ok(Err(reason))` is a valid module linkpulse does not support.
pub(super) fn module(
    errors: &mut Errors<'_>,
    base: &Path,
    at: &str,
    raw: Option<S<RawGrpc>>,
) -> Checked<GrpcModule> {
    let at = format!("{at}.grpc");
    let before = errors.len();
    let Some(raw) = raw else {
        return Some(Ok(GrpcModule::default()));
    };
    let g = raw.value;
    let ip = ip_preference(
        errors,
        &at,
        g.preferred_ip_protocol.as_ref(),
        g.ip_protocol_fallback,
    );
    // `tls_config` means the same as for HTTP: read it with the same code.
    let mut tls = HttpOptions::default();
    let unsupported = g
        .tls_config
        .as_ref()
        .and_then(|t| tls_config(errors, base, &format!("{at}.tls_config"), t, &mut tls));
    if errors.len() > before {
        return None;
    }
    Some(match unsupported {
        Some(r) => Err(r),
        None => Ok(GrpcModule {
            ip,
            service: g.service.unwrap_or_default(),
            tls: g.tls.unwrap_or(false),
            options: GrpcOptions {
                ca_file: tls.ca_file,
                insecure: tls.insecure,
            },
        }),
    })
}

/// One health check of `target` (`host:port`, or an `http://` / `https://` URL's authority;
/// port 80 or, with TLS, 443 unless given).
pub(super) async fn probe(
    prober: &Prober,
    module: &GrpcModule,
    target: &str,
    deadline: Instant,
    out: &mut Outcome,
) -> bool {
    let phase = |out: &mut Outcome, phase: &str, v: f64| {
        out.metrics
            .phase("probe_grpc_duration_seconds", help::DURATION, phase, v);
    };
    phase(out, "resolve", 0.0);
    let m = &mut out.metrics;
    m.gauge("probe_grpc_ssl", help::SSL, 0.0);
    m.gauge("probe_grpc_status_code", help::STATUS, 0.0);
    m.gauge("probe_ssl_earliest_cert_expiry", help::EARLIEST_EXPIRY, 0.0);
    let authority = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
        .unwrap_or(target);
    let authority = authority.split('/').next().unwrap_or_default();
    let default_port = if module.tls { 443 } else { 80 };
    let parsed =
        Target::grpc_from_host_port(authority, &module.service, module.tls).or_else(|_| {
            Target::grpc_from_host_port(
                &format!("{authority}:{default_port}"),
                &module.service,
                module.tls,
            )
        });
    let (host, port, service, tls) = match parsed {
        Ok(Target::Grpc {
            host,
            port,
            service,
            tls,
        }) => (host, port, service, tls),
        Ok(_) => return false,
        Err(e) => {
            out.log.push(format!(
                "level=error msg=\"Could not parse target URL\" err=\"{e}\""
            ));
            return false;
        }
    };
    let Some((ip, lookup)) = choose_address(&host, module.ip, deadline, out).await else {
        return false;
    };
    phase(out, "resolve", lookup.as_secs_f64());
    let check_start = Instant::now();
    let opts = ProbeOptions {
        timeout: remaining(deadline),
        dns_timeout: remaining(deadline),
        family: family_of(ip),
        grpc: module.options.clone(),
        ..ProbeOptions::default()
    };
    // The certificate is checked against the name in the target, as blackbox_exporter does,
    // while the connection goes to the address chosen above.
    let t = Target::Grpc {
        host: if tls { host } else { Host::Ip(ip) },
        port,
        service,
        tls,
    };
    let result = prober.probe(&t, &opts).await;
    log_result(out, &result);
    phase(out, "check", check_start.elapsed().as_secs_f64());
    let detail = result.grpc.clone().unwrap_or_default();
    for s in STATUSES {
        let v = if detail.status.as_deref() == Some(s) {
            1.0
        } else {
            0.0
        };
        out.metrics.labelled(
            "probe_grpc_healthcheck_response",
            help::RESPONSE,
            vec![("serving_status", s.to_owned())],
            v,
        );
    }
    // A call that never got an answer is UNAVAILABLE (14), or DEADLINE_EXCEEDED (4) on timeout.
    let code = detail
        .grpc_code
        .unwrap_or(match result.error.as_ref().map(|e| e.kind) {
            Some(ErrorKind::Timeout) => 4,
            _ => 14,
        });
    out.metrics
        .gauge("probe_grpc_status_code", help::STATUS, f64::from(code));
    if let Some(tls) = &result.tls {
        out.metrics.gauge("probe_grpc_ssl", help::SSL, 1.0);
        tls_info_metrics(&mut out.metrics, tls);
    }
    result.up
}
