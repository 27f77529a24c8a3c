//! Stage two: raw structs into [`Config`], collecting every problem.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use super::alert::alert;
use super::collect::Errors;
use super::database::database;
use super::error::{ConfigError, ConfigErrors};
use super::fields::{
    ca_file, duration, duration_checked, duration_min, headers, http_url, plain_headers, valid_name,
};
use super::files;
use super::hub::hub;
use super::model::{
    CheckConfig, CheckSpec, Concurrency, Config, HttpSpec, MetricsConfig, Retention,
};
use super::raw::{
    RawCheck, RawConfig, RawDefaults, RawHttp, RawMetrics, RawStatus, RawStatusItem, RawStatusPage,
};
use super::spanned::S;
use linkpulse_probe::defaults as probe_defaults;

use crate::storage::Backend;

/// Default HTTP address.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:9118";

/// Effective per-check settings: the check's value, else `defaults:`, else the built-in default.
struct Settings {
    interval: Duration,
    /// `None` when neither the check nor `defaults:` sets it: the probe default, capped at
    /// the interval (a default never makes an error about a key nobody wrote).
    timeout: Option<Duration>,
    rise: u32,
    fall: u32,
    fastinter: Option<Duration>,
    downinter: Option<Duration>,
    degraded_latency: Option<Duration>,
    cert_warn_days: u32,
    loss_threshold: f64,
}

fn settings(e: &mut Errors<'_>, d: &RawDefaults, c: &RawCheck, prefix: &str) -> Option<Settings> {
    let mut ok = true;
    // Picks the check's value (path under the check) or the default's (path under defaults).
    macro_rules! pick_dur {
        ($field:ident, $min:expr) => {{
            let min = $min;
            pick_dur!(@ $field, |e: &mut Errors<'_>, s: &S<String>, path: &str| {
                duration_min(e, s, path, min)
            })
        }};
        (@ $field:ident, $parse:expr) => {{
            let (s, path) = match (&c.$field, &d.$field) {
                (Some(s), _) => (Some(s), format!("{prefix}.{}", stringify!($field))),
                (None, Some(s)) => (Some(s), format!("defaults.{}", stringify!($field))),
                (None, None) => (None, String::new()),
            };
            match s {
                Some(s) => match ($parse)(e, s, &path) {
                    Some(v) => Some(v),
                    None => {
                        ok = false;
                        None
                    }
                },
                None => None,
            }
        }};
    }
    macro_rules! pick_num {
        ($field:ident, $lo:expr, $hi:expr, $default:expr) => {{
            let (s, path) = match (&c.$field, &d.$field) {
                (Some(s), _) => (Some(s), format!("{prefix}.{}", stringify!($field))),
                (None, Some(s)) => (Some(s), format!("defaults.{}", stringify!($field))),
                (None, None) => (None, String::new()),
            };
            match s {
                Some(s) if !(($lo..=$hi).contains(&s.value)) => {
                    e.at(
                        s,
                        path,
                        format!("{} is out of range ({} to {})", s.value, $lo, $hi),
                    );
                    ok = false;
                    $default
                }
                Some(s) => s.value,
                None => $default,
            }
        }};
    }
    let interval =
        pick_dur!(interval, Duration::from_millis(100)).unwrap_or(Duration::from_secs(30));
    let timeout = pick_dur!(@ timeout, |e: &mut Errors<'_>, s: &S<String>, path: &str| {
        duration_checked(e, s, path, probe_defaults::check_timeout)
    });
    let rise = pick_num!(rise, 1, 1000, 2);
    let fall = pick_num!(fall, 1, 1000, 3);
    let fastinter = pick_dur!(fastinter, Duration::from_millis(100));
    let downinter = pick_dur!(downinter, Duration::from_millis(100));
    let degraded_latency = pick_dur!(degraded_latency, Duration::from_millis(1));
    let cert_warn_days = pick_num!(cert_warn_days, 0, 3650, 14);
    let loss_threshold = pick_num!(loss_threshold, 0.0, 1.0, 0.2);
    ok.then_some(Settings {
        interval,
        timeout,
        rise,
        fall,
        fastinter,
        downinter,
        degraded_latency,
        cert_warn_days,
        loss_threshold,
    })
}

