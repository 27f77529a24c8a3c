//! [`ViewTable`]: the checks' views the engine publishes, stored by the engine's check id.
//!
//! The engine updates one view per result by id (a `Vec` index, no hash of the name); the
//! API and the dashboard, which ask by name a few times per request, scan the table. The
//! list the API answers is sorted by name there, so the table keeps no order and no name
//! index (20,000 names would cost ≈ 1.5 MB more to look up a few per request faster).

use linkpulse_checks::slots::Slots;

use super::CheckView;
use crate::schedule::CheckId;

/// Every check's view, under the engine's check ids. Only the engine writes it.
#[derive(Debug, Default)]
pub struct ViewTable {
    by_id: Slots<CheckView>,
}

impl ViewTable {
    /// The view of the check named `name`.
    pub fn get(&self, name: &str) -> Option<&CheckView> {
        self.values().find(|v| v.name == name)
    }

    /// Whether a check named `name` has a view.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every view, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &CheckView> + '_ {
        self.by_id.iter().map(|(_, v)| v)
    }

    /// How many checks have a view.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// No check has a view.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The view of check `id`, to update.
    pub(crate) fn get_mut(&mut self, id: CheckId) -> Option<&mut CheckView> {
        self.by_id.get_mut(&id)
    }

    /// Stores check `id`'s view (replacing one it had).
    pub(crate) fn insert(&mut self, id: CheckId, view: CheckView) {
        self.by_id.insert(id, view);
    }

    /// Removes check `id`'s view.
    pub(crate) fn remove(&mut self, id: CheckId) {
        self.by_id.remove(&id);
    }

    /// Room for `slots` slots in all, so that adding 20,000 checks never doubles the table.
    pub(crate) fn reserve_slots(&mut self, slots: usize) {
        self.by_id.reserve_slots(slots);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CheckKind;
    use crate::state::State;

    fn view(name: &str) -> CheckView {
        CheckView {
            name: name.to_owned(),
            kind: CheckKind::Tcp,
            target: "tcp://127.0.0.1:1".to_owned(),
            state: State::Up,
            since_ms: 0,
            last: None,
            last_ms: None,
            cause: None,
            diagnosis: None,
            interval_ms: 10_000,
            labels: Default::default(),
            maintenance: None,
        }
    }

    #[test]
    fn views_are_found_by_name_and_updated_by_id() {
        let mut t = ViewTable::default();
        let (a, b) = (t.by_id.vacant_id(), 1);
        t.insert(a, view("a"));
        t.insert(b, view("b"));
        assert_eq!(t.len(), 2);
        assert!(t.contains_key("b") && !t.contains_key("c"));
        t.get_mut(b).unwrap().state = State::Down;
        assert_eq!(t.get("b").unwrap().state, State::Down);
        t.remove(a);
        assert!(t.get("a").is_none());
        assert_eq!(t.values().count(), 1);
    }
}
