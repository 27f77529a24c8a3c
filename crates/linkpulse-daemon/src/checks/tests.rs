//! The rule that keeps the core sans-IO.

/// The core's sources (tests excluded) read no clock, use no tokio and do no storage I/O:
/// time comes in as [`super::Now`], storage writes go out as [`super::Effect::Write`].
#[test]
fn the_core_reads_no_clock() {
    let sources = [
        ("mod.rs", include_str!("mod.rs")),
        ("core.rs", include_str!("core.rs")),
        ("state.rs", include_str!("state.rs")),
        ("schedule.rs", include_str!("schedule.rs")),
    ];
    let forbidden = [
        "Instant::now",
        "SystemTime::now",
        "now_ms(",
        "tokio",
        "thread_rng",
        "rand::random",
        "rand::rng()",
        ".submit(",
        "std::fs",
        "std::net",
    ];
    for (file, text) in sources {
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
        for f in forbidden {
            let hit = code
                .lines()
                .enumerate()
                .find(|(_, l)| !l.trim_start().starts_with("//") && l.contains(f));
            assert!(
                hit.is_none(),
                "checks/{file}:{}: `{f}` in the sans-IO core",
                hit.map_or(0, |(n, _)| n + 1)
            );
        }
    }
}
