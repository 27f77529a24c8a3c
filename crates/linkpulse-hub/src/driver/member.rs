//! The vocabulary both session drivers share with the hub: who an established session is
//! ([`Member`]), what must happen after session events were applied ([`Followup`]), and how an
//! accepted socket is prepared ([`prepare_socket`]). The event loop and the TLS tasks of
//! [`crate::server`] use them alike; they live here so the driver never reaches back up into
//! the server.

use std::sync::Arc;
use std::time::Duration;

use linkpulse_net::ConnectionHandle;
use tokio::net::TcpStream;

use crate::registry::SessionId;

/// Who an established session is in the registry.
#[derive(Debug)]
pub(crate) struct Member {
    /// The registry's own copy of the name, shared.
    name: Arc<str>,
    session: SessionId,
    /// The RTT last written to the registry (µs) and the samples skipped since: a sample is
    /// written when it differs by more than an eighth, or on every eighth sample, so the
    /// registry (a lock and a lookup by name) is not touched every interval for nothing.
    rtt_us: u32,
    rtt_skipped: u8,
}

impl Member {
    /// An established session `session` of node `name`, no RTT written yet.
    pub(crate) fn new(name: Arc<str>, session: SessionId) -> Member {
        Member {
            name,
            session,
            rtt_us: 0,
            rtt_skipped: 0,
        }
    }

    /// The node's name (the registry's own copy).
    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The session's id in the registry.
    pub(crate) fn session(&self) -> SessionId {
        self.session
    }

    /// Whether `rtt` should be written to the registry (and records it if so).
    pub(crate) fn rtt_changed(&mut self, rtt: Duration) -> bool {
        let new = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX);
        let old = self.rtt_us;
        let moved = new.abs_diff(old) > old / 8;
        if moved || self.rtt_skipped >= 7 || old == 0 {
            self.rtt_us = new.max(1);
            self.rtt_skipped = 0;
            true
        } else {
            self.rtt_skipped += 1;
            false
        }
    }
}

/// What must happen after session events were applied, outside the hub's lock.
#[derive(Debug)]
pub(crate) enum Followup {
    /// Close a session that a new one of the same name replaced: through its task's handle,
    /// or (`task: None`) in whichever event loop holds the session with this id.
    Close {
        session: SessionId,
        task: Option<ConnectionHandle>,
    },
    /// The registry refused this session (full): close it.
    Refused,
    /// Probe a dead node's address after the timeout.
    Diagnose {
        name: String,
        session: SessionId,
        address: String,
    },
}

/// What `Connection::from_tcp` does to a socket — `IP_RECVERR` (ICMP errors reach the
/// session at once), `TCP_NODELAY` and the keepalive backstop — without the second file
/// descriptor it keeps for diagnostics, so one session costs one descriptor and a hub process
/// can hold close to its open-files limit in sessions.
pub(crate) fn prepare_socket(
    stream: &TcpStream,
    keepalive: Option<&linkpulse_net::KeepaliveProfile>,
) -> std::io::Result<()> {
    use std::os::fd::AsFd;
    let ipv6 = stream.local_addr()?.is_ipv6();
    linkpulse_sys::errqueue::enable_recverr(stream.as_fd(), ipv6)?;
    stream.set_nodelay(true)?;
    if let Some(profile) = keepalive {
        profile.apply(stream).map_err(std::io::Error::other)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_reaches_the_registry_on_change_or_every_eighth_sample() {
        let mut m = Member::new("a".into(), SessionId(1));
        let us = Duration::from_micros;
        assert!(m.rtt_changed(us(1000)), "first sample");
        assert!(!m.rtt_changed(us(1100)), "within an eighth");
        assert!(m.rtt_changed(us(1200)), "more than an eighth");
        let written = (0..16).filter(|_| m.rtt_changed(us(1200))).count();
        assert_eq!(written, 2, "every eighth sample when steady");
    }
}
