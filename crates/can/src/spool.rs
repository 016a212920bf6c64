//! The spool of a records member being written.
//!
//! A tar header states the member's size before its data, but a records member's size is
//! known only when its last record is in; so records (and the index lines added among
//! them) wait here until `end_records`. The spool lives in memory up to a limit, then in
//! a temporary file beside the can, so a clean can's member of any size costs bounded
//! memory. That file is unlinked as soon as it is created (`.tmp-<pid>-<can>.spool`, for a
//! moment): it lives while open and vanishes with the process, crash or not.
//!
//! Entry layout: one tag byte (`R` record, `L` index line as JSON, `F` index line and the
//! record figures to fill in, as JSON), the length as u64
//! little-endian, the bytes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use vantage_core::publish::TMP_PREFIX;

/// What an entry of the spool is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tag {
    /// A record (without its `\n`).
    Record,
    /// An index line, as JSON.
    Line,
    /// An index line to complete with the last record's figures, as JSON `[line, fill]`.
    Filled,
}

impl Tag {
    fn byte(self) -> u8 {
        match self {
            Tag::Record => b'R',
            Tag::Line => b'L',
            Tag::Filled => b'F',
        }
    }
}

/// Records waiting for their member's header.
pub(crate) struct Spool {
    limit: usize,
    path: PathBuf,
    mem: Vec<u8>,
    file: Option<BufWriter<File>>,
}

/// Creates an anonymous read-write file in `path`'s directory.
fn anonymous_file(path: &Path) -> io::Result<File> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!("{TMP_PREFIX}{}-{name}", std::process::id()));
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&tmp)?;
    fs::remove_file(&tmp)?;
    Ok(file)
}

impl Spool {
    /// A spool that moves to `path`'s temporary name beyond `limit` bytes.
    pub fn new(path: &Path, limit: usize) -> Spool {
        Spool { limit, path: path.into(), mem: Vec::new(), file: None }
    }

    /// Appends one entry.
    pub fn push(&mut self, tag: Tag, bytes: &[u8]) -> io::Result<()> {
        let mut head = [0u8; 9];
        head[0] = tag.byte();
        head[1..].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        if self.file.is_none() && self.mem.len() + head.len() + bytes.len() > self.limit {
            let mut w = BufWriter::with_capacity(1 << 20, anonymous_file(&self.path)?);
            w.write_all(&self.mem)?;
            self.mem = Vec::new();
            self.file = Some(w);
        }
        match self.file.as_mut() {
            Some(w) => {
                w.write_all(&head)?;
                w.write_all(bytes)
            }
            None => {
                self.mem.extend_from_slice(&head);
                self.mem.extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    /// Whether the spool went to disk.
    #[cfg(test)]
    pub fn on_disk(&self) -> bool {
        self.file.is_some()
    }

    /// Reads the entries back, in order.
    pub fn replay(self) -> io::Result<Replay> {
        let source = match self.file {
            Some(w) => {
                let mut file = w.into_inner().map_err(|e| e.into_error())?;
                file.seek(SeekFrom::Start(0))?;
                Source::Disk(BufReader::with_capacity(1 << 20, file))
            }
            None => Source::Mem(Cursor::new(self.mem)),
        };
        Ok(Replay { source })
    }
}

enum Source {
    Mem(Cursor<Vec<u8>>),
    Disk(BufReader<File>),
}

/// The entries of a spool, read back.
pub(crate) struct Replay {
    source: Source,
}

impl Replay {
    /// The next entry's tag and length, or `None` after the last; read its bytes with
    /// [`Replay::body`] before asking for the next.
    pub fn next(&mut self) -> io::Result<Option<(Tag, u64)>> {
        let mut head = [0u8; 9];
        let r = self.reader();
        let n = read_full(r, &mut head)?;
        if n == 0 {
            return Ok(None);
        }
        if n < head.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "spool entry header truncated",
            ));
        }
        let tag = match head[0] {
            b'R' => Tag::Record,
            b'L' => Tag::Line,
            b'F' => Tag::Filled,
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("spool tag {other:#x}"),
                ))
            }
        };
        let mut len = [0u8; 8];
        len.copy_from_slice(&head[1..]);
        Ok(Some((tag, u64::from_le_bytes(len))))
    }

    /// The reader positioned at the current entry's bytes.
    pub fn body(&mut self) -> &mut dyn Read {
        self.reader()
    }

    fn reader(&mut self) -> &mut dyn Read {
        match &mut self.source {
            Source::Mem(c) => c,
            Source::Disk(r) => r,
        }
    }
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(limit: usize) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::new(&dir.path().join("a.tar.lz4.spool"), limit);
        let entries: Vec<(Tag, Vec<u8>)> = (0..100u32)
            .map(|i| {
                (
                    if i % 3 == 0 { Tag::Line } else { Tag::Record },
                    vec![b'a' + (i % 26) as u8; i as usize * 7],
                )
            })
            .collect();
        for (t, b) in &entries {
            s.push(*t, b).unwrap();
        }
        let on_disk = s.on_disk();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "spool file visible");
        let mut r = s.replay().unwrap();
        for (t, b) in &entries {
            let (tag, len) = r.next().unwrap().unwrap();
            assert_eq!((tag, len), (*t, b.len() as u64));
            let mut got = vec![0; len as usize];
            r.body().read_exact(&mut got).unwrap();
            assert_eq!(&got, b);
        }
        assert!(r.next().unwrap().is_none());
        drop(r);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "spool file left behind");
        on_disk
    }

    #[test]
    fn in_memory_under_the_limit() {
        assert!(!round_trip(1 << 20));
    }

    #[test]
    fn on_disk_over_the_limit() {
        assert!(round_trip(1000));
    }
}
