//! A TCP dialogue as a sans-IO script runner: blackbox_exporter's `query_response` (a list of
//! steps, each with an optional `expect` regex, `send` text and `starttls`).
//!
//! [`Dialogue`] is fed the bytes read from the connection ([`Dialogue::handle_bytes`],
//! [`Dialogue::handle_eof`]) and tells the driver what to do next ([`Dialogue::next_action`]):
//! read more, send bytes, start TLS, or stop with success or a [`DialogueFailure`]. It has no
//! clock and no socket; the driver (`crate::conversation`) owns both.
//!
//! Semantics follow blackbox_exporter's TCP prober: an `expect` reads lines (without their
//! `\r\n`) until one matches, and fails when the connection closes first; `send` is expanded
//! with the match's capture groups (`$1`, `${name}`) and sent with a `\n`; `labels` are
//! expanded the same way and reported (`probe_expect_info`); `starttls` upgrades the
//! connection after the step's send, dropping whatever was buffered in plain text.
//!
//! ```
//! use linkpulse_probe::dialogue::{Action, Dialogue, Script, Step};
//!
//! let script = Script::new(vec![
//!     Step::expect("^220 ").unwrap().then_send("EHLO monitor"),
//!     Step::expect("^250 ").unwrap(),
//! ]);
//! let mut d = Dialogue::new(&script);
//! assert_eq!(d.next_action(), Action::Read);
//! d.handle_bytes(b"220 mail.example ESMTP\r\n");
//! assert_eq!(d.next_action(), Action::Send(b"EHLO monitor\n".to_vec()));
//! d.handle_bytes(b"250-mail.example\r\n250 OK\r\n");
//! assert_eq!(d.next_action(), Action::Done);
//! ```

use std::fmt;

use regex::bytes::Regex;

/// The longest line an `expect` waits for (blackbox_exporter's scanner limit, 64 KiB).
pub const MAX_LINE: usize = 64 * 1024;

/// What to send in a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Text expanded with the step's capture groups, then sent followed by `\n`.
    Template(String),
    /// Bytes sent as they are (a protocol's own framing, e.g. RESP for Redis).
    Raw(Vec<u8>),
}

/// One step of a [`Script`]: expect, then send, then start TLS; each part optional.
#[derive(Debug, Clone)]
pub struct Step {
    /// Lines are read until one matches.
    pub expect: Option<Regex>,
    /// A line matching this ends the dialogue with [`DialogueFailure::Refused`] (checked
    /// before `expect`): a protocol's error reply, such as Redis's `-ERR`.
    pub fail_on: Option<Regex>,
    /// Sent after the match (or at once without `expect`).
    pub send: Option<Payload>,
    /// Upgrade the connection to TLS after the send.
    pub starttls: bool,
    /// `(name, value template)` reported with the expanded value after the match.
    pub labels: Vec<(String, String)>,
}

impl Step {
    /// A step that expects a line matching `pattern`.
    pub fn expect(pattern: &str) -> Result<Step, regex::Error> {
        Ok(Step {
            expect: Some(Regex::new(pattern)?),
            ..Step::empty()
        })
    }

    /// A step that sends `text` (expanded, then `\n`).
    pub fn send(text: impl Into<String>) -> Step {
        Step::empty().then_send(text)
    }

    /// A step that sends `bytes` as they are.
    pub fn send_raw(bytes: impl Into<Vec<u8>>) -> Step {
        Step {
            send: Some(Payload::Raw(bytes.into())),
            ..Step::empty()
        }
    }

    /// A step that upgrades the connection to TLS.
    pub fn starttls() -> Step {
        Step {
            starttls: true,
            ..Step::empty()
        }
    }

    /// A step that does nothing (fill in the fields).
    pub fn empty() -> Step {
        Step {
            expect: None,
            fail_on: None,
            send: None,
            starttls: false,
            labels: Vec::new(),
        }
    }

    /// This step, also sending `text` (expanded, then `\n`) after its match.
    pub fn then_send(mut self, text: impl Into<String>) -> Step {
        self.send = Some(Payload::Template(text.into()));
        self
    }

    /// This step, also failing on a line that matches `pattern`.
    pub fn fail_on(mut self, pattern: &str) -> Result<Step, regex::Error> {
        self.fail_on = Some(Regex::new(pattern)?);
        Ok(self)
    }
}

