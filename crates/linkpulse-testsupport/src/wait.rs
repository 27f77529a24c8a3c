//! Polling with a deadline: the replacement for sleeping in tests.

use std::future::Future;
use std::time::{Duration, Instant};

/// First pause between two polls; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(2);
/// Longest pause between two polls.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// Polls `cond` until it returns `true` or `deadline` (measured from now) has passed.
///
/// Returns whether the condition became true. The condition is always evaluated at least once,
/// and once more after the deadline, so a slow machine does not turn success into failure.
pub fn eventually(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    let mut pause = FIRST_PAUSE;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return cond();
        }
        std::thread::sleep(pause.min(end.saturating_duration_since(Instant::now())));
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Async form of [`eventually`]: polls the future returned by `cond` until it yields `true` or
/// `deadline` has passed, pausing with `tokio::time::sleep` (so it follows a paused clock).
pub async fn eventually_async<F, Fut>(deadline: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    let mut pause = FIRST_PAUSE;
    loop {
        if cond().await {
            return true;
        }
        let now = tokio::time::Instant::now();
        if now >= end {
            return cond().await;
        }
        tokio::time::sleep(pause.min(end - now)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Polls `f` until it returns `Some` and returns that value; panics naming `what` after
/// `budget`.
pub fn eventually_some<T>(what: &str, budget: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let mut found = None;
    let ok = eventually(budget, || {
        found = f();
        found.is_some()
    });
    match found {
        Some(v) if ok => v,
        _ => panic!("timed out waiting for {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn true_after_a_few_polls() {
        let calls = AtomicU32::new(0);
        assert!(eventually(Duration::from_secs(5), || {
            calls.fetch_add(1, Ordering::SeqCst) >= 3
        }));
        assert!(calls.load(Ordering::SeqCst) >= 4);
    }

    #[test]
    fn false_when_the_deadline_passes() {
        let start = Instant::now();
        assert!(!eventually(Duration::from_millis(30), || false));
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[tokio::test]
    async fn async_form_polls_too() {
        let calls = AtomicU32::new(0);
        assert!(
            eventually_async(Duration::from_secs(5), || async {
                calls.fetch_add(1, Ordering::SeqCst) >= 2
            })
            .await
        );
        assert!(!eventually_async(Duration::from_millis(20), || async { false }).await);
    }
}
