//! Prometheus metrics of the daemon (`GET /metrics`), named `linkpulse_<noun>_<unit>[_total]`.
//!
//! Every check has its series from the moment it exists: `linkpulse_check_up` (1 while `up` or
//! `degraded`, 0 while `down` or `unknown`) and one `linkpulse_check_state` series per state
//! (1 for the current one). The handles of a check's series live in its [`CheckSeries`],
//! looked up once when the check is added, so recording a result hashes no label set.
//!
//! Values are printed with the fewest digits that read back as the same `f64`
//! (`prometheus_client` uses the `dtoa` crate; the official Go client uses
//! `strconv.FormatFloat(v, 'g', -1, 64)`, the same digits). That alone does not stop
//! `0.00006500000000000001`: it is the exact print of the float `0.065 / 1000.0`, not of
//! 65 µs. So durations are kept in whole microseconds and turned into
//! seconds by a single division (`us / 1e6`), which IEEE 754 rounds to the float nearest the
//! decimal value, which prints as `0.000065`.

mod format;

pub use format::Format;
use format::TextWriter;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::{
    EncodeLabelSet, EncodeMetric, LabelSetEncoder, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use crate::state::State;

/// The commit `linkpulse_build_info` names, when the binary knows it ([`set_build_commit`]).
static BUILD_COMMIT: OnceLock<&'static str> = OnceLock::new();

/// Names the commit `linkpulse_build_info` reports: the binary's build script knows it, this
/// crate's build does not. Call it before [`Metrics::new`]; only the first call counts.
/// Without it the commit is `LINKPULSE_COMMIT` from this crate's build environment, else
/// `unknown`.
pub fn set_build_commit(commit: &'static str) {
    let _ = BUILD_COMMIT.set(commit);
}

/// Upper bounds of the `linkpulse_check_latency_seconds` buckets, in microseconds: Go's
/// `DefBuckets` (5 ms … 10 s) with 0.5, 1 and 2.5 ms added below for LAN and loopback targets.
pub const LATENCY_BUCKETS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

/// Label names the per-check series use themselves, or that Prometheus gives a meaning
/// (`le`, `quantile`) or sets on every scraped series (`job`, `instance`).
const RESERVED_LABELS: [&str; 9] = [
    "check", "kind", "state", "result", "to", "le", "quantile", "job", "instance",
];

/// Checks that `name` may be listed under `metrics.labels`: a Prometheus label name
/// (`[a-zA-Z_][a-zA-Z0-9_]*`), not reserved for Prometheus (`__…`) and not one the per-check
/// series already carry. The error says why, naming the label.
pub fn check_label_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let valid = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(format!(
            "{name:?} is not a Prometheus label name (a letter or `_`, then letters, digits or `_`)"
        ));
    }
    if name.starts_with("__") {
        return Err(format!(
            "{name:?} starts with `__`, which Prometheus reserves for itself"
        ));
    }
    if RESERVED_LABELS.contains(&name) {
        return Err(format!(
            "{name:?} is reserved (the series already use or Prometheus sets: {})",
            RESERVED_LABELS.join(", ")
        ));
    }
    Ok(())
}

/// Whole microseconds of a duration in milliseconds (never negative).
fn micros(ms: f64) -> u64 {
    // `as` saturates: NaN becomes 0, a huge value u64::MAX.
    (ms * 1000.0).round().max(0.0) as u64
}

/// Seconds of whole microseconds: the float nearest the decimal value (see the module docs).
fn seconds(us: u64) -> f64 {
    us as f64 / 1_000_000.0
}

/// `secs` on the nanosecond grid: a duration computed from float milliseconds (`ms / 1000.0`)
/// or as a difference of two (`took - rtt`) carries noise below the nanosecond that the
/// shortest print shows (`0.00006500000000000001`); a nanosecond is finer than any clock the
/// probes read. Meant for durations (below a million seconds), not for timestamps.
pub fn clean_seconds(secs: f64) -> f64 {
    (secs * 1e9).round() / 1e9
}

/// The labels every series of one check carries: `check`, `kind`, then the check's labels
/// named by `metrics.labels`, in that order (a label the check does not have is left out,
/// which Prometheus reads the same as empty). Cloning shares them.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct CheckLabels(Arc<CheckLabelsInner>);

