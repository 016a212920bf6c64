//! `vantage reports redact TEXTNAME... --reason R [--purge]` (spec §5.5): the one allowed
//! rewrite of raw data, for personal data that must go.
//!
//! For each raw can holding a named report: a new version of the can without it is
//! written (same name, same other members, byte-identical headers), the old version is
//! renamed `<can>.redacted-<sha1 prefix>` and its checksums recorded in
//! `reports_redaction` (the audit log, with the reason), and the old file is deleted only
//! with `--purge`. Then the affected buckets are re-cleaned, so the clean cans and
//! locators no longer hold the report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use vantage_can::{Can, Writer, WriterOptions};
use vantage_core::{Bucket, DataDir, Timestamp};
use vantage_warehouse::catalog::{self, CanRecord};
use vantage_warehouse::{Sql, Warehouse};

use crate::{ReportsConfig, ReportsError};

/// One report redacted.
#[derive(Debug, Clone, Serialize)]
pub struct RedactLine {
    /// The report's textname.
    pub textname: String,
    /// The raw can it was in (`<bucket>/<can>`).
    pub can: String,
    /// sha1 of the old version of the can.
    pub old_sha1: String,
    /// Where the old version is kept (`None` when purged).
    pub old_path: Option<String>,
}

/// What a redaction did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RedactSummary {
    /// Reports redacted.
    pub redacted: Vec<RedactLine>,
    /// Buckets re-cleaned.
    pub recleaned: Vec<String>,
}

fn rm(path: &Path) -> Result<(), ReportsError> {
    for p in [path.to_path_buf(), vantage_can::index_path(path)] {
        if p.exists() {
            std::fs::remove_file(&p).map_err(ReportsError::io(&p))?;
        }
    }
    Ok(())
}

fn rename_can(from: &Path, to: &Path) -> Result<(), ReportsError> {
    std::fs::rename(from, to).map_err(ReportsError::io(from))?;
    let (fi, ti) = (vantage_can::index_path(from), vantage_can::index_path(to));
    if fi.exists() {
        std::fs::rename(&fi, &ti).map_err(ReportsError::io(&fi))?;
    }
    vantage_core::publish::sync_parent(to).map_err(ReportsError::io(to))?;
    Ok(())
}

