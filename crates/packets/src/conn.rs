//! The connection table (spec §3.2) and the fragment attribution it relies on (§4).
//!
//! Key: protocol + unordered pair of (address, port). The clock is the largest packet
//! time seen; a packet whose own connection has been idle longer than `conn_timeout`
//! removes it first, so the split point is deterministic; a sweep each second of packet
//! time removes the other idle ones; at `max_conns` the least recently active connection
//! is evicted (counted). Every removal yields a [`Flow`] for `packets_flows` (§10).
//! Recency is an intrusive doubly linked list over a slab, so touching is O(1).

use std::collections::HashMap;

use crate::capture::Frame;
use crate::decode::{Decoded, Frag, L3};
use crate::key::ConnKey;

const NIL: u32 = u32::MAX;

/// Why a connection left the table (the `end_reason` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Idle longer than `conn_timeout`.
    Timeout,
    /// Removed at `max_conns`.
    Evicted,
    /// The input files ended.
    EndOfInput,
    /// The recorder stopped.
    Shutdown,
}

impl EndReason {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Timeout => "timeout",
            EndReason::Evicted => "evicted",
            EndReason::EndOfInput => "end_of_input",
            EndReason::Shutdown => "shutdown",
        }
    }
}

/// One connection's state and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conn {
    /// Canonical key.
    pub key: ConnKey,
    /// Originator end (source of the first packet, or its destination for a SYN+ACK).
    pub orig: ([u8; 16], u16),
    /// Responder end.
    pub resp: ([u8; 16], u16),
    /// Minimum packet time.
    pub first_ns: i64,
    /// Maximum packet time.
    pub last_ns: i64,
    /// Packets orig→resp, resp→orig.
    pub pkts: [u64; 2],
    /// Wire bytes each way.
    pub bytes: [u64; 2],
    /// Captured bytes of all packets so far (the cutoff's B).
    pub captured: u64,
    /// Stored packets.
    pub stored_pkts: u64,
    /// Stored captured bytes.
    pub stored_bytes: u64,
    /// Cut packets.
    pub cut_pkts: u64,
    /// Cut captured bytes.
    pub cut_bytes: u64,
    /// The class, once one matched (index into the recorder's classes).
    pub class: Option<usize>,
    /// Keep every packet of this connection.
    pub suspend_cutoff: bool,
    /// Never time this connection out.
    pub suspend_timeout: bool,
    /// Outermost VLAN tag of the first packet.
    pub vlan: Option<u16>,
    /// Source MAC of the originator's first frame.
    pub orig_mac: Option<[u8; 6]>,
    /// Source MAC of the responder's first frame.
    pub resp_mac: Option<[u8; 6]>,
    /// Ethertype of the first frame after its tags.
    pub eth_type: u16,
    /// Interface of the first packet.
    pub if_index: u32,
    prev: u32,
    next: u32,
}

/// A connection that left the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// Its final state.
    pub conn: Conn,
    /// The table's clock at removal.
    pub removed_ns: i64,
    /// Why.
    pub reason: EndReason,
}

/// What the table decided for one IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// Slot of the connection (valid until the next call that removes connections).
    pub id: u32,
    /// 0: orig→resp, 1: resp→orig.
    pub dir: usize,
    /// The connection key (for a non-first fragment: the recorder's attribution).
    pub key: ConnKey,
    /// A non-first fragment (its attribution goes into the segment's index).
    pub nonfirst_fragment: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FragKey {
    v6: bool,
    src: [u8; 16],
    dst: [u8; 16],
    id: u32,
    proto: u8,
}

/// Counters of the table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnCounters {
    /// Connections removed at `max_conns`.
    pub evictions: u64,
    /// Non-first fragments whose first fragment was not remembered.
    pub frag_unattributed: u64,
    /// Flows emitted.
    pub flows_out: u64,
}

