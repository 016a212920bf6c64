//! `vantage reports ingest FILE|DIR... [--bucket D]` (spec §2.5).
//!
//! Report files, compressed (`.gz`, `.lz4`, `.zst`) or in archives (`.tar`, `.tar.gz`,
//! `.tar.lz4`; each regular member a report), go into `inbox/reports/<bucket>/<name>`
//! under the §2.3 name. The decompressed bytes are kept exactly. Publication is
//! temporary name, fsync, rename, then the rows in one transaction: a crash in between
//! leaves a file without a row, which the re-run overwrites with the same bytes.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use vantage_core::{hash, publish, Bucket, DataDir};
use vantage_warehouse::catalog::{self, ArrivalState, QuarantineMode};
use vantage_warehouse::{Sql, Warehouse};

use crate::error::ReportsError;
use crate::report::Format;
use crate::space;
use crate::value::Value;
use crate::{json, names, slice, yaml};

/// What happened to one input.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IngestLine {
    /// The input (a file, or `archive:member`).
    pub input: String,
    /// `accepted`, `duplicate` or `quarantined`.
    pub status: &'static str,
    /// The bucket it went to.
    pub bucket: Option<String>,
    /// Its name in the inbox (or the name of the stored duplicate).
    pub name: Option<String>,
    /// Why it was quarantined.
    pub reason: Option<String>,
}

/// The result of an ingest: one line per input.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    /// Per input, in order.
    pub files: Vec<IngestLine>,
}

impl IngestSummary {
    /// Inputs quarantined (exit 3 when any).
    pub fn quarantined(&self) -> usize {
        self.files.iter().filter(|f| f.status == "quarantined").count()
    }

    /// Inputs accepted.
    pub fn accepted(&self) -> usize {
        self.files.iter().filter(|f| f.status == "accepted").count()
    }
}

/// One report found in the inputs.
struct Found {
    input: String,
    /// The path whose directories may name the bucket, innermost first.
    dirs: Vec<String>,
    name: String,
    bytes: Vec<u8>,
    mtime: i64,
}

/// A rejected input before it reached the inbox.
struct Rejected {
    input: String,
    source: Option<PathBuf>,
    bytes: Option<Vec<u8>>,
    reason: &'static str,
    message: String,
}

fn is_bucket_name(s: &str) -> Option<Bucket> {
    (s.len() == 10).then(|| Bucket::parse(s).ok()).flatten()
}

/// Strips one compression suffix; `None` when the suffix names no known codec.
fn decompress(name: &str, bytes: Vec<u8>) -> Result<(String, Vec<u8>), String> {
    let (stem, codec) = match name.rsplit_once('.') {
        Some((stem, ext @ ("gz" | "lz4" | "zst"))) => (stem.to_string(), ext),
        _ => return Ok((name.to_string(), bytes)),
    };
    let mut out = Vec::new();
    let r = match codec {
        "gz" => flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut out).map(|_| ()),
        "lz4" => lz4_flex::frame::FrameDecoder::new(&bytes[..]).read_to_end(&mut out).map(|_| ()),
        _ => match ruzstd::decoding::StreamingDecoder::new(&bytes[..]) {
            Ok(mut d) => d.read_to_end(&mut out).map(|_| ()),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        },
    };
    r.map_err(|e| format!("cannot decompress .{codec}: {e}"))?;
    Ok((stem, out))
}

fn mtime_of(path: &Path) -> i64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn dirs_of(path: &Path) -> Vec<String> {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    abs.ancestors()
        .skip(1)
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect()
}

