//! An `alerts:` item: its target (webhook, Slack, command or one of the channels), its routing and its CA file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::collect::Errors;
use super::fields::{ca_file, duration_min, headers, http_url, plain_headers, valid_name};
use super::model::{AlertConfig, AlertTarget};
use super::raw::{RawAlert, RawWebhook};

pub(super) fn alert(
    e: &mut Errors<'_>,
    a: &RawAlert,
    index: usize,
    base: &Path,
) -> Option<AlertConfig> {
    let prefix = format!("alerts[{index}]");
    let channel_lines = super::channels::lines(a);
    let given = [a.webhook.is_some(), a.slack.is_some(), a.command.is_some()]
        .iter()
        .filter(|g| **g)
        .count()
        + channel_lines.len();
    let line_of = a
        .name
        .as_ref()
        .map(|n| n.referenced.line())
        .or(a.webhook.as_ref().map(|w| w.referenced.line()))
        .or(a.slack.as_ref().map(|w| w.referenced.line()))
        .or(a.command.as_ref().map(|w| w.referenced.line()))
        .or(channel_lines.first().copied())
        .unwrap_or(0);
    if given != 1 {
        e.push(
            line_of,
            prefix,
            format!(
                "an alert needs exactly one of webhook, slack, command, {}, found {given}",
                crate::alerts::channels::CHANNEL_KEYS.join(", ")
            ),
        );
        return None;
    }
    let mut ok = true;
    let name = match &a.name {
        Some(n) if !valid_name(&n.value) => {
            e.at(
                n,
                format!("{prefix}.name"),
                format!("invalid name {:?} (1 to 128 of A-Z a-z 0-9 . _ -)", n.value),
            );
            ok = false;
            String::new()
        }
        Some(n) => n.value.clone(),
        None => format!("alert-{index}"),
    };
    let repeat = match &a.repeat {
        Some(r) => match duration_min(e, r, &format!("{prefix}.repeat"), Duration::from_secs(1)) {
            Some(d) => Some(d),
            None => {
                ok = false;
                None
            }
        },
        None => None,
    };
    let target = if let Some(w) = &a.webhook {
        let prefix = format!("{prefix}.webhook");
        let headers_ok = headers(e, &w.value.headers, &prefix);
        match http_url(&w.value.url.value) {
            Ok(()) => alert_ca_file(e, &w.value, &prefix, base)
                .filter(|_| headers_ok)
                .map(|ca_file| AlertTarget::Webhook {
                    url: w.value.url.value.clone(),
                    headers: plain_headers(&w.value.headers),
                    ca_file,
                }),
            Err(m) => {
                e.at(&w.value.url, format!("{prefix}.url"), m);
                None
            }
        }
    } else if let Some(w) = &a.slack {
        let prefix = format!("{prefix}.slack");
        match http_url(&w.value.url.value) {
            Ok(()) => alert_ca_file(e, &w.value, &prefix, base).map(|ca_file| AlertTarget::Slack {
                url: w.value.url.value.clone(),
                ca_file,
            }),
            Err(m) => {
                e.at(&w.value.url, format!("{prefix}.url"), m);
                None
            }
        }
    } else if let Some(c) = &a.command {
        let c = &c.value;
        let timeout = match &c.timeout {
            Some(t) => duration_min(
                e,
                t,
                &format!("{prefix}.command.timeout"),
                Duration::from_millis(10),
            ),
            None => Some(Duration::from_secs(30)),
        };
        if c.program.value.trim().is_empty() {
            e.at(
                &c.program,
                format!("{prefix}.command.program"),
                "the program is empty",
            );
            None
        } else {
            timeout.map(|t| AlertTarget::Command {
                program: c.program.value.clone(),
                args: c.args.clone(),
                timeout_ms: u64::try_from(t.as_millis()).unwrap_or(u64::MAX),
            })
        }
    } else {
        super::channels::validate(a, e, &prefix, base).map(AlertTarget::Channel)
    };
    let target = target?;
    let (route, repeat_interval) = super::routing::route(e, a, &prefix, a.repeat.is_some())?;
    // `repeat_interval` is `repeat` under Alertmanager's name (both at once is an error).
    let repeat = match (&target, repeat.or(repeat_interval)) {
        (AlertTarget::Channel(c), None) => c.default_repeat(),
        (AlertTarget::Channel(c), Some(r)) => match c.max_repeat() {
            Some(max) if r > max => {
                if let Some(s) = &a.repeat {
                    e.at(s, format!("{prefix}.repeat"), c.repeat_too_long(max));
                }
                return None;
            }
            _ => Some(r),
        },
        (_, r) => r,
    };
    ok.then_some(AlertConfig {
        name,
        repeat,
        route,
        target,
    })
}

/// `ca_file` of a webhook or Slack target: only with an `https://` URL, and a PEM file with at
/// least one certificate (read now, so a bad file is a config error with its line). `None`
/// when the target is invalid; `Some(None)` without a `ca_file`.
fn alert_ca_file(
    e: &mut Errors<'_>,
    w: &RawWebhook,
    prefix: &str,
    base: &Path,
) -> Option<Option<PathBuf>> {
    let Some(ca) = &w.ca_file else {
        return Some(None);
    };
    let key = format!("{prefix}.ca_file");
    if !w.url.value.trim().starts_with("https://") {
        e.at(ca, key, "ca_file needs an https:// url");
        return None;
    }
    ca_file(e, ca, &key, base).map(Some)
}
