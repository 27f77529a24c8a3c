//! One session's slot in the event loop: the sans-IO session, its socket, and the little I/O
//! state the loop needs around them.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use linkpulse_net::{IoVerdict, TransportFault, classify};
use linkpulse_proto::{Cause, Session, TransportError};
use mio::Interest;

use super::Member;
use super::timers::Due;

/// Unwritten bytes allowed for one session before the peer counts as not reading. The hub
/// sends a few dozen bytes per interval, so this is minutes of backlog on top of the kernel's
/// socket buffers: only a peer that stopped reading reaches it.
pub(super) const MAX_UNSENT: usize = 64 * 1024;
/// After a graceful end, how long the loop flushes the last frames and waits for the peer's
/// FIN before closing the socket.
pub(super) const LINGER: Duration = Duration::from_millis(200);
/// Reads per readiness event before the loop serves the other sessions (a peer flooding valid
/// frames cannot monopolise the thread); the rest is read on the next turn.
pub(super) const READ_BUDGET: usize = 16;

/// Where the slot is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// The session runs.
    Open,
    /// The session ended gracefully: flush what is left, send FIN, wait for the peer's FIN
    /// until `until`, then drop.
    Closing { until: Instant, fin_sent: bool },
    /// Drop at the end of this loop turn (after the registry has seen its events).
    Doomed,
}

/// What a read pass found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadPass {
    /// Everything readable was read (or the socket is finished).
    Drained,
    /// The read budget ran out with more maybe waiting: read again next turn.
    MoreWaiting,
}

/// One session in the loop.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) session: Session,
    pub(super) stream: mio::net::TcpStream,
    pub(super) peer: SocketAddr,
    /// Bytes not yet written, in order; `None` unless a write would block (rare: boxed, so
    /// the slot carries one pointer for it).
    #[allow(clippy::box_collection)] // deliberate: 8 bytes per idle session instead of 24+
    unsent: Option<Box<Vec<u8>>>,
    /// Registered for writability (only while `unsent` holds bytes).
    want_write: bool,
    /// The slot's entry in the loop's timer heap (see `Timers::arm`).
    pub(super) armed: Option<Due>,
    /// The session's place in the registry, once established.
    pub(super) member: Option<Member>,
    pub(super) phase: Phase,
}

impl Slot {
    pub(super) fn new(session: Session, stream: mio::net::TcpStream, peer: SocketAddr) -> Slot {
        Slot {
            session,
            stream,
            peer,
            unsent: None,
            want_write: false,
            armed: None,
            member: None,
            phase: Phase::Open,
        }
    }

