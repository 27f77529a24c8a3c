//! The bridge to `linkpulse-probe`: a check's config becomes a [`PreparedProbe`] once (at load
//! or reload), and each run becomes an [`Outcome`] the engine feeds to the state machine.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use linkpulse_probe::redact::Redactor;
use linkpulse_probe::{
    HttpOptions, IcmpOptions, ProbeOptions, ProbeResult, Prober, StatusSet, Target,
};

use crate::config::model::{CheckConfig, CheckSpec, HttpSpec};
use crate::state::Verdict;

/// Why a check cannot be turned into a probe (a config the probe library rejects).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("check {check:?}: {message}")]
pub struct PrepareError {
    /// Check name.
    pub check: String,
    /// What is wrong.
    pub message: String,
}

/// A target and options ready to probe.
#[derive(Debug, Clone)]
pub struct PreparedProbe {
    /// The probe target.
    pub target: Target,
    /// Probe options, shared by the checks a [`Preparer`] found to have the same ones.
    pub options: Arc<ProbeOptions>,
    /// Masks the target's secrets in what the probe and the diagnosis report.
    pub redact: Redactor,
}

/// `v` with every URL in its strings masked by `redact` (a diagnosis's details).
pub fn mask_json(redact: &Redactor, v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => redact.mask_in_place(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|i| mask_json(redact, i)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|i| mask_json(redact, i)),
        _ => {}
    }
}

/// Builds the probe of an active check; `None` for push and node checks.
pub fn prepare(check: &CheckConfig) -> Result<Option<PreparedProbe>, PrepareError> {
    Preparer::default().prepare(check)
}

/// Prepares many checks, sharing one [`ProbeOptions`] between checks whose options are the same
/// (a plain TCP connect, ICMP or HTTP check with the same settings apart from its target).
/// A `ProbeOptions` holds every probe kind's options, about a kilobyte: with 20,000 checks
/// one copy each was 22 MB of the daemon's heap.
#[derive(Debug, Default)]
pub struct Preparer {
    /// The options of the last few distinct settings seen, newest last.
    recent: Vec<(OptionsKey, Arc<ProbeOptions>)>,
}

/// What a check's [`ProbeOptions`] are made from, for the kinds a [`Preparer`] shares.
#[derive(Debug, PartialEq)]
enum OptionsKey {
    Tcp {
        timeout: Duration,
        cert_warn_days: u32,
    },
    Icmp {
        timeout: Duration,
        cert_warn_days: u32,
        count: u32,
        interval: Duration,
    },
    Http {
        timeout: Duration,
        cert_warn_days: u32,
        /// The spec with its URL and masker blanked (neither goes into the options).
        spec: Box<HttpSpec>,
    },
}

impl OptionsKey {
    fn of(check: &CheckConfig) -> Option<OptionsKey> {
        let (timeout, cert_warn_days) = (check.timeout, check.cert_warn_days);
        match &check.spec {
            CheckSpec::Tcp { dialogue: None, .. } => Some(OptionsKey::Tcp {
                timeout,
                cert_warn_days,
            }),
            CheckSpec::Icmp {
                count, interval, ..
            } => Some(OptionsKey::Icmp {
                timeout,
                cert_warn_days,
                count: *count,
                interval: *interval,
            }),
            CheckSpec::Http(h) => {
                let mut spec = h.clone();
                spec.url = String::new();
                spec.redact = Redactor::default();
                Some(OptionsKey::Http {
                    timeout,
                    cert_warn_days,
                    spec,
                })
            }
            _ => None,
        }
    }
}

/// How many distinct settings a [`Preparer`] remembers.
const RECENT_OPTIONS: usize = 16;

impl Preparer {
    /// Builds the probe of an active check (`None` for push and node checks), with the options
    /// of an earlier check when they are the same.
    pub fn prepare(&mut self, check: &CheckConfig) -> Result<Option<PreparedProbe>, PrepareError> {
        let Some(mut p) = build(check)? else {
            return Ok(None);
        };
        if let Some(key) = OptionsKey::of(check) {
            match self.recent.iter().find(|(k, _)| *k == key) {
                Some((_, shared)) => p.options = shared.clone(),
                None => {
                    if self.recent.len() == RECENT_OPTIONS {
                        self.recent.remove(0);
                    }
                    self.recent.push((key, p.options.clone()));
                }
            }
        }
        Ok(Some(p))
    }
}

