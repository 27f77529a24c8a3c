//! A throwaway MariaDB server: `mariadb-install-db` into a temporary directory, `mariadbd` on a
//! free loopback port with its socket inside that directory, a user `monitor` with a chosen
//! password; killed and deleted on drop.
//!
//! Needs Debian's `mariadb-server` package (`scripts/install-test-deps`). The Debian-started
//! service is never used.
//!
//! ```no_run
//! let db = linkpulse_testsupport::mariadb::MariaDb::start("s3cret")?;
//! // db.url() is mysql://monitor@127.0.0.1:PORT/probe; the password is "s3cret"
//! # Ok::<(), linkpulse_testsupport::mariadb::MariaDbError>(())
//! ```

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Why the server cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MariaDbError {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A command (mariadb-install-db, mariadb) failed.
    #[error("{command} failed: {output}")]
    Command {
        /// The command.
        command: String,
        /// Its output.
        output: String,
    },
    /// The server did not start.
    #[error("mariadbd did not start: {log}")]
    Start {
        /// The end of its log.
        log: String,
    },
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> MariaDbError + '_ {
    move |source| MariaDbError::Io {
        what: what.to_owned(),
        source,
    }
}

/// A running `mariadbd` (killed on drop, its directory deleted).
#[derive(Debug)]
pub struct MariaDb {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl MariaDb {
    /// Installs a data directory, starts the server on a free loopback port and creates the
    /// database `probe` and the user `monitor` with `password`.
    pub fn start(password: &str) -> Result<MariaDb, MariaDbError> {
        let dir = tempfile::tempdir().map_err(io("create a temporary directory"))?;
        let data = dir.path().join("data");
        // A temporary directory of its own: installs running at once collide in /tmp.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).map_err(io("create tmp/"))?;
        let mut install = Command::new("mariadb-install-db");
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .args(["--user=root", "--auth-root-authentication-method=normal"])
            .args(["--skip-test-db", "--skip-name-resolve"]);
        run(&mut install)?;
        let mut last = String::new();
        for _ in 0..5 {
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("bind"))?;
                l.local_addr().map_err(io("local_addr"))?.port()
            };
            let log = dir.path().join("server.log");
            let mut child = Command::new("mariadbd")
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--tmpdir={}", tmp.display()))
                .arg(format!("--socket={}", dir.path().join("sock").display()))
                .arg(format!("--pid-file={}", dir.path().join("pid").display()))
                .arg(format!("--log-error={}", log.display()))
                .args([
                    "--user=root",
                    "--bind-address=127.0.0.1",
                    "--skip-name-resolve",
                ])
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(io("start mariadbd (scripts/install-test-deps installs it)"))?;
            let mut exited = false;
            let ready = crate::eventually(Duration::from_secs(60), || {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    exited = true;
                    return true;
                }
                sql_at(dir.path(), "SELECT 1").is_ok()
            });
            if ready && !exited {
                let db = MariaDb { child, port, dir };
                db.sql(&format!(
                    "CREATE DATABASE probe; CREATE USER 'monitor'@'%' IDENTIFIED BY '{}'; \
                     GRANT ALL ON probe.* TO 'monitor'@'%';",
                    password.replace('\'', "''")
                ))?;
                return Ok(db);
            }
            let _ = child.kill();
            let _ = child.wait();
            last = std::fs::read_to_string(&log).unwrap_or_default();
            if !last.contains("Address already in use") {
                break;
            }
        }
        let tail: Vec<&str> = last.lines().rev().take(20).collect();
        Err(MariaDbError::Start {
            log: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        })
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mysql://monitor@127.0.0.1:PORT/probe` (no password: it was given to `start`).
    pub fn url(&self) -> String {
        format!("mysql://monitor@127.0.0.1:{}/probe", self.port)
    }

    /// Runs `sql` as root over the server's unix socket; its tab-separated output.
    pub fn sql(&self, sql: &str) -> Result<String, MariaDbError> {
        sql_at(self.dir.path(), sql)
    }
}

fn sql_at(dir: &Path, sql: &str) -> Result<String, MariaDbError> {
    run(Command::new("mariadb")
        .arg("--no-defaults")
        .arg(format!("--socket={}", dir.join("sock").display()))
        .args(["-uroot", "-N", "-B", "-e", sql]))
}

fn run(c: &mut Command) -> Result<String, MariaDbError> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(io("run a MariaDB command"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(MariaDbError::Command {
            command: format!("{c:?}"),
            output: format!("{}{stdout}", String::from_utf8_lossy(&out.stderr)),
        })
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
