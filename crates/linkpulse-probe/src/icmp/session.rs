//! One `ping` of one address as a sans-IO state machine: when to send, when a probe is lost,
//! and the statistics at the end.
//!
//! Call order for a driver: [`Session::poll_transmit`] until `None` (sending each returned
//! probe and reporting it with [`Session::on_sent`] or [`Session::on_send_failed`]), then
//! [`Session::expire`], then stop if [`Session::is_done`], else sleep until
//! [`Session::poll_timeout`] or until an event arrives ([`Session::on_reply`],
//! [`Session::on_error`]) and repeat. The session never reads a clock: `now` is an argument.

use std::time::{Duration, Instant};

use super::{IcmpError, PingOptions, PingReport, Unreachable};

/// Where one probe (one echo request) stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Probe {
    /// Not sent yet.
    Unsent,
    /// Sent at the given instant; waiting for a reply until `sent_at + timeout`.
    InFlight { sent_at: Instant },
    /// Answered within the timeout.
    Replied { rtt: Duration },
    /// No reply within the timeout, an ICMP error instead, or the send failed.
    Lost,
}

/// The state of one ping run.
#[derive(Debug)]
pub(crate) struct Session {
    interval: Duration,
    timeout: Duration,
    /// When the first probe is due; probe `i` is due at `start + i * interval`.
    start: Instant,
    /// Index of the next probe to send.
    next: u32,
    probes: Vec<Probe>,
    unreachable: Vec<Unreachable>,
    error: Option<IcmpError>,
}

impl Session {
    /// A session that sends its first probe at `now`.
    pub(crate) fn new(opts: &PingOptions, now: Instant) -> Self {
        let count = usize::try_from(opts.count).unwrap_or(usize::MAX);
        Session {
            interval: opts.interval,
            timeout: opts.timeout,
            start: now,
            next: 0,
            probes: vec![Probe::Unsent; count],
            unreachable: Vec::new(),
            error: None,
        }
    }

    fn count(&self) -> u32 {
        u32::try_from(self.probes.len()).unwrap_or(u32::MAX)
    }

    fn due(&self, index: u32) -> Instant {
        self.start + self.interval.saturating_mul(index)
    }

    /// The next probe to send now, if one is due. The caller must then report it with
    /// [`Session::on_sent`] or [`Session::on_send_failed`].
    pub(crate) fn poll_transmit(&mut self, now: Instant) -> Option<u32> {
        if self.next < self.count() && self.due(self.next) <= now {
            self.next += 1;
            Some(self.next - 1)
        } else {
            None
        }
    }

    /// Probe `index` left the socket at `at`.
    pub(crate) fn on_sent(&mut self, index: u32, at: Instant) {
        if let Some(p @ Probe::Unsent) = self.probe_mut(index) {
            *p = Probe::InFlight { sent_at: at };
        }
    }

    /// Probe `index` could not be sent; it counts as lost and `error` is kept for the report.
    pub(crate) fn on_send_failed(&mut self, index: u32, error: IcmpError) {
        if let Some(p @ Probe::Unsent) = self.probe_mut(index) {
            *p = Probe::Lost;
        }
        self.error.get_or_insert(error);
    }

    /// The reply to probe `index` arrived at `at`. Returns whether it counted (a reply after
    /// the timeout, or a duplicate, does not).
    pub(crate) fn on_reply(&mut self, index: u32, at: Instant) -> bool {
        let timeout = self.timeout;
        match self.probe_mut(index) {
            Some(p @ Probe::InFlight { .. }) => {
                let Probe::InFlight { sent_at } = *p else {
                    return false;
                };
                let rtt = at.saturating_duration_since(sent_at);
                *p = if rtt <= timeout {
                    Probe::Replied { rtt }
                } else {
                    Probe::Lost
                };
                matches!(p, Probe::Replied { .. })
            }
            _ => false,
        }
    }

    /// An ICMP error about probe `index` arrived: the probe is lost and the error reported.
    pub(crate) fn on_error(&mut self, index: u32, unreachable: Unreachable) {
        if let Some(p @ Probe::InFlight { .. }) = self.probe_mut(index) {
            *p = Probe::Lost;
            self.unreachable.push(unreachable);
        }
    }

