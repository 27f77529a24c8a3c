//! The socket glue of the DNS probe: send the [`Question`] over UDP (retrying over TCP when the
//! answer is truncated) or over TCP, read the answer, and hand it to [`judge`].

use std::hash::{BuildHasher, RandomState};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

use super::message::{Question, ReadError, Reply, judge};
use super::{DnsDetail, DnsType};
use crate::net::{classify_io, connect_error, human, local_message, ms, resolve};
use crate::{ErrorKind, Host, ProbeError, ProbeKind, ProbeOptions, ProbeResult};

/// What the query is: server, name, type, transport.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Query<'a> {
    /// The DNS server.
    pub(crate) server: &'a Host,
    /// Its port.
    pub(crate) port: u16,
    /// The name asked for.
    pub(crate) name: &'a str,
    /// The record type asked for.
    pub(crate) record_type: DnsType,
    /// TCP only (no UDP first).
    pub(crate) tcp: bool,
}

/// Queries the server once and judges the answer.
pub(crate) async fn probe(query: Query<'_>, label: String, opts: &ProbeOptions) -> ProbeResult {
    let mut result = ProbeResult::empty(label, ProbeKind::Dns);
    let mut detail = DnsDetail {
        transport: if query.tcp { "tcp" } else { "udp" }.to_owned(),
        ..DnsDetail::default()
    };
    let ips = match resolve(query.server, opts.family, opts.dns_timeout).await {
        Ok(ips) => ips,
        Err(e) => {
            result.dns = Some(Box::new(detail));
            return result.fail(e.kind, e.message);
        }
    };
    let server = SocketAddr::new(ips[0], query.port);
    result.resolved = Some(server.ip());
    let what = format!("{} {} from {server}", query.name, query.record_type);
    let question = match Question::new(
        query.name,
        query.record_type,
        opts.dns.recursion_desired,
        message_id(),
    ) {
        Ok(q) => q,
        Err(e) => {
            result.dns = Some(Box::new(detail));
            return result.fail(ErrorKind::Protocol, format!("cannot ask for {what}: {e}"));
        }
    };
    let start = Instant::now();
    let deadline = start + opts.timeout;
    let mut outcome = if query.tcp {
        over_tcp(&question, server, deadline, opts.timeout, &mut detail).await
    } else {
        over_udp(&question, server, deadline, opts.timeout).await
    };
    if let Ok(reply) = &outcome
        && reply.truncated
        && !query.tcp
    {
        detail.truncated = true;
        detail.transport = "tcp".to_owned();
        outcome = over_tcp(&question, server, deadline, opts.timeout, &mut detail).await;
    }
    let took = start.elapsed();
    detail.request_ms = Some((ms(took) - detail.connect_ms.unwrap_or(0.0)).max(0.0));
    let reply = match outcome {
        Ok(reply) => reply,
        Err(e) => {
            result.dns = Some(Box::new(detail));
            return result.fail(e.kind, e.message);
        }
    };
    detail.rcode = Some(reply.rcode.to_string());
    let verdict = judge(&reply, &opts.dns, &what);
    detail.answers = reply.answers;
    detail.authority = reply.authority;
    detail.additional = reply.additional;
    detail.soa_serial = reply.soa_serial;
    result.dns = Some(Box::new(detail));
    result.latency_ms = Some(ms(took));
    match verdict {
        Ok(()) => {
            result.up = true;
            result
        }
        Err(e) => result.fail(e.kind, e.message),
    }
}

/// A random message id (no RNG crate: the standard library's hasher keys are random).
fn message_id() -> u16 {
    let h = RandomState::new().hash_one(std::time::SystemTime::now());
    (h & 0xffff) as u16
}

fn timed_out(server: SocketAddr, budget: Duration) -> ProbeError {
    ProbeError::new(
        ErrorKind::Timeout,
        format!("no DNS answer from {server} within {}", human(budget)),
    )
}

fn io_error(e: &io::Error, server: SocketAddr, transport: &str) -> ProbeError {
    match classify_io(e) {
        ErrorKind::Refused => ProbeError::new(
            ErrorKind::Refused,
            format!("no DNS server on {server} ({transport}): port unreachable"),
        ),
        ErrorKind::Local => ProbeError::new(
            ErrorKind::Local,
            local_message(e, &format!("cannot query {server}")),
        ),
        kind => ProbeError::new(
            kind,
            format!("DNS query to {server} over {transport} failed: {e}"),
        ),
    }
}

/// One datagram out, the first datagram that answers it in; others are ignored.
async fn over_udp(
    question: &Question,
    server: SocketAddr,
    deadline: Instant,
    budget: Duration,
) -> Result<Reply, ProbeError> {
    let bytes = question
        .encode()
        .map_err(|e| ProbeError::new(ErrorKind::Protocol, e))?;
    let local: SocketAddr = match server.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let exchange = async {
        let socket = UdpSocket::bind(local).await?;
        socket.connect(server).await?;
        socket.send(&bytes).await?;
        let mut buf = vec![0u8; 65_535];
        loop {
            let n = socket.recv(&mut buf).await?;
            match question.read(&buf[..n]) {
                Ok(reply) => return Ok(Ok(reply)),
                Err(ReadError::Other(_)) => continue,
                Err(e @ ReadError::Malformed(_)) => return Ok(Err(e)),
            }
        }
    };
    match tokio::time::timeout_at(deadline, exchange).await {
        Err(_) => Err(timed_out(server, budget)),
        Ok(Err(e)) => Err(io_error(&e, server, "UDP")),
        Ok(Ok(Err(e))) => Err(ProbeError::new(
            ErrorKind::Protocol,
            format!("{server} answered over UDP with {e}"),
        )),
        Ok(Ok(Ok(reply))) => Ok(reply),
    }
}

/// Connects, sends the length-prefixed query and reads one length-prefixed answer.
async fn over_tcp(
    question: &Question,
    server: SocketAddr,
    deadline: Instant,
    budget: Duration,
    detail: &mut DnsDetail,
) -> Result<Reply, ProbeError> {
    let bytes = question
        .encode_tcp()
        .map_err(|e| ProbeError::new(ErrorKind::Protocol, e))?;
    let start = Instant::now();
    let mut stream = match tokio::time::timeout_at(deadline, TcpStream::connect(server)).await {
        Err(_) => return Err(timed_out(server, budget)),
        Ok(Err(e)) => return Err(connect_error(&e, server)),
        Ok(Ok(s)) => s,
    };
    detail.connect_ms = Some(ms(start.elapsed()));
    let exchange = async {
        stream.write_all(&bytes).await?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).await?;
        Ok::<_, io::Error>(buf)
    };
    let buf = match tokio::time::timeout_at(deadline, exchange).await {
        Err(_) => return Err(timed_out(server, budget)),
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
            return Err(ProbeError::new(
                ErrorKind::Reset,
                format!("{server} closed the TCP connection before a whole DNS answer"),
            ));
        }
        Ok(Err(e)) => return Err(io_error(&e, server, "TCP")),
        Ok(Ok(buf)) => buf,
    };
    question.read(&buf).map_err(|e| {
        ProbeError::new(
            ErrorKind::Protocol,
            format!("{server} answered over TCP with {e}"),
        )
    })
}
