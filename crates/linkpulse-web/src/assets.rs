//! The embedded front end: every file of `ui/` compiled into the binary, served with its content
//! type and cache headers.
//!
//! Pages (`/`, `/checks/{name}`, …) all get the same HTML shell, with `no-cache` so a new daemon
//! is picked up at once. The shell loads its scripts from `/assets/v-HASH/…`, where `HASH` is a
//! digest of all assets: those URLs change with every change of the front end and are cached
//! as `immutable` for a year. The same files under `/assets/NAME` (no version) are served with
//! `no-cache` and an `ETag`.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Path below `/assets/`.
    pub path: &'static str,
    /// The file.
    pub bytes: &'static [u8],
}

macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(Asset { path: $path, bytes: include_bytes!(concat!("../ui/", $path)) }),*]
    };
}

/// Every asset below `/assets/`.
pub const ASSETS: &[Asset] = embed![
    "app.js",
    "api.js",
    "store.js",
    "util.js",
    "overview.js",
    "check.js",
    "maintenance.js",
    "nodes.js",
    "cluster.js",
    "status.js",
    "charts.js",
    "style.css",
    "favicon.svg",
    "vendor/uplot/uPlot.esm.js",
    "vendor/uplot/uPlot.min.css",
    "vendor/uplot/LICENSE",
];

/// The HTML shell of every page; `{{ASSETS}}` becomes the versioned asset prefix.
const INDEX_HTML: &str = include_str!("../ui/index.html");

/// The content type for a file name.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        _ => "text/plain; charset=utf-8",
    }
}

/// FNV-1a, 64 bits: a stable digest for cache busting (not for security).
fn fnv1a(state: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(state, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The version of the front end: a digest of every asset and the shell, e.g. `v-1a2b3c4d5e6f7a8b`.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let h = ASSETS.iter().fold(FNV_OFFSET, |h, a| {
            fnv1a(fnv1a(h, a.path.as_bytes()), a.bytes)
        });
        format!("v-{:016x}", fnv1a(h, INDEX_HTML.as_bytes()))
    })
}

/// The HTML shell with the asset prefix filled in.
pub fn index_html() -> &'static str {
    static HTML: OnceLock<String> = OnceLock::new();
    HTML.get_or_init(|| INDEX_HTML.replace("{{ASSETS}}", &format!("/assets/{}", version())))
}

/// Looks up an asset by its path below `/assets/`.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// `GET /`, `/checks/{name}`, `/nodes`, `/status`: the HTML shell.
pub(crate) async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            ),
        ],
        index_html(),
    )
        .into_response()
}

/// `GET /assets/{*path}`: an embedded file, versioned (immutable) or not (revalidated by ETag).
pub(crate) async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    let (name, versioned) = match path.split_once('/') {
        Some((v, rest)) if v == version() => (rest, true),
        _ => (path.as_str(), false),
    };
    let Some(asset) = find(name) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let etag = format!("\"{:016x}\"", fnv1a(FNV_OFFSET, asset.bytes));
    let cache = if versioned {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let etag = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\""));
    if matches {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag),
                (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            ],
        )
            .into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(name)),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (header::ETAG, etag),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        asset.bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_known_type() {
        for a in ASSETS {
            assert!(!a.bytes.is_empty(), "{} is empty", a.path);
            if a.path != "vendor/uplot/LICENSE" {
                assert_ne!(
                    content_type(a.path),
                    "text/plain; charset=utf-8",
                    "{}",
                    a.path
                );
            }
        }
    }

    #[test]
    fn shell_points_at_versioned_assets() {
        let html = index_html();
        assert!(!html.contains("{{ASSETS}}"));
        assert!(html.contains(&format!("/assets/{}/app.js", version())));
    }
}
