//! Stage two: a blackbox_exporter config file into [`BlackboxConfig`], collecting every problem
//! with its file, line and key path (`blackbox.yml:7: modules.web.http.method: …`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use linkpulse_probe::{HttpOptions, StatusSet};

use super::fields::{Checked, Errors, first_unsupported, ip_preference, tls_config};
use super::module::{HttpModule, IcmpModule, Module, ModuleProber, TcpModule};
use super::raw::{RawFile, RawHttp, RawIcmp, RawModule, RawTcp, S};
use crate::config::{ConfigError, ConfigErrors};

/// The modules of a blackbox_exporter config file that linkpulse can serve on `/probe`.
#[derive(Debug, Clone, Default)]
pub struct BlackboxConfig {
    /// Every module of the file by name, including those linkpulse does not support.
    pub modules: BTreeMap<String, Module>,
}

impl BlackboxConfig {
    /// Reads, parses and validates the blackbox_exporter config at `path`. Relative `ca_file`
    /// paths are taken from the file's directory, as blackbox_exporter does.
    pub fn load(path: &Path) -> Result<BlackboxConfig, ConfigErrors> {
        let (file, text, base) =
            crate::config::read_config_file(path, "the blackbox_exporter config")?;
        BlackboxConfig::parse(&file, &text, base)
    }

    /// Parses and validates config `text`; `file` names it in errors and `base` is the
    /// directory relative `ca_file` paths are read from.
    pub fn parse(file: &str, text: &str, base: &Path) -> Result<BlackboxConfig, ConfigErrors> {
        let raw = parse_raw(file, text).map_err(|e| ConfigErrors(vec![e]))?;
        let mut errors = Errors {
            file,
            list: Vec::new(),
        };
        let mut modules = BTreeMap::new();
        for (name, raw_module) in raw.modules.unwrap_or_default() {
            if let Some(module) = module(&mut errors, base, &name, raw_module) {
                modules.insert(name, module);
            }
        }
        if errors.list.is_empty() {
            Ok(BlackboxConfig { modules })
        } else {
            errors.list.sort_by_key(|e| e.line);
            Err(ConfigErrors(errors.list))
        }
    }

    /// The modules served without a config file: `http_2xx`, `tcp_connect` and `icmp` with
    /// blackbox_exporter's defaults and a 5 s timeout.
    pub fn builtin() -> BlackboxConfig {
        let timeout = Some(Duration::from_secs(5));
        let module = |name: &str, prober| {
            (
                name.to_owned(),
                Module {
                    name: name.to_owned(),
                    timeout,
                    prober,
                },
            )
        };
        BlackboxConfig {
            modules: BTreeMap::from([
                module("http_2xx", ModuleProber::Http(Box::default())),
                module("tcp_connect", ModuleProber::Tcp(TcpModule::default())),
                module("icmp", ModuleProber::Icmp(IcmpModule::default())),
            ]),
        }
    }

    /// Every module linkpulse cannot serve, with the reason (for a warning at start-up).
    pub fn unsupported(&self) -> impl Iterator<Item = (&str, &str)> {
        self.modules.values().filter_map(|m| match &m.prober {
            ModuleProber::Unsupported { reason, .. } => Some((m.name.as_str(), reason.as_str())),
            _ => None,
        })
    }
}

/// Stage one: YAML syntax into [`RawFile`].
fn parse_raw(file: &str, text: &str) -> Result<RawFile, ConfigError> {
    crate::config::parse_yaml(
        file,
        text,
        "a blackbox_exporter config starts with `modules:`",
    )
}

