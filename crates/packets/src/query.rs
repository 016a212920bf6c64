//! Queries (spec §7): every stored packet of every class whose connection matches an
//! index key, or that a filter matches, within an optional time range; each once, ordered
//! by time, then class (higher precedence first), then arrival.
//!
//! Index queries binary-search each segment's `.vidx` for the key's intervals, read only
//! the time-directory blocks those intervals touch, and check each packet's keys exactly
//! (a non-first fragment's connection is the recorder's attribution from the fragment
//! table, never re-derived). Filter queries scan every segment in range, so that they
//! equal the full-scan result by construction. A damaged index is rebuilt in memory for
//! the query, never trusted.

use std::path::Path;

use crate::capture::Frame;
use crate::decode::{decode, L3};
use crate::error::StoreError;
use crate::filter::{Filter, PacketRef};
use crate::key::{parse_key, ConnKey, IndexKind, Key};
use crate::segment::{self, packet_keys, scan_range};
use crate::store::Store;
use crate::vidx::Vidx;

/// What to select.
#[derive(Debug, Clone)]
pub enum Selector {
    /// An index kind and key.
    Index {
        /// The kind.
        kind: IndexKind,
        /// The binary key.
        key: Key,
    },
    /// A filter expression.
    Filter(Filter),
}

/// A query.
#[derive(Debug, Clone)]
pub struct Query {
    /// What.
    pub selector: Selector,
    /// Inclusive start (ns).
    pub start: Option<i64>,
    /// Inclusive end (ns).
    pub end: Option<i64>,
    /// Memory only (needs a running recorder).
    pub mem_only: bool,
}

impl Query {
    /// An index query from TM's kind name (`conn4` or `connection4`, ...) and key text.
    pub fn index(kind: &str, key: &str) -> Result<Query, StoreError> {
        let kind = IndexKind::parse(kind).filter(|k| *k != IndexKind::L2).ok_or_else(|| {
            StoreError::Query(format!(
                "no such index {kind:?}; use conn4, conn3, conn2, ip or port"
            ))
        })?;
        let key = parse_key(kind, key).map_err(StoreError::Query)?;
        Ok(Query {
            selector: Selector::Index { kind, key },
            start: None,
            end: None,
            mem_only: false,
        })
    }

    /// A filter query.
    pub fn filter(expr: &str) -> Result<Query, StoreError> {
        Ok(Query {
            selector: Selector::Filter(Filter::parse(expr)?),
            start: None,
            end: None,
            mem_only: false,
        })
    }

    fn in_range(&self, ts: i64) -> bool {
        self.start.is_none_or(|s| ts >= s) && self.end.is_none_or(|e| ts <= e)
    }

    fn overlaps(&self, a: i64, b: i64) -> bool {
        self.start.is_none_or(|s| b >= s) && self.end.is_none_or(|e| a <= e)
    }
}

/// One packet of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Time.
    pub ts_ns: i64,
    /// Class rank (0 = highest precedence).
    pub rank: usize,
    /// Segment.
    pub segid: u64,
    /// Byte offset of its record in the segment (arrival order within the segment).
    pub offset: u64,
    /// Link type.
    pub linktype: u16,
    /// Wire length.
    pub wirelen: u32,
    /// Captured bytes.
    pub data: Vec<u8>,
}

/// A query's result.
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    /// The packets, in order.
    pub hits: Vec<Hit>,
    /// Segments searched (key present or scanned).
    pub segments_read: u64,
    /// Segments in the directory.
    pub segments_total: u64,
    /// The oldest packet still retained, if any.
    pub oldest_ns: Option<i64>,
    /// Indexes that failed their check and were rebuilt for this query.
    pub rebuilt_indexes: u64,
    /// Time the search took, in nanoseconds (writing the output not included).
    pub elapsed_ns: u64,
    /// The deadline passed before the search ended: `hits` is a part of the answer.
    pub timed_out: bool,
}

/// A query's time limit (the console's `query_timeout`): the clock is read at each
/// segment and every [`Deadline::EVERY`] packets, so a check costs next to nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Deadline {
    at: Option<std::time::Instant>,
    seen: u32,
}

