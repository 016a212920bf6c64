//! `vantage reports fingerprints load FILE.csv` (reports spec §7.2): a checked CSV
//! replaces the loaded set of its kind in `reports_fingerprint`, keeping each
//! fingerprint_no per kind and name, in one transaction; and the set centrifugation reads.

use std::path::Path;

use serde::Serialize;
use vantage_warehouse::{Sql, Value as Db, Warehouse};

use crate::error::ReportsError;
use crate::fingerprint::{parse_csv, Fingerprint, FingerprintSet, Kind, PatternType};

/// What a load did.
#[derive(Debug, Clone, Serialize)]
pub struct FingerprintLoad {
    /// The file.
    pub file: String,
    /// Kinds replaced (`dns`, `http`).
    pub kinds: Vec<String>,
    /// Rows loaded.
    pub rows: u64,
    /// Regexps that do not compile (stored with `enabled` false).
    pub disabled: Vec<String>,
    /// sha256 of the whole loaded set afterwards.
    pub fp_digest: String,
}

/// Loads one CSV file.
pub fn load_fingerprints(wh: &mut Warehouse, path: &Path) -> Result<FingerprintLoad, ReportsError> {
    wh.migrate("reports", crate::schema::MIGRATIONS)?;
    let bytes = std::fs::read(path).map_err(ReportsError::io(path))?;
    let rows = parse_csv(path, &bytes)?;
    let kinds: std::collections::BTreeSet<Kind> = rows.iter().map(|f| f.kind).collect();
    let disabled: Vec<String> =
        rows.iter().filter(|f| !f.enabled).map(|f| f.name.clone()).collect();
    for d in &disabled {
        tracing::warn!(file = %path.display(), fingerprint = %d, "Regexp does not compile; stored disabled.");
    }
    let n = rows.len() as u64;
    wh.transaction(|tx| -> Result<(), ReportsError> {
        for kind in &kinds {
            // Numbers stay with kind + name; rows of the kind not in the file are dropped.
            tx.execute("UPDATE reports_fingerprint SET loaded = 0 WHERE kind = ?", &[kind.as_str().into()])?;
        }
        let mut next = tx.query_i64("SELECT COALESCE(MAX(fingerprint_no), 0) + 1 FROM reports_fingerprint", &[])?.unwrap_or(1);
        for (order, f) in rows.iter().enumerate() {
            let old = tx.query_i64(
                "SELECT fingerprint_no FROM reports_fingerprint WHERE kind = ? AND name = ?",
                &[f.kind.as_str().into(), f.name.as_str().into()],
            )?;
            let no = match old {
                Some(n) => n,
                None => {
                    next += 1;
                    next - 1
                }
            };
            let vals: Vec<Db> = vec![
                no.into(),
                f.name.as_str().into(),
                f.kind.as_str().into(),
                f.scope.as_str().into(),
                f.other_names.as_str().into(),
                f.location_found.as_str().into(),
                f.pattern_type.as_str().into(),
                f.pattern.as_str().into(),
                f.confidence_no_fp.into(),
                serde_json::Value::from(f.expected_countries.clone()).to_string().into(),
                f.source.as_str().into(),
                f.exp_url.as_str().into(),
                f.notes.as_str().into(),
                f.enabled.into(),
                order.into(),
            ];
            tx.execute(
                "INSERT INTO reports_fingerprint (fingerprint_no, name, kind, scope, other_names, location_found, pattern_type, pattern,
                   confidence_no_fp, expected_countries, source, exp_url, notes, enabled, file_order, loaded)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
                 ON CONFLICT (fingerprint_no) DO UPDATE SET scope = excluded.scope, other_names = excluded.other_names,
                   location_found = excluded.location_found, pattern_type = excluded.pattern_type, pattern = excluded.pattern,
                   confidence_no_fp = excluded.confidence_no_fp, expected_countries = excluded.expected_countries,
                   source = excluded.source, exp_url = excluded.exp_url, notes = excluded.notes, enabled = excluded.enabled,
                   file_order = excluded.file_order, loaded = 1",
                &vals,
            )?;
        }
        Ok(())
    })?;
    let fp_digest = load_set(wh)?.digest();
    Ok(FingerprintLoad {
        file: path.display().to_string(),
        kinds: kinds.iter().map(|k| k.as_str().to_string()).collect(),
        rows: n,
        disabled,
        fp_digest,
    })
}

/// The loaded set, in file order per kind.
pub fn load_set(db: &mut dyn Sql) -> Result<FingerprintSet, ReportsError> {
    let r = db.query(
        "SELECT fingerprint_no, name, kind, scope, other_names, location_found, pattern_type, pattern, confidence_no_fp,
                expected_countries, source, exp_url, notes FROM reports_fingerprint WHERE loaded = 1 ORDER BY kind, file_order",
        &[],
    )?;
    let mut rows = Vec::new();
    for row in &r.rows {
        let (Some(kind), Some(pt)) =
            (Kind::parse(&row[2].to_text()), pattern_type(&row[6].to_text()))
        else {
            continue;
        };
        let ec: Vec<String> = serde_json::from_str(&row[9].to_text()).unwrap_or_default();
        let mut f = Fingerprint::new(
            row[1].to_text(),
            kind,
            row[3].to_text(),
            row[4].to_text(),
            row[5].to_text(),
            pt,
            row[7].to_text(),
            row[8].as_i64().unwrap_or(0),
            ec,
            row[10].to_text(),
            row[11].to_text(),
            row[12].to_text(),
        );
        f.no = row[0].as_i64().unwrap_or(0);
        rows.push(f);
    }
    Ok(FingerprintSet::from_rows(rows))
}

fn pattern_type(s: &str) -> Option<PatternType> {
    [PatternType::Full, PatternType::Prefix, PatternType::Contains, PatternType::Regexp]
        .into_iter()
        .find(|p| p.as_str() == s)
}
