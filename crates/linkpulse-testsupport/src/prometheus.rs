//! A real Prometheus server (Debian's `prometheus`) scraping one target on loopback, queried
//! through its HTTP API, and `promtool check metrics` on an exposition.
//!
//! [`Prometheus::start`] writes a config with one scrape job into a temporary directory, keeps
//! its TSDB there, listens on `127.0.0.1:0` and reads the bound address from its
//! `Listening on` log line. Dropping it kills the server and removes the directory.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What can go wrong running Prometheus or promtool.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrometheusError {
    /// The binary is not on `PATH` (install Debian's `prometheus`).
    #[error("{0} is not installed (apt-get install prometheus)")]
    NotInstalled(&'static str),
    /// Starting it, or talking to it, failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
    /// It exited, or did not say where it listens, in time; its log follows.
    #[error("prometheus did not start: {0}")]
    Start(String),
    /// The API answered something other than a successful query.
    #[error("query {query:?}: {answer}")]
    Query {
        /// The PromQL sent.
        query: String,
        /// What came back.
        answer: String,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> PrometheusError {
    let what = what.into();
    move |source| PrometheusError::Io { what, source }
}

/// `name` on `PATH`, if there.
fn binary(name: &'static str) -> Result<PathBuf, PrometheusError> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
        .ok_or(PrometheusError::NotInstalled(name))
}

/// A Prometheus server scraping one target; killed on drop.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus scraping `http://TARGET/metrics` every `every` (job `linkpulse`).
    pub fn start(target: SocketAddr, every: Duration) -> Result<Prometheus, PrometheusError> {
        let bin = binary("prometheus")?;
        let dir = tempfile::tempdir().map_err(io_err("temporary directory"))?;
        let config = dir.path().join("prometheus.yml");
        let ms = every.as_millis().max(1);
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: {ms}ms\n  scrape_timeout: {ms}ms\nscrape_configs:\n  - job_name: linkpulse\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .map_err(io_err("write prometheus.yml"))?;
        let log = dir.path().join("prometheus.log");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg("--web.listen-address=127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).map_err(io_err("log file"))?)
            .spawn()
            .map_err(io_err("start prometheus"))?;
        let mut server = Prometheus {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = server.log();
            let addr = text
                .lines()
                .filter(|l| l.contains("msg=\"Listening on\""))
                .find_map(|l| l.split("address=").nth(1))
                .and_then(|a| a.split_whitespace().next())
                .and_then(|a| a.parse().ok());
            if let Some(addr) = addr
                && text.contains("Server is ready to receive web requests")
            {
                server.addr = addr;
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(PrometheusError::Start(format!(
                    "exited with {status}: {text}"
                )));
            }
            if Instant::now() > deadline {
                return Err(PrometheusError::Start(text));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Where its HTTP API listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its log so far (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Runs an instant query; returns `data.result` (an array of `{metric, value}`).
    pub fn query(&self, promql: &str) -> Result<Vec<serde_json::Value>, PrometheusError> {
        let path = format!(
            "/api/v1/query?query={}",
            crate::http::percent_encode(promql)
        );
        let (status, body) = http_get(self.addr, &path).map_err(io_err(format!("GET {path}")))?;
        let failed = || PrometheusError::Query {
            query: promql.to_owned(),
            answer: format!("{status} {body}"),
        };
        let v: serde_json::Value = serde_json::from_str(&body).map_err(|_| failed())?;
        if status != 200 || v["status"] != "success" {
            return Err(failed());
        }
        v["data"]["result"].as_array().cloned().ok_or_else(failed)
    }
}

/// `promtool check metrics` on `exposition`: `Ok` with its output when it accepts it, `Err`
/// with its complaints when not.
pub fn promtool_check_metrics(exposition: &str) -> Result<Result<String, String>, PrometheusError> {
    let mut child = Command::new(binary("promtool")?)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_err("start promtool"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(exposition.as_bytes())
            .map_err(io_err("write to promtool"))?;
    }
    let out = child.wait_with_output().map_err(io_err("run promtool"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    })
}

/// A blocking `GET` of `path` on `addr`: the status and the body ([`crate::http::get`]).
pub fn http_get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    crate::http::get(addr, path)
}
