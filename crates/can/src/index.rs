//! The index beside every can: `FILE.tar.lz4.index.jsonl`, one JSON object per line, each
//! with a `type`.
//!
//! Layout, in file order (keys sorted in every line):
//!
//! ```text
//! {"can_format":1,"filename":"a.tar.lz4","type":"file"}             first line
//! {"file_crc32":..,"file_off":0,"file_size":..,"text_off":0,"text_size":..,"type":"frame"}
//!   {"crc32":..,"frame_off":..,"frame_size":..,"intra_off":..,"intra_size":..,"mtime":0,
//!    "name":"x.json","sha1":"..","size":..,"text_off":..,"type":"member"}
//!   {"crc32":..,"frame_off":..,"frame_size":..,"intra_off":..,"intra_size":..,
//!    "member":"m.jsonl","member_off":..,"size":..,"text_off":..,"type":"record"}
//!   ...lines the kinds add (`datum`, `report`, ...)
//! {"type":"/frame"}
//! ...
//! {"file_crc32":..,"file_sha1":"..","file_size":..,"text_size":..,"type":"/file"}
//! {"crc32":..,"lines":N,"type":"/index"}                              last line
//! ```
//!
//! - `file` … `/file` and `frame` … `/frame` are OONI's index events: the lines between a
//!   `frame` and its `/frame` are those of units whose last byte lies in that frame.
//! - `file_*` fields are about compressed bytes in the can file, `text_*` about the
//!   decompressed tar stream (absolute offsets), `intra_*` about the decompressed content of
//!   the frame run a unit is read from. A [`Locator`] (`frame_off`, `frame_size`,
//!   `intra_off`, `intra_size`) is everything a reader needs: read `frame_size` bytes at
//!   `frame_off` (one seek), decode them (one frame, or for a records member a run of
//!   consecutive frames), take `[intra_off, intra_off + intra_size)`.
//! - A member's `size`, `sha1` and `crc32` are of its data; a records member also has
//!   `records`, the number of its `record` lines, which precede it. A record's `size`
//!   excludes the `\n` that ends it in the member; its `crc32` is of the same bytes.
//! - `/index` closes the file: `crc32` of every byte before it and the count of lines
//!   before it, so that a truncated or altered index is caught before it is trusted
//!   (STYLE.md §7). `can_format` is the major version; readers refuse another one. Readers
//!   skip line types they do not know and fields they do not know, so kinds extend the
//!   index with their own types and newer writers add fields without a new major.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use vantage_core::Place;

use crate::error::CanError;

/// Appended to a can's file name to name its index: `a.tar.lz4` → `a.tar.lz4.index.jsonl`.
///
/// Beside the can, one suffix longer, so that `ls` sorts the pair together and globbing
/// `*.tar.lz4` finds cans without their indexes.
pub const INDEX_SUFFIX: &str = ".index.jsonl";

/// The can format major this build writes and reads; bumped on incompatible change only.
pub const CAN_FORMAT: u64 = 1;

/// Line types the foundation writes; kinds may not add lines of these types.
pub const RESERVED_TYPES: [&str; 7] =
    ["file", "frame", "/frame", "member", "record", "/file", "/index"];

/// The longest index line read; longer ones are refused rather than buffered.
const MAX_LINE: u64 = 16 << 20;

/// The index path of a can.
pub fn index_path(can: &Path) -> PathBuf {
    let mut name = can.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(INDEX_SUFFIX);
    can.with_file_name(name)
}

/// Where a unit's bytes are in a can.
///
/// Read `frame_size` bytes at `frame_off`, decode them (whole frames), and take
/// `intra_size` bytes at `intra_off` of the decoded content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Locator {
    /// Offset in the can file of the first frame.
    pub frame_off: u64,
    /// Compressed bytes of the frame run, from `frame_off`.
    pub frame_size: u64,
    /// Offset of the unit in the decoded run.
    pub intra_off: u64,
    /// Bytes of the unit.
    pub intra_size: u64,
}

