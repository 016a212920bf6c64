//! `vantage packets reindex` and `prune --class NAME` (spec §9): maintenance of the packets
//! directory under the same locks as recording (the named lock `packets` and
//! `recorder.lock`).

use vantage_core::DataDir;
use vantage_warehouse::{Lock, Warehouse};

use crate::config::PacketsConfig;
use crate::error::StoreError;
use crate::key::IndexKind;
use crate::record::packets_root;
use crate::store::Store;

fn enabled(cfg: &PacketsConfig) -> Vec<IndexKind> {
    let mut e = cfg.indexes.clone();
    e.sort();
    e.dedup();
    e.retain(|k| *k != IndexKind::L2);
    e
}

/// Rebuilds every segment's index from the segment, then the merged levels; returns the
/// segments indexed.
pub fn reindex(data: &DataDir, wh: &Warehouse, cfg: &PacketsConfig) -> Result<u64, StoreError> {
    let root = packets_root(data, cfg)?;
    let _lock = Lock::acquire(wh, data, "packets")?;
    let en = enabled(cfg);
    let mut store = Store::open_write(&root, &en, cfg.index_gap.0, cfg.frag_timeout.0)?;
    let n = store.reindex_all(&en, cfg.index_gap.0, cfg.frag_timeout.0)?;
    let names: Vec<String> = store.classes.keys().cloned().collect();
    for name in names {
        store.merge(&name, cfg.merge_fanout, cfg.index_levels)?;
    }
    Ok(n)
}

/// Deletes one class directory's segments and indexes; returns the segments deleted.
pub fn prune(
    data: &DataDir,
    wh: &Warehouse,
    cfg: &PacketsConfig,
    class: &str,
) -> Result<u64, StoreError> {
    let root = packets_root(data, cfg)?;
    let _lock = Lock::acquire(wh, data, "packets")?;
    let en = enabled(cfg);
    let mut store = Store::open_write(&root, &en, cfg.index_gap.0, cfg.frag_timeout.0)?;
    store.prune_class(class)
}
