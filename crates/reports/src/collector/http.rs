//! The collector on axum: OONI's upstream paths at the root (DESIGN.md, HTTP), for
//! `vantage serve` to merge into its router, and [`spawn`] to run it alone (tests, demo).
//!
//! Handlers hand the request to [`Collector::handle`] on a blocking thread: a
//! submission's fsync must not stall the async workers.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use vantage_core::Timestamp;

use super::Collector;

/// The collector's routes: `/report`, `/report/{id}`, `/report/{id}/close`, `/measurement`.
pub fn router(collector: Arc<Collector>) -> Router {
    Router::new()
        .route("/report", post(handle))
        .route("/report/{id}", post(handle))
        .route("/report/{id}/close", post(handle))
        .route("/measurement", post(handle))
        .with_state(collector)
}

async fn handle(State(c): State<Arc<Collector>>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    let (parts, body) = req.into_parts();
    let hdr = |h: header::HeaderName| {
        parts.headers.get(h).and_then(|v| v.to_str().ok()).map(str::to_string)
    };
    let content_type = hdr(header::CONTENT_TYPE);
    let content_encoding = hdr(header::CONTENT_ENCODING);
    let path = parts.uri.path().to_string();
    // Compressed bodies may be a little larger than their decoded limit.
    let limit = c.config.max_body.saturating_add(1 << 16);
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            let r = super::Response::error(413, "too_large", "the request body is too large");
            return to_http(r);
        }
    };
    let r = tokio::task::spawn_blocking(move || {
        let req = super::Request {
            method: "POST",
            path: &path,
            content_type: content_type.as_deref(),
            content_encoding: content_encoding.as_deref(),
            body: &bytes,
            peer,
        };
        c.handle(&req, Timestamp::now())
    })
    .await
    .unwrap_or_else(|_| super::Response::error(503, "storage", "internal failure; retry later"));
    to_http(r)
}

fn to_http(r: super::Response) -> Response {
    let mut resp = Response::new(Body::from(r.body));
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(s) = r.retry_after {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            h.insert(header::RETRY_AFTER, v);
        }
    }
    resp
}

/// A collector served on `addr` (use `127.0.0.1:0` in tests) with its minute tick.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Running {
    /// Stops the server.
    pub fn stop(mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs the collector on its own runtime in the background.
pub fn spawn(collector: Arc<Collector>, addr: SocketAddr) -> std::io::Result<Running> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind(addr))?;
    let addr = listener.local_addr()?;
    let app = router(collector.clone()).into_make_service_with_connect_info::<SocketAddr>();
    rt.spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "Collector stopped.");
        }
    });
    rt.spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            let c = collector.clone();
            let _ = tokio::task::spawn_blocking(move || c.tick(Timestamp::now())).await;
        }
    });
    Ok(Running { addr, runtime: Some(rt) })
}
