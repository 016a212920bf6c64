//! `/healthz`, `/metrics` and `/api/v1/status` (the catalog's `vantage status`).

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{extract::State, Router};
use serde_json::json;
use vantage_warehouse::catalog;

use super::{json, Shared};
use crate::error::ApiError;

/// Routes under `/api/v1`.
pub fn routes() -> Router<Shared> {
    Router::new().route("/status", get(status))
}

/// Routes at the root.
pub fn root_routes() -> Router<Shared> {
    Router::new().route("/healthz", get(healthz)).route("/metrics", get(metrics))
}

/// Healthy when the warehouse answers a query and, with `[packets] interface`, the
/// recorder still captures (a recorder that failed while serving is a 503).
async fn healthz(State(s): State<Shared>) -> Result<Response, ApiError> {
    s.blocking(|_, wh| {
        vantage_warehouse::Sql::query_i64(wh, "SELECT 1", &[])?;
        Ok(())
    })
    .await?;
    let mut v = json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")});
    if let Some(l) = &s.live {
        if !l.alive.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "recorder_stopped",
                format!("the packet recorder on {} stopped; see the log", l.interface),
            ));
        }
        v["recorder"] =
            json!({"interface": l.interface, "console": l.console.map(|a| a.to_string())});
    }
    Ok(json(v))
}

async fn status(State(s): State<Shared>) -> Result<Response, ApiError> {
    let (kinds, describe) = s.blocking(|_, wh| Ok((catalog::status(wh)?, wh.describe()))).await?;
    Ok(json(json!({"warehouse": describe, "kinds": kinds})))
}

async fn metrics(State(s): State<Shared>) -> Result<Response, ApiError> {
    let text = s
        .blocking(|st, wh| {
            let kinds = catalog::status(wh)?;
            let (packets, live) = match super::packets::current_stats(st) {
                Ok((stats, snap)) => (serde_json::to_value(stats).ok(), snap),
                Err(_) => (None, None),
            };
            Ok(st.metrics.render(&kinds, packets.as_ref(), live.as_ref()))
        })
        .await?;
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(r)
}
