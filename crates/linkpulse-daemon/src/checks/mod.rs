//! The daemon's side of the check core: the sans-IO [`Core`] lives in its own crate,
//! `linkpulse-checks` (no clock, no tokio, no storage — its `clippy.toml` and dependencies keep
//! it so); here the daemon's config, alert targets and probe outcomes are plugged into it
//! ([`DaemonModel`]), and its writes become storage [`WriteOp`]s. The engine
//! ([`crate::engine`]) is its driver.
//!
//! [`Core`]'s call order, as for `linkpulse_proto`'s `Session`: feed inputs with the
//! `handle_*` methods (and [`Core::add_checks`] / [`Core::remove_checks`]), then drain
//! [`Core::poll_effect`] until it returns `None`, then sleep until [`Core::poll_timeout`] and
//! call [`Core::handle_timeout`] when it passes.

use std::collections::BTreeMap;
use std::time::Duration;

pub use linkpulse_checks::{
    AlertKind, Cause, HubPolicy, Mode, NODE_PREFIX, NodeEvent, NodeReport, Now, PendingDown,
    PushEvent, ReloadSummary, Write, schedule, state,
};

use crate::config::{AlertConfig, AlertTarget, CheckConfig, CheckKind, CheckSpec};
use crate::probe;
use crate::state::Verdict;
use crate::storage::WriteOp;

/// The hub-node policy of the check core for a hub's (clamped) settings.
pub fn hub_policy(hub: &crate::config::HubConfig) -> HubPolicy {
    HubPolicy {
        interval: hub.interval,
        rejoin_grace: hub.rejoin_grace(),
        forget_after: hub.forget_after,
    }
}

/// The daemon's types in the core: [`CheckConfig`], [`AlertConfig`], [`probe::Outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaemonModel;

impl linkpulse_checks::Model for DaemonModel {
    type Check = CheckConfig;
    type Alert = AlertConfig;
    type Outcome = probe::Outcome;
}

/// The check core over the daemon's types.
pub type Core = linkpulse_checks::Core<DaemonModel>;
/// One check as the core holds it.
pub type Check = linkpulse_checks::Check<DaemonModel>;
/// What the engine must do.
pub type Effect = linkpulse_checks::Effect<DaemonModel>;
/// One alert for one alert target (serialised as the delivered payload).
pub type Alert = linkpulse_checks::Alert<DaemonModel>;
/// A check handed from one core to another.
pub type Handoff = linkpulse_checks::Handoff<DaemonModel>;
/// How a check enters the core.
pub type Origin = linkpulse_checks::Origin<DaemonModel>;

impl linkpulse_checks::CheckSettings for CheckConfig {
    type Kind = CheckKind;

    fn node(node: &str, labels: BTreeMap<String, String>, interval: Duration) -> CheckConfig {
        node_check(node, labels, interval)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> CheckKind {
        self.spec.kind()
    }

    fn mode(&self) -> Mode<'_> {
        match &self.spec {
            CheckSpec::Push {
                token,
                period,
                grace,
                ..
            } => Mode::Push {
                token,
                period: *period,
                grace: *grace,
            },
            CheckSpec::Node { .. } => Mode::Node,
            _ => Mode::Active,
        }
    }

    fn diagnosable(&self) -> bool {
        // A multi-vantage check's incident is diagnosed by its vantages (`partial_outage`,
        // `vantage_isolated`), not by one member's layered diagnosis.
        self.vantage.is_none()
            && matches!(
                self.spec.kind(),
                CheckKind::Http
                    | CheckKind::Tcp
                    | CheckKind::Icmp
                    | CheckKind::Dns
                    | CheckKind::Grpc
                    | CheckKind::Postgres
                    | CheckKind::Redis
                    | CheckKind::Mysql
            )
    }

    fn target(&self) -> String {
        self.spec.target()
    }

    fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    fn set_labels(&mut self, labels: BTreeMap<String, String>) {
        self.labels = labels;
    }

    fn rise(&self) -> u32 {
        self.rise
    }

    fn fall(&self) -> u32 {
        self.fall
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn fastinter(&self) -> Duration {
        self.fastinter
    }

    fn downinter(&self) -> Duration {
        self.downinter
    }
}

impl linkpulse_checks::AlertSettings for AlertConfig {
    type Destination = AlertTarget;

    fn name(&self) -> &str {
        &self.name
    }

    fn repeat(&self) -> Option<Duration> {
        self.repeat
    }

    fn destination(&self) -> &AlertTarget {
        &self.target
    }
}

impl linkpulse_checks::Outcome for probe::Outcome {
    fn verdict(&self) -> Verdict {
        probe::Outcome::verdict(self)
    }

    fn is_local(&self) -> bool {
        probe::Outcome::is_local(self)
    }

    fn cause(&self) -> Option<String> {
        probe::Outcome::cause(self)
    }

    fn success(
        target: &str,
        kind: &str,
        warning: Option<String>,
        latency_ms: Option<f64>,
    ) -> probe::Outcome {
        probe::Outcome::success(target, kind, warning, latency_ms)
    }

    fn failure(target: &str, kind: &str, error_kind: &str, message: String) -> probe::Outcome {
        probe::Outcome::failure(target, kind, error_kind, message)
    }
}

impl From<Write> for WriteOp {
    fn from(w: Write) -> WriteOp {
        match w {
            Write::Transition(t) => WriteOp::Transition(t),
            Write::OpenIncident {
                check,
                at_ms,
                cause,
            } => WriteOp::OpenIncident {
                check,
                at_ms,
                cause,
            },
            Write::CloseIncident { check, at_ms } => WriteOp::CloseIncident { check, at_ms },
            Write::Diagnosis {
                check,
                verdict,
                detail,
            } => WriteOp::Diagnosis {
                check,
                verdict,
                detail,
            },
        }
    }
}

/// The settings of a node's check: one report flips the state (rise = fall = 1).
pub fn node_check(node: &str, labels: BTreeMap<String, String>, interval: Duration) -> CheckConfig {
    CheckConfig {
        name: format!("{NODE_PREFIX}{node}"),
        spec: CheckSpec::Node {
            node: node.to_owned(),
        },
        interval,
        timeout: interval,
        rise: 1,
        fall: 1,
        fastinter: interval,
        downinter: interval,
        degraded_latency: None,
        cert_warn_days: 0,
        loss_threshold: 1.0,
        labels,
        vantage: None,
    }
}
