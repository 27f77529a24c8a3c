//! The routing settings of one alert target: which alerts it takes and how they are grouped.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::state::State;

/// `match:` and grouping of one `alerts:` entry. The default takes every alert, at once and
/// one by one (as before routing existed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// `match.labels`: the check must carry these labels with these values.
    pub labels: BTreeMap<String, String>,
    /// `match.states`: the states that are notified (empty: every state); the recovery from a
    /// notified state is always sent.
    pub states: Vec<State>,
    /// `match.min_duration`: a down or degraded state is notified only once it has lasted
    /// this long; a shorter one is not notified at all (nor its recovery).
    pub min_duration: Option<Duration>,
    /// Grouping, when `group_by`, `group_wait` or `group_interval` is given.
    pub group: Option<Grouping>,
}

/// How alerts to one target are gathered into one notification, as Alertmanager does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// Labels whose values make the group (empty: one group for every check).
    pub by: Vec<String>,
    /// How long the first alert of a new group waits for others.
    pub wait: Duration,
    /// How long after a group's notification its next one may go.
    pub interval: Duration,
}

impl Grouping {
    /// Alertmanager's defaults: 30 s wait, 5 min interval.
    pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
    /// See [`Grouping::DEFAULT_WAIT`].
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
}

impl Route {
    /// Whether a check with `labels` is for this target at all.
    pub fn takes(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }

    /// Whether `state` is one this target is told about.
    pub fn wants(&self, state: State) -> bool {
        self.states.is_empty() || self.states.contains(&state)
    }
}
