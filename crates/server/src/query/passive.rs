//! Bytes and availability (passive spec §7, §8) over the passive tables.
//!
//! `by` picks the family, `granularity` the table: `passive_<family>_per_<granularity>`,
//! whose bin column is named after the granularity and holds epoch seconds.

use serde_json::{json, Value as Json};
use vantage_passive::schema::FAMILIES;
use vantage_warehouse::{Sql, Value, WarehouseError};

use super::table_exists;

/// `by=` values and their family names.
pub const BY: &[(&str, &str)] = &[
    ("total", "bytes"),
    ("port", "bytes_per_port"),
    ("domain", "bytes_per_domain"),
    ("device", "bytes_per_device"),
    ("device_port", "bytes_per_device_per_port"),
    ("device_domain", "bytes_per_device_per_domain"),
];

/// Rows of one family and granularity in `[from, to)` (epoch seconds), optionally one
/// node; ordered by node, bin and keys; at most `limit` after `offset`.
#[allow(clippy::too_many_arguments)]
pub fn bytes(
    db: &mut dyn Sql,
    by: &str,
    granularity: &str,
    node: Option<&str>,
    from_s: Option<i64>,
    to_s: Option<i64>,
    offset: u64,
    limit: u64,
) -> Result<Vec<Json>, WarehouseError> {
    let family_name = BY.iter().find(|(b, _)| *b == by).map(|(_, f)| *f).unwrap_or("bytes");
    let Some(family) = FAMILIES.iter().find(|f| f.name == family_name) else {
        return Ok(Vec::new());
    };
    let table = family.table(granularity);
    if !table_exists(db, &table)? {
        return Ok(Vec::new());
    }
    let cols = family.key_columns(granularity);
    let bin = granularity;
    let mut w = Vec::new();
    let mut p: Vec<Value> = Vec::new();
    if let Some(n) = node {
        w.push("node_id = ?".to_string());
        p.push(n.into());
    }
    if let Some(f) = from_s {
        w.push(format!("{bin} >= ?"));
        p.push(Value::Int(f));
    }
    if let Some(t) = to_s {
        w.push(format!("{bin} < ?"));
        p.push(Value::Int(t));
    }
    let clause = if w.is_empty() { String::new() } else { format!(" WHERE {}", w.join(" AND ")) };
    let sql = format!(
        "SELECT {}, bytes FROM {table}{clause} ORDER BY {} LIMIT {limit} OFFSET {offset}",
        cols.join(", "),
        cols.join(", ")
    );
    let rows = db.query(&sql, &p)?;
    let mut out = Vec::with_capacity(rows.rows.len());
    for obj in rows.to_json_objects() {
        let mut obj = obj;
        if let Some(secs) = obj.get(bin).and_then(|v| v.as_i64()) {
            obj["time"] =
                json!(vantage_core::Timestamp::from_nanos(secs.saturating_mul(1_000_000_000))
                    .to_rfc3339());
        }
        out.push(obj);
    }
    Ok(out)
}

/// Availability of one node (or all): the ranges of consecutive updates and the uptime
/// intervals, times in RFC 3339.
pub fn availability(db: &mut dyn Sql, node: Option<&str>) -> Result<Json, WarehouseError> {
    let (clause, p): (&str, Vec<Value>) = match node {
        Some(n) => (" WHERE node_id = ?", vec![n.into()]),
        None => ("", Vec::new()),
    };
    let mut ranges = Vec::new();
    if table_exists(db, "passive_availability_ranges")? {
        let rows = db.query(
            &format!(
                "SELECT node_id, anonymization_context, session_id, first_seq, last_seq, start, \"end\", consistent \
                 FROM passive_availability_ranges{clause} ORDER BY node_id, start, session_id, first_seq"
            ),
            &p,
        )?;
        ranges = rows.to_json_objects();
    }
    let mut uptime = Vec::new();
    if table_exists(db, "passive_uptime_intervals")? {
        let rows = db.query(
            &format!("SELECT node_id, start_us, end_us FROM passive_uptime_intervals{clause} ORDER BY node_id, start_us"),
            &p,
        )?;
        uptime = rows.to_json_objects();
    }
    let us = |v: &Json| {
        v.as_i64().map(|u| vantage_core::Timestamp::from_nanos(u.saturating_mul(1000)).to_rfc3339())
    };
    for u in &mut uptime {
        let (s, e) = (us(&u["start_us"]), us(&u["end_us"]));
        u["start"] = json!(s);
        u["end"] = json!(e);
    }
    Ok(json!({"ranges": ranges, "uptime": uptime}))
}

/// The nodes that have any byte counts, for the UI's pickers.
pub fn nodes(db: &mut dyn Sql) -> Result<Vec<String>, WarehouseError> {
    if !table_exists(db, "passive_sessions")? {
        return Ok(Vec::new());
    }
    let rows = db.query("SELECT DISTINCT node_id FROM passive_sessions ORDER BY node_id", &[])?;
    Ok(rows.rows.iter().filter_map(|r| r[0].as_str().map(str::to_string)).collect())
}
