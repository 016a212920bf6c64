//! The feeders of reports spec §6.3: one [`Feeder`] per table it fills, listed once in
//! [`FEEDERS`]. Deleting, re-feeding, bulk loading and error accounting are written once,
//! over that list, in the stage (`centrifuge/mod.rs`); a feeder only turns one measurement
//! into rows.
//!
//! `report` and `measurement` are not in the list: they give the numbers every other row
//! refers to (report_no, msm_no), so the stage builds them itself, around the feeders.

use std::cell::OnceCell;
use std::collections::{BTreeSet, HashMap};

use serde_json::Value as J;
use sha2::{Digest, Sha256};
use vantage_warehouse::Value as Db;

use crate::fingerprint::{bytes_of, is_tor, FingerprintSet, Matches};
use crate::score::{self, Scored};
use crate::verdict::{self, Verdict};

/// Where a feeder's rows go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// Rows of its own table, keyed by msm_no first: deleted and re-inserted.
    Table,
    /// Columns of `reports_measurement` (first value msm_no): part of the measurement row
    /// when it is inserted, updated in place when reprocessed.
    Measurement,
}

/// A feeder's failure on one measurement: kept in `reports_measurement.exc`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{feeder}: {message}")]
pub struct FeedError {
    /// The feeder.
    pub feeder: &'static str,
    /// What went wrong.
    pub message: String,
}

/// Numbers of the shared dimension tables (`reports_domain`, ...), looked up or given
/// inside the bucket's transaction.
#[derive(Debug, Default)]
pub struct Dims {
    /// domain → domain_no.
    pub domain: HashMap<String, i64>,
    /// Rows of `reports_domain` new in this bucket.
    pub new_domains: Vec<Vec<Db>>,
    /// The next domain_no.
    pub next_domain: i64,
    /// Simhashes of bodies seen before, by sha256 (§6.4).
    pub bodies: crate::simhash::BodyHashes,
}

impl Dims {
    /// The domain_no of a host name (trailing dot removed), numbered on first sight.
    pub fn domain_no(&mut self, name: &str) -> i64 {
        let d = name.trim_end_matches('.').to_lowercase();
        if let Some(n) = self.domain.get(&d) {
            return *n;
        }
        let n = self.next_domain;
        self.next_domain += 1;
        self.new_domains.push(vec![n.into(), d.as_str().into()]);
        self.domain.insert(d, n);
        n
    }
}

/// One measurement as feeders see it, with what several of them need computed once.
pub struct Datum<'a> {
    /// Its number.
    pub msm_no: i64,
    /// The normalized measurement.
    pub msm: &'a J,
    /// The loaded fingerprints.
    pub fps: &'a FingerprintSet,
    verdict: OnceCell<Verdict>,
    matches: OnceCell<Matches<'a>>,
}

impl<'a> Datum<'a> {
    /// A datum to feed.
    pub fn new(msm_no: i64, msm: &'a J, fps: &'a FingerprintSet) -> Datum<'a> {
        Datum { msm_no, msm, fps, verdict: OnceCell::new(), matches: OnceCell::new() }
    }

    /// `test_name`.
    pub fn test(&self) -> &str {
        self.msm.get("test_name").and_then(J::as_str).unwrap_or("")
    }

    /// `test_keys` (null when absent).
    pub fn tk(&self) -> &J {
        self.msm.get("test_keys").unwrap_or(&J::Null)
    }

    /// The web_connectivity verdict stored for it.
    pub fn verdict(&self) -> &Verdict {
        self.verdict.get_or_init(|| verdict::stored_verdict(self.tk()))
    }

    /// Its fingerprint matches (§7.3).
    pub fn matches(&self) -> &Matches<'a> {
        self.matches.get_or_init(|| self.fps.match_measurement(self.msm))
    }

    /// Its scores (§7.4).
    pub fn scored(&self) -> Scored {
        let blocking = if self.test() == "web_connectivity" {
            self.verdict().blocking.clone()
        } else {
            J::Null
        };
        score::score(self.msm, &blocking, self.matches())
    }
}

