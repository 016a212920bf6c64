//! The errors of the packet recorder; each names its file and place and knows its exit code.

use std::io;
use std::path::PathBuf;

use vantage_core::{Exit, HasExit};

/// A capture file (pcap or pcapng) could not be read (spec §12).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file does not start with a pcap or pcapng magic number.
    #[error("{}: offset {offset}: bad magic {magic}: not a pcap or pcapng file", .path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// Where the magic was expected.
        offset: u64,
        /// The bytes found, in hex.
        magic: String,
    },
    /// A header, record or block ends before its length says.
    #[error("{}: offset {offset}: truncated {what}: {have} of {need} bytes", .path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where the truncated record or block starts.
        offset: u64,
        /// `file header`, `record`, `block`.
        what: &'static str,
        /// Bytes present.
        have: u64,
        /// Bytes needed.
        need: u64,
    },
    /// A record claims more captured bytes than any capture could hold.
    #[error("{}: offset {offset}: caplen {caplen} exceeds the maximum {max}", .path.display())]
    CaplenTooLarge {
        /// The file.
        path: PathBuf,
        /// Where the record starts.
        offset: u64,
        /// The captured length the record claims.
        caplen: u64,
        /// max(snaplen, 262144).
        max: u64,
    },
    /// A pcapng block length that is too small, not a multiple of 4, or disagrees with its
    /// trailing copy.
    #[error("{}: offset {offset}: bad pcapng block length {length}", .path.display())]
    BadBlockLength {
        /// The file.
        path: PathBuf,
        /// Where the block starts.
        offset: u64,
        /// The length found.
        length: u64,
    },
    /// A packet block names an interface no Interface Description Block defined.
    #[error("{}: offset {offset}: packet of undefined interface {interface}", .path.display())]
    UndefinedInterface {
        /// The file.
        path: PathBuf,
        /// Where the block starts.
        offset: u64,
        /// The interface id in the block.
        interface: u32,
    },
    /// Reading failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

impl ReadError {
    /// The reason code for `catalog_quarantine`.
    pub fn reason(&self) -> &'static str {
        match self {
            ReadError::BadMagic { .. } => "bad_magic",
            ReadError::Truncated { .. } => "truncated",
            ReadError::CaplenTooLarge { .. } => "caplen_too_large",
            ReadError::BadBlockLength { .. } => "bad_block_length",
            ReadError::UndefinedInterface { .. } => "undefined_interface",
            ReadError::Io { .. } => "io",
        }
    }

    /// The byte offset the error names, if any.
    pub fn offset(&self) -> Option<u64> {
        match self {
            ReadError::BadMagic { offset, .. }
            | ReadError::Truncated { offset, .. }
            | ReadError::CaplenTooLarge { offset, .. }
            | ReadError::BadBlockLength { offset, .. }
            | ReadError::UndefinedInterface { offset, .. } => Some(*offset),
            ReadError::Io { .. } => None,
        }
    }
}

impl HasExit for ReadError {
    fn exit(&self) -> Exit {
        match self {
            ReadError::Io { source, .. } => Exit::for_io(source),
            _ => Exit::Rejected,
        }
    }
}

/// A filter expression could not be parsed (spec §5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter {filter:?}: column {column}: {problem}")]
pub struct FilterError {
    /// The expression.
    pub filter: String,
    /// 1-based column of the offending token.
    pub column: usize,
    /// What is wrong.
    pub problem: String,
}

impl HasExit for FilterError {
    fn exit(&self) -> Exit {
        Exit::Usage
    }
}

/// A `[packets]` configuration problem (always exit 1).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A class option or a combination of options is invalid.
    #[error("[packets]: {0}")]
    Invalid(String),
    /// A class filter does not parse.
    #[error("[[packets.class]] {class:?}: {source}")]
    Filter {
        /// The class.
        class: String,
        /// The parse error.
        source: FilterError,
    },
    /// The foundation's configuration loader failed.
    #[error(transparent)]
    Core(#[from] vantage_core::ConfigError),
}

impl HasExit for ConfigError {
    fn exit(&self) -> Exit {
        Exit::Usage
    }
}

/// An index file could not be used (spec §3.5).
#[derive(Debug, thiserror::Error)]
pub enum VidxError {
    /// Shorter than its fields say.
    #[error("{}: offset {offset}: truncated index: {have} of {need} bytes", .path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where the short read starts.
        offset: u64,
        /// Bytes present.
        have: u64,
        /// Bytes needed.
        need: u64,
    },
    /// Not an index file, or damaged.
    #[error("{}: offset {offset}: {problem}", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where.
        offset: u64,
        /// What.
        problem: String,
    },
    /// Another major version.
    #[error("{}: index format {major}.{minor} not supported; run vantage packets reindex", .path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Its major version.
        major: u16,
        /// Its minor version.
        minor: u16,
    },
    /// Reading or writing failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

impl HasExit for VidxError {
    fn exit(&self) -> Exit {
        match self {
            VidxError::Io { source, .. } => Exit::for_io(source),
            _ => Exit::Storage,
        }
    }
}

/// Recording or querying failed on storage, configuration or input.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory operation failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The disk is full (ENOSPC or `min_free` unreachable).
    #[error("disk full on {}: recording stopped; {in_memory} packets in memory still queryable", .path.display())]
    DiskFull {
        /// Where the write failed.
        path: PathBuf,
        /// Packets still held in the memory ring.
        in_memory: u64,
    },
    /// Another recorder holds `recorder.lock`.
    #[error("{}: another recorder (pid {pid}) uses this packets directory; stop it first", .path.display())]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// The holder's pid as the file says.
        pid: String,
    },
    /// An index file problem.
    #[error(transparent)]
    Vidx(#[from] VidxError),
    /// A configuration problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A bad query (key or filter).
    #[error("{0}")]
    Query(String),
    /// A filter problem.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// The warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] vantage_warehouse::WarehouseError),
    /// The `packets` named lock is held.
    #[error(transparent)]
    Lock(#[from] vantage_warehouse::LockError),
    /// The data directory could not be used.
    #[error(transparent)]
    DataDir(#[from] vantage_core::DataDirError),
}

impl StoreError {
    /// Wraps an I/O error with its path, recognising a full disk.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> StoreError {
        let path = path.into();
        if source.raw_os_error() == Some(libc::ENOSPC) {
            StoreError::DiskFull { path, in_memory: 0 }
        } else {
            StoreError::Io { path, source }
        }
    }
}

impl HasExit for StoreError {
    fn exit(&self) -> Exit {
        match self {
            StoreError::Io { source, .. } => Exit::for_io(source),
            StoreError::DiskFull { .. } => Exit::Storage,
            StoreError::Busy { .. } => Exit::Busy,
            StoreError::Vidx(e) => e.exit(),
            StoreError::Config(_) | StoreError::Query(_) | StoreError::Filter(_) => Exit::Usage,
            StoreError::Warehouse(e) => e.exit(),
            StoreError::Lock(e) => e.exit(),
            StoreError::DataDir(e) => e.exit(),
        }
    }
}
