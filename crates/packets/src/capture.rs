//! Reading capture files: classic pcap (both byte orders, µs and ns magic) and pcapng
//! (several sections, interfaces and link types; EPB, SPB and the obsolete PB), spec §11.
//!
//! The reader streams: it never holds more than one record or block. Every length is
//! checked before use; a short file yields [`ReadError::Truncated`] naming the offset
//! where the record or block starts and the bytes it has and needs (§12), never a panic.
//! Unknown pcapng block types are skipped with a warning naming file and offset, as
//! pcapng requires; the warnings are also kept in [`CaptureReader::warnings`].

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::ReadError;

/// The largest caplen stored anywhere (the recorder's snaplen, spec §3.4).
pub const MAX_SNAPLEN: u32 = 262_144;

/// One captured packet as read from a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frame {
    /// Nanoseconds since the epoch.
    pub ts_ns: i64,
    /// Length on the wire.
    pub wirelen: u32,
    /// Interface: 0 for pcap; pcapng interfaces numbered from 0 over the whole file.
    pub ifid: u32,
    /// The link type of the packet's interface.
    pub linktype: u16,
    /// The byte order of the section it came from (the NULL link type's family field is
    /// in the file's byte order).
    pub big_endian: bool,
    /// The captured bytes (caplen = `data.len()`).
    pub data: Vec<u8>,
}

impl Frame {
    /// The captured length.
    pub fn caplen(&self) -> u32 {
        u32::try_from(self.data.len()).unwrap_or(u32::MAX)
    }
}

/// What kind of file is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap.
    Pcap {
        /// Big-endian headers.
        big_endian: bool,
        /// Nanosecond timestamps.
        nanos: bool,
    },
    /// pcapng.
    Pcapng,
}

/// A pcapng interface as its IDB described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Link type.
    pub linktype: u16,
    /// Snapshot length (0: none).
    pub snaplen: u32,
    /// Timestamp units per second.
    pub ticks_per_sec: u64,
    /// `if_tsoffset`, seconds added to every timestamp.
    pub ts_offset_s: i64,
    /// `if_name`, when given.
    pub name: Option<String>,
}

const PCAPNG_SHB: u32 = 0x0A0D_0D0A;
const PCAPNG_BOM: u32 = 0x1A2B_3C4D;
/// Blocks bigger than this are refused as a bad length rather than allocated.
const MAX_BLOCK: u64 = 16 * 1024 * 1024;

/// Reads frames from one capture file.
pub struct CaptureReader<R: Read> {
    path: PathBuf,
    input: R,
    offset: u64,
    format: Format,
    /// pcap: link type and snaplen of the file.
    linktype: u16,
    snaplen: u32,
    /// pcapng: the current section's byte order and interfaces (global ids).
    big_endian: bool,
    interfaces: Vec<Interface>,
    section_ifs: Vec<u32>,
    block: Vec<u8>,
    /// The first four bytes of a pcapng file, consumed by the magic check.
    pending: Option<[u8; 4]>,
    warnings: Vec<String>,
}

impl CaptureReader<BufReader<File>> {
    /// Opens a file and reads its header.
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        let file =
            File::open(path).map_err(|source| ReadError::Io { path: path.into(), source })?;
        CaptureReader::new(path, BufReader::with_capacity(1 << 20, file))
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(buf.get_mut(n..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn u16_at(b: &[u8], at: usize, big: bool) -> Option<u16> {
    let s: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
    Some(if big { u16::from_be_bytes(s) } else { u16::from_le_bytes(s) })
}

fn u32_at(b: &[u8], at: usize, big: bool) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if big { u32::from_be_bytes(s) } else { u32::from_le_bytes(s) })
}

fn u64_at(b: &[u8], at: usize, big: bool) -> Option<u64> {
    let s: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
    Some(if big { u64::from_be_bytes(s) } else { u64::from_le_bytes(s) })
}

/// `ticks` in units of `1/tps` s as nanoseconds, saturating.
fn ticks_to_ns(ticks: u64, tps: u64, offset_s: i64) -> i64 {
    let ns = if tps == 0 { 0 } else { i128::from(ticks) * 1_000_000_000 / i128::from(tps) };
    let total = ns + i128::from(offset_s) * 1_000_000_000;
    i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX })
}

