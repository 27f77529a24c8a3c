//! A real DNS server (Debian's `dnsmasq`) on a free loopback port, answering the names a test
//! configures and nothing else: `--no-resolv --no-hosts`, authoritative for `.test` (so other
//! names there are NXDOMAIN), killed on drop.
//!
//! [`Dnsmasq::servfail`] starts a second, DNSSEC-validating instance in front of another
//! server: its unsigned answers cannot be validated, so every query gets `SERVFAIL`.
//!
//! ```no_run
//! use linkpulse_testsupport::dnsmasq::Dnsmasq;
//!
//! let dns = Dnsmasq::start(&["--address=/db.test/10.0.0.1"])?;
//! // `dig @127.0.0.1 -p PORT db.test` now answers 10.0.0.1
//! # let _ = dns.addr();
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::wait::eventually;

/// The root zone's trust anchor (KSK 20326): what makes the validating instance validate.
const ROOT_ANCHOR: &str =
    ".,20326,8,2,E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D";

/// `dnsmasq` on `PATH` (Debian installs it in `/usr/sbin`), when installed.
pub fn binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|p| p.join("dnsmasq"))
        .find(|p| p.is_file())
}

/// A running dnsmasq, killed when dropped.
#[derive(Debug)]
pub struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that is free for both UDP and TCP right now.
fn free_port() -> io::Result<u16> {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0")?;
        let port = udp.local_addr()?.port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(io::Error::other(
        "no loopback port free for both UDP and TCP",
    ))
}

impl Dnsmasq {
    /// Starts dnsmasq with `records` (dnsmasq options such as `--address=/db.test/10.0.0.1`,
    /// `--txt-record=…`, `--mx-host=…`, `--srv-host=…`, `--host-record=…`) and waits up to
    /// 10 s until it accepts TCP connections.
    pub fn start(records: &[&str]) -> io::Result<Dnsmasq> {
        let mut args: Vec<String> = vec!["--local=/test/".to_owned()];
        args.extend(records.iter().map(|r| (*r).to_owned()));
        Self::start_args(&args)
    }

    /// Starts a DNSSEC-validating dnsmasq that forwards every query to `upstream`; as the
    /// upstream's answers are unsigned, every answer is `SERVFAIL`.
    pub fn servfail(upstream: SocketAddr) -> io::Result<Dnsmasq> {
        Self::start_args(&[
            format!("--server={}#{}", upstream.ip(), upstream.port()),
            "--dnssec".to_owned(),
            "--dnssec-check-unsigned".to_owned(),
            format!("--trust-anchor={ROOT_ANCHOR}"),
        ])
    }

    fn start_args(extra: &[String]) -> io::Result<Dnsmasq> {
        let binary = binary().ok_or_else(|| io::Error::other("dnsmasq is not installed"))?;
        let mut last = io::Error::other("dnsmasq did not start");
        // A port found free can be taken before dnsmasq binds it: try a few.
        for _ in 0..5 {
            let dir = tempfile::tempdir()?;
            let log = dir.path().join("dnsmasq.log");
            let port = free_port()?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let child = Command::new(&binary)
                .args([
                    "--conf-file=/dev/null",
                    "--keep-in-foreground",
                    "--no-resolv",
                ])
                .args([
                    "--no-hosts",
                    "--bind-interfaces",
                    "--listen-address=127.0.0.1",
                ])
                .args(["--pid-file=", "--user=root", "--group=root"])
                .arg(format!("--port={port}"))
                .arg(format!("--log-facility={}", log.display()))
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            let mut dns = Dnsmasq {
                child,
                addr,
                _dir: dir,
            };
            let mut exited = false;
            let up = eventually(Duration::from_secs(10), || {
                exited = dns.child.try_wait().ok().flatten().is_some();
                exited || TcpStream::connect(addr).is_ok()
            });
            if up && !exited {
                return Ok(dns);
            }
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            last = io::Error::other(format!("dnsmasq on {addr} did not start: {text}"));
        }
        Err(last)
    }

    /// Where it answers, over UDP and TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}
