//! `vantage reports centrifuge [--bucket D] [--reprocess]` (reports spec §6): clean cans
//! into the tables of §6.2, one transaction per bucket.
//!
//! Per clean can the §6.5 decision table picks ingest, reingest, reprocess (only the
//! feeders whose `min_compat_code_ver` the file's code_ver is below, or the fingerprint
//! feeders when the loaded set changed), skip, or an error. Numbers come from
//! `reports_counter`, updated in the bucket's transaction, in order filename, frame_off,
//! intra_off; reingest keeps autoclaved_no, report_no and msm_no of what did not change.
//! A crash rolls the whole bucket back, so a re-run numbers everything identically. Cans
//! are read and parsed in parallel (rayon); one thread writes.

pub mod feeders;
mod views;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value as J;
use sha2::{Digest, Sha256};
use vantage_core::{Bucket, DataDir};
use vantage_warehouse::catalog::{self, PartitionState};
use vantage_warehouse::{Sql, Value as Db, Warehouse, WarehouseError};

use crate::error::ReportsError;
use crate::fingerprint::FingerprintSet;
use feeders::{Datum, Dims, Feeder, Sink, FEEDERS};
pub use views::{view_definitions, VIEWS};

/// Raised with any change of a feeder; each feeder's `min_compat_code_ver` says which
/// files it must run on again.
pub const CODE_VER: u32 = 1;

/// A file recorded at this code version is reprocessed by every feeder.
pub const CODE_VER_REPROCESS: u32 = 0;

/// The versions a run works with: [`CODE_VER`] and each feeder's minimum, overridable so
/// tests can show what a version bump reprocesses.
#[derive(Debug, Clone)]
pub struct Versions {
    /// The code version recorded for the files done.
    pub code_ver: u32,
    /// Feeder name → min_compat_code_ver.
    pub min_compat: HashMap<&'static str, u32>,
}

impl Default for Versions {
    fn default() -> Versions {
        Versions {
            code_ver: CODE_VER,
            min_compat: FEEDERS.iter().map(|f| (f.name(), f.min_compat_code_ver())).collect(),
        }
    }
}

impl Versions {
    fn min(&self, f: &dyn Feeder) -> u32 {
        self.min_compat.get(f.name()).copied().unwrap_or(f.min_compat_code_ver())
    }
}

/// What was done with one clean can.
#[derive(Debug, Clone, Serialize)]
pub struct CentrifugeLine {
    /// `<bucket>/<can>`.
    pub filename: String,
    /// ingest, reingest, reprocess, retract.
    pub action: String,
    /// Feeders run (all for ingest and reingest).
    pub feeders: Vec<String>,
    /// Reports loaded.
    pub reports: u64,
    /// Measurements loaded (or re-fed).
    pub measurements: u64,
    /// Datums left out with a `reports_badmeta` row.
    pub badmeta: u64,
    /// Rows the backend refused, kept in `reports_badrow`.
    pub badrows: u64,
}

/// What a centrifuge run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CentrifugeSummary {
    /// Files acted on.
    pub files: Vec<CentrifugeLine>,
    /// Buckets committed.
    pub buckets: Vec<String>,
}

impl CentrifugeSummary {
    /// Total measurements loaded or re-fed.
    pub fn measurements(&self) -> u64 {
        self.files.iter().map(|f| f.measurements).sum()
    }
}

/// One clean can's row of `reports_clean_can`.
#[derive(Debug, Clone)]
struct CleanCan {
    filename: String,
    file_size: i64,
    file_crc32: i64,
    file_sha1: String,
}

