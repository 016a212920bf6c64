//! Body features (reports spec §6.4): sha256 and the two simhashes of ooni/backend's
//! `gen_simhash`, so similar blockpages land near each other.
//!
//! Every body needs two simhashes, so the hot path avoids the general one: ASCII text is
//! lower-cased and filtered byte by byte (Unicode `\w` is `[0-9A-Za-z_]` there), each
//! 4-character shingle is looked up in a per-thread table of MD5 halves by its packed
//! characters, and bit totals are kept eight bits to a word.

use md5::{Digest, Md5};

/// Simhash of `text` as OONI computes it (equal to OONI's for ASCII text), unsigned.
pub fn simhash(text: &str) -> u64 {
    SHINGLES.with(|s| s.borrow_mut().simhash(text))
}

/// The low 64 bits of an MD5, big-endian.
fn md5_low(bytes: &[u8]) -> u64 {
    let d = Md5::digest(bytes);
    let mut low = [0u8; 8];
    low.copy_from_slice(&d[8..16]);
    u64::from_be_bytes(low)
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

/// Bit totals of shingle occurrences: bit i of the simhash is set iff the occurrences with
/// it outnumber those without (OONI weighs each distinct shingle by its count: the same sums).
///
/// Counted eight bits at a time in the bytes of a word (each byte a bit's running weight,
/// spilled before it could pass 255), so a hash costs eight table look-ups and adds rather
/// than 64 signed updates; cheap enough to add every occurrence as it comes instead of
/// counting repeats first.
struct BitTotals {
    ones: [i64; 64],
    packed: [u64; 8],
    in_packed: u32,
    total: i64,
}

impl BitTotals {
    fn new() -> BitTotals {
        BitTotals { ones: [0; 64], packed: [0; 8], in_packed: 0, total: 0 }
    }

    /// One occurrence of a shingle with hash `h`.
    #[inline]
    fn add(&mut self, h: u64) {
        self.total += 1;
        if self.in_packed == 255 {
            self.spill();
        }
        self.in_packed += 1;
        for (j, p) in self.packed.iter_mut().enumerate() {
            *p += SPREAD[(h >> (8 * j) & 0xff) as usize];
        }
    }

    #[cold]
    fn spill(&mut self) {
        for (j, p) in self.packed.iter_mut().enumerate() {
            for k in 0..8 {
                self.ones[8 * j + k] += (*p >> (8 * k) & 0xff) as i64;
            }
            *p = 0;
        }
        self.in_packed = 0;
    }

    fn finish(mut self) -> u64 {
        self.spill();
        // Bit i's total is (weight with it) - (weight without it).
        let total = self.total;
        self.ones
            .iter()
            .enumerate()
            .filter(|(_, o)| 2 * **o > total)
            .fold(0u64, |a, (i, _)| a | 1 << i)
    }
}

/// Shingle hashes known to this thread (bodies of one bucket share most shingles, §6.4).
#[derive(Default)]
struct Shingles {
    /// An ASCII shingle's four bytes, packed → its hash.
    ascii: foldhash::HashMap<u32, u64>,
    /// Any other shingle's four characters, packed 32 bits each → its hash.
    other: foldhash::HashMap<u128, u64>,
    bytes: Vec<u8>,
    chars: Vec<char>,
}

/// Bounded: a table that grows without limit over a huge bucket is a leak.
const MAX_SHINGLES: usize = 1 << 21;

impl Shingles {
    fn simhash(&mut self, text: &str) -> u64 {
        if self.ascii.len() + self.other.len() > MAX_SHINGLES {
            self.ascii.clear();
            self.other.clear();
        }
        let mut totals = BitTotals::new();
        if text.is_ascii() {
            let mut bytes = std::mem::take(&mut self.bytes);
            bytes.clear();
            let kept = text.bytes().filter(|b| b.is_ascii_alphanumeric() || *b == b'_');
            bytes.extend(kept.map(|b| b.to_ascii_lowercase()));
            if bytes.len() < 4 {
                totals.add(md5_low(&bytes));
                return totals.finish();
            }
            let mut key = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]);
            for (i, b) in bytes.iter().enumerate().skip(3) {
                key = key << 8 | u32::from(*b);
                let h = *self.ascii.entry(key).or_insert_with(|| md5_low(&bytes[i - 3..=i]));
                totals.add(h);
            }
            self.bytes = bytes;
        } else {
            static WORD: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
            let re = WORD.get_or_init(|| {
                regex::Regex::new(r"[\w\x{4e00}-\x{9fcc}]+").expect("constant regex")
            });
            let lower = text.to_lowercase();
            let mut chars = std::mem::take(&mut self.chars);
            chars.clear();
            chars.extend(re.find_iter(&lower).flat_map(|m| m.as_str().chars()));
            if chars.len() < 4 {
                let s: String = chars.iter().collect();
                totals.add(md5_low(s.as_bytes()));
                return totals.finish();
            }
            let mut key = chars[..3].iter().fold(0u128, |k, c| k << 32 | u128::from(u32::from(*c)));
            for (i, c) in chars.iter().enumerate().skip(3) {
                key = key << 32 | u128::from(u32::from(*c));
                let h = *self.other.entry(key).or_insert_with(|| {
                    let s: String = chars[i - 3..=i].iter().collect();
                    md5_low(s.as_bytes())
                });
                totals.add(h);
            }
            self.chars = chars;
        }
        totals.finish()
    }
}

