//! Reading a can by its index: any member or record with one positioned read and one
//! frame decompression, checked against the checksums its index line records.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
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
        let entry = self.entry(name)?;
        let write_err = |e| CanError::io(Path::new("<output>"), e);
        if entry.size <= COPY_IN_MEMORY {
            let data = self.read_entry(entry)?;
            out.write_all(&data).map_err(write_err)?;
            return Ok(data.len() as u64);
        }
        let loc = &entry.locator;
        let place = Place::at_offset(&self.path, loc.frame_off);
        check_bounds(&self.path, self.len, loc)?;
        let mut file = &self.file;
        file.seek(SeekFrom::Start(loc.frame_off))
            .map_err(|e| CanError::io_at(&self.path, loc.frame_off, e))?;
        let compressed = BufReader::with_capacity(1 << 20, file.take(loc.frame_size));
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
