//! Publish (issue 9): the clean reports cans for bulk download, as OONI's public
//! measurements site offered them. `GET /api/v1/reports/cans` lists them with size,
//! sha1 and their index; `GET /api/v1/reports/cans/{bucket}/{file}` downloads a can or
//! its `.index.jsonl`, with HTTP range support.
//!
//! Only clean cans are published (sanitized, no raw input); a file is served only when
//! `reports_clean_can` names it, so no request can read outside `clean/reports/`.

use std::io::{Read, Seek, SeekFrom};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use vantage_warehouse::Sql;

use super::{json, Params, Shared};
use crate::error::ApiError;
use crate::params::time_ns;

const INDEX_SUFFIX: &str = ".index.jsonl";

/// Routes under `/api/v1`.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/reports/cans", get(list))
        .route("/reports/cans/{bucket}/{file}", get(download))
}

/// A can's test name: from a report file name (§2.3) or a slice name (`<test>.<n>.tar.lz4`).
fn test_name(file: &str) -> String {
    if let Some(t) = vantage_reports::names::test_name_of(file.trim_end_matches(".tar.lz4")) {
        return t.to_string();
    }
    file.split('.').next().unwrap_or("").to_string()
}

async fn list(State(s): State<Shared>, p: Params) -> Result<Response, ApiError> {
    let day = |n: Option<i64>| {
        n.map(|ns| {
            vantage_core::Timestamp::from_nanos(ns)
                .to_rfc3339()
                .chars()
                .take(10)
                .collect::<String>()
        })
    };
    let since = day(time_ns("since", p.get("since"))?);
    let until = day(time_ns("until", p.get("until"))?);
    let test = p.get("test_name").filter(|t| !t.is_empty()).map(str::to_lowercase);
    let rows = s
        .blocking(move |st, wh| {
            if !crate::query::table_exists(wh, "reports_clean_can")? {
                return Ok(Vec::new());
            }
            let rows = wh.query(
                "SELECT filename, bucket, file_size, file_sha1, datums FROM reports_clean_can ORDER BY bucket, filename",
                &[],
            )?;
            let root = st.data.clean("reports").map_err(ApiError::storage)?;
            let mut out = Vec::new();
            for r in rows.rows {
                let (filename, bucket) = (r[0].to_text(), r[1].to_text());
                let file = filename.rsplit('/').next().unwrap_or("").to_string();
                let t = test_name(&file);
                let keep = since.as_deref().is_none_or(|d| bucket.as_str() >= d)
                    && until.as_deref().is_none_or(|d| bucket.as_str() < d)
                    && test.as_deref().is_none_or(|n| n == t);
                if !keep {
                    continue;
                }
                let index_size = std::fs::metadata(root.join(format!("{filename}{INDEX_SUFFIX}"))).map(|m| m.len()).ok();
                out.push(json!({
                    "filename": filename, "bucket": bucket, "test_name": t,
                    "size": r[2].as_i64(), "sha1": r[3].to_text(), "datums": r[4].as_i64(),
                    "url": format!("/api/v1/reports/cans/{bucket}/{file}"),
                    "index_url": format!("/api/v1/reports/cans/{bucket}/{file}{INDEX_SUFFIX}"),
                    "index_size": index_size,
                }));
            }
            Ok(out)
        })
        .await?;
    Ok(json(json!({"cans": rows})))
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` (one range) against a file of `len` bytes:
/// the inclusive range, or `None` when unsatisfiable.
fn parse_range(text: &str, len: u64) -> Option<(u64, u64)> {
    let spec = text.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || len == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (len.saturating_sub(n), len - 1)
        }
        (a, "") => (a.parse().ok()?, len - 1),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(len - 1)),
    };
    (start <= end && start < len).then_some((start, end))
}

async fn download(
    State(s): State<Shared>,
    Path((bucket, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_string);
    s.blocking(move |st, wh| {
        let (can, is_index) = match file.strip_suffix(INDEX_SUFFIX) {
            Some(c) => (c.to_string(), true),
            None => (file.clone(), false),
        };
        let filename = format!("{bucket}/{can}");
        let known = crate::query::table_exists(wh, "reports_clean_can")?
            && wh
                .query_i64(
                    "SELECT COUNT(*) FROM reports_clean_can WHERE filename = ?",
                    &[filename.as_str().into()],
                )?
                .unwrap_or(0)
                > 0;
        if !known {
            return Err(ApiError::not_found(format!("no published can {filename}")));
        }
        let root = st.data.clean("reports").map_err(ApiError::storage)?;
        let path = root.join(if is_index {
            format!("{filename}{INDEX_SUFFIX}")
        } else {
            filename.clone()
        });
        let mut f =
            std::fs::File::open(&path).map_err(|e| ApiError::not_found(format!("{file}: {e}")))?;
        let len = f.metadata().map_err(|e| ApiError::storage(format!("{file}: {e}")))?.len();
        let ty = if is_index { "application/x-ndjson" } else { "application/x-lz4" };
        let (status, start, end) = match range.as_deref() {
            None => (StatusCode::OK, 0, len.saturating_sub(1)),
            Some(r) => match parse_range(r, len) {
                Some((a, b)) => (StatusCode::PARTIAL_CONTENT, a, b),
                None => {
                    let mut resp = ApiError::new(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        "range_not_satisfiable",
                        format!("{r}: not one byte range inside the {len} bytes of {file}"),
                    )
                    .into_response();
                    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                        resp.headers_mut().insert(header::CONTENT_RANGE, v);
                    }
                    return Ok(resp);
                }
            },
        };
        let n = if len == 0 { 0 } else { end - start + 1 };
        let mut buf =
            vec![0u8; usize::try_from(n).map_err(|_| ApiError::storage("range too large"))?];
        f.seek(SeekFrom::Start(start))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(|e| ApiError::storage(format!("{file}: {e}")))?;
        let mut resp = (status, buf).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ty));
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if status == StatusCode::PARTIAL_CONTENT {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
        }
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        Ok(resp)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=9-3", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
