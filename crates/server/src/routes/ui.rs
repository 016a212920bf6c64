//! The web UI: static files embedded in the binary (`ui/`), no build step. The pages
//! call the JSON API and draw their plots as SVG with a small script of our own.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::Shared;

/// (path, content type, bytes).
const FILES: &[(&str, &str, &str)] = &[
    ("/", "text/html; charset=utf-8", include_str!("../../ui/index.html")),
    ("/ui/app.js", "text/javascript; charset=utf-8", include_str!("../../ui/app.js")),
    ("/ui/style.css", "text/css; charset=utf-8", include_str!("../../ui/style.css")),
];

/// Routes at the root.
pub fn routes() -> Router<Shared> {
    let mut r = Router::new();
    for (path, ty, body) in FILES {
        r = r.route(path, get(move || async move { asset(ty, body) }));
    }
    // Page paths all load the one HTML shell; the script picks the page from the hash.
    r.route("/ui", get(|| async { asset(FILES[0].1, FILES[0].2) }))
}

fn asset(ty: &'static str, body: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ty));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
