//! The can: the archive format every Vantage kind keeps raw and cleaned data in.
//!
//! A can (`FILE.tar.lz4`) is a tar stream compressed as a sequence of independent LZ4
//! frames, so the whole file is an ordinary `.tar.lz4` (`tar -I lz4 -xf`, `lz4 -dc`), and
//! its index (`FILE.tar.lz4.index.jsonl`, [`index`]) says where every member and record
//! is, so that any of them is read with one seek and one frame decompression. A unit of
//! random access — a member in a raw can, a record (one JSON line) in a clean can — never
//! spans two frames unless it is larger than the frame target (DESIGN.md's Conventions).
//!
//! - [`Writer`] streams a can out (members from readers, or records), and publishes can
//!   and index atomically, read-only, index first; [`write_dir`] cans a directory, and
//!   verifies instead of rewriting when the can exists.
//! - [`Can`] opens a can with its index and reads members and records, checked against
//!   their checksums; [`read_at`] reads a [`Locator`] kept elsewhere.
//! - [`verify()`] re-checks every frame, member, record and the whole file against the
//!   index, and names the first mismatch with its file and offset.
//! - [`Index`] loads an index; [`index::lines_of_type`] reads the lines a kind added with
//!   [`Writer::add_index_line`] or [`Writer::add_record_index_line`].
//! - [`CanError`] is every failure, with its exit code ([`vantage_core::HasExit`]).
#![deny(missing_docs)]

mod checksum;
mod dir;
mod error;
mod frame;
mod framer;
mod header;
pub mod index;
mod reader;
mod scan;
mod sink;
mod spool;
mod stale;
mod verify;
mod writer;

pub use crate::{
    dir::{list_dir, write_dir, write_dir_with_progress, DirEntry, WriteOutcome},
    error::{CanError, Sum},
    frame::{DEFAULT_FRAME_TARGET, LZ4_MAGIC, MAX_FRAME_TARGET, MIN_FRAME_TARGET},
    header::{check_member_name, MAX_NAME_LEN},
    index::{
        index_path, FileHead, FileSummary, FrameEntry, Index, Locator, MemberEntry, RecordEntry,
        RecordField,
    },
    reader::{read_at, Can},
    verify::{verify, verify_with_index},
    writer::{CanSummary, MemberInfo, Writer, WriterOptions},
};
