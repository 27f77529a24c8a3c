//! The in-flight table: which echo request a reply or ICMP error belongs to (sans-IO).
//!
//! One table per socket. Sequence numbers come from one shared counter and an in-flight
//! sequence is never handed out twice, so thousands of concurrent pings sharing a socket
//! cannot confuse each other's replies. A reply must also come from the probed address and
//! carry the probe's nonce; on raw sockets its identifier must be ours (on datagram sockets
//! the kernel rewrites the identifier to the socket's port and filters by it itself).

use std::collections::HashMap;
use std::net::IpAddr;

/// One probe waiting for its reply.
#[derive(Debug)]
struct Entry<T> {
    /// Where the request was sent; replies and quoted errors must name this address.
    dst: IpAddr,
    /// The per-probe nonce carried in the payload.
    nonce: u64,
    /// Handed back to the caller on a match (the waiter's channel).
    token: T,
}

/// In-flight echo requests keyed by sequence number.
#[derive(Debug)]
pub(crate) struct SeqTable<T> {
    entries: HashMap<u16, Entry<T>>,
    /// Next sequence number to try.
    next: u16,
    /// Identifier replies must carry (raw sockets), or `None` to accept any (datagram sockets).
    ident: Option<u16>,
}

impl<T> SeqTable<T> {
    /// An empty table; `ident` is `Some` for raw sockets (see the module docs).
    pub(crate) fn new(ident: Option<u16>, first_seq: u16) -> Self {
        SeqTable {
            entries: HashMap::new(),
            next: first_seq,
            ident,
        }
    }

    /// Registers a probe and returns its sequence number, or gives `token` back when all
    /// 65,536 sequence numbers are in flight.
    pub(crate) fn insert(&mut self, dst: IpAddr, nonce: u64, token: T) -> Result<u16, T> {
        if self.entries.len() > usize::from(u16::MAX) {
            return Err(token);
        }
        // Terminates: fewer than 65,536 entries means a free number exists.
        loop {
            let seq = self.next;
            self.next = self.next.wrapping_add(1);
            if let std::collections::hash_map::Entry::Vacant(v) = self.entries.entry(seq) {
                v.insert(Entry { dst, nonce, token });
                return Ok(seq);
            }
        }
    }

    /// Removes the probe `seq` if it is still the one with `nonce` (a timed-out probe must not
    /// remove a newer probe that reused its sequence number).
    pub(crate) fn remove(&mut self, seq: u16, nonce: u64) -> Option<T> {
        match self.entries.get(&seq) {
            Some(e) if e.nonce == nonce => self.entries.remove(&seq).map(|e| e.token),
            _ => None,
        }
    }

    /// Removes some entry and returns its sequence number (tests of the waiting path).
    #[cfg(test)]
    pub(crate) fn remove_any_for_test(&mut self) -> u16 {
        let seq = self.entries.keys().next().copied().unwrap_or_default();
        self.entries.remove(&seq);
        seq
    }

    /// Matches an echo reply from `src`; on a match the probe leaves the table.
    pub(crate) fn take_reply(
        &mut self,
        src: IpAddr,
        ident: u16,
        seq: u16,
        nonce: Option<u64>,
    ) -> Option<T> {
        if self.ident.is_some_and(|ours| ours != ident) {
            return None;
        }
        let e = self.entries.get(&seq)?;
        if e.dst != src || Some(e.nonce) != nonce {
            return None;
        }
        self.entries.remove(&seq).map(|e| e.token)
    }

