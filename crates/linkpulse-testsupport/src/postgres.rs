//! A throwaway PostgreSQL cluster: `initdb` into a temporary directory, `postgres` on a free
//! loopback port with its unix socket inside that directory, a fresh database per test, and
//! everything stopped and deleted on drop (also when the test fails).
//!
//! Needs Debian's `postgresql` package (`scripts/install-test-deps`) and root: the server runs
//! as the `postgres` OS user (it refuses root), switched with `setpriv`. The Debian-started
//! cluster service is never used.
//!
//! One cluster is shared by the tests of a process that overlap in time
//! ([`PgCluster::shared`]); it stops when the last [`PgDatabase`] of it is dropped. Under
//! nextest every test is its own process, so every test gets its own cluster and port.
//!
//! ```no_run
//! let db = linkpulse_testsupport::postgres::database()?;
//! // db.url() is postgres://postgres@127.0.0.1:PORT/test_PID_N; the password is db.password()
//! db.psql("CREATE TABLE t (x int)")?;
//! # Ok::<(), linkpulse_testsupport::postgres::PgError>(())
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long the server may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// Why the cluster cannot be set up or a statement failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// No `/usr/lib/postgresql/*/bin/{initdb,postgres}`.
    #[error(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/install-test-deps"
    )]
    NotInstalled,
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A command (initdb, psql, …) failed.
    #[error("{command} failed: {output}")]
    Command {
        /// The command line.
        command: String,
        /// Its stderr and stdout.
        output: String,
    },
    /// The server did not start.
    #[error("postgres did not start: {log}")]
    Start {
        /// The end of the server log.
        log: String,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> PgError {
    let what = what.into();
    move |source| PgError::Io { what, source }
}

/// A running throwaway cluster (stopped and deleted on drop).
#[derive(Debug)]
pub struct PgCluster {
    /// The temporary directory: `data/`, `sock/`, `server.log`.
    dir: tempfile::TempDir,
    bin: PathBuf,
    uid: u32,
    gid: u32,
    child: Mutex<Child>,
    port: u16,
    tls: bool,
    standby: Option<bool>,
    /// Where the server runs: a namespace and the address it listens on there.
    netns: Option<(PathBuf, IpAddr)>,
    password: String,
    databases: AtomicU32,
}

/// The cluster the running tests of this process share.
static SHARED: Mutex<Weak<PgCluster>> = Mutex::new(Weak::new());

/// A fresh database on the shared cluster (started if none runs in this process).
pub fn database() -> Result<PgDatabase, PgError> {
    PgCluster::shared()?.database()
}

impl PgCluster {
    /// The cluster shared by the tests of this process that hold one now, started if none.
    pub fn shared() -> Result<Arc<PgCluster>, PgError> {
        let mut slot = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = slot.upgrade() {
            return Ok(c);
        }
        let c = Arc::new(PgCluster::start()?);
        *slot = Arc::downgrade(&c);
        Ok(c)
    }

    /// Starts a cluster of its own: `initdb`, then `postgres` on a free loopback port.
    pub fn start() -> Result<PgCluster, PgError> {
        PgCluster::start_inner(None, None, None)
    }

    /// Starts a cluster of its own inside network namespace `ns`, listening on `addr` (one
    /// of the namespace's addresses, e.g. a [`crate::netns::Host`]'s) and accepting password
    /// logins from any address. [`PgDatabase::url`] names `addr`; `psql` still goes through
    /// the unix socket. Halt, restart and drop work as for [`PgCluster::start`].
    pub fn start_in(ns: &crate::netns::Namespace, addr: IpAddr) -> Result<PgCluster, PgError> {
        PgCluster::start_inner(None, None, Some((ns.path(), addr)))
    }

    /// Starts a cluster of its own as a standby in recovery with no primary (a
    /// `standby.signal` and nothing to replay from). With `hot_standby` it accepts read-only
    /// connections (`pg_is_in_recovery()` is true); without, every connection is refused with
    /// SQLSTATE 57P03 ("the database system is not accepting connections"), as a server
    /// that is starting up answers. [`PgCluster::psql`] fails on the latter.
    pub fn start_standby(hot_standby: bool) -> Result<PgCluster, PgError> {
        PgCluster::start_inner(None, Some(hot_standby), None)
    }

    /// Starts a cluster of its own that accepts TLS (`ssl=on`) with `identity`, a certificate
    /// of a test CA (e.g. issued for `127.0.0.1`); plain connections stay allowed.
    pub fn start_tls(identity: &crate::servers::Identity) -> Result<PgCluster, PgError> {
        PgCluster::start_inner(Some(identity), None, None)
    }

    fn start_inner(
        tls: Option<&crate::servers::Identity>,
        standby: Option<bool>,
        netns: Option<(PathBuf, IpAddr)>,
    ) -> Result<PgCluster, PgError> {
        let bin = find_bin()?;
        let uid = id("-u")?;
        let gid = id("-g")?;
        sweep_stale(&bin, uid, gid);
        let prefix = format!("{PREFIX}{}-", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir()
            .map_err(io("create a temporary directory"))?;
        let password = format!(
            "pw{}x{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos()
        );
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, &password).map_err(io("write the password file"))?;
        std::fs::create_dir(dir.path().join("sock")).map_err(io("create the socket dir"))?;
        let mut owned = vec![
            dir.path().to_path_buf(),
            pwfile.clone(),
            dir.path().join("sock"),
        ];
        if let Some(id) = tls {
            // The server refuses a key file others may read.
            use std::os::unix::fs::PermissionsExt;
            let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
            std::fs::write(&cert, &id.cert_pem).map_err(io("write server.crt"))?;
            std::fs::write(&key, &id.key_pem).map_err(io("write server.key"))?;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
                .map_err(io("chmod server.key"))?;
            owned.extend([cert, key]);
        }
        for p in &owned {
            std::os::unix::fs::chown(p, Some(uid), Some(gid))
                .map_err(io(format!("chown {}", p.display())))?;
        }
        let data = dir.path().join("data");
        let mut initdb = as_postgres(uid, gid, &bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .args(["-E", "UTF8", "--locale=C", "--no-sync"])
            .arg(format!("--pwfile={}", pwfile.display()));
        run(&mut initdb)?;
        if netns.is_some() {
            // initdb allows TCP logins from loopback only; the clients are other namespaces.
            use std::io::Write as _;
            let mut hba = std::fs::OpenOptions::new()
                .append(true)
                .open(data.join("pg_hba.conf"))
                .map_err(io("open pg_hba.conf"))?;
            writeln!(hba, "host all all 0.0.0.0/0 scram-sha-256")
                .and_then(|()| writeln!(hba, "host all all ::/0 scram-sha-256"))
                .map_err(io("append to pg_hba.conf"))?;
        }
        if standby.is_some() {
            let signal = data.join("standby.signal");
            std::fs::write(&signal, "").map_err(io("write standby.signal"))?;
            std::os::unix::fs::chown(&signal, Some(uid), Some(gid))
                .map_err(io("chown standby.signal"))?;
        }
        let server = Server {
            dir: dir.path(),
            bin: &bin,
            uid,
            gid,
            tls: tls.is_some(),
            standby,
            netns: netns.as_ref(),
        };
        let mut log = String::new();
        // The port is free when we look; another process may take it before postgres binds,
        // so a failed bind is retried on a new port (bounded).
        for _ in 0..5 {
            match server.start(None)? {
                Started::Ready(child, port) => {
                    return Ok(PgCluster {
                        dir,
                        bin,
                        uid,
                        gid,
                        child: Mutex::new(child),
                        port,
                        tls: tls.is_some(),
                        standby,
                        netns: netns.clone(),
                        password,
                        databases: AtomicU32::new(0),
                    });
                }
                Started::PortTaken(l) => log = l,
                Started::Failed(l) => {
                    log = l;
                    break;
                }
            }
        }
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Err(PgError::Start {
            log: tail.join("\n"),
        })
    }

    /// The temporary directory (`data/`, `sock/`, `server.log`), deleted on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The loopback TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The password of the `postgres` role (TCP logins need it; the unix socket does not).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Creates a fresh database `test_<pid>_<n>`.
    pub fn database(self: &Arc<Self>) -> Result<PgDatabase, PgError> {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{}_{n}", std::process::id());
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(PgDatabase {
            cluster: self.clone(),
            name,
        })
    }

    /// Runs `sql` in database `db` as `postgres` over the unix socket; the unaligned,
    /// tuples-only output (`|` between columns).
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, PgError> {
        psql(&self.bin, self.dir.path(), self.port, db, sql)
    }

    /// Stops the server (immediate shutdown: connections are cut, as when its host dies) until
    /// [`PgCluster::restart`]; its data stays.
    pub fn halt(&self) {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        self.stop_child(&mut child);
    }

    /// Starts the halted server again on the same port with the same data.
    pub fn restart(&self) -> Result<(), PgError> {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        self.stop_child(&mut child);
        let server = Server {
            dir: self.dir.path(),
            bin: &self.bin,
            uid: self.uid,
            gid: self.gid,
            tls: self.tls,
            standby: self.standby,
            netns: self.netns.as_ref(),
        };
        match server.start(Some(self.port))? {
            Started::Ready(c, _) => {
                *child = c;
                Ok(())
            }
            Started::PortTaken(log) | Started::Failed(log) => Err(PgError::Start { log }),
        }
    }

    /// Stops the server (immediate shutdown) and reaps it.
    fn stop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(PoisonError::into_inner);
        let (bin, dir, uid, gid) = (&self.bin, self.dir.path(), self.uid, self.gid);
        stop_server(bin, dir, uid, gid, child);
    }

    fn stop_child(&self, child: &mut Child) {
        stop_server(&self.bin, self.dir.path(), self.uid, self.gid, child);
    }
}

/// `pg_ctl stop -m immediate` (or a kill), then reaps `child`.
fn stop_server(bin: &Path, dir: &Path, uid: u32, gid: u32, child: &mut Child) {
    {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        let mut pg_ctl = as_postgres(uid, gid, &bin.join("pg_ctl"));
        pg_ctl
            .args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(dir.join("data"));
        if run(&mut pg_ctl).is_err() {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}

/// How one start of the server went.
enum Started {
    /// Accepting connections.
    Ready(Child, u16),
    /// Exited because the port was taken (retry on another); the server log.
    PortTaken(String),
    /// Exited or never became ready (stopped); the server log.
    Failed(String),
}

/// What starting the server needs.
struct Server<'a> {
    dir: &'a Path,
    bin: &'a Path,
    uid: u32,
    gid: u32,
    /// `ssl=on` with `server.crt` and `server.key` of the directory.
    tls: bool,
    /// A standby: `Some(hot_standby)`.
    standby: Option<bool>,
    /// Run inside the namespace at this path, listening on this address.
    netns: Option<&'a (PathBuf, IpAddr)>,
}

impl Server<'_> {
    /// Starts `postgres` on `port` (a free one when `None`) and waits until it accepts
    /// connections.
    fn start(&self, port: Option<u16>) -> Result<Started, PgError> {
        let port = match port {
            Some(p) => p,
            None => free_port()?,
        };
        let log_path = self.dir.join("server.log");
        let log = std::fs::File::create(&log_path).map_err(io("create server.log"))?;
        let err = log.try_clone().map_err(io("clone server.log"))?;
        let mut postgres = as_postgres(self.uid, self.gid, &self.bin.join("postgres"));
        postgres
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(self.dir.join("sock"))
            .arg("-c")
            .arg(format!(
                "listen_addresses={}",
                self.netns
                    .map_or("127.0.0.1".to_owned(), |(_, a)| a.to_string())
            ))
            .args(["-c", "fsync=off"])
            .args(["-c", "synchronous_commit=off", "-c", "full_page_writes=off"]);
        if self.tls {
            postgres.args(["-c", "ssl=on"]);
            postgres.arg("-c").arg(format!(
                "ssl_cert_file={}",
                self.dir.join("server.crt").display()
            ));
            postgres.arg("-c").arg(format!(
                "ssl_key_file={}",
                self.dir.join("server.key").display()
            ));
        }
        if let Some(hot) = self.standby {
            postgres
                .arg("-c")
                .arg(format!("hot_standby={}", if hot { "on" } else { "off" }));
        }
        postgres.stdin(Stdio::null()).stdout(log).stderr(err);
        let spawned = match self.netns {
            Some((ns, _)) => crate::sys::spawn_in_netns(&mut postgres, ns),
            None => postgres.spawn(),
        };
        let mut child = spawned.map_err(io("start postgres"))?;
        let mut exited = false;
        let ready = crate::eventually(READY_WITHIN, || {
            if matches!(child.try_wait(), Ok(Some(_))) {
                exited = true;
                return true;
            }
            match psql(self.bin, self.dir, port, "postgres", "SELECT 1") {
                Ok(_) => true,
                // A standby without hot_standby is ready when it refuses with 57P03.
                Err(PgError::Command { output, .. }) => {
                    self.standby == Some(false) && output.contains("not accepting connections")
                }
                Err(_) => false,
            }
        });
        if ready && !exited {
            return Ok(Started::Ready(child, port));
        }
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        Ok(if exited && log.contains("could not bind") {
            Started::PortTaken(log)
        } else {
            Started::Failed(log)
        })
    }
}

/// Runs `sql` in database `db` as `postgres` over the unix socket in `dir/sock`.
fn psql(bin: &Path, dir: &Path, port: u16, db: &str, sql: &str) -> Result<String, PgError> {
    let mut c = Command::new(bin.join("psql"));
    c.arg("-h")
        .arg(dir.join("sock"))
        .arg("-p")
        .arg(port.to_string())
        .args(["-U", "postgres", "-d", db, "-X", "-q", "-A", "-t"])
        .args(["-v", "ON_ERROR_STOP=1", "-c", sql]);
    run(&mut c)
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
        // The TempDir field deletes the directory after this.
    }
}

