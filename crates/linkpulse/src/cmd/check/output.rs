//! Printing results: human text, JSON lines, Nagios plugin lines; and the exit code.

use std::io::Write;
use std::time::Duration;

use linkpulse_probe::{ErrorKind, ProbeKind, ProbeResult};

use crate::cmd::output::Output;

/// Nagios state of one result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum State {
    Ok,
    Warning,
    Unknown,
    Critical,
}

impl State {
    fn of(r: &ProbeResult) -> State {
        match (&r.error, r.up) {
            (Some(e), _) if matches!(e.kind, ErrorKind::Permission | ErrorKind::Local) => {
                State::Unknown
            }
            (_, false) => State::Critical,
            _ if r.warning.is_some() => State::Warning,
            _ => State::Ok,
        }
    }

    fn word(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Unknown => "UNKNOWN",
            State::Critical => "CRITICAL",
        }
    }

    fn code(self) -> u8 {
        match self {
            State::Ok => 0,
            State::Warning => 1,
            State::Critical => 2,
            State::Unknown => 3,
        }
    }
}

/// Nagios exit code of a set of results: 2 if any is down, else 3 if the monitor could not
/// probe one (permission), else 1 if any warns, else 0.
pub(crate) fn exit_code(results: &[ProbeResult]) -> u8 {
    results
        .iter()
        .map(State::of)
        .max()
        .unwrap_or(State::Unknown)
        .code()
}

/// Prints `results` in `format`; `many` adds the summary of a targets file.
pub(crate) fn print(
    out: &mut impl Write,
    format: Output,
    results: &[ProbeResult],
    many: bool,
    elapsed: Duration,
) -> std::io::Result<()> {
    match format {
        Output::Json => {
            for r in results {
                json_line(out, r)?;
            }
        }
        Output::Text => {
            let width = results
                .iter()
                .map(|r| r.target.chars().count())
                .max()
                .unwrap_or(0);
            for r in results {
                let state = match State::of(r) {
                    State::Ok => "UP",
                    State::Warning => "WARN",
                    State::Critical => "DOWN",
                    State::Unknown => "UNKNOWN",
                };
                writeln!(
                    out,
                    "{state:<7} {:<4} {:<width$}  {}",
                    r.kind,
                    r.target,
                    describe(r)
                )?;
            }
            if many {
                writeln!(out, "{}", summary(results, elapsed))?;
            }
        }
        Output::Nagios => {
            if many {
                let worst = results
                    .iter()
                    .map(State::of)
                    .max()
                    .unwrap_or(State::Unknown);
                let counts = Counts::of(results);
                writeln!(
                    out,
                    "LINKPULSE {} - {} | up={};;;0 down={};;;0 warning={};;;0 unknown={};;;0",
                    worst.word(),
                    summary(results, elapsed),
                    counts.up,
                    counts.down,
                    counts.warning,
                    counts.unknown
                )?;
            }
            for r in results {
                writeln!(
                    out,
                    "LINKPULSE {} {} - {} {} | {}",
                    r.kind.to_string().to_uppercase(),
                    State::of(r).word(),
                    r.target,
                    describe(r),
                    perfdata(r)
                )?;
            }
        }
    }
    Ok(())
}

/// Writes `result` as one JSON object on one line.
pub(crate) fn json_line(out: &mut impl Write, result: &ProbeResult) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, result).map_err(std::io::Error::other)?;
    out.write_all(b"\n")
}

struct Counts {
    up: usize,
    down: usize,
    warning: usize,
    unknown: usize,
}

impl Counts {
    fn of(results: &[ProbeResult]) -> Counts {
        let mut c = Counts {
            up: 0,
            down: 0,
            warning: 0,
            unknown: 0,
        };
        for r in results {
            match State::of(r) {
                State::Ok => c.up += 1,
                State::Warning => {
                    c.up += 1;
                    c.warning += 1;
                }
                State::Critical => c.down += 1,
                State::Unknown => c.unknown += 1,
            }
        }
        c
    }
}

fn summary(results: &[ProbeResult], elapsed: Duration) -> String {
    let c = Counts::of(results);
    let mut s = format!(
        "{} targets: {} up, {} down, {} warning{}",
        results.len(),
        c.up,
        c.down,
        c.warning,
        if c.warning == 1 { "" } else { "s" }
    );
    if c.unknown > 0 {
        s.push_str(&format!(", {} unknown", c.unknown));
    }
    s.push_str(&format!(" in {:.2}s", elapsed.as_secs_f64()));
    s
}

