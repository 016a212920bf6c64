//! `vantage netstate import` (spec §3): one run over an import directory, files in run
//! order, each in its own transaction with its load-log entry, then moved to LOADED.
//!
//! A crash inside a transaction rolls it back; between commit and move the next run finds
//! (source, name, sha256) in the load log and only moves the file. Nothing is applied
//! twice. The first rejected file stops the run (spec §3.1 "Why stop at the first
//! failure") and stays in place with one `catalog_quarantine` row per distinct content.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vantage_core::{DataDir, Exit, HasExit, Timestamp};
use vantage_warehouse::catalog::{self, Partition, PartitionState, QuarantineMode};
use vantage_warehouse::{Lock, LockError, Sql, Warehouse, WarehouseError};

use crate::apply::{apply_lines, Batch};
use crate::dirlock::{DirLock, DirLockError};
use crate::loadlog::{self, LoadEntry};
use crate::merge::OpenSet;
use crate::name::run_order;
use crate::parse::Reason;
use crate::readahead::{Ahead, ReadAhead, ReadFile};
use crate::schema::{TableDef, TableKind};
use crate::store::{self, names};
use crate::{snapshot, tables};

/// The importer's code version, recorded in `catalog_processor_versions`.
pub const CODE_VERSION: u32 = 1;
/// The named warehouse lock every netstate stage takes.
pub const LOCK_NAME: &str = "netstate-import";
/// Default `--snapshot-every`.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 10_000;

/// What one import run is asked to do.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Import directory; `None`: `inbox/netstate/<source>/` (created).
    pub import_dir: Option<PathBuf>,
    /// Loaded directory; `None`: `archive/netstate/<source>/` (created).
    pub loaded_dir: Option<PathBuf>,
    /// Source name.
    pub source: String,
    /// Snapshot every N rows created (0: on every watermark advance).
    pub snapshot_every: u64,
    /// Seconds to keep retrying the warehouse lock `netstate-import` (0: fail at once).
    pub wait_secs: u64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            import_dir: None,
            loaded_dir: None,
            source: "default".into(),
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            wait_secs: 0,
        }
    }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied and moved.
    Loaded {
        /// Records in it.
        rows: i64,
    },
    /// Same name and bytes loaded before: moved, nothing applied.
    Duplicate,
    /// Zero bytes: left in place (probably still being written).
    SkippedEmpty,
    /// Rejected: left in place; the run stopped here.
    Rejected(Rejection),
}

impl Outcome {
    /// The word the spec prints: `loaded`, `duplicate`, `skipped-empty`, `rejected`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Loaded { .. } => "loaded",
            Outcome::Duplicate => "duplicate",
            Outcome::SkippedEmpty => "skipped-empty",
            Outcome::Rejected(_) => "rejected",
        }
    }
}

/// A rejected file: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The file as found in the import directory.
    pub path: PathBuf,
    /// Its name.
    pub file: String,
    /// Line of the offending record (`None` for name-level codes).
    pub line: Option<u64>,
    /// Reason code.
    pub reason: Reason,
    /// What was wrong.
    pub detail: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}: {}", self.path.display(), self.reason, self.detail),
            None => write!(f, "{}: {}: {}", self.path.display(), self.reason, self.detail),
        }
    }
}

/// One file's line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// File name.
    pub file: String,
    /// What happened.
    pub outcome: Outcome,
}

/// The result of a run that got as far as the files.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Per file, in run order, up to the stop.
    pub files: Vec<FileReport>,
    /// Records applied.
    pub rows: u64,
    /// Wall time of the run, seconds.
    pub seconds: f64,
    /// The previous holder when a stale directory lock was recovered.
    pub recovered_stale_lock: Option<String>,
}

impl ImportReport {
    /// The rejection that stopped the run, if any (exit 3).
    pub fn rejection(&self) -> Option<&Rejection> {
        self.files.iter().find_map(|f| match &f.outcome {
            Outcome::Rejected(r) => Some(r),
            _ => None,
        })
    }
}