/// The table.
#[derive(Debug)]
pub struct ConnTable {
    map: HashMap<ConnKey, u32>,
    slots: Vec<Option<Conn>>,
    free: Vec<u32>,
    head: u32, // most recent
    tail: u32, // least recent
    clock: Option<i64>,
    last_sweep: i64,
    timeout: i64,
    max_conns: usize,
    frag_timeout: i64,
    frags: HashMap<FragKey, (i64, u8, u16, u16)>,
    /// Counters.
    pub counters: ConnCounters,
}

impl ConnTable {
    /// An empty table.
    pub fn new(timeout_ns: i64, max_conns: u64, frag_timeout_ns: i64) -> ConnTable {
        ConnTable {
            map: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            clock: None,
            last_sweep: i64::MIN,
            timeout: timeout_ns,
            max_conns: usize::try_from(max_conns.max(1)).unwrap_or(usize::MAX),
            frag_timeout: frag_timeout_ns,
            frags: HashMap::new(),
            counters: ConnCounters::default(),
        }
    }

    /// Connections in the table.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The table's clock (largest packet time seen).
    pub fn clock(&self) -> Option<i64> {
        self.clock
    }

    /// A connection by slot.
    pub fn get(&self, id: u32) -> Option<&Conn> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    /// A connection by slot, mutable.
    pub fn get_mut(&mut self, id: u32) -> Option<&mut Conn> {
        self.slots.get_mut(id as usize).and_then(Option::as_mut)
    }

