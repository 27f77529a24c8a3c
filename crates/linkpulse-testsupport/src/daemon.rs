//! `linkpulse serve` (the real binary) under test: started on a config, its HTTP address read
//! from the one stable log line `linkpulse listening on http=ADDR …`, asked over HTTP, and
//! killed on drop (it is a [`LinkpulseProcess`]).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use serde_json::Value;

use crate::bin::LinkpulseProcess;
use crate::http;
use crate::netns::Namespace;
use crate::wait::eventually_some;

/// A running `linkpulse serve`.
#[derive(Debug)]
pub struct Daemon {
    process: LinkpulseProcess,
    addr: SocketAddr,
    /// The network namespace it runs in (its bind-mount path), when not this process's.
    netns: Option<PathBuf>,
}

/// The HTTP address in a `linkpulse listening on http=ADDR …` (or `https=ADDR`) line of
/// `log`.
pub fn listening_addr(log: &str) -> Option<SocketAddr> {
    log.lines().find_map(|l| {
        let rest = l.split("linkpulse listening on ").nth(1)?;
        rest.strip_prefix("http=")
            .or_else(|| rest.strip_prefix("https="))?
            .split_whitespace()
            .next()?
            .trim_matches(|c: char| c == '"' || c == ',')
            .parse()
            .ok()
    })
}

impl Daemon {
    /// Starts `bin serve --config CONFIG EXTRA…` and waits (60 s) for its listening line.
    pub fn start(bin: impl AsRef<Path>, config: &Path, extra: &[&str]) -> io::Result<Daemon> {
        let mut command = Command::new(bin.as_ref());
        command.args(["serve", "--config"]).arg(config).args(extra);
        Daemon::spawn(command)
    }

    /// Starts a prepared `serve` command (its own environment …) and waits (60 s) for its
    /// listening line.
    pub fn spawn(command: Command) -> io::Result<Daemon> {
        let process = LinkpulseProcess::spawn(command)?;
        let mut found = None;
        // Generous: a daemon on PostgreSQL connects first, on a busy machine.
        let ok = crate::eventually(Duration::from_secs(60), || {
            found = listening_addr(&process.stderr());
            found.is_some() || process_exited(&process)
        });
        match found {
            Some(addr) if ok => Ok(Daemon {
                process,
                addr,
                netns: None,
            }),
            _ => Err(io::Error::other(format!(
                "linkpulse serve did not report its address; stderr: {}",
                process.stderr()
            ))),
        }
    }

    /// Starts a prepared `serve` command inside network namespace `ns` (through
    /// `ip netns exec`, keeping the command's arguments, environment and directory) and waits
    /// (60 s) for its listening line. Its HTTP API is then asked from inside `ns`, so a
    /// daemon listening on the namespace's loopback is reachable.
    pub fn spawn_in(ns: &Namespace, command: &Command) -> io::Result<Daemon> {
        let mut inner = ns.command(command.get_program());
        inner.args(command.get_args());
        for (key, value) in command.get_envs() {
            match value {
                Some(v) => inner.env(key, v),
                None => inner.env_remove(key),
            };
        }
        if let Some(dir) = command.get_current_dir() {
            inner.current_dir(dir);
        }
        let mut daemon = Daemon::spawn(inner)?;
        daemon.netns = Some(ns.path());
        Ok(daemon)
    }

    /// The HTTP API's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The process (its stderr, exit …).
    pub fn process(&mut self) -> &mut LinkpulseProcess {
        &mut self.process
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn log(&self) -> String {
        self.process.stderr()
    }

    /// `METHOD path` with `headers`: status and body (panics if the daemon does not answer).
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let addr = self.addr;
        let ask = || http::request(addr, method, path, headers, "");
        let r = match &self.netns {
            None => ask(),
            // A fresh thread enters the namespace, so the caller's stays where it is.
            Some(ns) => std::thread::scope(|scope| {
                scope
                    .spawn(|| crate::sys::enter_netns(ns).and_then(|()| ask()))
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("the request thread panicked")))
            }),
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        (r.status, r.body)
    }

    /// `GET path`: status and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, &[])
    }

    /// `GET path`, which must answer 200 with JSON.
    pub fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// Check `name` as `/api/v1/checks/NAME` shows it.
    pub fn check(&self, name: &str) -> Value {
        self.json(&format!("/api/v1/checks/{name}"))
    }

    /// The state of check `name`.
    pub fn state(&self, name: &str) -> String {
        self.check(name)["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits (30 s) until check `name` is in state `want`.
    pub fn wait_state(&self, name: &str, want: &str) {
        eventually_some(&format!("{name} {want}"), Duration::from_secs(30), || {
            (self.state(name) == want).then_some(())
        });
    }

    /// SIGTERM, then waits (30 s) for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        let pid = self.process.pid().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.process
            .wait_exit(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("no exit after SIGTERM: {e}"))
            .status
    }

    /// SIGKILL (a crash).
    pub fn kill9(mut self) {
        self.process.kill();
    }
}

fn process_exited(process: &LinkpulseProcess) -> bool {
    // A daemon that exits never prints the line; its stderr says why.
    let pid = process.pid();
    !Path::new(&format!("/proc/{pid}")).exists()
        || std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_line_is_read_in_text_and_json_logs() {
        let text = "x\nlinkpulse listening on http=127.0.0.1:4321 hub=127.0.0.1:7\n";
        assert_eq!(
            listening_addr(text),
            Some("127.0.0.1:4321".parse().unwrap())
        );
        assert_eq!(listening_addr("nothing"), None);
    }
}