/// Its `reports_autoclaved` row.
#[derive(Debug, Clone)]
struct Done {
    autoclaved_no: i64,
    filename: String,
    code_ver: u32,
    fp_digest: String,
    file_sha1: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Action {
    Ingest,
    Reingest,
    Reprocess(Vec<&'static str>),
    Bump,
    Retract,
}

/// One datum read from a clean can.
struct DatumIn {
    uid: String,
    id: String,
    src_sha1: String,
    loc: vantage_can::Locator,
    /// Its line in the report's member text, or why there is none.
    line: Result<std::ops::Range<usize>, String>,
}

/// One report of a clean can.
struct ReportIn {
    textname: String,
    src_sha1: String,
    src_cutoff: Option<i64>,
    datums: Vec<DatumIn>,
    /// The member's text. Datums are parsed one at a time as they are fed, so only one
    /// tree is alive at once (trees of whole cans were several times the text).
    text: Vec<u8>,
}

impl ReportIn {
    /// A datum's measurement.
    fn parse(&self, d: &DatumIn) -> Result<J, String> {
        let range = d.line.clone()?;
        serde_json::from_slice(&self.text[range]).map_err(|e| e.to_string())
    }
}

/// Centrifuges every bucket with new or outdated clean cans (or one bucket); with
/// `reprocess`, sets the bucket's code_ver to 0 first so every feeder runs again.
pub fn centrifuge(
    data: &DataDir,
    wh: &mut Warehouse,
    only: Option<Bucket>,
    reprocess: bool,
) -> Result<CentrifugeSummary, ReportsError> {
    centrifuge_with(data, wh, only, reprocess, &Versions::default())
}

/// [`centrifuge`] with explicit versions (tests of version bumps).
pub fn centrifuge_with(
    data: &DataDir,
    wh: &mut Warehouse,
    only: Option<Bucket>,
    reprocess: bool,
    versions: &Versions,
) -> Result<CentrifugeSummary, ReportsError> {
    wh.migrate("reports", crate::schema::MIGRATIONS)?;
    let fps = crate::fingerprints::load_set(wh)?;
    let digest = fps.digest();
    let buckets: Vec<String> = match only {
        Some(b) => vec![b.to_string()],
        None if reprocess => {
            let r =
                wh.query("SELECT DISTINCT bucket FROM reports_clean_can ORDER BY bucket", &[])?;
            r.rows.iter().map(|r| r[0].to_text()).collect()
        }
        None => {
            let r = wh.query(
                "SELECT DISTINCT c.bucket FROM reports_clean_can c LEFT JOIN reports_autoclaved a ON a.filename = c.filename
                 WHERE a.filename IS NULL OR a.file_sha1 <> c.file_sha1 OR a.code_ver <> ? OR a.fp_digest <> ?
                 UNION SELECT DISTINCT a.bucket_date FROM reports_autoclaved a LEFT JOIN reports_clean_can c ON c.filename = a.filename
                 WHERE c.filename IS NULL ORDER BY 1",
                &[versions.code_ver.into(), digest.as_str().into()],
            )?;
            r.rows.iter().map(|r| r[0].to_text()).collect()
        }
    };
    let mut summary = CentrifugeSummary::default();
    // Carried from bucket to bucket; preloaded from the bucket before the first (§6.4).
    let mut bodies = crate::simhash::BodyHashes::default();
    for bucket in buckets {
        let _span = tracing::info_span!("centrifuge", kind = "reports", bucket = %bucket, code_version = versions.code_ver)
            .entered();
        let lines = bucket_run(data, wh, &bucket, reprocess, versions, &fps, &digest, &mut bodies)?;
        if let Some(lines) = lines {
            let n: u64 = lines.iter().map(|l| l.measurements).sum();
            tracing::info!(files = lines.len(), measurements = n, "Bucket centrifuged.");
            summary.files.extend(lines);
            summary.buckets.push(bucket);
        }
    }
    Ok(summary)
}

fn decide(
    can: Option<&CleanCan>,
    done: Option<&Done>,
    versions: &Versions,
    digest: &str,
    reprocess: bool,
    redacted: &BTreeSet<String>,
) -> Result<Option<Action>, ReportsError> {
    let Some(done) = done else { return Ok(Some(Action::Ingest)) };
    let Some(can) = can else {
        let can_name = done.filename.rsplit('/').next().unwrap_or(&done.filename);
        if redacted.contains(can_name) || redacted.contains(&done.filename) {
            return Ok(Some(Action::Retract));
        }
        return Err(ReportsError::Centrifuge {
            filename: done.filename.clone(),
            message: "centrifuged, but its clean can is gone; run `vantage reports autoclave` for its bucket".into(),
        });
    };
    if can.file_sha1 != done.file_sha1 {
        return Ok(Some(Action::Reingest));
    }
    let v = if reprocess { CODE_VER_REPROCESS } else { done.code_ver };
    if v > versions.code_ver {
        return Err(ReportsError::Centrifuge {
            filename: done.filename.clone(),
            message: format!(
                "centrifuged by code version {v}, newer than this vantage's {}; upgrade vantage",
                versions.code_ver
            ),
        });
    }
    let fp_changed = done.fp_digest != digest;
    let mut need: Vec<&'static str> = FEEDERS
        .iter()
        .filter(|f| v < versions.min(**f) || (fp_changed && f.uses_fingerprints()))
        .map(|f| f.name())
        .collect();
    need.dedup();
    if !need.is_empty() {
        return Ok(Some(Action::Reprocess(need)));
    }
    if v < versions.code_ver {
        return Ok(Some(Action::Bump));
    }
    Ok(None)
}

/// Reads a clean can: its reports (from the index's `report`, `datum`, `/report` lines)
/// and each datum's line with its locator (from the foundation's `record` lines).
fn read_can(path: &std::path::Path) -> Result<Vec<ReportIn>, ReportsError> {
    let can = vantage_can::Can::open(path)?;
    let mut reports: Vec<ReportIn> = Vec::new();
    for item in vantage_can::index::lines(&vantage_can::index_path(path))? {
        let (_, v) = item?;
        let s = |k: &str| v.get(k).and_then(J::as_str).unwrap_or("").to_string();
        match v.get("type").and_then(J::as_str) {
            Some("report") => reports.push(ReportIn {
                textname: s("textname"),
                src_sha1: s("src_sha1"),
                src_cutoff: None,
                datums: Vec::new(),
                text: Vec::new(),
            }),
            Some("datum") => {
                if let Some(r) = reports.last_mut() {
                    r.datums.push(DatumIn {
                        uid: s("uid"),
                        id: s("id"),
                        src_sha1: s("src_sha1"),
                        loc: vantage_can::Locator {
                            frame_off: 0,
                            frame_size: 0,
                            intra_off: 0,
                            intra_size: 0,
                        },
                        line: Err(String::new()),
                    });
                }
            }
            Some("/report") => {
                if let Some(r) = reports.last_mut() {
                    r.src_cutoff = v.get("src_cutoff").and_then(J::as_i64);
                }
            }
            _ => {}
        }
    }
    for r in &mut reports {
        let Some(entry) = can.member(&r.textname).cloned() else {
            return Err(ReportsError::Mismatch {
                path: path.into(),
                message: format!(
                    "index names report {} but the can has no such member",
                    r.textname
                ),
            });
        };
        let bytes = crate::member::read(&can, path, &entry)?;
        let records = can.records(&r.textname);
        if records.len() != r.datums.len() {
            return Err(ReportsError::Mismatch {
                path: path.into(),
                message: format!(
                    "{}: {} records for {} datums",
                    r.textname,
                    records.len(),
                    r.datums.len()
                ),
            });
        }
        for (d, rec) in r.datums.iter_mut().zip(records) {
            d.loc = rec.locator;
            let start = usize::try_from(rec.member_off).unwrap_or(usize::MAX);
            let end = start.saturating_add(usize::try_from(rec.size).unwrap_or(usize::MAX));
            d.line = match bytes.get(start..end) {
                Some(_) => Ok(start..end),
                None => Err(format!("record at {start} outside the member")),
            };
        }
        r.text = bytes;
    }
    Ok(reports)
}

/// Counters of `reports_counter`, read at the start of a bucket's transaction and written
/// at its end.
struct Counters {
    next: BTreeMap<String, i64>,
}

impl Counters {
    fn load(tx: &mut dyn Sql) -> Result<Counters, WarehouseError> {
        let r = tx.query("SELECT name, next FROM reports_counter", &[])?;
        Ok(Counters {
            next: r.rows.iter().map(|r| (r[0].to_text(), r[1].as_i64().unwrap_or(1))).collect(),
        })
    }

    fn take(&mut self, name: &str) -> i64 {
        let n = self.next.entry(name.to_string()).or_insert(1);
        let v = *n;
        *n += 1;
        v
    }

    fn save(&self, tx: &mut dyn Sql) -> Result<(), WarehouseError> {
        for (k, v) in &self.next {
            tx.execute(
                "INSERT INTO reports_counter (name, next) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET next = excluded.next",
                &[k.as_str().into(), (*v).into()],
            )?;
        }
        Ok(())
    }
}

/// Shared dimension tables, loaded once per bucket.
struct Dimensions {
    dims: Dims,
    input: HashMap<String, i64>,
    new_inputs: Vec<Vec<Db>>,
    software: HashMap<[String; 4], i64>,
    new_software: Vec<Vec<Db>>,
    residual: HashMap<String, i64>,
    new_residuals: Vec<Vec<Db>>,
}

impl Dimensions {
    fn load(tx: &mut dyn Sql, counters: &mut Counters) -> Result<Dimensions, WarehouseError> {
        let map = |tx: &mut dyn Sql, sql: &str| -> Result<HashMap<String, i64>, WarehouseError> {
            let r = tx.query(sql, &[])?;
            Ok(r.rows.iter().map(|r| (r[1].to_text(), r[0].as_i64().unwrap_or(0))).collect())
        };
        let domain = map(tx, "SELECT domain_no, domain FROM reports_domain")?;
        let input = map(tx, "SELECT input_no, input_sha256 FROM reports_input")?;
        let residual = map(tx, "SELECT residual_no, residual_sha256 FROM reports_residual")?;
        let r = tx.query("SELECT software_no, test_name, test_version, software_name, software_version FROM reports_software", &[])?;
        let software = r
            .rows
            .iter()
            .map(|r| {
                (
                    [r[1].to_text(), r[2].to_text(), r[3].to_text(), r[4].to_text()],
                    r[0].as_i64().unwrap_or(0),
                )
            })
            .collect();
        let next_domain = counters.next.get("domain").copied().unwrap_or(1);
        Ok(Dimensions {
            dims: Dims { domain, new_domains: Vec::new(), next_domain, bodies: Default::default() },
            input,
            new_inputs: Vec::new(),
            software,
            new_software: Vec::new(),
            residual,
            new_residuals: Vec::new(),
        })
    }

    fn input_no(&mut self, input: &str, counters: &mut Counters) -> i64 {
        let sha = hex::encode(Sha256::digest(input.as_bytes()));
        if let Some(n) = self.input.get(&sha) {
            return *n;
        }
        let n = counters.take("input");
        let host = url_host(input).map(|h| self.dims.domain_no(h));
        self.new_inputs.push(vec![
            n.into(),
            input.into(),
            sha.as_str().into(),
            host.map_or(Db::Null, Db::from),
        ]);
        self.input.insert(sha, n);
        n
    }

    fn software_no(&mut self, key: [String; 4], counters: &mut Counters) -> i64 {
        if let Some(n) = self.software.get(&key) {
            return *n;
        }
        let n = counters.take("software");
        self.new_software.push(vec![
            n.into(),
            key[0].as_str().into(),
            key[1].as_str().into(),
            key[2].as_str().into(),
            key[3].as_str().into(),
        ]);
        self.software.insert(key, n);
        n
    }

    fn residual_no(&mut self, residual: &J, counters: &mut Counters) -> i64 {
        let text = residual.to_string();
        let sha = hex::encode(Sha256::digest(text.as_bytes()));
        if let Some(n) = self.residual.get(&sha) {
            return *n;
        }
        let n = counters.take("residual");
        self.new_residuals.push(vec![n.into(), text.into(), sha.as_str().into()]);
        self.residual.insert(sha, n);
        n
    }
}

/// Fills the sha256 → simhashes cache with the bodies of the latest bucket before `bucket`
/// (§6.4): consecutive buckets share most blockpages and sites.
fn preload_bodies(
    tx: &mut dyn Sql,
    bucket: &str,
    bodies: &mut crate::simhash::BodyHashes,
) -> Result<(), WarehouseError> {
    let from = |t: &str| {
        format!(
            "SELECT h.body_sha256, h.body_simhash, h.body_text_simhash FROM {t} h
             JOIN reports_measurement m ON m.msm_no = h.msm_no
             JOIN reports_report r ON r.report_no = m.report_no
             JOIN reports_autoclaved a ON a.autoclaved_no = r.autoclaved_no
             WHERE a.bucket_date = (SELECT MAX(bucket_date) FROM reports_autoclaved WHERE bucket_date < ?)
               AND h.body_sha256 IS NOT NULL AND h.body_simhash IS NOT NULL AND h.body_text_simhash IS NOT NULL"
        )
    };
    for t in ["reports_http_request", "reports_http_control"] {
        let r = tx.query(&from(t), &[bucket.into()])?;
        for row in &r.rows {
            let mut sha = [0u8; 32];
            let (Ok(()), Some(s), Some(ts)) = (
                hex::decode_to_slice(row[0].to_text(), &mut sha),
                row[1].as_i64(),
                row[2].as_i64(),
            ) else {
                continue;
            };
            bodies.insert(sha, (s as u64, ts as u64));
        }
    }
    Ok(())
}

/// The host of an `http(s)://` URL input, for the API's `domain` filter.
fn url_host(input: &str) -> Option<&str> {
    let rest = input.split_once("://")?.1;
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit('@').next()?;
    let host = if host.starts_with('[') {
        host.split(']').next()?.trim_start_matches('[')
    } else {
        host.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

/// The report-level fields that must agree across a report's datums (§6.3 `report`).
const REPORT_FIELDS: &[&str] = &[
    "test_start_time",
    "probe_cc",
    "probe_asn",
    "probe_ip",
    "report_filename",
    "test_name",
    "test_version",
    "software_name",
    "software_version",
    "report_id",
];

fn field_text(msm: &J, k: &str) -> String {
    match msm.get(k) {
        None | Some(J::Null) => String::new(),
        Some(J::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// Why a datum cannot give a report row, if it cannot.
fn bad_meta(msm: &J) -> Option<String> {
    let cc = field_text(msm, "probe_cc");
    if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_uppercase()) {
        return Some(format!("bad probe_cc {cc:?}"));
    }
    let asn = field_text(msm, "probe_asn");
    let ok = asn.strip_prefix("AS").is_some_and(|d| {
        !d.is_empty()
            && d.len() <= 10
            && d.bytes().all(|b| b.is_ascii_digit())
            && d.parse::<u64>().is_ok_and(|n| n < 1 << 32)
    });
    if !ok {
        return Some(format!("bad probe_asn {asn:?}"));
    }
    None
}

/// Rows of one bucket, per table, ready to load.
#[derive(Default)]
struct Out {
    tables: BTreeMap<&'static str, (Vec<&'static str>, Vec<Vec<Db>>)>,
    /// Score-like feeders' rows for re-fed measurements: UPDATEs of reports_measurement.
    updates: Vec<(&'static dyn Feeder, Vec<Vec<Db>>)>,
}

impl Out {
    fn push(&mut self, table: &'static str, cols: &[&'static str], rows: Vec<Vec<Db>>) {
        let e = self.tables.entry(table).or_insert_with(|| (cols.to_vec(), Vec::new()));
        e.1.extend(rows);
    }
}

const MEASUREMENT_COLS: &[&str] = &[
    "msm_no",
    "report_no",
    "measurement_uid",
    "id",
    "frame_off",
    "frame_size",
    "intra_off",
    "intra_size",
    "src_sha1",
    "measurement_start_time",
    "test_runtime",
    "input_no",
    "residual_no",
    "exc",
];

/// A Measurement-sink feeder's values for one measurement.
type MeasurementCols = (&'static dyn Feeder, Vec<Db>);

/// Runs the feeders named in `which` over one measurement; appends their rows, returns the
/// exc entries and the rows of Measurement-sink feeders.
fn feed_one(
    d: &Datum<'_>,
    which: &[&'static str],
    dims: &mut Dims,
    out: &mut Out,
) -> (Vec<J>, Vec<MeasurementCols>) {
    let mut exc = Vec::new();
    let mut measurement_cols = Vec::new();
    for f in FEEDERS.iter().filter(|f| which.contains(&f.name())) {
        let mut rows = Vec::new();
        match f.feed(d, dims, &mut rows) {
            Ok(()) => match f.sink() {
                Sink::Table => out.push(f.table(), f.columns(), rows),
                Sink::Measurement => {
                    if let Some(r) = rows.into_iter().next() {
                        measurement_cols.push((*f, r));
                    }
                }
            },
            Err(e) => exc.push(serde_json::json!({"feeder": e.feeder, "error": e.message})),
        }
    }
    (exc, measurement_cols)
}

#[allow(clippy::too_many_arguments)]
fn bucket_run(
    data: &DataDir,
    wh: &mut Warehouse,
    bucket: &str,
    reprocess: bool,
    versions: &Versions,
    fps: &FingerprintSet,
    digest: &str,
    bodies: &mut crate::simhash::BodyHashes,
) -> Result<Option<Vec<CentrifugeLine>>, ReportsError> {
    let r = wh.query(
        "SELECT filename, file_size, file_crc32, file_sha1 FROM reports_clean_can WHERE bucket = ? ORDER BY filename",
        &[bucket.into()],
    )?;
    let cans: BTreeMap<String, CleanCan> = r
        .rows
        .iter()
        .map(|r| {
            let c = CleanCan {
                filename: r[0].to_text(),
                file_size: r[1].as_i64().unwrap_or(0),
                file_crc32: r[2].as_i64().unwrap_or(0),
                file_sha1: r[3].to_text(),
            };
            (c.filename.clone(), c)
        })
        .collect();
    let r = wh.query(
        "SELECT autoclaved_no, filename, code_ver, fp_digest, file_sha1 FROM reports_autoclaved WHERE bucket_date = ?",
        &[bucket.into()],
    )?;
    let done: BTreeMap<String, Done> = r
        .rows
        .iter()
        .map(|r| {
            let d = Done {
                autoclaved_no: r[0].as_i64().unwrap_or(0),
                filename: r[1].to_text(),
                code_ver: r[2].as_i64().unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32,
                fp_digest: r[3].to_text(),
                file_sha1: r[4].to_text(),
            };
            (d.filename.clone(), d)
        })
        .collect();
    let r = wh.query("SELECT DISTINCT can FROM reports_redaction", &[])?;
    let redacted: BTreeSet<String> = r.rows.iter().map(|r| r[0].to_text()).collect();
    let names: BTreeSet<&String> = cans.keys().chain(done.keys()).collect();
    let mut plan: Vec<(String, Action)> = Vec::new();
    for name in names {
        if let Some(a) =
            decide(cans.get(name), done.get(name), versions, digest, reprocess, &redacted)?
        {
            plan.push((name.clone(), a));
        }
    }
    if plan.is_empty() {
        return Ok(None);
    }
    // Cans are read and parsed in parallel, a few at a time (parsed JSON is several times
    // the text: a whole bucket at once would not fit in memory); one thread writes.
    // A reclean that stopped between its commit and its directory swap is finished
    // first, so the cans read are the ones the rows describe.
    let clean_root = data.clean("reports")?;
    crate::swap::finish_swap(wh, &clean_root, bucket)?;
    let clean_dir = clean_root.join(bucket);
    let chunk_size = rayon::current_num_threads().max(1);
    let read = |chunk: &[(String, Action)]| -> Result<Vec<Vec<ReportIn>>, ReportsError> {
        chunk
            .par_iter()
            .map(|(name, a)| match a {
                Action::Ingest | Action::Reingest | Action::Reprocess(_) => {
                    let can_name = name.rsplit('/').next().unwrap_or(name);
                    read_can(&clean_dir.join(can_name))
                }
                Action::Bump | Action::Retract => Ok(Vec::new()),
            })
            .collect()
    };
    let bucket_text = bucket.to_string();
    let lines = wh.transaction(|tx| -> Result<Vec<CentrifugeLine>, ReportsError> {
        let mut counters = Counters::load(tx)?;
        let mut dims = Dimensions::load(tx, &mut counters)?;
        if bodies.is_empty() {
            preload_bodies(tx, &bucket_text, bodies)?;
        }
        dims.dims.bodies = std::mem::take(bodies);
        let mut out = Out::default();
        let mut lines = Vec::new();
        let mut touched: Vec<i64> = Vec::new();
        let mut retracted: Vec<i64> = Vec::new();
        // Rows each file had before, for the views' deltas (§8).
        let old_nos: Vec<i64> = plan.iter().filter_map(|(n, _)| done.get(n).map(|d| d.autoclaved_no)).collect();
        let before = views::before(tx, &old_nos)?;
        let mut badmeta_rows = Vec::new();
        let mut badrows = 0;
        for chunk in plan.chunks(chunk_size) {
        let inputs = read(chunk)?;
        for ((name, action), reports) in chunk.iter().zip(inputs) {
            let can = cans.get(name);
            let old = done.get(name);
            let mut line = CentrifugeLine {
                filename: name.clone(),
                action: match action {
                    Action::Ingest => "ingest",
                    Action::Reingest => "reingest",
                    Action::Reprocess(_) => "reprocess",
                    Action::Bump => "version",
                    Action::Retract => "retract",
                }
                .into(),
                feeders: Vec::new(),
                reports: 0,
                measurements: 0,
                badmeta: 0,
                badrows: 0,
            };
            match action {
                Action::Retract => {
                    if let Some(o) = old {
                        delete_file(tx, o.autoclaved_no, None)?;
                        tx.execute("DELETE FROM reports_autoclaved WHERE autoclaved_no = ?", &[o.autoclaved_no.into()])?;
                        retracted.push(o.autoclaved_no);
                    }
                }
                Action::Bump => {}
                Action::Reprocess(which) => {
                    let Some(o) = old else { continue };
                    line.feeders = which.iter().map(|s| s.to_string()).collect();
                    let table_feeders: Vec<&dyn Feeder> =
                        FEEDERS.iter().copied().filter(|f| which.contains(&f.name()) && f.sink() == Sink::Table).collect();
                    delete_file(tx, o.autoclaved_no, Some(&table_feeders))?;
                    let r = tx.query(
                        "SELECT m.measurement_uid, m.msm_no FROM reports_measurement m JOIN reports_report r ON r.report_no = m.report_no WHERE r.autoclaved_no = ?",
                        &[o.autoclaved_no.into()],
                    )?;
                    let nos: HashMap<String, i64> = r.rows.iter().map(|r| (r[0].to_text(), r[1].as_i64().unwrap_or(0))).collect();
                    let mut updates: BTreeMap<&'static str, (&'static dyn Feeder, Vec<Vec<Db>>)> = BTreeMap::new();
                    for rep in &reports {
                        for di in &rep.datums {
                            let Some(no) = nos.get(&di.uid) else { continue };
                            let Ok(msm) = rep.parse(di) else { continue };
                            let d = Datum::new(*no, &msm, fps);
                            let (_, mcols) = feed_one(&d, which, &mut dims.dims, &mut out);
                            for (f, row) in mcols {
                                updates.entry(f.name()).or_insert((f, Vec::new())).1.push(row);
                            }
                            line.measurements += 1;
                        }
                    }
                    out.updates.extend(updates.into_values());
                    touched.push(o.autoclaved_no);
                }
                Action::Ingest | Action::Reingest => {
                    let Some(can) = can else { continue };
                    let autoclaved_no = match old {
                        Some(o) => o.autoclaved_no,
                        None => counters.take("autoclaved"),
                    };
                    // Numbers kept across reingest: report by textname + src_sha1, measurement
                    // by its rank in the report and src_sha1.
                    let mut old_reports: HashMap<(String, String), i64> = HashMap::new();
                    let mut old_msms: HashMap<i64, Vec<(String, i64)>> = HashMap::new();
                    if let Some(o) = old {
                        let r = tx.query("SELECT textname, src_sha1, report_no FROM reports_report WHERE autoclaved_no = ?", &[o.autoclaved_no.into()])?;
                        for row in &r.rows {
                            old_reports.insert((row[0].to_text(), row[1].to_text()), row[2].as_i64().unwrap_or(0));
                        }
                        let r = tx.query(
                            "SELECT m.report_no, m.src_sha1, m.msm_no FROM reports_measurement m JOIN reports_report r ON r.report_no = m.report_no
                             WHERE r.autoclaved_no = ? ORDER BY m.report_no, m.frame_off, m.intra_off",
                            &[o.autoclaved_no.into()],
                        )?;
                        for row in &r.rows {
                            old_msms.entry(row[0].as_i64().unwrap_or(0)).or_default().push((row[1].to_text(), row[2].as_i64().unwrap_or(0)));
                        }
                        delete_file(tx, o.autoclaved_no, None)?;
                        tx.execute("DELETE FROM reports_autoclaved WHERE autoclaved_no = ?", &[o.autoclaved_no.into()])?;
                    }
                    let all: Vec<&'static str> = FEEDERS.iter().map(|f| f.name()).collect();
                    line.feeders = all.iter().map(|s| s.to_string()).collect();
                    let mut kept = 0u64;
                    for rep in &reports {
                        // The reference datum: the first whose metadata is valid.
                        let reference = rep.datums.iter().find_map(|d| rep.parse(d).ok().filter(|m| bad_meta(m).is_none()));
                        let Some(reference) = reference.as_ref() else {
                            for d in &rep.datums {
                                let reason = match rep.parse(d) {
                                    Ok(m) => bad_meta(&m).unwrap_or_default(),
                                    Err(e) => format!("unreadable datum {}: {e}", d.uid),
                                };
                                badmeta_rows.push(vec![Db::from(autoclaved_no), Db::Null, format!("{}: {reason}", d.uid).into()]);
                                line.badmeta += 1;
                            }
                            continue;
                        };
                        let key = (rep.textname.clone(), rep.src_sha1.clone());
                        let report_no = match old_reports.get(&key) {
                            Some(n) => {
                                kept += 1;
                                *n
                            }
                            None => counters.take("report"),
                        };
                        let olds = old_msms.get(&report_no).cloned().unwrap_or_default();
                        let sw = [
                            field_text(reference, "test_name"),
                            field_text(reference, "test_version"),
                            field_text(reference, "software_name"),
                            field_text(reference, "software_version"),
                        ];
                        let software_no = dims.software_no(sw, &mut counters);
                        let mut report_id = field_text(reference, "report_id");
                        if report_id.is_empty() {
                            let raw = hex::decode(&rep.src_sha1).unwrap_or_default();
                            report_id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
                        }
                        let asn: i64 = field_text(reference, "probe_asn").trim_start_matches("AS").parse().unwrap_or(0);
                        let ip = field_text(reference, "probe_ip");
                        let ip = if ip.is_empty() || ip == "127.0.0.1" { Db::Null } else { Db::from(ip) };
                        let tst = field_text(reference, "test_start_time");
                        out.push(
                            "reports_report",
                            &["report_no", "autoclaved_no", "textname", "src_sha1", "report_id", "test_start_time", "probe_cc", "probe_asn", "probe_ip", "test_name", "software_no", "badtail"],
                            vec![vec![
                                report_no.into(),
                                autoclaved_no.into(),
                                rep.textname.as_str().into(),
                                rep.src_sha1.as_str().into(),
                                report_id.into(),
                                if tst.is_empty() { Db::Null } else { tst.into() },
                                field_text(reference, "probe_cc").into(),
                                asn.into(),
                                ip,
                                field_text(reference, "test_name").into(),
                                software_no.into(),
                                rep.src_cutoff.map_or(Db::Null, Db::from),
                            ]],
                        );
                        line.reports += 1;
                        let mut rank = 0usize;
                        for di in &rep.datums {
                            let parsed = rep.parse(di);
                            let msm = match &parsed {
                                Ok(m) => m,
                                Err(e) => {
                                    badmeta_rows.push(vec![Db::from(autoclaved_no), report_no.into(), format!("{}: unreadable datum: {e}", di.uid).into()]);
                                    line.badmeta += 1;
                                    continue;
                                }
                            };
                            let differs = REPORT_FIELDS.iter().find(|k| field_text(msm, k) != field_text(reference, k));
                            if let Some(k) = differs.map(|k| format!("{k} differs from the report's")).or_else(|| bad_meta(msm)) {
                                badmeta_rows.push(vec![Db::from(autoclaved_no), report_no.into(), format!("{}: {k}", di.uid).into()]);
                                line.badmeta += 1;
                                continue;
                            }
                            let msm_no = match olds.get(rank) {
                                Some((sha, n)) if *sha == di.src_sha1 => *n,
                                _ => counters.take("msm"),
                            };
                            rank += 1;
                            let d = Datum::new(msm_no, msm, fps);
                            let (exc, mcols) = feed_one(&d, &all, &mut dims.dims, &mut out);
                            let input = match msm.get("input") {
                                Some(J::String(s)) => Some(s.clone()),
                                Some(J::Array(l)) => Some(l.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect::<Vec<_>>().join(":")),
                                Some(J::Null) | None => None,
                                Some(v) => Some(v.to_string()),
                            };
                            let input_no = input.map(|i| dims.input_no(&i, &mut counters));
                            let test = d.test().to_string();
                            let residual = feeders::residual(&test, d.tk()).map(|r| dims.residual_no(&r, &mut counters));
                            let runtime = msm.get("test_runtime").and_then(J::as_f64);
                            let mst = field_text(msm, "measurement_start_time");
                            let mut row = vec![
                                Db::from(msm_no),
                                report_no.into(),
                                di.uid.as_str().into(),
                                di.id.as_str().into(),
                                di.loc.frame_off.into(),
                                di.loc.frame_size.into(),
                                di.loc.intra_off.into(),
                                di.loc.intra_size.into(),
                                di.src_sha1.as_str().into(),
                                if mst.is_empty() { Db::Null } else { mst.into() },
                                runtime.map_or(Db::Null, Db::from),
                                input_no.map_or(Db::Null, Db::from),
                                residual.map_or(Db::Null, Db::from),
                                if exc.is_empty() { Db::Null } else { J::from(exc).to_string().into() },
                            ];
                            let mut cols: Vec<&'static str> = MEASUREMENT_COLS.to_vec();
                            for f in FEEDERS.iter().filter(|f| f.sink() == Sink::Measurement) {
                                let vals = mcols.iter().find(|(g, _)| g.name() == f.name()).map(|(_, r)| r.clone());
                                for (i, c) in f.columns().iter().enumerate().skip(1) {
                                    cols.push(c);
                                    row.push(vals.as_ref().and_then(|v| v.get(i).cloned()).unwrap_or(Db::Null));
                                }
                            }
                            out.push("reports_measurement", &cols, vec![row]);
                            line.measurements += 1;
                        }
                    }
                    tracing::debug!(file = %name, reports = line.reports, kept_reports = kept, "File fed.");
                    tx.execute(
                        "INSERT INTO reports_autoclaved (autoclaved_no, filename, bucket_date, code_ver, fp_digest, file_size, file_crc32, file_sha1)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        &[
                            autoclaved_no.into(),
                            can.filename.as_str().into(),
                            bucket_text.as_str().into(),
                            versions.code_ver.into(),
                            digest.into(),
                            can.file_size.into(),
                            can.file_crc32.into(),
                            can.file_sha1.as_str().into(),
                        ],
                    )?;
                    touched.push(autoclaved_no);
                }
            }
            if matches!(action, Action::Reprocess(_) | Action::Bump) {
                if let Some(o) = old {
                    tx.execute(
                        "UPDATE reports_autoclaved SET code_ver = ?, fp_digest = ? WHERE autoclaved_no = ?",
                        &[versions.code_ver.into(), digest.into(), o.autoclaved_no.into()],
                    )?;
                }
            }
            lines.push(line);
        }
        badrows += flush(tx, &mut dims, &mut out, &mut badmeta_rows, versions.code_ver)?;
        }
        if let Some(l) = lines.last_mut() {
            l.badrows = badrows;
        }
        counters.next.insert("domain".into(), dims.dims.next_domain);
        *bodies = std::mem::take(&mut dims.dims.bodies);
        counters.save(tx)?;
        views::after(tx, before, &touched, &retracted)?;
        catalog::set_partition(
            tx,
            &catalog::Partition {
                kind: "reports".into(),
                key: bucket_text.clone(),
                processor: "centrifuge".into(),
                code_version: versions.code_ver,
                state: PartitionState::Done,
                error: None,
            },
        )?;
        catalog::set_processor_version(tx, "reports", "centrifuge", versions.code_ver)?;
        Ok(lines)
    })?;
    Ok(Some(lines))
}

/// Loads what a chunk of files gave and clears it (the numbers stay known in `dims`).
/// Dimension rows first (others refer to them), then reports, measurements, the rest.
fn flush(
    tx: &mut dyn Sql,
    dims: &mut Dimensions,
    out: &mut Out,
    badmeta: &mut Vec<Vec<Db>>,
    code_ver: u32,
) -> Result<u64, WarehouseError> {
    let mut badrows = 0;
    badrows +=
        load(tx, "reports_domain", &["domain_no", "domain"], &dims.dims.new_domains, code_ver)?;
    badrows += load(
        tx,
        "reports_input",
        &["input_no", "input", "input_sha256", "domain_no"],
        &dims.new_inputs,
        code_ver,
    )?;
    badrows += load(
        tx,
        "reports_software",
        &["software_no", "test_name", "test_version", "software_name", "software_version"],
        &dims.new_software,
        code_ver,
    )?;
    badrows += load(
        tx,
        "reports_residual",
        &["residual_no", "residual", "residual_sha256"],
        &dims.new_residuals,
        code_ver,
    )?;
    badrows +=
        load(tx, "reports_badmeta", &["autoclaved_no", "report_no", "reason"], badmeta, code_ver)?;
    dims.dims.new_domains.clear();
    dims.new_inputs.clear();
    dims.new_software.clear();
    dims.new_residuals.clear();
    badmeta.clear();
    let order = ["reports_report", "reports_measurement"];
    for t in order {
        if let Some((cols, rows)) = out.tables.get(t) {
            badrows += load(tx, t, cols, rows, code_ver)?;
        }
    }
    for (t, (cols, rows)) in &out.tables {
        if !order.contains(t) {
            badrows += load(tx, t, cols, rows, code_ver)?;
        }
    }
    for (f, rows) in &out.updates {
        update_measurements(tx, *f, rows)?;
    }
    *out = Out::default();
    Ok(badrows)
}

/// Deletes a file's rows: every feeder's (or only `only`'s Table feeders'), and with
/// `None` also its measurements, reports and badmeta rows.
fn delete_file(
    tx: &mut dyn Sql,
    autoclaved_no: i64,
    only: Option<&[&dyn Feeder]>,
) -> Result<(), WarehouseError> {
    let sub = "SELECT m.msm_no FROM reports_measurement m JOIN reports_report r ON r.report_no = m.report_no WHERE r.autoclaved_no = ?";
    let all: Vec<&dyn Feeder> = FEEDERS.to_vec();
    let feeders = only.unwrap_or(&all);
    for f in feeders.iter().filter(|f| f.sink() == Sink::Table) {
        tx.execute(
            &format!("DELETE FROM {} WHERE msm_no IN ({sub})", f.table()),
            &[autoclaved_no.into()],
        )?;
    }
    if only.is_none() {
        tx.execute(
            "DELETE FROM reports_measurement WHERE report_no IN (SELECT report_no FROM reports_report WHERE autoclaved_no = ?)",
            &[autoclaved_no.into()],
        )?;
        tx.execute("DELETE FROM reports_report WHERE autoclaved_no = ?", &[autoclaved_no.into()])?;
        tx.execute("DELETE FROM reports_badmeta WHERE autoclaved_no = ?", &[autoclaved_no.into()])?;
    }
    Ok(())
}

/// Updates Measurement-sink columns in place (§6.3 `score`): rows go to a scratch table
/// through the bulk path, then one UPDATE joins them in.
fn update_measurements(
    tx: &mut dyn Sql,
    f: &dyn Feeder,
    rows: &[Vec<Db>],
) -> Result<(), WarehouseError> {
    if rows.is_empty() {
        return Ok(());
    }
    let cols = f.columns();
    let tmp = "reports_tmp_update";
    let defs: Vec<String> = cols
        .iter()
        .map(|c| format!("{c} {}", if *c == "msm_no" { "BIGINT" } else { "TEXT" }))
        .collect();
    tx.batch(&format!(
        "DROP TABLE IF EXISTS {tmp}; CREATE TEMP TABLE {tmp} ({})",
        defs.join(", ")
    ))?;
    // Scratch columns are TEXT: integers go as text and are cast back.
    let text_rows: Vec<Vec<Db>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(i, v)| {
                    if i == 0 {
                        v.clone()
                    } else if v.is_null() {
                        Db::Null
                    } else {
                        Db::from(v.to_text())
                    }
                })
                .collect()
        })
        .collect();
    tx.bulk_insert(tmp, cols, &text_rows)?;
    let ints: BTreeSet<&str> = ["anomaly", "confirmed", "msm_failure"].into();
    let sets: Vec<String> = cols
        .iter()
        .skip(1)
        .map(|c| {
            let src =
                format!("(SELECT t.{c} FROM {tmp} t WHERE t.msm_no = reports_measurement.msm_no)");
            if ints.contains(c) {
                format!("{c} = CAST({src} AS BIGINT)")
            } else {
                format!("{c} = {src}")
            }
        })
        .collect();
    tx.execute(
        &format!(
            "UPDATE reports_measurement SET {} WHERE msm_no IN (SELECT msm_no FROM {tmp})",
            sets.join(", ")
        ),
        &[],
    )?;
    tx.batch(&format!("DROP TABLE {tmp}"))?;
    Ok(())
}

/// Loads rows through the bulk path; when the backend refuses the batch, row by row, each
/// refused row going to `reports_badrow` instead of failing the bucket (§6.6).
fn load(
    tx: &mut dyn Sql,
    table: &str,
    cols: &[&str],
    rows: &[Vec<Db>],
    code_ver: u32,
) -> Result<u64, WarehouseError> {
    if rows.is_empty() {
        return Ok(0);
    }
    tx.execute("SAVEPOINT reports_load", &[])?;
    match tx.bulk_insert(table, cols, rows) {
        Ok(_) => {
            tx.execute("RELEASE SAVEPOINT reports_load", &[])?;
            return Ok(0);
        }
        Err(e) if e.exit() == vantage_core::Exit::Storage => return Err(e),
        Err(_) => tx.execute("ROLLBACK TO SAVEPOINT reports_load", &[])?,
    };
    let mut bad = 0;
    for row in rows {
        tx.execute("SAVEPOINT reports_row", &[])?;
        match tx.bulk_insert(table, cols, std::slice::from_ref(row)) {
            Ok(_) => {
                tx.execute("RELEASE SAVEPOINT reports_row", &[])?;
            }
            Err(e) => {
                tx.execute("ROLLBACK TO SAVEPOINT reports_row", &[])?;
                let datum: serde_json::Map<String, J> =
                    cols.iter().zip(row).map(|(c, v)| (c.to_string(), v.to_json())).collect();
                tx.execute(
                    "INSERT INTO reports_badrow (tbl, code_ver, datum, reason) VALUES (?, ?, ?, ?)",
                    &[
                        table.into(),
                        code_ver.into(),
                        Db::Blob(J::Object(datum).to_string().into_bytes()),
                        e.to_string().into(),
                    ],
                )?;
                bad += 1;
            }
        }
    }
    tx.execute("RELEASE SAVEPOINT reports_load", &[])?;
    tracing::warn!(table, rows = bad, "Rows refused by the backend kept in reports_badrow.");
    Ok(bad)
}

use vantage_core::HasExit as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("http://www.example.com/x"), Some("www.example.com"));
        assert_eq!(url_host("https://u@h:8080?q"), Some("h"));
        assert_eq!(url_host("http://[::1]:80/"), Some("::1"));
        assert_eq!(url_host("example.com"), None);
    }

    #[test]
    fn metadata_checks() {
        assert!(bad_meta(&serde_json::json!({"probe_cc": "IT", "probe_asn": "AS30722"})).is_none());
        assert!(bad_meta(&serde_json::json!({"probe_cc": "it", "probe_asn": "AS1"})).is_some());
        assert!(bad_meta(&serde_json::json!({"probe_cc": "IT", "probe_asn": "AS99999999999"}))
            .is_some());
    }
}