fn module(errors: &mut Errors<'_>, base: &Path, name: &str, raw: S<RawModule>) -> Option<Module> {
    let at = format!("modules.{name}");
    let before = errors.list.len();
    let timeout = raw.value.timeout.as_ref().and_then(|t| {
        let path = format!("{at}.timeout");
        match humantime::parse_duration(t.value.trim()) {
            Ok(d) if d.is_zero() => {
                errors.at(t, &path, "timeout must be above 0");
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                errors.at(
                    t,
                    &path,
                    format!("invalid duration {:?} (use e.g. 500ms, 5s, 1m)", t.value),
                );
                None
            }
        }
    });
    let line = raw.referenced.line();
    let mut m = raw.value;
    let Some(prober_name) = m.prober.take() else {
        errors.list.push(ConfigError {
            file: errors.file.to_owned(),
            line,
            path: format!("{at}.prober"),
            message: "missing `prober:` (http, tcp, icmp, dns or grpc)".to_owned(),
        });
        return None;
    };
    let prober_name = &prober_name;
    let prober_path = format!("{at}.prober");
    let prober = match prober_name.value.as_str() {
        "http" => http_module(errors, base, &at, m.http).map(|h| match h {
            Ok(h) => ModuleProber::Http(Box::new(h)),
            Err(reason) => unsupported("http", reason),
        }),
        "tcp" => tcp_module(errors, base, &at, m.tcp).map(|t| match t {
            Ok(t) => ModuleProber::Tcp(t),
            Err(reason) => unsupported("tcp", reason),
        }),
        "icmp" => icmp_module(errors, &at, m.icmp).map(|i| match i {
            Ok(i) => ModuleProber::Icmp(i),
            Err(reason) => unsupported("icmp", reason),
        }),
        "dns" => super::dns::module(errors, &at, m.dns).map(|d| match d {
            Ok(d) => ModuleProber::Dns(Box::new(d)),
            Err(reason) => unsupported("dns", reason),
        }),
        "grpc" => super::grpc::module(errors, base, &at, m.grpc).map(|g| match g {
            Ok(g) => ModuleProber::Grpc(g),
            Err(reason) => unsupported("grpc", reason),
        }),
        // blackbox_exporter loads such a file and answers the module with 400; so does
        // linkpulse, and the start-up warning names the line.
        other => Some(unsupported(
            other,
            format!(
                "{}:{}: {prober_path}: unknown prober {other:?} (expected http, tcp, icmp, dns or grpc)",
                errors.file,
                prober_name.referenced.line()
            ),
        )),
    };
    if errors.list.len() > before {
        return None;
    }
    Some(Module {
        name: name.to_owned(),
        timeout,
        prober: prober?,
    })
}

fn unsupported(prober: &str, reason: String) -> ModuleProber {
    ModuleProber::Unsupported {
        prober: prober.to_owned(),
        reason,
    }
}

