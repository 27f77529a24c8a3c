//! [`Slots`]: values keyed by [`CheckId`] in a `Vec` instead of a hash table.
//!
//! An id's low 32 bits name its slot, its high 32 bits the slot's generation: a removed
//! check's slot is reused by the next check added, under a new id, so a stale id (a run in
//! flight, an old heap entry) never reaches the new check. The core hands the ids out
//! ([`Slots::vacant_id`]); the driver keeps its own per-check values under the same ids.

use crate::schedule::CheckId;

/// One slot: a value with the id it is stored under, or the generation its next id gets.
#[derive(Debug)]
enum Slot<T> {
    Full { id: CheckId, value: T },
    Vacant { generation: u32 },
}

/// Values keyed by [`CheckId`], stored densely by slot with a free list.
#[derive(Debug)]
pub struct Slots<T> {
    slots: Vec<Slot<T>>,
    /// Vacant slots below `slots.len()`, reused last-freed first.
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

/// The slot an id names.
fn slot_of(id: CheckId) -> usize {
    (id & u64::from(u32::MAX)) as usize
}

/// The id of `slot` in `generation`.
fn id_of(slot: usize, generation: u32) -> CheckId {
    (u64::from(generation) << 32) | slot as u64
}

impl<T> Slots<T> {
    /// No values.
    pub fn new() -> Slots<T> {
        Slots::default()
    }

    /// The id the next [`Slots::insert`] of a new value should use: a freed slot in its next
    /// generation, or a new slot.
    pub fn vacant_id(&self) -> CheckId {
        match self.free.last() {
            Some(&slot) => match self.slots[slot as usize] {
                Slot::Vacant { generation } => id_of(slot as usize, generation),
                Slot::Full { .. } => unreachable!("a free slot is vacant"),
            },
            None => id_of(self.slots.len(), 0),
        }
    }

    /// Stores `value` under `id` (from [`Slots::vacant_id`] here, or from the core's slots for
    /// a driver's values); returns the value the slot held.
    pub fn insert(&mut self, id: CheckId, value: T) -> Option<T> {
        let slot = slot_of(id);
        if slot >= self.slots.len() {
            self.free
                .extend((self.slots.len()..slot).map(|s| u32::try_from(s).unwrap_or(u32::MAX)));
            self.slots
                .resize_with(slot + 1, || Slot::Vacant { generation: 0 });
        } else if matches!(self.slots[slot], Slot::Vacant { .. }) {
            // The core inserts at `vacant_id` (the last freed slot), and a driver follows the
            // core's removals and additions in order: the slot is almost always the last.
            if let Some(pos) = self.free.iter().rposition(|&s| s as usize == slot) {
                self.free.remove(pos);
            }
        }
        match std::mem::replace(&mut self.slots[slot], Slot::Full { id, value }) {
            Slot::Full { value, .. } => Some(value),
            Slot::Vacant { .. } => {
                self.len += 1;
                None
            }
        }
    }

    /// Room for `additional` more values without growing past what they need.
    pub fn reserve(&mut self, additional: usize) {
        self.slots
            .reserve_exact(additional.saturating_sub(self.free.len()));
    }

    /// Room for `slots` slots (a driver following the core's [`Slots::slot_count`]).
    pub fn reserve_slots(&mut self, slots: usize) {
        self.slots
            .reserve_exact(slots.saturating_sub(self.slots.len()));
    }

    /// How many slots exist, vacant or not.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The value under `id`.
    pub fn get(&self, id: &CheckId) -> Option<&T> {
        match self.slots.get(slot_of(*id))? {
            Slot::Full { id: held, value } if held == id => Some(value),
            _ => None,
        }
    }

    /// The value under `id`, mutable.
    pub fn get_mut(&mut self, id: &CheckId) -> Option<&mut T> {
        match self.slots.get_mut(slot_of(*id))? {
            Slot::Full { id: held, value } if held == id => Some(value),
            _ => None,
        }
    }

    /// True when a value is stored under `id`.
    pub fn contains_key(&self, id: &CheckId) -> bool {
        self.get(id).is_some()
    }

    /// Takes the value under `id` out; its slot is reused under the next generation.
    pub fn remove(&mut self, id: &CheckId) -> Option<T> {
        let slot = slot_of(*id);
        match self.slots.get(slot)? {
            Slot::Full { id: held, .. } if held == id => {}
            _ => return None,
        }
        let generation = u32::try_from(*id >> 32).unwrap_or(u32::MAX).wrapping_add(1);
        let Slot::Full { value, .. } =
            std::mem::replace(&mut self.slots[slot], Slot::Vacant { generation })
        else {
            unreachable!("checked above")
        };
        self.free.push(u32::try_from(slot).unwrap_or(u32::MAX));
        self.len -= 1;
        Some(value)
    }

    /// Every id with its value, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (&CheckId, &T)> + '_ {
        self.slots.iter().filter_map(|s| match s {
            Slot::Full { id, value } => Some((id, value)),
            Slot::Vacant { .. } => None,
        })
    }

    /// Every id, in slot order.
    pub fn keys(&self) -> impl Iterator<Item = &CheckId> + '_ {
        self.iter().map(|(id, _)| id)
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True without values.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_slot_is_reused_under_a_new_id() {
        let mut s = Slots::new();
        let a = s.vacant_id();
        s.insert(a, "a");
        let b = s.vacant_id();
        s.insert(b, "b");
        assert_ne!(a, b);
        assert_eq!(s.remove(&a), Some("a"));
        assert_eq!(s.get(&a), None);
        let c = s.vacant_id();
        assert_ne!(c, a, "a reused slot gets a new id");
        s.insert(c, "c");
        assert_eq!(s.slot_count(), 2);
        assert_eq!(s.get(&a), None, "the stale id does not reach the new value");
        assert_eq!(s.remove(&a), None);
        assert_eq!(s.get(&c), Some(&"c"));
        assert_eq!(s.len(), 2);
        assert_eq!(s.iter().map(|(_, v)| *v).collect::<Vec<_>>(), ["c", "b"]);
    }

    #[test]
    fn a_driver_follows_the_core_ids() {
        let mut core = Slots::new();
        let mut driver = Slots::new();
        let ids: Vec<CheckId> = (0..3)
            .map(|i| {
                let id = core.vacant_id();
                core.insert(id, i);
                id
            })
            .collect();
        driver.insert(ids[2], "two");
        assert_eq!(driver.get(&ids[2]), Some(&"two"));
        assert_eq!(driver.get(&ids[0]), None);
        core.remove(&ids[1]);
        driver.remove(&ids[1]);
        let new = core.vacant_id();
        core.insert(new, 9);
        assert_eq!(driver.insert(new, "new"), None);
        assert_eq!(driver.get(&ids[1]), None);
        assert_eq!(driver.len(), 2);
    }
}
