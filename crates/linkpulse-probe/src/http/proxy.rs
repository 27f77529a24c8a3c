//! An HTTP proxy between the probe and its target (blackbox_exporter's `proxy_url`): plain
//! HTTP requests go to the proxy in absolute form; HTTPS goes through a `CONNECT` tunnel, the
//! TLS handshake then made with the target over it.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::{ErrorKind, Host, ProbeError};

/// Longest proxy answer head read for a `CONNECT`.
const MAX_HEAD: usize = 8 * 1024;

/// The proxy's host and port; `None` when `url` is not an `http://` URL with a host.
pub(crate) fn endpoint(url: &url::Url) -> Option<(Host, u16)> {
    if url.scheme() != "http" {
        return None;
    }
    let host = match url.host()? {
        url::Host::Domain(d) => Host::Name(d.to_owned()),
        url::Host::Ipv4(ip) => Host::Ip(ip.into()),
        url::Host::Ipv6(ip) => Host::Ip(ip.into()),
    };
    Some((host, url.port_or_known_default().unwrap_or(80)))
}

/// Asks the proxy on `stream` for a tunnel to `authority` (`host:port`); Ok once it answered
/// 2xx.
pub(crate) async fn connect_tunnel(
    stream: &mut TcpStream,
    authority: &str,
    deadline: Instant,
) -> Result<(), ProbeError> {
    let proxy = stream
        .peer_addr()
        .map_or_else(|_| "the proxy".to_owned(), |a| format!("proxy {a}"));
    let fail = |kind, what: String| ProbeError::new(kind, format!("{proxy}: {what}"));
    let talk = async {
        let request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(head)
    };
    let head = match tokio::time::timeout_at(deadline, talk).await {
        Err(_) => {
            return Err(fail(
                ErrorKind::Timeout,
                format!("no answer to CONNECT {authority}"),
            ));
        }
        Ok(Err(e)) => return Err(fail(crate::net::classify_io(&e), e.to_string())),
        Ok(Ok(head)) => head,
    };
    let text = String::from_utf8_lossy(&head);
    let status_line = text.lines().next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(200..=299) => Ok(()),
        Some(_) => Err(fail(
            ErrorKind::Protocol,
            format!("CONNECT {authority} refused: {}", status_line.trim()),
        )),
        None => Err(fail(
            ErrorKind::Protocol,
            format!("no HTTP answer to CONNECT {authority}"),
        )),
    }
}