/// A figure of a record's index line, copied into a line a kind adds right after it
/// ([`crate::Writer::add_record_index_line`]): a kind's own line (the reports kind's
/// `datum`) can then carry the record's place without waiting for the can to be finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordField {
    /// Offset of the record in its member.
    MemberOff,
    /// Bytes of the record, without its `\n`.
    Size,
    /// crc32 of the record.
    Crc32,
    /// Offset of the record in the tar stream.
    TextOff,
    /// The locator's `frame_off`.
    FrameOff,
    /// The locator's `frame_size`.
    FrameSize,
    /// The locator's `intra_off`.
    IntraOff,
    /// The locator's `intra_size`.
    IntraSize,
}

impl RecordEntry {
    /// The value of one of the record's figures.
    pub fn field(&self, f: RecordField) -> u64 {
        match f {
            RecordField::MemberOff => self.member_off,
            RecordField::Size => self.size,
            RecordField::Crc32 => u64::from(self.crc32),
            RecordField::TextOff => self.text_off,
            RecordField::FrameOff => self.locator.frame_off,
            RecordField::FrameSize => self.locator.frame_size,
            RecordField::IntraOff => self.locator.intra_off,
            RecordField::IntraSize => self.locator.intra_size,
        }
    }
}

/// The first line: which can this index describes, in which format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHead {
    /// The can's name as its writer gave it (by default the file name).
    pub filename: String,
    /// The format major ([`CAN_FORMAT`]).
    pub can_format: u64,
}

/// A `frame` line: one LZ4 frame of the can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameEntry {
    /// Offset of the frame in the can file.
    pub file_off: u64,
    /// Compressed size of the frame.
    pub file_size: u64,
    /// crc32 of the frame's compressed bytes: what pins a damaged byte to its frame.
    pub file_crc32: u32,
    /// Offset of the frame's content in the tar stream.
    pub text_off: u64,
    /// Decompressed size of the frame.
    pub text_size: u64,
    /// The index line (1-based).
    pub line: u64,
}

/// A `member` line: one file of the tar stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberEntry {
    /// The member's name in the tar stream.
    pub name: String,
    /// Bytes of data.
    pub size: u64,
    /// Hex sha1 of the data.
    pub sha1: String,
    /// crc32 (IEEE) of the data.
    pub crc32: u32,
    /// The mtime in its tar header.
    pub mtime: u64,
    /// Offset of its data in the tar stream.
    pub text_off: u64,
    /// For a member written in record units: how many `record` lines it has.
    pub records: Option<u64>,
    /// Where its data are.
    pub locator: Locator,
    /// The index line (1-based).
    pub line: u64,
}

/// A `record` line: one JSON line of a member written in record units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordEntry {
    /// The member holding it.
    pub member: String,
    /// Offset of the record in the member's data.
    pub member_off: u64,
    /// Bytes of the record, without its `\n`.
    pub size: u64,
    /// crc32 of those bytes.
    pub crc32: u32,
    /// Offset of the record in the tar stream.
    pub text_off: u64,
    /// Where its bytes are.
    pub locator: Locator,
    /// The index line (1-based).
    pub line: u64,
}

/// The `/file` line, shaped like OONI's `/file` event: what the whole can file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    /// Bytes of the can file.
    pub file_size: u64,
    /// Hex sha1 of the can file.
    pub file_sha1: String,
    /// crc32 of the can file.
    pub file_crc32: u32,
    /// Bytes of the decompressed tar stream.
    pub text_size: u64,
    /// The index line (1-based).
    pub line: u64,
}

impl FrameEntry {
    /// The frame's index line.
    pub(crate) fn to_json(&self) -> Value {
        json!({"type": "frame", "file_off": self.file_off, "file_size": self.file_size,
               "file_crc32": self.file_crc32, "text_off": self.text_off, "text_size": self.text_size})
    }

    /// Offset just past the frame in the can file.
    pub fn file_end(&self) -> u64 {
        // Saturating: the figures come from a file and may be anything.
        self.file_off.saturating_add(self.file_size)
    }

