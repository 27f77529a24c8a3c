//! `GET /probe?target=&module=`, compatible with Prometheus' blackbox_exporter.
//!
//! Modules come from a blackbox_exporter config (`--blackbox-config blackbox.yml`; the `http`,
//! `tcp` and `icmp` probers) or, without one, from the built-in `http_2xx`, `tcp_connect` and
//! `icmp` modules. The answer uses blackbox_exporter's metric names (`probe_success`,
//! `probe_duration_seconds`, `probe_http_duration_seconds{phase}`, …) so a scrape config
//! written for the exporter works unchanged.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use linkpulse_probe::{
    HttpOptions, IcmpOptions, IpFamily, ProbeOptions, ProbeResult, Prober, StatusSet, Target,
};
use serde::Deserialize;

use crate::config::{ConfigError, ConfigErrors};

/// The default probe timeout when neither the module nor the scrape gives one.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Which prober a module uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProberKind {
    /// HTTP(S) request.
    Http,
    /// TCP connect.
    Tcp,
    /// ICMP echo.
    Icmp,
}

/// One validated module.
#[derive(Debug, Clone)]
pub struct Module {
    /// Prober kind.
    pub prober: ProberKind,
    /// Module timeout, when set.
    pub timeout: Option<Duration>,
    /// Probe options derived from the module.
    pub options: ProbeOptions,
    /// HTTP: fail if TLS was used.
    pub fail_if_ssl: bool,
    /// HTTP: fail unless TLS was used.
    pub fail_if_not_ssl: bool,
}

