//! Errors of the passive stages; each names the file or session and knows its exit code.

use std::path::PathBuf;

use vantage_core::{Exit, HasExit};
use vantage_warehouse::{catalog::QuarantineError, LockError, WarehouseError};

/// A passive stage could not go on.
#[derive(Debug, thiserror::Error)]
pub enum PassiveError {
    /// Reading or writing a file.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// An input path that is neither an update, a tarball nor a directory.
    #[error("{}: not a tarball (.tar, .tar.gz, .tgz), update (.gz or plain) or directory", .0.display())]
    NotAnInput(PathBuf),
    /// The warehouse.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    /// Quarantining a file.
    #[error(transparent)]
    Quarantine(#[from] QuarantineError),
    /// The data directory.
    #[error(transparent)]
    Data(#[from] vantage_core::DataDirError),
    /// The `passive` lock.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// A stored body or state that does not decode (the warehouse was damaged).
    #[error("session {session}: update {seq}: {message}")]
    Stored {
        /// The session.
        session: String,
        /// The sequence number.
        seq: i64,
        /// What is wrong.
        message: String,
    },
    /// The test hook `VANTAGE_PASSIVE_CRASH_AFTER` stopped the run after that many commits.
    #[error("stopped after {0} commits (VANTAGE_PASSIVE_CRASH_AFTER)")]
    Crash(u64),
    /// A bad argument.
    #[error("{0}")]
    Usage(String),
}

impl HasExit for PassiveError {
    fn exit(&self) -> Exit {
        match self {
            PassiveError::Io { source, .. } => Exit::for_io(source),
            PassiveError::NotAnInput(_) | PassiveError::Usage(_) => Exit::Usage,
            PassiveError::Warehouse(e) => e.exit(),
            PassiveError::Quarantine(e) => e.exit(),
            PassiveError::Data(e) => e.exit(),
            PassiveError::Lock(e) => e.exit(),
            PassiveError::Stored { .. } => Exit::Storage,
            PassiveError::Crash(_) => Exit::Storage,
        }
    }
}

/// An I/O error with its path.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> PassiveError {
    let path = path.into();
    move |source| PassiveError::Io { path, source }
}