    /// Offset just past the frame's content in the tar stream.
    pub fn text_end(&self) -> u64 {
        self.text_off.saturating_add(self.text_size)
    }
}

impl MemberEntry {
    /// The member's index line.
    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({"type": "member", "name": self.name, "size": self.size,
            "sha1": self.sha1, "crc32": self.crc32, "mtime": self.mtime, "text_off": self.text_off});
        put_locator(&mut v, &self.locator);
        if let (Some(n), Value::Object(m)) = (self.records, &mut v) {
            m.insert("records".into(), n.into());
        }
        v
    }
}

impl RecordEntry {
    /// The record's index line.
    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({"type": "record", "member": self.member, "member_off": self.member_off,
            "size": self.size, "crc32": self.crc32, "text_off": self.text_off});
        put_locator(&mut v, &self.locator);
        v
    }
}

impl FileSummary {
    /// The `/file` line.
    pub(crate) fn to_json(&self) -> Value {
        json!({"type": "/file", "file_size": self.file_size, "file_sha1": self.file_sha1,
               "file_crc32": self.file_crc32, "text_size": self.text_size})
    }
}

impl FileHead {
    /// The `file` line.
    pub(crate) fn to_json(&self) -> Value {
        json!({"type": "file", "filename": self.filename, "can_format": self.can_format})
    }
}

fn put_locator(v: &mut Value, l: &Locator) {
    if let Value::Object(m) = v {
        m.insert("frame_off".into(), l.frame_off.into());
        m.insert("frame_size".into(), l.frame_size.into());
        m.insert("intra_off".into(), l.intra_off.into());
        m.insert("intra_size".into(), l.intra_size.into());
    }
}

/// Serializes a JSON value with the keys of every object sorted, whatever map type
/// serde_json was built with, so that the same can gives the same index bytes.
struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(m) => {
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, &Sorted(v))?;
                }
                map.end()
            }
            Value::Array(a) => s.collect_seq(a.iter().map(Sorted)),
            other => other.serialize(s),
        }
    }
}

/// Writes index lines, keeping the crc32 and count the `/index` trailer records.
pub(crate) struct IndexOut<W: Write> {
    w: W,
    crc: crc32fast::Hasher,
    lines: u64,
    buf: Vec<u8>,
}

impl<W: Write> IndexOut<W> {
    /// Index lines onto `w`.
    pub fn new(w: W) -> IndexOut<W> {
        IndexOut { w, crc: crc32fast::Hasher::new(), lines: 0, buf: Vec::with_capacity(512) }
    }

    /// Writes one line.
    pub fn line(&mut self, v: &Value) -> io::Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, &Sorted(v))?;
        self.buf.push(b'\n');
        self.crc.update(&self.buf);
        self.lines += 1;
        self.w.write_all(&self.buf)
    }

    /// Writes the `/index` trailer and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        let trailer =
            json!({"type": "/index", "crc32": self.crc.clone().finalize(), "lines": self.lines});
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, &Sorted(&trailer))?;
        self.buf.push(b'\n');
        self.w.write_all(&self.buf)?;
        Ok(self.w)
    }
}

/// One index line as read, with the foundation's types parsed and every other type kept
/// aside. Field names are the on-disk ones.
#[derive(Deserialize)]
#[serde(tag = "type")]
enum RawLine {
    #[serde(rename = "file")]
    File { filename: String, can_format: u64 },
    #[serde(rename = "frame")]
    Frame { file_off: u64, file_size: u64, file_crc32: u32, text_off: u64, text_size: u64 },
    #[serde(rename = "/frame")]
    EndFrame,
    #[serde(rename = "member")]
    Member {
        name: String,
        size: u64,
        sha1: String,
        crc32: u32,
        mtime: u64,
        text_off: u64,
        records: Option<u64>,
        #[serde(flatten)]
        locator: Locator,
    },
    #[serde(rename = "record")]
    Record {
        member: String,
        member_off: u64,
        size: u64,
        crc32: u32,
        text_off: u64,
        #[serde(flatten)]
        locator: Locator,
    },
    #[serde(rename = "/file")]
    EndFile { file_size: u64, file_sha1: String, file_crc32: u32, text_size: u64 },
    #[serde(rename = "/index")]
    EndIndex { crc32: u32, lines: u64 },
    #[serde(other)]
    Other,
}