#[derive(Debug, Hash, PartialEq, Eq)]
struct CheckLabelsInner {
    check: String,
    kind: &'static str,
    extra: Vec<(String, String)>,
}

impl CheckLabels {
    /// The labels of check `check` of kind `kind`, exporting the keys `export` of `labels`.
    pub fn new(
        check: &str,
        kind: &'static str,
        labels: &BTreeMap<String, String>,
        export: &[String],
    ) -> CheckLabels {
        let extra = export
            .iter()
            .filter_map(|k| labels.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        CheckLabels(Arc::new(CheckLabelsInner {
            check: check.to_owned(),
            kind,
            extra,
        }))
    }

    fn encode_extra(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        self.0.extra.encode(encoder)
    }
}

impl EncodeLabelSet for CheckLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        [("check", self.0.check.as_str()), ("kind", self.0.kind)].encode(encoder)?;
        self.encode_extra(encoder)
    }
}

/// Labels of `linkpulse_check_state`: the check's, then `state`.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct StateLabels {
    /// The check.
    pub check: CheckLabels,
    /// The state this series stands for.
    pub state: State,
}

impl EncodeLabelSet for StateLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        self.check.encode(encoder)?;
        [("state", self.state.as_str())].encode(encoder)
    }
}

/// Labels of state changes: `check`, `to`, then the exported check labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct ChangeLabels {
    /// The check.
    pub check: CheckLabels,
    /// New state.
    pub to: State,
}

impl EncodeLabelSet for ChangeLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        [
            ("check", self.check.0.check.as_str()),
            ("to", self.to.as_str()),
        ]
        .encode(encoder)?;
        self.check.encode_extra(encoder)
    }
}

/// Labels of attempts: `check`, `result`, then the exported check labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct AttemptLabels {
    /// The check.
    pub check: CheckLabels,
    /// `success` or the error kind.
    pub result: String,
}

impl EncodeLabelSet for AttemptLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        [
            ("check", self.check.0.check.as_str()),
            ("result", self.result.as_str()),
        ]
        .encode(encoder)?;
        self.check.encode_extra(encoder)
    }
}

/// Labels of `linkpulse_build_info`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct BuildLabels {
    version: String,
    commit: String,
}

/// A latency histogram over [`LATENCY_BUCKETS_US`] kept in atomics: observing is two
/// relaxed additions (no lock), and the sum is whole microseconds, so it prints exactly.
#[derive(Debug, Clone, Default)]
pub struct LatencyHistogram(Arc<LatencyCounts>);

