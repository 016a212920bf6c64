//! `vantage reports autoclave [--bucket D] [--reclean]` (spec §5): raw cans into clean
//! cans of normalized JSON lines, with OONI's index events, the datum locators and the
//! badblobs.
//!
//! Each raw can gives a clean can of the same name; each member a records member of the
//! same name, one datum per record (so one datum is one seek and one frame). Outputs are
//! deterministic (sorted keys, fixed tar headers, rows in file order), so re-autoclaving
//! gives byte-identical cans. A clean can is published before the transaction recording
//! its locators; a crash in between leaves an unrecorded can, which the re-run rewrites.
//! `--reclean` rebuilds the whole bucket in `clean/reports/<bucket>.new/` and swaps the
//! directories (§5.5); a half-done swap is completed or discarded on the next run.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;
use vantage_can::{Can, Index, Writer, WriterOptions};
use vantage_core::{Bucket, DataDir};
use vantage_warehouse::catalog::{self, PartitionState};
use vantage_warehouse::{Sql, Value as Db, Warehouse};

use crate::config::ReportsConfig;
use crate::error::ReportsError;
use crate::normalize::BridgeDb;
use crate::report::{self, Format, Item, Source};

/// Raised with any change of a normalization or sanitization rule (§5.5).
pub const AUTOCLAVE_VER: u32 = 1;

/// One clean can written.
#[derive(Debug, Clone, Serialize)]
pub struct CleanLine {
    /// `<bucket>/<can>`.
    pub filename: String,
    /// Reports.
    pub reports: u64,
    /// Datums.
    pub datums: u64,
    /// Badblobs.
    pub badblobs: u64,
    /// Bytes of report text read.
    pub src_bytes: u64,
}

/// What an autoclave run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AutoclaveSummary {
    /// Clean cans written.
    pub cans: Vec<CleanLine>,
    /// Buckets rebuilt with `--reclean`.
    pub recleaned: Vec<String>,
}

impl AutoclaveSummary {
    /// Total datums.
    pub fn datums(&self) -> u64 {
        self.cans.iter().map(|c| c.datums).sum()
    }

    /// Total badblobs.
    pub fn badblobs(&self) -> u64 {
        self.cans.iter().map(|c| c.badblobs).sum()
    }
}

