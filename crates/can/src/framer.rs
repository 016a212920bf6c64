//! The frame rule: which bytes of the tar stream go in which LZ4 frame.
//!
//! The tar stream is a sequence of *pieces*: a raw member (header, data and padding) is one
//! piece; a records member is its header, then one piece per record (the line and its
//! `\n`), then its padding; the end-of-archive blocks are the last piece. Pieces accumulate
//! into the open frame; before a piece that would take a non-empty frame past the target,
//! and after a piece that leaves it at or past the target, the frame is closed (reports
//! spec §5.6). So a piece never spans two frames unless it is larger than the target, and
//! then it is a frame of its own, streamed (several LZ4 blocks, constant memory): reading
//! any unit is one seek and one frame decompression.
//!
//! Closing "after" is lazy — done when the next piece begins — so that index lines the
//! caller adds right after a unit travel with that unit's frame.

use std::io::{self, Read};

use crate::error::CanError;
use crate::sink::{Line, Msg, SinkHandle};

/// Bytes per message while streaming a unit larger than the frame target.
const BIG_CHUNK: usize = 1 << 20;

/// Why [`Framer::copy_from`] stopped.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// Reading the input failed.
    Read(io::Error),
    /// The sink failed.
    Sink(CanError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    /// No frame open: the next piece opens one.
    None,
    /// A frame accumulating in `pending`.
    Small,
    /// A frame streaming one large piece.
    Big,
}

/// Cuts the tar stream into frames and hands them to the sink.
pub(crate) struct Framer {
    target: usize,
    sink: SinkHandle,
    open: Open,
    pending: Vec<u8>,
    chunk: Vec<u8>,
    /// Lines of the units ending in the open frame.
    lines: Vec<Line>,
    /// Lines added while no frame is open; they precede the next frame.
    loose: Vec<Line>,
    anchor: bool,
    /// Frames opened so far; the open frame's sequence number is one less.
    opened: u64,
    due: bool,
    frame_text_off: u64,
    text_off: u64,
}

impl Framer {
    /// A framer cutting frames of `target` bytes for `sink`.
    pub fn new(target: usize, mut sink: SinkHandle) -> Framer {
        let pending = sink.buffer(target);
        Framer {
            target,
            sink,
            open: Open::None,
            pending,
            chunk: Vec::new(),
            lines: Vec::new(),
            loose: Vec::new(),
            anchor: false,
            opened: 0,
            due: false,
            frame_text_off: 0,
            text_off: 0,
        }
    }

    /// Offset in the tar stream where the next byte goes.
    pub fn text_off(&self) -> u64 {
        self.text_off
    }

    /// Offset in the tar stream where the open frame starts.
    pub fn frame_text_off(&self) -> u64 {
        self.frame_text_off
    }

    /// Starts a piece of `len` (> 0) bytes, closing the open frame first when the rule says.
    pub fn begin_piece(&mut self, len: u64) -> Result<(), CanError> {
        let fits = match self.open {
            Open::None => true,
            Open::Small => !self.due && self.pending.len() as u64 + len <= self.target as u64,
            Open::Big => false,
        };
        if !fits {
            self.close()?;
        }
        if self.open == Open::None {
            if !self.loose.is_empty() {
                let loose = std::mem::take(&mut self.loose);
                self.sink.send(Msg::Lines(loose))?;
            }
            self.frame_text_off = self.text_off;
            self.opened += 1;
            if len > self.target as u64 {
                self.sink.send(Msg::BigBegin { len })?;
                self.chunk = self.sink.buffer(BIG_CHUNK);
                self.open = Open::Big;
            } else {
                self.open = Open::Small;
            }
        }
        Ok(())
    }

    /// Ends a piece of `len` bytes (all of them written).
    pub fn end_piece(&mut self, len: u64) {
        self.text_off += len;
        if self.open == Open::Big || self.pending.len() >= self.target {
            self.due = true;
        }
    }

    /// Writes bytes of the current piece.
    pub fn write(&mut self, mut bytes: &[u8]) -> Result<(), CanError> {
        match self.open {
            Open::Big => {
                while !bytes.is_empty() {
                    let room = BIG_CHUNK - self.chunk.len();
                    let n = room.min(bytes.len());
                    self.chunk.extend_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    self.send_full_chunk()?;
                }
            }
            Open::Small | Open::None => self.pending.extend_from_slice(bytes),
        }
        Ok(())
    }