/// The steps of a dialogue, in order.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// The steps.
    pub steps: Vec<Step>,
}

impl Script {
    /// A script of `steps`.
    pub fn new(steps: Vec<Step>) -> Script {
        Script { steps }
    }

    /// Whether the script has no step (a plain connect).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Whether any step upgrades to TLS.
    pub fn has_starttls(&self) -> bool {
        self.steps.iter().any(|s| s.starttls)
    }
}

/// What the driver does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Read from the connection and call [`Dialogue::handle_bytes`] or
    /// [`Dialogue::handle_eof`].
    Read,
    /// Write these bytes.
    Send(Vec<u8>),
    /// Upgrade the connection to TLS, then call [`Dialogue::handle_tls_started`].
    StartTls,
    /// The script completed.
    Done,
    /// The dialogue failed.
    Failed(DialogueFailure),
}

/// Why a dialogue failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogueFailure {
    /// The connection closed before a line matched step `step`'s `expect` (blackbox's
    /// `probe_failed_due_to_regex`).
    NoMatch {
        /// Index of the step (0-based).
        step: usize,
        /// The regex.
        pattern: String,
        /// The last line read, if any (lossy UTF-8, at most 200 characters).
        last_line: Option<String>,
    },
    /// A line matched step `step`'s `fail_on`.
    Refused {
        /// Index of the step (0-based).
        step: usize,
        /// The line (lossy UTF-8, at most 200 characters).
        line: String,
    },
    /// A line longer than [`MAX_LINE`] bytes.
    LineTooLong,
}

impl fmt::Display for DialogueFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialogueFailure::NoMatch {
                step,
                pattern,
                last_line,
            } => {
                write!(
                    f,
                    "step {}: expected a line matching /{pattern}/, the connection closed",
                    step + 1
                )?;
                match last_line {
                    Some(l) => write!(f, " (last line {l:?})"),
                    None => write!(f, " before any line"),
                }
            }
            DialogueFailure::Refused { step, line } => {
                write!(f, "step {}: the server answered {line:?}", step + 1)
            }
            DialogueFailure::LineTooLong => {
                write!(f, "a line is longer than {MAX_LINE} bytes")
            }
        }
    }
}

/// Where the runner is within the current step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the step's `expect` to match (or about to skip it).
    Expect,
    /// The send (if any) is next.
    Send,
    /// The TLS upgrade (if any) is next.
    StartTls,
    /// Waiting for [`Dialogue::handle_tls_started`].
    AwaitTls,
    /// Finished or failed: the action is repeated.
    Over,
}

/// The state of one run of a [`Script`]; see the module docs for the call order.
#[derive(Debug)]
pub struct Dialogue<'a> {
    script: &'a Script,
    /// Index of the current step.
    step: usize,
    phase: Phase,
    /// Bytes read and not yet split into lines.
    buf: Vec<u8>,
    /// The peer closed its side.
    eof: bool,
    /// The current step's send, expanded with its match.
    pending_send: Option<Vec<u8>>,
    /// The last line read (for failure messages).
    last_line: Option<Vec<u8>>,
    /// Expanded labels of every matched step, in order.
    labels: Vec<(String, String)>,
    /// The final action once [`Phase::Over`].
    end: Option<Action>,
}