    /// Marks every probe whose timeout passed by `now` as lost, calling `lost` with its index
    /// (the driver then forgets its sequence number).
    pub(crate) fn expire(&mut self, now: Instant, mut lost: impl FnMut(u32)) {
        let timeout = self.timeout;
        for (i, p) in self.probes.iter_mut().enumerate() {
            if let Probe::InFlight { sent_at } = *p
                && sent_at + timeout <= now
            {
                *p = Probe::Lost;
                lost(u32::try_from(i).unwrap_or(u32::MAX));
            }
        }
    }

    /// When the driver must next act: the next send or the earliest reply deadline.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let next_send = (self.next < self.count()).then(|| self.due(self.next));
        let deadline = self
            .probes
            .iter()
            .filter_map(|p| match p {
                Probe::InFlight { sent_at } => Some(*sent_at + self.timeout),
                _ => None,
            })
            .min();
        match (next_send, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Every probe is sent and none is in flight.
    pub(crate) fn is_done(&self) -> bool {
        self.next >= self.count()
            && !self
                .probes
                .iter()
                .any(|p| matches!(p, Probe::InFlight { .. }))
    }

    fn probe_mut(&mut self, index: u32) -> Option<&mut Probe> {
        self.probes.get_mut(usize::try_from(index).ok()?)
    }

    /// The report over everything sent so far; probes still in flight count as lost.
    pub(crate) fn report(self) -> PingReport {
        let sent = u32::try_from(
            self.probes
                .iter()
                .filter(|p| !matches!(p, Probe::Unsent))
                .count(),
        )
        .unwrap_or(u32::MAX);
        let rtts: Vec<Duration> = self
            .probes
            .iter()
            .filter_map(|p| match p {
                Probe::Replied { rtt } => Some(*rtt),
                _ => None,
            })
            .collect();
        let received = u32::try_from(rtts.len()).unwrap_or(u32::MAX);
        let stats = RttStats::of(&rtts);
        PingReport {
            sent,
            received,
            loss_percent: loss_percent(sent, received),
            rtt_min: stats.map(|s| s.min),
            rtt_avg: stats.map(|s| s.avg),
            rtt_max: stats.map(|s| s.max),
            rtt_mdev: stats.map(|s| s.mdev),
            unreachable: self.unreachable,
            error: self.error,
            reply_hop_limit: None,
        }
    }
}

/// Percentage of `sent` probes without a reply; 100 when nothing could be sent.
pub(crate) fn loss_percent(sent: u32, received: u32) -> f64 {
    if sent == 0 {
        return 100.0;
    }
    f64::from(sent.saturating_sub(received)) * 100.0 / f64::from(sent)
}

/// Round-trip statistics as `ping` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RttStats {
    pub(crate) min: Duration,
    pub(crate) avg: Duration,
    pub(crate) max: Duration,
    /// `sqrt(mean(rtt²) − mean(rtt)²)`, ping's "mdev".
    pub(crate) mdev: Duration,
}

