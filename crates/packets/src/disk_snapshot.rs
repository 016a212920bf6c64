//! The disk part of a query on a running recorder, taken under the recorder's lock and
//! searched without it, so that storage (and so capture) goes on during a long search.
//!
//! Taken after a flush: the open segments as they stand (path, length written, fragment
//! table). The search then reads the closed segments from the directory, skipping the
//! snapshot's open ones, and each open one up to its snapshot length. Meanwhile the
//! recorder may append to an open segment (the prefix read does not change), close it
//! (the same bytes under the closed name, which is then read instead: never twice), or
//! delete old closed segments for retention (skipped: their packets are gone).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::error::StoreError;
use crate::key::Key;
use crate::query::{Deadline, Hit, Query, QueryResult};

/// One open segment as the snapshot saw it.
pub(crate) struct OpenPart {
    /// Class rank (precedence order).
    pub rank: usize,
    /// Its id.
    pub segid: u64,
    /// The `.open` path, and the name it gets when closed.
    pub path: PathBuf,
    /// The name it gets when closed.
    pub closed_path: PathBuf,
    /// Bytes written at the snapshot (all whole records, after a flush).
    pub len: u64,
    /// Its fragment table (the recorder's attributions).
    pub frags: HashMap<u64, Key>,
}

/// What a query needs of a running recorder's disk, free of its lock.
pub struct DiskSnapshot {
    pub(crate) root: PathBuf,
    pub(crate) order: Vec<String>,
    pub(crate) open: Vec<OpenPart>,
}

impl DiskSnapshot {
    /// Runs `q` (not `mem_only`) over the snapshot until `deadline`.
    pub fn run(&self, q: &Query, deadline: &mut Deadline) -> Result<QueryResult, StoreError> {
        let started = std::time::Instant::now();
        let skip: HashSet<u64> = self.open.iter().map(|o| o.segid).collect();
        let mut out = crate::query::run_skipping(&self.root, &self.order, q, deadline, &skip)?;
        let mut keys = Vec::new();
        for part in &self.open {
            if out.timed_out {
                break;
            }
            let path = if part.path.exists() { &part.path } else { &part.closed_path };
            if !path.exists() {
                continue;
            }
            out.segments_total += 1;
            out.segments_read += 1;
            crate::segment::scan_range(path, 24, part.len, 0, |ordinal, offset, f| {
                if deadline.tick() {
                    out.timed_out = true;
                    return false;
                }
                out.oldest_ns = Some(out.oldest_ns.map_or(f.ts_ns, |o| o.min(f.ts_ns)));
                if q.covers(f.ts_ns)
                    && crate::query::selects(&q.selector, f, part.frags.get(&ordinal), &mut keys)
                {
                    out.hits.push(Hit {
                        ts_ns: f.ts_ns,
                        rank: part.rank,
                        segid: part.segid,
                        offset,
                        linktype: f.linktype,
                        wirelen: f.wirelen,
                        data: f.data.clone(),
                    });
                }
                true
            })?;
        }
        out.hits.sort_by(|a, b| {
            (a.ts_ns, a.rank, a.segid, a.offset).cmp(&(b.ts_ns, b.rank, b.segid, b.offset))
        });
        out.elapsed_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        Ok(out)
    }
}