/// Expands one input file into the reports it holds.
fn expand(path: &Path, found: &mut Vec<Found>, rejected: &mut Vec<Rejected>) {
    let input = path.display().to_string();
    let reject = |reason, message: String| Rejected {
        input: input.clone(),
        source: Some(path.to_path_buf()),
        bytes: None,
        reason,
        message,
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return rejected.push(reject("unreadable", format!("{input}: {e}"))),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (name, bytes) = match decompress(&name, bytes) {
        Ok(x) => x,
        Err(e) => return rejected.push(reject("bad_compression", format!("{input}: {e}"))),
    };
    let mtime = mtime_of(path);
    if let Some(stem) = name.strip_suffix(".tar") {
        let _ = stem;
        let mut archive = tar::Archive::new(&bytes[..]);
        let entries = match archive.entries() {
            Ok(e) => e,
            Err(e) => return rejected.push(reject("bad_archive", format!("{input}: {e}"))),
        };
        for entry in entries {
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => return rejected.push(reject("bad_archive", format!("{input}: {e}"))),
            };
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let member = entry.path().map(|p| p.to_path_buf()).unwrap_or_default();
            let member_mtime =
                entry.header().mtime().ok().and_then(|m| i64::try_from(m).ok()).unwrap_or(mtime);
            let mut data = Vec::new();
            if let Err(e) = entry.read_to_end(&mut data) {
                return rejected
                    .push(reject("bad_archive", format!("{input}: {}: {e}", member.display())));
            }
            let mname =
                member.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let minput = format!("{input}:{}", member.display());
            let (mname, data) = match decompress(&mname, data) {
                Ok(x) => x,
                Err(e) => {
                    rejected.push(Rejected {
                        input: minput.clone(),
                        source: None,
                        bytes: None,
                        reason: "bad_compression",
                        message: format!("{minput}: {e}"),
                    });
                    continue;
                }
            };
            let mut dirs: Vec<String> = member
                .ancestors()
                .skip(1)
                .filter_map(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            dirs.extend(dirs_of(path));
            found.push(Found {
                input: minput,
                dirs,
                name: mname,
                bytes: data,
                mtime: member_mtime,
            });
        }
        return;
    }
    found.push(Found { input, dirs: dirs_of(path), name, bytes, mtime });
}

/// The first record of a report as a map (YAML header or first JSON line).
fn first_record(bytes: &[u8], format: Format) -> crate::value::Map {
    let pieces = match format {
        Format::Yaml => slice::yaml(bytes),
        Format::Jsonl => slice::jsonl(bytes),
    };
    for p in pieces {
        if let slice::Piece::Frame { off, len } = p {
            let frame = bytes.get(off..off + len).unwrap_or(&[]);
            let v = match format {
                Format::Yaml => std::str::from_utf8(frame).ok().and_then(|t| yaml::load(t).ok()),
                Format::Jsonl => json::parse(frame).ok(),
            };
            if let Some(Value::Map(m)) = v {
                return m;
            }
        }
    }
    crate::value::Map::new()
}

/// The format of a report by its name, else by its first byte.
fn sniff(name: &str, bytes: &[u8]) -> Format {
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        Format::Yaml
    } else if name.ends_with(".json")
        || name.ends_with(".jsonl")
        || bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
    {
        Format::Jsonl
    } else {
        Format::Yaml
    }
}

/// The §2.3 name of a report: its own when it matches, else one built from its first record.
pub fn conventional_name(name: &str, bytes: &[u8]) -> String {
    if names::test_name_of(name).is_some() {
        return name.to_string();
    }
    let format = sniff(name, bytes);
    names::from_record(&first_record(bytes, format), format == Format::Yaml)
}

/// Lists report files under the inputs (directories recursively, sorted).
fn walk(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, ReportsError> {
    let mut out = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(ReportsError::io(input))?;
        if meta.is_dir() {
            let mut stack = vec![input.clone()];
            let mut files = Vec::new();
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).map_err(ReportsError::io(&d))? {
                    let p = e.map_err(ReportsError::io(&d))?.path();
                    let hidden =
                        p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
                    if hidden {
                        continue;
                    }
                    if p.is_dir() {
                        stack.push(p);
                    } else {
                        files.push(p);
                    }
                }
            }
            files.sort();
            out.extend(files);
        } else {
            out.push(input.clone());
        }
    }
    Ok(out)
}

/// Accepts one report into the inbox (already decompressed and named).
#[allow(clippy::too_many_arguments)]
pub(crate) fn accept(
    data: &DataDir,
    wh: &mut Warehouse,
    bucket: Bucket,
    name: &str,
    original: &str,
    bytes: &[u8],
) -> Result<Accepted, ReportsError> {
    let sha1 = hash::sha1_hex(bytes);
    let textname = format!("{bucket}/{name}");
    let dup =
        wh.query("SELECT textname FROM reports_file WHERE sha1 = ?", &[sha1.as_str().into()])?;
    if let Some(row) = dup.rows.first() {
        return Ok(Accepted::Duplicate(row[0].to_text()));
    }
    let clash =
        wh.query("SELECT sha1 FROM reports_file WHERE textname = ?", &[textname.as_str().into()])?;
    if !clash.rows.is_empty() {
        return Ok(Accepted::Clash);
    }
    let dir = data.inbox("reports")?.join(bucket.to_string());
    std::fs::create_dir_all(&dir).map_err(ReportsError::io(&dir))?;
    let dest = dir.join(name);
    publish::write_atomic(&dest, bytes, false).map_err(ReportsError::io(&dest))?;
    let sha256 = hash::sha256_hex(bytes);
    let dest_text = dest.display().to_string();
    wh.transaction(|tx| -> Result<(), ReportsError> {
        let arrival = catalog::record_arrival(
            tx,
            &catalog::Arrival {
                kind: "reports",
                path: &dest_text,
                sha256: &sha256,
                size: bytes.len() as u64,
                bucket: Some(bucket),
                state: ArrivalState::Received,
            },
        )?;
        let id = match arrival {
            catalog::Recorded::New(id) => id,
            catalog::Recorded::Duplicate { id, .. } => id,
        };
        tx.execute(
            "INSERT INTO reports_file (textname, bucket, name, original, sha1, size, arrival_id, state)
             VALUES (?, ?, ?, ?, ?, ?, ?, 'inbox')",
            &[
                textname.as_str().into(),
                bucket.to_string().into(),
                name.into(),
                original.into(),
                sha1.as_str().into(),
                (bytes.len() as u64).into(),
                id.into(),
            ],
        )?;
        catalog::set_partition(
            tx,
            &catalog::Partition {
                kind: "reports".into(),
                key: bucket.to_string(),
                processor: "can".into(),
                code_version: crate::CANNING_VER,
                state: catalog::PartitionState::Pending,
                error: None,
            },
        )?;
        Ok(())
    })?;
    Ok(Accepted::New)
}