impl Deadline {
    /// Packets between two reads of the clock.
    pub const EVERY: u32 = 256;

    /// No limit.
    pub fn none() -> Deadline {
        Deadline::default()
    }

    /// A limit at `at`.
    pub fn at(at: std::time::Instant) -> Deadline {
        Deadline { at: Some(at), seen: 0 }
    }

    /// True once the limit has passed (reads the clock).
    pub fn expired(&self) -> bool {
        self.at.is_some_and(|at| std::time::Instant::now() >= at)
    }

    /// Counts one packet; true when the limit has passed (the clock read on the first
    /// packet and every [`Deadline::EVERY`] after it).
    pub fn tick(&mut self) -> bool {
        if self.at.is_none() {
            return false;
        }
        let check = self.seen.is_multiple_of(Self::EVERY);
        self.seen = self.seen.wrapping_add(1);
        check && self.expired()
    }
}

impl QueryResult {
    /// A one-line summary for stderr, saying when the range reaches evicted time.
    pub fn summary(&self, q: &Query) -> String {
        let bytes: u64 = self.hits.iter().map(|h| 16 + h.data.len() as u64).sum();
        let mut s = format!(
            "{} packets, {} bytes from {} of {} segments in {:.2} ms",
            self.hits.len(),
            bytes,
            self.segments_read,
            self.segments_total,
            self.elapsed_ns as f64 / 1e6
        );
        match self.oldest_ns {
            None => s.push_str("; nothing is stored"),
            Some(o) => {
                let t = vantage_core::Timestamp::from_nanos(o).to_rfc3339();
                if q.end.is_some_and(|e| e < o) {
                    s.push_str(&format!("; the range ends before the oldest retained packet ({t}): that time was evicted"));
                } else if q.start.is_some_and(|st| st < o) {
                    s.push_str(&format!("; the range starts before the oldest retained packet ({t}): older data were evicted or never stored"));
                }
            }
        }
        if self.rebuilt_indexes > 0 {
            s.push_str(&format!(
                "; {} damaged indexes rebuilt for this query",
                self.rebuilt_indexes
            ));
        }
        s
    }
}

/// The connection key of a stored packet: the fragment table's attribution, else decoded.
fn stored_conn(f: &Frame, frag: Option<&Key>) -> (Option<ConnKey>, u16) {
    if let Some(k) = frag.and_then(|k| ConnKey::from_conn4(k.as_bytes())) {
        return (Some(k), 0);
    }
    let d = decode(f.linktype, &f.data, f.big_endian);
    if d.l3 == L3::None {
        return (None, d.ethertype);
    }
    (Some(ConnKey::new(d.proto, d.src, d.sport, d.dst, d.dport)), d.ethertype)
}

/// True when the stored packet `f` is selected; `frag`: the recorder's attribution of a
/// non-first fragment (from the fragment table, or the ring), never re-derived.
pub(crate) fn selects(
    sel: &Selector,
    f: &Frame,
    frag: Option<&Key>,
    keys: &mut Vec<(IndexKind, Key)>,
) -> bool {
    match sel {
        Selector::Filter(flt) => flt.matches(&PacketRef {
            linktype: f.linktype,
            data: &f.data,
            wirelen: f.wirelen,
            big_endian: f.big_endian,
        }),
        Selector::Index { kind, key } => {
            let (conn, et) = stored_conn(f, frag);
            packet_keys(conn.as_ref(), et, &[*kind], keys);
            keys.iter().any(|(k, v)| k == kind && v == key)
        }
    }
}

impl Query {
    /// Inclusive range check (live queries over the ring and open segments).
    pub(crate) fn covers(&self, ts: i64) -> bool {
        self.in_range(ts)
    }
}

/// Runs a query over the directory `root`; `class_order` lists class directory names by
/// precedence (directories not listed rank after, by name).
pub fn run(root: &Path, class_order: &[String], q: &Query) -> Result<QueryResult, StoreError> {
    run_within(root, class_order, q, &mut Deadline::none())
}

/// [`run`] stopping at `deadline` (the result then says `timed_out`).
pub fn run_within(
    root: &Path,
    class_order: &[String],
    q: &Query,
    deadline: &mut Deadline,
) -> Result<QueryResult, StoreError> {
    run_skipping(root, class_order, q, deadline, &std::collections::HashSet::new())
}