impl<'a> Dialogue<'a> {
    /// A run of `script` from its first step.
    pub fn new(script: &'a Script) -> Dialogue<'a> {
        Dialogue {
            script,
            step: 0,
            phase: Phase::Expect,
            buf: Vec::new(),
            eof: false,
            pending_send: None,
            last_line: None,
            labels: Vec::new(),
            end: None,
        }
    }

    /// Bytes read from the connection.
    pub fn handle_bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The peer closed the connection (a read returned 0 bytes).
    pub fn handle_eof(&mut self) {
        self.eof = true;
    }

    /// The TLS upgrade the last [`Action::StartTls`] asked for is done: what was buffered in
    /// plain text is dropped and the next step begins.
    pub fn handle_tls_started(&mut self) {
        if self.phase == Phase::AwaitTls {
            self.buf.clear();
            self.eof = false;
            self.advance();
        }
    }

    /// The labels of every matched step, expanded (`probe_expect_info`).
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    /// Which step the dialogue is at (0-based; the step count once done).
    pub fn step(&self) -> usize {
        self.step
    }

    /// What the driver does next.
    pub fn next_action(&mut self) -> Action {
        loop {
            let Some(step) = self.script.steps.get(self.step) else {
                return self.finish(Action::Done);
            };
            match self.phase {
                Phase::Over => return self.end.clone().unwrap_or(Action::Done),
                Phase::AwaitTls => return Action::StartTls,
                Phase::Expect => {
                    if step.expect.is_none() && step.fail_on.is_none() {
                        self.pending_send = step.send.as_ref().map(|s| render(s, None));
                        self.phase = Phase::Send;
                        continue;
                    }
                    match self.match_line(step) {
                        Some(action) => return action,
                        None => continue,
                    }
                }
                Phase::Send => {
                    self.phase = Phase::StartTls;
                    if let Some(bytes) = self.pending_send.take() {
                        return Action::Send(bytes);
                    }
                }
                Phase::StartTls => {
                    if step.starttls {
                        self.phase = Phase::AwaitTls;
                        return Action::StartTls;
                    }
                    self.advance();
                }
            }
        }
    }

    /// Consumes lines for the current step's `expect`; `None` once it matched (the phase
    /// moved on), or the action to return (read more, or a failure).
    fn match_line(&mut self, step: &Step) -> Option<Action> {
        loop {
            let Some(line) = self.take_line() else {
                if self.buf.len() > MAX_LINE {
                    return Some(self.finish(Action::Failed(DialogueFailure::LineTooLong)));
                }
                if self.eof {
                    let failure = match &step.expect {
                        Some(re) => DialogueFailure::NoMatch {
                            step: self.step,
                            pattern: re.as_str().to_owned(),
                            last_line: self.last_line.as_deref().map(shown),
                        },
                        // Only a `fail_on`: the connection closing is not a failure of it.
                        None => {
                            self.phase = Phase::Send;
                            self.pending_send = step.send.as_ref().map(|s| render(s, None));
                            return None;
                        }
                    };
                    return Some(self.finish(Action::Failed(failure)));
                }
                return Some(Action::Read);
            };
            if let Some(fail) = &step.fail_on
                && fail.is_match(&line)
            {
                let failure = DialogueFailure::Refused {
                    step: self.step,
                    line: shown(&line),
                };
                self.last_line = Some(line);
                return Some(self.finish(Action::Failed(failure)));
            }
            let caps = match &step.expect {
                Some(re) => re.captures(&line),
                None => None,
            };
            if let Some(caps) = caps {
                for (name, template) in &step.labels {
                    let mut value = Vec::new();
                    caps.expand(template.as_bytes(), &mut value);
                    self.labels
                        .push((name.clone(), String::from_utf8_lossy(&value).into_owned()));
                }
                self.pending_send = step.send.as_ref().map(|s| render(s, Some(&caps)));
                self.phase = Phase::Send;
                self.last_line = Some(line);
                return None;
            }
            self.last_line = Some(line);
        }
    }

    /// The next complete line of the buffer without its `\n` / `\r\n`; at EOF the rest.
    fn take_line(&mut self) -> Option<Vec<u8>> {
        if let Some(at) = self.buf.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.buf.drain(..=at).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Some(line);
        }
        if self.eof && !self.buf.is_empty() {
            let mut line = std::mem::take(&mut self.buf);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Some(line);
        }
        None
    }

    fn advance(&mut self) {
        self.step += 1;
        self.phase = Phase::Expect;
    }

    fn finish(&mut self, action: Action) -> Action {
        self.phase = Phase::Over;
        self.end = Some(action.clone());
        action
    }
}

/// The bytes of `send`, expanded with `caps` when there was a match.
fn render(send: &Payload, caps: Option<&regex::bytes::Captures<'_>>) -> Vec<u8> {
    match send {
        Payload::Raw(bytes) => bytes.clone(),
        Payload::Template(text) => {
            let mut out = Vec::new();
            match caps {
                Some(caps) => caps.expand(text.as_bytes(), &mut out),
                None => out.extend_from_slice(text.as_bytes()),
            }
            out.push(b'\n');
            out
        }
    }
}

