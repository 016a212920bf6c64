//! Body features (reports spec §6.4): sha256 and the two simhashes of ooni/backend's
//! `gen_simhash`, so similar blockpages land near each other.

use std::collections::HashMap;

use md5::{Digest, Md5};

/// Simhash of `text` as OONI computes it (equal to OONI's for ASCII text), unsigned.
pub fn simhash(text: &str) -> u64 {
    static WORD: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re =
        WORD.get_or_init(|| regex::Regex::new(r"[\w\x{4e00}-\x{9fcc}]+").expect("constant regex"));
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
        let h = shingle_hash(&sh);
        for (i, t) in v.iter_mut().enumerate() {
            if h >> i & 1 == 1 {
                *t += n;
            } else {
                *t -= n;
            }
        }
    }
    v.iter().enumerate().filter(|(_, t)| **t > 0).fold(0u64, |a, (i, _)| a | 1 << i)
}

thread_local! {
    /// Per-shingle hashes: bodies of one bucket share most shingles (§6.4: cached).
    static CACHE: std::cell::RefCell<HashMap<String, u64>> = std::cell::RefCell::new(HashMap::new());
}

/// The low 64 bits of a shingle's MD5, big-endian.
fn shingle_hash(sh: &str) -> u64 {
    if let Some(h) = CACHE.with(|c| c.borrow().get(sh).copied()) {
        return h;
    }
    let d = Md5::digest(sh.as_bytes());
    let mut low = [0u8; 8];
    low.copy_from_slice(&d[8..16]);
    let h = u64::from_be_bytes(low);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        // Bounded: a cache that grows without limit over a huge bucket is a leak.
        if c.len() > 1 << 20 {
            c.clear();
        }
        c.insert(sh.to_string(), h);
    });
    h
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
