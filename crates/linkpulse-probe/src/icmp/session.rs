//! One `ping` of one address as a sans-IO state machine: when to send, when a probe is lost,
//! and the statistics at the end.
//!
//! Call order for a driver: [`Session::poll_transmit`] until `None` (sending each returned
//! probe and reporting it with [`Session::on_sent`] or [`Session::on_send_failed`]), then
//! [`Session::expire`], then stop if [`Session::is_done`], else sleep until
//! [`Session::poll_timeout`] or until an event arrives ([`Session::on_reply`],
//! [`Session::on_error`]) and repeat. The session never reads a clock: `now` is an argument.

use std::time::{Duration, Instant};

use super::queue::IndexQueue;
use super::{IcmpError, PingOptions, PingReport, Unreachable};

/// At most this many ICMP errors are kept per report (a long ping of an unreachable host would
/// otherwise keep one per request).
pub(crate) const MAX_UNREACHABLE: usize = 1000;

/// `t + d`, or a year later than `t` when that overflows (absurd options must not panic).
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(365 * 86_400)))
        .unwrap_or(t)
}

/// The state of one ping run. Memory is bounded by the probes in flight, not by `count`.
#[derive(Debug)]
pub(crate) struct Session {
    count: u32,
    interval: Duration,
    timeout: Duration,
    /// When the first probe is due; probe `i` is due at `start + i * interval`.
    start: Instant,
    /// Index of the next probe to send.
    next: u32,
    /// Send time of each probe waiting for a reply, by index (so in sending order).
    in_flight: IndexQueue<Instant>,
    /// Probes sent, including those whose send failed.
    sent: u32,
    received: u32,
    rtt: RttAccumulator,
    unreachable: Vec<Unreachable>,
    error: Option<IcmpError>,
}

impl Session {
    /// A session that sends its first probe at `now`.
    pub(crate) fn new(opts: &PingOptions, now: Instant) -> Self {
        Session {
            count: opts.count,
            interval: opts.interval,
            timeout: opts.timeout,
            start: now,
            next: 0,
            in_flight: IndexQueue::default(),
            sent: 0,
            received: 0,
            rtt: RttAccumulator::default(),
            unreachable: Vec::new(),
            error: None,
        }
    }

    fn due(&self, index: u32) -> Instant {
        later(self.start, self.interval.saturating_mul(index))
    }

    /// The next probe to send now, if one is due. The caller must then report it with
    /// [`Session::on_sent`] or [`Session::on_send_failed`].
    pub(crate) fn poll_transmit(&mut self, now: Instant) -> Option<u32> {
        if self.next < self.count && self.due(self.next) <= now {
            self.next += 1;
            Some(self.next - 1)
        } else {
            None
        }
    }

    /// Probe `index` (from [`Session::poll_transmit`]) left the socket at `at`.
    pub(crate) fn on_sent(&mut self, index: u32, at: Instant) {
        self.sent = self.sent.saturating_add(1);
        self.in_flight.push(index, at);
    }

    /// Probe `index` could not be sent; it counts as sent and lost, and `error` is kept for
    /// the report.
    pub(crate) fn on_send_failed(&mut self, _index: u32, error: IcmpError) {
        self.sent = self.sent.saturating_add(1);
        self.error.get_or_insert(error);
    }

    fn take(&mut self, index: u32) -> Option<Instant> {
        self.in_flight.remove(index)
    }

    /// The reply to probe `index` arrived at `at`. Returns whether it counted (a reply after
    /// the timeout, or to a probe no longer in flight, does not).
    pub(crate) fn on_reply(&mut self, index: u32, at: Instant) -> bool {
        let Some(sent_at) = self.take(index) else {
            return false;
        };
        let rtt = at.saturating_duration_since(sent_at);
        if rtt > self.timeout {
            return false;
        }
        self.received = self.received.saturating_add(1);
        self.rtt.add(rtt);
        true
    }

    /// An ICMP error about probe `index` arrived: the probe is lost and the error reported.
    pub(crate) fn on_error(&mut self, index: u32, unreachable: Unreachable) {
        if self.take(index).is_some() && self.unreachable.len() < MAX_UNREACHABLE {
            self.unreachable.push(unreachable);
        }
    }

