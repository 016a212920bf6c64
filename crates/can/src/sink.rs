//! The back half of the writer: compresses frames, writes them to the can's temporary
//! file, and writes the index lines once each frame's place in the file is known.
//!
//! The [`crate::framer::Framer`] decides what goes in which frame and sends [`Msg`]s; the
//! sink runs inline or on a thread of its own ([`SinkHandle`]), so that on two cores
//! reading and hashing the input overlap LZ4 compression, as `tar | lz4` overlap. Index
//! lines travel with the frame they belong to, because their `frame_off`/`frame_size` are
//! only known once that frame is compressed. Memory is bounded by the channel: a few
//! frames (or 1 MiB chunks of a large unit) in flight.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use lz4_flex::frame::FrameEncoder;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use vantage_core::publish::Pending;

use crate::error::CanError;
use crate::frame;
use crate::index::{FileSummary, FrameEntry, IndexOut, Locator, MemberEntry, RecordEntry};

/// Frames (or large-unit chunks) queued for the sink thread at most.
const QUEUE: usize = 4;

/// Buffered bytes between the sink and the can's temporary file.
const WRITE_BUFFER: usize = 1 << 20;

/// A member line whose frame position the sink fills in.
#[derive(Debug)]
pub(crate) struct MemberDraft {
    pub name: String,
    pub size: u64,
    pub sha1: String,
    pub crc32: u32,
    pub mtime: u64,
    pub text_off: u64,
    pub records: Option<u64>,
    /// Offset of the data in the decoded frame run that starts at its first frame.
    pub intra_off: u64,
    /// For a records member, whose data may span frames: the sequence number (from 0) of
    /// the frame the run starts at, a frame sent with `anchor`. `None`: the run is the
    /// frame this line travels with.
    pub anchor: Option<u64>,
}

/// A record line whose frame position the sink fills in.
#[derive(Debug)]
pub(crate) struct RecordDraft {
    pub member: Arc<str>,
    pub member_off: u64,
    pub size: u64,
    pub crc32: u32,
    pub text_off: u64,
    pub intra_off: u64,
}

/// An index line on its way to the index.
#[derive(Debug)]
pub(crate) enum Line {
    /// Complete as it is (the `file` line, the kinds' lines).
    Ready(Value),
    Member(MemberDraft),
    Record(RecordDraft),
}

/// What the framer sends.
#[derive(Debug)]
pub(crate) enum Msg {
    /// Lines outside any frame (before the first frame or between frames).
    Lines(Vec<Line>),
    /// A whole frame's content and the lines of the units ending in it. `anchor`: a
    /// records member's data start in this frame (see [`MemberDraft::anchor`]).
    Frame { text: Vec<u8>, lines: Vec<Line>, anchor: bool },
    /// A frame of `len` bytes holding one large unit starts; `BigData` follows.
    BigBegin { len: u64 },
    /// More of the large unit.
    BigData(Vec<u8>),
    /// The large unit's frame is complete.
    BigEnd { lines: Vec<Line>, anchor: bool },
}

/// The can's temporary file, counting and hashing what goes through.
struct CanOut {
    w: BufWriter<Pending>,
    off: u64,
    sha1: Sha1,
    crc: crc32fast::Hasher,
    frame_crc: crc32fast::Hasher,
}

impl Write for CanOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.w.write(buf)?;
        let done = &buf[..n];
        self.sha1.update(done);
        self.crc.update(done);
        self.frame_crc.update(done);
        self.off += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// A large unit's frame being streamed.
struct Big {
    enc: FrameEncoder<CanOut>,
    start: u64,
    len: u64,
}

/// Counts of what a finished can holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counts {
    pub frames: u64,
    pub members: u64,
    pub records: u64,
}

/// What [`Sink::finish`] hands back: the two temporary files, ready to publish.
pub(crate) struct Finished {
    pub can: Pending,
    pub index: Pending,
    pub summary: FileSummary,
    pub counts: Counts,
}

/// Compresses and writes.
pub(crate) struct Sink {
    can_path: PathBuf,
    index_path: PathBuf,
    /// `None` only while a large unit's encoder owns it.
    can: Option<CanOut>,
    big: Option<Big>,
    index: IndexOut<BufWriter<Pending>>,
    text_off: u64,
    /// File offsets of anchor frames, by sequence number, until their members' lines are
    /// out (a handful at most).
    anchors: BTreeMap<u64, u64>,
    counts: Counts,
}

impl Sink {
    /// A sink writing onto the two temporary files; the paths are the published names,
    /// which errors mention.
    pub fn new(can: Pending, index: Pending, can_path: &Path, index_path: &Path) -> Sink {
        Sink {
            can_path: can_path.into(),
            index_path: index_path.into(),
            can: Some(CanOut {
                w: BufWriter::with_capacity(WRITE_BUFFER, can),
                off: 0,
                sha1: Sha1::new(),
                crc: crc32fast::Hasher::new(),
                frame_crc: crc32fast::Hasher::new(),
            }),
            big: None,
            index: IndexOut::new(BufWriter::with_capacity(1 << 16, index)),
            text_off: 0,
            anchors: BTreeMap::new(),
            counts: Counts::default(),
        }
    }

