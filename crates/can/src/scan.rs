//! Walks a can's decoded tar stream and checks it against the index: every header, every
//! member's name, size, mtime, position and checksums, every record's position, bytes and
//! newline, padding and end blocks.
//!
//! A push parser: `verify` feeds the content of each frame as it is decoded, in any chunk
//! sizes, so that a member spanning frames (a records member) is checked in one pass with
//! memory independent of its size.

use crate::checksum::Checksums;
use crate::error::Sum;
use crate::header::{pad_len, parse_block, Block, BLOCK, MAX_NAME_LEN};
use crate::index::{Index, Locator, MemberEntry, RecordEntry};

/// What the scan found wrong; `verify` adds the file and offset.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// The bytes are not a tar stream as a can writes it.
    NotTar(String),
    /// The tar stream and the index disagree.
    Mismatch(String),
    /// A member's or record's data do not have the checksum its index line records;
    /// `frame_off` is where its frame run starts.
    Checksum { frame_off: u64, what: String, algo: Sum, expected: String, actual: String },
}

enum State {
    Header,
    LongName { left: u64, pad: u64, name: Vec<u8> },
    Data { left: u64 },
    Pad { left: u64 },
    SecondZero,
    End,
}

/// The member whose data are being read.
struct Current<'a> {
    entry: &'a MemberEntry,
    ck: Checksums,
    /// Offset in the member's data.
    pos: u64,
    records: &'a [RecordEntry],
    rec: usize,
    rec_open: bool,
    rec_crc: crc32fast::Hasher,
    /// Where the next record must start.
    rec_next: u64,
}

/// The scan's state between chunks.
pub(crate) struct Scan<'a> {
    index: &'a Index,
    state: State,
    block: [u8; BLOCK as usize],
    have: usize,
    /// Offset in the tar stream of the header block being filled.
    block_start: u64,
    long_name: Option<Vec<u8>>,
    next_member: usize,
    cur: Option<Current<'a>>,
    /// Offset in the tar stream of the next byte fed.
    text: u64,
}

fn show(name: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(name))
}

impl<'a> Scan<'a> {
    /// A scan of the stream `index` describes.
    pub fn new(index: &'a Index) -> Scan<'a> {
        Scan {
            index,
            state: State::Header,
            block: [0; BLOCK as usize],
            have: 0,
            block_start: 0,
            long_name: None,
            next_member: 0,
            cur: None,
            text: 0,
        }
    }

    /// Feeds the next bytes of the tar stream.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Problem> {
        while !bytes.is_empty() {
            let used = self.step(bytes)?;
            bytes = &bytes[used..];
            self.text += used as u64;
        }
        Ok(())
    }

    /// Consumes a prefix of `bytes`; returns its length (> 0).
    fn step(&mut self, bytes: &[u8]) -> Result<usize, Problem> {
        match &mut self.state {
            State::Header | State::SecondZero => {
                if self.have == 0 {
                    self.block_start = self.text;
                }
                let n = (self.block.len() - self.have).min(bytes.len());
                self.block[self.have..self.have + n].copy_from_slice(&bytes[..n]);
                self.have += n;
                if self.have == self.block.len() {
                    self.have = 0;
                    self.header_block()?;
                }
                Ok(n)
            }
            State::LongName { left, pad, name } => {
                if *left > 0 {
                    let n = usize::try_from(*left).unwrap_or(usize::MAX).min(bytes.len());
                    name.extend_from_slice(&bytes[..n]);
                    *left -= n as u64;
                    return Ok(n);
                }
                let n = usize::try_from(*pad).unwrap_or(usize::MAX).min(bytes.len());
                *pad -= n as u64;
                if *pad == 0 {
                    let mut name = std::mem::take(name);
                    while name.last() == Some(&0) {
                        name.pop();
                    }
                    self.long_name = Some(name);
                    self.state = State::Header;
                }
                Ok(n)
            }
            State::Data { left } => {
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(bytes.len());
                *left -= n as u64;
                let done = *left == 0;
                self.member_data(&bytes[..n])?;
                if done {
                    self.end_member()?;
                }
                Ok(n)
            }
            State::Pad { left } => {
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(bytes.len());
                if bytes[..n].iter().any(|&b| b != 0) {
                    return Err(Problem::NotTar(format!(
                        "non-zero padding at text offset {}",
                        self.text
                    )));
                }
                *left -= n as u64;
                if *left == 0 {
                    self.state = State::Header;
                }
                Ok(n)
            }
            State::End => Err(Problem::NotTar(format!(
                "data at text offset {} after the end-of-archive blocks",
                self.text
            ))),
        }
    }

