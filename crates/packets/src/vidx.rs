//! The `.vidx` index file (spec §3.5, STYLE.md §7): constants, builder, writer and reader
//! in one module so that they cannot drift apart (TM wrote its header as 20 bytes and read
//! it as 24).
//!
//! Layout, little-endian: header (magic `VNTPIDX\0`, `u16 major` = 1, `u16 minor` = 0,
//! `u32 header_len`, `u8 level`, `u8 sections`, `u16 0`, `u64 first_segid`,
//! `u64 last_segid`, `i64 first_ns`, `i64 last_ns`, `u64 packets`); the section table at
//! `header_len` (`u8 kind, u8 0, u16 key_len, u32 0, u64 count, u64 offset, u64 length`
//! each); the sections; the trailer (CRC-32C of everything before it, then `VIDX`).
//! Level 0 sections: per index kind a key table sorted bytewise (key, `u32` first
//! interval, `u32` count) and its intervals (`i64`, `i64`); the time directory (`u64`
//! offset, `u64` first ordinal, `i64` min, `i64` max per block of ≤ 1 MiB or ≤ 1 s); the
//! fragment table (`u64` ordinal, 40-byte conn4 key), sorted by ordinal. Readers check the
//! trailer first, honour `header_len` and section lengths, skip unknown section kinds (a
//! newer minor) and refuse another major.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::VidxError;
use crate::key::{IndexKind, Key};

/// File magic.
pub const MAGIC: [u8; 8] = *b"VNTPIDX\0";
/// Bumped on incompatible change.
pub const MAJOR: u16 = 1;
/// Bumped on compatible additions.
pub const MINOR: u16 = 1; // 1: per-section checksums, ip postings
/// Trailer magic.
pub const TRAILER: [u8; 4] = *b"VIDX";
const HEADER_LEN: usize = 60;
const SECTION_LEN: usize = 32;
const INTERVALS: u8 = 0x40;
const SEGIDS: u8 = 0x20;
const TIME_DIR: u8 = 0x80;
const SECTION_CRCS: u8 = 0x82;
/// Checksum granularity of lazily read sections.
const CHUNK: usize = 4096;
/// Per ip key: byte offset of its postings (`u64` per key, in key-table order).
const POSTINGS_DIR: u8 = 0x90;
/// Postings: per key a varint count, then varint deltas of record offsets.
const POSTINGS: u8 = 0xA0;
const FRAGMENTS: u8 = 0x81;
const BLOCK_BYTES: u64 = 1 << 20;
const BLOCK_NS: i64 = 1_000_000_000;

/// One block of the time directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    /// Byte offset of the block's first record in the segment.
    pub offset: u64,
    /// Ordinal of that record.
    pub ordinal: u64,
    /// Smallest timestamp in the block.
    pub min: i64,
    /// Largest.
    pub max: i64,
}

/// A segment's index while the segment is written.
#[derive(Debug)]
pub struct IndexBuilder {
    gap: i64,
    maps: HashMap<(IndexKind, Key), Vec<(i64, i64)>>,
    time_dir: Vec<TimeEntry>,
    block_start: u64,
    frags: Vec<(u64, Key)>,
    postings: HashMap<Key, Vec<u64>>,
    packets: u64,
    first_ns: i64,
    last_ns: i64,
}

impl IndexBuilder {
    /// An empty index with the interval gap `gap_ns`.
    pub fn new(gap_ns: i64) -> IndexBuilder {
        IndexBuilder {
            gap: gap_ns,
            maps: HashMap::new(),
            time_dir: Vec::new(),
            block_start: 0,
            frags: Vec::new(),
            postings: HashMap::new(),
            packets: 0,
            first_ns: i64::MAX,
            last_ns: i64::MIN,
        }
    }

    /// Packets indexed.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Records the packet at `offset` (its record's start in the segment) with time `ts`,
    /// its keys, and for a non-first fragment the conn4 key it was attributed to.
    pub fn add(&mut self, offset: u64, ts: i64, keys: &[(IndexKind, Key)], frag: Option<Key>) {
        let ordinal = self.packets;
        self.packets += 1;
        self.first_ns = self.first_ns.min(ts);
        self.last_ns = self.last_ns.max(ts);
        let new_block = match self.time_dir.last() {
            None => true,
            Some(b) => {
                offset.saturating_sub(self.block_start) >= BLOCK_BYTES
                    || b.max.max(ts).saturating_sub(b.min.min(ts)) > BLOCK_NS
            }
        };
        if new_block {
            self.block_start = offset;
            self.time_dir.push(TimeEntry { offset, ordinal, min: ts, max: ts });
        } else if let Some(b) = self.time_dir.last_mut() {
            b.min = b.min.min(ts);
            b.max = b.max.max(ts);
        }
        for (kind, key) in keys {
            if *kind == IndexKind::Ip {
                self.postings.entry(*key).or_default().push(offset);
            }
            let list = self.maps.entry((*kind, *key)).or_default();
            match list.last_mut() {
                Some(iv)
                    if ts >= iv.0.saturating_sub(self.gap)
                        && ts <= iv.1.saturating_add(self.gap) =>
                {
                    iv.0 = iv.0.min(ts);
                    iv.1 = iv.1.max(ts);
                }
                _ => list.push((ts, ts)),
            }
        }
        if let Some(k) = frag {
            self.frags.push((ordinal, k));
        }
    }

