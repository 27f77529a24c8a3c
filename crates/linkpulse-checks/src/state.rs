//! The per-check state machine (sans-IO: no clock, no I/O; the caller stamps the time).
//!
//! Feed every attempt to [`CheckState::handle`]; it returns the [`Transition`] when the state
//! changes. Thresholds follow HAProxy: `rise` consecutive successes to go up, `fall`
//! consecutive failures to go down; a single opposite result resets the streak.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The state of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// No verdict yet (just started, or fewer than `rise`/`fall` attempts so far).
    Unknown,
    /// Answering correctly.
    Up,
    /// Answering, but a warning crossed (slow, certificate expiring, loss above threshold).
    Degraded,
    /// Not answering correctly: `fall` consecutive failures.
    Down,
}

impl State {
    /// The lowercase name used in the API, the database and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            State::Up => "up",
            State::Degraded => "degraded",
            State::Down => "down",
        }
    }

    /// Parses [`State::as_str`] output.
    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "unknown" => State::Unknown,
            "up" => State::Up,
            "degraded" => State::Degraded,
            "down" => State::Down,
            _ => return None,
        })
    }

    /// Up or degraded: the target answers.
    pub fn is_available(self) -> bool {
        matches!(self, State::Up | State::Degraded)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
}

/// One attempt as the state machine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The attempt succeeded and no warning crossed.
    Ok,
    /// The attempt succeeded but a warning crossed.
    Warn,
    /// The attempt failed.
    Fail,
}

/// Rise/fall bookkeeping for one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckState {
    state: State,
    /// Consecutive successes (reset by a failure).
    successes: u32,
    /// Consecutive failures (reset by a success).
    failures: u32,
    rise: u32,
    fall: u32,
}

impl CheckState {
    /// A new check in `unknown`; `rise` and `fall` below 1 count as 1.
    pub fn new(rise: u32, fall: u32) -> CheckState {
        CheckState::restore(State::Unknown, rise, fall)
    }

    /// A check resuming in `state` (after a restart or reload), with empty streaks.
    pub fn restore(state: State, rise: u32, fall: u32) -> CheckState {
        CheckState {
            state,
            successes: 0,
            failures: 0,
            rise: rise.max(1),
            fall: fall.max(1),
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Changes the thresholds (config reload) keeping state and streaks.
    pub fn set_thresholds(&mut self, rise: u32, fall: u32) {
        self.rise = rise.max(1);
        self.fall = fall.max(1);
    }

    /// True while the state may be about to change: no verdict yet, a failure streak while
    /// up, or a success streak while down. The scheduler then uses `fastinter`.
    pub fn transitioning(&self) -> bool {
        match self.state {
            State::Unknown => true,
            State::Up | State::Degraded => self.failures > 0,
            State::Down => self.successes > 0,
        }
    }

    /// Feeds one attempt; returns the transition if the state changed.
    pub fn handle(&mut self, verdict: Verdict) -> Option<Transition> {
        let from = self.state;
        let success_state = if verdict == Verdict::Warn {
            State::Degraded
        } else {
            State::Up
        };
        if verdict == Verdict::Fail {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
        } else {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
        }
        let to = match (from, verdict) {
            // unknown/down → up or degraded: `rise` consecutive successes.
            (State::Unknown | State::Down, Verdict::Ok | Verdict::Warn) => {
                if self.successes >= self.rise {
                    success_state
                } else {
                    from
                }
            }
            // unknown/up/degraded → down: `fall` consecutive failures.
            (State::Unknown | State::Up | State::Degraded, Verdict::Fail) => {
                if self.failures >= self.fall {
                    State::Down
                } else {
                    from
                }
            }
            // up ⇄ degraded: follows each successful attempt at once (both count as up).
            (State::Up | State::Degraded, Verdict::Ok | Verdict::Warn) => success_state,
            // down stays down on failure.
            (State::Down, Verdict::Fail) => State::Down,
        };
        if to == from {
            return None;
        }
        self.state = to;
        // A new state starts fresh streaks so the next change needs a full rise/fall again.
        self.successes = 0;
        self.failures = 0;
        Some(Transition { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(s: &mut CheckState, vs: &[Verdict]) -> Vec<Option<State>> {
        vs.iter().map(|v| s.handle(*v).map(|t| t.to)).collect()
    }

    use Verdict::{Fail, Ok as Good, Warn};

    #[test]
    fn rise_from_unknown_then_fall() {
        let mut s = CheckState::new(2, 3);
        assert!(s.transitioning());
        assert_eq!(feed(&mut s, &[Good, Good]), [None, Some(State::Up)]);
        assert!(!s.transitioning());
        assert_eq!(feed(&mut s, &[Fail, Fail]), [None, None]);
        assert!(s.transitioning());
        // A success in between resets the failure streak: retries never hide a failure, but
        // one blip does not bring a check down either.
        assert_eq!(
            feed(&mut s, &[Good, Fail, Fail, Fail]),
            [None, None, None, Some(State::Down)]
        );
        assert!(!s.transitioning());
        assert_eq!(
            feed(&mut s, &[Good, Fail, Good, Good]),
            [None, None, None, Some(State::Up)]
        );
    }

    #[test]
    fn unknown_goes_down_after_fall_failures() {
        let mut s = CheckState::new(2, 3);
        assert_eq!(
            feed(&mut s, &[Fail, Fail, Fail]),
            [None, None, Some(State::Down)]
        );
    }

    #[test]
    fn degraded_follows_warnings_while_up() {
        let mut s = CheckState::new(1, 1);
        assert_eq!(feed(&mut s, &[Warn]), [Some(State::Degraded)]);
        assert_eq!(
            feed(&mut s, &[Warn, Good, Good]),
            [None, Some(State::Up), None]
        );
        assert_eq!(feed(&mut s, &[Fail]), [Some(State::Down)]);
        assert_eq!(feed(&mut s, &[Warn]), [Some(State::Degraded)]);
    }

    #[test]
    fn thresholds_below_one_count_as_one() {
        let mut s = CheckState::new(0, 0);
        assert_eq!(
            feed(&mut s, &[Fail, Good]),
            [Some(State::Down), Some(State::Up)]
        );
    }

    #[test]
    fn state_names_round_trip() {
        for st in [State::Unknown, State::Up, State::Degraded, State::Down] {
            assert_eq!(State::parse(st.as_str()), Some(st));
        }
    }
}
