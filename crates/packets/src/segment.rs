//! Segments (spec §3.4): nanosecond pcap files, one link type each, named
//! `<segid>-<YYYYMMDDTHHMMSSZ>.pcap`, `.open` while written, each with its `.vidx`.
//!
//! Closing order: flush and fsync the pcap, publish the `.vidx` atomically (temporary
//! name, fsync, rename), then rename `.open` away. A crash leaves an `.open` segment
//! (cut back to its last whole record and re-indexed at restart) or a closed segment
//! whose `.vidx` is missing or damaged (re-indexed); never a torn index.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::capture::{CaptureReader, Frame};
use crate::conn::ConnTable;
use crate::decode::decode;
use crate::error::StoreError;
use crate::key::{l2_key, IndexKind, Key};
use crate::pcapout::{pcap_header, pcap_record_header};
use crate::vidx::IndexBuilder;

/// The name stem `<segid>-<YYYYMMDDTHHMMSSZ>` of a segment.
pub fn stem(segid: u64, first_ns: i64) -> String {
    let t = vantage_core::Timestamp::from_nanos(first_ns).to_rfc3339();
    let compact: String = t.chars().take(19).filter(|c| *c != '-' && *c != ':').collect();
    format!("{segid:012}-{compact}Z")
}

/// Parses the segid of a file name made by [`stem`].
pub fn parse_segid(name: &str) -> Option<u64> {
    let (id, _) = name.split_once('-')?;
    (id.len() == 12).then(|| id.parse().ok()).flatten()
}

/// The keys a stored packet is indexed under: its connection's, or `l2` for non-IP.
pub fn packet_keys(
    conn: Option<&crate::key::ConnKey>,
    ethertype: u16,
    enabled: &[IndexKind],
    out: &mut Vec<(IndexKind, Key)>,
) {
    out.clear();
    match conn {
        Some(c) => c.keys(enabled, out),
        None => out.push((IndexKind::L2, l2_key(ethertype))),
    }
}

/// A segment being written.
pub struct OpenSegment {
    /// Its id.
    pub segid: u64,
    /// Its link type.
    pub linktype: u16,
    dir: PathBuf,
    stem: String,
    file: BufWriter<File>,
    /// Bytes written (header included).
    pub bytes: u64,
    /// Its index so far.
    pub index: IndexBuilder,
    /// Tests: behave as a full disk once the file would pass this size.
    pub fail_at: Option<u64>,
}

/// A closed segment as the store tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// Its id.
    pub segid: u64,
    /// The pcap.
    pub pcap: PathBuf,
    /// Its index.
    pub vidx: PathBuf,
    /// Bytes of the pcap.
    pub pcap_bytes: u64,
    /// Bytes of the index.
    pub vidx_bytes: u64,
}

impl OpenSegment {
    /// Starts `<dir>/<stem>.pcap.open`.
    pub fn create(
        dir: &Path,
        segid: u64,
        linktype: u16,
        first_ns: i64,
        gap: i64,
    ) -> Result<Self, StoreError> {
        let stem = stem(segid, first_ns);
        let path = dir.join(format!("{stem}.pcap.open"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        let mut file = BufWriter::with_capacity(1 << 20, file);
        file.write_all(&pcap_header(linktype, true)).map_err(|e| StoreError::io(&path, e))?;
        Ok(OpenSegment {
            segid,
            linktype,
            dir: dir.into(),
            stem,
            file,
            bytes: 24,
            index: IndexBuilder::new(gap),
            fail_at: None,
        })
    }

    /// The `.open` path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.pcap.open", self.stem))
    }

    /// Appends a record and indexes it.
    pub fn append(
        &mut self,
        ts_ns: i64,
        wirelen: u32,
        data: &[u8],
        keys: &[(IndexKind, Key)],
        frag: Option<Key>,
    ) -> Result<(), StoreError> {
        let caplen = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let offset = self.bytes;
        let h = pcap_record_header(ts_ns, caplen, wirelen, true);
        if self.fail_at.is_some_and(|at| offset + 16 + data.len() as u64 > at) {
            // A write the disk took only in part, as ENOSPC leaves it.
            let _ = self.file.write_all(&h[..8]).and_then(|_| self.file.flush());
            return Err(StoreError::io(
                self.path(),
                std::io::Error::from_raw_os_error(libc::ENOSPC),
            ));
        }
        let r = self.file.write_all(&h).and_then(|_| self.file.write_all(data));
        r.map_err(|e| StoreError::io(self.path(), e))?;
        self.bytes += 16 + data.len() as u64;
        self.index.add(offset, ts_ns, keys, frag);
        Ok(())
    }

    /// Flushes buffered records to the file (the `flush_interval` write).
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.file.flush().map_err(|e| StoreError::io(self.path(), e))
    }