/// Reads index lines one by one: the line number (1-based), the raw bytes and the
/// parsed value. Shared by [`Index::load`] and [`IndexLines`].
struct LineReader {
    path: PathBuf,
    r: BufReader<File>,
    line: u64,
    buf: Vec<u8>,
}

impl LineReader {
    fn open(path: &Path) -> Result<LineReader, CanError> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(CanError::IndexMissing { path: path.to_path_buf() })
            }
            Err(e) => return Err(CanError::io(path, e)),
        };
        Ok(LineReader {
            path: path.into(),
            r: BufReader::with_capacity(1 << 16, file),
            line: 0,
            buf: Vec::new(),
        })
    }

    fn bad(&self, line: u64, why: impl Into<String>) -> CanError {
        CanError::BadIndex { place: Place::at_line(&self.path, line), why: why.into() }
    }

    /// Reads the next line (with its `\n`) into `buf`; `false` at the end.
    fn next_line(&mut self) -> Result<bool, CanError> {
        self.buf.clear();
        let n = (&mut self.r)
            .take(MAX_LINE)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| CanError::io(&self.path, e))?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.buf.last() != Some(&b'\n') {
            let why = if n as u64 >= MAX_LINE {
                format!("line longer than {MAX_LINE} bytes")
            } else {
                "last line has no newline: the index is truncated".to_string()
            };
            return Err(self.bad(self.line, why));
        }
        Ok(true)
    }
}

/// Every line of an index as JSON, in file order, for kinds that read their own line
/// types (see also [`lines_of_type`]). Does not check the `/index` trailer; open the index
/// with [`Index::load`] for that.
pub struct IndexLines {
    inner: LineReader,
}

impl Iterator for IndexLines {
    type Item = Result<(u64, Value), CanError>;

    fn next(&mut self) -> Option<Self::Item> {
        let parsed = match self.inner.next_line() {
            Ok(false) => return None,
            Ok(true) => serde_json::from_slice::<Value>(&self.inner.buf),
            Err(e) => return Some(Err(e)),
        };
        let line = self.inner.line;
        Some(match parsed {
            Ok(v) if v.get("type").and_then(Value::as_str).is_some() => Ok((line, v)),
            Ok(_) => Err(self.inner.bad(line, "line has no string `type`")),
            Err(e) => Err(self.inner.bad(line, format!("not JSON: {e}"))),
        })
    }
}

/// Opens an index for reading line by line.
pub fn lines(index: &Path) -> Result<IndexLines, CanError> {
    Ok(IndexLines { inner: LineReader::open(index)? })
}

/// Every line of type `ty` in an index, in file order, with its line number.
pub fn lines_of_type(index: &Path, ty: &str) -> Result<Vec<(u64, Value)>, CanError> {
    let mut out = Vec::new();
    for item in lines(index)? {
        let (line, v) = item?;
        if v.get("type").and_then(Value::as_str) == Some(ty) {
            out.push((line, v));
        }
    }
    Ok(out)
}

/// A can's index, loaded and checked: its own checksum, line order, frames that tile the
/// file, members and records that refer to each other.
#[derive(Debug, Clone)]
pub struct Index {
    path: PathBuf,
    head: FileHead,
    frames: Vec<FrameEntry>,
    members: Vec<MemberEntry>,
    records: Vec<RecordEntry>,
    /// For each member, the range of `records` that are its records.
    record_ranges: Vec<Range<usize>>,
    by_name: HashMap<String, usize>,
    summary: FileSummary,
}

