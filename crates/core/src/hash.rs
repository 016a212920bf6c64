//! Content hashes: what the catalog records of every arrival and can.
//!
//! sha1 and crc32 are what OONI's index events carry; sha256 identifies arrivals for
//! duplicate detection; md5 is kept for the formats that name it (Bismark tarball names).

use std::io::{self, Read};

use md5::Md5;
use sha1::{Digest, Sha1};
use sha2::Sha256;

/// Hex sha1 of a byte string.
pub fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(Sha1::digest(bytes))
}

/// Hex sha256 of a byte string.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Hex md5 of a byte string.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// CRC-32 (IEEE, as zlib and OONI compute it) of a byte string.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// The four digests of one byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    /// Bytes hashed.
    pub size: u64,
    /// Hex sha1.
    pub sha1: String,
    /// Hex sha256.
    pub sha256: String,
    /// Hex md5.
    pub md5: String,
    /// CRC-32 (IEEE).
    pub crc32: u32,
}

/// Takes every digest in one pass, so a large arrival is read once, not four times.
#[derive(Clone, Default)]
pub struct MultiHasher {
    size: u64,
    sha1: Sha1,
    sha256: Sha256,
    md5: Md5,
    crc32: crc32fast::Hasher,
}

impl MultiHasher {
    /// A hasher that has seen nothing.
    pub fn new() -> MultiHasher {
        MultiHasher::default()
    }

    /// Feeds more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        self.sha1.update(bytes);
        self.sha256.update(bytes);
        self.md5.update(bytes);
        self.crc32.update(bytes);
    }

    /// The digests of everything fed.
    pub fn finish(self) -> Digests {
        Digests {
            size: self.size,
            sha1: hex::encode(self.sha1.finalize()),
            sha256: hex::encode(self.sha256.finalize()),
            md5: hex::encode(self.md5.finalize()),
            crc32: self.crc32.finalize(),
        }
    }

    /// Digests of a whole reader, in 64 KiB reads.
    pub fn of_reader(mut r: impl Read) -> io::Result<Digests> {
        let mut h = MultiHasher::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(h.finish());
            }
            h.update(&buf[..n]);
        }
    }

    /// Digests of a file.
    pub fn of_file(path: &std::path::Path) -> io::Result<Digests> {
        MultiHasher::of_reader(std::fs::File::open(path)?)
    }
}

impl io::Write for MultiHasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn multi_hasher_agrees_with_one_shot() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut h = MultiHasher::new();
        for chunk in data.chunks(7777) {
            h.update(chunk);
        }
        let d = h.finish();
        assert_eq!(d.size, data.len() as u64);
        assert_eq!(d.sha1, sha1_hex(&data));
        assert_eq!(d.sha256, sha256_hex(&data));
        assert_eq!(d.md5, md5_hex(&data));
        assert_eq!(d.crc32, crc32(&data));
        assert_eq!(MultiHasher::of_reader(&data[..]).unwrap(), d);
    }
}
