//! Reading a can by its index: any member or record with one positioned read and one
//! frame decompression, checked against the checksums its index line records.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use vantage_core::Place;

use crate::checksum::Checksums;
use crate::error::{CanError, Sum};
use crate::frame::{self, LZ4_MAGIC};
use crate::index::{index_path, Index, Locator, MemberEntry, RecordEntry};

/// Members up to this size are read whole and checked before [`Can::copy_member`] writes
/// a byte; larger ones are streamed and checked at the end.
const COPY_IN_MEMORY: u64 = 64 << 20;

/// An open can and its loaded index.
#[derive(Debug)]
pub struct Can {
    path: PathBuf,
    file: File,
    len: u64,
    index: Index,
}

impl Can {
    /// Opens the can `path` and its index beside it.
    pub fn open(path: &Path) -> Result<Can, CanError> {
        Can::open_with_index(path, &index_path(path))
    }

    /// Opens the can `path` with the index at `index`.
    ///
    /// Checks that the file starts with an LZ4 frame and has the size its index records,
    /// so that a truncated or swapped can fails here, not on some later read.
    pub fn open_with_index(path: &Path, index: &Path) -> Result<Can, CanError> {
        let file = File::open(path).map_err(|e| CanError::io(path, e))?;
        let len = file.metadata().map_err(|e| CanError::io(path, e))?.len();
        check_magic(path, &file, len)?;
        let index = Index::load(index)?;
        if index.summary().file_size != len {
            return Err(CanError::Mismatch {
                place: Place::at_offset(path, len.min(index.summary().file_size)),
                why: format!(
                    "the can is {len} bytes, {} line {} says {}: it was truncated, extended or replaced",
                    index.path().display(),
                    index.summary().line,
                    index.summary().file_size
                ),
            });
        }
        Ok(Can { path: path.into(), file, len, index })
    }

    /// The can file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Its members, in tar order.
    pub fn members(&self) -> impl ExactSizeIterator<Item = &MemberEntry> {
        self.index.members().iter()
    }

    /// The member named `name`.
    pub fn member(&self, name: &str) -> Option<&MemberEntry> {
        self.index.member(name)
    }

    /// The records of the member `name` (empty for a raw member).
    pub fn records(&self, name: &str) -> &[RecordEntry] {
        self.index.records_of(name)
    }

    fn entry(&self, name: &str) -> Result<&MemberEntry, CanError> {
        self.member(name)
            .ok_or_else(|| CanError::NoSuchMember { path: self.path.clone(), name: name.into() })
    }

    /// The data of member `name`, checked against its sha1 and crc32.
    pub fn read_member(&self, name: &str) -> Result<Vec<u8>, CanError> {
        self.read_entry(self.entry(name)?)
    }

    /// The data of the member an index entry describes, checked against its checksums.
    pub fn read_entry(&self, entry: &MemberEntry) -> Result<Vec<u8>, CanError> {
        let data = self.read_locator(&entry.locator)?;
        let mut ck = Checksums::default();
        ck.update(&data);
        check_member(&self.path, entry, ck)?;
        Ok(data)
    }

    /// The bytes of one record (without its `\n`), checked against its crc32.
    pub fn read_record(&self, record: &RecordEntry) -> Result<Vec<u8>, CanError> {
        let data = self.read_locator(&record.locator)?;
        let crc = crc32fast::hash(&data);
        if crc != record.crc32 {
            return Err(CanError::Checksum {
                place: Place::at_offset(&self.path, record.locator.frame_off),
                what: format!("record at {} of member {}", record.member_off, record.member),
                algo: Sum::Crc32,
                expected: record.crc32.to_string().into(),
                actual: crc.to_string().into(),
            });
        }
        Ok(data)
    }

    /// The bytes a locator points at, unchecked beyond the LZ4 frame's own checksum (for
    /// the kinds' own locators, e.g. the reports datum locator).
    pub fn read_locator(&self, loc: &Locator) -> Result<Vec<u8>, CanError> {
        read_locator(&self.path, &self.file, self.len, loc)
    }

    /// Writes member `name` to `out`; returns the bytes written.
    ///
    /// A member up to 64 MiB is read and checked before anything is written; a larger one
    /// is streamed and checked at its end, so a damaged large member is reported after its
    /// bytes went out.
    pub fn copy_member(&self, name: &str, out: &mut dyn Write) -> Result<u64, CanError> {
        self.copy_member_with(name, out, COPY_IN_MEMORY)
    }

