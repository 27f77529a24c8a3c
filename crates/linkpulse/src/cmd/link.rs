//! `linkpulse link listen|connect`: watch a TCP link with heartbeats and report, one line per
//! change, when and why it dies.
//!
//! Every change is printed at once; the heartbeats themselves as a summary every
//! `--summary-every` (10 s) while the peer is up, and one `rtt` line per heartbeat only with
//! `--each-beat`. With `--output json` every line is one JSON object:
//! `{"ts": RFC 3339 UTC with milliseconds, "peer": "ip:port", "event": "up"|"rtt"|"suspect"|
//! "alive_again"|"status"|"data"|"summary"|"dead", …}`; `dead` carries `"cause"` (`goodbye`,
//! `peer_closed`, `reset`, `timeout`, `unreachable`, `protocol`, `local`) and `"silent_ms"`;
//! `summary` carries `"period_ms"`, `"beats"` (heartbeats answered in the period) and
//! `"rtt_min_ms"`, `"rtt_avg_ms"`, `"rtt_max_ms"` (null without beats).
//! `listen` first prints `{"event":"listening","addr":…}` with the bound address (so port 0
//! works). SIGTERM or SIGINT sends GOODBYE on every session and exits 0. `connect` exits 2 once
//! the peer is dead (or cannot be reached at all), unless `--reconnect`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use linkpulse_net::{
    Connection, ConnectionConfig, ConnectionHandle, Listener, PeerBook, local_incarnation,
};
use linkpulse_proto::detector::DetectorConfig;
use linkpulse_proto::{Cause, DetectorPolicy, Event, GoodbyeReason, SessionConfig};
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;

use super::output::StreamOutput as Output;

/// Exit code of `link connect` when the peer is dead.
const EXIT_PEER_DEAD: u8 = 2;

/// The `link` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum LinkCommand {
    /// Accept heartbeat sessions on ADDR and report their events.
    Listen {
        /// Address to listen on, e.g. `0.0.0.0:7070` or `127.0.0.1:0`.
        addr: SocketAddr,
        #[command(flatten)]
        opts: LinkOpts,
    },
    /// Open a heartbeat session to ADDR and report its events.
    Connect {
        /// Address of a `linkpulse link listen`.
        addr: SocketAddr,
        #[command(flatten)]
        opts: LinkOpts,
        /// Reconnect after the peer is dead instead of exiting; the next `up` says whether the
        /// peer's process restarted or its host rebooted.
        #[arg(long)]
        reconnect: bool,
    },
}

/// Failure detector choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DetectorKind {
    /// Dead after `--timeout` of silence (suspect after half of it).
    Fixed,
    /// Phi accrual: dead when φ reaches `--phi-threshold`.
    Phi,
}

/// Options shared by `listen` and `connect`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LinkOpts {
    /// Heartbeat interval requested (the listener may clamp it).
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Failure detector.
    #[arg(long, value_enum, default_value_t = DetectorKind::Fixed)]
    detector: DetectorKind,
    /// Fixed detector: silence after which the peer is dead (default 5 × interval).
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// Phi detector: φ at which the peer is dead.
    #[arg(long, default_value_t = 8.0)]
    phi_threshold: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Print an `rtt` line for every answered heartbeat (by default only changes and a
    /// summary every --summary-every are printed).
    #[arg(long)]
    each_beat: bool,
    /// How often to print a summary of the answered heartbeats and their round-trip times
    /// while the peer is up; 0s for none.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    summary_every: Duration,
    /// This node's name in the handshake (default: the host name).
    #[arg(long)]
    name: Option<String>,
}