/// Modules by name.
#[derive(Debug, Clone)]
pub struct Modules(pub HashMap<String, Module>);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    modules: BTreeMap<String, RawModule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    prober: String,
    timeout: Option<String>,
    http: Option<RawHttp>,
    tcp: Option<RawTcp>,
    icmp: Option<RawIcmp>,
    // Probers linkpulse does not implement: accepted so a whole blackbox.yml loads.
    dns: Option<serde::de::IgnoredAny>,
    grpc: Option<serde::de::IgnoredAny>,
    unix: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[serde(default)]
    valid_status_codes: Vec<u16>,
    #[serde(default)]
    valid_http_versions: Vec<String>,
    method: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    no_follow_redirects: bool,
    #[serde(default)]
    follow_redirects: Option<bool>,
    #[serde(default)]
    fail_if_ssl: bool,
    #[serde(default)]
    fail_if_not_ssl: bool,
    #[serde(default)]
    fail_if_body_matches_regexp: Vec<String>,
    #[serde(default)]
    fail_if_body_not_matches_regexp: Vec<String>,
    tls_config: Option<RawTls>,
    preferred_ip_protocol: Option<String>,
    ip_protocol_fallback: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTls {
    #[serde(default)]
    insecure_skip_verify: bool,
    ca_file: Option<String>,
    server_name: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTcp {
    preferred_ip_protocol: Option<String>,
    ip_protocol_fallback: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawIcmp {
    preferred_ip_protocol: Option<String>,
    ip_protocol_fallback: Option<bool>,
    payload_size: Option<u32>,
    dont_fragment: Option<bool>,
}

fn family(p: Option<&String>, fallback: Option<bool>) -> IpFamily {
    // blackbox prefers ip6 with fallback to ip4 by default; "any address" matches that.
    match (p.map(String::as_str), fallback.unwrap_or(true)) {
        (Some("ip4"), false) => IpFamily::V4,
        (Some("ip6"), false) => IpFamily::V6,
        _ => IpFamily::Any,
    }
}

impl Modules {
    /// The modules used without `--blackbox-config`: `http_2xx`, `tcp_connect`, `icmp`.
    pub fn builtin() -> Modules {
        let mut m = HashMap::new();
        let base = ProbeOptions {
            timeout: DEFAULT_TIMEOUT,
            ..ProbeOptions::default()
        };
        let mut http = base.clone();
        http.http = HttpOptions {
            expect_status: StatusSet::from_str("200-299").unwrap_or_default(),
            follow_redirects: true,
            ..HttpOptions::default()
        };
        let module = |prober, options| Module {
            prober,
            timeout: None,
            options,
            fail_if_ssl: false,
            fail_if_not_ssl: false,
        };
        m.insert("http_2xx".to_owned(), module(ProberKind::Http, http));
        m.insert(
            "tcp_connect".to_owned(),
            module(ProberKind::Tcp, base.clone()),
        );
        let mut icmp = base;
        icmp.icmp = IcmpOptions {
            count: 1,
            interval: Duration::from_millis(0),
        };
        m.insert("icmp".to_owned(), module(ProberKind::Icmp, icmp));
        Modules(m)
    }

    /// Reads the `http`, `tcp` and `icmp` modules of a blackbox_exporter config file.
    pub fn load(path: &Path) -> Result<Modules, ConfigErrors> {
        let file = path.display().to_string();
        let err = |line: u64, p: String, message: String| ConfigError {
            file: file.clone(),
            line,
            path: p,
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![err(
                0,
                String::new(),
                format!("cannot read the file: {e}"),
            )])
        })?;
        let mut key = String::new();
        let options = serde_saphyr::options! { with_snippet: false };
        let raw: RawFile =
            serde_saphyr::with_deserializer_from_str_with_options(&text, options, |de| {
                serde_path_to_error::deserialize(de).map_err(|e| {
                    key = e.path().to_string();
                    e.into_inner()
                })
            })
            .map_err(|e| {
                let mut message = e.to_string();
                if let Some(at) = message.rfind(" at line ") {
                    message.truncate(at);
                }
                ConfigErrors(vec![err(
                    e.location().map_or(0, |l| l.line()),
                    key.clone(),
                    message,
                )])
            })?;
        let mut errors = Vec::new();
        let mut out = HashMap::new();
        for (name, m) in raw.modules {
            let at = format!("modules.{name}");
            let timeout = match &m.timeout {
                Some(t) => match humantime::parse_duration(t.trim()) {
                    Ok(d) => Some(d),
                    Err(_) => {
                        errors.push(err(
                            0,
                            format!("{at}.timeout"),
                            format!("invalid duration {t:?}"),
                        ));
                        continue;
                    }
                },
                None => None,
            };
            let mut options = ProbeOptions {
                timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
                ..ProbeOptions::default()
            };
            let mut module = Module {
                prober: ProberKind::Tcp,
                timeout,
                options: options.clone(),
                fail_if_ssl: false,
                fail_if_not_ssl: false,
            };
            match m.prober.as_str() {
                "http" => {
                    let h = m.http.unwrap_or_default();
                    let codes = if h.valid_status_codes.is_empty() {
                        "200-299".to_owned()
                    } else {
                        h.valid_status_codes
                            .iter()
                            .map(u16::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    };
                    let _ = &h.valid_http_versions;
                    let expect_status = match StatusSet::from_str(&codes) {
                        Ok(s) => s,
                        Err(e) => {
                            errors.push(err(
                                0,
                                format!("{at}.http.valid_status_codes"),
                                e.to_string(),
                            ));
                            continue;
                        }
                    };
                    let mut http = HttpOptions {
                        expect_status,
                        follow_redirects: h.follow_redirects.unwrap_or(!h.no_follow_redirects),
                        ..HttpOptions::default()
                    };
                    if let Some(method) = &h.method {
                        match http::Method::from_bytes(method.to_ascii_uppercase().as_bytes()) {
                            Ok(m) => http.method = m,
                            Err(_) => errors.push(err(
                                0,
                                format!("{at}.http.method"),
                                format!("invalid method {method:?}"),
                            )),
                        }
                    }
                    for (k, v) in &h.headers {
                        match (
                            http::HeaderName::from_bytes(k.as_bytes()),
                            http::HeaderValue::from_str(v),
                        ) {
                            (Ok(k), Ok(v)) => http.headers.push((k, v)),
                            _ => errors.push(err(
                                0,
                                format!("{at}.http.headers.{k}"),
                                "invalid header".to_owned(),
                            )),
                        }
                    }
                    if let Some(t) = &h.tls_config {
                        http.insecure = t.insecure_skip_verify;
                        http.ca_file = t.ca_file.as_ref().map(Into::into);
                        let _ = &t.server_name;
                    }
                    match h.fail_if_body_not_matches_regexp.as_slice() {
                        [] => {}
                        [one] => match regex::Regex::new(one) {
                            Ok(r) => http.body_regex = Some(r),
                            Err(e) => errors.push(err(
                                0,
                                format!("{at}.http.fail_if_body_not_matches_regexp"),
                                e.to_string(),
                            )),
                        },
                        many => match regex::Regex::new(
                            &many
                                .iter()
                                .map(|r| format!("(?:{r})"))
                                .collect::<Vec<_>>()
                                .join(""),
                        ) {
                            Ok(_) => errors.push(err(
                                0,
                                format!("{at}.http.fail_if_body_not_matches_regexp"),
                                "only one regular expression is supported".to_owned(),
                            )),
                            Err(e) => errors.push(err(
                                0,
                                format!("{at}.http.fail_if_body_not_matches_regexp"),
                                e.to_string(),
                            )),
                        },
                    }
                    if !h.fail_if_body_matches_regexp.is_empty() {
                        errors.push(err(
                            0,
                            format!("{at}.http.fail_if_body_matches_regexp"),
                            "not supported by linkpulse (use fail_if_body_not_matches_regexp)"
                                .to_owned(),
                        ));
                    }
                    module.fail_if_ssl = h.fail_if_ssl;
                    module.fail_if_not_ssl = h.fail_if_not_ssl;
                    options.family =
                        family(h.preferred_ip_protocol.as_ref(), h.ip_protocol_fallback);
                    options.http = http;
                    module.prober = ProberKind::Http;
                }
                "tcp" => {
                    let t = m.tcp.unwrap_or_default();
                    options.family =
                        family(t.preferred_ip_protocol.as_ref(), t.ip_protocol_fallback);
                    module.prober = ProberKind::Tcp;
                }
                "icmp" => {
                    let i = m.icmp.unwrap_or_default();
                    let _ = (i.payload_size, i.dont_fragment);
                    options.family =
                        family(i.preferred_ip_protocol.as_ref(), i.ip_protocol_fallback);
                    options.icmp = IcmpOptions {
                        count: 1,
                        interval: Duration::from_millis(0),
                    };
                    module.prober = ProberKind::Icmp;
                }
                _ => continue, // dns, grpc, unix: not served by linkpulse
            }
            let _ = (&m.dns, &m.grpc, &m.unix);
            module.options = options;
            out.insert(name, module);
        }
        if errors.is_empty() {
            Ok(Modules(out))
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

#[derive(Clone)]
struct ProbeState {
    modules: Arc<Modules>,
    prober: Prober,
}

/// The `/probe` route.
pub fn router(modules: Modules) -> Router {
    let state = ProbeState {
        modules: Arc::new(modules),
        prober: Prober::new(),
    };
    Router::new().route("/probe", get(probe)).with_state(state)
}

#[derive(Debug, Deserialize)]
struct Params {
    target: Option<String>,
    module: Option<String>,
}

fn bad(message: String) -> Response {
    (StatusCode::BAD_REQUEST, message).into_response()
}

/// Builds the probe target the way blackbox_exporter reads `target=`.
fn target_of(prober: ProberKind, raw: &str) -> Result<Target, String> {
    let text = match prober {
        ProberKind::Http if raw.contains("://") => raw.to_owned(),
        ProberKind::Http => format!("http://{raw}"),
        ProberKind::Tcp => format!("tcp://{raw}"),
        ProberKind::Icmp if raw.contains(':') && !raw.starts_with('[') => format!("icmp://[{raw}]"),
        ProberKind::Icmp => format!("icmp://{raw}"),
    };
    Target::from_str(&text).map_err(|e| format!("invalid target {raw:?}: {e}"))
}

async fn probe(
    State(s): State<ProbeState>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let Some(target) = p.target.filter(|t| !t.is_empty()) else {
        return bad("Target parameter is missing".to_owned());
    };
    let name = p.module.unwrap_or_else(|| "http_2xx".to_owned());
    let Some(module) = s.modules.0.get(&name) else {
        return bad(format!("Unknown module {name:?}"));
    };
    let t = match target_of(module.prober, &target) {
        Ok(t) => t,
        Err(e) => return bad(e),
    };
    // Like the exporter: the scrape's timeout minus half a second, capped by the module's.
    let scrape = headers
        .get("X-Prometheus-Scrape-Timeout-Seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(|v| Duration::from_secs_f64((v - 0.5).max(0.1)));
    let mut options = module.options.clone();
    options.timeout = match (module.timeout, scrape) {
        (Some(m), Some(s)) => m.min(s),
        (Some(m), None) => m,
        (None, Some(s)) => s,
        (None, None) => DEFAULT_TIMEOUT,
    };
    options.dns_timeout = options.timeout;
    let dns_started = Instant::now();
    let dns_s = match (&t, module.prober) {
        (_, ProberKind::Http) => None,
        _ => Some(lookup_seconds(&target, dns_started).await),
    };
    let started = Instant::now();
    let cap = options.timeout * 2 + Duration::from_secs(1);
    let result = tokio::time::timeout(cap, s.prober.probe(&t, &options))
        .await
        .ok();
    let duration = started.elapsed().as_secs_f64() + dns_s.unwrap_or(0.0);
    let body = render(module, result.as_ref(), duration, dns_s);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Seconds a DNS lookup of the target's host takes (0 for an address literal).
async fn lookup_seconds(target: &str, started: Instant) -> f64 {
    let host =
        target.rsplit_once(':').map_or(
            target,
            |(h, p)| if p.parse::<u16>().is_ok() { h } else { target },
        );
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.parse::<IpAddr>().is_ok() {
        return 0.0;
    }
    let _ = tokio::net::lookup_host((host, 0)).await;
    started.elapsed().as_secs_f64()
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
        num(value)
    );
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The exposition for one probe, blackbox_exporter's names and help texts.
pub fn render(
    module: &Module,
    r: Option<&ProbeResult>,
    duration_s: f64,
    dns_s: Option<f64>,
) -> String {
    let mut out = String::new();
    let ms = |v: Option<f64>| v.unwrap_or(0.0) / 1000.0;
    let mut success = r.is_some_and(|r| r.up);
    match module.prober {
        ProberKind::Http => {
            let d = r.and_then(|r| r.http.as_ref());
            let p = d.map(|d| d.phases.clone()).unwrap_or_default();
            gauge(
                &mut out,
                "probe_dns_lookup_time_seconds",
                "Returns the time taken for probe dns lookup in seconds",
                ms(p.dns_ms),
            );
            let used = p.dns_ms.unwrap_or(0.0)
                + p.connect_ms.unwrap_or(0.0)
                + p.tls_ms.unwrap_or(0.0)
                + p.first_byte_ms.unwrap_or(0.0);
            let transfer = (p.total_ms.unwrap_or(used) - used).max(0.0) / 1000.0;
            let _ = writeln!(
                out,
                "# HELP probe_http_duration_seconds Duration of http request by phase, summed over all redirects\n# TYPE probe_http_duration_seconds gauge"
            );
            for (phase, v) in [
                ("connect", ms(p.connect_ms)),
                ("processing", ms(p.first_byte_ms)),
                ("resolve", ms(p.dns_ms)),
                ("tls", ms(p.tls_ms)),
                ("transfer", transfer),
            ] {
                let _ = writeln!(
                    out,
                    "probe_http_duration_seconds{{phase=\"{phase}\"}} {}",
                    num(v)
                );
            }
            let body_len = d.and_then(|d| d.body_bytes).map_or(-1.0, |b| b as f64);
            gauge(
                &mut out,
                "probe_http_content_length",
                "Length of http content response",
                body_len,
            );
            gauge(
                &mut out,
                "probe_http_uncompressed_body_length",
                "Length of uncompressed response body",
                body_len.max(0.0),
            );
            gauge(
                &mut out,
                "probe_http_redirects",
                "The number of redirects",
                d.map_or(0.0, |d| f64::from(d.redirects)),
            );
            let ssl = r.is_some_and(|r| r.tls.is_some());
            gauge(
                &mut out,
                "probe_http_ssl",
                "Indicates if SSL was used for the final redirect",
                if ssl { 1.0 } else { 0.0 },
            );
            gauge(
                &mut out,
                "probe_http_status_code",
                "Response HTTP status code",
                d.and_then(|d| d.status).map_or(0.0, f64::from),
            );
            let version = d.and_then(|d| d.version.as_deref()).map_or(0.0, |v| {
                match v.trim_start_matches("HTTP/") {
                    "1.0" => 1.0,
                    "1.1" => 1.1,
                    "2" | "2.0" => 2.0,
                    "3" | "3.0" => 3.0,
                    _ => 0.0,
                }
            });
            gauge(
                &mut out,
                "probe_http_version",
                "Returns the version of HTTP of the probe response",
                version,
            );
            let regex_failed = r.is_some_and(|r| {
                r.error
                    .as_ref()
                    .is_some_and(|e| e.kind == linkpulse_probe::ErrorKind::BodyMismatch)
            });
            gauge(
                &mut out,
                "probe_failed_due_to_regex",
                "Indicates if probe failed due to regex",
                if regex_failed { 1.0 } else { 0.0 },
            );
            if let Some(expiry) = r
                .and_then(|r| r.tls.as_ref())
                .and_then(|t| t.earliest_expiry)
            {
                gauge(
                    &mut out,
                    "probe_ssl_earliest_cert_expiry",
                    "Returns last SSL chain expiry in unixtime",
                    expiry as f64,
                );
            }
            if (module.fail_if_ssl && ssl) || (module.fail_if_not_ssl && !ssl) {
                success = false;
            }
        }
        ProberKind::Tcp => {
            gauge(
                &mut out,
                "probe_dns_lookup_time_seconds",
                "Returns the time taken for probe dns lookup in seconds",
                dns_s.unwrap_or(0.0),
            );
        }
        ProberKind::Icmp => {
            gauge(
                &mut out,
                "probe_dns_lookup_time_seconds",
                "Returns the time taken for probe dns lookup in seconds",
                dns_s.unwrap_or(0.0),
            );
            let rtt = r.and_then(|r| r.icmp.as_ref()).and_then(|i| i.rtt_avg_ms);
            let _ = writeln!(
                out,
                "# HELP probe_icmp_duration_seconds Duration of icmp request by phase\n# TYPE probe_icmp_duration_seconds gauge"
            );
            for (phase, v) in [
                ("resolve", dns_s.unwrap_or(0.0)),
                ("rtt", ms(rtt)),
                ("setup", 0.0),
            ] {
                let _ = writeln!(
                    out,
                    "probe_icmp_duration_seconds{{phase=\"{phase}\"}} {}",
                    num(v)
                );
            }
        }
    }
    if let Some(ip) = r.and_then(|r| r.resolved) {
        gauge(
            &mut out,
            "probe_ip_protocol",
            "Specifies whether probe ip protocol is IP4 or IP6",
            if ip.is_ipv4() { 4.0 } else { 6.0 },
        );
    }
    gauge(
        &mut out,
        "probe_duration_seconds",
        "Returns how long the probe took to complete in seconds",
        duration_s,
    );
    gauge(
        &mut out,
        "probe_success",
        "Displays whether or not the probe was a success",
        if success { 1.0 } else { 0.0 },
    );
    out
}