/// Autoclaves every bucket with raw cans not yet clean (or one bucket); with `reclean`,
/// rebuilds the bucket(s) from scratch.
pub fn autoclave(
    data: &DataDir,
    wh: &mut Warehouse,
    config: &ReportsConfig,
    only: Option<Bucket>,
    reclean: bool,
) -> Result<AutoclaveSummary, ReportsError> {
    wh.migrate("reports", crate::schema::MIGRATIONS)?;
    let db = match &config.bridge_db {
        Some(p) => Some(BridgeDb::load(p)?),
        None => None,
    };
    let digest = db.as_ref().map(|d| d.digest.clone()).unwrap_or_default();
    let clean_root = data.clean("reports")?;
    let buckets: Vec<String> = match only {
        Some(b) => vec![b.to_string()],
        None if reclean => {
            let r = wh.query("SELECT DISTINCT bucket FROM reports_can ORDER BY bucket", &[])?;
            r.rows.iter().map(|r| r[0].to_text()).collect()
        }
        None => {
            let r = wh.query(
                "SELECT DISTINCT c.bucket FROM reports_can c LEFT JOIN reports_clean_can k ON k.filename = c.filename
                 WHERE k.filename IS NULL ORDER BY c.bucket",
                &[],
            )?;
            r.rows.iter().map(|r| r[0].to_text()).collect()
        }
    };
    let mut summary = AutoclaveSummary::default();
    for bucket in buckets {
        let _span = tracing::info_span!("autoclave", kind = "reports", bucket = %bucket, code_version = AUTOCLAVE_VER)
            .entered();
        crate::swap::finish_swap(wh, &clean_root, &bucket)?;
        let raw_dir = data.archive("reports")?.join(&bucket);
        let cans = wh.query(
            "SELECT filename FROM reports_can WHERE bucket = ? ORDER BY filename",
            &[bucket.as_str().into()],
        )?;
        let done: HashSet<String> = if reclean {
            HashSet::new()
        } else {
            let r = wh.query(
                "SELECT filename FROM reports_clean_can WHERE bucket = ?",
                &[bucket.as_str().into()],
            )?;
            r.rows.iter().map(|r| r[0].to_text()).collect()
        };
        let out_dir = if reclean {
            clean_root.join(format!("{bucket}.new"))
        } else {
            clean_root.join(&bucket)
        };
        if reclean && out_dir.exists() {
            std::fs::remove_dir_all(&out_dir).map_err(ReportsError::io(&out_dir))?;
        }
        std::fs::create_dir_all(&out_dir).map_err(ReportsError::io(&out_dir))?;
        let raw: i64 = wh
            .query_i64(
                "SELECT COALESCE(SUM(file_size), 0) FROM reports_can WHERE bucket = ?",
                &[bucket.as_str().into()],
            )?
            .unwrap_or(0);
        // Clean text is about the raw text's size and compresses about as well.
        crate::space::check(&out_dir, raw.max(0) as u64, config.min_free)?;
        // uids kept by earlier cans of this run, and by other buckets (§5.4 uniqueness).
        let mut seen: HashSet<String> = HashSet::new();
        let mut lines = Vec::new();
        let mut rows = Vec::new();
        for r in &cans.rows {
            let filename = r[0].to_text();
            if done.contains(&filename) {
                continue;
            }
            let can_name = filename.rsplit('/').next().unwrap_or(&filename).to_string();
            let out = clean_can(
                wh,
                &raw_dir.join(&can_name),
                &out_dir.join(&can_name),
                &bucket,
                &filename,
                db.as_ref(),
                &mut seen,
                reclean,
            )?;
            lines.push(out.line.clone());
            rows.push(out);
        }
        if rows.is_empty() && !reclean {
            continue;
        }
        let bucket_text = bucket.clone();
        wh.transaction(|tx| -> Result<(), ReportsError> {
            if reclean {
                tx.execute(
                    "DELETE FROM reports_datum_locator WHERE bucket = ?",
                    &[bucket_text.as_str().into()],
                )?;
                tx.execute(
                    "DELETE FROM reports_badblob WHERE bucket_date = ?",
                    &[bucket_text.as_str().into()],
                )?;
                tx.execute(
                    "DELETE FROM reports_clean_can WHERE bucket = ?",
                    &[bucket_text.as_str().into()],
                )?;
            }
            for out in &rows {
                record(tx, out, &bucket_text, &digest)?;
            }
            catalog::set_partition(
                tx,
                &catalog::Partition {
                    kind: "reports".into(),
                    key: bucket_text.clone(),
                    processor: "autoclave".into(),
                    code_version: AUTOCLAVE_VER,
                    state: PartitionState::Done,
                    error: None,
                },
            )?;
            catalog::set_processor_version(tx, "reports", "autoclave", AUTOCLAVE_VER)?;
            Ok(())
        })?;
        if reclean {
            crate::swap::swap(&clean_root, &bucket)?;
            summary.recleaned.push(bucket.clone());
        }
        let (datums, badblobs): (u64, u64) =
            lines.iter().fold((0, 0), |(d, b), l| (d + l.datums, b + l.badblobs));
        tracing::info!(cans = lines.len(), datums, badblobs, reclean, "Bucket autoclaved.");
        summary.cans.extend(lines);
    }
    Ok(summary)
}

/// One clean can's rows, ready for its transaction.
struct CleanOut {
    line: CleanLine,
    file_size: u64,
    file_crc32: u32,
    file_sha1: String,
    text_size: u64,
    locators: Vec<Vec<Db>>,
    badblobs: Vec<Vec<Db>>,
}

/// Which of `uids` another bucket (or, outside `--reclean`, another can of this bucket)
/// keeps: one query per few hundred uids rather than one per datum.
fn uids_taken_elsewhere(
    wh: &mut Warehouse,
    uids: &[&str],
    bucket: &str,
    can: &str,
    reclean: bool,
) -> Result<HashSet<String>, ReportsError> {
    let mut taken = HashSet::new();
    for chunk in uids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let mut params: Vec<Db> = chunk.iter().map(|u| Db::from(*u)).collect();
        let sql = if reclean {
            params.push(bucket.into());
            format!("SELECT uid FROM reports_datum_locator WHERE uid IN ({marks}) AND bucket <> ?")
        } else {
            params.push(bucket.into());
            params.push(can.into());
            format!(
                "SELECT uid FROM reports_datum_locator WHERE uid IN ({marks}) AND NOT (bucket = ? AND can = ?)"
            )
        };
        let r = wh.query(&sql, &params)?;
        taken.extend(r.rows.iter().map(|r| r[0].to_text()));
    }
    Ok(taken)
}