    /// The file bytes of this index as level 0 of segment `segid`.
    pub fn encode(&self, segid: u64) -> Vec<u8> {
        type Entries<'a> = Vec<(&'a Key, &'a Vec<(i64, i64)>)>;
        let mut by_kind: Vec<Entries<'_>> = vec![Vec::new(); IndexKind::ALL.len()];
        for ((kind, key), ivs) in &self.maps {
            if let Some(v) = by_kind.get_mut(usize::from(kind.code() - 1)) {
                v.push((key, ivs));
            }
        }
        let mut sections: Vec<(u8, u16, u64, Vec<u8>)> = Vec::new();
        for (i, mut entries) in by_kind.into_iter().enumerate() {
            let Some(kind) = IndexKind::ALL.get(i).copied() else { continue };
            if entries.is_empty() {
                continue;
            }
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            let mut keys = Vec::new();
            let mut ivs = Vec::new();
            let mut n_iv: u32 = 0;
            for (key, list) in &entries {
                keys.extend_from_slice(key.as_bytes());
                keys.extend_from_slice(&n_iv.to_le_bytes());
                let count = u32::try_from(list.len()).unwrap_or(u32::MAX);
                keys.extend_from_slice(&count.to_le_bytes());
                n_iv = n_iv.saturating_add(count);
                for (a, b) in list.iter() {
                    ivs.extend_from_slice(&a.to_le_bytes());
                    ivs.extend_from_slice(&b.to_le_bytes());
                }
            }
            let key_len = kind.key_len() as u16;
            sections.push((kind.code(), key_len, entries.len() as u64, keys));
            sections.push((INTERVALS | kind.code(), 16, u64::from(n_iv), ivs));
        }
        let mut td = Vec::new();
        for e in &self.time_dir {
            td.extend_from_slice(&e.offset.to_le_bytes());
            td.extend_from_slice(&e.ordinal.to_le_bytes());
            td.extend_from_slice(&e.min.to_le_bytes());
            td.extend_from_slice(&e.max.to_le_bytes());
        }
        sections.push((TIME_DIR, 32, self.time_dir.len() as u64, td));
        let mut fr = Vec::new();
        let mut frags = self.frags.clone();
        frags.sort_by_key(|f| f.0);
        for (ord, key) in &frags {
            fr.extend_from_slice(&ord.to_le_bytes());
            fr.extend_from_slice(key.as_bytes());
        }
        sections.push((FRAGMENTS, 48, frags.len() as u64, fr));
        if !self.postings.is_empty() {
            // In the ip key table's order, so that a key's index finds its postings.
            let mut keys: Vec<&Key> = self.postings.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            let mut dir = Vec::with_capacity(8 * keys.len());
            let mut blob = Vec::new();
            for k in keys {
                dir.extend_from_slice(&(blob.len() as u64).to_le_bytes());
                let list = self.postings.get(k).map(Vec::as_slice).unwrap_or_default();
                put_varint(&mut blob, list.len() as u64);
                let mut prev = 0u64;
                for off in list {
                    put_varint(&mut blob, off - prev);
                    prev = *off;
                }
            }
            let n = (dir.len() / 8) as u64;
            sections.push((POSTINGS_DIR | IndexKind::Ip.code(), 8, n, dir));
            sections.push((POSTINGS | IndexKind::Ip.code(), 1, blob.len() as u64, blob));
        }

        let (first, last) = if self.packets == 0 { (0, 0) } else { (self.first_ns, self.last_ns) };
        let header = Header {
            major: MAJOR,
            minor: MINOR,
            level: 0,
            first_segid: segid,
            last_segid: segid,
            first_ns: first,
            last_ns: last,
            packets: self.packets,
        };
        assemble(&header, &sections)
    }
}