    /// Copies `n` bytes of the current piece from `r`, showing each chunk to `seen`.
    /// Returns how many bytes `r` gave: fewer than `n` when it ended early.
    pub fn copy_from(
        &mut self,
        r: &mut dyn Read,
        n: u64,
        seen: &mut dyn FnMut(&[u8]),
    ) -> Result<u64, CopyError> {
        let mut done = 0u64;
        while done < n {
            let buf = match self.open {
                Open::Big => &mut self.chunk,
                Open::Small | Open::None => &mut self.pending,
            };
            let start = buf.len();
            let room = match self.open {
                Open::Big => BIG_CHUNK - start,
                // A small piece fits the frame by construction; read it whole.
                Open::Small | Open::None => usize::try_from(n - done).unwrap_or(usize::MAX),
            };
            let want = room.min(usize::try_from(n - done).unwrap_or(usize::MAX));
            buf.resize(start + want, 0);
            let mut got = 0;
            while got < want {
                match r.read(&mut buf[start + got..]) {
                    Ok(0) => break,
                    Ok(k) => got += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        buf.truncate(start + got);
                        return Err(CopyError::Read(e));
                    }
                }
            }
            buf.truncate(start + got);
            seen(&buf[start..]);
            done += got as u64;
            if got < want {
                return Ok(done);
            }
            if self.open == Open::Big {
                self.send_full_chunk().map_err(CopyError::Sink)?;
            }
        }
        Ok(done)
    }

    fn send_full_chunk(&mut self) -> Result<(), CanError> {
        if self.chunk.len() >= BIG_CHUNK {
            let next = self.sink.buffer(BIG_CHUNK);
            let full = std::mem::replace(&mut self.chunk, next);
            self.sink.send(Msg::BigData(full))?;
        }
        Ok(())
    }

    /// Adds an index line at this point of the stream: to the open frame, or before the
    /// next one when none is open.
    pub fn attach(&mut self, line: Line) {
        match self.open {
            Open::None => self.loose.push(line),
            Open::Small | Open::Big => self.lines.push(line),
        }
    }

    /// Marks the open frame as where a records member's data start; returns its sequence
    /// number for `MemberDraft::anchor`.
    pub fn mark_anchor(&mut self) -> u64 {
        self.anchor = true;
        self.opened.saturating_sub(1)
    }

    /// Closes the open frame, if any.
    pub fn close(&mut self) -> Result<(), CanError> {
        let lines = std::mem::take(&mut self.lines);
        let anchor = std::mem::take(&mut self.anchor);
        match self.open {
            Open::None => {}
            Open::Small => {
                let next = self.sink.buffer(self.target);
                let text = std::mem::replace(&mut self.pending, next);
                self.sink.send(Msg::Frame { text, lines, anchor })?;
            }
            Open::Big => {
                if !self.chunk.is_empty() {
                    let rest = std::mem::take(&mut self.chunk);
                    self.sink.send(Msg::BigData(rest))?;
                }
                self.sink.send(Msg::BigEnd { lines, anchor })?;
            }
        }
        self.open = Open::None;
        self.due = false;
        Ok(())
    }

    /// Closes the last frame, sends the last lines, and waits for the sink.
    pub fn finish(mut self) -> Result<crate::sink::Sink, CanError> {
        self.close()?;
        if !self.loose.is_empty() {
            let loose = std::mem::take(&mut self.loose);
            self.sink.send(Msg::Lines(loose))?;
        }
        self.sink.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{FileHead, Index};
    use crate::sink::Sink;
    use vantage_core::publish::Pending;

    /// Runs pieces of the given sizes through a framer; returns the frames' content sizes
    /// and checks the file decodes to the pieces.
    fn frames(target: usize, pieces: &[u64]) -> Vec<u64> {
        let dir = tempfile::tempdir().unwrap();
        let can = dir.path().join("f.tar.lz4");
        let index = dir.path().join("f.tar.lz4.index.jsonl");
        let sink = Sink::new(
            Pending::create(&can).unwrap(),
            Pending::create(&index).unwrap(),
            &can,
            &index,
        );
        let mut f = Framer::new(target, SinkHandle::start(sink, false).unwrap());
        f.attach(Line::Ready(FileHead { filename: "f".into(), can_format: 1 }.to_json()));
        let mut all = Vec::new();
        for (i, &p) in pieces.iter().enumerate() {
            let bytes = vec![b'a' + i as u8; p as usize];
            f.begin_piece(p).unwrap();
            if i % 2 == 0 {
                f.write(&bytes).unwrap();
            } else {
                assert_eq!(f.copy_from(&mut &bytes[..], p, &mut |_| {}).unwrap(), p);
            }
            f.end_piece(p);
            all.extend(bytes);
        }
        let done = f.finish().unwrap().finish().unwrap();
        done.index.commit(false).unwrap();
        done.can.commit(false).unwrap();
        let decoded = crate::frame::decode_prefix(&std::fs::read(&can).unwrap(), u64::MAX).unwrap();
        assert!(decoded == all);
        Index::load(&index).unwrap().frames().iter().map(|f| f.text_size).collect()
    }

    #[test]
    fn the_frame_rule() {
        let cases: &[(&[u64], &[u64])] = &[
            (&[600, 300, 200], &[900, 200]), // close before a piece that would overflow
            (&[1000, 1], &[1000, 1]),        // close after a piece that fills it
            (&[999, 1, 1], &[1000, 1]),
            (&[400, 400, 400], &[800, 400]),
            (&[300, 1500, 300], &[300, 1500, 300]), // a large piece is a frame of its own
            (&[1500], &[1500]),
            (&[3_000_000, 10], &[3_000_000, 10]), // streamed in chunks
            (&[1, 1, 1], &[3]),
        ];
        for (pieces, want) in cases {
            assert_eq!(frames(1000, pieces), *want, "{pieces:?}");
        }
    }

    #[test]
    fn a_short_reader_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let can = dir.path().join("s.tar.lz4");
        let index = dir.path().join("s.idx");
        let sink = Sink::new(
            Pending::create(&can).unwrap(),
            Pending::create(&index).unwrap(),
            &can,
            &index,
        );
        let mut f = Framer::new(1000, SinkHandle::start(sink, true).unwrap());
        f.begin_piece(5000).unwrap();
        assert_eq!(f.copy_from(&mut &[1u8; 1234][..], 5000, &mut |_| {}).unwrap(), 1234);
        drop(f);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "temporaries left");
    }
}
