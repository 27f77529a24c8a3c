//! Wires the web dashboard (`linkpulse-web`) to the daemon: chart data from the storage, the
//! status page from the config. Live events are published by the engine.

use std::sync::{Arc, PoisonError};

use linkpulse_web::{
    EventBus, HistoryError, HistorySource, IncidentSpan, Sample, StateChange, Web,
};

use crate::config::Config;
use crate::engine::Views;
use crate::storage::Storage;

/// The daemon's history as the dashboard's [`HistorySource`].
struct StorageHistory {
    storage: Arc<dyn Storage>,
    views: Views,
    /// The `maintenance:` windows in force (replaced on reload).
    windows: crate::maintenance::Windows,
}

impl StorageHistory {
    /// Unknown names are a 404, not an empty chart.
    fn known(&self, check: &str) -> Result<(), HistoryError> {
        let views = self.views.read().unwrap_or_else(PoisonError::into_inner);
        if views.contains_key(check) {
            Ok(())
        } else {
            Err(HistoryError::UnknownCheck(check.to_owned()))
        }
    }
}

fn backend(e: crate::storage::StorageError) -> HistoryError {
    HistoryError::Backend(e.to_string())
}

impl HistorySource for StorageHistory {
    fn samples(
        &self,
        check: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<Sample>, HistoryError> {
        self.known(check)?;
        let raw = self
            .storage
            .history(check, from_ms, to_ms, limit)
            .map_err(backend)?;
        let mut out: Vec<Sample> = raw
            .into_iter()
            .map(|a| Sample {
                at_ms: a.at_ms,
                up: a.up,
                latency_ms: a.latency_ms,
            })
            .collect();
        // Older than the raw retention: hourly aggregates stand in (one sample per hour).
        let oldest = out.iter().map(|s| s.at_ms).min().unwrap_or(to_ms);
        if oldest > from_ms {
            let hourly = self
                .storage
                .hourly(check, from_ms, oldest)
                .map_err(backend)?;
            out.extend(hourly.into_iter().map(|h| Sample {
                at_ms: h.hour_ms,
                up: h.ups * 2 >= h.attempts,
                latency_ms: h.latency_avg_ms,
            }));
        }
        Ok(out)
    }

    fn uptime_excluding_maintenance(&self, check: &str, from_ms: i64, to_ms: i64) -> Option<f64> {
        let labels = {
            let views = self.views.read().unwrap_or_else(PoisonError::into_inner);
            views.get(check)?.labels.clone()
        };
        let windows = self
            .windows
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let silences = self.storage.silences(from_ms).ok()?;
        let holds = crate::maintenance::Holds::new(windows, silences);
        let spans = holds.spans(check, &labels, from_ms, to_ms);
        if spans.is_empty() {
            return None;
        }
        let ts = self.storage.transitions(Some(check), from_ms).ok()?;
        crate::availability::apart(&ts, from_ms, to_ms, &spans)
            .uptime
            .map(|percent| percent / 100.0)
    }

    fn maintenance(&self, check: &str) -> bool {
        let views = self.views.read().unwrap_or_else(PoisonError::into_inner);
        views.get(check).is_some_and(|v| v.maintenance.is_some())
    }

    fn state_changes(&self, check: &str, from_ms: i64) -> Result<Vec<StateChange>, HistoryError> {
        self.known(check)?;
        let ts = self
            .storage
            .transitions(Some(check), from_ms)
            .map_err(backend)?;
        Ok(ts
            .into_iter()
            .map(|t| StateChange {
                at_ms: t.at_ms,
                state: t.to.as_str().to_owned(),
            })
            .collect())
    }

    fn incidents(
        &self,
        check: &str,
        from_ms: i64,
        limit: usize,
    ) -> Result<Vec<IncidentSpan>, HistoryError> {
        self.known(check)?;
        let list = self
            .storage
            .incidents(Some(check), from_ms, limit)
            .map_err(backend)?;
        Ok(list
            .into_iter()
            .map(|i| IncidentSpan {
                started_ms: i.started_ms,
                ended_ms: i.ended_ms,
                cause: i.cause,
                diagnosis: i.diagnosis,
            })
            .collect())
    }
}

/// The dashboard of a daemon: events from `events`, charts from `storage`, the status page of
/// `config`.
pub fn web(
    config: &Config,
    storage: Arc<dyn Storage>,
    views: Views,
    windows: crate::maintenance::Windows,
    events: EventBus,
) -> Web {
    Web::new(events)
        .with_history(Arc::new(StorageHistory {
            storage,
            views,
            windows,
        }))
        .with_status_page(config.status_page.clone())
}
