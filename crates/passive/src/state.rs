//! Per-session state and the per-update step of every processor (spec §6).
//!
//! One [`SessionState`] carries what the correlation stages know (address table, DNS
//! index with CNAME joins, flows with their bound devices and domains) and the
//! accumulators of the processors that need them (flow statistics, previous cumulative
//! counters). Everything in it is a deterministic function of updates 0..=last_seq, so a
//! replay from 0 rebuilds it exactly; that is what makes `--processor`, version changes
//! and crashes safe. [`step`] applies one update and adds the rows it produces to an
//! [`Outputs`], each family only when the [`Emit`] flags say its processor is behind.
//!
//! The state is stored as JSON tagged with [`STATE_VERSION`] (an explicit encoding, not a
//! language-native one), LZ4-compressed behind [`STATE_MAGIC`]; a state of another version
//! is discarded and rebuilt by replay. Plain JSON, as earlier runs stored it, still reads.

use std::collections::BTreeSet;

/// Hash maps keyed by small integers and short strings: foldhash is several times faster
/// than SipHash there, and the keys are not attacker-chosen in a way that matters (a
/// session's own update can only slow down its own processing).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

use serde::{Deserialize, Serialize};

use crate::anonymize::whitelist_matches;
use crate::Update;

/// Version of the stored state encoding; another version is rebuilt by replay.
pub const STATE_VERSION: u32 = 1;
/// Prefix of a compressed stored state: an LZ4 block of the JSON, its size prepended. A
/// session's state holds its whole flow and DNS tables (about 1 MiB of JSON on the bench
/// corpus) and is rewritten at every chunk; compressed by the worker that built it, the
/// single SQLite writer copies a fraction of those pages into the WAL and back.
pub const STATE_MAGIC: &[u8; 4] = b"PS1\0";
/// CNAME chains resolve up to this depth (spec §6.1).
const MAX_CNAME_DEPTH: u32 = 8;
/// DNS entries ending more than this before the latest packet are dropped.
const DNS_GC_HORIZON_US: i64 = 3600 * 1_000_000;

/// A flow instance: what was bound when it was defined, and its accumulators.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FlowState {
    /// Flow id.
    pub flow_id: i32,
    /// IP protocol.
    pub protocol: u8,
    /// Sequence number of the defining update.
    pub defined_seq: i64,
    /// Local endpoints: (MAC, the other endpoint's IP).
    pub sides: Vec<(String, String)>,
    /// Local MACs, sorted.
    pub macs: Vec<String>,
    /// Remote port when exactly one endpoint is local, else −1.
    pub port: i64,
    /// Remote IP when exactly one endpoint is local.
    pub remote_ip: Option<String>,
    /// true: source local (outbound); false: destination local; None: neither or both.
    pub direction_out: Option<bool>,
    /// Time the domains were bound at (the flow's start).
    pub start_us: Option<i64>,
    /// Whitelist entries of the flow.
    pub domains: BTreeSet<String>,
    /// (MAC, whitelist entry) pairs.
    pub pairs: BTreeSet<(String, String)>,
    /// Bytes so far.
    pub bytes: i64,
    /// Packets so far.
    pub packets: i64,
    /// First packet.
    pub first_us: Option<i64>,
    /// Last packet.
    pub last_us: Option<i64>,
    /// Redefined (its id reused).
    pub closed: bool,
}

/// One A-like DNS entry: (ip, start, end).
type AEntry = (String, i64, i64);
/// A CNAME or mapping entry: (name, anonymized, start, end).
type NameEntry = (String, bool, i64, i64);

/// Everything a session's processing remembers between updates.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SessionState {
    /// Encoding version ([`STATE_VERSION`]).
    pub v: u32,
    /// Last applied sequence number (−1: none).
    pub last_seq: i64,
    whitelist: Vec<String>,
    addr_by_id: HashMap<i64, (String, String)>,
    ip_mac: HashMap<String, String>,
    flows: HashMap<i32, FlowState>,
    /// (mac, name, anonymized) → A entries.
    a_index: HashMap<String, BTreeSet<AEntry>>,
    /// (mac, target, anonymized) → aliases.
    cname_index: HashMap<String, BTreeSet<NameEntry>>,
    /// (mac, ip) → names.
    mappings: HashMap<String, BTreeSet<NameEntry>>,
    /// Previous pcap_dropped, iface_dropped, flow_table_dropped, flow_table_expired.
    prev: [Option<i64>; 4],
    max_ts: Option<i64>,
    /// First packet time of seq 0 (its created_at if none), for uptime.
    pub first_packet_us: Option<i64>,
    /// created_at of the last applied update.
    pub last_created: Option<i64>,
}

