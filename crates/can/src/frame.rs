//! LZ4 frames: how a can compresses its tar stream, and how readers decode it.
//!
//! Every frame is a standard, independent LZ4 frame (lz4_flex's fast mode, the same
//! algorithm as `lz4 -1`) with its content size and content checksum set and independent
//! blocks, so a frame decodes alone and the concatenation of all frames is an ordinary
//! `.lz4` file (`lz4 -dc`, `tar -I lz4`). A frame's content is at most the frame target,
//! except a frame holding one unit larger than the target, which holds that unit alone.

use std::io::{self, Read, Write};

use lz4_flex::frame::{BlockMode, BlockSize, FrameDecoder, FrameEncoder, FrameInfo};

/// The four bytes every LZ4 frame starts with (0x184D2204, little-endian).
pub const LZ4_MAGIC: [u8; 4] = [0x04, 0x22, 0x4D, 0x18];

/// The default frame target: uncompressed bytes per frame (DESIGN.md's Conventions).
pub const DEFAULT_FRAME_TARGET: usize = 256 * 1024;

/// The smallest frame target accepted: below it, frame overhead dominates.
pub const MIN_FRAME_TARGET: usize = 1024;

/// The largest frame target accepted: the writer holds one frame in memory.
pub const MAX_FRAME_TARGET: usize = 64 * 1024 * 1024;

/// The frame description for `len` bytes of content.
///
/// The block size is the smallest LZ4 block size holding the whole content, so that a
/// frame under the target is one block; larger frames use 4 MiB blocks, as `lz4` does.
pub(crate) fn frame_info(len: u64) -> FrameInfo {
    let block_size = if len <= 64 << 10 {
        BlockSize::Max64KB
    } else if len <= 256 << 10 {
        BlockSize::Max256KB
    } else if len <= 1 << 20 {
        BlockSize::Max1MB
    } else {
        BlockSize::Max4MB
    };
    FrameInfo::new()
        .content_size(Some(len))
        .block_size(block_size)
        .block_mode(BlockMode::Independent)
        .content_checksum(true)
}

/// Compresses `text` as one whole frame onto `out`.
pub(crate) fn encode<W: Write>(text: &[u8], out: W) -> io::Result<W> {
    let mut enc = FrameEncoder::with_frame_info(frame_info(text.len() as u64), out);
    enc.write_all(text)?;
    enc.finish().map_err(io::Error::from)
}

/// An encoder for one frame of `len` bytes fed in pieces (a unit larger than the target).
pub(crate) fn encoder<W: Write>(len: u64, out: W) -> FrameEncoder<W> {
    FrameEncoder::with_frame_info(frame_info(len), out)
}

/// Decodes a run of consecutive frames as one stream.
///
/// lz4_flex's decoder reports the end of each frame as an end of stream, and is not meant
/// to be reused across frames of different block sizes (it debug-asserts its buffer
/// size); so each frame gets a decoder of its own, and the stream ends when a frame end is
/// followed by the end of the input. (A can holds no empty frame.)
pub(crate) struct Frames<R: Read> {
    /// `None` once the input is exhausted.
    dec: Option<FrameDecoder<R>>,
}

impl<R: Read> Frames<R> {
    /// Decodes the frames read from `r`.
    pub fn new(r: R) -> Frames<R> {
        Frames { dec: Some(FrameDecoder::new(r)) }
    }
}

impl<R: Read> Read for Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let Some(dec) = self.dec.as_mut() else { return Ok(0) };
        let n = dec.read(buf)?;
        if n > 0 {
            return Ok(n);
        }
        // The frame ended: a fresh decoder for the next one, if there is one.
        let Some(old) = self.dec.take() else { return Ok(0) };
        let mut next = FrameDecoder::new(old.into_inner());
        let n = next.read(buf)?;
        if n > 0 {
            self.dec = Some(next);
        }
        Ok(n)
    }
}

