//! Writing a can: members from readers, or records one JSON line at a time.
//!
//! The writer streams: member data go from the caller's reader into the open frame (or,
//! for a member larger than the frame target, through 1 MiB chunks into a frame of its
//! own), hashed on the way; records wait in a bounded spool until their member's size is
//! known. Memory is a few frames whatever the input size.
//!
//! Publication (via core's `publish::Pending`): the can and its index are written under
//! temporary names (`.tmp-<pid>-<name>`), and [`Writer::finish`] fsyncs both, marks them
//! read-only, renames the **index first**, then the can, fsyncing the directory after
//! each. Why that order: a reader finds a can by its name and trusts its index, so a can
//! must never be visible without one; an index without its can (a crash between the two
//! renames) is harmless — nothing looks for an index without a can, and the re-run
//! replaces it. A crash before that leaves only temporaries, which the next write of the
//! same can removes ([`crate::stale`]).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use vantage_core::Place;

use crate::checksum::Checksums;
use crate::error::CanError;
use crate::frame::{DEFAULT_FRAME_TARGET, MAX_FRAME_TARGET, MIN_FRAME_TARGET};
use crate::framer::{CopyError, Framer};
use crate::header::{check_member_name, member_header, pad_len, END};
use crate::index::{index_path, FileHead, RecordField, CAN_FORMAT, RESERVED_TYPES};
use crate::sink::{Line, MemberDraft, RecordDraft, Sink, SinkHandle};
use crate::spool::{Spool, Tag};
use crate::stale::remove_stale;

/// Zero bytes for padding.
const ZEROS: [u8; 512] = [0; 512];

/// How a can is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    /// Uncompressed bytes per frame ([`DEFAULT_FRAME_TARGET`], 256 KiB): larger frames
    /// compress a little better, smaller ones make a random read cheaper.
    pub frame_target: usize,
    /// The mtime of every member's tar header. One fixed value (default 0; the reports
    /// kind uses the bucket's midnight) so that a can's bytes depend only on its members'
    /// names and contents.
    pub mtime: u64,
    /// Compress on a second thread while the caller's thread reads and hashes (default),
    /// or all on the caller's thread.
    pub background: bool,
    /// Bytes of a records member kept in memory before its spool moves to disk.
    pub spool_limit: usize,
    /// The name the index's `file` line gives the can (default: its file name).
    pub filename: Option<String>,
}

impl Default for WriterOptions {
    fn default() -> WriterOptions {
        WriterOptions {
            frame_target: DEFAULT_FRAME_TARGET,
            mtime: 0,
            background: true,
            spool_limit: 8 << 20,
            filename: None,
        }
    }
}

/// What the writer recorded of one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberInfo {
    /// Its name.
    pub name: String,
    /// Bytes of data.
    pub size: u64,
    /// Hex sha1 of the data.
    pub sha1: String,
    /// crc32 of the data.
    pub crc32: u32,
    /// Offset of the data in the tar stream.
    pub text_off: u64,
    /// Number of records, for a records member.
    pub records: Option<u64>,
}

/// What a finished (or verified) can is: the figures of its `/file` line and counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CanSummary {
    /// The can.
    pub path: PathBuf,
    /// Its index.
    pub index_path: PathBuf,
    /// Bytes of the can file.
    pub file_size: u64,
    /// Hex sha1 of the can file.
    pub file_sha1: String,
    /// crc32 of the can file.
    pub file_crc32: u32,
    /// Bytes of the tar stream inside.
    pub text_size: u64,
    /// LZ4 frames.
    pub frames: u64,
    /// Members.
    pub members: u64,
    /// Records (of records members).
    pub records: u64,
}

