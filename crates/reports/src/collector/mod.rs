//! The OONI collector (spec §2.1–§2.4), independent of any HTTP framework: a
//! [`Collector`] answers [`Request`]s with [`Response`]s; [`http`] mounts it on axum.
//!
//! Durability: a report's open request is written to `staging/<report_id>.meta.json`
//! (fsync) before its report_id is returned; an accepted measurement is one line
//! appended to `staging/<report_id>.<n>.jsonl` and fsync'd before the 200, and a failed
//! write is truncated away and answered 503. A segment closes on the close call, after
//! `idle_close` without submissions, or at UTC midnight: it is renamed (fsync file and
//! directory) to `inbox/reports/<bucket>/<name>` and recorded as an arrival. At start-up
//! every report is reloaded, an unterminated last line (never acknowledged) is cut off,
//! and idle segments are archived.

mod body;
pub mod http;
mod limits;
mod names;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vantage_core::{publish, Bucket, DataDir, Timestamp};

use crate::config::CollectorConfig;
use crate::error::ReportsError;
use crate::json;
use crate::value::Value;

pub use body::{decode, minify};

/// The backend version reported to probes.
pub const BACKEND_VERSION: &str = concat!("vantage-", env!("CARGO_PKG_VERSION"));

/// A request as any HTTP server hands it over.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `POST`, ...
    pub method: &'a str,
    /// The path, without query.
    pub path: &'a str,
    /// `Content-Type`, when sent.
    pub content_type: Option<&'a str>,
    /// `Content-Encoding`, when sent.
    pub content_encoding: Option<&'a str>,
    /// The body as received.
    pub body: &'a [u8],
    /// The client's address (rate limits).
    pub peer: IpAddr,
}

/// An answer: status, JSON body, and `Retry-After` seconds for a 429.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Vec<u8>,
    /// `Retry-After`, seconds.
    pub retry_after: Option<u64>,
}

impl Response {
    fn ok(v: serde_json::Value) -> Response {
        Response { status: 200, body: v.to_string().into_bytes(), retry_after: None }
    }

    fn error(status: u16, code: &str, detail: impl Into<String>) -> Response {
        let body =
            serde_json::json!({"error": code, "detail": detail.into()}).to_string().into_bytes();
        Response { status, body, retry_after: None }
    }
}

/// What a report's open request said, kept in `staging/<report_id>.meta.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Meta {
    report_id: String,
    probe_cc: String,
    probe_asn: String,
    test_name: String,
    software_name: String,
    software_version: String,
    test_version: String,
    data_format_version: String,
    closed: bool,
    next_segment: u32,
    owner: String,
}

struct Segment {
    n: u32,
    path: PathBuf,
    file: File,
    len: u64,
    first: Timestamp,
    last: Timestamp,
    bucket: Bucket,
}

struct Report {
    meta: Meta,
    segment: Option<Segment>,
    /// sha256 of minified content → its measurement_uid (idempotent resubmission).
    seen: HashMap<[u8; 32], String>,
}

struct State {
    reports: HashMap<String, Report>,
    limits: limits::RateLimits,
}

/// The collector over one data directory.
pub struct Collector {
    data: DataDir,
    staging: PathBuf,
    config: CollectorConfig,
    warehouse: Option<String>,
    state: Mutex<State>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportsError + '_ {
    move |source| ReportsError::Io { path: path.to_path_buf(), source }
}

