//! Exit codes and error places shared by every crate.
//!
//! Each library error knows which of the conventions' exit codes it maps to; only the
//! binary prints and exits. [`Place`] is how an error names where in a file it happened.

use std::fmt;
use std::path::PathBuf;

/// The exit codes of DESIGN.md's Conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// 0: success.
    Success = 0,
    /// 1: bad arguments, missing or wrong paths, bad config.
    Usage = 1,
    /// 2: a lock is held by another live run.
    Busy = 2,
    /// 3: at least one input was rejected or quarantined.
    Rejected = 3,
    /// 4: warehouse unreachable, disk full, permission denied on the data directory.
    Storage = 4,
}

impl Exit {
    /// The numeric process exit status.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The exit code an I/O error on a user-named path deserves: a missing path is the
    /// user's mistake (1), anything else is storage trouble (4).
    pub fn for_io(e: &std::io::Error) -> Exit {
        match e.kind() {
            std::io::ErrorKind::NotFound => Exit::Usage,
            _ => Exit::Storage,
        }
    }
}

/// Implemented by every error type that can reach the binary, so that the exit code is
/// decided where the error is understood, not guessed at the edge.
pub trait HasExit {
    /// The conventions' exit code for this error.
    fn exit(&self) -> Exit;
}

/// Where in a file something happened: the path and, when known, a byte offset or line.
///
/// Displayed as `path: offset N` or `path: line N`, the prefix every error message starts
/// with so that a user never bisects a large file by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The file.
    pub path: PathBuf,
    /// Byte offset in the file, when the error has one.
    pub offset: Option<u64>,
    /// 1-based line number, when the error has one.
    pub line: Option<u64>,
}

impl Place {
    /// A whole file, no position.
    pub fn file(path: impl Into<PathBuf>) -> Place {
        Place { path: path.into(), offset: None, line: None }
    }

    /// A byte offset in a file.
    pub fn at_offset(path: impl Into<PathBuf>, offset: u64) -> Place {
        Place { path: path.into(), offset: Some(offset), line: None }
    }

    /// A line of a text file.
    pub fn at_line(path: impl Into<PathBuf>, line: u64) -> Place {
        Place { path: path.into(), offset: None, line: Some(line) }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ": line {line}")?;
        }
        if let Some(offset) = self.offset {
            write!(f, ": offset {offset}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn place_displays_path_then_position() {
        assert_eq!(Place::file("a.pcap").to_string(), "a.pcap");
        assert_eq!(Place::at_offset("a.pcap", 24).to_string(), "a.pcap: offset 24");
        assert_eq!(Place::at_line("f.sql", 3).to_string(), "f.sql: line 3");
    }

    #[test]
    fn missing_path_is_usage_other_io_is_storage() {
        let nf = std::io::Error::from(std::io::ErrorKind::NotFound);
        let pd = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(Exit::for_io(&nf), Exit::Usage);
        assert_eq!(Exit::for_io(&pd), Exit::Storage);
    }
}
