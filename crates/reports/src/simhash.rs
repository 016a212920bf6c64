//! Body features (reports spec §6.4): sha256 and the two simhashes of ooni/backend's
//! `gen_simhash`, so similar blockpages land near each other.
//!
//! Every body needs two simhashes, so the hot path avoids the general one: ASCII text is
//! lower-cased and filtered byte by byte (Unicode `\w` is `[0-9A-Za-z_]` there), each
//! 4-character shingle is looked up in a per-thread table of MD5 halves by its packed
//! characters, and the 64 bit totals are taken once per distinct shingle.

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

/// Bit totals of a set of hashes weighted by their counts: bit i set iff the hashes with it
/// outweigh those without.
///
/// Counted eight bits at a time in the bytes of a word (each byte a bit's running weight,
/// spilled before it could pass 255), so a hash costs eight table look-ups and adds rather
/// than 64 signed updates.
fn fold_bits(weighted: impl Iterator<Item = (u64, i64)>) -> u64 {
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
    let mut ones = [0i64; 64];
    let mut packed = [0u64; 8];
    let mut in_packed = 0i64;
    let mut total = 0i64;
    let spill = |packed: &mut [u64; 8], ones: &mut [i64; 64]| {
        for (j, p) in packed.iter_mut().enumerate() {
            for k in 0..8 {
                ones[8 * j + k] += (*p >> (8 * k) & 0xff) as i64;
            }
            *p = 0;
        }
    };
    for (h, n) in weighted {
        total += n;
        if n > 255 {
            for (i, o) in ones.iter_mut().enumerate() {
                *o += (h >> i & 1) as i64 * n;
            }
            continue;
        }
        if in_packed + n > 255 {
            spill(&mut packed, &mut ones);
            in_packed = 0;
        }
        in_packed += n;
        for (j, p) in packed.iter_mut().enumerate() {
            *p += SPREAD[(h >> (8 * j) & 0xff) as usize] * n as u64;
        }
    }
    spill(&mut packed, &mut ones);
    // Bit i's total is (weight with it) - (weight without it).
    ones.iter().enumerate().filter(|(_, o)| 2 * **o > total).fold(0u64, |a, (i, _)| a | 1 << i)
}

/// Shingle hashes known to this thread (bodies of one bucket share most shingles, §6.4) and
/// the scratch counts of the text being hashed.
#[derive(Default)]
struct Shingles {
    /// Four characters packed 32 bits each → index into `hashes`.
    ids: foldhash::HashMap<u128, u32>,
    hashes: Vec<u64>,
    /// Occurrences in the current text, by index; zero outside `simhash`.
    counts: Vec<u32>,
    /// Indexes counted in the current text.
    touched: Vec<u32>,
    chars: Vec<char>,
}

/// Bounded: a table that grows without limit over a huge bucket is a leak.
const MAX_SHINGLES: usize = 1 << 21;

impl Shingles {
    fn simhash(&mut self, text: &str) -> u64 {
        self.chars.clear();
        if text.is_ascii() {
            let kept = text.bytes().filter(|b| b.is_ascii_alphanumeric() || *b == b'_');
            self.chars.extend(kept.map(|b| char::from(b.to_ascii_lowercase())));
        } else {
            static WORD: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
            let re = WORD.get_or_init(|| {
                regex::Regex::new(r"[\w\x{4e00}-\x{9fcc}]+").expect("constant regex")
            });
            let lower = text.to_lowercase();
            self.chars.extend(re.find_iter(&lower).flat_map(|m| m.as_str().chars()));
        }
        if self.chars.len() < 4 {
            let s: String = self.chars.iter().collect();
            return fold_bits(std::iter::once((md5_low(s.as_bytes()), 1)));
        }
        if self.hashes.len() > MAX_SHINGLES {
            self.ids.clear();
            self.hashes.clear();
            self.counts.clear();
        }
        let chars = std::mem::take(&mut self.chars);
        let mut key = chars[..3].iter().fold(0u128, |k, c| k << 32 | u128::from(u32::from(*c)));
        for (i, c) in chars.iter().enumerate().skip(3) {
            key = key << 32 | u128::from(u32::from(*c));
            let id = match self.ids.get(&key) {
                Some(id) => *id as usize,
                None => {
                    let s: String = chars[i - 3..=i].iter().collect();
                    self.hashes.push(md5_low(s.as_bytes()));
                    self.counts.push(0);
                    let id = self.hashes.len() - 1;
                    self.ids.insert(key, id as u32);
                    id
                }
            };
            if self.counts[id] == 0 {
                self.touched.push(id as u32);
            }
            self.counts[id] += 1;
        }
        self.chars = chars;
        let (hashes, counts) = (&self.hashes, &mut self.counts);
        let h = fold_bits(self.touched.iter().map(|&id| {
            let id = id as usize;
            let n = std::mem::take(&mut counts[id]);
            (hashes[id], i64::from(n))
        }));
        self.touched.clear();
        h
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