    /// The connections, most recently active first (console `show conn sample`).
    pub fn iter(&self) -> impl Iterator<Item = &Conn> + '_ {
        let mut id = self.head;
        std::iter::from_fn(move || {
            let c = self.get(id)?;
            id = c.next;
            Some(c)
        })
    }

    /// A connection by key.
    pub fn lookup(&self, key: &ConnKey) -> Option<&Conn> {
        self.map.get(key).and_then(|id| self.get(*id))
    }

    /// A connection by key, mutable (console: suspend_cutoff / suspend_timeout).
    pub fn lookup_mut(&mut self, key: &ConnKey) -> Option<&mut Conn> {
        let id = *self.map.get(key)?;
        self.get_mut(id)
    }

    /// Advances the clock to `ts` and runs the once-a-second sweep.
    pub fn advance(&mut self, ts: i64, flows: &mut Vec<Flow>) {
        let now = self.clock.map_or(ts, |c| c.max(ts));
        self.clock = Some(now);
        if now.saturating_sub(self.last_sweep) >= 1_000_000_000 {
            self.last_sweep = now;
            self.sweep(now, flows);
        }
    }

    fn sweep(&mut self, now: i64, flows: &mut Vec<Flow>) {
        let mut id = self.tail;
        while id != NIL {
            let Some(c) = self.get(id) else { break };
            let prev = c.prev;
            if now.saturating_sub(c.last_ns) > self.timeout {
                if !c.suspend_timeout {
                    self.remove(id, EndReason::Timeout, flows);
                }
            } else {
                // The list is in order of activity: the rest are more recent.
                break;
            }
            id = prev;
        }
        let ft = self.frag_timeout;
        self.frags.retain(|_, v| now.saturating_sub(v.0) <= ft);
    }

    fn unlink(&mut self, id: u32) {
        let Some(c) = self.get(id) else { return };
        let (p, n) = (c.prev, c.next);
        match self.get_mut(p) {
            Some(pc) => pc.next = n,
            None => self.head = n,
        }
        match self.get_mut(n) {
            Some(nc) => nc.prev = p,
            None => self.tail = p,
        }
    }

    fn push_front(&mut self, id: u32) {
        let old = self.head;
        if let Some(c) = self.get_mut(id) {
            c.prev = NIL;
            c.next = old;
        }
        if let Some(h) = self.get_mut(old) {
            h.prev = id;
        } else {
            self.tail = id;
        }
        self.head = id;
    }

    fn remove(&mut self, id: u32, reason: EndReason, flows: &mut Vec<Flow>) {
        self.unlink(id);
        let Some(conn) = self.slots.get_mut(id as usize).and_then(Option::take) else { return };
        self.map.remove(&conn.key);
        self.free.push(id);
        self.counters.flows_out += 1;
        flows.push(Flow { conn, removed_ns: self.clock.unwrap_or(0), reason });
    }

    /// Removes every connection (end of input, shutdown).
    pub fn drain(&mut self, reason: EndReason, flows: &mut Vec<Flow>) {
        while self.tail != NIL {
            let t = self.tail;
            self.remove(t, reason, flows);
        }
        self.frags.clear();
    }

    /// Places an IP packet (after [`ConnTable::advance`]) in its connection, attributing
    /// non-first fragments; `None` for non-IP and undecodable packets.
    pub fn place(&mut self, f: &Frame, d: &Decoded, flows: &mut Vec<Flow>) -> Option<Placed> {
        if d.l3 == L3::None {
            return None;
        }
        let now = self.clock.unwrap_or(f.ts_ns);
        let (mut proto, mut sport, mut dport) = (d.proto, d.sport, d.dport);
        let mut nonfirst = false;
        let fkey = |id| FragKey {
            v6: d.l3 == L3::V6,
            src: d.src,
            dst: d.dst,
            id,
            proto: if d.l3 == L3::V4 { d.proto } else { 0 },
        };
        match d.frag {
            Frag::First(id) => {
                self.frags.insert(fkey(id), (f.ts_ns, proto, sport, dport));
            }
            Frag::NonFirst(id) => {
                nonfirst = true;
                match self.frags.get(&fkey(id)) {
                    Some(&(t, p, s, dp)) if f.ts_ns.saturating_sub(t) <= self.frag_timeout => {
                        (proto, sport, dport) = (p, s, dp);
                    }
                    _ => self.counters.frag_unattributed += 1,
                }
            }
            Frag::None => {}
        }
        let key = ConnKey::new(proto, d.src, sport, d.dst, dport);
        let mut id = self.map.get(&key).copied();
        if let Some(i) = id {
            if let Some(c) = self.get(i) {
                if now.saturating_sub(c.last_ns) > self.timeout && !c.suspend_timeout {
                    self.remove(i, EndReason::Timeout, flows);
                    id = None;
                }
            }
        }
        let id = match id {
            Some(i) => {
                self.unlink(i);
                self.push_front(i);
                i
            }
            None => {
                while self.map.len() >= self.max_conns && self.tail != NIL {
                    let t = self.tail;
                    self.counters.evictions += 1;
                    self.remove(t, EndReason::Evicted, flows);
                }
                let syn_ack = proto == 6 && d.is_syn_ack();
                let (orig, resp) = if syn_ack {
                    ((d.dst, dport), (d.src, sport))
                } else {
                    ((d.src, sport), (d.dst, dport))
                };
                let conn = Conn {
                    key,
                    orig,
                    resp,
                    first_ns: f.ts_ns,
                    last_ns: f.ts_ns,
                    pkts: [0; 2],
                    bytes: [0; 2],
                    captured: 0,
                    stored_pkts: 0,
                    stored_bytes: 0,
                    cut_pkts: 0,
                    cut_bytes: 0,
                    class: None,
                    suspend_cutoff: false,
                    suspend_timeout: false,
                    vlan: d.vlan,
                    orig_mac: None,
                    resp_mac: None,
                    eth_type: d.ethertype,
                    if_index: f.ifid,
                    prev: NIL,
                    next: NIL,
                };
                let i = match self.free.pop() {
                    Some(i) => {
                        if let Some(s) = self.slots.get_mut(i as usize) {
                            *s = Some(conn);
                        }
                        i
                    }
                    None => {
                        self.slots.push(Some(conn));
                        u32::try_from(self.slots.len() - 1).unwrap_or(NIL)
                    }
                };
                self.map.insert(key, i);
                self.push_front(i);
                i
            }
        };
        let c = self.get_mut(id)?;
        let forward = (d.src, sport) == c.orig && (d.dst, dport) == c.resp;
        let dir = if forward || c.orig == c.resp { 0 } else { 1 };
        c.first_ns = c.first_ns.min(f.ts_ns);
        c.last_ns = c.last_ns.max(f.ts_ns);
        c.pkts[dir] += 1;
        c.bytes[dir] += u64::from(f.wirelen);
        c.captured += u64::from(f.caplen());
        if dir == 0 && c.orig_mac.is_none() {
            c.orig_mac = d.src_mac;
        }
        if dir == 1 && c.resp_mac.is_none() && c.pkts[1] == 1 {
            c.resp_mac = d.src_mac;
        }
        Some(Placed { id, dir, key, nonfirst_fragment: nonfirst })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::mapped_v4;

    fn pkt(ts: i64, src: u8, sport: u16, dst: u8, dport: u16, proto: u8) -> (Frame, Decoded) {
        let f = Frame { ts_ns: ts, wirelen: 100, data: vec![0; 60], ..Default::default() };
        let d = Decoded {
            l3: L3::V4,
            src: mapped_v4([10, 0, 0, src]),
            dst: mapped_v4([10, 0, 0, dst]),
            sport,
            dport,
            proto,
            ..Default::default()
        };
        (f, d)
    }

    fn run(t: &mut ConnTable, p: (Frame, Decoded), flows: &mut Vec<Flow>) -> Placed {
        t.advance(p.0.ts_ns, flows);
        t.place(&p.0, &p.1, flows).unwrap()
    }

    #[test]
    fn protocol_is_part_of_the_key_and_both_directions_meet() {
        let mut t = ConnTable::new(1_800_000_000_000, 100, 30_000_000_000);
        let mut flows = Vec::new();
        let a = run(&mut t, pkt(0, 1, 1000, 2, 80, 6), &mut flows);
        let b = run(&mut t, pkt(1, 2, 80, 1, 1000, 6), &mut flows);
        let c = run(&mut t, pkt(2, 1, 1000, 2, 80, 17), &mut flows);
        assert_eq!((a.id, a.dir, b.id, b.dir), (a.id, 0, a.id, 1));
        assert_ne!(c.id, a.id);
        assert_eq!(t.get(a.id).unwrap().pkts, [1, 1]);
    }

    #[test]
    fn timeout_splits_and_eviction_counts() {
        let s = 1_000_000_000;
        let mut t = ConnTable::new(10 * s, 2, 30 * s);
        let mut flows = Vec::new();
        run(&mut t, pkt(0, 1, 1, 2, 2, 17), &mut flows);
        run(&mut t, pkt(20 * s, 1, 1, 2, 2, 17), &mut flows);
        assert_eq!(flows.len(), 1);
        assert_eq!(flows[0].reason, EndReason::Timeout);
        run(&mut t, pkt(20 * s, 3, 1, 2, 2, 17), &mut flows);
        run(&mut t, pkt(20 * s, 4, 1, 2, 2, 17), &mut flows);
        assert_eq!(
            (flows.len(), flows[1].reason, t.counters.evictions),
            (2, EndReason::Evicted, 1)
        );
        t.drain(EndReason::EndOfInput, &mut flows);
        assert_eq!(flows.len(), 4);
        assert!(t.is_empty());
    }

    #[test]
    fn fragments_take_the_first_fragments_ports() {
        let mut t = ConnTable::new(1_800_000_000_000, 100, 30_000_000_000);
        let mut flows = Vec::new();
        let (f, mut d) = pkt(0, 1, 7001, 2, 7000, 17);
        d.frag = Frag::First(9);
        let first = run(&mut t, (f, d), &mut flows);
        let (f, mut d) = pkt(1, 1, 0, 2, 0, 17);
        d.frag = Frag::NonFirst(9);
        let next = run(&mut t, (f, d), &mut flows);
        assert_eq!((next.id, next.nonfirst_fragment), (first.id, true));
        let (f, mut d) = pkt(2, 1, 0, 2, 0, 17);
        d.frag = Frag::NonFirst(10);
        let lost = run(&mut t, (f, d), &mut flows);
        assert_ne!(lost.id, first.id);
        assert_eq!(t.counters.frag_unattributed, 1);
    }
}
