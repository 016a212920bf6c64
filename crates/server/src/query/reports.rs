//! Measurements and aggregations (reports spec §10).
//!
//! Two sources, chosen per request: `reports_measurement` with `reports_report` and
//! `reports_input` once centrifugation (§6) has filled them — verdicts included — and,
//! before that, the datum locator of autoclaving (§5.7), whose report file names carry
//! country, network and test (§2.3); verdict fields are then null and counted as ok.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};
use vantage_warehouse::{Sql, Value, WarehouseError};

use super::table_exists;

/// The filters of `/api/v1/reports/measurements` and `/aggregation`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `probe_cc`.
    pub probe_cc: Option<String>,
    /// `probe_asn`, digits only (`AS` stripped).
    pub probe_asn: Option<i64>,
    /// `test_name`.
    pub test_name: Option<String>,
    /// `input`.
    pub input: Option<String>,
    /// `domain` (host of the input URL).
    pub domain: Option<String>,
    /// `report_id`.
    pub report_id: Option<String>,
    /// Inclusive, ns.
    pub since: Option<i64>,
    /// Exclusive, ns.
    pub until: Option<i64>,
    /// `anomaly`.
    pub anomaly: Option<bool>,
    /// `confirmed`.
    pub confirmed: Option<bool>,
    /// `failure`.
    pub failure: Option<bool>,
}

/// One measurement as the listing returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `measurement_uid`.
    pub uid: String,
    /// `report_id`.
    pub report_id: String,
    /// `probe_cc`.
    pub probe_cc: String,
    /// `probe_asn` digits.
    pub probe_asn: i64,
    /// `test_name`.
    pub test_name: String,
    /// `YYYY-MM-DDThh:mm:ssZ` (the bucket's midnight before centrifugation).
    pub start_time: String,
    /// `input`.
    pub input: Option<String>,
    /// Verdicts (null before centrifugation).
    pub anomaly: Option<bool>,
    /// Confirmed blocking.
    pub confirmed: Option<bool>,
    /// Measurement failure.
    pub failure: Option<bool>,
    /// `scores` JSON.
    pub scores: Json,
    /// `blocking_type`.
    pub blocking_type: Option<String>,
}

impl Row {
    /// The spec's result object.
    pub fn to_json(&self) -> Json {
        json!({
            "measurement_uid": self.uid, "report_id": self.report_id, "probe_cc": self.probe_cc,
            "probe_asn": format!("AS{}", self.probe_asn), "test_name": self.test_name,
            "measurement_start_time": self.start_time, "input": self.input,
            "anomaly": self.anomaly, "confirmed": self.confirmed, "failure": self.failure,
            "scores": self.scores,
            "measurement_url": format!("/api/v1/reports/measurement/{}", self.uid),
        })
    }
}

/// `<T>-<CC>-AS<n>-<test_name>-<report_id>-<dfv>-probe.<ext>` → (cc, asn, test, report_id).
fn parse_name(name: &str) -> Option<(String, i64, String, String)> {
    let base = name.rsplit('/').next()?;
    let parts: Vec<&str> = base.split('-').collect();
    if parts.len() < 7 {
        return None;
    }
    let asn = parts[2].strip_prefix("AS")?.parse().ok()?;
    Some((parts[1].to_string(), asn, parts[3].to_string(), parts[4].to_string()))
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        other => other.to_text(),
    }
}

fn bool_of(v: &Value) -> Option<bool> {
    match v {
        Value::Null => None,
        Value::Int(i) => Some(*i != 0),
        Value::Text(t) => Some(t == "t" || t == "true" || t == "1"),
        _ => None,
    }
}

/// `YYYY-MM-DD hh:mm:ss` (or a PostgreSQL timestamp's text) → `YYYY-MM-DDThh:mm:ssZ`.
fn iso(ts: &str) -> String {
    let t = ts.get(..19).unwrap_or(ts).replace(' ', "T");
    if t.len() == 10 {
        format!("{t}T00:00:00Z")
    } else {
        format!("{t}Z")
    }
}

fn sql_time(ns: i64) -> String {
    let t = vantage_core::Timestamp::from_nanos(ns).to_rfc3339();
    let t = t.get(..19).unwrap_or(&t).replace('T', " ");
    t
}

/// Every measurement matching `f`, newest first (`order` = `asc` for oldest first),
/// and the total count before paging.
pub fn measurements(
    db: &mut dyn Sql,
    f: &Filter,
    asc: bool,
    offset: u64,
    limit: u64,
) -> Result<(Vec<Row>, u64), WarehouseError> {
    if centrifugation_ran(db)? {
        centrifuged(db, f, asc, offset, limit)
    } else {
        let mut all = located(db, f)?;
        if !asc {
            all.reverse();
        }
        let count = all.len() as u64;
        let page = all.into_iter().skip(offset as usize).take(limit as usize).collect();
        Ok((page, count))
    }
}

