//! Kernel backstops: TCP keepalive and `TCP_USER_TIMEOUT`, and how long each takes to notice a
//! dead peer.
//!
//! The kernel notices a dead peer on two different paths, and which one runs depends on whether
//! the connection has unacknowledged data in flight:
//!
//! * **Idle path (keepalive).** With nothing in flight, after `idle` of silence the kernel sends
//!   a probe every `interval`; after `count` unanswered probes it aborts the connection and the
//!   next read or write fails with `ETIMEDOUT`. Worst case: `idle + interval × count`. With the
//!   Linux defaults (7200 s, 75 s, 9) that is 7875 s = 2 h 11 min 15 s. Keepalive does **not**
//!   run while data is unacknowledged.
//! * **Retransmission path.** With data in flight, the kernel retransmits with exponential
//!   backoff (starting at the 200 ms minimum RTO, capped at 120 s) and gives up after
//!   `tcp_retries2` (default 15) backoffs: about 924.6 s = 15.4 min.
//!
//! `TCP_USER_TIMEOUT` replaces both limits: with it set, a connection whose sent data stays
//! unacknowledged (or whose keepalive probes stay unanswered, at least one probe having been
//! sent) for longer than the timeout is aborted. It overrides the keepalive count, and it also
//! applies to zero-window probes — so it kills a peer that is alive but merely stopped reading.
//! That is why [`KeepaliveProfile::for_heartbeat`] sets it *above* the heartbeat's dead
//! deadline: the heartbeat detector, which can name the cause (a hung peer is `timeout` by
//! heartbeat, a slow reader is not dead at all while it still sends PINGs), decides first, and
//! the kernel only backstops a driver that is itself stuck.

use std::fmt;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};

/// Linux's minimum retransmission timeout (`TCP_RTO_MIN`), the first backoff step.
const RTO_MIN: Duration = Duration::from_millis(200);
/// Linux's maximum retransmission timeout (`TCP_RTO_MAX`), where the backoff stops doubling.
const RTO_MAX: Duration = Duration::from_secs(120);

/// Errors reading the kernel's settings or applying a profile to a socket.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeepaliveError {
    /// A `/proc/sys` file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A `/proc/sys` file did not hold a non-negative integer.
    #[error("{path}: expected a non-negative integer, found {value:?}")]
    Parse {
        /// The file with the bad content.
        path: PathBuf,
        /// What it held (trimmed).
        value: String,
    },
    /// A profile value is outside what the kernel accepts.
    #[error("invalid keepalive profile: {field} = {value}: {reason}")]
    Invalid {
        /// The offending field (`idle`, `interval`, `count`, `user_timeout`).
        field: &'static str,
        /// The value given, formatted for a human.
        value: String,
        /// What the kernel accepts.
        reason: &'static str,
    },
    /// The kernel refused a socket option.
    #[error("cannot set {option} on the socket: {source}")]
    SetOption {
        /// The option being set (`SO_KEEPALIVE`/`TCP_KEEPIDLE`/…, `TCP_USER_TIMEOUT`).
        option: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// The machine's kernel TCP settings that decide how long a dead peer goes unnoticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelDefaults {
    /// `net.ipv4.tcp_keepalive_time`: idle time before the first keepalive probe.
    pub keepalive_time: Duration,
    /// `net.ipv4.tcp_keepalive_intvl`: time between keepalive probes.
    pub keepalive_intvl: Duration,
    /// `net.ipv4.tcp_keepalive_probes`: unanswered probes before the connection is aborted.
    pub keepalive_probes: u32,
    /// `net.ipv4.tcp_retries2`: retransmission backoffs before a connection with unacknowledged
    /// data is aborted.
    pub tcp_retries2: u32,
}

impl KernelDefaults {
    /// The documented Linux defaults (7200 s, 75 s, 9 probes, 15 retries).
    pub const LINUX: Self = Self {
        keepalive_time: Duration::from_secs(7200),
        keepalive_intvl: Duration::from_secs(75),
        keepalive_probes: 9,
        tcp_retries2: 15,
    };

