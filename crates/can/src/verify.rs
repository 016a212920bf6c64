//! `verify`: re-checks a whole can against its index and reports the first mismatch.
//!
//! One sequential pass over the file, frame by frame in file order: each frame's
//! compressed bytes against its `file_crc32` (so that any damaged byte is pinned to the
//! frame holding it: CRC-32 catches every error burst up to 32 bits), its LZ4 decoding
//! (header checksum, content checksum, content size), then its content through the tar
//! scan ([`crate::scan`]): headers, names, sizes, positions, member sha1/crc32, records.
//! Last, the file's size, sha1 and crc32 against the `/file` line. Before any of that, the
//! file must look like a can (an LZ4 frame holding a tar block), so a stray file is called
//! what it is even without an index.
//!
//! Errors name the can and the offset of the frame at fault (`a.tar.lz4: offset 262417:
//! ...`), or the index file and line.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use lz4_flex::frame::FrameDecoder;
use sha1::{Digest, Sha1};
use vantage_core::Place;

use crate::error::{CanError, Sum};
use crate::frame;
use crate::header::{parse_block, BLOCK};
use crate::index::{index_path, Index};
use crate::reader::check_magic;
use crate::scan::{Problem, Scan};
use crate::writer::CanSummary;

/// Re-checks the can `path` against the index beside it.
pub fn verify(path: &Path) -> Result<CanSummary, CanError> {
    verify_with_index(path, &index_path(path))
}

/// Re-checks the can `path` against the index at `index`.
pub fn verify_with_index(path: &Path, index: &Path) -> Result<CanSummary, CanError> {
    let file = File::open(path).map_err(|e| CanError::io(path, e))?;
    let len = file.metadata().map_err(|e| CanError::io(path, e))?.len();
    check_magic(path, &file, len)?;
    sniff_tar(path, &file)?;
    (&file).seek(SeekFrom::Start(0)).map_err(|e| CanError::io(path, e))?;
    let idx = Index::load(index)?;
    let mut r = Hashing::new(BufReader::with_capacity(1 << 20, file));
    let mut scan = Scan::new(&idx);
    let mut buf = vec![0u8; 256 * 1024];
    let mut last_frame_off = 0;
    for f in idx.frames() {
        last_frame_off = f.file_off;
        let place = Place::at_offset(path, f.file_off);
        if f.file_end() > len {
            return Err(CanError::CorruptFrame {
                place,
                why: format!(
                    "the frame's {} bytes run past the end of the {len}-byte file: the can is truncated",
                    f.file_size
                ),
            });
        }
        r.frame_crc = crc32fast::Hasher::new();
        let mut take = (&mut r).take(f.file_size);
        let mut decoded = 0u64;
        let mut problem: Option<CanError> = None;
        {
            let mut dec = FrameDecoder::new(&mut take);
            loop {
                match dec.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        decoded += n as u64;
                        if decoded > f.text_size {
                            break;
                        }
                        if let Err(p) = scan.feed(&buf[..n]) {
                            problem = Some(into_error(path, f.file_off, p));
                            break;
                        }
                    }
                    Err(e) => {
                        problem = Some(CanError::CorruptFrame {
                            place: place.clone(),
                            why: frame::describe(&e),
                        });
                        break;
                    }
                }
            }
        }
        // Read what the decoder left, so that the frame's checksum covers all its bytes.
        let left = io::copy(&mut take, &mut io::sink())
            .map_err(|e| CanError::io_at(path, f.file_off, e))?;
        let crc = r.frame_crc.clone().finalize();
        if crc != f.file_crc32 {
            return Err(CanError::FrameChecksum { place, expected: f.file_crc32, actual: crc });
        }
        if let Some(e) = problem {
            return Err(e);
        }
        if decoded != f.text_size {
            return Err(CanError::CorruptFrame {
                place,
                why: format!(
                    "frame holds {}{decoded} bytes, {} line {} says {}",
                    if decoded > f.text_size { "over " } else { "" },
                    idx.path().display(),
                    f.line,
                    f.text_size
                ),
            });
        }
        if left > 0 {
            return Err(CanError::CorruptFrame {
                place,
                why: format!("{left} bytes after the frame's end mark"),
            });
        }
    }
    let summary = idx.summary();
    if len > summary.file_size {
        return Err(CanError::Mismatch {
            place: Place::at_offset(path, summary.file_size),
            why: format!("{} bytes after the last frame", len - summary.file_size),
        });
    }
    scan.finish().map_err(|p| into_error(path, last_frame_off, p))?;
    let (sha1, crc32) = r.finish();
    let file_place = || Place::at_offset(path, 0);
    let what = || format!("file (index line {})", summary.line);
    if crc32 != summary.file_crc32 {
        return Err(CanError::Checksum {
            place: file_place(),
            what: what(),
            algo: Sum::Crc32,
            expected: summary.file_crc32.to_string().into(),
            actual: crc32.to_string().into(),
        });
    }
    if sha1 != summary.file_sha1 {
        return Err(CanError::Checksum {
            place: file_place(),
            what: what(),
            algo: Sum::Sha1,
            expected: summary.file_sha1.clone().into(),
            actual: sha1.into(),
        });
    }
    Ok(CanSummary {
        path: path.into(),
        index_path: index.into(),
        file_size: summary.file_size,
        file_sha1: summary.file_sha1.clone(),
        file_crc32: summary.file_crc32,
        text_size: summary.text_size,
        frames: idx.frames().len() as u64,
        members: idx.members().len() as u64,
        records: idx.records().len() as u64,
    })
}