/// Redacts the reports `textnames` (`<bucket>/<file name>`).
pub fn redact(
    data: &DataDir,
    wh: &mut Warehouse,
    config: &ReportsConfig,
    textnames: &[String],
    reason: &str,
    purge: bool,
) -> Result<RedactSummary, ReportsError> {
    wh.migrate("reports", crate::schema::MIGRATIONS)?;
    if reason.trim().is_empty() {
        return Err(ReportsError::Usage("redact needs a --reason for the audit log".into()));
    }
    let mut by_can: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in textnames {
        let r = wh.query(
            "SELECT can, state FROM reports_file WHERE textname = ?",
            &[t.as_str().into()],
        )?;
        let Some(row) = r.rows.first() else {
            return Err(ReportsError::Usage(format!(
                "{t}: no such report (textname is <bucket>/<file name>)"
            )));
        };
        if row[1].to_text() != "canned" {
            return Err(ReportsError::Usage(format!(
                "{t}: not in a can (state {}); can it first",
                row[1].to_text()
            )));
        }
        by_can.entry(row[0].to_text()).or_default().push(t.clone());
    }
    let mut summary = RedactSummary::default();
    let mut buckets = Vec::new();
    for (filename, gone) in by_can {
        let (bucket, can_name) = filename.split_once('/').unwrap_or(("", &filename));
        let dir = data.archive("reports")?.join(bucket);
        let path = dir.join(can_name);
        let old = Can::open(&path)?;
        let old_sum = vantage_can::verify(&path)?;
        let keep: Vec<String> =
            old.members().map(|m| m.name.clone()).filter(|n| !gone.contains(n)).collect();
        let tmp_dir = dir.join(".redact");
        std::fs::create_dir_all(&tmp_dir).map_err(ReportsError::io(&tmp_dir))?;
        let tmp = tmp_dir.join(can_name);
        rm(&tmp)?;
        let new_sum = if keep.is_empty() {
            None
        } else {
            let b = Bucket::parse(bucket).map_err(|e| ReportsError::Usage(e.to_string()))?;
            let opts = WriterOptions {
                mtime: u64::try_from(b.start().nanos() / 1_000_000_000).unwrap_or(0),
                filename: Some(filename.clone()),
                ..WriterOptions::default()
            };
            let mut w = Writer::create(&tmp, opts)?;
            for m in &keep {
                w.add_bytes(m, &old.read_member(m)?)?;
            }
            Some(w.finish()?)
        };
        drop(old);
        let short = old_sum.file_sha1.get(..12).unwrap_or(&old_sum.file_sha1).to_string();
        let kept = dir.join(format!("{can_name}.redacted-{short}"));
        rename_can(&path, &kept)?;
        if new_sum.is_some() {
            rename_can(&tmp, &path)?;
        }
        let kept_text = kept.display().to_string();
        let path_text = path.display().to_string();
        wh.transaction(|tx| -> Result<(), ReportsError> {
            for t in &gone {
                tx.execute(
                    "INSERT INTO reports_redaction (textname, can, old_file_size, old_file_crc32, old_file_sha1, old_path, reason, purged, created_ns)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    &[
                        t.as_str().into(),
                        filename.as_str().into(),
                        old_sum.file_size.into(),
                        old_sum.file_crc32.into(),
                        old_sum.file_sha1.as_str().into(),
                        kept_text.as_str().into(),
                        reason.into(),
                        i64::from(purge).into(),
                        Timestamp::now().nanos().into(),
                    ],
                )?;
                tx.execute("UPDATE reports_file SET state = 'redacted' WHERE textname = ?", &[t.as_str().into()])?;
            }
            match &new_sum {
                Some(s) => {
                    tx.execute(
                        "UPDATE reports_can SET file_size = ?, file_crc32 = ?, file_sha1 = ?, text_size = ? WHERE filename = ?",
                        &[s.file_size.into(), s.file_crc32.into(), s.file_sha1.as_str().into(), s.text_size.into(), filename.as_str().into()],
                    )?;
                    catalog::record_can(
                        tx,
                        &CanRecord {
                            kind: "reports".into(),
                            bucket: Some(bucket.to_string()),
                            path: path_text.clone(),
                            size: s.file_size,
                            sha1: s.file_sha1.clone(),
                            crc32: s.file_crc32,
                        },
                    )?;
                }
                None => {
                    tx.execute("DELETE FROM reports_can WHERE filename = ?", &[filename.as_str().into()])?;
                    tx.execute("DELETE FROM catalog_cans WHERE path = ?", &[path_text.as_str().into()])?;
                }
            }
            Ok(())
        })?;
        tracing::warn!(can = %filename, reports = gone.len(), reason, "Reports redacted from a raw can.");
        if purge {
            rm(&kept)?;
        }
        crate::canning::write_manifest(wh, &dir, bucket)?;
        let _ = std::fs::remove_dir(&tmp_dir);
        for t in gone {
            summary.redacted.push(RedactLine {
                textname: t,
                can: filename.clone(),
                old_sha1: old_sum.file_sha1.clone(),
                old_path: (!purge).then(|| kept_text.clone()),
            });
        }
        if !buckets.contains(&bucket.to_string()) {
            buckets.push(bucket.to_string());
        }
    }
    for b in buckets {
        let bucket = Bucket::parse(&b).map_err(|e| ReportsError::Usage(e.to_string()))?;
        crate::autoclave(data, wh, config, Some(bucket), true)?;
        summary.recleaned.push(b);
    }
    Ok(summary)
}

/// The kept old versions of redacted cans (for tests and `status`).
pub fn kept_versions(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    out.retain(|p| {
        p.file_name().is_some_and(|n| {
            n.to_string_lossy().contains(".redacted-") && !n.to_string_lossy().ends_with(".jsonl")
        })
    });
    out.sort();
    out
}