/// An import run could not do its work (a rejected file is not this: see
/// [`ImportReport::rejection`]).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The source name breaks `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`.
    #[error("source {0:?}: use 1-64 of A-Z a-z 0-9 . _ - (starting with a letter or digit)")]
    BadSource(String),
    /// A given directory is missing, not a directory or not writable.
    #[error("{}: {why}", .path.display())]
    BadDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The source was retired.
    #[error("source {0} is retired; it no longer imports")]
    Retired(String),
    /// The import directory's lock is held.
    #[error(transparent)]
    DirLock(#[from] DirLockError),
    /// The warehouse lock is held or failed.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    /// Reading or moving a file failed for a reason not tied to its content.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl HasExit for ImportError {
    fn exit(&self) -> Exit {
        match self {
            ImportError::BadSource(_) | ImportError::BadDir { .. } | ImportError::Retired(_) => {
                Exit::Usage
            }
            ImportError::DirLock(DirLockError::Busy { .. }) => Exit::Busy,
            ImportError::DirLock(DirLockError::Io { .. }) => Exit::Storage,
            ImportError::Lock(e) => e.exit(),
            ImportError::Warehouse(e) => match e.exit() {
                Exit::Usage => Exit::Storage,
                other => other,
            },
            ImportError::Io { .. } => Exit::Storage,
        }
    }
}

/// True when `name` is a valid source name.
pub fn valid_source(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=64).contains(&b.len())
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

fn check_dir(path: &Path) -> Result<(), ImportError> {
    let bad = |why: &str| ImportError::BadDir { path: path.to_path_buf(), why: why.into() };
    let meta =
        std::fs::metadata(path).map_err(|e| bad(&format!("{e}; give an existing directory")))?;
    if !meta.is_dir() {
        return Err(bad("not a directory"));
    }
    if !writable(path) {
        return Err(bad("not writable"));
    }
    Ok(())
}

/// True when this process may create files in `path` (access(2) knows about root, ACLs
/// and read-only mounts; mode bits alone do not).
fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: a valid NUL-terminated path; access(2) reads it only.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// Applies the shared migrations and upgrades tables of older storage layouts
/// (idempotent).
pub fn migrate(wh: &mut Warehouse) -> Result<(), WarehouseError> {
    wh.migrate("netstate", store::MIGRATIONS)?;
    wh.transaction(|tx| store::upgrade_all(tx))
}

/// Fails with a clear message when the netstate tables do not exist yet (queries run on
/// any [`Sql`], which cannot migrate).
pub(crate) fn migrate_sql(db: &mut dyn Sql) -> Result<(), WarehouseError> {
    let applied =
        db.query_i64("SELECT COUNT(*) FROM catalog_migrations WHERE owner = 'netstate'", &[])?;
    if applied.unwrap_or(0) == 0 {
        return Err(WarehouseError::Conversion(
            "the warehouse has no netstate tables yet; run `vantage netstate import` first".into(),
        ));
    }
    Ok(())
}

/// The files of `dir` that count: regular `*.sql`, not dot-names, in run order.
fn listing(dir: &Path) -> Result<Vec<String>, ImportError> {
    let io = |source| ImportError::Io { path: dir.to_path_buf(), source };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".sql") {
            continue;
        }
        if entry.file_type().map_err(io)?.is_file() {
            out.push(name);
        }
    }
    out.sort_by(|a, b| run_order(a, b));
    Ok(out)
}

/// Moves a loaded file to LOADED (spec §3.1 step 6): a name taken by identical bytes
/// deletes the source; by other bytes the file becomes `NAME.1`, `NAME.2`, ...
fn move_loaded(from: &Path, loaded: &Path, name: &str) -> Result<(), ImportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImportError::Io { path, source }
    };
    // Read only when a name is taken: the common move is a rename and nothing else.
    let mut mine: Option<Vec<u8>> = None;
    let mut dest = loaded.join(name);
    let mut k = 0;
    while dest.exists() {
        if mine.is_none() {
            mine = Some(std::fs::read(from).map_err(io(from))?);
        }
        if Some(std::fs::read(&dest).map_err(io(&dest))?) == mine {
            return std::fs::remove_file(from).map_err(io(from));
        }
        k += 1;
        dest = loaded.join(format!("{name}.{k}"));
    }
    vantage_core::publish::move_file(from, &dest).map_err(io(from))
}

