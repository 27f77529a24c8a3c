//! ICMP echo engine (placeholder until the ICMP branch is merged: the same public shapes, but
//! creating a [`Pinger`] always fails with [`IcmpError::Permission`]).

use std::io;
use std::net::IpAddr;
use std::time::Duration;

/// An ICMP echo engine shared by many concurrent pings.
#[derive(Debug)]
pub struct Pinger {
    _private: (),
}

/// How to ping one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingOptions {
    /// Number of echo requests to send.
    pub count: u32,
    /// Delay between two echo requests.
    pub interval: Duration,
    /// How long to wait for each reply.
    pub timeout: Duration,
}

/// What a ping of one address saw.
#[derive(Debug, Clone)]
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
    /// Why requests could not be sent.
    pub error: Option<IcmpError>,
}

/// One ICMP destination-unreachable reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    /// The router or host that sent it.
    pub from: IpAddr,
    /// The ICMP code.
    pub code: u8,
    /// What the code means.
    pub meaning: String,
}

/// Why the pinger could not do its job.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IcmpError {
    /// Neither an unprivileged ICMP socket nor a raw socket may be opened.
    #[error(
        "no permission to open an ICMP socket ({detail}); fix it either by allowing unprivileged \
         ICMP datagram sockets: `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"`, or by \
         giving the binary CAP_NET_RAW for raw sockets: `setcap cap_net_raw+ep /path/to/linkpulse`"
    )]
    Permission {
        /// What the kernel said.
        detail: String,
    },
    /// An I/O error on the ICMP socket.
    #[error("ICMP socket error: {0}")]
    Io(#[from] io::Error),
    /// Sending an echo request to `addr` failed.
    #[error("cannot send ICMP echo request to {addr}: {source}")]
    Send {
        /// The probed address.
        addr: IpAddr,
        /// The error `sendto` returned.
        source: io::Error,
    },
}

impl Clone for IcmpError {
    fn clone(&self) -> Self {
        let copy = |e: &io::Error| io::Error::new(e.kind(), e.to_string());
        match self {
            IcmpError::Permission { detail } => IcmpError::Permission {
                detail: detail.clone(),
            },
            IcmpError::Io(e) => IcmpError::Io(copy(e)),
            IcmpError::Send { addr, source } => IcmpError::Send {
                addr: *addr,
                source: copy(source),
            },
        }
    }
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
        PingReport {
            sent: 0,
            received: 0,
            loss_percent: 100.0,
            rtt_min: None,
            rtt_avg: None,
            rtt_max: None,
            rtt_mdev: None,
            unreachable: Vec::new(),
            error: None,
        }
    }
}