/// Fills one `reports_*` table from a measurement (reports spec §6.3).
pub trait Feeder: Sync {
    /// The feeder's name, the table's without `reports_` (`score` updates
    /// reports_measurement).
    fn name(&self) -> &'static str;
    /// The table written.
    fn table(&self) -> &'static str;
    /// Its columns, msm_no first.
    fn columns(&self) -> &'static [&'static str];
    /// Files centrifuged at a lower CODE_VER need this feeder again.
    fn min_compat_code_ver(&self) -> u32 {
        1
    }
    /// True for the feeders that read fingerprints: they re-run when the loaded set changes.
    fn uses_fingerprints(&self) -> bool {
        false
    }
    /// Where rows go.
    fn sink(&self) -> Sink {
        Sink::Table
    }
    /// Top-level `test_keys` members this feeder accounts for (left out of the residual).
    fn consumes(&self, _test: &str) -> &'static [&'static str] {
        &[]
    }
    /// The rows of one measurement.
    fn feed(&self, d: &Datum<'_>, dims: &mut Dims, out: &mut Vec<Vec<Db>>)
        -> Result<(), FeedError>;
}

/// Every feeder, in the order they run.
pub static FEEDERS: &[&dyn Feeder] = &[
    &Tcp,
    &DnsA,
    &VanillaTor,
    &HttpControl,
    &HttpRequest,
    &HttpRequestFp,
    &HttpVerdict,
    &Vendor,
    &ScoreFeeder,
];

fn text(v: Option<&J>) -> Db {
    match v {
        None | Some(J::Null) => Db::Null,
        Some(J::String(s)) => s.as_str().into(),
        Some(other) => other.to_string().into(),
    }
}

fn int(v: Option<&J>) -> Db {
    match v.and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15).map(|f| f as i64))
    }) {
        Some(i) => i.into(),
        None => Db::Null,
    }
}

fn boolean(v: Option<&J>) -> Db {
    match v {
        Some(J::Bool(b)) => (*b).into(),
        _ => Db::Null,
    }
}

fn json_text(v: &J) -> Db {
    v.to_string().into()
}

fn is_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

/// `reports_tcp`.
pub struct Tcp;
impl Feeder for Tcp {
    fn name(&self) -> &'static str {
        "tcp"
    }
    fn table(&self) -> &'static str {
        "reports_tcp"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["msm_no", "ip", "port", "control_failure", "test_failure", "control_api_failure"]
    }
    fn consumes(&self, _test: &str) -> &'static [&'static str] {
        &["tcp_connect"]
    }
    fn feed(&self, d: &Datum<'_>, _: &mut Dims, out: &mut Vec<Vec<Db>>) -> Result<(), FeedError> {
        let tk = d.tk();
        let Some(list) = tk.get("tcp_connect").and_then(J::as_array) else { return Ok(()) };
        let control = tk.pointer("/control/tcp_connect").and_then(J::as_object);
        for t in list {
            let Some(ip) = t.get("ip").and_then(J::as_str).filter(|ip| is_ip(ip)) else { continue };
            let port = t.get("port");
            let key = match (ip.contains(':'), port.and_then(J::as_i64)) {
                (true, Some(p)) => format!("[{ip}]:{p}"),
                (false, Some(p)) => format!("{ip}:{p}"),
                _ => String::new(),
            };
            let cf = control.and_then(|c| c.get(&key)).and_then(|c| c.get("failure"));
            out.push(vec![
                d.msm_no.into(),
                ip.into(),
                int(port),
                text(cf),
                text(t.pointer("/status/failure")),
                text(tk.get("control_failure")),
            ]);
        }
        Ok(())
    }
}

