//! A real SMTP server for email alert tests: Python's `aiosmtpd` (from PyPI) with STARTTLS
//! or implicit TLS on a certificate of the test CA, `AUTH` required for one user; each mail
//! it accepts is kept (raw message and envelope) for the test to parse. Killed on drop.

use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::servers::Identity;

/// The server script (aiosmtpd).
const SCRIPT: &str = include_str!("server.py");

/// How clients secure the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain first, `STARTTLS` required before `AUTH` and mail.
    Starttls,
    /// TLS from the first byte.
    Implicit,
}

/// One mail received.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The message as sent (headers and body, CRLF lines).
    pub raw: String,
    /// `MAIL FROM`.
    pub mail_from: String,
    /// `RCPT TO`s.
    pub rcpt_tos: Vec<String>,
    /// Whether the client had authenticated.
    pub authenticated: bool,
    /// Whether the session was over TLS.
    pub tls: bool,
}

impl Mail {
    /// The value of header `name` (first one, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\r\n\r\n").next()?;
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        let prefix = format!("{}:", name.to_ascii_lowercase());
        unfolded
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }

    /// The body (after the blank line), decoded when it is quoted-printable.
    pub fn body(&self) -> String {
        let body = self.raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let qp = self
            .header("content-transfer-encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if qp {
            quoted_printable(body)
        } else {
            body.to_owned()
        }
    }
}

/// A running SMTP server.
#[derive(Debug)]
pub struct SmtpServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    /// Starts the server on `127.0.0.1` (a free port) with `identity`'s certificate,
    /// accepting `user`/`password`.
    pub fn start(
        identity: &Identity,
        tls: SmtpTls,
        user: &str,
        password: &str,
    ) -> io::Result<SmtpServer> {
        let dir = tempfile::tempdir()?;
        let script = dir.path().join("server.py");
        std::fs::write(&script, SCRIPT)?;
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, &identity.cert_pem)?;
        std::fs::write(&key, &identity.key_pem)?;
        let out = dir.path().join("mail");
        std::fs::create_dir(&out)?;
        let mode = match tls {
            SmtpTls::Starttls => "starttls",
            SmtpTls::Implicit => "tls",
        };
        let mut child = Command::new("python3")
            .arg(&script)
            .args([&cert, &key])
            .args([user, password])
            .arg(&out)
            .arg(mode)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("server.log"))?)
            .spawn()?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            BufReader::new(stdout).read_line(&mut line)?;
        }
        let Ok(port) = line.trim().parse::<u16>() else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            return Err(io::Error::other(format!(
                "the aiosmtpd server did not start (is aiosmtpd installed? pip install aiosmtpd): {log}"
            )));
        };
        Ok(SmtpServer { child, port, dir })
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The mails received so far, oldest first.
    pub fn mails(&self) -> Vec<Mail> {
        let out = self.dir.path().join("mail");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&out)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        names.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        names.sort();
        names.iter().filter_map(|p| read_mail(p)).collect()
    }
}

/// Decodes quoted-printable text (RFC 2045): soft line breaks joined, `=XX` bytes decoded.
fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_mail(eml: &Path) -> Option<Mail> {
    let raw = std::fs::read_to_string(eml).ok()?;
    let envelope: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(eml.with_extension("json")).ok()?).ok()?;
    Some(Mail {
        raw,
        mail_from: envelope["mail_from"].as_str().unwrap_or("").to_owned(),
        rcpt_tos: envelope["rcpt_tos"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        authenticated: envelope["authenticated"].as_bool().unwrap_or(false),
        tls: envelope["tls"].as_bool().unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoted_printable_is_decoded() {
        assert_eq!(
            super::quoted_printable("team=3Ddb =E2=80=94 lo=\r\nng"),
            "team=db — long"
        );
    }
}