/// Checks that the first frame decodes to a tar header block (or the end-of-archive of an
/// empty can), so that an LZ4 file holding something else is refused as "not tar".
fn sniff_tar(path: &Path, file: &File) -> Result<(), CanError> {
    let place = Place::at_offset(path, 0);
    let mut block = [0u8; BLOCK as usize];
    let mut got = 0;
    let mut dec = FrameDecoder::new(BufReader::with_capacity(64 * 1024, file));
    while got < block.len() {
        match dec.read(&mut block[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CanError::CorruptFrame { place, why: frame::describe(&e) }),
        }
    }
    if got < block.len() {
        return Err(CanError::NotTar {
            place,
            why: format!("the stream holds {got} bytes, less than one tar block"),
        });
    }
    parse_block(&block)
        .map_err(|why| CanError::NotTar { place, why: format!("first block: {why}") })?;
    Ok(())
}

fn into_error(path: &Path, frame_off: u64, p: Problem) -> CanError {
    match p {
        Problem::NotTar(why) => CanError::NotTar { place: Place::at_offset(path, frame_off), why },
        Problem::Mismatch(why) => {
            CanError::Mismatch { place: Place::at_offset(path, frame_off), why }
        }
        Problem::Checksum { frame_off, what, algo, expected, actual } => CanError::Checksum {
            place: Place::at_offset(path, frame_off),
            what,
            algo,
            expected: expected.into(),
            actual: actual.into(),
        },
    }
}

/// Reads the can, taking its sha1 and crc32 and the current frame's crc32.
struct Hashing<R> {
    inner: R,
    sha1: Sha1,
    crc: crc32fast::Hasher,
    frame_crc: crc32fast::Hasher,
}

impl<R: Read> Hashing<R> {
    fn new(inner: R) -> Hashing<R> {
        Hashing {
            inner,
            sha1: Sha1::new(),
            crc: crc32fast::Hasher::new(),
            frame_crc: crc32fast::Hasher::new(),
        }
    }

    fn finish(self) -> (String, u32) {
        (hex::encode(self.sha1.finalize()), self.crc.finalize())
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let got = &buf[..n];
        self.sha1.update(got);
        self.crc.update(got);
        self.frame_crc.update(got);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::{Writer, WriterOptions};
    use std::path::PathBuf;

    fn writable(path: &Path) {
        let mut perms = std::fs::metadata(path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)] // tests only: cans are read-only
        perms.set_readonly(false);
        std::fs::set_permissions(path, perms).unwrap();
    }

    fn can(dir: &Path, name: &str, members: &[(&str, &[u8])]) -> PathBuf {
        let p = dir.join(name);
        let mut w =
            Writer::create(&p, WriterOptions { frame_target: 1024, ..WriterOptions::default() })
                .unwrap();
        for (n, b) in members {
            w.add_bytes(n, b).unwrap();
        }
        w.finish().unwrap();
        p
    }

    #[test]
    fn a_good_can_verifies_with_its_figures() {
        let d = tempfile::tempdir().unwrap();
        let p = can(d.path(), "a.tar.lz4", &[("x", &[7; 3000]), ("y", b"")]);
        let s = verify(&p).unwrap();
        assert_eq!((s.members, s.records), (2, 0));
        assert_eq!(s.file_size, std::fs::metadata(&p).unwrap().len());
        assert_eq!(s.file_sha1, vantage_core::hash::sha1_hex(&std::fs::read(&p).unwrap()));
    }

    #[test]
    fn bytes_after_the_last_frame_are_named() {
        let d = tempfile::tempdir().unwrap();
        let p = can(d.path(), "a.tar.lz4", &[("x", b"data")]);
        let len = std::fs::metadata(&p).unwrap().len();
        writable(&p);
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        std::io::Write::write_all(&mut f, b"junk").unwrap();
        let e = verify(&p).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: offset {len}: does not match its index: 4 bytes after the last frame",
                p.display()
            )
        );
    }

    #[test]
    fn another_cans_index_does_not_fit() {
        let d = tempfile::tempdir().unwrap();
        let a = can(d.path(), "a.tar.lz4", &[("x", &[1; 2000])]);
        let b = can(d.path(), "b.tar.lz4", &[("x", &[2; 2000])]);
        let e = verify_with_index(&a, &index_path(&b)).unwrap_err();
        assert!(e.to_string().starts_with(&format!("{}: offset 0: ", a.display())), "{e}");
    }
}
