//! Maintenance: the configured windows and the stored silences of a period, and what they
//! take out of a check's availability (`uptime_excluding_maintenance`, `excluding_maintenance`).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use linkpulse_checks::routing::MaintenanceWindow;
use serde_json::{Value, json};

use crate::routing::Silence;
use crate::storage::Millis;

/// The configured maintenance windows, replaced on reload.
pub type Windows = Arc<RwLock<Vec<MaintenanceWindow>>>;

/// The maintenance of every check over a period (the configured windows and the stored
/// silences), to report availability both with and without it.
#[derive(Debug, Default)]
pub struct Holds {
    windows: Vec<MaintenanceWindow>,
    silences: Vec<Silence>,
}

const DAY_MS: Millis = 86_400_000;

impl Holds {
    /// The holds of `windows` and `silences`.
    pub fn new(windows: Vec<MaintenanceWindow>, silences: Vec<Silence>) -> Holds {
        Holds { windows, silences }
    }

    /// The maintenance spans of check `name` with `labels` within `[from, to)`.
    pub fn spans(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
        from: Millis,
        to: Millis,
    ) -> Vec<(Millis, Millis)> {
        let silences = self
            .silences
            .iter()
            .filter(|x| x.matcher.matches(name, labels))
            .map(|x| (x.starts_ms, x.ends_ms));
        let windows = self
            .windows
            .iter()
            .filter(|w| w.matcher.matches(name, labels))
            .flat_map(|w| w.recurrence.spans(from, to))
            .map(|sp| (sp.start_ms, sp.end_ms));
        silences
            .chain(windows)
            .filter(|(a, b)| *a < to && *b > from)
            .collect()
    }

    /// Adds `uptime_excluding_maintenance` (24h, 7d, 30d) to a check's list item.
    pub fn annotate_item(
        &self,
        out: &mut Value,
        v: &crate::engine::CheckView,
        ts: &[crate::storage::TransitionRecord],
        now: Millis,
    ) {
        let u = |days: i64| {
            let from = now - days * DAY_MS;
            let spans = self.spans(&v.name, &v.labels, from, now);
            crate::availability::apart(ts, from, now, &spans).uptime
        };
        out["uptime_excluding_maintenance"] = json!({ "24h": u(1), "7d": u(7), "30d": u(30) });
    }

    /// Adds `excluding_maintenance` to every figure of a check's `availability` object.
    pub fn annotate_availability(
        &self,
        availability: &mut Value,
        v: &crate::engine::CheckView,
        ts: &[crate::storage::TransitionRecord],
    ) {
        let Some(figures) = availability.as_object_mut() else {
            return;
        };
        for f in figures.values_mut() {
            let (Some(from), Some(to)) = (f["from_ms"].as_i64(), f["to_ms"].as_i64()) else {
                continue;
            };
            let spans = self.spans(&v.name, &v.labels, from, to);
            let apart = crate::availability::apart(ts, from, to, &spans);
            f["excluding_maintenance"] = serde_json::to_value(apart).unwrap_or_default();
        }
    }
}