/// Records a file already in `inbox/reports/<bucket>/<name>` (the collector's archived
/// segments, or a file published by a run that crashed before its rows). A file whose
/// content is already stored is removed as a duplicate.
pub(crate) fn record_inbox_file(
    wh: &mut Warehouse,
    bucket: Bucket,
    name: &str,
    path: &Path,
) -> Result<(), ReportsError> {
    let bytes = std::fs::read(path).map_err(ReportsError::io(path))?;
    let sha1 = hash::sha1_hex(&bytes);
    let textname = format!("{bucket}/{name}");
    let known = wh.query(
        "SELECT textname FROM reports_file WHERE sha1 = ? OR textname = ?",
        &[sha1.as_str().into(), textname.as_str().into()],
    )?;
    if let Some(row) = known.rows.first() {
        if row[0].to_text() != textname {
            std::fs::remove_file(path).map_err(ReportsError::io(path))?;
        }
        return Ok(());
    }
    let sha256 = hash::sha256_hex(&bytes);
    let path_text = path.display().to_string();
    wh.transaction(|tx| -> Result<(), ReportsError> {
        let id = match catalog::record_arrival(
            tx,
            &catalog::Arrival {
                kind: "reports",
                path: &path_text,
                sha256: &sha256,
                size: bytes.len() as u64,
                bucket: Some(bucket),
                state: ArrivalState::Received,
            },
        )? {
            catalog::Recorded::New(id) | catalog::Recorded::Duplicate { id, .. } => id,
        };
        tx.execute(
            "INSERT INTO reports_file (textname, bucket, name, original, sha1, size, arrival_id, state)
             VALUES (?, ?, ?, ?, ?, ?, ?, 'inbox')",
            &[
                textname.as_str().into(),
                bucket.to_string().into(),
                name.into(),
                path_text.as_str().into(),
                sha1.as_str().into(),
                (bytes.len() as u64).into(),
                id.into(),
            ],
        )?;
        catalog::set_partition(
            tx,
            &catalog::Partition {
                kind: "reports".into(),
                key: bucket.to_string(),
                processor: "can".into(),
                code_version: crate::CANNING_VER,
                state: catalog::PartitionState::Pending,
                error: None,
            },
        )?;
        Ok(())
    })
}

