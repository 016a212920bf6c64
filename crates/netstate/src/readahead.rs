//! Reading ahead: the next file of a run is read, hashed, parsed and turned into merge
//! items on a thread of its own while the current file's transaction runs, so the
//! warehouse does not wait for the client's parsing between files, nor the client for
//! the warehouse.
//!
//! Only work that needs no warehouse is done ahead: a table defined in the warehouse
//! (not shipped) is parsed when its turn comes, after its definition is read. Every
//! decision (skip, reject, duplicate, apply) is still taken in run order by the importer,
//! from these results, exactly as if the file had been read at its turn.

use std::path::Path;
use std::thread::Scope;

use crate::itemize::{itemize, FileOrder, Itemized};
use crate::name::FileName;
use crate::parse::{parse_file, Line, ParseError};
use crate::schema::{builtin, TableDef};

/// What reading one file ahead found.
pub(crate) enum Ahead {
    /// Zero bytes.
    Empty,
    /// The name is not `TABLE-FIRST-LAST-SERIAL.sql`; not read.
    BadName,
    /// Read and hashed (boxed: a parsed file's lines and items are the large case).
    Read(Box<ReadFile>),
}

/// A file read and hashed, parsed when its table is a shipped one.
pub(crate) struct ReadFile {
    /// The parsed name.
    pub name: FileName,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes, hex.
    pub sha: String,
    /// Its lines, or its bytes when its table's definition must be read first.
    pub content: Content,
}

/// A read file's content: parsed ahead (shipped tables), or left for its turn.
pub(crate) enum Content {
    /// The parse and its merge items, with the shipped definition.
    Parsed(Result<(Vec<Line>, Itemized), ParseError>),
    /// The bytes of a table defined in the warehouse.
    Raw(Vec<u8>),
}

impl Content {
    /// The file's lines under `def`, parsing now what was not parsed ahead, and their
    /// merge items when they were built ahead.
    pub fn lines(self, def: &TableDef) -> Result<(Vec<Line>, Option<Itemized>), ParseError> {
        match self {
            Content::Parsed(parsed) => parsed.map(|(lines, items)| (lines, Some(items))),
            Content::Raw(bytes) => parse_file(&bytes, def).map(|lines| (lines, None)),
        }
    }
}

/// Reads `path` (named `name`): size, name, bytes, hash and, for a shipped table, parse.
pub(crate) fn read(path: &Path, name: &str) -> std::io::Result<Ahead> {
    let size = std::fs::metadata(path)?.len();
    if size == 0 {
        return Ok(Ahead::Empty);
    }
    let Some(fname) = FileName::parse(name) else { return Ok(Ahead::BadName) };
    let bytes = std::fs::read(path)?;
    let sha = vantage_core::hash::sha256_hex(&bytes);
    let content = match builtin(&fname.table) {
        Some(def) => Content::Parsed(parse_file(&bytes, &def).map(|lines| {
            let file = FileOrder { name: name.into(), first: fname.first, serial: fname.serial };
            let items = itemize(&lines, &file, &def.keys(), &def.copies());
            (lines, items)
        })),
        None => Content::Raw(bytes),
    };
    Ok(Ahead::Read(Box::new(ReadFile { name: fname, size, sha, content })))
}

/// How many files may wait, read, for the importer: with the one being read, at most two
/// files' lines are held besides the current one's.
const QUEUE: usize = 1;

/// The files of a run, read in run order on one thread of their own, ahead of the
/// importer: a large file is parsed while the small ones before it are applied.
pub(crate) struct ReadAhead<'env> {
    names: &'env [String],
    next: usize,
    rx: std::sync::mpsc::Receiver<std::io::Result<Ahead>>,
}

impl<'env> ReadAhead<'env> {
    /// Starts reading `names` (in `dir`) on a thread of `scope`; it stops early when the
    /// importer stops taking files.
    pub fn new<'scope>(
        scope: &'scope Scope<'scope, 'env>,
        dir: &'env Path,
        names: &'env [String],
    ) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        scope.spawn(move || {
            for name in names {
                if tx.send(read(&dir.join(name), name)).is_err() {
                    return;
                }
            }
        });
        ReadAhead { names, next: 0, rx }
    }

    /// The next file's name and what reading it found.
    pub fn next_file(&mut self) -> Option<(&'env str, std::io::Result<Ahead>)> {
        let name = self.names.get(self.next)?.as_str();
        self.next += 1;
        // The reader sends one result per name; it ends early only by panicking.
        let found = self.rx.recv().ok()?;
        Some((name, found))
    }
}