#[derive(Debug, Default)]
struct LatencyCounts {
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

impl LatencyHistogram {
    /// Counts one observation of `us` microseconds.
    pub fn observe_us(&self, us: u64) {
        let i = LATENCY_BUCKETS_US.partition_point(|&b| b < us);
        self.0.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.0.sum_us.fetch_add(us, Ordering::Relaxed);
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let mut buckets = [(f64::INFINITY, 0u64); LATENCY_BUCKETS_US.len() + 1];
        let mut count = 0;
        for (i, slot) in buckets.iter_mut().enumerate() {
            let n = self.0.buckets[i].load(Ordering::Relaxed);
            count += n;
            slot.1 = n;
            if let Some(&le) = LATENCY_BUCKETS_US.get(i) {
                slot.0 = seconds(le);
            }
        }
        let sum = seconds(self.0.sum_us.load(Ordering::Relaxed));
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Every metric of the daemon.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Length of the last exposition (sizes the next one).
    exposition_len: AtomicUsize,
    /// 1 while the check is up or degraded, 0 while down or unknown.
    pub check_up: Family<CheckLabels, Gauge>,
    /// 1 for the check's current state, 0 for the three others.
    pub check_state: Family<StateLabels, Gauge>,
    /// Latency of successful attempts, seconds.
    pub check_latency_seconds: Family<CheckLabels, LatencyHistogram>,
    /// Latency of the last successful attempt, seconds.
    pub check_last_latency_seconds: Family<CheckLabels, Gauge<f64, AtomicU64>>,
    /// Earliest `notAfter` of the certificate chain last presented to a TLS check, unix seconds.
    pub check_cert_expiry: Family<CheckLabels, Gauge>,
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
    /// Alerts delivered, by alert target and channel.
    pub alert_deliveries: Family<AlertLabels, Counter>,
    /// Failed delivery attempts, by alert target and channel.
    pub alert_delivery_failures: Family<AlertLabels, Counter>,
    /// Each alert target's last delivery and failure (`/api/v1/alerts/channels`).
    pub alert_channels: Arc<crate::alerts::status::ChannelStatus>,
    /// Probes that failed for a reason of the monitor's own, by reason.
    pub probe_local_errors: Family<ReasonLabels, Counter>,
    /// Storage write batches (or database file checks) that failed.
    pub storage_errors: Counter,
    /// The daemon's own health (what `/readyz` says), kept beside its metrics: both are how
    /// the daemon observes itself, and every part that reports to one reports to the other.
    pub health: Arc<crate::health::Health>,
}

/// Labels of the per-target alert delivery counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct AlertLabels {
    /// The alert target's name.
    pub alert: String,
    /// Its channel kind (`webhook`, `alertmanager`, `pagerduty`, …).
    pub channel: String,
}

/// Labels of `linkpulse_probe_local_errors_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct ReasonLabels {
    /// `no_file_descriptors`, `no_ephemeral_ports`, `no_memory`.
    pub reason: String,
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
        let check_state = Family::<StateLabels, Gauge>::default();
        let check_latency_seconds = Family::<CheckLabels, LatencyHistogram>::default();
        let check_last_latency_seconds = Family::<CheckLabels, Gauge<f64, AtomicU64>>::default();
        let check_cert_expiry = Family::<CheckLabels, Gauge>::default();
        let check_state_changes = Family::<ChangeLabels, Counter>::default();
        let check_attempts = Family::<AttemptLabels, Counter>::default();
        let schedule_lag_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let schedule_skipped = Counter::default();
        let checks = Gauge::default();
        let alerts_delivered = Counter::default();
        let alerts_failed = Counter::default();
        let alert_deliveries = Family::<AlertLabels, Counter>::default();
        let alert_delivery_failures = Family::<AlertLabels, Counter>::default();
        let probe_local_errors = Family::<ReasonLabels, Counter>::default();
        let storage_errors = Counter::default();
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                commit: BUILD_COMMIT
                    .get()
                    .copied()
                    .or(option_env!("LINKPULSE_COMMIT"))
                    .unwrap_or("unknown")
                    .to_owned(),
            })
            .set(1);
        registry.register(
            "linkpulse_build_info",
            "Always 1; the labels name the version and commit of the running linkpulse",
            build_info,
        );
        registry.register(
            "linkpulse_check_up",
            "1 if the check is up or degraded, 0 if down or unknown",
            check_up.clone(),
        );
        registry.register(
            "linkpulse_check_state",
            "1 for the check's current state (unknown, up, degraded, down), 0 for the others",
            check_state.clone(),
        );
        registry.register(
            "linkpulse_check_latency_seconds",
            "Latency of the check's successful attempts in seconds",
            check_latency_seconds.clone(),
        );
        registry.register(
            "linkpulse_check_last_latency_seconds",
            "Latency of the check's last successful attempt in seconds",
            check_last_latency_seconds.clone(),
        );
        registry.register(
            "linkpulse_check_cert_expiry_timestamp_seconds",
            "Earliest notAfter of the certificate chain the TLS check last saw, as a unix time",
            check_cert_expiry.clone(),
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
        registry.register(
            "linkpulse_alert_deliveries",
            "Alerts delivered, by alert target and channel",
            alert_deliveries.clone(),
        );
        registry.register(
            "linkpulse_alert_delivery_failures",
            "Alert delivery attempts that failed (retried later), by alert target and channel",
            alert_delivery_failures.clone(),
        );
        registry.register(
            "linkpulse_probe_local_errors",
            "Probes that failed for a reason of the monitor's own (no file descriptors, ports or memory), by reason; they change no check's state",
            probe_local_errors.clone(),
        );
        registry.register(
            "linkpulse_storage_errors",
            "Storage write batches (or database file checks) that failed; failed writes are held in memory and retried",
            storage_errors.clone(),
        );
        Metrics {
            registry,
            exposition_len: AtomicUsize::new(0),
            check_up,
            check_state,
            check_latency_seconds,
            check_last_latency_seconds,
            check_cert_expiry,
            check_state_changes,
            check_attempts,
            schedule_lag_seconds,
            schedule_skipped,
            checks,
            alerts_delivered,
            alerts_failed,
            alert_deliveries,
            alert_delivery_failures,
            alert_channels: Arc::default(),
            probe_local_errors,
            storage_errors,
            health: Arc::default(),
        }
    }

    /// Lists an alert target in the delivery series and `/api/v1/alerts/channels` (at 0)
    /// before it delivers anything.
    pub fn alert_target(&self, alert: &str, channel: &str) {
        let labels = AlertLabels {
            alert: alert.to_owned(),
            channel: channel.to_owned(),
        };
        let _ = self.alert_deliveries.get_or_create(&labels);
        let _ = self.alert_delivery_failures.get_or_create(&labels);
        self.alert_channels.register(alert, channel);
    }

    /// Counts a delivery of `alert` and keeps it as its last (the answer already masked).
    pub fn alert_delivered(&self, alert: &str, channel: &str, at_ms: i64, answer: &str) {
        let labels = AlertLabels {
            alert: alert.to_owned(),
            channel: channel.to_owned(),
        };
        self.alert_deliveries.get_or_create(&labels).inc();
        self.alert_channels.delivered(alert, channel, at_ms, answer);
    }

    /// Counts a failed attempt of `alert` and keeps it as its last (the error already
    /// masked).
    pub fn alert_failed(&self, alert: &str, channel: &str, at_ms: i64, error: &str) {
        let labels = AlertLabels {
            alert: alert.to_owned(),
            channel: channel.to_owned(),
        };
        self.alert_delivery_failures.get_or_create(&labels).inc();
        self.alert_channels.failed(alert, channel, at_ms, error);
    }

    /// Brings `linkpulse_storage_errors_total` up to the storage's own count (called before
    /// each scrape: the storage counts on its writer thread).
    pub fn sync_storage(&self, health: &crate::storage::StorageHealth) {
        let shown = self.storage_errors.get();
        if health.errors > shown {
            self.storage_errors.inc_by(health.errors - shown);
        }
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Every metric in `format`.
    ///
    /// The text is written once, into a string sized from the previous scrape: a scrape of
    /// 20,000 checks is tens of megabytes, and growing it by doubling (or converting a copy)
    /// would leave the allocator holding several such blocks after it.
    pub fn encode_as(&self, format: Format) -> String {
        let hint = self.exposition_len.load(Ordering::Relaxed);
        let mut out = String::with_capacity(hint + hint / 32 + 4096);
        let done = match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)
            }
            Format::Text => {
                let mut w = TextWriter::new(&mut out);
                let done = prometheus_client::encoding::text::encode(&mut w, &self.registry);
                w.finish();
                done
            }
        };
        if done.is_err() {
            out.clear();
        }
        self.exposition_len.store(out.len(), Ordering::Relaxed);
        out
    }
}

