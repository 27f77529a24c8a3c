//! Compact chart data, computed from raw history: pure functions, no clock, no I/O.
//!
//! - [`latency_series`] folds any number of attempts into at most `buckets` points (min, mean,
//!   max latency and failures per bucket) — what a chart of 30 days needs instead of 250,000
//!   rows;
//! - [`uptime_buckets`] turns state changes into time-weighted uptime per day or hour, with the
//!   incidents that touched each bucket — the segments of the 90-day bar.

use serde::Serialize;

use crate::source::{IncidentSpan, Sample, StateChange};

/// Upper bound on buckets of one series or bar, whatever is asked.
pub const MAX_BUCKETS: usize = 5_000;

/// A latency series over `[from_ms, to_ms)` in equal buckets; arrays are parallel, one entry per
/// bucket, `null` where a bucket has no measured latency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// Start of the range.
    pub from_ms: i64,
    /// End of the range.
    pub to_ms: i64,
    /// Width of one bucket.
    pub bucket_ms: i64,
    /// Start of each bucket.
    pub t: Vec<i64>,
    /// Mean latency of successful attempts.
    pub avg: Vec<Option<f64>>,
    /// Smallest latency.
    pub min: Vec<Option<f64>>,
    /// Largest latency.
    pub max: Vec<Option<f64>>,
    /// Attempts in the bucket.
    pub count: Vec<u32>,
    /// Failed attempts in the bucket.
    pub fail: Vec<u32>,
}

/// The bucket width for `buckets` buckets over `[from_ms, to_ms)` (at least 1 ms).
fn bucket_width(from_ms: i64, to_ms: i64, buckets: usize) -> (i64, usize) {
    let span = (i128::from(to_ms) - i128::from(from_ms)).max(1);
    let n = buckets.clamp(1, MAX_BUCKETS);
    let n_i = i128::try_from(n).unwrap_or(1);
    let width = ((span + n_i - 1) / n_i).max(1);
    let n = usize::try_from((span + width - 1) / width)
        .unwrap_or(n)
        .clamp(1, MAX_BUCKETS);
    (i64::try_from(width).unwrap_or(i64::MAX), n)
}

/// Index of the bucket holding `at`, if inside the range.
fn bucket_of(at: i64, from_ms: i64, width: i64, n: usize) -> Option<usize> {
    if at < from_ms {
        return None;
    }
    usize::try_from((i128::from(at) - i128::from(from_ms)) / i128::from(width.max(1)))
        .ok()
        .filter(|i| *i < n)
}

/// Start of bucket `i`.
fn bucket_start(from_ms: i64, width: i64, i: usize) -> i64 {
    from_ms.saturating_add(width.saturating_mul(i64::try_from(i).unwrap_or(i64::MAX)))
}

/// Folds `samples` (any order; those outside the range are ignored) into at most `buckets`
/// buckets over `[from_ms, to_ms)`.
pub fn latency_series(samples: &[Sample], from_ms: i64, to_ms: i64, buckets: usize) -> Series {
    let (width, n) = bucket_width(from_ms, to_ms, buckets);
    let mut sum = vec![0.0_f64; n];
    let mut measured = vec![0_u32; n];
    let mut s = Series {
        from_ms,
        to_ms,
        bucket_ms: width,
        t: (0..n).map(|i| bucket_start(from_ms, width, i)).collect(),
        avg: vec![None; n],
        min: vec![None; n],
        max: vec![None; n],
        count: vec![0; n],
        fail: vec![0; n],
    };
    for x in samples {
        if x.at_ms >= to_ms {
            continue;
        }
        let Some(i) = bucket_of(x.at_ms, from_ms, width, n) else {
            continue;
        };
        s.count[i] += 1;
        if !x.up {
            s.fail[i] += 1;
            continue;
        }
        if let Some(l) = x.latency_ms.filter(|l| l.is_finite() && *l >= 0.0) {
            sum[i] += l;
            measured[i] += 1;
            s.min[i] = Some(s.min[i].map_or(l, |m| m.min(l)));
            s.max[i] = Some(s.max[i].map_or(l, |m| m.max(l)));
        }
    }
    for i in 0..n {
        if measured[i] > 0 {
            s.avg[i] = Some(sum[i] / f64::from(measured[i]));
        }
    }
    s
}

/// One segment of an uptime bar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UptimeBucket {
    /// Start of the bucket.
    pub start_ms: i64,
    /// Up (or degraded) time over up + down time, 0–1; `null` with no known state at all.
    pub uptime: Option<f64>,
    /// Time spent down.
    pub down_ms: i64,
    /// Incidents that overlap the bucket.
    pub incidents: u32,
}

/// How a state counts for uptime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Avail {
    Up,
    Down,
    Unknown,
}

fn avail(state: &str) -> Avail {
    match state {
        "up" | "degraded" => Avail::Up,
        "down" => Avail::Down,
        _ => Avail::Unknown,
    }
}