impl<R: Read> CaptureReader<R> {
    /// Reads the file header from `input`; `path` names the file in errors.
    pub fn new(path: &Path, mut input: R) -> Result<Self, ReadError> {
        let io = |source| ReadError::Io { path: path.into(), source };
        let mut head = [0u8; 24];
        let have = read_full(&mut input, &mut head[..4]).map_err(io)?;
        if have < 4 {
            return Err(ReadError::Truncated {
                path: path.into(),
                offset: 0,
                what: "file header",
                have: have as u64,
                need: 24,
            });
        }
        let mut me = CaptureReader {
            path: path.into(),
            input,
            offset: 0,
            format: Format::Pcapng,
            linktype: 0,
            snaplen: 0,
            big_endian: false,
            interfaces: Vec::new(),
            section_ifs: Vec::new(),
            block: Vec::new(),
            pending: None,
            warnings: Vec::new(),
        };
        let magic = [head[0], head[1], head[2], head[3]];
        let (big, nanos) = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
            [0x0a, 0x0d, 0x0d, 0x0a] => {
                me.pending = Some(magic);
                return Ok(me);
            }
            _ => {
                return Err(ReadError::BadMagic {
                    path: path.into(),
                    offset: 0,
                    magic: magic.iter().map(|b| format!("{b:02x}")).collect(),
                })
            }
        };
        let rest = read_full(&mut me.input, &mut head[4..]).map_err(io)?;
        if rest < 20 {
            return Err(ReadError::Truncated {
                path: path.into(),
                offset: 0,
                what: "file header",
                have: 4 + rest as u64,
                need: 24,
            });
        }
        me.format = Format::Pcap { big_endian: big, nanos };
        me.big_endian = big;
        me.snaplen = u32_at(&head, 16, big).unwrap_or(0);
        // The upper bits of the link-type field may carry an FCS length; keep the low 16.
        me.linktype = (u32_at(&head, 20, big).unwrap_or(0) & 0xFFFF) as u16;
        me.offset = 24;
        me.interfaces.push(Interface {
            linktype: me.linktype,
            snaplen: me.snaplen,
            ticks_per_sec: if nanos { 1_000_000_000 } else { 1_000_000 },
            ts_offset_s: 0,
            name: None,
        });
        Ok(me)
    }

    /// The file's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The interfaces seen so far (pcap: one).
    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    /// Warnings so far (unknown pcapng blocks), each naming file and offset.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The byte offset of the next record or block.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn truncated(&self, offset: u64, what: &'static str, have: u64, need: u64) -> ReadError {
        ReadError::Truncated { path: self.path.clone(), offset, what, have, need }
    }

    fn io(&self, source: std::io::Error) -> ReadError {
        ReadError::Io { path: self.path.clone(), source }
    }

    /// Reads the next frame into `frame`; `Ok(false)` at the end of the file.
    pub fn next_into(&mut self, frame: &mut Frame) -> Result<bool, ReadError> {
        match self.format {
            Format::Pcap { big_endian, nanos } => self.next_pcap(frame, big_endian, nanos),
            Format::Pcapng => self.next_pcapng(frame),
        }
    }

    /// Reads the next frame; `Ok(None)` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ReadError> {
        let mut f = Frame::default();
        Ok(if self.next_into(&mut f)? { Some(f) } else { None })
    }

    fn next_pcap(&mut self, f: &mut Frame, big: bool, nanos: bool) -> Result<bool, ReadError> {
        let start = self.offset;
        let mut h = [0u8; 16];
        let have = read_full(&mut self.input, &mut h).map_err(|e| self.io(e))?;
        if have == 0 {
            return Ok(false);
        }
        if have < 16 {
            return Err(self.truncated(start, "record", have as u64, 16));
        }
        let sec = u32_at(&h, 0, big).unwrap_or(0);
        let frac = u32_at(&h, 4, big).unwrap_or(0);
        let caplen = u32_at(&h, 8, big).unwrap_or(0);
        let wirelen = u32_at(&h, 12, big).unwrap_or(0);
        let max = self.snaplen.max(MAX_SNAPLEN);
        if caplen > max {
            return Err(ReadError::CaplenTooLarge {
                path: self.path.clone(),
                offset: start,
                caplen: u64::from(caplen),
                max: u64::from(max),
            });
        }
        let len = caplen as usize;
        f.data.resize(len, 0);
        let got = read_full(&mut self.input, &mut f.data).map_err(|e| self.io(e))?;
        if got < len {
            return Err(self.truncated(start, "record", 16 + got as u64, 16 + u64::from(caplen)));
        }
        self.offset = start + 16 + u64::from(caplen);
        let mul = if nanos { 1 } else { 1000 };
        f.ts_ns = i64::from(sec) * 1_000_000_000 + i64::from(frac) * mul;
        f.wirelen = wirelen;
        f.ifid = 0;
        f.linktype = self.linktype;
        f.big_endian = big;
        Ok(true)
    }

    /// Reads one whole pcapng block into `self.block`; returns its type, or None at EOF.
    fn read_block(&mut self) -> Result<Option<u32>, ReadError> {
        let start = self.offset;
        // The first block's first four bytes were consumed by the magic check.
        let mut head = [0u8; 12];
        let pre = match self.pending.take() {
            Some(m) => {
                head[..4].copy_from_slice(&m);
                4
            }
            None => 0,
        };
        let got = read_full(&mut self.input, &mut head[pre..]).map_err(|e| self.io(e))?;
        let have = pre + got;
        if have == 0 {
            return Ok(None);
        }
        if have < 12 {
            return Err(self.truncated(start, "block", have as u64, 12));
        }
        let raw_type = u32_at(&head, 0, false).unwrap_or(0);
        if raw_type == PCAPNG_SHB {
            let bom_le = u32_at(&head, 8, false).unwrap_or(0);
            self.big_endian = match bom_le {
                PCAPNG_BOM => false,
                x if x.swap_bytes() == PCAPNG_BOM => true,
                _ => {
                    return Err(ReadError::BadMagic {
                        path: self.path.clone(),
                        offset: start + 8,
                        magic: format!("{:08x}", bom_le.swap_bytes()),
                    })
                }
            };
        }
        let big = self.big_endian;
        let btype = u32_at(&head, 0, big).unwrap_or(0);
        let blen = u64::from(u32_at(&head, 4, big).unwrap_or(0));
        if blen < 12 || blen % 4 != 0 || blen > MAX_BLOCK {
            return Err(ReadError::BadBlockLength {
                path: self.path.clone(),
                offset: start,
                length: blen,
            });
        }
        let body_len = (blen - 8) as usize;
        self.block.clear();
        self.block.extend_from_slice(&head[8..12]);
        self.block.resize(body_len, 0);
        let got = read_full(&mut self.input, self.block.get_mut(4..).unwrap_or_default())
            .map_err(|e| self.io(e))?;
        if got + 4 < body_len {
            return Err(self.truncated(start, "block", 12 + got as u64, blen));
        }
        let trailer = u32_at(&self.block, body_len - 4, big).unwrap_or(0);
        if u64::from(trailer) != blen {
            return Err(ReadError::BadBlockLength {
                path: self.path.clone(),
                offset: start,
                length: blen,
            });
        }
        self.block.truncate(body_len - 4);
        self.offset = start + blen;
        Ok(Some(btype))
    }

    fn next_pcapng(&mut self, f: &mut Frame) -> Result<bool, ReadError> {
        loop {
            let start = self.offset;
            let Some(btype) = self.read_block()? else { return Ok(false) };
            let big = self.big_endian;
            let need = |n: usize, me: &Self| {
                if me.block.len() < n {
                    Err(me.truncated(start, "block", 8 + me.block.len() as u64, 12 + n as u64))
                } else {
                    Ok(())
                }
            };
            match btype {
                PCAPNG_SHB => {
                    need(16, self)?;
                    self.section_ifs.clear();
                }
                1 => {
                    need(8, self)?;
                    let b = &self.block;
                    let mut iface = Interface {
                        linktype: u16_at(b, 0, big).unwrap_or(0),
                        snaplen: u32_at(b, 4, big).unwrap_or(0),
                        ticks_per_sec: 1_000_000,
                        ts_offset_s: 0,
                        name: None,
                    };
                    for (code, val) in options(b.get(8..).unwrap_or_default(), big) {
                        match code {
                            2 => iface.name = Some(String::from_utf8_lossy(val).into_owned()),
                            9 => {
                                if let Some(&r) = val.first() {
                                    let e = u32::from(r & 0x7F);
                                    iface.ticks_per_sec = if r & 0x80 != 0 {
                                        2u64.checked_pow(e).unwrap_or(0)
                                    } else {
                                        10u64.checked_pow(e).unwrap_or(0)
                                    };
                                }
                            }
                            14 => {
                                if let Some(v) = u64_at(val, 0, big) {
                                    iface.ts_offset_s = v as i64;
                                }
                            }
                            _ => {}
                        }
                    }
                    let id = u32::try_from(self.interfaces.len()).unwrap_or(u32::MAX);
                    self.section_ifs.push(id);
                    self.interfaces.push(iface);
                }
                6 | 2 => {
                    need(20, self)?;
                    let b = &self.block;
                    let (local, hi, lo, caplen, wirelen) = if btype == 6 {
                        (
                            u32_at(b, 0, big).unwrap_or(0),
                            u32_at(b, 4, big).unwrap_or(0),
                            u32_at(b, 8, big).unwrap_or(0),
                            u32_at(b, 12, big).unwrap_or(0),
                            u32_at(b, 16, big).unwrap_or(0),
                        )
                    } else {
                        (
                            u32::from(u16_at(b, 0, big).unwrap_or(0)),
                            u32_at(b, 4, big).unwrap_or(0),
                            u32_at(b, 8, big).unwrap_or(0),
                            u32_at(b, 12, big).unwrap_or(0),
                            u32_at(b, 16, big).unwrap_or(0),
                        )
                    };
                    let iface = self.iface(local, start)?;
                    if u64::from(caplen) > u64::from(iface.snaplen.max(MAX_SNAPLEN)) {
                        return Err(ReadError::CaplenTooLarge {
                            path: self.path.clone(),
                            offset: start,
                            caplen: u64::from(caplen),
                            max: u64::from(iface.snaplen.max(MAX_SNAPLEN)),
                        });
                    }
                    need(20 + caplen as usize, self)?;
                    let ticks = (u64::from(hi) << 32) | u64::from(lo);
                    f.ts_ns = ticks_to_ns(ticks, iface.ticks_per_sec, iface.ts_offset_s);
                    f.wirelen = wirelen;
                    f.ifid = self.section_ifs.get(local as usize).copied().unwrap_or(0);
                    f.linktype = iface.linktype;
                    f.big_endian = big;
                    f.data.clear();
                    f.data.extend_from_slice(
                        self.block.get(20..20 + caplen as usize).unwrap_or_default(),
                    );
                    return Ok(true);
                }
                3 => {
                    need(4, self)?;
                    let wirelen = u32_at(&self.block, 0, big).unwrap_or(0);
                    let iface = self.iface(0, start)?;
                    let snap = if iface.snaplen == 0 { u32::MAX } else { iface.snaplen };
                    let avail = u32::try_from(self.block.len() - 4).unwrap_or(u32::MAX);
                    let caplen = wirelen.min(snap).min(avail);
                    f.ts_ns = ticks_to_ns(0, iface.ticks_per_sec, iface.ts_offset_s);
                    f.wirelen = wirelen;
                    f.ifid = self.section_ifs.first().copied().unwrap_or(0);
                    f.linktype = iface.linktype;
                    f.big_endian = big;
                    f.data.clear();
                    f.data.extend_from_slice(
                        self.block.get(4..4 + caplen as usize).unwrap_or_default(),
                    );
                    return Ok(true);
                }
                // Name resolution, interface statistics, decryption secrets, custom
                // blocks: known, nothing to read for recording.
                4 | 5 | 0x0A | 0x0BAD | 0x4000_0BAD => {}
                other => {
                    let w = format!(
                        "{}: offset {start}: unknown pcapng block type 0x{other:08x} skipped",
                        self.path.display()
                    );
                    tracing::warn!("{w}");
                    self.warnings.push(w);
                }
            }
        }
    }

    fn iface(&self, local: u32, start: u64) -> Result<Interface, ReadError> {
        self.section_ifs
            .get(local as usize)
            .and_then(|g| self.interfaces.get(*g as usize))
            .cloned()
            .ok_or(ReadError::UndefinedInterface {
                path: self.path.clone(),
                offset: start,
                interface: local,
            })
    }
}