    /// Closes: fsync, `.vidx` published, `.open` renamed.
    pub fn close(mut self) -> Result<Closed, StoreError> {
        let open = self.path();
        self.file.flush().map_err(|e| StoreError::io(&open, e))?;
        self.file.get_ref().sync_all().map_err(|e| StoreError::io(&open, e))?;
        let vidx = self.dir.join(format!("{}.vidx", self.stem));
        let bytes = self.index.encode(self.segid);
        vantage_core::publish::write_atomic(&vidx, &bytes, false)
            .map_err(|e| StoreError::io(&vidx, e))?;
        let pcap = self.dir.join(format!("{}.pcap", self.stem));
        fs::rename(&open, &pcap).map_err(|e| StoreError::io(&pcap, e))?;
        let _ = vantage_core::publish::sync_parent(&pcap);
        Ok(Closed {
            segid: self.segid,
            pcap,
            vidx,
            pcap_bytes: self.bytes,
            vidx_bytes: bytes.len() as u64,
        })
    }
}

impl OpenSegment {
    /// After a full disk: flushes what it can, cuts the file back to its last whole
    /// record, indexes what remains and closes it. Existing data are never rewritten.
    pub fn close_after_full(
        self,
        enabled: &[IndexKind],
        gap: i64,
        frag_timeout: i64,
    ) -> Result<Closed, StoreError> {
        let open = self.path();
        let (dir, stem, segid) = (self.dir.clone(), self.stem.clone(), self.segid);
        let OpenSegment { file, .. } = self;
        // The buffer may not fit either; what does not reach the disk is lost, as §12 says.
        let _ = file.into_inner();
        let kept = cut_back(&open)?;
        let idx = reindex(&open, enabled, gap, frag_timeout)?;
        let vidx = dir.join(format!("{stem}.vidx"));
        let bytes = idx.encode(segid);
        vantage_core::publish::write_atomic(&vidx, &bytes, false)
            .map_err(|e| StoreError::io(&vidx, e))?;
        let pcap = dir.join(format!("{stem}.pcap"));
        fs::rename(&open, &pcap).map_err(|e| StoreError::io(&pcap, e))?;
        Ok(Closed { segid, pcap, vidx, pcap_bytes: kept, vidx_bytes: bytes.len() as u64 })
    }
}

/// Cuts a segment back to its last whole record; returns the length kept.
pub fn cut_back(path: &Path) -> Result<u64, StoreError> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| StoreError::io(path, e))?;
    let len = f.metadata().map_err(|e| StoreError::io(path, e))?.len();
    let mut head = [0u8; 24];
    if len < 24 || f.read_exact(&mut head).is_err() {
        f.set_len(0).map_err(|e| StoreError::io(path, e))?;
        return Ok(0);
    }
    let big = head[0..4] == [0xa1, 0xb2, 0x3c, 0x4d] || head[0..4] == [0xa1, 0xb2, 0xc3, 0xd4];
    let mut pos = 24u64;
    let mut rh = [0u8; 16];
    loop {
        if pos + 16 > len {
            break;
        }
        f.seek(SeekFrom::Start(pos)).map_err(|e| StoreError::io(path, e))?;
        if f.read_exact(&mut rh).is_err() {
            break;
        }
        let c = [rh[8], rh[9], rh[10], rh[11]];
        let caplen = u64::from(if big { u32::from_be_bytes(c) } else { u32::from_le_bytes(c) });
        if pos + 16 + caplen > len {
            break;
        }
        pos += 16 + caplen;
    }
    if pos != len {
        f.set_len(pos).map_err(|e| StoreError::io(path, e))?;
        f.sync_all().map_err(|e| StoreError::io(path, e))?;
    }
    Ok(pos)
}