type SectionBody = (u8, u16, u64, Vec<u8>);

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint at `*pos`; `None` past the end or on an overlong encoding.
fn get_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Header, section table, sections, a section-checksum section, trailer.
///
/// The last section (kind `0x82`) holds a CRC-32C of the header with its section table,
/// then one per 4 KiB chunk of each section in table order: a query reads and checks only
/// the chunks its binary searches touch instead of the whole file. Readers that do not know the kind skip it; the
/// trailer's whole-file CRC is there for them and for `verify`.
fn assemble(h: &Header, sections: &[SectionBody]) -> Vec<u8> {
    let n = sections.len() + 1;
    let table_end = HEADER_LEN + SECTION_LEN * n;
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&MAJOR.to_le_bytes());
    out.extend_from_slice(&MINOR.to_le_bytes());
    out.extend_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    out.push(h.level);
    out.push(u8::try_from(n).unwrap_or(u8::MAX));
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&h.first_segid.to_le_bytes());
    out.extend_from_slice(&h.last_segid.to_le_bytes());
    out.extend_from_slice(&h.first_ns.to_le_bytes());
    out.extend_from_slice(&h.last_ns.to_le_bytes());
    out.extend_from_slice(&h.packets.to_le_bytes());
    debug_assert_eq!(out.len(), HEADER_LEN);
    let mut offset = table_end as u64;
    let entry = |out: &mut Vec<u8>, kind: u8, key_len: u16, count: u64, offset: u64, len: u64| {
        out.push(kind);
        out.push(0);
        out.extend_from_slice(&key_len.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
    };
    for (kind, key_len, count, body) in sections {
        entry(&mut out, *kind, *key_len, *count, offset, body.len() as u64);
        offset += body.len() as u64;
    }
    let n_crcs = 1 + sections.iter().map(|(_, _, _, b)| b.len().div_ceil(CHUNK)).sum::<usize>();
    entry(&mut out, SECTION_CRCS, 4, n_crcs as u64, offset, 4 * n_crcs as u64);
    let mut crcs = Vec::with_capacity(4 * n_crcs);
    crcs.extend_from_slice(&crc32c::crc32c(&out).to_le_bytes());
    for (_, _, _, body) in sections {
        out.extend_from_slice(body);
        for chunk in body.chunks(CHUNK) {
            crcs.extend_from_slice(&crc32c::crc32c(chunk).to_le_bytes());
        }
    }
    out.extend_from_slice(&crcs);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&TRAILER);
    out
}

/// A merged index (level ≥ 1) being built from level n−1 files: each key mapped to the
/// segments that hold it.
#[derive(Debug)]
pub struct MergedBuilder {
    header: Header,
    map: std::collections::BTreeMap<(u8, Key), Vec<u64>>,
}

impl MergedBuilder {
    /// An empty level-`level` index.
    pub fn new(level: u8) -> MergedBuilder {
        MergedBuilder {
            header: Header {
                major: MAJOR,
                minor: MINOR,
                level,
                first_segid: u64::MAX,
                last_segid: 0,
                first_ns: i64::MAX,
                last_ns: i64::MIN,
                packets: 0,
            },
            map: std::collections::BTreeMap::new(),
        }
    }

    /// Adds a level n−1 file (a segment's own index or a merged one).
    pub fn add(&mut self, v: &Vidx) {
        let h = &v.header;
        self.header.first_segid = self.header.first_segid.min(h.first_segid);
        self.header.last_segid = self.header.last_segid.max(h.last_segid);
        if h.packets > 0 {
            self.header.first_ns = self.header.first_ns.min(h.first_ns);
            self.header.last_ns = self.header.last_ns.max(h.last_ns);
        }
        self.header.packets += h.packets;
        for kind in IndexKind::ALL {
            for key in v.keys(kind) {
                let segs =
                    if h.level == 0 { vec![h.first_segid] } else { v.lookup_segids(kind, &key) };
                let e = self.map.entry((kind.code(), key)).or_default();
                e.extend(segs);
            }
        }
    }

    /// The file bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut sections: Vec<SectionBody> = Vec::new();
        for kind in IndexKind::ALL {
            let mut keys = Vec::new();
            let mut segs = Vec::new();
            let (mut n_keys, mut n_segs) = (0u64, 0u32);
            for ((_, key), list) in
                self.map.range((kind.code(), Key::new(&[]))..(kind.code() + 1, Key::new(&[])))
            {
                let mut list = list.clone();
                list.sort_unstable();
                list.dedup();
                keys.extend_from_slice(key.as_bytes());
                keys.extend_from_slice(&n_segs.to_le_bytes());
                let count = u32::try_from(list.len()).unwrap_or(u32::MAX);
                keys.extend_from_slice(&count.to_le_bytes());
                n_segs = n_segs.saturating_add(count);
                for s in list {
                    segs.extend_from_slice(&s.to_le_bytes());
                }
                n_keys += 1;
            }
            if n_keys == 0 {
                continue;
            }
            sections.push((kind.code(), kind.key_len() as u16, n_keys, keys));
            sections.push((SEGIDS | kind.code(), 8, u64::from(n_segs), segs));
        }
        let mut h = self.header;
        if h.packets == 0 {
            (h.first_ns, h.last_ns) = (0, 0);
        }
        assemble(&h, &sections)
    }
}

