//! Who this process is ([`local_incarnation`]) and who the peers were last time
//! ([`PeerBook`]), so a reconnect can say whether the peer's host rebooted or only its process
//! restarted.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use linkpulse_proto::{Incarnation, Restart};

/// Linux's per-boot random id.
const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// Peers remembered at most; the oldest entry is forgotten first.
const MAX_PEERS: usize = 65_536;

/// This process's incarnation: the host's boot id (all zeros if it cannot be read) and a
/// random nonce chosen now. Call it once per process and reuse the value.
pub fn local_incarnation() -> Incarnation {
    let boot_id = std::fs::read_to_string(BOOT_ID_PATH)
        .ok()
        .and_then(|text| Incarnation::parse_boot_id(&text))
        .unwrap_or_default();
    Incarnation::new(boot_id, random_u64())
}

/// A random 64-bit value from the standard library's per-process hash keys, the pid and the
/// clock (not cryptographic; good enough for nonces that only need to differ).
pub(crate) fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish()
}

/// Remembers each peer's last incarnation by node name (shared, cheap to clone).
///
/// [`observe`](Self::observe) is called by the connection driver on every `Up`; the answer
/// fills [`PeerInfo::restart`](linkpulse_proto::PeerInfo::restart): `host_rebooted` when the
/// boot id changed, `process_restarted` when only the nonce did, `same` for a plain reconnect.
#[derive(Debug, Clone, Default)]
pub struct PeerBook {
    inner: Arc<Mutex<Book>>,
}

#[derive(Debug, Default)]
struct Book {
    by_name: HashMap<String, Incarnation>,
    /// Insertion order, for forgetting the oldest names first.
    order: VecDeque<String>,
}

impl PeerBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Book> {
        // A panic while holding the lock cannot leave the map inconsistent; keep going.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records that `name` is now `incarnation` and says how it relates to the previous one
    /// (`None` the first time the name is seen).
    pub fn observe(&self, name: &str, incarnation: Incarnation) -> Option<Restart> {
        let mut book = self.lock();
        if let Some(previous) = book.by_name.get_mut(name) {
            let restart = incarnation.restart_since(previous);
            *previous = incarnation;
            return Some(restart);
        }
        if book.by_name.len() >= MAX_PEERS
            && let Some(oldest) = book.order.pop_front()
        {
            book.by_name.remove(&oldest);
        }
        book.by_name.insert(name.to_owned(), incarnation);
        book.order.push_back(name.to_owned());
        None
    }

    /// The last incarnation seen for `name`.
    pub fn get(&self, name: &str) -> Option<Incarnation> {
        self.lock().by_name.get(name).copied()
    }

    /// How many peers are remembered.
    pub fn len(&self) -> usize {
        self.lock().by_name.len()
    }

    /// True if no peer is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnects_name_the_restart_kind() {
        let book = PeerBook::new();
        let first = Incarnation::new([1; 16], 10);
        assert_eq!(book.observe("w1", first), None);
        assert_eq!(book.observe("w1", first), Some(Restart::Same));
        assert_eq!(
            book.observe("w1", Incarnation::new([1; 16], 11)),
            Some(Restart::ProcessRestarted)
        );
        assert_eq!(
            book.observe("w1", Incarnation::new([2; 16], 11)),
            Some(Restart::HostRebooted)
        );
        assert_eq!(book.get("w1"), Some(Incarnation::new([2; 16], 11)));
        assert_eq!(book.len(), 1);
    }

    #[test]
    fn local_incarnation_reads_the_boot_id_and_varies_the_nonce() {
        let a = local_incarnation();
        let b = local_incarnation();
        assert_eq!(a.boot_id, b.boot_id);
        assert_ne!(a.boot_id, [0; 16], "boot id read from {BOOT_ID_PATH}");
        assert_ne!(a.nonce, b.nonce);
    }
}
