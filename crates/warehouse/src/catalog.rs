//! The catalog: the bookkeeping every kind shares (DESIGN.md, Conventions: Bookkeeping).
//!
//! | table | one row per |
//! |---|---|
//! | `catalog_arrivals` | input received (path, kind, sha256, size, bucket, state) |
//! | `catalog_cans` | can written (kind, bucket, path, size, sha1, crc32) |
//! | `catalog_partitions` | (kind, partition key, processor): state and code version |
//! | `catalog_processor_versions` | (kind, processor): the code version in force |
//! | `catalog_quarantine` | rejected input: where it went and why |
//! | `catalog_locks` | named lock currently held |
//!
//! Every function takes `&mut dyn Sql`, so a stage calls it inside the transaction that
//! also writes its output: bookkeeping and data commit together.

use std::path::Path;

use serde::Serialize;
use vantage_core::{Bucket, DataDir, Timestamp};

use crate::{Migration, Sql, Value, WarehouseError};

/// The catalog's schema.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "catalog tables",
    sql: "
CREATE TABLE catalog_arrivals (
    id {serial_pk},
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    bucket TEXT,
    received_ns BIGINT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    UNIQUE (kind, sha256)
);
CREATE TABLE catalog_cans (
    id {serial_pk},
    kind TEXT NOT NULL,
    bucket TEXT,
    path TEXT NOT NULL UNIQUE,
    size BIGINT NOT NULL,
    sha1 TEXT NOT NULL,
    crc32 BIGINT NOT NULL,
    created_ns BIGINT NOT NULL
);
CREATE TABLE catalog_partitions (
    kind TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    processor TEXT NOT NULL,
    code_version BIGINT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    updated_ns BIGINT NOT NULL,
    PRIMARY KEY (kind, partition_key, processor)
);
CREATE TABLE catalog_processor_versions (
    kind TEXT NOT NULL,
    processor TEXT NOT NULL,
    code_version BIGINT NOT NULL,
    updated_ns BIGINT NOT NULL,
    PRIMARY KEY (kind, processor)
);
CREATE TABLE catalog_quarantine (
    id {serial_pk},
    kind TEXT NOT NULL,
    original_path TEXT NOT NULL,
    stored_path TEXT NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    created_ns BIGINT NOT NULL
);
CREATE TABLE catalog_locks (
    name TEXT PRIMARY KEY,
    pid BIGINT NOT NULL,
    host TEXT NOT NULL,
    started_ns BIGINT NOT NULL
);
CREATE INDEX catalog_arrivals_kind_state ON catalog_arrivals (kind, state);
CREATE INDEX catalog_partitions_state ON catalog_partitions (kind, state);
",
}];

/// The kinds of data Vantage keeps; the catalog's `kind` column.
pub const KINDS: &[&str] = &["packets", "reports", "passive", "netstate"];

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),* }

        impl $name {
            /// The text stored in the catalog.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            /// Reads the stored text back.
            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Where an arrival is in its life.
    ArrivalState {
        /// Durable in the inbox, not yet archived.
        Received = "received",
        /// Kept in the archive.
        Archived = "archived",
        /// Fully processed.
        Done = "done",
        /// Rejected; see the quarantine.
        Rejected = "rejected",
    }
);

string_enum!(
    /// A partition's state, the same words for every kind (`vantage status`).
    PartitionState {
        /// Has input not yet processed.
        Pending = "pending",
        /// Processed by the code version recorded.
        Done = "done",
        /// Processing failed; `error` says why.
        Failed = "failed",
        /// Held back, e.g. a passive session waiting for a missing update.
        Waiting = "waiting",
    }
);

/// An input to record in `catalog_arrivals`.
#[derive(Debug, Clone)]
pub struct Arrival<'a> {
    /// `packets`, `reports`, `passive` or `netstate`.
    pub kind: &'a str,
    /// Where the input is kept now.
    pub path: &'a str,
    /// Hex sha256 of its content: the duplicate test.
    pub sha256: &'a str,
    /// Bytes.
    pub size: u64,
    /// Its bucket, when known.
    pub bucket: Option<Bucket>,
    /// Initial state.
    pub state: ArrivalState,
}

/// What recording an arrival found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// First time this content arrived; its row id.
    New(i64),
    /// The same content arrived before; the earlier row's id and path.
    Duplicate {
        /// Row id of the first arrival.
        id: i64,
        /// Where the first arrival is kept.
        path: String,
    },
}