/// Records every unrecorded file of `inbox/reports/<YYYY-MM-DD>/` (see
/// [`record_inbox_file`]); returns how many were adopted.
pub(crate) fn adopt_inbox(data: &DataDir, wh: &mut Warehouse) -> Result<usize, ReportsError> {
    let inbox = data.inbox("reports")?;
    let mut n = 0;
    for e in std::fs::read_dir(&inbox).map_err(ReportsError::io(&inbox))? {
        let dir = e.map_err(ReportsError::io(&inbox))?.path();
        let Some(bucket) = dir.file_name().and_then(|n| n.to_str()).and_then(is_bucket_name) else {
            continue;
        };
        if !dir.is_dir() {
            continue;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(ReportsError::io(&dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for f in files {
            let Some(name) = f.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
                continue;
            };
            if name.starts_with('.') || !f.is_file() {
                continue;
            }
            let textname = format!("{bucket}/{name}");
            let known = wh.query(
                "SELECT 1 FROM reports_file WHERE textname = ?",
                &[textname.as_str().into()],
            )?;
            if known.rows.is_empty() {
                record_inbox_file(wh, bucket, &name, &f)?;
                n += 1;
            }
        }
    }
    Ok(n)
}

/// What [`accept`] did.
pub(crate) enum Accepted {
    New,
    /// Same sha1 as the stored textname.
    Duplicate(String),
    /// Same name, other content, same bucket.
    Clash,
}

fn quarantine_bytes(
    data: &DataDir,
    wh: &mut Warehouse,
    r: &Rejected,
    name: &str,
) -> Result<(), ReportsError> {
    let (path, mode) = match (&r.source, &r.bytes) {
        (_, Some(bytes)) => {
            let dir = data.inbox("reports")?;
            let tmp = dir.join(format!(".rejected-{name}"));
            publish::write_atomic(&tmp, bytes, false).map_err(ReportsError::io(&tmp))?;
            (tmp, QuarantineMode::Move)
        }
        (Some(src), None) => (src.clone(), QuarantineMode::Copy),
        (None, None) => {
            let dir = data.inbox("reports")?;
            let tmp = dir.join(format!(".rejected-{name}"));
            publish::write_atomic(&tmp, b"", false).map_err(ReportsError::io(&tmp))?;
            (tmp, QuarantineMode::Move)
        }
    };
    catalog::quarantine(wh, data, "reports", &path, r.reason, &r.message, mode)?;
    Ok(())
}

/// Ingests files and directories.
pub fn ingest(
    data: &DataDir,
    wh: &mut Warehouse,
    inputs: &[PathBuf],
    bucket: Option<Bucket>,
) -> Result<IngestSummary, ReportsError> {
    wh.migrate("reports", crate::schema::MIGRATIONS)?;
    let inbox = data.inbox("reports")?;
    let mut total = 0u64;
    for p in walk(inputs)? {
        total += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
    }
    // Compressed inputs grow; a factor of 4 covers report text's usual gzip ratio.
    space::check(&inbox, total.saturating_mul(4), 0)?;
    let mut summary = IngestSummary::default();
    for file in walk(inputs)? {
        let (mut found, mut rejected) = (Vec::new(), Vec::new());
        expand(&file, &mut found, &mut rejected);
        for f in found {
            let b =
                bucket.or_else(|| f.dirs.iter().find_map(|d| is_bucket_name(d))).unwrap_or_else(
                    || vantage_core::Timestamp(f.mtime.saturating_mul(1_000_000_000)).bucket(),
                );
            if f.bytes.is_empty() {
                rejected.push(Rejected {
                    input: f.input.clone(),
                    source: None,
                    bytes: Some(Vec::new()),
                    reason: "empty",
                    message: format!("{}: empty report file", f.input),
                });
                continue;
            }
            let name = conventional_name(&f.name, &f.bytes);
            let line = |status, reason: Option<String>, n: &str| IngestLine {
                input: f.input.clone(),
                status,
                bucket: Some(b.to_string()),
                name: Some(n.to_string()),
                reason,
            };
            match accept(data, wh, b, &name, &f.input, &f.bytes)? {
                Accepted::New => summary.files.push(line("accepted", None, &name)),
                Accepted::Duplicate(t) => summary.files.push(line("duplicate", None, &t)),
                Accepted::Clash => {
                    let message =
                        format!("{}: name clash: {b}/{name} holds other content", f.input);
                    let r = Rejected {
                        input: f.input.clone(),
                        source: None,
                        bytes: Some(f.bytes.clone()),
                        reason: "name_clash",
                        message: message.clone(),
                    };
                    quarantine_bytes(data, wh, &r, &name)?;
                    summary.files.push(line("quarantined", Some(message), &name));
                }
            }
        }
        for r in &rejected {
            tracing::warn!(input = %r.input, reason = r.reason, "Report quarantined.");
        }
        for r in rejected {
            let name = Path::new(&r.input)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "input".into());
            quarantine_bytes(data, wh, &r, &name)?;
            summary.files.push(IngestLine {
                input: r.input.clone(),
                status: "quarantined",
                bucket: None,
                name: None,
                reason: Some(r.message.clone()),
            });
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompression_by_suffix() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"{}\n").unwrap();
        let (n, b) = decompress("a.json.gz", gz.finish().unwrap()).unwrap();
        assert_eq!((n.as_str(), b.as_slice()), ("a.json", &b"{}\n"[..]));
        assert!(decompress("a.json.gz", b"nope".to_vec()).is_err());
        assert_eq!(decompress("a.json", b"x".to_vec()).unwrap().0, "a.json");
    }

    #[test]
    fn names_from_the_first_record() {
        let n = conventional_name(
            "whatever.json",
            b"{\"test_name\":\"ndt\",\"probe_cc\":\"IT\",\"probe_asn\":\"AS1\"}\n",
        );
        assert_eq!(names::test_name_of(&n), Some("ndt"));
        let y =
            conventional_name("x.yaml", b"---\ntest_name: dns_consistency\nstart_time: 0\n...\n");
        assert!(y.ends_with("-0.1.0-probe.yaml") && y.contains("dns_consistency"), "{y}");
    }
}