    /// [`Can::copy_member`], streaming members over `in_memory` bytes.
    fn copy_member_with(
        &self,
        name: &str,
        out: &mut dyn Write,
        in_memory: u64,
    ) -> Result<u64, CanError> {
        let entry = self.entry(name)?;
        let write_err = |e| CanError::io(Path::new("<output>"), e);
        if entry.size <= in_memory {
            let data = self.read_entry(entry)?;
            out.write_all(&data).map_err(write_err)?;
            return Ok(data.len() as u64);
        }
        let loc = &entry.locator;
        let place = Place::at_offset(&self.path, loc.frame_off);
        check_bounds(&self.path, self.len, loc)?;
        // In bounds: check_bounds above.
        let at = At { file: &self.file, off: loc.frame_off, end: loc.frame_off + loc.frame_size };
        let compressed = BufReader::with_capacity(1 << 20, at);
        let mut dec = frame::Frames::new(compressed);
        let corrupt = |e: io::Error| CanError::CorruptFrame {
            place: place.clone(),
            why: frame::describe(&e),
        };
        let skipped =
            io::copy(&mut (&mut dec).take(loc.intra_off), &mut io::sink()).map_err(corrupt)?;
        let mut ck = Checksums::default();
        let mut buf = vec![0u8; 1 << 20];
        let mut left = loc.intra_size;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = dec.read(&mut buf[..want]).map_err(corrupt)?;
            if n == 0 {
                break;
            }
            ck.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(write_err)?;
            left -= n as u64;
        }
        if skipped < loc.intra_off || left > 0 {
            return Err(CanError::CorruptFrame {
                place,
                why: format!("frames end {left} bytes before member {} does", entry.name),
            });
        }
        check_member(&self.path, entry, ck)?;
        Ok(entry.size)
    }
}

/// Reads `file` from `off` to `end` with positioned reads, so that a [`Can`] shared
/// between threads never moves a file cursor under another reader.
struct At<'a> {
    file: &'a File,
    off: u64,
    end: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end.saturating_sub(self.off)).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.off)?;
        self.off += n as u64;
        Ok(n)
    }
}

/// Checks that `file` starts with an LZ4 frame.
pub(crate) fn check_magic(path: &Path, file: &File, len: u64) -> Result<(), CanError> {
    let mut magic = [0u8; 4];
    if len < magic.len() as u64 {
        return Err(CanError::NotACan {
            place: Place::at_offset(path, 0),
            why: format!("{len} bytes, too short for an LZ4 frame"),
        });
    }
    file.read_exact_at(&mut magic, 0).map_err(|e| CanError::io_at(path, 0, e))?;
    if magic != LZ4_MAGIC {
        return Err(CanError::NotACan {
            place: Place::at_offset(path, 0),
            why: format!(
                "starts with {} where an LZ4 frame starts with 04224d18",
                hex::encode(magic)
            ),
        });
    }
    Ok(())
}

fn check_bounds(path: &Path, len: u64, loc: &Locator) -> Result<(), CanError> {
    if loc.frame_off.checked_add(loc.frame_size).map_or(true, |end| end > len)
        || loc.frame_size == 0
    {
        return Err(CanError::Mismatch {
            place: Place::at_offset(path, loc.frame_off),
            why: format!(
                "frames of {} bytes at {} do not fit the {len}-byte can",
                loc.frame_size, loc.frame_off
            ),
        });
    }
    Ok(())
}

fn read_locator(path: &Path, file: &File, len: u64, loc: &Locator) -> Result<Vec<u8>, CanError> {
    check_bounds(path, len, loc)?;
    let place = Place::at_offset(path, loc.frame_off);
    let size = usize::try_from(loc.frame_size).map_err(|_| CanError::Mismatch {
        place: place.clone(),
        why: "frame run too large for memory".into(),
    })?;
    let mut compressed = vec![0u8; size];
    file.read_exact_at(&mut compressed, loc.frame_off)
        .map_err(|e| CanError::io_at(path, loc.frame_off, e))?;
    let end = loc.intra_off.saturating_add(loc.intra_size);
    let mut text = frame::decode_prefix(&compressed, end)
        .map_err(|why| CanError::CorruptFrame { place: place.clone(), why })?;
    if (text.len() as u64) < end {
        return Err(CanError::CorruptFrame {
            place,
            why: format!(
                "frames hold {} bytes, the index points at {}..{end}",
                text.len(),
                loc.intra_off
            ),
        });
    }
    // In bounds: text.len() >= end >= intra_off, checked just above.
    let start = loc.intra_off as usize;
    text.drain(..start);
    Ok(text)
}