/// [`run_within`] leaving out the segments `skip` (a running recorder's open ones,
/// read from its snapshot) and segments deleted while the query runs (retention).
pub(crate) fn run_skipping(
    root: &Path,
    class_order: &[String],
    q: &Query,
    deadline: &mut Deadline,
    skip: &std::collections::HashSet<u64>,
) -> Result<QueryResult, StoreError> {
    if q.mem_only {
        return Err(StoreError::Query(
            "--mem-only needs a running recorder: no recorder running on this data directory (vantage packets record --interface IF; or give --console ADDR)"
                .into(),
        ));
    }
    let started = std::time::Instant::now();
    let store = Store::open_read(root)?;
    let mut result = QueryResult::default();
    let mut dirs: Vec<(usize, &String)> = store
        .classes
        .keys()
        .map(|n| (class_order.iter().position(|c| c == n).unwrap_or(class_order.len()), n))
        .collect();
    dirs.sort();
    let mut keys = Vec::new();
    for (rank, name) in dirs {
        let Some(cd) = store.classes.get(name) else { continue };
        let candidates = merged_candidates(cd, &q.selector);
        for seg in &cd.closed {
            if skip.contains(&seg.segid) {
                continue;
            }
            result.segments_total += 1;
            if result.timed_out || deadline.expired() {
                result.timed_out = true;
                continue;
            }
            if candidates.as_ref().is_some_and(|c| !c.contains(&seg.segid)) {
                continue;
            }
            let mut vidx = match Vidx::open(&seg.vidx) {
                Ok(v) => v,
                // Deleted since the directory was listed (retention of a live recorder).
                Err(_) if !seg.pcap.exists() => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "Index not trusted; rebuilt for this query.");
                    result.rebuilt_indexes += 1;
                    rebuild(seg)?
                }
            };
            if vidx.header.packets == 0 {
                continue;
            }
            let h = vidx.header;
            result.oldest_ns =
                Some(result.oldest_ns.map_or(h.first_ns, |o: i64| o.min(h.first_ns)));
            if !q.overlaps(h.first_ns, h.last_ns) {
                continue;
            }
            let mut plan = plan_for(&vidx, q);
            if vidx.damaged() {
                tracing::warn!(index = %seg.vidx.display(), "Index section failed its checksum; rebuilt for this query.");
                result.rebuilt_indexes += 1;
                vidx = rebuild(seg)?;
                plan = plan_for(&vidx, q);
            }
            let Some((ranges, frags, postings)) = plan else { continue };
            result.segments_read += 1;
            let mut timed_out = false;
            let mut check = |ordinal: Option<u64>, offset: u64, f: &Frame| -> bool {
                if timed_out || deadline.tick() {
                    timed_out = true;
                    return false;
                }
                if !q.in_range(f.ts_ns) {
                    return true;
                }
                if selects(&q.selector, f, ordinal.and_then(|o| frags.get(&o)), &mut keys) {
                    result.hits.push(Hit {
                        ts_ns: f.ts_ns,
                        rank,
                        segid: seg.segid,
                        offset,
                        linktype: f.linktype,
                        wirelen: f.wirelen,
                        data: f.data.clone(),
                    });
                }
                true
            };
            if let Some(offsets) = postings {
                // ip postings: addresses of a non-first fragment are its connection's,
                // so the fragment table is not needed here.
                let map = segment::Mapped::open(&seg.pcap)?;
                let mut f = Frame::default();
                for off in offsets {
                    if map.read_at(off, &mut f) && !check(None, off, &f) {
                        break;
                    }
                }
            } else {
                for (from, to, first_ord) in ranges {
                    scan_range(&seg.pcap, from, to, first_ord, |ordinal, offset, f| {
                        check(Some(ordinal), offset, f)
                    })?;
                }
            }
            result.timed_out |= timed_out;
        }
    }
    result.elapsed_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    result.hits.sort_by(|a, b| {
        (a.ts_ns, a.rank, a.segid, a.offset).cmp(&(b.ts_ns, b.rank, b.segid, b.offset))
    });
    Ok(result)
}

