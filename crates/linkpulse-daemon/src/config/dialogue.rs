//! The TCP check's dialogue keys: `query_response:` (blackbox_exporter's steps), `tls:` and
//! `tls_config:`.
//!
//! ```yaml
//! tcp:
//!   address: mail.example:25
//!   query_response:
//!     - expect: "^220"
//!     - send: "EHLO monitor"
//!     - expect: "^250[ -]STARTTLS"
//!     - send: "STARTTLS"
//!     - expect: "^220"
//!     - starttls: true
//!     - send: "QUIT"
//!   tls_config: { ca_file: ca.pem, server_name: mail.example }
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::collect::Errors;
use super::spanned::S;

/// TLS client settings of a tcp or data check, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// Extra CA bundle (PEM), read at load.
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification.
    pub insecure_skip_verify: bool,
    /// The name the certificate must hold (default: the target's host).
    pub server_name: Option<String>,
}

impl TlsSettings {
    /// The probe library's form.
    pub fn options(&self) -> linkpulse_probe::TlsOptions {
        linkpulse_probe::TlsOptions {
            ca_file: self.ca_file.clone(),
            insecure: self.insecure_skip_verify,
            server_name: self.server_name.clone(),
        }
    }
}

/// One `query_response` step, validated (its regex compiles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogueStep {
    /// A line must match this regex.
    pub expect: Option<String>,
    /// Then this is sent (with a newline), expanded with the match's groups.
    pub send: Option<String>,
    /// Then the connection is upgraded to TLS.
    pub starttls: bool,
    /// `(name, value)` labels expanded from the match.
    pub labels: Vec<(String, String)>,
}

/// A tcp check's dialogue: TLS on connect and/or steps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpDialogue {
    /// TLS right after the connect.
    pub tls: bool,
    /// TLS settings (on connect and for `starttls`).
    pub tls_config: TlsSettings,
    /// The steps, in order.
    pub steps: Vec<DialogueStep>,
}

impl TcpDialogue {
    /// The probe library's options; an error when a regex does not compile (checked at load).
    pub fn options(&self) -> Result<linkpulse_probe::TcpOptions, regex::Error> {
        use linkpulse_probe::dialogue::{Script, Step};
        let mut steps = Vec::with_capacity(self.steps.len());
        for s in &self.steps {
            let mut step = match &s.expect {
                Some(re) => Step::expect(re)?,
                None => Step::empty(),
            };
            if let Some(text) = &s.send {
                step = step.then_send(text.clone());
            }
            step.starttls = s.starttls;
            step.labels = s.labels.clone();
            steps.push(step);
        }
        Ok(linkpulse_probe::TcpOptions {
            tls: self.tls,
            tls_config: self.tls_config.options(),
            script: Script::new(steps),
        })
    }
}

/// `tls_config:` as written (blackbox_exporter's key names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTlsConfig {
    pub(crate) ca_file: Option<S<String>>,
    pub(crate) insecure_skip_verify: Option<bool>,
    pub(crate) server_name: Option<S<String>>,
}

/// One item of `query_response:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    pub(crate) expect: Option<S<String>>,
    pub(crate) send: Option<String>,
    pub(crate) starttls: Option<bool>,
    #[serde(default)]
    pub(crate) labels: Vec<RawLabel>,
}

/// One item of a step's `labels:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLabel {
    pub(crate) name: S<String>,
    pub(crate) value: String,
}

/// Validates `tls_config:` at `path`; `None` after reporting a problem.
pub(crate) fn tls_settings(
    e: &mut Errors<'_>,
    raw: Option<&S<RawTlsConfig>>,
    path: &str,
    base: &Path,
) -> Option<TlsSettings> {
    let Some(raw) = raw else {
        return Some(TlsSettings::default());
    };
    let raw = &raw.value;
    let ca_file = match &raw.ca_file {
        Some(ca) => {
            let file = super::files::resolve(base, &ca.value);
            match linkpulse_probe::load_ca_file(&file) {
                Ok(_) => Some(file),
                Err(m) => {
                    e.at(ca, format!("{path}.ca_file"), m.to_string());
                    return None;
                }
            }
        }
        None => None,
    };
    let server_name = match &raw.server_name {
        Some(n) => {
            let name = n.value.trim();
            if rustls_name_ok(name) {
                Some(name.to_owned())
            } else {
                e.at(
                    n,
                    format!("{path}.server_name"),
                    format!("{name:?} is not a DNS name or IP address"),
                );
                return None;
            }
        }
        None => None,
    };
    Some(TlsSettings {
        ca_file,
        insecure_skip_verify: raw.insecure_skip_verify.unwrap_or(false),
        server_name,
    })
}

/// Whether `name` can be a TLS server name.
fn rustls_name_ok(name: &str) -> bool {
    !name.is_empty() && rustls::pki_types::ServerName::try_from(name.to_owned()).is_ok()
}

/// Validates a tcp check's `query_response`, `tls` and `tls_config` at `path` (`checks[0].tcp`);
/// `Some(None)` when none is set, `None` after reporting a problem.
pub(crate) fn validate(
    e: &mut Errors<'_>,
    query_response: Option<&S<Vec<RawStep>>>,
    tls: Option<bool>,
    tls_config: Option<&S<RawTlsConfig>>,
    path: &str,
    base: &Path,
) -> Option<Option<Box<TcpDialogue>>> {
    let raw_steps = query_response
        .map(|q| q.value.as_slice())
        .unwrap_or_default();
    let (steps, problems) = steps(raw_steps);
    let mut ok = problems.is_empty();
    for (line, key, message) in problems {
        e.push(line, format!("{path}.query_response{key}"), message);
    }
    let tls_settings = tls_settings(e, tls_config, &format!("{path}.tls_config"), base);
    let tls = tls.unwrap_or(false);
    if tls && steps.iter().any(|s| s.starttls) {
        let line = query_response.map_or(0, |q| q.referenced.line());
        e.push(
            line,
            format!("{path}.query_response"),
            "starttls on a connection that is TLS from the start (tls: true)",
        );
        ok = false;
    }
    let tls_config = tls_settings?;
    if !ok {
        return None;
    }
    if steps.is_empty() && !tls {
        return Some(None);
    }
    Some(Some(Box::new(TcpDialogue {
        tls,
        tls_config,
        steps,
    })))
}