thread_local! {
    static SHINGLES: std::cell::RefCell<Shingles> = std::cell::RefCell::new(Shingles::default());
}

/// The text of an HTML body without comments, `<script>`/`<style>` elements, tags and
/// entities (the input of `body_text_simhash`).
pub fn html_text(body: &str) -> String {
    static RES: std::sync::OnceLock<[regex::Regex; 4]> = std::sync::OnceLock::new();
    let res = RES.get_or_init(|| {
        [
            regex::Regex::new(r"(?s)<!--.*?-->").expect("constant regex"),
            regex::Regex::new(r"(?is)<(script|style)\b.*?</(script|style)\s*>")
                .expect("constant regex"),
            regex::Regex::new(r"(?s)<[^>]*>").expect("constant regex"),
            regex::Regex::new(r"&[#A-Za-z0-9]+;").expect("constant regex"),
        ]
    });
    let mut t = body.to_string();
    for re in res {
        t = re.replace_all(&t, " ").into_owned();
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// gen_simhash written out directly (regex words, a map of shingle counts).
    fn reference(text: &str) -> u64 {
        let re = regex::Regex::new(r"[\w\x{4e00}-\x{9fcc}]+").unwrap();
        let lower = text.to_lowercase();
        let kept: Vec<char> = re.find_iter(&lower).flat_map(|m| m.as_str().chars()).collect();
        let mut counts: HashMap<String, i64> = HashMap::new();
        if kept.len() < 4 {
            counts.insert(kept.iter().collect(), 1);
        } else {
            for w in kept.windows(4) {
                *counts.entry(w.iter().collect()).or_default() += 1;
            }
        }
        let mut v = [0i64; 64];
        for (sh, n) in counts {
            let h = md5_low(sh.as_bytes());
            for (i, t) in v.iter_mut().enumerate() {
                *t += if h >> i & 1 == 1 { n } else { -n };
            }
        }
        v.iter().enumerate().filter(|(_, t)| **t > 0).fold(0u64, |a, (i, _)| a | 1 << i)
    }

    #[test]
    fn known_values() {
        assert_eq!(simhash(""), 16825458760271544958);
        assert_eq!(simhash("hello"), 36330143249342482);
    }

    #[test]
    fn long_and_repetitive_texts() {
        // Counts above 255 (spilled directly) and many shingles of weight 1 (packed).
        let mut texts = vec!["abcd".repeat(1000), "ab ".repeat(300), "x".repeat(259)];
        let lorem: String = (0..3000).map(|i| format!("Lorem {i} ipsum {} ", i * 7919)).collect();
        texts.push(lorem);
        for t in texts {
            assert_eq!(simhash(&t), reference(&t), "{}", &t[..20]);
        }
    }

    proptest::proptest! {
        #[test]
        fn equals_the_reference(text in "(?s)[a-zA-Z0-9_ <>&;.\\-\u{e9}\u{4e2d}\u{0130}\u{1f600}]{0,200}") {
            proptest::prop_assert_eq!(simhash(&text), reference(&text));
            // A second time through the warm table.
            proptest::prop_assert_eq!(simhash(&text), reference(&text));
        }
    }

    #[test]
    fn html_text_drops_markup() {
        assert_eq!(
            html_text("<b>a</b><!-- x --><script>y</script>&amp;")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["a"]
        );
    }
}