    /// Marks every probe whose timeout passed by `now` as lost, calling `lost` with its index
    /// (the driver then forgets its sequence number).
    pub(crate) fn expire(&mut self, now: Instant, mut lost: impl FnMut(u32)) {
        // Probes leave in sending order, so the front has the earliest deadline.
        while let Some((index, &sent_at)) = self.in_flight.front() {
            if later(sent_at, self.timeout) > now {
                break;
            }
            self.in_flight.pop_front();
            lost(index);
        }
    }

    /// When the driver must next act: the next send or the earliest reply deadline.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let next_send = (self.next < self.count).then(|| self.due(self.next));
        match (next_send, self.next_expiry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The earliest reply deadline of the probes in flight.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        // Probes leave in sending order, so the front has the earliest deadline.
        self.in_flight
            .front()
            .map(|(_, &sent_at)| later(sent_at, self.timeout))
    }

    /// Every probe is sent and none is in flight.
    pub(crate) fn is_done(&self) -> bool {
        self.next >= self.count && self.in_flight.is_empty()
    }

    /// The report over everything sent so far; probes still in flight count as lost.
    pub(crate) fn report(self) -> PingReport {
        let stats = self.rtt.stats();
        PingReport {
            sent: self.sent,
            received: self.received,
            loss_percent: loss_percent(self.sent, self.received),
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

/// Running sums for [`RttStats`], so a long ping keeps no per-probe history.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RttAccumulator {
    n: u32,
    min: Duration,
    max: Duration,
    /// Sum of RTTs in seconds.
    sum: f64,
    /// Sum of squared RTTs in seconds².
    sum2: f64,
}

impl RttAccumulator {
    pub(crate) fn add(&mut self, rtt: Duration) {
        self.min = if self.n == 0 { rtt } else { self.min.min(rtt) };
        self.max = self.max.max(rtt);
        let x = rtt.as_secs_f64();
        self.sum += x;
        self.sum2 += x * x;
        self.n = self.n.saturating_add(1);
    }

    /// Statistics over everything added, or `None` when empty.
    pub(crate) fn stats(&self) -> Option<RttStats> {
        if self.n == 0 {
            return None;
        }
        let n = f64::from(self.n);
        let mean = self.sum / n;
        let var = (self.sum2 / n - mean * mean).max(0.0);
        Some(RttStats {
            min: self.min,
            avg: Duration::try_from_secs_f64(mean).unwrap_or(self.max),
            max: self.max,
            mdev: Duration::try_from_secs_f64(var.sqrt()).unwrap_or_default(),
        })
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
    #[cfg(test)]
    pub(crate) fn of(rtts: &[Duration]) -> Option<RttStats> {
        let mut acc = RttAccumulator::default();
        rtts.iter().for_each(|&r| acc.add(r));
        acc.stats()
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

    #[test]
    fn absurd_durations_do_not_panic() {
        let t0 = Instant::now();
        let huge = PingOptions {
            count: u32::MAX,
            interval: Duration::MAX,
            timeout: Duration::MAX,
        };
        let mut s = Session::new(&huge, t0);
        assert_eq!(s.poll_transmit(t0), Some(0));
        s.on_sent(0, t0);
        assert_eq!(
            s.poll_transmit(t0 + ms(1)),
            None,
            "the second probe is a year away"
        );
        assert!(s.poll_timeout().is_some());
        s.expire(t0 + ms(1), |_| panic!("nothing expires yet"));
        assert!(s.on_reply(0, t0 + ms(3)));
        let r = s.report();
        assert_eq!((r.sent, r.received), (1, 1));
    }

    #[test]
    fn unreachable_list_is_bounded() {
        let t0 = Instant::now();
        let n = u32::try_from(MAX_UNREACHABLE).unwrap_or(u32::MAX) + 5;
        let mut s = Session::new(&opts(n, 0, 100), t0);
        let u = Unreachable {
            from: IpAddr::V4(Ipv4Addr::LOCALHOST),
            code: 1,
            meaning: "host unreachable".to_owned(),
        };
        while let Some(i) = s.poll_transmit(t0) {
            s.on_sent(i, t0);
            s.on_error(i, u.clone());
        }
        let r = s.report();
        assert_eq!((r.sent, r.unreachable.len()), (n, MAX_UNREACHABLE));
    }
}
