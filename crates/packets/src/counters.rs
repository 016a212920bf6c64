//! The recorder's counters (spec §9), kept across runs in `logs/counters.json` so that
//! `vantage packets stats` reports the directory's whole history, not one run's.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Per-class totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClassCounters {
    /// Packets stored.
    pub stored_pkts: u64,
    /// Captured bytes stored.
    pub stored_bytes: u64,
    /// Packets cut.
    pub cut_pkts: u64,
    /// Captured bytes cut.
    pub cut_bytes: u64,
}

/// Recorder totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    /// Packets seen.
    pub tot_pkts: u64,
    /// Wire bytes seen.
    pub tot_bytes: u64,
    /// Packets the capture filter refused.
    pub filtered: u64,
    /// Non-IP packets.
    pub nonip: u64,
    /// IP packets that could not be decoded (counted within nonip too).
    pub undecodable: u64,
    /// Packets of no class.
    pub unclassified: u64,
    /// Non-first fragments without a remembered first fragment.
    pub frag_unattributed: u64,
    /// Connections evicted at max_conns.
    pub conn_evictions: u64,
    /// Flows emitted.
    pub flows_out: u64,
    /// Packets with caplen > wire length.
    pub caplen_gt_len: u64,
    /// Packets stored truncated to snaplen.
    pub caplen_capped: u64,
    /// Packets lost because the ring was full of unwritten packets.
    pub ring_drops: u64,
    /// Packets lost between capture and storage.
    pub queue_drops: u64,
    /// Segments deleted by retention.
    pub segments_evicted: u64,
    /// Per class.
    pub classes: BTreeMap<String, ClassCounters>,
}

impl Counters {
    /// The file under the packets directory.
    pub fn path(root: &Path) -> std::path::PathBuf {
        root.join("logs").join("counters.json")
    }

    /// Reads the saved counters (defaults when absent or unreadable).
    pub fn load(root: &Path) -> Counters {
        std::fs::read(Self::path(root))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Saves atomically.
    pub fn save(&self, root: &Path) -> std::io::Result<()> {
        let p = Self::path(root);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        vantage_core::publish::write_atomic(&p, &bytes, false).map(|_| ())
    }
}
