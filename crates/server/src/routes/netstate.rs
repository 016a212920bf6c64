//! `/api/v1/netstate/...` (netstate spec §4): tables, at, changes, replay (NDJSON),
//! next, prev, range, snapshots, load-log, with the CLI's arguments as parameters and
//! the same objects; and the token-guarded upload (§3, at most `[server] max_body`
//! bytes) into `inbox/netstate/<source>/`, imported by the next tick.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value as Json};
use vantage_netstate::query::{self, QueryError, ReplayItem, ReplayState};
use vantage_netstate::TableDef;
use vantage_warehouse::Sql;

use super::{body_bytes, json, Params, Shared};
use crate::error::ApiError;
use crate::params::boolean;

/// Most items one `changes` or `replay` answer holds; narrow the range for more.
pub const MAX_ITEMS: usize = 1_000_000;

/// Routes under `/api/v1`.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/netstate/tables", get(tables))
        .route("/netstate/at", get(at))
        .route("/netstate/changes", get(changes))
        .route("/netstate/replay", get(replay))
        .route("/netstate/next", get(next))
        .route("/netstate/prev", get(prev))
        .route("/netstate/range", get(range))
        .route("/netstate/snapshots", get(snapshots))
        .route("/netstate/load-log", get(load_log))
        .route("/netstate/upload", post(upload))
}

fn err(e: QueryError) -> ApiError {
    match e {
        QueryError::UnknownTable(t) => ApiError::not_found(format!("unknown table {t}")),
        other => ApiError::storage(other),
    }
}

fn time(p: &Params, name: &str) -> Result<i64, ApiError> {
    let t = p.required(name)?;
    vantage_netstate::parse_time(t)
        .map_err(|e| ApiError::bad_parameter(format!("{name}={t:?}: {e}")))
}

/// `tables` (comma list; absent: every table) as upper-case NOX names.
fn table_list(p: &Params, db: &mut dyn Sql) -> Result<Vec<String>, ApiError> {
    match p.get("tables").or(p.get("table")).filter(|t| !t.is_empty()) {
        Some(t) => {
            Ok(t.split(',').map(|s| s.trim().to_uppercase()).filter(|s| !s.is_empty()).collect())
        }
        None => Ok(vantage_netstate::all_tables(db)?.into_iter().map(|d| d.name).collect()),
    }
}

fn defs(db: &mut dyn Sql, tables: &[String]) -> Result<HashMap<String, TableDef>, ApiError> {
    let mut out = HashMap::new();
    for t in tables {
        out.insert(t.clone(), query::def(db, t).map_err(err)?);
    }
    Ok(out)
}

async fn tables(State(s): State<Shared>) -> Result<Response, ApiError> {
    let v = s
        .blocking(|_, wh| {
            let defs = vantage_netstate::all_tables(wh)?;
            let (lo, hi) = query::range(wh, &defs.iter().map(|d| d.name.clone()).collect::<Vec<_>>()).map_err(err)?;
            let tables: Vec<Json> = defs
                .iter()
                .map(|d| json!({
                    "name": d.name,
                    "kind": if d.kind == vantage_netstate::TableKind::Event { "event" } else { "state" },
                    "columns": d.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
                }))
                .collect();
            Ok(json!({"tables": tables, "earliest": lo, "latest": hi}))
        })
        .await?;
    Ok(json(v))
}

async fn at(State(s): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let table = p.required("table")?.to_uppercase();
    let t = time(&p, "t")?;
    let source = p.get("source").filter(|v| !v.is_empty()).map(str::to_string);
    let rows = s
        .blocking(move |_, wh| {
            let def = query::def(wh, &table).map_err(err)?;
            let rows = query::at(wh, &table, t, source.as_deref()).map_err(err)?;
            Ok(rows.iter().map(|r| r.to_json(&def, true)).collect::<Vec<_>>())
        })
        .await?;
    Ok(json(json!({"time": t, "rows": rows})))
}

fn change_objects(
    db: &mut dyn Sql,
    tables: &[String],
    from: i64,
    to: i64,
) -> Result<Vec<Json>, ApiError> {
    let defs = defs(db, tables)?;
    let all = query::changes(db, tables, from, to).map_err(err)?;
    if all.len() > MAX_ITEMS {
        return Err(ApiError::bad_parameter(format!(
            "{} changes in this range, more than {MAX_ITEMS}; narrow from and to",
            all.len()
        )));
    }
    Ok(all.iter().filter_map(|c| defs.get(&c.row.table).map(|d| c.to_json(d))).collect())
}

async fn changes(State(s): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let (from, to) = (time(&p, "from")?, time(&p, "to")?);
    if from > to {
        return Err(ApiError::bad_parameter("from is after to"));
    }
    let v = s
        .blocking(move |_, wh| {
            let tables = table_list(&p, wh)?;
            change_objects(wh, &tables, from, to)
        })
        .await?;
    Ok(json(json!({"from": from, "to": to, "changes": v})))
}

