//! The `hub:` section: the agents' port, its keys, TLS and detector, within the hub crate's own limits.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::collect::Errors;
use super::fields::duration;
use super::files;
use super::model::{HubConfig, HubDetector};
use super::raw::{RawHub, RawHubTls};
use super::spanned::S;
use linkpulse_hub::auth::HubKeys;

/// `hub:`: the hub's own [`HubConfig`], starting from its defaults; every value written is
/// checked against the hub's own limits ([`HubConfig::problems`]), so a value the hub would
/// not accept is an error with its line instead of a silent change when the hub starts.
pub(super) fn hub(e: &mut Errors<'_>, h: &RawHub, base: &Path) -> Option<HubConfig> {
    let listen = match h.listen.value.trim().parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            e.at(
                &h.listen,
                "hub.listen",
                format!("invalid address {:?} (expected IP:port)", h.listen.value),
            );
            None
        }
    };
    let mut c = HubConfig::new(listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))));
    let mut ok = listen.is_some();
    let mut set = |value: Option<Duration>, field: &mut Duration| match value {
        Some(v) => *field = v,
        None => ok = false,
    };
    if let Some(s) = &h.interval {
        set(duration(e, s, "hub.interval"), &mut c.interval);
    }
    // Unwritten, the timeout follows the interval (never an error about a key not written).
    c.timeout = HubConfig::default_timeout(c.interval);
    if let Some(s) = &h.timeout {
        set(duration(e, s, "hub.timeout"), &mut c.timeout);
    }
    if let Some(s) = &h.forget_after {
        set(duration(e, s, "hub.forget_after"), &mut c.forget_after);
    }
    if let Some(d) = &h.detector {
        match d.value.as_str() {
            "fixed" => c.detector = HubDetector::Fixed,
            "phi" => c.detector = HubDetector::Phi,
            other => {
                e.at(
                    d,
                    "hub.detector",
                    format!("unknown detector {other:?} (fixed or phi)"),
                );
                ok = false;
            }
        }
    }
    if let Some(p) = &h.phi_threshold {
        c.phi_threshold = p.value;
    }
    // Read and parsed now, as the hub will when it starts: a bad secret file is a config
    // error with its line, from `config check` too.
    if let Some(f) = &h.secret_file {
        match files::read_text(e, base, f, "hub.secret_file") {
            Some((path, text)) => match HubKeys::parse(&text, &path.display().to_string()) {
                Ok(_) => c.secret_file = Some(path),
                Err(err) => {
                    e.at(f, "hub.secret_file", err.to_string());
                    ok = false;
                }
            },
            None => ok = false,
        }
    }
    if let Some(t) = &h.tls {
        match hub_tls(e, t, base) {
            Some(tls) => c.tls = Some(tls),
            None => ok = false,
        }
    }
    for problem in c.problems() {
        let line = match problem.field {
            "interval" => h.interval.as_ref().map(|s| s.referenced.line()),
            "timeout" => h.timeout.as_ref().map(|s| s.referenced.line()),
            "forget_after" => h.forget_after.as_ref().map(|s| s.referenced.line()),
            "phi_threshold" => h.phi_threshold.as_ref().map(|s| s.referenced.line()),
            _ => None,
        };
        // Only written values can be out of range; another is still reported, at `hub:`.
        let line = line.unwrap_or_else(|| h.listen.referenced.line());
        e.push(line, format!("hub.{}", problem.field), problem.to_string());
        ok = false;
    }
    ok.then_some(c)
}

/// `hub.tls`: the certificate, key and optional client CA are read now, so a bad file is a
/// config error with its line rather than a failure when the hub starts.
fn hub_tls(
    e: &mut Errors<'_>,
    t: &S<RawHubTls>,
    base: &Path,
) -> Option<linkpulse_hub::tls::HubTls> {
    let tls = linkpulse_hub::tls::HubTls {
        cert_file: files::resolve(base, &t.value.cert_file.value),
        key_file: files::resolve(base, &t.value.key_file.value),
        client_ca_file: t
            .value
            .client_ca_file
            .as_ref()
            .map(|c| files::resolve(base, &c.value)),
    };
    match linkpulse_hub::tls::server_config(&tls) {
        Ok(_) => Some(tls),
        Err(err) => {
            e.at(t, "hub.tls", err.to_string());
            None
        }
    }
}