/// The states in the order of [`CheckSeries`]'s state gauges.
const STATES: [State; 4] = [State::Unknown, State::Up, State::Degraded, State::Down];

fn state_index(s: State) -> usize {
    match s {
        State::Unknown => 0,
        State::Up => 1,
        State::Degraded => 2,
        State::Down => 3,
    }
}

/// The series of one check, created when the check is added (`linkpulse_check_up` and the
/// four `linkpulse_check_state` series at once, the others on first use) and kept as handles,
/// so a result updates atomics without hashing a label set. [`CheckSeries::forget`] removes
/// every series it created.
#[derive(Debug)]
pub struct CheckSeries {
    labels: CheckLabels,
    /// The state the gauges show.
    shown: State,
    up: Gauge,
    state: [Gauge; 4],
    latency: Option<(LatencyHistogram, Gauge<f64, AtomicU64>)>,
    cert_expiry: Option<Gauge>,
    /// `linkpulse_check_attempts_total` by result (`success` first once seen); a check sees
    /// only a few error kinds, so a list beats a map.
    attempts: Vec<(String, Counter)>,
    changes: [Option<Counter>; 4],
}

impl CheckSeries {
    /// Creates the check's `linkpulse_check_up` and `linkpulse_check_state` series, showing
    /// `state`.
    pub fn new(metrics: &Metrics, labels: CheckLabels, state: State) -> CheckSeries {
        let up = metrics.check_up.get_or_create_owned(&labels);
        let state_gauge = |s: State| {
            metrics.check_state.get_or_create_owned(&StateLabels {
                check: labels.clone(),
                state: s,
            })
        };
        let gauges = STATES.map(state_gauge);
        let mut series = CheckSeries {
            labels,
            shown: state,
            up,
            state: gauges,
            latency: None,
            cert_expiry: None,
            attempts: Vec::new(),
            changes: Default::default(),
        };
        series.show(state);
        series
    }

