//! Each alert target's last delivery and last failure, for `/api/v1/alerts/channels` and the
//! dashboard. Texts here are already masked (no secret reaches this map).

use std::collections::BTreeMap;
use std::sync::RwLock;

use serde::Serialize;

/// What one alert target did lately.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TargetStatus {
    /// The channel kind (`webhook`, `pagerduty`, …).
    pub channel: String,
    /// Deliveries since the daemon started.
    pub deliveries: u64,
    /// Failed attempts since the daemon started (each is retried).
    pub failures: u64,
    /// When the last delivery succeeded (ms since the epoch).
    pub last_delivery_ms: Option<i64>,
    /// What the receiver answered then.
    pub last_answer: Option<String>,
    /// When the last attempt failed (ms since the epoch).
    pub last_failure_ms: Option<i64>,
    /// Why.
    pub last_error: Option<String>,
}

/// Status by alert target name.
#[derive(Debug, Default)]
pub struct ChannelStatus(RwLock<BTreeMap<String, TargetStatus>>);

impl ChannelStatus {
    /// Lists a configured target (before it delivers anything).
    pub fn register(&self, name: &str, channel: &str) {
        let mut map = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(name.to_owned()).or_default().channel = channel.to_owned();
    }

    /// Records a delivery.
    pub fn delivered(&self, name: &str, channel: &str, at_ms: i64, answer: &str) {
        let mut map = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = map.entry(name.to_owned()).or_default();
        s.channel = channel.to_owned();
        s.deliveries += 1;
        s.last_delivery_ms = Some(at_ms);
        s.last_answer = Some(answer.to_owned());
    }

    /// Records a failed attempt.
    pub fn failed(&self, name: &str, channel: &str, at_ms: i64, error: &str) {
        let mut map = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = map.entry(name.to_owned()).or_default();
        s.channel = channel.to_owned();
        s.failures += 1;
        s.last_failure_ms = Some(at_ms);
        s.last_error = Some(error.to_owned());
    }

    /// Every target's status, by name.
    pub fn snapshot(&self) -> BTreeMap<String, TargetStatus> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}