impl Index {
    /// Loads and checks the index at `path`.
    ///
    /// A missing index is [`CanError::IndexMissing`]; any line that cannot be used, and an
    /// index whose `/index` trailer does not match its bytes, is [`CanError::BadIndex`]
    /// naming the line.
    pub fn load(path: &Path) -> Result<Index, CanError> {
        let mut r = LineReader::open(path)?;
        let mut crc = crc32fast::Hasher::new();
        let mut head: Option<FileHead> = None;
        let mut frames: Vec<FrameEntry> = Vec::new();
        let mut members: Vec<MemberEntry> = Vec::new();
        let mut records: Vec<RecordEntry> = Vec::new();
        let mut summary: Option<FileSummary> = None;
        let mut trailer_seen = false;
        let mut open_frame = false;
        loop {
            if !r.next_line()? {
                break;
            }
            let line = r.line;
            let bytes = &r.buf;
            if trailer_seen {
                return Err(r.bad(line, "line after the /index line"));
            }
            let raw: RawLine = match serde_json::from_slice(bytes) {
                Ok(raw) => raw,
                Err(e) => return Err(r.bad(line, format!("not a valid index line: {e}"))),
            };
            if let RawLine::EndIndex { crc32, lines } = raw {
                let actual = crc.clone().finalize();
                if lines != line - 1 {
                    return Err(r.bad(
                        line,
                        format!("/index counts {lines} lines before it, there are {}", line - 1),
                    ));
                }
                if crc32 != actual {
                    return Err(r.bad(
                        line,
                        format!("index checksum mismatch: crc32 {actual:08x}, /index says {crc32:08x}: the index was altered or damaged"),
                    ));
                }
                trailer_seen = true;
                continue;
            }
            crc.update(bytes);
            if line == 1 {
                let RawLine::File { filename, can_format } = raw else {
                    return Err(r.bad(line, "first line is not a `file` line: not a can index"));
                };
                if can_format != CAN_FORMAT {
                    return Err(CanError::Unsupported {
                        place: Place::at_line(path, line),
                        found: can_format,
                        supported: CAN_FORMAT,
                    });
                }
                head = Some(FileHead { filename, can_format });
                continue;
            }
            if summary.is_some() {
                return Err(r.bad(line, "line after the /file line"));
            }
            match raw {
                RawLine::File { .. } => return Err(r.bad(line, "second `file` line")),
                RawLine::Frame { file_off, file_size, file_crc32, text_off, text_size } => {
                    if open_frame {
                        return Err(r.bad(line, "frame line before the previous frame's /frame"));
                    }
                    let (want_file, want_text) =
                        frames.last().map_or((0, 0), |f| (f.file_end(), f.text_end()));
                    if file_off != want_file || text_off != want_text {
                        return Err(r.bad(line, format!(
                            "frame at file offset {file_off}, text offset {text_off}: frames must follow each other (expected {want_file}, {want_text})"
                        )));
                    }
                    if file_size == 0 || text_size == 0 {
                        return Err(r.bad(line, "empty frame"));
                    }
                    frames.push(FrameEntry {
                        file_off,
                        file_size,
                        file_crc32,
                        text_off,
                        text_size,
                        line,
                    });
                    open_frame = true;
                }
                RawLine::EndFrame => {
                    if !open_frame {
                        return Err(r.bad(line, "/frame without a frame"));
                    }
                    open_frame = false;
                }
                RawLine::Member {
                    name,
                    size,
                    sha1,
                    crc32,
                    mtime,
                    text_off,
                    records: n,
                    locator,
                } => {
                    if let Some(prev) = members.last() {
                        if text_off < prev.text_off.saturating_add(prev.size) {
                            return Err(r.bad(
                                line,
                                format!("member {name:?} overlaps member {:?}", prev.name),
                            ));
                        }
                    }
                    members.push(MemberEntry {
                        name,
                        size,
                        sha1,
                        crc32,
                        mtime,
                        text_off,
                        records: n,
                        locator,
                        line,
                    });
                }
                RawLine::Record { member, member_off, size, crc32, text_off, locator } => {
                    records.push(RecordEntry {
                        member,
                        member_off,
                        size,
                        crc32,
                        text_off,
                        locator,
                        line,
                    });
                }
                RawLine::EndFile { file_size, file_sha1, file_crc32, text_size } => {
                    if open_frame {
                        return Err(r.bad(line, "/file before the last frame's /frame"));
                    }
                    let (file_end, text_end) =
                        frames.last().map_or((0, 0), |f| (f.file_end(), f.text_end()));
                    if file_size != file_end || text_size != text_end {
                        return Err(r.bad(line, format!(
                            "/file says {file_size} file bytes and {text_size} text bytes, the frames hold {file_end} and {text_end}"
                        )));
                    }
                    summary =
                        Some(FileSummary { file_size, file_sha1, file_crc32, text_size, line });
                }
                RawLine::EndIndex { .. } | RawLine::Other => {}
            }
        }
        let end = r.line + 1;
        let (Some(head), Some(summary)) = (head, summary) else {
            return Err(r.bad(end, "no /file line: the index is truncated"));
        };
        if !trailer_seen {
            return Err(r.bad(end, "no /index line: the index is truncated"));
        }
        let mut by_name = HashMap::with_capacity(members.len());
        for (i, m) in members.iter().enumerate() {
            if let Some(first) = by_name.insert(m.name.clone(), i) {
                return Err(r.bad(
                    m.line,
                    format!("member {:?} is also on line {}", m.name, members[first].line),
                ));
            }
        }
        let record_ranges = group_records(&r, &members, &by_name, &records)?;
        Ok(Index {
            path: path.into(),
            head,
            frames,
            members,
            records,
            record_ranges,
            by_name,
            summary,
        })
    }