    /// When the loop must next act on this slot without I/O.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Open => self.session.poll_timeout(),
            Phase::Closing { until, .. } => Some(until),
            Phase::Doomed => None,
        }
    }

    /// Reads what the socket holds into `scratch` and feeds the session (or, while closing,
    /// discards it). `drain` asks to read until `EAGAIN` even after a short read (the event
    /// reported end of stream or an error, which a short read may leave unread).
    pub(super) fn read(&mut self, scratch: &mut [u8], drain: bool, now: Instant) -> ReadPass {
        for _ in 0..READ_BUDGET {
            if self.phase == Phase::Doomed || (self.phase == Phase::Open && self.session.is_dead())
            {
                return ReadPass::Drained;
            }
            match self.stream.read(scratch) {
                Ok(0) => {
                    match self.phase {
                        Phase::Open => self.session.handle_eof(now),
                        // The peer's FIN after ours: the close is complete.
                        _ => self.phase = Phase::Doomed,
                    }
                    return ReadPass::Drained;
                }
                Ok(n) => {
                    if self.phase == Phase::Open {
                        self.session
                            .handle_bytes(scratch.get(..n).unwrap_or_default(), now);
                    }
                    // Edge-triggered readiness: a short read emptied the socket, and any later
                    // arrival raises a new event.
                    if n < scratch.len() && !drain {
                        return ReadPass::Drained;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadPass::Drained,
                Err(e) => {
                    if !self.io_error(&e, now) {
                        return ReadPass::Drained;
                    }
                }
            }
        }
        ReadPass::MoreWaiting
    }

    /// Reports an I/O error to the session. True if the operation should be retried
    /// (`EINTR`) or the socket may still be used (ICMP unreachable is only evidence).
    fn io_error(&mut self, e: &io::Error, now: Instant) -> bool {
        let fault = match classify(e) {
            IoVerdict::Retry => return true,
            IoVerdict::Fault(f) => f,
        };
        if self.phase != Phase::Open {
            self.phase = Phase::Doomed;
            return false;
        }
        tracing::debug!(peer = %self.peer, %e, fault = fault.as_str(), "transport error");
        let error = match fault {
            TransportFault::Reset => TransportError::Reset,
            TransportFault::Timeout => TransportError::TimedOut,
            TransportFault::Unreachable => TransportError::Unreachable,
            _ => TransportError::Other(e.to_string()),
        };
        let unreachable = error == TransportError::Unreachable;
        self.session.handle_transport_error(error, now);
        unreachable && !self.session.is_dead()
    }

    /// Writes `out` (frames the session just produced), after anything still unsent. What the
    /// socket does not take is kept (and the caller registers for writability). A peer that
    /// lets more than [`MAX_UNSENT`] bytes pile up has stopped reading: its session ends.
    pub(super) fn write(&mut self, out: &[u8], now: Instant) {
        if out.is_empty() {
            return;
        }
        if let Some(unsent) = &mut self.unsent {
            unsent.extend_from_slice(out);
        } else {
            let mut written = 0;
            while written < out.len() {
                match self.stream.write(out.get(written..).unwrap_or_default()) {
                    Ok(0) => break,
                    Ok(n) => written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        if !self.io_error(&e, now) {
                            return;
                        }
                        if e.kind() != io::ErrorKind::Interrupted {
                            break;
                        }
                    }
                }
            }
            if let Some(rest) = out.get(written..)
                && !rest.is_empty()
            {
                self.unsent = Some(Box::new(rest.to_vec()));
            }
        }
        let unsent = self.unsent.as_ref().map_or(0, |u| u.len());
        if unsent > MAX_UNSENT && self.phase == Phase::Open {
            let text = format!("peer stopped reading: {unsent} bytes unsent (limit {MAX_UNSENT})");
            tracing::info!(peer = %self.peer, "{text}");
            self.session.abort(Cause::Protocol(text), now);
            self.unsent = None;
        }
    }

    /// Writes unsent bytes now that the socket is writable; while closing, sends FIN once
    /// everything is out.
    pub(super) fn flush(&mut self, now: Instant) {
        if let Some(mut unsent) = self.unsent.take() {
            while !unsent.is_empty() {
                match self.stream.write(&unsent) {
                    Ok(0) => break,
                    Ok(n) => {
                        unsent.drain(..n.min(unsent.len()));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        if !self.io_error(&e, now) {
                            return; // the socket is finished: the bytes are dropped
                        }
                        if e.kind() != io::ErrorKind::Interrupted {
                            break;
                        }
                    }
                }
            }
            if !unsent.is_empty() {
                self.unsent = Some(unsent);
            }
        }
        if self.unsent.is_none() {
            // Everything is out; the buffer's memory went back with it.
            if let Phase::Closing {
                until,
                fin_sent: false,
            } = self.phase
            {
                // Best effort: the socket may already be gone.
                let _ = self.stream.shutdown(Shutdown::Write);
                self.phase = Phase::Closing {
                    until,
                    fin_sent: true,
                };
            }
        }
    }

    /// Registers or deregisters interest in writability to match `unsent`.
    pub(super) fn update_interest(&mut self, registry: &mio::Registry, token: mio::Token) {
        let want = self.unsent.is_some();
        if want == self.want_write || self.phase == Phase::Doomed {
            return;
        }
        let interest = if want {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        match registry.reregister(&mut self.stream, token, interest) {
            Ok(()) => self.want_write = want,
            Err(err) => {
                tracing::warn!(peer = %self.peer, %err, "cannot change socket interest");
                self.phase = Phase::Doomed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards the per-session footprint (bench/hub-capacity.md has the breakdown).
    #[test]
    fn a_slot_stays_compact() {
        let sizes = [
            ("Slot", size_of::<Slot>(), 304),
            ("Session", size_of::<Session>(), 176),
            ("Member", size_of::<Member>(), 32),
        ];
        for (name, size, budget) in sizes {
            println!("{name}: {size} bytes");
            assert!(size <= budget, "{name} is {size} bytes, budget {budget}");
        }
    }
}
