//! The back half of the writer: compresses frames, writes them to the can's temporary
//! file, and writes the index lines once each frame's place in the file is known.
//!
//! The [`crate::framer::Framer`] decides what goes in which frame and sends [`Msg`]s; the
//! sink runs inline or on threads of its own ([`SinkHandle`]): frames are compressed in
//! parallel (they are independent) and written in order by one thread, so that on two
//! cores reading and hashing the input overlap LZ4 compression, as `tar | lz4` overlap.
//! Index lines travel with the frame they belong to, because their `frame_off` and
//! `frame_size` are only known once that frame is compressed. Memory is bounded by the
//! queues: a few frames (or 1 MiB chunks of a large unit) in flight.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use lz4_flex::frame::FrameEncoder;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use vantage_core::publish::Pending;

use crate::error::CanError;
use crate::frame;
use crate::index::{
    FileSummary, FrameEntry, IndexOut, Locator, MemberEntry, RecordEntry, RecordField,
};

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
    /// A kind's line to complete with figures of the record line just before it.
    Filled(Value, Vec<(String, RecordField)>),
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
    /// The last record line written, for `Line::Filled`.
    last_record: Option<RecordEntry>,
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
            last_record: None,
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
            Line::Filled(mut v, fill) => {
                let Some(rec) = &self.last_record else {
                    return Err(self.out_of_order("record figures asked for before any record"));
                };
                if let Value::Object(m) = &mut v {
                    for (name, f) in fill {
                        m.insert(name, rec.field(f).into());
                    }
                }
                v
            }
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
                let rec = RecordEntry {
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
                };
                let v = rec.to_json();
                self.last_record = Some(rec);
                v
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

/// A frame to compress, on its way to a compressing thread.
pub(crate) struct Job {
    seq: u64,
    text: Vec<u8>,
}

/// A compressed frame, on its way back to the writing thread.
struct Compressed {
    seq: u64,
    bytes: Vec<u8>,
}

/// What the writing thread receives, in stream order.
pub(crate) enum Ordered {
    /// Anything but a frame to compress: handled as is.
    Msg(Msg),
    /// Frame `seq`, compressed by some compressing thread: write it when it is back.
    Frame { seq: u64, text_len: u64, lines: Vec<Line>, anchor: bool },
}

impl Sink {
    /// Writes a frame compressed elsewhere (by [`compress_loop`]) and its lines.
    fn write_compressed(
        &mut self,
        bytes: &[u8],
        text_len: u64,
        lines: Vec<Line>,
        anchor: bool,
    ) -> Result<(), CanError> {
        let Some(out) = self.can.as_mut() else {
            return Err(self.out_of_order("frame inside a large unit"));
        };
        let start = out.off;
        out.frame_crc = crc32fast::Hasher::new();
        if let Err(e) = out.write_all(bytes) {
            return Err(self.can_err(e));
        }
        self.close_frame(start, text_len, lines, anchor)
    }
}

/// A compressing thread: frames in, compressed frames out, text buffers back to the
/// framer for reuse.
fn compress_loop(
    jobs: Arc<Mutex<Receiver<Job>>>,
    done: Sender<Compressed>,
    back: Sender<Vec<u8>>,
    pool: Arc<Mutex<Vec<Vec<u8>>>>,
) {
    loop {
        // The lock is held only while waiting for the next job.
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(Job { seq, mut text }) = job else { return };
        let mut out = pool.lock().ok().and_then(|mut p| p.pop()).unwrap_or_default();
        out.clear();
        // Encoding into memory cannot fail; an error would surface as a missing frame.
        let Ok(bytes) = frame::encode(&text, out) else { return };
        if done.send(Compressed { seq, bytes }).is_err() {
            return;
        }
        text.clear();
        let _ = back.send(text);
    }
}

/// The writing thread: writes frames in stream order as they come back compressed.
fn write_loop(
    mut sink: Sink,
    ordered: Receiver<Ordered>,
    done: Receiver<Compressed>,
    back: Sender<Vec<u8>>,
    pool: Arc<Mutex<Vec<Vec<u8>>>>,
) -> Result<Sink, CanError> {
    let mut early: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    for item in ordered {
        match item {
            Ordered::Msg(msg) => {
                if let Some(buf) = sink.handle(msg)? {
                    let _ = back.send(buf);
                }
            }
            Ordered::Frame { seq, text_len, lines, anchor } => {
                let bytes = loop {
                    if let Some(b) = early.remove(&seq) {
                        break b;
                    }
                    match done.recv() {
                        Ok(c) if c.seq == seq => break c.bytes,
                        Ok(c) => {
                            early.insert(c.seq, c.bytes);
                        }
                        Err(_) => return Err(sink.out_of_order("a compressing thread stopped")),
                    }
                };
                sink.write_compressed(&bytes, text_len, lines, anchor)?;
                if let Ok(mut p) = pool.lock() {
                    p.push(bytes);
                }
            }
        }
    }
    Ok(sink)
}

