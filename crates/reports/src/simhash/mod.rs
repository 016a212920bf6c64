//! Body features (reports spec §6.4): sha256 and the two simhashes of ooni/backend's
//! `gen_simhash`, so similar blockpages land near each other.
//!
//! Every body needs two simhashes, so the hot path avoids the general one: ASCII text is
//! lower-cased and filtered byte by byte as it streams (Unicode `\w` is `[0-9A-Za-z_]`
//! there), each 4-character shingle is looked up in a per-thread table of MD5 halves by its
//! packed characters ([`table`]), and bit totals are kept eight bits to a byte counter
//! ([`totals`], AVX2 where the CPU has it). [`BodyHashes`] remembers the simhashes of bodies
//! already seen by their sha256.

mod cache;
mod html;
mod table;
mod totals;

pub use cache::BodyHashes;
pub use html::html_text;

use md5::{Digest, Md5};
use totals::Totals;

/// Simhash of `text` as OONI computes it (equal to OONI's for ASCII text), unsigned.
pub fn simhash(text: &str) -> u64 {
    SHINGLES.with(|s| s.borrow_mut().simhash(text))
}

/// `(simhash(body), simhash(html_text(body)))`, the two simhashes of a body, with the
/// intermediate text in reused buffers.
pub fn body_simhashes(body: &str) -> (u64, u64) {
    SHINGLES.with(|s| {
        let mut s = s.borrow_mut();
        if !body.is_ascii() {
            return (s.simhash(body), s.simhash(&html_text(body)));
        }
        let (mut text, mut scratch) = (std::mem::take(&mut s.text), std::mem::take(&mut s.scratch));
        html::ascii_html_text(body.as_bytes(), &mut text, &mut scratch);
        let both = (s.ascii(body.as_bytes()), s.ascii(&text));
        (s.text, s.scratch) = (text, scratch);
        both
    })
}

/// The low 64 bits of an MD5, big-endian.
fn md5_low(bytes: &[u8]) -> u64 {
    let d = Md5::digest(bytes);
    let mut low = [0u8; 8];
    low.copy_from_slice(&d[8..16]);
    u64::from_be_bytes(low)
}

/// A byte of ASCII text as the simhash keeps it: word bytes lower-cased, 0 for the rest.
static WORD_LOWER: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'_' {
            t[b] = c.to_ascii_lowercase();
        }
        b += 1;
    }
    t
};

/// The simhash of ASCII `text` into totals `t`.
#[inline(always)]
fn ascii_into<T: Totals>(table: &mut table::AsciiShingles, text: &[u8], mut t: T) -> u64 {
    let (mut key, mut kept) = (0u32, 0usize);
    for &b in text {
        let w = WORD_LOWER[b as usize];
        if w == 0 {
            continue;
        }
        key = key << 8 | u32::from(w);
        kept += 1;
        if kept >= 4 {
            t.add(table.get(key, |k| md5_low(&k.to_be_bytes())));
        }
    }
    if kept < 4 {
        // The text kept is the low `kept` bytes of the key.
        t.add(md5_low(&key.to_be_bytes()[4 - kept..]));
    }
    t.finish()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
/// # Safety
/// The CPU must have AVX2.
unsafe fn ascii_avx2(table: &mut table::AsciiShingles, text: &[u8]) -> u64 {
    // SAFETY: the caller checked for AVX2.
    ascii_into(table, text, unsafe { totals::avx2::Avx2Totals::new() })
}

/// Shingle hashes known to this thread, and buffers reused from body to body.
struct Shingles {
    /// ASCII shingles.
    ascii: table::AsciiShingles,
    /// Any other shingle's four characters, packed 32 bits each → its hash.
    other: foldhash::HashMap<u128, u64>,
    chars: Vec<char>,
    text: Vec<u8>,
    scratch: Vec<u8>,
    avx2: bool,
}

/// Bounded: a table that grows without limit over a huge bucket is a leak.
const MAX_SHINGLES: usize = 1 << 21;

impl Shingles {
    fn new() -> Shingles {
        #[cfg(target_arch = "x86_64")]
        let avx2 = totals::avx2::available();
        #[cfg(not(target_arch = "x86_64"))]
        let avx2 = false;
        Shingles {
            ascii: table::AsciiShingles::new(),
            other: Default::default(),
            chars: Vec::new(),
            text: Vec::new(),
            scratch: Vec::new(),
            avx2,
        }
    }

    /// The simhash of ASCII text.
    fn ascii(&mut self, text: &[u8]) -> u64 {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: AVX2 was detected.
            return unsafe { ascii_avx2(&mut self.ascii, text) };
        }
        ascii_into(&mut self.ascii, text, totals::ScalarTotals::new())
    }

    fn simhash(&mut self, text: &str) -> u64 {
        if text.is_ascii() {
            return self.ascii(text.as_bytes());
        }
        if self.other.len() > MAX_SHINGLES {
            self.other.clear();
        }
        let mut totals = totals::ScalarTotals::new();
        static WORD: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let re = WORD
            .get_or_init(|| regex::Regex::new(r"[\w\x{4e00}-\x{9fcc}]+").expect("constant regex"));
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
        totals.finish()
    }
}

thread_local! {
    static SHINGLES: std::cell::RefCell<Shingles> = std::cell::RefCell::new(Shingles::new());
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
    fn vector_and_scalar_totals_agree() {
        let mut table = table::AsciiShingles::new();
        let texts = ["abcd".repeat(1000), "Lorem ipsum 12345 dolor".repeat(40), "ab".into()];
        for t in &texts {
            let scalar = ascii_into(&mut table, t.as_bytes(), totals::ScalarTotals::new());
            assert_eq!(scalar, reference(t));
            #[cfg(target_arch = "x86_64")]
            if totals::avx2::available() {
                // SAFETY: AVX2 detected.
                assert_eq!(unsafe { ascii_avx2(&mut table, t.as_bytes()) }, scalar);
            }
        }
    }

    #[test]
    fn body_simhashes_are_the_two_simhashes() {
        for body in [
            "<html><title>Hi there</title><script>var x</script><p>Text &amp; more</p></html>",
            "<p>caf\u{e9} <!-- c --> \u{4e2d}\u{6587}</p>",
            "",
        ] {
            assert_eq!(body_simhashes(body), (reference(body), reference(&html_text(body))));
        }
        let mut cache = BodyHashes::default();
        let body = "<b>blocked</b>";
        assert_eq!(cache.simhashes([7; 32], body), body_simhashes(body));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.simhashes([7; 32], body), body_simhashes(body));
    }
}
