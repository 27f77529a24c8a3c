//! What the core needs to know of the daemon's types, as traits: the core decides from a check's
//! timing, thresholds and mode, and passes the rest (the probe result, the alert destination)
//! through untouched. The daemon implements them for its config and outcome types, so new check
//! kinds and alert channels never change this crate.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use serde::Serialize;

use crate::state::Verdict;

/// The daemon's types the core works on; one zero-sized type names them all.
pub trait Model: Debug + Clone + PartialEq + 'static {
    /// A check's settings.
    type Check: CheckSettings;
    /// An alert target's settings.
    type Alert: AlertSettings;
    /// The outcome of one attempt.
    type Outcome: Outcome;
}

/// How a check is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode<'a> {
    /// Probed on a schedule: the core emits [`crate::Effect::Run`].
    Active,
    /// Something else reports to the push URL with `token`; no success within
    /// `period + grace` is a failure.
    Push {
        /// The token in the push URL.
        token: &'a str,
        /// Expected time between successes.
        period: Duration,
        /// Extra time allowed after the period.
        grace: Duration,
    },
    /// A hub node: only the hub's reports change it.
    Node,
}

/// The settings of one check, as the core reads them.
pub trait CheckSettings: Debug + Clone + PartialEq {
    /// The check's kind, as alert payloads show it.
    type Kind: Debug + Clone + Copy + PartialEq + Serialize;

    /// A hub node's check `node:NAME` (one report flips the state).
    fn node(node: &str, labels: BTreeMap<String, String>, interval: Duration) -> Self;
    /// Unique name.
    fn name(&self) -> &str;
    /// The kind.
    fn kind(&self) -> Self::Kind;
    /// How it is driven.
    fn mode(&self) -> Mode<'_>;
    /// True for the checks the layered diagnosis can examine; a down alert of such a check
    /// waits for the verdict.
    fn diagnosable(&self) -> bool;
    /// The target (`tcp://h:p`, a URL, `push://TOKEN`, `node://NAME`).
    fn target(&self) -> String;
    /// Free-form labels.
    fn labels(&self) -> &BTreeMap<String, String>;
    /// Replaces the labels (a node's HELLO changed them).
    fn set_labels(&mut self, labels: BTreeMap<String, String>);
    /// Consecutive successes needed to go up.
    fn rise(&self) -> u32;
    /// Consecutive failures needed to go down.
    fn fall(&self) -> u32;
    /// Normal interval between runs.
    fn interval(&self) -> Duration;
    /// Interval while the state is changing.
    fn fastinter(&self) -> Duration;
    /// Interval while down and stable.
    fn downinter(&self) -> Duration;
}

/// The settings of one alert target, as the core reads them.
pub trait AlertSettings: Debug + Clone + PartialEq {
    /// Where alerts go; carried into [`crate::Alert::destination`].
    type Destination: Debug + Clone + PartialEq;

    /// The target's name.
    fn name(&self) -> &str;
    /// While a check stays down, repeat the alert this often.
    fn repeat(&self) -> Option<Duration>;
    /// Where alerts go.
    fn destination(&self) -> &Self::Destination;
}

/// The outcome of one attempt, as the core reads (and, for push and node checks, makes) it.
pub trait Outcome: Debug {
    /// The state machine's input.
    fn verdict(&self) -> Verdict;
    /// Whether the attempt failed for a reason of the monitor's own (no file descriptors,
    /// ports or memory): it is recorded without a verdict, so the state, the incident and the
    /// alerts stay as they are.
    fn is_local(&self) -> bool {
        false
    }
    /// `kind: message` of a failure, or the warning.
    fn cause(&self) -> Option<String>;
    /// A success that reached the daemon without a probe (a push, a live hub node).
    fn success(target: &str, kind: &str, warning: Option<String>, latency_ms: Option<f64>) -> Self;
    /// A failure the core itself decides (a missed push, an absent node).
    fn failure(target: &str, kind: &str, error_kind: &str, message: String) -> Self;
}
