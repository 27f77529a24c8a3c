//! Test fixtures for linkpulse: real network namespaces, real local servers and a runner for
//! the real `linkpulse` binary.
//!
//! Not published; other crates use it as a dev-dependency.
//!
//! - [`netns`]: a [`netns::Topology`] of Linux network namespaces (hosts behind a router) with
//!   faults injected in the router — silence ([`netns::Router::blackhole`]) or ICMP
//!   unreachable ([`netns::Router::unreachable`]), or an nftables filter such as
//!   [`netns::Router::drop_between`] (one host cut from one other only). Needs root.
//!   Everything is deleted on drop.
//! - [`servers`]: a TCP listener that holds connections, an HTTP/1.1 server with a chosen
//!   status, body and delay, the same over TLS with certificates from a private [`servers::TestCa`].
//! - [`bin`]: [`bin::LinkpulseProcess`] runs the `linkpulse` binary (optionally inside a
//!   namespace) and waits for output lines with a deadline.
//! - [`browser`]: runs a dashboard browser script (playwright-core + Debian's chromium).
//! - [`postgres`]: a throwaway PostgreSQL cluster ([`postgres::PgCluster`]) handing out a fresh
//!   database per test ([`postgres::database`]). Needs root and Debian's `postgresql`.
//! - [`prometheus`]: a real Prometheus ([`prometheus::Prometheus`]) scraping a target on
//!   loopback and queried over its API; `promtool check metrics`. Needs Debian's `prometheus`.
//! - [`blackbox`]: the real blackbox_exporter ([`blackbox::Exporter`]) on loopback, to compare
//!   `/probe` with. Needs Debian's `prometheus-blackbox-exporter`.
//! - [`dnsmasq`]: a real DNS server ([`dnsmasq::Dnsmasq`]) on a free loopback port, answering
//!   the names a test configures, NXDOMAIN for other `.test` names, or SERVFAIL for all.
//!   Needs Debian's `dnsmasq`.
//! - [`alertmanager`]: the real Prometheus Alertmanager on loopback, read back over its API.
//!   Needs Debian's `prometheus-alertmanager`.
//! - [`smtp`]: a real SMTP server (Python's `aiosmtpd`) with STARTTLS or TLS and AUTH, keeping
//!   every mail it accepts.
//! - [`fs`]: a small private tmpfs to fill up ([`fs::Tmpfs`]), `chattr +i` with a guard, the
//!   open-files limit of a process. Needs root.
//! - [`cluster`]: a cluster member's config and what the members' APIs say (who runs which
//!   check, how many are in a state), and what a webhook receiver got per idempotency key.
//! - [`eventually`]: poll a condition until a deadline instead of sleeping.
//!
//! ```no_run
//! use linkpulse_testsupport::netns::Topology;
//!
//! let net = Topology::client_router_server()?;
//! net.router.blackhole(net.server.addr_v4().into())?;
//! // the client's packets to the server now vanish in the router
//! # Ok::<(), linkpulse_testsupport::netns::NetnsError>(())
//! ```
#![deny(missing_docs)]

pub mod alertmanager;
pub mod bin;
pub mod blackbox;
pub mod browser;
pub mod cluster;
pub mod daemon;
pub mod dnsmasq;
pub mod fs;
pub mod http;
pub mod mariadb;
pub mod netns;
pub mod postgres;
pub mod prometheus;
pub mod redis;
pub mod servers;
pub mod smtp;
mod sys;
mod wait;

pub use wait::{eventually, eventually_async, eventually_some};
