//! Name resolution, TCP connect and the classification of socket errors, shared by the probes.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::{ErrorKind, Host, IpFamily, LocalReason, ProbeError};

/// Milliseconds as a float, rounded to microseconds.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// A human duration for messages ("2s", "500ms").
pub(crate) fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else if d.as_millis() > 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}µs", d.as_micros())
    }
}

/// Resolves `host` within `budget`, keeping only the addresses `family` allows.
pub(crate) async fn resolve(
    host: &Host,
    family: IpFamily,
    budget: Duration,
) -> Result<Vec<IpAddr>, ProbeError> {
    let name = match host {
        Host::Ip(ip) => {
            if family.allows(*ip) {
                return Ok(vec![*ip]);
            }
            return Err(ProbeError::new(
                ErrorKind::Unreachable,
                format!("{ip} is not an {} address", family_name(family)),
            ));
        }
        Host::Name(name) => name.as_str(),
    };
    let lookup = tokio::net::lookup_host((name, 0));
    let addrs = match tokio::time::timeout(budget, lookup).await {
        Err(_) => {
            return Err(ProbeError::new(
                ErrorKind::Dns,
                format!("resolving {name} timed out after {}", human(budget)),
            ));
        }
        Ok(Err(e)) => {
            return Err(ProbeError::new(
                ErrorKind::Dns,
                format!("cannot resolve {name}: {}", dns_reason(&e)),
            ));
        }
        Ok(Ok(addrs)) => addrs,
    };
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in addrs {
        if family.allows(a.ip()) && !ips.contains(&a.ip()) {
            ips.push(a.ip());
        }
    }
    if ips.is_empty() {
        return Err(ProbeError::new(
            ErrorKind::Dns,
            format!("{name} has no {} address", family_name(family)),
        ));
    }
    Ok(ips)
}

fn family_name(family: IpFamily) -> &'static str {
    match family {
        IpFamily::Any => "IP",
        IpFamily::V4 => "IPv4",
        IpFamily::V6 => "IPv6",
    }
}

fn dns_reason(e: &io::Error) -> String {
    let s = e.to_string();
    // "failed to lookup address information: Name or service not known" → the useful half.
    s.strip_prefix("failed to lookup address information: ")
        .map(str::to_owned)
        .unwrap_or(s)
}

/// Connects to each address in turn until one accepts or `deadline` passes. Returns the stream,
/// the address and the connect time of the successful attempt, or the error of the last one.
pub(crate) async fn connect_any(
    ips: &[IpAddr],
    port: u16,
    deadline: Instant,
    budget: Duration,
) -> Result<(TcpStream, SocketAddr, Duration), (ProbeError, Option<IpAddr>)> {
    let mut last = (
        ProbeError::new(ErrorKind::Unreachable, "no address to connect to"),
        None,
    );
    for ip in ips {
        let addr = SocketAddr::new(*ip, port);
        let start = Instant::now();
        match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                return Ok((stream, addr, start.elapsed()));
            }
            Ok(Err(e)) => last = (connect_error(&e, addr), Some(*ip)),
            Err(_) => {
                return Err((
                    ProbeError::new(
                        ErrorKind::Timeout,
                        format!("no answer from {addr} within {}", human(budget)),
                    ),
                    Some(*ip),
                ));
            }
        }
    }
    Err(last)
}

/// Classifies an error of `connect(2)` to `addr`.
pub(crate) fn connect_error(e: &io::Error, addr: SocketAddr) -> ProbeError {
    let kind = classify_io(e);
    let message = match kind {
        ErrorKind::Refused => format!("connection refused by {addr}"),
        ErrorKind::Timeout => format!("connection to {addr} timed out"),
        ErrorKind::Reset => format!("connection to {addr} reset"),
        ErrorKind::Local => local_message(e, &format!("cannot connect to {addr}")),
        _ => format!("{addr} unreachable: {}", os_reason(e)),
    };
    ProbeError::new(kind, message)
}

/// Classifies an I/O error into an [`ErrorKind`].
pub(crate) fn classify_io(e: &io::Error) -> ErrorKind {
    if let Some(code) = e.raw_os_error() {
        match code {
            libc::ECONNREFUSED => return ErrorKind::Refused,
            libc::ETIMEDOUT => return ErrorKind::Timeout,
            libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EHOSTDOWN | libc::ENETDOWN => {
                return ErrorKind::Unreachable;
            }
            libc::ECONNRESET | libc::ECONNABORTED | libc::EPIPE => return ErrorKind::Reset,
            libc::EACCES | libc::EPERM => return ErrorKind::Permission,
            code if LocalReason::of_errno(code).is_some() => return ErrorKind::Local,
            _ => {}
        }
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ErrorKind::Refused,
        io::ErrorKind::TimedOut => ErrorKind::Timeout,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => ErrorKind::Reset,
        io::ErrorKind::PermissionDenied => ErrorKind::Permission,
        io::ErrorKind::InvalidData => ErrorKind::Protocol,
        _ => ErrorKind::Unreachable,
    }
}

/// The message of a [`ErrorKind::Local`] error: the reason's words, what failed, the OS's words.
pub(crate) fn local_message(e: &io::Error, what: &str) -> String {
    let reason = e
        .raw_os_error()
        .and_then(LocalReason::of_errno)
        .unwrap_or(LocalReason::NoMemory);
    format!("{}: {what}: {}", reason.words(), os_reason(e))
}

/// The OS's words for an error, without Rust's "(os error N)" suffix.
pub(crate) fn os_reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(at) => s[..at].to_owned(),
        None => s,
    }
}
