//! The real Prometheus blackbox_exporter (Debian's `prometheus-blackbox-exporter`), to compare
//! linkpulse's `/probe` with: started on a config on `127.0.0.1:0`, its bound address read from
//! its `Listening on` log line, killed on drop.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::wait::eventually;

/// The exporter's binary name, as Debian installs it.
pub const EXPORTER: &str = "prometheus-blackbox-exporter";

/// The exporter's binary on `PATH`, when installed.
pub fn binary() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(EXPORTER))
            .find(|p| p.is_file())
    })
}

/// `EXPORTER --config.file=CONFIG --config.check`: whether the exporter accepts `config`.
pub fn check_config(binary: &Path, config: &Path) -> io::Result<Output> {
    Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg("--config.check")
        .output()
}

/// The address in the exporter's `msg="Listening on" … address=ADDR` log line.
fn listening_addr(log: &str) -> Option<SocketAddr> {
    log.lines()
        .filter(|l| l.contains("msg=\"Listening on\""))
        .find_map(|l| l.split("address=").nth(1))
        .and_then(|a| a.split_whitespace().next())
        .and_then(|a| a.parse().ok())
}

/// Spawns `command` (a Prometheus exporter-toolkit program told to listen on port 0) with
/// its log in `log`, and waits up to 20 s for its `Listening on` line: the child and the
/// address it bound. Blocks: from async code, call it in `spawn_blocking`.
pub(crate) fn spawn_listening(
    name: &str,
    mut command: Command,
    log: &Path,
) -> io::Result<(Child, SocketAddr)> {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()?;
    let mut found = None;
    let mut exited = None;
    eventually(Duration::from_secs(20), || {
        found = listening_addr(&std::fs::read_to_string(log).unwrap_or_default());
        exited = child.try_wait().ok().flatten();
        found.is_some() || exited.is_some()
    });
    let text = std::fs::read_to_string(log).unwrap_or_default();
    match (found, exited) {
        (Some(addr), _) => Ok((child, addr)),
        (None, Some(status)) => Err(io::Error::other(format!(
            "{name} exited with {status}: {text}"
        ))),
        (None, None) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(io::Error::other(format!(
                "{name} did not log its address within 20 s: {text}"
            )))
        }
    }
}

/// A running blackbox_exporter, killed when dropped.
#[derive(Debug)]
pub struct Exporter {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Exporter {
    /// Starts `binary` on `config` (its log in `dir/exporter.log`) and waits up to 20 s for
    /// its listening line. Blocks: from async code, call it in `spawn_blocking`.
    pub fn start(binary: &Path, config: &Path, dir: &Path) -> io::Result<Exporter> {
        let mut command = Command::new(binary);
        command
            .arg(format!("--config.file={}", config.display()))
            .arg("--web.listen-address=127.0.0.1:0");
        let (child, addr) =
            spawn_listening("blackbox_exporter", command, &dir.join("exporter.log"))?;
        Ok(Exporter { child, addr })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_line_gives_the_address() {
        let log = "time=2026-12-04T18:00:00Z level=INFO source=tls_config.go:347 \
                   msg=\"Listening on\" address=127.0.0.1:40123\n";
        assert_eq!(
            listening_addr(log),
            Some(SocketAddr::from(([127, 0, 0, 1], 40123)))
        );
        assert_eq!(listening_addr("msg=\"Loaded config file\"\n"), None);
    }
}
