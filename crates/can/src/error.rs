//! The one error type of the can format.
//!
//! Every variant names the file and, where there is one, the byte offset (in the can: the
//! offset of the frame at fault) or the line (in the index), through core's [`Place`], so
//! that the message a user reads is `path: offset N: what is wrong`. Each variant knows its
//! exit code ([`HasExit`]) and a stable reason code ([`CanError::reason`]) for quarantine
//! rows and JSON errors.

use std::io;
use std::path::{Path, PathBuf};

use vantage_core::{Exit, HasExit, Place};

/// Which of the recorded figures a [`CanError::Checksum`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sum {
    /// The byte count.
    Size,
    /// The crc32.
    Crc32,
    /// The sha1.
    Sha1,
}

impl std::fmt::Display for Sum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sum::Size => "size",
            Sum::Crc32 => "crc32",
            Sum::Sha1 => "sha1",
        })
    }
}

/// What went wrong reading, writing or verifying a can or its index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CanError {
    /// Reading or writing a file failed (missing file: exit 1; anything else: exit 4).
    #[error("{place}: {source}")]
    Io {
        /// The file, and the offset when the failure had one.
        place: Place,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file is not a can: it does not start with an LZ4 frame.
    #[error("{place}: not a can: {why}")]
    NotACan {
        /// The file and offset (0).
        place: Place,
        /// What was found instead.
        why: String,
    },
    /// The frames decode, but what they hold is not the tar stream a can holds.
    #[error("{place}: not a tar stream: {why}")]
    NotTar {
        /// The can and the offset of the frame holding the bad tar block.
        place: Place,
        /// What is wrong with the block.
        why: String,
    },
    /// An LZ4 frame does not decode, or holds another size than its index line says.
    #[error("{place}: corrupt frame: {why}")]
    CorruptFrame {
        /// The can and the frame's offset.
        place: Place,
        /// What the decoder found.
        why: String,
    },
    /// A frame's compressed bytes do not have the crc32 its index line records.
    #[error("{place}: frame checksum mismatch: crc32 {actual:08x}, index says {expected:08x}")]
    FrameChecksum {
        /// The can and the frame's offset.
        place: Place,
        /// What the index records.
        expected: u32,
        /// What the bytes give.
        actual: u32,
    },
    /// A member's, record's or the whole file's bytes do not have the checksum the index
    /// records.
    #[error("{place}: {what}: {algo} mismatch: data has {actual}, index says {expected}")]
    Checksum {
        /// The can and the offset of the frame (run) holding the data.
        place: Place,
        /// What was checked: `member NAME`, `record N of member NAME`, `file`.
        what: String,
        /// Which checksum.
        algo: Sum,
        /// What the index records (boxed to keep the error small).
        expected: Box<str>,
        /// What the data give.
        actual: Box<str>,
    },
    /// Can and index disagree on structure: names, sizes, positions, frame layout.
    #[error("{place}: does not match its index: {why}")]
    Mismatch {
        /// The can and the offset where they part.
        place: Place,
        /// What differs.
        why: String,
    },
    /// The index beside a can is absent.
    #[error(
        "{}: index missing: a can is never published without its index, so this can was \
         damaged or copied alone; copy its index too or write the can again",
        .path.display()
    )]
    IndexMissing {
        /// The index path that was looked for.
        path: PathBuf,
    },
    /// An index line cannot be used: not JSON, a missing field, out of order, or the
    /// index's own checksum fails.
    #[error("{place}: bad index: {why}")]
    BadIndex {
        /// The index file and line.
        place: Place,
        /// What is wrong with the line.
        why: String,
    },
    /// The index was written in a can format this build does not read.
    #[error("{place}: can format {found} is not supported (this build reads {supported}); upgrade vantage")]
    Unsupported {
        /// The index file and line.
        place: Place,
        /// The format major found.
        found: u64,
        /// The format major this build reads.
        supported: u64,
    },
    /// The can holds no member of that name.
    #[error("{}: no member named {name:?}; list them with `tar -I lz4 -tf {}`", .path.display(), .path.display())]
    NoSuchMember {
        /// The can.
        path: PathBuf,
        /// The name asked for.
        name: String,
    },
    /// An input changed while it was being canned (its size is not what was announced).
    #[error("{place}: {why}; can it again once it stops changing")]
    InputChanged {
        /// The input file (or member name for a reader).
        place: Place,
        /// What changed.
        why: String,
    },
    /// The output can exists and holds other members than the input.
    #[error("{}: exists and differs from {}: {why}; remove it or write elsewhere", .path.display(), .input.display())]
    Differs {
        /// The existing can.
        path: PathBuf,
        /// The input directory.
        input: PathBuf,
        /// The first difference.
        why: String,
    },
    /// The caller asked for something invalid: a bad member name or option, calls out of
    /// order, an existing destination.
    #[error("{place}: {why}")]
    Invalid {
        /// The can (or input) concerned.
        place: Place,
        /// What is wrong and what to do.
        why: String,
    },
}

