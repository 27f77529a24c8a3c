//! The session slots of an event loop: a vector of slots stored inline, with a free list and
//! a generation per index, so a stale key (a timer entry or a close request for a session
//! that has ended and whose index was reused) never reaches the wrong session.

/// Identifies one slot's occupant: its index (also the `mio` token) and generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    index: u32,
    generation: u32,
}

impl Key {
    /// A key from its parts.
    pub(super) fn new(index: u32, generation: u32) -> Key {
        Key { index, generation }
    }

    /// The slot index (the `mio` token).
    pub(super) fn index(self) -> usize {
        self.index as usize
    }
}

#[derive(Debug)]
struct Entry<T> {
    generation: u32,
    value: Option<T>,
}

/// Values under generation-checked keys, stored inline: one allocation for all of them
/// instead of one each (a hub holds tens of thousands; each allocation costs malloc a header
/// and rounding). Growing the vector moves the values, so nothing may point into it: the
/// loop addresses slots by key (the `mio` token is the index). The spare capacity of a large
/// vector is untouched memory, not resident; an index freed is reused before the vector
/// grows.
#[derive(Debug)]
pub(super) struct Slab<T> {
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Stores `value`; `None` if the index space (u32) is exhausted.
    pub(super) fn insert(&mut self, value: T) -> Option<Key> {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.entries.len()).ok()?;
                self.entries.push(Entry {
                    generation: 0,
                    value: None,
                });
                i
            }
        };
        let entry = self.entries.get_mut(index as usize)?;
        entry.value = Some(value);
        self.len += 1;
        Some(Key::new(index, entry.generation))
    }

    /// The value under `key`, if it is still there.
    pub(super) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        self.entries
            .get_mut(key.index())
            .filter(|e| e.generation == key.generation)
            .and_then(|e| e.value.as_mut())
    }

    /// The current key of index `index` (from a `mio` token), if occupied.
    pub(super) fn key_at(&self, index: usize) -> Option<Key> {
        let e = self.entries.get(index)?;
        let index = u32::try_from(index).ok()?;
        e.value.as_ref().map(|_| Key::new(index, e.generation))
    }

    /// Removes and returns the value under `key`.
    pub(super) fn remove(&mut self, key: Key) -> Option<T> {
        let e = self
            .entries
            .get_mut(key.index())
            .filter(|e| e.generation == key.generation)?;
        let value = e.value.take()?;
        e.generation = e.generation.wrapping_add(1);
        self.free.push(key.index);
        self.len -= 1;
        Some(value)
    }

    /// Keys of every value.
    pub(super) fn keys(&self) -> Vec<Key> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.value.is_some())
            .filter_map(|(i, e)| Some(Key::new(u32::try_from(i).ok()?, e.generation)))
            .collect()
    }

    /// The key of the first value that satisfies `pred` (a linear scan).
    pub(super) fn find(&self, mut pred: impl FnMut(&T) -> bool) -> Option<Key> {
        self.entries.iter().enumerate().find_map(|(i, e)| {
            let value = e.value.as_ref()?;
            if pred(value) {
                Some(Key::new(u32::try_from(i).ok()?, e.generation))
            } else {
                None
            }
        })
    }

    /// Values stored.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// True if nothing is stored.
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_keys_miss_after_reuse() {
        let mut slab = Slab::default();
        let a = slab.insert("a").unwrap_or_else(|| panic!("insert"));
        let b = slab.insert("b").unwrap_or_else(|| panic!("insert"));
        assert_eq!(slab.remove(a), Some("a"));
        let c = slab.insert("c").unwrap_or_else(|| panic!("insert"));
        assert_eq!(c.index(), a.index(), "index reused");
        assert_eq!(slab.get_mut(a), None, "old key is stale");
        assert_eq!(slab.get_mut(c).copied(), Some("c"));
        assert_eq!(slab.key_at(b.index()), Some(b));
        assert_eq!(slab.len(), 2);
        assert_eq!(slab.keys(), vec![c, b]);
        assert_eq!(slab.find(|v| *v == "b"), Some(b));
        assert_eq!(
            slab.find(|v| *v == "a"),
            None,
            "removed values are not found"
        );
        assert_eq!(slab.remove(a), None);
    }
}