impl Collector {
    /// Opens the collector: reloads staged reports, cuts unacknowledged tails, and
    /// archives what is idle. `warehouse` is the URL arrivals are recorded in (None: the
    /// data directory's SQLite file).
    pub fn open(
        data: &DataDir,
        config: CollectorConfig,
        warehouse: Option<String>,
        now: Timestamp,
    ) -> Result<Collector, ReportsError> {
        let staging = data.inbox("reports")?.join("staging");
        std::fs::create_dir_all(&staging).map_err(io(&staging))?;
        let mut reports = HashMap::new();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&staging)
            .map_err(io(&staging))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in &entries {
            let Some(name) = p.file_name().and_then(|n| n.to_str()) else { continue };
            let Some(id) = name.strip_suffix(".meta.json") else { continue };
            let bytes = std::fs::read(p).map_err(io(p))?;
            let meta: Meta = match serde_json::from_slice(&bytes) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(file = %p.display(), error = %e, "Unreadable collector report state skipped.");
                    continue;
                }
            };
            reports.insert(id.to_string(), Report { meta, segment: None, seen: HashMap::new() });
        }
        let c = Collector {
            data: data.clone(),
            staging: staging.clone(),
            config,
            warehouse,
            state: Mutex::new(State { reports, limits: limits::RateLimits::default() }),
        };
        c.reload_segments(&entries)?;
        c.tick(now)?;
        Ok(c)
    }

    fn reload_segments(&self, entries: &[PathBuf]) -> Result<(), ReportsError> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for p in entries {
            let Some(name) = p.file_name().and_then(|n| n.to_str()) else { continue };
            let Some(stem) = name.strip_suffix(".jsonl") else { continue };
            let Some((id, n)) = stem.rsplit_once('.') else { continue };
            let Ok(n) = n.parse::<u32>() else { continue };
            let Some(report) = st.reports.get_mut(id) else { continue };
            let mut bytes = std::fs::read(p).map_err(io(p))?;
            // An unterminated last line was never acknowledged: cut it off.
            let keep = bytes.iter().rposition(|&b| b == b'\n').map(|i| i + 1).unwrap_or(0);
            if keep < bytes.len() {
                let f = OpenOptions::new().write(true).open(p).map_err(io(p))?;
                f.set_len(keep as u64).map_err(io(p))?;
                f.sync_all().map_err(io(p))?;
                bytes.truncate(keep);
            }
            let (mut first, mut last) = (None, None);
            for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                if let Ok(Value::Map(m)) = json::parse(line) {
                    if let Some(uid) = m.get("measurement_uid").and_then(Value::as_str) {
                        // Receipt times are in the uids: first and last submission.
                        if first.is_none() {
                            first = names::uid_time(uid);
                        }
                        last = names::uid_time(uid).or(last);
                        let content = strip_uid(line, uid);
                        report.seen.insert(Sha256::digest(&content).into(), uid.to_string());
                    }
                }
            }
            let mtime = std::fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| Timestamp(d.as_nanos() as i64))
                .unwrap_or_else(Timestamp::now);
            let first = first.unwrap_or(mtime);
            let mtime = last.unwrap_or(mtime);
            let file = OpenOptions::new().append(true).open(p).map_err(io(p))?;
            if let Some(old) = report.segment.take() {
                // Two segments of one report: the older is complete; it will be archived.
                drop(old);
            }
            report.segment = Some(Segment {
                n,
                path: p.clone(),
                file,
                len: keep as u64,
                first,
                last: mtime,
                bucket: first.bucket(),
            });
            report.meta.next_segment = report.meta.next_segment.max(n + 1);
        }
        Ok(())
    }

    /// Archives segments idle for `idle_close` or from an earlier UTC day; call each
    /// minute (and it runs at start-up). Returns the files archived.
    pub fn tick(&self, now: Timestamp) -> Result<Vec<PathBuf>, ReportsError> {
        let idle =
            i64::try_from(self.config.idle_close).unwrap_or(i64::MAX).saturating_mul(1_000_000_000);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        let ids: Vec<String> = st.reports.keys().cloned().collect();
        for id in ids {
            let Some(r) = st.reports.get_mut(&id) else { continue };
            let due = r.segment.as_ref().is_some_and(|s| {
                r.meta.closed || now.0 - s.last.0 >= idle || s.bucket != now.bucket()
            });
            if due {
                out.extend(self.archive(r)?);
            }
        }
        Ok(out)
    }

    fn save_meta(&self, meta: &Meta) -> Result<(), ReportsError> {
        let path = self.staging.join(format!("{}.meta.json", meta.report_id));
        let bytes = serde_json::to_vec(meta).map_err(|e| ReportsError::Usage(e.to_string()))?;
        publish::write_atomic(&path, &bytes, false).map_err(io(&path))?;
        Ok(())
    }

    /// Closes a report's open segment: rename into the inbox, record the arrival.
    fn archive(&self, r: &mut Report) -> Result<Option<PathBuf>, ReportsError> {
        let Some(seg) = r.segment.take() else { return Ok(None) };
        if seg.len == 0 {
            std::fs::remove_file(&seg.path).map_err(io(&seg.path))?;
            return Ok(None);
        }
        seg.file.sync_all().map_err(io(&seg.path))?;
        let name = names::file_name(
            &r.meta.probe_cc,
            &r.meta.probe_asn,
            &r.meta.test_name,
            &r.meta.report_id,
            seg.first,
        );
        let dir = self.data.inbox("reports")?.join(seg.bucket.to_string());
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let mut dest = dir.join(&name);
        if dest.exists() {
            // Two segments of one report opened within one second: keep both.
            dest = dir
                .join(name.replace("-0.2.0-probe.json", &format!("s{}-0.2.0-probe.json", seg.n)));
        }
        publish::move_file(&seg.path, &dest).map_err(io(&seg.path))?;
        publish::sync_parent(&seg.path).map_err(io(&seg.path))?;
        r.seen.clear();
        let dest_name =
            dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match vantage_warehouse::Warehouse::open(self.warehouse.as_deref(), &self.data)
            .map_err(ReportsError::from)
            .and_then(|mut wh| {
                wh.migrate("reports", crate::schema::MIGRATIONS)?;
                crate::ingest::record_inbox_file(&mut wh, seg.bucket, &dest_name, &dest)
            }) {
            Ok(()) => {}
            // The file is durable in the inbox; canning adopts unrecorded inbox files.
            Err(e) => {
                tracing::warn!(file = %dest.display(), error = %e, "Arrival not recorded yet.")
            }
        }
        Ok(Some(dest))
    }

    /// Answers one request at time `now`.
    pub fn handle(&self, req: &Request<'_>, now: Timestamp) -> Response {
        if req.method != "POST" {
            return Response::error(405, "method_not_allowed", "the collector endpoints take POST");
        }
        {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(wait) = st.limits.check(req.peer, now, self.config.rate, self.config.burst) {
                let mut r =
                    Response::error(429, "rate_limited", "too many requests from this address");
                r.retry_after = Some(wait);
                return r;
            }
        }
        if let Some(ct) = req.content_type {
            let ct = ct.to_ascii_lowercase();
            if !ct.starts_with("application/json") && !ct.contains("+json") {
                return Response::error(415, "unsupported_media_type", "send application/json");
            }
        }
        let body = match decode(req.body, req.content_encoding, self.config.max_body) {
            Ok(b) => b,
            Err(body::BodyError::TooLarge) => {
                return Response::error(
                    413,
                    "too_large",
                    format!("the decoded body exceeds {} bytes", self.config.max_body),
                )
            }
            Err(body::BodyError::UnknownEncoding(e)) => {
                return Response::error(
                    415,
                    "unsupported_encoding",
                    format!("content encoding {e:?} is not gzip or zstd"),
                )
            }
            Err(body::BodyError::BadEncoding(e)) => return Response::error(400, "bad_encoding", e),
        };
        let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        let r = match parts.as_slice() {
            ["report"] => self.open_report(&body, req.peer, now),
            ["report", id] => self.submit(id, &body, now),
            ["report", id, "close"] => self.close(id),
            ["measurement"] => self.single_shot(&body, req.peer, now),
            _ => Err(Response::error(404, "not_found", "no such endpoint")),
        };
        r.unwrap_or_else(|e| e)
    }

    fn open_report(&self, body: &[u8], peer: IpAddr, now: Timestamp) -> Result<Response, Response> {
        let v = parse_object(body)?;
        if v.contains_key("content") {
            return Err(Response::error(
                400,
                "bad_format",
                "open a report without content; submit measurements to it",
            ));
        }
        match v.get("format").and_then(Value::as_str) {
            Some("json") => {}
            Some("yaml") => {
                return Err(Response::error(
                    400,
                    "bad_format",
                    "YAML reports are ingested as files",
                ))
            }
            _ => return Err(Response::error(400, "bad_format", "format must be \"json\"")),
        }
        let meta = self.new_report(&v, peer, now)?;
        Ok(Response::ok(serde_json::json!({
            "backend_version": BACKEND_VERSION,
            "report_id": meta.report_id,
            "supported_formats": ["json"],
        })))
    }

    fn new_report(
        &self,
        v: &crate::value::Map,
        peer: IpAddr,
        now: Timestamp,
    ) -> Result<Meta, Response> {
        let f =
            names::validate_open(v).map_err(|(code, detail)| Response::error(400, code, detail))?;
        let report_id = names::report_id(
            now,
            &f.test_name,
            &f.probe_cc,
            &f.probe_asn,
            self.config.collector_id,
        );
        let meta = Meta {
            report_id: report_id.clone(),
            probe_cc: f.probe_cc,
            probe_asn: f.probe_asn,
            test_name: f.test_name,
            software_name: f.software_name,
            software_version: f.software_version,
            test_version: f.test_version,
            data_format_version: f.data_format_version,
            closed: false,
            next_segment: 0,
            owner: peer.to_string(),
        };
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let open_here =
            st.reports.values().filter(|r| r.meta.owner == meta.owner && !r.meta.closed).count();
        if open_here >= self.config.max_open {
            let mut r = Response::error(429, "too_many_open_reports", "close some reports first");
            r.retry_after = Some(60);
            return Err(r);
        }
        self.save_meta(&meta).map_err(|e| storage_error(&e))?;
        st.reports
            .insert(report_id, Report { meta: meta.clone(), segment: None, seen: HashMap::new() });
        Ok(meta)
    }

    fn submit(&self, id: &str, body: &[u8], now: Timestamp) -> Result<Response, Response> {
        let v = parse_object(body)?;
        if v.get("format").and_then(Value::as_str) != Some("json") {
            return Err(Response::error(400, "bad_format", "format must be \"json\""));
        }
        let minified = minify(body);
        let Some((s, e)) = body::member_span(&minified, "content") else {
            return Err(Response::error(400, "bad_field", "content is missing"));
        };
        let content = minified.get(s..e).unwrap_or(&[]).to_vec();
        let uid = self.append(id, v.get("content"), &content, body, now)?;
        Ok(Response::ok(serde_json::json!({"measurement_uid": uid, "measurement_id": uid})))
    }

    /// Checks and appends one measurement; returns its uid.
    fn append(
        &self,
        id: &str,
        content: Option<&Value>,
        raw: &[u8],
        body: &[u8],
        now: Timestamp,
    ) -> Result<String, Response> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(r) = st.reports.get_mut(id) else {
            return Err(Response::error(
                404,
                "not_found",
                format!("report {id} was not opened here"),
            ));
        };
        if r.meta.closed {
            return Err(Response::error(409, "closed", format!("report {id} is closed")));
        }
        let Some(Value::Map(c)) = content else {
            return Err(Response::error(400, "bad_field", "content must be an object"));
        };
        if let Some(rid) = c.get("report_id") {
            if rid.as_str() != Some(id) {
                return Err(Response::error(
                    400,
                    "inconsistent_metadata",
                    "content report_id differs from the URL's",
                ));
            }
        }
        for (key, want) in [("probe_cc", &r.meta.probe_cc), ("probe_asn", &r.meta.probe_asn)] {
            if c.get(key).and_then(Value::as_str) != Some(want.as_str()) {
                return Err(Response::error(
                    400,
                    "inconsistent_metadata",
                    format!("content {key} differs from the report's"),
                ));
            }
        }
        if c.get("test_name").and_then(Value::as_str).map(str::to_lowercase).as_deref()
            != Some(r.meta.test_name.as_str())
        {
            return Err(Response::error(
                400,
                "inconsistent_metadata",
                "content test_name differs from the report's",
            ));
        }
        let key: [u8; 32] = Sha256::digest(raw).into();
        if let Some(uid) = r.seen.get(&key) {
            return Ok(uid.clone());
        }
        // Segments never cross midnight.
        if r.segment.as_ref().is_some_and(|s| s.bucket != now.bucket()) {
            self.archive(r).map_err(|e| storage_error(&e))?;
        }
        if r.segment.is_none() {
            let n = r.meta.next_segment;
            r.meta.next_segment += 1;
            self.save_meta(&r.meta).map_err(|e| storage_error(&e))?;
            let path = self.staging.join(format!("{id}.{n}.jsonl"));
            let file =
                OpenOptions::new().create(true).append(true).open(&path).map_err(|e| {
                    storage_error(&ReportsError::Io { path: path.clone(), source: e })
                })?;
            r.segment = Some(Segment {
                n,
                path,
                file,
                len: 0,
                first: now,
                last: now,
                bucket: now.bucket(),
            });
        }
        let uid = names::measurement_uid(now, &r.meta.probe_cc, &r.meta.test_name, body);
        let line = body::splice_uid(raw, &uid);
        let Some(seg) = r.segment.as_mut() else {
            return Err(Response::error(503, "storage", "no segment"));
        };
        let write = seg
            .file
            .write_all(&line)
            .and_then(|_| seg.file.write_all(b"\n"))
            .and_then(|_| seg.file.sync_data());
        if let Err(e) = write {
            // Nothing is stored for an error: cut back to the last acknowledged line.
            let _ = seg.file.set_len(seg.len);
            tracing::error!(file = %seg.path.display(), error = %e, "Measurement not stored.");
            return Err(Response::error(
                503,
                "storage",
                "the measurement could not be stored; retry later",
            ));
        }
        seg.len += line.len() as u64 + 1;
        seg.last = now;
        r.seen.insert(key, uid.clone());
        Ok(uid)
    }

    fn close(&self, id: &str) -> Result<Response, Response> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(r) = st.reports.get_mut(id) else {
            return Err(Response::error(
                404,
                "not_found",
                format!("report {id} was not opened here"),
            ));
        };
        if !r.meta.closed {
            r.meta.closed = true;
            self.save_meta(&r.meta).map_err(|e| storage_error(&e))?;
        }
        self.archive(r).map_err(|e| storage_error(&e))?;
        Ok(Response::ok(serde_json::json!({"status": "success"})))
    }

    fn single_shot(&self, body: &[u8], peer: IpAddr, now: Timestamp) -> Result<Response, Response> {
        let v = parse_object(body)?;
        let meta = self.new_report(&v, peer, now)?;
        let raw = minify(body);
        // The new report's id is the measurement's; one sent by the probe is not checked.
        let mut content = v.clone();
        content.remove("report_id");
        let uid = self.append(&meta.report_id, Some(&Value::Map(content)), &raw, body, now)?;
        self.close(&meta.report_id)?;
        Ok(Response::ok(serde_json::json!({
            "report_id": meta.report_id,
            "measurement_id": uid,
            "measurement_uid": uid,
        })))
    }
}

fn storage_error(e: &ReportsError) -> Response {
    tracing::error!(error = %e, "Collector storage failure.");
    Response::error(503, "storage", "storage unavailable; retry later")
}

fn parse_object(body: &[u8]) -> Result<crate::value::Map, Response> {
    match json::parse(body) {
        Ok(Value::Map(m)) => Ok(m),
        Ok(_) => Err(Response::error(400, "bad_json", "the body must be a JSON object")),
        Err(e) => Err(Response::error(400, "bad_json", format!("the body is not JSON: {e}"))),
    }
}

/// A stored line without the spliced `"measurement_uid":"U"`: the content as minified.
fn strip_uid(line: &[u8], uid: &str) -> Vec<u8> {
    let with_comma = format!(",\"measurement_uid\":\"{uid}\"}}");
    let alone = format!("{{\"measurement_uid\":\"{uid}\"}}");
    if line == alone.as_bytes() {
        return b"{}".to_vec();
    }
    match line.strip_suffix(with_comma.as_bytes()) {
        Some(head) => [head, b"}"].concat(),
        None => line.to_vec(),
    }
}

#[cfg(test)]
mod tests;