/// A database of a [`PgCluster`]; the cluster stays up while this lives.
#[derive(Debug)]
pub struct PgDatabase {
    cluster: Arc<PgCluster>,
    name: String,
}

impl PgDatabase {
    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `postgres://postgres@127.0.0.1:PORT/NAME` (no password: see [`PgDatabase::password`]);
    /// the namespace address instead of `127.0.0.1` for a cluster of [`PgCluster::start_in`].
    pub fn url(&self) -> String {
        let host = match self.cluster.netns.as_ref().map(|(_, a)| *a) {
            Some(IpAddr::V6(v6)) => format!("[{v6}]"),
            Some(IpAddr::V4(v4)) => v4.to_string(),
            None => "127.0.0.1".to_owned(),
        };
        format!(
            "postgres://postgres@{host}:{}/{}",
            self.cluster.port, self.name
        )
    }

    /// The password for [`PgDatabase::url`].
    pub fn password(&self) -> &str {
        &self.cluster.password
    }

    /// The cluster.
    pub fn cluster(&self) -> &Arc<PgCluster> {
        &self.cluster
    }

    /// Runs `sql` in this database (see [`PgCluster::psql`]).
    pub fn psql(&self, sql: &str) -> Result<String, PgError> {
        self.cluster.psql(&self.name, sql)
    }
}

