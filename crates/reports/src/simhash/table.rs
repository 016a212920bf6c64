//! Hashes of ASCII shingles known to this thread (bodies of one bucket share most shingles,
//! §6.4): an open-addressing table keyed by the shingle's four bytes, packed. A packed key
//! is never 0 (word bytes are not NUL), so 0 marks an empty slot.

/// Slots at most (24 MiB); when full the table starts over, so a huge bucket cannot grow it
/// without limit.
const MAX_BITS: u32 = 21;

pub(super) struct AsciiShingles {
    keys: Vec<u32>,
    hashes: Vec<u64>,
    bits: u32,
    len: usize,
}

impl AsciiShingles {
    pub(super) fn new() -> AsciiShingles {
        let bits = 12;
        AsciiShingles { keys: vec![0; 1 << bits], hashes: vec![0; 1 << bits], bits, len: 0 }
    }

    #[inline(always)]
    fn slot(&self, key: u32) -> usize {
        (key.wrapping_mul(0x9e37_79b1) >> (32 - self.bits)) as usize
    }

    /// The hash of shingle `key`, computed by `hash` the first time.
    #[inline(always)]
    pub(super) fn get(&mut self, key: u32, hash: impl FnOnce(u32) -> u64) -> u64 {
        let mask = self.keys.len() - 1;
        let mut i = self.slot(key);
        loop {
            let k = self.keys[i];
            if k == key {
                return self.hashes[i];
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
        if 2 * (self.len + 1) > self.keys.len() {
            self.grow();
            let mask = self.keys.len() - 1;
            let mut i = self.slot(key);
            while self.keys[i] != 0 {
                i = (i + 1) & mask;
            }
            self.keys[i] = key;
            self.hashes[i] = h;
        } else {
            self.keys[slot] = key;
            self.hashes[slot] = h;
        }
        self.len += 1;
    }

    fn grow(&mut self) {
        if self.bits >= MAX_BITS {
            self.keys.fill(0);
            self.len = 0;
            return;
        }
        let old_keys = std::mem::take(&mut self.keys);
        let old_hashes = std::mem::take(&mut self.hashes);
        self.bits += 1;
        self.keys = vec![0; 1 << self.bits];
        self.hashes = vec![0; 1 << self.bits];
        let mask = self.keys.len() - 1;
        for (k, h) in old_keys.into_iter().zip(old_hashes).filter(|(k, _)| *k != 0) {
            let mut i = self.slot(k);
            while self.keys[i] != 0 {
                i = (i + 1) & mask;
            }
            self.keys[i] = k;
            self.hashes[i] = h;
        }
    }
}
