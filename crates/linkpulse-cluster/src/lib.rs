//! Cluster coordination for `linkpulse serve` nodes that share one PostgreSQL database, sans-IO.
//!
//! Several daemons (members) share the checks of one configuration. This crate decides, from
//! what the database says, which member runs which check, and how the verdicts of several
//! vantage points make one state. It reads no clock, opens no socket and runs no query: the
//! daemon's driver renews the member's lease in PostgreSQL, hands the member rows back to a
//! [`Coordinator`], and carries out the [`Effect`]s it returns.
//!
//! ```text
//!   lease renewed (rows + the server's now) ─┐                 ┌─ Effect::Renew     → UPSERT lease, read members
//!   renewal failed (database unreachable) ───┼─ Coordinator ───┼─ Effect::Gained    → start running / deciding checks
//!   configuration reloaded (checks) ─────────┤  poll_effect()  ├─ Effect::Lost      → stop them
//!   timer ───────────────────────────────────┘                 └─ Effect::Database  → /readyz, log
//! ```
//!
//! - [`membership`]: a member is alive while its lease row's expiry, set by the database
//!   server's clock (`now() + lease`), is in the future of the server's clock. Member clocks are
//!   never compared with each other.
//! - [`rendezvous`]: ownership by rendezvous (highest-random-weight) hashing over the live
//!   members. Every member computes the same owner from the same member list, with no
//!   ownership rows to write: a membership change moves only the checks of the member that
//!   left (or the joiner's share), and 60,000 checks cost no database writes when it does.
//! - [`placement`]: a check runs on one member, or on every member of some vantages (`vantage:
//!   { from: [eu, us], quorum: 2 }`), one of which decides its state.
//! - [`quorum`] and [`isolation`]: the state of a multi-vantage check from the latest verdict
//!   of each vantage, and a vantage that fails alone on every check named as its own problem.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod coordinator;
pub mod isolation;
pub mod membership;
pub mod placement;
pub mod quorum;
pub mod rendezvous;

pub use self::coordinator::{Coordinator, DatabaseState, Effect, Settings};
pub use self::membership::{Member, Membership};
pub use self::placement::{Placement, Role, VantageSet};
pub use self::quorum::{Decision, VantageVerdict};