/// The fixed header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
    /// 0 for a segment's own index.
    pub level: u8,
    /// First segment covered.
    pub first_segid: u64,
    /// Last segment covered.
    pub last_segid: u64,
    /// Smallest packet time.
    pub first_ns: i64,
    /// Largest packet time.
    pub last_ns: i64,
    /// Packets indexed.
    pub packets: u64,
}

#[derive(Debug, Clone, Copy)]
struct Section {
    index: usize,
    kind: u8,
    key_len: usize,
    count: usize,
    offset: usize,
    length: usize,
}

/// A parsed, checked index file: read whole ([`Vidx::read`]: every byte checked against
/// the trailer's CRC), or opened lazily ([`Vidx::open`]: header and section table checked
/// at once, each section read and checked against its own CRC when first used).
#[derive(Debug)]
pub struct Vidx {
    path: PathBuf,
    source: Source,
    /// The header.
    pub header: Header,
    sections: Vec<Section>,
    /// Lazy mode: per section, its verified 4 KiB chunks, and its first CRC's index.
    chunks: Vec<(usize, Vec<std::cell::OnceCell<Vec<u8>>>)>,
    damaged: std::cell::Cell<bool>,
    len: u64,
}

#[derive(Debug)]
enum Source {
    Whole(Vec<u8>),
    Lazy { file: File, crcs: Vec<u32> },
}

struct Le<'a> {
    path: &'a Path,
    b: &'a [u8],
    pos: usize,
}

impl Le<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], VidxError> {
        let s = self.b.get(self.pos..self.pos.saturating_add(n)).ok_or(VidxError::Truncated {
            path: self.path.into(),
            offset: self.pos as u64,
            have: self.b.len().saturating_sub(self.pos) as u64,
            need: n as u64,
        })?;
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, VidxError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, VidxError> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, VidxError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, VidxError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

impl Vidx {
    /// Reads and checks a file.
    pub fn read(path: &Path) -> Result<Vidx, VidxError> {
        let bytes =
            std::fs::read(path).map_err(|source| VidxError::Io { path: path.into(), source })?;
        Vidx::parse(path, bytes)
    }

    /// Checks and parses index bytes; `path` names them in errors.
    pub fn parse(path: &Path, bytes: Vec<u8>) -> Result<Vidx, VidxError> {
        let corrupt = |offset: usize, problem: &str| VidxError::Corrupt {
            path: path.into(),
            offset: offset as u64,
            problem: problem.into(),
        };
        let min = HEADER_LEN + 8;
        if bytes.len() < min {
            if bytes.len() >= 8 && bytes[..8] != MAGIC {
                return Err(corrupt(0, "bad magic: not a vantage index file"));
            }
            return Err(VidxError::Truncated {
                path: path.into(),
                offset: 0,
                have: bytes.len() as u64,
                need: min as u64,
            });
        }
        if bytes[..8] != MAGIC {
            return Err(corrupt(0, "bad magic: not a vantage index file"));
        }
        let body = bytes.len() - 8;
        if bytes[bytes.len() - 4..] != TRAILER {
            return Err(corrupt(bytes.len() - 4, "missing trailer: truncated or damaged index"));
        }
        let want = le_u32(&bytes, body);
        if crc32c::crc32c(&bytes[..body]) != want {
            return Err(corrupt(body, "checksum mismatch: damaged index"));
        }
        let (header, sections) = Self::table(path, &bytes[..body], body)?;
        let len = bytes.len() as u64;
        Ok(Vidx {
            path: path.into(),
            chunks: Vec::new(),
            source: Source::Whole(bytes),
            header,
            sections,
            damaged: std::cell::Cell::new(false),
            len,
        })
    }

