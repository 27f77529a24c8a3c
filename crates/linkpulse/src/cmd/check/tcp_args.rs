//! Flags of `check tcp`'s dialogue: `--expect`, `--send` and `--starttls` steps in the order
//! given, `--tls` on connect, and the TLS settings.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context;
use linkpulse_probe::dialogue::{Script, Step};
use linkpulse_probe::{ProbeOptions, TcpOptions, TlsOptions};

/// Flags of a TCP probe beyond the connect.
#[derive(Debug, clap::Args)]
pub(crate) struct TcpArgs {
    /// Wait for a line matching the regular expression RE (a dialogue step; steps run in the
    /// order given). Capture groups are usable in a later --send as $1 or ${name}.
    #[arg(long, value_name = "RE", value_parser = parse_expect)]
    expect: Vec<regex::bytes::Regex>,
    /// Send TEXT and a newline (a dialogue step), expanded with the last --expect's captures.
    #[arg(long, value_name = "TEXT")]
    send: Vec<String>,
    /// Upgrade the connection to TLS at this point of the dialogue (SMTP, IMAP, POP3 STARTTLS).
    #[arg(long, action = clap::ArgAction::Count)]
    starttls: u8,
    /// TLS right after the connect (reports the certificate's expiry).
    #[arg(long)]
    tls: bool,
    /// PEM file of CA certificates to trust in addition to the system ones.
    #[arg(long = "ca", value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Do not verify TLS certificates (expiry is still reported).
    #[arg(long)]
    insecure: bool,
    /// The name the server certificate must hold (default: the target's host).
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,
    /// Warn when a TLS certificate expires in fewer than DAYS days.
    #[arg(long, value_name = "DAYS")]
    cert_warn: Option<u32>,
}

/// One dialogue flag as it appears on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flag {
    Expect,
    Send,
    StartTls,
}

impl TcpArgs {
    /// `opts` with the TLS and dialogue of these flags; `argv` gives the order of the steps.
    pub(crate) fn apply(
        &self,
        mut opts: ProbeOptions,
        argv: impl IntoIterator<Item = OsString>,
    ) -> anyhow::Result<ProbeOptions> {
        if let Some(path) = &self.ca_file {
            linkpulse_probe::load_ca_file(path).context("invalid --ca")?;
        }
        let mut expects = self.expect.iter();
        let mut sends = self.send.iter();
        let mut steps = Vec::new();
        for flag in order(argv) {
            match flag {
                Flag::Expect => {
                    if let Some(re) = expects.next() {
                        steps.push(Step {
                            expect: Some(re.clone()),
                            ..Step::empty()
                        });
                    }
                }
                Flag::Send => {
                    if let Some(text) = sends.next() {
                        steps.push(Step::send(text.clone()));
                    }
                }
                Flag::StartTls => steps.push(Step::starttls()),
            }
        }
        opts.tcp = TcpOptions {
            tls: self.tls,
            tls_config: TlsOptions {
                ca_file: self.ca_file.clone(),
                insecure: self.insecure,
                server_name: self.server_name.clone(),
            },
            script: Script::new(steps),
        };
        opts.cert_warn_days = self.cert_warn;
        Ok(opts)
    }
}

/// The dialogue flags of `argv` in order (a flag's value is skipped, so `--send --expect`
/// sends the text `--expect`).
fn order(argv: impl IntoIterator<Item = OsString>) -> Vec<Flag> {
    let mut flags = Vec::new();
    let mut argv = argv.into_iter();
    while let Some(arg) = argv.next() {
        let Some(arg) = arg.to_str().map(str::to_owned) else {
            continue;
        };
        if arg == "--" {
            break;
        }
        let (name, inline_value) = match arg.split_once('=') {
            Some((name, _)) => (name, true),
            None => (arg.as_str(), false),
        };
        let flag = match name {
            "--expect" => Flag::Expect,
            "--send" => Flag::Send,
            "--starttls" => {
                flags.push(Flag::StartTls);
                continue;
            }
            // Every other flag that takes a value: skip it, it may look like a dialogue flag.
            "--timeout" | "--dns-timeout" | "--output" | "--ca" | "--server-name"
            | "--cert-warn" => {
                if !inline_value {
                    argv.next();
                }
                continue;
            }
            _ => continue,
        };
        flags.push(flag);
        if !inline_value {
            argv.next();
        }
    }
    flags
}

fn parse_expect(s: &str) -> Result<regex::bytes::Regex, String> {
    regex::bytes::Regex::new(s).map_err(|e| format!("invalid regular expression: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    #[test]
    fn steps_keep_the_command_line_order() {
        let flags = order(argv(&[
            "linkpulse",
            "check",
            "tcp",
            "h:25",
            "--expect",
            "^220",
            "--send",
            "EHLO x",
            "--expect=STARTTLS",
            "--send",
            "--expect",
            "--starttls",
            "--timeout",
            "--send",
        ]));
        assert_eq!(
            flags,
            vec![
                Flag::Expect,
                Flag::Send,
                Flag::Expect,
                Flag::Send,
                Flag::StartTls
            ]
        );
    }
}