    fn can_err(&self, e: io::Error) -> CanError {
        let off = self.can.as_ref().map_or(0, |c| c.off);
        CanError::io_at(&self.can_path, off, e)
    }

    fn out_of_order(&self, what: &str) -> CanError {
        // The framer never sends these; reaching here is a bug in this crate.
        CanError::invalid(&self.can_path, format!("internal error: {what}"))
    }

    /// Handles one message; returns a buffer the framer may reuse.
    pub fn handle(&mut self, msg: Msg) -> Result<Option<Vec<u8>>, CanError> {
        match msg {
            Msg::Lines(lines) => {
                let at = self.can.as_ref().map_or(0, |c| c.off);
                for line in lines {
                    self.emit(line, at, at)?;
                }
                Ok(None)
            }
            Msg::Frame { mut text, lines, anchor } => {
                let Some(out) = self.can.as_mut() else {
                    return Err(self.out_of_order("frame inside a large unit"));
                };
                let start = out.off;
                out.frame_crc = crc32fast::Hasher::new();
                if let Err(e) = frame::encode(&text, &mut *out) {
                    return Err(self.can_err(e));
                }
                self.close_frame(start, text.len() as u64, lines, anchor)?;
                text.clear();
                Ok(Some(text))
            }
            Msg::BigBegin { len } => {
                let Some(mut out) = self.can.take() else {
                    return Err(self.out_of_order("nested large unit"));
                };
                let start = out.off;
                out.frame_crc = crc32fast::Hasher::new();
                self.big = Some(Big { enc: frame::encoder(len, out), start, len });
                Ok(None)
            }
            Msg::BigData(mut chunk) => {
                let Some(big) = self.big.as_mut() else {
                    return Err(self.out_of_order("data outside a large unit"));
                };
                if let Err(e) = big.enc.write_all(&chunk) {
                    let off = big.enc.get_ref().off;
                    return Err(CanError::io_at(&self.can_path, off, e));
                }
                chunk.clear();
                Ok(Some(chunk))
            }
            Msg::BigEnd { lines, anchor } => {
                let Some(big) = self.big.take() else {
                    return Err(self.out_of_order("end outside a large unit"));
                };
                let out = big.enc.finish().map_err(|e| CanError::io(&self.can_path, e.into()))?;
                self.can = Some(out);
                self.close_frame(big.start, big.len, lines, anchor)?;
                Ok(None)
            }
        }
    }

    /// Writes the frame line, the lines of its units and its `/frame`.
    fn close_frame(
        &mut self,
        start: u64,
        text_len: u64,
        lines: Vec<Line>,
        anchor: bool,
    ) -> Result<(), CanError> {
        let Some(out) = self.can.as_mut() else {
            return Err(self.out_of_order("frame closed without output"));
        };
        let end = out.off;
        let entry = FrameEntry {
            file_off: start,
            file_size: end - start,
            file_crc32: out.frame_crc.clone().finalize(),
            text_off: self.text_off,
            text_size: text_len,
            line: 0,
        };
        if anchor {
            self.anchors.insert(self.counts.frames, start);
        }
        self.index_line(&entry.to_json())?;
        for line in lines {
            self.emit(line, start, end)?;
        }
        self.index_line(&json!({"type": "/frame"}))?;
        self.text_off += text_len;
        self.counts.frames += 1;
        Ok(())
    }

    fn emit(&mut self, line: Line, frame_start: u64, frame_end: u64) -> Result<(), CanError> {
        let value = match line {
            Line::Ready(v) => v,
            Line::Member(d) => {
                let frame_off = match d.anchor {
                    None => frame_start,
                    Some(seq) => {
                        let Some(&off) = self.anchors.get(&seq) else {
                            return Err(self.out_of_order("member line before its anchor frame"));
                        };
                        // Member lines come in stream order, so no later one needs an
                        // earlier anchor; several members may share this one.
                        self.anchors = self.anchors.split_off(&seq);
                        off
                    }
                };
                self.counts.members += 1;
                MemberEntry {
                    name: d.name,
                    size: d.size,
                    sha1: d.sha1,
                    crc32: d.crc32,
                    mtime: d.mtime,
                    text_off: d.text_off,
                    records: d.records,
                    locator: Locator {
                        frame_off,
                        frame_size: frame_end - frame_off,
                        intra_off: d.intra_off,
                        intra_size: d.size,
                    },
                    line: 0,
                }
                .to_json()
            }
            Line::Record(d) => {
                self.counts.records += 1;
                RecordEntry {
                    member: d.member.to_string(),
                    member_off: d.member_off,
                    size: d.size,
                    crc32: d.crc32,
                    text_off: d.text_off,
                    locator: Locator {
                        frame_off: frame_start,
                        frame_size: frame_end - frame_start,
                        intra_off: d.intra_off,
                        intra_size: d.size,
                    },
                    line: 0,
                }
                .to_json()
            }
        };
        self.index_line(&value)
    }