/// Reads the bytes `loc` points at in the can `path`, without loading its index: what a
/// locator stored elsewhere (a warehouse row) needs.
pub fn read_at(path: &Path, loc: &Locator) -> Result<Vec<u8>, CanError> {
    let file = File::open(path).map_err(|e| CanError::io(path, e))?;
    let len = file.metadata().map_err(|e| CanError::io(path, e))?.len();
    read_locator(path, &file, len, loc)
}

fn check_member(path: &Path, entry: &MemberEntry, ck: Checksums) -> Result<(), CanError> {
    let sums = ck.finish();
    let place = Place::at_offset(path, entry.locator.frame_off);
    let what = format!("member {}", entry.name);
    if sums.size != entry.size {
        return Err(CanError::Checksum {
            place,
            what,
            algo: Sum::Size,
            expected: entry.size.to_string().into(),
            actual: sums.size.to_string().into(),
        });
    }
    if sums.crc32 != entry.crc32 {
        return Err(CanError::Checksum {
            place,
            what,
            algo: Sum::Crc32,
            expected: entry.crc32.to_string().into(),
            actual: sums.crc32.to_string().into(),
        });
    }
    if sums.sha1 != entry.sha1 {
        return Err(CanError::Checksum {
            place,
            what,
            algo: Sum::Sha1,
            expected: entry.sha1.clone().into(),
            actual: sums.sha1.into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::{Writer, WriterOptions};

    fn can_with(members: &[(&str, Vec<u8>)], target: usize) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.tar.lz4");
        let mut w = Writer::create(
            &path,
            WriterOptions { frame_target: target, ..WriterOptions::default() },
        )
        .unwrap();
        for (name, bytes) in members {
            w.add_bytes(name, bytes).unwrap();
        }
        w.finish().unwrap();
        (dir, path)
    }

    fn text(seed: u8, n: usize) -> Vec<u8> {
        (0..n).map(|i| b"abcdefghij\n"[(i * seed as usize + i / 7) % 11]).collect()
    }

    #[test]
    fn readers_and_writers_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Can>();
        send::<Writer>();
    }

    #[test]
    fn streamed_copy_equals_the_member() {
        let members = [("small", text(3, 100)), ("big", text(5, 300_000)), ("empty", Vec::new())];
        let (_d, path) = can_with(&members, 4096);
        let can = Can::open(&path).unwrap();
        for (name, bytes) in &members {
            let mut out = Vec::new();
            assert_eq!(can.copy_member_with(name, &mut out, 0).unwrap(), bytes.len() as u64);
            assert!(&out == bytes, "{name}");
        }
    }

    #[test]
    fn read_at_follows_a_stored_locator() {
        let members = [("a", text(1, 5000)), ("b", text(2, 7000))];
        let (_d, path) = can_with(&members, 4096);
        let loc = Can::open(&path).unwrap().member("b").unwrap().locator;
        assert!(read_at(&path, &loc).unwrap() == members[1].1);
        let len = std::fs::metadata(&path).unwrap().len();
        let out_of_file = Locator { frame_off: len - 2, frame_size: 10, ..loc };
        let e = read_at(&path, &out_of_file).unwrap_err();
        assert!(e.to_string().contains("do not fit"), "{e}");
        let past_content = Locator { intra_off: loc.intra_off + 1_000_000, ..loc };
        let e = read_at(&path, &past_content).unwrap_err();
        assert!(matches!(e, CanError::CorruptFrame { .. }), "{e}");
    }

    #[test]
    fn damage_under_a_streamed_copy_is_reported() {
        let (_d, path) = can_with(&[("big", text(7, 200_000))], 4096);
        let loc = Can::open(&path).unwrap().member("big").unwrap().locator;
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[(loc.frame_off + loc.frame_size / 2) as usize] ^= 1;
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)] // tests only: the can is read-only
        perms.set_readonly(false);
        std::fs::set_permissions(&path, perms).unwrap();
        std::fs::write(&path, bytes).unwrap();
        let can = Can::open(&path).unwrap();
        let e = can.copy_member_with("big", &mut Vec::new(), 0).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!("{}: offset {}: ", path.display(), loc.frame_off)),
            "{e}"
        );
    }
}