type Plan = Option<(Vec<(u64, u64, u64)>, std::collections::HashMap<u64, Key>, Option<Vec<u64>>)>;

fn rebuild(seg: &crate::segment::Closed) -> Result<Vidx, StoreError> {
    let idx = segment::reindex(&seg.pcap, &IndexKind::DEFAULT, 30_000_000_000, 30_000_000_000)?;
    Ok(Vidx::parse(&seg.vidx, idx.encode(seg.segid))?)
}

/// The byte ranges (from, to, first ordinal) of a segment to read for `q`, and its
/// fragment table; `None` when the segment holds nothing for the query.
fn plan_for(vidx: &Vidx, q: &Query) -> Plan {
    let ranges: Vec<(u64, u64, u64)> = match &q.selector {
        Selector::Filter(_) => vec![(24, u64::MAX, 0)],
        Selector::Index { kind, key } => {
            if let Some(p) = vidx.postings(*kind, key) {
                return if p.is_empty() {
                    None
                } else {
                    Some((Vec::new(), Default::default(), Some(p)))
                };
            }
            let ivs: Vec<(i64, i64)> =
                vidx.lookup(*kind, key).into_iter().filter(|(a, b)| q.overlaps(*a, *b)).collect();
            if ivs.is_empty() {
                return None;
            }
            let blocks = vidx.time_dir();
            let mut out: Vec<(u64, u64, u64)> = Vec::new();
            for (i, b) in blocks.iter().enumerate() {
                if !ivs.iter().any(|(s, e)| b.max >= *s && b.min <= *e) {
                    continue;
                }
                let end = blocks.get(i + 1).map_or(u64::MAX, |n| n.offset);
                match out.last_mut() {
                    Some(last) if last.1 == b.offset => last.1 = end,
                    _ => out.push((b.offset, end, b.ordinal)),
                }
            }
            out
        }
    };
    Some((ranges, vidx.fragments(), None))
}

/// For an index query, the segments the merged levels say may hold the key: for each
/// segment, its highest-level merged file decides; segments no merged file covers stay
/// candidates. `None` when there is nothing to narrow with. A merged file that fails its
/// check is ignored, never trusted.
fn merged_candidates(
    cd: &crate::store::ClassDir,
    sel: &Selector,
) -> Option<std::collections::HashSet<u64>> {
    let Selector::Index { kind, key } = sel else { return None };
    if cd.merged.is_empty() {
        return None;
    }
    let mut files: Vec<&crate::store::Merged> = cd.merged.iter().collect();
    files.sort_by(|a, b| b.level.cmp(&a.level).then(a.first.cmp(&b.first)));
    let mut lookups: std::collections::HashMap<&Path, Option<Vec<u64>>> =
        std::collections::HashMap::new();
    let mut out = std::collections::HashSet::new();
    for seg in &cd.closed {
        let mut decided = false;
        for f in files.iter().filter(|f| f.first <= seg.segid && seg.segid <= f.last) {
            let segs = lookups.entry(f.path.as_path()).or_insert_with(|| {
                Vidx::open(&f.path)
                    .ok()
                    .map(|v| (v.lookup_segids(*kind, key), v.damaged()))
                    .and_then(|(s, bad)| (!bad).then_some(s))
            });
            if let Some(segs) = segs {
                if segs.contains(&seg.segid) {
                    out.insert(seg.segid);
                }
                decided = true;
                break;
            }
        }
        if !decided {
            out.insert(seg.segid);
        }
    }
    Some(out)
}

/// Writes a result as pcap (pcapng for mixed link types or when asked).
pub fn write_result<W: std::io::Write>(
    r: &QueryResult,
    out: W,
    micro: bool,
    pcapng: bool,
) -> std::io::Result<u64> {
    let mut lts: Vec<u16> = r.hits.iter().map(|h| h.linktype).collect();
    lts.sort();
    lts.dedup();
    let mut w = crate::pcapout::OutputWriter::new(out, &lts, pcapng, micro)?;
    for h in &r.hits {
        w.write(h.linktype, h.ts_ns, h.wirelen, &h.data)?;
    }
    let n = w.bytes;
    w.finish()?;
    Ok(n)
}