fn dkey(mac: &str, name: &str, anon: bool) -> String {
    format!("{mac}\u{1f}{name}\u{1f}{}", u8::from(anon))
}

fn mkey(mac: &str, ip: &str) -> String {
    format!("{mac}\u{1f}{ip}")
}

/// Which processors want the rows of the update being applied (those behind it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Emit {
    /// The six byte families.
    pub bytes: bool,
    /// passive_flow_statistics.
    pub flow_statistics: bool,
    /// passive_ip_counts.
    pub ip_counts: bool,
    /// passive_packet_sizes_*.
    pub packet_sizes: bool,
    /// passive_update_statistics.
    pub update_statistics: bool,
    /// passive_session_spans (uptime).
    pub availability: bool,
    /// passive_lookups_per_device_per_hour and passive_domains_accessed.
    pub lookups: bool,
}

/// A per-minute byte-count key: family index (schema::FAMILIES), minute, port, MAC, domain
/// (unused parts are −1 / empty).
pub type MinuteKey = (u8, i64, i64, String, String);

/// One flow statistics row's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRow {
    /// First packet.
    pub start_us: Option<i64>,
    /// Last packet.
    pub end_us: Option<i64>,
    /// Protocol.
    pub protocol: u8,
    /// Port.
    pub port: i64,
    /// Local MACs.
    pub devices: Vec<String>,
    /// Domains.
    pub domains: Vec<String>,
    /// Bytes.
    pub bytes: i64,
    /// Packets.
    pub packets: i64,
    /// Redefined.
    pub closed: bool,
}

/// The update-statistics row of one update (spec §6.3), without the session key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsRow {
    /// Sequence number.
    pub seq: i64,
    /// Values in `passive_update_statistics` column order after sequence_number.
    pub values: [Option<i64>; 20],
}

/// Rows produced by a run of updates of one session, merged in memory before commit.
#[derive(Debug, Default)]
pub struct Outputs {
    /// Per-minute byte counts (add).
    pub minute: HashMap<MinuteKey, i64>,
    /// remote ip → (bytes, packets) (add).
    pub ip_counts: HashMap<String, (i64, i64)>,
    /// (tcp?, port, size) → (inbound, outbound) (add).
    pub sizes: HashMap<(bool, i64, i64), (i64, i64)>,
    /// size → packets (add).
    pub unmatched: HashMap<i64, i64>,
    /// (mac, name, hour) → lookups (add).
    pub lookups: HashMap<(String, String, i64), i64>,
    /// (mac, name, day) (insert).
    pub accessed: HashSet<(String, String, i64)>,
    /// Update statistics (insert).
    pub stats: Vec<StatsRow>,
    /// (flow id, defined seq) → row (replace).
    pub flows: HashMap<(i32, i64), FlowRow>,
    /// Minutes touched: (first, last).
    pub dirty: Option<(i64, i64)>,
    /// Uptime span of the session (start_us, end_us) (replace).
    pub span: Option<(i64, i64)>,
}

impl Outputs {
    /// How many rows this will write.
    pub fn rows(&self) -> usize {
        self.minute.len()
            + self.ip_counts.len()
            + self.sizes.len()
            + self.unmatched.len()
            + self.lookups.len()
            + self.accessed.len()
            + self.stats.len()
            + self.flows.len()
            + usize::from(self.span.is_some())
    }

    fn add_minute(&mut self, key: MinuteKey, bytes: i64) {
        let m = key.1;
        self.dirty = Some(match self.dirty {
            None => (m, m),
            Some((lo, hi)) => (lo.min(m), hi.max(m)),
        });
        *self.minute.entry(key).or_insert(0) += bytes;
    }
}

fn minute(ts_us: i64) -> i64 {
    ts_us.div_euclid(60_000_000) * 60
}

fn hour(ts_s: i64) -> i64 {
    ts_s.div_euclid(3600) * 3600
}

fn day(ts_s: i64) -> i64 {
    ts_s.div_euclid(86400) * 86400
}

/// Whether a looked-up name is a mobile site (spec §6.8: `(^m\.|\.m\.)`).
pub fn is_mobile(name: &str) -> bool {
    name.starts_with("m.") || name.contains(".m.")
}

