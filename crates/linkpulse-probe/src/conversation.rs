//! The tokio glue of a [`Dialogue`]: reads and writes a TCP connection, upgrades it to TLS on
//! connect or at a `starttls` step, and turns what happened into a [`Talk`].

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;

use crate::dialogue::{Action, Dialogue, DialogueFailure, Script};
use crate::net::{classify_io, human, os_reason};
use crate::tls::{self, Alpn, TlsConfigs};
use crate::{ErrorKind, Host, ProbeError, TlsDetail, TlsOptions};

/// A connection that may be upgraded to TLS half-way (STARTTLS).
pub(crate) enum Conn {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Where the connection is and what it needs for TLS.
pub(crate) struct Peer<'a> {
    /// The process-wide TLS configurations.
    pub(crate) configs: &'a TlsConfigs,
    /// The host as given (the default TLS server name).
    pub(crate) host: &'a Host,
    /// The address connected to.
    pub(crate) addr: SocketAddr,
    /// CA file, insecure, server name.
    pub(crate) tls: &'a TlsOptions,
    /// Everything must be over by then.
    pub(crate) deadline: Instant,
    /// The probe's budget, for messages.
    pub(crate) budget: Duration,
}

/// What a dialogue found.
#[derive(Debug, Default)]
pub(crate) struct Talk {
    /// TLS details of the last handshake (on connect or STARTTLS).
    pub(crate) tls: Option<TlsDetail>,
    /// Expanded labels of the matched steps.
    pub(crate) labels: Vec<(String, String)>,
    /// Steps completed.
    pub(crate) steps_done: usize,
    /// Why it failed.
    pub(crate) error: Option<ProbeError>,
    /// The failure, when the script itself failed (not the network).
    pub(crate) failure: Option<DialogueFailure>,
}

/// Runs `script` over `stream`, first upgrading to TLS when `tls_on_connect`.
pub(crate) async fn talk(
    peer: &Peer<'_>,
    stream: TcpStream,
    tls_on_connect: bool,
    script: &Script,
) -> Talk {
    let mut talk = Talk::default();
    let mut conn = Conn::Plain(stream);
    if tls_on_connect {
        match upgrade(peer, conn).await {
            Ok((c, detail)) => {
                conn = c;
                talk.tls = Some(detail);
            }
            Err(e) => {
                talk.error = Some(e);
                return talk;
            }
        }
    }
    let mut dialogue = Dialogue::new(script);
    let mut buf = vec![0u8; 4096];
    loop {
        match dialogue.next_action() {
            Action::Done => break,
            Action::Failed(failure) => {
                talk.error = Some(ProbeError::new(
                    ErrorKind::BodyMismatch,
                    format!("{}: {failure}", peer.addr),
                ));
                talk.failure = Some(failure);
                break;
            }
            Action::Read => {
                match tokio::time::timeout_at(peer.deadline, conn.read(&mut buf)).await {
                    Err(_) => {
                        talk.error = Some(timeout(peer, dialogue.step()));
                        break;
                    }
                    Ok(Err(e)) => {
                        talk.error = Some(io_error(peer, &e, dialogue.step()));
                        break;
                    }
                    Ok(Ok(0)) => dialogue.handle_eof(),
                    Ok(Ok(n)) => dialogue.handle_bytes(&buf[..n]),
                }
            }
            Action::Send(bytes) => {
                let write = async {
                    conn.write_all(&bytes).await?;
                    conn.flush().await
                };
                match tokio::time::timeout_at(peer.deadline, write).await {
                    Err(_) => {
                        talk.error = Some(timeout(peer, dialogue.step()));
                        break;
                    }
                    Ok(Err(e)) => {
                        talk.error = Some(io_error(peer, &e, dialogue.step()));
                        break;
                    }
                    Ok(Ok(())) => {}
                }
            }
            Action::StartTls => {
                let Conn::Plain(_) = conn else {
                    talk.error = Some(ProbeError::new(
                        ErrorKind::Protocol,
                        format!(
                            "step {}: starttls on a connection that is already TLS",
                            dialogue.step() + 1
                        ),
                    ));
                    break;
                };
                match upgrade(peer, conn).await {
                    Ok((c, detail)) => {
                        conn = c;
                        talk.tls = Some(detail);
                        dialogue.handle_tls_started();
                    }
                    Err(e) => {
                        talk.error = Some(e);
                        talk.labels = dialogue.labels().to_vec();
                        talk.steps_done = dialogue.step();
                        return talk;
                    }
                }
            }
        }
    }
    talk.labels = dialogue.labels().to_vec();
    talk.steps_done = dialogue.step();
    // A polite close; the verdict is already made.
    let _ = tokio::time::timeout(Duration::from_millis(50), conn.shutdown()).await;
    talk
}

/// The TLS handshake over a plain connection.
async fn upgrade(peer: &Peer<'_>, conn: Conn) -> Result<(Conn, TlsDetail), ProbeError> {
    let Conn::Plain(stream) = conn else {
        return Err(ProbeError::new(ErrorKind::Tls, "already TLS"));
    };
    let (stream, detail) = handshake(peer, stream).await?;
    Ok((Conn::Tls(Box::new(stream)), detail))
}

/// A TLS handshake with `peer` over `stream`, with no ALPN offer; the stream and what the
/// handshake showed (version, certificate expiry).
pub(crate) async fn handshake(
    peer: &Peer<'_>,
    stream: TcpStream,
) -> Result<(TlsStream<TcpStream>, TlsDetail), ProbeError> {
    let config = peer
        .configs
        .get(peer.tls.ca_file.as_deref(), peer.tls.insecure, Alpn::None)
        .map_err(|e| ProbeError::new(ErrorKind::Tls, e.to_string()))?;
    let name_text = match (&peer.tls.server_name, peer.host) {
        (Some(name), _) => name.clone(),
        (None, Host::Name(name)) => name.clone(),
        (None, Host::Ip(ip)) => ip.to_string(),
    };
    let name = rustls::pki_types::ServerName::try_from(name_text.clone()).map_err(|e| {
        ProbeError::new(
            ErrorKind::Tls,
            format!("{name_text} is not a valid TLS server name: {e}"),
        )
    })?;
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&config));
    let shown = format!("{name_text} ({})", peer.addr);
    match tokio::time::timeout_at(peer.deadline, connector.connect(name, stream)).await {
        Err(_) => Err(ProbeError::new(
            ErrorKind::Timeout,
            format!(
                "TLS handshake with {shown} timed out (budget {})",
                human(peer.budget)
            ),
        )),
        Ok(Err(e)) => Err(tls::handshake_error(&e, &shown)),
        Ok(Ok(s)) => {
            let detail = tls::detail(s.get_ref().1);
            Ok((s, detail))
        }
    }
}

fn timeout(peer: &Peer<'_>, step: usize) -> ProbeError {
    ProbeError::new(
        ErrorKind::Timeout,
        format!(
            "{}: no answer within {} (at step {})",
            peer.addr,
            human(peer.budget),
            step + 1
        ),
    )
}

fn io_error(peer: &Peer<'_>, e: &std::io::Error, step: usize) -> ProbeError {
    let kind = match classify_io(e) {
        // A TLS record error under the dialogue is a TLS problem.
        ErrorKind::Protocol => ErrorKind::Tls,
        k => k,
    };
    ProbeError::new(
        kind,
        format!("{} at step {}: {}", peer.addr, step + 1, os_reason(e)),
    )
}