/// `reports_dns_a`.
pub struct DnsA;
impl Feeder for DnsA {
    fn name(&self) -> &'static str {
        "dns_a"
    }
    fn table(&self) -> &'static str {
        "reports_dns_a"
    }
    fn columns(&self) -> &'static [&'static str] {
        &[
            "msm_no",
            "domain_no",
            "control_ip",
            "test_ip",
            "control_cname",
            "test_cname",
            "ttl",
            "resolver_hostname",
            "client_resolver",
            "control_failure",
            "test_failure",
        ]
    }
    fn consumes(&self, _test: &str) -> &'static [&'static str] {
        &["queries", "client_resolver"]
    }
    fn feed(
        &self,
        d: &Datum<'_>,
        dims: &mut Dims,
        out: &mut Vec<Vec<Db>>,
    ) -> Result<(), FeedError> {
        let tk = d.tk();
        let Some(queries) = tk.get("queries").and_then(J::as_array) else { return Ok(()) };
        let a: Vec<&J> = queries
            .iter()
            .filter(|q| q.get("query_type").and_then(J::as_str).is_none_or(|t| t == "A"))
            .collect();
        let hosts: BTreeSet<&str> =
            a.iter().filter_map(|q| q.get("hostname").and_then(J::as_str)).collect();
        let ambiguous = hosts.len() > 1;
        let (mut cips, mut cnames) = (Vec::new(), Vec::new());
        for addr in tk.pointer("/control/dns/addrs").and_then(J::as_array).into_iter().flatten() {
            if let Some(s) = addr.as_str() {
                if is_ip(s) {
                    cips.push(s.to_string());
                } else {
                    cnames.push(dims.domain_no(s));
                }
            }
        }
        cips.sort();
        let cfail = tk.pointer("/control/dns/failure");
        for q in a {
            let answers = q.get("answers").and_then(J::as_array).cloned().unwrap_or_default();
            let mut ips: Vec<String> = answers
                .iter()
                .filter(|a| a.get("answer_type").and_then(J::as_str) == Some("A"))
                .filter_map(|a| a.get("ipv4").and_then(J::as_str).map(str::to_string))
                .collect();
            ips.sort();
            let tc: Vec<i64> = answers
                .iter()
                .filter(|a| a.get("answer_type").and_then(J::as_str) == Some("CNAME"))
                .filter_map(|a| a.get("hostname").and_then(J::as_str))
                .map(|h| dims.domain_no(h))
                .collect();
            let ttl = answers.first().and_then(|a| a.get("ttl"));
            let ttl = match ttl {
                Some(J::String(s)) => s.parse::<i64>().map(Db::from).unwrap_or(Db::Null),
                other => int(other),
            };
            let domain = q.get("hostname").and_then(J::as_str).map(|h| dims.domain_no(h));
            let (cip, ccn, cf) = if ambiguous {
                (Db::Null, Db::Null, Db::from("[ambiguous]"))
            } else {
                (
                    json_text(&J::from(cips.clone())),
                    json_text(&J::from(cnames.clone())),
                    text(cfail),
                )
            };
            out.push(vec![
                d.msm_no.into(),
                domain.map_or(Db::Null, Db::from),
                cip,
                json_text(&J::from(ips)),
                ccn,
                json_text(&J::from(tc)),
                ttl,
                text(q.get("resolver_hostname")),
                text(tk.get("client_resolver")),
                cf,
                text(q.get("failure")),
            ]);
        }
        Ok(())
    }
}

/// Seconds of day of a Tor log line (`Aug 03 05:52:09.000 [notice] ...`).
fn tor_log_time(line: &str) -> Option<(f64, &str)> {
    let mut parts = line.splitn(4, ' ');
    let (_mon, _day, hms) = (parts.next()?, parts.next()?, parts.next()?);
    let rest = parts.next().unwrap_or("");
    let mut f = hms.split(':');
    let h: f64 = f.next()?.parse().ok()?;
    let m: f64 = f.next()?.parse().ok()?;
    let s: f64 = f.next()?.parse().ok()?;
    Some((h * 3600.0 + m * 60.0 + s, rest))
}

