//! This kind's part of `vantage demo`: two simulated controllers' files generated, imported
//! batch by batch (one late file re-merged), then the network printed at three instants
//! and the changes between them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;
use vantage_core::{DataDir, Exit, HasExit};
use vantage_warehouse::Warehouse;

use crate::generate::{generate, GenerateError, GenerateOptions};
use crate::import::{ImportError, ImportOptions, Importer};
use crate::query::{self, ChangeKind, QueryError};
use crate::time::format_us;

/// What the demo did.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    /// Where the generated files were written.
    pub generated: PathBuf,
    /// Files imported.
    pub files: usize,
    /// Rows imported.
    pub rows: u64,
    /// Files re-merged because they arrived late.
    pub remerged: usize,
    /// The three instants, µs.
    pub instants: Vec<i64>,
    /// Per instant, rows alive per table.
    pub alive: Vec<BTreeMap<String, usize>>,
    /// Between consecutive instants: (opens, closes) over all tables.
    pub changes: Vec<(usize, usize)>,
}

/// The demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Generating.
    #[error(transparent)]
    Generate(#[from] GenerateError),
    /// Importing.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// A file was rejected (a generator bug).
    #[error("netstate demo: {0}")]
    Rejected(String),
    /// Querying.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// Printing.
    #[error("netstate demo: output: {0}")]
    Output(#[from] std::io::Error),
}

impl HasExit for DemoError {
    fn exit(&self) -> Exit {
        match self {
            DemoError::Generate(e) => e.exit(),
            DemoError::Import(e) => e.exit(),
            DemoError::Rejected(_) => Exit::Rejected,
            DemoError::Query(e) => e.exit(),
            DemoError::Output(_) => Exit::Storage,
        }
    }
}

const TABLES: [&str; 5] = ["FLOW", "FLOW_SETUP", "LEARNING", "LLDP_LINKS", "PF"];

/// Runs the demo in `data` on `wh`, printing to `out`.
pub fn demo(
    data: &DataDir,
    wh: &mut Warehouse,
    out: &mut dyn Write,
) -> Result<DemoSummary, DemoError> {
    let generated = data.root().join("demo").join("netstate");
    let opts = GenerateOptions {
        out: generated.clone(),
        seed: 2010,
        rows: Some(30_000),
        switches: 8,
        hosts: 60,
        flows_per_s: 40.0,
        period_s: 15,
        restart_every_s: 240,
        sources: 2,
        late: 0.3,
        batches: 3,
        ..GenerateOptions::default()
    };
    let manifest = generate(&opts)?;
    writeln!(
        out,
        "netstate: generated {} rows in {} files for {} controllers ({})",
        manifest.rows,
        manifest.files.len(),
        manifest.sources.len(),
        manifest
            .rows_per_table
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    let (mut files, mut rows) = (0, 0);
    for batch in 0..opts.batches {
        for source in &manifest.sources {
            let dir = manifest.batch_dir(source, batch);
            if !dir.exists() {
                continue;
            }
            let report = Importer::new(
                wh,
                data,
                ImportOptions {
                    import_dir: Some(dir),
                    loaded_dir: None,
                    source: source.clone(),
                    snapshot_every: 1000,
                    wait_secs: 0,
                },
            )
            .run()?;
            if let Some(r) = report.rejection() {
                return Err(DemoError::Rejected(r.to_string()));
            }
            files += report.files.len();
            rows += report.rows;
        }
    }
    let log = query::log(wh)?;
    let remerged = log.iter().filter(|l| l.remerged_from.is_some()).count();
    writeln!(
        out,
        "netstate: imported {files} files, {rows} rows; {remerged} late files re-merged"
    )?;
    let all: Vec<String> = TABLES.iter().map(|s| s.to_string()).collect();
    let (lo, hi) = query::range(wh, &all)?;
    let (lo, hi) = (lo.unwrap_or(0), hi.unwrap_or(0));
    let instants: Vec<i64> = (1..=3).map(|k| lo + (hi - lo) * k / 4).collect();
    let mut alive = Vec::new();
    for &t in &instants {
        let mut per = BTreeMap::new();
        for table in TABLES {
            per.insert(table.to_string(), query::at(wh, table, t, None)?.len());
        }
        let links = query::at(wh, "LLDP_LINKS", t, None)?;
        writeln!(
            out,
            "netstate: at {}: {} flows, {} links, {} hosts located, {} fingerprints",
            format_us(t),
            per["FLOW"],
            per["LLDP_LINKS"],
            per["LEARNING"],
            per["PF"]
        )?;
        let def = query::def(wh, "LLDP_LINKS")?;
        for l in links.iter().take(3) {
            let d = l.to_display(&def);
            writeln!(out, "    link {}:{} -> {}:{}", d[3], d[4], d[5], d[6])?;
        }
        alive.push(per);
    }
    let mut changes = Vec::new();
    for w in instants.windows(2) {
        let (a, b) = (w[0], w[1]);
        let ch = query::changes(wh, &all, a, b)?;
        let opens = ch.iter().filter(|c| c.kind == ChangeKind::Open).count();
        let mut per: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for c in &ch {
            let e = per.entry(c.row.table.as_str()).or_default();
            if c.kind == ChangeKind::Open {
                e.0 += 1
            } else {
                e.1 += 1
            }
        }
        writeln!(
            out,
            "netstate: changes ({}, {}]: {} opens, {} closes ({})",
            format_us(a),
            format_us(b),
            opens,
            ch.len() - opens,
            per.iter().map(|(t, (o, c))| format!("{t} +{o}/-{c}")).collect::<Vec<_>>().join(", ")
        )?;
        changes.push((opens, ch.len() - opens));
    }
    Ok(DemoSummary { generated, files, rows, remerged, instants, alive, changes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_prints_three_instants_and_the_changes_between() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        let mut wh = Warehouse::open(None, &data).unwrap();
        let mut out = Vec::new();
        let s = demo(&data, &mut wh, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        eprintln!("{text}");
        assert_eq!(s.instants.len(), 3);
        assert_eq!(text.matches("netstate: at ").count(), 3, "{text}");
        assert_eq!(text.matches("netstate: changes").count(), 2, "{text}");
        assert!(s.rows >= 30_000);
        assert!(s.alive.iter().all(|a| a["FLOW"] > 0), "{text}");
        // Identity: the state moves from one instant to the next by exactly the changes.
        for (k, (o, c)) in s.changes.iter().enumerate() {
            let sum = |m: &BTreeMap<String, usize>| m.values().sum::<usize>() as i64;
            assert_eq!(sum(&s.alive[k + 1]) - sum(&s.alive[k]), *o as i64 - *c as i64);
        }
    }
}
