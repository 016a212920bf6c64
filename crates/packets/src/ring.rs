//! A class's memory ring (spec §3.4): the newest stored packets within `mem` bytes
//! (16 + caplen each). Packets stay after they are written to the segment, for
//! `mem_only` queries and for recent ones; the oldest go first.

use std::collections::VecDeque;

/// One packet held in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingPacket {
    /// Time.
    pub ts_ns: i64,
    /// Wire length.
    pub wirelen: u32,
    /// Link type.
    pub linktype: u16,
    /// Arrival sequence over the recorder (ties of the query order).
    pub seq: u64,
    /// Captured bytes as stored.
    pub data: Vec<u8>,
    /// A non-first fragment's connection as the recorder attributed it (conn4 key), so
    /// that memory queries select it as disk queries do.
    pub frag: Option<crate::key::Key>,
}

/// The ring.
#[derive(Debug, Default)]
pub struct Ring {
    budget: u64,
    used: u64,
    packets: VecDeque<RingPacket>,
}

impl Ring {
    /// An empty ring of `budget` bytes.
    pub fn new(budget: u64) -> Ring {
        Ring { budget, used: 0, packets: VecDeque::new() }
    }

    /// Adds a packet, dropping the oldest until it fits. Writes are synchronous in file
    /// mode, so the oldest is always written already and nothing is lost (`ring_drops`
    /// counts losses of the live capture path, issue 4).
    pub fn push(&mut self, p: RingPacket) {
        let need = 16 + p.data.len() as u64;
        while self.used + need > self.budget {
            match self.packets.pop_front() {
                Some(old) => self.used -= 16 + old.data.len() as u64,
                None => return,
            }
        }
        self.used += need;
        self.packets.push_back(p);
    }

    /// Packets held, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &RingPacket> {
        self.packets.iter()
    }

    /// (packets, bytes, retention span in ns).
    pub fn usage(&self) -> (u64, u64, i64) {
        let span = match (self.packets.front(), self.packets.back()) {
            (Some(a), Some(b)) => b.ts_ns - a.ts_ns,
            _ => 0,
        };
        (self.packets.len() as u64, self.used, span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_within_budget() {
        let mut r = Ring::new(100);
        for i in 0..10 {
            r.push(RingPacket {
                ts_ns: i,
                wirelen: 20,
                linktype: 1,
                seq: i as u64,
                data: vec![0; 20],
                frag: None,
            });
        }
        let (n, bytes, span) = r.usage();
        assert_eq!((n, bytes, span), (2, 72, 1));
        assert_eq!(r.iter().next().unwrap().seq, 8);
    }
}