/// `reports_vanilla_tor`.
pub struct VanillaTor;
impl Feeder for VanillaTor {
    fn name(&self) -> &'static str {
        "vanilla_tor"
    }
    fn table(&self) -> &'static str {
        "reports_vanilla_tor"
    }
    fn columns(&self) -> &'static [&'static str] {
        &[
            "msm_no",
            "timeout",
            "error",
            "tor_progress",
            "success",
            "tor_progress_tag",
            "tor_progress_summary",
            "tor_version",
            "tor_log",
        ]
    }
    fn consumes(&self, test: &str) -> &'static [&'static str] {
        if test == "vanilla_tor" {
            &[
                "timeout",
                "error",
                "tor_progress",
                "success",
                "tor_progress_tag",
                "tor_progress_summary",
                "tor_version",
                "tor_log",
                "tor_logs",
            ]
        } else {
            &[]
        }
    }
    fn feed(&self, d: &Datum<'_>, _: &mut Dims, out: &mut Vec<Vec<Db>>) -> Result<(), FeedError> {
        if d.test() != "vanilla_tor" {
            return Ok(());
        }
        let tk = d.tk();
        let lines: Vec<String> = match (tk.get("tor_log"), tk.get("tor_logs")) {
            (Some(J::String(t)), _) => t.lines().map(str::to_string).collect(),
            (_, Some(J::Array(l))) => l.iter().filter_map(J::as_str).map(str::to_string).collect(),
            _ => Vec::new(),
        };
        let success = tk.get("success").filter(|s| !s.is_null());
        let progress = tk.get("tor_progress").and_then(J::as_i64).unwrap_or(0);
        let timeout = tk.get("timeout").and_then(J::as_i64).unwrap_or(0);
        let error = tk.get("error").filter(|e| !e.is_null());
        if success.is_none() && lines.is_empty() && progress == 0 && timeout > 60 && error.is_none()
        {
            return Ok(());
        }
        // Seconds from the first line; a time earlier than the previous one crossed midnight.
        let (mut first, mut prev, mut wrap) = (None::<f64>, 0.0, 0.0);
        let log: Vec<J> = lines
            .iter()
            .map(|l| match tor_log_time(l) {
                Some((t, msg)) => {
                    if first.is_some() && t + wrap < prev {
                        wrap += 86400.0;
                    }
                    let t = t + wrap;
                    prev = t;
                    let f = *first.get_or_insert(t);
                    serde_json::json!({"t": t - f, "msg": msg})
                }
                None => serde_json::json!({"t": null, "msg": l}),
            })
            .collect();
        out.push(vec![
            d.msm_no.into(),
            int(tk.get("timeout")),
            text(tk.get("error")),
            int(tk.get("tor_progress")),
            boolean(tk.get("success")),
            text(tk.get("tor_progress_tag")),
            text(tk.get("tor_progress_summary")),
            text(tk.get("tor_version")),
            json_text(&J::from(log)),
        ]);
        Ok(())
    }
}

/// A decoded HTTP body's features (§6.4) and the columns both http feeders share.
fn http_columns(resp: &J, failure: Option<&J>, is_tor: bool, dims: &mut Dims) -> Vec<Db> {
    let headers = resp.get("headers").cloned().unwrap_or(J::Object(Default::default()));
    let mut body = bytes_of(resp.get("body").unwrap_or(&J::Null)).ok().flatten();
    let chunked = headers.as_object().is_some_and(|h| {
        h.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("transfer-encoding")
                && v.as_str().is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        })
    });
    if chunked {
        if let Some(b) = &body {
            if b.ends_with(b"\r\n0\r\n\r\n") {
                body = Some(dechunk(b).unwrap_or_else(|| b.clone()));
            }
        }
    }
    let body_length = match &body {
        Some(b) => Db::from(b.len()),
        None => int(resp.get("response_length")),
    };
    let (sha, sim, tsim, title) = match &body {
        Some(b) => {
            let t = String::from_utf8_lossy(b);
            let sha: [u8; 32] = Sha256::digest(b).into();
            let (sim, tsim) = dims.bodies.simhashes(sha, &t);
            (
                Db::from(hex::encode(sha)),
                Db::Int(sim as i64),
                Db::Int(tsim as i64),
                verdict::title(b).map_or(Db::Null, Db::from),
            )
        }
        None => (Db::Null, Db::Null, Db::Null, Db::Null),
    };
    let code = match int(resp.get("code").or_else(|| resp.get("status_code"))) {
        Db::Int(-1) => Db::Null,
        c => c,
    };
    vec![
        is_tor.into(),
        text(failure),
        code,
        body_length,
        title,
        json_text(&headers),
        sha,
        sim,
        tsim,
    ]
}