/// Checks `host:port` (port required, host a name or an address).
fn host_port(value: &str) -> Result<(), String> {
    if value.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let Some((host, port)) = value.rsplit_once(':') else {
        return Err(format!("invalid address {value:?} (expected host:port)"));
    };
    if port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(format!(
            "invalid port {port:?} in address {value:?} (1 to 65535)"
        ));
    }
    host_name(host).map_err(|m| format!("{m} in address {value:?}"))
}

/// Checks a host name or an IP address (no port).
fn host_name(host: &str) -> Result<(), String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("invalid host {host:?}"))
    }
}

/// Whether the probe library accepts the target of `spec`, in its words when it does not.
fn probe_target(spec: &CheckSpec) -> Result<(), String> {
    linkpulse_probe::Target::from_str(&spec.target())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn status_item(text: &str) -> Result<(u16, u16), String> {
    let code = |t: &str| -> Result<u16, String> {
        match t.trim().parse::<u16>() {
            Ok(c) if (100..=599).contains(&c) => Ok(c),
            _ => Err(format!("invalid status code {t:?} (100 to 599)")),
        }
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (code(a)?, code(b)?);
            if a > b {
                return Err(format!("invalid status range {text:?} (start after end)"));
            }
            Ok((a, b))
        }
        None => {
            let c = code(text)?;
            Ok((c, c))
        }
    }
}

fn statuses(raw: &RawStatus) -> Result<Vec<(u16, u16)>, String> {
    let texts: Vec<String> = match raw {
        RawStatus::One(c) => vec![c.to_string()],
        RawStatus::Text(t) => t.split(',').map(str::to_owned).collect(),
        RawStatus::Many(items) => items
            .iter()
            .map(|i| match i {
                RawStatusItem::Code(c) => c.to_string(),
                RawStatusItem::Text(t) => t.clone(),
            })
            .collect(),
    };
    if texts.is_empty() {
        return Err("the list of status codes is empty".to_owned());
    }
    texts.iter().map(|t| status_item(t)).collect()
}

