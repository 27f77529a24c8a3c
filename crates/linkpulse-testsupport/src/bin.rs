//! Running the real `linkpulse` binary from tests: capture its output, wait for a line with a
//! deadline, kill it on drop.
//!
//! The caller passes the binary path (`env!("CARGO_BIN_EXE_linkpulse")` in the `linkpulse`
//! crate's integration tests), optionally a namespace to run it in (`ip netns exec`).

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::netns::Namespace;

pub use crate::wait::{eventually, eventually_async, eventually_some};

/// A running `linkpulse` process with its stdout read line by line.
///
/// Dropping it kills the process (SIGKILL) and reaps it.
#[derive(Debug)]
pub struct LinkpulseProcess {
    child: Child,
    command_line: String,
    /// Lines arrive here from a reader thread; disconnected at end of stdout.
    incoming: Receiver<String>,
    /// Every stdout line received so far.
    seen: Vec<String>,
    /// Everything written to stderr so far.
    stderr: Arc<Mutex<String>>,
    /// The thread copying stderr; finished once stderr closes.
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

/// What a process left behind once it exited.
#[derive(Debug, Clone)]
pub struct Finished {
    /// How it exited.
    pub status: ExitStatus,
    /// Its stdout, one entry per line, without line endings.
    pub stdout: Vec<String>,
    /// Its whole stderr.
    pub stderr: String,
}

impl Finished {
    /// The exit code, or `None` if a signal ended the process.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Parses every stdout line that is a JSON value (for `--output json`); other lines are
    /// skipped.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

impl LinkpulseProcess {
    /// Starts `bin ARGS…`, inside `netns` when given (through `ip netns exec`), with stdout
    /// and stderr captured and stdin closed.
    pub fn start(
        bin: impl AsRef<Path>,
        args: &[&str],
        netns: Option<&Namespace>,
    ) -> io::Result<Self> {
        let bin = bin.as_ref();
        let mut command = match netns {
            Some(ns) => ns.command(bin),
            None => Command::new(bin),
        };
        command.args(args);
        Self::spawn(command)
    }

    /// Starts a prepared `command` (its own environment, working directory…) with stdout and
    /// stderr captured and stdin closed.
    pub fn spawn(command: Command) -> io::Result<Self> {
        Self::spawn_with_stdout(command, Stdio::piped())
    }

    /// Runs `bin ARGS…` to completion with stdout a pipe nobody reads any more (its reading
    /// end closed before the start, as after `| head -c 10` has exited: every write fails with
    /// `EPIPE`), stderr captured; kills it and fails with `TimedOut` after `deadline`.
    pub fn run_with_closed_stdout(
        bin: impl AsRef<Path>,
        args: &[&str],
        deadline: Duration,
    ) -> io::Result<Finished> {
        let (reader, writer) = io::pipe()?;
        drop(reader);
        let mut command = Command::new(bin.as_ref());
        command.args(args);
        Self::spawn_with_stdout(command, Stdio::from(writer))?.wait_exit(deadline)
    }