/// Undoes `Transfer-Encoding: chunked`; `None` when the framing does not parse.
fn dechunk(b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = b;
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = rest.get(eol + 2..)?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

const HTTP_COLS: [&str; 9] = [
    "is_tor",
    "failure",
    "status_code",
    "body_length",
    "title",
    "headers",
    "body_sha256",
    "body_simhash",
    "body_text_simhash",
];

/// `reports_http_control`.
pub struct HttpControl;
impl Feeder for HttpControl {
    fn name(&self) -> &'static str {
        "http_control"
    }
    fn table(&self) -> &'static str {
        "reports_http_control"
    }
    fn columns(&self) -> &'static [&'static str] {
        &[
            "msm_no",
            HTTP_COLS[0],
            HTTP_COLS[1],
            HTTP_COLS[2],
            HTTP_COLS[3],
            HTTP_COLS[4],
            HTTP_COLS[5],
            HTTP_COLS[6],
            HTTP_COLS[7],
            HTTP_COLS[8],
        ]
    }
    fn consumes(&self, _test: &str) -> &'static [&'static str] {
        &["control"]
    }
    fn feed(
        &self,
        d: &Datum<'_>,
        dims: &mut Dims,
        out: &mut Vec<Vec<Db>>,
    ) -> Result<(), FeedError> {
        let tk = d.tk();
        match d.test() {
            "web_connectivity" => {
                if let Some(c) = tk.pointer("/control/http_request").filter(|c| c.is_object()) {
                    let mut row = vec![Db::from(d.msm_no)];
                    let mut cols = http_columns(c, c.get("failure"), false, dims);
                    // The control's body_length is given, not a body.
                    cols[3] = match int(c.get("body_length")) {
                        Db::Int(-1) => Db::Null,
                        v => v,
                    };
                    row.extend(cols);
                    out.push(row);
                }
            }
            "http_requests" => {
                for r in tk
                    .get("requests")
                    .and_then(J::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|r| is_tor(r))
                {
                    let mut row = vec![Db::from(d.msm_no)];
                    row.extend(http_columns(
                        r.get("response").unwrap_or(&J::Null),
                        r.get("failure"),
                        true,
                        dims,
                    ));
                    out.push(row);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// `reports_http_request`.
pub struct HttpRequest;
impl Feeder for HttpRequest {
    fn name(&self) -> &'static str {
        "http_request"
    }
    fn table(&self) -> &'static str {
        "reports_http_request"
    }
    fn columns(&self) -> &'static [&'static str] {
        &[
            "msm_no",
            "url",
            HTTP_COLS[0],
            HTTP_COLS[1],
            HTTP_COLS[2],
            HTTP_COLS[3],
            HTTP_COLS[4],
            HTTP_COLS[5],
            HTTP_COLS[6],
            HTTP_COLS[7],
            HTTP_COLS[8],
        ]
    }
    fn consumes(&self, test: &str) -> &'static [&'static str] {
        if matches!(test, "web_connectivity" | "http_requests") {
            &["requests"]
        } else {
            &[]
        }
    }
    fn feed(
        &self,
        d: &Datum<'_>,
        dims: &mut Dims,
        out: &mut Vec<Vec<Db>>,
    ) -> Result<(), FeedError> {
        let skip_tor = match d.test() {
            "web_connectivity" => false,
            "http_requests" => true,
            _ => return Ok(()),
        };
        for r in d.tk().get("requests").and_then(J::as_array).into_iter().flatten() {
            let tor = is_tor(r);
            if skip_tor && tor {
                continue;
            }
            let mut row = vec![Db::from(d.msm_no), text(r.pointer("/request/url"))];
            row.extend(http_columns(
                r.get("response").unwrap_or(&J::Null),
                r.get("failure"),
                tor,
                dims,
            ));
            out.push(row);
        }
        Ok(())
    }
}

