//! Push checks: successes move the deadline, `/fail` fails at once, and no success within
//! `period + grace` is a `timeout` failure (then one every `period` while it stays missing).

use std::time::Duration;

use super::Core;
use crate::effect::Cause;
use crate::input::PushEvent;
use crate::model::{CheckSettings, Mode, Model, Outcome};
use crate::schedule::CheckId;
use crate::time::Now;

impl<M: Model> Core<M> {
    /// A push event; false when no push check has this token.
    pub fn handle_push(&mut self, token: &str, event: PushEvent, now: Now) -> bool {
        self.last = Some(now);
        let Some(&id) = self.tokens.get(token) else {
            return false;
        };
        let Some(c) = self.checks.get_mut(&id) else {
            return false;
        };
        let Mode::Push { period, grace, .. } = c.cfg.mode() else {
            return false;
        };
        let target = c.cfg.target();
        let outcome = match event {
            PushEvent::Start => {
                c.started = Some(now.mono);
                return true;
            }
            PushEvent::Success => {
                let latency = c
                    .started
                    .take()
                    .map(|s| now.mono.duration_since(s).as_secs_f64() * 1000.0);
                let next = now.mono + period + grace;
                c.planned = Some(next);
                if c.queued.is_none() {
                    c.queued = Some(next);
                    self.schedule.insert(id, next);
                }
                M::Outcome::success(&target, "push", None, latency)
            }
            PushEvent::Fail => {
                c.started = None;
                M::Outcome::failure(
                    &target,
                    "push",
                    Cause::Reported.as_str(),
                    "the job reported a failure".to_owned(),
                )
            }
        };
        self.record(id, outcome, now);
        true
    }

    /// The deadline of push check `id` passed without a success: a `timeout` failure, and the
    /// next deadline one `period` later.
    pub(super) fn push_missed(&mut self, id: CheckId, period: Duration, grace: Duration, now: Now) {
        let Some(c) = self.checks.get_mut(&id) else {
            return;
        };
        let message = format!(
            "no success within period + grace ({} + {})",
            humantime::format_duration(period),
            humantime::format_duration(grace)
        );
        let outcome =
            M::Outcome::failure(&c.cfg.target(), "push", Cause::Timeout.as_str(), message);
        let next = now.mono + period;
        c.planned = Some(next);
        c.queued = Some(next);
        self.schedule.insert(id, next);
        self.record(id, outcome, now);
    }
}