impl CanError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: io::Error) -> CanError {
        CanError::Io { place: Place::file(path), source }
    }

    /// An I/O error at `offset` of `path`.
    pub fn io_at(path: &Path, offset: u64, source: io::Error) -> CanError {
        CanError::Io { place: Place::at_offset(path, offset), source }
    }

    /// A caller error concerning `path`.
    pub fn invalid(path: &Path, why: impl Into<String>) -> CanError {
        CanError::Invalid { place: Place::file(path), why: why.into() }
    }

    /// Where the error happened, when it names a place (every variant but the few that
    /// name a path alone).
    pub fn place(&self) -> Option<&Place> {
        match self {
            CanError::Io { place, .. }
            | CanError::NotACan { place, .. }
            | CanError::NotTar { place, .. }
            | CanError::CorruptFrame { place, .. }
            | CanError::FrameChecksum { place, .. }
            | CanError::Checksum { place, .. }
            | CanError::Mismatch { place, .. }
            | CanError::BadIndex { place, .. }
            | CanError::Unsupported { place, .. }
            | CanError::InputChanged { place, .. }
            | CanError::Invalid { place, .. } => Some(place),
            CanError::IndexMissing { .. }
            | CanError::NoSuchMember { .. }
            | CanError::Differs { .. } => None,
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            CanError::IndexMissing { path }
            | CanError::NoSuchMember { path, .. }
            | CanError::Differs { path, .. } => path,
            other => match other.place() {
                Some(place) => &place.path,
                None => Path::new(""),
            },
        }
    }

    /// A stable snake_case code for quarantine rows, JSON errors and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            CanError::Io { .. } => "io",
            CanError::NotACan { .. } => "not_a_can",
            CanError::NotTar { .. } => "not_tar",
            CanError::CorruptFrame { .. } => "corrupt_frame",
            CanError::FrameChecksum { .. } => "frame_checksum",
            CanError::Checksum { .. } => "checksum_mismatch",
            CanError::Mismatch { .. } => "index_mismatch",
            CanError::IndexMissing { .. } => "index_missing",
            CanError::BadIndex { .. } => "bad_index",
            CanError::Unsupported { .. } => "unsupported_format",
            CanError::NoSuchMember { .. } => "no_such_member",
            CanError::InputChanged { .. } => "input_changed",
            CanError::Differs { .. } => "differs",
            CanError::Invalid { .. } => "invalid",
        }
    }
}

impl HasExit for CanError {
    fn exit(&self) -> Exit {
        match self {
            CanError::Io { source, .. } => Exit::for_io(source),
            CanError::NoSuchMember { .. } | CanError::Invalid { .. } => Exit::Usage,
            CanError::NotACan { .. }
            | CanError::NotTar { .. }
            | CanError::CorruptFrame { .. }
            | CanError::FrameChecksum { .. }
            | CanError::Checksum { .. }
            | CanError::Mismatch { .. }
            | CanError::IndexMissing { .. }
            | CanError::BadIndex { .. }
            | CanError::Unsupported { .. }
            | CanError::InputChanged { .. }
            | CanError::Differs { .. } => Exit::Rejected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_path_then_offset() {
        let cases = [
            (
                CanError::CorruptFrame {
                    place: Place::at_offset("a.tar.lz4", 4096),
                    why: "content checksum mismatch".into(),
                },
                "a.tar.lz4: offset 4096: corrupt frame: content checksum mismatch",
                Exit::Rejected,
                "corrupt_frame",
            ),
            (
                CanError::FrameChecksum {
                    place: Place::at_offset("a.tar.lz4", 0),
                    expected: 1,
                    actual: 0xabc,
                },
                "a.tar.lz4: offset 0: frame checksum mismatch: crc32 00000abc, index says 00000001",
                Exit::Rejected,
                "frame_checksum",
            ),
            (
                CanError::BadIndex {
                    place: Place::at_line("a.tar.lz4.index.jsonl", 3),
                    why: "not JSON".into(),
                },
                "a.tar.lz4.index.jsonl: line 3: bad index: not JSON",
                Exit::Rejected,
                "bad_index",
            ),
            (
                CanError::io(Path::new("gone.tar.lz4"), io::ErrorKind::NotFound.into()),
                "gone.tar.lz4: entity not found",
                Exit::Usage,
                "io",
            ),
            (
                CanError::io(Path::new("ro"), io::ErrorKind::PermissionDenied.into()),
                "ro: permission denied",
                Exit::Storage,
                "io",
            ),
            (
                CanError::NoSuchMember { path: "a.tar.lz4".into(), name: "x".into() },
                "a.tar.lz4: no member named \"x\"; list them with `tar -I lz4 -tf a.tar.lz4`",
                Exit::Usage,
                "no_such_member",
            ),
        ];
        for (err, msg, exit, reason) in cases {
            assert_eq!(err.to_string(), msg);
            assert!(!err.to_string().contains('\n'));
            assert_eq!(err.exit(), exit, "{msg}");
            assert_eq!(err.reason(), reason);
        }
    }

    #[test]
    fn path_is_reported_for_every_shape() {
        let e = CanError::IndexMissing { path: "x.index.jsonl".into() };
        assert_eq!(e.path(), Path::new("x.index.jsonl"));
        assert!(e.place().is_none());
        let e = CanError::invalid(Path::new("c.tar.lz4"), "bad");
        assert_eq!(e.path(), Path::new("c.tar.lz4"));
    }
}