/// Records an arrival unless the same content (kind and sha256) is already known.
pub fn record_arrival(db: &mut dyn Sql, a: &Arrival<'_>) -> Result<Recorded, WarehouseError> {
    let existing = db.query(
        "SELECT id, path FROM catalog_arrivals WHERE kind = ? AND sha256 = ?",
        &[a.kind.into(), a.sha256.into()],
    )?;
    if let Some(row) = existing.rows.first() {
        return Ok(Recorded::Duplicate {
            id: row[0].as_i64().unwrap_or(0),
            path: row[1].as_str().unwrap_or_default().to_string(),
        });
    }
    let rows = db.query(
        "INSERT INTO catalog_arrivals (kind, path, sha256, size, bucket, received_ns, state)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        &[
            a.kind.into(),
            a.path.into(),
            a.sha256.into(),
            a.size.into(),
            a.bucket.map(|b| b.to_string()).into(),
            Timestamp::now().nanos().into(),
            a.state.as_str().into(),
        ],
    )?;
    Ok(Recorded::New(rows.scalar_i64().unwrap_or(0)))
}

/// Moves an arrival to another state (and path, when it moved).
pub fn update_arrival(
    db: &mut dyn Sql,
    id: i64,
    state: ArrivalState,
    path: Option<&str>,
    error: Option<&str>,
) -> Result<(), WarehouseError> {
    db.execute(
        "UPDATE catalog_arrivals SET state = ?, path = COALESCE(?, path), error = ? WHERE id = ?",
        &[state.as_str().into(), path.into(), error.into(), id.into()],
    )?;
    Ok(())
}

/// A can as the catalog knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CanRecord {
    /// Owning kind.
    pub kind: String,
    /// Bucket, when the can holds one bucket's data.
    pub bucket: Option<String>,
    /// Path of the can file.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// Hex sha1 of the file.
    pub sha1: String,
    /// CRC-32 of the file.
    pub crc32: u32,
}

/// Records (or re-records, after a rewrite) a can.
pub fn record_can(db: &mut dyn Sql, can: &CanRecord) -> Result<(), WarehouseError> {
    db.execute(
        "INSERT INTO catalog_cans (kind, bucket, path, size, sha1, crc32, created_ns)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (path) DO UPDATE SET size = excluded.size, sha1 = excluded.sha1,
             crc32 = excluded.crc32, created_ns = excluded.created_ns",
        &[
            can.kind.as_str().into(),
            can.bucket.clone().into(),
            can.path.as_str().into(),
            can.size.into(),
            can.sha1.as_str().into(),
            can.crc32.into(),
            Timestamp::now().nanos().into(),
        ],
    )?;
    Ok(())
}

/// Every can of a kind (or of all kinds), by path.
pub fn cans(db: &mut dyn Sql, kind: Option<&str>) -> Result<Vec<CanRecord>, WarehouseError> {
    let rows = db.query(
        "SELECT kind, bucket, path, size, sha1, crc32 FROM catalog_cans
         WHERE CAST(? AS TEXT) IS NULL OR kind = ? ORDER BY path",
        &[kind.into(), kind.into()],
    )?;
    Ok(rows
        .rows
        .iter()
        .map(|r| CanRecord {
            kind: r[0].to_text(),
            bucket: r[1].as_str().map(str::to_string),
            path: r[2].to_text(),
            size: r[3].as_i64().unwrap_or(0).max(0) as u64,
            sha1: r[4].to_text(),
            crc32: r[5].as_i64().unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32,
        })
        .collect())
}

/// One partition's bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// Owning kind.
    pub kind: String,
    /// The kind's partition key: a bucket, a router session, an import file.
    pub key: String,
    /// The processor (stage) this row is about.
    pub processor: String,
    /// The code version that produced the current state.
    pub code_version: u32,
    /// The state.
    pub state: PartitionState,
    /// Why it failed or waits.
    pub error: Option<String>,
}

/// Sets a partition's state and the code version responsible.
pub fn set_partition(db: &mut dyn Sql, p: &Partition) -> Result<(), WarehouseError> {
    db.execute(
        "INSERT INTO catalog_partitions (kind, partition_key, processor, code_version, state, error, updated_ns)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (kind, partition_key, processor) DO UPDATE SET
             code_version = excluded.code_version, state = excluded.state,
             error = excluded.error, updated_ns = excluded.updated_ns",
        &[
            p.kind.as_str().into(),
            p.key.as_str().into(),
            p.processor.as_str().into(),
            p.code_version.into(),
            p.state.as_str().into(),
            p.error.clone().into(),
            Timestamp::now().nanos().into(),
        ],
    )?;
    Ok(())
}

fn partition_from_row(r: &[Value]) -> Partition {
    Partition {
        kind: r[0].to_text(),
        key: r[1].to_text(),
        processor: r[2].to_text(),
        code_version: r[3].as_i64().unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32,
        state: PartitionState::parse(&r[4].to_text()).unwrap_or(PartitionState::Failed),
        error: r[5].as_str().map(str::to_string),
    }
}