/// Decodes the frames in `compressed` (one frame or a run of consecutive ones) up to `want`
/// bytes of content; fewer when the frames hold fewer.
pub(crate) fn decode_prefix(compressed: &[u8], want: u64) -> Result<Vec<u8>, String> {
    // LZ4 expands at most ~255x; never trust `want` for the allocation beyond that.
    let cap = want.min(compressed.len() as u64 * 256).min(1 << 30);
    let mut out = Vec::with_capacity(cap as usize);
    Frames::new(compressed).take(want).read_to_end(&mut out).map_err(|e| describe(&e))?;
    Ok(out)
}

/// A one-line description of a decoding error, in the user's words.
pub(crate) fn describe(e: &io::Error) -> String {
    use lz4_flex::frame::Error as E;
    let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<E>()) else {
        return match e.kind() {
            io::ErrorKind::UnexpectedEof => "frame is truncated".into(),
            _ => e.to_string(),
        };
    };
    match inner {
        E::WrongMagicNumber => "no LZ4 frame magic".into(),
        E::HeaderChecksumError => "frame header checksum mismatch".into(),
        E::ContentChecksumError => "content checksum mismatch".into(),
        E::BlockChecksumError => "block checksum mismatch".into(),
        E::BlockTooBig => "block larger than the frame's block size".into(),
        E::InvalidBlockInfo => "malformed block header".into(),
        E::ReservedBitsSet => "reserved bits set in frame header".into(),
        E::UnsupportedBlocksize(b) => format!("unsupported block size code {b}"),
        E::UnsupportedVersion(v) => format!("unsupported frame version {v}"),
        E::DecompressionError(d) => format!("block does not decompress: {d}"),
        E::ContentLengthError { expected, actual } => {
            format!("frame holds {actual} bytes, its header says {expected}")
        }
        E::SkippableFrame(_) => "skippable frame where a data frame must be".into(),
        E::DictionaryNotSupported => "frame needs a dictionary".into(),
        other => format!("{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| b"{\"probe_cc\":\"IT\",\"n\":12345}\n"[i % 28]).collect()
    }

    #[test]
    fn one_frame_round_trips_and_starts_with_magic() {
        for n in [0, 1, 1000, DEFAULT_FRAME_TARGET, 3 << 20] {
            let text = sample(n);
            let z = encode(&text, Vec::new()).unwrap();
            assert_eq!(z[..4], LZ4_MAGIC);
            assert!(decode_prefix(&z, u64::MAX).unwrap() == text, "{n}");
            assert!(decode_prefix(&z, 10).unwrap() == text[..n.min(10)]);
        }
    }

    #[test]
    fn concatenated_frames_decode_as_one_stream() {
        let (a, b) = (sample(5000), sample(7000));
        let mut z = encode(&a, Vec::new()).unwrap();
        z = encode(&b, z).unwrap();
        assert!(decode_prefix(&z, u64::MAX).unwrap() == [a, b].concat());
    }

    #[test]
    fn frames_of_different_block_sizes_decode_as_one_stream() {
        let parts = [sample(3 << 20), sample(100), sample(300_000), sample(70_000), sample(10)];
        let mut z = Vec::new();
        for p in &parts {
            z = encode(p, z).unwrap();
        }
        assert!(decode_prefix(&z, u64::MAX).unwrap() == parts.concat());
    }

    #[test]
    fn streamed_frame_equals_content_size() {
        let text = sample(5 << 20);
        let mut enc = encoder(text.len() as u64, Vec::new());
        for chunk in text.chunks(100_000) {
            enc.write_all(chunk).unwrap();
        }
        let z = enc.finish().unwrap();
        assert!(decode_prefix(&z, u64::MAX).unwrap() == text);
    }

    #[test]
    fn damage_is_described() {
        let z = encode(&sample(10_000), Vec::new()).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..z.len() {
            let mut bad = z.clone();
            bad[i] ^= 0x40;
            match decode_prefix(&bad, u64::MAX) {
                Err(why) => {
                    seen.insert(why);
                }
                // A flip the decoder cannot see (it is blind to truncation) yields
                // another length; the can's index catches it.
                Ok(out) => assert!(out != sample(10_000), "flip at {i} unseen"),
            }
        }
        assert!(seen.iter().any(|w| w.contains("magic")), "{seen:?}");
        assert!(seen.iter().any(|w| w.contains("checksum")), "{seen:?}");
    }
}
