//! Incarnations: telling a restarted process from a rebooted host.

use std::fmt;

/// Who a peer is *this time*: the host's boot id and a per-process nonce.
///
/// On Linux the boot id is `/proc/sys/kernel/random/boot_id` (16 bytes, new at every boot);
/// the nonce is chosen at random when the process starts. Reading those is the caller's job:
/// this crate does no I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Incarnation {
    /// Changes when the host reboots.
    pub boot_id: [u8; 16],
    /// Changes when the process restarts.
    pub nonce: u64,
}

/// How a peer's current incarnation relates to a previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Restart {
    /// Same boot id and nonce: the same process reconnected.
    Same,
    /// Same boot id, new nonce: the process restarted on the same boot.
    ProcessRestarted,
    /// New boot id: the host rebooted.
    HostRebooted,
}

impl Restart {
    /// `same`, `process_restarted` or `host_rebooted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Restart::Same => "same",
            Restart::ProcessRestarted => "process_restarted",
            Restart::HostRebooted => "host_rebooted",
        }
    }
}

impl Incarnation {
    /// Builds an incarnation from its parts.
    pub fn new(boot_id: [u8; 16], nonce: u64) -> Self {
        Incarnation { boot_id, nonce }
    }

    /// Parses a Linux boot id as found in `/proc/sys/kernel/random/boot_id`
    /// (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, surrounding whitespace ignored).
    pub fn parse_boot_id(text: &str) -> Option<[u8; 16]> {
        let hex: Vec<u8> = text.trim().bytes().filter(|&b| b != b'-').collect();
        if hex.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, pair) in hex.chunks(2).enumerate() {
            let s = std::str::from_utf8(pair).ok()?;
            out[i] = u8::from_str_radix(s, 16).ok()?;
        }
        Some(out)
    }

    /// What happened between `previous` and `self`.
    pub fn restart_since(&self, previous: &Incarnation) -> Restart {
        if self.boot_id != previous.boot_id {
            Restart::HostRebooted
        } else if self.nonce != previous.nonce {
            Restart::ProcessRestarted
        } else {
            Restart::Same
        }
    }
}

impl fmt::Display for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.boot_id {
            write!(f, "{b:02x}")?;
        }
        write!(f, "/{:016x}", self.nonce)
    }
}