    /// Parses header and section table from `prefix`; sections must end within `body`.
    fn table(path: &Path, prefix: &[u8], body: usize) -> Result<(Header, Vec<Section>), VidxError> {
        let corrupt = |offset: usize, problem: &str| VidxError::Corrupt {
            path: path.into(),
            offset: offset as u64,
            problem: problem.into(),
        };
        let mut r = Le { path, b: prefix, pos: 8 };
        let major = r.u16()?;
        let minor = r.u16()?;
        if major != MAJOR {
            return Err(VidxError::Unsupported { path: path.into(), major, minor });
        }
        let header_len = r.u32()? as usize;
        let level = r.u8()?;
        let n_sections = r.u8()?;
        r.u16()?;
        let header = Header {
            major,
            minor,
            level,
            first_segid: r.u64()?,
            last_segid: r.u64()?,
            first_ns: r.u64()? as i64,
            last_ns: r.u64()? as i64,
            packets: r.u64()?,
        };
        if header_len < HEADER_LEN {
            return Err(corrupt(12, "header length below 60"));
        }
        r.pos = header_len;
        let mut sections = Vec::new();
        for index in 0..usize::from(n_sections) {
            let at = r.pos;
            let kind = r.u8()?;
            r.u8()?;
            let key_len = usize::from(r.u16()?);
            r.u32()?;
            let count = usize::try_from(r.u64()?).unwrap_or(usize::MAX);
            let offset = usize::try_from(r.u64()?).unwrap_or(usize::MAX);
            let length = usize::try_from(r.u64()?).unwrap_or(usize::MAX);
            if offset.checked_add(length).is_none_or(|end| end > body) {
                return Err(corrupt(at, "section beyond the end of the file"));
            }
            let entry = match kind {
                k if IndexKind::from_code(k).is_some() => key_len + 8,
                k if k & INTERVALS != 0 && k & 0x80 == 0 => 16,
                k if k & SEGIDS != 0 && k & 0xc0 == 0 => 8,
                TIME_DIR => 32,
                FRAGMENTS => 48,
                SECTION_CRCS => 4,
                k if k == POSTINGS_DIR | IndexKind::Ip.code() => 8,
                k if k == POSTINGS | IndexKind::Ip.code() => 1,
                _ => continue, // a newer minor's section: skipped
            };
            if count.checked_mul(entry).is_none_or(|n| n > length) {
                return Err(corrupt(at, "section count larger than its length"));
            }
            if let Some(k) = IndexKind::from_code(kind) {
                if key_len != k.key_len() {
                    return Err(corrupt(at, "key length does not match the index kind"));
                }
            }
            sections.push(Section { index, kind, key_len, count, offset, length });
        }
        Ok((header, sections))
    }

    /// The file this index came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn section(&self, kind: u8) -> Option<Section> {
        self.sections.iter().find(|s| s.kind == kind).copied()
    }

