//! An SMTP-like server with STARTTLS: the banner `220 mx.test ESMTP ready`, `EHLO` answered
//! with a `250 STARTTLS` capability, `STARTTLS` upgrading to TLS with a test CA's identity,
//! then `EHLO` and `QUIT` over TLS. Enough of the protocol for send/expect dialogues.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_rustls::TlsAcceptor;

use super::runner::{Running, ServerError};
use super::tls::Identity;
use crate::netns::Namespace;

/// The running server (stopped on drop).
#[derive(Debug)]
pub struct SmtpServer {
    running: Running,
}

impl SmtpServer {
    /// Serves on `addr` (port 0 for any), inside `netns` if given; STARTTLS presents
    /// `identity`.
    pub fn start(
        addr: SocketAddr,
        netns: Option<&Namespace>,
        identity: &Identity,
    ) -> Result<Self, ServerError> {
        let acceptor = TlsAcceptor::from(Arc::new(identity.server_config()?));
        let running = Running::start(addr, netns, move |listener| async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, acceptor.clone()));
            }
        })?;
        Ok(SmtpServer { running })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }
}

/// One client: plain commands until STARTTLS, then commands over TLS.
async fn session(stream: tokio::net::TcpStream, acceptor: TlsAcceptor) {
    let mut r = BufReader::new(stream);
    say(r.get_mut(), "220 mx.test ESMTP ready\r\n").await;
    while let Some(cmd) = line(&mut r).await {
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            say(
                r.get_mut(),
                "250-mx.test\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n",
            )
            .await;
        } else if upper == "STARTTLS" {
            say(r.get_mut(), "220 2.0.0 Ready to start TLS\r\n").await;
            let Ok(tls) = acceptor.accept(r.into_inner()).await else {
                return;
            };
            let mut r = BufReader::new(tls);
            while let Some(cmd) = line(&mut r).await {
                let upper = cmd.to_ascii_uppercase();
                if upper.starts_with("EHLO") {
                    say(r.get_mut(), "250 mx.test at your service\r\n").await;
                } else if upper == "QUIT" {
                    say(r.get_mut(), "221 2.0.0 bye\r\n").await;
                    let _ = r.get_mut().shutdown().await;
                    return;
                } else {
                    say(r.get_mut(), "502 5.5.2 not here\r\n").await;
                }
            }
            return;
        } else if upper == "QUIT" {
            say(r.get_mut(), "221 2.0.0 bye\r\n").await;
            return;
        } else {
            say(r.get_mut(), "500 5.5.1 what?\r\n").await;
        }
    }
}

/// One line without its end, or `None` at EOF.
async fn line<S: AsyncRead + Unpin>(r: &mut BufReader<S>) -> Option<String> {
    let mut s = String::new();
    match r.read_line(&mut s).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(s.trim_end().to_owned()),
    }
}

async fn say<S: AsyncWrite + Unpin>(w: &mut S, text: &str) {
    let _ = w.write_all(text.as_bytes()).await;
}
