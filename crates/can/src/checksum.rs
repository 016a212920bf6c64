//! The two checksums a can records of every member, record and file: sha1 and crc32.
//!
//! core's `MultiHasher` also takes sha256 and md5, which a can does not record; hashing
//! only what is recorded keeps the writer at the speed of `tar | lz4 -1`.

use std::io::{self, Read};
use std::path::Path;

use sha1::{Digest, Sha1};

/// sha1 and crc32 of one byte stream, taken in one pass.
#[derive(Clone, Default)]
pub(crate) struct Checksums {
    size: u64,
    sha1: Sha1,
    crc32: crc32fast::Hasher,
}

/// The finished checksums of a byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sums {
    pub size: u64,
    pub sha1: String,
    pub crc32: u32,
}

impl Checksums {
    /// Feeds more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        self.sha1.update(bytes);
        self.crc32.update(bytes);
    }

    /// The checksums of everything fed.
    pub fn finish(self) -> Sums {
        Sums {
            size: self.size,
            sha1: hex::encode(self.sha1.finalize()),
            crc32: self.crc32.finalize(),
        }
    }
}

/// sha1 and crc32 of a file, read in 1 MiB chunks.
pub(crate) fn of_file(path: &Path) -> io::Result<Sums> {
    let mut f = std::fs::File::open(path)?;
    let mut ck = Checksums::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Ok(ck.finish()),
            Ok(n) => ck.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_core_one_shot_hashes() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let mut c = Checksums::default();
        for chunk in data.chunks(999) {
            c.update(chunk);
        }
        let s = c.finish();
        assert_eq!(s.size, data.len() as u64);
        assert_eq!(s.sha1, vantage_core::hash::sha1_hex(&data));
        assert_eq!(s.crc32, vantage_core::hash::crc32(&data));
    }

    #[test]
    fn empty_stream() {
        let s = Checksums::default().finish();
        assert_eq!(s.sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(s.crc32, 0);
    }
}
