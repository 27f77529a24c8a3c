//! Email over SMTP (lettre): STARTTLS (the default, on port 587), implicit TLS (`tls: tls`,
//! port 465) or, for a local relay only, none; `AUTH` when a username is given. The subject
//! is the event's title and the body its facts, in plain text.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

use super::Event;
use super::config::{Ctx, S};
use super::http::Failure;
use super::secret::{Revealed, Secret};

/// Timeout of one SMTP exchange step.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// `email:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    host: S<String>,
    port: Option<S<u16>>,
    tls: Option<S<String>>,
    username: Option<String>,
    password_file: Option<S<String>>,
    password_env: Option<S<String>>,
    from: S<String>,
    to: Vec<S<String>>,
    ca_file: Option<S<String>>,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// Plain connection upgraded with `STARTTLS`, which must succeed.
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No TLS at all: a trusted local relay only.
    None,
}

/// An SMTP server and the mail's addresses.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Email {
    /// Server host name (also the name its certificate must carry).
    pub host: String,
    /// Server port.
    pub port: u16,
    /// STARTTLS, TLS or none.
    pub tls: Security,
    /// User for `AUTH`.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for `AUTH`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// Sender.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Extra CA certificates for the server's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

impl Email {
    pub(crate) fn validate(c: &mut Ctx<'_, '_>, raw: &Raw) -> Option<Email> {
        let mut ok = true;
        let host = raw.host.value.trim().to_owned();
        if host.is_empty() {
            c.at(&raw.host, "host", "the host is empty");
            ok = false;
        }
        let tls = match raw.tls.as_ref().map(|t| t.value.trim()) {
            None | Some("starttls") => Some(Security::Starttls),
            Some("tls") => Some(Security::Tls),
            Some("none") => Some(Security::None),
            Some(other) => {
                if let Some(t) = &raw.tls {
                    c.at(
                        t,
                        "tls",
                        format!("unknown tls {other:?} (starttls, tls or none)"),
                    );
                }
                None
            }
        };
        let port = match &raw.port {
            Some(p) if p.value == 0 => {
                c.at(p, "port", "invalid port 0 (1 to 65535)");
                None
            }
            Some(p) => Some(p.value),
            None => tls.map(|t| match t {
                Security::Starttls => 587,
                Security::Tls => 465,
                Security::None => 25,
            }),
        };
        let password = c.secret(
            "password",
            None,
            raw.password_file.as_ref(),
            raw.password_env.as_ref(),
            false,
        );
        let password_written = raw.password_file.is_some() || raw.password_env.is_some();
        if raw.username.is_some() != password_written {
            c.problem("username and password (password_file or password_env) go together");
            ok = false;
        }
        if let Err(e) = raw.from.value.parse::<Mailbox>() {
            c.at(
                &raw.from,
                "from",
                format!("invalid address {:?}: {e}", raw.from.value),
            );
            ok = false;
        }
        if raw.to.is_empty() {
            c.problem("to needs at least one address");
            ok = false;
        }
        for (i, to) in raw.to.iter().enumerate() {
            if let Err(e) = to.value.parse::<Mailbox>() {
                c.at(
                    to,
                    &format!("to[{i}]"),
                    format!("invalid address {:?}: {e}", to.value),
                );
                ok = false;
            }
        }
        let ca_file = c.ca_file(raw.ca_file.as_ref());
        ok.then_some(())?;
        Some(Email {
            host,
            port: port?,
            tls: tls?,
            username: raw.username.clone(),
            password: password?,
            from: raw.from.value.clone(),
            to: raw.to.iter().map(|t| t.value.clone()).collect(),
            ca_file: ca_file?,
        })
    }

    /// The mail of `ev`.
    pub(crate) fn message(&self, ev: &Event) -> Result<Message, String> {
        let mut body = format!("{}\n\n", ev.summary());
        for (k, v) in ev.facts() {
            body.push_str(&format!("{k}: {v}\n"));
        }
        body.push_str(&format!("At: {}\n", ev.at()));
        let mut builder = Message::builder()
            .from(self.from.parse().map_err(|e| format!("from: {e}"))?)
            .subject(format!("[linkpulse] {}", ev.title()))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.parse().map_err(|e| format!("to: {e}"))?);
        }
        builder
            .body(body)
            .map_err(|e| format!("cannot build the mail: {e}"))
    }

    /// Sends the mail of `ev`; returns the server's answer.
    pub(crate) async fn send(&self, ev: &Event, r: &mut Revealed) -> Result<String, Failure> {
        let message = self.message(ev).map_err(Failure::new)?;
        let mut params = TlsParameters::builder(self.host.clone());
        if let Some(ca) = &self.ca_file {
            let pem = linkpulse_sys::file::read_regular(ca, linkpulse_sys::file::SMALL_FILE_LIMIT)
                .map_err(|e| Failure::new(e.to_string()))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| Failure::new(format!("{}: {e}", ca.display())))?;
            params = params.add_root_certificate(cert);
        }
        let params = params
            .build_rustls()
            .map_err(|e| Failure::new(format!("TLS: {e}")))?;
        let tls = match self.tls {
            Security::Starttls => Tls::Required(params),
            Security::Tls => Tls::Wrapper(params),
            Security::None => Tls::None,
        };
        let mut transport =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.as_str())
                .port(self.port)
                .tls(tls)
                .timeout(Some(SMTP_TIMEOUT));
        if let (Some(user), Some(password)) = (&self.username, &self.password) {
            let password = r.reveal(password).map_err(Failure::new)?;
            transport = transport.credentials(Credentials::new(user.clone(), password));
        }
        let transport = transport.build();
        let where_ = format!("smtp://{}:{}", self.host, self.port);
        match transport.send(message).await {
            Ok(answer) => Ok(format!(
                "{where_}: {} {}",
                answer.code(),
                answer.message().collect::<Vec<_>>().join(" ")
            )),
            Err(e) => Err(Failure::new(format!(
                "{where_}: {}",
                linkpulse_probe::client::causes(&e)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::channels::tests::down;

    #[test]
    fn subject_and_body_from_the_event() {
        let m = Email {
            host: "smtp.test".to_owned(),
            port: 587,
            tls: Security::Starttls,
            username: None,
            password: None,
            from: "linkpulse <lp@example.org>".to_owned(),
            to: vec!["ops@example.org".to_owned(), "dba@example.org".to_owned()],
            ca_file: None,
        };
        let text = String::from_utf8(m.message(&down()).unwrap().formatted()).unwrap();
        assert!(
            text.contains("Subject: [linkpulse] db is down\r\n"),
            "{text}"
        );
        assert!(
            text.contains("To: ops@example.org, dba@example.org\r\n"),
            "{text}"
        );
        assert!(text.contains("Diagnosis: process_down"), "{text}");
    }
}