/// The steps of `query_response` items, and the problems found: `(line, key under
/// query_response, message)`. Shared by the daemon's tcp checks and blackbox `/probe` modules.
pub(crate) fn steps(raw: &[RawStep]) -> (Vec<DialogueStep>, Vec<(u64, String, String)>) {
    let mut problems = Vec::new();
    let mut steps = Vec::new();
    for (i, raw) in raw.iter().enumerate() {
        let at = format!("[{i}]");
        if let Some(re) = &raw.expect
            && let Err(err) = regex::bytes::Regex::new(&re.value)
        {
            problems.push((
                re.referenced.line(),
                format!("{at}.expect"),
                format!("invalid regular expression: {err}"),
            ));
        }
        if raw.expect.is_none() && !raw.labels.is_empty() {
            let line = raw.labels[0].name.referenced.line();
            problems.push((
                line,
                format!("{at}.labels"),
                "labels need an `expect` to expand".to_owned(),
            ));
        }
        for (j, l) in raw.labels.iter().enumerate() {
            if !valid_label(&l.name.value) {
                problems.push((
                    l.name.referenced.line(),
                    format!("{at}.labels[{j}].name"),
                    format!(
                        "invalid label name {:?} (letters, digits and _, not starting with a digit)",
                        l.name.value
                    ),
                ));
            }
        }
        steps.push(DialogueStep {
            expect: raw.expect.as_ref().map(|r| r.value.clone()),
            send: raw.send.clone(),
            starttls: raw.starttls.unwrap_or(false),
            labels: raw
                .labels
                .iter()
                .map(|l| (l.name.value.clone(), l.value.clone()))
                .collect(),
        });
    }
    (steps, problems)
}

/// A Prometheus label name.
fn valid_label(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{CheckSpec, Config};

    fn errors(text: &str) -> Vec<String> {
        match Config::parse("t.yaml", text, Path::new(".")) {
            Ok(c) => panic!("expected errors, got {c:?}"),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn query_response_tls_and_tls_config_become_a_dialogue() {
        let c = Config::parse(
            "t.yaml",
            "checks:\n  - name: mail\n    tcp:\n      address: '127.0.0.1:25'\n      query_response:\n        - expect: '^220 (?P<host>\\S+)'\n          send: 'EHLO $host'\n          labels: [{ name: mx, value: '$host' }]\n        - starttls: true\n      tls_config: { server_name: mx.test, insecure_skip_verify: true }\n  - name: plain\n    tcp: { address: '127.0.0.1:22' }\n",
            Path::new("."),
        )
        .unwrap();
        let CheckSpec::Tcp {
            dialogue: Some(d), ..
        } = &c.checks[0].spec
        else {
            panic!("{:?}", c.checks[0].spec);
        };
        assert!(!d.tls);
        assert_eq!(d.steps.len(), 2);
        assert_eq!(d.steps[0].send.as_deref(), Some("EHLO $host"));
        assert_eq!(d.steps[0].labels, vec![("mx".into(), "$host".into())]);
        assert!(d.steps[1].starttls);
        assert_eq!(d.tls_config.server_name.as_deref(), Some("mx.test"));
        assert!(d.tls_config.insecure_skip_verify);
        let options = d.options().unwrap();
        assert_eq!(options.script.steps.len(), 2);
        assert!(matches!(
            c.checks[1].spec,
            CheckSpec::Tcp { dialogue: None, .. }
        ));
    }

    #[test]
    fn every_dialogue_problem_names_its_line_and_key() {
        let e = errors(
            "checks:\n  - name: mail\n    tcp:\n      address: '127.0.0.1:25'\n      tls: true\n      query_response:\n        - expect: '^2(20'\n        - starttls: true\n          labels: [{ name: 1x, value: v }]\n      tls_config: { ca_file: no-such-ca.pem, server_name: 'bad name' }\n",
        );
        let want = [
            "t.yaml:7: checks[0].tcp.query_response[0].expect: invalid regular expression",
            "t.yaml:7: checks[0].tcp.query_response: starttls on a connection that is TLS from the start",
            "t.yaml:9: checks[0].tcp.query_response[1].labels: labels need an `expect`",
            "t.yaml:9: checks[0].tcp.query_response[1].labels[0].name: invalid label name \"1x\"",
            "t.yaml:10: checks[0].tcp.tls_config.ca_file: ",
        ];
        for w in want {
            assert!(e.iter().any(|e| e.starts_with(w)), "{w}\n{e:#?}");
        }
        let e = errors(
            "checks:\n  - name: mail\n    tcp:\n      address: '127.0.0.1:25'\n      query_response:\n        - { expect: x, sned: y }\n",
        );
        assert!(e[0].contains("unknown field `sned`"), "{e:?}");
        let e = errors(
            "checks:\n  - name: mail\n    tcp:\n      address: '127.0.0.1:25'\n      tls_config: { server_name: 'bad name' }\n",
        );
        assert!(
            e[0].starts_with("t.yaml:5: checks[0].tcp.tls_config.server_name: \"bad name\""),
            "{e:?}"
        );
    }
}