/// `reports_http_request_fp`: distinct fingerprint matches.
pub struct HttpRequestFp;
impl Feeder for HttpRequestFp {
    fn name(&self) -> &'static str {
        "http_request_fp"
    }
    fn table(&self) -> &'static str {
        "reports_http_request_fp"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["msm_no", "fingerprint_no"]
    }
    fn uses_fingerprints(&self) -> bool {
        true
    }
    fn feed(&self, d: &Datum<'_>, _: &mut Dims, out: &mut Vec<Vec<Db>>) -> Result<(), FeedError> {
        let nos: BTreeSet<i64> = d.matches().list.iter().map(|m| m.fp.no).collect();
        out.extend(nos.into_iter().map(|n| vec![Db::from(d.msm_no), n.into()]));
        Ok(())
    }
}

/// `reports_http_verdict`: web_connectivity only.
pub struct HttpVerdict;
impl Feeder for HttpVerdict {
    fn name(&self) -> &'static str {
        "http_verdict"
    }
    fn table(&self) -> &'static str {
        "reports_http_verdict"
    }
    fn columns(&self) -> &'static [&'static str] {
        &[
            "msm_no",
            "accessible",
            "control_failure",
            "http_experiment_failure",
            "title_match",
            "dns_consistency",
            "dns_experiment_failure",
            "body_proportion",
            "blocking",
            "blocking_source",
            "body_length_match",
            "headers_match",
            "status_code_match",
        ]
    }
    fn consumes(&self, test: &str) -> &'static [&'static str] {
        if test == "web_connectivity" {
            &[
                "accessible",
                "control_failure",
                "http_experiment_failure",
                "title_match",
                "dns_consistency",
                "dns_experiment_failure",
                "body_proportion",
                "blocking",
                "body_length_match",
                "headers_match",
                "status_code_match",
            ]
        } else {
            &[]
        }
    }
    fn feed(&self, d: &Datum<'_>, _: &mut Dims, out: &mut Vec<Vec<Db>>) -> Result<(), FeedError> {
        if d.test() != "web_connectivity" {
            return Ok(());
        }
        let tk = d.tk();
        let v = d.verdict();
        let blocking = match &v.blocking {
            J::Bool(b) => Db::from(if *b { "true" } else { "false" }),
            other => text(Some(other)),
        };
        out.push(vec![
            d.msm_no.into(),
            boolean(Some(&v.accessible)),
            text(tk.get("control_failure")),
            text(tk.get("http_experiment_failure")),
            boolean(Some(&v.title_match)),
            text(tk.get("dns_consistency")),
            text(tk.get("dns_experiment_failure")),
            v.body_proportion.as_f64().map_or(Db::Null, Db::from),
            blocking,
            v.source.into(),
            boolean(Some(&v.body_length_match)),
            boolean(Some(&v.headers_match)),
            boolean(Some(&v.status_code_match)),
        ]);
        Ok(())
    }
}

/// `reports_vendor` (§7.5).
pub struct Vendor;
impl Feeder for Vendor {
    fn name(&self) -> &'static str {
        "vendor"
    }
    fn table(&self) -> &'static str {
        "reports_vendor"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["msm_no", "vendor"]
    }
    fn feed(&self, d: &Datum<'_>, _: &mut Dims, out: &mut Vec<Vec<Db>>) -> Result<(), FeedError> {
        out.extend(score::vendors(d.msm).into_iter().map(|v| vec![Db::from(d.msm_no), v.into()]));
        Ok(())
    }
}

