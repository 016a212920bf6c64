//! `vantage reports can [--bucket D]` (spec §4): a bucket's uncanned reports into raw cans.
//!
//! Exactly-once: a can is published (atomically, by the foundation's writer) before the
//! transaction that records it and turns its reports `canned`; inbox files are deleted
//! only after that commit. A crash leaves either no can (temporaries, removed on the
//! next write) or a published, unrecorded one, which the re-run adopts after verifying
//! it against its own index and the reports it should hold (§4.5).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use vantage_can::{Index, Writer, WriterOptions};
use vantage_core::{publish, Bucket, DataDir};
use vantage_warehouse::catalog::{self, ArrivalState, CanRecord, PartitionState, QuarantineMode};
use vantage_warehouse::{Sql, Warehouse};

use crate::config::ReportsConfig;
use crate::error::ReportsError;
use crate::pack;

/// Code version of the canning stage, recorded in `catalog_partitions`.
pub const CANNING_VER: u32 = 1;

/// One can written (or adopted) in a round.
#[derive(Debug, Clone, Serialize)]
pub struct CanLine {
    /// `<bucket>/<can>`.
    pub filename: String,
    /// Reports in it.
    pub members: usize,
    /// Bytes of the can.
    pub file_size: u64,
    /// Bytes of tar text.
    pub text_size: u64,
    /// `written` or `adopted`.
    pub action: &'static str,
}

/// What a canning run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CanSummary {
    /// Cans written or adopted.
    pub cans: Vec<CanLine>,
    /// Reports quarantined (unparsable names).
    pub quarantined: Vec<String>,
}

/// Buckets with uncanned reports (or just `only`).
fn buckets(wh: &mut Warehouse, only: Option<Bucket>) -> Result<Vec<String>, ReportsError> {
    if let Some(b) = only {
        return Ok(vec![b.to_string()]);
    }
    let rows = wh.query(
        "SELECT DISTINCT bucket FROM reports_file WHERE state = 'inbox' ORDER BY bucket",
        &[],
    )?;
    Ok(rows.rows.iter().map(|r| r[0].to_text()).collect())
}

/// One can to write: its name, `(test_name, slice index)` for a slice, its members.
type Job = (String, Option<(String, u64)>, Vec<String>);

struct Pending {
    name: String,
    size: u64,
    sha1: String,
    arrival_id: i64,
}

/// Cans every bucket with uncanned reports (or one bucket).
pub fn can(
    data: &DataDir,
    wh: &mut Warehouse,
    config: &ReportsConfig,
    only: Option<Bucket>,
) -> Result<CanSummary, ReportsError> {
    wh.migrate("reports", crate::schema::MIGRATIONS)?;
    // Inbox files without rows: collector segments whose arrival was not recorded, or an
    // ingest that crashed between publishing and its transaction.
    let adopted = crate::ingest::adopt_inbox(data, wh)?;
    if adopted > 0 {
        tracing::warn!(adopted, "Unrecorded inbox files adopted.");
    }
    let mut summary = CanSummary::default();
    for bucket in buckets(wh, only)? {
        can_bucket(data, wh, config, &bucket, &mut summary)?;
    }
    Ok(summary)
}

