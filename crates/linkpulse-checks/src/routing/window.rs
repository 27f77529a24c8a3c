//! Maintenance windows: one-off, weekly (days and a local time in a time zone) or cron, each
//! with a duration. Local times are resolved in the window's zone on the day they fall on, so
//! a weekly 02:00 window stays at 02:00 local across daylight-saving changes; a local time
//! that does not exist that day (spring forward) is read with the offset before the change
//! (02:30 in a 02:00→03:00 gap starts at 03:30), one that exists twice (fall back) starts at
//! its first occurrence.

use std::str::FromStr;
use std::time::Duration;

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDateTime, NaiveTime, Offset, TimeZone, Weekday,
};
use chrono_tz::Tz;

use super::Matcher;
use crate::time::Millis;

/// Why a window's settings are refused (the daemon's config validation words it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowError(pub String);

impl std::fmt::Display for WindowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WindowError {}

/// A span of time `[start_ms, end_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Start (ms since the epoch).
    pub start_ms: Millis,
    /// End, exclusive.
    pub end_ms: Millis,
}

/// When a window is open.
#[derive(Debug, Clone)]
pub enum Recurrence {
    /// Once, from `start_ms` to `end_ms`.
    Once(Span),
    /// On each of `days` at local time `at` in `zone`, for `duration`.
    Weekly {
        /// Days of the week.
        days: Vec<Weekday>,
        /// Local start time.
        at: NaiveTime,
        /// How long it lasts.
        duration: Duration,
        /// The time zone of `at`.
        zone: Tz,
    },
    /// At each start of a cron expression evaluated in `zone`, for `duration`.
    Cron {
        /// The expression as written.
        pattern: String,
        /// The parsed expression.
        cron: Box<croner::Cron>,
        /// How long it lasts.
        duration: Duration,
        /// The time zone the expression is read in.
        zone: Tz,
    },
}

impl PartialEq for Recurrence {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Recurrence::Once(a), Recurrence::Once(b)) => a == b,
            (
                Recurrence::Weekly {
                    days,
                    at,
                    duration,
                    zone,
                },
                Recurrence::Weekly {
                    days: d2,
                    at: a2,
                    duration: u2,
                    zone: z2,
                },
            ) => days == d2 && at == a2 && duration == u2 && zone == z2,
            (
                Recurrence::Cron {
                    pattern,
                    duration,
                    zone,
                    ..
                },
                Recurrence::Cron {
                    pattern: p2,
                    duration: u2,
                    zone: z2,
                    ..
                },
            ) => pattern == p2 && duration == u2 && zone == z2,
            _ => false,
        }
    }
}

/// A time zone by its IANA name (`Europe/Berlin`, `UTC`).
pub fn zone(name: &str) -> Result<Tz, WindowError> {
    Tz::from_str(name.trim()).map_err(|_| {
        WindowError(format!(
            "unknown time zone {name:?} (use an IANA name such as Europe/Berlin or UTC)"
        ))
    })
}

impl Recurrence {
    /// A one-off window from `start` to `end`: RFC 3339 (`2026-12-24T22:00:00Z`) or a local
    /// `YYYY-MM-DDTHH:MM[:SS]` in `zone`.
    pub fn once(start: &str, end: &str, zone: Tz) -> Result<Recurrence, WindowError> {
        let s = instant(start, zone)?;
        let e = instant(end, zone)?;
        if e <= s {
            return Err(WindowError(format!(
                "the end {end:?} is not after the start {start:?}"
            )));
        }
        Ok(Recurrence::Once(Span {
            start_ms: s,
            end_ms: e,
        }))
    }