    /// Reads this machine's settings from `/proc/sys/net/ipv4`.
    pub fn read() -> Result<Self, KeepaliveError> {
        Self::read_from(Path::new("/proc/sys/net/ipv4"))
    }

    /// Reads the settings from `dir`, a directory laid out like `/proc/sys/net/ipv4` (tests pass
    /// a temporary directory).
    pub fn read_from(dir: &Path) -> Result<Self, KeepaliveError> {
        Ok(Self {
            keepalive_time: Duration::from_secs(read_u64(&dir.join("tcp_keepalive_time"))?),
            keepalive_intvl: Duration::from_secs(read_u64(&dir.join("tcp_keepalive_intvl"))?),
            keepalive_probes: read_u32(&dir.join("tcp_keepalive_probes"))?,
            tcp_retries2: read_u32(&dir.join("tcp_retries2"))?,
        })
    }

    /// The profile a socket gets when nobody tunes it: the kernel's keepalive settings and no
    /// `TCP_USER_TIMEOUT`.
    pub fn profile(&self) -> KeepaliveProfile {
        KeepaliveProfile {
            idle: self.keepalive_time,
            interval: self.keepalive_intvl,
            count: self.keepalive_probes,
            user_timeout: None,
        }
    }

    /// Worst-case time to notice a dead peer on an idle connection with keepalive enabled:
    /// `keepalive_time + keepalive_intvl × keepalive_probes`.
    pub fn idle_detection(&self) -> Duration {
        self.profile().idle_detection()
    }

    /// Worst-case time to notice a dead peer while data is unacknowledged, from the
    /// retransmission backoff bounded by `tcp_retries2`. See [`retransmission_timeout`].
    pub fn retransmission_detection(&self) -> Duration {
        retransmission_timeout(self.tcp_retries2)
    }
}

/// How long Linux retransmits unacknowledged data before aborting, for `retries` backoffs
/// (`tcp_retries2`), assuming the minimum 200 ms initial RTO. Mirrors the kernel's
/// `tcp_model_timeout`: the RTO doubles from 200 ms until it reaches 120 s, then stays there.
/// For 15 this is 924.6 s (15.4 min).
pub fn retransmission_timeout(retries: u32) -> Duration {
    // ilog2(RTO_MAX / RTO_MIN) = ilog2(600) = 9 doublings before the cap.
    let ratio = (RTO_MAX.as_millis() / RTO_MIN.as_millis()).max(1);
    let linear_backoff_thresh = ratio.ilog2();
    let rto_min_ms = u64::try_from(RTO_MIN.as_millis()).unwrap_or(200);
    let rto_max_ms = u64::try_from(RTO_MAX.as_millis()).unwrap_or(120_000);
    let ms = if retries <= linear_backoff_thresh {
        ((2u64 << retries) - 1).saturating_mul(rto_min_ms)
    } else {
        ((2u64 << linear_backoff_thresh) - 1)
            .saturating_mul(rto_min_ms)
            .saturating_add(u64::from(retries - linear_backoff_thresh).saturating_mul(rto_max_ms))
    };
    Duration::from_millis(ms)
}

fn read_trimmed(path: &Path) -> Result<String, KeepaliveError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|source| KeepaliveError::Read {
            path: path.to_owned(),
            source,
        })
}

fn read_u64(path: &Path) -> Result<u64, KeepaliveError> {
    let value = read_trimmed(path)?;
    value.parse().map_err(|_| KeepaliveError::Parse {
        path: path.to_owned(),
        value,
    })
}

fn read_u32(path: &Path) -> Result<u32, KeepaliveError> {
    let value = read_trimmed(path)?;
    value.parse().map_err(|_| KeepaliveError::Parse {
        path: path.to_owned(),
        value,
    })
}

