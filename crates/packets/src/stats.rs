//! `vantage packets stats` (spec §9): per class stored/cut totals, what is on disk and its
//! retention span, index sizes as a share of stored packet bytes, and the drop counters.

use std::path::Path;

use serde::Serialize;

use crate::counters::Counters;
use crate::error::StoreError;
use crate::store::Store;
use crate::vidx::Vidx;

/// One class's row.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClassStats {
    /// Class (directory) name.
    pub class: String,
    /// Packets stored (all runs).
    pub stored_pkts: u64,
    /// Captured bytes stored.
    pub stored_bytes: u64,
    /// Packets cut.
    pub cut_pkts: u64,
    /// Captured bytes cut.
    pub cut_bytes: u64,
    /// Closed segments on disk.
    pub segments: u64,
    /// Packets on disk.
    pub disk_pkts: u64,
    /// Bytes of segments on disk.
    pub disk_bytes: u64,
    /// Bytes of their indexes.
    pub index_bytes: u64,
    /// Oldest packet on disk (ns).
    pub oldest_ns: Option<i64>,
    /// Newest packet on disk (ns).
    pub newest_ns: Option<i64>,
    /// Retention span in seconds.
    pub disk_dt: f64,
}

/// The whole report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Per class.
    pub classes: Vec<ClassStats>,
    /// Index bytes / stored segment bytes, percent.
    pub index_pct_of_stored: f64,
    /// Recorder totals.
    pub counters: Counters,
}

/// Reads the directory's statistics.
pub fn stats(root: &Path) -> Result<Stats, StoreError> {
    let store = Store::open_read(root)?;
    let counters = Counters::load(root);
    let mut out = Stats::default();
    let (mut idx, mut seg) = (0u64, 0u64);
    for (name, cd) in &store.classes {
        let c = counters.classes.get(name).copied().unwrap_or_default();
        let mut row = ClassStats {
            class: name.clone(),
            stored_pkts: c.stored_pkts,
            stored_bytes: c.stored_bytes,
            cut_pkts: c.cut_pkts,
            cut_bytes: c.cut_bytes,
            ..Default::default()
        };
        for s in &cd.closed {
            row.segments += 1;
            row.disk_bytes += s.pcap_bytes;
            row.index_bytes += s.vidx_bytes;
            if let Ok(v) = Vidx::open(&s.vidx) {
                if v.header.packets > 0 {
                    row.disk_pkts += v.header.packets;
                    row.oldest_ns =
                        Some(row.oldest_ns.map_or(v.header.first_ns, |o| o.min(v.header.first_ns)));
                    row.newest_ns =
                        Some(row.newest_ns.map_or(v.header.last_ns, |o| o.max(v.header.last_ns)));
                }
            }
        }
        if let (Some(a), Some(b)) = (row.oldest_ns, row.newest_ns) {
            row.disk_dt = (b - a) as f64 / 1e9;
        }
        idx += row.index_bytes;
        seg += row.disk_bytes;
        out.classes.push(row);
    }
    for (name, c) in &counters.classes {
        if !out.classes.iter().any(|r| &r.class == name) {
            out.classes.push(ClassStats {
                class: name.clone(),
                stored_pkts: c.stored_pkts,
                stored_bytes: c.stored_bytes,
                cut_pkts: c.cut_pkts,
                cut_bytes: c.cut_bytes,
                ..Default::default()
            });
        }
    }
    out.index_pct_of_stored = if seg == 0 { 0.0 } else { idx as f64 * 100.0 / seg as f64 };
    out.counters = counters;
    Ok(out)
}