    /// The labels the series carry.
    pub fn labels(&self) -> &CheckLabels {
        &self.labels
    }

    /// Shows `state` (nothing to do when it is already shown).
    pub fn set_state(&mut self, state: State) {
        if state != self.shown {
            self.state[state_index(self.shown)].set(0);
            self.show(state);
        }
    }

    fn show(&mut self, state: State) {
        self.shown = state;
        self.state[state_index(state)].set(1);
        self.up.set(i64::from(state.is_available()));
    }

    /// Counts an attempt under `result="success"` or its `error_kind`; `latency_ms` (given for
    /// successful attempts) goes into the histogram and the last-latency gauge.
    pub fn attempt(
        &mut self,
        metrics: &Metrics,
        error_kind: Option<&str>,
        latency_ms: Option<f64>,
    ) {
        let result = error_kind.unwrap_or("success");
        match self.attempts.iter().find(|(r, _)| r == result) {
            Some((_, c)) => {
                c.inc();
            }
            None => {
                let c = metrics.check_attempts.get_or_create_owned(&AttemptLabels {
                    check: self.labels.clone(),
                    result: result.to_owned(),
                });
                c.inc();
                self.attempts.push((result.to_owned(), c));
            }
        }
        if let Some(ms) = latency_ms {
            let (hist, last) = self.latency.get_or_insert_with(|| {
                (
                    metrics
                        .check_latency_seconds
                        .get_or_create_owned(&self.labels),
                    metrics
                        .check_last_latency_seconds
                        .get_or_create_owned(&self.labels),
                )
            });
            let us = micros(ms);
            hist.observe_us(us);
            last.set(seconds(us));
        }
    }

    /// Records the earliest `notAfter` (unix seconds) of the chain a TLS check was shown.
    pub fn cert_expiry(&mut self, metrics: &Metrics, not_after: i64) {
        self.cert_expiry
            .get_or_insert_with(|| metrics.check_cert_expiry.get_or_create_owned(&self.labels))
            .set(not_after);
    }

    /// Counts a change to `to`.
    pub fn state_change(&mut self, metrics: &Metrics, to: State) {
        self.changes[state_index(to)]
            .get_or_insert_with(|| {
                metrics
                    .check_state_changes
                    .get_or_create_owned(&ChangeLabels {
                        check: self.labels.clone(),
                        to,
                    })
            })
            .inc();
    }

