//! `/api/v1/packets/...` (packets spec §9): a connection, host or filter query answered
//! as a pcap download, and the recorder's statistics.
//!
//! The result is built on a blocking thread within the console's `query_timeout`, and
//! refused before the first byte when it exceeds `http_max_bytes`, so that a client
//! never takes a cut result for a whole one.
//!
//! With the live recorder of `[packets] interface` running, queries go to it, as the
//! console's do (memory rings and open segments included, `mem_only` allowed), and the
//! statistics carry its live counters and a `recorder` object (interface, connections,
//! kernel counters, memory per class).

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use vantage_packets::{query, Query, QueryResult, Snapshot, Stats, StoreError};

use super::{json, Params, Shared};
use crate::error::ApiError;
use crate::params::{boolean, time_ns};
use crate::state::AppState;

/// Routes under `/api/v1`.
pub fn routes() -> Router<Shared> {
    Router::new().route("/packets/query", get(run_query)).route("/packets/stats", get(stats))
}

/// The console's error names, in snake_case.
fn err(e: StoreError) -> ApiError {
    match &e {
        StoreError::Filter(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "parser_error", e.to_string())
        }
        StoreError::Query(m) if m.starts_with("no such index") => {
            ApiError::new(StatusCode::BAD_REQUEST, "no_such_index", e.to_string())
        }
        StoreError::Query(_) => ApiError::bad_parameter(e.to_string()),
        _ => ApiError::from_exit(&e),
    }
}

fn parse(p: &Params) -> Result<Query, ApiError> {
    let mut q =
        match (p.get("index"), p.get("key"), p.get("filter")) {
            (Some(i), Some(k), None) => Query::index(i, k).map_err(err)?,
            (None, None, Some(f)) => Query::filter(f).map_err(err)?,
            _ => return Err(ApiError::bad_parameter(
                "give index and key (e.g. index=conn4&key=10.0.0.1:1234-10.0.0.2:80), or filter",
            )),
        };
    q.start = time_ns("start", p.get("start"))?;
    q.end = time_ns("end", p.get("end"))?;
    q.mem_only = boolean("mem_only", p.get("mem_only"))?.unwrap_or(false);
    Ok(q)
}

async fn run_query(State(s): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let q = parse(&p)?;
    let micro = boolean("micro", p.get("micro"))?.unwrap_or(false);
    let pcapng = boolean("pcapng", p.get("pcapng"))?.unwrap_or(false);
    let timeout = std::time::Duration::from_nanos(
        u64::try_from(s.packets.console.query_timeout.0).unwrap_or(0).max(1_000_000_000),
    );
    let max = s.packets.http_max_bytes.0;
    let work = s.blocking_fs(move |st| {
        let result = answer(st, &q)?;
        let size: u64 = result.hits.iter().map(|h| 16 + h.data.len() as u64).sum();
        if size > max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "result_too_large",
                format!("the result holds {size} bytes, more than [packets] http_max_bytes = {max}; narrow the query"),
            ));
        }
        let mixed = {
            let mut l: Vec<u16> = result.hits.iter().map(|h| h.linktype).collect();
            l.sort();
            l.dedup();
            l.len() > 1
        };
        let mut out = Vec::with_capacity(size as usize + 64);
        query::write_result(&result, &mut out, micro, pcapng)
            .map_err(|e| ApiError::storage(format!("writing the pcap: {e}")))?;
        Ok((out, pcapng || mixed, result.summary(&q)))
    });
    let (bytes, ng, summary) = tokio::time::timeout(timeout, work).await.map_err(|_| {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "query_timeout",
            "the query ran longer than [packets.console] query_timeout",
        )
    })??;
    tracing::info!(summary = %summary, "Packets query answered.");
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    let (ct, ext) = if ng {
        ("application/x-pcapng", "pcapng")
    } else {
        ("application/vnd.tcpdump.pcap", "pcap")
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"vantage-query.{ext}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&summary.replace(['\r', '\n'], " ")) {
        h.insert("x-vantage-summary", v);
    }
    Ok(r)
}

/// Runs `q` on the live recorder when one runs (counted in its query totals), else over
/// the packets directory.
fn answer(st: &AppState, q: &Query) -> Result<QueryResult, ApiError> {
    if let Some(l) = &st.live {
        let mut rec = l.live.recorder();
        let result = rec.query(q).map_err(err)?;
        let bytes = result.hits.iter().map(|h| 16 + h.data.len() as u64).sum();
        rec.count_query(result.hits.len() as u64, bytes);
        return Ok(result);
    }
    let classes = st.packets.build().map_err(|e| ApiError::bad_parameter(e.to_string()))?;
    let order: Vec<String> = classes.iter().map(|c| c.dir_name().to_string()).collect();
    let root = vantage_packets::packets_root(&st.data, &st.packets).map_err(err)?;
    query::run(&root, &order, q).map_err(err)
}

/// The directory's statistics, with the live recorder's counters folded in when one
/// runs (the saved totals lag behind it), and its snapshot.
pub fn current_stats(st: &AppState) -> Result<(Stats, Option<Snapshot>), ApiError> {
    let root = vantage_packets::packets_root(&st.data, &st.packets).map_err(err)?;
    let mut stats = vantage_packets::stats(&root).map_err(err)?;
    let snap = st.live.as_ref().map(|l| l.live.recorder().snapshot());
    if let Some(snap) = &snap {
        for c in &mut stats.classes {
            if let Some(cc) = snap.counters.classes.get(&c.class) {
                c.stored_pkts = cc.stored_pkts;
                c.stored_bytes = cc.stored_bytes;
                c.cut_pkts = cc.cut_pkts;
                c.cut_bytes = cc.cut_bytes;
            }
        }
        stats.counters = snap.counters.clone();
    }
    Ok((stats, snap))
}

async fn stats(State(s): State<Shared>) -> Result<Response, ApiError> {
    let (st, snap) = s.blocking_fs(current_stats).await?;
    let mut v = serde_json::to_value(st).map_err(ApiError::storage)?;
    if let (Some(snap), Some(l)) = (snap, &s.live) {
        let mut r = serde_json::to_value(snap).map_err(ApiError::storage)?;
        r["interface"] = serde_json::Value::from(l.interface.clone());
        v["recorder"] = r;
    }
    Ok(json(v))
}
