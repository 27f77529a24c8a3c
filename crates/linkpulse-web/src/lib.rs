//! The linkpulse web dashboard and public status page.
//!
//! Everything the browser needs is embedded in the binary ([`assets`]): the pages work with no
//! internet and no build step at `cargo build` time. The front end (plain ES modules plus the
//! vendored uPlot chart library, in `ui/`) reads the daemon's JSON API and two things this crate
//! adds:
//!
//! - a Server-Sent Events stream of results and state changes, `GET /api/v1/events`, fed through
//!   an [`EventBus`] the daemon publishes into ([`events`]);
//! - compact chart data — downsampled latency series and per-day/per-hour uptime buckets —
//!   computed by [`compact`] from any [`HistorySource`] (the daemon's storage) and served under
//!   `/api/v1/dashboard/` ([`history`]).
//!
//! The daemon mounts it all with one call:
//!
//! ```
//! use linkpulse_web::{EventBus, Web};
//!
//! let bus = EventBus::new(1024);
//! let web = Web::new(bus.clone());
//! let app: axum::Router = axum::Router::new().merge(linkpulse_web::routes(web));
//! # let _ = app;
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod assets;
pub mod compact;
pub mod events;
pub mod history;
pub mod source;
pub mod status_page;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

pub use events::{DiagnosisEvent, Event, EventBus, ReloadEvent, ResultEvent, StateEvent};
pub use source::{HistoryError, HistorySource, IncidentSpan, Sample, StateChange};
pub use status_page::{
    Component, PublicIncident, StatusGroup, StatusGroupSummary, StatusPage, StatusSummary,
};

/// What the dashboard routes serve: the event bus, the optional history source and the
/// optional public status page.
#[derive(Clone)]
pub struct Web {
    /// Where live events come from.
    bus: EventBus,
    /// Compact chart data; `None` serves the chart endpoints as 404.
    history: Option<Arc<dyn HistorySource>>,
    /// The public status page; `None` makes `/status` say it is not configured. Shared by every
    /// clone, so a reload through one handle changes what all routes serve.
    status_page: status_page::SharedPage,
    /// The public status summary, shared by every clone.
    summaries: Arc<status_page::SummaryCache>,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web")
            .field("bus", &self.bus)
            .field("history", &self.history.is_some())
            .field("status_page", &self.status_page)
            .finish()
    }
}

impl Web {
    /// Dashboard fed by `bus`, without chart data or status page.
    pub fn new(bus: EventBus) -> Web {
        Web {
            bus,
            history: None,
            status_page: Default::default(),
            summaries: Arc::default(),
        }
    }

    /// Serves compact chart data from `source`.
    pub fn with_history(mut self, source: Arc<dyn HistorySource>) -> Web {
        self.history = Some(source);
        self
    }

    /// The bus live events are published into.
    pub fn events(&self) -> &EventBus {
        &self.bus
    }

    /// Publishes `page` at `/status`.
    pub fn with_status_page(self, page: Option<StatusPage>) -> Web {
        self.set_status_page(page);
        self
    }

    /// Replaces the status page (a config reload); every clone of this `Web` serves the new
    /// one from the next request on, and the public event stream filters on it at once.
    pub fn set_status_page(&self, page: Option<StatusPage>) {
        *self
            .status_page
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = page.map(Arc::new);
    }

    /// The status page served now.
    pub fn status_page(&self) -> Option<Arc<StatusPage>> {
        self.status_page
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The dashboard routes, for merging into the daemon's router:
///
/// | path | what |
/// |---|---|
/// | `/`, `/checks/{name}`, `/nodes`, `/status` | the pages (one HTML shell, routed in the browser) |
/// | `/assets/{*path}` | embedded JS/CSS with content types and cache headers |
/// | `/api/v1/events` | Server-Sent Events: `result`, `state`, `diagnosis`, `resync` |
/// | `/api/v1/dashboard/series` | downsampled latency of one check over a range |
/// | `/api/v1/dashboard/uptime` | uptime buckets of several checks (90 d per day, 24 h per hour) |
/// | `/api/v1/dashboard/sparklines` | 24 h latency sparklines of several checks |
/// | `/api/v1/dashboard/status-page` | the status page configuration (404 when none) |
/// | `/api/v1/status` | the public status page's data: listed checks only ([`StatusSummary`]) |
/// | `/api/v1/status/events` | Server-Sent Events: state changes of listed checks only |
pub fn routes<S: Clone + Send + Sync + 'static>(web: Web) -> Router<S> {
    let pages = Router::new()
        .route("/", get(assets::page))
        .route("/checks/{name}", get(assets::page))
        .route("/nodes", get(assets::page))
        .route("/status", get(assets::page))
        .route("/assets/{*path}", get(assets::asset));
    let api = Router::new()
        .route("/api/v1/events", get(events::sse))
        .route("/api/v1/dashboard/series", get(history::series))
        .route("/api/v1/dashboard/uptime", get(history::uptime))
        .route("/api/v1/dashboard/sparklines", get(history::sparklines))
        .route("/api/v1/dashboard/status-page", get(status_page::handler))
        .route("/api/v1/status", get(status_page::summary))
        .route("/api/v1/status/events", get(status_page::events))
        .with_state(web);
    pages.merge(api)
}
