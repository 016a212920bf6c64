//! `vantage verify`: every can in the data directory re-checked against its checksums.
//!
//! The cans are those the catalog lists plus any `*.tar.lz4` found under `archive/` and
//! `clean/` (a can written by a run that crashed before its catalog row is still
//! checked). A can whose file differs from its catalog row (size, sha1) fails too.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use vantage_core::Exit;
use vantage_warehouse::catalog;

use crate::context::{Coded, Context, Format, OrExit};
use crate::output::write_table;

/// One can's verdict.
#[derive(Debug, serde::Serialize)]
struct Checked {
    path: PathBuf,
    members: u64,
    records: u64,
    bytes: u64,
    error: Option<String>,
}

fn find_cans(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            find_cans(&p, out);
        } else if p.to_string_lossy().ends_with(".tar.lz4") {
            out.push(p);
        }
    }
}

/// Verifies every can; exit 3 naming the first bad can, file and offset, if any fails.
pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let data = ctx.data_dir()?;
    let mut wh = ctx.warehouse(&data)?;
    let mut expected: BTreeMap<PathBuf, Option<catalog::CanRecord>> = BTreeMap::new();
    for can in catalog::cans(&mut wh, None).coded()? {
        expected.insert(PathBuf::from(&can.path), Some(can));
    }
    let mut found = Vec::new();
    for top in ["archive", "clean"] {
        find_cans(&data.root().join(top), &mut found);
    }
    for p in found {
        expected.entry(p).or_insert(None);
    }
    let bar = crate::context::progress_bar(ctx, expected.len() as u64, "verify");
    let mut results = Vec::new();
    for (path, row) in &expected {
        bar.inc(1);
        let checked = match vantage_can::verify(path) {
            Err(e) => Checked {
                path: path.clone(),
                members: 0,
                records: 0,
                bytes: 0,
                error: Some(e.to_string()),
            },
            Ok(s) => {
                let mismatch = row.as_ref().and_then(|r| {
                    (r.size != s.file_size || r.sha1 != s.file_sha1).then(|| {
                        format!(
                            "{}: differs from catalog_cans: file has {} bytes sha1 {}, catalog says {} bytes sha1 {}",
                            path.display(),
                            s.file_size,
                            s.file_sha1,
                            r.size,
                            r.sha1
                        )
                    })
                });
                Checked {
                    path: path.clone(),
                    members: s.members,
                    records: s.records,
                    bytes: s.file_size,
                    error: mismatch,
                }
            }
        };
        results.push(checked);
    }
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    match ctx.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &results)?;
            writeln!(out)?;
        }
        _ => {
            let header =
                ["can", "members", "records", "bytes", "result"].map(String::from).to_vec();
            let rows: Vec<Vec<String>> = results
                .iter()
                .map(|c| {
                    vec![
                        c.path.display().to_string(),
                        c.members.to_string(),
                        c.records.to_string(),
                        c.bytes.to_string(),
                        if c.error.is_some() { "FAILED".into() } else { "ok".into() },
                    ]
                })
                .collect();
            if ctx.chatty() {
                write_table(&mut out, &header, &rows)?;
            }
        }
    }
    let failed: Vec<&Checked> = results.iter().filter(|c| c.error.is_some()).collect();
    match failed.first() {
        None => Ok(()),
        Some(first) => Err(Coded::new(
            Exit::Rejected,
            format!(
                "{} of {} cans failed verification; first: {}",
                failed.len(),
                results.len(),
                first.error.as_deref().unwrap_or_default()
            ),
        )),
    }
}
