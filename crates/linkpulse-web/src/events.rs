//! Live events for the dashboard: the daemon publishes into an [`EventBus`]; every browser tab
//! follows `GET /api/v1/events` (Server-Sent Events).
//!
//! Event names on the wire: `result` ([`ResultEvent`]), `state` ([`StateEvent`]), `diagnosis`
//! ([`DiagnosisEvent`]), `reload` ([`ReloadEvent`]: re-read everything), and `resync`
//! when a slow client missed events (it should then re-read `/api/v1/checks`). A `hello` event
//! opens every stream; comments keep idle connections alive through proxies. The `retry:` field
//! asks the browser to reconnect after 2 s when the daemon goes away.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use crate::Web;

/// One attempt of a check finished.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultEvent {
    /// Check name.
    pub check: String,
    /// When the attempt finished, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The attempt succeeded.
    pub up: bool,
    /// Latency in milliseconds, when measured.
    pub latency_ms: Option<f64>,
    /// The check's state after this attempt (`up`, `down`, `degraded`, `unknown`).
    pub state: String,
    /// The full result in the probe JSON shape (what `last` holds in `/api/v1/checks`).
    pub result: serde_json::Value,
}

/// A check changed state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateEvent {
    /// Check name.
    pub check: String,
    /// When it changed, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// State before.
    pub from: String,
    /// State after.
    pub to: String,
    /// Why (the error that tipped it, or the warning).
    pub cause: Option<String>,
    /// The diagnosis verdict (`process_down`, …) when already known.
    pub diagnosis: Option<String>,
}

/// The layered diagnosis of a failing check became known (a moment after it went down).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiagnosisEvent {
    /// Check name.
    pub check: String,
    /// When it became known, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The verdict (`process_down`, `host_unreachable`, …).
    pub verdict: String,
}

/// An event for the dashboard.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// An attempt finished.
    Result(ResultEvent),
    /// A state changed.
    State(StateEvent),
    /// A diagnosis arrived.
    Diagnosis(DiagnosisEvent),
    /// The configuration was reloaded: checks or the status page may have changed, so pages
    /// re-read what they show.
    Reload(ReloadEvent),
}

/// The daemon applied a new configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReloadEvent {
    /// When, milliseconds since the Unix epoch.
    pub at_ms: i64,
}

impl Event {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Result(_) => "result",
            Event::State(_) => "state",
            Event::Diagnosis(_) => "diagnosis",
            Event::Reload(_) => "reload",
        }
    }

    /// The JSON data of the event.
    pub fn data(&self) -> String {
        let v = match self {
            Event::Result(e) => serde_json::to_string(e),
            Event::State(e) => serde_json::to_string(e),
            Event::Diagnosis(e) => serde_json::to_string(e),
            Event::Reload(e) => serde_json::to_string(e),
        };
        v.unwrap_or_else(|_| "{}".to_owned())
    }
}

/// A broadcast channel of [`Event`]s: cheap to clone, publishing never blocks and never fails
/// (with no subscriber the event is dropped; a subscriber that falls `capacity` events behind
/// gets a `resync`).
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
    /// Bumped by every state change, diagnosis and reload, whether anyone listens or not:
    /// what a cached summary compares to know it is stale.
    generation: Arc<AtomicU64>,
    /// Turns true on [`EventBus::close`]: every open stream ends (so a graceful shutdown of the
    /// HTTP server is not held up by browsers that never hang up).
    closed: watch::Sender<bool>,
}

impl EventBus {
    /// A bus that buffers `capacity` events per slow subscriber (at least 16).
    pub fn new(capacity: usize) -> EventBus {
        let (tx, _) = broadcast::channel(capacity.max(16));
        let (closed, _) = watch::channel(false);
        EventBus {
            tx,
            generation: Arc::default(),
            closed,
        }
    }

    /// Ends every open event stream, now and later (call when the daemon shuts down).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// A future that resolves once [`EventBus::close`] was called.
    pub fn closed(&self) -> impl Future<Output = ()> + Send + 'static + use<> {
        let mut rx = self.closed.subscribe();
        async move {
            let _ = rx.wait_for(|c| *c).await;
        }
    }

    /// Sends `event` to every subscriber.
    pub fn publish(&self, event: Event) {
        if !matches!(event, Event::Result(_)) {
            self.generation.fetch_add(1, Ordering::Release);
        }
        // An error only means nobody listens right now.
        let _ = self.tx.send(event);
    }

    /// How many state changes, diagnoses and reloads were published so far.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A new subscription, starting with the next event published.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Subscribers right now (open dashboard tabs).
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// Turns a subscription into SSE events: lag becomes `resync`; the stream ends when the bus
/// is closed or every sender is gone.
pub fn stream(bus: &EventBus) -> impl Stream<Item = Result<SseEvent, Infallible>> + use<> {
    filtered_stream(bus, |ev| {
        Some(SseEvent::default().event(ev.name()).data(ev.data()))
    })
}

/// Like [`stream`], but every event goes through `map` first; `None` leaves it out (the public
/// status page's stream keeps only listed checks).
pub(crate) fn filtered_stream<F>(
    bus: &EventBus,
    map: F,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + use<F>
where
    F: Fn(&Event) -> Option<SseEvent> + Send + 'static,
{
    let rx = bus.subscribe();
    let closed = Box::pin(bus.closed());
    let hello = SseEvent::default()
        .event("hello")
        .retry(Duration::from_secs(2))
        .data("{}");
    let first = stream::iter([Ok(hello)]);
    let rest = stream::unfold((rx, closed, map), |(mut rx, mut closed, map)| async move {
        loop {
            let got = tokio::select! {
                ev = rx.recv() => ev,
                () = &mut closed => return None,
            };
            let ev = match got {
                Ok(ev) => match map(&ev) {
                    Some(sse) => sse,
                    None => continue,
                },
                Err(broadcast::error::RecvError::Lagged(n)) => SseEvent::default()
                    .event("resync")
                    .data(format!("{{\"missed\":{n}}}")),
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            return Some((Ok(ev), (rx, closed, map)));
        }
    });
    futures_util::StreamExt::chain(first, rest)
}

/// An SSE answer for `events`, with a comment every 15 s to keep idle proxies open.
pub(crate) fn sse_response<S>(events: S) -> Response
where
    S: Stream<Item = Result<SseEvent, Infallible>> + Send + 'static,
{
    Sse::new(events)
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(15))
                .text("keep-alive"),
        )
        .into_response()
}

/// `GET /api/v1/events`.
pub(crate) async fn sse(State(web): State<Web>) -> Response {
    sse_response(stream(&web.bus))
}