fn http_module(
    errors: &mut Errors<'_>,
    base: &Path,
    at: &str,
    raw: Option<S<RawHttp>>,
) -> Checked<HttpModule> {
    let at = format!("{at}.http");
    let before = errors.list.len();
    let mut module = HttpModule::default();
    let Some(raw) = raw else {
        return Some(Ok(module));
    };
    let h = raw.value;
    let unsupported = first_unsupported(
        &at,
        &[
            ("oauth2", &h.oauth2),
            ("no_proxy", &h.no_proxy),
            ("proxy_from_environment", &h.proxy_from_environment),
            ("proxy_connect_header", &h.proxy_connect_header),
            ("source_ip_address", &h.source_ip_address),
            (
                "skip_resolve_phase_with_proxy",
                &h.skip_resolve_phase_with_proxy,
            ),
        ],
    );
    module.ip = ip_preference(
        errors,
        &at,
        h.preferred_ip_protocol.as_ref(),
        h.ip_protocol_fallback,
    );
    if let Some(codes) = &h.valid_status_codes {
        let mut text = Vec::new();
        for (i, c) in codes.value.iter().enumerate() {
            if (100..=599).contains(&c.value) {
                text.push(c.value.to_string());
            } else {
                errors.at(
                    c,
                    &format!("{at}.valid_status_codes[{i}]"),
                    format!("status code {} out of range 100-599", c.value),
                );
            }
        }
        if !text.is_empty()
            && let Ok(set) = text.join(",").parse::<StatusSet>()
        {
            module.options.expect_status = set;
        }
    }
    if let Some(versions) = &h.valid_http_versions {
        for (i, v) in versions.value.iter().enumerate() {
            match v.value.as_str() {
                "HTTP/1.0" | "HTTP/1.1" | "HTTP/2.0" | "HTTP/2" => {
                    module.valid_http_versions.push(v.value.clone());
                }
                other => errors.at(
                    v,
                    &format!("{at}.valid_http_versions[{i}]"),
                    format!(
                        "invalid HTTP version {other:?} (expected HTTP/1.0, HTTP/1.1 or HTTP/2.0)"
                    ),
                ),
            }
        }
    }
    if let Some(m) = &h.method {
        match http::Method::from_bytes(m.value.as_bytes()) {
            Ok(method) => module.options.method = method,
            Err(_) => errors.at(
                m,
                &format!("{at}.method"),
                format!("invalid HTTP method {:?}", m.value),
            ),
        }
    }
    if let Some(headers) = &h.headers {
        for (k, v) in &headers.value {
            let path = format!("{at}.headers.{k}");
            match (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                (Ok(name), Ok(value)) => module.options.headers.push((name, value)),
                (Err(_), _) => errors.at(headers, &path, format!("invalid header name {k:?}")),
                (_, Err(_)) => errors.at(headers, &path, format!("invalid header value {v:?}")),
            }
        }
    }
    for (list, key, out) in [
        (
            &h.fail_if_body_matches_regexp,
            "fail_if_body_matches_regexp",
            &mut module.fail_if_body_matches,
        ),
        (
            &h.fail_if_body_not_matches_regexp,
            "fail_if_body_not_matches_regexp",
            &mut module.fail_if_body_not_matches,
        ),
    ] {
        for (i, r) in list.iter().flatten().enumerate() {
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
    // blackbox_exporter: `follow_redirects` (default true); the older `no_follow_redirects`
    // wins when set.
    module.options.follow_redirects = match (h.no_follow_redirects, h.follow_redirects) {
        (Some(no), _) => !no,
        (None, Some(follow)) => follow,
        (None, None) => true,
    };
    super::http_keys::apply(errors, base, &at, &h, &mut module);
    module.fail_if_ssl = h.fail_if_ssl.unwrap_or(false);
    module.fail_if_not_ssl = h.fail_if_not_ssl.unwrap_or(false);
    let _ = h.enable_http2; // linkpulse negotiates HTTP/2 with ALPN either way.
    let tls_unsupported = h.tls_config.as_ref().and_then(|tls| {
        tls_config(
            errors,
            base,
            &format!("{at}.tls_config"),
            tls,
            &mut module.options,
        )
    });
    if errors.list.len() > before {
        return None;
    }
    match unsupported.or(tls_unsupported) {
        Some(reason) => Some(Err(reason)),
        None => Some(Ok(module)),
    }
}

fn tcp_module(
    errors: &mut Errors<'_>,
    base: &Path,
    at: &str,
    raw: Option<S<RawTcp>>,
) -> Checked<TcpModule> {
    let at = format!("{at}.tcp");
    let before = errors.list.len();
    let Some(raw) = raw else {
        return Some(Ok(TcpModule::default()));
    };
    let t = raw.value;
    let ip = ip_preference(
        errors,
        &at,
        t.preferred_ip_protocol.as_ref(),
        t.ip_protocol_fallback,
    );
    if errors.list.len() > before {
        return None;
    }
    let reason = first_unsupported(&at, &[("source_ip_address", &t.source_ip_address)]);
    let (steps, problems) = crate::config::dialogue::steps(
        t.query_response
            .as_ref()
            .map(|q| q.value.as_slice())
            .unwrap_or_default(),
    );
    for (line, key, message) in problems {
        errors.list.push(ConfigError {
            file: errors.file.to_owned(),
            line,
            path: format!("{at}.query_response{key}"),
            message,
        });
    }
    // The same reader of `tls_config` as the http prober's (CA file, insecure_skip_verify).
    let mut tls = HttpOptions::default();
    let tls_reason = t
        .tls_config
        .as_ref()
        .and_then(|c| tls_config(errors, base, &format!("{at}.tls_config"), c, &mut tls));
    if errors.list.len() > before {
        return None;
    }
    let dialogue = crate::config::dialogue::TcpDialogue {
        tls: t.tls.unwrap_or(false),
        tls_config: crate::config::dialogue::TlsSettings {
            ca_file: tls.ca_file,
            insecure_skip_verify: tls.insecure,
            server_name: None,
        },
        steps,
    };
    let options = dialogue.options().unwrap_or_default();
    Some(match reason.or(tls_reason) {
        Some(r) => Err(r),
        None => Ok(TcpModule { ip, options }),
    })
}

fn icmp_module(errors: &mut Errors<'_>, at: &str, raw: Option<S<RawIcmp>>) -> Checked<IcmpModule> {
    let at = format!("{at}.icmp");
    let before = errors.list.len();
    let Some(raw) = raw else {
        return Some(Ok(IcmpModule::default()));
    };
    let i = raw.value;
    let ip = ip_preference(
        errors,
        &at,
        i.preferred_ip_protocol.as_ref(),
        i.ip_protocol_fallback,
    );
    let mut tuning = linkpulse_probe::icmp::SocketTuning {
        dont_fragment: i.dont_fragment.unwrap_or(false),
        ..Default::default()
    };
    // blackbox_exporter: 0 leaves the system's TTL and its own payload.
    if let Some(ttl) = &i.ttl {
        match u8::try_from(ttl.value) {
            Ok(0) => {}
            Ok(n) => tuning.ttl = Some(n),
            Err(_) => errors.at(
                ttl,
                &format!("{at}.ttl"),
                format!("ttl {} out of range 0-255", ttl.value),
            ),
        }
    }
    if let Some(size) = &i.payload_size {
        match usize::try_from(size.value) {
            Ok(n) if n <= 65_000 => tuning.payload_size = n,
            _ => errors.at(
                size,
                &format!("{at}.payload_size"),
                format!("payload_size {} out of range 0-65000", size.value),
            ),
        }
    }
    if errors.list.len() > before {
        return None;
    }
    let reason = first_unsupported(&at, &[("source_ip_address", &i.source_ip_address)]);
    Some(match reason {
        Some(r) => Err(r),
        None => Ok(IcmpModule { ip, tuning }),
    })
}
