//! A queue of values keyed by increasing probe index (sans-IO helper).
//!
//! Probes are sent in index order, so the oldest probe in flight is at the front and has the
//! earliest deadline. Removal in the middle (a reply) is a binary search that leaves a hole;
//! holes at the front are dropped at once. Every operation is O(log n) or amortised O(1), so
//! one ping may hold tens of thousands of probes in flight.

use std::collections::VecDeque;

/// Values keyed by strictly increasing `u32` index.
#[derive(Debug)]
pub(crate) struct IndexQueue<T> {
    items: VecDeque<(u32, Option<T>)>,
    live: usize,
}

impl<T> Default for IndexQueue<T> {
    fn default() -> Self {
        IndexQueue {
            items: VecDeque::new(),
            live: 0,
        }
    }
}

impl<T> IndexQueue<T> {
    /// Adds `value` under `index`, which should exceed every index pushed before; an
    /// out-of-order index is inserted in place (slower, still correct).
    pub(crate) fn push(&mut self, index: u32, value: T) {
        match self.items.back() {
            Some(&(last, _)) if last >= index => {
                match self.items.binary_search_by_key(&index, |&(i, _)| i) {
                    Ok(pos) => {
                        if let Some(slot) = self.items.get_mut(pos) {
                            if slot.1.is_none() {
                                self.live += 1;
                            }
                            slot.1 = Some(value);
                        }
                    }
                    Err(pos) => {
                        self.items.insert(pos, (index, Some(value)));
                        self.live += 1;
                    }
                }
            }
            _ => {
                self.items.push_back((index, Some(value)));
                self.live += 1;
            }
        }
    }

    /// Removes and returns the value under `index`.
    pub(crate) fn remove(&mut self, index: u32) -> Option<T> {
        let pos = self.items.binary_search_by_key(&index, |&(i, _)| i).ok()?;
        let value = self.items.get_mut(pos)?.1.take()?;
        self.live -= 1;
        self.trim();
        Some(value)
    }

    /// The live entry with the smallest index.
    pub(crate) fn front(&self) -> Option<(u32, &T)> {
        self.items
            .iter()
            .find_map(|(i, v)| v.as_ref().map(|v| (*i, v)))
    }

    /// Removes and returns the live entry with the smallest index.
    pub(crate) fn pop_front(&mut self) -> Option<(u32, T)> {
        self.trim();
        let (index, value) = self.items.pop_front()?;
        let value = value?;
        self.live -= 1;
        self.trim();
        Some((index, value))
    }

    /// No live entries.
    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Removes every entry, yielding the live values.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.live = 0;
        self.items.drain(..).filter_map(|(_, v)| v)
    }

    /// Drops holes at the front, so `front` is O(1).
    fn trim(&mut self) {
        while matches!(self.items.front(), Some((_, None))) {
            self.items.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_index_order_and_removes_in_the_middle() {
        let mut q = IndexQueue::default();
        for i in 0..5u32 {
            q.push(i, i * 10);
        }
        assert_eq!(q.remove(2), Some(20));
        assert_eq!(q.remove(2), None);
        assert_eq!(q.remove(0), Some(0));
        assert_eq!(q.front(), Some((1, &10)));
        assert_eq!(q.pop_front(), Some((1, 10)));
        assert_eq!(q.pop_front(), Some((3, 30)));
        assert!(!q.is_empty());
        assert_eq!(q.drain().collect::<Vec<_>>(), vec![40]);
        assert!(q.is_empty());
        assert_eq!(q.pop_front(), None);
    }

    #[test]
    fn out_of_order_push_is_still_correct() {
        let mut q = IndexQueue::default();
        q.push(5, 'a');
        q.push(3, 'b');
        q.push(5, 'c');
        assert_eq!(q.pop_front(), Some((3, 'b')));
        assert_eq!(q.pop_front(), Some((5, 'c')));
        assert!(q.is_empty());
    }

    #[test]
    fn front_holes_do_not_accumulate() {
        let mut q = IndexQueue::default();
        for i in 0..100_000u32 {
            q.push(i, ());
            assert_eq!(q.remove(i), Some(()));
        }
        assert!(q.items.is_empty());
    }
}