/// The probe of one active check, with options of its own.
fn build(check: &CheckConfig) -> Result<Option<PreparedProbe>, PrepareError> {
    let err = |message: String| PrepareError {
        check: check.name.clone(),
        message,
    };
    let mut options = ProbeOptions {
        timeout: check.timeout,
        dns_timeout: check.timeout,
        cert_warn_days: Some(check.cert_warn_days),
        ..ProbeOptions::default()
    };
    let target = match &check.spec {
        CheckSpec::Push { .. } | CheckSpec::Node { .. } => return Ok(None),
        CheckSpec::Tcp { dialogue, .. } => {
            if let Some(d) = dialogue {
                options.tcp = d.options().map_err(|e| err(e.to_string()))?;
            }
            Target::from_str(&check.spec.target()).map_err(|e| err(e.to_string()))?
        }
        CheckSpec::Data(d) => {
            options.data = d.options();
            // The URL as written: the target shown masks its password.
            Target::from_str(&d.url).map_err(|e| err(e.to_string()))?
        }
        CheckSpec::Icmp {
            count, interval, ..
        } => {
            options.icmp = IcmpOptions {
                count: *count,
                interval: *interval,
                ..IcmpOptions::default()
            };
            Target::from_str(&check.spec.target()).map_err(|e| err(e.to_string()))?
        }
        CheckSpec::Dns(d) => {
            options.dns = d.options().map_err(|e| err(e.to_string()))?;
            d.target.clone()
        }
        CheckSpec::Grpc(g) => {
            options.grpc = g.options();
            g.target.clone()
        }
        CheckSpec::Http(h) => {
            let mut http = HttpOptions {
                method: http::Method::from_bytes(h.method.as_bytes())
                    .map_err(|e| err(e.to_string()))?,
                expect_status: StatusSet::from_str(&h.expect_status_text())
                    .map_err(|e| err(e.to_string()))?,
                body_contains: h.body_contains.clone(),
                body_regex: None,
                headers: Vec::new(),
                follow_redirects: h.follow_redirects,
                ca_file: h.ca_file.clone(),
                insecure: h.insecure,
                body: h.body.clone().map(Into::into),
                conditions: h
                    .conditions
                    .iter()
                    .map(|c| c.parse())
                    .collect::<Result<_, linkpulse_probe::conditions::ConditionError>>()
                    .map_err(|e| err(e.to_string()))?,
                body_size_limit: h.body_size_limit,
                compression: None,
                proxy: None,
            };
            if let Some(a) = &h.authorization {
                let mut value =
                    http::HeaderValue::from_str(a.expose()).map_err(|e| err(e.to_string()))?;
                value.set_sensitive(true);
                http.headers.push((http::header::AUTHORIZATION, value));
            }
            if let Some(r) = &h.body_regex {
                http.body_regex = Some(regex::Regex::new(r).map_err(|e| err(e.to_string()))?);
            }
            for (k, v) in &h.headers {
                let name =
                    http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| err(e.to_string()))?;
                let value = http::HeaderValue::from_str(v).map_err(|e| err(e.to_string()))?;
                http.headers.push((name, value));
            }
            options.http = http;
            Target::from_str(&h.url).map_err(|e| err(e.to_string()))?
        }
    };
    let redact = match &check.spec {
        CheckSpec::Http(h) => h.redact.clone(),
        _ => Redactor::default(),
    };
    Ok(Some(PreparedProbe {
        target,
        options: Arc::new(options),
        redact,
    }))
}

/// A result in the probe JSON shape: typed as the probe returned it, or JSON when the daemon
/// produced it (push, node, hard cap) or read it back from storage.
///
/// The engine keeps the typed form and serialises it only when the API, the dashboard or the
/// storage asks, so a result costs no JSON tree.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckResult {
    /// What a probe returned, with the check's own warning applied.
    Probe(Box<ProbeResult>),
    /// Any other result, already in the probe JSON shape.
    Json(serde_json::Value),
}

impl Default for CheckResult {
    fn default() -> CheckResult {
        CheckResult::Json(serde_json::Value::Null)
    }
}

impl CheckResult {
    /// The result as a JSON value (what the API and the dashboard send).
    pub fn to_value(&self) -> serde_json::Value {
        match self {
            CheckResult::Probe(r) => serde_json::to_value(r).unwrap_or(serde_json::Value::Null),
            CheckResult::Json(v) => v.clone(),
        }
    }
}

impl serde::Serialize for CheckResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CheckResult::Probe(r) => r.serialize(s),
            CheckResult::Json(v) => v.serialize(s),
        }
    }
}

/// One run's result as the engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The attempt succeeded.
    pub up: bool,
    /// Why a successful attempt counts as degraded.
    pub warning: Option<String>,
    /// Latency in milliseconds.
    pub latency_ms: Option<f64>,
    /// Error kind of a failed attempt (`refused`, `timeout`, …).
    pub error_kind: Option<String>,
    /// Error message of a failed attempt.
    pub error_message: Option<String>,
    /// The full result.
    pub result: CheckResult,
}