/// True once `reports_measurement` holds rows: an empty table (migrated, never filled)
/// must not hide what autoclaving already located.
fn centrifugation_ran(db: &mut dyn Sql) -> Result<bool, WarehouseError> {
    Ok(table_exists(db, "reports_measurement")?
        && !db.query("SELECT msm_no FROM reports_measurement LIMIT 1", &[])?.rows.is_empty())
}

/// Before centrifugation: the datum locator and the file names.
fn located(db: &mut dyn Sql, f: &Filter) -> Result<Vec<Row>, WarehouseError> {
    if !table_exists(db, "reports_datum_locator")? {
        return Ok(Vec::new());
    }
    if f.input.is_some()
        || f.domain.is_some()
        || f.anomaly == Some(true)
        || f.confirmed == Some(true)
        || f.failure == Some(true)
    {
        return Ok(Vec::new()); // no inputs nor verdicts are known before centrifugation
    }
    let rows = db.query(
        "SELECT l.uid, l.bucket, COALESCE(f.name, l.textname) FROM reports_datum_locator l \
         LEFT JOIN reports_file f ON f.textname = l.textname ORDER BY l.bucket, l.uid",
        &[],
    )?;
    let since = f.since.map(|n| sql_time(n)[..10].to_string());
    let until = f.until.map(sql_time);
    let mut out = Vec::new();
    for r in rows.rows {
        let (uid, bucket, name) = (text(&r[0]), text(&r[1]), text(&r[2]));
        let Some((cc, asn, test, report_id)) = parse_name(&name) else { continue };
        let keep = f.probe_cc.as_deref().is_none_or(|c| c == cc)
            && f.probe_asn.is_none_or(|a| a == asn)
            && f.test_name.as_deref().is_none_or(|t| t == test)
            && f.report_id.as_deref().is_none_or(|id| id == report_id)
            && since.as_deref().is_none_or(|s| bucket.as_str() >= s)
            && until.as_deref().is_none_or(|u| bucket.as_str() < u);
        if keep {
            out.push(Row {
                uid,
                report_id,
                probe_cc: cc,
                probe_asn: asn,
                test_name: test,
                start_time: iso(&bucket),
                input: None,
                anomaly: None,
                confirmed: None,
                failure: None,
                scores: json!({}),
                blocking_type: None,
            });
        }
    }
    Ok(out)
}

const CENTRIFUGED: &str = "SELECT m.measurement_uid, r.report_id, r.probe_cc, r.probe_asn, \
     r.test_name, CAST(m.measurement_start_time AS TEXT), i.input, m.anomaly, m.confirmed, \
     m.msm_failure, CAST(m.scores AS TEXT), m.blocking_type \
     FROM reports_measurement m JOIN reports_report r ON r.report_no = m.report_no \
     LEFT JOIN reports_input i ON i.input_no = m.input_no";

/// The WHERE clause of a filter. Both backends store `measurement_start_time` as
/// `YYYY-MM-DD hh:mm:ss` text and the verdicts as 0/1 integers, so one form serves both.
fn where_clause(f: &Filter) -> (String, Vec<Value>) {
    let mut w = Vec::new();
    let mut p: Vec<Value> = Vec::new();
    let mut add = |clause: &str, v: Value| {
        w.push(clause.to_string());
        p.push(v);
    };
    if let Some(v) = &f.probe_cc {
        add("r.probe_cc = ?", v.into());
    }
    if let Some(v) = f.probe_asn {
        add("r.probe_asn = ?", Value::Int(v));
    }
    if let Some(v) = &f.test_name {
        add("r.test_name = ?", v.into());
    }
    if let Some(v) = &f.input {
        add("i.input = ?", v.into());
    }
    if let Some(v) = &f.report_id {
        add("r.report_id = ?", v.into());
    }
    if let Some(v) = &f.domain {
        add("i.domain_no = (SELECT domain_no FROM reports_domain WHERE domain = ?)", v.into());
    }
    if let Some(v) = f.since {
        add("m.measurement_start_time >= ?", sql_time(v).into());
    }
    if let Some(v) = f.until {
        add("m.measurement_start_time < ?", sql_time(v).into());
    }
    let b = |x: bool| Value::Int(i64::from(x));
    if let Some(v) = f.anomaly {
        add("COALESCE(m.anomaly, 0) = ?", b(v));
    }
    if let Some(v) = f.confirmed {
        add("COALESCE(m.confirmed, 0) = ?", b(v));
    }
    if let Some(v) = f.failure {
        add("COALESCE(m.msm_failure, 0) = ?", b(v));
    }
    let clause = if w.is_empty() { String::new() } else { format!(" WHERE {}", w.join(" AND ")) };
    (clause, p)
}