impl RttStats {
    /// Statistics over `rtts`, or `None` when empty.
    pub(crate) fn of(rtts: &[Duration]) -> Option<RttStats> {
        let min = *rtts.iter().min()?;
        let max = *rtts.iter().max()?;
        let n = rtts.len() as f64;
        let (sum, sum2) = rtts.iter().fold((0f64, 0f64), |(s, s2), r| {
            let x = r.as_secs_f64();
            (s + x, s2 + x * x)
        });
        let mean = sum / n;
        let var = (sum2 / n - mean * mean).max(0.0);
        Some(RttStats {
            min,
            avg: Duration::from_secs_f64(mean),
            max,
            mdev: Duration::try_from_secs_f64(var.sqrt()).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn opts(count: u32, interval_ms: u64, timeout_ms: u64) -> PingOptions {
        PingOptions {
            count,
            interval: Duration::from_millis(interval_ms),
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn sends_on_the_interval_schedule() {
        let t0 = Instant::now();
        let mut s = Session::new(&opts(3, 1000, 2000), t0);
        assert_eq!(s.poll_transmit(t0), Some(0));
        s.on_sent(0, t0);
        assert_eq!(s.poll_transmit(t0), None);
        assert_eq!(s.poll_timeout(), Some(t0 + ms(1000)));
        assert_eq!(s.poll_transmit(t0 + ms(999)), None);
        assert_eq!(s.poll_transmit(t0 + ms(1000)), Some(1));
        s.on_sent(1, t0 + ms(1000));
        // A late driver sends the overdue probe at once.
        assert_eq!(s.poll_transmit(t0 + ms(2500)), Some(2));
        assert_eq!(s.poll_transmit(t0 + ms(2500)), None);
    }

    #[test]
    fn replies_within_timeout_count_and_late_ones_do_not() {
        let t0 = Instant::now();
        let mut s = Session::new(&opts(2, 0, 100), t0);
        for i in [0, 1] {
            assert_eq!(s.poll_transmit(t0), Some(i));
            s.on_sent(i, t0);
        }
        assert!(s.on_reply(0, t0 + ms(10)));
        assert!(!s.on_reply(0, t0 + ms(11)), "duplicate reply");
        assert!(!s.on_reply(1, t0 + ms(101)), "reply after the timeout");
        assert!(s.is_done());
        let r = s.report();
        assert_eq!((r.sent, r.received), (2, 1));
        assert!((r.loss_percent - 50.0).abs() < 1e-9);
        assert_eq!(r.rtt_min, Some(ms(10)));
    }

    #[test]
    fn silence_expires_every_probe() {
        let t0 = Instant::now();
        let mut s = Session::new(&opts(2, 50, 100), t0);
        assert_eq!(s.poll_transmit(t0), Some(0));
        s.on_sent(0, t0);
        let mut lost = Vec::new();
        s.expire(t0 + ms(50), |i| lost.push(i));
        assert!(lost.is_empty());
        assert_eq!(s.poll_transmit(t0 + ms(50)), Some(1));
        s.on_sent(1, t0 + ms(50));
        assert_eq!(s.poll_timeout(), Some(t0 + ms(100)));
        s.expire(t0 + ms(100), |i| lost.push(i));
        assert_eq!(lost, vec![0]);
        assert!(!s.is_done());
        s.expire(t0 + ms(150), |i| lost.push(i));
        assert_eq!(lost, vec![0, 1]);
        assert!(s.is_done());
        let r = s.report();
        assert_eq!((r.sent, r.received, r.loss_percent), (2, 0, 100.0));
        assert_eq!(r.rtt_avg, None);
    }

    #[test]
    fn unreachable_errors_are_kept() {
        let t0 = Instant::now();
        let mut s = Session::new(&opts(1, 0, 100), t0);
        assert_eq!(s.poll_transmit(t0), Some(0));
        s.on_sent(0, t0);
        let u = Unreachable {
            from: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            code: 1,
            meaning: "host unreachable".to_owned(),
        };
        s.on_error(0, u.clone());
        assert!(s.is_done());
        let r = s.report();
        assert_eq!(r.unreachable, vec![u]);
        assert_eq!(r.loss_percent, 100.0);
    }

    #[test]
    fn send_failure_is_reported_and_counts_as_lost() {
        let t0 = Instant::now();
        let mut s = Session::new(&opts(1, 0, 100), t0);
        assert_eq!(s.poll_transmit(t0), Some(0));
        s.on_send_failed(
            0,
            IcmpError::Io(std::io::Error::from(std::io::ErrorKind::Other)),
        );
        assert!(s.is_done());
        let r = s.report();
        assert_eq!((r.sent, r.received), (1, 0));
        assert!(r.error.is_some());
    }

    #[test]
    fn mdev_matches_ping() {
        // ping: 1, 2, 3 ms → avg 2, mdev sqrt((1+4+9)/3 - 4) = 0.816 ms.
        let s = RttStats::of(&[ms(1), ms(2), ms(3)]).expect("non-empty");
        assert_eq!((s.min, s.max), (ms(1), ms(3)));
        assert!((s.avg.as_secs_f64() - 0.002).abs() < 1e-9);
        assert!(
            (s.mdev.as_secs_f64() - 0.000_816_5).abs() < 1e-7,
            "{:?}",
            s.mdev
        );
        assert_eq!(RttStats::of(&[]), None);
        assert_eq!(RttStats::of(&[ms(5)]).map(|s| s.mdev), Some(Duration::ZERO));
    }
}