    /// A weekly window on `days` (`mon`, `tuesday`, …) at `at` (`HH:MM`) in `zone`.
    pub fn weekly(
        days: &[String],
        at: &str,
        duration: Duration,
        zone: Tz,
    ) -> Result<Recurrence, WindowError> {
        if days.is_empty() {
            return Err(WindowError(
                "a weekly window needs at least one day".to_owned(),
            ));
        }
        let days = days
            .iter()
            .map(|d| {
                Weekday::from_str(d.trim()).map_err(|_| {
                    WindowError(format!("unknown day {d:?} (use mon, tue, … or monday, …)"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let at = NaiveTime::parse_from_str(at.trim(), "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(at.trim(), "%H:%M:%S"))
            .map_err(|_| WindowError(format!("invalid time {at:?} (use HH:MM, 24-hour)")))?;
        positive(duration)?;
        Ok(Recurrence::Weekly {
            days,
            at,
            duration,
            zone,
        })
    }

    /// A window opening at each start of the cron expression `pattern` (five fields: minute
    /// hour day-of-month month day-of-week) in `zone`.
    pub fn cron(pattern: &str, duration: Duration, zone: Tz) -> Result<Recurrence, WindowError> {
        let cron = croner::Cron::from_str(pattern.trim())
            .map_err(|e| WindowError(format!("invalid cron expression {pattern:?}: {e}")))?;
        positive(duration)?;
        Ok(Recurrence::Cron {
            pattern: pattern.trim().to_owned(),
            cron: Box::new(cron),
            duration,
            zone,
        })
    }

    fn duration_ms(&self) -> Millis {
        match self {
            Recurrence::Once(s) => s.end_ms - s.start_ms,
            Recurrence::Weekly { duration, .. } | Recurrence::Cron { duration, .. } => {
                Millis::try_from(duration.as_millis()).unwrap_or(Millis::MAX / 4)
            }
        }
    }

    /// The first start at or after `after`.
    pub fn next_start(&self, after: Millis) -> Option<Millis> {
        match self {
            Recurrence::Once(s) => (s.start_ms >= after).then_some(s.start_ms),
            Recurrence::Weekly { days, at, zone, .. } => {
                let local = DateTime::from_timestamp_millis(after)?
                    .with_timezone(zone)
                    .date_naive();
                (-1..=8)
                    .filter_map(|k| local.checked_add_signed(chrono::Duration::days(k)))
                    .filter(|d| days.contains(&d.weekday()))
                    .map(|d| resolve(*zone, d.and_time(*at)))
                    .find(|s| *s >= after)
            }
            Recurrence::Cron { cron, zone, .. } => {
                // Cron matches whole seconds (and keeps a fraction it is given): start from
                // the first whole second at or after `after`.
                let whole = after.div_euclid(1000) + i64::from(after.rem_euclid(1000) != 0);
                let t = DateTime::from_timestamp(whole, 0)?.with_timezone(zone);
                cron.find_next_occurrence(&t, true)
                    .ok()
                    .map(|n| n.timestamp_millis())
            }
        }
    }

    /// The occurrence open at `now`, if any.
    pub fn active(&self, now: Millis) -> Option<Span> {
        let dur = self.duration_ms();
        let mut start = self.next_start(now.saturating_sub(dur).saturating_add(1))?;
        if start > now {
            return None;
        }
        // A later occurrence that also started by now (overlapping ones) ends later.
        for _ in 0..1000 {
            match self.next_start(start + 1) {
                Some(n) if n <= now => start = n,
                _ => break,
            }
        }
        Some(Span {
            start_ms: start,
            end_ms: start.saturating_add(dur),
        })
    }

    /// The next instant after `now` at which the window opens or closes.
    pub fn next_change(&self, now: Millis) -> Option<Millis> {
        match self.active(now) {
            Some(s) => Some(s.end_ms),
            None => self.next_start(now.saturating_add(1)),
        }
    }

    /// The occurrences overlapping `[from, to)`, clipped to it, in order.
    pub fn spans(&self, from: Millis, to: Millis) -> Vec<Span> {
        let dur = self.duration_ms();
        let mut out = Vec::new();
        let mut next = self.next_start(from.saturating_sub(dur).saturating_add(1));
        while let Some(s) = next {
            if s >= to || out.len() >= 10_000 {
                break;
            }
            out.push(Span {
                start_ms: s.max(from),
                end_ms: s.saturating_add(dur).min(to),
            });
            next = self.next_start(s + 1);
        }
        out
    }
}

fn positive(d: Duration) -> Result<(), WindowError> {
    if d.is_zero() {
        Err(WindowError("the duration must be more than 0".to_owned()))
    } else {
        Ok(())
    }
}

/// An instant written as RFC 3339, or as a local time in `zone`.
fn instant(s: &str, zone: Tz) -> Result<Millis, WindowError> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|local| resolve(zone, local))
        .ok_or_else(|| {
            WindowError(format!(
                "invalid time {s:?} (use 2026-12-24T22:00:00Z, or 2026-12-24T22:00 in the window's time zone)"
            ))
        })
}

/// The instant of local time `local` in `zone` (see the module docs for gaps and overlaps).
fn resolve(zone: Tz, local: NaiveDateTime) -> Millis {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.timestamp_millis(),
        LocalResult::None => {
            // In a gap: read with the offset in force just before it.
            let before = local - chrono::Duration::hours(3);
            let offset = zone
                .from_local_datetime(&before)
                .earliest()
                .map_or(0, |b| b.offset().fix().local_minus_utc());
            (local - chrono::Duration::seconds(i64::from(offset)))
                .and_utc()
                .timestamp_millis()
        }
    }
}

/// One `maintenance:` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceWindow {
    /// Its name.
    pub name: String,
    /// The checks it covers.
    pub matcher: Matcher,
    /// When it is open.
    pub recurrence: Recurrence,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> Millis {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("a test instant")
            .timestamp_millis()
    }

    fn weekly(days: &[&str], at: &str, hours: u64, tz: &str) -> Recurrence {
        let days: Vec<String> = days.iter().map(|d| (*d).to_owned()).collect();
        Recurrence::weekly(
            &days,
            at,
            Duration::from_secs(hours * 3600),
            zone(tz).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn a_weekly_window_in_new_york_opens_at_local_time_across_the_dst_change() {
        // Sundays 01:30 for 2 h, America/New_York. DST ends on 2026-11-01 at 02:00 (EDT → EST).
        let w = weekly(&["sun"], "01:30", 2, "America/New_York");
        // Before the change: 01:30 EDT = 05:30Z.
        let oct = ms("2026-10-25T05:30:00Z");
        assert_eq!(w.next_start(ms("2026-10-24T00:00:00Z")), Some(oct));
        assert_eq!(w.active(oct - 1), None);
        assert_eq!(
            w.active(oct).map(|s| s.end_ms),
            Some(ms("2026-10-25T07:30:00Z"))
        );
        assert_eq!(w.active(ms("2026-10-25T07:30:00Z")), None);
        // On the day of the change 01:30 happens twice: the first one, 01:30 EDT = 05:30Z.
        assert_eq!(w.next_start(oct + 1), Some(ms("2026-11-01T05:30:00Z")));
        // After it: 01:30 EST = 06:30Z.
        assert_eq!(
            w.next_start(ms("2026-11-02T00:00:00Z")),
            Some(ms("2026-11-08T06:30:00Z"))
        );
        assert_eq!(
            w.next_change(ms("2026-11-08T06:00:00Z")),
            Some(ms("2026-11-08T06:30:00Z"))
        );
        assert_eq!(
            w.next_change(ms("2026-11-08T06:30:00Z")),
            Some(ms("2026-11-08T08:30:00Z"))
        );
    }

    #[test]
    fn a_local_time_skipped_by_spring_forward_starts_after_the_gap() {
        // Europe/Berlin jumps 02:00 → 03:00 on 2027-03-28 (a Sunday); 02:30 does not exist.
        let w = weekly(&["sunday"], "02:30", 1, "Europe/Berlin");
        // Read with +01:00: 01:30Z = 03:30 CEST.
        assert_eq!(
            w.next_start(ms("2027-03-27T00:00:00Z")),
            Some(ms("2027-03-28T01:30:00Z"))
        );
        // The week after, 02:30 CEST = 00:30Z.
        assert_eq!(
            w.next_start(ms("2027-03-29T00:00:00Z")),
            Some(ms("2027-04-04T00:30:00Z"))
        );
    }

    #[test]
    fn cron_windows_follow_the_zone() {
        let w = Recurrence::cron(
            "0 22 * * 6",
            Duration::from_secs(3600),
            zone("Asia/Tokyo").unwrap(),
        )
        .unwrap();
        // Saturday 22:00 JST = 13:00Z.
        let start = ms("2026-12-05T13:00:00Z");
        assert_eq!(w.next_start(ms("2026-12-05T00:00:00Z")), Some(start));
        assert!(w.active(start + 59 * 60_000).is_some());
        assert!(w.active(start + 60 * 60_000).is_none());
        assert!(Recurrence::cron("61 * * * *", Duration::from_secs(1), chrono_tz::UTC).is_err());
    }

    #[test]
    fn one_off_windows_and_spans() {
        let w = Recurrence::once(
            "2026-12-24T22:00",
            "2026-12-25T02:00",
            zone("Europe/Paris").unwrap(),
        )
        .unwrap();
        assert_eq!(
            w.active(ms("2026-12-24T22:00:00Z")),
            Some(Span {
                start_ms: ms("2026-12-24T21:00:00Z"),
                end_ms: ms("2026-12-25T01:00:00Z")
            })
        );
        let daily = weekly(&["mon", "tue"], "00:00", 1, "UTC");
        let from = ms("2026-12-07T00:30:00Z"); // a Monday
        let spans = daily.spans(from, ms("2026-12-09T00:00:00Z"));
        assert_eq!(
            spans,
            vec![
                Span {
                    start_ms: from,
                    end_ms: ms("2026-12-07T01:00:00Z")
                },
                Span {
                    start_ms: ms("2026-12-08T00:00:00Z"),
                    end_ms: ms("2026-12-08T01:00:00Z")
                },
            ]
        );
        assert!(
            Recurrence::once("2026-12-25T00:00Z", "2026-12-24T00:00Z", chrono_tz::UTC).is_err()
        );
        assert!(zone("Mars/Olympus").is_err());
        assert!(
            Recurrence::weekly(
                &["fun".into()],
                "01:00",
                Duration::from_secs(1),
                chrono_tz::UTC
            )
            .is_err()
        );
    }
}