/// A kernel keepalive profile plus an optional `TCP_USER_TIMEOUT`, applied to a socket with
/// [`KeepaliveProfile::apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepaliveProfile {
    /// `TCP_KEEPIDLE`: silence before the first probe. Whole seconds, 1 s to 32767 s.
    pub idle: Duration,
    /// `TCP_KEEPINTVL`: time between probes. Whole seconds, 1 s to 32767 s.
    pub interval: Duration,
    /// `TCP_KEEPCNT`: unanswered probes before the kernel aborts the connection (1 to 127).
    /// Ignored by the kernel when `user_timeout` is set.
    pub count: u32,
    /// `TCP_USER_TIMEOUT`: maximum time sent data (or keepalive probes) may stay
    /// unacknowledged. `None` leaves the kernel's retransmission limit (`tcp_retries2`).
    pub user_timeout: Option<Duration>,
}

impl KeepaliveProfile {
    /// The backstop profile for a heartbeat session whose detector declares the peer dead after
    /// at most `dead_after` of silence.
    ///
    /// Keepalive starts probing once the connection has been idle for the dead deadline (a
    /// healthy session is never idle that long: heartbeats flow both ways) and gives up after
    /// three probes one `heartbeat_interval` apart (rounded up to the kernel's 1 s granularity).
    ///
    /// `TCP_USER_TIMEOUT` is set to twice the dead deadline (and at least one second above it).
    /// It must be *above* the deadline: it overrides the keepalive count and also aborts a peer
    /// that is alive but stopped reading (its receive window is zero), so if it fired first the
    /// kernel — not the heartbeat — would decide, with a bare `ETIMEDOUT` instead of a named
    /// cause, and a merely slow reader would be cut off. Above the deadline it only catches a
    /// driver that has stopped running its own detector.
    pub fn for_heartbeat(heartbeat_interval: Duration, dead_after: Duration) -> Self {
        let idle = ceil_secs(dead_after).clamp(1, 32_767);
        let interval = ceil_secs(heartbeat_interval).clamp(1, 32_767);
        let user_timeout = dead_after
            .saturating_mul(2)
            .max(dead_after.saturating_add(Duration::from_secs(1)));
        Self {
            idle: Duration::from_secs(idle),
            interval: Duration::from_secs(interval),
            count: 3,
            user_timeout: Some(user_timeout),
        }
    }

    /// Checks every field against what Linux accepts, naming the first bad one.
    pub fn validate(&self) -> Result<(), KeepaliveError> {
        check_secs("idle", self.idle)?;
        check_secs("interval", self.interval)?;
        if !(1..=127).contains(&self.count) {
            return Err(KeepaliveError::Invalid {
                field: "count",
                value: self.count.to_string(),
                reason: "must be between 1 and 127",
            });
        }
        if let Some(ut) = self.user_timeout
            && (ut.is_zero() || ut.as_millis() > u128::from(i32::MAX.unsigned_abs()))
        {
            return Err(KeepaliveError::Invalid {
                field: "user_timeout",
                value: format!("{}", HumanDuration(ut)),
                reason: "must be between 1 ms and about 24 days",
            });
        }
        Ok(())
    }

    /// Worst-case time for the kernel to abort an *idle* connection whose peer vanished right
    /// after it last spoke.
    ///
    /// Without `TCP_USER_TIMEOUT`: `idle + interval × count`. With it, the keepalive timer aborts
    /// at the first probe tick (`idle + k × interval`, `k ≥ 1`) at which the silence has lasted
    /// at least the user timeout, whatever `count` says.
    pub fn idle_detection(&self) -> Duration {
        match self.user_timeout {
            None => self
                .idle
                .saturating_add(self.interval.saturating_mul(self.count)),
            Some(ut) => {
                let interval = self.interval.max(Duration::from_millis(1));
                let after_idle = ut.saturating_sub(self.idle);
                let ticks = after_idle.as_nanos().div_ceil(interval.as_nanos()).max(1);
                let ticks = u32::try_from(ticks).unwrap_or(u32::MAX);
                self.idle.saturating_add(interval.saturating_mul(ticks))
            }
        }
    }