impl Outcome {
    /// The state-machine input of this outcome.
    pub fn verdict(&self) -> Verdict {
        match (self.up, &self.warning) {
            (false, _) => Verdict::Fail,
            (true, Some(_)) => Verdict::Warn,
            (true, None) => Verdict::Ok,
        }
    }

    /// Whether the attempt failed for a reason of the monitor's own (error kind `local`: no
    /// file descriptors, ports or memory): it says nothing about the target.
    /// A probe the monitor may not send (`permission`, e.g. no ICMP socket allowed) is the
    /// monitor's own fault too.
    pub fn is_local(&self) -> bool {
        use linkpulse_probe::ErrorKind;
        let kind = self.error_kind.as_deref();
        kind == Some(ErrorKind::Local.as_str()) || kind == Some(ErrorKind::Permission.as_str())
    }

    /// `kind: message` of a failure, or the warning.
    pub fn cause(&self) -> Option<String> {
        match (&self.error_kind, &self.error_message) {
            (Some(k), Some(m)) => Some(format!("{k}: {m}")),
            (Some(k), None) => Some(k.clone()),
            _ => self.warning.clone(),
        }
    }

    /// A success that reached the daemon without a probe (a push, a live hub node).
    pub fn success(
        target: &str,
        kind: &str,
        warning: Option<String>,
        latency_ms: Option<f64>,
    ) -> Outcome {
        Outcome {
            up: true,
            warning: warning.clone(),
            latency_ms,
            error_kind: None,
            error_message: None,
            result: CheckResult::Json(serde_json::json!({
                "target": target, "kind": kind, "up": true, "warning": warning,
                "latency_ms": latency_ms, "error": null, "resolved": null,
            })),
        }
    }

    /// A failure that the daemon itself produced (hard timeout, missed push).
    pub fn failure(target: &str, kind: &str, error_kind: &str, message: String) -> Outcome {
        Outcome {
            up: false,
            warning: None,
            latency_ms: None,
            error_kind: Some(error_kind.to_owned()),
            error_message: Some(message.clone()),
            result: CheckResult::Json(serde_json::json!({
                "target": target, "kind": kind, "up": false, "warning": null, "latency_ms": null,
                "error": {"kind": error_kind, "message": message}, "resolved": null,
            })),
        }
    }
}

/// Converts a probe result, applying the check's own warning thresholds (a warning of the
/// check's own is written into the result, as the API shows it).
pub fn outcome(check: &CheckConfig, mut r: ProbeResult) -> Outcome {
    // What leaves the probe is shown, stored and sent: never a URL's password or token.
    if let CheckSpec::Http(h) = &check.spec {
        h.redact.result(&mut r);
    }
    if r.up && r.warning.is_none() {
        if let (Some(limit), Some(ms)) = (check.degraded_latency, r.latency_ms)
            && ms > limit.as_secs_f64() * 1000.0
        {
            r.warning = Some(format!(
                "slow: {ms:.1} ms is above degraded_latency {}",
                humantime::format_duration(limit)
            ));
        }
        if let Some(icmp) = &r.icmp
            && icmp.loss / 100.0 > check.loss_threshold
        {
            r.warning = Some(format!(
                "loss {:.0}% is above loss_threshold {:.0}%",
                icmp.loss,
                check.loss_threshold * 100.0
            ));
        }
    }
    Outcome {
        up: r.up,
        warning: if r.up { r.warning.clone() } else { None },
        latency_ms: r.latency_ms,
        error_kind: r.error.as_ref().map(|e| e.kind.as_str().to_owned()),
        error_message: r.error.as_ref().map(|e| e.message.clone()),
        result: CheckResult::Probe(Box::new(r)),
    }
}

/// Runs one probe with a hard cap on top of the probe's own timeout, so a hanging probe ends.
pub async fn run(prober: &Prober, check: &CheckConfig, probe: &PreparedProbe) -> Outcome {
    let cap = probe.options.timeout * 2
        + Duration::from_secs(1)
        + probe.options.icmp.interval * probe.options.icmp.count;
    match tokio::time::timeout(cap, prober.probe(&probe.target, &probe.options)).await {
        Ok(r) => outcome(check, r),
        Err(_) => Outcome::failure(
            &check.spec.target(),
            check.spec.kind().as_str(),
            "timeout",
            format!(
                "no result within the hard cap of {}",
                humantime::format_duration(cap)
            ),
        ),
    }
}