    /// The index file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `file` line.
    pub fn head(&self) -> &FileHead {
        &self.head
    }

    /// The frames, in file order.
    pub fn frames(&self) -> &[FrameEntry] {
        &self.frames
    }

    /// The members, in tar order.
    pub fn members(&self) -> &[MemberEntry] {
        &self.members
    }

    /// The member named `name`.
    pub fn member(&self, name: &str) -> Option<&MemberEntry> {
        self.by_name.get(name).map(|&i| &self.members[i])
    }

    /// Every record of every records member, in tar order.
    pub fn records(&self) -> &[RecordEntry] {
        &self.records
    }

    /// The records of the member named `name` (empty for a raw member).
    pub fn records_of(&self, name: &str) -> &[RecordEntry] {
        match self.by_name.get(name) {
            Some(&i) => &self.records[self.record_ranges[i].clone()],
            None => &[],
        }
    }

    /// The `/file` line.
    pub fn summary(&self) -> &FileSummary {
        &self.summary
    }

    /// The frame holding tar-stream byte `text`.
    pub fn frame_at(&self, text: u64) -> Option<&FrameEntry> {
        let i = self.frames.partition_point(|f| f.text_off <= text).checked_sub(1)?;
        self.frames.get(i).filter(|f| text < f.text_end())
    }

    /// Where `len` bytes at tar-stream offset `text` are, by the writer's rule: from the
    /// frame holding the first byte to the frame holding the last; an empty range belongs
    /// to the frame holding the byte before it (the end of its header).
    pub fn locate(&self, text: u64, len: u64) -> Option<Locator> {
        let (first, last) = if len == 0 {
            let f = self.frame_at(text.checked_sub(1)?)?;
            (f, f)
        } else {
            (self.frame_at(text)?, self.frame_at(text.checked_add(len - 1)?)?)
        };
        Some(Locator {
            frame_off: first.file_off,
            frame_size: last.file_end() - first.file_off,
            intra_off: text - first.text_off,
            intra_size: len,
        })
    }
}