/// Derives a segment's index from the segment alone (restart, missing or damaged
/// `.vidx`): fragments are attributed within the segment only (spec §4).
pub fn reindex(
    path: &Path,
    enabled: &[IndexKind],
    gap: i64,
    frag_timeout: i64,
) -> Result<IndexBuilder, StoreError> {
    let mut r = CaptureReader::open(path).map_err(|e| StoreError::Io {
        path: path.into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let mut idx = IndexBuilder::new(gap);
    let mut table = ConnTable::new(i64::MAX, u64::MAX, frag_timeout);
    let mut flows = Vec::new();
    let mut keys = Vec::new();
    let mut f = Frame::default();
    let mut offset = 24u64;
    // A record cut short at the end is ignored here; cut_back removes it first.
    while let Ok(true) = r.next_into(&mut f) {
        let d = decode(f.linktype, &f.data, f.big_endian);
        table.advance(f.ts_ns, &mut flows);
        let placed = table.place(&f, &d, &mut flows);
        packet_keys(placed.as_ref().map(|p| &p.key), d.ethertype, enabled, &mut keys);
        let frag = placed.filter(|p| p.nonfirst_fragment).map(|p| p.key.conn4());
        idx.add(offset, f.ts_ns, &keys, frag);
        offset += 16 + f.data.len() as u64;
        flows.clear();
    }
    Ok(idx)
}

/// A closed segment mapped read-only, for reading records at known offsets.
///
/// Closed segments are never modified in place (retention only unlinks them, which
/// leaves a mapping valid), so the mapping cannot change under the reader.
pub struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
    big: bool,
    nanos: bool,
    linktype: u16,
}

impl Mapped {
    /// Maps `path`.
    pub fn open(path: &Path) -> Result<Mapped, StoreError> {
        use std::os::fd::AsRawFd;
        let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
        let len = usize::try_from(file.metadata().map_err(|e| StoreError::io(path, e))?.len())
            .unwrap_or(0);
        if len < 24 {
            return Err(StoreError::io(
                path,
                std::io::Error::other("segment shorter than its header"),
            ));
        }
        // SAFETY: a read-only private mapping of a file we opened; checked for failure;
        // unmapped in Drop; only read through bounds-checked slices.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(StoreError::io(path, std::io::Error::last_os_error()));
        }
        let mut m = Mapped { ptr, len, big: false, nanos: true, linktype: 0 };
        let h = m.bytes().get(..24).map(|h| h.to_vec()).unwrap_or_default();
        m.big = h[0..4] == [0xa1, 0xb2, 0x3c, 0x4d] || h[0..4] == [0xa1, 0xb2, 0xc3, 0xd4];
        m.nanos = h[0..4] == [0xa1, 0xb2, 0x3c, 0x4d] || h[0..4] == [0x4d, 0x3c, 0xb2, 0xa1];
        let lt = [h[20], h[21], h[22], h[23]];
        m.linktype =
            ((if m.big { u32::from_be_bytes(lt) } else { u32::from_le_bytes(lt) }) & 0xffff) as u16;
        Ok(m)
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: ptr/len describe the live mapping created in open.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }

    /// The record at `offset` into `f` (false when it is not a whole record there).
    pub fn read_at(&self, offset: u64, f: &mut Frame) -> bool {
        let b = self.bytes();
        let Ok(at) = usize::try_from(offset) else { return false };
        let Some(h) = b.get(at..at.saturating_add(16)) else { return false };
        let u = |x: &[u8]| {
            let a = [x[0], x[1], x[2], x[3]];
            if self.big {
                u32::from_be_bytes(a)
            } else {
                u32::from_le_bytes(a)
            }
        };
        let (sec, frac, caplen, wirelen) = (u(&h[0..4]), u(&h[4..8]), u(&h[8..12]), u(&h[12..16]));
        let Some(data) = b.get(at + 16..(at + 16).saturating_add(caplen as usize)) else {
            return false;
        };
        f.ts_ns =
            i64::from(sec) * 1_000_000_000 + i64::from(frac) * if self.nanos { 1 } else { 1000 };
        f.wirelen = wirelen;
        f.linktype = self.linktype;
        f.big_endian = self.big;
        f.data.clear();
        f.data.extend_from_slice(data);
        true
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping made in open, once.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

/// Reads the records of `path` between byte offsets `from` and `to` (exclusive), calling
/// `each(ordinal, offset, frame)` with ordinals counted from `first_ordinal`.
pub fn scan_range(
    path: &Path,
    from: u64,
    to: u64,
    first_ordinal: u64,
    mut each: impl FnMut(u64, u64, &Frame) -> bool,
) -> Result<(), StoreError> {
    let mut file = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let mut head = [0u8; 24];
    file.read_exact(&mut head).map_err(|e| StoreError::io(path, e))?;
    let big = head[0..4] == [0xa1, 0xb2, 0x3c, 0x4d] || head[0..4] == [0xa1, 0xb2, 0xc3, 0xd4];
    let nanos = head[0..4] == [0xa1, 0xb2, 0x3c, 0x4d] || head[0..4] == [0x4d, 0x3c, 0xb2, 0xa1];
    let lt_raw = [head[20], head[21], head[22], head[23]];
    let linktype =
        (if big { u32::from_be_bytes(lt_raw) } else { u32::from_le_bytes(lt_raw) } & 0xffff) as u16;
    let start = from.max(24);
    file.seek(SeekFrom::Start(start)).map_err(|e| StoreError::io(path, e))?;
    let mut rd = std::io::BufReader::with_capacity(256 * 1024, file.take(to.saturating_sub(start)));
    let mut f = Frame { linktype, big_endian: big, ..Default::default() };
    let mut ordinal = first_ordinal;
    let mut offset = start;
    let mut rh = [0u8; 16];
    let u = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    loop {
        if rd.read_exact(&mut rh).is_err() {
            return Ok(());
        }
        let (sec, frac, caplen, wirelen) =
            (u(&rh[0..4]), u(&rh[4..8]), u(&rh[8..12]), u(&rh[12..16]));
        if caplen > crate::capture::MAX_SNAPLEN {
            return Ok(());
        }
        f.data.resize(caplen as usize, 0);
        if rd.read_exact(&mut f.data).is_err() {
            return Ok(());
        }
        f.ts_ns = i64::from(sec) * 1_000_000_000 + i64::from(frac) * if nanos { 1 } else { 1000 };
        f.wirelen = wirelen;
        if !each(ordinal, offset, &f) {
            return Ok(());
        }
        ordinal += 1;
        offset += 16 + u64::from(caplen);
    }
}