/// The per-file callback.
type OnFile<'a> = Box<dyn FnMut(&FileReport) + 'a>;

/// One import run.
pub struct Importer<'a> {
    wh: &'a mut Warehouse,
    data: &'a DataDir,
    opts: ImportOptions,
    /// Open sets per table for this run's source, valid while this run holds the lock.
    cache: HashMap<String, OpenSet>,
    /// Called after each file (for progress lines).
    on_file: Option<OnFile<'a>>,
}

impl<'a> Importer<'a> {
    /// An importer of `opts` on `wh`.
    pub fn new(wh: &'a mut Warehouse, data: &'a DataDir, opts: ImportOptions) -> Importer<'a> {
        Importer { wh, data, opts, cache: HashMap::new(), on_file: None }
    }

    /// Calls `f` after each file, e.g. to print `loaded NAME rows=N`.
    pub fn on_file(mut self, f: impl FnMut(&FileReport) + 'a) -> Self {
        self.on_file = Some(Box::new(f));
        self
    }

    /// Runs: checks, locks, then every eligible file in run order until one is rejected.
    pub fn run(mut self) -> Result<ImportReport, ImportError> {
        let started = Instant::now();
        let source = self.opts.source.clone();
        if !valid_source(&source) {
            return Err(ImportError::BadSource(source));
        }
        let datadir_err = |e: vantage_core::DataDirError| ImportError::BadDir {
            path: self.data.root().to_path_buf(),
            why: e.to_string(),
        };
        let import_dir = match &self.opts.import_dir {
            Some(p) => p.clone(),
            None => self
                .data
                .ensure(&self.data.inbox("netstate").map_err(datadir_err)?.join(&source))
                .map_err(datadir_err)?,
        };
        let loaded_dir = match &self.opts.loaded_dir {
            Some(p) => p.clone(),
            None => self
                .data
                .ensure(&self.data.archive("netstate").map_err(datadir_err)?.join(&source))
                .map_err(datadir_err)?,
        };
        check_dir(&import_dir)?;
        check_dir(&loaded_dir)?;
        let dirlock = DirLock::acquire(&import_dir)?;
        if let Some(prev) = dirlock.recovered_stale() {
            tracing::info!(dir = %import_dir.display(), previous = prev, "Recovered stale lock.");
        }
        migrate(self.wh)?;
        if self.wh.backend() == vantage_warehouse::Backend::Sqlite {
            // A larger page cache keeps the index inserts of big files in memory.
            self.wh.batch("PRAGMA cache_size = -262144")?;
        }
        let deadline = Instant::now() + std::time::Duration::from_secs(self.opts.wait_secs);
        let _lock = loop {
            match Lock::acquire(self.wh, self.data, LOCK_NAME) {
                Err(LockError::Busy { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(500))
                }
                other => break other?,
            }
        };
        let retired = self.wh.transaction(|tx| store::register_source(tx, &source))?;
        if retired {
            return Err(ImportError::Retired(source));
        }
        let mut report = ImportReport {
            recovered_stale_lock: dirlock.recovered_stale().map(str::to_string),
            ..ImportReport::default()
        };
        let names = listing(&import_dir)?;
        std::thread::scope(|scope| -> Result<(), ImportError> {
            let mut ahead = ReadAhead::new(scope, &import_dir, &names);
            while let Some((name, found)) = ahead.next_file() {
                let path = import_dir.join(name);
                let outcome = self.one_file(&path, name, &loaded_dir, found)?;
                if let Outcome::Loaded { rows } = outcome {
                    report.rows += u64::try_from(rows).unwrap_or(0);
                }
                let stop = matches!(outcome, Outcome::Rejected(_));
                let fr = FileReport { file: name.to_string(), outcome };
                if let Some(f) = self.on_file.as_mut() {
                    f(&fr);
                }
                report.files.push(fr);
                if stop {
                    break;
                }
            }
            Ok(())
        })?;
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// Imports one file, given what reading it ahead found.
    fn one_file(
        &mut self,
        path: &Path,
        name: &str,
        loaded: &Path,
        found: std::io::Result<Ahead>,
    ) -> Result<Outcome, ImportError> {
        let io = |source| ImportError::Io { path: path.to_path_buf(), source };
        let reject = |line: Option<u64>, reason: Reason, detail: String| Rejection {
            path: path.to_path_buf(),
            file: name.to_string(),
            line,
            reason,
            detail,
        };
        let ReadFile { name: fname, size, sha, content } = match found.map_err(io)? {
            Ahead::Empty => {
                tracing::warn!(file = %path.display(), "Empty file skipped (still being written?).");
                return Ok(Outcome::SkippedEmpty);
            }
            Ahead::BadName => {
                let r = reject(
                    None,
                    Reason::BadName,
                    "expected TABLE-FIRST-LAST-SERIAL.sql, FIRST <= LAST".into(),
                );
                return self.rejected(r, None);
            }
            Ahead::Read(file) => *file,
        };
        let Some(def) = tables::lookup(self.wh, &fname.table)? else {
            let r = reject(
                None,
                Reason::UnknownTable,
                format!(
                    "no table {} is defined; add it with `vantage netstate table add`",
                    fname.table
                ),
            );
            return self.rejected(r, Some(&sha));
        };
        let source = self.opts.source.clone();
        if let Some(prev) = loadlog::find(self.wh, &source, name)? {
            if prev.sha256.as_deref() == Some(sha.as_str()) {
                move_loaded(path, loaded, name)?;
                return Ok(Outcome::Duplicate);
            }
            let r = reject(
                None,
                Reason::NameConflict,
                format!("{source} loaded another file of this name (seq {})", prev.seq),
            );
            return self.rejected(r, Some(&sha));
        }
        let (lines, itemized) = match content.lines(&def) {
            Ok(parsed) => parsed,
            Err(e) => return self.rejected(reject(Some(e.line), e.reason, e.detail), Some(&sha)),
        };
        let rows = lines.len() as i64;
        // Where a file's time goes, for `-vv`: applying its lines, then its snapshots.
        let started = Instant::now();
        let (mut applied_in, mut snapshots_in) = (Duration::ZERO, Duration::ZERO);
        let mut open = self.cache.remove(&def.name);
        let every = self.opts.snapshot_every;
        let result = self.wh.transaction(|tx| -> Result<bool, ImportError> {
            // Recheck the position inside the transaction: another importer may have won.
            if loadlog::find(tx, &source, name)?.is_some() {
                return Ok(false);
            }
            if tx.backend() == vantage_warehouse::Backend::Postgres {
                // The file's queries are all range or key look-ups on indexed columns. On
                // tables bulk-loaded since their last ANALYZE the planner has no correlation
                // figures for the BRIN time indexes and picks sequential scans of the whole
                // history; this transaction's statements take the indexes instead.
                tx.batch("SET LOCAL enable_seqscan = off")?;
            }
            store::ensure_table(tx, &def)?;
            let n = names(&def);
            let batch = Batch { source: &source, file: name, first: fname.first, serial: fname.serial };
            let applied = apply_lines(tx, &def, &n, &batch, lines, itemized, &mut open)?;
            applied_in = started.elapsed();
            let mut entry = LoadEntry {
                seq: 0,
                source: source.clone(),
                table: def.name.clone(),
                file: name.to_string(),
                sha256: Some(sha.clone()),
                size: i64::try_from(size).ok(),
                rows,
                opens: applied.opens,
                closes: applied.closes,
                close_alls: applied.close_alls,
                oldest: applied.oldest,
                latest: applied.latest,
                first: fname.first,
                last: fname.last,
                serial: fname.serial,
                remerged_from: applied.remerged_from,
                snapshots_rebuilt: 0,
                snapshot_created: None,
                loaded_ns: Timestamp::now().nanos(),
            };
            if def.kind == TableKind::State {
                // The entry must count for the watermark before snapshots are decided;
                // a scratch insert is replaced below with the final figures.
                let seq = loadlog::insert(tx, &entry)?;
                if let Some(set) = open.as_ref() {
                    crate::openstore::save(tx, &def.name, &source, seq, set)?;
                }
                let snapshots_from = Instant::now();
                let done = snapshot::maintain(tx, &def.name, &n, applied.oldest, every)?;
                snapshots_in = snapshots_from.elapsed();
                entry.snapshots_rebuilt = i64::try_from(done.rebuilt).unwrap_or(i64::MAX);
                entry.snapshot_created = done.created;
                tx.execute(
                    "UPDATE netstate_load_log SET snapshots_rebuilt = ?, snapshot_created = ? WHERE seq = ?",
                    &[entry.snapshots_rebuilt.into(), entry.snapshot_created.into(), seq.into()],
                )?;
            } else {
                loadlog::insert(tx, &entry)?;
            }
            let key = format!("{source}/{name}");
            catalog::set_partition(
                tx,
                &Partition {
                    kind: "netstate".into(),
                    key,
                    processor: "import".into(),
                    code_version: CODE_VERSION,
                    state: PartitionState::Done,
                    error: None,
                },
            )?;
            catalog::set_processor_version(tx, "netstate", "import", CODE_VERSION)?;
            Ok(true)
        });
        tracing::debug!(
            file = name,
            rows,
            apply_ms = applied_in.as_secs_f64() * 1e3,
            snapshots_ms = snapshots_in.as_secs_f64() * 1e3,
            total_ms = started.elapsed().as_secs_f64() * 1e3,
            "File transaction done."
        );
        match result {
            Ok(applied) => {
                if let Some(set) = open {
                    self.cache.insert(def.name.clone(), set);
                }
                move_loaded(path, loaded, name)?;
                Ok(if applied { Outcome::Loaded { rows } } else { Outcome::Duplicate })
            }
            // The cached open set may hold the rolled-back file: dropped with `open`.
            Err(e) => Err(e),
        }
    }

    /// Records a rejection (one quarantine row per distinct content) and returns it.
    fn rejected(&mut self, r: Rejection, sha: Option<&str>) -> Result<Outcome, ImportError> {
        let source = self.opts.source.clone();
        let data = self.data;
        let key = sha.map_or_else(|| format!("name:{source}/{}", r.file), str::to_string);
        let message = r.to_string();
        self.wh.transaction(|tx| -> Result<(), ImportError> {
            let fresh = tx.execute(
                "INSERT INTO netstate_reject (sha256, source, file, reason, line, created_ns) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (sha256) DO NOTHING",
                &[
                    key.as_str().into(),
                    source.as_str().into(),
                    r.file.as_str().into(),
                    r.reason.as_str().into(),
                    r.line.map(|l| l as i64).into(),
                    Timestamp::now().nanos().into(),
                ],
            )?;
            if fresh > 0 {
                catalog::quarantine(tx, data, "netstate", &r.path, r.reason.as_str(), &message, QuarantineMode::InPlace)
                    .map_err(|e| match e {
                        catalog::QuarantineError::Row(w) => ImportError::Warehouse(w),
                        other => ImportError::Io { path: r.path.clone(), source: std::io::Error::other(other.to_string()) },
                    })?;
            }
            catalog::set_partition(
                tx,
                &Partition {
                    kind: "netstate".into(),
                    key: format!("{source}/{}", r.file),
                    processor: "import".into(),
                    code_version: CODE_VERSION,
                    state: PartitionState::Failed,
                    error: Some(message.clone()),
                },
            )?;
            Ok(())
        })?;
        Ok(Outcome::Rejected(r))
    }
}

/// Looks a table definition up: helper so callers need not know [`tables`].
pub fn table_def(wh: &mut dyn Sql, name: &str) -> Result<Option<TableDef>, WarehouseError> {
    tables::lookup(wh, name)
}