/// The sink, run inline, or on threads of its own: compressing threads (as many as there
/// are cores, up to 4) and one writing thread, so that on two cores reading and hashing
/// the input, compressing and writing all overlap.
pub(crate) enum SinkHandle {
    Inline {
        /// `None` once finished.
        sink: Option<Box<Sink>>,
        spare: Vec<Vec<u8>>,
    },
    Threaded {
        ordered: Option<SyncSender<Ordered>>,
        jobs: Option<SyncSender<Job>>,
        back: Receiver<Vec<u8>>,
        writer: Option<JoinHandle<Result<Sink, CanError>>>,
        compressors: Vec<JoinHandle<()>>,
        next_seq: u64,
        can_path: PathBuf,
    },
}

impl SinkHandle {
    /// Starts the sink, on threads of its own when `background`.
    pub fn start(sink: Sink, background: bool) -> Result<SinkHandle, CanError> {
        if !background {
            return Ok(SinkHandle::Inline { sink: Some(Box::new(sink)), spare: Vec::new() });
        }
        let can_path = sink.can_path.clone();
        let spawn_err = |e| CanError::io(&can_path, e);
        let n = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 4);
        let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Job>(2 * n);
        let (ordered_tx, ordered_rx) = mpsc::sync_channel::<Ordered>(QUEUE + 2 * n);
        let (done_tx, done_rx) = mpsc::channel::<Compressed>();
        let (back_tx, back) = mpsc::channel::<Vec<u8>>();
        let pool = Arc::new(Mutex::new(Vec::new()));
        let jobs_rx = Arc::new(Mutex::new(jobs_rx));
        let mut compressors = Vec::with_capacity(n);
        for i in 0..n {
            let (jobs, done, back, pool) =
                (jobs_rx.clone(), done_tx.clone(), back_tx.clone(), pool.clone());
            let t = std::thread::Builder::new()
                .name(format!("can-lz4-{i}"))
                .spawn(move || compress_loop(jobs, done, back, pool))
                .map_err(spawn_err)?;
            compressors.push(t);
        }
        // Only the compressing threads may hold senders of `done`: when they are all gone,
        // the writing thread must see it rather than wait forever.
        drop(done_tx);
        let writer = std::thread::Builder::new()
            .name("can-write".into())
            .spawn(move || write_loop(sink, ordered_rx, done_rx, back_tx, pool))
            .map_err(spawn_err)?;
        Ok(SinkHandle::Threaded {
            ordered: Some(ordered_tx),
            jobs: Some(jobs_tx),
            back,
            writer: Some(writer),
            compressors,
            next_seq: 0,
            can_path,
        })
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
            SinkHandle::Threaded { ordered, jobs, next_seq, .. } => {
                let sent = match msg {
                    Msg::Frame { text, lines, anchor } => {
                        let seq = *next_seq;
                        *next_seq += 1;
                        let text_len = text.len() as u64;
                        ordered.as_ref().is_some_and(|o| {
                            o.send(Ordered::Frame { seq, text_len, lines, anchor }).is_ok()
                        }) && jobs.as_ref().is_some_and(|j| j.send(Job { seq, text }).is_ok())
                    }
                    other => ordered.as_ref().is_some_and(|o| o.send(Ordered::Msg(other)).is_ok()),
                };
                if sent {
                    return Ok(());
                }
                // A thread stopped: the writing thread returned an error (or one panicked).
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
        CanError::invalid(&path, "internal error: a compressing or writing thread stopped")
    }

    /// Closes the queues and waits for every thread; the writing thread's result.
    fn join(&mut self) -> Result<Sink, CanError> {
        let SinkHandle::Threaded { ordered, jobs, writer, compressors, .. } = self else {
            return Err(self.stopped());
        };
        ordered.take();
        jobs.take();
        let result = writer.take().map(JoinHandle::join);
        for c in compressors.drain(..) {
            let _ = c.join();
        }
        match result {
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
            SinkHandle::Threaded { .. } => self.join(),
        }
    }
}