fn fmt_ms(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// One human sentence about a result: what was seen, and why it is down or warns.
pub(crate) fn describe(r: &ProbeResult) -> String {
    let mut s = match &r.error {
        Some(e) => format!("{}: {}", e.kind, e.message),
        None => match r.kind {
            ProbeKind::Tcp => {
                let mut s = format!(
                    "connected to {} in {}",
                    r.resolved.map(|ip| ip.to_string()).unwrap_or_default(),
                    r.latency_ms.map(fmt_ms).unwrap_or_default()
                );
                if let Some(t) = &r.tcp {
                    s.push_str(&format!(", {} of {} steps", t.steps_done, t.steps));
                }
                push_cert_days(&mut s, r);
                s
            }
            ProbeKind::Postgres | ProbeKind::Redis | ProbeKind::Mysql => {
                let mut s = format!(
                    "{} at {} answered in {}",
                    r.kind,
                    r.resolved.map(|ip| ip.to_string()).unwrap_or_default(),
                    r.latency_ms.map(fmt_ms).unwrap_or_default()
                );
                push_cert_days(&mut s, r);
                s
            }
            ProbeKind::Http => {
                let h = r.http.as_ref();
                let mut s = format!(
                    "HTTP {} ({}), {} bytes in {}",
                    h.and_then(|h| h.status)
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    h.and_then(|h| h.version.clone()).unwrap_or_default(),
                    h.and_then(|h| h.body_bytes).unwrap_or(0),
                    r.latency_ms.map(fmt_ms).unwrap_or_default()
                );
                if let Some(h) = h {
                    let p = &h.phases;
                    let phase = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or("-".into());
                    s.push_str(&format!(
                        " [dns {} connect {} tls {} first byte {} ms]",
                        phase(p.dns_ms),
                        phase(p.connect_ms),
                        phase(p.tls_ms),
                        phase(p.first_byte_ms)
                    ));
                    if h.redirects > 0 {
                        s.push_str(&format!(
                            " after {} redirects to {}",
                            h.redirects, h.final_url
                        ));
                    }
                }
                push_cert_days(&mut s, r);
                s
            }
            ProbeKind::Icmp => match &r.icmp {
                Some(i) => format!(
                    "{}/{} replies, {:.0}% loss, rtt min/avg/max/mdev {}/{}/{}/{} ms",
                    i.received,
                    i.sent,
                    i.loss,
                    opt(i.rtt_min_ms),
                    opt(i.rtt_avg_ms),
                    opt(i.rtt_max_ms),
                    opt(i.rtt_mdev_ms)
                ),
                None => "answered".to_owned(),
            },
            ProbeKind::Dns => describe_dns(r),
            ProbeKind::Grpc => format!(
                "{} in {}",
                r.grpc
                    .as_ref()
                    .and_then(|g| g.status.clone())
                    .unwrap_or_default(),
                r.latency_ms.map(fmt_ms).unwrap_or_default()
            ),
        },
    };
    if let Some(w) = &r.warning {
        s.push_str(&format!("; warning: {w}"));
    }
    s
}

/// `NOERROR over udp in 0.52 ms, 2 answers: …` (each record's data only).
fn describe_dns(r: &ProbeResult) -> String {
    let Some(d) = &r.dns else {
        return "answered".to_owned();
    };
    let data: Vec<&str> = d
        .answers
        .iter()
        .map(|a| a.rsplit('\t').next().unwrap_or(a))
        .collect();
    format!(
        "{} over {}{} in {}, {} answer{}{}",
        d.rcode.as_deref().unwrap_or("-"),
        d.transport,
        if d.truncated {
            " (UDP answer truncated)"
        } else {
            ""
        },
        r.latency_ms.map(fmt_ms).unwrap_or_default(),
        data.len(),
        if data.len() == 1 { "" } else { "s" },
        if data.is_empty() {
            String::new()
        } else {
            format!(": {}", data.join(", "))
        }
    )
}

/// `, certificate expires in N days` when a TLS handshake showed the expiry.
fn push_cert_days(s: &mut String, r: &ProbeResult) {
    if let Some(days) = r.tls.as_ref().and_then(|t| t.cert_days_left) {
        s.push_str(&format!(", certificate expires in {days} days"));
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}"))
        .unwrap_or_else(|| "-".to_owned())
}

/// Nagios performance data of one result.
fn perfdata(r: &ProbeResult) -> String {
    let secs = |ms: Option<f64>| {
        ms.map(|ms| format!("{:.6}s", ms / 1000.0))
            .unwrap_or_else(|| "U".into())
    };
    match r.kind {
        ProbeKind::Tcp
        | ProbeKind::Grpc
        | ProbeKind::Postgres
        | ProbeKind::Redis
        | ProbeKind::Mysql => {
            let mut s = format!("time={};;;0", secs(r.latency_ms));
            if let Some(days) = r.tls.as_ref().and_then(|t| t.cert_days_left) {
                s.push_str(&format!(" cert_days={days};;;"));
            }
            s
        }
        ProbeKind::Dns => {
            let answers = r.dns.as_ref().map_or(0, |d| d.answers.len());
            format!("time={};;;0 answers={answers};;;0", secs(r.latency_ms))
        }
        ProbeKind::Http => {
            let mut s = format!("time={};;;0", secs(r.latency_ms));
            if let Some(bytes) = r.http.as_ref().and_then(|h| h.body_bytes) {
                s.push_str(&format!(" size={bytes}B;;;0"));
            }
            if let Some(days) = r.tls.as_ref().and_then(|t| t.cert_days_left) {
                s.push_str(&format!(" cert_days={days};;;"));
            }
            s
        }
        ProbeKind::Icmp => {
            let rta = r
                .icmp
                .as_ref()
                .and_then(|i| i.rtt_avg_ms)
                .map(|v| format!("{v:.3}ms"))
                .unwrap_or_else(|| "U".into());
            let pl = r
                .icmp
                .as_ref()
                .map(|i| format!("{:.0}%", i.loss))
                .unwrap_or_else(|| "U".into());
            format!("rta={rta};;;0 pl={pl};;;0;100")
        }
    }
}
