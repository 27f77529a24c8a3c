//! Availability figures from state transitions (pure: the caller supplies the window).
//!
//! Uptime is time-weighted: the time spent `up` or `degraded` divided by the time with a
//! verdict (`unknown` time counts for neither side). MTTR is down time per incident, MTBF is
//! up time per incident.

use serde::Serialize;

use crate::state::State;
use crate::storage::{Millis, TransitionRecord};

/// Availability of one check over `[from_ms, to_ms)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Availability {
    /// Window start.
    pub from_ms: Millis,
    /// Window end.
    pub to_ms: Millis,
    /// Percent of known time spent up (or degraded); `None` without any verdict.
    pub uptime: Option<f64>,
    /// Time up or degraded.
    pub up_ms: Millis,
    /// Time down.
    pub down_ms: Millis,
    /// Incidents (went down) in the window, one ongoing at its start included.
    pub incidents: u64,
    /// Mean time to recovery, ms.
    pub mttr_ms: Option<f64>,
    /// Mean time between failures, ms.
    pub mtbf_ms: Option<f64>,
}

/// Computes availability from one check's transitions, oldest first. Transitions before
/// `from_ms` only set the state the window starts in.
pub fn compute(transitions: &[TransitionRecord], from_ms: Millis, to_ms: Millis) -> Availability {
    let to_ms = to_ms.max(from_ms);
    let mut state = State::Unknown;
    let mut at = from_ms;
    let (mut up, mut down, mut incidents) = (0i64, 0i64, 0u64);
    let mut add = |state: State, len: i64| match state {
        State::Up | State::Degraded => up += len,
        State::Down => down += len,
        State::Unknown => {}
    };
    for t in transitions {
        if t.at_ms < from_ms {
            state = t.to;
            continue;
        }
        if t.at_ms >= to_ms {
            break;
        }
        if at == from_ms && state == State::Down {
            incidents += 1; // ongoing when the window opened
        }
        add(state, t.at_ms - at);
        at = t.at_ms;
        if t.to == State::Down && state != State::Down {
            incidents += 1;
        }
        state = t.to;
    }
    if at == from_ms && state == State::Down {
        incidents += 1;
    }
    add(state, to_ms - at);
    let known = up + down;
    Availability {
        from_ms,
        to_ms,
        uptime: (known > 0).then(|| up as f64 * 100.0 / known as f64),
        up_ms: up,
        down_ms: down,
        incidents,
        mttr_ms: (incidents > 0).then(|| down as f64 / incidents as f64),
        mtbf_ms: (incidents > 0).then(|| up as f64 / incidents as f64),
    }
}

/// Availability with the time of maintenance (silences and windows) counted apart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Apart {
    /// Percent of known time up (or degraded) outside maintenance; `None` without any.
    pub uptime: Option<f64>,
    /// Time up outside maintenance.
    pub up_ms: Millis,
    /// Time down outside maintenance.
    pub down_ms: Millis,
    /// Time of `[from_ms, to_ms)` under maintenance.
    pub maintenance_ms: Millis,
}

/// Like [`compute`]'s uptime, with the time inside `spans` (maintenance, as `(start, end)`,
/// in any order, overlapping or not) left out of both sides.
pub fn apart(
    transitions: &[TransitionRecord],
    from_ms: Millis,
    to_ms: Millis,
    spans: &[(Millis, Millis)],
) -> Apart {
    let to_ms = to_ms.max(from_ms);
    let mut spans: Vec<(Millis, Millis)> = spans
        .iter()
        .map(|&(a, b)| (a.max(from_ms), b.min(to_ms)))
        .filter(|(a, b)| a < b)
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<(Millis, Millis)> = Vec::new();
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    let inside = |a: Millis, b: Millis| -> Millis {
        merged
            .iter()
            .map(|&(s, e)| (b.min(e) - a.max(s)).max(0))
            .sum()
    };
    let (mut up, mut down) = (0i64, 0i64);
    let mut state = State::Unknown;
    let mut at = from_ms;
    let mut add = |state: State, a: Millis, b: Millis| {
        let len = (b - a) - inside(a, b);
        match state {
            State::Up | State::Degraded => up += len,
            State::Down => down += len,
            State::Unknown => {}
        }
    };
    for t in transitions {
        if t.at_ms < from_ms {
            state = t.to;
            continue;
        }
        if t.at_ms >= to_ms {
            break;
        }
        add(state, at, t.at_ms);
        at = t.at_ms;
        state = t.to;
    }
    add(state, at, to_ms);
    let known = up + down;
    Apart {
        uptime: (known > 0).then(|| up as f64 * 100.0 / known as f64),
        up_ms: up,
        down_ms: down,
        maintenance_ms: inside(from_ms, to_ms),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn maintenance_time_is_counted_apart() {
        let t = |at: i64, from: State, to: State| TransitionRecord {
            check: "a".into(),
            at_ms: at,
            from,
            to,
            cause: None,
        };
        // Up 0..100, down 100..200 (inside a window 100..200), up 200..400.
        let ts = [
            t(0, State::Unknown, State::Up),
            t(100, State::Up, State::Down),
            t(200, State::Down, State::Up),
        ];
        let all = compute(&ts, 0, 400);
        assert_eq!(all.uptime, Some(75.0));
        let a = apart(&ts, 0, 400, &[(150, 200), (100, 160), (500, 600)]);
        assert_eq!((a.up_ms, a.down_ms, a.maintenance_ms), (300, 0, 100));
        assert_eq!(a.uptime, Some(100.0));
    }
    use super::*;

    fn t(at_ms: Millis, from: State, to: State) -> TransitionRecord {
        TransitionRecord {
            check: "a".into(),
            at_ms,
            from,
            to,
            cause: None,
        }
    }

    #[test]
    fn time_weighted_with_state_before_window() {
        let ts = [
            t(0, State::Unknown, State::Up),
            t(100, State::Up, State::Down),
            t(130, State::Down, State::Up),
            t(170, State::Up, State::Down),
            t(180, State::Down, State::Degraded),
        ];
        let a = compute(&ts, 50, 250);
        assert_eq!(
            (a.up_ms, a.down_ms, a.incidents),
            (50 + 40 + 70, 30 + 10, 2)
        );
        assert_eq!(a.uptime, Some(80.0));
        assert_eq!(a.mttr_ms, Some(20.0));
        assert_eq!(a.mtbf_ms, Some(80.0));
    }

    #[test]
    fn unknown_time_counts_for_neither_side_and_ongoing_incident_counts() {
        let a = compute(&[], 0, 100);
        assert_eq!((a.uptime, a.incidents), (None, 0));
        let a = compute(&[t(10, State::Unknown, State::Down)], 50, 100);
        assert_eq!((a.uptime, a.down_ms, a.incidents), (Some(0.0), 50, 1));
        let a = compute(&[t(60, State::Unknown, State::Up)], 50, 100);
        assert_eq!((a.uptime, a.up_ms), (Some(100.0), 40));
    }
}
