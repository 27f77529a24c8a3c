//! Real Linux network namespaces for tests: hosts behind a router, faults in the router.
//!
//! ```text
//!   client (eth0) ── (h0) router (h1) ── (eth0) server
//!   10.A.B.2/30        10.A.B.1 | 10.A.B.5      10.A.B.6/30
//! ```
//!
//! Put faults in the router, never on the sending host: a blackhole route on the sender only
//! makes its own `connect` fail with `EINVAL`, which is not what a dead remote looks like.
//! Requires root (or CAP_SYS_ADMIN + CAP_NET_ADMIN) and `ip`, `sysctl`, `ss`, `nft` (filters).

mod cmd;
mod namespace;
mod topology;

pub use cmd::NetnsError;
pub use namespace::Namespace;
pub use topology::{ClientRouterServer, Host, MAX_HOSTS, Router, Topology};
