//! Prometheus metrics of the daemon (`GET /metrics`), named `linkpulse_<noun>_<unit>[_total]`.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of per-check series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckLabels {
    /// Check name.
    pub check: String,
    /// Check kind.
    pub kind: String,
}

/// Labels of state changes.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChangeLabels {
    /// Check name.
    pub check: String,
    /// New state.
    pub to: String,
}

/// Labels of attempts.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    /// Check name.
    pub check: String,
    /// `success` or the error kind.
    pub result: String,
}

/// Every metric of the daemon.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// 1 when the check is up or degraded, 0 when down (absent while unknown).
    pub check_up: Family<CheckLabels, Gauge>,
    /// Latency of the last successful attempt, seconds.
    pub check_latency_seconds: Family<CheckLabels, Gauge<f64, AtomicU64>>,
    /// State changes.
    pub check_state_changes: Family<ChangeLabels, Counter>,
    /// Attempts by result.
    pub check_attempts: Family<AttemptLabels, Counter>,
    /// Actual start minus planned start of each run.
    pub schedule_lag_seconds: Histogram,
    /// Runs skipped because the previous run of the check was still going.
    pub schedule_skipped: Counter,
    /// Checks configured.
    pub checks: Gauge,
    /// Alerts delivered.
    pub alerts_delivered: Counter,
    /// Alert delivery attempts that failed.
    pub alerts_failed: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let check_up = Family::<CheckLabels, Gauge>::default();
        let check_latency_seconds = Family::<CheckLabels, Gauge<f64, AtomicU64>>::default();
        let check_state_changes = Family::<ChangeLabels, Counter>::default();
        let check_attempts = Family::<AttemptLabels, Counter>::default();
        let schedule_lag_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let schedule_skipped = Counter::default();
        let checks = Gauge::default();
        let alerts_delivered = Counter::default();
        let alerts_failed = Counter::default();
        registry.register(
            "linkpulse_check_up",
            "1 if the check is up or degraded, 0 if down",
            check_up.clone(),
        );
        registry.register(
            "linkpulse_check_latency_seconds",
            "Latency of the check's last successful attempt in seconds",
            check_latency_seconds.clone(),
        );
        registry.register(
            "linkpulse_check_state_changes",
            "State changes of the check, by new state",
            check_state_changes.clone(),
        );
        registry.register(
            "linkpulse_check_attempts",
            "Attempts of the check, by result (success or error kind)",
            check_attempts.clone(),
        );
        registry.register(
            "linkpulse_schedule_lag_seconds",
            "Actual start minus planned start of check runs in seconds",
            schedule_lag_seconds.clone(),
        );
        registry.register(
            "linkpulse_schedule_skipped_runs",
            "Runs skipped because the check's previous run had not finished",
            schedule_skipped.clone(),
        );
        registry.register("linkpulse_checks", "Checks configured", checks.clone());
        registry.register(
            "linkpulse_alerts_delivered",
            "Alerts delivered",
            alerts_delivered.clone(),
        );
        registry.register(
            "linkpulse_alerts_failed",
            "Alert delivery attempts that failed (retried later)",
            alerts_failed.clone(),
        );
        Metrics {
            registry,
            check_up,
            check_latency_seconds,
            check_state_changes,
            check_attempts,
            schedule_lag_seconds,
            schedule_skipped,
            checks,
            alerts_delivered,
            alerts_failed,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Drops the series of a removed check.
    pub fn forget(&self, check: &str, kind: &str) {
        let labels = CheckLabels {
            check: check.to_owned(),
            kind: kind.to_owned(),
        };
        self.check_up.remove(&labels);
        self.check_latency_seconds.remove(&labels);
    }
}