    /// Removes every series of the check (it was removed, or its labels changed).
    pub fn forget(&self, metrics: &Metrics) {
        let labels = &self.labels;
        metrics.check_up.remove(labels);
        for state in STATES {
            metrics.check_state.remove(&StateLabels {
                check: labels.clone(),
                state,
            });
        }
        metrics.check_latency_seconds.remove(labels);
        metrics.check_last_latency_seconds.remove(labels);
        metrics.check_cert_expiry.remove(labels);
        for (result, _) in &self.attempts {
            metrics.check_attempts.remove(&AttemptLabels {
                check: labels.clone(),
                result: result.clone(),
            });
        }
        for to in STATES {
            metrics.check_state_changes.remove(&ChangeLabels {
                check: labels.clone(),
                to,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(metrics: &Metrics, export: &[&str], state: State) -> CheckSeries {
        let labels = BTreeMap::from([
            ("team".to_owned(), "core \"db\"".to_owned()),
            ("zone".to_owned(), "eu-1".to_owned()),
        ]);
        let export: Vec<String> = export.iter().map(|s| (*s).to_owned()).collect();
        CheckSeries::new(
            metrics,
            CheckLabels::new("db", "tcp", &labels, &export),
            state,
        )
    }

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix}:\n{text}"))
    }

    #[test]
    fn a_check_has_every_state_series_from_the_start() {
        let m = Metrics::new();
        let _s = series(&m, &[], State::Unknown);
        let text = m.encode();
        assert_eq!(
            line(&text, "linkpulse_check_up{"),
            "linkpulse_check_up{check=\"db\",kind=\"tcp\"} 0"
        );
        for (state, v) in [("unknown", 1), ("up", 0), ("degraded", 0), ("down", 0)] {
            let want =
                format!("linkpulse_check_state{{check=\"db\",kind=\"tcp\",state=\"{state}\"}} {v}");
            assert!(text.lines().any(|l| l == want), "{want}:\n{text}");
        }
    }

    #[test]
    fn degraded_is_up_but_its_own_state() {
        let m = Metrics::new();
        let mut s = series(&m, &[], State::Unknown);
        s.set_state(State::Degraded);
        let text = m.encode();
        assert!(
            text.contains("linkpulse_check_up{check=\"db\",kind=\"tcp\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("state=\"degraded\"} 1\n"), "{text}");
        assert!(text.contains("state=\"up\"} 0\n"), "{text}");
        assert!(text.contains("state=\"unknown\"} 0\n"), "{text}");
        s.set_state(State::Down);
        let text = m.encode();
        assert!(
            text.contains("linkpulse_check_up{check=\"db\",kind=\"tcp\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("state=\"degraded\"} 0\n"), "{text}");
        assert!(text.contains("state=\"down\"} 1\n"), "{text}");
    }

    #[test]
    fn exported_labels_follow_the_fixed_ones_in_config_order() {
        let m = Metrics::new();
        let mut s = series(&m, &["zone", "team", "missing"], State::Up);
        s.attempt(&m, Some("refused"), None);
        s.state_change(&m, State::Down);
        let text = m.encode();
        assert_eq!(
            line(&text, "linkpulse_check_up{"),
            "linkpulse_check_up{check=\"db\",kind=\"tcp\",zone=\"eu-1\",team=\"core \\\"db\\\"\"} 1"
        );
        assert!(
            text.contains("linkpulse_check_attempts_total{check=\"db\",result=\"refused\",zone=\"eu-1\",team=\"core \\\"db\\\"\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("linkpulse_check_state_changes_total{check=\"db\",to=\"down\",zone=\"eu-1\",team=\"core \\\"db\\\"\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn latency_is_a_histogram_printed_without_float_noise() {
        let m = Metrics::new();
        let mut s = series(&m, &[], State::Up);
        // 0.065 ms: the float `0.065 / 1000.0` prints as 0.00006500000000000001.
        s.attempt(&m, None, Some(0.065));
        s.attempt(&m, None, Some(0.1 + 0.2));
        s.attempt(&m, None, Some(30.0));
        s.attempt(&m, Some("timeout"), None);
        let text = m.encode();
        assert!(
            text.contains("# TYPE linkpulse_check_latency_seconds histogram\n"),
            "{text}"
        );
        let value = |prefix: &str| -> f64 {
            line(&text, prefix)
                .rsplit(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        let printed = |prefix: &str| line(&text, prefix).rsplit(' ').next().unwrap().to_owned();
        assert_eq!(value("linkpulse_check_latency_seconds_count{"), 3.0);
        assert_eq!(printed("linkpulse_check_latency_seconds_sum{"), "0.030365");
        assert_eq!(printed("linkpulse_check_last_latency_seconds{"), "0.03");
        let bucket = |le: &str| {
            value(&format!(
                "linkpulse_check_latency_seconds_bucket{{le=\"{le}\",check=\"db\",kind=\"tcp\"}}"
            ))
        };
        assert_eq!(bucket("0.0005"), 2.0);
        assert_eq!(bucket("0.025"), 2.0);
        assert_eq!(bucket("0.05"), 3.0);
        assert_eq!(bucket("+Inf"), 3.0);
        s.attempt(&m, None, Some(0.065));
        let text = m.encode();
        let last = line(&text, "linkpulse_check_last_latency_seconds{");
        assert!(last.ends_with(" 0.000065"), "{last}");
    }

    #[test]
    fn clean_seconds_drops_noise_below_the_nanosecond() {
        assert_eq!(format!("{}", 0.065 / 1000.0), "0.00006500000000000001");
        assert_eq!(format!("{}", clean_seconds(0.065 / 1000.0)), "0.000065");
        assert_eq!(
            format!("{}", clean_seconds(0.0123456789 - 0.000065)),
            "0.012280679"
        );
        assert_eq!(clean_seconds(2.5), 2.5);
    }

    #[test]
    fn forget_removes_every_series_of_the_check() {
        let m = Metrics::new();
        let mut s = series(&m, &["team"], State::Up);
        s.attempt(&m, None, Some(1.0));
        s.attempt(&m, Some("refused"), None);
        s.cert_expiry(&m, 1_800_000_000);
        s.state_change(&m, State::Down);
        let text = m.encode();
        assert!(
            text.contains("linkpulse_check_cert_expiry_timestamp_seconds{check=\"db\",kind=\"tcp\",team=\"core \\\"db\\\"\"} 1800000000\n"),
            "{text}"
        );
        s.forget(&m);
        let text = m.encode();
        assert!(!text.contains("check=\"db\""), "{text}");
    }

    #[test]
    fn the_classic_text_format_names_counters_with_total() {
        let m = Metrics::new();
        let mut s = series(&m, &[], State::Up);
        s.attempt(&m, None, Some(1.0));
        let hash = BTreeMap::from([("team".to_owned(), "# TYPE x counter".to_owned())]);
        let l = CheckLabels::new("h", "tcp", &hash, &["team".to_owned()]);
        CheckSeries::new(&m, l, State::Down).attempt(&m, Some("refused"), None);
        let text = m.encode_as(Format::Text);
        assert!(
            text.contains("\nlinkpulse_check_attempts_total{check=\"h\",result=\"refused\",team=\"# TYPE x counter\"} 1\n"),
            "{text}"
        );
        assert_eq!(
            text.lines().filter(|l| l.starts_with('#')).count() + 1,
            m.encode().lines().filter(|l| l.starts_with('#')).count(),
            "only `# EOF` is dropped"
        );
        assert!(
            text.contains("# HELP linkpulse_check_attempts_total Attempts"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE linkpulse_check_attempts_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("\nlinkpulse_check_attempts_total{check=\"db\",result=\"success\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE linkpulse_check_latency_seconds histogram\n"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
        let open = m.encode_as(Format::OpenMetrics);
        assert!(
            open.contains("# TYPE linkpulse_check_attempts counter\n"),
            "{open}"
        );
        assert!(open.ends_with("# EOF\n"), "{open}");
        assert_eq!(Format::from_accept(None), Format::Text);
        assert_eq!(Format::from_accept(Some("*/*")), Format::Text);
        assert_eq!(
            Format::from_accept(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
            )),
            Format::OpenMetrics
        );
    }

    #[test]
    fn build_info_names_version_and_commit() {
        let text = Metrics::new().encode();
        let l = line(&text, "linkpulse_build_info{");
        assert!(
            l.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))),
            "{l}"
        );
        assert!(l.contains("commit=\""), "{l}");
        assert!(l.ends_with("} 1"), "{l}");
    }

    #[test]
    fn build_info_names_the_commit_the_binary_gives() {
        set_build_commit("abc1234");
        set_build_commit("ignored");
        let text = Metrics::new().encode();
        assert!(
            line(&text, "linkpulse_build_info{").contains("commit=\"abc1234\""),
            "{text}"
        );
    }

    #[test]
    fn label_names_follow_prometheus_rules() {
        for ok in ["team", "_x", "zone2", "Team_A"] {
            assert_eq!(check_label_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "2zone",
            "team-name",
            "a.b",
            "__meta",
            "check",
            "kind",
            "state",
            "le",
            "job",
            "instance",
            "zoné",
        ] {
            assert!(check_label_name(bad).is_err(), "{bad}");
        }
    }
}