    fn index_line(&mut self, v: &Value) -> Result<(), CanError> {
        self.index.line(v).map_err(|e| CanError::io(&self.index_path, e))
    }

    /// Writes the `/file` and `/index` lines and flushes both files.
    pub fn finish(mut self) -> Result<Finished, CanError> {
        if self.big.is_some() {
            return Err(self.out_of_order("finished inside a large unit"));
        }
        let Some(out) = self.can.take() else {
            return Err(self.out_of_order("finished without output"));
        };
        let summary = FileSummary {
            file_size: out.off,
            file_sha1: hex::encode(out.sha1.finalize()),
            file_crc32: out.crc.finalize(),
            text_size: self.text_off,
            line: 0,
        };
        self.index_line(&summary.to_json())?;
        let can = out.w.into_inner().map_err(|e| CanError::io(&self.can_path, e.into_error()))?;
        let index = self
            .index
            .finish()
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .map_err(|e| CanError::io(&self.index_path, e))?;
        Ok(Finished { can, index, summary, counts: self.counts })
    }
}

/// The sink, run inline or on its own thread.
pub(crate) enum SinkHandle {
    Inline {
        /// `None` once finished.
        sink: Option<Box<Sink>>,
        spare: Vec<Vec<u8>>,
    },
    Threaded {
        tx: Option<SyncSender<Msg>>,
        back: Receiver<Vec<u8>>,
        join: Option<JoinHandle<Result<Sink, CanError>>>,
        can_path: PathBuf,
    },
}

impl SinkHandle {
    /// Starts the sink, on a thread of its own when `background`.
    pub fn start(sink: Sink, background: bool) -> Result<SinkHandle, CanError> {
        if !background {
            return Ok(SinkHandle::Inline { sink: Some(Box::new(sink)), spare: Vec::new() });
        }
        let can_path = sink.can_path.clone();
        let (tx, rx) = mpsc::sync_channel::<Msg>(QUEUE);
        let (back_tx, back): (Sender<Vec<u8>>, Receiver<Vec<u8>>) = mpsc::channel();
        let join = std::thread::Builder::new()
            .name("can-sink".into())
            .spawn(move || {
                let mut sink = sink;
                for msg in rx {
                    if let Some(buf) = sink.handle(msg)? {
                        let _ = back_tx.send(buf);
                    }
                }
                Ok(sink)
            })
            .map_err(|e| CanError::io(&can_path, e))?;
        Ok(SinkHandle::Threaded { tx: Some(tx), back, join: Some(join), can_path })
    }

    /// Sends one message; an error is the sink's own, from this or an earlier message.
    pub fn send(&mut self, msg: Msg) -> Result<(), CanError> {
        match self {
            SinkHandle::Inline { sink: Some(sink), spare } => {
                if let Some(buf) = sink.handle(msg)? {
                    spare.push(buf);
                }
                Ok(())
            }
            SinkHandle::Inline { sink: None, .. } => Err(self.stopped()),
            SinkHandle::Threaded { tx, .. } => {
                if tx.as_ref().is_some_and(|tx| tx.send(msg).is_ok()) {
                    return Ok(());
                }
                // The thread stopped: it returned an error (or panicked).
                tx.take();
                match self.join() {
                    Err(e) => Err(e),
                    Ok(_) => Err(self.stopped()),
                }
            }
        }
    }

    /// An empty buffer with room for `capacity` bytes: one the sink is done with, or new.
    pub fn buffer(&mut self, capacity: usize) -> Vec<u8> {
        let reused = match self {
            SinkHandle::Inline { spare, .. } => spare.pop(),
            SinkHandle::Threaded { back, .. } => back.try_recv().ok(),
        };
        let mut buf = reused.unwrap_or_default();
        buf.clear();
        buf.reserve(capacity);
        buf
    }

    fn stopped(&self) -> CanError {
        let path = match self {
            SinkHandle::Inline { sink, .. } => {
                sink.as_ref().map(|s| s.can_path.clone()).unwrap_or_default()
            }
            SinkHandle::Threaded { can_path, .. } => can_path.clone(),
        };
        CanError::invalid(&path, "internal error: the compressing thread stopped")
    }

    fn join(&mut self) -> Result<Sink, CanError> {
        let SinkHandle::Threaded { join, .. } = self else { return Err(self.stopped()) };
        match join.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(self.stopped()),
        }
    }

    /// Waits for every message to be handled and returns the sink.
    pub fn finish(mut self) -> Result<Sink, CanError> {
        match &mut self {
            SinkHandle::Inline { sink, .. } => match sink.take() {
                Some(sink) => Ok(*sink),
                None => Err(self.stopped()),
            },
            SinkHandle::Threaded { tx, .. } => {
                tx.take();
                self.join()
            }
        }
    }
}

impl Drop for SinkHandle {
    fn drop(&mut self) {
        if let SinkHandle::Threaded { tx, join, .. } = self {
            tx.take();
            if let Some(j) = join.take() {
                // Wait, so that the temporary files are gone when the writer is.
                let _ = j.join();
            }
        }
    }
}
