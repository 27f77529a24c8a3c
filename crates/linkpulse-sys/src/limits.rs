//! Process resource limits.
#![allow(unsafe_code)]

/// The soft and hard limits on open file descriptors (`RLIMIT_NOFILE`) of this process, read
/// now (another process may change them with `prlimit`); `None` if the call fails.
pub fn open_files() -> Option<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `struct rlimit` into `r`, which outlives the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    (rc == 0).then_some((r.rlim_cur, r.rlim_max))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_open_files_limit_is_read() {
        let (soft, hard) = super::open_files().expect("getrlimit");
        assert!(soft >= 3 && soft <= hard, "{soft} {hard}");
    }
}