/// Checks that a kind's index line is an object with a `type` of the kind's own.
fn check_line(path: &Path, line: &Value) -> Result<(), CanError> {
    match line.get("type").and_then(Value::as_str) {
        Some(t) if RESERVED_TYPES.contains(&t) => {
            Err(CanError::invalid(path, format!("index line type {t:?} is the foundation's own")))
        }
        Some(_) if line.is_object() => Ok(()),
        _ => Err(CanError::invalid(path, "an index line is a JSON object with a string `type`")),
    }
}

/// A records member being written.
struct OpenRecords {
    name: Arc<str>,
    spool: Spool,
    size: u64,
    count: u64,
}

/// Writes one can; see the module documentation for the guarantees.
///
/// After an error the writer refuses further calls: drop it, and its temporary files go
/// with it.
pub struct Writer {
    path: PathBuf,
    index_path: PathBuf,
    mtime: u64,
    spool_limit: usize,
    framer: Framer,
    records: Option<OpenRecords>,
    broken: Option<String>,
}

impl Writer {
    /// Starts writing the can `path` (its directory must exist; the can must not).
    pub fn create(path: &Path, opts: WriterOptions) -> Result<Writer, CanError> {
        if !(MIN_FRAME_TARGET..=MAX_FRAME_TARGET).contains(&opts.frame_target) {
            return Err(CanError::invalid(
                path,
                format!(
                    "frame target {} is outside {MIN_FRAME_TARGET}..={MAX_FRAME_TARGET} bytes",
                    opts.frame_target
                ),
            ));
        }
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return Err(CanError::invalid(path, "a can needs a UTF-8 file name"));
        };
        if path.symlink_metadata().is_ok() {
            return Err(CanError::invalid(
                path,
                "already exists; a can is never overwritten (check it with `vantage can verify`)",
            ));
        }
        let index_path = index_path(path);
        let index_name = format!("{name}{}", crate::index::INDEX_SUFFIX);
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(CanError::invalid(
                path,
                format!("directory {} does not exist", dir.display()),
            ));
        }
        // Best effort: a failure here shows up, better worded, when creating the files.
        let _ = remove_stale(dir, &[name, &index_name]);
        let index = vantage_core::publish::Pending::create(&index_path)
            .map_err(|e| CanError::io(&index_path, e))?;
        let can =
            vantage_core::publish::Pending::create(path).map_err(|e| CanError::io(path, e))?;
        let sink = SinkHandle::start(Sink::new(can, index, path, &index_path), opts.background)?;
        let mut framer = Framer::new(opts.frame_target, sink);
        let head = FileHead {
            filename: opts.filename.unwrap_or_else(|| name.to_string()),
            can_format: CAN_FORMAT,
        };
        framer.attach(Line::Ready(head.to_json()));
        Ok(Writer {
            path: path.into(),
            index_path,
            mtime: opts.mtime,
            spool_limit: opts.spool_limit,
            framer,
            records: None,
            broken: None,
        })
    }

    /// The can being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn usable(&self) -> Result<(), CanError> {
        match &self.broken {
            Some(why) => Err(CanError::invalid(
                &self.path,
                format!("writer unusable after an earlier error: {why}"),
            )),
            None => Ok(()),
        }
    }

    fn no_open_records(&self) -> Result<(), CanError> {
        match &self.records {
            Some(r) => Err(CanError::invalid(
                &self.path,
                format!("records member {:?} is open; call end_records first", r.name),
            )),
            None => Ok(()),
        }
    }

    fn poison<T>(&mut self, r: Result<T, CanError>) -> Result<T, CanError> {
        if let Err(e) = &r {
            self.broken = Some(e.to_string());
        }
        r
    }

    fn check_name(&self, name: &str) -> Result<(), CanError> {
        check_member_name(name).map_err(|why| CanError::invalid(&self.path, why))
    }

    /// Adds a member of `size` bytes read from `reader` (exactly `size` bytes are read;
    /// a reader that ends sooner is [`CanError::InputChanged`]).
    pub fn add_member<R: Read>(
        &mut self,
        name: &str,
        size: u64,
        mut reader: R,
    ) -> Result<MemberInfo, CanError> {
        self.add_from(name, size, &mut reader, Path::new(name))
    }

    /// Adds a member holding `bytes`.
    pub fn add_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<MemberInfo, CanError> {
        self.add_from(name, bytes.len() as u64, &mut &bytes[..], Path::new(name))
    }

    /// Adds the file `source` as member `name`; the size is taken from its metadata, and a
    /// file that changes size while being read is [`CanError::InputChanged`].
    pub fn add_file(&mut self, name: &str, source: &Path) -> Result<MemberInfo, CanError> {
        let mut file = File::open(source).map_err(|e| CanError::io(source, e))?;
        let size = file.metadata().map_err(|e| CanError::io(source, e))?.len();
        let info = self.add_from(name, size, &mut file, source)?;
        let now = file.metadata().map_err(|e| CanError::io(source, e))?.len();
        if now != size {
            let e = CanError::InputChanged {
                place: Place::file(source),
                why: format!("grew from {size} to {now} bytes while being canned"),
            };
            return self.poison(Err(e));
        }
        Ok(info)
    }

    fn add_from(
        &mut self,
        name: &str,
        size: u64,
        reader: &mut dyn Read,
        source: &Path,
    ) -> Result<MemberInfo, CanError> {
        self.usable()?;
        self.no_open_records()?;
        self.check_name(name)?;
        let r = self.add_piece(name, size, reader, source);
        self.poison(r)
    }

    fn add_piece(
        &mut self,
        name: &str,
        size: u64,
        reader: &mut dyn Read,
        source: &Path,
    ) -> Result<MemberInfo, CanError> {
        let header = member_header(name, size, self.mtime);
        let pad = pad_len(size);
        let piece = header.len() as u64 + size + pad;
        let f = &mut self.framer;
        f.begin_piece(piece)?;
        let text_off = f.text_off() + header.len() as u64;
        let intra_off = text_off - f.frame_text_off();
        f.write(&header)?;
        let mut ck = Checksums::default();
        let got = f.copy_from(reader, size, &mut |b| ck.update(b)).map_err(|e| match e {
            CopyError::Read(e) => CanError::io(source, e),
            CopyError::Sink(e) => e,
        })?;
        if got < size {
            return Err(CanError::InputChanged {
                place: Place::file(source),
                why: format!("ended after {got} of the {size} bytes announced"),
            });
        }
        f.write(&ZEROS[..pad as usize])?;
        f.end_piece(piece);
        let sums = ck.finish();
        let info = MemberInfo {
            name: name.into(),
            size,
            sha1: sums.sha1,
            crc32: sums.crc32,
            text_off,
            records: None,
        };
        f.attach(Line::Member(MemberDraft {
            name: info.name.clone(),
            size,
            sha1: info.sha1.clone(),
            crc32: info.crc32,
            mtime: self.mtime,
            text_off,
            records: None,
            intra_off,
            anchor: None,
        }));
        Ok(info)
    }

    /// Starts a member written in record units (JSON lines), each readable alone by its
    /// index `record` line; add them with [`Writer::add_record`], end with
    /// [`Writer::end_records`].
    pub fn begin_records(&mut self, name: &str) -> Result<(), CanError> {
        self.usable()?;
        self.no_open_records()?;
        self.check_name(name)?;
        let spool_path = self.path.with_file_name(format!(
            "{}.spool",
            self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        ));
        self.records = Some(OpenRecords {
            name: name.into(),
            spool: Spool::new(&spool_path, self.spool_limit),
            size: 0,
            count: 0,
        });
        Ok(())
    }

    /// Adds one record (a line without `\n`; one trailing `\n` is accepted and dropped) to
    /// the open records member; returns its number in the member, from 0.
    pub fn add_record(&mut self, line: &[u8]) -> Result<u64, CanError> {
        self.usable()?;
        let path = self.path.clone();
        let Some(open) = self.records.as_mut() else {
            return Err(CanError::invalid(&path, "add_record without begin_records"));
        };
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        if line.contains(&b'\n') {
            return Err(CanError::invalid(
                &path,
                format!(
                    "record {} of member {:?} contains a newline; a record is one line",
                    open.count, open.name
                ),
            ));
        }
        if let Err(e) = open.spool.push(Tag::Record, line) {
            return self.poison(Err(CanError::io(&path, e)));
        }
        open.size += line.len() as u64 + 1;
        open.count += 1;
        Ok(open.count - 1)
    }

    /// Adds a line of the caller's own type to the index, at this point of the stream:
    /// with the unit just added (inside its frame's `frame` … `/frame`), or between frames
    /// when none is open. A JSON object with a string `type` that is not one of
    /// [`RESERVED_TYPES`].
    pub fn add_index_line(&mut self, line: Value) -> Result<(), CanError> {
        self.usable()?;
        match line.get("type").and_then(Value::as_str) {
            Some(t) if RESERVED_TYPES.contains(&t) => {
                return Err(CanError::invalid(
                    &self.path,
                    format!("index line type {t:?} is the foundation's own"),
                ))
            }
            Some(_) if line.is_object() => {}
            _ => {
                return Err(CanError::invalid(
                    &self.path,
                    "an index line is a JSON object with a string `type`",
                ))
            }
        }
        match self.records.as_mut() {
            Some(open) => {
                let bytes = serde_json::to_vec(&line)
                    .map_err(|e| CanError::invalid(&self.path, e.to_string()))?;
                if let Err(e) = open.spool.push(Tag::Line, &bytes) {
                    let e = CanError::io(&self.path, e);
                    return self.poison(Err(e));
                }
            }
            None => self.framer.attach(Line::Ready(line)),
        }
        Ok(())
    }

    /// Adds a line of the caller's own type right after the last record's line (in the same
    /// frame), with the record's figures named in `fill` set in it: e.g. the reports
    /// kind's `datum` line with `[("text_off", RecordField::TextOff), ("text_size",
    /// RecordField::Size)]`. Needs an open records member with at least one record: the
    /// figures are known only once the member is written, so the writer fills them in.
    pub fn add_record_index_line(
        &mut self,
        line: Value,
        fill: &[(&str, RecordField)],
    ) -> Result<(), CanError> {
        self.usable()?;
        check_line(&self.path, &line)?;
        let path = self.path.clone();
        let Some(open) = self.records.as_mut().filter(|o| o.count > 0) else {
            return Err(CanError::invalid(&path, "add_record_index_line needs a record before it"));
        };
        let fill: Vec<(&str, RecordField)> = fill.to_vec();
        let bytes = serde_json::to_vec(&(&line, &fill))
            .map_err(|e| CanError::invalid(&path, e.to_string()))?;
        if let Err(e) = open.spool.push(Tag::Filled, &bytes) {
            return self.poison(Err(CanError::io(&path, e)));
        }
        Ok(())
    }

    /// Ends the open records member: writes its header, its records, their index lines.
    pub fn end_records(&mut self) -> Result<MemberInfo, CanError> {
        self.usable()?;
        let Some(open) = self.records.take() else {
            return Err(CanError::invalid(&self.path, "end_records without begin_records"));
        };
        let r = self.write_records(open);
        self.poison(r)
    }

    fn write_records(&mut self, open: OpenRecords) -> Result<MemberInfo, CanError> {
        let path = self.path.clone();
        let io_err = |e| CanError::io(&path, e);
        let header = member_header(&open.name, open.size, self.mtime);
        let f = &mut self.framer;
        f.begin_piece(header.len() as u64)?;
        f.write(&header)?;
        f.end_piece(header.len() as u64);
        let data_off = f.text_off();
        let mut member_intra = None;
        let mut ck = Checksums::default();
        let mut member_off = 0u64;
        let mut replay = open.spool.replay().map_err(io_err)?;
        while let Some((tag, len)) = replay.next().map_err(io_err)? {
            match tag {
                Tag::Line | Tag::Filled => {
                    let mut bytes = Vec::new();
                    replay.body().take(len).read_to_end(&mut bytes).map_err(io_err)?;
                    // The spool holds what add_*index_line serialized; reparsing cannot
                    // fail unless the spool file was damaged underneath us.
                    let damaged = |e: serde_json::Error| {
                        CanError::invalid(&path, format!("spool damaged: {e}"))
                    };
                    let line = if tag == Tag::Line {
                        Line::Ready(serde_json::from_slice(&bytes).map_err(damaged)?)
                    } else {
                        let (v, fill): (Value, Vec<(String, RecordField)>) =
                            serde_json::from_slice(&bytes).map_err(damaged)?;
                        Line::Filled(v, fill)
                    };
                    f.attach(line);
                }
                Tag::Record => {
                    let piece = len + 1;
                    f.begin_piece(piece)?;
                    if member_intra.is_none() {
                        let seq = f.mark_anchor();
                        member_intra = Some((seq, data_off - f.frame_text_off()));
                    }
                    let text_off = f.text_off();
                    let intra_off = text_off - f.frame_text_off();
                    let mut crc = crc32fast::Hasher::new();
                    let got = f
                        .copy_from(replay.body(), len, &mut |b| {
                            ck.update(b);
                            crc.update(b);
                        })
                        .map_err(|e| match e {
                            CopyError::Read(e) => CanError::io(&path, e),
                            CopyError::Sink(e) => e,
                        })?;
                    if got < len {
                        return Err(CanError::invalid(
                            &path,
                            "spool damaged: a record is truncated",
                        ));
                    }
                    f.write(b"\n")?;
                    ck.update(b"\n");
                    f.end_piece(piece);
                    f.attach(Line::Record(RecordDraft {
                        member: open.name.clone(),
                        member_off,
                        size: len,
                        crc32: crc.finalize(),
                        text_off,
                        intra_off,
                    }));
                    member_off += piece;
                }
            }
        }
        let (anchor, intra_off) = match member_intra {
            Some(first) => first,
            None => {
                // No records: the member's empty data sit at the end of its header's frame.
                let seq = f.mark_anchor();
                (seq, data_off - f.frame_text_off())
            }
        };
        let sums = ck.finish();
        if sums.size != open.size {
            return Err(CanError::invalid(
                &path,
                "spool damaged: records differ from what was added",
            ));
        }
        f.attach(Line::Member(MemberDraft {
            name: open.name.to_string(),
            size: open.size,
            sha1: sums.sha1.clone(),
            crc32: sums.crc32,
            mtime: self.mtime,
            text_off: data_off,
            records: Some(open.count),
            intra_off,
            anchor: Some(anchor),
        }));
        let pad = pad_len(open.size);
        if pad > 0 {
            f.begin_piece(pad)?;
            f.write(&ZEROS[..pad as usize])?;
            f.end_piece(pad);
        }
        Ok(MemberInfo {
            name: open.name.to_string(),
            size: open.size,
            sha1: sums.sha1,
            crc32: sums.crc32,
            text_off: data_off,
            records: Some(open.count),
        })
    }

    /// Ends the tar stream, writes the index's last lines and publishes index then can.
    pub fn finish(mut self) -> Result<CanSummary, CanError> {
        self.usable()?;
        self.no_open_records()?;
        let f = &mut self.framer;
        f.begin_piece(END.len() as u64)?;
        f.write(&END)?;
        f.end_piece(END.len() as u64);
        let Writer { path, index_path, framer, .. } = self;
        let done = framer.finish()?.finish()?;
        done.index.commit(true).map_err(|e| CanError::io(&index_path, e))?;
        done.can.commit(true).map_err(|e| CanError::io(&path, e))?;
        Ok(CanSummary {
            path,
            index_path,
            file_size: done.summary.file_size,
            file_sha1: done.summary.file_sha1,
            file_crc32: done.summary.file_crc32,
            text_size: done.summary.text_size,
            frames: done.counts.frames,
            members: done.counts.members,
            records: done.counts.records,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn options_are_checked() {
        let d = dir();
        let p = d.path().join("a.tar.lz4");
        for target in [0, MIN_FRAME_TARGET - 1, MAX_FRAME_TARGET + 1] {
            let e = Writer::create(
                &p,
                WriterOptions { frame_target: target, ..WriterOptions::default() },
            )
            .err()
            .unwrap();
            assert!(e.to_string().contains("frame target"), "{e}");
        }
        let e = Writer::create(&d.path().join("no/such/dir/a.tar.lz4"), WriterOptions::default())
            .err()
            .unwrap();
        assert_eq!(vantage_core::HasExit::exit(&e), vantage_core::Exit::Usage, "{e}");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }

    #[test]
    fn member_info_has_the_datas_checksums() {
        let d = dir();
        let mut w = Writer::create(&d.path().join("a.tar.lz4"), WriterOptions::default()).unwrap();
        let info = w.add_bytes("x/y.json", b"{\"a\":1}").unwrap();
        assert_eq!(info.sha1, vantage_core::hash::sha1_hex(b"{\"a\":1}"));
        assert_eq!(info.crc32, vantage_core::hash::crc32(b"{\"a\":1}"));
        assert_eq!((info.size, info.text_off, info.records), (7, 512, None));
        let second = w.add_member("z", 3, &b"abcdef"[..]).unwrap(); // reads exactly 3 bytes
        assert_eq!((second.size, second.text_off), (3, 512 + 512 + 512));
        let s = w.finish().unwrap();
        assert_eq!(s.members, 2);
        assert_eq!(s.text_size, 512 * 4 + 1024);
    }

    #[test]
    fn a_short_input_poisons_the_writer_and_leaves_nothing() {
        let d = dir();
        let p = d.path().join("a.tar.lz4");
        let mut w = Writer::create(&p, WriterOptions::default()).unwrap();
        let e = w.add_member("short", 100, &b"only ten b"[..]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "short: ended after 10 of the 100 bytes announced; can it again once it stops changing"
        );
        let e = w.add_bytes("next", b"").unwrap_err();
        assert!(e.to_string().contains("unusable after an earlier error"), "{e}");
        assert!(w.finish().is_err());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0, "temporaries left");
    }

    #[test]
    fn bad_names_are_refused_without_poisoning() {
        let d = dir();
        let mut w = Writer::create(&d.path().join("a.tar.lz4"), WriterOptions::default()).unwrap();
        for bad in ["", "/etc/passwd", "a/../b", "a//b"] {
            assert!(w.add_bytes(bad, b"x").is_err(), "{bad:?}");
            assert!(w.begin_records(bad).is_err(), "{bad:?}");
        }
        w.add_bytes("fine", b"x").unwrap();
        w.finish().unwrap();
    }

    #[test]
    fn filename_and_mtime_options_reach_index_and_headers() {
        let d = dir();
        let p = d.path().join("a.tar.lz4");
        let opts = WriterOptions {
            mtime: 1_704_067_200,
            filename: Some("2024-01-01/a.tar.lz4".into()),
            ..WriterOptions::default()
        };
        let mut w = Writer::create(&p, opts).unwrap();
        w.add_bytes("m", b"1").unwrap();
        w.finish().unwrap();
        let idx = crate::index::Index::load(&index_path(&p)).unwrap();
        assert_eq!(idx.head().filename, "2024-01-01/a.tar.lz4");
        assert_eq!(idx.member("m").unwrap().mtime, 1_704_067_200);
        crate::verify::verify(&p).unwrap();
    }
}