impl FlowState {
    fn new(f: &crate::Flow, seq: i64, ip_mac: &HashMap<String, String>) -> FlowState {
        let src_mac = ip_mac.get(&f.src_ip);
        let dst_mac = ip_mac.get(&f.dst_ip);
        let mut sides = Vec::new();
        if let Some(m) = src_mac {
            sides.push((m.clone(), f.dst_ip.clone()));
        }
        if let Some(m) = dst_mac {
            sides.push((m.clone(), f.src_ip.clone()));
        }
        let mut macs: Vec<String> = sides.iter().map(|(m, _)| m.clone()).collect();
        macs.sort();
        macs.dedup();
        let (port, remote_ip, direction_out) = match (src_mac, dst_mac) {
            (Some(_), None) => (i64::from(f.dst_port), Some(f.dst_ip.clone()), Some(true)),
            (None, Some(_)) => (i64::from(f.src_port), Some(f.src_ip.clone()), Some(false)),
            _ => (-1, None, None),
        };
        FlowState {
            flow_id: f.flow_id,
            protocol: f.protocol,
            defined_seq: seq,
            sides,
            macs,
            port,
            remote_ip,
            direction_out,
            ..FlowState::default()
        }
    }

    fn row(&self) -> FlowRow {
        FlowRow {
            start_us: self.first_us,
            end_us: self.last_us,
            protocol: self.protocol,
            port: self.port,
            devices: self.macs.clone(),
            domains: self.domains.iter().cloned().collect(),
            bytes: self.bytes,
            packets: self.packets,
            closed: self.closed,
        }
    }
}

impl SessionState {
    /// A state before seq 0.
    pub fn new() -> SessionState {
        SessionState { v: STATE_VERSION, last_seq: -1, ..SessionState::default() }
    }

    /// The stored form: [`STATE_MAGIC`], then the LZ4-compressed JSON.
    pub fn encode(&self) -> Vec<u8> {
        // A struct of maps, strings and integers always serializes.
        let json = serde_json::to_vec(self).unwrap_or_default();
        let mut out = STATE_MAGIC.to_vec();
        out.extend_from_slice(&lz4_flex::block::compress_prepend_size(&json));
        out
    }

    /// Reads a stored state, compressed or plain JSON; None when it is of another version
    /// or damaged (the caller then replays from 0).
    pub fn decode(bytes: &[u8]) -> Option<SessionState> {
        let json = match bytes.strip_prefix(STATE_MAGIC.as_slice()) {
            Some(block) => {
                std::borrow::Cow::Owned(lz4_flex::block::decompress_size_prepended(block).ok()?)
            }
            None => std::borrow::Cow::Borrowed(bytes),
        };
        serde_json::from_slice::<SessionState>(&json).ok().filter(|s| s.v == STATE_VERSION)
    }