impl LinkOpts {
    /// Validates the flags into a connection configuration; errors name the flag.
    fn config(&self) -> anyhow::Result<ConnectionConfig> {
        if self.interval.is_zero() {
            anyhow::bail!("--interval must be greater than 0");
        }
        let detector = match self.detector {
            DetectorKind::Fixed => {
                if self.phi_threshold != 8.0 {
                    anyhow::bail!("--phi-threshold applies only to --detector phi");
                }
                let timeout = self.timeout.unwrap_or(self.interval.saturating_mul(5));
                if timeout <= self.interval {
                    anyhow::bail!(
                        "--timeout {} must be longer than --interval {}",
                        humantime::format_duration(timeout),
                        humantime::format_duration(self.interval)
                    );
                }
                DetectorPolicy::Exact(DetectorConfig::fixed(timeout))
            }
            DetectorKind::Phi => {
                if self.timeout.is_some() {
                    anyhow::bail!("--timeout applies only to --detector fixed");
                }
                if !self.phi_threshold.is_finite() || self.phi_threshold <= 0.0 {
                    anyhow::bail!(
                        "--phi-threshold must be a positive number, got {}",
                        self.phi_threshold
                    );
                }
                DetectorPolicy::PhiForInterval {
                    threshold: self.phi_threshold,
                }
            }
        };
        let name = match &self.name {
            Some(n) => n.clone(),
            None => std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "linkpulse".to_owned()),
        };
        let mut session = SessionConfig::new(name, local_incarnation());
        session.interval = self.interval;
        session.detector = detector;
        session.validate(false).context("invalid link options")?;
        Ok(ConnectionConfig::new(session))
    }
}

/// Runs `linkpulse link …`.
pub(crate) async fn run(command: LinkCommand) -> anyhow::Result<ExitCode> {
    match command {
        LinkCommand::Listen { addr, opts } => listen(addr, &opts).await,
        LinkCommand::Connect {
            addr,
            opts,
            reconnect,
        } => connect(addr, &opts, reconnect).await,
    }
}

/// Resolves on SIGTERM or SIGINT.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

async fn listen(addr: SocketAddr, opts: &LinkOpts) -> anyhow::Result<ExitCode> {
    let config = opts.config()?;
    let mut signals = Signals::new()?;
    let listener = Listener::bind(addr, config).await?;
    let bound = listener.local_addr()?;
    let line = match opts.output {
        Output::Json => json!({"event": "listening", "addr": bound.to_string()}).to_string(),
        Output::Text => format!("listening on {bound}"),
    };
    super::output::println(line).context("writing to stdout")?;
    let mut sessions = JoinSet::new();
    let mut handles: Vec<ConnectionHandle> = Vec::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => {
                    handles.retain(|h| !h.is_closed());
                    handles.push(conn.handle());
                    let printer = Printer::new(opts);
                    sessions.spawn(async move { report(conn, printer).await; });
                }
                Err(err) => {
                    // Out of descriptors or a connection reset before accept: only this attempt.
                    tracing::warn!("{err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            () = signals.recv() => break,
        }
    }
    for h in &handles {
        h.close(GoodbyeReason::Shutdown, "listener stopped");
    }
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    Ok(ExitCode::SUCCESS)
}

