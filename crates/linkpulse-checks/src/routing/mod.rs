//! What happens to an alert between the core and the outbox, sans-IO: routing (`match:` by
//! labels, states and a minimum duration), grouping (Alertmanager's `group_by`, `group_wait`,
//! `group_interval`), and holding while a silence or a maintenance window covers the check.
//!
//! ```text
//!   core's Effect::Alert ─► Router::handle_alert(alert, now_ms)
//!                              │ labels/states match? ─ no ─► dropped
//!                              │ min_duration pending ─────► released by handle_timeout
//!                              │ silenced / in a window ───► held (latest per check and target)
//!                              │ grouped ──────────────────► flushed after group_wait/interval
//!                              ▼
//!                          poll_notification() ─► outbox (one item per notification)
//! ```
//!
//! Call order, as for [`crate::Core`]: `handle_*`, then drain [`Router::poll_notification`],
//! then sleep until [`Router::poll_timeout`] and call [`Router::handle_timeout`].
//!
//! **A hold and what follows it.** While a check is silenced or in a maintenance window, its
//! alerts are not sent; the router keeps the latest one per alert target. When the hold ends,
//! that alert is sent if its state differs from the last state the target was told about: a
//! check that went down during the window and is still down is notified once, at the end; a
//! check that went down and came back during the window is not notified at all.

mod matcher;
mod route;
mod router;
mod silence;
mod window;

pub use chrono_tz::Tz;
pub use matcher::Matcher;
pub use route::{Grouping, Route};
pub use router::{GroupNotice, Hold, Notification, Router};
pub use silence::Silence;
pub use window::{MaintenanceWindow, Recurrence, Span, WindowError, zone};
