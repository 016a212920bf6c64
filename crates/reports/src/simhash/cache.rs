//! The sha256 → simhashes cache of §6.4: a body seen before (the same blockpage, the same
//! site) costs a look-up instead of two simhashes. Centrifugation preloads it from the
//! previous bucket's rows and carries it from bucket to bucket.

/// Bodies at most; past this the cache starts over (memory stays bounded).
const MAX_BODIES: usize = 1 << 18;

/// Body sha256 → `(body_simhash, body_text_simhash)`.
#[derive(Default)]
pub struct BodyHashes {
    known: foldhash::HashMap<[u8; 32], (u64, u64)>,
}

impl std::fmt::Debug for BodyHashes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyHashes").field("bodies", &self.known.len()).finish()
    }
}

impl BodyHashes {
    /// The two simhashes of `body`, whose sha256 is `sha256`: remembered, or computed
    /// ([`super::body_simhashes`]) and remembered.
    pub fn simhashes(&mut self, sha256: [u8; 32], body: &str) -> (u64, u64) {
        if let Some(s) = self.known.get(&sha256) {
            return *s;
        }
        let s = super::body_simhashes(body);
        self.insert(sha256, s);
        s
    }

    /// Remembers the simhashes of a body (preloading).
    pub fn insert(&mut self, sha256: [u8; 32], simhashes: (u64, u64)) {
        if self.known.len() >= MAX_BODIES {
            self.known.clear();
        }
        self.known.insert(sha256, simhashes);
    }

    /// Bodies remembered.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}