#[allow(clippy::too_many_arguments)]
fn clean_can(
    wh: &mut Warehouse,
    raw: &Path,
    out: &Path,
    bucket: &str,
    filename: &str,
    db: Option<&BridgeDb>,
    seen: &mut HashSet<String>,
    reclean: bool,
) -> Result<CleanOut, ReportsError> {
    let can_name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let can = Can::open(raw)?;
    if out.exists() {
        // Published by a run that crashed before recording it: rewritten identically.
        remove_can(out)?;
    }
    let opts = WriterOptions {
        mtime: Bucket::parse(bucket)
            .map(|b| (b.start().nanos() / 1_000_000_000).max(0) as u64)
            .unwrap_or(0),
        filename: Some(filename.to_string()),
        ..WriterOptions::default()
    };
    let mut w = Writer::create(out, opts)?;
    let mut line = CleanLine {
        filename: filename.to_string(),
        reports: 0,
        datums: 0,
        badblobs: 0,
        src_bytes: 0,
    };
    let mut datum_keys: Vec<(String, String, String, u64)> = Vec::new(); // uid, id, textname, src_off
    let mut badblobs = Vec::new();
    let (mut text_pos, mut predicted) = (0u64, Vec::new());
    for entry in can.members().cloned().collect::<Vec<_>>() {
        let bytes = crate::member::read(&can, raw, &entry)?;
        let textname = entry.name.clone();
        let name = textname.rsplit('/').next().unwrap_or(&textname).to_string();
        let mut result = report::autoclave(
            &bytes,
            Format::of_name(&name),
            Source { bucket, name: &name, bridge_db: db },
        );
        // §5.4: a uid already kept becomes a later datum's badblob `duplicate_uid`.
        let uids: Vec<&str> = result
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Datum(d) => Some(d.uid.as_str()),
                Item::Badblob(_) => None,
            })
            .collect();
        let elsewhere = uids_taken_elsewhere(wh, &uids, bucket, &can_name, reclean)?;
        for item in result.items.iter_mut() {
            if let Item::Datum(d) = item {
                let dup = seen.contains(&d.uid) || elsewhere.contains(&d.uid);
                if dup {
                    *item = Item::Badblob(report::Badblob {
                        src_off: d.src_off,
                        src_size: d.src_size,
                        src_sha1: d.src_sha1,
                        reason: crate::slice::BlobReason::DuplicateUid,
                    });
                } else {
                    seen.insert(d.uid.clone());
                }
            }
        }
        line.reports += 1;
        line.src_bytes += bytes.len() as u64;
        w.begin_records(&textname)?;
        let data_start = text_pos + tar_header_len(&textname);
        let mut member_off = 0u64;
        w.add_index_line(json!({"type": "report", "textname": textname, "src_size": bytes.len(), "src_sha1": entry.sha1}))?;
        if let Some((off, size)) = result.header {
            w.add_index_line(json!({"type": "header", "src_off": off, "src_size": size}))?;
        }
        let (mut datums, mut blobs) = (0u64, 0u64);
        for item in &result.items {
            match item {
                Item::Datum(d) => {
                    w.add_record(&d.line)?;
                    let text_off = data_start + member_off;
                    member_off += d.line.len() as u64 + 1;
                    w.add_index_line(json!({"type": "datum", "src_off": d.src_off, "src_size": d.src_size,
                        "src_sha1": hex::encode(d.src_sha1), "text_off": text_off, "text_size": d.line.len(),
                        "id": d.id, "uid": d.uid}))?;
                    predicted.push(text_off);
                    datum_keys.push((d.uid.clone(), d.id.clone(), textname.clone(), d.src_off));
                    datums += 1;
                }
                Item::Badblob(b) => {
                    let info = b.reason.as_str().into_owned();
                    w.add_index_line(
                        json!({"type": "badblob", "src_off": b.src_off, "src_size": b.src_size,
                        "src_sha1": hex::encode(b.src_sha1), "info": info}),
                    )?;
                    badblobs.push(vec![
                        Db::from(filename),
                        textname.as_str().into(),
                        b.src_off.into(),
                        b.src_size.into(),
                        bucket.into(),
                        hex::encode(b.src_sha1).into(),
                        info.into(),
                    ]);
                    blobs += 1;
                }
            }
        }
        let mut end =
            json!({"type": "/report", "datums": datums, "badblobs": blobs, "nulls": result.nulls});
        if let Some(c) = result.src_cutoff {
            end["src_cutoff"] = c.into();
        }
        w.add_index_line(end)?;
        let info = w.end_records()?;
        text_pos = data_start + info.size.next_multiple_of(512);
        line.datums += datums;
        line.badblobs += blobs;
    }
    let s = w.finish()?;
    let index = Index::load(&s.index_path)?;
    let records = index.records();
    // The datum events' text_off were predicted from the tar layout (§4.3); the
    // foundation's record lines are the truth, and they must agree.
    let agree = records.len() == predicted.len()
        && records.iter().zip(&predicted).all(|(r, p)| r.text_off == *p);
    if !agree {
        return Err(ReportsError::Mismatch {
            path: s.path.clone(),
            message: "datum text_off differs from the record lines of the index".into(),
        });
    }
    if records.len() != datum_keys.len() {
        return Err(ReportsError::Mismatch {
            path: s.path.clone(),
            message: format!(
                "index lists {} records for {} datums",
                records.len(),
                datum_keys.len()
            ),
        });
    }
    let locators = datum_keys
        .into_iter()
        .zip(records)
        .map(|((uid, id, textname, src_off), r)| {
            vec![
                Db::from(uid),
                id.into(),
                bucket.into(),
                can_name.as_str().into(),
                textname.into(),
                src_off.into(),
                r.locator.frame_off.into(),
                r.locator.frame_size.into(),
                r.locator.intra_off.into(),
                r.locator.intra_size.into(),
            ]
        })
        .collect();
    Ok(CleanOut {
        line,
        file_size: s.file_size,
        file_crc32: s.file_crc32,
        file_sha1: s.file_sha1,
        text_size: s.text_size,
        locators,
        badblobs,
    })
}