    fn header_block(&mut self) -> Result<(), Problem> {
        let at = self.block_start;
        let parsed = parse_block(&self.block)
            .map_err(|why| Problem::NotTar(format!("block at text offset {at}: {why}")))?;
        if matches!(self.state, State::SecondZero) {
            return match parsed {
                Block::Zero => {
                    self.state = State::End;
                    Ok(())
                }
                _ => {
                    Err(Problem::NotTar(format!("block at text offset {at} follows a zero block")))
                }
            };
        }
        match parsed {
            Block::Zero => {
                if self.long_name.is_some() {
                    return Err(Problem::NotTar(format!(
                        "long-name entry without a member at text offset {at}"
                    )));
                }
                self.state = State::SecondZero;
                Ok(())
            }
            Block::LongName { size } => {
                if self.long_name.is_some() || size > MAX_NAME_LEN as u64 + 1 {
                    return Err(Problem::NotTar(format!(
                        "unexpected long-name entry at text offset {at}"
                    )));
                }
                self.state = State::LongName { left: size, pad: pad_len(size), name: Vec::new() };
                Ok(())
            }
            Block::File { name, size, mtime } => {
                let name = self.long_name.take().unwrap_or(name);
                self.begin_member(name, size, mtime, at + BLOCK)
            }
        }
    }

    fn begin_member(
        &mut self,
        name: Vec<u8>,
        size: u64,
        mtime: u64,
        data_off: u64,
    ) -> Result<(), Problem> {
        let index = self.index;
        let Some(entry) = index.members().get(self.next_member) else {
            return Err(Problem::Mismatch(format!(
                "member {} is in the can but not in the index",
                show(&name)
            )));
        };
        let line = entry.line;
        if name != entry.name.as_bytes() {
            return Err(Problem::Mismatch(format!(
                "the can has member {} where index line {line} has {:?}",
                show(&name),
                entry.name
            )));
        }
        let facts = [
            ("size", size, entry.size),
            ("mtime", mtime, entry.mtime),
            ("data offset", data_off, entry.text_off),
        ];
        for (what, can, idx) in facts {
            if can != idx {
                return Err(Problem::Mismatch(format!(
                    "member {:?}: {what} is {can} in the can, {idx} on index line {line}",
                    entry.name
                )));
            }
        }
        check_locator(
            index,
            &format!("member {:?}", entry.name),
            line,
            &entry.locator,
            data_off,
            size,
            size,
        )?;
        let records = index.records_of(&entry.name);
        self.cur = Some(Current {
            entry,
            ck: Checksums::default(),
            pos: 0,
            records,
            rec: 0,
            rec_open: false,
            rec_crc: crc32fast::Hasher::new(),
            rec_next: 0,
        });
        self.state = State::Data { left: size };
        if size == 0 {
            self.end_member()?;
        }
        Ok(())
    }

    fn member_data(&mut self, mut bytes: &[u8]) -> Result<(), Problem> {
        let index = self.index;
        let Some(cur) = self.cur.as_mut() else { return Ok(()) };
        cur.ck.update(bytes);
        if cur.entry.records.is_none() {
            cur.pos += bytes.len() as u64;
            return Ok(());
        }
        let member = &cur.entry.name;
        while !bytes.is_empty() {
            let Some(r) = cur.records.get(cur.rec) else {
                return Err(Problem::Mismatch(format!(
                    "member {member:?}: data at offset {} follow its last record",
                    cur.pos
                )));
            };
            if !cur.rec_open {
                if r.member_off != cur.rec_next || cur.pos != r.member_off {
                    return Err(Problem::Mismatch(format!(
                        "member {member:?}: record on index line {} starts at {}, the previous one ends at {}",
                        r.line, r.member_off, cur.rec_next
                    )));
                }
                let text = cur.entry.text_off.saturating_add(r.member_off);
                if r.text_off != text {
                    return Err(Problem::Mismatch(format!(
                        "record on index line {} has text offset {}, its member puts it at {text}",
                        r.line, r.text_off
                    )));
                }
                check_locator(
                    index,
                    "record",
                    r.line,
                    &r.locator,
                    text,
                    r.size.saturating_add(1),
                    r.size,
                )?;
                cur.rec_open = true;
                cur.rec_crc = crc32fast::Hasher::new();
            }
            let newline_at = r.member_off.saturating_add(r.size);
            if cur.pos < newline_at {
                let n =
                    usize::try_from(newline_at - cur.pos).unwrap_or(usize::MAX).min(bytes.len());
                cur.rec_crc.update(&bytes[..n]);
                cur.pos += n as u64;
                bytes = &bytes[n..];
                continue;
            }
            if bytes[0] != b'\n' {
                return Err(Problem::Mismatch(format!(
                    "member {member:?}: record on index line {} does not end with a newline",
                    r.line
                )));
            }
            let crc = cur.rec_crc.clone().finalize();
            if crc != r.crc32 {
                return Err(Problem::Checksum {
                    frame_off: r.locator.frame_off,
                    what: format!("record on index line {} (member {member})", r.line),
                    algo: Sum::Crc32,
                    expected: r.crc32.to_string(),
                    actual: crc.to_string(),
                });
            }
            cur.pos += 1;
            cur.rec_next = cur.pos;
            cur.rec += 1;
            cur.rec_open = false;
            bytes = &bytes[1..];
        }
        Ok(())
    }

