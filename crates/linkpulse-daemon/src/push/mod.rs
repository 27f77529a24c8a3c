//! Push checks' own protection: tokens nobody can derive from public information
//! ([`token`]) and a rate limit per token ([`limit`]).
//!
//! The push endpoints (`/api/v1/push/{token}`, `/fail`, `/start`) need no other credentials:
//! the token is the credential. So it is never the check's name (which `/api/v1/checks`, the
//! dashboard and the status page show), never shown in a check's `target` (`push://***`), and a
//! flood of pushes cannot grow the database without bound or send an alert per push.

pub mod limit;
pub mod token;
