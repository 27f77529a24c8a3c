//! The router: the alerts the core emits in, the notifications for the outbox out (see the
//! module docs of [`super`] for the flow and what a hold does).

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{Value, json};

use super::{Grouping, MaintenanceWindow, Route, Silence};
use crate::effect::{Alert, AlertKind};
use crate::model::{AlertSettings, Model};
use crate::state::State;
use crate::time::Millis;

/// What the outbox gets: one alert as before, or a group of them.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification<M: Model> {
    /// One alert of one check (the payload is the alert itself).
    One(Box<Alert<M>>),
    /// Several alerts to one target gathered by its grouping.
    Group(Box<GroupNotice<M>>),
}

/// Alerts of one group, sent as one notification.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupNotice<M: Model> {
    /// The alert target's name.
    pub alert: String,
    /// Where it goes.
    pub destination: <M::Alert as AlertSettings>::Destination,
    /// The values of the `group_by` labels that make this group.
    pub labels: BTreeMap<String, String>,
    /// The alerts, in the order they came.
    pub alerts: Vec<Alert<M>>,
    /// When the notification was made.
    pub at_ms: Millis,
}

impl<M: Model> GroupNotice<M> {
    /// The group's name: `{alert}` plus its label values; the outbox keeps a group's
    /// notifications in order under it.
    pub fn name(&self) -> String {
        let mut name = format!("group:{}", self.alert);
        for (k, v) in &self.labels {
            name.push_str(&format!(",{k}={v}"));
        }
        name
    }

    /// The outbox's idempotency key.
    pub fn idempotency_key(&self) -> String {
        format!("{}/group/{}", self.name(), self.at_ms)
    }

    /// The delivered JSON: `event: "group"`, a one-line `summary`, the count of alerts per
    /// state and per diagnosis, the diagnosis all of them share (when they do), and every alert.
    pub fn payload(&self) -> Value {
        let mut states: BTreeMap<&str, usize> = BTreeMap::new();
        let mut diagnoses: BTreeMap<&str, usize> = BTreeMap::new();
        for a in &self.alerts {
            *states.entry(a.state.as_str()).or_default() += 1;
            if let Some(d) = &a.diagnosis {
                *diagnoses.entry(d.as_str()).or_default() += 1;
            }
        }
        let shared = match (diagnoses.len(), diagnoses.values().next()) {
            (1, Some(n)) if *n == self.alerts.len() => diagnoses.keys().next().copied(),
            _ => None,
        };
        let counts: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
        let mut summary = format!("{} checks: {}", self.alerts.len(), counts.join(", "));
        if let Some(d) = shared {
            summary.push_str(&format!(" — diagnosis: {d}"));
        }
        let state = if states.len() == 1 {
            states.keys().next().copied()
        } else {
            None
        };
        json!({
            "event": "group",
            "check": self.name(),
            "alert": self.alert,
            "group": self.labels,
            "at_ms": self.at_ms,
            "count": self.alerts.len(),
            "state": state,
            "states": states,
            "diagnosis": shared,
            "diagnoses": diagnoses,
            "summary": summary,
            "idempotency_key": self.idempotency_key(),
            "alerts": self.alerts.iter().map(|a| serde_json::to_value(a).unwrap_or_default()).collect::<Vec<_>>(),
        })
    }
}

/// What holds a check's alerts now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// A silence, by id, until `ends_ms`.
    Silence {
        /// The silence's id.
        id: String,
        /// When it ends.
        ends_ms: Millis,
    },
    /// A maintenance window, by name, until `ends_ms`.
    Window {
        /// The window's name.
        name: String,
        /// When this occurrence ends.
        ends_ms: Millis,
    },
}

/// What one alert target knows of one check.
#[derive(Debug)]
struct Flow<M: Model> {
    /// The state the target was last told about.
    told: Option<State>,
    /// A down/degraded alert waiting for `min_duration`, and when it may go.
    waiting: Option<(Alert<M>, Millis)>,
    /// The latest alert held by a silence or window.
    held: Option<Alert<M>>,
}

impl<M: Model> Default for Flow<M> {
    fn default() -> Self {
        Flow {
            told: None,
            waiting: None,
            held: None,
        }
    }
}

/// Alerts gathered for one group.
#[derive(Debug)]
struct Group<M: Model> {
    alerts: Vec<Alert<M>>,
    due_ms: Millis,
    last_sent_ms: Option<Millis>,
}

/// A group: the alert target's name and the values of its `group_by` labels.
type GroupKey = (String, Vec<(String, String)>);