/// The options of a pcapng block body: (code, value) until `opt_endofopt` or the end.
fn options(mut b: &[u8], big: bool) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let code = u16_at(b, 0, big).unwrap_or(0);
        let len = usize::from(u16_at(b, 2, big).unwrap_or(0));
        if code == 0 {
            break;
        }
        let Some(val) = b.get(4..4 + len) else { break };
        out.push((code, val));
        let padded = 4 + len + (4 - len % 4) % 4;
        b = b.get(padded..).unwrap_or_default();
    }
    out
}

/// Reads a whole file into frames (tests, small files).
pub fn read_all(path: &Path) -> Result<Vec<Frame>, ReadError> {
    let mut r = CaptureReader::open(path)?;
    let mut out = Vec::new();
    while let Some(f) = r.next_frame()? {
        out.push(f);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap(big: bool, nanos: bool, recs: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
        let w32 = |v: u32| if big { v.to_be_bytes() } else { v.to_le_bytes() };
        let w16 = |v: u16| if big { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut out = Vec::new();
        out.extend_from_slice(&w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
        out.extend_from_slice(&w16(2));
        out.extend_from_slice(&w16(4));
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&w32(65535));
        out.extend_from_slice(&w32(1));
        for (s, f, d, w) in recs {
            out.extend_from_slice(&w32(*s));
            out.extend_from_slice(&w32(*f));
            out.extend_from_slice(&w32(d.len() as u32));
            out.extend_from_slice(&w32(*w));
            out.extend_from_slice(d);
        }
        out
    }

    fn read(bytes: &[u8]) -> Result<Vec<Frame>, ReadError> {
        let mut r = CaptureReader::new(Path::new("t.pcap"), bytes)?;
        let mut v = Vec::new();
        while let Some(f) = r.next_frame()? {
            v.push(f);
        }
        Ok(v)
    }

    #[test]
    fn pcap_all_magics() {
        for big in [false, true] {
            for nanos in [false, true] {
                let b = pcap(big, nanos, &[(10, 5, b"abcd", 60)]);
                let f = read(&b).unwrap();
                assert_eq!(f.len(), 1);
                let want = 10_000_000_000 + if nanos { 5 } else { 5000 };
                assert_eq!((f[0].ts_ns, f[0].wirelen, &f[0].data[..]), (want, 60, &b"abcd"[..]));
                assert_eq!(f[0].big_endian, big);
            }
        }
    }

    #[test]
    fn every_truncation_names_offset_have_need() {
        let b = pcap(false, false, &[(1, 0, b"0123456789", 10), (2, 0, b"abcdef", 6)]);
        for n in 0..b.len() {
            let r = read(&b[..n]);
            if n == 24 + 26 || n == 24 {
                assert!(r.is_ok(), "{n}");
                continue;
            }
            let e = r.unwrap_err();
            let msg = e.to_string();
            let (off, have, need) = if n < 24 {
                (0, n, 24)
            } else if n < 40 {
                (24, n - 24, 16)
            } else if n < 50 {
                (24, n - 24, 26)
            } else if n < 66 {
                (50, n - 50, 16)
            } else {
                (50, n - 50, 22)
            };
            assert_eq!(e.offset(), Some(off), "{n}: {msg}");
            assert!(msg.contains(&format!("{have} of {need} bytes")), "{n}: {msg}");
        }
    }

    #[test]
    fn bad_magic_and_absurd_caplen() {
        let e = read(b"GIF89a..................").unwrap_err();
        assert!(e.to_string().contains("offset 0: bad magic 47494638"), "{e}");
        let mut b = pcap(false, false, &[(1, 0, b"ab", 2)]);
        b[24 + 8..24 + 12].copy_from_slice(&0xffff_ffffu32.to_le_bytes());
        let e = read(&b).unwrap_err();
        assert!(e.to_string().contains("offset 24: caplen 4294967295 exceeds"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let mut b = pcap(false, false, &[]);
            b.extend_from_slice(&tail);
            let _ = read(&b);
            let mut ng = vec![0x0a, 0x0d, 0x0d, 0x0a];
            ng.extend_from_slice(&tail);
            let _ = read(&ng);
        }
    }
}
