//! The recorder (spec §3): decode → connection table → class → cutoff → ring and
//! segments with their indexes; connections leaving the table become [`Flow`]s.
//!
//! File input is written synchronously, batched by a 1 MiB buffer per open segment and
//! flushed every `flush_interval` of packet time; the live path with its writer thread
//! and bounded queue arrives with live capture (issue 4).

use std::path::{Path, PathBuf};

use crate::capture::{CaptureReader, Frame};
use crate::config::{Class, Cutoff, PacketsConfig};
use crate::conn::{ConnTable, EndReason, Flow};
use crate::counters::Counters;
use crate::decode::{decode, L3};
use crate::error::{ReadError, StoreError};
use crate::filter::{Filter, PacketRef};
use crate::key::{IndexKind, Key};
use crate::ring::{Ring, RingPacket};
use crate::segment::{packet_keys, OpenSegment};
use crate::store::Store;

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
    flows: Vec<Flow>,
    keys: Vec<(IndexKind, Key)>,
    seq: u64,
    last_flush: i64,
    stopped: Option<PathBuf>,
    fail_at: Option<u64>,
    first_ts: Option<i64>,
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
            flows: Vec::new(),
            keys: Vec::new(),
            seq: 0,
            last_flush: i64::MIN,
            stopped: None,
            fail_at: None,
            first_ts: None,
        })
    }

    /// The store (for what a restart recovered).
    pub fn store(&self) -> &Store {
        &self.store
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
        self.table.advance(f.ts_ns, &mut self.flows);
        let placed = self.table.place(f, &d, &mut self.flows);
        let class_idx = match placed {
            Some(p) => {
                let cached = self.table.get(p.id).and_then(|c| c.class);
                match cached {
                    Some(c) => Some(c),
                    None => {
                        let m = self.classes.iter().position(|c| c.class.filter.matches(&pref));
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
        self.table.drain(reason, &mut self.flows);
        self.counters.frag_unattributed += self.table.counters.frag_unattributed;
        self.counters.flows_out += self.table.counters.flows_out;
        self.counters.conn_evictions += self.table.counters.evictions;
        self.counters.segments_evicted +=
            self.store.classes.values().map(|c| c.evicted).sum::<u64>();
        let root = self.store.root().to_path_buf();
        self.counters.save(&root).map_err(|e| StoreError::io(Counters::path(&root), e))?;
        let span = match (self.first_ts, self.table.clock()) {
            (Some(a), Some(b)) => (b - a) as f64 / 1e9,
            _ => 0.0,
        };
        if let Ok(st) = crate::stats::stats(&root) {
            let rings = self.ring_usage();
            if let Err(e) = crate::logs::write(&root, &self.counters, &st, 0, span, &rings) {
                tracing::warn!(error = %e, "Logs not written.");
            }
        }
        Ok(std::mem::take(&mut self.flows))
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