    /// Matches an ICMP error quoting a request to `dst`. `ident` is `None` where the identifier
    /// was rewritten by the kernel (datagram sockets); `nonce` is `None` when the quote was cut
    /// short before the payload. On a match the probe leaves the table.
    pub(crate) fn take_error(
        &mut self,
        dst: IpAddr,
        ident: Option<u16>,
        seq: u16,
        nonce: Option<u64>,
    ) -> Option<T> {
        if let (Some(ours), Some(got)) = (self.ident, ident)
            && ours != got
        {
            return None;
        }
        let e = self.entries.get(&seq)?;
        if e.dst != dst || nonce.is_some_and(|n| n != e.nonce) {
            return None;
        }
        self.entries.remove(&seq).map(|e| e.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    #[test]
    fn reply_matches_only_its_own_probe() {
        let mut t = SeqTable::new(Some(77), 0);
        let a = t.insert(ip(1), 100, "a").expect("room");
        let b = t.insert(ip(2), 200, "b").expect("room");
        assert_ne!(a, b);
        // Wrong identifier, wrong source, wrong nonce: no match, nothing removed.
        assert_eq!(t.take_reply(ip(1), 78, a, Some(100)), None);
        assert_eq!(t.take_reply(ip(2), 77, a, Some(100)), None);
        assert_eq!(t.take_reply(ip(1), 77, a, Some(101)), None);
        assert_eq!(t.take_reply(ip(1), 77, a, None), None);
        assert_eq!(t.take_reply(ip(1), 77, a, Some(100)), Some("a"));
        // Duplicate reply: already taken.
        assert_eq!(t.take_reply(ip(1), 77, a, Some(100)), None);
        assert_eq!(t.entries.len(), 1);
        assert_eq!(t.take_reply(ip(2), 77, b, Some(200)), Some("b"));
    }

    #[test]
    fn datagram_tables_ignore_the_rewritten_identifier() {
        let mut t = SeqTable::new(None, 0);
        let s = t.insert(ip(1), 5, ()).expect("room");
        assert_eq!(t.take_reply(ip(1), 40_000, s, Some(5)), Some(()));
    }

    #[test]
    fn sequences_stay_unique_across_wraparound() {
        let mut t = SeqTable::new(None, u16::MAX - 1);
        let first = t.insert(ip(1), 1, 1).expect("room");
        let mut seen = std::collections::HashSet::from([first]);
        for i in 0..10u64 {
            let s = t.insert(ip(1), i + 10, 0).expect("room");
            assert!(seen.insert(s), "sequence {s} handed out twice");
        }
    }

    #[test]
    fn full_table_refuses_and_recovers() {
        let mut t = SeqTable::new(None, 0);
        for i in 0..=u64::from(u16::MAX) {
            assert!(t.insert(ip(1), i, ()).is_ok());
        }
        assert_eq!(t.insert(ip(1), 1 << 40, ()), Err(()));
        assert_eq!(t.remove(300, 300), Some(()));
        assert_eq!(t.insert(ip(1), 1 << 41, ()), Ok(300));
    }

    #[test]
    fn remove_spares_a_newer_probe_with_the_same_sequence() {
        let mut t = SeqTable::new(None, 0);
        let s = t.insert(ip(1), 1, "old").expect("room");
        assert_eq!(t.take_reply(ip(1), 0, s, Some(1)), Some("old"));
        // Force reuse of the same sequence number.
        let mut t2 = SeqTable::new(None, s);
        let s2 = t2.insert(ip(1), 2, "new").expect("room");
        assert_eq!(s, s2);
        assert_eq!(
            t2.remove(s, 1),
            None,
            "the old probe's nonce must not remove the new one"
        );
        assert_eq!(t2.remove(s, 2), Some("new"));
    }

    #[test]
    fn errors_match_by_quoted_destination() {
        let mut t = SeqTable::new(Some(9), 0);
        let s = t.insert(ip(9), 42, "p").expect("room");
        assert_eq!(t.take_error(ip(8), Some(9), s, Some(42)), None);
        assert_eq!(t.take_error(ip(9), Some(9), s, Some(41)), None);
        // A quote cut before the payload still matches on address, identifier and sequence.
        assert_eq!(t.take_error(ip(9), Some(9), s, None), Some("p"));
    }
}