/// Start of a cluster directory's name in the temporary directory; the creating test
/// process's pid follows.
const PREFIX: &str = "linkpulse-pg-";

/// Stops and deletes the clusters of test processes that died without running `Drop`
/// (killed by a timeout or SIGKILL), so that none is left running for ever.
fn sweep_stale(bin: &Path, uid: u32, gid: u32) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue; // its test process still runs (or the pid was reused: left alone)
        }
        let data = e.path().join("data");
        if data.join("postmaster.pid").exists() {
            let mut pg_ctl = as_postgres(uid, gid, &bin.join("pg_ctl"));
            pg_ctl
                .args(["stop", "-m", "immediate", "-w", "-D"])
                .arg(&data);
            let _ = run(&mut pg_ctl);
        }
        let _ = std::fs::remove_dir_all(e.path());
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb` and `postgres`.
fn find_bin() -> Result<PathBuf, PgError> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| PgError::NotInstalled)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").exists() && bin.join("postgres").exists()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).ok_or(PgError::NotInstalled)
}

/// The uid (`-u`) or gid (`-g`) of the `postgres` OS user.
fn id(flag: &str) -> Result<u32, PgError> {
    let out = run(Command::new("id").args([flag, "postgres"]))?;
    out.trim().parse().map_err(|_| PgError::Command {
        command: format!("id {flag} postgres"),
        output: out,
    })
}

/// `program` run as the `postgres` user (postgres refuses to run as root).
fn as_postgres(uid: u32, gid: u32, program: &Path) -> Command {
    let mut c = Command::new("setpriv");
    c.arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg("--clear-groups")
        .arg("--")
        .arg(program)
        .env("LC_ALL", "C");
    c
}

/// Runs `c` to completion; its stdout, or an error with its output.
fn run(c: &mut Command) -> Result<String, PgError> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(io(format!("run {c:?}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(PgError::Command {
            command: format!("{c:?}"),
            output: format!("{}{stdout}", String::from_utf8_lossy(&out.stderr)),
        })
    }
}

/// A loopback port nothing listens on right now.
fn free_port() -> Result<u16, PgError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("bind 127.0.0.1:0"))?;
    Ok(l.local_addr().map_err(io("local_addr"))?.port())
}
