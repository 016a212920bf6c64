//! `/api/v1/passive/...` (passive spec §8): bytes per bin and key, availability,
//! sessions, per-node statistics, and the token-guarded upload (§3).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;
use vantage_core::{Exit, HasExit};

use super::{body_bytes, json, Params, Shared};
use crate::error::ApiError;
use crate::params::{boolean, one_of, time_ns, Page};
use crate::query::passive as q;

/// How long an upload waits for a tick to release the `passive` lock before answering
/// 409 busy.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Routes under `/api/v1`.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/passive/bytes", get(bytes))
        .route("/passive/availability", get(availability))
        .route("/passive/sessions", get(sessions))
        .route("/passive/statistics", get(statistics))
        .route("/passive/nodes", get(nodes))
        .route("/passive/upload", post(upload))
}

fn node(p: &Params) -> Option<String> {
    p.get("node").filter(|n| !n.is_empty()).map(str::to_string)
}

async fn bytes(State(s): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let by: Vec<&str> = q::BY.iter().map(|(b, _)| *b).collect();
    let by = one_of("by", p.get("by"), &by, "total")?.to_string();
    let g = one_of("granularity", p.get("granularity"), &["minute", "hour", "day"], "hour")?
        .to_string();
    let secs = |name: &str| -> Result<Option<i64>, ApiError> {
        Ok(time_ns(name, p.get(name))?.map(|n| n.div_euclid(1_000_000_000)))
    };
    let (from, to) = (secs("from")?, secs("to")?);
    let page = Page::parse(p.get("offset"), p.get("limit"), 10_000, 100_000)?;
    let node = node(&p);
    let rows = s
        .blocking(move |_, wh| {
            Ok(q::bytes(wh, &by, &g, node.as_deref(), from, to, page.offset, page.limit)?)
        })
        .await?;
    Ok(json(json!({"offset": page.offset, "limit": page.limit, "rows": rows})))
}

async fn availability(State(s): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let node = node(&p);
    one_of("format", p.get("format"), &["json", "bismark"], "json")?;
    let v = s.blocking(move |_, wh| Ok(q::availability(wh, node.as_deref())?)).await?;
    Ok(json(v))
}

async fn sessions(State(s): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let node = node(&p);
    let blocked = boolean("blocked", p.get("blocked"))?.unwrap_or(false);
    let rows = s
        .blocking(move |_, wh| {
            if !crate::query::table_exists(wh, "passive_sessions")? {
                return Ok(Vec::new());
            }
            let list = vantage_passive::sessions(wh, node.as_deref(), blocked)?;
            Ok(vantage_passive::sessions_rows(&list).to_json_objects())
        })
        .await?;
    Ok(json(json!({"sessions": rows})))
}

async fn statistics(State(s): State<Shared>) -> Result<Response, ApiError> {
    let rows = s
        .blocking(|_, wh| {
            if !crate::query::table_exists(wh, "passive_node_statistics")? {
                return Ok(Vec::new());
            }
            let sql =
                "SELECT node_id, updates, packets, dropped_packets, flows, dropped_flows, bytes \
                       FROM passive_node_statistics ORDER BY node_id";
            Ok(vantage_warehouse::Sql::query(wh, sql, &[])?.to_json_objects())
        })
        .await?;
    Ok(json(json!({"nodes": rows})))
}

async fn nodes(State(s): State<Shared>) -> Result<Response, ApiError> {
    let list = s.blocking(|_, wh| Ok(q::nodes(wh)?)).await?;
    Ok(json(json!({"nodes": list})))
}

/// A name the archive may use: one path component of safe characters.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

async fn upload(
    State(s): State<Shared>,
    headers: HeaderMap,
    p: Params,
    body: Body,
) -> Result<Response, ApiError> {
    crate::auth::require(s.token.as_deref(), &headers)?;
    let name = p.required("name")?.to_string();
    if !safe_name(&name) {
        return Err(ApiError::bad_parameter(format!(
            "name={name:?}: expected a file name of letters, digits, '.', '_' and '-'"
        )));
    }
    let limit = usize::try_from(s.passive.max_upload_bytes).unwrap_or(usize::MAX);
    let bytes = body_bytes(body, limit).await?;
    let (status, v) = s
        .blocking(move |st, wh| {
            let env = vantage_passive::PassiveEnv::new(st.data.clone(), st.passive.clone())
                .map_err(ApiError::storage)?;
            // A tick holds the `passive` lock for a short while: wait for it rather than
            // answer busy, up to LOCK_WAIT.
            let deadline = std::time::Instant::now() + LOCK_WAIT;
            let report = loop {
                match vantage_passive::ingest_bytes(&env, wh, &name, &bytes) {
                    Ok(r) => break r,
                    Err(e) if e.exit() == Exit::Busy && std::time::Instant::now() < deadline => {
                        std::thread::sleep(std::time::Duration::from_millis(200));
                    }
                    Err(e) => return Err(ApiError::from_exit(&e)),
                }
            };
            tracing::info!(name = %name, status = ?report.status, "Passive upload ingested.");
            Ok(report.upload_response())
        })
        .await?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Ok((status, axum::Json(v)).into_response())
}
