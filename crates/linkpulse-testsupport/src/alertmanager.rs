//! The real Prometheus Alertmanager (Debian's `prometheus-alertmanager`) for alert tests:
//! started on `127.0.0.1:0` with its own storage directory and clustering off
//! (`--cluster.listen-address=`), its address read from its `Listening on` log line, killed
//! on drop. Its API (`/api/v2/alerts`) tells what it holds.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use crate::blackbox::spawn_listening;

/// The binary's name, as Debian installs it.
pub const ALERTMANAGER: &str = "prometheus-alertmanager";

/// The binary on `PATH`, when installed.
pub fn binary() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(ALERTMANAGER))
            .find(|p| p.is_file())
    })
}

/// A running Alertmanager, killed when dropped.
#[derive(Debug)]
pub struct Alertmanager {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Alertmanager {
    /// Starts `binary` in `dir` (its config, storage and log there) with `resolve_timeout`
    /// (e.g. `5m`), routing every alert to a receiver that sends nothing. Blocks: from async
    /// code, call it in `spawn_blocking`.
    pub fn start(binary: &Path, dir: &Path, resolve_timeout: &str) -> io::Result<Alertmanager> {
        let config = dir.join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  resolve_timeout: {resolve_timeout}\nroute:\n  receiver: 'null'\n  group_wait: 1s\nreceivers:\n  - name: 'null'\n"
            ),
        )?;
        let storage = dir.join("am-data");
        std::fs::create_dir_all(&storage)?;
        let mut command = Command::new(binary);
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", storage.display()))
            .arg("--web.listen-address=127.0.0.1:0")
            .arg("--cluster.listen-address=");
        let (child, addr) =
            spawn_listening("alertmanager", command, &dir.join("alertmanager.log"))?;
        Ok(Alertmanager { child, addr })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