async fn connect(addr: SocketAddr, opts: &LinkOpts, reconnect: bool) -> anyhow::Result<ExitCode> {
    let mut config = opts.config()?;
    config.peer_book = Some(PeerBook::new());
    let mut signals = Signals::new()?;
    let mut backoff = Duration::from_millis(200);
    loop {
        let attempt = tokio::select! {
            r = Connection::connect(addr, config.clone()) => r,
            () = signals.recv() => return Ok(ExitCode::SUCCESS),
        };
        let mut conn = match attempt {
            Ok(conn) => conn,
            Err(err) if reconnect => {
                tracing::warn!("{err}; retrying in {backoff:?}");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = signals.recv() => return Ok(ExitCode::SUCCESS),
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
            Err(err) => {
                // Not a usage error: the peer is not there. Same exit code as a dead peer.
                eprintln!("linkpulse: {err}");
                return Ok(ExitCode::from(EXIT_PEER_DEAD));
            }
        };
        let mut printer = Printer::new(opts);
        printer.peer = addr.to_string();
        let mut stopping = false;
        loop {
            let event = tokio::select! {
                ev = conn.next_event() => ev,
                () = signals.recv(), if !stopping => {
                    stopping = true;
                    conn.close(GoodbyeReason::Shutdown, "signal");
                    continue;
                }
                () = printer.summary_due() => {
                    if !printer.summary() && !stopping {
                        stopping = true;
                        conn.close(GoodbyeReason::Shutdown, "output closed");
                    }
                    continue;
                }
            };
            let Some(event) = event else { break };
            if matches!(event, Event::Up { .. }) {
                backoff = Duration::from_millis(200);
            }
            if !printer.event(&event) && !stopping {
                // Nobody reads our output any more: leave gracefully.
                stopping = true;
                conn.close(GoodbyeReason::Shutdown, "output closed");
            }
        }
        // Wait until the socket is closed (GOODBYE flushed) before exiting or reconnecting.
        conn.finished().await;
        if stopping {
            return Ok(ExitCode::SUCCESS);
        }
        if !reconnect {
            return Ok(ExitCode::from(EXIT_PEER_DEAD));
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = signals.recv() => return Ok(ExitCode::SUCCESS),
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Prints every event of one accepted session until it is dead.
async fn report(mut conn: Connection, mut printer: Printer) {
    printer.peer = conn
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "?".to_owned());
    loop {
        // A closed stdout must not end the session: the listener keeps serving its peers.
        tokio::select! {
            event = conn.next_event() => match event {
                Some(event) => { printer.event(&event); }
                None => break,
            },
            () = printer.summary_due() => { printer.summary(); }
        }
    }
    conn.finished().await;
}

/// Prints the events of one session: every change at once, heartbeat round trips as a
/// summary every `--summary-every` while the peer is up (each one too with `--each-beat`).
struct Printer {
    peer: String,
    output: Output,
    each_beat: bool,
    /// `None` when summaries are off.
    every: Option<Duration>,
    /// When the next summary is due; `None` while the peer is not up.
    next_summary: Option<tokio::time::Instant>,
    beats: BeatStats,
}

/// Round trips of the heartbeats answered since the last summary.
#[derive(Debug, Default)]
struct BeatStats {
    count: u64,
    min: Option<Duration>,
    max: Option<Duration>,
    sum: Duration,
}

impl Printer {
    fn new(opts: &LinkOpts) -> Self {
        Printer {
            peer: String::new(),
            output: opts.output,
            each_beat: opts.each_beat,
            every: (!opts.summary_every.is_zero()).then_some(opts.summary_every),
            next_summary: None,
            beats: BeatStats::default(),
        }
    }

    /// Resolves when a summary is due (never while the peer is not up or summaries are off).
    async fn summary_due(&self) {
        match self.next_summary {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }

    /// Prints one event (an `rtt` only with `--each-beat`). Returns false once nobody reads
    /// stdout any more.
    fn event(&mut self, event: &Event) -> bool {
        match event {
            Event::Up { .. } => {
                self.beats = BeatStats::default();
                self.next_summary = self.every.map(|every| tokio::time::Instant::now() + every);
            }
            Event::Dead { .. } => self.next_summary = None,
            Event::Rtt(rtt) => {
                let b = &mut self.beats;
                b.count += 1;
                b.min = Some(b.min.map_or(*rtt, |m| m.min(*rtt)));
                b.max = Some(b.max.map_or(*rtt, |m| m.max(*rtt)));
                b.sum += *rtt;
                if !self.each_beat {
                    return true;
                }
            }
            _ => {}
        }
        let ts = timestamp();
        let line = match self.output {
            Output::Json => event_json(&ts, &self.peer, event).to_string(),
            Output::Text => format!("{ts} {} {}", self.peer, event_human(event)),
        };
        write_line(line)
    }

    /// Prints the summary of the heartbeats since the last one and starts the next period.
    /// Returns false once nobody reads stdout any more.
    fn summary(&mut self) -> bool {
        let Some(every) = self.every else {
            return true;
        };
        self.next_summary = Some(tokio::time::Instant::now() + every);
        let b = std::mem::take(&mut self.beats);
        let avg = u32::try_from(b.count)
            .ok()
            .filter(|n| *n > 0)
            .map(|n| b.sum / n);
        let ts = timestamp();
        let line = match self.output {
            Output::Json => json!({
                "ts": ts,
                "peer": self.peer,
                "event": "summary",
                "period_ms": ms(every),
                "beats": b.count,
                "rtt_min_ms": b.min.map(ms_f64),
                "rtt_avg_ms": avg.map(ms_f64),
                "rtt_max_ms": b.max.map(ms_f64),
            })
            .to_string(),
            Output::Text => {
                let stats = match (b.min, avg, b.max) {
                    (Some(min), Some(avg), Some(max)) => format!(
                        ", rtt min/avg/max {:.3}/{:.3}/{:.3} ms",
                        ms_f64(min),
                        ms_f64(avg),
                        ms_f64(max)
                    ),
                    _ => String::new(),
                };
                format!(
                    "{ts} {} summary: {} heartbeats answered in {}{stats}",
                    self.peer,
                    b.count,
                    humantime::format_duration(every)
                )
            }
        };
        write_line(line)
    }
}

/// Writes one line to stdout; false when it could not be written (e.g. a closed pipe).
fn write_line(line: String) -> bool {
    matches!(super::output::println(line), Ok(true))
}

/// Now, RFC 3339 in UTC with millisecond precision.
fn timestamp() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds with microsecond precision, e.g. `0.295`.
fn ms_f64(d: Duration) -> f64 {
    let us = u32::try_from(d.as_micros())
        .map(f64::from)
        .unwrap_or(f64::MAX);
    us / 1000.0
}

fn event_json(ts: &str, peer: &str, event: &Event) -> Value {
    let mut m = Map::new();
    m.insert("ts".into(), ts.into());
    m.insert("peer".into(), peer.into());
    m.insert("event".into(), event.name().into());
    match event {
        Event::Up { peer } => {
            m.insert("name".into(), peer.name.clone().into());
            m.insert("incarnation".into(), peer.incarnation.to_string().into());
            m.insert("interval_ms".into(), json!(ms_f64(peer.interval)));
            m.insert("version".into(), peer.version.into());
            if let Some(r) = peer.restart {
                m.insert("restart".into(), r.as_str().into());
            }
        }
        Event::Rtt(rtt) => {
            m.insert("rtt_ms".into(), json!(ms_f64(*rtt)));
        }
        Event::Suspect { silent_for } => {
            m.insert("silent_ms".into(), ms(*silent_for).into());
        }
        Event::AliveAgain => {}
        Event::Status(s) => {
            m.insert("health".into(), s.health.as_str().into());
            m.insert("detail".into(), s.detail.clone().into());
            let gauges: Map<String, Value> = s
                .gauges
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            m.insert("gauges".into(), gauges.into());
        }
        Event::Data(d) => {
            m.insert("len".into(), d.len().into());
            m.insert(
                "text".into(),
                String::from_utf8_lossy(d).into_owned().into(),
            );
        }
        Event::Dead { cause, silent_for } => {
            m.insert("cause".into(), cause.as_str().into());
            m.insert("silent_ms".into(), ms(*silent_for).into());
            if let Some(detail) = cause.detail() {
                m.insert("detail".into(), detail.into());
            }
        }
    }
    Value::Object(m)
}

fn event_human(event: &Event) -> String {
    match event {
        Event::Up { peer } => {
            let restart = peer
                .restart
                .map(|r| format!(", {}", r.as_str()))
                .unwrap_or_default();
            format!(
                "up: {} (incarnation {}, interval {}{restart})",
                peer.name,
                peer.incarnation,
                humantime::format_duration(peer.interval)
            )
        }
        Event::Rtt(rtt) => format!("rtt {:.3} ms", rtt.as_secs_f64() * 1000.0),
        Event::Suspect { silent_for } => format!("suspect: silent for {} ms", ms(*silent_for)),
        Event::AliveAgain => "alive again".to_owned(),
        Event::Status(s) => format!("status {}: {}", s.health.as_str(), s.detail),
        Event::Data(d) => format!("data ({} bytes): {}", d.len(), String::from_utf8_lossy(d)),
        Event::Dead { cause, silent_for } => {
            let why = match cause {
                Cause::Goodbye => "the peer said goodbye",
                Cause::PeerClosed => {
                    "the peer closed the connection without goodbye (process exited)"
                }
                Cause::Reset => "the connection was reset (peer crashed or its host rebooted)",
                Cause::Timeout => "silence (host down or link cut)",
                Cause::Unreachable => "ICMP unreachable (no route to the peer)",
                Cause::Protocol(_) => "protocol error",
                Cause::Local => "closed by this side",
            };
            let detail = cause.detail().map(|d| format!(": {d}")).unwrap_or_default();
            format!(
                "dead: {} — {why}{detail} (silent for {} ms)",
                cause.as_str(),
                ms(*silent_for)
            )
        }
    }
}
