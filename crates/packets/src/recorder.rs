//! The recorder (spec §3): decode → connection table → class → cutoff → ring and
//! segments with their indexes; connections leaving the table become [`Flow`]s.
//!
//! File input is written synchronously, batched by a 1 MiB buffer per open segment and
//! flushed every `flush_interval` of packet time; the live path with its writer thread
//! and bounded queue arrives with live capture (issue 4).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::capture::{CaptureReader, Frame};
use crate::config::{Class, Cutoff, PacketsConfig};
use crate::conn::{ConnTable, EndReason, Flow};
use crate::counters::Counters;
use crate::decode::{decode, L3};
use crate::disk_snapshot::{DiskSnapshot, OpenPart};
use crate::error::{ReadError, StoreError};
use crate::filter::{Filter, PacketRef};
use crate::key::{ConnKey, IndexKind, Key};
use crate::query::{Deadline, Hit, Query, QueryResult};
use crate::ring::{Ring, RingPacket};
use crate::segment::{packet_keys, OpenSegment};
use crate::store::Store;

/// What a subscription receives: each later packet of its connection (stored or cut),
/// then `End` when the connection leaves the table.
pub enum SubEvent<'a> {
    /// A packet: time, wire length, captured bytes (capped at snaplen), link type.
    Packet {
        /// Time.
        ts_ns: i64,
        /// Wire length.
        wirelen: u32,
        /// Link type.
        linktype: u16,
        /// Bytes.
        data: &'a [u8],
    },
    /// The connection left the table; nothing follows.
    End,
}