/// `score`: scores and flags, columns of `reports_measurement`.
pub struct ScoreFeeder;
impl Feeder for ScoreFeeder {
    fn name(&self) -> &'static str {
        "score"
    }
    fn table(&self) -> &'static str {
        "reports_measurement"
    }
    fn columns(&self) -> &'static [&'static str] {
        &["msm_no", "anomaly", "confirmed", "msm_failure", "blocking_type", "scores"]
    }
    fn uses_fingerprints(&self) -> bool {
        true
    }
    fn sink(&self) -> Sink {
        Sink::Measurement
    }
    fn feed(&self, d: &Datum<'_>, _: &mut Dims, out: &mut Vec<Vec<Db>>) -> Result<(), FeedError> {
        let s = d.scored();
        out.push(vec![
            d.msm_no.into(),
            s.anomaly.into(),
            s.confirmed.into(),
            s.failure.into(),
            s.blocking_type.map_or(Db::Null, Db::from),
            json_text(&s.scores),
        ]);
        Ok(())
    }
}

/// The residual of a measurement (§6.3): `test_keys` without what feeders consumed, its
/// values replaced by their shapes (strings `""`, numbers 0, booleans true), empty
/// containers dropped; `None` when nothing is left.
pub fn residual(test: &str, tk: &J) -> Option<J> {
    let obj = tk.as_object()?;
    let consumed: BTreeSet<&str> =
        FEEDERS.iter().flat_map(|f| f.consumes(test).iter().copied()).collect();
    let mut m = serde_json::Map::new();
    for (k, v) in obj {
        if consumed.contains(k.as_str()) {
            continue;
        }
        if let Some(s) = shape(v) {
            m.insert(k.clone(), s);
        }
    }
    (!m.is_empty()).then_some(J::Object(m))
}

fn shape(v: &J) -> Option<J> {
    match v {
        J::Null => Some(J::Null),
        J::Bool(_) => Some(J::Bool(true)),
        J::Number(_) => Some(J::from(0)),
        J::String(_) => Some(J::from("")),
        J::Array(a) => {
            let l: Vec<J> = a.iter().filter_map(shape).collect();
            (!l.is_empty()).then_some(J::Array(l))
        }
        J::Object(o) => {
            let m: serde_json::Map<String, J> =
                o.iter().filter_map(|(k, v)| shape(v).map(|s| (k.clone(), s))).collect();
            (!m.is_empty()).then_some(J::Object(m))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunks() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").as_deref(), Some(&b"abcde"[..]));
        assert_eq!(dechunk(b"zz\r\n"), None);
    }

    #[test]
    fn residual_keeps_shapes() {
        let tk =
            serde_json::json!({"tcp_connect": [1], "x": "a", "y": [], "z": {"n": 2, "b": false}});
        assert_eq!(
            residual("web_connectivity", &tk),
            Some(serde_json::json!({"x": "", "z": {"n": 0, "b": true}}))
        );
    }

    #[test]
    fn tor_log_wraps_midnight() {
        let msm = serde_json::json!({"test_name": "vanilla_tor", "test_keys": {"tor_logs": [
            "Aug 03 23:59:59.000 [notice] a", "Aug 04 00:00:01.000 [notice] b", "junk"], "success": false}});
        let fps = FingerprintSet::default();
        let d = Datum::new(1, &msm, &fps);
        let mut out = Vec::new();
        VanillaTor.feed(&d, &mut Dims::default(), &mut out).unwrap();
        let log: J = serde_json::from_str(out[0][8].as_str().unwrap()).unwrap();
        assert_eq!(log[1]["t"], J::from(2.0));
        assert!(log[2]["t"].is_null());
    }
}