    /// `len` bytes of a section from `start`; in lazy mode the chunks holding them are
    /// read and checked on first use (a mismatch marks the index damaged and reads as
    /// empty).
    fn range(&self, s: &Section, start: usize, len: usize) -> std::borrow::Cow<'_, [u8]> {
        use std::borrow::Cow;
        let end = start.saturating_add(len).min(s.length);
        if start >= end {
            return Cow::Borrowed(&[]);
        }
        match &self.source {
            Source::Whole(b) => {
                Cow::Borrowed(b.get(s.offset + start..s.offset + end).unwrap_or_default())
            }
            Source::Lazy { file, crcs } => {
                let pos = self.sections.iter().position(|x| x.index == s.index);
                let Some((base, cells)) = pos.and_then(|p| self.chunks.get(p)) else {
                    return Cow::Borrowed(&[]);
                };
                let chunk = |c: usize| -> &[u8] {
                    let Some(cell) = cells.get(c) else { return &[] };
                    cell.get_or_init(|| {
                        let from = c * CHUNK;
                        let mut buf = vec![0u8; CHUNK.min(s.length - from)];
                        let ok = file.read_exact_at(&mut buf, (s.offset + from) as u64).is_ok()
                            && crcs.get(base + c) == Some(&crc32c::crc32c(&buf));
                        if ok {
                            buf
                        } else {
                            self.damaged.set(true);
                            Vec::new()
                        }
                    })
                };
                let (c0, c1) = (start / CHUNK, (end - 1) / CHUNK);
                if c0 == c1 {
                    let d = chunk(c0);
                    return Cow::Borrowed(
                        d.get(start - c0 * CHUNK..end - c0 * CHUNK).unwrap_or_default(),
                    );
                }
                let mut out = Vec::with_capacity(end - start);
                for c in c0..=c1 {
                    let d = chunk(c);
                    let lo = start.saturating_sub(c * CHUNK).min(d.len());
                    let hi = (end - c * CHUNK).min(d.len());
                    out.extend_from_slice(d.get(lo..hi).unwrap_or_default());
                }
                if out.len() != end - start {
                    self.damaged.set(true);
                    out.clear();
                }
                Cow::Owned(out)
            }
        }
    }

    fn entry(&self, s: &Section, width: usize, i: usize) -> std::borrow::Cow<'_, [u8]> {
        self.range(s, i * width, width)
    }

    /// True once a lazily read section failed its checksum: results are not to be trusted.
    pub fn damaged(&self) -> bool {
        self.damaged.get()
    }

    /// Opens lazily: header, section table and checksum section are read and checked now;
    /// sections when used. A file without per-section checksums is read whole.
    pub fn open(path: &Path) -> Result<Vidx, VidxError> {
        let ioe = |source| VidxError::Io { path: path.into(), source };
        let corrupt = |offset: u64, problem: &str| VidxError::Corrupt {
            path: path.into(),
            offset,
            problem: problem.into(),
        };
        let file = File::open(path).map_err(ioe)?;
        let len = file.metadata().map_err(ioe)?.len();
        let mut head = [0u8; HEADER_LEN];
        if len < (HEADER_LEN + 8) as u64 || file.read_exact_at(&mut head, 0).is_err() {
            return Vidx::read(path);
        }
        let header_len = le_u32(&head, 12) as usize;
        let n = usize::from(head[17]);
        let prefix_len = header_len.saturating_add(SECTION_LEN * n);
        if head[..8] != MAGIC
            || prefix_len as u64 > len.saturating_sub(8)
            || header_len < HEADER_LEN
        {
            return Vidx::read(path);
        }
        let mut prefix = vec![0u8; prefix_len];
        file.read_exact_at(&mut prefix, 0).map_err(ioe)?;
        let mut trailer = [0u8; 4];
        file.read_exact_at(&mut trailer, len - 4).map_err(ioe)?;
        if trailer != TRAILER {
            return Err(corrupt(len - 4, "missing trailer: truncated or damaged index"));
        }
        // Parse the prefix as a file of its own: header and table fields only.
        let crc_entry = (0..n)
            .map(|i| header_len + i * SECTION_LEN)
            .find(|at| prefix.get(*at) == Some(&SECTION_CRCS));
        let Some(at) = crc_entry else { return Vidx::read(path) };
        let (c_off, c_len) = (le_u64(&prefix, at + 16), le_u64(&prefix, at + 24));
        if c_off.checked_add(c_len).is_none_or(|e| e > len - 8)
            || c_len > 4 * (len / CHUNK as u64 + 512)
        {
            return Err(corrupt(at as u64, "section beyond the end of the file"));
        }
        let mut cbuf = vec![0u8; c_len as usize];
        file.read_exact_at(&mut cbuf, c_off).map_err(ioe)?;
        let crcs: Vec<u32> = cbuf.chunks_exact(4).map(|c| le_u32(c, 0)).collect();
        if crcs.first() != Some(&crc32c::crc32c(&prefix)) {
            return Err(corrupt(0, "checksum mismatch in the header: damaged index"));
        }
        let (header, sections) = Self::table(path, &prefix, (len - 8) as usize)?;
        // CRC indexes follow the table order of every section but the checksum one.
        let mut base = 1usize;
        let mut starts = HashMap::new();
        for i in 0..n {
            let at = header_len + i * SECTION_LEN;
            if prefix.get(at) == Some(&SECTION_CRCS) {
                continue;
            }
            starts.insert(i, base);
            base += usize::try_from(le_u64(&prefix, at + 24)).unwrap_or(0).div_ceil(CHUNK);
        }
        if base != crcs.len() {
            return Err(corrupt(c_off, "checksum section does not match the sections"));
        }
        let chunks = sections
            .iter()
            .map(|s| {
                let b = starts.get(&s.index).copied().unwrap_or(usize::MAX);
                (b, (0..s.length.div_ceil(CHUNK)).map(|_| std::cell::OnceCell::new()).collect())
            })
            .collect();
        Ok(Vidx {
            path: path.into(),
            chunks,
            source: Source::Lazy { file, crcs },
            header,
            sections,
            damaged: std::cell::Cell::new(false),
            len,
        })
    }

    /// The time intervals of `key` in this segment (binary search of the key table).
    pub fn lookup(&self, kind: IndexKind, key: &Key) -> Vec<(i64, i64)> {
        let (Some(keys), Some(ivs)) =
            (self.section(kind.code()), self.section(INTERVALS | kind.code()))
        else {
            return Vec::new();
        };
        let width = keys.key_len + 8;
        let want = key.as_bytes();
        let (mut lo, mut hi) = (0usize, keys.count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let e = self.entry(&keys, width, mid);
            match e.get(..keys.key_len).unwrap_or_default().cmp(want) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    let first = le_u32(&e, keys.key_len) as usize;
                    let count = le_u32(&e, keys.key_len + 4) as usize;
                    return (first..first.saturating_add(count))
                        .take_while(|i| *i < ivs.count)
                        .map(|i| {
                            let e = self.entry(&ivs, 16, i);
                            (le_u64(&e, 0) as i64, le_u64(&e, 8) as i64)
                        })
                        .collect();
                }
            }
        }
        Vec::new()
    }

    fn find(&self, kind: IndexKind, key: &Key) -> Option<(usize, usize)> {
        let keys = self.section(kind.code())?;
        let width = keys.key_len + 8;
        let want = key.as_bytes();
        let (mut lo, mut hi) = (0usize, keys.count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let e = self.entry(&keys, width, mid);
            match e.get(..keys.key_len).unwrap_or_default().cmp(want) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    return Some((
                        le_u32(&e, keys.key_len) as usize,
                        le_u32(&e, keys.key_len + 4) as usize,
                    ))
                }
            }
        }
        None
    }

    /// The record offsets of an ip key's packets, when the file has postings (minor ≥ 1);
    /// `None` means "use the intervals".
    pub fn postings(&self, kind: IndexKind, key: &Key) -> Option<Vec<u64>> {
        let dir = self.section(POSTINGS_DIR | kind.code())?;
        let blob = self.section(POSTINGS | kind.code())?;
        let keys = self.section(kind.code())?;
        let width = keys.key_len + 8;
        let want = key.as_bytes();
        let (mut lo, mut hi) = (0usize, keys.count);
        let mut found = None;
        while lo < hi {
            let mid = (lo + hi) / 2;
            let e = self.entry(&keys, width, mid);
            match e.get(..keys.key_len).unwrap_or_default().cmp(want) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    found = Some(mid);
                    break;
                }
            }
        }
        let Some(i) = found else { return Some(Vec::new()) };
        let from = usize::try_from(le_u64(&self.entry(&dir, 8, i), 0)).ok()?;
        let to = if i + 1 < dir.count {
            usize::try_from(le_u64(&self.entry(&dir, 8, i + 1), 0)).ok()?
        } else {
            blob.length
        };
        let b = self.range(&blob, from, to.checked_sub(from)?);
        let b = &b[..];
        let mut pos = 0usize;
        let n = get_varint(b, &mut pos)?;
        let mut out = Vec::with_capacity(usize::try_from(n.min(1 << 24)).unwrap_or(0));
        let mut off = 0u64;
        for _ in 0..n {
            off = off.checked_add(get_varint(b, &mut pos)?)?;
            out.push(off);
        }
        Some(out)
    }

    /// Every key of a kind, in order.
    pub fn keys(&self, kind: IndexKind) -> Vec<Key> {
        let Some(s) = self.section(kind.code()) else { return Vec::new() };
        (0..s.count)
            .map(|i| {
                Key::new(self.entry(&s, s.key_len + 8, i).get(..s.key_len).unwrap_or_default())
            })
            .collect()
    }

    /// A merged index's segments holding `key`.
    pub fn lookup_segids(&self, kind: IndexKind, key: &Key) -> Vec<u64> {
        let (Some((first, count)), Some(segs)) =
            (self.find(kind, key), self.section(SEGIDS | kind.code()))
        else {
            return Vec::new();
        };
        (first..first.saturating_add(count))
            .take_while(|i| *i < segs.count)
            .map(|i| le_u64(&self.entry(&segs, 8, i), 0))
            .collect()
    }

    /// Number of keys of a kind.
    pub fn key_count(&self, kind: IndexKind) -> usize {
        self.section(kind.code()).map_or(0, |s| s.count)
    }

    /// The time directory.
    pub fn time_dir(&self) -> Vec<TimeEntry> {
        let Some(s) = self.section(TIME_DIR) else { return Vec::new() };
        (0..s.count)
            .map(|i| {
                let e = self.entry(&s, 32, i);
                TimeEntry {
                    offset: le_u64(&e, 0),
                    ordinal: le_u64(&e, 8),
                    min: le_u64(&e, 16) as i64,
                    max: le_u64(&e, 24) as i64,
                }
            })
            .collect()
    }

    /// The fragment table: ordinal → attributed conn4 key.
    pub fn fragments(&self) -> HashMap<u64, Key> {
        let Some(s) = self.section(FRAGMENTS) else { return HashMap::new() };
        (0..s.count)
            .map(|i| {
                let e = self.entry(&s, 48, i);
                (le_u64(&e, 0), Key::new(e.get(8..48).unwrap_or_default()))
            })
            .collect()
    }

    /// Bytes of the file.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty file (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Unused fields kept for the reader's completeness.
    #[doc(hidden)]
    pub fn section_lengths(&self) -> Vec<usize> {
        self.sections.iter().map(|s| s.length).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::mapped_v4;
    use crate::key::ConnKey;

    fn sample() -> (IndexBuilder, ConnKey) {
        let mut b = IndexBuilder::new(30_000_000_000);
        let c = ConnKey::new(6, mapped_v4([1, 2, 3, 4]), 80, mapped_v4([5, 6, 7, 8]), 1025);
        let mut keys = Vec::new();
        c.keys(&IndexKind::DEFAULT, &mut keys);
        keys.push((IndexKind::L2, crate::key::l2_key(0x0806)));
        let s = 1_000_000_000;
        b.add(24, 10 * s, &keys, None);
        b.add(100, 20 * s, &keys, Some(c.conn4()));
        b.add(200, 100 * s, &keys, None);
        (b, c)
    }

    #[test]
    fn round_trip_every_kind() {
        let (b, c) = sample();
        let bytes = b.encode(7);
        let v = Vidx::parse(Path::new("x.vidx"), bytes).unwrap();
        assert_eq!((v.header.first_segid, v.header.packets), (7, 3));
        let s = 1_000_000_000;
        let mut keys = Vec::new();
        c.keys(&IndexKind::DEFAULT, &mut keys);
        keys.push((IndexKind::L2, crate::key::l2_key(0x0806)));
        for (kind, key) in keys {
            assert_eq!(v.lookup(kind, &key), vec![(10 * s, 20 * s), (100 * s, 100 * s)], "{kind}");
        }
        assert!(v.lookup(IndexKind::Port, &Key::new(&[0, 1])).is_empty());
        assert_eq!(v.time_dir().len(), 3);
        assert_eq!(v.fragments().get(&1), Some(&c.conn4()));
    }

    #[test]
    fn lazy_open_reads_and_checks_sections() {
        let (b, c) = sample();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.vidx");
        let bytes = b.encode(3);
        std::fs::write(&p, &bytes).unwrap();
        let v = Vidx::open(&p).unwrap();
        assert!(matches!(v.source, Source::Lazy { .. }));
        let whole = Vidx::read(&p).unwrap();
        for kind in IndexKind::ALL {
            for key in whole.keys(kind) {
                assert_eq!(v.lookup(kind, &key), whole.lookup(kind, &key));
            }
        }
        assert_eq!(v.fragments().get(&1), Some(&c.conn4()));
        assert!(!v.damaged());
        // A flipped byte in the conn4 key table: the lazy reader notices when it reads it.
        let mut bad = bytes.clone();
        let keys = v.sections.iter().find(|s| s.kind == 1).unwrap().offset;
        bad[keys + 5] ^= 0xff;
        std::fs::write(&p, &bad).unwrap();
        let v = Vidx::open(&p).unwrap();
        assert!(v.lookup(IndexKind::Conn4, &c.conn4()).is_empty());
        assert!(v.damaged());
        assert!(Vidx::read(&p).is_err());
    }

    #[test]
    fn a_newer_minor_with_unknown_sections_still_reads() {
        let (b, c) = sample();
        let mut bytes = b.encode(1);
        bytes[10] = 9; // minor 9
                       // Turn the fragment table into a kind this reader does not know.
        let n = usize::from(bytes[17]);
        for i in 0..n {
            let at = HEADER_LEN + i * SECTION_LEN;
            if bytes[at] == FRAGMENTS {
                bytes[at] = 0x7e;
            }
        }
        let body = bytes.len() - 8;
        let crc = crc32c::crc32c(&bytes[..body]);
        bytes[body..body + 4].copy_from_slice(&crc.to_le_bytes());
        let v = Vidx::parse(Path::new("x.vidx"), bytes).unwrap();
        assert_eq!(v.header.minor, 9);
        assert!(v.fragments().is_empty());
        assert_eq!(v.lookup(IndexKind::Conn4, &c.conn4()).len(), 2);
        assert_eq!(v.postings(IndexKind::Ip, &Key::new(&c.a)), Some(vec![24, 100, 200]));
    }

    #[test]
    fn damage_is_refused_with_its_reason() {
        let (b, _) = sample();
        let bytes = b.encode(1);
        let p = Path::new("x.vidx");
        for n in 0..bytes.len() {
            assert!(Vidx::parse(p, bytes[..n].to_vec()).is_err(), "truncated at {n}");
        }
        let mut flipped = bytes.clone();
        flipped[70] ^= 1;
        assert!(Vidx::parse(p, flipped).unwrap_err().to_string().contains("checksum mismatch"));
        let mut magic = bytes.clone();
        magic[0] = b'X';
        assert!(Vidx::parse(p, magic).unwrap_err().to_string().contains("bad magic"));
        let mut major = bytes.clone();
        major[8] = 2;
        let body = major.len() - 8;
        let crc = crc32c::crc32c(&major[..body]);
        major[body..body + 4].copy_from_slice(&crc.to_le_bytes());
        assert!(Vidx::parse(p, major)
            .unwrap_err()
            .to_string()
            .contains("index format 2.1 not supported; run vantage packets reindex"));
    }
}