/// Routes, groups and holds alerts; see the module docs.
#[derive(Debug)]
pub struct Router<M: Model> {
    routes: HashMap<String, Route>,
    silences: Vec<Silence>,
    windows: Vec<MaintenanceWindow>,
    flows: HashMap<(String, String), Flow<M>>,
    groups: BTreeMap<GroupKey, Group<M>>,
    out: VecDeque<Notification<M>>,
    /// When holds were last looked at: a silence or window boundary after it is still due.
    checked_ms: Millis,
}

impl<M: Model> Default for Router<M> {
    fn default() -> Self {
        Router {
            routes: HashMap::new(),
            silences: Vec::new(),
            windows: Vec::new(),
            flows: HashMap::new(),
            groups: BTreeMap::new(),
            out: VecDeque::new(),
            checked_ms: Millis::MIN,
        }
    }
}

fn ms(d: std::time::Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX / 4)
}

impl<M: Model> Router<M> {
    /// A router for alert targets with these routes (by target name; a target not listed takes
    /// every alert at once, one by one).
    pub fn new(routes: impl IntoIterator<Item = (String, Route)>) -> Router<M> {
        Router {
            routes: routes.into_iter().collect(),
            ..Router::default()
        }
    }

    /// Replaces the routes (a reload).
    pub fn set_routes(&mut self, routes: impl IntoIterator<Item = (String, Route)>) {
        self.routes = routes.into_iter().collect();
    }

    /// Replaces the silences (created, expired, or read at start).
    pub fn set_silences(&mut self, silences: Vec<Silence>, now: Millis) {
        self.silences = silences;
        self.release(now);
    }

    /// Replaces the maintenance windows (config, reload).
    pub fn set_windows(&mut self, windows: Vec<MaintenanceWindow>, now: Millis) {
        self.windows = windows;
        self.release(now);
    }

    /// The silences known.
    pub fn silences(&self) -> &[Silence] {
        &self.silences
    }

    /// The maintenance windows known.
    pub fn windows(&self) -> &[MaintenanceWindow] {
        &self.windows
    }

    /// What holds the alerts of check `name` with `labels` at `now` (the longest hold when
    /// several do), or `None`.
    pub fn hold(&self, name: &str, labels: &BTreeMap<String, String>, now: Millis) -> Option<Hold> {
        let silences = self
            .silences
            .iter()
            .filter(|s| s.active(now) && s.matcher.matches(name, labels))
            .map(|s| Hold::Silence {
                id: s.id.clone(),
                ends_ms: s.ends_ms,
            });
        let windows = self
            .windows
            .iter()
            .filter(|w| w.matcher.matches(name, labels))
            .filter_map(|w| {
                w.recurrence.active(now).map(|span| Hold::Window {
                    name: w.name.clone(),
                    ends_ms: span.end_ms,
                })
            });
        silences.chain(windows).max_by_key(|h| match h {
            Hold::Silence { ends_ms, .. } | Hold::Window { ends_ms, .. } => *ends_ms,
        })
    }

    /// An alert from the core, at `now`.
    pub fn handle_alert(&mut self, alert: Alert<M>, now: Millis) {
        let route = self.routes.get(&alert.alert).cloned().unwrap_or_default();
        if !route.takes(&alert.labels) {
            return;
        }
        let key = (alert.check.clone(), alert.alert.clone());
        let flow = self.flows.entry(key).or_default();
        if let Some(min) = route.min_duration {
            match alert.event {
                AlertKind::Down | AlertKind::Degraded if flow.told != Some(alert.state) => {
                    let due = alert.at_ms.saturating_add(ms(min));
                    flow.waiting = Some((alert, due));
                    self.handle_timeout(now);
                    return;
                }
                AlertKind::Repeat if flow.waiting.is_some() => return,
                AlertKind::Up
                    if flow.waiting.take().is_some()
                        && flow.told.is_none_or(|t| t == State::Up) =>
                {
                    // Shorter than `min_duration`: neither it nor its end is news.
                    return;
                }
                _ => {}
            }
        }
        self.pass(alert, &route, now);
    }

    /// Past the min-duration wait: the states filter, the hold, then out or into a group.
    fn pass(&mut self, alert: Alert<M>, route: &Route, now: Millis) {
        let held = self.hold(&alert.check, &alert.labels, now).is_some();
        let key = (alert.check.clone(), alert.alert.clone());
        let flow = self.flows.entry(key).or_default();
        if held {
            flow.held = Some(alert);
            return;
        }
        flow.held = None;
        let told = flow.told;
        // A state not wanted is sent only as the end of one that was (the recovery).
        let resolves = told.is_some_and(|t| t != alert.state && route.wants(t));
        if !route.wants(alert.state) && !resolves {
            flow.told = Some(alert.state);
            return;
        }
        flow.told = Some(alert.state);
        match &route.group {
            None => self.out.push_back(Notification::One(Box::new(alert))),
            Some(g) => self.gather(alert, g, now),
        }
    }

