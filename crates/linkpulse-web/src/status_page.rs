//! The public status page: which checks it lists, in which groups, under which title.
//!
//! The daemon validates the `status_page:` section of its config into a [`StatusPage`] and hands
//! it to [`crate::Web::with_status_page`]; the page at `/status` reads it from
//! `GET /api/v1/dashboard/status-page` and shows only the listed checks.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::Web;

/// A validated status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusPage {
    /// Page title, e.g. "Acme status".
    pub title: String,
    /// Optional text under the title.
    pub description: Option<String>,
    /// Components, grouped, in display order.
    pub groups: Vec<StatusGroup>,
}

/// A group of components on the status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusGroup {
    /// Group heading, e.g. "API".
    pub name: String,
    /// Names of the checks shown, in display order.
    pub checks: Vec<String>,
}

impl StatusPage {
    /// Every listed check name, in display order.
    pub fn checks(&self) -> impl Iterator<Item = &str> {
        self.groups
            .iter()
            .flat_map(|g| g.checks.iter().map(String::as_str))
    }
}

/// `GET /api/v1/dashboard/status-page`.
pub(crate) async fn handler(State(web): State<Web>) -> Response {
    match &web.status_page {
        Some(p) => Json(p.as_ref().clone()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": "no status_page in the configuration" })),
        )
            .into_response(),
    }
}