const PARTITION_COLUMNS: &str = "kind, partition_key, processor, code_version, state, error";

/// One partition's row, if it has one.
pub fn partition(
    db: &mut dyn Sql,
    kind: &str,
    key: &str,
    processor: &str,
) -> Result<Option<Partition>, WarehouseError> {
    let rows = db.query(
        &format!(
            "SELECT {PARTITION_COLUMNS} FROM catalog_partitions
             WHERE kind = ? AND partition_key = ? AND processor = ?"
        ),
        &[kind.into(), key.into(), processor.into()],
    )?;
    Ok(rows.rows.first().map(|r| partition_from_row(r)))
}

/// A kind's partitions, optionally only those in one state, ordered by key.
pub fn partitions(
    db: &mut dyn Sql,
    kind: &str,
    state: Option<PartitionState>,
) -> Result<Vec<Partition>, WarehouseError> {
    let state = state.map(PartitionState::as_str);
    let rows = db.query(
        &format!(
            "SELECT {PARTITION_COLUMNS} FROM catalog_partitions
             WHERE kind = ? AND (CAST(? AS TEXT) IS NULL OR state = ?) ORDER BY partition_key, processor"
        ),
        &[kind.into(), state.into(), state.into()],
    )?;
    Ok(rows.rows.iter().map(|r| partition_from_row(r)).collect())
}

/// Records the code version now in force for a processor.
pub fn set_processor_version(
    db: &mut dyn Sql,
    kind: &str,
    processor: &str,
    code_version: u32,
) -> Result<(), WarehouseError> {
    db.execute(
        "INSERT INTO catalog_processor_versions (kind, processor, code_version, updated_ns)
         VALUES (?, ?, ?, ?)
         ON CONFLICT (kind, processor) DO UPDATE SET
             code_version = excluded.code_version, updated_ns = excluded.updated_ns",
        &[kind.into(), processor.into(), code_version.into(), Timestamp::now().nanos().into()],
    )?;
    Ok(())
}

/// The code version last recorded for a processor.
pub fn processor_version(
    db: &mut dyn Sql,
    kind: &str,
    processor: &str,
) -> Result<Option<u32>, WarehouseError> {
    let v = db.query_i64(
        "SELECT code_version FROM catalog_processor_versions WHERE kind = ? AND processor = ?",
        &[kind.into(), processor.into()],
    )?;
    Ok(v.map(|v| v.clamp(0, i64::from(u32::MAX)) as u32))
}

/// What to do with the rejected file itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuarantineMode {
    /// Move it into `quarantine/<kind>/` (the default: Vantage owns its inbox).
    Move,
    /// Copy it there, leaving the original (input Vantage does not own).
    Copy,
    /// Leave it where it is and only record the row (a pcap given to `packets record`,
    /// a netstate file in its import directory).
    InPlace,
}

/// A rejected input as the quarantine log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    /// Owning kind.
    pub kind: String,
    /// Where the input was.
    pub original_path: String,
    /// Where it is now.
    pub stored_path: String,
    /// A reason code (`bad-quote`, `md5_mismatch`, ...), snake or kebab case.
    pub reason: String,
    /// The one-line message, naming file and place.
    pub message: String,
}

/// Quarantines `file`: moves or copies it beside a `.reason` file (per `mode`) and
/// records the row. The file operation comes first, so that a crash leaves at worst a
/// quarantined file without a row, never a row pointing at nothing.
pub fn quarantine(
    db: &mut dyn Sql,
    data: &DataDir,
    kind: &str,
    file: &Path,
    reason: &str,
    message: &str,
    mode: QuarantineMode,
) -> Result<Quarantined, QuarantineError> {
    let stored = match mode {
        QuarantineMode::InPlace => file.to_path_buf(),
        QuarantineMode::Move | QuarantineMode::Copy => data.quarantine_file(
            kind,
            file,
            &format!("{reason}: {message}"),
            mode == QuarantineMode::Copy,
        )?,
    };
    let q = Quarantined {
        kind: kind.to_string(),
        original_path: file.display().to_string(),
        stored_path: stored.display().to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
    };
    db.execute(
        "INSERT INTO catalog_quarantine (kind, original_path, stored_path, reason, message, created_ns)
         VALUES (?, ?, ?, ?, ?, ?)",
        &[
            q.kind.as_str().into(),
            q.original_path.as_str().into(),
            q.stored_path.as_str().into(),
            q.reason.as_str().into(),
            q.message.as_str().into(),
            Timestamp::now().nanos().into(),
        ],
    )?;
    tracing::warn!(kind, file = %file.display(), reason, "Input quarantined.");
    Ok(q)
}