/// Time-weighted uptime in `buckets` equal buckets over `[from_ms, to_ms)`, counting only time
/// before `now_ms`. `changes` are oldest first and may start with the last change before
/// `from_ms` (the state the range starts in); before the first change the state is unknown and
/// does not count. `incidents` (any order) are counted in every bucket they overlap.
pub fn uptime_buckets(
    changes: &[StateChange],
    incidents: &[IncidentSpan],
    from_ms: i64,
    to_ms: i64,
    now_ms: i64,
    buckets: usize,
) -> Vec<UptimeBucket> {
    let (width, n) = bucket_width(from_ms, to_ms, buckets);
    let mut up = vec![0_i64; n];
    let mut down = vec![0_i64; n];
    let end = to_ms.min(now_ms);
    for (k, c) in changes.iter().enumerate() {
        let seg_start = c.at_ms.max(from_ms);
        let seg_end = changes.get(k + 1).map_or(end, |next| next.at_ms.min(end));
        let which = avail(&c.state);
        if seg_end <= seg_start || which == Avail::Unknown {
            continue;
        }
        let Some(first) = bucket_of(seg_start, from_ms, width, n) else {
            continue;
        };
        let mut i = first;
        while i < n {
            let b_start = bucket_start(from_ms, width, i);
            let b_end = b_start.saturating_add(width);
            let overlap = seg_end.min(b_end).saturating_sub(seg_start.max(b_start));
            if overlap <= 0 {
                break;
            }
            match which {
                Avail::Up => up[i] = up[i].saturating_add(overlap),
                Avail::Down => down[i] = down[i].saturating_add(overlap),
                Avail::Unknown => {}
            }
            if seg_end <= b_end {
                break;
            }
            i += 1;
        }
    }
    let mut out: Vec<UptimeBucket> = (0..n)
        .map(|i| {
            let known = up[i].saturating_add(down[i]);
            UptimeBucket {
                start_ms: bucket_start(from_ms, width, i),
                uptime: (known > 0).then(|| up[i] as f64 / known as f64),
                down_ms: down[i],
                incidents: 0,
            }
        })
        .collect();
    for inc in incidents {
        let start = inc.started_ms.max(from_ms);
        let stop = inc.ended_ms.unwrap_or(now_ms).min(to_ms);
        if stop < start {
            continue;
        }
        let Some(first) = bucket_of(start, from_ms, width, n) else {
            continue;
        };
        let last = bucket_of(stop.saturating_sub(1).max(start), from_ms, width, n).unwrap_or(n - 1);
        for b in &mut out[first..=last.max(first)] {
            b.incidents += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: i64, up: bool, latency: Option<f64>) -> Sample {
        Sample {
            at_ms,
            up,
            latency_ms: latency,
        }
    }

    fn change(at_ms: i64, state: &str) -> StateChange {
        StateChange {
            at_ms,
            state: state.to_owned(),
        }
    }

    #[test]
    fn series_folds_into_buckets() {
        let xs = [
            sample(0, true, Some(10.0)),
            sample(5, true, Some(30.0)),
            sample(12, false, None),
            sample(25, true, Some(7.0)),
            sample(99, true, Some(1.0)), // outside
            sample(-1, true, Some(1.0)), // outside
        ];
        let s = latency_series(&xs, 0, 30, 3);
        assert_eq!(s.bucket_ms, 10);
        assert_eq!(s.t, vec![0, 10, 20]);
        assert_eq!(s.avg, vec![Some(20.0), None, Some(7.0)]);
        assert_eq!(s.min, vec![Some(10.0), None, Some(7.0)]);
        assert_eq!(s.max, vec![Some(30.0), None, Some(7.0)]);
        assert_eq!(s.count, vec![2, 1, 1]);
        assert_eq!(s.fail, vec![0, 1, 0]);
    }

    #[test]
    fn series_survives_silly_input() {
        let s = latency_series(&[sample(5, true, Some(f64::NAN))], 10, 0, 0);
        assert_eq!(s.t.len(), 1);
        let s = latency_series(
            &[sample(0, true, Some(1.0))],
            i64::MIN,
            i64::MAX,
            usize::MAX,
        );
        assert!(s.t.len() <= MAX_BUCKETS);
        assert_eq!(s.count.iter().sum::<u32>(), 1);
        let b = uptime_buckets(
            &[change(i64::MIN, "up")],
            &[],
            i64::MIN,
            i64::MAX,
            i64::MAX,
            7,
        );
        assert!(b.len() <= 7 && b.iter().all(|x| x.uptime == Some(1.0)));
    }

    #[test]
    fn uptime_is_time_weighted_and_starts_in_the_prior_state() {
        // Down since before the range, up at 15, down at 35, range [0, 40) in 4 buckets.
        let ch = [change(-100, "down"), change(15, "up"), change(35, "down")];
        let inc = [
            IncidentSpan {
                started_ms: -100,
                ended_ms: Some(15),
                cause: None,
                diagnosis: None,
            },
            IncidentSpan {
                started_ms: 35,
                ended_ms: None,
                cause: None,
                diagnosis: None,
            },
        ];
        let b = uptime_buckets(&ch, &inc, 0, 40, 40, 4);
        let ups: Vec<_> = b.iter().map(|x| x.uptime).collect();
        assert_eq!(ups, vec![Some(0.0), Some(0.5), Some(1.0), Some(0.5)]);
        assert_eq!(
            b.iter().map(|x| x.down_ms).collect::<Vec<_>>(),
            vec![10, 5, 0, 5]
        );
        assert_eq!(
            b.iter().map(|x| x.incidents).collect::<Vec<_>>(),
            vec![1, 1, 0, 1]
        );
    }

    #[test]
    fn uptime_ignores_unknown_and_future() {
        let ch = [change(0, "unknown"), change(10, "degraded")];
        let b = uptime_buckets(&ch, &[], 0, 40, 25, 4);
        let ups: Vec<_> = b.iter().map(|x| x.uptime).collect();
        assert_eq!(ups, vec![None, Some(1.0), Some(1.0), None]);
    }
}