async fn replay(State(s): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let (from, to) = (time(&p, "from")?, time(&p, "to")?);
    let mode = match (boolean("state", p.get("state"))?, boolean("states", p.get("states"))?) {
        (_, Some(true)) => ReplayState::Every,
        (Some(true), _) => ReplayState::Initial,
        _ => ReplayState::None,
    };
    let body = s
        .blocking(move |_, wh| {
            let tables = table_list(&p, wh)?;
            let defs = defs(wh, &tables)?;
            let items = query::replay(wh, &tables, from, to, mode).map_err(err)?;
            if items.len() > MAX_ITEMS {
                return Err(ApiError::bad_parameter(
                    "too many items in this range; narrow from and to",
                ));
            }
            let mut out = String::new();
            for item in &items {
                let v = match item {
                    ReplayItem::State { time, row } => defs.get(&row.table).map(
                        |d| json!({"kind": "state", "time": time, "row": row.to_json(d, true)}),
                    ),
                    ReplayItem::Change(c) => defs.get(&c.row.table).map(|d| c.to_json(d)),
                };
                if let Some(v) = v {
                    out.push_str(&v.to_string());
                    out.push('\n');
                }
            }
            Ok(out)
        })
        .await?;
    let mut r = body.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    Ok(r)
}

async fn next(State(s): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let t = time(&p, "t")?;
    let v = s
        .blocking(move |_, wh| {
            let tables = table_list(&p, wh)?;
            query::next_change(wh, &tables, t).map_err(err)
        })
        .await?;
    Ok(json(json!({"time": v})))
}

async fn prev(State(s): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let t = time(&p, "t")?;
    let v = s
        .blocking(move |_, wh| {
            let tables = table_list(&p, wh)?;
            query::prev_change(wh, &tables, t).map_err(err)
        })
        .await?;
    Ok(json(json!({"time": v})))
}

async fn range(State(s): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let (lo, hi) = s
        .blocking(move |_, wh| {
            let tables = table_list(&p, wh)?;
            query::range(wh, &tables).map_err(err)
        })
        .await?;
    Ok(json(json!({"earliest": lo, "latest": hi})))
}

async fn snapshots(State(s): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let table = p.required("table")?.to_uppercase();
    let v = s
        .blocking(move |_, wh| {
            let list = query::snapshots(wh, &table).map_err(err)?;
            Ok(list
                .iter()
                .map(|(t, rows)| json!({"time": t, "members": rows.iter().map(|r| r.origin.clone()).collect::<Vec<_>>()}))
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(json(json!({"snapshots": v})))
}

async fn load_log(State(s): State<Shared>) -> Result<Response, ApiError> {
    let v = s
        .blocking(|_, wh| {
            Ok(query::log(wh).map_err(err)?.iter().map(|e| e.to_json(true)).collect::<Vec<_>>())
        })
        .await?;
    Ok(json(json!({"log": v})))
}

fn sha256_hex(bytes: &[u8]) -> String {
    vantage_core::hash::sha256_hex(bytes)
}

async fn upload(
    State(s): State<Shared>,
    headers: HeaderMap,
    p: Params,
    body: Body,
) -> Result<Response, ApiError> {
    crate::auth::require(s.token.as_deref(), &headers)?;
    let source = p.required("source")?.to_string();
    let name = p.required("name")?.to_string();
    if !vantage_netstate::valid_source(&source) {
        return Err(ApiError::bad_parameter(format!(
            "source={source:?}: expected [A-Za-z0-9][A-Za-z0-9._-]{{0,63}}"
        )));
    }
    if vantage_netstate::FileName::parse(&name).is_none()
        || name.contains('/')
        || name.starts_with('.')
    {
        return Err(ApiError::bad_parameter(format!(
            "name={name:?}: not a flat-file name (netstate spec §2 Names)"
        )));
    }
    let bytes = body_bytes(body, s.max_body).await?;
    let (status, v) = s
        .blocking_fs(move |st| {
            let sha = sha256_hex(&bytes);
            let inbox = st.data.inbox("netstate").map_err(ApiError::storage)?.join(&source);
            let loaded = st.data.archive("netstate").map_err(ApiError::storage)?.join(&source);
            for existing in [inbox.join(&name), loaded.join(&name)] {
                if let Ok(old) = std::fs::read(&existing) {
                    if old == bytes[..] {
                        return Ok((StatusCode::OK, json!({"status": "duplicate", "source": source, "name": name, "sha256": sha, "size": bytes.len()})));
                    }
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "name_conflict",
                        format!("{name} is already waiting or loaded for source {source} with other bytes"),
                    ));
                }
            }
            std::fs::create_dir_all(&inbox).map_err(|e| ApiError::storage(format!("{}: {e}", inbox.display())))?;
            vantage_core::publish::write_atomic(&inbox.join(&name), &bytes, false)
                .map_err(|e| ApiError::storage(format!("{}: {e}", inbox.display())))?;
            tracing::info!(source = %source, name = %name, size = bytes.len(), "Netstate file accepted.");
            Ok((StatusCode::ACCEPTED, json!({"status": "accepted", "source": source, "name": name, "sha256": sha, "size": bytes.len()})))
        })
        .await?;
    Ok((status, axum::Json(v)).into_response())
}
