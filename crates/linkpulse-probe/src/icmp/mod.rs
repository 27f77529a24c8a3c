//! ICMP echo engine (placeholder until the ICMP branch is merged: every call reports that the
//! engine is not available, as a permission error).

use std::net::IpAddr;
use std::time::Duration;

/// An ICMP echo engine shared by many concurrent pings.
#[derive(Debug)]
pub struct Pinger {
    _private: (),
}

/// How to ping one address.
#[derive(Debug, Clone)]
pub struct PingOptions {
    /// Number of echo requests to send.
    pub count: u32,
    /// Delay between two echo requests.
    pub interval: Duration,
    /// How long to wait for the last reply.
    pub timeout: Duration,
}

/// What a ping of one address saw.
#[derive(Debug, Clone, Default)]
pub struct PingReport {
    /// Echo requests sent.
    pub sent: u32,
    /// Echo replies received.
    pub received: u32,
    /// Lost requests, in percent.
    pub loss_percent: f64,
    /// Smallest round-trip time.
    pub rtt_min: Option<Duration>,
    /// Mean round-trip time.
    pub rtt_avg: Option<Duration>,
    /// Largest round-trip time.
    pub rtt_max: Option<Duration>,
    /// Mean deviation of the round-trip time.
    pub rtt_mdev: Option<Duration>,
    /// Destination-unreachable replies.
    pub unreachable: Vec<Unreachable>,
}

/// One ICMP destination-unreachable reply.
#[derive(Debug, Clone)]
pub struct Unreachable {
    /// The router or host that sent it.
    pub from: IpAddr,
    /// The ICMP code.
    pub code: u8,
    /// What the code means.
    pub meaning: String,
}

/// Why the engine could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IcmpError {
    /// Neither an unprivileged ICMP socket nor a raw socket may be opened.
    #[error(
        "no permission to send ICMP: {detail}; allow unprivileged ping with \
         `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` or grant CAP_NET_RAW \
         (`setcap cap_net_raw+ep linkpulse`)"
    )]
    Permission {
        /// What the kernel said.
        detail: String,
    },
    /// Another I/O error.
    #[error("ICMP socket error: {0}")]
    Io(std::io::Error),
}

impl Pinger {
    /// Opens the ICMP sockets.
    pub fn new() -> Result<Pinger, IcmpError> {
        crate::sys::unavailable();
        Err(IcmpError::Permission {
            detail: "the ICMP engine is not built into this version".to_owned(),
        })
    }

    /// Pings one address.
    pub async fn ping(&self, _addr: IpAddr, _opts: &PingOptions) -> PingReport {
        PingReport::default()
    }
}