/// Bytes of a member's tar headers: one ustar block, preceded for names over 100 bytes by
/// a GNU long-name entry (a block and the NUL-terminated name, padded to 512) (§4.3).
fn tar_header_len(name: &str) -> u64 {
    let n = name.len() as u64;
    if n > 100 {
        512 + (n + 1).next_multiple_of(512) + 512
    } else {
        512
    }
}

fn remove_can(path: &Path) -> Result<(), ReportsError> {
    for p in [path.to_path_buf(), vantage_can::index_path(path)] {
        if p.exists() {
            // Published read-only; the directory's write bit is what removal needs.
            std::fs::remove_file(&p).map_err(ReportsError::io(&p))?;
        }
    }
    Ok(())
}

fn record(
    tx: &mut dyn Sql,
    out: &CleanOut,
    bucket: &str,
    digest: &str,
) -> Result<(), ReportsError> {
    let filename = out.line.filename.as_str();
    let can_name = filename.rsplit('/').next().unwrap_or(filename);
    tx.execute(
        "DELETE FROM reports_datum_locator WHERE bucket = ? AND can = ?",
        &[bucket.into(), can_name.into()],
    )?;
    tx.execute("DELETE FROM reports_badblob WHERE filename = ?", &[filename.into()])?;
    tx.bulk_insert(
        "reports_datum_locator",
        &[
            "uid",
            "id",
            "bucket",
            "can",
            "textname",
            "src_off",
            "frame_off",
            "frame_size",
            "intra_off",
            "intra_size",
        ],
        &out.locators,
    )?;
    tx.bulk_insert(
        "reports_badblob",
        &["filename", "textname", "src_off", "src_size", "bucket_date", "src_sha1", "info"],
        &out.badblobs,
    )?;
    tx.execute(
        "INSERT INTO reports_clean_can (filename, bucket, file_size, file_crc32, file_sha1, text_size, datums, badblobs, autoclave_ver, bridge_digest)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (filename) DO UPDATE SET file_size = excluded.file_size, file_crc32 = excluded.file_crc32,
           file_sha1 = excluded.file_sha1, text_size = excluded.text_size, datums = excluded.datums,
           badblobs = excluded.badblobs, autoclave_ver = excluded.autoclave_ver, bridge_digest = excluded.bridge_digest",
        &[
            filename.into(),
            bucket.into(),
            out.file_size.into(),
            out.file_crc32.into(),
            out.file_sha1.as_str().into(),
            out.text_size.into(),
            out.line.datums.into(),
            out.line.badblobs.into(),
            AUTOCLAVE_VER.into(),
            digest.into(),
        ],
    )?;
    Ok(())
}

/// The clean can file of a locator row.
pub fn clean_path(data: &DataDir, bucket: &str, can: &str) -> Result<PathBuf, ReportsError> {
    Ok(data.clean("reports")?.join(bucket).join(can))
}