fn centrifuged(
    db: &mut dyn Sql,
    f: &Filter,
    asc: bool,
    offset: u64,
    limit: u64,
) -> Result<(Vec<Row>, u64), WarehouseError> {
    let (clause, params) = where_clause(f);
    let count_sql = format!(
        "SELECT COUNT(*) FROM reports_measurement m JOIN reports_report r ON r.report_no = m.report_no \
         LEFT JOIN reports_input i ON i.input_no = m.input_no{clause}"
    );
    let count = db.query_i64(&count_sql, &params)?.unwrap_or(0).max(0) as u64;
    let dir = if asc { "ASC" } else { "DESC" };
    let sql = format!(
        "{CENTRIFUGED}{clause} ORDER BY m.measurement_start_time {dir}, m.measurement_uid {dir} \
         LIMIT {limit} OFFSET {offset}"
    );
    let rows = db.query(&sql, &params)?;
    let out = rows
        .rows
        .iter()
        .map(|r| Row {
            uid: text(&r[0]),
            report_id: text(&r[1]),
            probe_cc: text(&r[2]),
            probe_asn: r[3].as_i64().unwrap_or(0),
            test_name: text(&r[4]),
            start_time: iso(&text(&r[5])),
            input: r[6].as_str().map(str::to_string),
            anomaly: bool_of(&r[7]),
            confirmed: bool_of(&r[8]),
            failure: bool_of(&r[9]),
            scores: r[10].as_str().and_then(|s| serde_json::from_str(s).ok()).unwrap_or(json!({})),
            blocking_type: r[11].as_str().map(str::to_string),
        })
        .collect();
    Ok((out, count))
}

/// The axes `/aggregation` accepts.
pub const AXES: &[&str] =
    &["measurement_start_day", "probe_cc", "probe_asn", "test_name", "input", "blocking_type"];

fn axis_value(r: &Row, axis: &str) -> Json {
    match axis {
        "measurement_start_day" => json!(r.start_time.get(..10).unwrap_or("")),
        "probe_cc" => json!(r.probe_cc),
        "probe_asn" => json!(format!("AS{}", r.probe_asn)),
        "test_name" => json!(r.test_name),
        "input" => json!(r.input),
        _ => json!(r.blocking_type),
    }
}

/// `/aggregation`: counts per value of one or two axes (none: one total row). Counted
/// over the rows, so both sources give the same definitions: anomaly = anomaly ∧
/// ¬confirmed ∧ ¬failure; confirmed = confirmed ∧ ¬failure; ok = none of them.
pub fn aggregation(db: &mut dyn Sql, f: &Filter, axes: &[&str]) -> Result<Json, WarehouseError> {
    let (rows, _) = measurements(db, f, true, 0, u64::MAX / 2)?;
    let mut groups: BTreeMap<String, (Vec<Json>, [u64; 5])> = BTreeMap::new();
    for r in &rows {
        let key: Vec<Json> = axes.iter().map(|a| axis_value(r, a)).collect();
        let e =
            groups.entry(serde_json::to_string(&key).unwrap_or_default()).or_insert((key, [0; 5]));
        let (a, c, fl) =
            (r.anomaly == Some(true), r.confirmed == Some(true), r.failure == Some(true));
        e.1[0] += u64::from(a && !c && !fl);
        e.1[1] += u64::from(c && !fl);
        e.1[2] += u64::from(fl);
        e.1[3] += u64::from(!a && !c && !fl);
        e.1[4] += 1;
    }
    let result: Vec<Json> = groups
        .into_values()
        .map(|(key, n)| {
            let mut o = serde_json::Map::new();
            for (a, v) in axes.iter().zip(key) {
                o.insert((*a).to_string(), v);
            }
            for (name, v) in [
                "anomaly_count",
                "confirmed_count",
                "failure_count",
                "ok_count",
                "measurement_count",
            ]
            .iter()
            .zip(n)
            {
                o.insert((*name).to_string(), json!(v));
            }
            Json::Object(o)
        })
        .collect();
    Ok(json!({"dimension_count": axes.len(), "result": result}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_give_country_network_and_test() {
        let n = "2024-01-02/20240102T010203Z-IT-AS3269-web_connectivity-20240102T010203Z_webconnectivity_IT_3269_n1_abc-0.2.0-probe.json";
        let (cc, asn, test, id) = parse_name(n).unwrap();
        assert_eq!((cc.as_str(), asn, test.as_str()), ("IT", 3269, "web_connectivity"));
        assert!(id.starts_with("20240102T010203Z_webconnectivity"));
        assert!(parse_name("garbage").is_none());
        assert_eq!(iso("2024-01-02"), "2024-01-02T00:00:00Z");
        assert_eq!(iso("2024-01-02 03:04:05"), "2024-01-02T03:04:05Z");
    }
}
