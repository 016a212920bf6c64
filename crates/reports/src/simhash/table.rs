//! Hashes of ASCII shingles known to this thread (bodies of one bucket share most shingles,
//! §6.4): an open-addressing table keyed by the shingle's four bytes, packed. A packed key
//! is never 0 (word bytes are not NUL), so 0 marks an empty slot. Key and hash share a slot,
//! so a look-up touches one cache line.

/// Slots at most (32 MiB); when full the table starts over, so a huge bucket cannot grow it
/// without limit.
const MAX_BITS: u32 = 21;

/// `[key, hash]`.
type Slot = [u64; 2];

pub(super) struct AsciiShingles {
    slots: Vec<Slot>,
    bits: u32,
    len: usize,
}

impl AsciiShingles {
    pub(super) fn new() -> AsciiShingles {
        let bits = 12;
        AsciiShingles { slots: vec![[0; 2]; 1 << bits], bits, len: 0 }
    }

    #[inline(always)]
    fn slot(&self, key: u32) -> usize {
        (key.wrapping_mul(0x9e37_79b1) >> (32 - self.bits)) as usize
    }

    /// The hash of shingle `key`, computed by `hash` the first time.
    #[inline(always)]
    pub(super) fn get(&mut self, key: u32, hash: impl FnOnce(u32) -> u64) -> u64 {
        let mask = self.slots.len() - 1;
        let mut i = self.slot(key);
        loop {
            let [k, h] = self.slots[i];
            if k == u64::from(key) {
                return h;
            }
            if k == 0 {
                break;
            }
            i = (i + 1) & mask;
        }
        let h = hash(key);
        self.insert_new(i, key, h);
        h
    }

    #[cold]
    fn insert_new(&mut self, slot: usize, key: u32, h: u64) {
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow();
            self.place(key, h);
        } else {
            self.slots[slot] = [u64::from(key), h];
        }
        self.len += 1;
    }

    /// Puts a key known to be absent in its first free slot.
    fn place(&mut self, key: u32, h: u64) {
        let mask = self.slots.len() - 1;
        let mut i = self.slot(key);
        while self.slots[i][0] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = [u64::from(key), h];
    }

    fn grow(&mut self) {
        if self.bits >= MAX_BITS {
            self.slots.fill([0; 2]);
            self.len = 0;
            return;
        }
        self.bits += 1;
        let old = std::mem::replace(&mut self.slots, vec![[0; 2]; 1 << self.bits]);
        for [k, h] in old.into_iter().filter(|s| s[0] != 0) {
            self.place(k as u32, h);
        }
    }
}
