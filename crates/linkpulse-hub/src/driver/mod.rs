//! The hub's session driver: many agent sessions per thread.
//!
//! One `mio` event loop thread hosts every plain-TCP session of a [`Hub`] run. The loop is thin
//! glue around the sans-IO [`linkpulse_proto::Session`] and the hub's registry:
//!
//! - each session is one compact [`slot::Slot`] in a [`slab::Slab`]: the session, its socket,
//!   and a write buffer that exists only while a write would block;
//! - every read goes into **one** scratch buffer shared by all sessions (the session keeps
//!   only a partial frame's leftover bytes, usually none);
//! - every timer is one entry in **one** deadline heap ([`timers::Timers`]), keyed by the
//!   session's `poll_timeout` and invalidated lazily;
//! - session events are collected over one loop turn and applied to the registry under **one**
//!   lock ([`Hub::apply`]).
//!
//! The accept loop (tokio, [`Hub::run`]) admits connections (rate and session bounds) and
//! hands each to the loop with [`EventLoop::add`]. Closing a session from elsewhere (a newer
//! session of the same node) goes through [`LoopTx::close_session`], by the session's
//! registry id: the loop looks for it among its slots (rare, so no per-session map is kept
//! for it). Dropping the [`EventLoop`] closes every session with GOODBYE; the thread ends
//! once they are gone.

mod member;
mod reactor;
mod slab;
mod slot;
mod timers;

pub(crate) use member::{Followup, Member, prepare_socket};

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use linkpulse_proto::GoodbyeReason;
use mio::{Poll, Waker};
use tokio::net::TcpStream;

use crate::Hub;
use crate::registry::SessionId;

/// The waker's token (never a slot index: indices are u32).
const WAKER: mio::Token = mio::Token(usize::MAX);

/// What other threads ask of the loop.
#[derive(Debug)]
enum Command {
    /// A new, admitted connection (socket options already set).
    Add {
        stream: std::net::TcpStream,
        peer: SocketAddr,
    },
    /// Close the session with this registry id gracefully with GOODBYE, if this loop holds
    /// it.
    Close {
        session: SessionId,
        reason: GoodbyeReason,
        text: String,
    },
}

/// The sending side of the loop's command queue.
#[derive(Debug)]
pub(crate) struct LoopTx {
    commands: mpsc::Sender<Command>,
    waker: Waker,
}

impl LoopTx {
    /// Queues `command` and wakes the loop. False if the loop has ended.
    fn send(&self, command: Command) -> bool {
        let sent = self.commands.send(command).is_ok();
        if sent && let Err(err) = self.waker.wake() {
            tracing::warn!(%err, "cannot wake the hub event loop");
        }
        sent
    }
}

impl LoopTx {
    /// Asks the loop to close the session with registry id `session` with GOODBYE (nothing if
    /// the loop does not hold it, or it ended).
    pub(crate) fn close_session(&self, session: SessionId, reason: GoodbyeReason, text: &str) {
        self.send(Command::Close {
            session,
            reason,
            text: text.to_owned(),
        });
    }
}

/// A running event loop thread. Dropping it stops the loop: every session is closed with
/// GOODBYE and the thread ends after their last bytes are flushed (bounded by the linger).
#[derive(Debug)]
pub(crate) struct EventLoop {
    hub: Hub,
    /// Applied to every socket before it joins the loop.
    keepalive: Option<linkpulse_net::KeepaliveProfile>,
    tx: Arc<LoopTx>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EventLoop {
    /// Starts the loop thread for `hub`; diagnosis tasks are spawned on `runtime`.
    pub(crate) fn start(hub: Hub, runtime: tokio::runtime::Handle) -> io::Result<EventLoop> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let (commands_tx, commands) = mpsc::channel();
        let tx = Arc::new(LoopTx {
            commands: commands_tx,
            waker,
        });
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reactor =
            reactor::Reactor::new(hub.clone(), runtime, poll, commands, Arc::clone(&stop));
        hub.add_loop(Arc::downgrade(&tx));
        let thread = std::thread::Builder::new()
            .name("linkpulse-hub-loop".to_owned())
            .spawn(move || reactor.run())?;
        Ok(EventLoop {
            keepalive: hub.keepalive(),
            hub,
            tx,
            stop,
            thread: Some(thread),
        })
    }

    /// Hands an admitted connection to the loop. The session counts as open until the loop
    /// drops it (the loop calls `Hub::session_closed`).
    pub(crate) fn add(&self, stream: TcpStream, peer: SocketAddr) {
        if let Err(err) = prepare_socket(&stream, self.keepalive.as_ref()) {
            tracing::warn!(%peer, %err, "cannot set up an agent socket");
            self.hub.session_closed();
            return;
        }
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(%peer, %err, "cannot move an agent socket to the event loop");
                self.hub.session_closed();
                return;
            }
        };
        if !self.tx.send(Command::Add { stream, peer }) {
            // The loop has ended (it cannot poll): this connection is dropped.
            self.hub.session_closed();
        }
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        if let Err(err) = self.tx.waker.wake() {
            tracing::warn!(%err, "cannot wake the hub event loop to stop it");
        }
        // Not joined: the thread finishes its sessions' linger on its own.
        drop(self.thread.take());
    }
}
