//! The router: one module per kind under `/api/v1/<kind>/`, the collector at OONI's root
//! paths, the UI, `/metrics`, `/healthz` and `/api/v1/openapi.json`.
//!
//! Every `/api/v1` failure — unknown path included — answers with
//! `{"error": {"code", "message"}}`; the collector answers as OONI's does.

mod netstate;
mod openapi;
mod packets;
mod passive;
mod publish;
mod reports;
mod status;
mod ui;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

/// Shared state as handlers take it.
pub type Shared = Arc<AppState>;

/// The whole application.
pub fn router(state: Shared) -> Router {
    let api = Router::new()
        .merge(status::routes())
        .merge(reports::routes())
        .merge(publish::routes())
        .merge(passive::routes())
        .merge(netstate::routes())
        .merge(packets::routes())
        .merge(openapi::routes())
        .fallback(api_not_found);
    Router::new()
        .nest("/api/v1", api)
        .merge(status::root_routes())
        .merge(ui::routes())
        .with_state(state.clone())
        .merge(vantage_reports::collector::http::router(state.collector.clone()))
        .layer(axum::middleware::from_fn_with_state(state, count_requests))
}

async fn api_not_found(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "no endpoint {} /api/v1{}; see /api/v1/openapi.json",
        req.method(),
        req.uri().path()
    ))
}

/// Counts answers by status for `/metrics`, inside a span per request; applies the
/// per-address rate limit to `/api/v1`.
async fn count_requests(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path());
    if req.uri().path().starts_with("/api/v1/") {
        let peer = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        if let Some(ip) = peer {
            if let Err(wait) = state.rate_limit.check(ip, std::time::Instant::now()) {
                state.metrics.request(429);
                let mut r = ApiError::new(
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "more than {} requests per second from {ip}; retry in {wait} s",
                        state.rate_limit.rate
                    ),
                )
                .into_response();
                if let Ok(v) = axum::http::HeaderValue::from_str(&wait.to_string()) {
                    r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
                }
                return r;
            }
        }
    }
    let resp = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    state.metrics.request(resp.status().as_u16());
    span.in_scope(|| tracing::debug!(status = resp.status().as_u16(), "Answered."));
    resp
}

/// Query parameters, with a JSON error when the query string cannot be read.
pub struct Params(pub HashMap<String, String>);

impl Params {
    /// A parameter's text, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A parameter that must be given.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::bad_parameter(format!("the parameter {name} is required")))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|e| ApiError::bad_parameter(format!("the query string cannot be read: {e}")))
    }
}

/// A JSON answer with `Cache-Control: no-store` (answers change with every tick).
pub fn json(v: serde_json::Value) -> Response {
    let mut r = axum::Json(v).into_response();
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    r
}

/// Reads a request body up to `limit` bytes; more is a 413 with the JSON error shape.
pub async fn body_bytes(
    body: axum::body::Body,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than this endpoint's limit of {limit} bytes"),
        )
    })
}
