//! Warehouse errors, each with its exit code.

use vantage_core::{Exit, HasExit};

/// A warehouse operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// The database could not be opened or reached.
    #[error("warehouse {target}: cannot connect: {message}")]
    Unavailable {
        /// The file or URL (password removed).
        target: String,
        /// The driver's message.
        message: String,
    },
    /// A statement failed.
    #[error("{message} (in: {sql})")]
    Statement {
        /// The statement, shortened.
        sql: String,
        /// The driver's message.
        message: String,
        /// True when the cause is storage (disk full, I/O, read-only), not the statement.
        storage: bool,
    },
    /// A value could not be converted for or from the database.
    #[error("{0}")]
    Conversion(String),
    /// The URL is not one Vantage understands.
    #[error("warehouse URL {0:?}: use postgres://user@host/db (or postgresql://), or leave it unset for the SQLite file in the data directory")]
    BadUrl(String),
    /// A migration failed.
    #[error("migration {owner} {version} ({name}): {message}")]
    Migration {
        /// The owning kind.
        owner: String,
        /// Its version.
        version: u32,
        /// Its name.
        name: String,
        /// Why.
        message: String,
    },
    /// The database holds a schema newer than this build knows.
    #[error("warehouse schema for {owner} is at version {found}, newer than this build's {known}; upgrade vantage")]
    TooNew {
        /// The owning kind.
        owner: String,
        /// Version found.
        found: u32,
        /// Newest version known.
        known: u32,
    },
}

impl HasExit for WarehouseError {
    fn exit(&self) -> Exit {
        match self {
            WarehouseError::Unavailable { .. } => Exit::Storage,
            WarehouseError::Statement { storage: true, .. } => Exit::Storage,
            WarehouseError::BadUrl(_) | WarehouseError::TooNew { .. } => Exit::Usage,
            _ => Exit::Usage,
        }
    }
}

/// Shortens a statement for an error message.
pub(crate) fn short_sql(sql: &str) -> String {
    let one_line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.len() > 120 {
        let mut cut = 117;
        while !one_line.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}...", &one_line[..cut])
    } else {
        one_line
    }
}