    fn spawn_with_stdout(mut command: Command, stdout: Stdio) -> io::Result<Self> {
        command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped());
        let command_line = format!("{command:?}");
        let mut child = command.spawn()?;
        let (tx, incoming) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut stderr_reader = None;
        if let Some(mut pipe) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            stderr_reader = Some(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut buf) {
                    if let Ok(mut text) = sink.lock() {
                        text.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            }));
        }
        Ok(Self {
            child,
            command_line,
            incoming,
            seen: Vec::new(),
            stderr,
            stderr_reader,
        })
    }

    /// Runs `bin ARGS…` to completion (inside `netns` when given) and returns its output;
    /// kills it and fails with `TimedOut` if it has not exited within `deadline`.
    pub fn run(
        bin: impl AsRef<Path>,
        args: &[&str],
        netns: Option<&Namespace>,
        deadline: Duration,
    ) -> io::Result<Finished> {
        let mut process = Self::start(bin, args, netns)?;
        process.wait_exit(deadline)
    }

    /// Sends SIGINT, as Ctrl-C in a terminal does.
    pub fn interrupt(&self) -> io::Result<()> {
        let status = Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "kill -INT {}: {status}",
                self.pid()
            )))
        }
    }

    /// Whether the process has installed a handler for SIGINT (bit 2 of `SigCgt` in
    /// `/proc/PID/status`), so a test can wait for it before pressing "Ctrl-C".
    pub fn catches_sigint(&self) -> bool {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", self.pid())) else {
            return false;
        };
        status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .is_some_and(|mask| mask & (1 << (2 - 1)) != 0)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every stdout line received so far.
    pub fn lines(&self) -> &[String] {
        &self.seen
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits until a stdout line satisfies `pred` and returns it, or `None` once `deadline`
    /// has passed or stdout has closed. Lines already seen are checked first.
    pub fn wait_for_line(
        &mut self,
        deadline: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Option<String> {
        if let Some(line) = self.seen.iter().find(|l| pred(l)) {
            return Some(line.clone());
        }
        let end = Instant::now() + deadline;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.incoming.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return Some(line);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Waits until a stdout line is a JSON value satisfying `pred` (for `--output json`) and
    /// returns it, or `None` once `deadline` has passed or stdout has closed.
    pub fn wait_for_json(
        &mut self,
        deadline: Duration,
        mut pred: impl FnMut(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let line = self.wait_for_line(deadline, |line| {
            serde_json::from_str(line).is_ok_and(|v: serde_json::Value| pred(&v))
        })?;
        serde_json::from_str(&line).ok()
    }

    /// Waits for the process to exit (killing it if `deadline` passes first, which is an
    /// `ErrorKind::TimedOut` error naming the command and quoting its output).
    pub fn wait_exit(&mut self, deadline: Duration) -> io::Result<Finished> {
        let end = Instant::now() + deadline;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() >= end {
                self.kill();
                self.drain(Duration::from_millis(200));
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} did not exit within {deadline:?}; stdout: {:?}; stderr: {:?}",
                        self.command_line,
                        self.seen,
                        self.stderr()
                    ),
                ));
            }
            // Polling the exit status; the pipes are read by their own threads meanwhile.
            std::thread::sleep(Duration::from_millis(5));
        };
        // The writer is gone: the reader thread finishes as soon as the pipe is drained.
        self.drain(Duration::from_secs(5));
        if let Some(reader) = &self.stderr_reader {
            eventually(Duration::from_secs(5), || reader.is_finished());
        }
        Ok(Finished {
            status,
            stdout: self.seen.clone(),
            stderr: self.stderr(),
        })
    }

    /// Moves lines already sent by the reader thread into `seen`, until stdout closes or
    /// `limit` passes.
    fn drain(&mut self, limit: Duration) {
        let end = Instant::now() + limit;
        while let Ok(line) = self
            .incoming
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
    }

    /// Sends SIGKILL and reaps the process (no-op if it already exited).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LinkpulseProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `BIN config check CONFIG` to its end: whether it accepted the file, and its stderr
/// (where the `file:line: key: message` errors go).
pub fn config_check(bin: &str, config: &Path) -> io::Result<(bool, String)> {
    let out = Command::new(bin)
        .args(["config", "check"])
        .arg(config)
        .output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_a_line_and_collects_the_rest() {
        let mut p = LinkpulseProcess::start(
            "sh",
            &[
                "-c",
                "echo one; echo '{\"up\":true}'; echo oops >&2; exit 2",
            ],
            None,
        )
        .unwrap();
        assert_eq!(
            p.wait_for_line(Duration::from_secs(10), |l| l.contains("up")),
            Some("{\"up\":true}".to_owned())
        );
        let done = p.wait_exit(Duration::from_secs(10)).unwrap();
        assert_eq!(done.code(), Some(2));
        assert_eq!(done.stdout, ["one", "{\"up\":true}"]);
        assert_eq!(done.json_lines(), [serde_json::json!({"up": true})]);
        assert_eq!(done.stderr, "oops\n");
    }

    #[test]
    fn a_process_that_hangs_is_killed_at_the_deadline() {
        let start = Instant::now();
        let err =
            LinkpulseProcess::run("sleep", &["30"], None, Duration::from_millis(200)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("sleep"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn waits_for_a_json_line() {
        let script = "echo 'not json'; echo '{\"event\":\"a\"}'; echo '{\"event\":\"b\"}'";
        let mut p = LinkpulseProcess::start("sh", &["-c", script], None).unwrap();
        let b = p.wait_for_json(Duration::from_secs(10), |v| v["event"] == "b");
        assert_eq!(b, Some(serde_json::json!({"event": "b"})));
        assert_eq!(p.lines().len(), 3);
    }

    #[test]
    fn no_matching_line_gives_none() {
        let mut p = LinkpulseProcess::start("sh", &["-c", "echo a"], None).unwrap();
        assert_eq!(p.wait_for_line(Duration::from_secs(5), |l| l == "b"), None);
        assert_eq!(p.lines(), ["a"]);
    }
}