/// Quarantining failed: the file could not be moved, or the row not written.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    /// Moving or copying the file.
    #[error(transparent)]
    File(#[from] vantage_core::DataDirError),
    /// Writing the row.
    #[error(transparent)]
    Row(#[from] WarehouseError),
}

impl vantage_core::HasExit for QuarantineError {
    fn exit(&self) -> vantage_core::Exit {
        match self {
            QuarantineError::File(e) => e.exit(),
            QuarantineError::Row(e) => e.exit(),
        }
    }
}

/// The quarantine log of a kind (or all), oldest first.
pub fn quarantined(
    db: &mut dyn Sql,
    kind: Option<&str>,
) -> Result<Vec<Quarantined>, WarehouseError> {
    let rows = db.query(
        "SELECT kind, original_path, stored_path, reason, message FROM catalog_quarantine
         WHERE CAST(? AS TEXT) IS NULL OR kind = ? ORDER BY id",
        &[kind.into(), kind.into()],
    )?;
    Ok(rows
        .rows
        .iter()
        .map(|r| Quarantined {
            kind: r[0].to_text(),
            original_path: r[1].to_text(),
            stored_path: r[2].to_text(),
            reason: r[3].to_text(),
            message: r[4].to_text(),
        })
        .collect())
}

/// One kind's line in `vantage status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct KindStatus {
    /// The kind.
    pub kind: String,
    /// Arrivals recorded.
    pub arrivals: u64,
    /// Bytes of those arrivals.
    pub arrival_bytes: u64,
    /// Cans recorded.
    pub cans: u64,
    /// Bytes of those cans.
    pub can_bytes: u64,
    /// Partitions pending.
    pub pending: u64,
    /// Partitions done.
    pub done: u64,
    /// Partitions failed.
    pub failed: u64,
    /// Partitions waiting.
    pub waiting: u64,
    /// Rejected inputs.
    pub quarantined: u64,
    /// The newest error message: a failed partition's, else the newest quarantine's.
    pub last_error: Option<String>,
}

fn count(db: &mut dyn Sql, sql: &str, kind: &str) -> Result<u64, WarehouseError> {
    Ok(db.query_i64(sql, &[kind.into()])?.unwrap_or(0).max(0) as u64)
}

/// What is stored, pending and failed, per kind.
pub fn status(db: &mut dyn Sql) -> Result<Vec<KindStatus>, WarehouseError> {
    let mut out = Vec::new();
    for kind in KINDS {
        let mut s = KindStatus { kind: kind.to_string(), ..Default::default() };
        s.arrivals = count(db, "SELECT COUNT(*) FROM catalog_arrivals WHERE kind = ?", kind)?;
        s.arrival_bytes =
            count(db, "SELECT COALESCE(SUM(size), 0) FROM catalog_arrivals WHERE kind = ?", kind)?;
        s.cans = count(db, "SELECT COUNT(*) FROM catalog_cans WHERE kind = ?", kind)?;
        s.can_bytes =
            count(db, "SELECT COALESCE(SUM(size), 0) FROM catalog_cans WHERE kind = ?", kind)?;
        let states = db.query(
            "SELECT state, COUNT(*) FROM catalog_partitions WHERE kind = ? GROUP BY state",
            &[(*kind).into()],
        )?;
        for r in &states.rows {
            let n = r[1].as_i64().unwrap_or(0).max(0) as u64;
            match PartitionState::parse(&r[0].to_text()) {
                Some(PartitionState::Pending) => s.pending = n,
                Some(PartitionState::Done) => s.done = n,
                Some(PartitionState::Failed) => s.failed = n,
                Some(PartitionState::Waiting) => s.waiting = n,
                None => {}
            }
        }
        s.quarantined = count(db, "SELECT COUNT(*) FROM catalog_quarantine WHERE kind = ?", kind)?;
        let failed = db.query(
            "SELECT error FROM catalog_partitions WHERE kind = ? AND state = 'failed'
             ORDER BY updated_ns DESC LIMIT 1",
            &[(*kind).into()],
        )?;
        s.last_error = failed.scalar().and_then(|v| v.as_str()).map(str::to_string);
        if s.last_error.is_none() {
            let q = db.query(
                "SELECT message FROM catalog_quarantine WHERE kind = ? ORDER BY id DESC LIMIT 1",
                &[(*kind).into()],
            )?;
            s.last_error = q.scalar().and_then(|v| v.as_str()).map(str::to_string);
        }
        out.push(s);
    }
    Ok(out)
}
