//! Errors of the reports stages, each naming its file and place and knowing its exit code.

use std::path::PathBuf;

use vantage_core::{Exit, HasExit};

/// Everything a reports stage can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ReportsError {
    /// Reading or writing a file.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The warehouse.
    #[error(transparent)]
    Warehouse(#[from] vantage_warehouse::WarehouseError),
    /// A can (boxed: the foundation's error is large, and every result carries it).
    #[error(transparent)]
    Can(Box<vantage_can::CanError>),
    /// The data directory.
    #[error(transparent)]
    DataDir(#[from] vantage_core::DataDirError),
    /// The `reports` lock.
    #[error(transparent)]
    Lock(#[from] vantage_warehouse::LockError),
    /// Quarantining an input.
    #[error(transparent)]
    Quarantine(#[from] vantage_warehouse::catalog::QuarantineError),
    /// The bridge database.
    #[error(transparent)]
    BridgeDb(#[from] crate::normalize::sanitize::BridgeDbError),
    /// A bad argument or configuration value.
    #[error("{0}")]
    Usage(String),
    /// A measurement id that no datum has.
    #[error("no measurement {0}; ids are measurement_uid, the UUID `id`, or msm:<n>")]
    NotFound(String),
    /// An `id` several datums share.
    #[error("id {id} is shared by {} measurements: {}; show one by its measurement_uid", .uids.len(), .uids.join(", "))]
    Ambiguous {
        /// The id asked for.
        id: String,
        /// The uids holding it.
        uids: Vec<String>,
    },
    /// Not enough free space for a stage's output.
    #[error("{}: {available} bytes free, {needed} needed (1.2 x estimated output + reports.min_free); free some space or lower reports.min_free", .path.display())]
    NoSpace {
        /// The directory written to.
        path: PathBuf,
        /// Bytes available.
        available: u64,
        /// Bytes needed.
        needed: u64,
    },
    /// A fingerprint CSV that cannot be loaded (`file:line: reason`).
    #[error(transparent)]
    Fingerprints(#[from] crate::fingerprint::FingerprintError),
    /// A clean can centrifugation cannot act on.
    #[error("{filename}: {message}")]
    Centrifuge {
        /// `<bucket>/<can>`.
        filename: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A stored can that does not match what the catalog says it holds.
    #[error("{}: {message}; check it with `vantage can verify`", .path.display())]
    Mismatch {
        /// The can.
        path: PathBuf,
        /// What differs.
        message: String,
    },
}

impl From<vantage_can::CanError> for ReportsError {
    fn from(e: vantage_can::CanError) -> ReportsError {
        ReportsError::Can(Box::new(e))
    }
}

impl ReportsError {
    /// An I/O error on a path.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ReportsError {
        let path = path.into();
        move |source| ReportsError::Io { path, source }
    }
}

impl HasExit for ReportsError {
    fn exit(&self) -> Exit {
        match self {
            ReportsError::Io { source, .. } => Exit::for_io(source),
            ReportsError::Warehouse(e) => e.exit(),
            ReportsError::Can(e) => e.exit(),
            ReportsError::DataDir(e) => e.exit(),
            ReportsError::Lock(e) => e.exit(),
            ReportsError::Quarantine(_) => Exit::Storage,
            ReportsError::BridgeDb(_) | ReportsError::Usage(_) => Exit::Usage,
            ReportsError::NotFound(_) | ReportsError::Ambiguous { .. } => Exit::Usage,
            ReportsError::Mismatch { .. } => Exit::Rejected,
            ReportsError::NoSpace { .. } => Exit::Storage,
            ReportsError::Fingerprints(_) => Exit::Rejected,
            ReportsError::Centrifuge { .. } => Exit::Usage,
        }
    }
}