fn can_bucket(
    data: &DataDir,
    wh: &mut Warehouse,
    config: &ReportsConfig,
    bucket: &str,
    summary: &mut CanSummary,
) -> Result<(), ReportsError> {
    let _span =
        tracing::info_span!("can", kind = "reports", bucket, code_version = CANNING_VER).entered();
    let b = Bucket::parse(bucket).map_err(|e| ReportsError::Usage(e.to_string()))?;
    let rows = wh.query(
        "SELECT name, size, sha1, arrival_id FROM reports_file WHERE state = 'inbox' AND bucket = ? ORDER BY name",
        &[bucket.into()],
    )?;
    let pending: BTreeMap<String, Pending> = rows
        .rows
        .iter()
        .map(|r| {
            let p = Pending {
                name: r[0].to_text(),
                size: r[1].as_i64().unwrap_or(0).max(0) as u64,
                sha1: r[2].to_text(),
                arrival_id: r[3].as_i64().unwrap_or(0),
            };
            (p.name.clone(), p)
        })
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let inbox = data.inbox("reports")?.join(bucket);
    let archive = data.archive("reports")?.join(bucket);
    std::fs::create_dir_all(&archive).map_err(ReportsError::io(&archive))?;
    // Raw cans are at most their input's size (LZ4 of report text).
    crate::space::check(&archive, pending.values().map(|p| p.size).sum(), config.min_free)?;
    let next = wh.query(
        "SELECT test_name, MAX(slice_index) FROM reports_can WHERE bucket = ? AND slice_index IS NOT NULL GROUP BY test_name",
        &[bucket.into()],
    )?;
    let next: BTreeMap<String, u64> = next
        .rows
        .iter()
        .map(|r| (r[0].to_text(), r[1].as_i64().map(|i| i.max(-1) + 1).unwrap_or(0) as u64))
        .collect();
    let files: Vec<(String, u64)> = pending.values().map(|p| (p.name.clone(), p.size)).collect();
    let plan = pack::plan(&files, config.can_size, |t| next.get(t).copied().unwrap_or(0));
    for name in &plan.unparsable {
        let path = inbox.join(name);
        let message = format!("{}: error: unparsable report file name", path.display());
        let id = pending.get(name).map(|p| p.arrival_id).unwrap_or(0);
        catalog::quarantine(
            wh,
            data,
            "reports",
            &path,
            "unparsable_name",
            &message,
            QuarantineMode::Move,
        )?;
        wh.transaction(|tx| -> Result<(), ReportsError> {
            tx.execute(
                "UPDATE reports_file SET state = 'quarantined' WHERE bucket = ? AND name = ?",
                &[bucket.into(), name.as_str().into()],
            )?;
            catalog::update_arrival(
                tx,
                id,
                ArrivalState::Rejected,
                None,
                Some("unparsable report file name"),
            )?;
            Ok(())
        })?;
        summary.quarantined.push(message);
    }
    let mut jobs: Vec<Job> = Vec::new();
    for name in &plan.alone {
        jobs.push((format!("{name}.tar.lz4"), None, vec![name.clone()]));
    }
    for (can_name, members) in &plan.slices {
        // `<test_name>.<k>.tar.lz4`: the index is what continues across rounds.
        let k = can_name
            .trim_end_matches(".tar.lz4")
            .rsplit('.')
            .next()
            .and_then(|k| k.parse::<u64>().ok())
            .unwrap_or(0);
        let test = crate::names::test_name_of(&members[0]).unwrap_or("invalid").to_string();
        jobs.push((can_name.clone(), Some((test, k)), members.clone()));
    }
    for (can_name, slice, members) in jobs {
        let path = archive.join(&can_name);
        let filename = format!("{bucket}/{can_name}");
        let members: Vec<&Pending> = members.iter().filter_map(|m| pending.get(m)).collect();
        let (info, action) = if path.exists() {
            (adopt(&path, bucket, &members)?, "adopted")
        } else {
            (write(&path, &filename, b, &inbox, &members)?, "written")
        };
        let test_name = match &slice {
            Some((t, _)) => Some(t.clone()),
            None => crate::names::test_name_of(&members[0].name).map(str::to_string),
        };
        let path_text = path.display().to_string();
        wh.transaction(|tx| -> Result<(), ReportsError> {
            tx.execute(
                "INSERT INTO reports_can (filename, bucket, test_name, slice_index, file_size, file_crc32, file_sha1, text_size)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                &[
                    filename.as_str().into(),
                    bucket.into(),
                    test_name.clone().into(),
                    slice.as_ref().map(|(_, k)| *k).into(),
                    info.file_size.into(),
                    info.file_crc32.into(),
                    info.file_sha1.as_str().into(),
                    info.text_size.into(),
                ],
            )?;
            for (m, crc) in members.iter().zip(&info.member_crc32) {
                tx.execute(
                    "UPDATE reports_file SET state = 'canned', can = ?, text_crc32 = ? WHERE bucket = ? AND name = ?",
                    &[filename.as_str().into(), (*crc).into(), bucket.into(), m.name.as_str().into()],
                )?;
                catalog::update_arrival(tx, m.arrival_id, ArrivalState::Archived, Some(&path_text), None)?;
            }
            catalog::record_can(
                tx,
                &CanRecord {
                    kind: "reports".into(),
                    bucket: Some(bucket.to_string()),
                    path: path_text.clone(),
                    size: info.file_size,
                    sha1: info.file_sha1.clone(),
                    crc32: info.file_crc32,
                },
            )?;
            catalog::set_partition(
                tx,
                &catalog::Partition {
                    kind: "reports".into(),
                    key: bucket.to_string(),
                    processor: "can".into(),
                    code_version: CANNING_VER,
                    state: PartitionState::Done,
                    error: None,
                },
            )?;
            catalog::set_partition(
                tx,
                &catalog::Partition {
                    kind: "reports".into(),
                    key: bucket.to_string(),
                    processor: "autoclave".into(),
                    code_version: crate::AUTOCLAVE_VER,
                    state: PartitionState::Pending,
                    error: None,
                },
            )?;
            Ok(())
        })?;
        for m in &members {
            let p = inbox.join(&m.name);
            if let Err(e) = std::fs::remove_file(&p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(ReportsError::Io { path: p, source: e });
                }
            }
        }
        summary.cans.push(CanLine {
            filename,
            members: members.len(),
            file_size: info.file_size,
            text_size: info.text_size,
            action,
        });
    }
    write_manifest(wh, &archive, bucket)?;
    tracing::info!(cans = summary.cans.len(), "Bucket canned.");
    Ok(())
}

