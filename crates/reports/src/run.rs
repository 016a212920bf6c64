//! `vantage reports run` (spec §9): ingest of `inbox/reports/drop/`, then canning,
//! autoclaving and centrifugation of every bucket with new or outdated work. A second run
//! does nothing.

use serde::Serialize;
use vantage_core::DataDir;
use vantage_warehouse::{Lock, Warehouse};

use crate::{
    autoclave, can, centrifuge, ingest, AutoclaveSummary, CanSummary, CentrifugeSummary,
    IngestSummary, ReportsConfig, ReportsError,
};

/// The name of the data directory's lock every reports stage takes (DESIGN.md).
pub const LOCK_NAME: &str = "reports";

/// Takes the `reports` lock (held: exit 2).
pub fn lock(wh: &Warehouse, data: &DataDir) -> Result<Lock, ReportsError> {
    Ok(Lock::acquire(wh, data, LOCK_NAME)?)
}

/// What one tick did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    /// Files taken from the drop directory.
    pub ingest: IngestSummary,
    /// Cans written.
    pub can: CanSummary,
    /// Clean cans written.
    pub autoclave: AutoclaveSummary,
    /// Files centrifuged.
    pub centrifuge: CentrifugeSummary,
}

/// One tick of every stage. The caller holds the lock.
pub fn run(
    data: &DataDir,
    wh: &mut Warehouse,
    config: &ReportsConfig,
) -> Result<RunSummary, ReportsError> {
    let drop = data.inbox("reports")?.join("drop");
    std::fs::create_dir_all(&drop).map_err(ReportsError::io(&drop))?;
    let mut dropped = Vec::new();
    for e in std::fs::read_dir(&drop).map_err(ReportsError::io(&drop))? {
        let p = e.map_err(ReportsError::io(&drop))?.path();
        let hidden = p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if !hidden {
            dropped.push(p);
        }
    }
    dropped.sort();
    let ingest = ingest(data, wh, &dropped, None)?;
    // Dropped files are ours once ingested (accepted, duplicate, or copied to quarantine).
    for p in &dropped {
        let r = if p.is_dir() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) };
        r.map_err(ReportsError::io(p))?;
    }
    let can = can(data, wh, config, None)?;
    let autoclave = autoclave(data, wh, config, None, false)?;
    let centrifuge = centrifuge(data, wh, None, false)?;
    Ok(RunSummary { ingest, can, autoclave, centrifuge })
}
