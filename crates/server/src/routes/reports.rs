//! `/api/v1/reports/...` (reports spec §10): measurements with paging, one measurement
//! in full, aggregations, and the published clean cans (issue 9, Publish).

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::{json, Params, Shared};
use crate::error::ApiError;
use crate::params::{boolean, one_of, time_ns, Page};
use crate::query::reports::{self as q, Filter, AXES};

/// Routes under `/api/v1`.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/reports/measurements", get(measurements))
        .route("/reports/measurement/{uid}", get(measurement))
        .route("/reports/raw_measurement", get(raw_measurement))
        .route("/reports/aggregation", get(aggregation))
}

fn filter(p: &Params) -> Result<Filter, ApiError> {
    let probe_asn = match p.get("probe_asn").filter(|v| !v.is_empty()) {
        None => None,
        Some(a) => Some(a.strip_prefix("AS").unwrap_or(a).parse::<i64>().map_err(|_| {
            ApiError::bad_parameter(format!("probe_asn={a:?}: expected AS<digits> or digits"))
        })?),
    };
    if let Some(cc) = p.get("probe_cc").filter(|v| !v.is_empty()) {
        if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ApiError::bad_parameter(format!(
                "probe_cc={cc:?}: expected two capital letters"
            )));
        }
    }
    let text = |k: &str| p.get(k).filter(|v| !v.is_empty()).map(str::to_string);
    Ok(Filter {
        probe_cc: text("probe_cc"),
        probe_asn,
        test_name: text("test_name").map(|t| t.to_lowercase()),
        input: text("input"),
        domain: text("domain"),
        report_id: text("report_id"),
        since: time_ns("since", p.get("since"))?,
        until: time_ns("until", p.get("until"))?,
        anomaly: boolean("anomaly", p.get("anomaly"))?,
        confirmed: boolean("confirmed", p.get("confirmed"))?,
        failure: boolean("failure", p.get("failure"))?,
    })
}

async fn measurements(State(s): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let f = filter(&p)?;
    let page = Page::parse(p.get("offset"), p.get("limit"), 100, 10_000)?;
    let asc = one_of("order", p.get("order"), &["asc", "desc"], "desc")? == "asc";
    let started = std::time::Instant::now();
    let (rows, count) =
        s.blocking(move |_, wh| Ok(q::measurements(wh, &f, asc, page.offset, page.limit)?)).await?;
    let next = page.offset + page.limit;
    let next_url = (next < count).then(|| {
        let mut pairs: Vec<(String, String)> =
            p.0.iter()
                .filter(|(k, _)| *k != "offset")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
        pairs.sort();
        pairs.push(("offset".into(), next.to_string()));
        let qs: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect();
        format!("/api/v1/reports/measurements?{}", qs.join("&"))
    });
    Ok(json(json!({
        "metadata": {"offset": page.offset, "limit": page.limit, "count": count,
                     "next_url": next_url, "query_time": started.elapsed().as_secs_f64()},
        "results": rows.iter().map(q::Row::to_json).collect::<Vec<_>>(),
    })))
}

/// Percent-encoding for a query string value (unreserved characters kept).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The normalized line, as `vantage reports show` prints it.
async fn show(s: Shared, uid: String) -> Result<Response, ApiError> {
    if uid.is_empty() || uid.len() > 200 {
        return Err(ApiError::bad_parameter("measurement_uid: expected a measurement uid"));
    }
    let line = s
        .blocking(move |st, wh| {
            vantage_reports::show(&st.data, wh, &uid).map_err(|e| match e {
                vantage_reports::ReportsError::NotFound(id) => {
                    ApiError::not_found(format!("no measurement {id}"))
                }
                other => ApiError::from_exit(&other),
            })
        })
        .await?;
    let mut r = line.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    Ok(r)
}

async fn measurement(
    State(s): State<Shared>,
    Path(uid): Path<String>,
) -> Result<Response, ApiError> {
    show(s, uid).await
}

async fn raw_measurement(State(s): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let uid = p.required("measurement_uid")?.to_string();
    show(s, uid).await
}

async fn aggregation(State(s): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let f = filter(&p)?;
    let mut axes: Vec<&'static str> = Vec::new();
    for name in ["axis_x", "axis_y"] {
        if let Some(a) = p.get(name).filter(|v| !v.is_empty()) {
            let axis = AXES.iter().find(|x| **x == a).ok_or_else(|| {
                ApiError::bad_parameter(format!(
                    "{name}={a:?}: expected one of {}",
                    AXES.join(", ")
                ))
            })?;
            axes.push(axis);
        }
    }
    let v = s.blocking(move |_, wh| Ok(q::aggregation(wh, &f, &axes)?)).await?;
    Ok(json(v))
}
