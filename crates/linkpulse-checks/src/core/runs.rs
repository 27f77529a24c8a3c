//! The schedule of active checks: a run when due, the next one planned from the last planned
//! time (`interval`, `fastinter` while changing, `downinter` while down), overruns skipped.

use std::time::Instant;

use super::Core;
use crate::effect::Effect;
use crate::model::{CheckSettings, Mode, Model};
use crate::schedule::{self, CheckId};
use crate::state::State;
use crate::time::Now;

impl<M: Model> Core<M> {
    /// A heap entry of check `id` came due.
    pub(super) fn due(&mut self, id: CheckId, planned: Instant, now: Now) {
        let elsewhere = self.runs_elsewhere(id);
        let Some(c) = self.checks.get_mut(&id) else {
            return;
        };
        if c.planned != Some(planned) {
            // A push success moved the deadline later without a new heap entry (so a check
            // pinged often keeps one entry): re-arm at the current deadline.
            if let (true, Some(later)) = (c.queued == Some(planned), c.planned)
                && later > planned
            {
                c.queued = Some(later);
                self.schedule.insert(id, later);
            }
            return;
        }
        c.planned = None;
        c.queued = None;
        match c.cfg.mode() {
            Mode::Push { period, grace, .. } => self.push_missed(id, period, grace, now),
            Mode::Node => {}
            Mode::Active if elsewhere => {
                // A multi-vantage check decided here but run by other members: keep the
                // schedule so it runs at once when it is given the role.
                let every = c.cfg.interval();
                let next = schedule::next_run(planned, every, now.mono);
                c.planned = Some(next);
                c.queued = Some(next);
                self.schedule.insert(id, next);
            }
            Mode::Active => {
                if c.running.is_some() {
                    return;
                }
                c.running = Some(planned);
                self.effects.push_back(Effect::Run {
                    id,
                    planned,
                    cfg: c.cfg.clone(),
                });
            }
        }
    }

    /// The outcome of the run [`Effect::Run`] started; plans the next one.
    pub fn handle_result(&mut self, id: CheckId, outcome: M::Outcome, now: Now) {
        self.last = Some(now);
        let Some(c) = self.checks.get_mut(&id) else {
            return;
        };
        let Some(planned) = c.running.take() else {
            return;
        };
        self.record(id, outcome, now);
        let witness = self.is_witness(id);
        let Some(c) = self.checks.get_mut(&id) else {
            return;
        };
        // A vantage's witness runs at its interval: the quorum's state is not its own.
        let every = if witness {
            c.cfg.interval()
        } else if c.state.transitioning() {
            c.cfg.fastinter()
        } else if c.state.state() == State::Down {
            c.cfg.downinter()
        } else {
            c.cfg.interval()
        };
        let rejoin = c.rejoin.take().filter(|_| every == c.cfg.interval());
        let next = match rejoin {
            // After a take-over's catch-up run: back to the previous owner's cadence.
            Some(slot) => schedule::rejoin_cadence(slot, every, planned).max(now.mono),
            None => schedule::next_run(planned, every, now.mono),
        };
        if rejoin.is_none() && next > planned + every {
            self.effects.push_back(Effect::Skipped { id });
        }
        c.planned = Some(next);
        c.queued = Some(next);
        self.schedule.insert(id, next);
    }
}