fn http_spec(e: &mut Errors<'_>, h: &RawHttp, path: &str, base: &Path) -> Option<HttpSpec> {
    let mut ok = true;
    if let Err(m) = http_url(&h.url.value)
        .and_then(|()| linkpulse_probe::Target::from_str(&h.url.value).map_err(|e| e.to_string()))
    {
        e.at(&h.url, format!("{path}.url"), m);
        ok = false;
    }
    let method = match &h.method {
        Some(m) => match probe_defaults::parse_method(&m.value) {
            Ok(method) => method.as_str().to_owned(),
            Err(err) => {
                e.at(m, format!("{path}.method"), err.to_string());
                ok = false;
                String::new()
            }
        },
        None => http::Method::GET.as_str().to_owned(),
    };
    let expect_status = match &h.expect_status {
        Some(s) => match statuses(&s.value) {
            Ok(v) => v,
            Err(m) => {
                e.at(s, format!("{path}.expect_status"), m);
                ok = false;
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    if let Some(r) = &h.body_regex
        && let Err(err) = regex::Regex::new(&r.value)
    {
        e.at(
            r,
            format!("{path}.body_regex"),
            format!("invalid regular expression: {err}"),
        );
        ok = false;
    }
    ok &= headers(e, &h.headers, path);
    let ca_file = match &h.ca_file {
        Some(ca) => match ca_file(e, ca, &format!("{path}.ca_file"), base) {
            Some(p) => Some(p),
            None => {
                ok = false;
                None
            }
        },
        None => None,
    };
    let answer = super::http_auth::answer_keys(e, h, path, base);
    ok &= answer.is_some();
    let answer = answer.unwrap_or_default();
    ok.then(|| HttpSpec {
        conditions: answer.conditions,
        body: answer.body,
        body_size_limit: answer.body_size_limit,
        authorization: answer.authorization,
        url: h.url.value.clone(),
        method,
        expect_status,
        body_contains: h.body_contains.clone(),
        body_regex: h.body_regex.as_ref().map(|r| r.value.clone()),
        headers: plain_headers(&h.headers),
        follow_redirects: h
            .follow_redirects
            .unwrap_or(probe_defaults::FOLLOW_REDIRECTS),
        ca_file,
        insecure: h.insecure.unwrap_or(false),
        // The config's own redactor replaces this one in `validate`.
        redact: linkpulse_probe::redact::Redactor::default(),
    })
}

fn module(
    e: &mut Errors<'_>,
    c: &RawCheck,
    prefix: &str,
    interval: Duration,
    base: &Path,
) -> Option<CheckSpec> {
    if let Some(h) = &c.http {
        return http_spec(e, &h.value, &format!("{prefix}.http"), base)
            .map(|h| CheckSpec::Http(Box::new(h)));
    }
    if let Some(t) = &c.tcp {
        let address = t.value.address.value.trim();
        let tv = &t.value;
        let dialogue = super::dialogue::validate(
            e,
            tv.query_response.as_ref(),
            tv.tls,
            tv.tls_config.as_ref(),
            &format!("{prefix}.tcp"),
            base,
        );
        let spec = CheckSpec::Tcp {
            address: address.to_owned(),
            dialogue: None,
        };
        // The probe's own parser has the last word (it refuses `::1:80`, say).
        return match host_port(address).and_then(|()| probe_target(&spec)) {
            Ok(()) => dialogue.map(|dialogue| CheckSpec::Tcp {
                address: address.to_owned(),
                dialogue,
            }),
            Err(m) => {
                e.at(&t.value.address, format!("{prefix}.tcp.address"), m);
                None
            }
        };
    }
    if let Some(p) = &c.postgres {
        return super::data::postgres(e, &p.value, &format!("{prefix}.postgres"), base)
            .map(|d| CheckSpec::Data(Box::new(d)));
    }
    if let Some(m) = &c.mysql {
        return super::data::mysql(e, &m.value, &format!("{prefix}.mysql"), base)
            .map(|d| CheckSpec::Data(Box::new(d)));
    }
    if let Some(r) = &c.redis {
        return super::data::redis(e, &r.value, &format!("{prefix}.redis"), base)
            .map(|d| CheckSpec::Data(Box::new(d)));
    }
    if let Some(i) = &c.icmp {
        let i = &i.value;
        let host = i
            .host
            .value
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let mut ok = true;
        let target = CheckSpec::Icmp {
            host: host.to_owned(),
            count: probe_defaults::ICMP_COUNT,
            interval: probe_defaults::ICMP_INTERVAL,
        };
        if let Err(m) = host_name(host).and_then(|()| probe_target(&target)) {
            e.at(&i.host, format!("{prefix}.icmp.host"), m);
            ok = false;
        }
        let count = match &i.count {
            Some(n) => match probe_defaults::check_icmp_count(u64::from(n.value)) {
                Ok(n) => n,
                Err(err) => {
                    e.at(n, format!("{prefix}.icmp.count"), err.to_string());
                    ok = false;
                    0
                }
            },
            None => probe_defaults::ICMP_COUNT,
        };
        let gap = match &i.interval {
            Some(s) => duration_checked(
                e,
                s,
                &format!("{prefix}.icmp.interval"),
                probe_defaults::check_icmp_interval,
            ),
            None => Some(probe_defaults::ICMP_INTERVAL),
        };
        return match (ok, gap) {
            (true, Some(interval)) => Some(CheckSpec::Icmp {
                host: host.to_owned(),
                count,
                interval,
            }),
            _ => None,
        };
    }
    if let Some(d) = &c.dns {
        return super::dns::validate(e, &d.value, &format!("{prefix}.dns")).map(CheckSpec::Dns);
    }
    if let Some(g) = &c.grpc {
        return super::grpc::validate(e, &g.value, &format!("{prefix}.grpc"), base)
            .map(CheckSpec::Grpc);
    }
    if let Some(p) = &c.push {
        let p = &p.value;
        let period = duration_min(
            e,
            &p.period,
            &format!("{prefix}.push.period"),
            Duration::from_secs(1),
        );
        let grace = match &p.grace {
            Some(g) => duration(e, g, &format!("{prefix}.push.grace")),
            None => Some(interval.min(Duration::from_secs(3600)) / 10),
        };
        let token = match &p.token {
            Some(t) if !valid_name(&t.value) => {
                e.at(
                    t,
                    format!("{prefix}.push.token"),
                    format!(
                        "invalid token {:?} (1 to 128 of A-Z a-z 0-9 . _ -)",
                        t.value
                    ),
                );
                None
            }
            Some(t) => Some((t.value.clone(), false)),
            // Never the name (it is public): generated from a secret key at start.
            None => Some((String::new(), true)),
        };
        return match (period, grace, token) {
            (Some(period), Some(grace), Some((token, generated))) => Some(CheckSpec::Push {
                token,
                generated,
                period,
                grace,
            }),
            _ => None,
        };
    }
    None
}

/// One check: its own problems, and those of the `defaults:` values it inherits (reported
/// once for all the checks that inherit them, see [`Errors`]).
fn check(
    e: &mut Errors<'_>,
    defaults: &RawDefaults,
    c: &RawCheck,
    index: usize,
    base: &Path,
) -> Option<CheckConfig> {
    let prefix = format!("checks[{index}]");
    e.begin_check(&prefix);
    let config = check_inner(e, defaults, c, &prefix, base);
    e.end_check();
    config
}

fn check_inner(
    e: &mut Errors<'_>,
    defaults: &RawDefaults,
    c: &RawCheck,
    prefix: &str,
    base: &Path,
) -> Option<CheckConfig> {
    let mut ok = true;
    if !valid_name(&c.name.value) {
        e.at(
            &c.name,
            format!("{prefix}.name"),
            format!(
                "invalid name {:?} (1 to 128 of A-Z a-z 0-9 . _ -)",
                c.name.value
            ),
        );
        ok = false;
    }
    let count = [
        c.http.is_some(),
        c.tcp.is_some(),
        c.icmp.is_some(),
        c.push.is_some(),
        c.dns.is_some(),
        c.grpc.is_some(),
        c.postgres.is_some(),
        c.redis.is_some(),
        c.mysql.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if count != 1 {
        e.at(
            &c.name,
            prefix,
            format!(
                "check {:?} needs exactly one module (http, tcp, icmp, push, dns, grpc, postgres, redis or mysql), found {count}",
                c.name.value
            ),
        );
        return None;
    }
    let s = settings(e, defaults, c, prefix);
    let period = c
        .push
        .as_ref()
        .and_then(|p| humantime::parse_duration(p.value.period.value.trim()).ok());
    let spec = module(
        e,
        c,
        prefix,
        period.unwrap_or(Duration::from_secs(60)),
        base,
    );
    let (s, spec) = (s?, spec?);
    // Push checks are evaluated against their own period; their "interval" is that period.
    let (interval, rise, fall) = match &spec {
        CheckSpec::Push { period, .. } => (*period, 1, 1),
        _ => (s.interval, s.rise, s.fall),
    };
    // A timeout nobody wrote is the probe default, shortened to fit the interval.
    let timeout = s
        .timeout
        .unwrap_or_else(|| probe_defaults::TIMEOUT.min(interval));
    if !matches!(spec, CheckSpec::Push { .. }) && timeout > interval {
        let (line, path) = match (&c.timeout, &defaults.timeout) {
            (Some(t), _) => (t.referenced.line(), format!("{prefix}.timeout")),
            (None, Some(t)) => (t.referenced.line(), "defaults.timeout".to_owned()),
            (None, None) => (c.name.referenced.line(), format!("{prefix}.timeout")),
        };
        e.push(
            line,
            path,
            format!(
                "timeout {} is longer than the interval {}",
                humantime::format_duration(timeout),
                humantime::format_duration(interval)
            ),
        );
        ok = false;
    }
    let vantage =
        c.vantage
            .as_ref()
            .and_then(|v| match super::vantage::validate(&v.value, prefix) {
                Ok(v) => Some(v),
                Err(problems) => {
                    ok = false;
                    for (line, path, message) in problems {
                        e.push(line, path, message);
                    }
                    None
                }
            });
    if !ok {
        return None;
    }
    let config = CheckConfig {
        name: c.name.value.clone(),
        interval,
        timeout,
        rise,
        fall,
        fastinter: s.fastinter.unwrap_or_else(|| {
            (interval / 5)
                .clamp(Duration::from_millis(100), Duration::from_secs(10))
                .min(interval)
        }),
        downinter: s.downinter.unwrap_or(interval),
        degraded_latency: s.degraded_latency,
        cert_warn_days: s.cert_warn_days,
        loss_threshold: s.loss_threshold,
        labels: c.labels.clone(),
        vantage,
        spec,
    };
    // The probe library has the last word on targets and options: what it refuses when the
    // daemon starts is refused here, with the module's line, by `config check` and `serve`
    // alike.
    if let Err(err) = crate::probe::prepare(&config) {
        let (line, key) = module_place(c, prefix);
        e.push(line, key, err.message);
        return None;
    }
    Some(config)
}

/// The line and key of a check's module (for a tcp check, its address).
fn module_place(c: &RawCheck, prefix: &str) -> (u64, String) {
    if let Some(t) = &c.tcp {
        return (
            t.value.address.referenced.line(),
            format!("{prefix}.tcp.address"),
        );
    }
    let module = [
        c.http.as_ref().map(|m| ("http", m.referenced.line())),
        c.icmp.as_ref().map(|m| ("icmp", m.referenced.line())),
        c.push.as_ref().map(|m| ("push", m.referenced.line())),
        c.dns.as_ref().map(|m| ("dns", m.referenced.line())),
        c.grpc.as_ref().map(|m| ("grpc", m.referenced.line())),
        c.postgres
            .as_ref()
            .map(|m| ("postgres", m.referenced.line())),
        c.redis.as_ref().map(|m| ("redis", m.referenced.line())),
        c.mysql.as_ref().map(|m| ("mysql", m.referenced.line())),
    ];
    match module.into_iter().flatten().next() {
        Some((name, line)) => (line, format!("{prefix}.{name}")),
        None => (c.name.referenced.line(), prefix.to_owned()),
    }
}

/// `metrics:`: every exported label a valid, unreserved Prometheus label name, listed once.
fn metrics(e: &mut Errors<'_>, m: &RawMetrics) -> MetricsConfig {
    let mut labels: Vec<String> = Vec::with_capacity(m.labels.len());
    for (i, l) in m.labels.iter().enumerate() {
        let path = format!("metrics.labels[{i}]");
        if let Err(why) = crate::metrics::check_label_name(&l.value) {
            e.at(l, path, why);
        } else if labels.contains(&l.value) {
            e.at(l, path, format!("label {:?} is listed twice", l.value));
        } else {
            labels.push(l.value.clone());
        }
    }
    MetricsConfig { labels }
}

/// `status_page:`: a title, and groups that list existing checks, each once.
fn status_page(
    e: &mut Errors<'_>,
    p: &RawStatusPage,
    checks: &HashMap<&str, u64>,
) -> Option<linkpulse_web::StatusPage> {
    let mut ok = true;
    if p.title.value.trim().is_empty() {
        e.at(&p.title, "status_page.title", "the title is empty");
        ok = false;
    }
    let mut seen: HashMap<&str, String> = HashMap::new();
    let mut groups = Vec::with_capacity(p.groups.len());
    for (i, g) in p.groups.iter().enumerate() {
        if g.name.value.trim().is_empty() {
            e.at(
                &g.name,
                format!("status_page.groups[{i}].name"),
                "the group name is empty",
            );
            ok = false;
        }
        for (j, c) in g.checks.iter().enumerate() {
            let path = format!("status_page.groups[{i}].checks[{j}]");
            if !checks.contains_key(c.value.as_str()) {
                e.at(c, &path, format!("no check named {:?}", c.value));
                ok = false;
            } else if let Some(first) = seen.insert(&c.value, path.clone()) {
                e.at(
                    c,
                    &path,
                    format!("check {:?} is already listed at {first}", c.value),
                );
                ok = false;
            }
        }
        groups.push(linkpulse_web::StatusGroup {
            name: g.name.value.trim().to_owned(),
            checks: g.checks.iter().map(|c| c.value.clone()).collect(),
        });
    }
    ok.then(|| linkpulse_web::StatusPage {
        title: p.title.value.trim().to_owned(),
        description: p.description.clone().filter(|d| !d.trim().is_empty()),
        groups,
    })
}

/// Validates a raw config, reading every file it names (`base`, the config file's directory,
/// resolves relative paths: see [`files`]). This is the one validation of a config:
/// `config check`, `serve` and a reload all come here, so they accept and refuse the same
/// files with the same words.
pub(crate) fn validate(file: &str, raw: RawConfig, base: &Path) -> Result<Config, ConfigErrors> {
    let mut e = Errors::new(file);
    let listen = match &raw.listen {
        Some(l) => match l.value.trim().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                e.at(
                    l,
                    "listen",
                    format!(
                        "invalid address {:?} (expected IP:port, e.g. 127.0.0.1:9118)",
                        l.value
                    ),
                );
                None
            }
        },
        None => DEFAULT_LISTEN.parse().ok(),
    };
    let (database, backend) = match database(&mut e, &raw, base) {
        Some((d, b)) => (Some(d), Some(b)),
        None => (None, None),
    };
    let api_token = match (&raw.api_token, &raw.api_token_file) {
        (Some(t), Some(_)) => {
            e.at(t, "api_token", "give api_token or api_token_file, not both");
            None
        }
        (Some(t), None) if t.value.trim().len() < 8 => {
            e.at(t, "api_token", "the token is shorter than 8 characters");
            None
        }
        (Some(t), None) => Some(t.value.trim().to_owned()),
        (None, Some(f)) => match files::read_text(&mut e, base, f, "api_token_file") {
            Some((_, t)) if t.trim().len() >= 8 => Some(t.trim().to_owned()),
            Some((path, _)) => {
                e.at(
                    f,
                    "api_token_file",
                    format!("{} holds fewer than 8 characters", path.display()),
                );
                None
            }
            None => None,
        },
        (None, None) => None,
    };
    let mut concurrency = Concurrency {
        global: 1024,
        http: 512,
        tcp: 1024,
        icmp: 256,
    };
    if let Some(c) = &raw.concurrency {
        for (field, value, slot) in [
            ("global", &c.global, &mut concurrency.global),
            ("http", &c.http, &mut concurrency.http),
            ("tcp", &c.tcp, &mut concurrency.tcp),
            ("icmp", &c.icmp, &mut concurrency.icmp),
        ] {
            if let Some(v) = value {
                if (1..=100_000).contains(&v.value) {
                    *slot = v.value as usize;
                } else {
                    e.at(
                        v,
                        format!("concurrency.{field}"),
                        format!("{} is out of range (1 to 100000)", v.value),
                    );
                }
            }
        }
    }
    let mut retention = Retention {
        raw: Duration::from_secs(7 * 86_400),
        hourly: Duration::from_secs(400 * 86_400),
    };
    if let Some(r) = &raw.retention {
        if let Some(s) = &r.raw
            && let Some(d) = duration_min(&mut e, s, "retention.raw", Duration::from_secs(3600))
        {
            retention.raw = d;
        }
        if let Some(s) = &r.hourly
            && let Some(d) =
                duration_min(&mut e, s, "retention.hourly", Duration::from_secs(86_400))
        {
            retention.hourly = d;
        }
    }
    let defaults = raw.defaults.unwrap_or_default();
    let mut checks = Vec::with_capacity(raw.checks.len());
    let mut names: HashMap<&str, u64> = HashMap::new();
    let mut tokens: HashMap<String, u64> = HashMap::new();
    for (i, c) in raw.checks.iter().enumerate() {
        if let Some(first) = names.insert(&c.name.value, c.name.referenced.line()) {
            e.at(
                &c.name,
                format!("checks[{i}].name"),
                format!(
                    "duplicate check name {:?} (first defined on line {first})",
                    c.name.value
                ),
            );
        }
        if let Some(cfg) = check(&mut e, &defaults, c, i, base) {
            if let CheckSpec::Push {
                token,
                generated: false,
                ..
            } = &cfg.spec
                && let Some(first) = tokens.insert(token.clone(), c.name.referenced.line())
            {
                e.at(
                    &c.name,
                    format!("checks[{i}].push.token"),
                    format!("duplicate push token {token:?} (first used on line {first})"),
                );
            }
            checks.push(cfg);
        }
    }
    let mut alerts = Vec::new();
    for (i, a) in raw.alerts.iter().enumerate() {
        if let Some(a) = alert(&mut e, a, i, base) {
            alerts.push(a);
        }
    }
    let maintenance = super::routing::windows(&mut e, &raw.maintenance);
    let hub = raw.hub.as_ref().and_then(|h| hub(&mut e, h, base));
    let status_page = raw
        .status_page
        .as_ref()
        .and_then(|p| status_page(&mut e, p, &names));
    let metrics = raw
        .metrics
        .as_ref()
        .map(|m| metrics(&mut e, m))
        .unwrap_or_default();
    let auth = raw
        .auth
        .as_ref()
        .and_then(|a| match super::auth::validate(a, base) {
            Ok(a) => Some(a),
            Err(problems) => {
                for (line, path, message) in problems {
                    e.push(line, path, message);
                }
                None
            }
        });
    let tls = raw
        .tls
        .as_ref()
        .and_then(|t| match super::tls::validate(t, base) {
            Ok(t) => Some(t),
            Err((line, path, message)) => {
                e.push(line, path, message);
                None
            }
        });
    let cluster = raw.cluster.as_ref().and_then(|c| {
        let postgres = matches!(backend, Some(Backend::Postgres(_)));
        let line = c.referenced.line();
        match super::cluster::validate(&c.value, line, postgres) {
            Ok(c) => Some(c),
            Err(problems) => {
                for (line, path, message) in problems {
                    e.push(line, path, message);
                }
                None
            }
        }
    });
    if raw.cluster.is_none() {
        for (i, c) in raw.checks.iter().enumerate() {
            if let Some(v) = &c.vantage {
                e.push(
                    v.referenced.line(),
                    format!("checks[{i}].vantage"),
                    "`vantage:` needs cluster mode: add a `cluster:` section (and a PostgreSQL \
                     `database:`) so several members can run the check from their vantages",
                );
            }
        }
    }
    let redact = linkpulse_probe::redact::Redactor::new(
        raw.secret_query_params.iter().map(|p| p.value.as_str()),
    );
    if !e.is_empty() {
        let mut list = e.finish();
        // An error may quote a URL: never its password or token.
        for err in &mut list {
            redact.mask_in_place(&mut err.message);
        }
        return Err(ConfigErrors(list));
    }
    for c in &mut checks {
        if let CheckSpec::Http(h) = &mut c.spec {
            h.redact = redact.clone();
        }
    }
    let (Some(listen), Some(database), Some(backend)) = (listen, database, backend) else {
        return Err(ConfigErrors(vec![ConfigError {
            file: file.to_owned(),
            line: 0,
            path: String::new(),
            message: "invalid configuration".to_owned(),
        }]));
    };
    Ok(Config {
        listen,
        database,
        backend,
        api_token,
        concurrency,
        retention,
        checks,
        alerts,
        maintenance,
        hub,
        status_page,
        metrics,
        redact,
        auth,
        tls,
        cluster,
    })
}
