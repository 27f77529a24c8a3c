//! The check core, sans-IO: every check's state, rise/fall, incidents, alert timing, push
//! deadlines and the absent/forgotten policy of hub nodes, with no clock, no tokio and no
//! storage. The daemon's engine (`linkpulse_daemon::engine`) is its driver.
//!
//! ```text
//!   probe result ─┐                        ┌─ Effect::Attempt    → storage, metrics, events, snapshot
//!   push, /start ─┤                        ├─ Effect::Write      → storage (transitions, incidents)
//!   hub node ─────┼─ handle_*(…, now) ─ Core ─ poll_effect() ───┼─ Effect::Alert      → alert outbox
//!   diagnosis ────┤                        ├─ Effect::Transition / Diagnosed → metrics, events
//!   deadline ─────┘                        ├─ Effect::Run / Diagnose → probe runs, diagnosis task
//!                                          └─ Effect::Added / Removed / Relabeled → metric series
//! ```
//!
//! Time comes in as a [`Now`] argument: a monotonic instant for schedules and deadlines, and
//! wall-clock milliseconds for what is recorded. The rule is enforced by this crate's
//! `clippy.toml` (no `Instant::now`, `SystemTime::now`, unseeded randomness, files or sockets)
//! and by its dependencies: no tokio, no storage (`tests/deps.rs`).
//!
//! The core is generic over a [`Model`]: the daemon's check settings, alert targets and attempt
//! outcomes, read through the traits in [`model`]; so new check kinds and alert channels live in
//! the daemon and never change this crate.
//!
//! [`Core`]'s call order, as for `linkpulse_proto`'s `Session`: feed inputs with the
//! `handle_*` methods (and [`Core::add_checks`] / [`Core::remove_checks`]), then drain
//! [`Core::poll_effect`] until it returns `None`, then sleep until [`Core::poll_timeout`] and
//! call [`Core::handle_timeout`] when it passes.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod core;
mod effect;
mod handoff;
mod input;
pub mod model;
pub mod routing;
pub mod schedule;
pub mod slots;
pub mod state;
mod time;

pub use self::core::nodes::NODE_PREFIX;
pub use self::core::vantage::{QuorumVerdict, VantageRole};
pub use self::core::{Check, Core, ReloadSummary};
pub use self::effect::{Alert, AlertKind, Cause, Effect, TransitionRecord, Write};
pub use self::handoff::{Handoff, PendingDown};
pub use self::input::{Attempt, HubPolicy, NodeEvent, NodeReport, Origin, PushEvent, Resume};
pub use self::model::{AlertSettings, CheckSettings, Mode, Model, Outcome};
pub use self::time::{Millis, Now};