/// What the catalog records of a can.
struct Written {
    file_size: u64,
    file_crc32: u32,
    file_sha1: String,
    text_size: u64,
    member_crc32: Vec<u32>,
}

fn write(
    path: &Path,
    filename: &str,
    bucket: Bucket,
    inbox: &Path,
    members: &[&Pending],
) -> Result<Written, ReportsError> {
    let opts = WriterOptions {
        mtime: u64::try_from(bucket.start().nanos() / 1_000_000_000).unwrap_or(0),
        filename: Some(filename.to_string()),
        ..WriterOptions::default()
    };
    let mut w = Writer::create(path, opts)?;
    let mut crcs = Vec::with_capacity(members.len());
    for m in members {
        let info = w.add_file(&format!("{bucket}/{}", m.name), &inbox.join(&m.name))?;
        if info.sha1 != m.sha1 {
            return Err(ReportsError::Mismatch {
                path: inbox.join(&m.name),
                message: format!(
                    "inbox file changed since ingest (sha1 {} expected {})",
                    info.sha1, m.sha1
                ),
            });
        }
        crcs.push(info.crc32);
    }
    let s = w.finish()?;
    Ok(Written {
        file_size: s.file_size,
        file_crc32: s.file_crc32,
        file_sha1: s.file_sha1,
        text_size: s.text_size,
        member_crc32: crcs,
    })
}

/// A published but unrecorded can (a crash before its transaction): kept only if it
/// verifies and holds exactly the reports planned for it.
fn adopt(path: &Path, bucket: &str, members: &[&Pending]) -> Result<Written, ReportsError> {
    let s = vantage_can::verify(path)?;
    let index = Index::load(&vantage_can::index_path(path))?;
    let got: Vec<(String, String)> =
        index.members().iter().map(|m| (m.name.clone(), m.sha1.clone())).collect();
    let want: Vec<(String, String)> =
        members.iter().map(|m| (format!("{bucket}/{}", m.name), m.sha1.clone())).collect();
    if got != want {
        return Err(ReportsError::Mismatch {
            path: path.to_path_buf(),
            message: format!(
                "exists but holds other reports than planned ({} members, {} planned)",
                got.len(),
                want.len()
            ),
        });
    }
    Ok(Written {
        file_size: s.file_size,
        file_crc32: s.file_crc32,
        file_sha1: s.file_sha1,
        text_size: s.text_size,
        member_crc32: index.members().iter().map(|m| m.crc32).collect(),
    })
}

/// `archive/reports/<bucket>/index.jsonl`: one sorted-key line per can (§4.4).
pub(crate) fn write_manifest(
    wh: &mut Warehouse,
    archive: &Path,
    bucket: &str,
) -> Result<PathBuf, ReportsError> {
    let cans = wh.query(
        "SELECT filename, file_size, file_crc32, file_sha1, text_size FROM reports_can WHERE bucket = ? ORDER BY filename",
        &[bucket.into()],
    )?;
    let files = wh.query(
        "SELECT can, textname, size, text_crc32, sha1 FROM reports_file WHERE bucket = ? AND state = 'canned' ORDER BY textname",
        &[bucket.into()],
    )?;
    let mut canned: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for r in &files.rows {
        canned.entry(r[0].to_text()).or_default().push(serde_json::json!({
            "textname": r[1].to_text(),
            "text_size": r[2].as_i64(),
            "text_crc32": r[3].as_i64(),
            "text_sha1": r[4].to_text(),
        }));
    }
    let mut out = Vec::new();
    for r in &cans.rows {
        let filename = r[0].to_text();
        // serde_json's Map is a BTreeMap here (no preserve_order): keys come out sorted.
        let line = serde_json::json!({
            "filename": filename,
            "file_size": r[1].as_i64(),
            "file_crc32": r[2].as_i64(),
            "file_sha1": r[3].to_text(),
            "text_size": r[4].as_i64(),
            "canned": canned.remove(&filename).unwrap_or_default(),
        });
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    let path = archive.join("index.jsonl");
    publish::write_atomic(&path, &out, false).map_err(ReportsError::io(&path))?;
    Ok(path)
}