/// A subscription's sink; returning false ends the subscription (its client went away).
pub type SubSink = Box<dyn FnMut(SubEvent<'_>) -> bool + Send>;

/// A dynamic class assignment (`set_dyn_class`): class index, the end the address must
/// be (`None`: either), expiry in packet time (`None` until the first packet sets it).
#[derive(Debug, Clone, Copy)]
struct DynClass {
    class: usize,
    end: Option<crate::console::End>,
    expires_ns: Option<i64>,
}

struct ClassRt {
    class: Class,
    ring: Ring,
    open: Vec<OpenSegment>,
}

/// The recorder of one packets directory.
pub struct Recorder {
    config: PacketsConfig,
    classes: Vec<ClassRt>,
    store: Store,
    table: ConnTable,
    capture_filter: Filter,
    enabled: Vec<IndexKind>,
    /// Totals, including earlier runs on this directory.
    pub counters: Counters,
    /// Kernel counters of the live capture feeding this recorder (0 for files).
    pub kernel: crate::metrics::KernelStats,
    flows: Vec<Flow>,
    keys: Vec<(IndexKind, Key)>,
    seq: u64,
    last_flush: i64,
    stopped: Option<PathBuf>,
    fail_at: Option<u64>,
    first_ts: Option<i64>,
    dyn_classes: HashMap<[u8; 16], DynClass>,
    subs: HashMap<ConnKey, Vec<SubSink>>,
    /// Packets and bytes that queries returned (stats.log `queryPkts queryBytes`).
    query_totals: (u64, u64),
}

/// What reading one file did.
#[derive(Debug)]
pub struct FileOutcome {
    /// The file.
    pub path: PathBuf,
    /// Packets read (before an error, if any).
    pub packets: u64,
    /// Why the file was rejected, if it was; earlier packets are kept.
    pub error: Option<ReadError>,
    /// Warnings (unknown pcapng blocks), naming file and offset.
    pub warnings: Vec<String>,
}

impl Recorder {
    /// Opens the packets directory `root` for recording (lock, recovery) with `config`.
    pub fn open(root: &Path, config: &PacketsConfig) -> Result<Recorder, StoreError> {
        let classes = config.build()?;
        let mut enabled = config.indexes.clone();
        enabled.sort();
        enabled.dedup();
        enabled.retain(|k| *k != IndexKind::L2);
        let gap = config.index_gap.0;
        let store = Store::open_write(root, &enabled, gap, config.frag_timeout.0)?;
        let counters = Counters::load(root);
        let capture_filter = Filter::parse(&config.filter)?;
        Ok(Recorder {
            classes: classes
                .into_iter()
                .map(|c| ClassRt { ring: Ring::new(c.mem), class: c, open: Vec::new() })
                .collect(),
            table: ConnTable::new(config.conn_timeout.0, config.max_conns, config.frag_timeout.0),
            config: config.clone(),
            store,
            capture_filter,
            enabled,
            counters,
            kernel: Default::default(),
            flows: Vec::new(),
            keys: Vec::new(),
            seq: 0,
            last_flush: i64::MIN,
            stopped: None,
            fail_at: None,
            first_ts: None,
            dyn_classes: HashMap::new(),
            subs: HashMap::new(),
            query_totals: (0, 0),
        })
    }

    /// The store (for what a restart recovered).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, mutable (the console notes its address in `recorder.lock`).
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Flows emitted so far and not yet taken.
    pub fn take_flows(&mut self) -> Vec<Flow> {
        std::mem::take(&mut self.flows)
    }

    /// The classes, highest precedence first.
    pub fn class_names(&self) -> Vec<String> {
        self.classes.iter().map(|c| c.class.config.name.clone()).collect()
    }

    /// The connection table (console, tests).
    pub fn table(&self) -> &ConnTable {
        &self.table
    }

    /// Reads one capture file to its end or its first error.
    pub fn read_file(&mut self, path: &Path) -> Result<FileOutcome, StoreError> {
        let mut out =
            FileOutcome { path: path.into(), packets: 0, error: None, warnings: Vec::new() };
        let mut reader = match CaptureReader::open(path) {
            Ok(r) => r,
            Err(e) => {
                out.error = Some(e);
                return Ok(out);
            }
        };
        let mut f = Frame::default();
        loop {
            match reader.next_into(&mut f) {
                Ok(true) => {
                    self.record(&f)?;
                    out.packets += 1;
                }
                Ok(false) => break,
                Err(e) => {
                    out.error = Some(e);
                    break;
                }
            }
        }
        out.warnings = reader.warnings().to_vec();
        self.flush()?;
        Ok(out)
    }

    /// Tests: segments behave as a full disk once they would pass `bytes`.
    #[doc(hidden)]
    pub fn inject_enospc_at(&mut self, bytes: u64) {
        self.fail_at = Some(bytes);
        for rt in &mut self.classes {
            for s in &mut rt.open {
                s.fail_at = Some(bytes);
            }
        }
    }

    fn in_memory(&self) -> u64 {
        self.classes.iter().map(|c| c.ring.usage().0).sum()
    }

    /// Full disk (§12): every open segment is cut back to its last whole record,
    /// indexed and closed; recording stops; memory stays queryable.
    fn disk_full(&mut self, path: PathBuf) -> StoreError {
        let (gap, ft) = (self.config.index_gap.0, self.config.frag_timeout.0);
        for rt in &mut self.classes {
            for seg in rt.open.drain(..) {
                match seg.close_after_full(&self.enabled, gap, ft) {
                    Ok(closed) => self.store.add_closed(rt.class.dir_name(), closed),
                    Err(e) => {
                        tracing::error!(error = %e, "Segment could not be closed after a full disk.")
                    }
                }
            }
        }
        let in_memory = self.in_memory();
        tracing::error!(path = %path.display(), in_memory, "Disk full: recording stopped.");
        self.stopped = Some(path.clone());
        StoreError::DiskFull { path, in_memory }
    }

    /// Records one frame.
    pub fn record(&mut self, f: &Frame) -> Result<(), StoreError> {
        if let Some(p) = &self.stopped {
            return Err(StoreError::DiskFull { path: p.clone(), in_memory: self.in_memory() });
        }
        match self.record_inner(f) {
            Err(StoreError::DiskFull { path, .. }) => Err(self.disk_full(path)),
            other => other,
        }
    }

    fn record_inner(&mut self, f: &Frame) -> Result<(), StoreError> {
        if self.first_ts.is_none() {
            self.first_ts = Some(f.ts_ns);
        }
        self.counters.tot_pkts += 1;
        self.counters.tot_bytes += u64::from(f.wirelen);
        let pref = PacketRef {
            linktype: f.linktype,
            data: &f.data,
            wirelen: f.wirelen,
            big_endian: f.big_endian,
        };
        if !self.capture_filter.is_all() && !self.capture_filter.matches(&pref) {
            self.counters.filtered += 1;
            return Ok(());
        }
        if f.caplen() > f.wirelen {
            self.counters.caplen_gt_len += 1;
        }
        let d = decode(f.linktype, &f.data, f.big_endian);
        if d.l3 == L3::None {
            self.counters.nonip += 1;
            if matches!(d.ethertype, 0x0800 | 0x86dd) {
                self.counters.undecodable += 1;
            }
        }
        let before = self.flows.len();
        self.table.advance(f.ts_ns, &mut self.flows);
        let placed = self.table.place(f, &d, &mut self.flows);
        if !self.subs.is_empty() && self.flows.len() > before {
            self.end_subscriptions(before);
        }
        let class_idx = match placed {
            Some(p) => {
                let cached = self.table.get(p.id).and_then(|c| c.class);
                match cached {
                    Some(c) => Some(c),
                    None => {
                        let ends = self.table.get(p.id).map(|c| (c.orig.0, c.resp.0));
                        let m = ends.and_then(|(o, r)| self.dyn_class_of(o, r, f.ts_ns)).or_else(
                            || self.classes.iter().position(|c| c.class.filter.matches(&pref)),
                        );
                        if let (Some(m), Some(conn)) = (m, self.table.get_mut(p.id)) {
                            conn.class = Some(m);
                        }
                        m
                    }
                }
            }
            None => self.classes.iter().position(|c| c.class.filter.matches(&pref)),
        };
        let Some(ci) = class_idx else {
            self.counters.unclassified += 1;
            return Ok(());
        };
        let caplen = u64::from(f.caplen());
        let store = match placed.and_then(|p| self.table.get(p.id)) {
            None => true, // non-IP: never cut
            Some(conn) => {
                let cutoff =
                    self.classes.get(ci).map(|c| c.class.config.cutoff).unwrap_or(Cutoff::Off);
                match cutoff {
                    Cutoff::Off => true,
                    Cutoff::Bytes(limit) => {
                        conn.suspend_cutoff || d.is_ctl() || conn.captured <= limit
                    }
                }
            }
        };
        if !self.subs.is_empty() {
            if let Some(p) = placed {
                let snap = self.config.snaplen as usize;
                let data = f.data.get(..snap).unwrap_or(&f.data[..]);
                if let Some(list) = self.subs.get_mut(&p.key) {
                    list.retain_mut(|sink| {
                        sink(SubEvent::Packet {
                            ts_ns: f.ts_ns,
                            wirelen: f.wirelen,
                            linktype: f.linktype,
                            data,
                        })
                    });
                    if list.is_empty() {
                        self.subs.remove(&p.key);
                    }
                }
            }
        }
        let name = self.classes.get(ci).map(|c| c.class.config.name.clone()).unwrap_or_default();
        let cc = self.counters.classes.entry(name).or_default();
        if let Some(conn) = placed.and_then(|p| self.table.get_mut(p.id)) {
            if store {
                conn.stored_pkts += 1;
                conn.stored_bytes += caplen;
            } else {
                conn.cut_pkts += 1;
                conn.cut_bytes += caplen;
            }
        }
        if !store {
            cc.cut_pkts += 1;
            cc.cut_bytes += caplen;
            return Ok(());
        }
        cc.stored_pkts += 1;
        cc.stored_bytes += caplen;
        let snap = self.config.snaplen as usize;
        let data = if f.data.len() > snap {
            self.counters.caplen_capped += 1;
            f.data.get(..snap).unwrap_or_default()
        } else {
            &f.data[..]
        };
        packet_keys(placed.as_ref().map(|p| &p.key), d.ethertype, &self.enabled, &mut self.keys);
        let frag = placed.filter(|p| p.nonfirst_fragment).map(|p| p.key.conn4());
        self.store_packet(ci, f, data, frag)?;
        if f.ts_ns.saturating_sub(self.last_flush) >= self.config.flush_interval.0 {
            self.last_flush = f.ts_ns;
            self.flush()?;
        }
        Ok(())
    }

    fn store_packet(
        &mut self,
        ci: usize,
        f: &Frame,
        data: &[u8],
        frag: Option<Key>,
    ) -> Result<(), StoreError> {
        self.seq += 1;
        let gap = self.config.index_gap.0;
        let min_free = self.config.min_free;
        let Some(rt) = self.classes.get_mut(ci) else { return Ok(()) };
        rt.ring.push(RingPacket {
            ts_ns: f.ts_ns,
            wirelen: f.wirelen,
            linktype: f.linktype,
            seq: self.seq,
            data: data.to_vec(),
            frag,
        });
        let rec = 16 + data.len() as u64;
        let filesize = rt.class.config.filesize.0;
        let pos = rt.open.iter().position(|s| s.linktype == f.linktype);
        let pos = match pos {
            Some(i)
                if rt
                    .open
                    .get(i)
                    .is_some_and(|s| s.bytes + rec > filesize && s.index.packets() > 0) =>
            {
                let seg = rt.open.swap_remove(i);
                let closed = seg.close()?;
                self.store.add_closed(rt.class.dir_name(), closed);
                self.store.merge(
                    rt.class.dir_name(),
                    self.config.merge_fanout,
                    self.config.index_levels,
                )?;
                None
            }
            other => other,
        };
        let i = match pos {
            Some(i) => i,
            None => {
                let seg = self.store.start_segment(
                    rt.class.dir_name(),
                    rt.class.config.disk,
                    filesize,
                    min_free,
                    f.linktype,
                    f.ts_ns,
                    gap,
                )?;
                rt.open.push(seg);
                if let Some(s) = rt.open.last_mut() {
                    s.fail_at = self.fail_at;
                }
                rt.open.len() - 1
            }
        };
        if let Some(seg) = rt.open.get_mut(i) {
            seg.append(f.ts_ns, f.wirelen, data, &self.keys, frag)?;
        }
        Ok(())
    }

    /// Writes buffered packets to their segments.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        let mut err = None;
        for rt in &mut self.classes {
            for s in &mut rt.open {
                if let Err(e) = s.flush() {
                    err = Some(e);
                }
            }
        }
        match err {
            Some(StoreError::DiskFull { path, .. }) => Err(self.disk_full(path)),
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Ends recording: closes every open segment (indexed), removes every connection
    /// with `reason`, saves the counters. Returns the flows not yet taken.
    pub fn finish(mut self, reason: EndReason) -> Result<Vec<Flow>, StoreError> {
        self.shutdown(reason)
    }

    /// [`finish`](Self::finish) in place, for a recorder shared with consoles: closes
    /// the open segments, removes every connection with `reason` (ending their
    /// subscriptions), saves the counters and writes the logs. Recording may go on
    /// afterwards (new segments, new connections).
    pub fn shutdown(&mut self, reason: EndReason) -> Result<Vec<Flow>, StoreError> {
        for rt in &mut self.classes {
            for seg in rt.open.drain(..) {
                let closed = seg.close()?;
                self.store.add_closed(rt.class.dir_name(), closed);
            }
            self.store.merge(
                rt.class.dir_name(),
                self.config.merge_fanout,
                self.config.index_levels,
            )?;
        }
        let before = self.flows.len();
        self.table.drain(reason, &mut self.flows);
        self.end_subscriptions(before);
        for (_, list) in self.subs.drain() {
            for mut sink in list {
                sink(SubEvent::End);
            }
        }
        // Folded in once: the table's and the store's counters restart from zero.
        self.counters.frag_unattributed +=
            std::mem::take(&mut self.table.counters.frag_unattributed);
        self.counters.flows_out += std::mem::take(&mut self.table.counters.flows_out);
        self.counters.conn_evictions += std::mem::take(&mut self.table.counters.evictions);
        self.counters.segments_evicted +=
            self.store.classes.values_mut().map(|c| std::mem::take(&mut c.evicted)).sum::<u64>();
        let root = self.store.root().to_path_buf();
        self.counters.save(&root).map_err(|e| StoreError::io(Counters::path(&root), e))?;
        let span = match (self.first_ts, self.table.clock()) {
            (Some(a), Some(b)) => (b - a) as f64 / 1e9,
            _ => 0.0,
        };
        self.write_logs(span);
        Ok(std::mem::take(&mut self.flows))
    }

    /// Appends one row to each of the three logs (spec §9); `span_s`: the time the
    /// figures cover, for the rates.
    pub fn write_logs(&self, span_s: f64) {
        let root = self.store.root();
        match crate::stats::stats(root) {
            Ok(st) => {
                if let Err(e) = crate::logs::write(root, &self.snapshot(), &st, span_s) {
                    tracing::warn!(error = %e, "Logs not written.");
                }
            }
            Err(e) => tracing::warn!(error = %e, "Logs not written."),
        }
    }

    /// Wall-clock duties of a live recorder: advances the table's clock to `now_ns`
    /// (the once-a-second sweep of idle connections, subscriptions of removed ones
    /// ended) and writes buffered packets to their segments.
    pub fn tick(&mut self, now_ns: i64) -> Result<(), StoreError> {
        let before = self.flows.len();
        self.table.advance(now_ns, &mut self.flows);
        if self.flows.len() > before {
            self.end_subscriptions(before);
        }
        self.flush()
    }

    /// Stops as `kill -9` would (tests): buffered records are lost, open segments stay
    /// `.open`, nothing is closed or indexed; the lock goes as the process's would.
    #[doc(hidden)]
    pub fn crash(mut self) {
        for rt in &mut self.classes {
            for seg in rt.open.drain(..) {
                std::mem::forget(seg);
            }
        }
    }

    /// Memory ring usage per class: (name, packets, bytes, span ns).
    pub fn ring_usage(&self) -> Vec<(String, u64, u64, i64)> {
        self.classes
            .iter()
            .map(|c| {
                let (p, b, s) = c.ring.usage();
                (c.class.config.name.clone(), p, b, s)
            })
            .collect()
    }
}

impl Recorder {
    /// Ends the subscriptions of the connections in `self.flows[from..]`.
    fn end_subscriptions(&mut self, from: usize) {
        for fl in self.flows.get(from..).unwrap_or_default() {
            if let Some(list) = self.subs.remove(&fl.conn.key) {
                for mut sink in list {
                    sink(SubEvent::End);
                }
            }
        }
    }

    /// The dynamic class of a new connection with ends `orig` and `resp` at packet time
    /// `ts`, dropping expired assignments as it meets them.
    fn dyn_class_of(&mut self, orig: [u8; 16], resp: [u8; 16], ts: i64) -> Option<usize> {
        use crate::console::End;
        if self.dyn_classes.is_empty() {
            return None;
        }
        for (addr, end) in [(orig, End::Orig), (resp, End::Resp)] {
            let Some(dc) = self.dyn_classes.get_mut(&addr) else { continue };
            let timeout = self.classes.get(dc.class).map_or(0, |c| c.class.config.dyn_timeout.0);
            let expires = *dc.expires_ns.get_or_insert(ts.saturating_add(timeout));
            if ts > expires {
                self.dyn_classes.remove(&addr);
                continue;
            }
            if dc.end.is_none_or(|e| e == end) {
                return Some(dc.class);
            }
        }
        None
    }

    /// The class index of a class name, if configured.
    pub fn class_index(&self, name: &str) -> Option<usize> {
        self.classes.iter().position(|c| c.class.config.name == name)
    }

    /// `set_dyn_class`: connections created from now on with `addr` at `end` (either end
    /// when `None`) go to class `class` until its `dyn_timeout` of packet time passes.
    /// Returns false when no such class is configured (nothing changes then).
    pub fn set_dyn_class(
        &mut self,
        addr: [u8; 16],
        class: &str,
        end: Option<crate::console::End>,
    ) -> bool {
        let Some(ci) = self.class_index(class) else { return false };
        let timeout = self.classes.get(ci).map_or(0, |c| c.class.config.dyn_timeout.0);
        let expires_ns = self.table.clock().map(|c| c.saturating_add(timeout));
        self.dyn_classes.insert(addr, DynClass { class: ci, end, expires_ns });
        true
    }

    /// `unset_dyn_class`; false when the address had none.
    pub fn unset_dyn_class(&mut self, addr: &[u8; 16]) -> bool {
        self.dyn_classes.remove(addr).is_some()
    }

    /// Dynamic class assignments not yet expired at the table's clock.
    pub fn dyn_class_count(&self) -> usize {
        let now = self.table.clock().unwrap_or(i64::MIN);
        self.dyn_classes.values().filter(|d| d.expires_ns.is_none_or(|e| now <= e)).count()
    }

    /// The connection table, mutable (console: suspend_cutoff, suspend_timeout).
    pub fn table_mut(&mut self) -> &mut ConnTable {
        &mut self.table
    }

    /// Subscriptions alive.
    pub fn subscription_count(&self) -> usize {
        self.subs.values().map(Vec::len).sum()
    }

    /// Subscriptions of one connection.
    pub fn subscriptions_of(&self, key: &ConnKey) -> usize {
        self.subs.get(key).map_or(0, Vec::len)
    }

    /// Adds a subscription to a connection in the table; false (sink dropped) when the
    /// connection is not in the table or `max_subscriptions` is reached.
    pub fn subscribe(&mut self, key: ConnKey, sink: SubSink) -> Result<(), SubscribeError> {
        if self.table.lookup(&key).is_none() {
            return Err(SubscribeError::NotInTable);
        }
        if self.subscription_count() as u64 >= self.config.max_subscriptions {
            return Err(SubscribeError::TooMany);
        }
        self.subs.entry(key).or_default().push(sink);
        Ok(())
    }

    /// Counts a query's result for stats.log.
    pub fn count_query(&mut self, pkts: u64, bytes: u64) {
        self.query_totals.0 += pkts;
        self.query_totals.1 += bytes;
    }

    /// Packets and bytes returned by queries so far.
    pub fn query_totals(&self) -> (u64, u64) {
        self.query_totals
    }

    /// Answers a query over everything this recorder holds (spec §7): with `mem_only`
    /// the memory rings alone; otherwise, after a flush, the closed segments (through
    /// their indexes) and the open segments (scanned whole: their index is in memory,
    /// its fragment table used for attribution), so that nothing is missed or doubled.
    pub fn query(&mut self, q: &Query) -> Result<QueryResult, StoreError> {
        self.query_within(q, &mut Deadline::none())
    }

    /// [`Recorder::query`] stopping at `deadline` (the result then says `timed_out`).
    pub fn query_within(
        &mut self,
        q: &Query,
        deadline: &mut Deadline,
    ) -> Result<QueryResult, StoreError> {
        let started = std::time::Instant::now();
        let mut keys = Vec::new();
        if q.mem_only {
            let mut out = QueryResult::default();
            for (rank, rt) in self.classes.iter().enumerate() {
                let mut f = Frame::default();
                for p in rt.ring.iter() {
                    if out.timed_out || deadline.tick() {
                        out.timed_out = true;
                        break;
                    }
                    out.oldest_ns = Some(out.oldest_ns.map_or(p.ts_ns, |o| o.min(p.ts_ns)));
                    if !q.covers(p.ts_ns) {
                        continue;
                    }
                    f.ts_ns = p.ts_ns;
                    f.wirelen = p.wirelen;
                    f.linktype = p.linktype;
                    f.big_endian = false;
                    f.data.clear();
                    f.data.extend_from_slice(&p.data);
                    if crate::query::selects(&q.selector, &f, p.frag.as_ref(), &mut keys) {
                        out.hits.push(Hit {
                            ts_ns: p.ts_ns,
                            rank,
                            segid: 0,
                            offset: p.seq,
                            linktype: p.linktype,
                            wirelen: p.wirelen,
                            data: p.data.clone(),
                        });
                    }
                }
            }
            out.hits.sort_by_key(|h| (h.ts_ns, h.rank, h.offset));
            out.elapsed_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            return Ok(out);
        }
        let mut out = self.disk_snapshot()?.run(q, deadline)?;
        out.elapsed_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        Ok(out)
    }

    /// Flushes and takes what a query needs of the disk, so that the search itself can
    /// run without this recorder held ([`DiskSnapshot::run`]).
    pub fn disk_snapshot(&mut self) -> Result<DiskSnapshot, StoreError> {
        self.flush()?;
        let order: Vec<String> =
            self.classes.iter().map(|c| c.class.dir_name().to_string()).collect();
        let mut open = Vec::new();
        for (rank, rt) in self.classes.iter().enumerate() {
            for seg in &rt.open {
                if seg.index.packets() == 0 {
                    continue;
                }
                let path = seg.path();
                let frags = crate::vidx::Vidx::parse(&path, seg.index.encode(seg.segid))
                    .map(|v| v.fragments())
                    .unwrap_or_default();
                let closed_path = path.with_extension("");
                open.push(OpenPart {
                    rank,
                    segid: seg.segid,
                    path,
                    closed_path,
                    len: seg.bytes,
                    frags,
                });
            }
        }
        Ok(DiskSnapshot { root: self.store.root().to_path_buf(), order, open })
    }

    /// The index kinds built (l2 aside).
    pub fn enabled_indexes(&self) -> &[IndexKind] {
        &self.enabled
    }

    /// Every figure at this instant (`show stats`, logs, Prometheus): the table's and
    /// the live counters folded into the saved totals.
    pub fn snapshot(&self) -> crate::metrics::Snapshot {
        let mut counters = self.counters.clone();
        counters.frag_unattributed += self.table.counters.frag_unattributed;
        counters.flows_out += self.table.counters.flows_out;
        counters.conn_evictions += self.table.counters.evictions;
        let classes = self
            .classes
            .iter()
            .map(|c| {
                let (mp, mb, span) = c.ring.usage();
                let cc = counters.classes.get(&c.class.config.name).copied().unwrap_or_default();
                crate::metrics::ClassSnapshot {
                    name: c.class.config.name.clone(),
                    stored_pkts: cc.stored_pkts,
                    stored_bytes: cc.stored_bytes,
                    cut_pkts: cc.cut_pkts,
                    cut_bytes: cc.cut_bytes,
                    mem_pkts: mp,
                    mem_bytes: mb,
                    mem_dt_s: span as f64 / 1e9,
                    dyn_timeout_s: c.class.config.dyn_timeout.0 / 1_000_000_000,
                }
            })
            .collect();
        crate::metrics::Snapshot {
            counters,
            conns: self.table.len() as u64,
            dyn_class: self.dyn_class_count() as u64,
            subscriptions: self.subscription_count() as u64,
            kernel: self.kernel,
            query_pkts: self.query_totals.0,
            query_bytes: self.query_totals.1,
            clock_ns: self.table.clock(),
            classes,
        }
    }

    /// The configuration this recorder runs with.
    pub fn config(&self) -> &PacketsConfig {
        &self.config
    }
}

/// Why a subscription was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeError {
    /// The connection is not in the table.
    NotInTable,
    /// `max_subscriptions` reached.
    TooMany,
}