    /// Worst-case time for the kernel to abort a connection whose sent data stays
    /// unacknowledged: the user timeout if set, else the `tcp_retries2` backoff of `kernel`.
    pub fn retransmission_detection(&self, kernel: &KernelDefaults) -> Duration {
        self.user_timeout
            .unwrap_or_else(|| kernel.retransmission_detection())
    }

    /// Enables keepalive with this profile on `socket` (a `TcpStream`, std or tokio, or any
    /// TCP socket) and sets (or clears) `TCP_USER_TIMEOUT`.
    pub fn apply<S: AsFd>(&self, socket: &S) -> Result<(), KeepaliveError> {
        self.validate()?;
        let socket = SockRef::from(socket);
        let params = TcpKeepalive::new()
            .with_time(self.idle)
            .with_interval(self.interval)
            .with_retries(self.count);
        socket
            .set_tcp_keepalive(&params)
            .map_err(|source| KeepaliveError::SetOption {
                option: "SO_KEEPALIVE/TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT",
                source,
            })?;
        socket
            .set_tcp_user_timeout(self.user_timeout)
            .map_err(|source| KeepaliveError::SetOption {
                option: "TCP_USER_TIMEOUT",
                source,
            })
    }
}

impl fmt::Display for KeepaliveProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "idle {}, interval {}, count {}",
            HumanDuration(self.idle),
            HumanDuration(self.interval),
            self.count
        )?;
        match self.user_timeout {
            Some(ut) => write!(f, ", user timeout {}", HumanDuration(ut)),
            None => write!(f, ", no user timeout"),
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn check_secs(field: &'static str, d: Duration) -> Result<(), KeepaliveError> {
    if d.subsec_nanos() != 0 || !(1..=32_767).contains(&d.as_secs()) {
        return Err(KeepaliveError::Invalid {
            field,
            value: format!("{}", HumanDuration(d)),
            reason: "must be a whole number of seconds between 1 s and 32767 s",
        });
    }
    Ok(())
}

/// Formats a duration the way a person reads it: `2 h 11 min 15 s`, `15 min 24.6 s`, `350 ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d < Duration::from_secs(1) {
            return write!(f, "{} ms", d.as_millis());
        }
        let total = d.as_secs();
        let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
        let tenths = d.subsec_millis() / 100;
        let mut parts = Vec::new();
        if h > 0 {
            parts.push(format!("{h} h"));
        }
        if m > 0 {
            parts.push(format!("{m} min"));
        }
        if s > 0 || tenths > 0 {
            if tenths > 0 {
                parts.push(format!("{s}.{tenths} s"));
            } else {
                parts.push(format!("{s} s"));
            }
        }
        f.write_str(&parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_defaults_take_two_hours_eleven_minutes_idle() {
        let d = KernelDefaults::LINUX;
        assert_eq!(d.idle_detection(), Duration::from_secs(7875));
        assert_eq!(
            HumanDuration(d.idle_detection()).to_string(),
            "2 h 11 min 15 s"
        );
    }

    #[test]
    fn retries2_of_15_is_about_fifteen_minutes() {
        assert_eq!(retransmission_timeout(15), Duration::from_millis(924_600));
        assert_eq!(
            HumanDuration(retransmission_timeout(15)).to_string(),
            "15 min 24.6 s"
        );
        // Below the doubling threshold: 200 ms × (2^(n+1) − 1).
        assert_eq!(retransmission_timeout(3), Duration::from_millis(3_000));
        assert_eq!(retransmission_timeout(0), Duration::from_millis(200));
    }

    #[test]
    fn tuned_profile_without_user_timeout_is_idle_plus_count_intervals() {
        let p = KeepaliveProfile {
            idle: Duration::from_secs(1),
            interval: Duration::from_secs(1),
            count: 3,
            user_timeout: None,
        };
        assert_eq!(p.idle_detection(), Duration::from_secs(4));
    }

    #[test]
    fn user_timeout_overrides_the_count() {
        let mut p = KeepaliveProfile {
            idle: Duration::from_secs(1),
            interval: Duration::from_secs(1),
            count: 3,
            user_timeout: Some(Duration::from_secs(5)),
        };
        assert_eq!(p.idle_detection(), Duration::from_secs(5));
        // A user timeout shorter than idle still needs one probe to have gone out.
        p.user_timeout = Some(Duration::from_millis(300));
        assert_eq!(p.idle_detection(), Duration::from_secs(2));
        assert_eq!(
            p.retransmission_detection(&KernelDefaults::LINUX),
            Duration::from_millis(300)
        );
        p.user_timeout = None;
        assert_eq!(
            p.retransmission_detection(&KernelDefaults::LINUX),
            Duration::from_millis(924_600)
        );
    }

    #[test]
    fn heartbeat_profile_puts_user_timeout_above_the_dead_deadline() {
        let p =
            KeepaliveProfile::for_heartbeat(Duration::from_millis(100), Duration::from_millis(500));
        assert!(p.validate().is_ok());
        assert_eq!(p.idle, Duration::from_secs(1));
        assert_eq!(p.interval, Duration::from_secs(1));
        let ut = p.user_timeout.expect("user timeout set");
        assert!(ut > Duration::from_millis(500), "{ut:?}");
        let p = KeepaliveProfile::for_heartbeat(Duration::from_secs(1), Duration::from_secs(10));
        assert_eq!(p.user_timeout, Some(Duration::from_secs(20)));
        assert_eq!(p.idle, Duration::from_secs(10));
    }

    #[test]
    fn validate_names_the_bad_field() {
        let p = KeepaliveProfile {
            idle: Duration::from_millis(1500),
            interval: Duration::from_secs(1),
            count: 3,
            user_timeout: None,
        };
        let err = p.validate().expect_err("bad idle").to_string();
        assert!(err.contains("idle = 1.5 s"), "{err}");
        let p = KeepaliveProfile {
            idle: Duration::from_secs(1),
            count: 0,
            ..p
        };
        let err = p.validate().expect_err("bad count").to_string();
        assert!(err.contains("count = 0"), "{err}");
    }

    #[test]
    fn reads_proc_layout_and_reports_bad_content() {
        let dir = std::env::temp_dir().join(format!("lp-ka-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        for (name, v) in [
            ("tcp_keepalive_time", "60\n"),
            ("tcp_keepalive_intvl", "10\n"),
            ("tcp_keepalive_probes", "5\n"),
            ("tcp_retries2", "8\n"),
        ] {
            std::fs::write(dir.join(name), v).ok();
        }
        let d = KernelDefaults::read_from(&dir).expect("read");
        assert_eq!(d.idle_detection(), Duration::from_secs(110));
        std::fs::write(dir.join("tcp_retries2"), "lots\n").ok();
        let err = KernelDefaults::read_from(&dir)
            .expect_err("bad file")
            .to_string();
        assert!(
            err.contains("tcp_retries2") && err.contains("\"lots\""),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn apply_sets_the_options_on_a_real_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let stream = std::net::TcpStream::connect(listener.local_addr().expect("addr"))
            .expect("connect loopback");
        let p = KeepaliveProfile {
            idle: Duration::from_secs(3),
            interval: Duration::from_secs(2),
            count: 4,
            user_timeout: Some(Duration::from_millis(7500)),
        };
        p.apply(&stream).expect("apply");
        let s = SockRef::from(&stream);
        assert!(s.keepalive().expect("SO_KEEPALIVE"));
        assert_eq!(
            s.tcp_keepalive_time().expect("idle"),
            Duration::from_secs(3)
        );
        assert_eq!(
            s.tcp_keepalive_interval().expect("intvl"),
            Duration::from_secs(2)
        );
        assert_eq!(s.tcp_keepalive_retries().expect("cnt"), 4);
        assert_eq!(
            s.tcp_user_timeout().expect("ut"),
            Some(Duration::from_millis(7500))
        );
    }
}