    // The arguments are the spec's A entry (mac, name, flag, ip, interval) and the depth.
    #[allow(clippy::too_many_arguments)]
    fn add_a(
        &mut self,
        mac: &str,
        name: &str,
        anon: bool,
        ip: &str,
        start: i64,
        end: i64,
        depth: u32,
    ) {
        let entry = (ip.to_string(), start, end);
        if !self.a_index.entry(dkey(mac, name, anon)).or_default().insert(entry) {
            return;
        }
        self.mappings.entry(mkey(mac, ip)).or_default().insert((
            name.to_string(),
            anon,
            start,
            end,
        ));
        if depth >= MAX_CNAME_DEPTH {
            return;
        }
        let aliases: Vec<NameEntry> = self
            .cname_index
            .get(&dkey(mac, name, anon))
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for (alias, alias_anon, cs, ce) in aliases {
            let (s, e) = (start.max(cs), end.min(ce));
            if s <= e {
                self.add_a(mac, &alias, alias_anon, ip, s, e, depth + 1);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add_cname(
        &mut self,
        mac: &str,
        alias: &str,
        alias_anon: bool,
        target: &str,
        target_anon: bool,
        start: i64,
        end: i64,
    ) {
        let entry = (alias.to_string(), alias_anon, start, end);
        let key = dkey(mac, target, target_anon);
        if !self.cname_index.entry(key.clone()).or_default().insert(entry) {
            return;
        }
        let targets: Vec<AEntry> =
            self.a_index.get(&key).map(|s| s.iter().cloned().collect()).unwrap_or_default();
        for (ip, s0, e0) in targets {
            let (s, e) = (start.max(s0), end.min(e0));
            if s <= e {
                self.add_a(mac, alias, alias_anon, &ip, s, e, 1);
            }
        }
    }

    fn bind_domains(&mut self, flow_id: i32, ts: i64) {
        let Some(f) = self.flows.get(&flow_id) else { return };
        let mut domains = Vec::new();
        for (mac, remote) in &f.sides {
            let Some(entries) = self.mappings.get(&mkey(mac, remote)) else { continue };
            for (name, anon, s, e) in entries {
                if *anon || !(*s <= ts && ts <= *e) {
                    continue;
                }
                for w in whitelist_matches(&self.whitelist, name) {
                    domains.push((mac.clone(), w.to_string()));
                }
            }
        }
        if let Some(f) = self.flows.get_mut(&flow_id) {
            f.start_us = Some(ts);
            for (mac, w) in domains {
                f.domains.insert(w.clone());
                f.pairs.insert((mac, w));
            }
        }
    }

    fn lookup(&self, out: &mut Outputs, mac: &str, name: &str, ts_us: i64) {
        let s = ts_us.div_euclid(1_000_000);
        *out.lookups.entry((mac.to_string(), name.to_string(), hour(s))).or_insert(0) += 1;
        out.accessed.insert((mac.to_string(), name.to_string(), day(s)));
    }
}

/// Per-flow accumulation within one update (see [`step`]).
#[derive(Default)]
struct FlowUpdate {
    by_minute: HashMap<i64, i64>,
    by_size: HashMap<i64, i64>,
    bytes: i64,
    packets: i64,
}

/// Applies update `u` (the next in sequence) to `st`, adding its rows to `out`.
pub fn step(st: &mut SessionState, u: &Update, emit: Emit, out: &mut Outputs) {
    let seq = i64::from(u.sequence_number);
    if seq == 0 {
        st.whitelist = u.whitelist.clone();
        st.first_packet_us =
            Some(u.packets.first().map_or(u.created_at.saturating_mul(1_000_000), |p| p.ts_us));
    }
    st.last_created = Some(u.created_at);
    // 1. Address table.
    let size = i64::from(u.address_table_size);
    for (off, a) in u.addresses.iter().enumerate() {
        let aid = i64::from(u.address_table_first_id) + off as i64;
        let id = if size > 0 { aid.rem_euclid(size) } else { aid };
        st.addr_by_id.insert(id, (a.mac.clone(), a.ip.clone()));
        st.ip_mac.insert(a.ip.clone(), a.mac.clone());
    }
    // 2. DNS.
    let pkt_ts =
        |pid: i32| usize::try_from(pid).ok().and_then(|i| u.packets.get(i)).map(|p| p.ts_us);
    let created_us = u.created_at.saturating_mul(1_000_000);
    let mut bad_packet_ids = 0i64;
    for a in &u.a_records {
        let mac = st.addr_by_id.get(&i64::from(a.address_id)).map(|(m, _)| m.clone());
        let ts = pkt_ts(a.packet_id);
        if let (Some(m), true, true) = (&mac, !a.anonymized, emit.lookups) {
            st.lookup(out, m, &a.domain, ts.unwrap_or(created_us));
        }
        let Some(ts) = ts else {
            bad_packet_ids += 1;
            continue;
        };
        let Some(mac) = mac else { continue };
        let end = ts.saturating_add(i64::from(a.ttl.max(0)) * 1_000_000);
        st.add_a(&mac, &a.domain, a.anonymized, &a.ip, ts, end, 0);
    }
    for c in &u.cname_records {
        let mac = st.addr_by_id.get(&i64::from(c.address_id)).map(|(m, _)| m.clone());
        let ts = pkt_ts(c.packet_id);
        if let (Some(m), true) = (&mac, emit.lookups) {
            let when = ts.unwrap_or(created_us);
            if !c.domain_anonymized {
                st.lookup(out, m, &c.domain, when);
            }
            if !c.cname_anonymized {
                st.lookup(out, m, &c.cname, when);
            }
        }
        let Some(ts) = ts else {
            bad_packet_ids += 1;
            continue;
        };
        let Some(mac) = mac else { continue };
        let end = ts.saturating_add(i64::from(c.ttl.max(0)) * 1_000_000);
        st.add_cname(&mac, &c.domain, c.domain_anonymized, &c.cname, c.cname_anonymized, ts, end);
    }
    // 3. Flows defined in this update (a reused id closes the old instance).
    let mut defined: HashSet<i32> = HashSet::default();
    for f in &u.flows {
        let new = FlowState::new(f, seq, &st.ip_mac);
        if let Some(mut old) = st.flows.insert(f.flow_id, new) {
            old.closed = true;
            if emit.flow_statistics {
                out.flows.insert((old.flow_id, old.defined_seq), old.row());
            }
        }
        defined.insert(f.flow_id);
    }
    let mut starts: HashMap<i32, i64> = HashMap::default();
    for p in &u.packets {
        if defined.contains(&p.flow_id) {
            let e = starts.entry(p.flow_id).or_insert(p.ts_us);
            *e = (*e).min(p.ts_us);
        }
    }
    for (fid, ts) in starts {
        st.bind_domains(fid, ts);
    }
    // 4. Packets: aggregated per flow within the update (a flow's devices and domains
    // cannot change inside one update), then expanded into the families.
    let mut total_bytes = 0i64;
    let mut per_flow: HashMap<i32, FlowUpdate> = HashMap::default();
    // Packets come in time order: per-minute sums are accumulated as runs.
    let mut all_run: Option<(i64, i64)> = None;
    let mut noflow: HashMap<i64, i64> = HashMap::default();
    for p in &u.packets {
        let (ts, sz) = (p.ts_us, i64::from(p.size));
        total_bytes += sz;
        st.max_ts = Some(st.max_ts.map_or(ts, |m| m.max(ts)));
        let m = minute(ts);
        if emit.bytes {
            all_run = match all_run {
                Some((rm, b)) if rm == m => Some((rm, b + sz)),
                Some((rm, b)) => {
                    out.add_minute((0, rm, -1, String::new(), String::new()), b);
                    Some((m, sz))
                }
                None => Some((m, sz)),
            };
        }
        let flow = if p.flow_id >= 0 { st.flows.get(&p.flow_id) } else { None };
        let Some(f) = flow else {
            if emit.bytes {
                *noflow.entry(m).or_insert(0) += sz;
            }
            if emit.packet_sizes {
                *out.unmatched.entry(sz).or_insert(0) += 1;
            }
            continue;
        };
        if f.start_us.is_none() {
            st.bind_domains(p.flow_id, ts);
        }
        if let Some(f) = st.flows.get_mut(&p.flow_id) {
            f.bytes += sz;
            f.packets += 1;
            f.first_us = Some(f.first_us.map_or(ts, |v| v.min(ts)));
            f.last_us = Some(f.last_us.map_or(ts, |v| v.max(ts)));
        }
        let acc = per_flow.entry(p.flow_id).or_default();
        *acc.by_minute.entry(m).or_insert(0) += sz;
        *acc.by_size.entry(sz).or_insert(0) += 1;
        acc.bytes += sz;
        acc.packets += 1;
    }
    if let Some((m, b)) = all_run {
        out.add_minute((0, m, -1, String::new(), String::new()), b);
    }
    for (m, b) in noflow {
        out.add_minute((1, m, -1, String::new(), String::new()), b);
    }
    for (fid, acc) in &per_flow {
        let Some(f) = st.flows.get(fid) else { continue };
        if emit.bytes {
            for (&m, &b) in &acc.by_minute {
                out.add_minute((1, m, f.port, String::new(), String::new()), b);
                for d in &f.domains {
                    out.add_minute((2, m, -1, String::new(), d.clone()), b);
                }
                for mac in &f.macs {
                    out.add_minute((3, m, -1, mac.clone(), String::new()), b);
                    out.add_minute((4, m, f.port, mac.clone(), String::new()), b);
                }
                for (mac, d) in &f.pairs {
                    out.add_minute((5, m, -1, mac.clone(), d.clone()), b);
                }
            }
        }
        if emit.ip_counts {
            let remote = f.remote_ip.clone().unwrap_or_else(|| "unknown".into());
            let e = out.ip_counts.entry(remote).or_insert((0, 0));
            e.0 += acc.bytes;
            e.1 += acc.packets;
        }
        if emit.packet_sizes {
            for (&sz, &n) in &acc.by_size {
                match (f.direction_out, f.protocol) {
                    (Some(outbound), 6 | 17) => {
                        let e = out.sizes.entry((f.protocol == 6, f.port, sz)).or_insert((0, 0));
                        if outbound {
                            e.1 += n;
                        } else {
                            e.0 += n;
                        }
                    }
                    _ => *out.unmatched.entry(sz).or_insert(0) += n,
                }
            }
        }
        if emit.flow_statistics {
            out.flows.insert((f.flow_id, f.defined_seq), f.row());
        }
    }
    // 5. Update statistics, with per-session deltas of the cumulative counters.
    let counters = [
        u.pcap_dropped.map(i64::from),
        u.iface_dropped.map(i64::from),
        Some(i64::from(u.flow_table_dropped)),
        Some(i64::from(u.flow_table_expired)),
    ];
    let mut deltas = [0i64; 4];
    for (i, cur) in counters.iter().enumerate() {
        let Some(cur) = *cur else { continue };
        deltas[i] = match st.prev[i] {
            None => cur,
            Some(prev) => (cur - prev).rem_euclid(1 << 32),
        };
        st.prev[i] = Some(cur);
    }
    if emit.update_statistics {
        out.stats.push(StatsRow {
            seq,
            values: [
                Some(u.created_at),
                Some(i64::from(u.file_format_version)),
                Some(u.packets.len() as i64),
                Some(total_bytes),
                Some(u.flows.len() as i64),
                Some(i64::from(u.flow_table_size)),
                Some(i64::from(u.packet_series_dropped)),
                Some(u.a_records.len() as i64),
                Some(u.cname_records.len() as i64),
                Some(i64::from(u.a_records_dropped)),
                Some(i64::from(u.cname_records_dropped)),
                Some(bad_packet_ids),
                counters[0],
                counters[1],
                counters[2],
                counters[3],
                Some(deltas[0]),
                Some(deltas[1]),
                Some(deltas[2]),
                Some(deltas[3]),
            ],
        });
    }
    if emit.availability {
        if let (Some(s), Some(c)) = (st.first_packet_us, st.last_created) {
            out.span = Some((s, c.saturating_mul(1_000_000)));
        }
    }
    // 6. Garbage collection of DNS state (results differ only if the clock steps back by
    // more than the horizon).
    if let Some(max_ts) = st.max_ts {
        let horizon = max_ts - DNS_GC_HORIZON_US;
        st.a_index.retain(|_, set| {
            set.retain(|e| e.2 >= horizon);
            !set.is_empty()
        });
        for table in [&mut st.cname_index, &mut st.mappings] {
            table.retain(|_, set| {
                set.retain(|e| e.3 >= horizon);
                !set.is_empty()
            });
        }
    }
    st.last_seq = seq;
}

/// Column names of [`StatsRow::values`], in order.
pub const STATS_COLUMNS: [&str; 20] = [
    "created_at",
    "file_format_version",
    "packets",
    "bytes",
    "new_flows",
    "flow_table_size",
    "packet_series_dropped",
    "a_records",
    "cname_records",
    "a_records_dropped",
    "cname_records_dropped",
    "dns_bad_packet_ids",
    "pcap_dropped",
    "iface_dropped",
    "flow_table_dropped",
    "flow_table_expired",
    "pcap_dropped_delta",
    "iface_dropped_delta",
    "flow_table_dropped_delta",
    "flow_table_expired_delta",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_floor_and_mobile_names() {
        assert_eq!(minute(59_999_999), 0);
        assert_eq!(minute(60_000_000), 60);
        assert_eq!(minute(-1), -60);
        assert_eq!(hour(7199), 3600);
        assert!(is_mobile("m.facebook.com") && is_mobile("en.m.wikipedia.org"));
        assert!(!is_mobile("mail.google.com"));
    }

    #[test]
    fn state_round_trips_and_other_versions_are_refused() {
        let mut s = SessionState::new();
        s.last_seq = 4;
        s.flows.insert(7, FlowState { flow_id: 7, ..FlowState::default() });
        let back = SessionState::decode(&s.encode()).unwrap();
        assert_eq!(back.last_seq, 4);
        assert!(back.flows.contains_key(&7));
        let mut other = s.clone();
        other.v = STATE_VERSION + 1;
        assert!(SessionState::decode(&other.encode()).is_none());
    }

    #[test]
    fn plain_json_states_of_earlier_runs_still_read_and_damage_is_refused() {
        let mut s = SessionState::new();
        s.last_seq = 9;
        let plain = serde_json::to_vec(&s).unwrap();
        assert_eq!(SessionState::decode(&plain).unwrap().last_seq, 9);
        let stored = s.encode();
        assert!(stored.starts_with(STATE_MAGIC));
        assert!(SessionState::decode(&stored[..stored.len() - 1]).is_none());
    }
}