    fn gather(&mut self, alert: Alert<M>, g: &Grouping, now: Millis) {
        let values: Vec<(String, String)> =
            g.by.iter()
                .map(|k| (k.clone(), alert.labels.get(k).cloned().unwrap_or_default()))
                .collect();
        let group = self
            .groups
            .entry((alert.alert.clone(), values))
            .or_insert(Group {
                alerts: Vec::new(),
                due_ms: now,
                last_sent_ms: None,
            });
        if group.alerts.is_empty() {
            group.due_ms = match group.last_sent_ms {
                Some(last) if now.saturating_sub(last) < ms(g.interval) => {
                    last.saturating_add(ms(g.interval))
                }
                _ => now.saturating_add(ms(g.wait)),
            };
        }
        group.alerts.push(alert);
    }

    /// Time passed: min-duration waits that are over, holds that ended, groups that are due.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.checked_ms = self.checked_ms.max(now);
        let mut ready: Vec<Alert<M>> = Vec::new();
        for flow in self.flows.values_mut() {
            if flow.waiting.as_ref().is_some_and(|(_, due)| *due <= now)
                && let Some((a, _)) = flow.waiting.take()
            {
                ready.push(a);
            }
        }
        ready.sort_by_key(|a| a.at_ms);
        for a in ready {
            let route = self.routes.get(&a.alert).cloned().unwrap_or_default();
            self.pass(a, &route, now);
        }
        self.release(now);
        let due: Vec<_> = self
            .groups
            .iter()
            .filter(|(_, g)| !g.alerts.is_empty() && g.due_ms <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            let Some(g) = self.groups.get_mut(&k) else {
                continue;
            };
            let alerts = std::mem::take(&mut g.alerts);
            g.last_sent_ms = Some(now);
            let Some(first) = alerts.first() else {
                continue;
            };
            self.out
                .push_back(Notification::Group(Box::new(GroupNotice {
                    alert: k.0.clone(),
                    destination: first.destination.clone(),
                    labels: k.1.iter().cloned().collect(),
                    alerts,
                    at_ms: now,
                })));
        }
    }

    /// Held alerts whose hold is over: sent when the state differs from the one last told.
    fn release(&mut self, now: Millis) {
        self.checked_ms = self.checked_ms.max(now);
        let ended: Vec<(String, String)> = self
            .flows
            .iter()
            .filter_map(|(k, f)| f.held.as_ref().map(|a| (k, a)))
            .filter(|(_, a)| self.hold(&a.check, &a.labels, now).is_none())
            .map(|(k, _)| k.clone())
            .collect();
        for k in ended {
            let Some(flow) = self.flows.get_mut(&k) else {
                continue;
            };
            let Some(mut a) = flow.held.take() else {
                continue;
            };
            if a.state == flow.told.unwrap_or(State::Up) {
                continue;
            }
            if a.event == AlertKind::Repeat {
                a.event = AlertKind::Down;
                a.idempotency_key = format!("{}/down/{}/{}", a.check, a.at_ms, a.alert);
            }
            let route = self.routes.get(&a.alert).cloned().unwrap_or_default();
            self.pass(a, &route, now);
        }
    }

    /// The next notification to queue.
    pub fn poll_notification(&mut self) -> Option<Notification<M>> {
        self.out.pop_front()
    }

    /// When [`Router::handle_timeout`] must be called next: a wait or group due, or a silence
    /// or window opening or closing (the dashboard's "maintenance" changes then too) since
    /// holds were last looked at — a boundary passed meanwhile is due at once.
    pub fn poll_timeout(&self, now: Millis) -> Option<Millis> {
        let now = self.checked_ms.min(now);
        let waits = self
            .flows
            .values()
            .filter_map(|f| f.waiting.as_ref().map(|w| w.1));
        let groups = self
            .groups
            .values()
            .filter(|g| !g.alerts.is_empty())
            .map(|g| g.due_ms);
        let silences = self
            .silences
            .iter()
            .flat_map(|s| [s.starts_ms, s.ends_ms])
            .filter(|t| *t > now);
        let windows = self
            .windows
            .iter()
            .filter_map(|w| w.recurrence.next_change(now));
        waits.chain(groups).chain(silences).chain(windows).min()
    }

    /// Forgets what targets were told about check `name` (removed from the config).
    pub fn forget(&mut self, name: &str) {
        self.flows.retain(|(c, _), _| c != name);
    }
}
