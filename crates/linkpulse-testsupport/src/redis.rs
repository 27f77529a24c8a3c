//! A throwaway Redis server: Debian's `redis-server` on a free loopback port, with no
//! persistence, optionally with `requirepass` and TLS; killed on drop.
//!
//! ```no_run
//! let redis = linkpulse_testsupport::redis::RedisServer::start(Some("s3cret"))?;
//! // redis.url() is redis://127.0.0.1:PORT
//! # Ok::<(), linkpulse_testsupport::redis::RedisError>(())
//! ```

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::servers::Identity;

/// Why the server cannot be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The server did not accept connections in time.
    #[error("redis-server did not start: {log}")]
    Start {
        /// Its log.
        log: String,
    },
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> RedisError + '_ {
    move |source| RedisError::Io {
        what: what.to_owned(),
        source,
    }
}

/// A running `redis-server` (killed on drop).
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
    tls: bool,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a server on a free loopback port; `password` sets `requirepass`.
    pub fn start(password: Option<&str>) -> Result<RedisServer, RedisError> {
        RedisServer::start_inner(password, None, None)
    }

    /// Starts a server that speaks TLS only (`tls-port`), presenting `identity`.
    pub fn start_tls(identity: &Identity) -> Result<RedisServer, RedisError> {
        RedisServer::start_inner(None, Some(identity), None)
    }

    /// Starts a replica of the server on loopback port `primary` (`ROLE` answers `slave`).
    pub fn start_replica_of(primary: u16) -> Result<RedisServer, RedisError> {
        RedisServer::start_inner(None, None, Some(primary))
    }

    fn start_inner(
        password: Option<&str>,
        tls: Option<&Identity>,
        replica_of: Option<u16>,
    ) -> Result<RedisServer, RedisError> {
        let dir = tempfile::tempdir().map_err(io("create a temporary directory"))?;
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("bind"))?;
                l.local_addr().map_err(io("local_addr"))?.port()
            };
            let log_path = dir.path().join("redis.log");
            let mut c = Command::new("redis-server");
            c.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .arg("--logfile")
                .arg(&log_path);
            match tls {
                Some(id) => {
                    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
                    std::fs::write(&cert, &id.cert_pem).map_err(io("write tls.crt"))?;
                    std::fs::write(&key, &id.key_pem).map_err(io("write tls.key"))?;
                    c.args(["--port", "0", "--tls-port", &port.to_string()])
                        .arg("--tls-cert-file")
                        .arg(&cert)
                        .arg("--tls-key-file")
                        .arg(&key)
                        .args(["--tls-auth-clients", "no"]);
                }
                None => {
                    c.args(["--port", &port.to_string()]);
                }
            }
            if let Some(p) = password {
                c.args(["--requirepass", p]);
            }
            if let Some(primary) = replica_of {
                c.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
            }
            let mut child = c
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(io(
                    "start redis-server (scripts/install-test-deps installs it)",
                ))?;
            let mut exited = false;
            let ready = crate::eventually(Duration::from_secs(20), || {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    exited = true;
                    return true;
                }
                TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
            if ready && !exited {
                return Ok(RedisServer {
                    child,
                    port,
                    tls: tls.is_some(),
                    dir,
                });
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if !last_log.contains("Address already in use") {
                break;
            }
        }
        Err(RedisError::Start { log: last_log })
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT` (`rediss://` for a TLS server).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The server's temporary directory (its log is `redis.log`).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