/// Checks that each records member's records are the `records` lines just before it,
/// and returns, per member, the range of its records.
fn group_records(
    r: &LineReader,
    members: &[MemberEntry],
    by_name: &HashMap<String, usize>,
    records: &[RecordEntry],
) -> Result<Vec<Range<usize>>, CanError> {
    let mut ranges = vec![0..0; members.len()];
    let mut i = 0;
    while i < records.len() {
        let rec = &records[i];
        let Some(&m) = by_name.get(&rec.member) else {
            return Err(r.bad(
                rec.line,
                format!("record of member {:?}, which has no member line", rec.member),
            ));
        };
        let start = i;
        while i < records.len() && records[i].member == rec.member {
            i += 1;
        }
        let member = &members[m];
        let n = (i - start) as u64;
        if member.records != Some(n) || !ranges[m].is_empty() {
            return Err(r.bad(
                member.line,
                format!(
                    "member {:?} says {:?} records, the index has {n} in a row",
                    member.name, member.records
                ),
            ));
        }
        ranges[m] = start..i;
    }
    for (m, member) in members.iter().enumerate() {
        if member.records.is_some_and(|n| n > 0) && ranges[m].is_empty() {
            return Err(r.bad(member.line, format!("member {:?} has no record lines", member.name)));
        }
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_index(lines: &[Value]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar.lz4.index.jsonl");
        let mut out = IndexOut::new(Vec::new());
        for l in lines {
            out.line(l).unwrap();
        }
        std::fs::write(&path, out.finish().unwrap()).unwrap();
        (dir, path)
    }

    fn good() -> Vec<Value> {
        let loc = Locator { frame_off: 0, frame_size: 100, intra_off: 512, intra_size: 3 };
        vec![
            FileHead { filename: "a.tar.lz4".into(), can_format: 1 }.to_json(),
            FrameEntry {
                file_off: 0,
                file_size: 100,
                file_crc32: 7,
                text_off: 0,
                text_size: 2048,
                line: 0,
            }
            .to_json(),
            MemberEntry {
                name: "x".into(),
                size: 3,
                sha1: "s".into(),
                crc32: 1,
                mtime: 0,
                text_off: 512,
                records: None,
                locator: loc,
                line: 0,
            }
            .to_json(),
            json!({"type": "datum", "anything": [1, 2]}),
            json!({"type": "/frame"}),
            FileSummary {
                file_size: 100,
                file_sha1: "f".into(),
                file_crc32: 9,
                text_size: 2048,
                line: 0,
            }
            .to_json(),
        ]
    }

    #[test]
    fn index_path_appends_the_suffix() {
        assert_eq!(index_path(Path::new("/d/a.tar.lz4")), Path::new("/d/a.tar.lz4.index.jsonl"));
    }

    #[test]
    fn lines_have_sorted_keys() {
        let mut out = IndexOut::new(Vec::new());
        out.line(&json!({"z": 1, "type": "x", "a": {"y": 1, "b": 2}})).unwrap();
        let text = String::from_utf8(out.finish().unwrap()).unwrap();
        let first = text.lines().next().unwrap();
        assert_eq!(first, r#"{"a":{"b":2,"y":1},"type":"x","z":1}"#);
        assert!(text.lines().nth(1).unwrap().contains(r#""type":"/index""#));
    }

    #[test]
    fn loads_known_lines_and_skips_others() {
        let (_d, path) = write_index(&good());
        let idx = Index::load(&path).unwrap();
        assert_eq!(idx.head().filename, "a.tar.lz4");
        assert_eq!(idx.frames().len(), 1);
        assert_eq!(idx.member("x").unwrap().locator.intra_off, 512);
        assert_eq!(idx.member("x").unwrap().line, 3);
        assert_eq!(idx.summary().text_size, 2048);
        let datums = lines_of_type(&path, "datum").unwrap();
        assert_eq!(datums, vec![(4, json!({"type": "datum", "anything": [1, 2]}))]);
        assert_eq!(lines(&path).unwrap().count(), 7);
    }

    #[test]
    fn locate_follows_the_writers_rule() {
        let mut lines = good();
        lines.insert(
            5,
            FrameEntry {
                file_off: 100,
                file_size: 50,
                file_crc32: 0,
                text_off: 2048,
                text_size: 1000,
                line: 0,
            }
            .to_json(),
        );
        lines.insert(6, json!({"type": "/frame"}));
        lines[6 + 1] = FileSummary {
            file_size: 150,
            file_sha1: "f".into(),
            file_crc32: 9,
            text_size: 3048,
            line: 0,
        }
        .to_json();
        let (_d, path) = write_index(&lines);
        let idx = Index::load(&path).unwrap();
        let l = idx.locate(2000, 100).unwrap();
        assert_eq!(l, Locator { frame_off: 0, frame_size: 150, intra_off: 2000, intra_size: 100 });
        assert_eq!(idx.locate(2048, 0).unwrap().frame_off, 0); // empty: the frame before
        assert_eq!(
            idx.locate(2049, 1).unwrap(),
            Locator { frame_off: 100, frame_size: 50, intra_off: 1, intra_size: 1 }
        );
        assert!(idx.locate(3048, 1).is_none());
        assert!(idx.locate(0, 0).is_none());
    }

    #[test]
    fn damage_names_the_line() {
        let (_d, path) = write_index(&good());
        let text = std::fs::read_to_string(&path).unwrap();
        let cases: Vec<(String, &str)> = vec![
            (
                text.replacen("\"sha1\":\"s\"", "\"sha1\":\"t\"", 1),
                "line 7: bad index: index checksum mismatch",
            ),
            (
                text.replacen("{\"crc32\":1,", "{\"crc32\":1", 1),
                "line 3: bad index: not a valid index line",
            ),
            (
                text.replacen("\"size\":3,", "", 1),
                "line 3: bad index: not a valid index line: missing field `size`",
            ),
            (
                text.lines().take(6).map(|l| format!("{l}\n")).collect(),
                "line 7: bad index: no /index line",
            ),
            (text[..text.len() - 1].to_string(), "line 7: bad index: last line has no newline"),
            (
                text.replacen("\"can_format\":1", "\"can_format\":2", 1),
                "line 1: can format 2 is not supported",
            ),
            (
                text.lines().skip(1).map(|l| format!("{l}\n")).collect(),
                "line 1: bad index: first line is not a `file` line",
            ),
            (String::new(), "line 1: bad index: no /file line"),
        ];
        for (bad, want) in cases {
            std::fs::write(&path, &bad).unwrap();
            let err = Index::load(&path).unwrap_err().to_string();
            assert!(err.starts_with(&path.display().to_string()), "{err}");
            assert!(err.contains(want), "{err} lacks {want}");
        }
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(Index::load(&path), Err(CanError::IndexMissing { .. })));
    }

    #[test]
    fn records_must_precede_their_member() {
        let loc = Locator { frame_off: 0, frame_size: 100, intra_off: 0, intra_size: 1 };
        let rec = |off| {
            RecordEntry {
                member: "m".into(),
                member_off: off,
                size: 1,
                crc32: 0,
                text_off: 512 + off,
                locator: loc,
                line: 0,
            }
            .to_json()
        };
        let member = |n| {
            MemberEntry {
                name: "m".into(),
                size: 4,
                sha1: "s".into(),
                crc32: 0,
                mtime: 0,
                text_off: 512,
                records: Some(n),
                locator: loc,
                line: 0,
            }
            .to_json()
        };
        let build = |body: Vec<Value>| {
            let mut l = vec![good()[0].clone(), good()[1].clone()];
            l.extend(body);
            l.push(json!({"type": "/frame"}));
            l.push(good()[5].clone());
            l
        };
        let (_d, path) = write_index(&build(vec![rec(0), rec(2), member(2)]));
        let idx = Index::load(&path).unwrap();
        assert_eq!(idx.records_of("m").len(), 2);
        assert_eq!(idx.records_of("m")[1].member_off, 2);
        assert!(idx.records_of("x").is_empty());
        let (_d, path) = write_index(&build(vec![rec(0), member(2)]));
        assert!(Index::load(&path).unwrap_err().to_string().contains("says Some(2) records"));
    }
}