/// A line as shown in messages: lossy UTF-8, at most 200 characters.
fn shown(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp() -> Script {
        let mut ehlo = Step::expect("^220 (?P<host>\\S+)")
            .unwrap()
            .then_send("EHLO ${host}");
        ehlo.labels.push(("banner_host".into(), "${host}".into()));
        Script::new(vec![
            ehlo,
            Step::expect("^250[ -]STARTTLS")
                .unwrap()
                .then_send("STARTTLS"),
            Step {
                starttls: true,
                ..Step::expect("^220").unwrap()
            },
            Step::send("QUIT"),
        ])
    }

    #[test]
    fn smtp_starttls_runs_in_order_with_captures_and_labels() {
        let script = smtp();
        let mut d = Dialogue::new(&script);
        assert_eq!(d.next_action(), Action::Read);
        // The banner arrives in two pieces.
        d.handle_bytes(b"220 mx.test");
        assert_eq!(d.next_action(), Action::Read);
        d.handle_bytes(b" ESMTP\r\n");
        assert_eq!(d.next_action(), Action::Send(b"EHLO mx.test\n".to_vec()));
        d.handle_bytes(b"250-mx.test\r\n250-SIZE 1000\r\n250 STARTTLS\r\n");
        assert_eq!(d.next_action(), Action::Send(b"STARTTLS\n".to_vec()));
        d.handle_bytes(b"220 go ahead\r\nleftover plain text\r\n");
        assert_eq!(d.next_action(), Action::StartTls);
        assert_eq!(d.next_action(), Action::StartTls, "repeated until started");
        d.handle_tls_started();
        assert_eq!(d.next_action(), Action::Send(b"QUIT\n".to_vec()));
        assert_eq!(d.next_action(), Action::Done);
        assert_eq!(d.labels(), &[("banner_host".into(), "mx.test".into())]);
    }

    #[test]
    fn a_missing_match_names_the_step_pattern_and_last_line() {
        let script = Script::new(vec![Step::expect("^SSH-2\\.0-").unwrap()]);
        let mut d = Dialogue::new(&script);
        assert_eq!(d.next_action(), Action::Read);
        d.handle_bytes(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        assert_eq!(d.next_action(), Action::Read);
        d.handle_eof();
        let Action::Failed(failure) = d.next_action() else {
            panic!("expected a failure");
        };
        assert_eq!(
            failure,
            DialogueFailure::NoMatch {
                step: 0,
                pattern: "^SSH-2\\.0-".into(),
                last_line: Some(String::new()),
            }
        );
        assert!(failure.to_string().contains("step 1"), "{failure}");
        // Over: the same answer again.
        assert!(matches!(d.next_action(), Action::Failed(_)));
    }

    #[test]
    fn a_last_line_without_newline_still_counts_at_eof() {
        let script = Script::new(vec![Step::expect("^\\+PONG$").unwrap()]);
        let mut d = Dialogue::new(&script);
        d.handle_bytes(b"+PONG");
        assert_eq!(d.next_action(), Action::Read);
        d.handle_eof();
        assert_eq!(d.next_action(), Action::Done);
    }

    #[test]
    fn fail_on_stops_at_an_error_reply() {
        let script = Script::new(vec![
            Step::send_raw(b"PING\r\n".to_vec()),
            Step::expect("^\\+PONG").unwrap().fail_on("^-").unwrap(),
        ]);
        let mut d = Dialogue::new(&script);
        assert_eq!(d.next_action(), Action::Send(b"PING\r\n".to_vec()));
        assert_eq!(d.next_action(), Action::Read);
        d.handle_bytes(b"-NOAUTH Authentication required.\r\n");
        assert_eq!(
            d.next_action(),
            Action::Failed(DialogueFailure::Refused {
                step: 1,
                line: "-NOAUTH Authentication required.".into()
            })
        );
    }

    #[test]
    fn an_endless_line_fails_instead_of_growing() {
        let script = Script::new(vec![Step::expect("x").unwrap()]);
        let mut d = Dialogue::new(&script);
        d.handle_bytes(&vec![b'a'; MAX_LINE + 1]);
        assert_eq!(
            d.next_action(),
            Action::Failed(DialogueFailure::LineTooLong)
        );
    }

    #[test]
    fn an_empty_script_is_done_at_once() {
        let script = Script::default();
        assert_eq!(Dialogue::new(&script).next_action(), Action::Done);
    }
}
