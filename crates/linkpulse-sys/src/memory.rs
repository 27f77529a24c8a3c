//! Handing freed heap memory back to the kernel.
#![allow(unsafe_code)]

/// Returns the free pages of every malloc arena to the kernel (`malloc_trim(0)`), so memory
/// freed after a burst — loading a large config, preparing thousands of checks — stops
/// counting in the resident set. glibc only gives back the top of each heap by itself: pages
/// freed below live allocations stay resident until reused. Returns whether any memory was
/// released; a no-op returning false where the C library has no `malloc_trim`.
pub fn release_free() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes no pointers; it only walks glibc's own arenas under their
        // locks and madvises their free pages away.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    /// Reads `VmRSS` of this process in KiB.
    fn rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .expect("VmRSS line");
        line.split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("VmRSS value")
    }

    #[test]
    fn freed_memory_below_live_allocations_leaves_the_resident_set() {
        // 64 MiB in small blocks, with a survivor after them so glibc cannot shrink the heap
        // top: without a trim the freed blocks stay resident.
        let blocks: Vec<Vec<u8>> = (0..16_384).map(|i| vec![i as u8; 4096]).collect();
        let survivor = vec![1u8; 4096];
        drop(blocks);
        let before = rss_kib();
        assert!(super::release_free(), "nothing was released");
        let after = rss_kib();
        assert!(
            after + 32 * 1024 < before,
            "RSS {before} KiB -> {after} KiB after the trim"
        );
        assert_eq!(survivor[0], 1);
    }
}