impl Drop for SinkHandle {
    fn drop(&mut self) {
        if let SinkHandle::Threaded { writer: Some(_), .. } = self {
            // Wait, so that the temporary files are gone when the writer is.
            let _ = self.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::FileHead;

    fn member(name: &str, size: u64, intra_off: u64, anchor: Option<u64>) -> Line {
        Line::Member(MemberDraft {
            name: name.into(),
            size,
            sha1: "s".into(),
            crc32: 0,
            mtime: 0,
            text_off: intra_off,
            records: anchor.map(|_| 0),
            intra_off,
            anchor,
        })
    }

    /// Sends `msgs` through a sink (inline or threaded); returns the can's bytes and the
    /// index lines.
    fn run(msgs: Vec<Msg>, background: bool) -> (Vec<u8>, Vec<Value>) {
        let dir = tempfile::tempdir().unwrap();
        let can = dir.path().join("s.tar.lz4");
        let index = dir.path().join("s.idx");
        let sink = Sink::new(
            Pending::create(&can).unwrap(),
            Pending::create(&index).unwrap(),
            &can,
            &index,
        );
        let mut h = SinkHandle::start(sink, background).unwrap();
        h.send(Msg::Lines(vec![Line::Ready(
            FileHead { filename: "s".into(), can_format: 1 }.to_json(),
        )]))
        .unwrap();
        for m in msgs {
            h.send(m).unwrap();
        }
        let done = h.finish().unwrap().finish().unwrap();
        done.index.commit(false).unwrap();
        done.can.commit(false).unwrap();
        let lines = crate::index::lines(&index).unwrap().map(|l| l.unwrap().1).collect();
        (std::fs::read(&can).unwrap(), lines)
    }

    fn of_type<'a>(lines: &'a [Value], ty: &str) -> Vec<&'a Value> {
        lines.iter().filter(|l| l["type"] == ty).collect()
    }

    #[test]
    fn anchored_members_start_at_their_anchor_even_when_sharing_it() {
        let msgs = || {
            vec![
                Msg::Frame {
                    text: vec![b'a'; 900],
                    lines: vec![member("empty", 0, 900, Some(0))],
                    anchor: true,
                },
                Msg::Frame {
                    text: vec![b'b'; 700],
                    // "m" started in frame 0 (anchored there) and ends here; "n" is all here.
                    lines: vec![
                        member("m", 1000, 100, Some(0)),
                        member("n", 0, 700, Some(1)),
                        member("raw", 5, 10, None),
                    ],
                    anchor: true,
                },
                Msg::BigBegin { len: 5000 },
                Msg::BigData(vec![b'c'; 3000]),
                Msg::BigData(vec![b'c'; 2000]),
                Msg::BigEnd { lines: vec![member("big", 4000, 512, None)], anchor: false },
            ]
        };
        let (bytes, lines) = run(msgs(), false);
        let frames = of_type(&lines, "frame");
        let members = of_type(&lines, "member");
        let off = |v: &Value, k: &str| v[k].as_u64().unwrap();
        assert_eq!(frames.len(), 3);
        assert_eq!(
            (off(members[0], "frame_off"), off(members[0], "frame_size")),
            (0, off(frames[0], "file_size"))
        );
        assert_eq!(off(members[1], "frame_off"), 0);
        assert_eq!(
            off(members[1], "frame_size"),
            off(frames[1], "file_off") + off(frames[1], "file_size")
        );
        assert_eq!(off(members[2], "frame_off"), off(frames[1], "file_off"));
        assert_eq!(off(members[3], "frame_off"), off(frames[1], "file_off"));
        assert_eq!(off(members[4], "frame_off"), off(frames[2], "file_off"));
        assert_eq!(off(frames[2], "text_size"), 5000);
        for f in &frames {
            let (a, b) =
                (off(f, "file_off") as usize, (off(f, "file_off") + off(f, "file_size")) as usize);
            assert_eq!(crc32fast::hash(&bytes[a..b]), f["file_crc32"].as_u64().unwrap() as u32);
        }
        assert!(run(msgs(), true).0 == bytes, "threaded and inline sinks differ");
    }

    #[test]
    fn filled_lines_get_the_last_records_figures() {
        let rec = Line::Record(RecordDraft {
            member: "m".into(),
            member_off: 7,
            size: 3,
            crc32: 9,
            text_off: 519,
            intra_off: 519,
        });
        let filled = Line::Filled(
            json!({"type": "datum"}),
            vec![("text_off".into(), RecordField::TextOff), ("n".into(), RecordField::Size)],
        );
        let (_, lines) = run(
            vec![Msg::Frame { text: vec![0; 1024], lines: vec![rec, filled], anchor: false }],
            false,
        );
        let datum = of_type(&lines, "datum")[0];
        assert_eq!((datum["text_off"].as_u64(), datum["n"].as_u64()), (Some(519), Some(3)));
    }

    #[test]
    fn a_sink_error_reaches_the_sender() {
        for background in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let can = dir.path().join("e.tar.lz4");
            let index = dir.path().join("e.idx");
            let sink = Sink::new(
                Pending::create(&can).unwrap(),
                Pending::create(&index).unwrap(),
                &can,
                &index,
            );
            let mut h = SinkHandle::start(sink, background).unwrap();
            // Data without a large unit open: the sink refuses; the error surfaces on this
            // send or a later one, or at finish.
            let first = h.send(Msg::BigData(vec![1]));
            let e = match first {
                Err(e) => e,
                Ok(()) => (0..QUEUE + 2)
                    .find_map(|_| h.send(Msg::Lines(Vec::new())).err())
                    .unwrap_or_else(|| h.finish().err().unwrap()),
            };
            assert!(e.to_string().contains("internal error"), "{e}");
        }
    }
}