    fn end_member(&mut self) -> Result<(), Problem> {
        let Some(cur) = self.cur.take() else { return Ok(()) };
        let entry = cur.entry;
        if cur.rec != cur.records.len() {
            return Err(Problem::Mismatch(format!(
                "member {:?} ends before its record on index line {}",
                entry.name, cur.records[cur.rec].line
            )));
        }
        let sums = cur.ck.finish();
        let what = format!("member {} (index line {})", entry.name, entry.line);
        let frame_off = entry.locator.frame_off;
        if sums.crc32 != entry.crc32 {
            return Err(Problem::Checksum {
                frame_off,
                what,
                algo: Sum::Crc32,
                expected: entry.crc32.to_string(),
                actual: sums.crc32.to_string(),
            });
        }
        if sums.sha1 != entry.sha1 {
            return Err(Problem::Checksum {
                frame_off,
                what,
                algo: Sum::Sha1,
                expected: entry.sha1.clone(),
                actual: sums.sha1,
            });
        }
        self.next_member += 1;
        let pad = pad_len(entry.size);
        self.state = if pad == 0 { State::Header } else { State::Pad { left: pad } };
        Ok(())
    }

    /// Checks that the stream ended where a can's does.
    pub fn finish(self) -> Result<(), Problem> {
        if let Some(entry) = self.index.members().get(self.next_member) {
            return Err(Problem::Mismatch(format!(
                "member {:?} of index line {} is not in the can",
                entry.name, entry.line
            )));
        }
        match self.state {
            State::End => Ok(()),
            _ => Err(Problem::NotTar("the stream ends without its end-of-archive blocks".into())),
        }
    }
}

/// Checks a unit's locator against the one the frames give its `len` bytes at `text`.
fn check_locator(
    index: &Index,
    what: &str,
    line: u64,
    got: &Locator,
    text: u64,
    len: u64,
    size: u64,
) -> Result<(), Problem> {
    let want = index.locate(text, len).map(|l| Locator { intra_size: size, ..l });
    if want != Some(*got) {
        return Err(Problem::Mismatch(format!(
            "{what}: index line {line} locates it at {got:?}, the frames put it at {want:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::index_path;
    use crate::writer::{Writer, WriterOptions};

    /// A can's decoded tar stream and index.
    fn stream() -> (tempfile::TempDir, Vec<u8>, Index) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.tar.lz4");
        let mut w =
            Writer::create(&p, WriterOptions { frame_target: 2048, ..WriterOptions::default() })
                .unwrap();
        w.add_bytes(&"n".repeat(150), &[3; 1000]).unwrap();
        w.begin_records("r.jsonl").unwrap();
        for i in 0..50u8 {
            w.add_record(&vec![b'a' + i % 26; usize::from(i) * 9]).unwrap();
        }
        w.end_records().unwrap();
        w.add_bytes("e", b"").unwrap();
        w.finish().unwrap();
        let text = crate::frame::decode_prefix(&std::fs::read(&p).unwrap(), u64::MAX).unwrap();
        let idx = Index::load(&index_path(&p)).unwrap();
        (d, text, idx)
    }

    fn scan_in_chunks(text: &[u8], idx: &Index, chunk: usize) -> Result<(), Problem> {
        let mut s = Scan::new(idx);
        for c in text.chunks(chunk) {
            s.feed(c)?;
        }
        s.finish()
    }

    #[test]
    fn any_chunking_gives_the_same_verdict() {
        let (_d, text, idx) = stream();
        for chunk in [1, 7, 511, 512, 513, 4096, text.len()] {
            assert_eq!(scan_in_chunks(&text, &idx, chunk), Ok(()), "chunk {chunk}");
        }
    }

    #[test]
    fn damage_to_the_stream_is_named() {
        let (_d, text, idx) = stream();
        let r = idx.records_of("r.jsonl")[10].clone();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (text[..text.len() - 512].to_vec(), "without its end-of-archive blocks"),
            ([&text[..], &[0; 512]].concat(), "after the end-of-archive blocks"),
            (
                {
                    let mut t = text.clone();
                    t[r.text_off as usize] ^= 1;
                    t
                },
                "record on index line",
            ),
            (
                {
                    let mut t = text.clone();
                    t[(r.text_off + r.size) as usize] = b'x';
                    t
                },
                "does not end with a newline",
            ),
            (
                {
                    let mut t = text.clone();
                    t[1600] ^= 1;
                    t
                },
                "member",
            ),
            (
                {
                    let mut t = text.clone();
                    t[100] ^= 1;
                    t
                },
                "header checksum",
            ),
        ];
        for (bad, want) in cases {
            let e = scan_in_chunks(&bad, &idx, 333).unwrap_err();
            assert!(format!("{e:?}").contains(want), "{e:?} lacks {want}");
        }
    }
}
