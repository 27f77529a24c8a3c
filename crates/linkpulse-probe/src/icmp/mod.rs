//! ICMP echo ("ping") for IPv4 and IPv6, built for many targets at once.
//!
//! One [`Pinger`] owns one ICMP socket per address family and one receive task per socket;
//! any number of concurrent [`Pinger::ping`] calls share them. Replies are matched to probes
//! by sequence number (unique among probes in flight), source address, a per-probe nonce in
//! the payload and, on raw sockets, the identifier — so thousands of concurrent pings never
//! take each other's replies. ICMP destination-unreachable and time-exceeded messages about a
//! probe are reported in [`PingReport::unreachable`].
//!
//! Socket choice: an unprivileged ICMP datagram socket where `net.ipv4.ping_group_range`
//! admits the process's group, else a raw socket (needs `CAP_NET_RAW`), else
//! [`IcmpError::Permission`]. See [`SocketMode`].
//!
//! Cost: a sweep of 10,000 loopback targets (one request each, all at once) takes about the
//! CPU time of `fping -i 0` over the same targets (≈1.1×; most of it is the kernel's own
//! send/receive work). See `tests/icmp_sweep.rs`. With datagram sockets the receive buffer
//! is capped by `net.core.rmem_max`; very large bursts may then lose replies.
//!
//! ```no_run
//! # async fn demo() -> Result<(), linkpulse_probe::icmp::IcmpError> {
//! use linkpulse_probe::icmp::{PingOptions, Pinger};
//! let pinger = Pinger::new()?;
//! let report = pinger.ping("127.0.0.1".parse().unwrap(), &PingOptions::default()).await;
//! println!("{}/{} received, {:.0}% loss", report.received, report.sent, report.loss_percent);
//! # Ok(()) }
//! ```

mod engine;
mod error;
mod meaning;
mod packet;
mod queue;
mod session;
mod table;

use std::net::IpAddr;
use std::time::Duration;

pub use engine::Pinger;
pub use error::IcmpError;

/// Which kind of ICMP socket a [`Pinger`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketMode {
    /// Unprivileged ICMP datagram socket (`SOCK_DGRAM`, `IPPROTO_ICMP`): allowed when the
    /// process's group is inside `net.ipv4.ping_group_range`. The kernel sets the identifier
    /// and reports ICMP errors through the socket's error queue.
    Datagram,
    /// Raw ICMP socket (`SOCK_RAW`): needs `CAP_NET_RAW` (or root). Sees every ICMP message
    /// the host receives; the pinger filters by identifier.
    Raw,
}

/// Settings of a [`Pinger`]'s sockets, applied to every request it sends
/// ([`Pinger::with_tuning`]); the default is the system's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SocketTuning {
    /// Hop limit (IPv4 TTL) of the requests; `None`: the system's default.
    pub ttl: Option<u8>,
    /// Forbid fragmentation (IPv4 don't-fragment bit, `IPV6_DONTFRAG`): a request larger
    /// than the path MTU fails instead of being fragmented.
    pub dont_fragment: bool,
    /// Bytes of echo payload; below 16 (the nonce and marker every request carries) 16 are
    /// sent.
    pub payload_size: usize,
}

/// How to ping one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingOptions {
    /// Number of echo requests to send (at least 1).
    pub count: u32,
    /// Time between two requests to the same address (zero sends them back to back).
    pub interval: Duration,
    /// How long to wait for the reply to each request (more than zero); later replies count
    /// as lost.
    pub timeout: Duration,
}

impl Default for PingOptions {
    /// 3 requests, 1 s apart, each waiting up to 2 s for its reply.
    fn default() -> Self {
        PingOptions {
            count: 3,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
        }
    }
}

impl PingOptions {
    /// Checks the options, naming the bad field and value.
    pub fn validate(&self) -> Result<(), IcmpError> {
        if self.count == 0 {
            return Err(IcmpError::InvalidOptions {
                detail: "count is 0; it must be at least 1".to_owned(),
            });
        }
        if self.timeout.is_zero() {
            return Err(IcmpError::InvalidOptions {
                detail: "timeout is 0s; it must be more than zero".to_owned(),
            });
        }
        Ok(())
    }
}

/// The outcome of pinging one address. An unreachable or silent host is a report with
/// `received == 0`, not an error; `error` is only set when the pinger itself failed.
#[derive(Debug, Clone, Default)]
pub struct PingReport {
    /// Echo requests sent (including any whose send failed; see `error`).
    pub sent: u32,
    /// Echo replies received within the timeout.
    pub received: u32,
    /// `100 * (sent - received) / sent`; 100 when nothing was sent.
    pub loss_percent: f64,
    /// Smallest round-trip time, `None` without replies.
    pub rtt_min: Option<Duration>,
    /// Mean round-trip time, `None` without replies.
    pub rtt_avg: Option<Duration>,
    /// Largest round-trip time, `None` without replies.
    pub rtt_max: Option<Duration>,
    /// Mean deviation as `ping` computes it: `sqrt(mean(rtt²) − mean(rtt)²)`.
    pub rtt_mdev: Option<Duration>,
    /// ICMP destination-unreachable (and time-exceeded) replies received instead of echo
    /// replies, one per affected request, in arrival order.
    pub unreachable: Vec<Unreachable>,
    /// Why requests could not be sent (no permission, no socket, bad options, a send error);
    /// the first such error.
    pub error: Option<IcmpError>,
    /// Hop limit (IPv4 TTL) of the last counted echo reply: from the IP header on raw IPv4
    /// sockets, from `IP_RECVTTL` / `IPV6_RECVHOPLIMIT` ancillary data otherwise.
    pub reply_hop_limit: Option<u8>,
}

impl PingReport {
    /// A report for a ping that could not start.
    fn failed(error: IcmpError) -> PingReport {
        PingReport {
            sent: 0,
            received: 0,
            loss_percent: 100.0,
            rtt_min: None,
            rtt_avg: None,
            rtt_max: None,
            rtt_mdev: None,
            unreachable: Vec::new(),
            error: Some(error),
            reply_hop_limit: None,
        }
    }
}

/// An ICMP error received in answer to an echo request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    /// The host that sent the ICMP error (often a router, not the target).
    pub from: IpAddr,
    /// The ICMP code (for ICMPv4 destination unreachable: 0 net, 1 host, 3 port, 13
    /// administratively prohibited, …).
    pub code: u8,
    /// What the type and code mean, e.g. "host unreachable", "port unreachable",
    /// "communication administratively prohibited", "time to live exceeded".
    pub meaning: String,
}
