//! The views of reports spec §8, kept as tables and updated inside each bucket's
//! transaction from the deltas of the files it fed (never recomputed from scratch):
//! `reports_country_counts` by subtracting the old files' counts and adding the new ones,
//! the report-keyed views by rebuilding the rows of the report_ids those files hold.
//! Measurements with probe_cc ZZ, probe_asn 0 or no report_id stay out of them.

use std::collections::{BTreeMap, BTreeSet};

use vantage_warehouse::{Sql, Value as Db, WarehouseError};

/// The view tables.
pub const VIEWS: &[&str] = &[
    "reports_blockpage_count",
    "reports_blockpage_urls",
    "reports_country_counts",
    "reports_identified_vendors",
];

const INCLUDED: &str = "r.probe_cc <> 'ZZ' AND r.probe_asn <> 0 AND r.report_id <> ''";

/// What the fed files contributed before the bucket's changes.
pub struct Before {
    counts: BTreeMap<String, i64>,
    report_ids: BTreeSet<String>,
}

fn counts(tx: &mut dyn Sql, nos: &[i64]) -> Result<BTreeMap<String, i64>, WarehouseError> {
    let mut out = BTreeMap::new();
    for no in nos {
        let r = tx.query(
            &format!(
                "SELECT r.probe_cc, COUNT(*) FROM reports_measurement m JOIN reports_report r ON r.report_no = m.report_no
                 WHERE r.autoclaved_no = ? AND {INCLUDED} GROUP BY r.probe_cc"
            ),
            &[(*no).into()],
        )?;
        for row in &r.rows {
            *out.entry(row[0].to_text()).or_insert(0) += row[1].as_i64().unwrap_or(0);
        }
    }
    Ok(out)
}

fn report_ids(tx: &mut dyn Sql, nos: &[i64]) -> Result<BTreeSet<String>, WarehouseError> {
    let mut out = BTreeSet::new();
    for no in nos {
        let r = tx.query(
            "SELECT DISTINCT report_id FROM reports_report WHERE autoclaved_no = ?",
            &[(*no).into()],
        )?;
        out.extend(r.rows.iter().map(|r| r[0].to_text()));
    }
    Ok(out)
}

/// Reads the contribution of the files about to change.
pub fn before(tx: &mut dyn Sql, nos: &[i64]) -> Result<Before, WarehouseError> {
    Ok(Before { counts: counts(tx, nos)?, report_ids: report_ids(tx, nos)? })
}

/// The defining query of each view (§8), over all rows; the incremental upkeep must
/// always equal it (tests compare them).
pub fn view_definitions() -> Vec<(&'static str, String)> {
    vec![
        ("reports_blockpage_count", blockpage_count_sql("")),
        ("reports_blockpage_urls", blockpage_urls_sql("")),
        ("reports_country_counts", format!(
            "SELECT r.probe_cc, COUNT(*) FROM reports_measurement m JOIN reports_report r ON r.report_no = m.report_no
             WHERE {INCLUDED} GROUP BY r.probe_cc"
        )),
        ("reports_identified_vendors", identified_vendors_sql("")),
    ]
}

fn blockpage_count_sql(filter: &str) -> String {
    format!(
        "SELECT r.report_id, r.test_start_time, r.probe_cc, r.probe_asn, SUM(m.confirmed), COUNT(*)
         FROM reports_report r JOIN reports_measurement m ON m.report_no = r.report_no
         WHERE r.test_name IN ('web_connectivity', 'http_requests') AND {INCLUDED} {filter}
         GROUP BY r.report_id, r.test_start_time, r.probe_cc, r.probe_asn HAVING SUM(m.confirmed) > 0"
    )
}

fn blockpage_urls_sql(filter: &str) -> String {
    format!(
        "SELECT i.input, r.report_id, r.test_start_time, r.probe_cc, r.probe_asn, m.msm_no
         FROM reports_measurement m JOIN reports_report r ON r.report_no = m.report_no
         LEFT JOIN reports_input i ON i.input_no = m.input_no
         WHERE m.confirmed = 1 AND {INCLUDED} {filter}"
    )
}

fn identified_vendors_sql(filter: &str) -> String {
    format!(
        "SELECT DISTINCT r.test_start_time, r.probe_cc, r.probe_asn, r.report_id, v.vendor
         FROM reports_vendor v JOIN reports_measurement m ON m.msm_no = v.msm_no
         JOIN reports_report r ON r.report_no = m.report_no WHERE {INCLUDED} {filter}"
    )
}

/// Applies the deltas once the bucket's rows are in.
pub fn after(
    tx: &mut dyn Sql,
    before: Before,
    touched: &[i64],
    _retracted: &[i64],
) -> Result<(), WarehouseError> {
    let now = counts(tx, touched)?;
    let ccs: BTreeSet<&String> = before.counts.keys().chain(now.keys()).collect();
    for cc in ccs {
        let delta = now.get(cc).copied().unwrap_or(0) - before.counts.get(cc).copied().unwrap_or(0);
        if delta == 0 {
            continue;
        }
        tx.execute(
            "INSERT INTO reports_country_counts (probe_cc, count) VALUES (?, ?)
             ON CONFLICT (probe_cc) DO UPDATE SET count = reports_country_counts.count + excluded.count",
            &[cc.as_str().into(), delta.into()],
        )?;
    }
    tx.execute("DELETE FROM reports_country_counts WHERE count <= 0", &[])?;
    let mut ids = before.report_ids;
    ids.extend(report_ids(tx, touched)?);
    let ids: Vec<String> = ids.into_iter().collect();
    for chunk in ids.chunks(200) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let params: Vec<Db> = chunk.iter().map(|s| Db::from(s.as_str())).collect();
        let filter = format!("AND r.report_id IN ({marks})");
        for (table, select) in [
            ("reports_blockpage_count", blockpage_count_sql(&filter)),
            ("reports_blockpage_urls", blockpage_urls_sql(&filter)),
            ("reports_identified_vendors", identified_vendors_sql(&filter)),
        ] {
            tx.execute(&format!("DELETE FROM {table} WHERE report_id IN ({marks})"), &params)?;
            tx.execute(&format!("INSERT INTO {table} {select}"), &params)?;
        }
    }
    Ok(())
}
