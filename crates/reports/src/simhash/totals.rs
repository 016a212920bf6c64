//! Bit totals of shingle occurrences: bit i of the simhash is set iff the occurrences with
//! it outnumber those without (OONI weighs each distinct shingle by its count: the same sums).
//!
//! Counted eight bits at a time in byte counters (each byte a bit's running weight, spilled
//! before it could pass 255), so a hash costs a few vector operations (AVX2) or eight table
//! look-ups and adds (any CPU) rather than 64 signed updates; cheap enough to add every
//! occurrence as it comes instead of counting repeats first.

/// What a simhash loop adds its shingle hashes to.
pub(super) trait Totals {
    /// One occurrence of a shingle with hash `h`.
    fn add(&mut self, h: u64);
    /// The simhash of the occurrences added.
    fn finish(self) -> u64;
}

/// Per-bit weights spilled from the byte counters, and the occurrence count.
struct Spilled {
    ones: [u32; 64],
    total: u64,
}

impl Spilled {
    fn new() -> Spilled {
        Spilled { ones: [0; 64], total: 0 }
    }

    fn add_bytes(&mut self, counts: &[u8; 64]) {
        for (o, c) in self.ones.iter_mut().zip(counts) {
            *o += u32::from(*c);
        }
    }

    /// Bit i's total is (weight with it) - (weight without it).
    fn finish(&self) -> u64 {
        let total = self.total;
        self.ones
            .iter()
            .enumerate()
            .filter(|(_, o)| 2 * u64::from(**o) > total)
            .fold(0u64, |a, (i, _)| a | 1 << i)
    }
}

/// Byte k of `SPREAD[b]` is bit k of b.
static SPREAD: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut k = 0;
        while k < 8 {
            t[b] |= ((b as u64 >> k) & 1) << (8 * k);
            k += 1;
        }
        b += 1;
    }
    t
};

/// Byte counters packed eight to a word, filled by table look-ups (any CPU).
pub(super) struct ScalarTotals {
    packed: [u64; 8],
    in_packed: u32,
    spilled: Spilled,
}

impl ScalarTotals {
    pub(super) fn new() -> ScalarTotals {
        ScalarTotals { packed: [0; 8], in_packed: 0, spilled: Spilled::new() }
    }

    #[cold]
    fn spill(&mut self) {
        let mut bytes = [0u8; 64];
        for (j, p) in self.packed.iter().enumerate() {
            bytes[8 * j..8 * j + 8].copy_from_slice(&p.to_le_bytes());
        }
        self.spilled.add_bytes(&bytes);
        self.packed = [0; 8];
        self.in_packed = 0;
    }
}

impl Totals for ScalarTotals {
    #[inline(always)]
    fn add(&mut self, h: u64) {
        if self.in_packed == 255 {
            self.spill();
        }
        self.in_packed += 1;
        self.spilled.total += 1;
        for (j, p) in self.packed.iter_mut().enumerate() {
            *p += SPREAD[(h >> (8 * j) & 0xff) as usize];
        }
    }

    fn finish(mut self) -> u64 {
        self.spill();
        self.spilled.finish()
    }
}

/// Byte counters in two AVX2 registers, one lane per bit: a hash is broadcast, each lane
/// picks its byte (shuffle), tests its bit and counts it (compare, subtract).
#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use super::{Spilled, Totals};
    use std::arch::x86_64::*;

    /// Only built where AVX2 was detected (see [`available`]).
    pub(in crate::simhash) struct Avx2Totals {
        lo: __m256i,
        hi: __m256i,
        shuf_lo: __m256i,
        shuf_hi: __m256i,
        bits: __m256i,
        in_packed: u32,
        spilled: Spilled,
    }

    /// Whether this CPU has AVX2.
    pub(in crate::simhash) fn available() -> bool {
        std::is_x86_feature_detected!("avx2")
    }

    impl Avx2Totals {
        /// # Safety
        /// The CPU must have AVX2 ([`available`]).
        #[inline(always)]
        pub(in crate::simhash) unsafe fn new() -> Avx2Totals {
            // Lane j of `lo` counts bit j (byte j/8 of the hash), of `hi` bit 32 + j. The
            // shuffle works within 128-bit halves, each holding the hash twice.
            let idx = |base: i8| -> [i8; 32] {
                let mut t = [0i8; 32];
                for (j, v) in t.iter_mut().enumerate() {
                    *v = base + (j / 8) as i8;
                }
                t
            };
            let (l, h) = (idx(0), idx(4));
            let mut bits = [0i8; 32];
            for (j, v) in bits.iter_mut().enumerate() {
                *v = (1u8 << (j % 8)) as i8;
            }
            Avx2Totals {
                lo: _mm256_setzero_si256(),
                hi: _mm256_setzero_si256(),
                shuf_lo: _mm256_loadu_si256(l.as_ptr().cast()),
                shuf_hi: _mm256_loadu_si256(h.as_ptr().cast()),
                bits: _mm256_loadu_si256(bits.as_ptr().cast()),
                in_packed: 0,
                spilled: Spilled::new(),
            }
        }

        #[inline(always)]
        unsafe fn spill(&mut self) {
            let mut bytes = [0u8; 64];
            _mm256_storeu_si256(bytes.as_mut_ptr().cast(), self.lo);
            _mm256_storeu_si256(bytes.as_mut_ptr().add(32).cast(), self.hi);
            self.spilled.add_bytes(&bytes);
            self.lo = _mm256_setzero_si256();
            self.hi = _mm256_setzero_si256();
            self.in_packed = 0;
        }
    }

    impl Totals for Avx2Totals {
        #[inline(always)]
        fn add(&mut self, h: u64) {
            // SAFETY: an Avx2Totals exists only where AVX2 was detected.
            unsafe {
                if self.in_packed == 255 {
                    self.spill();
                }
                self.in_packed += 1;
                self.spilled.total += 1;
                let v = _mm256_set1_epi64x(h as i64);
                let lo = _mm256_and_si256(_mm256_shuffle_epi8(v, self.shuf_lo), self.bits);
                let hi = _mm256_and_si256(_mm256_shuffle_epi8(v, self.shuf_hi), self.bits);
                // A set bit compares equal to its mask: -1, subtracted, counts one.
                self.lo = _mm256_sub_epi8(self.lo, _mm256_cmpeq_epi8(lo, self.bits));
                self.hi = _mm256_sub_epi8(self.hi, _mm256_cmpeq_epi8(hi, self.bits));
            }
        }

        fn finish(mut self) -> u64 {
            // SAFETY: as in `add`.
            unsafe { self.spill() };
            self.spilled.finish()
        }
    }
}
